/*
 * test_model_file.c — models in files (model_file.c): a round trip keeps
 * every parameter, buffer, class name and the base hash, so the model
 * computes the same logits; one test per way a model file can be wrong
 * (missing, extra, reshaped or retyped tensor, wrong kind, bad
 * architecture, class names or count); adapter files bound to their base
 * by its hash; the "calib." keys and tensors a model carries unread.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "fixtures.h"
#include "format.h"
#include "model.h"
#include "model_internal.h"

/* ---- files ------------------------------------------------------------------------ */

static void test_file_round_trip(void **state)
{
	(void)state;
	rml_model *m = rml_fx_tiny(10, 2, 8), *back = NULL;
	rml_error err = { 0 };
	int64_t np;
	rml_param *p = rml_model_params(m, &np);
	for (int64_t i = 0; i < np; i++)
		if (p[i].group == RML_GROUP_PHI)
			for (int64_t j = 0; j < p[i].numel; j++)
				p[i].data[j] += 0.25f;
	const char *names[10] = { "a", "b", "c", "d", "e", "f", "g", "h", "i", "j" };
	assert_int_equal(rml_model_set_class_names(m, names, 10, &err), RML_OK);
	assert_int_equal(rml_model_set_class_names(m, names, 9, &err), RML_ERR_MISMATCH);
	/* Give the batch-norm statistics something to carry. */
	float x[2 * 3072], *l1, *l2, keep[20];
	rml_fx_pixels(x, 2 * 3072, 1);
	rml_model_reserve(m, 2, 0, &err);
	rml_model_forward(m, x, 2, RML_MODE_TRAIN, &l1, &err);
	rml_file f;
	rml_file_init(&f);
	assert_int_equal(rml_model_to_file(m, &f, &err), RML_OK);
	assert_string_equal(rml_file_kind(&f), "model");
	const char *yaml;
	assert_int_equal(rml_get_str(&f, "model.arch_yaml", &yaml, &err), RML_OK);
	assert_string_equal(yaml, rml_model_preset_yaml("mvit-tiny"));
	assert_int_equal(rml_model_from_file(&back, &f, &err), RML_OK);
	assert_int_equal(rml_model_adapter_gamma(back), 2);
	assert_string_equal(rml_model_class_names(back)[9], "j");
	rml_model_reserve(back, 2, 0, &err);
	rml_model_forward(m, x, 2, RML_MODE_EVAL, &l1, &err);
	memcpy(keep, l1, sizeof keep);
	rml_model_forward(back, x, 2, RML_MODE_EVAL, &l2, &err);
	assert_memory_equal(keep, l2, sizeof keep);
	char h1[65], h2[65];
	rml_model_base_hash(m, h1);
	rml_model_base_hash(back, h2);
	assert_string_equal(h1, h2);
	rml_file_free(&f);
	rml_model_free(m);
	rml_model_free(back);
}

/* A model file of mvit-tiny, damaged by `damage`, must be refused with a
 * message that contains `says`. */
static void refused_model_file(void (*damage)(rml_file *), const char *says)
{
	rml_model *m = rml_fx_tiny(10, 0, 8), *bad = NULL;
	rml_error err = { 0 };
	rml_file f;
	rml_file_init(&f);
	assert_int_equal(rml_model_to_file(m, &f, &err), RML_OK);
	damage(&f);
	assert_int_not_equal(rml_model_from_file(&bad, &f, &err), RML_OK);
	assert_null(bad);
	if (!strstr(err.msg, says))
		fail_msg("message '%s' does not say '%s'", err.msg, says);
	rml_file_free(&f);
	rml_model_free(m);
}

static void rename_third(rml_file *f)
{
	free(f->tensors[3].name);
	f->tensors[3].name = strdup("blocks.0.expand.conv.weight");
}

static void add_extra(rml_file *f)
{
	float v[2] = { 1, 2 };
	int64_t d[1] = { 2 };
	rml_add_tensor(f, "blocks.9.extra", RML_DTYPE_F32, 1, d, v, NULL);
}

static void reshape_stem(rml_file *f)
{
	rml_tensor *t = rml_find_tensor(f, "stem.conv.w");
	/* [3,3,3,8] read as [3,3,8,3]: same bytes, another shape. */
	t->dims[2] = 8;
	t->dims[3] = 3;
}

static void retype_head(rml_file *f)
{
	rml_tensor *t = rml_find_tensor(f, "head.b");
	t->dtype = RML_DTYPE_I32;
}

static void wrong_kind(rml_file *f)
{
	rml_set_str(f, "kind", "dataset");
}

static void bad_yaml(rml_file *f)
{
	rml_set_str(f, "model.arch_yaml", "input: {h: 32, w: 32, c: 3}\nstem: {out: 8}\nblocks: []\n");
}

static void bad_classes(rml_file *f)
{
	const char *names[3] = { "a", "b", "c" };
	rml_set_str_array(f, "model.classes", names, 3);
}

static void fewer_classes(rml_file *f)
{
	rml_set_i64(f, "model.n_classes", 5);
}

static void test_file_missing_tensor(void **state)
{
	(void)state;
	refused_model_file(rename_third, "is missing");
}

static void test_file_extra_tensor(void **state)
{
	(void)state;
	refused_model_file(add_extra, "'blocks.9.extra' is not part of the architecture");
}

static void test_file_wrong_shape(void **state)
{
	(void)state;
	refused_model_file(reshape_stem, "'stem.conv.w' has shape [3,3,8,3], the architecture needs [3,3,3,8]");
}

static void test_file_wrong_dtype(void **state)
{
	(void)state;
	refused_model_file(retype_head, "'head.b' is i32, expected f32");
}

static void test_file_wrong_kind(void **state)
{
	(void)state;
	refused_model_file(wrong_kind, "dataset");
}

static void test_file_bad_architecture(void **state)
{
	(void)state;
	refused_model_file(bad_yaml, "architecture");
}

static void test_file_bad_class_names(void **state)
{
	(void)state;
	refused_model_file(bad_classes, "model.classes");
}

static void test_file_class_count(void **state)
{
	(void)state;
	refused_model_file(fewer_classes, "head.w");
}

static void test_adapter_files(void **state)
{
	(void)state;
	rml_model *m = rml_fx_tiny(10, 2, 8), *other = rml_fx_tiny(10, 2, 99), *fresh = rml_fx_tiny(10, 0, 8);
	rml_error err = { 0 };
	int64_t np;
	rml_param *p = rml_model_params(m, &np);
	for (int64_t i = 0; i < np; i++)
		if (p[i].group != RML_GROUP_THETA)
			for (int64_t j = 0; j < p[i].numel; j++)
				p[i].data[j] += 0.125f * (float)((j % 3) + 1);
	rml_file a, ah;
	rml_file_init(&a);
	rml_file_init(&ah);
	assert_int_equal(rml_model_adapters_to_file(m, 0, &a, &err), RML_OK);
	assert_string_equal(rml_file_kind(&a), "adapters");
	/* Only omega and phi travel: 3 units of 6 tensors and the scale. */
	assert_int_equal(a.n_tensors, 19);
	assert_int_equal(rml_model_adapters_to_file(m, 1, &ah, &err), RML_OK);
	assert_int_equal(ah.n_tensors, 21);
	/* Another base model refuses them, and stays as it was. */
	float before[64];
	memcpy(before, rml_model_param_block(other) + rml_model_n_params(other, 1), sizeof before);
	assert_int_equal(rml_model_load_adapters(other, &a, &err), RML_ERR_MISMATCH);
	assert_non_null(strstr(err.msg, "base model"));
	assert_memory_equal(before, rml_model_param_block(other) + rml_model_n_params(other, 1),
			    sizeof before);
	/* The same base without adapters takes them (and the head) and then
	 * computes what the adapted model computes. */
	assert_int_equal(rml_model_load_adapters(fresh, &ah, &err), RML_OK);
	assert_int_equal(rml_model_adapter_gamma(fresh), 2);
	float x[2 * 3072], *l1, *l2, keep[20];
	rml_fx_pixels(x, 2 * 3072, 21);
	rml_model_reserve(m, 2, 0, &err);
	rml_model_reserve(fresh, 2, 0, &err);
	rml_model_forward(m, x, 2, RML_MODE_EVAL, &l1, &err);
	memcpy(keep, l1, sizeof keep);
	rml_model_forward(fresh, x, 2, RML_MODE_EVAL, &l2, &err);
	assert_memory_equal(keep, l2, sizeof keep);
	/* A model file is not an adapter file; an adapter file with a
	 * stranger inside is refused before anything is copied. */
	rml_file mf;
	rml_file_init(&mf);
	rml_model_to_file(m, &mf, &err);
	assert_int_not_equal(rml_model_load_adapters(fresh, &mf, &err), RML_OK);
	float v[1] = { 0 };
	int64_t d[1] = { 1 };
	rml_add_tensor(&a, "stem.bn.gamma", RML_DTYPE_F32, 1, d, v, NULL);
	assert_int_equal(rml_model_load_adapters(fresh, &a, &err), RML_ERR_FORMAT);
	assert_non_null(strstr(err.msg, "stem.bn.gamma"));
	rml_model_forward(fresh, x, 2, RML_MODE_EVAL, &l2, &err);
	assert_memory_equal(keep, l2, sizeof keep);
	/* A model without adapters has none to write. */
	rml_model *plain = rml_fx_tiny(10, 0, 8);
	rml_file e;
	rml_file_init(&e);
	assert_int_equal(rml_model_adapters_to_file(plain, 0, &e, &err), RML_ERR_ARG);
	rml_file_free(&e);
	rml_file_free(&mf);
	rml_file_free(&a);
	rml_file_free(&ah);
	rml_model_free(m);
	rml_model_free(other);
	rml_model_free(fresh);
	rml_model_free(plain);
}

/* ---- what the model carries --------------------------------------------- */

/* Keys and tensors under "calib." travel through files, adapters and a
 * new head unread and in order; nothing else is taken. */
static void test_carried_round_trip(void **state)
{
	(void)state;
	rml_error err = { 0 };
	rml_model *m = rml_fx_tiny(10, 0, 8), *back = NULL;
	assert_int_equal(rml_model_carried(m)->n_kv, 0);
	rml_file part;
	rml_file_init(&part);
	double v[3] = { 1, 2, 3 };
	int64_t d[1] = { 3 };
	assert_int_equal(rml_set_str(&part, "calib.b", "x"), RML_OK);
	assert_int_equal(rml_set_f64(&part, "calib.a", 0.5), RML_OK);
	assert_int_equal(rml_set_str(&part, "other.key", "dropped"), RML_OK);
	assert_non_null(rml_add_tensor(&part, "calib.t", RML_DTYPE_F64, 1, d, v, &err));
	assert_non_null(rml_add_tensor(&part, "calibx", RML_DTYPE_F64, 1, d, v, &err));
	assert_int_equal(rml_model_set_carried(m, &part, &err), RML_OK);
	rml_file_free(&part);
	const rml_file *c = rml_model_carried(m);
	assert_int_equal(c->n_kv, 2);
	assert_string_equal(c->kv[0].key, "calib.b");
	assert_string_equal(c->kv[1].key, "calib.a");
	assert_int_equal(c->n_tensors, 1);
	rml_file f;
	rml_file_init(&f);
	assert_int_equal(rml_model_to_file(m, &f, &err), RML_OK);
	assert_int_equal(rml_model_from_file(&back, &f, &err), RML_OK);
	assert_int_equal(rml_model_add_adapters(back, 4, 1, &err), RML_OK);
	assert_int_equal(rml_model_reset_head(back, 10, 2, &err), RML_OK);
	c = rml_model_carried(back);
	assert_int_equal(c->n_kv, 2);
	assert_string_equal(c->kv[0].key, "calib.b");
	assert_true(c->kv[1].f == 0.5);
	assert_int_equal(c->n_tensors, 1);
	assert_memory_equal(c->tensors[0].data, v, sizeof v);
	assert_int_equal(rml_model_set_carried(back, NULL, &err), RML_OK);
	assert_int_equal(rml_model_carried(back)->n_kv, 0);
	assert_int_equal(rml_model_carried(back)->n_tensors, 0);
	rml_file_free(&f);
	rml_model_free(m);
	rml_model_free(back);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_file_round_trip),
		cmocka_unit_test(test_file_missing_tensor),
		cmocka_unit_test(test_file_extra_tensor),
		cmocka_unit_test(test_file_wrong_shape),
		cmocka_unit_test(test_file_wrong_dtype),
		cmocka_unit_test(test_file_wrong_kind),
		cmocka_unit_test(test_file_bad_architecture),
		cmocka_unit_test(test_file_bad_class_names),
		cmocka_unit_test(test_file_class_count),
		cmocka_unit_test(test_adapter_files),
		cmocka_unit_test(test_carried_round_trip),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
