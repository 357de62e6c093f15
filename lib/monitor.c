/*
 * monitor.c — rolling windows over a stream of predictions, their
 * statistics, alert thresholds, the Prometheus text of a window and the
 * PNG dashboard (monitor.h). Not the co-activation statistics (coact.c).
 */
#include "monitor.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "canvas.h"

const double rml_monitor_quantiles[RML_MONITOR_NQ] = { 0.1, 0.5, 0.9 };

rml_status rml_monitor_init(rml_monitor *w, int64_t cap, int64_t k, rml_error *err)
{
	memset(w, 0, sizeof *w);
	if (cap < 1 || cap > 100000000 || k < 1 || k > 100000)
		return rml_errorf(err, RML_ERR_ARG, "a window needs 1 to 1e8 inputs of 1 to 1e5 classes");
	w->k = k;
	w->cap = cap;
	w->entropy = malloc((size_t)cap * sizeof *w->entropy);
	w->conf = malloc((size_t)cap * sizeof *w->conf);
	w->score = malloc((size_t)cap * sizeof *w->score);
	w->pred = malloc((size_t)cap * sizeof *w->pred);
	w->label = malloc((size_t)cap * sizeof *w->label);
	w->rejected = malloc((size_t)cap);
	if (!w->entropy || !w->conf || !w->score || !w->pred || !w->label || !w->rejected) {
		rml_monitor_free(w);
		return rml_errorf(err, RML_ERR_NOMEM, "out of memory");
	}
	return RML_OK;
}

void rml_monitor_free(rml_monitor *w)
{
	free(w->entropy);
	free(w->conf);
	free(w->score);
	free(w->pred);
	free(w->label);
	free(w->rejected);
	memset(w, 0, sizeof *w);
}

void rml_monitor_push(rml_monitor *w, const float *probs, int32_t label, int rejected, float score)
{
	int64_t at = w->head;
	double h = 0, best = -1;
	int32_t arg = -1;
	int bad = 0;
	for (int64_t j = 0; j < w->k; j++) {
		double p = probs[j];
		if (!isfinite(p)) {
			bad = 1;
			break;
		}
		if (p > 0)
			h -= p * log(p);
		if (p > best) {
			best = p;
			arg = (int32_t)j;
		}
	}
	w->entropy[at] = bad ? INFINITY : (float)h;
	w->conf[at] = bad ? 0.0f : (float)best;
	w->pred[at] = bad ? -1 : arg;
	w->label[at] = label;
	w->rejected[at] = rejected != 0;
	w->score[at] = score;
	w->head = (at + 1) % w->cap;
	if (w->len < w->cap)
		w->len++;
	w->total++;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* Mean and quantiles of v [n] (sorted in place); NaN for n = 0. */
static void summarize(double *v, int64_t n, double *mean, double *q)
{
	if (n == 0) {
		*mean = NAN;
		for (int i = 0; i < RML_MONITOR_NQ; i++)
			q[i] = NAN;
		return;
	}
	double s = 0;
	for (int64_t i = 0; i < n; i++)
		s += v[i];
	*mean = s / (double)n;
	qsort(v, (size_t)n, sizeof *v, cmp_double);
	for (int i = 0; i < RML_MONITOR_NQ; i++) {
		double pos = rml_monitor_quantiles[i] * (double)(n - 1);
		int64_t lo = (int64_t)floor(pos);
		int64_t hi = lo + 1 < n ? lo + 1 : lo;
		double f = pos - (double)lo;
		/* Equal neighbours (two infinities) must not give inf - inf. */
		q[i] = v[lo] == v[hi] ? v[lo] : v[lo] + f * (v[hi] - v[lo]);
	}
}

rml_status rml_monitor_stats(const rml_monitor *w, rml_window_stats *s, rml_error *err)
{
	memset(s, 0, sizeof *s);
	if (w->len == 0)
		return rml_errorf(err, RML_ERR_ARG, "the window is empty: no input arrived");
	int64_t n = w->len;
	double *v = malloc((size_t)n * sizeof *v);
	s->class_count = calloc((size_t)w->k, sizeof *s->class_count);
	if (!v || !s->class_count) {
		free(v);
		rml_window_stats_free(s);
		return rml_errorf(err, RML_ERR_NOMEM, "out of memory");
	}
	s->n = n;
	int64_t right = 0, judged = 0;
	for (int64_t i = 0; i < n; i++) {
		s->n_rejected += w->rejected[i];
		if (w->pred[i] >= 0)
			s->class_count[w->pred[i]]++;
		else
			s->n_unpredicted++;
		if (w->label[i] >= 0) {
			s->n_labelled++;
			if (!w->rejected[i]) {
				judged++;
				right += w->pred[i] == w->label[i];
			}
		}
	}
	s->reject_rate = (double)s->n_rejected / (double)n;
	/* ACC2's rule (metrics.h): labelled inputs all rejected score 0, so
	 * an accuracy alert fires on a model that answers nothing. */
	s->accuracy = judged ? (double)right / (double)judged : s->n_labelled ? 0 : NAN;
	for (int64_t i = 0; i < n; i++)
		v[i] = w->entropy[i];
	summarize(v, n, &s->entropy_mean, s->entropy_q);
	for (int64_t i = 0; i < n; i++)
		v[i] = w->conf[i];
	summarize(v, n, &s->conf_mean, s->conf_q);
	int64_t m = 0, rare = 0;
	for (int64_t i = 0; i < n; i++)
		if (!isnan(w->score[i])) {
			v[m++] = w->score[i];
			rare += w->score[i] > 0;
		}
	s->n_scored = m;
	summarize(v, m, &s->score_mean, s->score_q);
	s->rare_rate = m ? (double)rare / (double)m : NAN;
	free(v);
	return RML_OK;
}

void rml_window_stats_free(rml_window_stats *s)
{
	free(s->class_count);
	s->class_count = NULL;
}

/* ---- alerts ------------------------------------------------------------------------ */

static const char *const alert_names[RML_ALERT_COUNT] = { "entropy", "reject_rate", "coact_score",
							  "coact_rare_rate", "accuracy" };

const char *rml_alert_name(rml_alert_kind a)
{
	return (unsigned)a < RML_ALERT_COUNT ? alert_names[a] : "unknown";
}

rml_status rml_alert_parse(const char *spec, rml_alert_kind *a, double *threshold, rml_error *err)
{
	const char *eq = strchr(spec, '=');
	for (int i = 0; eq && i < RML_ALERT_COUNT; i++)
		if ((size_t)(eq - spec) == strlen(alert_names[i]) &&
		    strncmp(spec, alert_names[i], (size_t)(eq - spec)) == 0) {
			char *end;
			double t = strtod(eq + 1, &end);
			if (end == eq + 1 || *end || !isfinite(t))
				return rml_errorf(err, RML_ERR_ARG, "alert '%s': the threshold is not a number",
						  spec);
			*a = (rml_alert_kind)i;
			*threshold = t;
			return RML_OK;
		}
	return rml_errorf(err, RML_ERR_ARG,
			  "alert '%s' is not NAME=VALUE with NAME entropy, reject_rate, coact_score, "
			  "coact_rare_rate or accuracy",
			  spec);
}

double rml_alert_value(const rml_window_stats *s, rml_alert_kind a)
{
	switch (a) {
	case RML_ALERT_ENTROPY: return s->entropy_mean;
	case RML_ALERT_REJECT: return s->reject_rate;
	case RML_ALERT_SCORE: return s->score_mean;
	case RML_ALERT_RARE: return s->rare_rate;
	case RML_ALERT_ACCURACY: return s->accuracy;
	default: return NAN;
	}
}

int rml_alert_crossed(rml_alert_kind a, double value, double threshold)
{
	if (isnan(value))
		return 0;
	return a == RML_ALERT_ACCURACY ? value < threshold : value > threshold;
}

/* ---- Prometheus text ------------------------------------------------------------------ */

static void addf(rml_outbuf *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void addf(rml_outbuf *o, const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	if (n < 0)
		o->failed = 1;
	else
		rml_outbuf_add(o, buf, (size_t)n < sizeof buf ? (size_t)n : sizeof buf - 1);
}

/* A label value with \, " and newline escaped, as the format asks. */
static void add_escaped(rml_outbuf *o, const char *s)
{
	for (; s && *s; s++) {
		if (*s == '\\')
			rml_outbuf_add(o, "\\\\", 2);
		else if (*s == '"')
			rml_outbuf_add(o, "\\\"", 2);
		else if (*s == '\n')
			rml_outbuf_add(o, "\\n", 2);
		else
			rml_outbuf_add(o, s, 1);
	}
}

static void add_value(rml_outbuf *o, double v)
{
	if (isnan(v))
		addf(o, " NaN\n");
	else if (isinf(v))
		addf(o, v > 0 ? " +Inf\n" : " -Inf\n");
	else
		addf(o, " %.17g\n", v);
}

/* name{model="...",stage="..."[,extra="value"]} v */
static void sample(rml_outbuf *o, const rml_prom_info *in, const char *name, const char *extra,
		   const char *extra_value, double v)
{
	addf(o, "%s{model=\"", name);
	add_escaped(o, in->model);
	addf(o, "\",stage=\"");
	add_escaped(o, in->stage);
	if (extra) {
		addf(o, "\",%s=\"", extra);
		add_escaped(o, extra_value);
	}
	addf(o, "\"}");
	add_value(o, v);
}

static void family(rml_outbuf *o, const char *name, const char *type, const char *help)
{
	addf(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void gauge(rml_outbuf *o, const rml_prom_info *in, const char *name, const char *help,
		  double v)
{
	family(o, name, "gauge", help);
	sample(o, in, name, NULL, NULL, v);
}

static void summary(rml_outbuf *o, const rml_prom_info *in, const char *name, const char *help,
		    const double *q, double mean, int64_t n)
{
	char sub[128];
	family(o, name, "summary", help);
	for (int i = 0; i < RML_MONITOR_NQ; i++) {
		char qs[32];
		snprintf(qs, sizeof qs, "%g", rml_monitor_quantiles[i]);
		sample(o, in, name, "quantile", qs, q[i]);
	}
	snprintf(sub, sizeof sub, "%s_sum", name);
	sample(o, in, sub, NULL, NULL, mean * (double)n);
	snprintf(sub, sizeof sub, "%s_count", name);
	sample(o, in, sub, NULL, NULL, (double)n);
}

rml_status rml_monitor_prom(const rml_window_stats *s, int64_t k, const rml_prom_info *in,
			    rml_outbuf *o, rml_error *err)
{
	family(o, "rmlops_monitor_inputs_total", "counter", "Inputs seen since the monitor started.");
	sample(o, in, "rmlops_monitor_inputs_total", NULL, NULL, (double)in->inputs);
	family(o, "rmlops_monitor_windows_total", "counter", "Windows completed since the monitor started.");
	sample(o, in, "rmlops_monitor_windows_total", NULL, NULL, (double)in->windows);
	gauge(o, in, "rmlops_window_inputs", "Inputs in the last window.", (double)s->n);
	summary(o, in, "rmlops_window_entropy", "Prediction entropy (nats) over the last window.",
		s->entropy_q, s->entropy_mean, s->n);
	summary(o, in, "rmlops_window_confidence",
		"Top-class probability over the last window.", s->conf_q, s->conf_mean, s->n);
	gauge(o, in, "rmlops_window_reject_rate", "Share of the last window's inputs rejected.",
	      s->reject_rate);
	if (s->n_labelled > 0) {
		gauge(o, in, "rmlops_window_labelled", "Inputs with a label in the last window.",
		      (double)s->n_labelled);
		if (!isnan(s->accuracy))
			gauge(o, in, "rmlops_window_accuracy",
			      "Accuracy over the labelled inputs of the last window not rejected.",
			      s->accuracy);
	}
	family(o, "rmlops_window_predicted", "gauge", "Inputs of the last window predicted as each class.");
	for (int64_t j = 0; j < k; j++) {
		char num[32];
		snprintf(num, sizeof num, "%lld", (long long)j);
		sample(o, in, "rmlops_window_predicted", "class",
		       in->class_names ? in->class_names[j] : num, (double)s->class_count[j]);
	}
	sample(o, in, "rmlops_window_predicted", "class", "none", (double)s->n_unpredicted);
	if (s->n_scored > 0) {
		summary(o, in, "rmlops_window_coact_score",
			"Rare co-activation pairs per input over the last window.", s->score_q,
			s->score_mean, s->n_scored);
		gauge(o, in, "rmlops_window_coact_rare_rate",
		      "Share of the last window's inputs with a rare co-activation.", s->rare_rate);
	}
	if (in->alerts) {
		family(o, "rmlops_monitor_alerts_total", "counter",
		       "Windows that crossed an alert threshold, by alert.");
		for (int a = 0; a < RML_ALERT_COUNT; a++)
			sample(o, in, "rmlops_monitor_alerts_total", "alert", alert_names[a],
			       (double)in->alerts[a]);
	}
	if (o->failed)
		return rml_errorf(err, RML_ERR_NOMEM, "out of memory");
	return RML_OK;
}

/* ---- dashboard ----------------------------------------------------------------------- */

rml_status rml_monitor_plot(const char *path, const rml_window_stats *s, int64_t n, int64_t k,
			    const char *title, rml_error *err)
{
	if (n < 1)
		return rml_errorf(err, RML_ERR_ARG, "nothing to plot: no window");
	enum { NS = 5 };
	static const char *const labels[NS] = { "mean confidence", "rejection rate", "accuracy",
						"mean entropy / ln k", "rare co-activation" };
	static const uint32_t colours[NS] = { 0x1f77b4, 0xd62728, 0x2ca02c, 0xff7f0e, 0x9467bd };
	double *x = malloc((size_t)(NS * n) * sizeof *x);
	double *y = malloc((size_t)(NS * n) * sizeof *y);
	if (!x || !y) {
		free(x);
		free(y);
		return rml_errorf(err, RML_ERR_NOMEM, "out of memory");
	}
	rml_series sr[NS];
	int ns = 0;
	double lnk = k > 1 ? log((double)k) : 1;
	for (int j = 0; j < NS; j++) {
		int cnt = 0;
		double *xs = x + (int64_t)ns * n, *ys = y + (int64_t)ns * n;
		for (int64_t i = 0; i < n; i++) {
			const rml_window_stats *w = &s[i];
			double v = j == 0 ? w->conf_mean : j == 1 ? w->reject_rate : j == 2 ? w->accuracy
				 : j == 3 ? w->entropy_mean / lnk : w->rare_rate;
			if (isnan(v))
				continue;
			xs[cnt] = (double)(i + 1);
			ys[cnt] = v > 1 ? 1 : v < 0 ? 0 : v;
			cnt++;
		}
		if (cnt == 0)
			continue;
		sr[ns] = (rml_series){ labels[j], xs, ys, cnt, colours[j], 0 };
		ns++;
	}
	rml_status st = rml_plot_png(path, title ? title : "rmlops-monitor", "window", "value", sr, ns,
				     n > 1 ? 1 : 0.5, n > 1 ? (double)n : 1.5, 0, 1, err);
	free(x);
	free(y);
	return st;
}
