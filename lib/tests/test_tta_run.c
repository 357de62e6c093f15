/*
 * test_tta_run.c — a run of rmlops-tta over a dataset (tta_run.h): a
 * model without adapters refused for PHI and accepted for batch norm;
 * the run's predictions (entropy before adapting, rejection of a given
 * fraction, labels kept); the predictions file's tta.* keys (no
 * threshold without rejection); the summary's JSON and text with null
 * for what is not finite. Models are mvit-tiny with random weights.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "outtext.h"
#include "tta_run.h"

static rml_model *tiny(int gamma)
{
	rml_model *m;
	rml_model_config c = { "mvit-tiny", 10, gamma, 3 };
	rml_error err = { 0 };
	if (rml_model_create(&m, &c, &err))
		fail_msg("%s", err.msg);
	return m;
}

static void data(rml_dataset *d, int64_t n)
{
	rml_error err = { 0 };
	rml_dataset_init(d);
	assert_int_equal(rml_dataset_alloc(d, n, 32, 32, 3, &err), RML_OK);
	rml_rng r;
	rml_rng_seed(&r, 5);
	for (int64_t i = 0; i < n * 32 * 32 * 3; i++)
		d->images[i] = (uint8_t)rml_rng_below(&r, 256);
	for (int64_t i = 0; i < n; i++)
		d->labels[i] = (int32_t)(i % 10);
}

static void settings(rml_tta_run_settings *s)
{
	memset(s, 0, sizeof *s);
	rml_tta_opts_default(&s->o);
	s->o.n_aug = 2;
	s->rate = -1;
}

static void test_rules(void **state)
{
	(void)state;
	rml_tta_run_settings s;
	settings(&s);
	rml_error err = { 0 };
	int adopted = -1;
	rml_model *m = tiny(0);
	assert_int_equal(rml_tta_model_rules(&s, m, "plain.rml", &adopted, &err), RML_ERR_ARG);
	assert_non_null(strstr(err.msg, "plain.rml has no adapters"));
	s.o.tune = RML_TTA_TUNE_BN;
	assert_int_equal(rml_tta_model_rules(&s, m, "plain.rml", &adopted, &err), RML_OK);
	assert_int_equal(adopted, 0);
	assert_int_equal(s.reject, RML_REJECT_NONE);
	rml_model_free(m);
}

static void test_run(void **state)
{
	(void)state;
	rml_tta_run_settings s;
	settings(&s);
	s.tune = "phi";
	s.reject = RML_REJECT_ENTROPY;
	s.rate = 0.5;
	rml_error err = { 0 };
	rml_model *m = tiny(2);
	rml_dataset d;
	data(&d, 4);
	rml_tta_result r;
	rml_tta_result_init(&r);
	assert_int_equal(rml_tta_run_dataset(m, &d, &s, NULL, NULL, &r, &err), RML_OK);
	assert_int_equal(r.p.n, 4);
	for (int64_t i = 0; i < 4; i++) {
		assert_int_equal(r.p.labels[i], d.labels[i]);
		assert_true(isfinite(r.p.entropy_before[i]) && r.p.entropy_before[i] >= 0);
	}
	assert_true(fabs(r.rep.reject_rate - 0.5) < 1e-12);
	assert_true(isfinite(r.used));
	assert_true(r.n_adapted > 0);
	assert_int_equal(r.stats.inputs, 4);
	assert_int_equal(r.calibrated, 0);

	rml_file pf;
	rml_file_init(&pf);
	assert_int_equal(rml_tta_predictions_file(&r, &s, m, &d, &pf, &err), RML_OK);
	const char *str;
	assert_int_equal(rml_get_str(&pf, "tta.method", &str, &err), RML_OK);
	assert_string_equal(str, "memo");
	assert_int_equal(rml_get_str(&pf, "tta.reject", &str, &err), RML_OK);
	assert_string_equal(str, "entropy");
	int64_t v;
	assert_int_equal(rml_get_i64(&pf, "tta.aug_copies", &v, &err), RML_OK);
	assert_int_equal(v, 2);
	assert_null(rml_get(&pf, "tta.batch"));
	assert_non_null(rml_get(&pf, "tta.threshold"));
	rml_file_free(&pf);

	rml_outbuf o;
	rml_outbuf_init(&o);
	rml_tta_report_json(&o, &s, &r);
	const char *j = rml_out_str(&o);
	assert_int_equal(strncmp(j, "{\"n\":4,\"method\":\"memo\",\"mode\":\"episodic\",\"steps\":1,\"acc1_before\":", 65), 0);
	assert_non_null(strstr(j, "\"reject_rate\":0.500000,"));
	assert_int_equal(j[strlen(j) - 1], '\n');
	rml_outbuf_free(&o);
	r.stats.seconds = 0;
	rml_tta_report_json(&o, &s, &r);
	assert_non_null(strstr(rml_out_str(&o), "\"images_per_s\":null}"));
	rml_outbuf_free(&o);
	rml_tta_report_line(&o, &s, &r);
	assert_non_null(strstr(rml_out_str(&o), "4 images, memo episodic: acc1 "));
	assert_non_null(strstr(rml_out_str(&o), "rejected 50.0%, 0.0 images/s"));
	rml_outbuf_free(&o);

	/* Without rejection: no threshold in the file, null in the report. */
	rml_tta_result_free(&r);
	s.reject = RML_REJECT_NONE;
	s.rate = -1;
	assert_int_equal(rml_tta_run_dataset(m, &d, &s, NULL, NULL, &r, &err), RML_OK);
	assert_true(isnan(r.used));
	rml_file_init(&pf);
	assert_int_equal(rml_tta_predictions_file(&r, &s, m, &d, &pf, &err), RML_OK);
	assert_null(rml_get(&pf, "tta.threshold"));
	rml_file_free(&pf);
	rml_tta_report_json(&o, &s, &r);
	assert_non_null(strstr(rml_out_str(&o), "\"threshold\":null,"));
	rml_outbuf_free(&o);
	rml_tta_result_free(&r);
	rml_dataset_free(&d);
	rml_model_free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rules),
		cmocka_unit_test(test_run),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
