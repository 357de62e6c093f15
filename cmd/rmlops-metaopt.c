/*
 * rmlops-metaopt — post-hoc resilience optimisation: meta-learn a model's
 * meta-adapters (omega) with evolution strategies so that its adapters
 * recover quickly from disturbances (lib/metaopt.h), or, with --eval,
 * measure the integral resilience criterion of any model on held-out
 * disturbance implementations. This file parses options, checks the
 * outputs and prints; the command line's checks, the inputs, the run's
 * files, log and plots are lib/metaopt_run.h's.
 */
#include <math.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "metaopt_run.h"
#include "outtext.h"

struct cmdline {
	rml_metaopt_args a;
	cli_common com;
	int argc;   /* of the run's options, kept in the checkpoint for --resume */
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

/* Entries with an id ask more of their value (rml_metaopt_args_option). */
#define F(f) offsetof(struct cmdline, a.f)
static const cli_opt options[] = {
	CLI_STR("model", 'm', F(model)), CLI_I64("adapters", 0, F(gamma), 1, 8, .id = 1),
	CLI_STR("data", 'd', F(data)), CLI_STR("val", 0, F(val)),
	CLI_STR("tasks", 0, F(tasks)), CLI_STR("pool", 0, F(pool)),
	CLI_STR("output", 'o', F(output)), CLI_STR("checkpoint", 0, F(checkpoint)),
	CLI_STR("resume", 0, F(resume)), CLI_I64("until", 0, F(until), 1, 1000000),
	CLI_STR("log", 0, F(log)), CLI_STR("plot", 0, F(plot)),
	CLI_INT("steps", 0, F(cfg.steps), 1, 10000), CLI_INT("batch", 0, F(cfg.batch), 1, 1024),
	CLI_F64("alpha", 0, F(cfg.alpha), 0, 1000), CLI_INT("val-size", 0, F(cfg.val_size), 1, 100000),
	CLI_F64("beta", 0, F(cfg.beta), 0, 1000), CLI_F64("sigma", 0, F(cfg.sigma), 0, 1000, .id = 2),
	CLI_INT("impl", 0, F(cfg.n_impl), 1, 1024),
	CLI_INT("iterations", 0, F(cfg.iterations), 0, 1000000),
	CLI_INT("patience", 0, F(cfg.patience), 1, 1000000),
	CLI_INT("heldout", 0, F(cfg.heldout), 1, 10000),
	CLI_INT("eval-every", 0, F(cfg.eval_every), 1, 1000000),
	CLI_FLAG("random-steps", 0, F(cfg.random_steps)),
	CLI_F64("p0", 0, F(cfg.p0), 0, 1, .id = 3), CLI_CALL("train-metric", 0, 4),
	CLI_FLAG("quick", 0, F(quick), .id = 5), CLI_FLAG("eval", 0, F(eval)),
	CLI_I64("repeat", 0, F(repeat), 1, 100000), CLI_SHARED_ALL, CLI_END,
};
#undef F

static int option(void *base, const cli_opt *e, const char *arg)
{
	struct cmdline *c = base;
	rml_error err = { 0 };
	if (rml_metaopt_args_option(&c->a, e->name, arg, &err))
		return cli_usage_error("%s", err.msg);
	return 0;
}

/* Parse argv into c (from its start: rml_metaopt_args_init); 0, or the
 * exit status to end with. */
static int parse_args(int argc, char **argv, struct cmdline *c)
{
	memset(c, 0, sizeof *c);
	rml_metaopt_args_init(&c->a);
	c->com.help = usage_text;
	const cli_parser p = { options, c, &c->com, option, NULL };
	int st = cli_parse_args(&p, argc, argv);
	if (st)
		return st;
	if ((st = cli_no_operands(argc, argv)) != 0)
		return st;
	if (c->com.seed_given)
		c->a.cfg.seed = (uint64_t)c->com.seed;
	c->argc = argc;
	return 0;
}

/* What the options ask together, then the outputs, before any work. */
static int check_args(struct cmdline *c)
{
	const rml_metaopt_args *a = &c->a;
	rml_error err = { 0 };
	if (rml_metaopt_args_check(&c->a, &err))
		return cli_usage_error("%s", err.msg);
	const char *outs[] = { a->eval ? "-" : a->output, a->checkpoint, a->log, a->plot };
	const char *opts[] = { a->eval ? "the report" : "-o", "--checkpoint", "--log", "--plot" };
	const char *ins[] = { a->model, a->data, a->val, a->tasks, a->pool };
	return cli_check_all_outputs(outs, opts, 4, !a->eval, ins, 5);
}

/* --resume: the run's options come from the checkpoint (loaded into
 * ckpt), with -j and --until from the command line. *stored receives the
 * stored argv (free it; its strings belong to ckpt). Returns 0, -1 when
 * the stored options asked for help, or an exit status after printing
 * the problem. */
static int resume_args(struct cmdline *c, rml_file *ckpt, char ***stored)
{
	rml_error err = { 0 };
	const char *resume = c->a.resume;
	int64_t until = c->a.until, threads = c->com.threads;
	int n_stored, usage, status;
	if (rml_metaopt_resume_load(&c->a, ckpt, stored, &n_stored, &usage, cli_load, &err))
		return usage ? cli_usage_error("%s", err.msg) : cli_fail(&err);
	if ((status = parse_args(n_stored, *stored, c))) {
		free(*stored);
		*stored = NULL;
		rml_file_free(ckpt);
		return status < 0 ? -1 : CLI_EXIT_FAIL;
	}
	c->a.resume = resume;
	c->a.until = until;
	if (threads)
		c->com.threads = threads;
	return 0;
}

/* The output: the model as given with the best omega, and the summary. */
static int write_result(const struct cmdline *c, const rml_model *m, rml_metaopt *mo, rml_error *err)
{
	rml_outbuf o;
	rml_outbuf_init(&o);
	int st = rml_metaopt_result_write(mo, m, c->a.output, (int64_t)c->a.cfg.seed, cli_save, c->com.json,
					  &o, err) ? -1 : 0;
	if (!st && c->com.json)
		fputs(rml_out_str(&o), strcmp(c->a.output, "-") ? stdout : stderr);
	else if (!st && cli_verbosity)
		cli_msg("%s", rml_out_str(&o));
	rml_outbuf_free(&o);
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
static int run_opt(const struct cmdline *c, rml_metaopt_inputs *in, const rml_file *ckpt, int argc,
		   char **argv, rml_error *err)
{
	const rml_metaopt_args *a = &c->a;
	char ckpt_path[4096] = "";
	if (a->checkpoint)
		snprintf(ckpt_path, sizeof ckpt_path, "%s", a->checkpoint);
	else if (strcmp(a->output, "-") != 0)
		snprintf(ckpt_path, sizeof ckpt_path, "%s.ckpt", a->output);
	rml_metaopt *mo = NULL;
	FILE *log = NULL;
	int status = CLI_EXIT_FAIL;
	double *rmean = calloc((size_t)a->cfg.iterations + 1, sizeof *rmean);
	double *held = calloc((size_t)a->cfg.iterations + 1, sizeof *held);
	if (!rmean || !held) {
		rml_errorf(err, RML_ERR_NOMEM, "out of memory");
		goto done;
	}
	for (int64_t i = 0; i <= a->cfg.iterations; i++)
		rmean[i] = held[i] = NAN;
	if (rml_metaopt_init(&mo, in->m, &a->cfg, &in->pool, &in->md, (int)c->com.threads, err) ||
	    (a->resume && rml_metaopt_restore(mo, ckpt, err)) ||
	    (a->log && !(log = rml_metaopt_log_open(a->log, rml_metaopt_iteration(mo), rmean, held, err))))
		goto done;
	double p0, before, best;
	int64_t best_it;
	rml_metaopt_summary(mo, &p0, &before, &best, &best_it);
	cli_info("P0 %.4f, held-out R of the model as given %.4f", p0, before);
	cli_catch_stop(&interrupted);
	const rml_metaopt_loop loop = { log, ckpt_path, in->m, argc, argv, a->until, stopped, after,
					(void *)&a->cfg };
	if (rml_metaopt_run_loop(mo, &loop, rmean, held, err))
		goto done;
	cli_progress("metaopt", a->cfg.iterations, a->cfg.iterations);
	if (!rml_metaopt_done(mo)) {
		if (cli_verbosity || interrupted)
			cli_msg("stopped after iteration %lld%s%s", (long long)rml_metaopt_iteration(mo),
			ckpt_path[0] ? "; resume with --resume " : "; no checkpoint (see --checkpoint)",
			ckpt_path);
		status = interrupted ? 128 + interrupted : CLI_EXIT_OK;
	} else if (!(a->plot && rml_metaopt_plot_run(a->plot, rmean, held, rml_metaopt_iteration(mo), err)) &&
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
	struct cmdline c;
	int status = parse_args(argc, argv, &c);
	if (status)
		return status < 0 ? status + 1 : status;
	rml_error err = { 0 };
	rml_file ckpt;
	rml_file_init(&ckpt);
	char **stored = NULL;
	if (c.a.resume && (status = resume_args(&c, &ckpt, &stored)) != 0)
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
	rml_metaopt_inputs in;
	rml_metaopt_inputs_init(&in);
	if (rml_metaopt_inputs_load(&in, &c.a, &ckpt, cli_load, &err))
		status = CLI_EXIT_FAIL;
	else if (c.a.eval)
		status = rml_metaopt_eval_run(in.m, &c.a.cfg, &in.pool, &in.md, (int)(c.a.repeat ? c.a.repeat : 20),
					      (int)c.com.threads, stdout, c.com.json, c.a.plot, &err)
				 ? CLI_EXIT_FAIL : CLI_EXIT_OK;
	else
		status = run_opt(&c, &in, &ckpt, argc, argv, &err);
	if (status == CLI_EXIT_FAIL && err.code)
		cli_fail(&err);
	rml_metaopt_inputs_free(&in);
	rml_file_free(&ckpt);
	free(stored);
	return cli_finish(status);
}
