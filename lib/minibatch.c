/*
 * minibatch.c — batch assembly and training augmentation (see
 * minibatch.h). Random choices are drawn in a fixed order per image so
 * a seed reproduces the batch exactly.
 */
#include "minibatch.h"

void rml_batch_fill(float *x, int32_t *y, const rml_dataset *d, const int64_t *idx, int64_t b,
		    int crop_pad, int flip, rml_rng *rng)
{
	int64_t h = d->h, w = d->w, c = d->c;
	for (int64_t i = 0; i < b; i++) {
		const uint8_t *src = d->images + idx[i] * h * w * c;
		float *dst = x + i * h * w * c;
		int dy = 0, dx = 0, fl = 0;
		if (crop_pad > 0) {
			dy = (int)rml_rng_below(rng, (uint64_t)(2 * crop_pad + 1)) - crop_pad;
			dx = (int)rml_rng_below(rng, (uint64_t)(2 * crop_pad + 1)) - crop_pad;
		}
		if (flip)
			fl = (int)rml_rng_below(rng, 2);
		for (int64_t r = 0; r < h; r++) {
			int64_t sr = r + dy;
			for (int64_t q = 0; q < w; q++) {
				int64_t sq = (fl ? w - 1 - q : q) + dx;
				float *o = dst + (r * w + q) * c;
				if (sr < 0 || sr >= h || sq < 0 || sq >= w) {
					for (int64_t k = 0; k < c; k++)
						o[k] = 0;
				} else {
					const uint8_t *s = src + (sr * w + sq) * c;
					for (int64_t k = 0; k < c; k++)
						o[k] = s[k];
				}
			}
		}
		if (y)
			y[i] = d->labels[idx[i]];
	}
}
