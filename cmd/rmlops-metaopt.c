/*
 * rmlops-metaopt — post-hoc resilience optimisation: meta-learn a model's
 * meta-adapters (omega) with evolution strategies so that its adapters
 * recover quickly from disturbances (lib/metaopt.h), or, with --eval,
 * measure the integral resilience criterion of any model on held-out
 * disturbance implementations. This file parses options, reads and writes
 * files, logs and plots.
 */
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "canvas.h"
#include "cli.h"
#include "dataset.h"
#include "metaopt.h"
#include "metrics.h"
#include "classes.h"
#include "model.h"

struct cmdline {
	const char *model, *data, *val, *tasks, *pool, *output, *checkpoint, *resume, *log, *plot;
	rml_metaopt_config cfg;
	cli_common com;
	int64_t gamma, until, repeat;
	int eval, quick;
	char **argv;   /* the run's options, kept in the checkpoint for --resume */
	int argc;
};

static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
	if (interrupted) {
		signal(sig, SIG_DFL);
		raise(sig);
		return;
	}
	interrupted = sig;
}

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

enum {
	O_ADAPTERS = 256, O_VAL, O_TASKS, O_POOL, O_CKPT, O_RESUME, O_UNTIL, O_LOG, O_PLOT, O_STEPS,
	O_BATCH, O_ALPHA, O_VALSIZE, O_BETA, O_SIGMA, O_IMPL, O_ITERS, O_PATIENCE, O_HELDOUT,
	O_EVERY, O_RANDOM, O_P0, O_METRIC, O_QUICK, O_EVAL, O_REPEAT,
};

static const struct option long_opts[] = {
	{ "model", required_argument, 0, 'm' }, { "adapters", required_argument, 0, O_ADAPTERS },
	{ "data", required_argument, 0, 'd' }, { "val", required_argument, 0, O_VAL },
	{ "tasks", required_argument, 0, O_TASKS }, { "pool", required_argument, 0, O_POOL },
	{ "output", required_argument, 0, 'o' }, { "checkpoint", required_argument, 0, O_CKPT },
	{ "resume", required_argument, 0, O_RESUME }, { "until", required_argument, 0, O_UNTIL },
	{ "log", required_argument, 0, O_LOG }, { "plot", required_argument, 0, O_PLOT },
	{ "steps", required_argument, 0, O_STEPS }, { "batch", required_argument, 0, O_BATCH },
	{ "alpha", required_argument, 0, O_ALPHA }, { "val-size", required_argument, 0, O_VALSIZE },
	{ "beta", required_argument, 0, O_BETA }, { "sigma", required_argument, 0, O_SIGMA },
	{ "impl", required_argument, 0, O_IMPL }, { "iterations", required_argument, 0, O_ITERS },
	{ "patience", required_argument, 0, O_PATIENCE }, { "heldout", required_argument, 0, O_HELDOUT },
	{ "eval-every", required_argument, 0, O_EVERY }, { "random-steps", no_argument, 0, O_RANDOM },
	{ "p0", required_argument, 0, O_P0 }, { "train-metric", required_argument, 0, O_METRIC }, { "quick", no_argument, 0, O_QUICK },
	{ "eval", no_argument, 0, O_EVAL }, { "repeat", required_argument, 0, O_REPEAT },
	CLI_OPTS_ALL, { 0, 0, 0, 0 },
};

/* Parse argv into c; 0, or the exit status to end with. */
static int parse_args(int argc, char **argv, struct cmdline *c)
{
	int64_t v;
	double f;
	optind = 1;
	c->com.help = usage_text;
	for (int o; (o = getopt_long(argc, argv, "m:d:o:" CLI_SHORT_ALL, long_opts, NULL)) != -1;) {
		int bad = cli_option(o, optarg, &c->com, NULL, NULL, NULL);
		if (bad != CLI_OPT_OTHER) {
			if (bad)
				return bad;
			continue;
		}
		bad = 0;
		switch (o) {
		case 'm': c->model = optarg; break;
		case 'd': c->data = optarg; break;
		case 'o': c->output = optarg; break;
		case O_ADAPTERS:
			bad = cli_parse_i64("--adapters", optarg, 1, 8, &c->gamma);
			if (!bad && (c->gamma & (c->gamma - 1)))
				return cli_usage_error("--adapters takes 1, 2, 4 or 8");
			break;
		case O_VAL: c->val = optarg; break;
		case O_TASKS: c->tasks = optarg; break;
		case O_POOL: c->pool = optarg; break;
		case O_CKPT: c->checkpoint = optarg; break;
		case O_RESUME: c->resume = optarg; break;
		case O_UNTIL: bad = cli_parse_i64("--until", optarg, 1, 1000000, &c->until); break;
		case O_LOG: c->log = optarg; break;
		case O_PLOT: c->plot = optarg; break;
		case O_STEPS: bad = cli_parse_i64("--steps", optarg, 1, 10000, &v); c->cfg.steps = (int)v; break;
		case O_BATCH: bad = cli_parse_i64("--batch", optarg, 1, 1024, &v); c->cfg.batch = (int)v; break;
		case O_ALPHA: bad = cli_parse_f64("--alpha", optarg, 0, 1000, &c->cfg.alpha); break;
		case O_VALSIZE: bad = cli_parse_i64("--val-size", optarg, 1, 100000, &v); c->cfg.val_size = (int)v; break;
		case O_BETA: bad = cli_parse_f64("--beta", optarg, 0, 1000, &c->cfg.beta); break;
		case O_SIGMA:
			bad = cli_parse_f64("--sigma", optarg, 0, 1000, &c->cfg.sigma);
			if (!bad && !(c->cfg.sigma > 0))
				return cli_usage_error("--sigma must be greater than 0");
			break;
		case O_IMPL: bad = cli_parse_i64("--impl", optarg, 1, 1024, &v); c->cfg.n_impl = (int)v; break;
		case O_ITERS: bad = cli_parse_i64("--iterations", optarg, 0, 1000000, &v); c->cfg.iterations = (int)v; break;
		case O_PATIENCE: bad = cli_parse_i64("--patience", optarg, 1, 1000000, &v); c->cfg.patience = (int)v; break;
		case O_HELDOUT: bad = cli_parse_i64("--heldout", optarg, 1, 10000, &v); c->cfg.heldout = (int)v; break;
		case O_EVERY: bad = cli_parse_i64("--eval-every", optarg, 1, 1000000, &v); c->cfg.eval_every = (int)v; break;
		case O_RANDOM: c->cfg.random_steps = 1; break;
		case O_P0:
			bad = cli_parse_f64("--p0", optarg, 0, 1, &f);
			if (!bad && !(f > 0))
				return cli_usage_error("--p0 must be in (0, 1]");
			c->cfg.p0 = f;
			break;
		case O_METRIC:
			if (strcmp(optarg, "prob") == 0)
				c->cfg.train_metric = RML_METAOPT_PROB;
			else if (strcmp(optarg, "acc") == 0)
				c->cfg.train_metric = RML_METAOPT_ACCURACY;
			else
				return cli_usage_error("--train-metric takes prob or acc");
			break;
		case O_QUICK:
			c->quick = 1;
			c->cfg.steps = 10;
			c->cfg.val_size = 50;
			c->cfg.n_impl = 1;
			c->cfg.iterations = 6;
			c->cfg.heldout = 1;
			c->cfg.eval_every = 2;
			c->repeat = 4;
			break;
		case O_EVAL: c->eval = 1; break;
		case O_REPEAT: bad = cli_parse_i64("--repeat", optarg, 1, 100000, &c->repeat); break;
		default: return CLI_EXIT_USAGE;
		}
		if (bad)
			return CLI_EXIT_USAGE;
	}
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

/* The pool: a YAML file when the argument names a readable file, else a
 * comma list of types. */
static rml_status load_pool(const struct cmdline *c, rml_dist_pool *pool, rml_error *err)
{
	if (!c->pool)
		return rml_dist_pool_parse_list(pool, c->tasks ? "fgsm,fault,task" : "fgsm,fault", err);
	FILE *fp = fopen(c->pool, "r");
	if (!fp)
		return rml_dist_pool_parse_list(pool, c->pool, err);
	char *text = NULL;
	size_t len = 0;
	FILE *mem = open_memstream(&text, &len);
	char buf[4096];
	size_t n;
	while (mem && (n = fread(buf, 1, sizeof buf, fp)) > 0 && len < (1u << 20))
		fwrite(buf, 1, n, mem);
	fclose(fp);
	if (mem)
		fclose(mem);
	if (!text)
		return rml_errorf(err, RML_ERR_NOMEM, "out of memory");
	rml_status st = strlen(text) != len ? rml_errorf(err, RML_ERR_FORMAT, "%s: NUL byte", c->pool)
					    : rml_dist_pool_parse_yaml(pool, text, c->pool, err);
	free(text);
	return st;
}

static rml_status load_dataset(const char *path, const char *role, rml_dataset *d, rml_error *err)
{
	rml_file f;
	rml_file_init(&f);
	rml_status st = cli_load(&f, path, role, err);
	if (!st)
		st = rml_dataset_from_file(d, &f, err);
	rml_file_free(&f);
	return st;
}

/* Keep the first `keep` lines of an existing log (a resumed run), then
 * append. */
static FILE *open_log(const char *path, int64_t keep, double *rmean, double *held, rml_error *err)
{
	char *kept = NULL;
	size_t len = 0;
	FILE *fp = keep > 0 ? fopen(path, "r") : NULL;
	if (fp) {
		FILE *mem = open_memstream(&kept, &len);
		char line[2048];
		for (int64_t i = 0; mem && i < keep && fgets(line, sizeof line, fp); i++) {
			fputs(line, mem);
			char *p = strstr(line, "\"r_mean\":"), *q = strstr(line, "\"heldout\":");
			rmean[i] = p ? strtod(p + 9, NULL) : NAN;
			held[i] = q && q[10] != 'n' ? strtod(q + 10, NULL) : NAN;
		}
		fclose(fp);
		if (mem)
			fclose(mem);
	}
	fp = fopen(path, "w");
	if (fp && kept)
		fwrite(kept, 1, len, fp);
	free(kept);
	if (!fp)
		rml_errorf(err, RML_ERR_IO, "cannot write %s", path);
	return fp;
}

static void num(FILE *fp, const char *key, double v)
{
	if (isfinite(v))
		fprintf(fp, ",\"%s\":%.6f", key, v);
	else
		fprintf(fp, ",\"%s\":null", key);
}

static rml_status plot_run(const char *path, const double *rmean, const double *held, int64_t n,
			   rml_error *err)
{
	double *x = malloc((size_t)(n + 1) * sizeof *x), *hx = malloc((size_t)(n + 1) * sizeof *hx),
	       *hy = malloc((size_t)(n + 1) * sizeof *hy);
	if (!x || !hx || !hy) {
		free(x);
		free(hx);
		free(hy);
		return rml_errorf(err, RML_ERR_NOMEM, "out of memory");
	}
	int nh = 0;
	double lo = INFINITY, hi = -INFINITY;
	for (int64_t i = 0; i < n; i++) {
		x[i] = (double)i + 1;
		if (isfinite(rmean[i])) {
			lo = fmin(lo, rmean[i]);
			hi = fmax(hi, rmean[i]);
		}
		if (isfinite(held[i])) {
			hx[nh] = (double)i + 1;
			hy[nh++] = held[i];
			lo = fmin(lo, held[i]);
			hi = fmax(hi, held[i]);
		}
	}
	if (!(lo < hi)) {
		lo = isfinite(lo) ? lo - 0.05 : 0;
		hi = lo + 0.1;
	}
	rml_series s[2] = {
		{ "R, training", x, rmean, (int)n, 0x4878d0, 0 },
		{ "R, held-out", hx, hy, nh, 0xd04848, 0 },
	};
	rml_status st = rml_plot_png(path, "Resilience criterion over the outer iterations",
				     "iteration", "R", s, 2, 0, (double)n + 1, lo - 0.02, hi + 0.02, err);
	free(x);
	free(hx);
	free(hy);
	return st;
}

static int run_eval(struct cmdline *c, rml_model *m, const rml_dist_pool *pool,
		    const rml_metaopt_data *data)
{
	rml_error err;
	int n_per = (int)(c->repeat ? c->repeat : 20), T = c->cfg.steps;
	int n = pool->n * n_per;
	double *r = malloc((size_t)n * sizeof *r), *curves = malloc((size_t)n * (T + 1) * sizeof *curves);
	double p0 = NAN;
	int status = CLI_EXIT_FAIL;
	if (!r || !curves) {
		cli_msg("out of memory");
		goto done;
	}
	if (rml_metaopt_evaluate(m, &c->cfg, pool, data, n_per, (int)c->com.threads, r, curves, &p0, &err)) {
		status = cli_fail(&err);
		goto done;
	}
	/* Per pool entry and overall: mean, sd, Student-t 95% interval. */
	double all = 0, all2 = 0;
	if (c->com.json)
		printf("{\"p0\":%.6f,\"steps\":%d,\"by_disturbance\":[", p0, T);
	else
		printf("P0 %.4f (undisturbed accuracy on the held-out images), T %d\n"
		       "%-3s %-6s %6s %8s %19s %10s %10s\n", p0, T, "#", "type", "n", "R", "95% CI",
		       "acc t=0", "acc t=T");
	for (int e = 0; e < pool->n; e++) {
		double s = 0, s2 = 0, a0 = 0, aT = 0;
		for (int i = 0; i < n_per; i++) {
			double v = r[e * n_per + i];
			s += v;
			s2 += v * v;
			a0 += curves[(int64_t)(e * n_per + i) * (T + 1)];
			aT += curves[(int64_t)(e * n_per + i) * (T + 1) + T];
		}
		all += s;
		all2 += s2;
		double mean = s / n_per, sd = n_per > 1 ? sqrt(fmax(0, (s2 - s * mean) / (n_per - 1))) : 0;
		double h = n_per > 1 ? rml_student_t975(n_per - 1) * sd / sqrt(n_per) : 0;
		if (c->com.json) {
			printf("%s{\"type\":\"%s\",\"resilience\":{\"mean\":%.6f,\"sd\":%.6f,"
			       "\"ci95\":[%.6f,%.6f],\"n_rep\":%d},\"acc_before\":%.6f,\"acc_after\":%.6f,"
			       "\"r\":[",
			       e ? "," : "", rml_dist_kind_name(pool->d[e].kind), mean, sd, mean - h,
			       mean + h, n_per, a0 / n_per, aT / n_per);
			/* Each implementation's R, for paired comparisons of models
			 * evaluated with the same seed. */
			for (int i = 0; i < n_per; i++)
				printf("%s%.6f", i ? "," : "", r[e * n_per + i]);
			printf("]}");
		} else
			printf("%-3d %-6s %6d %8.4f    [%.4f, %.4f] %10.4f %10.4f\n", e + 1,
			       rml_dist_kind_name(pool->d[e].kind), n_per, mean, mean - h, mean + h,
			       a0 / n_per, aT / n_per);
	}
	double mean = all / n, sd = n > 1 ? sqrt(fmax(0, (all2 - all * mean) / (n - 1))) : 0;
	double h = n > 1 ? rml_student_t975(n - 1) * sd / sqrt(n) : 0;
	if (c->com.json)
		printf("],\"resilience\":{\"mean\":%.6f,\"sd\":%.6f,\"ci95\":[%.6f,%.6f],\"n_rep\":%d}}\n",
		       mean, sd, mean - h, mean + h, n);
	else
		printf("%-3s %-6s %6d %8.4f    [%.4f, %.4f]\n", "", "all", n, mean, mean - h, mean + h);
	if (c->plot) {
		/* The mean resilience curve P_t / P0 of each pool entry. */
		rml_series s[RML_DIST_MAX];
		double *xs = malloc((size_t)(T + 1) * sizeof *xs);
		double *ys = malloc((size_t)pool->n * (T + 1) * sizeof *ys);
		char names[RML_DIST_MAX][32];
		static const uint32_t colours[] = { 0x4878d0, 0xd04848, 0x48a048, 0x9050b0, 0xc08020 };
		if (!xs || !ys) {
			free(xs);
			free(ys);
			cli_msg("out of memory");
			goto done;
		}
		for (int t = 0; t <= T; t++)
			xs[t] = t;
		for (int e = 0; e < pool->n; e++) {
			for (int t = 0; t <= T; t++) {
				double a = 0;
				for (int i = 0; i < n_per; i++)
					a += curves[(int64_t)(e * n_per + i) * (T + 1) + t];
				ys[e * (T + 1) + t] = a / n_per / p0;
			}
			snprintf(names[e], sizeof names[e], "%d %s", e + 1, rml_dist_kind_name(pool->d[e].kind));
			s[e] = (rml_series){ names[e], xs, ys + e * (T + 1), T + 1, colours[e % 5], 0 };
		}
		rml_status st = rml_plot_png(c->plot, "Resilience curves: accuracy / P0 while adapting",
					     "SGD step", "P_t / P0", s, pool->n, 0, T, 0, 1.1, &err);
		free(xs);
		free(ys);
		if (st) {
			status = cli_fail(&err);
			goto done;
		}
	}
	status = CLI_EXIT_OK;
done:
	free(r);
	free(curves);
	return status;
}

/* The options of a run, as stored in its checkpoint: everything but
 * --resume, --until, -j and the verbosity. */
static rml_status store_args(rml_file *f, int argc, char **argv, rml_error *err)
{
	if (rml_set_str_array(f, "metaopt.argv", (const char *const *)argv, argc))
		return rml_errorf(err, RML_ERR_NOMEM, "out of memory");
	return RML_OK;
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
	if (rml_file_load(ckpt, resume, &err))
		return cli_fail(&err);
	const rml_kv *kv = rml_get(ckpt, "metaopt.argv");
	if (!kv || kv->type != RML_KV_STR_ARRAY || kv->n < 1 || kv->n > 1000) {
		rml_file_free(ckpt);
		cli_msg("%s: not a metaopt checkpoint", resume);
		return CLI_EXIT_FAIL;
	}
	int64_t n_stored = kv->n;
	char **stored = calloc((size_t)n_stored + 1, sizeof *stored);
	for (int64_t i = 0; stored && i < n_stored; i++)
		stored[i] = kv->sa[i];
	memset(c, 0, sizeof *c);
	rml_metaopt_config_default(&c->cfg);
	int status = 0;
	if (!stored || (status = parse_args((int)n_stored, stored, c))) {
		free(stored);
		rml_file_free(ckpt);
		return status < 0 ? -1 : CLI_EXIT_FAIL;
	}
	c->resume = resume;
	c->until = until;
	if (threads)
		c->com.threads = threads;
	c->argc = (int)n_stored;
	*stored_out = stored;
	return 0;
}

/* One JSON line of the run's log. */
static void log_record(FILE *log, const rml_metaopt_record *rec)
{
	fprintf(log, "{\"iteration\":%lld,\"type\":\"%s\"", (long long)rec->iteration,
		rml_dist_kind_name(rec->kind));
	num(log, "r_plus", rec->r_plus);
	num(log, "r_minus", rec->r_minus);
	num(log, "r_mean", rec->r_mean);
	num(log, "heldout", rec->heldout);
	num(log, "grad_norm", rec->grad_norm);
	num(log, "step_norm", rec->step_norm);
	num(log, "seconds", rec->seconds);
	fprintf(log, ",\"best\":%s}\n", rec->best ? "true" : "false");
	fflush(log);
}

/* The output: the model as given with the best omega, and the summary. */
static int write_result(const struct cmdline *c, const rml_model *m, rml_metaopt *mo, rml_error *err)
{
	double p0, before, best;
	int64_t best_it;
	rml_metaopt_summary(mo, &p0, &before, &best, &best_it);
	rml_model *out_m = NULL;
	rml_file f;
	rml_file_init(&f);
	int rc = -1;
	if (rml_model_to_file(m, &f, err) || rml_model_from_file(&out_m, &f, err) ||
	    rml_metaopt_result(mo, out_m, err))
		goto out;
	rml_file_free(&f);
	if (rml_model_to_file(out_m, &f, err) ||
	    rml_set_i64(&f, "metaopt.iterations", rml_metaopt_iteration(mo)) ||
	    rml_set_f64(&f, "metaopt.p0", p0) || rml_set_f64(&f, "metaopt.heldout_before", before) ||
	    rml_set_f64(&f, "metaopt.heldout_after", best) ||
	    cli_save(&f, c->output, (int64_t)c->cfg.seed, err))
		goto out;
	if (c->com.json)
		fprintf(strcmp(c->output, "-") ? stdout : stderr,
			"{\"iterations\":%lld,\"p0\":%.6f,\"heldout_before\":%.6f,\"heldout_after\":%.6f,"
			"\"best_iteration\":%lld}\n",
			(long long)rml_metaopt_iteration(mo), p0, before, best, (long long)best_it);
	else if (cli_verbosity)
		cli_msg("%lld iterations; held-out R %.4f -> %.4f (best after iteration %lld)",
			(long long)rml_metaopt_iteration(mo), before, best, (long long)best_it);
	rc = 0;
out:
	rml_model_free(out_m);
	rml_file_free(&f);
	return rc;
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
	rml_file ckpt, f;
	rml_file_init(&ckpt);
	rml_file_init(&f);
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
	status = CLI_EXIT_FAIL;
	rml_model *m = NULL;
	rml_dataset data, val;
	rml_dataset_init(&data);
	rml_dataset_init(&val);
	rml_file tasks;
	rml_file_init(&tasks);
	rml_metaopt *mo = NULL;
	FILE *log = NULL;
	double *rmean = NULL, *held = NULL;
	rml_dist_pool pool;
	char ckpt_path[4096];
	if (load_pool(&c, &pool, &err))
		goto done;
	/* The model: from the checkpoint when resuming (it holds the model as
	 * given to the run), else from -m. */
	if (c.resume) {
		if (rml_model_from_file(&m, &ckpt, &err))
			goto done;
	} else {
		if (cli_load(&f, c.model, "model", &err) || rml_expect_kind(&f, "model", c.model, &err) ||
		    rml_model_from_file(&m, &f, &err))
			goto done;
		rml_file_free(&f);
		if (c.gamma && !rml_model_has_adapters(m) &&
		    rml_model_add_adapters(m, (int)c.gamma, c.cfg.seed, &err))
			goto done;
	}
	if (c.data && (load_dataset(c.data, "data", &data, &err) ||
		       rml_dataset_fit_model(&data, m, 1, c.data, &err)))
		goto done;
	if (load_dataset(c.val, "val", &val, &err) || rml_dataset_fit_model(&val, m, 1, c.val, &err))
		goto done;
	if (c.tasks && (cli_load(&tasks, c.tasks, "tasks", &err) ||
			rml_expect_kind(&tasks, "dataset", c.tasks, &err)))
		goto done;
	rml_metaopt_data md = { c.data ? &data : NULL, &val, c.tasks ? &tasks : NULL };
	if (c.eval) {
		status = run_eval(&c, m, &pool, &md);
		goto done;
	}
	if (c.checkpoint)
		snprintf(ckpt_path, sizeof ckpt_path, "%s", c.checkpoint);
	else if (strcmp(c.output, "-") != 0)
		snprintf(ckpt_path, sizeof ckpt_path, "%s.ckpt", c.output);
	else
		ckpt_path[0] = 0;
	if (rml_metaopt_init(&mo, m, &c.cfg, &pool, &md, (int)c.com.threads, &err))
		goto done;
	if (c.resume && rml_metaopt_restore(mo, &ckpt, &err))
		goto done;
	rmean = calloc((size_t)c.cfg.iterations + 1, sizeof *rmean);
	held = calloc((size_t)c.cfg.iterations + 1, sizeof *held);
	if (!rmean || !held) {
		cli_msg("out of memory");
		goto done;
	}
	int64_t it0 = rml_metaopt_iteration(mo);
	for (int64_t i = 0; i <= c.cfg.iterations; i++)
		rmean[i] = held[i] = NAN;
	if (c.log && !(log = open_log(c.log, it0, rmean, held, &err)))
		goto done;
	double p0, before, best;
	int64_t best_it;
	rml_metaopt_summary(mo, &p0, &before, &best, &best_it);
	cli_info("P0 %.4f, held-out R of the model as given %.4f", p0, before);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	while (!rml_metaopt_done(mo) && !interrupted && !(c.until && rml_metaopt_iteration(mo) >= c.until)) {
		rml_metaopt_record rec;
		if (rml_metaopt_step(mo, &rec, &err))
			goto done;
		rmean[rec.iteration] = rec.r_mean;
		held[rec.iteration] = rec.heldout;
		if (log)
			log_record(log, &rec);
		if (cli_verbosity >= 2)
			cli_info("iteration %lld %s R+ %.4f R- %.4f held-out %.4f (%.1f s)",
				 (long long)rec.iteration, rml_dist_kind_name(rec.kind), rec.r_plus,
				 rec.r_minus, rec.heldout, rec.seconds);
		cli_progress("metaopt", rml_metaopt_iteration(mo), c.cfg.iterations);
		if (ckpt_path[0]) {
			/* The model as given, the run's options and its state. */
			rml_file_free(&f);
			if (rml_model_to_file(m, &f, &err) || store_args(&f, argc, argv, &err) ||
			    rml_metaopt_save(mo, &f, &err) || rml_file_save(&f, ckpt_path, &err))
				goto done;
		}
	}
	cli_progress("metaopt", c.cfg.iterations, c.cfg.iterations);
	if (!rml_metaopt_done(mo)) {
		if (cli_verbosity || interrupted)
			cli_msg("stopped after iteration %lld%s%s", (long long)rml_metaopt_iteration(mo),
			ckpt_path[0] ? "; resume with --resume " : "; no checkpoint (see --checkpoint)",
			ckpt_path);
		status = interrupted ? 128 + interrupted : CLI_EXIT_OK;
		goto done;
	}
	if ((c.plot && plot_run(c.plot, rmean, held, rml_metaopt_iteration(mo), &err)) ||
	    write_result(&c, m, mo, &err))
		goto done;
	status = CLI_EXIT_OK;
done:
	if (status == CLI_EXIT_FAIL && err.code)
		cli_fail(&err);
	if (log)
		fclose(log);
	free(rmean);
	free(held);
	rml_metaopt_free(mo);
	rml_model_free(m);
	rml_dataset_free(&data);
	rml_dataset_free(&val);
	rml_file_free(&tasks);
	rml_file_free(&f);
	rml_file_free(&ckpt);
	free(stored);
	return cli_finish(status);
}
