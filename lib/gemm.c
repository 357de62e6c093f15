/*
 * gemm.c — matrix products for the layers (contract in gemm.h).
 *
 * Why our own kernels: the engine's products are tall and thin (a 1x1
 * convolution at batch 128 is 32,768 rows by 16-160 columns over 16-192
 * inputs). A general BLAS spends much of such a call packing A, and the
 * OpenBLAS build at hand may run AVX2 kernels on a CPU that has AVX-512.
 * Here A is read in place (its rows are contiguous in NHWC), only B —
 * at most a few hundred kilobytes — is packed, into panels of 32 columns,
 * and an 8x32 block of C (16x16 when n is small) lives in 16 vector
 * registers while k runs.
 *
 * Determinism: an element of C is initialised (0, the bias, or C itself
 * when beta is 1) and then receives one fused multiply-add per term in
 * increasing k. For G, the rows go in chunks of RC = 256 in increasing
 * order: each chunk's terms are fused multiply-adds into a sum started at
 * zero, which is then added to the partial sum; more than SEG = 2048 rows
 * are cut into segments of SEG, each with its own partial sum from zero,
 * and G adds them in order. Blocking stores and reloads partial sums
 * exactly, so neither block sizes nor the thread split change a single
 * bit.
 */
#include "gemm.h"

#include <cblas.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__)
#define HAVE_OWN 1
#include <immintrin.h>
#endif

/* Products smaller than this many multiply-adds run on one thread. */
#define PAR_FLOPS 65536

/* ---- back end ---------------------------------------------------------------- */

static int backend_in_force = -1;

static int cpu_has_avx512(void)
{
#ifdef HAVE_OWN
	__builtin_cpu_init();
	return __builtin_cpu_supports("avx512f");
#else
	return 0;
#endif
}

rml_gemm_backend rml_gemm_set_backend(rml_gemm_backend b)
{
	if (b == RML_GEMM_OPENBLAS || !cpu_has_avx512())
		backend_in_force = RML_GEMM_OPENBLAS;
	else
		backend_in_force = RML_GEMM_OWN;
	return (rml_gemm_backend)backend_in_force;
}

/* The first call settles the default; RML_GEMM=openblas in the
 * environment chooses OpenBLAS (for comparisons). */
rml_gemm_backend rml_gemm_get_backend(void)
{
	if (backend_in_force < 0) {
		const char *e = getenv("RML_GEMM");
		rml_gemm_set_backend(e && strcmp(e, "openblas") == 0 ? RML_GEMM_OPENBLAS
								     : RML_GEMM_AUTO);
	}
	return (rml_gemm_backend)backend_in_force;
}

const char *rml_gemm_backend_name(void)
{
	return rml_gemm_get_backend() == RML_GEMM_OWN ? "own-avx512" : "openblas";
}

/* ---- OpenBLAS ------------------------------------------------------------------
 * OpenBLAS runs single-threaded (see rml_set_threads); the threads are
 * ours, splitting rows of C or columns of G. */

static void blas_rows(int64_t m, int64_t n, int64_t k, const float *A, int64_t lda,
		      const float *B, int64_t ldb, int transb, float beta, float *C, int64_t ldc)
{
	int nt = omp_get_max_threads();
	int64_t per = (m + nt - 1) / nt;
	enum CBLAS_TRANSPOSE tb = transb ? CblasTrans : CblasNoTrans;
	if (m * n * k < PAR_FLOPS || nt == 1 || per < 8) {
		cblas_sgemm(CblasRowMajor, CblasNoTrans, tb, (int)m, (int)n, (int)k, 1.0f, A,
			    (int)lda, B, (int)ldb, beta, C, (int)ldc);
		return;
	}
#pragma omp parallel for schedule(static)
	for (int t = 0; t < nt; t++) {
		int64_t r0 = t * per, r1 = r0 + per < m ? r0 + per : m;
		if (r1 > r0)
			cblas_sgemm(CblasRowMajor, CblasNoTrans, tb, (int)(r1 - r0), (int)n, (int)k,
				    1.0f, A + r0 * lda, (int)lda, B, (int)ldb, beta, C + r0 * ldc,
				    (int)ldc);
	}
}

static void blas_wgrad(int64_t rows, int64_t k, int64_t n, const float *A, int64_t lda,
		       const float *D, int64_t ldd, float *G, int64_t ldg)
{
	int nt = omp_get_max_threads();
	int64_t per = (n + nt - 1) / nt;
	if (rows * n * k < PAR_FLOPS || nt == 1 || per < 4) {
		cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)k, (int)n, (int)rows, 1.0f,
			    A, (int)lda, D, (int)ldd, 1.0f, G, (int)ldg);
		return;
	}
#pragma omp parallel for schedule(static)
	for (int t = 0; t < nt; t++) {
		int64_t c0 = t * per, c1 = c0 + per < n ? c0 + per : n;
		if (c1 > c0)
			cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)k, (int)(c1 - c0),
				    (int)rows, 1.0f, A, (int)lda, D + c0, (int)ldd, 1.0f, G + c0,
				    (int)ldg);
	}
}

#ifdef HAVE_OWN
/* ---- own kernels (AVX-512) -------------------------------------------------------- */

#define MR 8    /* rows of a register block of two vectors' width */
#define MR1 16  /* rows of one a vector wide (the last panel when n <= 16) */
#define NR 32   /* columns of a register block: two vectors */
#define KC 256  /* depth of one pass over a packed panel (32 KB of it) */
#define MC 64   /* rows a thread takes at a time */
#define RC 256  /* rows of A and D per pass of the weight gradient */

#define AVX512 __attribute__((target("avx512f")))
#define INLINE_AVX512 __attribute__((target("avx512f"), always_inline)) static inline

/* The columns of a panel of width w (1..32) as two masks. */
static void panel_masks(int64_t w, __mmask16 *m0, __mmask16 *m1)
{
	*m0 = (__mmask16)(w >= 16 ? 0xFFFFu : (1u << w) - 1);
	*m1 = (__mmask16)(w >= 32 ? 0xFFFFu : w > 16 ? (1u << (w - 16)) - 1 : 0u);
}

/* Packed B: panel p holds columns 32p..32p+31 for every l, 32 floats per
 * l, zero past n. One buffer per thread, kept between calls: a fresh
 * allocation of this size would be fresh pages, faulted in every call. */
static _Thread_local float *pack_buf;
static _Thread_local size_t pack_cap;

static float *pack_b(const float *B, int64_t ldb, int transb, int64_t n, int64_t k)
{
	int64_t np = (n + NR - 1) / NR;
	size_t need = (size_t)(np * k * NR);
	if (need > pack_cap) {
		float *p = aligned_alloc(64, (need * sizeof(float) + 63) / 64 * 64);
		if (!p)
			return NULL;
		free(pack_buf);
		pack_buf = p;
		pack_cap = need;
	}
	for (int64_t p = 0; p < np; p++) {
		float *dst = pack_buf + p * k * NR;
		int64_t w = n - p * NR < NR ? n - p * NR : NR;
		for (int64_t l = 0; l < k; l++) {
			float *d = dst + l * NR;
			if (transb)
				for (int64_t j = 0; j < w; j++)
					d[j] = B[(p * NR + j) * ldb + l];
			else
				memcpy(d, B + l * ldb + p * NR, (size_t)w * sizeof *d);
			for (int64_t j = w; j < NR; j++)
				d[j] = 0.0f;
		}
	}
	return pack_buf;
}

/* C[mr, 16*nv] (masked) = (load ? C : bias row, or 0) + a[mr, kc] · bp[kc, 32] */
INLINE_AVX512 void rows_tile(const int mr, const int nv, int64_t kc, const float *a,
			     int64_t lda, const float *bp, float *c, int64_t ldc, __mmask16 m0,
			     __mmask16 m1, int load, const float *bias)
{
	__m512 acc[MR1][2];
	__m512 i0 = bias ? _mm512_maskz_loadu_ps(m0, bias) : _mm512_setzero_ps();
	__m512 i1 = bias && nv == 2 ? _mm512_maskz_loadu_ps(m1, bias + 16) : _mm512_setzero_ps();
	for (int i = 0; i < mr; i++) {
		acc[i][0] = load ? _mm512_maskz_loadu_ps(m0, c + i * ldc) : i0;
		acc[i][1] = load && nv == 2 ? _mm512_maskz_loadu_ps(m1, c + i * ldc + 16) : i1;
	}
	for (int64_t l = 0; l < kc; l++) {
		__m512 b0 = _mm512_load_ps(bp + l * NR);
		__m512 b1 = nv == 2 ? _mm512_load_ps(bp + l * NR + 16) : _mm512_setzero_ps();
		for (int i = 0; i < mr; i++) {
			__m512 ai = _mm512_set1_ps(a[i * lda + l]);
			acc[i][0] = _mm512_fmadd_ps(ai, b0, acc[i][0]);
			if (nv == 2)
				acc[i][1] = _mm512_fmadd_ps(ai, b1, acc[i][1]);
		}
	}
	for (int i = 0; i < mr; i++) {
		_mm512_mask_storeu_ps(c + i * ldc, m0, acc[i][0]);
		if (nv == 2)
			_mm512_mask_storeu_ps(c + i * ldc + 16, m1, acc[i][1]);
	}
}

/* G[mr, 16*nv] (masked) += a[rows, mr]^T · d[rows, 16*nv], the rows
 * summed from zero and then added to G: a chain over a whole batch of
 * rows (32,768 at batch 128) would lose digits that these chunks keep. */
INLINE_AVX512 void wgrad_tile(const int mr, const int nv, int64_t rows, const float *a,
			      int64_t lda, const float *d, int64_t ldd, float *g, int64_t ldg,
			      __mmask16 m0, __mmask16 m1)
{
	__m512 acc[MR1][2];
	for (int i = 0; i < mr; i++)
		acc[i][0] = acc[i][1] = _mm512_setzero_ps();
	for (int64_t r = 0; r < rows; r++) {
		__m512 d0 = _mm512_maskz_loadu_ps(m0, d + r * ldd);
		__m512 d1 = nv == 2 ? _mm512_maskz_loadu_ps(m1, d + r * ldd + 16)
				    : _mm512_setzero_ps();
		for (int i = 0; i < mr; i++) {
			__m512 ai = _mm512_set1_ps(a[r * lda + i]);
			acc[i][0] = _mm512_fmadd_ps(ai, d0, acc[i][0]);
			if (nv == 2)
				acc[i][1] = _mm512_fmadd_ps(ai, d1, acc[i][1]);
		}
	}
	for (int i = 0; i < mr; i++) {
		_mm512_mask_storeu_ps(g + i * ldg, m0,
				      _mm512_add_ps(_mm512_maskz_loadu_ps(m0, g + i * ldg), acc[i][0]));
		if (nv == 2)
			_mm512_mask_storeu_ps(
				g + i * ldg + 16, m1,
				_mm512_add_ps(_mm512_maskz_loadu_ps(m1, g + i * ldg + 16), acc[i][1]));
	}
}

/* One instance per block height and width, so the accumulators stay in
 * registers. */
#define TILE_CASE(LABEL, F, M, ...)           \
	LABEL:                                \
		if (nv == 2)                  \
			F(M, 2, __VA_ARGS__); \
		else                          \
			F(M, 1, __VA_ARGS__); \
		break;
/* Blocks one vector wide are 16 rows high (mr 9..16 only with nv 1). */
#define TILE_CASE1(M, F, ...)         \
	case M:                       \
		F(M, 1, __VA_ARGS__); \
		break;
#define TILE_SWITCH(F, ...)                                                              \
	switch (mr) {                                                                    \
		TILE_CASE(case 1, F, 1, __VA_ARGS__) TILE_CASE(case 2, F, 2, __VA_ARGS__)    \
		TILE_CASE(case 3, F, 3, __VA_ARGS__) TILE_CASE(case 4, F, 4, __VA_ARGS__)    \
		TILE_CASE(case 5, F, 5, __VA_ARGS__) TILE_CASE(case 6, F, 6, __VA_ARGS__)    \
		TILE_CASE(case 7, F, 7, __VA_ARGS__) TILE_CASE(case 8, F, 8, __VA_ARGS__)    \
		TILE_CASE1(9, F, __VA_ARGS__) TILE_CASE1(10, F, __VA_ARGS__)                 \
		TILE_CASE1(11, F, __VA_ARGS__) TILE_CASE1(12, F, __VA_ARGS__)                \
		TILE_CASE1(13, F, __VA_ARGS__) TILE_CASE1(14, F, __VA_ARGS__)                \
		TILE_CASE1(15, F, __VA_ARGS__) default : F(16, 1, __VA_ARGS__);              \
	}

AVX512 static void rows_tile_any(int mr, int nv, int64_t kc, const float *a, int64_t lda,
				 const float *bp, float *c, int64_t ldc, __mmask16 m0,
				 __mmask16 m1, int load, const float *bias)
{
	TILE_SWITCH(rows_tile, kc, a, lda, bp, c, ldc, m0, m1, load, bias)
}

AVX512 static void wgrad_tile_any(int mr, int nv, int64_t rows, const float *a, int64_t lda,
				  const float *d, int64_t ldd, float *g, int64_t ldg,
				  __mmask16 m0, __mmask16 m1)
{
	TILE_SWITCH(wgrad_tile, rows, a, lda, d, ldd, g, ldg, m0, m1)
}

/* Rows r0..r1 of C: depth in passes of KC, each over every panel. */
AVX512 static void rows_block(int64_t r0, int64_t r1, int64_t n, int64_t k, const float *A,
			      int64_t lda, const float *bp, float beta, const float *bias, float *C,
			      int64_t ldc)
{
	int64_t np = (n + NR - 1) / NR;
	for (int64_t l0 = 0; l0 < k; l0 += KC) {
		int64_t kc = k - l0 < KC ? k - l0 : KC;
		int load = beta != 0.0f || l0 > 0;
		for (int64_t p = 0; p < np; p++) {
			int64_t w = n - p * NR < NR ? n - p * NR : NR;
			__mmask16 m0, m1;
			panel_masks(w, &m0, &m1);
			int nv = w > 16 ? 2 : 1;
			const float *bpp = bp + (p * k + l0) * NR;
			const float *bi = !load && bias ? bias + p * NR : NULL;
			int64_t h = nv == 2 ? MR : MR1;
			for (int64_t i = r0; i < r1; i += h) {
				int mr = r1 - i < h ? (int)(r1 - i) : (int)h;
				rows_tile_any(mr, nv, kc, A + i * lda + l0, lda, bpp,
					      C + i * ldc + p * NR, ldc, m0, m1, load, bi);
			}
		}
	}
}

static int own_rows(int64_t m, int64_t n, int64_t k, const float *A, int64_t lda,
		    const float *B, int64_t ldb, int transb, float beta, const float *bias,
		    float *C, int64_t ldc)
{
	const float *bp = pack_b(B, ldb, transb, n, k);
	if (!bp)
		return -1;
	int64_t nb = (m + MC - 1) / MC;
#pragma omp parallel for schedule(static) if (m * n * k >= PAR_FLOPS && nb > 1)
	for (int64_t b = 0; b < nb; b++) {
		int64_t r0 = b * MC, r1 = r0 + MC < m ? r0 + MC : m;
		rows_block(r0, r1, n, k, A, lda, bp, beta, bias, C, ldc);
	}
	return 0;
}

/* Tiles of G (8 of its rows by a 32-column panel, or 16 rows when n is
 * at most 16) are shared out among the threads, each thread taking whole
 * tiles over all rows of A and D. */
AVX512 static void wgrad_tiles(int64_t q0, int64_t q1, int64_t rows, int64_t k, int64_t n,
			       const float *A, int64_t lda, const float *D, int64_t ldd,
			       float *G, int64_t ldg)
{
	int64_t np = (n + NR - 1) / NR, th = n <= 16 ? MR1 : MR;
	for (int64_t r0 = 0; r0 < rows; r0 += RC) {
		int64_t rc = rows - r0 < RC ? rows - r0 : RC;
		for (int64_t q = q0; q < q1; q++) {
			int64_t kt = q / np, p = q % np;
			int64_t w = n - p * NR < NR ? n - p * NR : NR;
			int mr = k - kt * th < th ? (int)(k - kt * th) : (int)th;
			__mmask16 m0, m1;
			panel_masks(w, &m0, &m1);
			int nv = w > 16 ? 2 : 1;
			wgrad_tile_any(mr, nv, rc, A + r0 * lda + kt * th, lda,
				       D + r0 * ldd + p * NR, ldd, G + kt * th * ldg + p * NR, ldg,
				       m0, m1);
		}
	}
}

/* G (from zero) = A^T D over `rows` rows, on the calling thread. */
static void own_wgrad_serial(int64_t rows, int64_t k, int64_t n, const float *A, int64_t lda,
			     const float *D, int64_t ldd, float *G, int64_t ldg)
{
	int64_t th = n <= 16 ? MR1 : MR;
	int64_t tiles = (k + th - 1) / th * ((n + NR - 1) / NR);
	for (int64_t i = 0; i < k; i++)
		memset(G + i * ldg, 0, (size_t)n * sizeof *G);
	wgrad_tiles(0, tiles, rows, k, n, A, lda, D, ldd, G, ldg);
}

/* A long product goes in segments of SEG rows, one thread each, every
 * segment into its own partial sum; G then adds the partials in segment
 * order. Splitting tiles instead would make each thread stream all of A
 * and D. Segments depend on the shape only, so the result does not
 * depend on the thread count. */
#define SEG 2048
static _Thread_local float *seg_buf;
static _Thread_local size_t seg_cap;

static void own_wgrad(int64_t rows, int64_t k, int64_t n, const float *A, int64_t lda,
		      const float *D, int64_t ldd, float *G, int64_t ldg)
{
	int64_t th = n <= 16 ? MR1 : MR;
	int64_t tiles = (k + th - 1) / th * ((n + NR - 1) / NR);
	int64_t nseg = (rows + SEG - 1) / SEG;
	size_t need = (size_t)(nseg * k * n);
	if (nseg > 1 && need > seg_cap) {
		float *p = aligned_alloc(64, (need * sizeof(float) + 63) / 64 * 64);
		if (p) {
			free(seg_buf);
			seg_buf = p;
			seg_cap = need;
		}
	}
	if (nseg > 1 && need <= seg_cap) {
		float *P = seg_buf;
#pragma omp parallel for schedule(static) if (rows * n * k >= PAR_FLOPS)
		for (int64_t sg = 0; sg < nseg; sg++) {
			int64_t r0 = sg * SEG, rs = rows - r0 < SEG ? rows - r0 : SEG;
			own_wgrad_serial(rs, k, n, A + r0 * lda, lda, D + r0 * ldd, ldd,
					 P + sg * k * n, n);
		}
		rml_gemm_add_parts(nseg, k, n, P, G, ldg);
		return;
	}
	/* One segment (or no room for partials): tiles shared among threads. */
#pragma omp parallel if (rows * n * k >= PAR_FLOPS && tiles > 1)
	{
		int64_t nt = omp_get_num_threads(), t = omp_get_thread_num();
		wgrad_tiles(tiles * t / nt, tiles * (t + 1) / nt, rows, k, n, A, lda, D, ldd, G,
			    ldg);
	}
}
#endif /* HAVE_OWN */

/* ---- entry points ------------------------------------------------------------------ */

void rml_gemm_rows(int64_t m, int64_t n, int64_t k, const float *A, int64_t lda,
		   const float *B, int64_t ldb, int transb, float beta, const float *bias,
		   float *C, int64_t ldc)
{
	if (m <= 0 || n <= 0)
		return;
	if (beta != 0.0f)
		bias = NULL;
	if (k <= 0) {
		if (beta == 0.0f)
			for (int64_t i = 0; i < m; i++) {
				if (bias)
					memcpy(C + i * ldc, bias, (size_t)n * sizeof *C);
				else
					memset(C + i * ldc, 0, (size_t)n * sizeof *C);
			}
		return;
	}
#ifdef HAVE_OWN
	/* Packing fails only when its buffer cannot grow: then OpenBLAS. */
	if (rml_gemm_get_backend() == RML_GEMM_OWN &&
	    own_rows(m, n, k, A, lda, B, ldb, transb, beta, bias, C, ldc) == 0)
		return;
#endif
	if (bias) {
#pragma omp parallel for schedule(static) if (m * n > PAR_FLOPS)
		for (int64_t i = 0; i < m; i++)
			memcpy(C + i * ldc, bias, (size_t)n * sizeof *C);
		beta = 1.0f;
	}
	blas_rows(m, n, k, A, lda, B, ldb, transb, beta, C, ldc);
}

void rml_gemm_add_parts(int64_t np, int64_t k, int64_t n, const float *P, float *G, int64_t ldg)
{
#pragma omp parallel for schedule(static) if (k * n * np >= PAR_FLOPS)
	for (int64_t i = 0; i < k; i++)
		for (int64_t q = 0; q < np; q++) {
			const float *pr = P + (q * k + i) * n;
			float *gr = G + i * ldg;
#pragma omp simd
			for (int64_t j = 0; j < n; j++)
				gr[j] += pr[j];
		}
}

void rml_gemm_wgrad_part(int64_t rows, int64_t k, int64_t n, const float *A, int64_t lda,
			 const float *D, int64_t ldd, float *P)
{
	if (k <= 0 || n <= 0)
		return;
	if (rows <= 0) {
		memset(P, 0, (size_t)(k * n) * sizeof *P);
		return;
	}
#ifdef HAVE_OWN
	if (rml_gemm_get_backend() == RML_GEMM_OWN) {
		own_wgrad_serial(rows, k, n, A, lda, D, ldd, P, n);
		return;
	}
#endif
	cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)k, (int)n, (int)rows, 1.0f, A,
		    (int)lda, D, (int)ldd, 0.0f, P, (int)n);
}

int64_t rml_gemm_wgrad_segment(void)
{
#ifdef HAVE_OWN
	if (rml_gemm_get_backend() == RML_GEMM_OWN)
		return SEG;
#endif
	return 0;
}

int64_t rml_gemm_wgrad_chunk(void)
{
#ifdef HAVE_OWN
	return RC;
#else
	return 256;
#endif
}

void rml_gemm_wgrad_part_add(int64_t rows, int64_t k, int64_t n, const float *A, int64_t lda,
			     const float *D, int64_t ldd, float *P)
{
	if (rows <= 0 || k <= 0 || n <= 0)
		return;
#ifdef HAVE_OWN
	if (rml_gemm_get_backend() == RML_GEMM_OWN) {
		int64_t th = n <= 16 ? MR1 : MR;
		int64_t tiles = (k + th - 1) / th * ((n + NR - 1) / NR);
		wgrad_tiles(0, tiles, rows, k, n, A, lda, D, ldd, P, n);
		return;
	}
#endif
	cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)k, (int)n, (int)rows, 1.0f, A,
		    (int)lda, D, (int)ldd, 1.0f, P, (int)n);
}

const float *rml_gemm_pack_b(const float *B, int64_t ldb, int transb, int64_t n, int64_t k)
{
#ifdef HAVE_OWN
	if (rml_gemm_get_backend() == RML_GEMM_OWN && n > 0 && k > 0)
		return pack_b(B, ldb, transb, n, k);
#else
	(void)B, (void)ldb, (void)transb, (void)n, (void)k;
#endif
	return NULL;
}

void rml_gemm_rows_packed(int64_t m, int64_t n, int64_t k, const float *A, int64_t lda,
			  const float *bp, const float *B, int64_t ldb, int transb, float beta,
			  float *C, int64_t ldc)
{
#ifdef HAVE_OWN
	if (bp && m > 0 && n > 0 && k > 0) {
		rows_block(0, m, n, k, A, lda, bp, beta, NULL, C, ldc);
		return;
	}
#else
	(void)bp;
#endif
	rml_gemm_rows(m, n, k, A, lda, B, ldb, transb, beta, NULL, C, ldc);
}

void rml_gemm_wgrad(int64_t rows, int64_t k, int64_t n, const float *A, int64_t lda,
		    const float *D, int64_t ldd, float *G, int64_t ldg)
{
	if (rows <= 0 || k <= 0 || n <= 0)
		return;
#ifdef HAVE_OWN
	if (rml_gemm_get_backend() == RML_GEMM_OWN) {
		own_wgrad(rows, k, n, A, lda, D, ldd, G, ldg);
		return;
	}
#endif
	blas_wgrad(rows, k, n, A, lda, D, ldd, G, ldg);
}
