/*
 * es.h — the antithetic evolution-strategies estimator of a gradient
 * (Salimans et al., "Evolution Strategies as a Scalable Alternative to
 * Reinforcement Learning", 2017; used for meta-learning by Song et al.,
 * "ES-MAML", ICLR 2020) over a plain float vector x:
 *
 *   grad F(x) ~ 1/K sum_k (F(x + sigma g_k) - F(x - sigma g_k)) / (2 sigma) g_k,
 *   g_k ~ N(0, I),
 *
 * the gradient of the Gaussian-smoothed objective E_g[F(x + sigma g)]
 * (formula 3 of the resilience-aware MLOps paper, with K = 1 pair there),
 * and the ascent step x <- x + lr * grad. Ask/tell: the caller asks for
 * the perturbed points of an iteration, evaluates F there however it
 * likes (in parallel, on other processes), and tells the values back.
 *
 * The directions of iteration i come from rml_rng_seed_stream(seed, i),
 * so a run resumed at iteration i draws exactly what an uninterrupted run
 * draws, and nothing but the iteration number needs saving.
 *
 * Not here: what F is (metaopt.h), constraints, adaptive step sizes.
 */
#ifndef RML_ES_H
#define RML_ES_H

#include <stdint.h>

#include "rml.h"

typedef struct {
	int64_t n;          /* dimension */
	int n_pairs;        /* antithetic pairs K per iteration */
	double sigma;       /* smoothing radius, > 0 */
	double lr;          /* ascent step (beta of the paper), >= 0 */
	uint64_t seed;
	int64_t iteration;  /* iterations told so far */
	float *g;           /* [n_pairs * n] directions of the current iteration */
	double last_norm;   /* |grad estimate| of the last step */
} rml_es;

/* Set up an estimator over n coordinates (n >= 1, n_pairs 1..1024,
 * sigma > 0 and finite, lr >= 0 and finite) and draw the directions of
 * iteration 0. RML_ERR_ARG for bad values, RML_ERR_NOMEM. */
rml_status rml_es_init(rml_es *es, int64_t n, int n_pairs, double sigma, double lr,
		       uint64_t seed, rml_error *err);
void rml_es_free(rml_es *es);

/* Jump to iteration `it` (for resuming): its directions are drawn. */
void rml_es_seek(rml_es *es, int64_t it);

/* The point x + sign * sigma * g_k of the current iteration into out[n]
 * (sign +1 or -1, k in [0, n_pairs)). out may equal x only if the caller
 * does not need x afterwards. */
void rml_es_point(const rml_es *es, const float *x, int k, int sign, float *out);

/* The gradient estimate from the values at the points of the current
 * iteration, f_plus[k] = F(x + sigma g_k) and f_minus[k] = F(x - sigma
 * g_k), into grad[n] (may be NULL); then x += lr * grad, and the
 * directions of the next iteration are drawn. Non-finite values are
 * refused (RML_ERR_NUMERIC) without moving x. */
rml_status rml_es_step(rml_es *es, float *x, const double *f_plus, const double *f_minus,
		       float *grad, rml_error *err);

/* Objective for rml_es_gradient: returns F(x) or NaN with err set. */
typedef double (*rml_es_fn)(void *ctx, const float *x, int64_t n, rml_error *err);

/* One gradient estimate of f at x with the directions of the current
 * iteration (calls f 2 * n_pairs times, x unchanged), into grad[n]; the
 * iteration is not advanced. For tests and simple callers. */
rml_status rml_es_gradient(const rml_es *es, rml_es_fn f, void *ctx, const float *x,
			   float *grad, rml_error *err);

#endif
