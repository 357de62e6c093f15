/*
 * kernels_ref.h — naive reference twins of the layer kernels (kernels.h):
 * rml_ref_<kernel> has the signature and the contract of rml_<kernel>,
 * written as the plain loops of the definition and summed in double, so a
 * test can hold every fast kernel against an implementation short enough
 * to check by eye.
 *
 * Not for use by the engine: these are slow (no GEMM, no threads) and
 * exist only for the tests. Workspace arguments (col, ws) are accepted so
 * the signatures match, but are not used and may be NULL.
 */
#ifndef RML_KERNELS_REF_H
#define RML_KERNELS_REF_H

#include <stdint.h>

/* Standard convolution: x [n,h,w,cin], w [k,k,cin,cout] (HWIO), b [cout]
 * or NULL -> y [n,oh,ow,cout]. Backward accumulates into dx, dw, db; each
 * may be NULL. col is unused. */
void rml_ref_conv2d_forward(float *y, float *col, const float *x, const float *wt,
			    const float *b, int64_t n, int64_t h, int64_t w, int64_t cin,
			    int64_t cout, int k, int stride, int pad);
void rml_ref_conv2d_backward(float *dx, float *dw, float *db, float *col, const float *dy,
			     const float *x, const float *wt, int64_t n, int64_t h, int64_t w,
			     int64_t cin, int64_t cout, int k, int stride, int pad);

/* Depthwise convolution: w [k,k,c], b [c] or NULL. */
void rml_ref_dwconv2d_forward(float *y, const float *x, const float *wt, const float *b,
			      int64_t n, int64_t h, int64_t w, int64_t c, int k, int stride,
			      int pad);
void rml_ref_dwconv2d_backward(float *dx, float *dw, float *db, const float *dy,
			       const float *x, const float *wt, int64_t n, int64_t h,
			       int64_t w, int64_t c, int k, int stride, int pad);

/* Linear over rows: y [rows,out] = x [rows,in] w [in,out] + b. */
void rml_ref_linear_forward(float *y, const float *x, const float *wt, const float *b,
			    int64_t rows, int64_t in, int64_t out);
void rml_ref_linear_backward(float *dx, float *dw, float *db, const float *dy,
			     const float *x, const float *wt, int64_t rows, int64_t in,
			     int64_t out);

/* Batch normalisation per channel over rows (PyTorch's semantics: biased
 * variance to normalise, unbiased variance into the running estimate). */
void rml_ref_bn_forward_train(float *y, float *mean, float *rstd, float *run_mean,
			      float *run_var, const float *x, const float *gamma,
			      const float *beta, int64_t rows, int64_t c, float momentum,
			      float eps);
void rml_ref_bn_backward_train(float *dx, float *dgamma, float *dbeta, const float *dy,
			       const float *x, const float *mean, const float *rstd,
			       const float *gamma, int64_t rows, int64_t c);
void rml_ref_bn_forward_eval(float *y, const float *x, const float *gamma,
			     const float *beta, const float *run_mean, const float *run_var,
			     int64_t rows, int64_t c, float eps);
void rml_ref_bn_backward_eval(float *dx, float *dgamma, float *dbeta, const float *dy,
			      const float *x, const float *gamma, const float *run_mean,
			      const float *run_var, int64_t rows, int64_t c, float eps);

/* Layer normalisation over the last dimension d of x [rows,d]. */
void rml_ref_layernorm_forward(float *y, float *mean, float *rstd, const float *x,
			       const float *gamma, const float *beta, int64_t rows,
			       int64_t d, float eps);
void rml_ref_layernorm_backward(float *dx, float *dgamma, float *dbeta, const float *dy,
				const float *x, const float *mean, const float *rstd,
				const float *gamma, int64_t rows, int64_t d);

/* Elementwise and channel operations. */
void rml_ref_silu_forward(float *y, const float *x, int64_t n);
void rml_ref_silu_backward(float *dx, const float *dy, const float *x, int64_t n);
void rml_ref_add_forward(float *y, const float *a, const float *b, int64_t n);
void rml_ref_add_backward(float *da, float *db, const float *dy, int64_t n);
void rml_ref_chscale_forward(float *y, const float *x, const float *s, int64_t rows,
			     int64_t c);
void rml_ref_chscale_backward(float *dx, float *ds, const float *dy, const float *x,
			      const float *s, int64_t rows, int64_t c);
void rml_ref_concat_forward(float *y, const float *a, const float *b, int64_t rows,
			    int64_t ca, int64_t cb);
void rml_ref_concat_backward(float *da, float *db, const float *dy, int64_t rows,
			     int64_t ca, int64_t cb);

/* MobileViT unfold / fold: [n,h,w,c] <-> [n,4,P,c] (see kernels.h). */
void rml_ref_unfold_forward(float *y, const float *x, int64_t n, int64_t h, int64_t w,
			    int64_t c);
void rml_ref_unfold_backward(float *dx, const float *dy, int64_t n, int64_t h, int64_t w,
			     int64_t c);
void rml_ref_fold_forward(float *y, const float *x, int64_t n, int64_t h, int64_t w,
			  int64_t c);
void rml_ref_fold_backward(float *dx, const float *dy, int64_t n, int64_t h, int64_t w,
			   int64_t c);

/* Multi-head self-attention core over qkv [s,p,3d]; ws is unused. */
void rml_ref_attention_forward(float *out, float *att, const float *qkv, int64_t s,
			       int64_t p, int64_t d, int n_head);
void rml_ref_attention_backward(float *dqkv, float *ws, const float *dout,
				const float *qkv, const float *att, int64_t s, int64_t p,
				int64_t d, int n_head);

/* Global average pool, softmax and label-smoothed cross-entropy. */
void rml_ref_gap_forward(float *y, const float *x, int64_t n, int64_t hw, int64_t c);
void rml_ref_gap_backward(float *dx, const float *dy, int64_t n, int64_t hw, int64_t c);
void rml_ref_softmax(float *probs, const float *logits, int64_t n, int64_t k);
float rml_ref_xent_forward(float *probs, const float *logits, const int32_t *labels,
			   int64_t n, int64_t k, float smoothing);
void rml_ref_xent_backward(float *dlogits, const float *probs, const int32_t *labels,
			   int64_t n, int64_t k, float smoothing, float scale);

#endif
