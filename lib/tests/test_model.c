/*
 * test_model.c — the whole network: mvit-tiny with adapters against an
 * independent PyTorch implementation (testdata/ref/model.rml from
 * scripts/ref_model.py) in both batch-norm modes, finite differences of
 * the whole model, the size of mvit-xxs, adapters that start as the
 * identity, parameter groups and the early end of backward, files and
 * adapter binding, and architecture errors.
 * Tolerance against PyTorch: |a - b| <= 1e-4 * max(1, max|b|) per tensor
 * (the largest magnitude of the tensor sets the scale).
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

#include "format.h"
#include "kernels.h"
#include "model.h"
#include "model_internal.h"

static rml_file ref;

static int setup(void **state)
{
	(void)state;
	const char *dir = getenv("RML_TESTDATA") ? getenv("RML_TESTDATA") : "testdata";
	char path[512];
	snprintf(path, sizeof path, "%s/ref/model.rml", dir);
	rml_error err = { 0 };
	if (rml_file_load(&ref, path, &err)) {
		fprintf(stderr, "%s\n", err.msg);
		return -1;
	}
	rml_set_threads(2);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	rml_file_free(&ref);
	return 0;
}

static rml_model *tiny(int gamma, uint64_t seed)
{
	rml_model *m;
	rml_model_config c = { "mvit-tiny", 10, gamma, seed };
	rml_error err = { 0 };
	if (rml_model_create(&m, &c, &err))
		fail_msg("%s", err.msg);
	return m;
}

static void compare(const char *what, const float *a, const char *name)
{
	rml_tensor *t = rml_find_tensor(&ref, name);
	if (!t)
		fail_msg("reference %s missing", name);
	const float *b = t->data;
	int64_t n = rml_tensor_numel(t);
	double scale = 1, worst = 0;
	for (int64_t i = 0; i < n; i++)
		scale = fmax(scale, fabs((double)b[i]));
	for (int64_t i = 0; i < n; i++)
		worst = fmax(worst, fabs((double)a[i] - b[i]) / scale);
	if (!(worst <= 1e-4))
		fail_msg("%s: differs from PyTorch by %.3g (relative)", what, worst);
}

static void load_ref_weights(rml_model *m)
{
	int64_t n;
	rml_param *p = rml_model_params(m, &n);
	char name[300];
	for (int64_t i = 0; i < n; i++) {
		snprintf(name, sizeof name, "param.%s", p[i].name);
		rml_tensor *t = rml_find_tensor(&ref, name);
		if (!t || rml_tensor_numel(t) != p[i].numel)
			fail_msg("reference weight %s missing or of another size", name);
		memcpy(p[i].data, t->data, (size_t)p[i].numel * sizeof(float));
	}
	p = rml_model_buffers(m, &n);
	for (int64_t i = 0; i < n; i++) {
		snprintf(name, sizeof name, "param.%s", p[i].name);
		rml_tensor *t = rml_find_tensor(&ref, name);
		if (!t)
			fail_msg("reference buffer %s missing", name);
		memcpy(p[i].data, t->data, (size_t)p[i].numel * sizeof(float));
	}
}

static void run_vs_torch(rml_mode mode, const char *tag)
{
	rml_model *m = tiny(2, 1);
	load_ref_weights(m);
	rml_error err = { 0 };
	assert_int_equal(rml_model_reserve(m, 3, 1, &err), RML_OK);
	rml_model_set_trainable(m, RML_GROUPS_ALL);
	rml_model_zero_grad(m);
	const float *x = rml_find_tensor(&ref, "input")->data;
	const int32_t *labels = rml_find_tensor(&ref, "labels")->data;
	float *logits, probs[30], dl[30] = { 0 }, dx[3 * 32 * 32 * 3] = { 0 };
	assert_int_equal(rml_model_forward(m, x, 3, mode, &logits, &err), RML_OK);
	char name[300];
	snprintf(name, sizeof name, "%s.logits", tag);
	compare("logits", logits, name);
	float loss = rml_xent_forward(probs, logits, labels, 3, 10, 0.1f);
	snprintf(name, sizeof name, "%s.loss", tag);
	compare("loss", &loss, name);
	rml_xent_backward(dl, probs, labels, 3, 10, 0.1f, 1.0f);
	assert_int_equal(rml_model_backward(m, dl, dx, &err), RML_OK);
	snprintf(name, sizeof name, "%s.dx", tag);
	compare("input gradient", dx, name);
	int64_t n;
	rml_param *p = rml_model_params(m, &n);
	for (int64_t i = 0; i < n; i++) {
		snprintf(name, sizeof name, "%s.grad.%s", tag, p[i].name);
		compare(p[i].name, p[i].grad, name);
	}
	if (mode == RML_MODE_TRAIN) {
		p = rml_model_buffers(m, &n);
		for (int64_t i = 0; i < n; i++) {
			snprintf(name, sizeof name, "train.after.%s", p[i].name);
			compare(p[i].name, p[i].data, name);
		}
	}
	rml_model_free(m);
}

static void test_vs_torch_eval(void **state)
{
	(void)state;
	run_vs_torch(RML_MODE_EVAL, "eval");
}

static void test_vs_torch_train(void **state)
{
	(void)state;
	run_vs_torch(RML_MODE_TRAIN, "train");
}

/* Sum of logits weighted by fixed numbers: a smooth test loss. */
static double weighted(const float *logits, int64_t n)
{
	double s = 0;
	for (int64_t i = 0; i < n; i++)
		s += (double)logits[i] * ((double)(i % 7) - 3) / 3;
	return s;
}

static void test_finite_differences(void **state)
{
	(void)state;
	for (int mode = 0; mode < 2; mode++) {
		rml_model *m = tiny(2, 5);
		rml_error err = { 0 };
		int64_t np;
		rml_param *p = rml_model_params(m, &np);
		/* Move the adapter scale off zero so adapter gradients are real. */
		for (int64_t i = 0; i < np; i++)
			if (strstr(p[i].name, "adapter.scale"))
				for (int64_t j = 0; j < p[i].numel; j++)
					p[i].data[j] = 0.5f;
		assert_int_equal(rml_model_reserve(m, 2, 1, &err), RML_OK);
		rml_model_set_trainable(m, RML_GROUPS_ALL);
		rml_model_zero_grad(m);
		rml_rng r;
		rml_rng_seed(&r, 9);
		float x[2 * 3072], dx[2 * 3072] = { 0 }, dl[20], *logits;
		for (int i = 0; i < 2 * 3072; i++)
			x[i] = (float)rml_rng_below(&r, 256);
		for (int i = 0; i < 20; i++)
			dl[i] = (float)(((double)(i % 7) - 3) / 3);
		rml_model_forward(m, x, 2, (rml_mode)mode, &logits, &err);
		assert_int_equal(rml_model_backward(m, dl, dx, &err), RML_OK);
		double worst = 0;
		/* Two entries of every parameter tensor. */
		for (int64_t i = 0; i < np; i++)
			for (int t = 0; t < 2; t++) {
				int64_t j = (int64_t)rml_rng_below(&r, (uint64_t)p[i].numel);
				float old = p[i].data[j];
				double h = 1e-2 * fmax(0.1, fabs(old));
				p[i].data[j] = (float)(old + h);
				rml_model_forward(m, x, 2, (rml_mode)mode, &logits, &err);
				double lp = weighted(logits, 20);
				p[i].data[j] = (float)(old - h);
				rml_model_forward(m, x, 2, (rml_mode)mode, &logits, &err);
				double lm = weighted(logits, 20);
				p[i].data[j] = old;
				double fd = (lp - lm) / (2 * h);
				worst = fmax(worst, fabs(fd - p[i].grad[j]) / fmax(2e-2, fabs(fd) + fabs(p[i].grad[j])));
			}
		/* And input pixels (in pixel units). */
		for (int t = 0; t < 20; t++) {
			int j = (int)rml_rng_below(&r, 2 * 3072);
			float old = x[j];
			x[j] = old + 2;
			rml_model_forward(m, x, 2, (rml_mode)mode, &logits, &err);
			double lp = weighted(logits, 20);
			x[j] = old - 2;
			rml_model_forward(m, x, 2, (rml_mode)mode, &logits, &err);
			double lm = weighted(logits, 20);
			x[j] = old;
			double fd = (lp - lm) / 4;
			worst = fmax(worst, fabs(fd - dx[j]) / fmax(2e-3, fabs(fd) + fabs(dx[j])));
		}
		if (!(worst <= 5e-2))
			fail_msg("mode %d: finite differences differ by %.3g", mode, worst);
		rml_model_free(m);
	}
}

static void test_mvit_xxs_size(void **state)
{
	(void)state;
	rml_model *m;
	rml_model_config c = { "mvit-xxs", 10, 0, 1 };
	assert_int_equal(rml_model_create(&m, &c, NULL), RML_OK);
	/* About 0.95 M parameters and 49 MFLOP (24.5 M multiply–adds). */
	assert_int_equal(rml_model_n_params(m, RML_GROUPS_ALL), 954234);
	double macs = rml_model_flops(m);
	assert_true(macs > 24.0e6 && macs < 25.0e6);
	int h, w, ch;
	rml_model_input_shape(m, &h, &w, &ch);
	assert_true(h == 32 && w == 32 && ch == 3);
	float x[2 * 3072] = { 0 }, *logits;
	assert_int_equal(rml_model_reserve(m, 2, 0, NULL), RML_OK);
	assert_int_equal(rml_model_forward(m, x, 2, RML_MODE_EVAL, &logits, NULL), RML_OK);
	for (int i = 0; i < 20; i++)
		assert_true(isfinite(logits[i]));
	rml_model_free(m);
}

static void test_adapters_start_as_identity(void **state)
{
	(void)state;
	rml_model *a = tiny(0, 4), *b = tiny(4, 4);
	rml_error err = { 0 };
	assert_int_equal(rml_model_reserve(a, 4, 0, &err), RML_OK);
	assert_int_equal(rml_model_reserve(b, 4, 0, &err), RML_OK);
	rml_rng r;
	rml_rng_seed(&r, 2);
	float x[4 * 3072], *la, *lb, keep[40];
	for (int i = 0; i < 4 * 3072; i++)
		x[i] = (float)rml_rng_below(&r, 256);
	rml_model_forward(a, x, 4, RML_MODE_EVAL, &la, &err);
	memcpy(keep, la, sizeof keep);
	rml_model_forward(b, x, 4, RML_MODE_EVAL, &lb, &err);
	assert_memory_equal(keep, lb, sizeof keep);
	/* Adding adapters later keeps the function too, and the base hash. */
	char h1[65], h2[65];
	rml_model_base_hash(a, h1);
	assert_int_equal(rml_model_add_adapters(a, 2, 9, &err), RML_OK);
	rml_model_base_hash(a, h2);
	assert_string_equal(h1, h2);
	rml_model_forward(a, x, 4, RML_MODE_EVAL, &la, &err);
	assert_memory_equal(keep, la, sizeof keep);
	assert_int_equal(rml_model_add_adapters(a, 2, 9, &err), RML_ERR_ARG);
	rml_model_free(a);
	rml_model_free(b);
}

static void test_groups_and_early_stop(void **state)
{
	(void)state;
	rml_model *m = tiny(2, 6);
	rml_error err = { 0 };
	assert_int_equal(rml_model_reserve(m, 2, 1, &err), RML_OK);
	int64_t off, cnt, total = rml_model_n_params(m, RML_GROUPS_ALL);
	/* Groups are contiguous and in order. */
	int64_t expect = 0;
	for (int g = 0; g < RML_GROUP_COUNT; g++) {
		rml_model_group_range(m, (rml_group)g, &off, &cnt);
		assert_int_equal(off, expect);
		expect += cnt;
	}
	assert_int_equal(expect, total);
	float *grad = rml_model_grad_block(m);
	for (int64_t i = 0; i < total; i++)
		grad[i] = 7;  /* marker: frozen groups must keep it */
	rml_model_set_trainable(m, RML_GROUP_BIT(RML_GROUP_PHI) | RML_GROUP_BIT(RML_GROUP_W));
	rml_model_zero_grad(m);
	float x[2 * 3072] = { 0 }, dl[20], *logits;
	for (int i = 0; i < 20; i++)
		dl[i] = 0.1f * (float)(i % 3);
	rml_model_forward(m, x, 2, RML_MODE_EVAL, &logits, &err);
	assert_int_equal(rml_model_backward(m, dl, NULL, &err), RML_OK);
	rml_model_group_range(m, RML_GROUP_THETA, &off, &cnt);
	for (int64_t i = off; i < off + cnt; i++)
		assert_true(grad[i] == 7);
	rml_model_group_range(m, RML_GROUP_OMEGA, &off, &cnt);
	for (int64_t i = off; i < off + cnt; i++)
		assert_true(grad[i] == 7);
	int partial = rml_model_backward_ops_run(m);
	assert_true(partial > 0 && partial < rml_model_n_ops(m) / 2);
	/* With an input gradient asked for, the whole pass runs. */
	float dx[2 * 3072] = { 0 };
	rml_model_backward(m, dl, dx, &err);
	assert_int_equal(rml_model_backward_ops_run(m), rml_model_n_ops(m));
	rml_model_free(m);
}

static void test_files_and_adapter_binding(void **state)
{
	(void)state;
	rml_model *m = tiny(2, 8), *back = NULL, *other = tiny(2, 99);
	rml_error err = { 0 };
	int64_t np;
	rml_param *p = rml_model_params(m, &np);
	for (int64_t i = 0; i < np; i++)
		if (p[i].group == RML_GROUP_PHI)
			for (int64_t j = 0; j < p[i].numel; j++)
				p[i].data[j] += 0.25f;
	rml_file f, a;
	rml_file_init(&f);
	rml_file_init(&a);
	assert_int_equal(rml_model_to_file(m, &f, &err), RML_OK);
	assert_int_equal(rml_model_from_file(&back, &f, &err), RML_OK);
	rml_model_reserve(m, 2, 0, &err);
	rml_model_reserve(back, 2, 0, &err);
	float x[2 * 3072], *l1, *l2, keep[20];
	for (int i = 0; i < 2 * 3072; i++)
		x[i] = (float)(i % 251);
	rml_model_forward(m, x, 2, RML_MODE_EVAL, &l1, &err);
	memcpy(keep, l1, sizeof keep);
	rml_model_forward(back, x, 2, RML_MODE_EVAL, &l2, &err);
	assert_memory_equal(keep, l2, sizeof keep);
	/* Adapters travel alone and refuse another base model. */
	assert_int_equal(rml_model_adapters_to_file(m, 0, &a, &err), RML_OK);
	assert_int_equal(rml_model_load_adapters(other, &a, &err), RML_ERR_MISMATCH);
	assert_non_null(strstr(err.msg, "base model"));
	rml_model *fresh = tiny(0, 8);
	assert_int_equal(rml_model_load_adapters(fresh, &a, &err), RML_OK);
	rml_model_reserve(fresh, 2, 0, &err);
	rml_model_forward(fresh, x, 2, RML_MODE_EVAL, &l2, &err);
	assert_memory_equal(keep, l2, sizeof keep);
	/* A model file missing a tensor is refused with its name. */
	rml_file_free(&f);
	rml_file_init(&f);
	rml_model_to_file(m, &f, &err);
	free(f.tensors[3].name);
	f.tensors[3].name = strdup("renamed");
	rml_model *bad = NULL;
	assert_int_not_equal(rml_model_from_file(&bad, &f, &err), RML_OK);
	assert_null(bad);
	rml_file_free(&f);
	rml_file_free(&a);
	rml_model_free(m);
	rml_model_free(back);
	rml_model_free(other);
	rml_model_free(fresh);
}

static void test_bad_architectures(void **state)
{
	(void)state;
	const char *bad[] = {
		"name: x\n",                                          /* missing sections */
		"input: {h: 32, w: 32, c: 3}\nstem: {out: 8}\nblocks: []\nhead: {conv: 8}\n",
		"input: {h: 32, w: 32, c: 3}\nstem: {out: 8}\nblocks:\n  - {type: mv2, out: -4}\nhead: {conv: 8}\n",
		"input: {h: 32, w: 32, c: 3}\nstem: {out: 8}\nblocks:\n  - {type: conv, out: 4}\nhead: {conv: 8}\n",
		"input: {h: 32, w: 32, c: 3}\nstem: {out: 8, colour: red}\nblocks:\n  - {type: mv2, out: 4}\nhead: {conv: 8}\n",
		"input: {h: 30, w: 30, c: 3}\nstem: {out: 8}\nblocks:\n  - {type: mvit, dim: 8, depth: 1}\nhead: {conv: 8}\n",
		"input: {h: 32, w: 32, c: 3}\nstem: {out: 8}\nblocks:\n  - {type: mvit, dim: 10, depth: 1, heads: 4}\nhead: {conv: 8}\n",
		"input: {h: 32, w: 32, c: 3, std: [1, 0, 1]}\nstem: {out: 8}\nblocks:\n  - {type: mv2, out: 4}\nhead: {conv: 8}\n",
		"input: [unclosed\n",
	};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		rml_model *m = NULL;
		rml_model_config c = { bad[i], 10, 0, 1 };
		rml_error err = { 0 };
		assert_int_not_equal(rml_model_create(&m, &c, &err), RML_OK);
		assert_null(m);
		assert_non_null(strstr(err.msg, "architecture"));
	}
	rml_model *m = NULL;
	rml_model_config c = { "mvit-tiny", 10, 3, 1 };
	assert_int_equal(rml_model_create(&m, &c, NULL), RML_ERR_ARG);
}

static void test_determinism_and_nan(void **state)
{
	(void)state;
	rml_model *a = tiny(0, 3), *b = tiny(0, 3);
	int64_t n = rml_model_n_params(a, RML_GROUPS_ALL);
	assert_memory_equal(rml_model_param_block(a), rml_model_param_block(b), (size_t)n * 4);
	/* A NaN weight gives non-finite logits, not a crash. */
	rml_model_param_block(a)[0] = NAN;
	rml_model_reserve(a, 1, 0, NULL);
	float x[3072] = { 0 }, *logits;
	assert_int_equal(rml_model_forward(a, x, 1, RML_MODE_EVAL, &logits, NULL), RML_OK);
	int finite = 1;
	for (int i = 0; i < 10; i++)
		finite &= isfinite(logits[i]);
	assert_false(finite);
	rml_model_free(a);
	rml_model_free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vs_torch_eval),
		cmocka_unit_test(test_vs_torch_train),
		cmocka_unit_test(test_finite_differences),
		cmocka_unit_test(test_mvit_xxs_size),
		cmocka_unit_test(test_adapters_start_as_identity),
		cmocka_unit_test(test_groups_and_early_stop),
		cmocka_unit_test(test_files_and_adapter_binding),
		cmocka_unit_test(test_bad_architectures),
		cmocka_unit_test(test_determinism_and_nan),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
