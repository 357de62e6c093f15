/*
 * select.h — the active-learning step: rank the examples of a predictions
 * set by how uncertain the model was, and take the most uncertain ones
 * from the dataset the predictions were made on (their labels are the
 * labelling oracle of an experiment).
 *
 * Not here: computing predictions (rmlops-eval, rmlops-tta), rejection
 * (metrics.h: rml_predictions_reject), reading files.
 */
#ifndef RML_SELECT_H
#define RML_SELECT_H

#include <stdint.h>

#include "dataset.h"
#include "metrics.h"

/* Uncertainty measures, larger = less sure: entropy of the probability
 * row (natural log, 0 log 0 = 0, summed in double and rounded to float32
 * as rml_entropy stores it), 1 - the top probability (confidence),
 * 1 - (top - second) probability (margin), both in double (exact for
 * float32 probabilities). Entropy and confidence rank rows exactly as
 * rml_predictions_reject does with a rate. */
typedef enum { RML_UNC_ENTROPY = 0, RML_UNC_CONFIDENCE, RML_UNC_MARGIN } rml_uncertainty;

/* "entropy", "confidence" or "margin" to the enum; RML_ERR_ARG otherwise. */
rml_status rml_uncertainty_parse(const char *s, rml_uncertainty *out, rml_error *err);
const char *rml_uncertainty_name(rml_uncertainty u);

/* The uncertainty of each row of probs [n,k] by u, in double precision,
 * into unc[n]. A row with a NaN or infinite value gets +inf (the most
 * uncertain of all, as for rejection). */
void rml_uncertainty_compute(const float *probs, int64_t n, int64_t k, rml_uncertainty u,
			     double *unc);

/* The order of the rows from the most to the least uncertain: order[n]
 * receives row indices. Ties (equal uncertainty, including +inf) go by
 * index, smaller first, so the result does not depend on the sort. */
rml_status rml_uncertainty_order(const float *probs, int64_t n, int64_t k, rml_uncertainty u,
				 int64_t *order, rml_error *err);

/* The selection of rml_dataset_select_uncertain. */
typedef struct {
	int64_t n_selected;
	int64_t *selected;   /* [n_selected] row indices, ascending; owned */
	int64_t n_rest;
	int64_t *rest;       /* [n_rest] the others, ascending; owned */
	double threshold;    /* uncertainty of the least uncertain selected row
			      * (NaN when nothing is selected) */
} rml_selection;

void rml_selection_free(rml_selection *s);

/* Take the most uncertain rows of p from d: count > 0 of them, or else
 * round(fraction * n) (half away from zero). p must be made on d: the same
 * number of rows, as many classes as d has, and every known label of p
 * (>= 0) equal to d's label of that row; RML_ERR_MISMATCH otherwise, and
 * RML_ERR_ARG when count exceeds n or fraction is outside [0, 1]. The
 * selected rows go to sel (a dataset with d's classes and name, rows in
 * dataset order, labels from d) and, when rest is not NULL, the others
 * to rest (dataset order). On failure sel and rest are left empty and s
 * holds nothing. */
rml_status rml_dataset_select_uncertain(const rml_dataset *d, const rml_predictions *p,
					rml_uncertainty u, double fraction, int64_t count,
					rml_dataset *sel, rml_dataset *rest, rml_selection *s,
					rml_error *err);

#endif
