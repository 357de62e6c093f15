/*
 * corrupt.c — the CIFAR-10-C corruptions (see corrupt.h). Each corruption
 * is a small function over one uint8 image and float scratch; the
 * severity tables sit next to the function that uses them. The JPEG
 * encoder is stb_image_write (its implementation lives here); the decoder
 * is stb_image, whose implementation lives with the dataset importers.
 */
#include "corrupt.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <omp.h>

#include "augment.h"

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wshadow"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wunused-parameter"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
/* stb's JPEG bit writer shifts set bits out of a signed int. GCC defines
 * that shift (two's complement), but the undefined-behaviour sanitiser
 * stops on it; this declaration, ahead of the definition (its parameter
 * types are not visible yet, hence no prototype), exempts that function
 * alone from the shift check. */
#if defined(__GNUC__) && !defined(__clang__)
static void stbiw__jpg_writeBits() __attribute__((no_sanitize("shift")));
#endif
#define STBI_WRITE_NO_STDIO
#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb_image_write.h>
#include <stb_image.h>
#pragma GCC diagnostic pop

static const char *const corruption_names[RML_CORRUPT_COUNT] = {
	"gaussian_noise", "shot_noise", "impulse_noise", "defocus_blur", "motion_blur",
	"contrast",       "brightness", "fog",           "pixelate",     "jpeg_compression",
};

const char *rml_corruption_name(rml_corruption kind)
{
	if ((int)kind < 0 || kind >= RML_CORRUPT_COUNT)
		return NULL;
	return corruption_names[kind];
}

rml_status rml_corruption_parse(const char *name, rml_corruption *kind, rml_error *err)
{
	for (int i = 0; name && i < RML_CORRUPT_COUNT; i++)
		if (strcmp(name, corruption_names[i]) == 0) {
			*kind = (rml_corruption)i;
			return RML_OK;
		}
	return rml_errorf(err, RML_ERR_ARG,
			  "unknown corruption '%s' (known: gaussian_noise, shot_noise, "
			  "impulse_noise, defocus_blur, motion_blur, contrast, brightness, fog, "
			  "pixelate, jpeg_compression)",
			  name ? name : "(null)");
}

/* Side of fog's square fractal: the smallest power of two covering the
 * image (at least 2, so the fractal has an octave to draw). */
static int64_t fog_mapsize(int64_t h, int64_t w)
{
	int64_t m = 2, side = h > w ? h : w;
	while (m < side)
		m *= 2;
	return m;
}

size_t rml_corrupt_scratch_size(int64_t h, int64_t w, int64_t c)
{
	if (rml_aug_check_shape(h, w, c, NULL) != RML_OK)
		return 0;
	/* Two image-sized float planes (blur output, pixelate's passes) and
	 * fog's map. Sides are at most 65535, so nothing here overflows a
	 * 64-bit size. */
	int64_t ms = fog_mapsize(h, w);
	return (size_t)(2 * h * w * c + ms * ms);
}

static inline uint8_t round_u8(double v)
{
	if (!(v > 0.0))
		return 0;
	if (v >= 255.0)
		return 255;
	return (uint8_t)(v + 0.5);
}

/* ---- noises ---------------------------------------------------------------- */

static void gaussian_noise(uint8_t *img, int64_t n, int sev, rml_rng *rng)
{
	static const double sd[5] = { 0.04, 0.06, 0.08, 0.09, 0.10 };
	double s = 255.0 * sd[sev - 1];
	for (int64_t i = 0; i < n; i++)
		img[i] = round_u8(img[i] + s * rml_rng_normal(rng));
}

/* log(k!) without lgamma, whose glibc version writes a global (signgam)
 * and so races under OpenMP. */
static double log_factorial(int64_t k)
{
	if (k < 32) {
		double s = 0.0;
		for (int64_t i = 2; i <= k; i++)
			s += log((double)i);
		return s;
	}
	double x = (double)k + 1.0, x2 = x * x;
	return (x - 0.5) * log(x) - x + 0.91893853320467274178 +
	       (1.0 / 12.0 - (1.0 / 360.0 - 1.0 / (1260.0 * x2)) / x2) / x;
}

int64_t rml_sample_poisson(rml_rng *rng, double lambda)
{
	if (!(lambda >= 0.0) || !isfinite(lambda))
		return -1;
	if (lambda == 0.0)
		return 0;
	if (lambda < 10.0) {
		double limit = exp(-lambda), p = 1.0;
		int64_t k = -1;
		do {
			k++;
			p *= rml_rng_uniform(rng);
		} while (p > limit);
		return k;
	}
	/* PTRS: W. Hörmann, "The transformed rejection method for generating
	 * Poisson random variables", Insurance: Mathematics and Economics 12
	 * (1993). The constants are the paper's. */
	double slam = sqrt(lambda), loglam = log(lambda);
	double b = 0.931 + 2.53 * slam, a = -0.059 + 0.02483 * b;
	double invalpha = 1.1239 + 1.1328 / (b - 3.4), vr = 0.9277 - 3.6224 / (b - 2.0);
	for (;;) {
		double u = rml_rng_uniform(rng) - 0.5, v = rml_rng_uniform(rng);
		double us = 0.5 - fabs(u);
		if (us < 1e-9)
			continue;
		double kf = floor((2.0 * a / us + b) * u + lambda + 0.43);
		if (us >= 0.07 && v <= vr)
			return (int64_t)kf;
		if (kf < 0.0 || (us < 0.013 && v > us))
			continue;
		int64_t k = (int64_t)kf;
		if (log(v) + log(invalpha) - log(a / (us * us) + b) <=
		    -lambda + kf * loglam - log_factorial(k))
			return k;
	}
}

static void shot_noise(uint8_t *img, int64_t n, int sev, rml_rng *rng)
{
	static const double photons[5] = { 500, 250, 100, 75, 50 };
	double k = photons[sev - 1];
	for (int64_t i = 0; i < n; i++) {
		int64_t q = rml_sample_poisson(rng, img[i] / 255.0 * k);
		img[i] = round_u8((double)q / k * 255.0);
	}
}

static void impulse_noise(uint8_t *img, int64_t n, int sev, rml_rng *rng)
{
	static const double amount[5] = { 0.01, 0.02, 0.03, 0.05, 0.07 };
	double a = amount[sev - 1];
	/* Every value independently: salt with probability a/2, pepper with a/2. */
	for (int64_t i = 0; i < n; i++) {
		double u = rml_rng_uniform(rng);
		if (u < a / 2)
			img[i] = 255;
		else if (u < a)
			img[i] = 0;
	}
}

/* ---- blurs ----------------------------------------------------------------- */

/* OpenCV's default border (BORDER_REFLECT_101: ... 2 1 | 0 1 2 ... n-1 |
 * n-2 ...), which the benchmark's filter2D used. */
static int64_t reflect101(int64_t i, int64_t n)
{
	if (n == 1)
		return 0;
	while (i < 0 || i >= n)
		i = i < 0 ? -i : 2 * (n - 1) - i;
	return i;
}

#define DISK_L 8                     /* the benchmark's 17x17 disk grid */
#define DISK_N (2 * DISK_L + 1)

/* The benchmark's defocus kernel: an aliased disk of `radius` (radius <=
 * 8), normalised, then smoothed by a 3x3 Gaussian of sigma `alias`.
 * Returns the half-width of its nonzero part. */
static int defocus_kernel(double radius, double alias, double k[DISK_N][DISK_N])
{
	double disk[DISK_N][DISK_N], tmp[DISK_N][DISK_N], g[3], sum = 0.0;
	for (int i = 0; i < DISK_N; i++)
		for (int j = 0; j < DISK_N; j++) {
			double y = i - DISK_L, x = j - DISK_L;
			disk[i][j] = x * x + y * y <= radius * radius ? 1.0 : 0.0;
			sum += disk[i][j];
		}
	for (int i = 0; i < DISK_N; i++)
		for (int j = 0; j < DISK_N; j++)
			disk[i][j] /= sum;
	double gs = 0.0;
	for (int i = 0; i < 3; i++) {
		g[i] = exp(-(double)((i - 1) * (i - 1)) / (2.0 * alias * alias));
		gs += g[i];
	}
	for (int i = 0; i < 3; i++)
		g[i] /= gs;
	for (int i = 0; i < DISK_N; i++)
		for (int j = 0; j < DISK_N; j++) {
			double s = 0.0;
			for (int t = 0; t < 3; t++)
				s += g[t] * disk[i][reflect101(j + t - 1, DISK_N)];
			tmp[i][j] = s;
		}
	int half = 0;
	for (int i = 0; i < DISK_N; i++)
		for (int j = 0; j < DISK_N; j++) {
			double s = 0.0;
			for (int t = 0; t < 3; t++)
				s += g[t] * tmp[reflect101(i + t - 1, DISK_N)][j];
			k[i][j] = s;
			if (s != 0.0) {
				int di = abs(i - DISK_L), dj = abs(j - DISK_L);
				int d = di > dj ? di : dj;
				if (d > half)
					half = d;
			}
		}
	return half;
}

static void defocus_blur(uint8_t *img, int64_t h, int64_t w, int64_t c, int sev, float *out)
{
	static const double par[5][2] = { { 0.3, 0.4 }, { 0.4, 0.5 }, { 0.5, 0.6 },
					  { 1.0, 0.2 }, { 1.5, 0.1 } };
	double k[DISK_N][DISK_N];
	int r = defocus_kernel(par[sev - 1][0], par[sev - 1][1], k);
	for (int64_t y = 0; y < h; y++)
		for (int64_t x = 0; x < w; x++)
			for (int64_t ch = 0; ch < c; ch++) {
				double s = 0.0;
				for (int i = -r; i <= r; i++) {
					const uint8_t *row = img + reflect101(y + i, h) * w * c;
					for (int j = -r; j <= r; j++)
						s += k[DISK_L + i][DISK_L + j] *
						     row[reflect101(x + j, w) * c + ch];
				}
				out[(y * w + x) * c + ch] = (float)s;
			}
	for (int64_t i = 0; i < h * w * c; i++)
		img[i] = round_u8(out[i]);
}

#define MOTION_MAX_TAPS 64

/* The benchmark ran ImageMagick's motion blur: taps i = 0..2*ceil(radius)
 * along the direction `angle` from the pixel, weighted by a half Gaussian
 * exp(-i^2 / (2 sigma^2)), offsets rounded to whole pixels, edge pixels
 * repeated beyond the border. The blur is one-sided, so it also shifts. */
static void motion_blur(uint8_t *img, int64_t h, int64_t w, int64_t c, int sev, rml_rng *rng,
			float *out)
{
	static const double par[5][2] = { { 6, 1 }, { 6, 1.5 }, { 6, 2 }, { 8, 2 }, { 9, 2.5 } };
	double radius = par[sev - 1][0], sigma = par[sev - 1][1];
	double angle = (-45.0 + 90.0 * rml_rng_uniform(rng)) * M_PI / 180.0;
	int taps = 2 * (int)ceil(radius) + 1;
	double kw[MOTION_MAX_TAPS], sum = 0.0;
	int64_t ox[MOTION_MAX_TAPS], oy[MOTION_MAX_TAPS];
	for (int i = 0; i < taps; i++) {
		kw[i] = exp(-(double)i * i / (2.0 * sigma * sigma));
		sum += kw[i];
		ox[i] = (int64_t)ceil(i * cos(angle) - 0.5);
		oy[i] = (int64_t)ceil(i * sin(angle) - 0.5);
	}
	for (int i = 0; i < taps; i++)
		kw[i] /= sum;
	for (int64_t y = 0; y < h; y++)
		for (int64_t x = 0; x < w; x++)
			for (int64_t ch = 0; ch < c; ch++) {
				double s = 0.0;
				for (int i = 0; i < taps; i++) {
					int64_t sy = y + oy[i], sx = x + ox[i];
					sy = sy < 0 ? 0 : sy >= h ? h - 1 : sy;
					sx = sx < 0 ? 0 : sx >= w ? w - 1 : sx;
					s += kw[i] * img[(sy * w + sx) * c + ch];
				}
				out[(y * w + x) * c + ch] = (float)s;
			}
	for (int64_t i = 0; i < h * w * c; i++)
		img[i] = round_u8(out[i]);
}

/* ---- photometric ------------------------------------------------------------ */

static void contrast(uint8_t *img, int64_t h, int64_t w, int64_t c, int sev)
{
	static const double f[5] = { 0.75, 0.5, 0.4, 0.3, 0.15 };
	double mean[3] = { 0, 0, 0 };
	for (int64_t i = 0; i < h * w; i++)
		for (int64_t ch = 0; ch < c; ch++)
			mean[ch] += img[i * c + ch];
	for (int64_t ch = 0; ch < c; ch++)
		mean[ch] /= (double)(h * w);
	for (int64_t i = 0; i < h * w; i++)
		for (int64_t ch = 0; ch < c; ch++) {
			uint8_t *p = img + i * c + ch;
			*p = round_u8((*p - mean[ch]) * f[sev - 1] + mean[ch]);
		}
}

/* RGB in [0,1] to hue (fraction of a turn), saturation, value. Ties for
 * the maximum give the same hue whichever channel is picked. */
static void rgb_to_hsv(const double rgb[3], double hsv[3])
{
	double r = rgb[0], g = rgb[1], b = rgb[2];
	double mx = fmax(r, fmax(g, b)), mn = fmin(r, fmin(g, b)), d = mx - mn;
	double hue = 0.0;
	if (d > 0.0) {
		if (mx == r)
			hue = (g - b) / d;
		else if (mx == g)
			hue = 2.0 + (b - r) / d;
		else
			hue = 4.0 + (r - g) / d;
		hue /= 6.0;
		hue -= floor(hue);
	}
	hsv[0] = hue;
	hsv[1] = mx > 0.0 ? d / mx : 0.0;
	hsv[2] = mx;
}

static void hsv_to_rgb(const double hsv[3], double rgb[3])
{
	double h6 = hsv[0] * 6.0, s = hsv[1], v = hsv[2];
	double sector = floor(h6), f = h6 - sector;
	double p = v * (1.0 - s), q = v * (1.0 - f * s), t = v * (1.0 - (1.0 - f) * s);
	switch ((int)sector % 6) {
	case 0: rgb[0] = v; rgb[1] = t; rgb[2] = p; break;
	case 1: rgb[0] = q; rgb[1] = v; rgb[2] = p; break;
	case 2: rgb[0] = p; rgb[1] = v; rgb[2] = t; break;
	case 3: rgb[0] = p; rgb[1] = q; rgb[2] = v; break;
	case 4: rgb[0] = t; rgb[1] = p; rgb[2] = v; break;
	default: rgb[0] = v; rgb[1] = p; rgb[2] = q; break;
	}
}

static void brightness(uint8_t *img, int64_t h, int64_t w, int64_t c, int sev)
{
	static const double add[5] = { 0.05, 0.1, 0.15, 0.2, 0.3 };
	double a = add[sev - 1];
	for (int64_t i = 0; i < h * w; i++) {
		uint8_t *p = img + i * c;
		if (c == 1) {
			/* A grey pixel's HSV value is the pixel itself. */
			p[0] = round_u8(255.0 * fmin(p[0] / 255.0 + a, 1.0));
			continue;
		}
		double rgb[3] = { p[0] / 255.0, p[1] / 255.0, p[2] / 255.0 }, hsv[3];
		rgb_to_hsv(rgb, hsv);
		hsv[2] = fmin(hsv[2] + a, 1.0);
		hsv_to_rgb(hsv, rgb);
		for (int k = 0; k < 3; k++)
			p[k] = round_u8(255.0 * rgb[k]);
	}
}

/* ---- fog ---------------------------------------------------------------------- */

rml_status rml_plasma_fractal(float *map, int64_t size, double decay, rml_rng *rng,
			      rml_error *err)
{
	if (size < 2 || size > ((int64_t)1 << 16) || (size & (size - 1)))
		return rml_errorf(err, RML_ERR_ARG,
				  "plasma fractal size %lld is not a power of two in 2..65536",
				  (long long)size);
	if (!(decay > 0.0) || !isfinite(decay))
		return rml_errorf(err, RML_ERR_ARG, "plasma fractal decay must be positive");
	if (!map || !rng)
		return rml_errorf(err, RML_ERR_ARG, "plasma fractal: NULL map or generator");
	const int64_t n = size, msk = size - 1;
#define M(i, j) map[((i) & msk) * n + ((j) & msk)]
	M(0, 0) = 0.0f;
	double wibble = 100.0;
	for (int64_t step = n; step >= 2; step /= 2) {
		int64_t half = step / 2;
		/* The benchmark's wibbled mean: a quarter of the four-point sum
		 * plus wibble * U(-wibble, wibble), on a torus. */
#define WIBBLE(sum) (float)((sum) / 4.0 + wibble * (2.0 * rml_rng_uniform(rng) - 1.0) * wibble)
		/* Squares: centres from their four corners. */
		for (int64_t i = 0; i < n; i += step)
			for (int64_t j = 0; j < n; j += step) {
				double s = (double)M(i, j) + M(i + step, j) + M(i, j + step) +
					   M(i + step, j + step);
				M(i + half, j + half) = WIBBLE(s);
			}
		/* Diamonds on the grid rows, then on the centre rows. */
		for (int64_t i = 0; i < n; i += step)
			for (int64_t j = 0; j < n; j += step) {
				double s = (double)M(i + half, j + half) + M(i - half, j + half) +
					   M(i, j) + M(i, j + step);
				M(i, j + half) = WIBBLE(s);
			}
		for (int64_t i = 0; i < n; i += step)
			for (int64_t j = 0; j < n; j += step) {
				double s = (double)M(i + half, j + half) + M(i + half, j - half) +
					   M(i, j) + M(i + step, j);
				M(i + half, j) = WIBBLE(s);
			}
#undef WIBBLE
		wibble /= decay;
	}
#undef M
	float lo = map[0], hi = map[0];
	for (int64_t i = 0; i < n * n; i++) {
		lo = map[i] < lo ? map[i] : lo;
		hi = map[i] > hi ? map[i] : hi;
	}
	float range = hi - lo;
	for (int64_t i = 0; i < n * n; i++)
		map[i] = range > 0.0f ? (map[i] - lo) / range : 0.0f;
	return RML_OK;
}

static rml_status fog(uint8_t *img, int64_t h, int64_t w, int64_t c, int sev, rml_rng *rng,
		      float *map, rml_error *err)
{
	static const double par[5][2] = { { 0.2, 3 }, { 0.5, 3 }, { 0.75, 2.5 }, { 1, 2 },
					  { 1.5, 1.75 } };
	double amount = par[sev - 1][0];
	int64_t ms = fog_mapsize(h, w);
	rml_status st = rml_plasma_fractal(map, ms, par[sev - 1][1], rng, err);
	if (st != RML_OK)
		return st;
	uint8_t top = 0;
	for (int64_t i = 0; i < h * w * c; i++)
		top = img[i] > top ? img[i] : top;
	double mx = top / 255.0, gain = mx / (mx + amount);
	for (int64_t y = 0; y < h; y++)
		for (int64_t x = 0; x < w; x++)
			for (int64_t ch = 0; ch < c; ch++) {
				uint8_t *p = img + (y * w + x) * c + ch;
				double v = (*p / 255.0 + amount * map[y * ms + x]) * gain;
				*p = round_u8(255.0 * fmin(fmax(v, 0.0), 1.0));
			}
	return RML_OK;
}

/* ---- pixelate --------------------------------------------------------------- */

/* Pillow's 8-bit resampling: coefficients in fixed point with 22
 * fraction bits, rounded sums, results clipped. */
#define PIL_PRECISION 22

/* One pass of Pillow's BOX resampling along an axis of `in_n` samples to
 * `out_n`: `src` holds `lines` lines of in_n samples (each of `c`
 * channels) with line stride ls_in / sample stride ss_in; same for dst. */
static void box_pass(const float *src, float *dst, int64_t lines, int64_t in_n, int64_t out_n,
		     int64_t c, int64_t ls_in, int64_t ss_in, int64_t ls_out, int64_t ss_out)
{
	double scale = (double)in_n / (double)out_n;
	double fscale = scale < 1.0 ? 1.0 : scale, support = 0.5 * fscale, ss = 1.0 / fscale;
	for (int64_t o = 0; o < out_n; o++) {
		double center = (o + 0.5) * scale;
		int64_t lo = (int64_t)(center - support + 0.5), hi = (int64_t)(center + support + 0.5);
		lo = lo < 0 ? 0 : lo;
		hi = hi > in_n ? in_n : hi;
		/* Box weights: 1 for samples whose centre lies in the window. */
		double wsum = 0.0;
		for (int64_t x = lo; x < hi; x++) {
			double t = (x - center + 0.5) * ss;
			wsum += (t > -0.5 && t <= 0.5) ? 1.0 : 0.0;
		}
		for (int64_t l = 0; l < lines; l++)
			for (int64_t ch = 0; ch < c; ch++) {
				int64_t acc = (int64_t)1 << (PIL_PRECISION - 1);
				for (int64_t x = lo; x < hi; x++) {
					double t = (x - center + 0.5) * ss;
					if (!(t > -0.5 && t <= 0.5) || wsum == 0.0)
						continue;
					int64_t kf = (int64_t)(0.5 + (1.0 / wsum) *
								     (double)((int64_t)1 << PIL_PRECISION));
					acc += (int64_t)src[l * ls_in + x * ss_in + ch] * kf;
				}
				acc >>= PIL_PRECISION;
				dst[l * ls_out + o * ss_out + ch] =
					(float)(acc < 0 ? 0 : acc > 255 ? 255 : acc);
			}
	}
}

static void pixelate(uint8_t *img, int64_t h, int64_t w, int64_t c, int sev, float *scratch)
{
	static const double f[5] = { 0.95, 0.9, 0.85, 0.75, 0.65 };
	int64_t sh = (int64_t)(h * f[sev - 1]), sw = (int64_t)(w * f[sev - 1]);
	sh = sh < 1 ? 1 : sh;
	sw = sw < 1 ? 1 : sw;
	int64_t n = h * w * c;
	/* Down to sh x sw and back up, each resize horizontal first as
	 * Pillow does. Two planes of n floats suffice: every pass reads one
	 * plane and writes the other, and no intermediate exceeds n. */
	float *a = scratch, *b = scratch + n;
	for (int64_t i = 0; i < n; i++)
		a[i] = img[i];
	box_pass(a, b, h, w, sw, c, w * c, c, sw * c, c);      /* [h,sw]  */
	box_pass(b, a, sw, h, sh, c, c, sw * c, c, sw * c);    /* [sh,sw] */
	box_pass(a, b, sh, sw, w, c, sw * c, c, w * c, c);     /* [sh,w]  */
	box_pass(b, a, w, sh, h, c, c, w * c, c, w * c);       /* [h,w]   */
	for (int64_t i = 0; i < n; i++)
		img[i] = (uint8_t)a[i];
}

/* ---- JPEG ---------------------------------------------------------------------- */

typedef struct {
	unsigned char *buf;
	size_t len, cap;
	int failed;
} membuf;

static void membuf_write(void *ctx, void *data, int size)
{
	membuf *m = ctx;
	if (m->failed || size <= 0)
		return;
	if (m->len + (size_t)size > m->cap) {
		size_t cap = m->cap ? m->cap : 4096;
		while (cap < m->len + (size_t)size)
			cap *= 2;
		unsigned char *nb = realloc(m->buf, cap);
		if (!nb) {
			m->failed = 1;
			return;
		}
		m->buf = nb;
		m->cap = cap;
	}
	memcpy(m->buf + m->len, data, (size_t)size);
	m->len += (size_t)size;
}

rml_status rml_jpeg_roundtrip(uint8_t *img, int64_t h, int64_t w, int64_t c, int quality,
			      rml_error *err)
{
	rml_status st = rml_aug_check_shape(h, w, c, err);
	if (st != RML_OK)
		return st;
	if (quality < 1 || quality > 100)
		return rml_errorf(err, RML_ERR_ARG, "JPEG quality %d out of range 1..100", quality);
	if (!img)
		return rml_errorf(err, RML_ERR_ARG, "image buffer is NULL");
	membuf m = { NULL, 0, 0, 0 };
	int ok = stbi_write_jpg_to_func(membuf_write, &m, (int)w, (int)h, (int)c, img, quality);
	if (m.failed) {
		free(m.buf);
		return rml_errorf(err, RML_ERR_NOMEM, "out of memory encoding a JPEG");
	}
	if (!ok || m.len == 0 || m.len > INT_MAX) {
		free(m.buf);
		return rml_errorf(err, RML_ERR_FORMAT, "JPEG encoding of a %lldx%lld image failed",
				  (long long)h, (long long)w);
	}
	int dw = 0, dh = 0, dc = 0;
	unsigned char *dec = stbi_load_from_memory(m.buf, (int)m.len, &dw, &dh, &dc, (int)c);
	free(m.buf);
	if (!dec)
		return rml_errorf(err, RML_ERR_FORMAT, "decoding the JPEG round trip failed: %s",
				  stbi_failure_reason());
	if (dw != w || dh != h) {
		stbi_image_free(dec);
		return rml_errorf(err, RML_ERR_FORMAT,
				  "JPEG round trip changed the size from %lldx%lld to %dx%d",
				  (long long)h, (long long)w, dh, dw);
	}
	memcpy(img, dec, (size_t)(h * w * c));
	stbi_image_free(dec);
	return RML_OK;
}

/* ---- dispatch ----------------------------------------------------------------- */

static rml_status check_args(rml_corruption kind, int severity, int64_t h, int64_t w,
			     int64_t c, rml_error *err)
{
	if ((int)kind < 0 || kind >= RML_CORRUPT_COUNT)
		return rml_errorf(err, RML_ERR_ARG, "unknown corruption %d", (int)kind);
	if (severity < 1 || severity > RML_CORRUPT_MAX_SEVERITY)
		return rml_errorf(err, RML_ERR_ARG, "corruption severity %d out of range 1..%d",
				  severity, RML_CORRUPT_MAX_SEVERITY);
	return rml_aug_check_shape(h, w, c, err);
}

static rml_status corrupt_one(rml_corruption kind, int sev, uint8_t *img, int64_t h,
			      int64_t w, int64_t c, rml_rng *rng, float *scratch, rml_error *err)
{
	int64_t n = h * w * c;
	switch (kind) {
	case RML_CORRUPT_GAUSSIAN_NOISE:
		gaussian_noise(img, n, sev, rng);
		return RML_OK;
	case RML_CORRUPT_SHOT_NOISE:
		shot_noise(img, n, sev, rng);
		return RML_OK;
	case RML_CORRUPT_IMPULSE_NOISE:
		impulse_noise(img, n, sev, rng);
		return RML_OK;
	case RML_CORRUPT_DEFOCUS_BLUR:
		defocus_blur(img, h, w, c, sev, scratch);
		return RML_OK;
	case RML_CORRUPT_MOTION_BLUR:
		motion_blur(img, h, w, c, sev, rng, scratch);
		return RML_OK;
	case RML_CORRUPT_CONTRAST:
		contrast(img, h, w, c, sev);
		return RML_OK;
	case RML_CORRUPT_BRIGHTNESS:
		brightness(img, h, w, c, sev);
		return RML_OK;
	case RML_CORRUPT_FOG:
		return fog(img, h, w, c, sev, rng, scratch, err);
	case RML_CORRUPT_PIXELATE:
		pixelate(img, h, w, c, sev, scratch);
		return RML_OK;
	case RML_CORRUPT_JPEG: {
		static const int quality[5] = { 80, 65, 58, 50, 40 };
		return rml_jpeg_roundtrip(img, h, w, c, quality[sev - 1], err);
	}
	default:
		break;
	}
	return rml_errorf(err, RML_ERR_ARG, "unknown corruption %d", (int)kind);
}

rml_status rml_corrupt_apply(rml_corruption kind, int severity, uint8_t *img, int64_t h,
			     int64_t w, int64_t c, rml_rng *rng, float *scratch, rml_error *err)
{
	rml_status st = check_args(kind, severity, h, w, c, err);
	if (st != RML_OK)
		return st;
	if (!img || !rng || !scratch)
		return rml_errorf(err, RML_ERR_ARG, "corruption: NULL image, generator or scratch");
	return corrupt_one(kind, severity, img, h, w, c, rng, scratch, err);
}

rml_status rml_corrupt_images(rml_corruption kind, int severity, uint8_t *images, int64_t n,
			      int64_t h, int64_t w, int64_t c, uint64_t seed, rml_error *err)
{
	rml_status st = check_args(kind, severity, h, w, c, err);
	if (st != RML_OK)
		return st;
	if (n < 0)
		return rml_errorf(err, RML_ERR_ARG, "negative image count %lld", (long long)n);
	if (n == 0)
		return RML_OK;
	if (!images)
		return rml_errorf(err, RML_ERR_ARG, "corruption: NULL images");
	int nt = omp_get_max_threads();
	if (nt > n)
		nt = (int)n;
	size_t per = rml_corrupt_scratch_size(h, w, c);
	float *scratch = malloc((size_t)nt * per * sizeof(float));
	if (!scratch)
		return rml_errorf(err, RML_ERR_NOMEM, "out of memory for corruption scratch (%zu bytes)",
				  (size_t)nt * per * sizeof(float));
	int64_t first_bad = n;
	rml_error bad_err = { RML_OK, "" };
	const int64_t stride = h * w * c;
#pragma omp parallel num_threads(nt)
	{
		float *mine = scratch + (size_t)omp_get_thread_num() * per;
		rml_error e = { RML_OK, "" };
#pragma omp for schedule(static)
		for (int64_t i = 0; i < n; i++) {
			int64_t seen;
#pragma omp atomic read
			seen = first_bad;
			/* Images past a known failure are skipped; those before it
			 * still run, so the lowest failing index is the one kept. */
			if (i > seen)
				continue;
			rml_rng rng;
			rml_rng_seed_stream(&rng, seed, (uint64_t)i);
			if (corrupt_one(kind, severity, images + i * stride, h, w, c, &rng, mine, &e) !=
			    RML_OK) {
#pragma omp critical(rml_corrupt_error)
				{
					if (i < first_bad) {
						bad_err = e;
#pragma omp atomic write
						first_bad = i;
					}
				}
			}
		}
	}
	free(scratch);
	if (first_bad < n) {
		if (err)
			*err = bad_err;
		return bad_err.code;
	}
	return RML_OK;
}
