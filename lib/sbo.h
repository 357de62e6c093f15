/*
 * sbo.h — Soft Brownian Offset sampling (Möller, Botache, Huseljic,
 * Heidecker, Bieshaar, Sick, CVPR workshops 2021): out-of-distribution
 * points made from in-distribution ones by a random walk that stops once it is far enough
 * from all of them. rmlops runs it on latent vectors and decodes the
 * result into out-of-distribution calibration images.
 *
 * Not here: the encoder and decoder, the calibration itself (calib.h).
 */
#ifndef RML_SBO_H
#define RML_SBO_H

#include <stdint.h>

#include "rml.h"

typedef struct {
	double d_min;       /* minimum distance to the data, d+ (paper: 25) */
	double d_off;       /* offset distance of one step, l (paper: 20) */
	double softness;    /* sigma >= 0; 0 = hard threshold (paper: 0) */
	/* Step length in units of d_off drawn from N(step_mu, step_sd^2);
	 * the default 1, 0 makes every step exactly d_off long. The authors'
	 * package draws it from N(4, 0.7^2). */
	double step_mu, step_sd;
	int64_t max_steps;  /* cap on steps for one sample (default 10000) */
	uint64_t seed;
} rml_sbo_opts;

/* d_min 25, d_off 20, softness 0, step 1 +- 0, 10000 steps, seed 0. */
void rml_sbo_opts_default(rml_sbo_opts *o);

/* Generate m points out [m,dim] from the n in-distribution points x
 * [n,dim] (row-major), with options o (NULL: the defaults). Sample i walks from a data point drawn uniformly,
 * with its own random stream (seed, i), so the result depends on the seed
 * alone, never on thread count or batching. nn_dist [m] (may be NULL)
 * receives each sample's distance to its nearest data point, computed
 * exactly in double precision; steps [m] (may be NULL) the number of
 * steps it took. RML_ERR_ARG for n < 1, dim < 1, m < 0, a non-finite
 * point, or options out of range (d_min, d_off > 0 and finite, softness
 * >= 0, step_mu > 0, step_sd >= 0, max_steps >= 1); RML_ERR_LIMIT naming
 * the sample when one is still not accepted after max_steps steps. With
 * softness 0 every sample is farther than d_min from every data point. */
rml_status rml_sbo_generate(const float *x, int64_t n, int64_t dim, int64_t m,
			    const rml_sbo_opts *o, float *out, double *nn_dist, int64_t *steps,
			    rml_error *err);

/* Euclidean distance from each of the m queries q [m,dim] to its nearest
 * point of x [n,dim], into dist [m], and that point's index into idx [m]
 * (may be NULL; the lowest index on a tie). Brute force: one sgemm gives
 * ||q||^2 + ||x||^2 - 2 q.x for every pair, and the candidates that
 * rounding could confuse with the minimum are measured again exactly in
 * double, so the result does not depend on the BLAS or thread count.
 * RML_ERR_ARG for n < 1, dim < 1, m < 0; RML_ERR_NOMEM. */
rml_status rml_sbo_nearest(const float *x, int64_t n, const float *q, int64_t m,
			   int64_t dim, double *dist, int64_t *idx, rml_error *err);

#endif
