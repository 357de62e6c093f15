/*
 * metrics.h — what rmlops measures about predictions: accuracy with and
 * without rejection (ACC1, ACC2), rejection by entropy or confidence,
 * proper scores (NLL, Brier), calibration errors (ECE, MCE, ACE), AUROC,
 * summaries over repetitions (mean, sd, 95% confidence interval); and the
 * predictions file (kind "predictions") that carries them between programs.
 *
 * Everything works on probabilities [n,k] (rows summing to 1) and integer
 * labels. Names follow DESIGN.md: n, acc1, acc2, reject_rate, nll,
 * brier, ece, mce, ace, auroc.
 *
 * One rule for a row with a NaN or infinite value (a faulty model whose
 * output a runtime would detect): it is the all-zero prediction, no
 * probability on any class. So it is wrong for ACC1 (pred -1), has
 * confidence 0 for ECE/MCE/ACE, scores the NLL floor -log(1e-12) = 27.63
 * and a Brier score of 1 (sum_j y_j^2); for rejection it is more
 * uncertain than every finite row (uncertainty +inf: any threshold or
 * rate rejects it first; rml_entropy reports log k for it). It never
 * crashes, and never depends on how a comparison with NaN falls.
 *
 * A figure with nothing to measure is NaN (JSON null): ACC1, NLL, Brier,
 * ECE, MCE and ACE without a labelled row, AUROC without a positive or
 * without a negative. ACC2 is the one exception: with labelled rows that
 * are all rejected it is 0 (a model that answers nothing answers nothing
 * right; a mean over repetitions stays a number). All the rules, for
 * users, are in rmlops(7), "How figures are computed".
 */
#ifndef RML_METRICS_H
#define RML_METRICS_H

#include <stdint.h>

#include "format.h"
#include "rml.h"

/* Top-label prediction and confidence of each row: the first (lowest)
 * class among equal top probabilities, as torch.argmax and numpy.argmax
 * choose; a non-finite row gives pred -1 and confidence 0. */
void rml_top1(const float *probs, int64_t n, int64_t k, int32_t *pred, float *conf);
/* Shannon entropy (nats, 0 log 0 = 0) of each row, summed in double and
 * rounded to float; a non-finite row gives log(k). */
void rml_entropy(const float *probs, int64_t n, int64_t k, float *ent);
/* Top-1 accuracy (rml_top1's choice, ties to the lower class) of probs
 * [n,k] over the rows whose label is >= 0; NaN when none is labelled. */
double rml_accuracy(const float *probs, const int32_t *labels, int64_t n, int64_t k);

typedef enum { RML_BINS_WIDTH = 0, RML_BINS_MASS = 1 } rml_binning;

/* Calibration errors of top-label confidence against correctness
 * (correct[i] in {0,1}) with n_bins bins: ECE = sum_b |B|/n |acc_b - conf_b|,
 * MCE = max_b |acc_b - conf_b| over non-empty bins. Equal-width bins over
 * [0,1] (a confidence of exactly 1 falls in the last bin) or equal-mass
 * bins (sorted confidences cut into n_bins groups of equal size, a cut
 * moved forward past equal confidences so ties share a bin). A width bin
 * is closed below and open above: confidence c lies in bin floor(c *
 * n_bins), computed exactly in double from the float, so float32 0.7
 * (0.69999999) lies below the edge 0.7. Empty bins count nowhere. ACE =
 * ECE with equal-mass bins. Non-finite confidences count as 0. NaN for
 * n = 0 (nothing to measure) and when memory runs out. */
double rml_ece(const float *conf, const uint8_t *correct, int64_t n, int n_bins,
	       rml_binning b);
double rml_mce(const float *conf, const uint8_t *correct, int64_t n, int n_bins,
	       rml_binning b);

/* Mean negative log-likelihood of the true label (probabilities clamped
 * below at 1e-12, so one row scores at most 27.63) and mean multi-class
 * Brier score sum_j (p_j - y_j)^2, over the rows whose label is in
 * [0, k); NaN when there is none. */
double rml_nll(const float *probs, const int32_t *labels, int64_t n, int64_t k);
double rml_brier(const float *probs, const int32_t *labels, int64_t n, int64_t k);

/* Area under the ROC curve of score for separating positive[i]=1 from 0,
 * a higher score meaning positive (ties count one half: mid-ranks). A
 * score that is not finite (NaN or either infinity: a broken output)
 * ranks below every finite score, so orient scores as "higher = surer /
 * more in-distribution". NaN when either class is empty. */
double rml_auroc(const float *score, const uint8_t *positive, int64_t n);

/* Summary of one metric over repetitions: mean, sample standard deviation
 * (n - 1 in the denominator) and a 95% confidence interval of the mean
 * (Student t, n - 1 degrees of freedom), all summed in double. One
 * repetition has no spread: sd 0 and the interval [mean, mean] (n_rep
 * says so); n = 0 gives mean 0. A NaN value propagates: the mean and
 * the interval are NaN. */
typedef struct {
	double mean, sd, lo, hi;
	int64_t n_rep;
} rml_summary;
void rml_summarize(const double *x, int64_t n, rml_summary *s);

/* ---- the predictions file ------------------------------------------------
 * kind "predictions": tensors "probs" f32 [n,k], "labels" i32 [n] (-1
 * unknown), "rejected" u8 [n], "entropy" f32 [n]; optional
 * "entropy_before" f32 [n] (test-time adaptation); key
 * "predictions.classes" (str array) when the model names its classes. */
typedef struct {
	int64_t n, k;
	float *probs;
	int32_t *labels;
	uint8_t *rejected;
	float *entropy;
	float *entropy_before;  /* may be NULL */
} rml_predictions;

void rml_predictions_init(rml_predictions *p);
void rml_predictions_free(rml_predictions *p);
rml_status rml_predictions_alloc(rml_predictions *p, int64_t n, int64_t k, rml_error *err);
rml_status rml_predictions_to_file(const rml_predictions *p, rml_file *f, rml_error *err);
/* Read a predictions file, checking what it holds as well as its shapes:
 * labels in [-1, k); each row of probs either all NaN (a model whose
 * outputs were not numbers) or finite values in [0, 1] whose sum is 1
 * within RML_PREDICTIONS_TOL (float32 rounding of k terms stays far
 * below it; a mistaken or forged row does not); rejected flags 0 or 1;
 * entropy and entropy_before finite, in [0, log k + RML_PREDICTIONS_TOL].
 * RML_ERR_FORMAT naming the first row at fault; p is empty on failure. */
#define RML_PREDICTIONS_TOL 1e-3
rml_status rml_predictions_from_file(rml_predictions *p, const rml_file *f, rml_error *err);

/* Rejection rules: none, entropy above a threshold, confidence below a
 * threshold; or the threshold that rejects a target fraction. */
typedef enum { RML_REJECT_NONE = 0, RML_REJECT_ENTROPY, RML_REJECT_CONFIDENCE } rml_reject_rule;
/* The rule's name ("none", "entropy", "confidence"), and back: 0 and
 * *rule set, or -1 for any other name. */
const char *rml_reject_rule_name(rml_reject_rule rule);
int rml_reject_rule_parse(const char *name, rml_reject_rule *rule);

/* Fill p->entropy and p->rejected from p->probs by the rule: with
 * rate >= 0 the threshold is chosen so that round(rate * n) examples are
 * rejected (half away from zero; the most uncertain ones, ties broken by
 * index, smaller first), otherwise the given threshold is used (entropy:
 * reject above it; confidence: reject below it; a value equal to the
 * threshold is kept). Uncertainty is the float32 entropy as stored in
 * p->entropy, or the top probability compared exactly (never a rounded
 * 1 - confidence), so a rate rejects the rows rml_dataset_select_uncertain
 * selects. Rows with NaN or infinite values are the most uncertain of
 * all, rejected by any threshold. The threshold in force is returned in
 * *used (NaN for no rule, +inf entropy / -inf confidence when a rate
 * rejects nothing). Fails only when memory runs out, leaving nothing
 * rejected. */
rml_status rml_predictions_reject(rml_predictions *p, rml_reject_rule rule, double threshold,
				  double rate, double *used, rml_error *err);

/* Everything rmlops-eval reports about one predictions set: acc1 over
 * the labelled rows, acc2 over the labelled rows not rejected (0 when all
 * are rejected), reject_rate over all rows, nll and brier over the
 * labelled rows, ece/mce with the binning asked for, ace with n_bins
 * equal-mass bins; per-class accuracy by true label (NaN for a class
 * without a labelled row). Without a labelled row every label-based
 * figure is NaN. */
typedef struct {
	int64_t n, n_labelled, n_rejected;
	double acc1, acc2, reject_rate, nll, brier, ece, mce, ace;
	double threshold;
	double *class_acc;      /* [k], NaN for a class without examples; owned */
	int64_t *class_n;       /* [k]; owned */
} rml_eval_report;

rml_status rml_eval_compute(const rml_predictions *p, int n_bins, rml_binning binning,
			    rml_eval_report *r, rml_error *err);
void rml_eval_report_free(rml_eval_report *r);

/* Every measure a report names, in one table: a program's report (JSON
 * keys, table rows) takes the names from here, so that acc1 or ece is
 * spelt the same in rmlops-eval and rmlops-calibrate. Each report lists
 * the measures it prints, in its order, as an rml_metric array. */
typedef enum {
	RML_METRIC_ACC1, RML_METRIC_ACC2, RML_METRIC_REJECT_RATE, RML_METRIC_NLL, RML_METRIC_BRIER,
	RML_METRIC_ECE, RML_METRIC_MCE, RML_METRIC_ACE, RML_METRIC_MCE_MASS, RML_METRIC_AUROC_CONF,
	RML_METRIC_AUROC_ENTROPY, RML_METRIC_AURC, RML_METRIC_N_OOD,
	RML_METRIC_COUNT
} rml_metric;
/* The measure's name ("acc1", "reject_rate", ...); "?" out of range. */
const char *rml_metric_name(rml_metric m);

/* rmlops-eval's summary: acc1, acc2, reject_rate, nll, brier, ece, mce,
 * ace, the fields of rml_eval_report. */
#define RML_EVAL_N_METRICS 8
extern const rml_metric rml_eval_metrics[RML_EVAL_N_METRICS];
/* r's values of those metrics into v[RML_EVAL_N_METRICS]. */
void rml_eval_report_values(const rml_eval_report *r, double *v);

/* rmlops-calibrate's measures: acc1, ece, mce, ace, mce_mass, nll, brier,
 * auroc_conf, auroc_entropy, aurc, n_ood (a count), the fields of
 * rml_calib_measures (calib_model.h; rml_calibrate_measure_values). */
#define RML_CALIBRATE_N_MEASURES 11
extern const rml_metric rml_calibrate_metrics[RML_CALIBRATE_N_MEASURES];

/* The two-sided 95% quantile of Student's t with df degrees of freedom
 * (the 0.975 quantile), to within 1e-5; NaN for df < 1. Exact values
 * (to 7 digits) up to 30, then the Cornish-Fisher expansion in 1/df. */
double rml_student_t975(int64_t df);

#endif
