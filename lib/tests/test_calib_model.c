/*
 * test_calib_model.c — the calibration-data pipeline: augmented copies are
 * crops and flips of images of their own class, grouped and counted as
 * promised and reproducible; the SBO samples of both spaces keep the
 * minimum distance to every in-distribution code (checked by brute force
 * against codes computed separately), and the standardisation is what it
 * says; the measures and the risk-coverage curve on cases worked out by
 * hand; degenerate calibration data (one class, all right, all wrong,
 * constant confidence, only out-of-distribution rows) through fit, apply
 * and measure give finite results in [0,1]; the reliability diagram is a
 * PNG; every refused argument. And the calibrator a model carries: it
 * round-trips through a model file with its rejection rule, survives new
 * adapters and a new head, applies as softmax-then-calibrator, and a
 * damaged one is refused by rml_model_calib_check with its own message.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "augment.h"
#include "calib.h"
#include "calib_model.h"
#include "fixtures.h"
#include "kernels.h"
#include "model.h"

/* 60 images spread over the carried set (every 16th), of which those of
 * classes 0..2 are labelled and the rest unknown. */
static void small_set(rml_dataset *d)
{
	rml_error err = { 0 };
	assert_int_equal(rml_dataset_alloc(d, 60, 32, 32, 3, &err), RML_OK);
	const char *names[10] = { "a", "b", "c", "d", "e", "f", "g", "h", "i", "j" };
	assert_int_equal(rml_dataset_set_classes(d, names, 10, &err), RML_OK);
	for (int i = 0; i < 60; i++) {
		memcpy(d->images + i * 3072, rml_fx_cifar.images + (int64_t)i * 16 * 3072, 3072);
		d->labels[i] = rml_fx_cifar.labels[i * 16] <= 2 ? rml_fx_cifar.labels[i * 16] : -1;
	}
}

/* Is img a crop (padding 4) of src, possibly mirrored? */
static int is_crop_of(const uint8_t *img, const uint8_t *src)
{
	uint8_t a[3072], b[3072];
	for (int top = 0; top <= 8; top++)
		for (int left = 0; left <= 8; left++) {
			rml_aug_crop(src, a, 32, 32, 3, 4, top, left, NULL);
			if (!memcmp(a, img, 3072))
				return 1;
			rml_aug_hflip(a, b, 32, 32, 3, NULL);
			if (!memcmp(b, img, 3072))
				return 1;
		}
	return 0;
}

static void test_augment(void **state)
{
	(void)state;
	rml_dataset d, a, b;
	rml_dataset_init(&d);
	small_set(&d);
	int per[3] = { 0 };
	for (int i = 0; i < 60; i++)
		if (d.labels[i] >= 0)
			per[d.labels[i]]++;
	rml_error err = { 0 };
	assert_int_equal(rml_calib_augment_dataset(&d, 7, 5, &a, &err), RML_OK);
	/* Three classes present, seven copies each, grouped in class order. */
	assert_int_equal(a.n, 21);
	assert_int_equal(a.n_classes, 10);
	int moved = 0;
	for (int i = 0; i < 21; i++) {
		assert_int_equal(a.labels[i], i / 7);
		int found = 0;
		for (int j = 0; j < 60 && !found; j++)
			if (d.labels[j] == a.labels[i] && is_crop_of(a.images + i * 3072, d.images + j * 3072)) {
				found = 1;
				moved += memcmp(a.images + i * 3072, d.images + j * 3072, 3072) != 0;
			}
		assert_true(found);
	}
	assert_true(moved > 10);
	/* More copies than a class has images: each image comes back in turn. */
	assert_true(per[0] < 7 || per[1] < 7 || per[2] < 7);
	assert_int_equal(rml_calib_augment_dataset(&d, 7, 5, &b, &err), RML_OK);
	assert_memory_equal(a.images, b.images, 21 * 3072);
	rml_dataset_free(&b);
	assert_int_equal(rml_calib_augment_dataset(&d, 7, 6, &b, &err), RML_OK);
	assert_true(memcmp(a.images, b.images, 21 * 3072) != 0);
	rml_dataset_free(&b);
	assert_int_equal(rml_calib_augment_dataset(&d, 0, 5, &b, &err), RML_ERR_ARG);
	assert_non_null(strstr(err.msg, "copies per class"));
	for (int i = 0; i < 60; i++)
		d.labels[i] = -1;
	assert_int_equal(rml_calib_augment_dataset(&d, 3, 5, &b, &err), RML_ERR_ARG);
	assert_non_null(strstr(err.msg, "no labelled image"));
	rml_dataset_free(&a);
	rml_dataset_free(&d);
}

static double brute_nn(const float *x, int64_t n, const float *q, int64_t dim)
{
	double best = INFINITY;
	for (int64_t j = 0; j < n; j++) {
		double s = 0;
		for (int64_t t = 0; t < dim; t++) {
			double v = (double)q[t] - x[j * dim + t];
			s += v * v;
		}
		best = fmin(best, s);
	}
	return sqrt(best);
}

/* SBO in a space: every sample's standardised code is farther than d_min
 * from every in-distribution code, as a separate brute-force search
 * finds, and the reported distances are those. */
static void check_space(rml_ood_space space, double dmin, double doff)
{
	rml_oodgen g;
	rml_autoenc_opts ao;
	rml_autoenc_opts_default(&ao);
	ao.epochs = 2;
	ao.seed = 3;
	rml_error err = { 0 };
	enum { N = 200, M = 40 };
	assert_int_equal(rml_oodgen_fit(&g, space, rml_fx_cifar.images, N, 32, 32, 3, &ao, NULL, NULL, &err),
			 RML_OK);
	int64_t dim = g.dim;
	assert_int_equal(dim, space == RML_OOD_SBO_LATENT ? 256 : 3072);
	float *x = malloc((size_t)(N * dim) * sizeof *x), *q = malloc((size_t)(M * dim) * sizeof *q);
	uint8_t *out = malloc((size_t)M * 3072);
	double nn[M];
	assert_int_equal(rml_oodgen_codes(&g, rml_fx_cifar.images, N, x, &err), RML_OK);
	/* Standardised: every dimension has mean 0 and sd 1 over the data. */
	for (int64_t d = 0; d < dim; d += 37) {
		double s = 0, s2 = 0;
		for (int i = 0; i < N; i++) {
			s += x[i * dim + d];
			s2 += (double)x[i * dim + d] * x[i * dim + d];
		}
		double mu = s / N, sd = sqrt((s2 - N * mu * mu) / (N - 1));
		assert_true(fabs(mu) < 1e-3);
		assert_true(fabs(sd - 1) < 1e-3);
	}
	rml_sbo_opts o;
	rml_sbo_opts_default(&o);
	o.d_min = dmin;
	o.d_off = doff;
	o.seed = 9;
	assert_int_equal(rml_oodgen_sample(&g, rml_fx_cifar.images, N, M, &o, out, q, nn, NULL, &err), RML_OK);
	double lo = INFINITY;
	for (int i = 0; i < M; i++) {
		double b = brute_nn(x, N, q + i * dim, dim);
		assert_true(b > dmin);
		assert_true(fabs(b - nn[i]) < 1e-3 * b);
		lo = fmin(lo, b);
	}
	printf("%s: %d samples, nearest in-distribution code at least %.3f away (d_min %g)\n",
	       rml_ood_space_name(space), M, lo, dmin);
	/* The images are not copies of the data. */
	for (int i = 0; i < M; i++)
		for (int j = 0; j < N; j++)
			assert_true(memcmp(out + i * 3072, rml_fx_cifar.images + j * 3072, 3072) != 0);
	free(x);
	free(q);
	free(out);
	rml_oodgen_free(&g);
}

static void test_sbo_latent_min_distance(void **state)
{
	(void)state;
	check_space(RML_OOD_SBO_LATENT, 25, 20);
}

static void test_sbo_pixel_min_distance(void **state)
{
	(void)state;
	check_space(RML_OOD_SBO_PIXEL, 60, 20);
}

static void test_oodgen_refused(void **state)
{
	(void)state;
	rml_oodgen g;
	rml_error err = { 0 };
	assert_int_equal(rml_oodgen_fit(&g, RML_OOD_NONE, rml_fx_cifar.images, 10, 32, 32, 3, NULL, NULL, NULL,
					&err), RML_ERR_ARG);
	assert_int_equal(rml_oodgen_fit(&g, RML_OOD_SBO_PIXEL, rml_fx_cifar.images, 1, 32, 32, 3, NULL, NULL,
					NULL, &err), RML_ERR_ARG);
	assert_non_null(strstr(err.msg, "at least 2 images"));
	assert_int_equal(rml_oodgen_fit(&g, RML_OOD_SBO_LATENT, rml_fx_cifar.images, 4, 30, 30, 3, NULL, NULL,
					NULL, &err), RML_ERR_ARG);
	assert_non_null(strstr(err.msg, "multiples of 8"));
	uint8_t out[3072];
	assert_int_equal(rml_oodgen_sample(&g, rml_fx_cifar.images, 4, 1, NULL, out, NULL, NULL, NULL, &err),
			 RML_ERR_ARG);
	assert_non_null(strstr(err.msg, "not fitted"));
	/* Constant images: the dimensions that never vary are only shifted. */
	uint8_t flat[4 * 3072];
	memset(flat, 77, sizeof flat);
	assert_int_equal(rml_oodgen_fit(&g, RML_OOD_SBO_PIXEL, flat, 4, 32, 32, 3, NULL, NULL, NULL, &err),
			 RML_OK);
	rml_sbo_opts o;
	rml_sbo_opts_default(&o);
	assert_int_equal(rml_oodgen_sample(&g, flat, 4, 1, &o, out, NULL, NULL, NULL, &err), RML_OK);
	rml_oodgen_free(&g);
	rml_ood_space s;
	assert_int_equal(rml_ood_space_parse("sbo-pixel", &s, &err), RML_OK);
	assert_int_equal(s, RML_OOD_SBO_PIXEL);
	assert_int_equal(rml_ood_space_parse("gan", &s, &err), RML_ERR_ARG);
	assert_non_null(strstr(err.msg, "sbo-latent"));
}

/* Four rows of two classes, worked out by hand (confidences in the
 * middle of their bins, away from float rounding at the edges):
 *   row  probs        label  top  conf  right
 *   0    0.95 0.05    0      0    0.95  yes
 *   1    0.15 0.85    0      1    0.85  no
 *   2    0.6  0.4     OOD    0    0.6   (wrong)
 *   3    0.25 0.75    1      1    0.75  yes
 * In-distribution rows 0, 1, 3: acc 2/3; NLL -(ln .95 + ln .15 + ln .75)/3;
 * Brier (.005 + 1.445 + .125)/3. Equal-width 10 bins: each row its own
 * bin, ECE = (.05 + .85 + .25)/3, MCE 0.85. AUROC by confidence: the OOD
 * row (0.6) is below all three ID rows: 1. Entropy orders the rows as
 * their confidences do (two classes). Risk-coverage keeps rows 0, 1, 3, 2
 * in turn: risks 0, 1/2, 1/3, 2/4; AURC = (0 + 1/2 + 1/3 + 1/2)/4. */
static void test_measures_by_hand(void **state)
{
	(void)state;
	float p[8] = { 0.95f, 0.05f, 0.15f, 0.85f, 0.6f, 0.4f, 0.25f, 0.75f };
	int32_t y[4] = { 0, 0, RML_CALIB_OOD, 1 };
	rml_calib_measures m;
	rml_error err = { 0 };
	assert_int_equal(rml_calib_measure(p, y, 4, 2, 10, &m, &err), RML_OK);
	assert_int_equal(m.n_id, 3);
	assert_int_equal(m.n_ood, 1);
	assert_true(fabs(m.acc1 - 2.0 / 3) < 1e-9);
	assert_true(fabs(m.nll - -(log(0.95) + log(0.15) + log(0.75)) / 3) < 1e-6);
	assert_true(fabs(m.brier - (0.005 + 1.445 + 0.125) / 3) < 1e-6);
	assert_true(fabs(m.ece - 1.15 / 3) < 1e-6);
	assert_true(fabs(m.mce - 0.85) < 1e-6);
	assert_true(fabs(m.auroc_conf - 1) < 1e-12);
	assert_true(fabs(m.auroc_entropy - 1) < 1e-12);
	assert_true(fabs(m.aurc - (0 + 0.5 + 1.0 / 3 + 0.5) / 4) < 1e-9);
	double cov[4], risk[4], aurc;
	int64_t np;
	assert_int_equal(rml_risk_coverage(p, y, 4, 2, RML_REJECT_CONFIDENCE, cov, risk, &np, &aurc, &err),
			 RML_OK);
	assert_int_equal(np, 4);
	double wc[4] = { 0.25, 0.5, 0.75, 1 }, wr[4] = { 0, 0.5, 1.0 / 3, 0.5 };
	for (int i = 0; i < 4; i++) {
		assert_true(fabs(cov[i] - wc[i]) < 1e-12);
		assert_true(fabs(risk[i] - wr[i]) < 1e-12);
	}
	/* Ties enter together: two rows of equal confidence make one point. */
	float t[4] = { 0.7f, 0.3f, 0.7f, 0.3f };
	int32_t ty[2] = { 0, 1 };
	assert_int_equal(rml_risk_coverage(t, ty, 2, 2, RML_REJECT_ENTROPY, cov, risk, &np, &aurc, &err),
			 RML_OK);
	assert_int_equal(np, 1);
	assert_true(cov[0] == 1 && risk[0] == 0.5 && aurc == 0.5);
	/* Without OOD rows the AUROC is undefined (NaN), not 0.5. */
	y[2] = 1;
	assert_int_equal(rml_calib_measure(p, y, 4, 2, 10, &m, &err), RML_OK);
	assert_true(isnan(m.auroc_conf));
	/* Unknown labels count only in n. */
	int32_t u[4] = { -1, -1, -1, -1 };
	assert_int_equal(rml_calib_measure(p, u, 4, 2, 10, &m, &err), RML_OK);
	assert_true(isnan(m.acc1) && m.n == 4 && m.n_id == 0);
	u[0] = 5;
	assert_int_equal(rml_calib_measure(p, u, 4, 2, 10, &m, &err), RML_ERR_ARG);
	assert_non_null(strstr(err.msg, "row 0"));
	assert_int_equal(rml_risk_coverage(p, y, 4, 2, RML_REJECT_NONE, cov, risk, &np, &aurc, &err),
			 RML_ERR_ARG);
}

/* Degenerate calibration data through every method: fitting succeeds,
 * and calibrated rows are finite, in [0,1], sum to 1; the measures are
 * finite. */
static void run_degenerate(const char *what, const float *p, const int32_t *y, int64_t n)
{
	rml_error err = { 0 };
	float *out = malloc((size_t)(n * 3) * sizeof *out);
	for (int meth = 0; meth < RML_CALIB_COUNT; meth++)
		for (int ens = 0; ens < 2; ens++) {
			rml_calib c;
			rml_calib_init(&c);
			rml_calib_opts o;
			rml_calib_opts_default(&o);
			o.bbq_ensemble = ens;
			if (rml_calib_fit(&c, (rml_calib_method)meth, p, NULL, y, n, 3, &o, &err))
				fail_msg("%s, %s: %s", what, rml_calib_method_name((rml_calib_method)meth), err.msg);
			assert_int_equal(rml_calib_apply(&c, p, NULL, n, 3, out, &err), RML_OK);
			for (int64_t i = 0; i < n; i++) {
				double s = 0;
				for (int j = 0; j < 3; j++) {
					float v = out[i * 3 + j];
					assert_true(isfinite(v) && v >= 0 && v <= 1);
					s += v;
				}
				assert_true(fabs(s - 1) < 1e-5);
			}
			rml_calib_measures m;
			assert_int_equal(rml_calib_measure(out, y, n, 3, 15, &m, &err), RML_OK);
			if (m.n_id > 0)
				assert_true(isfinite(m.ece) && isfinite(m.nll) && isfinite(m.brier));
			assert_true(isfinite(m.aurc));
			rml_reject_choice rc;
			assert_int_equal(rml_calib_choose_reject(out, y, n, 3, RML_REJECT_ENTROPY, 0.2, -1, &rc,
								 &err), RML_OK);
			assert_true(isfinite(rc.threshold) && isfinite(rc.acc2));
			rml_calib_free(&c);
		}
	free(out);
}

static void test_degenerate(void **state)
{
	(void)state;
	enum { N = 30 };
	float p[N * 3];
	int32_t y[N];
	rml_rng r;
	rml_rng_seed(&r, 1);
	for (int i = 0; i < N; i++) {
		double a = 0.4 + 0.6 * rml_rng_uniform(&r);
		p[i * 3] = (float)a;
		p[i * 3 + 1] = (float)((1 - a) * 0.7);
		p[i * 3 + 2] = (float)(1 - a - (1 - a) * 0.7);
	}
	for (int i = 0; i < N; i++)
		y[i] = 0;
	run_degenerate("one class, all correct", p, y, N);
	for (int i = 0; i < N; i++)
		y[i] = 2;
	run_degenerate("all wrong", p, y, N);
	for (int i = 0; i < N; i++)
		y[i] = RML_CALIB_OOD;
	run_degenerate("only out-of-distribution rows", p, y, N);
	for (int i = 0; i < N; i++) {
		p[i * 3] = 0.5f;
		p[i * 3 + 1] = 0.3f;
		p[i * 3 + 2] = 0.2f;
		y[i] = i % 3;
	}
	run_degenerate("constant confidence", p, y, N);
	run_degenerate("a single row", p, y, 1);
}

static void test_reliability_png(void **state)
{
	(void)state;
	float conf[2][5] = { { 0.1f, 0.5f, 0.55f, 0.9f, 1.0f }, { 0.3f, 0.3f, 0.6f, 0.6f, 0.95f } };
	uint8_t ok[2][5] = { { 0, 1, 0, 1, 1 }, { 0, 1, 1, 0, 1 } };
	const float *cp[2] = { conf[0], conf[1] };
	const uint8_t *op[2] = { ok[0], ok[1] };
	int64_t n[2] = { 5, 5 };
	const char *titles[2] = { "before", "after" };
	char path[] = "/tmp/rml-test-reliability-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	rml_error err = { 0 };
	assert_int_equal(rml_reliability_png(path, 2, titles, cp, op, n, 10, &err), RML_OK);
	FILE *f = fopen(path, "rb");
	unsigned char sig[8];
	assert_int_equal(fread(sig, 1, 8, f), 8);
	fclose(f);
	assert_memory_equal(sig, "\x89PNG\r\n\x1a\n", 8);
	assert_int_equal(rml_reliability_png(path, 5, titles, cp, op, n, 10, &err), RML_ERR_ARG);
	assert_int_equal(rml_reliability_png(path, 2, titles, cp, op, n, 0, &err), RML_ERR_ARG);
	remove(path);
	close(fd);
}

/* ---- the calibrator a model carries (rml_model_calibrator and friends) -------------------------------------------- */

/* A calibrator of method m fitted on 200 made-up, overconfident rows. */
static void fit_toy(rml_calib *c, rml_calib_method meth)
{
	enum { N = 200, K = 10 };
	static float probs[N * K], logits[N * K];
	int32_t labels[N];
	rml_rng r;
	rml_rng_seed(&r, 3);
	for (int i = 0; i < N; i++) {
		for (int j = 0; j < K; j++)
			logits[i * K + j] = (float)(3 * rml_rng_normal(&r));
		labels[i] = rml_rng_uniform(&r) < 0.6 ? 0 : (int32_t)rml_rng_below(&r, K);
		logits[i * K + labels[i]] += 2;
	}
	rml_softmax(probs, logits, N, K);
	rml_error err = { 0 };
	rml_calib_init(c);
	if (rml_calib_fit(c, meth, probs, logits, labels, N, K, NULL, &err))
		fail_msg("%s", err.msg);
}

static void test_calibrator_round_trip(void **state)
{
	(void)state;
	rml_error err = { 0 };
	float x[2 * 3072], *lg, logits[20], want[20], got[20];
	rml_fx_pixels(x, 2 * 3072, 5);
	for (int meth = 0; meth < RML_CALIB_COUNT; meth++) {
		rml_model *m = rml_fx_tiny(10, 0, 8), *back = NULL;
		assert_null(rml_model_calibrator_method(m));
		rml_reject_rule rule;
		double thr;
		rml_model_reject_rule(m, &rule, &thr);
		assert_int_equal(rule, RML_REJECT_NONE);
		assert_true(isnan(thr));
		rml_calib c;
		fit_toy(&c, (rml_calib_method)meth);
		assert_int_equal(rml_model_set_calibrator(m, &c, &err), RML_OK);
		assert_int_equal(rml_model_set_reject_rule(m, RML_REJECT_ENTROPY, 0.75, &err), RML_OK);
		/* The model holds a copy: changing ours changes nothing. */
		c.scalars[0] = 7;
		rml_calib held;
		assert_int_equal(rml_model_calibrator(m, &held, &err), RML_OK);
		assert_true(held.scalars[0] != 7 || meth == RML_CALIB_BETA);
		rml_file f;
		rml_file_init(&f);
		assert_int_equal(rml_model_to_file(m, &f, &err), RML_OK);
		assert_int_equal(rml_model_from_file(&back, &f, &err), RML_OK);
		assert_int_equal(rml_model_calib_check(back, &err), RML_OK);
		rml_calib cb;
		assert_int_equal(rml_model_calibrator(back, &cb, &err), RML_OK);
		assert_int_equal(cb.method, meth);
		assert_string_equal(rml_model_calibrator_method(back), rml_calib_method_name(cb.method));
		rml_calib_free(&cb);
		rml_model_reject_rule(back, &rule, &thr);
		assert_int_equal(rule, RML_REJECT_ENTROPY);
		assert_true(thr == 0.75);
		/* Probabilities: softmax, then the calibrator, the same after the trip. */
		rml_model_reserve(m, 2, 0, &err);
		rml_model_forward(m, x, 2, RML_MODE_EVAL, &lg, &err);
		memcpy(logits, lg, sizeof logits);
		rml_softmax(want, logits, 2, 10);
		assert_int_equal(rml_calib_apply(&held, want, logits, 2, 10, want, &err), RML_OK);
		rml_calib_free(&held);
		assert_int_equal(rml_model_probs(back, logits, 2, got, &err), RML_OK);
		assert_memory_equal(want, got, sizeof want);
		for (int i = 0; i < 2; i++) {
			double s = 0;
			for (int j = 0; j < 10; j++)
				s += got[i * 10 + j];
			assert_true(fabs(s - 1) < 1e-5);
		}
		/* It stays through adapters and a new head. */
		assert_int_equal(rml_model_add_adapters(back, 4, 1, &err), RML_OK);
		assert_int_equal(rml_model_reset_head(back, 10, 2, &err), RML_OK);
		assert_non_null(rml_model_calibrator_method(back));
		/* Removing it removes the rule too. */
		assert_int_equal(rml_model_set_calibrator(back, NULL, &err), RML_OK);
		assert_null(rml_model_calibrator_method(back));
		assert_int_equal(rml_model_calibrator(back, &cb, &err), RML_ERR_ARG);
		rml_model_reject_rule(back, &rule, NULL);
		assert_int_equal(rule, RML_REJECT_NONE);
		assert_int_equal(rml_model_probs(back, logits, 2, got, &err), RML_OK);
		rml_softmax(want, logits, 2, 10);
		assert_memory_equal(want, got, sizeof want);
		rml_calib_free(&c);
		rml_file_free(&f);
		rml_model_free(m);
		rml_model_free(back);
	}
}

static void test_calibrator_misuse(void **state)
{
	(void)state;
	rml_error err = { 0 };
	rml_model *m = rml_fx_tiny(10, 0, 8);
	rml_calib c;
	rml_calib_init(&c);
	assert_int_equal(rml_model_set_calibrator(m, &c, &err), RML_ERR_ARG);
	assert_non_null(strstr(err.msg, "not been fitted"));
	assert_null(rml_model_calibrator_method(m));
	/* A threshold that is not finite, or no rule, clears the rule. */
	assert_int_equal(rml_model_set_reject_rule(m, RML_REJECT_CONFIDENCE, 0.5, &err), RML_OK);
	assert_int_equal(rml_model_set_reject_rule(m, RML_REJECT_CONFIDENCE, NAN, &err), RML_OK);
	rml_reject_rule rule;
	rml_model_reject_rule(m, &rule, NULL);
	assert_int_equal(rule, RML_REJECT_NONE);
	float logits[10] = { 0 }, probs[10];
	assert_int_equal(rml_model_probs(m, logits, -1, probs, &err), RML_ERR_ARG);
	/* A faulty row stays not finite. */
	logits[3] = NAN;
	fit_toy(&c, RML_CALIB_BBQ);
	assert_int_equal(rml_model_set_calibrator(m, &c, &err), RML_OK);
	assert_int_equal(rml_model_probs(m, logits, 1, probs, &err), RML_OK);
	assert_true(isnan(probs[3]));
	rml_calib_free(&c);
	rml_model_free(m);
}

/* A calibrated mvit-tiny model file, damaged by `damage`, must be refused
 * by rml_model_calib_check (which programs run after loading a model)
 * with RML_ERR_FORMAT and a message that contains `says`; the model file
 * itself still loads, since the model does not read what it carries. */
static void refused_calibrated(void (*damage)(rml_file *), const char *says)
{
	rml_model *m = rml_fx_tiny(10, 0, 8), *bad = NULL;
	rml_error err = { 0 };
	rml_calib c;
	fit_toy(&c, RML_CALIB_ISOTONIC);
	assert_int_equal(rml_model_set_calibrator(m, &c, &err), RML_OK);
	assert_int_equal(rml_model_set_reject_rule(m, RML_REJECT_CONFIDENCE, 0.5, &err), RML_OK);
	rml_file f;
	rml_file_init(&f);
	assert_int_equal(rml_model_to_file(m, &f, &err), RML_OK);
	damage(&f);
	assert_int_equal(rml_model_from_file(&bad, &f, &err), RML_OK);
	assert_int_equal(rml_model_calib_check(bad, &err), RML_ERR_FORMAT);
	if (!strstr(err.msg, says))
		fail_msg("message '%s' does not say '%s'", err.msg, says);
	/* Reading it fails the same way, wherever it is read. */
	rml_calib back;
	rml_error e2 = { 0 };
	if (rml_model_calibrator_method(bad)) {
		assert_int_not_equal(rml_model_calibrator(bad, &back, &e2), RML_OK);
		float logits[10] = { 0 }, probs[10];
		assert_int_not_equal(rml_model_probs(bad, logits, 1, probs, &e2), RML_OK);
	}
	rml_model_free(bad);
	rml_calib_free(&c);
	rml_file_free(&f);
	rml_model_free(m);
}

static void calib_bad_method(rml_file *f)
{
	rml_set_str(f, "calib.method", "platt");
}

static void calib_nan_value(rml_file *f)
{
	rml_tensor *t = rml_find_tensor(f, "calib.y");
	((double *)t->data)[0] = NAN;
}

static void calib_bad_offsets(rml_file *f)
{
	rml_tensor *t = rml_find_tensor(f, "calib.offsets");
	((int64_t *)t->data)[1] = 1 << 30;
}

static void calib_stray_tensor(rml_file *f)
{
	double v[2] = { 0, 1 };
	int64_t d[1] = { 2 };
	rml_add_tensor(f, "calib.z", RML_DTYPE_F64, 1, d, v, NULL);
}

static void calib_orphan_tensor(rml_file *f)
{
	rml_unset(f, "calib.method");
}

static void calib_bad_rule(rml_file *f)
{
	rml_set_str(f, "calib.reject_rule", "margin");
}

static void calib_rule_not_string(rml_file *f)
{
	rml_set_i64(f, "calib.reject_rule", 1);
}

static void calib_threshold_range(rml_file *f)
{
	rml_set_f64(f, "calib.reject_threshold", 1.5);
}

static void calib_threshold_missing(rml_file *f)
{
	rml_unset(f, "calib.reject_threshold");
}

static void calib_threshold_alone(rml_file *f)
{
	rml_unset(f, "calib.reject_rule");
}

static void test_calibrator_hostile_files(void **state)
{
	(void)state;
	refused_calibrated(calib_bad_method, "unknown calibration method 'platt'");
	refused_calibrated(calib_nan_value, "calib.y");
	refused_calibrated(calib_bad_offsets, "calib.offsets");
	refused_calibrated(calib_stray_tensor, "'calib.z' is not part of a calibrator");
	refused_calibrated(calib_orphan_tensor, "is not part of a calibrator");
	refused_calibrated(calib_bad_rule, "'margin' is not entropy or confidence");
	refused_calibrated(calib_rule_not_string, "must be a string");
	refused_calibrated(calib_threshold_range, "outside the range of the confidence rule");
	refused_calibrated(calib_threshold_missing, "calib.reject_threshold");
	refused_calibrated(calib_threshold_alone, "without calib.reject_rule");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_augment),
		cmocka_unit_test(test_sbo_latent_min_distance),
		cmocka_unit_test(test_sbo_pixel_min_distance),
		cmocka_unit_test(test_oodgen_refused),
		cmocka_unit_test(test_measures_by_hand),
		cmocka_unit_test(test_degenerate),
		cmocka_unit_test(test_reliability_png),
		cmocka_unit_test(test_calibrator_round_trip),
		cmocka_unit_test(test_calibrator_misuse),
		cmocka_unit_test(test_calibrator_hostile_files),
	};
	return cmocka_run_group_tests(tests, rml_fx_cifar_setup, rml_fx_cifar_teardown);
}
