/*
 * calib.h — post-hoc calibration of a classifier's confidence: fit a small
 * map on held-out (probabilities or logits, labels) and apply it to new
 * predictions; and choose the rejection threshold that the calibrated
 * uncertainty is then compared with.
 *
 * Methods: Bayesian Binning into Quantiles (one equal-frequency model, as
 * the resilience paper uses with 10 bins, or the full Bayesian-averaged
 * ensemble), histogram binning with equal-width or equal-mass bins,
 * isotonic regression, temperature scaling and three-parameter beta
 * calibration. Every method except temperature scaling calibrates the
 * top-label confidence: the predicted class keeps its place and gets the
 * calibrated confidence, and the remaining mass is shared among the other
 * classes in proportion to their original probabilities. Temperature
 * scaling divides the logits (or log-probabilities) by T and takes the
 * softmax again.
 *
 * A fitted calibrator is a handful of plain arrays, so it travels inside
 * a model file as its own parameter group (rml_calib_to_file). Not here:
 * the measures themselves (metrics.h), running a model, generating
 * out-of-distribution data (sbo.h).
 */
#ifndef RML_CALIB_H
#define RML_CALIB_H

#include <stdint.h>

#include "format.h"
#include "metrics.h"
#include "rml.h"

/* A label meaning "this calibration example is out of distribution": its
 * prediction counts as wrong for every method, and temperature scaling
 * fits it towards the uniform distribution. */
#define RML_CALIB_OOD (-2)

typedef enum {
	RML_CALIB_BBQ = 0,      /* Bayesian Binning into Quantiles */
	RML_CALIB_HIST_WIDTH,   /* histogram binning, equal-width bins */
	RML_CALIB_HIST_MASS,    /* histogram binning, equal-mass bins */
	RML_CALIB_ISOTONIC,     /* isotonic regression (pool adjacent violators) */
	RML_CALIB_TEMPERATURE,  /* temperature scaling of the logits */
	RML_CALIB_BETA,         /* beta calibration, three parameters */
	RML_CALIB_COUNT
} rml_calib_method;

/* "bbq", "hist-width", "hist-mass", "isotonic", "temperature", "beta". */
const char *rml_calib_method_name(rml_calib_method m);
/* The method of that name; RML_ERR_ARG listing the names otherwise. */
rml_status rml_calib_method_parse(const char *name, rml_calib_method *m, rml_error *err);

typedef struct {
	/* Bins of histogram binning and of single-model BBQ (default 10, the
	 * resilience paper's setting). */
	int n_bins;
	/* BBQ: 0 = one equal-frequency model with n_bins bins; 1 = the BBQ
	 * ensemble of every equal-frequency model with B in
	 * [max(1, floor(N^(1/3)/C)), min(N, ceil(C N^(1/3)))] bins, averaged
	 * with weights proportional to their marginal likelihoods (default 0). */
	int bbq_ensemble;
	double bbq_c;           /* C above (default 10, as Naeini et al.) */
	double bbq_prior_n;     /* N', the prior's equivalent sample size (default 2) */
	int max_iter;           /* Newton iterations, temperature and beta (default 100) */
} rml_calib_opts;

/* 10 bins, single-model BBQ, C = 10, N' = 2, 100 iterations. */
void rml_calib_opts_default(rml_calib_opts *o);

/* A fitted calibrator. Piecewise maps (binning, isotonic) are n_models
 * maps whose knots are x[offsets[i] .. offsets[i+1]) with values y[...]:
 * for binning, x holds each bin's upper edge (the last is 1) and y the
 * bin's calibrated confidence; for isotonic, x and y are the points the
 * fitted step function is linearly interpolated between. weights[i] is
 * the share of model i in the average (1 for a single model). scalars
 * hold T (temperature) or a, b, c (beta); unused entries are 0. */
typedef struct {
	rml_calib_method method;
	double scalars[3];
	int64_t n_models;
	int64_t *offsets;       /* [n_models + 1] */
	double *weights;        /* [n_models] */
	int64_t n_knots;
	double *x, *y;          /* [n_knots] */
} rml_calib;

/* An empty calibrator (method BBQ, nothing fitted). rml_calib_free
 * releases the arrays and leaves an empty calibrator (safe twice). */
void rml_calib_init(rml_calib *c);
void rml_calib_free(rml_calib *c);
/* Deep copy of src into dst (dst is freed first; dst == src does nothing).
 * RML_ERR_NOMEM leaves dst empty; RML_ERR_ARG for a src whose arrays do
 * not match its counts. */
rml_status rml_calib_copy(rml_calib *dst, const rml_calib *src, rml_error *err);

/* Fit method m on n calibration examples of k >= 2 classes: probs [n,k]
 * (rows of finite values in [0,1] summing to 1 within 1e-3), logits [n,k]
 * or NULL (only temperature scaling reads them; without them it works on
 * log-probabilities, which give the same softmax), labels [n] in [0,k) or
 * RML_CALIB_OOD. opts may be NULL for the defaults. Rejected with
 * RML_ERR_ARG and a message naming the row or option: missing probs or
 * labels, n < 1, k < 2, a
 * label out of range, a row that is not finite or not a distribution,
 * bad options. Degenerate but valid data give a defined result, never
 * NaN: constant confidence gives one bin or one isotonic knot; all
 * correct or all wrong gives bin values of 1 or 0 (BBQ: the Beta
 * posterior mean, strictly inside), T at the end of its range [0.01, 100]
 * towards which the likelihood keeps rising, and for beta calibration the
 * small ridge (1e-6 per parameter) keeps a, b and c finite. On failure c
 * is left empty. Deterministic: no randomness, sums in a fixed order. */
rml_status rml_calib_fit(rml_calib *c, rml_calib_method m, const float *probs,
			 const float *logits, const int32_t *labels, int64_t n, int64_t k,
			 const rml_calib_opts *opts, rml_error *err);

/* The calibrated confidence, in [0,1], for a top-label confidence p in
 * [0,1]; p itself for temperature scaling (whose map needs the whole row)
 * and for a calibrator that was never fitted. */
double rml_calib_map(const rml_calib *c, double p);

/* Calibrated probabilities out [n,k] (may alias probs) from probs [n,k]
 * and, for temperature scaling, logits [n,k] (NULL: log-probabilities).
 * Top-label methods replace the top confidence p by q = map(p), raised if
 * needed so that no other class overtakes the predicted one, and scale the
 * other classes by (1-q)/(1-p) (shared equally when p = 1). A row that is
 * not finite is copied unchanged, so that the measures still count it as
 * wrong and maximally uncertain. Rows that are finite come out in [0,1],
 * summing to 1 within float rounding. RML_ERR_ARG for k < 1, n < 0 or a
 * calibrator that was never fitted. */
rml_status rml_calib_apply(const rml_calib *c, const float *probs, const float *logits,
			   int64_t n, int64_t k, float *out, rml_error *err);

/* Store the calibrator in f under prefix (e.g. "calib."): key
 * <prefix>method (string) and tensors <prefix>scalars f64 [3],
 * <prefix>offsets i64 [n_models+1], <prefix>weights f64 [n_models],
 * <prefix>x and <prefix>y f64 [n_knots] (piecewise methods only). An
 * existing group under the same prefix is overwritten; when it was a
 * piecewise one and the new one is not, its arrays stay in f unread
 * (format.h offers no way to remove a tensor). RML_ERR_ARG for a
 * calibrator that was never fitted or a prefix too long for a name. */
rml_status rml_calib_to_file(const rml_calib *c, rml_file *f, const char *prefix,
			     rml_error *err);
/* Read the group back, checking everything a hostile file could get
 * wrong (unknown method, shapes, offsets, values out of range, NaN):
 * RML_ERR_FORMAT with a message naming the tensor. */
rml_status rml_calib_from_file(rml_calib *c, const rml_file *f, const char *prefix,
			       rml_error *err);

/* ---- choosing the rejection threshold ----------------------------------- */

typedef struct {
	rml_reject_rule rule;   /* entropy or confidence */
	/* Entropy: reject when entropy > threshold; confidence: reject when
	 * confidence < threshold (the rules of rml_predictions_reject). */
	double threshold;
	int64_t n, n_rejected;
	double reject_rate, coverage, acc1, acc2;
} rml_reject_choice;

/* Choose a threshold on probs [n,k] with labels [n] (RML_CALIB_OOD rows
 * count as wrong). With target_coverage in (0,1]: the threshold whose
 * coverage (kept fraction) is nearest to it, fewer rejections on a tie.
 * Otherwise (target_coverage < 0): the threshold that maximises ACC2 among
 * those rejecting at most max_reject_rate (in [0,1)) of the rows, the
 * fewest rejections among equals. Rows with equal uncertainty are always
 * rejected together, and at least one row is kept. The threshold lies
 * halfway between the last rejected and the first kept uncertainty
 * (entropy by rml_entropy, confidence by rml_top1); with nothing rejected
 * it is the largest entropy (smallest confidence), which rejects nothing.
 * RML_ERR_ARG for missing arrays, n < 1, k < 2, a bad rule, rate,
 * coverage or label, or a row that is not a distribution. */
rml_status rml_calib_choose_reject(const float *probs, const int32_t *labels, int64_t n,
				   int64_t k, rml_reject_rule rule, double max_reject_rate,
				   double target_coverage, rml_reject_choice *out,
				   rml_error *err);

#endif
