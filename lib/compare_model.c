/*
 * compare_model.c — A/B comparison of models, also under paired faults
 * (see compare_model.h).
 */
#include "compare_model.h"

#include <stdlib.h>

#include "calib_model.h"

rml_status rml_compare_side_predict(rml_compare_side *s, const rml_dataset *d, int64_t batch,
				    rml_error *err)
{
	rml_status st = rml_model_predict_calibrated(s->m, d, batch, s->calibrated, s->p.probs, err);
	double used;
	if (!st)
		st = rml_predictions_reject(&s->p, s->rule, s->threshold, s->rate, &used, err);
	return st;
}

rml_status rml_compare_under_faults(rml_compare_side *a, rml_compare_side *b, const rml_dataset *d,
				    const char *targets, const rml_fault_spec *spec, int64_t n_rep,
				    uint64_t seed, int64_t batch, int n_bins,
				    rml_summary sum[RML_CMP_N][3], double lo[RML_CMP_N],
				    double hi[RML_CMP_N], void (*progress)(int64_t done, int64_t total),
				    rml_error *err)
{
	rml_fault_targets tg[2] = { { 0 }, { 0 } };
	rml_compare_side *two[2] = { a, b };
	rml_compare_report *reps = NULL;
	rml_status st = rml_fault_targets_select(&tg[0], a->m, targets, err);
	if (!st)
		st = rml_fault_targets_select(&tg[1], b->m, targets, err);
	if (!st && !(reps = malloc((size_t)n_rep * sizeof *reps)))
		st = rml_errorf(err, RML_ERR_NOMEM, "out of memory");
	for (int64_t r = 0; !st && r < n_rep; r++) {
		for (int j = 0; !st && j < 2; j++) {
			rml_fault_log log;
			rml_fault_log_init(&log);
			rml_rng rng;
			rml_rng_seed_stream(&rng, seed, (uint64_t)r);
			st = rml_inject(spec, tg[j].t, tg[j].n, &rng, &log, err);
			if (!st)
				st = rml_compare_side_predict(two[j], d, batch, err);
			rml_inject_undo(tg[j].t, &log);
			rml_fault_log_free(&log);
		}
		if (!st)
			st = rml_compare(&a->p, &b->p, n_bins, 0, 0, &reps[r], err);
		if (!st && progress)
			progress(r + 1, n_rep);
	}
	if (!st)
		rml_compare_summarize_reps(reps, n_rep, sum, lo, hi);
	free(reps);
	rml_fault_targets_free(&tg[0]);
	rml_fault_targets_free(&tg[1]);
	return st;
}
