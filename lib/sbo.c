/*
 * sbo.c — Soft Brownian Offset sampling and the brute-force nearest
 * neighbour search it runs on. For generating out-of-distribution points
 * near in-distribution ones (latent vectors of calibration images); not a
 * general nearest-neighbour library (no index structure: n is a few
 * thousand, and one sgemm per step of a batch of walkers is fast enough).
 *
 * The algorithm (Möller et al. 2021, "Out-of-distribution detection and
 * generation using soft Brownian offset sampling and autoencoders"), for
 * each of the m samples:
 *   1. y <- a data point drawn uniformly from X;
 *   2. d* <- distance from y to its nearest point of X;
 *   3. if d* > 0, accept y when
 *        softness = 0:  d* > d+   (hard threshold), or
 *        softness > 0:  u < 1 / (1 + exp(-7 (d* - d+) / (softness d+)))
 *                       with u uniform in [0,1)  (a sigmoid centred on d+
 *                       whose width grows with the softness);
 *   4. otherwise step: y <- y + l r g/||g||, g a standard normal vector
 *      (so the direction is uniform on the sphere), r drawn from
 *      N(step_mu, step_sd^2) (1 and 0 by default: steps of exactly l; the
 *      authors' package uses 4 and 0.7), and go to 2.
 * d* = 0 is never accepted, so a sample never duplicates a data point.
 * The factor 7 and the scaling by d+ are those of the authors' package;
 * they make the acceptance probability at d* = d+ (1 -/+ softness) about
 * 0.1% and 99.9%. A walker that takes max_steps steps without being
 * accepted is an error, not a silent fallback.
 *
 * Each sample has its own random stream (seed, sample index) and the
 * acceptance test uses exact double-precision distances, so the output
 * depends on the seed alone: not on batching, threads or the BLAS.
 */
#include "sbo.h"

#include <cblas.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

void rml_sbo_opts_default(rml_sbo_opts *o)
{
	o->d_min = 25;
	o->d_off = 20;
	o->softness = 0;
	o->step_mu = 1;
	o->step_sd = 0;
	o->max_steps = 10000;
	o->seed = 0;
}

/* Exact squared distance in double: the arbiter of every decision. */
static double dist2_exact(const float *a, const float *b, int64_t dim)
{
	double s = 0;
	for (int64_t i = 0; i < dim; i++) {
		double d = (double)a[i] - (double)b[i];
		s += d * d;
	}
	return s;
}

/* Nearest neighbours of q [a,dim] among x [n,dim], with xx[j] = ||x_j||^2
 * precomputed in double and d [a,n] a scratch buffer. The sgemm value of
 * ||q||^2 + ||x||^2 - 2 q.x is off by at most about (dim + 8) eps
 * (||q||^2 + ||x||^2) (float dot products of length dim), so every point
 * whose lower bound beats the smallest upper bound is measured exactly. */
static void nearest_block(const float *x, const double *xx, int64_t n, const float *q,
			  int64_t a, int64_t dim, float *d, double *dist, int64_t *idx)
{
	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)a, (int)n, (int)dim, -2.0f, q,
		    (int)dim, x, (int)dim, 0.0f, d, (int)n);
	const double slack = ((double)dim + 8.0) * (double)FLT_EPSILON;
	/* Threads only pay off on big blocks; a walk of small steps runs many
	 * tiny ones, where waking a team costs more than the work. */
#pragma omp parallel for schedule(static) if (a * n * dim >= 1 << 20)
	for (int64_t r = 0; r < a; r++) {
		const float *qr = q + r * dim;
		const float *dr = d + r * n;
		double qq = 0;
		for (int64_t t = 0; t < dim; t++)
			qq += (double)qr[t] * (double)qr[t];
		double upper = INFINITY;
		for (int64_t j = 0; j < n; j++) {
			double approx = qq + xx[j] + (double)dr[j];
			double m = slack * (qq + xx[j]) + 1e-30;
			if (approx + m < upper)
				upper = approx + m;
		}
		double best = INFINITY;
		int64_t bi = 0;
		for (int64_t j = 0; j < n; j++) {
			double approx = qq + xx[j] + (double)dr[j];
			double m = slack * (qq + xx[j]) + 1e-30;
			if (approx - m > upper)
				continue;
			double e = dist2_exact(qr, x + j * dim, dim);
			if (e < best) {
				best = e;
				bi = j;
			}
		}
		dist[r] = sqrt(best);
		if (idx)
			idx[r] = bi;
	}
}

/* Rows per sgemm so that the scratch stays near 64 MiB. */
static int64_t block_rows(int64_t n, int64_t want)
{
	int64_t cap = ((int64_t)1 << 24) / n;
	if (cap < 1)
		cap = 1;
	if (cap > 256)
		cap = 256;
	return want < cap ? want : cap;
}

static int all_finite(const float *v, int64_t n)
{
	for (int64_t i = 0; i < n; i++)
		if (!isfinite(v[i]))
			return 0;
	return 1;
}

static rml_status check_sizes(int64_t n, int64_t dim, int64_t m, rml_error *err)
{
	if (n < 1)
		return rml_errorf(err, RML_ERR_ARG, "no in-distribution points (n = %lld)",
				  (long long)n);
	if (dim < 1)
		return rml_errorf(err, RML_ERR_ARG, "dimension must be at least 1, got %lld",
				  (long long)dim);
	if (m < 0)
		return rml_errorf(err, RML_ERR_ARG, "number of samples must be >= 0, got %lld",
				  (long long)m);
	int64_t tot;
	if (rml_mul_overflow(n, dim, &tot) || rml_mul_overflow(m, dim, &tot) || n > INT32_MAX ||
	    dim > INT32_MAX)
		return rml_errorf(err, RML_ERR_LIMIT, "%lld x %lld points are too many",
				  (long long)n, (long long)dim);
	return RML_OK;
}

static double *squared_norms(const float *x, int64_t n, int64_t dim)
{
	double *xx = malloc((size_t)n * sizeof *xx);
	if (!xx)
		return NULL;
	for (int64_t j = 0; j < n; j++) {
		double s = 0;
		for (int64_t t = 0; t < dim; t++)
			s += (double)x[j * dim + t] * (double)x[j * dim + t];
		xx[j] = s;
	}
	return xx;
}

rml_status rml_sbo_nearest(const float *x, int64_t n, const float *q, int64_t m,
			   int64_t dim, double *dist, int64_t *idx, rml_error *err)
{
	rml_status st = check_sizes(n, dim, m, err);
	if (st != RML_OK || m == 0)
		return st;
	int64_t br = block_rows(n, m);
	double *xx = squared_norms(x, n, dim);
	float *d = malloc((size_t)br * (size_t)n * sizeof *d);
	if (!xx || !d) {
		free(xx);
		free(d);
		return rml_errorf(err, RML_ERR_NOMEM, "out of memory for distances to %lld points",
				  (long long)n);
	}
	for (int64_t s = 0; s < m; s += br) {
		int64_t a = m - s < br ? m - s : br;
		nearest_block(x, xx, n, q + s * dim, a, dim, d, dist + s, idx ? idx + s : NULL);
	}
	free(xx);
	free(d);
	return RML_OK;
}

static rml_status check_opts(const rml_sbo_opts *o, rml_error *err)
{
	if (!(isfinite(o->d_min) && o->d_min > 0))
		return rml_errorf(err, RML_ERR_ARG, "minimum distance must be > 0, got %g",
				  o->d_min);
	if (!(isfinite(o->d_off) && o->d_off > 0))
		return rml_errorf(err, RML_ERR_ARG, "offset distance must be > 0, got %g",
				  o->d_off);
	if (!(isfinite(o->softness) && o->softness >= 0))
		return rml_errorf(err, RML_ERR_ARG, "softness must be >= 0, got %g", o->softness);
	if (!(isfinite(o->step_mu) && o->step_mu > 0))
		return rml_errorf(err, RML_ERR_ARG, "mean step length must be > 0, got %g",
				  o->step_mu);
	if (!(isfinite(o->step_sd) && o->step_sd >= 0))
		return rml_errorf(err, RML_ERR_ARG, "step length deviation must be >= 0, got %g",
				  o->step_sd);
	if (o->max_steps < 1)
		return rml_errorf(err, RML_ERR_ARG, "step cap must be >= 1, got %lld",
				  (long long)o->max_steps);
	return RML_OK;
}

/* One walker of the batch. */
typedef struct {
	rml_rng rng;
	int64_t sample;     /* index into the output */
	int64_t steps;
} walker;

/* Step 3 of the algorithm for a walker at exact distance dstar. */
static int accept(walker *w, double dstar, const rml_sbo_opts *o)
{
	if (!(dstar > 0))
		return 0;
	if (o->softness == 0)
		return dstar > o->d_min;
	double z = 7.0 * (dstar - o->d_min) / (o->softness * o->d_min);
	double p = 1.0 / (1.0 + exp(-z));
	return rml_rng_uniform(&w->rng) < p;
}

/* Step 4: a step of length d_off r in a uniformly random direction. A
 * zero Gaussian vector has probability zero but is redrawn all the same. */
static void step(walker *w, float *y, int64_t dim, const rml_sbo_opts *o, double *g)
{
	double norm2;
	do {
		norm2 = 0;
		for (int64_t t = 0; t < dim; t++) {
			g[t] = rml_rng_normal(&w->rng);
			norm2 += g[t] * g[t];
		}
	} while (!(norm2 > 0));
	double r = o->step_sd > 0 ? o->step_mu + o->step_sd * rml_rng_normal(&w->rng) : o->step_mu;
	double scale = o->d_off * r / sqrt(norm2);
	for (int64_t t = 0; t < dim; t++)
		y[t] = (float)((double)y[t] + scale * g[t]);
	w->steps++;
}

rml_status rml_sbo_generate(const float *x, int64_t n, int64_t dim, int64_t m,
			    const rml_sbo_opts *o, float *out, double *nn_dist, int64_t *steps,
			    rml_error *err)
{
	rml_status st = check_sizes(n, dim, m, err);
	if (st != RML_OK)
		return st;
	rml_sbo_opts def;
	if (!o) {
		rml_sbo_opts_default(&def);
		o = &def;
	}
	if ((st = check_opts(o, err)) != RML_OK)
		return st;
	for (int64_t j = 0; j < n; j++)
		if (!all_finite(x + j * dim, dim))
			return rml_errorf(err, RML_ERR_ARG,
					  "in-distribution point %lld is not finite", (long long)j);
	if (m == 0)
		return RML_OK;

	int64_t br = block_rows(n, m);
	double *xx = squared_norms(x, n, dim);
	float *d = malloc((size_t)br * (size_t)n * sizeof *d);
	float *q = malloc((size_t)br * (size_t)dim * sizeof *q);
	double *dist = malloc((size_t)br * sizeof *dist);
	double *g = malloc((size_t)dim * sizeof *g);
	walker *w = malloc((size_t)br * sizeof *w);
	if (!xx || !d || !q || !dist || !g || !w) {
		st = rml_errorf(err, RML_ERR_NOMEM, "out of memory for %lld walkers",
				(long long)br);
		goto done;
	}
	/* Walkers live in q (positions) and w; an accepted walker is replaced
	 * by the next sample not yet started, so the batch stays full. */
	int64_t next = 0, active = 0;
	while (next < m || active > 0) {
		while (active < br && next < m) {
			walker *nw = &w[active];
			rml_rng_seed_stream(&nw->rng, o->seed, (uint64_t)next);
			nw->sample = next++;
			nw->steps = 0;
			int64_t start = (int64_t)rml_rng_below(&nw->rng, (uint64_t)n);
			memcpy(q + active * dim, x + start * dim, (size_t)dim * sizeof *q);
			active++;
		}
		nearest_block(x, xx, n, q, active, dim, d, dist, NULL);
		int64_t keep = 0;
		for (int64_t r = 0; r < active; r++) {
			walker *cw = &w[r];
			float *y = q + r * dim;
			if (accept(cw, dist[r], o)) {
				memcpy(out + cw->sample * dim, y, (size_t)dim * sizeof *y);
				if (nn_dist)
					nn_dist[cw->sample] = dist[r];
				if (steps)
					steps[cw->sample] = cw->steps;
				continue;
			}
			if (cw->steps >= o->max_steps) {
				st = rml_errorf(err, RML_ERR_LIMIT,
						"sample %lld is still within distance %g of the data "
						"(nearest %.6g) after %lld steps of %g; raise the step "
						"cap or the offset distance",
						(long long)cw->sample, o->d_min, dist[r],
						(long long)cw->steps, o->d_off);
				goto done;
			}
			step(cw, y, dim, o, g);
			if (!all_finite(y, dim)) {
				st = rml_errorf(err, RML_ERR_NUMERIC,
						"sample %lld left the range of float after %lld steps "
						"of %g", (long long)cw->sample, (long long)cw->steps,
						o->d_off);
				goto done;
			}
			if (keep != r) {
				w[keep] = *cw;
				memmove(q + keep * dim, y, (size_t)dim * sizeof *y);
			}
			keep++;
		}
		active = keep;
	}
done:
	free(xx);
	free(d);
	free(q);
	free(dist);
	free(g);
	free(w);
	return st;
}
