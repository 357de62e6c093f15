/*
 * attn512.c — short-sequence attention heads in AVX-512 (see attn512.h).
 *
 * The scalar loops take a dot product one key at a time: a chain of
 * dependent adds per key, and for the outputs an accumulator that goes
 * through memory once per key. Here the keys of a query sit in the lanes
 * of one vector (keys transposed once per head), and every output row is
 * summed in a register. No sum changes its order, no multiply-add is
 * fused, so the bits are those of the scalar loops.
 */
#include "attn512.h"

#include <math.h>
#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

int rml_att512_usable(int64_t p, int64_t hd)
{
	return p >= 1 && p <= RML_ATT512_MAX_P && hd >= 1 && hd <= RML_ATT512_MAX_HD;
}

#define AVX512 __attribute__((target("avx512f")))
#define INLINE_AVX512 __attribute__((target("avx512f"), always_inline)) static inline

/* vexpf of kernels.c, lane by lane: the same operations in the same order. */
INLINE_AVX512 __m512 vexp16(__m512 x)
{
	__m512 xh = _mm512_min_ps(x, _mm512_set1_ps(89.0f));
	__m512 xc = _mm512_max_ps(xh, _mm512_set1_ps(-87.3365447504f));
	__m512 n = _mm512_roundscale_ps(
		_mm512_add_ps(_mm512_mul_ps(xc, _mm512_set1_ps(1.44269504088896341f)),
			      _mm512_set1_ps(0.5f)),
		_MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
	__m512 r = _mm512_sub_ps(xc, _mm512_mul_ps(n, _mm512_set1_ps(0.693359375f)));
	r = _mm512_add_ps(r, _mm512_mul_ps(n, _mm512_set1_ps(2.12194440e-4f)));
	__m512 z = _mm512_mul_ps(r, r);
	__m512 p = _mm512_set1_ps(1.9875691500e-4f);
	p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(1.3981999507e-3f));
	p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(8.3334519073e-3f));
	p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(4.1665795894e-2f));
	p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(1.6666665459e-1f));
	p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(5.0000001201e-1f));
	p = _mm512_add_ps(_mm512_add_ps(_mm512_mul_ps(p, z), r), _mm512_set1_ps(1.0f));
	__m512i ni = _mm512_cvttps_epi32(n);
	__m512i n1 = _mm512_srai_epi32(ni, 1), n2 = _mm512_sub_epi32(ni, n1);
	__m512i e1 = _mm512_slli_epi32(_mm512_add_epi32(n1, _mm512_set1_epi32(127)), 23);
	__m512i e2 = _mm512_slli_epi32(_mm512_add_epi32(n2, _mm512_set1_epi32(127)), 23);
	p = _mm512_mul_ps(_mm512_mul_ps(p, _mm512_castsi512_ps(e1)), _mm512_castsi512_ps(e2));
	return _mm512_add_ps(p, _mm512_sub_ps(x, x));
}

/* t[e] = lanes j < p of column e of rows x (stride st), zero beyond p. */
INLINE_AVX512 void transpose_in(__m512 *t, const float *x, int64_t st, int64_t p, int64_t hd)
{
	float buf[RML_ATT512_MAX_HD][16];
	if (p < 16)
		memset(buf, 0, (size_t)hd * sizeof buf[0]);
	for (int64_t j = 0; j < p; j++)
		for (int64_t e = 0; e < hd; e++)
			buf[e][j] = x[j * st + e];
	for (int64_t e = 0; e < hd; e++)
		t[e] = _mm512_loadu_ps(buf[e]);
}

/* s[r] = the dots of query row r (of R rows `qst` apart) with all keys,
 * over e in increasing order; R independent chains share each load. */
INLINE_AVX512 void dots16(__m512 *s, const int R, const float *q, int64_t qst, const __m512 *t,
			  int64_t hd)
{
	for (int r = 0; r < R; r++)
		s[r] = _mm512_setzero_ps();
	for (int64_t e = 0; e < hd; e++)
		for (int r = 0; r < R; r++)
			s[r] = _mm512_add_ps(s[r], _mm512_mul_ps(_mm512_set1_ps(q[r * qst + e]), t[e]));
}

/* For R output rows y_r (`yst` apart), every vector c of a row of width
 * hd: y_r[c] = (init ? y_r[c] : 0) + sum_j w[r * wr + j * wj] x_j[c], j in
 * increasing order. The rows share each load of x. */
INLINE_AVX512 void mix_rows(float *y, int64_t yst, const int R, int init, const float *w,
			    int64_t wr, int64_t wj, const float *x, int64_t st, int64_t p,
			    int64_t hd)
{
	for (int64_t c = 0; c < hd; c += 16) {
		int64_t width = hd - c < 16 ? hd - c : 16;
		__mmask16 m = (__mmask16)(width == 16 ? 0xFFFFu : (1u << width) - 1);
		__m512 acc[4];
		for (int r = 0; r < R; r++)
			acc[r] = init ? _mm512_maskz_loadu_ps(m, y + r * yst + c) : _mm512_setzero_ps();
		for (int64_t j = 0; j < p; j++) {
			__m512 xj = _mm512_maskz_loadu_ps(m, x + j * st + c);
			for (int r = 0; r < R; r++)
				acc[r] = _mm512_add_ps(acc[r],
						       _mm512_mul_ps(_mm512_set1_ps(w[r * wr + j * wj]), xj));
		}
		for (int r = 0; r < R; r++)
			_mm512_mask_storeu_ps(y + r * yst + c, m, acc[r]);
	}
}

/* mix_rows over n rows, four at a time */
AVX512 static void mix_all(float *y, int64_t yst, int64_t n, int init, const float *w,
			   int64_t wr, int64_t wj, const float *x, int64_t st, int64_t p,
			   int64_t hd)
{
	int64_t r = 0;
	for (; r + 4 <= n; r += 4)
		mix_rows(y + r * yst, yst, 4, init, w + r * wr, wr, wj, x, st, p, hd);
	for (; r < n; r++)
		mix_rows(y + r * yst, yst, 1, init, w + r * wr, wr, wj, x, st, p, hd);
}

/* One softmax row from its scaled dots: a = exp(s - max) / sum, the max
 * and the sum taken key by key. */
INLINE_AVX512 void softmax_row(float *a, __m512 s, int64_t p, __mmask16 mp)
{
	float row[16];
	_mm512_storeu_ps(row, s);
	float mx = -INFINITY;
	for (int64_t j = 0; j < p; j++)
		if (row[j] > mx)
			mx = row[j];
	__m512 ex = vexp16(_mm512_sub_ps(s, _mm512_set1_ps(mx)));
	_mm512_storeu_ps(row, ex);
	float sum = 0;
	for (int64_t j = 0; j < p; j++)
		sum += row[j];
	float inv = 1.0f / sum;
	_mm512_mask_storeu_ps(a, mp, _mm512_mul_ps(ex, _mm512_set1_ps(inv)));
}

AVX512 static void forward512(float *o, int64_t ost, float *a, const float *q, const float *k,
			      const float *v, int64_t st, int64_t p, int64_t hd, float scale)
{
	__m512 kt[RML_ATT512_MAX_HD], s[4];
	transpose_in(kt, k, st, p, hd);
	__mmask16 mp = (__mmask16)(p == 16 ? 0xFFFFu : (1u << p) - 1);
	__m512 vs = _mm512_set1_ps(scale);
	int64_t i = 0;
	for (; i + 4 <= p; i += 4) {
		dots16(s, 4, q + i * st, st, kt, hd);
		for (int r = 0; r < 4; r++)
			softmax_row(a + (i + r) * p, _mm512_mul_ps(s[r], vs), p, mp);
	}
	for (; i < p; i++) {
		dots16(s, 1, q + i * st, st, kt, hd);
		softmax_row(a + i * p, _mm512_mul_ps(s[0], vs), p, mp);
	}
	mix_all(o, ost, p, 0, a, p, 1, v, st, p, hd);
}

/* dS row from dA = dO_i . V_j: rowdot = sum_j dA_ij a_ij key by key,
 * dS_ij = a_ij (dA_ij - rowdot) scale. */
INLINE_AVX512 void dsoft_row(float *ds, __m512 da, const float *a, int64_t p, __mmask16 mp,
			     float scale)
{
	float row[16];
	__m512 ai = _mm512_maskz_loadu_ps(mp, a);
	_mm512_storeu_ps(row, _mm512_mul_ps(da, ai));
	float rowdot = 0;
	for (int64_t j = 0; j < p; j++)
		rowdot += row[j];
	__m512 dsi = _mm512_mul_ps(_mm512_mul_ps(ai, _mm512_sub_ps(da, _mm512_set1_ps(rowdot))),
				   _mm512_set1_ps(scale));
	_mm512_mask_storeu_ps(ds, mp, dsi);
}

AVX512 static void backward512(float *dq, float *dk, float *dv, const float *dout,
			       int64_t ost, const float *a, float *ds, const float *q,
			       const float *k, const float *v, int64_t st, int64_t p,
			       int64_t hd, float scale)
{
	__m512 vt[RML_ATT512_MAX_HD], da[4];
	transpose_in(vt, v, st, p, hd);
	__mmask16 mp = (__mmask16)(p == 16 ? 0xFFFFu : (1u << p) - 1);
	int64_t i = 0;
	for (; i + 4 <= p; i += 4) {
		dots16(da, 4, dout + i * ost, ost, vt, hd);
		for (int r = 0; r < 4; r++)
			dsoft_row(ds + (i + r) * p, da[r], a + (i + r) * p, p, mp, scale);
	}
	for (; i < p; i++) {
		dots16(da, 1, dout + i * ost, ost, vt, hd);
		dsoft_row(ds + i * p, da[0], a + i * p, p, mp, scale);
	}
	/* dV_j += sum_i a_ij dO_i;  dK_j += sum_i dS_ij Q_i  (over i in order) */
	mix_all(dv, st, p, 1, a, 1, p, dout, ost, p, hd);
	mix_all(dk, st, p, 1, ds, 1, p, q, st, p, hd);
	/* dQ_i += sum_j dS_ij K_j  (over j in order) */
	mix_all(dq, st, p, 1, ds, p, 1, k, st, p, hd);
}

void rml_att512_forward(float *o, int64_t ost, float *a, const float *q, const float *k,
			const float *v, int64_t st, int64_t p, int64_t hd, float scale)
{
	forward512(o, ost, a, q, k, v, st, p, hd, scale);
}

void rml_att512_backward(float *dq, float *dk, float *dv, const float *dout, int64_t ost,
			 const float *a, float *ds, const float *q, const float *k,
			 const float *v, int64_t st, int64_t p, int64_t hd, float scale)
{
	backward512(dq, dk, dv, dout, ost, a, ds, q, k, v, st, p, hd, scale);
}

#else /* no AVX-512 build: never usable, never called */

int rml_att512_usable(int64_t p, int64_t hd)
{
	(void)p, (void)hd;
	return 0;
}

void rml_att512_forward(float *o, int64_t ost, float *a, const float *q, const float *k,
			const float *v, int64_t st, int64_t p, int64_t hd, float scale)
{
	(void)o, (void)ost, (void)a, (void)q, (void)k, (void)v, (void)st, (void)p, (void)hd,
		(void)scale;
}

void rml_att512_backward(float *dq, float *dk, float *dv, const float *dout, int64_t ost,
			 const float *a, float *ds, const float *q, const float *k,
			 const float *v, int64_t st, int64_t p, int64_t hd, float scale)
{
	(void)dq, (void)dk, (void)dv, (void)dout, (void)ost, (void)a, (void)ds, (void)q,
		(void)k, (void)v, (void)st, (void)p, (void)hd, (void)scale;
}
#endif
