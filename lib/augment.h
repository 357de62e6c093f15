/*
 * augment.h — label-preserving image augmentations for test-time
 * adaptation (MEMO) and training: the AugMix operations, the AugMix
 * chain (width 3, random depth, Dirichlet/Beta mixing), MEMO's CIFAR
 * pre-augmentation (random crop with padding, horizontal flip), and the
 * training policies AutoAugment and RandAugment with Cutout and random
 * erasing.
 *
 * Images are uint8 HWC (h, w, c with c = 1 or 3), row-major. Randomness
 * comes only from the rml_rng passed in, so a seed reproduces every copy.
 * Nothing here allocates: callers pass scratch sized by the _scratch_size
 * functions. The operations that overlap the common corruptions
 * (contrast, colour, brightness, sharpness) are deliberately absent from
 * the AugMix list, as in AugMix, so a model adapted with them is not tuned
 * to the test corruptions (corrupt.h); they exist only for the training
 * policies (AutoAugment, RandAugment) at the end of this header.
 *
 * Conventions follow the Pillow operations the AugMix reference uses:
 * affine maps send output pixel centres (x+0.5, y+0.5) to input
 * coordinates; bilinear sampling reads the four nearest pixels with
 * clamped indices. Two deliberate differences: samples are rounded to the
 * nearest level (Pillow truncates, which darkens by half a level on
 * average), and pixels that map outside the image are filled with grey
 * 128 (MEMO's choice; AugMix's Pillow default is black) or, on request,
 * with the nearest edge pixel.
 *
 * Not here: the corruptions used to test robustness (corrupt.h), resizing
 * (dataops.h).
 */
#ifndef RML_AUGMENT_H
#define RML_AUGMENT_H

#include <stddef.h>
#include <stdint.h>

#include "rml.h"

/* The operations. The first RML_AUG_N_AUGMIX are AugMix's list for CIFAR,
 * in its order; flip and crop are MEMO's pre-augmentation. */
typedef enum {
	RML_AUG_AUTOCONTRAST = 0,
	RML_AUG_EQUALIZE,
	RML_AUG_POSTERIZE,
	RML_AUG_ROTATE,
	RML_AUG_SOLARIZE,
	RML_AUG_SHEAR_X,
	RML_AUG_SHEAR_Y,
	RML_AUG_TRANSLATE_X,
	RML_AUG_TRANSLATE_Y,
	RML_AUG_HFLIP,
	RML_AUG_CROP,
	RML_AUG_N_OPS
} rml_aug_op;

#define RML_AUG_N_AUGMIX 9
#define RML_AUG_MAX_SEVERITY 10
/* Largest side accepted (the JPEG and PNG limits are of this order too). */
#define RML_AUG_MAX_SIDE 65535

/* What geometric operations write where the source has no pixel. */
typedef enum {
	RML_AUG_FILL_GREY = 0,   /* 128 in every channel */
	RML_AUG_FILL_EDGE,       /* the nearest edge pixel (clamped coordinates) */
} rml_aug_fill;

/* The operation's name ("autocontrast", "shear_x", "hflip", ...), or NULL
 * for a value out of range. */
const char *rml_aug_op_name(rml_aug_op op);
/* The operation called `name`; RML_ERR_ARG (listing the names) otherwise. */
rml_status rml_aug_op_parse(const char *name, rml_aug_op *op, rml_error *err);

/* RML_OK when h, w are in [1, RML_AUG_MAX_SIDE] and c is 1 or 3;
 * otherwise RML_ERR_ARG with a message naming the bad value. Every
 * function below checks its shape this way. */
rml_status rml_aug_check_shape(int64_t h, int64_t w, int64_t c, rml_error *err);

/* ---- deterministic operations ------------------------------------------
 * Each reads src and writes dst, both [h,w,c]. The point operations
 * (autocontrast, equalize, posterize, solarize) accept dst == src; the
 * geometric ones need distinct, non-overlapping buffers and reject
 * dst == src. */

/* Per channel, stretch [min, max] to [0, 255] (Pillow's autocontrast with
 * no cutoff: level v becomes int(v*255/(max-min) - min*255/(max-min)));
 * a channel with a single level is left alone. */
rml_status rml_aug_autocontrast(const uint8_t *src, uint8_t *dst, int64_t h, int64_t w,
				int64_t c, rml_error *err);

/* Per channel histogram equalisation with Pillow's mapping: step = (pixels
 * minus the count of the highest occupied level) / 255, level i maps to
 * (step/2 + count below i) / step; channels with one level, or too few
 * pixels for a step, are left alone. */
rml_status rml_aug_equalize(const uint8_t *src, uint8_t *dst, int64_t h, int64_t w,
			    int64_t c, rml_error *err);

/* Keep the top `bits` bits of every value (bits in [0, 8]; 8 = identity). */
rml_status rml_aug_posterize(const uint8_t *src, uint8_t *dst, int64_t h, int64_t w,
			     int64_t c, int bits, rml_error *err);

/* Invert every value >= threshold (v -> 255 - v); threshold in [0, 256],
 * 256 = identity, 0 = full inversion. */
rml_status rml_aug_solarize(const uint8_t *src, uint8_t *dst, int64_t h, int64_t w,
			    int64_t c, int threshold, rml_error *err);

/* General affine resampling, Pillow's AFFINE transform: output pixel
 * (x, y) reads input (m[0]*(x+.5) + m[1]*(y+.5) + m[2],
 * m[3]*(x+.5) + m[4]*(y+.5) + m[5]) bilinearly. Coefficients must be
 * finite. */
rml_status rml_aug_affine(const uint8_t *src, uint8_t *dst, int64_t h, int64_t w, int64_t c,
			  const double m[6], rml_aug_fill fill, rml_error *err);

/* Rotate by `degrees` counter-clockwise about the image centre (finite,
 * any magnitude). Multiples of 90 degrees on a square image are exact
 * permutations; 0 is the identity. */
rml_status rml_aug_rotate(const uint8_t *src, uint8_t *dst, int64_t h, int64_t w, int64_t c,
			  double degrees, rml_aug_fill fill, rml_error *err);

/* Shears about the top-left corner, as AugMix does: shear_x reads column
 * x + k*y, shear_y reads row y + k*x (k finite). */
rml_status rml_aug_shear_x(const uint8_t *src, uint8_t *dst, int64_t h, int64_t w, int64_t c,
			   double k, rml_aug_fill fill, rml_error *err);
rml_status rml_aug_shear_y(const uint8_t *src, uint8_t *dst, int64_t h, int64_t w, int64_t c,
			   double k, rml_aug_fill fill, rml_error *err);

/* Translations: output pixel (x, y) reads (x + dx, y) or (x, y + dy), so
 * the content moves by -dx / -dy (finite, pixels). */
rml_status rml_aug_translate_x(const uint8_t *src, uint8_t *dst, int64_t h, int64_t w,
			       int64_t c, double dx, rml_aug_fill fill, rml_error *err);
rml_status rml_aug_translate_y(const uint8_t *src, uint8_t *dst, int64_t h, int64_t w,
			       int64_t c, double dy, rml_aug_fill fill, rml_error *err);

/* Mirror left-right. */
rml_status rml_aug_hflip(const uint8_t *src, uint8_t *dst, int64_t h, int64_t w, int64_t c,
			 rml_error *err);

/* An h x w window at (top, left) of the image zero-padded by `pad` on
 * every side (torchvision's RandomCrop with padding): pad in [0, 4096],
 * top and left in [0, 2*pad]. */
rml_status rml_aug_crop(const uint8_t *src, uint8_t *dst, int64_t h, int64_t w, int64_t c,
			int pad, int top, int left, rml_error *err);

/* ---- random operations -------------------------------------------------- */

/* Apply `op` at AugMix severity `severity` (1..10): a level is drawn
 * uniformly from [0.1, severity) and scaled as AugMix does (posterize to
 * 4 - int(level*4/10) bits, solarize threshold 256 - int(level*256/10),
 * rotate int(level*30/10) degrees, shear level*0.3/10, translate
 * int(level*(side/3)/10) pixels), then a fair coin picks the sign of
 * rotations, shears and translations. hflip flips with probability 1/2;
 * crop uses padding 4 at a uniform position; autocontrast and equalize
 * draw nothing. Same buffer rules as above. */
rml_status rml_aug_apply(rml_aug_op op, int severity, const uint8_t *src, uint8_t *dst,
			 int64_t h, int64_t w, int64_t c, rml_aug_fill fill, rml_rng *rng,
			 rml_error *err);

/* ---- samplers ------------------------------------------------------------ */

/* Gamma(shape, 1) by Marsaglia and Tsang's squeeze method ("A simple
 * method for generating gamma variables", 2000), with the u^(1/shape)
 * boost for shape < 1. shape must be finite and > 0 (else NaN). */
double rml_sample_gamma(rml_rng *rng, double shape);
/* Beta(a, b) as X/(X+Y) of two gammas; a, b > 0 (else NaN). */
double rml_sample_beta(rml_rng *rng, double a, double b);
/* Dirichlet(alpha, ..., alpha) over k >= 1 components into p[0..k):
 * normalised gammas; alpha > 0. Returns 0, or -1 on bad arguments (p
 * untouched). */
int rml_sample_dirichlet(rml_rng *rng, double alpha, int k, double *p);

/* ---- the AugMix chain and MEMO batches ---------------------------------- */

typedef struct {
	int width;        /* chains mixed (AugMix: 3), 1..16 */
	int depth;        /* operations per chain; <= 0: uniform in 1..3 (AugMix: -1) */
	int severity;     /* 1..10 (AugMix: 3) */
	double alpha;     /* Dirichlet and Beta parameter (AugMix: 1), > 0 */
	rml_aug_fill fill;
	int crop_pad;     /* MEMO pre-augmentation: random crop with this padding
			     before mixing (CIFAR: 4); 0 = none */
	int flip;         /* nonzero: random horizontal flip before mixing */
} rml_augmix_opts;

/* AugMix for CIFAR with MEMO's pre-augmentation: width 3, random depth,
 * severity 3, alpha 1, grey fill, crop padding 4, flip. */
void rml_augmix_opts_default(rml_augmix_opts *o);
/* RML_OK if every field is in range, else RML_ERR_ARG naming it. */
rml_status rml_augmix_opts_check(const rml_augmix_opts *o, rml_error *err);

/* Bytes of scratch rml_augmix and rml_aug_memo_batch need for one
 * [h,w,c] image (3*h*w*c), or 0 when the shape is invalid. */
size_t rml_augmix_scratch_size(int64_t h, int64_t w, int64_t c);

/* One AugMix image as floats in pixel units [0, 255] into out [h,w,c]:
 * mixing weights ws ~ Dirichlet(alpha) over `width` chains and m ~
 * Beta(alpha, alpha) are drawn first, then each chain (depth ops chosen
 * uniformly among the nine) runs on a copy of img; out = (1-m)*img +
 * m * sum_i ws_i chain_i(img). o->crop_pad and o->flip are ignored here
 * (see rml_aug_memo_batch). scratch: rml_augmix_scratch_size bytes. */
rml_status rml_augmix(const uint8_t *img, int64_t h, int64_t w, int64_t c,
		      const rml_augmix_opts *o, rml_rng *rng, float *out, uint8_t *scratch,
		      rml_error *err);

/* The entry for test-time adaptation: n_aug independently augmented
 * copies of one image into out [n_aug,h,w,c] floats in [0, 255]. Each
 * copy is the pre-augmentation (crop with o->crop_pad when > 0, then a
 * random flip when o->flip) followed by rml_augmix, all drawn from rng in
 * copy order, so the result depends only on the image, options and the
 * generator state. n_aug >= 1; scratch as for rml_augmix. */
rml_status rml_aug_memo_batch(const uint8_t *img, int64_t h, int64_t w, int64_t c,
			      int64_t n_aug, const rml_augmix_opts *o, rml_rng *rng, float *out,
			      uint8_t *scratch, rml_error *err);

/* ---- training policies: AutoAugment, RandAugment, Cutout ----------------
 * The operations the AutoAugment search space adds to the AugMix list
 * (Cubuk et al., "AutoAugment: Learning Augmentation Strategies from
 * Data", CVPR 2019), with Pillow's ImageEnhance definitions: each blends
 * the image with a degenerate one, out = deg + factor * (img - deg),
 * rounded to the nearest level and clamped to [0, 255]. Grey levels are
 * Pillow's luma L = (19595 R + 38470 G + 7471 B + 2^15) >> 16. All are
 * point or neighbourhood operations and accept any distinct or equal
 * buffers except sharpness (distinct). factor must be finite and >= 0. */

/* v -> 255 - v. */
rml_status rml_aug_invert(const uint8_t *src, uint8_t *dst, int64_t h, int64_t w, int64_t c,
			  rml_error *err);
/* Degenerate: a uniform grey image at the rounded mean luma (the mean of
 * the single channel when c = 1). */
rml_status rml_aug_contrast(const uint8_t *src, uint8_t *dst, int64_t h, int64_t w, int64_t c,
			    double factor, rml_error *err);
/* Degenerate: the image's own luma in every channel (identity when c = 1). */
rml_status rml_aug_color(const uint8_t *src, uint8_t *dst, int64_t h, int64_t w, int64_t c,
			 double factor, rml_error *err);
/* Degenerate: black. */
rml_status rml_aug_brightness(const uint8_t *src, uint8_t *dst, int64_t h, int64_t w,
			      int64_t c, double factor, rml_error *err);
/* Degenerate: Pillow's SMOOTH filter (3x3 kernel 1 1 1 / 1 5 1 / 1 1 1,
 * divided by 13, rounded), with the one-pixel border left as it is. */
rml_status rml_aug_sharpness(const uint8_t *src, uint8_t *dst, int64_t h, int64_t w,
			     int64_t c, double factor, rml_error *err);
/* Cutout (DeVries and Taylor, "Improved Regularization of Convolutional
 * Neural Networks with Cutout", 2017): fill the size x size square
 * centred on (cy, cx), clipped to the image, with `value` in every
 * channel; in place. size >= 0 (0 = nothing); the centre may be anywhere
 * in the image. */
rml_status rml_aug_cutout(uint8_t *img, int64_t h, int64_t w, int64_t c, int size, int64_t cy,
			  int64_t cx, uint8_t value, rml_error *err);

/* The operations of the two policies, in RandAugment's list order
 * (torchvision's, Cubuk et al. 2020), then the one only AutoAugment uses. */
typedef enum {
	RML_PA_IDENTITY = 0,
	RML_PA_SHEAR_X,
	RML_PA_SHEAR_Y,
	RML_PA_TRANSLATE_X,
	RML_PA_TRANSLATE_Y,
	RML_PA_ROTATE,
	RML_PA_BRIGHTNESS,
	RML_PA_COLOR,
	RML_PA_CONTRAST,
	RML_PA_SHARPNESS,
	RML_PA_POSTERIZE,
	RML_PA_SOLARIZE,
	RML_PA_AUTOCONTRAST,
	RML_PA_EQUALIZE,
	RML_PA_INVERT,
	RML_PA_N_OPS
} rml_pa_op;

#define RML_PA_N_RANDAUGMENT 14   /* all but invert */
#define RML_PA_MAX_MAGNITUDE 30   /* RandAugment's scale is 0..30 */

/* The operation's name ("shear_x", "brightness", ...), or NULL. */
const char *rml_pa_op_name(rml_pa_op op);

/* Apply op at magnitude fraction frac in [0, 1] (the magnitude bin over
 * the number of bins minus one), with the sign `negative` for the signed
 * operations. The ranges are AutoAugment's (its Table of operations):
 * shear 0.3*frac; translate int(frac * 150/331 * side) pixels (150 of 331
 * pixels scaled to the image side); rotate 30*frac degrees; brightness,
 * colour, contrast, sharpness factor 1 +- 0.9*frac; posterize to 8 -
 * round(4*frac) bits; solarize at threshold ceil(255*(1 - frac)); the
 * other operations ignore frac. Geometric operations fill with `fill`.
 * src and dst must be distinct. */
rml_status rml_pa_apply(rml_pa_op op, double frac, int negative, const uint8_t *src,
			uint8_t *dst, int64_t h, int64_t w, int64_t c, rml_aug_fill fill,
			rml_error *err);

/* AutoAugment's CIFAR-10 policy: 25 sub-policies of two (operation,
 * probability, magnitude 0..9) steps each (Cubuk et al. 2019, appendix).
 * Draws: the sub-policy (uniform), then for each step a uniform number
 * against its probability and, for signed operations applied, a fair
 * coin for the sign. img is augmented in place; tmp is an image of
 * scratch. */
rml_status rml_autoaugment_cifar10(uint8_t *img, uint8_t *tmp, int64_t h, int64_t w,
				   int64_t c, rml_rng *rng, rml_error *err);
/* Sub-policy i (0..24), step j (0, 1): operation, probability, magnitude
 * (-1 where the operation takes none). Returns -1 out of range. */
int rml_autoaugment_cifar10_step(int i, int j, rml_pa_op *op, double *p, int *magnitude);

/* RandAugment (Cubuk et al., "RandAugment: Practical automated data
 * augmentation with a reduced search space", 2020): n operations drawn
 * uniformly with replacement from the first RML_PA_N_RANDAUGMENT, each
 * applied at magnitude m of 0..RML_PA_MAX_MAGNITUDE (frac = m/30), signed
 * ones with a fair coin. n in 0..16. In place, tmp as above. */
rml_status rml_randaugment(uint8_t *img, uint8_t *tmp, int64_t h, int64_t w, int64_t c, int n,
			   int m, rml_rng *rng, rml_error *err);

/* Random erasing (Zhong et al., "Random Erasing Data Augmentation", AAAI
 * 2020), with the ranges its CIFAR experiments use: with probability p a
 * rectangle of area fraction uniform in [RML_ERASE_AREA_MIN,
 * RML_ERASE_AREA_MAX] and aspect ratio (height over width) log-uniform in
 * [RML_ERASE_RATIO_MIN, RML_ERASE_RATIO_MAX], sides rounded to whole
 * pixels, at a uniform position wholly inside the image, is filled with
 * independent uniform levels 0..255 per pixel and channel (the paper's
 * random fill, its best on CIFAR-10); in place. Up to 10 draws of area
 * and ratio are tried (torchvision's bound) for a rectangle smaller than
 * the image on both sides; when none fits the image is left as it is.
 * Draws, in order: one uniform against p; per attempt the area, the
 * ratio and, once it fits, the row, the column and the fill in row-major
 * order. box, when not NULL, receives rows [box[0], box[1]) and columns
 * [box[2], box[3]) of the rectangle, or four zeros when nothing was
 * erased. p in [0, 1]. */
#define RML_ERASE_AREA_MIN 0.02
#define RML_ERASE_AREA_MAX 0.33
#define RML_ERASE_RATIO_MIN 0.3
#define RML_ERASE_RATIO_MAX 3.3
rml_status rml_aug_random_erasing(uint8_t *img, int64_t h, int64_t w, int64_t c, double p,
				  rml_rng *rng, int64_t box[4], rml_error *err);

#endif
