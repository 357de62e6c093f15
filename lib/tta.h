/*
 * tta.h — test-time adaptation without labels: MEMO (Zhang, Levine and
 * Finn, "MEMO: Test Time Robustness via Adaptation and Augmentation",
 * NeurIPS 2022) and TENT (Wang et al., "Tent: Fully Test-Time Adaptation
 * by Entropy Minimization", ICLR 2021) over the parameters a resilient
 * model is allowed to move at run time: the adapter group PHI (or any
 * chosen groups), or the batch-norm affine parameters.
 *
 * MEMO, per input: B augmented copies (augment.h, AugMix with MEMO's crop
 * and flip), loss = entropy of the mean of their softmax outputs, a few
 * SGD steps, then the prediction on the original input. TENT, per batch:
 * loss = mean entropy of the predictions with batch-norm using batch
 * statistics, a few SGD steps, then the prediction on the batch (again
 * with batch statistics). Episodic mode restores the adapted parameters
 * (and the optimiser state) after every input (MEMO) or batch (TENT);
 * continual mode keeps adapting along the stream.
 *
 * Deterministic: input i (its index in the stream) draws its
 * augmentations from rml_rng_seed_stream(seed, i), so results depend on
 * the seed, the inputs, the thread count and (TENT) the batch size, never
 * on how the caller chunks the stream. Memory is sized once at init: a
 * copy of only the adapted parameters, the scratch of the augmentations,
 * no allocation per input.
 *
 * Not here: rejection (metrics.h: rml_predictions_reject), files, the
 * corruptions adapted to (corrupt.h).
 */
#ifndef RML_TTA_H
#define RML_TTA_H

#include <stdint.h>

#include "augment.h"
#include "model.h"
#include "optimizer.h"
#include "rml.h"

typedef enum { RML_TTA_MEMO = 0, RML_TTA_TENT = 1 } rml_tta_method;
/* What moves: whole parameter groups (contiguous ranges), or the
 * batch-norm scales and shifts (gamma, beta), which live in THETA. */
typedef enum { RML_TTA_TUNE_GROUPS = 0, RML_TTA_TUNE_BN = 1 } rml_tta_tune;

typedef struct {
	rml_tta_method method;
	int continual;        /* 0: episodic (reset after each input / batch) */
	rml_tta_tune tune;
	unsigned groups;      /* RML_TTA_TUNE_GROUPS: the mask (default PHI) */
	int n_aug;            /* MEMO: augmented copies B (default 8), 1..1024 */
	int steps;            /* adaptation steps per input / batch (default 1), 0..1000 */
	rml_opt_kind optimizer; /* RML_OPT_SGD (default) or RML_OPT_ADAMW (as Adam: no decay) */
	double lr;            /* learning rate (default 0.001) */
	double momentum;      /* SGD momentum (default 0), [0, 1) */
	int batch;            /* TENT: batch size (default 128), 1..65536 */
	int no_calibration;   /* 1: plain softmax even when the model carries a calibrator */
	uint64_t seed;        /* augmentations */
	rml_augmix_opts aug;  /* MEMO: rml_augmix_opts_default */
} rml_tta_opts;

/* MEMO, episodic, PHI, B = 8, one step, SGD, lr 0.001, no momentum, TENT
 * batch 128, seed 1, AugMix defaults. */
void rml_tta_opts_default(rml_tta_opts *o);
/* "memo", "tent". */
const char *rml_tta_method_name(rml_tta_method m);

typedef struct rml_tta rml_tta;

/* Statistics of a run so far (over every rml_tta_run call). */
typedef struct {
	int64_t inputs;       /* images predicted */
	int64_t updates;      /* SGD steps taken */
	int64_t skipped;      /* steps not taken: loss or gradient not finite */
	double seconds;       /* wall time inside rml_tta_run */
	double aug_seconds;   /* of which making augmented copies (MEMO) */
} rml_tta_stats;

/* Prepare adaptation of m with options o: checks the options (RML_ERR_ARG
 * naming the bad one), that the groups to tune exist and hold parameters
 * (RML_ERR_ARG, e.g. PHI on a model without adapters) or that the model
 * has batch norm (TUNE_BN), reserves the model for the largest batch with
 * gradients, sets the trainable groups (for TUNE_BN: THETA, see tta.c),
 * and saves the parameters that will move. m must outlive t and must not
 * be changed by anyone else while t is in use. */
rml_status rml_tta_init(rml_tta **t, rml_model *m, const rml_tta_opts *o, rml_error *err);
/* Make nothing trainable and release t. The model keeps the parameters
 * it has (continual mode: the adapted ones; rml_tta_reset first undoes
 * them). NULL is allowed. */
void rml_tta_free(rml_tta *t);

/* Adapt and predict images [n,h,w,c] (uint8, the model's input shape),
 * which are inputs first..first+n-1 of the stream. probs_after [n,k]:
 * the predictions after adaptation (rml_model_probs: the softmax, then
 * the model's calibrator when it carries one, unless no_calibration; the
 * losses always use the plain softmax); probs_before
 * [n,k] or NULL: the model's predictions on each input before it adapts
 * to it (MEMO: eval mode; TENT: the first batch-statistics forward of the
 * batch). TENT cuts the n images into consecutive batches of opts.batch
 * counted from `first`, so callers pass chunks that start at multiples of
 * the batch size (RML_ERR_ARG otherwise). A step whose loss or gradient
 * is not finite (a faulty model) is skipped and counted. Errors: negative
 * n or first, NULL buffers, a misaligned TENT chunk (RML_ERR_ARG), and
 * whatever the model's forward and backward passes report. */
rml_status rml_tta_run(rml_tta *t, const uint8_t *images, int64_t n, int64_t first,
		       float *probs_before, float *probs_after, rml_error *err);

/* Adapt along a whole stream of n images [n,h,w,c] and predict each, as
 * rml_tta_run does for a chunk: the stream visits the images in their
 * order, or with shuffle in a permutation drawn from seed (TENT's batches
 * are consecutive inputs of the stream; MEMO names each input by its
 * index in images, so an episodic MEMO run is the same in any order).
 * probs_before (or NULL) and probs_after [n,k] are in the order of
 * images, not of the stream. progress, when not NULL, is called after
 * each chunk with (ctx, done, n). Errors as rml_tta_run's, and
 * RML_ERR_NOMEM. */
rml_status rml_tta_run_stream(rml_tta *t, const uint8_t *images, int64_t n, int shuffle,
			      uint64_t seed, float *probs_before, float *probs_after,
			      void (*progress)(void *ctx, int64_t done, int64_t total), void *ctx,
			      rml_error *err);

/* Put the adapted parameters (and the optimiser state) back to where they
 * were at init; continual mode calls it never by itself. */
void rml_tta_reset(rml_tta *t);

void rml_tta_get_stats(const rml_tta *t, rml_tta_stats *s);
/* Number of parameters adaptation moves. */
int64_t rml_tta_n_adapted(const rml_tta *t);

/* ---- the losses, exposed for tests ------------------------------------- */

/* MEMO's marginal entropy H(pbar), pbar = (1/b) sum_i softmax(z_i), of
 * logits z [b,k], in nats. With dz not NULL, its gradient [b,k]:
 *   dH/dz_ij = -(1/b) p_ij (log pbar_j - sum_l p_il log pbar_l),
 * p_i = softmax(z_i). work: (b + 1) * k doubles. Returns NaN (dz
 * untouched) when a logit is not finite. */
double rml_memo_loss(const float *z, int64_t b, int64_t k, float *dz, double *work);
/* TENT's loss: mean over the n rows of the entropy of softmax(z_i); with
 * dz, its gradient dH_i/dz_ij / n = -(1/n) p_ij (log p_ij + H_i). work: k
 * doubles. NaN (dz untouched) for a non-finite logit. */
double rml_tent_loss(const float *z, int64_t n, int64_t k, float *dz, double *work);

#endif
