/*
 * minibatch.h — assembling float batches from a uint8 dataset, with the
 * standard CIFAR training augmentation (random crop from a zero-padded
 * image, horizontal flip), drawn from a generator passed in. Not here:
 * normalisation (the model takes pixel units). The stronger training
 * recipes (AutoAugment, RandAugment, Cutout, random erasing, mixup,
 * CutMix with soft labels) are assembled by rml_batch_fill_recipe from the operations of
 * augment.h; other augmentations are written as datasets by rmlops-data
 * augment.
 */
#ifndef RML_MINIBATCH_H
#define RML_MINIBATCH_H

#include <stdint.h>

#include "dataset.h"

/* Fill x [b,h,w,c] with images idx[0..b) of d as floats in pixel units
 * [0,255], and y [b] with their labels (y may be NULL). With crop_pad > 0
 * each image is cropped at a uniformly random offset out of the image
 * padded by crop_pad zero pixels on every side (so shifted by -pad..pad in
 * each direction); with flip it is mirrored left to right with
 * probability 1/2 after the crop (torchvision's RandomCrop(padding) then
 * RandomHorizontalFlip). Per image the draws are: row shift, column
 * shift, flip, each only when enabled, so a seed fixes the batch; rng may
 * be NULL when neither is. Indices must be within d (not checked here:
 * the caller made them). */
void rml_batch_fill(float *x, int32_t *y, const rml_dataset *d, const int64_t *idx, int64_t b,
		    int crop_pad, int flip, rml_rng *rng);

/* ---- training recipes ------------------------------------------------------ */

/* What rml_batch_fill_recipe does to a batch. Per image, in this order:
 * random crop (crop_pad), flip, AutoAugment's CIFAR-10 policy or
 * RandAugment(randaugment_n, randaugment_m), Cutout (a cutout x cutout
 * grey square at a uniform centre), random erasing with probability
 * erasing (rml_aug_random_erasing); then per batch mixup or CutMix (both
 * on: a fair coin per batch picks one). */
typedef struct {
	int crop_pad;        /* 0: no crop */
	int flip;
	int autoaugment;     /* nonzero: the AutoAugment CIFAR-10 policy */
	int randaugment_n;   /* > 0: RandAugment with this many operations */
	int randaugment_m;   /* its magnitude, 0..30 */
	int cutout;          /* side of the Cutout square in pixels; 0: none */
	double erasing;      /* probability of random erasing per image; 0: off */
	double mixup;        /* Beta(a, a) parameter of mixup; 0: off */
	double cutmix;       /* Beta(a, a) parameter of CutMix; 0: off */
} rml_recipe;

/* True when r needs rml_batch_fill_recipe (anything beyond crop and flip). */
int rml_recipe_is_strong(const rml_recipe *r);
/* True when r mixes images, so labels become soft. */
int rml_recipe_mixes(const rml_recipe *r);
/* RML_OK when every field is in range, else RML_ERR_ARG naming it. */
rml_status rml_recipe_check(const rml_recipe *r, rml_error *err);

/* How a batch was mixed (for logs and tests). */
typedef struct {
	int kind;            /* 0 none, 1 mixup, 2 CutMix */
	double lam;          /* weight of each image's own label (1 when none) */
	int64_t box[4];      /* CutMix: rows [box[0], box[1]), columns [box[2], box[3]) */
} rml_mix_info;

/* Bytes of scratch rml_batch_fill_recipe needs for b images of d's shape. */
size_t rml_batch_recipe_scratch_size(int64_t b, int64_t h, int64_t w, int64_t c);

/* Fill x [b,h,w,c] (pixel units), y [b] (each image's own label; may be
 * NULL) and, when targets is not NULL, targets [b,k] (soft labels: one-hot
 * rows mixed as the images were, each row summing to 1) with images
 * idx[0..b) of d under recipe r. Image i draws from stream (seed, i) and
 * the batch's mixing from stream (seed, 2^64-1), so the batch depends on
 * seed, d, idx and r only, not on the thread count (images are augmented
 * in parallel). mixup: lam ~ Beta(a, a), image i becomes lam x_i + (1 -
 * lam) x_perm(i) with perm a uniform permutation of the batch; CutMix
 * (Yun et al., ICCV 2019): lam ~ Beta(a, a), cut sides ch = int(h *
 * sqrt(1 - lam)) and cw likewise, a uniform centre (cy, cx), and the box
 * rows [cy - ch/2, cy + ch/2), columns [cx - cw/2, cx + cw/2) (integer
 * halves, as the paper's code), clipped, is pasted from x_perm(i); lam
 * becomes 1 - box area / image area. Labels of d must be
 * in [0, k). scratch: rml_batch_recipe_scratch_size bytes; perm: b int64
 * of scratch; info may be NULL. */
rml_status rml_batch_fill_recipe(float *x, int32_t *y, float *targets, int64_t k,
				 const rml_dataset *d, const int64_t *idx, int64_t b,
				 const rml_recipe *r, uint64_t seed, uint8_t *scratch,
				 int64_t *perm, rml_mix_info *info, rml_error *err);

#endif
