/*
 * test_torchmap.c — rmlops models from and to PyTorch state dicts
 * (torchmap.h): the project's PyTorch twin, randomly initialised and saved
 * as safetensors by scripts/ref_convert.py (mvit-tiny with adapters in
 * float32, mvit-xxs in float16; testdata/ref/torch-*), imported, gives the
 * logits PyTorch computed in float64 to within 1e-4; the round trip model
 * -> safetensors -> model is byte-identical in every parameter and buffer,
 * and exporting twice gives the same bytes; the default names; the class
 * count and adapter compression read off the tensors; a map file that
 * splits qkv into three PyTorch tensors and renames another; and one test
 * for each refusal: a missing, an extra, a mis-shaped and a non-float
 * tensor, a map naming what the architecture lacks, a bad map text.
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

#include "calib_model.h"
#include "format.h"
#include "model.h"
#include "safetensors.h"
#include "torchmap.h"

static const char *dir(void)
{
	return getenv("RML_TESTDATA") ? getenv("RML_TESTDATA") : "testdata";
}

static void load_st(rml_st_file *st, const char *arch)
{
	char path[512];
	snprintf(path, sizeof path, "%s/ref/torch-%s.safetensors", dir(), arch);
	rml_error err = { 0 };
	if (rml_st_load(st, path, &err))
		fail_msg("%s", err.msg);
}

/* A model of arch imported from st (NULL and err set on refusal). */
static rml_model *import(const rml_st_file *st, const char *arch, const rml_torch_map *map,
			 rml_error *err)
{
	int k, g;
	rml_model *m = NULL;
	if (rml_torch_infer(st, map, arch, &k, &g, "w", err))
		return NULL;
	rml_model_config cfg = { .arch = arch, .n_classes = k, .adapter_gamma = g, .seed = 9 };
	assert_int_equal(rml_model_create(&m, &cfg, err), RML_OK);
	if (rml_torch_import(m, st, map, "w", err)) {
		rml_model_free(m);
		return NULL;
	}
	return m;
}

static void logits_agree(const char *arch, int want_gamma)
{
	rml_st_file st;
	load_st(&st, arch);
	rml_error err = { 0 };
	int k, g;
	assert_int_equal(rml_torch_infer(&st, NULL, arch, &k, &g, "w", &err), RML_OK);
	assert_int_equal(k, 10);
	assert_int_equal(g, want_gamma);
	rml_model *m = import(&st, arch, NULL, &err);
	if (!m)
		fail_msg("%s", err.msg);
	rml_file ref;
	char path[512];
	snprintf(path, sizeof path, "%s/ref/torch-%s.rml", dir(), arch);
	assert_int_equal(rml_file_load(&ref, path, &err), RML_OK);
	rml_tensor *x = rml_expect_tensor(&ref, "input", RML_DTYPE_F32, 4, &err);
	rml_tensor *want = rml_expect_tensor(&ref, "logits", RML_DTYPE_F32, 2, &err);
	assert_non_null(x);
	assert_non_null(want);
	float *logits;
	assert_int_equal(rml_model_reserve(m, x->dims[0], 0, &err), RML_OK);
	assert_int_equal(rml_model_forward(m, x->data, x->dims[0], RML_MODE_EVAL, &logits, &err), RML_OK);
	double worst = 0;
	const float *w = want->data;
	for (int64_t i = 0; i < rml_tensor_numel(want); i++)
		worst = fmax(worst, fabs((double)logits[i] - w[i]));
	printf("  %s: largest |logit - PyTorch| %.3g\n", arch, worst);
	assert_true(worst <= 1e-4);
	rml_file_free(&ref);
	rml_model_free(m);
	rml_st_free(&st);
}

static void test_logits_tiny(void **state)
{
	(void)state;
	logits_agree("mvit-tiny", 2);
}

static void test_logits_xxs(void **state)
{
	(void)state;
	logits_agree("mvit-xxs", 0);
}

static void same_tensors(rml_model *a, rml_model *b)
{
	int64_t na, nb;
	rml_param *p = rml_model_params(a, &na), *q = rml_model_params(b, &nb);
	assert_int_equal(na, nb);
	for (int64_t i = 0; i < na; i++)
		assert_memory_equal(p[i].data, q[i].data, (size_t)p[i].numel * 4);
	p = rml_model_buffers(a, &na);
	q = rml_model_buffers(b, &nb);
	assert_int_equal(na, nb);
	for (int64_t i = 0; i < na; i++)
		assert_memory_equal(p[i].data, q[i].data, (size_t)p[i].numel * 4);
}

/* rmlops -> safetensors -> rmlops, with adapters and class names. */
static void test_round_trip(void **state)
{
	(void)state;
	rml_model *a = NULL, *b;
	rml_model_config cfg = { .arch = "mvit-tiny", .n_classes = 7, .adapter_gamma = 4, .seed = 3 };
	rml_error err = { 0 };
	assert_int_equal(rml_model_create(&a, &cfg, &err), RML_OK);
	/* Adapters start with a zero scale; make every value distinct. */
	int64_t n;
	rml_param *p = rml_model_params(a, &n);
	for (int64_t i = 0; i < n; i++)
		for (int64_t j = 0; j < p[i].numel; j++)
			p[i].data[j] += 1e-3f * (float)(i + 1) + 1e-6f * (float)j;
	p = rml_model_buffers(a, &n);
	for (int64_t i = 0; i < n; i++)
		for (int64_t j = 0; j < p[i].numel; j++)
			p[i].data[j] = 0.5f + 1e-3f * (float)j;
	rml_outbuf o1, o2;
	rml_outbuf_init(&o1);
	rml_outbuf_init(&o2);
	assert_int_equal(rml_torch_export(a, NULL, &o1, &err), RML_OK);
	assert_int_equal(rml_torch_export(a, NULL, &o2, &err), RML_OK);
	assert_int_equal(o1.len, o2.len);
	assert_memory_equal(o1.data, o2.data, o1.len);
	rml_st_file st;
	assert_int_equal(rml_st_parse(&st, o1.data, o1.len, "e", &err), RML_OK);
	assert_string_equal(rml_st_meta(&st, "format"), "pt");
	assert_string_equal(rml_st_meta(&st, "rmlops.adapter_gamma"), "4");
	assert_string_equal(rml_st_meta(&st, "rmlops.n_classes"), "7");
	const rml_st_tensor *t = rml_st_find(&st, "blocks.2.units.2.dw.weight");
	assert_non_null(t);
	assert_int_equal(t->ndim, 4);
	assert_int_equal(t->dims[0], 3);
	assert_int_equal(t->dims[1], 1);
	b = import(&st, rml_st_meta(&st, "rmlops.arch_yaml"), NULL, &err);
	if (!b)
		fail_msg("%s", err.msg);
	assert_int_equal(rml_model_n_classes(b), 7);
	same_tensors(a, b);
	char ha[65], hb[65];
	rml_model_base_hash(a, ha);
	rml_model_base_hash(b, hb);
	assert_string_equal(ha, hb);
	rml_model_free(a);
	rml_model_free(b);
	rml_st_free(&st);
	rml_outbuf_free(&o1);
	rml_outbuf_free(&o2);
}

static void test_default_names(void **state)
{
	(void)state;
	static const char *const pairs[][2] = {
		{ "stem.conv.w", "stem.conv.weight" },
		{ "stem.bn.gamma", "stem.bn.weight" },
		{ "final.bn.beta", "final.bn.bias" },
		{ "blocks.3.dw.bn.running_var", "blocks.3.dw.bn.running_var" },
		{ "blocks.5.transformer.1.attn.qkv.w", "blocks.5.layers.1.qkv.weight" },
		{ "blocks.5.transformer.0.mlp.fc2.b", "blocks.5.layers.0.fc2.bias" },
		{ "blocks.5.transformer.0.ln1.gamma", "blocks.5.layers.0.ln1.weight" },
		{ "blocks.5.proj_in.w", "blocks.5.proj_in.weight" },
		{ "blocks.5.adapter.u3.pw1.b", "blocks.5.units.2.pw1.bias" },
		{ "blocks.5.adapter.scale", "blocks.5.scale" },
		{ "head.w", "head.weight" },
	};
	char out[256];
	for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
		rml_torch_default_name(pairs[i][0], out, sizeof out);
		assert_string_equal(out, pairs[i][1]);
	}
}

/* A state dict whose tensors are st's with one changed: `drop` left out,
 * `add` added (a copy of `like`, or of the first), or `reshape` given shape [n]. */
static void rewrite(const rml_st_file *st, rml_st_file *out, const char *drop, const char *add,
		    const char *like, const char *reshape, rml_st_dtype dtype_of_reshape)
{
	rml_st_out *t = calloc((size_t)st->n + 1, sizeof *t);
	int64_t n = 0;
	for (int64_t i = 0; i < st->n; i++) {
		if (drop && strcmp(st->t[i].name, drop) == 0)
			continue;
		rml_st_out *o = &t[n++];
		o->name = st->t[i].name;
		o->dtype = st->t[i].dtype;
		o->ndim = st->t[i].ndim;
		memcpy(o->dims, st->t[i].dims, sizeof o->dims);
		o->data = st->t[i].data;
		if (reshape && strcmp(o->name, reshape) == 0) {
			o->ndim = 1;
			o->dims[0] = st->t[i].numel * (int64_t)rml_st_dtype_size(o->dtype) /
				     (int64_t)rml_st_dtype_size(dtype_of_reshape);
			o->dtype = dtype_of_reshape;
		}
	}
	if (add) {
		int64_t k = 0;
		while (like && k < n - 1 && strcmp(t[k].name, like) != 0)
			k++;
		t[n] = t[k];
		t[n++].name = add;
	}
	rml_outbuf b;
	rml_outbuf_init(&b);
	rml_error err = { 0 };
	assert_int_equal(rml_st_write(t, n, NULL, NULL, 0, &b, &err), RML_OK);
	assert_int_equal(rml_st_parse(out, b.data, b.len, "w", &err), RML_OK);
	rml_outbuf_free(&b);
	free(t);
}

static void refused(const rml_st_file *st, const rml_torch_map *map, const char *part)
{
	rml_error err = { 0 };
	rml_model *m = import(st, "mvit-tiny", map, &err);
	if (m)
		fail_msg("imported, expected \"%s\"", part);
	if (!strstr(err.msg, part) || strchr(err.msg, '\n'))
		fail_msg("message \"%s\", expected \"%s\"", err.msg, part);
}

static void test_missing_tensor(void **state)
{
	(void)state;
	rml_st_file st, w;
	load_st(&st, "mvit-tiny");
	rewrite(&st, &w, "blocks.2.layers.0.qkv.bias", NULL, NULL, NULL, 0);
	refused(&w, NULL, "missing tensor blocks.2.layers.0.qkv.bias (rmlops blocks.2.transformer.0.attn.qkv.b)");
	rml_st_free(&w);
	rewrite(&st, &w, "head.bias", NULL, NULL, NULL, 0);
	refused(&w, NULL, "cannot tell the class count");
	rml_st_free(&w);
	rml_st_free(&st);
}

static void test_extra_tensor(void **state)
{
	(void)state;
	rml_st_file st, w;
	load_st(&st, "mvit-tiny");
	rewrite(&st, &w, NULL, "blocks.9.extra.weight", NULL, NULL, 0);
	refused(&w, NULL, "extra tensor blocks.9.extra.weight: no tensor of the architecture takes it");
	rml_st_free(&w);
	/* A batch-norm counter without its statistics is no counter. */
	rewrite(&st, &w, NULL, "nothing.num_batches_tracked", "stem.bn.num_batches_tracked", NULL, 0);
	refused(&w, NULL, "extra tensor nothing.num_batches_tracked");
	rml_st_free(&w);
	rml_st_free(&st);
}

static void test_misshaped_tensor(void **state)
{
	(void)state;
	rml_st_file st, w;
	load_st(&st, "mvit-tiny");
	rewrite(&st, &w, NULL, NULL, NULL, "blocks.1.dw.conv.weight", RML_ST_F32);
	refused(&w, NULL, "tensor blocks.1.dw.conv.weight has shape [144], the architecture needs [16, 1, 3, 3] (rmlops blocks.1.dw.conv.w)");
	rml_st_free(&w);
	rml_st_free(&st);
}

static void test_non_float_tensor(void **state)
{
	(void)state;
	rml_st_file st, w;
	load_st(&st, "mvit-tiny");
	rewrite(&st, &w, NULL, NULL, NULL, "final.bn.bias", RML_ST_I32);
	/* Now [24] I32: the right shape, the wrong type. */
	refused(&w, NULL, "final.bn.bias is I32, not a floating-point type");
	rml_st_free(&w);
	rml_st_free(&st);
}

/* A map: qkv as three PyTorch tensors, the head renamed; the model is the
 * one the default names give. */
static void test_map_split(void **state)
{
	(void)state;
	rml_st_file st;
	load_st(&st, "mvit-tiny");
	rml_error err = { 0 };
	rml_model *a = import(&st, "mvit-tiny", NULL, &err);
	assert_non_null(a);
	/* Cut qkv [48,16] and its bias [48] into q, k, v; rename the head. */
	const rml_st_tensor *w = rml_st_find(&st, "blocks.2.layers.0.qkv.weight");
	const rml_st_tensor *b = rml_st_find(&st, "blocks.2.layers.0.qkv.bias");
	rml_st_out *t = calloc((size_t)st.n + 8, sizeof *t);
	int64_t n = 0;
	for (int64_t i = 0; i < st.n; i++) {
		if (&st.t[i] == w || &st.t[i] == b)
			continue;
		t[n] = (rml_st_out){ st.t[i].name, st.t[i].dtype, st.t[i].ndim, { 0 }, st.t[i].data };
		memcpy(t[n].dims, st.t[i].dims, sizeof t[n].dims);
		if (strcmp(st.t[i].name, "head.weight") == 0)
			t[n].name = "classifier.weight";
		n++;
	}
	static const char *const qkv[] = { "q", "k", "v" };
	char names[6][64];
	for (int j = 0; j < 3; j++) {
		snprintf(names[j], 64, "attn.%s.weight", qkv[j]);
		t[n++] = (rml_st_out){ names[j], RML_ST_F32, 2, { 16, 16 }, w->data + j * 16 * 16 * 4 };
		snprintf(names[3 + j], 64, "attn.%s.bias", qkv[j]);
		t[n++] = (rml_st_out){ names[3 + j], RML_ST_F32, 1, { 16 }, b->data + j * 16 * 4 };
	}
	rml_outbuf o;
	rml_outbuf_init(&o);
	assert_int_equal(rml_st_write(t, n, NULL, NULL, 0, &o, &err), RML_OK);
	rml_st_file s2;
	assert_int_equal(rml_st_parse(&s2, o.data, o.len, "w", &err), RML_OK);
	rml_torch_map map;
	rml_torch_map_init(&map);
	assert_int_equal(rml_torch_map_parse(&map,
					     "# split attention\n"
					     "blocks.2.transformer.0.attn.qkv.w attn.q.weight attn.k.weight attn.v.weight\n"
					     "blocks.2.transformer.0.attn.qkv.b  attn.q.bias attn.k.bias attn.v.bias  # biases\n"
					     "\n"
					     "head.w classifier.weight\n",
					     "map", &err), RML_OK);
	refused(&s2, NULL, "missing tensor blocks.2.layers.0.qkv.weight");
	rml_model *c = import(&s2, "mvit-tiny", &map, &err);
	if (!c)
		fail_msg("%s", err.msg);
	same_tensors(a, c);
	/* Export with the map gives the three parts back, byte for byte. */
	rml_outbuf e;
	rml_outbuf_init(&e);
	assert_int_equal(rml_torch_export(c, &map, &e, &err), RML_OK);
	rml_st_file s3;
	assert_int_equal(rml_st_parse(&s3, e.data, e.len, "e", &err), RML_OK);
	const rml_st_tensor *kx = rml_st_find(&s3, "attn.k.weight");
	assert_non_null(kx);
	assert_memory_equal(kx->data, w->data + 16 * 16 * 4, 16 * 16 * 4);
	assert_null(rml_st_find(&s3, "head.weight"));
	assert_non_null(rml_st_find(&s3, "classifier.weight"));
	/* With a prefix every name must carry it. */
	assert_int_equal(rml_torch_map_set_prefix(&map, "model.", &err), RML_OK);
	refused(&s2, &map, "by default model.head.bias");
	rml_st_free(&s3);
	rml_outbuf_free(&e);
	rml_torch_map_free(&map);
	rml_model_free(a);
	rml_model_free(c);
	rml_st_free(&s2);
	rml_outbuf_free(&o);
	free(t);
	rml_st_free(&st);
}

static void test_map_unknown_name(void **state)
{
	(void)state;
	rml_st_file st;
	load_st(&st, "mvit-tiny");
	rml_torch_map map;
	rml_torch_map_init(&map);
	rml_error err = { 0 };
	assert_int_equal(rml_torch_map_parse(&map, "\nblocks.7.dw.conv.w x.weight\n", "map", &err), RML_OK);
	refused(&st, &map, "the map names blocks.7.dw.conv.w (line 2), which the architecture does not have");
	rml_torch_map_free(&map);
	rml_st_free(&st);
}

static void test_map_bad_text(void **state)
{
	(void)state;
	static const char *const bad[][2] = {
		{ "head.w\n", "map, line 1: expected an rmlops name and at least one PyTorch name" },
		{ "head.w a\nhead.w b\n", "map, line 2: head.w is mapped twice" },
		{ "head.w a\nhead.b a\n", "map, line 2: a is used twice" },
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		rml_torch_map map;
		rml_torch_map_init(&map);
		rml_error err = { 0 };
		assert_int_equal(rml_torch_map_parse(&map, bad[i][0], "map", &err), RML_ERR_FORMAT);
		assert_string_equal(err.msg, bad[i][1]);
		rml_torch_map_free(&map);
	}
}

/* A --map file read whole (missing and empty files refused, naming the
 * file), and the names lines: a mapped tensor under its names, another
 * under its default name, both with the prefix; PyTorch's layout of a
 * kernel [kh,kw,cin,cout] as [cout, cin, kh, kw]. */
static void test_map_load_names(void **state)
{
	(void)state;
	rml_torch_map map;
	rml_torch_map_init(&map);
	rml_error err = { 0 };
	assert_int_equal(rml_torch_map_load(&map, "/nonexistent/map.txt", NULL, &err), RML_ERR_IO);
	assert_string_equal(err.msg, "/nonexistent/map.txt: cannot read the map (missing, empty, binary or over 1 MiB)");
	char path[] = "/tmp/test_torchmap_XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	FILE *fp = fdopen(fd, "w");
	fputs("head.w fc.a fc.b\n", fp);
	fclose(fp);
	assert_int_equal(rml_torch_map_load(&map, path, "model.", &err), RML_OK);
	remove(path);
	assert_int_equal(map.n, 1);
	float x[1];
	rml_param p[2] = {
		{ .name = "head.w", .ndim = 2, .dims = { 64, 10 }, .data = x },
		{ .name = "stem.conv.w", .ndim = 4, .dims = { 3, 3, 3, 16 }, .data = x },
	};
	rml_outbuf o;
	rml_outbuf_init(&o);
	rml_torch_names_text(&o, p, 2, &map);
	char def[256];
	rml_torch_default_name("stem.conv.w", def, sizeof def);
	char want[512];
	snprintf(want, sizeof want, "head.w model.fc.a model.fc.b  # [10, 64]\nstem.conv.w model.%s  # [16, 3, 3, 3]\n",
		 def);
	rml_outbuf_add(&o, "", 1);
	assert_string_equal((const char *)o.data, want);
	rml_outbuf_free(&o);
	rml_torch_map_free(&map);
}

/* Metadata that does not read: each refused with one line. */
static void test_bad_meta(void **state)
{
	(void)state;
	static const char *const bad[][3] = {
		{ "rmlops.classes", "[\"a\",\"b\"]", "rmlops.classes is not a list of 10 names" },
		{ "rmlops.classes", "{", "rmlops.classes is not a list of 10 names" },
		{ "rmlops.calibrator", "!!!!", "rmlops.calibrator is not base64" },
		{ "rmlops.calibrator", "abc", "rmlops.calibrator is not base64" },
		{ "rmlops.calibrator", "AAAAAAAA", "w: rmlops.calibrator" },
	};
	rml_st_file st;
	load_st(&st, "mvit-tiny");
	rml_error err = { 0 };
	rml_model *m = import(&st, "mvit-tiny", NULL, &err);
	assert_non_null(m);
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		float x = 0;
		rml_st_out t = { "x", RML_ST_F32, 1, { 1 }, &x };
		rml_outbuf o;
		rml_outbuf_init(&o);
		assert_int_equal(rml_st_write(&t, 1, &bad[i][0], &bad[i][1], 1, &o, &err), RML_OK);
		rml_st_file f;
		assert_int_equal(rml_st_parse(&f, o.data, o.len, "w", &err), RML_OK);
		memset(&err, 0, sizeof err);
		assert_int_not_equal(rml_torch_import_meta(m, &f, "w", &err), RML_OK);
		if (!strstr(err.msg, bad[i][2]) || strchr(err.msg, '\n'))
			fail_msg("message \"%s\", expected \"%s\"", err.msg, bad[i][2]);
		assert_null(rml_model_calibrator_method(m));
		rml_st_free(&f);
		rml_outbuf_free(&o);
	}
	rml_model_free(m);
	rml_st_free(&st);
}

int main(void)
{
	rml_set_threads(2);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_logits_tiny),
		cmocka_unit_test(test_logits_xxs),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_default_names),
		cmocka_unit_test(test_missing_tensor),
		cmocka_unit_test(test_extra_tensor),
		cmocka_unit_test(test_misshaped_tensor),
		cmocka_unit_test(test_non_float_tensor),
		cmocka_unit_test(test_map_split),
		cmocka_unit_test(test_map_unknown_name),
		cmocka_unit_test(test_map_bad_text),
		cmocka_unit_test(test_map_load_names),
		cmocka_unit_test(test_bad_meta),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
