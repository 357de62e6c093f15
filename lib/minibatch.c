/*
 * minibatch.c — batch assembly and training augmentation (see
 * minibatch.h). Random choices are drawn in a fixed order per image so
 * a seed reproduces the batch exactly.
 */
#include "minibatch.h"

#include <math.h>
#include <string.h>

#include "augment.h"

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

/* ---- training recipes ------------------------------------------------------ */

int rml_recipe_is_strong(const rml_recipe *r)
{
	return r->autoaugment || r->randaugment_n > 0 || r->cutout > 0 || r->erasing > 0 ||
	       rml_recipe_mixes(r);
}

int rml_recipe_mixes(const rml_recipe *r)
{
	return r->mixup > 0 || r->cutmix > 0;
}

rml_status rml_recipe_check(const rml_recipe *r, rml_error *err)
{
	if (r->crop_pad < 0 || r->crop_pad > 4096)
		return rml_errorf(err, RML_ERR_ARG, "crop padding %d out of range 0..4096", r->crop_pad);
	if (r->autoaugment && r->randaugment_n > 0)
		return rml_errorf(err, RML_ERR_ARG, "AutoAugment and RandAugment exclude each other");
	if (r->randaugment_n < 0 || r->randaugment_n > 16 || r->randaugment_m < 0 ||
	    r->randaugment_m > RML_PA_MAX_MAGNITUDE)
		return rml_errorf(err, RML_ERR_ARG, "RandAugment N %d, M %d out of range 0..16, 0..%d",
				  r->randaugment_n, r->randaugment_m, RML_PA_MAX_MAGNITUDE);
	if (r->cutout < 0 || r->cutout > RML_AUG_MAX_SIDE)
		return rml_errorf(err, RML_ERR_ARG, "cutout size %d out of range", r->cutout);
	if (!(r->erasing >= 0 && r->erasing <= 1))
		return rml_errorf(err, RML_ERR_ARG, "random erasing probability %g outside [0, 1]",
				  r->erasing);
	if (!(r->mixup >= 0) || !isfinite(r->mixup) || !(r->cutmix >= 0) || !isfinite(r->cutmix))
		return rml_errorf(err, RML_ERR_ARG, "mixup and CutMix parameters must be finite and >= 0");
	return RML_OK;
}

size_t rml_batch_recipe_scratch_size(int64_t b, int64_t h, int64_t w, int64_t c)
{
	return b < 1 || rml_aug_check_shape(h, w, c, NULL) != RML_OK
		       ? 0 : (size_t)(2 * b) * (size_t)(h * w * c);
}

/* Image i of the batch: crop, flip, policy, Cutout, erasing, into out
 * (tmp: scratch). */
static rml_status recipe_image(const uint8_t *src, uint8_t *out, uint8_t *tmp, int64_t h,
			       int64_t w, int64_t c, const rml_recipe *r, rml_rng *rng,
			       rml_error *err)
{
	rml_status st = RML_OK;
	size_t n = (size_t)(h * w * c);
	if (r->crop_pad > 0) {
		int top = (int)rml_rng_below(rng, (uint64_t)(2 * r->crop_pad + 1));
		int left = (int)rml_rng_below(rng, (uint64_t)(2 * r->crop_pad + 1));
		st = rml_aug_crop(src, out, h, w, c, r->crop_pad, top, left, err);
	} else {
		memcpy(out, src, n);
	}
	if (st == RML_OK && r->flip && rml_rng_below(rng, 2)) {
		st = rml_aug_hflip(out, tmp, h, w, c, err);
		memcpy(out, tmp, n);
	}
	if (st == RML_OK && r->autoaugment)
		st = rml_autoaugment_cifar10(out, tmp, h, w, c, rng, err);
	if (st == RML_OK && r->randaugment_n > 0)
		st = rml_randaugment(out, tmp, h, w, c, r->randaugment_n, r->randaugment_m, rng, err);
	if (st == RML_OK && r->cutout > 0) {
		int64_t cy = (int64_t)rml_rng_below(rng, (uint64_t)h);
		int64_t cx = (int64_t)rml_rng_below(rng, (uint64_t)w);
		st = rml_aug_cutout(out, h, w, c, r->cutout, cy, cx, 128, err);
	}
	if (st == RML_OK && r->erasing > 0)
		st = rml_aug_random_erasing(out, h, w, c, r->erasing, rng, NULL, err);
	return st;
}

rml_status rml_batch_fill_recipe(float *x, int32_t *y, float *targets, int64_t k,
				 const rml_dataset *d, const int64_t *idx, int64_t b,
				 const rml_recipe *r, uint64_t seed, uint8_t *scratch,
				 int64_t *perm, rml_mix_info *info, rml_error *err)
{
	int64_t h = d->h, w = d->w, c = d->c, n = h * w * c;
	rml_status st = rml_recipe_check(r, err);
	if (st == RML_OK)
		st = rml_aug_check_shape(h, w, c, err);
	if (st != RML_OK)
		return st;
	if (b < 1 || !x || !scratch || !perm || (targets && k < 1))
		return rml_errorf(err, RML_ERR_ARG, "recipe batch: no images, buffers or classes");
	uint8_t *imgs = scratch, *tmps = scratch + b * n;
	int failed = 0;
	/* Each image has its own stream and scratch, so the result does not
	 * depend on how the loop is shared among threads. The operations
	 * fail only on arguments checked above. */
#pragma omp parallel for schedule(static) reduction(| : failed)
	for (int64_t i = 0; i < b; i++) {
		rml_rng rng;
		rml_rng_seed_stream(&rng, seed, (uint64_t)i);
		failed |= recipe_image(d->images + idx[i] * n, imgs + i * n, tmps + i * n, h, w, c, r,
				       &rng, NULL) != RML_OK;
	}
	if (failed)
		return rml_errorf(err, RML_ERR_ARG, "recipe batch: an augmentation failed");
	rml_mix_info mi = { 0, 1.0, { 0, 0, 0, 0 } };
	rml_rng rng;
	rml_rng_seed_stream(&rng, seed, UINT64_MAX);
	for (int64_t i = 0; i < b; i++)
		perm[i] = i;
	if (rml_recipe_mixes(r)) {
		mi.kind = r->mixup > 0 && r->cutmix > 0 ? 1 + (rml_rng_uniform(&rng) >= 0.5)
			  : r->mixup > 0		 ? 1 : 2;
		double a = mi.kind == 1 ? r->mixup : r->cutmix;
		mi.lam = rml_sample_beta(&rng, a, a);
		rml_rng_shuffle(&rng, perm, b);
		if (mi.kind == 2) {
			double cut = sqrt(1.0 - mi.lam);
			int64_t ch = (int64_t)(h * cut), cw = (int64_t)(w * cut);
			int64_t cy = (int64_t)rml_rng_below(&rng, (uint64_t)h);
			int64_t cx = (int64_t)rml_rng_below(&rng, (uint64_t)w);
			int64_t y0 = cy - ch / 2, y1 = cy + ch / 2, x0 = cx - cw / 2, x1 = cx + cw / 2;
			mi.box[0] = y0 < 0 ? 0 : y0;
			mi.box[1] = y1 > h ? h : y1;
			mi.box[2] = x0 < 0 ? 0 : x0;
			mi.box[3] = x1 > w ? w : x1;
			mi.lam = 1.0 - (double)((mi.box[1] - mi.box[0]) * (mi.box[3] - mi.box[2])) /
					       (double)(h * w);
		}
	}
	float lf = (float)mi.lam, rest = (float)(1.0 - mi.lam);
	for (int64_t i = 0; i < b; i++) {
		const uint8_t *u = imgs + i * n, *v = imgs + perm[i] * n;
		float *o = x + i * n;
		if (mi.kind == 1) {
			for (int64_t j = 0; j < n; j++)
				o[j] = lf * (float)u[j] + rest * (float)v[j];
		} else {
			for (int64_t j = 0; j < n; j++)
				o[j] = (float)u[j];
			for (int64_t yy = mi.box[0]; yy < mi.box[1]; yy++)
				for (int64_t j = (yy * w + mi.box[2]) * c; j < (yy * w + mi.box[3]) * c; j++)
					o[j] = (float)v[j];
		}
		if (y)
			y[i] = d->labels[idx[i]];
		if (targets) {
			float *t = targets + i * k;
			for (int64_t j = 0; j < k; j++)
				t[j] = 0.0f;
			/* Added, not set: an image paired with one of its own
			 * class keeps a single 1. */
			t[d->labels[idx[i]]] += mi.kind ? lf : 1.0f;
			if (mi.kind)
				t[d->labels[idx[perm[i]]]] += rest;
		}
	}
	if (info)
		*info = mi;
	return RML_OK;
}
