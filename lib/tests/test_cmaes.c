/*
 * test_cmaes.c — CMA-ES and sep-CMA-ES on the classic test functions
 * (sphere, ellipsoid, rotated ellipsoid, Rosenbrock), each required to
 * reach 1e-8 within an evaluation budget of about twice what the method
 * needs (the budgets are those the published algorithm meets; a wrong
 * constant or a missing update term misses them by a wide margin); the
 * separable variant on a 100-dimensional ellipsoid; the stopping criteria;
 * NaN fitness values; determinism by seed; and every rejected argument.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "cmaes.h"
#include "rml.h"

typedef double (*objective)(const double *x, int64_t n);

static double f_sphere(const double *x, int64_t n)
{
	double s = 0;
	for (int64_t i = 0; i < n; i++)
		s += x[i] * x[i];
	return s;
}

/* Axis-parallel ellipsoid with condition number 1e6. */
static double f_elli(const double *x, int64_t n)
{
	double s = 0;
	for (int64_t i = 0; i < n; i++) {
		double a = n > 1 ? pow(1e6, (double)i / (double)(n - 1)) : 1.0;
		s += a * x[i] * x[i];
	}
	return s;
}

static double f_rosen(const double *x, int64_t n)
{
	double s = 0;
	for (int64_t i = 0; i + 1 < n; i++) {
		double a = x[i] * x[i] - x[i + 1], b = x[i] - 1.0;
		s += 100.0 * a * a + b * b;
	}
	return s;
}

/* The ellipsoid in coordinates rotated by a fixed orthogonal matrix
 * (Householder reflections of fixed vectors), so no axis is special and
 * only a full covariance matrix can learn it. */
#define ROT_N 10
static double rot[ROT_N * ROT_N];

static void make_rotation(void)
{
	for (int i = 0; i < ROT_N * ROT_N; i++)
		rot[i] = 0;
	for (int i = 0; i < ROT_N; i++)
		rot[i * ROT_N + i] = 1;
	rml_rng r;
	rml_rng_seed(&r, 99);
	for (int h = 0; h < 3; h++) {
		double v[ROT_N], nv = 0;
		for (int i = 0; i < ROT_N; i++) {
			v[i] = rml_rng_normal(&r);
			nv += v[i] * v[i];
		}
		/* rot <- (I - 2 v v^T / |v|^2) rot */
		for (int j = 0; j < ROT_N; j++) {
			double d = 0;
			for (int i = 0; i < ROT_N; i++)
				d += v[i] * rot[i * ROT_N + j];
			for (int i = 0; i < ROT_N; i++)
				rot[i * ROT_N + j] -= 2.0 * v[i] * d / nv;
		}
	}
}

static double f_rot_elli(const double *x, int64_t n)
{
	double y[ROT_N];
	for (int i = 0; i < ROT_N; i++) {
		double s = 0;
		for (int j = 0; j < ROT_N; j++)
			s += rot[i * ROT_N + j] * x[j];
		y[i] = s;
	}
	return f_elli(y, n);
}

/* Run until ftarget or the budget; returns the best fitness and the
 * evaluations used. */
static double run(objective fn, int64_t n, rml_cmaes_variant v, double x0v, double sigma0,
		  uint64_t seed, int64_t budget, double ftarget, int64_t *evals, double *xbest)
{
	double *x0 = malloc((size_t)n * sizeof(double));
	for (int64_t i = 0; i < n; i++)
		x0[i] = x0v;
	rml_cmaes *es = NULL;
	rml_error err = { 0 };
	assert_int_equal(rml_cmaes_init(&es, n, x0, sigma0, 0, seed, v, &err), RML_OK);
	rml_cmaes_stopopts so;
	rml_cmaes_set_stop(es, NULL);
	so.max_evals = budget;
	so.ftarget = ftarget;
	so.tolfun = 1e-15;
	so.tolx = 1e-15;
	so.max_condition = 1e14;
	rml_cmaes_set_stop(es, &so);
	const int64_t lambda = rml_cmaes_lambda(es);
	double *x = malloc((size_t)(lambda * n) * sizeof(double));
	double *f = malloc((size_t)lambda * sizeof(double));
	while (rml_cmaes_stopped(es) == RML_CMAES_RUNNING) {
		rml_cmaes_ask(es, x);
		for (int64_t k = 0; k < lambda; k++)
			f[k] = fn(x + k * n, n);
		assert_int_equal(rml_cmaes_tell(es, f, &err), RML_OK);
	}
	*evals = rml_cmaes_evals(es);
	double best = rml_cmaes_best(es, xbest);
	rml_cmaes_free(es);
	free(x);
	free(f);
	free(x0);
	return best;
}

static void expect_converges(objective fn, int64_t n, rml_cmaes_variant v, double x0v,
			     double sigma0, int64_t budget, const char *what)
{
	int64_t evals;
	double *xb = malloc((size_t)n * sizeof(double));
	double best = run(fn, n, v, x0v, sigma0, 1, budget, 1e-9, &evals, xb);
	print_message("%s: best %.3g after %lld evaluations (budget %lld)\n", what, best,
		      (long long)evals, (long long)budget);
	assert_true(best <= 1e-8);
	assert_true(evals <= budget);
	free(xb);
}

static void test_sphere_full(void **state)
{
	(void)state;
	expect_converges(f_sphere, 10, RML_CMAES_FULL, 1.0, 0.5, 3000, "sphere 10-D full");
	expect_converges(f_sphere, 2, RML_CMAES_FULL, 3.0, 1.0, 1000, "sphere 2-D full");
}

static void test_ellipsoid_full(void **state)
{
	(void)state;
	expect_converges(f_elli, 10, RML_CMAES_FULL, 1.0, 0.5, 12000, "ellipsoid 10-D full");
}

static void test_rotated_ellipsoid_full(void **state)
{
	(void)state;
	make_rotation();
	expect_converges(f_rot_elli, ROT_N, RML_CMAES_FULL, 1.0, 0.5, 12000,
			 "rotated ellipsoid 10-D full");
}

static void test_rosenbrock_full(void **state)
{
	(void)state;
	int64_t evals;
	double xb[10];
	double best = run(f_rosen, 10, RML_CMAES_FULL, 0.0, 0.5, 1, 20000, 1e-9, &evals, xb);
	print_message("rosenbrock 10-D full: best %.3g after %lld evaluations\n", best,
		      (long long)evals);
	assert_true(best <= 1e-8);
	assert_true(evals <= 15000);
	for (int i = 0; i < 10; i++)
		assert_true(fabs(xb[i] - 1.0) < 1e-3);
}

static void test_sep_ellipsoid_100(void **state)
{
	(void)state;
	expect_converges(f_elli, 100, RML_CMAES_SEP, 1.0, 0.5, 60000, "ellipsoid 100-D sep");
	expect_converges(f_sphere, 100, RML_CMAES_SEP, 1.0, 0.5, 20000, "sphere 100-D sep");
}

/* The separable variant must learn the diagonal much faster than the full
 * one on a separable problem: the learning-rate correction at work. */
static void test_sep_faster_than_full_when_separable(void **state)
{
	(void)state;
	int64_t e_sep, e_full;
	double xb[40];
	double b_sep = run(f_elli, 40, RML_CMAES_SEP, 1.0, 0.5, 3, 400000, 1e-9, &e_sep, xb);
	double b_full = run(f_elli, 40, RML_CMAES_FULL, 1.0, 0.5, 3, 400000, 1e-9, &e_full, xb);
	print_message("ellipsoid 40-D: sep %lld, full %lld evaluations\n", (long long)e_sep,
		      (long long)e_full);
	assert_true(b_sep <= 1e-8 && b_full <= 1e-8);
	assert_true(e_sep * 2 < e_full);
}

static void test_determinism(void **state)
{
	(void)state;
	for (int v = 0; v < 2; v++) {
		int64_t e1, e2, e3;
		double x1[8], x2[8], x3[8];
		double b1 = run(f_rosen, 8, (rml_cmaes_variant)v, 0.0, 0.3, 42, 800, -INFINITY, &e1, x1);
		double b2 = run(f_rosen, 8, (rml_cmaes_variant)v, 0.0, 0.3, 42, 800, -INFINITY, &e2, x2);
		double b3 = run(f_rosen, 8, (rml_cmaes_variant)v, 0.0, 0.3, 43, 800, -INFINITY, &e3, x3);
		assert_true(b1 == b2);
		assert_int_equal(e1, e2);
		assert_memory_equal(x1, x2, sizeof x1);
		assert_true(b1 != b3 || memcmp(x1, x3, sizeof x1) != 0);
	}
}

/* Fitness NaN on half the space: those candidates rank last and the
 * strategy still finds the optimum at (1, ..., 1) on the other half. */
static double f_nan_half(const double *x, int64_t n)
{
	if (x[0] < 0.5)
		return NAN;
	double s = 0;
	for (int64_t i = 0; i < n; i++)
		s += (x[i] - 1.0) * (x[i] - 1.0);
	return s;
}

static void test_nan_fitness(void **state)
{
	(void)state;
	int64_t evals;
	double xb[5];
	double best = run(f_nan_half, 5, RML_CMAES_FULL, 2.0, 1.0, 5, 5000, 1e-10, &evals, xb);
	assert_true(best <= 1e-8);
	assert_true(fabs(xb[0] - 1.0) < 1e-3);
}

static void test_stopping(void **state)
{
	(void)state;
	double x0[4] = { 1, 1, 1, 1 };
	rml_cmaes *es = NULL;
	assert_int_equal(rml_cmaes_init(&es, 4, x0, 0.5, 6, 1, RML_CMAES_FULL, NULL), RML_OK);
	rml_cmaes_stopopts so = { .max_evals = 60, .ftarget = -INFINITY, .tolfun = 0,
				  .tolx = 0, .max_condition = 1e14 };
	rml_cmaes_set_stop(es, &so);
	double x[6 * 4], f[6];
	int gens = 0;
	while (!rml_cmaes_stopped(es)) {
		rml_cmaes_ask(es, x);
		for (int k = 0; k < 6; k++)
			f[k] = f_sphere(x + 4 * k, 4);
		assert_int_equal(rml_cmaes_tell(es, f, NULL), RML_OK);
		gens++;
	}
	assert_int_equal(gens, 10);
	assert_int_equal(rml_cmaes_evals(es), 60);
	assert_int_equal(rml_cmaes_generation(es), 10);
	assert_int_equal(rml_cmaes_stopped(es), RML_CMAES_STOP_MAXEVALS);
	assert_string_equal(rml_cmaes_stop_name(rml_cmaes_stopped(es)), "maxevals");
	rml_cmaes_free(es);

	/* With the default criteria a sphere ends on tolfun or tolx, and a
	 * constant function on tolfun. */
	assert_int_equal(rml_cmaes_init(&es, 4, x0, 0.5, 0, 1, RML_CMAES_SEP, NULL), RML_OK);
	int64_t lambda = rml_cmaes_lambda(es);
	assert_int_equal(lambda, 4 + (int64_t)floor(3 * log(4.0)));
	double *xx = malloc((size_t)(lambda * 4) * sizeof(double));
	double *ff = malloc((size_t)lambda * sizeof(double));
	for (int g = 0; g < 100000 && !rml_cmaes_stopped(es); g++) {
		rml_cmaes_ask(es, xx);
		for (int64_t k = 0; k < lambda; k++)
			ff[k] = 7.0;
		assert_int_equal(rml_cmaes_tell(es, ff, NULL), RML_OK);
	}
	assert_int_equal(rml_cmaes_stopped(es), RML_CMAES_STOP_TOLFUN);
	rml_cmaes_free(es);

	assert_int_equal(rml_cmaes_init(&es, 4, x0, 0.5, 0, 1, RML_CMAES_FULL, NULL), RML_OK);
	for (int g = 0; g < 100000 && !rml_cmaes_stopped(es); g++) {
		rml_cmaes_ask(es, xx);
		for (int64_t k = 0; k < lambda; k++)
			ff[k] = f_sphere(xx + 4 * k, 4);
		assert_int_equal(rml_cmaes_tell(es, ff, NULL), RML_OK);
	}
	rml_cmaes_stop why = rml_cmaes_stopped(es);
	assert_true(why == RML_CMAES_STOP_TOLFUN || why == RML_CMAES_STOP_TOLX);
	assert_true(rml_cmaes_best(es, NULL) < 1e-12);
	free(xx);
	free(ff);
	rml_cmaes_free(es);
}

static void test_bad_arguments(void **state)
{
	(void)state;
	double x0[3] = { 0, 0, 0 };
	rml_cmaes *es = (rml_cmaes *)1;
	rml_error err = { 0 };
	assert_int_equal(rml_cmaes_init(&es, 0, x0, 1, 0, 1, RML_CMAES_FULL, &err), RML_ERR_ARG);
	assert_null(es);
	assert_non_null(strstr(err.msg, "dimension"));
	assert_int_equal(rml_cmaes_init(&es, 3, x0, 0, 0, 1, RML_CMAES_FULL, &err), RML_ERR_ARG);
	assert_non_null(strstr(err.msg, "step size"));
	assert_int_equal(rml_cmaes_init(&es, 3, x0, INFINITY, 0, 1, RML_CMAES_FULL, &err), RML_ERR_ARG);
	assert_int_equal(rml_cmaes_init(&es, 3, x0, 1, 1, 1, RML_CMAES_FULL, &err), RML_ERR_ARG);
	assert_non_null(strstr(err.msg, "population"));
	assert_int_equal(rml_cmaes_init(&es, 3, x0, 1, -5, 1, RML_CMAES_FULL, &err), RML_ERR_ARG);
	assert_int_equal(rml_cmaes_init(&es, 3, x0, 1, 0, 1, (rml_cmaes_variant)7, &err), RML_ERR_ARG);
	assert_non_null(strstr(err.msg, "variant"));
	assert_int_equal(rml_cmaes_init(&es, 3, NULL, 1, 0, 1, RML_CMAES_FULL, &err), RML_ERR_ARG);
	x0[1] = NAN;
	assert_int_equal(rml_cmaes_init(&es, 3, x0, 1, 0, 1, RML_CMAES_FULL, &err), RML_ERR_ARG);
	assert_non_null(strstr(err.msg, "non-finite"));
	x0[1] = 0;
	assert_int_equal(rml_cmaes_init(&es, RML_CMAES_FULL_MAX + 1, x0, 1, 0, 1, RML_CMAES_FULL, &err),
			 RML_ERR_LIMIT);
	assert_non_null(strstr(err.msg, "separable"));
	assert_int_equal(rml_cmaes_init(NULL, 3, x0, 1, 0, 1, RML_CMAES_FULL, &err), RML_ERR_ARG);

	assert_int_equal(rml_cmaes_init(&es, 3, x0, 1, 0, 1, RML_CMAES_FULL, &err), RML_OK);
	double f[16] = { 0 };
	assert_int_equal(rml_cmaes_tell(es, f, &err), RML_ERR_ARG);
	assert_non_null(strstr(err.msg, "ask"));
	rml_cmaes_free(es);
	rml_cmaes_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sphere_full),
		cmocka_unit_test(test_ellipsoid_full),
		cmocka_unit_test(test_rotated_ellipsoid_full),
		cmocka_unit_test(test_rosenbrock_full),
		cmocka_unit_test(test_sep_ellipsoid_100),
		cmocka_unit_test(test_sep_faster_than_full_when_separable),
		cmocka_unit_test(test_determinism),
		cmocka_unit_test(test_nan_fitness),
		cmocka_unit_test(test_stopping),
		cmocka_unit_test(test_bad_arguments),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
