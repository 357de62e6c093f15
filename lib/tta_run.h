/*
 * tta_run.h — a whole run of rmlops-tta over a dataset: the rules the
 * model brings (adapters that must exist, the rejection rule stored with
 * its calibrator), adaptation along the stream with the predictions
 * before and after, rejection and the measures, the predictions file
 * with the run's settings, and the summary as JSON or one line of text.
 *
 * Not here: the adaptation itself (tta.h), rejection and measures
 * (metrics.h), options, messages and where files go (cmd/rmlops-tta.c).
 */
#ifndef RML_TTA_RUN_H
#define RML_TTA_RUN_H

#include <stdint.h>

#include "dataset.h"
#include "format.h"
#include "metrics.h"
#include "model.h"
#include "outbuf.h"
#include "rml.h"
#include "tta.h"

/* The settings of a run: the adaptation's, and the rejection's. */
typedef struct {
	rml_tta_opts o;
	const char *tune;        /* the groups as given ("phi,W", "bn"); NULL: "phi" */
	rml_reject_rule reject;
	double threshold;        /* when have_threshold */
	double rate;             /* reject this fraction instead; < 0: by threshold */
	int have_threshold;
	int reject_given;        /* the rule was chosen, not adopted from the model */
	int shuffle;             /* the stream's order drawn from o.seed */
} rml_tta_run_settings;

/* What a run leaves: the predictions (entropy before adapting included),
 * the measures, the accuracy before adapting, the threshold the
 * rejection used (NaN without), and the adaptation's figures. */
typedef struct {
	rml_predictions p;
	rml_eval_report rep;
	double acc_before, used;
	rml_tta_stats stats;
	int64_t n_adapted;
	int calibrated;          /* the predictions went through the model's calibrator */
} rml_tta_result;

void rml_tta_result_init(rml_tta_result *r);
void rml_tta_result_free(rml_tta_result *r);

/* What the model brings to s: RML_ERR_ARG (naming model_name and how to
 * add adapters) when s tunes PHI or OMEGA of a model without adapters
 * (identity adapters added here would adapt only their zero scale on the
 * first step, so they must be fine-tuned first); and, unless the rule
 * was given or calibration is off, the rejection rule and threshold
 * stored with its calibrator (*adopted 1). */
rml_status rml_tta_model_rules(rml_tta_run_settings *s, const rml_model *m,
			       const char *model_name, int *adopted, rml_error *err);

/* Adapt m along d's images (rml_tta_run_stream, shuffled when s says),
 * then reject by s's rule (rml_predictions_reject) and measure with 15
 * equal-width bins. progress as rml_tta_run_stream's (may be NULL). m
 * keeps what continual mode adapted. r is filled (free it also on
 * failure). */
rml_status rml_tta_run_dataset(rml_model *m, const rml_dataset *d, const rml_tta_run_settings *s,
			       void (*progress)(void *ctx, int64_t done, int64_t total), void *ctx,
			       rml_tta_result *r, rml_error *err);

/* The predictions file of r (rml_predictions_to_file) with the class
 * names (the model's, else d's) and the run's settings as keys tta.*
 * (rmlops-format(5)). */
rml_status rml_tta_predictions_file(const rml_tta_result *r, const rml_tta_run_settings *s,
				    const rml_model *m, const rml_dataset *d, rml_file *pf,
				    rml_error *err);

/* The summary: one JSON line (n, method, mode, steps, acc1_before, acc1,
 * acc2, reject_rate, threshold, the mean entropy before and after,
 * adapted_params, updates, skipped, seconds, augment_seconds,
 * images_per_s; null for what is not finite), or one line of text
 * without a newline. */
void rml_tta_report_json(rml_outbuf *o, const rml_tta_run_settings *s, const rml_tta_result *r);
void rml_tta_report_line(rml_outbuf *o, const rml_tta_run_settings *s, const rml_tta_result *r);

#endif
