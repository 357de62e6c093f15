/*
 * test_autoenc.c — the convolutional autoencoder: upsampling against a
 * loop written from the definition (and its backward as the adjoint),
 * every parameter gradient against central finite differences in double
 * precision of the float loss, training on real images lowering the
 * loss and being reproducible for a seed and thread count, encode and
 * decode agreeing with the loss, and every refused argument.
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

#include "autoenc.h"
#include "dataset.h"
#include "fixtures.h"

static void fill_uniform(float *v, int64_t n, double lo, double hi, uint64_t seed)
{
	rml_rng r;
	rml_rng_seed(&r, seed);
	for (int64_t i = 0; i < n; i++)
		v[i] = (float)(lo + (hi - lo) * rml_rng_uniform(&r));
}

static void test_upsample(void **state)
{
	(void)state;
	enum { N = 2, H = 3, W = 4, C = 5 };
	float x[N * H * W * C], y[N * 4 * H * W * C], dy[N * 4 * H * W * C], dx[N * H * W * C];
	fill_uniform(x, N * H * W * C, -1, 1, 1);
	fill_uniform(dy, N * 4 * H * W * C, -1, 1, 2);
	rml_upsample2_forward(y, x, N, H, W, C);
	for (int n = 0; n < N; n++)
		for (int i = 0; i < 2 * H; i++)
			for (int j = 0; j < 2 * W; j++)
				for (int c = 0; c < C; c++)
					assert_true(y[((n * 2 * H + i) * 2 * W + j) * C + c] ==
						    x[((n * H + i / 2) * W + j / 2) * C + c]);
	/* Backward is the adjoint: <up(x), dy> = <x, up^T(dy)>, and it adds. */
	for (int i = 0; i < N * H * W * C; i++)
		dx[i] = 1;
	rml_upsample2_backward(dx, dy, N, H, W, C);
	double a = 0, b = 0;
	for (int i = 0; i < N * 4 * H * W * C; i++)
		a += (double)y[i] * dy[i];
	for (int i = 0; i < N * H * W * C; i++)
		b += (double)x[i] * (dx[i] - 1);
	assert_true(fabs(a - b) < 1e-4);
}

/* Central differences of the loss for every parameter of a tiny
 * autoencoder. The loss is a float computation summed in double; steps
 * of 1e-2 keep the truncation error (second order) and the rounding
 * error (1e-7 relative over the step) both far below the tolerance. */
static void test_gradients(void **state)
{
	(void)state;
	rml_autoenc ae;
	rml_autoenc_opts o;
	rml_autoenc_opts_default(&o);
	o.c1 = 4;
	o.c2 = 5;
	o.cz = 3;
	o.seed = 7;
	rml_error err = { 0 };
	assert_int_equal(rml_autoenc_create(&ae, 8, 16, 3, &o, &err), RML_OK);
	assert_int_equal(ae.latent_dim, 1 * 2 * 3);
	enum { N = 2, D = 8 * 16 * 3 };
	float x[N * D];
	fill_uniform(x, N * D, 0, 1, 3);
	double loss;
	assert_int_equal(rml_autoenc_loss(&ae, x, N, 1, &loss, &err), RML_OK);
	float *g = malloc((size_t)ae.n_params * sizeof *g);
	memcpy(g, ae.grads, (size_t)ae.n_params * sizeof *g);
	double gmax = 0, worst = 0;
	for (int64_t i = 0; i < ae.n_params; i++)
		gmax = fmax(gmax, fabs(g[i]));
	for (int64_t i = 0; i < ae.n_params; i++) {
		float keep = ae.params[i];
		double lp, lm, h = 1e-2;
		ae.params[i] = keep + (float)h;
		rml_autoenc_loss(&ae, x, N, 0, &lp, &err);
		ae.params[i] = keep - (float)h;
		rml_autoenc_loss(&ae, x, N, 0, &lm, &err);
		ae.params[i] = keep;
		double fd = (lp - lm) / (2 * h);
		double e = fabs(fd - g[i]) / (gmax + 1e-12);
		if (e > worst)
			worst = e;
	}
	printf("largest gradient difference %.2e of the largest gradient %.2e over %lld parameters\n",
	       worst, gmax, (long long)ae.n_params);
	assert_true(gmax > 1e-4);
	assert_true(worst < 2e-3);
	free(g);
	rml_autoenc_free(&ae);
}

static double recon_mse(rml_autoenc *ae, const uint8_t *img, int64_t n)
{
	float *x = malloc((size_t)(n * 3072) * sizeof *x);
	for (int64_t i = 0; i < n * 3072; i++)
		x[i] = img[i] / 255.0f;
	double l;
	rml_error err = { 0 };
	assert_int_equal(rml_autoenc_loss(ae, x, n, 0, &l, &err), RML_OK);
	free(x);
	return l;
}

static int epochs_seen;

static void count_epochs(void *ctx, int epoch, int epochs, double mse)
{
	(void)ctx;
	(void)epochs;
	assert_true(isfinite(mse));
	epochs_seen = epoch;
}

/* Three epochs over 200 CIFAR-10 images: the loss on 50 other images
 * falls well below that of the initial network (which outputs about 0.5
 * everywhere), and a second run with the same seed and threads gives the
 * same parameters bit for bit; another seed gives others. */
static void test_training(void **state)
{
	(void)state;
	rml_autoenc_opts o;
	rml_autoenc_opts_default(&o);
	o.epochs = 3;
	o.seed = 11;
	rml_autoenc a, b, c;
	rml_error err = { 0 };
	assert_int_equal(rml_autoenc_create(&a, 32, 32, 3, &o, &err), RML_OK);
	assert_int_equal(a.latent_dim, 256);
	const uint8_t *held = rml_fx_cifar.images + 900 * 3072;
	double before = recon_mse(&a, held, 50);
	double mse;
	epochs_seen = 0;
	assert_int_equal(rml_autoenc_train(&a, rml_fx_cifar.images, 200, &o, count_epochs, NULL, &mse, &err),
			 RML_OK);
	assert_int_equal(epochs_seen, 3);
	double after = recon_mse(&a, held, 50);
	printf("held-out reconstruction MSE %.4f before, %.4f after 3 epochs (training %.4f)\n", before,
	       after, mse);
	assert_true(after < 0.5 * before);
	assert_true(after < 0.04);
	assert_int_equal(rml_autoenc_create(&b, 32, 32, 3, &o, &err), RML_OK);
	assert_int_equal(rml_autoenc_train(&b, rml_fx_cifar.images, 200, &o, NULL, NULL, NULL, &err), RML_OK);
	assert_memory_equal(a.params, b.params, (size_t)a.n_params * sizeof(float));
	o.seed = 12;
	assert_int_equal(rml_autoenc_create(&c, 32, 32, 3, &o, &err), RML_OK);
	assert_int_equal(rml_autoenc_train(&c, rml_fx_cifar.images, 200, &o, NULL, NULL, NULL, &err), RML_OK);
	assert_true(memcmp(a.params, c.params, (size_t)a.n_params * sizeof(float)) != 0);

	/* Decoding the codes gives the reconstruction the loss measured, to
	 * within the rounding to 8 bits. */
	float *z = malloc(50 * 256 * sizeof *z);
	uint8_t *y = malloc(50 * 3072);
	assert_int_equal(rml_autoenc_encode(&a, held, 50, z, &err), RML_OK);
	assert_int_equal(rml_autoenc_decode(&a, z, 50, y, &err), RML_OK);
	double s = 0;
	for (int i = 0; i < 50 * 3072; i++) {
		double d = (y[i] - held[i]) / 255.0;
		s += d * d;
	}
	s /= 50 * 3072;
	assert_true(fabs(s - after) < 2e-4);
	z[5] = NAN;
	assert_int_equal(rml_autoenc_decode(&a, z, 50, y, &err), RML_ERR_ARG);
	assert_non_null(strstr(err.msg, "latent code 0 is not finite"));
	free(z);
	free(y);
	rml_autoenc_free(&a);
	rml_autoenc_free(&b);
	rml_autoenc_free(&c);
}

static void test_refused(void **state)
{
	(void)state;
	rml_autoenc ae;
	rml_autoenc_opts o;
	rml_autoenc_opts_default(&o);
	rml_error err = { 0 };
	assert_int_equal(rml_autoenc_create(&ae, 30, 32, 3, &o, &err), RML_ERR_ARG);
	assert_non_null(strstr(err.msg, "multiples of 8"));
	assert_int_equal(rml_autoenc_create(&ae, 32, 32, 5, &o, &err), RML_ERR_ARG);
	assert_non_null(strstr(err.msg, "channels"));
	o.c2 = 0;
	assert_int_equal(rml_autoenc_create(&ae, 32, 32, 3, &o, &err), RML_ERR_ARG);
	assert_non_null(strstr(err.msg, "1..512"));
	rml_autoenc_opts_default(&o);
	assert_int_equal(rml_autoenc_create(&ae, 8, 8, 1, &o, &err), RML_OK);
	uint8_t img[64] = { 0 };
	assert_int_equal(rml_autoenc_train(&ae, img, 0, &o, NULL, NULL, NULL, &err), RML_ERR_ARG);
	assert_non_null(strstr(err.msg, "at least one image"));
	o.lr = 0;
	assert_int_equal(rml_autoenc_train(&ae, img, 1, &o, NULL, NULL, NULL, &err), RML_ERR_ARG);
	o.lr = 1e-3;
	o.batch = 0;
	assert_int_equal(rml_autoenc_train(&ae, img, 1, &o, NULL, NULL, NULL, &err), RML_ERR_ARG);
	/* One constant image: a defined, finite result. */
	o.batch = 4;
	o.epochs = 2;
	double mse;
	assert_int_equal(rml_autoenc_train(&ae, img, 1, &o, NULL, NULL, &mse, &err), RML_OK);
	assert_true(isfinite(mse));
	rml_autoenc_free(&ae);
	rml_autoenc_free(&ae);
	float x[64] = { 0 };
	double l;
	assert_int_equal(rml_autoenc_loss(&ae, x, 1, 0, &l, &err), RML_ERR_ARG);
	assert_non_null(strstr(err.msg, "not created"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_upsample),
		cmocka_unit_test(test_gradients),
		cmocka_unit_test_setup_teardown(test_training, rml_fx_cifar_setup, rml_fx_cifar_teardown),
		cmocka_unit_test(test_refused),
	};
	rml_set_threads(1);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
