/*
 * canvas.h — an RGB drawing surface written out as PNG (libpng): contact
 * sheets of images, and the plots the programs draw (reliability
 * diagrams, resilience and robustness curves). Text uses a built-in 5x7
 * font, so nothing outside the library is needed.
 */
#ifndef RML_CANVAS_H
#define RML_CANVAS_H

#include <stdint.h>
#include <stdio.h>

#include "rml.h"

typedef struct {
	int w, h;
	uint8_t *px;   /* [h][w][3] */
} rml_canvas;

/* A w x h canvas painted rgb (0xRRGGBB). Sides must be 1..32768; on
 * failure c is left empty (safe to free) and err says why. */
rml_status rml_canvas_init(rml_canvas *c, int w, int h, uint32_t rgb, rml_error *err);
/* Release the pixels; c becomes an empty canvas. */
void rml_canvas_free(rml_canvas *c);
/* Paint the whole canvas one colour (0xRRGGBB). */
void rml_canvas_fill(rml_canvas *c, uint32_t rgb);
/* Filled rectangle, clipped to the canvas. Colours are 0xRRGGBB. */
void rml_canvas_rect(rml_canvas *c, int x, int y, int w, int h, uint32_t rgb);
/* A line of the given thickness (Bresenham, clipped). */
void rml_canvas_line(rml_canvas *c, int x0, int y0, int x1, int y1, int thick, uint32_t rgb);
/* Text at (x, y) top-left, scale >= 1; characters outside ASCII 32..126
 * are drawn as '?'. Returns the width drawn. */
int rml_canvas_text(rml_canvas *c, int x, int y, const char *s, int scale, uint32_t rgb);
/* Width in pixels of text at a scale. */
int rml_canvas_text_width(const char *s, int scale);
/* Paste an image (h x w x ch, ch 1 or 3) at (x, y), each pixel as a
 * scale x scale block. */
void rml_canvas_image(rml_canvas *c, int x, int y, const uint8_t *img, int h, int w, int ch,
		      int scale);
/* Write PNG to a stream or, atomically, to a path ("-" = stdout). */
rml_status rml_canvas_write_png(const rml_canvas *c, FILE *fp, rml_error *err);
rml_status rml_canvas_save_png(const rml_canvas *c, const char *path, rml_error *err);

/* A simple line plot: series of (x, y) points on shared axes with a
 * title, axis labels and a legend. */
typedef struct {
	const char *label;
	const double *x, *y;
	int n;
	uint32_t rgb;
	int bars;      /* draw as bars instead of a line */
} rml_series;
rml_status rml_plot_png(const char *path, const char *title, const char *xlabel,
			const char *ylabel, const rml_series *s, int n_series, double xmin,
			double xmax, double ymin, double ymax, rml_error *err);
/* The same with the x grid at the n_xticks positions xticks[] (each inside
 * [xmin, xmax]) labelled xlabels[] (NULL: the position's value), for an
 * axis of a few named steps; n_xticks 0 is rml_plot_png's five equal
 * divisions. */
rml_status rml_plot_png_xticks(const char *path, const char *title, const char *xlabel,
			       const char *ylabel, const rml_series *s, int n_series, double xmin,
			       double xmax, double ymin, double ymax, const double *xticks,
			       const char *const *xlabels, int n_xticks, rml_error *err);

#endif
