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
/* The row segments of rml_gemm_wgrad's partial sums and the chunks within
 * a segment (gemm.c's opening comment): rows per segment, or 0 when the
 * back end in force does not cut the rows into segments (OpenBLAS), and
 * rows per chunk. For callers that make a segment's rows themselves and
 * want the bits rml_gemm_wgrad would give. */
int64_t rml_gemm_wgrad_segment(void);
int64_t rml_gemm_wgrad_chunk(void);
/* P[k,n] += A^T · D over `rows` rows (P dense with row length n), on the
 * calling thread, own kernels only (rml_gemm_wgrad_segment() > 0): each
 * chunk's terms summed from zero, then added to P. Successive calls over
 * the pieces of one segment, every piece but the last a whole number of
 * chunks, starting from a zeroed P, give that segment's partial sum with
 * the bits of rml_gemm_wgrad_part over the whole segment. */
void rml_gemm_wgrad_part_add(int64_t rows, int64_t k, int64_t n, const float *A, int64_t lda,
			     const float *D, int64_t ldd, float *P);
/* B packed once for many products on the calling thread (own kernels):
 * the packing of rml_gemm_rows, in a buffer of the calling thread that
 * its next rml_gemm_rows or rml_gemm_pack_b overwrites. NULL when it
 * cannot be allocated or the own kernels are not in force. */
const float *rml_gemm_pack_b(const float *B, int64_t ldb, int transb, int64_t n, int64_t k);
/* rml_gemm_rows without bias on the calling thread only, with B packed by
 * rml_gemm_pack_b(B, ldb, transb, n, k) on this thread: the same bits as
 * rml_gemm_rows(m, n, k, A, lda, B, ldb, transb, beta, NULL, C, ldc),
 * row by row. A NULL bp makes it call rml_gemm_rows with B itself. */
void rml_gemm_rows_packed(int64_t m, int64_t n, int64_t k, const float *A, int64_t lda,
			  const float *bp, const float *B, int64_t ldb, int transb, float beta,
			  float *C, int64_t ldc);
/* G[k,n] += P_0 + P_1 + ... + P_{np-1}, in that order, element by element
 * (the P_q dense [k,n], one after another). */
void rml_gemm_add_parts(int64_t np, int64_t k, int64_t n, const float *P, float *G, int64_t ldg);

#endif
