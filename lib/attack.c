/*
 * attack.c — FGSM, PGD, the threshold attack (L-infinity, CMA-ES) and the
 * few-pixel attack (L0, CMA-ES or DE) over callbacks. For measuring how
 * far a classifier's decisions move under bounded input perturbations;
 * not for training (an adversarial-training loop calls the same FGSM
 * with its own engine's gradients) and not a model runner.
 *
 * How the budget holds by construction:
 *   L-infinity: every candidate is clamped per value to [lo, hi], the
 *     largest float interval inside [x - eps, x + eps] ∩ [0, 255]
 *     measured exactly in double, so max |x_adv - x| <= eps holds for the
 *     stored floats, not just before rounding.
 *   L2: a candidate is clipped to [0, 255] (which only moves values
 *     towards x, as x is inside) and then scaled towards x until its
 *     realised norm, again measured in double on the stored floats, is
 *     at most eps. Clipping after the ball projection is not the exact
 *     projection onto the intersection, but it is feasible, which is all
 *     an attack needs.
 *   L0: a candidate names k (row, column, colour) triples; writing them
 *     into a copy of x changes at most k pixels (fewer when two coincide).
 *
 * The threshold attack searches y in R^dim and evaluates
 * x + eps * clip(y, -1, 1), clamped as above. Clipping rather than tanh:
 * the corners of the box, where L-infinity attacks live, are reached with
 * finite y, and inside the box the map is the identity, which is what
 * CMA-ES's update assumes; the strategy keeps the unclipped samples. Its
 * mean may drift outside the box, which costs nothing: a coordinate
 * beyond +-1 just stays at +-eps. Like Kotyan & Vargas, the search starts
 * at the clean image with a step of eps/4.
 *
 * The few-pixel attack searches, per pixel, (row, column, c colour
 * values), each scaled to [0, 1] (row * h, column * w, value * 255, then
 * floor()-ed and clamped on decoding), so that one step size suits
 * positions and colours alike and does not depend on the image size.
 * CMA-ES starts at the clean image: k distinct random pixels with their
 * own colours. Kotyan & Vargas used a step of 63/4 in raw units for both
 * (half the side of a 32x32 image, a sixteenth of the intensity range);
 * here the default is a quarter of each range, the same relative step
 * as the threshold attack's eps/4. DE draws its initial population
 * uniformly in [0, 1]^(k (2 + c)).
 *
 * The threshold attack may also search one value per tile x tile block
 * and channel: the lower-dimensional space of the L-infinity black-box
 * literature (Square's vertical stripes, the tiling of parsimonious
 * attacks), where 10 generations can move the whole image rather than a
 * few of its 3,072 values.
 *
 * APGD follows Croce & Hein's description: step 2 eps, momentum 0.75,
 * checkpoints at 0, 0.22, ... of the iterations (each interval 0.03 of
 * them shorter than the last, at least 0.06), where the step is halved
 * and the iterate goes back to the best point when fewer than 75% of the
 * interval's steps raised the loss, or when neither the step nor the best
 * loss changed since the previous checkpoint.
 *
 * The Square attack follows Andriushchenko et al.: L-infinity starts from
 * vertical stripes of +-eps and then redraws one square window at a time
 * with a random +-eps per channel; L2 starts from a grid of squares with
 * a pseudo-Gaussian profile and then moves the norm of one window into
 * another; the side of the window follows the fraction p of the image,
 * halved at the paper's fractions of the query budget; a candidate is
 * kept when it lowers the margin.
 */
#include "attack.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cmaes.h"
#include "de.h"

#define PIX_MAX 255.0f
/* Above this dimension the threshold attack's CMA-ES keeps only the
 * diagonal of its covariance (sep-CMA-ES): a full matrix would cost
 * O(dim^2) memory and O(dim^3) per eigendecomposition. */
#define FULL_CMAES_MAX_DIM 200
#define DE_DEFAULT_POP 400

void rml_attack_config_default(rml_attack_config *cfg, rml_attack_kind kind)
{
	memset(cfg, 0, sizeof *cfg);
	cfg->kind = kind;
	cfg->norm = kind == RML_ATTACK_PIXEL_L0 ? RML_NORM_L0 : RML_NORM_LINF;
	cfg->eps = 3;
	cfg->pixels = 1;
	cfg->steps = 10;
	cfg->restarts = 1;
	cfg->random_start = 1;
	cfg->generations = 10;
	cfg->search = RML_SEARCH_CMAES;
	cfg->fitness = RML_FITNESS_PROB;
	cfg->de_f = 0.5;
	cfg->de_cr = 1.0;
	cfg->tile = 1;
	cfg->queries = 1000;
	if (kind == RML_ATTACK_SQUARE)
		cfg->fitness = RML_FITNESS_MARGIN;
}

static const char *kind_names[] = { "fgsm", "pgd", "cmaes-linf", "pixel-l0", "square", "apgd" };

const char *rml_attack_kind_name(rml_attack_kind kind)
{
	if ((int)kind < 0 || (int)kind > RML_ATTACK_APGD)
		return "unknown";
	return kind_names[kind];
}

rml_status rml_attack_kind_parse(const char *s, rml_attack_kind *kind, rml_error *err)
{
	for (int i = 0; i <= RML_ATTACK_APGD; i++)
		if (s && strcmp(s, kind_names[i]) == 0) {
			*kind = (rml_attack_kind)i;
			return RML_OK;
		}
	return rml_errorf(err, RML_ERR_ARG,
			  "unknown attack '%s' (expected fgsm, pgd, apgd, cmaes-linf, pixel-l0 or square)",
			  s ? s : "(null)");
}

void rml_attack_measure(const float *x, const float *x_adv, int64_t pixels, int64_t c,
			rml_attack_result *r)
{
	double linf = 0, l2 = 0;
	int64_t l0 = 0;
	for (int64_t p = 0; p < pixels; p++) {
		int changed = 0;
		for (int64_t k = 0; k < c; k++) {
			double d = (double)x_adv[p * c + k] - (double)x[p * c + k];
			if (d != 0)
				changed = 1;
			linf = fmax(linf, fabs(d));
			l2 += d * d;
		}
		l0 += changed;
	}
	r->linf = linf;
	r->l2 = sqrt(l2);
	r->l0 = l0;
}

/* ---- budgets ------------------------------------------------------------ */

/* The float interval [lo, hi] of values v with |v - x| <= b exactly and v
 * in [0, 255]; x itself is in [0, 255], so lo <= x <= hi. */
static void linf_bounds(float x, double b, float *lo, float *hi)
{
	float l = (float)((double)x - b);
	while ((double)x - (double)l > b)
		l = nextafterf(l, INFINITY);
	float u = (float)((double)x + b);
	while ((double)u - (double)x > b)
		u = nextafterf(u, -INFINITY);
	*lo = l < 0 ? 0 : l;
	*hi = u > PIX_MAX ? PIX_MAX : u;
}

/* Clamp xa [d] into the L-infinity ball of x and the box; a NaN from a
 * broken gradient falls back to x. */
static void project_linf(const float *x, float *xa, int64_t d, double b)
{
	for (int64_t j = 0; j < d; j++) {
		float lo, hi, v = xa[j];
		linf_bounds(x[j], b, &lo, &hi);
		if (isnan(v))
			v = x[j];
		xa[j] = v < lo ? lo : v > hi ? hi : v;
	}
}

static double realised_l2(const float *x, const float *xa, int64_t d)
{
	double s = 0;
	for (int64_t j = 0; j < d; j++) {
		double t = (double)xa[j] - (double)x[j];
		s += t * t;
	}
	return sqrt(s);
}

/* Clip xa [d] to the box, then shrink it towards x until its realised L2
 * distance is at most b. Each pass rescales by b/norm, a little less on
 * later passes, so rounding cannot keep it above b; after 30 passes (never
 * seen) it gives up and returns x itself, which is always feasible. */
static void project_l2(const float *x, float *xa, int64_t d, double b)
{
	for (int64_t j = 0; j < d; j++) {
		float v = xa[j];
		if (isnan(v))
			v = x[j];
		xa[j] = v < 0 ? 0 : v > PIX_MAX ? PIX_MAX : v;
	}
	for (int it = 0;; it++) {
		double nrm = realised_l2(x, xa, d);
		if (nrm <= b)
			return;
		if (it == 30) {
			memcpy(xa, x, (size_t)d * sizeof(float));
			return;
		}
		double s = b / nrm * (1.0 - 1e-7 * it);
		for (int64_t j = 0; j < d; j++) {
			double t = ((double)xa[j] - (double)x[j]) * s;
			float v = (float)((double)x[j] + t);
			xa[j] = v < 0 ? 0 : v > PIX_MAX ? PIX_MAX : v;
		}
	}
}

static void project(rml_attack_norm norm, const float *x, float *xa, int64_t d, double b)
{
	if (norm == RML_NORM_L2)
		project_l2(x, xa, d, b);
	else
		project_linf(x, xa, d, b);
}

/* ---- shared ------------------------------------------------------------- */

static rml_status callback_failed(rml_error *err, const char *which, int rc, int64_t ex)
{
	rml_status st = (rc > 0 && rc <= (int)RML_ERR_NUMERIC) ? (rml_status)rc : RML_ERR_NUMERIC;
	return rml_errorf(err, st, "attack: the model's %s callback failed at example %lld: %s",
			  which, (long long)ex, rml_strerror(st));
}

/* Top class (the lowest index on a tie, NaN never wins; -1 when all are
 * NaN) and the search fitness of one probability row. */
static double fitness_of(const float *p, int64_t nc, int32_t y, int targeted,
			 rml_attack_fitness kind, int32_t *pred)
{
	int32_t top = -1;
	double other = -INFINITY;
	for (int64_t j = 0; j < nc; j++) {
		if (isnan(p[j]))
			continue;
		if (top < 0 || p[j] > p[top])
			top = (int32_t)j;
		if (j != y && p[j] > other)
			other = p[j];
	}
	*pred = top;
	double py = p[y];
	if (kind == RML_FITNESS_MARGIN) {
		/* In logs: differences of tiny probabilities still rank, where
		 * 1 - p in float would have rounded them all to 1. */
		double ly = log(fmax(py, FLT_TRUE_MIN)), lo = log(fmax(other, FLT_TRUE_MIN));
		return targeted ? lo - ly : ly - lo;
	}
	return targeted ? 1.0 - py : py;
}

static int goal_met(int32_t pred, int32_t y, int targeted)
{
	return pred >= 0 && (targeted ? pred == y : pred != y);
}

static rml_status check_config(const rml_attack_config *cfg, const rml_attack_model *m,
			       int64_t h, int64_t w, rml_error *err)
{
	int white = cfg->kind == RML_ATTACK_FGSM || cfg->kind == RML_ATTACK_PGD ||
		    cfg->kind == RML_ATTACK_APGD;
	int square = cfg->kind == RML_ATTACK_SQUARE;
	if ((int)cfg->kind < 0 || (int)cfg->kind > RML_ATTACK_APGD)
		return rml_errorf(err, RML_ERR_ARG, "attack: unknown attack kind %d", (int)cfg->kind);
	if (!m)
		return rml_errorf(err, RML_ERR_ARG, "attack: no model callbacks");
	if (m->n_class < 2)
		return rml_errorf(err, RML_ERR_ARG, "attack: the model has %lld classes; at least 2 needed",
				  (long long)m->n_class);
	if (cfg->kind == RML_ATTACK_APGD && cfg->loss != RML_LOSS_CE && cfg->loss != RML_LOSS_DLR)
		return rml_errorf(err, RML_ERR_ARG, "attack: unknown loss %d", (int)cfg->loss);
	if (cfg->kind == RML_ATTACK_APGD && cfg->loss == RML_LOSS_DLR) {
		if (!m->grad_dlr)
			return rml_errorf(err, RML_ERR_ARG, "attack: apgd with the DLR loss needs the DLR gradient callback");
		if (m->n_class < 3)
			return rml_errorf(err, RML_ERR_ARG, "attack: the DLR loss needs at least 3 classes, not %lld",
					  (long long)m->n_class);
	} else if (white && !m->grad) {
		return rml_errorf(err, RML_ERR_ARG, "attack: %s needs the gradient callback",
				  rml_attack_kind_name(cfg->kind));
	}
	if (!white && !m->prob)
		return rml_errorf(err, RML_ERR_ARG, "attack: %s needs the probability callback",
				  rml_attack_kind_name(cfg->kind));
	if ((white || square) && cfg->norm != RML_NORM_LINF && cfg->norm != RML_NORM_L2)
		return rml_errorf(err, RML_ERR_ARG, "attack: %s works in the L-inf or L2 norm",
				  rml_attack_kind_name(cfg->kind));
	if (cfg->kind == RML_ATTACK_CMAES_LINF && cfg->norm != RML_NORM_LINF)
		return rml_errorf(err, RML_ERR_ARG, "attack: cmaes-linf works in the L-inf norm");
	if (cfg->kind == RML_ATTACK_PIXEL_L0 && cfg->norm != RML_NORM_L0)
		return rml_errorf(err, RML_ERR_ARG, "attack: pixel-l0 works in the L0 norm");
	if (cfg->kind != RML_ATTACK_PIXEL_L0 && !(cfg->eps > 0 && isfinite(cfg->eps)))
		return rml_errorf(err, RML_ERR_ARG, "attack: eps %g must be positive and finite", cfg->eps);
	if (cfg->kind == RML_ATTACK_PIXEL_L0 && (cfg->pixels < 1 || cfg->pixels > h * w))
		return rml_errorf(err, RML_ERR_ARG, "attack: pixel count %lld outside 1..%lld",
				  (long long)cfg->pixels, (long long)(h * w));
	if (cfg->kind == RML_ATTACK_PGD || cfg->kind == RML_ATTACK_APGD) {
		if (cfg->steps < 1)
			return rml_errorf(err, RML_ERR_ARG, "attack: steps %lld must be at least 1",
					  (long long)cfg->steps);
		if (cfg->restarts < 1)
			return rml_errorf(err, RML_ERR_ARG, "attack: restarts %lld must be at least 1",
					  (long long)cfg->restarts);
		if (!(cfg->step_size >= 0 && isfinite(cfg->step_size)))
			return rml_errorf(err, RML_ERR_ARG,
					  "attack: step size %g must be positive and finite (0 = automatic)",
					  cfg->step_size);
	}
	if (cfg->batch < 0)
		return rml_errorf(err, RML_ERR_ARG, "attack: batch %lld must not be negative",
				  (long long)cfg->batch);
	if (square) {
		if (cfg->queries < 1 || cfg->queries > 10000000)
			return rml_errorf(err, RML_ERR_ARG, "attack: queries %lld outside 1..10000000",
					  (long long)cfg->queries);
		if (!(cfg->p_init >= 0 && cfg->p_init <= 1))
			return rml_errorf(err, RML_ERR_ARG,
					  "attack: p_init %g outside [0, 1] (0 = the default)", cfg->p_init);
		if (cfg->fitness != RML_FITNESS_PROB && cfg->fitness != RML_FITNESS_MARGIN)
			return rml_errorf(err, RML_ERR_ARG, "attack: unknown fitness %d", (int)cfg->fitness);
	}
	if (cfg->kind == RML_ATTACK_CMAES_LINF && (cfg->tile < 1 || cfg->tile > (h > w ? h : w)))
		return rml_errorf(err, RML_ERR_ARG, "attack: tile %lld outside 1..%lld",
				  (long long)cfg->tile, (long long)(h > w ? h : w));
	if (!white && !square) {
		if (cfg->generations < 1)
			return rml_errorf(err, RML_ERR_ARG, "attack: generations %lld must be at least 1",
					  (long long)cfg->generations);
		if (cfg->search != RML_SEARCH_CMAES && cfg->search != RML_SEARCH_DE)
			return rml_errorf(err, RML_ERR_ARG, "attack: unknown search %d", (int)cfg->search);
		int64_t minpop = cfg->search == RML_SEARCH_DE ? 4 : 2;
		if (cfg->popsize != 0 && (cfg->popsize < minpop || cfg->popsize > 100000))
			return rml_errorf(err, RML_ERR_ARG,
					  "attack: population size %lld outside %lld..100000 (0 = default)",
					  (long long)cfg->popsize, (long long)minpop);
		if (cfg->fitness != RML_FITNESS_PROB && cfg->fitness != RML_FITNESS_MARGIN)
			return rml_errorf(err, RML_ERR_ARG, "attack: unknown fitness %d", (int)cfg->fitness);
		if (!(cfg->sigma0 >= 0 && isfinite(cfg->sigma0)))
			return rml_errorf(err, RML_ERR_ARG,
					  "attack: sigma0 %g must be positive and finite (0 = default)",
					  cfg->sigma0);
		if (cfg->search == RML_SEARCH_DE && !(cfg->de_f > 0 && cfg->de_f <= 2))
			return rml_errorf(err, RML_ERR_ARG, "attack: DE weight F = %g outside (0, 2]",
					  cfg->de_f);
		if (cfg->search == RML_SEARCH_DE && !(cfg->de_cr >= 0 && cfg->de_cr <= 1))
			return rml_errorf(err, RML_ERR_ARG, "attack: DE crossover rate %g outside [0, 1]",
					  cfg->de_cr);
		if (cfg->min_search < 0 || cfg->min_search > 64)
			return rml_errorf(err, RML_ERR_ARG, "attack: min_search %lld outside 0..64",
					  (long long)cfg->min_search);
	}
	return RML_OK;
}

/* ---- white-box ---------------------------------------------------------- */

typedef struct {
	float *cur, *g, *loss, *probs;
	double *best;
	int *has;
	rml_rng *rng;
	/* APGD: the previous iterate, the best point of this restart and its
	 * gradient [chunk * d]; per example the step, the best loss of this
	 * restart and at the last checkpoint, the previous loss, the
	 * interval's count of increases, whether the last checkpoint halved
	 * the step. */
	float *prev, *xmax, *gmax, *z;
	double *eta, *fmax, *fmax_last, *fprev;
	int64_t *inc;
	int *reduced;
} wb_ws;

/* A uniform point of the eps-ball around x (for L2: uniform in volume),
 * then made feasible. */
static void random_start(rml_attack_norm norm, const float *x, float *xa, int64_t d, double eps,
			 rml_rng *r)
{
	if (norm == RML_NORM_L2) {
		double s = 0;
		for (int64_t j = 0; j < d; j++) {
			double z = rml_rng_normal(r);
			xa[j] = (float)z;
			s += z * z;
		}
		double rad = eps * pow(rml_rng_uniform(r), 1.0 / (double)d);
		double f = s > 0 ? rad / sqrt(s) : 0;
		for (int64_t j = 0; j < d; j++)
			xa[j] = (float)((double)x[j] + f * xa[j]);
	} else {
		for (int64_t j = 0; j < d; j++)
			xa[j] = (float)((double)x[j] + eps * (2.0 * rml_rng_uniform(r) - 1.0));
	}
	project(norm, x, xa, d, eps);
}

/* One ascent step of length a from xa along g (descent when dir < 0):
 * the sign of g for L-inf, g / ||g||_2 for L2; then back into the budget. */
static void grad_step(rml_attack_norm norm, const float *x, float *xa, const float *g, int64_t d,
		      double a, double dir, double eps)
{
	if (norm == RML_NORM_L2) {
		double s = 0;
		for (int64_t j = 0; j < d; j++)
			s += (double)g[j] * (double)g[j];
		if (!(s > 0) || !isfinite(s))
			return;
		double f = dir * a / sqrt(s);
		for (int64_t j = 0; j < d; j++)
			xa[j] = (float)((double)xa[j] + f * (double)g[j]);
	} else {
		for (int64_t j = 0; j < d; j++) {
			double sg = g[j] > 0 ? 1.0 : g[j] < 0 ? -1.0 : 0.0;
			xa[j] = (float)((double)xa[j] + dir * a * sg);
		}
	}
	project(norm, x, xa, d, eps);
}

/* One APGD run (restart) over the nb examples xb with labels lab: steps
 * iterations after the gradient at the start; each example's highest loss
 * of the run replaces its best so far (ws->best, xa) when higher. The
 * objective is the loss for untargeted attacks and minus the loss for
 * targeted ones, so that the schedule has one direction. */
static rml_status apgd_run(const rml_attack_config *cfg, const rml_attack_model *m, const float *xb,
			   const int32_t *lab, int64_t nb, int64_t d, float *xa, rml_attack_result *rb,
			   wb_ws *ws, int restart, int64_t index0, rml_error *err)
{
	const double eps = cfg->eps, sgn = cfg->targeted ? -1.0 : 1.0;
	const int64_t N = cfg->steps;
	const rml_attack_grad_fn gradfn = cfg->loss == RML_LOSS_DLR ? m->grad_dlr : m->grad;
	const size_t row = (size_t)d * sizeof(float);
	/* Interval lengths as fractions of N: 0.22 first, each 0.03 shorter,
	 * never below 0.06 (at least 1 step each). */
	int64_t k = (int64_t)(0.22 * (double)N), kmin = (int64_t)(0.06 * (double)N);
	int64_t decr = (int64_t)(0.03 * (double)N);
	k = k < 1 ? 1 : k;
	kmin = kmin < 1 ? 1 : kmin;
	decr = decr < 1 ? 1 : decr;
	int rc;
	for (int64_t i = 0; i < nb; i++) {
		if (cfg->random_start || restart > 0)
			random_start(cfg->norm, xb + i * d, ws->cur + i * d, d, eps, &ws->rng[i]);
		else
			memcpy(ws->cur + i * d, xb + i * d, row);
	}
	if ((rc = gradfn(m->ctx, ws->cur, nb, lab, ws->loss, ws->g)) != 0)
		return callback_failed(err, "gradient", rc, index0);
	for (int64_t i = 0; i < nb; i++) {
		double f = sgn * ws->loss[i];
		rb[i].grads++;
		memcpy(ws->prev + i * d, ws->cur + i * d, row);
		memcpy(ws->xmax + i * d, ws->cur + i * d, row);
		memcpy(ws->gmax + i * d, ws->g + i * d, row);
		ws->fmax[i] = ws->fmax_last[i] = ws->fprev[i] = isnan(f) ? -INFINITY : f;
		ws->eta[i] = cfg->step_size > 0 ? cfg->step_size : 2.0 * eps;
		ws->inc[i] = 0;
		ws->reduced[i] = 1;
	}
	int64_t since = 0;
	for (int64_t it = 0; it < N; it++) {
		const double a = it > 0 ? 0.75 : 1.0;
		for (int64_t i = 0; i < nb; i++) {
			float *cur = ws->cur + i * d, *prev = ws->prev + i * d, *z = ws->z;
			const float *x = xb + i * d;
			memcpy(z, cur, row);
			grad_step(cfg->norm, x, z, ws->g + i * d, d, ws->eta[i], sgn, eps);
			for (int64_t j = 0; j < d; j++) {
				double c = cur[j];
				double v = c + a * ((double)z[j] - c) + (1.0 - a) * (c - (double)prev[j]);
				prev[j] = cur[j];
				cur[j] = (float)v;
			}
			project(cfg->norm, x, cur, d, eps);
		}
		if ((rc = gradfn(m->ctx, ws->cur, nb, lab, ws->loss, ws->g)) != 0)
			return callback_failed(err, "gradient", rc, index0);
		for (int64_t i = 0; i < nb; i++) {
			double f = sgn * ws->loss[i];
			rb[i].grads++;
			ws->inc[i] += f > ws->fprev[i];
			ws->fprev[i] = f;
			if (f > ws->fmax[i]) {
				ws->fmax[i] = f;
				memcpy(ws->xmax + i * d, ws->cur + i * d, row);
				memcpy(ws->gmax + i * d, ws->g + i * d, row);
			}
		}
		if (++since < k)
			continue;
		/* A checkpoint: halve the step and go back to the best point
		 * where the loss rose too rarely, or where neither the step
		 * nor the best loss moved since the last checkpoint. */
		for (int64_t i = 0; i < nb; i++) {
			int halve = (double)ws->inc[i] < 0.75 * (double)since ||
				    (!ws->reduced[i] && !(ws->fmax[i] > ws->fmax_last[i]));
			ws->reduced[i] = halve;
			ws->fmax_last[i] = ws->fmax[i];
			ws->inc[i] = 0;
			if (halve) {
				ws->eta[i] *= 0.5;
				memcpy(ws->cur + i * d, ws->xmax + i * d, row);
				memcpy(ws->prev + i * d, ws->xmax + i * d, row);
				memcpy(ws->g + i * d, ws->gmax + i * d, row);
				ws->fprev[i] = ws->fmax[i];
			}
		}
		since = 0;
		k = k - decr > kmin ? k - decr : kmin;
	}
	for (int64_t i = 0; i < nb; i++) {
		double l = sgn * ws->fmax[i], bl = ws->best[i];
		if (isinf(ws->fmax[i]) && ws->fmax[i] < 0)
			l = NAN;
		int better = !ws->has[i] || (isnan(bl) && !isnan(l)) || (cfg->targeted ? l < bl : l > bl);
		if (better) {
			ws->has[i] = 1;
			ws->best[i] = l;
			memcpy(xa + i * d, ws->xmax + i * d, row);
		}
	}
	return RML_OK;
}

static rml_status run_whitebox(const rml_attack_config *cfg, const rml_attack_model *m,
			       const float *x, const int32_t *labels, int64_t n, int64_t d,
			       int64_t pixels, int64_t c, float *x_adv, rml_attack_result *res,
			       rml_error *err)
{
	const int64_t chunk = cfg->batch > 0 && cfg->batch < n ? cfg->batch : n;
	const int fgsm = cfg->kind == RML_ATTACK_FGSM;
	const double eps = cfg->eps;
	const double dir = cfg->targeted ? -1.0 : 1.0;
	const double alpha = fgsm ? eps
			     : cfg->step_size > 0 ? cfg->step_size
						  : 2.5 * eps / (double)cfg->steps;
	const int64_t restarts = fgsm ? 1 : cfg->restarts;
	const int64_t nc = m->n_class;
	rml_status st = RML_OK;
	wb_ws ws = { 0 };
	ws.cur = malloc((size_t)(chunk * d) * sizeof(float));
	ws.g = malloc((size_t)(chunk * d) * sizeof(float));
	ws.loss = malloc((size_t)chunk * sizeof(float));
	ws.best = malloc((size_t)chunk * sizeof(double));
	ws.has = malloc((size_t)chunk * sizeof(int));
	ws.rng = malloc((size_t)chunk * sizeof(rml_rng));
	if (m->prob)
		ws.probs = malloc((size_t)(chunk * nc) * sizeof(float));
	const int apgd = cfg->kind == RML_ATTACK_APGD;
	if (apgd) {
		ws.prev = malloc((size_t)(chunk * d) * sizeof(float));
		ws.xmax = malloc((size_t)(chunk * d) * sizeof(float));
		ws.gmax = malloc((size_t)(chunk * d) * sizeof(float));
		ws.z = malloc((size_t)d * sizeof(float));
		ws.eta = malloc((size_t)chunk * sizeof(double));
		ws.fmax = malloc((size_t)chunk * sizeof(double));
		ws.fmax_last = malloc((size_t)chunk * sizeof(double));
		ws.fprev = malloc((size_t)chunk * sizeof(double));
		ws.inc = malloc((size_t)chunk * sizeof(int64_t));
		ws.reduced = malloc((size_t)chunk * sizeof(int));
	}
	if (!ws.cur || !ws.g || !ws.loss || !ws.best || !ws.has || !ws.rng || (m->prob && !ws.probs) ||
	    (apgd && (!ws.prev || !ws.xmax || !ws.gmax || !ws.z || !ws.eta || !ws.fmax ||
		      !ws.fmax_last || !ws.fprev || !ws.inc || !ws.reduced))) {
		st = rml_errorf(err, RML_ERR_NOMEM, "attack: out of memory for a batch of %lld images",
				(long long)chunk);
		goto done;
	}

	for (int64_t b0 = 0; b0 < n; b0 += chunk) {
		const int64_t nb = n - b0 < chunk ? n - b0 : chunk;
		const float *xb = x + b0 * d;
		float *xa = x_adv + b0 * d;
		const int32_t *lab = labels + b0;
		rml_attack_result *rb = res + b0;
		for (int64_t i = 0; i < nb; i++) {
			rml_rng_seed_stream(&ws.rng[i], cfg->seed, (uint64_t)(cfg->index0 + b0 + i));
			memset(&rb[i], 0, sizeof rb[i]);
			rb[i].success = rb[i].clean = -1;
			rb[i].pred = -1;
			rb[i].loss = NAN;
			rb[i].budget = eps;
			ws.has[i] = 0;
			ws.best[i] = NAN;
		}
		int rc;
		if (m->prob) {
			if ((rc = m->prob(m->ctx, xb, nb, ws.probs)) != 0) {
				st = callback_failed(err, "probability", rc, cfg->index0 + b0);
				goto done;
			}
			for (int64_t i = 0; i < nb; i++) {
				int32_t p;
				fitness_of(ws.probs + i * nc, nc, lab[i], cfg->targeted, cfg->fitness, &p);
				rb[i].clean = goal_met(p, lab[i], cfg->targeted);
				rb[i].queries++;
			}
		}
		if (fgsm) {
			if ((rc = m->grad(m->ctx, xb, nb, lab, ws.loss, ws.g)) != 0) {
				st = callback_failed(err, "gradient", rc, cfg->index0 + b0);
				goto done;
			}
			memcpy(xa, xb, (size_t)(nb * d) * sizeof(float));
			for (int64_t i = 0; i < nb; i++) {
				grad_step(cfg->norm, xb + i * d, xa + i * d, ws.g + i * d, d, alpha, dir, eps);
				rb[i].grads++;
			}
		} else if (apgd) {
			for (int64_t r = 0; r < restarts; r++) {
				st = apgd_run(cfg, m, xb, lab, nb, d, xa, rb, &ws, (int)r, cfg->index0 + b0, err);
				if (st)
					goto done;
			}
			for (int64_t i = 0; i < nb; i++)
				rb[i].loss = ws.best[i];
		} else {
			for (int64_t r = 0; r < restarts; r++) {
				for (int64_t i = 0; i < nb; i++) {
					if (cfg->random_start || r > 0)
						random_start(cfg->norm, xb + i * d, ws.cur + i * d, d, eps,
							     &ws.rng[i]);
					else
						memcpy(ws.cur + i * d, xb + i * d, (size_t)d * sizeof(float));
				}
				for (int64_t t = 0;; t++) {
					if ((rc = m->grad(m->ctx, ws.cur, nb, lab, ws.loss, ws.g)) != 0) {
						st = callback_failed(err, "gradient", rc, cfg->index0 + b0);
						goto done;
					}
					for (int64_t i = 0; i < nb; i++) {
						double l = ws.loss[i], bl = ws.best[i];
						int better = !ws.has[i] || (isnan(bl) && !isnan(l)) ||
							     (cfg->targeted ? l < bl : l > bl);
						rb[i].grads++;
						if (better) {
							ws.has[i] = 1;
							ws.best[i] = l;
							memcpy(xa + i * d, ws.cur + i * d, (size_t)d * sizeof(float));
						}
					}
					if (t == cfg->steps)
						break;
					for (int64_t i = 0; i < nb; i++)
						grad_step(cfg->norm, xb + i * d, ws.cur + i * d, ws.g + i * d, d,
							  alpha, dir, eps);
				}
			}
			for (int64_t i = 0; i < nb; i++)
				rb[i].loss = ws.best[i];
		}
		if (m->prob) {
			if ((rc = m->prob(m->ctx, xa, nb, ws.probs)) != 0) {
				st = callback_failed(err, "probability", rc, cfg->index0 + b0);
				goto done;
			}
			for (int64_t i = 0; i < nb; i++) {
				fitness_of(ws.probs + i * nc, nc, lab[i], cfg->targeted, cfg->fitness,
					   &rb[i].pred);
				rb[i].success = goal_met(rb[i].pred, lab[i], cfg->targeted);
				rb[i].queries++;
			}
		}
		for (int64_t i = 0; i < nb; i++)
			rml_attack_measure(xb + i * d, xa + i * d, pixels, c, &rb[i]);
		if (m->progress)
			m->progress(m->ctx, b0 + nb, n);
	}
done:
	free(ws.cur);
	free(ws.g);
	free(ws.loss);
	free(ws.best);
	free(ws.has);
	free(ws.rng);
	free(ws.probs);
	free(ws.prev);
	free(ws.xmax);
	free(ws.gmax);
	free(ws.z);
	free(ws.eta);
	free(ws.fmax);
	free(ws.fmax_last);
	free(ws.fprev);
	free(ws.inc);
	free(ws.reduced);
	return st;
}

/* ---- black-box ---------------------------------------------------------- */

typedef struct {
	const rml_attack_config *cfg;
	const rml_attack_model *m;
	int64_t h, w, c, d;        /* image shape, d = h*w*c */
	int64_t lam_max, dim_max;
	double *cand;              /* [lam_max * dim_max] */
	double *fit;               /* [lam_max] */
	double *lo, *hi, *x0;      /* [dim_max] */
	float *imgs;               /* [lam_max * d] */
	float *probs;              /* [lam_max * n_class] */
	int64_t *perm;             /* [h*w] */
	/* The example under attack. */
	const float *x;
	int32_t y;
	int64_t index;
	rml_rng rng;
	int64_t queries;
} bb_ws;

/* The outcome of one search or of the clean image. */
typedef struct {
	float *img;     /* [d] */
	double fit;
	int32_t pred;
	int success;
} bb_best;

/* The value x + b t (t in [-1, 1]) inside the budget b of x and the box,
 * rounded to a whole value when integer. */
static float linf_value(float x, double b, double t, int integer)
{
	float lo, hi, v = (float)((double)x + b * t);
	linf_bounds(x, b, &lo, &hi);
	v = v < lo ? lo : v > hi ? hi : v;
	if (integer) {
		/* x is whole, so one step back from a rounding that left
		 * [lo, hi] lands inside it again. */
		float r = rintf(v);
		if (r < lo)
			r += 1;
		else if (r > hi)
			r -= 1;
		v = r;
	}
	return v;
}

/* The threshold attack's search dimension: one value per tile x tile
 * block of pixels and channel. */
static int64_t linf_dim(int64_t h, int64_t w, int64_t c, int64_t tile)
{
	int64_t t = tile > 0 ? tile : 1;
	return ((h + t - 1) / t) * ((w + t - 1) / t) * c;
}

/* Candidate y [dim] into an image for budget b (eps, or k pixels). */
static void decode(const bb_ws *ws, const double *y, double b, float *img)
{
	const float *x = ws->x;
	if (ws->cfg->kind == RML_ATTACK_CMAES_LINF) {
		const int64_t t = ws->cfg->tile > 0 ? ws->cfg->tile : 1, c = ws->c;
		const int64_t tw = (ws->w + t - 1) / t;
		for (int64_t r = 0; r < ws->h; r++)
			for (int64_t col = 0; col < ws->w; col++)
				for (int64_t ch = 0; ch < c; ch++) {
					int64_t j = (r * ws->w + col) * c + ch;
					double v = y[((r / t) * tw + col / t) * c + ch];
					double u = isfinite(v) ? fmax(-1.0, fmin(1.0, v)) : 0.0;
					img[j] = linf_value(x[j], b, u, ws->cfg->integer);
				}
		return;
	}
	const int64_t k = (int64_t)b, c = ws->c, q = 2 + c;
	memcpy(img, x, (size_t)ws->d * sizeof(float));
	for (int64_t p = 0; p < k; p++) {
		const double *e = y + p * q;
		if (!isfinite(e[0]) || !isfinite(e[1]))
			continue;
		int64_t r = (int64_t)fmax(0.0, fmin((double)(ws->h - 1), floor(e[0] * (double)ws->h)));
		int64_t col = (int64_t)fmax(0.0, fmin((double)(ws->w - 1), floor(e[1] * (double)ws->w)));
		float *px = img + (r * ws->w + col) * c;
		for (int64_t ch = 0; ch < c; ch++)
			if (isfinite(e[2 + ch]))
				px[ch] = ws->cfg->integer
						 ? (float)rint(255.0 * fmax(0.0, fmin(1.0, e[2 + ch])))
						 : (float)(255.0 * fmax(0.0, fmin(1.0, e[2 + ch])));
	}
}

/* Evaluate lam candidates as one batch; update *best (the best candidate
 * seen, or on success the best successful one of this generation).
 * Returns 1 when this generation holds a success, 0 if not, or a negative
 * rml_status on callback failure (message in err). */
static int evaluate(bb_ws *ws, const double *cand, int64_t lam, int64_t dim, double b,
		    bb_best *best, rml_error *err)
{
	const rml_attack_config *cfg = ws->cfg;
	const int64_t nc = ws->m->n_class;
	for (int64_t k = 0; k < lam; k++)
		decode(ws, cand + k * dim, b, ws->imgs + k * ws->d);
	int rc = ws->m->prob(ws->m->ctx, ws->imgs, lam, ws->probs);
	if (rc != 0)
		return -(int)callback_failed(err, "probability", rc, ws->index);
	ws->queries += lam;
	int64_t win = -1, top = -1;
	int32_t win_pred = -1, top_pred = -1;
	for (int64_t k = 0; k < lam; k++) {
		int32_t pred;
		double f = fitness_of(ws->probs + k * nc, nc, ws->y, cfg->targeted, cfg->fitness, &pred);
		ws->fit[k] = f;
		if (goal_met(pred, ws->y, cfg->targeted) && !isnan(f) &&
		    (win < 0 || f < ws->fit[win])) {
			win = k;
			win_pred = pred;
		}
		if (!isnan(f) && f < (top < 0 ? best->fit : ws->fit[top])) {
			top = k;
			top_pred = pred;
		}
	}
	if (win >= 0) {
		memcpy(best->img, ws->imgs + win * ws->d, (size_t)ws->d * sizeof(float));
		best->fit = ws->fit[win];
		best->pred = win_pred;
		best->success = 1;
		return 1;
	}
	if (top >= 0) {
		memcpy(best->img, ws->imgs + top * ws->d, (size_t)ws->d * sizeof(float));
		best->fit = ws->fit[top];
		best->pred = top_pred;
		best->success = 0;
	}
	return 0;
}

/* One search at budget b (eps, or k pixels) starting from the incumbent
 * *best (the clean image). */
static rml_status search(bb_ws *ws, double b, bb_best *best, rml_error *err)
{
	const rml_attack_config *cfg = ws->cfg;
	const int linf = cfg->kind == RML_ATTACK_CMAES_LINF;
	const int64_t k = (int64_t)b;
	const int64_t dim = linf ? linf_dim(ws->h, ws->w, ws->c, cfg->tile) : k * (2 + ws->c);
	const uint64_t seed = rml_rng_u64(&ws->rng);
	rml_status st = RML_OK;
	int rc;

	if (cfg->search == RML_SEARCH_CMAES) {
		if (linf) {
			for (int64_t j = 0; j < dim; j++)
				ws->x0[j] = 0;
		} else {
			/* k distinct pixels, each at the centre of its cell with its
			 * own colour: the search starts at the clean image. */
			const int64_t hw = ws->h * ws->w, q = 2 + ws->c;
			for (int64_t i = 0; i < hw; i++)
				ws->perm[i] = i;
			for (int64_t p = 0; p < k; p++) {
				int64_t j = p + (int64_t)rml_rng_below(&ws->rng, (uint64_t)(hw - p));
				int64_t t = ws->perm[p];
				ws->perm[p] = ws->perm[j];
				ws->perm[j] = t;
				int64_t pix = ws->perm[p];
				ws->x0[p * q] = ((double)(pix / ws->w) + 0.5) / (double)ws->h;
				ws->x0[p * q + 1] = ((double)(pix % ws->w) + 0.5) / (double)ws->w;
				for (int64_t ch = 0; ch < ws->c; ch++)
					ws->x0[p * q + 2 + ch] = ws->x[pix * ws->c + ch] / 255.0;
			}
		}
		double sigma0 = cfg->sigma0 > 0 ? cfg->sigma0 : 0.25;
		rml_cmaes *es = NULL;
		st = rml_cmaes_init(&es, dim, ws->x0, sigma0, cfg->popsize, seed,
				    dim <= FULL_CMAES_MAX_DIM ? RML_CMAES_FULL : RML_CMAES_SEP, err);
		if (st != RML_OK)
			return st;
		const int64_t lam = rml_cmaes_lambda(es);
		for (int64_t g = 0; g < cfg->generations; g++) {
			rml_cmaes_ask(es, ws->cand);
			rc = evaluate(ws, ws->cand, lam, dim, b, best, err);
			if (rc < 0) {
				st = (rml_status)-rc;
				break;
			}
			if (rc == 1)
				break;
			/* A numerical breakdown of the strategy ends this search
			 * with its best candidate; it is not the caller's error. */
			if (rml_cmaes_tell(es, ws->fit, NULL) != RML_OK ||
			    rml_cmaes_stopped(es) != RML_CMAES_RUNNING)
				break;
		}
		rml_cmaes_free(es);
		return st;
	}

	if (linf) {
		for (int64_t j = 0; j < dim; j++) {
			ws->lo[j] = -1;
			ws->hi[j] = 1;
		}
	} else {
		for (int64_t j = 0; j < dim; j++) {
			ws->lo[j] = 0;
			ws->hi[j] = 1;
		}
	}
	rml_de *de = NULL;
	const int64_t np = cfg->popsize > 0 ? cfg->popsize : DE_DEFAULT_POP;
	st = rml_de_init(&de, dim, ws->lo, ws->hi, np, cfg->de_f, cfg->de_cr, seed, err);
	if (st != RML_OK)
		return st;
	for (int64_t g = 0; g <= cfg->generations; g++) {
		rml_de_ask(de, ws->cand);
		rc = evaluate(ws, ws->cand, np, dim, b, best, err);
		if (rc < 0) {
			st = (rml_status)-rc;
			break;
		}
		if (rc == 1)
			break;
		rml_de_tell(de, ws->fit, NULL);
	}
	rml_de_free(de);
	return st;
}

static rml_status attack_one(bb_ws *ws, float *x_adv, rml_attack_result *r, float *spare,
			     rml_error *err)
{
	const rml_attack_config *cfg = ws->cfg;
	const int linf = cfg->kind == RML_ATTACK_CMAES_LINF;
	const double full = linf ? cfg->eps : (double)cfg->pixels;
	ws->queries = 0;
	memset(r, 0, sizeof *r);

	/* The clean image: already adversarial, or the incumbent to beat. */
	int rc = ws->m->prob(ws->m->ctx, ws->x, 1, ws->probs);
	if (rc != 0)
		return callback_failed(err, "probability", rc, ws->index);
	ws->queries++;
	bb_best best = { x_adv, 0, -1, 0 };
	memcpy(x_adv, ws->x, (size_t)ws->d * sizeof(float));
	best.fit = fitness_of(ws->probs, ws->m->n_class, ws->y, cfg->targeted, cfg->fitness, &best.pred);
	if (isnan(best.fit))
		best.fit = INFINITY;
	r->clean = goal_met(best.pred, ws->y, cfg->targeted);
	r->budget = 0;
	if (!r->clean) {
		const double clean_fit = best.fit;
		const int32_t clean_pred = best.pred;
		rml_status st = search(ws, full, &best, err);
		if (st != RML_OK)
			return st;
		r->budget = full;
		if (best.success && cfg->min_search > 0) {
			/* Bisection: hi always holds a success, in x_adv. */
			double lo = 0, hi = full;
			for (int64_t round = 0; round < cfg->min_search; round++) {
				double mid = linf ? 0.5 * (lo + hi) : floor(0.5 * (lo + hi));
				if (!linf && hi - lo <= 1)
					break;
				bb_best t = { spare, clean_fit, clean_pred, 0 };
				memcpy(spare, ws->x, (size_t)ws->d * sizeof(float));
				st = search(ws, mid, &t, err);
				if (st != RML_OK)
					return st;
				if (t.success) {
					hi = mid;
					memcpy(x_adv, spare, (size_t)ws->d * sizeof(float));
					best.fit = t.fit;
					best.pred = t.pred;
				} else {
					lo = mid;
				}
			}
			r->budget = hi;
		}
	}
	r->success = r->clean || best.success;
	r->pred = best.pred;
	r->loss = best.fit;
	r->queries = ws->queries;
	rml_attack_measure(ws->x, x_adv, ws->h * ws->w, ws->c, r);
	return RML_OK;
}

static rml_status run_blackbox(const rml_attack_config *cfg, const rml_attack_model *m,
			       const float *x, const int32_t *labels, int64_t n, int64_t h,
			       int64_t w, int64_t c, float *x_adv, rml_attack_result *res,
			       rml_error *err)
{
	bb_ws ws = { 0 };
	ws.cfg = cfg;
	ws.m = m;
	ws.h = h;
	ws.w = w;
	ws.c = c;
	ws.d = h * w * c;
	const int linf = cfg->kind == RML_ATTACK_CMAES_LINF;
	ws.dim_max = linf ? linf_dim(h, w, c, cfg->tile) : cfg->pixels * (2 + c);
	if (cfg->popsize > 0)
		ws.lam_max = cfg->popsize;
	else if (cfg->search == RML_SEARCH_DE)
		ws.lam_max = DE_DEFAULT_POP;
	else
		ws.lam_max = 4 + (int64_t)floor(3.0 * log((double)ws.dim_max));
	int64_t t1, t2, t3;
	if (rml_mul_overflow(ws.lam_max, ws.dim_max, &t1) || rml_mul_overflow(ws.lam_max, ws.d, &t2) ||
	    rml_mul_overflow(ws.lam_max, m->n_class, &t3) || t1 > ((int64_t)1 << 31) ||
	    t2 > ((int64_t)1 << 31) || t3 > ((int64_t)1 << 31))
		return rml_errorf(err, RML_ERR_LIMIT,
				  "attack: population %lld is too large for images of %lld values",
				  (long long)ws.lam_max, (long long)ws.d);
	rml_status st = RML_OK;
	float *spare = malloc((size_t)ws.d * sizeof(float));
	ws.cand = malloc((size_t)t1 * sizeof(double));
	ws.fit = malloc((size_t)ws.lam_max * sizeof(double));
	ws.lo = malloc((size_t)ws.dim_max * sizeof(double));
	ws.hi = malloc((size_t)ws.dim_max * sizeof(double));
	ws.x0 = malloc((size_t)ws.dim_max * sizeof(double));
	ws.imgs = malloc((size_t)t2 * sizeof(float));
	ws.probs = malloc((size_t)t3 * sizeof(float));
	ws.perm = malloc((size_t)(h * w) * sizeof(int64_t));
	if (!spare || !ws.cand || !ws.fit || !ws.lo || !ws.hi || !ws.x0 || !ws.imgs || !ws.probs ||
	    !ws.perm) {
		st = rml_errorf(err, RML_ERR_NOMEM, "attack: out of memory for a population of %lld",
				(long long)ws.lam_max);
		goto done;
	}
	for (int64_t i = 0; i < n; i++) {
		ws.x = x + i * ws.d;
		ws.y = labels[i];
		ws.index = cfg->index0 + i;
		rml_rng_seed_stream(&ws.rng, cfg->seed, (uint64_t)ws.index);
		st = attack_one(&ws, x_adv + i * ws.d, &res[i], spare, err);
		if (st != RML_OK)
			goto done;
		if (m->progress)
			m->progress(m->ctx, i + 1, n);
	}
done:
	free(spare);
	free(ws.cand);
	free(ws.fit);
	free(ws.lo);
	free(ws.hi);
	free(ws.x0);
	free(ws.imgs);
	free(ws.probs);
	free(ws.perm);
	return st;
}

/* ---- Square attack ------------------------------------------------------ */

/* The paper's schedule of the window fraction: p_init, halved when the
 * share of the budget spent passes 10, 50, 200, 500, 1000, 2000, 4000,
 * 6000 and 8000 ten-thousandths. */
static double square_p(double p_init, int64_t it, int64_t n_iters)
{
	static const int64_t at[] = { 10, 50, 200, 500, 1000, 2000, 4000, 6000, 8000 };
	int64_t t = n_iters > 0 ? (int64_t)((double)it / (double)n_iters * 10000.0) : 0;
	double p = p_init;
	for (size_t i = 0; i < sizeof at / sizeof at[0]; i++)
		if (t > at[i])
			p *= 0.5;
	return p;
}

/* The pseudo-Gaussian bump of an hh x ww rectangle into out (row-major,
 * row stride ww): concentric rectangles around the centre, ring r adding
 * 1/(r+1)^2, so the profile falls off like a Gaussian's; unit L2 norm. */
static void square_bump(int64_t hh, int64_t ww, double *out)
{
	for (int64_t j = 0; j < hh * ww; j++)
		out[j] = 0;
	if (hh < 1 || ww < 1)
		return;
	int64_t r0 = hh / 2, c0 = ww / 2, rings = (hh > ww ? hh : ww) / 2 + 1;
	for (int64_t r = 0; r < rings; r++) {
		double v = 1.0 / ((double)(r + 1) * (double)(r + 1));
		for (int64_t i = r0 - r < 0 ? 0 : r0 - r; i <= r0 + r && i < hh; i++)
			for (int64_t j = c0 - r < 0 ? 0 : c0 - r; j <= c0 + r && j < ww; j++)
				out[i * ww + j] += v;
	}
	double s = 0;
	for (int64_t j = 0; j < hh * ww; j++)
		s += out[j] * out[j];
	s = sqrt(s);
	for (int64_t j = 0; j < hh * ww; j++)
		out[j] /= s;
}

/* The L2 update's s x s profile: a bump on the upper half and a negative
 * bump on the lower half, unit norm, transposed with probability 1/2.
 * tmp holds s*s values. */
static void square_profile(int64_t s, rml_rng *r, double *out, double *tmp)
{
	int64_t top = s / 2;
	square_bump(top, s, out);
	square_bump(s - top, s, tmp);
	for (int64_t j = 0; j < (s - top) * s; j++)
		out[top * s + j] = -tmp[j];
	double n = 0;
	for (int64_t j = 0; j < s * s; j++)
		n += out[j] * out[j];
	n = n > 0 ? sqrt(n) : 1;
	for (int64_t j = 0; j < s * s; j++)
		out[j] /= n;
	if (rml_rng_uniform(r) < 0.5) {
		memcpy(tmp, out, (size_t)(s * s) * sizeof(double));
		for (int64_t i = 0; i < s; i++)
			for (int64_t j = 0; j < s; j++)
				out[i * s + j] = tmp[j * s + i];
	}
}

typedef struct {
	const rml_attack_config *cfg;
	int64_t h, w, c, d;
	double *delta, *prof, *tmp;  /* [d], [h*w], [h*w] */
} sq_ws;

/* An L2 candidate from the floats delta [d] (x + delta/||delta|| eps,
 * clipped to the box, then within eps exactly; whole values when integer,
 * truncated towards x when rounding left the ball) into img. */
static void square_l2_image(const sq_ws *q, const float *x, const double *delta, float *img)
{
	const int64_t d = q->d;
	const double eps = q->cfg->eps;
	double n = 0;
	for (int64_t j = 0; j < d; j++)
		n += delta[j] * delta[j];
	double f = n > 0 ? eps / sqrt(n) : 0;
	for (int64_t j = 0; j < d; j++)
		img[j] = (float)((double)x[j] + f * delta[j]);
	project_l2(x, img, d, eps);
	if (!q->cfg->integer)
		return;
	double s = 0;
	for (int64_t j = 0; j < d; j++) {
		float r = rintf(img[j]);
		double t = (double)r - (double)x[j];
		s += t * t;
	}
	int trunc = sqrt(s) > eps;
	for (int64_t j = 0; j < d; j++) {
		if (trunc) {
			double t = (double)img[j] - (double)x[j];
			img[j] = (float)((double)x[j] + (t > 0 ? floor(t) : ceil(t)));
		} else {
			img[j] = rintf(img[j]);
		}
	}
}

/* The first candidate of one example: vertical stripes of +-eps per
 * column and channel (L-inf), or a grid of h/5-sided squares with the L2
 * profile and a random sign per square and channel (L2). */
static void square_init(const sq_ws *q, const float *x, rml_rng *r, float *img)
{
	const rml_attack_config *cfg = q->cfg;
	const int64_t h = q->h, w = q->w, c = q->c;
	if (cfg->norm == RML_NORM_LINF) {
		for (int64_t col = 0; col < w; col++)
			for (int64_t ch = 0; ch < c; ch++) {
				double t = rml_rng_uniform(r) < 0.5 ? -1.0 : 1.0;
				for (int64_t row = 0; row < h; row++) {
					int64_t j = (row * w + col) * c + ch;
					img[j] = linf_value(x[j], cfg->eps, t, cfg->integer);
				}
			}
		return;
	}
	int64_t s = (h < w ? h : w) / 5;
	s = s < 1 ? 1 : s;
	const int64_t r0 = (h - (h / s) * s) / 2, c0 = (w - (w / s) * s) / 2;
	for (int64_t j = 0; j < q->d; j++)
		q->delta[j] = 0;
	for (int64_t bi = 0; bi < h / s; bi++)
		for (int64_t bj = 0; bj < w / s; bj++) {
			square_profile(s, r, q->prof, q->tmp);
			for (int64_t ch = 0; ch < c; ch++) {
				double sg = rml_rng_uniform(r) < 0.5 ? -1.0 : 1.0;
				for (int64_t i = 0; i < s; i++)
					for (int64_t k = 0; k < s; k++)
						q->delta[((r0 + bi * s + i) * w + c0 + bj * s + k) * c + ch] +=
							sg * q->prof[i * s + k];
			}
		}
	square_l2_image(q, x, q->delta, img);
}

/* The candidate of iteration it (of n_iters) from the incumbent best of
 * one example into img. */
static void square_step(const sq_ws *q, const float *x, const float *best, int64_t it,
			int64_t n_iters, rml_rng *r, float *img)
{
	const rml_attack_config *cfg = q->cfg;
	const int64_t h = q->h, w = q->w, c = q->c, d = q->d;
	const int linf = cfg->norm == RML_NORM_LINF;
	const double p0 = cfg->p_init > 0 ? cfg->p_init : linf ? 0.05 : 0.1;
	const double p = square_p(p0, it, n_iters);
	const int64_t side = h < w ? h : w;
	int64_t s = (int64_t)llround(sqrt(p * (double)(h * w)));
	memcpy(img, best, (size_t)d * sizeof(float));
	if (linf) {
		s = s < 1 ? 1 : s > side ? side : s;
		int64_t r0 = (int64_t)rml_rng_below(r, (uint64_t)(h - s + 1));
		int64_t c0 = (int64_t)rml_rng_below(r, (uint64_t)(w - s + 1));
		/* Redraw the signs while they would leave the window as it is
		 * (a window already at those corners); give up after 100. */
		for (int tries = 0; tries < 100; tries++) {
			int changed = 0;
			for (int64_t ch = 0; ch < c; ch++) {
				double t = rml_rng_uniform(r) < 0.5 ? -1.0 : 1.0;
				for (int64_t i = r0; i < r0 + s; i++)
					for (int64_t k = c0; k < c0 + s; k++) {
						int64_t j = (i * w + k) * c + ch;
						img[j] = linf_value(x[j], cfg->eps, t, cfg->integer);
						changed |= img[j] != best[j];
					}
			}
			if (changed)
				break;
		}
		return;
	}
	/* L2: window 1 gets a new profile plus its old direction, window 2
	 * is emptied, and their combined norm (per channel), with what is
	 * left of the budget, goes to window 1. */
	s = s < 3 ? 3 : s;
	if (s % 2 == 0)
		s++;
	s = s > side ? side : s;
	int64_t r1 = (int64_t)rml_rng_below(r, (uint64_t)(h - s + 1));
	int64_t c1 = (int64_t)rml_rng_below(r, (uint64_t)(w - s + 1));
	int64_t r2 = (int64_t)rml_rng_below(r, (uint64_t)(h - s + 1));
	int64_t c2 = (int64_t)rml_rng_below(r, (uint64_t)(w - s + 1));
	double total = 0;
	for (int64_t j = 0; j < d; j++) {
		q->delta[j] = (double)best[j] - (double)x[j];
		total += q->delta[j] * q->delta[j];
	}
	const double left = fmax(cfg->eps * cfg->eps - total, 0.0) / (double)c;
	square_profile(s, r, q->prof, q->tmp);
#define IN1(i, k) ((i) >= r1 && (i) < r1 + s && (k) >= c1 && (k) < c1 + s)
#define IN2(i, k) ((i) >= r2 && (i) < r2 + s && (k) >= c2 && (k) < c2 + s)
	for (int64_t ch = 0; ch < c; ch++) {
		double n1 = 0, nu = 0;
		for (int64_t i = 0; i < h; i++)
			for (int64_t k = 0; k < w; k++) {
				int a = IN1(i, k), b = IN2(i, k);
				double v = q->delta[(i * w + k) * c + ch];
				if (a)
					n1 += v * v;
				if (a || b)
					nu += v * v;
			}
		n1 = sqrt(n1);
		const double sg = rml_rng_uniform(r) < 0.5 ? -1.0 : 1.0;
		double nn = 0;
		for (int64_t i = 0; i < s; i++)
			for (int64_t k = 0; k < s; k++) {
				double v = sg * q->prof[i * s + k] +
					   q->delta[((r1 + i) * w + c1 + k) * c + ch] / (1e-10 + n1);
				q->tmp[i * s + k] = v;
				nn += v * v;
			}
		const double f = nn > 0 ? sqrt(left + nu) / sqrt(nn) : 0;
		for (int64_t i = r2; i < r2 + s; i++)
			for (int64_t k = c2; k < c2 + s; k++)
				q->delta[(i * w + k) * c + ch] = 0;
		for (int64_t i = 0; i < s; i++)
			for (int64_t k = 0; k < s; k++)
				q->delta[((r1 + i) * w + c1 + k) * c + ch] = f * q->tmp[i * s + k];
	}
#undef IN1
#undef IN2
	square_l2_image(q, x, q->delta, img);
}

static rml_status run_square(const rml_attack_config *cfg, const rml_attack_model *m,
			     const float *x, const int32_t *labels, int64_t n, int64_t h, int64_t w,
			     int64_t c, float *x_adv, rml_attack_result *res, rml_error *err)
{
	const int64_t d = h * w * c, nc = m->n_class;
	const int64_t chunk = cfg->batch > 0 && cfg->batch < n ? cfg->batch : n;
	const int64_t budget = cfg->queries;
	int64_t t1;
	if (rml_mul_overflow(chunk, d, &t1) || t1 > ((int64_t)1 << 31))
		return rml_errorf(err, RML_ERR_LIMIT, "attack: a batch of %lld images is too large",
				  (long long)chunk);
	rml_status st = RML_OK;
	sq_ws q = { cfg, h, w, c, d, NULL, NULL, NULL };
	float *imgs = malloc((size_t)t1 * sizeof(float));
	float *probs = malloc((size_t)(chunk * nc) * sizeof(float));
	double *fit = malloc((size_t)chunk * sizeof(double));
	int64_t *act = malloc((size_t)chunk * sizeof(int64_t));
	rml_rng *rng = malloc((size_t)chunk * sizeof(rml_rng));
	q.delta = malloc((size_t)d * sizeof(double));
	q.prof = malloc((size_t)(h * w) * sizeof(double));
	q.tmp = malloc((size_t)(h * w) * sizeof(double));
	if (!imgs || !probs || !fit || !act || !rng || !q.delta || !q.prof || !q.tmp) {
		st = rml_errorf(err, RML_ERR_NOMEM, "attack: out of memory for a batch of %lld images",
				(long long)chunk);
		goto done;
	}
	for (int64_t b0 = 0; b0 < n; b0 += chunk) {
		const int64_t nb = n - b0 < chunk ? n - b0 : chunk;
		const float *xb = x + b0 * d;
		float *xa = x_adv + b0 * d;
		const int32_t *lab = labels + b0;
		rml_attack_result *rb = res + b0;
		int rc;
		memcpy(xa, xb, (size_t)(nb * d) * sizeof(float));
		if ((rc = m->prob(m->ctx, xb, nb, probs)) != 0) {
			st = callback_failed(err, "probability", rc, cfg->index0 + b0);
			goto done;
		}
		int64_t na = 0;
		for (int64_t i = 0; i < nb; i++) {
			memset(&rb[i], 0, sizeof rb[i]);
			rml_rng_seed_stream(&rng[i], cfg->seed, (uint64_t)(cfg->index0 + b0 + i));
			fit[i] = fitness_of(probs + i * nc, nc, lab[i], cfg->targeted, cfg->fitness,
					    &rb[i].pred);
			if (isnan(fit[i]))
				fit[i] = INFINITY;
			rb[i].loss = fit[i];
			rb[i].queries = 1;
			rb[i].budget = cfg->eps;
			rb[i].clean = goal_met(rb[i].pred, lab[i], cfg->targeted);
			rb[i].success = rb[i].clean;
			if (!rb[i].clean && budget > 1)
				act[na++] = i;
		}
		/* Round 0 evaluates the first candidates, which are kept
		 * whatever their margin; every later round one window each. */
		for (int64_t round = 0; na > 0; round++) {
			for (int64_t a = 0; a < na; a++) {
				const int64_t i = act[a];
				if (round == 0)
					square_init(&q, xb + i * d, &rng[i], imgs + a * d);
				else
					square_step(&q, xb + i * d, xa + i * d, rb[i].queries - 2, budget,
						    &rng[i], imgs + a * d);
			}
			if ((rc = m->prob(m->ctx, imgs, na, probs)) != 0) {
				st = callback_failed(err, "probability", rc, cfg->index0 + b0 + act[0]);
				goto done;
			}
			int64_t kept = 0;
			for (int64_t a = 0; a < na; a++) {
				const int64_t i = act[a];
				int32_t pred;
				double f = fitness_of(probs + a * nc, nc, lab[i], cfg->targeted,
						      cfg->fitness, &pred);
				rb[i].queries++;
				int won = goal_met(pred, lab[i], cfg->targeted) && !isnan(f);
				if (round == 0 || won || f < rb[i].loss) {
					memcpy(xa + i * d, imgs + a * d, (size_t)d * sizeof(float));
					rb[i].loss = isnan(f) ? INFINITY : f;
					rb[i].pred = pred;
					rb[i].success = won;
				}
				if (!won && rb[i].queries < budget)
					act[kept++] = i;
			}
			na = kept;
		}
		for (int64_t i = 0; i < nb; i++)
			rml_attack_measure(xb + i * d, xa + i * d, h * w, c, &rb[i]);
		if (m->progress)
			m->progress(m->ctx, b0 + nb, n);
	}
done:
	free(imgs);
	free(probs);
	free(fit);
	free(act);
	free(rng);
	free(q.delta);
	free(q.prof);
	free(q.tmp);
	return st;
}

/* ---- entry -------------------------------------------------------------- */

rml_status rml_attack_run(const rml_attack_config *cfg, const rml_attack_model *model,
			  const float *x, const int32_t *labels, int64_t n, int64_t h, int64_t w,
			  int64_t c, float *x_adv, rml_attack_result *res, rml_error *err)
{
	if (!cfg)
		return rml_errorf(err, RML_ERR_ARG, "attack: no configuration");
	if (n < 0 || h < 1 || w < 1 || c < 1)
		return rml_errorf(err, RML_ERR_ARG,
				  "attack: bad shape n=%lld h=%lld w=%lld c=%lld", (long long)n,
				  (long long)h, (long long)w, (long long)c);
	int64_t hw, d, total;
	if (rml_mul_overflow(h, w, &hw) || rml_mul_overflow(hw, c, &d) ||
	    rml_mul_overflow(n, d, &total) || d > ((int64_t)1 << 30))
		return rml_errorf(err, RML_ERR_LIMIT, "attack: images of %lld x %lld x %lld too large",
				  (long long)h, (long long)w, (long long)c);
	rml_status st = check_config(cfg, model, h, w, err);
	if (st != RML_OK)
		return st;
	if (n == 0)
		return RML_OK;
	if (!x || !labels || !x_adv || !res)
		return rml_errorf(err, RML_ERR_ARG, "attack: missing input or output buffer");
	if (x_adv < x + total && x < x_adv + total)
		return rml_errorf(err, RML_ERR_ARG, "attack: output images overlap the input");
	for (int64_t i = 0; i < n; i++) {
		if (labels[i] < 0 || labels[i] >= model->n_class)
			return rml_errorf(err, RML_ERR_ARG,
					  "attack: example %lld has %s %d outside 0..%lld",
					  (long long)(cfg->index0 + i), cfg->targeted ? "target" : "label",
					  (int)labels[i], (long long)(model->n_class - 1));
		for (int64_t j = 0; j < d; j++) {
			float v = x[i * d + j];
			if (!(v >= 0 && v <= PIX_MAX))
				return rml_errorf(err, RML_ERR_ARG,
						  "attack: example %lld has value %g outside [0,255]",
						  (long long)(cfg->index0 + i), (double)v);
		}
	}
	if (cfg->kind == RML_ATTACK_SQUARE)
		return run_square(cfg, model, x, labels, n, h, w, c, x_adv, res, err);
	if (cfg->kind == RML_ATTACK_FGSM || cfg->kind == RML_ATTACK_PGD || cfg->kind == RML_ATTACK_APGD)
		return run_whitebox(cfg, model, x, labels, n, d, hw, c, x_adv, res, err);
	return run_blackbox(cfg, model, x, labels, n, h, w, c, x_adv, res, err);
}
