/*
 * rmlops-monitor — watch a deployed model: rolling windows over a stream
 * of predictions files (or of datasets run through a model), Prometheus
 * metrics for node_exporter's textfile collector, alerts as JSON lines and
 * exit status, a PNG dashboard; and the rare co-activation statistics
 * behind its drift score (fit, score, auroc). Windows and metrics are
 * lib/monitor.c, the watching loop lib/monitor_watch.c, the
 * co-activations lib/coact.c.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "calib_model.h"
#include "cli.h"
#include "coact.h"
#include "metrics.h"
#include "model.h"
#include "monitor.h"
#include "monitor_watch.h"
#include "outbuf.h"

/* Exit status when a window crossed an alert threshold. */
enum { EXIT_ALERT = 3 };

struct cmdline {
	const cli_subcommand *cmd;
	const char *model, *data, *output, *ood, *ood_model;
	const char *textfile, *plot, *stage;
	int64_t window, step, batch;
	double quantile, rare;
	int n_alerts;
	rml_alert_kind alert[16];
	double alert_thr[16];
	cli_common com;
	char **files;
	int n_files;
};

static const char help[] =
	"Usage: rmlops-monitor [OPTIONS] [FILE...]        watch a stream\n"
	"       rmlops-monitor fit -m MODEL -d DATA [-o OUTPUT] [--quantile Q] [--rare R]\n"
	"       rmlops-monitor score -m MODEL -d DATA\n"
	"       rmlops-monitor auroc -m MODEL -d DATA --ood DATA [--ood-model MODEL] [--json]\n"
	"Watch a deployed model's inputs window by window; fit and use the rare\n"
	"co-activation statistics behind its drift score.\n"
	"\n"
	"Watching (FILEs are predictions files, or datasets run through -m MODEL;\n"
	"a FILE may hold several files one after another; default: standard input):\n"
	"  -m, --model FILE         run datasets through this model (its calibrator,\n"
	"                           rejection rule and co-activation statistics)\n"
	"      --window N           inputs per window (default 500)\n"
	"      --step N             inputs between windows (default: the window)\n"
	"      --textfile PATH      the last window's metrics in the Prometheus text\n"
	"                           format, replaced atomically after every window\n"
	"      --stage NAME         the stage label of the metrics (default production)\n"
	"      --alert NAME=VALUE   alert when a window's value crosses VALUE: entropy,\n"
	"                           reject_rate, coact_score, coact_rare_rate (above),\n"
	"                           accuracy (below); repeatable\n"
	"      --plot PNG           a dashboard of the windows at the end\n"
	"Fitting and scoring co-activations:\n"
	"  -d, --data FILE          in-distribution data (fit), data to score\n"
	"  -o, --output FILE        the model with its statistics (fit; default stdout)\n"
	"      --quantile Q         a unit is active above this quantile of its\n"
	"                           in-distribution values (default 0.9)\n"
	"      --rare R             a pair is rare when active together on at most\n"
	"                           this share of the in-distribution data (default 0.002)\n"
	"      --ood FILE           out-of-distribution data (auroc)\n"
	"      --ood-model FILE     run --ood through this model instead (a faulty copy)\n"
	"Common:\n"
	"      --batch N            batch size of the model (default 100)\n"
	"  -j, --threads N          worker threads (default: all cores)\n"
	"      --json               auroc: one JSON object\n"
	"  -q, --quiet              no messages;  -v, --verbose  more\n"
	"  -h, --help               this help;  -V, --version  the version\n"
	"\n"
	"Exit status: 0 fine, 1 failure, 2 usage, 3 a window crossed an alert threshold.\n"
	"Example: rmlops-monitor -m deployed.rml --window 200 --textfile /var/lib/node_exporter/rmlops.prom \\\n"
	"           --alert coact_rare_rate=0.4 batch-*.rml\n";

/* The commands named by the first argument; without one, watching. They
 * print their messages where they arise and return the exit status (3
 * when a window crossed an alert threshold). */
static int cmd_fit(void *ctx), cmd_score(void *ctx), cmd_watch(void *ctx);
static const cli_subcommand commands[] = {
	{ "fit", "", cmd_fit, "fit co-activation statistics on in-distribution data" },
	{ "score", "", cmd_score, "the co-activation score of every image, with entropy and confidence" },
	{ "auroc", "", cmd_score, "how well each signal tells DATA from --ood data" },
	{ NULL, NULL, NULL, NULL },
};
static const cli_subcommand watching = { "watch", "[FILE...]", cmd_watch, "watch a stream of inputs" };

#define F(f) offsetof(struct cmdline, f)
enum { O_ALERT = 1 };
static const cli_opt options[] = {
	CLI_STR("model", 'm', F(model)),
	CLI_STR("data", 'd', F(data)),
	CLI_STR("output", 'o', F(output)),
	CLI_SHARED_THREADS,
	CLI_I64("window", 0, F(window), 1, 10000000),
	CLI_I64("step", 0, F(step), 1, 10000000),
	CLI_STR("textfile", 0, F(textfile)),
	CLI_STR("stage", 0, F(stage)),
	CLI_CALL("alert", 0, O_ALERT),
	CLI_STR("plot", 0, F(plot)),
	CLI_F64("quantile", 0, F(quantile), 0.001, 0.999),
	CLI_F64("rare", 0, F(rare), 0, 0.999),
	CLI_STR("ood", 0, F(ood)),
	CLI_STR("ood-model", 0, F(ood_model)),
	CLI_I64("batch", 0, F(batch), 1, 65536),
	CLI_SHARED_JSON,
	CLI_SHARED_BASE,
	CLI_END,
};
#undef F

/* --alert NAME=VALUE, repeatable. */
static int option(void *base, const cli_opt *e, const char *arg)
{
	struct cmdline *c = base;
	rml_error err = { 0 };
	if (c->n_alerts == 16)
		return cli_usage_error("at most 16 --alert");
	if (rml_alert_parse(arg, &c->alert[c->n_alerts], &c->alert_thr[c->n_alerts], &err))
		return cli_usage_error("%s", err.msg);
	c->n_alerts++;
	return 0;
}

static int parse_args(int argc, char **argv, struct cmdline *c)
{
	/* A command is the first argument; without one, watching. */
	const cli_subcommand *named = argc > 1 ? cli_subcommand_find(commands, argv[1]) : NULL;
	if (named) {
		c->cmd = named;
		argv++;
		argc--;
	}
	const cli_parser p = { options, c, &c->com, option, NULL };
	int st = cli_parse_args(&p, argc, argv);
	if (st)
		return st;
	c->files = argv + optind;
	c->n_files = argc - optind;
	const char *cmd = c->cmd->name;
	int watch = c->cmd == &watching;
	if (!watch && c->n_files)
		return cli_usage_error("unexpected argument '%s'", c->files[0]);
	if (!watch && (!c->model || !c->data))
		return cli_usage_error("%s needs -m MODEL and -d DATA", cmd);
	if (strcmp(cmd, "auroc") == 0 && !c->ood)
		return cli_usage_error("auroc needs --ood DATA");
	if (strcmp(cmd, "auroc") != 0 && (c->ood || c->ood_model))
		return cli_usage_error("--ood and --ood-model belong to auroc");
	if (!watch && (c->textfile || c->plot || c->n_alerts))
		return cli_usage_error("--textfile, --plot and --alert belong to watching");
	if (watch && (c->data || c->output))
		return cli_usage_error("watching reads FILE arguments, not -d or -o");
	if (strcmp(cmd, "fit") != 0 && (c->quantile > 0 || c->rare >= 0))
		return cli_usage_error("--quantile and --rare belong to fit");
	if (c->plot && strcmp(c->plot, "-") == 0)
		return cli_usage_error("--plot needs a file: standard output carries the windows");
	if (c->textfile && strcmp(c->textfile, "-") == 0)
		return cli_usage_error("--textfile needs a file: standard output carries the windows");
	if (c->step == 0)
		c->step = c->window;
	if (!c->output)
		c->output = "-";
	int stdin_uses = (c->model && strcmp(c->model, "-") == 0) +
			 (c->data && strcmp(c->data, "-") == 0) + (c->ood && strcmp(c->ood, "-") == 0) +
			 (c->ood_model && strcmp(c->ood_model, "-") == 0);
	for (int i = 0; i < c->n_files; i++)
		stdin_uses += strcmp(c->files[i], "-") == 0;
	if (watch && c->n_files == 0)
		stdin_uses++;
	if (stdin_uses > 1)
		return cli_usage_error("only one input can come from standard input");
	return 0;
}

static int load_model(const char *path, rml_model **m, char hex[65], rml_error *err)
{
	rml_file f;
	rml_file_init(&f);
	rml_status st = hex ? rml_file_load_hashed(&f, path, hex, err) : cli_load(&f, path, "model", err);
	if (!st)
		st = rml_expect_kind(&f, "model", path, err);
	if (!st)
		st = rml_model_from_file(m, &f, err);
	if (!st)
		st = rml_model_calib_check(*m, err);
	if (!st)
		st = rml_model_coact_check(*m, err);
	rml_file_free(&f);
	return st ? -1 : 0;
}

static int load_data(const char *path, rml_dataset *d, rml_error *err)
{
	rml_file f;
	rml_file_init(&f);
	rml_status st = cli_load(&f, path, "data", err);
	if (!st)
		st = rml_dataset_from_file(d, &f, err);
	rml_file_free(&f);
	return st ? -1 : 0;
}

/* ---- fit ------------------------------------------------------------------------ */

static int cmd_fit(void *ctx)
{
	struct cmdline *c = ctx;
	rml_error err = { 0 };
	rml_model *m = NULL;
	rml_dataset d;
	rml_dataset_init(&d);
	rml_file out;
	rml_file_init(&out);
	int status = CLI_EXIT_FAIL;
	if (cli_check_output(c->output))
		return CLI_EXIT_USAGE;
	if (load_model(c->model, &m, NULL, &err) || load_data(c->data, &d, &err) ||
	    rml_coact_check_images(m, &d, c->data, &err) ||
	    rml_coact_fit_dataset(m, &d, c->batch, c->quantile > 0 ? c->quantile : 0.9,
				  c->rare >= 0 ? c->rare : 0.002, &err) ||
	    rml_model_to_file(m, &out, &err) || cli_save(&out, c->output, -1, &err))
		goto done;
	cli_info("co-activation statistics of %lld units fitted on %lld inputs",
		 (long long)rml_model_n_features(m), (long long)d.n);
	status = CLI_EXIT_OK;
done:
	if (status != CLI_EXIT_OK)
		cli_fail(&err);
	rml_file_free(&out);
	rml_dataset_free(&d);
	rml_model_free(m);
	return status;
}

/* ---- score and auroc --------------------------------------------------------------- */

/* Co-activation score, entropy and confidence of every image of d; with
 * -v, the time of the forward pass and of the score per image. */
static int score_set(rml_model *m, const rml_coact *co, const rml_dataset *d, int64_t batch,
		     float *score, float *ent, float *conf, int32_t *pred, rml_error *err)
{
	double t[2];
	if (rml_coact_score_images(m, co, d->images, d->n, batch, score, ent, conf, pred, t, err))
		return -1;
	if (d->n > 0)
		cli_info("%lld images: forward pass %.3f ms per image, co-activation score %.3f us "
			 "per image (%.2f%% of the forward pass)",
			 (long long)d->n, 1e3 * t[0] / (double)d->n, 1e6 * t[1] / (double)d->n,
			 100 * t[1] / t[0]);
	return 0;
}

/* The score table of d, or how well each signal tells d from --ood. */
static int cmd_score(void *ctx)
{
	struct cmdline *c = ctx;
	rml_error err = { 0 };
	rml_model *m = NULL, *m2 = NULL;
	rml_dataset d, o;
	rml_dataset_init(&d);
	rml_dataset_init(&o);
	rml_coact co;
	rml_coact_init(&co);
	rml_outbuf text;
	rml_outbuf_init(&text);
	float *buf = NULL;
	int32_t *pred = NULL;
	int status = CLI_EXIT_FAIL;
	int auroc = strcmp(c->cmd->name, "auroc") == 0;
	if (load_model(c->model, &m, NULL, &err) || rml_model_coact(m, &co, &err) ||
	    load_data(c->data, &d, &err) || rml_coact_check_images(m, &d, c->data, &err))
		goto done;
	if (auroc) {
		if (load_data(c->ood, &o, &err) || (c->ood_model && load_model(c->ood_model, &m2, NULL, &err)))
			goto done;
		if (m2 && rml_model_n_features(m2) != co.n_units) {
			rml_errorf(&err, RML_ERR_MISMATCH, "%s: %lld features, the statistics have %lld",
				   c->ood_model, (long long)rml_model_n_features(m2), (long long)co.n_units);
			goto done;
		}
		if (rml_coact_check_images(m2 ? m2 : m, &o, c->ood, &err))
			goto done;
	}
	int64_t n = d.n + o.n;
	buf = malloc((size_t)(3 * n + 1) * sizeof *buf);
	pred = malloc((size_t)(n + 1) * sizeof *pred);
	if (!buf || !pred) {
		rml_errorf(&err, RML_ERR_NOMEM, "out of memory");
		goto done;
	}
	float *score = buf, *ent = buf + n, *conf = buf + 2 * n;
	if (score_set(m, &co, &d, c->batch, score, ent, conf, pred, &err) ||
	    (auroc && score_set(m2 ? m2 : m, &co, &o, c->batch, score + d.n, ent + d.n, conf + d.n,
				pred + d.n, &err)))
		goto done;
	double au[3];
	if (!auroc)
		rml_coact_score_text(&text, score, ent, conf, pred, d.labels, d.n);
	else if (rml_coact_auroc(score, ent, conf, d.n, o.n, au, &err))
		goto done;
	else
		rml_coact_auroc_text(&text, c->com.json, d.n, o.n, au);
	if (text.failed) {
		rml_errorf(&err, RML_ERR_NOMEM, "out of memory");
		goto done;
	}
	fwrite(text.data, 1, text.len, stdout);
	status = CLI_EXIT_OK;
done:
	if (status != CLI_EXIT_OK)
		cli_fail(&err);
	rml_outbuf_free(&text);
	free(buf);
	free(pred);
	rml_coact_free(&co);
	rml_dataset_free(&d);
	rml_dataset_free(&o);
	rml_model_free(m);
	rml_model_free(m2);
	return status;
}

/* ---- watching ------------------------------------------------------------------------ */

static void watch_emit(void *ctx, const char *text, size_t len)
{
	(void)ctx;
	fwrite(text, 1, len, stdout);
	fflush(stdout);
}

static void watch_say(void *ctx, int level, const char *msg)
{
	(void)ctx;
	if (cli_verbosity >= level)
		cli_msg("%s", msg);
}

static int cmd_watch(void *ctx)
{
	struct cmdline *c = ctx;
	rml_error err = { 0 };
	rml_model *m = NULL;
	char hex[65] = "";
	rml_watch s;
	memset(&s, 0, sizeof s);
	if (c->textfile && rml_watch_check_dir(c->textfile, &err)) {
		cli_msg("--textfile %s", err.msg);
		return CLI_EXIT_FAIL;
	}
	if (c->plot && cli_check_output(c->plot))
		return CLI_EXIT_USAGE;
	const rml_watch_opts o = { c->window, c->step, c->batch, c->alert, c->alert_thr, c->n_alerts,
				   c->textfile, c->stage, watch_emit, watch_say, NULL };
	static char *const stdin_only[] = { "-" };
	char *const *files = c->n_files ? c->files : stdin_only;
	int n = c->n_files ? c->n_files : 1, status = CLI_EXIT_FAIL;
	if ((c->model && load_model(c->model, &m, hex, &err)) || rml_watch_init(&s, &o, m, hex, &err))
		goto fail;
	for (int i = 0; i < n; i++)
		if (rml_watch_file(&s, files[i], &err))
			goto fail;
	if (s.w.total == 0) {
		cli_msg("no input arrived: the window is empty");
		goto done;
	}
	if (rml_watch_finish(&s, &err) ||
	    (c->plot && rml_monitor_plot(c->plot, s.hist, s.n_hist, s.k, "rmlops-monitor", &err)))
		goto fail;
	cli_info("%lld inputs, %lld windows", (long long)s.w.total, (long long)s.n_hist);
	status = s.alerted ? EXIT_ALERT : CLI_EXIT_OK;
	goto done;
fail:
	cli_fail(&err);
done:
	rml_watch_free(&s);
	rml_model_free(m);
	return status;
}

int main(int argc, char **argv)
{
	cli_init("rmlops-monitor", argc, argv);
	struct cmdline c = {
		.cmd = &watching, .stage = "production", .window = 500, .batch = 100,
		.quantile = -1, .rare = -1, .com = { .help = help, .threads_max = 1024 },
	};
	int st = parse_args(argc, argv, &c);
	if (st)
		return st < 0 ? cli_finish(CLI_EXIT_OK) : st;
	cli_common_threads(&c.com);
	return cli_finish(c.cmd->run(&c));
}
