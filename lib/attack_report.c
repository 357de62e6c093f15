/*
 * attack_report.c — rmlops-attack's reports as text, and the settings
 * and budget lists of its command line (see attack_report.h). The
 * formats are the program's documented output: a change here changes
 * what users parse.
 */
#include "attack_report.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* printf into the buffer; out of memory marks it failed, as any append. */
static void put(rml_outbuf *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(rml_outbuf *o, const char *fmt, ...)
{
	char small[512];
	va_list ap;
	va_start(ap, fmt);
	int len = vsnprintf(small, sizeof small, fmt, ap);
	va_end(ap);
	if (len < 0)
		return;
	if ((size_t)len < sizeof small) {
		rml_outbuf_add(o, small, (size_t)len);
		return;
	}
	char *big = malloc((size_t)len + 1);
	if (!big) {
		o->failed = 1;
		return;
	}
	va_start(ap, fmt);
	vsnprintf(big, (size_t)len + 1, fmt, ap);
	va_end(ap);
	rml_outbuf_add(o, big, (size_t)len);
	free(big);
}

/* JSON has no NaN or infinity: null. */
static void num(rml_outbuf *o, double v)
{
	if (isfinite(v))
		put(o, "%.6g", v);
	else
		put(o, "null");
}

rml_status rml_attack_spec_apply(rml_attack_spec *a, const char *const *keys,
				 const char *const *vals, int n, int skip_budgets, rml_error *err)
{
	for (int pass = 0; pass < 3; pass++)
		for (int i = 0; i < n; i++) {
			int when = !strcmp(keys[i], "attack") ? 0 : !strcmp(keys[i], "preset") ? 1 : 2;
			if (when != pass)
				continue;
			if (skip_budgets && (!strcmp(keys[i], "eps") || !strcmp(keys[i], "pixels")))
				continue;
			rml_error e = { 0 };
			if (rml_attack_spec_set(a, keys[i], vals[i], &e)) {
				char opt[64];
				snprintf(opt, sizeof opt, "--%s", keys[i]);
				for (char *p = opt; *p; p++)
					if (*p == '_')
						*p = '-';
				return rml_errorf(err, RML_ERR_ARG, "%s: %s", opt, e.msg);
			}
		}
	return RML_OK;
}

int rml_attack_list_parse(const char *s, double lo, double hi, int whole, double *v, int max,
			  int *n)
{
	const char *p = s;
	char *end;
	*n = 0;
	while (*p) {
		double x = strtod(p, &end);
		if (end == p || !(x >= lo && x <= hi && isfinite(x)) || (*end && *end != ',') ||
		    *n >= max || (whole && x != floor(x)))
			return -1;
		v[(*n)++] = x;
		p = *end ? end + 1 : end;
	}
	return 0;
}

rml_status rml_attack_sets_add(rml_attack_sets *s, const char *key, const char *val, rml_error *err)
{
	if (s->n >= RML_ATTACK_MAX_SETS)
		return rml_errorf(err, RML_ERR_LIMIT, "too many attack settings");
	char *k = s->key_buf[s->n];
	snprintf(k, sizeof s->key_buf[0], "%s", key);
	for (char *p = k; *p; p++)
		*p = *p == '-' ? '_' : *p;
	s->key[s->n] = k;
	s->val[s->n++] = val;
	return RML_OK;
}

rml_status rml_attack_args_check(const rml_attack_args *a, rml_attack_sets *s, rml_error *err)
{
	const char *name = a->command;
	const int create = !strcmp(name, "create"), curve = !strcmp(name, "curve");
	if (!strcmp(name, "verify")) {
		if (!a->data || !a->clean)
			return rml_errorf(err, RML_ERR_ARG, "verify needs -d ADVERSARIAL and --clean DATA");
		if (!strcmp(a->data, "-") && !strcmp(a->clean, "-"))
			return rml_errorf(err, RML_ERR_ARG,
					  "the two datasets cannot both come from standard input");
		return RML_OK;
	}
	if (!a->model || !a->data)
		return rml_errorf(err, RML_ERR_ARG, "%s needs -m MODEL and -d DATA", name);
	if (!strcmp(a->model, "-") && !strcmp(a->data, "-"))
		return rml_errorf(err, RML_ERR_ARG, "model and data cannot both come from standard input");
	if (!a->have_attack && !a->config)
		return rml_errorf(err, RML_ERR_ARG, "name an attack with --attack KIND or give --config FILE");
	if (a->clean)
		return rml_errorf(err, RML_ERR_ARG, "--clean goes with verify");
	if (a->output && !create)
		return rml_errorf(err, RML_ERR_ARG, "-o goes with create (run and curve print reports)");
	if (a->sheet && !create)
		return rml_errorf(err, RML_ERR_ARG, "--sheet, --sheet-count and --amplify go with create");
	if (a->plot && !curve)
		return rml_errorf(err, RML_ERR_ARG, "--plot goes with curve");
	if (curve && !a->eps_list && !a->pixels_list)
		return rml_errorf(err, RML_ERR_ARG,
				  "curve needs a list of budgets: --eps LIST (or --pixels LIST)");
	rml_status st;
	if (curve && a->queries_list) {
		/* The query axis: one eps, the list is the axis, and Square
		 * runs with the largest count as its budget. */
		if (!a->eps_list || a->pixels_list || strchr(a->eps_list, ','))
			return rml_errorf(err, RML_ERR_ARG,
					  "curve --queries LIST wants one --eps E (and no --pixels)");
		double v[RML_ATTACK_MAX_BUDGETS], mx = 0;
		int nv;
		if (rml_attack_list_parse(a->queries_list, 1, 1e7, 1, v, RML_ATTACK_MAX_BUDGETS, &nv))
			return rml_errorf(err, RML_ERR_ARG,
					  "--queries wants up to %d whole numbers from 1 to 10000000 "
					  "separated by commas, not '%s'",
					  RML_ATTACK_MAX_BUDGETS, a->queries_list);
		for (int i = 0; i < nv; i++)
			mx = fmax(mx, v[i]);
		snprintf(s->queries_max, sizeof s->queries_max, "%.0f", mx);
		if ((st = rml_attack_sets_add(s, "eps", a->eps_list, err)) ||
		    (st = rml_attack_sets_add(s, "queries", s->queries_max, err)))
			return st;
	} else if (a->queries_list && (st = rml_attack_sets_add(s, "queries", a->queries_list, err))) {
		return st;
	}
	if (!curve && ((a->eps_list && (st = rml_attack_sets_add(s, "eps", a->eps_list, err))) ||
		       (a->pixels_list && (st = rml_attack_sets_add(s, "pixels", a->pixels_list, err)))))
		return st;
	snprintf(s->seed, sizeof s->seed, "%lld", (long long)a->seed);
	if (a->seed_given && (st = rml_attack_sets_add(s, "seed", s->seed, err)))
		return st;
	rml_attack_spec probe;
	rml_attack_spec_default(&probe, RML_ATTACK_FGSM);
	if ((st = rml_attack_spec_apply(&probe, s->key, s->val, s->n, curve && !a->queries_list, err)))
		return st;
	if (!a->config && (st = rml_attack_spec_check(&probe, 0, err)))
		return st;
	return RML_OK;
}

rml_status rml_attack_list_make(const char *config, const char *name, const rml_attack_sets *s,
				int skip_budgets, int n_classes, int only_one, rml_attack_spec **list,
				int *n, int *usage, rml_error *err)
{
	rml_status st;
	*usage = 0;
	if (config) {
		if ((st = rml_attack_spec_load(config, name, list, n, err)))
			return st;
	} else {
		if (!(*list = malloc(sizeof **list)))
			return rml_errorf(err, RML_ERR_NOMEM, "out of memory");
		rml_attack_spec_default(*list, RML_ATTACK_FGSM);
		*n = 1;
		if (name && (st = rml_attack_spec_set(*list, "name", name, err)))
			return st;
	}
	for (int i = 0; i < *n; i++) {
		if (config && (st = rml_attack_spec_check(&(*list)[i], n_classes, err)))
			return st;
		*usage = 1;
		if ((st = rml_attack_spec_apply(&(*list)[i], s->key, s->val, s->n, skip_budgets, err)) ||
		    (st = rml_attack_spec_check(&(*list)[i], n_classes, err)))
			return st;
		*usage = 0;
	}
	if (only_one && *n > 1) {
		*usage = 1;
		return rml_errorf(err, RML_ERR_ARG,
				  "%s lists %d attacks; create makes one dataset: choose one with --name NAME",
				  config, *n);
	}
	return RML_OK;
}

void rml_attack_report_header(rml_outbuf *o)
{
	put(o, "%-16s %6s %10s %8s %12s %9s %9s %7s %12s %9s\n", "attack", "n", "clean_acc1", "acc1",
	    "success_rate", "linf_mean", "l2_mean", "l0_mean", "queries_mean", "seconds");
}

void rml_attack_report_row(rml_outbuf *o, const rml_attack_spec *a, const rml_attack_report *r)
{
	put(o, "%-16s %6lld %10.4f %8.4f %12.4f %9.3f %9.3f %7.1f %12.1f %9.2f\n", a->name,
	    (long long)r->n, r->clean_acc1, r->acc1, r->success_rate, r->linf_mean, r->l2_mean,
	    r->l0_mean, r->queries_mean, r->seconds);
}

void rml_attack_report_json(rml_outbuf *o, const rml_attack_spec *a, const rml_attack_report *r)
{
	const rml_attack_config *c = &a->cfg;
	put(o, "{\"name\":\"%s\",\"attack\":\"%s\",\"norm\":\"%s\",", a->name,
	    rml_attack_kind_name(c->kind), rml_attack_norm_name(c->norm));
	if (c->kind == RML_ATTACK_PIXEL_L0)
		put(o, "\"pixels\":%lld,", (long long)c->pixels);
	else
		put(o, "\"eps\":%g,", c->eps);
	put(o, "\"target\":\"%s\",\"seed\":%llu,\"n\":%lld,\"n_attacked\":%lld,\"n_success\":%lld,",
	    rml_target_mode_name(a->target), (unsigned long long)c->seed, (long long)r->n,
	    (long long)r->n_attacked, (long long)r->n_success);
	const char *names[] = { "clean_acc1", "acc1", "success_rate", "linf_mean", "l2_mean", "l0_mean",
				"budget_mean", "linf_max", "l2_max" };
	double vals[] = { r->clean_acc1, r->acc1, r->success_rate, r->linf_mean, r->l2_mean, r->l0_mean,
			  r->budget_mean, r->linf_max, r->l2_max };
	for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
		put(o, "\"%s\":", names[i]);
		num(o, vals[i]);
		put(o, ",");
	}
	put(o, "\"l0_max\":%lld,\"queries\":%lld,\"queries_mean\":", (long long)r->l0_max,
	    (long long)r->queries);
	num(o, r->queries_mean);
	put(o, ",\"queries_median\":");
	num(o, r->queries_median);
	put(o, ",\"acc1_lo\":");
	num(o, r->acc1_lo);
	put(o, ",\"acc1_hi\":");
	num(o, r->acc1_hi);
	put(o, ",\"grads\":%lld,\"seconds\":", (long long)r->grads);
	num(o, r->seconds);
	put(o, ",\"images_per_s\":");
	num(o, r->seconds > 0 ? (double)r->n / r->seconds : NAN);
	put(o, ",\"queries_per_s\":");
	num(o, r->seconds > 0 ? (double)r->queries / r->seconds : NAN);
	put(o, "}");
}

void rml_attack_curve_text(rml_outbuf *o, int json, int l0, const rml_attack_spec *list, int n,
			   const double *bud, int nb, const rml_attack_report *reps,
			   int64_t n_images)
{
	const char *axis = l0 ? "pixels" : "eps";
	if (json) {
		put(o, "{\"budget\":\"%s\",\"curves\":[", axis);
		for (int i = 0; i < n; i++) {
			put(o, "%s{\"name\":\"%s\",\"attack\":\"%s\",\"points\":[", i ? "," : "", list[i].name,
			    rml_attack_kind_name(list[i].cfg.kind));
			for (int k = 0; k < nb; k++) {
				const rml_attack_report *p = &reps[i * nb + k];
				put(o, "%s{\"%s\":%g,\"n\":%lld,\"acc1\":", k ? "," : "", axis, bud[k],
				    (long long)p->n);
				num(o, p->acc1);
				put(o, ",\"success_rate\":");
				num(o, p->success_rate);
				put(o, ",\"queries_mean\":");
				num(o, p->queries_mean);
				put(o, "}");
			}
			put(o, "]}");
		}
		put(o, "]}\n");
		return;
	}
	put(o, "%-8s", axis);
	for (int i = 0; i < n; i++)
		put(o, " %16s", list[i].name);
	put(o, "   (robust accuracy acc1, %lld images)\n", (long long)n_images);
	for (int k = 0; k < nb; k++) {
		put(o, "%-8g", bud[k]);
		for (int i = 0; i < n; i++)
			put(o, " %16.4f", reps[i * nb + k].acc1);
		put(o, "\n");
	}
}

void rml_attack_query_text(rml_outbuf *o, int json, const rml_attack_spec *list, int n,
			   const double *q, int nq, const double *rates,
			   const rml_attack_report *reps, int64_t n_images)
{
	if (json) {
		put(o, "{\"budget\":\"queries\",\"eps\":%g,\"curves\":[", list[0].cfg.eps);
		for (int i = 0; i < n; i++) {
			put(o, "%s{\"name\":\"%s\",\"attack\":\"%s\",\"acc1\":", i ? "," : "", list[i].name,
			    rml_attack_kind_name(list[i].cfg.kind));
			num(o, reps[i].acc1);
			put(o, ",\"queries_median\":");
			num(o, reps[i].queries_median);
			put(o, ",\"points\":[");
			for (int k = 0; k < nq; k++) {
				put(o, "%s{\"queries\":%g,\"success_rate\":", k ? "," : "", q[k]);
				num(o, rates[i * nq + k]);
				put(o, "}");
			}
			put(o, "]}");
		}
		put(o, "]}\n");
		return;
	}
	put(o, "%-8s", "queries");
	for (int i = 0; i < n; i++)
		put(o, " %16s", list[i].name);
	put(o, "   (success rate, eps %g, %lld images)\n", list[0].cfg.eps, (long long)n_images);
	for (int k = 0; k < nq; k++) {
		put(o, "%-8g", q[k]);
		for (int i = 0; i < n; i++)
			put(o, " %16.4f", rates[i * nq + k]);
		put(o, "\n");
	}
}

void rml_attack_verify_text(rml_outbuf *o, int json, const rml_attack_verify_report *v)
{
	if (json)
		put(o, "{\"n\":%lld,\"norm\":\"%s\",\"budget\":%g,\"linf_max\":%g,\"l2_max\":%.6g,"
		    "\"l0_max\":%lld,\"n_over\":%lld}\n",
		    (long long)v->n, rml_attack_norm_name(v->norm), v->budget, v->linf_max, v->l2_max,
		    (long long)v->l0_max, (long long)v->n_over);
	else
		put(o, "n %lld\nnorm %s\nbudget %g\nlinf_max %g\nl2_max %.6g\nl0_max %lld\nn_over %lld\n",
		    (long long)v->n, rml_attack_norm_name(v->norm), v->budget, v->linf_max, v->l2_max,
		    (long long)v->l0_max, (long long)v->n_over);
}
