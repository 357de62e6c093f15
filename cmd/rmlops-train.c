/*
 * rmlops-train — train a model from scratch, or fine-tune chosen parameter
 * groups of an existing one. Checkpoints after every epoch, resumes
 * exactly (the checkpoint carries the settings, the optimiser state and a
 * digest of the training data), stops cleanly on Ctrl-C. The computing is
 * librmlops: training steps, epochs and checkpoints (train.h) on the
 * engine (model.h); this file only wires them together.
 */
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "outtext.h"
#include "train_help.h"
#include "train_report.h"
#include "train_run.h"

/* The settings that shape the result (train.h) are recorded in
 * checkpoints so that --resume continues the same run; a.given holds the
 * RML_TS_* bits of those set on the command line. */
struct cmdline {
	rml_train_args a;
	rml_train_settings s;
	cli_common com;
};

/* Set by the first SIGINT or SIGTERM (cli_catch_stop): stop at the next step. */
static volatile sig_atomic_t interrupted;

static const char usage_text[] = TRAIN_USAGE;

enum { O_ADAPTERS = 1, O_TUNE, O_OPT, O_AUG, O_RA, O_EMA };

#define F(f) offsetof(struct cmdline, f)
#define A(f) offsetof(struct cmdline, a.f)
/* The settings (in s) carry their RML_TS_* bit: given on the command
 * line, they are kept on --resume. */
static const cli_opt options[] = {
	CLI_OPT_DATA(A(data)),
	CLI_STR("val", 0, A(val)),
	CLI_OPT_MODEL(A(model)),
	CLI_OPT_ADAPTERS(A(adapters)),
	CLI_STR("arch", 0, A(arch)),
	CLI_I64("adapters", 0, A(gamma), 1, 8, .id = O_ADAPTERS),
	CLI_OPT_OUTPUT(A(output)),
	CLI_STR("checkpoint", 0, A(checkpoint)),
	CLI_STR("resume", 0, A(resume)),
	CLI_I64("until", 0, A(until), 1, 100000),
	CLI_STR("log", 0, A(log)),
	CLI_STR("plot", 0, A(plot)),
	CLI_CALL("tune", 0, O_TUNE, .bit = RML_TS_TUNE),
	CLI_I64("epochs", 0, F(s.epochs), 1, RML_TRAIN_EPOCHS_MAX, .bit = RML_TS_EPOCHS),
	CLI_I64("batch", 0, F(s.batch), 1, RML_TRAIN_BATCH_MAX, .bit = RML_TS_BATCH),
	CLI_CALL("optimizer", 0, O_OPT, .bit = RML_TS_OPT),
	CLI_F64("lr", 0, F(s.lr), 0, RML_TRAIN_LR_MAX, .bit = RML_TS_LR),
	CLI_F64("momentum", 0, F(s.momentum), 0, RML_TRAIN_MOMENTUM_MAX, .bit = RML_TS_MOMENTUM),
	CLI_FLAG("nesterov", 0, F(s.nesterov), .bit = RML_TS_NESTEROV),
	CLI_F64("wd", 0, F(s.wd), 0, RML_TRAIN_WD_MAX, .bit = RML_TS_WD),
	CLI_I64("warmup", 0, F(s.warmup), 0, RML_TRAIN_WARMUP_MAX, .bit = RML_TS_WARMUP),
	CLI_F64("label-smoothing", 0, F(s.smoothing), 0, RML_TRAIN_SMOOTHING_MAX, .bit = RML_TS_SMOOTHING),
	CLI_CALL("augment", 0, O_AUG, .bit = RML_TS_AUGMENT),
	CLI_CALL("randaugment", 0, O_RA),
	CLI_I64("cutout", 0, A(cutout), 1, 1024),
	CLI_F64("erasing", 0, A(erasing), 0.001, 1),
	CLI_F64("mixup", 0, A(mixup), 0.001, 1000),
	CLI_F64("cutmix", 0, A(cutmix), 0.001, 1000),
	CLI_F64("ema", 0, F(s.ema), 0, 1, .bit = RML_TS_EMA, .id = O_EMA),
	CLI_FLAG("ema-eval", 0, A(ema_eval)),
	CLI_SHARED_ALL,
	CLI_END,
};
#undef A
#undef F

/* The options the table cannot check or store by itself. */
static int option(void *base, const cli_opt *e, const char *arg)
{
	struct cmdline *c = base;
	switch (e->id) {
	case O_ADAPTERS:
		if (c->a.gamma != 1 && c->a.gamma != 2 && c->a.gamma != 4 && c->a.gamma != 8)
			return cli_usage_error("--adapters is 1, 2, 4 or 8");
		return 0;
	case O_TUNE: {
		if (strlen(arg) >= sizeof c->s.tune)
			return cli_usage_error("--tune: '%s' is too long", arg);
		strcpy(c->s.tune, arg);
		unsigned mask;
		rml_error perr = { 0 };
		if (rml_group_mask_parse(arg, &mask, &perr))
			return cli_usage_error("--tune: %s", perr.msg);
		return 0;
	}
	case O_OPT:
		if (rml_optim_kind_parse(arg, &c->s.opt))
			return cli_usage_error("--optimizer is sgd or adamw, not '%s'", arg);
		return 0;
	case O_AUG:
		if (rml_train_recipe_parse(arg, &c->s))
			return cli_usage_error("--augment is a list of crop, flip, autoaugment, "
					       "randaugment, cutout, erasing, mixup, cutmix (each once; not both "
					       "autoaugment and randaugment) or none, not '%s'", arg);
		return 0;
	case O_RA: {
		const char *comma = strchr(arg, ',');
		if (!comma)
			return cli_usage_error("--randaugment is N,M, not '%s'", arg);
		char *n = strndup(arg, (size_t)(comma - arg));
		int bad = !n || cli_parse_i64("--randaugment N", n, 1, 16, &c->a.ra_n) ||
			  cli_parse_i64("--randaugment M", comma + 1, 0, 30, &c->a.ra_m);
		free(n);
		return bad ? CLI_EXIT_USAGE : 0;
	}
	case O_EMA:
		if (!(c->s.ema > 0 && c->s.ema < 1))
			return cli_usage_error("--ema is a decay between 0 and 1 (exclusive), not '%s'", arg);
		return 0;
	}
	return 0;
}

static int parse_args(int argc, char **argv, struct cmdline *c)
{
	const cli_parser p = { options, c, &c->com, option, &c->a.given };
	int st = cli_parse_args(&p, argc, argv);
	if (st)
		return st;
	if ((st = cli_no_operands(argc, argv)) != 0)
		return st;
	if (c->com.seed_given) {
		c->s.seed = c->com.seed;
		c->a.given |= RML_TS_SEED;
	}
	rml_error err = { 0 };
	return rml_train_args_check(&c->a, &c->s, &err) ? cli_usage_error("%s", err.msg) : 0;
}

/* Each line of o as a message, "warning: LINE". */
static void warn_lines(rml_outbuf *o)
{
	for (char *line = (char *)rml_out_str(o), *nl; (nl = strchr(line, '\n')); line = nl + 1) {
		*nl = 0;
		cli_msg("warning: %s", line);
	}
}

/* Load the data and the model (from the checkpoint, whose settings then
 * apply, from -m, or new), settle the settings, set up the optimiser and
 * the log. */
static int prepare(rml_train_run *r, struct cmdline *c, FILE **log, rml_train_curve *curve,
		   rml_error *err)
{
	rml_train_args *a = &c->a;
	rml_file ck;
	rml_file_init(&ck);
	rml_outbuf warn;
	rml_outbuf_init(&warn);
	int rc = -1, ema_fresh;
	if (cli_load_dataset(r->train, a->data, "data", err) ||
	    (a->val && cli_load_dataset(r->val, a->val, "val", err)))
		goto out;
	if (!a->val)
		r->val = NULL;
	if (r->train->n < 1) {
		rml_errorf(err, RML_ERR_ARG, "the training set is empty");
		goto out;
	}
	rml_train_data_digest(r->train, r->digest);
	if (a->resume ? cli_load(&ck, a->resume, "checkpoint", err) ||
				rml_train_run_resume(r, &c->s, a, &ck, &warn, err)
		      : a->model ? cli_load_model(&r->m, a->model, a->adapters, err)
				 : rml_train_new_model(&r->m, a->arch, r->train, (uint64_t)c->s.seed, err))
		goto out;
	warn_lines(&warn);
	rml_train_run_options o = { a->resume ? &ck : NULL, a->model != NULL, a->gamma, a->until,
				    a->ema_eval, a->data, a->val };
	if (rml_train_run_prepare(r, &c->s, &o, &ema_fresh, err))
		goto out;
	if (ema_fresh)
		cli_msg("warning: the checkpoint holds no weight average; it starts here");
	/* The log's epochs up to the checkpoint's are the curve so far. */
	if (a->plot && a->log && a->resume && rml_train_curve_read_log(curve, a->log, r->start_epoch, err))
		goto out;
	if (a->log && !(*log = rml_train_log_open(a->log, a->resume ? r->start_epoch : 0, err)))
		goto out;
	rc = 0;
out:
	rml_outbuf_free(&warn);
	rml_file_free(&ck);
	return rc;
}

static int progress(void *ctx, int64_t done, int64_t total)
{
	cli_progress(ctx, done, total);
	return interrupted != 0;
}

static rml_status save_checkpoint(void *ctx, rml_file *f, rml_error *err)
{
	const struct cmdline *c = ctx;
	return cli_save(f, c->a.checkpoint, c->s.seed, err);
}

/* One epoch, its validation, checkpoint, log line and learning curve. */
static int epoch(rml_train_run *r, const struct cmdline *c, FILE *log, rml_train_curve *curve,
		 int64_t e, rml_train_epoch_result *res, rml_error *err)
{
	char label[64];
	snprintf(label, sizeof label, "epoch %lld/%lld", (long long)e + 1, (long long)c->s.epochs);
	int stopped = 0;
	rml_status st = rml_train_run_epoch_timed(r, &c->s, e, progress, label, res, &stopped, err);
	/* An epoch cut short is dropped whole: the checkpoint of the last
	 * complete one stays. */
	if (st || interrupted)
		return st ? -1 : 0;
	if (rml_train_run_epoch_end(r, &c->s, &c->a, res, log, save_checkpoint, (void *)c, err))
		return -1;
	if (c->a.plot) {
		/* Through the log's line, so that a resumed curve draws the same. */
		int added = rml_train_curve_add_line(curve, res->log_line, err);
		if (added == 0)
			rml_errorf(err, RML_ERR_NUMERIC, "epoch %lld has nothing finite to plot",
				   (long long)res->epoch);
		if (added != 1 || rml_train_curve_plot(curve, c->a.plot, c->s.epochs, err))
			return -1;
	}
	if (cli_verbosity > 1 || (cli_verbosity > 0 && !c->com.json)) {
		rml_outbuf o;
		rml_outbuf_init(&o);
		rml_train_epoch_text(&o, res->epoch, res->loss, res->train_acc, c->a.val != NULL, res->val_acc,
				     res->seconds, res->images);
		cli_report(rml_out_str(&o), 0);
		rml_outbuf_free(&o);
	}
	return 0;
}

int main(int argc, char **argv)
{
	cli_init("rmlops-train", argc, argv);
	struct cmdline c = { .s = rml_train_settings_defaults(), .com = { .help = usage_text } };
	int st = parse_args(argc, argv, &c);
	if (st)
		return st < 0 ? cli_finish(CLI_EXIT_OK) : st;
	const rml_train_args *a = &c.a;
	const char *out = a->output ? a->output : "-";
	{
		/* Checked before training, not after: -o, --checkpoint and --log
		 * must be writable and none may overwrite an input (--checkpoint
		 * may be the --resume file: it is rewritten on purpose). With
		 * --until the model may not be written at all: checked then at
		 * the end. */
		const char *outs[] = { a->until && !a->output ? NULL : out, a->checkpoint, a->log, a->plot };
		const char *opts[] = { "-o", "--checkpoint", "--log", "--plot" };
		const char *ins[] = { a->data, a->val, a->model, a->adapters, a->arch };
		if ((st = cli_check_all_outputs(outs, opts, 4, outs[0] ? 1 : 0, ins, 5)) != 0)
			return cli_finish(st);
		const char *ins2[] = { a->resume };
		const char *outs2[] = { outs[0], a->log, a->plot };
		const char *opts2[] = { "-o", "--log", "--plot" };
		if ((st = cli_check_outputs(outs2, opts2, 3, ins2, 1)) != 0)
			return cli_finish(st);
	}
	cli_common_threads(&c.com);

	rml_error err = { 0 };
	rml_dataset train, val;
	rml_dataset_init(&train);
	rml_dataset_init(&val);
	rml_train_run r = { .train = &train, .val = &val };
	FILE *log = NULL;
	rml_train_curve curve;
	rml_train_curve_init(&curve);
	int status = CLI_EXIT_FAIL;
	if (prepare(&r, &c, &log, &curve, &err))
		goto done;
	cli_catch_stop(&interrupted);
	int64_t stop = a->until ? a->until : c.s.epochs, e;
	rml_train_epoch_result last = { .loss = NAN, .val_acc = NAN, .val_nll = NAN };
	for (e = r.start_epoch; e < stop && !interrupted; e++)
		if (epoch(&r, &c, log, &curve, e, &last, &err))
			goto done;
	if (interrupted) {
		cli_msg("%s; %s", interrupted == SIGINT ? "interrupted" : "terminated",
			a->checkpoint ? "the last checkpoint is intact" : "nothing written");
		status = 128 + interrupted;
		goto done;
	}
	if (a->until && a->until < c.s.epochs) {
		if (cli_verbosity > 0)
			cli_msg("stopped after epoch %lld of %lld; continue with --resume %s",
				(long long)a->until, (long long)c.s.epochs, a->checkpoint);
	} else if (a->until && !a->output && cli_check_output(out)) {
		status = CLI_EXIT_USAGE;
		goto done;
	} else {
		rml_file f;
		rml_file_init(&f);
		rml_status s = rml_train_run_model_to_file(&r, a->ema_eval, &f, &err);
		if (cli_save_made(&f, s, out, c.s.seed, &err))
			goto done;
	}
	if (c.com.json) {
		rml_outbuf o;
		rml_outbuf_init(&o);
		rml_train_report_json(&o, e, last.loss, last.val_acc, last.val_nll);
		cli_report(rml_out_str(&o), 1);
		rml_outbuf_free(&o);
	}
	status = CLI_EXIT_OK;
done:
	if (status == CLI_EXIT_FAIL)
		cli_fail(&err);
	if (log)
		fclose(log);
	rml_train_curve_free(&curve);
	rml_train_run_free(&r);
	rml_dataset_free(&train);
	rml_dataset_free(&val);
	return cli_finish(status);
}
