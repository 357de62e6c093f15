/*
 * bench_kernels.c — speed of single layer kernels on the shapes of
 * MobileViT-XXS at 32x32 input: milliseconds per call (median of timed
 * calls after warm-up) and GFLOP/s for the GEMM-shaped ones, forward and
 * backward, at a given batch size and thread count. A tool for tuning the
 * kernels, not a test and not part of the build; `make bench` measures
 * whole training and inference steps.
 *
 *   cc -O3 -march=x86-64-v3 -std=c11 -fopenmp -D_GNU_SOURCE -Ilib \
 *      -o bench_kernels scripts/bench_kernels.c build/librmlops.a \
 *      -lopenblas -lyaml -lpng -lz -lm -lpthread
 *   ./bench_kernels [BATCH [THREADS [REPEATS [cpu]]]]   (default 128 2 15)
 *
 * RML_GEMM=openblas in the environment runs the products on OpenBLAS
 * instead of the own kernels, for a side-by-side comparison.
 *
 * With `cpu` the clock is the process's CPU time instead of wall time:
 * on a loaded machine that still measures the kernel at one thread (with
 * more threads it adds their times, spinning included).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kernels.h"
#include "rml.h"

static int repeats = 15, cpu_clock;

static double now(void)
{
	if (!cpu_clock)
		return rml_now();
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* Median wall time of `repeats` calls of f after two warm-up calls. */
#define TIME_MS(out, call)                                          \
	do {                                                        \
		double t_[64];                                      \
		int n_ = repeats < 64 ? repeats : 64;               \
		call;                                               \
		call;                                               \
		for (int i_ = 0; i_ < n_; i_++) {                   \
			double t0_ = now();                         \
			call;                                       \
			t_[i_] = (now() - t0_) * 1e3;               \
		}                                                   \
		qsort(t_, (size_t)n_, sizeof *t_, cmp_double);      \
		(out) = t_[n_ / 2];                                 \
	} while (0)

static float *arr(int64_t n, rml_rng *r)
{
	float *p = malloc((size_t)(n + 1) * sizeof *p);
	if (!p) {
		fprintf(stderr, "bench_kernels: out of memory\n");
		exit(1);
	}
	for (int64_t i = 0; i < n; i++)
		p[i] = (float)rml_rng_normal(r);
	return p;
}

static void conv(const char *name, int64_t n, int64_t h, int64_t w, int64_t cin, int64_t cout, int k,
		 int stride, int pad, int dw, rml_rng *r)
{
	int64_t oh = rml_conv_out(h, k, stride, pad), ow = rml_conv_out(w, k, stride, pad);
	int64_t nx = n * h * w * cin, ny = n * oh * ow * cout, nw = (int64_t)k * k * cin * (dw ? 1 : cout);
	int64_t ncol = dw ? 0 : rml_conv2d_workspace(n, h, w, cin, k, stride, pad);
	float *x = arr(nx, r), *wt = arr(nw, r), *b = arr(cout, r), *y = arr(ny, r), *dy = arr(ny, r);
	float *dx = arr(nx, r), *dwt = arr(nw, r), *db = arr(cout, r), *col = arr(ncol, r);
	double f, bx, bw;
	if (dw) {
		TIME_MS(f, rml_dwconv2d_forward(y, x, wt, b, n, h, w, cin, k, stride, pad));
		TIME_MS(bx, rml_dwconv2d_backward(dx, NULL, NULL, dy, x, wt, n, h, w, cin, k, stride, pad));
		TIME_MS(bw, rml_dwconv2d_backward(NULL, dwt, db, dy, x, wt, n, h, w, cin, k, stride, pad));
	} else {
		TIME_MS(f, rml_conv2d_forward(y, col, x, wt, b, n, h, w, cin, cout, k, stride, pad));
		TIME_MS(bx, rml_conv2d_backward(dx, NULL, NULL, col, dy, x, wt, n, h, w, cin, cout, k,
						stride, pad));
		TIME_MS(bw, rml_conv2d_backward(NULL, dwt, db, col, dy, x, wt, n, h, w, cin, cout, k,
						stride, pad));
	}
	double fl = 2.0 * n * oh * ow * (double)k * k * cin * (dw ? 1 : cout);
	printf("%-26s fwd %7.3f ms %6.1f GF/s | dx %7.3f ms %6.1f GF/s | dw+db %7.3f ms %6.1f GF/s\n",
	       name, f, fl / f / 1e6, bx, fl / bx / 1e6, bw, fl / bw / 1e6);
	free(x), free(wt), free(b), free(y), free(dy), free(dx), free(dwt), free(db), free(col);
}

static void linear(const char *name, int64_t rows, int64_t in, int64_t out, rml_rng *r)
{
	float *x = arr(rows * in, r), *wt = arr(in * out, r), *b = arr(out, r), *y = arr(rows * out, r);
	float *dy = arr(rows * out, r), *dx = arr(rows * in, r), *dwt = arr(in * out, r), *db = arr(out, r);
	double f, bx, bw;
	TIME_MS(f, rml_linear_forward(y, x, wt, b, rows, in, out));
	TIME_MS(bx, rml_linear_backward(dx, NULL, NULL, dy, x, wt, rows, in, out));
	TIME_MS(bw, rml_linear_backward(NULL, dwt, db, dy, x, wt, rows, in, out));
	double fl = 2.0 * rows * in * out;
	printf("%-26s fwd %7.3f ms %6.1f GF/s | dx %7.3f ms %6.1f GF/s | dw+db %7.3f ms %6.1f GF/s\n",
	       name, f, fl / f / 1e6, bx, fl / bx / 1e6, bw, fl / bw / 1e6);
	free(x), free(wt), free(b), free(y), free(dy), free(dx), free(dwt), free(db);
}

static void elementwise(int64_t n, rml_rng *r)
{
	int64_t rows = n * 16 * 16, c = 32, m = rows * c;
	float *x = arr(m, r), *y = arr(m, r), *dy = arr(m, r), *dx = arr(m, r);
	float *g = arr(64, r), *b = arr(64, r), *mean = arr(rows, r), *rstd = arr(rows, r);
	double f, bk;
	TIME_MS(f, rml_bn_forward_train(y, mean, rstd, NULL, NULL, x, g, b, rows, c, 0.1f, 1e-5f));
	TIME_MS(bk, rml_bn_backward_train(dx, g, b, dy, x, mean, rstd, g, rows, c));
	printf("%-26s fwd %7.3f ms              | bwd %7.3f ms\n", "batchnorm 16x16x32", f, bk);
	TIME_MS(f, rml_silu_forward(y, x, m));
	TIME_MS(bk, rml_silu_backward(dx, dy, x, m));
	printf("%-26s fwd %7.3f ms              | bwd %7.3f ms\n", "silu 16x16x32", f, bk);
	TIME_MS(f, rml_add_forward(y, x, dy, m));
	TIME_MS(bk, rml_add_backward(dx, y, dy, m));
	printf("%-26s fwd %7.3f ms              | bwd %7.3f ms\n", "add 16x16x32", f, bk);
	int64_t lr = n * 64, d = 64;
	TIME_MS(f, rml_layernorm_forward(y, mean, rstd, x, g, b, lr, d, 1e-5f));
	TIME_MS(bk, rml_layernorm_backward(dx, g, b, dy, x, mean, rstd, g, lr, d));
	printf("%-26s fwd %7.3f ms              | bwd %7.3f ms\n", "layernorm 8x8, d 64", f, bk);
	TIME_MS(f, rml_unfold_forward(y, x, n, 8, 8, 64));
	TIME_MS(bk, rml_unfold_backward(dx, dy, n, 8, 8, 64));
	printf("%-26s fwd %7.3f ms              | bwd %7.3f ms\n", "unfold 8x8x64", f, bk);
	free(x), free(y), free(dy), free(dx), free(g), free(b), free(mean), free(rstd);
}

/* A 1x1 convolution and the batch norm with SiLU after it, training mode:
 * backward, the two kernels one after the other (the norm's dx written
 * whole, then the convolution's dx and dw) against
 * rml_conv1x1_bn_backward_train; forward, rml_linear_forward and the
 * norm's forward against rml_conv1x1_bn_forward_train. */
static void conv_bn_silu(const char *name, int64_t n, int64_t hw, int64_t cin, int64_t cout,
			 rml_rng *r)
{
	int64_t rows = n * hw;
	float *x = arr(rows * cin, r), *y = arr(rows * cout, r), *dz = arr(rows * cout, r);
	float *dy = arr(rows * cout, r), *dx = arr(rows * cin, r), *dwt = arr(cin * cout, r);
	float *wt = arr(cin * cout, r), *g = arr(cout, r), *b = arr(cout, r);
	float *dg = arr(cout, r), *db = arr(cout, r), *mean = arr(cout, r), *rstd = arr(cout, r);
	float *z = arr(rows * cout, r);
	rml_bn_silu_forward_train(z, mean, rstd, NULL, NULL, y, g, b, rows, cout, 0.1f, 1e-5f);
	double two, one;
	TIME_MS(two, (rml_bn_silu_backward_train_set(dy, dg, db, dz, y, mean, rstd, g, b, rows, cout),
		      rml_linear_backward_set(dx, dwt, NULL, dy, x, wt, rows, cin, cout)));
	TIME_MS(one, rml_conv1x1_bn_backward_train(dx, 1, dwt, dg, db, dy, dz, y, x, wt, mean, rstd,
						   g, b, rows, cin, cout, 1));
	printf("%-26s bwd, two kernels %7.3f ms | one kernel %7.3f ms (%.2fx)\n", name, two, one,
	       two / one);
	TIME_MS(two, (rml_linear_forward(y, x, wt, NULL, rows, cin, cout),
		      rml_bn_silu_forward_train(z, mean, rstd, NULL, NULL, y, g, b, rows, cout, 0.1f,
						1e-5f)));
	TIME_MS(one, rml_conv1x1_bn_forward_train(z, y, mean, rstd, NULL, NULL, x, wt, g, b, rows,
						  cin, cout, 0.1f, 1e-5f, 1));
	printf("%-26s fwd, two kernels %7.3f ms | one kernel %7.3f ms (%.2fx)\n", name, two, one,
	       two / one);
	free(x), free(y), free(dz), free(dy), free(dx), free(dwt), free(wt), free(g), free(b);
	free(dg), free(db), free(mean), free(rstd), free(z);
}

static void attention(const char *name, int64_t s, int64_t p, int64_t d, int h, rml_rng *r)
{
	float *qkv = arr(s * p * 3 * d, r), *out = arr(s * p * d, r), *att = arr(s * h * p * p, r);
	float *dout = arr(s * p * d, r), *dq = arr(s * p * 3 * d, r);
	float *ws = arr(rml_attention_workspace(s, p, d, h), r);
	double f, bk;
	TIME_MS(f, rml_attention_forward(out, att, qkv, s, p, d, h));
	TIME_MS(bk, rml_attention_backward(dq, ws, dout, qkv, att, s, p, d, h));
	double fl = 4.0 * s * p * p * d;
	printf("%-26s fwd %7.3f ms %6.1f GF/s | bwd %7.3f ms %6.1f GF/s\n", name, f, fl / f / 1e6, bk,
	       2 * fl / bk / 1e6);
	free(qkv), free(out), free(att), free(dout), free(dq), free(ws);
}

int main(int argc, char **argv)
{
	int64_t n = argc > 1 ? atoll(argv[1]) : 128;
	int threads = argc > 2 ? atoi(argv[2]) : 2;
	repeats = argc > 3 ? atoi(argv[3]) : 15;
	cpu_clock = argc > 4 && strcmp(argv[4], "cpu") == 0;
	if (n < 1 || threads < 1 || repeats < 1 || (argc > 4 && !cpu_clock) || argc > 5) {
		fprintf(stderr, "usage: bench_kernels [BATCH [THREADS [REPEATS [cpu]]]]\n");
		return 2;
	}
	rml_set_threads(threads);
	rml_rng r;
	rml_rng_seed(&r, 1);
	printf("batch %lld, %d threads, median of %d calls, %s time\n", (long long)n, threads, repeats,
	       cpu_clock ? "CPU" : "wall");
	conv("stem 3x3/2 32x32 3->16", n, 32, 32, 3, 16, 3, 2, 1, 0, &r);
	conv("1x1 16x16 16->32", n, 16, 16, 16, 32, 1, 1, 0, 0, &r);
	conv("1x1 16x16 48->24", n, 16, 16, 48, 24, 1, 1, 0, 0, &r);
	conv("3x3 8x8 48->48", n, 8, 8, 48, 48, 3, 1, 1, 0, &r);
	conv("3x3 4x4 64->64", n, 4, 4, 64, 64, 3, 1, 1, 0, &r);
	conv("1x1 4x4 80->320", n, 4, 4, 80, 320, 1, 1, 0, 0, &r);
	conv("dw 3x3 16x16x48", n, 16, 16, 48, 48, 3, 1, 1, 1, &r);
	conv("dw 3x3/2 16x16x48", n, 16, 16, 48, 48, 3, 2, 1, 1, &r);
	conv("dw 3x3 8x8x128", n, 8, 8, 128, 128, 3, 1, 1, 1, &r);
	linear("qkv 8x8 64->192", n * 64, 64, 192, &r);
	linear("mlp 8x8 64->128", n * 64, 64, 128, &r);
	linear("mlp 4x4 160->80", n * 16, 160, 80, &r);
	conv_bn_silu("1x1+bn+silu 16x16 16->32", n, 256, 16, 32, &r);
	conv_bn_silu("1x1+bn+silu 16x16 24->48", n, 256, 24, 48, &r);
	conv_bn_silu("1x1+bn+silu 8x8 64->128", n, 64, 64, 128, &r);
	attention("attention p16 d64 h4", n * 4, 16, 64, 4, &r);
	attention("attention p4 d80 h4", n * 4, 4, 80, 4, &r);
	elementwise(n, &r);
	return 0;
}
