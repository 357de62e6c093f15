/*
 * test_edges.c — the edge rules of the figures (rmlops(7), "How figures
 * are computed") against testdata/ref/edges.rml (scripts/ref_edges.py,
 * numpy and PyTorch 1.13): argmax ties, softmax of infinite and NaN
 * logits, calibration errors with confidences on bin edges and empty
 * bins, NLL and Brier at zero probability and on broken rows, AUROC with
 * ties and non-finite scores, rejection by rate with tied uncertainties
 * and by a threshold one float step away, summaries of one repetition,
 * fault outcomes. Then the rules that need no reference: figures with
 * nothing to measure are NaN, ACC2 with every labelled row rejected is 0
 * (in rmlops-eval, rmlops-calibrate's measures and the monitor alike),
 * rejection by a rate takes exactly the rows selection takes, and a
 * broken row is the most out-of-distribution for both AUROCs of the
 * calibration measures.
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

#include "calib.h"
#include "calib_model.h"
#include "fixtures.h"
#include "format.h"
#include "inject_model.h"
#include "kernels.h"
#include "metrics.h"
#include "monitor.h"
#include "select.h"

static rml_file ref;

static int setup(void **state)
{
	(void)state;
	return rml_fx_load_file(&ref, "ref/edges.rml", "run scripts/ref_edges.py");
}

static int teardown(void **state)
{
	(void)state;
	rml_file_free(&ref);
	return 0;
}

/* The reference tensor `name` of dtype dt; *n its element count, *k its
 * last dimension. */
static const void *get(const char *name, rml_dtype dt, int64_t *n, int64_t *k)
{
	rml_tensor *t = rml_find_tensor(&ref, name);
	if (!t || t->dtype != dt)
		fail_msg("reference tensor %s missing or of another type", name);
	int64_t c = 1;
	for (int i = 0; i < t->ndim; i++)
		c *= t->dims[i];
	if (n)
		*n = c;
	if (k)
		*k = t->dims[t->ndim - 1];
	return t->data;
}

static void near(const char *what, double got, double want, double tol)
{
	if (isnan(want) ? !isnan(got) : !(fabs(got - want) <= tol))
		fail_msg("%s: %.17g, reference %.17g", what, got, want);
}

/* Ties go to the first class (torch.argmax); a NaN or infinite row
 * predicts -1 with confidence 0 and entropy log k. */
static void test_argmax_ties(void **state)
{
	(void)state;
	int64_t nk, k;
	const float *p = get("tie_probs", RML_DTYPE_F32, &nk, &k);
	const int32_t *want = get("tie_pred", RML_DTYPE_I32, NULL, NULL);
	const float *wc = get("tie_conf", RML_DTYPE_F32, NULL, NULL);
	const float *we = get("tie_entropy", RML_DTYPE_F32, NULL, NULL);
	int64_t n = nk / k;
	int32_t pred[16];
	float conf[16], ent[16];
	assert_true(n <= 16);
	rml_top1(p, n, k, pred, conf);
	rml_entropy(p, n, k, ent);
	for (int64_t i = 0; i < n; i++) {
		if (pred[i] != want[i])
			fail_msg("row %lld: class %d, torch.argmax %d", (long long)i, pred[i], want[i]);
		near("confidence", conf[i], wc[i], 0);
		near("entropy", ent[i], we[i], 2e-7);
	}
}

/* Softmax: PyTorch's values on finite logits (huge ones included); any
 * NaN or infinite logit makes the whole row NaN. */
static void test_softmax_extremes(void **state)
{
	(void)state;
	int64_t nk, k;
	const float *l = get("sm_logits", RML_DTYPE_F32, &nk, &k);
	const float *want = get("sm_probs", RML_DTYPE_F32, NULL, NULL);
	float p[64];
	assert_true(nk <= 64);
	rml_softmax(p, l, nk / k, k);
	for (int64_t i = 0; i < nk; i++) {
		char what[64];
		snprintf(what, sizeof what, "softmax row %lld class %lld", (long long)(i / k),
			 (long long)(i % k));
		near(what, p[i], want[i], 1e-6);
	}
}

/* ECE, MCE (width bins) and ACE with its MCE (mass bins) for 4, 10 and 15
 * bins: confidences exactly on edges, float32 0.7 below the edge 0.7, 1
 * in the last bin, a NaN confidence counted as 0, ties. */
static void test_ece_edges(void **state)
{
	(void)state;
	int64_t n, ne;
	const float *c = get("ece_conf", RML_DTYPE_F32, &n, NULL);
	const uint8_t *ok = get("ece_correct", RML_DTYPE_U8, NULL, NULL);
	const double *e = get("ece_expect", RML_DTYPE_F64, &ne, NULL);
	for (int64_t r = 0; r + 5 <= ne; r += 5) {
		int nb = (int)e[r];
		char what[64];
		snprintf(what, sizeof what, "ece, %d width bins", nb);
		near(what, rml_ece(c, ok, n, nb, RML_BINS_WIDTH), e[r + 1], 1e-12);
		snprintf(what, sizeof what, "mce, %d width bins", nb);
		near(what, rml_mce(c, ok, n, nb, RML_BINS_WIDTH), e[r + 2], 1e-12);
		snprintf(what, sizeof what, "ace, %d mass bins", nb);
		near(what, rml_ece(c, ok, n, nb, RML_BINS_MASS), e[r + 3], 1e-12);
		snprintf(what, sizeof what, "mce, %d mass bins", nb);
		near(what, rml_mce(c, ok, n, nb, RML_BINS_MASS), e[r + 4], 1e-12);
	}
}

/* NLL clamps the true class's probability at 1e-12; a broken row is the
 * all-zero prediction; unlabelled rows do not count. */
static void test_nll_brier_edges(void **state)
{
	(void)state;
	int64_t nk, k;
	const float *p = get("nb_probs", RML_DTYPE_F32, &nk, &k);
	const int32_t *y = get("nb_labels", RML_DTYPE_I32, NULL, NULL);
	const double *e = get("nb_expect", RML_DTYPE_F64, NULL, NULL);
	near("nll", rml_nll(p, y, nk / k, k), e[0], 1e-9);
	near("brier", rml_brier(p, y, nk / k, k), e[1], 1e-9);
}

/* AUROC by pairs: ties one half, NaN and both infinities below every
 * finite score. */
static void test_auroc_edges(void **state)
{
	(void)state;
	int64_t n;
	const float *s = get("au_score", RML_DTYPE_F32, &n, NULL);
	const uint8_t *pos = get("au_pos", RML_DTYPE_U8, NULL, NULL);
	const double *e = get("au_expect", RML_DTYPE_F64, NULL, NULL);
	near("auroc", rml_auroc(s, pos, n), e[0], 1e-12);
}

/* Rejection of the reference rows: by entropy and by confidence at rates
 * 0.1 and 0.25 (ties by index, the broken row before the uniform one),
 * then by confidence below 0.7 (float32 0.7 lies below it: rejected) and
 * below 0.75 (equal: kept). */
static void test_reject_ref(void **state)
{
	(void)state;
	int64_t nk, k, ne;
	const float *probs = get("rj_probs", RML_DTYPE_F32, &nk, &k);
	const uint8_t *want = get("rj_expect", RML_DTYPE_U8, &ne, NULL);
	int64_t n = nk / k;
	rml_predictions p;
	rml_predictions_init(&p);
	assert_int_equal(rml_predictions_alloc(&p, n, k, NULL), RML_OK);
	memcpy(p.probs, probs, (size_t)nk * sizeof *probs);
	struct {
		rml_reject_rule rule;
		double thr, rate;
	} cases[6] = {
		{ RML_REJECT_ENTROPY, 0, 0.1 },     { RML_REJECT_ENTROPY, 0, 0.25 },
		{ RML_REJECT_CONFIDENCE, 0, 0.1 },  { RML_REJECT_CONFIDENCE, 0, 0.25 },
		{ RML_REJECT_CONFIDENCE, 0.7, -1 }, { RML_REJECT_CONFIDENCE, 0.75, -1 },
	};
	assert_int_equal(ne, 6 * n);
	for (int c = 0; c < 6; c++) {
		double used;
		assert_int_equal(rml_predictions_reject(&p, cases[c].rule, cases[c].thr, cases[c].rate,
							&used, NULL), RML_OK);
		for (int64_t i = 0; i < n; i++)
			if (p.rejected[i] != want[c * n + i])
				fail_msg("case %d, row %lld: rejected %d, reference %d", c, (long long)i,
					 p.rejected[i], want[c * n + i]);
		if (cases[c].rate < 0)
			near("threshold", used, cases[c].thr, 0);
	}
	rml_predictions_free(&p);
}

/* Rejection by a rate takes exactly the rows the selection takes (the
 * most uncertain first, ties by index), by entropy and by confidence, on
 * the reference rows of both files. */
static void check_same_rows(const float *probs, int64_t n, int64_t k)
{
	rml_predictions p;
	rml_predictions_init(&p);
	assert_int_equal(rml_predictions_alloc(&p, n, k, NULL), RML_OK);
	memcpy(p.probs, probs, (size_t)(n * k) * sizeof *probs);
	int64_t *order = malloc((size_t)n * sizeof *order);
	assert_non_null(order);
	rml_reject_rule rules[2] = { RML_REJECT_ENTROPY, RML_REJECT_CONFIDENCE };
	rml_uncertainty unc[2] = { RML_UNC_ENTROPY, RML_UNC_CONFIDENCE };
	for (int r = 0; r < 2; r++) {
		assert_int_equal(rml_uncertainty_order(probs, n, k, unc[r], order, NULL), RML_OK);
		for (int64_t m = 0; m <= n; m++) {
			double used;
			assert_int_equal(rml_predictions_reject(&p, rules[r], 0, (double)m / (double)n,
								&used, NULL),
					 RML_OK);
			int64_t first = 0, total = 0;
			for (int64_t i = 0; i < m; i++)
				first += p.rejected[order[i]];
			for (int64_t i = 0; i < n; i++)
				total += p.rejected[i];
			if (first != m || total != m)
				fail_msg("%s, %lld of %lld: rejection and selection differ",
					 rml_reject_rule_name(rules[r]), (long long)m, (long long)n);
		}
	}
	free(order);
	rml_predictions_free(&p);
}

static void test_reject_is_selection(void **state)
{
	(void)state;
	int64_t nk, k;
	const float *probs = get("rj_probs", RML_DTYPE_F32, &nk, &k);
	check_same_rows(probs, nk / k, k);
	char path[512];
	rml_fx_path(path, sizeof path, "ref/select.rml");
	rml_file f;
	rml_error err = { 0 };
	assert_int_equal(rml_file_load(&f, path, &err), RML_OK);
	rml_tensor *t = rml_expect_tensor(&f, "probs", RML_DTYPE_F32, 2, &err);
	assert_non_null(t);
	check_same_rows(t->data, t->dims[0], t->dims[1]);
	rml_file_free(&f);
}

/* Mean, sd (n - 1) and the Student-t interval; one repetition has sd 0
 * and the interval [mean, mean]. */
static void test_summary_edges(void **state)
{
	(void)state;
	int64_t ns;
	const double *x = get("sum_x", RML_DTYPE_F64, NULL, NULL);
	const int64_t *n = get("sum_n", RML_DTYPE_I64, &ns, NULL);
	const double *e = get("sum_expect", RML_DTYPE_F64, NULL, NULL);
	for (int64_t j = 0, at = 0; j < ns; at += n[j], j++) {
		rml_summary s;
		rml_summarize(x + at, n[j], &s);
		assert_int_equal(s.n_rep, n[j]);
		near("mean", s.mean, e[4 * j], 1e-12);
		near("sd", s.sd, e[4 * j + 1], 1e-12);
		near("ci95 low", s.lo, e[4 * j + 2], 1e-6);
		near("ci95 high", s.hi, e[4 * j + 3], 1e-6);
	}
	/* A NaN value propagates to the mean and the interval. */
	double y[3] = { 0.5, NAN, 0.25 };
	rml_summary s;
	rml_summarize(y, 3, &s);
	assert_true(isnan(s.mean) && isnan(s.lo) && isnan(s.hi));
}

/* Masked / SDC / detected of the reference's faulty rows against the
 * fault-free classes: a tie resolved to the first class counts as
 * masked when that is the clean class. */
static void test_fault_outcomes_edges(void **state)
{
	(void)state;
	int64_t nk, k;
	const float *p = get("tie_probs", RML_DTYPE_F32, &nk, &k);
	const int32_t *clean = get("fo_clean", RML_DTYPE_I32, NULL, NULL);
	const double *e = get("fo_expect", RML_DTYPE_F64, NULL, NULL);
	double m, s, d;
	rml_fault_outcomes(p, clean, nk / k, k, &m, &s, &d);
	near("masked", m, e[0], 1e-12);
	near("sdc", s, e[1], 1e-12);
	near("detected", d, e[2], 1e-12);
	near("sum", m + s + d, 1, 1e-12);
}

/* Nothing to measure gives NaN; ACC2 with every labelled row rejected is
 * 0; a class without labelled rows has NaN accuracy. */
static void test_undefined_figures(void **state)
{
	(void)state;
	float c[1] = { 0.5f };
	uint8_t ok[1] = { 1 };
	int32_t none[1] = { -1 };
	assert_true(isnan(rml_ece(c, ok, 0, 15, RML_BINS_WIDTH)));
	assert_true(isnan(rml_mce(c, ok, 0, 15, RML_BINS_MASS)));
	float p2[2] = { 0.5f, 0.5f };
	assert_true(isnan(rml_nll(p2, none, 1, 2)));
	assert_true(isnan(rml_brier(p2, none, 1, 2)));
	uint8_t allpos[2] = { 1, 1 };
	assert_true(isnan(rml_auroc(p2, allpos, 2)));
	assert_true(isnan(rml_auroc(p2, allpos, 0)));

	rml_predictions p;
	rml_predictions_init(&p);
	assert_int_equal(rml_predictions_alloc(&p, 3, 3, NULL), RML_OK);
	const float probs[9] = { 0.6f, 0.3f, 0.1f, 0.2f, 0.5f, 0.3f, 0.4f, 0.4f, 0.2f };
	memcpy(p.probs, probs, sizeof probs);
	rml_eval_report r;
	/* No labelled row: every label-based figure is NaN. */
	assert_int_equal(rml_eval_compute(&p, 15, RML_BINS_WIDTH, &r, NULL), RML_OK);
	double v[RML_EVAL_N_METRICS];
	rml_eval_report_values(&r, v);
	for (int i = 0; i < RML_EVAL_N_METRICS; i++)
		if (rml_eval_metrics[i] != RML_METRIC_REJECT_RATE && !isnan(v[i]))
			fail_msg("%s is %g without labels, not NaN", rml_metric_name(rml_eval_metrics[i]),
				 v[i]);
	near("reject_rate", r.reject_rate, 0, 0);
	rml_eval_report_free(&r);
	/* Labelled, all rejected: ACC2 0; class 2 has no example: NaN. */
	p.labels[0] = 0;
	p.labels[1] = 1;
	double used;
	assert_int_equal(rml_predictions_reject(&p, RML_REJECT_CONFIDENCE, 0.9, -1, &used, NULL), RML_OK);
	assert_int_equal(rml_eval_compute(&p, 15, RML_BINS_WIDTH, &r, NULL), RML_OK);
	near("acc1", r.acc1, 1, 0);
	near("acc2", r.acc2, 0, 0);
	near("reject_rate", r.reject_rate, 1, 0);
	assert_true(isnan(r.class_acc[2]));
	assert_int_equal(r.class_n[2], 0);
	rml_eval_report_free(&r);
	rml_predictions_free(&p);
}

/* The monitor's window accuracy follows ACC2's rule: labelled inputs all
 * rejected give 0 (so an accuracy alert fires), none labelled NaN. */
static void test_monitor_all_rejected(void **state)
{
	(void)state;
	rml_monitor w;
	rml_window_stats s;
	assert_int_equal(rml_monitor_init(&w, 4, 2, NULL), RML_OK);
	const float p[2] = { 0.75f, 0.25f };
	rml_monitor_push(&w, p, -1, 1, NAN);
	assert_int_equal(rml_monitor_stats(&w, &s, NULL), RML_OK);
	assert_true(isnan(s.accuracy));
	rml_window_stats_free(&s);
	rml_monitor_push(&w, p, 0, 1, NAN);
	assert_int_equal(rml_monitor_stats(&w, &s, NULL), RML_OK);
	near("window accuracy", s.accuracy, 0, 0);
	rml_window_stats_free(&s);
	rml_monitor_free(&w);
}

/* Calibration measures: a broken in-distribution row ranks below a finite
 * uniform out-of-distribution row by entropy as by confidence. Rows: ID
 * uniform, ID broken, OOD uniform. Pairs (ID, OOD): uniform-uniform ties
 * (1/2), broken-uniform loses (0): AUROC 1/4 for both. */
static void test_calib_auroc_broken(void **state)
{
	(void)state;
	const float probs[6] = { 0.5f, 0.5f, NAN, NAN, 0.5f, 0.5f };
	const int32_t labels[3] = { 0, 1, RML_CALIB_OOD };
	rml_calib_measures m;
	rml_error err = { 0 };
	assert_int_equal(rml_calib_measure(probs, labels, 3, 2, 10, &m, &err), RML_OK);
	near("auroc_conf", m.auroc_conf, 0.25, 1e-12);
	near("auroc_entropy", m.auroc_entropy, 0.25, 1e-12);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_argmax_ties),
		cmocka_unit_test(test_softmax_extremes),
		cmocka_unit_test(test_ece_edges),
		cmocka_unit_test(test_nll_brier_edges),
		cmocka_unit_test(test_auroc_edges),
		cmocka_unit_test(test_reject_ref),
		cmocka_unit_test(test_reject_is_selection),
		cmocka_unit_test(test_summary_edges),
		cmocka_unit_test(test_fault_outcomes_edges),
		cmocka_unit_test(test_undefined_figures),
		cmocka_unit_test(test_monitor_all_rejected),
		cmocka_unit_test(test_calib_auroc_broken),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
