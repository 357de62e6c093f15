/*
 * select.c — uncertainty ranking and the active-learning selection (see
 * select.h). The measures are computed here in double from the stored
 * probabilities rather than read from the file's entropy tensor, so the
 * order is the same whichever program wrote the predictions.
 */
#include "select.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dataops.h"

rml_status rml_uncertainty_parse(const char *s, rml_uncertainty *out, rml_error *err)
{
	static const char *const names[] = { "entropy", "confidence", "margin" };
	for (int i = 0; i < 3; i++)
		if (strcmp(s, names[i]) == 0) {
			*out = (rml_uncertainty)i;
			return RML_OK;
		}
	return rml_errorf(err, RML_ERR_ARG, "uncertainty is entropy, confidence or margin, not '%s'", s);
}

const char *rml_uncertainty_name(rml_uncertainty u)
{
	return u == RML_UNC_CONFIDENCE ? "confidence" : u == RML_UNC_MARGIN ? "margin" : "entropy";
}

void rml_uncertainty_compute(const float *probs, int64_t n, int64_t k, rml_uncertainty u,
			     double *unc)
{
	for (int64_t i = 0; i < n; i++) {
		const float *p = probs + i * k;
		int finite = 1;
		for (int64_t j = 0; j < k; j++)
			if (!isfinite(p[j]))
				finite = 0;
		if (!finite) {
			unc[i] = INFINITY;
			continue;
		}
		if (u == RML_UNC_ENTROPY) {
			double h = 0;
			for (int64_t j = 0; j < k; j++)
				if (p[j] > 0)
					h -= (double)p[j] * log((double)p[j]);
			/* Rounded to float32 as rml_entropy stores it, so that
			 * selection and rejection by a rate rank the same values
			 * and take the same rows. */
			unc[i] = (double)(float)h;
		} else {
			double a = -INFINITY, b = -INFINITY;  /* top and second */
			for (int64_t j = 0; j < k; j++) {
				double v = p[j];
				if (v > a) {
					b = a;
					a = v;
				} else if (v > b) {
					b = v;
				}
			}
			if (k < 2)
				b = 0;
			unc[i] = u == RML_UNC_CONFIDENCE ? 1.0 - a : 1.0 - (a - b);
		}
	}
}

typedef struct {
	double u;
	int64_t i;
} pair;

/* Larger uncertainty first, then smaller index: a total order, so qsort's
 * instability cannot show. The values are never NaN (see above). */
static int by_unc_desc(const void *x, const void *y)
{
	const pair *a = x, *b = y;
	if (a->u != b->u)
		return a->u > b->u ? -1 : 1;
	return (a->i > b->i) - (a->i < b->i);
}

rml_status rml_uncertainty_order(const float *probs, int64_t n, int64_t k, rml_uncertainty u,
				 int64_t *order, rml_error *err)
{
	double *unc = malloc((size_t)(n > 0 ? n : 1) * sizeof *unc);
	pair *s = malloc((size_t)(n > 0 ? n : 1) * sizeof *s);
	if (!unc || !s) {
		free(unc);
		free(s);
		return rml_errorf(err, RML_ERR_NOMEM, "out of memory for %lld predictions", (long long)n);
	}
	rml_uncertainty_compute(probs, n, k, u, unc);
	for (int64_t i = 0; i < n; i++)
		s[i] = (pair){ unc[i], i };
	qsort(s, (size_t)n, sizeof *s, by_unc_desc);
	for (int64_t i = 0; i < n; i++)
		order[i] = s[i].i;
	free(unc);
	free(s);
	return RML_OK;
}

void rml_selection_free(rml_selection *s)
{
	free(s->selected);
	free(s->rest);
	memset(s, 0, sizeof *s);
	s->threshold = NAN;
}

static int cmp_i64(const void *x, const void *y)
{
	int64_t a = *(const int64_t *)x, b = *(const int64_t *)y;
	return (a > b) - (a < b);
}

rml_status rml_dataset_select_uncertain(const rml_dataset *d, const rml_predictions *p,
					rml_uncertainty u, double fraction, int64_t count,
					rml_dataset *sel, rml_dataset *rest, rml_selection *s,
					rml_error *err)
{
	memset(s, 0, sizeof *s);
	s->threshold = NAN;
	rml_dataset_init(sel);
	if (rest)
		rml_dataset_init(rest);
	if (p->n != d->n)
		return rml_errorf(err, RML_ERR_MISMATCH,
				  "the predictions have %lld rows but the dataset has %lld images",
				  (long long)p->n, (long long)d->n);
	if (p->k != d->n_classes)
		return rml_errorf(err, RML_ERR_MISMATCH,
				  "the predictions have %lld classes but the dataset has %d",
				  (long long)p->k, d->n_classes);
	for (int64_t i = 0; i < d->n; i++)
		if (p->labels[i] >= 0 && p->labels[i] != d->labels[i])
			return rml_errorf(err, RML_ERR_MISMATCH,
					  "row %lld: the predictions have label %d, the dataset %d "
					  "(not made on this dataset?)",
					  (long long)i, p->labels[i], d->labels[i]);
	int64_t k;
	if (count > 0) {
		if (count > d->n)
			return rml_errorf(err, RML_ERR_ARG, "cannot select %lld of %lld images",
					  (long long)count, (long long)d->n);
		k = count;
	} else {
		if (!(fraction >= 0 && fraction <= 1))
			return rml_errorf(err, RML_ERR_ARG, "the fraction must be in [0, 1], not %g",
					  fraction);
		k = llround(fraction * (double)d->n);
		if (k > d->n)
			k = d->n;
	}
	int64_t *order = malloc((size_t)(d->n > 0 ? d->n : 1) * sizeof *order);
	double *unc = malloc((size_t)(d->n > 0 ? d->n : 1) * sizeof *unc);
	s->selected = malloc((size_t)(k > 0 ? k : 1) * sizeof *s->selected);
	s->rest = malloc((size_t)(d->n - k > 0 ? d->n - k : 1) * sizeof *s->rest);
	rml_status st = RML_OK;
	if (!order || !unc || !s->selected || !s->rest) {
		st = rml_errorf(err, RML_ERR_NOMEM, "out of memory for %lld predictions",
				(long long)d->n);
		goto out;
	}
	if ((st = rml_uncertainty_order(p->probs, p->n, p->k, u, order, err)))
		goto out;
	rml_uncertainty_compute(p->probs, p->n, p->k, u, unc);
	if (k > 0)
		s->threshold = unc[order[k - 1]];
	memcpy(s->selected, order, (size_t)k * sizeof *order);
	memcpy(s->rest, order + k, (size_t)(d->n - k) * sizeof *order);
	s->n_selected = k;
	s->n_rest = d->n - k;
	/* Dataset order in both outputs, as split and take keep it. */
	qsort(s->selected, (size_t)k, sizeof *order, cmp_i64);
	qsort(s->rest, (size_t)(d->n - k), sizeof *order, cmp_i64);
	if ((st = rml_dataset_select(sel, d, s->selected, k, err)))
		goto out;
	if (rest && (st = rml_dataset_select(rest, d, s->rest, d->n - k, err)))
		rml_dataset_free(sel);
out:
	free(order);
	free(unc);
	if (st)
		rml_selection_free(s);
	return st;
}
