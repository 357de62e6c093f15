/*
 * rmlops-data — get images into rmlops datasets and reshape them: import,
 * split, take, tasks, concat, show (PNG contact sheet), export (image
 * folder), select (the most uncertain images of a predictions file),
 * corrupt. The work is in lib/dataops.c, lib/select.c and lib/corrupt.c,
 * the checks of the command line and the reports in lib/data_args.c; each
 * command here is one function of the table `commands`.
 */
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "corrupt.h"
#include "data_args.h"
#include "data_help.h"
#include "dataops.h"
#include "select.h"

struct cmdline {
	rml_data_args a;   /* what the commands' checks read */
	const char *split, *labels, *meta, *by;
	int64_t resize, queries, episodes, cols, scale;
	int gray_to_rgb, relabel, unite;
	cli_common com;
	char **args;
};

/* The commands; help is the text of 'rmlops-data COMMAND --help' (none:
 * the program's help). */
static int cmd_import(void *ctx), cmd_split(void *ctx);
static int cmd_take(void *ctx), cmd_tasks(void *ctx);
static int cmd_concat(void *ctx), cmd_select(void *ctx);
static int cmd_show(void *ctx), cmd_corrupt(void *ctx);
static int cmd_export(void *ctx);
static const cli_subcommand commands[] = {
	{ "import", "", cmd_import, DATA_HELP_IMPORT },
	{ "split", "", cmd_split, DATA_HELP_SPLIT },
	{ "take", "", cmd_take, DATA_HELP_TAKE },
	{ "subset", "", cmd_take, DATA_HELP_TAKE },
	{ "tasks", "", cmd_tasks, DATA_HELP_TASKS },
	{ "concat", "", cmd_concat, DATA_HELP_CONCAT },
	{ "select", "", cmd_select, DATA_HELP_SELECT },
	{ "show", "", cmd_show, DATA_HELP_SHOW },
	{ "corrupt", "", cmd_corrupt, NULL },
	{ "export", "", cmd_export, DATA_HELP_EXPORT },
	{ NULL, NULL, NULL, NULL },
};

/* Help for one command (rmlops-data COMMAND --help); 0 if it has none. */
static int command_usage(const char *cmd)
{
	const cli_subcommand *t = cli_subcommand_find(commands, cmd);
	if (!t || !t->help)
		return 0;
	fputs(t->help, stdout);
	printf("\nShared options (-o, -s, -j, -q, -v, --json): see rmlops-data --help.\n");
	return 1;
}

#define F(f) offsetof(struct cmdline, f)
static const cli_opt options[] = {
	CLI_OPT_OUTPUT(F(a.output)),
	CLI_SHARED_SEED,
	CLI_SHARED_THREADS,
	CLI_STR("rest", 0, F(a.rest)),
	CLI_WORD("split", 0, F(split), "train|test"),
	CLI_WORD("labels", 0, F(labels), "fine|coarse"),
	CLI_STR("classes", 0, F(a.classes)),
	CLI_STR("meta", 0, F(meta)),
	CLI_I64("resize", 0, F(resize), 1, 4096),
	CLI_FLAG("gray-to-rgb", 0, F(gray_to_rgb)),
	CLI_F64("fraction", 0, F(a.fraction), 0, 1),
	CLI_I64("count", 0, F(a.count), 1, CLI_I64_MAX),
	CLI_I64("per-class", 0, F(a.per_class), 1, CLI_I64_MAX),
	CLI_I64("first", 0, F(a.first), 1, CLI_I64_MAX),
	CLI_FLAG("relabel", 0, F(relabel)),
	CLI_FLAG("shuffle", 0, F(a.shuffle)),
	CLI_I64("ways", 0, F(a.ways), 2, 100000),
	CLI_I64("shots", 0, F(a.shots), 1, 100000),
	CLI_I64("queries", 0, F(queries), 0, 100000),
	CLI_I64("episodes", 0, F(episodes), 1, 1000000),
	CLI_I64("cols", 0, F(cols), 1, 1000),
	CLI_I64("scale", 0, F(scale), 1, 32),
	CLI_SHARED_JSON,
	CLI_FLAG("union", 0, F(unite)),
	CLI_STR("type", 0, F(a.corruption)),
	CLI_I64("severity", 0, F(a.severity), 1, 5),
	CLI_STR("predictions", 'p', F(a.predictions)),
	CLI_WORD("by", 0, F(by), "entropy|confidence|margin"),
	CLI_SHARED_BASE,
	CLI_END,
};
#undef F

static int parse_args(int argc, char **argv, struct cmdline *c)
{
	const cli_parser p = { options, c, &c->com, NULL, NULL };
	int st = cli_parse_args(&p, argc, argv);
	if (st)
		return st;
	/* Help after the rest is parsed, so that "take --help" finds its command. */
	if (c->com.want_help) {
		if (optind >= argc || !command_usage(argv[optind]))
			fputs(DATA_USAGE, stdout);
		return -1;
	}
	if (optind >= argc)
		return cli_usage_error("no command given");
	c->a.command = argv[optind++];
	c->args = argv + optind;
	c->a.n_args = argc - optind;
	return 0;
}

/* What a command works on: its options, up to three datasets (input and
 * outputs) and the error to print when it fails. A command's steps give
 * 0, < 0 (failed: err says why) or > 0 (an exit status, the message
 * printed); ended turns that into the exit status, printing err. */
struct job {
	struct cmdline *c;
	rml_dataset d, a, b;
	rml_error err;
};

static int ended(struct job *j, int r)
{
	return r < 0 ? cli_fail(&j->err) : r;
}

/* A command's report line (when r says it succeeded), then its exit
 * status: JSON on stderr, or the line as a message when not quiet. */
static int said(struct job *j, int r, const char *line)
{
	if (!r && j->c->com.json)
		fprintf(stderr, "%s\n", line);
	else if (!r && cli_verbosity > 0)
		cli_msg("%s", line);
	return ended(j, r);
}

/* The report of a command that made d, as said. */
static int reported(struct job *j, int r, const rml_dataset *d, const char *what)
{
	char line[256];
	rml_data_report(line, sizeof line, j->c->com.json, what, d);
	return said(j, r, line);
}

static int load_input(struct cmdline *c, int i, rml_dataset *d, rml_error *err)
{
	const char *path = i < c->a.n_args ? c->args[i] : "-";
	rml_file f;
	if (cli_load(&f, path, "data", err))
		return -1;
	rml_status st = rml_dataset_from_file(d, &f, err);
	rml_file_free(&f);
	if (st) {
		char m[sizeof err->msg + 64];
		snprintf(m, sizeof m, "%s: %s", strcmp(path, "-") ? path : "standard input", err->msg);
		snprintf(err->msg, sizeof err->msg, "%.*s", (int)sizeof err->msg - 1, m);
		return -1;
	}
	return 0;
}

/* Save d (with the selection's keys when idx is not NULL: by, part and
 * the rows idx[0..n)) to path (NULL: standard output). */
static int save(const rml_dataset *d, const char *path, int64_t seed, rml_uncertainty by,
		const char *part, const int64_t *idx, int64_t n, rml_error *err)
{
	rml_file f;
	rml_file_init(&f);
	rml_status st = idx ? rml_selection_to_file(d, by, part, idx, n, &f, err)
			    : rml_dataset_to_file(d, &f, err);
	if (!st)
		st = cli_save(&f, path ? path : "-", seed, err);
	rml_file_free(&f);
	return st ? -1 : 0;
}
#define save_dataset(d, path, seed, err) save(d, path, seed, RML_UNC_ENTROPY, NULL, NULL, 0, err)

static int cmd_import(void *ctx)
{
	struct job *j = ctx;
	const struct cmdline *c = j->c;
	const int n = c->a.n_args;
	const rml_import_opts o = { n ? c->args[0] : NULL, c->args + 1, n - 1, c->split, c->labels,
				    c->meta, c->a.classes, (int)c->resize, c->gray_to_rgb };
	if (rml_import_check(&o, &j->err))
		return cli_usage_error("%s", j->err.msg);
	int r = rml_import(&j->d, &o, &j->err) ? -1 : 0;
	if (!r)
		r = save_dataset(&j->d, c->a.output, -1, &j->err);
	return reported(j, r, &j->d, "import");
}

static int cmd_split(void *ctx)
{
	struct job *j = ctx;
	struct cmdline *c = j->c;
	int r = load_input(c, 0, &j->d, &j->err);
	if (!r)
		r = rml_dataset_split(&j->d, c->a.fraction, c->a.count, (uint64_t)c->com.seed, &j->a,
				      &j->b, &j->err) ? -1 : 0;
	if (!r)
		r = save_dataset(&j->a, c->a.output, c->com.seed, &j->err);
	if (!r && c->a.rest)
		r = save_dataset(&j->b, c->a.rest, c->com.seed, &j->err);
	return reported(j, r, &j->a, "split");
}

static int cmd_take(void *ctx)
{
	struct job *j = ctx;
	struct cmdline *c = j->c;
	int r = load_input(c, 0, &j->d, &j->err), st;
	int *cls = NULL, ncls = 0;
	if (!r && c->a.classes && (st = rml_dataset_class_list(&j->d, c->a.classes, &cls, &ncls, &j->err)))
		return cli_usage_error(st == RML_ERR_NOMEM ? "%s" : "--classes: %s", j->err.msg);
	if (!r) {
		rml_take_opts o = { c->a.count, c->a.fraction, c->a.per_class, c->a.first, cls, ncls,
				    c->relabel, (uint64_t)c->com.seed, c->a.shuffle };
		r = rml_dataset_take(&j->a, &j->d, &o, &j->err) ? -1 : 0;
	}
	free(cls);
	if (!r)
		r = save_dataset(&j->a, c->a.output, c->com.seed, &j->err);
	return reported(j, r, &j->a, "take");
}

static int cmd_tasks(void *ctx)
{
	struct job *j = ctx;
	struct cmdline *c = j->c;
	int r = load_input(c, 0, &j->d, &j->err);
	rml_file f;
	rml_file_init(&f);
	if (!r)
		r = rml_dataset_tasks(&j->d, (int)c->a.ways, (int)c->a.shots, (int)c->queries,
				      (int)(c->episodes ? c->episodes : 1), (uint64_t)c->com.seed, &f,
				      &j->err) ? -1 : 0;
	if (!r)
		r = cli_save(&f, c->a.output ? c->a.output : "-", c->com.seed, &j->err) ? -1 : 0;
	rml_file_free(&f);
	return ended(j, r);
}

static int cmd_concat(void *ctx)
{
	struct job *j = ctx;
	struct cmdline *c = j->c;
	int r = load_input(c, 0, &j->d, &j->err);
	for (int i = 1; !r && i < c->a.n_args; i++) {
		rml_dataset_free(&j->b);
		r = load_input(c, i, &j->b, &j->err);
		if (!r) {
			rml_dataset_free(&j->a);
			r = (c->unite ? rml_dataset_concat_union(&j->a, &j->d, &j->b, &j->err)
				      : rml_dataset_concat(&j->a, &j->d, &j->b, &j->err)) ? -1 : 0;
		}
		if (!r) {
			rml_dataset tmp = j->d;
			j->d = j->a;
			j->a = tmp;
		}
	}
	if (!r)
		r = save_dataset(&j->d, c->a.output, -1, &j->err);
	return reported(j, r, &j->d, "concat");
}

/* The predictions first, then the data they must have been made on; the
 * rest is saved first, so the main output appears only when all is done. */
static int cmd_select(void *ctx)
{
	struct job *j = ctx;
	struct cmdline *c = j->c;
	if (c->a.rest && cli_check_output(c->a.rest))
		return CLI_EXIT_USAGE;
	rml_uncertainty by = RML_UNC_ENTROPY;
	if (c->by && rml_uncertainty_parse(c->by, &by, &j->err))
		return cli_usage_error("%s", j->err.msg);
	rml_file pf;
	rml_predictions p;
	rml_predictions_init(&p);
	char digest[80];
	if (cli_load(&pf, c->a.predictions, "predictions", &j->err))
		return ended(j, -1);
	rml_status st = rml_data_select_predictions(&pf, c->a.predictions, &p, digest, sizeof digest, &j->err);
	rml_file_free(&pf);
	if (st)
		return ended(j, -1);
	int r = load_input(c, 0, &j->d, &j->err);
	const char *in = c->a.n_args > 0 && strcmp(c->args[0], "-") ? c->args[0] : "standard input";
	rml_selection s = { 0 };
	if (!r)
		r = rml_data_select(&j->d, in, cli_last_hash(), &p, c->a.predictions, digest, by,
				    c->a.fraction, c->a.count, &j->a, c->a.rest ? &j->b : NULL, &s,
				    &j->err) ? -1 : 0;
	rml_predictions_free(&p);
	if (!r && c->a.rest)
		r = save(&j->b, c->a.rest, -1, by, "rest", s.rest, s.n_rest, &j->err);
	if (!r)
		r = save(&j->a, c->a.output, -1, by, "selected", s.selected, s.n_selected, &j->err);
	char line[256];
	rml_data_select_report(line, sizeof line, c->com.json, by, j->d.n, &s);
	rml_selection_free(&s);
	return said(j, r, line);
}

static int cmd_show(void *ctx)
{
	struct job *j = ctx;
	struct cmdline *c = j->c;
	int r = load_input(c, 0, &j->d, &j->err);
	if (r)
		return ended(j, r);
	const char *out = c->a.output ? c->a.output : "-";
	if (strcmp(out, "-") == 0 && isatty(STDOUT_FILENO)) {
		cli_msg("refusing to write a PNG to a terminal; use -o sheet.png");
		return ended(j, 2);
	}
	return ended(j, rml_dataset_sheet_png(&j->d, out, c->a.count, (int)c->cols, (int)c->scale,
					      &j->err) ? -1 : 0);
}

static int cmd_corrupt(void *ctx)
{
	struct job *j = ctx;
	struct cmdline *c = j->c;
	rml_corruption kind;
	rml_corruption_parse(c->a.corruption, &kind, &j->err);   /* checked already */
	int r = load_input(c, 0, &j->d, &j->err);
	rml_dataset *d = &j->d;
	if (!r)
		r = rml_corrupt_images(kind, (int)c->a.severity, d->images, d->n, d->h, d->w, d->c,
				       (uint64_t)c->com.seed, &j->err) ? -1 : 0;
	if (!r)
		r = save_dataset(d, c->a.output, c->com.seed, &j->err);
	return reported(j, r, d, "corrupt");
}

static void export_progress(int64_t done, int64_t total)
{
	cli_progress("export", done, total);
}

static int cmd_export(void *ctx)
{
	struct job *j = ctx;
	struct cmdline *c = j->c;
	const char *dir = c->args[--c->a.n_args];
	int r = load_input(c, 0, &j->d, &j->err);
	if (!r)
		r = rml_dataset_export_pngs(&j->d, dir, export_progress, &j->err) ? -1 : 0;
	return ended(j, r);
}

int main(int argc, char **argv)
{
	cli_init("rmlops-data", argc, argv);
	struct cmdline c = { .com = { .seed = 1 } };
	int st = parse_args(argc, argv, &c);
	if (st)
		return st < 0 ? cli_finish(CLI_EXIT_OK) : st;
	cli_common_threads(&c.com);
	const char *cmd = c.a.command, *out = c.a.output;
	int writes = strcmp(cmd, "show") && strcmp(cmd, "export");
	if (writes && cli_check_output(out))
		return CLI_EXIT_USAGE;
	/* import's first argument names the source; export's last is the
	 * output directory. */
	int imp = strcmp(cmd, "import") == 0, dir_arg = strcmp(cmd, "export") == 0;
	const char *outs[] = { writes || out ? (out ? out : "-") : NULL, c.a.rest };
	const char *opts[] = { "-o", "--rest" };
	if ((st = cli_check_outputs(outs, opts, 2, (const char *const *)c.args + imp,
				    c.a.n_args - imp - dir_arg)) != 0)
		return cli_finish(st);
	const cli_subcommand *sub = cli_subcommand_find(commands, cmd);
	if (!sub)
		return cli_usage_error("unknown command '%s'", cmd);
	struct job j = { .c = &c };
	if (rml_data_args_check(&c.a, &j.err))
		return cli_finish(cli_usage_error("%s", j.err.msg));
	rml_dataset_init(&j.d);
	rml_dataset_init(&j.a);
	rml_dataset_init(&j.b);
	int status = sub->run(&j);
	rml_dataset_free(&j.d);
	rml_dataset_free(&j.a);
	rml_dataset_free(&j.b);
	return cli_finish(status);
}
