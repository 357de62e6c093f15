/*
 * rmlops-metaopt — post-hoc resilience optimisation: meta-learn a model's
 * meta-adapters (omega) with evolution strategies so that its adapters
 * recover quickly from disturbances (lib/metaopt.h), or, with --eval,
 * measure the integral resilience criterion of any model on held-out
 * disturbance implementations. This file parses options, loads the
 * inputs and prints the report; the run's files, log and plots are
 * lib/metaopt_run.h's.
 */
#include <math.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "dataset.h"
#include "metaopt.h"
#include "metaopt_run.h"
#include "classes.h"
#include "model.h"
#include "outtext.h"

struct cmdline {
	const char *model, *data, *val, *tasks, *pool, *output, *checkpoint, *resume, *log, *plot;
	rml_metaopt_config cfg;
	cli_common com;
	int64_t gamma, until, repeat;
	int eval, quick;
	char **argv;   /* the run's options, kept in the checkpoint for --resume */
	int argc;
};

/* Set by the first SIGINT or SIGTERM (cli_catch_stop): stop at the next step. */
static volatile sig_atomic_t interrupted;

static const char usage_text[] =
	"Usage: rmlops-metaopt -m MODEL -d DATA --val VAL [--tasks TASKS] [OPTIONS] -o OUT\n"
	"       rmlops-metaopt --eval -m MODEL --val VAL [--tasks TASKS] [OPTIONS]\n"
	"       rmlops-metaopt --resume CHECKPOINT [-j N] [--until N]\n"
	"Meta-learn the meta-adapters (omega) with evolution strategies so that\n"
	"the adapters recover quickly after a disturbance; or measure the\n"
	"integral resilience criterion R of a model (--eval).\n"
	"\n"
	"Inputs and outputs:\n"
	"  -m, --model FILE      model with adapters (or add them with --adapters)\n"
	"      --adapters GAMMA  add adapters (1, 2, 4, 8) to a model without\n"
	"  -d, --data FILE       labelled images of the model's task, for inner loops\n"
	"      --val FILE        held-out labelled images: P0 and the held-out R\n"
	"      --tasks FILE      task episodes (rmlops-data tasks) for 'task'\n"
	"      --pool LIST|FILE  disturbances: fgsm,fault,task or a YAML file\n"
	"                        (default fgsm,fault, and task with --tasks)\n"
	"  -o, --output FILE     the model with the best omega (default stdout)\n"
	"      --checkpoint FILE written after every iteration (default OUT.ckpt)\n"
	"      --resume FILE     continue a run from its checkpoint, exactly\n"
	"      --until N         stop after iteration N, leaving the checkpoint\n"
	"      --log FILE        one JSON line per iteration\n"
	"      --plot FILE       PNG of R over the iterations (with --eval: the\n"
	"                        mean resilience curve of each disturbance)\n"
	"Inner loop (per disturbance implementation):\n"
	"      --steps T         SGD steps on phi (and a new head) (40)\n"
	"      --batch B         images per step (4)\n"
	"      --alpha A         learning rate (0.001)\n"
	"      --val-size N      validation images per implementation (100)\n"
	"Outer loop:\n"
	"      --beta B          ES step (0.0001)\n"
	"      --sigma S         ES smoothing radius (0.01)\n"
	"      --impl N          implementations per iteration and side (2)\n"
	"      --iterations N    at most N iterations (300)\n"
	"      --patience N      stop when the held-out R has not risen for N (10)\n"
	"      --heldout N       held-out implementations per disturbance (2)\n"
	"      --eval-every K    held-out R every K iterations (2)\n"
	"      --random-steps    control: random directions of the ES step's length\n"
	"      --p0 X            fix P0 (default: measured on --val)\n"
	"      --train-metric M  P_t of the ES iterations: prob (the true class's\n"
	"                        probability, default) or acc; held-out: acc\n"
	"      --quick           small settings for tests and demos\n"
	"Evaluation:\n"
	"      --eval            measure R; no output model\n"
	"      --repeat N        implementations per disturbance (20)\n"
	"Common:\n"
	"  -s, --seed N          seed of every random choice (1)\n"
	"  -j, --threads N       worker threads (default: all cores)\n"
	"      --json            the report as JSON on stdout\n"
	"  -q, --quiet / -v, --verbose\n"
	"  -h, --help / -V, --version\n";

enum { O_ADAPTERS = 1, O_SIGMA, O_P0, O_METRIC, O_QUICK };

#define F(f) offsetof(struct cmdline, f)
static const cli_opt options[] = {
	CLI_STR("model", 'm', F(model)),
	CLI_I64("adapters", 0, F(gamma), 1, 8, .id = O_ADAPTERS),
	CLI_STR("data", 'd', F(data)),
	CLI_STR("val", 0, F(val)),
	CLI_STR("tasks", 0, F(tasks)),
	CLI_STR("pool", 0, F(pool)),
	CLI_STR("output", 'o', F(output)),
	CLI_STR("checkpoint", 0, F(checkpoint)),
	CLI_STR("resume", 0, F(resume)),
	CLI_I64("until", 0, F(until), 1, 1000000),
	CLI_STR("log", 0, F(log)),
	CLI_STR("plot", 0, F(plot)),
	CLI_INT("steps", 0, F(cfg.steps), 1, 10000),
	CLI_INT("batch", 0, F(cfg.batch), 1, 1024),
	CLI_F64("alpha", 0, F(cfg.alpha), 0, 1000),
	CLI_INT("val-size", 0, F(cfg.val_size), 1, 100000),
	CLI_F64("beta", 0, F(cfg.beta), 0, 1000),
	CLI_F64("sigma", 0, F(cfg.sigma), 0, 1000, .id = O_SIGMA),
	CLI_INT("impl", 0, F(cfg.n_impl), 1, 1024),
	CLI_INT("iterations", 0, F(cfg.iterations), 0, 1000000),
	CLI_INT("patience", 0, F(cfg.patience), 1, 1000000),
	CLI_INT("heldout", 0, F(cfg.heldout), 1, 10000),
	CLI_INT("eval-every", 0, F(cfg.eval_every), 1, 1000000),
	CLI_FLAG("random-steps", 0, F(cfg.random_steps)),
	CLI_F64("p0", 0, F(cfg.p0), 0, 1, .id = O_P0),
	CLI_CALL("train-metric", 0, O_METRIC),
	CLI_FLAG("quick", 0, F(quick), .id = O_QUICK),
	CLI_FLAG("eval", 0, F(eval)),
	CLI_I64("repeat", 0, F(repeat), 1, 100000),
	CLI_SHARED_ALL,
	CLI_END,
};
#undef F

/* What the table cannot say or set by itself; 0 or the usage status. */
static int option(void *base, const cli_opt *e, const char *arg)
{
	struct cmdline *c = base;
	switch (e->id) {
	case O_ADAPTERS:
		if (c->gamma & (c->gamma - 1))
			return cli_usage_error("--adapters takes 1, 2, 4 or 8");
		break;
	case O_SIGMA:
		if (!(c->cfg.sigma > 0))
			return cli_usage_error("--sigma must be greater than 0");
		break;
	case O_P0:
		if (!(c->cfg.p0 > 0))
			return cli_usage_error("--p0 must be in (0, 1]");
		break;
	case O_METRIC:
		if (strcmp(arg, "prob") == 0)
			c->cfg.train_metric = RML_METAOPT_PROB;
		else if (strcmp(arg, "acc") == 0)
			c->cfg.train_metric = RML_METAOPT_ACCURACY;
		else
			return cli_usage_error("--train-metric takes prob or acc");
		break;
	case O_QUICK:
		c->cfg.steps = 10;
		c->cfg.val_size = 50;
		c->cfg.n_impl = 1;
		c->cfg.iterations = 6;
		c->cfg.heldout = 1;
		c->cfg.eval_every = 2;
		c->repeat = 4;
		break;
	}
	return 0;
}

/* Parse argv into c; 0, or the exit status to end with. */
static int parse_args(int argc, char **argv, struct cmdline *c)
{
	c->com.help = usage_text;
	const cli_parser p = { options, c, &c->com, option, NULL };
	int st = cli_parse_args(&p, argc, argv);
	if (st)
		return st;
	if (optind < argc)
		return cli_usage_error("unexpected argument '%s'", argv[optind]);
	if (c->com.seed_given)
		c->cfg.seed = (uint64_t)c->com.seed;
	return 0;
}

static int check_args(struct cmdline *c)
{
	if (!c->model)
		return cli_usage_error("no model (-m)");
	if (!c->val)
		return cli_usage_error("no held-out images (--val)");
	if (!c->eval && !c->data)
		return cli_usage_error("no training images (-d)");
	if (c->log && strcmp(c->log, "-") == 0)
		return cli_usage_error("--log wants a file: it is rewritten on --resume");
	if (c->eval && (c->output || c->checkpoint || c->log || c->until))
		return cli_usage_error("--eval writes no model, checkpoint or log");
	if (!c->eval && !c->output)
		c->output = "-";
	if (!c->eval && cli_check_output(c->output))
		return CLI_EXIT_USAGE;
	const char *outs[] = { c->eval ? "-" : c->output, c->checkpoint, c->log, c->plot };
	const char *opts[] = { c->eval ? "the report" : "-o", "--checkpoint", "--log", "--plot" };
	const char *ins[] = { c->model, c->data, c->val, c->tasks, c->pool };
	return cli_check_outputs(outs, opts, 4, ins, 5);
}

/* --resume: the run's options come from the checkpoint (loaded into
 * ckpt), with -j and --until from the command line. *stored receives the
 * stored argv (free it; its strings belong to ckpt), c->argc its length.
 * Returns 0, -1 when the stored options asked for help, or an exit
 * status after printing the problem. */
static int resume_args(struct cmdline *c, rml_file *ckpt, char ***stored_out)
{
	rml_error err = { 0 };
	int64_t until = c->until, threads = c->com.threads;
	/* Only -j, --until and the verbosity may come with --resume. */
	if (c->model || c->data || c->val || c->tasks || c->pool || c->output || c->log || c->plot || c->eval)
		return cli_usage_error("--resume takes the run's options from the checkpoint");
	const char *resume = c->resume;
	char **stored;
	int n_stored, status;
	if (rml_file_load(ckpt, resume, &err) ||
	    rml_metaopt_stored_args(ckpt, resume, &stored, &n_stored, &err)) {
		rml_file_free(ckpt);
		return cli_fail(&err);
	}
	memset(c, 0, sizeof *c);
	rml_metaopt_config_default(&c->cfg);
	if ((status = parse_args(n_stored, stored, c))) {
		free(stored);
		rml_file_free(ckpt);
		return status < 0 ? -1 : CLI_EXIT_FAIL;
	}
	c->resume = resume;
	c->until = until;
	if (threads)
		c->com.threads = threads;
	c->argc = n_stored;
	*stored_out = stored;
	return 0;
}

/* The output: the model as given with the best omega, and the summary. */
static int write_result(const struct cmdline *c, const rml_model *m, rml_metaopt *mo, rml_error *err)
{
	double p0, before, best;
	int64_t best_it;
	rml_metaopt_summary(mo, &p0, &before, &best, &best_it);
	rml_file f;
	rml_file_init(&f);
	rml_status st = rml_metaopt_result_file(mo, m, &f, err);
	if (!st)
		st = cli_save(&f, c->output, (int64_t)c->cfg.seed, err);
	rml_file_free(&f);
	if (st)
		return -1;
	if (c->com.json) {
		rml_outbuf o;
		rml_outbuf_init(&o);
		rml_metaopt_result_json(&o, mo);
		fputs(rml_out_str(&o), strcmp(c->output, "-") ? stdout : stderr);
		rml_outbuf_free(&o);
	} else if (cli_verbosity)
		cli_msg("%lld iterations; held-out R %.4f -> %.4f (best after iteration %lld)",
			(long long)rml_metaopt_iteration(mo), before, best, (long long)best_it);
	return 0;
}

/* The inputs of a run. */
struct inputs {
	rml_model *m;
	rml_dataset data, val;
	rml_file tasks;
	rml_dist_pool pool;
	rml_metaopt_data md;
};

/* The pool, the model (from the checkpoint when resuming: it holds the
 * model as given to the run; else from -m), the images and the tasks. */
static rml_status load_inputs(const struct cmdline *c, const rml_file *ckpt, struct inputs *in,
			      rml_error *err)
{
	rml_file f;
	rml_file_init(&f);
	rml_status st = rml_metaopt_pool_load(&in->pool, c->pool, c->tasks != NULL, err);
	if (!st && c->resume)
		st = rml_model_from_file(&in->m, ckpt, err);
	else if (!st) {
		if (!(st = cli_load(&f, c->model, "model", err)) &&
		    !(st = rml_expect_kind(&f, "model", c->model, err)))
			st = rml_model_from_file(&in->m, &f, err);
		if (!st && c->gamma && !rml_model_has_adapters(in->m))
			st = rml_model_add_adapters(in->m, (int)c->gamma, c->cfg.seed, err);
	}
	rml_file_free(&f);
	if (!st && c->data && !(st = cli_load_dataset(&in->data, c->data, "data", err)))
		st = rml_dataset_fit_model(&in->data, in->m, 1, c->data, err);
	if (!st && !(st = cli_load_dataset(&in->val, c->val, "val", err)))
		st = rml_dataset_fit_model(&in->val, in->m, 1, c->val, err);
	if (!st && c->tasks && !(st = cli_load(&in->tasks, c->tasks, "tasks", err)))
		st = rml_expect_kind(&in->tasks, "dataset", c->tasks, err);
	in->md = (rml_metaopt_data){ c->data ? &in->data : NULL, &in->val, c->tasks ? &in->tasks : NULL };
	return st;
}

static int stopped(void *ctx)
{
	(void)ctx;
	return interrupted != 0;
}

static void after(void *ctx, const rml_metaopt *mo, const rml_metaopt_record *rec)
{
	const rml_metaopt_config *cfg = ctx;
	if (cli_verbosity >= 2)
		cli_info("iteration %lld %s R+ %.4f R- %.4f held-out %.4f (%.1f s)", (long long)rec->iteration,
			 rml_dist_kind_name(rec->kind), rec->r_plus, rec->r_minus, rec->heldout, rec->seconds);
	cli_progress("metaopt", rml_metaopt_iteration(mo), cfg->iterations);
}

/* The optimisation from the checkpoint's iteration (or the start) until
 * the end, --until or a signal, then the plot and the output. */
static int run_opt(const struct cmdline *c, struct inputs *in, const rml_file *ckpt, int argc,
		   char **argv, rml_error *err)
{
	char ckpt_path[4096] = "";
	if (c->checkpoint)
		snprintf(ckpt_path, sizeof ckpt_path, "%s", c->checkpoint);
	else if (strcmp(c->output, "-") != 0)
		snprintf(ckpt_path, sizeof ckpt_path, "%s.ckpt", c->output);
	rml_metaopt *mo = NULL;
	FILE *log = NULL;
	int status = CLI_EXIT_FAIL;
	double *rmean = calloc((size_t)c->cfg.iterations + 1, sizeof *rmean);
	double *held = calloc((size_t)c->cfg.iterations + 1, sizeof *held);
	if (!rmean || !held) {
		rml_errorf(err, RML_ERR_NOMEM, "out of memory");
		goto done;
	}
	for (int64_t i = 0; i <= c->cfg.iterations; i++)
		rmean[i] = held[i] = NAN;
	if (rml_metaopt_init(&mo, in->m, &c->cfg, &in->pool, &in->md, (int)c->com.threads, err) ||
	    (c->resume && rml_metaopt_restore(mo, ckpt, err)) ||
	    (c->log && !(log = rml_metaopt_log_open(c->log, rml_metaopt_iteration(mo), rmean, held, err))))
		goto done;
	double p0, before, best;
	int64_t best_it;
	rml_metaopt_summary(mo, &p0, &before, &best, &best_it);
	cli_info("P0 %.4f, held-out R of the model as given %.4f", p0, before);
	cli_catch_stop(&interrupted);
	const rml_metaopt_loop loop = { log, ckpt_path, in->m, argc, argv, c->until, stopped, after,
					(void *)&c->cfg };
	if (rml_metaopt_run_loop(mo, &loop, rmean, held, err))
		goto done;
	cli_progress("metaopt", c->cfg.iterations, c->cfg.iterations);
	if (!rml_metaopt_done(mo)) {
		if (cli_verbosity || interrupted)
			cli_msg("stopped after iteration %lld%s%s", (long long)rml_metaopt_iteration(mo),
			ckpt_path[0] ? "; resume with --resume " : "; no checkpoint (see --checkpoint)",
			ckpt_path);
		status = interrupted ? 128 + interrupted : CLI_EXIT_OK;
	} else if (!(c->plot && rml_metaopt_plot_run(c->plot, rmean, held, rml_metaopt_iteration(mo), err)) &&
		   !write_result(c, in->m, mo, err))
		status = CLI_EXIT_OK;
done:
	if (log)
		fclose(log);
	free(rmean);
	free(held);
	rml_metaopt_free(mo);
	return status;
}

int main(int argc, char **argv)
{
	cli_init("rmlops-metaopt", argc, argv);
	struct cmdline c = { 0 };
	rml_metaopt_config_default(&c.cfg);
	int status = parse_args(argc, argv, &c);
	if (status)
		return status < 0 ? status + 1 : status;
	rml_error err = { 0 };
	rml_file ckpt;
	rml_file_init(&ckpt);
	char **stored = NULL;
	if (c.resume && (status = resume_args(&c, &ckpt, &stored)) != 0)
		return status < 0 ? 0 : status;
	if (stored) {
		argc = c.argc;
		argv = stored;
	}
	if ((status = check_args(&c))) {
		free(stored);
		rml_file_free(&ckpt);
		return status;
	}
	if (c.com.threads)
		cli_common_threads(&c.com);
	struct inputs in = { 0 };
	rml_dataset_init(&in.data);
	rml_dataset_init(&in.val);
	rml_file_init(&in.tasks);
	if (load_inputs(&c, &ckpt, &in, &err))
		status = CLI_EXIT_FAIL;
	else if (c.eval)
		status = rml_metaopt_eval_run(in.m, &c.cfg, &in.pool, &in.md, (int)(c.repeat ? c.repeat : 20),
					      (int)c.com.threads, stdout, c.com.json, c.plot, &err)
				 ? CLI_EXIT_FAIL : CLI_EXIT_OK;
	else
		status = run_opt(&c, &in, &ckpt, argc, argv, &err);
	if (status == CLI_EXIT_FAIL && err.code)
		cli_fail(&err);
	rml_model_free(in.m);
	rml_dataset_free(&in.data);
	rml_dataset_free(&in.val);
	rml_file_free(&in.tasks);
	rml_file_free(&ckpt);
	free(stored);
	return cli_finish(status);
}
