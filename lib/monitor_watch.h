/*
 * monitor_watch.h — the watching loop of rmlops-monitor: a stream of
 * predictions files and datasets (a dataset run through the model, with
 * its calibrator, rejection rule and co-activation statistics) pushed
 * input by input into a rolling window (monitor.h); every step inputs a
 * window's figures as a JSON line, followed by a line for each alert it
 * raised, handed to the caller at once; the Prometheus textfile replaced
 * after every window; the windows kept for the dashboard.
 *
 * Not here: loading the model and naming its digest, the dashboard's
 * file, where the lines and messages go (the caller's hooks), exit
 * statuses.
 */
#ifndef RML_MONITOR_WATCH_H
#define RML_MONITOR_WATCH_H

#include <stddef.h>
#include <stdint.h>

#include "coact.h"
#include "format.h"
#include "metrics.h"
#include "model.h"
#include "monitor.h"
#include "rml.h"

typedef struct {
	int64_t window, step;         /* inputs per window, inputs between windows */
	int64_t batch;                /* of the model */
	const rml_alert_kind *alert;  /* [n_alerts] */
	const double *alert_thr;      /* [n_alerts] */
	int n_alerts;
	const char *textfile;         /* the last window in Prometheus text; NULL: none */
	const char *stage;            /* its stage label */
	/* A window's lines (JSON, each ending in a newline), once per window. */
	void (*emit)(void *ctx, const char *text, size_t len);
	/* A message for the user: level 0 always, 1 unless quiet, 2 only
	 * when verbose. */
	void (*say)(void *ctx, int level, const char *msg);
	void *ctx;
} rml_watch_opts;

typedef struct {
	rml_watch_opts o;
	rml_model *m;                 /* borrowed; NULL: predictions files only */
	rml_coact co;
	int has_coact;
	rml_reject_rule rule;
	double thr;
	char model_hex[65];           /* the model's digest, "" until known */
	char **class_names;           /* from the first input that names them, owned */
	int64_t k;                    /* classes; 0 until the first input */
	rml_monitor w;
	int64_t since;                /* inputs since the last window */
	rml_window_stats *hist;       /* every window so far */
	int64_t n_hist, cap_hist;
	int64_t alerts[RML_ALERT_COUNT];
	int alerted;                  /* a window crossed an alert threshold */
} rml_watch;

/* Start watching with model m (may be NULL; borrowed, its rejection rule
 * and co-activation statistics in force) whose digest is model_hex (may
 * be NULL or "": the digest recorded by the first predictions file). */
rml_status rml_watch_init(rml_watch *s, const rml_watch_opts *o, rml_model *m,
			  const char *model_hex, rml_error *err);
/* Every container of the file at path ("-" = standard input), in order:
 * predictions (classes must agree with the stream's) or datasets (which
 * need the model). */
rml_status rml_watch_file(rml_watch *s, const char *path, rml_error *err);
/* The inputs since the last window make a last one (none: nothing). */
rml_status rml_watch_finish(rml_watch *s, rml_error *err);
void rml_watch_free(rml_watch *s);

/* RML_ERR_IO "PATH: the directory DIR does not exist" unless the
 * directory the textfile path lies in exists: checked before the stream
 * starts, not after its first window. */
rml_status rml_watch_check_dir(const char *path, rml_error *err);

#endif
