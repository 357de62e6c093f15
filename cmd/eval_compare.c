/*
 * eval_compare.c — `rmlops-eval --compare B`: load the two sides (two
 * models on one dataset, or two predictions files), make sure they speak
 * of the same examples, compare them (lib/compare.c), optionally under
 * paired repeated faults, print the report (text or JSON) and turn the
 * --promote-if rules into the exit status. Option parsing stays in
 * rmlops-eval.c.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "calib_model.h"
#include "cli.h"
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
 * predictions file. */
typedef struct {
	const char *path;
	rml_file f;
	rml_model *m;
	rml_predictions p;
	rml_reject_rule rule;
	double threshold, rate;
	rml_fault_targets tg;
} side;

/* The dataset digest a predictions file was made from, from its
 * provenance ("data=sha256:<hex>"), or NULL when it does not say. */
static const char *data_digest(const rml_file *f)
{
	const rml_kv *kv = rml_get(f, "provenance.inputs");
	if (!kv || kv->type != RML_KV_STR_ARRAY)
		return NULL;
	for (int64_t i = 0; i < kv->n; i++)
		if (!strncmp(kv->sa[i], "data=", 5))
			return kv->sa[i] + 5;
	return NULL;
}

static rml_status load_preds(side *s, const char *role, rml_error *err)
{
	rml_status st = cli_load(&s->f, s->path, role, err);
	if (!st)
		st = rml_expect_kind(&s->f, "predictions", s->path, err);
	if (!st)
		st = rml_predictions_from_file(&s->p, &s->f, err);
	return st;
}

static rml_status load_model(side *s, const struct eval_compare *c, const rml_dataset *d,
			     const char *role, rml_error *err)
{
	rml_status st = cli_load(&s->f, s->path, role, err);
	if (!st)
		st = rml_expect_kind(&s->f, "model", s->path, err);
	if (!st)
		st = rml_model_from_file(&s->m, &s->f, err);
	if (!st)
		st = rml_model_calib_check(s->m, err);
	rml_file_free(&s->f);
	if (st)
		return st;
	int h, w, ch;
	rml_model_input_shape(s->m, &h, &w, &ch);
	if (d->h != h || d->w != w || d->c != ch)
		return rml_errorf(err, RML_ERR_MISMATCH, "%s takes %dx%dx%d images, %s holds %lldx%lldx%lld",
				  s->path, h, w, ch, c->data, (long long)d->h, (long long)d->w, (long long)d->c);
	if (d->n_classes > rml_model_n_classes(s->m))
		return rml_errorf(err, RML_ERR_MISMATCH, "the dataset has %d classes, %s %d", d->n_classes,
				  s->path, rml_model_n_classes(s->m));
	/* Each model keeps the rejection rule it carries unless the command
	 * line gives one for both. */
	s->rule = c->reject;
	s->threshold = c->threshold;
	s->rate = c->reject == RML_REJECT_NONE ? -1 : c->rate;
	if (!c->reject_given && !c->no_calib) {
		rml_model_reject_rule(s->m, &s->rule, &s->threshold);
		s->rate = -1;
	}
	st = rml_predictions_alloc(&s->p, d->n, rml_model_n_classes(s->m), err);
	if (!st)
		memcpy(s->p.labels, d->labels, (size_t)d->n * sizeof *s->p.labels);
	return st;
}

/* Probabilities through the model's calibrator (unless --no-calibration),
 * then its rejection rule. */
static rml_status predict(side *s, const rml_dataset *d, const struct eval_compare *c, rml_error *err)
{
	rml_status st = rml_model_predict_calibrated(s->m, d, c->batch, !c->no_calib, s->p.probs, err);
	double used;
	if (!st)
		st = rml_predictions_reject(&s->p, s->rule, s->threshold, s->rate, &used, err);
	return st;
}

/* Judge the rules on the intervals; print them; return the exit status. */
static int decide(const struct eval_compare *c, const double lo[RML_CMP_N], const double hi[RML_CMP_N])
{
	int holds[EVAL_MAX_RULES];
	double bound[EVAL_MAX_RULES];
	int promote = rml_promote_rules_judge(c->rules, c->n_rules, lo, hi, holds, bound);
	if (c->json)
		printf(",\"rules\":[");
	for (int i = 0; i < c->n_rules; i++) {
		int greater = c->rules[i].greater;
		if (c->json) {
			printf("%s{\"rule\":", i ? "," : "");
			cli_json_str(c->rule_text[i]);
			printf(",\"bound\":\"%s\",\"value\":", greater ? "ci95_lo" : "ci95_hi");
			cli_json_num(bound[i]);
			printf(",\"holds\":%s}", holds[i] ? "true" : "false");
		} else {
			printf("rule         %s: %s (95%% CI %s bound %+.4f)\n", c->rule_text[i],
			       holds[i] ? "holds" : "fails", greater ? "lower" : "upper", bound[i]);
		}
	}
	if (c->json)
		printf("],\"decision\":%s}\n", !c->n_rules ? "null" : promote ? "\"promote\"" : "\"keep\"");
	else if (c->n_rules)
		printf("decision     %s\n", promote ? "promote" : "keep");
	return !c->n_rules || promote ? CLI_EXIT_OK : EVAL_EXIT_KEEP;
}

static int report_single(const struct eval_compare *c, const rml_compare_report *r, const char *a,
			 const char *b)
{
	double lo[RML_CMP_N], hi[RML_CMP_N];
	for (int k = 0; k < RML_CMP_N; k++) {
		lo[k] = r->m[k].lo;
		hi[k] = r->m[k].hi;
	}
	if (c->json) {
		printf("{\"a\":");
		cli_json_str(a);
		printf(",\"b\":");
		cli_json_str(b);
		printf(",\"n\":%lld,\"n_boot\":%lld,\"seed\":%lld,\"bins\":%d,"
		       "\"ci\":\"paired percentile bootstrap, 95%%\"",
		       (long long)r->n, (long long)r->n_boot, (long long)c->seed, r->n_bins);
		for (int k = 0; k < RML_CMP_N; k++) {
			const rml_cmp_stat *s = &r->m[k];
			printf(",\"%s\":{\"a\":", rml_cmp_metric_name(k));
			cli_json_num(s->a);
			printf(",\"b\":");
			cli_json_num(s->b);
			printf(",\"diff\":");
			cli_json_num(s->diff);
			printf(",\"ci95\":[");
			cli_json_num(s->lo);
			putchar(',');
			cli_json_num(s->hi);
			printf("]");
			if (k != RML_CMP_ECE)
				printf(",\"n_pairs\":%lld,\"a_only\":%lld,\"b_only\":%lld,\"mcnemar_p\":%.6g",
				       (long long)s->n_pairs, (long long)s->n10, (long long)s->n01, s->p);
			printf("}");
		}
		return decide(c, lo, hi);
	}
	printf("a            %s\nb            %s\n", a, b);
	printf("n            %lld labelled examples, %lld bootstrap resamples (paired, percentile 95%% CI), seed %lld\n",
	       (long long)r->n, (long long)r->n_boot, (long long)c->seed);
	printf("%-8s %8s %8s %9s   %-20s %7s %7s %10s\n", "metric", "a", "b", "b-a", "95% CI", "a_only", "b_only",
	       "mcnemar_p");
	for (int k = 0; k < RML_CMP_N; k++) {
		const rml_cmp_stat *s = &r->m[k];
		char ci[64];
		snprintf(ci, sizeof ci, "[%+.4f, %+.4f]", s->lo, s->hi);
		if (k == RML_CMP_ECE)
			printf("%-8s %8.4f %8.4f %+9.4f   %-20s %7s %7s %10s\n", rml_cmp_metric_name(k), s->a, s->b,
			       s->diff, ci, "-", "-", "-");
		else
			printf("%-8s %8.4f %8.4f %+9.4f   %-20s %7lld %7lld %10.4g\n", rml_cmp_metric_name(k), s->a,
			       s->b, s->diff, ci, (long long)s->n10, (long long)s->n01, s->p);
	}
	return decide(c, lo, hi);
}

/* Repetitions under faults: repetition r injects faults drawn from stream
 * r of the seed into A, measures, undoes them, then does the same with
 * the same stream into B; the differences are summarised over the
 * repetitions (Student t interval of the mean, as plain --repeat). */
static int run_repeat(const struct eval_compare *c, side *sa, side *sb, const rml_dataset *d,
		      rml_error *err)
{
	const char *what = c->target ? c->target : "theta";
	if (rml_fault_targets_select(&sa->tg, sa->m, what, err) ||
	    rml_fault_targets_select(&sb->tg, sb->m, what, err))
		return CLI_EXIT_FAIL;
	rml_compare_report *reps = malloc((size_t)c->repeat * sizeof *reps);
	if (!reps) {
		rml_errorf(err, RML_ERR_NOMEM, "out of memory");
		return CLI_EXIT_FAIL;
	}
	int status = CLI_EXIT_FAIL;
	for (int64_t r = 0; r < c->repeat; r++) {
		side *two[2] = { sa, sb };
		for (int j = 0; j < 2; j++) {
			rml_fault_log log;
			rml_fault_log_init(&log);
			rml_rng rng;
			rml_rng_seed_stream(&rng, (uint64_t)c->seed, (uint64_t)r);
			rml_status s = rml_inject(&c->spec, two[j]->tg.t, two[j]->tg.n, &rng, &log, err);
			if (!s)
				s = predict(two[j], d, c, err);
			rml_inject_undo(two[j]->tg.t, &log);
			rml_fault_log_free(&log);
			if (s)
				goto out;
		}
		if (rml_compare(&sa->p, &sb->p, (int)c->bins, 0, 0, &reps[r], err))
			goto out;
		cli_progress("repetitions", r + 1, c->repeat);
	}
	rml_summary sum[RML_CMP_N][3];
	double lo[RML_CMP_N], hi[RML_CMP_N];
	rml_compare_summarize_reps(reps, c->repeat, sum, lo, hi);
	if (c->json) {
		printf("{\"a\":");
		cli_json_str(sa->path);
		printf(",\"b\":");
		cli_json_str(sb->path);
		printf(",\"n\":%lld,\"n_rep\":%lld,\"seed\":%lld,\"fault\":{\"model\":\"%s\",\"unit\":\"%s\",\"rate\":%g},"
		       "\"ci\":\"Student t over repetitions, 95%%\"",
		       (long long)d->n, (long long)c->repeat, (long long)c->seed, rml_fault_model_name(c->spec.model),
		       rml_fault_unit_name(c->spec.unit), c->spec.rate);
	} else {
		printf("a            %s\nb            %s\n", sa->path, sb->path);
		printf("n            %lld examples, %lld repetitions of %s faults (the same seeds for a and b), seed %lld\n",
		       (long long)d->n, (long long)c->repeat, rml_fault_model_name(c->spec.model),
		       (long long)c->seed);
		printf("%-8s %8s %8s %9s %9s   %s\n", "metric", "a", "b", "b-a", "sd", "95% CI of the mean");
	}
	for (int k = 0; k < RML_CMP_N; k++) {
		const rml_summary *s = sum[k];
		if (c->json) {
			printf(",\"%s\":{\"a\":", rml_cmp_metric_name(k));
			cli_json_num(s[0].mean);
			printf(",\"b\":");
			cli_json_num(s[1].mean);
			printf(",\"diff\":");
			cli_json_num(s[2].mean);
			printf(",\"sd\":");
			cli_json_num(s[2].sd);
			printf(",\"ci95\":[");
			cli_json_num(lo[k]);
			putchar(',');
			cli_json_num(hi[k]);
			printf("]}");
		} else {
			char ci[64];
			snprintf(ci, sizeof ci, "[%+.4f, %+.4f]", lo[k], hi[k]);
			printf("%-8s %8.4f %8.4f %+9.4f %9.4f   %s\n", rml_cmp_metric_name(k), s[0].mean, s[1].mean,
			       s[2].mean, s[2].sd, ci);
		}
	}
	status = decide(c, lo, hi);
out:
	free(reps);
	return status;
}

int eval_compare_run(const struct eval_compare *c)
{
	rml_error err = { 0 };
	side sa = { .path = c->preds ? c->preds : c->model }, sb = { .path = c->against };
	rml_dataset d;
	rml_dataset_init(&d);
	side *both[2] = { &sa, &sb };
	for (int j = 0; j < 2; j++) {
		rml_file_init(&both[j]->f);
		rml_predictions_init(&both[j]->p);
	}
	int status = CLI_EXIT_FAIL;
	if (c->preds) {
		if (load_preds(&sa, "predictions", &err) || load_preds(&sb, "candidate", &err))
			goto done;
		const char *da = data_digest(&sa.f), *db = data_digest(&sb.f);
		if (da && db && strcmp(da, db)) {
			rml_errorf(&err, RML_ERR_MISMATCH,
				   "%s and %s were predicted on different datasets (data %.19s... and %.19s...)",
				   sa.path, sb.path, da, db);
			goto done;
		}
		if (!da || !db)
			cli_info("a predictions file does not name its dataset: checking count and labels only");
		/* A predictions file keeps its rejections unless --reject is given. */
		for (int j = 0; c->reject_given && j < 2; j++) {
			double used;
			if (rml_predictions_reject(&both[j]->p, c->reject, c->threshold,
						   c->reject == RML_REJECT_NONE ? -1 : c->rate, &used, &err))
				goto done;
		}
		if (rml_compare_check(&sa.p, &sb.p, &err)) {
			char msg[sizeof err.msg];
			snprintf(msg, sizeof msg, "%s", err.msg);
			rml_errorf(&err, RML_ERR_MISMATCH, "%s and %s: %s", sa.path, sb.path, msg);
			goto done;
		}
	} else {
		if (!strcmp(c->data, "-") && (!strcmp(c->model, "-") || !strcmp(c->against, "-"))) {
			rml_errorf(&err, RML_ERR_ARG, "the models and the data cannot share standard input");
			goto done;
		}
		if (cli_load(&sa.f, c->data, "data", &err) || rml_dataset_from_file(&d, &sa.f, &err))
			goto done;
		rml_file_free(&sa.f);
		if (load_model(&sa, c, &d, "model", &err) || load_model(&sb, c, &d, "candidate", &err))
			goto done;
		if (sa.p.k != sb.p.k) {
			rml_errorf(&err, RML_ERR_MISMATCH, "%s has %lld classes, %s %lld", sa.path, (long long)sa.p.k,
				   sb.path, (long long)sb.p.k);
			goto done;
		}
		if (c->repeat) {
			status = run_repeat(c, &sa, &sb, &d, &err);
			goto done;
		}
		if (predict(&sa, &d, c, &err) || predict(&sb, &d, c, &err))
			goto done;
	}
	rml_compare_report r;
	if (rml_compare(&sa.p, &sb.p, (int)c->bins, c->n_boot, (uint64_t)c->seed, &r, &err))
		goto done;
	status = report_single(c, &r, sa.path, sb.path);
done:
	if (status == CLI_EXIT_FAIL)
		cli_fail(&err);
	for (int j = 0; j < 2; j++) {
		rml_fault_targets_free(&both[j]->tg);
		rml_predictions_free(&both[j]->p);
		rml_model_free(both[j]->m);
		rml_file_free(&both[j]->f);
	}
	rml_dataset_free(&d);
	return status;
}
