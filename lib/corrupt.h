/*
 * corrupt.h — common image corruptions at severities 1..5 with the
 * CIFAR-10-C parameters (Hendrycks and Dietterich, "Benchmarking Neural
 * Network Robustness to Common Corruptions and Perturbations", ICLR 2019),
 * for measuring robustness and for `rmlops-data corrupt`.
 *
 * Images are uint8 HWC (c = 1 or 3), corrupted in place. The parameter
 * tables are the ones the benchmark used for 32x32 images; other sizes get
 * the same parameters (fog's fractal and pixelate's factor scale with the
 * image; blur radii and noise levels do not). Results are rounded to the
 * nearest level (the benchmark truncated its floats to uint8, which
 * darkens by half a level on average). Randomness comes only from the
 * rml_rng passed in.
 *
 * Not here: augmentations for training or adaptation (augment.h), which
 * deliberately avoid these operations.
 */
#ifndef RML_CORRUPT_H
#define RML_CORRUPT_H

#include <stddef.h>
#include <stdint.h>

#include "rml.h"

typedef enum {
	RML_CORRUPT_GAUSSIAN_NOISE = 0, /* + N(0, s^2), s = .04 .06 .08 .09 .10 of full range */
	RML_CORRUPT_SHOT_NOISE,         /* Poisson(x*k)/k, k = 500 250 100 75 50 */
	RML_CORRUPT_IMPULSE_NOISE,      /* salt and pepper, share .01 .02 .03 .05 .07 */
	RML_CORRUPT_DEFOCUS_BLUR,       /* disk radius .3 .4 .5 1 1.5, Gaussian .4 .5 .6 .2 .1 */
	RML_CORRUPT_MOTION_BLUR,        /* one-sided line, radius 6 6 6 8 9, sigma 1 1.5 2 2 2.5
					   (3 and 4 blur alike: radius beyond 3 sigma adds nothing) */
	RML_CORRUPT_CONTRAST,           /* toward the channel mean, factor .75 .5 .4 .3 .15 */
	RML_CORRUPT_BRIGHTNESS,         /* HSV value + .05 .1 .15 .2 .3 */
	RML_CORRUPT_FOG,                /* plasma fractal haze (.2,3) (.5,3) (.75,2.5) (1,2) (1.5,1.75) */
	RML_CORRUPT_PIXELATE,           /* box down to .95 .9 .85 .75 .65 of the size, back up */
	RML_CORRUPT_JPEG,               /* JPEG at quality 80 65 58 50 40 */
	RML_CORRUPT_COUNT
} rml_corruption;

#define RML_CORRUPT_MAX_SEVERITY 5

/* The corruption's name ("gaussian_noise", ..., "jpeg_compression"), or
 * NULL for a value out of range. */
const char *rml_corruption_name(rml_corruption kind);
/* The corruption called `name`; RML_ERR_ARG listing the names otherwise. */
rml_status rml_corruption_parse(const char *name, rml_corruption *kind, rml_error *err);

/* Floats of scratch rml_corrupt_apply needs for an [h,w,c] image (any
 * corruption), or 0 for an invalid shape (see rml_aug_check_shape). */
size_t rml_corrupt_scratch_size(int64_t h, int64_t w, int64_t c);

/* Corrupt img [h,w,c] in place at severity 1..5. Draws from rng only for
 * the random corruptions (noises, motion blur's angle in [-45, 45)
 * degrees, fog's fractal); the others are deterministic. scratch holds
 * rml_corrupt_scratch_size floats. Everything except JPEG runs without
 * allocating; JPEG needs the encoder's output buffer and stb_image's
 * decoder, which allocate. Errors: RML_ERR_ARG for a bad kind, severity
 * or shape (nothing changed), RML_ERR_NOMEM, RML_ERR_FORMAT if the JPEG
 * round trip fails. */
rml_status rml_corrupt_apply(rml_corruption kind, int severity, uint8_t *img, int64_t h,
			     int64_t w, int64_t c, rml_rng *rng, float *scratch, rml_error *err);

/* Corrupt n images [n,h,w,c] in place with OpenMP; image i draws from
 * rml_rng_seed_stream(seed, i), so the result is the same for every
 * thread count and equals calling rml_corrupt_apply on each image in
 * turn. On error the message is that of the lowest failing index; the
 * images may then be partly corrupted. */
rml_status rml_corrupt_images(rml_corruption kind, int severity, uint8_t *images, int64_t n,
			      int64_t h, int64_t w, int64_t c, uint64_t seed, rml_error *err);

/* The pieces, exposed for tests and for other modules. */

/* One Poisson(lambda) variate, lambda >= 0 and finite (else -1):
 * multiplication of uniforms below 10, Hörmann's transformed rejection
 * (PTRS, 1993) above. */
int64_t rml_sample_poisson(rml_rng *rng, double lambda);

/* Diamond-square plasma fractal on a periodic size x size grid (size a
 * power of two >= 2), normalised to [0, 1], into map[size*size]; decay is
 * the per-octave damping as in the benchmark (whose noise amplitude is
 * the square of its wibble, so each octave is damped by decay^2). Returns
 * RML_ERR_ARG for a bad size or decay <= 0. */
rml_status rml_plasma_fractal(float *map, int64_t size, double decay, rml_rng *rng,
			      rml_error *err);

/* JPEG-encode img at quality 1..100 (stb_image_write, 4:2:0 chroma below
 * quality 91 as libjpeg's default) and decode it back in place. */
rml_status rml_jpeg_roundtrip(uint8_t *img, int64_t h, int64_t w, int64_t c, int quality,
			      rml_error *err);

#endif
