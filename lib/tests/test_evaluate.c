/*
 * test_evaluate.c — rmlops-eval's measurements and reports
 * (evaluate.h): the rejection rule applied or the predictions' own kept;
 * repetitions under faults on mvit-tiny against rml_inject_repeat and a
 * fresh rml_model_predict (rate 0: every repetition is the clean model,
 * nothing dropped or corrupted; real faults: the same accuracies as the
 * injection module counts, reproducible by seed, the model bit-identical
 * afterwards); a bit sweep against rml_inject_sweep; and the exact text
 * and JSON of each report on values chosen by hand.
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

#include "evaluate.h"
#include "fixtures.h"

enum { K = 4, N = 24 };

static int starts(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* Four examples over two classes: right, right, wrong, right; the third
 * the least sure. */
static void four(rml_predictions *p)
{
	static const float probs[8] = { 0.9f, 0.1f, 0.2f, 0.8f, 0.45f, 0.55f, 0.7f, 0.3f };
	static const int32_t labels[4] = { 0, 1, 0, 0 };
	rml_predictions_init(p);
	assert_int_equal(rml_predictions_alloc(p, 4, 2, NULL), RML_OK);
	memcpy(p->probs, probs, sizeof probs);
	memcpy(p->labels, labels, sizeof labels);
}

static void test_measure(void **state)
{
	(void)state;
	rml_predictions p;
	rml_eval_report r = { 0 };
	rml_error err = { 0 };
	four(&p);
	/* Reject the most uncertain quarter by entropy: the third. */
	rml_eval_opts o = { RML_REJECT_ENTROPY, 0, 0.25, 0, 15, RML_BINS_WIDTH };
	assert_int_equal(rml_eval_measure(&p, &o, &r, &err), RML_OK);
	assert_int_equal(r.n_rejected, 1);
	assert_int_equal(p.rejected[2], 1);
	assert_true(r.acc1 == 0.75 && r.acc2 == 1.0);
	assert_true(isfinite(r.threshold));
	rml_eval_report_free(&r);
	/* keep: the predictions' own flags stay, and no threshold is in force. */
	memset(p.rejected, 0, 4);
	p.rejected[0] = 1;
	o.keep = 1;
	assert_int_equal(rml_eval_measure(&p, &o, &r, &err), RML_OK);
	assert_int_equal(r.n_rejected, 1);
	assert_int_equal(p.rejected[0], 1);
	assert_true(fabs(r.acc2 - 2.0 / 3.0) < 1e-12);
	assert_true(isnan(r.threshold));
	rml_eval_report_free(&r);
	/* No rule: nothing rejected, the threshold NaN. */
	rml_eval_opts none = { RML_REJECT_NONE, 0, -1, 0, 15, RML_BINS_WIDTH };
	assert_int_equal(rml_eval_measure(&p, &none, &r, &err), RML_OK);
	assert_int_equal(r.n_rejected, 0);
	assert_true(isnan(r.threshold));
	rml_eval_report_free(&r);
	rml_predictions_free(&p);
}

static void test_repeat(void **state)
{
	(void)state;
	rml_model *m = rml_fx_tiny(K, 0, 5);
	rml_dataset d;
	rml_fx_random_set(&d, N, K, 8);
	rml_error err = { 0 };
	rml_predictions p;
	rml_predictions_init(&p);
	assert_int_equal(rml_predictions_alloc(&p, N, K, &err), RML_OK);
	memcpy(p.labels, d.labels, sizeof(int32_t) * N);
	size_t bytes = (size_t)rml_model_n_params(m, RML_GROUPS_ALL) * sizeof(float);
	float *before = malloc(bytes);
	memcpy(before, rml_model_param_block(m), bytes);
	float probs[N * K];
	assert_int_equal(rml_model_predict(m, &d, 8, probs, &err), RML_OK);
	double clean_acc = rml_accuracy(probs, d.labels, N, K);
	const rml_eval_opts o = { RML_REJECT_NONE, 0, -1, 0, 15, RML_BINS_WIDTH };
	rml_summary sum[RML_EVAL_REPEAT_N];
	/* Rate 0: the clean model every time. */
	rml_fault_spec none = { RML_FAULT_BITFLIP, RML_FAULT_UNIT_WEIGHT, 0.0, RML_BITS_ANY };
	assert_int_equal(rml_eval_repeat(m, &d, "all", &none, 3, 1, 8, 0, &o, &p, sum, NULL, &err), RML_OK);
	assert_true(sum[0].mean == clean_acc && sum[0].sd == 0);
	assert_int_equal(sum[0].n_rep, 3);
	assert_true(sum[RML_EVAL_N_METRICS].mean == 0);       /* acc_drop */
	assert_true(sum[RML_EVAL_N_METRICS + 1].mean == 0);   /* sdc_rate */
	assert_true(sum[RML_EVAL_N_METRICS + 2].mean == 1);   /* masked */
	/* With some of the images the model gets wrong unlabelled, still no
	 * drop at rate 0: both accuracies count the labelled images only. */
	int32_t top[N];
	rml_top1(probs, N, K, top, NULL);
	assert_true(clean_acc > 0);
	for (int i = 1; i < N; i += 2)
		if (top[i] != d.labels[i])
			p.labels[i] = d.labels[i] = -1;
	assert_int_equal(rml_eval_repeat(m, &d, "all", &none, 2, 1, 8, 0, &o, &p, sum, NULL, &err), RML_OK);
	assert_true(sum[0].mean == rml_accuracy(probs, d.labels, N, K) && sum[0].mean > clean_acc);
	assert_true(sum[RML_EVAL_N_METRICS].mean == 0);
	assert_true(sum[RML_EVAL_N_METRICS + 1].mean == 0);
	for (int i = 1; i < N; i += 2)
		p.labels[i] = d.labels[i] = i % K;
	/* Real faults: the accuracies rml_inject_repeat counts, by seed. */
	rml_fault_spec spec = { RML_FAULT_BITFLIP, RML_FAULT_UNIT_WEIGHT, 0.02, RML_BITS_EXPONENT };
	assert_int_equal(rml_eval_repeat(m, &d, "all", &spec, 4, 9, 8, 0, &o, &p, sum, NULL, &err), RML_OK);
	assert_memory_equal(before, rml_model_param_block(m), bytes);
	rml_fault_targets tg;
	assert_int_equal(rml_fault_targets_select(&tg, m, "all", &err), RML_OK);
	double acc[4], sdc[4], det[4];
	assert_int_equal(rml_inject_repeat(m, &d, &tg, &spec, 4, 9, 8, NULL, acc, sdc, det, &err), RML_OK);
	rml_summary s;
	rml_summarize(acc, 4, &s);
	assert_true(fabs(sum[0].mean - s.mean) < 1e-12 && fabs(sum[0].sd - s.sd) < 1e-12);
	rml_summarize(sdc, 4, &s);
	assert_true(fabs(sum[RML_EVAL_N_METRICS + 1].mean - s.mean) < 1e-12);
	rml_summarize(det, 4, &s);
	assert_true(fabs(sum[RML_EVAL_N_METRICS + 4].mean - s.mean) < 1e-12);
	/* The same seed, the same summaries. */
	rml_summary again[RML_EVAL_REPEAT_N];
	assert_int_equal(rml_eval_repeat(m, &d, "all", &spec, 4, 9, 8, 0, &o, &p, again, NULL, &err), RML_OK);
	assert_memory_equal(sum, again, sizeof again);
	/* A target that matches nothing is refused. */
	assert_int_not_equal(rml_eval_repeat(m, &d, "nothing.like.this", &spec, 2, 9, 8, 0, &o, &p, sum,
					     NULL, &err), RML_OK);
	rml_fault_targets_free(&tg);
	free(before);
	rml_predictions_free(&p);
	rml_dataset_free(&d);
	rml_model_free(m);
}

/* One repetition's extra figures on five images worked out by hand
 * (k = 2; clean is the fault-free top-1, -1 for a broken output):
 *   image  label  clean  faulty  fault-free right  faulty right
 *   0      0      0      0       yes               yes
 *   1      1      0      0       no                no
 *   2      -1     -1     1       (unlabelled)
 *   3      1      1      0       yes               no  (corrupted)
 *   4      -1     0      NaN     (unlabelled)
 * acc1 = 1/3 over the 3 labelled images, the fault-free accuracy 2/3 over
 * the same: acc_drop = 1/3; sdc_rate = 1 of 2 = 1/2; image 2's broken
 * fault-free output is not "right" on an unlabelled image (the old count
 * gave 3/5 - 1/3 and 2/3). Outcomes over all five images: masked 0, 1
 * (2/5), sdc 2, 3 (2/5), detected 4 (1/5). */
static void test_repeat_values(void **state)
{
	(void)state;
	static const float probs[10] = { 0.9f, 0.1f, 0.8f, 0.2f, 0.45f, 0.55f, 0.7f, 0.3f, NAN, NAN };
	static const int32_t labels[5] = { 0, 1, -1, 1, -1 };
	static const int32_t clean[5] = { 0, 0, -1, 1, 0 };
	rml_predictions p;
	rml_predictions_init(&p);
	assert_int_equal(rml_predictions_alloc(&p, 5, 2, NULL), RML_OK);
	memcpy(p.probs, probs, sizeof probs);
	memcpy(p.labels, labels, sizeof labels);
	rml_eval_report r = { 0 };
	rml_error err = { 0 };
	assert_int_equal(rml_eval_compute(&p, 15, RML_BINS_WIDTH, &r, &err), RML_OK);
	assert_true(r.acc1 == 1.0 / 3);
	double v[RML_EVAL_REPEAT_N];
	int32_t pred[5];
	rml_eval_repeat_values(&p, &r, clean, pred, v);
	assert_true(v[0] == r.acc1);
	assert_true(fabs(v[RML_EVAL_N_METRICS] - 1.0 / 3) < 1e-15);    /* acc_drop */
	assert_true(v[RML_EVAL_N_METRICS + 1] == 0.5);                   /* sdc_rate */
	assert_true(v[RML_EVAL_N_METRICS + 2] == 0.4);                   /* masked */
	assert_true(v[RML_EVAL_N_METRICS + 3] == 0.4);                   /* sdc */
	assert_true(v[RML_EVAL_N_METRICS + 4] == 0.2);                   /* detected */
	/* The fault-free model right where the faulty one is: no drop, no
	 * corruption, whatever the unlabelled images do. */
	static const int32_t same[5] = { 0, 0, 1, 0, -1 };
	rml_eval_repeat_values(&p, &r, same, pred, v);
	assert_true(v[RML_EVAL_N_METRICS] == 0);
	assert_true(v[RML_EVAL_N_METRICS + 1] == 0);
	/* Without a labelled image acc_drop is NaN, like acc1. */
	for (int i = 0; i < 5; i++)
		p.labels[i] = -1;
	rml_eval_report_free(&r);
	assert_int_equal(rml_eval_compute(&p, 15, RML_BINS_WIDTH, &r, &err), RML_OK);
	rml_eval_repeat_values(&p, &r, clean, pred, v);
	assert_true(isnan(v[0]) && isnan(v[RML_EVAL_N_METRICS]));
	assert_true(v[RML_EVAL_N_METRICS + 1] == 0);
	rml_eval_report_free(&r);
	rml_predictions_free(&p);
}

static void test_sweep(void **state)
{
	(void)state;
	rml_model *m = rml_fx_tiny(K, 0, 5);
	rml_dataset d;
	rml_fx_random_set(&d, N, K, 10);
	rml_error err = { 0 };
	rml_fault_spec spec = { RML_FAULT_BITFLIP, RML_FAULT_UNIT_WEIGHT, 0.05, RML_BITS_ANY };
	rml_eval_sweep_result s;
	assert_int_equal(rml_eval_sweep(m, &d, "theta", &spec, "bits", NULL, 0, 2, 3, 8, &s, &err), RML_OK);
	assert_int_equal(s.n, 32);
	assert_string_equal(s.label[31], "31");
	assert_true(s.x[31] == 31);
	rml_fault_targets tg;
	assert_int_equal(rml_fault_targets_select(&tg, m, "theta", &err), RML_OK);
	double mean[32], sd[32], sdc[32], det[32];
	assert_int_equal(rml_inject_sweep(m, &d, &tg, &spec, RML_SWEEP_BITS, NULL, 32, 2, 3, 8, mean, sd, sdc,
					  det, &err), RML_OK);
	assert_memory_equal(mean, s.mean, sizeof mean);
	assert_memory_equal(sdc, s.sdc, sizeof sdc);
	rml_fault_targets_free(&tg);
	rml_eval_sweep_free(&s);
	const double rates[2] = { 0, 0.5 };
	assert_int_equal(rml_eval_sweep(m, &d, "theta", &spec, "rates", rates, 2, 1, 3, 8, &s, &err), RML_OK);
	assert_int_equal(s.n, 2);
	assert_string_equal(s.label[1], "0.5");
	assert_true(s.x[1] == 0.5);
	/* The table. */
	rml_outbuf o;
	rml_outbuf_init(&o);
	s.mean[0] = 0.5;
	s.sd[0] = 0.25;
	s.sdc[0] = 0;
	s.det[0] = 1;
	s.mean[1] = s.sd[1] = s.sdc[1] = s.det[1] = 0;
	rml_eval_sweep_text(&o, 1, "rates", 1, &s);
	assert_string_equal(rml_fx_text(&o), "{\"sweep\":\"rates\",\"n_rep\":1,\"points\":["
			    "{\"rate\":\"0\",\"acc1\":0.500000,\"sd\":0.250000,\"sdc_rate\":0.000000,\"detected\":1.000000},"
			    "{\"rate\":\"0.5\",\"acc1\":0.000000,\"sd\":0.000000,\"sdc_rate\":0.000000,\"detected\":0.000000}]}\n");
	o.len = 0;
	rml_eval_sweep_text(&o, 0, "rates", 1, &s);
	assert_non_null(strstr(rml_fx_text(&o), "0                                                    0.5000     0.2500     0.0000     1.0000\n"));
	/* A label is escaped (a tensor name may hold any character) and a
	 * non-finite value is null. */
	free(s.label[1]);
	s.label[1] = strdup("a\"b\\c");
	s.mean[1] = NAN;
	s.sd[1] = INFINITY;
	o.len = 0;
	rml_eval_sweep_text(&o, 1, "rates", 1, &s);
	assert_non_null(strstr(rml_fx_text(&o), ",{\"rate\":\"a\\\"b\\\\c\",\"acc1\":null,\"sd\":null,"
					 "\"sdc_rate\":0.000000,\"detected\":0.000000}]}\n"));
	rml_outbuf_free(&o);
	rml_eval_sweep_free(&s);
	rml_dataset_free(&d);
	rml_model_free(m);
}

static const char *shout(const char *s)
{
	return strcmp(s, "b\x01") == 0 ? "b\\x01" : s;
}

static void test_single_text(void **state)
{
	(void)state;
	double acc[2] = { 0.5, NAN };
	int64_t cn[2] = { 2, 0 };
	rml_eval_report r = { 4, 4, 1, 0.75, 1, 0.25, 0.5, 0.125, 0.0625, 0.1, 0.2, 0.3, acc, cn };
	rml_outbuf o;
	rml_outbuf_init(&o);
	const char *names[2] = { "a\"", "b\x01" };
	rml_eval_single_text(&o, 1, &r, 1, 1, names, 2, shout);
	assert_string_equal(rml_fx_text(&o),
			    "{\"n\":4,\"acc1\":0.750000,\"acc2\":1.000000,\"reject_rate\":0.250000,\"nll\":0.500000,"
			    "\"brier\":0.125000,\"ece\":0.062500,\"mce\":0.100000,\"ace\":0.200000,\"threshold\":0.300000,"
			    "\"per_class\":{\"a\\\"\":{\"acc\":0.500000,\"n\":2},\"b\\u0001\":{\"acc\":null,\"n\":0}}}\n");
	o.len = 0;
	rml_eval_single_text(&o, 1, &r, 0, 0, NULL, 2, NULL);
	assert_string_equal(rml_fx_text(&o),
			    "{\"n\":4,\"acc1\":0.750000,\"acc2\":1.000000,\"reject_rate\":0.250000,\"nll\":0.500000,"
			    "\"brier\":0.125000,\"ece\":0.062500,\"mce\":0.100000,\"ace\":0.200000}\n");
	o.len = 0;
	rml_eval_single_text(&o, 0, &r, 1, 1, names, 2, shout);
	assert_string_equal(rml_fx_text(&o),
			    "n            4\nacc1         0.7500\nacc2         1.0000\nreject_rate  0.2500\n"
			    "nll          0.5000\nbrier        0.1250\nece          0.0625\nmce          0.1000\n"
			    "ace          0.2000\nthreshold    0.3000\n"
			    "class                     acc        n\n"
			    "a\"                     0.5000        2\n"
			    "b\\x01                     nan        0\n");
	o.len = 0;
	/* Unnamed classes are class_J. */
	rml_eval_single_text(&o, 1, &r, 0, 1, NULL, 2, NULL);
	assert_non_null(strstr(rml_fx_text(&o), "\"per_class\":{\"class_0\":"));
	rml_outbuf_free(&o);
}

static void test_repeat_text(void **state)
{
	(void)state;
	rml_summary sum[RML_EVAL_REPEAT_N];
	for (int i = 0; i < RML_EVAL_REPEAT_N; i++)
		sum[i] = (rml_summary){ i / 100.0, 0.5, -1, 2, 3 };
	rml_fault_spec spec = { RML_FAULT_STUCK0, RML_FAULT_UNIT_WEIGHT, 0.01, RML_BITS_ANY };
	rml_outbuf o;
	rml_outbuf_init(&o);
	rml_eval_repeat_text(&o, 0, 10, 3, &spec, sum);
	const char *t = rml_fx_text(&o);
	assert_non_null(strstr(t, "metric             mean         sd                95% CI   (3 repetitions, 10 images)\n"));
	assert_non_null(strstr(t, "acc1             0.0000     0.5000   [ -1.0000,   2.0000]\n"));
	assert_non_null(strstr(t, "detected         0.1200     0.5000   [ -1.0000,   2.0000]\n"));
	o.len = 0;
	rml_eval_repeat_text(&o, 1, 10, 3, &spec, sum);
	t = rml_fx_text(&o);
	assert_true(starts(t, "{\"n\":10,\"n_rep\":3,\"fault\":{\"model\":\"stuck0\",\"unit\":\"weight\",\"rate\":0.01},"
			       "\"acc1\":{\"mean\":0.000000,\"sd\":0.500000,\"ci95\":[-1.000000,2.000000],\"n_rep\":3},"));
	assert_non_null(strstr(t, ",\"sdc_rate\":{\"mean\":0.090000,"));
	assert_int_equal(t[strlen(t) - 2], '}');
	/* A NaN figure (nothing to measure, or a NaN repetition) is null. */
	sum[0] = (rml_summary){ NAN, NAN, NAN, NAN, 3 };
	sum[1].hi = INFINITY;
	o.len = 0;
	rml_eval_repeat_text(&o, 1, 10, 3, &spec, sum);
	t = rml_fx_text(&o);
	assert_non_null(strstr(t, "\"acc1\":{\"mean\":null,\"sd\":null,\"ci95\":[null,null],\"n_rep\":3},"
				  "\"acc2\":{\"mean\":0.010000,\"sd\":0.500000,\"ci95\":[-1.000000,null],\"n_rep\":3},"));
	assert_null(strstr(t, "nan"));
	assert_null(strstr(t, "inf"));
	o.len = 0;
	rml_eval_repeat_text(&o, 0, 10, 3, &spec, sum);
	assert_non_null(strstr(rml_fx_text(&o), "acc1                nan        nan   [     nan,      nan]\n"));
	rml_outbuf_free(&o);
	assert_string_equal(rml_eval_repeat_name(RML_EVAL_N_METRICS), "acc_drop");
	assert_string_equal(rml_eval_repeat_name(RML_EVAL_REPEAT_N), "?");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_measure),
		cmocka_unit_test(test_repeat),
		cmocka_unit_test(test_repeat_values),
		cmocka_unit_test(test_sweep),
		cmocka_unit_test(test_single_text),
		cmocka_unit_test(test_repeat_text),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
