/*
 * metrics.c — accuracy, rejection, proper scores, calibration errors,
 * AUROC, confidence intervals and the predictions file (see metrics.h).
 * Non-finite probability rows follow the one rule of metrics.h: the
 * all-zero prediction (no class gets any probability), rejected before
 * any finite row; every branch below tests row_finite() explicitly, so no
 * row is kept or dropped by how a comparison with NaN happens to fall.
 */
#include "metrics.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static int row_finite(const float *p, int64_t k)
{
	for (int64_t j = 0; j < k; j++)
		if (!isfinite(p[j]))
			return 0;
	return 1;
}

void rml_top1(const float *probs, int64_t n, int64_t k, int32_t *pred, float *conf)
{
	for (int64_t i = 0; i < n; i++) {
		const float *p = probs + i * k;
		if (!row_finite(p, k)) {
			if (pred)
				pred[i] = -1;
			if (conf)
				conf[i] = 0;
			continue;
		}
		int64_t best = 0;
		for (int64_t j = 1; j < k; j++)
			if (p[j] > p[best])
				best = j;
		if (pred)
			pred[i] = (int32_t)best;
		if (conf)
			conf[i] = p[best];
	}
}

const char *rml_reject_rule_name(rml_reject_rule rule)
{
	return rule == RML_REJECT_ENTROPY ? "entropy" : rule == RML_REJECT_CONFIDENCE ? "confidence" : "none";
}

int rml_reject_rule_parse(const char *name, rml_reject_rule *rule)
{
	static const rml_reject_rule all[] = { RML_REJECT_NONE, RML_REJECT_ENTROPY, RML_REJECT_CONFIDENCE };
	for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
		if (strcmp(name, rml_reject_rule_name(all[i])) == 0) {
			*rule = all[i];
			return 0;
		}
	return -1;
}

double rml_accuracy(const float *probs, const int32_t *labels, int64_t n, int64_t k)
{
	int64_t right = 0, labelled = 0;
	for (int64_t i = 0; i < n; i++) {
		if (labels[i] < 0)
			continue;
		int32_t pred;
		rml_top1(probs + i * k, 1, k, &pred, NULL);
		labelled++;
		right += pred == labels[i];
	}
	return labelled ? (double)right / (double)labelled : NAN;
}

void rml_entropy(const float *probs, int64_t n, int64_t k, float *ent)
{
	for (int64_t i = 0; i < n; i++) {
		const float *p = probs + i * k;
		if (!row_finite(p, k)) {
			ent[i] = (float)log((double)k);
			continue;
		}
		double h = 0;
		for (int64_t j = 0; j < k; j++)
			if (p[j] > 0)
				h -= (double)p[j] * log((double)p[j]);
		ent[i] = (float)h;
	}
}

typedef struct {
	float conf;
	int64_t i;
} ci_pair;

static int by_conf(const void *a, const void *b)
{
	const ci_pair *x = a, *y = b;
	if (x->conf != y->conf)
		return x->conf < y->conf ? -1 : 1;
	return (x->i > y->i) - (x->i < y->i);
}

/* Bin statistics for ECE/MCE; returns NAN on allocation failure. */
static double calib_error(const float *conf, const uint8_t *correct, int64_t n, int n_bins,
			  rml_binning b, int max)
{
	if (n <= 0 || n_bins <= 0)
		return NAN;
	double err = 0;
	if (b == RML_BINS_WIDTH) {
		double *sc = calloc((size_t)n_bins, sizeof *sc), *sa = calloc((size_t)n_bins, sizeof *sa);
		int64_t *cnt = calloc((size_t)n_bins, sizeof *cnt);
		if (!sc || !sa || !cnt) {
			free(sc);
			free(sa);
			free(cnt);
			return NAN;
		}
		for (int64_t i = 0; i < n; i++) {
			double c = isfinite(conf[i]) ? conf[i] : 0;
			int bi = (int)(c * n_bins);
			if (bi >= n_bins)
				bi = n_bins - 1;
			if (bi < 0)
				bi = 0;
			sc[bi] += c;
			sa[bi] += correct[i];
			cnt[bi]++;
		}
		for (int k = 0; k < n_bins; k++) {
			if (!cnt[k])
				continue;
			double gap = fabs(sa[k] / cnt[k] - sc[k] / cnt[k]);
			err = max ? fmax(err, gap) : err + gap * (double)cnt[k] / (double)n;
		}
		free(sc);
		free(sa);
		free(cnt);
		return err;
	}
	ci_pair *s = malloc((size_t)n * sizeof *s);
	if (!s)
		return NAN;
	for (int64_t i = 0; i < n; i++) {
		s[i].conf = isfinite(conf[i]) ? conf[i] : 0;
		s[i].i = i;
	}
	qsort(s, (size_t)n, sizeof *s, by_conf);
	int64_t hi = 0;
	for (int k = 0; k < n_bins; k++) {
		/* A cut between equal confidences would make the result depend on
		 * the order of the rows, so a cut moves forward past ties. */
		int64_t lo = hi;
		hi = k == n_bins - 1 ? n : n * (k + 1) / n_bins;
		if (hi < lo)
			hi = lo;
		while (hi > 0 && hi < n && s[hi].conf == s[hi - 1].conf)
			hi++;
		if (hi <= lo)
			continue;
		double c = 0, a = 0;
		for (int64_t j = lo; j < hi; j++) {
			c += s[j].conf;
			a += correct[s[j].i];
		}
		double gap = fabs(a / (double)(hi - lo) - c / (double)(hi - lo));
		err = max ? fmax(err, gap) : err + gap * (double)(hi - lo) / (double)n;
	}
	free(s);
	return err;
}

double rml_ece(const float *conf, const uint8_t *correct, int64_t n, int n_bins, rml_binning b)
{
	return calib_error(conf, correct, n, n_bins, b, 0);
}

double rml_mce(const float *conf, const uint8_t *correct, int64_t n, int n_bins, rml_binning b)
{
	return calib_error(conf, correct, n, n_bins, b, 1);
}

double rml_nll(const float *probs, const int32_t *labels, int64_t n, int64_t k)
{
	double s = 0;
	int64_t m = 0;
	for (int64_t i = 0; i < n; i++) {
		if (labels[i] < 0 || labels[i] >= k)
			continue;
		double p = probs[i * k + labels[i]];
		if (!row_finite(probs + i * k, k))
			p = 0;
		s -= log(p > 1e-12 ? p : 1e-12);
		m++;
	}
	return m ? s / (double)m : NAN;
}

double rml_brier(const float *probs, const int32_t *labels, int64_t n, int64_t k)
{
	double s = 0;
	int64_t m = 0;
	for (int64_t i = 0; i < n; i++) {
		if (labels[i] < 0 || labels[i] >= k)
			continue;
		const float *p = probs + i * k;
		int fin = row_finite(p, k);
		for (int64_t j = 0; j < k; j++) {
			double pj = fin ? p[j] : 0.0;  /* the all-zero prediction */
			double y = j == labels[i];
			s += (pj - y) * (pj - y);
		}
		m++;
	}
	return m ? s / (double)m : NAN;
}

double rml_auroc(const float *score, const uint8_t *positive, int64_t n)
{
	ci_pair *s = malloc((size_t)(n ? n : 1) * sizeof *s);
	if (!s)
		return NAN;
	int64_t np = 0, nn = 0;
	for (int64_t i = 0; i < n; i++) {
		s[i].conf = isfinite(score[i]) ? score[i] : -INFINITY;
		s[i].i = i;
		np += positive[i] != 0;
	}
	nn = n - np;
	if (!np || !nn) {
		free(s);
		return NAN;  /* no pair to rank */
	}
	qsort(s, (size_t)n, sizeof *s, by_conf);
	/* Mann–Whitney U with mid-ranks for ties. */
	double rank_sum = 0;
	for (int64_t i = 0; i < n;) {
		int64_t j = i;
		while (j < n && s[j].conf == s[i].conf)
			j++;
		double mid = (double)(i + 1 + j) / 2.0;
		for (int64_t q = i; q < j; q++)
			if (positive[s[q].i])
				rank_sum += mid;
		i = j;
	}
	free(s);
	return (rank_sum - (double)np * (double)(np + 1) / 2.0) / ((double)np * (double)nn);
}

/* Exact quantiles up to 30 degrees of freedom (the expansion below is off
 * by 1e-3 at df = 5); beyond, the Cornish-Fisher expansion of the t
 * quantile around the normal one (Abramowitz & Stegun 26.7.5, three
 * terms), which is within 3e-6 from df = 31 on. */
double rml_student_t975(int64_t df)
{
	static const double tab[31] = {
		0, 12.706205, 4.302653, 3.182446, 2.776445, 2.570582, 2.446912, 2.364624,
		2.306004, 2.262157, 2.228139, 2.200985, 2.178813, 2.160369, 2.144787, 2.131450,
		2.119905, 2.109816, 2.100922, 2.093024, 2.085963, 2.079614, 2.073873, 2.068658,
		2.063899, 2.059539, 2.055529, 2.051831, 2.048407, 2.045230, 2.042272,
	};
	if (df <= 0)
		return NAN;
	if (df <= 30)
		return tab[df];
	double z = 1.959963984540054, v = (double)df;
	double z3 = z * z * z, z5 = z3 * z * z, z7 = z5 * z * z;
	return z + (z3 + z) / (4 * v) + (5 * z5 + 16 * z3 + 3 * z) / (96 * v * v) +
	       (3 * z7 + 19 * z5 + 17 * z3 - 15 * z) / (384 * v * v * v);
}

void rml_summarize(const double *x, int64_t n, rml_summary *s)
{
	s->n_rep = n;
	double m = 0;
	for (int64_t i = 0; i < n; i++)
		m += x[i];
	m = n ? m / (double)n : 0;
	double v = 0;
	for (int64_t i = 0; i < n; i++)
		v += (x[i] - m) * (x[i] - m);
	s->mean = m;
	s->sd = n > 1 ? sqrt(v / (double)(n - 1)) : 0;
	double half = n > 1 ? rml_student_t975(n - 1) * s->sd / sqrt((double)n) : 0;
	s->lo = m - half;
	s->hi = m + half;
}

/* ---- predictions ----------------------------------------------------------- */

void rml_predictions_init(rml_predictions *p)
{
	memset(p, 0, sizeof *p);
}

void rml_predictions_free(rml_predictions *p)
{
	free(p->probs);
	free(p->labels);
	free(p->rejected);
	free(p->entropy);
	free(p->entropy_before);
	rml_predictions_init(p);
}

rml_status rml_predictions_alloc(rml_predictions *p, int64_t n, int64_t k, rml_error *err)
{
	int64_t nk;
	if (n < 0 || k < 1 || rml_mul_overflow(n, k, &nk))
		return rml_errorf(err, RML_ERR_LIMIT, "predictions of %lld x %lld are beyond the limits",
				  (long long)n, (long long)k);
	rml_predictions_free(p);
	p->probs = calloc((size_t)(nk ? nk : 1), sizeof *p->probs);
	p->labels = malloc((size_t)(n ? n : 1) * sizeof *p->labels);
	p->rejected = calloc((size_t)(n ? n : 1), 1);
	p->entropy = calloc((size_t)(n ? n : 1), sizeof *p->entropy);
	if (!p->probs || !p->labels || !p->rejected || !p->entropy) {
		rml_predictions_free(p);
		return rml_errorf(err, RML_ERR_NOMEM, "out of memory");
	}
	for (int64_t i = 0; i < n; i++)
		p->labels[i] = -1;
	p->n = n;
	p->k = k;
	return RML_OK;
}

rml_status rml_predictions_to_file(const rml_predictions *p, rml_file *f, rml_error *err)
{
	int64_t d2[2] = { p->n, p->k }, d1[1] = { p->n };
	rml_status st = rml_set_str(f, "kind", "predictions");
	if (st)
		return rml_errorf(err, st, "out of memory");
	if (!rml_add_tensor(f, "probs", RML_DTYPE_F32, 2, d2, p->probs, err) ||
	    !rml_add_tensor(f, "labels", RML_DTYPE_I32, 1, d1, p->labels, err) ||
	    !rml_add_tensor(f, "rejected", RML_DTYPE_U8, 1, d1, p->rejected, err) ||
	    !rml_add_tensor(f, "entropy", RML_DTYPE_F32, 1, d1, p->entropy, err) ||
	    (p->entropy_before &&
	     !rml_add_tensor(f, "entropy_before", RML_DTYPE_F32, 1, d1, p->entropy_before, err)))
		return err ? err->code : RML_ERR_NOMEM;
	return RML_OK;
}

/* An entropy of k classes lies in [0, log k]; a little slack for float
 * rounding. */
static int entropy_ok(float h, int64_t k)
{
	return isfinite(h) && h >= 0 && h <= log((double)k) + RML_PREDICTIONS_TOL;
}

/* What the programs write, so what a reader accepts: each row either all
 * NaN (the model's outputs were not numbers; it counts as wrong and
 * maximally uncertain) or finite values in [0, 1] summing to 1 within
 * RML_PREDICTIONS_TOL; rejected flags 0 or 1; entropies per entropy_ok. */
static rml_status check_predictions(const rml_predictions *p, rml_error *err)
{
	for (int64_t i = 0; i < p->n; i++) {
		const float *r = p->probs + i * p->k;
		int64_t n_nan = 0;
		double sum = 0;
		for (int64_t j = 0; j < p->k; j++) {
			if (isnan(r[j])) {
				n_nan++;
				continue;
			}
			if (!(r[j] >= 0 && r[j] <= 1))
				return rml_errorf(err, RML_ERR_FORMAT,
						  "predictions: probability %lld of row %lld is %g, "
						  "outside [0, 1]",
						  (long long)j, (long long)i, r[j]);
			sum += r[j];
		}
		if (n_nan && n_nan != p->k)
			return rml_errorf(err, RML_ERR_FORMAT,
					  "predictions: row %lld is partly NaN (a row is all numbers "
					  "or all NaN)",
					  (long long)i);
		if (!n_nan && !(fabs(sum - 1) <= RML_PREDICTIONS_TOL))
			return rml_errorf(err, RML_ERR_FORMAT,
					  "predictions: row %lld sums to %.6g, not 1 (tolerance %g)",
					  (long long)i, sum, RML_PREDICTIONS_TOL);
		if (p->rejected[i] > 1)
			return rml_errorf(err, RML_ERR_FORMAT,
					  "predictions: rejected flag of row %lld is %d, not 0 or 1",
					  (long long)i, p->rejected[i]);
		if (!entropy_ok(p->entropy[i], p->k))
			return rml_errorf(err, RML_ERR_FORMAT,
					  "predictions: entropy of row %lld is %g, outside [0, log %lld]",
					  (long long)i, p->entropy[i], (long long)p->k);
	}
	return RML_OK;
}

rml_status rml_predictions_from_file(rml_predictions *p, const rml_file *f, rml_error *err)
{
	rml_predictions_init(p);
	rml_status st = rml_expect_kind(f, "predictions", "input", err);
	if (st)
		return st;
	rml_tensor *pr = rml_expect_tensor(f, "probs", RML_DTYPE_F32, 2, err);
	rml_tensor *lb = pr ? rml_expect_tensor(f, "labels", RML_DTYPE_I32, 1, err) : NULL;
	rml_tensor *rj = lb ? rml_expect_tensor(f, "rejected", RML_DTYPE_U8, 1, err) : NULL;
	rml_tensor *en = rj ? rml_expect_tensor(f, "entropy", RML_DTYPE_F32, 1, err) : NULL;
	if (!en)
		return RML_ERR_FORMAT;
	int64_t n = pr->dims[0], k = pr->dims[1];
	if (lb->dims[0] != n || rj->dims[0] != n || en->dims[0] != n || k < 1)
		return rml_errorf(err, RML_ERR_FORMAT, "predictions: tensors disagree on the count");
	st = rml_predictions_alloc(p, n, k, err);
	if (st)
		return st;
	memcpy(p->probs, pr->data, pr->nbytes);
	memcpy(p->labels, lb->data, lb->nbytes);
	memcpy(p->rejected, rj->data, rj->nbytes);
	memcpy(p->entropy, en->data, en->nbytes);
	for (int64_t i = 0; i < n; i++)
		if (p->labels[i] < -1 || p->labels[i] >= k) {
			rml_status st2 = rml_errorf(err, RML_ERR_FORMAT,
						    "predictions: label %d of row %lld is out of range",
						    p->labels[i], (long long)i);
			rml_predictions_free(p);
			return st2;
		}
	st = check_predictions(p, err);
	if (st) {
		rml_predictions_free(p);
		return st;
	}
	if (!rml_find_tensor(f, "entropy_before"))
		return RML_OK;
	rml_tensor *eb = rml_expect_tensor(f, "entropy_before", RML_DTYPE_F32, 1, err);
	if (!eb || eb->dims[0] != n) {
		rml_predictions_free(p);
		return eb ? rml_errorf(err, RML_ERR_FORMAT, "predictions: entropy_before has %lld rows, not %lld",
				       (long long)eb->dims[0], (long long)n)
			  : RML_ERR_FORMAT;
	}
	p->entropy_before = malloc(eb->nbytes + 1);
	if (!p->entropy_before) {
		rml_predictions_free(p);
		return rml_errorf(err, RML_ERR_NOMEM, "out of memory");
	}
	memcpy(p->entropy_before, eb->data, eb->nbytes);
	for (int64_t i = 0; i < n; i++)
		if (!entropy_ok(p->entropy_before[i], k)) {
			rml_status st2 = rml_errorf(err, RML_ERR_FORMAT,
						    "predictions: entropy_before of row %lld is %g, "
						    "outside [0, log %lld]",
						    (long long)i, p->entropy_before[i], (long long)k);
			rml_predictions_free(p);
			return st2;
		}
	return RML_OK;
}

typedef struct {
	double u;
	int64_t i;
} unc_pair;

static int by_uncertainty_desc(const void *a, const void *b)
{
	const unc_pair *x = a, *y = b;
	if (x->u != y->u)
		return x->u > y->u ? -1 : 1;
	return (x->i > y->i) - (x->i < y->i);
}

rml_status rml_predictions_reject(rml_predictions *p, rml_reject_rule rule, double threshold,
				  double rate, double *used, rml_error *err)
{
	rml_entropy(p->probs, p->n, p->k, p->entropy);
	memset(p->rejected, 0, (size_t)p->n);
	if (used)
		*used = NAN;
	if (rule == RML_REJECT_NONE || p->n == 0)
		return RML_OK;
	/* One uncertainty scale for both rules, larger = less sure: the
	 * float32 entropy as the file stores it, or minus the top
	 * probability (negation is exact, so "confidence below t" is decided
	 * on the confidence itself, never on a rounded 1 - confidence). A
	 * broken row is +inf, above every finite row, so the NaN-free key
	 * sorts it first. */
	unc_pair *s = malloc((size_t)p->n * sizeof *s);
	float *conf = malloc((size_t)p->n * sizeof *conf);
	if (!s || !conf) {
		free(s);
		free(conf);
		return rml_errorf(err, RML_ERR_NOMEM, "out of memory for %lld predictions",
				  (long long)p->n);
	}
	rml_top1(p->probs, p->n, p->k, NULL, conf);
	int by_conf = rule == RML_REJECT_CONFIDENCE;
	for (int64_t i = 0; i < p->n; i++) {
		int broken = !row_finite(p->probs + i * p->k, p->k);
		double u = by_conf ? -(double)conf[i] : (double)p->entropy[i];
		s[i] = (unc_pair){ broken ? INFINITY : u, i };
	}
	double thr;
	if (rate >= 0) {
		int64_t k = llround(rate * (double)p->n);
		if (k > p->n)
			k = p->n;
		qsort(s, (size_t)p->n, sizeof *s, by_uncertainty_desc);
		for (int64_t j = 0; j < k; j++)
			p->rejected[s[j].i] = 1;
		/* The least uncertain rejected row; +inf when none is rejected. */
		thr = k > 0 ? s[k - 1].u : INFINITY;
		if (k > 0 && isinf(thr))
			thr = by_conf ? 0.0 : log((double)p->k);
		else if (by_conf)
			thr = -thr;  /* back to a confidence; -inf when none */
	} else {
		thr = threshold;
		for (int64_t i = 0; i < p->n; i++)
			p->rejected[i] = isinf(s[i].u) || (by_conf ? -s[i].u < thr : s[i].u > thr);
	}
	if (used)
		*used = thr;
	free(s);
	free(conf);
	return RML_OK;
}

static const char *const metric_names[RML_METRIC_COUNT] = {
	[RML_METRIC_ACC1] = "acc1",
	[RML_METRIC_ACC2] = "acc2",
	[RML_METRIC_REJECT_RATE] = "reject_rate",
	[RML_METRIC_NLL] = "nll",
	[RML_METRIC_BRIER] = "brier",
	[RML_METRIC_ECE] = "ece",
	[RML_METRIC_MCE] = "mce",
	[RML_METRIC_ACE] = "ace",
	[RML_METRIC_MCE_MASS] = "mce_mass",
	[RML_METRIC_AUROC_CONF] = "auroc_conf",
	[RML_METRIC_AUROC_ENTROPY] = "auroc_entropy",
	[RML_METRIC_AURC] = "aurc",
	[RML_METRIC_N_OOD] = "n_ood",
};

const char *rml_metric_name(rml_metric m)
{
	return (unsigned)m < RML_METRIC_COUNT ? metric_names[m] : "?";
}

const rml_metric rml_eval_metrics[RML_EVAL_N_METRICS] = {
	RML_METRIC_ACC1, RML_METRIC_ACC2, RML_METRIC_REJECT_RATE, RML_METRIC_NLL,
	RML_METRIC_BRIER, RML_METRIC_ECE, RML_METRIC_MCE, RML_METRIC_ACE,
};

const rml_metric rml_calibrate_metrics[RML_CALIBRATE_N_MEASURES] = {
	RML_METRIC_ACC1, RML_METRIC_ECE, RML_METRIC_MCE, RML_METRIC_ACE,
	RML_METRIC_MCE_MASS, RML_METRIC_NLL, RML_METRIC_BRIER, RML_METRIC_AUROC_CONF,
	RML_METRIC_AUROC_ENTROPY, RML_METRIC_AURC, RML_METRIC_N_OOD,
};

void rml_eval_report_values(const rml_eval_report *r, double *v)
{
	v[0] = r->acc1;
	v[1] = r->acc2;
	v[2] = r->reject_rate;
	v[3] = r->nll;
	v[4] = r->brier;
	v[5] = r->ece;
	v[6] = r->mce;
	v[7] = r->ace;
}

void rml_eval_report_free(rml_eval_report *r)
{
	free(r->class_acc);
	free(r->class_n);
	r->class_acc = NULL;
	r->class_n = NULL;
}

rml_status rml_eval_compute(const rml_predictions *p, int n_bins, rml_binning binning,
			    rml_eval_report *r, rml_error *err)
{
	memset(r, 0, sizeof *r);
	int64_t n = p->n, k = p->k;
	int32_t *pred = malloc((size_t)(n ? n : 1) * sizeof *pred);
	float *conf = malloc((size_t)(n ? n : 1) * sizeof *conf);
	uint8_t *correct = malloc((size_t)(n ? n : 1));
	r->class_acc = calloc((size_t)k, sizeof *r->class_acc);
	r->class_n = calloc((size_t)k, sizeof *r->class_n);
	if (!pred || !conf || !correct || !r->class_acc || !r->class_n) {
		free(pred);
		free(conf);
		free(correct);
		rml_eval_report_free(r);
		return rml_errorf(err, RML_ERR_NOMEM, "out of memory");
	}
	rml_top1(p->probs, n, k, pred, conf);
	int64_t m = 0, right = 0, acc_n = 0, acc_right = 0, rej = 0;
	for (int64_t i = 0; i < n; i++) {
		rej += p->rejected[i] != 0;
		if (p->labels[i] < 0)
			continue;
		int ok = pred[i] == p->labels[i];
		correct[m] = (uint8_t)ok;
		conf[m] = conf[i];
		m++;
		right += ok;
		r->class_n[p->labels[i]]++;
		r->class_acc[p->labels[i]] += ok;
		if (!p->rejected[i]) {
			acc_n++;
			acc_right += ok;
		}
	}
	for (int64_t j = 0; j < k; j++)
		r->class_acc[j] = r->class_n[j] ? r->class_acc[j] / (double)r->class_n[j] : NAN;
	r->n = n;
	r->n_labelled = m;
	r->n_rejected = rej;
	r->reject_rate = n ? (double)rej / (double)n : NAN;
	/* Without a labelled row the label-based figures are undefined (NaN);
	 * with labelled rows all rejected, ACC2 is 0 (metrics.h). */
	r->acc1 = m ? (double)right / (double)m : NAN;
	r->acc2 = acc_n ? (double)acc_right / (double)acc_n : m ? 0 : NAN;
	r->nll = rml_nll(p->probs, p->labels, n, k);
	r->brier = rml_brier(p->probs, p->labels, n, k);
	r->ece = rml_ece(conf, correct, m, n_bins, binning);
	r->mce = rml_mce(conf, correct, m, n_bins, binning);
	r->ace = rml_ece(conf, correct, m, n_bins, RML_BINS_MASS);
	free(pred);
	free(conf);
	free(correct);
	return RML_OK;
}
