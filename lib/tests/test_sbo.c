/*
 * test_sbo.c — Soft Brownian Offset sampling on data small enough to
 * reason about (one point in 1-D and 2-D, where the accepted positions
 * are known), the hard threshold on a grid and on the paper's setting
 * (3000 points of dimension 128, d+ 25, l 20), determinism by seed,
 * batch size and thread count, the soft acceptance, the step cap, every
 * rejected argument, and the nearest-neighbour search against a plain
 * double-precision loop (with points far from the origin, where the sgemm
 * formula cancels badly, and with duplicates).
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "rml.h"
#include "sbo.h"

/* Distance to the nearest point, by the definition. */
static double naive_nn(const float *x, int64_t n, int64_t dim, const float *q, int64_t *arg)
{
	double best = INFINITY;
	for (int64_t j = 0; j < n; j++) {
		double s = 0;
		for (int64_t t = 0; t < dim; t++) {
			double d = (double)q[t] - (double)x[j * dim + t];
			s += d * d;
		}
		if (s < best) {
			best = s;
			if (arg)
				*arg = j;
		}
	}
	return sqrt(best);
}

static void fill_normal(float *v, int64_t n, double scale, double shift, uint64_t seed)
{
	rml_rng r;
	rml_rng_seed(&r, seed);
	for (int64_t i = 0; i < n; i++)
		v[i] = (float)(shift + scale * rml_rng_normal(&r));
}

/* One point at the origin of a line, steps of exactly 0.3: the walk sits
 * on multiples of 0.3 and is first farther than 1 at +-1.2, after an even
 * number (>= 4) of steps. */
static void test_one_point_1d(void **state)
{
	(void)state;
	float x[1] = { 0 };
	float out[64];
	double nn[64];
	int64_t steps[64];
	rml_sbo_opts o;
	rml_sbo_opts_default(&o);
	o.d_min = 1;
	o.d_off = 0.3;
	o.seed = 5;
	rml_error e;
	assert_int_equal(rml_sbo_generate(x, 1, 1, 64, &o, out, nn, steps, &e), RML_OK);
	int pos = 0, neg = 0;
	for (int i = 0; i < 64; i++) {
		assert_true(fabs(fabs(out[i]) - 1.2) < 1e-5);
		assert_true(nn[i] > 1);
		assert_true(fabs(nn[i] - fabs(out[i])) < 1e-12);
		assert_true(steps[i] >= 4 && steps[i] % 2 == 0);
		pos += out[i] > 0;
		neg += out[i] < 0;
	}
	/* Both ends are reached (each has probability 1/2 per sample). */
	assert_true(pos > 10 && neg > 10);
}

/* One point in the plane and a step longer than d+: exactly one step, so
 * every sample lies on the circle of radius l around it. */
static void test_one_point_2d(void **state)
{
	(void)state;
	float x[2] = { 3, -2 };
	float out[2 * 50];
	int64_t steps[50];
	rml_sbo_opts o;
	rml_sbo_opts_default(&o);
	o.d_min = 1;
	o.d_off = 5;
	rml_error e;
	assert_int_equal(rml_sbo_generate(x, 1, 2, 50, &o, out, NULL, steps, &e), RML_OK);
	double mean_angle_x = 0, mean_angle_y = 0;
	for (int i = 0; i < 50; i++) {
		double dx = out[2 * i] - 3.0, dy = out[2 * i + 1] + 2.0;
		assert_true(fabs(sqrt(dx * dx + dy * dy) - 5) < 1e-5);
		assert_int_equal(steps[i], 1);
		mean_angle_x += dx / 5 / 50;
		mean_angle_y += dy / 5 / 50;
	}
	/* Directions spread around the circle: their mean is near 0 (the
	 * standard error of each coordinate is 0.1). */
	assert_true(fabs(mean_angle_x) < 0.4 && fabs(mean_angle_y) < 0.4);
}

/* A 5 x 5 grid with spacing 1: with softness 0 no sample ends within 1.5
 * of any grid point. */
static void test_grid_hard_threshold(void **state)
{
	(void)state;
	float x[50];
	for (int i = 0; i < 25; i++) {
		x[2 * i] = (float)(i % 5);
		x[2 * i + 1] = (float)(i / 5);
	}
	enum { M = 300 };
	float out[2 * M];
	double nn[M];
	rml_sbo_opts o;
	rml_sbo_opts_default(&o);
	o.d_min = 1.5;
	o.d_off = 0.4;
	o.seed = 11;
	rml_error e;
	assert_int_equal(rml_sbo_generate(x, 25, 2, M, &o, out, nn, NULL, &e), RML_OK);
	double far = 0;
	for (int i = 0; i < M; i++) {
		double d = naive_nn(x, 25, 2, out + 2 * i, NULL);
		assert_true(d >= 1.5);
		assert_true(fabs(d - nn[i]) < 1e-12);
		/* The walk stops at the first step past d+, so it ends within
		 * one step of that distance. */
		assert_true(d <= 1.5 + 0.4 + 1e-6);
		if (d > far)
			far = d;
	}
	assert_true(far > 1.5);
}

/* The paper's setting on latent-like vectors: hard threshold at 25 with
 * steps of 20, every sample at least 25 from its nearest point; the same
 * seed gives the same bytes with 1 or 2 threads and in any batch size;
 * another seed gives other samples. */
static void test_paper_setting(void **state)
{
	(void)state;
	enum { N = 3000, D = 128, M = 300 };
	float *x = malloc(sizeof(float) * N * D);
	float *a = malloc(sizeof(float) * M * D), *b = malloc(sizeof(float) * M * D);
	float *c = malloc(sizeof(float) * 10 * D);
	double *nn = malloc(sizeof(double) * M);
	assert_non_null(x);
	assert_non_null(a);
	assert_non_null(b);
	assert_non_null(c);
	assert_non_null(nn);
	fill_normal(x, (int64_t)N * D, 1.5, 0.0, 42);
	rml_sbo_opts o;
	rml_sbo_opts_default(&o);
	o.seed = 7;
	rml_error e;
	int threads = rml_get_threads();
	rml_set_threads(2);
	double t0 = rml_now();
	assert_int_equal(rml_sbo_generate(x, N, D, M, &o, a, nn, NULL, &e), RML_OK);
	double secs = rml_now() - t0;
	print_message("sbo: %d samples from %d x %d points in %.3f s\n", M, N, D, secs);
	double *check = malloc(sizeof(double) * M);
	assert_non_null(check);
	assert_int_equal(rml_sbo_nearest(x, N, a, M, D, check, NULL, &e), RML_OK);
	for (int i = 0; i < M; i++) {
		assert_true(check[i] >= 25.0);
		assert_true(nn[i] >= 25.0);
	}
	/* Spot-check the nearest distance by the definition. */
	for (int i = 0; i < M; i += 37)
		assert_true(fabs(naive_nn(x, N, D, a + (int64_t)i * D, NULL) - check[i]) < 1e-9);
	rml_set_threads(1);
	assert_int_equal(rml_sbo_generate(x, N, D, M, &o, b, NULL, NULL, &e), RML_OK);
	assert_memory_equal(a, b, sizeof(float) * M * D);
	assert_int_equal(rml_sbo_generate(x, N, D, 10, &o, c, NULL, NULL, &e), RML_OK);
	assert_memory_equal(a, c, sizeof(float) * 10 * D);
	o.seed = 8;
	assert_int_equal(rml_sbo_generate(x, N, D, 10, &o, c, NULL, NULL, &e), RML_OK);
	assert_true(memcmp(a, c, sizeof(float) * 10 * D) != 0);
	rml_set_threads(threads);
	free(x);
	free(a);
	free(b);
	free(c);
	free(nn);
	free(check);
}

/* Softness lets the walk stop before d+ with a probability that rises
 * smoothly through it: some samples end inside, none at a data point,
 * and none deep inside where the acceptance probability is negligible. */
static void test_soft_acceptance(void **state)
{
	(void)state;
	float x[1] = { 0 };
	enum { M = 400 };
	float out[M];
	double nn[M];
	rml_sbo_opts o;
	rml_sbo_opts_default(&o);
	o.d_min = 1;
	o.d_off = 0.05;
	o.softness = 0.5;
	o.seed = 3;
	rml_error e;
	assert_int_equal(rml_sbo_generate(x, 1, 1, M, &o, out, nn, NULL, &e), RML_OK);
	int inside = 0;
	for (int i = 0; i < M; i++) {
		assert_true(nn[i] > 0);
		/* At d* = 0.1 the acceptance probability is 1/(1+e^12.6) = 3e-6. */
		assert_true(nn[i] > 0.1);
		inside += nn[i] < 1;
	}
	assert_true(inside > M / 10);
	/* The hard threshold on the same walk never stops inside. */
	o.softness = 0;
	assert_int_equal(rml_sbo_generate(x, 1, 1, M, &o, out, nn, NULL, &e), RML_OK);
	for (int i = 0; i < M; i++)
		assert_true(nn[i] > 1);
}

static void test_step_cap(void **state)
{
	(void)state;
	float x[4] = { 0, 0, 1, 1 };
	float out[2 * 3];
	rml_sbo_opts o;
	rml_sbo_opts_default(&o);
	o.d_min = 10;
	o.d_off = 1e-3;
	o.max_steps = 50;
	rml_error e;
	assert_int_equal(rml_sbo_generate(x, 2, 2, 3, &o, out, NULL, NULL, &e), RML_ERR_LIMIT);
	assert_non_null(strstr(e.msg, "sample 0"));
	assert_non_null(strstr(e.msg, "50 steps"));
	print_message("step cap: %s\n", e.msg);
}

static void test_rejected_arguments(void **state)
{
	(void)state;
	float x[4] = { 0, 0, 1, 1 };
	float out[4];
	rml_sbo_opts o;
	rml_error e;
	rml_sbo_opts_default(&o);
	assert_int_equal(rml_sbo_generate(x, 0, 2, 1, &o, out, NULL, NULL, &e), RML_ERR_ARG);
	assert_int_equal(rml_sbo_generate(x, 2, 0, 1, &o, out, NULL, NULL, &e), RML_ERR_ARG);
	assert_int_equal(rml_sbo_generate(x, 2, 2, -1, &o, out, NULL, NULL, &e), RML_ERR_ARG);
	/* m = 0 is an empty, valid request. */
	assert_int_equal(rml_sbo_generate(x, 2, 2, 0, &o, out, NULL, NULL, &e), RML_OK);
	float bad[4] = { 0, NAN, 1, 1 };
	assert_int_equal(rml_sbo_generate(bad, 2, 2, 1, &o, out, NULL, NULL, &e), RML_ERR_ARG);
	assert_non_null(strstr(e.msg, "point 0"));
	bad[1] = INFINITY;
	assert_int_equal(rml_sbo_generate(bad, 2, 2, 1, &o, out, NULL, NULL, &e), RML_ERR_ARG);

	double *fields[] = { &o.d_min, &o.d_off, &o.softness, &o.step_mu, &o.step_sd };
	double badv[] = { 0, 0, -0.1, 0, -1 };
	for (int i = 0; i < 5; i++) {
		rml_sbo_opts_default(&o);
		*fields[i] = badv[i];
		assert_int_equal(rml_sbo_generate(x, 2, 2, 1, &o, out, NULL, NULL, &e),
				 RML_ERR_ARG);
		rml_sbo_opts_default(&o);
		*fields[i] = NAN;
		assert_int_equal(rml_sbo_generate(x, 2, 2, 1, &o, out, NULL, NULL, &e),
				 RML_ERR_ARG);
	}
	rml_sbo_opts_default(&o);
	o.max_steps = 0;
	assert_int_equal(rml_sbo_generate(x, 2, 2, 1, &o, out, NULL, NULL, &e), RML_ERR_ARG);
	assert_non_null(strstr(e.msg, "step cap"));
	/* A step so long that the walk leaves float range. */
	rml_sbo_opts_default(&o);
	o.d_min = 1e38;
	o.d_off = 1e38;
	o.step_mu = 10;
	assert_int_equal(rml_sbo_generate(x, 2, 2, 1, &o, out, NULL, NULL, &e), RML_ERR_NUMERIC);

	double d[2];
	assert_int_equal(rml_sbo_nearest(x, 0, x, 1, 2, d, NULL, &e), RML_ERR_ARG);
	assert_int_equal(rml_sbo_nearest(x, 2, x, -1, 2, d, NULL, &e), RML_ERR_ARG);
}

/* Points far from the origin (norms near 1e4, distances near 1) are where
 * ||q||^2 + ||x||^2 - 2 q.x loses every digit in float; the exact recheck
 * must still find the true neighbour. Duplicates go to the lowest index. */
static void test_nearest_exact(void **state)
{
	(void)state;
	enum { N = 500, D = 16, M = 64 };
	float *x = malloc(sizeof(float) * N * D), *q = malloc(sizeof(float) * M * D);
	double dist[M];
	int64_t idx[M];
	assert_non_null(x);
	assert_non_null(q);
	fill_normal(x, (int64_t)N * D, 1.0, 2500.0, 1);
	fill_normal(q, (int64_t)M * D, 1.0, 2500.0, 2);
	memcpy(x + 7 * D, x + 3 * D, sizeof(float) * D);   /* 7 duplicates 3 */
	memcpy(q, x + 3 * D, sizeof(float) * D);           /* query 0 sits on it */
	rml_error e;
	assert_int_equal(rml_sbo_nearest(x, N, q, M, D, dist, idx, &e), RML_OK);
	assert_int_equal(idx[0], 3);
	assert_true(dist[0] == 0);
	for (int i = 0; i < M; i++) {
		int64_t arg = -1;
		double want = naive_nn(x, N, D, q + (int64_t)i * D, &arg);
		assert_int_equal(idx[i], arg);
		assert_true(fabs(dist[i] - want) <= 1e-12 * (1 + want));
	}
	free(x);
	free(q);
}

int main(void)
{
	/* As the programs do: OpenMP threads, OpenBLAS single-threaded. */
	rml_set_threads(0);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_one_point_1d),
		cmocka_unit_test(test_one_point_2d),
		cmocka_unit_test(test_grid_hard_threshold),
		cmocka_unit_test(test_paper_setting),
		cmocka_unit_test(test_soft_acceptance),
		cmocka_unit_test(test_step_cap),
		cmocka_unit_test(test_rejected_arguments),
		cmocka_unit_test(test_nearest_exact),
	};
	return cmocka_run_group_tests_name("sbo", tests, NULL, NULL);
}
