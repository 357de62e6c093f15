/*
 * autoenc.c — the small convolutional autoencoder of autoenc.h: forward,
 * backward, Adam training, encoding and decoding. For making a latent
 * space to sample out-of-distribution points in; not a general network
 * engine (model.h is that), so the six convolutions are written out in
 * order rather than described as data.
 */
#include "autoenc.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels.h"
#include "optimizer.h"

#define N_CONV 6

/* Geometry of convolution i: input side factor (input is h/div x w/div),
 * channels in and out, stride. */
typedef struct {
	int div, cin, cout, stride;
} conv_shape;

static void shapes(const rml_autoenc *ae, conv_shape s[N_CONV])
{
	conv_shape t[N_CONV] = {
		{ 1, ae->c, ae->c1, 2 },  { 2, ae->c1, ae->c2, 2 }, { 4, ae->c2, ae->cz, 2 },
		{ 4, ae->cz, ae->c2, 1 }, { 2, ae->c2, ae->c1, 1 }, { 1, ae->c1, ae->c, 1 },
	};
	memcpy(s, t, sizeof t);
}

/* Offsets of weights and bias of convolution i in the parameter block. */
static void conv_offsets(const rml_autoenc *ae, int64_t wo[N_CONV], int64_t bo[N_CONV],
			 int64_t *total)
{
	conv_shape s[N_CONV];
	shapes(ae, s);
	int64_t at = 0;
	for (int i = 0; i < N_CONV; i++) {
		wo[i] = at;
		at += 9 * (int64_t)s[i].cin * s[i].cout;
		bo[i] = at;
		at += s[i].cout;
	}
	*total = at;
}

/* The activation tensors, in order; per-image sizes follow. */
enum { T_X, T_A0, T_H0, T_A1, T_H1, T_Z, T_U0, T_A3, T_H3, T_U1, T_A4, T_H4, T_U2, T_A5, T_Y, T_COUNT };

static void tensor_sizes(const rml_autoenc *ae, int64_t sz[T_COUNT])
{
	int64_t p1 = (int64_t)ae->h * ae->w, p2 = p1 / 4, p4 = p1 / 16, p8 = p1 / 64;
	sz[T_X] = p1 * ae->c;
	sz[T_A0] = sz[T_H0] = p2 * ae->c1;
	sz[T_A1] = sz[T_H1] = p4 * ae->c2;
	sz[T_Z] = p8 * ae->cz;
	sz[T_U0] = p4 * ae->cz;
	sz[T_A3] = sz[T_H3] = p4 * ae->c2;
	sz[T_U1] = p2 * ae->c2;
	sz[T_A4] = sz[T_H4] = p2 * ae->c1;
	sz[T_U2] = p1 * ae->c1;
	sz[T_A5] = sz[T_Y] = p1 * ae->c;
}

static float *tensor(const rml_autoenc *ae, float *base, int t)
{
	int64_t sz[T_COUNT], at = 0;
	tensor_sizes(ae, sz);
	for (int i = 0; i < t; i++)
		at += sz[i] * ae->max_batch;
	return base + at;
}

void rml_autoenc_opts_default(rml_autoenc_opts *o)
{
	o->c1 = 24;
	o->c2 = 48;
	o->cz = 16;
	o->epochs = 10;
	o->batch = 32;
	o->lr = 2e-3;
	o->seed = 0;
}

void rml_autoenc_init(rml_autoenc *ae)
{
	memset(ae, 0, sizeof *ae);
}

void rml_autoenc_free(rml_autoenc *ae)
{
	free(ae->params);
	free(ae->grads);
	free(ae->act);
	free(ae->gact);
	free(ae->col);
	rml_autoenc_init(ae);
}

/* Size the activation arenas for batches of up to b images. */
static rml_status reserve(rml_autoenc *ae, int64_t b, rml_error *err)
{
	if (b <= ae->max_batch)
		return RML_OK;
	int64_t sz[T_COUNT], per = 0;
	tensor_sizes(ae, sz);
	for (int i = 0; i < T_COUNT; i++)
		per += sz[i];
	conv_shape s[N_CONV];
	shapes(ae, s);
	int64_t colf = 0;
	for (int i = 0; i < N_CONV; i++) {
		int64_t f = rml_conv2d_workspace(b, ae->h / s[i].div, ae->w / s[i].div, s[i].cin, 3,
						 s[i].stride, 1);
		if (f > colf)
			colf = f;
	}
	float *a = malloc((size_t)(per * b) * sizeof *a);
	float *g = malloc((size_t)(per * b) * sizeof *g);
	float *c = malloc((size_t)(colf + 1) * sizeof *c);
	if (!a || !g || !c) {
		free(a);
		free(g);
		free(c);
		return rml_errorf(err, RML_ERR_NOMEM, "out of memory for the autoencoder's activations");
	}
	free(ae->act);
	free(ae->gact);
	free(ae->col);
	ae->act = a;
	ae->gact = g;
	ae->col = c;
	ae->max_batch = b;
	ae->act_floats = per * b;
	ae->col_floats = colf;
	return RML_OK;
}

rml_status rml_autoenc_create(rml_autoenc *ae, int h, int w, int c, const rml_autoenc_opts *o,
			      rml_error *err)
{
	rml_autoenc_init(ae);
	rml_autoenc_opts def;
	if (!o) {
		rml_autoenc_opts_default(&def);
		o = &def;
	}
	if (h < 8 || w < 8 || h > 1024 || w > 1024 || h % 8 || w % 8)
		return rml_errorf(err, RML_ERR_ARG,
				  "the autoencoder needs image sides that are multiples of 8 in 8..1024, not %dx%d",
				  h, w);
	if (c < 1 || c > 4)
		return rml_errorf(err, RML_ERR_ARG, "the autoencoder takes 1 to 4 channels, not %d", c);
	if (o->c1 < 1 || o->c1 > 512 || o->c2 < 1 || o->c2 > 512 || o->cz < 1 || o->cz > 512)
		return rml_errorf(err, RML_ERR_ARG, "autoencoder channels must be in 1..512");
	ae->h = h;
	ae->w = w;
	ae->c = c;
	ae->c1 = o->c1;
	ae->c2 = o->c2;
	ae->cz = o->cz;
	ae->latent_dim = (int64_t)(h / 8) * (w / 8) * o->cz;
	int64_t wo[N_CONV], bo[N_CONV];
	conv_offsets(ae, wo, bo, &ae->n_params);
	ae->params = malloc((size_t)ae->n_params * sizeof(float));
	ae->grads = calloc((size_t)ae->n_params, sizeof(float));
	if (!ae->params || !ae->grads) {
		rml_autoenc_free(ae);
		return rml_errorf(err, RML_ERR_NOMEM, "out of memory for the autoencoder");
	}
	conv_shape s[N_CONV];
	shapes(ae, s);
	rml_rng r;
	rml_rng_seed(&r, o->seed);
	for (int i = 0; i < N_CONV; i++) {
		double bound = 1 / sqrt(9.0 * s[i].cin);
		for (int64_t j = wo[i]; j < bo[i] + s[i].cout; j++)
			ae->params[j] = (float)((2 * rml_rng_uniform(&r) - 1) * bound);
	}
	return RML_OK;
}

/* ---- upsampling ---------------------------------------------------------------- */

void rml_upsample2_forward(float *y, const float *x, int64_t n, int64_t h, int64_t w, int64_t c)
{
	int64_t W = 2 * w;
#pragma omp parallel for schedule(static)
	for (int64_t r = 0; r < n * h; r++) {
		const float *xr = x + r * w * c;
		float *y0 = y + 2 * r * W * c, *y1 = y0 + W * c;
		for (int64_t j = 0; j < w; j++)
			for (int64_t k = 0; k < c; k++) {
				float v = xr[j * c + k];
				y0[(2 * j) * c + k] = v;
				y0[(2 * j + 1) * c + k] = v;
				y1[(2 * j) * c + k] = v;
				y1[(2 * j + 1) * c + k] = v;
			}
	}
}

void rml_upsample2_backward(float *dx, const float *dy, int64_t n, int64_t h, int64_t w,
			    int64_t c)
{
	int64_t W = 2 * w;
#pragma omp parallel for schedule(static)
	for (int64_t r = 0; r < n * h; r++) {
		float *xr = dx + r * w * c;
		const float *y0 = dy + 2 * r * W * c, *y1 = y0 + W * c;
		for (int64_t j = 0; j < w; j++)
			for (int64_t k = 0; k < c; k++)
				xr[j * c + k] += (y0[(2 * j) * c + k] + y0[(2 * j + 1) * c + k]) +
						 (y1[(2 * j) * c + k] + y1[(2 * j + 1) * c + k]);
	}
}

/* ---- forward and backward ------------------------------------------------------- */

static void conv_fwd(rml_autoenc *ae, int i, float *y, const float *x, int64_t n)
{
	conv_shape s[N_CONV];
	shapes(ae, s);
	int64_t wo[N_CONV], bo[N_CONV], tot;
	conv_offsets(ae, wo, bo, &tot);
	rml_conv2d_forward(y, ae->col, x, ae->params + wo[i], ae->params + bo[i], n,
			   ae->h / s[i].div, ae->w / s[i].div, s[i].cin, s[i].cout, 3, s[i].stride, 1);
}

static void conv_bwd(rml_autoenc *ae, int i, float *dx, const float *dy, const float *x,
		     int64_t n)
{
	conv_shape s[N_CONV];
	shapes(ae, s);
	int64_t wo[N_CONV], bo[N_CONV], tot;
	conv_offsets(ae, wo, bo, &tot);
	rml_conv2d_backward(dx, ae->grads + wo[i], ae->grads + bo[i], ae->col, dy, x,
			    ae->params + wo[i], n, ae->h / s[i].div, ae->w / s[i].div, s[i].cin,
			    s[i].cout, 3, s[i].stride, 1);
}

#define A(t) tensor(ae, ae->act, (t))
#define G(t) tensor(ae, ae->gact, (t))

/* Encoder: A(T_X) -> A(T_Z). */
static void encode_fwd(rml_autoenc *ae, int64_t n)
{
	int64_t sz[T_COUNT];
	tensor_sizes(ae, sz);
	conv_fwd(ae, 0, A(T_A0), A(T_X), n);
	rml_silu_forward(A(T_H0), A(T_A0), n * sz[T_A0]);
	conv_fwd(ae, 1, A(T_A1), A(T_H0), n);
	rml_silu_forward(A(T_H1), A(T_A1), n * sz[T_A1]);
	conv_fwd(ae, 2, A(T_Z), A(T_H1), n);
}

/* Decoder: A(T_Z) -> A(T_Y). */
static void decode_fwd(rml_autoenc *ae, int64_t n)
{
	int64_t sz[T_COUNT];
	tensor_sizes(ae, sz);
	int64_t h8 = ae->h / 8, w8 = ae->w / 8;
	rml_upsample2_forward(A(T_U0), A(T_Z), n, h8, w8, ae->cz);
	conv_fwd(ae, 3, A(T_A3), A(T_U0), n);
	rml_silu_forward(A(T_H3), A(T_A3), n * sz[T_A3]);
	rml_upsample2_forward(A(T_U1), A(T_H3), n, 2 * h8, 2 * w8, ae->c2);
	conv_fwd(ae, 4, A(T_A4), A(T_U1), n);
	rml_silu_forward(A(T_H4), A(T_A4), n * sz[T_A4]);
	rml_upsample2_forward(A(T_U2), A(T_H4), n, 4 * h8, 4 * w8, ae->c1);
	conv_fwd(ae, 5, A(T_A5), A(T_U2), n);
	float *a = A(T_A5), *y = A(T_Y);
	int64_t m = n * sz[T_Y];
	for (int64_t i = 0; i < m; i++)
		y[i] = a[i] >= 0 ? 1 / (1 + expf(-a[i])) : expf(a[i]) / (1 + expf(a[i]));
}

/* Loss of the batch in A(T_X) against A(T_Y); with grad, its gradient in
 * ae->grads. */
static double loss_and_grad(rml_autoenc *ae, int64_t n, int grad)
{
	int64_t sz[T_COUNT];
	tensor_sizes(ae, sz);
	encode_fwd(ae, n);
	decode_fwd(ae, n);
	const float *x = A(T_X), *y = A(T_Y);
	int64_t m = n * sz[T_Y];
	double s = 0;
	for (int64_t i = 0; i < m; i++) {
		double d = (double)y[i] - x[i];
		s += d * d;
	}
	if (!grad)
		return s / (double)m;
	memset(ae->gact, 0, (size_t)ae->act_floats * sizeof(float));
	memset(ae->grads, 0, (size_t)ae->n_params * sizeof(float));
	float *da5 = G(T_A5);
	float scale = (float)(2.0 / (double)m);
	for (int64_t i = 0; i < m; i++)
		da5[i] = scale * (y[i] - x[i]) * y[i] * (1 - y[i]);
	int64_t h8 = ae->h / 8, w8 = ae->w / 8;
	conv_bwd(ae, 5, G(T_U2), da5, A(T_U2), n);
	rml_upsample2_backward(G(T_H4), G(T_U2), n, 4 * h8, 4 * w8, ae->c1);
	rml_silu_backward(G(T_A4), G(T_H4), A(T_A4), n * sz[T_A4]);
	conv_bwd(ae, 4, G(T_U1), G(T_A4), A(T_U1), n);
	rml_upsample2_backward(G(T_H3), G(T_U1), n, 2 * h8, 2 * w8, ae->c2);
	rml_silu_backward(G(T_A3), G(T_H3), A(T_A3), n * sz[T_A3]);
	conv_bwd(ae, 3, G(T_U0), G(T_A3), A(T_U0), n);
	rml_upsample2_backward(G(T_Z), G(T_U0), n, h8, w8, ae->cz);
	conv_bwd(ae, 2, G(T_H1), G(T_Z), A(T_H1), n);
	rml_silu_backward(G(T_A1), G(T_H1), A(T_A1), n * sz[T_A1]);
	conv_bwd(ae, 1, G(T_H0), G(T_A1), A(T_H0), n);
	rml_silu_backward(G(T_A0), G(T_H0), A(T_A0), n * sz[T_A0]);
	conv_bwd(ae, 0, NULL, G(T_A0), A(T_X), n);
	return s / (double)m;
}

rml_status rml_autoenc_loss(rml_autoenc *ae, const float *x, int64_t n, int grad, double *loss,
			    rml_error *err)
{
	if (!ae->params)
		return rml_errorf(err, RML_ERR_ARG, "the autoencoder was not created");
	if (n < 1 || !x)
		return rml_errorf(err, RML_ERR_ARG, "the autoencoder's loss needs at least one image");
	rml_status st = reserve(ae, n, err);
	if (st)
		return st;
	int64_t sz[T_COUNT];
	tensor_sizes(ae, sz);
	memcpy(A(T_X), x, (size_t)(n * sz[T_X]) * sizeof(float));
	*loss = loss_and_grad(ae, n, grad);
	return RML_OK;
}

/* Copy images idx[0..n) (or 0..n when idx is NULL, from first) as floats
 * in [0,1] into A(T_X). */
static void load_batch(rml_autoenc *ae, const uint8_t *images, const int64_t *idx, int64_t first,
		       int64_t n)
{
	int64_t img = (int64_t)ae->h * ae->w * ae->c;
	float *x = A(T_X);
	for (int64_t b = 0; b < n; b++) {
		const uint8_t *src = images + (idx ? idx[first + b] : first + b) * img;
		for (int64_t j = 0; j < img; j++)
			x[b * img + j] = src[j] * (1.0f / 255.0f);
	}
}

rml_status rml_autoenc_train(rml_autoenc *ae, const uint8_t *images, int64_t n,
			     const rml_autoenc_opts *o, rml_autoenc_progress progress, void *ctx,
			     double *mse, rml_error *err)
{
	if (!ae->params)
		return rml_errorf(err, RML_ERR_ARG, "the autoencoder was not created");
	if (n < 1 || !images)
		return rml_errorf(err, RML_ERR_ARG, "the autoencoder needs at least one image to learn from");
	if (o->epochs < 0 || o->epochs > 100000 || o->batch < 1 || o->batch > 65536 ||
	    !(o->lr > 0 && o->lr < 10))
		return rml_errorf(err, RML_ERR_ARG,
				  "autoencoder training: epochs in 0..100000, batch in 1..65536, lr in (0,10)");
	int64_t B = o->batch < n ? o->batch : n;
	rml_status st = reserve(ae, B, err);
	if (st)
		return st;
	int64_t *idx = malloc((size_t)n * sizeof *idx);
	rml_optim opt = { 0 };
	if (!idx || rml_optim_init(&opt, RML_OPT_ADAMW, ae->n_params, err)) {
		free(idx);
		return rml_errorf(err, RML_ERR_NOMEM, "out of memory");
	}
	for (int64_t i = 0; i < n; i++)
		idx[i] = i;
	rml_rng r;
	rml_rng_seed_stream(&r, o->seed, 1);
	double last = NAN;
	for (int e = 0; e < o->epochs && !st; e++) {
		rml_rng_shuffle(&r, idx, n);
		double sum = 0;
		for (int64_t at = 0; at < n; at += B) {
			int64_t b = n - at < B ? n - at : B;
			load_batch(ae, images, idx, at, b);
			double l = loss_and_grad(ae, b, 1);
			if (!isfinite(l)) {
				st = rml_errorf(err, RML_ERR_NUMERIC,
						"the autoencoder's loss is not finite in epoch %d (lower the learning rate)",
						e + 1);
				break;
			}
			sum += l * (double)b;
			rml_optim_begin(&opt);
			rml_optim_update(&opt, ae->params, ae->grads, 0, ae->n_params, (float)o->lr, 0);
		}
		last = sum / (double)n;
		if (!st && progress)
			progress(ctx, e + 1, o->epochs, last);
	}
	free(idx);
	rml_optim_free(&opt);
	if (!st && mse)
		*mse = last;
	return st;
}

rml_status rml_autoenc_encode(rml_autoenc *ae, const uint8_t *images, int64_t n, float *z,
			      rml_error *err)
{
	if (!ae->params)
		return rml_errorf(err, RML_ERR_ARG, "the autoencoder was not created");
	if (n < 0 || (n > 0 && (!images || !z)))
		return rml_errorf(err, RML_ERR_ARG, "bad arguments to encode");
	rml_status st = reserve(ae, ae->max_batch ? ae->max_batch : 64, err);
	for (int64_t at = 0; at < n && !st; at += ae->max_batch) {
		int64_t b = n - at < ae->max_batch ? n - at : ae->max_batch;
		load_batch(ae, images, NULL, at, b);
		encode_fwd(ae, b);
		memcpy(z + at * ae->latent_dim, A(T_Z), (size_t)(b * ae->latent_dim) * sizeof(float));
	}
	return st;
}

rml_status rml_autoenc_decode(rml_autoenc *ae, const float *z, int64_t n, uint8_t *images,
			      rml_error *err)
{
	if (!ae->params)
		return rml_errorf(err, RML_ERR_ARG, "the autoencoder was not created");
	if (n < 0 || (n > 0 && (!images || !z)))
		return rml_errorf(err, RML_ERR_ARG, "bad arguments to decode");
	for (int64_t i = 0; i < n * ae->latent_dim; i++)
		if (!isfinite(z[i]))
			return rml_errorf(err, RML_ERR_ARG, "latent code %lld is not finite",
					  (long long)(i / ae->latent_dim));
	rml_status st = reserve(ae, ae->max_batch ? ae->max_batch : 64, err);
	int64_t img = (int64_t)ae->h * ae->w * ae->c;
	for (int64_t at = 0; at < n && !st; at += ae->max_batch) {
		int64_t b = n - at < ae->max_batch ? n - at : ae->max_batch;
		memcpy(A(T_Z), z + at * ae->latent_dim, (size_t)(b * ae->latent_dim) * sizeof(float));
		decode_fwd(ae, b);
		const float *y = A(T_Y);
		for (int64_t j = 0; j < b * img; j++) {
			float v = y[j] * 255.0f + 0.5f;
			images[at * img + j] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
		}
	}
	return st;
}
