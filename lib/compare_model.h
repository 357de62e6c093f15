/*
 * compare_model.h — the A/B comparison (compare.h) bound to models: each
 * side's predictions through its calibrator and rejection rule, and the
 * comparison repeated under paired faults, where repetition r injects
 * the same draw (stream r of the seed) into A and into B, so that the
 * difference measures the models, not the luck of the faults.
 *
 * Not here: loading the models (the program does that), the reports'
 * text (compare_report.h).
 */
#ifndef RML_COMPARE_MODEL_H
#define RML_COMPARE_MODEL_H

#include <stdint.h>

#include "compare.h"
#include "dataset.h"
#include "inject_model.h"
#include "metrics.h"
#include "model.h"

/* One side: its model, its predictions on the data (allocated by the
 * caller with the data's labels), the rejection rule applied to them
 * (rate >= 0: reject that fraction instead of using threshold) and
 * whether the model's calibrator is used. */
typedef struct {
	rml_model *m;
	rml_predictions p;
	rml_reject_rule rule;
	double threshold, rate;
	int calibrated;
} rml_compare_side;

/* s's probabilities on d (rml_model_predict_calibrated), then its rule. */
rml_status rml_compare_side_predict(rml_compare_side *s, const rml_dataset *d, int64_t batch,
				    rml_error *err);

/* n_rep repetitions of: faults by spec drawn from stream r of seed into
 * A's targets (named by targets), predict, undo; the same draw into B's;
 * rml_compare (n_bins, no bootstrap). Summarised as
 * rml_compare_summarize_reps does into sum, lo and hi. progress (may be
 * NULL) after each repetition. The models are bit-identical afterwards. */
rml_status rml_compare_under_faults(rml_compare_side *a, rml_compare_side *b, const rml_dataset *d,
				    const char *targets, const rml_fault_spec *spec, int64_t n_rep,
				    uint64_t seed, int64_t batch, int n_bins,
				    rml_summary sum[RML_CMP_N][3], double lo[RML_CMP_N],
				    double hi[RML_CMP_N], void (*progress)(int64_t done, int64_t total),
				    rml_error *err);

#endif
