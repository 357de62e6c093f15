/*
 * calibrate.c — the calibration pipeline of rmlops-calibrate (see
 * calibrate.h): data, fit, threshold, measures, comparison, pictures.
 * Each step is a call into calib.c or calib_model.c; what this file adds
 * is their order and the seeds each one gets, which decide the bytes of
 * the calibrated model. Not for printing: the caller words the report.
 */
#include "calibrate.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "canvas.h"
#include "kernels.h"

void rml_calibrate_measure_values(const rml_calib_measures *m, double v[RML_CALIBRATE_N_MEASURES])
{
	v[0] = m->acc1;
	v[1] = m->ece;
	v[2] = m->mce;
	v[3] = m->ece_mass;
	v[4] = m->mce_mass;
	v[5] = m->nll;
	v[6] = m->brier;
	v[7] = m->auroc_conf;
	v[8] = m->auroc_entropy;
	v[9] = m->aurc;
	v[10] = (double)m->n_ood;
}

void rml_calibrate_opts_default(rml_calibrate_opts *o)
{
	memset(o, 0, sizeof *o);
	o->method = RML_CALIB_BBQ;
	rml_calib_opts_default(&o->calib);
	o->per_class = 300;
	o->ood = RML_OOD_SBO_LATENT;
	rml_sbo_opts_default(&o->sbo);
	o->ae_epochs = 10;
	o->seed = 1;
	o->reject = RML_REJECT_ENTROPY;
	o->max_rate = 0.1;
	o->coverage = -1;
	o->eval_bins = 15;
	o->batch = 128;
	o->data_name = "the data";
}

static void set_free(rml_calibrate_set *p)
{
	free(p->logits);
	free(p->raw);
	free(p->cal);
	free(p->labels);
	memset(p, 0, sizeof *p);
}

void rml_calibrate_result_init(rml_calibrate_result *r)
{
	memset(r, 0, sizeof *r);
	rml_calib_init(&r->cal);
	rml_dataset_init(&r->id);
	rml_dataset_init(&r->ood);
	r->test_reject_rate = r->test_ood_reject_rate = r->test_acc2 = NAN;
}

void rml_calibrate_result_free(rml_calibrate_result *r)
{
	rml_calib_free(&r->cal);
	rml_dataset_free(&r->id);
	rml_dataset_free(&r->ood);
	set_free(&r->calib);
	set_free(&r->test);
	rml_calibrate_result_init(r);
}

/* Run the model on the images of each dataset in turn (labels taken from
 * it, or RML_CALIB_OOD for the ones flagged ood), softmax, calibrate. */
static rml_status set_make(rml_calibrate_set *p, const char *name, rml_model *m,
			   const rml_dataset *const *d, const int *ood, int nd, int64_t batch,
			   rml_error *err)
{
	memset(p, 0, sizeof *p);
	p->name = name;
	p->k = rml_model_n_classes(m);
	for (int i = 0; i < nd; i++)
		p->n += d[i]->n;
	p->logits = malloc((size_t)(p->n * p->k + 1) * sizeof(float));
	p->raw = malloc((size_t)(p->n * p->k + 1) * sizeof(float));
	p->cal = malloc((size_t)(p->n * p->k + 1) * sizeof(float));
	p->labels = malloc((size_t)(p->n + 1) * sizeof(int32_t));
	if (!p->logits || !p->raw || !p->cal || !p->labels)
		return rml_errorf(err, RML_ERR_NOMEM, "out of memory");
	int64_t at = 0;
	for (int i = 0; i < nd; i++) {
		rml_status st = rml_calib_logits(m, d[i]->images, d[i]->n, batch, p->logits + at * p->k, err);
		if (st)
			return st;
		for (int64_t j = 0; j < d[i]->n; j++)
			p->labels[at + j] = ood[i] ? RML_CALIB_OOD : d[i]->labels[j];
		at += d[i]->n;
	}
	rml_softmax(p->raw, p->logits, p->n, p->k);
	return RML_OK;
}

static rml_status set_measure(rml_calibrate_set *p, const rml_calib *c, int bins, rml_error *err)
{
	rml_status st = rml_calib_apply(c, p->raw, p->logits, p->n, p->k, p->cal, err);
	if (!st)
		st = rml_calib_measure(p->raw, p->labels, p->n, p->k, bins, &p->before, err);
	if (!st)
		st = rml_calib_measure(p->cal, p->labels, p->n, p->k, bins, &p->after, err);
	return st;
}

/* The in-distribution calibration set: augmented copies, or the labelled
 * data as they are; and how many classes it holds. */
static rml_status make_id(const rml_dataset *d, const rml_calibrate_opts *o, int64_t k,
			  rml_calibrate_result *r, rml_error *err)
{
	rml_status st;
	if (o->per_class > 0) {
		st = rml_calib_augment_dataset(d, o->per_class, o->seed, &r->id, err);
	} else {
		int64_t lab = 0;
		for (int64_t i = 0; i < d->n; i++)
			lab += d->labels[i] >= 0;
		if (!lab)
			return rml_errorf(err, RML_ERR_ARG, "%s has no labelled image to calibrate on",
					  o->data_name);
		st = rml_dataset_alloc(&r->id, d->n, d->h, d->w, d->c, err);
		if (!st) {
			memcpy(r->id.images, d->images, (size_t)(d->n * d->h * d->w * d->c));
			memcpy(r->id.labels, d->labels, (size_t)d->n * sizeof *d->labels);
		}
	}
	if (st)
		return st;
	uint8_t *has = calloc((size_t)k, 1);
	if (!has)
		return rml_errorf(err, RML_ERR_NOMEM, "out of memory");
	for (int64_t i = 0; i < r->id.n; i++)
		if (r->id.labels[i] >= 0 && !has[r->id.labels[i]]) {
			has[r->id.labels[i]] = 1;
			r->n_present++;
		}
	free(has);
	return RML_OK;
}

/* The generated out-of-distribution calibration images, from the data's
 * images (not the copies), and the figures of their generation. */
static rml_status make_ood(const rml_dataset *d, const rml_calibrate_opts *o, rml_oodgen *g,
			   rml_calibrate_result *r, rml_error *err)
{
	int64_t count = o->ood_count > 0 ? o->ood_count
					 : (r->id.n + r->n_present - 1) / (r->n_present ? r->n_present : 1);
	rml_autoenc_opts ao;
	rml_autoenc_opts_default(&ao);
	ao.epochs = o->ae_epochs;
	ao.seed = o->seed;
	double t0 = rml_now();
	rml_status st = rml_oodgen_fit(g, o->ood, d->images, d->n, (int)d->h, (int)d->w, (int)d->c, &ao,
				       o->ae_progress, o->ctx, err);
	if (st)
		return st;
	double *nn = malloc((size_t)(count + 1) * sizeof *nn);
	if (!nn)
		return rml_errorf(err, RML_ERR_NOMEM, "out of memory");
	st = rml_dataset_alloc(&r->ood, count, d->h, d->w, d->c, err);
	if (!st)
		st = rml_dataset_set_classes(&r->ood, (const char *const *)d->class_names, d->n_classes, err);
	rml_sbo_opts so = o->sbo;
	so.seed = o->seed;
	if (!st)
		st = rml_oodgen_sample(g, d->images, d->n, count, &so, r->ood.images, NULL, nn, NULL, err);
	if (!st) {
		r->ood_min_dist = INFINITY;
		r->ood_mean_dist = 0;
		for (int64_t i = 0; i < count; i++) {
			r->ood_min_dist = fmin(r->ood_min_dist, nn[i]);
			r->ood_mean_dist += nn[i] / (double)count;
		}
		r->ae_dim = g->dim;
		r->ae_mse = g->ae_mse;
		r->ood_seconds = rml_now() - t0;
		free(r->ood.name);
		r->ood.name = strdup(rml_ood_space_name(o->ood));
		if (!r->ood.name)
			st = rml_errorf(err, RML_ERR_NOMEM, "out of memory");
	}
	free(nn);
	return st;
}

/* Share rejected by the rule, over all rows and over the OOD rows, and
 * ACC2 over the kept in-distribution rows. */
static void reject_stats(const float *probs, const int32_t *labels, int64_t n, int64_t k,
			 rml_reject_rule rule, double thr, double *rate, double *ood_rate, double *acc2)
{
	int64_t rej = 0, no = 0, nor = 0, kept = 0, right = 0, lab = 0;
	for (int64_t i = 0; i < n; i++) {
		const float *p = probs + i * k;
		int32_t pred;
		float conf, ent;
		rml_top1(p, 1, k, &pred, &conf);
		rml_entropy(p, 1, k, &ent);
		int rj = rule == RML_REJECT_ENTROPY ? !(ent <= thr) : !(conf >= thr);
		if (rule == RML_REJECT_NONE)
			rj = 0;
		rej += rj;
		no += labels[i] == RML_CALIB_OOD;
		nor += rj && labels[i] == RML_CALIB_OOD;
		lab += labels[i] >= 0;
		if (!rj && labels[i] >= 0) {
			kept++;
			right += pred == labels[i];
		}
	}
	*rate = n ? (double)rej / (double)n : NAN;
	*ood_rate = no ? (double)nor / (double)no : NAN;
	/* ACC2 as rml_eval_compute has it: 0 when labelled rows exist but
	 * all are rejected, NaN only without any. */
	*acc2 = kept ? (double)right / (double)kept : lab ? 0 : NAN;
}

/* The test set: the test images, SBO images made from them in the same
 * space (a separate seed stream), the real OOD images; its measures,
 * those by OOD source, and the stored rule on it. */
static rml_status measure_test(rml_model *m, const rml_dataset *test, const rml_dataset *xood,
			       const rml_calibrate_opts *o, rml_oodgen *g, rml_calibrate_result *r,
			       rml_error *err)
{
	rml_dataset tood;
	rml_dataset_init(&tood);
	const rml_dataset *sets[3] = { test, NULL, NULL };
	int isood[3] = { 0, 1, 1 }, ns = 1;
	rml_status st = RML_OK;
	if (o->ood != RML_OOD_NONE) {
		int64_t k = rml_model_n_classes(m);
		int64_t count = test->n / (k > 0 ? k : 1);
		if (count < 1)
			count = 1;
		rml_sbo_opts so = o->sbo;
		so.seed = o->seed + 0x5eed;
		st = rml_dataset_alloc(&tood, count, test->h, test->w, test->c, err);
		if (!st)
			st = rml_oodgen_sample(g, test->images, test->n, count, &so, tood.images, NULL, NULL,
					       NULL, err);
		sets[ns++] = &tood;
	}
	if (xood)
		sets[ns++] = xood;
	if (!st)
		st = set_make(&r->test, "test", m, sets, isood, ns, o->batch, err);
	if (!st)
		st = set_measure(&r->test, &r->cal, o->eval_bins, err);
	r->have_test = !st;
	r->n_test_generated = tood.n;
	r->n_test_real = xood ? xood->n : 0;
	rml_dataset_free(&tood);
	if (st)
		return st;
	rml_calibrate_set *tp = &r->test;
	/* Each source alone: the other's rows are masked as unknown. */
	r->by_source = r->n_test_generated > 0 && r->n_test_real > 0;
	if (r->by_source) {
		int32_t *mask = malloc((size_t)tp->n * sizeof *mask);
		if (!mask)
			return rml_errorf(err, RML_ERR_NOMEM, "out of memory");
		int64_t nt = test->n, ng = r->n_test_generated;
		for (int src = 0; src < 2 && !st; src++) {
			memcpy(mask, tp->labels, (size_t)tp->n * sizeof *mask);
			int64_t lo = src ? nt : nt + ng, hi = src ? nt + ng : tp->n;
			for (int64_t i = lo; i < hi; i++)
				mask[i] = -1;
			for (int a = 0; a < 2 && !st; a++) {
				rml_calib_measures x = { 0 };
				st = rml_calib_measure(a ? tp->cal : tp->raw, mask, tp->n, tp->k, o->eval_bins, &x,
						       err);
				r->src_auroc[src][a][0] = x.auroc_conf;
				r->src_auroc[src][a][1] = x.auroc_entropy;
			}
		}
		free(mask);
	}
	if (!st && o->reject != RML_REJECT_NONE)
		reject_stats(tp->cal, tp->labels, tp->n, tp->k, o->reject, r->choice.threshold,
			     &r->test_reject_rate, &r->test_ood_reject_rate, &r->test_acc2);
	return st;
}

/* Every method fitted on the calibration set and measured on the test set
 * when there is one, else on the calibration set; "none" first. */
static rml_status compare_all(const rml_calibrate_opts *o, rml_calibrate_result *r, rml_error *err)
{
	const rml_calibrate_set *cp = &r->calib, *mp = r->have_test ? &r->test : &r->calib;
	float *tmp = malloc((size_t)(mp->n * mp->k + 1) * sizeof(float));
	if (!tmp)
		return rml_errorf(err, RML_ERR_NOMEM, "out of memory");
	r->compare_on = mp->name;
	rml_status st = RML_OK;
	for (int j = -1; j < RML_CALIB_COUNT + 1 && !st; j++) {
		char *label = r->compare_label[j + 1];
		rml_calib_measures *x = &r->compare[j + 1];
		if (j < 0) {
			snprintf(label, sizeof r->compare_label[0], "none");
			st = rml_calib_measure(mp->raw, mp->labels, mp->n, mp->k, o->eval_bins, x, err);
		} else {
			rml_calib other;
			rml_calib_init(&other);
			rml_calib_opts co = o->calib;
			rml_calib_method meth = j == RML_CALIB_COUNT ? RML_CALIB_BBQ : (rml_calib_method)j;
			co.bbq_ensemble = j == RML_CALIB_COUNT;
			snprintf(label, sizeof r->compare_label[0], "%s%s", rml_calib_method_name(meth),
				 j == RML_CALIB_COUNT ? "-ensemble" : "");
			st = rml_calib_fit(&other, meth, cp->raw, cp->logits, cp->labels, cp->n, cp->k, &co, err);
			if (!st)
				st = rml_calib_apply(&other, mp->raw, mp->logits, mp->n, mp->k, tmp, err);
			if (!st)
				st = rml_calib_measure(tmp, mp->labels, mp->n, mp->k, o->eval_bins, x, err);
			rml_calib_free(&other);
		}
		if (!st)
			r->n_compare = j + 2;
	}
	free(tmp);
	return st;
}

rml_status rml_calibrate(rml_model *m, const rml_dataset *data, const rml_dataset *test,
			 const rml_dataset *test_ood, const rml_calibrate_opts *o,
			 rml_calibrate_result *r, rml_error *err)
{
	rml_calibrate_result_init(r);
	if (!m || !data || !o)
		return rml_errorf(err, RML_ERR_ARG, "rml_calibrate: NULL argument");
	int64_t k = rml_model_n_classes(m);
	if (k < 2)
		return rml_errorf(err, RML_ERR_ARG, "calibration needs a model of at least 2 classes");
	rml_oodgen g;
	rml_oodgen_init(&g);
	rml_status st = make_id(data, o, k, r, err);
	if (!st && o->stage)
		st = o->stage(o->ctx, RML_CALIBRATE_ID_READY, r, err);
	if (!st && o->ood != RML_OOD_NONE) {
		st = make_ood(data, o, &g, r, err);
		if (!st && o->stage)
			st = o->stage(o->ctx, RML_CALIBRATE_OOD_READY, r, err);
	}
	const rml_dataset *sets[2] = { &r->id, &r->ood };
	int isood[2] = { 0, 1 };
	if (!st)
		st = set_make(&r->calib, "calibration", m, sets, isood, o->ood != RML_OOD_NONE ? 2 : 1,
			      o->batch, err);
	if (!st)
		st = rml_calib_fit(&r->cal, o->method, r->calib.raw, r->calib.logits, r->calib.labels,
				   r->calib.n, r->calib.k, &o->calib, err);
	if (!st)
		st = set_measure(&r->calib, &r->cal, o->eval_bins, err);
	int cov = o->coverage > 0;
	if (!st && o->reject != RML_REJECT_NONE)
		st = rml_calib_choose_reject(r->calib.cal, r->calib.labels, r->calib.n, r->calib.k, o->reject,
					     cov ? 0 : o->max_rate, cov ? o->coverage : -1, &r->choice, err);
	if (!st && test)
		st = measure_test(m, test, test_ood, o, &g, r, err);
	if (!st && o->compare)
		st = compare_all(o, r, err);
	if (!st)
		st = rml_model_set_calibrator(m, &r->cal, err);
	if (!st)
		st = rml_model_set_reject_rule(m, o->reject,
					       o->reject != RML_REJECT_NONE ? r->choice.threshold : NAN, err);
	rml_oodgen_free(&g);
	return st;
}

/* ---- pictures ----------------------------------------------------------------------- */

rml_status rml_calibrate_reliability_png(const char *path, const rml_calibrate_set *p, int bins,
					 rml_error *err)
{
	float *conf[2];
	uint8_t *ok[2];
	int64_t n[2] = { 0, 0 };
	rml_status st = RML_OK;
	for (int s = 0; s < 2; s++) {
		conf[s] = malloc((size_t)(p->n + 1) * sizeof(float));
		ok[s] = malloc((size_t)(p->n + 1));
		if (!conf[s] || !ok[s])
			st = rml_errorf(err, RML_ERR_NOMEM, "out of memory");
	}
	for (int s = 0; s < 2 && !st; s++)
		for (int64_t i = 0; i < p->n; i++) {
			if (p->labels[i] < 0)
				continue;
			int32_t pred;
			rml_top1((s ? p->cal : p->raw) + i * p->k, 1, p->k, &pred, &conf[s][n[s]]);
			ok[s][n[s]++] = pred == p->labels[i];
		}
	char t0[128], t1[128];
	snprintf(t0, sizeof t0, "before (%s)", p->name);
	snprintf(t1, sizeof t1, "after (%s)", p->name);
	const char *titles[2] = { t0, t1 };
	if (!st)
		st = rml_reliability_png(path, 2, titles, (const float *const *)conf,
					 (const uint8_t *const *)ok, n, bins, err);
	for (int s = 0; s < 2; s++) {
		free(conf[s]);
		free(ok[s]);
	}
	return st;
}

rml_status rml_calibrate_risk_coverage_png(const char *path, const rml_calibrate_set *p,
					   rml_error *err)
{
	double *cov[2], *risk[2];
	int64_t np[2] = { 0, 0 };
	double aurc[2];
	rml_status st = RML_OK;
	for (int s = 0; s < 2; s++) {
		cov[s] = malloc((size_t)(p->n + 1) * sizeof(double));
		risk[s] = malloc((size_t)(p->n + 1) * sizeof(double));
		if (!cov[s] || !risk[s])
			st = rml_errorf(err, RML_ERR_NOMEM, "out of memory");
	}
	for (int s = 0; s < 2 && !st; s++)
		st = rml_risk_coverage(s ? p->cal : p->raw, p->labels, p->n, p->k, RML_REJECT_ENTROPY,
				       cov[s], risk[s], &np[s], &aurc[s], err);
	/* At most about 400 points per curve: one per 1/400 of coverage (the
	 * last point of each step), so markers do not merge into a band. */
	for (int s = 0; s < 2 && !st; s++) {
		int64_t w = 0;
		for (int64_t i = 0; i < np[s]; i++)
			if (i == np[s] - 1 || floor(cov[s][i + 1] * 400) > floor(cov[s][i] * 400)) {
				cov[s][w] = cov[s][i];
				risk[s][w++] = risk[s][i];
			}
		np[s] = w;
	}
	double top = 0;
	for (int s = 0; s < 2 && !st; s++)
		for (int64_t i = 0; i < np[s]; i++)
			top = fmax(top, risk[s][i]);
	char l0[64], l1[64], title[160];
	snprintf(l0, sizeof l0, "before, AURC %.4f", aurc[0]);
	snprintf(l1, sizeof l1, "after, AURC %.4f", aurc[1]);
	snprintf(title, sizeof title, "risk-coverage by entropy (%s)", p->name);
	rml_series sr[2] = {
		{ l0, cov[0], risk[0], (int)np[0], 0x7f7f7f, 0 },
		{ l1, cov[1], risk[1], (int)np[1], 0x1f77b4, 0 },
	};
	if (!st)
		st = rml_plot_png(path, title, "coverage (share of examples kept)", "risk (error rate)", sr,
				  2, 0, 1, 0, top > 0 ? fmin(1, top * 1.05) : 1, err);
	for (int s = 0; s < 2; s++) {
		free(cov[s]);
		free(risk[s]);
	}
	return st;
}
