/*
 * compare_report.h — the reports of `rmlops-eval --compare` as text or
 * JSON, built in an rml_outbuf: one comparison with its bootstrap
 * intervals, the comparison repeated under faults, and the promotion
 * rules with the decision. The formats are the program's documented
 * output: a change here changes what users (and CI jobs) parse.
 *
 * Not here: computing the comparison (compare.h, compare_model.h).
 */
#ifndef RML_COMPARE_REPORT_H
#define RML_COMPARE_REPORT_H

#include <stdint.h>

#include "compare.h"
#include "inject.h"
#include "metrics.h"
#include "outbuf.h"

/* One comparison of a (path or name) and b, seeded by seed. The JSON
 * object is left open for rml_promote_text. */
void rml_compare_text(rml_outbuf *o, int json, const rml_compare_report *r, const char *a,
		      const char *b, int64_t seed);

/* The comparison repeated n_rep times under spec's faults on n examples:
 * sum and lo, hi as rml_compare_summarize_reps gives them. The JSON
 * object is left open for rml_promote_text. */
void rml_compare_repeat_text(rml_outbuf *o, int json, const char *a, const char *b, int64_t n,
			     int64_t n_rep, int64_t seed, const rml_fault_spec *spec,
			     const rml_summary sum[RML_CMP_N][3], const double lo[RML_CMP_N],
			     const double hi[RML_CMP_N]);

/* Judge the n rules (as written: texts[i]) on [lo, hi] and write each
 * with the bound it was judged on, then the decision (none without
 * rules); closes the JSON object. Returns 1 when all hold (also when n is
 * 0), else 0. */
int rml_promote_text(rml_outbuf *o, int json, const rml_promote_rule *rules,
		     const char *const *texts, int n, const double lo[RML_CMP_N],
		     const double hi[RML_CMP_N]);

#endif
