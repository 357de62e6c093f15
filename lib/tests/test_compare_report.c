/*
 * test_compare_report.c — the text and JSON of `rmlops-eval --compare`
 * (compare_report.h) on values chosen by hand: the single comparison
 * (ECE without McNemar columns, NaN as null in JSON), the one repeated
 * under faults, and the rules with their bounds and the decision (none
 * without rules; keep when one fails).
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

#include "compare_report.h"
#include "fixtures.h"

static int starts(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

static rml_compare_report sample(void)
{
	rml_compare_report r;
	memset(&r, 0, sizeof r);
	r.n = 100;
	r.n_boot = 2000;
	r.n_bins = 15;
	r.m[RML_CMP_ACC1] = (rml_cmp_stat){ 0.8, 0.85, 0.05, 0.01, 0.09, 0.03125, 2, 7, 100 };
	r.m[RML_CMP_ACC2] = (rml_cmp_stat){ 0.9, 0.9, 0, -0.02, 0.02, 1, 1, 1, 90 };
	r.m[RML_CMP_ECE] = (rml_cmp_stat){ 0.05, 0.04, -0.01, -0.03, NAN, NAN, 0, 0, 0 };
	return r;
}

static void test_single(void **state)
{
	(void)state;
	rml_compare_report r = sample();
	rml_outbuf o;
	rml_outbuf_init(&o);
	rml_compare_text(&o, 0, &r, "a.rml", "b.rml", 7);
	assert_string_equal(rml_fx_text(&o),
			    "a            a.rml\nb            b.rml\n"
			    "n            100 labelled examples, 2000 bootstrap resamples (paired, percentile 95% CI), seed 7\n"
			    "metric          a        b       b-a   95% CI                a_only  b_only  mcnemar_p\n"
			    "acc1       0.8000   0.8500   +0.0500   [+0.0100, +0.0900]         2       7    0.03125\n"
			    "acc2       0.9000   0.9000   +0.0000   [-0.0200, +0.0200]         1       1          1\n"
			    "ece        0.0500   0.0400   -0.0100   [-0.0300, +nan]            -       -          -\n");
	o.len = 0;
	rml_compare_text(&o, 1, &r, "a\"", "b", 7);
	const char *t = rml_fx_text(&o);
	assert_true(starts(t, "{\"a\":\"a\\\"\",\"b\":\"b\",\"n\":100,\"n_boot\":2000,\"seed\":7,\"bins\":15,"
			       "\"ci\":\"paired percentile bootstrap, 95%\",\"acc1\":{\"a\":0.800000,\"b\":0.850000,"
			       "\"diff\":0.050000,\"ci95\":[0.010000,0.090000],\"n_pairs\":100,\"a_only\":2,\"b_only\":7,"
			       "\"mcnemar_p\":0.03125}"));
	assert_non_null(strstr(t, ",\"ece\":{\"a\":0.050000,\"b\":0.040000,\"diff\":-0.010000,\"ci95\":[-0.030000,null]}"));
	/* Left open for the rules. */
	assert_int_equal(t[strlen(t) - 1], '}');
	assert_null(strchr(t, '\n'));
	rml_outbuf_free(&o);
}

static void test_repeat(void **state)
{
	(void)state;
	rml_summary sum[RML_CMP_N][3];
	double lo[RML_CMP_N] = { -0.1, -0.2, -0.3 }, hi[RML_CMP_N] = { 0.1, 0.2, 0.3 };
	for (int k = 0; k < RML_CMP_N; k++)
		for (int j = 0; j < 3; j++)
			sum[k][j] = (rml_summary){ 0.5 + j * 0.125, 0.25, 0, 1, 4 };
	rml_fault_spec spec = { RML_FAULT_BITFLIP, RML_FAULT_UNIT_TENSOR, 0.1, RML_BITS_ANY };
	rml_outbuf o;
	rml_outbuf_init(&o);
	rml_compare_repeat_text(&o, 0, "a", "b", 50, 4, 3, &spec, (const rml_summary(*)[3])sum, lo, hi);
	assert_string_equal(rml_fx_text(&o),
			    "a            a\nb            b\n"
			    "n            50 examples, 4 repetitions of bitflip faults (the same seeds for a and b), seed 3\n"
			    "metric          a        b       b-a        sd   95% CI of the mean\n"
			    "acc1       0.5000   0.6250   +0.7500    0.2500   [-0.1000, +0.1000]\n"
			    "acc2       0.5000   0.6250   +0.7500    0.2500   [-0.2000, +0.2000]\n"
			    "ece        0.5000   0.6250   +0.7500    0.2500   [-0.3000, +0.3000]\n");
	o.len = 0;
	rml_compare_repeat_text(&o, 1, "a", "b", 50, 4, 3, &spec, (const rml_summary(*)[3])sum, lo, hi);
	assert_string_equal(rml_fx_text(&o),
			    "{\"a\":\"a\",\"b\":\"b\",\"n\":50,\"n_rep\":4,\"seed\":3,"
			    "\"fault\":{\"model\":\"bitflip\",\"unit\":\"tensor\",\"rate\":0.1},"
			    "\"ci\":\"Student t over repetitions, 95%\","
			    "\"acc1\":{\"a\":0.500000,\"b\":0.625000,\"diff\":0.750000,\"sd\":0.250000,\"ci95\":[-0.100000,0.100000]},"
			    "\"acc2\":{\"a\":0.500000,\"b\":0.625000,\"diff\":0.750000,\"sd\":0.250000,\"ci95\":[-0.200000,0.200000]},"
			    "\"ece\":{\"a\":0.500000,\"b\":0.625000,\"diff\":0.750000,\"sd\":0.250000,\"ci95\":[-0.300000,0.300000]}");
	rml_outbuf_free(&o);
}

static void test_rules(void **state)
{
	(void)state;
	double lo[RML_CMP_N] = { 0.02, -0.01, -0.03 }, hi[RML_CMP_N] = { 0.08, 0.01, -0.01 };
	rml_promote_rule rules[2];
	const char *texts[2] = { "acc1 > +0.01", "ece < 0" };
	assert_int_equal(rml_promote_rule_parse(texts[0], &rules[0], NULL), RML_OK);
	assert_int_equal(rml_promote_rule_parse(texts[1], &rules[1], NULL), RML_OK);
	rml_outbuf o;
	rml_outbuf_init(&o);
	assert_int_equal(rml_promote_text(&o, 0, rules, texts, 2, lo, hi), 1);
	assert_string_equal(rml_fx_text(&o), "rule         acc1 > +0.01: holds (95% CI lower bound +0.0200)\n"
				      "rule         ece < 0: holds (95% CI upper bound -0.0100)\n"
				      "decision     promote\n");
	o.len = 0;
	hi[RML_CMP_ECE] = 0.01;
	assert_int_equal(rml_promote_text(&o, 1, rules, texts, 2, lo, hi), 0);
	assert_string_equal(rml_fx_text(&o), ",\"rules\":[{\"rule\":\"acc1 > +0.01\",\"bound\":\"ci95_lo\",\"value\":0.020000,\"holds\":true},"
				      "{\"rule\":\"ece < 0\",\"bound\":\"ci95_hi\",\"value\":0.010000,\"holds\":false}],"
				      "\"decision\":\"keep\"}\n");
	/* Without rules: no decision. */
	o.len = 0;
	assert_int_equal(rml_promote_text(&o, 0, rules, texts, 0, lo, hi), 1);
	assert_string_equal(rml_fx_text(&o), "");
	assert_int_equal(rml_promote_text(&o, 1, rules, texts, 0, lo, hi), 1);
	assert_string_equal(rml_fx_text(&o), ",\"rules\":[],\"decision\":null}\n");
	rml_outbuf_free(&o);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_single),
		cmocka_unit_test(test_repeat),
		cmocka_unit_test(test_rules),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
