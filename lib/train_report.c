/*
 * train_report.c — rmlops-train's messages and summary (train_report.h).
 * The wording is the program's: a change here changes what users read.
 */
#include "train_report.h"

#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "canvas.h"
#include "outtext.h"

void rml_train_differ_text(rml_outbuf *o, const rml_train_settings *now,
			   const rml_train_settings *was, unsigned differ)
{
	static const struct {
		unsigned bit;
		const char *name;
		size_t off;
	} whole[] = {
		{ RML_TS_EPOCHS, "--epochs", offsetof(rml_train_settings, epochs) },
		{ RML_TS_BATCH, "--batch", offsetof(rml_train_settings, batch) },
		{ RML_TS_SEED, "--seed", offsetof(rml_train_settings, seed) },
		{ RML_TS_WARMUP, "--warmup", offsetof(rml_train_settings, warmup) },
	}, real[] = {
		{ RML_TS_LR, "--lr", offsetof(rml_train_settings, lr) },
		{ RML_TS_MOMENTUM, "--momentum", offsetof(rml_train_settings, momentum) },
		{ RML_TS_WD, "--wd", offsetof(rml_train_settings, wd) },
		{ RML_TS_SMOOTHING, "--label-smoothing", offsetof(rml_train_settings, smoothing) },
	};
	for (size_t i = 0; i < sizeof whole / sizeof whole[0]; i++)
		if (differ & whole[i].bit)
			rml_outbuf_printf(o, "%s %lld differs from the checkpoint's %lld\n", whole[i].name,
				       (long long)*(const int64_t *)((const char *)now + whole[i].off),
				       (long long)*(const int64_t *)((const char *)was + whole[i].off));
	for (size_t i = 0; i < sizeof real / sizeof real[0]; i++)
		if (differ & real[i].bit)
			rml_outbuf_printf(o, "%s %g differs from the checkpoint's %g\n", real[i].name,
				       *(const double *)((const char *)now + real[i].off),
				       *(const double *)((const char *)was + real[i].off));
	if (differ & RML_TS_NESTEROV)
		rml_outbuf_printf(o, "--nesterov %lld differs from the checkpoint's %lld\n",
			       (long long)now->nesterov, (long long)was->nesterov);
	if (differ & RML_TS_AUGMENT) {
		char a[128], b[128];
		rml_train_recipe_name(now, a, sizeof a);
		rml_train_recipe_name(was, b, sizeof b);
		rml_outbuf_printf(o, "the recipe --augment %s (or its parameters) differs from the "
			       "checkpoint's %s\n", a, b);
	}
	if (differ & RML_TS_EMA)
		rml_outbuf_printf(o, "--ema %g differs from the checkpoint's %g\n", now->ema, was->ema);
	if (differ & RML_TS_TUNE)
		rml_outbuf_printf(o, "--tune %s differs from the checkpoint's %s\n", now->tune, was->tune);
}

void rml_train_epoch_text(rml_outbuf *o, int64_t epoch, double loss, double train_acc,
			  int have_val, double val_acc, double seconds, int64_t images)
{
	rml_outbuf_printf(o, "epoch %lld: loss %.4f, train acc %.4f", (long long)epoch, loss, train_acc);
	if (have_val)
		rml_outbuf_printf(o, ", val acc %.4f", val_acc);
	rml_outbuf_printf(o, ", %.0f images/s", seconds > 0 ? (double)images / seconds : 0.0);
}

void rml_train_report_json(rml_outbuf *o, int64_t epochs, double loss, double val_acc,
			   double val_nll)
{
	rml_outbuf_printf(o, "{\"epochs\":%lld,\"loss\":", (long long)epochs);
	rml_out_json_num(o, "%.5f", loss);
	rml_outbuf_printf(o, ",\"val_acc\":");
	rml_out_json_num(o, "%.5f", val_acc);
	rml_outbuf_printf(o, ",\"val_nll\":");
	rml_out_json_num(o, "%.5f", val_nll);
	rml_outbuf_printf(o, "}\n");
}

void rml_train_curve_init(rml_train_curve *c)
{
	memset(c, 0, sizeof *c);
}

void rml_train_curve_free(rml_train_curve *c)
{
	free(c->epoch);
	free(c->lr);
	free(c->loss);
	free(c->train_acc);
	free(c->val_acc);
	rml_train_curve_init(c);
}

rml_status rml_train_curve_add(rml_train_curve *c, double epoch, double lr, double loss,
			       double train_acc, double val_acc, rml_error *err)
{
	if (c->n == c->cap) {
		int64_t cap = c->cap ? 2 * c->cap : 64;
		double **cols[] = { &c->epoch, &c->lr, &c->loss, &c->train_acc, &c->val_acc };
		for (size_t i = 0; i < sizeof cols / sizeof cols[0]; i++) {
			double *p = realloc(*cols[i], (size_t)cap * sizeof *p);
			if (!p)
				return rml_errorf(err, RML_ERR_NOMEM, "out of memory for the learning curve");
			*cols[i] = p;
		}
		c->cap = cap;
	}
	c->epoch[c->n] = epoch;
	c->lr[c->n] = lr;
	c->loss[c->n] = loss;
	c->train_acc[c->n] = train_acc;
	c->val_acc[c->n] = val_acc;
	c->n++;
	return RML_OK;
}

/* The value of "key": in a log line: 1 and *v for a finite number, 1 and
 * NaN for null (when null_ok), 0 when missing or malformed. */
static int log_value(const char *line, const char *key, int null_ok, double *v)
{
	char pat[32];
	snprintf(pat, sizeof pat, "\"%s\":", key);
	const char *p = strstr(line, pat);
	if (!p)
		return 0;
	p += strlen(pat);
	if (null_ok && strncmp(p, "null", 4) == 0) {
		*v = NAN;
		p += 4;
	} else {
		char *end;
		errno = 0;
		*v = strtod(p, &end);
		if (end == p || errno || !isfinite(*v))
			return 0;
		p = end;
	}
	return *p == ',' || *p == '}';
}

/* The epoch number of a log line, 0 when it has none. */
static double line_epoch(const char *line)
{
	double e;
	return log_value(line, "epoch", 0, &e) ? e : 0;
}

int rml_train_curve_add_line(rml_train_curve *c, const char *line, rml_error *err)
{
	double e, lr, loss, acc, val;
	if (!log_value(line, "epoch", 0, &e) || !log_value(line, "lr", 0, &lr) ||
	    !log_value(line, "loss", 0, &loss) || !log_value(line, "train_acc", 0, &acc) ||
	    !log_value(line, "val_acc", 1, &val))
		return 0;
	return rml_train_curve_add(c, e, lr, loss, acc, val, err) ? -1 : 1;
}

rml_status rml_train_curve_read_log(rml_train_curve *c, const char *path, int64_t upto,
				    rml_error *err)
{
	FILE *fp = fopen(path, "r");
	if (!fp)
		return errno == ENOENT ? RML_OK : rml_errorf(err, RML_ERR_IO, "cannot read %s: %s", path,
							     strerror(errno));
	char *line = NULL;
	size_t cap = 0;
	rml_status st = RML_OK;
	for (long no = 1; !st && getline(&line, &cap, fp) > 0; no++) {
		if (upto > 0 && line_epoch(line) > (double)upto)
			continue;
		int added = rml_train_curve_add_line(c, line, err);
		if (added < 0)
			st = RML_ERR_NOMEM;
		else if (added == 0)
			st = rml_errorf(err, RML_ERR_FORMAT,
					"%s line %ld: not a training log line (epoch, lr, loss, "
					"train_acc and val_acc)", path, no);
	}
	if (!st && ferror(fp))
		st = rml_errorf(err, RML_ERR_IO, "cannot read %s", path);
	free(line);
	fclose(fp);
	return st;
}

rml_status rml_train_curve_plot(const rml_train_curve *c, const char *path, int64_t epochs,
				rml_error *err)
{
	if (c->n < 1)
		return rml_errorf(err, RML_ERR_ARG, "no epoch to plot");
	size_t bytes = (size_t)c->n * sizeof(double);
	double *vx = malloc(bytes), *vy = malloc(bytes), *lr = malloc(bytes);
	if (!vx || !vy || !lr) {
		free(vx);
		free(vy);
		free(lr);
		return rml_errorf(err, RML_ERR_NOMEM, "out of memory for the learning curve");
	}
	double peak = 0, xmax = (double)epochs, best = -1, best_epoch = 0;
	int nv = 0;
	for (int64_t i = 0; i < c->n; i++) {
		peak = fmax(peak, c->lr[i]);
		xmax = fmax(xmax, c->epoch[i]);
		if (isfinite(c->val_acc[i])) {
			vx[nv] = c->epoch[i];
			vy[nv++] = c->val_acc[i];
			/* The first epoch of the best accuracy, as in "best at". */
			if (c->val_acc[i] > best) {
				best = c->val_acc[i];
				best_epoch = c->epoch[i];
			}
		}
	}
	for (int64_t i = 0; i < c->n; i++)
		lr[i] = peak > 0 ? c->lr[i] / peak : 0;
	rml_series s[3] = {
		{ "train accuracy", c->epoch, c->train_acc, (int)c->n, 0x1f77b4, 0 },
		{ "learning rate / peak", c->epoch, lr, (int)c->n, 0xa0a0a0, 0 },
		{ "validation accuracy", vx, vy, nv, 0xff7f0e, 0 },
	};
	char title[128];
	if (nv)
		snprintf(title, sizeof title, "Learning curve: best val acc %.4f (epoch %.0f)",
			 best, best_epoch);
	else
		snprintf(title, sizeof title, "Learning curve");
	rml_status st = rml_plot_png(path, title, "epoch", "accuracy", s, nv ? 3 : 2, 0, fmax(xmax, 1),
				     0, 1, err);
	free(vx);
	free(vy);
	free(lr);
	return st;
}
