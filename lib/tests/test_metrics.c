/*
 * test_metrics.c — the measures on cases worked by hand: top-1 and
 * entropy (with broken rows), ECE/MCE with equal-width and equal-mass
 * bins, NLL and Brier, AUROC with ties, Student-t intervals, rejection,
 * the evaluation report and the predictions file.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
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
	NEAR(rml_ece(c1, o1, 0, 15, RML_BINS_WIDTH), 0, 0);
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
	NEAR(rml_auroc(t, tp, 0), 0.5, 0);
	uint8_t none[4] = { 0 };
	NEAR(rml_auroc(t, none, 4), 0.5, 0);
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
	rml_predictions_reject(&p, RML_REJECT_ENTROPY, 0, 0.5, &thr);
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
	rml_predictions_reject(&p, RML_REJECT_CONFIDENCE, 0.7, -1, &thr);
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_top1_entropy),
		cmocka_unit_test(test_ece_by_hand),
		cmocka_unit_test(test_nll_brier),
		cmocka_unit_test(test_auroc),
		cmocka_unit_test(test_summary),
		cmocka_unit_test(test_reject_and_report),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
