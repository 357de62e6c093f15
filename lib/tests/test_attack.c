/*
 * test_attack.c — the attacks against toy classifiers written here, whose
 * probabilities and gradients are known in closed form: linear softmax
 * models over the pixels (a random one, one that reads the mean
 * brightness, one that reads a single pixel). What is checked: the budget
 * is never exceeded over many random inputs, including pixels at 0 and 255
 * and fractional budgets (L-inf, L2, L0, measured independently of the
 * library); PGD is at least as strong as FGSM; targeted attacks reach
 * their target; the threshold and few-pixel attacks succeed where a known
 * perturbation flips the class and fail where none within the budget can;
 * query counts are exact; the smallest-budget search brackets the known
 * minimum; results are deterministic and independent of batching; every
 * rejected input has its case.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "attack.h"
#include "rml.h"

/* z = W x + b over K classes, x in pixel units; p = softmax(z). */
typedef struct {
	int64_t d, k;
	double *W, *b;
	int64_t prob_images, prob_calls, grad_images;
	int fail;          /* return this from every callback when non-zero */
	int nan_grad;      /* gradient of NaN */
} toy;

static void toy_init(toy *t, int64_t d, int64_t k)
{
	memset(t, 0, sizeof *t);
	t->d = d;
	t->k = k;
	t->W = calloc((size_t)(d * k), sizeof(double));
	t->b = calloc((size_t)k, sizeof(double));
}

static void toy_free(toy *t)
{
	free(t->W);
	free(t->b);
}

static void toy_probs1(const toy *t, const float *x, double *p)
{
	double mx = -INFINITY;
	for (int64_t c = 0; c < t->k; c++) {
		double z = t->b[c];
		for (int64_t j = 0; j < t->d; j++)
			z += t->W[c * t->d + j] * x[j];
		p[c] = z;
		mx = fmax(mx, z);
	}
	double s = 0;
	for (int64_t c = 0; c < t->k; c++) {
		p[c] = exp(p[c] - mx);
		s += p[c];
	}
	for (int64_t c = 0; c < t->k; c++)
		p[c] /= s;
}

static double toy_loss(const toy *t, const float *x, int32_t y)
{
	double p[16];
	toy_probs1(t, x, p);
	return -log(fmax(p[y], 1e-300));
}

static int toy_prob(void *ctx, const float *x, int64_t n, float *probs)
{
	toy *t = ctx;
	if (t->fail)
		return t->fail;
	t->prob_calls++;
	t->prob_images += n;
	double p[16];
	for (int64_t i = 0; i < n; i++) {
		toy_probs1(t, x + i * t->d, p);
		for (int64_t c = 0; c < t->k; c++)
			probs[i * t->k + c] = (float)p[c];
	}
	return 0;
}

static int toy_grad(void *ctx, const float *x, int64_t n, const int32_t *y, float *loss, float *dx)
{
	toy *t = ctx;
	if (t->fail)
		return t->fail;
	t->grad_images += n;
	double p[16];
	for (int64_t i = 0; i < n; i++) {
		toy_probs1(t, x + i * t->d, p);
		loss[i] = (float)-log(fmax(p[y[i]], 1e-300));
		for (int64_t j = 0; j < t->d; j++) {
			double g = 0;
			for (int64_t c = 0; c < t->k; c++)
				g += (p[c] - (c == y[i] ? 1.0 : 0.0)) * t->W[c * t->d + j];
			dx[i * t->d + j] = t->nan_grad ? NAN : (float)g;
		}
	}
	return 0;
}

static rml_attack_model toy_model(toy *t)
{
	rml_attack_model m = { toy_grad, toy_prob, NULL, t, t->k, NULL };
	return m;
}

/* Random weights, 5 classes. */
static void toy_random(toy *t, int64_t d, uint64_t seed)
{
	toy_init(t, d, 5);
	rml_rng r;
	rml_rng_seed(&r, seed);
	for (int64_t i = 0; i < d * 5; i++)
		t->W[i] = 0.02 * rml_rng_normal(&r);
	for (int64_t c = 0; c < 5; c++)
		t->b[c] = 0.5 * rml_rng_normal(&r);
}

/* Class 1 when the mean brightness is above 128: z1 - z0 = a (mean - 128). */
static void toy_brightness(toy *t, int64_t d, double a)
{
	toy_init(t, d, 2);
	for (int64_t j = 0; j < d; j++)
		t->W[d + j] = a / (double)d;
	t->b[1] = -a * 128.0;
}

/* Random images with some values pinned to 0 and 255. */
static float *random_images(int64_t n, int64_t d, uint64_t seed)
{
	float *x = malloc((size_t)(n * d) * sizeof(float));
	rml_rng r;
	rml_rng_seed(&r, seed);
	for (int64_t i = 0; i < n * d; i++) {
		uint64_t u = rml_rng_below(&r, 10);
		x[i] = u == 0 ? 0.0f : u == 1 ? 255.0f : (float)(255.0 * rml_rng_uniform(&r));
	}
	return x;
}

/* The norms of x_adv - x measured here, not by the library. */
static void check_budget(const float *x, const float *xa, int64_t n, int64_t hw, int64_t c,
			 rml_attack_norm norm, double eps, int64_t k)
{
	const int64_t d = hw * c;
	for (int64_t i = 0; i < n; i++) {
		double linf = 0, l2 = 0;
		int64_t l0 = 0;
		for (int64_t p = 0; p < hw; p++) {
			int ch = 0;
			for (int64_t q = 0; q < c; q++) {
				float v = xa[i * d + p * c + q];
				assert_true(v >= 0.0f && v <= 255.0f);
				double t = (double)v - (double)x[i * d + p * c + q];
				linf = fmax(linf, fabs(t));
				l2 += t * t;
				ch |= t != 0;
			}
			l0 += ch;
		}
		if (norm == RML_NORM_LINF)
			assert_true(linf <= eps + 1e-4);
		else if (norm == RML_NORM_L2)
			assert_true(sqrt(l2) <= eps + 1e-4);
		else
			assert_true(l0 <= k);
	}
}

static void test_budget_linf(void **state)
{
	(void)state;
	const int64_t n = 40, h = 4, w = 4, c = 3, d = h * w * c;
	toy t;
	toy_random(&t, d, 1);
	rml_attack_model m = toy_model(&t);
	float *x = random_images(n, d, 2);
	float *xa = malloc((size_t)(n * d) * sizeof(float));
	int32_t y[40];
	for (int i = 0; i < n; i++)
		y[i] = i % 5;
	rml_attack_result res[40];
	const double epss[] = { 0.7, 3, 8, 300 };
	const rml_attack_kind kinds[] = { RML_ATTACK_FGSM, RML_ATTACK_PGD, RML_ATTACK_CMAES_LINF,
					  RML_ATTACK_CMAES_LINF };
	for (int e = 0; e < 4; e++)
		for (int kk = 0; kk < 4; kk++) {
			rml_attack_config cfg;
			rml_attack_config_default(&cfg, kinds[kk]);
			cfg.eps = epss[e];
			cfg.restarts = 2;
			cfg.seed = (uint64_t)(e * 10 + kk);
			cfg.targeted = kk == 1 && e == 1;
			if (kk == 3) {
				cfg.search = RML_SEARCH_DE;
				cfg.popsize = 12;
				cfg.generations = 3;
			}
			rml_error err = { 0 };
			assert_int_equal(rml_attack_run(&cfg, &m, x, y, n, h, w, c, xa, res, &err), RML_OK);
			check_budget(x, xa, n, h * w, c, RML_NORM_LINF, cfg.eps, 0);
			for (int i = 0; i < n; i++) {
				assert_true(res[i].linf <= cfg.eps);
				assert_true(res[i].success == 0 || res[i].success == 1);
			}
		}
	/* A broken gradient (NaN everywhere) still leaves a feasible image. */
	t.nan_grad = 1;
	rml_attack_config cfg;
	rml_attack_config_default(&cfg, RML_ATTACK_PGD);
	assert_int_equal(rml_attack_run(&cfg, &m, x, y, n, h, w, c, xa, res, NULL), RML_OK);
	check_budget(x, xa, n, h * w, c, RML_NORM_LINF, cfg.eps, 0);
	free(x);
	free(xa);
	toy_free(&t);
}

static void test_budget_l2(void **state)
{
	(void)state;
	const int64_t n = 40, h = 8, w = 8, c = 3, d = h * w * c;
	toy t;
	toy_random(&t, d, 3);
	rml_attack_model m = toy_model(&t);
	float *x = random_images(n, d, 4);
	float *xa = malloc((size_t)(n * d) * sizeof(float));
	int32_t y[40];
	for (int i = 0; i < n; i++)
		y[i] = (i * 3) % 5;
	rml_attack_result res[40];
	const double epss[] = { 0.3, 50, 600, 5000 };
	for (int e = 0; e < 4; e++)
		for (int kk = 0; kk < 2; kk++) {
			rml_attack_config cfg;
			rml_attack_config_default(&cfg, kk ? RML_ATTACK_PGD : RML_ATTACK_FGSM);
			cfg.norm = RML_NORM_L2;
			cfg.eps = epss[e];
			cfg.restarts = 2;
			cfg.steps = 7;
			cfg.seed = (uint64_t)e;
			assert_int_equal(rml_attack_run(&cfg, &m, x, y, n, h, w, c, xa, res, NULL), RML_OK);
			check_budget(x, xa, n, h * w, c, RML_NORM_L2, cfg.eps, 0);
			for (int i = 0; i < n; i++)
				assert_true(res[i].l2 <= cfg.eps);
		}
	free(x);
	free(xa);
	toy_free(&t);
}

static void test_budget_l0(void **state)
{
	(void)state;
	const int64_t n = 20, h = 5, w = 4, c = 3, d = h * w * c;
	toy t;
	toy_random(&t, d, 5);
	rml_attack_model m = toy_model(&t);
	float *x = random_images(n, d, 6);
	float *xa = malloc((size_t)(n * d) * sizeof(float));
	int32_t y[20];
	for (int i = 0; i < n; i++)
		y[i] = i % 5;
	rml_attack_result res[20];
	for (int64_t k = 1; k <= 3; k++)
		for (int s = 0; s < 2; s++) {
			rml_attack_config cfg;
			rml_attack_config_default(&cfg, RML_ATTACK_PIXEL_L0);
			cfg.pixels = k;
			cfg.search = s ? RML_SEARCH_DE : RML_SEARCH_CMAES;
			cfg.popsize = s ? 20 : 0;
			cfg.min_search = k > 1 ? 3 : 0;
			assert_int_equal(rml_attack_run(&cfg, &m, x, y, n, h, w, c, xa, res, NULL), RML_OK);
			check_budget(x, xa, n, h * w, c, RML_NORM_L0, 0, k);
			for (int i = 0; i < n; i++) {
				assert_true(res[i].l0 <= k);
				assert_true(res[i].budget <= (double)k);
				assert_true(res[i].l0 <= (int64_t)res[i].budget);
			}
		}
	free(x);
	free(xa);
	toy_free(&t);
}

/* On a linear softmax model the cross-entropy is convex in x; PGD from the
 * clean point, keeping its best iterate, must reach at least FGSM's loss. */
static void test_pgd_stronger_than_fgsm(void **state)
{
	(void)state;
	const int64_t n = 50, h = 4, w = 4, c = 3, d = h * w * c;
	toy t;
	toy_random(&t, d, 7);
	rml_attack_model m = toy_model(&t);
	float *x = random_images(n, d, 8);
	float *xf = malloc((size_t)(n * d) * sizeof(float)), *xp = malloc((size_t)(n * d) * sizeof(float));
	int32_t y[50];
	rml_attack_result rf[50], rp[50];
	for (int i = 0; i < n; i++)
		y[i] = i % 5;
	for (int norm = 0; norm < 2; norm++) {
		rml_attack_config cf, cp;
		rml_attack_config_default(&cf, RML_ATTACK_FGSM);
		rml_attack_config_default(&cp, RML_ATTACK_PGD);
		cf.norm = cp.norm = (rml_attack_norm)norm;
		cf.eps = cp.eps = norm ? 200 : 8;
		cp.random_start = 0;
		cp.steps = 10;
		assert_int_equal(rml_attack_run(&cf, &m, x, y, n, h, w, c, xf, rf, NULL), RML_OK);
		assert_int_equal(rml_attack_run(&cp, &m, x, y, n, h, w, c, xp, rp, NULL), RML_OK);
		int sf = 0, sp = 0;
		double mf = 0, mp = 0;
		for (int i = 0; i < n; i++) {
			double lf = toy_loss(&t, xf + i * d, y[i]), lp = toy_loss(&t, xp + i * d, y[i]);
			assert_true(lp >= lf - 1e-4);
			assert_true(fabs(rp[i].loss - lp) < 1e-3 * (1 + lp));
			assert_true(isnan(rf[i].loss));
			assert_int_equal(rf[i].grads, 1);
			assert_int_equal(rp[i].grads, 11);
			assert_int_equal(rp[i].queries, 2);
			sf += rf[i].success;
			sp += rp[i].success;
			mf += lf;
			mp += lp;
		}
		print_message("%s: FGSM loss %.3f success %d/50, PGD loss %.3f success %d/50\n",
			      norm ? "L2" : "Linf", mf / n, sf, mp / n, sp);
		assert_true(sp >= sf);
		assert_true(mp > mf);
	}
	free(x);
	free(xf);
	free(xp);
	toy_free(&t);
}

/* Targets reachable within the budget (at eps 128 every class of this
 * model can be made the top one; at 60 some cannot): every targeted attack gets there,
 * and a success is exactly "top class == target". */
static void test_targeted(void **state)
{
	(void)state;
	const int64_t n = 20, h = 4, w = 4, c = 3, d = h * w * c;
	toy t;
	toy_random(&t, d, 9);
	rml_attack_model m = toy_model(&t);
	float *x = random_images(n, d, 10);
	float *xa = malloc((size_t)(n * d) * sizeof(float));
	int32_t tg[20];
	rml_attack_result res[20];
	for (int i = 0; i < n; i++)
		tg[i] = (i * 7 + 1) % 5;
	const rml_attack_kind kinds[] = { RML_ATTACK_PGD, RML_ATTACK_CMAES_LINF };
	for (int kk = 0; kk < 2; kk++) {
		rml_attack_config cfg;
		rml_attack_config_default(&cfg, kinds[kk]);
		cfg.targeted = 1;
		cfg.eps = 128;
		cfg.steps = 20;
		cfg.generations = 60;
		cfg.fitness = RML_FITNESS_MARGIN;
		assert_int_equal(rml_attack_run(&cfg, &m, x, tg, n, h, w, c, xa, res, NULL), RML_OK);
		int hit = 0;
		for (int i = 0; i < n; i++) {
			double p[5];
			toy_probs1(&t, xa + i * d, p);
			int top = 0;
			for (int q = 1; q < 5; q++)
				if (p[q] > p[top])
					top = q;
			assert_int_equal(res[i].pred, top);
			assert_int_equal(res[i].success, top == tg[i]);
			hit += res[i].success;
		}
		print_message("targeted %s: %d/20 reach the target\n", rml_attack_kind_name(kinds[kk]), hit);
		assert_int_equal(hit, 20);
	}
	free(x);
	free(xa);
	toy_free(&t);
}

/* Images of mean brightness 127.5 on the brightness model: adding +eps
 * everywhere flips them once eps > 0.5 (nothing is near 255), and no
 * perturbation within eps < 0.5 can. */
static float *mid_gray(int64_t n, int64_t d, uint64_t seed)
{
	float *x = malloc((size_t)(n * d) * sizeof(float));
	rml_rng r;
	rml_rng_seed(&r, seed);
	for (int64_t i = 0; i < n; i++) {
		double s = 0;
		for (int64_t j = 0; j < d; j++) {
			x[i * d + j] = (float)(100.0 + 55.0 * rml_rng_uniform(&r));
			s += x[i * d + j];
		}
		float shift = (float)(127.5 - s / (double)d);
		for (int64_t j = 0; j < d; j++)
			x[i * d + j] += shift;
	}
	return x;
}

static void test_threshold_attack_success_and_queries(void **state)
{
	(void)state;
	const int64_t n = 8, h = 8, w = 8, c = 3, d = h * w * c;
	toy t;
	toy_brightness(&t, d, 4.0);
	rml_attack_model m = toy_model(&t);
	float *x = mid_gray(n, d, 11);
	float *xa = malloc((size_t)(n * d) * sizeof(float));
	int32_t y[8] = { 0 };
	rml_attack_result res[8];
	const int64_t lambda = 4 + (int64_t)floor(3 * log((double)d));

	/* Flippable: every example succeeds, with early stopping. */
	rml_attack_config cfg;
	rml_attack_config_default(&cfg, RML_ATTACK_CMAES_LINF);
	cfg.eps = 3;
	cfg.generations = 30;
	assert_int_equal(rml_attack_run(&cfg, &m, x, y, n, h, w, c, xa, res, NULL), RML_OK);
	int64_t total = 0;
	for (int i = 0; i < n; i++) {
		assert_int_equal(res[i].success, 1);
		assert_int_equal(res[i].clean, 0);
		assert_int_equal(res[i].pred, 1);
		assert_true(res[i].linf <= 3.0);
		assert_int_equal((res[i].queries - 1) % lambda, 0);
		assert_true(res[i].queries <= 1 + 30 * lambda);
		total += res[i].queries;
	}
	print_message("threshold attack, eps 3: mean %.1f queries\n", (double)total / n);
	assert_int_equal(total, t.prob_images);

	/* Not flippable within 0.45: every example fails after exactly
	 * 1 + generations x lambda queries (CMA-ES) or 1 + (generations + 1) x
	 * popsize (DE). */
	cfg.eps = 0.45;
	cfg.generations = 10;
	assert_int_equal(rml_attack_run(&cfg, &m, x, y, n, h, w, c, xa, res, NULL), RML_OK);
	for (int i = 0; i < n; i++) {
		assert_int_equal(res[i].success, 0);
		assert_int_equal(res[i].pred, 0);
		assert_int_equal(res[i].queries, 1 + 10 * lambda);
		assert_true(res[i].loss <= toy_loss(&t, x + i * d, 0) * 0 + 1.0);
	}
	cfg.search = RML_SEARCH_DE;
	cfg.popsize = 16;
	cfg.generations = 4;
	t.prob_images = t.prob_calls = 0;
	assert_int_equal(rml_attack_run(&cfg, &m, x, y, n, h, w, c, xa, res, NULL), RML_OK);
	for (int i = 0; i < n; i++) {
		assert_int_equal(res[i].success, 0);
		assert_int_equal(res[i].queries, 1 + 5 * 16);
	}
	/* One call for the clean image, then one batched call per generation. */
	assert_int_equal(t.prob_calls, n * (1 + 5));
	assert_int_equal(t.prob_images, n * (1 + 5 * 16));

	/* Easy: a budget so large that the first generation already succeeds. */
	cfg.search = RML_SEARCH_CMAES;
	cfg.popsize = 0;
	cfg.eps = 100;
	cfg.sigma0 = 1;
	assert_int_equal(rml_attack_run(&cfg, &m, x, y, n, h, w, c, xa, res, NULL), RML_OK);
	for (int i = 0; i < n; i++) {
		assert_int_equal(res[i].success, 1);
		assert_int_equal(res[i].queries, 1 + lambda);
	}

	/* Already on the wrong side: one query, image unchanged. */
	int32_t y1[8];
	for (int i = 0; i < n; i++)
		y1[i] = 1;
	assert_int_equal(rml_attack_run(&cfg, &m, x, y1, n, h, w, c, xa, res, NULL), RML_OK);
	for (int i = 0; i < n; i++) {
		assert_int_equal(res[i].clean, 1);
		assert_int_equal(res[i].success, 1);
		assert_int_equal(res[i].queries, 1);
		assert_int_equal(res[i].l0, 0);
		assert_true(res[i].budget == 0);
	}
	assert_memory_equal(x, xa, (size_t)(n * d) * sizeof(float));
	free(x);
	free(xa);
	toy_free(&t);
}

/* The smallest budget: no perturbation within eps < 0.5 flips these
 * images, so the bisection must end at or above 0.5, and on a success. */
static void test_min_search(void **state)
{
	(void)state;
	const int64_t n = 4, h = 8, w = 8, c = 3, d = h * w * c;
	toy t;
	toy_brightness(&t, d, 4.0);
	rml_attack_model m = toy_model(&t);
	float *x = mid_gray(n, d, 12);
	float *xa = malloc((size_t)(n * d) * sizeof(float));
	int32_t y[4] = { 0 };
	rml_attack_result res[4];
	rml_attack_config cfg;
	rml_attack_config_default(&cfg, RML_ATTACK_CMAES_LINF);
	cfg.eps = 8;
	cfg.generations = 30;
	cfg.min_search = 6;
	assert_int_equal(rml_attack_run(&cfg, &m, x, y, n, h, w, c, xa, res, NULL), RML_OK);
	for (int i = 0; i < n; i++) {
		print_message("example %d: smallest eps found %.3f after %lld queries\n", i,
			      res[i].budget, (long long)res[i].queries);
		assert_int_equal(res[i].success, 1);
		assert_true(res[i].budget >= 0.5 && res[i].budget <= 8);
		assert_true(res[i].budget < 8);
		assert_true(res[i].linf <= res[i].budget);
		double p[2];
		toy_probs1(&t, xa + i * d, p);
		assert_true(p[1] > p[0]);
	}
	free(x);
	free(xa);
	toy_free(&t);
}

/* Class 1 when the red channel, weighted by exp(-dist^2) around pixel
 * (2, 3), rises 100 above an image whose red is 90 everywhere: only that
 * pixel (weight 1) can do it alone, its neighbours (0.37) cannot, and the
 * weights give a search that misses by one pixel a slope to climb. */
static void test_pixel_attack_success(void **state)
{
	(void)state;
	const int64_t n = 6, h = 6, w = 6, c = 3, d = h * w * c;
	toy t;
	toy_init(&t, d, 2);
	const double a = 0.05;
	double base = 0;
	for (int64_t r = 0; r < h; r++)
		for (int64_t q = 0; q < w; q++) {
			double g = exp(-(double)((r - 2) * (r - 2) + (q - 3) * (q - 3)));
			t.W[d + (r * w + q) * c] = a * g;
			base += g * 90.0;
		}
	t.b[1] = -a * (base + 100.0);
	rml_attack_model m = toy_model(&t);
	float *x = random_images(n, d, 13);
	for (int i = 0; i < n; i++)
		for (int64_t p = 0; p < h * w; p++)
			x[i * d + p * c] = 90;
	float *xa = malloc((size_t)(n * d) * sizeof(float));
	int32_t y[6] = { 0 };
	rml_attack_result res[6];
	for (int s = 0; s < 2; s++) {
		rml_attack_config cfg;
		rml_attack_config_default(&cfg, RML_ATTACK_PIXEL_L0);
		cfg.pixels = 1;
		cfg.search = s ? RML_SEARCH_DE : RML_SEARCH_CMAES;
		cfg.generations = s ? 10 : 40;
		cfg.popsize = s ? 40 : 0;
		assert_int_equal(rml_attack_run(&cfg, &m, x, y, n, h, w, c, xa, res, NULL), RML_OK);
		for (int i = 0; i < n; i++) {
			assert_int_equal(res[i].success, 1);
			assert_int_equal(res[i].l0, 1);
			assert_true(xa[i * d + (2 * w + 3) * c] >= 190);
		}
		/* With 3 pixels the budget search tries 1 (then 2 if 1 failed):
		 * DE, whose uniform initial population covers every pixel,
		 * always finds that 1 is enough; CMA-ES may miss it. */
		cfg.pixels = 3;
		cfg.min_search = 4;
		assert_int_equal(rml_attack_run(&cfg, &m, x, y, n, h, w, c, xa, res, NULL), RML_OK);
		int ones = 0;
		for (int i = 0; i < n; i++) {
			assert_int_equal(res[i].success, 1);
			assert_true(res[i].budget == 1 || res[i].budget == 2);
			assert_true(res[i].l0 <= (int64_t)res[i].budget);
			ones += res[i].budget == 1;
		}
		print_message("%s: 1 pixel found enough for %d of %d\n", s ? "DE" : "CMA-ES", ones,
			      (int)n);
		if (s)
			assert_int_equal(ones, n);
	}
	free(x);
	free(xa);
	toy_free(&t);
}

static void test_determinism_and_batching(void **state)
{
	(void)state;
	const int64_t n = 12, h = 4, w = 4, c = 3, d = h * w * c;
	toy t;
	toy_random(&t, d, 14);
	rml_attack_model m = toy_model(&t);
	float *x = random_images(n, d, 15);
	float *a = malloc((size_t)(n * d) * sizeof(float)), *b = malloc((size_t)(n * d) * sizeof(float));
	/* Labels the model gets right, so that every example is attacked. */
	int32_t y[12];
	for (int i = 0; i < n; i++) {
		double p[5];
		toy_probs1(&t, x + i * d, p);
		y[i] = 0;
		for (int q = 1; q < 5; q++)
			if (p[q] > p[y[i]])
				y[i] = q;
	}
	rml_attack_result ra[12], rb[12];
	const rml_attack_kind kinds[] = { RML_ATTACK_PGD, RML_ATTACK_CMAES_LINF, RML_ATTACK_PIXEL_L0 };
	for (int kk = 0; kk < 3; kk++) {
		rml_attack_config cfg;
		rml_attack_config_default(&cfg, kinds[kk]);
		cfg.eps = 5;
		cfg.restarts = 2;
		cfg.seed = 77;
		cfg.pixels = 2;
		/* Short steps: longer PGD runs on a linear model end in the
		 * same corner from any start, hiding the seed. */
		cfg.steps = 2;
		cfg.step_size = 1;
		assert_int_equal(rml_attack_run(&cfg, &m, x, y, n, h, w, c, a, ra, NULL), RML_OK);
		/* Same seed, in batches of 5 (white-box) or split into two calls
		 * with index0: the same images. */
		cfg.batch = 5;
		assert_int_equal(rml_attack_run(&cfg, &m, x, y, 7, h, w, c, b, rb, NULL), RML_OK);
		cfg.index0 = 7;
		assert_int_equal(rml_attack_run(&cfg, &m, x + 7 * d, y + 7, n - 7, h, w, c, b + 7 * d,
						rb + 7, NULL),
				 RML_OK);
		assert_memory_equal(a, b, (size_t)(n * d) * sizeof(float));
		for (int i = 0; i < n; i++) {
			assert_int_equal(ra[i].queries, rb[i].queries);
			assert_int_equal(ra[i].success, rb[i].success);
		}
		/* Another seed: other images. */
		cfg.batch = 0;
		cfg.index0 = 0;
		cfg.seed = 78;
		assert_int_equal(rml_attack_run(&cfg, &m, x, y, n, h, w, c, b, rb, NULL), RML_OK);
		assert_true(memcmp(a, b, (size_t)(n * d) * sizeof(float)) != 0);
	}
	free(x);
	free(a);
	free(b);
	toy_free(&t);
}

static int count_progress;
static void progress_cb(void *ctx, int64_t done, int64_t total)
{
	(void)ctx;
	assert_true(done > 0 && done <= total);
	count_progress++;
}

static void test_callbacks(void **state)
{
	(void)state;
	const int64_t n = 6, h = 2, w = 2, c = 3, d = h * w * c;
	toy t;
	toy_random(&t, d, 16);
	rml_attack_model m = toy_model(&t);
	m.progress = progress_cb;
	float *x = random_images(n, d, 17);
	float xa[6 * 12];
	int32_t y[6] = { 0, 1, 2, 3, 4, 0 };
	rml_attack_result res[6];
	rml_attack_config cfg;
	rml_attack_config_default(&cfg, RML_ATTACK_CMAES_LINF);
	count_progress = 0;
	assert_int_equal(rml_attack_run(&cfg, &m, x, y, n, h, w, c, xa, res, NULL), RML_OK);
	assert_int_equal(count_progress, 6);
	rml_attack_config_default(&cfg, RML_ATTACK_FGSM);
	cfg.batch = 4;
	count_progress = 0;
	assert_int_equal(rml_attack_run(&cfg, &m, x, y, n, h, w, c, xa, res, NULL), RML_OK);
	assert_int_equal(count_progress, 2);

	/* White-box without a probability callback: success unknown. */
	m.prob = NULL;
	assert_int_equal(rml_attack_run(&cfg, &m, x, y, n, h, w, c, xa, res, NULL), RML_OK);
	for (int i = 0; i < n; i++) {
		assert_int_equal(res[i].success, -1);
		assert_int_equal(res[i].pred, -1);
		assert_int_equal(res[i].queries, 0);
	}
	m.prob = toy_prob;

	/* A failing callback stops the run with its status and a message. */
	rml_error err = { 0 };
	t.fail = RML_ERR_NOMEM;
	assert_int_equal(rml_attack_run(&cfg, &m, x, y, n, h, w, c, xa, res, &err), RML_ERR_NOMEM);
	assert_non_null(strstr(err.msg, "callback"));
	t.fail = -3;
	rml_attack_config_default(&cfg, RML_ATTACK_PIXEL_L0);
	assert_int_equal(rml_attack_run(&cfg, &m, x, y, n, h, w, c, xa, res, &err), RML_ERR_NUMERIC);
	assert_non_null(strstr(err.msg, "probability"));
	free(x);
	toy_free(&t);
}

static void expect_reject(const rml_attack_config *cfg, const rml_attack_model *m, const float *x,
			  const int32_t *y, int64_t n, int64_t h, int64_t w, float *xa,
			  rml_status want, const char *word)
{
	rml_attack_result res[4];
	rml_error err = { 0 };
	assert_int_equal(rml_attack_run(cfg, m, x, y, n, h, w, 3, xa, res, &err), want);
	if (!strstr(err.msg, word))
		print_error("message '%s' lacks '%s'\n", err.msg, word);
	assert_non_null(strstr(err.msg, word));
}

/* The DLR loss of attack.h on the toy's logits, and its gradient through
 * W (computed here by differences of logits, independently of the
 * binding's closed form). */
static double toy_dlr1(const toy *t, const float *x, int32_t y)
{
	double z[16];
	for (int64_t c = 0; c < t->k; c++) {
		z[c] = t->b[c];
		for (int64_t j = 0; j < t->d; j++)
			z[c] += t->W[c * t->d + j] * x[j];
	}
	double s[16];
	memcpy(s, z, sizeof s);
	/* Three largest by selection. */
	for (int a = 0; a < 3; a++)
		for (int64_t b = a + 1; b < t->k; b++)
			if (s[b] > s[a]) {
				double u = s[a];
				s[a] = s[b];
				s[b] = u;
			}
	double other = -INFINITY;
	for (int64_t c = 0; c < t->k; c++)
		if (c != y)
			other = fmax(other, z[c]);
	return -(z[y] - other) / (s[0] - s[2] + 1e-12);
}

static int toy_grad_dlr(void *ctx, const float *x, int64_t n, const int32_t *y, float *loss,
			float *dx)
{
	toy *t = ctx;
	if (t->fail)
		return t->fail;
	t->grad_images += n;
	float *xc = malloc((size_t)t->d * sizeof(float));
	for (int64_t i = 0; i < n; i++) {
		memcpy(xc, x + i * t->d, (size_t)t->d * sizeof(float));
		loss[i] = (float)toy_dlr1(t, xc, y[i]);
		/* Piecewise a ratio of linear functions: central differences
		 * of a small step are exact enough away from the kinks. */
		for (int64_t j = 0; j < t->d; j++) {
			float s = xc[j];
			xc[j] = s + 0.01f;
			double lp = toy_dlr1(t, xc, y[i]);
			xc[j] = s - 0.01f;
			double lm = toy_dlr1(t, xc, y[i]);
			xc[j] = s;
			dx[i * t->d + j] = (float)((lp - lm) / 0.02);
		}
	}
	free(xc);
	return 0;
}

/* Square, L-inf and L2, in floats and in whole values: every image within
 * its budget, whole values whole; APGD (CE and DLR) the same. */
static void test_square_apgd_budget(void **state)
{
	(void)state;
	const int64_t n = 24, h = 8, w = 8, c = 3, d = h * w * c;
	toy t;
	toy_random(&t, d, 7);
	rml_attack_model m = toy_model(&t);
	m.grad_dlr = toy_grad_dlr;
	float *x = random_images(n, d, 8);
	for (int64_t j = 0; j < n * d; j++)
		x[j] = rintf(x[j]);
	float *xa = malloc((size_t)(n * d) * sizeof(float));
	int32_t y[24];
	for (int i = 0; i < n; i++)
		y[i] = i % 5;
	rml_attack_result res[24];
	const double linf_eps[] = { 0.7, 3, 5.5, 300 }, l2_eps[] = { 0.3, 40, 333.3, 6000 };
	for (int e = 0; e < 4; e++)
		for (int norm = 0; norm < 2; norm++)
			for (int kind = 0; kind < 4; kind++) {
				rml_attack_config cfg;
				rml_attack_config_default(&cfg, kind < 2 ? RML_ATTACK_SQUARE : RML_ATTACK_APGD);
				cfg.norm = norm ? RML_NORM_L2 : RML_NORM_LINF;
				cfg.eps = norm ? l2_eps[e] : linf_eps[e];
				cfg.integer = kind == 1;
				cfg.queries = 60;
				cfg.steps = 6;
				cfg.restarts = 2;
				cfg.loss = kind == 3 ? RML_LOSS_DLR : RML_LOSS_CE;
				cfg.seed = (uint64_t)(e * 7 + kind);
				cfg.batch = 5;
				rml_error err = { 0 };
				if (rml_attack_run(&cfg, &m, x, y, n, h, w, c, xa, res, &err) != RML_OK)
					fail_msg("%s", err.msg);
				check_budget(x, xa, n, h * w, c, cfg.norm, cfg.eps, 0);
				int moved = 0;
				for (int64_t j = 0; j < n * d; j++) {
					if (cfg.integer)
						assert_true(xa[j] == rintf(xa[j]));
					moved |= xa[j] != x[j];
				}
				/* The attack did something (eps 0.7 in whole values
				 * cannot move anything). */
				assert_true(moved || (cfg.integer && e == 0));
			}
	free(x);
	free(xa);
	toy_free(&t);
}

/* Callbacks that record, for one example at a time (batch 1), each call's
 * verdict, to check that Square stops at its first success. */
typedef struct {
	toy *t;
	int32_t y;
	int64_t calls, first_success;
} trace;

static int trace_prob(void *ctx, const float *x, int64_t n, float *probs)
{
	trace *tr = ctx;
	int rc = toy_prob(tr->t, x, n, probs);
	assert_int_equal(n, 1);
	tr->calls++;
	int32_t top = 0;
	for (int64_t c = 1; c < tr->t->k; c++)
		if (probs[c] > probs[top])
			top = (int32_t)c;
	if (top != tr->y && tr->first_success < 0)
		tr->first_success = tr->calls;
	return rc;
}

/* Exact query counts (each example's count is its images passed to prob,
 * never above the budget, and exactly the budget when it failed); the
 * first success ends an example's search, and its stored image is that
 * success; the clean query alone for an image already misclassified. */
static void test_square_queries_first_success(void **state)
{
	(void)state;
	const int64_t n = 30, h = 6, w = 6, c = 3, d = h * w * c;
	toy t;
	toy_random(&t, d, 11);
	rml_attack_model m = toy_model(&t);
	float *x = random_images(n, d, 12);
	float *xa = malloc((size_t)(n * d) * sizeof(float));
	int32_t y[30];
	double p[16];
	/* Labels: the toy's own class for most, another for every fifth
	 * (already misclassified). */
	for (int i = 0; i < n; i++) {
		toy_probs1(&t, x + i * d, p);
		int32_t top = 0;
		for (int k = 1; k < 5; k++)
			if (p[k] > p[top])
				top = k;
		y[i] = i % 5 == 4 ? (top + 1) % 5 : top;
	}
	rml_attack_result res[30];
	for (int norm = 0; norm < 2; norm++) {
		rml_attack_config cfg;
		rml_attack_config_default(&cfg, RML_ATTACK_SQUARE);
		cfg.norm = norm ? RML_NORM_L2 : RML_NORM_LINF;
		cfg.eps = norm ? 400 : 12;
		cfg.queries = 200;
		cfg.batch = 8;
		t.prob_images = 0;
		assert_int_equal(rml_attack_run(&cfg, &m, x, y, n, h, w, c, xa, res, NULL), RML_OK);
		int64_t total = 0, succ = 0, fail = 0;
		for (int i = 0; i < n; i++) {
			total += res[i].queries;
			assert_true(res[i].queries >= 1 && res[i].queries <= cfg.queries);
			if (i % 5 == 4) {
				assert_int_equal(res[i].clean, 1);
				assert_int_equal(res[i].queries, 1);
				continue;
			}
			toy_probs1(&t, xa + i * d, p);
			int32_t top = 0;
			for (int k = 1; k < 5; k++)
				if (p[k] > p[top])
					top = k;
			assert_int_equal(res[i].success, top != y[i]);
			assert_int_equal(res[i].pred, top);
			if (res[i].success)
				succ++;
			else {
				fail++;
				assert_int_equal(res[i].queries, cfg.queries);
			}
		}
		assert_int_equal(total, t.prob_images);
		/* Both outcomes occur, so both branches above were checked. */
		assert_true(succ > 0 && fail > 0);
		/* One example at a time through a tracing callback: the search
		 * stops at the call of its first success. */
		for (int i = 0; i < n; i++) {
			trace tr = { &t, y[i], 0, -1 };
			rml_attack_model mt = { NULL, trace_prob, NULL, &tr, 5, NULL };
			rml_attack_config one = cfg;
			one.batch = 1;
			one.index0 = i;
			rml_attack_result r1;
			float *a1 = malloc((size_t)d * sizeof(float));
			assert_int_equal(rml_attack_run(&one, &mt, x + i * d, &y[i], 1, h, w, c, a1, &r1, NULL),
					 RML_OK);
			assert_int_equal(r1.queries, tr.calls);
			if (r1.success)
				assert_int_equal(tr.first_success, tr.calls);
			else
				assert_int_equal(tr.first_success, -1);
			/* The same as in the batched run. */
			assert_int_equal(r1.queries, res[i].queries);
			assert_memory_equal(a1, xa + i * d, (size_t)d * sizeof(float));
			free(a1);
		}
	}
	free(x);
	free(xa);
	toy_free(&t);
}

/* Seeded: the same seed gives the same images and counts whatever the
 * batch; another seed other images (Square). */
static void test_square_apgd_seeded(void **state)
{
	(void)state;
	const int64_t n = 17, h = 8, w = 8, c = 3, d = h * w * c;
	toy t;
	toy_random(&t, d, 13);
	rml_attack_model m = toy_model(&t);
	m.grad_dlr = toy_grad_dlr;
	float *x = random_images(n, d, 14);
	float *a = malloc((size_t)(n * d) * sizeof(float)), *b = malloc((size_t)(n * d) * sizeof(float));
	int32_t y[17];
	for (int i = 0; i < n; i++)
		y[i] = (i * 2) % 5;
	rml_attack_result ra[17], rb[17];
	for (int kind = 0; kind < 4; kind++) {
		rml_attack_config cfg;
		rml_attack_config_default(&cfg, kind < 2 ? RML_ATTACK_SQUARE : RML_ATTACK_APGD);
		cfg.norm = kind == 1 ? RML_NORM_L2 : RML_NORM_LINF;
		cfg.eps = kind == 1 ? 200 : 4;
		cfg.queries = 80;
		cfg.steps = 5;
		cfg.loss = kind == 3 ? RML_LOSS_DLR : RML_LOSS_CE;
		cfg.seed = 5;
		cfg.batch = 0;
		assert_int_equal(rml_attack_run(&cfg, &m, x, y, n, h, w, c, a, ra, NULL), RML_OK);
		cfg.batch = 4;
		assert_int_equal(rml_attack_run(&cfg, &m, x, y, n, h, w, c, b, rb, NULL), RML_OK);
		assert_memory_equal(a, b, (size_t)(n * d) * sizeof(float));
		for (int i = 0; i < n; i++) {
			assert_int_equal(ra[i].queries, rb[i].queries);
			assert_int_equal(ra[i].grads, rb[i].grads);
			assert_int_equal(ra[i].success, rb[i].success);
		}
		/* APGD on a linear model ends in the same corner from any
		 * start; Square's random search does not. */
		if (kind >= 2)
			continue;
		cfg.seed = 6;
		assert_int_equal(rml_attack_run(&cfg, &m, x, y, n, h, w, c, b, rb, NULL), RML_OK);
		assert_true(memcmp(a, b, (size_t)(n * d) * sizeof(float)) != 0);
	}
	free(x);
	free(a);
	free(b);
	toy_free(&t);
}

/* APGD at equal iterations reaches at least PGD's loss on most examples of
 * the toy (convex in x for CE), and its gradient count is steps + 1 per
 * restart. */
static void test_apgd_vs_pgd(void **state)
{
	(void)state;
	const int64_t n = 30, h = 4, w = 4, c = 3, d = h * w * c;
	toy t;
	toy_random(&t, d, 15);
	rml_attack_model m = toy_model(&t);
	float *x = random_images(n, d, 16);
	float *xa = malloc((size_t)(n * d) * sizeof(float));
	int32_t y[30];
	for (int i = 0; i < n; i++)
		y[i] = i % 5;
	rml_attack_result rp[30], rap[30];
	rml_attack_config cfg;
	rml_attack_config_default(&cfg, RML_ATTACK_PGD);
	cfg.eps = 2;
	cfg.steps = 10;
	assert_int_equal(rml_attack_run(&cfg, &m, x, y, n, h, w, c, xa, rp, NULL), RML_OK);
	cfg.kind = RML_ATTACK_APGD;
	cfg.restarts = 2;
	assert_int_equal(rml_attack_run(&cfg, &m, x, y, n, h, w, c, xa, rap, NULL), RML_OK);
	int ge = 0;
	for (int i = 0; i < n; i++) {
		assert_int_equal(rap[i].grads, 2 * (cfg.steps + 1));
		assert_true(fabs(rap[i].loss - toy_loss(&t, xa + i * d, y[i])) < 1e-3 * (1 + rap[i].loss));
		ge += rap[i].loss >= rp[i].loss - 1e-4;
	}
	assert_true(ge >= n * 9 / 10);
	free(x);
	free(xa);
	toy_free(&t);
}

static void test_bad_arguments(void **state)
{
	(void)state;
	const int64_t h = 2, w = 2, d = h * w * 3;
	toy t;
	toy_random(&t, d, 18);
	rml_attack_model m = toy_model(&t);
	float *x = random_images(2, d, 19);
	float xa[2 * 12];
	int32_t y[2] = { 1, 2 };
	rml_attack_config cfg;

#define RESET(kind) rml_attack_config_default(&cfg, kind)
	/* cfg, m, x and y as they stand: refused, saying what. */
#define REFUSED(says) expect_reject(&cfg, &m, x, y, 2, h, w, xa, RML_ERR_ARG, says)
	RESET(RML_ATTACK_PGD);
	cfg.eps = 0;
	REFUSED("eps");
	cfg.eps = NAN;
	REFUSED("eps");
	RESET(RML_ATTACK_PGD);
	cfg.steps = 0;
	REFUSED("steps");
	RESET(RML_ATTACK_PGD);
	cfg.restarts = 0;
	REFUSED("restarts");
	RESET(RML_ATTACK_PGD);
	cfg.step_size = -1;
	REFUSED("step size");
	RESET(RML_ATTACK_PGD);
	cfg.norm = RML_NORM_L0;
	REFUSED("norm");
	RESET(RML_ATTACK_PGD);
	cfg.batch = -1;
	REFUSED("batch");
	RESET(RML_ATTACK_CMAES_LINF);
	cfg.norm = RML_NORM_L2;
	REFUSED("norm");
	RESET(RML_ATTACK_SQUARE);
	cfg.norm = RML_NORM_L0;
	REFUSED("norm");
	RESET(RML_ATTACK_SQUARE);
	cfg.queries = 0;
	REFUSED("queries");
	RESET(RML_ATTACK_SQUARE);
	cfg.p_init = 1.5;
	REFUSED("p_init");
	RESET(RML_ATTACK_APGD);
	cfg.loss = RML_LOSS_DLR;
	REFUSED("DLR gradient");
	RESET(RML_ATTACK_APGD);
	cfg.steps = 0;
	REFUSED("steps");
	RESET(RML_ATTACK_CMAES_LINF);
	cfg.tile = 0;
	REFUSED("tile");
	cfg.tile = 3;
	REFUSED("tile");
	RESET(RML_ATTACK_PIXEL_L0);
	cfg.norm = RML_NORM_LINF;
	REFUSED("norm");
	RESET(RML_ATTACK_PIXEL_L0);
	cfg.pixels = 0;
	REFUSED("pixel count");
	cfg.pixels = 5;
	REFUSED("pixel count");
	RESET(RML_ATTACK_CMAES_LINF);
	cfg.generations = 0;
	REFUSED("generations");
	RESET(RML_ATTACK_CMAES_LINF);
	cfg.popsize = 1;
	REFUSED("population");
	RESET(RML_ATTACK_CMAES_LINF);
	cfg.search = RML_SEARCH_DE;
	cfg.popsize = 3;
	REFUSED("population");
	RESET(RML_ATTACK_PIXEL_L0);
	cfg.search = RML_SEARCH_DE;
	cfg.de_f = 0;
	REFUSED("DE weight");
	RESET(RML_ATTACK_PIXEL_L0);
	cfg.search = RML_SEARCH_DE;
	cfg.de_cr = 2;
	REFUSED("crossover");
	RESET(RML_ATTACK_PIXEL_L0);
	cfg.search = (rml_attack_search)5;
	REFUSED("search");
	RESET(RML_ATTACK_PIXEL_L0);
	cfg.fitness = (rml_attack_fitness)5;
	REFUSED("fitness");
	RESET(RML_ATTACK_PIXEL_L0);
	cfg.sigma0 = -1;
	REFUSED("sigma0");
	RESET(RML_ATTACK_PIXEL_L0);
	cfg.min_search = 65;
	REFUSED("min_search");
	RESET(RML_ATTACK_PGD);
	cfg.kind = (rml_attack_kind)9;
	REFUSED("kind");

	RESET(RML_ATTACK_PGD);
	rml_attack_model m2 = m;
	m2.grad = NULL;
	expect_reject(&cfg, &m2, x, y, 2, h, w, xa, RML_ERR_ARG, "gradient");
	RESET(RML_ATTACK_CMAES_LINF);
	m2 = m;
	m2.prob = NULL;
	expect_reject(&cfg, &m2, x, y, 2, h, w, xa, RML_ERR_ARG, "probability");
	m2 = m;
	m2.n_class = 1;
	expect_reject(&cfg, &m2, x, y, 2, h, w, xa, RML_ERR_ARG, "classes");
	expect_reject(&cfg, NULL, x, y, 2, h, w, xa, RML_ERR_ARG, "callbacks");
	expect_reject(NULL, &m, x, y, 2, h, w, xa, RML_ERR_ARG, "configuration");
	expect_reject(&cfg, &m, x, y, 2, 0, w, xa, RML_ERR_ARG, "shape");
	expect_reject(&cfg, &m, x, y, -1, h, w, xa, RML_ERR_ARG, "shape");

	int32_t bad[2] = { 1, 5 };
	expect_reject(&cfg, &m, x, bad, 2, h, w, xa, RML_ERR_ARG, "example 1 has label 5");
	cfg.targeted = 1;
	bad[1] = -1;
	expect_reject(&cfg, &m, x, bad, 2, h, w, xa, RML_ERR_ARG, "target -1");
	cfg.targeted = 0;
	float keep = x[d + 4];
	x[d + 4] = 256;
	REFUSED("outside [0,255]");
	x[d + 4] = NAN;
	REFUSED("outside [0,255]");
	x[d + 4] = keep;
	expect_reject(&cfg, &m, x, y, 2, h, w, x + 3, RML_ERR_ARG, "overlap");
	expect_reject(&cfg, &m, x, y, 2, h, w, NULL, RML_ERR_ARG, "buffer");

	/* Zero examples is fine and touches nothing. */
	rml_attack_result res[1];
	assert_int_equal(rml_attack_run(&cfg, &m, x, y, 0, h, w, 3, xa, res, NULL), RML_OK);

	rml_attack_kind k;
	assert_int_equal(rml_attack_kind_parse("pixel-l0", &k, NULL), RML_OK);
	assert_int_equal(k, RML_ATTACK_PIXEL_L0);
	assert_string_equal(rml_attack_kind_name(RML_ATTACK_CMAES_LINF), "cmaes-linf");
	rml_error err = { 0 };
	assert_int_equal(rml_attack_kind_parse("cw", &k, &err), RML_ERR_ARG);
	assert_non_null(strstr(err.msg, "cw"));
#undef RESET
#undef REFUSED
	free(x);
	toy_free(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_budget_linf),
		cmocka_unit_test(test_budget_l2),
		cmocka_unit_test(test_budget_l0),
		cmocka_unit_test(test_pgd_stronger_than_fgsm),
		cmocka_unit_test(test_targeted),
		cmocka_unit_test(test_threshold_attack_success_and_queries),
		cmocka_unit_test(test_min_search),
		cmocka_unit_test(test_pixel_attack_success),
		cmocka_unit_test(test_determinism_and_batching),
		cmocka_unit_test(test_callbacks),
		cmocka_unit_test(test_square_apgd_budget),
		cmocka_unit_test(test_square_queries_first_success),
		cmocka_unit_test(test_square_apgd_seeded),
		cmocka_unit_test(test_apgd_vs_pgd),
		cmocka_unit_test(test_bad_arguments),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
