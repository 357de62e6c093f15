/*
 * test_minibatch.c — batch assembly: a plain batch is an exact copy with
 * its labels; every crop and flip the generator draws is one of the
 * (2*pad+1)^2 * 2 torchvision-style variants, built here independently
 * from an explicitly padded image; all variants occur; a seed fixes the
 * batch and another seed changes it.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain),
		cmocka_unit_test(test_crop_flip_variants),
		cmocka_unit_test(test_seeded),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
