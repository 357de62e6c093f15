/*
 * test_calibrate_report.c — rmlops-calibrate's report on a result filled
 * in by hand: the text's first lines and its table ("-" for NaN, the
 * count as a whole number), the JSON (params, null for NaN, the reject
 * object only with a rule, three or six figures in it), and the compare
 * table; written out by hand here.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "calibrate_report.h"
#include "metrics.h"
#include "outtext.h"

static void result(rml_calibrate_result *r)
{
	rml_calibrate_result_init(r);
	r->cal.method = RML_CALIB_TEMPERATURE;
	r->cal.scalars[0] = 1.5;
	r->id.n = 40;
	r->ood.n = 4;
	r->calib.name = "calibration";
	r->calib.n = 44;
	rml_calib_measures b = { 44, 40, 4, 0.5, 0.25, 0.5, 0.125, 0.5, 2, 0.75, 0.875, NAN, 0.25 };
	r->calib.before = b;
	r->calib.after = b;
	r->calib.after.ece = 0.0625;
}

static void test_text(void **state)
{
	(void)state;
	rml_calibrate_opts o;
	rml_calibrate_opts_default(&o);
	o.method = RML_CALIB_TEMPERATURE;
	o.reject = RML_REJECT_NONE;
	o.ood = RML_OOD_SBO_LATENT;
	rml_calibrate_result r;
	result(&r);
	rml_outbuf out;
	rml_outbuf_init(&out);
	rml_calibrate_report_text(&out, &o, &r);
	char want[4096];
	int at = snprintf(want, sizeof want,
			  "method temperature, temperature 1.5000; calibrated on 40 augmented and 4 %s images\n"
			  "%-14s %12s %12s\n",
			  rml_ood_space_name(RML_OOD_SBO_LATENT), "measure", "calib:before", "calib:after");
	const char *row[RML_CALIBRATE_N_MEASURES][2] = {
		{ "0.5000", "0.5000" }, { "0.2500", "0.0625" }, { "0.5000", "0.5000" },
		{ "0.1250", "0.1250" }, { "0.5000", "0.5000" }, { "2.0000", "2.0000" },
		{ "0.7500", "0.7500" }, { "0.8750", "0.8750" }, { "-", "-" },
		{ "0.2500", "0.2500" }, { "4", "4" },
	};
	for (int i = 0; i < RML_CALIBRATE_N_MEASURES; i++)
		at += snprintf(want + at, sizeof want - (size_t)at, "%-14s %12s %12s\n",
			       rml_metric_name(rml_calibrate_metrics[i]), row[i][0], row[i][1]);
	assert_string_equal(rml_out_str(&out), want);
	rml_outbuf_free(&out);
}

static void test_json(void **state)
{
	(void)state;
	rml_calibrate_opts o;
	rml_calibrate_opts_default(&o);
	o.method = RML_CALIB_TEMPERATURE;
	o.reject = RML_REJECT_ENTROPY;
	rml_calibrate_result r;
	result(&r);
	r.choice.threshold = 1.25;
	r.choice.reject_rate = 0.1;
	r.choice.acc2 = NAN;
	rml_outbuf out;
	rml_outbuf_init(&out);
	rml_calibrate_report_json(&out, &o, &r);
	const char *s = rml_out_str(&out);
	assert_int_equal(strncmp(s, "{\"method\":\"temperature\",\"ensemble\":0,\"bins\":10,\"params\":[1.5,0,0]", 65), 0);
	assert_non_null(strstr(s, ",\"reject\":{\"rule\":\"entropy\",\"threshold\":1.250000,"
				  "\"reject_rate\":0.100000,\"acc2\":null}"));
	assert_non_null(strstr(s, ",\"calibration\":{\"n\":44,\"before\":{"));
	assert_null(strstr(s, "\"test\""));
	assert_null(strstr(s, "compare"));
	char cnt[64];
	snprintf(cnt, sizeof cnt, "\"%s\":4}}}\n", rml_metric_name(RML_METRIC_N_OOD));
	assert_non_null(strstr(s, cnt));
	rml_outbuf_free(&out);
}

static void test_compare(void **state)
{
	(void)state;
	rml_calibrate_result r;
	result(&r);
	r.compare_on = "calibration";
	r.n_compare = 1;
	snprintf(r.compare_label[0], sizeof r.compare_label[0], "none");
	r.compare[0] = r.calib.before;
	rml_outbuf out;
	rml_outbuf_init(&out);
	rml_calibrate_report_compare(&out, &r);
	assert_string_equal(rml_out_str(&out),
			    "\nmethod                   acc1      ece      mce      ace      nll    brier"
			    " auroc_conf  auroc_ent   (on the calibration data)\n"
			    "none                   0.5000   0.2500   0.5000   0.1250   2.0000   0.7500"
			    "     0.8750          -\n");
	rml_outbuf_free(&out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_text),
		cmocka_unit_test(test_json),
		cmocka_unit_test(test_compare),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
