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
}

static const char *kind_names[] = { "fgsm", "pgd", "cmaes-linf", "pixel-l0" };

const char *rml_attack_kind_name(rml_attack_kind kind)
{
	if ((int)kind < 0 || (int)kind > RML_ATTACK_PIXEL_L0)
		return "unknown";
	return kind_names[kind];
}

rml_status rml_attack_kind_parse(const char *s, rml_attack_kind *kind, rml_error *err)
{
	for (int i = 0; i <= RML_ATTACK_PIXEL_L0; i++)
		if (s && strcmp(s, kind_names[i]) == 0) {
			*kind = (rml_attack_kind)i;
			return RML_OK;
		}
	return rml_errorf(err, RML_ERR_ARG,
			  "unknown attack '%s' (expected fgsm, pgd, cmaes-linf or pixel-l0)",
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
	int white = cfg->kind == RML_ATTACK_FGSM || cfg->kind == RML_ATTACK_PGD;
	if ((int)cfg->kind < 0 || (int)cfg->kind > RML_ATTACK_PIXEL_L0)
		return rml_errorf(err, RML_ERR_ARG, "attack: unknown attack kind %d", (int)cfg->kind);
	if (!m)
		return rml_errorf(err, RML_ERR_ARG, "attack: no model callbacks");
	if (m->n_class < 2)
		return rml_errorf(err, RML_ERR_ARG, "attack: the model has %lld classes; at least 2 needed",
				  (long long)m->n_class);
	if (white && !m->grad)
		return rml_errorf(err, RML_ERR_ARG, "attack: %s needs the gradient callback",
				  rml_attack_kind_name(cfg->kind));
	if (!white && !m->prob)
		return rml_errorf(err, RML_ERR_ARG, "attack: %s needs the probability callback",
				  rml_attack_kind_name(cfg->kind));
	if (white && cfg->norm != RML_NORM_LINF && cfg->norm != RML_NORM_L2)
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
	if (cfg->kind == RML_ATTACK_PGD) {
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
	if (!white) {
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
	if (!ws.cur || !ws.g || !ws.loss || !ws.best || !ws.has || !ws.rng || (m->prob && !ws.probs)) {
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

/* Candidate y [dim] into an image for budget b (eps, or k pixels). */
static void decode(const bb_ws *ws, const double *y, double b, float *img)
{
	const float *x = ws->x;
	if (ws->cfg->kind == RML_ATTACK_CMAES_LINF) {
		for (int64_t j = 0; j < ws->d; j++) {
			double t = isfinite(y[j]) ? fmax(-1.0, fmin(1.0, y[j])) : 0.0;
			float lo, hi, v = (float)((double)x[j] + b * t);
			linf_bounds(x[j], b, &lo, &hi);
			v = v < lo ? lo : v > hi ? hi : v;
			if (ws->cfg->integer) {
				/* x is whole, so one step back from a rounding
				 * that left [lo, hi] lands inside it again. */
				float r = rintf(v);
				if (r < lo)
					r += 1;
				else if (r > hi)
					r -= 1;
				v = r;
			}
			img[j] = v;
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
	const int64_t dim = linf ? ws->d : k * (2 + ws->c);
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
	ws.dim_max = linf ? ws.d : cfg->pixels * (2 + c);
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
	if (cfg->kind == RML_ATTACK_FGSM || cfg->kind == RML_ATTACK_PGD)
		return run_whitebox(cfg, model, x, labels, n, d, hw, c, x_adv, res, err);
	return run_blackbox(cfg, model, x, labels, n, h, w, c, x_adv, res, err);
}
