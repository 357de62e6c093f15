/*
 * tta_run.c — a run of rmlops-tta over a dataset (tta_run.h). The report
 * formats are the program's documented output.
 */
#include "tta_run.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "calib_model.h"
#include "outtext.h"

void rml_tta_result_init(rml_tta_result *r)
{
	memset(r, 0, sizeof *r);
	rml_predictions_init(&r->p);
	r->acc_before = r->used = NAN;
}

void rml_tta_result_free(rml_tta_result *r)
{
	rml_eval_report_free(&r->rep);
	rml_predictions_free(&r->p);
	rml_tta_result_init(r);
}

rml_status rml_tta_model_rules(rml_tta_run_settings *s, const rml_model *m,
			       const char *model_name, int *adopted, rml_error *err)
{
	*adopted = 0;
	if (s->o.tune == RML_TTA_TUNE_GROUPS && !rml_model_has_adapters(m) &&
	    (s->o.groups & (RML_GROUP_BIT(RML_GROUP_PHI) | RML_GROUP_BIT(RML_GROUP_OMEGA))))
		return rml_errorf(err, RML_ERR_ARG,
				  "%s has no adapters: add and fine-tune them first (rmlops-train -m %s "
				  "--adapters 4 --tune phi,W -d DATA ...), or adapt batch norm with --tune bn",
				  model_name, model_name);
	rml_reject_rule stored;
	double stored_thr;
	rml_model_reject_rule(m, &stored, &stored_thr);
	if (!s->o.no_calibration && !s->reject_given && stored != RML_REJECT_NONE) {
		s->reject = stored;
		s->threshold = stored_thr;
		s->have_threshold = 1;
		*adopted = 1;
	}
	return RML_OK;
}

rml_status rml_tta_run_dataset(rml_model *m, const rml_dataset *d, const rml_tta_run_settings *s,
			       void (*progress)(void *ctx, int64_t done, int64_t total), void *ctx,
			       rml_tta_result *r, rml_error *err)
{
	int64_t k = rml_model_n_classes(m);
	rml_tta *t = NULL;
	float *before = NULL;
	rml_status st;
	if ((st = rml_tta_init(&t, m, &s->o, err)) || (st = rml_predictions_alloc(&r->p, d->n, k, err)))
		goto done;
	before = malloc((size_t)(d->n * k + 1) * sizeof *before);
	r->p.entropy_before = malloc((size_t)(d->n + 1) * sizeof *r->p.entropy_before);
	if (!before || !r->p.entropy_before) {
		st = rml_errorf(err, RML_ERR_NOMEM, "out of memory");
		goto done;
	}
	memcpy(r->p.labels, d->labels, (size_t)d->n * sizeof *r->p.labels);
	if ((st = rml_tta_run_stream(t, d->images, d->n, s->shuffle, s->o.seed, before, r->p.probs,
				     progress, ctx, err)))
		goto done;
	rml_entropy(before, d->n, k, r->p.entropy_before);
	if ((st = rml_predictions_reject(&r->p, s->reject, s->threshold,
					 s->reject == RML_REJECT_NONE ? -1 : s->rate, &r->used, err)) ||
	    (st = rml_eval_compute(&r->p, 15, RML_BINS_WIDTH, &r->rep, err)))
		goto done;
	r->acc_before = rml_accuracy(before, d->labels, d->n, k);
	rml_tta_get_stats(t, &r->stats);
	r->n_adapted = rml_tta_n_adapted(t);
	r->calibrated = !s->o.no_calibration && rml_model_calibrator_method(m) != NULL;
done:
	rml_tta_free(t);
	free(before);
	return st;
}

rml_status rml_tta_predictions_file(const rml_tta_result *r, const rml_tta_run_settings *s,
				    const rml_model *m, const rml_dataset *d, rml_file *pf,
				    rml_error *err)
{
	const rml_tta_opts *o = &s->o;
	int64_t k = rml_model_n_classes(m);
	const char *const *names = rml_model_class_names(m);
	if (!names)
		names = (const char *const *)d->class_names;
	rml_status st = rml_predictions_to_file(&r->p, pf, err);
	if (st)
		return st;
	int memo = o->method == RML_TTA_MEMO;
	if ((names && rml_set_str_array(pf, "predictions.classes", names, k)) ||
	    rml_set_str(pf, "tta.method", rml_tta_method_name(o->method)) ||
	    rml_set_str(pf, "tta.mode", o->continual ? "continual" : "episodic") ||
	    rml_set_str(pf, "tta.tune", s->tune ? s->tune : "phi") ||
	    rml_set_i64(pf, "tta.steps", o->steps) || rml_set_f64(pf, "tta.lr", o->lr) ||
	    rml_set_f64(pf, "tta.momentum", o->momentum) ||
	    rml_set_str(pf, "tta.optimizer", o->optimizer == RML_OPT_SGD ? "sgd" : "adamw") ||
	    rml_set_i64(pf, memo ? "tta.aug_copies" : "tta.batch", memo ? o->n_aug : o->batch) ||
	    rml_set_str(pf, "tta.reject", rml_reject_rule_name(s->reject)) ||
	    rml_set_i64(pf, "tta.calibrated", !o->no_calibration && rml_model_calibrator_method(m) != NULL) ||
	    rml_set_i64(pf, "tta.shuffle", s->shuffle) ||
	    (isfinite(r->used) && rml_set_f64(pf, "tta.threshold", r->used)))
		return rml_errorf(err, RML_ERR_NOMEM, "out of memory");
	return RML_OK;
}

static double mean_of(const float *x, int64_t n)
{
	double sum = 0;
	for (int64_t i = 0; i < n; i++)
		sum += x[i];
	return n ? sum / (double)n : NAN;
}

static void json_num(rml_outbuf *o, const char *key, double v)
{
	rml_outbuf_printf(o, ",\"%s\":", key);
	rml_outbuf_json_num(o, v);
}

void rml_tta_report_json(rml_outbuf *o, const rml_tta_run_settings *s, const rml_tta_result *r)
{
	const rml_tta_stats *ts = &r->stats;
	int64_t n = r->p.n;
	rml_outbuf_printf(o, "{\"n\":%lld,\"method\":\"%s\",\"mode\":\"%s\",\"steps\":%d", (long long)n,
		       rml_tta_method_name(s->o.method), s->o.continual ? "continual" : "episodic",
		       s->o.steps);
	json_num(o, "acc1_before", r->acc_before);
	json_num(o, "acc1", r->rep.acc1);
	json_num(o, "acc2", r->rep.acc2);
	json_num(o, "reject_rate", r->rep.reject_rate);
	json_num(o, "threshold", r->used);
	json_num(o, "entropy_before", mean_of(r->p.entropy_before, n));
	json_num(o, "entropy_after", mean_of(r->p.entropy, n));
	rml_outbuf_printf(o, ",\"adapted_params\":%lld,\"updates\":%lld,\"skipped\":%lld",
		       (long long)r->n_adapted, (long long)ts->updates, (long long)ts->skipped);
	json_num(o, "seconds", ts->seconds);
	json_num(o, "augment_seconds", ts->aug_seconds);
	json_num(o, "images_per_s", ts->seconds > 0 ? (double)n / ts->seconds : NAN);
	rml_outbuf_printf(o, "}\n");
}

void rml_tta_report_line(rml_outbuf *o, const rml_tta_run_settings *s, const rml_tta_result *r)
{
	int64_t n = r->p.n;
	const rml_tta_stats *ts = &r->stats;
	rml_outbuf_printf(o, "%lld images, %s %s: acc1 %.4f (before adapting %.4f), mean entropy %.3f "
		       "(before %.3f), rejected %.1f%%, %.1f images/s",
		       (long long)n, rml_tta_method_name(s->o.method),
		       s->o.continual ? "continual" : "episodic", r->rep.acc1, r->acc_before,
		       mean_of(r->p.entropy, n), mean_of(r->p.entropy_before, n),
		       100 * r->rep.reject_rate, ts->seconds > 0 ? (double)n / ts->seconds : 0);
}
