/*
 * test_minibatch.c — batch assembly: a plain batch is an exact copy with
 * its labels; every crop and flip the generator draws is one of the
 * (2*pad+1)^2 * 2 torchvision-style variants, built here independently
 * from an explicitly padded image; all variants occur; a seed fixes the
 * batch and another seed changes it. The training recipes: Cutout blanks
 * one clipped square; mixup and CutMix mix the images and the soft labels
 * with the weight drawn (compared with the same batch unmixed, whose
 * images come from the same per-image streams), rows of soft labels sum
 * to 1, the mixing weight follows Beta(a, a), and the batch depends on the
 * seed only, not on the thread count. Random erasing changes one
 * rectangle inside the image, of the paper's area and aspect ranges,
 * filled with varied levels, in about a fraction p of the images; the
 * batch is seeded and independent of the thread count.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "augment.h"
#include "dataset.h"
#include "minibatch.h"

enum { N = 3, H = 5, W = 6, C = 2, PAD = 4 };

static void make_dataset(rml_dataset *d)
{
	rml_dataset_init(d);
	assert_int_equal(rml_dataset_alloc(d, N, H, W, C, NULL), RML_OK);
	rml_rng r;
	rml_rng_seed(&r, 5);
	/* Values 1..255: no pixel is 0, so padding is told apart. */
	for (int64_t i = 0; i < N * H * W * C; i++)
		d->images[i] = (uint8_t)(1 + rml_rng_below(&r, 255));
	for (int i = 0; i < N; i++)
		d->labels[i] = 7 - i;
}

static void test_plain(void **state)
{
	(void)state;
	rml_dataset d;
	make_dataset(&d);
	int64_t idx[4] = { 2, 0, 2, 1 };
	float x[4 * H * W * C];
	int32_t y[4];
	rml_batch_fill(x, y, &d, idx, 4, 0, 0, NULL);
	for (int b = 0; b < 4; b++) {
		assert_int_equal(y[b], 7 - idx[b]);
		for (int j = 0; j < H * W * C; j++)
			assert_true(x[b * H * W * C + j] == d.images[idx[b] * H * W * C + j]);
	}
	rml_batch_fill(x, NULL, &d, idx, 1, 0, 0, NULL);
	rml_dataset_free(&d);
}

/* Variant v = (oy, ox, fl) of image src: pad by PAD zeros, take the H x W
 * window at (oy, ox), mirror it when fl. */
static void variant(float *out, const uint8_t *src, int oy, int ox, int fl)
{
	static uint8_t padded[(H + 2 * PAD) * (W + 2 * PAD) * C];
	const int pw = W + 2 * PAD;
	memset(padded, 0, sizeof padded);
	for (int r = 0; r < H; r++)
		memcpy(padded + ((r + PAD) * pw + PAD) * C, src + r * W * C, W * C);
	for (int r = 0; r < H; r++)
		for (int q = 0; q < W; q++)
			for (int k = 0; k < C; k++) {
				int cq = fl ? W - 1 - q : q;
				out[(r * W + q) * C + k] = padded[((r + oy) * pw + cq + ox) * C + k];
			}
}

static void test_crop_flip_variants(void **state)
{
	(void)state;
	rml_dataset d;
	make_dataset(&d);
	enum { B = 4000, S = 2 * PAD + 1 };
	int64_t *idx = malloc(B * sizeof *idx);
	float *x = malloc((size_t)B * H * W * C * sizeof *x);
	int32_t *y = malloc(B * sizeof *y);
	for (int b = 0; b < B; b++)
		idx[b] = b % N;
	rml_rng r;
	rml_rng_seed(&r, 9);
	rml_batch_fill(x, y, &d, idx, B, PAD, 1, &r);
	static int seen[S][S][2];
	float v[H * W * C];
	for (int b = 0; b < B; b++) {
		int found = 0;
		for (int oy = 0; oy < S && !found; oy++)
			for (int ox = 0; ox < S && !found; ox++)
				for (int fl = 0; fl < 2 && !found; fl++) {
					variant(v, d.images + idx[b] * H * W * C, oy, ox, fl);
					if (memcmp(v, x + (size_t)b * H * W * C, sizeof v) == 0) {
						seen[oy][ox][fl]++;
						found = 1;
					}
				}
		assert_true(found);
		assert_int_equal(y[b], 7 - idx[b]);
	}
	/* Every one of the 162 variants turns up (about 25 times each). */
	for (int oy = 0; oy < S; oy++)
		for (int ox = 0; ox < S; ox++)
			for (int fl = 0; fl < 2; fl++)
				assert_true(seen[oy][ox][fl] > 5);
	/* Flip alone: each image is itself or its mirror, both occur. */
	rml_rng_seed(&r, 3);
	rml_batch_fill(x, y, &d, idx, 64, 0, 1, &r);
	int mirrored = 0;
	for (int b = 0; b < 64; b++) {
		const uint8_t *src = d.images + idx[b] * H * W * C;
		variant(v, src, PAD, PAD, 1);
		int m = memcmp(v, x + (size_t)b * H * W * C, sizeof v) == 0;
		variant(v, src, PAD, PAD, 0);
		int same = memcmp(v, x + (size_t)b * H * W * C, sizeof v) == 0;
		assert_true(m || same);
		mirrored += m;
	}
	assert_true(mirrored > 10 && mirrored < 54);
	free(idx);
	free(x);
	free(y);
	rml_dataset_free(&d);
}

static void test_seeded(void **state)
{
	(void)state;
	rml_dataset d;
	make_dataset(&d);
	int64_t idx[8] = { 0, 1, 2, 0, 1, 2, 0, 1 };
	float a[8 * H * W * C], b[8 * H * W * C];
	rml_rng r;
	rml_rng_seed_stream(&r, 1, 4);
	rml_batch_fill(a, NULL, &d, idx, 8, PAD, 1, &r);
	rml_rng_seed_stream(&r, 1, 4);
	rml_batch_fill(b, NULL, &d, idx, 8, PAD, 1, &r);
	assert_memory_equal(a, b, sizeof a);
	rml_rng_seed_stream(&r, 1, 5);
	rml_batch_fill(b, NULL, &d, idx, 8, PAD, 1, &r);
	assert_true(memcmp(a, b, sizeof a) != 0);
	rml_dataset_free(&d);
}

/* ---- training recipes ------------------------------------------------------ */

enum { RN = 16, RH = 32, RW = 32, RC = 3, RK = 10, RIMG = RH * RW * RC };

static void make_cifar_like(rml_dataset *d)
{
	rml_dataset_init(d);
	assert_int_equal(rml_dataset_alloc(d, RN, RH, RW, RC, NULL), RML_OK);
	rml_rng r;
	rml_rng_seed(&r, 11);
	for (int64_t i = 0; i < (int64_t)RN * RIMG; i++)
		d->images[i] = (uint8_t)(1 + rml_rng_below(&r, 254));
	for (int i = 0; i < RN; i++)
		d->labels[i] = i % RK;
}

struct rbatch {
	float x[RN * RIMG];
	float t[RN * RK];
	int32_t y[RN];
	int64_t perm[RN];
	rml_mix_info info;
};

static void fill(struct rbatch *b, const rml_dataset *d, const rml_recipe *r, uint64_t seed,
		 int64_t n)
{
	int64_t idx[RN];
	for (int i = 0; i < RN; i++)
		idx[i] = (i * 7 + 3) % RN;
	uint8_t *scratch = malloc(rml_batch_recipe_scratch_size(n, RH, RW, RC));
	rml_error err;
	assert_int_equal(rml_batch_fill_recipe(b->x, b->y, b->t, RK, d, idx, n, r, seed, scratch,
					       b->perm, &b->info, &err), RML_OK);
	free(scratch);
	for (int i = 0; i < n; i++)
		assert_int_equal(b->y[i], d->labels[idx[i]]);
}

static void check_perm(const int64_t *p, int64_t n)
{
	int seen[RN] = { 0 };
	for (int64_t i = 0; i < n; i++) {
		assert_true(p[i] >= 0 && p[i] < n);
		seen[p[i]]++;
	}
	for (int64_t i = 0; i < n; i++)
		assert_int_equal(seen[i], 1);
}

/* Rows sum to 1; each image's own label carries lam, its partner's 1-lam. */
static void check_targets(const struct rbatch *b, int64_t n, double lam)
{
	for (int64_t i = 0; i < n; i++) {
		double sum = 0;
		for (int j = 0; j < RK; j++) {
			assert_true(b->t[i * RK + j] >= 0);
			sum += b->t[i * RK + j];
		}
		assert_true(fabs(sum - 1.0) < 1e-6);
		int own = b->y[i], other = b->y[b->perm[i]];
		if (own == other)
			assert_true(fabs(b->t[i * RK + own] - 1.0) < 1e-6);
		else
			assert_true(fabs(b->t[i * RK + own] - lam) < 1e-6 &&
				    fabs(b->t[i * RK + other] - (1 - lam)) < 1e-6);
	}
}

static void test_recipe_cutout(void **state)
{
	(void)state;
	rml_dataset d;
	make_cifar_like(&d);
	static struct rbatch b;
	rml_recipe r = { .cutout = 16 };
	fill(&b, &d, &r, 5, RN);
	assert_int_equal(b.info.kind, 0);
	int64_t idx_of[RN];
	for (int i = 0; i < RN; i++)
		idx_of[i] = (i * 7 + 3) % RN;
	for (int i = 0; i < RN; i++) {
		const uint8_t *src = d.images + idx_of[i] * RIMG;
		int y0 = RH, y1 = -1, x0 = RW, x1 = -1, changed = 0;
		for (int p = 0; p < RH * RW; p++)
			for (int k = 0; k < RC; k++) {
				float v = b.x[i * RIMG + p * RC + k];
				if (v == src[p * RC + k])
					continue;
				assert_true(v == 128.0f);
				changed++;
				int yy = p / RW, xx = p % RW;
				y0 = yy < y0 ? yy : y0;
				y1 = yy > y1 ? yy : y1;
				x0 = xx < x0 ? xx : x0;
				x1 = xx > x1 ? xx : x1;
			}
		/* At most a 16 x 16 square (clipped), at least one pixel. */
		assert_true(changed > 0);
		assert_true(y1 - y0 < 16 && x1 - x0 < 16);
		/* No soft mixing: one-hot targets. */
		assert_true(b.t[i * RK + b.y[i]] == 1.0f);
	}
	rml_dataset_free(&d);
}

static void test_recipe_mixup(void **state)
{
	(void)state;
	rml_dataset d;
	make_cifar_like(&d);
	static struct rbatch plain, mixed;
	rml_recipe r = { .crop_pad = 4, .flip = 1, .autoaugment = 1, .cutout = 8 };
	fill(&plain, &d, &r, 77, RN);
	r.mixup = 1.0;
	fill(&mixed, &d, &r, 77, RN);
	assert_int_equal(mixed.info.kind, 1);
	double lam = mixed.info.lam;
	assert_true(lam > 0 && lam < 1);
	check_perm(mixed.perm, RN);
	float lf = (float)lam, rest = (float)(1 - lam);
	for (int i = 0; i < RN; i++)
		for (int j = 0; j < RIMG; j++)
			assert_true(mixed.x[i * RIMG + j] ==
				    lf * plain.x[i * RIMG + j] + rest * plain.x[mixed.perm[i] * RIMG + j]);
	check_targets(&mixed, RN, lam);
	rml_dataset_free(&d);
}

static void test_recipe_cutmix(void **state)
{
	(void)state;
	rml_dataset d;
	make_cifar_like(&d);
	static struct rbatch plain, mixed;
	rml_recipe r = { .randaugment_n = 2, .randaugment_m = 9 };
	int boxes = 0;
	for (uint64_t seed = 1; seed <= 20; seed++) {
		r.cutmix = 0;
		fill(&plain, &d, &r, seed, RN);
		r.cutmix = 1.0;
		fill(&mixed, &d, &r, seed, RN);
		assert_int_equal(mixed.info.kind, 2);
		const int64_t *bx = mixed.info.box;
		assert_true(0 <= bx[0] && bx[0] <= bx[1] && bx[1] <= RH);
		assert_true(0 <= bx[2] && bx[2] <= bx[3] && bx[3] <= RW);
		double area = (double)((bx[1] - bx[0]) * (bx[3] - bx[2]));
		assert_true(mixed.info.lam == 1.0 - area / (RH * RW));
		boxes += area > 0;
		check_perm(mixed.perm, RN);
		for (int i = 0; i < RN; i++)
			for (int p = 0; p < RH * RW; p++) {
				int yy = p / RW, xx = p % RW;
				int in = yy >= bx[0] && yy < bx[1] && xx >= bx[2] && xx < bx[3];
				int from = in ? (int)mixed.perm[i] : i;
				for (int k = 0; k < RC; k++)
					assert_true(mixed.x[i * RIMG + p * RC + k] ==
						    plain.x[from * RIMG + p * RC + k]);
			}
		check_targets(&mixed, RN, mixed.info.lam);
	}
	assert_true(boxes > 10);
	rml_dataset_free(&d);
}

/* lam ~ Beta(a, a): mean 1/2 for a = 1 (uniform); a = 0.2 piles up at the
 * ends; with both on, each kind is picked about half the time. */
static void test_recipe_lambda(void **state)
{
	(void)state;
	rml_dataset d;
	make_cifar_like(&d);
	static struct rbatch b;
	rml_recipe r = { .mixup = 1.0 };
	double sum = 0, below = 0;
	enum { T = 400 };
	for (uint64_t s = 0; s < T; s++) {
		fill(&b, &d, &r, s, 2);
		sum += b.info.lam;
		below += b.info.lam < 0.25;
	}
	assert_true(fabs(sum / T - 0.5) < 0.05);
	assert_true(fabs(below / T - 0.25) < 0.07);
	r.mixup = 0.2;
	int ends = 0;
	for (uint64_t s = 0; s < T; s++) {
		fill(&b, &d, &r, s, 2);
		ends += b.info.lam < 0.1 || b.info.lam > 0.9;
	}
	/* P(lam < 0.1 or > 0.9) is about 0.62 for Beta(0.2, 0.2). */
	assert_true(ends > T / 2 && ends < T * 3 / 4);
	r.cutmix = 1.0;
	int kinds[3] = { 0 };
	for (uint64_t s = 0; s < T; s++) {
		fill(&b, &d, &r, s, 2);
		kinds[b.info.kind]++;
	}
	assert_int_equal(kinds[0], 0);
	assert_true(kinds[1] > T / 3 && kinds[2] > T / 3);
	rml_dataset_free(&d);
}

/* Same seed: same batch at 1 and 2 threads; another seed: another batch. */
static void test_recipe_seeded(void **state)
{
	(void)state;
	rml_dataset d;
	make_cifar_like(&d);
	static struct rbatch a, b;
	rml_recipe r = { .crop_pad = 4, .flip = 1, .autoaugment = 1, .cutout = 16, .mixup = 1,
			 .cutmix = 1 };
	rml_set_threads(1);
	fill(&a, &d, &r, 123, RN);
	rml_set_threads(2);
	fill(&b, &d, &r, 123, RN);
	assert_memory_equal(a.x, b.x, sizeof a.x);
	assert_memory_equal(a.t, b.t, sizeof a.t);
	fill(&b, &d, &r, 124, RN);
	assert_true(memcmp(a.x, b.x, sizeof a.x) != 0);
	/* Rejected recipes. */
	rml_error err;
	uint8_t scratch[1];
	int64_t idx[1] = { 0 }, perm[1];
	rml_recipe bad = { .autoaugment = 1, .randaugment_n = 2 };
	assert_int_equal(rml_batch_fill_recipe(a.x, a.y, a.t, RK, &d, idx, 1, &bad, 1, scratch, perm,
					       NULL, &err), RML_ERR_ARG);
	bad = (rml_recipe){ .mixup = -1 };
	assert_int_equal(rml_recipe_check(&bad, &err), RML_ERR_ARG);
	bad = (rml_recipe){ .randaugment_n = 2, .randaugment_m = 31 };
	assert_int_equal(rml_recipe_check(&bad, &err), RML_ERR_ARG);
	bad = (rml_recipe){ .cutmix = NAN };
	assert_int_equal(rml_recipe_check(&bad, &err), RML_ERR_ARG);
	assert_int_equal(rml_batch_recipe_scratch_size(0, 32, 32, 3), 0);
	rml_dataset_free(&d);
}

/* One image at a time: the rectangle is inside the image and within the
 * paper's ranges (sides are rounded, hence the margins), the rest of the
 * image is untouched, the fill varies, and the rate is near p. */
static void test_erasing_image(void **state)
{
	(void)state;
	enum { TRIALS = 4000 };
	static uint8_t src[RIMG], img[RIMG];
	rml_rng r;
	rml_rng_seed(&r, 3);
	for (int j = 0; j < RIMG; j++)
		src[j] = (uint8_t)(j % 7);      /* never above 6: the fill shows */
	int erased = 0, small = 0, large = 0, tall = 0, wide = 0;
	double fill_sum = 0, fill_n = 0;
	for (int t = 0; t < TRIALS; t++) {
		memcpy(img, src, sizeof img);
		int64_t box[4];
		rml_error err;
		assert_int_equal(rml_aug_random_erasing(img, RH, RW, RC, 0.5, &r, box, &err), RML_OK);
		if (box[1] == 0) {
			assert_memory_equal(img, src, sizeof img);
			assert_true(box[0] == 0 && box[2] == 0 && box[3] == 0);
			continue;
		}
		erased++;
		assert_true(box[0] >= 0 && box[0] < box[1] && box[1] <= RH);
		assert_true(box[2] >= 0 && box[2] < box[3] && box[3] <= RW);
		double eh = (double)(box[1] - box[0]), ew = (double)(box[3] - box[2]);
		double frac = eh * ew / (RH * RW), ratio = eh / ew;
		assert_true(frac > 0.01 && frac < 0.40);
		assert_true(ratio > 0.3 / 1.6 && ratio < 3.3 * 1.6);
		small += frac < 0.05;
		large += frac > 0.25;
		tall += ratio > 2.0;
		wide += ratio < 0.5;
		for (int y = 0; y < RH; y++)
			for (int x = 0; x < RW; x++)
				for (int k = 0; k < RC; k++) {
					int j = (y * RW + x) * RC + k;
					if (y < box[0] || y >= box[1] || x < box[2] || x >= box[3]) {
						assert_int_equal(img[j], src[j]);
					} else {
						fill_sum += img[j];
						fill_n++;
					}
				}
	}
	/* Binomial(4000, 0.5): a standard deviation of 0.008. */
	assert_true(fabs((double)erased / TRIALS - 0.5) < 0.03);
	assert_true(small > 0 && large > 0 && tall > 0 && wide > 0);
	/* Uniform levels 0..255 have mean 127.5. */
	assert_true(fabs(fill_sum / fill_n - 127.5) < 2.0);
	/* p 0 and 1, and rejected arguments. */
	rml_error err;
	int64_t box[4];
	memcpy(img, src, sizeof img);
	assert_int_equal(rml_aug_random_erasing(img, RH, RW, RC, 0.0, &r, box, &err), RML_OK);
	assert_memory_equal(img, src, sizeof img);
	int always = 0;
	for (int t = 0; t < 200; t++) {
		assert_int_equal(rml_aug_random_erasing(img, RH, RW, RC, 1.0, &r, box, &err), RML_OK);
		always += box[1] > 0;
	}
	assert_true(always >= 198);
	assert_int_equal(rml_aug_random_erasing(img, RH, RW, RC, 1.5, &r, box, &err), RML_ERR_ARG);
	assert_int_equal(rml_aug_random_erasing(img, RH, RW, RC, NAN, &r, box, &err), RML_ERR_ARG);
	assert_int_equal(rml_aug_random_erasing(img, RH, RW, RC, 0.5, NULL, box, &err), RML_ERR_ARG);
	assert_int_equal(rml_aug_random_erasing(NULL, RH, RW, RC, 0.5, &r, box, &err), RML_ERR_ARG);
	assert_int_equal(rml_aug_random_erasing(img, RH, RW, 2, 0.5, &r, box, &err), RML_ERR_ARG);
}

/* A batch: shapes and labels as without erasing, each image either its
 * source or its source with one rectangle changed; the rate over 64
 * batches near p; seeded, and the same at 1 and 2 threads. */
static void test_recipe_erasing(void **state)
{
	(void)state;
	rml_dataset d;
	make_cifar_like(&d);
	static struct rbatch a, b;
	int64_t idx_of[RN];
	for (int i = 0; i < RN; i++)
		idx_of[i] = (i * 7 + 3) % RN;
	rml_recipe r = { .erasing = 0.5 };
	int erased = 0, images = 0;
	for (uint64_t seed = 1; seed <= 64; seed++) {
		fill(&a, &d, &r, seed, RN);
		assert_int_equal(a.info.kind, 0);
		for (int i = 0; i < RN; i++, images++) {
			const uint8_t *src = d.images + idx_of[i] * RIMG;
			int y0 = RH, y1 = -1, x0 = RW, x1 = -1;
			for (int p = 0; p < RH * RW; p++)
				for (int k = 0; k < RC; k++)
					if (a.x[i * RIMG + p * RC + k] != src[p * RC + k]) {
						int yy = p / RW, xx = p % RW;
						y0 = yy < y0 ? yy : y0;
						y1 = yy > y1 ? yy : y1;
						x0 = xx < x0 ? xx : x0;
						x1 = xx > x1 ? xx : x1;
					}
			assert_true(a.t[i * RK + a.y[i]] == 1.0f);
			if (y1 < 0)
				continue;
			erased++;
			/* The changed pixels span at most the largest box. */
			assert_true((y1 - y0 + 1) * (x1 - x0 + 1) <= 0.40 * RH * RW);
		}
	}
	/* Binomial(1024, 0.5): a standard deviation of 0.016. */
	assert_true(fabs((double)erased / images - 0.5) < 0.07);
	r = (rml_recipe){ .crop_pad = 4, .flip = 1, .erasing = 0.5 };
	rml_set_threads(1);
	fill(&a, &d, &r, 77, RN);
	rml_set_threads(2);
	fill(&b, &d, &r, 77, RN);
	assert_memory_equal(a.x, b.x, sizeof a.x);
	fill(&b, &d, &r, 78, RN);
	assert_true(memcmp(a.x, b.x, sizeof a.x) != 0);
	rml_error err;
	rml_recipe bad = { .erasing = 1.5 };
	assert_int_equal(rml_recipe_check(&bad, &err), RML_ERR_ARG);
	bad = (rml_recipe){ .erasing = NAN };
	assert_int_equal(rml_recipe_check(&bad, &err), RML_ERR_ARG);
	assert_true(rml_recipe_is_strong(&r));
	rml_dataset_free(&d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain),
		cmocka_unit_test(test_crop_flip_variants),
		cmocka_unit_test(test_seeded),
		cmocka_unit_test(test_recipe_cutout),
		cmocka_unit_test(test_recipe_mixup),
		cmocka_unit_test(test_recipe_cutmix),
		cmocka_unit_test(test_recipe_lambda),
		cmocka_unit_test(test_recipe_seeded),
		cmocka_unit_test(test_erasing_image),
		cmocka_unit_test(test_recipe_erasing),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
