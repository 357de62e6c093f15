/*
 * test_canvas.c — the drawing surface and its PNG output: clipping of
 * rectangles and lines, the glyphs of the built-in font, pasting images,
 * and PNG files that libpng itself reads back pixel for pixel. Not a test
 * of how plots look; only that they are well-formed pictures.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <math.h>
#include <unistd.h>
#include <cmocka.h>
#include <png.h>

#include "canvas.h"

static uint32_t at(const rml_canvas *c, int x, int y)
{
	const uint8_t *p = c->px + ((size_t)y * c->w + x) * 3;
	return (uint32_t)p[0] << 16 | (uint32_t)p[1] << 8 | p[2];
}

/* Number of pixels of colour rgb inside [x0,x1) x [y0,y1). */
static int count(const rml_canvas *c, int x0, int y0, int x1, int y1, uint32_t rgb)
{
	int n = 0;
	for (int y = y0; y < y1; y++)
		for (int x = x0; x < x1; x++)
			n += at(c, x, y) == rgb;
	return n;
}

/* Read a PNG with libpng's simplified API as 8-bit RGB. */
static uint8_t *read_png(const char *path, int *w, int *h)
{
	png_image im;
	memset(&im, 0, sizeof im);
	im.version = PNG_IMAGE_VERSION;
	if (!png_image_begin_read_from_file(&im, path))
		return NULL;
	im.format = PNG_FORMAT_RGB;
	uint8_t *buf = malloc(PNG_IMAGE_SIZE(im));
	if (!buf || !png_image_finish_read(&im, NULL, buf, 0, NULL)) {
		free(buf);
		png_image_free(&im);
		return NULL;
	}
	*w = (int)im.width;
	*h = (int)im.height;
	return buf;
}

static char dir[64];

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof dir, "/tmp/rml-canvas-XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static void test_init_and_limits(void **state)
{
	(void)state;
	rml_canvas c;
	rml_error err = { 0 };
	assert_int_equal(rml_canvas_init(&c, 0, 5, 0, &err), RML_ERR_LIMIT);
	assert_null(c.px);
	assert_int_equal(rml_canvas_init(&c, 5, -1, 0, &err), RML_ERR_LIMIT);
	assert_int_equal(rml_canvas_init(&c, 40000, 2, 0, &err), RML_ERR_LIMIT);
	assert_non_null(strstr(err.msg, "40000"));
	rml_canvas_free(&c);  /* freeing a failed canvas is harmless */
	assert_int_equal(rml_canvas_init(&c, 7, 3, 0x123456, &err), RML_OK);
	assert_int_equal(count(&c, 0, 0, 7, 3, 0x123456), 21);
	rml_canvas_fill(&c, 0xabcdef);
	assert_int_equal(count(&c, 0, 0, 7, 3, 0xabcdef), 21);
	rml_canvas_free(&c);
	assert_null(c.px);
	assert_int_equal(c.w, 0);
}

static void test_rect_clips(void **state)
{
	(void)state;
	rml_canvas c;
	rml_error err = { 0 };
	assert_int_equal(rml_canvas_init(&c, 10, 8, 0xffffff, &err), RML_OK);
	rml_canvas_rect(&c, 2, 3, 4, 2, 0xff0000);
	assert_int_equal(count(&c, 0, 0, 10, 8, 0xff0000), 8);
	assert_int_equal(count(&c, 2, 3, 6, 5, 0xff0000), 8);
	/* Partly outside on every side, and far outside without overflow. */
	rml_canvas_rect(&c, -5, -5, 7, 7, 0x00ff00);
	assert_int_equal(count(&c, 0, 0, 10, 8, 0x00ff00), 4);
	rml_canvas_rect(&c, 8, 6, 100, 100, 0x0000ff);
	assert_int_equal(count(&c, 0, 0, 10, 8, 0x0000ff), 4);
	rml_canvas_rect(&c, 2147483000, 0, 2147483000, 5, 0x000000);
	rml_canvas_rect(&c, -2147483000, -2147483000, 10, 10, 0x000000);
	rml_canvas_rect(&c, 3, 3, 0, 4, 0x000000);
	rml_canvas_rect(&c, 3, 3, -4, 4, 0x000000);
	assert_int_equal(count(&c, 0, 0, 10, 8, 0x000000), 0);
	rml_canvas_free(&c);
}

static void test_lines(void **state)
{
	(void)state;
	rml_canvas c;
	rml_error err = { 0 };
	assert_int_equal(rml_canvas_init(&c, 20, 20, 0, &err), RML_OK);
	rml_canvas_line(&c, 2, 5, 12, 5, 1, 0xffffff);
	assert_int_equal(count(&c, 0, 0, 20, 20, 0xffffff), 11);
	assert_int_equal(count(&c, 2, 5, 13, 6, 0xffffff), 11);
	rml_canvas_fill(&c, 0);
	/* A diagonal covers exactly the pixels (i, i), ends included. */
	rml_canvas_line(&c, 15, 15, 3, 3, 1, 0x00ff00);
	assert_int_equal(count(&c, 0, 0, 20, 20, 0x00ff00), 13);
	for (int i = 3; i <= 15; i++)
		assert_int_equal(at(&c, i, i), 0x00ff00);
	rml_canvas_fill(&c, 0);
	/* Thickness 3 puts a 3x3 square on every point: a band three pixels
	 * wide, reaching one pixel past each end. */
	rml_canvas_line(&c, 10, 2, 10, 9, 3, 0x0000ff);
	assert_int_equal(count(&c, 0, 0, 20, 20, 0x0000ff), 3 * 10);
	assert_int_equal(count(&c, 9, 1, 12, 11, 0x0000ff), 3 * 10);
	/* A line mostly off the canvas draws only the part inside. */
	rml_canvas_fill(&c, 0);
	rml_canvas_line(&c, -50, 0, 50, 0, 1, 0xff00ff);
	assert_int_equal(count(&c, 0, 0, 20, 20, 0xff00ff), 20);
	rml_canvas_free(&c);
}

static void test_text(void **state)
{
	(void)state;
	rml_canvas c, d;
	rml_error err = { 0 };
	assert_int_equal(rml_canvas_init(&c, 40, 20, 0xffffff, &err), RML_OK);
	/* 'T' is a full top row and a centre column: 5 + 6 pixels. */
	assert_int_equal(rml_canvas_text(&c, 1, 1, "T", 1, 0), 6);
	assert_int_equal(count(&c, 0, 0, 40, 20, 0), 11);
	for (int x = 1; x <= 5; x++)
		assert_int_equal(at(&c, x, 1), 0);
	for (int y = 2; y <= 7; y++) {
		assert_int_equal(at(&c, 3, y), 0);
		assert_int_equal(at(&c, 2, y), 0xffffff);
	}
	/* At scale 2 every font pixel is a 2x2 block. */
	rml_canvas_fill(&c, 0xffffff);
	assert_int_equal(rml_canvas_text(&c, 0, 0, "T", 2, 0), 12);
	assert_int_equal(count(&c, 0, 0, 40, 20, 0), 44);
	assert_int_equal(rml_canvas_text_width("abc", 2), 36);
	assert_int_equal(rml_canvas_text_width("", 1), 0);
	/* Characters outside printable ASCII are drawn as '?'. */
	assert_int_equal(rml_canvas_init(&d, 40, 20, 0xffffff, &err), RML_OK);
	rml_canvas_fill(&c, 0xffffff);
	rml_canvas_text(&c, 0, 0, "a\x01\xc3", 1, 0);
	rml_canvas_text(&d, 0, 0, "a??", 1, 0);
	assert_memory_equal(c.px, d.px, 40 * 20 * 3);
	assert_true(count(&c, 0, 0, 40, 20, 0) > 0);
	/* Text running off the edge is clipped, not written out of bounds. */
	rml_canvas_text(&c, 35, 15, "WWWW", 3, 0xff0000);
	assert_true(count(&c, 35, 15, 40, 20, 0xff0000) > 0);
	rml_canvas_free(&c);
	rml_canvas_free(&d);
}

static void test_image_paste(void **state)
{
	(void)state;
	rml_canvas c;
	rml_error err = { 0 };
	const uint8_t rgb[2 * 2 * 3] = { 255, 0, 0, 0, 255, 0, 0, 0, 255, 10, 20, 30 };
	const uint8_t grey[2] = { 7, 200 };
	assert_int_equal(rml_canvas_init(&c, 10, 10, 0xffffff, &err), RML_OK);
	rml_canvas_image(&c, 1, 1, rgb, 2, 2, 3, 3);
	assert_int_equal(count(&c, 1, 1, 4, 4, 0xff0000), 9);
	assert_int_equal(count(&c, 4, 1, 7, 4, 0x00ff00), 9);
	assert_int_equal(count(&c, 1, 4, 4, 7, 0x0000ff), 9);
	assert_int_equal(count(&c, 4, 4, 7, 7, 0x0a141e), 9);
	assert_int_equal(count(&c, 0, 0, 10, 10, 0xffffff), 100 - 36);
	/* One grey channel becomes equal R, G and B. */
	rml_canvas_image(&c, 8, 8, grey, 1, 2, 1, 1);
	assert_int_equal(at(&c, 8, 8), 0x070707);
	assert_int_equal(at(&c, 9, 8), 0xc8c8c8);
	rml_canvas_free(&c);
}

static void test_png_round_trip(void **state)
{
	(void)state;
	rml_canvas c;
	rml_error err = { 0 };
	assert_int_equal(rml_canvas_init(&c, 37, 23, 0x204080, &err), RML_OK);
	/* Every pixel different, so a row or channel mix-up would show. */
	for (int y = 0; y < c.h; y++)
		for (int x = 0; x < c.w; x++) {
			uint8_t *p = c.px + ((size_t)y * c.w + x) * 3;
			p[0] = (uint8_t)(x * 7);
			p[1] = (uint8_t)(y * 11);
			p[2] = (uint8_t)(x * y);
		}
	rml_canvas_text(&c, 2, 2, "ok", 2, 0xfedcba);
	char path[128];
	snprintf(path, sizeof path, "%s/a.png", dir);
	assert_int_equal(rml_canvas_save_png(&c, path, &err), RML_OK);
	int w = 0, h = 0;
	uint8_t *back = read_png(path, &w, &h);
	assert_non_null(back);
	assert_int_equal(w, 37);
	assert_int_equal(h, 23);
	assert_memory_equal(back, c.px, 37 * 23 * 3);
	free(back);
	/* The stream writer gives the same bytes as the file writer. */
	FILE *f = tmpfile();
	assert_non_null(f);
	assert_int_equal(rml_canvas_write_png(&c, f, &err), RML_OK);
	long n = ftell(f);
	FILE *g = fopen(path, "rb");
	assert_non_null(g);
	fseek(g, 0, SEEK_END);
	assert_int_equal(ftell(g), n);
	uint8_t *b1 = malloc((size_t)n), *b2 = malloc((size_t)n);
	rewind(f);
	rewind(g);
	assert_int_equal(fread(b1, 1, (size_t)n, f), (size_t)n);
	assert_int_equal(fread(b2, 1, (size_t)n, g), (size_t)n);
	assert_memory_equal(b1, b2, (size_t)n);
	assert_memory_equal(b1, "\x89PNG\r\n\x1a\n", 8);
	free(b1);
	free(b2);
	fclose(f);
	fclose(g);
	rml_canvas_free(&c);
}

static void test_save_errors(void **state)
{
	(void)state;
	rml_canvas c;
	rml_error err = { 0 };
	assert_int_equal(rml_canvas_init(&c, 4, 4, 0, &err), RML_OK);
	char path[160];
	snprintf(path, sizeof path, "%s/no-such-dir/x.png", dir);
	assert_int_equal(rml_canvas_save_png(&c, path, &err), RML_ERR_IO);
	assert_non_null(strstr(err.msg, "no-such-dir/x.png"));
	/* Replacing a file is atomic: no temporary file is left behind. */
	snprintf(path, sizeof path, "%s/b.png", dir);
	assert_int_equal(rml_canvas_save_png(&c, path, &err), RML_OK);
	rml_canvas_fill(&c, 0xffffff);
	assert_int_equal(rml_canvas_save_png(&c, path, &err), RML_OK);
	int w, h;
	uint8_t *back = read_png(path, &w, &h);
	assert_non_null(back);
	assert_int_equal(back[0], 255);
	free(back);
	DIR *dp = opendir(dir);
	assert_non_null(dp);
	int stray = 0;
	for (struct dirent *e; (e = readdir(dp));)
		stray += strncmp(e->d_name, "b.png.", 6) == 0;
	closedir(dp);
	assert_int_equal(stray, 0);
	rml_canvas_free(&c);
}

static void test_plot(void **state)
{
	(void)state;
	rml_error err = { 0 };
	const double x[4] = { 0, 1, 2, 3 }, y[4] = { 0.1, 0.9, NAN, 5.0 };
	rml_series s[2] = {
		{ "line", x, y, 4, 0xd62728, 0 },
		{ "bars", x, y, 4, 0x1f77b4, 1 },
	};
	char path[128];
	snprintf(path, sizeof path, "%s/plot.png", dir);
	assert_int_equal(rml_plot_png(path, "title", "x", "y", s, 2, 0, 3, 0, 1, &err), RML_OK);
	int w, h;
	uint8_t *px = read_png(path, &w, &h);
	assert_non_null(px);
	assert_int_equal(w, 720);
	assert_int_equal(h, 480);
	/* Both series colours appear in the picture. */
	int red = 0, blue = 0;
	for (int i = 0; i < w * h; i++) {
		uint32_t v = (uint32_t)px[3 * i] << 16 | (uint32_t)px[3 * i + 1] << 8 | px[3 * i + 2];
		red += v == 0xd62728;
		blue += v == 0x1f77b4;
	}
	assert_true(red > 50);
	assert_true(blue > 50);
	free(px);
	/* An empty axis range still makes a picture instead of dividing by zero. */
	assert_int_equal(rml_plot_png(path, "flat", "x", "y", s, 1, 2, 2, 1, 1, &err), RML_OK);
}

/* Named x ticks: the picture is drawn, its tick labels differ from the
 * default numbers, and a tick outside the axis is left out, not drawn
 * off the plot. */
static void test_plot_xticks(void **state)
{
	(void)state;
	rml_error err = { 0 };
	const double x[4] = { 0, 1, 2, 3 }, y[4] = { 0.2, 0.4, 0.6, 0.8 };
	rml_series s[1] = { { "line", x, y, 4, 0xd62728, 0 } };
	const double ticks[5] = { 0, 1, 2, 3, 9 };
	const char *const labels[5] = { "Test 0", "Test 1", "Test 2", "Test 3", "far" };
	char a[128], b[128];
	snprintf(a, sizeof a, "%s/plain.png", dir);
	snprintf(b, sizeof b, "%s/ticks.png", dir);
	assert_int_equal(rml_plot_png(a, "t", "x", "y", s, 1, -0.2, 3.2, 0, 1, &err), RML_OK);
	assert_int_equal(rml_plot_png_xticks(b, "t", "x", "y", s, 1, -0.2, 3.2, 0, 1, ticks, labels, 5, &err),
			 RML_OK);
	int w, h, w2, h2;
	uint8_t *pa = read_png(a, &w, &h), *pb = read_png(b, &w2, &h2);
	assert_non_null(pa);
	assert_non_null(pb);
	assert_int_equal(w, w2);
	assert_int_equal(h, h2);
	assert_memory_not_equal(pa, pb, (size_t)w * h * 3);
	/* Only the area below the plot (the tick labels) and the grid differ:
	 * the title rows are the same. */
	assert_memory_equal(pa, pb, (size_t)w * 30 * 3);
	free(pa);
	free(pb);
	/* No labels: the positions' values are written. */
	assert_int_equal(rml_plot_png_xticks(b, "t", "x", "y", s, 1, -0.2, 3.2, 0, 1, ticks, NULL, 4, &err),
			 RML_OK);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_init_and_limits),
		cmocka_unit_test(test_rect_clips),
		cmocka_unit_test(test_lines),
		cmocka_unit_test(test_text),
		cmocka_unit_test(test_image_paste),
		cmocka_unit_test(test_png_round_trip),
		cmocka_unit_test(test_save_errors),
		cmocka_unit_test(test_plot),
		cmocka_unit_test(test_plot_xticks),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
