/*
 * eval_compare.c — `rmlops-eval --compare B`: load the two sides (two
 * models on one dataset, or two predictions files), make sure they speak
 * of the same examples, compare them (lib/compare.c), optionally under
 * paired repeated faults, print the report (text or JSON) and turn the
 * --promote-if rules into the exit status. Option parsing stays in
 * rmlops-eval.c; the comparison under faults is lib/compare_model.c,
 * the report's text lib/compare_report.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "calib_model.h"
#include "cli.h"
#include "compare_model.h"
#include "compare_report.h"
#include "dataset.h"
#include "eval_compare.h"
#include "inject_model.h"
#include "model.h"

int eval_compare_rule(struct eval_compare *c, const char *text)
{
	rml_error err = { 0 };
	if (c->n_rules >= EVAL_MAX_RULES)
		return cli_usage_error("at most %d --promote-if rules", EVAL_MAX_RULES);
	if (rml_promote_rule_parse(text, &c->rules[c->n_rules], &err))
		return cli_usage_error("%s", err.msg);
	c->rule_text[c->n_rules++] = text;
	return 0;
}

/* One side of the comparison: a model (with its rejection rule) or a
 * predictions file, and where it came from. */
typedef struct {
	const char *path;
	rml_file f;
	rml_compare_side s;
} side;

static rml_status load_preds(side *s, const char *role, rml_error *err)
{
	rml_status st = cli_load(&s->f, s->path, role, err);
	if (!st)
		st = rml_expect_kind(&s->f, "predictions", s->path, err);
	if (!st)
		st = rml_predictions_from_file(&s->s.p, &s->f, err);
	return st;
}

static rml_status load_model(side *s, const struct eval_compare *c, const rml_dataset *d,
			     const char *role, rml_error *err)
{
	rml_compare_side *cs = &s->s;
	rml_status st = cli_load(&s->f, s->path, role, err);
	if (!st)
		st = rml_expect_kind(&s->f, "model", s->path, err);
	if (!st)
		st = rml_model_from_file(&cs->m, &s->f, err);
	if (!st)
		st = rml_model_calib_check(cs->m, err);
	rml_file_free(&s->f);
	if (st)
		return st;
	int h, w, ch;
	rml_model_input_shape(cs->m, &h, &w, &ch);
	if (d->h != h || d->w != w || d->c != ch)
		return rml_errorf(err, RML_ERR_MISMATCH, "%s takes %dx%dx%d images, %s holds %lldx%lldx%lld",
				  s->path, h, w, ch, c->a->data, (long long)d->h, (long long)d->w, (long long)d->c);
	if (d->n_classes > rml_model_n_classes(cs->m))
		return rml_errorf(err, RML_ERR_MISMATCH, "the dataset has %d classes, %s %d", d->n_classes,
				  s->path, rml_model_n_classes(cs->m));
	/* Each model keeps the rejection rule it carries unless the command
	 * line gives one for both. */
	cs->rule = c->a->reject;
	cs->threshold = c->a->threshold;
	cs->rate = c->a->reject == RML_REJECT_NONE ? -1 : c->a->rate;
	cs->calibrated = !c->a->no_calib;
	if (!c->a->reject_given && !c->a->no_calib) {
		rml_model_reject_rule(cs->m, &cs->rule, &cs->threshold);
		cs->rate = -1;
	}
	st = rml_predictions_alloc(&cs->p, d->n, rml_model_n_classes(cs->m), err);
	if (!st)
		memcpy(cs->p.labels, d->labels, (size_t)d->n * sizeof *cs->p.labels);
	return st;
}

static void progress(int64_t done, int64_t total)
{
	cli_progress("repetitions", done, total);
}

/* The report in o to standard output, with the rules judged on [lo, hi]:
 * the exit status. */
static int decide(const struct eval_compare *c, rml_outbuf *o, const double lo[RML_CMP_N],
		  const double hi[RML_CMP_N], rml_error *err)
{
	int promote = rml_promote_text(o, c->json, c->rules, c->rule_text, c->n_rules, lo, hi);
	if (o->failed) {
		rml_errorf(err, RML_ERR_NOMEM, "out of memory");
		return CLI_EXIT_FAIL;
	}
	if (o->len)
		fwrite(o->data, 1, o->len, stdout);
	return !c->n_rules || promote ? CLI_EXIT_OK : EVAL_EXIT_KEEP;
}

/* The two sides measured: two predictions files as they are (with the
 * rejections of --reject, when given), or two models on the data, once
 * or under paired faults. */
static int measure(const struct eval_compare *c, side *sa, side *sb, rml_dataset *d, rml_outbuf *o,
		   rml_error *err)
{
	double lo[RML_CMP_N], hi[RML_CMP_N];
	if (c->a->preds) {
		if (load_preds(sa, "predictions", err) || load_preds(sb, "candidate", err))
			return CLI_EXIT_FAIL;
		/* The digests of the data each was made on, when recorded. */
		const char *da = rml_provenance_input(&sa->f, "data"), *db = rml_provenance_input(&sb->f, "data");
		if (da && db && strcmp(da, db)) {
			rml_errorf(err, RML_ERR_MISMATCH,
				   "%s and %s were predicted on different datasets (data %.19s... and %.19s...)",
				   sa->path, sb->path, da, db);
			return CLI_EXIT_FAIL;
		}
		if (!da || !db)
			cli_info("a predictions file does not name its dataset: checking count and labels only");
		/* A predictions file keeps its rejections unless --reject is given. */
		for (int j = 0; c->a->reject_given && j < 2; j++) {
			double used;
			if (rml_predictions_reject(&(j ? sb : sa)->s.p, c->a->reject, c->a->threshold,
						   c->a->reject == RML_REJECT_NONE ? -1 : c->a->rate, &used, err))
				return CLI_EXIT_FAIL;
		}
		if (rml_compare_check(&sa->s.p, &sb->s.p, err)) {
			char msg[sizeof err->msg];
			snprintf(msg, sizeof msg, "%s", err->msg);
			rml_errorf(err, RML_ERR_MISMATCH, "%s and %s: %s", sa->path, sb->path, msg);
			return CLI_EXIT_FAIL;
		}
	} else {
		if (cli_load(&sa->f, c->a->data, "data", err) || rml_dataset_from_file(d, &sa->f, err))
			return CLI_EXIT_FAIL;
		rml_file_free(&sa->f);
		if (load_model(sa, c, d, "model", err) || load_model(sb, c, d, "candidate", err))
			return CLI_EXIT_FAIL;
		if (sa->s.p.k != sb->s.p.k) {
			rml_errorf(err, RML_ERR_MISMATCH, "%s has %lld classes, %s %lld", sa->path,
				   (long long)sa->s.p.k, sb->path, (long long)sb->s.p.k);
			return CLI_EXIT_FAIL;
		}
		if (c->a->repeat) {
			rml_summary sum[RML_CMP_N][3];
			if (rml_compare_under_faults(&sa->s, &sb->s, d, c->a->target ? c->a->target : "theta", &c->a->spec,
						     c->a->repeat, (uint64_t)c->seed, c->a->batch, (int)c->a->bins, sum, lo,
						     hi, progress, err))
				return CLI_EXIT_FAIL;
			rml_compare_repeat_text(o, c->json, sa->path, sb->path, d->n, c->a->repeat, c->seed, &c->a->spec,
						(const rml_summary(*)[3])sum, lo, hi);
			return decide(c, o, lo, hi, err);
		}
		if (rml_compare_side_predict(&sa->s, d, c->a->batch, err) ||
		    rml_compare_side_predict(&sb->s, d, c->a->batch, err))
			return CLI_EXIT_FAIL;
	}
	rml_compare_report r;
	if (rml_compare(&sa->s.p, &sb->s.p, (int)c->a->bins, c->a->n_boot, (uint64_t)c->seed, &r, err))
		return CLI_EXIT_FAIL;
	rml_compare_text(o, c->json, &r, sa->path, sb->path, c->seed);
	for (int k = 0; k < RML_CMP_N; k++) {
		lo[k] = r.m[k].lo;
		hi[k] = r.m[k].hi;
	}
	return decide(c, o, lo, hi, err);
}

int eval_compare_run(const struct eval_compare *c)
{
	rml_error err = { 0 };
	side sa = { .path = c->a->preds ? c->a->preds : c->a->model }, sb = { .path = c->a->against };
	side *both[2] = { &sa, &sb };
	rml_dataset d;
	rml_dataset_init(&d);
	rml_outbuf o;
	rml_outbuf_init(&o);
	for (int j = 0; j < 2; j++) {
		rml_file_init(&both[j]->f);
		rml_predictions_init(&both[j]->s.p);
	}
	int status = measure(c, &sa, &sb, &d, &o, &err);
	if (status == CLI_EXIT_FAIL)
		cli_fail(&err);
	for (int j = 0; j < 2; j++) {
		rml_predictions_free(&both[j]->s.p);
		rml_model_free(both[j]->s.m);
		rml_file_free(&both[j]->f);
	}
	rml_dataset_free(&d);
	rml_outbuf_free(&o);
	return status;
}
