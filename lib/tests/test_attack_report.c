/*
 * test_attack_report.c — rmlops-attack's report text and command-line
 * steps: budget lists (bounds, whole numbers, too many, empty), settings
 * applied kind first and preset second whatever their order, with the
 * option's spelling in the message; the checks of a command line before
 * any file is read (each message) and the list of attacks it runs
 * (whose fault a failure is); a report's JSON with null for NaN; a
 * table row and the curve tables, written out by hand here.
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

#include "attack_report.h"
#include "fixtures.h"

static void test_list_parse(void **state)
{
	(void)state;
	double v[4];
	int n = -1;
	assert_int_equal(rml_attack_list_parse("0,1.5,8", 0, INFINITY, 0, v, 4, &n), 0);
	assert_int_equal(n, 3);
	assert_true(v[0] == 0 && v[1] == 1.5 && v[2] == 8);
	assert_int_equal(rml_attack_list_parse("", 0, INFINITY, 0, v, 4, &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(rml_attack_list_parse("1.5", 0, INFINITY, 1, v, 4, &n), -1);
	assert_int_equal(rml_attack_list_parse("-1", 0, INFINITY, 0, v, 4, &n), -1);
	assert_int_equal(rml_attack_list_parse("inf", 0, INFINITY, 0, v, 4, &n), -1);
	assert_int_equal(rml_attack_list_parse("nan", 0, INFINITY, 0, v, 4, &n), -1);
	assert_int_equal(rml_attack_list_parse("1,,2", 0, INFINITY, 0, v, 4, &n), -1);
	assert_int_equal(rml_attack_list_parse("1;2", 0, INFINITY, 0, v, 4, &n), -1);
	assert_int_equal(rml_attack_list_parse("1,2,3,4,5", 0, INFINITY, 0, v, 4, &n), -1);
	assert_int_equal(rml_attack_list_parse("0", 1, 1e7, 1, v, 4, &n), -1);
	assert_int_equal(rml_attack_list_parse("20000000", 1, 1e7, 1, v, 4, &n), -1);
}

static void test_spec_apply(void **state)
{
	(void)state;
	rml_attack_spec a;
	rml_error err = { 0 };
	/* The kind last on the command line still comes first: steps belong to pgd. */
	const char *keys[] = { "steps", "eps", "attack" }, *vals[] = { "7", "5", "pgd" };
	rml_attack_spec_default(&a, RML_ATTACK_FGSM);
	assert_int_equal(rml_attack_spec_apply(&a, keys, vals, 3, 0, &err), RML_OK);
	assert_int_equal(a.cfg.kind, RML_ATTACK_PGD);
	assert_int_equal(a.cfg.steps, 7);
	assert_true(fabs(a.cfg.eps - 5) < 1e-12);
	/* Budgets skipped for a curve. */
	rml_attack_spec_default(&a, RML_ATTACK_FGSM);
	double eps0 = a.cfg.eps;
	assert_int_equal(rml_attack_spec_apply(&a, keys, vals, 3, 1, &err), RML_OK);
	assert_true(a.cfg.eps == eps0);
	/* A bad value names the option as spelt on the command line. */
	const char *bk[] = { "step_size" }, *bv[] = { "x" };
	assert_int_equal(rml_attack_spec_apply(&a, bk, bv, 1, 0, &err), RML_ERR_ARG);
	assert_memory_equal(err.msg, "--step-size: ", 13);
}

/* One rejected command line: RML_ERR_ARG and this message. */
static void expect_args(const rml_attack_args *a, const char *msg)
{
	rml_attack_sets s;
	memset(&s, 0, sizeof s);
	rml_error err = { 0 };
	assert_int_equal(rml_attack_args_check(a, &s, &err), RML_ERR_ARG);
	assert_string_equal(err.msg, msg);
}

/* The checks of a command line before any file is read, each message of
 * its own, and the settings they add. */
static void test_args_check(void **state)
{
	(void)state;
	rml_attack_sets s;
	rml_error err = { 0 };
	rml_attack_args a = { .command = "verify", .data = "adv.rml" };
	expect_args(&a, "verify needs -d ADVERSARIAL and --clean DATA");
	a.clean = "-";
	a.data = "-";
	expect_args(&a, "the two datasets cannot both come from standard input");
	a.data = "adv.rml";
	memset(&s, 0, sizeof s);
	assert_int_equal(rml_attack_args_check(&a, &s, &err), RML_OK);

	a = (rml_attack_args){ .command = "run", .data = "d.rml" };
	expect_args(&a, "run needs -m MODEL and -d DATA");
	a.model = a.data = "-";
	expect_args(&a, "model and data cannot both come from standard input");
	a.model = "m.rml";
	a.data = "d.rml";
	expect_args(&a, "name an attack with --attack KIND or give --config FILE");
	a.config = "attacks.yaml";
	a.clean = "c.rml";
	expect_args(&a, "--clean goes with verify");
	a.clean = NULL;
	a.output = "o.rml";
	expect_args(&a, "-o goes with create (run and curve print reports)");
	a.output = NULL;
	a.sheet = 1;
	expect_args(&a, "--sheet, --sheet-count and --amplify go with create");
	a.sheet = 0;
	a.plot = "p.png";
	expect_args(&a, "--plot goes with curve");
	a.command = "curve";
	expect_args(&a, "curve needs a list of budgets: --eps LIST (or --pixels LIST)");
	a.eps_list = "1,2";
	a.queries_list = "10,100";
	expect_args(&a, "curve --queries LIST wants one --eps E (and no --pixels)");
	a.eps_list = "3";
	a.queries_list = "10,0";
	expect_args(&a, "--queries wants up to 64 whole numbers from 1 to 10000000 separated by "
			"commas, not '10,0'");

	/* The query axis: eps and the largest count join the settings. */
	a.queries_list = "10,5000,100";
	a.seed_given = 1;
	a.seed = 42;
	memset(&s, 0, sizeof s);
	assert_int_equal(rml_attack_args_check(&a, &s, &err), RML_OK);
	assert_int_equal(s.n, 3);
	assert_string_equal(s.key[0], "eps");
	assert_string_equal(s.val[0], "3");
	assert_string_equal(s.key[1], "queries");
	assert_string_equal(s.val[1], "5000");
	assert_string_equal(s.key[2], "seed");
	assert_string_equal(s.val[2], "42");

	/* A curve's budget list is not a setting; run's budgets are. */
	a = (rml_attack_args){ .command = "curve", .model = "m", .data = "d", .have_attack = 1,
			       .eps_list = "0,1,2" };
	memset(&s, 0, sizeof s);
	assert_int_equal(rml_attack_args_check(&a, &s, &err), RML_OK);
	assert_int_equal(s.n, 0);
	a.command = "run";
	a.eps_list = "2";
	a.pixels_list = "5";
	memset(&s, 0, sizeof s);
	assert_int_equal(rml_attack_sets_add(&s, "step-size", "1", &err), RML_OK);
	assert_int_equal(rml_attack_args_check(&a, &s, &err), RML_OK);
	assert_int_equal(s.n, 3);
	assert_string_equal(s.key[0], "step_size");
	assert_string_equal(s.key[1], "eps");
	assert_string_equal(s.key[2], "pixels");
	/* A bad setting, tried on a default attack, names its option. */
	a.eps_list = "x";
	memset(&s, 0, sizeof s);
	assert_int_equal(rml_attack_args_check(&a, &s, &err), RML_ERR_ARG);
	assert_memory_equal(err.msg, "--eps: ", 7);

	/* Too many settings. */
	memset(&s, 0, sizeof s);
	for (int i = 0; i < RML_ATTACK_MAX_SETS; i++)
		assert_int_equal(rml_attack_sets_add(&s, "steps", "3", &err), RML_OK);
	assert_int_equal(rml_attack_sets_add(&s, "steps", "3", &err), RML_ERR_LIMIT);
	assert_string_equal(err.msg, "too many attack settings");
}

/* The list of attacks: a default one with the settings on top, or a
 * YAML list; whose fault a failure is. */
static void test_list_make(void **state)
{
	(void)state;
	rml_attack_sets s;
	memset(&s, 0, sizeof s);
	rml_error err = { 0 };
	rml_attack_spec *list = NULL;
	int n = 0, usage = -1;
	assert_int_equal(rml_attack_sets_add(&s, "attack", "pgd", &err), RML_OK);
	assert_int_equal(rml_attack_sets_add(&s, "steps", "4", &err), RML_OK);
	assert_int_equal(rml_attack_list_make(NULL, "mine", &s, 0, 10, 1, &list, &n, &usage, &err), RML_OK);
	assert_int_equal(n, 1);
	assert_int_equal(list[0].cfg.kind, RML_ATTACK_PGD);
	assert_int_equal(list[0].cfg.steps, 4);
	assert_string_equal(list[0].name, "mine");
	free(list);
	list = NULL;
	/* A class target beyond the model's classes: the command line's fault. */
	assert_int_equal(rml_attack_sets_add(&s, "target", "12", &err), RML_OK);
	assert_int_not_equal(rml_attack_list_make(NULL, NULL, &s, 0, 10, 1, &list, &n, &usage, &err),
			     RML_OK);
	assert_int_equal(usage, 1);
	free(list);
	list = NULL;

	char path[4096];
	rml_fx_path(path, sizeof path, "attacks.yaml");
	memset(&s, 0, sizeof s);
	assert_int_equal(rml_attack_list_make(path, NULL, &s, 0, 10, 0, &list, &n, &usage, &err), RML_OK);
	assert_true(n > 1);
	free(list);
	list = NULL;
	/* create makes one dataset: a list of several is refused, by name. */
	assert_int_equal(rml_attack_list_make(path, NULL, &s, 0, 10, 1, &list, &n, &usage, &err),
			 RML_ERR_ARG);
	assert_int_equal(usage, 1);
	assert_non_null(strstr(err.msg, "attacks; create makes one dataset: choose one with --name NAME"));
	free(list);
	list = NULL;
	assert_int_equal(rml_attack_list_make(path, "pgd-3", &s, 0, 10, 1, &list, &n, &usage, &err), RML_OK);
	assert_int_equal(n, 1);
	free(list);
	list = NULL;
	/* A file that is not there: the file's fault. */
	assert_int_not_equal(rml_attack_list_make("no/such.yaml", NULL, &s, 0, 10, 0, &list, &n, &usage,
						  &err), RML_OK);
	assert_int_equal(usage, 0);
	free(list);
}

static void test_report_text(void **state)
{
	(void)state;
	rml_attack_spec a;
	rml_attack_spec_default(&a, RML_ATTACK_FGSM);
	rml_attack_report r;
	memset(&r, 0, sizeof r);
	r.n = 4;
	r.clean_acc1 = 0.75;
	r.acc1 = 0.25;
	r.success_rate = 2.0 / 3;
	r.linf_mean = NAN;
	r.queries_median = NAN;
	rml_outbuf o;
	rml_outbuf_init(&o);
	rml_attack_report_row(&o, &a, &r);
	assert_string_equal(rml_fx_text(&o), "fgsm                  4     0.7500   0.2500       0.6667       nan     0.000"
				      "     0.0          0.0      0.00\n");
	o.len = 0;
	rml_attack_report_json(&o, &a, &r);
	const char *j = rml_fx_text(&o);
	assert_non_null(strstr(j, "{\"name\":\"fgsm\",\"attack\":\"fgsm\",\"norm\":\"linf\",\"eps\":3,"));
	assert_non_null(strstr(j, "\"acc1\":0.25,"));
	assert_non_null(strstr(j, "\"linf_mean\":null,"));
	assert_non_null(strstr(j, "\"queries_median\":null,"));
	assert_non_null(strstr(j, "\"images_per_s\":null,\"queries_per_s\":null}"));
	assert_int_equal(j[strlen(j) - 1], '}');
	o.len = 0;
	rml_attack_report reps[2] = { r, r };
	reps[1].acc1 = 0;
	double bud[2] = { 0, 2.5 };
	rml_attack_curve_text(&o, 0, 0, &a, 1, bud, 2, reps, 4);
	assert_string_equal(rml_fx_text(&o), "eps                  fgsm   (robust accuracy acc1, 4 images)\n"
				      "0                  0.2500\n"
				      "2.5                0.0000\n");
	o.len = 0;
	rml_attack_curve_text(&o, 1, 0, &a, 1, bud, 2, reps, 4);
	assert_non_null(strstr(rml_fx_text(&o), "{\"budget\":\"eps\",\"curves\":[{\"name\":\"fgsm\",\"attack\":\"fgsm\","
					 "\"points\":[{\"eps\":0,\"n\":4,\"acc1\":0.25,"));
	o.len = 0;
	double q[2] = { 10, 100 }, rates[2] = { 0.5, NAN };
	rml_attack_query_text(&o, 1, &a, 1, q, 2, rates, reps, 4);
	assert_non_null(strstr(rml_fx_text(&o), "{\"queries\":100,\"success_rate\":null}]}]}\n"));
	assert_false(o.failed);
	rml_outbuf_free(&o);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_list_parse),
		cmocka_unit_test(test_spec_apply),
		cmocka_unit_test(test_args_check),
		cmocka_unit_test(test_list_make),
		cmocka_unit_test(test_report_text),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
