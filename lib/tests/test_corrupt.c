/*
 * test_corrupt.c — the common corruptions: names and rejected arguments,
 * severities that hurt more as they rise, reproducibility from the seed
 * (also across thread counts), noise statistics, blur kernels on flat and
 * impulse images, HSV brightness and contrast by hand, pixelation
 * against Pillow (testdata/ref/augment_pil.txt), JPEG round trips, the
 * Poisson sampler and the plasma fractal.
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

#include "corrupt.h"

#define REF_PATH "testdata/ref/augment_pil.txt"

/* The image scripts/ref_corrupt.py calls test_pattern(). */
static void pattern(uint8_t *img, int64_t h, int64_t w, int64_t c)
{
	for (int64_t y = 0; y < h; y++)
		for (int64_t x = 0; x < w; x++)
			for (int64_t ch = 0; ch < c; ch++) {
				uint32_t hsh = (uint32_t)((uint32_t)(x * x + 3 * y * y + 7 * ch) *
							  2654435761u) >> 24 & 31;
				int64_t chk = ((x / 8 + y / 8) % 2) * 50;
				img[(y * w + x) * c + ch] =
					(uint8_t)(30 + (x * 4 + y * 2 + ch * 25 + hsh + chk) % 180);
			}
}

static uint8_t *load_ref(const char *name, int64_t *h, int64_t *w, int64_t *c)
{
	FILE *f = fopen(REF_PATH, "r");
	if (!f)
		fail_msg("cannot open %s (run from the top of the tree)", REF_PATH);
	char line[512];
	uint8_t *out = NULL;
	while (fgets(line, sizeof line, f)) {
		char nm[128];
		long long hh, ww, cc;
		if (line[0] == '#' || sscanf(line, "%127s %lld %lld %lld", nm, &hh, &ww, &cc) != 4)
			continue;
		if (strcmp(nm, name) != 0) {
			int ch;
			while ((ch = fgetc(f)) != EOF && ch != '\n')
				;
			continue;
		}
		size_t n = (size_t)(hh * ww * cc);
		out = malloc(n);
		assert_non_null(out);
		for (size_t i = 0; i < n; i++) {
			unsigned v;
			assert_int_equal(fscanf(f, "%2x", &v), 1);
			out[i] = (uint8_t)v;
		}
		*h = hh;
		*w = ww;
		*c = cc;
		break;
	}
	fclose(f);
	if (!out)
		fail_msg("case %s missing from %s", name, REF_PATH);
	return out;
}

static double mad(const uint8_t *a, const uint8_t *b, int64_t n)
{
	double s = 0;
	for (int64_t i = 0; i < n; i++)
		s += abs((int)a[i] - (int)b[i]);
	return s / (double)n;
}

/* Corrupt a copy of src with a fresh generator seeded `seed`. */
static void corrupt_copy(rml_corruption k, int sev, const uint8_t *src, uint8_t *dst, int64_t h,
			 int64_t w, int64_t c, uint64_t seed)
{
	rml_error err = { 0 };
	rml_rng r;
	rml_rng_seed(&r, seed);
	float *scratch = malloc(rml_corrupt_scratch_size(h, w, c) * sizeof(float));
	assert_non_null(scratch);
	memcpy(dst, src, (size_t)(h * w * c));
	rml_status st = rml_corrupt_apply(k, sev, dst, h, w, c, &r, scratch, &err);
	if (st != RML_OK)
		fail_msg("%s severity %d: %s", rml_corruption_name(k), sev, err.msg);
	free(scratch);
}

static void test_names(void **state)
{
	(void)state;
	rml_corruption k;
	rml_error err = { 0 };
	assert_int_equal(RML_CORRUPT_COUNT, 10);
	for (int i = 0; i < RML_CORRUPT_COUNT; i++) {
		const char *nm = rml_corruption_name((rml_corruption)i);
		assert_non_null(nm);
		assert_int_equal(rml_corruption_parse(nm, &k, &err), RML_OK);
		assert_int_equal(k, i);
	}
	assert_string_equal(rml_corruption_name(RML_CORRUPT_JPEG), "jpeg_compression");
	assert_null(rml_corruption_name(RML_CORRUPT_COUNT));
	assert_int_equal(rml_corruption_parse("frost", &k, &err), RML_ERR_ARG);
	assert_non_null(strstr(err.msg, "unknown corruption 'frost'"));
	assert_int_equal(rml_corruption_parse("", &k, &err), RML_ERR_ARG);
	assert_int_equal(rml_corruption_parse(NULL, &k, &err), RML_ERR_ARG);
}

static void test_rejects(void **state)
{
	(void)state;
	rml_error err = { 0 };
	rml_rng r;
	rml_rng_seed(&r, 1);
	uint8_t img[8 * 8 * 3];
	pattern(img, 8, 8, 3);
	uint8_t keep[sizeof img];
	memcpy(keep, img, sizeof img);
	float *s = malloc(rml_corrupt_scratch_size(8, 8, 3) * sizeof(float));
	assert_non_null(s);
	assert_int_equal(rml_corrupt_apply(RML_CORRUPT_FOG, 0, img, 8, 8, 3, &r, s, &err),
			 RML_ERR_ARG);
	assert_non_null(strstr(err.msg, "severity 0"));
	assert_int_equal(rml_corrupt_apply(RML_CORRUPT_FOG, 6, img, 8, 8, 3, &r, s, &err),
			 RML_ERR_ARG);
	assert_non_null(strstr(err.msg, "severity 6"));
	assert_int_equal(rml_corrupt_apply(RML_CORRUPT_CONTRAST, 1, img, 8, 8, 2, &r, s, &err),
			 RML_ERR_ARG);
	assert_non_null(strstr(err.msg, "1 or 3 channels, not 2"));
	assert_int_equal(rml_corrupt_apply(RML_CORRUPT_CONTRAST, 1, img, 0, 8, 3, &r, s, &err),
			 RML_ERR_ARG);
	assert_int_equal(rml_corrupt_apply(RML_CORRUPT_COUNT, 1, img, 8, 8, 3, &r, s, &err),
			 RML_ERR_ARG);
	assert_int_equal(rml_corrupt_apply((rml_corruption)-1, 1, img, 8, 8, 3, &r, s, &err),
			 RML_ERR_ARG);
	assert_int_equal(rml_corrupt_apply(RML_CORRUPT_FOG, 1, img, 8, 8, 3, NULL, s, &err),
			 RML_ERR_ARG);
	assert_int_equal(rml_corrupt_apply(RML_CORRUPT_FOG, 1, img, 8, 8, 3, &r, NULL, &err),
			 RML_ERR_ARG);
	assert_memory_equal(img, keep, sizeof img);
	assert_int_equal(rml_corrupt_images(RML_CORRUPT_FOG, 6, img, 1, 8, 8, 3, 1, &err),
			 RML_ERR_ARG);
	assert_int_equal(rml_corrupt_images(RML_CORRUPT_FOG, 1, img, -1, 8, 8, 3, 1, &err),
			 RML_ERR_ARG);
	assert_int_equal(rml_corrupt_images(RML_CORRUPT_FOG, 1, NULL, 0, 8, 8, 3, 1, &err), RML_OK);
	assert_int_equal(rml_corrupt_scratch_size(8, 8, 2), 0);
	assert_int_equal(rml_jpeg_roundtrip(img, 8, 8, 3, 0, &err), RML_ERR_ARG);
	assert_int_equal(rml_jpeg_roundtrip(img, 8, 8, 3, 101, &err), RML_ERR_ARG);
	float map[16];
	assert_int_equal(rml_plasma_fractal(map, 3, 2.0, &r, &err), RML_ERR_ARG);
	assert_non_null(strstr(err.msg, "power of two"));
	assert_int_equal(rml_plasma_fractal(map, 4, 0.0, &r, &err), RML_ERR_ARG);
	assert_int_equal(rml_sample_poisson(&r, -1.0), -1);
	assert_int_equal(rml_sample_poisson(&r, NAN), -1);
	free(s);
}

/* A stand-in for a photograph: smooth fractal shapes per channel plus a
 * little pixel texture, and no period that a resize could line up with
 * (the pattern's 8-pixel checks survive a 32 -> 28 pixelation intact). */
static void natural(uint8_t *img, int64_t h, int64_t w, int64_t c, uint64_t seed)
{
	int64_t ms = 2;
	while (ms < h || ms < w)
		ms *= 2;
	float *map = malloc((size_t)(ms * ms) * sizeof(float));
	assert_non_null(map);
	rml_rng r;
	rml_rng_seed(&r, seed);
	for (int64_t ch = 0; ch < c; ch++) {
		assert_int_equal(rml_plasma_fractal(map, ms, 1.6, &r, NULL), RML_OK);
		for (int64_t y = 0; y < h; y++)
			for (int64_t x = 0; x < w; x++)
				img[(y * w + x) * c + ch] = (uint8_t)(25 + 190 * map[y * ms + x] +
								      (double)rml_rng_below(&r, 17));
	}
	free(map);
}

/* The mean absolute change from the clean image rises strictly with the
 * severity, for every corruption, colour and grey (one exception the
 * parameter table makes, below). */
static void test_severity_monotone(void **state)
{
	(void)state;
	for (int c = 3; c >= 1; c -= 2) {
		enum { H = 32, W = 32 };
		uint8_t src[H * W * 3], dst[H * W * 3];
		int64_t n = H * W * c;
		natural(src, H, W, c, 31);
		for (int k = 0; k < RML_CORRUPT_COUNT; k++) {
			double prev = 0.0;
			for (int sev = 1; sev <= 5; sev++) {
				corrupt_copy((rml_corruption)k, sev, src, dst, H, W, c, 2024);
				double d = mad(src, dst, n);
				/* The benchmark's motion blur 3 and 4 share sigma 2 and
				 * differ only in taps beyond six sigma: the same blur. */
				if (k == RML_CORRUPT_MOTION_BLUR && sev == 4) {
					assert_true(fabs(d - prev) <= 0.01 * prev);
					prev = d;
					continue;
				}
				if (!(d > prev))
					fail_msg("%s c=%d: severity %d changes %.3f, severity %d %.3f",
						 rml_corruption_name((rml_corruption)k), c, sev - 1, prev,
						 sev, d);
				prev = d;
			}
		}
	}
}

/* Same seed, same image; another seed, another image for the random ones. */
static void test_determinism(void **state)
{
	(void)state;
	enum { H = 24, W = 20, C = 3 };
	uint8_t src[H * W * C], a[H * W * C], b[H * W * C];
	pattern(src, H, W, C);
	for (int k = 0; k < RML_CORRUPT_COUNT; k++) {
		corrupt_copy((rml_corruption)k, 3, src, a, H, W, C, 9);
		corrupt_copy((rml_corruption)k, 3, src, b, H, W, C, 9);
		assert_memory_equal(a, b, sizeof a);
		corrupt_copy((rml_corruption)k, 3, src, b, H, W, C, 10);
		int random = k == RML_CORRUPT_GAUSSIAN_NOISE || k == RML_CORRUPT_SHOT_NOISE ||
			     k == RML_CORRUPT_IMPULSE_NOISE || k == RML_CORRUPT_MOTION_BLUR ||
			     k == RML_CORRUPT_FOG;
		if (random)
			assert_memory_not_equal(a, b, sizeof a);
		else
			assert_memory_equal(a, b, sizeof a);
	}
}

/* The parallel whole-array path equals image-by-image calls with stream
 * generators, for 1 and 2 threads. */
static void test_parallel(void **state)
{
	(void)state;
	enum { N = 7, H = 16, W = 16, C = 3 };
	static uint8_t base[N * H * W * C], seq[N * H * W * C], par[N * H * W * C];
	for (int i = 0; i < N; i++) {
		pattern(base + i * H * W * C, H, W, C);
		base[i * H * W * C] = (uint8_t)i; /* images differ */
	}
	rml_error err = { 0 };
	float *s = malloc(rml_corrupt_scratch_size(H, W, C) * sizeof(float));
	assert_non_null(s);
	const rml_corruption kinds[] = { RML_CORRUPT_SHOT_NOISE, RML_CORRUPT_FOG,
					 RML_CORRUPT_JPEG, RML_CORRUPT_MOTION_BLUR };
	for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
		memcpy(seq, base, sizeof base);
		for (int i = 0; i < N; i++) {
			rml_rng r;
			rml_rng_seed_stream(&r, 77, (uint64_t)i);
			assert_int_equal(rml_corrupt_apply(kinds[k], 4, seq + i * H * W * C, H, W, C, &r,
							   s, &err),
					 RML_OK);
		}
		for (int t = 1; t <= 2; t++) {
			rml_set_threads(t);
			memcpy(par, base, sizeof base);
			assert_int_equal(rml_corrupt_images(kinds[k], 4, par, N, H, W, C, 77, &err),
					 RML_OK);
			assert_memory_equal(par, seq, sizeof seq);
		}
	}
	free(s);
}

/* Noise levels against their parameters; tolerances about five standard
 * errors. */
static void test_noise_statistics(void **state)
{
	(void)state;
	enum { H = 64, W = 64, C = 3 };
	const int64_t n = H * W * C;
	uint8_t *flat = malloc(n), *out = malloc(n);
	assert_non_null(flat);
	assert_non_null(out);
	memset(flat, 128, n);

	/* Gaussian, severity 5: sd 0.10 of the range = 25.5 levels. */
	corrupt_copy(RML_CORRUPT_GAUSSIAN_NOISE, 5, flat, out, H, W, C, 1);
	double m = 0, v = 0;
	for (int64_t i = 0; i < n; i++)
		m += out[i];
	m /= n;
	for (int64_t i = 0; i < n; i++)
		v += (out[i] - m) * (out[i] - m);
	v /= n;
	assert_true(fabs(m - 128) < 1.2);
	assert_true(fabs(sqrt(v) - 25.5) < 1.0);

	/* Shot, severity 5: Poisson(128/255*50)/50*255, mean 128, variance
	 * 128/255*50 * (255/50)^2 = 653. */
	corrupt_copy(RML_CORRUPT_SHOT_NOISE, 5, flat, out, H, W, C, 2);
	m = 0;
	v = 0;
	for (int64_t i = 0; i < n; i++)
		m += out[i];
	m /= n;
	for (int64_t i = 0; i < n; i++)
		v += (out[i] - m) * (out[i] - m);
	v /= n;
	assert_true(fabs(m - 128) < 1.2);
	assert_true(fabs(v - 653.0) < 60.0);

	/* Impulse, severity 5: 7% of values, half salt, half pepper. */
	corrupt_copy(RML_CORRUPT_IMPULSE_NOISE, 5, flat, out, H, W, C, 3);
	int64_t salt = 0, pepper = 0, other = 0;
	for (int64_t i = 0; i < n; i++) {
		salt += out[i] == 255;
		pepper += out[i] == 0;
		other += out[i] != 255 && out[i] != 0 && out[i] != 128;
	}
	assert_int_equal(other, 0);
	assert_true(fabs((double)(salt + pepper) - 0.07 * n) < 5 * sqrt(0.07 * 0.93 * n));
	assert_true(fabs((double)salt - 0.035 * n) < 5 * sqrt(0.035 * n));
	free(flat);
	free(out);
}

static void test_poisson(void **state)
{
	(void)state;
	rml_rng r;
	rml_rng_seed(&r, 4);
	const double lambdas[] = { 0.5, 4.0, 10.0, 25.0, 300.0 };
	const int n = 40000;
	for (int l = 0; l < 5; l++) {
		double lam = lambdas[l], s = 0, sq = 0;
		for (int i = 0; i < n; i++) {
			int64_t k = rml_sample_poisson(&r, lam);
			assert_true(k >= 0);
			s += (double)k;
			sq += (double)k * (double)k;
		}
		double mean = s / n, var = sq / n - mean * mean;
		/* Mean within 5 standard errors, variance within 5%. */
		assert_true(fabs(mean - lam) < 5 * sqrt(lam / n));
		assert_true(fabs(var - lam) < 0.05 * lam);
	}
	assert_int_equal(rml_sample_poisson(&r, 0.0), 0);
}

/* Blurs: kernels sum to one (flat images stay flat), defocus is a
 * symmetric spot, motion blur a streak on one side of the pixel. */
static void test_blurs(void **state)
{
	(void)state;
	enum { H = 21, W = 21 };
	uint8_t flat[H * W * 3], out[H * W * 3];
	memset(flat, 77, sizeof flat);
	for (int sev = 1; sev <= 5; sev++) {
		corrupt_copy(RML_CORRUPT_DEFOCUS_BLUR, sev, flat, out, H, W, 3, 1);
		assert_memory_equal(out, flat, sizeof flat);
		corrupt_copy(RML_CORRUPT_MOTION_BLUR, sev, flat, out, H, W, 3, 1);
		assert_memory_equal(out, flat, sizeof flat);
	}
	uint8_t dot[H * W], o[H * W];
	memset(dot, 0, sizeof dot);
	dot[10 * W + 10] = 255;
	/* Severity 5: disk of radius 1.5 (the 3x3 block), 255/9 = 28.3 each. */
	corrupt_copy(RML_CORRUPT_DEFOCUS_BLUR, 5, dot, o, H, W, 1, 1);
	for (int y = 0; y < H; y++)
		for (int x = 0; x < W; x++) {
			int in = abs(y - 10) <= 1 && abs(x - 10) <= 1;
			assert_int_equal(o[y * W + x], in ? 28 : 0);
		}
	/* Severity 1: radius 0.3 keeps only the centre, smoothed by a 3x3
	 * Gaussian of sigma 0.4: symmetric, centre largest. */
	corrupt_copy(RML_CORRUPT_DEFOCUS_BLUR, 1, dot, o, H, W, 1, 1);
	assert_true(o[10 * W + 10] > o[10 * W + 11]);
	assert_int_equal(o[10 * W + 11], o[10 * W + 9]);
	assert_int_equal(o[9 * W + 10], o[11 * W + 10]);
	assert_int_equal(o[9 * W + 9], o[11 * W + 11]);
	assert_int_equal(o[12 * W + 10], 0);

	/* Motion: the dot spreads onto pixels whose streak (towards angles
	 * within 45 degrees of +x) reaches it, i.e. to the left, never to
	 * the right. */
	corrupt_copy(RML_CORRUPT_MOTION_BLUR, 5, dot, o, H, W, 1, 5);
	int64_t total = 0;
	for (int y = 0; y < H; y++)
		for (int x = 0; x < W; x++) {
			total += o[y * W + x];
			if (x > 10)
				assert_int_equal(o[y * W + x], 0);
		}
	assert_true(o[10 * W + 10] > 0);
	assert_true(abs((int)total - 255) < 12);
}

static void test_photometric_by_hand(void **state)
{
	(void)state;
	/* Contrast, severity 2 (factor 0.5): 100 and 200 around mean 150 go
	 * to 125 and 175. */
	uint8_t a[4] = { 100, 200, 100, 200 }, b[4];
	corrupt_copy(RML_CORRUPT_CONTRAST, 2, a, b, 2, 2, 1, 0);
	uint8_t want[4] = { 125, 175, 125, 175 };
	assert_memory_equal(b, want, 4);
	/* Brightness, severity 1 (+0.05 in HSV value): (200,100,50) keeps hue
	 * and saturation, so every channel scales by (200/255+.05)/(200/255):
	 * 212.75, 106.375, 53.19. Grey 100 gains 12.75. Black becomes grey
	 * 12.75; white stays. */
	uint8_t px[12] = { 200, 100, 50, 100, 100, 100, 0, 0, 0, 255, 255, 255 }, q[12];
	corrupt_copy(RML_CORRUPT_BRIGHTNESS, 1, px, q, 1, 4, 3, 0);
	uint8_t bw[12] = { 213, 106, 53, 113, 113, 113, 13, 13, 13, 255, 255, 255 };
	assert_memory_equal(q, bw, 12);
	/* All six hue sectors survive the round trip through HSV at the
	 * largest shift up to the scale factor. */
	uint8_t hues[18] = { 200, 50, 20, 150, 200, 30, 40, 200, 60,
			     30, 90, 200, 100, 20, 200, 200, 30, 120 }, hq[18];
	corrupt_copy(RML_CORRUPT_BRIGHTNESS, 5, hues, hq, 1, 6, 3, 0);
	for (int p = 0; p < 6; p++) {
		int mx = 0;
		for (int k = 0; k < 3; k++)
			mx = hues[p * 3 + k] > mx ? hues[p * 3 + k] : mx;
		double f = (mx / 255.0 + 0.3) / (mx / 255.0);
		if (mx / 255.0 + 0.3 > 1.0)
			f = 255.0 / mx;
		for (int k = 0; k < 3; k++)
			assert_true(fabs(hq[p * 3 + k] - hues[p * 3 + k] * f) <= 0.5 + 1e-9);
	}
	/* Grey images: the value is the pixel. */
	uint8_t g[2] = { 0, 250 }, gq[2];
	corrupt_copy(RML_CORRUPT_BRIGHTNESS, 5, g, gq, 1, 2, 1, 0);
	assert_int_equal(gq[0], 77);
	assert_int_equal(gq[1], 255);
}

static void test_pixelate_against_pillow(void **state)
{
	(void)state;
	char name[64];
	for (int c = 3; c >= 1; c -= 2)
		for (int sev = 1; sev <= 5; sev++) {
			uint8_t src[32 * 32 * 3], dst[32 * 32 * 3];
			int64_t h, w, cc;
			pattern(src, 32, 32, c);
			snprintf(name, sizeof name, "pixelate%d_c%d", sev, c);
			uint8_t *ref = load_ref(name, &h, &w, &cc);
			corrupt_copy(RML_CORRUPT_PIXELATE, sev, src, dst, 32, 32, c, 0);
			assert_memory_equal(dst, ref, (size_t)(32 * 32 * c));
			free(ref);
		}
	uint8_t src[20 * 27 * 3], dst[20 * 27 * 3];
	int64_t h, w, cc;
	pattern(src, 20, 27, 3);
	uint8_t *ref = load_ref("pixelate5_20x27", &h, &w, &cc);
	corrupt_copy(RML_CORRUPT_PIXELATE, 5, src, dst, 20, 27, 3, 0);
	assert_memory_equal(dst, ref, sizeof dst);
	free(ref);
}

static void test_jpeg(void **state)
{
	(void)state;
	rml_error err = { 0 };
	enum { H = 32, W = 32 };
	uint8_t src[H * W * 3], a[H * W * 3];
	for (int c = 3; c >= 1; c -= 2) {
		pattern(src, H, W, c);
		memcpy(a, src, sizeof a);
		assert_int_equal(rml_jpeg_roundtrip(a, H, W, c, 100, &err), RML_OK);
		double d100 = mad(src, a, H * W * c);
		int worst = 0;
		for (int64_t i = 0; i < H * W * c; i++) {
			int d = abs((int)a[i] - (int)src[i]);
			worst = d > worst ? d : worst;
		}
		/* Quality 100 (unit quantisers, no chroma subsampling): only
		 * colour-space and DCT rounding remain. */
		assert_true(d100 < 1.0);
		assert_true(worst <= 8);
		memcpy(a, src, sizeof a);
		assert_int_equal(rml_jpeg_roundtrip(a, H, W, c, 10, &err), RML_OK);
		assert_true(mad(src, a, H * W * c) > 4 * d100 + 2.0);
	}
	/* Odd sizes survive the round trip with their size. */
	uint8_t odd[5 * 3 * 3];
	pattern(odd, 5, 3, 3);
	assert_int_equal(rml_jpeg_roundtrip(odd, 5, 3, 3, 80, &err), RML_OK);
}

static void test_fractal(void **state)
{
	(void)state;
	rml_error err = { 0 };
	rml_rng r;
	rml_rng_seed(&r, 3);
	float a[64 * 64], b[64 * 64];
	assert_int_equal(rml_plasma_fractal(a, 64, 2.0, &r, &err), RML_OK);
	float lo = 1, hi = 0;
	for (int i = 0; i < 64 * 64; i++) {
		lo = a[i] < lo ? a[i] : lo;
		hi = a[i] > hi ? a[i] : hi;
	}
	assert_true(lo == 0.0f && hi == 1.0f);
	rml_rng_seed(&r, 3);
	assert_int_equal(rml_plasma_fractal(b, 64, 2.0, &r, &err), RML_OK);
	assert_memory_equal(a, b, sizeof a);
	/* Smooth: neighbours (on the torus) are far closer than random
	 * pairs, more so with a stronger decay. */
	double near = 0, far = 0;
	for (int y = 0; y < 64; y++)
		for (int x = 0; x < 64; x++) {
			near += fabs(a[y * 64 + x] - a[y * 64 + (x + 1) % 64]);
			far += fabs(a[y * 64 + x] - a[((y + 32) % 64) * 64 + (x + 17) % 64]);
		}
	assert_true(near < 0.5 * far);
	/* The smallest size has one octave. */
	float two[4];
	assert_int_equal(rml_plasma_fractal(two, 2, 3.0, &r, &err), RML_OK);
	for (int i = 0; i < 4; i++)
		assert_true(two[i] >= 0.0f && two[i] <= 1.0f);
}

/* Odd shapes: a single pixel and a thin strip go through every
 * corruption at every severity without harm. */
static void test_small_shapes(void **state)
{
	(void)state;
	uint8_t one[3] = { 10, 120, 250 }, o1[3];
	uint8_t strip[1 * 40], o2[1 * 40];
	pattern(strip, 1, 40, 1);
	for (int k = 0; k < RML_CORRUPT_COUNT; k++)
		for (int sev = 1; sev <= 5; sev++) {
			corrupt_copy((rml_corruption)k, sev, one, o1, 1, 1, 3, 5);
			corrupt_copy((rml_corruption)k, sev, strip, o2, 1, 40, 1, 5);
		}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_rejects),
		cmocka_unit_test(test_severity_monotone),
		cmocka_unit_test(test_determinism),
		cmocka_unit_test(test_parallel),
		cmocka_unit_test(test_noise_statistics),
		cmocka_unit_test(test_poisson),
		cmocka_unit_test(test_blurs),
		cmocka_unit_test(test_photometric_by_hand),
		cmocka_unit_test(test_pixelate_against_pillow),
		cmocka_unit_test(test_jpeg),
		cmocka_unit_test(test_fractal),
		cmocka_unit_test(test_small_shapes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
