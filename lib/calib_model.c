/*
 * calib_model.c — calibration data (augmented in-distribution copies,
 * Soft Brownian Offset out-of-distribution images through an autoencoder
 * or in pixel space), the measures reported before and after calibration,
 * the risk-coverage curve and the reliability diagrams (calib_model.h). Not
 * the calibration methods themselves (calib.c) nor the sampler (sbo.c).
 */
#include "calib_model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "augment.h"
#include "calib.h"
#include "canvas.h"
#include "kernels.h"
#include "model.h"

/* ---- in-distribution copies ------------------------------------------------------ */

rml_status rml_calib_augment_dataset(const rml_dataset *src, int64_t per_class, uint64_t seed,
				 rml_dataset *out, rml_error *err)
{
	rml_dataset_init(out);
	if (per_class < 1 || per_class > 100000000)
		return rml_errorf(err, RML_ERR_ARG, "copies per class must be in 1..1e8, not %lld",
				  (long long)per_class);
	int k = src->n_classes;
	int64_t labelled = 0;
	for (int64_t i = 0; i < src->n; i++)
		labelled += src->labels[i] >= 0;
	if (k < 1 || labelled == 0)
		return rml_errorf(err, RML_ERR_ARG, "the calibration data have no labelled image");
	rml_status st = rml_aug_check_shape(src->h, src->w, src->c, err);
	if (st)
		return st;
	/* Images of each class, in index order, grouped by class. */
	int64_t *start = calloc((size_t)k + 1, sizeof *start);
	int64_t *idx = malloc((size_t)labelled * sizeof *idx);
	uint8_t *tmp = malloc((size_t)(src->h * src->w * src->c));
	if (!start || !idx || !tmp) {
		st = rml_errorf(err, RML_ERR_NOMEM, "out of memory");
		goto out;
	}
	for (int64_t i = 0; i < src->n; i++)
		if (src->labels[i] >= 0)
			start[src->labels[i] + 1]++;
	int present = 0;
	for (int j = 0; j < k; j++) {
		present += start[j + 1] > 0;
		start[j + 1] += start[j];
	}
	{
		int64_t *fill = calloc((size_t)k, sizeof *fill);
		if (!fill) {
			st = rml_errorf(err, RML_ERR_NOMEM, "out of memory");
			goto out;
		}
		for (int64_t i = 0; i < src->n; i++)
			if (src->labels[i] >= 0) {
				int j = src->labels[i];
				idx[start[j] + fill[j]++] = i;
			}
		free(fill);
	}
	rml_rng r;
	rml_rng_seed_stream(&r, seed, 0);
	for (int j = 0; j < k; j++)
		rml_rng_shuffle(&r, idx + start[j], start[j + 1] - start[j]);
	st = rml_dataset_alloc(out, present * per_class, src->h, src->w, src->c, err);
	if (!st)
		st = rml_dataset_set_classes(out, (const char *const *)src->class_names, k, err);
	if (st)
		goto out;
	if (src->name && !(out->name = strdup(src->name))) {
		st = rml_errorf(err, RML_ERR_NOMEM, "out of memory");
		goto out;
	}
	int64_t img = src->h * src->w * src->c, at = 0;
	for (int j = 0; j < k && !st; j++) {
		int64_t cnt = start[j + 1] - start[j];
		for (int64_t t = 0; t < per_class && cnt > 0 && !st; t++, at++) {
			rml_rng_seed_stream(&r, seed, (uint64_t)at + 1);
			const uint8_t *s = src->images + idx[start[j] + t % cnt] * img;
			uint8_t *d = out->images + at * img;
			int top = (int)rml_rng_below(&r, 9), left = (int)rml_rng_below(&r, 9);
			int flip = rml_rng_uniform(&r) < 0.5;
			st = rml_aug_crop(s, flip ? tmp : d, src->h, src->w, src->c, 4, top, left, err);
			if (!st && flip)
				st = rml_aug_hflip(tmp, d, src->h, src->w, src->c, err);
			out->labels[at] = j;
		}
	}
out:
	free(start);
	free(idx);
	free(tmp);
	if (st)
		rml_dataset_free(out);
	return st;
}

/* ---- out-of-distribution images ------------------------------------------------- */

static const char *const space_names[] = { "none", "sbo-latent", "sbo-pixel" };

const char *rml_ood_space_name(rml_ood_space s)
{
	return (unsigned)s < 3 ? space_names[s] : "unknown";
}

rml_status rml_ood_space_parse(const char *name, rml_ood_space *s, rml_error *err)
{
	for (int i = 0; i < 3; i++)
		if (name && strcmp(name, space_names[i]) == 0) {
			*s = (rml_ood_space)i;
			return RML_OK;
		}
	return rml_errorf(err, RML_ERR_ARG,
			  "unknown out-of-distribution source '%s' (none, sbo-latent, sbo-pixel)",
			  name ? name : "");
}

void rml_oodgen_init(rml_oodgen *g)
{
	memset(g, 0, sizeof *g);
	rml_autoenc_init(&g->ae);
}

void rml_oodgen_free(rml_oodgen *g)
{
	rml_autoenc_free(&g->ae);
	free(g->mean);
	free(g->sd);
	rml_oodgen_init(g);
}

/* Raw (not standardised) codes: latent values or pixel levels. */
static rml_status raw_codes(rml_oodgen *g, const uint8_t *images, int64_t n, float *codes,
			    rml_error *err)
{
	if (g->space == RML_OOD_SBO_LATENT)
		return rml_autoenc_encode(&g->ae, images, n, codes, err);
	for (int64_t i = 0; i < n * g->dim; i++)
		codes[i] = images[i];
	return RML_OK;
}

rml_status rml_oodgen_fit(rml_oodgen *g, rml_ood_space space, const uint8_t *images,
			  int64_t n, int h, int w, int c, const rml_autoenc_opts *ae_opts,
			  rml_autoenc_progress progress, void *ctx, rml_error *err)
{
	rml_oodgen_init(g);
	if (space != RML_OOD_SBO_LATENT && space != RML_OOD_SBO_PIXEL)
		return rml_errorf(err, RML_ERR_ARG, "no out-of-distribution space chosen");
	if (n < 2)
		return rml_errorf(err, RML_ERR_ARG,
				  "out-of-distribution sampling needs at least 2 images, got %lld",
				  (long long)n);
	if (h < 1 || w < 1 || c < 1)
		return rml_errorf(err, RML_ERR_ARG, "bad image geometry %dx%dx%d", h, w, c);
	g->space = space;
	g->h = h;
	g->w = w;
	g->c = c;
	rml_status st = RML_OK;
	rml_autoenc_opts def;
	if (!ae_opts) {
		rml_autoenc_opts_default(&def);
		ae_opts = &def;
	}
	if (space == RML_OOD_SBO_LATENT) {
		st = rml_autoenc_create(&g->ae, h, w, c, ae_opts, err);
		if (!st)
			st = rml_autoenc_train(&g->ae, images, n, ae_opts, progress, ctx, &g->ae_mse, err);
		g->dim = g->ae.latent_dim;
	} else {
		g->dim = (int64_t)h * w * c;
	}
	float *z = NULL;
	if (!st) {
		g->mean = calloc((size_t)g->dim, sizeof *g->mean);
		g->sd = calloc((size_t)g->dim, sizeof *g->sd);
		z = malloc((size_t)(n * g->dim) * sizeof *z);
		if (!g->mean || !g->sd || !z)
			st = rml_errorf(err, RML_ERR_NOMEM, "out of memory");
	}
	if (!st)
		st = raw_codes(g, images, n, z, err);
	if (!st) {
		for (int64_t d = 0; d < g->dim; d++) {
			double s = 0, q = 0;
			for (int64_t i = 0; i < n; i++)
				s += z[i * g->dim + d];
			double mu = s / (double)n;
			for (int64_t i = 0; i < n; i++) {
				double v = z[i * g->dim + d] - mu;
				q += v * v;
			}
			double sd = sqrt(q / (double)(n - 1));
			g->mean[d] = (float)mu;
			/* A dimension that never varies is only shifted. */
			g->sd[d] = sd > 1e-6 * (fabs(mu) + 1) ? (float)sd : 1.0f;
		}
	}
	free(z);
	if (st)
		rml_oodgen_free(g);
	return st;
}

rml_status rml_oodgen_codes(rml_oodgen *g, const uint8_t *images, int64_t n, float *codes,
			    rml_error *err)
{
	if (!g->mean)
		return rml_errorf(err, RML_ERR_ARG, "the out-of-distribution space was not fitted");
	rml_status st = raw_codes(g, images, n, codes, err);
	for (int64_t i = 0; i < n && !st; i++)
		for (int64_t d = 0; d < g->dim; d++)
			codes[i * g->dim + d] = (codes[i * g->dim + d] - g->mean[d]) / g->sd[d];
	return st;
}

rml_status rml_oodgen_sample(rml_oodgen *g, const uint8_t *images, int64_t n, int64_t m,
			     const rml_sbo_opts *o, uint8_t *out, float *codes_out,
			     double *nn_dist, int64_t *steps, rml_error *err)
{
	if (!g->mean)
		return rml_errorf(err, RML_ERR_ARG, "the out-of-distribution space was not fitted");
	if (m < 0)
		return rml_errorf(err, RML_ERR_ARG, "negative sample count");
	float *x = malloc((size_t)(n * g->dim + 1) * sizeof *x);
	float *s = malloc((size_t)(m * g->dim + 1) * sizeof *s);
	rml_status st = !x || !s ? rml_errorf(err, RML_ERR_NOMEM, "out of memory") : RML_OK;
	if (!st)
		st = rml_oodgen_codes(g, images, n, x, err);
	if (!st)
		st = rml_sbo_generate(x, n, g->dim, m, o, s, nn_dist, steps, err);
	if (!st && codes_out)
		memcpy(codes_out, s, (size_t)(m * g->dim) * sizeof *s);
	if (!st) {
		for (int64_t i = 0; i < m; i++)
			for (int64_t d = 0; d < g->dim; d++)
				s[i * g->dim + d] = s[i * g->dim + d] * g->sd[d] + g->mean[d];
		if (g->space == RML_OOD_SBO_LATENT) {
			st = rml_autoenc_decode(&g->ae, s, m, out, err);
		} else {
			for (int64_t i = 0; i < m * g->dim; i++) {
				float v = s[i] + 0.5f;
				out[i] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
			}
		}
	}
	free(x);
	free(s);
	return st;
}

/* ---- running the model ------------------------------------------------------------- */

rml_status rml_calib_logits(rml_model *m, const uint8_t *images, int64_t n, int64_t batch,
			    float *logits, rml_error *err)
{
	if (n < 0 || batch < 1 || (n > 0 && (!images || !logits)))
		return rml_errorf(err, RML_ERR_ARG, "bad arguments for the model's logits");
	int h, w, c;
	rml_model_input_shape(m, &h, &w, &c);
	int64_t k = rml_model_n_classes(m), img = (int64_t)h * w * c;
	if (batch > n && n > 0)
		batch = n;   /* the same batches, without memory for images that do not exist */
	rml_status st = rml_model_reserve(m, batch, 0, err);
	for (int64_t i = 0; i < n && !st; i += batch) {
		int64_t b = n - i < batch ? n - i : batch;
		float *out;
		st = rml_model_forward_u8(m, images + i * img, b, RML_MODE_EVAL, &out, err);
		if (!st)
			memcpy(logits + i * k, out, (size_t)(b * k) * sizeof *logits);
	}
	return st;
}

/* ---- measures ----------------------------------------------------------------------- */

rml_status rml_calib_measure(const float *probs, const int32_t *labels, int64_t n, int64_t k,
			     int n_bins, rml_calib_measures *m, rml_error *err)
{
	memset(m, 0, sizeof *m);
	if (n < 0 || k < 1 || n_bins < 1 || (n > 0 && (!probs || !labels)))
		return rml_errorf(err, RML_ERR_ARG, "bad arguments to the calibration measures");
	m->n = n;
	for (int64_t i = 0; i < n; i++) {
		if (labels[i] >= k || (labels[i] < 0 && labels[i] != -1 && labels[i] != RML_CALIB_OOD))
			return rml_errorf(err, RML_ERR_ARG, "row %lld: label %d is not a class", (long long)i,
					  labels[i]);
		m->n_id += labels[i] >= 0;
		m->n_ood += labels[i] == RML_CALIB_OOD;
	}
	float *conf = malloc((size_t)(n + 1) * sizeof *conf);
	float *ent = malloc((size_t)(n + 1) * sizeof *ent);
	float *cid = malloc((size_t)(n + 1) * sizeof *cid);
	float *pid = malloc((size_t)(m->n_id * k + 1) * sizeof *pid);
	int32_t *pred = malloc((size_t)(n + 1) * sizeof *pred);
	int32_t *lid = malloc((size_t)(n + 1) * sizeof *lid);
	uint8_t *ok = malloc((size_t)(n + 1));
	uint8_t *pos = malloc((size_t)(n + 1));
	double *cov = malloc((size_t)(n + 1) * sizeof *cov);
	double *risk = malloc((size_t)(n + 1) * sizeof *risk);
	rml_status st = RML_OK;
	if (!conf || !ent || !cid || !pid || !pred || !lid || !ok || !pos || !cov || !risk) {
		st = rml_errorf(err, RML_ERR_NOMEM, "out of memory");
		goto out;
	}
	rml_top1(probs, n, k, pred, conf);
	rml_entropy(probs, n, k, ent);
	int64_t a = 0, right = 0;
	for (int64_t i = 0; i < n; i++)
		if (labels[i] >= 0) {
			cid[a] = conf[i];
			ok[a] = pred[i] == labels[i];
			right += ok[a];
			lid[a] = labels[i];
			memcpy(pid + a * k, probs + i * k, (size_t)k * sizeof *pid);
			a++;
		}
	if (a > 0) {
		m->acc1 = (double)right / (double)a;
		m->ece = rml_ece(cid, ok, a, n_bins, RML_BINS_WIDTH);
		m->mce = rml_mce(cid, ok, a, n_bins, RML_BINS_WIDTH);
		m->ece_mass = rml_ece(cid, ok, a, n_bins, RML_BINS_MASS);
		m->mce_mass = rml_mce(cid, ok, a, n_bins, RML_BINS_MASS);
		m->nll = rml_nll(pid, lid, a, k);
		m->brier = rml_brier(pid, lid, a, k);
	} else {
		m->acc1 = m->ece = m->mce = m->ece_mass = m->mce_mass = m->nll = m->brier = NAN;
	}
	if (m->n_id > 0 && m->n_ood > 0) {
		/* Scores over the in- and out-of-distribution rows only. */
		int64_t b = 0;
		for (int64_t i = 0; i < n; i++)
			if (labels[i] >= 0 || labels[i] == RML_CALIB_OOD) {
				cid[b] = conf[i];
				/* A broken row (entropy log k by rml_entropy) must rank
				 * below every finite row, as it does by confidence 0. */
				ent[b] = pred[i] < 0 ? -INFINITY : -ent[i];
				pos[b] = labels[i] >= 0;
				b++;
			}
		m->auroc_conf = rml_auroc(cid, pos, b);
		m->auroc_entropy = rml_auroc(ent, pos, b);
	} else {
		m->auroc_conf = m->auroc_entropy = NAN;
	}
	int64_t np;
	st = rml_risk_coverage(probs, labels, n, k, RML_REJECT_ENTROPY, cov, risk, &np, &m->aurc, err);
out:
	free(conf);
	free(ent);
	free(cid);
	free(pid);
	free(pred);
	free(lid);
	free(ok);
	free(pos);
	free(cov);
	free(risk);
	return st;
}

typedef struct {
	double u;
	uint8_t wrong;
	int64_t i;
} rc_row;

static int by_u(const void *a, const void *b)
{
	const rc_row *x = a, *y = b;
	if (x->u != y->u)
		return x->u < y->u ? -1 : 1;
	return x->i < y->i ? -1 : x->i > y->i;
}

rml_status rml_risk_coverage(const float *probs, const int32_t *labels, int64_t n, int64_t k,
			     rml_reject_rule rule, double *coverage, double *risk,
			     int64_t *n_points, double *aurc, rml_error *err)
{
	*n_points = 0;
	if (aurc)
		*aurc = NAN;
	if (rule != RML_REJECT_ENTROPY && rule != RML_REJECT_CONFIDENCE)
		return rml_errorf(err, RML_ERR_ARG, "the risk-coverage curve needs the entropy or confidence rule");
	if (n < 0 || k < 1 || (n > 0 && (!probs || !labels || !coverage || !risk)))
		return rml_errorf(err, RML_ERR_ARG, "bad arguments to the risk-coverage curve");
	rc_row *r = malloc((size_t)(n + 1) * sizeof *r);
	float *conf = malloc((size_t)(n + 1) * sizeof *conf);
	float *ent = malloc((size_t)(n + 1) * sizeof *ent);
	int32_t *pred = malloc((size_t)(n + 1) * sizeof *pred);
	rml_status st = RML_OK;
	if (!r || !conf || !ent || !pred) {
		st = rml_errorf(err, RML_ERR_NOMEM, "out of memory");
		goto out;
	}
	rml_top1(probs, n, k, pred, conf);
	rml_entropy(probs, n, k, ent);
	int64_t m = 0;
	for (int64_t i = 0; i < n; i++) {
		if (labels[i] < 0 && labels[i] != RML_CALIB_OOD)
			continue;
		/* A row that is not finite is the most uncertain of all. */
		double u = rule == RML_REJECT_ENTROPY ? ent[i] : 1.0 - conf[i];
		if (pred[i] < 0)
			u = INFINITY;
		r[m].u = u;
		r[m].wrong = labels[i] < 0 || pred[i] != labels[i];
		r[m].i = i;
		m++;
	}
	if (m == 0)
		goto out;
	qsort(r, (size_t)m, sizeof *r, by_u);
	int64_t errors = 0, np = 0;
	double area = 0, prev = 0;
	for (int64_t i = 0; i < m;) {
		int64_t j = i;
		while (j < m && r[j].u == r[i].u)
			errors += r[j++].wrong;
		coverage[np] = (double)j / (double)m;
		risk[np] = (double)errors / (double)j;
		area += risk[np] * (coverage[np] - prev);
		prev = coverage[np];
		np++;
		i = j;
	}
	*n_points = np;
	if (aurc)
		*aurc = area;
out:
	free(r);
	free(conf);
	free(ent);
	free(pred);
	return st;
}

/* ---- pictures -------------------------------------------------------------------------- */

rml_status rml_reliability_png(const char *path, int n_panels, const char *const *titles,
			       const float *const *conf, const uint8_t *const *correct,
			       const int64_t *n, int n_bins, rml_error *err)
{
	if (n_panels < 1 || n_panels > 4 || n_bins < 1 || n_bins > 100)
		return rml_errorf(err, RML_ERR_ARG, "reliability diagram: 1..4 panels of 1..100 bins");
	const int PW = 360, PH = 300, L = 56, T = 48, HB = 60, GAP = 36, W = L + n_panels * (PW + GAP),
		  H = T + PH + 30 + HB + 40;
	rml_canvas c;
	rml_status st = rml_canvas_init(&c, W, H, 0xffffff, err);
	if (st)
		return st;
	double acc[100], mc[100];
	int64_t cnt[100];
	for (int p = 0; p < n_panels; p++) {
		int x0 = L + p * (PW + GAP), y0 = T;
		memset(acc, 0, sizeof acc);
		memset(mc, 0, sizeof mc);
		memset(cnt, 0, sizeof cnt);
		for (int64_t i = 0; i < n[p]; i++) {
			double v = isfinite(conf[p][i]) ? conf[p][i] : 0;
			int b = (int)(v * n_bins);
			b = b < 0 ? 0 : b >= n_bins ? n_bins - 1 : b;
			cnt[b]++;
			acc[b] += correct[p][i];
			mc[b] += v;
		}
		int64_t most = 1;
		for (int b = 0; b < n_bins; b++)
			if (cnt[b] > most)
				most = cnt[b];
		for (int i = 0; i <= 5; i++) {
			int gx = x0 + PW * i / 5, gy = y0 + PH - PH * i / 5;
			char lab[16];
			rml_canvas_line(&c, gx, y0, gx, y0 + PH, 1, 0xe8e8e8);
			rml_canvas_line(&c, x0, gy, x0 + PW, gy, 1, 0xe8e8e8);
			snprintf(lab, sizeof lab, "%.1f", i / 5.0);
			rml_canvas_text(&c, gx - rml_canvas_text_width(lab, 1) / 2, y0 + PH + HB + 8, lab, 1,
					0x000000);
			rml_canvas_text(&c, x0 - 6 - rml_canvas_text_width(lab, 1), gy - 3, lab, 1, 0x000000);
		}
		for (int b = 0; b < n_bins; b++) {
			int bx0 = x0 + PW * b / n_bins + 1, bx1 = x0 + PW * (b + 1) / n_bins - 1;
			int hh = (int)lround((double)HB * cnt[b] / most);
			rml_canvas_rect(&c, bx0, y0 + PH + HB - hh, bx1 - bx0, hh, 0x9e9e9e);
			if (!cnt[b])
				continue;
			double a = acc[b] / cnt[b], m = mc[b] / cnt[b];
			int ya = y0 + PH - (int)lround(a * PH), ym = y0 + PH - (int)lround(m * PH);
			rml_canvas_rect(&c, bx0, ya, bx1 - bx0, y0 + PH - ya, 0x1f77b4);
			/* The gap between accuracy and mean confidence. */
			int top = ya < ym ? ya : ym, bot = ya < ym ? ym : ya;
			rml_canvas_rect(&c, bx0 + 2, top, bx1 - bx0 - 4, bot - top, 0xf4a6a6);
			rml_canvas_line(&c, bx0, ym, bx1, ym, 2, 0xd62728);
		}
		rml_canvas_line(&c, x0, y0 + PH, x0 + PW, y0, 1, 0x404040);
		rml_canvas_line(&c, x0, y0 + PH, x0 + PW, y0 + PH, 1, 0x000000);
		rml_canvas_line(&c, x0, y0, x0, y0 + PH, 1, 0x000000);
		double e = rml_ece(conf[p], correct[p], n[p], n_bins, RML_BINS_WIDTH);
		char head[200];
		snprintf(head, sizeof head, "%s", titles && titles[p] ? titles[p] : "");
		rml_canvas_text(&c, x0, 10, head, 2, 0x000000);
		snprintf(head, sizeof head, "ECE %.4f  (%d bins, n = %lld)", e, n_bins, (long long)n[p]);
		rml_canvas_text(&c, x0, 32, head, 1, 0x000000);
		rml_canvas_text(&c, x0 + PW / 2 - rml_canvas_text_width("confidence", 1) / 2,
				y0 + PH + HB + 22, "confidence", 1, 0x000000);
	}
	rml_canvas_text(&c, 4, T + PH / 2, "acc", 1, 0x000000);
	rml_canvas_text(&c, 4, T + PH + 20, "share", 1, 0x000000);
	int ly = H - 12;
	rml_canvas_rect(&c, L, ly, 12, 8, 0x1f77b4);
	rml_canvas_text(&c, L + 16, ly, "accuracy", 1, 0x000000);
	rml_canvas_rect(&c, L + 90, ly + 3, 12, 2, 0xd62728);
	rml_canvas_text(&c, L + 106, ly, "mean confidence", 1, 0x000000);
	rml_canvas_rect(&c, L + 210, ly, 12, 8, 0xf4a6a6);
	rml_canvas_text(&c, L + 226, ly, "gap", 1, 0x000000);
	rml_canvas_rect(&c, L + 260, ly, 12, 8, 0x9e9e9e);
	rml_canvas_text(&c, L + 276, ly, "examples per bin", 1, 0x000000);
	st = rml_canvas_save_png(&c, path, err);
	rml_canvas_free(&c);
	return st;
}

/* ---- the calibrator a model carries ------------------------------------------ */

/* The keys and tensors under "calib." that a model carries (model.h):
 * rml_calib_to_file's under "calib.", then the rejection rule as
 * "calib.reject_rule" (none, entropy, confidence) and
 * "calib.reject_threshold". */
static const char *const reject_rule_names[] = { "none", "entropy", "confidence" };

static int is_rule_key(const char *key)
{
	return strcmp(key, "calib.reject_rule") == 0 || strcmp(key, "calib.reject_threshold") == 0;
}

/* Read what the model carries, checking what a hostile file could get
 * wrong; every "calib." tensor must belong to the calibrator. c may be
 * NULL (only checked then); *rule and *thr get the rule. */
static rml_status decode(const rml_model *m, rml_calib *c, rml_reject_rule *rule, double *thr,
			 rml_error *err)
{
	const rml_file *f = rml_model_carried(m);
	*rule = RML_REJECT_NONE;
	*thr = NAN;
	int has = rml_get(f, "calib.method") != NULL;
	if (has) {
		rml_calib own;
		rml_calib_init(&own);
		rml_status st = rml_calib_from_file(&own, f, "calib.", err);
		if (st)
			return st == RML_ERR_NOMEM ? st : RML_ERR_FORMAT;
		if (c)
			*c = own;
		else
			rml_calib_free(&own);
	}
	static const char *const own_tensors[] = { "calib.scalars", "calib.offsets", "calib.weights",
						   "calib.x", "calib.y" };
	rml_status st = RML_OK;
	for (int64_t i = 0; i < f->n_tensors && !st; i++) {
		const char *name = f->tensors[i].name;
		/* Others' carried tensors ("coact.") are theirs to check. */
		int ok = strncmp(name, "calib.", 6) != 0;
		for (size_t j = 0; has && j < sizeof own_tensors / sizeof own_tensors[0]; j++)
			ok |= strcmp(name, own_tensors[j]) == 0;
		if (!ok)
			st = rml_errorf(err, RML_ERR_FORMAT, "model: tensor '%s' is not part of a calibrator",
					name);
	}
	const rml_kv *r = rml_get(f, "calib.reject_rule");
	if (!st && !r && rml_get(f, "calib.reject_threshold"))
		st = rml_errorf(err, RML_ERR_FORMAT,
				"model: calib.reject_threshold without calib.reject_rule");
	if (!st && r && r->type != RML_KV_STR)
		st = rml_errorf(err, RML_ERR_FORMAT, "model: calib.reject_rule must be a string");
	int k = -1;
	for (int j = 1; !st && r && j < 3; j++)
		if (strcmp(r->s, reject_rule_names[j]) == 0)
			k = j;
	if (!st && r && k < 0)
		st = rml_errorf(err, RML_ERR_FORMAT,
				"model: calib.reject_rule '%s' is not entropy or confidence", r->s);
	double t = NAN;
	if (!st && r && rml_get_f64(f, "calib.reject_threshold", &t, err))
		st = RML_ERR_FORMAT;
	/* Entropy lies in [0, ln k]; a chosen threshold can sit at either end. */
	if (!st && r &&
	    (!isfinite(t) ||
	     (k == RML_REJECT_ENTROPY && (t < 0 || t > log((double)rml_model_n_classes(m)) + 1e-6)) ||
	     (k == RML_REJECT_CONFIDENCE && (t < 0 || t > 1))))
		st = rml_errorf(err, RML_ERR_FORMAT,
				"model: calib.reject_threshold %g is outside the range of the %s rule",
				t, reject_rule_names[k]);
	if (st) {
		if (has && c)
			rml_calib_free(c);
		return st;
	}
	if (r) {
		*rule = (rml_reject_rule)k;
		*thr = t;
	}
	return RML_OK;
}

rml_status rml_model_calib_check(const rml_model *m, rml_error *err)
{
	rml_reject_rule rule;
	double thr;
	return decode(m, NULL, &rule, &thr, err);
}

const char *rml_model_calibrator_method(const rml_model *m)
{
	const char *s;
	const rml_file *f = rml_model_carried(m);
	return rml_get(f, "calib.method") && !rml_get_str(f, "calib.method", &s, NULL) ? s : NULL;
}

rml_status rml_model_calibrator(const rml_model *m, rml_calib *c, rml_error *err)
{
	rml_calib_init(c);
	if (!rml_model_calibrator_method(m))
		return rml_errorf(err, RML_ERR_ARG, "the model carries no calibrator");
	rml_reject_rule rule;
	double thr;
	rml_status st = decode(m, c, &rule, &thr, err);
	if (st)
		rml_calib_init(c);
	return st;
}

/* The carried part rebuilt: calibrator c (or none), then the rule. */
static rml_status carry(rml_model *m, const rml_calib *c, rml_reject_rule rule, double thr,
			rml_error *err)
{
	rml_file f;
	rml_file_init(&f);
	rml_status st = c ? rml_calib_to_file(c, &f, "calib.", err) : RML_OK;
	if (!st && rule != RML_REJECT_NONE &&
	    (rml_set_str(&f, "calib.reject_rule", reject_rule_names[rule]) ||
	     rml_set_f64(&f, "calib.reject_threshold", thr)))
		st = rml_errorf(err, RML_ERR_NOMEM, "cannot store the rejection rule");
	/* What the model carries for others (the co-activation statistics)
	 * stays as it is. */
	const rml_file *now = rml_model_carried(m);
	for (int64_t i = 0; i < now->n_kv && !st; i++)
		if (strncmp(now->kv[i].key, "calib.", 6) != 0 && rml_set_kv(&f, &now->kv[i]))
			st = rml_errorf(err, RML_ERR_NOMEM, "out of memory");
	for (int64_t i = 0; i < now->n_tensors && !st; i++) {
		const rml_tensor *t = &now->tensors[i];
		if (strncmp(t->name, "calib.", 6) != 0 &&
		    !rml_add_tensor(&f, t->name, t->dtype, t->ndim, t->dims, t->data, err))
			st = err ? err->code : RML_ERR_NOMEM;
	}
	if (!st)
		st = rml_model_set_carried(m, &f, err);
	rml_file_free(&f);
	return st;
}

rml_status rml_model_set_calibrator(rml_model *m, const rml_calib *c, rml_error *err)
{
	if (!c)
		return carry(m, NULL, RML_REJECT_NONE, NAN, err);
	if ((unsigned)c->method >= RML_CALIB_COUNT ||
	    (c->method == RML_CALIB_TEMPERATURE ? !(c->scalars[0] > 0)
	     : c->method != RML_CALIB_BETA && (c->n_models < 1 || !c->x)))
		return rml_errorf(err, RML_ERR_ARG, "the calibrator has not been fitted");
	rml_reject_rule rule;
	double thr;
	rml_model_reject_rule(m, &rule, &thr);
	return carry(m, c, rule, thr, err);
}

void rml_model_reject_rule(const rml_model *m, rml_reject_rule *rule, double *threshold)
{
	const rml_file *f = rml_model_carried(m);
	const rml_kv *r = rml_get(f, "calib.reject_rule");
	rml_reject_rule k = RML_REJECT_NONE;
	double t = NAN;
	for (int j = 1; r && r->type == RML_KV_STR && j < 3; j++)
		if (strcmp(r->s, reject_rule_names[j]) == 0 &&
		    !rml_get_f64(f, "calib.reject_threshold", &t, NULL))
			k = (rml_reject_rule)j;
	if (rule)
		*rule = k;
	if (threshold)
		*threshold = k == RML_REJECT_NONE ? NAN : t;
}

rml_status rml_model_set_reject_rule(rml_model *m, rml_reject_rule rule, double threshold,
				     rml_error *err)
{
	if ((rule != RML_REJECT_ENTROPY && rule != RML_REJECT_CONFIDENCE) || !isfinite(threshold))
		rule = RML_REJECT_NONE;
	/* Keep the calibrator's keys and tensors as they are, the rule after them. */
	const rml_file *now = rml_model_carried(m);
	rml_file f;
	rml_file_init(&f);
	rml_status st = RML_OK;
	for (int64_t i = 0; i < now->n_kv && !st; i++)
		if (!is_rule_key(now->kv[i].key))
			st = rml_set_kv(&f, &now->kv[i]);
	for (int64_t i = 0; i < now->n_tensors && !st; i++) {
		const rml_tensor *t = &now->tensors[i];
		if (!rml_add_tensor(&f, t->name, t->dtype, t->ndim, t->dims, t->data, err))
			st = err ? err->code : RML_ERR_NOMEM;
	}
	if (!st && rule != RML_REJECT_NONE &&
	    (rml_set_str(&f, "calib.reject_rule", reject_rule_names[rule]) ||
	     rml_set_f64(&f, "calib.reject_threshold", threshold)))
		st = RML_ERR_NOMEM;
	if (!st)
		st = rml_model_set_carried(m, &f, err);
	else
		rml_errorf(err, st, "cannot store the rejection rule");
	rml_file_free(&f);
	return st;
}

rml_status rml_model_probs(const rml_model *m, const float *logits, int64_t n, float *probs,
			   rml_error *err)
{
	if (n < 0 || (n > 0 && (!logits || !probs)))
		return rml_errorf(err, RML_ERR_ARG, "model probabilities: bad arguments");
	if (n == 0)
		return RML_OK;
	int64_t k = rml_model_n_classes(m);
	rml_softmax(probs, logits, n, k);
	if (!rml_model_calibrator_method(m))
		return RML_OK;
	rml_calib c;
	rml_status st = rml_model_calibrator(m, &c, err);
	if (!st)
		st = rml_calib_apply(&c, probs, logits, n, k, probs, err);
	rml_calib_free(&c);
	return st;
}

rml_status rml_model_predict_calibrated(rml_model *m, const rml_dataset *d, int64_t batch,
					int calibrated, float *probs, rml_error *err)
{
	rml_status st = rml_model_predict(m, d, batch, probs, err);
	if (st || !calibrated || !rml_model_calibrator_method(m))
		return st;
	rml_calib cal;
	st = rml_model_calibrator(m, &cal, err);
	if (!st)
		st = rml_calib_apply(&cal, probs, NULL, d->n, rml_model_n_classes(m), probs, err);
	rml_calib_free(&cal);
	return st;
}
