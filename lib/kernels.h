/*
 * kernels.h — the layers of the network engine as plain functions over
 * float arrays, each a forward and a backward, shapes passed explicitly.
 *
 * Layout: images and feature maps are NHWC ([n, h, w, c], channels
 * fastest), so a 1x1 convolution or a linear layer is one GEMM over the
 * rows n*h*w. Weights: standard convolution [kh, kw, cin, cout] (HWIO),
 * depthwise [kh, kw, c], linear / pointwise [in, out]. Biases [out].
 *
 * Conventions shared by every backward:
 *   - gradients ACCUMULATE (+=) into dx and parameter gradients, so fan-out
 *     (residuals, concatenation) needs no special case; callers zero them;
 *   - any gradient pointer may be NULL: that gradient is not computed (a
 *     frozen parameter, or an input that needs no gradient), and the work
 *     only it needs is skipped;
 *   - workspaces are provided by the caller (no allocation here); their
 *     sizes are given by the *_workspace functions;
 *   - first writers: a backward named *_set writes dx instead of adding to
 *     it (what dx held is never read, so it may be stale, even NaN), and
 *     dx gets exactly the bits the accumulating form gives on a zeroed dx
 *     (0.0f + v, so -0 becomes +0 alike). The model runs it for the
 *     backward that reaches a gradient first, which spares a zeroing pass
 *     and a read of the zeros per feature map; parameter gradients
 *     accumulate as always.
 * Threads: loops and GEMMs (gemm.h) use OpenMP with rml_set_threads();
 * results depend only on the thread count. Reductions over rows (bias and
 * batch-norm gradients) are done per channel in a fixed order so they are
 * deterministic.
 *
 * Float32 rule (what a result is when data or weights are out of range,
 * e.g. after a fault): every kernel gives what PyTorch's float32 CPU
 * kernels give, finite or not, image by image. Sums that PyTorch keeps in
 * float32 overflow where its sums would; the engine's own wider sums are
 * only an accuracy measure for finite data and never keep a result finite
 * that PyTorch's would not. Concretely:
 *   - layer norm: a row is NaN when the mean of one of its 8 lanes (values
 *     j, j+8, j+16, ... — the lanes of PyTorch's AVX2 Welford moments) has
 *     a square beyond FLT_MAX, or a value is not finite; a row whose sum of
 *     squared deviations exceeds FLT_MAX has rstd 0 (the output is beta);
 *   - batch norm, training: a channel whose sum of squared deviations
 *     exceeds FLT_MAX has rstd 0 (PyTorch squares in float32);
 *   - batch norm (both modes, with or without SiLU): when a channel's
 *     m*a (a = gamma*rstd) or beta comes within 2^24 of FLT_MAX, the
 *     transform is computed as PyTorch's kernel does, fma(x, a, fma(-m, a,
 *     beta)), which overflows where it does; otherwise as before ((x - m)*a
 *     + beta or x*a + (beta - m*a): the same values but for rounding, and
 *     bit-identical to earlier versions);
 *   - GEMMs, convolutions, pooling, attention and softmax sum in float32
 *     already: an overflow is +-Inf, Inf - Inf is NaN, a softmax row with a
 *     NaN or Inf is NaN.
 * On finite data without overflow the rule changes nothing: the results
 * are bit for bit those of the wider sums.
 *
 * Each fast kernel has a naive reference (kernels_ref.c, rml_ref_*) used
 * only by the tests.
 */
#ifndef RML_KERNELS_H
#define RML_KERNELS_H

#include <stdint.h>

/* Output size of a convolution along one axis. */
static inline int64_t rml_conv_out(int64_t in, int k, int stride, int pad)
{
	return (in + 2 * pad - k) / stride + 1;
}

/* ---- standard convolution (groups = 1), im2col + sgemm -------------------
 * x [n,h,w,cin] -> y [n,oh,ow,cout]; w [k,k,cin,cout]; b [cout] or NULL.
 * col: workspace of rml_conv2d_workspace() floats (0 for a 1x1 stride-1
 * unpadded convolution, which multiplies x directly). */
int64_t rml_conv2d_workspace(int64_t n, int64_t h, int64_t w, int64_t cin, int k,
			     int stride, int pad);
void rml_conv2d_forward(float *y, float *col, const float *x, const float *wt,
			const float *b, int64_t n, int64_t h, int64_t w, int64_t cin,
			int64_t cout, int k, int stride, int pad);
/* dx [n,h,w,cin] +=, dw [k,k,cin,cout] +=, db [cout] +=. col: same
 * workspace size as forward; its content on entry is not used. */
void rml_conv2d_backward(float *dx, float *dw, float *db, float *col, const float *dy,
			 const float *x, const float *wt, int64_t n, int64_t h, int64_t w,
			 int64_t cin, int64_t cout, int k, int stride, int pad);
void rml_conv2d_backward_set(float *dx, float *dw, float *db, float *col, const float *dy,
			     const float *x, const float *wt, int64_t n, int64_t h, int64_t w,
			     int64_t cin, int64_t cout, int k, int stride, int pad);

/* ---- depthwise convolution -----------------------------------------------
 * x [n,h,w,c] -> y [n,oh,ow,c]; w [k,k,c]; b [c] or NULL. */
void rml_dwconv2d_forward(float *y, const float *x, const float *wt, const float *b,
			  int64_t n, int64_t h, int64_t w, int64_t c, int k, int stride,
			  int pad);
void rml_dwconv2d_backward(float *dx, float *dw, float *db, const float *dy,
			   const float *x, const float *wt, int64_t n, int64_t h,
			   int64_t w, int64_t c, int k, int stride, int pad);
void rml_dwconv2d_backward_set(float *dx, float *dw, float *db, const float *dy,
			       const float *x, const float *wt, int64_t n, int64_t h,
			       int64_t w, int64_t c, int k, int stride, int pad);

/* ---- linear / pointwise over rows -----------------------------------------
 * x [rows,in] -> y [rows,out] = x w + b; w [in,out]; b [out] or NULL. */
void rml_linear_forward(float *y, const float *x, const float *wt, const float *b,
			int64_t rows, int64_t in, int64_t out);
void rml_linear_backward(float *dx, float *dw, float *db, const float *dy,
			 const float *x, const float *wt, int64_t rows, int64_t in,
			 int64_t out);
void rml_linear_backward_set(float *dx, float *dw, float *db, const float *dy,
			     const float *x, const float *wt, int64_t rows, int64_t in,
			     int64_t out);

/* ---- batch normalisation over rows, per channel ---------------------------
 * Training: batch statistics (biased variance to normalise); when run_mean
 * and run_var are not NULL they are updated as PyTorch does:
 * run = (1-momentum) run + momentum stat, with the unbiased variance.
 * mean/rstd [c] are saved for backward. Eval: running statistics. */
void rml_bn_forward_train(float *y, float *mean, float *rstd, float *run_mean,
			  float *run_var, const float *x, const float *gamma,
			  const float *beta, int64_t rows, int64_t c, float momentum,
			  float eps);
void rml_bn_backward_train(float *dx, float *dgamma, float *dbeta, const float *dy,
			   const float *x, const float *mean, const float *rstd,
			   const float *gamma, int64_t rows, int64_t c);
void rml_bn_backward_train_set(float *dx, float *dgamma, float *dbeta, const float *dy,
			       const float *x, const float *mean, const float *rstd,
			       const float *gamma, int64_t rows, int64_t c);
void rml_bn_forward_eval(float *y, const float *x, const float *gamma, const float *beta,
			 const float *run_mean, const float *run_var, int64_t rows,
			 int64_t c, float eps);
void rml_bn_backward_eval(float *dx, float *dgamma, float *dbeta, const float *dy,
			  const float *x, const float *gamma, const float *run_mean,
			  const float *run_var, int64_t rows, int64_t c, float eps);

/* ---- batch normalisation followed by SiLU, fused ---------------------------
 * z = silu(bn(x)) with the statistics, running updates and saved mean/rstd
 * of the plain batch norm above; bn(x) itself is not stored: backward
 * recomputes it from x (the pair is memory-bound, and this saves passes
 * over the feature map). Backward gives dx +=, dgamma +=, dbeta += (each
 * may be NULL) from dz. At most 4096 channels. */
void rml_bn_silu_forward_train(float *z, float *mean, float *rstd, float *run_mean,
			       float *run_var, const float *x, const float *gamma,
			       const float *beta, int64_t rows, int64_t c, float momentum,
			       float eps);
void rml_bn_silu_backward_train(float *dx, float *dgamma, float *dbeta, const float *dz,
				const float *x, const float *mean, const float *rstd,
				const float *gamma, const float *beta, int64_t rows, int64_t c);
void rml_bn_silu_backward_train_set(float *dx, float *dgamma, float *dbeta, const float *dz,
				    const float *x, const float *mean, const float *rstd,
				    const float *gamma, const float *beta, int64_t rows,
				    int64_t c);
void rml_bn_silu_forward_eval(float *z, const float *x, const float *gamma, const float *beta,
			      const float *run_mean, const float *run_var, int64_t rows,
			      int64_t c, float eps);
void rml_bn_silu_backward_eval(float *dx, float *dgamma, float *dbeta, const float *dz,
			       const float *x, const float *gamma, const float *beta,
			       const float *run_mean, const float *run_var, int64_t rows,
			       int64_t c, float eps);

/* ---- a 1x1 convolution and the batch norm after it, backward together ------
 * Training mode, the convolution without bias (stride 1, no padding) and
 * its output y [rows,cout] read by the batch norm alone (with SiLU when
 * silu): from dz, the gradient of the norm's (or SiLU's) output, gives
 * the norm's dgamma +=, dbeta += and the convolution's dw += and dx
 * (written when set, else added to), each may be NULL; x [rows,cin] is
 * the convolution's input, wt [cin,cout] its weights, mean/rstd the
 * norm's saved statistics. The gradient of y is made for a segment of
 * rows at a time, used by the weight gradient and dx while it is in
 * cache and never stored (the three passes over it in memory were most
 * of the backward's time in the 16x16 stage). Every result has the bits
 * of the norm's first-writer backward followed by rml_conv2d_backward;
 * where that order cannot be kept (OpenBLAS products, rows within one
 * segment of the weight gradient, no memory for the partial sums) the
 * two run one after the other, through dy_buf [rows,cout]. dx may not
 * share memory with dz (rows of dx are written while other rows of dz
 * are still to be read). At most 4096 channels. */
void rml_conv1x1_bn_backward_train(float *dx, int set, float *dw, float *dgamma, float *dbeta,
				   float *dy_buf, const float *dz, const float *y,
				   const float *x, const float *wt, const float *mean,
				   const float *rstd, const float *gamma, const float *beta,
				   int64_t rows, int64_t cin, int64_t cout, int silu);

/* Forward of the same pair in training mode: y = x wt (stored, the norm's
 * input for backward), z = bn(y) or silu(bn(y)), with the statistics,
 * running updates and saved mean/rstd of the norm's own forward. The
 * norm's sums over y are taken while the rows of y just made are in
 * cache instead of in a pass of their own; y, z and the statistics have
 * the bits of rml_linear_forward followed by the norm's forward, which
 * run instead where the order cannot be kept (OpenBLAS products, more
 * than 512 channels). */
void rml_conv1x1_bn_forward_train(float *z, float *y, float *mean, float *rstd,
				  float *run_mean, float *run_var, const float *x,
				  const float *wt, const float *gamma, const float *beta,
				  int64_t rows, int64_t cin, int64_t cout, float momentum,
				  float eps, int silu);

/* ---- layer normalisation over the last dimension --------------------------
 * x [rows,d]; gamma, beta [d]; mean/rstd [rows] saved for backward. */
void rml_layernorm_forward(float *y, float *mean, float *rstd, const float *x,
			   const float *gamma, const float *beta, int64_t rows, int64_t d,
			   float eps);
void rml_layernorm_backward(float *dx, float *dgamma, float *dbeta, const float *dy,
			    const float *x, const float *mean, const float *rstd,
			    const float *gamma, int64_t rows, int64_t d);
void rml_layernorm_backward_set(float *dx, float *dgamma, float *dbeta, const float *dy,
				const float *x, const float *mean, const float *rstd,
				const float *gamma, int64_t rows, int64_t d);

/* ---- activations and elementwise ------------------------------------------ */
void rml_silu_forward(float *y, const float *x, int64_t n);
void rml_silu_backward(float *dx, const float *dy, const float *x, int64_t n);
void rml_silu_backward_set(float *dx, const float *dy, const float *x, int64_t n);
/* y = a + b */
void rml_add_forward(float *y, const float *a, const float *b, int64_t n);
/* da += dy, db += dy */
void rml_add_backward(float *da, float *db, const float *dy, int64_t n);
/* The same, each of da, db written (set_a, set_b nonzero) or added to;
 * da and db may be the same buffer when at most set_a is nonzero. */
void rml_add_backward_set(float *da, int set_a, float *db, int set_b, const float *dy,
			  int64_t n);
/* Channel-wise scale: y[r,c] = x[r,c] * s[c]. */
void rml_chscale_forward(float *y, const float *x, const float *s, int64_t rows, int64_t c);
void rml_chscale_backward(float *dx, float *ds, const float *dy, const float *x,
			  const float *s, int64_t rows, int64_t c);
/* Channel concatenation: a [rows,ca], b [rows,cb] -> y [rows,ca+cb]. */
void rml_concat_forward(float *y, const float *a, const float *b, int64_t rows,
			int64_t ca, int64_t cb);
void rml_concat_backward(float *da, float *db, const float *dy, int64_t rows, int64_t ca,
			 int64_t cb);
/* The same, each of da, db written (set_a, set_b nonzero) or added to. */
void rml_concat_backward_set(float *da, int set_a, float *db, int set_b, const float *dy,
			     int64_t rows, int64_t ca, int64_t cb);

/* ---- MobileViT unfold / fold ----------------------------------------------
 * x [n,h,w,c] (h, w even) -> y [n, 4, P, c] with P = (h/2)(w/2): the
 * sequence y[n,q,:,:] holds, for every 2x2 patch in raster order, the pixel
 * at position q = 2*(i%2) + (j%2) inside the patch. Fold is the inverse. */
void rml_unfold_forward(float *y, const float *x, int64_t n, int64_t h, int64_t w,
			int64_t c);
void rml_unfold_backward(float *dx, const float *dy, int64_t n, int64_t h, int64_t w,
			 int64_t c);
void rml_unfold_backward_set(float *dx, const float *dy, int64_t n, int64_t h, int64_t w,
			     int64_t c);
void rml_fold_forward(float *y, const float *x, int64_t n, int64_t h, int64_t w,
		      int64_t c);
void rml_fold_backward(float *dx, const float *dy, int64_t n, int64_t h, int64_t w,
		       int64_t c);
void rml_fold_backward_set(float *dx, const float *dy, int64_t n, int64_t h, int64_t w,
			   int64_t c);

/* ---- multi-head self-attention core ---------------------------------------
 * qkv [s, p, 3d] (q, k, v concatenated along the last axis, heads of size
 * d/n_head inside each) -> out [s, p, d]; att [s, n_head, p, p] softmax
 * probabilities saved for backward. Scale 1/sqrt(d/n_head). The input and
 * output projections are rml_linear_* around it. */
void rml_attention_forward(float *out, float *att, const float *qkv, int64_t s,
			   int64_t p, int64_t d, int n_head);
/* dqkv [s,p,3d] +=. ws: workspace of rml_attention_workspace() floats. */
int64_t rml_attention_workspace(int64_t s, int64_t p, int64_t d, int n_head);
void rml_attention_backward(float *dqkv, float *ws, const float *dout, const float *qkv,
			    const float *att, int64_t s, int64_t p, int64_t d, int n_head);
void rml_attention_backward_set(float *dqkv, float *ws, const float *dout, const float *qkv,
				const float *att, int64_t s, int64_t p, int64_t d, int n_head);

/* ---- pooling and loss ----------------------------------------------------- */
/* Global average pool: x [n,h,w,c] -> y [n,c]. */
void rml_gap_forward(float *y, const float *x, int64_t n, int64_t hw, int64_t c);
void rml_gap_backward(float *dx, const float *dy, int64_t n, int64_t hw, int64_t c);

/* Softmax of logits [n,k] into probs [n,k] (max-subtracted; a row with a
 * NaN or Inf logit gives NaN probabilities, never a trap). */
void rml_softmax(float *probs, const float *logits, int64_t n, int64_t k);
/* Mean cross-entropy with label smoothing eps (target 1-eps on the label,
 * eps/k spread over all classes, as PyTorch's label_smoothing); probs [n,k]
 * is filled. Returns the mean loss (NaN when a row is not finite). */
float rml_xent_forward(float *probs, const float *logits, const int32_t *labels,
		       int64_t n, int64_t k, float smoothing);
/* dlogits [n,k] += scale * (probs - target) / n. */
void rml_xent_backward(float *dlogits, const float *probs, const int32_t *labels,
		       int64_t n, int64_t k, float smoothing, float scale);

/* The same with soft targets [n,k] (each row a distribution, as mixup
 * and CutMix make): loss = -sum_j t'_j log p_j with t' = (1-eps) t +
 * eps/k, PyTorch's cross_entropy with probability targets and
 * label_smoothing. With one-hot rows it equals rml_xent_forward. */
float rml_xent_soft_forward(float *probs, const float *logits, const float *targets,
			    int64_t n, int64_t k, float smoothing);
/* dlogits [n,k] += scale * (probs - t') / n. */
void rml_xent_soft_backward(float *dlogits, const float *probs, const float *targets,
			    int64_t n, int64_t k, float smoothing, float scale);

#endif
