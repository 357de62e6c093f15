/*
 * test_augment.c — the AugMix operations against hand-made images, exact
 * permutations and Pillow's outputs (testdata/ref/augment_pil.txt, from
 * scripts/ref_corrupt.py); the Gamma, Beta and Dirichlet samplers'
 * moments; AugMix and MEMO batches (range, convexity, determinism); the
 * operations AutoAugment and RandAugment add against a numpy reference
 * (testdata/ref/augment_policy.txt, from scripts/ref_policy.py), the
 * magnitude mappings, the CIFAR-10 policy table, the policies' seeding;
 * and every rejected argument.
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

#include "augment.h"

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

/* Reads case `name` of reference file `path` into a malloc'd buffer. */
static uint8_t *load_ref_from(const char *path, const char *name, int64_t *h, int64_t *w,
			      int64_t *c)
{
	FILE *f = fopen(path, "r");
	if (!f)
		fail_msg("cannot open %s (run from the top of the tree)", path);
	char line[512];
	uint8_t *out = NULL;
	while (fgets(line, sizeof line, f)) {
		char nm[128];
		long long hh, ww, cc;
		if (line[0] == '#' || sscanf(line, "%127s %lld %lld %lld", nm, &hh, &ww, &cc) != 4)
			continue;
		size_t n = (size_t)(hh * ww * cc);
		if (strcmp(nm, name) != 0) {
			int ch;
			while ((ch = fgetc(f)) != EOF && ch != '\n')
				;
			continue;
		}
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
		fail_msg("case %s missing from %s", name, path);
	return out;
}

static uint8_t *load_ref(const char *name, int64_t *h, int64_t *w, int64_t *c)
{
	return load_ref_from(REF_PATH, name, h, w, c);
}

/* Largest |a-b|, and the count of positions where a-b is outside [lo,hi]. */
static int64_t count_outside(const uint8_t *a, const uint8_t *b, int64_t n, int lo, int hi)
{
	int64_t bad = 0;
	for (int64_t i = 0; i < n; i++) {
		int d = (int)a[i] - (int)b[i];
		bad += d < lo || d > hi;
	}
	return bad;
}

static void test_names(void **state)
{
	(void)state;
	rml_aug_op op;
	rml_error err = { 0 };
	for (int i = 0; i < RML_AUG_N_OPS; i++) {
		const char *nm = rml_aug_op_name((rml_aug_op)i);
		assert_non_null(nm);
		assert_int_equal(rml_aug_op_parse(nm, &op, &err), RML_OK);
		assert_int_equal(op, i);
	}
	assert_null(rml_aug_op_name(RML_AUG_N_OPS));
	assert_int_equal(rml_aug_op_parse("sharpness", &op, &err), RML_ERR_ARG);
	assert_non_null(strstr(err.msg, "sharpness"));
	assert_string_equal(rml_aug_op_name(RML_AUG_SHEAR_X), "shear_x");
}

/* Point operations on hand-made images with values worked out on paper. */
static void test_point_ops_by_hand(void **state)
{
	(void)state;
	rml_error err = { 0 };
	/* Autocontrast: levels 10..61 stretch by exactly 5. */
	uint8_t a[4] = { 10, 20, 35, 61 }, b[4];
	assert_int_equal(rml_aug_autocontrast(a, b, 2, 2, 1, &err), RML_OK);
	assert_int_equal(b[0], 0);
	assert_int_equal(b[1], 50);
	assert_int_equal(b[2], 125);
	assert_int_equal(b[3], 255);
	/* Per channel: channel 1 is constant and stays; channels 0 and 2
	 * stretch. 200 in [100, 200] lands on 254, not 255, exactly as in
	 * Pillow: 200*2.55 - 100*2.55 is just below 255 in doubles and the
	 * result is truncated. */
	uint8_t rgb[6] = { 10, 7, 100, 61, 7, 200 }, out[6];
	assert_int_equal(rml_aug_autocontrast(rgb, out, 1, 2, 3, &err), RML_OK);
	uint8_t want[6] = { 0, 7, 0, 255, 7, 254 };
	assert_memory_equal(out, want, 6);
	/* In place works for point operations. */
	assert_int_equal(rml_aug_autocontrast(a, a, 2, 2, 1, &err), RML_OK);
	assert_memory_equal(a, b, 4);

	/* Equalize: 1020 pixels, 510 of 50, 255 of 100, 255 of 200: step =
	 * (1020-255)/255 = 3, so 50 -> 1/3 = 0, 100 -> 511/3 = 170,
	 * 200 -> 766/3 = 255. */
	uint8_t *e = malloc(1020), *eo = malloc(1020);
	assert_non_null(e);
	assert_non_null(eo);
	for (int i = 0; i < 1020; i++)
		e[i] = i < 510 ? 50 : i < 765 ? 100 : 200;
	assert_int_equal(rml_aug_equalize(e, eo, 30, 34, 1, &err), RML_OK);
	for (int i = 0; i < 1020; i++)
		assert_int_equal(eo[i], i < 510 ? 0 : i < 765 ? 170 : 255);
	/* Too few pixels for a step: identity. */
	assert_int_equal(rml_aug_equalize(e, eo, 2, 2, 1, &err), RML_OK);
	assert_memory_equal(eo, e, 4);
	free(e);
	free(eo);

	uint8_t p[4] = { 0, 37, 200, 255 }, q[4];
	assert_int_equal(rml_aug_posterize(p, q, 1, 4, 1, 3, &err), RML_OK);
	uint8_t post3[4] = { 0, 32, 192, 224 };
	assert_memory_equal(q, post3, 4);
	assert_int_equal(rml_aug_posterize(p, q, 1, 4, 1, 8, &err), RML_OK);
	assert_memory_equal(q, p, 4);
	assert_int_equal(rml_aug_posterize(p, q, 1, 4, 1, 0, &err), RML_OK);
	for (int i = 0; i < 4; i++)
		assert_int_equal(q[i], 0);
	assert_int_equal(rml_aug_solarize(p, q, 1, 4, 1, 100, &err), RML_OK);
	uint8_t sol[4] = { 0, 37, 55, 0 };
	assert_memory_equal(q, sol, 4);
	assert_int_equal(rml_aug_solarize(p, q, 1, 4, 1, 256, &err), RML_OK);
	assert_memory_equal(q, p, 4);
}

/* Zero-strength geometric operations are the identity, in both fills. */
static void test_identities(void **state)
{
	(void)state;
	rml_error err = { 0 };
	uint8_t src[20 * 27 * 3], dst[20 * 27 * 3];
	pattern(src, 20, 27, 3);
	for (int f = 0; f < 2; f++) {
		rml_aug_fill fill = (rml_aug_fill)f;
		memset(dst, 0, sizeof dst);
		assert_int_equal(rml_aug_rotate(src, dst, 20, 27, 3, 0.0, fill, &err), RML_OK);
		assert_memory_equal(dst, src, sizeof src);
		memset(dst, 0, sizeof dst);
		assert_int_equal(rml_aug_rotate(src, dst, 20, 27, 3, 360.0, fill, &err), RML_OK);
		assert_memory_equal(dst, src, sizeof src);
		memset(dst, 0, sizeof dst);
		assert_int_equal(rml_aug_translate_x(src, dst, 20, 27, 3, 0.0, fill, &err), RML_OK);
		assert_memory_equal(dst, src, sizeof src);
		memset(dst, 0, sizeof dst);
		assert_int_equal(rml_aug_translate_y(src, dst, 20, 27, 3, 0.0, fill, &err), RML_OK);
		assert_memory_equal(dst, src, sizeof src);
		memset(dst, 0, sizeof dst);
		assert_int_equal(rml_aug_shear_x(src, dst, 20, 27, 3, 0.0, fill, &err), RML_OK);
		assert_memory_equal(dst, src, sizeof src);
		memset(dst, 0, sizeof dst);
		assert_int_equal(rml_aug_shear_y(src, dst, 20, 27, 3, 0.0, fill, &err), RML_OK);
		assert_memory_equal(dst, src, sizeof src);
	}
	memset(dst, 0, sizeof dst);
	assert_int_equal(rml_aug_crop(src, dst, 20, 27, 3, 4, 4, 4, &err), RML_OK);
	assert_memory_equal(dst, src, sizeof src);
	/* A whole-pixel translation moves pixels exactly; what enters is fill. */
	assert_int_equal(rml_aug_translate_x(src, dst, 20, 27, 3, 3.0, RML_AUG_FILL_GREY, &err),
			 RML_OK);
	for (int64_t y = 0; y < 20; y++)
		for (int64_t x = 0; x < 27; x++)
			for (int64_t k = 0; k < 3; k++)
				assert_int_equal(dst[(y * 27 + x) * 3 + k],
						 x + 3 < 27 ? src[(y * 27 + x + 3) * 3 + k] : 128);
	assert_int_equal(rml_aug_translate_y(src, dst, 20, 27, 3, -2.0, RML_AUG_FILL_EDGE, &err),
			 RML_OK);
	for (int64_t y = 0; y < 20; y++)
		for (int64_t x = 0; x < 27; x++)
			for (int64_t k = 0; k < 3; k++) {
				int64_t sy = y - 2 < 0 ? 0 : y - 2;
				assert_int_equal(dst[(y * 27 + x) * 3 + k], src[(sy * 27 + x) * 3 + k]);
			}
}

/* Quarter turns and flips against the permutations they must be. */
static void test_permutations(void **state)
{
	(void)state;
	rml_error err = { 0 };
	enum { N = 13, C = 3 };
	uint8_t src[N * N * C], dst[N * N * C];
	pattern(src, N, N, C);
	const double angles[] = { 90, 180, 270, -90, 450 };
	for (int f = 0; f < 2; f++)
		for (size_t a = 0; a < sizeof angles / sizeof angles[0]; a++) {
			assert_int_equal(rml_aug_rotate(src, dst, N, N, C, angles[a], (rml_aug_fill)f,
							&err),
					 RML_OK);
			int turns = (((int)angles[a] / 90) % 4 + 4) % 4;
			for (int y = 0; y < N; y++)
				for (int x = 0; x < N; x++) {
					/* Counter-clockwise: output (x, y) reads ... */
					int sx = x, sy = y;
					for (int t = 0; t < turns; t++) {
						int nx = N - 1 - sy, ny = sx;
						sx = nx;
						sy = ny;
					}
					assert_memory_equal(dst + (y * N + x) * C, src + (sy * N + sx) * C, C);
				}
		}
	/* A 90-degree turn moves the top row to the left column, bottom up. */
	assert_int_equal(rml_aug_rotate(src, dst, N, N, C, 90, RML_AUG_FILL_GREY, &err), RML_OK);
	for (int i = 0; i < N; i++)
		assert_memory_equal(dst + ((N - 1 - i) * N + 0) * C, src + (0 * N + i) * C, C);

	uint8_t r[20 * 27 * 3], r2[20 * 27 * 3], fl[20 * 27 * 3];
	pattern(r, 20, 27, 3);
	assert_int_equal(rml_aug_hflip(r, fl, 20, 27, 3, &err), RML_OK);
	for (int y = 0; y < 20; y++)
		for (int x = 0; x < 27; x++)
			assert_memory_equal(fl + (y * 27 + x) * 3, r + (y * 27 + 26 - x) * 3, 3);
	assert_int_equal(rml_aug_hflip(fl, r2, 20, 27, 3, &err), RML_OK);
	assert_memory_equal(r2, r, sizeof r);
	/* Crop at the corner of the padded image: zeros on top and left. */
	assert_int_equal(rml_aug_crop(r, r2, 20, 27, 3, 4, 0, 1, &err), RML_OK);
	for (int y = 0; y < 20; y++)
		for (int x = 0; x < 27; x++)
			for (int k = 0; k < 3; k++) {
				int sy = y - 4, sx = x - 3;
				int want = sy < 0 || sx < 0 ? 0 : r[(sy * 27 + sx) * 3 + k];
				assert_int_equal(r2[(y * 27 + x) * 3 + k], want);
			}
}

/* Pillow's own outputs: point operations exactly; bilinear maps differ
 * only because Pillow truncates where rmlops rounds (0 or +1). */
static void test_against_pillow(void **state)
{
	(void)state;
	rml_error err = { 0 };
	for (int c = 3; c >= 1; c -= 2) {
		uint8_t src[32 * 32 * 3], dst[32 * 32 * 3];
		int64_t n = 32 * 32 * c, h, w, cc;
		pattern(src, 32, 32, c);
		char name[64];
		struct {
			const char *nm;
			int exact;
		} cases[] = { { "autocontrast", 1 }, { "equalize", 1 },    { "posterize3", 1 },
			      { "solarize100", 1 },  { "rotate17", 0 },    { "rotate-23", 0 },
			      { "shearx0.21", 0 },   { "sheary-0.13", 0 }, { "translatex5", 0 } };
		for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
			snprintf(name, sizeof name, "%s_c%d", cases[i].nm, c);
			uint8_t *ref = load_ref(name, &h, &w, &cc);
			assert_int_equal(h * w * cc, n);
			rml_status st = RML_OK;
			switch (i) {
			case 0: st = rml_aug_autocontrast(src, dst, 32, 32, c, &err); break;
			case 1: st = rml_aug_equalize(src, dst, 32, 32, c, &err); break;
			case 2: st = rml_aug_posterize(src, dst, 32, 32, c, 3, &err); break;
			case 3: st = rml_aug_solarize(src, dst, 32, 32, c, 100, &err); break;
			case 4: st = rml_aug_rotate(src, dst, 32, 32, c, 17, RML_AUG_FILL_GREY, &err); break;
			case 5: st = rml_aug_rotate(src, dst, 32, 32, c, -23, RML_AUG_FILL_GREY, &err); break;
			case 6: st = rml_aug_shear_x(src, dst, 32, 32, c, 0.21, RML_AUG_FILL_GREY, &err); break;
			case 7: st = rml_aug_shear_y(src, dst, 32, 32, c, -0.13, RML_AUG_FILL_GREY, &err); break;
			default: st = rml_aug_translate_x(src, dst, 32, 32, c, 5, RML_AUG_FILL_GREY, &err); break;
			}
			assert_int_equal(st, RML_OK);
			int64_t bad = count_outside(dst, ref, n, 0, cases[i].exact ? 0 : 1);
			if (bad)
				fail_msg("%s: %lld of %lld values differ from Pillow", name, (long long)bad,
					 (long long)n);
			free(ref);
		}
	}
	/* Non-square: rows and columns kept apart, rotation about the centre. */
	uint8_t src[20 * 27 * 3], dst[20 * 27 * 3];
	int64_t h, w, cc;
	pattern(src, 20, 27, 3);
	uint8_t *ref = load_ref("rotate40_20x27", &h, &w, &cc);
	assert_int_equal(rml_aug_rotate(src, dst, 20, 27, 3, 40, RML_AUG_FILL_GREY, &err), RML_OK);
	assert_int_equal(count_outside(dst, ref, 20 * 27 * 3, 0, 1), 0);
	free(ref);
}

/* Every random operation at every severity: succeeds, is reproducible
 * from the seed, and the geometric ones change the image. */
static void test_random_ops(void **state)
{
	(void)state;
	rml_error err = { 0 };
	uint8_t src[32 * 32 * 3], a[32 * 32 * 3], b[32 * 32 * 3];
	pattern(src, 32, 32, 3);
	for (int op = 0; op < RML_AUG_N_OPS; op++)
		for (int sev = 1; sev <= RML_AUG_MAX_SEVERITY; sev++) {
			rml_rng r1, r2;
			rml_rng_seed(&r1, 100 + sev);
			rml_rng_seed(&r2, 100 + sev);
			assert_int_equal(rml_aug_apply((rml_aug_op)op, sev, src, a, 32, 32, 3,
						       RML_AUG_FILL_GREY, &r1, &err),
					 RML_OK);
			assert_int_equal(rml_aug_apply((rml_aug_op)op, sev, src, b, 32, 32, 3,
						       RML_AUG_FILL_GREY, &r2, &err),
					 RML_OK);
			assert_memory_equal(a, b, sizeof a);
		}
	/* At severity 10 a shear or a rotation always moves something
	 * (level >= 0.1 gives at least 0.003 shear; rotation may round to 0
	 * degrees only for level < 1/3, so draw a few). */
	int changed = 0;
	for (int s = 0; s < 8; s++) {
		rml_rng r;
		rml_rng_seed(&r, (uint64_t)s);
		assert_int_equal(rml_aug_apply(RML_AUG_ROTATE, 10, src, a, 32, 32, 3,
					       RML_AUG_FILL_EDGE, &r, &err),
				 RML_OK);
		changed += memcmp(a, src, sizeof a) != 0;
	}
	assert_true(changed >= 6);
}

/* Moments of the samplers over many draws; tolerances are about six
 * standard errors. */
static void test_samplers(void **state)
{
	(void)state;
	rml_rng r;
	rml_rng_seed(&r, 7);
	const int n = 100000;
	const double shapes[] = { 0.3, 1.0, 3.7 };
	for (int s = 0; s < 3; s++) {
		double sum = 0, sq = 0, k = shapes[s];
		for (int i = 0; i < n; i++) {
			double g = rml_sample_gamma(&r, k);
			assert_true(g >= 0.0);
			sum += g;
			sq += g * g;
		}
		double mean = sum / n, var = sq / n - mean * mean;
		/* Gamma(k): mean k, variance k; standard error sqrt(k/n). */
		assert_true(fabs(mean - k) < 6 * sqrt(k / n));
		assert_true(fabs(var - k) < 0.05 * k + 0.02);
	}
	double sum = 0, sq = 0;
	for (int i = 0; i < n; i++) {
		double x = rml_sample_beta(&r, 1.0, 1.0);
		assert_true(x >= 0.0 && x <= 1.0);
		sum += x;
		sq += x * x;
	}
	/* Beta(1,1) is uniform: mean 1/2, variance 1/12. */
	assert_true(fabs(sum / n - 0.5) < 0.006);
	assert_true(fabs(sq / n - (sum / n) * (sum / n) - 1.0 / 12) < 0.003);
	sum = 0;
	for (int i = 0; i < n; i++)
		sum += rml_sample_beta(&r, 2.0, 5.0);
	assert_true(fabs(sum / n - 2.0 / 7.0) < 0.004);

	double acc[3] = { 0, 0, 0 }, p[3];
	for (int i = 0; i < n; i++) {
		assert_int_equal(rml_sample_dirichlet(&r, 1.0, 3, p), 0);
		assert_true(fabs(p[0] + p[1] + p[2] - 1.0) < 1e-12);
		for (int j = 0; j < 3; j++) {
			assert_true(p[j] >= 0.0);
			acc[j] += p[j];
		}
	}
	/* Dirichlet(1,1,1): each mean 1/3, sd sqrt(2/36) = 0.236. */
	for (int j = 0; j < 3; j++)
		assert_true(fabs(acc[j] / n - 1.0 / 3) < 0.005);
	assert_true(isnan(rml_sample_gamma(&r, 0.0)));
	assert_true(isnan(rml_sample_gamma(&r, -1.0)));
	assert_true(isnan(rml_sample_beta(&r, 1.0, 0.0)));
	assert_int_equal(rml_sample_dirichlet(&r, 0.0, 3, p), -1);
	assert_int_equal(rml_sample_dirichlet(&r, 1.0, 0, p), -1);
}

static void test_augmix(void **state)
{
	(void)state;
	rml_error err = { 0 };
	enum { H = 32, W = 32, C = 3, B = 8 };
	uint8_t img[H * W * C];
	pattern(img, H, W, C);
	size_t ss = rml_augmix_scratch_size(H, W, C);
	assert_int_equal(ss, 3 * H * W * C);
	uint8_t *scratch = malloc(ss);
	float *o1 = malloc(sizeof(float) * B * H * W * C), *o2 = malloc(sizeof(float) * B * H * W * C);
	assert_non_null(scratch);
	assert_non_null(o1);
	assert_non_null(o2);
	rml_augmix_opts o;
	rml_augmix_opts_default(&o);
	assert_int_equal(rml_augmix_opts_check(&o, &err), RML_OK);
	assert_int_equal(o.width, 3);
	assert_int_equal(o.severity, 3);

	rml_rng r1, r2;
	rml_rng_seed(&r1, 11);
	rml_rng_seed(&r2, 11);
	assert_int_equal(rml_aug_memo_batch(img, H, W, C, B, &o, &r1, o1, scratch, &err), RML_OK);
	assert_int_equal(rml_aug_memo_batch(img, H, W, C, B, &o, &r2, o2, scratch, &err), RML_OK);
	assert_memory_equal(o1, o2, sizeof(float) * B * H * W * C);
	for (int64_t i = 0; i < B * H * W * C; i++)
		assert_true(o1[i] >= 0.0f && o1[i] <= 255.0f);
	/* The copies differ from each other and from the clean image. */
	for (int b = 0; b < B; b++) {
		double d = 0;
		for (int64_t i = 0; i < H * W * C; i++)
			d += fabs(o1[b * H * W * C + i] - img[i]);
		assert_true(d > 0);
		if (b > 0)
			assert_memory_not_equal(o1 + b * H * W * C, o1, sizeof(float) * H * W * C);
	}
	/* A different seed gives a different batch. */
	rml_rng_seed(&r2, 12);
	assert_int_equal(rml_aug_memo_batch(img, H, W, C, B, &o, &r2, o2, scratch, &err), RML_OK);
	assert_memory_not_equal(o1, o2, sizeof(float) * B * H * W * C);

	/* Without pre-augmentation a batch is rml_augmix called B times. */
	o.crop_pad = 0;
	o.flip = 0;
	rml_rng_seed(&r1, 5);
	rml_rng_seed(&r2, 5);
	assert_int_equal(rml_aug_memo_batch(img, H, W, C, B, &o, &r1, o1, scratch, &err), RML_OK);
	for (int b = 0; b < B; b++)
		assert_int_equal(rml_augmix(img, H, W, C, &o, &r2, o2 + b * H * W * C, scratch, &err),
				 RML_OK);
	assert_memory_equal(o1, o2, sizeof(float) * B * H * W * C);

	/* Mixing is convex: on a mid-grey image every operation gives 127 or
	 * 128 (solarize may flip 128 to 127; geometry fills with 128), so the
	 * mixture stays within [127, 128]. */
	memset(img, 128, sizeof img);
	o.severity = 10;
	rml_rng_seed(&r1, 3);
	assert_int_equal(rml_aug_memo_batch(img, H, W, C, B, &o, &r1, o1, scratch, &err), RML_OK);
	for (int64_t i = 0; i < B * H * W * C; i++)
		assert_true(o1[i] >= 127.0f - 1e-3f && o1[i] <= 128.0f + 1e-3f);

	/* Grey images and a fixed depth work too. */
	uint8_t g[20 * 27];
	pattern(g, 20, 27, 1);
	rml_augmix_opts_default(&o);
	o.depth = 2;
	o.fill = RML_AUG_FILL_EDGE;
	assert_int_equal(rml_aug_memo_batch(g, 20, 27, 1, 2, &o, &r1, o1, scratch, &err), RML_OK);
	for (int64_t i = 0; i < 2 * 20 * 27; i++)
		assert_true(o1[i] >= 0.0f && o1[i] <= 255.0f);
	free(scratch);
	free(o1);
	free(o2);
}

/* Each rejected input has its own check and a message that names it. */
static void test_rejects(void **state)
{
	(void)state;
	rml_error err = { 0 };
	uint8_t a[4 * 4 * 3] = { 0 }, b[4 * 4 * 3];
	rml_rng r;
	rml_rng_seed(&r, 1);
	assert_int_equal(rml_aug_apply(RML_AUG_ROTATE, 0, a, b, 4, 4, 3, RML_AUG_FILL_GREY, &r, &err),
			 RML_ERR_ARG);
	assert_non_null(strstr(err.msg, "severity 0"));
	assert_int_equal(rml_aug_apply(RML_AUG_ROTATE, 11, a, b, 4, 4, 3, RML_AUG_FILL_GREY, &r, &err),
			 RML_ERR_ARG);
	assert_non_null(strstr(err.msg, "severity 11"));
	assert_int_equal(rml_aug_apply(RML_AUG_N_OPS, 3, a, b, 4, 4, 3, RML_AUG_FILL_GREY, &r, &err),
			 RML_ERR_ARG);
	assert_int_equal(rml_aug_apply(RML_AUG_ROTATE, 3, a, b, 4, 4, 3, RML_AUG_FILL_GREY, NULL, &err),
			 RML_ERR_ARG);
	assert_int_equal(rml_aug_autocontrast(a, b, 4, 4, 2, &err), RML_ERR_ARG);
	assert_non_null(strstr(err.msg, "not 2"));
	assert_int_equal(rml_aug_equalize(a, b, 4, 4, 4, &err), RML_ERR_ARG);
	assert_int_equal(rml_aug_hflip(a, b, 0, 4, 3, &err), RML_ERR_ARG);
	assert_non_null(strstr(err.msg, "0x4"));
	assert_int_equal(rml_aug_hflip(a, b, 4, -1, 3, &err), RML_ERR_ARG);
	assert_int_equal(rml_aug_hflip(a, b, 4, RML_AUG_MAX_SIDE + 1, 3, &err), RML_ERR_ARG);
	assert_int_equal(rml_aug_hflip(NULL, b, 4, 4, 3, &err), RML_ERR_ARG);
	assert_int_equal(rml_aug_rotate(a, a, 4, 4, 3, 10, RML_AUG_FILL_GREY, &err), RML_ERR_ARG);
	assert_non_null(strstr(err.msg, "separate"));
	assert_int_equal(rml_aug_rotate(a, b, 4, 4, 3, NAN, RML_AUG_FILL_GREY, &err), RML_ERR_ARG);
	assert_int_equal(rml_aug_rotate(a, b, 4, 4, 3, INFINITY, RML_AUG_FILL_GREY, &err),
			 RML_ERR_ARG);
	assert_int_equal(rml_aug_shear_x(a, b, 4, 4, 3, NAN, RML_AUG_FILL_GREY, &err), RML_ERR_ARG);
	/* Huge but finite coefficients overflow to inf - inf inside; the
	 * result is still an image (all fill, or all edge pixels). */
	const double huge[6] = { 1e308, -1e308, 0, 1e308, 1e308, 0 };
	assert_int_equal(rml_aug_affine(a, b, 4, 4, 3, huge, RML_AUG_FILL_EDGE, &err), RML_OK);
	assert_int_equal(rml_aug_affine(a, b, 4, 4, 3, huge, RML_AUG_FILL_GREY, &err), RML_OK);
	for (int i = 0; i < 4 * 4 * 3; i++)
		assert_int_equal(b[i], 128);
	assert_int_equal(rml_aug_translate_x(a, b, 4, 4, 3, 1, (rml_aug_fill)7, &err), RML_ERR_ARG);
	assert_non_null(strstr(err.msg, "fill"));
	assert_int_equal(rml_aug_posterize(a, b, 4, 4, 3, 9, &err), RML_ERR_ARG);
	assert_int_equal(rml_aug_posterize(a, b, 4, 4, 3, -1, &err), RML_ERR_ARG);
	assert_int_equal(rml_aug_solarize(a, b, 4, 4, 3, 257, &err), RML_ERR_ARG);
	assert_int_equal(rml_aug_crop(a, b, 4, 4, 3, 4, 9, 0, &err), RML_ERR_ARG);
	assert_int_equal(rml_aug_crop(a, b, 4, 4, 3, -1, 0, 0, &err), RML_ERR_ARG);
	assert_int_equal(rml_aug_crop(a, a, 4, 4, 3, 1, 0, 0, &err), RML_ERR_ARG);

	rml_augmix_opts o;
	uint8_t scratch[3 * 4 * 4 * 3];
	float out[4 * 4 * 3];
	rml_augmix_opts_default(&o);
	o.width = 0;
	assert_int_equal(rml_augmix(a, 4, 4, 3, &o, &r, out, scratch, &err), RML_ERR_ARG);
	assert_non_null(strstr(err.msg, "width"));
	rml_augmix_opts_default(&o);
	o.severity = 0;
	assert_int_equal(rml_augmix(a, 4, 4, 3, &o, &r, out, scratch, &err), RML_ERR_ARG);
	rml_augmix_opts_default(&o);
	o.alpha = 0.0;
	assert_int_equal(rml_augmix(a, 4, 4, 3, &o, &r, out, scratch, &err), RML_ERR_ARG);
	assert_non_null(strstr(err.msg, "alpha"));
	rml_augmix_opts_default(&o);
	o.crop_pad = -2;
	assert_int_equal(rml_aug_memo_batch(a, 4, 4, 3, 1, &o, &r, out, scratch, &err), RML_ERR_ARG);
	rml_augmix_opts_default(&o);
	assert_int_equal(rml_aug_memo_batch(a, 4, 4, 3, 0, &o, &r, out, scratch, &err), RML_ERR_ARG);
	assert_int_equal(rml_aug_memo_batch(a, 4, 4, 2, 1, &o, &r, out, scratch, &err), RML_ERR_ARG);
	assert_int_equal(rml_aug_memo_batch(a, 4, 4, 3, 1, &o, &r, out, NULL, &err), RML_ERR_ARG);
	assert_int_equal(rml_augmix_scratch_size(4, 4, 2), 0);
}

/* ---- AutoAugment / RandAugment operations ---------------------------------- */

#define POLICY_REF "testdata/ref/augment_policy.txt"

typedef rml_status (*enhance_fn)(const uint8_t *, uint8_t *, int64_t, int64_t, int64_t, double,
				 rml_error *);

static void check_policy_case(const char *name, const uint8_t *got, int64_t h, int64_t w,
			      int64_t c)
{
	int64_t rh, rw, rc;
	uint8_t *ref = load_ref_from(POLICY_REF, name, &rh, &rw, &rc);
	assert_true(rh == h && rw == w && rc == c);
	/* The same formulas in double: exact. */
	if (memcmp(ref, got, (size_t)(h * w * c)) != 0)
		fail_msg("%s differs from the reference", name);
	free(ref);
}

static void test_policy_ops_reference(void **state)
{
	(void)state;
	static const struct {
		const char *name;
		enhance_fn fn;
	} ops[] = { { "contrast", rml_aug_contrast }, { "color", rml_aug_color },
		    { "brightness", rml_aug_brightness }, { "sharpness", rml_aug_sharpness } };
	static const char *const fs[] = { "0.1", "0.55", "1.9" };
	uint8_t img[13 * 16 * 3], out[13 * 16 * 3];
	char name[64];
	rml_error err;
	for (int c = 3; c >= 1; c -= 2) {
		pattern(img, 13, 16, c);
		assert_int_equal(rml_aug_invert(img, out, 13, 16, c, &err), RML_OK);
		snprintf(name, sizeof name, "invert_c%d", c);
		check_policy_case(name, out, 13, 16, c);
		for (int f = 0; f < 3; f++)
			for (int o = 0; o < 4; o++) {
				assert_int_equal(ops[o].fn(img, out, 13, 16, c, atof(fs[f]), &err), RML_OK);
				snprintf(name, sizeof name, "%s%s_c%d", ops[o].name, fs[f], c);
				check_policy_case(name, out, 13, 16, c);
			}
		memcpy(out, img, sizeof out);
		assert_int_equal(rml_aug_cutout(out, 13, 16, c, 8, 5, 14, 128, &err), RML_OK);
		snprintf(name, sizeof name, "cutout8_5_14_c%d", c);
		check_policy_case(name, out, 13, 16, c);
	}
	uint8_t big[20 * 27 * 3], bo[20 * 27 * 3];
	pattern(big, 20, 27, 3);
	assert_int_equal(rml_aug_sharpness(big, bo, 20, 27, 3, 1.7, &err), RML_OK);
	check_policy_case("sharpness1.7_20x27", bo, 20, 27, 3);
	assert_int_equal(rml_aug_contrast(big, bo, 20, 27, 3, 1.6, &err), RML_OK);
	check_policy_case("contrast1.6_20x27", bo, 20, 27, 3);
	memcpy(bo, big, sizeof bo);
	assert_int_equal(rml_aug_cutout(bo, 20, 27, 3, 7, 19, 0, 128, &err), RML_OK);
	check_policy_case("cutout7_19_0_20x27", bo, 20, 27, 3);
	/* Factor 1 is the identity for every enhancement; in place works. */
	for (int o = 0; o < 4; o++) {
		assert_int_equal(ops[o].fn(big, bo, 20, 27, 3, 1.0, &err), RML_OK);
		assert_memory_equal(big, bo, sizeof bo);
	}
	memcpy(bo, big, sizeof bo);
	assert_int_equal(rml_aug_contrast(bo, bo, 20, 27, 3, 0.4, &err), RML_OK);
	uint8_t want[20 * 27 * 3];
	assert_int_equal(rml_aug_contrast(big, want, 20, 27, 3, 0.4, &err), RML_OK);
	assert_memory_equal(bo, want, sizeof bo);
}

/* The magnitude mappings at their ends, and the policy table. */
static void test_policy_mappings(void **state)
{
	(void)state;
	enum { H = 32, W = 32 };
	uint8_t img[H * W * 3], out[H * W * 3], want[H * W * 3];
	rml_error err;
	pattern(img, H, W, 3);
	/* Posterize: 8 bits at 0, 4 bits at 1. */
	assert_int_equal(rml_pa_apply(RML_PA_POSTERIZE, 1.0, 0, img, out, H, W, 3,
				      RML_AUG_FILL_GREY, &err), RML_OK);
	rml_aug_posterize(img, want, H, W, 3, 4, &err);
	assert_memory_equal(out, want, sizeof out);
	rml_pa_apply(RML_PA_POSTERIZE, 0.0, 0, img, out, H, W, 3, RML_AUG_FILL_GREY, &err);
	assert_memory_equal(out, img, sizeof out);
	/* Solarize: threshold 255 at 0 (only 255 inverts), 0 at 1 (all). */
	rml_pa_apply(RML_PA_SOLARIZE, 1.0, 0, img, out, H, W, 3, RML_AUG_FILL_GREY, &err);
	rml_aug_invert(img, want, H, W, 3, &err);
	assert_memory_equal(out, want, sizeof out);
	rml_pa_apply(RML_PA_SOLARIZE, 2.0 / 9.0, 0, img, out, H, W, 3, RML_AUG_FILL_GREY, &err);
	rml_aug_solarize(img, want, H, W, 3, 199, &err);   /* ceil(255 * 7/9) */
	assert_memory_equal(out, want, sizeof out);
	/* Translate: int(150/331 * 32) = 14 pixels at 1, the sign flips it. */
	rml_pa_apply(RML_PA_TRANSLATE_X, 1.0, 1, img, out, H, W, 3, RML_AUG_FILL_GREY, &err);
	rml_aug_translate_x(img, want, H, W, 3, -14, RML_AUG_FILL_GREY, &err);
	assert_memory_equal(out, want, sizeof out);
	/* Brightness: factor 1 - 0.9 * frac with the sign. */
	rml_pa_apply(RML_PA_BRIGHTNESS, 0.5, 1, img, out, H, W, 3, RML_AUG_FILL_GREY, &err);
	rml_aug_brightness(img, want, H, W, 3, 0.55, &err);
	assert_memory_equal(out, want, sizeof out);
	/* Unsigned operations ignore the sign. */
	rml_pa_apply(RML_PA_EQUALIZE, 0.3, 1, img, out, H, W, 3, RML_AUG_FILL_GREY, &err);
	rml_aug_equalize(img, want, H, W, 3, &err);
	assert_memory_equal(out, want, sizeof out);
	rml_pa_apply(RML_PA_IDENTITY, 1.0, 1, img, out, H, W, 3, RML_AUG_FILL_GREY, &err);
	assert_memory_equal(out, img, sizeof out);
	assert_int_equal(rml_pa_apply(RML_PA_ROTATE, 1.5, 0, img, out, H, W, 3, RML_AUG_FILL_GREY,
				      &err), RML_ERR_ARG);
	assert_int_equal(rml_pa_apply(RML_PA_N_OPS, 0.5, 0, img, out, H, W, 3, RML_AUG_FILL_GREY,
				      &err), RML_ERR_ARG);
	assert_null(rml_pa_op_name(RML_PA_N_OPS));
	assert_string_equal(rml_pa_op_name(RML_PA_SHARPNESS), "sharpness");
	/* The table: 25 sub-policies of two steps, probabilities in [0, 1],
	 * magnitudes 0..9 exactly for the operations that take one; the
	 * first and last as the paper lists them. */
	int with_mag = 0;
	for (int i = 0; i < 25; i++)
		for (int j = 0; j < 2; j++) {
			rml_pa_op op;
			double p;
			int mag;
			assert_int_equal(rml_autoaugment_cifar10_step(i, j, &op, &p, &mag), 0);
			assert_true(p >= 0 && p <= 1);
			int takes = op != RML_PA_AUTOCONTRAST && op != RML_PA_EQUALIZE &&
				    op != RML_PA_INVERT;
			assert_int_equal(takes, mag >= 0);
			assert_true(mag <= 9);
			with_mag += takes;
		}
	assert_int_equal(with_mag, 31);
	rml_pa_op op;
	double p;
	int mag;
	rml_autoaugment_cifar10_step(0, 1, &op, &p, &mag);
	assert_true(op == RML_PA_CONTRAST && p == 0.2 && mag == 6);
	rml_autoaugment_cifar10_step(24, 0, &op, &p, &mag);
	assert_true(op == RML_PA_TRANSLATE_Y && p == 0.7 && mag == 9);
	assert_int_equal(rml_autoaugment_cifar10_step(25, 0, &op, &p, &mag), -1);
	assert_int_equal(rml_autoaugment_cifar10_step(0, 2, &op, &p, &mag), -1);
}

/* Same generator state, same image; the policies change most images; M 0
 * RandAugment leaves photometric operations at factor 1. */
static void test_policy_seeding(void **state)
{
	(void)state;
	enum { H = 32, W = 32, N = 200 };
	uint8_t img[H * W * 3], a[H * W * 3], b[H * W * 3], tmp[H * W * 3];
	rml_error err;
	pattern(img, H, W, 3);
	int changed_aa = 0, changed_ra = 0;
	for (int i = 0; i < N; i++) {
		rml_rng r1, r2;
		rml_rng_seed_stream(&r1, 9, (uint64_t)i);
		rml_rng_seed_stream(&r2, 9, (uint64_t)i);
		memcpy(a, img, sizeof a);
		memcpy(b, img, sizeof b);
		assert_int_equal(rml_autoaugment_cifar10(a, tmp, H, W, 3, &r1, &err), RML_OK);
		assert_int_equal(rml_autoaugment_cifar10(b, tmp, H, W, 3, &r2, &err), RML_OK);
		assert_memory_equal(a, b, sizeof a);
		changed_aa += memcmp(a, img, sizeof a) != 0;
		memcpy(a, img, sizeof a);
		memcpy(b, img, sizeof b);
		assert_int_equal(rml_randaugment(a, tmp, H, W, 3, 2, 9, &r1, &err), RML_OK);
		assert_int_equal(rml_randaugment(b, tmp, H, W, 3, 2, 9, &r2, &err), RML_OK);
		assert_memory_equal(a, b, sizeof a);
		changed_ra += memcmp(a, img, sizeof a) != 0;
	}
	/* AutoAugment applies nothing in about a fifth of the draws (both
	 * steps skipped); RandAugment almost always changes something. */
	assert_true(changed_aa > N / 2 && changed_aa < N);
	assert_true(changed_ra > N * 3 / 4);
	rml_rng r;
	rml_rng_seed(&r, 1);
	assert_int_equal(rml_randaugment(a, tmp, H, W, 3, 0, 9, &r, &err), RML_OK);
	assert_int_equal(rml_randaugment(a, tmp, H, W, 3, 17, 9, &r, &err), RML_ERR_ARG);
	assert_int_equal(rml_randaugment(a, tmp, H, W, 3, 2, 31, &r, &err), RML_ERR_ARG);
	assert_int_equal(rml_randaugment(a, a, H, W, 3, 2, 3, &r, &err), RML_ERR_ARG);
	assert_int_equal(rml_autoaugment_cifar10(a, tmp, H, W, 3, NULL, &err), RML_ERR_ARG);
	assert_int_equal(rml_aug_contrast(img, a, H, W, 3, -0.5, &err), RML_ERR_ARG);
	assert_int_equal(rml_aug_color(img, a, H, W, 3, NAN, &err), RML_ERR_ARG);
	assert_int_equal(rml_aug_sharpness(img, img, H, W, 3, 1.5, &err), RML_ERR_ARG);
	assert_int_equal(rml_aug_cutout(a, H, W, 3, 8, H, 0, 0, &err), RML_ERR_ARG);
	assert_int_equal(rml_aug_cutout(a, H, W, 3, -1, 0, 0, 0, &err), RML_ERR_ARG);
	memcpy(a, img, sizeof a);
	assert_int_equal(rml_aug_cutout(a, H, W, 3, 0, 3, 3, 0, &err), RML_OK);
	assert_memory_equal(a, img, sizeof a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_point_ops_by_hand),
		cmocka_unit_test(test_identities),
		cmocka_unit_test(test_permutations),
		cmocka_unit_test(test_against_pillow),
		cmocka_unit_test(test_random_ops),
		cmocka_unit_test(test_samplers),
		cmocka_unit_test(test_augmix),
		cmocka_unit_test(test_rejects),
		cmocka_unit_test(test_policy_ops_reference),
		cmocka_unit_test(test_policy_mappings),
		cmocka_unit_test(test_policy_seeding),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
