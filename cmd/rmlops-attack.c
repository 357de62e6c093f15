/*
 * rmlops-attack — the adversarial test toolbox: make an adversarial
 * dataset from a model and a dataset (create), report several attacks
 * (run), draw a robustness curve (curve), and check a stored adversarial
 * set against its clean set (verify). The attacks are lib/attack.c, their
 * binding to the model, quantisation, reports and pictures lib/attack_model.c.
 */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attack_model.h"
#include "calib_model.h"
#include "cli.h"
#include "dataset.h"
#include "classes.h"
#include "model.h"

#define MAX_SET 64
#define MAX_BUDGETS 64

struct cmdline {
	const cli_subcommand *cmd;
	const char *model, *data, *output, *config, *name, *clean, *adapters;
	const char *sheet, *plot;
	const char *eps_list, *pixels_list, *queries_list;
	/* Attack settings given on the command line, in order; they override
	 * the attack list's values. */
	const char *set_key[MAX_SET], *set_val[MAX_SET];
	int n_set;
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

static int add_set(struct cmdline *c, const char *key, const char *val)
{
	if (c->n_set >= MAX_SET)
		return cli_usage_error("too many attack settings");
	c->set_key[c->n_set] = key;
	c->set_val[c->n_set] = val;
	c->n_set++;
	return 0;
}

/* Apply the command line's settings to an attack: the kind first, so
 * that the rest are judged against it, then a preset, so that the rest
 * refine it. Returns 0, or prints a usage message and returns 2. */
static int apply_sets(const struct cmdline *c, rml_attack_spec *a, int skip_budgets)
{
	rml_error err = { 0 };
	for (int pass = 0; pass < 3; pass++)
		for (int i = 0; i < c->n_set; i++) {
			int when = !strcmp(c->set_key[i], "attack") ? 0 : !strcmp(c->set_key[i], "preset") ? 1 : 2;
			if (when != pass)
				continue;
			if (skip_budgets && (!strcmp(c->set_key[i], "eps") || !strcmp(c->set_key[i], "pixels")))
				continue;
			if (rml_attack_spec_set(a, c->set_key[i], c->set_val[i], &err)) {
				char opt[64];
				snprintf(opt, sizeof opt, "--%s", c->set_key[i]);
				for (char *p = opt; *p; p++)
					if (*p == '_')
						*p = '-';
				return cli_usage_error("%s: %s", opt, err.msg);
			}
		}
	return 0;
}

static int parse_args(int argc, char **argv, struct cmdline *c)
{
	enum {
		O_ATTACK = 256, O_CONFIG, O_NAME, O_NORM, O_EPS, O_PIXELS, O_TARGET, O_STEPS, O_STEP_SIZE,
		O_RESTARTS, O_RANDOM_START, O_GENERATIONS, O_POPSIZE, O_SEARCH, O_FITNESS, O_SIGMA0,
		O_DE_F, O_DE_CR, O_MIN_SEARCH, O_CLEAN, O_SHEET, O_SHEET_COUNT, O_AMPLIFY, O_PLOT,
		O_BATCH, O_LOSS, O_TILE, O_PRESET, O_QUERIES, O_P_INIT,
	};
	static const struct option opts[] = {
		{ "model", required_argument, 0, 'm' }, { "adapter-file", required_argument, 0, 'a' }, { "data", required_argument, 0, 'd' },
		{ "output", required_argument, 0, 'o' }, CLI_OPT_SEED,
		CLI_OPT_THREADS, { "attack", required_argument, 0, O_ATTACK },
		{ "config", required_argument, 0, O_CONFIG }, { "name", required_argument, 0, O_NAME },
		{ "norm", required_argument, 0, O_NORM }, { "eps", required_argument, 0, O_EPS },
		{ "pixels", required_argument, 0, O_PIXELS }, { "target", required_argument, 0, O_TARGET },
		{ "steps", required_argument, 0, O_STEPS },
		{ "step-size", required_argument, 0, O_STEP_SIZE },
		{ "restarts", required_argument, 0, O_RESTARTS },
		{ "random-start", required_argument, 0, O_RANDOM_START },
		{ "generations", required_argument, 0, O_GENERATIONS },
		{ "popsize", required_argument, 0, O_POPSIZE }, { "search", required_argument, 0, O_SEARCH },
		{ "fitness", required_argument, 0, O_FITNESS }, { "sigma0", required_argument, 0, O_SIGMA0 },
		{ "de-f", required_argument, 0, O_DE_F }, { "de-cr", required_argument, 0, O_DE_CR },
		{ "min-search", required_argument, 0, O_MIN_SEARCH },
		{ "clean", required_argument, 0, O_CLEAN }, { "sheet", required_argument, 0, O_SHEET },
		{ "sheet-count", required_argument, 0, O_SHEET_COUNT },
		{ "amplify", required_argument, 0, O_AMPLIFY }, { "plot", required_argument, 0, O_PLOT },
		{ "batch", required_argument, 0, O_BATCH }, CLI_OPT_JSON,
		{ "loss", required_argument, 0, O_LOSS }, { "tile", required_argument, 0, O_TILE },
		{ "preset", required_argument, 0, O_PRESET },
		{ "queries", required_argument, 0, O_QUERIES },
		{ "p-init", required_argument, 0, O_P_INIT },
		CLI_OPTS_BASE, { 0, 0, 0, 0 },
	};
	/* Options that are attack settings, by the key rml_attack_spec_set knows. */
	static const struct {
		int opt;
		const char *key;
	} settings[] = {
		{ O_ATTACK, "attack" }, { O_NORM, "norm" }, { O_TARGET, "target" }, { O_STEPS, "steps" },
		{ O_STEP_SIZE, "step_size" }, { O_RESTARTS, "restarts" },
		{ O_RANDOM_START, "random_start" }, { O_GENERATIONS, "generations" },
		{ O_POPSIZE, "popsize" }, { O_SEARCH, "search" }, { O_FITNESS, "fitness" },
		{ O_SIGMA0, "sigma0" }, { O_DE_F, "de_f" }, { O_DE_CR, "de_cr" },
		{ O_MIN_SEARCH, "min_search" }, { O_LOSS, "loss" }, { O_TILE, "tile" },
		{ O_PRESET, "preset" }, { O_P_INIT, "p_init" },
	};
	int o, have_attack = 0;
	while ((o = getopt_long(argc, argv, "m:a:d:o:" CLI_SHORT_ALL, opts, NULL)) != -1) {
		int done = 0, r = cli_option(o, optarg, &c->com, NULL, NULL, NULL);
		if (r == CLI_OPT_DONE)
			continue;
		if (r != CLI_OPT_OTHER)
			return r;
		for (size_t i = 0; i < sizeof settings / sizeof settings[0]; i++)
			if (settings[i].opt == o) {
				if (add_set(c, settings[i].key, optarg))
					return CLI_EXIT_USAGE;
				have_attack |= o == O_ATTACK;
				done = 1;
			}
		if (done)
			continue;
		switch (o) {
		case 'm': c->model = optarg; break;
		case 'a': c->adapters = optarg; break;
		case 'd': c->data = optarg; break;
		case 'o': c->output = optarg; break;
		case O_CONFIG: c->config = optarg; break;
		case O_NAME: c->name = optarg; break;
		case O_EPS: c->eps_list = optarg; break;
		case O_PIXELS: c->pixels_list = optarg; break;
		case O_QUERIES: c->queries_list = optarg; break;
		case O_CLEAN: c->clean = optarg; break;
		case O_SHEET: c->sheet = optarg; break;
		case O_SHEET_COUNT:
			if (cli_parse_i64("--sheet-count", optarg, 1, 1000, &c->sheet_count))
				return CLI_EXIT_USAGE;
			break;
		case O_AMPLIFY:
			if (cli_parse_f64("--amplify", optarg, 0, 255, &c->amplify))
				return CLI_EXIT_USAGE;
			break;
		case O_PLOT: c->plot = optarg; break;
		case O_BATCH:
			if (cli_parse_i64("--batch", optarg, 1, 65536, &c->batch))
				return CLI_EXIT_USAGE;
			break;
		default: return cli_usage_error("unknown option");
		}
	}
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
	const int create = !strcmp(name, "create"), curve = !strcmp(name, "curve");
	const int verify = !strcmp(name, "verify");
	if (verify) {
		if (!c->data || !c->clean)
			return cli_usage_error("verify needs -d ADVERSARIAL and --clean DATA");
		if (!strcmp(c->data, "-") && !strcmp(c->clean, "-"))
			return cli_usage_error("the two datasets cannot both come from standard input");
		return 0;
	}
	if (!c->model || !c->data)
		return cli_usage_error("%s needs -m MODEL and -d DATA", name);
	if (!strcmp(c->model, "-") && !strcmp(c->data, "-"))
		return cli_usage_error("model and data cannot both come from standard input");
	if (!have_attack && !c->config)
		return cli_usage_error("name an attack with --attack KIND or give --config FILE");
	if (c->clean)
		return cli_usage_error("--clean goes with verify");
	if (c->output && !create)
		return cli_usage_error("-o goes with create (run and curve print reports)");
	if ((c->sheet || c->sheet_count || c->amplify > 0) && !create)
		return cli_usage_error("--sheet, --sheet-count and --amplify go with create");
	if (c->plot && !curve)
		return cli_usage_error("--plot goes with curve");
	if (curve && !c->eps_list && !c->pixels_list)
		return cli_usage_error("curve needs a list of budgets: --eps LIST (or --pixels LIST)");
	if (curve && c->queries_list) {
		/* The query axis: one eps, the list is the axis, and Square
		 * runs with the largest count as its budget. */
		if (!c->eps_list || c->pixels_list || strchr(c->eps_list, ','))
			return cli_usage_error("curve --queries LIST wants one --eps E (and no --pixels)");
		double v[MAX_BUDGETS];
		int nv = 0;
		char *p = (char *)c->queries_list, *end;
		while (*p) {
			double x = strtod(p, &end);
			if (end == p || !(x >= 1 && x <= 1e7) || x != floor(x) || (*end && *end != ',') ||
			    nv >= MAX_BUDGETS)
				return cli_usage_error("--queries wants up to %d whole numbers from 1 to 10000000 "
						       "separated by commas, not '%s'", MAX_BUDGETS, c->queries_list);
			v[nv++] = x;
			p = *end ? end + 1 : end;
		}
		double mx = 0;
		for (int i = 0; i < nv; i++)
			mx = fmax(mx, v[i]);
		static char qmax[32];
		snprintf(qmax, sizeof qmax, "%.0f", mx);
		if (add_set(c, "eps", c->eps_list) || add_set(c, "queries", qmax))
			return CLI_EXIT_USAGE;
	} else if (c->queries_list && add_set(c, "queries", c->queries_list)) {
		return CLI_EXIT_USAGE;
	}
	if (!curve) {
		if (c->eps_list && add_set(c, "eps", c->eps_list))
			return CLI_EXIT_USAGE;
		if (c->pixels_list && add_set(c, "pixels", c->pixels_list))
			return CLI_EXIT_USAGE;
	}
	if (c->com.seed_given) {
		static char seed[32];
		snprintf(seed, sizeof seed, "%lld", (long long)c->com.seed);
		if (add_set(c, "seed", seed))
			return CLI_EXIT_USAGE;
	}
	/* Judge every value now, so a bad one is a usage error before any
	 * file is read. */
	rml_attack_spec probe;
	rml_attack_spec_default(&probe, RML_ATTACK_FGSM);
	if (apply_sets(c, &probe, curve && !c->queries_list))
		return CLI_EXIT_USAGE;
	rml_error err = { 0 };
	if (!c->config && rml_attack_spec_check(&probe, 0, &err))
		return cli_usage_error("%s", err.msg);
	return 0;
}

/* A comma list of budgets >= 0. */
static int parse_budgets(const char *opt, const char *s, int whole, double *v, int *n)
{
	char *p = (char *)s, *end;
	*n = 0;
	while (*p) {
		double x = strtod(p, &end);
		if (end == p || !(x >= 0 && isfinite(x)) || (*end && *end != ',') || *n >= MAX_BUDGETS ||
		    (whole && x != floor(x)))
			return cli_usage_error("%s wants up to %d %s >= 0 separated by commas, not '%s'", opt,
					       MAX_BUDGETS, whole ? "whole numbers" : "numbers", s);
		v[(*n)++] = x;
		p = *end ? end + 1 : end;
	}
	if (!*n)
		return cli_usage_error("%s is empty", opt);
	return 0;
}

static void progress(void *ctx, int64_t done, int64_t total)
{
	cli_progress((const char *)ctx, done, total);
}

static void json_num(FILE *fp, double v)
{
	if (isfinite(v))
		fprintf(fp, "%.6g", v);
	else
		fprintf(fp, "null");
}

static void print_json(FILE *fp, const rml_attack_spec *a, const rml_attack_report *r)
{
	const rml_attack_config *c = &a->cfg;
	fprintf(fp, "{\"name\":\"%s\",\"attack\":\"%s\",\"norm\":\"%s\",", a->name,
		rml_attack_kind_name(c->kind), rml_attack_norm_name(c->norm));
	if (c->kind == RML_ATTACK_PIXEL_L0)
		fprintf(fp, "\"pixels\":%lld,", (long long)c->pixels);
	else
		fprintf(fp, "\"eps\":%g,", c->eps);
	fprintf(fp, "\"target\":\"%s\",\"seed\":%llu,\"n\":%lld,\"n_attacked\":%lld,\"n_success\":%lld,",
		rml_target_mode_name(a->target), (unsigned long long)c->seed, (long long)r->n,
		(long long)r->n_attacked, (long long)r->n_success);
	const char *names[] = { "clean_acc1", "acc1", "success_rate", "linf_mean", "l2_mean", "l0_mean",
				"budget_mean", "linf_max", "l2_max" };
	double vals[] = { r->clean_acc1, r->acc1, r->success_rate, r->linf_mean, r->l2_mean, r->l0_mean,
			  r->budget_mean, r->linf_max, r->l2_max };
	for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
		fprintf(fp, "\"%s\":", names[i]);
		json_num(fp, vals[i]);
		fputc(',', fp);
	}
	fprintf(fp, "\"l0_max\":%lld,\"queries\":%lld,\"queries_mean\":", (long long)r->l0_max,
		(long long)r->queries);
	json_num(fp, r->queries_mean);
	fprintf(fp, ",\"queries_median\":");
	json_num(fp, r->queries_median);
	fprintf(fp, ",\"acc1_lo\":");
	json_num(fp, r->acc1_lo);
	fprintf(fp, ",\"acc1_hi\":");
	json_num(fp, r->acc1_hi);
	fprintf(fp, ",\"grads\":%lld,\"seconds\":", (long long)r->grads);
	json_num(fp, r->seconds);
	fprintf(fp, ",\"images_per_s\":");
	json_num(fp, r->seconds > 0 ? (double)r->n / r->seconds : NAN);
	fprintf(fp, ",\"queries_per_s\":");
	json_num(fp, r->seconds > 0 ? (double)r->queries / r->seconds : NAN);
	fputc('}', fp);
}

static void print_header(FILE *fp)
{
	fprintf(fp, "%-16s %6s %10s %8s %12s %9s %9s %7s %12s %9s\n", "attack", "n", "clean_acc1", "acc1",
		"success_rate", "linf_mean", "l2_mean", "l0_mean", "queries_mean", "seconds");
}

static void print_row(FILE *fp, const rml_attack_spec *a, const rml_attack_report *r)
{
	fprintf(fp, "%-16s %6lld %10.4f %8.4f %12.4f %9.3f %9.3f %7.1f %12.1f %9.2f\n", a->name,
		(long long)r->n, r->clean_acc1, r->acc1, r->success_rate, r->linf_mean, r->l2_mean,
		r->l0_mean, r->queries_mean, r->seconds);
}

/* The attacks to run: the --config list (optionally one name) or the
 * command line's single attack, with the command line's settings on top. */
static int load_attacks(const struct cmdline *c, int n_classes, rml_attack_spec **list, int *n,
			rml_error *err)
{
	*list = NULL;
	*n = 0;
	const int curve = c->cmd->run == cmd_curve;
	if (c->config) {
		if (rml_attack_spec_load(c->config, c->name, list, n, err))
			return CLI_EXIT_FAIL;
	} else {
		*list = malloc(sizeof **list);
		if (!*list) {
			rml_errorf(err, RML_ERR_NOMEM, "out of memory");
			return CLI_EXIT_FAIL;
		}
		rml_attack_spec_default(*list, RML_ATTACK_FGSM);
		*n = 1;
		if (c->name && rml_attack_spec_set(*list, "name", c->name, err))
			return CLI_EXIT_FAIL;
	}
	/* What the file holds is checked first (a bad file: exit 1); what is
	 * wrong only after the command line's settings is a bad option value
	 * (usage, exit 2). */
	for (int i = 0; i < *n; i++) {
		if (c->config && rml_attack_spec_check(&(*list)[i], n_classes, err))
			return CLI_EXIT_FAIL;
		if (apply_sets(c, &(*list)[i], curve && !c->queries_list))
			return CLI_EXIT_USAGE;
		if (rml_attack_spec_check(&(*list)[i], n_classes, err))
			return cli_usage_error("%s", err->msg);
	}
	if (!strcmp(c->cmd->name, "create") && *n > 1) {
		return cli_usage_error("%s lists %d attacks; create makes one dataset: choose one with --name NAME",
				       c->config, *n);
	}
	return 0;
}

static int cmd_verify(void *ctx)
{
	struct cmdline *c = ctx;
	rml_error err = { 0 };
	rml_file af;
	rml_dataset clean;
	rml_file_init(&af);
	rml_dataset_init(&clean);
	int status = CLI_EXIT_FAIL;
	rml_attack_verify_report v;
	if (cli_load(&af, c->data, "adversarial", &err) || rml_dataset_load(&clean, c->clean, &err) ||
	    rml_attack_verify(&af, &clean, &v, &err))
		goto out;
	if (c->com.json)
		printf("{\"n\":%lld,\"norm\":\"%s\",\"budget\":%g,\"linf_max\":%g,\"l2_max\":%.6g,"
		       "\"l0_max\":%lld,\"n_over\":%lld}\n",
		       (long long)v.n, rml_attack_norm_name(v.norm), v.budget, v.linf_max, v.l2_max,
		       (long long)v.l0_max, (long long)v.n_over);
	else
		printf("n %lld\nnorm %s\nbudget %g\nlinf_max %g\nl2_max %.6g\nl0_max %lld\nn_over %lld\n",
		       (long long)v.n, rml_attack_norm_name(v.norm), v.budget, v.linf_max, v.l2_max,
		       (long long)v.l0_max, (long long)v.n_over);
	if (v.n_over) {
		rml_errorf(&err, RML_ERR_MISMATCH, "%lld of %lld images are over the %s budget %g (first: %lld)",
			   (long long)v.n_over, (long long)v.n, rml_attack_norm_name(v.norm), v.budget,
			   (long long)v.first_over);
		goto out;
	}
	status = CLI_EXIT_OK;
out:
	if (status)
		cli_fail(&err);
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
};

/* The outputs, checked before any work (the report is an output of run
 * and curve). */
static int job_check_outputs(const struct cmdline *c)
{
	const int create = c->cmd->run == cmd_attack && !strcmp(c->cmd->name, "create");
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
	cli_common_threads(&c->com);
	int st;
	if (cli_load_model(&j->m, c->model, c->adapters, &j->err) ||
	    cli_load_dataset(&j->d, c->data, "data", &j->err) ||
	    rml_dataset_fit_model(&j->d, j->m, 1, c->data, &j->err))
		return CLI_EXIT_FAIL;
	if ((st = load_attacks(c, rml_model_n_classes(j->m), &j->list, &j->n, &j->err)) != 0)
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
	return status;
}

/* curve --queries: each black-box attack once at the largest count, then
 * its success rate within every count of the list. */
static int query_curve(const struct cmdline *c, struct job *j)
{
	double q[MAX_BUDGETS];
	int nq = 0, n = j->n;
	const size_t nz = (size_t)(unsigned)n;   /* n >= 1 */
	const rml_attack_spec *list = j->list;
	if (parse_budgets("--queries", c->queries_list, 1, q, &nq))
		return CLI_EXIT_USAGE;
	for (int i = 0; i < n; i++) {
		rml_attack_kind k = list[i].cfg.kind;
		if (k != RML_ATTACK_CMAES_LINF && k != RML_ATTACK_PIXEL_L0 && k != RML_ATTACK_SQUARE)
			return cli_usage_error("attack %s is white-box: the query axis is for cmaes-linf, "
					       "pixel-l0 and square", list[i].name);
	}
	double *rates = calloc(nz * (size_t)nq, sizeof *rates);
	const char **nm = calloc(nz, sizeof *nm);
	rml_attack_report *reps = calloc(nz, sizeof *reps);
	int status = CLI_EXIT_FAIL;
	if (!rates || !nm || !reps) {
		rml_errorf(&j->err, RML_ERR_NOMEM, "out of memory");
		goto out;
	}
	for (int i = 0; i < n; i++)
		nm[i] = list[i].name;
	if (rml_attack_query_curves(j->m, list, j->n, &j->d, q, nq, c->batch, progress, rates, reps, &j->err))
		goto out;
	if (c->com.json) {
		printf("{\"budget\":\"queries\",\"eps\":%g,\"curves\":[", list[0].cfg.eps);
		for (int i = 0; i < n; i++) {
			printf("%s{\"name\":\"%s\",\"attack\":\"%s\",\"acc1\":", i ? "," : "", list[i].name,
			       rml_attack_kind_name(list[i].cfg.kind));
			json_num(stdout, reps[i].acc1);
			printf(",\"queries_median\":");
			json_num(stdout, reps[i].queries_median);
			printf(",\"points\":[");
			for (int k = 0; k < nq; k++) {
				printf("%s{\"queries\":%g,\"success_rate\":", k ? "," : "", q[k]);
				json_num(stdout, rates[i * nq + k]);
				printf("}");
			}
			printf("]}");
		}
		printf("]}\n");
	} else {
		printf("%-8s", "queries");
		for (int i = 0; i < n; i++)
			printf(" %16s", list[i].name);
		printf("   (success rate, eps %g, %lld images)\n", list[0].cfg.eps, (long long)j->d.n);
		for (int k = 0; k < nq; k++) {
			printf("%-8g", q[k]);
			for (int i = 0; i < n; i++)
				printf(" %16.4f", rates[i * nq + k]);
			printf("\n");
		}
	}
	if (c->plot) {
		char title[160];
		snprintf(title, sizeof title, "success rate against queries, eps %g, %lld images",
			 list[0].cfg.eps, (long long)j->d.n);
		if (rml_attack_query_png(c->plot, title, nm, n, q, nq, rates, &j->err))
			goto out;
	}
	status = CLI_EXIT_OK;
out:
	free(rates);
	free(nm);
	free(reps);
	return status;
}

/* The robustness curves: every attack over one list of budgets. */
static int budget_curve(const struct cmdline *c, struct job *j, const double *bud, int nb, int l0)
{
	const int n = j->n;
	const rml_attack_spec *list = j->list;
	rml_attack_report *reps = calloc((size_t)(n * nb), sizeof *reps);
	const char **nm = calloc((size_t)n, sizeof *nm);
	int status = CLI_EXIT_FAIL;
	if (!reps || !nm) {
		rml_errorf(&j->err, RML_ERR_NOMEM, "out of memory");
		goto out;
	}
	for (int i = 0; i < n; i++) {
		nm[i] = list[i].name;
		if (rml_attack_curve(j->m, &list[i], &j->d, bud, nb, c->batch, progress, (void *)list[i].name,
				      reps + i * nb, &j->err))
			goto out;
	}
	if (c->com.json) {
		printf("{\"budget\":\"%s\",\"curves\":[", l0 ? "pixels" : "eps");
		for (int i = 0; i < n; i++) {
			printf("%s{\"name\":\"%s\",\"attack\":\"%s\",\"points\":[", i ? "," : "", list[i].name,
			       rml_attack_kind_name(list[i].cfg.kind));
			for (int k = 0; k < nb; k++) {
				const rml_attack_report *p = &reps[i * nb + k];
				printf("%s{\"%s\":%g,\"n\":%lld,\"acc1\":", k ? "," : "", l0 ? "pixels" : "eps",
				       bud[k], (long long)p->n);
				json_num(stdout, p->acc1);
				printf(",\"success_rate\":");
				json_num(stdout, p->success_rate);
				printf(",\"queries_mean\":");
				json_num(stdout, p->queries_mean);
				printf("}");
			}
			printf("]}");
		}
		printf("]}\n");
	} else {
		printf("%-8s", l0 ? "pixels" : "eps");
		for (int i = 0; i < n; i++)
			printf(" %16s", list[i].name);
		printf("   (robust accuracy acc1, %lld images)\n", (long long)j->d.n);
		for (int k = 0; k < nb; k++) {
			printf("%-8g", bud[k]);
			for (int i = 0; i < n; i++)
				printf(" %16.4f", reps[i * nb + k].acc1);
			printf("\n");
		}
	}
	if (c->plot) {
		char title[160];
		snprintf(title, sizeof title, "robustness curve, %lld images", (long long)j->d.n);
		if (rml_attack_curve_png(c->plot, title, l0 ? "pixels changed (L0)" : "eps (pixel units, of 255)",
					  nm, n, bud, nb, reps, &j->err))
			goto out;
	}
	status = CLI_EXIT_OK;
out:
	free(nm);
	free(reps);
	return status;
}

static int cmd_curve(void *ctx)
{
	struct cmdline *c = ctx;
	struct job j = { 0 };
	rml_dataset_init(&j.d);
	int st = job_check_outputs(c);
	if (st)
		return st;
	double eps[MAX_BUDGETS], pix[MAX_BUDGETS];
	int n_eps = 0, n_pix = 0;
	if ((c->eps_list && parse_budgets("--eps", c->eps_list, 0, eps, &n_eps)) ||
	    (c->pixels_list && parse_budgets("--pixels", c->pixels_list, 1, pix, &n_pix)))
		return CLI_EXIT_USAGE;
	if ((st = job_open(c, &j)) != 0 || c->queries_list)
		return job_close(&j, st ? st : query_curve(c, &j));
	const int l0 = j.list[0].cfg.kind == RML_ATTACK_PIXEL_L0;
	for (int i = 0; i < j.n; i++) {
		int il0 = j.list[i].cfg.kind == RML_ATTACK_PIXEL_L0;
		if ((il0 && !n_pix) || (!il0 && !n_eps))
			return job_close(&j, cli_usage_error("attack %s needs %s LIST for its curve",
							     j.list[i].name, il0 ? "--pixels" : "--eps"));
		if (i > 0 && il0 != l0)
			return job_close(&j, cli_usage_error("one curve shares its budgets: do not mix "
							     "pixel-l0 with eps attacks"));
	}
	return job_close(&j, budget_curve(c, &j, l0 ? pix : eps, l0 ? n_pix : n_eps, l0));
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
	int status = CLI_EXIT_FAIL;
	/* The report shares standard output only when no data goes there. */
	FILE *rep_fp = create && !strcmp(out, "-") ? stderr : stdout;
	const char *const *names = rml_model_class_names(j.m);
	if (!names && j.d.n_classes == rml_model_n_classes(j.m))
		names = (const char *const *)j.d.class_names;
	if (!c->com.json && cli_verbosity > 0 && !create)
		print_header(rep_fp);
	if (c->com.json && !create)
		fprintf(rep_fp, "{\"attacks\":[");
	for (int i = 0; i < j.n; i++) {
		rml_attack_report rep;
		rml_attack_dataset_result_free(&r);
		if (rml_attack_dataset(j.m, &j.list[i], &j.d, c->batch, progress, (void *)j.list[i].name, &r,
				       &j.err))
			goto done;
		rml_attack_summarize(&r, j.d.labels, &rep);
		if (c->com.json) {
			if (i)
				fputc(',', rep_fp);
			print_json(rep_fp, &j.list[i], &rep);
		} else if (cli_verbosity > 0 || !create) {
			if (create)
				print_header(rep_fp);
			print_row(rep_fp, &j.list[i], &rep);
		}
	}
	if (c->com.json)
		fprintf(rep_fp, create ? "\n" : "]}\n");
	/* The sheet first: when it cannot be written, no dataset is left
	 * behind to look like a finished run. */
	if (create && c->sheet &&
	    rml_attack_sheet(c->sheet, &j.list[0], &j.d, &r, names, c->sheet_count ? c->sheet_count : 8,
			     c->amplify, &j.err))
		goto done;
	if (create && (rml_attack_to_file(&j.list[0], &j.d, &r, &of, &j.err) ||
		       cli_save(&of, out, (int64_t)j.list[0].cfg.seed, &j.err)))
		goto done;
	status = CLI_EXIT_OK;
done:
	rml_attack_dataset_result_free(&r);
	rml_file_free(&of);
	return job_close(&j, status);
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
