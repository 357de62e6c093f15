/*
 * test_attack_report.c — rmlops-attack's report text and command-line
 * steps: budget lists (bounds, whole numbers, too many, empty), settings
 * applied kind first and preset second whatever their order, with the
 * option's spelling in the message; a report's JSON with null for NaN; a
 * table row and the curve tables, written out by hand here.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "attack_report.h"

/* The buffer as a string (it holds no NUL). */
static const char *text(rml_outbuf *o)
{
	rml_outbuf_add(o, "", 1);
	o->len--;
	return (const char *)o->data;
}

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
	assert_string_equal(text(&o), "fgsm                  4     0.7500   0.2500       0.6667       nan     0.000"
				      "     0.0          0.0      0.00\n");
	o.len = 0;
	rml_attack_report_json(&o, &a, &r);
	const char *j = text(&o);
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
	assert_string_equal(text(&o), "eps                  fgsm   (robust accuracy acc1, 4 images)\n"
				      "0                  0.2500\n"
				      "2.5                0.0000\n");
	o.len = 0;
	rml_attack_curve_text(&o, 1, 0, &a, 1, bud, 2, reps, 4);
	assert_non_null(strstr(text(&o), "{\"budget\":\"eps\",\"curves\":[{\"name\":\"fgsm\",\"attack\":\"fgsm\","
					 "\"points\":[{\"eps\":0,\"n\":4,\"acc1\":0.25,"));
	o.len = 0;
	double q[2] = { 10, 100 }, rates[2] = { 0.5, NAN };
	rml_attack_query_text(&o, 1, &a, 1, q, 2, rates, reps, 4);
	assert_non_null(strstr(text(&o), "{\"queries\":100,\"success_rate\":null}]}]}\n"));
	assert_false(o.failed);
	rml_outbuf_free(&o);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_list_parse),
		cmocka_unit_test(test_spec_apply),
		cmocka_unit_test(test_report_text),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
