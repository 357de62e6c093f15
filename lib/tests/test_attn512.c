/*
 * test_attn512.c — the AVX-512 attention heads for short sequences
 * (attn512.h), called directly, against attention computed here in
 * double: forward output and weights, and the gradients backward adds
 * to q, k and v, for sequence lengths 1 to 16 and head widths below, at
 * and above 16, with rows further apart than a head is wide. Skipped
 * where the CPU has no AVX-512 or the build has no such kernels (then
 * rml_att512_usable says no). That they equal the scalar loops bit for
 * bit is test_kernels.c's test_attention_fast_path_bits.
 *
 * Tolerance: |a - b| <= 1e-5 * max(1, |b|) (float32 against double on
 * values of order one).
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

#include "attn512.h"
#include "rml.h"

static void close_to(const char *what, const float *a, const double *b, int64_t n)
{
	for (int64_t i = 0; i < n; i++)
		if (!(fabs(a[i] - b[i]) <= 1e-5 * fmax(1, fabs(b[i]))))
			fail_msg("%s[%lld]: %.9g, expected %.9g", what, (long long)i, a[i], b[i]);
}

static void test_bounds(void **state)
{
	(void)state;
	assert_false(rml_att512_usable(0, 8));
	assert_false(rml_att512_usable(RML_ATT512_MAX_P + 1, 8));
	assert_false(rml_att512_usable(4, RML_ATT512_MAX_HD + 1));
	assert_false(rml_att512_usable(4, 0));
}

static void test_against_double(void **state)
{
	(void)state;
	if (!__builtin_cpu_supports("avx512f") || !rml_att512_usable(4, 16))
		skip();
	static const int64_t ps[] = { 1, 7, 16 }, hds[] = { 8, 16, 33, 64 };
	rml_rng r;
	rml_rng_seed(&r, 5);
	for (int ip = 0; ip < 3; ip++)
		for (int ih = 0; ih < 4; ih++) {
			int64_t p = ps[ip], hd = hds[ih], st = hd + 3, ost = hd + 5;
			float scale = (float)(1 / sqrt((double)hd));
			float q[16 * 67], k[16 * 67], v[16 * 67], o[16 * 69], a[256], ds[256];
			float dout[16 * 69], dq[16 * 67], dk[16 * 67], dv[16 * 67];
			for (int i = 0; i < 16 * 67; i++) {
				q[i] = (float)(2 * rml_rng_uniform(&r) - 1);
				k[i] = (float)(2 * rml_rng_uniform(&r) - 1);
				v[i] = (float)(2 * rml_rng_uniform(&r) - 1);
				dq[i] = dk[i] = dv[i] = 0.25f;
			}
			for (int i = 0; i < 16 * 69; i++)
				dout[i] = (float)(2 * rml_rng_uniform(&r) - 1);
			rml_att512_forward(o, ost, a, q, k, v, st, p, hd, scale);
			rml_att512_backward(dq, dk, dv, dout, ost, a, ds, q, k, v, st, p, hd, scale);
			double wa[256], wo[16 * 64], da[256], wds[256];
			double wdq[16 * 64], wdk[16 * 64], wdv[16 * 64];
			for (int64_t i = 0; i < p; i++) {
				double mx = -INFINITY;
				for (int64_t j = 0; j < p; j++) {
					double s = 0;
					for (int64_t d = 0; d < hd; d++)
						s += (double)q[i * st + d] * k[j * st + d];
					wa[i * p + j] = s * scale;
					mx = fmax(mx, wa[i * p + j]);
				}
				double sum = 0;
				for (int64_t j = 0; j < p; j++)
					sum += wa[i * p + j] = exp(wa[i * p + j] - mx);
				for (int64_t j = 0; j < p; j++)
					wa[i * p + j] /= sum;
				for (int64_t d = 0; d < hd; d++) {
					double s = 0;
					for (int64_t j = 0; j < p; j++)
						s += wa[i * p + j] * v[j * st + d];
					wo[i * hd + d] = s;
				}
			}
			for (int64_t i = 0; i < p; i++) {
				double dot = 0;
				for (int64_t j = 0; j < p; j++) {
					double s = 0;
					for (int64_t d = 0; d < hd; d++)
						s += (double)dout[i * ost + d] * v[j * st + d];
					da[i * p + j] = s;
					dot += s * wa[i * p + j];
				}
				for (int64_t j = 0; j < p; j++)
					wds[i * p + j] = wa[i * p + j] * (da[i * p + j] - dot);
			}
			for (int64_t j = 0; j < p; j++)
				for (int64_t d = 0; d < hd; d++) {
					double sv = 0.25, sq = 0.25, sk = 0.25;
					for (int64_t i = 0; i < p; i++) {
						sv += wa[i * p + j] * dout[i * ost + d];
						sq += (double)scale * wds[j * p + i] * k[i * st + d];
						sk += (double)scale * wds[i * p + j] * q[i * st + d];
					}
					wdv[j * hd + d] = sv;
					wdq[j * hd + d] = sq;
					wdk[j * hd + d] = sk;
				}
			char what[64];
			snprintf(what, sizeof what, "p %lld hd %lld weights", (long long)p, (long long)hd);
			close_to(what, a, wa, p * p);
			for (int64_t i = 0; i < p; i++) {
				snprintf(what, sizeof what, "p %lld hd %lld row %lld", (long long)p,
					 (long long)hd, (long long)i);
				close_to(what, o + i * ost, wo + i * hd, hd);
				close_to(what, dq + i * st, wdq + i * hd, hd);
				close_to(what, dk + i * st, wdk + i * hd, hd);
				close_to(what, dv + i * st, wdv + i * hd, hd);
			}
		}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bounds),
		cmocka_unit_test(test_against_double),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
