/*
 * test_tta.c — test-time adaptation (tta.h): MEMO's marginal-entropy
 * gradient and TENT's mean-entropy gradient against central finite
 * differences in double precision and against the entropy computed
 * directly; episodic mode leaving no trace (the same input gives the
 * same bits whatever came before, and the parameters come back exactly);
 * continual mode keeping what it learnt; one step lowering the loss;
 * TENT on batch-norm parameters moving nothing else (running statistics
 * included) and not depending on how the stream is chunked; faulty models
 * skipped without a crash; every refused option.
 *
 * Tolerances: finite differences with step 1e-3 on the logits, |fd - g| <=
 * 1e-6 + 1e-4 |fd| (the gradient is formed in double, rounded to float);
 * the loss values within 1e-12 of the direct formula. Models are
 * mvit-tiny with adapters (gamma 2), random weights, adapter scales set
 * to 0.5 so that the adapter units receive gradients.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "fixtures.h"
#include "model.h"
#include "tta.h"

#define K 10
#define PX (32 * 32 * 3)

static rml_model *tiny(int gamma, uint64_t seed)
{
	rml_model *m = rml_fx_tiny(K, gamma, seed);
	int64_t n;
	rml_param *p = rml_model_params(m, &n);
	for (int64_t i = 0; i < n; i++)
		if (strstr(p[i].name, "adapter.scale"))
			for (int64_t j = 0; j < p[i].numel; j++)
				p[i].data[j] = 0.5f;
	return m;
}

static void fill_images(uint8_t *x, int64_t n, uint64_t seed)
{
	rml_rng r;
	rml_rng_seed(&r, seed);
	for (int64_t i = 0; i < n * PX; i++)
		x[i] = (uint8_t)rml_rng_below(&r, 256);
}

static void fill_logits(float *z, int64_t n, double scale, uint64_t seed)
{
	rml_rng r;
	rml_rng_seed(&r, seed);
	for (int64_t i = 0; i < n; i++)
		z[i] = (float)(scale * rml_rng_normal(&r));
}

/* The marginal entropy straight from its definition, in double. */
static double memo_direct(const double *z, int64_t b, int64_t k)
{
	double pbar[64] = { 0 };
	for (int64_t i = 0; i < b; i++) {
		double mx = -INFINITY, s = 0;
		for (int64_t j = 0; j < k; j++)
			mx = fmax(mx, z[i * k + j]);
		for (int64_t j = 0; j < k; j++)
			s += exp(z[i * k + j] - mx);
		for (int64_t j = 0; j < k; j++)
			pbar[j] += exp(z[i * k + j] - mx) / s / (double)b;
	}
	double h = 0;
	for (int64_t j = 0; j < k; j++)
		if (pbar[j] > 0)
			h -= pbar[j] * log(pbar[j]);
	return h;
}

static double tent_direct(const double *z, int64_t n, int64_t k)
{
	double tot = 0;
	for (int64_t i = 0; i < n; i++)
		tot += memo_direct(z + i * k, 1, k);
	return tot / (double)n;
}

static void check_grad(int memo, int64_t b, int64_t k, double scale, uint64_t seed)
{
	float z[256], dz[256];
	double zd[256], work[512];
	fill_logits(z, b * k, scale, seed);
	double h = memo ? rml_memo_loss(z, b, k, dz, work) : rml_tent_loss(z, b, k, dz, work);
	for (int64_t i = 0; i < b * k; i++)
		zd[i] = z[i];
	double hd = memo ? memo_direct(zd, b, k) : tent_direct(zd, b, k);
	if (!(fabs(h - hd) <= 1e-12 + 1e-12 * fabs(hd)))
		fail_msg("%s loss %.17g, direct %.17g", memo ? "memo" : "tent", h, hd);
	double eps = 1e-3;
	for (int64_t i = 0; i < b * k; i++) {
		double keep = zd[i];
		zd[i] = keep + eps;
		double hp = memo ? memo_direct(zd, b, k) : tent_direct(zd, b, k);
		zd[i] = keep - eps;
		double hm = memo ? memo_direct(zd, b, k) : tent_direct(zd, b, k);
		zd[i] = keep;
		double fd = (hp - hm) / (2 * eps);
		if (!(fabs(fd - dz[i]) <= 1e-6 + 1e-4 * fabs(fd)))
			fail_msg("%s gradient [%lld]: %.9g, finite differences %.9g (b %lld, k %lld, scale %g)",
				 memo ? "memo" : "tent", (long long)i, dz[i], fd, (long long)b, (long long)k,
				 scale);
	}
}

static void test_memo_gradient(void **state)
{
	(void)state;
	check_grad(1, 8, 10, 1.0, 1);
	check_grad(1, 8, 10, 4.0, 2);   /* confident copies */
	check_grad(1, 3, 5, 0.1, 3);    /* near uniform */
	check_grad(1, 1, 10, 2.0, 4);   /* one copy: plain entropy */
	check_grad(1, 16, 7, 2.0, 5);
}

static void test_tent_gradient(void **state)
{
	(void)state;
	check_grad(0, 8, 10, 1.0, 6);
	check_grad(0, 4, 10, 4.0, 7);
	check_grad(0, 1, 3, 0.5, 8);
}

/* The marginal entropy is at least the mean entropy of the copies'
 * predictions' mean... and at most log k; it is 0 only when every copy is
 * certain of the same class. The gradient of a one-copy batch is TENT's. */
static void test_loss_values(void **state)
{
	(void)state;
	float z[80], dz1[80], dz2[80];
	double work[200];
	fill_logits(z, 80, 2.0, 9);
	double hm = rml_memo_loss(z, 8, 10, NULL, work), ht = rml_tent_loss(z, 8, 10, NULL, work);
	assert_true(hm >= ht - 1e-12);   /* concavity of entropy */
	assert_true(hm <= log(10.0) + 1e-12);
	rml_memo_loss(z, 1, 10, dz1, work);
	rml_tent_loss(z, 1, 10, dz2, work);
	for (int j = 0; j < 10; j++)
		assert_true(fabs(dz1[j] - dz2[j]) <= 1e-7);
	/* Far beyond float exp's range: still finite, one certain class. */
	for (int j = 0; j < 10; j++)
		z[j] = j == 3 ? 1e4f : -1e4f;
	double h = rml_memo_loss(z, 1, 10, dz1, work);
	assert_true(isfinite(h) && h < 1e-12);
	for (int j = 0; j < 10; j++)
		assert_true(isfinite(dz1[j]));
	/* Non-finite logits: NaN and dz untouched. */
	z[5] = NAN;
	for (int j = 0; j < 10; j++)
		dz1[j] = 7;
	assert_true(isnan(rml_memo_loss(z, 1, 10, dz1, work)));
	assert_true(isnan(rml_tent_loss(z, 1, 10, dz1, work)));
	for (int j = 0; j < 10; j++)
		assert_true(dz1[j] == 7);
	assert_true(isnan(rml_memo_loss(z, 0, 10, NULL, work)));
}

static rml_tta *start(rml_model *m, rml_tta_opts *o)
{
	rml_tta *t;
	rml_error err = { 0 };
	if (rml_tta_init(&t, m, o, &err))
		fail_msg("%s", err.msg);
	return t;
}

static void run(rml_tta *t, const uint8_t *x, int64_t n, int64_t first, float *before, float *after)
{
	rml_error err = { 0 };
	if (rml_tta_run(t, x, n, first, before, after, &err))
		fail_msg("%s", err.msg);
}

/* A copy of every parameter and buffer, to compare bit for bit. */
static float *snapshot(rml_model *m, int64_t *n)
{
	int64_t np, nb, tot = 0;
	rml_param *p = rml_model_params(m, &np), *b = rml_model_buffers(m, &nb);
	for (int64_t i = 0; i < np; i++)
		tot += p[i].numel;
	for (int64_t i = 0; i < nb; i++)
		tot += b[i].numel;
	float *s = malloc((size_t)tot * sizeof *s), *q = s;
	for (int64_t i = 0; i < np; i++, q += p[i - 1].numel)
		memcpy(q, p[i].data, (size_t)p[i].numel * sizeof *q);
	for (int64_t i = 0; i < nb; i++, q += b[i - 1].numel)
		memcpy(q, b[i].data, (size_t)b[i].numel * sizeof *q);
	*n = tot;
	return s;
}

/* Fail unless m's parameters and buffers are, bit for bit, the ns values
 * of snapshot s0. */
static void same_as(rml_model *m, const float *s0, int64_t ns)
{
	int64_t n;
	float *s = snapshot(m, &n);
	assert_int_equal(n, ns);
	assert_memory_equal(s0, s, (size_t)ns * sizeof *s);
	free(s);
}

/* Fail unless, against snapshot s0, some parameter of m moved and every
 * one that moved is one may_move accepts. */
static void moved_only(rml_model *m, const float *s0, int (*may_move)(const rml_param *p))
{
	int64_t np;
	rml_param *p = rml_model_params(m, &np);
	const float *q = s0;
	int moved = 0;
	for (int64_t i = 0; i < np; q += p[i].numel, i++) {
		int same = memcmp(q, p[i].data, (size_t)p[i].numel * sizeof *q) == 0;
		if (!may_move(&p[i]) && !same)
			fail_msg("%s moved", p[i].name);
		moved += !same;
	}
	assert_true(moved > 0);
}

static int is_phi(const rml_param *p)
{
	return p->group == RML_GROUP_PHI;
}

static int is_bn(const rml_param *p)
{
	return strstr(p->name, ".bn.") != NULL;
}

static void test_episodic_leaves_no_trace(void **state)
{
	(void)state;
	rml_model *m = tiny(2, 11);
	int64_t ns;
	float *s0 = snapshot(m, &ns);
	uint8_t x[5 * PX];
	fill_images(x, 5, 12);
	rml_tta_opts o;
	rml_tta_opts_default(&o);
	o.n_aug = 4;
	o.steps = 2;
	o.lr = 0.05;
	o.momentum = 0.9;
	rml_tta *t = start(m, &o);
	float b3[3 * K], a3[3 * K], b1[K], a1[K], a2[2 * K], b2[2 * K];
	/* X (image 4) as input 2 after images 0 and 1 ... */
	uint8_t seq[3 * PX];
	memcpy(seq, x, 2 * PX);
	memcpy(seq + 2 * PX, x + 4 * PX, PX);
	run(t, seq, 3, 0, b3, a3);
	/* ... after images 2 and 3 ... */
	run(t, x + 2 * PX, 2, 0, b2, a2);
	run(t, x + 4 * PX, 1, 2, b1, a1);
	assert_memory_equal(a1, a3 + 2 * K, sizeof a1);
	assert_memory_equal(b1, b3 + 2 * K, sizeof b1);
	rml_tta_free(t);
	/* ... and with a fresh adapter and nothing before it. */
	t = start(m, &o);
	run(t, x + 4 * PX, 1, 2, b1, a1);
	assert_memory_equal(a1, a3 + 2 * K, sizeof a1);
	rml_tta_stats st;
	rml_tta_get_stats(t, &st);
	assert_int_equal(st.updates, 2);
	assert_int_equal(st.inputs, 1);
	/* Adaptation did change the prediction, and the model is back bit for bit. */
	assert_true(memcmp(a1, b1, sizeof a1) != 0);
	same_as(m, s0, ns);
	rml_tta_free(t);
	/* Episodic: "before" is the unadapted model for every input. */
	float *z;
	assert_int_equal(rml_model_forward_u8(m, x + 4 * PX, 1, RML_MODE_EVAL, &z, NULL), RML_OK);
	double mx = -INFINITY, sum = 0;
	for (int j = 0; j < K; j++)
		mx = fmax(mx, z[j]);
	for (int j = 0; j < K; j++)
		sum += exp(z[j] - mx);
	for (int j = 0; j < K; j++)
		assert_true(fabs(exp(z[j] - mx) / sum - b1[j]) <= 1e-6);
	free(s0);
	rml_model_free(m);
}

/* A stream is the chunks rml_tta_run would be given: file order equals
 * one call on all images; a shuffled episodic MEMO stream gives the same
 * predictions in file order; a shuffled TENT stream equals running the
 * permuted images by hand. */
static void test_stream(void **state)
{
	(void)state;
	rml_model *m = tiny(2, 11);
	enum { N = 5 };
	uint8_t x[N * PX], xp[N * PX];
	fill_images(x, N, 21);
	rml_tta_opts o;
	rml_tta_opts_default(&o);
	o.n_aug = 2;
	o.steps = 1;
	o.lr = 0.05;
	float b0[N * K], a0[N * K], b1[N * K], a1[N * K];
	rml_error err = { 0 };
	rml_tta *t = start(m, &o);
	run(t, x, N, 0, b0, a0);
	rml_tta_free(t);
	t = start(m, &o);
	assert_int_equal(rml_tta_run_stream(t, x, N, 1, 7, b1, a1, NULL, NULL, &err), RML_OK);
	assert_memory_equal(a0, a1, sizeof a0);
	assert_memory_equal(b0, b1, sizeof b0);
	rml_tta_free(t);

	o.method = RML_TTA_TENT;
	o.batch = 2;
	o.continual = 1;
	o.tune = RML_TTA_TUNE_BN;
	int64_t order[N] = { 0, 1, 2, 3, 4 };
	rml_rng rng;
	rml_rng_seed_stream(&rng, 7, UINT64_MAX);
	rml_rng_shuffle(&rng, order, N);
	for (int i = 0; i < N; i++)
		memcpy(xp + i * PX, x + order[i] * PX, PX);
	int64_t ns;
	float *s0 = snapshot(m, &ns);
	t = start(m, &o);
	for (int i = 0; i < N; i += 2)
		run(t, xp + i * PX, N - i < 2 ? N - i : 2, i, b0 + i * K, a0 + i * K);
	rml_tta_free(t);
	/* Continual TENT moved the model: put it back for the second run. */
	rml_model *m2 = tiny(2, 11);
	same_as(m2, s0, ns);
	t = start(m2, &o);
	assert_int_equal(rml_tta_run_stream(t, x, N, 1, 7, NULL, a1, NULL, NULL, &err), RML_OK);
	for (int i = 0; i < N; i++)
		assert_memory_equal(a0 + i * K, a1 + order[i] * K, K * sizeof *a0);
	rml_tta_free(t);
	free(s0);
	rml_model_free(m);
	rml_model_free(m2);
}

static void test_continual_keeps_adapting(void **state)
{
	(void)state;
	rml_model *m = tiny(2, 13);
	int64_t ns;
	float *s0 = snapshot(m, &ns);
	uint8_t x[3 * PX];
	fill_images(x, 3, 14);
	rml_tta_opts o;
	rml_tta_opts_default(&o);
	o.n_aug = 4;
	o.lr = 0.05;
	o.continual = 1;
	rml_tta *t = start(m, &o);
	float b3[3 * K], a3[3 * K], b1[K], a1[K];
	run(t, x, 3, 0, b3, a3);
	/* Input 1's "before" is the model adapted to input 0. */
	rml_tta_reset(t);
	run(t, x + PX, 1, 1, b1, a1);
	assert_true(memcmp(a1, a3 + K, sizeof a1) != 0);
	assert_true(memcmp(b1, b3 + K, sizeof b1) != 0);
	/* Only PHI moved. */
	moved_only(m, s0, is_phi);
	rml_tta_reset(t);
	same_as(m, s0, ns);
	rml_tta_free(t);
	free(s0);
	rml_model_free(m);
}

/* A small SGD step on MEMO's loss lowers it on the same augmented batch
 * (first order): checks that the gradient reaches the adapters with the
 * right sign. */
static void test_step_lowers_loss(void **state)
{
	(void)state;
	rml_model *m = tiny(2, 15);
	uint8_t x[PX];
	fill_images(x, 1, 16);
	rml_augmix_opts ao;
	rml_augmix_opts_default(&ao);
	float xa[4 * PX], dz[4 * K];
	uint8_t scratch[3 * PX];
	double work[5 * K];
	rml_rng rng;
	rml_rng_seed_stream(&rng, 1, 0);
	assert_int_equal(rml_aug_memo_batch(x, 32, 32, 3, 4, &ao, &rng, xa, scratch, NULL), RML_OK);
	rml_model_reserve(m, 4, 1, NULL);
	float *z;
	rml_model_forward(m, xa, 4, RML_MODE_EVAL, &z, NULL);
	double h0 = rml_memo_loss(z, 4, K, dz, work);
	rml_tta_opts o;
	rml_tta_opts_default(&o);
	o.n_aug = 4;
	o.lr = 0.01;
	o.continual = 1;
	rml_tta *t = start(m, &o);
	float b[K], a[K];
	run(t, x, 1, 0, b, a);   /* the same copies: stream 0 of seed 1 */
	rml_model_forward(m, xa, 4, RML_MODE_EVAL, &z, NULL);
	double h1 = rml_memo_loss(z, 4, K, dz, work);
	if (!(h1 < h0))
		fail_msg("marginal entropy %.9g after the step, %.9g before", h1, h0);
	rml_tta_free(t);
	rml_model_free(m);
}

static void test_tent_bn(void **state)
{
	(void)state;
	rml_model *m = tiny(2, 17);
	int64_t ns;
	float *s0 = snapshot(m, &ns);
	uint8_t x[8 * PX];
	fill_images(x, 8, 18);
	rml_tta_opts o;
	rml_tta_opts_default(&o);
	o.method = RML_TTA_TENT;
	o.tune = RML_TTA_TUNE_BN;
	o.batch = 4;
	o.lr = 0.05;
	o.continual = 1;
	o.steps = 2;
	rml_tta *t = start(m, &o);
	float b8[8 * K], a8[8 * K], b4[8 * K], a4[8 * K];
	run(t, x, 8, 0, b8, a8);
	/* Only batch-norm gamma and beta moved; running statistics did not. */
	moved_only(m, s0, is_bn);
	int64_t np, nb;
	rml_param *p = rml_model_params(m, &np), *bf = rml_model_buffers(m, &nb);
	const float *q = s0;
	for (int64_t i = 0; i < np; i++)
		q += p[i].numel;
	for (int64_t i = 0; i < nb; q += bf[i].numel, i++)
		if (memcmp(q, bf[i].data, (size_t)bf[i].numel * sizeof *q))
			fail_msg("%s moved", bf[i].name);
	assert_int_equal(rml_tta_n_adapted(t) > 0, 1);
	/* Chunking: two calls of one batch each give the same bits. */
	rml_tta_reset(t);
	run(t, x, 4, 0, b4, a4);
	run(t, x + 4 * PX, 4, 4, b4 + 4 * K, a4 + 4 * K);
	assert_memory_equal(a4, a8, sizeof a8);
	assert_memory_equal(b4, b8, sizeof b8);
	/* A chunk that does not start a batch is refused. */
	rml_error err = { 0 };
	assert_int_equal(rml_tta_run(t, x, 4, 2, b4, a4, &err), RML_ERR_ARG);
	assert_non_null(strstr(err.msg, "multiples of 4"));
	rml_tta_free(t);
	free(s0);
	rml_model_free(m);
}

/* A weight that is NaN makes every loss NaN: steps are skipped, counted,
 * and the adapters are not poisoned. */
static void test_faulty_model(void **state)
{
	(void)state;
	rml_model *m = tiny(2, 19);
	int64_t np;
	rml_param *p = rml_model_params(m, &np);
	p[0].data[0] = NAN;
	uint8_t x[2 * PX];
	fill_images(x, 2, 20);
	rml_tta_opts o;
	rml_tta_opts_default(&o);
	o.n_aug = 2;
	o.continual = 1;
	rml_tta *t = start(m, &o);
	float b[2 * K], a[2 * K];
	run(t, x, 2, 0, b, a);
	rml_tta_stats st;
	rml_tta_get_stats(t, &st);
	assert_int_equal(st.updates, 0);
	assert_int_equal(st.skipped, 2);
	int64_t off, cnt;
	rml_model_group_range(m, RML_GROUP_PHI, &off, &cnt);
	const float *phi = rml_model_param_block(m) + off;
	for (int64_t i = 0; i < cnt; i++)
		assert_true(isfinite(phi[i]));
	rml_tta_free(t);
	rml_model_free(m);
}

static void expect_refused(rml_model *m, const rml_tta_opts *o, const char *needle)
{
	rml_tta *t = (rml_tta *)1;
	rml_error err = { 0 };
	assert_int_equal(rml_tta_init(&t, m, o, &err), RML_ERR_ARG);
	assert_null(t);
	if (!strstr(err.msg, needle))
		fail_msg("message '%s' lacks '%s'", err.msg, needle);
}

static void test_refused(void **state)
{
	(void)state;
	rml_model *plain = tiny(0, 21), *m = tiny(2, 22);
	rml_tta_opts o;
	rml_tta_opts_default(&o);
	expect_refused(plain, &o, "no adapters");
	o.groups = RML_GROUP_BIT(RML_GROUP_OMEGA);
	expect_refused(plain, &o, "omega");
	rml_tta_opts_default(&o);
	o.groups = 0;
	expect_refused(m, &o, "no parameter group");
	rml_tta_opts_default(&o);
	o.n_aug = 0;
	expect_refused(m, &o, "augmented copies");
	rml_tta_opts_default(&o);
	o.steps = -1;
	expect_refused(m, &o, "steps");
	rml_tta_opts_default(&o);
	o.lr = NAN;
	expect_refused(m, &o, "learning rate");
	rml_tta_opts_default(&o);
	o.momentum = 1;
	expect_refused(m, &o, "momentum");
	rml_tta_opts_default(&o);
	o.batch = 0;
	expect_refused(m, &o, "batch");
	rml_tta_opts_default(&o);
	o.method = (rml_tta_method)7;
	expect_refused(m, &o, "method");
	rml_tta_opts_default(&o);
	o.aug.width = 0;
	expect_refused(m, &o, "width");
	/* Batch norm works without adapters. */
	rml_tta_opts_default(&o);
	o.tune = RML_TTA_TUNE_BN;
	rml_tta *t = start(plain, &o);
	assert_true(rml_tta_n_adapted(t) > 0);
	rml_tta_free(t);
	rml_tta_free(NULL);
	uint8_t x[PX] = { 0 };
	float a[K];
	t = start(m, &o);
	rml_error err = { 0 };
	assert_int_equal(rml_tta_run(t, x, -1, 0, NULL, a, &err), RML_ERR_ARG);
	assert_int_equal(rml_tta_run(t, NULL, 1, 0, NULL, a, &err), RML_ERR_ARG);
	rml_tta_free(t);
	rml_model_free(plain);
	rml_model_free(m);
}

int main(void)
{
	rml_set_threads(1);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_memo_gradient),
		cmocka_unit_test(test_tent_gradient),
		cmocka_unit_test(test_loss_values),
		cmocka_unit_test(test_episodic_leaves_no_trace),
		cmocka_unit_test(test_stream),
		cmocka_unit_test(test_continual_keeps_adapting),
		cmocka_unit_test(test_step_lowers_loss),
		cmocka_unit_test(test_tent_bn),
		cmocka_unit_test(test_faulty_model),
		cmocka_unit_test(test_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
