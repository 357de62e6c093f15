/*
 * compare_report.c — the text and JSON of A/B comparisons (see
 * compare_report.h).
 */
#include "compare_report.h"

#include <stdio.h>
#include <stdlib.h>

int rml_promote_text(rml_outbuf *o, int json, const rml_promote_rule *rules,
		     const char *const *texts, int n, const double lo[RML_CMP_N],
		     const double hi[RML_CMP_N])
{
	int *holds = calloc((size_t)n + 1, sizeof *holds);
	double *bound = calloc((size_t)n + 1, sizeof *bound);
	if (!holds || !bound) {
		free(holds);
		free(bound);
		o->failed = 1;
		return 0;
	}
	int promote = rml_promote_rules_judge(rules, n, lo, hi, holds, bound);
	if (json)
		rml_outbuf_printf(o, ",\"rules\":[");
	for (int i = 0; i < n; i++) {
		int greater = rules[i].greater;
		if (json) {
			rml_outbuf_printf(o, "%s{\"rule\":", i ? "," : "");
			rml_outbuf_json_str(o, texts[i]);
			rml_outbuf_printf(o, ",\"bound\":\"%s\",\"value\":", greater ? "ci95_lo" : "ci95_hi");
			rml_outbuf_json_num(o, bound[i]);
			rml_outbuf_printf(o, ",\"holds\":%s}", holds[i] ? "true" : "false");
		} else {
			rml_outbuf_printf(o, "rule         %s: %s (95%% CI %s bound %+.4f)\n", texts[i],
					  holds[i] ? "holds" : "fails", greater ? "lower" : "upper", bound[i]);
		}
	}
	if (json)
		rml_outbuf_printf(o, "],\"decision\":%s}\n", !n ? "null" : promote ? "\"promote\"" : "\"keep\"");
	else if (n)
		rml_outbuf_printf(o, "decision     %s\n", promote ? "promote" : "keep");
	free(holds);
	free(bound);
	return promote;
}

void rml_compare_text(rml_outbuf *o, int json, const rml_compare_report *r, const char *a,
		      const char *b, int64_t seed)
{
	if (json) {
		rml_outbuf_printf(o, "{\"a\":");
		rml_outbuf_json_str(o, a);
		rml_outbuf_printf(o, ",\"b\":");
		rml_outbuf_json_str(o, b);
		rml_outbuf_printf(o, ",\"n\":%lld,\"n_boot\":%lld,\"seed\":%lld,\"bins\":%d,"
				  "\"ci\":\"paired percentile bootstrap, 95%%\"",
				  (long long)r->n, (long long)r->n_boot, (long long)seed, r->n_bins);
		for (int k = 0; k < RML_CMP_N; k++) {
			const rml_cmp_stat *s = &r->m[k];
			rml_outbuf_printf(o, ",\"%s\":{\"a\":", rml_cmp_metric_name(k));
			rml_outbuf_json_num(o, s->a);
			rml_outbuf_printf(o, ",\"b\":");
			rml_outbuf_json_num(o, s->b);
			rml_outbuf_printf(o, ",\"diff\":");
			rml_outbuf_json_num(o, s->diff);
			rml_outbuf_printf(o, ",\"ci95\":[");
			rml_outbuf_json_num(o, s->lo);
			rml_outbuf_add(o, ",", 1);
			rml_outbuf_json_num(o, s->hi);
			rml_outbuf_printf(o, "]");
			if (k != RML_CMP_ECE)
				rml_outbuf_printf(o, ",\"n_pairs\":%lld,\"a_only\":%lld,\"b_only\":%lld,\"mcnemar_p\":%.6g",
						  (long long)s->n_pairs, (long long)s->n10, (long long)s->n01, s->p);
			rml_outbuf_printf(o, "}");
		}
		return;
	}
	rml_outbuf_printf(o, "a            %s\nb            %s\n", a, b);
	rml_outbuf_printf(o, "n            %lld labelled examples, %lld bootstrap resamples (paired, percentile 95%% CI), seed %lld\n",
			  (long long)r->n, (long long)r->n_boot, (long long)seed);
	rml_outbuf_printf(o, "%-8s %8s %8s %9s   %-20s %7s %7s %10s\n", "metric", "a", "b", "b-a", "95% CI",
			  "a_only", "b_only", "mcnemar_p");
	for (int k = 0; k < RML_CMP_N; k++) {
		const rml_cmp_stat *s = &r->m[k];
		char ci[64];
		snprintf(ci, sizeof ci, "[%+.4f, %+.4f]", s->lo, s->hi);
		if (k == RML_CMP_ECE)
			rml_outbuf_printf(o, "%-8s %8.4f %8.4f %+9.4f   %-20s %7s %7s %10s\n", rml_cmp_metric_name(k),
					  s->a, s->b, s->diff, ci, "-", "-", "-");
		else
			rml_outbuf_printf(o, "%-8s %8.4f %8.4f %+9.4f   %-20s %7lld %7lld %10.4g\n",
					  rml_cmp_metric_name(k), s->a, s->b, s->diff, ci, (long long)s->n10,
					  (long long)s->n01, s->p);
	}
}

void rml_compare_repeat_text(rml_outbuf *o, int json, const char *a, const char *b, int64_t n,
			     int64_t n_rep, int64_t seed, const rml_fault_spec *spec,
			     const rml_summary sum[RML_CMP_N][3], const double lo[RML_CMP_N],
			     const double hi[RML_CMP_N])
{
	if (json) {
		rml_outbuf_printf(o, "{\"a\":");
		rml_outbuf_json_str(o, a);
		rml_outbuf_printf(o, ",\"b\":");
		rml_outbuf_json_str(o, b);
		rml_outbuf_printf(o, ",\"n\":%lld,\"n_rep\":%lld,\"seed\":%lld,\"fault\":{\"model\":\"%s\",\"unit\":\"%s\",\"rate\":%g},"
				  "\"ci\":\"Student t over repetitions, 95%%\"",
				  (long long)n, (long long)n_rep, (long long)seed, rml_fault_model_name(spec->model),
				  rml_fault_unit_name(spec->unit), spec->rate);
	} else {
		rml_outbuf_printf(o, "a            %s\nb            %s\n", a, b);
		rml_outbuf_printf(o, "n            %lld examples, %lld repetitions of %s faults (the same seeds for a and b), seed %lld\n",
				  (long long)n, (long long)n_rep, rml_fault_model_name(spec->model), (long long)seed);
		rml_outbuf_printf(o, "%-8s %8s %8s %9s %9s   %s\n", "metric", "a", "b", "b-a", "sd",
				  "95% CI of the mean");
	}
	for (int k = 0; k < RML_CMP_N; k++) {
		const rml_summary *s = sum[k];
		if (json) {
			rml_outbuf_printf(o, ",\"%s\":{\"a\":", rml_cmp_metric_name(k));
			rml_outbuf_json_num(o, s[0].mean);
			rml_outbuf_printf(o, ",\"b\":");
			rml_outbuf_json_num(o, s[1].mean);
			rml_outbuf_printf(o, ",\"diff\":");
			rml_outbuf_json_num(o, s[2].mean);
			rml_outbuf_printf(o, ",\"sd\":");
			rml_outbuf_json_num(o, s[2].sd);
			rml_outbuf_printf(o, ",\"ci95\":[");
			rml_outbuf_json_num(o, lo[k]);
			rml_outbuf_add(o, ",", 1);
			rml_outbuf_json_num(o, hi[k]);
			rml_outbuf_printf(o, "]}");
		} else {
			char ci[64];
			snprintf(ci, sizeof ci, "[%+.4f, %+.4f]", lo[k], hi[k]);
			rml_outbuf_printf(o, "%-8s %8.4f %8.4f %+9.4f %9.4f   %s\n", rml_cmp_metric_name(k), s[0].mean,
					  s[1].mean, s[2].mean, s[2].sd, ci);
		}
	}
}
