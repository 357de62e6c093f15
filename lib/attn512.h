/*
 * attn512.h — one head of self-attention over a short sequence (at most
 * 16 tokens, the keys of a query in one AVX-512 vector) with a head width
 * of at most 64: the case of MobileViT on small images, where a sequence
 * is the patches of a feature map of 8x8 or less.
 *
 * Same arithmetic as the scalar loops in kernels.c, element by element (a
 * multiply, then an add, in the same order; sums across keys added one
 * key at a time), so the results are identical to theirs bit for bit.
 * rml_attention_forward/backward use these where rml_att512_usable()
 * says so and the own kernels are chosen (gemm.h).
 *
 * Rows of q, k and v (and of their gradients) are `st` floats apart;
 * rows of o and dO `ost` apart; a and ds are [p, p].
 */
#ifndef RML_ATTN512_H
#define RML_ATTN512_H

#include <stdint.h>

#define RML_ATT512_MAX_P 16
#define RML_ATT512_MAX_HD 64

int rml_att512_usable(int64_t p, int64_t hd);

/* a = softmax(q k^T * scale) row by row; o = a v. */
void rml_att512_forward(float *o, int64_t ost, float *a, const float *q, const float *k,
			const float *v, int64_t st, int64_t p, int64_t hd, float scale);

/* dq, dk, dv += the gradients for dO; ds: room for [p, p]. */
void rml_att512_backward(float *dq, float *dk, float *dv, const float *dout, int64_t ost,
			 const float *a, float *ds, const float *q, const float *k,
			 const float *v, int64_t st, int64_t p, int64_t hd, float scale);

#endif
