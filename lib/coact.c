/*
 * coact.c — co-activation statistics of the head's input features: the
 * fit, the rare co-activation score, reading the features out of a
 * forward pass, and the "coact." keys and tensors a model carries
 * (coact.h). Not the monitor's windows (monitor.c).
 */
#include "coact.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "calib_model.h"
#include "metrics.h"
#include "model_internal.h"
#include "outtext.h"

void rml_coact_init(rml_coact *c)
{
	memset(c, 0, sizeof *c);
}

void rml_coact_free(rml_coact *c)
{
	free(c->thresholds);
	free(c->pairs);
	rml_coact_init(c);
}

static int cmp_float(const void *a, const void *b)
{
	float x = *(const float *)a, y = *(const float *)b;
	return (x > y) - (x < y);
}

static int64_t n_pairs(int64_t d)
{
	return d * (d - 1) / 2;
}

rml_status rml_coact_fit(rml_coact *c, const float *feat, int64_t n, int64_t d, double q,
			 double rho, rml_error *err)
{
	rml_coact_init(c);
	if (n < 2 || n > INT32_MAX)
		return rml_errorf(err, RML_ERR_ARG,
				  "co-activation statistics need 2 to 2^31-1 inputs, got %lld",
				  (long long)n);
	/* 8192 units are 33.5 million pairs, 134 MB of counts. */
	if (d < 2 || d > 8192)
		return rml_errorf(err, RML_ERR_ARG, "co-activations need 2 to 8192 units, got %lld",
				  (long long)d);
	if (!(q > 0 && q < 1))
		return rml_errorf(err, RML_ERR_ARG, "the activity quantile must lie in (0, 1), not %g", q);
	if (!(rho >= 0 && rho < 1))
		return rml_errorf(err, RML_ERR_ARG, "the rarity must lie in [0, 1), not %g", rho);
	for (int64_t i = 0; i < n * d; i++)
		if (!isfinite(feat[i]))
			return rml_errorf(err, RML_ERR_ARG,
					  "input %lld: feature %lld is not finite; fit on a sound model",
					  (long long)(i / d), (long long)(i % d));
	c->thresholds = malloc((size_t)d * sizeof *c->thresholds);
	c->pairs = calloc((size_t)n_pairs(d), sizeof *c->pairs);
	float *col = malloc((size_t)n * sizeof *col);
	int32_t *act = malloc((size_t)d * sizeof *act);
	if (!c->thresholds || !c->pairs || !col || !act) {
		free(col);
		free(act);
		rml_coact_free(c);
		return rml_errorf(err, RML_ERR_NOMEM, "out of memory");
	}
	int64_t at = (int64_t)floor(q * (double)(n - 1));
	for (int64_t j = 0; j < d; j++) {
		for (int64_t i = 0; i < n; i++)
			col[i] = feat[i * d + j];
		qsort(col, (size_t)n, sizeof *col, cmp_float);
		c->thresholds[j] = col[at];
	}
	for (int64_t i = 0; i < n; i++) {
		int64_t a = 0;
		for (int64_t j = 0; j < d; j++)
			if (feat[i * d + j] > c->thresholds[j])
				act[a++] = (int32_t)j;
		for (int64_t x = 0; x < a; x++)
			for (int64_t y = x + 1; y < a; y++)
				c->pairs[rml_coact_pair_index(d, act[x], act[y])]++;
	}
	free(col);
	free(act);
	c->n_units = d;
	c->n_fit = n;
	c->quantile = q;
	c->rare = rho;
	return RML_OK;
}

rml_status rml_coact_score(const rml_coact *c, const float *feat, int64_t n, float *score,
			   rml_error *err)
{
	int64_t d = c->n_units;
	if (d < 2 || !c->thresholds || !c->pairs || n < 0 || (n > 0 && (!feat || !score)))
		return rml_errorf(err, RML_ERR_ARG, "bad arguments for the co-activation score");
	int32_t *act = malloc((size_t)d * sizeof *act);
	if (!act)
		return rml_errorf(err, RML_ERR_NOMEM, "out of memory");
	/* A count at or below this is rare; floor keeps rho = 0 meaning
	 * "never seen together". */
	int64_t limit = (int64_t)floor(c->rare * (double)c->n_fit);
	for (int64_t i = 0; i < n; i++) {
		const float *f = feat + i * d;
		int64_t a = 0, rare = 0;
		int bad = 0;
		for (int64_t j = 0; j < d; j++) {
			bad |= !isfinite(f[j]);
			if (f[j] > c->thresholds[j])
				act[a++] = (int32_t)j;
		}
		for (int64_t x = 0; x < a && !bad; x++) {
			const int32_t *row = c->pairs + rml_coact_pair_index(d, act[x], act[x] + 1) -
					     (act[x] + 1);
			for (int64_t y = x + 1; y < a; y++)
				rare += row[act[y]] <= limit;
		}
		score[i] = bad ? INFINITY : (float)rare;
	}
	free(act);
	return RML_OK;
}

/* ---- features -------------------------------------------------------------------- */

/* The head is the last operation, a linear map from the pooled features;
 * its input tensor stays untouched until the next forward pass (the
 * activation arena never lets an input share memory with the output of
 * the operation that reads it). */
static int feature_tensor(const rml_model *m)
{
	if (m->n_ops < 1)
		return -1;
	const op *o = &m->ops[m->n_ops - 1];
	if (o->kind != OP_LINEAR || o->out != m->logits_t)
		return -1;
	return o->in;
}

int64_t rml_model_n_features(const rml_model *m)
{
	int t = feature_tensor(m);
	return t < 0 ? 0 : m->t[t].h * m->t[t].w * m->t[t].c;
}

rml_status rml_model_features(rml_model *m, const uint8_t *images, int64_t n, int64_t batch,
			      float *feat, float *logits, int64_t *d, rml_error *err)
{
	int t = feature_tensor(m);
	if (t < 0)
		return rml_errorf(err, RML_ERR_ARG, "the model's head is not a linear layer");
	if (n < 0 || batch < 1 || (n > 0 && !images))
		return rml_errorf(err, RML_ERR_ARG, "bad arguments for the model's features");
	int64_t dim = rml_model_n_features(m), k = rml_model_n_classes(m);
	if (d)
		*d = dim;
	int h, w, c;
	rml_model_input_shape(m, &h, &w, &c);
	int64_t img = (int64_t)h * w * c;
	rml_status st = rml_model_reserve(m, batch, 0, err);
	for (int64_t i = 0; i < n && !st; i += batch) {
		int64_t b = n - i < batch ? n - i : batch;
		float *out;
		st = rml_model_forward_u8(m, images + i * img, b, RML_MODE_EVAL, &out, err);
		if (st)
			break;
		if (logits)
			memcpy(logits + i * k, out, (size_t)(b * k) * sizeof *logits);
		if (feat)
			memcpy(feat + i * dim, m->t[t].data, (size_t)(b * dim) * sizeof *feat);
	}
	return st;
}

/* ---- in the model file ----------------------------------------------------------- */

int rml_model_has_coact(const rml_model *m)
{
	const rml_file *f = rml_model_carried(m);
	if (rml_get(f, "coact.layer"))
		return 1;
	for (int64_t i = 0; i < f->n_tensors; i++)
		if (strncmp(f->tensors[i].name, "coact.", 6) == 0)
			return 1;
	for (int64_t i = 0; i < f->n_kv; i++)
		if (strncmp(f->kv[i].key, "coact.", 6) == 0)
			return 1;
	return 0;
}

/* The reader's message behind a prefix, as a format error (copied first:
 * it cannot be formatted into its own buffer). */
static rml_status refmt(rml_error *err, const char *prefix)
{
	char msg[sizeof err->msg];
	snprintf(msg, sizeof msg, "%s", err ? err->msg : "");
	return rml_errorf(err, RML_ERR_FORMAT, "%s%s", prefix, msg);
}

static rml_status decode(const rml_model *m, rml_coact *c, rml_error *err)
{
	const rml_file *f = rml_model_carried(m);
	if (c)
		rml_coact_init(c);
	const char *layer;
	int64_t n;
	double q, rho;
	rml_status st;
	if (rml_get_str(f, "coact.layer", &layer, err) || rml_get_i64(f, "coact.n_fit", &n, err) ||
	    rml_get_f64(f, "coact.quantile", &q, err) || rml_get_f64(f, "coact.rare", &rho, err))
		return refmt(err, "model: co-activation statistics: ");
	if (strcmp(layer, "pool") != 0)
		return rml_errorf(err, RML_ERR_FORMAT,
				  "model: co-activations of layer '%s' (only 'pool' is known)", layer);
	if (n < 2 || n > INT32_MAX || !(q > 0 && q < 1) || !(rho >= 0 && rho < 1))
		return rml_errorf(err, RML_ERR_FORMAT,
				  "model: co-activation n_fit, quantile or rare out of range");
	int64_t d = rml_model_n_features(m);
	for (int64_t i = 0; i < f->n_tensors; i++) {
		const char *name = f->tensors[i].name;
		if (strncmp(name, "coact.", 6) == 0 && strcmp(name, "coact.thresholds") != 0 &&
		    strcmp(name, "coact.pairs") != 0)
			return rml_errorf(err, RML_ERR_FORMAT,
					  "model: tensor '%s' is not part of the co-activation statistics",
					  name);
	}
	const rml_tensor *th = rml_expect_tensor(f, "coact.thresholds", RML_DTYPE_F32, 1, err);
	if (!th)
		return refmt(err, "model: ");
	const rml_tensor *pr = rml_expect_tensor(f, "coact.pairs", RML_DTYPE_I32, 1, err);
	if (!pr)
		return refmt(err, "model: ");
	if (d < 2 || th->dims[0] != d || pr->dims[0] != n_pairs(d))
		return rml_errorf(err, RML_ERR_FORMAT,
				  "model: co-activation statistics for %lld units, the model has %lld",
				  (long long)th->dims[0], (long long)d);
	const float *tv = th->data;
	for (int64_t j = 0; j < d; j++)
		if (!isfinite(tv[j]))
			return rml_errorf(err, RML_ERR_FORMAT,
					  "model: co-activation threshold %lld is not finite", (long long)j);
	const int32_t *pv = pr->data;
	for (int64_t j = 0; j < n_pairs(d); j++)
		if (pv[j] < 0 || pv[j] > n)
			return rml_errorf(err, RML_ERR_FORMAT,
					  "model: co-activation count %lld is outside 0..%lld", (long long)j,
					  (long long)n);
	if (!c)
		return RML_OK;
	c->thresholds = malloc((size_t)d * sizeof *c->thresholds);
	c->pairs = malloc((size_t)n_pairs(d) * sizeof *c->pairs);
	if (!c->thresholds || !c->pairs) {
		rml_coact_free(c);
		return rml_errorf(err, RML_ERR_NOMEM, "out of memory");
	}
	memcpy(c->thresholds, tv, (size_t)d * sizeof *tv);
	memcpy(c->pairs, pv, (size_t)n_pairs(d) * sizeof *pv);
	c->n_units = d;
	c->n_fit = n;
	c->quantile = q;
	c->rare = rho;
	st = RML_OK;
	return st;
}

rml_status rml_model_coact_check(const rml_model *m, rml_error *err)
{
	return rml_model_has_coact(m) ? decode(m, NULL, err) : RML_OK;
}

rml_status rml_model_coact(const rml_model *m, rml_coact *c, rml_error *err)
{
	rml_coact_init(c);
	if (!rml_model_has_coact(m))
		return rml_errorf(err, RML_ERR_ARG,
				  "the model carries no co-activation statistics (rmlops-monitor fit)");
	return decode(m, c, err);
}

rml_status rml_model_set_coact(rml_model *m, const rml_coact *c, rml_error *err)
{
	if (c && (c->n_units != rml_model_n_features(m) || !c->thresholds || !c->pairs))
		return rml_errorf(err, RML_ERR_ARG,
				  "co-activation statistics for %lld units, the model has %lld",
				  (long long)c->n_units, (long long)rml_model_n_features(m));
	/* Everything else the model carries stays, in its order; ours after it. */
	const rml_file *now = rml_model_carried(m);
	rml_file f;
	rml_file_init(&f);
	rml_status st = RML_OK;
	for (int64_t i = 0; i < now->n_kv && !st; i++)
		if (strncmp(now->kv[i].key, "coact.", 6) != 0)
			st = rml_set_kv(&f, &now->kv[i]);
	for (int64_t i = 0; i < now->n_tensors && !st; i++) {
		const rml_tensor *t = &now->tensors[i];
		if (strncmp(t->name, "coact.", 6) != 0 &&
		    !rml_add_tensor(&f, t->name, t->dtype, t->ndim, t->dims, t->data, err))
			st = err ? err->code : RML_ERR_NOMEM;
	}
	if (!st && c) {
		int64_t dt[1] = { c->n_units }, dp[1] = { n_pairs(c->n_units) };
		if (rml_set_str(&f, "coact.layer", "pool") || rml_set_i64(&f, "coact.n_fit", c->n_fit) ||
		    rml_set_f64(&f, "coact.quantile", c->quantile) ||
		    rml_set_f64(&f, "coact.rare", c->rare))
			st = RML_ERR_NOMEM;
		else if (!rml_add_tensor(&f, "coact.thresholds", RML_DTYPE_F32, 1, dt, c->thresholds,
					 err) ||
			 !rml_add_tensor(&f, "coact.pairs", RML_DTYPE_I32, 1, dp, c->pairs, err))
			st = err ? err->code : RML_ERR_NOMEM;
	}
	if (!st)
		st = rml_model_set_carried(m, &f, err);
	else
		rml_errorf(err, st, "cannot store the co-activation statistics");
	rml_file_free(&f);
	return st;
}

/* ---- scoring images --------------------------------------------------------- */

rml_status rml_coact_score_images(rml_model *m, const rml_coact *co, const uint8_t *images,
				  int64_t n, int64_t batch, float *score, float *entropy,
				  float *confidence, int32_t *pred, double seconds[2], rml_error *err)
{
	int64_t dim = rml_model_n_features(m), k = rml_model_n_classes(m);
	float *feat = malloc((size_t)(n * dim + 1) * sizeof *feat);
	float *logits = malloc((size_t)(n * k + 1) * sizeof *logits);
	float *probs = malloc((size_t)(n * k + 1) * sizeof *probs);
	rml_status st = !feat || !logits || !probs ? rml_errorf(err, RML_ERR_NOMEM, "out of memory")
						   : RML_OK;
	double t0 = rml_now(), t1 = t0, t2 = t0;
	if (!st)
		st = rml_model_features(m, images, n, batch, feat, logits, NULL, err);
	t1 = rml_now();
	if (!st)
		st = rml_coact_score(co, feat, n, score, err);
	t2 = rml_now();
	if (seconds) {
		seconds[0] = t1 - t0;
		seconds[1] = t2 - t1;
	}
	if (!st)
		st = rml_model_probs(m, logits, n, probs, err);
	if (!st) {
		rml_top1(probs, n, k, pred, confidence);
		rml_entropy(probs, n, k, entropy);
		for (int64_t i = 0; i < n; i++)
			for (int64_t j = 0; j < k; j++)
				if (!isfinite(probs[i * k + j])) {
					entropy[i] = INFINITY;
					break;
				}
	}
	free(feat);
	free(logits);
	free(probs);
	return st;
}

rml_status rml_coact_auroc(const float *score, const float *entropy, const float *confidence,
			   int64_t n_id, int64_t n_ood, double auroc[3], rml_error *err)
{
	/* In-distribution is the positive class of rml_auroc, which ranks a
	 * value that is not finite lowest: negated, a NaN or infinite score
	 * or entropy ranks as the most out-of-distribution, and so does a
	 * NaN confidence. */
	int64_t n = n_id + n_ood;
	uint8_t *pos = malloc((size_t)n + 1);
	float *neg = malloc((size_t)(2 * n + 1) * sizeof *neg);
	if (!pos || !neg) {
		free(pos);
		free(neg);
		return rml_errorf(err, RML_ERR_NOMEM, "out of memory");
	}
	for (int64_t i = 0; i < n; i++) {
		pos[i] = i < n_id;
		neg[i] = -score[i];
		neg[n + i] = -entropy[i];
	}
	auroc[0] = rml_auroc(neg, pos, n);
	auroc[1] = rml_auroc(neg + n, pos, n);
	auroc[2] = rml_auroc(confidence, pos, n);
	free(pos);
	free(neg);
	return RML_OK;
}

/* ---- over datasets --------------------------------------------------------- */

rml_status rml_coact_check_images(const rml_model *m, const rml_dataset *d, const char *what,
				  rml_error *err)
{
	int h, w, ch;
	rml_model_input_shape(m, &h, &w, &ch);
	if (d->h != h || d->w != w || d->c != ch)
		return rml_errorf(err, RML_ERR_MISMATCH, "%s: images are %lldx%lldx%lld, the model takes %dx%dx%d",
				  what, (long long)d->h, (long long)d->w, (long long)d->c, h, w, ch);
	return RML_OK;
}

rml_status rml_coact_check_units(const rml_model *m, const rml_coact *co, const char *what,
				 rml_error *err)
{
	if (rml_model_n_features(m) != co->n_units)
		return rml_errorf(err, RML_ERR_MISMATCH, "%s: %lld features, the statistics have %lld", what,
				  (long long)rml_model_n_features(m), (long long)co->n_units);
	return RML_OK;
}

rml_status rml_coact_report_datasets(rml_model *m, const rml_coact *co, const rml_dataset *d,
				     rml_model *m_ood, const rml_dataset *ood, int64_t batch, int json,
				     void (*seen)(void *ctx, int64_t n, const double seconds[2]),
				     void *ctx, rml_outbuf *text, rml_error *err)
{
	const rml_dataset *set[2] = { d, ood };
	rml_model *by[2] = { m, m_ood ? m_ood : m };
	int64_t n = d->n + (ood ? ood->n : 0);
	float *buf = malloc((size_t)(3 * n + 1) * sizeof *buf);
	int32_t *pred = malloc((size_t)(n + 1) * sizeof *pred);
	if (!buf || !pred) {
		free(buf);
		free(pred);
		return rml_errorf(err, RML_ERR_NOMEM, "out of memory");
	}
	rml_status st = RML_OK;
	float *score = buf, *ent = buf + n, *conf = buf + 2 * n;
	for (int i = 0; !st && i < 2 && set[i]; i++) {
		int64_t off = i ? d->n : 0;
		double t[2];
		st = rml_coact_score_images(by[i], co, set[i]->images, set[i]->n, batch, score + off,
					    ent + off, conf + off, pred + off, t, err);
		if (!st && seen)
			seen(ctx, set[i]->n, t);
	}
	double au[3];
	if (!st && !ood)
		rml_coact_score_text(text, score, ent, conf, pred, d->labels, d->n);
	else if (!st && !(st = rml_coact_auroc(score, ent, conf, d->n, ood->n, au, err)))
		rml_coact_auroc_text(text, json, d->n, ood->n, au);
	if (!st && text->failed)
		st = rml_errorf(err, RML_ERR_NOMEM, "out of memory");
	free(buf);
	free(pred);
	return st;
}

rml_status rml_coact_fit_dataset(rml_model *m, const rml_dataset *d, int64_t batch, double q,
				 double rho, rml_error *err)
{
	int64_t dim = rml_model_n_features(m);
	float *feat = malloc((size_t)(d->n * dim + 1) * sizeof *feat);
	if (!feat)
		return rml_errorf(err, RML_ERR_NOMEM, "out of memory");
	rml_coact co;
	rml_coact_init(&co);
	rml_status st = rml_model_features(m, d->images, d->n, batch, feat, NULL, NULL, err);
	if (!st)
		st = rml_coact_fit(&co, feat, d->n, dim, q, rho, err);
	if (!st)
		st = rml_model_set_coact(m, &co, err);
	rml_coact_free(&co);
	free(feat);
	return st;
}

void rml_coact_score_text(rml_outbuf *o, const float *score, const float *entropy,
			  const float *confidence, const int32_t *pred, const int32_t *labels,
			  int64_t n)
{
	rml_outbuf_printf(o, "coact_score\tentropy\tconfidence\tpredicted\tlabel\n");
	for (int64_t i = 0; i < n; i++)
		rml_outbuf_printf(o, "%.9g\t%.9g\t%.9g\t%d\t%d\n", score[i], entropy[i], confidence[i],
			       pred[i], labels[i]);
}

void rml_coact_auroc_text(rml_outbuf *o, int json, int64_t n_id, int64_t n_ood,
			  const double auroc[3])
{
	static const char *const keys[3] = { "auroc_coact", "auroc_entropy", "auroc_confidence" };
	if (!json) {
		rml_outbuf_printf(o, "n_id\tn_ood\tauroc_coact\tauroc_entropy\tauroc_confidence\n");
		rml_outbuf_printf(o, "%lld\t%lld\t%.4f\t%.4f\t%.4f\n", (long long)n_id, (long long)n_ood,
			       auroc[0], auroc[1], auroc[2]);
		return;
	}
	rml_outbuf_printf(o, "{\"n_id\":%lld,\"n_ood\":%lld", (long long)n_id, (long long)n_ood);
	for (int i = 0; i < 3; i++) {
		rml_outbuf_printf(o, ",\"%s\":", keys[i]);
		rml_outbuf_json_num(o, auroc[i]);
	}
	rml_outbuf_printf(o, "}\n");
}
