/*
 * tables_plot.c — the charts of the life-cycle tables (mk/tables.mk): reads
 * "TITLE", "YLABEL" and then series lines "label rgbhex x y x y ..." on
 * standard input and draws them with the library's line plot as PNG.
 *
 *   tables_plot OUT.png < chart.txt
 *
 * A helper of scripts/tables.py, not an installed program.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "canvas.h"

#define MAX_SERIES 16
#define MAX_POINTS 64

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: tables_plot OUT.png < chart.txt\n");
		return 2;
	}
	static char title[256], ylabel[256], line[4096], labels[MAX_SERIES][64];
	static double xs[MAX_SERIES][MAX_POINTS], ys[MAX_SERIES][MAX_POINTS];
	rml_series s[MAX_SERIES];
	int n = 0;
	double ymin = 1e300, ymax = -1e300, xmin = 1e300, xmax = -1e300;
	if (!fgets(title, sizeof title, stdin) || !fgets(ylabel, sizeof ylabel, stdin)) {
		fprintf(stderr, "tables_plot: no title\n");
		return 1;
	}
	title[strcspn(title, "\n")] = 0;
	ylabel[strcspn(ylabel, "\n")] = 0;
	while (n < MAX_SERIES && fgets(line, sizeof line, stdin)) {
		char *save = NULL, *tok = strtok_r(line, " \t\n", &save);
		if (!tok)
			continue;
		snprintf(labels[n], sizeof labels[n], "%s", tok);
		for (char *c = labels[n]; *c; c++)
			if (*c == '_')
				*c = ' ';
		tok = strtok_r(NULL, " \t\n", &save);
		unsigned rgb = tok ? (unsigned)strtoul(tok, NULL, 16) : 0;
		int k = 0;
		while (k < MAX_POINTS && (tok = strtok_r(NULL, " \t\n", &save))) {
			char *y = strtok_r(NULL, " \t\n", &save);
			if (!y)
				break;
			xs[n][k] = atof(tok);
			ys[n][k] = atof(y);
			if (ys[n][k] < ymin) ymin = ys[n][k];
			if (ys[n][k] > ymax) ymax = ys[n][k];
			if (xs[n][k] < xmin) xmin = xs[n][k];
			if (xs[n][k] > xmax) xmax = xs[n][k];
			k++;
		}
		s[n] = (rml_series){ labels[n], xs[n], ys[n], k, rgb, 0 };
		n++;
	}
	if (n == 0 || xmin > xmax) {
		fprintf(stderr, "tables_plot: no series\n");
		return 1;
	}
	double pad = (ymax - ymin) * 0.1 + 0.01;
	/* The x axis is the test stages: a tick at each whole stage, named. */
	static char tick_names[MAX_POINTS][16];
	static const char *tick_labels[MAX_POINTS];
	double ticks[MAX_POINTS];
	int n_ticks = 0;
	for (double t = ceil(xmin); t <= xmax && n_ticks < MAX_POINTS; t++, n_ticks++) {
		ticks[n_ticks] = t;
		snprintf(tick_names[n_ticks], sizeof tick_names[n_ticks], "Test %.0f", t);
		tick_labels[n_ticks] = tick_names[n_ticks];
	}
	rml_error err = { 0 };
	if (rml_plot_png_xticks(argv[1], title, "test stage", ylabel, s, n, xmin - 0.2, xmax + 0.2,
				ymin - pad, ymax + pad, ticks, tick_labels, n_ticks, &err)) {
		fprintf(stderr, "tables_plot: %s\n", err.msg);
		return 1;
	}
	return 0;
}
