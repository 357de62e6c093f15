/*
 * test_metaopt_run.c — the pieces around a resilience optimisation run:
 * the evaluation's statistics against values worked out by hand (mean,
 * sample sd, Student-t interval), the report's table and JSON, the log's
 * lines and how a resumed run keeps and reads back the first ones, the
 * pool from a list, a YAML file and a file with a NUL byte, and the run
 * plot; what a command line asks (every refusal's message, --quick's
 * settings, --resume's checkpoint), the inputs it names (order, roles,
 * kinds, adapters added, the model of a resumed run), and the result
 * written with its summary.
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

static void expect_option(rml_metaopt_args *a, const char *name, const char *arg, const char *msg)
{
	rml_error err = { 0 };
	assert_int_equal(rml_metaopt_args_option(a, name, arg, &err), RML_ERR_ARG);
	assert_string_equal(err.msg, msg);
}

/* What an option asks beyond its range, each refusal with its message;
 * --quick's settings. */
static void test_args_option(void **state)
{
	(void)state;
	rml_metaopt_args a;
	rml_metaopt_args_init(&a);
	rml_metaopt_config def;
	rml_metaopt_config_default(&def);
	assert_int_equal(a.cfg.steps, def.steps);
	assert_null(a.model);
	a.gamma = 3;
	expect_option(&a, "adapters", "3", "--adapters takes 1, 2, 4 or 8");
	a.gamma = 8;
	assert_int_equal(rml_metaopt_args_option(&a, "adapters", "8", NULL), RML_OK);
	a.cfg.sigma = 0;
	expect_option(&a, "sigma", "0", "--sigma must be greater than 0");
	a.cfg.sigma = 0.5;
	assert_int_equal(rml_metaopt_args_option(&a, "sigma", "0.5", NULL), RML_OK);
	a.cfg.p0 = 0;
	expect_option(&a, "p0", "0", "--p0 must be in (0, 1]");
	expect_option(&a, "train-metric", "loss", "--train-metric takes prob or acc");
	assert_int_equal(rml_metaopt_args_option(&a, "train-metric", "acc", NULL), RML_OK);
	assert_int_equal(a.cfg.train_metric, RML_METAOPT_ACCURACY);
	assert_int_equal(rml_metaopt_args_option(&a, "train-metric", "prob", NULL), RML_OK);
	assert_int_equal(a.cfg.train_metric, RML_METAOPT_PROB);
	/* Other options ask nothing more, whatever their value. */
	a.cfg.steps = 0;
	assert_int_equal(rml_metaopt_args_option(&a, "steps", "0", NULL), RML_OK);
	assert_int_equal(rml_metaopt_args_option(&a, "quick", NULL, NULL), RML_OK);
	assert_int_equal(a.cfg.steps, 10);
	assert_int_equal(a.cfg.val_size, 50);
	assert_int_equal(a.cfg.n_impl, 1);
	assert_int_equal(a.cfg.iterations, 6);
	assert_int_equal(a.cfg.heldout, 1);
	assert_int_equal(a.cfg.eval_every, 2);
	assert_int_equal(a.repeat, 4);
}

static void expect_refused(rml_metaopt_args a, const char *msg)
{
	rml_error err = { 0 };
	assert_int_equal(rml_metaopt_args_check(&a, &err), RML_ERR_ARG);
	assert_string_equal(err.msg, msg);
}

/* The files of a command line judged together, each refusal with its
 * message; a run without -o writes to standard output. */
static void test_args_check(void **state)
{
	(void)state;
	rml_metaopt_args a;
	rml_metaopt_args_init(&a);
	expect_refused(a, "no model (-m)");
	a.model = "m.rml";
	expect_refused(a, "no held-out images (--val)");
	a.val = "v.rml";
	expect_refused(a, "no training images (-d)");
	a.data = "d.rml";
	a.log = "-";
	expect_refused(a, "--log wants a file: it is rewritten on --resume");
	a.log = NULL;
	assert_int_equal(rml_metaopt_args_check(&a, NULL), RML_OK);
	assert_string_equal(a.output, "-");
	a.output = "o.rml";
	assert_int_equal(rml_metaopt_args_check(&a, NULL), RML_OK);
	assert_string_equal(a.output, "o.rml");
	/* --eval: no training images needed, and nothing written but the report. */
	rml_metaopt_args e;
	rml_metaopt_args_init(&e);
	e.model = "m.rml";
	e.val = "v.rml";
	e.eval = 1;
	assert_int_equal(rml_metaopt_args_check(&e, NULL), RML_OK);
	assert_null(e.output);
	const char **what[] = { &e.output, &e.checkpoint, &e.log };
	for (int i = 0; i < 3; i++) {
		*what[i] = "x.rml";
		expect_refused(e, "--eval writes no model, checkpoint or log");
		*what[i] = NULL;
	}
	e.until = 3;
	expect_refused(e, "--eval writes no model, checkpoint or log");
}

/* --resume: other options refused as a usage error; a missing file and
 * a file that is not a checkpoint as failures; the stored options. */
static void test_resume_load(void **state)
{
	(void)state;
	char path[] = "/tmp/rml-test-resume-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	rml_file f;
	rml_file_init(&f);
	assert_int_equal(rml_set_str(&f, "kind", "model"), RML_OK);
	assert_int_equal(rml_file_save(&f, path, NULL), RML_OK);
	rml_metaopt_args a;
	rml_metaopt_args_init(&a);
	a.resume = path;
	a.until = 2;   /* allowed, as -j */
	rml_file ck;
	rml_file_init(&ck);
	char **argv = NULL;
	int argc = 0, usage = -1;
	rml_error err = { 0 };
	const char **other[] = { &a.model, &a.data, &a.val, &a.tasks, &a.pool, &a.output, &a.log, &a.plot };
	for (int i = 0; i < 8; i++) {
		*other[i] = "x.rml";
		assert_int_equal(rml_metaopt_resume_load(&a, &ck, &argv, &argc, &usage, NULL, &err), RML_ERR_ARG);
		assert_int_equal(usage, 1);
		assert_string_equal(err.msg, "--resume takes the run's options from the checkpoint");
		*other[i] = NULL;
	}
	a.eval = 1;
	assert_int_equal(rml_metaopt_resume_load(&a, &ck, &argv, &argc, &usage, NULL, &err), RML_ERR_ARG);
	a.eval = 0;
	/* Not a checkpoint: the message names it; ck is left empty. */
	assert_int_equal(rml_metaopt_resume_load(&a, &ck, &argv, &argc, &usage, NULL, &err), RML_ERR_FORMAT);
	assert_int_equal(usage, 0);
	assert_non_null(strstr(err.msg, "not a metaopt checkpoint"));
	assert_non_null(strstr(err.msg, path));
	assert_int_equal(ck.n_kv, 0);
	a.resume = "/nonexistent-dir/ck.rml";
	assert_int_not_equal(rml_metaopt_resume_load(&a, &ck, &argv, &argc, &usage, NULL, &err), RML_OK);
	assert_int_equal(usage, 0);
	/* A checkpoint: its options, the strings in ck. */
	const char *v[4] = { "rmlops-metaopt", "-m", "a.rml", "--quick" };
	assert_int_equal(rml_set_str_array(&f, "metaopt.argv", v, 4), RML_OK);
	assert_int_equal(rml_file_save(&f, path, NULL), RML_OK);
	a.resume = path;
	assert_int_equal(rml_metaopt_resume_load(&a, &ck, &argv, &argc, &usage, NULL, &err), RML_OK);
	assert_int_equal(argc, 4);
	assert_string_equal(argv[3], "--quick");
	assert_null(argv[4]);
	free(argv);
	rml_file_free(&ck);
	rml_file_free(&f);
	remove(path);
}

/* The loader of the tests: rml_file_load, the roles in order. */
static char roles[128];
static rml_status load(rml_file *f, const char *path, const char *role, rml_error *err)
{
	snprintf(roles + strlen(roles), sizeof roles - strlen(roles), "%s%s", roles[0] ? " " : "", role);
	return rml_file_load(f, path, err);
}

#define IMAGES "testdata/cifar10-test-1000.rml"

/* A fresh mvit-tiny, with adapters of size gamma (0: none), saved at
 * path (a mkstemp template). */
static void model_file(char *path, int gamma, rml_file *f)
{
	rml_model_config mc = { "mvit-tiny", 10, gamma, 1 };
	rml_model *m = NULL;
	assert_int_equal(rml_model_create(&m, &mc, NULL), RML_OK);
	rml_file_init(f);
	assert_int_equal(rml_model_to_file(m, f, NULL), RML_OK);
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(rml_file_save(f, path, NULL), RML_OK);
	rml_model_free(m);
}

/* The inputs of a run, an evaluation and a resumed run: what is read,
 * in which order and role; adapters added to a model without; kinds
 * checked with the file named. */
static void test_inputs_load(void **state)
{
	(void)state;
	char plain[] = "/tmp/rml-test-plain-XXXXXX", with[] = "/tmp/rml-test-adapters-XXXXXX";
	rml_file pf, wf;
	model_file(plain, 0, &pf);
	model_file(with, 2, &wf);
	rml_metaopt_args a;
	rml_metaopt_args_init(&a);
	a.model = plain;
	a.gamma = 2;
	a.data = IMAGES;
	a.val = IMAGES;
	rml_metaopt_inputs in;
	rml_metaopt_inputs_init(&in);
	rml_error err = { 0 };
	roles[0] = 0;
	assert_int_equal(rml_metaopt_inputs_load(&in, &a, NULL, load, &err), RML_OK);
	assert_string_equal(roles, "model data val");
	assert_true(rml_model_has_adapters(in.m));
	assert_int_equal(in.data.n, 1000);
	assert_ptr_equal(in.md.data, &in.data);
	assert_ptr_equal(in.md.val, &in.val);
	assert_null(in.md.tasks);
	assert_int_equal(in.pool.n, 2);   /* fgsm and fault */
	rml_metaopt_inputs_free(&in);
	assert_null(in.m);
	/* --eval with tasks: no training images; task joins the pool. */
	a.data = NULL;
	a.tasks = IMAGES;
	roles[0] = 0;
	assert_int_equal(rml_metaopt_inputs_load(&in, &a, NULL, load, &err), RML_OK);
	assert_string_equal(roles, "model val tasks");
	assert_null(in.md.data);
	assert_ptr_equal(in.md.tasks, &in.tasks);
	assert_int_equal(in.pool.n, 3);
	rml_metaopt_inputs_free(&in);
	/* Without --adapters a model without them stays so. */
	a.gamma = 0;
	a.tasks = NULL;
	assert_int_equal(rml_metaopt_inputs_load(&in, &a, NULL, NULL, &err), RML_OK);
	assert_false(rml_model_has_adapters(in.m));
	rml_metaopt_inputs_free(&in);
	/* Resumed: the model is the checkpoint's, and -m is not read. */
	a.resume = "ck.rml";
	a.model = NULL;
	roles[0] = 0;
	assert_int_equal(rml_metaopt_inputs_load(&in, &a, &wf, load, &err), RML_OK);
	assert_string_equal(roles, "val");
	assert_true(rml_model_has_adapters(in.m));
	rml_metaopt_inputs_free(&in);
	a.resume = NULL;
	/* Files of the wrong kind, each named; a bad pool before any file. */
	a.model = IMAGES;
	assert_int_not_equal(rml_metaopt_inputs_load(&in, &a, NULL, load, &err), RML_OK);
	assert_non_null(strstr(err.msg, IMAGES));
	rml_metaopt_inputs_free(&in);
	a.model = with;
	a.val = plain;
	assert_int_not_equal(rml_metaopt_inputs_load(&in, &a, NULL, load, &err), RML_OK);
	assert_non_null(strstr(err.msg, plain));
	rml_metaopt_inputs_free(&in);
	a.val = IMAGES;
	a.tasks = with;
	assert_int_not_equal(rml_metaopt_inputs_load(&in, &a, NULL, load, &err), RML_OK);
	assert_non_null(strstr(err.msg, with));
	rml_metaopt_inputs_free(&in);
	a.tasks = NULL;
	a.pool = "fgsm,noise";
	roles[0] = 0;
	assert_int_not_equal(rml_metaopt_inputs_load(&in, &a, NULL, load, &err), RML_OK);
	assert_string_equal(roles, "");
	rml_metaopt_inputs_free(&in);
	rml_file_free(&pf);
	rml_file_free(&wf);
	remove(plain);
	remove(with);
}

/* The result: the file as rml_metaopt_result_file makes it, saved; the
 * summary as JSON or a sentence; nothing said when it cannot be saved. */
static void test_result_write(void **state)
{
	(void)state;
	char with[] = "/tmp/rml-test-result-XXXXXX";
	rml_file wf;
	model_file(with, 2, &wf);
	rml_metaopt_args a;
	rml_metaopt_args_init(&a);
	a.model = with;
	a.data = IMAGES;
	a.val = IMAGES;
	a.pool = "fault";
	a.cfg.val_size = 20;
	a.cfg.heldout = 1;
	a.cfg.steps = 1;
	rml_metaopt_inputs in;
	rml_metaopt_inputs_init(&in);
	rml_error err = { 0 };
	assert_int_equal(rml_metaopt_inputs_load(&in, &a, NULL, NULL, &err), RML_OK);
	rml_metaopt *mo = NULL;
	if (rml_metaopt_init(&mo, in.m, &a.cfg, &in.pool, &in.md, 1, &err))
		fail_msg("%s", err.msg);
	rml_outbuf o, want;
	rml_outbuf_init(&o);
	rml_outbuf_init(&want);
	assert_int_equal(rml_metaopt_result_write(mo, in.m, with, 1, NULL, 1, &o, &err), RML_OK);
	rml_metaopt_result_json(&want, mo);
	assert_int_equal(o.len, want.len);
	assert_memory_equal(o.data, want.data, o.len);
	rml_file back;
	assert_int_equal(rml_file_load(&back, with, NULL), RML_OK);
	assert_non_null(rml_get(&back, "metaopt.heldout_after"));
	rml_file_free(&back);
	o.len = 0;
	assert_int_equal(rml_metaopt_result_write(mo, in.m, with, 1, NULL, 0, &o, &err), RML_OK);
	double p0, before, best;
	int64_t best_it;
	rml_metaopt_summary(mo, &p0, &before, &best, &best_it);
	char line[160];
	snprintf(line, sizeof line, "0 iterations; held-out R %.4f -> %.4f (best after iteration %lld)", before,
		 best, (long long)best_it);
	assert_int_equal(o.len, strlen(line));
	assert_memory_equal(o.data, line, o.len);
	o.len = 0;
	assert_int_not_equal(rml_metaopt_result_write(mo, in.m, "/nonexistent-dir/r.rml", 1, NULL, 1, &o, &err),
			     RML_OK);
	assert_int_equal(o.len, 0);
	rml_outbuf_free(&o);
	rml_outbuf_free(&want);
	rml_metaopt_free(mo);
	rml_metaopt_inputs_free(&in);
	rml_file_free(&wf);
	remove(with);
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
		cmocka_unit_test(test_args_option),
		cmocka_unit_test(test_args_check),
		cmocka_unit_test(test_resume_load),
		cmocka_unit_test(test_inputs_load),
		cmocka_unit_test(test_result_write),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
