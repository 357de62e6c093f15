/*
 * test_de.c — DE/rand/1/bin on toy functions: sphere and Rosenbrock reach
 * 1e-8 within a budget, multimodal Rastrigin its global minimum, the
 * crossover-free setting of the few-pixel attack (CR = 1) still
 * converges, every asked vector stays in the box even when the optimum
 * lies on its boundary, evaluation counts, NaN handling, determinism by
 * seed, and every rejected argument.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "de.h"
#include "rml.h"

typedef double (*objective)(const double *x, int64_t n);

static double f_sphere(const double *x, int64_t n)
{
	double s = 0;
	for (int64_t i = 0; i < n; i++)
		s += x[i] * x[i];
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

static double f_rastrigin(const double *x, int64_t n)
{
	double s = 10.0 * (double)n;
	for (int64_t i = 0; i < n; i++)
		s += x[i] * x[i] - 10.0 * cos(2.0 * M_PI * x[i]);
	return s;
}

/* Minimum on the box's lower corner: pulls trials out of the box. */
static double f_sum(const double *x, int64_t n)
{
	double s = 0;
	for (int64_t i = 0; i < n; i++)
		s += x[i];
	return s;
}

/* Run gens generations (plus the initial population) and check that every
 * asked vector is in the box; returns the best fitness. */
static double run(objective fn, int64_t n, double lo, double hi, int64_t np, double F, double CR,
		  uint64_t seed, int64_t gens, double *xbest, int64_t *evals)
{
	double *lower = malloc((size_t)n * sizeof(double)), *upper = malloc((size_t)n * sizeof(double));
	for (int64_t i = 0; i < n; i++) {
		lower[i] = lo;
		upper[i] = hi;
	}
	rml_de *de = NULL;
	rml_error err = { 0 };
	assert_int_equal(rml_de_init(&de, n, lower, upper, np, F, CR, seed, &err), RML_OK);
	double *x = malloc((size_t)(np * n) * sizeof(double)), *f = malloc((size_t)np * sizeof(double));
	for (int64_t g = 0; g <= gens; g++) {
		rml_de_ask(de, x);
		for (int64_t k = 0; k < np; k++) {
			for (int64_t j = 0; j < n; j++) {
				assert_true(x[k * n + j] >= lo);
				assert_true(x[k * n + j] <= hi);
			}
			f[k] = fn(x + k * n, n);
		}
		assert_int_equal(rml_de_tell(de, f, &err), RML_OK);
	}
	assert_int_equal(rml_de_generation(de), gens);
	*evals = rml_de_evals(de);
	double best = rml_de_best(de, xbest);
	rml_de_free(de);
	free(x);
	free(f);
	free(lower);
	free(upper);
	return best;
}

static void test_sphere(void **state)
{
	(void)state;
	double xb[5];
	int64_t evals;
	double best = run(f_sphere, 5, -5, 5, 30, 0.5, 0.9, 1, 150, xb, &evals);
	print_message("sphere 5-D: %.3g after %lld evaluations\n", best, (long long)evals);
	assert_int_equal(evals, 30 * 151);
	assert_true(best <= 1e-8);
	assert_true(f_sphere(xb, 5) == best);
}

static void test_rosenbrock(void **state)
{
	(void)state;
	double xb[2];
	int64_t evals;
	double best = run(f_rosen, 2, -5, 5, 20, 0.5, 0.9, 2, 400, xb, &evals);
	print_message("rosenbrock 2-D: %.3g\n", best);
	assert_true(best <= 1e-8);
	assert_true(fabs(xb[0] - 1) < 1e-3 && fabs(xb[1] - 1) < 1e-3);
}

static void test_rastrigin(void **state)
{
	(void)state;
	double xb[3];
	int64_t evals;
	double best = run(f_rastrigin, 3, -5.12, 5.12, 40, 0.5, 0.9, 3, 400, xb, &evals);
	print_message("rastrigin 3-D: %.3g\n", best);
	assert_true(best <= 1e-8);
}

/* The few-pixel attack's setting: no crossover (every coordinate from the
 * mutant), F = 0.5. */
static void test_no_crossover(void **state)
{
	(void)state;
	double xb[4];
	int64_t evals;
	double best = run(f_sphere, 4, -5, 5, 40, 0.5, 1.0, 4, 400, xb, &evals);
	print_message("sphere 4-D, CR = 1: %.3g\n", best);
	assert_true(best <= 1e-8);
}

static void test_bounds(void **state)
{
	(void)state;
	double xb[6];
	int64_t evals;
	double best = run(f_sum, 6, 2, 3, 20, 0.9, 0.9, 5, 200, xb, &evals);
	assert_true(best < 12 + 1e-6);
	for (int j = 0; j < 6; j++)
		assert_true(xb[j] >= 2 && xb[j] < 2 + 1e-6);
}

/* NaN trials never enter; a NaN member is replaced by any finite trial. */
static double f_nan_left(const double *x, int64_t n)
{
	if (x[0] < 0)
		return NAN;
	return f_sphere(x, n) + 1.0;
}

static void test_nan(void **state)
{
	(void)state;
	double xb[3];
	int64_t evals;
	double best = run(f_nan_left, 3, -4, 4, 20, 0.5, 0.9, 6, 300, xb, &evals);
	assert_true(!isnan(best));
	assert_true(xb[0] >= 0);
	assert_true(best < 1.0 + 1e-6);
}

static void test_determinism(void **state)
{
	(void)state;
	double x1[4], x2[4], x3[4];
	int64_t e;
	double b1 = run(f_rastrigin, 4, -5, 5, 16, 0.7, 0.5, 11, 30, x1, &e);
	double b2 = run(f_rastrigin, 4, -5, 5, 16, 0.7, 0.5, 11, 30, x2, &e);
	double b3 = run(f_rastrigin, 4, -5, 5, 16, 0.7, 0.5, 12, 30, x3, &e);
	assert_true(b1 == b2);
	assert_memory_equal(x1, x2, sizeof x1);
	assert_true(memcmp(x1, x3, sizeof x1) != 0 || b1 != b3);
}

static void test_bad_arguments(void **state)
{
	(void)state;
	double lo[2] = { 0, 0 }, hi[2] = { 1, 1 };
	rml_de *de = (rml_de *)1;
	rml_error err = { 0 };
	assert_int_equal(rml_de_init(&de, 0, lo, hi, 10, 0.5, 0.9, 1, &err), RML_ERR_ARG);
	assert_null(de);
	assert_non_null(strstr(err.msg, "dimension"));
	assert_int_equal(rml_de_init(&de, 2, lo, hi, 3, 0.5, 0.9, 1, &err), RML_ERR_ARG);
	assert_non_null(strstr(err.msg, "population"));
	assert_int_equal(rml_de_init(&de, 2, lo, hi, 10, 0, 0.9, 1, &err), RML_ERR_ARG);
	assert_non_null(strstr(err.msg, "F"));
	assert_int_equal(rml_de_init(&de, 2, lo, hi, 10, 2.5, 0.9, 1, &err), RML_ERR_ARG);
	assert_int_equal(rml_de_init(&de, 2, lo, hi, 10, NAN, 0.9, 1, &err), RML_ERR_ARG);
	assert_int_equal(rml_de_init(&de, 2, lo, hi, 10, 0.5, 1.1, 1, &err), RML_ERR_ARG);
	assert_non_null(strstr(err.msg, "CR"));
	assert_int_equal(rml_de_init(&de, 2, lo, hi, 10, 0.5, -0.1, 1, &err), RML_ERR_ARG);
	assert_int_equal(rml_de_init(&de, 2, NULL, hi, 10, 0.5, 0.9, 1, &err), RML_ERR_ARG);
	hi[1] = 0;
	assert_int_equal(rml_de_init(&de, 2, lo, hi, 10, 0.5, 0.9, 1, &err), RML_ERR_ARG);
	assert_non_null(strstr(err.msg, "coordinate 1"));
	hi[1] = INFINITY;
	assert_int_equal(rml_de_init(&de, 2, lo, hi, 10, 0.5, 0.9, 1, &err), RML_ERR_ARG);
	hi[1] = 1;
	assert_int_equal(rml_de_init(NULL, 2, lo, hi, 10, 0.5, 0.9, 1, &err), RML_ERR_ARG);
	assert_int_equal(rml_de_init(&de, 2, lo, hi, 10, 0.5, 0.9, 1, &err), RML_OK);
	double f[10] = { 0 };
	assert_int_equal(rml_de_tell(de, f, &err), RML_ERR_ARG);
	assert_non_null(strstr(err.msg, "ask"));
	assert_true(isinf(rml_de_best(de, NULL)));
	assert_int_equal(rml_de_popsize(de), 10);
	assert_int_equal(rml_de_dim(de), 2);
	rml_de_free(de);
	rml_de_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sphere),
		cmocka_unit_test(test_rosenbrock),
		cmocka_unit_test(test_rastrigin),
		cmocka_unit_test(test_no_crossover),
		cmocka_unit_test(test_bounds),
		cmocka_unit_test(test_nan),
		cmocka_unit_test(test_determinism),
		cmocka_unit_test(test_bad_arguments),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
