/*
 * test_gemm.c — the engine's matrix products (gemm.h) on both back ends:
 *
 *   - the own kernels give exactly, bit for bit, the sequence of fused
 *     multiply-adds that gemm.c promises (in increasing k for C; for G in
 *     increasing row, in chunks of 256 added to G, or beyond 2048 rows to
 *     per-segment sums then added to G), on shapes that cross
 *     every block edge: rows not a multiple of 8 or 64, columns not a
 *     multiple of 16 or 32, depth not a multiple of 256, padded leading
 *     dimensions;
 *   - so the result cannot depend on the thread count (checked at 1, 2
 *     and 3 threads, bit for bit);
 *   - OpenBLAS and the own kernels agree with a double-precision product
 *     within 1e-5 * max(1, |c|) * sqrt(k) / 4;
 *   - beta 0 never reads C (NaN there stays out of the result), a bias
 *     starts every row's sums, elements of C and G outside the product
 *     are never written.
 * Without AVX-512 the own-kernel tests are skipped.
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

#include "gemm.h"
#include "rml.h"

#define GUARD 12345.0f

static uint64_t rng = 88172645463325252ULL;

static float frand(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (float)((double)(rng >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

static float *rand_matrix(int64_t rows, int64_t ld)
{
	float *m = malloc((size_t)(rows * ld + 1) * sizeof *m);
	assert_non_null(m);
	for (int64_t i = 0; i < rows * ld; i++)
		m[i] = frand();
	return m;
}

static int have_own(void)
{
	rml_gemm_backend was = rml_gemm_get_backend();
	int own = rml_gemm_set_backend(RML_GEMM_OWN) == RML_GEMM_OWN;
	rml_gemm_set_backend(was);
	return own;
}

typedef struct {
	int64_t m, n, k;
} shape;

static const shape shapes[] = {
	{ 1, 1, 1 },      { 7, 5, 3 },      { 8, 16, 16 },   { 9, 17, 31 },   { 64, 32, 64 },
	{ 65, 33, 257 },  { 130, 80, 96 },  { 200, 15, 600 }, { 513, 48, 24 }, { 3, 160, 192 },
	{ 1000, 64, 16 }, { 77, 100, 513 }, { 256, 31, 1 },   { 31, 1, 40 },   { 600, 20, 9 },
	{ 4500, 24, 20 },
};
#define N_SHAPES (sizeof shapes / sizeof shapes[0])

/* C (m x n, ldc) by the chain of fused multiply-adds gemm.c promises. */
static void chain_rows(const shape *s, const float *A, int64_t lda, const float *B, int64_t ldb,
		       int transb, float beta, const float *bias, float *C, int64_t ldc)
{
	for (int64_t i = 0; i < s->m; i++)
		for (int64_t j = 0; j < s->n; j++) {
			float c = beta != 0.0f ? C[i * ldc + j] : bias ? bias[j] : 0.0f;
			for (int64_t l = 0; l < s->k; l++)
				c = fmaf(A[i * lda + l], transb ? B[j * ldb + l] : B[l * ldb + j], c);
			C[i * ldc + j] = c;
		}
}

static double exact_rows(const shape *s, const float *A, int64_t lda, const float *B,
			 int64_t ldb, int transb, float beta, const float *bias, const float *C0,
			 int64_t ldc, int64_t i, int64_t j)
{
	double c = beta != 0.0f ? C0[i * ldc + j] : bias ? bias[j] : 0.0;
	for (int64_t l = 0; l < s->k; l++)
		c += (double)A[i * lda + l] * (transb ? B[j * ldb + l] : B[l * ldb + j]);
	return c;
}

/* One product on the back end in force, compared with the double product
 * (always) and with the chain (when `exact`); returns C. Mode 0: beta 0,
 * 1: beta 1, 2: beta 0 and a bias. */
static float *run_rows(const shape *s, int transb, int mode, int exact)
{
	float beta = mode == 1 ? 1.0f : 0.0f;
	float *bias = mode == 2 ? rand_matrix(1, s->n) : NULL;
	int64_t lda = s->k + 3, ldb = (transb ? s->k : s->n) + 5, ldc = s->n + 7;
	float *A = rand_matrix(s->m, lda);
	float *B = rand_matrix(transb ? s->n : s->k, ldb);
	float *C = rand_matrix(s->m, ldc), *C0 = malloc((size_t)(s->m * ldc + 1) * sizeof *C0);
	assert_non_null(C0);
	for (int64_t i = 0; i < s->m; i++)
		for (int64_t j = 0; j < ldc; j++) {
			if (j >= s->n)
				C[i * ldc + j] = GUARD;
			else if (beta == 0.0f)
				C[i * ldc + j] = NAN;
		}
	memcpy(C0, C, (size_t)(s->m * ldc) * sizeof *C);
	rml_gemm_rows(s->m, s->n, s->k, A, lda, B, ldb, transb, beta, bias, C, ldc);
	double tol = 1e-5 * sqrt((double)s->k) / 4 + 1e-6;
	for (int64_t i = 0; i < s->m; i++)
		for (int64_t j = 0; j < ldc; j++) {
			float c = C[i * ldc + j];
			if (j >= s->n) {
				assert_true(c == GUARD);
				continue;
			}
			double e = exact_rows(s, A, lda, B, ldb, transb, beta, bias, C0, ldc, i, j);
			if (!(fabs(c - e) <= tol * fmax(1.0, fabs(e)))) {
				fprintf(stderr, "%s %lldx%lldx%lld transb %d beta %g: C[%lld,%lld] %.9g, "
						"exact %.9g\n",
					rml_gemm_backend_name(), (long long)s->m, (long long)s->n,
					(long long)s->k, transb, beta, (long long)i, (long long)j, c, e);
				fail();
			}
		}
	if (exact) {
		chain_rows(s, A, lda, B, ldb, transb, beta, bias, C0, ldc);
		for (int64_t i = 0; i < s->m; i++)
			for (int64_t j = 0; j < s->n; j++)
				if (memcmp(&C[i * ldc + j], &C0[i * ldc + j], sizeof(float))) {
					fprintf(stderr, "%lldx%lldx%lld transb %d beta %g: C[%lld,%lld] "
							"%.9g, chain %.9g\n",
						(long long)s->m, (long long)s->n, (long long)s->k, transb,
						beta, (long long)i, (long long)j, C[i * ldc + j],
						C0[i * ldc + j]);
					fail();
				}
	}
	free(A);
	free(B);
	free(C0);
	free(bias);
	return C;
}

/* G (k x n, ldg) += A^T D, compared as above; returns G. */
static float *run_wgrad(const shape *s, int exact)
{
	/* here s->m is the number of rows summed over */
	int64_t lda = s->k + 2, ldd = s->n + 3, ldg = s->n + 4;
	float *A = rand_matrix(s->m, lda), *D = rand_matrix(s->m, ldd);
	float *G = rand_matrix(s->k, ldg), *G0 = malloc((size_t)(s->k * ldg + 1) * sizeof *G0);
	assert_non_null(G0);
	for (int64_t i = 0; i < s->k; i++)
		for (int64_t j = s->n; j < ldg; j++)
			G[i * ldg + j] = GUARD;
	memcpy(G0, G, (size_t)(s->k * ldg) * sizeof *G);
	rml_gemm_wgrad(s->m, s->k, s->n, A, lda, D, ldd, G, ldg);
	double tol = 1e-5 * sqrt((double)s->m) / 4 + 1e-6;
	for (int64_t i = 0; i < s->k; i++)
		for (int64_t j = 0; j < ldg; j++) {
			float g = G[i * ldg + j];
			if (j >= s->n) {
				assert_true(g == GUARD);
				continue;
			}
			/* chunks of 256 rows; beyond 2048 rows, segments of 2048
			 * summed from zero, then added to G in order */
			double e = G0[i * ldg + j], chain;
			int segs = s->m > 2048;
			float fc = G0[i * ldg + j], seg = 0, part = 0;
			for (int64_t r = 0; r < s->m; r++) {
				e += (double)A[r * lda + i] * D[r * ldd + j];
				part = fmaf(A[r * lda + i], D[r * ldd + j], part);
				if (r % 256 == 255 || r == s->m - 1) {
					if (segs)
						seg += part;
					else
						fc += part;
					part = 0;
				}
				if (segs && (r % 2048 == 2047 || r == s->m - 1)) {
					fc += seg;
					seg = 0;
				}
			}
			chain = fc;
			if (!(fabs(g - e) <= tol * fmax(1.0, fabs(e)))) {
				fprintf(stderr, "%s wgrad %lldx%lldx%lld: G[%lld,%lld] %.9g, exact %.9g\n",
					rml_gemm_backend_name(), (long long)s->m, (long long)s->k,
					(long long)s->n, (long long)i, (long long)j, g, e);
				fail();
			}
			if (exact && g != (float)chain) {
				fprintf(stderr, "wgrad %lldx%lldx%lld: G[%lld,%lld] %.9g, chain %.9g\n",
					(long long)s->m, (long long)s->k, (long long)s->n, (long long)i,
					(long long)j, g, chain);
				fail();
			}
		}
	free(A);
	free(D);
	free(G0);
	return G;
}

static void test_openblas_vs_double(void **state)
{
	(void)state;
	rml_gemm_set_backend(RML_GEMM_OPENBLAS);
	assert_string_equal(rml_gemm_backend_name(), "openblas");
	for (int t = 1; t <= 2; t++) {
		rml_set_threads(t);
		for (size_t i = 0; i < N_SHAPES; i++) {
			for (int transb = 0; transb < 2; transb++)
				for (int mode = 0; mode < 3; mode++)
					free(run_rows(&shapes[i], transb, mode, 0));
			free(run_wgrad(&shapes[i], 0));
		}
	}
	rml_gemm_set_backend(RML_GEMM_AUTO);
}

static void test_own_is_the_fma_chain(void **state)
{
	(void)state;
	if (!have_own())
		skip();
	rml_gemm_set_backend(RML_GEMM_OWN);
	assert_string_equal(rml_gemm_backend_name(), "own-avx512");
	for (int t = 1; t <= 2; t++) {
		rml_set_threads(t);
		for (size_t i = 0; i < N_SHAPES; i++) {
			for (int transb = 0; transb < 2; transb++)
				for (int mode = 0; mode < 3; mode++)
					free(run_rows(&shapes[i], transb, mode, 1));
			free(run_wgrad(&shapes[i], 1));
		}
	}
	rml_gemm_set_backend(RML_GEMM_AUTO);
}

/* The shapes of the network at batch 128 are far larger than the chain
 * test can afford: here, the same inputs at 1, 2 and 3 threads. */
static void test_own_thread_count_independent(void **state)
{
	(void)state;
	if (!have_own())
		skip();
	rml_gemm_set_backend(RML_GEMM_OWN);
	const int64_t m = 4099, n = 80, k = 300;
	float *A = rand_matrix(m, k), *B = rand_matrix(k, n), *D = rand_matrix(m, n);
	float *C[3], *G[3];
	for (int t = 0; t < 3; t++) {
		rml_set_threads(t + 1);
		C[t] = malloc((size_t)(m * n) * sizeof(float));
		G[t] = calloc((size_t)(k * n), sizeof(float));
		assert_non_null(C[t]);
		assert_non_null(G[t]);
		rml_gemm_rows(m, n, k, A, k, B, n, 0, 0.0f, NULL, C[t], n);
		rml_gemm_wgrad(m, k, n, A, k, D, n, G[t], n);
	}
	for (int t = 1; t < 3; t++) {
		assert_memory_equal(C[0], C[t], (size_t)(m * n) * sizeof(float));
		assert_memory_equal(G[0], G[t], (size_t)(k * n) * sizeof(float));
	}
	for (int t = 0; t < 3; t++) {
		free(C[t]);
		free(G[t]);
	}
	free(A);
	free(B);
	free(D);
	rml_set_threads(2);
	rml_gemm_set_backend(RML_GEMM_AUTO);
}

static void test_degenerate_shapes(void **state)
{
	(void)state;
	for (int b = 0; b < 2; b++) {
		rml_gemm_set_backend(b ? RML_GEMM_OWN : RML_GEMM_OPENBLAS);
		float C[6] = { 1, 2, 3, 4, 5, 6 }, G[6] = { 1, 2, 3, 4, 5, 6 }, A[1] = { 9 };
		/* k = 0 with beta 0 zeroes C, with beta 1 leaves it */
		rml_gemm_rows(2, 3, 0, A, 1, A, 1, 0, 1.0f, NULL, C, 3);
		assert_true(C[0] == 1 && C[5] == 6);
		rml_gemm_rows(2, 3, 0, A, 1, A, 1, 0, 0.0f, NULL, C, 3);
		for (int i = 0; i < 6; i++)
			assert_true(C[i] == 0);
		/* with a bias, k = 0 gives the bias in every row */
		float bias[3] = { 7, 8, 9 };
		rml_gemm_rows(2, 3, 0, A, 1, A, 1, 0, 0.0f, bias, C, 3);
		for (int i = 0; i < 6; i++)
			assert_true(C[i] == bias[i % 3]);
		/* no rows: G unchanged; m or n = 0: nothing touched */
		rml_gemm_wgrad(0, 2, 3, A, 2, A, 3, G, 3);
		rml_gemm_rows(0, 3, 2, A, 2, A, 3, 0, 0.0f, NULL, G, 3);
		for (int i = 0; i < 6; i++)
			assert_true(G[i] == i + 1);
	}
	rml_gemm_set_backend(RML_GEMM_AUTO);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_openblas_vs_double),
		cmocka_unit_test(test_own_is_the_fma_chain),
		cmocka_unit_test(test_own_thread_count_independent),
		cmocka_unit_test(test_degenerate_shapes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
