/*
 * cmaes.c — CMA-ES (full covariance) and sep-CMA-ES (diagonal), ask/tell.
 * For minimising a few hundred to a few thousand coordinates with a few
 * thousand evaluations, where the caller evaluates a whole generation in
 * one batch; not a general optimisation library (no restarts with growing
 * populations, no active negative weights, no bounds).
 *
 * The update follows Hansen's tutorial (2016), with the classic positive
 * recombination weights w_i proportional to ln((lambda+1)/2) - ln i for
 * the best mu = floor(lambda/2) and its default constants:
 *   mu_eff = 1 / sum w_i^2
 *   c_c    = (4 + mu_eff/n) / (n + 4 + 2 mu_eff/n)
 *   c_s    = (mu_eff + 2) / (n + mu_eff + 5)
 *   c_1    = 2 / ((n + 1.3)^2 + mu_eff)
 *   c_mu   = min(1 - c_1, 2 (mu_eff - 2 + 1/mu_eff) / ((n + 2)^2 + mu_eff))
 *   d_s    = 1 + 2 max(0, sqrt((mu_eff - 1)/(n + 1)) - 1) + c_s
 * The separable variant (Ros & Hansen 2008) multiplies both covariance
 * learning rates by (n + 2)/3, since a diagonal has n degrees of freedom
 * instead of n(n+1)/2 and can be learned that much faster.
 *
 * The full variant decomposes C = B diag(D^2) B^T with a cyclic Jacobi
 * eigensolver written here rather than LAPACK: it is exact to rounding,
 * its result does not depend on the BLAS or on the thread count, and it
 * runs only every lambda / (10 n (c_1 + c_mu)) generations, as the
 * tutorial suggests, which keeps the cost O(n^2) per generation.
 */
#include "cmaes.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct rml_cmaes {
	int64_t n, lambda, mu;
	rml_cmaes_variant variant;
	double *w;                    /* [mu] recombination weights, sum 1 */
	double mueff, cc, cs, c1, cmu, damps, chin;
	double sigma, sigma0;
	double *m, *ps, *pc;          /* [n] mean and evolution paths */
	double *C, *B, *D;            /* full: [n*n], [n*n], [n]; sep: C [n], D [n] */
	double *A;                    /* [n*n] Jacobi scratch (full only) */
	double *y;                    /* [lambda*n] steps (x - m) / sigma of the last ask */
	double *f;                    /* [lambda] fitness of the last tell */
	int64_t *idx;                 /* [lambda] ranking */
	double *yw, *t1, *t2;         /* [n] scratch */
	double *best_x;               /* [n] */
	double best_f;
	double *hist;                 /* ring of each generation's best fitness */
	int64_t hist_cap, hist_n, hist_pos;
	int64_t gen, evals, eigen_gen;
	int asked;
	rml_rng rng;
	rml_cmaes_stopopts stop;
	rml_cmaes_stop reason;
};

static void default_stop(rml_cmaes_stopopts *s, double sigma0)
{
	s->max_evals = 0;
	s->ftarget = -INFINITY;
	s->tolfun = 1e-12;
	s->tolx = 1e-11 * sigma0;
	s->max_condition = 1e14;
}

void rml_cmaes_free(rml_cmaes *es)
{
	if (!es)
		return;
	free(es->w);
	free(es->m);
	free(es->ps);
	free(es->pc);
	free(es->C);
	free(es->B);
	free(es->D);
	free(es->A);
	free(es->y);
	free(es->f);
	free(es->idx);
	free(es->yw);
	free(es->t1);
	free(es->t2);
	free(es->best_x);
	free(es->hist);
	free(es);
}

rml_status rml_cmaes_init(rml_cmaes **out, int64_t dim, const double *x0, double sigma0,
			  int64_t lambda, uint64_t seed, rml_cmaes_variant variant,
			  rml_error *err)
{
	if (!out)
		return rml_errorf(err, RML_ERR_ARG, "cmaes: no output pointer");
	*out = NULL;
	if (dim < 1)
		return rml_errorf(err, RML_ERR_ARG, "cmaes: dimension %lld must be at least 1",
				  (long long)dim);
	if (variant != RML_CMAES_FULL && variant != RML_CMAES_SEP)
		return rml_errorf(err, RML_ERR_ARG, "cmaes: unknown variant %d", (int)variant);
	if (variant == RML_CMAES_FULL && dim > RML_CMAES_FULL_MAX)
		return rml_errorf(err, RML_ERR_LIMIT,
				  "cmaes: full covariance in %lld dimensions is beyond the limit of %d; "
				  "use the separable variant",
				  (long long)dim, RML_CMAES_FULL_MAX);
	if (dim > ((int64_t)1 << 28))
		return rml_errorf(err, RML_ERR_LIMIT, "cmaes: dimension %lld too large",
				  (long long)dim);
	if (!(sigma0 > 0) || !isfinite(sigma0))
		return rml_errorf(err, RML_ERR_ARG, "cmaes: initial step size %g must be positive and finite",
				  sigma0);
	if (lambda == 0)
		lambda = 4 + (int64_t)floor(3.0 * log((double)dim));
	if (lambda < 2)
		return rml_errorf(err, RML_ERR_ARG, "cmaes: population size %lld must be at least 2",
				  (long long)lambda);
	if (lambda > ((int64_t)1 << 20))
		return rml_errorf(err, RML_ERR_LIMIT, "cmaes: population size %lld too large",
				  (long long)lambda);
	int64_t ln;
	if (rml_mul_overflow(lambda, dim, &ln) || ln > ((int64_t)1 << 31))
		return rml_errorf(err, RML_ERR_LIMIT, "cmaes: population %lld x dimension %lld too large",
				  (long long)lambda, (long long)dim);
	if (!x0)
		return rml_errorf(err, RML_ERR_ARG, "cmaes: no initial point");
	for (int64_t i = 0; i < dim; i++)
		if (!isfinite(x0[i]))
			return rml_errorf(err, RML_ERR_ARG,
					  "cmaes: initial point has a non-finite coordinate %lld",
					  (long long)i);

	rml_cmaes *es = calloc(1, sizeof *es);
	if (!es)
		return rml_errorf(err, RML_ERR_NOMEM, "cmaes: out of memory");
	const int64_t n = dim;
	es->n = n;
	es->lambda = lambda;
	es->mu = lambda / 2;
	es->variant = variant;
	const size_t nn = variant == RML_CMAES_FULL ? (size_t)n * (size_t)n : (size_t)n;
	es->hist_cap = 10 + (int64_t)ceil(30.0 * (double)n / (double)lambda);
	es->w = malloc((size_t)es->mu * sizeof(double));
	es->m = malloc((size_t)n * sizeof(double));
	es->ps = calloc((size_t)n, sizeof(double));
	es->pc = calloc((size_t)n, sizeof(double));
	es->C = calloc(nn, sizeof(double));
	es->D = malloc((size_t)n * sizeof(double));
	es->y = malloc((size_t)ln * sizeof(double));
	es->f = malloc((size_t)lambda * sizeof(double));
	es->idx = malloc((size_t)lambda * sizeof(int64_t));
	es->yw = malloc((size_t)n * sizeof(double));
	es->t1 = malloc((size_t)n * sizeof(double));
	es->t2 = malloc((size_t)n * sizeof(double));
	es->best_x = malloc((size_t)n * sizeof(double));
	es->hist = malloc((size_t)es->hist_cap * sizeof(double));
	if (variant == RML_CMAES_FULL) {
		es->B = calloc(nn, sizeof(double));
		es->A = malloc(nn * sizeof(double));
	}
	if (!es->w || !es->m || !es->ps || !es->pc || !es->C || !es->D || !es->y || !es->f ||
	    !es->idx || !es->yw || !es->t1 || !es->t2 || !es->best_x || !es->hist ||
	    (variant == RML_CMAES_FULL && (!es->B || !es->A))) {
		rml_cmaes_free(es);
		return rml_errorf(err, RML_ERR_NOMEM, "cmaes: out of memory for %lld dimensions",
				  (long long)n);
	}

	double sw = 0, sw2 = 0;
	for (int64_t i = 0; i < es->mu; i++) {
		es->w[i] = log((double)(lambda + 1) / 2.0) - log((double)(i + 1));
		sw += es->w[i];
	}
	for (int64_t i = 0; i < es->mu; i++) {
		es->w[i] /= sw;
		sw2 += es->w[i] * es->w[i];
	}
	const double dn = (double)n;
	es->mueff = 1.0 / sw2;
	es->cc = (4.0 + es->mueff / dn) / (dn + 4.0 + 2.0 * es->mueff / dn);
	es->cs = (es->mueff + 2.0) / (dn + es->mueff + 5.0);
	es->c1 = 2.0 / ((dn + 1.3) * (dn + 1.3) + es->mueff);
	es->cmu = 2.0 * (es->mueff - 2.0 + 1.0 / es->mueff) / ((dn + 2.0) * (dn + 2.0) + es->mueff);
	if (variant == RML_CMAES_SEP) {
		es->c1 *= (dn + 2.0) / 3.0;
		es->cmu *= (dn + 2.0) / 3.0;
	}
	if (es->c1 > 1.0)
		es->c1 = 1.0;
	if (es->cmu > 1.0 - es->c1)
		es->cmu = 1.0 - es->c1;
	es->damps = 1.0 + 2.0 * fmax(0.0, sqrt((es->mueff - 1.0) / (dn + 1.0)) - 1.0) + es->cs;
	es->chin = sqrt(dn) * (1.0 - 1.0 / (4.0 * dn) + 1.0 / (21.0 * dn * dn));

	memcpy(es->m, x0, (size_t)n * sizeof(double));
	memcpy(es->best_x, x0, (size_t)n * sizeof(double));
	es->best_f = INFINITY;
	es->sigma = es->sigma0 = sigma0;
	for (int64_t i = 0; i < n; i++) {
		es->D[i] = 1.0;
		if (variant == RML_CMAES_FULL) {
			es->C[i * n + i] = 1.0;
			es->B[i * n + i] = 1.0;
		} else {
			es->C[i] = 1.0;
		}
	}
	rml_rng_seed(&es->rng, seed);
	default_stop(&es->stop, sigma0);
	es->reason = RML_CMAES_RUNNING;
	*out = es;
	return RML_OK;
}

void rml_cmaes_set_stop(rml_cmaes *es, const rml_cmaes_stopopts *opts)
{
	if (opts)
		es->stop = *opts;
	else
		default_stop(&es->stop, es->sigma0);
}

void rml_cmaes_ask(rml_cmaes *es, double *x)
{
	const int64_t n = es->n;
	for (int64_t k = 0; k < es->lambda; k++) {
		double *yk = es->y + k * n;
		if (es->variant == RML_CMAES_SEP) {
			for (int64_t i = 0; i < n; i++)
				yk[i] = es->D[i] * rml_rng_normal(&es->rng);
		} else {
			for (int64_t j = 0; j < n; j++)
				es->t1[j] = es->D[j] * rml_rng_normal(&es->rng);
			for (int64_t i = 0; i < n; i++) {
				const double *bi = es->B + i * n;
				double s = 0;
				for (int64_t j = 0; j < n; j++)
					s += bi[j] * es->t1[j];
				yk[i] = s;
			}
		}
		double *xk = x + k * n;
		for (int64_t i = 0; i < n; i++)
			xk[i] = es->m[i] + es->sigma * yk[i];
	}
	es->asked = 1;
}

/* NaN sorts last; equal values keep the candidate order. Insertion sort:
 * lambda is a few dozen, and stability matters more than speed. */
static void rank(const double *f, int64_t *idx, int64_t lambda)
{
	for (int64_t k = 0; k < lambda; k++)
		idx[k] = k;
	for (int64_t k = 1; k < lambda; k++) {
		int64_t v = idx[k];
		double fv = isnan(f[v]) ? INFINITY : f[v];
		int vnan = isnan(f[v]);
		int64_t j = k - 1;
		while (j >= 0) {
			int64_t u = idx[j];
			double fu = isnan(f[u]) ? INFINITY : f[u];
			int unan = isnan(f[u]);
			int after = fu > fv || (fu == fv && unan && !vnan);
			if (!after)
				break;
			idx[j + 1] = u;
			j--;
		}
		idx[j + 1] = v;
	}
}

/* Cyclic Jacobi: A [n*n] symmetric is destroyed, its eigenvalues land in
 * ev [n] and the eigenvectors in the columns of V [n*n]. Returns 0, or -1
 * when 60 sweeps did not bring the off-diagonal mass down to rounding. */
static int jacobi_eigen(double *A, int64_t n, double *ev, double *V)
{
	for (int64_t i = 0; i < n * n; i++)
		V[i] = 0;
	for (int64_t i = 0; i < n; i++)
		V[i * n + i] = 1;
	for (int sweep = 0; sweep < 60; sweep++) {
		double off = 0, diag = 0;
		for (int64_t i = 0; i < n; i++) {
			diag += A[i * n + i] * A[i * n + i];
			for (int64_t j = i + 1; j < n; j++)
				off += A[i * n + j] * A[i * n + j];
		}
		if (off <= 1e-32 * diag || off == 0) {
			for (int64_t i = 0; i < n; i++)
				ev[i] = A[i * n + i];
			return 0;
		}
		for (int64_t p = 0; p < n; p++) {
			for (int64_t q = p + 1; q < n; q++) {
				double apq = A[p * n + q];
				if (apq == 0)
					continue;
				double theta = (A[q * n + q] - A[p * n + p]) / (2.0 * apq);
				double t = 1.0 / (fabs(theta) + sqrt(theta * theta + 1.0));
				if (theta < 0)
					t = -t;
				double c = 1.0 / sqrt(t * t + 1.0), s = t * c;
				for (int64_t r = 0; r < n; r++) {
					double arp = A[r * n + p], arq = A[r * n + q];
					A[r * n + p] = c * arp - s * arq;
					A[r * n + q] = s * arp + c * arq;
				}
				for (int64_t r = 0; r < n; r++) {
					double apr = A[p * n + r], aqr = A[q * n + r];
					A[p * n + r] = c * apr - s * aqr;
					A[q * n + r] = s * apr + c * aqr;
				}
				A[p * n + q] = A[q * n + p] = 0;
				for (int64_t r = 0; r < n; r++) {
					double vrp = V[r * n + p], vrq = V[r * n + q];
					V[r * n + p] = c * vrp - s * vrq;
					V[r * n + q] = s * vrp + c * vrq;
				}
			}
		}
	}
	return -1;
}

/* B and D from C; RML_ERR_NUMERIC when C is no longer positive definite. */
static rml_status decompose(rml_cmaes *es, rml_error *err)
{
	const int64_t n = es->n;
	memcpy(es->A, es->C, (size_t)(n * n) * sizeof(double));
	if (jacobi_eigen(es->A, n, es->t1, es->B) != 0)
		return rml_errorf(err, RML_ERR_NUMERIC, "cmaes: eigendecomposition did not converge");
	for (int64_t i = 0; i < n; i++) {
		if (!(es->t1[i] > 0) || !isfinite(es->t1[i]))
			return rml_errorf(err, RML_ERR_NUMERIC,
					  "cmaes: covariance matrix is no longer positive definite "
					  "(eigenvalue %g)",
					  es->t1[i]);
		es->D[i] = sqrt(es->t1[i]);
	}
	es->eigen_gen = es->gen;
	return RML_OK;
}

static void check_stop(rml_cmaes *es, const double *f)
{
	const int64_t n = es->n;
	const rml_cmaes_stopopts *s = &es->stop;
	if (es->best_f <= s->ftarget) {
		es->reason = RML_CMAES_STOP_FTARGET;
		return;
	}
	if (s->max_evals > 0 && es->evals >= s->max_evals) {
		es->reason = RML_CMAES_STOP_MAXEVALS;
		return;
	}
	if (es->hist_n >= es->hist_cap) {
		double lo = INFINITY, hi = -INFINITY;
		for (int64_t i = 0; i < es->hist_cap; i++) {
			lo = fmin(lo, es->hist[i]);
			hi = fmax(hi, es->hist[i]);
		}
		for (int64_t k = 0; k < es->lambda; k++) {
			lo = fmin(lo, f[k]);
			hi = fmax(hi, f[k]);
		}
		if (hi - lo < s->tolfun) {
			es->reason = RML_CMAES_STOP_TOLFUN;
			return;
		}
	}
	double dmax = 0, dmin = INFINITY;
	int small = 1, noeffect = 0;
	for (int64_t i = 0; i < n; i++) {
		double cii = es->variant == RML_CMAES_FULL ? es->C[i * n + i] : es->C[i];
		double sd = es->sigma * sqrt(cii);
		if (sd >= s->tolx || es->sigma * fabs(es->pc[i]) >= s->tolx)
			small = 0;
		if (es->m[i] == es->m[i] + 0.2 * sd)
			noeffect = 1;
		dmax = fmax(dmax, es->D[i]);
		dmin = fmin(dmin, es->D[i]);
	}
	if (small) {
		es->reason = RML_CMAES_STOP_TOLX;
		return;
	}
	if (es->variant == RML_CMAES_FULL) {
		/* One principal axis per generation, in turn, as the tutorial's
		 * NoEffectAxis does. */
		int64_t a = es->gen % n;
		int moved = 0;
		for (int64_t i = 0; i < n && !moved; i++)
			if (es->m[i] != es->m[i] + 0.1 * es->sigma * es->D[a] * es->B[i * n + a])
				moved = 1;
		if (!moved)
			noeffect = 1;
	}
	if (noeffect) {
		es->reason = RML_CMAES_STOP_NOEFFECT;
		return;
	}
	if (dmin > 0 && (dmax / dmin) * (dmax / dmin) > s->max_condition)
		es->reason = RML_CMAES_STOP_CONDITION;
}

rml_status rml_cmaes_tell(rml_cmaes *es, const double *f, rml_error *err)
{
	if (!es->asked)
		return rml_errorf(err, RML_ERR_ARG, "cmaes: tell without a preceding ask");
	es->asked = 0;
	const int64_t n = es->n, lambda = es->lambda, mu = es->mu;
	memcpy(es->f, f, (size_t)lambda * sizeof(double));
	rank(es->f, es->idx, lambda);
	es->evals += lambda;

	const int64_t b = es->idx[0];
	if (es->f[b] < es->best_f) {
		es->best_f = es->f[b];
		for (int64_t i = 0; i < n; i++)
			es->best_x[i] = es->m[i] + es->sigma * es->y[b * n + i];
	}
	es->hist[es->hist_pos] = isnan(es->f[b]) ? INFINITY : es->f[b];
	es->hist_pos = (es->hist_pos + 1) % es->hist_cap;
	if (es->hist_n < es->hist_cap)
		es->hist_n++;

	/* <y>_w and the new mean. */
	for (int64_t i = 0; i < n; i++)
		es->yw[i] = 0;
	for (int64_t r = 0; r < mu; r++) {
		const double *yk = es->y + es->idx[r] * n;
		for (int64_t i = 0; i < n; i++)
			es->yw[i] += es->w[r] * yk[i];
	}
	for (int64_t i = 0; i < n; i++)
		es->m[i] += es->sigma * es->yw[i];

	/* C^{-1/2} <y>_w into t2. */
	if (es->variant == RML_CMAES_SEP) {
		for (int64_t i = 0; i < n; i++)
			es->t2[i] = es->yw[i] / es->D[i];
	} else {
		for (int64_t j = 0; j < n; j++) {
			double s = 0;
			for (int64_t i = 0; i < n; i++)
				s += es->B[i * n + j] * es->yw[i];
			es->t1[j] = s / es->D[j];
		}
		for (int64_t i = 0; i < n; i++) {
			double s = 0;
			for (int64_t j = 0; j < n; j++)
				s += es->B[i * n + j] * es->t1[j];
			es->t2[i] = s;
		}
	}
	const double csn = sqrt(es->cs * (2.0 - es->cs) * es->mueff);
	double psn = 0;
	for (int64_t i = 0; i < n; i++) {
		es->ps[i] = (1.0 - es->cs) * es->ps[i] + csn * es->t2[i];
		psn += es->ps[i] * es->ps[i];
	}
	psn = sqrt(psn);
	es->gen++;
	const double corr = sqrt(1.0 - pow(1.0 - es->cs, 2.0 * (double)es->gen));
	const int hsig = psn / corr / es->chin < 1.4 + 2.0 / ((double)n + 1.0);
	const double ccn = sqrt(es->cc * (2.0 - es->cc) * es->mueff);
	for (int64_t i = 0; i < n; i++)
		es->pc[i] = (1.0 - es->cc) * es->pc[i] + (hsig ? ccn * es->yw[i] : 0.0);

	/* Covariance: decay, rank one, rank mu. Without hsig the rank-one
	 * term lost the variance c_c(2 - c_c) that the decay assumes. */
	const double c1 = es->c1, cmu = es->cmu;
	const double decay = 1.0 - c1 - cmu + (hsig ? 0.0 : c1 * es->cc * (2.0 - es->cc));
	if (es->variant == RML_CMAES_SEP) {
		for (int64_t i = 0; i < n; i++) {
			double rmu = 0;
			for (int64_t r = 0; r < mu; r++) {
				double v = es->y[es->idx[r] * n + i];
				rmu += es->w[r] * v * v;
			}
			es->C[i] = decay * es->C[i] + c1 * es->pc[i] * es->pc[i] + cmu * rmu;
			es->D[i] = sqrt(es->C[i]);
			if (!isfinite(es->C[i]) || !(es->C[i] > 0)) {
				es->reason = RML_CMAES_STOP_CONDITION;
				return rml_errorf(err, RML_ERR_NUMERIC,
						  "cmaes: variance of coordinate %lld became %g",
						  (long long)i, es->C[i]);
			}
		}
	} else {
		for (int64_t i = 0; i < n; i++) {
			for (int64_t j = 0; j <= i; j++) {
				double rmu = 0;
				for (int64_t r = 0; r < mu; r++) {
					const double *yk = es->y + es->idx[r] * n;
					rmu += es->w[r] * yk[i] * yk[j];
				}
				double v = decay * es->C[i * n + j] + c1 * es->pc[i] * es->pc[j] + cmu * rmu;
				es->C[i * n + j] = es->C[j * n + i] = v;
			}
		}
	}

	double e = (es->cs / es->damps) * (psn / es->chin - 1.0);
	es->sigma *= exp(fmin(1.0, e));
	if (!isfinite(es->sigma) || !(es->sigma > 0)) {
		es->reason = RML_CMAES_STOP_CONDITION;
		return rml_errorf(err, RML_ERR_NUMERIC, "cmaes: step size became %g", es->sigma);
	}

	if (es->variant == RML_CMAES_FULL &&
	    (double)(es->gen - es->eigen_gen) >= (double)lambda / ((c1 + cmu) * (double)n * 10.0)) {
		rml_status st = decompose(es, err);
		if (st != RML_OK) {
			es->reason = RML_CMAES_STOP_CONDITION;
			return st;
		}
	}
	if (es->reason == RML_CMAES_RUNNING)
		check_stop(es, es->f);
	return RML_OK;
}

rml_cmaes_stop rml_cmaes_stopped(const rml_cmaes *es)
{
	return es->reason;
}

const char *rml_cmaes_stop_name(rml_cmaes_stop s)
{
	switch (s) {
	case RML_CMAES_RUNNING: return "running";
	case RML_CMAES_STOP_FTARGET: return "ftarget";
	case RML_CMAES_STOP_MAXEVALS: return "maxevals";
	case RML_CMAES_STOP_TOLFUN: return "tolfun";
	case RML_CMAES_STOP_TOLX: return "tolx";
	case RML_CMAES_STOP_CONDITION: return "condition";
	case RML_CMAES_STOP_NOEFFECT: return "noeffect";
	}
	return "unknown";
}

double rml_cmaes_best(const rml_cmaes *es, double *x)
{
	if (x)
		memcpy(x, es->best_x, (size_t)es->n * sizeof(double));
	return es->best_f;
}

int64_t rml_cmaes_dim(const rml_cmaes *es) { return es->n; }
int64_t rml_cmaes_lambda(const rml_cmaes *es) { return es->lambda; }
int64_t rml_cmaes_evals(const rml_cmaes *es) { return es->evals; }
int64_t rml_cmaes_generation(const rml_cmaes *es) { return es->gen; }
double rml_cmaes_sigma(const rml_cmaes *es) { return es->sigma; }
const double *rml_cmaes_mean(const rml_cmaes *es) { return es->m; }
