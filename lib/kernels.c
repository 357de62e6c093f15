/*
 * kernels.c — the engine's layer kernels (contract in kernels.h): NHWC
 * feature maps, GEMMs through lib/gemm.c, everything else in OpenMP loops.
 *
 * Determinism: every reduction over rows (bias, batch-norm and layer-norm
 * gradients, channel scales) runs per channel in row order, with threads
 * splitting channels rather than rows, so results do not depend on the
 * thread count at all. Gradient scatters (col2im, depthwise dx) are split
 * by image, so no two threads write the same element.
 */
#include "kernels.h"
#include "attn512.h"
#include "gemm.h"

#include <float.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

/* Below this many elements a loop runs on one thread: forking costs more. */
#define PAR_MIN 16384
/* Channels per task in column reductions. */
#define CH_BLOCK 16
/* Depthwise weight gradient: fixed pieces of the output rows, and floats
 * per piece (taps x channels) for their partial sums. */
#define DW_CHUNKS 16
#define DW_SLOT 2304

/* Elementwise and reduction loops get an AVX-512 twin as well, chosen
 * when the program loads, where the CPU has it. Lanes never change the
 * arithmetic: no loop here reorders a sum (no -ffast-math, lane sums are
 * explicit), so both twins give the same bits. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define HOT __attribute__((target_clones("arch=x86-64-v4", "default")))
#else
#define HOT
#endif

/* ---- helpers ------------------------------------------------------------- */

/* Sixteen floats as one value (GCC vector extension): arithmetic is lane
 * by lane, the same operations as a scalar loop over the lanes. V16(p)
 * reads sixteen floats at any float address. */
typedef float v16 __attribute__((vector_size(64)));
typedef float v16u __attribute__((vector_size(64), aligned(4), may_alias));
#define V16(p) (*(const v16u *)(p))

/* exp(x) in float without libm, so loops over it vectorise: range
 * reduction by ln 2 and the degree-6 polynomial of Cephes' expf (about
 * 1 ulp). Above about 88.72 it overflows to infinity as expf does, so
 * silu(x) = x / (1 + exp(-x)) is -0 for x below about -88.72, as in
 * PyTorch's float32 kernels (a fault that makes a pre-activation -3e37
 * silences the unit there; saturating at 2e38 instead left it at -0.14).
 * 2^n is applied as two halves so that n up to 128 stays a normal float.
 * Below -87.34 it saturates at about 1e-38 (PyTorch gives subnormals or
 * 0: the same decisions). NaN and infinite inputs give NaN, which is what
 * fault injection needs: a damaged activation must stay visibly damaged. */
static inline float vexpf(float x)
{
	float xh = x < 89.0f ? x : 89.0f;
	float xc = xh > -87.3365447504f ? xh : -87.3365447504f;
	float n = floorf(xc * 1.44269504088896341f + 0.5f);
	float r = xc - n * 0.693359375f;
	r = r + n * 2.12194440e-4f;
	float z = r * r;
	float p = ((((1.9875691500e-4f * r + 1.3981999507e-3f) * r + 8.3334519073e-3f) * r +
		    4.1665795894e-2f) * r + 1.6666665459e-1f) * r + 5.0000001201e-1f;
	p = p * z + r + 1.0f;
	int32_t ni = (int32_t)n, n1 = ni >> 1, n2 = ni - n1;
	int32_t e1 = (n1 + 127) << 23, e2 = (n2 + 127) << 23;
	float s1, s2;
	memcpy(&s1, &e1, 4);
	memcpy(&s2, &e2, 4);
	/* x - x is 0 for finite x and NaN otherwise: non-finite inputs give NaN. */
	return p * s1 * s2 + (x - x);
}

/* q1/q2 over 16 * G columns: sums over rows r0..r1 (rows c apart) of
 * a - ka and (a - ka)(b - kb) (b may be NULL), G vectors at a time,
 * from zero, or when acc continued from what q1/q2 hold. */
static inline __attribute__((always_inline)) void
col_block_sums(float *q1, float *q2, const int G, const float *a, const float *ka,
	       const float *b, const float *kb, int64_t r0, int64_t r1, int64_t c, int acc)
{
	v16 t1[4] = { { 0 } }, t2[4] = { { 0 } }, ka16[4], kb16[4];
	for (int g = 0; g < G; g++) {
		ka16[g] = V16(ka + 16 * g);
		kb16[g] = V16(kb + 16 * g);
		if (acc) {
			t1[g] = V16(q1 + 16 * g);
			t2[g] = V16(q2 + 16 * g);
		}
	}
	for (int64_t r = r0; r < r1; r++)
		for (int g = 0; g < G; g++) {
			v16 u = V16(a + r * c + 16 * g) - ka16[g];
			t1[g] += u;
			if (b)
				t2[g] += u * (V16(b + r * c + 16 * g) - kb16[g]);
		}
	memcpy(q1, t1, (size_t)G * sizeof t1[0]);
	memcpy(q2, t2, (size_t)G * sizeof t2[0]);
}

/* Column sums s1[j] = sum_r (a[r,j] - ka[j]) and s2[j] = sum_r (a[r,j] -
 * ka[j]) * (b[r,j] - kb[j]) (when b); a NULL shift is zero. Partial sums
 * are float, so statistics come from shifted data (a shift near the
 * column mean): E[x^2] - E[x]^2 from raw sums would lose about
 * (mean/std)^2 ulps. Rows are cut into chunks whose size depends only on
 * `rows`; chunks run in parallel into their own partial sums, added in
 * chunk order, so the result is the same for every thread count. */
#define RED_CHUNKS 64
#define RED_COLS 512
HOT static void col_sums(double *s1, double *s2, const float *a, const float *ka, const float *b,
		     const float *kb, int64_t rows, int64_t c)
{
	int64_t chunk = rows / RED_CHUNKS + 1;
	if (chunk < 256)
		chunk = 256;
	int64_t nch = (rows + chunk - 1) / chunk;
	float p1[RED_CHUNKS * RED_COLS], p2[RED_CHUNKS * RED_COLS], sa[RED_COLS], sb[RED_COLS];
	for (int64_t c0 = 0; c0 < c; c0 += RED_COLS) {
		int64_t cc = c - c0 < RED_COLS ? c - c0 : RED_COLS;
		for (int64_t j = 0; j < cc; j++) {
			sa[j] = ka ? ka[c0 + j] : 0.0f;
			sb[j] = kb ? kb[c0 + j] : 0.0f;
		}
#pragma omp parallel for schedule(static) if (rows * c > PAR_MIN && nch > 1)
		for (int64_t k = 0; k < nch; k++) {
			float *q1 = p1 + k * RED_COLS, *q2 = p2 + k * RED_COLS;
			int64_t r0 = k * chunk, r1 = (k + 1) * chunk < rows ? (k + 1) * chunk : rows;
			/* 64, then 16 columns at a time, the sums in registers
			 * (through q1 and q2 every row would chain a store to a
			 * load; four independent sums hide the latency of one);
			 * the same additions in the same order as the loop below. */
			int64_t j0 = 0;
			for (; j0 + 64 <= cc; j0 += 64)
				col_block_sums(q1 + j0, q2 + j0, 4, a + c0 + j0, sa + j0,
					       b ? b + c0 + j0 : NULL, sb + j0, r0, r1, c, 0);
			for (; j0 + 16 <= cc; j0 += 16)
				col_block_sums(q1 + j0, q2 + j0, 1, a + c0 + j0, sa + j0,
					       b ? b + c0 + j0 : NULL, sb + j0, r0, r1, c, 0);
			for (int64_t j = j0; j < cc; j++)
				q1[j] = q2[j] = 0;
			for (int64_t r = r0; r < r1 && j0 < cc; r++) {
				const float *ar = a + r * c + c0 + j0;
				if (b) {
					const float *br = b + r * c + c0 + j0;
#pragma omp simd
					for (int64_t j = 0; j < cc - j0; j++) {
						float u = ar[j] - sa[j0 + j];
						q1[j0 + j] += u;
						q2[j0 + j] += u * (br[j] - sb[j0 + j]);
					}
				} else {
#pragma omp simd
					for (int64_t j = 0; j < cc - j0; j++)
						q1[j0 + j] += ar[j] - sa[j0 + j];
				}
			}
		}
		for (int64_t j = 0; j < cc; j++) {
			double t1 = 0, t2 = 0;
			for (int64_t k = 0; k < nch; k++) {
				t1 += p1[k * RED_COLS + j];
				t2 += p2[k * RED_COLS + j];
			}
			if (s1)
				s1[c0 + j] = t1;
			if (s2)
				s2[c0 + j] = t2;
		}
	}
}

/* db[j] += sum_r dy[r,j] */
static void bias_grad(float *db, const float *dy, int64_t rows, int64_t c)
{
	double s[4096];
	for (int64_t c0 = 0; c0 < c; c0 += 4096) {
		int64_t cc = c - c0 < 4096 ? c - c0 : 4096;
		if (cc == c) {
			col_sums(s, NULL, dy, NULL, NULL, NULL, rows, c);
		} else {
			for (int64_t j = 0; j < cc; j++) {
				double t = 0;
				for (int64_t r = 0; r < rows; r++)
					t += dy[r * c + c0 + j];
				s[j] = t;
			}
		}
		for (int64_t j = 0; j < cc; j++)
			db[c0 + j] += (float)s[j];
	}
}

/* ---- standard convolution ------------------------------------------------- */

static int is_pointwise(int k, int stride, int pad)
{
	return k == 1 && stride == 1 && pad == 0;
}

int64_t rml_conv2d_workspace(int64_t n, int64_t h, int64_t w, int64_t cin, int k, int stride,
			     int pad)
{
	if (is_pointwise(k, stride, pad))
		return 0;
	int64_t oh = rml_conv_out(h, k, stride, pad), ow = rml_conv_out(w, k, stride, pad);
	return n * oh * ow * (int64_t)k * k * cin;
}

HOT static void im2col(float *col, const float *x, int64_t n, int64_t h, int64_t w, int64_t cin,
		   int k, int stride, int pad, int64_t oh, int64_t ow)
{
	int64_t K = (int64_t)k * k * cin;
#pragma omp parallel for schedule(static) if (n * oh * ow * K > PAR_MIN)
	for (int64_t row = 0; row < n * oh; row++) {
		int64_t b = row / oh, oy = row % oh;
		for (int64_t ox = 0; ox < ow; ox++) {
			float *dst = col + (row * ow + ox) * K;
			for (int ky = 0; ky < k; ky++) {
				int64_t iy = oy * stride - pad + ky;
				for (int kx = 0; kx < k; kx++) {
					int64_t ix = ox * stride - pad + kx;
					float *d = dst + ((int64_t)ky * k + kx) * cin;
					if (iy < 0 || iy >= h || ix < 0 || ix >= w)
						memset(d, 0, (size_t)cin * sizeof *d);
					else
						memcpy(d, x + ((b * h + iy) * w + ix) * cin,
						       (size_t)cin * sizeof *d);
				}
			}
		}
	}
}

/* dx += col2im(dcol): split by image, so writes never collide. With
 * `set` each image's dx is zeroed first, by the thread that then adds
 * into it while the image is in its cache. */
HOT static void col2im_add(float *dx, const float *col, int64_t n, int64_t h, int64_t w, int64_t cin,
		       int k, int stride, int pad, int64_t oh, int64_t ow, int set)
{
	int64_t K = (int64_t)k * k * cin;
#pragma omp parallel for schedule(static) if (n > 1 && n * oh * ow * K > PAR_MIN)
	for (int64_t b = 0; b < n; b++) {
		if (set)
			memset(dx + b * h * w * cin, 0, (size_t)(h * w * cin) * sizeof *dx);
		for (int64_t oy = 0; oy < oh; oy++)
			for (int64_t ox = 0; ox < ow; ox++) {
				const float *src = col + ((b * oh + oy) * ow + ox) * K;
				for (int ky = 0; ky < k; ky++) {
					int64_t iy = oy * stride - pad + ky;
					if (iy < 0 || iy >= h)
						continue;
					for (int kx = 0; kx < k; kx++) {
						int64_t ix = ox * stride - pad + kx;
						if (ix < 0 || ix >= w)
							continue;
						float *d = dx + ((b * h + iy) * w + ix) * cin;
						const float *s = src + ((int64_t)ky * k + kx) * cin;
						for (int64_t c = 0; c < cin; c++)
							d[c] += s[c];
					}
				}
			}
	}
}

/* Images per block of an im2col convolution: a block's columns (about
 * 1 MB) stay in cache between being written and being read, where a
 * whole batch's (28 MB for a 3x3 over 96 channels at 8x8 and batch 128)
 * would go out to memory and back. Returns 0 when blocks would not pay:
 * all columns within CONV_WHOLE_BYTES (blocks then cost more in packing
 * and thread starts than they save; measured on 3x3 convolutions at
 * 4x4), or fewer images than two blocks per thread of `threads`. The
 * workspace holds the whole batch, so one block per thread always fits.
 * Blocks do not change a bit of y or dx; they do decide how the weight
 * gradient's sums are grouped, so for dw they are chosen as for one
 * thread. */
#define CONV_BLOCK_BYTES (1024 * 1024)
#define CONV_WHOLE_BYTES (8 * 1024 * 1024)
static int64_t conv_block(int64_t n, int64_t ohw, int64_t K, int threads)
{
	int64_t per_image = ohw * K * (int64_t)sizeof(float);
	if (n * per_image <= CONV_WHOLE_BYTES)
		return 0;
	int64_t bi = CONV_BLOCK_BYTES / per_image;
	if (bi < 1)
		bi = 1;
	return n >= 2 * bi * threads ? bi : 0;
}

void rml_conv2d_forward(float *y, float *col, const float *x, const float *wt, const float *b,
			int64_t n, int64_t h, int64_t w, int64_t cin, int64_t cout, int k,
			int stride, int pad)
{
	int64_t oh = rml_conv_out(h, k, stride, pad), ow = rml_conv_out(w, k, stride, pad);
	int64_t rows = n * oh * ow, K = (int64_t)k * k * cin;
	if (is_pointwise(k, stride, pad)) {
		rml_linear_forward(y, x, wt, b, rows, K, cout);
		return;
	}
	int64_t bi = conv_block(n, oh * ow, K, omp_get_max_threads());
	if (!bi) {
		im2col(col, x, n, h, w, cin, k, stride, pad, oh, ow);
		rml_linear_forward(y, col, wt, b, rows, K, cout);
		return;
	}
	/* Threads take whole blocks, each in its own slice of the workspace;
	 * the loops and products inside run on the thread that calls them. */
	int64_t nb = (n + bi - 1) / bi;
#pragma omp parallel for schedule(static)
	for (int64_t blk = 0; blk < nb; blk++) {
		int64_t i0 = blk * bi, ni = n - i0 < bi ? n - i0 : bi;
		float *c = col + omp_get_thread_num() * bi * oh * ow * K;
		im2col(c, x + i0 * h * w * cin, ni, h, w, cin, k, stride, pad, oh, ow);
		rml_linear_forward(y + i0 * oh * ow * cout, c, wt, b, ni * oh * ow, K, cout);
	}
}

static void linear_backward(float *dx, float *dw, float *db, const float *dy, const float *x,
			    const float *wt, int64_t rows, int64_t in, int64_t out, int set);

static void conv2d_backward(float *dx, float *dw, float *db, float *col, const float *dy,
			    const float *x, const float *wt, int64_t n, int64_t h, int64_t w,
			    int64_t cin, int64_t cout, int k, int stride, int pad, int set)
{
	int64_t oh = rml_conv_out(h, k, stride, pad), ow = rml_conv_out(w, k, stride, pad);
	int64_t rows = n * oh * ow, K = (int64_t)k * k * cin, ohw = oh * ow;
	if (db)
		bias_grad(db, dy, rows, cout);
	if (is_pointwise(k, stride, pad)) {
		linear_backward(dx, dw, NULL, dy, x, wt, rows, K, cout, set);
		return;
	}
	/* dw: each block of images into its own partial sum (threads take
	 * whole blocks, each in its own slice of the workspace), then the
	 * partials added to dw in block order: the same bits at any thread
	 * count, one thread taking every block when the slices do not fit. */
	if (dw) {
		int64_t bw = conv_block(n, ohw, K, 1);
		int64_t nbw = bw ? (n + bw - 1) / bw : 0, slice = bw * ohw * K;
		int nt = omp_get_max_threads();
		if (bw && slice + nbw * K * cout <= n * ohw * K) {
			if (nt * slice + nbw * K * cout > n * ohw * K)
				nt = 1;
			float *part = col + nt * slice;
#pragma omp parallel for schedule(static) num_threads(nt)
			for (int64_t blk = 0; blk < nbw; blk++) {
				int64_t i0 = blk * bw, ni = n - i0 < bw ? n - i0 : bw;
				float *c = col + omp_get_thread_num() * slice;
				im2col(c, x + i0 * h * w * cin, ni, h, w, cin, k, stride, pad, oh, ow);
				rml_gemm_wgrad_part(ni * ohw, K, cout, c, K, dy + i0 * ohw * cout, cout,
						    part + blk * K * cout);
			}
			rml_gemm_add_parts(nbw, K, cout, part, dw, cout);
		} else {
			im2col(col, x, n, h, w, cin, k, stride, pad, oh, ow);
			rml_gemm_wgrad(rows, K, cout, col, K, dy, cout, dw, cout);
		}
	}
	if (!dx)
		return;
	int64_t bi = conv_block(n, ohw, K, omp_get_max_threads());
	if (!bi) {
		rml_gemm_rows(rows, K, cout, dy, cout, wt, cout, 1, 0.0f, NULL, col, K);
		col2im_add(dx, col, n, h, w, cin, k, stride, pad, oh, ow, set);
		return;
	}
	/* dx: blocks across threads; an image's dx is written by one thread. */
	int64_t nb = (n + bi - 1) / bi;
#pragma omp parallel for schedule(static)
	for (int64_t blk = 0; blk < nb; blk++) {
		int64_t i0 = blk * bi, ni = n - i0 < bi ? n - i0 : bi;
		float *c = col + omp_get_thread_num() * bi * ohw * K;
		rml_gemm_rows(ni * ohw, K, cout, dy + i0 * ohw * cout, cout, wt, cout, 1, 0.0f, NULL, c,
			      K);
		if (set)
			memset(dx + i0 * h * w * cin, 0, (size_t)(ni * h * w * cin) * sizeof *dx);
		col2im_add(dx + i0 * h * w * cin, c, ni, h, w, cin, k, stride, pad, oh, ow, 0);
	}
}

void rml_conv2d_backward(float *dx, float *dw, float *db, float *col, const float *dy,
			 const float *x, const float *wt, int64_t n, int64_t h, int64_t w,
			 int64_t cin, int64_t cout, int k, int stride, int pad)
{
	conv2d_backward(dx, dw, db, col, dy, x, wt, n, h, w, cin, cout, k, stride, pad, 0);
}

void rml_conv2d_backward_set(float *dx, float *dw, float *db, float *col, const float *dy,
			     const float *x, const float *wt, int64_t n, int64_t h, int64_t w,
			     int64_t cin, int64_t cout, int k, int stride, int pad)
{
	conv2d_backward(dx, dw, db, col, dy, x, wt, n, h, w, cin, cout, k, stride, pad, 1);
}

/* ---- depthwise convolution -------------------------------------------------- */

/* o[0..c) = (b, or 0) + the sum of taps xs[t] * ws[t] in tap order, each
 * product rounded and then added (no fused multiply-add: -std=c11 keeps
 * contraction off), so every element is the sequence of operations of
 * a loop that adds one tap at a time into o; here the sum stays in
 * registers over all taps instead of passing through o after each. */
static inline __attribute__((always_inline)) void
dw_taps(float *o, const float *b, const float *const *xs, const float *const *ws, int nt,
	int64_t c)
{
	int64_t j = 0;
	for (; j + 64 <= c; j += 64) {
		v16 a0 = { 0 }, a1 = { 0 }, a2 = { 0 }, a3 = { 0 };
		if (b) {
			a0 = V16(b + j);
			a1 = V16(b + j + 16);
			a2 = V16(b + j + 32);
			a3 = V16(b + j + 48);
		}
		for (int t = 0; t < nt; t++) {
			const float *xt = xs[t] + j, *wt = ws[t] + j;
			a0 = a0 + V16(xt) * V16(wt);
			a1 = a1 + V16(xt + 16) * V16(wt + 16);
			a2 = a2 + V16(xt + 32) * V16(wt + 32);
			a3 = a3 + V16(xt + 48) * V16(wt + 48);
		}
		*(v16u *)(o + j) = a0;
		*(v16u *)(o + j + 16) = a1;
		*(v16u *)(o + j + 32) = a2;
		*(v16u *)(o + j + 48) = a3;
	}
	for (; j + 16 <= c; j += 16) {
		v16 a0 = { 0 };
		if (b)
			a0 = V16(b + j);
		for (int t = 0; t < nt; t++)
			a0 = a0 + V16(xs[t] + j) * V16(ws[t] + j);
		*(v16u *)(o + j) = a0;
	}
	for (; j < c; j++) {
		float a = b ? b[j] : 0.0f;
		for (int t = 0; t < nt; t++)
			a = a + xs[t][j] * ws[t][j];
		o[j] = a;
	}
}

/* Kernels up to this many taps keep their sums in registers (dw_taps). */
#define DW_TAPS_MAX 49

HOT void rml_dwconv2d_forward(float *y, const float *x, const float *wt, const float *b, int64_t n,
			  int64_t h, int64_t w, int64_t c, int k, int stride, int pad)
{
	int64_t oh = rml_conv_out(h, k, stride, pad), ow = rml_conv_out(w, k, stride, pad);
	int fast = (int64_t)k * k <= DW_TAPS_MAX;
#pragma omp parallel for schedule(static) if (n * oh * ow * c > PAR_MIN)
	for (int64_t row = 0; row < n * oh; row++) {
		int64_t bi = row / oh, oy = row % oh;
		for (int64_t ox = 0; ox < ow; ox++) {
			float *o = y + (row * ow + ox) * c;
			if (fast) {
				const float *xs[DW_TAPS_MAX], *ws[DW_TAPS_MAX];
				int nt = 0;
				for (int ky = 0; ky < k; ky++) {
					int64_t iy = oy * stride - pad + ky;
					if (iy < 0 || iy >= h)
						continue;
					for (int kx = 0; kx < k; kx++) {
						int64_t ix = ox * stride - pad + kx;
						if (ix < 0 || ix >= w)
							continue;
						xs[nt] = x + ((bi * h + iy) * w + ix) * c;
						ws[nt++] = wt + ((int64_t)ky * k + kx) * c;
					}
				}
				dw_taps(o, b, xs, ws, nt, c);
				continue;
			}
			if (b)
				memcpy(o, b, (size_t)c * sizeof *o);
			else
				memset(o, 0, (size_t)c * sizeof *o);
			for (int ky = 0; ky < k; ky++) {
				int64_t iy = oy * stride - pad + ky;
				if (iy < 0 || iy >= h)
					continue;
				for (int kx = 0; kx < k; kx++) {
					int64_t ix = ox * stride - pad + kx;
					if (ix < 0 || ix >= w)
						continue;
					const float *xi = x + ((bi * h + iy) * w + ix) * c;
					const float *wi = wt + ((int64_t)ky * k + kx) * c;
#pragma omp simd
					for (int64_t j = 0; j < c; j++)
						o[j] += xi[j] * wi[j];
				}
			}
		}
	}
}

HOT static void dwconv2d_backward(float *dx, float *dw, float *db, const float *dy,
				  const float *x, const float *wt, int64_t n, int64_t h, int64_t w,
				  int64_t c, int k, int stride, int pad, int set)
{
	int64_t oh = rml_conv_out(h, k, stride, pad), ow = rml_conv_out(w, k, stride, pad);
	if (db)
		bias_grad(db, dy, n * oh * ow, c);
	if (dx) {
#pragma omp parallel for schedule(static) if (n > 1 && n * oh * ow * c > PAR_MIN)
		for (int64_t bi = 0; bi < n; bi++) {
			/* A first writer zeroes the image it is about to add into. */
			if (set)
				memset(dx + bi * h * w * c, 0, (size_t)(h * w * c) * sizeof *dx);
			for (int64_t oy = 0; oy < oh; oy++)
				for (int64_t ox = 0; ox < ow; ox++) {
					const float *g = dy + ((bi * oh + oy) * ow + ox) * c;
					for (int ky = 0; ky < k; ky++) {
						int64_t iy = oy * stride - pad + ky;
						if (iy < 0 || iy >= h)
							continue;
						for (int kx = 0; kx < k; kx++) {
							int64_t ix = ox * stride - pad + kx;
							if (ix < 0 || ix >= w)
								continue;
							float *d = dx + ((bi * h + iy) * w + ix) * c;
							const float *wi = wt + ((int64_t)ky * k + kx) * c;
#pragma omp simd
							for (int64_t j = 0; j < c; j++)
								d[j] += g[j] * wi[j];
						}
					}
				}
		}
	}
	if (dw) {
		/* Output rows (image, oy) are cut into DW_CHUNKS pieces that
		 * depend only on the shape; each piece sums its taps in float,
		 * vectorised over contiguous channels, into its own slot, and
		 * the slots are added in piece order in double. So the result
		 * does not depend on the thread count, and every load is a
		 * contiguous run of channels. Channels go in blocks so the
		 * slots stay a fixed size on the stack. */
		int64_t kk = (int64_t)k * k, rows = n * oh;
		int64_t cb = DW_SLOT / kk;
		if (cb > 8)
			cb -= cb % 8;
		if (cb < 1)
			cb = 1;
		int64_t nch = rows < DW_CHUNKS ? rows : DW_CHUNKS;
		float part[DW_CHUNKS * DW_SLOT];
		for (int64_t c0 = 0; c0 < c; c0 += cb) {
			int64_t cc = c - c0 < cb ? c - c0 : cb;
#pragma omp parallel for schedule(static) if (nch > 1 && n * oh * ow * c > PAR_MIN)
			for (int64_t t = 0; t < nch; t++) {
				float *acc = part + t * DW_SLOT;
				memset(acc, 0, (size_t)(kk * cc) * sizeof *acc);
				int64_t r0 = rows * t / nch, r1 = rows * (t + 1) / nch;
				for (int64_t row = r0; row < r1; row++) {
					int64_t bi = row / oh, oy = row % oh;
					for (int64_t ox = 0; ox < ow; ox++) {
						const float *g = dy + (row * ow + ox) * c + c0;
						for (int ky = 0; ky < k; ky++) {
							int64_t iy = oy * stride - pad + ky;
							if (iy < 0 || iy >= h)
								continue;
							for (int kx = 0; kx < k; kx++) {
								int64_t ix = ox * stride - pad + kx;
								if (ix < 0 || ix >= w)
									continue;
								const float *xi = x + ((bi * h + iy) * w + ix) * c + c0;
								float *a = acc + ((int64_t)ky * k + kx) * cc;
#pragma omp simd
								for (int64_t j = 0; j < cc; j++)
									a[j] += g[j] * xi[j];
							}
						}
					}
				}
			}
			for (int64_t q = 0; q < kk; q++)
				for (int64_t j = 0; j < cc; j++) {
					double s = 0;
					for (int64_t t = 0; t < nch; t++)
						s += part[t * DW_SLOT + q * cc + j];
					dw[q * c + c0 + j] += (float)s;
				}
		}
	}
}

void rml_dwconv2d_backward(float *dx, float *dw, float *db, const float *dy, const float *x,
			   const float *wt, int64_t n, int64_t h, int64_t w, int64_t c, int k,
			   int stride, int pad)
{
	dwconv2d_backward(dx, dw, db, dy, x, wt, n, h, w, c, k, stride, pad, 0);
}

void rml_dwconv2d_backward_set(float *dx, float *dw, float *db, const float *dy, const float *x,
			       const float *wt, int64_t n, int64_t h, int64_t w, int64_t c, int k,
			       int stride, int pad)
{
	dwconv2d_backward(dx, dw, db, dy, x, wt, n, h, w, c, k, stride, pad, 1);
}

/* ---- linear ------------------------------------------------------------------- */

void rml_linear_forward(float *y, const float *x, const float *wt, const float *b,
			int64_t rows, int64_t in, int64_t out)
{
	rml_gemm_rows(rows, out, in, x, in, wt, out, 0, 0.0f, b, y, out);
}

/* A first writer's dx is the product alone (beta 0): every element starts
 * from 0 as it would from a zeroed dx, so the bits are the same. */
static void linear_backward(float *dx, float *dw, float *db, const float *dy, const float *x,
			    const float *wt, int64_t rows, int64_t in, int64_t out, int set)
{
	if (db)
		bias_grad(db, dy, rows, out);
	if (dw)
		rml_gemm_wgrad(rows, in, out, x, in, dy, out, dw, out);
	if (dx)
		rml_gemm_rows(rows, in, out, dy, out, wt, out, 1, set ? 0.0f : 1.0f, NULL, dx, in);
}

void rml_linear_backward(float *dx, float *dw, float *db, const float *dy, const float *x,
			 const float *wt, int64_t rows, int64_t in, int64_t out)
{
	linear_backward(dx, dw, db, dy, x, wt, rows, in, out, 0);
}

void rml_linear_backward_set(float *dx, float *dw, float *db, const float *dy, const float *x,
			     const float *wt, int64_t rows, int64_t in, int64_t out)
{
	linear_backward(dx, dw, db, dy, x, wt, rows, in, out, 1);
}

/* ---- batch normalisation ---------------------------------------------------------- */

/* mean, rstd and the running update of c channels from the sums over
 * rows of x - shift and of its square (shift: the first row). */
static void bn_stats_from_sums(float *mean, float *rstd, float *run_mean, float *run_var,
			       const double *s1, const double *s2, const float *shift,
			       int64_t rows, int64_t c, float momentum, float eps)
{
	for (int64_t j = 0; j < c; j++) {
		double d1 = s1[j] / (double)rows, m = shift[j] + d1;
		double var = s2[j] / (double)rows - d1 * d1;
		if (var < 0)
			var = 0;
		mean[j] = (float)m;
		/* Float32 rule (kernels.h): a sum of squared deviations
		 * beyond FLT_MAX is infinite, so rstd is 0. */
		rstd[j] = var * (double)rows > FLT_MAX ? 0.0f : (float)(1.0 / sqrt(var + eps));
		if (run_mean && run_var) {
			double unbiased = rows > 1 ? var * (double)rows / (double)(rows - 1) : var;
			run_mean[j] = (float)((1 - momentum) * run_mean[j] + momentum * m);
			run_var[j] = (float)((1 - momentum) * run_var[j] + momentum * unbiased);
		}
	}
}

/* Batch statistics into mean/rstd and the running update (see
 * rml_bn_forward_train). */
HOT static void bn_train_stats(float *mean, float *rstd, float *run_mean, float *run_var,
			   const float *x, int64_t rows, int64_t c, float momentum, float eps)
{
	double s1[4096], s2[4096];
	for (int64_t c0 = 0; c0 < c; c0 += 4096) {
		int64_t cc = c - c0 < 4096 ? c - c0 : 4096;
		/* Shifted by the first row: K + s1/n is the mean, s2/n - (s1/n)^2
		 * the variance. */
		const float *shift = x + c0;
		if (cc == c) {
			col_sums(s1, s2, x, shift, x, shift, rows, c);
		} else {
			for (int64_t j = 0; j < cc; j++) {
				double a = 0, q = 0;
				for (int64_t r = 0; r < rows; r++) {
					double v = (double)x[r * c + c0 + j] - shift[j];
					a += v;
					q += v * v;
				}
				s1[j] = a;
				s2[j] = q;
			}
		}
		bn_stats_from_sums(mean + c0, rstd + c0, run_mean ? run_mean + c0 : NULL,
				   run_var ? run_var + c0 : NULL, s1, s2, shift, rows, cc, momentum,
				   eps);
	}
}

/* Float32 rule for the batch-norm transform (kernels.h): the engine
 * computes (x - m) a + b (or x a + (b - m a) in two roundings); PyTorch's
 * float32 CPU kernel computes fma(x, a, fma(-m, a, b)) (its vector
 * x * alpha + beta, contracted). They overflow alike unless m a or b is
 * near the float32 range, which only a fault makes happen: then, and only
 * then, PyTorch's form. */
#define BN_TAME (FLT_MAX / 16777216.0f)

static int bn_wild(const float *m, const float *a, const float *b, int64_t c)
{
	for (int64_t j = 0; j < c; j++)
		if (!(fabsf(a[j]) <= BN_TAME && fabsf(m[j] * a[j]) <= BN_TAME &&
		      fabsf(b[j]) <= BN_TAME))
			return 1;
	return 0;
}

/* y = fma(x, a, fma(-m, a, b)), then SiLU when silu is set; the faulty
 * case only. */
static void bn_apply_f32(float *y, const float *x, const float *m, const float *a,
			 const float *b, int64_t rows, int64_t c, int silu)
{
	float sh[4096];
	for (int64_t j = 0; j < c; j++)
		sh[j] = fmaf(-m[j], a[j], b[j]);
	for (int64_t r = 0; r < rows; r++)
		for (int64_t j = 0; j < c; j++) {
			float v = fmaf(x[r * c + j], a[j], sh[j]);
			y[r * c + j] = silu ? v / (1.0f + expf(-v)) : v;
		}
}

/* y = bn(x) with the batch statistics mean, rstd. */
HOT static void bn_apply_train(float *y, const float *x, const float *mean, const float *rstd,
			       const float *gamma, const float *beta, int64_t rows, int64_t c)
{
	if (c <= 4096) {
		float a[4096];
		for (int64_t j = 0; j < c; j++)
			a[j] = rstd[j] * gamma[j];
		if (bn_wild(mean, a, beta, c)) {
			bn_apply_f32(y, x, mean, a, beta, rows, c, 0);
			return;
		}
	}
#pragma omp parallel for schedule(static) if (rows * c > PAR_MIN)
	for (int64_t r = 0; r < rows; r++) {
		const float *xr = x + r * c;
		float *yr = y + r * c;
#pragma omp simd
		for (int64_t j = 0; j < c; j++)
			yr[j] = (xr[j] - mean[j]) * rstd[j] * gamma[j] + beta[j];
	}
}

void rml_bn_forward_train(float *y, float *mean, float *rstd, float *run_mean, float *run_var,
			  const float *x, const float *gamma, const float *beta, int64_t rows,
			  int64_t c, float momentum, float eps)
{
	bn_train_stats(mean, rstd, run_mean, run_var, x, rows, c, momentum, eps);
	bn_apply_train(y, x, mean, rstd, gamma, beta, rows, c);
}

/* From sd = Σdy and sdx = Σdy·(x − mean) per channel of a training-mode
 * batch norm: dgamma += rstd·sdx, dbeta += sd (each may be NULL), and the
 * coefficients of dx = g·rstd·(dy − Σdy/N − x̂·Σdy·x̂/N)
 * = k1·dy + k2·(x − mean) + k3. Shared by the plain and the fused backward. */
static void bn_train_grad_coeffs(float *k1, float *k2, float *k3, float *dgamma, float *dbeta,
				 const double *sd, const double *sdx, const float *gamma,
				 const float *rstd, int64_t rows, int64_t c)
{
	for (int64_t j = 0; j < c; j++) {
		double sxh = rstd[j] * sdx[j];
		if (dgamma)
			dgamma[j] += (float)sxh;
		if (dbeta)
			dbeta[j] += (float)sd[j];
		double a = (double)gamma[j] * rstd[j];
		double mdy = sd[j] / (double)rows, mxh = sxh / (double)rows;
		k1[j] = (float)a;
		k2[j] = (float)(-a * mxh * rstd[j]);
		k3[j] = (float)(-a * mdy);
	}
}

HOT static void bn_backward_train(float *dx, float *dgamma, float *dbeta, const float *dy,
				  const float *x, const float *mean, const float *rstd,
				  const float *gamma, int64_t rows, int64_t c, int set)
{
	/* Σdy and Σdy·(x − mean) = Σdy·x̂ / rstd. */
	for (int64_t c0 = 0; c0 < c; c0 += 4096) {
		int64_t cc = c - c0 < 4096 ? c - c0 : 4096;
		double sd[4096], sdx[4096];
		if (cc == c) {
			col_sums(sd, sdx, dy, NULL, x, mean, rows, c);
		} else {
			for (int64_t j = 0; j < cc; j++) {
				double a = 0, q = 0;
				for (int64_t r = 0; r < rows; r++) {
					a += dy[r * c + c0 + j];
					q += (double)dy[r * c + c0 + j] * ((double)x[r * c + c0 + j] - mean[c0 + j]);
				}
				sd[j] = a;
				sdx[j] = q;
			}
		}
		float k1[4096], k2[4096], k3[4096];
		bn_train_grad_coeffs(k1, k2, k3, dgamma ? dgamma + c0 : NULL, dbeta ? dbeta + c0 : NULL,
				     sd, sdx, gamma + c0, rstd + c0, rows, cc);
		if (!dx)
			continue;
#pragma omp parallel for schedule(static) if (rows * c > PAR_MIN)
		for (int64_t r = 0; r < rows; r++) {
			const float *g = dy + r * c + c0, *xr = x + r * c + c0, *mr = mean + c0;
			float *d = dx + r * c + c0;
			/* A first writer adds to 0.0f, not to what dx held:
			 * the bits of a zeroed dx (-0 becomes +0 alike). */
			if (set) {
#pragma omp simd
				for (int64_t j = 0; j < cc; j++)
					d[j] = 0.0f + (k1[j] * g[j] + k2[j] * (xr[j] - mr[j]) + k3[j]);
			} else {
#pragma omp simd
				for (int64_t j = 0; j < cc; j++)
					d[j] += k1[j] * g[j] + k2[j] * (xr[j] - mr[j]) + k3[j];
			}
		}
	}
}

void rml_bn_backward_train(float *dx, float *dgamma, float *dbeta, const float *dy,
			   const float *x, const float *mean, const float *rstd,
			   const float *gamma, int64_t rows, int64_t c)
{
	bn_backward_train(dx, dgamma, dbeta, dy, x, mean, rstd, gamma, rows, c, 0);
}

void rml_bn_backward_train_set(float *dx, float *dgamma, float *dbeta, const float *dy,
			       const float *x, const float *mean, const float *rstd,
			       const float *gamma, int64_t rows, int64_t c)
{
	bn_backward_train(dx, dgamma, dbeta, dy, x, mean, rstd, gamma, rows, c, 1);
}

void rml_bn_forward_eval(float *y, const float *x, const float *gamma, const float *beta,
			 const float *run_mean, const float *run_var, int64_t rows, int64_t c,
			 float eps)
{
	float sc[4096], sh[4096];
	for (int64_t c0 = 0; c0 < c; c0 += 4096) {
		int64_t cc = c - c0 < 4096 ? c - c0 : 4096;
		for (int64_t j = 0; j < cc; j++) {
			float r = (float)(1.0 / sqrt((double)run_var[c0 + j] + eps));
			sc[j] = gamma[c0 + j] * r;
			sh[j] = beta[c0 + j] - run_mean[c0 + j] * sc[j];
		}
		if (bn_wild(run_mean + c0, sc, beta + c0, cc)) {
			float *yc = y + c0;
			const float *xc = x + c0;
			for (int64_t j = 0; j < cc; j++)
				sh[j] = fmaf(-run_mean[c0 + j], sc[j], beta[c0 + j]);
			for (int64_t r = 0; r < rows; r++)
				for (int64_t j = 0; j < cc; j++)
					yc[r * c + j] = fmaf(xc[r * c + j], sc[j], sh[j]);
			continue;
		}
#pragma omp parallel for schedule(static) if (rows * c > PAR_MIN)
		for (int64_t r = 0; r < rows; r++) {
			const float *xr = x + r * c + c0;
			float *yr = y + r * c + c0;
#pragma omp simd
			for (int64_t j = 0; j < cc; j++)
				yr[j] = xr[j] * sc[j] + sh[j];
		}
	}
}

void rml_bn_backward_eval(float *dx, float *dgamma, float *dbeta, const float *dy,
			  const float *x, const float *gamma, const float *run_mean,
			  const float *run_var, int64_t rows, int64_t c, float eps)
{
	for (int64_t c0 = 0; c0 < c; c0 += 4096) {
		int64_t cc = c - c0 < 4096 ? c - c0 : 4096;
		float rs[4096], k1[4096];
		for (int64_t j = 0; j < cc; j++) {
			rs[j] = (float)(1.0 / sqrt((double)run_var[c0 + j] + eps));
			k1[j] = gamma[c0 + j] * rs[j];
		}
		if (dgamma || dbeta) {
			double sd[4096], sdx[4096];
			if (cc == c) {
				col_sums(sd, sdx, dy, NULL, x, run_mean, rows, c);
			} else {
				for (int64_t j = 0; j < cc; j++) {
					double a = 0, q = 0;
					for (int64_t r = 0; r < rows; r++) {
						a += dy[r * c + c0 + j];
						q += (double)dy[r * c + c0 + j] *
						     ((double)x[r * c + c0 + j] - run_mean[c0 + j]);
					}
					sd[j] = a;
					sdx[j] = q;
				}
			}
			for (int64_t j = 0; j < cc; j++) {
				if (dgamma)
					dgamma[c0 + j] += (float)(rs[j] * sdx[j]);
				if (dbeta)
					dbeta[c0 + j] += (float)sd[j];
			}
		}
		if (!dx)
			continue;
#pragma omp parallel for schedule(static) if (rows * c > PAR_MIN)
		for (int64_t r = 0; r < rows; r++) {
			const float *g = dy + r * c + c0;
			float *d = dx + r * c + c0;
#pragma omp simd
			for (int64_t j = 0; j < cc; j++)
				d[j] += k1[j] * g[j];
		}
	}
}

/* ---- batch normalisation followed by SiLU ----------------------------------------
 * z = silu(y), y = (x - m) a + b per channel, with m, a = gamma rstd and
 * b = beta from the batch (training) or the running statistics (eval).
 * y is never stored: backward recomputes it from x, which saves two of the
 * five passes over the feature map forward and four of ten backward (the
 * pair is memory-bound at every size of mvit-xxs). */

static inline float silu1(float y)
{
	return y / (1.0f + vexpf(-y));
}

static inline float dsilu1(float y)
{
	float sg = 1.0f / (1.0f + vexpf(-y));
	return sg * (1.0f + y * (1.0f - sg));
}

/* z = silu((x - m) a + b) over rows of c channels (c <= 4096). */
HOT static void bnsilu_apply(float *z, const float *x, const float *m, const float *a,
			 const float *b, int64_t rows, int64_t c)
{
#pragma omp parallel for schedule(static) if (rows * c > PAR_MIN)
	for (int64_t r = 0; r < rows; r++) {
		const float *xr = x + r * c;
		float *zr = z + r * c;
#pragma omp simd
		for (int64_t j = 0; j < c; j++)
			zr[j] = silu1((xr[j] - m[j]) * a[j] + b[j]);
	}
}

/* s1[j] = sum_r dy[r,j] and s2[j] = sum_r dy[r,j] (x[r,j] - m[j]), where
 * dy = dz silu'(y) is recomputed, chunked exactly as col_sums so the sums
 * do not depend on the thread count. */
HOT static void bnsilu_sums(double *s1, double *s2, const float *dz, const float *x,
			const float *m, const float *a, const float *b, int64_t rows, int64_t c)
{
	int64_t chunk = rows / RED_CHUNKS + 1;
	if (chunk < 256)
		chunk = 256;
	int64_t nch = (rows + chunk - 1) / chunk;
	float p1[RED_CHUNKS * RED_COLS], p2[RED_CHUNKS * RED_COLS];
	for (int64_t c0 = 0; c0 < c; c0 += RED_COLS) {
		int64_t cc = c - c0 < RED_COLS ? c - c0 : RED_COLS;
		const float *mc = m + c0, *ac = a + c0, *bc = b + c0;
#pragma omp parallel for schedule(static) if (rows * c > PAR_MIN && nch > 1)
		for (int64_t k = 0; k < nch; k++) {
			float *q1 = p1 + k * RED_COLS, *q2 = p2 + k * RED_COLS;
			int64_t r0 = k * chunk, r1 = (k + 1) * chunk < rows ? (k + 1) * chunk : rows;
			for (int64_t j = 0; j < cc; j++)
				q1[j] = q2[j] = 0;
			for (int64_t r = r0; r < r1; r++) {
				const float *xr = x + r * c + c0, *gr = dz + r * c + c0;
#pragma omp simd
				for (int64_t j = 0; j < cc; j++) {
					float u = xr[j] - mc[j];
					float g = gr[j] * dsilu1(u * ac[j] + bc[j]);
					q1[j] += g;
					q2[j] += g * u;
				}
			}
		}
		for (int64_t j = 0; j < cc; j++) {
			double t1 = 0, t2 = 0;
			for (int64_t k = 0; k < nch; k++) {
				t1 += p1[k * RED_COLS + j];
				t2 += p2[k * RED_COLS + j];
			}
			s1[c0 + j] = t1;
			s2[c0 + j] = t2;
		}
	}
}

/* dx += k1 dy + k2 (x - m) + k3 with dy = dz silu'(y) recomputed; with
 * `set`, dx = 0.0f + (...) (the bits of a zeroed dx, never reading it). */
HOT static void bnsilu_dx(float *dx, const float *dz, const float *x, const float *m,
		      const float *a, const float *b, const float *k1, const float *k2,
		      const float *k3, int64_t rows, int64_t c, int set)
{
#pragma omp parallel for schedule(static) if (rows * c > PAR_MIN)
	for (int64_t r = 0; r < rows; r++) {
		const float *xr = x + r * c, *gr = dz + r * c;
		float *d = dx + r * c;
		if (set) {
#pragma omp simd
			for (int64_t j = 0; j < c; j++) {
				float u = xr[j] - m[j];
				float g = gr[j] * dsilu1(u * a[j] + b[j]);
				d[j] = 0.0f + (k1[j] * g + k2[j] * u + k3[j]);
			}
		} else {
#pragma omp simd
			for (int64_t j = 0; j < c; j++) {
				float u = xr[j] - m[j];
				float g = gr[j] * dsilu1(u * a[j] + b[j]);
				d[j] += k1[j] * g + k2[j] * u + k3[j];
			}
		}
	}
}

/* z = silu(bn(x)) with the batch statistics mean, rstd. */
static void bnsilu_apply_train(float *z, const float *x, const float *mean, const float *rstd,
			       const float *gamma, const float *beta, int64_t rows, int64_t c)
{
	float a[4096];
	for (int64_t j = 0; j < c; j++)
		a[j] = rstd[j] * gamma[j];
	if (bn_wild(mean, a, beta, c))
		bn_apply_f32(z, x, mean, a, beta, rows, c, 1);
	else
		bnsilu_apply(z, x, mean, a, beta, rows, c);
}

void rml_bn_silu_forward_train(float *z, float *mean, float *rstd, float *run_mean,
			       float *run_var, const float *x, const float *gamma,
			       const float *beta, int64_t rows, int64_t c, float momentum,
			       float eps)
{
	bn_train_stats(mean, rstd, run_mean, run_var, x, rows, c, momentum, eps);
	bnsilu_apply_train(z, x, mean, rstd, gamma, beta, rows, c);
}

static void bn_silu_backward_train(float *dx, float *dgamma, float *dbeta, const float *dz,
				   const float *x, const float *mean, const float *rstd,
				   const float *gamma, const float *beta, int64_t rows, int64_t c,
				   int set)
{
	/* Zeroed: the compiler cannot see that the loop below fills what is read. */
	float a[4096] = { 0 }, k1[4096], k2[4096], k3[4096];
	double sd[4096], sdx[4096];
	for (int64_t j = 0; j < c; j++)
		a[j] = rstd[j] * gamma[j];
	bnsilu_sums(sd, sdx, dz, x, mean, a, beta, rows, c);
	bn_train_grad_coeffs(k1, k2, k3, dgamma, dbeta, sd, sdx, gamma, rstd, rows, c);
	if (dx)
		bnsilu_dx(dx, dz, x, mean, a, beta, k1, k2, k3, rows, c, set);
}

void rml_bn_silu_backward_train(float *dx, float *dgamma, float *dbeta, const float *dz,
				const float *x, const float *mean, const float *rstd,
				const float *gamma, const float *beta, int64_t rows, int64_t c)
{
	bn_silu_backward_train(dx, dgamma, dbeta, dz, x, mean, rstd, gamma, beta, rows, c, 0);
}

void rml_bn_silu_backward_train_set(float *dx, float *dgamma, float *dbeta, const float *dz,
				    const float *x, const float *mean, const float *rstd,
				    const float *gamma, const float *beta, int64_t rows, int64_t c)
{
	bn_silu_backward_train(dx, dgamma, dbeta, dz, x, mean, rstd, gamma, beta, rows, c, 1);
}

void rml_bn_silu_forward_eval(float *z, const float *x, const float *gamma, const float *beta,
			      const float *run_mean, const float *run_var, int64_t rows,
			      int64_t c, float eps)
{
	float a[4096];
	for (int64_t j = 0; j < c; j++)
		a[j] = gamma[j] * (float)(1.0 / sqrt((double)run_var[j] + eps));
	if (bn_wild(run_mean, a, beta, c))
		bn_apply_f32(z, x, run_mean, a, beta, rows, c, 1);
	else
		bnsilu_apply(z, x, run_mean, a, beta, rows, c);
}

void rml_bn_silu_backward_eval(float *dx, float *dgamma, float *dbeta, const float *dz,
			       const float *x, const float *gamma, const float *beta,
			       const float *run_mean, const float *run_var, int64_t rows,
			       int64_t c, float eps)
{
	float rs[4096], a[4096] = { 0 }, zero[4096];
	for (int64_t j = 0; j < c; j++) {
		rs[j] = (float)(1.0 / sqrt((double)run_var[j] + eps));
		a[j] = gamma[j] * rs[j];
		zero[j] = 0;
	}
	if (dgamma || dbeta) {
		double sd[4096], sdx[4096];
		bnsilu_sums(sd, sdx, dz, x, run_mean, a, beta, rows, c);
		for (int64_t j = 0; j < c; j++) {
			if (dgamma)
				dgamma[j] += (float)(rs[j] * sdx[j]);
			if (dbeta)
				dbeta[j] += (float)sd[j];
		}
	}
	if (dx)
		bnsilu_dx(dx, dz, x, run_mean, a, beta, a, zero, zero, rows, c, 0);
}

/* ---- a 1x1 convolution and the batch norm after it, backward together ---- */

/* d = 0.0f + (k1 g + k2 u + k3) per element of nr rows, u = y - m and g =
 * dz silu'(u a + b) (silu) or dz: the expressions of the first-writer
 * bnsilu_dx and bn_backward_train, so the bits of their dx. */
HOT static void bn_dy_rows(float *d, const float *dz, const float *y, const float *m,
			   const float *a, const float *b, const float *k1, const float *k2,
			   const float *k3, int64_t nr, int64_t c, int silu)
{
	for (int64_t r = 0; r < nr; r++) {
		const float *yr = y + r * c, *gr = dz + r * c;
		float *dr = d + r * c;
		if (silu) {
#pragma omp simd
			for (int64_t j = 0; j < c; j++) {
				float u = yr[j] - m[j];
				float g = gr[j] * dsilu1(u * a[j] + b[j]);
				dr[j] = 0.0f + (k1[j] * g + k2[j] * u + k3[j]);
			}
		} else {
#pragma omp simd
			for (int64_t j = 0; j < c; j++)
				dr[j] = 0.0f + (k1[j] * gr[j] + k2[j] * (yr[j] - m[j]) + k3[j]);
		}
	}
}

/* The partial sums of dw, then one slice of rows of dy per thread; kept
 * between calls per calling thread (fresh pages every call would cost
 * their faults), as gemm.c keeps its own. */
static _Thread_local float *fuse_buf;
static _Thread_local size_t fuse_cap;

void rml_conv1x1_bn_backward_train(float *dx, int set, float *dw, float *dgamma, float *dbeta,
				   float *dy_buf, const float *dz, const float *y,
				   const float *x, const float *wt, const float *mean,
				   const float *rstd, const float *gamma, const float *beta,
				   int64_t rows, int64_t cin, int64_t cout, int silu)
{
	int64_t seg = rml_gemm_wgrad_segment(), rc = rml_gemm_wgrad_chunk();
	int nt = omp_get_max_threads();
	int64_t nseg = seg > 0 ? (rows + seg - 1) / seg : 0;
	size_t need = (size_t)(nseg * cin * cout + (int64_t)nt * rc * cout);
	int fuse = nseg > 1 && (dx || dw);
	if (fuse && need > fuse_cap) {
		float *p = aligned_alloc(64, (need * sizeof(float) + 63) / 64 * 64);
		if (p) {
			free(fuse_buf);
			fuse_buf = p;
			fuse_cap = need;
		} else {
			fuse = 0;
		}
	}
	if (!fuse) {
		if (silu)
			rml_bn_silu_backward_train_set(dy_buf, dgamma, dbeta, dz, y, mean, rstd, gamma,
						       beta, rows, cout);
		else
			rml_bn_backward_train_set(dy_buf, dgamma, dbeta, dz, y, mean, rstd, gamma,
						  rows, cout);
		(set ? rml_linear_backward_set : rml_linear_backward)(dx, dw, NULL, dy_buf, x, wt,
								       rows, cin, cout);
		return;
	}
	/* The norm's sums and coefficients, as its own backward makes them. */
	float a[4096] = { 0 }, k1[4096], k2[4096], k3[4096];
	double sd[4096], sdx[4096];
	for (int64_t j = 0; j < cout; j++)
		a[j] = rstd[j] * gamma[j];
	if (silu)
		bnsilu_sums(sd, sdx, dz, y, mean, a, beta, rows, cout);
	else
		col_sums(sd, sdx, dz, NULL, y, mean, rows, cout);
	bn_train_grad_coeffs(k1, k2, k3, dgamma, dbeta, sd, sdx, gamma, rstd, rows, cout);
	/* Segments of the weight gradient's partial sums, one thread each;
	 * within one, slices of a chunk of rows: dy made, then added into the
	 * segment's partial sum and multiplied into dx while in cache. */
	float *part = fuse_buf, *slices = fuse_buf + nseg * cin * cout;
#pragma omp parallel num_threads(nt)
	{
		const float *bp = dx ? rml_gemm_pack_b(wt, cout, 1, cin, cout) : NULL;
		float *d = slices + (int64_t)omp_get_thread_num() * rc * cout;
#pragma omp for schedule(static)
		for (int64_t sg = 0; sg < nseg; sg++) {
			int64_t r0 = sg * seg, rs = rows - r0 < seg ? rows - r0 : seg;
			float *p = part + sg * cin * cout;
			if (dw)
				memset(p, 0, (size_t)(cin * cout) * sizeof *p);
			for (int64_t o = 0; o < rs; o += rc) {
				int64_t nr = rs - o < rc ? rs - o : rc, r = r0 + o;
				bn_dy_rows(d, dz + r * cout, y + r * cout, mean, a, beta, k1, k2, k3, nr,
					   cout, silu);
				if (dw)
					rml_gemm_wgrad_part_add(nr, cin, cout, x + r * cin, cin, d, cout, p);
				if (dx)
					rml_gemm_rows_packed(nr, cin, cout, d, cout, bp, wt, cout, 1,
							     set ? 0.0f : 1.0f, dx + r * cin, cin);
			}
		}
	}
	if (dw)
		rml_gemm_add_parts(nseg, cin, cout, part, dw, cout);
}

/* y = x wt (a 1x1 convolution without bias) and the shifted column sums
 * of y that bn_train_stats takes (col_sums with the first row of y as the
 * shift): each chunk of rows of col_sums made by one thread, its rows'
 * products in pieces of 64 rows, each added into the chunk's sums while
 * in cache. The same additions in the same order as col_sums, so the same
 * bits; the products have the bits of rml_linear_forward. Returns -1,
 * having done nothing, when B cannot be packed. At most RED_COLS
 * channels. */
#define FWD_PIECE 64
HOT static int conv1x1_sums(float *y, double *s1, double *s2, float *shift, const float *x,
			    const float *wt, int64_t rows, int64_t cin, int64_t cout)
{
	const float *bp = rml_gemm_pack_b(wt, cout, 0, cout, cin);
	if (!bp)
		return -1;
	rml_gemm_rows_packed(1, cout, cin, x, cin, bp, wt, cout, 0, 0.0f, y, cout);
	memcpy(shift, y, (size_t)cout * sizeof *shift);
	int64_t chunk = rows / RED_CHUNKS + 1;
	if (chunk < 256)
		chunk = 256;
	int64_t nch = (rows + chunk - 1) / chunk;
	float p1[RED_CHUNKS * RED_COLS], p2[RED_CHUNKS * RED_COLS];
#pragma omp parallel if (rows * cout > PAR_MIN && nch > 1)
	{
		const float *bq = rml_gemm_pack_b(wt, cout, 0, cout, cin);
#pragma omp for schedule(static)
		for (int64_t k = 0; k < nch; k++) {
			float *q1 = p1 + k * RED_COLS, *q2 = p2 + k * RED_COLS;
			int64_t r0 = k * chunk, r1 = (k + 1) * chunk < rows ? (k + 1) * chunk : rows;
			for (int64_t j = 0; j < cout; j++)
				q1[j] = q2[j] = 0;
			for (int64_t r = r0; r < r1; r += FWD_PIECE) {
				int64_t nr = r1 - r < FWD_PIECE ? r1 - r : FWD_PIECE;
				rml_gemm_rows_packed(nr, cout, cin, x + r * cin, cin, bq, wt, cout, 0, 0.0f,
						     y + r * cout, cout);
				/* As col_sums: 64 and 16 columns at a time in
				 * registers, the rest one by one. */
				int64_t j0 = 0;
				for (; j0 + 64 <= cout; j0 += 64)
					col_block_sums(q1 + j0, q2 + j0, 4, y + j0, shift + j0, y + j0,
						       shift + j0, r, r + nr, cout, 1);
				for (; j0 + 16 <= cout; j0 += 16)
					col_block_sums(q1 + j0, q2 + j0, 1, y + j0, shift + j0, y + j0,
						       shift + j0, r, r + nr, cout, 1);
				for (int64_t i = r; i < r + nr && j0 < cout; i++) {
					const float *yr = y + i * cout;
#pragma omp simd
					for (int64_t j = j0; j < cout; j++) {
						float u = yr[j] - shift[j];
						q1[j] += u;
						q2[j] += u * (yr[j] - shift[j]);
					}
				}
			}
		}
	}
	for (int64_t j = 0; j < cout; j++) {
		double t1 = 0, t2 = 0;
		for (int64_t k = 0; k < nch; k++) {
			t1 += p1[k * RED_COLS + j];
			t2 += p2[k * RED_COLS + j];
		}
		s1[j] = t1;
		s2[j] = t2;
	}
	return 0;
}

void rml_conv1x1_bn_forward_train(float *z, float *y, float *mean, float *rstd,
				  float *run_mean, float *run_var, const float *x,
				  const float *wt, const float *gamma, const float *beta,
				  int64_t rows, int64_t cin, int64_t cout, float momentum,
				  float eps, int silu)
{
	double s1[RED_COLS], s2[RED_COLS];
	float shift[RED_COLS];
	if (cout > RED_COLS || rml_gemm_get_backend() != RML_GEMM_OWN ||
	    conv1x1_sums(y, s1, s2, shift, x, wt, rows, cin, cout)) {
		rml_linear_forward(y, x, wt, NULL, rows, cin, cout);
		(silu ? rml_bn_silu_forward_train : rml_bn_forward_train)(
			z, mean, rstd, run_mean, run_var, y, gamma, beta, rows, cout, momentum, eps);
		return;
	}
	bn_stats_from_sums(mean, rstd, run_mean, run_var, s1, s2, shift, rows, cout, momentum, eps);
	(silu ? bnsilu_apply_train : bn_apply_train)(z, y, mean, rstd, gamma, beta, rows, cout);
}

/* ---- layer normalisation ------------------------------------------------------------- */

/* Row reductions in a fixed order: LANES interleaved partial sums, so the
 * loop vectorises without the compiler reassociating anything, combined in
 * double at the end. A plain running sum is one long dependency chain:
 * on rows of 16 to 160 values it costs several times the memory traffic.
 * The order depends only on the length, never on threads. */
#define LANES 8

static inline double lane_total(const float *acc)
{
	double t = 0;
	for (int l = 0; l < LANES; l++)
		t += acc[l];
	return t;
}

/* sum_j x[j]; *wild is set when the float32 rule (kernels.h) makes the
 * row NaN: a lane's mean whose square overflows float32. */
static inline double row_sum(const float *x, int64_t d, int *wild)
{
	float acc[LANES] = { 0 };
	int64_t j = 0;
	for (; j + LANES <= d; j += LANES)
		for (int l = 0; l < LANES; l++)
			acc[l] += x[j + l];
	for (int l = 0; j < d; j++, l++)
		acc[l] += x[j];
	for (int l = 0; l < LANES && l < d; l++) {
		float mu = acc[l] / (float)(d / LANES + (l < d % LANES));
		if (!(mu * mu <= FLT_MAX))
			*wild = 1;
	}
	return lane_total(acc);
}

/* sum_j (x[j] - m)^2 */
static inline double row_sqdev(const float *x, float m, int64_t d)
{
	float acc[LANES] = { 0 };
	int64_t j = 0;
	for (; j + LANES <= d; j += LANES)
		for (int l = 0; l < LANES; l++) {
			float t = x[j + l] - m;
			acc[l] += t * t;
		}
	for (int l = 0; j < d; j++, l++) {
		float t = x[j] - m;
		acc[l] += t * t;
	}
	return lane_total(acc);
}

HOT void rml_layernorm_forward(float *y, float *mean, float *rstd, const float *x,
			   const float *gamma, const float *beta, int64_t rows, int64_t d, float eps)
{
#pragma omp parallel for schedule(static) if (rows * d > PAR_MIN)
	for (int64_t r = 0; r < rows; r++) {
		const float *xr = x + r * d;
		/* Two passes: the deviations are summed around the mean itself. */
		int wild = 0;
		double m = row_sum(xr, d, &wild) / (double)d;
		float mf = (float)m;
		double q = row_sqdev(xr, mf, d);
		/* Float32 rule (kernels.h): a sum of squares beyond FLT_MAX is
		 * infinite (rstd 0); an overflowing lane mean makes the row NaN. */
		float rs = q > FLT_MAX ? 0.0f : (float)(1.0 / sqrt(q / (double)d + eps));
		if (wild)
			mf = rs = NAN;
		mean[r] = mf;
		rstd[r] = rs;
		float *yr = y + r * d;
#pragma omp simd
		for (int64_t j = 0; j < d; j++)
			yr[j] = (xr[j] - mf) * rs * gamma[j] + beta[j];
	}
}

HOT static void layernorm_backward(float *dx, float *dgamma, float *dbeta, const float *dy,
			       const float *x, const float *mean, const float *rstd,
			       const float *gamma, int64_t rows, int64_t d, int set)
{
	if (dgamma || dbeta) {
		int64_t nb = (d + CH_BLOCK - 1) / CH_BLOCK;
#pragma omp parallel for schedule(static) if (nb > 1 && rows * d > PAR_MIN)
		for (int64_t blk = 0; blk < nb; blk++) {
			int64_t c0 = blk * CH_BLOCK, c1 = c0 + CH_BLOCK < d ? c0 + CH_BLOCK : d;
			double g[CH_BLOCK] = { 0 }, bsum[CH_BLOCK] = { 0 };
			for (int64_t r = 0; r < rows; r++) {
				const float *xr = x + r * d, *gr = dy + r * d;
				float mr = mean[r], sr = rstd[r];
#pragma omp simd
				for (int64_t j = c0; j < c1; j++) {
					g[j - c0] += (double)(gr[j] * ((xr[j] - mr) * sr));
					bsum[j - c0] += gr[j];
				}
			}
			for (int64_t j = c0; j < c1; j++) {
				if (dgamma)
					dgamma[j] += (float)g[j - c0];
				if (dbeta)
					dbeta[j] += (float)bsum[j - c0];
			}
		}
	}
	if (!dx)
		return;
#pragma omp parallel for schedule(static) if (rows * d > PAR_MIN)
	for (int64_t r = 0; r < rows; r++) {
		const float *xr = x + r * d, *gr = dy + r * d;
		float mr = mean[r], sr = rstd[r];
		float acc_a[LANES] = { 0 }, acc_b[LANES] = { 0 };
		int64_t j = 0;
		for (; j + LANES <= d; j += LANES)
			for (int l = 0; l < LANES; l++) {
				float gx = gr[j + l] * gamma[j + l];
				acc_a[l] += gx;
				acc_b[l] += gx * ((xr[j + l] - mr) * sr);
			}
		for (int l = 0; j < d; j++, l++) {
			float gx = gr[j] * gamma[j];
			acc_a[l] += gx;
			acc_b[l] += gx * ((xr[j] - mr) * sr);
		}
		float ma = (float)(lane_total(acc_a) / (double)d);
		float mb = (float)(lane_total(acc_b) / (double)d);
		float *dr = dx + r * d;
		if (set) {
#pragma omp simd
			for (int64_t k = 0; k < d; k++) {
				float xh = (xr[k] - mr) * sr;
				dr[k] = 0.0f + sr * (gr[k] * gamma[k] - ma - xh * mb);
			}
		} else {
#pragma omp simd
			for (int64_t k = 0; k < d; k++) {
				float xh = (xr[k] - mr) * sr;
				dr[k] += sr * (gr[k] * gamma[k] - ma - xh * mb);
			}
		}
	}
}

void rml_layernorm_backward(float *dx, float *dgamma, float *dbeta, const float *dy,
			    const float *x, const float *mean, const float *rstd,
			    const float *gamma, int64_t rows, int64_t d)
{
	layernorm_backward(dx, dgamma, dbeta, dy, x, mean, rstd, gamma, rows, d, 0);
}

void rml_layernorm_backward_set(float *dx, float *dgamma, float *dbeta, const float *dy,
				const float *x, const float *mean, const float *rstd,
				const float *gamma, int64_t rows, int64_t d)
{
	layernorm_backward(dx, dgamma, dbeta, dy, x, mean, rstd, gamma, rows, d, 1);
}

/* ---- activations and elementwise -------------------------------------------------------- */

/* Elementwise loops run in blocks: threads take blocks, and the plain
 * inner loop is what the compiler vectorises. */
#define EW_BLOCK 8192

HOT static void silu_block(float *restrict y, const float *restrict x, int64_t n)
{
	for (int64_t i = 0; i < n; i++)
		y[i] = x[i] / (1.0f + vexpf(-x[i]));
}

HOT static void dsilu_block(float *restrict dx, const float *restrict dy, const float *restrict x,
			int64_t n, int set)
{
	if (set) {
		for (int64_t i = 0; i < n; i++) {
			float s = 1.0f / (1.0f + vexpf(-x[i]));
			dx[i] = 0.0f + dy[i] * s * (1.0f + x[i] * (1.0f - s));
		}
		return;
	}
	for (int64_t i = 0; i < n; i++) {
		float s = 1.0f / (1.0f + vexpf(-x[i]));
		dx[i] += dy[i] * s * (1.0f + x[i] * (1.0f - s));
	}
}

void rml_silu_forward(float *y, const float *x, int64_t n)
{
	int64_t nb = (n + EW_BLOCK - 1) / EW_BLOCK;
#pragma omp parallel for schedule(static) if (n > PAR_MIN)
	for (int64_t b = 0; b < nb; b++) {
		int64_t i0 = b * EW_BLOCK, m = n - i0 < EW_BLOCK ? n - i0 : EW_BLOCK;
		silu_block(y + i0, x + i0, m);
	}
}

static void silu_backward(float *dx, const float *dy, const float *x, int64_t n, int set)
{
	int64_t nb = (n + EW_BLOCK - 1) / EW_BLOCK;
#pragma omp parallel for schedule(static) if (n > PAR_MIN)
	for (int64_t b = 0; b < nb; b++) {
		int64_t i0 = b * EW_BLOCK, m = n - i0 < EW_BLOCK ? n - i0 : EW_BLOCK;
		dsilu_block(dx + i0, dy + i0, x + i0, m, set);
	}
}

void rml_silu_backward(float *dx, const float *dy, const float *x, int64_t n)
{
	silu_backward(dx, dy, x, n, 0);
}

void rml_silu_backward_set(float *dx, const float *dy, const float *x, int64_t n)
{
	silu_backward(dx, dy, x, n, 1);
}

HOT void rml_add_forward(float *y, const float *a, const float *b, int64_t n)
{
#pragma omp parallel for simd schedule(static) if (n > PAR_MIN)
	for (int64_t i = 0; i < n; i++)
		y[i] = a[i] + b[i];
}

HOT void rml_add_backward(float *da, float *db, const float *dy, int64_t n)
{
	if (da) {
#pragma omp parallel for simd schedule(static) if (n > PAR_MIN)
		for (int64_t i = 0; i < n; i++)
			da[i] += dy[i];
	}
	if (db) {
#pragma omp parallel for simd schedule(static) if (n > PAR_MIN)
		for (int64_t i = 0; i < n; i++)
			db[i] += dy[i];
	}
}

/* 0.0f + dy: the bits a zeroed buffer would get (-0 becomes +0). */
HOT static void add_set(float *d, const float *dy, int64_t n)
{
#pragma omp parallel for simd schedule(static) if (n > PAR_MIN)
	for (int64_t i = 0; i < n; i++)
		d[i] = 0.0f + dy[i];
}

void rml_add_backward_set(float *da, int set_a, float *db, int set_b, const float *dy, int64_t n)
{
	/* Both at once when both are first written: one read of dy. */
	if (da && db && set_a && set_b) {
#pragma omp parallel for simd schedule(static) if (n > PAR_MIN)
		for (int64_t i = 0; i < n; i++)
			da[i] = db[i] = 0.0f + dy[i];
		return;
	}
	if (da && set_a)
		add_set(da, dy, n);
	else
		rml_add_backward(da, NULL, dy, n);
	if (db && set_b)
		add_set(db, dy, n);
	else
		rml_add_backward(NULL, db, dy, n);
}

HOT void rml_chscale_forward(float *y, const float *x, const float *s, int64_t rows, int64_t c)
{
#pragma omp parallel for schedule(static) if (rows * c > PAR_MIN)
	for (int64_t r = 0; r < rows; r++) {
#pragma omp simd
		for (int64_t j = 0; j < c; j++)
			y[r * c + j] = x[r * c + j] * s[j];
	}
}

HOT void rml_chscale_backward(float *dx, float *ds, const float *dy, const float *x,
			  const float *s, int64_t rows, int64_t c)
{
	if (ds) {
		double acc[4096];
		for (int64_t c0 = 0; c0 < c; c0 += 4096) {
			int64_t cc = c - c0 < 4096 ? c - c0 : 4096;
			if (cc == c) {
				col_sums(NULL, acc, dy, NULL, x, NULL, rows, c);
			} else {
				for (int64_t j = 0; j < cc; j++) {
					double t = 0;
					for (int64_t r = 0; r < rows; r++)
						t += (double)dy[r * c + c0 + j] * x[r * c + c0 + j];
					acc[j] = t;
				}
			}
			for (int64_t j = 0; j < cc; j++)
				ds[c0 + j] += (float)acc[j];
		}
	}
	if (dx) {
#pragma omp parallel for schedule(static) if (rows * c > PAR_MIN)
		for (int64_t r = 0; r < rows; r++) {
#pragma omp simd
			for (int64_t j = 0; j < c; j++)
				dx[r * c + j] += dy[r * c + j] * s[j];
		}
	}
}

void rml_concat_forward(float *y, const float *a, const float *b, int64_t rows, int64_t ca,
			int64_t cb)
{
#pragma omp parallel for schedule(static) if (rows * (ca + cb) > PAR_MIN)
	for (int64_t r = 0; r < rows; r++) {
		memcpy(y + r * (ca + cb), a + r * ca, (size_t)ca * sizeof *y);
		memcpy(y + r * (ca + cb) + ca, b + r * cb, (size_t)cb * sizeof *y);
	}
}

/* d[0..n) = 0 + g (set: the bits of a zeroed d) or d += g. */
static inline void add_or_set(float *d, const float *g, int64_t n, int set)
{
	if (set)
		for (int64_t j = 0; j < n; j++)
			d[j] = 0.0f + g[j];
	else
		for (int64_t j = 0; j < n; j++)
			d[j] += g[j];
}

void rml_concat_backward_set(float *da, int set_a, float *db, int set_b, const float *dy,
			     int64_t rows, int64_t ca, int64_t cb)
{
#pragma omp parallel for schedule(static) if (rows * (ca + cb) > PAR_MIN)
	for (int64_t r = 0; r < rows; r++) {
		const float *g = dy + r * (ca + cb);
		if (da)
			add_or_set(da + r * ca, g, ca, set_a);
		if (db)
			add_or_set(db + r * cb, g + ca, cb, set_b);
	}
}

void rml_concat_backward(float *da, float *db, const float *dy, int64_t rows, int64_t ca,
			 int64_t cb)
{
	rml_concat_backward_set(da, 0, db, 0, dy, rows, ca, cb);
}

/* ---- unfold / fold ------------------------------------------------------------------------ */

/* Position of pixel (i, j) in the unfolded [4, P] layout of one image. */
static inline int64_t unfold_index(int64_t i, int64_t j, int64_t h, int64_t w)
{
	int64_t P = (h / 2) * (w / 2);
	int64_t q = 2 * (i % 2) + (j % 2);
	int64_t patch = (i / 2) * (w / 2) + j / 2;
	return q * P + patch;
}

void rml_unfold_forward(float *y, const float *x, int64_t n, int64_t h, int64_t w, int64_t c)
{
#pragma omp parallel for schedule(static) if (n * h * w * c > PAR_MIN)
	for (int64_t bi = 0; bi < n; bi++)
		for (int64_t i = 0; i < h; i++)
			for (int64_t j = 0; j < w; j++)
				memcpy(y + (bi * h * w + unfold_index(i, j, h, w)) * c,
				       x + ((bi * h + i) * w + j) * c, (size_t)c * sizeof *y);
}

static void unfold_backward(float *dx, const float *dy, int64_t n, int64_t h, int64_t w,
			    int64_t c, int set)
{
#pragma omp parallel for schedule(static) if (n * h * w * c > PAR_MIN)
	for (int64_t bi = 0; bi < n; bi++)
		for (int64_t i = 0; i < h; i++)
			for (int64_t j = 0; j < w; j++)
				add_or_set(dx + ((bi * h + i) * w + j) * c,
					   dy + (bi * h * w + unfold_index(i, j, h, w)) * c, c, set);
}

void rml_unfold_backward(float *dx, const float *dy, int64_t n, int64_t h, int64_t w, int64_t c)
{
	unfold_backward(dx, dy, n, h, w, c, 0);
}

void rml_unfold_backward_set(float *dx, const float *dy, int64_t n, int64_t h, int64_t w,
			     int64_t c)
{
	unfold_backward(dx, dy, n, h, w, c, 1);
}

void rml_fold_forward(float *y, const float *x, int64_t n, int64_t h, int64_t w, int64_t c)
{
#pragma omp parallel for schedule(static) if (n * h * w * c > PAR_MIN)
	for (int64_t bi = 0; bi < n; bi++)
		for (int64_t i = 0; i < h; i++)
			for (int64_t j = 0; j < w; j++)
				memcpy(y + ((bi * h + i) * w + j) * c,
				       x + (bi * h * w + unfold_index(i, j, h, w)) * c,
				       (size_t)c * sizeof *y);
}

static void fold_backward(float *dx, const float *dy, int64_t n, int64_t h, int64_t w,
			  int64_t c, int set)
{
#pragma omp parallel for schedule(static) if (n * h * w * c > PAR_MIN)
	for (int64_t bi = 0; bi < n; bi++)
		for (int64_t i = 0; i < h; i++)
			for (int64_t j = 0; j < w; j++)
				add_or_set(dx + (bi * h * w + unfold_index(i, j, h, w)) * c,
					   dy + ((bi * h + i) * w + j) * c, c, set);
}

void rml_fold_backward(float *dx, const float *dy, int64_t n, int64_t h, int64_t w, int64_t c)
{
	fold_backward(dx, dy, n, h, w, c, 0);
}

void rml_fold_backward_set(float *dx, const float *dy, int64_t n, int64_t h, int64_t w,
			   int64_t c)
{
	fold_backward(dx, dy, n, h, w, c, 1);
}

/* ---- attention ---------------------------------------------------------------------------- */

HOT void rml_attention_forward(float *out, float *att, const float *qkv, int64_t s, int64_t p,
			   int64_t d, int n_head)
{
	int64_t hd = d / n_head;
	float scale = 1.0f / sqrtf((float)hd);
	int fast = rml_gemm_get_backend() == RML_GEMM_OWN && rml_att512_usable(p, hd);
#pragma omp parallel for schedule(static) if (s * n_head * p * p * hd > PAR_MIN)
	for (int64_t sh = 0; sh < s * n_head; sh++) {
		int64_t si = sh / n_head, hh = sh % n_head;
		const float *base = qkv + si * p * 3 * d;
		float *a = att + sh * p * p;
		if (fast) {
			const float *q = base + hh * hd;
			rml_att512_forward(out + si * p * d + hh * hd, d, a, q, q + d, q + 2 * d,
					   3 * d, p, hd, scale);
			continue;
		}
		for (int64_t i = 0; i < p; i++) {
			const float *q = base + i * 3 * d + hh * hd;
			float mx = -INFINITY;
			for (int64_t j = 0; j < p; j++) {
				const float *k = base + j * 3 * d + d + hh * hd;
				float dot = 0;
				for (int64_t e = 0; e < hd; e++)
					dot += q[e] * k[e];
				a[i * p + j] = dot * scale;
				if (a[i * p + j] > mx)
					mx = a[i * p + j];
			}
			float sum = 0;
			for (int64_t j = 0; j < p; j++) {
				a[i * p + j] = vexpf(a[i * p + j] - mx);
				sum += a[i * p + j];
			}
			float inv = 1.0f / sum;
			for (int64_t j = 0; j < p; j++)
				a[i * p + j] *= inv;
			float *o = out + (si * p + i) * d + hh * hd;
			for (int64_t e = 0; e < hd; e++)
				o[e] = 0;
			for (int64_t j = 0; j < p; j++) {
				const float *v = base + j * 3 * d + 2 * d + hh * hd;
				float aij = a[i * p + j];
				for (int64_t e = 0; e < hd; e++)
					o[e] += aij * v[e];
			}
		}
	}
}

int64_t rml_attention_workspace(int64_t s, int64_t p, int64_t d, int n_head)
{
	(void)d;
	return s * n_head * p * p;
}

HOT static void attention_backward(float *dqkv, float *ws, const float *dout, const float *qkv,
			       const float *att, int64_t s, int64_t p, int64_t d, int n_head,
			       int set)
{
	int64_t hd = d / n_head;
	/* A first writer zeroes each head's slices just before adding into
	 * them (in cache); when heads do not cover d, the whole of dqkv first. */
	if (set && hd * n_head != d) {
		memset(dqkv, 0, (size_t)(s * p * 3 * d) * sizeof *dqkv);
		set = 0;
	}
	float scale = 1.0f / sqrtf((float)hd);
	int fast = rml_gemm_get_backend() == RML_GEMM_OWN && rml_att512_usable(p, hd);
	/* Heads of one sequence write disjoint slices of dqkv, so any split is safe. */
#pragma omp parallel for schedule(static) if (s * n_head * p * p * hd > PAR_MIN)
	for (int64_t sh = 0; sh < s * n_head; sh++) {
		int64_t si = sh / n_head, hh = sh % n_head;
		const float *base = qkv + si * p * 3 * d;
		float *dbase = dqkv + si * p * 3 * d;
		const float *a = att + sh * p * p;
		float *ds = ws + sh * p * p;
		if (set)
			for (int64_t i = 0; i < p; i++)
				for (int part = 0; part < 3; part++)
					memset(dbase + i * 3 * d + part * d + hh * hd, 0,
					       (size_t)hd * sizeof *dbase);
		if (fast) {
			const float *q = base + hh * hd;
			float *dq = dbase + hh * hd;
			rml_att512_backward(dq, dq + d, dq + 2 * d, dout + si * p * d + hh * hd, d, a,
					    ds, q, q + d, q + 2 * d, 3 * d, p, hd, scale);
			continue;
		}
		for (int64_t i = 0; i < p; i++) {
			const float *go = dout + (si * p + i) * d + hh * hd;
			float rowdot = 0;
			for (int64_t j = 0; j < p; j++) {
				const float *v = base + j * 3 * d + 2 * d + hh * hd;
				float da = 0;
				for (int64_t e = 0; e < hd; e++)
					da += go[e] * v[e];
				ds[i * p + j] = da;
				rowdot += da * a[i * p + j];
				/* dV_j += a_ij dO_i */
				float *dv = dbase + j * 3 * d + 2 * d + hh * hd;
				float aij = a[i * p + j];
				for (int64_t e = 0; e < hd; e++)
					dv[e] += aij * go[e];
			}
			for (int64_t j = 0; j < p; j++)
				ds[i * p + j] = a[i * p + j] * (ds[i * p + j] - rowdot) * scale;
		}
		for (int64_t i = 0; i < p; i++) {
			const float *q = base + i * 3 * d + hh * hd;
			float *dq = dbase + i * 3 * d + hh * hd;
			for (int64_t j = 0; j < p; j++) {
				const float *k = base + j * 3 * d + d + hh * hd;
				float *dk = dbase + j * 3 * d + d + hh * hd;
				float g = ds[i * p + j];
				for (int64_t e = 0; e < hd; e++) {
					dq[e] += g * k[e];
					dk[e] += g * q[e];
				}
			}
		}
	}
}

void rml_attention_backward(float *dqkv, float *ws, const float *dout, const float *qkv,
			    const float *att, int64_t s, int64_t p, int64_t d, int n_head)
{
	attention_backward(dqkv, ws, dout, qkv, att, s, p, d, n_head, 0);
}

void rml_attention_backward_set(float *dqkv, float *ws, const float *dout, const float *qkv,
				const float *att, int64_t s, int64_t p, int64_t d, int n_head)
{
	attention_backward(dqkv, ws, dout, qkv, att, s, p, d, n_head, 1);
}

/* ---- pooling and loss ------------------------------------------------------------------------ */

void rml_gap_forward(float *y, const float *x, int64_t n, int64_t hw, int64_t c)
{
	for (int64_t b = 0; b < n; b++) {
		float *o = y + b * c;
		for (int64_t j = 0; j < c; j++)
			o[j] = 0;
		for (int64_t q = 0; q < hw; q++) {
			const float *xr = x + (b * hw + q) * c;
			for (int64_t j = 0; j < c; j++)
				o[j] += xr[j];
		}
		float inv = 1.0f / (float)hw;
		for (int64_t j = 0; j < c; j++)
			o[j] *= inv;
	}
}

void rml_gap_backward(float *dx, const float *dy, int64_t n, int64_t hw, int64_t c)
{
	float inv = 1.0f / (float)hw;
#pragma omp parallel for schedule(static) if (n * hw * c > PAR_MIN)
	for (int64_t b = 0; b < n; b++)
		for (int64_t q = 0; q < hw; q++) {
			float *d = dx + (b * hw + q) * c;
			const float *g = dy + b * c;
			for (int64_t j = 0; j < c; j++)
				d[j] += g[j] * inv;
		}
}

void rml_softmax(float *probs, const float *logits, int64_t n, int64_t k)
{
	for (int64_t r = 0; r < n; r++) {
		const float *l = logits + r * k;
		float *p = probs + r * k;
		float mx = -INFINITY;
		int finite = 1;
		for (int64_t j = 0; j < k; j++) {
			if (!isfinite(l[j]))
				finite = 0;
			else if (l[j] > mx)
				mx = l[j];
		}
		if (!finite) {
			for (int64_t j = 0; j < k; j++)
				p[j] = NAN;
			continue;
		}
		double sum = 0;
		for (int64_t j = 0; j < k; j++) {
			p[j] = expf(l[j] - mx);
			sum += p[j];
		}
		float inv = (float)(1.0 / sum);
		for (int64_t j = 0; j < k; j++)
			p[j] *= inv;
	}
}

float rml_xent_forward(float *probs, const float *logits, const int32_t *labels, int64_t n,
		       int64_t k, float smoothing)
{
	rml_softmax(probs, logits, n, k);
	double total = 0;
	for (int64_t r = 0; r < n; r++) {
		const float *l = logits + r * k;
		if (!isfinite(probs[r * k])) {
			total = NAN;
			continue;
		}
		float mx = -INFINITY;
		for (int64_t j = 0; j < k; j++)
			if (l[j] > mx)
				mx = l[j];
		double sum = 0;
		for (int64_t j = 0; j < k; j++)
			sum += exp((double)l[j] - mx);
		double lse = mx + log(sum);
		double loss = (1.0 - smoothing) * (lse - l[labels[r]]);
		if (smoothing > 0) {
			double mean_nll = 0;
			for (int64_t j = 0; j < k; j++)
				mean_nll += lse - l[j];
			loss += smoothing * mean_nll / (double)k;
		}
		total += loss;
	}
	return n ? (float)(total / (double)n) : 0.0f;
}

void rml_xent_backward(float *dlogits, const float *probs, const int32_t *labels, int64_t n,
		       int64_t k, float smoothing, float scale)
{
	float f = scale / (float)n, off = smoothing / (float)k;
	for (int64_t r = 0; r < n; r++)
		for (int64_t j = 0; j < k; j++) {
			float target = off + (j == labels[r] ? 1.0f - smoothing : 0.0f);
			dlogits[r * k + j] += f * (probs[r * k + j] - target);
		}
}

float rml_xent_soft_forward(float *probs, const float *logits, const float *targets,
			    int64_t n, int64_t k, float smoothing)
{
	rml_softmax(probs, logits, n, k);
	double total = 0;
	for (int64_t r = 0; r < n; r++) {
		const float *l = logits + r * k, *t = targets + r * k;
		if (!isfinite(probs[r * k])) {
			total = NAN;
			continue;
		}
		float mx = -INFINITY;
		for (int64_t j = 0; j < k; j++)
			if (l[j] > mx)
				mx = l[j];
		double sum = 0;
		for (int64_t j = 0; j < k; j++)
			sum += exp((double)l[j] - mx);
		double lse = mx + log(sum), loss = 0;
		/* Terms with zero target are skipped: 0 * (lse - l) stays 0
		 * even where a logit is far below the others. */
		for (int64_t j = 0; j < k; j++) {
			double tj = (1.0 - smoothing) * t[j] + smoothing / (double)k;
			if (tj != 0.0)
				loss += tj * (lse - l[j]);
		}
		total += loss;
	}
	return n ? (float)(total / (double)n) : 0.0f;
}

void rml_xent_soft_backward(float *dlogits, const float *probs, const float *targets,
			    int64_t n, int64_t k, float smoothing, float scale)
{
	float f = scale / (float)n, off = smoothing / (float)k;
	for (int64_t r = 0; r < n; r++)
		for (int64_t j = 0; j < k; j++) {
			float target = off + (1.0f - smoothing) * targets[r * k + j];
			dlogits[r * k + j] += f * (probs[r * k + j] - target);
		}
}
