/*
 * augment.c — AugMix operations, the AugMix chain and MEMO batches, and
 * the training policies (AutoAugment, RandAugment, Cutout; see
 * augment.h). Point operations go through a 256-entry table per channel;
 * geometric ones through one affine sampler, so rotate, shear and
 * translate share their border and rounding rules.
 */
#include "augment.h"

#include <math.h>
#include <string.h>

static const char *const op_names[RML_AUG_N_OPS] = {
	"autocontrast", "equalize", "posterize", "rotate", "solarize", "shear_x",
	"shear_y", "translate_x", "translate_y", "hflip", "crop",
};

const char *rml_aug_op_name(rml_aug_op op)
{
	if ((int)op < 0 || op >= RML_AUG_N_OPS)
		return NULL;
	return op_names[op];
}

rml_status rml_aug_op_parse(const char *name, rml_aug_op *op, rml_error *err)
{
	for (int i = 0; name && i < RML_AUG_N_OPS; i++)
		if (strcmp(name, op_names[i]) == 0) {
			*op = (rml_aug_op)i;
			return RML_OK;
		}
	return rml_errorf(err, RML_ERR_ARG,
			  "unknown augmentation '%s' (known: autocontrast, equalize, posterize, "
			  "rotate, solarize, shear_x, shear_y, translate_x, translate_y, hflip, crop)",
			  name ? name : "(null)");
}

rml_status rml_aug_check_shape(int64_t h, int64_t w, int64_t c, rml_error *err)
{
	if (h < 1 || h > RML_AUG_MAX_SIDE || w < 1 || w > RML_AUG_MAX_SIDE)
		return rml_errorf(err, RML_ERR_ARG,
				  "image size %lldx%lld out of range (sides 1..%d)", (long long)h,
				  (long long)w, RML_AUG_MAX_SIDE);
	if (c != 1 && c != 3)
		return rml_errorf(err, RML_ERR_ARG,
				  "images must have 1 or 3 channels, not %lld", (long long)c);
	return RML_OK;
}

static rml_status check_io(const uint8_t *src, const uint8_t *dst, int64_t h, int64_t w,
			   int64_t c, int geometric, rml_error *err)
{
	rml_status st = rml_aug_check_shape(h, w, c, err);
	if (st != RML_OK)
		return st;
	if (!src || !dst)
		return rml_errorf(err, RML_ERR_ARG, "image buffer is NULL");
	if (geometric && src == dst)
		return rml_errorf(err, RML_ERR_ARG,
				  "geometric augmentations need separate source and destination");
	return RML_OK;
}

static inline uint8_t round_u8(double v)
{
	if (!(v > 0.0))
		return 0;
	if (v >= 255.0)
		return 255;
	return (uint8_t)(v + 0.5);
}

/* ---- point operations --------------------------------------------------- */

static void apply_luts(const uint8_t *src, uint8_t *dst, int64_t npix, int64_t c,
		       const uint8_t lut[3][256])
{
	for (int64_t i = 0; i < npix; i++)
		for (int64_t k = 0; k < c; k++)
			dst[i * c + k] = lut[k][src[i * c + k]];
}

static void histograms(const uint8_t *src, int64_t npix, int64_t c, int64_t hist[3][256])
{
	memset(hist, 0, sizeof(int64_t) * 3 * 256);
	for (int64_t i = 0; i < npix; i++)
		for (int64_t k = 0; k < c; k++)
			hist[k][src[i * c + k]]++;
}

rml_status rml_aug_autocontrast(const uint8_t *src, uint8_t *dst, int64_t h, int64_t w,
				int64_t c, rml_error *err)
{
	rml_status st = check_io(src, dst, h, w, c, 0, err);
	if (st != RML_OK)
		return st;
	int64_t hist[3][256];
	uint8_t lut[3][256];
	histograms(src, h * w, c, hist);
	for (int64_t k = 0; k < c; k++) {
		int lo = 0, hi = 255;
		while (lo < 255 && !hist[k][lo])
			lo++;
		while (hi > 0 && !hist[k][hi])
			hi--;
		if (hi <= lo) {
			for (int v = 0; v < 256; v++)
				lut[k][v] = (uint8_t)v;
			continue;
		}
		/* Same double arithmetic and truncation as Pillow, so the top
		 * level can land on 254 exactly where Pillow's does. */
		double scale = 255.0 / (hi - lo), offset = -lo * scale;
		for (int v = 0; v < 256; v++) {
			double t = v * scale + offset;
			int iv = (int)t;
			lut[k][v] = (uint8_t)(iv < 0 ? 0 : iv > 255 ? 255 : iv);
		}
	}
	apply_luts(src, dst, h * w, c, (const uint8_t(*)[256])lut);
	return RML_OK;
}

rml_status rml_aug_equalize(const uint8_t *src, uint8_t *dst, int64_t h, int64_t w,
			    int64_t c, rml_error *err)
{
	rml_status st = check_io(src, dst, h, w, c, 0, err);
	if (st != RML_OK)
		return st;
	int64_t hist[3][256];
	uint8_t lut[3][256];
	histograms(src, h * w, c, hist);
	for (int64_t k = 0; k < c; k++) {
		int64_t total = 0, last = 0, occupied = 0;
		for (int v = 0; v < 256; v++)
			if (hist[k][v]) {
				total += hist[k][v];
				last = hist[k][v];
				occupied++;
			}
		int64_t step = occupied > 1 ? (total - last) / 255 : 0;
		if (step == 0) {
			for (int v = 0; v < 256; v++)
				lut[k][v] = (uint8_t)v;
			continue;
		}
		int64_t n = step / 2;
		for (int v = 0; v < 256; v++) {
			int64_t q = n / step;
			lut[k][v] = (uint8_t)(q > 255 ? 255 : q);
			n += hist[k][v];
		}
	}
	apply_luts(src, dst, h * w, c, (const uint8_t(*)[256])lut);
	return RML_OK;
}

rml_status rml_aug_posterize(const uint8_t *src, uint8_t *dst, int64_t h, int64_t w,
			     int64_t c, int bits, rml_error *err)
{
	rml_status st = check_io(src, dst, h, w, c, 0, err);
	if (st != RML_OK)
		return st;
	if (bits < 0 || bits > 8)
		return rml_errorf(err, RML_ERR_ARG, "posterize bits %d out of range 0..8", bits);
	uint8_t mask = (uint8_t)(0xff00u >> bits);
	for (int64_t i = 0; i < h * w * c; i++)
		dst[i] = src[i] & mask;
	return RML_OK;
}

rml_status rml_aug_solarize(const uint8_t *src, uint8_t *dst, int64_t h, int64_t w,
			    int64_t c, int threshold, rml_error *err)
{
	rml_status st = check_io(src, dst, h, w, c, 0, err);
	if (st != RML_OK)
		return st;
	if (threshold < 0 || threshold > 256)
		return rml_errorf(err, RML_ERR_ARG, "solarize threshold %d out of range 0..256",
				  threshold);
	for (int64_t i = 0; i < h * w * c; i++)
		dst[i] = src[i] < threshold ? src[i] : (uint8_t)(255 - src[i]);
	return RML_OK;
}

/* ---- geometric operations ------------------------------------------------ */

rml_status rml_aug_affine(const uint8_t *src, uint8_t *dst, int64_t h, int64_t w, int64_t c,
			  const double m[6], rml_aug_fill fill, rml_error *err)
{
	rml_status st = check_io(src, dst, h, w, c, 1, err);
	if (st != RML_OK)
		return st;
	if (!m)
		return rml_errorf(err, RML_ERR_ARG, "affine coefficients are NULL");
	for (int i = 0; i < 6; i++)
		if (!isfinite(m[i]))
			return rml_errorf(err, RML_ERR_ARG, "affine coefficient %d is not finite", i);
	if (fill != RML_AUG_FILL_GREY && fill != RML_AUG_FILL_EDGE)
		return rml_errorf(err, RML_ERR_ARG, "unknown fill mode %d", (int)fill);
	for (int64_t y = 0; y < h; y++) {
		for (int64_t x = 0; x < w; x++) {
			uint8_t *o = dst + (y * w + x) * c;
			double xs = m[0] * (x + 0.5) + m[1] * (y + 0.5) + m[2];
			double ys = m[3] * (x + 0.5) + m[4] * (y + 0.5) + m[5];
			if (fill == RML_AUG_FILL_GREY) {
				if (!(xs >= 0.0 && xs < (double)w && ys >= 0.0 && ys < (double)h)) {
					for (int64_t k = 0; k < c; k++)
						o[k] = 128;
					continue;
				}
			} else {
				/* Beyond one pixel outside, every neighbour clamps to
				 * the edge anyway; bounding keeps floor() in range,
				 * and a NaN (inf - inf from huge coefficients) lands
				 * on the low side. */
				xs = !(xs >= -1.0) ? -1.0 : xs > w + 1.0 ? w + 1.0 : xs;
				ys = !(ys >= -1.0) ? -1.0 : ys > h + 1.0 ? h + 1.0 : ys;
			}
			xs -= 0.5;
			ys -= 0.5;
			double fx = floor(xs), fy = floor(ys);
			double dx = xs - fx, dy = ys - fy;
			int64_t x0 = (int64_t)fx, y0 = (int64_t)fy;
			int64_t x1 = x0 + 1, y1 = y0 + 1;
			x0 = x0 < 0 ? 0 : x0 >= w ? w - 1 : x0;
			x1 = x1 < 0 ? 0 : x1 >= w ? w - 1 : x1;
			y0 = y0 < 0 ? 0 : y0 >= h ? h - 1 : y0;
			y1 = y1 < 0 ? 0 : y1 >= h ? h - 1 : y1;
			const uint8_t *p00 = src + (y0 * w + x0) * c, *p01 = src + (y0 * w + x1) * c;
			const uint8_t *p10 = src + (y1 * w + x0) * c, *p11 = src + (y1 * w + x1) * c;
			for (int64_t k = 0; k < c; k++) {
				double top = p00[k] + (p01[k] - p00[k]) * dx;
				double bot = p10[k] + (p11[k] - p10[k]) * dx;
				o[k] = round_u8(top + (bot - top) * dy);
			}
		}
	}
	return RML_OK;
}

/* cos and sin of a multiple of 90 degrees should be exact 0 and +-1, so
 * quarter turns stay permutations rather than near-misses. */
static double snap(double v)
{
	if (fabs(v) < 1e-12)
		return 0.0;
	if (fabs(v - 1.0) < 1e-12)
		return 1.0;
	if (fabs(v + 1.0) < 1e-12)
		return -1.0;
	return v;
}

rml_status rml_aug_rotate(const uint8_t *src, uint8_t *dst, int64_t h, int64_t w, int64_t c,
			  double degrees, rml_aug_fill fill, rml_error *err)
{
	if (!isfinite(degrees))
		return rml_errorf(err, RML_ERR_ARG, "rotation angle is not finite");
	double a = -fmod(degrees, 360.0) * M_PI / 180.0;
	double cs = snap(cos(a)), sn = snap(sin(a));
	double cx = w / 2.0, cy = h / 2.0;
	/* Pillow's rotate: the inverse map about the centre. */
	double m[6] = { cs, sn, 0.0, -sn, cs, 0.0 };
	m[2] = cs * -cx + sn * -cy + cx;
	m[5] = -sn * -cx + cs * -cy + cy;
	return rml_aug_affine(src, dst, h, w, c, m, fill, err);
}

rml_status rml_aug_shear_x(const uint8_t *src, uint8_t *dst, int64_t h, int64_t w, int64_t c,
			   double k, rml_aug_fill fill, rml_error *err)
{
	const double m[6] = { 1, k, 0, 0, 1, 0 };
	return rml_aug_affine(src, dst, h, w, c, m, fill, err);
}

rml_status rml_aug_shear_y(const uint8_t *src, uint8_t *dst, int64_t h, int64_t w, int64_t c,
			   double k, rml_aug_fill fill, rml_error *err)
{
	const double m[6] = { 1, 0, 0, k, 1, 0 };
	return rml_aug_affine(src, dst, h, w, c, m, fill, err);
}

rml_status rml_aug_translate_x(const uint8_t *src, uint8_t *dst, int64_t h, int64_t w,
			       int64_t c, double dx, rml_aug_fill fill, rml_error *err)
{
	const double m[6] = { 1, 0, dx, 0, 1, 0 };
	return rml_aug_affine(src, dst, h, w, c, m, fill, err);
}

rml_status rml_aug_translate_y(const uint8_t *src, uint8_t *dst, int64_t h, int64_t w,
			       int64_t c, double dy, rml_aug_fill fill, rml_error *err)
{
	const double m[6] = { 1, 0, 0, 0, 1, dy };
	return rml_aug_affine(src, dst, h, w, c, m, fill, err);
}

rml_status rml_aug_hflip(const uint8_t *src, uint8_t *dst, int64_t h, int64_t w, int64_t c,
			 rml_error *err)
{
	rml_status st = check_io(src, dst, h, w, c, 1, err);
	if (st != RML_OK)
		return st;
	for (int64_t y = 0; y < h; y++)
		for (int64_t x = 0; x < w; x++)
			memcpy(dst + (y * w + x) * c, src + (y * w + (w - 1 - x)) * c, (size_t)c);
	return RML_OK;
}

rml_status rml_aug_crop(const uint8_t *src, uint8_t *dst, int64_t h, int64_t w, int64_t c,
			int pad, int top, int left, rml_error *err)
{
	rml_status st = check_io(src, dst, h, w, c, 1, err);
	if (st != RML_OK)
		return st;
	if (pad < 0 || pad > 4096)
		return rml_errorf(err, RML_ERR_ARG, "crop padding %d out of range 0..4096", pad);
	if (top < 0 || top > 2 * pad || left < 0 || left > 2 * pad)
		return rml_errorf(err, RML_ERR_ARG,
				  "crop position (%d, %d) outside 0..%d for padding %d", top, left,
				  2 * pad, pad);
	for (int64_t y = 0; y < h; y++) {
		int64_t sy = y + top - pad;
		uint8_t *row = dst + y * w * c;
		if (sy < 0 || sy >= h) {
			memset(row, 0, (size_t)(w * c));
			continue;
		}
		for (int64_t x = 0; x < w; x++) {
			int64_t sx = x + left - pad;
			if (sx < 0 || sx >= w)
				memset(row + x * c, 0, (size_t)c);
			else
				memcpy(row + x * c, src + (sy * w + sx) * c, (size_t)c);
		}
	}
	return RML_OK;
}

/* ---- random operations ---------------------------------------------------- */

/* AugMix's sample_level, int_parameter and float_parameter. */
static double sample_level(rml_rng *rng, int severity)
{
	return 0.1 + rml_rng_uniform(rng) * (severity - 0.1);
}

static int int_param(double level, double maxval)
{
	return (int)(level * maxval / 10.0);
}

static double random_sign(rml_rng *rng, double v)
{
	return rml_rng_uniform(rng) > 0.5 ? -v : v;
}

rml_status rml_aug_apply(rml_aug_op op, int severity, const uint8_t *src, uint8_t *dst,
			 int64_t h, int64_t w, int64_t c, rml_aug_fill fill, rml_rng *rng,
			 rml_error *err)
{
	if ((int)op < 0 || op >= RML_AUG_N_OPS)
		return rml_errorf(err, RML_ERR_ARG, "unknown augmentation %d", (int)op);
	if (severity < 1 || severity > RML_AUG_MAX_SEVERITY)
		return rml_errorf(err, RML_ERR_ARG, "augmentation severity %d out of range 1..%d",
				  severity, RML_AUG_MAX_SEVERITY);
	if (!rng)
		return rml_errorf(err, RML_ERR_ARG, "random generator is NULL");
	switch (op) {
	case RML_AUG_AUTOCONTRAST:
		return rml_aug_autocontrast(src, dst, h, w, c, err);
	case RML_AUG_EQUALIZE:
		return rml_aug_equalize(src, dst, h, w, c, err);
	case RML_AUG_POSTERIZE:
		return rml_aug_posterize(src, dst, h, w, c,
					 4 - int_param(sample_level(rng, severity), 4), err);
	case RML_AUG_ROTATE: {
		double deg = int_param(sample_level(rng, severity), 30);
		return rml_aug_rotate(src, dst, h, w, c, random_sign(rng, deg), fill, err);
	}
	case RML_AUG_SOLARIZE:
		return rml_aug_solarize(src, dst, h, w, c,
					256 - int_param(sample_level(rng, severity), 256), err);
	case RML_AUG_SHEAR_X: {
		double k = sample_level(rng, severity) * 0.3 / 10.0;
		return rml_aug_shear_x(src, dst, h, w, c, random_sign(rng, k), fill, err);
	}
	case RML_AUG_SHEAR_Y: {
		double k = sample_level(rng, severity) * 0.3 / 10.0;
		return rml_aug_shear_y(src, dst, h, w, c, random_sign(rng, k), fill, err);
	}
	case RML_AUG_TRANSLATE_X: {
		double d = int_param(sample_level(rng, severity), w / 3.0);
		return rml_aug_translate_x(src, dst, h, w, c, random_sign(rng, d), fill, err);
	}
	case RML_AUG_TRANSLATE_Y: {
		double d = int_param(sample_level(rng, severity), h / 3.0);
		return rml_aug_translate_y(src, dst, h, w, c, random_sign(rng, d), fill, err);
	}
	case RML_AUG_HFLIP: {
		rml_status st = check_io(src, dst, h, w, c, 1, err);
		if (st != RML_OK)
			return st;
		/* torchvision flips when rand < p. */
		if (rml_rng_uniform(rng) < 0.5)
			return rml_aug_hflip(src, dst, h, w, c, err);
		memcpy(dst, src, (size_t)(h * w * c));
		return RML_OK;
	}
	case RML_AUG_CROP: {
		rml_status st = check_io(src, dst, h, w, c, 1, err);
		if (st != RML_OK)
			return st;
		int top = (int)rml_rng_below(rng, 9), left = (int)rml_rng_below(rng, 9);
		return rml_aug_crop(src, dst, h, w, c, 4, top, left, err);
	}
	default:
		break;
	}
	return rml_errorf(err, RML_ERR_ARG, "unknown augmentation %d", (int)op);
}

/* ---- samplers ------------------------------------------------------------ */

double rml_sample_gamma(rml_rng *rng, double shape)
{
	if (!(shape > 0.0) || !isfinite(shape))
		return NAN;
	if (shape < 1.0) {
		/* Gamma(a) = Gamma(a+1) * U^(1/a); 1-U keeps U away from 0. */
		double g = rml_sample_gamma(rng, shape + 1.0);
		double u = 1.0 - rml_rng_uniform(rng);
		return g * pow(u, 1.0 / shape);
	}
	double d = shape - 1.0 / 3.0, cc = 1.0 / sqrt(9.0 * d);
	for (;;) {
		double x, v;
		do {
			x = rml_rng_normal(rng);
			v = 1.0 + cc * x;
		} while (v <= 0.0);
		v = v * v * v;
		double u = 1.0 - rml_rng_uniform(rng);
		double x2 = x * x;
		if (u < 1.0 - 0.0331 * x2 * x2)
			return d * v;
		if (log(u) < 0.5 * x2 + d * (1.0 - v + log(v)))
			return d * v;
	}
}

double rml_sample_beta(rml_rng *rng, double a, double b)
{
	if (!(a > 0.0) || !(b > 0.0) || !isfinite(a) || !isfinite(b))
		return NAN;
	double x = rml_sample_gamma(rng, a), y = rml_sample_gamma(rng, b);
	/* Both can underflow to 0 for tiny shapes; split evenly then. */
	if (!(x + y > 0.0))
		return 0.5;
	return x / (x + y);
}

int rml_sample_dirichlet(rml_rng *rng, double alpha, int k, double *p)
{
	if (!(alpha > 0.0) || !isfinite(alpha) || k < 1 || !p)
		return -1;
	double sum = 0.0;
	for (int i = 0; i < k; i++) {
		p[i] = rml_sample_gamma(rng, alpha);
		sum += p[i];
	}
	for (int i = 0; i < k; i++)
		p[i] = sum > 0.0 ? p[i] / sum : 1.0 / k;
	return 0;
}

/* ---- AugMix -------------------------------------------------------------- */

#define AUGMIX_MAX_WIDTH 16

void rml_augmix_opts_default(rml_augmix_opts *o)
{
	o->width = 3;
	o->depth = -1;
	o->severity = 3;
	o->alpha = 1.0;
	o->fill = RML_AUG_FILL_GREY;
	o->crop_pad = 4;
	o->flip = 1;
}

rml_status rml_augmix_opts_check(const rml_augmix_opts *o, rml_error *err)
{
	if (!o)
		return rml_errorf(err, RML_ERR_ARG, "AugMix options are NULL");
	if (o->width < 1 || o->width > AUGMIX_MAX_WIDTH)
		return rml_errorf(err, RML_ERR_ARG, "AugMix width %d out of range 1..%d", o->width,
				  AUGMIX_MAX_WIDTH);
	if (o->depth > 16)
		return rml_errorf(err, RML_ERR_ARG, "AugMix depth %d out of range (<= 16)",
				  o->depth);
	if (o->severity < 1 || o->severity > RML_AUG_MAX_SEVERITY)
		return rml_errorf(err, RML_ERR_ARG, "AugMix severity %d out of range 1..%d",
				  o->severity, RML_AUG_MAX_SEVERITY);
	if (!(o->alpha > 0.0) || !isfinite(o->alpha))
		return rml_errorf(err, RML_ERR_ARG, "AugMix alpha must be positive and finite");
	if (o->fill != RML_AUG_FILL_GREY && o->fill != RML_AUG_FILL_EDGE)
		return rml_errorf(err, RML_ERR_ARG, "unknown fill mode %d", (int)o->fill);
	if (o->crop_pad < 0 || o->crop_pad > 4096)
		return rml_errorf(err, RML_ERR_ARG, "crop padding %d out of range 0..4096",
				  o->crop_pad);
	return RML_OK;
}

size_t rml_augmix_scratch_size(int64_t h, int64_t w, int64_t c)
{
	if (rml_aug_check_shape(h, w, c, NULL) != RML_OK)
		return 0;
	return (size_t)3 * (size_t)h * (size_t)w * (size_t)c;
}

/* AugMix proper on img; scratch holds two ping-pong images. */
static rml_status augmix_core(const uint8_t *img, int64_t h, int64_t w, int64_t c,
			      const rml_augmix_opts *o, rml_rng *rng, float *out, uint8_t *scratch,
			      rml_error *err)
{
	size_t n = (size_t)(h * w * c);
	double ws[AUGMIX_MAX_WIDTH];
	rml_sample_dirichlet(rng, o->alpha, o->width, ws);
	double m = rml_sample_beta(rng, o->alpha, o->alpha);
	uint8_t *a = scratch, *b = scratch + n;
	for (size_t i = 0; i < n; i++)
		out[i] = 0.0f;
	for (int chain = 0; chain < o->width; chain++) {
		int depth = o->depth > 0 ? o->depth : 1 + (int)rml_rng_below(rng, 3);
		const uint8_t *cur = img;
		for (int d = 0; d < depth; d++) {
			rml_aug_op op = (rml_aug_op)rml_rng_below(rng, RML_AUG_N_AUGMIX);
			uint8_t *next = cur == a ? b : a;
			rml_status st = rml_aug_apply(op, o->severity, cur, next, h, w, c, o->fill,
						      rng, err);
			if (st != RML_OK)
				return st;
			cur = next;
		}
		float wf = (float)ws[chain];
		for (size_t i = 0; i < n; i++)
			out[i] += wf * (float)cur[i];
	}
	float mf = (float)m, keep = (float)(1.0 - m);
	for (size_t i = 0; i < n; i++)
		out[i] = keep * (float)img[i] + mf * out[i];
	return RML_OK;
}

rml_status rml_augmix(const uint8_t *img, int64_t h, int64_t w, int64_t c,
		      const rml_augmix_opts *o, rml_rng *rng, float *out, uint8_t *scratch,
		      rml_error *err)
{
	rml_status st = rml_aug_check_shape(h, w, c, err);
	if (st == RML_OK)
		st = rml_augmix_opts_check(o, err);
	if (st != RML_OK)
		return st;
	if (!img || !rng || !out || !scratch)
		return rml_errorf(err, RML_ERR_ARG, "AugMix: NULL image, generator, output or scratch");
	return augmix_core(img, h, w, c, o, rng, out, scratch, err);
}

rml_status rml_aug_memo_batch(const uint8_t *img, int64_t h, int64_t w, int64_t c,
			      int64_t n_aug, const rml_augmix_opts *o, rml_rng *rng, float *out,
			      uint8_t *scratch, rml_error *err)
{
	rml_status st = rml_aug_check_shape(h, w, c, err);
	if (st == RML_OK)
		st = rml_augmix_opts_check(o, err);
	if (st != RML_OK)
		return st;
	if (!img || !rng || !out || !scratch)
		return rml_errorf(err, RML_ERR_ARG,
				  "augmentation batch: NULL image, generator, output or scratch");
	if (n_aug < 1)
		return rml_errorf(err, RML_ERR_ARG, "number of augmented copies must be >= 1, not %lld",
				  (long long)n_aug);
	size_t n = (size_t)(h * w * c);
	/* The third scratch image holds the pre-augmented base; the first two
	 * are AugMix's ping-pong pair. */
	uint8_t *base = scratch + 2 * n, *tmp = scratch;
	for (int64_t b = 0; b < n_aug; b++) {
		const uint8_t *src = img;
		if (o->crop_pad > 0) {
			int top = (int)rml_rng_below(rng, (uint64_t)(2 * o->crop_pad + 1));
			int left = (int)rml_rng_below(rng, (uint64_t)(2 * o->crop_pad + 1));
			st = rml_aug_crop(src, base, h, w, c, o->crop_pad, top, left, err);
			if (st != RML_OK)
				return st;
			src = base;
		}
		if (o->flip && rml_rng_uniform(rng) < 0.5) {
			st = rml_aug_hflip(src, tmp, h, w, c, err);
			if (st != RML_OK)
				return st;
			memcpy(base, tmp, n);
			src = base;
		}
		st = augmix_core(src, h, w, c, o, rng, out + (size_t)b * n, scratch, err);
		if (st != RML_OK)
			return st;
	}
	return RML_OK;
}

/* ---- training policies: AutoAugment, RandAugment, Cutout ----------------- */

static inline uint8_t luma(const uint8_t *p)
{
	return (uint8_t)((19595u * p[0] + 38470u * p[1] + 7471u * p[2] + 0x8000u) >> 16);
}

static rml_status check_factor(double factor, rml_error *err)
{
	if (!isfinite(factor) || factor < 0.0)
		return rml_errorf(err, RML_ERR_ARG, "enhancement factor %g is not finite and >= 0",
				  factor);
	return RML_OK;
}

rml_status rml_aug_invert(const uint8_t *src, uint8_t *dst, int64_t h, int64_t w, int64_t c,
			  rml_error *err)
{
	rml_status st = check_io(src, dst, h, w, c, 0, err);
	if (st != RML_OK)
		return st;
	for (int64_t i = 0; i < h * w * c; i++)
		dst[i] = (uint8_t)(255 - src[i]);
	return RML_OK;
}

/* dst = deg + factor * (src - deg), deg a constant per channel. */
static void blend_const(const uint8_t *src, uint8_t *dst, int64_t n, double deg, double factor)
{
	for (int64_t i = 0; i < n; i++)
		dst[i] = round_u8(deg + factor * ((double)src[i] - deg));
}

rml_status rml_aug_contrast(const uint8_t *src, uint8_t *dst, int64_t h, int64_t w, int64_t c,
			    double factor, rml_error *err)
{
	rml_status st = check_io(src, dst, h, w, c, 0, err);
	if (st == RML_OK)
		st = check_factor(factor, err);
	if (st != RML_OK)
		return st;
	int64_t npix = h * w;
	uint64_t sum = 0;
	for (int64_t i = 0; i < npix; i++)
		sum += c == 3 ? luma(src + i * 3) : src[i];
	/* Pillow rounds the mean to a whole grey level before blending. */
	double mean = floor((double)sum / (double)npix + 0.5);
	blend_const(src, dst, npix * c, mean, factor);
	return RML_OK;
}

rml_status rml_aug_color(const uint8_t *src, uint8_t *dst, int64_t h, int64_t w, int64_t c,
			 double factor, rml_error *err)
{
	rml_status st = check_io(src, dst, h, w, c, 0, err);
	if (st == RML_OK)
		st = check_factor(factor, err);
	if (st != RML_OK)
		return st;
	if (c == 1) {
		if (dst != src)
			memcpy(dst, src, (size_t)(h * w));
		return RML_OK;
	}
	for (int64_t i = 0; i < h * w; i++) {
		double g = luma(src + i * 3);
		for (int k = 0; k < 3; k++)
			dst[i * 3 + k] = round_u8(g + factor * ((double)src[i * 3 + k] - g));
	}
	return RML_OK;
}

rml_status rml_aug_brightness(const uint8_t *src, uint8_t *dst, int64_t h, int64_t w,
			      int64_t c, double factor, rml_error *err)
{
	rml_status st = check_io(src, dst, h, w, c, 0, err);
	if (st == RML_OK)
		st = check_factor(factor, err);
	if (st != RML_OK)
		return st;
	blend_const(src, dst, h * w * c, 0.0, factor);
	return RML_OK;
}

rml_status rml_aug_sharpness(const uint8_t *src, uint8_t *dst, int64_t h, int64_t w,
			     int64_t c, double factor, rml_error *err)
{
	rml_status st = check_io(src, dst, h, w, c, 1, err);
	if (st == RML_OK)
		st = check_factor(factor, err);
	if (st != RML_OK)
		return st;
	for (int64_t y = 0; y < h; y++)
		for (int64_t x = 0; x < w; x++)
			for (int64_t k = 0; k < c; k++) {
				int64_t i = (y * w + x) * c + k;
				if (y == 0 || x == 0 || y == h - 1 || x == w - 1) {
					dst[i] = src[i];
					continue;
				}
				int s = 4 * src[i];
				for (int dy = -1; dy <= 1; dy++)
					for (int dx = -1; dx <= 1; dx++)
						s += src[i + (dy * w + dx) * c];
				/* Pillow: the smoothed level, rounded, is the degenerate. */
				double deg = floor(s / 13.0 + 0.5);
				dst[i] = round_u8(deg + factor * ((double)src[i] - deg));
			}
	return RML_OK;
}

rml_status rml_aug_cutout(uint8_t *img, int64_t h, int64_t w, int64_t c, int size, int64_t cy,
			  int64_t cx, uint8_t value, rml_error *err)
{
	rml_status st = check_io(img, img, h, w, c, 0, err);
	if (st != RML_OK)
		return st;
	if (size < 0 || size > RML_AUG_MAX_SIDE)
		return rml_errorf(err, RML_ERR_ARG, "cutout size %d out of range 0..%d", size,
				  RML_AUG_MAX_SIDE);
	if (cy < 0 || cy >= h || cx < 0 || cx >= w)
		return rml_errorf(err, RML_ERR_ARG, "cutout centre (%lld, %lld) outside the image",
				  (long long)cy, (long long)cx);
	/* DeVries and Taylor's box: [c - size/2, c + size/2) clipped. */
	int64_t y0 = cy - size / 2, y1 = y0 + size, x0 = cx - size / 2, x1 = x0 + size;
	y0 = y0 < 0 ? 0 : y0;
	x0 = x0 < 0 ? 0 : x0;
	y1 = y1 > h ? h : y1;
	x1 = x1 > w ? w : x1;
	for (int64_t y = y0; y < y1; y++)
		if (x1 > x0)
			memset(img + (y * w + x0) * c, value, (size_t)((x1 - x0) * c));
	return RML_OK;
}

static const char *const pa_names[RML_PA_N_OPS] = {
	"identity", "shear_x", "shear_y", "translate_x", "translate_y", "rotate", "brightness",
	"color", "contrast", "sharpness", "posterize", "solarize", "autocontrast", "equalize",
	"invert",
};

const char *rml_pa_op_name(rml_pa_op op)
{
	if ((int)op < 0 || op >= RML_PA_N_OPS)
		return NULL;
	return pa_names[op];
}

static int pa_signed(rml_pa_op op)
{
	return op >= RML_PA_SHEAR_X && op <= RML_PA_SHARPNESS;
}

rml_status rml_pa_apply(rml_pa_op op, double frac, int negative, const uint8_t *src,
			uint8_t *dst, int64_t h, int64_t w, int64_t c, rml_aug_fill fill,
			rml_error *err)
{
	if (!(frac >= 0.0 && frac <= 1.0))
		return rml_errorf(err, RML_ERR_ARG, "magnitude fraction %g outside [0, 1]", frac);
	double sgn = negative && pa_signed(op) ? -1.0 : 1.0;
	switch (op) {
	case RML_PA_IDENTITY: {
		rml_status st = check_io(src, dst, h, w, c, 1, err);
		if (st == RML_OK)
			memcpy(dst, src, (size_t)(h * w * c));
		return st;
	}
	case RML_PA_SHEAR_X:
		return rml_aug_shear_x(src, dst, h, w, c, sgn * 0.3 * frac, fill, err);
	case RML_PA_SHEAR_Y:
		return rml_aug_shear_y(src, dst, h, w, c, sgn * 0.3 * frac, fill, err);
	case RML_PA_TRANSLATE_X:
		return rml_aug_translate_x(src, dst, h, w, c,
					   sgn * (int)(frac * 150.0 / 331.0 * (double)w), fill, err);
	case RML_PA_TRANSLATE_Y:
		return rml_aug_translate_y(src, dst, h, w, c,
					   sgn * (int)(frac * 150.0 / 331.0 * (double)h), fill, err);
	case RML_PA_ROTATE:
		return rml_aug_rotate(src, dst, h, w, c, sgn * 30.0 * frac, fill, err);
	case RML_PA_BRIGHTNESS:
		return rml_aug_brightness(src, dst, h, w, c, 1.0 + sgn * 0.9 * frac, err);
	case RML_PA_COLOR:
		return rml_aug_color(src, dst, h, w, c, 1.0 + sgn * 0.9 * frac, err);
	case RML_PA_CONTRAST:
		return rml_aug_contrast(src, dst, h, w, c, 1.0 + sgn * 0.9 * frac, err);
	case RML_PA_SHARPNESS:
		return rml_aug_sharpness(src, dst, h, w, c, 1.0 + sgn * 0.9 * frac, err);
	case RML_PA_POSTERIZE:
		return rml_aug_posterize(src, dst, h, w, c, 8 - (int)floor(4.0 * frac + 0.5), err);
	case RML_PA_SOLARIZE:
		return rml_aug_solarize(src, dst, h, w, c, (int)ceil(255.0 * (1.0 - frac) - 1e-9),
					err);
	case RML_PA_AUTOCONTRAST:
		return rml_aug_autocontrast(src, dst, h, w, c, err);
	case RML_PA_EQUALIZE:
		return rml_aug_equalize(src, dst, h, w, c, err);
	case RML_PA_INVERT:
		return rml_aug_invert(src, dst, h, w, c, err);
	default:
		break;
	}
	return rml_errorf(err, RML_ERR_ARG, "unknown policy operation %d", (int)op);
}

/* The CIFAR-10 policy as the AutoAugment paper's appendix lists it:
 * (operation, probability, magnitude) twice per sub-policy; -1 marks an
 * operation without magnitude. */
static const struct {
	rml_pa_op op;
	double p;
	int mag;
} cifar10_policy[25][2] = {
	{ { RML_PA_INVERT, 0.1, -1 }, { RML_PA_CONTRAST, 0.2, 6 } },
	{ { RML_PA_ROTATE, 0.7, 2 }, { RML_PA_TRANSLATE_X, 0.3, 9 } },
	{ { RML_PA_SHARPNESS, 0.8, 1 }, { RML_PA_SHARPNESS, 0.9, 3 } },
	{ { RML_PA_SHEAR_Y, 0.5, 8 }, { RML_PA_TRANSLATE_Y, 0.7, 9 } },
	{ { RML_PA_AUTOCONTRAST, 0.5, -1 }, { RML_PA_EQUALIZE, 0.9, -1 } },
	{ { RML_PA_SHEAR_Y, 0.2, 7 }, { RML_PA_POSTERIZE, 0.3, 7 } },
	{ { RML_PA_COLOR, 0.4, 3 }, { RML_PA_BRIGHTNESS, 0.6, 7 } },
	{ { RML_PA_SHARPNESS, 0.3, 9 }, { RML_PA_BRIGHTNESS, 0.7, 9 } },
	{ { RML_PA_EQUALIZE, 0.6, -1 }, { RML_PA_EQUALIZE, 0.5, -1 } },
	{ { RML_PA_CONTRAST, 0.6, 7 }, { RML_PA_SHARPNESS, 0.6, 5 } },
	{ { RML_PA_COLOR, 0.7, 7 }, { RML_PA_TRANSLATE_X, 0.5, 8 } },
	{ { RML_PA_EQUALIZE, 0.3, -1 }, { RML_PA_AUTOCONTRAST, 0.4, -1 } },
	{ { RML_PA_TRANSLATE_Y, 0.4, 3 }, { RML_PA_SHARPNESS, 0.2, 6 } },
	{ { RML_PA_BRIGHTNESS, 0.9, 6 }, { RML_PA_COLOR, 0.2, 8 } },
	{ { RML_PA_SOLARIZE, 0.5, 2 }, { RML_PA_INVERT, 0.0, -1 } },
	{ { RML_PA_EQUALIZE, 0.2, -1 }, { RML_PA_AUTOCONTRAST, 0.6, -1 } },
	{ { RML_PA_EQUALIZE, 0.2, -1 }, { RML_PA_EQUALIZE, 0.6, -1 } },
	{ { RML_PA_COLOR, 0.9, 9 }, { RML_PA_EQUALIZE, 0.6, -1 } },
	{ { RML_PA_AUTOCONTRAST, 0.8, -1 }, { RML_PA_SOLARIZE, 0.2, 8 } },
	{ { RML_PA_BRIGHTNESS, 0.1, 3 }, { RML_PA_COLOR, 0.7, 0 } },
	{ { RML_PA_SOLARIZE, 0.4, 5 }, { RML_PA_AUTOCONTRAST, 0.9, -1 } },
	{ { RML_PA_TRANSLATE_Y, 0.9, 9 }, { RML_PA_TRANSLATE_Y, 0.7, 9 } },
	{ { RML_PA_AUTOCONTRAST, 0.9, -1 }, { RML_PA_SOLARIZE, 0.4, 3 } },
	{ { RML_PA_EQUALIZE, 0.8, -1 }, { RML_PA_INVERT, 0.1, -1 } },
	{ { RML_PA_TRANSLATE_Y, 0.7, 9 }, { RML_PA_AUTOCONTRAST, 0.9, -1 } },
};

int rml_autoaugment_cifar10_step(int i, int j, rml_pa_op *op, double *p, int *magnitude)
{
	if (i < 0 || i >= 25 || j < 0 || j > 1)
		return -1;
	*op = cifar10_policy[i][j].op;
	*p = cifar10_policy[i][j].p;
	*magnitude = cifar10_policy[i][j].mag;
	return 0;
}

static rml_status check_inplace(const uint8_t *img, const uint8_t *tmp, const rml_rng *rng,
				int64_t h, int64_t w, int64_t c, rml_error *err)
{
	rml_status st = check_io(img, tmp, h, w, c, 1, err);
	if (st == RML_OK && !rng)
		st = rml_errorf(err, RML_ERR_ARG, "random generator is NULL");
	return st;
}

/* One policy step on img in place (through tmp). */
static rml_status pa_step(rml_pa_op op, double frac, rml_rng *rng, uint8_t *img, uint8_t *tmp,
			  int64_t h, int64_t w, int64_t c, rml_error *err)
{
	int neg = pa_signed(op) ? rml_rng_uniform(rng) < 0.5 : 0;
	rml_status st = rml_pa_apply(op, frac, neg, img, tmp, h, w, c, RML_AUG_FILL_GREY, err);
	if (st == RML_OK)
		memcpy(img, tmp, (size_t)(h * w * c));
	return st;
}

rml_status rml_autoaugment_cifar10(uint8_t *img, uint8_t *tmp, int64_t h, int64_t w,
				   int64_t c, rml_rng *rng, rml_error *err)
{
	rml_status st = check_inplace(img, tmp, rng, h, w, c, err);
	if (st != RML_OK)
		return st;
	int i = (int)rml_rng_below(rng, 25);
	for (int j = 0; j < 2 && st == RML_OK; j++) {
		const rml_pa_op op = cifar10_policy[i][j].op;
		int mag = cifar10_policy[i][j].mag;
		if (rml_rng_uniform(rng) < cifar10_policy[i][j].p)
			st = pa_step(op, mag < 0 ? 0.0 : mag / 9.0, rng, img, tmp, h, w, c, err);
	}
	return st;
}

rml_status rml_randaugment(uint8_t *img, uint8_t *tmp, int64_t h, int64_t w, int64_t c, int n,
			   int m, rml_rng *rng, rml_error *err)
{
	rml_status st = check_inplace(img, tmp, rng, h, w, c, err);
	if (st != RML_OK)
		return st;
	if (n < 0 || n > 16 || m < 0 || m > RML_PA_MAX_MAGNITUDE)
		return rml_errorf(err, RML_ERR_ARG,
				  "RandAugment needs N in 0..16 and M in 0..%d, not %d and %d",
				  RML_PA_MAX_MAGNITUDE, n, m);
	for (int k = 0; k < n && st == RML_OK; k++) {
		rml_pa_op op = (rml_pa_op)rml_rng_below(rng, RML_PA_N_RANDAUGMENT);
		st = pa_step(op, (double)m / RML_PA_MAX_MAGNITUDE, rng, img, tmp, h, w, c, err);
	}
	return st;
}

rml_status rml_aug_random_erasing(uint8_t *img, int64_t h, int64_t w, int64_t c, double p,
				  rml_rng *rng, int64_t box[4], rml_error *err)
{
	if (box)
		box[0] = box[1] = box[2] = box[3] = 0;
	rml_status st = check_io(img, img, h, w, c, 0, err);
	if (st != RML_OK)
		return st;
	if (!rng)
		return rml_errorf(err, RML_ERR_ARG, "random erasing needs a generator");
	if (!(p >= 0.0 && p <= 1.0))
		return rml_errorf(err, RML_ERR_ARG, "random erasing probability %g outside [0, 1]",
				  p);
	if (!(rml_rng_uniform(rng) < p))
		return RML_OK;
	/* Zhong et al.'s Algorithm 1 draws until a box fits; a bounded number
	 * of attempts (torchvision's 10) keeps the cost fixed, and the log of
	 * the aspect ratio is uniform so that r and 1/r are equally likely. */
	const double area = (double)(h * w), lr0 = log(RML_ERASE_RATIO_MIN),
		     lr1 = log(RML_ERASE_RATIO_MAX);
	for (int attempt = 0; attempt < 10; attempt++) {
		double a = area * (RML_ERASE_AREA_MIN +
				   (RML_ERASE_AREA_MAX - RML_ERASE_AREA_MIN) * rml_rng_uniform(rng));
		double r = exp(lr0 + (lr1 - lr0) * rml_rng_uniform(rng));
		int64_t eh = (int64_t)lround(sqrt(a * r)), ew = (int64_t)lround(sqrt(a / r));
		if (eh < 1 || ew < 1 || eh >= h || ew >= w)
			continue;
		int64_t y0 = (int64_t)rml_rng_below(rng, (uint64_t)(h - eh + 1));
		int64_t x0 = (int64_t)rml_rng_below(rng, (uint64_t)(w - ew + 1));
		/* The paper's fill: independent uniform levels per pixel and
		 * channel (its best variant on CIFAR, "RE-R"). */
		for (int64_t y = y0; y < y0 + eh; y++) {
			uint8_t *row = img + (y * w + x0) * c;
			for (int64_t j = 0; j < ew * c; j++)
				row[j] = (uint8_t)rml_rng_below(rng, 256);
		}
		if (box) {
			box[0] = y0;
			box[1] = y0 + eh;
			box[2] = x0;
			box[3] = x0 + ew;
		}
		return RML_OK;
	}
	return RML_OK;
}
