/*
 * rmlops-attack — the adversarial test toolbox: make an adversarial
 * dataset from a model and a dataset (create), report several attacks
 * (run), draw a robustness curve (curve), and check a stored adversarial
 * set against its clean set (verify). The attacks are lib/attack.c, their
 * binding to the model, quantisation, curves and pictures
 * lib/attack_model.c, the reports' text lib/attack_report.c; this file
 * reads the command line and writes the outputs.
 */
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attack_model.h"
#include "attack_report.h"
#include "calib_model.h"
#include "classes.h"
#include "cli.h"
#include "dataset.h"
#include "model.h"

#define MAX_BUDGETS RML_ATTACK_MAX_BUDGETS

struct cmdline {
	const cli_subcommand *cmd;
	const char *model, *data, *output, *config, *name, *clean, *adapters;
	const char *sheet, *plot;
	const char *eps_list, *pixels_list, *queries_list;
	/* Attack settings given on the command line, in order; they override
	 * the attack list's values. */
	rml_attack_sets sets;
	int64_t batch, sheet_count;
	double amplify;
	int have_attack;   /* --attack given */
	cli_common com;
};

/* The commands print their messages where they arise and return the
 * exit status. */
static int cmd_attack(void *ctx), cmd_curve(void *ctx), cmd_verify(void *ctx);
static const cli_subcommand commands[] = {
	{ "create", "", cmd_attack,
	  "write the adversarial dataset (uint8, within budget) with per-example\n"
	  "success, norms and queries; the report goes to standard error when\n"
	  "the dataset goes to standard output" },
	{ "run", "", cmd_attack, "report every attack of the list, one row each" },
	{ "curve", "", cmd_curve,
	  "robust accuracy against a list of budgets, for every attack; with\n"
	  "--queries, success rate against queries at one eps (black-box)" },
	{ "verify", "", cmd_verify,
	  "measure a stored adversarial set against its clean set; exit 1\n"
	  "when any image is over the recorded budget" },
	{ NULL, NULL, NULL, NULL },
};

static void usage(void)
{
	printf("Usage: rmlops-attack create -m MODEL -d DATA ATTACK [SETTINGS] [-o OUT]\n"
	       "       rmlops-attack run    -m MODEL -d DATA ATTACK [SETTINGS]\n"
	       "       rmlops-attack curve  -m MODEL -d DATA ATTACK --eps LIST [--plot PNG]\n"
	       "       rmlops-attack curve  -m MODEL -d DATA ATTACK --eps E --queries LIST [--plot PNG]\n"
	       "       rmlops-attack verify -d ADV --clean DATA\n"
	       "where ATTACK is --attack KIND or --config FILE.\n"
	       "Adversarial tests of an image classifier.\n"
	       "\n"
	       "Commands:\n");
	cli_subcommand_list(stdout, commands, 8);
	printf("Attacks (settings as in the YAML attack list, see rmlops-attack(1)):\n"
	       "      --attack KIND        white-box fgsm, pgd, apgd; black-box cmaes-linf,\n"
	       "                           pixel-l0, square\n"
	       "      --config FILE        a YAML list of attacks; options below override it\n"
	       "      --name NAME          with --config: only the attack of this name;\n"
	       "                           otherwise the name shown in reports\n"
	       "      --norm N             linf (default) or l2 for fgsm, pgd, apgd, square\n"
	       "                           (cmaes-linf is linf, pixel-l0 is l0)\n"
	       "      --eps E              budget in pixel units: 3 = 3/255 of the range\n"
	       "                           (default 3); curve: a comma list, 0 = no attack\n"
	       "      --pixels K           pixel-l0: pixels changed at most (default 1);\n"
	       "                           curve: a comma list\n"
	       "      --target T           none (default), random, next, or a class number\n"
	       "      --steps N            pgd, apgd iterations (default 10)\n"
	       "      --step-size A        pgd step, pixel units (default 2.5 eps / steps);\n"
	       "                           apgd initial step (default 2 eps)\n"
	       "      --restarts N         pgd, apgd runs per example, keeping the worst (1)\n"
	       "      --random-start B     pgd, apgd start at a random point: yes (default), no\n"
	       "      --loss L             apgd: ce (default, cross-entropy) or dlr\n"
	       "      --generations N      black-box generations (default 10, the paper's)\n"
	       "      --popsize N          population (default: CMA-ES 4 + 3 ln dim, DE 400)\n"
	       "      --search S           cmaes (default) or de\n"
	       "      --fitness F          prob (default, p of the label) or margin (log-margin;\n"
	       "                           square's default)\n"
	       "      --sigma0 S           initial CMA-ES step (default 0.25 of the range)\n"
	       "      --tile T             cmaes-linf: one value per T x T block (default 1)\n"
	       "      --preset P           cmaes-linf: paper (the default settings) or tuned\n"
	       "      --queries N          square: queries per image at most (default 1000);\n"
	       "                           curve: a comma list, the query axis\n"
	       "      --p-init P           square: initial share of pixels in a square\n"
	       "                           (default 0.05 linf, 0.1 l2)\n"
	       "      --de-f F, --de-cr CR differential evolution weight and crossover (0.5, 1)\n"
	       "      --min-search N       bisection rounds for the smallest budget that works\n"
	       "Inputs and outputs:\n"
	       "  -m, --model FILE         the model ('-' = standard input)\n"
	       "  -a, --adapter-file FILE  adapters for the model (as rmlops-tta -o writes them),\n"
	       "                           refused unless made for this base model\n"
	       "  -d, --data FILE          the dataset ('-' = standard input)\n"
	       "  -o, --output FILE        create: the adversarial dataset (default: stdout)\n"
	       "      --clean FILE         verify: the clean dataset\n"
	       "      --sheet FILE         create: PNG of clean, adversarial, amplified change\n"
	       "      --sheet-count N      examples on the sheet (default 8; successes first)\n"
	       "      --amplify A          amplification of the change (default: full contrast)\n"
	       "      --plot FILE          curve: the curves as a PNG chart\n"
	       "      --batch N            images per chunk and white-box batch (default 128)\n"
	       "  -s, --seed N             seed of every random choice (default 1; example i\n"
	       "                           draws from stream i whatever the chunking)\n"
	       "  -j, --threads N          worker threads (default: all cores)\n"
	       "      --json               the report as JSON\n"
	       "  -q, --quiet / -v, --verbose;  -h, --help;  -V, --version\n"
	       "\n"
	       "Examples:\n"
	       "  rmlops-attack create -m base.rml -d test.rml --attack pgd --eps 3 -o adv.rml\n"
	       "  rmlops-attack create -m a.rml -d test.rml --attack fgsm -q \\\n"
	       "    | rmlops-eval -m b.rml -d -\n"
	       "  rmlops-attack curve -m base.rml -d test.rml --attack pgd \\\n"
	       "    --eps 0,1,2,3,5,8 --plot curve.png\n"
	       "  rmlops-attack curve -m base.rml -d test.rml --attack square --eps 3 \\\n"
	       "    --queries 10,100,1000,5000 --plot queries.png\n");
}

/* A setting under its key (the option's name with '_' for '-'). */
static int add_set(struct cmdline *c, const char *key, const char *val)
{
	rml_error err = { 0 };
	if (rml_attack_sets_add(&c->sets, key, val, &err))
		return cli_usage_error("%s", err.msg);
	return 0;
}

/* A comma list of budgets >= 0. */
static int parse_budgets(const char *opt, const char *s, int whole, double *v, int *n)
{
	if (rml_attack_list_parse(s, 0, INFINITY, whole, v, MAX_BUDGETS, n))
		return cli_usage_error("%s wants up to %d %s >= 0 separated by commas, not '%s'", opt,
				       MAX_BUDGETS, whole ? "whole numbers" : "numbers", s);
	if (!*n)
		return cli_usage_error("%s is empty", opt);
	return 0;
}

/* What the options ask of the command, judged before any file is read. */
static int check_args(struct cmdline *c, const char *name)
{
	const rml_attack_args a = {
		.command = name, .model = c->model, .data = c->data, .config = c->config,
		.clean = c->clean, .output = c->output, .plot = c->plot, .eps_list = c->eps_list,
		.pixels_list = c->pixels_list, .queries_list = c->queries_list,
		.have_attack = c->have_attack,
		.sheet = c->sheet || c->sheet_count || c->amplify > 0,
		.seed_given = c->com.seed_given, .seed = c->com.seed,
	};
	rml_error err = { 0 };
	if (rml_attack_args_check(&a, &c->sets, &err))
		return cli_usage_error("%s", err.msg);
	return 0;
}

/* An attack setting (O_SET) goes to the list of settings under the
 * option's name as its key. */
enum { O_SET = 1 };
#define F(f) offsetof(struct cmdline, f)
#define SET(name) CLI_CALL(name, 0, O_SET)
static const cli_opt options[] = {
	CLI_STR("model", 'm', F(model)), CLI_STR("adapter-file", 'a', F(adapters)),
	CLI_STR("data", 'd', F(data)), CLI_STR("output", 'o', F(output)),
	SET("attack"), CLI_STR("config", 0, F(config)),
	CLI_STR("name", 0, F(name)), SET("norm"),
	CLI_STR("eps", 0, F(eps_list)), CLI_STR("pixels", 0, F(pixels_list)),
	SET("target"), SET("steps"), SET("step-size"), SET("restarts"), SET("random-start"),
	SET("generations"), SET("popsize"), SET("search"), SET("fitness"), SET("sigma0"),
	SET("de-f"), SET("de-cr"), SET("min-search"),
	CLI_STR("clean", 0, F(clean)), CLI_STR("sheet", 0, F(sheet)),
	CLI_I64("sheet-count", 0, F(sheet_count), 1, 1000),
	CLI_F64("amplify", 0, F(amplify), 0, 255),
	CLI_STR("plot", 0, F(plot)), CLI_I64("batch", 0, F(batch), 1, 65536),
	SET("loss"), SET("tile"), SET("preset"), CLI_STR("queries", 0, F(queries_list)),
	SET("p-init"), CLI_SHARED_ALL, CLI_END,
};
#undef SET
#undef F

static int option(void *base, const cli_opt *e, const char *arg)
{
	struct cmdline *c = base;
	c->have_attack |= !strcmp(e->name, "attack");
	return add_set(c, e->name, arg);
}

static int parse_args(int argc, char **argv, struct cmdline *c)
{
	const cli_parser p = { options, c, &c->com, option, NULL };
	int st = cli_parse_args(&p, argc, argv);
	if (st)
		return st;
	if (c->com.want_help) {
		usage();
		return -1;
	}
	if (optind >= argc)
		return cli_usage_error("no command given (create, run, curve or verify)");
	const char *name = argv[optind++];
	if (optind < argc)
		return cli_usage_error("unexpected argument '%s'", argv[optind]);
	if (!(c->cmd = cli_subcommand_find(commands, name)))
		return cli_usage_error("unknown command '%s' (create, run, curve or verify)", name);
	return check_args(c, name);
}

static void progress(void *ctx, int64_t done, int64_t total)
{
	cli_progress((const char *)ctx, done, total);
}

/* Write a report built in o to fp and empty o. */
static void emit(FILE *fp, rml_outbuf *o)
{
	if (o->len) /* an empty buffer may have no storage: fwrite(NULL) is undefined */
		fwrite(o->data, 1, o->len, fp);
	o->len = 0;
}

static int cmd_verify(void *ctx)
{
	struct cmdline *c = ctx;
	rml_error err = { 0 };
	rml_file af;
	rml_dataset clean;
	rml_outbuf o;
	rml_file_init(&af);
	rml_dataset_init(&clean);
	rml_outbuf_init(&o);
	rml_attack_verify_report v;
	int status = CLI_EXIT_FAIL;
	if (!cli_load(&af, c->data, "adversarial", &err) && !rml_dataset_load(&clean, c->clean, &err) &&
	    !rml_attack_verify(&af, &clean, &v, &err)) {
		rml_attack_verify_text(&o, c->com.json, &v);
		emit(stdout, &o);
		if (v.n_over)
			rml_errorf(&err, RML_ERR_MISMATCH, "%lld of %lld images are over the %s budget %g (first: %lld)",
				   (long long)v.n_over, (long long)v.n, rml_attack_norm_name(v.norm), v.budget,
				   (long long)v.first_over);
		else
			status = CLI_EXIT_OK;
	}
	if (status)
		cli_fail(&err);
	rml_outbuf_free(&o);
	rml_file_free(&af);
	rml_dataset_free(&clean);
	return status;
}

/* ---- create, run, curve: a model, a dataset and a list of attacks ------------------ */

struct job {
	rml_model *m;
	rml_dataset d;
	rml_attack_spec *list;
	int n;
	rml_error err;
	rml_outbuf out;   /* the report being written */
};

/* The attacks to run (rml_attack_list_make): a bad file is exit 1, a
 * value wrong only after the command line's settings a usage error. */
static int load_attacks(const struct cmdline *c, struct job *j)
{
	int usage;
	if (!rml_attack_list_make(c->config, c->name, &c->sets, c->cmd->run == cmd_curve && !c->queries_list,
				  rml_model_n_classes(j->m), !strcmp(c->cmd->name, "create"), &j->list,
				  &j->n, &usage, &j->err))
		return 0;
	return usage ? cli_usage_error("%s", j->err.msg) : CLI_EXIT_FAIL;
}

/* The outputs, checked before any work (the report is an output of run
 * and curve). */
static int job_check_outputs(const struct cmdline *c)
{
	const int create = !strcmp(c->cmd->name, "create");
	const char *out = c->output ? c->output : "-";
	if (create && cli_check_output(out))
		return CLI_EXIT_USAGE;
	const char *outs[] = { create ? out : "-", c->sheet, c->plot };
	const char *opts[] = { create ? "-o" : "the report", "--sheet", "--plot" };
	const char *ins[] = { c->model, c->adapters, c->data, c->config };
	return cli_check_outputs(outs, opts, 3, ins, 4);
}

/* Load the model, the dataset and the attacks; refuse budgets the images
 * cannot hold (not for curves, whose budgets are a list). */
static int job_open(struct cmdline *c, struct job *j)
{
	int st;
	cli_common_threads(&c->com);
	if (cli_load_model(&j->m, c->model, c->adapters, &j->err) ||
	    cli_load_dataset(&j->d, c->data, "data", &j->err) ||
	    rml_dataset_fit_model(&j->d, j->m, 1, c->data, &j->err))
		return CLI_EXIT_FAIL;
	if ((st = load_attacks(c, j)) != 0)
		return st;
	if (c->batch > j->d.n)
		c->batch = j->d.n;   /* one batch of the whole set: the same results, less memory */
	for (int i = 0; i < j->n; i++) {
		const rml_attack_spec *a = &j->list[i];
		if (a->cfg.kind != RML_ATTACK_PIXEL_L0 || c->cmd->run == cmd_curve ||
		    a->cfg.pixels <= j->d.h * j->d.w)
			continue;
		if (c->pixels_list)
			return cli_usage_error("--pixels %lld: the images have %lld pixels",
					       (long long)a->cfg.pixels, (long long)(j->d.h * j->d.w));
		rml_errorf(&j->err, RML_ERR_ARG, "attack %s: %lld pixels, the images have %lld", a->name,
			   (long long)a->cfg.pixels, (long long)(j->d.h * j->d.w));
		return CLI_EXIT_FAIL;
	}
	return 0;
}

/* Print the error of a failed job (usage messages are printed already)
 * and free it. */
static int job_close(struct job *j, int status)
{
	if (status == CLI_EXIT_FAIL)
		cli_fail(&j->err);
	free(j->list);
	rml_dataset_free(&j->d);
	rml_model_free(j->m);
	rml_outbuf_free(&j->out);
	return status;
}

static int cmd_curve(void *ctx)
{
	struct cmdline *c = ctx;
	struct job j = { 0 };
	rml_dataset_init(&j.d);
	double eps[MAX_BUDGETS], pix[MAX_BUDGETS], q[MAX_BUDGETS];
	int n_eps = 0, n_pix = 0, nq = 0, st = job_check_outputs(c);
	if (st)
		return st;
	if ((c->eps_list && parse_budgets("--eps", c->eps_list, 0, eps, &n_eps)) ||
	    (c->pixels_list && parse_budgets("--pixels", c->pixels_list, 1, pix, &n_pix)))
		return CLI_EXIT_USAGE;
	if ((st = job_open(c, &j)) != 0)
		return job_close(&j, st);
	if (c->queries_list && parse_budgets("--queries", c->queries_list, 1, q, &nq))
		return job_close(&j, CLI_EXIT_USAGE);
	const int l0 = j.list[0].cfg.kind == RML_ATTACK_PIXEL_L0;
	if (rml_attack_curve_check(j.list, j.n, nq, n_eps, n_pix, &j.err))
		return job_close(&j, cli_usage_error("%s", j.err.msg));
	st = rml_attack_curves_report(j.m, j.list, j.n, &j.d, l0 ? pix : eps, l0 ? n_pix : n_eps, l0, q, nq,
				      c->batch, progress, c->com.json, c->plot, &j.out, &j.err)
		     ? CLI_EXIT_FAIL : CLI_EXIT_OK;
	emit(stdout, &j.out);   /* the table, also when only the chart failed */
	return job_close(&j, st);
}

/* create and run: each attack over the dataset, a report row each;
 * create also writes the adversarial dataset (and its sheet). */
static int cmd_attack(void *ctx)
{
	struct cmdline *c = ctx;
	const int create = !strcmp(c->cmd->name, "create");
	const char *out = c->output ? c->output : "-";
	struct job j = { 0 };
	rml_dataset_init(&j.d);
	int st = job_check_outputs(c);
	if (st)
		return st;
	if ((st = job_open(c, &j)) != 0)
		return job_close(&j, st);
	rml_file of;
	rml_file_init(&of);
	rml_attack_dataset_result r;
	rml_attack_dataset_result_init(&r);
	/* The report shares standard output only when no data goes there. */
	FILE *rep_fp = create && !strcmp(out, "-") ? stderr : stdout;
	const char *const *names = rml_model_class_names(j.m);
	if (!names && j.d.n_classes == rml_model_n_classes(j.m))
		names = (const char *const *)j.d.class_names;
	const int rows = !c->com.json && (cli_verbosity > 0 || !create);
	if (rows && cli_verbosity > 0 && !create)
		rml_attack_report_header(&j.out);
	if (c->com.json && !create)
		rml_outbuf_add(&j.out, "{\"attacks\":[", 12);
	emit(rep_fp, &j.out);
	for (int i = 0; !st && i < j.n; i++) {
		rml_attack_report rep;
		rml_attack_dataset_result_free(&r);
		st = rml_attack_dataset(j.m, &j.list[i], &j.d, c->batch, progress, (void *)j.list[i].name,
					&r, &j.err) ? CLI_EXIT_FAIL : 0;
		if (st)
			break;
		rml_attack_summarize(&r, j.d.labels, &rep);
		if (c->com.json && i)
			rml_outbuf_add(&j.out, ",", 1);
		if (c->com.json)
			rml_attack_report_json(&j.out, &j.list[i], &rep);
		else if (rows && create)
			rml_attack_report_header(&j.out);
		if (rows)
			rml_attack_report_row(&j.out, &j.list[i], &rep);
		emit(rep_fp, &j.out);
	}
	if (!st && c->com.json)
		fputs(create ? "\n" : "]}\n", rep_fp);
	/* The sheet first: when it cannot be written, no dataset is left
	 * behind to look like a finished run. */
	if (!st && create && c->sheet &&
	    rml_attack_sheet(c->sheet, &j.list[0], &j.d, &r, names, c->sheet_count ? c->sheet_count : 8,
			     c->amplify, &j.err))
		st = CLI_EXIT_FAIL;
	if (!st && create && (rml_attack_to_file(&j.list[0], &j.d, &r, &of, &j.err) ||
			      cli_save(&of, out, (int64_t)j.list[0].cfg.seed, &j.err)))
		st = CLI_EXIT_FAIL;
	rml_attack_dataset_result_free(&r);
	rml_file_free(&of);
	return job_close(&j, st);
}

int main(int argc, char **argv)
{
	cli_init("rmlops-attack", argc, argv);
	struct cmdline c = { .com = { .seed = 1 }, .batch = 128 };
	int st = parse_args(argc, argv, &c);
	if (st)
		return st < 0 ? cli_finish(CLI_EXIT_OK) : st;
	return cli_finish(c.cmd->run(&c));
}
