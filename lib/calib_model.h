/*
 * calib_model.h — the data a calibrator is fitted on, and what is measured
 * about it: augmented in-distribution copies of a labelled dataset,
 * out-of-distribution images from Soft Brownian Offset sampling (sbo.h)
 * in the latent space of an autoencoder trained on the in-distribution
 * images (autoenc.h) or in pixel space, the calibration measures before
 * and after (ECE, MCE and ACE with both binnings, NLL, Brier, AUROC of
 * in- against out-of-distribution), the risk-coverage curve, and the
 * pictures (reliability diagrams, risk-coverage chart). And the
 * calibrator and rejection rule a model carries (the keys and tensors
 * under "calib." that model.h keeps without reading them): reading,
 * checking and setting them, and calibrated probabilities.
 *
 * Distances. SBO runs on standardised vectors: every dimension of the
 * in-distribution codes (latent values, or pixel values) is shifted and
 * scaled to mean 0 and standard deviation 1 over those codes (a dimension
 * that never varies is only shifted). d_min and d_off are therefore in
 * units of the data's own spread per dimension, the same in both spaces
 * and for any autoencoder size; with 256 latent dimensions two random
 * in-distribution codes lie about sqrt(2*256) ~ 23 apart, so the paper's
 * d_min 25 and offset 20 put the samples beyond the typical spacing of
 * the data. The minimum-distance guarantee (softness 0) holds for the
 * standardised codes SBO returns, before decoding; decoding to 8-bit
 * images (and, in pixel space, clipping to [0,255]) then moves them.
 *
 * Not here: the calibration methods (calib.h), the sampler (sbo.h).
 */
#ifndef RML_CALIB_MODEL_H
#define RML_CALIB_MODEL_H

#include <stdint.h>

#include "autoenc.h"
#include "calib.h"
#include "dataset.h"
#include "metrics.h"
#include "model.h"
#include "rml.h"
#include "sbo.h"

/* ---- in-distribution copies ------------------------------------------------ */

/* per_class >= 1 augmented copies of each class of src (labels >= 0; -1
 * rows are ignored) into out: for class j, its images in an order
 * shuffled by seed, taken in turn (again from the start when the class
 * has fewer), each copied through the two label-preserving operations the
 * base model was trained with: a random 32x32 window of the image padded
 * by 4 (black) pixels, and a horizontal flip with probability 1/2. Copy i
 * draws from stream (seed, i), so the result depends only on the seed. A
 * class without images contributes none. Copies are grouped by class, in
 * class order. RML_ERR_ARG for per_class < 1 or a dataset without a
 * labelled image. */
rml_status rml_calib_augment_dataset(const rml_dataset *src, int64_t per_class, uint64_t seed,
				 rml_dataset *out, rml_error *err);

/* ---- out-of-distribution images ---------------------------------------------- */

typedef enum { RML_OOD_NONE = 0, RML_OOD_SBO_LATENT, RML_OOD_SBO_PIXEL } rml_ood_space;

/* "none", "sbo-latent", "sbo-pixel". */
const char *rml_ood_space_name(rml_ood_space s);
rml_status rml_ood_space_parse(const char *name, rml_ood_space *s, rml_error *err);

/* The space SBO walks in: the autoencoder (latent space only) and the
 * standardisation of the in-distribution codes. */
typedef struct {
	rml_ood_space space;
	int h, w, c;
	int64_t dim;
	rml_autoenc ae;
	double ae_mse;          /* last training epoch, latent space only */
	float *mean, *sd;       /* [dim] */
} rml_oodgen;

void rml_oodgen_init(rml_oodgen *g);
void rml_oodgen_free(rml_oodgen *g);

/* Set up the space from the n >= 2 images [n,h,w,c] of the in-distribution
 * data: for the latent space, train an autoencoder with ae_opts (NULL: the
 * defaults; progress may be NULL) and standardise its codes; for pixel
 * space, standardise the pixel values. RML_ERR_ARG for RML_OOD_NONE or
 * fewer than 2 images, and what rml_autoenc_create/train refuse. */
rml_status rml_oodgen_fit(rml_oodgen *g, rml_ood_space space, const uint8_t *images,
			  int64_t n, int h, int w, int c, const rml_autoenc_opts *ae_opts,
			  rml_autoenc_progress progress, void *ctx, rml_error *err);

/* Standardised codes [n, g->dim] of n images of the fitted geometry. */
rml_status rml_oodgen_codes(rml_oodgen *g, const uint8_t *images, int64_t n, float *codes,
			    rml_error *err);

/* m out-of-distribution images out [m,h,w,c] from the n in-distribution
 * images (usually those of rml_oodgen_fit): their standardised codes go to
 * rml_sbo_generate with o (its seed decides), and the codes it returns are
 * decoded. codes_out [m, dim], nn_dist [m] (distance to the nearest
 * in-distribution code, in standardised units) and steps [m] may be NULL.
 * Errors of rml_sbo_generate pass through. */
rml_status rml_oodgen_sample(rml_oodgen *g, const uint8_t *images, int64_t n, int64_t m,
			     const rml_sbo_opts *o, uint8_t *out, float *codes_out,
			     double *nn_dist, int64_t *steps, rml_error *err);

/* ---- running the model ------------------------------------------------------ */

struct rml_model;
/* Logits [n, n_classes] of n images [n,h,w,c] (uint8, the model's
 * geometry) in batches of `batch`, in evaluation mode, without the
 * calibrator (rml_model_probs applies it). */
rml_status rml_calib_logits(struct rml_model *m, const uint8_t *images, int64_t n,
			    int64_t batch, float *logits, rml_error *err);

/* ---- measures ------------------------------------------------------------------ */

/* Measures of probabilities [n,k] against labels [n]: a class in [0,k),
 * -1 (unknown: only in n) or RML_CALIB_OOD. The accuracy and calibration
 * measures are over the in-distribution rows (label >= 0); ece/mce with
 * equal-width bins, ece_mass/mce_mass with equal-mass bins (ace =
 * ece_mass); the AUROC of separating in-distribution rows (positive) from
 * RML_CALIB_OOD rows by confidence (higher = in) and by entropy (lower =
 * in), a row with a NaN or infinite value ranking as the most
 * out-of-distribution by both (below a finite uniform row); aurc the area under the risk-coverage curve by entropy over every
 * row with a label (OOD rows count as errors). A measure without the rows
 * it needs is NaN (no in-distribution rows; AUROC without OOD rows). */
typedef struct {
	int64_t n, n_id, n_ood;
	double acc1, ece, mce, ece_mass, mce_mass, nll, brier;
	double auroc_conf, auroc_entropy, aurc;
} rml_calib_measures;

rml_status rml_calib_measure(const float *probs, const int32_t *labels, int64_t n, int64_t k,
			     int n_bins, rml_calib_measures *m, rml_error *err);

/* The risk-coverage curve: rows with a label (class or RML_CALIB_OOD,
 * which counts as an error) sorted from least to most uncertain by rule
 * (entropy or confidence; rows of equal uncertainty enter together);
 * point j is (coverage, risk) after the j-th group: the share of rows
 * kept and the error rate among them. coverage and risk need room for n
 * points; *n_points receives how many there are (0 without labelled rows)
 * and *aurc (may be NULL) the area under the curve, sum over groups of
 * risk times the coverage the group adds (NaN without points). */
rml_status rml_risk_coverage(const float *probs, const int32_t *labels, int64_t n, int64_t k,
			     rml_reject_rule rule, double *coverage, double *risk,
			     int64_t *n_points, double *aurc, rml_error *err);

/* ---- pictures -------------------------------------------------------------------- */

/* Reliability diagrams side by side as one PNG at path: for each of the
 * n_panels (1..4) sets of in-distribution top-label confidences conf[p]
 * [n[p]] and correctness correct[p] [n[p]], n_bins (1..100) equal-width
 * bins drawn as bars of accuracy against the diagonal, the gap to the
 * mean confidence shaded, the share of examples per bin below, and the
 * panel's title and ECE above. */
rml_status rml_reliability_png(const char *path, int n_panels, const char *const *titles,
			       const float *const *conf, const uint8_t *const *correct,
			       const int64_t *n, int n_bins, rml_error *err);

/* ---- the calibrator a model carries ----------------------------------------
 * Stored as rml_calib_to_file's keys and tensors under "calib.", then the
 * rejection rule as "calib.reject_rule" (entropy, confidence) and
 * "calib.reject_threshold" (see rmlops-format(5)). Programs check it
 * once after loading a model (rml_model_calib_check); the functions below
 * read it again when asked, so they never disagree with the model file. */

/* What a hostile file could get wrong: a calibrator that does not read
 * back, a "calib." tensor that is not the calibrator's, a rule that is not
 * entropy or confidence, a threshold missing, alone or outside the rule's
 * range. RML_ERR_FORMAT with a message starting "model: " (or the
 * calibrator's own), RML_ERR_NOMEM. */
rml_status rml_model_calib_check(const rml_model *m, rml_error *err);
/* The method name ("bbq", ...) of the calibrator the model carries, or
 * NULL when it carries none. Valid while the model is unchanged. */
const char *rml_model_calibrator_method(const rml_model *m);
/* A copy of the calibrator the model carries into c (rml_calib_free it);
 * RML_ERR_ARG when it carries none, or an error of rml_model_calib_check
 * (c is then empty). */
rml_status rml_model_calibrator(const rml_model *m, rml_calib *c, rml_error *err);
/* Give the model the fitted calibrator c (stored as keys and tensors; NULL
 * removes it, and with it the rejection rule). RML_ERR_ARG for a
 * calibrator that was never fitted; RML_ERR_NOMEM; on failure the model
 * keeps what it had. */
rml_status rml_model_set_calibrator(rml_model *m, const rml_calib *c, rml_error *err);
/* The stored rejection rule and threshold (RML_REJECT_NONE and NaN when
 * none): entropy rejects above the threshold, confidence below it, as
 * rml_predictions_reject with rate < 0. Either pointer may be NULL. */
void rml_model_reject_rule(const rml_model *m, rml_reject_rule *rule, double *threshold);
/* Store a rule and threshold (RML_REJECT_NONE, or a threshold that is not
 * finite, clears it). A rule may be stored without a calibrator.
 * RML_ERR_NOMEM leaves the old one. */
rml_status rml_model_set_reject_rule(rml_model *m, rml_reject_rule rule, double threshold,
				     rml_error *err);
/* Probabilities probs [n,k] (k = n_classes) from logits [n,k]: softmax,
 * then the calibrator when the model has one (rml_calib_apply; the
 * temperature method reads the logits). probs must not alias logits. A
 * row with NaN or Inf comes out not finite, as from the raw softmax, so
 * measures count it as wrong. RML_ERR_ARG for n < 0 or NULL arrays; the
 * errors of rml_model_calibrator. */
rml_status rml_model_probs(const rml_model *m, const float *logits, int64_t n, float *probs,
			   rml_error *err);

/* Probabilities [d->n, k] of model m on dataset d (rml_model_predict in
 * batches of batch), through the model's calibrator when it has one and
 * calibrated is not 0 (without logits at hand, temperature scaling works
 * on log-probabilities: the same softmax). */
rml_status rml_model_predict_calibrated(rml_model *m, const rml_dataset *d, int64_t batch,
					int calibrated, float *probs, rml_error *err);

#endif
