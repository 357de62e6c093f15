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

#include "arch.h"
#include "classes.h"
#include "kernels.h"
#include "augment.h"
#include "metrics.h"
#include "minibatch.h"
#include "outbuf.h"

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

/* Soft targets: rml_train_grad with the soft-target loss. */
static rml_status grad_soft(rml_model *m, rml_mode mode, const float *x, const float *targets,
			    int64_t n, double smoothing, float *probs, float *dlogits, float *loss,
			    rml_error *err)
{
	int64_t k = rml_model_n_classes(m);
	float *logits;
	rml_status st = rml_model_forward(m, x, n, mode, &logits, err);
	if (st)
		return st;
	*loss = rml_xent_soft_forward(probs, logits, targets, n, k, (float)smoothing);
	memset(dlogits, 0, (size_t)(n * k) * sizeof *dlogits);
	rml_xent_soft_backward(dlogits, probs, targets, n, k, (float)smoothing, 1.0f);
	return rml_model_backward(m, dlogits, NULL, err);
}

rml_status rml_train_step(rml_model *m, rml_optim *o, const rml_train_config *cfg,
			  const float *x, const int32_t *y, int64_t n, double lr,
			  rml_train_stats *out, rml_error *err)
{
	return rml_train_step_soft(m, o, cfg, x, y, NULL, n, lr, out, err);
}

rml_status rml_train_step_soft(rml_model *m, rml_optim *o, const rml_train_config *cfg,
			       const float *x, const int32_t *y, const float *targets, int64_t n,
			       double lr, rml_train_stats *out, rml_error *err)
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
	rml_status st = targets ? grad_soft(m, rml_train_mode(cfg->groups), x, targets, n,
					    cfg->smoothing, probs, dlogits, &loss, err)
				: rml_train_grad(m, rml_train_mode(cfg->groups), x, y, n, cfg->smoothing,
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
	/* The recipe's buffers: augmented images, the mixing permutation and
	 * soft targets. */
	int strong = ec->recipe && rml_recipe_is_strong(ec->recipe);
	int64_t k = rml_model_n_classes(m);
	uint8_t *scratch = strong ? malloc(rml_batch_recipe_scratch_size(batch, d->h, d->w, d->c))
				  : NULL;
	int64_t *perm = strong ? malloc((size_t)batch * sizeof *perm) : NULL;
	float *targets = strong && rml_recipe_mixes(ec->recipe)
				 ? malloc((size_t)(batch * k) * sizeof *targets) : NULL;
	if (!x || !y || !order || (strong && (!scratch || !perm)) ||
	    (strong && rml_recipe_mixes(ec->recipe) && !targets)) {
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
		if (strong) {
			st = rml_batch_fill_recipe(x, y, targets, k, d, order + b0, b, ec->recipe,
						   rml_rng_u64(&rng), scratch, perm, NULL, err);
			if (st)
				goto done;
		} else {
			rml_batch_fill(x, y, d, order + b0, b, ec->crop_pad, ec->flip, &rng);
		}
		double lr = rml_lr_cosine(ec->lr, epoch * steps + s, ec->warmup_steps, ec->total_steps);
		rml_train_stats bs;
		st = rml_train_step_soft(m, o, cfg, x, y, targets, b, lr, &bs, err);
		if (st == RML_ERR_NUMERIC && err) {
			/* the step said what (the loss, the weights); add where */
			char what[400];
			snprintf(what, sizeof what, "%.300s", err->msg);
			rml_errorf(err, st, "%s at epoch %lld step %lld", what, (long long)epoch + 1,
				   (long long)s + 1);
		}
		if (st)
			goto done;
		if (ec->ema)
			rml_ema_update(ec->ema, m);
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
	free(scratch);
	free(perm);
	free(targets);
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

/* The recipe's parameters and the average's decay, written only when
 * used, so checkpoints of crop-and-flip runs stay as they were. */
static int recipe_to_file(const rml_train_settings *s, rml_file *f)
{
	int bad = 0;
	if (s->ra_n > 0)
		bad |= rml_set_i64(f, "train.randaugment_n", s->ra_n) ||
		       rml_set_i64(f, "train.randaugment_m", s->ra_m);
	if (s->cutout > 0)
		bad |= rml_set_i64(f, "train.cutout", s->cutout) != RML_OK;
	if (s->erasing > 0)
		bad |= rml_set_f64(f, "train.erasing", s->erasing) != RML_OK;
	if (s->mixup > 0)
		bad |= rml_set_f64(f, "train.mixup", s->mixup) != RML_OK;
	if (s->cutmix > 0)
		bad |= rml_set_f64(f, "train.cutmix", s->cutmix) != RML_OK;
	if (s->ema > 0)
		bad |= rml_set_f64(f, "train.ema", s->ema) != RML_OK;
	return bad;
}

rml_status rml_train_checkpoint_to_file(const rml_model *m, const rml_optim *o,
					const rml_train_settings *s, int64_t epoch,
					const char *digest, rml_file *f, rml_error *err)
{
	char aug[128];
	rml_train_recipe_name(s, aug, sizeof aug);
	rml_status st = rml_model_to_file(m, f, err);
	if (!st)
		st = rml_optim_to_file(o, f, err);
	if (!st && recipe_to_file(s, f))
		st = rml_errorf(err, RML_ERR_NOMEM, "out of memory");
	if (!st &&
	    (rml_set_i64(f, "train.epoch", epoch) || rml_set_i64(f, "train.epochs", s->epochs) ||
	     rml_set_i64(f, "train.seed", s->seed) || rml_set_i64(f, "train.batch", s->batch) ||
	     rml_set_str(f, "train.optimizer", rml_train_opt_name(s->opt)) ||
	     rml_set_f64(f, "train.lr", s->lr) || rml_set_f64(f, "train.momentum", s->momentum) ||
	     rml_set_i64(f, "train.nesterov", s->nesterov) || rml_set_f64(f, "train.wd", s->wd) ||
	     rml_set_i64(f, "train.warmup", s->warmup) ||
	     rml_set_f64(f, "train.label_smoothing", s->smoothing) ||
	     rml_set_str(f, "train.augment", aug) ||
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

/* The recipe's parameters from a checkpoint into r (whose items the
 * train.augment list set); -1 when one is out of range. */
static int recipe_from_file(const rml_file *f, rml_train_settings *r)
{
	int64_t v;
	double x;
	if (r->ra_n > 0 && rml_get(f, "train.randaugment_n")) {
		if (rml_get_i64(f, "train.randaugment_n", &v, NULL) || v < 1 || v > 16)
			return -1;
		r->ra_n = (int)v;
		if (rml_get_i64(f, "train.randaugment_m", &v, NULL) || v < 0 ||
		    v > RML_PA_MAX_MAGNITUDE)
			return -1;
		r->ra_m = (int)v;
	}
	if (r->cutout > 0 && rml_get(f, "train.cutout")) {
		if (rml_get_i64(f, "train.cutout", &v, NULL) || v < 1 || v > RML_AUG_MAX_SIDE)
			return -1;
		r->cutout = (int)v;
	}
	if (r->erasing > 0 && rml_get(f, "train.erasing")) {
		if (rml_get_f64(f, "train.erasing", &x, NULL) || !(x > 0 && x <= 1))
			return -1;
		r->erasing = x;
	}
	if (r->mixup > 0 && rml_get(f, "train.mixup")) {
		if (rml_get_f64(f, "train.mixup", &x, NULL) || !(x > 0 && x <= 1000))
			return -1;
		r->mixup = x;
	}
	if (r->cutmix > 0 && rml_get(f, "train.cutmix")) {
		if (rml_get_f64(f, "train.cutmix", &x, NULL) || !(x > 0 && x <= 1000))
			return -1;
		r->cutmix = x;
	}
	return 0;
}

static void copy_recipe(rml_train_settings *to, const rml_train_settings *from)
{
	to->crop = from->crop;
	to->flip = from->flip;
	to->autoaugment = from->autoaugment;
	to->ra_n = from->ra_n;
	to->ra_m = from->ra_m;
	to->cutout = from->cutout;
	to->erasing = from->erasing;
	to->mixup = from->mixup;
	to->cutmix = from->cutmix;
}

static int same_recipe(const rml_train_settings *a, const rml_train_settings *b)
{
	return a->crop == b->crop && a->flip == b->flip && a->autoaugment == b->autoaugment &&
	       a->ra_n == b->ra_n && a->ra_m == b->ra_m && a->cutout == b->cutout &&
	       a->erasing == b->erasing && a->mixup == b->mixup && a->cutmix == b->cutmix;
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
		rml_train_settings r = *s;
		if (rml_train_recipe_parse(str, &r) || recipe_from_file(f, &r))
			return rml_errorf(err, RML_ERR_FORMAT,
					  "the checkpoint's train.augment '%s' or its parameters are not valid",
					  str);
		copy_recipe(was, &r);
		if (!(given & RML_TS_AUGMENT))
			copy_recipe(s, &r);
		else if (!same_recipe(s, &r))
			*differ |= RML_TS_AUGMENT;
	}
	/* A checkpoint without an average was made without --ema. */
	double ema = 0;
	if (rml_get(f, "train.ema") && rml_get_f64(f, "train.ema", &ema, NULL))
		return rml_errorf(err, RML_ERR_FORMAT, "the checkpoint's train.ema is not a number");
	if (!(ema == 0 || (ema > 0 && ema < 1)))
		return rml_errorf(err, RML_ERR_FORMAT, "the checkpoint's train.ema %g is outside (0, 1)",
				  ema);
	was->ema = ema;
	if (!(given & RML_TS_EMA))
		s->ema = ema;
	else if (s->ema != ema)
		*differ |= RML_TS_EMA;
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

rml_status rml_train_ema_eval_from_file(const rml_file *f, int *ema_eval, rml_error *err)
{
	if (!rml_get(f, "train.ema_eval"))
		return RML_OK;
	int64_t v;
	if (rml_get_i64(f, "train.ema_eval", &v, NULL) || (v != 0 && v != 1))
		return rml_errorf(err, RML_ERR_FORMAT, "the checkpoint's train.ema_eval is not 0 or 1");
	if (v)
		*ema_eval = 1;
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
	int ema_eval = 0;
	if ((st = rml_train_settings_resume(&s, 0, f, &differ, &was, err)) != RML_OK)
		return st;
	return rml_train_ema_eval_from_file(f, &ema_eval, err);
}

/* ---- training recipes in settings ------------------------------------------ */

static const char *const recipe_items[] = { "crop",   "flip",    "autoaugment", "randaugment",
					    "cutout", "erasing", "mixup",       "cutmix" };
#define N_RECIPE_ITEMS 8

int rml_train_recipe_parse(const char *list, rml_train_settings *s)
{
	int on[N_RECIPE_ITEMS] = { 0 };
	char buf[128];
	if (strcmp(list, "none") != 0) {
		if (strlen(list) >= sizeof buf || !list[0])
			return -1;
		strcpy(buf, list);
		for (char *save = NULL, *t = strtok_r(buf, ",", &save); t;
		     t = strtok_r(NULL, ",", &save)) {
			int i = 0;
			while (i < N_RECIPE_ITEMS && strcmp(t, recipe_items[i]))
				i++;
			if (i == N_RECIPE_ITEMS || on[i])
				return -1;
			on[i] = 1;
		}
		/* "crop,,flip" and a trailing comma are not lists. */
		if (strstr(list, ",,") || list[0] == ',' || list[strlen(list) - 1] == ',')
			return -1;
	}
	if (on[2] && on[3])
		return -1;
	s->crop = on[0];
	s->flip = on[1];
	s->autoaugment = on[2];
	s->ra_n = on[3] ? 2 : 0;
	s->ra_m = on[3] ? 9 : 0;
	s->cutout = on[4] ? 16 : 0;
	s->erasing = on[5] ? 0.5 : 0.0;
	s->mixup = on[6] ? 1.0 : 0.0;
	s->cutmix = on[7] ? 1.0 : 0.0;
	return 0;
}

void rml_train_recipe_name(const rml_train_settings *s, char *buf, size_t n)
{
	const int on[N_RECIPE_ITEMS] = { s->crop,	 s->flip,	 s->autoaugment,
					 s->ra_n > 0,	 s->cutout > 0,	 s->erasing > 0,
					 s->mixup > 0, s->cutmix > 0 };
	size_t len = 0;
	buf[0] = 0;
	for (int i = 0; i < N_RECIPE_ITEMS; i++)
		if (on[i] && len < n)
			len += (size_t)snprintf(buf + len, n - len, "%s%s", len ? "," : "",
						recipe_items[i]);
	if (!len)
		snprintf(buf, n, "none");
}

const char *rml_train_recipe_params(rml_train_settings *s, int ra_n, int ra_m, int cutout,
				    double erasing, double mixup, double cutmix)
{
	const char *missing = ra_n && !s->ra_n ? "randaugment"
			      : cutout && !s->cutout ? "cutout"
			      : erasing && !(s->erasing > 0) ? "erasing"
			      : mixup && !(s->mixup > 0) ? "mixup"
			      : cutmix && !(s->cutmix > 0) ? "cutmix" : NULL;
	if (missing)
		return missing;
	if (ra_n) {
		s->ra_n = ra_n;
		s->ra_m = ra_m;
	}
	if (cutout)
		s->cutout = cutout;
	if (erasing)
		s->erasing = erasing;
	if (mixup)
		s->mixup = mixup;
	if (cutmix)
		s->cutmix = cutmix;
	return NULL;
}

rml_recipe rml_train_recipe(const rml_train_settings *s)
{
	return (rml_recipe){ .crop_pad = s->crop ? 4 : 0, .flip = s->flip,
			     .autoaugment = s->autoaugment, .randaugment_n = s->ra_n,
			     .randaugment_m = s->ra_m, .cutout = s->cutout, .erasing = s->erasing,
			     .mixup = s->mixup, .cutmix = s->cutmix };
}

/* ---- exponential moving average of the weights -------------------------- */

rml_status rml_ema_init(rml_ema *e, rml_model *m, double decay, rml_error *err)
{
	memset(e, 0, sizeof *e);
	if (!(decay > 0.0 && decay < 1.0))
		return rml_errorf(err, RML_ERR_ARG, "EMA decay %g outside (0, 1)", decay);
	int64_t nb, nbuf = 0;
	rml_param *b = rml_model_buffers(m, &nb);
	for (int64_t i = 0; i < nb; i++)
		nbuf += b[i].numel;
	e->n_params = rml_model_n_params(m, RML_GROUPS_ALL);
	e->n = e->n_params + nbuf;
	e->decay = decay;
	e->avg = malloc((size_t)(e->n + 1) * sizeof *e->avg);
	if (!e->avg)
		return rml_errorf(err, RML_ERR_NOMEM, "out of memory");
	memcpy(e->avg, rml_model_param_block(m), (size_t)e->n_params * sizeof *e->avg);
	float *p = e->avg + e->n_params;
	for (int64_t i = 0; i < nb; p += b[i].numel, i++)
		memcpy(p, b[i].data, (size_t)b[i].numel * sizeof *p);
	return RML_OK;
}

void rml_ema_free(rml_ema *e)
{
	free(e->avg);
	e->avg = NULL;
}

static void ema_mix(float *avg, const float *w, int64_t n, float d)
{
	/* avg + (1-d)(w - avg): exact when w == avg, as for frozen groups. */
	float r = 1.0f - d;
	for (int64_t i = 0; i < n; i++)
		avg[i] += r * (w[i] - avg[i]);
}

void rml_ema_update(rml_ema *e, rml_model *m)
{
	double t = (double)e->updates, warm = (1.0 + t) / (10.0 + t);
	float d = (float)(e->decay < warm ? e->decay : warm);
	int64_t nb;
	rml_param *b = rml_model_buffers(m, &nb);
	ema_mix(e->avg, rml_model_param_block(m), e->n_params, d);
	float *p = e->avg + e->n_params;
	for (int64_t i = 0; i < nb; p += b[i].numel, i++)
		ema_mix(p, b[i].data, b[i].numel, d);
	e->updates++;
}

static void swap_floats(float *a, float *b, int64_t n)
{
	for (int64_t i = 0; i < n; i++) {
		float t = a[i];
		a[i] = b[i];
		b[i] = t;
	}
}

void rml_ema_swap(rml_ema *e, rml_model *m)
{
	int64_t nb;
	rml_param *b = rml_model_buffers(m, &nb);
	swap_floats(e->avg, rml_model_param_block(m), e->n_params);
	float *p = e->avg + e->n_params;
	for (int64_t i = 0; i < nb; p += b[i].numel, i++)
		swap_floats(p, b[i].data, b[i].numel);
}

rml_status rml_ema_to_file(const rml_ema *e, rml_file *f, rml_error *err)
{
	int64_t d[1] = { e->n };
	if (rml_set_f64(f, "ema.decay", e->decay) || rml_set_i64(f, "ema.updates", e->updates))
		return rml_errorf(err, RML_ERR_NOMEM, "out of memory");
	if (!rml_add_tensor(f, "optim.ema", RML_DTYPE_F32, 1, d, e->avg, err))
		return err ? err->code : RML_ERR_NOMEM;
	return RML_OK;
}

int rml_ema_in_file(const rml_file *f)
{
	return rml_find_tensor(f, "optim.ema") != NULL;
}

rml_status rml_ema_from_file(rml_ema *e, const rml_file *f, rml_error *err)
{
	rml_tensor *t = rml_expect_tensor(f, "optim.ema", RML_DTYPE_F32, 1, err);
	if (!t)
		return err ? err->code : RML_ERR_FORMAT;
	if (t->dims[0] != e->n)
		return rml_errorf(err, RML_ERR_MISMATCH,
				  "the checkpoint's weight average has %lld values, the model %lld",
				  (long long)t->dims[0], (long long)e->n);
	int64_t updates;
	if (rml_get_i64(f, "ema.updates", &updates, err))
		return err ? err->code : RML_ERR_FORMAT;
	if (updates < 0)
		return rml_errorf(err, RML_ERR_FORMAT, "the checkpoint's ema.updates is negative");
	for (int64_t i = 0; i < e->n; i++)
		if (!isfinite(((const float *)t->data)[i]))
			return rml_errorf(err, RML_ERR_FORMAT,
					  "the checkpoint's weight average is not finite");
	memcpy(e->avg, t->data, (size_t)e->n * sizeof *e->avg);
	e->updates = updates;
	return RML_OK;
}

int64_t rml_train_batch_for(int64_t batch, const rml_dataset *d)
{
	return d->n > 0 && batch > d->n ? d->n : batch;
}

rml_status rml_train_check_labels(const rml_dataset *d, const char *what, rml_error *err)
{
	for (int64_t i = 0; i < d->n; i++)
		if (d->labels[i] < 0)
			return rml_errorf(err, RML_ERR_ARG, "%s image %lld has no label", what, (long long)i);
	return RML_OK;
}

FILE *rml_log_reopen(const char *path, rml_log_keep_fn keep, void *ctx, rml_error *err)
{
	FILE *fp = NULL;
	if (keep && (fp = fopen(path, "r"))) {
		/* The kept lines replace the file at once (a temporary file
		 * renamed over it): written through the stream instead, they sat
		 * in its buffer until the next line, and a run killed before that
		 * left the log cut short. */
		rml_outbuf kept;
		rml_outbuf_init(&kept);
		char *line = NULL;
		size_t cap = 0;
		int r = 1;
		for (int64_t i = 0; r >= 0 && getline(&line, &cap, fp) > 0; i++)
			if ((r = keep(ctx, i, line)) > 0)
				rml_outbuf_add(&kept, line, strlen(line));
		free(line);
		fclose(fp);
		rml_status st = rml_outbuf_save(&kept, path, err);
		rml_outbuf_free(&kept);
		if (st)
			return NULL;
		fp = fopen(path, "a");
	} else {
		fp = fopen(path, "w");
	}
	if (!fp)
		rml_errorf(err, RML_ERR_IO, "cannot write %s", path);
	return fp;
}

/* Keep the lines of epochs 1..*(int64_t *)ctx. */
static int keep_epochs_upto(void *ctx, int64_t i, const char *line)
{
	long long e;
	(void)i;
	return sscanf(line, "{\"epoch\":%lld", &e) == 1 && e <= *(const int64_t *)ctx;
}

FILE *rml_train_log_open(const char *path, int64_t keep_epochs, rml_error *err)
{
	return rml_log_reopen(path, keep_epochs > 0 ? keep_epochs_upto : NULL, &keep_epochs, err);
}

static void json_or_null(char *buf, size_t n, double v)
{
	if (isfinite(v))
		snprintf(buf, n, "%.5f", v);
	else
		snprintf(buf, n, "null");
}

void rml_train_log_line(char *buf, size_t n, int64_t epoch, double lr, double loss,
			double train_acc, double val_acc, double val_nll, double seconds,
			int64_t images)
{
	char va[32], vn[32];
	json_or_null(va, sizeof va, val_acc);
	json_or_null(vn, sizeof vn, val_nll);
	snprintf(buf, n,
		 "{\"epoch\":%lld,\"lr\":%.6g,\"loss\":%.5f,\"train_acc\":%.5f,\"val_acc\":%s,"
		 "\"val_nll\":%s,\"seconds\":%.2f,\"images_per_s\":%.1f}",
		 (long long)epoch, lr, loss, train_acc, va, vn, seconds,
		 seconds > 0 ? (double)images / seconds : 0.0);
}

rml_status rml_train_new_model(rml_model **m, const char *arch, const rml_dataset *train,
			       uint64_t seed, rml_error *err)
{
	rml_model_config cfg = { arch ? arch : "mvit-xxs", train->n_classes, 0, seed };
	char *text = NULL;
	rml_status s = arch ? rml_arch_text(arch, &text, &cfg.arch, err) : RML_OK;
	if (!s)
		s = rml_model_create(m, &cfg, err);
	free(text);
	if (!s)
		s = rml_model_set_class_names(*m, (const char *const *)train->class_names,
					      train->n_classes, err);
	return s;
}

rml_status rml_train_run_prepare(rml_train_run *r, rml_train_settings *s,
				 const rml_train_run_options *o, int *ema_fresh, rml_error *err)
{
	*ema_fresh = 0;
	if (s->lr < 0)
		s->lr = s->opt == RML_OPT_SGD ? 0.1 : 0.002;
	if (s->wd < 0)
		s->wd = s->opt == RML_OPT_SGD ? 5e-4 : 0.05;
	rml_status st = rml_train_settings_check(s, "--", err);  /* the bounds a checkpoint meets too */
	if (st)
		return st;
	if (o->until > s->epochs)
		return rml_errorf(err, RML_ERR_ARG, "--until %lld is beyond --epochs %lld",
				  (long long)o->until, (long long)s->epochs);
	if (o->gamma && !rml_model_has_adapters(r->m) &&
	    (st = rml_model_add_adapters(r->m, (int)o->gamma, (uint64_t)s->seed, err)))
		return st;
	/* The data fits the model: image shape, classes by name (a subset of
	 * the model's is mapped onto them), every image labelled. The
	 * datasets are the caller's, mapped here in place. */
	rml_dataset *train = r->train, *val = r->val;
	if ((st = rml_dataset_fit_model(train, r->m, 1, o->train_name, err)) ||
	    (val && (st = rml_dataset_fit_model(val, r->m, 1, o->val_name, err))) ||
	    (st = rml_train_check_labels(train, "training", err)) ||
	    (val && (st = rml_train_check_labels(val, "validation", err))))
		return st;
	/* Fine-tuning defaults to the adapter and the head, or the head alone. */
	if (!s->tune[0])
		strcpy(s->tune, !o->fine_tune ? "all" : rml_model_has_adapters(r->m) ? "phi,W" : "W");
	unsigned mask = RML_GROUPS_ALL;
	if ((st = rml_group_mask_parse(s->tune, &mask, err)))
		return st;
	if (rml_model_n_params(r->m, mask) == 0)
		return rml_errorf(err, RML_ERR_ARG, "nothing to train in groups '%s' (no adapters?)",
				  s->tune);
	r->cfg = (rml_train_config){ .smoothing = s->smoothing, .wd = s->wd, .groups = mask };
	rml_model_set_trainable(r->m, mask);
	if ((st = rml_model_reserve(r->m, rml_train_batch_for(s->batch, r->train), 1, err)) ||
	    (st = rml_optim_init(&r->opt, s->opt, rml_model_n_params(r->m, RML_GROUPS_ALL), err)))
		return st;
	/* Before the checkpoint's state: one without these keys keeps them. */
	r->opt.momentum = (float)s->momentum;
	r->opt.nesterov = s->nesterov;
	if (o->ckpt && (st = rml_optim_from_file(&r->opt, o->ckpt, err)))
		return st;
	if (o->ema_eval && !(s->ema > 0))
		return rml_errorf(err, RML_ERR_ARG,
				  "--ema-eval needs --ema DECAY (the checkpoint has none)");
	r->recipe = rml_train_recipe(s);
	if (s->ema > 0) {
		if ((st = rml_ema_init(&r->ema, r->m, s->ema, err)))
			return st;
		if (o->ckpt && rml_ema_in_file(o->ckpt)) {
			double decay = r->ema.decay;
			if ((st = rml_ema_from_file(&r->ema, o->ckpt, err)))
				return st;
			r->ema.decay = decay;
		} else if (o->ckpt) {
			*ema_fresh = 1;
		}
	}
	/* The command line may have changed these (with a warning). */
	r->opt.momentum = (float)s->momentum;
	r->opt.nesterov = s->nesterov;
	return RML_OK;
}

rml_status rml_train_run_epoch(rml_train_run *r, const rml_train_settings *s, int64_t e,
			       int (*progress)(void *ctx, int64_t done, int64_t total), void *ctx,
			       rml_train_stats *out, double *lr_end, int *stopped, rml_error *err)
{
	int64_t steps = rml_train_steps_per_epoch(r->train->n, s->batch);
	int64_t total = steps * s->epochs;
	rml_train_epoch_config ec = { rml_train_batch_for(s->batch, r->train), s->crop ? 4 : 0,
				      s->flip, (uint64_t)s->seed, s->lr, steps * s->warmup, total,
				      progress, ctx, &r->recipe, r->ema.avg ? &r->ema : NULL };
	*lr_end = rml_lr_cosine(s->lr, (e + 1) * steps - 1, ec.warmup_steps, total);
	return rml_train_epoch(r->m, &r->opt, &r->cfg, &ec, r->train, e, out, stopped, err);
}

rml_status rml_train_run_validate(rml_train_run *r, const rml_train_settings *s, int ema_eval,
				  double *acc, double *nll, rml_error *err)
{
	if (ema_eval)
		rml_ema_swap(&r->ema, r->m);
	rml_status st = rml_train_validate(r->m, r->val, rml_train_batch_for(s->batch, r->val), acc,
					   nll, err);
	if (ema_eval)
		rml_ema_swap(&r->ema, r->m);
	return st;
}

void rml_train_run_free(rml_train_run *r)
{
	rml_optim_free(&r->opt);
	rml_ema_free(&r->ema);
	rml_model_free(r->m);
	r->m = NULL;
}
