/*
 * metaopt_run.c — the files, log, plots and summaries of a resilience
 * optimisation run (see metaopt_run.h). The log and report formats are
 * the ones rmlops-metaopt has always written.
 */
#include "metaopt_run.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "canvas.h"
#include "classes.h"
#include "metrics.h"
#include "outtext.h"
#include "train.h"

rml_status rml_metaopt_pool_load(rml_dist_pool *p, const char *arg, int with_tasks,
				 rml_error *err)
{
	if (!arg)
		return rml_dist_pool_parse_list(p, with_tasks ? "fgsm,fault,task" : "fgsm,fault", err);
	FILE *fp = fopen(arg, "r");
	if (!fp)
		return rml_dist_pool_parse_list(p, arg, err);
	char *text = NULL;
	size_t len = 0;
	FILE *mem = open_memstream(&text, &len);
	char buf[4096];
	size_t n;
	while (mem && (n = fread(buf, 1, sizeof buf, fp)) > 0 && len < (1u << 20))
		fwrite(buf, 1, n, mem);
	fclose(fp);
	if (mem)
		fclose(mem);
	if (!text)
		return rml_errorf(err, RML_ERR_NOMEM, "out of memory");
	rml_status st = strlen(text) != len ? rml_errorf(err, RML_ERR_FORMAT, "%s: NUL byte", arg)
					    : rml_dist_pool_parse_yaml(p, text, arg, err);
	free(text);
	return st;
}

struct kept {
	int64_t keep;
	double *rmean, *held;
};

/* The first keep lines stay; their R values are read back for the plot. */
static int keep_first(void *ctx, int64_t i, const char *line)
{
	struct kept *k = ctx;
	if (i >= k->keep)
		return -1;
	const char *p = strstr(line, "\"r_mean\":"), *q = strstr(line, "\"heldout\":");
	k->rmean[i] = p ? strtod(p + 9, NULL) : NAN;
	k->held[i] = q && q[10] != 'n' ? strtod(q + 10, NULL) : NAN;
	return 1;
}

FILE *rml_metaopt_log_open(const char *path, int64_t keep, double *rmean, double *held,
			   rml_error *err)
{
	struct kept k = { keep, rmean, held };
	return rml_log_reopen(path, keep > 0 ? keep_first : NULL, &k, err);
}

static void num(FILE *fp, const char *key, double v)
{
	if (isfinite(v))
		fprintf(fp, ",\"%s\":%.6f", key, v);
	else
		fprintf(fp, ",\"%s\":null", key);
}

void rml_metaopt_log_write(FILE *log, const rml_metaopt_record *rec)
{
	fprintf(log, "{\"iteration\":%lld,\"type\":\"%s\"", (long long)rec->iteration,
		rml_dist_kind_name(rec->kind));
	num(log, "r_plus", rec->r_plus);
	num(log, "r_minus", rec->r_minus);
	num(log, "r_mean", rec->r_mean);
	num(log, "heldout", rec->heldout);
	num(log, "grad_norm", rec->grad_norm);
	num(log, "step_norm", rec->step_norm);
	num(log, "seconds", rec->seconds);
	fprintf(log, ",\"best\":%s}\n", rec->best ? "true" : "false");
	fflush(log);
}

rml_status rml_metaopt_stored_args(const rml_file *ckpt, const char *what, char ***argv,
				   int *argc, rml_error *err)
{
	const rml_kv *kv = rml_get(ckpt, "metaopt.argv");
	*argv = NULL;
	*argc = 0;
	if (!kv || kv->type != RML_KV_STR_ARRAY || kv->n < 1 || kv->n > 1000)
		return rml_errorf(err, RML_ERR_FORMAT, "%s: not a metaopt checkpoint", what);
	char **v = calloc((size_t)kv->n + 1, sizeof *v);
	if (!v)
		return rml_errorf(err, RML_ERR_NOMEM, "out of memory");
	for (int64_t i = 0; i < kv->n; i++)
		v[i] = kv->sa[i];
	*argv = v;
	*argc = (int)kv->n;
	return RML_OK;
}

rml_status rml_metaopt_run_loop(rml_metaopt *mo, const rml_metaopt_loop *l, double *rmean,
				double *held, rml_error *err)
{
	while (!rml_metaopt_done(mo) && !(l->stop && l->stop(l->ctx)) &&
	       !(l->until && rml_metaopt_iteration(mo) >= l->until)) {
		rml_metaopt_record rec;
		rml_status st = rml_metaopt_step(mo, &rec, err);
		if (st)
			return st;
		rmean[rec.iteration] = rec.r_mean;
		held[rec.iteration] = rec.heldout;
		if (l->log)
			rml_metaopt_log_write(l->log, &rec);
		if (l->after)
			l->after(l->ctx, mo, &rec);
		if (l->checkpoint && l->checkpoint[0] &&
		    (st = rml_metaopt_checkpoint(mo, l->m, l->argc, l->argv, l->checkpoint, err)))
			return st;
	}
	return RML_OK;
}

void rml_metaopt_result_json(rml_outbuf *o, const rml_metaopt *mo)
{
	double p0, before, best;
	int64_t best_it;
	rml_metaopt_summary(mo, &p0, &before, &best, &best_it);
	rml_outbuf_printf(o, "{\"iterations\":%lld,\"p0\":%.6f,\"heldout_before\":%.6f,"
		       "\"heldout_after\":%.6f,\"best_iteration\":%lld}\n",
		       (long long)rml_metaopt_iteration(mo), p0, before, best, (long long)best_it);
}

rml_status rml_metaopt_checkpoint(const rml_metaopt *mo, const rml_model *m, int argc,
				  char *const *argv, const char *path, rml_error *err)
{
	rml_file f;
	rml_file_init(&f);
	rml_status st = rml_model_to_file(m, &f, err);
	if (!st && rml_set_str_array(&f, "metaopt.argv", (const char *const *)argv, argc))
		st = rml_errorf(err, RML_ERR_NOMEM, "out of memory");
	if (!st)
		st = rml_metaopt_save(mo, &f, err);
	if (!st)
		st = rml_file_save(&f, path, err);
	rml_file_free(&f);
	return st;
}

rml_status rml_metaopt_result_file(const rml_metaopt *mo, const rml_model *m, rml_file *f,
				   rml_error *err)
{
	double p0, before, best;
	int64_t best_it;
	rml_metaopt_summary(mo, &p0, &before, &best, &best_it);
	/* A copy of m through its file, so m itself stays as given. */
	rml_model *out = NULL;
	rml_status st = rml_model_to_file(m, f, err);
	if (!st)
		st = rml_model_from_file(&out, f, err);
	if (!st)
		st = rml_metaopt_result(mo, out, err);
	rml_file_free(f);
	rml_file_init(f);
	if (!st)
		st = rml_model_to_file(out, f, err);
	if (!st && (rml_set_i64(f, "metaopt.iterations", rml_metaopt_iteration(mo)) ||
		    rml_set_f64(f, "metaopt.p0", p0) ||
		    rml_set_f64(f, "metaopt.heldout_before", before) ||
		    rml_set_f64(f, "metaopt.heldout_after", best)))
		st = rml_errorf(err, RML_ERR_NOMEM, "out of memory");
	rml_model_free(out);
	return st;
}

rml_status rml_metaopt_plot_run(const char *path, const double *rmean, const double *held,
				int64_t n, rml_error *err)
{
	double *x = malloc((size_t)(n + 1) * sizeof *x), *hx = malloc((size_t)(n + 1) * sizeof *hx),
	       *hy = malloc((size_t)(n + 1) * sizeof *hy);
	if (!x || !hx || !hy) {
		free(x);
		free(hx);
		free(hy);
		return rml_errorf(err, RML_ERR_NOMEM, "out of memory");
	}
	int nh = 0;
	double lo = INFINITY, hi = -INFINITY;
	for (int64_t i = 0; i < n; i++) {
		x[i] = (double)i + 1;
		if (isfinite(rmean[i])) {
			lo = fmin(lo, rmean[i]);
			hi = fmax(hi, rmean[i]);
		}
		if (isfinite(held[i])) {
			hx[nh] = (double)i + 1;
			hy[nh++] = held[i];
			lo = fmin(lo, held[i]);
			hi = fmax(hi, held[i]);
		}
	}
	if (!(lo < hi)) {
		lo = isfinite(lo) ? lo - 0.05 : 0;
		hi = lo + 0.1;
	}
	rml_series s[2] = {
		{ "R, training", x, rmean, (int)n, 0x4878d0, 0 },
		{ "R, held-out", hx, hy, nh, 0xd04848, 0 },
	};
	rml_status st = rml_plot_png(path, "Resilience criterion over the outer iterations",
				     "iteration", "R", s, 2, 0, (double)n + 1, lo - 0.02, hi + 0.02, err);
	free(x);
	free(hx);
	free(hy);
	return st;
}

/* mean, sd and interval from the sum s and sum of squares s2 of n values. */
static void stats_from_sums(rml_metaopt_stats *st, double s, double s2, int n)
{
	double mean = s / n, sd = n > 1 ? sqrt(fmax(0, (s2 - s * mean) / (n - 1))) : 0;
	double h = n > 1 ? rml_student_t975(n - 1) * sd / sqrt(n) : 0;
	st->n = n;
	st->mean = mean;
	st->sd = sd;
	st->lo = mean - h;
	st->hi = mean + h;
}

void rml_metaopt_eval_stats(const double *r, const double *curves, int n_dist, int n_per, int T,
			    rml_metaopt_stats *by, rml_metaopt_stats *all)
{
	double sa = 0, sa2 = 0;
	for (int e = 0; e < n_dist; e++) {
		double s = 0, s2 = 0, a0 = 0, aT = 0;
		for (int i = 0; i < n_per; i++) {
			double v = r[e * n_per + i];
			s += v;
			s2 += v * v;
			if (curves) {
				a0 += curves[(int64_t)(e * n_per + i) * (T + 1)];
				aT += curves[(int64_t)(e * n_per + i) * (T + 1) + T];
			}
		}
		sa += s;
		sa2 += s2;
		stats_from_sums(&by[e], s, s2, n_per);
		by[e].acc_before = curves ? a0 / n_per : NAN;
		by[e].acc_after = curves ? aT / n_per : NAN;
	}
	stats_from_sums(all, sa, sa2, n_dist * n_per);
	all->acc_before = all->acc_after = NAN;
}

void rml_metaopt_eval_report(FILE *fp, int json, const rml_dist_pool *pool, double p0, int T,
			     int n_per, const double *r, const double *curves)
{
	rml_metaopt_stats by[RML_DIST_MAX], all;
	rml_metaopt_eval_stats(r, curves, pool->n, n_per, T, by, &all);
	if (json)
		fprintf(fp, "{\"p0\":%.6f,\"steps\":%d,\"by_disturbance\":[", p0, T);
	else
		fprintf(fp, "P0 %.4f (undisturbed accuracy on the held-out images), T %d\n"
			"%-3s %-6s %6s %8s %19s %10s %10s\n", p0, T, "#", "type", "n", "R", "95% CI",
			"acc t=0", "acc t=T");
	for (int e = 0; e < pool->n; e++) {
		const rml_metaopt_stats *b = &by[e];
		const char *name = rml_dist_kind_name(pool->d[e].kind);
		if (!json) {
			fprintf(fp, "%-3d %-6s %6d %8.4f    [%.4f, %.4f] %10.4f %10.4f\n", e + 1, name,
				n_per, b->mean, b->lo, b->hi, b->acc_before, b->acc_after);
			continue;
		}
		fprintf(fp, "%s{\"type\":\"%s\",\"resilience\":{\"mean\":%.6f,\"sd\":%.6f,"
			"\"ci95\":[%.6f,%.6f],\"n_rep\":%d},\"acc_before\":%.6f,\"acc_after\":%.6f,"
			"\"r\":[", e ? "," : "", name, b->mean, b->sd, b->lo, b->hi, n_per,
			b->acc_before, b->acc_after);
		for (int i = 0; i < n_per; i++)
			fprintf(fp, "%s%.6f", i ? "," : "", r[e * n_per + i]);
		fprintf(fp, "]}");
	}
	if (json)
		fprintf(fp, "],\"resilience\":{\"mean\":%.6f,\"sd\":%.6f,\"ci95\":[%.6f,%.6f],\"n_rep\":%d}}\n",
			all.mean, all.sd, all.lo, all.hi, all.n);
	else
		fprintf(fp, "%-3s %-6s %6d %8.4f    [%.4f, %.4f]\n", "", "all", all.n, all.mean, all.lo,
			all.hi);
}

rml_status rml_metaopt_plot_curves(const char *path, const rml_dist_pool *pool,
				   const double *curves, int n_per, int T, double p0,
				   rml_error *err)
{
	rml_series s[RML_DIST_MAX];
	char names[RML_DIST_MAX][32];
	static const uint32_t colours[] = { 0x4878d0, 0xd04848, 0x48a048, 0x9050b0, 0xc08020 };
	double *xs = malloc((size_t)(T + 1) * sizeof *xs);
	double *ys = malloc((size_t)pool->n * (T + 1) * sizeof *ys);
	if (!xs || !ys) {
		free(xs);
		free(ys);
		return rml_errorf(err, RML_ERR_NOMEM, "out of memory");
	}
	for (int t = 0; t <= T; t++)
		xs[t] = t;
	for (int e = 0; e < pool->n; e++) {
		for (int t = 0; t <= T; t++) {
			double a = 0;
			for (int i = 0; i < n_per; i++)
				a += curves[(int64_t)(e * n_per + i) * (T + 1) + t];
			ys[e * (T + 1) + t] = a / n_per / p0;
		}
		snprintf(names[e], sizeof names[e], "%d %s", e + 1, rml_dist_kind_name(pool->d[e].kind));
		s[e] = (rml_series){ names[e], xs, ys + e * (T + 1), T + 1, colours[e % 5], 0 };
	}
	rml_status st = rml_plot_png(path, "Resilience curves: accuracy / P0 while adapting",
				     "SGD step", "P_t / P0", s, pool->n, 0, T, 0, 1.1, err);
	free(xs);
	free(ys);
	return st;
}

rml_status rml_metaopt_eval_run(const rml_model *m, const rml_metaopt_config *cfg,
				const rml_dist_pool *pool, const rml_metaopt_data *data, int n_per,
				int n_workers, FILE *fp, int json, const char *plot, rml_error *err)
{
	int T = cfg->steps, n = pool->n * n_per;
	double *r = malloc((size_t)n * sizeof *r), *curves = malloc((size_t)n * (T + 1) * sizeof *curves);
	double p0 = NAN;
	rml_status st = !r || !curves ? rml_errorf(err, RML_ERR_NOMEM, "out of memory") : RML_OK;
	if (!st)
		st = rml_metaopt_evaluate(m, cfg, pool, data, n_per, n_workers, r, curves, &p0, err);
	if (!st) {
		rml_metaopt_eval_report(fp, json, pool, p0, T, n_per, r, curves);
		if (plot)
			st = rml_metaopt_plot_curves(plot, pool, curves, n_per, T, p0, err);
	}
	free(r);
	free(curves);
	return st;
}

/* ---- what a command line asks, and its inputs ------------------------------- */

void rml_metaopt_args_init(rml_metaopt_args *a)
{
	memset(a, 0, sizeof *a);
	rml_metaopt_config_default(&a->cfg);
}

rml_status rml_metaopt_args_option(rml_metaopt_args *a, const char *name, const char *arg,
				   rml_error *err)
{
	rml_metaopt_config *c = &a->cfg;
	if (!strcmp(name, "adapters") && (a->gamma & (a->gamma - 1)))
		return rml_errorf(err, RML_ERR_ARG, "--adapters takes 1, 2, 4 or 8");
	if (!strcmp(name, "sigma") && !(c->sigma > 0))
		return rml_errorf(err, RML_ERR_ARG, "--sigma must be greater than 0");
	if (!strcmp(name, "p0") && !(c->p0 > 0))
		return rml_errorf(err, RML_ERR_ARG, "--p0 must be in (0, 1]");
	if (!strcmp(name, "train-metric")) {
		if (!strcmp(arg, "prob"))
			c->train_metric = RML_METAOPT_PROB;
		else if (!strcmp(arg, "acc"))
			c->train_metric = RML_METAOPT_ACCURACY;
		else
			return rml_errorf(err, RML_ERR_ARG, "--train-metric takes prob or acc");
	}
	if (!strcmp(name, "quick")) {
		c->steps = 10;
		c->val_size = 50;
		c->n_impl = 1;
		c->iterations = 6;
		c->heldout = 1;
		c->eval_every = 2;
		a->repeat = 4;
	}
	return RML_OK;
}

rml_status rml_metaopt_args_check(rml_metaopt_args *a, rml_error *err)
{
	if (!a->model)
		return rml_errorf(err, RML_ERR_ARG, "no model (-m)");
	if (!a->val)
		return rml_errorf(err, RML_ERR_ARG, "no held-out images (--val)");
	if (!a->eval && !a->data)
		return rml_errorf(err, RML_ERR_ARG, "no training images (-d)");
	if (a->log && !strcmp(a->log, "-"))
		return rml_errorf(err, RML_ERR_ARG, "--log wants a file: it is rewritten on --resume");
	if (a->eval && (a->output || a->checkpoint || a->log || a->until))
		return rml_errorf(err, RML_ERR_ARG, "--eval writes no model, checkpoint or log");
	if (!a->eval && !a->output)
		a->output = "-";
	return RML_OK;
}

typedef rml_status (*load_fn)(rml_file *f, const char *path, const char *role, rml_error *err);

rml_status rml_metaopt_resume_load(const rml_metaopt_args *a, rml_file *ckpt, char ***argv,
				   int *argc, int *usage, load_fn load, rml_error *err)
{
	*usage = a->model || a->data || a->val || a->tasks || a->pool || a->output || a->log || a->plot ||
		 a->eval;
	if (*usage)
		return rml_errorf(err, RML_ERR_ARG, "--resume takes the run's options from the checkpoint");
	rml_status st = load ? load(ckpt, a->resume, "checkpoint", err) : rml_file_load(ckpt, a->resume, err);
	if (!st)
		st = rml_metaopt_stored_args(ckpt, a->resume, argv, argc, err);
	if (st)
		rml_file_free(ckpt);
	return st;
}

void rml_metaopt_inputs_init(rml_metaopt_inputs *in)
{
	memset(in, 0, sizeof *in);
	rml_dataset_init(&in->data);
	rml_dataset_init(&in->val);
	rml_file_init(&in->tasks);
}

void rml_metaopt_inputs_free(rml_metaopt_inputs *in)
{
	rml_model_free(in->m);
	rml_dataset_free(&in->data);
	rml_dataset_free(&in->val);
	rml_file_free(&in->tasks);
	rml_metaopt_inputs_init(in);
}

static rml_status load_file(load_fn load, rml_file *f, const char *path, const char *role,
			    rml_error *err)
{
	rml_file_init(f);
	return load ? load(f, path, role, err) : rml_file_load(f, path, err);
}

/* A dataset as cli_load_dataset reads it: the kind checked, the path (or
 * "standard input") named, then fitted to the model. */
static rml_status load_images(load_fn load, rml_dataset *d, const char *path, const char *role,
			      const rml_model *m, rml_error *err)
{
	rml_file f;
	rml_status st = load_file(load, &f, path, role, err);
	if (!st)
		st = rml_expect_kind(&f, "dataset", strcmp(path, "-") ? path : "standard input", err);
	if (!st)
		st = rml_dataset_from_file(d, &f, err);
	rml_file_free(&f);
	return st ? st : rml_dataset_fit_model(d, m, 1, path, err);
}

rml_status rml_metaopt_inputs_load(rml_metaopt_inputs *in, const rml_metaopt_args *a,
				   const rml_file *ckpt, load_fn load, rml_error *err)
{
	rml_file f;
	rml_file_init(&f);
	rml_status st = rml_metaopt_pool_load(&in->pool, a->pool, a->tasks != NULL, err);
	if (!st && a->resume)
		st = rml_model_from_file(&in->m, ckpt, err);
	else if (!st) {
		if (!(st = load_file(load, &f, a->model, "model", err)) &&
		    !(st = rml_expect_kind(&f, "model", a->model, err)))
			st = rml_model_from_file(&in->m, &f, err);
		if (!st && a->gamma && !rml_model_has_adapters(in->m))
			st = rml_model_add_adapters(in->m, (int)a->gamma, a->cfg.seed, err);
	}
	rml_file_free(&f);
	if (!st && a->data)
		st = load_images(load, &in->data, a->data, "data", in->m, err);
	if (!st)
		st = load_images(load, &in->val, a->val, "val", in->m, err);
	if (!st && a->tasks && !(st = load_file(load, &in->tasks, a->tasks, "tasks", err)))
		st = rml_expect_kind(&in->tasks, "dataset", a->tasks, err);
	in->md = (rml_metaopt_data){ a->data ? &in->data : NULL, &in->val, a->tasks ? &in->tasks : NULL };
	return st;
}

rml_status rml_metaopt_result_write(const rml_metaopt *mo, const rml_model *m, const char *path,
				    int64_t seed,
				    rml_status (*save)(rml_file *f, const char *path, int64_t seed,
						       rml_error *err),
				    int json, rml_outbuf *o, rml_error *err)
{
	rml_file f;
	rml_file_init(&f);
	rml_status st = rml_metaopt_result_file(mo, m, &f, err);
	if (!st)
		st = save ? save(&f, path, seed, err) : rml_file_save(&f, path, err);
	rml_file_free(&f);
	if (st)
		return st;
	double p0, before, best;
	int64_t best_it;
	rml_metaopt_summary(mo, &p0, &before, &best, &best_it);
	if (json)
		rml_metaopt_result_json(o, mo);
	else
		rml_outbuf_printf(o, "%lld iterations; held-out R %.4f -> %.4f (best after iteration %lld)",
				  (long long)rml_metaopt_iteration(mo), before, best, (long long)best_it);
	return RML_OK;
}
