/*
 * kernels_ref.c — the naive reference kernels (kernels_ref.h): each is the
 * definition of its layer written as plain loops, every sum in double, one
 * thread, no workspace.
 *
 * Where the fast kernels scatter (col2im, depthwise dx, attention dk) the
 * references mostly gather instead: each gradient element is one sum over
 * the outputs that read it. That makes them a second derivation of the
 * same formula rather than a slow copy of the fast code, so a shared
 * mistake in index arithmetic is unlikely. Not for use outside the tests.
 */
#include "kernels_ref.h"

#include <math.h>

/* Output size along one axis (kernels.h has the same formula inline; it
 * is repeated so this file depends on nothing it is meant to check). */
static int64_t out_size(int64_t in, int k, int stride, int pad)
{
	return (in + 2 * pad - k) / stride + 1;
}

/* ---- standard convolution ------------------------------------------------ */

void rml_ref_conv2d_forward(float *y, float *col, const float *x, const float *wt,
			    const float *b, int64_t n, int64_t h, int64_t w, int64_t cin,
			    int64_t cout, int k, int stride, int pad)
{
	(void)col;
	int64_t oh = out_size(h, k, stride, pad), ow = out_size(w, k, stride, pad);
	for (int64_t bi = 0; bi < n; bi++)
		for (int64_t oy = 0; oy < oh; oy++)
			for (int64_t ox = 0; ox < ow; ox++)
				for (int64_t co = 0; co < cout; co++) {
					double s = b ? b[co] : 0.0;
					for (int ky = 0; ky < k; ky++)
						for (int kx = 0; kx < k; kx++) {
							int64_t iy = oy * stride - pad + ky;
							int64_t ix = ox * stride - pad + kx;
							if (iy < 0 || iy >= h || ix < 0 || ix >= w)
								continue;
							for (int64_t ci = 0; ci < cin; ci++)
								s += (double)x[((bi * h + iy) * w + ix) * cin + ci] *
								     wt[(((int64_t)ky * k + kx) * cin + ci) * cout + co];
						}
					y[((bi * oh + oy) * ow + ox) * cout + co] = (float)s;
				}
}

void rml_ref_conv2d_backward(float *dx, float *dw, float *db, float *col, const float *dy,
			     const float *x, const float *wt, int64_t n, int64_t h, int64_t w,
			     int64_t cin, int64_t cout, int k, int stride, int pad)
{
	(void)col;
	int64_t oh = out_size(h, k, stride, pad), ow = out_size(w, k, stride, pad);
	if (db)
		for (int64_t co = 0; co < cout; co++) {
			double s = 0;
			for (int64_t r = 0; r < n * oh * ow; r++)
				s += dy[r * cout + co];
			db[co] += (float)s;
		}
	if (dw)
		for (int ky = 0; ky < k; ky++)
			for (int kx = 0; kx < k; kx++)
				for (int64_t ci = 0; ci < cin; ci++)
					for (int64_t co = 0; co < cout; co++) {
						double s = 0;
						for (int64_t bi = 0; bi < n; bi++)
							for (int64_t oy = 0; oy < oh; oy++)
								for (int64_t ox = 0; ox < ow; ox++) {
									int64_t iy = oy * stride - pad + ky;
									int64_t ix = ox * stride - pad + kx;
									if (iy < 0 || iy >= h || ix < 0 || ix >= w)
										continue;
									s += (double)dy[((bi * oh + oy) * ow + ox) * cout + co] *
									     x[((bi * h + iy) * w + ix) * cin + ci];
								}
						dw[(((int64_t)ky * k + kx) * cin + ci) * cout + co] += (float)s;
					}
	if (dx)
		/* Gather: input pixel (iy, ix) is read by output (oy, ox) through tap
		 * (ky, kx) exactly when oy*stride - pad + ky == iy. */
		for (int64_t bi = 0; bi < n; bi++)
			for (int64_t iy = 0; iy < h; iy++)
				for (int64_t ix = 0; ix < w; ix++)
					for (int64_t ci = 0; ci < cin; ci++) {
						double s = 0;
						for (int ky = 0; ky < k; ky++) {
							int64_t ty = iy + pad - ky;
							if (ty < 0 || ty % stride || ty / stride >= oh)
								continue;
							for (int kx = 0; kx < k; kx++) {
								int64_t tx = ix + pad - kx;
								if (tx < 0 || tx % stride || tx / stride >= ow)
									continue;
								const float *g = dy + ((bi * oh + ty / stride) * ow +
										       tx / stride) * cout;
								const float *wr =
									wt + (((int64_t)ky * k + kx) * cin + ci) * cout;
								for (int64_t co = 0; co < cout; co++)
									s += (double)g[co] * wr[co];
							}
						}
						dx[((bi * h + iy) * w + ix) * cin + ci] += (float)s;
					}
}

/* ---- depthwise convolution ----------------------------------------------- */

void rml_ref_dwconv2d_forward(float *y, const float *x, const float *wt, const float *b,
			      int64_t n, int64_t h, int64_t w, int64_t c, int k, int stride,
			      int pad)
{
	int64_t oh = out_size(h, k, stride, pad), ow = out_size(w, k, stride, pad);
	for (int64_t bi = 0; bi < n; bi++)
		for (int64_t oy = 0; oy < oh; oy++)
			for (int64_t ox = 0; ox < ow; ox++)
				for (int64_t j = 0; j < c; j++) {
					double s = b ? b[j] : 0.0;
					for (int ky = 0; ky < k; ky++)
						for (int kx = 0; kx < k; kx++) {
							int64_t iy = oy * stride - pad + ky;
							int64_t ix = ox * stride - pad + kx;
							if (iy >= 0 && iy < h && ix >= 0 && ix < w)
								s += (double)x[((bi * h + iy) * w + ix) * c + j] *
								     wt[((int64_t)ky * k + kx) * c + j];
						}
					y[((bi * oh + oy) * ow + ox) * c + j] = (float)s;
				}
}

void rml_ref_dwconv2d_backward(float *dx, float *dw, float *db, const float *dy,
			       const float *x, const float *wt, int64_t n, int64_t h,
			       int64_t w, int64_t c, int k, int stride, int pad)
{
	int64_t oh = out_size(h, k, stride, pad), ow = out_size(w, k, stride, pad);
	if (db)
		for (int64_t j = 0; j < c; j++) {
			double s = 0;
			for (int64_t r = 0; r < n * oh * ow; r++)
				s += dy[r * c + j];
			db[j] += (float)s;
		}
	if (dw)
		for (int ky = 0; ky < k; ky++)
			for (int kx = 0; kx < k; kx++)
				for (int64_t j = 0; j < c; j++) {
					double s = 0;
					for (int64_t bi = 0; bi < n; bi++)
						for (int64_t oy = 0; oy < oh; oy++)
							for (int64_t ox = 0; ox < ow; ox++) {
								int64_t iy = oy * stride - pad + ky;
								int64_t ix = ox * stride - pad + kx;
								if (iy >= 0 && iy < h && ix >= 0 && ix < w)
									s += (double)dy[((bi * oh + oy) * ow + ox) * c + j] *
									     x[((bi * h + iy) * w + ix) * c + j];
							}
					dw[((int64_t)ky * k + kx) * c + j] += (float)s;
				}
	if (dx)
		for (int64_t bi = 0; bi < n; bi++)
			for (int64_t iy = 0; iy < h; iy++)
				for (int64_t ix = 0; ix < w; ix++)
					for (int64_t j = 0; j < c; j++) {
						double s = 0;
						for (int ky = 0; ky < k; ky++)
							for (int kx = 0; kx < k; kx++) {
								int64_t ty = iy + pad - ky, tx = ix + pad - kx;
								if (ty < 0 || tx < 0 || ty % stride || tx % stride ||
								    ty / stride >= oh || tx / stride >= ow)
									continue;
								s += (double)dy[((bi * oh + ty / stride) * ow +
										 tx / stride) * c + j] *
								     wt[((int64_t)ky * k + kx) * c + j];
							}
						dx[((bi * h + iy) * w + ix) * c + j] += (float)s;
					}
}

/* ---- linear -------------------------------------------------------------- */

void rml_ref_linear_forward(float *y, const float *x, const float *wt, const float *b,
			    int64_t rows, int64_t in, int64_t out)
{
	for (int64_t r = 0; r < rows; r++)
		for (int64_t o = 0; o < out; o++) {
			double s = b ? b[o] : 0.0;
			for (int64_t i = 0; i < in; i++)
				s += (double)x[r * in + i] * wt[i * out + o];
			y[r * out + o] = (float)s;
		}
}

void rml_ref_linear_backward(float *dx, float *dw, float *db, const float *dy,
			     const float *x, const float *wt, int64_t rows, int64_t in,
			     int64_t out)
{
	if (db)
		for (int64_t o = 0; o < out; o++) {
			double s = 0;
			for (int64_t r = 0; r < rows; r++)
				s += dy[r * out + o];
			db[o] += (float)s;
		}
	if (dw)
		for (int64_t i = 0; i < in; i++)
			for (int64_t o = 0; o < out; o++) {
				double s = 0;
				for (int64_t r = 0; r < rows; r++)
					s += (double)x[r * in + i] * dy[r * out + o];
				dw[i * out + o] += (float)s;
			}
	if (dx)
		for (int64_t r = 0; r < rows; r++)
			for (int64_t i = 0; i < in; i++) {
				double s = 0;
				for (int64_t o = 0; o < out; o++)
					s += (double)dy[r * out + o] * wt[i * out + o];
				dx[r * in + i] += (float)s;
			}
}

/* ---- batch normalisation ------------------------------------------------- */

void rml_ref_bn_forward_train(float *y, float *mean, float *rstd, float *run_mean,
			      float *run_var, const float *x, const float *gamma,
			      const float *beta, int64_t rows, int64_t c, float momentum,
			      float eps)
{
	for (int64_t j = 0; j < c; j++) {
		/* Two passes (mean, then squared deviations): the textbook form,
		 * unlike the fast kernel's single pass of sums and squares. */
		double m = 0, v = 0;
		for (int64_t r = 0; r < rows; r++)
			m += x[r * c + j];
		m /= (double)rows;
		for (int64_t r = 0; r < rows; r++) {
			double t = x[r * c + j] - m;
			v += t * t;
		}
		double var = v / (double)rows;
		double rs = 1.0 / sqrt(var + eps);
		mean[j] = (float)m;
		rstd[j] = (float)rs;
		for (int64_t r = 0; r < rows; r++)
			y[r * c + j] = (float)((x[r * c + j] - m) * rs * gamma[j] + beta[j]);
		if (run_mean && run_var) {
			double unbiased = rows > 1 ? v / (double)(rows - 1) : var;
			run_mean[j] = (float)((1.0 - momentum) * run_mean[j] + momentum * m);
			run_var[j] = (float)((1.0 - momentum) * run_var[j] + momentum * unbiased);
		}
	}
}

void rml_ref_bn_backward_train(float *dx, float *dgamma, float *dbeta, const float *dy,
			       const float *x, const float *mean, const float *rstd,
			       const float *gamma, int64_t rows, int64_t c)
{
	for (int64_t j = 0; j < c; j++) {
		double sg = 0, sgx = 0;
		for (int64_t r = 0; r < rows; r++) {
			double xh = (x[r * c + j] - (double)mean[j]) * rstd[j];
			sg += dy[r * c + j];
			sgx += dy[r * c + j] * xh;
		}
		if (dgamma)
			dgamma[j] += (float)sgx;
		if (dbeta)
			dbeta[j] += (float)sg;
		if (dx)
			for (int64_t r = 0; r < rows; r++) {
				double xh = (x[r * c + j] - (double)mean[j]) * rstd[j];
				dx[r * c + j] += (float)((double)gamma[j] * rstd[j] / (double)rows *
							 ((double)rows * dy[r * c + j] - sg - xh * sgx));
			}
	}
}

void rml_ref_bn_forward_eval(float *y, const float *x, const float *gamma,
			     const float *beta, const float *run_mean, const float *run_var,
			     int64_t rows, int64_t c, float eps)
{
	for (int64_t r = 0; r < rows; r++)
		for (int64_t j = 0; j < c; j++) {
			double rs = 1.0 / sqrt((double)run_var[j] + eps);
			y[r * c + j] = (float)((x[r * c + j] - (double)run_mean[j]) * rs * gamma[j] +
					       beta[j]);
		}
}

void rml_ref_bn_backward_eval(float *dx, float *dgamma, float *dbeta, const float *dy,
			      const float *x, const float *gamma, const float *run_mean,
			      const float *run_var, int64_t rows, int64_t c, float eps)
{
	for (int64_t j = 0; j < c; j++) {
		double rs = 1.0 / sqrt((double)run_var[j] + eps), sg = 0, sgx = 0;
		for (int64_t r = 0; r < rows; r++) {
			sg += dy[r * c + j];
			sgx += dy[r * c + j] * (x[r * c + j] - (double)run_mean[j]) * rs;
			if (dx)
				dx[r * c + j] += (float)(dy[r * c + j] * gamma[j] * rs);
		}
		if (dgamma)
			dgamma[j] += (float)sgx;
		if (dbeta)
			dbeta[j] += (float)sg;
	}
}

/* ---- layer normalisation ------------------------------------------------- */

void rml_ref_layernorm_forward(float *y, float *mean, float *rstd, const float *x,
			       const float *gamma, const float *beta, int64_t rows,
			       int64_t d, float eps)
{
	for (int64_t r = 0; r < rows; r++) {
		const float *xr = x + r * d;
		double m = 0, v = 0;
		for (int64_t j = 0; j < d; j++)
			m += xr[j];
		m /= (double)d;
		for (int64_t j = 0; j < d; j++)
			v += (xr[j] - m) * (xr[j] - m);
		double rs = 1.0 / sqrt(v / (double)d + eps);
		mean[r] = (float)m;
		rstd[r] = (float)rs;
		for (int64_t j = 0; j < d; j++)
			y[r * d + j] = (float)((xr[j] - m) * rs * gamma[j] + beta[j]);
	}
}

void rml_ref_layernorm_backward(float *dx, float *dgamma, float *dbeta, const float *dy,
				const float *x, const float *mean, const float *rstd,
				const float *gamma, int64_t rows, int64_t d)
{
	for (int64_t j = 0; j < d; j++) {
		double sg = 0, sgx = 0;
		for (int64_t r = 0; r < rows; r++) {
			sg += dy[r * d + j];
			sgx += dy[r * d + j] * (x[r * d + j] - (double)mean[r]) * rstd[r];
		}
		if (dgamma)
			dgamma[j] += (float)sgx;
		if (dbeta)
			dbeta[j] += (float)sg;
	}
	if (!dx)
		return;
	for (int64_t r = 0; r < rows; r++) {
		/* dx = rstd (g - mean(g) - xhat mean(g xhat)), g = dy * gamma. */
		double a = 0, b = 0;
		for (int64_t j = 0; j < d; j++) {
			double g = (double)dy[r * d + j] * gamma[j];
			a += g;
			b += g * (x[r * d + j] - (double)mean[r]) * rstd[r];
		}
		a /= (double)d;
		b /= (double)d;
		for (int64_t j = 0; j < d; j++) {
			double xh = (x[r * d + j] - (double)mean[r]) * rstd[r];
			dx[r * d + j] += (float)(rstd[r] * ((double)dy[r * d + j] * gamma[j] - a - xh * b));
		}
	}
}

/* ---- elementwise --------------------------------------------------------- */

void rml_ref_silu_forward(float *y, const float *x, int64_t n)
{
	for (int64_t i = 0; i < n; i++)
		y[i] = (float)(x[i] / (1.0 + exp(-(double)x[i])));
}

void rml_ref_silu_backward(float *dx, const float *dy, const float *x, int64_t n)
{
	for (int64_t i = 0; i < n; i++) {
		double s = 1.0 / (1.0 + exp(-(double)x[i]));
		dx[i] += (float)(dy[i] * s * (1.0 + x[i] * (1.0 - s)));
	}
}

void rml_ref_add_forward(float *y, const float *a, const float *b, int64_t n)
{
	for (int64_t i = 0; i < n; i++)
		y[i] = a[i] + b[i];
}

void rml_ref_add_backward(float *da, float *db, const float *dy, int64_t n)
{
	for (int64_t i = 0; i < n; i++) {
		if (da)
			da[i] += dy[i];
		if (db)
			db[i] += dy[i];
	}
}

void rml_ref_chscale_forward(float *y, const float *x, const float *s, int64_t rows,
			     int64_t c)
{
	for (int64_t r = 0; r < rows; r++)
		for (int64_t j = 0; j < c; j++)
			y[r * c + j] = x[r * c + j] * s[j];
}

void rml_ref_chscale_backward(float *dx, float *ds, const float *dy, const float *x,
			      const float *s, int64_t rows, int64_t c)
{
	for (int64_t j = 0; j < c; j++) {
		double t = 0;
		for (int64_t r = 0; r < rows; r++) {
			t += (double)dy[r * c + j] * x[r * c + j];
			if (dx)
				dx[r * c + j] += dy[r * c + j] * s[j];
		}
		if (ds)
			ds[j] += (float)t;
	}
}

void rml_ref_concat_forward(float *y, const float *a, const float *b, int64_t rows,
			    int64_t ca, int64_t cb)
{
	for (int64_t r = 0; r < rows; r++)
		for (int64_t j = 0; j < ca + cb; j++)
			y[r * (ca + cb) + j] = j < ca ? a[r * ca + j] : b[r * cb + j - ca];
}

void rml_ref_concat_backward(float *da, float *db, const float *dy, int64_t rows,
			     int64_t ca, int64_t cb)
{
	for (int64_t r = 0; r < rows; r++)
		for (int64_t j = 0; j < ca + cb; j++) {
			if (j < ca && da)
				da[r * ca + j] += dy[r * (ca + cb) + j];
			if (j >= ca && db)
				db[r * cb + j - ca] += dy[r * (ca + cb) + j];
		}
}

/* ---- unfold / fold ------------------------------------------------------- */

/* Walk the unfolded side [n, 4, P, c] and find each element's pixel: patch
 * pt covers rows 2*(pt / (w/2)) .. +1 and columns 2*(pt % (w/2)) .. +1, and
 * q = 2*di + dj picks one of its four pixels. The fast kernel goes the
 * other way (pixel to slot), so the two check each other. */
static int64_t pixel_of(int64_t q, int64_t pt, int64_t h, int64_t w)
{
	(void)h;
	int64_t i = 2 * (pt / (w / 2)) + q / 2, j = 2 * (pt % (w / 2)) + q % 2;
	return i * w + j;
}

void rml_ref_unfold_forward(float *y, const float *x, int64_t n, int64_t h, int64_t w,
			    int64_t c)
{
	int64_t P = (h / 2) * (w / 2);
	for (int64_t bi = 0; bi < n; bi++)
		for (int64_t q = 0; q < 4; q++)
			for (int64_t pt = 0; pt < P; pt++)
				for (int64_t j = 0; j < c; j++)
					y[((bi * 4 + q) * P + pt) * c + j] =
						x[(bi * h * w + pixel_of(q, pt, h, w)) * c + j];
}

void rml_ref_unfold_backward(float *dx, const float *dy, int64_t n, int64_t h, int64_t w,
			     int64_t c)
{
	int64_t P = (h / 2) * (w / 2);
	for (int64_t bi = 0; bi < n; bi++)
		for (int64_t q = 0; q < 4; q++)
			for (int64_t pt = 0; pt < P; pt++)
				for (int64_t j = 0; j < c; j++)
					dx[(bi * h * w + pixel_of(q, pt, h, w)) * c + j] +=
						dy[((bi * 4 + q) * P + pt) * c + j];
}

void rml_ref_fold_forward(float *y, const float *x, int64_t n, int64_t h, int64_t w,
			  int64_t c)
{
	int64_t P = (h / 2) * (w / 2);
	for (int64_t bi = 0; bi < n; bi++)
		for (int64_t q = 0; q < 4; q++)
			for (int64_t pt = 0; pt < P; pt++)
				for (int64_t j = 0; j < c; j++)
					y[(bi * h * w + pixel_of(q, pt, h, w)) * c + j] =
						x[((bi * 4 + q) * P + pt) * c + j];
}

void rml_ref_fold_backward(float *dx, const float *dy, int64_t n, int64_t h, int64_t w,
			   int64_t c)
{
	int64_t P = (h / 2) * (w / 2);
	for (int64_t bi = 0; bi < n; bi++)
		for (int64_t q = 0; q < 4; q++)
			for (int64_t pt = 0; pt < P; pt++)
				for (int64_t j = 0; j < c; j++)
					dx[((bi * 4 + q) * P + pt) * c + j] +=
						dy[(bi * h * w + pixel_of(q, pt, h, w)) * c + j];
}

/* ---- attention ----------------------------------------------------------- */

/* Element e of head hh of token i of sequence si: part 0 = q, 1 = k, 2 = v. */
#define QKV(si, i, part, hh, e) (((si) * p + (i)) * 3 * d + (part) * d + (hh) * hd + (e))

void rml_ref_attention_forward(float *out, float *att, const float *qkv, int64_t s,
			       int64_t p, int64_t d, int n_head)
{
	int64_t hd = d / n_head;
	double scale = 1.0 / sqrt((double)hd);
	for (int64_t si = 0; si < s; si++)
		for (int64_t hh = 0; hh < n_head; hh++) {
			float *a = att + (si * n_head + hh) * p * p;
			for (int64_t i = 0; i < p; i++) {
				double mx = -INFINITY, sum = 0;
				for (int64_t j = 0; j < p; j++) {
					double t = 0;
					for (int64_t e = 0; e < hd; e++)
						t += (double)qkv[QKV(si, i, 0, hh, e)] * qkv[QKV(si, j, 1, hh, e)];
					t *= scale;
					if (t > mx)
						mx = t;
					a[i * p + j] = (float)t;
				}
				for (int64_t j = 0; j < p; j++)
					sum += exp((double)a[i * p + j] - mx);
				for (int64_t j = 0; j < p; j++)
					a[i * p + j] = (float)(exp((double)a[i * p + j] - mx) / sum);
				for (int64_t e = 0; e < hd; e++) {
					double o = 0;
					for (int64_t j = 0; j < p; j++)
						o += (double)a[i * p + j] * qkv[QKV(si, j, 2, hh, e)];
					out[(si * p + i) * d + hh * hd + e] = (float)o;
				}
			}
		}
}

void rml_ref_attention_backward(float *dqkv, float *ws, const float *dout,
				const float *qkv, const float *att, int64_t s, int64_t p,
				int64_t d, int n_head)
{
	(void)ws;
	int64_t hd = d / n_head;
	double scale = 1.0 / sqrt((double)hd);
	for (int64_t si = 0; si < s; si++)
		for (int64_t hh = 0; hh < n_head; hh++) {
			const float *a = att + (si * n_head + hh) * p * p;
			const float *go = dout + si * p * d + hh * hd;
			/* dV_j = sum_i a_ij dO_i */
			for (int64_t j = 0; j < p; j++)
				for (int64_t e = 0; e < hd; e++) {
					double t = 0;
					for (int64_t i = 0; i < p; i++)
						t += (double)a[i * p + j] * go[i * d + e];
					dqkv[QKV(si, j, 2, hh, e)] += (float)t;
				}
			for (int64_t i = 0; i < p; i++) {
				/* dA_ij = dO_i . V_j; softmax backward gives
				 * dS_ij = a_ij (dA_ij - sum_l a_il dA_il), and the
				 * scores S = scale Q K^T pass scale on. */
				double rowdot = 0;
				for (int64_t l = 0; l < p; l++) {
					double t = 0;
					for (int64_t e = 0; e < hd; e++)
						t += (double)go[i * d + e] * qkv[QKV(si, l, 2, hh, e)];
					rowdot += a[i * p + l] * t;
				}
				for (int64_t j = 0; j < p; j++) {
					double da = 0;
					for (int64_t e = 0; e < hd; e++)
						da += (double)go[i * d + e] * qkv[QKV(si, j, 2, hh, e)];
					double ds = a[i * p + j] * (da - rowdot) * scale;
					for (int64_t e = 0; e < hd; e++) {
						dqkv[QKV(si, i, 0, hh, e)] += (float)(ds * qkv[QKV(si, j, 1, hh, e)]);
						dqkv[QKV(si, j, 1, hh, e)] += (float)(ds * qkv[QKV(si, i, 0, hh, e)]);
					}
				}
			}
		}
}

#undef QKV

/* ---- pooling and loss ---------------------------------------------------- */

void rml_ref_gap_forward(float *y, const float *x, int64_t n, int64_t hw, int64_t c)
{
	for (int64_t bi = 0; bi < n; bi++)
		for (int64_t j = 0; j < c; j++) {
			double s = 0;
			for (int64_t q = 0; q < hw; q++)
				s += x[(bi * hw + q) * c + j];
			y[bi * c + j] = (float)(s / (double)hw);
		}
}

void rml_ref_gap_backward(float *dx, const float *dy, int64_t n, int64_t hw, int64_t c)
{
	for (int64_t bi = 0; bi < n; bi++)
		for (int64_t q = 0; q < hw; q++)
			for (int64_t j = 0; j < c; j++)
				dx[(bi * hw + q) * c + j] += (float)(dy[bi * c + j] / (double)hw);
}

/* log-sum-exp of row l[0..k), or NaN when any entry is not finite. */
static double row_lse(const float *l, int64_t k)
{
	double mx = -INFINITY, s = 0;
	for (int64_t j = 0; j < k; j++) {
		if (!isfinite(l[j]))
			return NAN;
		if (l[j] > mx)
			mx = l[j];
	}
	for (int64_t j = 0; j < k; j++)
		s += exp(l[j] - mx);
	return mx + log(s);
}

void rml_ref_softmax(float *probs, const float *logits, int64_t n, int64_t k)
{
	for (int64_t r = 0; r < n; r++) {
		double lse = row_lse(logits + r * k, k);
		for (int64_t j = 0; j < k; j++)
			probs[r * k + j] = isnan(lse) ? NAN : (float)exp(logits[r * k + j] - lse);
	}
}

float rml_ref_xent_forward(float *probs, const float *logits, const int32_t *labels,
			   int64_t n, int64_t k, float smoothing)
{
	rml_ref_softmax(probs, logits, n, k);
	double total = 0;
	for (int64_t r = 0; r < n; r++) {
		double lse = row_lse(logits + r * k, k);
		/* -sum_j t_j log p_j with t = (1-eps) onehot + eps/k. */
		for (int64_t j = 0; j < k; j++) {
			double t = smoothing / (double)k + (j == labels[r] ? 1.0 - smoothing : 0.0);
			total -= t * (logits[r * k + j] - lse);
		}
	}
	return n ? (float)(total / (double)n) : 0.0f;
}

void rml_ref_xent_backward(float *dlogits, const float *probs, const int32_t *labels,
			   int64_t n, int64_t k, float smoothing, float scale)
{
	for (int64_t r = 0; r < n; r++)
		for (int64_t j = 0; j < k; j++) {
			double t = smoothing / (double)k + (j == labels[r] ? 1.0 - smoothing : 0.0);
			dlogits[r * k + j] += (float)((double)scale * (probs[r * k + j] - t) / (double)n);
		}
}
