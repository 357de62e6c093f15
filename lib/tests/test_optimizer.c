/*
 * test_optimizer.c — the optimisers against PyTorch trajectories
 * (testdata/ref/optim.rml, made by scripts/ref_optim.py): SGD with
 * momentum, Nesterov and AdamW with weight decay and a changing learning
 * rate, updated in two slices of the state block as the trainer does;
 * plain gradient descent and AdamW's first step worked by hand; the
 * cosine schedule; a state saved and restored mid-run continuing bit for
 * bit; and every rejected checkpoint state.
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
#include "optimizer.h"

static rml_file ref;
static int64_t n, steps;
static const float *p0, *grads, *lrs;
static double wd;

static int setup(void **state)
{
	(void)state;
	char path[512];
	rml_fx_path(path, sizeof path, "ref/optim.rml");
	rml_error err = { 0 };
	if (rml_file_load(&ref, path, &err) || rml_get_f64(&ref, "reference.wd", &wd, &err)) {
		fprintf(stderr, "%s\n", err.msg);
		return -1;
	}
	rml_tensor *g = rml_find_tensor(&ref, "g");
	steps = g->dims[0];
	n = g->dims[1];
	p0 = rml_find_tensor(&ref, "p0")->data;
	grads = g->data;
	lrs = rml_find_tensor(&ref, "lr")->data;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	rml_file_free(&ref);
	return 0;
}

/* Steps [from, to) of the reference run on p, in two slices of the block. */
static void run_steps(rml_optim *o, float *p, int64_t from, int64_t to)
{
	int64_t cut = n / 2;
	for (int64_t t = from; t < to; t++) {
		rml_optim_begin(o);
		rml_optim_update(o, p, grads + t * n, 0, cut, lrs[t], (float)wd);
		rml_optim_update(o, p + cut, grads + t * n + cut, cut, n - cut, lrs[t], (float)wd);
	}
}

static void check_case(const char *name, rml_opt_kind kind, int nesterov)
{
	const float *want = rml_find_tensor(&ref, name)->data;
	rml_optim o;
	assert_int_equal(rml_optim_init(&o, kind, n, NULL), RML_OK);
	o.nesterov = nesterov;
	float *p = malloc((size_t)n * sizeof *p);
	memcpy(p, p0, (size_t)n * sizeof *p);
	double worst = 0;
	for (int64_t t = 0; t < steps; t++) {
		run_steps(&o, p, t, t + 1);
		for (int64_t i = 0; i < n; i++) {
			double w = want[t * n + i];
			double d = fabs(p[i] - w) / (1 + fabs(w));
			worst = d > worst ? d : worst;
		}
	}
	printf("  %-9s largest relative difference from PyTorch: %.2e\n", name, worst);
	assert_true(worst < 5e-7);
	free(p);
	rml_optim_free(&o);
}

static void test_against_pytorch(void **state)
{
	(void)state;
	check_case("sgd", RML_OPT_SGD, 0);
	check_case("nesterov", RML_OPT_SGD, 1);
	check_case("adamw", RML_OPT_ADAMW, 0);
}

static void test_by_hand(void **state)
{
	(void)state;
	/* Momentum 0: plain gradient descent with L2 decay, p -= lr*(g + wd*p):
	 * 1 - 0.5*(2 + 0.1*1) = -0.05; -2 - 0.5*(-1 + 0.1*-2) = -1.4. */
	rml_optim o;
	assert_int_equal(rml_optim_init(&o, RML_OPT_SGD, 2, NULL), RML_OK);
	o.momentum = 0;
	float p[2] = { 1, -2 }, g[2] = { 2, -1 };
	rml_optim_begin(&o);
	rml_optim_update(&o, p, g, 0, 2, 0.5f, 0.1f);
	assert_true(fabs(p[0] - -0.05) < 1e-6 && fabs(p[1] - -1.4) < 1e-6);
	/* With momentum 0.9 the second equal gradient moves 1.9 times as far. */
	rml_optim_free(&o);
	assert_int_equal(rml_optim_init(&o, RML_OPT_SGD, 1, NULL), RML_OK);
	float q = 0, gq = 1;
	rml_optim_begin(&o);
	rml_optim_update(&o, &q, &gq, 0, 1, 1, 0);
	rml_optim_begin(&o);
	rml_optim_update(&o, &q, &gq, 0, 1, 1, 0);
	assert_true(fabs(q - -2.9) < 1e-6);
	rml_optim_free(&o);
	/* AdamW's first step after bias correction is lr*g/(|g|+eps): a step
	 * of lr against the sign of g, after the decay p *= 1 - lr*wd:
	 * 2*(1 - 0.01*0.5) - 0.01 = 1.98; -1*(0.995) + 0.01 = -0.985. */
	assert_int_equal(rml_optim_init(&o, RML_OPT_ADAMW, 2, NULL), RML_OK);
	float a[2] = { 2, -1 }, ga[2] = { 1e-3f, -40 };
	rml_optim_begin(&o);
	rml_optim_update(&o, a, ga, 0, 2, 0.01f, 0.5f);
	assert_true(fabs(a[0] - 1.98) < 1e-6 && fabs(a[1] - -0.985) < 1e-6);
	rml_optim_free(&o);
}

static void test_cosine(void **state)
{
	(void)state;
	/* Warm-up of 4 steps to 0.2, then half a cosine over 10 steps. */
	assert_true(fabs(rml_lr_cosine(0.2, 0, 4, 14) - 0.05) < 1e-12);
	assert_true(fabs(rml_lr_cosine(0.2, 2, 4, 14) - 0.15) < 1e-12);
	assert_true(fabs(rml_lr_cosine(0.2, 3, 4, 14) - 0.2) < 1e-12);
	assert_true(fabs(rml_lr_cosine(0.2, 4, 4, 14) - 0.2) < 1e-12);
	assert_true(fabs(rml_lr_cosine(0.2, 9, 4, 14) - 0.1) < 1e-12);
	assert_true(fabs(rml_lr_cosine(0.2, 6, 4, 14) - 0.1 * (1 + cos(M_PI * 0.2))) < 1e-12);
	assert_true(fabs(rml_lr_cosine(0.2, 14, 4, 14)) < 1e-12);
	assert_true(fabs(rml_lr_cosine(0.2, 99, 4, 14)) < 1e-12);
	/* No warm-up starts at the peak; warm-up of the whole run stays there. */
	assert_true(fabs(rml_lr_cosine(0.2, 0, 0, 10) - 0.2) < 1e-12);
	assert_true(fabs(rml_lr_cosine(0.2, 7, 10, 10) - 0.16) < 1e-12);
	/* Never increasing after the warm-up. */
	for (int64_t t = 4; t < 14; t++)
		assert_true(rml_lr_cosine(0.2, t + 1, 4, 14) <= rml_lr_cosine(0.2, t, 4, 14));
}

/* Two steps, save, restore into a fresh optimiser, three more: the same
 * bits as five steps straight. */
static void test_resume(void **state)
{
	(void)state;
	rml_opt_kind kinds[2] = { RML_OPT_SGD, RML_OPT_ADAMW };
	for (int c = 0; c < 2; c++) {
		rml_optim a, b;
		assert_int_equal(rml_optim_init(&a, kinds[c], n, NULL), RML_OK);
		assert_int_equal(rml_optim_init(&b, kinds[c], n, NULL), RML_OK);
		a.nesterov = 1;
		float *pa = malloc((size_t)n * sizeof *pa), *pb = malloc((size_t)n * sizeof *pb);
		memcpy(pa, p0, (size_t)n * sizeof *pa);
		run_steps(&a, pa, 0, 2);
		memcpy(pb, pa, (size_t)n * sizeof *pb);
		rml_file f;
		rml_file_init(&f);
		assert_int_equal(rml_optim_to_file(&a, &f, NULL), RML_OK);
		assert_int_equal(rml_optim_from_file(&b, &f, NULL), RML_OK);
		assert_int_equal(b.step, 2);
		assert_int_equal(b.nesterov, 1);
		run_steps(&a, pa, 2, steps);
		run_steps(&b, pb, 2, steps);
		assert_memory_equal(pa, pb, (size_t)n * sizeof *pa);
		rml_file_free(&f);
		free(pa);
		free(pb);
		rml_optim_free(&a);
		rml_optim_free(&b);
	}
}

static void test_rejected_states(void **state)
{
	(void)state;
	rml_optim a, b;
	rml_error err = { 0 };
	rml_file f;
	rml_file_init(&f);
	assert_int_equal(rml_optim_init(&a, RML_OPT_ADAMW, 5, NULL), RML_OK);
	assert_int_equal(rml_optim_to_file(&a, &f, NULL), RML_OK);
	/* Another kind. */
	assert_int_equal(rml_optim_init(&b, RML_OPT_SGD, 5, NULL), RML_OK);
	assert_int_equal(rml_optim_from_file(&b, &f, &err), RML_ERR_MISMATCH);
	assert_non_null(strstr(err.msg, "adamw"));
	rml_optim_free(&b);
	/* Another size. */
	assert_int_equal(rml_optim_init(&b, RML_OPT_ADAMW, 6, NULL), RML_OK);
	assert_int_equal(rml_optim_from_file(&b, &f, &err), RML_ERR_MISMATCH);
	rml_optim_free(&b);
	/* An unknown kind, a momentum out of range, a missing tensor. */
	assert_int_equal(rml_optim_init(&b, RML_OPT_ADAMW, 5, NULL), RML_OK);
	assert_int_equal(rml_set_str(&f, "optim.kind", "lion"), RML_OK);
	assert_int_equal(rml_optim_from_file(&b, &f, &err), RML_ERR_FORMAT);
	assert_int_equal(rml_set_str(&f, "optim.kind", "adamw"), RML_OK);
	assert_int_equal(rml_set_f64(&f, "optim.beta2", 1.5), RML_OK);
	assert_int_equal(rml_optim_from_file(&b, &f, &err), RML_ERR_FORMAT);
	assert_int_equal(rml_set_f64(&f, "optim.beta2", 0.999), RML_OK);
	assert_int_equal(rml_set_str(&f, "optim.step", "3"), RML_OK);
	assert_int_equal(rml_optim_from_file(&b, &f, &err), RML_ERR_FORMAT);
	assert_int_equal(rml_set_i64(&f, "optim.step", 3), RML_OK);
	rml_file g;
	rml_file_init(&g);
	assert_int_equal(rml_set_str(&g, "optim.kind", "adamw"), RML_OK);
	assert_int_equal(rml_set_i64(&g, "optim.step", 3), RML_OK);
	int64_t d[1] = { 5 };
	assert_non_null(rml_add_tensor(&g, "optim.m", RML_DTYPE_F32, 1, d, NULL, NULL));
	assert_int_equal(rml_optim_from_file(&b, &g, &err), RML_ERR_FORMAT);
	assert_int_equal(b.step, 0);
	/* A state from before the hyperparameters were saved is accepted and
	 * keeps the caller's. */
	assert_non_null(rml_add_tensor(&g, "optim.v", RML_DTYPE_F32, 1, d, NULL, NULL));
	b.beta1 = 0.8f;
	assert_int_equal(rml_optim_from_file(&b, &g, &err), RML_OK);
	assert_int_equal(b.step, 3);
	assert_true(b.beta1 == 0.8f);
	assert_int_equal(rml_optim_from_file(&b, &f, &err), RML_OK);
	assert_true(b.beta1 == 0.9f);
	rml_file_free(&g);
	rml_file_free(&f);
	rml_optim_free(&a);
	rml_optim_free(&b);
}

/* One set of names for rmlops-train and rmlops-tta; nothing near them
 * (rmlops-tta alone still takes its earlier name adam). */
static void test_kind_names(void **state)
{
	(void)state;
	rml_opt_kind k = RML_OPT_ADAMW;
	assert_int_equal(rml_optim_kind_parse("sgd", &k), 0);
	assert_int_equal(k, RML_OPT_SGD);
	assert_int_equal(rml_optim_kind_parse("adamw", &k), 0);
	assert_int_equal(k, RML_OPT_ADAMW);
	const char *bad[] = { "", "adam", "Adam", "SGD", "adamw ", "adagrad", "sgdm" };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		k = RML_OPT_SGD;
		assert_int_equal(rml_optim_kind_parse(bad[i], &k), -1);
		assert_int_equal(k, RML_OPT_SGD);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_against_pytorch),
		cmocka_unit_test(test_by_hand),
		cmocka_unit_test(test_cosine),
		cmocka_unit_test(test_resume),
		cmocka_unit_test(test_rejected_states),
		cmocka_unit_test(test_kind_names),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
