/*
 * calib.c — fitting and applying post-hoc calibrators, and choosing the
 * rejection threshold. For turning a classifier's scores into confidences
 * that mean what they say, on held-out data; not for measuring how well
 * that worked (metrics.c does that) nor for running the model.
 *
 * Sources of the methods:
 *  - Bayesian Binning into Quantiles: Naeini, Cooper, Hauskrecht, AAAI
 *    2015. Equal-frequency binning models; bin b of a model with B bins
 *    has the prior Beta(alpha_b, beta_b), alpha_b = (N'/B) p_b,
 *    beta_b = (N'/B)(1 - p_b), where p_b is the middle of the bin's
 *    interval and N' the equivalent sample size (2). A model's score is
 *    its marginal likelihood
 *      prod_b G(N'/B)/G(N_b + N'/B) . G(m_b + alpha_b)/G(alpha_b)
 *             . G(n_b + beta_b)/G(beta_b)
 *    (N_b examples in the bin, m_b right, n_b wrong; G the gamma
 *    function) under a uniform prior over models; a bin's calibrated
 *    confidence is its posterior mean (m_b + alpha_b)/(N_b + N'/B), and
 *    the ensemble averages models with weights proportional to scores.
 *  - Histogram binning: Zadrozny and Elkan 2001; a bin's value is its
 *    accuracy. An empty equal-width bin keeps its centre.
 *  - Isotonic regression: Zadrozny and Elkan 2002; weighted pool adjacent
 *    violators over distinct confidences (ties pooled first), linear
 *    interpolation between the fitted points, constant beyond the ends.
 *  - Temperature scaling: Guo, Pleiss, Sun, Weinberger, ICML 2017. The
 *    mean NLL is convex in 1/T, so a safeguarded Newton iteration on its
 *    derivative over 1/T in [0.01, 100] finds the minimum (or the end of
 *    the range towards which it keeps falling).
 *  - Beta calibration: Kull, Silva Filho, Flach, AISTATS 2017: logistic
 *    regression of correctness on (ln p, -ln(1-p)) with intercept,
 *    map(p) = 1/(1 + 1/(e^c p^a/(1-p)^b)); when the fit gives a < 0 it is
 *    refitted with a = 0, else when b < 0 with b = 0 (as the paper does),
 *    and both are set to 0 if the refit still breaks its constraint.
 *    Newton's method with a backtracking line search minimises the mean
 *    log loss plus a ridge of 1e-6/2 |(a,b,c)|^2, which only matters when
 *    the data are separable and the unpenalised optimum is at infinity.
 *    p is clipped to [2^-24, 1 - 2^-24], the finest steps a float has
 *    next to 1.
 */
#include "calib.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define T_MIN 0.01
#define T_MAX 100.0
#define BETA_RIDGE 1e-6
#define BETA_EPS (1.0 / 16777216.0)
#define LOGP_FLOOR 1e-30

static const char *const method_names[RML_CALIB_COUNT] = {
	"bbq", "hist-width", "hist-mass", "isotonic", "temperature", "beta",
};

const char *rml_calib_method_name(rml_calib_method m)
{
	return (unsigned)m < RML_CALIB_COUNT ? method_names[m] : "unknown";
}

rml_status rml_calib_method_parse(const char *name, rml_calib_method *m, rml_error *err)
{
	for (int i = 0; i < RML_CALIB_COUNT; i++)
		if (name && strcmp(name, method_names[i]) == 0) {
			*m = (rml_calib_method)i;
			return RML_OK;
		}
	return rml_errorf(err, RML_ERR_ARG,
			  "unknown calibration method '%s' (bbq, hist-width, hist-mass, "
			  "isotonic, temperature, beta)",
			  name ? name : "");
}

void rml_calib_opts_default(rml_calib_opts *o)
{
	o->n_bins = 10;
	o->bbq_ensemble = 0;
	o->bbq_c = 10;
	o->bbq_prior_n = 2;
	o->max_iter = 100;
}

void rml_calib_init(rml_calib *c)
{
	memset(c, 0, sizeof *c);
	c->method = RML_CALIB_BBQ;
}

void rml_calib_free(rml_calib *c)
{
	free(c->offsets);
	free(c->weights);
	free(c->x);
	free(c->y);
	rml_calib_init(c);
}

static int piecewise(rml_calib_method m)
{
	return m != RML_CALIB_TEMPERATURE && m != RML_CALIB_BETA;
}

static void *dup_array(const void *src, int64_t n, size_t size)
{
	if (!src || n <= 0)
		return NULL;
	void *d = malloc((size_t)n * size);
	if (d)
		memcpy(d, src, (size_t)n * size);
	return d;
}

rml_status rml_calib_copy(rml_calib *dst, const rml_calib *src, rml_error *err)
{
	if (dst == src)
		return RML_OK;
	rml_calib_free(dst);
	if ((unsigned)src->method >= RML_CALIB_COUNT || src->n_models < 0 || src->n_knots < 0 ||
	    (src->n_models > 0 && (!src->offsets || !src->weights)) ||
	    (src->n_knots > 0 && (!src->x || !src->y)))
		return rml_errorf(err, RML_ERR_ARG, "calibrator to copy is inconsistent");
	dst->method = src->method;
	memcpy(dst->scalars, src->scalars, sizeof dst->scalars);
	dst->n_models = src->n_models;
	dst->n_knots = src->n_knots;
	dst->offsets = dup_array(src->offsets, src->n_models + 1, sizeof *src->offsets);
	dst->weights = dup_array(src->weights, src->n_models, sizeof *src->weights);
	dst->x = dup_array(src->x, src->n_knots, sizeof *src->x);
	dst->y = dup_array(src->y, src->n_knots, sizeof *src->y);
	if ((src->n_models > 0 && (!dst->offsets || !dst->weights)) ||
	    (src->n_knots > 0 && (!dst->x || !dst->y))) {
		rml_calib_free(dst);
		return rml_errorf(err, RML_ERR_NOMEM, "out of memory copying a calibrator");
	}
	return RML_OK;
}

/* ---- inputs ----------------------------------------------------------------- */

/* Checks that every row of probs is a distribution and every label is a
 * class or RML_CALIB_OOD; fills the top-label confidence and correctness. */
static rml_status read_rows(const float *probs, const int32_t *labels, int64_t n, int64_t k,
			    double *conf, uint8_t *correct, rml_error *err)
{
	for (int64_t i = 0; i < n; i++) {
		const float *p = probs + i * k;
		double sum = 0;
		int64_t best = 0;
		for (int64_t j = 0; j < k; j++) {
			if (!isfinite(p[j]))
				return rml_errorf(err, RML_ERR_ARG,
						  "row %lld of the probabilities is not finite",
						  (long long)i);
			if (p[j] < 0 || p[j] > 1)
				return rml_errorf(err, RML_ERR_ARG,
						  "row %lld has probability %g outside [0,1]",
						  (long long)i, (double)p[j]);
			sum += p[j];
			if (p[j] > p[best])
				best = j;
		}
		if (fabs(sum - 1) > 1e-3)
			return rml_errorf(err, RML_ERR_ARG,
					  "row %lld of the probabilities sums to %.6g, not 1",
					  (long long)i, sum);
		int32_t y = labels[i];
		if (y != RML_CALIB_OOD && (y < 0 || y >= k))
			return rml_errorf(err, RML_ERR_ARG,
					  "label %d of row %lld is not a class in [0,%lld) nor "
					  "out-of-distribution (%d)",
					  (int)y, (long long)i, (long long)k, RML_CALIB_OOD);
		if (conf)
			conf[i] = p[best];
		if (correct)
			correct[i] = y == (int32_t)best;
	}
	return RML_OK;
}

static rml_status check_opts(const rml_calib_opts *o, rml_calib_method m, rml_error *err)
{
	if ((m == RML_CALIB_HIST_WIDTH || m == RML_CALIB_HIST_MASS ||
	     (m == RML_CALIB_BBQ && !o->bbq_ensemble)) &&
	    (o->n_bins < 1 || o->n_bins > 1000000))
		return rml_errorf(err, RML_ERR_ARG, "number of bins must be in [1, 1000000], got %d",
				  o->n_bins);
	if (m == RML_CALIB_BBQ && o->bbq_ensemble && !(isfinite(o->bbq_c) && o->bbq_c >= 1))
		return rml_errorf(err, RML_ERR_ARG, "BBQ range factor C must be >= 1, got %g",
				  o->bbq_c);
	if (m == RML_CALIB_BBQ && !(isfinite(o->bbq_prior_n) && o->bbq_prior_n > 0))
		return rml_errorf(err, RML_ERR_ARG,
				  "BBQ equivalent sample size must be > 0, got %g", o->bbq_prior_n);
	if ((m == RML_CALIB_TEMPERATURE || m == RML_CALIB_BETA) && o->max_iter < 1)
		return rml_errorf(err, RML_ERR_ARG, "iteration limit must be >= 1, got %d",
				  o->max_iter);
	return RML_OK;
}

/* ---- piecewise maps ----------------------------------------------------------- */

typedef struct {
	double conf;
	uint8_t ok;
} point;

static int by_conf(const void *a, const void *b)
{
	const point *x = a, *y = b;
	if (x->conf != y->conf)
		return x->conf < y->conf ? -1 : 1;
	return (int)x->ok - (int)y->ok;
}

/* Index of the bin with upper edges x[0..nb) that p falls in: the first
 * with p < x[b], the last bin for everything beyond. */
static int64_t bin_of(const double *x, int64_t nb, double p)
{
	int64_t lo = 0, hi = nb - 1;
	while (lo < hi) {
		int64_t mid = lo + (hi - lo) / 2;
		if (p < x[mid])
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo;
}

static double map_piece(const double *x, const double *y, int64_t nk, int is_isotonic,
			double p)
{
	if (!is_isotonic)
		return y[bin_of(x, nk, p)];
	if (p <= x[0])
		return y[0];
	if (p >= x[nk - 1])
		return y[nk - 1];
	int64_t lo = 0, hi = nk - 1;     /* x[lo] < p < x[hi] */
	while (hi - lo > 1) {
		int64_t mid = lo + (hi - lo) / 2;
		if (x[mid] <= p)
			lo = mid;
		else
			hi = mid;
	}
	double t = (p - x[lo]) / (x[hi] - x[lo]);
	return y[lo] + t * (y[hi] - y[lo]);
}

double rml_calib_map(const rml_calib *c, double p)
{
	if (c->method == RML_CALIB_BETA) {
		double q = p < BETA_EPS ? BETA_EPS : p > 1 - BETA_EPS ? 1 - BETA_EPS : p;
		double eta = c->scalars[0] * log(q) - c->scalars[1] * log1p(-q) + c->scalars[2];
		return eta >= 0 ? 1 / (1 + exp(-eta)) : exp(eta) / (1 + exp(eta));
	}
	if (c->method == RML_CALIB_TEMPERATURE || c->n_models < 1)
		return p;
	double s = 0, ws = 0;
	for (int64_t i = 0; i < c->n_models; i++) {
		int64_t a = c->offsets[i], nk = c->offsets[i + 1] - a;
		s += c->weights[i] *
		     map_piece(c->x + a, c->y + a, nk, c->method == RML_CALIB_ISOTONIC, p);
		ws += c->weights[i];
	}
	double q = s / ws;
	return q < 0 ? 0 : q > 1 ? 1 : q;
}

/* Growable knot storage used while fitting. */
typedef struct {
	int64_t n_models, cap_models, n_knots, cap_knots;
	int64_t *offsets;
	double *weights, *x, *y;
} builder;

static int builder_knot(builder *b, double x, double y)
{
	if (b->n_knots == b->cap_knots) {
		int64_t cap = b->cap_knots ? 2 * b->cap_knots : 64;
		double *nx = realloc(b->x, (size_t)cap * sizeof *nx);
		if (!nx)
			return -1;
		b->x = nx;
		double *ny = realloc(b->y, (size_t)cap * sizeof *ny);
		if (!ny)
			return -1;
		b->y = ny;
		b->cap_knots = cap;
	}
	b->x[b->n_knots] = x;
	b->y[b->n_knots] = y;
	b->n_knots++;
	return 0;
}

/* Close the current model (its knots are those added since the last). */
static int builder_model(builder *b, double weight)
{
	if (b->n_models + 2 > b->cap_models) {
		int64_t cap = b->cap_models ? 2 * b->cap_models : 16;
		int64_t *no = realloc(b->offsets, (size_t)cap * sizeof *no);
		if (!no)
			return -1;
		b->offsets = no;
		double *nw = realloc(b->weights, (size_t)cap * sizeof *nw);
		if (!nw)
			return -1;
		b->weights = nw;
		b->cap_models = cap;
	}
	if (b->n_models == 0)
		b->offsets[0] = 0;
	b->weights[b->n_models] = weight;
	b->offsets[++b->n_models] = b->n_knots;
	return 0;
}

static void builder_free(builder *b)
{
	free(b->offsets);
	free(b->weights);
	free(b->x);
	free(b->y);
	memset(b, 0, sizeof *b);
}

/* Upper edges of equal-frequency bins over the sorted points: cut i
 * starts at floor(i n / B), moved forward past equal confidences so that
 * ties share a bin; cuts that then coincide disappear, so fewer than B
 * bins may come out. edges[] gets one value per bin (the last is 1) and
 * start[] each bin's first point (start[nb] = n). Returns the bin count. */
static int64_t quantile_bins(const point *s, int64_t n, int64_t B, double *edges,
			     int64_t *start)
{
	int64_t nb = 0, prev = 0;
	start[0] = 0;
	for (int64_t i = 1; i < B; i++) {
		/* floor(i n / B) without forming i n */
		int64_t c = i * (n / B) + (i * (n % B)) / B;
		while (c < n && c > 0 && s[c].conf == s[c - 1].conf)
			c++;
		if (c <= prev || c >= n)
			continue;
		edges[nb] = 0.5 * (s[c - 1].conf + s[c].conf);
		start[++nb] = c;
		prev = c;
	}
	edges[nb] = 1;
	start[++nb] = n;
	return nb;
}

/* One BBQ model from quantile bins; returns its log marginal likelihood. */
static double bbq_model(builder *b, const point *s, int64_t n, int64_t B, double prior_n,
			double *edges, int64_t *start, int *fail)
{
	int64_t nb = quantile_bins(s, n, B, edges, start);
	double a0 = prior_n / (double)nb, ll = 0, lo = 0;
	for (int64_t i = 0; i < nb; i++) {
		double hi = edges[i];
		double pb = 0.5 * (lo + hi);
		double alpha = a0 * pb, beta = a0 * (1 - pb);
		double cnt = (double)(start[i + 1] - start[i]), right = 0;
		for (int64_t t = start[i]; t < start[i + 1]; t++)
			right += s[t].ok;
		double wrong = cnt - right;
		ll += lgamma(a0) - lgamma(cnt + a0) + lgamma(right + alpha) - lgamma(alpha) +
		      lgamma(wrong + beta) - lgamma(beta);
		if (builder_knot(b, hi, (right + alpha) / (cnt + a0)))
			*fail = 1;
		lo = hi;
	}
	return ll;
}

static rml_status fit_bbq(builder *b, point *s, int64_t n, const rml_calib_opts *o,
			  rml_error *err)
{
	int64_t bmin, bmax;
	if (o->bbq_ensemble) {
		double r = cbrt((double)n);
		bmin = (int64_t)floor(r / o->bbq_c);
		bmax = (int64_t)ceil(o->bbq_c * r);
		if (bmin < 1)
			bmin = 1;
		if (bmax > n)
			bmax = n;
		if (bmax > 1000000)
			bmax = 1000000;
		if (bmax < bmin)
			bmax = bmin;
	} else {
		bmin = bmax = o->n_bins;
	}
	int64_t cap = bmax + 1;
	double *edges = malloc((size_t)cap * sizeof *edges);
	int64_t *start = malloc((size_t)(cap + 1) * sizeof *start);
	double *ll = malloc((size_t)(bmax - bmin + 1) * sizeof *ll);
	int fail = !edges || !start || !ll;
	for (int64_t B = bmin; B <= bmax && !fail; B++) {
		ll[B - bmin] = bbq_model(b, s, n, B, o->bbq_prior_n, edges, start, &fail);
		if (!fail && builder_model(b, 1.0))
			fail = 1;
	}
	if (!fail) {
		/* Weights proportional to exp(score), scaled by the best one. */
		double top = -INFINITY, sum = 0;
		for (int64_t i = 0; i < b->n_models; i++)
			if (ll[i] > top)
				top = ll[i];
		for (int64_t i = 0; i < b->n_models; i++)
			sum += b->weights[i] = exp(ll[i] - top);
		for (int64_t i = 0; i < b->n_models; i++)
			b->weights[i] /= sum;
	}
	free(edges);
	free(start);
	free(ll);
	if (fail)
		return rml_errorf(err, RML_ERR_NOMEM, "out of memory for BBQ with %lld bins",
				  (long long)bmax);
	return RML_OK;
}

static rml_status fit_hist(builder *b, point *s, int64_t n, int width, int64_t B,
			   rml_error *err)
{
	double *edges = malloc((size_t)(B + 1) * sizeof *edges);
	int64_t *start = malloc((size_t)(B + 2) * sizeof *start);
	double *right = calloc((size_t)B + 1, sizeof *right);
	double *cnt = calloc((size_t)B + 1, sizeof *cnt);
	int fail = !edges || !start || !right || !cnt;
	if (!fail) {
		int64_t nb;
		if (width) {
			nb = B;
			for (int64_t i = 0; i < B; i++)
				edges[i] = i + 1 == B ? 1.0 : (double)(i + 1) / (double)B;
			for (int64_t t = 0; t < n; t++) {
				int64_t i = bin_of(edges, nb, s[t].conf);
				cnt[i] += 1;
				right[i] += s[t].ok;
			}
		} else {
			nb = quantile_bins(s, n, B, edges, start);
			for (int64_t i = 0; i < nb; i++)
				for (int64_t t = start[i]; t < start[i + 1]; t++) {
					cnt[i] += 1;
					right[i] += s[t].ok;
				}
		}
		for (int64_t i = 0; i < nb && !fail; i++) {
			double lo = i ? edges[i - 1] : 0;
			double v = cnt[i] > 0 ? right[i] / cnt[i] : 0.5 * (lo + edges[i]);
			fail = builder_knot(b, edges[i], v) != 0;
		}
		if (!fail)
			fail = builder_model(b, 1.0) != 0;
	}
	free(edges);
	free(start);
	free(right);
	free(cnt);
	if (fail)
		return rml_errorf(err, RML_ERR_NOMEM, "out of memory for %lld bins", (long long)B);
	return RML_OK;
}

/* Weighted pool adjacent violators over the distinct confidences. */
static rml_status fit_isotonic(builder *b, point *s, int64_t n, rml_error *err)
{
	/* Blocks on a stack: weight, weighted sum, first and last distinct x. */
	double *w = malloc((size_t)n * sizeof *w), *wy = malloc((size_t)n * sizeof *wy);
	double *x0 = malloc((size_t)n * sizeof *x0), *x1 = malloc((size_t)n * sizeof *x1);
	int fail = !w || !wy || !x0 || !x1;
	int64_t top = 0;
	for (int64_t t = 0; t < n && !fail;) {
		double cx = s[t].conf, cw = 0, cs = 0;
		for (; t < n && s[t].conf == cx; t++) {
			cw += 1;
			cs += s[t].ok;
		}
		w[top] = cw;
		wy[top] = cs;
		x0[top] = x1[top] = cx;
		top++;
		/* Merge while the block below has a larger mean (cross products
		 * avoid dividing). */
		while (top > 1 && wy[top - 2] * w[top - 1] > wy[top - 1] * w[top - 2]) {
			w[top - 2] += w[top - 1];
			wy[top - 2] += wy[top - 1];
			x1[top - 2] = x1[top - 1];
			top--;
		}
	}
	for (int64_t i = 0; i < top && !fail; i++) {
		double v = wy[i] / w[i];
		fail = builder_knot(b, x0[i], v) != 0;
		if (!fail && x1[i] != x0[i])
			fail = builder_knot(b, x1[i], v) != 0;
	}
	if (!fail)
		fail = builder_model(b, 1.0) != 0;
	free(w);
	free(wy);
	free(x0);
	free(x1);
	if (fail)
		return rml_errorf(err, RML_ERR_NOMEM, "out of memory for isotonic regression of %lld "
				  "points", (long long)n);
	return RML_OK;
}

/* ---- temperature scaling ------------------------------------------------------ */

/* Mean NLL over rows at inverse temperature beta, its first and second
 * derivatives in beta. z holds the logits (finite) row by row; an OOD
 * row's target is the uniform distribution. */
static void temp_objective(const double *z, const int32_t *labels, int64_t n, int64_t k,
			   double beta, double *f, double *g, double *h)
{
	double sf = 0, sg = 0, sh = 0;
	for (int64_t i = 0; i < n; i++) {
		const double *r = z + i * k;
		double zmax = r[0];
		for (int64_t j = 1; j < k; j++)
			if (r[j] > zmax)
				zmax = r[j];
		double s = 0, e = 0, e2 = 0;
		for (int64_t j = 0; j < k; j++) {
			double wj = exp(beta * (r[j] - zmax));
			s += wj;
			e += wj * (r[j] - zmax);
		}
		e /= s;
		for (int64_t j = 0; j < k; j++) {
			double wj = exp(beta * (r[j] - zmax));
			double dz = r[j] - zmax - e;
			e2 += wj * dz * dz;
		}
		double target;
		if (labels[i] == RML_CALIB_OOD) {
			target = 0;
			for (int64_t j = 0; j < k; j++)
				target += r[j] - zmax;
			target /= (double)k;
		} else {
			target = r[labels[i]] - zmax;
		}
		/* log-sum-exp(beta z) - beta z_target, with zmax shifted out of
		 * both terms, where it cancels. */
		sf += log(s) - beta * target;
		sg += e - target;
		sh += e2 / s;
	}
	*f = sf / (double)n;
	*g = sg / (double)n;
	*h = sh / (double)n;
}

static rml_status fit_temperature(rml_calib *c, const float *probs, const float *logits,
				  const int32_t *labels, int64_t n, int64_t k,
				  const rml_calib_opts *o, rml_error *err)
{
	int64_t nk;
	if (rml_mul_overflow(n, k, &nk))
		return rml_errorf(err, RML_ERR_LIMIT, "%lld x %lld scores are too many",
				  (long long)n, (long long)k);
	double *z = malloc((size_t)nk * sizeof *z);
	if (!z)
		return rml_errorf(err, RML_ERR_NOMEM, "out of memory for %lld logits",
				  (long long)nk);
	for (int64_t t = 0; t < nk; t++) {
		if (logits) {
			if (!isfinite(logits[t])) {
				free(z);
				return rml_errorf(err, RML_ERR_ARG, "row %lld of the logits is not finite",
						  (long long)(t / k));
			}
			z[t] = logits[t];
		} else {
			double p = probs[t];
			z[t] = log(p > LOGP_FLOOR ? p : LOGP_FLOOR);
		}
	}
	/* g is increasing in beta (its derivative is a variance), so the
	 * minimum is where it crosses zero, or at an end of the range. */
	double lo = 1 / T_MAX, hi = 1 / T_MIN, f, g, h, beta;
	temp_objective(z, labels, n, k, lo, &f, &g, &h);
	if (g >= 0) {
		beta = lo;
		goto out;
	}
	temp_objective(z, labels, n, k, hi, &f, &g, &h);
	if (g <= 0) {
		beta = hi;
		goto out;
	}
	beta = 1;
	for (int it = 0; it < o->max_iter; it++) {
		temp_objective(z, labels, n, k, beta, &f, &g, &h);
		if (g == 0)
			break;
		if (g < 0)
			lo = beta;
		else
			hi = beta;
		double next = h > 0 ? beta - g / h : NAN;
		if (!(next > lo && next < hi))
			next = sqrt(lo * hi);   /* bisection in log space */
		double moved = fabs(next - beta);
		beta = next;
		if (moved <= 1e-12 * beta || hi - lo <= 1e-12 * hi)
			break;
	}
out:
	free(z);
	c->scalars[0] = 1 / beta;
	return RML_OK;
}

/* ---- beta calibration --------------------------------------------------------- */

/* Solve the m x m system A v = r (m <= 3, A symmetric positive definite
 * thanks to the ridge) by Gaussian elimination with partial pivoting. */
static int solve_small(double A[3][3], double r[3], int m, double v[3])
{
	double M[3][4];
	for (int i = 0; i < m; i++) {
		for (int j = 0; j < m; j++)
			M[i][j] = A[i][j];
		M[i][m] = r[i];
	}
	for (int col = 0; col < m; col++) {
		int piv = col;
		for (int i = col + 1; i < m; i++)
			if (fabs(M[i][col]) > fabs(M[piv][col]))
				piv = i;
		if (!(fabs(M[piv][col]) > 0))
			return -1;
		if (piv != col)
			for (int j = 0; j <= m; j++) {
				double t = M[col][j];
				M[col][j] = M[piv][j];
				M[piv][j] = t;
			}
		for (int i = col + 1; i < m; i++) {
			double f = M[i][col] / M[col][col];
			for (int j = col; j <= m; j++)
				M[i][j] -= f * M[col][j];
		}
	}
	for (int i = m - 1; i >= 0; i--) {
		double s = M[i][m];
		for (int j = i + 1; j < m; j++)
			s -= M[i][j] * v[j];
		v[i] = s / M[i][i];
	}
	return 0;
}

/* Penalised mean log loss of logistic regression on the features listed in
 * use[] (indices into f = (ln p, -ln(1-p), 1)). */
static double beta_loss(const double *f, const uint8_t *y, int64_t n, const int *use, int m,
			const double *w)
{
	double s = 0;
	for (int64_t i = 0; i < n; i++) {
		double eta = 0;
		for (int j = 0; j < m; j++)
			eta += w[j] * f[3 * i + use[j]];
		/* log(1 + e^eta) - y eta, computed without overflow */
		double sp = eta > 0 ? eta + log1p(exp(-eta)) : log1p(exp(eta));
		s += sp - (y[i] ? eta : 0);
	}
	double r = 0;
	for (int j = 0; j < m; j++)
		r += w[j] * w[j];
	return s / (double)n + 0.5 * BETA_RIDGE * r;
}

static void beta_newton(const double *f, const uint8_t *y, int64_t n, const int *use, int m,
			int max_iter, double *w)
{
	for (int j = 0; j < m; j++)
		w[j] = 0;
	double loss = beta_loss(f, y, n, use, m, w);
	for (int it = 0; it < max_iter; it++) {
		double H[3][3] = { { 0 } }, g[3] = { 0 }, step[3];
		for (int64_t i = 0; i < n; i++) {
			double eta = 0;
			for (int j = 0; j < m; j++)
				eta += w[j] * f[3 * i + use[j]];
			double p = eta >= 0 ? 1 / (1 + exp(-eta)) : exp(eta) / (1 + exp(eta));
			double r = p - y[i], v = p * (1 - p);
			for (int a = 0; a < m; a++) {
				double fa = f[3 * i + use[a]];
				g[a] += r * fa;
				for (int b = 0; b <= a; b++)
					H[a][b] += v * fa * f[3 * i + use[b]];
			}
		}
		for (int a = 0; a < m; a++) {
			g[a] = g[a] / (double)n + BETA_RIDGE * w[a];
			for (int b = 0; b <= a; b++) {
				H[a][b] = H[a][b] / (double)n + (a == b ? BETA_RIDGE : 0);
				H[b][a] = H[a][b];
			}
		}
		if (solve_small(H, g, m, step))
			break;
		/* Backtracking: the loss is convex, so halving the Newton step
		 * until it falls ends in finitely many tries or at a flat point. */
		double t = 1, cand[3], nl = loss;
		int moved = 0;
		for (int ls = 0; ls < 60; ls++) {
			for (int j = 0; j < m; j++)
				cand[j] = w[j] - t * step[j];
			nl = beta_loss(f, y, n, use, m, cand);
			if (nl <= loss) {
				moved = 1;
				break;
			}
			t *= 0.5;
		}
		if (!moved)
			break;
		double big = 0;
		for (int j = 0; j < m; j++) {
			double d = fabs(cand[j] - w[j]);
			if (d > big)
				big = d;
			w[j] = cand[j];
		}
		double prev = loss;
		loss = nl;
		if (big < 1e-10 || prev - loss < 1e-15 * (1 + fabs(loss)))
			break;
	}
}

static rml_status fit_beta(rml_calib *c, const point *s, int64_t n, const rml_calib_opts *o,
			   rml_error *err)
{
	double *f = malloc((size_t)n * 3 * sizeof *f);
	uint8_t *y = malloc((size_t)n);
	if (!f || !y) {
		free(f);
		free(y);
		return rml_errorf(err, RML_ERR_NOMEM, "out of memory for %lld examples",
				  (long long)n);
	}
	for (int64_t i = 0; i < n; i++) {
		double p = s[i].conf;
		p = p < BETA_EPS ? BETA_EPS : p > 1 - BETA_EPS ? 1 - BETA_EPS : p;
		f[3 * i] = log(p);
		f[3 * i + 1] = -log1p(-p);
		f[3 * i + 2] = 1;
		y[i] = s[i].ok;
	}
	double w[3];
	int full[3] = { 0, 1, 2 }, only_b[2] = { 1, 2 }, only_a[2] = { 0, 2 }, none[1] = { 2 };
	beta_newton(f, y, n, full, 3, o->max_iter, w);
	double a = w[0], b = w[1], cc = w[2];
	if (a < 0) {
		beta_newton(f, y, n, only_b, 2, o->max_iter, w);
		a = 0, b = w[0], cc = w[1];
	} else if (b < 0) {
		beta_newton(f, y, n, only_a, 2, o->max_iter, w);
		a = w[0], b = 0, cc = w[1];
	}
	if (a < 0 || b < 0) {
		beta_newton(f, y, n, none, 1, o->max_iter, w);
		a = 0, b = 0, cc = w[0];
	}
	free(f);
	free(y);
	if (!(isfinite(a) && isfinite(b) && isfinite(cc)))
		return rml_errorf(err, RML_ERR_NUMERIC, "beta calibration did not converge");
	c->scalars[0] = a;
	c->scalars[1] = b;
	c->scalars[2] = cc;
	return RML_OK;
}

/* ---- fit ---------------------------------------------------------------------- */

rml_status rml_calib_fit(rml_calib *c, rml_calib_method m, const float *probs,
			 const float *logits, const int32_t *labels, int64_t n, int64_t k,
			 const rml_calib_opts *opts, rml_error *err)
{
	rml_calib_free(c);
	rml_calib_opts def;
	if (!opts) {
		rml_calib_opts_default(&def);
		opts = &def;
	}
	if ((unsigned)m >= RML_CALIB_COUNT)
		return rml_errorf(err, RML_ERR_ARG, "unknown calibration method %d", (int)m);
	if (!probs || !labels)
		return rml_errorf(err, RML_ERR_ARG, "calibration needs probabilities and labels");
	if (n < 1)
		return rml_errorf(err, RML_ERR_ARG, "no calibration examples");
	if (k < 2)
		return rml_errorf(err, RML_ERR_ARG,
				  "calibration needs at least 2 classes, got %lld", (long long)k);
	int64_t nk;
	if (rml_mul_overflow(n, k, &nk) || n > (int64_t)1 << 40)
		return rml_errorf(err, RML_ERR_LIMIT, "%lld x %lld probabilities are too many",
				  (long long)n, (long long)k);
	rml_status st = check_opts(opts, m, err);
	if (st != RML_OK)
		return st;
	double *conf = malloc((size_t)n * sizeof *conf);
	uint8_t *ok = malloc((size_t)n);
	point *s = malloc((size_t)n * sizeof *s);
	if (!conf || !ok || !s) {
		st = rml_errorf(err, RML_ERR_NOMEM, "out of memory for %lld examples", (long long)n);
		goto done;
	}
	if ((st = read_rows(probs, labels, n, k, conf, ok, err)) != RML_OK)
		goto done;
	for (int64_t i = 0; i < n; i++) {
		s[i].conf = conf[i];
		s[i].ok = ok[i];
	}
	c->method = m;
	if (m == RML_CALIB_TEMPERATURE) {
		st = fit_temperature(c, probs, logits, labels, n, k, opts, err);
		goto done;
	}
	if (m == RML_CALIB_BETA) {
		st = fit_beta(c, s, n, opts, err);
		goto done;
	}
	qsort(s, (size_t)n, sizeof *s, by_conf);
	builder b = { 0 };
	switch (m) {
	case RML_CALIB_BBQ:
		st = fit_bbq(&b, s, n, opts, err);
		break;
	case RML_CALIB_HIST_WIDTH:
	case RML_CALIB_HIST_MASS:
		st = fit_hist(&b, s, n, m == RML_CALIB_HIST_WIDTH, opts->n_bins, err);
		break;
	default:
		st = fit_isotonic(&b, s, n, err);
		break;
	}
	if (st == RML_OK) {
		c->n_models = b.n_models;
		c->offsets = b.offsets;
		c->weights = b.weights;
		c->n_knots = b.n_knots;
		c->x = b.x;
		c->y = b.y;
	} else {
		builder_free(&b);
	}
done:
	free(conf);
	free(ok);
	free(s);
	if (st != RML_OK)
		rml_calib_free(c);
	return st;
}

/* ---- apply -------------------------------------------------------------------- */

static int row_finite(const float *p, int64_t k)
{
	for (int64_t j = 0; j < k; j++)
		if (!isfinite(p[j]))
			return 0;
	return 1;
}

/* Replace the top confidence of one row by q and rescale the rest. The
 * others are scaled by what they actually sum to rather than 1 - p_top:
 * float rows sum to 1 only to within rounding, which 1 - p_top would
 * magnify when p_top is near 1. */
static void top_label_row(const float *p, int64_t k, double q, float *o)
{
	int64_t top = 0;
	for (int64_t j = 1; j < k; j++)
		if (p[j] > p[top])
			top = j;
	if (k == 1) {
		o[0] = 1;
		return;
	}
	double rest = 0, second = 0;
	for (int64_t j = 0; j < k; j++)
		if (j != top) {
			rest += p[j];
			if (p[j] > second)
				second = p[j];
		}
	/* The largest other class becomes second (1-q)/rest; it must not
	 * exceed q, so q >= second/(rest + second) (1/k when all is on top). */
	double floor_q = rest > 0 ? second / (rest + second) : 1.0 / (double)k;
	if (q < floor_q)
		q = floor_q;
	double scale = rest > 0 ? (1 - q) / rest : 0;
	double even = rest > 0 ? 0 : (1 - q) / (double)(k - 1);
	float qt = (float)q;
	for (int64_t j = 0; j < k; j++) {
		if (j == top)
			continue;
		double v = rest > 0 ? (double)p[j] * scale : even;
		float fv = (float)(v < 0 ? 0 : v > 1 ? 1 : v);
		/* Keep the predicted class first under rml_top1's rule (the
		 * first maximum wins) despite rounding. */
		if (fv > qt || (fv == qt && j < top))
			fv = nextafterf(qt, 0.0f);
		o[j] = fv;
	}
	o[top] = qt;
}

rml_status rml_calib_apply(const rml_calib *c, const float *probs, const float *logits,
			   int64_t n, int64_t k, float *out, rml_error *err)
{
	if (n < 0 || k < 1)
		return rml_errorf(err, RML_ERR_ARG, "bad shape [%lld,%lld] for calibration",
				  (long long)n, (long long)k);
	if ((unsigned)c->method >= RML_CALIB_COUNT ||
	    (piecewise(c->method) && (c->n_models < 1 || !c->x)) ||
	    (c->method == RML_CALIB_TEMPERATURE && !(c->scalars[0] > 0)))
		return rml_errorf(err, RML_ERR_ARG, "the calibrator has not been fitted");
	if (c->method == RML_CALIB_TEMPERATURE) {
		double T = c->scalars[0];
		for (int64_t i = 0; i < n; i++) {
			const float *p = probs + i * k;
			const float *z = logits ? logits + i * k : NULL;
			float *o = out + i * k;
			if (!row_finite(z ? z : p, k)) {
				if (o != p)
					memcpy(o, p, (size_t)k * sizeof *o);
				continue;
			}
			double zmax = -INFINITY, s = 0;
			for (int64_t j = 0; j < k; j++) {
				double v = z ? z[j] : log(p[j] > LOGP_FLOOR ? p[j] : LOGP_FLOOR);
				if (v > zmax)
					zmax = v;
			}
			for (int64_t j = 0; j < k; j++) {
				double v = z ? z[j] : log(p[j] > LOGP_FLOOR ? p[j] : LOGP_FLOOR);
				s += exp((v - zmax) / T);
			}
			for (int64_t j = 0; j < k; j++) {
				double v = z ? z[j] : log(p[j] > LOGP_FLOOR ? p[j] : LOGP_FLOOR);
				o[j] = (float)(exp((v - zmax) / T) / s);
			}
		}
		return RML_OK;
	}
	for (int64_t i = 0; i < n; i++) {
		const float *p = probs + i * k;
		float *o = out + i * k;
		if (!row_finite(p, k)) {
			if (o != p)
				memcpy(o, p, (size_t)k * sizeof *o);
			continue;
		}
		float top = p[0];
		for (int64_t j = 1; j < k; j++)
			if (p[j] > top)
				top = p[j];
		double q = rml_calib_map(c, top);
		top_label_row(p, k, q, o);
	}
	return RML_OK;
}

/* ---- files -------------------------------------------------------------------- */

static void join(char *dst, size_t cap, const char *prefix, const char *name)
{
	snprintf(dst, cap, "%s%s", prefix, name);
}

rml_status rml_calib_to_file(const rml_calib *c, rml_file *f, const char *prefix,
			     rml_error *err)
{
	char key[RML_MAX_NAME + 1];
	if (!prefix || strlen(prefix) + 8 > RML_MAX_NAME)
		return rml_errorf(err, RML_ERR_ARG, "bad calibrator prefix");
	if ((unsigned)c->method >= RML_CALIB_COUNT)
		return rml_errorf(err, RML_ERR_ARG, "the calibrator has not been fitted");
	join(key, sizeof key, prefix, "method");
	if (rml_set_str(f, key, rml_calib_method_name(c->method)) != RML_OK)
		return rml_errorf(err, RML_ERR_ARG, "cannot store key '%s'", key);
	int64_t d3 = 3;
	join(key, sizeof key, prefix, "scalars");
	if (!rml_add_tensor(f, key, RML_DTYPE_F64, 1, &d3, c->scalars, err))
		return err ? err->code : RML_ERR_ARG;
	if (!piecewise(c->method))
		return RML_OK;
	if (c->n_models < 1 || !c->offsets || !c->weights || !c->x || !c->y)
		return rml_errorf(err, RML_ERR_ARG, "the calibrator has not been fitted");
	int64_t dm1 = c->n_models + 1, dm = c->n_models, dk = c->n_knots;
	join(key, sizeof key, prefix, "offsets");
	if (!rml_add_tensor(f, key, RML_DTYPE_I64, 1, &dm1, c->offsets, err))
		return err ? err->code : RML_ERR_ARG;
	join(key, sizeof key, prefix, "weights");
	if (!rml_add_tensor(f, key, RML_DTYPE_F64, 1, &dm, c->weights, err))
		return err ? err->code : RML_ERR_ARG;
	join(key, sizeof key, prefix, "x");
	if (!rml_add_tensor(f, key, RML_DTYPE_F64, 1, &dk, c->x, err))
		return err ? err->code : RML_ERR_ARG;
	join(key, sizeof key, prefix, "y");
	if (!rml_add_tensor(f, key, RML_DTYPE_F64, 1, &dk, c->y, err))
		return err ? err->code : RML_ERR_ARG;
	return RML_OK;
}

static rml_status from_file(rml_calib *c, const rml_file *f, const char *prefix,
			    rml_error *err)
{
	char key[RML_MAX_NAME + 1];
	const char *name;
	join(key, sizeof key, prefix, "method");
	if (rml_get_str(f, key, &name, err) != RML_OK)
		return RML_ERR_FORMAT;
	if (rml_calib_method_parse(name, &c->method, err) != RML_OK)
		return rml_errorf(err, RML_ERR_FORMAT, "%s: unknown calibration method '%s'", key,
				  name);
	join(key, sizeof key, prefix, "scalars");
	const rml_tensor *t = rml_expect_tensor(f, key, RML_DTYPE_F64, 1, err);
	if (!t)
		return RML_ERR_FORMAT;
	if (t->dims[0] != 3)
		return rml_errorf(err, RML_ERR_FORMAT, "%s: expected 3 values, got %lld", key,
				  (long long)t->dims[0]);
	memcpy(c->scalars, t->data, sizeof c->scalars);
	for (int i = 0; i < 3; i++)
		if (!isfinite(c->scalars[i]))
			return rml_errorf(err, RML_ERR_FORMAT, "%s: value %d is not finite", key, i);
	if (c->method == RML_CALIB_TEMPERATURE &&
	    !(c->scalars[0] >= T_MIN && c->scalars[0] <= T_MAX))
		return rml_errorf(err, RML_ERR_FORMAT, "%s: temperature %g outside [%g, %g]", key,
				  c->scalars[0], T_MIN, T_MAX);
	if (c->method == RML_CALIB_BETA && (c->scalars[0] < 0 || c->scalars[1] < 0))
		return rml_errorf(err, RML_ERR_FORMAT, "%s: beta parameters a, b must be >= 0",
				  key);
	if (!piecewise(c->method))
		return RML_OK;

	join(key, sizeof key, prefix, "offsets");
	const rml_tensor *to = rml_expect_tensor(f, key, RML_DTYPE_I64, 1, err);
	if (!to)
		return RML_ERR_FORMAT;
	join(key, sizeof key, prefix, "weights");
	const rml_tensor *tw = rml_expect_tensor(f, key, RML_DTYPE_F64, 1, err);
	if (!tw)
		return RML_ERR_FORMAT;
	join(key, sizeof key, prefix, "x");
	const rml_tensor *tx = rml_expect_tensor(f, key, RML_DTYPE_F64, 1, err);
	if (!tx)
		return RML_ERR_FORMAT;
	join(key, sizeof key, prefix, "y");
	const rml_tensor *ty = rml_expect_tensor(f, key, RML_DTYPE_F64, 1, err);
	if (!ty)
		return RML_ERR_FORMAT;
	int64_t nm = tw->dims[0], nk = tx->dims[0];
	if (nm < 1 || to->dims[0] != nm + 1 || ty->dims[0] != nk || nk < 1)
		return rml_errorf(err, RML_ERR_FORMAT,
				  "%s: calibrator arrays do not fit together (%lld models, %lld "
				  "offsets, %lld x, %lld y)",
				  prefix, (long long)nm, (long long)to->dims[0], (long long)nk,
				  (long long)ty->dims[0]);
	const int64_t *off = to->data;
	const double *w = tw->data, *x = tx->data, *y = ty->data;
	if (off[0] != 0 || off[nm] != nk)
		return rml_errorf(err, RML_ERR_FORMAT, "%soffsets: must run from 0 to %lld", prefix,
				  (long long)nk);
	/* All offsets are checked before any knot is read: an offset past nk
	 * in the middle (0, 100, 10) would otherwise index beyond x and y. */
	for (int64_t i = 0; i < nm; i++)
		if (off[i + 1] <= off[i] || off[i + 1] > nk)
			return rml_errorf(err, RML_ERR_FORMAT,
					  "%soffsets: model %lld has no knots or runs past knot %lld",
					  prefix, (long long)i, (long long)nk);
	double wsum = 0;
	for (int64_t i = 0; i < nm; i++) {
		if (!(isfinite(w[i]) && w[i] >= 0))
			return rml_errorf(err, RML_ERR_FORMAT, "%sweights: weight %lld is %g", prefix,
					  (long long)i, w[i]);
		wsum += w[i];
		for (int64_t j = off[i]; j < off[i + 1]; j++) {
			if (!(x[j] >= 0 && x[j] <= 1) || !(y[j] >= 0 && y[j] <= 1))
				return rml_errorf(err, RML_ERR_FORMAT,
						  "%sx/%sy: knot %lld outside [0,1]", prefix, prefix,
						  (long long)j);
			if (j > off[i] && !(x[j] > x[j - 1]))
				return rml_errorf(err, RML_ERR_FORMAT,
						  "%sx: knots of model %lld are not increasing", prefix,
						  (long long)i);
		}
	}
	if (!(wsum > 0) || !isfinite(wsum))
		return rml_errorf(err, RML_ERR_FORMAT, "%sweights: they sum to %g", prefix, wsum);
	c->offsets = malloc((size_t)(nm + 1) * sizeof *c->offsets);
	c->weights = malloc((size_t)nm * sizeof *c->weights);
	c->x = malloc((size_t)nk * sizeof *c->x);
	c->y = malloc((size_t)nk * sizeof *c->y);
	if (!c->offsets || !c->weights || !c->x || !c->y)
		return rml_errorf(err, RML_ERR_NOMEM, "out of memory for a calibrator");
	memcpy(c->offsets, off, (size_t)(nm + 1) * sizeof *off);
	memcpy(c->weights, w, (size_t)nm * sizeof *w);
	memcpy(c->x, x, (size_t)nk * sizeof *x);
	memcpy(c->y, y, (size_t)nk * sizeof *y);
	c->n_models = nm;
	c->n_knots = nk;
	return RML_OK;
}

rml_status rml_calib_from_file(rml_calib *c, const rml_file *f, const char *prefix,
			       rml_error *err)
{
	rml_calib_free(c);
	if (!prefix || strlen(prefix) + 8 > RML_MAX_NAME)
		return rml_errorf(err, RML_ERR_ARG, "bad calibrator prefix");
	rml_status st = from_file(c, f, prefix, err);
	if (st != RML_OK)
		rml_calib_free(c);
	return st;
}

/* ---- rejection threshold ------------------------------------------------------ */

typedef struct {
	double u;           /* uncertainty: entropy or 1 - confidence */
	uint8_t ok;
} urow;

static int by_uncertainty_desc(const void *a, const void *b)
{
	const urow *x = a, *y = b;
	if (x->u != y->u)
		return x->u > y->u ? -1 : 1;
	return (int)x->ok - (int)y->ok;
}

rml_status rml_calib_choose_reject(const float *probs, const int32_t *labels, int64_t n,
				   int64_t k, rml_reject_rule rule, double max_reject_rate,
				   double target_coverage, rml_reject_choice *out,
				   rml_error *err)
{
	memset(out, 0, sizeof *out);
	if (!probs || !labels)
		return rml_errorf(err, RML_ERR_ARG, "choosing a threshold needs probabilities and labels");
	if (n < 1)
		return rml_errorf(err, RML_ERR_ARG, "no examples to choose a threshold on");
	if (k < 2)
		return rml_errorf(err, RML_ERR_ARG, "at least 2 classes are needed, got %lld",
				  (long long)k);
	if (rule != RML_REJECT_ENTROPY && rule != RML_REJECT_CONFIDENCE)
		return rml_errorf(err, RML_ERR_ARG, "the rejection rule must be entropy or confidence");
	int by_cov = !(target_coverage < 0);
	if (by_cov && !(target_coverage > 0 && target_coverage <= 1))
		return rml_errorf(err, RML_ERR_ARG, "target coverage must be in (0,1], got %g",
				  target_coverage);
	if (!by_cov && !(max_reject_rate >= 0 && max_reject_rate < 1))
		return rml_errorf(err, RML_ERR_ARG, "maximum rejection rate must be in [0,1), got %g",
				  max_reject_rate);
	int64_t nk;
	if (rml_mul_overflow(n, k, &nk))
		return rml_errorf(err, RML_ERR_LIMIT, "too many predictions");
	float *conf = malloc((size_t)n * sizeof *conf);
	float *ent = malloc((size_t)n * sizeof *ent);
	uint8_t *ok = malloc((size_t)n);
	urow *r = malloc((size_t)n * sizeof *r);
	rml_status st = RML_OK;
	if (!conf || !ent || !ok || !r) {
		st = rml_errorf(err, RML_ERR_NOMEM, "out of memory for %lld predictions", (long long)n);
		goto done;
	}
	if ((st = read_rows(probs, labels, n, k, NULL, ok, err)) != RML_OK)
		goto done;
	rml_top1(probs, n, k, NULL, conf);
	rml_entropy(probs, n, k, ent);
	int64_t right = 0;
	for (int64_t i = 0; i < n; i++) {
		/* The uncertainty rml_predictions_reject compares: the float
		 * entropy, or minus the confidence (exact, where 1 - conf in
		 * float would round). */
		r[i].u = rule == RML_REJECT_ENTROPY ? ent[i] : -conf[i];
		r[i].ok = ok[i];
		right += ok[i];
	}
	qsort(r, (size_t)n, sizeof *r, by_uncertainty_desc);
	/* Feasible rejection counts are the group boundaries: rejecting j rows
	 * is possible only when row j-1 is strictly more uncertain than row j. */
	int64_t best = 0, wrong_rej = 0;
	double best_score = by_cov ? fabs(1 - target_coverage) : (double)right / (double)n;
	int64_t limit = by_cov ? n - 1 : (int64_t)floor(max_reject_rate * (double)n + 1e-9);
	if (limit > n - 1)
		limit = n - 1;
	for (int64_t j = 1; j <= limit; j++) {
		wrong_rej += !r[j - 1].ok;
		if (!(r[j - 1].u > r[j].u))
			continue;
		double kept_right = (double)(right - (j - wrong_rej)); /* rejected right = j - wrong */
		if (by_cov) {
			double d = fabs((double)(n - j) / (double)n - target_coverage);
			if (d < best_score - 1e-15) {
				best_score = d;
				best = j;
			}
		} else {
			double acc2 = kept_right / (double)(n - j);
			if (acc2 > best_score + 1e-15) {
				best_score = acc2;
				best = j;
			}
		}
	}
	out->rule = rule;
	out->n = n;
	out->n_rejected = best;
	out->reject_rate = (double)best / (double)n;
	out->coverage = 1 - out->reject_rate;
	out->acc1 = (double)right / (double)n;
	int64_t kept_ok = 0;
	for (int64_t j = best; j < n; j++)
		kept_ok += r[j].ok;
	out->acc2 = (double)kept_ok / (double)(n - best);
	/* On the uncertainty scale; nothing is rejected by a threshold equal to
	 * the largest uncertainty, since rejection needs it exceeded. */
	double tu = best == 0 ? r[0].u : 0.5 * (r[best - 1].u + r[best].u);
	out->threshold = rule == RML_REJECT_ENTROPY ? tu : -tu;
done:
	free(conf);
	free(ent);
	free(ok);
	free(r);
	return st;
}
