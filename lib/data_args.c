/*
 * data_args.c — rmlops-data's command line judged before any file is
 * read, its reports, and the checks around a selection (see data_args.h).
 * The messages and report formats are the program's documented
 * behaviour: a change here changes what users see and parse.
 */
#include "data_args.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "corrupt.h"

/* How many inputs each command takes, and what it says otherwise; a
 * command not listed takes any number (import checks its own). */
static const struct {
	const char *command;
	int min, max;
	const char *refusal;
} inputs[] = {
	{ "split", 0, 1, "split takes one input" },
	{ "take", 0, 1, "take takes one input" },
	{ "subset", 0, 1, "take takes one input" },
	{ "tasks", 0, 1, "tasks takes one input" },
	{ "concat", 2, INT_MAX, "concat needs at least two inputs" },
	{ "select", 0, 1, "select takes one input" },
	{ "show", 0, 1, "show takes one input" },
	{ "corrupt", 0, 1, "corrupt takes one input" },
	{ "export", 1, 2, "export needs [INPUT] DIR" },
};

static int is(const rml_data_args *a, const char *name)
{
	return strcmp(a->command, name) == 0;
}

rml_status rml_data_args_check(const rml_data_args *a, rml_error *err)
{
	for (size_t i = 0; i < sizeof inputs / sizeof *inputs; i++)
		if (is(a, inputs[i].command) && (a->n_args < inputs[i].min || a->n_args > inputs[i].max))
			return rml_errorf(err, RML_ERR_ARG, "%s", inputs[i].refusal);
	if (is(a, "split") && !a->fraction && !a->count)
		return rml_errorf(err, RML_ERR_ARG, "split needs --fraction F or --count N");
	if (is(a, "take") || is(a, "subset")) {
		int modes = (a->count > 0) + (a->fraction > 0) + (a->per_class > 0) + (a->first > 0);
		if (modes > 1)
			return rml_errorf(err, RML_ERR_ARG,
					  "give only one of --count, --fraction, --per-class, --first");
		if (!modes && !a->classes && !a->shuffle)
			return rml_errorf(err, RML_ERR_ARG, "take needs --count, --fraction, --per-class, "
					  "--first, --classes or --shuffle");
	}
	if (is(a, "tasks") && (!a->ways || !a->shots))
		return rml_errorf(err, RML_ERR_ARG, "tasks needs --ways N and --shots K");
	if (is(a, "select")) {
		if (!a->predictions)
			return rml_errorf(err, RML_ERR_ARG, "select needs -p PREDICTIONS");
		if ((a->fraction > 0) == (a->count > 0))
			return rml_errorf(err, RML_ERR_ARG, "select needs one of --fraction F and --count N");
		if (a->rest && a->output && strcmp(a->rest, a->output) == 0)
			return rml_errorf(err, RML_ERR_ARG, "--rest and -o name the same file");
	}
	if (is(a, "corrupt")) {
		rml_corruption kind;
		if (!a->corruption || !a->severity)
			return rml_errorf(err, RML_ERR_ARG, "corrupt needs --type NAME and --severity 1..5");
		if (rml_corruption_parse(a->corruption, &kind, err))
			return RML_ERR_ARG;
	}
	return RML_OK;
}

void rml_data_report(char *buf, size_t len, int json, const char *what, const rml_dataset *d)
{
	if (json)
		snprintf(buf, len, "{\"%s\":{\"n\":%lld,\"h\":%lld,\"w\":%lld,\"c\":%lld,\"classes\":%d}}",
			 what, (long long)d->n, (long long)d->h, (long long)d->w, (long long)d->c,
			 d->n_classes);
	else
		snprintf(buf, len, "%s: %lld images of %lldx%lldx%lld in %d classes", what,
			 (long long)d->n, (long long)d->h, (long long)d->w, (long long)d->c, d->n_classes);
}

void rml_data_select_report(char *buf, size_t len, int json, rml_uncertainty u, int64_t n,
			    const rml_selection *s)
{
	const char *name = rml_uncertainty_name(u);
	if (json)
		snprintf(buf, len, "{\"select\":{\"by\":\"%s\",\"n\":%lld,\"selected\":%lld,"
			 "\"rest\":%lld,\"threshold\":%.17g}}", name, (long long)n,
			 (long long)s->n_selected, (long long)s->n_rest,
			 s->n_selected ? s->threshold : 0.0);
	else
		snprintf(buf, len, "select: %lld of %lld images by %s (uncertainty >= %.6g)",
			 (long long)s->n_selected, (long long)n, name, s->n_selected ? s->threshold : NAN);
}

rml_status rml_data_select_predictions(const rml_file *pf, const char *path, rml_predictions *p,
				       char *digest, size_t len, rml_error *err)
{
	/* The digest of the data the predictions were made on, if recorded. */
	const char *want = rml_provenance_input(pf, "data");
	snprintf(digest, len, "%s", want && strncmp(want, "sha256:", 7) == 0 ? want + 7 : "");
	rml_status st = rml_expect_kind(pf, "predictions", path, err);
	if (!st)
		st = rml_predictions_from_file(p, pf, err);
	if (st)
		rml_predictions_free(p);
	return st;
}

rml_status rml_data_select(const rml_dataset *d, const char *name, const char *hash,
			   const rml_predictions *p, const char *preds_path, const char *digest,
			   rml_uncertainty u, double fraction, int64_t count, rml_dataset *sel,
			   rml_dataset *rest, rml_selection *s, rml_error *err)
{
	memset(s, 0, sizeof *s);
	if (digest[0] && strcmp(digest, hash) != 0)
		return rml_errorf(err, RML_ERR_MISMATCH,
				  "%s: the predictions were made on another dataset (data digest %.12s..., "
				  "this one %.12s...)", name, digest, hash);
	rml_status st = rml_dataset_select_uncertain(d, p, u, fraction, count, sel, rest, s, err);
	if (st) {
		char m[sizeof err->msg + 64];
		snprintf(m, sizeof m, "%s: %s", preds_path, err->msg);
		snprintf(err->msg, sizeof err->msg, "%.*s", (int)sizeof err->msg - 1, m);
	}
	return st;
}
