/*
 * metrics.h — what rmlops measures about predictions: accuracy with and
 * without rejection (ACC1, ACC2), rejection by entropy or confidence,
 * proper scores (NLL, Brier), calibration errors (ECE, MCE, ACE), AUROC,
 * summaries over repetitions (mean, sd, 95% confidence interval); and the
 * predictions file (kind "predictions") that carries them between programs.
 *
 * Everything works on probabilities [n,k] (rows summing to 1) and integer
 * labels; a row that is not finite (a faulty model) counts as wrong, as
 * maximally uncertain, and never as a crash. Names follow DESIGN.md:
 * n, acc1, acc2, reject_rate, nll, brier, ece, mce, ace, auroc.
 */
#ifndef RML_METRICS_H
#define RML_METRICS_H

#include <stdint.h>

#include "format.h"
#include "rml.h"

/* Top-label prediction and confidence of each row; a non-finite row gives
 * pred -1 and confidence 0. */
void rml_top1(const float *probs, int64_t n, int64_t k, int32_t *pred, float *conf);
/* Shannon entropy (nats) of each row; a non-finite row gives log(k). */
void rml_entropy(const float *probs, int64_t n, int64_t k, float *ent);

typedef enum { RML_BINS_WIDTH = 0, RML_BINS_MASS = 1 } rml_binning;

/* Calibration errors of top-label confidence against correctness
 * (correct[i] in {0,1}) with n_bins bins: ECE = sum_b |B|/n |acc_b - conf_b|,
 * MCE = max_b |acc_b - conf_b| over non-empty bins. Equal-width bins over
 * [0,1] or equal-mass bins (sorted confidences split into n_bins groups of
 * equal size, ties kept together deterministically). ACE = ECE with
 * equal-mass bins. n = 0 gives 0. */
double rml_ece(const float *conf, const uint8_t *correct, int64_t n, int n_bins,
	       rml_binning b);
double rml_mce(const float *conf, const uint8_t *correct, int64_t n, int n_bins,
	       rml_binning b);

/* Mean negative log-likelihood of the true label (probabilities clamped
 * below at 1e-12) and mean multi-class Brier score sum_j (p_j - y_j)^2. */
double rml_nll(const float *probs, const int32_t *labels, int64_t n, int64_t k);
double rml_brier(const float *probs, const int32_t *labels, int64_t n, int64_t k);

/* Area under the ROC curve of score for separating positive[i]=1 from 0
 * (ties count one half); 0.5 when either class is empty. */
double rml_auroc(const float *score, const uint8_t *positive, int64_t n);

/* Summary of one metric over repetitions: mean, sample standard deviation
 * and a 95% confidence interval of the mean (Student t). */
typedef struct {
	double mean, sd, lo, hi;
	int64_t n_rep;
} rml_summary;
void rml_summarize(const double *x, int64_t n, rml_summary *s);

#endif
