/*
 * monitor_watch.c — rmlops-monitor's watching loop (see monitor_watch.h):
 * files in, windows and alerts out. The JSON lines are the program's
 * documented output; a change here changes what users parse.
 */
#include "monitor_watch.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "calib_model.h"
#include "dataset.h"

/* printf into the buffer; out of memory marks it failed. */
static void put(rml_outbuf *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(rml_outbuf *o, const char *fmt, ...)
{
	char line[512];
	va_list ap;
	va_start(ap, fmt);
	int len = vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	if (len >= 0)
		rml_outbuf_add(o, line, (size_t)len < sizeof line ? (size_t)len : sizeof line - 1);
}

static void json_num(rml_outbuf *o, const char *key, double v, int last)
{
	if (isfinite(v))
		put(o, "\"%s\":%.6f%s", key, v, last ? "" : ",");
	else
		put(o, "\"%s\":null%s", key, last ? "" : ",");
}

static void say(const rml_watch *s, int level, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void say(const rml_watch *s, int level, const char *fmt, ...)
{
	if (!s->o.say)
		return;
	char *msg = NULL;
	va_list ap;
	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		msg = NULL;
	va_end(ap);
	if (msg)
		s->o.say(s->o.ctx, level, msg);
	free(msg);
}

rml_status rml_watch_init(rml_watch *s, const rml_watch_opts *o, rml_model *m,
			  const char *model_hex, rml_error *err)
{
	memset(s, 0, sizeof *s);
	s->o = *o;
	s->m = m;
	rml_coact_init(&s->co);
	snprintf(s->model_hex, sizeof s->model_hex, "%s", model_hex ? model_hex : "");
	if (!m)
		return RML_OK;
	s->has_coact = rml_model_has_coact(m);
	if (s->has_coact && rml_model_coact(m, &s->co, err))
		return err->code ? err->code : RML_ERR_FORMAT;
	rml_model_reject_rule(m, &s->rule, &s->thr);
	return RML_OK;
}

void rml_watch_free(rml_watch *s)
{
	for (int64_t i = 0; i < s->n_hist; i++)
		rml_window_stats_free(&s->hist[i]);
	free(s->hist);
	for (int64_t j = 0; s->class_names && j < s->k; j++)
		free(s->class_names[j]);
	free(s->class_names);
	rml_monitor_free(&s->w);
	rml_coact_free(&s->co);
	s->hist = NULL;
	s->class_names = NULL;
}

static int emit_window(rml_watch *s, rml_error *err)
{
	if (s->n_hist == s->cap_hist) {
		int64_t cap = s->cap_hist ? 2 * s->cap_hist : 64;
		rml_window_stats *h = realloc(s->hist, (size_t)cap * sizeof *h);
		if (!h) {
			rml_errorf(err, RML_ERR_NOMEM, "out of memory");
			return -1;
		}
		s->hist = h;
		s->cap_hist = cap;
	}
	rml_window_stats *st = &s->hist[s->n_hist];
	if (rml_monitor_stats(&s->w, st, err))
		return -1;
	s->n_hist++;
	s->since = 0;
	int64_t idx = s->n_hist;
	rml_outbuf o;
	rml_outbuf_init(&o);
	put(&o, "{\"window\":%lld,\"inputs_total\":%lld,\"n\":%lld,", (long long)idx,
	    (long long)s->w.total, (long long)st->n);
	json_num(&o, "entropy_mean", st->entropy_mean, 0);
	json_num(&o, "confidence_mean", st->conf_mean, 0);
	json_num(&o, "reject_rate", st->reject_rate, 0);
	json_num(&o, "accuracy", st->accuracy, 0);
	json_num(&o, "coact_score_mean", st->score_mean, 0);
	json_num(&o, "coact_rare_rate", st->rare_rate, 1);
	put(&o, "}\n");
	for (int i = 0; i < s->o.n_alerts; i++) {
		rml_alert_kind a = s->o.alert[i];
		double v = rml_alert_value(st, a);
		if (!rml_alert_crossed(a, v, s->o.alert_thr[i]))
			continue;
		s->alerts[a]++;
		s->alerted = 1;
		put(&o, "{\"alert\":\"%s\",\"window\":%lld,", rml_alert_name(a), (long long)idx);
		json_num(&o, "value", v, 0);
		json_num(&o, "threshold", s->o.alert_thr[i], 1);
		put(&o, "}\n");
		say(s, 1, "alert: window %lld: %s %g crosses %g", (long long)idx, rml_alert_name(a), v,
		    s->o.alert_thr[i]);
	}
	rml_status r = o.failed ? rml_errorf(err, RML_ERR_NOMEM, "out of memory") : RML_OK;
	if (!r && s->o.emit)
		s->o.emit(s->o.ctx, (const char *)o.data, o.len);
	if (!r && s->o.textfile) {
		o.len = 0;
		rml_prom_info info = { s->model_hex, s->o.stage, (const char *const *)s->class_names, idx,
				       s->w.total, s->alerts };
		r = rml_monitor_prom(st, s->k, &info, &o, err);
		if (!r)
			r = rml_outbuf_save(&o, s->o.textfile, err);
	}
	rml_outbuf_free(&o);
	return r ? -1 : 0;
}

/* The first input fixes the classes; later ones must agree. */
static int start_stream(rml_watch *s, int64_t k, const char *const *names, const char *path,
			rml_error *err)
{
	if (s->k == 0) {
		s->k = k;
		if (names) {
			s->class_names = calloc((size_t)k, sizeof *s->class_names);
			for (int64_t j = 0; s->class_names && j < k; j++)
				s->class_names[j] = strdup(names[j]);
		}
		return rml_monitor_init(&s->w, s->o.window, k, err) ? -1 : 0;
	}
	if (k != s->k) {
		rml_errorf(err, RML_ERR_MISMATCH, "%s: %lld classes, the stream so far has %lld", path,
			   (long long)k, (long long)s->k);
		return -1;
	}
	return 0;
}

static int push_rows(rml_watch *s, const float *probs, const int32_t *labels,
		     const uint8_t *rejected, const float *score, int64_t n, rml_error *err)
{
	for (int64_t i = 0; i < n; i++) {
		rml_monitor_push(&s->w, probs + i * s->k, labels ? labels[i] : -1,
				 rejected ? rejected[i] : 0, score ? score[i] : NAN);
		if (++s->since >= s->o.step && s->w.len == s->w.cap && emit_window(s, err))
			return -1;
	}
	return 0;
}

static int watch_predictions(rml_watch *s, const rml_file *f, const char *path, rml_error *err)
{
	rml_predictions p;
	rml_predictions_init(&p);
	int r = -1;
	if (rml_predictions_from_file(&p, f, err))
		goto out;
	const rml_kv *cl = rml_get(f, "predictions.classes");
	const char *const *names = cl && cl->type == RML_KV_STR_ARRAY && cl->n == p.k
					   ? (const char *const *)cl->sa : NULL;
	if (!s->model_hex[0]) {
		/* The model behind the predictions, from their provenance. */
		const rml_kv *in = rml_get(f, "provenance.inputs");
		for (int64_t i = 0; in && in->type == RML_KV_STR_ARRAY && i < in->n; i++)
			if (strncmp(in->sa[i], "model=sha256:", 13) == 0)
				snprintf(s->model_hex, sizeof s->model_hex, "%s", in->sa[i] + 13);
	}
	if (start_stream(s, p.k, names, path, err))
		goto out;
	for (int64_t j = 0; names && s->class_names && j < p.k; j++)
		if (s->class_names[j] && strcmp(names[j], s->class_names[j]) != 0) {
			rml_errorf(err, RML_ERR_MISMATCH,
				   "%s: class %lld is '%s', earlier in the stream '%s'", path,
				   (long long)j, names[j], s->class_names[j]);
			goto out;
		}
	r = push_rows(s, p.probs, p.labels, p.rejected, NULL, p.n, err);
out:
	rml_predictions_free(&p);
	return r;
}

static int watch_dataset(rml_watch *s, const rml_file *f, const char *path, rml_error *err)
{
	if (!s->m) {
		rml_errorf(err, RML_ERR_ARG, "%s is a dataset: give the model that sees it with -m", path);
		return -1;
	}
	rml_dataset d;
	rml_dataset_init(&d);
	rml_predictions p;
	rml_predictions_init(&p);
	int64_t k = rml_model_n_classes(s->m), dim = rml_model_n_features(s->m);
	float *feat = NULL, *logits = NULL, *score = NULL;
	int r = -1;
	if (rml_dataset_from_file(&d, f, err))
		goto out;
	int h, w, ch;
	rml_model_input_shape(s->m, &h, &w, &ch);
	if (d.h != h || d.w != w || d.c != ch) {
		rml_errorf(err, RML_ERR_MISMATCH, "%s: images are %lldx%lldx%lld, the model takes %dx%dx%d",
			   path, (long long)d.h, (long long)d.w, (long long)d.c, h, w, ch);
		goto out;
	}
	feat = malloc((size_t)(d.n * dim + 1) * sizeof *feat);
	logits = malloc((size_t)(d.n * k + 1) * sizeof *logits);
	score = malloc((size_t)(d.n + 1) * sizeof *score);
	if (!feat || !logits || !score) {
		rml_errorf(err, RML_ERR_NOMEM, "out of memory");
		goto out;
	}
	double used;
	if (rml_predictions_alloc(&p, d.n, k, err) ||
	    rml_model_features(s->m, d.images, d.n, s->o.batch, feat, logits, NULL, err) ||
	    rml_model_probs(s->m, logits, d.n, p.probs, err) ||
	    rml_predictions_reject(&p, s->rule, s->thr, -1, &used, err) ||
	    (s->has_coact && rml_coact_score(&s->co, feat, d.n, score, err)) ||
	    start_stream(s, k, rml_model_class_names(s->m), path, err))
		goto out;
	/* Labels of other classes than the model's (another dataset) say
	 * nothing about accuracy: they are dropped, and the user told. */
	const char *const *mc = rml_model_class_names(s->m);
	int same = d.n_classes == k;
	for (int64_t j = 0; same && mc && j < k; j++)
		same = d.class_names && d.class_names[j] && strcmp(mc[j], d.class_names[j]) == 0;
	if (!same)
		say(s, 0, "%s: its classes are not the model's; its labels are ignored", path);
	r = push_rows(s, p.probs, same ? d.labels : NULL, p.rejected, s->has_coact ? score : NULL,
		      d.n, err);
out:
	free(feat);
	free(logits);
	free(score);
	rml_predictions_free(&p);
	rml_dataset_free(&d);
	return r;
}

rml_status rml_watch_file(rml_watch *s, const char *path, rml_error *err)
{
	FILE *fp = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
	if (!fp)
		return rml_errorf(err, RML_ERR_IO, "%s: %s", path, strerror(errno));
	int r = 0, count = 0;
	for (;;) {
		int ch = getc(fp);
		if (ch == EOF)
			break;
		ungetc(ch, fp);
		rml_file f;
		rml_file_init(&f);
		r = rml_file_read(&f, fp, path, err) ? -1 : 0;
		const char *kind = r ? NULL : rml_file_kind(&f);
		if (!r && kind && strcmp(kind, "predictions") == 0)
			r = watch_predictions(s, &f, path, err);
		else if (!r && kind && strcmp(kind, "dataset") == 0)
			r = watch_dataset(s, &f, path, err);
		else if (!r) {
			rml_errorf(err, RML_ERR_MISMATCH, "%s: a %s file, not predictions or a dataset",
				   path, kind ? kind : "kindless");
			r = -1;
		}
		rml_file_free(&f);
		count++;
		if (r)
			break;
	}
	if (!r && ferror(fp)) {
		rml_errorf(err, RML_ERR_IO, "%s: read error", path);
		r = -1;
	}
	if (fp != stdin)
		fclose(fp);
	if (!r && count == 0)
		say(s, 2, "%s holds nothing", path);
	return r ? (err->code ? err->code : RML_ERR_IO) : RML_OK;
}

rml_status rml_watch_finish(rml_watch *s, rml_error *err)
{
	if (s->since > 0 && emit_window(s, err))
		return err->code ? err->code : RML_ERR_NOMEM;
	return RML_OK;
}

rml_status rml_watch_check_dir(const char *path, rml_error *err)
{
	char *dir = strdup(path);
	if (!dir)
		return rml_errorf(err, RML_ERR_NOMEM, "out of memory");
	char *slash = strrchr(dir, '/');
	const char *d = slash ? (slash == dir ? "/" : (*slash = 0, dir)) : ".";
	struct stat sb;
	rml_status st = RML_OK;
	if (stat(d, &sb) != 0 || !S_ISDIR(sb.st_mode))
		st = rml_errorf(err, RML_ERR_IO, "%s: the directory %s does not exist", path, d);
	free(dir);
	return st;
}
