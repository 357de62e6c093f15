/*
 * test_metrics.c — the measures on cases worked by hand: top-1 and
 * entropy (with broken rows), ECE/MCE with equal-width and equal-mass
 * bins, NLL and Brier, AUROC with ties, Student-t intervals, rejection,
 * the evaluation report and the predictions file; ECE against a numpy
 * computation, the t quantile against numerical integration.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "metrics.h"

#define NEAR(a, b, tol) assert_true(fabs((double)(a) - (double)(b)) <= (tol))

static void test_top1_entropy(void **state)
{
	(void)state;
	float p[9] = { 0.2f, 0.5f, 0.3f, 1, 0, 0, NAN, 0.5f, 0.5f };
	int32_t pred[3];
	float conf[3], ent[3];
	rml_top1(p, 3, 3, pred, conf);
	assert_int_equal(pred[0], 1);
	assert_int_equal(pred[1], 0);
	assert_int_equal(pred[2], -1);
	NEAR(conf[0], 0.5, 1e-7);
	rml_entropy(p, 3, 3, ent);
	NEAR(ent[0], -(0.2 * log(0.2) + 0.5 * log(0.5) + 0.3 * log(0.3)), 1e-6);
	NEAR(ent[1], 0, 1e-7);
	NEAR(ent[2], log(3.0), 1e-6);
}

/* Accuracy by hand: unlabelled rows do not count, a tie goes to the lower
 * class, a non-finite row is wrong, no labelled row is NaN. */
static void test_accuracy(void **state)
{
	(void)state;
	const float p[5 * 3] = { 0.1f, 0.7f, 0.2f,   0.5f, 0.5f, 0.0f,   0.2f, 0.2f, 0.6f,
				 NAN, 0.5f, 0.5f,    0.9f, 0.05f, 0.05f };
	const int32_t y[5] = { 1, 1, -1, 1, 0 };
	assert_true(fabs(rml_accuracy(p, y, 5, 3) - 0.5) < 1e-12);
	const int32_t none[5] = { -1, -1, -1, -1, -1 };
	assert_true(isnan(rml_accuracy(p, none, 5, 3)));
	assert_true(isnan(rml_accuracy(p, y, 0, 3)));
}

/* The metric table names the report's fields in order. */
static void test_metric_table(void **state)
{
	(void)state;
	rml_eval_report r = { .acc1 = 1, .acc2 = 2, .reject_rate = 3, .nll = 4, .brier = 5, .ece = 6,
			      .mce = 7, .ace = 8 };
	double v[RML_EVAL_N_METRICS];
	rml_eval_report_values(&r, v);
	const char *want[] = { "acc1", "acc2", "reject_rate", "nll", "brier", "ece", "mce", "ace" };
	for (int i = 0; i < RML_EVAL_N_METRICS; i++) {
		assert_true(v[i] == i + 1);
		assert_string_equal(rml_metric_name(rml_eval_metrics[i]), want[i]);
	}
}

/* One table names every measure: the calibration report's order, no name
 * twice, and none missing. */
static void test_metric_names(void **state)
{
	(void)state;
	const char *want[] = { "acc1", "ece", "mce", "ace", "mce_mass", "nll", "brier", "auroc_conf",
			       "auroc_entropy", "aurc", "n_ood" };
	for (int i = 0; i < RML_CALIBRATE_N_MEASURES; i++)
		assert_string_equal(rml_metric_name(rml_calibrate_metrics[i]), want[i]);
	for (int i = 0; i < RML_METRIC_COUNT; i++) {
		assert_non_null(rml_metric_name((rml_metric)i));
		assert_string_not_equal(rml_metric_name((rml_metric)i), "?");
		for (int j = 0; j < i; j++)
			assert_string_not_equal(rml_metric_name((rml_metric)i), rml_metric_name((rml_metric)j));
	}
	assert_string_equal(rml_metric_name(RML_METRIC_COUNT), "?");
}

static void test_reject_rule_names(void **state)
{
	(void)state;
	rml_reject_rule r = RML_REJECT_NONE;
	const char *names[] = { "none", "entropy", "confidence" };
	for (int i = 0; i < 3; i++) {
		assert_int_equal(rml_reject_rule_parse(names[i], &r), 0);
		assert_int_equal(r, (rml_reject_rule)i);
		assert_string_equal(rml_reject_rule_name(r), names[i]);
	}
	r = RML_REJECT_ENTROPY;
	assert_int_equal(rml_reject_rule_parse("margin", &r), -1);
	assert_int_equal(rml_reject_rule_parse("", &r), -1);
	assert_int_equal(rml_reject_rule_parse("Entropy", &r), -1);
	assert_int_equal(r, RML_REJECT_ENTROPY);
}

static void test_ece_by_hand(void **state)
{
	(void)state;
	/* Width bins of 0.5: bin 0 holds 0.2 (wrong), 0.4 (right): acc 0.5,
	 * conf 0.3; bin 1 holds 0.6 (right), 0.8 (right), 0.9 (wrong): acc 2/3,
	 * conf 0.7667. ECE = 2/5*0.2 + 3/5*0.1 = 0.14; MCE = 0.2. */
	float conf[5] = { 0.2f, 0.4f, 0.6f, 0.8f, 0.9f };
	uint8_t ok[5] = { 0, 1, 1, 1, 0 };
	NEAR(rml_ece(conf, ok, 5, 2, RML_BINS_WIDTH), 0.14, 1e-6);
	NEAR(rml_mce(conf, ok, 5, 2, RML_BINS_WIDTH), 0.2, 1e-6);
	/* Mass bins of sizes 2 and 3 (5*1/2 = 2): the same groups here. */
	NEAR(rml_ece(conf, ok, 5, 2, RML_BINS_MASS), 0.14, 1e-6);
	/* Perfect calibration in one bin; empty input. */
	float c1[4] = { 0.75f, 0.75f, 0.75f, 0.75f };
	uint8_t o1[4] = { 1, 1, 1, 0 };
	NEAR(rml_ece(c1, o1, 4, 15, RML_BINS_WIDTH), 0, 1e-7);
	assert_true(isnan(rml_ece(c1, o1, 0, 15, RML_BINS_WIDTH)));  /* nothing to measure */
	/* Confidence exactly 1 goes in the last bin. */
	float c2[1] = { 1.0f };
	uint8_t o2[1] = { 1 };
	NEAR(rml_ece(c2, o2, 1, 15, RML_BINS_WIDTH), 0, 1e-7);
}

static void test_nll_brier(void **state)
{
	(void)state;
	float p[6] = { 0.7f, 0.2f, 0.1f, 0.1f, 0.1f, 0.8f };
	int32_t y[2] = { 0, 1 };
	NEAR(rml_nll(p, y, 2, 3), -(log(0.7) + log(0.1)) / 2, 1e-6);
	NEAR(rml_brier(p, y, 2, 3), ((0.09 + 0.04 + 0.01) + (0.01 + 0.81 + 0.64)) / 2, 1e-6);
	float bad[3] = { NAN, 0, 0 };
	int32_t y0[1] = { 0 };
	NEAR(rml_nll(bad, y0, 1, 3), -log(1e-12), 1e-6);
	/* The same row for Brier: the all-zero prediction, sum_j y_j^2 = 1
	 * (a uniform row would score 1 - 2/3 + 1/3 = 0.667). */
	NEAR(rml_brier(bad, y0, 1, 3), 1.0, 1e-12);
	float inf[3] = { INFINITY, 0, 0 };
	NEAR(rml_brier(inf, y0, 1, 3), 1.0, 1e-12);
	NEAR(rml_nll(inf, y0, 1, 3), -log(1e-12), 1e-6);
}

static void test_auroc(void **state)
{
	(void)state;
	float s[4] = { 0.9f, 0.8f, 0.3f, 0.1f };
	uint8_t pos[4] = { 1, 1, 0, 0 };
	NEAR(rml_auroc(s, pos, 4), 1.0, 1e-12);
	uint8_t rev[4] = { 0, 0, 1, 1 };
	NEAR(rml_auroc(s, rev, 4), 0.0, 1e-12);
	/* Ties count one half: positives {0.5, 0.9}, negatives {0.5, 0.1}:
	 * pairs (0.5,0.5)=0.5, (0.5,0.1)=1, (0.9,*)=1+1 -> 3.5/4. */
	float t[4] = { 0.5f, 0.9f, 0.5f, 0.1f };
	uint8_t tp[4] = { 1, 1, 0, 0 };
	NEAR(rml_auroc(t, tp, 4), 0.875, 1e-12);
	/* Without a positive or a negative there is no pair to rank. */
	assert_true(isnan(rml_auroc(t, tp, 0)));
	uint8_t none[4] = { 0 };
	assert_true(isnan(rml_auroc(t, none, 4)));
}

static void test_summary(void **state)
{
	(void)state;
	double x[4] = { 1, 2, 3, 4 };
	rml_summary s;
	rml_summarize(x, 4, &s);
	NEAR(s.mean, 2.5, 1e-12);
	NEAR(s.sd, sqrt(5.0 / 3.0), 1e-12);
	/* t(0.975, 3) = 3.1824 */
	NEAR(s.hi - s.mean, 3.1824 * sqrt(5.0 / 3.0) / 2, 1e-3);
	double y[100];
	for (int i = 0; i < 100; i++)
		y[i] = i % 2;
	rml_summarize(y, 100, &s);
	/* t(0.975, 99) = 1.9842 */
	NEAR((s.hi - s.lo) / 2, 1.9842 * s.sd / 10, 1e-3);
	rml_summarize(x, 1, &s);
	NEAR(s.sd, 0, 0);
	NEAR(s.lo, 1, 0);
}

static void test_reject_and_report(void **state)
{
	(void)state;
	rml_predictions p;
	rml_predictions_init(&p);
	assert_int_equal(rml_predictions_alloc(&p, 4, 2, NULL), RML_OK);
	float probs[8] = { 0.9f, 0.1f, 0.6f, 0.4f, 0.5f, 0.5f, NAN, NAN };
	int32_t lab[4] = { 0, 1, 0, 0 };
	memcpy(p.probs, probs, sizeof probs);
	memcpy(p.labels, lab, sizeof lab);
	double thr;
	/* Reject half: the broken row and the 50/50 row are most uncertain. */
	assert_int_equal(rml_predictions_reject(&p, RML_REJECT_ENTROPY, 0, 0.5, &thr, NULL), RML_OK);
	assert_int_equal(p.rejected[0] + p.rejected[1], 0);
	assert_int_equal(p.rejected[2] + p.rejected[3], 2);
	rml_eval_report r;
	assert_int_equal(rml_eval_compute(&p, 15, RML_BINS_WIDTH, &r, NULL), RML_OK);
	/* Right: row 0 (0), row 2 (argmax of a tie is the first: 0 = right);
	 * wrong: row 1 (0 != 1), row 3 (broken). */
	NEAR(r.acc1, 0.5, 1e-12);
	NEAR(r.acc2, 0.5, 1e-12);  /* accepted rows 0 and 1: one right */
	NEAR(r.reject_rate, 0.5, 1e-12);
	assert_true(isnan(r.class_acc[1]) == 0);
	rml_eval_report_free(&r);
	/* Confidence threshold 0.7 rejects rows 1..3. */
	assert_int_equal(rml_predictions_reject(&p, RML_REJECT_CONFIDENCE, 0.7, -1, &thr, NULL), RML_OK);
	assert_int_equal(p.rejected[0], 0);
	assert_int_equal(p.rejected[1] + p.rejected[2] + p.rejected[3], 3);
	/* Round trip through the container. */
	rml_file f;
	rml_file_init(&f);
	assert_int_equal(rml_predictions_to_file(&p, &f, NULL), RML_OK);
	rml_predictions q;
	assert_int_equal(rml_predictions_from_file(&q, &f, NULL), RML_OK);
	assert_memory_equal(q.rejected, p.rejected, 4);
	assert_memory_equal(q.labels, p.labels, sizeof lab);
	rml_predictions_free(&q);
	((int32_t *)rml_find_tensor(&f, "labels")->data)[0] = 7;
	rml_error err = { 0 };
	assert_int_equal(rml_predictions_from_file(&q, &f, &err), RML_ERR_FORMAT);
	rml_file_free(&f);
	rml_predictions_free(&p);
}

/* A predictions file whose checksums hold but whose content lies is
 * refused, one case at a time, naming the row; a file as the programs
 * write it (with an all-NaN row from a model whose outputs were not
 * numbers) is read. */
static void test_predictions_hostile(void **state)
{
	(void)state;
	enum { OK, HUGE_P, NEG_P, PART_NAN, SUM, REJ2, ENT_NAN, ENT_NEG, ENT_BIG, EB_NAN, N_CASES };
	const char *says[N_CASES] = { "", "outside [0, 1]", "outside [0, 1]", "partly NaN",
				      "sums to", "rejected flag", "entropy of row",
				      "entropy of row", "entropy of row", "entropy_before" };
	for (int c = 0; c < N_CASES; c++) {
		rml_predictions p;
		rml_predictions_init(&p);
		assert_int_equal(rml_predictions_alloc(&p, 3, 2, NULL), RML_OK);
		float probs[6] = { 0.75f, 0.25f, 0.5f, 0.5f, NAN, NAN };
		memcpy(p.probs, probs, sizeof probs);
		double thr;
		assert_int_equal(rml_predictions_reject(&p, RML_REJECT_ENTROPY, 0.6, -1, &thr, NULL),
				 RML_OK);
		p.entropy_before = calloc(3, sizeof(float));
		assert_non_null(p.entropy_before);
		switch (c) {
		case HUGE_P: p.probs[0] = 1e30f; break;
		case NEG_P: p.probs[1] = -0.25f; p.probs[0] = 1.25f; break;
		case PART_NAN: p.probs[2] = NAN; break;
		case SUM: p.probs[3] = 0.25f; break;
		case REJ2: p.rejected[1] = 2; break;
		case ENT_NAN: p.entropy[0] = NAN; break;
		case ENT_NEG: p.entropy[0] = -0.5f; break;
		case ENT_BIG: p.entropy[0] = 5; break;
		case EB_NAN: p.entropy_before[2] = NAN; break;
		}
		rml_file f;
		rml_file_init(&f);
		assert_int_equal(rml_predictions_to_file(&p, &f, NULL), RML_OK);
		rml_predictions q;
		rml_error err = { 0 };
		rml_status st = rml_predictions_from_file(&q, &f, &err);
		if (c == OK) {
			assert_int_equal(st, RML_OK);
			assert_true(isnan(q.probs[4]));
		} else {
			assert_int_equal(st, RML_ERR_FORMAT);
			if (!strstr(err.msg, says[c]))
				fail_msg("case %d: '%s' does not say '%s'", c, err.msg, says[c]);
			assert_null(q.probs);
		}
		rml_predictions_free(&q);
		rml_file_free(&f);
		rml_predictions_free(&p);
	}
}

/* Fifteen equal-width bins and equal-mass bins with ties, against numpy:
 *   conf = np.array([.05,.31,.32,.5,.55,.66,.67,.7,.7,.7,.93,1.],
 *                   dtype=np.float32).astype(np.float64)
 *   ok = np.array([0,0,1,1,0,1,1,1,0,1,1,1])
 *   b = np.minimum((conf * 15).astype(int), 14)
 *   ece = sum(abs(ok[b==i].mean() - conf[b==i].mean()) * (b==i).sum()
 *             for i in range(15) if (b==i).any()) / 12   # 0.17583333359410366
 *   mce = max(...)                                        # 0.550000011920929
 * Mass bins of 12/4 = 3 rows, the cut at 9 moved past the tie of 0.7 at
 * rows 7..9: edges [0,3,6,10,12], ECE 0.0758333314831058 (cutting the tie
 * at 9 would give 0.0875). */
static void test_ece_numpy(void **state)
{
	(void)state;
	float conf[12] = { 0.05f, 0.31f, 0.32f, 0.5f, 0.55f, 0.66f, 0.67f, 0.7f, 0.7f, 0.7f, 0.93f, 1.0f };
	uint8_t ok[12] = { 0, 0, 1, 1, 0, 1, 1, 1, 0, 1, 1, 1 };
	NEAR(rml_ece(conf, ok, 12, 15, RML_BINS_WIDTH), 0.17583333359410366, 1e-9);
	NEAR(rml_mce(conf, ok, 12, 15, RML_BINS_WIDTH), 0.550000011920929, 1e-9);
	NEAR(rml_ece(conf, ok, 12, 4, RML_BINS_MASS), 0.0758333314831058, 1e-9);
	/* Row order does not matter, ties included. */
	float rc[12];
	uint8_t ro[12];
	for (int i = 0; i < 12; i++) {
		rc[i] = conf[(i * 5) % 12];
		ro[i] = ok[(i * 5) % 12];
	}
	NEAR(rml_ece(rc, ro, 12, 4, RML_BINS_MASS), 0.0758333314831058, 1e-9);
	NEAR(rml_ece(rc, ro, 12, 15, RML_BINS_WIDTH), 0.17583333359410366, 1e-9);
	/* More bins than rows: one row per bin but for the tie of three 0.7s
	 * (accuracy 2/3) sharing one. */
	double e = 3 * fabs(2.0 / 3 - (double)conf[7]) / 12;
	for (int i = 0; i < 12; i++)
		if (i < 7 || i > 9)
			e += fabs(ok[i] - (double)conf[i]) / 12;
	NEAR(rml_ece(conf, ok, 12, 40, RML_BINS_MASS), e, 1e-9);
	/* A NaN confidence counts as 0. */
	float cn[2] = { NAN, 1.0f };
	uint8_t on[2] = { 0, 1 };
	NEAR(rml_ece(cn, on, 2, 15, RML_BINS_WIDTH), 0, 1e-12);
}

/* The t quantile: the t distribution's CDF at rml_student_t975(df),
 * integrated here numerically (Simpson on the density), is 0.975 for
 * every df from 1 to 99; and values from mpmath (findroot on betainc)
 * beyond the table. */
static double t_cdf(double t, double v)
{
	double lc = lgamma((v + 1) / 2) - lgamma(v / 2) - 0.5 * log(v * M_PI);
	int m = 20000;
	double hstep = t / m, s = 0;
	for (int i = 0; i <= m; i++) {
		double x = i * hstep;
		double f = exp(lc - (v + 1) / 2 * log1p(x * x / v));
		s += f * (i == 0 || i == m ? 1 : i % 2 ? 4 : 2);
	}
	return 0.5 + s * hstep / 3;
}

static void test_student_t(void **state)
{
	(void)state;
	for (int64_t df = 1; df < 100; df++)
		NEAR(t_cdf(rml_student_t975(df), (double)df), 0.975, 2e-7);
	NEAR(rml_student_t975(31), 2.039513446, 5e-6);
	NEAR(rml_student_t975(40), 2.02107539, 5e-6);
	NEAR(rml_student_t975(60), 2.000297822, 2e-6);
	NEAR(rml_student_t975(120), 1.979930405, 1e-6);
	NEAR(rml_student_t975(1000), 1.962339081, 1e-6);
	assert_true(isnan(rml_student_t975(0)));
	/* Used by the summary: n = 2 gives t(1) * sd / sqrt 2. */
	double x[2] = { 1, 3 };
	rml_summary s;
	rml_summarize(x, 2, &s);
	NEAR(s.hi - s.mean, 12.706205 * sqrt(2.0) / sqrt(2.0), 1e-5);
}

/* Rejection edge cases: rate 0 and 1, a confidence threshold with a broken
 * row, unlabelled rows, per-class accuracy. */
static void test_reject_edges(void **state)
{
	(void)state;
	rml_predictions p;
	rml_predictions_init(&p);
	assert_int_equal(rml_predictions_alloc(&p, 5, 3, NULL), RML_OK);
	float probs[15] = { 0.8f, 0.1f, 0.1f, 0.2f, 0.7f, 0.1f, 0.4f, 0.3f, 0.3f,
			    INFINITY, 0, 0, 0.1f, 0.1f, 0.8f };
	int32_t lab[5] = { 0, 1, 1, 2, -1 };
	memcpy(p.probs, probs, sizeof probs);
	memcpy(p.labels, lab, sizeof lab);
	double thr;
	assert_int_equal(rml_predictions_reject(&p, RML_REJECT_CONFIDENCE, 0, 0.0, &thr, NULL), RML_OK);
	for (int i = 0; i < 5; i++)
		assert_int_equal(p.rejected[i], 0);
	assert_true(isinf(thr));
	assert_int_equal(rml_predictions_reject(&p, RML_REJECT_ENTROPY, 0, 1.0, &thr, NULL), RML_OK);
	for (int i = 0; i < 5; i++)
		assert_int_equal(p.rejected[i], 1);
	/* Rate 0.2 of 5 rejects exactly the broken row. */
	assert_int_equal(rml_predictions_reject(&p, RML_REJECT_ENTROPY, 0, 0.2, &thr, NULL), RML_OK);
	assert_int_equal(p.rejected[3], 1);
	assert_int_equal(p.rejected[0] + p.rejected[1] + p.rejected[2] + p.rejected[4], 0);
	NEAR(thr, log(3.0), 1e-6);
	NEAR(p.entropy[3], log(3.0), 1e-6);
	/* Confidence below 0.75: rows 1 (0.7), 2 (0.4) and the broken row. */
	assert_int_equal(rml_predictions_reject(&p, RML_REJECT_CONFIDENCE, 0.75, -1, &thr, NULL), RML_OK);
	uint8_t want[5] = { 0, 1, 1, 1, 0 };
	assert_memory_equal(p.rejected, want, 5);
	NEAR(thr, 0.75, 1e-12);
	rml_eval_report r;
	assert_int_equal(rml_eval_compute(&p, 15, RML_BINS_WIDTH, &r, NULL), RML_OK);
	assert_int_equal(r.n, 5);
	assert_int_equal(r.n_labelled, 4);
	assert_int_equal(r.n_rejected, 3);
	NEAR(r.acc1, 0.5, 1e-12);         /* rows 0 and 1 right of 4 labelled */
	NEAR(r.acc2, 1.0, 1e-12);         /* accepted and labelled: row 0 */
	NEAR(r.reject_rate, 0.6, 1e-12);  /* over all 5 rows */
	NEAR(r.class_acc[0], 1.0, 1e-12);
	NEAR(r.class_acc[1], 0.5, 1e-12);
	NEAR(r.class_acc[2], 0.0, 1e-12);
	assert_int_equal(r.class_n[1], 2);
	/* NLL over labelled rows: -log .8, -log .7, -log .3, -log 1e-12. */
	NEAR(r.nll, -(log(0.8) + log(0.7) + log(0.3) + log(1e-12)) / 4, 1e-6);
	rml_eval_report_free(&r);
	/* No rule: nothing rejected, entropy still filled. */
	assert_int_equal(rml_predictions_reject(&p, RML_REJECT_NONE, 0, -1, &thr, NULL), RML_OK);
	assert_true(isnan(thr));
	for (int i = 0; i < 5; i++)
		assert_int_equal(p.rejected[i], 0);
	rml_predictions_free(&p);
}

/* The predictions file: entropy_before travels, malformed files are
 * refused. */
static void test_predictions_file(void **state)
{
	(void)state;
	rml_predictions p, q;
	rml_predictions_init(&p);
	rml_error err = { 0 };
	assert_int_equal(rml_predictions_alloc(&p, 3, 2, NULL), RML_OK);
	for (int i = 0; i < 6; i++)
		p.probs[i] = 0.5f;  /* rows that sum to 1, as the reader requires */
	p.entropy_before = calloc(3, sizeof *p.entropy_before);
	p.entropy_before[1] = 0.25f;
	rml_file f;
	rml_file_init(&f);
	assert_int_equal(rml_predictions_to_file(&p, &f, NULL), RML_OK);
	assert_string_equal(rml_file_kind(&f), "predictions");
	assert_int_equal(rml_predictions_from_file(&q, &f, &err), RML_OK);
	assert_non_null(q.entropy_before);
	assert_true(q.entropy_before[1] == 0.25f);
	assert_int_equal(q.labels[0], -1);
	rml_predictions_free(&q);
	/* entropy_before of the wrong length. */
	int64_t d2[1] = { 2 };
	assert_non_null(rml_add_tensor(&f, "entropy_before", RML_DTYPE_F32, 1, d2, NULL, NULL));
	assert_int_equal(rml_predictions_from_file(&q, &f, &err), RML_ERR_FORMAT);
	assert_null(q.probs);
	/* Labels of another length than probs. */
	int64_t d3[1] = { 3 };
	assert_non_null(rml_add_tensor(&f, "entropy_before", RML_DTYPE_F32, 1, d3, NULL, NULL));
	assert_non_null(rml_add_tensor(&f, "labels", RML_DTYPE_I32, 1, d2, NULL, NULL));
	assert_int_equal(rml_predictions_from_file(&q, &f, &err), RML_ERR_FORMAT);
	/* Labels of another type. */
	assert_non_null(rml_add_tensor(&f, "labels", RML_DTYPE_F32, 1, d3, NULL, NULL));
	assert_int_equal(rml_predictions_from_file(&q, &f, &err), RML_ERR_FORMAT);
	/* Another kind. */
	assert_non_null(rml_add_tensor(&f, "labels", RML_DTYPE_I32, 1, d3, NULL, NULL));
	assert_int_equal(rml_predictions_from_file(&q, &f, &err), RML_OK);
	rml_predictions_free(&q);
	assert_int_equal(rml_set_str(&f, "kind", "model"), RML_OK);
	assert_int_not_equal(rml_predictions_from_file(&q, &f, &err), RML_OK);
	rml_file_free(&f);
	rml_predictions_free(&p);
	/* Sizes beyond the limits are refused before allocating. */
	assert_int_equal(rml_predictions_alloc(&p, INT64_MAX / 2, 4, &err), RML_ERR_LIMIT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_top1_entropy),
		cmocka_unit_test(test_accuracy),
		cmocka_unit_test(test_metric_table),
		cmocka_unit_test(test_metric_names),
		cmocka_unit_test(test_reject_rule_names),
		cmocka_unit_test(test_ece_by_hand),
		cmocka_unit_test(test_nll_brier),
		cmocka_unit_test(test_auroc),
		cmocka_unit_test(test_summary),
		cmocka_unit_test(test_reject_and_report),
		cmocka_unit_test(test_ece_numpy),
		cmocka_unit_test(test_student_t),
		cmocka_unit_test(test_reject_edges),
		cmocka_unit_test(test_predictions_file),
		cmocka_unit_test(test_predictions_hostile),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
