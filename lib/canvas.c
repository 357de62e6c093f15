/*
 * canvas.c — RGB drawing and PNG output (see canvas.h). Deliberately
 * small: rectangles, lines, a 5x7 bitmap font, image pasting and one kind
 * of plot; enough for contact sheets, reliability diagrams and curves.
 */
#include "canvas.h"

#include <errno.h>
#include <math.h>
#include <png.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Rows of the printable ASCII glyphs 32..126, 5 bits each, top first. */
static const uint8_t font5x7[95][7] = {
	{ 0x00,0x00,0x00,0x00,0x00,0x00,0x00 }, /*   */
	{ 0x04,0x04,0x04,0x04,0x04,0x00,0x04 }, /* ! */
	{ 0x0a,0x0a,0x00,0x00,0x00,0x00,0x00 }, /* " */
	{ 0x0a,0x1f,0x0a,0x0a,0x1f,0x0a,0x00 }, /* # */
	{ 0x04,0x0f,0x14,0x0e,0x05,0x1e,0x04 }, /* $ */
	{ 0x19,0x1a,0x02,0x04,0x08,0x0b,0x13 }, /* % */
	{ 0x0c,0x12,0x14,0x08,0x15,0x12,0x0d }, /* & */
	{ 0x04,0x04,0x00,0x00,0x00,0x00,0x00 }, /* ' */
	{ 0x02,0x04,0x08,0x08,0x08,0x04,0x02 }, /* ( */
	{ 0x08,0x04,0x02,0x02,0x02,0x04,0x08 }, /* ) */
	{ 0x00,0x04,0x15,0x0e,0x15,0x04,0x00 }, /* * */
	{ 0x00,0x04,0x04,0x1f,0x04,0x04,0x00 }, /* + */
	{ 0x00,0x00,0x00,0x00,0x06,0x04,0x08 }, /* , */
	{ 0x00,0x00,0x00,0x1f,0x00,0x00,0x00 }, /* - */
	{ 0x00,0x00,0x00,0x00,0x00,0x06,0x06 }, /* . */
	{ 0x01,0x02,0x02,0x04,0x08,0x08,0x10 }, /* / */
	{ 0x0e,0x11,0x13,0x15,0x19,0x11,0x0e }, /* 0 */
	{ 0x04,0x0c,0x04,0x04,0x04,0x04,0x0e }, /* 1 */
	{ 0x0e,0x11,0x01,0x02,0x04,0x08,0x1f }, /* 2 */
	{ 0x1e,0x01,0x01,0x0e,0x01,0x01,0x1e }, /* 3 */
	{ 0x02,0x06,0x0a,0x12,0x1f,0x02,0x02 }, /* 4 */
	{ 0x1f,0x10,0x1e,0x01,0x01,0x11,0x0e }, /* 5 */
	{ 0x06,0x08,0x10,0x1e,0x11,0x11,0x0e }, /* 6 */
	{ 0x1f,0x01,0x02,0x04,0x08,0x08,0x08 }, /* 7 */
	{ 0x0e,0x11,0x11,0x0e,0x11,0x11,0x0e }, /* 8 */
	{ 0x0e,0x11,0x11,0x0f,0x01,0x02,0x0c }, /* 9 */
	{ 0x00,0x06,0x06,0x00,0x06,0x06,0x00 }, /* : */
	{ 0x00,0x06,0x06,0x00,0x06,0x04,0x08 }, /* ; */
	{ 0x02,0x04,0x08,0x10,0x08,0x04,0x02 }, /* < */
	{ 0x00,0x00,0x1f,0x00,0x1f,0x00,0x00 }, /* = */
	{ 0x08,0x04,0x02,0x01,0x02,0x04,0x08 }, /* > */
	{ 0x0e,0x11,0x01,0x02,0x04,0x00,0x04 }, /* ? */
	{ 0x0e,0x11,0x17,0x15,0x17,0x10,0x0e }, /* @ */
	{ 0x0e,0x11,0x11,0x1f,0x11,0x11,0x11 }, /* A */
	{ 0x1e,0x11,0x11,0x1e,0x11,0x11,0x1e }, /* B */
	{ 0x0e,0x11,0x10,0x10,0x10,0x11,0x0e }, /* C */
	{ 0x1c,0x12,0x11,0x11,0x11,0x12,0x1c }, /* D */
	{ 0x1f,0x10,0x10,0x1e,0x10,0x10,0x1f }, /* E */
	{ 0x1f,0x10,0x10,0x1e,0x10,0x10,0x10 }, /* F */
	{ 0x0e,0x11,0x10,0x17,0x11,0x11,0x0f }, /* G */
	{ 0x11,0x11,0x11,0x1f,0x11,0x11,0x11 }, /* H */
	{ 0x0e,0x04,0x04,0x04,0x04,0x04,0x0e }, /* I */
	{ 0x07,0x02,0x02,0x02,0x02,0x12,0x0c }, /* J */
	{ 0x11,0x12,0x14,0x18,0x14,0x12,0x11 }, /* K */
	{ 0x10,0x10,0x10,0x10,0x10,0x10,0x1f }, /* L */
	{ 0x11,0x1b,0x15,0x15,0x11,0x11,0x11 }, /* M */
	{ 0x11,0x11,0x19,0x15,0x13,0x11,0x11 }, /* N */
	{ 0x0e,0x11,0x11,0x11,0x11,0x11,0x0e }, /* O */
	{ 0x1e,0x11,0x11,0x1e,0x10,0x10,0x10 }, /* P */
	{ 0x0e,0x11,0x11,0x11,0x15,0x12,0x0d }, /* Q */
	{ 0x1e,0x11,0x11,0x1e,0x14,0x12,0x11 }, /* R */
	{ 0x0f,0x10,0x10,0x0e,0x01,0x01,0x1e }, /* S */
	{ 0x1f,0x04,0x04,0x04,0x04,0x04,0x04 }, /* T */
	{ 0x11,0x11,0x11,0x11,0x11,0x11,0x0e }, /* U */
	{ 0x11,0x11,0x11,0x11,0x11,0x0a,0x04 }, /* V */
	{ 0x11,0x11,0x11,0x15,0x15,0x15,0x0a }, /* W */
	{ 0x11,0x11,0x0a,0x04,0x0a,0x11,0x11 }, /* X */
	{ 0x11,0x11,0x11,0x0a,0x04,0x04,0x04 }, /* Y */
	{ 0x1f,0x01,0x02,0x04,0x08,0x10,0x1f }, /* Z */
	{ 0x0e,0x08,0x08,0x08,0x08,0x08,0x0e }, /* [ */
	{ 0x10,0x08,0x08,0x04,0x02,0x02,0x01 }, /* \\ */
	{ 0x0e,0x02,0x02,0x02,0x02,0x02,0x0e }, /* ] */
	{ 0x04,0x0a,0x11,0x00,0x00,0x00,0x00 }, /* ^ */
	{ 0x00,0x00,0x00,0x00,0x00,0x00,0x1f }, /* _ */
	{ 0x08,0x04,0x00,0x00,0x00,0x00,0x00 }, /* ` */
	{ 0x00,0x00,0x0e,0x01,0x0f,0x11,0x0f }, /* a */
	{ 0x10,0x10,0x16,0x19,0x11,0x11,0x1e }, /* b */
	{ 0x00,0x00,0x0e,0x10,0x10,0x11,0x0e }, /* c */
	{ 0x01,0x01,0x0d,0x13,0x11,0x11,0x0f }, /* d */
	{ 0x00,0x00,0x0e,0x11,0x1f,0x10,0x0e }, /* e */
	{ 0x06,0x09,0x08,0x1c,0x08,0x08,0x08 }, /* f */
	{ 0x00,0x0f,0x11,0x11,0x0f,0x01,0x0e }, /* g */
	{ 0x10,0x10,0x16,0x19,0x11,0x11,0x11 }, /* h */
	{ 0x04,0x00,0x0c,0x04,0x04,0x04,0x0e }, /* i */
	{ 0x02,0x00,0x06,0x02,0x02,0x12,0x0c }, /* j */
	{ 0x10,0x10,0x12,0x14,0x18,0x14,0x12 }, /* k */
	{ 0x0c,0x04,0x04,0x04,0x04,0x04,0x0e }, /* l */
	{ 0x00,0x00,0x1a,0x15,0x15,0x11,0x11 }, /* m */
	{ 0x00,0x00,0x16,0x19,0x11,0x11,0x11 }, /* n */
	{ 0x00,0x00,0x0e,0x11,0x11,0x11,0x0e }, /* o */
	{ 0x00,0x00,0x1e,0x11,0x1e,0x10,0x10 }, /* p */
	{ 0x00,0x00,0x0d,0x13,0x0f,0x01,0x01 }, /* q */
	{ 0x00,0x00,0x16,0x19,0x10,0x10,0x10 }, /* r */
	{ 0x00,0x00,0x0e,0x10,0x0e,0x01,0x1e }, /* s */
	{ 0x08,0x08,0x1c,0x08,0x08,0x09,0x06 }, /* t */
	{ 0x00,0x00,0x11,0x11,0x11,0x13,0x0d }, /* u */
	{ 0x00,0x00,0x11,0x11,0x11,0x0a,0x04 }, /* v */
	{ 0x00,0x00,0x11,0x11,0x15,0x15,0x0a }, /* w */
	{ 0x00,0x00,0x11,0x0a,0x04,0x0a,0x11 }, /* x */
	{ 0x00,0x00,0x11,0x11,0x0f,0x01,0x0e }, /* y */
	{ 0x00,0x00,0x1f,0x02,0x04,0x08,0x1f }, /* z */
	{ 0x02,0x04,0x04,0x08,0x04,0x04,0x02 }, /* { */
	{ 0x04,0x04,0x04,0x04,0x04,0x04,0x04 }, /* | */
	{ 0x08,0x04,0x04,0x02,0x04,0x04,0x08 }, /* } */
	{ 0x00,0x00,0x08,0x15,0x02,0x00,0x00 }, /* ~ */
};

rml_status rml_canvas_init(rml_canvas *c, int w, int h, uint32_t rgb, rml_error *err)
{
	c->w = c->h = 0;
	c->px = NULL;
	if (w <= 0 || h <= 0 || w > 32768 || h > 32768)
		return rml_errorf(err, RML_ERR_LIMIT, "a %dx%d picture is beyond the limits", w, h);
	c->px = malloc((size_t)w * h * 3);
	if (!c->px)
		return rml_errorf(err, RML_ERR_NOMEM, "out of memory for a %dx%d picture", w, h);
	c->w = w;
	c->h = h;
	rml_canvas_rect(c, 0, 0, w, h, rgb);
	return RML_OK;
}

void rml_canvas_free(rml_canvas *c)
{
	free(c->px);
	c->px = NULL;
	c->w = c->h = 0;
}

void rml_canvas_fill(rml_canvas *c, uint32_t rgb)
{
	rml_canvas_rect(c, 0, 0, c->w, c->h, rgb);
}

static inline void put_px(rml_canvas *c, int x, int y, uint32_t rgb)
{
	if (x < 0 || y < 0 || x >= c->w || y >= c->h)
		return;
	uint8_t *p = c->px + ((size_t)y * c->w + x) * 3;
	p[0] = (uint8_t)(rgb >> 16);
	p[1] = (uint8_t)(rgb >> 8);
	p[2] = (uint8_t)rgb;
}

void rml_canvas_rect(rml_canvas *c, int x, int y, int w, int h, uint32_t rgb)
{
	/* Clip in 64 bits so that far-off coordinates from plots cannot overflow. */
	int64_t x0 = x < 0 ? 0 : x, y0 = y < 0 ? 0 : y;
	int64_t x1 = (int64_t)x + w, y1 = (int64_t)y + h;
	if (x1 > c->w)
		x1 = c->w;
	if (y1 > c->h)
		y1 = c->h;
	for (int64_t j = y0; j < y1; j++)
		for (int64_t i = x0; i < x1; i++)
			put_px(c, (int)i, (int)j, rgb);
}

void rml_canvas_line(rml_canvas *c, int x0, int y0, int x1, int y1, int thick, uint32_t rgb)
{
	int dx = abs(x1 - x0), dy = -abs(y1 - y0);
	int sx = x0 < x1 ? 1 : -1, sy = y0 < y1 ? 1 : -1, e = dx + dy;
	int r = thick > 1 ? thick / 2 : 0;
	for (int guard = 0; guard < 1 << 20; guard++) {
		rml_canvas_rect(c, x0 - r, y0 - r, thick > 0 ? thick : 1, thick > 0 ? thick : 1, rgb);
		if (x0 == x1 && y0 == y1)
			break;
		int e2 = 2 * e;
		if (e2 >= dy) {
			e += dy;
			x0 += sx;
		}
		if (e2 <= dx) {
			e += dx;
			y0 += sy;
		}
	}
}

int rml_canvas_text_width(const char *s, int scale)
{
	return (int)strlen(s) * 6 * scale;
}

int rml_canvas_text(rml_canvas *c, int x, int y, const char *s, int scale, uint32_t rgb)
{
	int x0 = x;
	for (; *s; s++) {
		unsigned ch = (unsigned char)*s;
		if (ch < 32 || ch > 126)
			ch = '?';
		const uint8_t *g = font5x7[ch - 32];
		for (int row = 0; row < 7; row++)
			for (int col = 0; col < 5; col++)
				if (g[row] & (0x10 >> col))
					rml_canvas_rect(c, x + col * scale, y + row * scale, scale, scale, rgb);
		x += 6 * scale;
	}
	return x - x0;
}

void rml_canvas_image(rml_canvas *c, int x, int y, const uint8_t *img, int h, int w, int ch,
		      int scale)
{
	for (int j = 0; j < h; j++)
		for (int i = 0; i < w; i++) {
			const uint8_t *p = img + ((size_t)j * w + i) * ch;
			uint32_t rgb = ch >= 3 ? (uint32_t)p[0] << 16 | (uint32_t)p[1] << 8 | p[2]
					       : (uint32_t)p[0] * 0x010101u;
			rml_canvas_rect(c, x + i * scale, y + j * scale, scale, scale, rgb);
		}
}

/* libpng prints its errors unless told otherwise; the library does not
 * print, so the text is kept for the message and the write unwinds. */
static void png_fail(png_structp png, png_const_charp msg)
{
	char *why = png_get_error_ptr(png);
	if (why)
		snprintf(why, 128, "%s", msg);
	png_longjmp(png, 1);
}

static void png_quiet(png_structp png, png_const_charp msg)
{
	(void)png;
	(void)msg;
}

rml_status rml_canvas_write_png(const rml_canvas *c, FILE *fp, rml_error *err)
{
	char why[128] = "";
	png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, why, png_fail, png_quiet);
	png_infop info = png ? png_create_info_struct(png) : NULL;
	png_bytep *rows = malloc((size_t)c->h * sizeof *rows);
	if (!png || !info || !rows) {
		png_destroy_write_struct(&png, &info);
		free(rows);
		return rml_errorf(err, RML_ERR_NOMEM, "out of memory writing PNG");
	}
	if (setjmp(png_jmpbuf(png))) {
		png_destroy_write_struct(&png, &info);
		free(rows);
		return rml_errorf(err, RML_ERR_IO, "error writing PNG%s%s", why[0] ? ": " : "", why);
	}
	png_init_io(png, fp);
	png_set_IHDR(png, info, (png_uint_32)c->w, (png_uint_32)c->h, 8, PNG_COLOR_TYPE_RGB,
		     PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
	png_write_info(png, info);
	for (int j = 0; j < c->h; j++)
		rows[j] = c->px + (size_t)j * c->w * 3;
	png_write_image(png, rows);
	png_write_end(png, NULL);
	png_destroy_write_struct(&png, &info);
	free(rows);
	if (fflush(fp) != 0)
		return rml_errorf(err, RML_ERR_IO, "error writing PNG: %s", strerror(errno));
	return RML_OK;
}

/* The writer's message with the file it was writing, e.g. /dev/full. */
static rml_status named(rml_status st, const char *path, rml_error *err)
{
	if (st && err) {
		char msg[sizeof err->msg];
		snprintf(msg, sizeof msg, "%s", err->msg);
		rml_errorf(err, st, "%s: %s", strcmp(path, "-") ? path : "standard output", msg);
	}
	return st;
}

rml_status rml_canvas_save_png(const rml_canvas *c, const char *path, rml_error *err)
{
	if (strcmp(path, "-") == 0)
		return named(rml_canvas_write_png(c, stdout, err), path, err);
	struct stat sb;
	if (stat(path, &sb) == 0 && !S_ISREG(sb.st_mode)) {  /* a device or FIFO */
		FILE *fp = fopen(path, "wb");
		if (!fp)
			return rml_errorf(err, RML_ERR_IO, "%s: %s", path, strerror(errno));
		rml_status st = named(rml_canvas_write_png(c, fp, err), path, err);
		if (fclose(fp) != 0 && !st)
			st = rml_errorf(err, RML_ERR_IO, "%s: %s", path, strerror(errno));
		return st;
	}
	size_t n = strlen(path) + 16;
	char *tmp = malloc(n);
	if (!tmp)
		return rml_errorf(err, RML_ERR_NOMEM, "out of memory");
	snprintf(tmp, n, "%s.XXXXXX", path);
	int fd = mkstemp(tmp);
	if (fd < 0) {
		rml_status st = rml_errorf(err, RML_ERR_IO, "%s: cannot create: %s", path, strerror(errno));
		free(tmp);
		return st;
	}
	mode_t um = umask(0);
	umask(um);
	fchmod(fd, 0666 & ~um);
	FILE *fp = fdopen(fd, "wb");
	rml_status st = fp ? named(rml_canvas_write_png(c, fp, err), path, err)
			   : rml_errorf(err, RML_ERR_IO, "%s", path);
	if (fp && fclose(fp) != 0 && !st)
		st = rml_errorf(err, RML_ERR_IO, "%s: %s", path, strerror(errno));
	if (!fp)
		close(fd);
	if (!st && rename(tmp, path) != 0)
		st = rml_errorf(err, RML_ERR_IO, "%s: %s", path, strerror(errno));
	if (st)
		unlink(tmp);
	free(tmp);
	return st;
}

rml_status rml_plot_png(const char *path, const char *title, const char *xlabel,
			const char *ylabel, const rml_series *s, int n_series, double xmin,
			double xmax, double ymin, double ymax, rml_error *err)
{
	return rml_plot_png_xticks(path, title, xlabel, ylabel, s, n_series, xmin, xmax, ymin, ymax,
				   NULL, NULL, 0, err);
}

rml_status rml_plot_png_xticks(const char *path, const char *title, const char *xlabel,
			       const char *ylabel, const rml_series *s, int n_series, double xmin,
			       double xmax, double ymin, double ymax, const double *xticks,
			       const char *const *xlabels, int n_xticks, rml_error *err)
{
	const int W = 720, H = 480, L = 80, R = 170, T = 40, B = 60;
	rml_canvas c;
	rml_status st = rml_canvas_init(&c, W, H, 0xffffff, err);
	if (st)
		return st;
	if (!(xmax > xmin))
		xmax = xmin + 1;
	if (!(ymax > ymin))
		ymax = ymin + 1;
	int pw = W - L - R, ph = H - T - B;
#define PX(v) (L + (int)lround(((v) - xmin) / (xmax - xmin) * pw))
#define PY(v) (T + ph - (int)lround(((v) - ymin) / (ymax - ymin) * ph))
	for (int i = 0; i <= 5; i++) {  /* grid and ticks */
		double yv = ymin + (ymax - ymin) * i / 5;
		char lab[32];
		rml_canvas_line(&c, L, PY(yv), L + pw, PY(yv), 1, 0xe0e0e0);
		snprintf(lab, sizeof lab, "%.3g", yv);
		rml_canvas_text(&c, L - 8 - rml_canvas_text_width(lab, 1), PY(yv) - 3, lab, 1, 0x000000);
	}
	for (int i = 0; i < (n_xticks > 0 ? n_xticks : 6); i++) {
		double xv = n_xticks > 0 ? xticks[i] : xmin + (xmax - xmin) * i / 5;
		char num[32];
		const char *lab = n_xticks > 0 && xlabels && xlabels[i] ? xlabels[i] : num;
		if (n_xticks > 0 && !(xv >= xmin && xv <= xmax))
			continue;  /* a given tick off the axis; the default grid always draws */
		snprintf(num, sizeof num, "%.3g", xv);
		rml_canvas_line(&c, PX(xv), T, PX(xv), T + ph, 1, 0xe0e0e0);
		rml_canvas_text(&c, PX(xv) - rml_canvas_text_width(lab, 1) / 2, T + ph + 8, lab, 1, 0x000000);
	}
	rml_canvas_line(&c, L, T + ph, L + pw, T + ph, 1, 0x000000);
	rml_canvas_line(&c, L, T, L, T + ph, 1, 0x000000);
	rml_canvas_text(&c, L, 12, title, 2, 0x000000);
	rml_canvas_text(&c, L + pw / 2 - rml_canvas_text_width(xlabel, 1) / 2, H - 24, xlabel, 1, 0x000000);
	rml_canvas_text(&c, 8, T - 14, ylabel, 1, 0x000000);
	for (int k = 0; k < n_series; k++) {
		const rml_series *sr = &s[k];
		for (int i = 0; i < sr->n; i++) {
			if (!isfinite(sr->x[i]) || !isfinite(sr->y[i]))
				continue;
			double yc = fmin(ymax, fmax(ymin, sr->y[i]));
			if (sr->bars) {
				double bw = sr->n > 1 ? (xmax - xmin) / sr->n : (xmax - xmin);
				int x0 = PX(sr->x[i] - bw / 2) + 1, x1 = PX(sr->x[i] + bw / 2) - 1;
				int y0 = PY(yc), y1 = PY(fmax(ymin, 0));
				rml_canvas_rect(&c, x0, y0 < y1 ? y0 : y1, x1 - x0, abs(y1 - y0), sr->rgb);
			} else {
				rml_canvas_rect(&c, PX(sr->x[i]) - 2, PY(yc) - 2, 5, 5, sr->rgb);
				if (i > 0 && isfinite(sr->x[i - 1]) && isfinite(sr->y[i - 1]))
					rml_canvas_line(&c, PX(sr->x[i - 1]),
							PY(fmin(ymax, fmax(ymin, sr->y[i - 1]))), PX(sr->x[i]),
							PY(yc), 2, sr->rgb);
			}
		}
		rml_canvas_rect(&c, L + pw + 16, T + 10 + 18 * k, 12, 8, sr->rgb);
		rml_canvas_text(&c, L + pw + 34, T + 10 + 18 * k, sr->label, 1, 0x000000);
	}
#undef PX
#undef PY
	st = rml_canvas_save_png(&c, path, err);
	rml_canvas_free(&c);
	return st;
}
