/*
 * evaluate.h — what rmlops-eval measures beyond one call of
 * rml_eval_compute, and its reports: a predictions set under a rejection
 * rule; the same over repeated fault injections (mean, sd and 95% CI of
 * every metric, with the fault-specific rates); a vulnerability sweep;
 * and the text and JSON of each, built in an rml_outbuf so that a report
 * can be tested without the program. The formats are the program's
 * documented output: a change here changes what users parse.
 *
 * Not here: the metrics themselves (metrics.h), injecting faults
 * (inject.h, inject_model.h), the A/B comparison (compare.h), files.
 */
#ifndef RML_EVALUATE_H
#define RML_EVALUATE_H

#include <stdint.h>

#include "dataset.h"
#include "inject_model.h"
#include "metrics.h"
#include "model.h"
#include "outbuf.h"

/* The rejection rule and binning a predictions set is measured under.
 * rate >= 0 rejects that fraction instead of using threshold; keep: leave
 * the predictions' own rejected flags (a predictions file measured
 * without a rule of the command line). */
typedef struct {
	rml_reject_rule reject;
	double threshold, rate;
	int keep;
	int bins;
	rml_binning binning;
} rml_eval_opts;

/* Apply o's rule to p (unless o->keep) and compute r (rml_eval_compute);
 * r->threshold is the threshold in force (NaN when none was applied). */
rml_status rml_eval_measure(rml_predictions *p, const rml_eval_opts *o, rml_eval_report *r,
			    rml_error *err);

/* The metrics of a repeated injection: rml_eval_metrics, then acc_drop
 * (fault-free accuracy minus this one), sdc_rate (the share of the
 * fault-free model's correct predictions the faults turn wrong), and the
 * per-image outcomes masked, sdc, detected (rml_fault_outcomes). */
#define RML_EVAL_REPEAT_N (RML_EVAL_N_METRICS + 5)
const char *rml_eval_repeat_name(int i);

/* One repetition's values v[RML_EVAL_REPEAT_N] from its predictions p
 * (with the images' labels, -1 for unknown) and their report r, against
 * clean[p->n], the fault-free model's top-1 (-1 for a broken output):
 * acc_drop is the fault-free accuracy over the labelled images minus
 * r->acc1 (NaN without a labelled image), sdc_rate the share of the
 * labelled images clean has right that p has wrong (0 when none);
 * unlabelled images count only in masked, sdc and detected. pred is
 * scratch [p->n]. */
void rml_eval_repeat_values(const rml_predictions *p, const rml_eval_report *r, const int32_t *clean,
			    int32_t *pred, double v[RML_EVAL_REPEAT_N]);

/* n_rep repetitions on d of: inject faults by spec into the targets
 * named by targets (rml_fault_targets_select), drawn from stream r of
 * seed so that any repetition can be reproduced alone; predict (through
 * the calibrator when calibrated); measure under o; undo. sum[i] is the
 * summary (rml_summarize) of metric i over the repetitions. p must be
 * allocated for d and m with d's labels; it holds the last repetition's
 * predictions afterwards. progress (may be NULL) after each repetition.
 * The model is bit-identical afterwards. */
rml_status rml_eval_repeat(rml_model *m, const rml_dataset *d, const char *targets,
			   const rml_fault_spec *spec, int64_t n_rep, uint64_t seed, int64_t batch,
			   int calibrated, const rml_eval_opts *o, rml_predictions *p,
			   rml_summary sum[RML_EVAL_REPEAT_N],
			   void (*progress)(int64_t done, int64_t total), rml_error *err);

/* A vulnerability sweep (rml_inject_sweep) and its points: label, x
 * position on a chart and the means over the repetitions. */
typedef struct {
	rml_sweep_kind kind;
	int n;
	char **label;        /* [n]: tensor name, bit position or rate */
	double *x, *mean, *sd, *sdc, *det;
} rml_eval_sweep_result;

/* The sweep "tensors", "bits" or "rates" (rates[0..n_rates) for the
 * last) over the targets named by targets, each point n_rep repetitions. */
rml_status rml_eval_sweep(rml_model *m, const rml_dataset *d, const char *targets,
			  const rml_fault_spec *spec, const char *kind, const double *rates,
			  int n_rates, int64_t n_rep, uint64_t seed, int64_t batch,
			  rml_eval_sweep_result *s, rml_error *err);
void rml_eval_sweep_free(rml_eval_sweep_result *s);

/* ---- reports -------------------------------------------------------------- */

/* One predictions set: n and the metrics, the threshold when
 * with_threshold, each class's accuracy when per_class (named by names
 * [k], or class_J when a name is missing). In the text, safe (may be
 * NULL) escapes the names for a terminal. */
void rml_eval_single_text(rml_outbuf *o, int json, const rml_eval_report *r, int with_threshold,
			  int per_class, const char *const *names, int64_t k,
			  const char *(*safe)(const char *));
/* The repetitions' summaries on n images (a non-finite value is null in
 * the JSON). */
void rml_eval_repeat_text(rml_outbuf *o, int json, int64_t n, int64_t n_rep,
			  const rml_fault_spec *spec, const rml_summary sum[RML_EVAL_REPEAT_N]);
/* The sweep's table, and its chart (accuracy and SDC rate) as a PNG. In
 * the JSON a point's label is an escaped string and a non-finite value
 * null. */
void rml_eval_sweep_text(rml_outbuf *o, int json, const char *kind, int64_t n_rep,
			 const rml_eval_sweep_result *s);
rml_status rml_eval_sweep_png(const char *path, const char *kind, int64_t n_rep,
			      const rml_eval_sweep_result *s, rml_error *err);

#endif
