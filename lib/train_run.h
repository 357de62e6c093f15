/*
 * train_run.h — what rmlops-train's command line asks of a run, checked
 * and carried out around train.h's run (rml_train_run): the arguments
 * beside the settings and their checks, resuming from a checkpoint
 * (model, epoch, data digest, settings, with the warnings of settings
 * that now differ), writing a checkpoint (with the weights' average and
 * whether it is what gets validated and written), an epoch with its
 * timing and its validation as one result, and the final model.
 *
 * Not here: the training itself (train.h), loading inputs and saving
 * outputs with their provenance, printing and the stop signal (the
 * program), the wording of epochs and summaries (train_report.h).
 */
#ifndef RML_TRAIN_RUN_H
#define RML_TRAIN_RUN_H

#include <stdint.h>
#include <stdio.h>

#include "format.h"
#include "outbuf.h"
#include "train.h"

/* The command line beyond the settings (rml_train_settings): its files,
 * adapters to add, where to stop, whether the average is what gets
 * validated and written, the RML_TS_* bits of the settings given, and the
 * recipe items' parameters as given (0: not given). */
typedef struct {
	const char *data, *val, *model, *arch, *output, *checkpoint, *resume, *log, *adapters;
	const char *plot;    /* the learning curve's PNG, redrawn every epoch */
	int64_t gamma, until;
	int ema_eval;
	unsigned given;
	int64_t ra_n, ra_m, cutout;
	double erasing, mixup, cutmix;
} rml_train_args;

/* rmlops-train's settings before its options: 10 epochs, batches of 128,
 * seed 1, one warm-up epoch, sgd with the optimiser's own lr and wd
 * (-1: rml_train_run_prepare picks them), momentum 0.9, label smoothing
 * 0.1, crop and flip. */
rml_train_settings rml_train_settings_defaults(void);

/* Check a's combination and put the recipe items' parameters into s
 * (rml_train_recipe_params), in this order, each failure RML_ERR_ARG
 * with the usage message as rmlops-train prints it: a parameter without
 * --augment, or without its item in it; --ema-eval without --ema (unless
 * resuming); no -d; --model with --arch; --resume with --model, --arch or
 * --adapters; --until beyond --epochs (unless resuming: checked once the
 * checkpoint's epochs are known); --until without --checkpoint; --log to
 * standard output; --plot to standard output; --adapter-file without
 * --model. */
rml_status rml_train_args_check(const rml_train_args *a, rml_train_settings *s, rml_error *err);

/* Resume run r from checkpoint ck (loaded by the caller from a->resume):
 * r->m is the checkpoint's model (its calibrator checked), r->start_epoch
 * its epochs done; r->digest (the training data's, set before) must be
 * the checkpoint's, else RML_ERR_MISMATCH "CKPT was trained on other data
 * than DATA; ..."; a file without train.epoch is RML_ERR_FORMAT "CKPT is
 * not a checkpoint (no train.epoch)". The checkpoint's settings go into s
 * except those whose bits are in a->given (rml_train_settings_resume);
 * one line per given setting that differs goes into warn
 * (rml_train_differ_text). The checkpoint's train.ema_eval, when 1, sets
 * a->ema_eval (a run started with --ema-eval goes on validating and
 * writing the average); any value but 0 or 1 is RML_ERR_FORMAT. */
rml_status rml_train_run_resume(rml_train_run *r, rml_train_settings *s, rml_train_args *a,
				const rml_file *ck, rml_outbuf *warn, rml_error *err);

/* The checkpoint of r after `epoch` epochs under s into f (which the
 * caller stamps and saves): rml_train_checkpoint_to_file, the average
 * when there is one, and train.ema_eval 1 when ema_eval (absent
 * otherwise, so other checkpoints are as before). */
rml_status rml_train_run_checkpoint(const rml_train_run *r, const rml_train_settings *s,
				    int ema_eval, int64_t epoch, rml_file *f, rml_error *err);

/* One epoch's figures: the epoch (from 1), the learning rate of its last
 * step, mean loss, training accuracy, validation accuracy and NLL (NaN
 * without validation), seconds of training (not of validation) and
 * images trained on; and, once the epoch has ended, its log line. */
typedef struct {
	int64_t epoch;
	double lr, loss, train_acc, val_acc, val_nll, seconds;
	int64_t images;
	char log_line[512];
} rml_train_epoch_result;

/* Train epoch e (from 0) of r under s (rml_train_run_epoch; progress and
 * ctx as there) and fill res but for the validation (NaN). A loss that is
 * not finite fails with RML_ERR_NUMERIC and "...; lower --lr"; an epoch
 * cut short by progress sets *stopped and leaves res as it was. */
rml_status rml_train_run_epoch_timed(rml_train_run *r, const rml_train_settings *s, int64_t e,
				     int (*progress)(void *ctx, int64_t done, int64_t total),
				     void *ctx, rml_train_epoch_result *res, int *stopped,
				     rml_error *err);

/* The rest of epoch res of r under a and s: validation on r->val (when
 * there is one) into res's val_acc and val_nll, the average when
 * a->ema_eval (rml_train_run_validate); the checkpoint when
 * a->checkpoint (rml_train_run_checkpoint), handed to save(ctx, f, err)
 * to be stamped and saved; the log line (rml_train_log_line) into
 * res->log_line and on log when not NULL, else RML_ERR_IO "cannot write
 * LOG". */
rml_status rml_train_run_epoch_end(rml_train_run *r, const rml_train_settings *s,
				   const rml_train_args *a, rml_train_epoch_result *res, FILE *log,
				   rml_status (*save)(void *ctx, rml_file *f, rml_error *err),
				   void *ctx, rml_error *err);

/* The trained model into f: the average instead when ema_eval (swapped in
 * for good: call it last). */
rml_status rml_train_run_model_to_file(rml_train_run *r, int ema_eval, rml_file *f,
				       rml_error *err);

#endif
