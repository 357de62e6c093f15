/*
 * train.h — supervised training of a model: one step (forward, softmax
 * cross-entropy with label smoothing, backward, optimiser update with the
 * weight-decay rule), one epoch over a dataset (shuffled, augmented,
 * cosine schedule, optionally under a stronger recipe of minibatch.h
 * with soft targets), validation, an exponential moving average of the
 * weights, and checkpoints that let a run resume exactly (settings,
 * optimiser state, the average, a digest of the training data).
 *
 * Nothing here keeps state between calls: every function works on the
 * model, optimiser and buffers it is given, so several models may train
 * at once in one process, one per thread.
 *
 * Not here: the optimisers themselves (optimizer.h), batch assembly
 * (minibatch.h), losses other than cross-entropy (test-time adaptation's
 * entropy in tta.h, the attacks' per-example losses in attack_model.h),
 * printing progress (the caller's callback does that).
 */
#ifndef RML_TRAIN_H
#define RML_TRAIN_H

#include <stdint.h>
#include <stdio.h>

#include "dataset.h"
#include "format.h"
#include "minibatch.h"
#include "model.h"
#include "optimizer.h"
#include "rml.h"

/* What a step computes and which parameters it moves. */
typedef struct {
	double smoothing;    /* label smoothing in [0, 1) */
	double wd;           /* weight decay, passed to rml_optim_update */
	unsigned groups;     /* trainable groups (RML_GROUP_BIT mask) */
	int decay_vectors;   /* 0: no decay on 1-D tensors (norms, biases), as usual */
} rml_train_config;

/* What a step or an epoch saw. */
typedef struct {
	double loss;         /* mean loss (smoothed cross-entropy) */
	int64_t correct;     /* top-1 right (the first largest probability) */
	int64_t n;           /* images */
} rml_train_stats;

/* The forward mode the trainable groups imply: with THETA frozen, batch
 * norm uses its running statistics (RML_MODE_EVAL), else batch statistics. */
rml_mode rml_train_mode(unsigned groups);

/* Gradient of the mean smoothed cross-entropy of the model on x [n,h,w,c]
 * (pixel units) with labels y [n], times scale, added (+=) to the
 * gradients of the groups the model trains (rml_model_set_trainable), and
 * to dx [n,h,w,c] when dx is not NULL; the caller zeroes them. (With
 * scale n and no smoothing, each image's input gradient is that of its
 * own loss, as attacks want.) probs gets the softmax of the logits. Forward in mode. probs and dlogits are [n, k]
 * scratch of the caller. *loss gets the batch's mean loss (may be NULL);
 * a loss that is not finite is not an error here (the gradients then are
 * not finite either; the caller decides). The model must be reserved for
 * n with gradients. */
rml_status rml_train_grad(rml_model *m, rml_mode mode, const float *x, const int32_t *y,
			  int64_t n, double smoothing, float scale, float *probs, float *dlogits,
			  float *dx, float *loss, rml_error *err);

/* Apply one optimiser step to the parameters of cfg->groups from their
 * gradients, at learning rate lr, each with decay cfg->wd unless it is a
 * vector and cfg->decay_vectors is 0. */
void rml_train_update(rml_model *m, rml_optim *o, const rml_train_config *cfg, double lr);

/* One training step on the batch x [n,h,w,c], y [n]: sets the model's
 * trainable groups to cfg->groups, zeroes their gradients, forwards in
 * rml_train_mode(cfg->groups), takes the gradient of the mean smoothed
 * cross-entropy and updates with rml_train_update. out (may be NULL) gets
 * the batch's loss and correct count. The model must be reserved for n
 * with gradients; o covers the whole parameter block. A loss that is not
 * finite fails with RML_ERR_NUMERIC before any parameter moves ("the loss
 * became nan"), out->loss set. Scratch is allocated per call. */
rml_status rml_train_step(rml_model *m, rml_optim *o, const rml_train_config *cfg,
			  const float *x, const int32_t *y, int64_t n, double lr,
			  rml_train_stats *out, rml_error *err);

/* The same step with soft targets [n,k] (rows summing to 1, as mixup and
 * CutMix make), the loss rml_xent_soft_forward; y [n] (each image's own
 * label) only counts out->correct. With targets NULL it is
 * rml_train_step. */
rml_status rml_train_step_soft(rml_model *m, rml_optim *o, const rml_train_config *cfg,
			       const float *x, const int32_t *y, const float *targets, int64_t n,
			       double lr, rml_train_stats *out, rml_error *err);

/* ---- exponential moving average of the weights ----------------------------
 * avg <- d*avg + (1-d)*w after every step, over every parameter and every
 * buffer (batch-norm running statistics), so the average is a whole model.
 * d = min(decay, (1+t)/(10+t)) at update t (counted from 0): the
 * num_updates rule of TensorFlow's ExponentialMovingAverage, so early
 * averages are not dominated by the initial weights. */
typedef struct {
	float *avg;          /* parameters then buffers, in block order */
	int64_t n_params, n;  /* parameter floats, all floats */
	double decay;
	int64_t updates;
} rml_ema;

/* Start an average at the model's current weights. decay in (0, 1). */
rml_status rml_ema_init(rml_ema *e, rml_model *m, double decay, rml_error *err);
void rml_ema_free(rml_ema *e);
/* One update from the model's current weights. */
void rml_ema_update(rml_ema *e, rml_model *m);
/* Exchange the model's weights and the average (twice restores both):
 * how the averaged model is validated and written. */
void rml_ema_swap(rml_ema *e, rml_model *m);
/* Into a checkpoint: tensor "optim.ema" (a model file loader lets the
 * "optim." tensors of training state ride along), keys "ema.decay",
 * "ema.updates". */
rml_status rml_ema_to_file(const rml_ema *e, rml_file *f, rml_error *err);
/* From a checkpoint into e (set up by rml_ema_init for the same model):
 * RML_ERR_MISMATCH when the size differs, RML_ERR_FORMAT when malformed;
 * the decay stays e's; RML_ERR_FORMAT when f holds none (callers test
 * rml_ema_in_file first). */
rml_status rml_ema_from_file(rml_ema *e, const rml_file *f, rml_error *err);
/* True when f holds an average. */
int rml_ema_in_file(const rml_file *f);

/* One epoch: how batches are drawn and the learning-rate schedule. */
typedef struct {
	int64_t batch;       /* images per step */
	int crop_pad;        /* random-crop padding (0: no crop) */
	int flip;            /* random horizontal flip */
	uint64_t seed;       /* epoch e shuffles and augments from stream (seed, e) */
	double lr;           /* peak learning rate of rml_lr_cosine */
	int64_t warmup_steps, total_steps;
	/* Called after every step with the steps done and the epoch's steps;
	 * a nonzero return stops the epoch there (may be NULL). */
	int (*progress)(void *ctx, int64_t done, int64_t total);
	void *ctx;
	/* When not NULL and stronger than crop and flip (rml_recipe_is_strong),
	 * batches are assembled by rml_batch_fill_recipe instead (crop_pad and
	 * flip above are then ignored): step s takes its seed from the epoch's
	 * stream, and soft targets when the recipe mixes. */
	const rml_recipe *recipe;
	/* When not NULL, updated after every step. */
	rml_ema *ema;
} rml_train_epoch_config;

/* Steps per epoch for n images in batches of b (the last may be short). */
int64_t rml_train_steps_per_epoch(int64_t n, int64_t b);

/* Train over d once (epoch from 0) with rml_train_step: the images in an
 * order shuffled from stream (ec->seed, epoch), assembled by rml_batch_fill
 * with the given augmentation, step s of the epoch at learning rate
 * rml_lr_cosine(ec->lr, epoch * steps + s, warmup, total). *stopped is set
 * when the progress callback stopped it (then out covers the steps done).
 * Labels must be in [0, n_classes); the model is reserved here. A loss
 * that is not finite fails with RML_ERR_NUMERIC ("the loss became nan at
 * epoch E step S", counted from 1). */
rml_status rml_train_epoch(rml_model *m, rml_optim *o, const rml_train_config *cfg,
			   const rml_train_epoch_config *ec, const rml_dataset *d, int64_t epoch,
			   rml_train_stats *out, int *stopped, rml_error *err);

/* Accuracy and mean negative log-likelihood of the model on d (eval mode,
 * batches of batch, rml_model_predict). */
rml_status rml_train_validate(rml_model *m, const rml_dataset *d, int64_t batch, double *acc,
			      double *nll, rml_error *err);

/* A batch larger than d is the whole of d: the same steps and results,
 * without reserving memory for images that do not exist. */
int64_t rml_train_batch_for(int64_t batch, const rml_dataset *d);

/* RML_ERR_ARG naming the first image of d without a label (label < 0),
 * as "<what> image N has no label"; RML_OK when all are labelled. */
rml_status rml_train_check_labels(const rml_dataset *d, const char *what, rml_error *err);

/* A log of one line per step of a run that may be resumed: open path for
 * writing, first copying the lines of the file already there (if any)
 * that keep(ctx, i, line) accepts, i counting the lines from 0 and line
 * ending in its newline: 1 keeps the line, 0 drops it, -1 stops reading
 * (the rest is dropped). keep NULL starts the log empty. Returns the open
 * file, or NULL with RML_ERR_IO. */
typedef int (*rml_log_keep_fn)(void *ctx, int64_t i, const char *line);
FILE *rml_log_reopen(const char *path, rml_log_keep_fn keep, void *ctx, rml_error *err);

/* The training log (one JSON line per epoch): open path for appending,
 * keeping only the lines of epochs 1..keep_epochs a resumed run has
 * already done (lines written after its checkpoint are dropped, so the
 * log reads as one uninterrupted run); keep_epochs 0 starts it empty.
 * Returns the open file, or NULL with RML_ERR_IO. */
FILE *rml_train_log_open(const char *path, int64_t keep_epochs, rml_error *err);

/* One epoch's line of that log (no newline) into buf of n bytes: the keys
 * epoch, lr, loss, train_acc, val_acc, val_nll (null when not finite, as
 * without validation), seconds, images_per_s. */
void rml_train_log_line(char *buf, size_t n, int64_t epoch, double lr, double loss,
			double train_acc, double val_acc, double val_nll, double seconds,
			int64_t images);

/* ---- checkpoints -----------------------------------------------------------
 * A checkpoint is a model file with the optimiser state (rml_optim_to_file)
 * and keys "train.epoch" (epochs done), "train.data" (the data digest) and
 * the settings below, so that a resumed run continues exactly. */

/* Settings that shape a run, as a checkpoint records them. */
typedef struct {
	int64_t epochs, batch, seed, warmup;
	rml_opt_kind opt;
	double lr, momentum, wd, smoothing;
	int nesterov, crop, flip;
	char tune[64];       /* the groups, as given ("phi,W") */
	/* The recipe beyond crop and flip (rml_recipe): AutoAugment,
	 * RandAugment N and M (N 0: off), Cutout side (0: off), the
	 * probability of random erasing (0: off), mixup and CutMix Beta
	 * parameters (0: off). */
	int autoaugment, ra_n, ra_m, cutout;
	double erasing, mixup, cutmix;
	double ema;          /* decay of the weights' average; 0: none */
} rml_train_settings;

/* The bounds of each setting: the command line and a checkpoint are held
 * to the same ones (rml_train_settings_check). */
#define RML_TRAIN_EPOCHS_MAX 100000
#define RML_TRAIN_BATCH_MAX 65536
#define RML_TRAIN_WARMUP_MAX 100000
#define RML_TRAIN_LR_MAX 100.0
#define RML_TRAIN_MOMENTUM_MAX 0.9999
#define RML_TRAIN_WD_MAX 10.0
#define RML_TRAIN_SMOOTHING_MAX 0.999

/* RML_OK when every setting of s is within its bounds: epochs in
 * [1, RML_TRAIN_EPOCHS_MAX], batch [1, RML_TRAIN_BATCH_MAX], warmup
 * [0, RML_TRAIN_WARMUP_MAX], seed >= 0, lr [0, RML_TRAIN_LR_MAX], momentum
 * [0, RML_TRAIN_MOMENTUM_MAX], wd [0, RML_TRAIN_WD_MAX], smoothing
 * [0, RML_TRAIN_SMOOTHING_MAX] (NaN in none), a known optimiser, crop and
 * flip 0 or 1, tune NUL-terminated. Otherwise RML_ERR_ARG with a message
 * naming the setting as `origin` calls it: origin "--" gives "--lr nan is
 * outside [0, 100]", origin "the checkpoint's train." gives "the
 * checkpoint's train.lr nan ...". */
rml_status rml_train_settings_check(const rml_train_settings *s, const char *origin,
				    rml_error *err);

/* One bit per setting, in the order rml_train_settings_resume compares them. */
enum {
	RML_TS_EPOCHS = 1 << 0, RML_TS_BATCH = 1 << 1, RML_TS_OPT = 1 << 2, RML_TS_LR = 1 << 3,
	RML_TS_MOMENTUM = 1 << 4, RML_TS_NESTEROV = 1 << 5, RML_TS_WD = 1 << 6,
	RML_TS_WARMUP = 1 << 7, RML_TS_SMOOTHING = 1 << 8, RML_TS_AUGMENT = 1 << 9,
	RML_TS_SEED = 1 << 10, RML_TS_TUNE = 1 << 11, RML_TS_EMA = 1 << 12,
};

/* "crop,flip", "crop", "flip" or "none" (each name at most once) into
 * crop and flip; -1 for anything else. */
int rml_train_augment_parse(const char *s, int *crop, int *flip);
const char *rml_train_augment_name(int crop, int flip);
/* The --augment list with the recipe items too: crop, flip, autoaugment,
 * randaugment, cutout, erasing, mixup, cutmix (each at most once;
 * autoaugment and randaugment exclude each other; "none" alone), into s.
 * Items switched on get their usual parameters (RandAugment N 2, M 9;
 * Cutout 16; erasing probability 0.5; mixup and CutMix 1.0), items off
 * get 0. Returns -1 for anything else. */
int rml_train_recipe_parse(const char *list, rml_train_settings *s);
/* The list for s, in the order above ("none" when empty), into buf. */
void rml_train_recipe_name(const rml_train_settings *s, char *buf, size_t n);
/* The parameters of recipe items given beside the list, over s (after
 * rml_train_recipe_parse): RandAugment N and M (ra_n 0: not given), the
 * Cutout side, the erasing probability, the mixup and CutMix Beta
 * parameters (0: not given). Each needs its item on in s: the name of the
 * first that is not ("randaugment", "cutout", "erasing", "mixup",
 * "cutmix") is returned and s left as it was; NULL when all were set. */
const char *rml_train_recipe_params(rml_train_settings *s, int ra_n, int ra_m, int cutout,
				    double erasing, double mixup, double cutmix);
/* The rml_recipe s describes. */
rml_recipe rml_train_recipe(const rml_train_settings *s);

/* "sgd" or "adamw" (the name the files and rmlops-train use). */
const char *rml_train_opt_name(rml_opt_kind k);

/* SHA-256 (hex) of a dataset's geometry, images and labels. */
void rml_train_data_digest(const rml_dataset *d, char hex[65]);

/* The checkpoint of m and o after `epoch` epochs of a run with settings s
 * on data with digest, into f (which the caller stamps and saves). */
rml_status rml_train_checkpoint_to_file(const rml_model *m, const rml_optim *o,
					const rml_train_settings *s, int64_t epoch,
					const char *digest, rml_file *f, rml_error *err);

/* Check that f is a checkpoint (RML_ERR_FORMAT without "train.epoch" or
 * with one outside [0, RML_TRAIN_EPOCHS_MAX]) of a run on data with this
 * digest (RML_ERR_MISMATCH when it records another), and give its epoch. */
rml_status rml_train_checkpoint_check(const rml_file *f, const char *digest, int64_t *epoch,
				      rml_error *err);

/* Adopt the settings checkpoint f was made with into s, except those whose
 * bits are in given (set on the command line): those stay, and when they
 * differ from the checkpoint's, their bit goes into *differ and the
 * checkpoint's value into *was (the run then no longer matches an
 * uninterrupted one). Keys an older checkpoint lacks leave s as it is.
 * Every value the checkpoint holds is checked as strictly as the same
 * option on the command line (rml_train_settings_check), adopted or not:
 * a value out of bounds, of the wrong type, an unknown optimiser name, an
 * invalid augment or a tune list too long fail with RML_ERR_FORMAT naming
 * the key; a different optimiser from the one given with
 * RML_ERR_MISMATCH. */
rml_status rml_train_settings_resume(rml_train_settings *s, unsigned given, const rml_file *f,
				     unsigned *differ, rml_train_settings *was, rml_error *err);

/* Whether the run of checkpoint f validates and writes the weights'
 * average (train.ema_eval, which rml_train_run_checkpoint writes): 1 sets
 * *ema_eval, 0 or none leaves it as it is; anything else is
 * RML_ERR_FORMAT "the checkpoint's train.ema_eval is not 0 or 1". */
rml_status rml_train_ema_eval_from_file(const rml_file *f, int *ema_eval, rml_error *err);

/* Check the training settings and optimiser state a model file carries
 * without resuming: rml_train_settings_resume's checks, train.epoch and
 * train.ema_eval. A file without training keys passes. (For readers that
 * only look.) */
rml_status rml_train_state_check(const rml_file *f, rml_error *err);

/* ---- a whole run ------------------------------------------------------------
 * What rmlops-train sets up once and then steps epoch by epoch: the model,
 * its data, the optimiser, the weights' average and the recipe, under the
 * settings s. The caller loads the data and the model (a new one from
 * rml_train_new_model, a given one, or a checkpoint's), saves checkpoints
 * and writes the log. */
typedef struct {
	rml_model *m;                  /* set by the caller; freed by rml_train_run_free */
	rml_dataset *train, *val;      /* val NULL: no validation; the caller's */
	rml_optim opt;
	rml_ema ema;                   /* avg NULL without an average */
	rml_recipe recipe;
	rml_train_config cfg;
	int64_t start_epoch;           /* epochs a resumed run has done */
	char digest[65];               /* of train (rml_train_data_digest) */
} rml_train_run;

/* A new model of architecture arch (a preset name or a YAML file,
 * rml_arch_text; NULL: mvit-xxs) with train's classes and their names,
 * its weights drawn from seed. */
rml_status rml_train_new_model(rml_model **m, const char *arch, const rml_dataset *train,
			       uint64_t seed, rml_error *err);

/* How rml_train_run_prepare settles a run. */
typedef struct {
	const rml_file *ckpt;   /* the checkpoint resumed from (optimiser and average), or NULL */
	int fine_tune;          /* the model was given (-m): tune defaults to phi,W or W */
	int64_t gamma;          /* add adapters of this compression when the model has none; 0: no */
	int64_t until;          /* stop after this epoch (checked against s->epochs); 0: none */
	int ema_eval;           /* validate and write the average (needs s->ema) */
	const char *train_name, *val_name;  /* for messages */
} rml_train_run_options;

/* Settle run r (r->m, r->train and r->val set; r->digest and
 * r->start_epoch too when resuming) under s: lr and wd below 0 take the
 * optimiser's defaults (sgd 0.1 and 5e-4, adamw 0.002 and 0.05), s is
 * checked (rml_train_settings_check with origin "--"), adapters added,
 * the data checked against the model (shape, classes, labels), an empty
 * tune set to its default, the model reserved and made trainable in those
 * groups, the optimiser set up (and restored from the checkpoint), the
 * average started (restored from the checkpoint when it holds one:
 * *ema_fresh is 1 when resuming from one that holds none). */
rml_status rml_train_run_prepare(rml_train_run *r, rml_train_settings *s,
				 const rml_train_run_options *o, int *ema_fresh, rml_error *err);

/* Epoch e (from 0) of the run: rml_train_epoch with s's batch, crop,
 * flip, seed, cosine schedule and recipe, the average updated. progress,
 * ctx as in rml_train_epoch_config; *lr_end the learning rate of the
 * epoch's last step (for the log). */
rml_status rml_train_run_epoch(rml_train_run *r, const rml_train_settings *s, int64_t e,
			       int (*progress)(void *ctx, int64_t done, int64_t total), void *ctx,
			       rml_train_stats *out, double *lr_end, int *stopped, rml_error *err);

/* Validate the run's model on r->val (the average instead when ema_eval,
 * swapped in and back out), in batches of s->batch. */
rml_status rml_train_run_validate(rml_train_run *r, const rml_train_settings *s, int ema_eval,
				  double *acc, double *nll, rml_error *err);

/* Free the model, optimiser and average (not the data). */
void rml_train_run_free(rml_train_run *r);

#endif
