/*
 * test_kernels_torch.c — every kernel of kernels.h against PyTorch reference
 * vectors (testdata/ref/kernels.rml, made by scripts/ref_kernels.py) and
 * against central finite differences of sum(y * dy), computed in double
 * from the float kernels. Tolerances:
 *   PyTorch: |a - b| <= 1e-4 * max(1, |b|) elementwise;
 *   finite differences: |fd - an| <= 2e-2 * max(1e-1, |fd| + |an|) with a
 *   step of 1e-2 on inputs of order one (float rounding bounds it).
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
#include "format.h"
#include "kernels.h"

static rml_file ref;

static int setup(void **state)
{
	(void)state;
	char path[512];
	rml_fx_path(path, sizeof path, "ref/kernels.rml");
	rml_error err = { 0 };
	if (rml_file_load(&ref, path, &err)) {
		fprintf(stderr, "%s\n", err.msg);
		return -1;
	}
	rml_set_threads(2);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	rml_file_free(&ref);
	return 0;
}

static float *R(const char *name, int64_t *n)
{
	rml_tensor *t = rml_find_tensor(&ref, name);
	if (!t)
		fail_msg("reference tensor %s missing", name);
	if (n)
		*n = rml_tensor_numel(t);
	return t->data;
}

static float *zeros(int64_t n)
{
	float *p = calloc((size_t)n, sizeof *p);
	assert_non_null(p);
	return p;
}

static void close_to_ref(const char *what, const float *a, const char *name)
{
	int64_t n;
	const float *b = R(name, &n);
	double worst = 0;
	for (int64_t i = 0; i < n; i++) {
		double d = fabs((double)a[i] - b[i]) / fmax(1.0, fabs((double)b[i]));
		if (d > worst)
			worst = d;
	}
	if (!(worst <= 1e-4))
		fail_msg("%s: largest relative difference from PyTorch %.3g", what, worst);
}

/* ---- PyTorch comparisons --------------------------------------------------- */

static void conv_case(const char *c, int64_t n, int64_t h, int64_t w, int64_t cin, int64_t cout,
		      int k, int stride, int pad, int dw, int bias)
{
	char nm[64];
#define N(s) (snprintf(nm, sizeof nm, "%s.%s", c, s), nm)
	int64_t ny, nx, nw;
	R(N("y"), &ny);
	R(N("x"), &nx);
	R(N("w"), &nw);
	float *y = zeros(ny), *dx = zeros(nx), *dwt = zeros(nw), *db = zeros(cout);
	float *col = zeros(rml_conv2d_workspace(n, h, w, cin, k, stride, pad) + 1);
	const float *x = R(N("x"), NULL), *wt = R(N("w"), NULL);
	const float *b = bias ? R(N("b"), NULL) : NULL, *dy = R(N("dy"), NULL);
	if (dw) {
		rml_dwconv2d_forward(y, x, wt, b, n, h, w, cin, k, stride, pad);
		rml_dwconv2d_backward(dx, dwt, bias ? db : NULL, dy, x, wt, n, h, w, cin, k, stride, pad);
	} else {
		rml_conv2d_forward(y, col, x, wt, b, n, h, w, cin, cout, k, stride, pad);
		rml_conv2d_backward(dx, dwt, bias ? db : NULL, col, dy, x, wt, n, h, w, cin, cout, k,
				    stride, pad);
	}
	close_to_ref(c, y, N("y"));
	close_to_ref(c, dx, N("dx"));
	close_to_ref(c, dwt, N("dw"));
	if (bias)
		close_to_ref(c, db, N("db"));
	free(y);
	free(dx);
	free(dwt);
	free(db);
	free(col);
#undef N
}

static void test_conv_vs_torch(void **state)
{
	(void)state;
	conv_case("conv3s2", 2, 6, 6, 3, 4, 3, 2, 1, 0, 0);
	conv_case("conv3s1", 2, 5, 5, 4, 3, 3, 1, 1, 0, 1);
	conv_case("conv1", 2, 4, 4, 5, 6, 1, 1, 0, 0, 1);
	conv_case("dw3s2", 2, 6, 6, 4, 4, 3, 2, 1, 1, 1);
	conv_case("dw3s1", 1, 5, 5, 3, 3, 3, 1, 1, 1, 0);
}

static void test_linear_vs_torch(void **state)
{
	(void)state;
	float *y = zeros(15), *dx = zeros(35), *dw = zeros(21), *db = zeros(3);
	rml_linear_forward(y, R("linear.x", NULL), R("linear.w", NULL), R("linear.b", NULL), 5, 7, 3);
	rml_linear_backward(dx, dw, db, R("linear.dy", NULL), R("linear.x", NULL), R("linear.w", NULL),
			    5, 7, 3);
	close_to_ref("linear y", y, "linear.y");
	close_to_ref("linear dx", dx, "linear.dx");
	close_to_ref("linear dw", dw, "linear.dw");
	close_to_ref("linear db", db, "linear.db");
	free(y);
	free(dx);
	free(dw);
	free(db);
}

static void test_batchnorm_vs_torch(void **state)
{
	(void)state;
	int64_t rows = 2 * 3 * 3, c = 4;
	float *y = zeros(rows * c), *dx = zeros(rows * c), *dg = zeros(c), *dbt = zeros(c);
	float mean[4], rstd[4], rm[4] = { 0.5f, 0.5f, 0.5f, 0.5f }, rv[4] = { 2, 2, 2, 2 };
	rml_bn_forward_train(y, mean, rstd, rm, rv, R("bntrain.x", NULL), R("bntrain.gamma", NULL),
			     R("bntrain.beta", NULL), rows, c, 0.1f, 1e-5f);
	rml_bn_backward_train(dx, dg, dbt, R("bntrain.dy", NULL), R("bntrain.x", NULL), mean, rstd,
			      R("bntrain.gamma", NULL), rows, c);
	close_to_ref("bn train y", y, "bntrain.y");
	close_to_ref("bn train dx", dx, "bntrain.dx");
	close_to_ref("bn train dgamma", dg, "bntrain.dgamma");
	close_to_ref("bn train dbeta", dbt, "bntrain.dbeta");
	close_to_ref("bn running mean", rm, "bntrain.run_mean");
	close_to_ref("bn running var", rv, "bntrain.run_var");
	memset(dx, 0, (size_t)(rows * c) * sizeof *dx);
	memset(dg, 0, (size_t)c * sizeof *dg);
	memset(dbt, 0, (size_t)c * sizeof *dbt);
	rml_bn_forward_eval(y, R("bneval.x", NULL), R("bneval.gamma", NULL), R("bneval.beta", NULL),
			    R("bneval.run_mean", NULL), R("bneval.run_var", NULL), rows, c, 1e-5f);
	rml_bn_backward_eval(dx, dg, dbt, R("bneval.dy", NULL), R("bneval.x", NULL),
			     R("bneval.gamma", NULL), R("bneval.run_mean", NULL),
			     R("bneval.run_var", NULL), rows, c, 1e-5f);
	close_to_ref("bn eval y", y, "bneval.y");
	close_to_ref("bn eval dx", dx, "bneval.dx");
	close_to_ref("bn eval dgamma", dg, "bneval.dgamma");
	close_to_ref("bn eval dbeta", dbt, "bneval.dbeta");
	free(y);
	free(dx);
	free(dg);
	free(dbt);
}

static void test_layernorm_silu_vs_torch(void **state)
{
	(void)state;
	float y[48], dx[48] = { 0 }, dg[8] = { 0 }, dbt[8] = { 0 }, mean[6], rstd[6];
	rml_layernorm_forward(y, mean, rstd, R("ln.x", NULL), R("ln.gamma", NULL), R("ln.beta", NULL), 6,
			      8, 1e-5f);
	rml_layernorm_backward(dx, dg, dbt, R("ln.dy", NULL), R("ln.x", NULL), mean, rstd,
			       R("ln.gamma", NULL), 6, 8);
	close_to_ref("layernorm y", y, "ln.y");
	close_to_ref("layernorm dx", dx, "ln.dx");
	close_to_ref("layernorm dgamma", dg, "ln.dgamma");
	close_to_ref("layernorm dbeta", dbt, "ln.dbeta");
	float sy[64], sdx[64] = { 0 };
	rml_silu_forward(sy, R("silu.x", NULL), 64);
	rml_silu_backward(sdx, R("silu.dy", NULL), R("silu.x", NULL), 64);
	close_to_ref("silu y", sy, "silu.y");
	close_to_ref("silu dx", sdx, "silu.dx");
}

static void test_attention_vs_torch(void **state)
{
	(void)state;
	int64_t s = 3, p = 4, d = 8;
	int h = 2;
	float out[96], att[3 * 2 * 16], dqkv[288] = { 0 };
	float *ws = zeros(rml_attention_workspace(s, p, d, h));
	rml_attention_forward(out, att, R("attn.qkv", NULL), s, p, d, h);
	rml_attention_backward(dqkv, ws, R("attn.dy", NULL), R("attn.qkv", NULL), att, s, p, d, h);
	close_to_ref("attention y", out, "attn.y");
	close_to_ref("attention dqkv", dqkv, "attn.dx");
	free(ws);
}

static void test_unfold_vs_torch(void **state)
{
	(void)state;
	float y[144], x[144], dx[144] = { 0 };
	rml_unfold_forward(y, R("unfold.x", NULL), 2, 4, 6, 3);
	close_to_ref("unfold", y, "unfold.y");
	rml_fold_forward(x, y, 2, 4, 6, 3);
	close_to_ref("fold", x, "unfold.x");
	/* Backward of a permutation is the inverse permutation. */
	rml_unfold_backward(dx, y, 2, 4, 6, 3);
	close_to_ref("unfold backward", dx, "unfold.x");
}

static void test_xent_vs_torch(void **state)
{
	(void)state;
	float probs[20], dl[20] = { 0 };
	const int32_t *labels = (const int32_t *)rml_find_tensor(&ref, "xent.labels")->data;
	float loss = rml_xent_forward(probs, R("xent.logits", NULL), labels, 4, 5, 0.1f);
	close_to_ref("xent loss", &loss, "xent.loss");
	rml_xent_backward(dl, probs, labels, 4, 5, 0.1f, 1.0f);
	close_to_ref("xent dlogits", dl, "xent.dlogits");
}

/* Soft targets with smoothing against PyTorch's cross_entropy with
 * probability targets, the gradient at loss scale 0.5. */
static void test_xent_soft_vs_torch(void **state)
{
	(void)state;
	float probs[24], dl[24] = { 0 };
	float loss = rml_xent_soft_forward(probs, R("xentsoft.logits", NULL),
					   R("xentsoft.targets", NULL), 4, 6, 0.1f);
	close_to_ref("soft xent loss", &loss, "xentsoft.loss");
	rml_xent_soft_backward(dl, probs, R("xentsoft.targets", NULL), 4, 6, 0.1f, 0.5f);
	close_to_ref("soft xent dlogits", dl, "xentsoft.dlogits");
}

static void test_softmax_non_finite(void **state)
{
	(void)state;
	float logits[6] = { 1, NAN, 2, 0, INFINITY, 1 }, probs[6];
	int32_t labels[2] = { 0, 1 };
	rml_softmax(probs, logits, 2, 3);
	for (int i = 0; i < 6; i++)
		assert_true(isnan(probs[i]));
	assert_true(isnan(rml_xent_forward(probs, logits, labels, 2, 3, 0)));
	float ok[3] = { 1000, 0, -1000 }, p[3];
	rml_softmax(p, ok, 1, 3);
	assert_true(fabsf(p[0] - 1) < 1e-6f && p[2] == 0);
}

/* ---- finite differences ------------------------------------------------------ */

typedef void (*fwd_fn)(const float *in, float *out, void *ctx);

static double dot(const float *a, const float *b, int64_t n)
{
	double s = 0;
	for (int64_t i = 0; i < n; i++)
		s += (double)a[i] * b[i];
	return s;
}

/* Check an analytic gradient g of L = sum(f(v) * dy) with respect to v. */
static void fd_check(const char *what, float *v, int64_t nv, const float *g, fwd_fn f, void *ctx,
		     float *out, const float *dy, int64_t nout)
{
	double worst = 0;
	int64_t step = nv > 64 ? nv / 64 : 1;
	for (int64_t i = 0; i < nv; i += step) {
		float old = v[i];
		double hh = 1e-2;
		v[i] = (float)(old + hh);
		f(v, out, ctx);
		double lp = dot(out, dy, nout);
		v[i] = (float)(old - hh);
		f(v, out, ctx);
		double lm = dot(out, dy, nout);
		v[i] = old;
		double fd = (lp - lm) / (2 * hh), e = fabs(fd - g[i]) / fmax(1e-1, fabs(fd) + fabs(g[i]));
		if (e > worst)
			worst = e;
	}
	if (!(worst <= 2e-2))
		fail_msg("%s: finite-difference mismatch %.3g", what, worst);
}

static void randv(float *v, int64_t n, rml_rng *r)
{
	for (int64_t i = 0; i < n; i++)
		v[i] = (float)rml_rng_normal(r);
}

typedef struct {
	int64_t n, h, w, cin, cout;
	int k, stride, pad, dw;
	float *x, *wt, *b, *col;
} conv_ctx;

static void conv_fwd_x(const float *in, float *out, void *p)
{
	conv_ctx *c = p;
	if (c->dw)
		rml_dwconv2d_forward(out, in, c->wt, c->b, c->n, c->h, c->w, c->cin, c->k, c->stride, c->pad);
	else
		rml_conv2d_forward(out, c->col, in, c->wt, c->b, c->n, c->h, c->w, c->cin, c->cout, c->k,
				   c->stride, c->pad);
}

static void conv_fwd_w(const float *in, float *out, void *p)
{
	conv_ctx *c = p;
	if (c->dw)
		rml_dwconv2d_forward(out, c->x, in, c->b, c->n, c->h, c->w, c->cin, c->k, c->stride, c->pad);
	else
		rml_conv2d_forward(out, c->col, c->x, in, c->b, c->n, c->h, c->w, c->cin, c->cout, c->k,
				   c->stride, c->pad);
}

static void test_conv_finite_differences(void **state)
{
	(void)state;
	rml_rng r;
	rml_rng_seed(&r, 11);
	/* Odd sizes, strides, padding, batch 1 and 3, depthwise and standard. */
	int cfg[][8] = {
		{ 1, 7, 5, 3, 4, 3, 2, 1 }, { 3, 4, 4, 2, 5, 3, 1, 1 }, { 2, 5, 3, 4, 3, 1, 1, 0 },
		{ 2, 6, 7, 5, 5, 3, 2, 1 }, { 1, 5, 5, 6, 6, 3, 1, 1 },
	};
	for (int t = 0; t < 5; t++) {
		conv_ctx c = { cfg[t][0], cfg[t][1], cfg[t][2], cfg[t][3], cfg[t][4], cfg[t][5], cfg[t][6],
			       cfg[t][7], t >= 3, 0, 0, 0, 0 };
		if (c.dw)
			c.cout = c.cin;
		int64_t oh = rml_conv_out(c.h, c.k, c.stride, c.pad), ow = rml_conv_out(c.w, c.k, c.stride, c.pad);
		int64_t nx = c.n * c.h * c.w * c.cin, ny = c.n * oh * ow * c.cout;
		int64_t nw = c.dw ? (int64_t)c.k * c.k * c.cin : (int64_t)c.k * c.k * c.cin * c.cout;
		c.x = zeros(nx);
		c.wt = zeros(nw);
		c.b = zeros(c.cout);
		c.col = zeros(rml_conv2d_workspace(c.n, c.h, c.w, c.cin, c.k, c.stride, c.pad) + 1);
		float *y = zeros(ny), *dy = zeros(ny), *dx = zeros(nx), *dwt = zeros(nw), *db = zeros(c.cout);
		randv(c.x, nx, &r);
		randv(c.wt, nw, &r);
		randv(c.b, c.cout, &r);
		randv(dy, ny, &r);
		if (c.dw)
			rml_dwconv2d_backward(dx, dwt, db, dy, c.x, c.wt, c.n, c.h, c.w, c.cin, c.k, c.stride, c.pad);
		else
			rml_conv2d_backward(dx, dwt, db, c.col, dy, c.x, c.wt, c.n, c.h, c.w, c.cin, c.cout, c.k,
					    c.stride, c.pad);
		fd_check("conv dx", c.x, nx, dx, conv_fwd_x, &c, y, dy, ny);
		fd_check("conv dw", c.wt, nw, dwt, conv_fwd_w, &c, y, dy, ny);
		/* db = column sums of dy. */
		for (int64_t j = 0; j < c.cout; j++) {
			double s = 0;
			for (int64_t q = 0; q < ny / c.cout; q++)
				s += dy[q * c.cout + j];
			assert_true(fabs(s - db[j]) < 1e-4 * fmax(1, fabs(s)));
		}
		free(c.x);
		free(c.wt);
		free(c.b);
		free(c.col);
		free(y);
		free(dy);
		free(dx);
		free(dwt);
		free(db);
	}
}

typedef struct {
	int64_t rows, c;
	float *g, *b, *mean, *rstd;
} norm_ctx;

static void bn_fwd(const float *in, float *out, void *p)
{
	norm_ctx *c = p;
	rml_bn_forward_train(out, c->mean, c->rstd, NULL, NULL, in, c->g, c->b, c->rows, c->c, 0.1f, 1e-5f);
}

static void ln_fwd(const float *in, float *out, void *p)
{
	norm_ctx *c = p;
	rml_layernorm_forward(out, c->mean, c->rstd, in, c->g, c->b, c->rows, c->c, 1e-5f);
}

static void test_norm_finite_differences(void **state)
{
	(void)state;
	rml_rng r;
	rml_rng_seed(&r, 12);
	int64_t rows = 37, c = 5;
	float *x = zeros(rows * c), *y = zeros(rows * c), *dy = zeros(rows * c), *dx = zeros(rows * c);
	float g[5], b[5], mean[37], rstd[37], dg[5] = { 0 }, dbt[5] = { 0 };
	randv(x, rows * c, &r);
	randv(dy, rows * c, &r);
	randv(g, 5, &r);
	randv(b, 5, &r);
	norm_ctx ctx = { rows, c, g, b, mean, rstd };
	bn_fwd(x, y, &ctx);
	rml_bn_backward_train(dx, dg, dbt, dy, x, mean, rstd, g, rows, c);
	fd_check("batchnorm dx", x, rows * c, dx, bn_fwd, &ctx, y, dy, rows * c);
	memset(dx, 0, (size_t)(rows * c) * sizeof *dx);
	ln_fwd(x, y, &ctx);
	rml_layernorm_backward(dx, dg, dbt, dy, x, mean, rstd, g, rows, c);
	fd_check("layernorm dx", x, rows * c, dx, ln_fwd, &ctx, y, dy, rows * c);
	free(x);
	free(y);
	free(dy);
	free(dx);
}

typedef struct {
	int64_t s, p, d;
	int h;
	float *att;
} att_ctx;

static void att_fwd(const float *in, float *out, void *p)
{
	att_ctx *c = p;
	rml_attention_forward(out, c->att, in, c->s, c->p, c->d, c->h);
}

static void test_attention_finite_differences(void **state)
{
	(void)state;
	rml_rng r;
	rml_rng_seed(&r, 13);
	att_ctx c = { 4, 5, 12, 3, NULL };
	int64_t nin = c.s * c.p * 3 * c.d, nout = c.s * c.p * c.d;
	float *qkv = zeros(nin), *out = zeros(nout), *dy = zeros(nout), *dq = zeros(nin);
	c.att = zeros(c.s * c.h * c.p * c.p);
	float *ws = zeros(rml_attention_workspace(c.s, c.p, c.d, c.h));
	randv(qkv, nin, &r);
	randv(dy, nout, &r);
	att_fwd(qkv, out, &c);
	rml_attention_backward(dq, ws, dy, qkv, c.att, c.s, c.p, c.d, c.h);
	fd_check("attention dqkv", qkv, nin, dq, att_fwd, &c, out, dy, nout);
	free(qkv);
	free(out);
	free(dy);
	free(dq);
	free(c.att);
	free(ws);
}

static void test_elementwise(void **state)
{
	(void)state;
	float a[6] = { 1, 2, 3, 4, 5, 6 }, b[6] = { 6, 5, 4, 3, 2, 1 }, y[12], da[6] = { 0 },
	      db[6] = { 0 }, s[3] = { 2, 0, -1 }, ds[3] = { 0 };
	rml_concat_forward(y, a, b, 2, 3, 3);
	assert_true(y[3] == 6 && y[6] == 4 && y[11] == 1);
	rml_concat_backward(da, db, y, 2, 3, 3);
	assert_memory_equal(da, a, sizeof a);
	assert_memory_equal(db, b, sizeof b);
	rml_chscale_forward(y, a, s, 2, 3);
	assert_true(y[0] == 2 && y[1] == 0 && y[5] == -6);
	memset(da, 0, sizeof da);
	rml_chscale_backward(da, ds, b, a, s, 2, 3);
	assert_true(ds[0] == 6 * 1 + 3 * 4 && da[2] == -4);
	float g[2 * 3];
	rml_gap_forward(g, a, 2, 1, 3);
	assert_memory_equal(g, a, sizeof g);
	float x4[8] = { 1, 2, 3, 4, 5, 6, 7, 8 }, m[2];
	rml_gap_forward(m, x4, 1, 4, 2);
	assert_true(m[0] == 4 && m[1] == 5);
	/* SiLU of non-finite inputs stays non-finite (fault injection). */
	float bad[2] = { NAN, INFINITY }, out[2];
	rml_silu_forward(out, bad, 2);
	assert_false(isfinite(out[0]));
	assert_false(isfinite(out[1]));
}

static void test_deterministic_threads(void **state)
{
	(void)state;
	/* Same thread count, same bits; and column sums do not depend on it. */
	rml_rng r;
	rml_rng_seed(&r, 14);
	int64_t rows = 5000, c = 24;
	float *x = zeros(rows * c), *y1 = zeros(rows * c), *y2 = zeros(rows * c);
	float g[24], b[24], mean[24], rstd[24], m2[24], r2[24];
	randv(x, rows * c, &r);
	randv(g, c, &r);
	randv(b, c, &r);
	rml_set_threads(2);
	rml_bn_forward_train(y1, mean, rstd, NULL, NULL, x, g, b, rows, c, 0.1f, 1e-5f);
	rml_bn_forward_train(y2, m2, r2, NULL, NULL, x, g, b, rows, c, 0.1f, 1e-5f);
	assert_memory_equal(y1, y2, (size_t)(rows * c) * sizeof *y1);
	rml_set_threads(1);
	rml_bn_forward_train(y2, m2, r2, NULL, NULL, x, g, b, rows, c, 0.1f, 1e-5f);
	assert_memory_equal(mean, m2, sizeof mean);
	rml_set_threads(2);
	free(x);
	free(y1);
	free(y2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_conv_vs_torch),
		cmocka_unit_test(test_linear_vs_torch),
		cmocka_unit_test(test_batchnorm_vs_torch),
		cmocka_unit_test(test_layernorm_silu_vs_torch),
		cmocka_unit_test(test_attention_vs_torch),
		cmocka_unit_test(test_unfold_vs_torch),
		cmocka_unit_test(test_xent_vs_torch),
		cmocka_unit_test(test_xent_soft_vs_torch),
		cmocka_unit_test(test_softmax_non_finite),
		cmocka_unit_test(test_conv_finite_differences),
		cmocka_unit_test(test_norm_finite_differences),
		cmocka_unit_test(test_attention_finite_differences),
		cmocka_unit_test(test_elementwise),
		cmocka_unit_test(test_deterministic_threads),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
