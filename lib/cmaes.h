/*
 * cmaes.h — the covariance matrix adaptation evolution strategy, as a
 * derivative-free minimiser with an ask/tell interface: the caller asks
 * for a population of candidate points, evaluates them however it likes
 * (here: one batched forward pass of a classifier), and tells the
 * fitness values back. The black-box attacks run on it.
 *
 * Two variants: FULL is the standard (mu/mu_w, lambda)-CMA-ES of Hansen's
 * tutorial ("The CMA Evolution Strategy: A Tutorial", 2016) with weighted
 * recombination, cumulative step-size adaptation and rank-one plus
 * rank-mu covariance updates, for dimensions up to RML_CMAES_FULL_MAX;
 * SEP is sep-CMA-ES (Ros & Hansen, PPSN 2008), which keeps only the
 * diagonal of the covariance matrix and learns it faster, for high
 * dimensions such as a whole image (3072 coordinates).
 *
 * Not here: bounds or constraints. The strategy samples the whole space;
 * a caller with a bounded domain maps each candidate into it before
 * evaluating (clipping, or any other repair) and tells the fitness of the
 * mapped point, while the strategy keeps the unmapped candidate for its
 * update. That is sound as long as the mapping is the identity inside the
 * domain; a caller who needs the mean to stay inside adds a penalty
 * proportional to the squared repair distance to the fitness.
 */
#ifndef RML_CMAES_H
#define RML_CMAES_H

#include <stdint.h>

#include "rml.h"

typedef enum {
	RML_CMAES_FULL = 0,  /* full covariance, eigendecomposition */
	RML_CMAES_SEP = 1,   /* diagonal covariance (sep-CMA-ES) */
} rml_cmaes_variant;

/* The largest dimension the full variant accepts: it stores and
 * decomposes a dim x dim matrix, O(dim^3) work per decomposition. */
#define RML_CMAES_FULL_MAX 1000

/* Why the strategy stopped; RML_CMAES_RUNNING while it has not. */
typedef enum {
	RML_CMAES_RUNNING = 0,
	RML_CMAES_STOP_FTARGET,   /* best fitness <= ftarget */
	RML_CMAES_STOP_MAXEVALS,  /* evaluation budget used up */
	RML_CMAES_STOP_TOLFUN,    /* fitness range of recent generations < tolfun */
	RML_CMAES_STOP_TOLX,      /* every axis of the search distribution < tolx */
	RML_CMAES_STOP_CONDITION, /* condition number of C beyond max_condition */
	RML_CMAES_STOP_NOEFFECT,  /* adding 0.2 standard deviations no longer changes the mean */
} rml_cmaes_stop;

/* Stopping criteria; rml_cmaes_init sets the defaults shown. */
typedef struct {
	int64_t max_evals;     /* 0 = unlimited (default) */
	double ftarget;        /* -INFINITY = off (default) */
	double tolfun;         /* 1e-12 */
	double tolx;           /* 1e-11 * sigma0 */
	double max_condition;  /* 1e14 */
} rml_cmaes_stopopts;

typedef struct rml_cmaes rml_cmaes;

/* Create a strategy in dim dimensions, centred on x0 [dim] with step size
 * sigma0 (the initial standard deviation of every coordinate), with
 * lambda candidates per generation (0 = the default 4 + floor(3 ln dim)),
 * drawing its samples from its own generator seeded with seed, so the
 * same seed and the same fitness values give the same run on every
 * platform. All memory is allocated here; ask and tell allocate nothing.
 * RML_ERR_ARG for dim < 1, lambda of 1 (0 is the default; at least 2
 * otherwise), sigma0 not positive and finite, a non-finite x0, or an
 * unknown variant; RML_ERR_LIMIT for the full variant above
 * RML_CMAES_FULL_MAX dimensions or sizes that overflow; RML_ERR_NOMEM. */
rml_status rml_cmaes_init(rml_cmaes **out, int64_t dim, const double *x0, double sigma0,
			  int64_t lambda, uint64_t seed, rml_cmaes_variant variant,
			  rml_error *err);

/* Release everything; NULL is allowed. */
void rml_cmaes_free(rml_cmaes *es);

/* Replace the stopping criteria (NULL restores the defaults). */
void rml_cmaes_set_stop(rml_cmaes *es, const rml_cmaes_stopopts *opts);

/* Sample the next generation: lambda candidates into x [lambda, dim],
 * row-major. Calling ask again before tell draws a fresh population in
 * place of the previous one. */
void rml_cmaes_ask(rml_cmaes *es, double *x);

/* Report the fitness f [lambda] (smaller is better) of the candidates of
 * the last ask, in the same order, and move the distribution. NaN counts
 * as worse than any number, so a candidate whose evaluation failed numerically
 * is simply ranked last; ties rank by candidate index, which keeps runs
 * deterministic. RML_ERR_ARG when no ask preceded it; RML_ERR_NUMERIC when
 * the distribution itself degenerates (non-finite step size or covariance),
 * after which the strategy reports itself stopped. */
rml_status rml_cmaes_tell(rml_cmaes *es, const double *f, rml_error *err);

/* The stopping reason, RML_CMAES_RUNNING while none applies. */
rml_cmaes_stop rml_cmaes_stopped(const rml_cmaes *es);
/* "running", "ftarget", "maxevals", "tolfun", "tolx", "condition", "noeffect". */
const char *rml_cmaes_stop_name(rml_cmaes_stop s);

/* The best candidate told so far into x [dim] (may be NULL) and its
 * fitness (+INFINITY before the first tell). */
double rml_cmaes_best(const rml_cmaes *es, double *x);

int64_t rml_cmaes_dim(const rml_cmaes *es);
int64_t rml_cmaes_lambda(const rml_cmaes *es);
/* Fitness evaluations told so far (lambda per tell). */
int64_t rml_cmaes_evals(const rml_cmaes *es);
int64_t rml_cmaes_generation(const rml_cmaes *es);
double rml_cmaes_sigma(const rml_cmaes *es);
/* The current mean [dim], valid until the next tell. */
const double *rml_cmaes_mean(const rml_cmaes *es);

#endif
