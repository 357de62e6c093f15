/*
 * rmlops-data — get images into rmlops datasets and reshape them: import,
 * split, take, tasks, concat, show (PNG contact sheet), export (image
 * folder), select (the most uncertain images of a predictions file),
 * corrupt. The work is in lib/dataops.c, lib/select.c and lib/corrupt.c,
 * the checks of the command line and the reports in lib/data_args.c; each
 * command here is one function of the table `commands`.
 */
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

/* What a command works on and leaves behind. d is the input, loaded
 * before the command runs (import and select load their own); out and
 * rest are the datasets it made for -o and --rest, saved after it (in
 * that order, stamped with seed; -1: none) and reported on as what; or
 * the command writes its own report line. A command returns 0, < 0
 * (failed: err says why) or > 0 (an exit status, the message printed). */
struct job {
	struct cmdline *c;
	rml_dataset d, a, b;
	const rml_dataset *out, *rest;
	int64_t seed;
	const char *what;
	char line[256];
	rml_error err;
};

/* A command's end when it made out (failed: nonzero): saved and
 * reported as what, stamped with seed. */
static int made(struct job *j, const rml_dataset *out, int64_t seed, const char *what, int failed)
{
	j->out = out;
	j->seed = seed;
	j->what = what;
	return failed ? -1 : 0;
}

/* The i-th operand (standard input when there is none) into d. */
static int load_input(struct cmdline *c, int i, rml_dataset *d, rml_error *err)
{
	return cli_load_dataset_named(d, i < c->a.n_args ? c->args[i] : "-", "data", err) ? -1 : 0;
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
	return cli_save_made(&f, st, path ? path : "-", seed, err) ? -1 : 0;
}

static int cmd_import(void *ctx)
{
	struct job *j = ctx;
	const struct cmdline *c = j->c;
	const int n = c->a.n_args;
	const rml_import_opts o = { n ? c->args[0] : NULL, c->args + 1, n - 1, c->split, c->labels,
				    c->meta, c->a.classes, (int)c->resize, c->gray_to_rgb };
	if (rml_import_check(&o, &j->err))
		return cli_usage_error("%s", j->err.msg);
	return made(j, &j->d, -1, "import", rml_import(&j->d, &o, &j->err));
}

static int cmd_split(void *ctx)
{
	struct job *j = ctx;
	struct cmdline *c = j->c;
	j->rest = c->a.rest ? &j->b : NULL;
	return made(j, &j->a, c->com.seed, "split",
		    rml_dataset_split(&j->d, c->a.fraction, c->a.count, (uint64_t)c->com.seed, &j->a, &j->b,
				      &j->err));
}

static int cmd_take(void *ctx)
{
	struct job *j = ctx;
	struct cmdline *c = j->c;
	int *cls = NULL, ncls = 0, st;
	if (c->a.classes && (st = rml_dataset_class_list(&j->d, c->a.classes, &cls, &ncls, &j->err)))
		return cli_usage_error(st == RML_ERR_NOMEM ? "%s" : "--classes: %s", j->err.msg);
	rml_take_opts o = { c->a.count, c->a.fraction, c->a.per_class, c->a.first, cls, ncls,
			    c->relabel, (uint64_t)c->com.seed, c->a.shuffle };
	st = rml_dataset_take(&j->a, &j->d, &o, &j->err);
	free(cls);
	return made(j, &j->a, c->com.seed, "take", st);
}

static int cmd_tasks(void *ctx)
{
	struct job *j = ctx;
	struct cmdline *c = j->c;
	rml_file f;
	rml_file_init(&f);
	rml_status st = rml_dataset_tasks(&j->d, (int)c->a.ways, (int)c->a.shots, (int)c->queries,
					  (int)(c->episodes ? c->episodes : 1), (uint64_t)c->com.seed, &f,
					  &j->err);
	return cli_save_made(&f, st, c->a.output ? c->a.output : "-", c->com.seed, &j->err) ? -1 : 0;
}

static int cmd_concat(void *ctx)
{
	struct job *j = ctx;
	struct cmdline *c = j->c;
	for (int i = 1; i < c->a.n_args; i++) {
		rml_dataset_free(&j->a);
		rml_dataset_free(&j->b);
		if (load_input(c, i, &j->b, &j->err) ||
		    (c->unite ? rml_dataset_concat_union(&j->a, &j->d, &j->b, &j->err)
			      : rml_dataset_concat(&j->a, &j->d, &j->b, &j->err)))
			return -1;
		rml_dataset tmp = j->d;
		j->d = j->a;
		j->a = tmp;
	}
	return made(j, &j->d, -1, "concat", 0);
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
		return -1;
	rml_status st = rml_data_select_predictions(&pf, c->a.predictions, &p, digest, sizeof digest, &j->err);
	rml_file_free(&pf);
	if (st)
		return -1;
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
	rml_data_select_report(j->line, sizeof j->line, c->com.json, by, j->d.n, &s);
	rml_selection_free(&s);
	return r;
}

static int cmd_show(void *ctx)
{
	struct job *j = ctx;
	struct cmdline *c = j->c;
	const char *out = c->a.output ? c->a.output : "-";
	if (strcmp(out, "-") == 0 && isatty(STDOUT_FILENO)) {
		cli_msg("refusing to write a PNG to a terminal; use -o sheet.png");
		return CLI_EXIT_USAGE;
	}
	return rml_dataset_sheet_png(&j->d, out, c->a.count, (int)c->cols, (int)c->scale, &j->err) ? -1 : 0;
}

static int cmd_corrupt(void *ctx)
{
	struct job *j = ctx;
	struct cmdline *c = j->c;
	rml_corruption kind;
	rml_corruption_parse(c->a.corruption, &kind, &j->err);   /* checked already */
	rml_dataset *d = &j->d;
	return made(j, d, c->com.seed, "corrupt",
		    rml_corrupt_images(kind, (int)c->a.severity, d->images, d->n, d->h, d->w, d->c,
				       (uint64_t)c->com.seed, &j->err));
}

static void export_progress(int64_t done, int64_t total)
{
	cli_progress("export", done, total);
}

/* The directory is the last operand, left out of n_args by main. */
static int cmd_export(void *ctx)
{
	struct job *j = ctx;
	return rml_dataset_export_pngs(&j->d, j->c->args[j->c->a.n_args], export_progress, &j->err) ? -1 : 0;
}

/* The commands; help is the text of 'rmlops-data COMMAND --help' (none:
 * the program's help). */
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
	/* import's first argument names the source; export's last is the
	 * output directory. */
	int imp = strcmp(cmd, "import") == 0, dir_arg = strcmp(cmd, "export") == 0;
	const char *outs[] = { writes || out ? (out ? out : "-") : NULL, c.a.rest };
	const char *opts[] = { "-o", "--rest" };
	if ((st = cli_check_all_outputs(outs, opts, 2, writes, (const char *const *)c.args + imp,
					c.a.n_args - imp - dir_arg)) != 0)
		return cli_finish(st);
	const cli_subcommand *sub = cli_subcommand_find(commands, cmd);
	if (!sub)
		return cli_usage_error("unknown command '%s'", cmd);
	struct job j = { .c = &c };   /* the datasets empty (zeroed) */
	if (rml_data_args_check(&c.a, &j.err))
		return cli_finish(cli_usage_error("%s", j.err.msg));
	c.a.n_args -= dir_arg;
	/* The input (import and select load their own), the command, then
	 * its outputs and its report. */
	int r = imp || !strcmp(cmd, "select") ? 0 : load_input(&c, 0, &j.d, &j.err);
	if (!r)
		r = sub->run(&j);
	if (!r && j.out)
		r = save(j.out, c.a.output, j.seed, RML_UNC_ENTROPY, NULL, NULL, 0, &j.err);
	if (!r && j.rest)
		r = save(j.rest, c.a.rest, j.seed, RML_UNC_ENTROPY, NULL, NULL, 0, &j.err);
	if (!r && j.what)
		rml_data_report(j.line, sizeof j.line, c.com.json, j.what, j.out);
	if (!r && j.line[0])
		cli_report(j.line, c.com.json);
	if (r < 0)
		r = cli_fail(&j.err);
	rml_dataset_free(&j.d);
	rml_dataset_free(&j.a);
	rml_dataset_free(&j.b);
	return cli_finish(r);
}
