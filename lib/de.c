/*
 * de.c — DE/rand/1/bin with a synchronous generation: every trial vector
 * of a generation is built from the same population, so the caller can
 * evaluate them as one batch (a classifier forward pass) and the result
 * does not depend on evaluation order. For small box-bounded searches
 * such as pixel positions and colours; not a general optimiser.
 */
#include "de.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct rml_de {
	int64_t n, np;
	double F, CR;
	double *lo, *hi;     /* [n] */
	double *pop;         /* [np*n] */
	double *fit;         /* [np] */
	double *trial;       /* [np*n] */
	double best_f;
	int64_t best_i;
	int64_t evals, gen;
	int initialised;     /* the initial population has been told */
	int asked;
	rml_rng rng;
};

void rml_de_free(rml_de *de)
{
	if (!de)
		return;
	free(de->lo);
	free(de->hi);
	free(de->pop);
	free(de->fit);
	free(de->trial);
	free(de);
}

rml_status rml_de_init(rml_de **out, int64_t dim, const double *lower, const double *upper,
		       int64_t np, double F, double CR, uint64_t seed, rml_error *err)
{
	if (!out)
		return rml_errorf(err, RML_ERR_ARG, "de: no output pointer");
	*out = NULL;
	if (dim < 1)
		return rml_errorf(err, RML_ERR_ARG, "de: dimension %lld must be at least 1",
				  (long long)dim);
	if (np < 4)
		return rml_errorf(err, RML_ERR_ARG,
				  "de: population size %lld must be at least 4", (long long)np);
	if (!(F > 0 && F <= 2))
		return rml_errorf(err, RML_ERR_ARG, "de: differential weight F = %g outside (0, 2]", F);
	if (!(CR >= 0 && CR <= 1))
		return rml_errorf(err, RML_ERR_ARG, "de: crossover rate CR = %g outside [0, 1]", CR);
	if (!lower || !upper)
		return rml_errorf(err, RML_ERR_ARG, "de: no bounds");
	for (int64_t i = 0; i < dim; i++)
		if (!isfinite(lower[i]) || !isfinite(upper[i]) || !(lower[i] < upper[i]))
			return rml_errorf(err, RML_ERR_ARG,
					  "de: bounds of coordinate %lld [%g, %g] are not a finite "
					  "interval with lower < upper",
					  (long long)i, lower[i], upper[i]);
	int64_t pn;
	if (rml_mul_overflow(np, dim, &pn) || pn > ((int64_t)1 << 31) || np > ((int64_t)1 << 24))
		return rml_errorf(err, RML_ERR_LIMIT, "de: population %lld x dimension %lld too large",
				  (long long)np, (long long)dim);
	rml_de *de = calloc(1, sizeof *de);
	if (!de)
		return rml_errorf(err, RML_ERR_NOMEM, "de: out of memory");
	de->n = dim;
	de->np = np;
	de->F = F;
	de->CR = CR;
	de->lo = malloc((size_t)dim * sizeof(double));
	de->hi = malloc((size_t)dim * sizeof(double));
	de->pop = malloc((size_t)pn * sizeof(double));
	de->trial = malloc((size_t)pn * sizeof(double));
	de->fit = malloc((size_t)np * sizeof(double));
	if (!de->lo || !de->hi || !de->pop || !de->trial || !de->fit) {
		rml_de_free(de);
		return rml_errorf(err, RML_ERR_NOMEM, "de: out of memory");
	}
	memcpy(de->lo, lower, (size_t)dim * sizeof(double));
	memcpy(de->hi, upper, (size_t)dim * sizeof(double));
	rml_rng_seed(&de->rng, seed);
	for (int64_t k = 0; k < np; k++)
		for (int64_t j = 0; j < dim; j++) {
			double u = rml_rng_uniform(&de->rng);
			double v = lower[j] + u * (upper[j] - lower[j]);
			/* u < 1, but the product can round up to the bound. */
			de->pop[k * dim + j] = v < upper[j] ? v : lower[j];
		}
	de->best_f = INFINITY;
	de->best_i = 0;
	*out = de;
	return RML_OK;
}

void rml_de_ask(rml_de *de, double *x)
{
	const int64_t n = de->n, np = de->np;
	if (!de->initialised) {
		memcpy(x, de->pop, (size_t)(np * n) * sizeof(double));
		de->asked = 1;
		return;
	}
	for (int64_t i = 0; i < np; i++) {
		int64_t r1, r2, r3;
		do
			r1 = (int64_t)rml_rng_below(&de->rng, (uint64_t)np);
		while (r1 == i);
		do
			r2 = (int64_t)rml_rng_below(&de->rng, (uint64_t)np);
		while (r2 == i || r2 == r1);
		do
			r3 = (int64_t)rml_rng_below(&de->rng, (uint64_t)np);
		while (r3 == i || r3 == r1 || r3 == r2);
		const double *a = de->pop + r1 * n, *b = de->pop + r2 * n, *c = de->pop + r3 * n;
		const double *xi = de->pop + i * n;
		double *u = de->trial + i * n;
		int64_t jrand = (int64_t)rml_rng_below(&de->rng, (uint64_t)n);
		for (int64_t j = 0; j < n; j++) {
			/* Draw for every coordinate, used or not, so the stream
			 * does not depend on CR. */
			double r = rml_rng_uniform(&de->rng);
			if (j == jrand || r < de->CR) {
				double v = a[j] + de->F * (b[j] - c[j]);
				if (v < de->lo[j])
					v = 0.5 * (a[j] + de->lo[j]);
				else if (v > de->hi[j])
					v = 0.5 * (a[j] + de->hi[j]);
				u[j] = v;
			} else {
				u[j] = xi[j];
			}
		}
	}
	memcpy(x, de->trial, (size_t)(np * n) * sizeof(double));
	de->asked = 1;
}

/* a better than b, with NaN worse than everything. */
static int better_or_equal(double a, double b)
{
	if (isnan(a))
		return isnan(b);
	if (isnan(b))
		return 1;
	return a <= b;
}

rml_status rml_de_tell(rml_de *de, const double *f, rml_error *err)
{
	if (!de->asked)
		return rml_errorf(err, RML_ERR_ARG, "de: tell without a preceding ask");
	de->asked = 0;
	const int64_t n = de->n, np = de->np;
	if (!de->initialised) {
		memcpy(de->fit, f, (size_t)np * sizeof(double));
		de->initialised = 1;
	} else {
		for (int64_t i = 0; i < np; i++) {
			if (!isnan(f[i]) && better_or_equal(f[i], de->fit[i])) {
				memcpy(de->pop + i * n, de->trial + i * n, (size_t)n * sizeof(double));
				de->fit[i] = f[i];
			}
		}
		de->gen++;
	}
	de->evals += np;
	de->best_f = INFINITY;
	de->best_i = 0;
	for (int64_t i = 0; i < np; i++)
		if (de->fit[i] < de->best_f) {
			de->best_f = de->fit[i];
			de->best_i = i;
		}
	return RML_OK;
}

double rml_de_best(const rml_de *de, double *x)
{
	if (x)
		memcpy(x, de->pop + de->best_i * de->n, (size_t)de->n * sizeof(double));
	return de->best_f;
}

int64_t rml_de_dim(const rml_de *de) { return de->n; }
int64_t rml_de_popsize(const rml_de *de) { return de->np; }
int64_t rml_de_evals(const rml_de *de) { return de->evals; }
int64_t rml_de_generation(const rml_de *de) { return de->gen; }
