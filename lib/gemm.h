/*
 * gemm.h — the two matrix products the engine runs on, row-major float:
 *
 *   rml_gemm_rows:  C[m,n] = A[m,k] · B + (beta ? C : bias)  (B [k,n], or
 *                   [n,k] when transb; beta 0 or 1; bias [n], added to
 *                   every row, or NULL) — forward of a linear layer or a
 *                   convolution, and their input gradient;
 *   rml_gemm_wgrad: G[k,n] += A[rows,k]^T · D[rows,n] — weight gradients.
 *
 * On a CPU with AVX-512 they run on our own kernels, made for the shapes
 * of small networks (k and n of a few dozen to a few hundred, m large):
 * no packing of A, the small B packed once per call, tails by masks.
 * Elsewhere, or when the OpenBLAS back end is chosen, they call
 * cblas_sgemm. Both back ends split work over OpenMP threads so that no
 * two threads add into the same element: every element is the same
 * sequence of multiply-adds whatever the thread count, and results depend
 * only on the inputs and the back end.
 */
#ifndef RML_GEMM_H
#define RML_GEMM_H

#include <stdint.h>

typedef enum {
	RML_GEMM_AUTO,    /* own kernels where the CPU has AVX-512 (the default) */
	RML_GEMM_OPENBLAS,
	RML_GEMM_OWN      /* refused (falls back to OpenBLAS) without AVX-512 */
} rml_gemm_backend;

/* Choose a back end for every later call; returns the one in force. */
rml_gemm_backend rml_gemm_set_backend(rml_gemm_backend b);
/* The back end in force: RML_GEMM_OPENBLAS or RML_GEMM_OWN. */
rml_gemm_backend rml_gemm_get_backend(void);
/* Its name, for reports: "own-avx512" or "openblas". */
const char *rml_gemm_backend_name(void);

void rml_gemm_rows(int64_t m, int64_t n, int64_t k, const float *A, int64_t lda,
		   const float *B, int64_t ldb, int transb, float beta, const float *bias,
		   float *C, int64_t ldc);
void rml_gemm_wgrad(int64_t rows, int64_t k, int64_t n, const float *A, int64_t lda,
		    const float *D, int64_t ldd, float *G, int64_t ldg);
/* P[k,n] = A^T · D (overwritten, P dense with row length n), on the
 * calling thread only: for callers that share work among threads
 * themselves and add the partial sums in a fixed order. */
void rml_gemm_wgrad_part(int64_t rows, int64_t k, int64_t n, const float *A, int64_t lda,
			 const float *D, int64_t ldd, float *P);
/* G[k,n] += P_0 + P_1 + ... + P_{np-1}, in that order, element by element
 * (the P_q dense [k,n], one after another). */
void rml_gemm_add_parts(int64_t np, int64_t k, int64_t n, const float *P, float *G, int64_t ldg);

#endif
