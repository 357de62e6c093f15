/*
 * test_es.c — the antithetic ES estimator: on a quadratic its estimate is
 * unbiased (the mean of many estimates agrees with the true gradient
 * within the standard error computed from the same samples), a step moves
 * x by lr times the estimate, resuming by iteration number redraws the
 * same directions, and bad arguments and non-finite values are refused.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "es.h"

/* F(x) = -1/2 sum a_i (x_i - c_i)^2 + 0.3 sum x_i^3 / 3: gradient
 * -a_i (x_i - c_i) + 0.3 x_i^2. The cubic term makes the antithetic
 * difference carry an O(sigma^2) bias, smaller than the tolerance. */
#define N 12
static const double A[N] = { 1, 2, 0.5, 3, 1, 1, 4, 0.25, 2, 1, 1.5, 0.75 };
static const double C[N] = { 0.5, -1, 2, 0, 1, -0.5, 0.25, 3, -2, 1, 0, 0.1 };

static double quad(void *ctx, const float *x, int64_t n, rml_error *err)
{
	(void)ctx;
	(void)err;
	double s = 0;
	for (int64_t i = 0; i < n; i++)
		s += -0.5 * A[i] * (x[i] - C[i]) * (x[i] - C[i]) + 0.1 * x[i] * x[i] * x[i];
	return s;
}

static void test_unbiased_on_quadratic(void **state)
{
	(void)state;
	float x[N], g[N];
	for (int i = 0; i < N; i++)
		x[i] = (float)(0.1 * i - 0.4);
	double truth[N];
	for (int i = 0; i < N; i++)
		truth[i] = -A[i] * (x[i] - C[i]) + 0.3 * (double)x[i] * x[i];
	rml_es es;
	rml_error err;
	assert_int_equal(rml_es_init(&es, N, 4, 0.01, 0.0, 7, &err), RML_OK);
	const int reps = 4000;
	double sum[N] = { 0 }, sum2[N] = { 0 };
	for (int r = 0; r < reps; r++) {
		rml_es_seek(&es, r);
		assert_int_equal(rml_es_gradient(&es, quad, NULL, x, g, &err), RML_OK);
		for (int i = 0; i < N; i++) {
			sum[i] += g[i];
			sum2[i] += (double)g[i] * g[i];
		}
	}
	double worst = 0;
	for (int i = 0; i < N; i++) {
		double mean = sum[i] / reps;
		double se = sqrt((sum2[i] / reps - mean * mean) / reps);
		double z = fabs(mean - truth[i]) / se;
		if (z > worst)
			worst = z;
		/* 4.5 standard errors: a 1-in-100,000 event per coordinate. */
		assert_true(z < 4.5);
	}
	/* The estimator is not trivially exact either: a single estimate
	 * differs from the truth (the test can fail). */
	rml_es_seek(&es, 0);
	assert_int_equal(rml_es_gradient(&es, quad, NULL, x, g, &err), RML_OK);
	double d = 0;
	for (int i = 0; i < N; i++)
		d += fabs(g[i] - truth[i]);
	assert_true(d > 1e-3);
	rml_es_free(&es);
}

/* On a linear F the antithetic estimate with one pair is exactly
 * (a . g) g: checked against the directions by hand. */
static double linear(void *ctx, const float *x, int64_t n, rml_error *err)
{
	(void)ctx;
	(void)err;
	double s = 0;
	for (int64_t i = 0; i < n; i++)
		s += A[i] * x[i];
	return s;
}

static void test_step_by_hand(void **state)
{
	(void)state;
	float x[N] = { 0 }, g[N];
	rml_es es;
	rml_error err;
	assert_int_equal(rml_es_init(&es, N, 1, 0.5, 0.1, 3, &err), RML_OK);
	double ag = 0;
	for (int i = 0; i < N; i++)
		ag += A[i] * es.g[i];
	float dir[N];
	for (int i = 0; i < N; i++)
		dir[i] = es.g[i];
	float xp[N], xm[N];
	rml_es_point(&es, x, 0, 1, xp);
	rml_es_point(&es, x, 0, -1, xm);
	double fp = linear(NULL, xp, N, &err), fm = linear(NULL, xm, N, &err);
	assert_int_equal(rml_es_step(&es, x, &fp, &fm, g, &err), RML_OK);
	for (int i = 0; i < N; i++) {
		assert_float_equal(g[i], ag * dir[i], 1e-4 * (1 + fabs(ag * dir[i])));
		assert_float_equal(x[i], 0.1 * ag * dir[i], 1e-5 * (1 + fabs(ag * dir[i])));
	}
	assert_int_equal(es.iteration, 1);
	/* Resuming at iteration 1 draws what the uninterrupted run draws. */
	rml_es es2;
	assert_int_equal(rml_es_init(&es2, N, 1, 0.5, 0.1, 3, &err), RML_OK);
	rml_es_seek(&es2, 1);
	assert_memory_equal(es.g, es2.g, sizeof(float) * N);
	/* ... and differs from iteration 0. */
	assert_true(memcmp(es2.g, dir, sizeof dir) != 0);
	rml_es_free(&es);
	rml_es_free(&es2);
}

static void test_refused(void **state)
{
	(void)state;
	rml_es es;
	rml_error err;
	assert_int_equal(rml_es_init(&es, 0, 1, 0.1, 0.1, 1, &err), RML_ERR_ARG);
	assert_int_equal(rml_es_init(&es, 4, 0, 0.1, 0.1, 1, &err), RML_ERR_ARG);
	assert_int_equal(rml_es_init(&es, 4, 1, 0.0, 0.1, 1, &err), RML_ERR_ARG);
	assert_int_equal(rml_es_init(&es, 4, 1, -1, 0.1, 1, &err), RML_ERR_ARG);
	assert_int_equal(rml_es_init(&es, 4, 1, NAN, 0.1, 1, &err), RML_ERR_ARG);
	assert_int_equal(rml_es_init(&es, 4, 1, 0.1, -1, 1, &err), RML_ERR_ARG);
	assert_int_equal(rml_es_init(&es, 4, 1, 0.1, INFINITY, 1, &err), RML_ERR_ARG);
	assert_int_equal(rml_es_init(&es, 4, 1, 0.1, 0.1, 1, &err), RML_OK);
	float x[4] = { 1, 2, 3, 4 };
	double fp = NAN, fm = 0;
	assert_int_equal(rml_es_step(&es, x, &fp, &fm, NULL, &err), RML_ERR_NUMERIC);
	assert_float_equal(x[0], 1, 0);
	assert_int_equal(es.iteration, 0);
	rml_es_free(&es);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_unbiased_on_quadratic),
		cmocka_unit_test(test_step_by_hand),
		cmocka_unit_test(test_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
