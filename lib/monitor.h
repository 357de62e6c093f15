/*
 * monitor.h — what a deployed model's stream of inputs looks like, window
 * by window: prediction entropy and confidence (mean and quantiles),
 * rejection rate, class histogram, accuracy where labels exist, the rare
 * co-activation score (coact.h); thresholds that raise alerts; the
 * Prometheus text exposition format (version 0.0.4) of a window; and a
 * PNG dashboard of the windows over time. The IML4E report's monitoring
 * dashboard and its rare co-activation monitor; the method's
 * "Uncertainty & Performance Monitoring" stage.
 *
 * Not here: reading files, the model's forward pass, writing files other
 * than through rml_outbuf (the program does those).
 */
#ifndef RML_MONITOR_H
#define RML_MONITOR_H

#include <stdint.h>

#include "outbuf.h"
#include "rml.h"

/* The last `cap` inputs, a ring. */
typedef struct {
	int64_t k, cap;
	int64_t len, head;      /* inputs in the ring; where the next goes */
	int64_t total;          /* inputs pushed since init */
	float *entropy, *conf, *score;
	int32_t *pred, *label;
	uint8_t *rejected;
} rml_monitor;

/* A window of cap >= 1 inputs of k >= 1 classes. RML_ERR_ARG, RML_ERR_NOMEM
 * (w is then empty and safe to free). */
rml_status rml_monitor_init(rml_monitor *w, int64_t cap, int64_t k, rml_error *err);
void rml_monitor_free(rml_monitor *w);

/* One input: its probabilities probs [k], its label (-1 unknown), whether
 * it was rejected, its co-activation score (NaN: not scored). The entropy
 * is natural-log; a row with NaN or Inf has entropy +inf and confidence 0
 * (as uncertain as it gets) and predicts no class (-1). */
void rml_monitor_push(rml_monitor *w, const float *probs, int32_t label, int rejected, float score);

#define RML_MONITOR_NQ 3
/* The quantiles reported: 0.1, 0.5, 0.9 (linear interpolation between
 * order statistics, numpy's default). */
extern const double rml_monitor_quantiles[RML_MONITOR_NQ];

typedef struct {
	int64_t n, n_labelled, n_scored, n_rejected;
	double entropy_mean, entropy_q[RML_MONITOR_NQ];
	double conf_mean, conf_q[RML_MONITOR_NQ];
	double reject_rate;
	double accuracy;        /* over the labelled inputs not rejected (ACC2): 0
				 * when all labelled ones are rejected, NaN when
				 * none is labelled */
	double score_mean, score_q[RML_MONITOR_NQ];  /* over scored inputs; NaN without */
	double rare_rate;       /* share of scored inputs with a score above 0; NaN without */
	int64_t *class_count;   /* [k] predicted classes, owned */
	int64_t n_unpredicted;  /* rows that were not finite */
} rml_window_stats;

/* The statistics of the inputs now in the window (s->class_count is
 * allocated; rml_window_stats_free). RML_ERR_ARG for an empty window. An
 * infinite entropy or score counts in the quantiles and makes the mean
 * infinite, as it should: a faulty model's NaNs must raise the alarm. */
rml_status rml_monitor_stats(const rml_monitor *w, rml_window_stats *s, rml_error *err);
void rml_window_stats_free(rml_window_stats *s);

/* ---- alerts ---------------------------------------------------------------- */

typedef enum {
	RML_ALERT_ENTROPY = 0,   /* entropy_mean above */
	RML_ALERT_REJECT,        /* reject_rate above */
	RML_ALERT_SCORE,         /* score_mean above */
	RML_ALERT_RARE,          /* rare_rate above */
	RML_ALERT_ACCURACY,      /* accuracy below */
	RML_ALERT_COUNT
} rml_alert_kind;

/* "entropy", "reject_rate", "coact_score", "coact_rare_rate", "accuracy":
 * the names of --alert and of the JSON lines. */
const char *rml_alert_name(rml_alert_kind a);
/* Parse "NAME=VALUE" (e.g. "entropy=1.2") into a kind and threshold. */
rml_status rml_alert_parse(const char *spec, rml_alert_kind *a, double *threshold, rml_error *err);
/* The window's value of a kind (NaN when it has none). */
double rml_alert_value(const rml_window_stats *s, rml_alert_kind a);
/* Whether the value crosses the threshold (above, or below for accuracy;
 * NaN never crosses). */
int rml_alert_crossed(rml_alert_kind a, double value, double threshold);

/* ---- Prometheus text ------------------------------------------------------- */

typedef struct {
	const char *model;               /* digest label (may be "") */
	const char *stage;               /* stage label (may be "") */
	const char *const *class_names;  /* k names, or NULL: "0", "1", ... */
	int64_t windows, inputs;         /* totals so far (counters) */
	const int64_t *alerts;           /* [RML_ALERT_COUNT] alert totals, or NULL */
} rml_prom_info;

/* The window's metrics in the Prometheus text exposition format,
 * appended to out: "# HELP" and "# TYPE" before every family, label values
 * escaped (\\, \", \n), every sample labelled model and stage; metrics a
 * window does not have (accuracy without labels, the score without
 * statistics) are left out; entropy, confidence and score are summaries
 * (quantile samples, _sum and _count). Non-finite values are written
 * +Inf, -Inf, NaN. RML_ERR_NOMEM. */
rml_status rml_monitor_prom(const rml_window_stats *s, int64_t k, const rml_prom_info *info,
			    rml_outbuf *out, rml_error *err);

/* ---- dashboard ---------------------------------------------------------------- */

/* A PNG at path ("-" = stdout, else written atomically) of n >= 1
 * windows over time on one [0,1] axis: mean confidence, rejection rate,
 * accuracy (when any window has it), mean entropy over ln k, and the
 * share of inputs with a rare co-activation (when any window has it).
 * NaN points are skipped. */
rml_status rml_monitor_plot(const char *path, const rml_window_stats *s, int64_t n, int64_t k,
			    const char *title, rml_error *err);

#endif
