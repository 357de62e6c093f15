/*
 * train.c — supervised training steps, epochs, validation and checkpoints
 * (see train.h). The step is the one rmlops-train has always taken; the
 * order of the floating-point operations is kept, so runs stay
 * byte-identical.
 */
#include "train.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels.h"
#include "metrics.h"
#include "minibatch.h"

rml_mode rml_train_mode(unsigned groups)
{
	return groups & RML_GROUP_BIT(RML_GROUP_THETA) ? RML_MODE_TRAIN : RML_MODE_EVAL;
}

rml_status rml_train_grad(rml_model *m, rml_mode mode, const float *x, const int32_t *y,
			  int64_t n, double smoothing, float scale, float *probs, float *dlogits,
			  float *dx, float *loss, rml_error *err)
{
	int64_t k = rml_model_n_classes(m);
	float *logits;
	rml_status st = rml_model_forward(m, x, n, mode, &logits, err);
	if (st)
		return st;
	float l = rml_xent_forward(probs, logits, y, n, k, (float)smoothing);
	if (loss)
		*loss = l;
	memset(dlogits, 0, (size_t)(n * k) * sizeof *dlogits);
	rml_xent_backward(dlogits, probs, y, n, k, (float)smoothing, scale);
	return rml_model_backward(m, dlogits, dx, err);
}

void rml_train_update(rml_model *m, rml_optim *o, const rml_train_config *cfg, double lr)
{
	int64_t np;
	rml_param *params = rml_model_params(m, &np);
	rml_optim_begin(o);
	for (int64_t p = 0; p < np; p++) {
		if (!(cfg->groups & RML_GROUP_BIT(params[p].group)))
			continue;
		/* No decay on norms and biases (vectors), as is usual. */
		float wd = params[p].ndim > 1 || cfg->decay_vectors ? (float)cfg->wd : 0.0f;
		rml_optim_update(o, params[p].data, params[p].grad, params[p].offset, params[p].numel,
				 (float)lr, wd);
	}
}

/* After an update: are the parameters just moved all finite? One pass of
 * x - x (0 for a number, NaN for NaN or an infinity) per step, small next
 * to the step's forward and backward passes; a NaN learning rate, a
 * diverging run or a corrupted optimiser state stops here instead of
 * writing a model of NaN. */
static rml_status weights_finite(rml_model *m, unsigned groups, rml_error *err)
{
	int64_t np;
	rml_param *params = rml_model_params(m, &np);
	for (int64_t p = 0; p < np; p++) {
		if (!(groups & RML_GROUP_BIT(params[p].group)))
			continue;
		const float *w = params[p].data;
		float acc = 0;
		for (int64_t i = 0; i < params[p].numel; i++)
			acc += w[i] - w[i];
		if (acc != 0)
			return rml_errorf(err, RML_ERR_NUMERIC,
					  "the weights became non-finite (%s) after an update",
					  params[p].name);
	}
	return RML_OK;
}

rml_status rml_train_step(rml_model *m, rml_optim *o, const rml_train_config *cfg,
			  const float *x, const int32_t *y, int64_t n, double lr,
			  rml_train_stats *out, rml_error *err)
{
	int64_t k = rml_model_n_classes(m);
	float *probs = malloc((size_t)(n * k) * sizeof *probs);
	float *dlogits = malloc((size_t)(n * k) * sizeof *dlogits);
	if (!probs || !dlogits) {
		free(probs);
		free(dlogits);
		return rml_errorf(err, RML_ERR_NOMEM, "out of memory");
	}
	rml_model_set_trainable(m, cfg->groups);
	rml_model_zero_grad(m);
	float loss = NAN;
	rml_status st = rml_train_grad(m, rml_train_mode(cfg->groups), x, y, n, cfg->smoothing,
				       1.0f, probs, dlogits, NULL, &loss, err);
	if (out) {
		out->loss = loss;
		out->n = n;
		out->correct = 0;
		for (int64_t i = 0; i < n && isfinite(loss); i++) {
			int64_t best = 0;
			for (int64_t j = 1; j < k; j++)
				if (probs[i * k + j] > probs[i * k + best])
					best = j;
			out->correct += best == y[i];
		}
	}
	free(probs);
	free(dlogits);
	if (!st && !isfinite(loss))
		st = rml_errorf(err, RML_ERR_NUMERIC, "the loss became %g", loss);
	if (!st)
		rml_train_update(m, o, cfg, lr);
	if (!st)
		st = weights_finite(m, cfg->groups, err);
	return st;
}

int64_t rml_train_steps_per_epoch(int64_t n, int64_t b)
{
	return n / b + (n % b != 0);
}

rml_status rml_train_epoch(rml_model *m, rml_optim *o, const rml_train_config *cfg,
			   const rml_train_epoch_config *ec, const rml_dataset *d, int64_t epoch,
			   rml_train_stats *out, int *stopped, rml_error *err)
{
	*stopped = 0;
	memset(out, 0, sizeof *out);
	if (ec->batch < 1 || d->n < 1)
		return rml_errorf(err, RML_ERR_ARG, "an epoch needs a batch size and images");
	rml_status st = rml_model_reserve(m, ec->batch, 1, err);
	if (st)
		return st;
	int64_t img = d->h * d->w * d->c, batch = ec->batch;
	float *x = malloc((size_t)(batch * img) * sizeof *x);
	int32_t *y = malloc((size_t)batch * sizeof *y);
	int64_t *order = malloc((size_t)d->n * sizeof *order);
	if (!x || !y || !order) {
		st = rml_errorf(err, RML_ERR_NOMEM, "out of memory");
		goto done;
	}
	/* Each epoch draws from its own stream, so a resumed run shuffles
	 * and augments exactly as an uninterrupted one. */
	rml_rng rng;
	rml_rng_seed_stream(&rng, ec->seed, (uint64_t)epoch);
	for (int64_t i = 0; i < d->n; i++)
		order[i] = i;
	rml_rng_shuffle(&rng, order, d->n);
	int64_t steps = rml_train_steps_per_epoch(d->n, batch);
	double loss_sum = 0;
	for (int64_t s = 0; s < steps; s++) {
		int64_t b0 = s * batch, b = d->n - b0 < batch ? d->n - b0 : batch;
		rml_batch_fill(x, y, d, order + b0, b, ec->crop_pad, ec->flip, &rng);
		double lr = rml_lr_cosine(ec->lr, epoch * steps + s, ec->warmup_steps, ec->total_steps);
		rml_train_stats bs;
		st = rml_train_step(m, o, cfg, x, y, b, lr, &bs, err);
		if (st == RML_ERR_NUMERIC && err) {
			/* the step said what (the loss, the weights); add where */
			char what[400];
			snprintf(what, sizeof what, "%.300s", err->msg);
			rml_errorf(err, st, "%s at epoch %lld step %lld", what, (long long)epoch + 1,
				   (long long)s + 1);
		}
		if (st)
			goto done;
		loss_sum += bs.loss * (double)b;
		out->correct += bs.correct;
		out->n += b;
		out->loss = loss_sum / (double)out->n;
		if (ec->progress && ec->progress(ec->ctx, s + 1, steps)) {
			*stopped = 1;
			break;
		}
	}
done:
	free(x);
	free(y);
	free(order);
	return st;
}

rml_status rml_train_validate(rml_model *m, const rml_dataset *d, int64_t batch, double *acc,
			      double *nll, rml_error *err)
{
	int64_t k = rml_model_n_classes(m);
	float *probs = malloc((size_t)(d->n * k + 1) * sizeof *probs);
	int32_t *pred = malloc((size_t)(d->n + 1) * sizeof *pred);
	rml_status st = probs && pred ? rml_model_predict(m, d, batch, probs, err)
				      : rml_errorf(err, RML_ERR_NOMEM, "out of memory");
	if (!st) {
		rml_top1(probs, d->n, k, pred, NULL);
		int64_t ok = 0;
		for (int64_t i = 0; i < d->n; i++)
			ok += pred[i] == d->labels[i];
		*acc = d->n ? (double)ok / (double)d->n : 0;
		*nll = rml_nll(probs, d->labels, d->n, k);
	}
	free(probs);
	free(pred);
	return st;
}

/* ---- checkpoints ---------------------------------------------------------- */

int rml_train_augment_parse(const char *s, int *crop, int *flip)
{
	*crop = *flip = 0;
	if (strcmp(s, "none") == 0)
		return 0;
	char buf[64];
	if (strlen(s) >= sizeof buf)
		return -1;
	strcpy(buf, s);
	for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		int *which = strcmp(t, "crop") == 0 ? crop : strcmp(t, "flip") == 0 ? flip : NULL;
		if (!which || *which)
			return -1;
		*which = 1;
	}
	return *crop || *flip ? 0 : -1;
}

const char *rml_train_augment_name(int crop, int flip)
{
	return crop && flip ? "crop,flip" : crop ? "crop" : flip ? "flip" : "none";
}

const char *rml_train_opt_name(rml_opt_kind k)
{
	return k == RML_OPT_SGD ? "sgd" : "adamw";
}

void rml_train_data_digest(const rml_dataset *d, char hex[65])
{
	rml_sha256 h;
	uint8_t out[32];
	int64_t dims[4] = { d->n, d->h, d->w, d->c };
	rml_sha256_init(&h);
	rml_sha256_update(&h, dims, sizeof dims);
	rml_sha256_update(&h, d->images, (size_t)(d->n * d->h * d->w * d->c));
	rml_sha256_update(&h, d->labels, (size_t)d->n * sizeof *d->labels);
	rml_sha256_final(&h, out);
	for (int i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", out[i]);
}

rml_status rml_train_checkpoint_to_file(const rml_model *m, const rml_optim *o,
					const rml_train_settings *s, int64_t epoch,
					const char *digest, rml_file *f, rml_error *err)
{
	rml_status st = rml_model_to_file(m, f, err);
	if (!st)
		st = rml_optim_to_file(o, f, err);
	if (!st &&
	    (rml_set_i64(f, "train.epoch", epoch) || rml_set_i64(f, "train.epochs", s->epochs) ||
	     rml_set_i64(f, "train.seed", s->seed) || rml_set_i64(f, "train.batch", s->batch) ||
	     rml_set_str(f, "train.optimizer", rml_train_opt_name(s->opt)) ||
	     rml_set_f64(f, "train.lr", s->lr) || rml_set_f64(f, "train.momentum", s->momentum) ||
	     rml_set_i64(f, "train.nesterov", s->nesterov) || rml_set_f64(f, "train.wd", s->wd) ||
	     rml_set_i64(f, "train.warmup", s->warmup) ||
	     rml_set_f64(f, "train.label_smoothing", s->smoothing) ||
	     rml_set_str(f, "train.augment", rml_train_augment_name(s->crop, s->flip)) ||
	     rml_set_str(f, "train.tune", s->tune) || rml_set_str(f, "train.data", digest)))
		st = rml_errorf(err, RML_ERR_NOMEM, "out of memory");
	return st;
}

rml_status rml_train_checkpoint_check(const rml_file *f, const char *digest, int64_t *epoch,
				      rml_error *err)
{
	if (!rml_get(f, "train.epoch") || rml_get_i64(f, "train.epoch", epoch, NULL) || *epoch < 0)
		return rml_errorf(err, RML_ERR_FORMAT, "not a checkpoint (no train.epoch)");
	if (*epoch > RML_TRAIN_EPOCHS_MAX)
		return rml_errorf(err, RML_ERR_FORMAT, "the checkpoint's train.epoch %lld is beyond %d",
				  (long long)*epoch, RML_TRAIN_EPOCHS_MAX);
	const char *was;
	if (rml_get(f, "train.data") && !rml_get_str(f, "train.data", &was, NULL) &&
	    strcmp(was, digest))
		return rml_errorf(err, RML_ERR_MISMATCH, "the checkpoint was trained on other data");
	return RML_OK;
}

static rml_status out_of_range(rml_error *err, const char *origin, const char *name,
			       double v, double lo, double hi)
{
	return rml_errorf(err, RML_ERR_ARG, "%s%s %g is outside [%g, %g]", origin, name, v, lo, hi);
}

rml_status rml_train_settings_check(const rml_train_settings *s, const char *origin,
				    rml_error *err)
{
	int cl = strcmp(origin, "--") == 0;  /* option names, else key names */
	const struct {
		const char *opt, *key;
		double v, lo, hi;
	} r[] = {
		{ "epochs", "epochs", (double)s->epochs, 1, RML_TRAIN_EPOCHS_MAX },
		{ "batch", "batch", (double)s->batch, 1, RML_TRAIN_BATCH_MAX },
		{ "warmup", "warmup", (double)s->warmup, 0, RML_TRAIN_WARMUP_MAX },
		{ "seed", "seed", s->seed < 0 ? -1.0 : 0.0, 0, 0 },
		{ "lr", "lr", s->lr, 0, RML_TRAIN_LR_MAX },
		{ "momentum", "momentum", s->momentum, 0, RML_TRAIN_MOMENTUM_MAX },
		{ "wd", "wd", s->wd, 0, RML_TRAIN_WD_MAX },
		{ "label-smoothing", "label_smoothing", s->smoothing, 0, RML_TRAIN_SMOOTHING_MAX },
	};
	for (size_t i = 0; i < sizeof r / sizeof r[0]; i++)
		if (!(r[i].v >= r[i].lo && r[i].v <= r[i].hi)) {
			if (strcmp(r[i].opt, "seed") == 0)
				return rml_errorf(err, RML_ERR_ARG, "%sseed %lld is negative", origin,
						  (long long)s->seed);
			/* the integers: printed whole */
			if (i < 3)
				return rml_errorf(err, RML_ERR_ARG, "%s%s %.0f is outside [%.0f, %.0f]",
						  origin, cl ? r[i].opt : r[i].key, r[i].v, r[i].lo,
						  r[i].hi);
			return out_of_range(err, origin, cl ? r[i].opt : r[i].key, r[i].v, r[i].lo,
					    r[i].hi);
		}
	if (s->opt != RML_OPT_SGD && s->opt != RML_OPT_ADAMW)
		return rml_errorf(err, RML_ERR_ARG, "%soptimizer is not a known optimiser", origin);
	if ((s->crop != 0 && s->crop != 1) || (s->flip != 0 && s->flip != 1) ||
	    (s->nesterov != 0 && s->nesterov != 1))
		return rml_errorf(err, RML_ERR_ARG, "%saugment or nesterov is not a yes/no", origin);
	if (!memchr(s->tune, 0, sizeof s->tune))
		return rml_errorf(err, RML_ERR_ARG, "%stune is too long", origin);
	return RML_OK;
}

/* One integer or real setting: adopted when not given, else compared; a
 * key of the wrong type is an error (it was silently ignored). */
static rml_status resume_i64(const rml_file *f, const char *key, unsigned bit, unsigned given,
			     int64_t *v, int64_t *was, unsigned *differ, rml_error *err)
{
	int64_t x;
	if (!rml_get(f, key))
		return RML_OK;
	if (rml_get_i64(f, key, &x, NULL))
		return rml_errorf(err, RML_ERR_FORMAT, "the checkpoint's %s is not an integer", key);
	*was = x;
	if (!(given & bit))
		*v = x;
	else if (x != *v)
		*differ |= bit;
	return RML_OK;
}

static rml_status resume_f64(const rml_file *f, const char *key, unsigned bit, unsigned given,
			     double *v, double *was, unsigned *differ, rml_error *err)
{
	double x;
	if (!rml_get(f, key))
		return RML_OK;
	if (rml_get_f64(f, key, &x, NULL))
		return rml_errorf(err, RML_ERR_FORMAT, "the checkpoint's %s is not a number", key);
	*was = x;
	if (!(given & bit))
		*v = x;
	else if (x != *v)
		*differ |= bit;
	return RML_OK;
}

rml_status rml_train_settings_resume(rml_train_settings *s, unsigned given, const rml_file *f,
				     unsigned *differ, rml_train_settings *was, rml_error *err)
{
	const char *str;
	*differ = 0;
	*was = *s;
	if (rml_get(f, "train.optimizer")) {
		if (rml_get_str(f, "train.optimizer", &str, NULL))
			return rml_errorf(err, RML_ERR_FORMAT,
					  "the checkpoint's train.optimizer is not a string");
		rml_opt_kind k;
		if (strcmp(str, "adamw") == 0)
			k = RML_OPT_ADAMW;
		else if (strcmp(str, "sgd") == 0)
			k = RML_OPT_SGD;
		else
			return rml_errorf(err, RML_ERR_FORMAT,
					  "the checkpoint's train.optimizer '%.40s' is not sgd or adamw",
					  str);
		if ((given & RML_TS_OPT) && k != s->opt)
			return rml_errorf(err, RML_ERR_MISMATCH,
					  "the checkpoint was made with --optimizer %s", str);
		s->opt = was->opt = k;
	}
	int64_t v = s->nesterov, w = was->nesterov;
	rml_status st = resume_i64(f, "train.epochs", RML_TS_EPOCHS, given, &s->epochs,
				   &was->epochs, differ, err);
	if (!st)
		st = resume_i64(f, "train.batch", RML_TS_BATCH, given, &s->batch, &was->batch, differ,
				err);
	if (!st)
		st = resume_i64(f, "train.seed", RML_TS_SEED, given, &s->seed, &was->seed, differ, err);
	if (!st)
		st = resume_i64(f, "train.warmup", RML_TS_WARMUP, given, &s->warmup, &was->warmup,
				differ, err);
	if (!st)
		st = resume_f64(f, "train.lr", RML_TS_LR, given, &s->lr, &was->lr, differ, err);
	if (!st)
		st = resume_f64(f, "train.momentum", RML_TS_MOMENTUM, given, &s->momentum,
				&was->momentum, differ, err);
	if (!st)
		st = resume_f64(f, "train.wd", RML_TS_WD, given, &s->wd, &was->wd, differ, err);
	if (!st)
		st = resume_f64(f, "train.label_smoothing", RML_TS_SMOOTHING, given, &s->smoothing,
				&was->smoothing, differ, err);
	if (!st)
		st = resume_i64(f, "train.nesterov", RML_TS_NESTEROV, given, &v, &w, differ, err);
	if (st)
		return st;
	if ((w != 0 && w != 1) || (v != 0 && v != 1))
		return rml_errorf(err, RML_ERR_FORMAT, "the checkpoint's train.nesterov %lld is not 0 or 1",
				  (long long)w);
	s->nesterov = (int)v;
	was->nesterov = (int)w;
	if (rml_get(f, "train.augment") && !rml_get_str(f, "train.augment", &str, NULL)) {
		int crop, flip;
		if (rml_train_augment_parse(str, &crop, &flip))
			return rml_errorf(err, RML_ERR_FORMAT,
					  "the checkpoint's train.augment '%s' is not valid", str);
		was->crop = crop;
		was->flip = flip;
		if (!(given & RML_TS_AUGMENT)) {
			s->crop = crop;
			s->flip = flip;
		} else if (crop != s->crop || flip != s->flip) {
			*differ |= RML_TS_AUGMENT;
		}
	}
	if (rml_get(f, "train.tune") && !rml_get_str(f, "train.tune", &str, NULL)) {
		if (strlen(str) >= sizeof s->tune)
			return rml_errorf(err, RML_ERR_FORMAT, "the checkpoint's train.tune is too long");
		strcpy(was->tune, str);
		if (!(given & RML_TS_TUNE))
			strcpy(s->tune, str);
		else if (strcmp(str, s->tune))
			*differ |= RML_TS_TUNE;
	}
	/* The checkpoint's own values, every one, as strictly as options. */
	st = rml_train_settings_check(was, "the checkpoint's train.", err);
	if (st) {
		if (err)
			err->code = RML_ERR_FORMAT;  /* a file's content, not an argument */
		return RML_ERR_FORMAT;
	}
	return RML_OK;
}

rml_status rml_train_state_check(const rml_file *f, rml_error *err)
{
	if (!rml_get(f, "train.epoch"))
		return RML_OK;
	int64_t epoch;
	const rml_kv *d = rml_get(f, "train.data");
	rml_status st = rml_train_checkpoint_check(f, d && d->type == RML_KV_STR ? d->s : "",
						   &epoch, err);
	if (st)
		return st;
	/* Defaults that pass the check; the file's values replace them. */
	rml_train_settings s = { .epochs = 1, .batch = 1, .opt = RML_OPT_SGD };
	rml_train_settings was;
	unsigned differ;
	return rml_train_settings_resume(&s, 0, f, &differ, &was, err);
}
