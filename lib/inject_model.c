/*
 * inject_model.c — fault injection on a model (see inject_model.h).
 */
#include "inject_model.h"

#include <fnmatch.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels.h"
#include "metrics.h"
#include "outtext.h"
#include "train.h"

void rml_fault_targets_free(rml_fault_targets *tg)
{
	free(tg->t);
	free(tg->scores);
	memset(tg, 0, sizeof *tg);
}

rml_status rml_fault_targets_select(rml_fault_targets *tg, rml_model *m, const char *what,
				    rml_error *err)
{
	memset(tg, 0, sizeof *tg);
	int64_t np;
	rml_param *p = rml_model_params(m, &np);
	char *list = strdup(what ? what : "theta");
	uint8_t *chosen = calloc((size_t)np + 1, 1);
	if (!list || !chosen) {
		free(list);
		free(chosen);
		return rml_errorf(err, RML_ERR_NOMEM, "out of memory");
	}
	rml_status st = RML_OK;
	char *save = NULL;
	for (char *item = strtok_r(list, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
		unsigned mask;
		if (strcmp(item, "kernels") == 0) {
			for (int64_t i = 0; i < np; i++)
				if (p[i].group == RML_GROUP_THETA && p[i].ndim >= 2)
					chosen[i] = 1;
			continue;
		}
		if (!strpbrk(item, "*?.[") && rml_group_mask_parse(item, &mask, NULL) == RML_OK) {
			for (int64_t i = 0; i < np; i++)
				if (mask & RML_GROUP_BIT(p[i].group))
					chosen[i] = 1;
			continue;
		}
		int hits = 0;
		for (int64_t i = 0; i < np; i++)
			if (fnmatch(item, p[i].name, 0) == 0) {
				chosen[i] = 1;
				hits++;
			}
		if (!hits) {
			st = rml_errorf(err, RML_ERR_ARG,
					"target '%s' is neither a parameter group (theta, omega, "
					"phi, W, adapters, all, kernels) nor a pattern matching a tensor",
					item);
			break;
		}
	}
	free(list);
	int n = 0;
	for (int64_t i = 0; i < np; i++)
		n += chosen[i];
	if (st == RML_OK && n == 0)
		st = rml_errorf(err, RML_ERR_ARG, "no weight tensors selected by '%s'", what);
	if (st == RML_OK) {
		tg->t = calloc((size_t)n, sizeof *tg->t);
		if (!tg->t)
			st = rml_errorf(err, RML_ERR_NOMEM, "out of memory");
	}
	if (st == RML_OK) {
		for (int64_t i = 0; i < np; i++)
			if (chosen[i]) {
				tg->t[tg->n++] = (rml_fault_target){ p[i].name, p[i].data,
								     p[i].numel, NULL };
				tg->total += p[i].numel;
			}
	}
	free(chosen);
	return st;
}

rml_status rml_fault_targets_grad_scores(rml_fault_targets *tg, rml_model *m,
					 const rml_dataset *d, int64_t batch, rml_error *err)
{
	int64_t k = rml_model_n_classes(m);
	for (int64_t i = 0; i < d->n; i++)
		if (d->labels[i] < 0 || d->labels[i] >= k)
			return rml_errorf(err, RML_ERR_MISMATCH,
					  "gradient scores need labels in 0..%lld; image %lld has %d",
					  (long long)k - 1, (long long)i, d->labels[i]);
	if (batch > d->n && d->n > 0)
		batch = d->n;   /* the same batches, without memory for images that do not exist */
	rml_status st = rml_model_reserve(m, batch, 1, err);
	if (st)
		return st;
	int64_t img = d->h * d->w * d->c;
	float *dlogits = malloc((size_t)(batch * k) * sizeof *dlogits);
	float *probs = malloc((size_t)(batch * k) * sizeof *probs);
	float *x = malloc((size_t)(batch * img) * sizeof *x);
	if (!dlogits || !probs || !x) {
		free(dlogits);
		free(probs);
		free(x);
		return rml_errorf(err, RML_ERR_NOMEM, "out of memory");
	}
	rml_model_set_trainable(m, RML_GROUPS_ALL);
	rml_model_zero_grad(m);
	for (int64_t i = 0; i < d->n && st == RML_OK; i += batch) {
		int64_t b = d->n - i < batch ? d->n - i : batch;
		for (int64_t e = 0; e < b * img; e++)
			x[e] = d->images[i * img + e];
		/* Scale so the sum over batches is the gradient of the mean loss;
		 * eval-mode batch norm, as the model runs when deployed. */
		st = rml_train_grad(m, RML_MODE_EVAL, x, d->labels + i, b, 0.0, (float)b / (float)d->n,
				    probs, dlogits, NULL, NULL, err);
	}
	free(x);
	free(dlogits);
	free(probs);
	rml_model_set_trainable(m, 0);
	if (st)
		return st;
	free(tg->scores);
	tg->scores = malloc((size_t)tg->total * sizeof *tg->scores);
	if (!tg->scores)
		return rml_errorf(err, RML_ERR_NOMEM, "out of memory");
	/* Match each target back to its parameter to find its gradient. */
	int64_t np;
	rml_param *p = rml_model_params(m, &np);
	int64_t off = 0;
	for (int i = 0; i < tg->n; i++) {
		const float *g = NULL;
		for (int64_t j = 0; j < np; j++)
			if (p[j].data == tg->t[i].data)
				g = p[j].grad;
		for (int64_t e = 0; e < tg->t[i].n; e++)
			tg->scores[off + e] = g ? fabsf(g[e]) : 0.0f;
		tg->t[i].score = tg->scores + off;
		off += tg->t[i].n;
	}
	return RML_OK;
}

/* Top-1 predictions of the model on d. */
static rml_status predict_top1(rml_model *m, const rml_dataset *d, int64_t batch, float *probs,
			       int32_t *pred, rml_error *err)
{
	rml_status st = rml_model_predict(m, d, batch, probs, err);
	if (!st)
		rml_top1(probs, d->n, rml_model_n_classes(m), pred, NULL);
	return st;
}

void rml_fault_outcomes(const float *probs, const int32_t *clean, int64_t n, int64_t k,
			double *masked, double *sdc, double *detected)
{
	int64_t nm = 0, ns = 0, nd = 0;
	for (int64_t i = 0; i < n; i++) {
		int fin = 1;
		for (int64_t j = 0; j < k; j++)
			fin &= isfinite(probs[i * k + j]) != 0;
		if (!fin) {
			nd++;
			continue;
		}
		int32_t top;
		rml_top1(probs + i * k, 1, k, &top, NULL);
		if (top == clean[i])
			nm++;
		else
			ns++;
	}
	double dn = n ? (double)n : 1;
	if (masked)
		*masked = (double)nm / dn;
	if (sdc)
		*sdc = (double)ns / dn;
	if (detected)
		*detected = (double)nd / dn;
}

rml_status rml_inject_repeat(rml_model *m, const rml_dataset *d, rml_fault_targets *tg,
			       const rml_fault_spec *spec, int64_t n_rep, uint64_t seed,
			       int64_t batch, const int32_t *clean, double *acc, double *sdc,
			       double *detected, rml_error *err)
{
	int64_t k = rml_model_n_classes(m), n = d->n;
	float *probs = malloc((size_t)(n * k + 1) * sizeof *probs);
	int32_t *own = clean ? NULL : malloc((size_t)(n + 1) * sizeof *own);
	int32_t *pred = malloc((size_t)(n + 1) * sizeof *pred);
	rml_fault_log log;
	rml_fault_log_init(&log);
	rml_status st = RML_OK;
	if (!probs || !pred || (!clean && !own))
		st = rml_errorf(err, RML_ERR_NOMEM, "out of memory");
	if (!st && !clean) {
		st = predict_top1(m, d, batch, probs, own, err);
		clean = own;
	}
	for (int64_t r = 0; r < n_rep && st == RML_OK; r++) {
		rml_rng rng;
		rml_rng_seed_stream(&rng, seed, (uint64_t)r);
		st = rml_inject(spec, tg->t, tg->n, &rng, &log, err);
		if (st)
			break;
		st = predict_top1(m, d, batch, probs, pred, err);
		rml_inject_undo(tg->t, &log);
		if (st)
			break;
		int64_t right = 0, labelled = 0, clean_right = 0, corrupted = 0;
		for (int64_t i = 0; i < n; i++) {
			/* An unlabelled image (-1) is not measured: a broken
			 * output's class -1 must not count as right on it. */
			if (d->labels[i] < 0)
				continue;
			labelled++;
			int ok = pred[i] == d->labels[i];
			right += ok;
			if (clean[i] == d->labels[i]) {
				clean_right++;
				corrupted += !ok;
			}
		}
		if (acc)
			acc[r] = labelled ? (double)right / (double)labelled : 0;
		if (sdc)
			sdc[r] = clean_right ? (double)corrupted / (double)clean_right : 0;
		if (detected)
			rml_fault_outcomes(probs, clean, n, k, NULL, NULL, detected + r);
	}
	rml_fault_log_free(&log);
	free(probs);
	free(own);
	free(pred);
	return st;
}

rml_status rml_inject_sweep(rml_model *m, const rml_dataset *d, rml_fault_targets *tg,
			      const rml_fault_spec *spec, rml_sweep_kind kind, const double *rates,
			      int n_points, int64_t n_rep, uint64_t seed, int64_t batch,
			      double *acc_mean, double *acc_sd, double *sdc_mean, double *det_mean,
			      rml_error *err)
{
	int64_t k = rml_model_n_classes(m);
	float *probs = malloc((size_t)(d->n * k + 1) * sizeof *probs);
	int32_t *clean = malloc((size_t)(d->n + 1) * sizeof *clean);
	double *acc = malloc((size_t)(n_rep + 1) * sizeof *acc);
	double *sdc = malloc((size_t)(n_rep + 1) * sizeof *sdc);
	double *det = malloc((size_t)(n_rep + 1) * sizeof *det);
	rml_status st = !probs || !clean || !acc || !sdc || !det ? rml_errorf(err, RML_ERR_NOMEM, "out of memory")
							  : predict_top1(m, d, batch, probs, clean, err);
	for (int p = 0; p < n_points && !st; p++) {
		rml_fault_spec s = *spec;
		rml_fault_targets one = *tg;
		if (kind == RML_SWEEP_TENSORS) {
			one.t = tg->t + p;
			one.n = 1;
			one.total = tg->t[p].n;
			s.unit = RML_FAULT_UNIT_TENSOR;
			s.rate = 1.0;
		} else if (kind == RML_SWEEP_BITS) {
			s.bits = 1u << p;
		} else {
			s.rate = rates[p];
		}
		st = rml_inject_repeat(m, d, &one, &s, n_rep, seed + (uint64_t)p * 0x9e3779b9u, batch,
					 clean, acc, sdc, det, err);
		if (st)
			break;
		rml_summary sa, ss;
		rml_summarize(acc, n_rep, &sa);
		rml_summarize(sdc, n_rep, &ss);
		acc_mean[p] = sa.mean;
		acc_sd[p] = sa.sd;
		sdc_mean[p] = ss.mean;
		if (det_mean) {
			rml_summary sd;
			rml_summarize(det, n_rep, &sd);
			det_mean[p] = sd.mean;
		}
	}
	free(probs);
	free(clean);
	free(acc);
	free(sdc);
	free(det);
	return st;
}

/* ---- what rmlops-inject writes about an injection ---------------------------- */

/* A logged weight: %.9g (enough digits to give the float32 back), null
 * when not finite. */
static void log_value(rml_outbuf *o, float v)
{
	if (isfinite(v))
		rml_outbuf_printf(o, "%.9g", v);
	else
		rml_outbuf_add(o, "null", 4);
}

void rml_fault_log_text(rml_outbuf *o, const rml_fault_targets *tg, const rml_fault_log *log)
{
	for (int64_t i = 0; i < log->n; i++) {
		const rml_fault *f = &log->v[i];
		/* A name may hold any character a model file allows, and a
		 * fault in the exponent makes infinities and NaNs, which JSON
		 * has no number for. */
		rml_outbuf_printf(o, "{\"tensor\":");
		rml_outbuf_json_str(o, tg->t[f->tensor].name);
		rml_outbuf_printf(o, ",\"index\":%lld,\"bit\":%d,\"old\":", (long long)f->index, f->bit);
		log_value(o, f->old_value);
		rml_outbuf_printf(o, ",\"new\":");
		log_value(o, f->new_value);
		rml_outbuf_add(o, "}\n", 2);
	}
}

rml_status rml_fault_file_keys(rml_file *f, const rml_fault_spec *spec, const rml_fault_log *log)
{
	rml_status st = rml_set_str(f, "fault.model", rml_fault_model_name(spec->model));
	if (!st)
		st = rml_set_str(f, "fault.unit", rml_fault_unit_name(spec->unit));
	if (!st)
		st = rml_set_f64(f, "fault.rate", spec->rate);
	if (!st)
		st = rml_set_i64(f, "fault.count", log->n);
	return st;
}

void rml_fault_report_text(rml_outbuf *o, int json, const rml_fault_spec *spec,
			   const rml_fault_targets *tg, const rml_fault_log *log, int64_t seed)
{
	int64_t bits = rml_fault_log_bits_changed(log);
	if (json)
		rml_outbuf_printf(o, "{\"faults\":%lld,\"bits_changed\":%lld,\"targets\":%d,\"weights\":%lld,"
			       "\"model\":\"%s\",\"unit\":\"%s\",\"rate\":%g,\"seed\":%lld}\n",
			       (long long)log->n, (long long)bits, tg->n, (long long)tg->total,
			       rml_fault_model_name(spec->model), rml_fault_unit_name(spec->unit), spec->rate,
			       (long long)seed);
	else
		rml_outbuf_printf(o, "%lld faults (%lld bits changed) in %d tensors of %lld weights",
			       (long long)log->n, (long long)bits, tg->n, (long long)tg->total);
}
