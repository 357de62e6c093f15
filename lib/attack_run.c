/*
 * attack_run.c — rmlops-attack's commands as library calls (see
 * attack_run.h). What they write is the program's documented output, in
 * the order it always came: a change here changes what users parse.
 */
#include "attack_run.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void rml_attack_job_init(rml_attack_job *j)
{
	memset(j, 0, sizeof *j);
	rml_dataset_init(&j->d);
}

void rml_attack_job_free(rml_attack_job *j)
{
	free(j->list);
	rml_dataset_free(&j->d);
	rml_model_free(j->m);
	rml_attack_job_init(j);
}

rml_status rml_attack_job_prepare(rml_attack_job *j, const rml_attack_args *a,
				  const rml_attack_sets *s, int64_t *batch, int *usage, rml_error *err)
{
	const int curve = !strcmp(a->command, "curve");
	rml_status st = rml_attack_list_make(a->config, a->name, s, curve && !a->queries_list,
					     rml_model_n_classes(j->m), !strcmp(a->command, "create"),
					     &j->list, &j->n, usage, err);
	if (st)
		return st;
	if (*batch > j->d.n)
		*batch = j->d.n;
	const int64_t pixels = j->d.h * j->d.w;
	for (int i = 0; !curve && i < j->n; i++) {
		const rml_attack_spec *x = &j->list[i];
		if (x->cfg.kind != RML_ATTACK_PIXEL_L0 || x->cfg.pixels <= pixels)
			continue;
		/* The count came from the command line, or from the file. */
		*usage = a->pixels_list != NULL;
		if (*usage)
			return rml_errorf(err, RML_ERR_ARG, "--pixels %lld: the images have %lld pixels",
					  (long long)x->cfg.pixels, (long long)pixels);
		return rml_errorf(err, RML_ERR_ARG, "attack %s: %lld pixels, the images have %lld", x->name,
				  (long long)x->cfg.pixels, (long long)pixels);
	}
	return RML_OK;
}

/* Write what o holds to fp and empty o. */
static void emit(FILE *fp, rml_outbuf *o)
{
	if (o->len) /* an empty buffer may have no storage: fwrite(NULL) is undefined */
		fwrite(o->data, 1, o->len, fp);
	o->len = 0;
}

rml_status rml_attack_run_report(const rml_attack_job *j, int create, int json, int quiet,
				 int64_t batch, rml_attack_dataset_progress_fn progress, FILE *fp,
				 rml_attack_dataset_result *r, rml_error *err)
{
	const int rows = !json && (!quiet || !create);
	rml_status st = RML_OK;
	rml_outbuf o;
	rml_outbuf_init(&o);
	if (rows && !quiet && !create)
		rml_attack_report_header(&o);
	if (json && !create)
		rml_outbuf_add(&o, "{\"attacks\":[", 12);
	emit(fp, &o);
	for (int i = 0; i < j->n; i++) {
		rml_attack_report rep;
		rml_attack_dataset_result_free(r);
		if ((st = rml_attack_dataset(j->m, &j->list[i], &j->d, batch, progress,
					     (void *)j->list[i].name, r, err)))
			break;
		rml_attack_summarize(r, j->d.labels, &rep);
		if (json && i)
			rml_outbuf_add(&o, ",", 1);
		if (json)
			rml_attack_report_json(&o, &j->list[i], &rep);
		else if (rows && create)
			rml_attack_report_header(&o);
		if (rows)
			rml_attack_report_row(&o, &j->list[i], &rep);
		emit(fp, &o);
	}
	if (!st && json)
		fputs(create ? "\n" : "]}\n", fp);
	rml_outbuf_free(&o);
	return st;
}

rml_status rml_attack_create_files(const rml_attack_job *j, const rml_attack_dataset_result *r,
				   const char *sheet, int64_t count, double amplify, rml_file *f,
				   rml_error *err)
{
	const char *const *names = rml_model_class_names(j->m);
	if (!names && j->d.n_classes == rml_model_n_classes(j->m))
		names = (const char *const *)j->d.class_names;
	rml_status st;
	if (sheet && (st = rml_attack_sheet(sheet, &j->list[0], &j->d, r, names, count ? count : 8,
					    amplify, err)))
		return st;
	return rml_attack_to_file(&j->list[0], &j->d, r, f, err);
}

/* One list of l; its message as the option's. */
static rml_status parse_list(const char *opt, const char *s, int whole, double *v, int *n,
			     rml_error *err)
{
	*n = 0;
	if (!s)
		return RML_OK;
	if (rml_attack_list_parse(s, 0, INFINITY, whole, v, RML_ATTACK_MAX_BUDGETS, n))
		return rml_errorf(err, RML_ERR_ARG, "%s wants up to %d %s >= 0 separated by commas, not '%s'",
				  opt, RML_ATTACK_MAX_BUDGETS, whole ? "whole numbers" : "numbers", s);
	if (!*n)
		return rml_errorf(err, RML_ERR_ARG, "%s is empty", opt);
	return RML_OK;
}

rml_status rml_attack_curve_lists_parse(const rml_attack_args *a, rml_attack_curve_lists *l,
					rml_error *err)
{
	rml_status st;
	if ((st = parse_list("--eps", a->eps_list, 0, l->eps, &l->n_eps, err)) ||
	    (st = parse_list("--pixels", a->pixels_list, 1, l->pixels, &l->n_pixels, err)))
		return st;
	return parse_list("--queries", a->queries_list, 1, l->queries, &l->n_queries, err);
}

rml_status rml_attack_curve_run(const rml_attack_job *j, const rml_attack_curve_lists *l,
				int64_t batch, rml_attack_dataset_progress_fn progress, int json,
				const char *plot, rml_outbuf *out, int *usage, rml_error *err)
{
	const int l0 = j->list[0].cfg.kind == RML_ATTACK_PIXEL_L0;
	*usage = 1;
	rml_status st = rml_attack_curve_check(j->list, j->n, l->n_queries, l->n_eps, l->n_pixels, err);
	if (st)
		return st;
	*usage = 0;
	return rml_attack_curves_report(j->m, j->list, j->n, &j->d, l0 ? l->pixels : l->eps,
					l0 ? l->n_pixels : l->n_eps, l0, l->queries, l->n_queries, batch,
					progress, json, plot, out, err);
}

rml_status rml_attack_verify_files(const char *adv, const char *clean, int json,
				   rml_status (*load)(rml_file *f, const char *path,
						      const char *role, rml_error *err),
				   rml_outbuf *out, rml_error *err)
{
	rml_file af;
	rml_dataset cd;
	rml_attack_verify_report v;
	rml_file_init(&af);
	rml_dataset_init(&cd);
	rml_status st = load ? load(&af, adv, "adversarial", err) : rml_file_load(&af, adv, err);
	if (!st)
		st = rml_dataset_load(&cd, clean, err);
	if (!st)
		st = rml_attack_verify(&af, &cd, &v, err);
	if (!st) {
		rml_attack_verify_text(out, json, &v);
		if (v.n_over)
			st = rml_errorf(err, RML_ERR_MISMATCH, "%lld of %lld images are over the %s budget %g (first: %lld)",
					(long long)v.n_over, (long long)v.n, rml_attack_norm_name(v.norm), v.budget,
					(long long)v.first_over);
	}
	rml_file_free(&af);
	rml_dataset_free(&cd);
	return st;
}
