/*
 * tta.c — MEMO and TENT over a model's adapter group or its batch-norm
 * affine parameters (contract in tta.h).
 *
 * What moves is a list of spans of the parameter block: the ranges of the
 * chosen groups (each group is contiguous, so PHI alone is one span), or
 * one span per batch-norm gamma and beta. Only those floats are saved at
 * init and written back by an episodic reset, so a reset costs a copy of
 * a few thousand floats, not of the model.
 *
 * Restricting the gradient work: model.h chooses trainable parameters by
 * whole groups. For groups that is exact (with PHI only, backward ends at
 * the first adapter). The batch-norm parameters are inside THETA, so
 * TUNE_BN makes THETA trainable: backward runs to the stem and also
 * computes the convolution and linear weight gradients, which are never
 * used; only the batch-norm spans are read and updated. That costs the
 * weight-gradient GEMMs (roughly a third of a full training step) and is
 * the price of not having a per-parameter trainable mask in the engine.
 *
 * TENT runs batch norm with batch statistics (RML_MODE_TRAIN), which in
 * this engine also moves the running statistics; TENT does not track
 * them, so they are copied back after every such forward pass.
 *
 * Not here: rejection, files, options parsing.
 */
#include "tta.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "calib_model.h"
#include "kernels.h"

typedef struct {
	float *data, *grad;
	int64_t n;
} span;

struct rml_tta {
	rml_model *m;
	rml_tta_opts o;
	int h, w, c, k;
	span *spans;
	int n_spans;
	int64_t n_adapted;
	float *saved;        /* [n_adapted] the spans at init */
	rml_param *bufs;     /* batch-norm running statistics */
	int64_t n_bufs;
	float *buf_saved;    /* their values, restored after each TRAIN forward */
	int64_t buf_floats;
	rml_optim opt;
	float *xaug;         /* [n_aug, h, w, c] MEMO copies */
	uint8_t *scratch;    /* augmentation scratch */
	float *dz;           /* [max_batch, k] */
	float *probs;        /* [max_batch, k] */
	double *work;        /* [(max_batch + 1) * k] */
	rml_tta_stats st;
};

void rml_tta_opts_default(rml_tta_opts *o)
{
	memset(o, 0, sizeof *o);
	o->method = RML_TTA_MEMO;
	o->continual = 0;
	o->tune = RML_TTA_TUNE_GROUPS;
	o->groups = RML_GROUP_BIT(RML_GROUP_PHI);
	o->n_aug = 8;
	o->steps = 1;
	o->lr = 0.001;
	o->momentum = 0;
	o->batch = 128;
	o->seed = 1;
	rml_augmix_opts_default(&o->aug);
}

const char *rml_tta_method_name(rml_tta_method m)
{
	return m == RML_TTA_MEMO ? "memo" : m == RML_TTA_TENT ? "tent" : NULL;
}

/* ---- losses ------------------------------------------------------------- */

/* log softmax of one row into lp (doubles); 0 when every logit is finite. */
static int log_softmax_row(const float *z, int64_t k, double *lp)
{
	double mx = -INFINITY;
	for (int64_t j = 0; j < k; j++) {
		if (!isfinite(z[j]))
			return -1;
		if (z[j] > mx)
			mx = z[j];
	}
	double s = 0;
	for (int64_t j = 0; j < k; j++)
		s += exp((double)z[j] - mx);
	double lse = mx + log(s);
	for (int64_t j = 0; j < k; j++)
		lp[j] = (double)z[j] - lse;
	return 0;
}

double rml_memo_loss(const float *z, int64_t b, int64_t k, float *dz, double *work)
{
	if (b < 1 || k < 1)
		return NAN;
	double *lp = work, *lpbar = work + b * k;
	for (int64_t i = 0; i < b; i++)
		if (log_softmax_row(z + i * k, k, lp + i * k))
			return NAN;
	/* log pbar_j = logsumexp_i log p_ij - log b: finite even where every
	 * p_ij underflows, so the gradient never meets 0 * log 0. */
	double lb = log((double)b), h = 0;
	for (int64_t j = 0; j < k; j++) {
		double mx = -INFINITY;
		for (int64_t i = 0; i < b; i++)
			if (lp[i * k + j] > mx)
				mx = lp[i * k + j];
		double s = 0;
		for (int64_t i = 0; i < b; i++)
			s += exp(lp[i * k + j] - mx);
		lpbar[j] = mx + log(s) - lb;
		h -= exp(lpbar[j]) * lpbar[j];
	}
	if (dz) {
		for (int64_t i = 0; i < b; i++) {
			const double *l = lp + i * k;
			double dot = 0;
			for (int64_t j = 0; j < k; j++)
				dot += exp(l[j]) * lpbar[j];
			for (int64_t j = 0; j < k; j++)
				dz[i * k + j] = (float)(-exp(l[j]) * (lpbar[j] - dot) / (double)b);
		}
	}
	return h;
}

double rml_tent_loss(const float *z, int64_t n, int64_t k, float *dz, double *work)
{
	if (n < 1 || k < 1)
		return NAN;
	for (int64_t i = 0; i < n; i++)
		for (int64_t j = 0; j < k; j++)
			if (!isfinite(z[i * k + j]))
				return NAN;
	double total = 0;
	for (int64_t i = 0; i < n; i++) {
		log_softmax_row(z + i * k, k, work);
		double h = 0;
		for (int64_t j = 0; j < k; j++)
			h -= exp(work[j]) * work[j];
		total += h;
		if (dz)
			for (int64_t j = 0; j < k; j++)
				dz[i * k + j] = (float)(-exp(work[j]) * (work[j] + h) / (double)n);
	}
	return total / (double)n;
}

/* ---- setup -------------------------------------------------------------- */

static rml_status check_opts(const rml_tta_opts *o, rml_error *err)
{
	if (o->method != RML_TTA_MEMO && o->method != RML_TTA_TENT)
		return rml_errorf(err, RML_ERR_ARG, "unknown adaptation method %d", (int)o->method);
	if (o->tune != RML_TTA_TUNE_GROUPS && o->tune != RML_TTA_TUNE_BN)
		return rml_errorf(err, RML_ERR_ARG, "unknown choice of parameters to tune %d", (int)o->tune);
	if (o->tune == RML_TTA_TUNE_GROUPS && (o->groups & ~RML_GROUPS_ALL))
		return rml_errorf(err, RML_ERR_ARG, "unknown parameter groups in mask 0x%x", o->groups);
	if (o->tune == RML_TTA_TUNE_GROUPS && !o->groups)
		return rml_errorf(err, RML_ERR_ARG, "no parameter group to tune");
	if (o->n_aug < 1 || o->n_aug > 1024)
		return rml_errorf(err, RML_ERR_ARG, "augmented copies must be in 1..1024, not %d", o->n_aug);
	if (o->optimizer != RML_OPT_SGD && o->optimizer != RML_OPT_ADAMW)
		return rml_errorf(err, RML_ERR_ARG, "unknown optimiser %d", (int)o->optimizer);
	if (o->steps < 0 || o->steps > 1000)
		return rml_errorf(err, RML_ERR_ARG, "steps must be in 0..1000, not %d", o->steps);
	if (!(o->lr >= 0 && o->lr <= 1000))
		return rml_errorf(err, RML_ERR_ARG, "learning rate must be in [0, 1000], not %g", o->lr);
	if (!(o->momentum >= 0 && o->momentum < 1))
		return rml_errorf(err, RML_ERR_ARG, "momentum must be in [0, 1), not %g", o->momentum);
	if (o->batch < 1 || o->batch > 65536)
		return rml_errorf(err, RML_ERR_ARG, "batch must be in 1..65536, not %d", o->batch);
	if (o->method == RML_TTA_MEMO)
		return rml_augmix_opts_check(&o->aug, err);
	return RML_OK;
}

/* A parameter is a batch-norm gamma or beta when a running mean buffer
 * carries its prefix: names, not positions, so any architecture works. */
static int is_bn_param(const rml_param *p, const rml_param *bufs, int64_t nb)
{
	if (p->group != RML_GROUP_THETA)
		return 0;
	const char *dot = strrchr(p->name, '.');
	if (!dot || (strcmp(dot, ".gamma") && strcmp(dot, ".beta")))
		return 0;
	size_t len = (size_t)(dot - p->name);
	for (int64_t i = 0; i < nb; i++)
		if (strncmp(bufs[i].name, p->name, len) == 0 && strcmp(bufs[i].name + len, ".running_mean") == 0)
			return 1;
	return 0;
}

static rml_status collect_spans(rml_tta *t, rml_error *err)
{
	rml_model *m = t->m;
	int64_t np;
	rml_param *ps = rml_model_params(m, &np);
	float *pb = rml_model_param_block(m), *gb = rml_model_grad_block(m);
	int cap = t->o.tune == RML_TTA_TUNE_BN ? (int)np : RML_GROUP_COUNT;
	t->spans = calloc((size_t)cap + 1, sizeof *t->spans);
	if (!t->spans)
		return rml_errorf(err, RML_ERR_NOMEM, "out of memory");
	if (t->o.tune == RML_TTA_TUNE_GROUPS) {
		for (int g = 0; g < RML_GROUP_COUNT; g++) {
			if (!(t->o.groups & RML_GROUP_BIT(g)))
				continue;
			int64_t off, cnt;
			rml_model_group_range(m, (rml_group)g, &off, &cnt);
			if (cnt == 0)
				return rml_errorf(err, RML_ERR_ARG, "the model has no parameters in group %s%s",
						  rml_group_name((rml_group)g),
						  g == RML_GROUP_PHI || g == RML_GROUP_OMEGA ? " (no adapters)" : "");
			span *last = t->n_spans ? &t->spans[t->n_spans - 1] : NULL;
			if (last && last->data + last->n == pb + off)
				last->n += cnt;  /* adjacent groups: one span */
			else
				t->spans[t->n_spans++] = (span){ pb + off, gb + off, cnt };
			t->n_adapted += cnt;
		}
	} else {
		for (int64_t i = 0; i < np; i++) {
			if (!is_bn_param(&ps[i], t->bufs, t->n_bufs))
				continue;
			t->spans[t->n_spans++] = (span){ ps[i].data, ps[i].grad, ps[i].numel };
			t->n_adapted += ps[i].numel;
		}
		if (!t->n_spans)
			return rml_errorf(err, RML_ERR_ARG, "the model has no batch-norm parameters to tune");
	}
	return RML_OK;
}

rml_status rml_tta_init(rml_tta **out, rml_model *m, const rml_tta_opts *o, rml_error *err)
{
	*out = NULL;
	rml_status s = check_opts(o, err);
	if (s)
		return s;
	rml_tta *t = calloc(1, sizeof *t);
	if (!t)
		return rml_errorf(err, RML_ERR_NOMEM, "out of memory");
	t->m = m;
	t->o = *o;
	rml_model_input_shape(m, &t->h, &t->w, &t->c);
	t->k = rml_model_n_classes(m);
	t->bufs = rml_model_buffers(m, &t->n_bufs);
	if ((s = collect_spans(t, err)))
		goto fail;
	int64_t maxb = o->method == RML_TTA_MEMO ? o->n_aug : o->batch;
	int64_t px = (int64_t)t->h * t->w * t->c;
	t->saved = malloc((size_t)t->n_adapted * sizeof *t->saved);
	t->dz = malloc((size_t)(maxb * t->k) * sizeof *t->dz);
	t->probs = malloc((size_t)(maxb * t->k) * sizeof *t->probs);
	t->work = malloc((size_t)((maxb + 1) * t->k) * sizeof *t->work);
	if (o->method == RML_TTA_MEMO) {
		t->xaug = malloc((size_t)(o->n_aug * px) * sizeof *t->xaug);
		t->scratch = malloc(rml_augmix_scratch_size(t->h, t->w, t->c));
	} else {
		for (int64_t i = 0; i < t->n_bufs; i++)
			t->buf_floats += t->bufs[i].numel;
		t->buf_saved = malloc((size_t)(t->buf_floats + 1) * sizeof *t->buf_saved);
	}
	if (!t->saved || !t->dz || !t->probs || !t->work ||
	    (o->method == RML_TTA_MEMO ? !t->xaug || !t->scratch : !t->buf_saved)) {
		s = rml_errorf(err, RML_ERR_NOMEM, "out of memory");
		goto fail;
	}
	for (int64_t i = 0, off = 0; i < t->n_bufs && t->buf_saved; i++) {
		memcpy(t->buf_saved + off, t->bufs[i].data, (size_t)t->bufs[i].numel * sizeof(float));
		off += t->bufs[i].numel;
	}
	int64_t off = 0;
	for (int i = 0; i < t->n_spans; i++) {
		memcpy(t->saved + off, t->spans[i].data, (size_t)t->spans[i].n * sizeof(float));
		off += t->spans[i].n;
	}
	if ((s = rml_optim_init(&t->opt, o->optimizer, t->n_adapted, err)))
		goto fail;
	t->opt.momentum = (float)o->momentum;
	if ((s = rml_model_reserve(m, maxb, 1, err)))
		goto fail;
	rml_model_set_trainable(m, o->tune == RML_TTA_TUNE_BN ? RML_GROUP_BIT(RML_GROUP_THETA) : o->groups);
	*out = t;
	return RML_OK;
fail:
	rml_tta_free(t);
	return s;
}

void rml_tta_free(rml_tta *t)
{
	if (!t)
		return;
	if (t->m)
		rml_model_set_trainable(t->m, 0);
	rml_optim_free(&t->opt);
	free(t->spans);
	free(t->saved);
	free(t->buf_saved);
	free(t->xaug);
	free(t->scratch);
	free(t->dz);
	free(t->probs);
	free(t->work);
	free(t);
}

rml_status rml_tta_run_stream(rml_tta *t, const uint8_t *images, int64_t n, int shuffle,
			      uint64_t seed, float *probs_before, float *probs_after,
			      void (*progress)(void *ctx, int64_t done, int64_t total), void *ctx,
			      rml_error *err)
{
	if (n < 0 || (n > 0 && (!images || !probs_after)))
		return rml_errorf(err, RML_ERR_ARG, "adaptation: negative count, NULL images or output");
	int64_t px = (int64_t)t->h * t->w * t->c, k = t->k;
	int64_t chunk = t->o.method == RML_TTA_TENT ? t->o.batch : 1;
	/* The stream's chunk is gathered from (and its predictions scattered
	 * back to) the file order. */
	int64_t *order = malloc((size_t)(n + 1) * sizeof *order);
	uint8_t *xb = malloc((size_t)(chunk * px));
	float *pb = malloc((size_t)(2 * chunk * k) * sizeof *pb);
	rml_status s = RML_OK;
	if (!order || !xb || !pb) {
		s = rml_errorf(err, RML_ERR_NOMEM, "out of memory");
		goto out;
	}
	for (int64_t i = 0; i < n; i++)
		order[i] = i;
	if (shuffle) {
		rml_rng rng;
		rml_rng_seed_stream(&rng, seed, UINT64_MAX);
		rml_rng_shuffle(&rng, order, n);
	}
	for (int64_t i = 0; i < n; i += chunk) {
		int64_t nb = n - i < chunk ? n - i : chunk;
		for (int64_t j = 0; j < nb; j++)
			memcpy(xb + j * px, images + order[i + j] * px, (size_t)px);
		if ((s = rml_tta_run(t, xb, nb, t->o.method == RML_TTA_TENT ? i : order[i], pb,
				     pb + chunk * k, err)))
			goto out;
		for (int64_t j = 0; j < nb; j++) {
			if (probs_before)
				memcpy(probs_before + order[i + j] * k, pb + j * k, (size_t)k * sizeof *pb);
			memcpy(probs_after + order[i + j] * k, pb + (chunk + j) * k, (size_t)k * sizeof *pb);
		}
		if (progress)
			progress(ctx, i + nb, n);
	}
out:
	free(order);
	free(xb);
	free(pb);
	return s;
}

void rml_tta_reset(rml_tta *t)
{
	int64_t off = 0;
	for (int i = 0; i < t->n_spans; i++) {
		memcpy(t->spans[i].data, t->saved + off, (size_t)t->spans[i].n * sizeof(float));
		off += t->spans[i].n;
	}
	memset(t->opt.m, 0, (size_t)t->opt.n * sizeof(float));
	if (t->opt.v)
		memset(t->opt.v, 0, (size_t)t->opt.n * sizeof(float));
	t->opt.step = 0;
}

void rml_tta_get_stats(const rml_tta *t, rml_tta_stats *s)
{
	*s = t->st;
}

int64_t rml_tta_n_adapted(const rml_tta *t)
{
	return t->n_adapted;
}

/* ---- running ------------------------------------------------------------ */

static void restore_buffers(rml_tta *t)
{
	for (int64_t i = 0, off = 0; i < t->n_bufs; i++) {
		memcpy(t->bufs[i].data, t->buf_saved + off, (size_t)t->bufs[i].numel * sizeof(float));
		off += t->bufs[i].numel;
	}
}

/* One optimiser step from dz (the loss gradient w.r.t. the logits of the last
 * forward pass); skipped, and counted, if a gradient is not finite. */
static rml_status sgd_step(rml_tta *t, const float *dz, rml_error *err)
{
	rml_model_zero_grad(t->m);
	rml_status s = rml_model_backward(t->m, dz, NULL, err);
	if (s)
		return s;
	for (int i = 0; i < t->n_spans; i++)
		for (int64_t j = 0; j < t->spans[i].n; j++)
			if (!isfinite(t->spans[i].grad[j])) {
				t->st.skipped++;
				return RML_OK;
			}
	rml_optim_begin(&t->opt);
	int64_t off = 0;
	for (int i = 0; i < t->n_spans; i++) {
		rml_optim_update(&t->opt, t->spans[i].data, t->spans[i].grad, off, t->spans[i].n,
				 (float)t->o.lr, 0);
		off += t->spans[i].n;
	}
	t->st.updates++;
	return RML_OK;
}

/* What the caller gets: calibrated probabilities unless asked otherwise. */
static rml_status out_probs(rml_tta *t, const float *z, int64_t n, float *probs, rml_error *err)
{
	if (t->o.no_calibration) {
		rml_softmax(probs, z, n, t->k);
		return RML_OK;
	}
	return rml_model_probs(t->m, z, n, probs, err);
}

static rml_status memo_one(rml_tta *t, const uint8_t *img, int64_t index, float *before,
			   float *after, rml_error *err)
{
	rml_model *m = t->m;
	int64_t k = t->k, B = t->o.n_aug;
	float *z;
	rml_status s;
	if (before) {
		if ((s = rml_model_forward_u8(m, img, 1, RML_MODE_EVAL, &z, err)))
			return s;
		if ((s = out_probs(t, z, 1, before, err)))
			return s;
	}
	rml_rng rng;
	rml_rng_seed_stream(&rng, t->o.seed, (uint64_t)index);
	for (int step = 0; step < t->o.steps; step++) {
		double t0 = rml_now();
		s = rml_aug_memo_batch(img, t->h, t->w, t->c, B, &t->o.aug, &rng, t->xaug, t->scratch, err);
		t->st.aug_seconds += rml_now() - t0;
		if (s)
			return s;
		if ((s = rml_model_forward(m, t->xaug, B, RML_MODE_EVAL, &z, err)))
			return s;
		double h = rml_memo_loss(z, B, k, t->dz, t->work);
		if (!isfinite(h)) {
			t->st.skipped++;
			continue;
		}
		if ((s = sgd_step(t, t->dz, err)))
			return s;
	}
	if ((s = rml_model_forward_u8(m, img, 1, RML_MODE_EVAL, &z, err)))
		return s;
	if ((s = out_probs(t, z, 1, after, err)))
		return s;
	if (!t->o.continual)
		rml_tta_reset(t);
	return RML_OK;
}

static rml_status tent_batch(rml_tta *t, const uint8_t *imgs, int64_t n, float *before,
			     float *after, rml_error *err)
{
	rml_model *m = t->m;
	int64_t k = t->k;
	float *z;
	rml_status s;
	for (int step = 0; step < t->o.steps; step++) {
		s = rml_model_forward_u8(m, imgs, n, RML_MODE_TRAIN, &z, err);
		restore_buffers(t);
		if (s)
			return s;
		if (step == 0 && before && (s = out_probs(t, z, n, before, err)))
			return s;
		double h = rml_tent_loss(z, n, k, t->dz, t->work);
		if (!isfinite(h)) {
			t->st.skipped++;
			continue;
		}
		if ((s = sgd_step(t, t->dz, err)))
			return s;
	}
	s = rml_model_forward_u8(m, imgs, n, RML_MODE_TRAIN, &z, err);
	restore_buffers(t);
	if (s)
		return s;
	if ((s = out_probs(t, z, n, after, err)))
		return s;
	if (before && t->o.steps == 0)
		memcpy(before, after, (size_t)(n * k) * sizeof *before);
	if (!t->o.continual)
		rml_tta_reset(t);
	return RML_OK;
}

rml_status rml_tta_run(rml_tta *t, const uint8_t *images, int64_t n, int64_t first,
		       float *probs_before, float *probs_after, rml_error *err)
{
	if (n < 0 || first < 0)
		return rml_errorf(err, RML_ERR_ARG, "negative count or index of inputs");
	if (n > 0 && (!images || !probs_after))
		return rml_errorf(err, RML_ERR_ARG, "adaptation: NULL images or output");
	int64_t px = (int64_t)t->h * t->w * t->c, k = t->k;
	double t0 = rml_now();
	rml_status s = RML_OK;
	if (t->o.method == RML_TTA_MEMO) {
		for (int64_t i = 0; i < n && !s; i++)
			s = memo_one(t, images + i * px, first + i, probs_before ? probs_before + i * k : NULL,
				     probs_after + i * k, err);
	} else {
		int64_t B = t->o.batch;
		if (first % B)
			return rml_errorf(err, RML_ERR_ARG,
					  "TENT batches start at multiples of %lld, not at input %lld",
					  (long long)B, (long long)first);
		for (int64_t i = 0; i < n && !s; i += B) {
			int64_t nb = n - i < B ? n - i : B;
			s = tent_batch(t, images + i * px, nb, probs_before ? probs_before + i * k : NULL,
				       probs_after + i * k, err);
		}
	}
	if (!s)
		t->st.inputs += n;
	t->st.seconds += rml_now() - t0;
	return s;
}
