/*
 * train_run.c — rmlops-train's run around train.h (train_run.h): its
 * argument checks, resuming, checkpoints, an epoch's figures and the
 * final model. The messages are the program's: a change here changes
 * what users read.
 */
#include "train_run.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "calib_model.h"
#include "train_report.h"

rml_train_settings rml_train_settings_defaults(void)
{
	return (rml_train_settings){ .epochs = 10, .batch = 128, .seed = 1, .warmup = 1, .lr = -1,
				     .momentum = 0.9, .wd = -1, .smoothing = 0.1, .crop = 1, .flip = 1 };
}

rml_status rml_train_args_check(const rml_train_args *a, rml_train_settings *s, rml_error *err)
{
	/* The parameters of recipe items need the items, which they then set. */
	if (a->ra_n || a->cutout || a->erasing || a->mixup || a->cutmix) {
		if (!(a->given & RML_TS_AUGMENT))
			return rml_errorf(err, RML_ERR_ARG, "--randaugment, --cutout, --erasing, --mixup and "
					  "--cutmix need --augment with their item");
		const char *missing = rml_train_recipe_params(s, (int)a->ra_n, (int)a->ra_m, (int)a->cutout,
							      a->erasing, a->mixup, a->cutmix);
		if (missing)
			return rml_errorf(err, RML_ERR_ARG, "--%s needs %s in --augment", missing, missing);
	}
	const char *msg = NULL;
	if (a->ema_eval && !(a->given & RML_TS_EMA) && !a->resume)
		msg = "--ema-eval needs --ema DECAY";
	else if (!a->data)
		msg = "no training data; give -d FILE";
	else if (a->model && a->arch)
		msg = "--model and --arch exclude each other";
	else if (a->resume && (a->model || a->arch || a->gamma))
		msg = "--resume carries its own model; drop --model, --arch, --adapters";
	else if (a->until && !a->resume && a->until > s->epochs)
		return rml_errorf(err, RML_ERR_ARG, "--until %lld is beyond --epochs %lld",
				  (long long)a->until, (long long)s->epochs);
	else if (a->until && !a->checkpoint)
		msg = "--until needs --checkpoint FILE to continue from";
	else if (a->log && strcmp(a->log, "-") == 0)
		msg = "--log wants a file: it is rewritten on --resume";
	else if (a->plot && strcmp(a->plot, "-") == 0)
		msg = "--plot wants a file: it is redrawn after every epoch";
	else if (a->adapters && !a->model)
		msg = "--adapter-file needs --model, the base it belongs to";
	return msg ? rml_errorf(err, RML_ERR_ARG, "%s", msg) : RML_OK;
}

rml_status rml_train_run_resume(rml_train_run *r, rml_train_settings *s, rml_train_args *a,
				const rml_file *ck, rml_outbuf *warn, rml_error *err)
{
	rml_status st = rml_model_from_file(&r->m, ck, err);
	if (!st)
		st = rml_model_calib_check(r->m, err);
	if (st)
		return st;
	st = rml_train_checkpoint_check(ck, r->digest, &r->start_epoch, err);
	if (st == RML_ERR_FORMAT)
		return rml_errorf(err, st, "%s is not a checkpoint (no train.epoch)", a->resume);
	if (st == RML_ERR_MISMATCH)
		return rml_errorf(err, st, "%s was trained on other data than %s; to train further on new "
				  "data, start from it with -m", a->resume, a->data);
	if (st)
		return st;
	unsigned differ;
	rml_train_settings was;
	if ((st = rml_train_settings_resume(s, a->given, ck, &differ, &was, err)) ||
	    (st = rml_train_ema_eval_from_file(ck, &a->ema_eval, err)))
		return st;
	rml_train_differ_text(warn, s, &was, differ);
	return RML_OK;
}

rml_status rml_train_run_checkpoint(const rml_train_run *r, const rml_train_settings *s,
				    int ema_eval, int64_t epoch, rml_file *f, rml_error *err)
{
	rml_status st = rml_train_checkpoint_to_file(r->m, &r->opt, s, epoch, r->digest, f, err);
	if (!st && r->ema.avg)
		st = rml_ema_to_file(&r->ema, f, err);
	if (!st && ema_eval && rml_set_i64(f, "train.ema_eval", 1))
		st = rml_errorf(err, RML_ERR_NOMEM, "out of memory");
	return st;
}

rml_status rml_train_run_epoch_timed(rml_train_run *r, const rml_train_settings *s, int64_t e,
				     int (*progress)(void *ctx, int64_t done, int64_t total),
				     void *ctx, rml_train_epoch_result *res, int *stopped,
				     rml_error *err)
{
	rml_train_stats ts;
	double t0 = rml_now(), lr;
	rml_status st = rml_train_run_epoch(r, s, e, progress, ctx, &ts, &lr, stopped, err);
	if (st == RML_ERR_NUMERIC) {
		char msg[sizeof err->msg];
		snprintf(msg, sizeof msg, "%s", err->msg);
		rml_errorf(err, st, "%s; lower --lr", msg);
	}
	if (st || *stopped)
		return st;
	*res = (rml_train_epoch_result){ .epoch = e + 1, .lr = lr, .loss = ts.loss,
					 .train_acc = (double)ts.correct / (double)ts.n, .val_acc = NAN,
					 .val_nll = NAN, .seconds = rml_now() - t0, .images = ts.n };
	return RML_OK;
}

rml_status rml_train_run_epoch_end(rml_train_run *r, const rml_train_settings *s,
				   const rml_train_args *a, rml_train_epoch_result *res, FILE *log,
				   rml_status (*save)(void *ctx, rml_file *f, rml_error *err),
				   void *ctx, rml_error *err)
{
	rml_status st = RML_OK;
	if (r->val && (st = rml_train_run_validate(r, s, a->ema_eval, &res->val_acc, &res->val_nll, err)))
		return st;
	if (a->checkpoint) {
		rml_file f;
		rml_file_init(&f);
		st = rml_train_run_checkpoint(r, s, a->ema_eval, res->epoch, &f, err);
		if (!st)
			st = save(ctx, &f, err);
		rml_file_free(&f);
		if (st)
			return st;
	}
	rml_train_log_line(res->log_line, sizeof res->log_line, res->epoch, res->lr, res->loss,
			   res->train_acc, res->val_acc, res->val_nll, res->seconds, res->images);
	if (log && (fprintf(log, "%s\n", res->log_line) < 0 || fflush(log)))
		return rml_errorf(err, RML_ERR_IO, "cannot write %s", a->log);
	return RML_OK;
}

rml_status rml_train_run_model_to_file(rml_train_run *r, int ema_eval, rml_file *f,
				       rml_error *err)
{
	if (ema_eval)
		rml_ema_swap(&r->ema, r->m);
	return rml_model_to_file(r->m, f, err);
}
