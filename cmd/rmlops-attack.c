/*
 * rmlops-attack — the adversarial test toolbox: make an adversarial
 * dataset from a model and a dataset (create), report several attacks
 * (run), draw a robustness curve (curve), and check a stored adversarial
 * set against its clean set (verify). The attacks are lib/attack.c, their
 * binding to the model, quantisation, curves and pictures
 * lib/attack_model.c, the reports' text and the command line's checks
 * lib/attack_report.c, the commands' work lib/attack_run.c; this file
 * reads the command line, loads the inputs and writes the outputs.
 */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "attack_run.h"
#include "classes.h"
#include "cli.h"
#include "outtext.h"

struct cmdline {
	const cli_subcommand *cmd;
	rml_attack_args a;   /* the inputs, outputs and lists, judged together */
	rml_attack_sets sets;   /* the attack settings given, in order: over the list's */
	const char *adapters, *sheet;
	int64_t batch, sheet_count;
	double amplify;
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

/* Attack settings (SET) go to c->sets under the option's name. Settings
 * sharing an abbreviation ("--step": --steps or --step-size) are
 * ambiguous, as any two options are. */
#define F(f) offsetof(struct cmdline, f)
#define SET(name) CLI_CALL(name, 0, 1)
static const cli_opt options[] = {
	CLI_STR("model", 'm', F(a.model)), CLI_STR("adapter-file", 'a', F(adapters)),
	CLI_STR("data", 'd', F(a.data)), CLI_STR("output", 'o', F(a.output)),
	SET("attack"), CLI_STR("config", 0, F(a.config)),
	CLI_STR("name", 0, F(a.name)), SET("norm"),
	CLI_STR("eps", 0, F(a.eps_list)), CLI_STR("pixels", 0, F(a.pixels_list)),
	SET("target"), SET("steps"), SET("step-size"), SET("restarts"),
	SET("random-start"), SET("generations"), SET("popsize"), SET("search"),
	SET("fitness"), SET("sigma0"), SET("de-f"), SET("de-cr"),
	SET("min-search"), CLI_STR("clean", 0, F(a.clean)), CLI_STR("sheet", 0, F(sheet)),
	CLI_I64("sheet-count", 0, F(sheet_count), 1, 1000),
	CLI_F64("amplify", 0, F(amplify), 0, 255),
	CLI_STR("plot", 0, F(a.plot)), CLI_I64("batch", 0, F(batch), 1, 65536),
	SET("loss"), SET("tile"), SET("preset"), CLI_STR("queries", 0, F(a.queries_list)),
	SET("p-init"), CLI_SHARED_ALL, CLI_END,
};
#undef SET
#undef F

static int option(void *base, const cli_opt *e, const char *arg)
{
	struct cmdline *c = base;
	rml_error err = { 0 };
	c->a.have_attack |= !strcmp(e->name, "attack");
	if (rml_attack_sets_add(&c->sets, e->name, arg, &err))
		return cli_usage_error("%s", err.msg);
	return 0;
}

/* Parse argv into c and judge what it asks before any file is read. */
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
	if ((st = cli_no_operands(argc, argv)) != 0)
		return st;
	if (!(c->cmd = cli_subcommand_find(commands, name)))
		return cli_usage_error("unknown command '%s' (create, run, curve or verify)", name);
	c->a.command = name;
	c->a.sheet = c->sheet || c->sheet_count || c->amplify > 0;
	c->a.seed_given = c->com.seed_given;
	c->a.seed = c->com.seed;
	rml_error err = { 0 };
	if (rml_attack_args_check(&c->a, &c->sets, &err))
		return cli_usage_error("%s", err.msg);
	return 0;
}

static void progress(void *ctx, int64_t done, int64_t total)
{
	cli_progress((const char *)ctx, done, total);
}

static int cmd_verify(void *ctx)
{
	struct cmdline *c = ctx;
	rml_error err = { 0 };
	rml_outbuf o;
	rml_outbuf_init(&o);
	int st = rml_attack_verify_files(c->a.data, c->a.clean, c->com.json, cli_load, &o, &err);
	fputs(rml_out_str(&o), stdout);
	rml_outbuf_free(&o);
	return st ? cli_fail(&err) : CLI_EXIT_OK;
}

/* ---- create, run, curve: a model, a dataset and a list of attacks ------------------ */

/* The outputs, checked before any work (the report is an output of run
 * and curve). */
static int job_check_outputs(const struct cmdline *c)
{
	const int create = !strcmp(c->cmd->name, "create");
	const char *out = c->a.output ? c->a.output : "-";
	const char *outs[] = { create ? out : "-", c->sheet, c->a.plot };
	const char *opts[] = { create ? "-o" : "the report", "--sheet", "--plot" };
	const char *ins[] = { c->a.model, c->adapters, c->a.data, c->a.config };
	return cli_check_all_outputs(outs, opts, 3, create, ins, 4);
}

/* Load the model and the dataset, then the attacks (rml_attack_job_prepare). */
static int job_open(struct cmdline *c, rml_attack_job *j, rml_error *err)
{
	int usage;
	cli_common_threads(&c->com);
	if (cli_load_model(&j->m, c->a.model, c->adapters, err) ||
	    cli_load_dataset_fit(&j->d, c->a.data, "data", j->m, 1, err))
		return CLI_EXIT_FAIL;
	if (rml_attack_job_prepare(j, &c->a, &c->sets, &c->batch, &usage, err))
		return usage ? cli_usage_error("%s", err->msg) : CLI_EXIT_FAIL;
	return 0;
}

/* Print the error of a failed job (usage messages are printed already)
 * and free it. */
static int job_close(rml_attack_job *j, int status, const rml_error *err)
{
	rml_attack_job_free(j);
	return status == CLI_EXIT_FAIL ? cli_fail(err) : status;
}

static int cmd_curve(void *ctx)
{
	struct cmdline *c = ctx;
	rml_attack_curve_lists l;
	rml_error err = { 0 };
	int usage, st = job_check_outputs(c);
	if (st)
		return st;
	if (rml_attack_curve_lists_parse(&c->a, &l, &err))
		return cli_usage_error("%s", err.msg);
	rml_attack_job j;
	rml_attack_job_init(&j);
	rml_outbuf out;
	rml_outbuf_init(&out);
	if (!(st = job_open(c, &j, &err))) {
		if (rml_attack_curve_run(&j, &l, c->batch, progress, c->com.json, c->a.plot, &out, &usage, &err))
			st = usage ? cli_usage_error("%s", err.msg) : CLI_EXIT_FAIL;
		fputs(rml_out_str(&out), stdout);   /* the table, also when only the chart failed */
	}
	rml_outbuf_free(&out);
	return job_close(&j, st, &err);
}

/* create and run: each attack over the dataset, a report row each;
 * create also writes the adversarial dataset (and its sheet). */
static int cmd_attack(void *ctx)
{
	struct cmdline *c = ctx;
	const int create = !strcmp(c->cmd->name, "create");
	const char *out = c->a.output ? c->a.output : "-";
	rml_error err = { 0 };
	int st = job_check_outputs(c);
	if (st)
		return st;
	rml_attack_job j;
	rml_attack_job_init(&j);
	rml_file of;
	rml_file_init(&of);
	rml_attack_dataset_result r;
	rml_attack_dataset_result_init(&r);
	/* The report shares standard output only when no data goes there. */
	FILE *rep_fp = create && !strcmp(out, "-") ? stderr : stdout;
	if (!(st = job_open(c, &j, &err)) &&
	    (rml_attack_run_report(&j, create, c->com.json, cli_verbosity == 0, c->batch, progress, rep_fp,
				   &r, &err) ||
	     (create && (rml_attack_create_files(&j, &r, c->sheet, c->sheet_count, c->amplify, &of, &err) ||
			 cli_save(&of, out, (int64_t)j.list[0].cfg.seed, &err)))))
		st = CLI_EXIT_FAIL;
	rml_attack_dataset_result_free(&r);
	rml_file_free(&of);
	return job_close(&j, st, &err);
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
