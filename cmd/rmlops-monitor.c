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
#include <string.h>

#include "cli.h"
#include "monitor_help.h"
#include "coact.h"
#include "model.h"
#include "monitor.h"
#include "monitor_args.h"
#include "monitor_watch.h"
#include "outbuf.h"

/* Exit status when a window crossed an alert threshold. */
enum { EXIT_ALERT = 3 };

struct cmdline {
	const cli_subcommand *cmd;
	rml_monitor_args a;   /* the files, fit's parameters, how many --alert */
	const char *stage;
	int64_t window, step, batch;
	rml_alert_kind alert[16];
	double alert_thr[16];
	cli_common com;
};

static const char help[] = MONITOR_USAGE;

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
	CLI_OPT_MODEL(F(a.model)),
	CLI_OPT_DATA(F(a.data)),
	CLI_OPT_OUTPUT(F(a.output)),
	CLI_SHARED_THREADS,
	CLI_I64("window", 0, F(window), 1, 10000000),
	CLI_I64("step", 0, F(step), 1, 10000000),
	CLI_STR("textfile", 0, F(a.textfile)),
	CLI_STR("stage", 0, F(stage)),
	CLI_CALL("alert", 0, O_ALERT),
	CLI_STR("plot", 0, F(a.plot)),
	CLI_F64("quantile", 0, F(a.quantile), 0.001, 0.999),
	CLI_F64("rare", 0, F(a.rare), 0, 0.999),
	CLI_STR("ood", 0, F(a.ood)),
	CLI_STR("ood-model", 0, F(a.ood_model)),
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
	if (c->a.n_alerts == 16)
		return cli_usage_error("at most 16 --alert");
	if (rml_alert_parse(arg, &c->alert[c->a.n_alerts], &c->alert_thr[c->a.n_alerts], &err))
		return cli_usage_error("%s", err.msg);
	c->a.n_alerts++;
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
	rml_monitor_args *a = &c->a;
	a->cmd = c->cmd->name;
	a->files = argv + optind;
	a->n_files = argc - optind;
	if (c->cmd != &watching && (st = cli_no_operands(argc, argv)) != 0)
		return st;
	rml_error err = { 0 };
	if (rml_monitor_args_check(a, &err))
		return cli_usage_error("%s", err.msg);
	if (c->step == 0)
		c->step = c->window;
	if (!a->output)
		a->output = "-";
	return 0;
}

/* A model, its calibrator and co-activation statistics checked. */
static int load_model(const char *path, rml_model **m, rml_error *err)
{
	return cli_load_model(m, path, NULL, err) || rml_model_coact_check(*m, err) ? -1 : 0;
}

/* ---- fit ------------------------------------------------------------------------ */

static int cmd_fit(void *ctx)
{
	struct cmdline *c = ctx;
	rml_error err = { 0 };
	rml_model *m = NULL;
	rml_dataset d;
	rml_dataset_init(&d);
	int status = CLI_EXIT_FAIL;
	if (cli_check_output(c->a.output))
		return CLI_EXIT_USAGE;
	if (load_model(c->a.model, &m, &err) || cli_load_dataset(&d, c->a.data, "data", &err) ||
	    rml_coact_check_images(m, &d, c->a.data, &err) ||
	    rml_coact_fit_dataset(m, &d, c->batch, c->a.quantile > 0 ? c->a.quantile : 0.9,
				  c->a.rare >= 0 ? c->a.rare : 0.002, &err) ||
	    cli_save_model(m, c->a.output, -1, &err))
		goto done;
	cli_info("co-activation statistics of %lld units fitted on %lld inputs",
		 (long long)rml_model_n_features(m), (long long)d.n);
	status = CLI_EXIT_OK;
done:
	if (status != CLI_EXIT_OK)
		cli_fail(&err);
	rml_dataset_free(&d);
	rml_model_free(m);
	return status;
}

/* ---- score and auroc --------------------------------------------------------------- */

/* With -v, the time of the forward pass and of the score per image. */
static void seen(void *ctx, int64_t n, const double t[2])
{
	(void)ctx;
	if (n > 0)
		cli_info("%lld images: forward pass %.3f ms per image, co-activation score %.3f us "
			 "per image (%.2f%% of the forward pass)",
			 (long long)n, 1e3 * t[0] / (double)n, 1e6 * t[1] / (double)n, 100 * t[1] / t[0]);
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
	int status = CLI_EXIT_FAIL;
	int auroc = strcmp(c->cmd->name, "auroc") == 0;
	if (load_model(c->a.model, &m, &err) || rml_model_coact(m, &co, &err) ||
	    cli_load_dataset(&d, c->a.data, "data", &err) || rml_coact_check_images(m, &d, c->a.data, &err))
		goto done;
	if (auroc && (cli_load_dataset(&o, c->a.ood, "data", &err) ||
		      (c->a.ood_model && (load_model(c->a.ood_model, &m2, &err) ||
					rml_coact_check_units(m2, &co, c->a.ood_model, &err))) ||
		      rml_coact_check_images(m2 ? m2 : m, &o, c->a.ood, &err)))
		goto done;
	if (rml_coact_report_datasets(m, &co, &d, m2, auroc ? &o : NULL, c->batch, c->com.json, seen, NULL,
				      &text, &err))
		goto done;
	fwrite(text.data, 1, text.len, stdout);
	status = CLI_EXIT_OK;
done:
	if (status != CLI_EXIT_OK)
		cli_fail(&err);
	rml_outbuf_free(&text);
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
	if (c->a.textfile && rml_watch_check_dir(c->a.textfile, &err)) {
		cli_msg("--textfile %s", err.msg);
		return CLI_EXIT_FAIL;
	}
	if (c->a.plot && cli_check_output(c->a.plot))
		return CLI_EXIT_USAGE;
	const rml_watch_opts o = { c->window, c->step, c->batch, c->alert, c->alert_thr, c->a.n_alerts,
				   c->a.textfile, c->stage, watch_emit, watch_say, NULL };
	static char *const stdin_only[] = { "-" };
	char *const *files = c->a.n_files ? c->a.files : stdin_only;
	int n = c->a.n_files ? c->a.n_files : 1, status = CLI_EXIT_FAIL;
	if (c->a.model) {
		if (load_model(c->a.model, &m, &err))
			goto fail;
		snprintf(hex, sizeof hex, "%s", cli_last_hash());  /* labels the metrics */
	}
	if (rml_watch_init(&s, &o, m, hex, &err))
		goto fail;
	for (int i = 0; i < n; i++)
		if (rml_watch_file(&s, files[i], &err))
			goto fail;
	if (s.w.total == 0) {
		cli_msg("no input arrived: the window is empty");
		goto done;
	}
	if (rml_watch_finish(&s, &err) ||
	    (c->a.plot && rml_monitor_plot(c->a.plot, s.hist, s.n_hist, s.k, "rmlops-monitor", &err)))
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
		.a = { .quantile = -1, .rare = -1 }, .com = { .help = help, .threads_max = 1024 },
	};
	int st = parse_args(argc, argv, &c);
	if (st)
		return st < 0 ? cli_finish(CLI_EXIT_OK) : st;
	cli_common_threads(&c.com);
	return cli_finish(c.cmd->run(&c));
}
