/*
 * es.c — the antithetic evolution-strategies gradient estimator (see es.h).
 * Directions are drawn in float from double normals; every sum runs in a
 * fixed order in double, so the estimate does not depend on threads.
 */
#include "es.h"

#include <math.h>
#include <stdlib.h>

static void draw(rml_es *es)
{
	rml_rng r;
	rml_rng_seed_stream(&r, es->seed, (uint64_t)es->iteration);
	int64_t total = (int64_t)es->n_pairs * es->n;
	for (int64_t i = 0; i < total; i++)
		es->g[i] = (float)rml_rng_normal(&r);
}

rml_status rml_es_init(rml_es *es, int64_t n, int n_pairs, double sigma, double lr,
		       uint64_t seed, rml_error *err)
{
	es->g = NULL;
	if (n < 1 || n > ((int64_t)1 << 40))
		return rml_errorf(err, RML_ERR_ARG, "ES dimension %lld out of range", (long long)n);
	if (n_pairs < 1 || n_pairs > 1024)
		return rml_errorf(err, RML_ERR_ARG, "ES pairs %d outside 1..1024", n_pairs);
	if (!(sigma > 0) || !isfinite(sigma))
		return rml_errorf(err, RML_ERR_ARG, "ES sigma must be positive and finite");
	if (!(lr >= 0) || !isfinite(lr))
		return rml_errorf(err, RML_ERR_ARG, "ES step must be non-negative and finite");
	es->g = malloc((size_t)n_pairs * (size_t)n * sizeof *es->g);
	if (!es->g)
		return rml_errorf(err, RML_ERR_NOMEM, "out of memory for %lld ES directions",
				  (long long)n);
	es->n = n;
	es->n_pairs = n_pairs;
	es->sigma = sigma;
	es->lr = lr;
	es->seed = seed;
	es->iteration = 0;
	es->last_norm = 0;
	draw(es);
	return RML_OK;
}

void rml_es_free(rml_es *es)
{
	free(es->g);
	es->g = NULL;
}

void rml_es_seek(rml_es *es, int64_t it)
{
	es->iteration = it;
	draw(es);
}

void rml_es_point(const rml_es *es, const float *x, int k, int sign, float *out)
{
	const float *g = es->g + (int64_t)k * es->n;
	float s = (float)(sign * es->sigma);
	for (int64_t i = 0; i < es->n; i++)
		out[i] = x[i] + s * g[i];
}

/* grad_i = 1/K sum_k c_k g_ki with c_k = (f+ - f-) / (2 sigma). */
static double estimate(const rml_es *es, const double *fp, const double *fm, float *grad,
		       float *x, double lr)
{
	double norm2 = 0;
	for (int64_t i = 0; i < es->n; i++) {
		double s = 0;
		for (int k = 0; k < es->n_pairs; k++)
			s += (fp[k] - fm[k]) / (2 * es->sigma) * es->g[(int64_t)k * es->n + i];
		s /= es->n_pairs;
		norm2 += s * s;
		if (grad)
			grad[i] = (float)s;
		if (x)
			x[i] = (float)(x[i] + lr * s);
	}
	return sqrt(norm2);
}

rml_status rml_es_step(rml_es *es, float *x, const double *f_plus, const double *f_minus,
		       float *grad, rml_error *err)
{
	for (int k = 0; k < es->n_pairs; k++)
		if (!isfinite(f_plus[k]) || !isfinite(f_minus[k]))
			return rml_errorf(err, RML_ERR_NUMERIC,
					  "ES iteration %lld: objective not finite at pair %d",
					  (long long)es->iteration, k);
	es->last_norm = estimate(es, f_plus, f_minus, grad, x, es->lr);
	es->iteration++;
	draw(es);
	return RML_OK;
}

rml_status rml_es_gradient(const rml_es *es, rml_es_fn f, void *ctx, const float *x,
			   float *grad, rml_error *err)
{
	double *fp = malloc(2 * (size_t)es->n_pairs * sizeof *fp);
	float *p = malloc((size_t)es->n * sizeof *p);
	rml_status st = RML_OK;
	if (!fp || !p) {
		st = rml_errorf(err, RML_ERR_NOMEM, "out of memory");
		goto out;
	}
	double *fm = fp + es->n_pairs;
	for (int k = 0; k < es->n_pairs && !st; k++)
		for (int sign = 1; sign >= -1 && !st; sign -= 2) {
			rml_es_point(es, x, k, sign, p);
			if (err)
				err->code = RML_OK;
			double y = f(ctx, p, es->n, err);
			if (!isfinite(y))
				st = err && err->code ? err->code
						      : rml_errorf(err, RML_ERR_NUMERIC,
								   "objective not finite");
			(sign > 0 ? fp : fm)[k] = y;
		}
	if (!st)
		estimate(es, fp, fm, grad, NULL, 0);
out:
	free(fp);
	free(p);
	return st;
}
