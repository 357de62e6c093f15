/*
 * evaluate.c — rmlops-eval's measurements under rejection and faults,
 * and its reports (see evaluate.h).
 */
#include "evaluate.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "calib_model.h"
#include "canvas.h"

rml_status rml_eval_measure(rml_predictions *p, const rml_eval_opts *o, rml_eval_report *r,
			    rml_error *err)
{
	double used = NAN;
	rml_status st = RML_OK;
	if (!o->keep)
		st = rml_predictions_reject(p, o->reject, o->threshold, o->rate, &used, err);
	if (!st)
		st = rml_eval_compute(p, o->bins, o->binning, r, err);
	if (!st)
		r->threshold = used;
	return st;
}

static const char *const repeat_extra[5] = { "acc_drop", "sdc_rate", "masked", "sdc", "detected" };

const char *rml_eval_repeat_name(int i)
{
	if (i >= 0 && i < RML_EVAL_N_METRICS)
		return rml_metric_name(rml_eval_metrics[i]);
	return i >= RML_EVAL_N_METRICS && i < RML_EVAL_REPEAT_N ? repeat_extra[i - RML_EVAL_N_METRICS] : "?";
}

void rml_eval_repeat_values(const rml_predictions *p, const rml_eval_report *r, const int32_t *clean,
			    int32_t *pred, double v[RML_EVAL_REPEAT_N])
{
	rml_eval_report_values(r, v);
	rml_top1(p->probs, p->n, p->k, pred, NULL);
	/* Both accuracies of acc_drop are over the labelled images, as acc1
	 * is. An unlabelled image (-1) is not measured at all: a broken
	 * fault-free output predicts -1 too, which must not count as right
	 * on it. */
	int64_t labelled = 0, clean_right = 0, corrupted = 0;
	for (int64_t i = 0; i < p->n; i++) {
		if (p->labels[i] < 0)
			continue;
		labelled++;
		if (clean[i] == p->labels[i]) {
			clean_right++;
			corrupted += pred[i] != p->labels[i];
		}
	}
	v[RML_EVAL_N_METRICS] = labelled ? (double)clean_right / (double)labelled - r->acc1 : NAN;
	v[RML_EVAL_N_METRICS + 1] = clean_right ? (double)corrupted / (double)clean_right : 0;
	rml_fault_outcomes(p->probs, clean, p->n, p->k, v + RML_EVAL_N_METRICS + 2,
			   v + RML_EVAL_N_METRICS + 3, v + RML_EVAL_N_METRICS + 4);
}

rml_status rml_eval_repeat(rml_model *m, const rml_dataset *d, const char *targets,
			   const rml_fault_spec *spec, int64_t n_rep, uint64_t seed, int64_t batch,
			   int calibrated, const rml_eval_opts *o, rml_predictions *p,
			   rml_summary sum[RML_EVAL_REPEAT_N],
			   void (*progress)(int64_t done, int64_t total), rml_error *err)
{
	enum { NR = RML_EVAL_REPEAT_N };
	rml_fault_targets tg = { 0 };
	rml_eval_report rep = { 0 };
	double *vals = NULL, *col = NULL;
	int32_t *clean = NULL, *pred = NULL;
	rml_status st = rml_fault_targets_select(&tg, m, targets, err);
	if (st)
		goto out;
	vals = malloc((size_t)(n_rep * NR) * sizeof *vals);
	clean = malloc((size_t)(d->n + 1) * sizeof *clean);
	pred = malloc((size_t)(d->n + 1) * sizeof *pred);
	if (!vals || !clean || !pred) {
		st = rml_errorf(err, RML_ERR_NOMEM, "out of memory");
		goto out;
	}
	if ((st = rml_model_predict_calibrated(m, d, batch, calibrated, p->probs, err)) != RML_OK)
		goto out;
	rml_top1(p->probs, d->n, p->k, clean, NULL);
	for (int64_t r = 0; r < n_rep; r++) {
		rml_fault_log log;
		rml_fault_log_init(&log);
		rml_rng rng;
		rml_rng_seed_stream(&rng, seed, (uint64_t)r);
		st = rml_inject(spec, tg.t, tg.n, &rng, &log, err);
		if (!st)
			st = rml_model_predict_calibrated(m, d, batch, calibrated, p->probs, err);
		rml_inject_undo(tg.t, &log);
		rml_fault_log_free(&log);
		rml_eval_report_free(&rep);
		if (st || (st = rml_eval_measure(p, o, &rep, err)) != RML_OK)
			goto out;
		rml_eval_repeat_values(p, &rep, clean, pred, vals + r * NR);
		if (progress)
			progress(r + 1, n_rep);
	}
	if (!(col = malloc((size_t)n_rep * sizeof *col))) {
		st = rml_errorf(err, RML_ERR_NOMEM, "out of memory");
		goto out;
	}
	for (int i = 0; i < NR; i++) {
		for (int64_t r = 0; r < n_rep; r++)
			col[r] = vals[r * NR + i];
		rml_summarize(col, n_rep, &sum[i]);
	}
out:
	free(col);
	free(clean);
	free(pred);
	free(vals);
	rml_eval_report_free(&rep);
	rml_fault_targets_free(&tg);
	return st;
}

void rml_eval_sweep_free(rml_eval_sweep_result *s)
{
	for (int i = 0; s->label && i < s->n; i++)
		free(s->label[i]);
	free(s->label);
	free(s->x);
	free(s->mean);
	free(s->sd);
	free(s->sdc);
	free(s->det);
	memset(s, 0, sizeof *s);
}

rml_status rml_eval_sweep(rml_model *m, const rml_dataset *d, const char *targets,
			  const rml_fault_spec *spec, const char *kind, const double *rates,
			  int n_rates, int64_t n_rep, uint64_t seed, int64_t batch,
			  rml_eval_sweep_result *s, rml_error *err)
{
	rml_fault_targets tg;
	memset(s, 0, sizeof *s);
	rml_status st = rml_fault_targets_select(&tg, m, targets, err);
	if (st)
		return st;
	s->kind = !strcmp(kind, "tensors") ? RML_SWEEP_TENSORS
		  : !strcmp(kind, "bits") ? RML_SWEEP_BITS : RML_SWEEP_RATES;
	int n = s->kind == RML_SWEEP_TENSORS ? tg.n : s->kind == RML_SWEEP_BITS ? 32 : n_rates;
	s->x = malloc((size_t)n * sizeof *s->x);
	s->mean = malloc((size_t)n * sizeof *s->mean);
	s->sd = malloc((size_t)n * sizeof *s->sd);
	s->sdc = malloc((size_t)n * sizeof *s->sdc);
	s->det = malloc((size_t)n * sizeof *s->det);
	s->label = calloc((size_t)n, sizeof *s->label);
	if (!s->x || !s->mean || !s->sd || !s->sdc || !s->det || !s->label) {
		st = rml_errorf(err, RML_ERR_NOMEM, "out of memory");
		goto out;
	}
	s->n = n;
	for (int i = 0; i < n; i++) {
		char label[300];
		if (s->kind == RML_SWEEP_TENSORS)
			snprintf(label, sizeof label, "%s", tg.t[i].name);
		else if (s->kind == RML_SWEEP_BITS)
			snprintf(label, sizeof label, "%d", i);
		else
			snprintf(label, sizeof label, "%g", rates[i]);
		s->x[i] = s->kind == RML_SWEEP_RATES ? rates[i] : i;
		if (!(s->label[i] = strdup(label))) {
			st = rml_errorf(err, RML_ERR_NOMEM, "out of memory");
			goto out;
		}
	}
	st = rml_inject_sweep(m, d, &tg, spec, s->kind, rates, n, n_rep, seed, batch, s->mean, s->sd,
			      s->sdc, s->det, err);
out:
	if (st)
		rml_eval_sweep_free(s);
	rml_fault_targets_free(&tg);
	return st;
}

/* ---- reports -------------------------------------------------------------- */

void rml_eval_single_text(rml_outbuf *o, int json, const rml_eval_report *r, int with_threshold,
			  int per_class, const char *const *names, int64_t k,
			  const char *(*safe)(const char *))
{
	double v[RML_EVAL_N_METRICS];
	rml_eval_report_values(r, v);
	if (json) {
		rml_outbuf_printf(o, "{\"n\":%lld", (long long)r->n);
		for (int i = 0; i < RML_EVAL_N_METRICS; i++) {
			rml_outbuf_printf(o, ",\"%s\":", rml_metric_name(rml_eval_metrics[i]));
			rml_outbuf_json_num(o, v[i]);
		}
		if (with_threshold) {
			rml_outbuf_printf(o, ",\"threshold\":");
			rml_outbuf_json_num(o, r->threshold);
		}
	} else {
		rml_outbuf_printf(o, "%-12s %lld\n", "n", (long long)r->n);
		for (int i = 0; i < RML_EVAL_N_METRICS; i++)
			rml_outbuf_printf(o, "%-12s %.4f\n", rml_metric_name(rml_eval_metrics[i]), v[i]);
		if (with_threshold)
			rml_outbuf_printf(o, "%-12s %.4f\n", "threshold", r->threshold);
	}
	if (per_class && json)
		rml_outbuf_printf(o, ",\"per_class\":{");
	else if (per_class)
		rml_outbuf_printf(o, "%-20s %8s %8s\n", "class", "acc", "n");
	for (int64_t j = 0; per_class && j < k; j++) {
		char generic[32];
		snprintf(generic, sizeof generic, "class_%lld", (long long)j);
		const char *name = names && names[j] ? names[j] : generic;
		if (json) {
			if (j)
				rml_outbuf_add(o, ",", 1);
			rml_outbuf_json_str(o, name);
			rml_outbuf_printf(o, ":{\"acc\":");
			rml_outbuf_json_num(o, r->class_acc[j]);
			rml_outbuf_printf(o, ",\"n\":%lld}", (long long)r->class_n[j]);
		} else {
			rml_outbuf_printf(o, "%-20s %8.4f %8lld\n", safe ? safe(name) : name, r->class_acc[j],
					  (long long)r->class_n[j]);
		}
	}
	if (json)
		rml_outbuf_printf(o, "%s}\n", per_class ? "}" : "");
}

void rml_eval_repeat_text(rml_outbuf *o, int json, int64_t n, int64_t n_rep,
			  const rml_fault_spec *spec, const rml_summary sum[RML_EVAL_REPEAT_N])
{
	if (json)
		rml_outbuf_printf(o, "{\"n\":%lld,\"n_rep\":%lld,\"fault\":{\"model\":\"%s\",\"unit\":\"%s\",\"rate\":%g}",
				  (long long)n, (long long)n_rep, rml_fault_model_name(spec->model),
				  rml_fault_unit_name(spec->unit), spec->rate);
	else
		rml_outbuf_printf(o, "%-12s %10s %10s %21s   (%lld repetitions, %lld images)\n", "metric", "mean",
				  "sd", "95% CI", (long long)n_rep, (long long)n);
	for (int i = 0; i < RML_EVAL_REPEAT_N; i++) {
		const rml_summary *s = &sum[i];
		if (json) {
			/* A figure can be NaN (acc1 and acc_drop without a
			 * labelled image), and one NaN repetition makes the
			 * mean NaN: JSON has null for it. */
			rml_outbuf_printf(o, ",\"%s\":{\"mean\":", rml_eval_repeat_name(i));
			rml_outbuf_json_num(o, s->mean);
			rml_outbuf_printf(o, ",\"sd\":");
			rml_outbuf_json_num(o, s->sd);
			rml_outbuf_printf(o, ",\"ci95\":[");
			rml_outbuf_json_num(o, s->lo);
			rml_outbuf_add(o, ",", 1);
			rml_outbuf_json_num(o, s->hi);
			rml_outbuf_printf(o, "],\"n_rep\":%lld}", (long long)s->n_rep);
		} else
			rml_outbuf_printf(o, "%-12s %10.4f %10.4f   [%8.4f, %8.4f]\n", rml_eval_repeat_name(i), s->mean,
					  s->sd, s->lo, s->hi);
	}
	if (json)
		rml_outbuf_printf(o, "}\n");
}

static const char *sweep_axis(rml_sweep_kind kind)
{
	return kind == RML_SWEEP_TENSORS ? "tensor" : kind == RML_SWEEP_BITS ? "bit" : "rate";
}

void rml_eval_sweep_text(rml_outbuf *o, int json, const char *kind, int64_t n_rep,
			 const rml_eval_sweep_result *s)
{
	const char *axis = sweep_axis(s->kind);
	if (json)
		rml_outbuf_printf(o, "{\"sweep\":\"%s\",\"n_rep\":%lld,\"points\":[", kind, (long long)n_rep);
	else
		rml_outbuf_printf(o, "%-48s %10s %10s %10s %10s\n", axis, "acc1", "sd", "sdc_rate", "detected");
	for (int i = 0; i < s->n; i++) {
		if (json) {
			/* The label is a tensor name, which may hold any character. */
			rml_outbuf_printf(o, "%s{\"%s\":", i ? "," : "", axis);
			rml_outbuf_json_str(o, s->label[i]);
			rml_outbuf_printf(o, ",\"acc1\":");
			rml_outbuf_json_num(o, s->mean[i]);
			rml_outbuf_printf(o, ",\"sd\":");
			rml_outbuf_json_num(o, s->sd[i]);
			rml_outbuf_printf(o, ",\"sdc_rate\":");
			rml_outbuf_json_num(o, s->sdc[i]);
			rml_outbuf_printf(o, ",\"detected\":");
			rml_outbuf_json_num(o, s->det[i]);
			rml_outbuf_add(o, "}", 1);
		} else
			rml_outbuf_printf(o, "%-48s %10.4f %10.4f %10.4f %10.4f\n", s->label[i], s->mean[i], s->sd[i],
					  s->sdc[i], s->det[i]);
	}
	if (json)
		rml_outbuf_printf(o, "]}\n");
}

rml_status rml_eval_sweep_png(const char *path, const char *kind, int64_t n_rep,
			      const rml_eval_sweep_result *s, rml_error *err)
{
	const int n = s->n, ticks = s->kind == RML_SWEEP_TENSORS || s->kind == RML_SWEEP_BITS;
	rml_series series[2] = {
		{ "acc1", s->x, s->mean, n, 0x1f77b4, s->kind == RML_SWEEP_TENSORS },
		{ "sdc_rate", s->x, s->sdc, n, 0xd62728, 0 },
	};
	const char *xl = s->kind == RML_SWEEP_TENSORS ? "target tensor (in model order)"
			 : s->kind == RML_SWEEP_BITS ? "bit position (31 = sign, 23-30 exponent)"
						     : "fault rate";
	char title[128];
	snprintf(title, sizeof title, "faults by %s (%lld repetitions each)", kind, (long long)n_rep);
	/* Whole-number positions get half a step of room on either side. */
	double xmin = s->x[0] - (ticks ? 0.5 : 0), xmax = s->x[n - 1] + (ticks ? 0.5 : 0);
	return rml_plot_png(path, title, xl, "accuracy / SDC rate", series, 2, xmin, xmax, 0, 1, err);
}
