/*
 * test_metaopt_run.c — the pieces around a resilience optimisation run:
 * the evaluation's statistics against values worked out by hand (mean,
 * sample sd, Student-t interval), the report's table and JSON, the log's
 * lines and how a resumed run keeps and reads back the first ones, the
 * pool from a list, a YAML file and a file with a NUL byte, and the run
 * plot.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "metaopt_run.h"

/* Two entries of three implementations, T = 1. */
static const double r6[6] = { 0.5, 0.7, 0.9, 1, 1, 1 };
static const double curves6[12] = { 0.2, 0.6, 0.4, 0.8, 0.6, 1.0, 1, 1, 1, 1, 1, 1 };

static void test_stats(void **state)
{
	(void)state;
	rml_metaopt_stats by[2], all;
	rml_metaopt_eval_stats(r6, curves6, 2, 3, 1, by, &all);
	/* 0.5, 0.7, 0.9: mean 0.7, sd 0.2, t(0.975; 2) = 4.302653. */
	assert_int_equal(by[0].n, 3);
	assert_float_equal(by[0].mean, 0.7, 1e-12);
	assert_float_equal(by[0].sd, 0.2, 1e-12);
	assert_float_equal(by[0].hi - by[0].mean, 4.302653 * 0.2 / sqrt(3), 1e-5);
	assert_float_equal(by[0].mean - by[0].lo, 4.302653 * 0.2 / sqrt(3), 1e-5);
	assert_float_equal(by[0].acc_before, 0.4, 1e-12);
	assert_float_equal(by[0].acc_after, 0.8, 1e-12);
	/* All equal: sd 0, the interval a point. */
	assert_float_equal(by[1].mean, 1, 1e-12);
	assert_float_equal(by[1].sd, 0, 1e-12);
	assert_float_equal(by[1].lo, 1, 1e-12);
	/* All six: mean 0.85, sd sqrt(0.215 / 5), t(0.975; 5) = 2.570582. */
	assert_int_equal(all.n, 6);
	assert_float_equal(all.mean, 0.85, 1e-12);
	assert_float_equal(all.sd, sqrt(0.043), 1e-12);
	assert_float_equal(all.hi - all.mean, 2.570582 * sqrt(0.043) / sqrt(6), 1e-5);
	assert_true(isnan(all.acc_before));
	/* One implementation: no spread, no interval. */
	rml_metaopt_eval_stats(r6, NULL, 1, 1, 1, by, &all);
	assert_float_equal(by[0].sd, 0, 0);
	assert_float_equal(by[0].lo, 0.5, 0);
	assert_true(isnan(by[0].acc_before));
}

static char *read_all(const char *path)
{
	FILE *fp = fopen(path, "r");
	assert_non_null(fp);
	static char buf[4096];
	size_t n = fread(buf, 1, sizeof buf - 1, fp);
	buf[n] = 0;
	fclose(fp);
	return buf;
}

static void test_report(void **state)
{
	(void)state;
	rml_dist_pool pool;
	rml_error err;
	assert_int_equal(rml_dist_pool_parse_list(&pool, "fgsm,fault", &err), RML_OK);
	char path[] = "/tmp/rml-test-report-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	FILE *fp = fdopen(fd, "w");
	rml_metaopt_eval_report(fp, 1, &pool, 0.8, 1, 3, r6, curves6);
	fclose(fp);
	const char *s = read_all(path);
	assert_non_null(strstr(s, "{\"p0\":0.800000,\"steps\":1,\"by_disturbance\":[{\"type\":\"fgsm\","
				  "\"resilience\":{\"mean\":0.700000,\"sd\":0.200000,"));
	assert_non_null(strstr(s, "\"acc_before\":0.400000,\"acc_after\":0.800000,"
				  "\"r\":[0.500000,0.700000,0.900000]},{\"type\":\"fault\""));
	assert_non_null(strstr(s, "\"n_rep\":6}}\n"));
	fp = fopen(path, "w");
	rml_metaopt_eval_report(fp, 0, &pool, 0.8, 1, 3, r6, curves6);
	fclose(fp);
	s = read_all(path);
	assert_non_null(strstr(s, "P0 0.8000 (undisturbed accuracy on the held-out images), T 1\n"));
	assert_non_null(strstr(s, "\n1   fgsm        3   0.7000    [0.2032, 1.1968]     0.4000     0.8000\n"));
	assert_non_null(strstr(s, "\n    all         6   0.8500"));
	unlink(path);
}

static void test_log(void **state)
{
	(void)state;
	char path[] = "/tmp/rml-test-mlog-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	rml_error err;
	double rmean[4], held[4];
	FILE *fp = rml_metaopt_log_open(path, 0, rmean, held, &err);
	assert_non_null(fp);
	for (int i = 0; i < 3; i++) {
		rml_metaopt_record rec = { i, RML_DIST_FAULT, 0.25, 0.75, 0.5 + i, i == 1 ? 0.125 : NAN,
					   1, 2, 3, i == 1 };
		rml_metaopt_log_write(fp, &rec);
	}
	fclose(fp);
	const char *s = read_all(path);
	assert_non_null(strstr(s, "{\"iteration\":1,\"type\":\"fault\",\"r_plus\":0.250000,"
				  "\"r_minus\":0.750000,\"r_mean\":1.500000,\"heldout\":0.125000,"
				  "\"grad_norm\":2.000000,\"step_norm\":1.000000,\"seconds\":3.000000,"
				  "\"best\":true}\n"));
	assert_non_null(strstr(s, "\"heldout\":null"));
	/* Resumed after iteration 2: two lines stay, their R read back. */
	for (int i = 0; i < 4; i++)
		rmean[i] = held[i] = -1;
	fp = rml_metaopt_log_open(path, 2, rmean, held, &err);
	assert_non_null(fp);
	fclose(fp);
	s = read_all(path);
	assert_null(strstr(s, "\"iteration\":2"));
	assert_non_null(strstr(s, "\"iteration\":1"));
	assert_float_equal(rmean[0], 0.5, 0);
	assert_float_equal(rmean[1], 1.5, 0);
	assert_true(isnan(held[0]));
	assert_float_equal(held[1], 0.125, 0);
	assert_float_equal(rmean[2], -1, 0);
	unlink(path);
}

static void test_pool(void **state)
{
	(void)state;
	rml_dist_pool p;
	rml_error err;
	assert_int_equal(rml_metaopt_pool_load(&p, NULL, 0, &err), RML_OK);
	assert_int_equal(p.n, 2);
	assert_int_equal(rml_metaopt_pool_load(&p, NULL, 1, &err), RML_OK);
	assert_int_equal(p.n, 3);
	assert_int_equal(p.d[2].kind, RML_DIST_TASK);
	assert_int_equal(rml_metaopt_pool_load(&p, "fault", 1, &err), RML_OK);
	assert_int_equal(p.n, 1);
	assert_int_equal(p.d[0].kind, RML_DIST_FAULT);
	assert_int_not_equal(rml_metaopt_pool_load(&p, "fgsm,nothing", 0, &err), RML_OK);
	char path[] = "/tmp/rml-test-pool-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	FILE *fp = fdopen(fd, "w");
	fputs("- type: fgsm\n  eps: 2\n- type: task\n  weight: 3\n", fp);
	fclose(fp);
	assert_int_equal(rml_metaopt_pool_load(&p, path, 0, &err), RML_OK);
	assert_int_equal(p.n, 2);
	assert_float_equal(p.d[0].eps, 2, 0);
	assert_float_equal(p.d[1].weight, 3, 0);
	fp = fopen(path, "w");
	fputs("- type: fgsm\n", fp);
	fputc(0, fp);
	fclose(fp);
	assert_int_equal(rml_metaopt_pool_load(&p, path, 0, &err), RML_ERR_FORMAT);
	assert_non_null(strstr(err.msg, "NUL byte"));
	unlink(path);
}

static void test_plot_run(void **state)
{
	(void)state;
	char path[] = "/tmp/rml-test-mplot-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	double rmean[3] = { 0.5, 0.6, 0.7 }, held[3] = { NAN, 0.55, NAN };
	rml_error err;
	assert_int_equal(rml_metaopt_plot_run(path, rmean, held, 3, &err), RML_OK);
	FILE *fp = fopen(path, "rb");
	unsigned char sig[4] = { 0 };
	assert_int_equal(fread(sig, 1, 4, fp), 4);
	fclose(fp);
	assert_memory_equal(sig, "\x89PNG", 4);
	unlink(path);
}

/* The options a checkpoint stores, as an argv ending in NULL; a file
 * without them (or with a key of another type) is not a checkpoint. */
static void test_stored_args(void **state)
{
	(void)state;
	rml_file f;
	rml_file_init(&f);
	rml_error err = { 0 };
	char **argv = (char **)1;
	int argc = -1;
	assert_int_equal(rml_metaopt_stored_args(&f, "ck.rml", &argv, &argc, &err), RML_ERR_FORMAT);
	assert_string_equal(err.msg, "ck.rml: not a metaopt checkpoint");
	assert_null(argv);
	assert_int_equal(argc, 0);
	assert_int_equal(rml_set_str(&f, "metaopt.argv", "-m"), RML_OK);
	assert_int_equal(rml_metaopt_stored_args(&f, "ck.rml", &argv, &argc, &err), RML_ERR_FORMAT);
	const char *v[3] = { "rmlops-metaopt", "-m", "a.rml" };
	assert_int_equal(rml_set_str_array(&f, "metaopt.argv", v, 3), RML_OK);
	assert_int_equal(rml_metaopt_stored_args(&f, "ck.rml", &argv, &argc, &err), RML_OK);
	assert_int_equal(argc, 3);
	assert_string_equal(argv[0], "rmlops-metaopt");
	assert_string_equal(argv[2], "a.rml");
	assert_null(argv[3]);
	free(argv);
	rml_file_free(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_stats),
		cmocka_unit_test(test_report),
		cmocka_unit_test(test_log),
		cmocka_unit_test(test_pool),
		cmocka_unit_test(test_plot_run),
		cmocka_unit_test(test_stored_args),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
