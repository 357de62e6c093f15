/*
 * coact.h — rare co-activations of a model's units, as a drift and
 * out-of-distribution score (Myllyaho, Nurminen & Mikkonen, "Node
 * co-activations as a means of error detection", Array 15, 2022; IML4E
 * D3.x, "Monitoring rare coactivations"): pairs of units that are seldom
 * active together on in-distribution data but are active together on an
 * input mark that input as unfamiliar.
 *
 * The layer. The units are the D features the classification head reads
 * (the global average pool of the last 1x1 convolution: 320 for
 * mvit-xxs), read after every forward pass; the only layer for now, named
 * "pool" in the model file so that others can be added.
 *
 * The statistics, fitted on N in-distribution images:
 *   t_j      the q-quantile of unit j over the N images (q = quantile,
 *            default 0.9; the lower order statistic at floor(q (N-1)));
 *   a_j(x)   = [f_j(x) > t_j]: unit j is active on input x;
 *   c_jk     the number of the N images on which units j and k (j < k)
 *            are both active (an exact count, D (D-1) / 2 of them).
 * The score of an input x, with rarity rho (default 0.002):
 *   R(x) = #{ j < k : a_j(x) a_k(x) and c_jk <= rho N },
 * the number of co-active pairs of x that are rare on the in-distribution
 * data: 0 for a familiar pattern, larger for a rarer one. The count is the
 * report's measure ("how many rare co-activations occurred with each
 * input"); rho and q are ours to choose and stored with the counts.
 *
 * Cost per input: D comparisons and A (A-1) / 2 table look-ups for A
 * active units (about q' D with q' = 1 - q), a few hundred for mvit-xxs,
 * beside 49 MFLOP of inference.
 *
 * In the model file: keys "coact.layer" ("pool"), "coact.quantile",
 * "coact.rare", "coact.n_fit", tensors "coact.thresholds" f32 [D] and
 * "coact.pairs" i32 [D (D-1) / 2] (row-major upper triangle: (0,1),
 * (0,2), ..., (1,2), ...). The model carries them like the calibrator
 * (model.h) and never reads them.
 *
 * Not here: the rolling windows and metrics of a monitored stream
 * (monitor.h), AUROC (metrics.h: rml_auroc).
 */
#ifndef RML_COACT_H
#define RML_COACT_H

#include <stdint.h>

#include "dataset.h"
#include "model.h"
#include "outbuf.h"
#include "rml.h"

typedef struct {
	int64_t n_units;    /* D */
	int64_t n_fit;      /* N */
	double quantile;    /* q */
	double rare;        /* rho */
	float *thresholds;  /* [D], owned */
	int32_t *pairs;     /* [D (D-1) / 2], owned */
} rml_coact;

void rml_coact_init(rml_coact *c);
void rml_coact_free(rml_coact *c);

/* Index of pair (j, k), j < k < d, in the upper triangle. */
static inline int64_t rml_coact_pair_index(int64_t d, int64_t j, int64_t k)
{
	return j * (2 * d - j - 1) / 2 + (k - j - 1);
}

/* Fit on features feat [n, d] of n >= 2 in-distribution inputs: the
 * thresholds at quantile q in (0, 1) and the pair counts; rho in [0, 1)
 * is stored for scoring. RML_ERR_ARG for bad sizes or parameters, or a
 * feature that is not finite; RML_ERR_NOMEM. On failure c is empty. */
rml_status rml_coact_fit(rml_coact *c, const float *feat, int64_t n, int64_t d, double q,
			 double rho, rml_error *err);

/* Scores R [n] of features feat [n, c->n_units] (see above). A row with
 * a feature that is not finite scores +inf (a faulty model's NaN is as
 * unfamiliar as it gets). RML_ERR_ARG for unfitted statistics or bad
 * arguments, RML_ERR_NOMEM. */
rml_status rml_coact_score(const rml_coact *c, const float *feat, int64_t n, float *score,
			   rml_error *err);

/* The features (the head's input, [n, D]) and logits [n, n_classes] of n
 * images [n,h,w,c] of the model's geometry, in batches of `batch`, eval
 * mode; either output may be NULL. *d (may be NULL) gets D. */
rml_status rml_model_features(rml_model *m, const uint8_t *images, int64_t n, int64_t batch,
			      float *feat, float *logits, int64_t *d, rml_error *err);
/* D without running the model. */
int64_t rml_model_n_features(const rml_model *m);

/* ---- in the model file ---------------------------------------------------- */

/* Whether the model carries co-activation statistics. */
int rml_model_has_coact(const rml_model *m);
/* Read them into c (rml_coact_free it): RML_ERR_ARG when the model
 * carries none; RML_ERR_FORMAT (message starting "model: ") for what a
 * hostile file could get wrong: a missing or mistyped key or tensor, a
 * layer other than "pool", sizes that do not match the model's features,
 * q or rho out of range, a threshold that is not finite, a count below 0
 * or above N, an unknown "coact." tensor. */
rml_status rml_model_coact(const rml_model *m, rml_coact *c, rml_error *err);
/* rml_model_coact's checks only, for a program that has just loaded a
 * model (no statistics is fine). */
rml_status rml_model_coact_check(const rml_model *m, rml_error *err);
/* Store c in the model (NULL removes them), keeping the calibrator and
 * rejection rule. RML_ERR_ARG when c does not match the model's features;
 * RML_ERR_NOMEM leaves the old ones. */
rml_status rml_model_set_coact(rml_model *m, const rml_coact *c, rml_error *err);

/* ---- scoring images --------------------------------------------------------- */

/* For each of n images [n,h,w,c] of the model's geometry (batches of
 * `batch`, eval mode): the co-activation score with co, and from the
 * model's probabilities (its calibrator applied, calib_model.h) the
 * entropy, top-1 confidence and predicted class; every output [n]. An
 * output with a NaN or infinite value has entropy +inf, confidence 0
 * and class -1, as in the monitor's windows (monitor.h): the most
 * uncertain of all, above a finite uniform row's log k.
 * seconds (may be NULL) receives the time of the forward pass and of the
 * scoring. The errors of the steps pass through; RML_ERR_NOMEM. */
rml_status rml_coact_score_images(rml_model *m, const rml_coact *co, const uint8_t *images,
				  int64_t n, int64_t batch, float *score, float *entropy,
				  float *confidence, int32_t *pred, double seconds[2], rml_error *err);

/* How well each signal tells the n_ood out-of-distribution rows (after
 * the n_id in-distribution ones) apart: auroc [3] the AUROC of a higher
 * score, a higher entropy and a lower confidence meaning out of
 * distribution. A value that is not finite (a faulty model's) ranks as
 * the most out-of-distribution. RML_ERR_NOMEM. */
rml_status rml_coact_auroc(const float *score, const float *entropy, const float *confidence,
			   int64_t n_id, int64_t n_ood, double auroc[3], rml_error *err);

/* ---- over datasets, as rmlops-monitor fit, score and auroc use them -------- */

/* RML_ERR_MISMATCH "WHAT: images are HxWxC, the model takes HxWxC" when
 * d's images are not of m's geometry. */
rml_status rml_coact_check_images(const rml_model *m, const rml_dataset *d, const char *what,
				  rml_error *err);

/* Fit statistics on d's images (rml_model_features in batches of batch,
 * then rml_coact_fit with q and rho) and store them in m
 * (rml_model_set_coact). The errors of the steps pass through. */
rml_status rml_coact_fit_dataset(rml_model *m, const rml_dataset *d, int64_t batch, double q,
				 double rho, rml_error *err);

/* RML_ERR_MISMATCH "WHAT: N features, the statistics have D" when m's
 * features are not co's units (a model other than the one fitted). */
rml_status rml_coact_check_units(const rml_model *m, const rml_coact *co, const char *what,
				 rml_error *err);

/* rmlops-monitor score and auroc: the score, entropy, confidence and
 * class of every image of d under m with co (rml_coact_score_images, in
 * batches of batch), then, when ood is not NULL, of every image of ood
 * under m_ood (NULL: m); after each set seen(ctx, n, seconds) when seen
 * is not NULL (seconds as rml_coact_score_images gives them). Then into
 * text: without ood the table of d (rml_coact_score_text), with it the
 * AUROC report (rml_coact_auroc, rml_coact_auroc_text, json or not). The
 * images must be of the models' geometry (rml_coact_check_images) and
 * m_ood's features co's units (rml_coact_check_units). The errors of the
 * steps pass through; RML_ERR_NOMEM. */
rml_status rml_coact_report_datasets(rml_model *m, const rml_coact *co, const rml_dataset *d,
				     rml_model *m_ood, const rml_dataset *ood, int64_t batch, int json,
				     void (*seen)(void *ctx, int64_t n, const double seconds[2]),
				     void *ctx, rml_outbuf *text, rml_error *err);

/* The table of rmlops-monitor score: a header line, then per image its
 * score, entropy, confidence (%.9g), predicted class and label. */
void rml_coact_score_text(rml_outbuf *o, const float *score, const float *entropy,
			  const float *confidence, const int32_t *pred, const int32_t *labels,
			  int64_t n);

/* The report of rmlops-monitor auroc: one JSON object (n_id, n_ood,
 * auroc_coact, auroc_entropy, auroc_confidence; null when not finite) or
 * a header and one row (four decimals). */
void rml_coact_auroc_text(rml_outbuf *o, int json, int64_t n_id, int64_t n_ood,
			  const double auroc[3]);

#endif
