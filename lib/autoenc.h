/*
 * autoenc.h — a small convolutional autoencoder for images, trained on
 * in-distribution data so that Soft Brownian Offset sampling (sbo.h) can
 * walk in its latent space and the decoder can turn the points it finds
 * into out-of-distribution images.
 *
 * Architecture (images h x w x c, h and w multiples of 8; channels c1, c2
 * and latent channels cz, by default 24, 48 and 16):
 *
 *   encoder  conv3x3/2 c->c1 SiLU, conv3x3/2 c1->c2 SiLU, conv3x3/2 c2->cz
 *   latent   [h/8, w/8, cz] (256 values for 32x32 images)
 *   decoder  up2 conv3x3 cz->c2 SiLU, up2 conv3x3 c2->c1 SiLU,
 *            up2 conv3x3 c1->c sigmoid
 *
 * (up2: nearest-neighbour upsampling by two; every convolution has a bias
 * and padding 1). Pixels are scaled to [0,1]; the loss is the mean
 * squared error over all pixel values; training is Adam (optimizer.h,
 * no weight decay) over shuffled mini-batches. Everything is NHWC and
 * runs on the kernels of kernels.h, so a seed and a thread count fix the
 * result byte for byte.
 *
 * Not here: the sampling in latent space (sbo.h), the calibration
 * pipeline around it (calib_model.h). It is not a general network engine:
 * the classifier is model.h.
 */
#ifndef RML_AUTOENC_H
#define RML_AUTOENC_H

#include <stdint.h>

#include "rml.h"

typedef struct {
	int c1, c2, cz;     /* channels: 24, 48, 16 */
	int epochs;         /* passes over the data (default 10) */
	int batch;          /* images per step (default 32) */
	double lr;          /* Adam learning rate (default 2e-3) */
	uint64_t seed;      /* initialisation and shuffling (default 0) */
} rml_autoenc_opts;

/* The defaults above. */
void rml_autoenc_opts_default(rml_autoenc_opts *o);

/* Called after every epoch with its mean training loss; may be NULL. */
typedef void (*rml_autoenc_progress)(void *ctx, int epoch, int epochs, double mse);

/* The autoencoder: one parameter block, one gradient block, activations
 * for up to max_batch images. Fields are read-only for callers. */
typedef struct {
	int h, w, c, c1, c2, cz;
	int64_t latent_dim;         /* (h/8)(w/8)cz */
	int64_t n_params;
	float *params, *grads;      /* [n_params] each */
	int64_t max_batch;
	float *act, *gact, *col;    /* activations, their gradients, im2col */
	int64_t act_floats, col_floats;
} rml_autoenc;

/* An empty autoencoder (safe to free). */
void rml_autoenc_init(rml_autoenc *ae);
/* Build one for images h x w x c (h, w multiples of 8 in [8, 1024], c in
 * 1..4; channels in 1..512 from o, NULL for the defaults), initialised as
 * PyTorch initialises convolutions (uniform within 1/sqrt(fan_in)) from
 * o->seed. RML_ERR_ARG naming the bad value; RML_ERR_NOMEM. */
rml_status rml_autoenc_create(rml_autoenc *ae, int h, int w, int c,
			      const rml_autoenc_opts *o, rml_error *err);
/* Release everything; ae becomes empty. */
void rml_autoenc_free(rml_autoenc *ae);

/* Train on n >= 1 images [n,h,w,c] (uint8) for o->epochs epochs of Adam
 * at o->lr with batches of o->batch (the last batch of an epoch may be
 * smaller), shuffled by o->seed. *mse (may be NULL) receives the mean
 * loss of the last epoch. RML_ERR_ARG for bad options or n < 1;
 * RML_ERR_NUMERIC when the loss stops being finite. */
rml_status rml_autoenc_train(rml_autoenc *ae, const uint8_t *images, int64_t n,
			     const rml_autoenc_opts *o, rml_autoenc_progress progress,
			     void *ctx, double *mse, rml_error *err);

/* Latent codes z [n, latent_dim] of n images [n,h,w,c] (uint8). */
rml_status rml_autoenc_encode(rml_autoenc *ae, const uint8_t *images, int64_t n, float *z,
			      rml_error *err);
/* Images [n,h,w,c] (uint8, rounded to the nearest level) decoded from
 * z [n, latent_dim]; a non-finite code is refused (RML_ERR_ARG). */
rml_status rml_autoenc_decode(rml_autoenc *ae, const float *z, int64_t n, uint8_t *images,
			      rml_error *err);

/* Mean squared error of the reconstruction of n <= max_batch images x
 * [n,h,w,c] given as floats in [0,1], and, when grad is not 0, its
 * gradient with respect to every parameter in ae->grads (overwritten).
 * For the finite-difference test and for measuring reconstruction. */
rml_status rml_autoenc_loss(rml_autoenc *ae, const float *x, int64_t n, int grad,
			    double *loss, rml_error *err);

/* Nearest-neighbour upsampling by two, NHWC: x [n,h,w,c] -> y [n,2h,2w,c];
 * backward accumulates (+=) the four gradients of each input pixel. */
void rml_upsample2_forward(float *y, const float *x, int64_t n, int64_t h, int64_t w,
			   int64_t c);
void rml_upsample2_backward(float *dx, const float *dy, int64_t n, int64_t h, int64_t w,
			    int64_t c);

#endif
