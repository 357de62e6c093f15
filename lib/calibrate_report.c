/*
 * calibrate_report.c — rmlops-calibrate's report (calibrate_report.h).
 * The formats are the program's documented output: a change here
 * changes what users parse.
 */
#include "calibrate_report.h"

#include <math.h>

#include "metrics.h"
#include "outtext.h"

/* ,"key":{"acc1":...,"n_ood":N} — the last measure is a count. */
static void json_meas(rml_outbuf *o, const char *key, const rml_calib_measures *m)
{
	double v[RML_CALIBRATE_N_MEASURES];
	rml_calibrate_measure_values(m, v);
	rml_outbuf_printf(o, ",\"%s\":{", key);
	for (int i = 0; i < RML_CALIBRATE_N_MEASURES; i++) {
		rml_outbuf_printf(o, "%s\"%s\":", i ? "," : "", rml_metric_name(rml_calibrate_metrics[i]));
		if (i == RML_CALIBRATE_N_MEASURES - 1)
			rml_outbuf_printf(o, "%lld", (long long)v[i]);
		else
			rml_outbuf_json_num(o, v[i]);
	}
	rml_outbuf_printf(o, "}");
}

void rml_calibrate_report_json(rml_outbuf *out, const rml_calibrate_opts *p,
			       const rml_calibrate_result *r)
{
	rml_outbuf_printf(out, "{\"method\":\"%s\",\"ensemble\":%d,\"bins\":%d,\"params\":[%.6g,%.6g,%.6g]",
		       rml_calib_method_name(p->method), p->calib.bbq_ensemble, p->calib.n_bins,
		       r->cal.scalars[0], r->cal.scalars[1], r->cal.scalars[2]);
	rml_outbuf_printf(out, ",\"ood\":\"%s\",\"n_id\":%lld,\"n_ood\":%lld", rml_ood_space_name(p->ood),
		       (long long)r->id.n, (long long)r->ood.n);
	if (p->reject != RML_REJECT_NONE) {
		const char *key[6] = { "threshold", "reject_rate", "acc2", "test_reject_rate",
				       "test_ood_reject_rate", "test_acc2" };
		double v[6] = { r->choice.threshold, r->choice.reject_rate, r->choice.acc2,
				r->test_reject_rate, r->test_ood_reject_rate, r->test_acc2 };
		rml_outbuf_printf(out, ",\"reject\":{\"rule\":\"%s\"",
			       p->reject == RML_REJECT_ENTROPY ? "entropy" : "confidence");
		for (int i = 0; i < (r->have_test ? 6 : 3); i++) {
			rml_outbuf_printf(out, ",\"%s\":", key[i]);
			rml_outbuf_json_num(out, v[i]);
		}
		rml_outbuf_printf(out, "}");
	}
	for (int s = 0; s < 1 + r->have_test; s++) {
		const rml_calibrate_set *ps = s ? &r->test : &r->calib;
		rml_outbuf_printf(out, ",\"%s\":{\"n\":%lld", ps->name, (long long)ps->n);
		json_meas(out, "before", &ps->before);
		json_meas(out, "after", &ps->after);
		rml_outbuf_printf(out, "}");
	}
	if (r->by_source) {
		rml_outbuf_printf(out, ",\"test_auroc\":{");
		for (int src = 0; src < 2; src++) {
			rml_outbuf_printf(out, "%s\"%s\":{\"n\":%lld", src ? "," : "", src ? "real" : "generated",
				       (long long)(src ? r->n_test_real : r->n_test_generated));
			for (int a = 0; a < 2; a++) {
				rml_outbuf_printf(out, ",\"%s\":{\"auroc_conf\":", a ? "after" : "before");
				rml_outbuf_json_num(out, r->src_auroc[src][a][0]);
				rml_outbuf_printf(out, ",\"auroc_entropy\":");
				rml_outbuf_json_num(out, r->src_auroc[src][a][1]);
				rml_outbuf_printf(out, "}");
			}
			rml_outbuf_printf(out, "}");
		}
		rml_outbuf_printf(out, "}");
	}
	if (p->compare) {
		rml_outbuf_printf(out, ",\"compare\":{\"on\":\"%s\"", r->compare_on);
		for (int j = 0; j < r->n_compare; j++)
			json_meas(out, r->compare_label[j], &r->compare[j]);
		rml_outbuf_printf(out, "}");
	}
	rml_outbuf_printf(out, "}\n");
}

static void params_text(rml_outbuf *o, const rml_calib *c)
{
	if (c->method == RML_CALIB_TEMPERATURE)
		rml_outbuf_printf(o, "temperature %.4f", c->scalars[0]);
	else if (c->method == RML_CALIB_BETA)
		rml_outbuf_printf(o, "a %.4f  b %.4f  c %.4f", c->scalars[0], c->scalars[1], c->scalars[2]);
	else
		rml_outbuf_printf(o, "%lld model%s, %lld knots", (long long)c->n_models,
			       c->n_models == 1 ? "" : "s", (long long)c->n_knots);
}

void rml_calibrate_report_text(rml_outbuf *out, const rml_calibrate_opts *p,
			       const rml_calibrate_result *r)
{
	const rml_calib_measures *ms[4] = { &r->calib.before, &r->calib.after, &r->test.before,
					    &r->test.after };
	int nc = r->have_test ? 4 : 2;
	rml_outbuf_printf(out, "method %s%s, ", rml_calib_method_name(p->method),
		       p->calib.bbq_ensemble && p->method == RML_CALIB_BBQ ? " (ensemble)" : "");
	params_text(out, &r->cal);
	rml_outbuf_printf(out, "; calibrated on %lld augmented and %lld %s images\n", (long long)r->id.n,
		       (long long)r->ood.n, rml_ood_space_name(p->ood));
	if (p->reject != RML_REJECT_NONE) {
		int ent = p->reject == RML_REJECT_ENTROPY;
		rml_outbuf_printf(out, "rejection: %s > %.4f rejects %.4f of the calibration data (ACC2 %.4f)",
			       ent ? "entropy" : "1-confidence",
			       ent ? r->choice.threshold : 1 - r->choice.threshold, r->choice.reject_rate,
			       r->choice.acc2);
		if (r->have_test)
			rml_outbuf_printf(out, ", %.4f of the test data (ACC2 %.4f, OOD rejected %.4f)",
				       r->test_reject_rate, r->test_acc2, r->test_ood_reject_rate);
		rml_outbuf_printf(out, "\n");
	}
	const char *heads[4] = { "calib:before", "calib:after", "test:before", "test:after" };
	rml_outbuf_printf(out, "%-14s", "measure");
	for (int j = 0; j < nc; j++)
		rml_outbuf_printf(out, " %12s", heads[j]);
	rml_outbuf_printf(out, "\n");
	for (int i = 0; i < RML_CALIBRATE_N_MEASURES; i++) {
		rml_outbuf_printf(out, "%-14s", rml_metric_name(rml_calibrate_metrics[i]));
		for (int j = 0; j < nc; j++) {
			double v[RML_CALIBRATE_N_MEASURES];
			rml_calibrate_measure_values(ms[j], v);
			if (i == RML_CALIBRATE_N_MEASURES - 1)
				rml_outbuf_printf(out, " %12lld", (long long)v[i]);
			else if (isfinite(v[i]))
				rml_outbuf_printf(out, " %12.4f", v[i]);
			else
				rml_outbuf_printf(out, " %12s", "-");
		}
		rml_outbuf_printf(out, "\n");
	}
	for (int src = 0; r->by_source && src < 2; src++)
		rml_outbuf_printf(out, "test AUROC, %s OOD only (%lld images): confidence %.4f -> %.4f, "
			       "entropy %.4f -> %.4f\n",
			       src ? "real" : "generated",
			       (long long)(src ? r->n_test_real : r->n_test_generated),
			       r->src_auroc[src][0][0], r->src_auroc[src][1][0], r->src_auroc[src][0][1],
			       r->src_auroc[src][1][1]);
}

void rml_calibrate_report_compare(rml_outbuf *out, const rml_calibrate_result *r)
{
	rml_outbuf_printf(out, "\n%-20s %8s %8s %8s %8s %8s %8s %10s %10s   (on the %s data)\n", "method",
		       "acc1", "ece", "mce", "ace", "nll", "brier", "auroc_conf", "auroc_ent",
		       r->compare_on);
	for (int j = 0; j < r->n_compare; j++) {
		const rml_calib_measures *x = &r->compare[j];
		double v[8] = { x->acc1, x->ece, x->mce, x->ece_mass, x->nll, x->brier, x->auroc_conf,
				x->auroc_entropy };
		rml_outbuf_printf(out, "%-20s", r->compare_label[j]);
		for (int i = 0; i < 8; i++) {
			if (isfinite(v[i]))
				rml_outbuf_printf(out, i < 6 ? " %8.4f" : " %10.4f", v[i]);
			else
				rml_outbuf_printf(out, i < 6 ? " %8s" : " %10s", "-");
		}
		rml_outbuf_printf(out, "\n");
	}
}
