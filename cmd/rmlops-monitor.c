/*
 * rmlops-monitor — watch a deployed model: rolling windows over a stream
 * of predictions files (or of datasets run through a model), Prometheus
 * metrics for node_exporter's textfile collector, alerts as JSON lines and
 * exit status, a PNG dashboard; and the rare co-activation statistics
 * behind its drift score (fit, score, auroc). Windows and metrics are
 * lib/monitor.c, the co-activations lib/coact.c.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "calib_model.h"
#include "cli.h"
#include "coact.h"
#include "metrics.h"
#include "model.h"
#include "monitor.h"
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

static int parse_args(int argc, char **argv, struct cmdline *c)
{
	enum { O_WINDOW = 256, O_STEP, O_TEXTFILE, O_STAGE, O_ALERT, O_PLOT, O_QUANTILE, O_RARE,
	       O_OOD, O_OOD_MODEL, O_BATCH };
	static const struct option opts[] = {
		{ "model", required_argument, 0, 'm' },
		{ "data", required_argument, 0, 'd' },
		{ "output", required_argument, 0, 'o' },
		CLI_OPT_THREADS,
		{ "window", required_argument, 0, O_WINDOW },
		{ "step", required_argument, 0, O_STEP },
		{ "textfile", required_argument, 0, O_TEXTFILE },
		{ "stage", required_argument, 0, O_STAGE },
		{ "alert", required_argument, 0, O_ALERT },
		{ "plot", required_argument, 0, O_PLOT },
		{ "quantile", required_argument, 0, O_QUANTILE },
		{ "rare", required_argument, 0, O_RARE },
		{ "ood", required_argument, 0, O_OOD },
		{ "ood-model", required_argument, 0, O_OOD_MODEL },
		{ "batch", required_argument, 0, O_BATCH },
		CLI_OPT_JSON,
		CLI_OPTS_BASE,
		{ 0, 0, 0, 0 },
	};
	rml_error err = { 0 };
	int o;
	/* A command is the first argument; without one, watching. */
	const cli_subcommand *named = argc > 1 ? cli_subcommand_find(commands, argv[1]) : NULL;
	if (named) {
		c->cmd = named;
		argv++;
		argc--;
	}
	while ((o = getopt_long(argc, argv, "m:d:o:j:" CLI_SHORT_BASE, opts, NULL)) != -1) {
		int r = cli_option(o, optarg, &c->com, NULL, NULL, NULL);
		if (r == CLI_OPT_DONE)
			continue;
		if (r != CLI_OPT_OTHER)
			return r;
		switch (o) {
		case 'm': c->model = optarg; break;
		case 'd': c->data = optarg; break;
		case 'o': c->output = optarg; break;
		case O_WINDOW:
			if (cli_parse_i64("--window", optarg, 1, 10000000, &c->window))
				return CLI_EXIT_USAGE;
			break;
		case O_STEP:
			if (cli_parse_i64("--step", optarg, 1, 10000000, &c->step))
				return CLI_EXIT_USAGE;
			break;
		case O_TEXTFILE: c->textfile = optarg; break;
		case O_STAGE: c->stage = optarg; break;
		case O_ALERT:
			if (c->n_alerts == 16)
				return cli_usage_error("at most 16 --alert");
			if (rml_alert_parse(optarg, &c->alert[c->n_alerts], &c->alert_thr[c->n_alerts], &err))
				return cli_usage_error("%s", err.msg);
			c->n_alerts++;
			break;
		case O_PLOT: c->plot = optarg; break;
		case O_QUANTILE:
			if (cli_parse_f64("--quantile", optarg, 0.001, 0.999, &c->quantile))
				return CLI_EXIT_USAGE;
			break;
		case O_RARE:
			if (cli_parse_f64("--rare", optarg, 0, 0.999, &c->rare))
				return CLI_EXIT_USAGE;
			break;
		case O_OOD: c->ood = optarg; break;
		case O_OOD_MODEL: c->ood_model = optarg; break;
		case O_BATCH:
			if (cli_parse_i64("--batch", optarg, 1, 65536, &c->batch))
				return CLI_EXIT_USAGE;
			break;
		default: return cli_usage_error("unknown option");
		}
	}
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

static int check_geometry(rml_model *m, const rml_dataset *d, const char *path)
{
	int h, w, ch;
	rml_model_input_shape(m, &h, &w, &ch);
	if (d->h != h || d->w != w || d->c != ch) {
		cli_msg("%s: images are %lldx%lldx%lld, the model takes %dx%dx%d", path, (long long)d->h,
			(long long)d->w, (long long)d->c, h, w, ch);
		return -1;
	}
	return 0;
}

/* ---- fit ------------------------------------------------------------------------ */

static int cmd_fit(void *ctx)
{
	struct cmdline *c = ctx;
	rml_error err = { 0 };
	rml_model *m = NULL;
	rml_dataset d;
	rml_dataset_init(&d);
	rml_coact co;
	rml_coact_init(&co);
	rml_file out;
	rml_file_init(&out);
	float *feat = NULL;
	int status = CLI_EXIT_FAIL;
	if (cli_check_output(c->output))
		return CLI_EXIT_USAGE;
	if (load_model(c->model, &m, NULL, &err) || load_data(c->data, &d, &err))
		goto fail;
	if (check_geometry(m, &d, c->data))
		goto done;
	int64_t dim = rml_model_n_features(m);
	feat = malloc((size_t)(d.n * dim + 1) * sizeof *feat);
	if (!feat) {
		rml_errorf(&err, RML_ERR_NOMEM, "out of memory");
		goto fail;
	}
	if (rml_model_features(m, d.images, d.n, c->batch, feat, NULL, NULL, &err) ||
	    rml_coact_fit(&co, feat, d.n, dim, c->quantile > 0 ? c->quantile : 0.9,
			  c->rare >= 0 ? c->rare : 0.002, &err) ||
	    rml_model_set_coact(m, &co, &err) || rml_model_to_file(m, &out, &err) ||
	    cli_save(&out, c->output, -1, &err))
		goto fail;
	cli_info("co-activation statistics of %lld units fitted on %lld inputs", (long long)dim,
		 (long long)d.n);
	status = CLI_EXIT_OK;
	goto done;
fail:
	cli_fail(&err);
done:
	free(feat);
	rml_file_free(&out);
	rml_coact_free(&co);
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

static void json_num(const char *key, double v, int last)
{
	if (isfinite(v))
		printf("\"%s\":%.6f%s", key, v, last ? "" : ",");
	else
		printf("\"%s\":null%s", key, last ? "" : ",");
}

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
	float *buf = NULL;
	int32_t *pred = NULL;
	int status = CLI_EXIT_FAIL;
	int auroc = strcmp(c->cmd->name, "auroc") == 0;
	if (load_model(c->model, &m, NULL, &err) || rml_model_coact(m, &co, &err) ||
	    load_data(c->data, &d, &err))
		goto fail;
	if (check_geometry(m, &d, c->data))
		goto done;
	if (auroc) {
		if (load_data(c->ood, &o, &err))
			goto fail;
		if (c->ood_model && load_model(c->ood_model, &m2, NULL, &err))
			goto fail;
		if (m2 && rml_model_n_features(m2) != co.n_units) {
			cli_msg("%s: %lld features, the statistics have %lld", c->ood_model,
				(long long)rml_model_n_features(m2), (long long)co.n_units);
			goto done;
		}
		if (check_geometry(m2 ? m2 : m, &o, c->ood))
			goto done;
	}
	int64_t n = d.n + o.n;
	buf = malloc((size_t)(3 * n + 1) * sizeof *buf);
	pred = malloc((size_t)(n + 1) * sizeof *pred);
	if (!buf || !pred) {
		rml_errorf(&err, RML_ERR_NOMEM, "out of memory");
		goto fail;
	}
	float *score = buf, *ent = buf + n, *conf = buf + 2 * n;
	if (score_set(m, &co, &d, c->batch, score, ent, conf, pred, &err) ||
	    (auroc && score_set(m2 ? m2 : m, &co, &o, c->batch, score + d.n, ent + d.n, conf + d.n,
				pred + d.n, &err)))
		goto fail;
	if (!auroc) {
		printf("coact_score\tentropy\tconfidence\tpredicted\tlabel\n");
		for (int64_t i = 0; i < d.n; i++)
			printf("%.9g\t%.9g\t%.9g\t%d\t%d\n", score[i], ent[i], conf[i], pred[i], d.labels[i]);
		status = CLI_EXIT_OK;
		goto done;
	}
	/* The AUROC of telling out-of-distribution inputs by a higher score
	 * or entropy, or a lower confidence. */
	double au[3];
	if (rml_coact_auroc(score, ent, conf, d.n, o.n, au, &err))
		goto fail;
	double a_s = au[0], a_e = au[1], a_c = au[2];
	if (c->com.json) {
		printf("{\"n_id\":%lld,\"n_ood\":%lld,", (long long)d.n, (long long)o.n);
		json_num("auroc_coact", a_s, 0);
		json_num("auroc_entropy", a_e, 0);
		json_num("auroc_confidence", a_c, 1);
		printf("}\n");
	} else {
		printf("n_id\tn_ood\tauroc_coact\tauroc_entropy\tauroc_confidence\n");
		printf("%lld\t%lld\t%.4f\t%.4f\t%.4f\n", (long long)d.n, (long long)o.n, a_s, a_e, a_c);
	}
	status = CLI_EXIT_OK;
	goto done;
fail:
	cli_fail(&err);
done:
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

struct watch {
	const struct cmdline *c;
	rml_model *m;
	rml_coact co;
	int has_coact;
	rml_reject_rule rule;
	double thr;
	char model_hex[65];
	char **class_names;        /* from the first predictions file, owned */
	int64_t k;                 /* 0 until the first input */
	rml_monitor w;
	int64_t since;             /* inputs since the last window */
	rml_window_stats *hist;
	int64_t n_hist, cap_hist;
	int64_t alerts[RML_ALERT_COUNT];
	int alerted;
};

static int emit_window(struct watch *s, rml_error *err)
{
	if (s->n_hist == s->cap_hist) {
		int64_t cap = s->cap_hist ? 2 * s->cap_hist : 64;
		rml_window_stats *h = realloc(s->hist, (size_t)cap * sizeof *h);
		if (!h) {
			rml_errorf(err, RML_ERR_NOMEM, "out of memory");
			return -1;
		}
		s->hist = h;
		s->cap_hist = cap;
	}
	rml_window_stats *st = &s->hist[s->n_hist];
	if (rml_monitor_stats(&s->w, st, err))
		return -1;
	s->n_hist++;
	s->since = 0;
	int64_t idx = s->n_hist;
	printf("{\"window\":%lld,\"inputs_total\":%lld,\"n\":%lld,", (long long)idx,
	       (long long)s->w.total, (long long)st->n);
	json_num("entropy_mean", st->entropy_mean, 0);
	json_num("confidence_mean", st->conf_mean, 0);
	json_num("reject_rate", st->reject_rate, 0);
	json_num("accuracy", st->accuracy, 0);
	json_num("coact_score_mean", st->score_mean, 0);
	json_num("coact_rare_rate", st->rare_rate, 1);
	printf("}\n");
	for (int i = 0; i < s->c->n_alerts; i++) {
		rml_alert_kind a = s->c->alert[i];
		double v = rml_alert_value(st, a);
		if (!rml_alert_crossed(a, v, s->c->alert_thr[i]))
			continue;
		s->alerts[a]++;
		s->alerted = 1;
		printf("{\"alert\":\"%s\",\"window\":%lld,", rml_alert_name(a), (long long)idx);
		json_num("value", v, 0);
		json_num("threshold", s->c->alert_thr[i], 1);
		printf("}\n");
		if (cli_verbosity > 0)
			cli_msg("alert: window %lld: %s %g crosses %g", (long long)idx, rml_alert_name(a), v,
				s->c->alert_thr[i]);
	}
	fflush(stdout);
	if (!s->c->textfile)
		return 0;
	rml_outbuf o;
	rml_outbuf_init(&o);
	rml_prom_info info = { s->model_hex, s->c->stage,
			       (const char *const *)s->class_names, idx, s->w.total, s->alerts };
	rml_status r = rml_monitor_prom(st, s->k, &info, &o, err);
	if (!r)
		r = rml_outbuf_save(&o, s->c->textfile, err);
	rml_outbuf_free(&o);
	return r ? -1 : 0;
}

/* The first input fixes the classes; later ones must agree. */
static int start_stream(struct watch *s, int64_t k, const char *const *names, const char *path,
			rml_error *err)
{
	if (s->k == 0) {
		s->k = k;
		if (names) {
			s->class_names = calloc((size_t)k, sizeof *s->class_names);
			for (int64_t j = 0; s->class_names && j < k; j++)
				s->class_names[j] = strdup(names[j]);
		}
		return rml_monitor_init(&s->w, s->c->window, k, err) ? -1 : 0;
	}
	if (k != s->k) {
		rml_errorf(err, RML_ERR_MISMATCH, "%s: %lld classes, the stream so far has %lld", path,
			   (long long)k, (long long)s->k);
		return -1;
	}
	return 0;
}

static int push_rows(struct watch *s, const float *probs, const int32_t *labels,
		     const uint8_t *rejected, const float *score, int64_t n, rml_error *err)
{
	for (int64_t i = 0; i < n; i++) {
		rml_monitor_push(&s->w, probs + i * s->k, labels ? labels[i] : -1,
				 rejected ? rejected[i] : 0, score ? score[i] : NAN);
		if (++s->since >= s->c->step && s->w.len == s->w.cap && emit_window(s, err))
			return -1;
	}
	return 0;
}

static int watch_predictions(struct watch *s, const rml_file *f, const char *path, rml_error *err)
{
	rml_predictions p;
	rml_predictions_init(&p);
	int r = -1;
	if (rml_predictions_from_file(&p, f, err))
		goto out;
	const rml_kv *cl = rml_get(f, "predictions.classes");
	const char *const *names = cl && cl->type == RML_KV_STR_ARRAY && cl->n == p.k
					   ? (const char *const *)cl->sa : NULL;
	if (!s->model_hex[0]) {
		/* The model behind the predictions, from their provenance. */
		const rml_kv *in = rml_get(f, "provenance.inputs");
		for (int64_t i = 0; in && in->type == RML_KV_STR_ARRAY && i < in->n; i++)
			if (strncmp(in->sa[i], "model=sha256:", 13) == 0)
				snprintf(s->model_hex, sizeof s->model_hex, "%s", in->sa[i] + 13);
	}
	if (start_stream(s, p.k, names, path, err))
		goto out;
	for (int64_t j = 0; names && s->class_names && j < p.k; j++)
		if (s->class_names[j] && strcmp(names[j], s->class_names[j]) != 0) {
			rml_errorf(err, RML_ERR_MISMATCH,
				   "%s: class %lld is '%s', earlier in the stream '%s'", path,
				   (long long)j, names[j], s->class_names[j]);
			goto out;
		}
	r = push_rows(s, p.probs, p.labels, p.rejected, NULL, p.n, err);
out:
	rml_predictions_free(&p);
	return r;
}

static int watch_dataset(struct watch *s, const rml_file *f, const char *path, rml_error *err)
{
	if (!s->m) {
		rml_errorf(err, RML_ERR_ARG, "%s is a dataset: give the model that sees it with -m", path);
		return -1;
	}
	rml_dataset d;
	rml_dataset_init(&d);
	rml_predictions p;
	rml_predictions_init(&p);
	int64_t k = rml_model_n_classes(s->m), dim = rml_model_n_features(s->m);
	float *feat = NULL, *logits = NULL, *score = NULL;
	int r = -1;
	if (rml_dataset_from_file(&d, f, err))
		goto out;
	int h, w, ch;
	rml_model_input_shape(s->m, &h, &w, &ch);
	if (d.h != h || d.w != w || d.c != ch) {
		rml_errorf(err, RML_ERR_MISMATCH, "%s: images are %lldx%lldx%lld, the model takes %dx%dx%d",
			   path, (long long)d.h, (long long)d.w, (long long)d.c, h, w, ch);
		goto out;
	}
	feat = malloc((size_t)(d.n * dim + 1) * sizeof *feat);
	logits = malloc((size_t)(d.n * k + 1) * sizeof *logits);
	score = malloc((size_t)(d.n + 1) * sizeof *score);
	if (!feat || !logits || !score) {
		rml_errorf(err, RML_ERR_NOMEM, "out of memory");
		goto out;
	}
	double used;
	if (rml_predictions_alloc(&p, d.n, k, err) ||
	    rml_model_features(s->m, d.images, d.n, s->c->batch, feat, logits, NULL, err) ||
	    rml_model_probs(s->m, logits, d.n, p.probs, err) ||
	    rml_predictions_reject(&p, s->rule, s->thr, -1, &used, err) ||
	    (s->has_coact && rml_coact_score(&s->co, feat, d.n, score, err)) ||
	    start_stream(s, k, rml_model_class_names(s->m), path, err))
		goto out;
	/* Labels of other classes than the model's (another dataset) say
	 * nothing about accuracy: they are dropped, and the user told. */
	const char *const *mc = rml_model_class_names(s->m);
	int same = d.n_classes == k;
	for (int64_t j = 0; same && mc && j < k; j++)
		same = d.class_names && d.class_names[j] && strcmp(mc[j], d.class_names[j]) == 0;
	if (!same)
		cli_msg("%s: its classes are not the model's; its labels are ignored", path);
	r = push_rows(s, p.probs, same ? d.labels : NULL, p.rejected, s->has_coact ? score : NULL,
		      d.n, err);
out:
	free(feat);
	free(logits);
	free(score);
	rml_predictions_free(&p);
	rml_dataset_free(&d);
	return r;
}

/* Every container of one file (or of standard input), in order. */
static int watch_file(struct watch *s, const char *path, rml_error *err)
{
	FILE *fp = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
	if (!fp) {
		rml_errorf(err, RML_ERR_IO, "%s: %s", path, strerror(errno));
		return -1;
	}
	int r = 0, count = 0;
	for (;;) {
		int ch = getc(fp);
		if (ch == EOF)
			break;
		ungetc(ch, fp);
		rml_file f;
		rml_file_init(&f);
		r = rml_file_read(&f, fp, path, err) ? -1 : 0;
		const char *kind = r ? NULL : rml_file_kind(&f);
		if (!r && kind && strcmp(kind, "predictions") == 0)
			r = watch_predictions(s, &f, path, err);
		else if (!r && kind && strcmp(kind, "dataset") == 0)
			r = watch_dataset(s, &f, path, err);
		else if (!r) {
			rml_errorf(err, RML_ERR_MISMATCH, "%s: a %s file, not predictions or a dataset",
				   path, kind ? kind : "kindless");
			r = -1;
		}
		rml_file_free(&f);
		count++;
		if (r)
			break;
	}
	if (!r && ferror(fp)) {
		rml_errorf(err, RML_ERR_IO, "%s: read error", path);
		r = -1;
	}
	if (fp != stdin)
		fclose(fp);
	if (!r && count == 0)
		cli_info("%s holds nothing", path);
	return r;
}

/* A textfile whose directory is missing fails now, not after the first window. */
static int check_textfile_dir(const char *path)
{
	char *dir = strdup(path);
	if (!dir)
		return -1;
	char *slash = strrchr(dir, '/');
	const char *d = slash ? (slash == dir ? "/" : (*slash = 0, dir)) : ".";
	struct stat sb;
	int ok = stat(d, &sb) == 0 && S_ISDIR(sb.st_mode);
	if (!ok)
		cli_msg("--textfile %s: the directory %s does not exist", path, d);
	free(dir);
	return ok ? 0 : -1;
}

static int cmd_watch(void *ctx)
{
	struct cmdline *c = ctx;
	rml_error err = { 0 };
	struct watch s;
	memset(&s, 0, sizeof s);
	s.c = c;
	rml_coact_init(&s.co);
	int status = CLI_EXIT_FAIL;
	if (c->textfile && check_textfile_dir(c->textfile))
		return CLI_EXIT_FAIL;
	if (c->plot && cli_check_output(c->plot))
		return CLI_EXIT_USAGE;
	if (c->model) {
		if (load_model(c->model, &s.m, s.model_hex, &err))
			goto fail;
		s.has_coact = rml_model_has_coact(s.m);
		if (s.has_coact && rml_model_coact(s.m, &s.co, &err))
			goto fail;
		rml_model_reject_rule(s.m, &s.rule, &s.thr);
	}
	static char *const stdin_only[] = { "-" };
	char *const *files = c->n_files ? c->files : stdin_only;
	int n = c->n_files ? c->n_files : 1;
	for (int i = 0; i < n; i++)
		if (watch_file(&s, files[i], &err))
			goto fail;
	if (s.w.total == 0) {
		cli_msg("no input arrived: the window is empty");
		goto done;
	}
	/* The inputs since the last window make a last one. */
	if (s.since > 0 && emit_window(&s, &err))
		goto fail;
	if (c->plot && rml_monitor_plot(c->plot, s.hist, s.n_hist, s.k, "rmlops-monitor", &err))
		goto fail;
	cli_info("%lld inputs, %lld windows", (long long)s.w.total, (long long)s.n_hist);
	status = s.alerted ? EXIT_ALERT : CLI_EXIT_OK;
	goto done;
fail:
	cli_fail(&err);
done:
	for (int64_t i = 0; i < s.n_hist; i++)
		rml_window_stats_free(&s.hist[i]);
	free(s.hist);
	for (int64_t j = 0; s.class_names && j < s.k; j++)
		free(s.class_names[j]);
	free(s.class_names);
	rml_monitor_free(&s.w);
	rml_coact_free(&s.co);
	rml_model_free(s.m);
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
