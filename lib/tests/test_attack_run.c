/*
 * test_attack_run.c — rmlops-attack's commands as library calls, on a
 * freshly initialised mvit-tiny and random images: the job's list, batch
 * and pixel checks with whose fault each refusal is; create's and run's
 * reports byte for byte against the report functions on the same result,
 * quiet or not, text or JSON; create's files, the sheet first; a curve's
 * lists and every message; a curve refused as a usage error and run as
 * rml_attack_curves_report does; verify from files, within budget and
 * over it, and a missing file.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "attack_run.h"
#include "fixtures.h"
#include "outtext.h"

/* n random images of ten classes (fixtures.h), named as a loaded
 * dataset's are: verify writes them to a file, and create's sheet takes
 * its names from the data. */
static void random_set(rml_dataset *d, int64_t n, uint64_t seed)
{
	rml_fx_random_set(d, n, 10, seed);
	assert_int_equal(rml_dataset_set_classes(d, NULL, 10, NULL), RML_OK);
}

/* A job of the tiny model and 12 images, its list made for a with the
 * settings keys[i] = vals[i]; the status of rml_attack_job_prepare. */
static rml_status job_for(rml_attack_job *j, const rml_attack_args *a, const char *const *kv,
			  int64_t *batch, int *usage, rml_error *err)
{
	rml_attack_sets s = { 0 };
	rml_attack_job_init(j);
	j->m = rml_fx_tiny(10, 0, 5);
	random_set(&j->d, 12, 3);
	for (; kv && kv[0]; kv += 2)
		assert_int_equal(rml_attack_sets_add(&s, kv[0], kv[1], NULL), RML_OK);
	return rml_attack_job_prepare(j, a, &s, batch, usage, err);
}

static char *temp_file(const char *text)
{
	static char path[64];
	snprintf(path, sizeof path, "/tmp/rml-test-attack-run-XXXXXX");
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	return path;
}

static void test_job_prepare(void **state)
{
	(void)state;
	rml_attack_job j;
	rml_error err = { 0 };
	int usage = -1;
	int64_t batch = 128;
	/* The list of one default attack, the batch cut to the 12 images. */
	rml_attack_args a = { .command = "run", .name = "mine" };
	const char *fgsm[] = { "attack", "fgsm", "eps", "2", NULL };
	assert_int_equal(job_for(&j, &a, fgsm, &batch, &usage, &err), RML_OK);
	assert_int_equal(j.n, 1);
	assert_string_equal(j.list[0].name, "mine");
	assert_true(j.list[0].cfg.eps == 2);
	assert_int_equal(batch, 12);
	rml_attack_job_free(&j);
	assert_null(j.m);
	assert_null(j.list);
	rml_attack_job_free(&j);   /* twice is harmless */
	/* More pixels than the images have: the command line's fault when
	 * --pixels said so, the file's otherwise; curves take a list. */
	const char *px[] = { "attack", "pixel-l0", "pixels", "2000", NULL };
	a = (rml_attack_args){ .command = "create", .pixels_list = "2000" };
	batch = 5;
	assert_int_equal(job_for(&j, &a, px, &batch, &usage, &err), RML_ERR_ARG);
	assert_int_equal(usage, 1);
	assert_string_equal(err.msg, "--pixels 2000: the images have 1024 pixels");
	assert_int_equal(batch, 5);
	rml_attack_job_free(&j);
	char *yaml = temp_file("- name: big\n  attack: pixel-l0\n  pixels: 2000\n");
	a = (rml_attack_args){ .command = "run", .config = yaml };
	assert_int_equal(job_for(&j, &a, NULL, &batch, &usage, &err), RML_ERR_ARG);
	assert_int_equal(usage, 0);
	assert_string_equal(err.msg, "attack big: 2000 pixels, the images have 1024");
	rml_attack_job_free(&j);
	a.command = "curve";
	assert_int_equal(job_for(&j, &a, NULL, &batch, &usage, &err), RML_OK);
	rml_attack_job_free(&j);
	remove(yaml);
	/* rml_attack_list_make's refusals keep their fault: a value wrong for
	 * the model, two attacks for create. */
	const char *target[] = { "attack", "fgsm", "target", "12", NULL };
	a = (rml_attack_args){ .command = "create" };
	assert_int_equal(job_for(&j, &a, target, &batch, &usage, &err), RML_ERR_ARG);
	assert_int_equal(usage, 1);
	rml_attack_job_free(&j);
	yaml = temp_file("- attack: fgsm\n- attack: pgd\n");
	a = (rml_attack_args){ .command = "create", .config = yaml };
	assert_int_equal(job_for(&j, &a, NULL, &batch, &usage, &err), RML_ERR_ARG);
	assert_int_equal(usage, 1);
	assert_non_null(strstr(err.msg, "create makes one dataset"));
	rml_attack_job_free(&j);
	a.command = "run";
	assert_int_equal(job_for(&j, &a, NULL, &batch, &usage, &err), RML_OK);
	assert_int_equal(j.n, 2);
	rml_attack_job_free(&j);
	remove(yaml);
}

/* rml_attack_run_report's output on a memory stream. */
static char *run_report(const rml_attack_job *j, int create, int json, int quiet,
			rml_attack_dataset_result *r)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *fp = open_memstream(&buf, &len);
	assert_non_null(fp);
	assert_int_equal(rml_attack_run_report(j, create, json, quiet, 5, NULL, fp, r, NULL), RML_OK);
	fclose(fp);
	return buf;
}

/* What the report functions make of result r of attack i. */
static void expect_row(rml_outbuf *o, const rml_attack_job *j, int i,
		       const rml_attack_dataset_result *r, int json)
{
	rml_attack_report rep;
	rml_attack_summarize(r, j->d.labels, &rep);
	if (json)
		rml_attack_report_json(o, &j->list[i], &rep);
	else
		rml_attack_report_row(o, &j->list[i], &rep);
}

static void test_run_report(void **state)
{
	(void)state;
	rml_attack_job j;
	int usage;
	int64_t batch = 5;
	rml_attack_args a = { .command = "run" };
	const char *fgsm[] = { "attack", "fgsm", NULL };
	assert_int_equal(job_for(&j, &a, fgsm, &batch, &usage, NULL), RML_OK);
	rml_attack_dataset_result r;
	rml_attack_dataset_result_init(&r);
	rml_outbuf want;
	rml_outbuf_init(&want);
	/* run: the header unless quiet, then a row; JSON in a list. */
	char *got = run_report(&j, 0, 0, 0, &r);
	assert_int_equal(r.n, 12);
	rml_attack_report_header(&want);
	expect_row(&want, &j, 0, &r, 0);
	assert_string_equal(got, rml_out_str(&want));
	free(got);
	got = run_report(&j, 0, 0, 1, &r);
	want.len = 0;
	expect_row(&want, &j, 0, &r, 0);
	assert_string_equal(got, rml_out_str(&want));
	free(got);
	got = run_report(&j, 0, 1, 0, &r);
	want.len = 0;
	rml_outbuf_printf(&want, "{\"attacks\":[");
	expect_row(&want, &j, 0, &r, 1);
	rml_outbuf_printf(&want, "]}\n");
	assert_string_equal(got, rml_out_str(&want));
	free(got);
	/* create: header and row unless quiet, nothing when quiet, the
	 * object and a newline in JSON. */
	got = run_report(&j, 1, 0, 0, &r);
	want.len = 0;
	rml_attack_report_header(&want);
	expect_row(&want, &j, 0, &r, 0);
	assert_string_equal(got, rml_out_str(&want));
	free(got);
	got = run_report(&j, 1, 0, 1, &r);
	assert_string_equal(got, "");
	free(got);
	got = run_report(&j, 1, 1, 1, &r);
	want.len = 0;
	expect_row(&want, &j, 0, &r, 1);
	rml_outbuf_printf(&want, "\n");
	assert_string_equal(got, rml_out_str(&want));
	free(got);
	/* Two attacks: a row each, r the last one's. */
	rml_attack_spec two[2] = { j.list[0], j.list[0] };
	snprintf(two[1].name, sizeof two[1].name, "second");
	two[1].cfg.eps = 8;
	free(j.list);
	j.list = malloc(sizeof two);
	memcpy(j.list, two, sizeof two);
	j.n = 2;
	got = run_report(&j, 0, 1, 0, &r);
	assert_non_null(strstr(got, "{\"attacks\":[{\"name\":\"fgsm\","));
	assert_non_null(strstr(got, "},{\"name\":\"second\","));
	assert_true(r.budget[0] == 8);
	free(got);
	/* An attack that fails stops the run with its error. */
	rml_dataset_free(&j.d);
	random_set(&j.d, 12, 4);
	j.d.labels[3] = -1;
	char *buf = NULL;
	size_t len = 0;
	FILE *fp = open_memstream(&buf, &len);
	rml_error err = { 0 };
	assert_int_not_equal(rml_attack_run_report(&j, 0, 1, 0, 5, NULL, fp, &r, &err), RML_OK);
	fclose(fp);
	assert_true(err.msg[0] != 0);
	assert_string_equal(buf, "{\"attacks\":[");
	free(buf);
	rml_outbuf_free(&want);
	rml_attack_dataset_result_free(&r);
	rml_attack_job_free(&j);
}

static void test_create_files(void **state)
{
	(void)state;
	rml_attack_job j;
	int usage;
	int64_t batch = 12;
	rml_attack_args a = { .command = "create" };
	const char *pgd[] = { "attack", "pgd", "steps", "2", NULL };
	assert_int_equal(job_for(&j, &a, pgd, &batch, &usage, NULL), RML_OK);
	rml_attack_dataset_result r;
	rml_attack_dataset_result_init(&r);
	FILE *devnull = fopen("/dev/null", "w");
	assert_int_equal(rml_attack_run_report(&j, 1, 0, 1, batch, NULL, devnull, &r, NULL), RML_OK);
	fclose(devnull);
	/* The file is rml_attack_to_file's; with a sheet, a PNG too. */
	rml_file f, want;
	rml_file_init(&f);
	rml_file_init(&want);
	char png[] = "/tmp/rml-test-attack-sheet-XXXXXX";
	int fd = mkstemp(png);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(rml_attack_create_files(&j, &r, png, 3, 0, &f, NULL), RML_OK);
	assert_int_equal(rml_attack_to_file(&j.list[0], &j.d, &r, &want, NULL), RML_OK);
	assert_int_equal(f.n_tensors, want.n_tensors);
	assert_non_null(rml_find_tensor(&f, "attack.success"));
	FILE *p = fopen(png, "rb");
	unsigned char sig[4] = { 0 };
	assert_int_equal(fread(sig, 1, 4, p), 4);
	fclose(p);
	assert_memory_equal(sig, "\x89PNG", 4);
	remove(png);
	rml_file_free(&f);
	rml_file_init(&f);
	/* A sheet that cannot be written: no dataset either. */
	rml_error err = { 0 };
	assert_int_not_equal(rml_attack_create_files(&j, &r, "/nonexistent-dir/s.png", 0, 0, &f, &err), RML_OK);
	assert_non_null(strstr(err.msg, "/nonexistent-dir/s.png"));
	assert_int_equal(f.n_tensors, 0);
	rml_file_free(&f);
	rml_file_free(&want);
	rml_attack_dataset_result_free(&r);
	rml_attack_job_free(&j);
}

static void expect_lists(const rml_attack_args *a, const char *msg)
{
	rml_attack_curve_lists l;
	rml_error err = { 0 };
	assert_int_equal(rml_attack_curve_lists_parse(a, &l, &err), RML_ERR_ARG);
	assert_string_equal(err.msg, msg);
}

static void test_curve_lists(void **state)
{
	(void)state;
	rml_attack_curve_lists l;
	rml_attack_args a = { .command = "curve", .eps_list = "0,2.5,8", .queries_list = "1,100" };
	assert_int_equal(rml_attack_curve_lists_parse(&a, &l, NULL), RML_OK);
	assert_int_equal(l.n_eps, 3);
	assert_true(l.eps[1] == 2.5);
	assert_int_equal(l.n_pixels, 0);
	assert_int_equal(l.n_queries, 2);
	assert_true(l.queries[1] == 100);
	expect_lists(&(rml_attack_args){ .eps_list = "1,x" },
		     "--eps wants up to 64 numbers >= 0 separated by commas, not '1,x'");
	expect_lists(&(rml_attack_args){ .eps_list = "-1" },
		     "--eps wants up to 64 numbers >= 0 separated by commas, not '-1'");
	expect_lists(&(rml_attack_args){ .eps_list = "" }, "--eps is empty");
	expect_lists(&(rml_attack_args){ .pixels_list = "1.5" },
		     "--pixels wants up to 64 whole numbers >= 0 separated by commas, not '1.5'");
	expect_lists(&(rml_attack_args){ .eps_list = "1", .queries_list = "1,x" },
		     "--queries wants up to 64 whole numbers >= 0 separated by commas, not '1,x'");
	char many[400] = "0";
	for (int i = 1; i <= 64; i++)
		snprintf(many + strlen(many), sizeof many - strlen(many), ",%d", i);
	expect_lists(&(rml_attack_args){ .pixels_list = many },
		     "--pixels wants up to 64 whole numbers >= 0 separated by commas, not '0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31,32,33,34,35,36,37,38,39,40,41,42,43,44,45,46,47,48,49,50,51,52,53,54,55,56,57,58,59,60,61,62,63,64'");
}

static void test_curve_run(void **state)
{
	(void)state;
	rml_attack_job j;
	int usage = -1;
	int64_t batch = 6;
	rml_attack_args a = { .command = "curve", .eps_list = "0,4" };
	const char *fgsm[] = { "attack", "fgsm", NULL };
	assert_int_equal(job_for(&j, &a, fgsm, &batch, &usage, NULL), RML_OK);
	rml_attack_curve_lists l;
	assert_int_equal(rml_attack_curve_lists_parse(&a, &l, NULL), RML_OK);
	rml_outbuf got, want;
	rml_outbuf_init(&got);
	rml_outbuf_init(&want);
	rml_error err = { 0 };
	assert_int_equal(rml_attack_curve_run(&j, &l, batch, NULL, 1, NULL, &got, &usage, &err), RML_OK);
	assert_int_equal(usage, 0);
	assert_int_equal(rml_attack_curves_report(j.m, j.list, 1, &j.d, l.eps, 2, 0, NULL, 0, batch, NULL, 1,
						  NULL, &want, &err), RML_OK);
	assert_string_equal(rml_out_str(&got), rml_out_str(&want));
	/* A white-box attack on the query axis: the command line's fault. */
	l.n_queries = 2;
	l.queries[0] = 1;
	l.queries[1] = 10;
	got.len = 0;
	assert_int_equal(rml_attack_curve_run(&j, &l, batch, NULL, 0, NULL, &got, &usage, &err), RML_ERR_ARG);
	assert_int_equal(usage, 1);
	assert_string_equal(err.msg, "attack fgsm is white-box: the query axis is for cmaes-linf, pixel-l0 and square");
	assert_int_equal(got.len, 0);
	/* A chart that cannot be written: not a usage error, the table kept. */
	l.n_queries = 0;
	assert_int_not_equal(rml_attack_curve_run(&j, &l, batch, NULL, 0, "/nonexistent-dir/c.png", &got,
						  &usage, &err), RML_OK);
	assert_int_equal(usage, 0);
	assert_true(got.len > 0);
	rml_outbuf_free(&got);
	rml_outbuf_free(&want);
	rml_attack_job_free(&j);
}

/* The loader of the test: rml_file_load, remembering the role. */
static char last_role[32];
static rml_status load(rml_file *f, const char *path, const char *role, rml_error *err)
{
	snprintf(last_role, sizeof last_role, "%s", role);
	return rml_file_load(f, path, err);
}

static void test_verify_files(void **state)
{
	(void)state;
	rml_attack_job j;
	int usage;
	int64_t batch = 12;
	rml_attack_args a = { .command = "create" };
	const char *fgsm[] = { "attack", "fgsm", "eps", "3", NULL };
	assert_int_equal(job_for(&j, &a, fgsm, &batch, &usage, NULL), RML_OK);
	rml_attack_dataset_result r;
	rml_attack_dataset_result_init(&r);
	FILE *devnull = fopen("/dev/null", "w");
	assert_int_equal(rml_attack_run_report(&j, 1, 0, 1, batch, NULL, devnull, &r, NULL), RML_OK);
	fclose(devnull);
	char adv[] = "/tmp/rml-test-attack-adv-XXXXXX", clean[] = "/tmp/rml-test-attack-clean-XXXXXX";
	close(mkstemp(adv));
	close(mkstemp(clean));
	rml_file f;
	rml_file_init(&f);
	assert_int_equal(rml_attack_create_files(&j, &r, NULL, 0, 0, &f, NULL), RML_OK);
	assert_int_equal(rml_file_save(&f, adv, NULL), RML_OK);
	rml_file_free(&f);
	rml_file_init(&f);
	assert_int_equal(rml_dataset_to_file(&j.d, &f, NULL), RML_OK);
	assert_int_equal(rml_file_save(&f, clean, NULL), RML_OK);
	rml_file_free(&f);
	/* Within budget: the report as rml_attack_verify_text makes it. */
	rml_outbuf got, want;
	rml_outbuf_init(&got);
	rml_outbuf_init(&want);
	rml_error err = { 0 };
	assert_int_equal(rml_attack_verify_files(adv, clean, 1, load, &got, &err), RML_OK);
	assert_string_equal(last_role, "adversarial");
	rml_file af;
	rml_attack_verify_report v;
	assert_int_equal(rml_file_load(&af, adv, NULL), RML_OK);
	assert_int_equal(rml_attack_verify(&af, &j.d, &v, NULL), RML_OK);
	assert_int_equal(v.n_over, 0);
	rml_attack_verify_text(&want, 1, &v);
	assert_string_equal(rml_out_str(&got), rml_out_str(&want));
	/* Against other images of the same labels: over budget, after the report. */
	for (int64_t i = 0; i < 3072; i++)
		j.d.images[3072 + i] ^= 0x40;
	rml_file_init(&f);
	assert_int_equal(rml_dataset_to_file(&j.d, &f, NULL), RML_OK);
	assert_int_equal(rml_file_save(&f, clean, NULL), RML_OK);
	rml_file_free(&f);
	got.len = 0;
	assert_int_equal(rml_attack_verify_files(adv, clean, 0, NULL, &got, &err), RML_ERR_MISMATCH);
	assert_string_equal(err.msg, "1 of 12 images are over the linf budget 3 (first: 1)");
	assert_non_null(strstr(rml_out_str(&got), "n_over 1"));
	/* A missing file: its error, nothing reported. */
	got.len = 0;
	assert_int_not_equal(rml_attack_verify_files("/nonexistent-dir/a.rml", clean, 0, load, &got, &err), RML_OK);
	assert_int_equal(got.len, 0);
	remove(adv);
	remove(clean);
	rml_file_free(&af);
	rml_outbuf_free(&got);
	rml_outbuf_free(&want);
	rml_attack_dataset_result_free(&r);
	rml_attack_job_free(&j);
}

int main(void)
{
	rml_set_threads(1);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_job_prepare),  cmocka_unit_test(test_run_report),
		cmocka_unit_test(test_create_files), cmocka_unit_test(test_curve_lists),
		cmocka_unit_test(test_curve_run),    cmocka_unit_test(test_verify_files),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
