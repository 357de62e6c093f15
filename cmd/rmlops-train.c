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

#include "calib_model.h"
#include "cli.h"
#include "dataset.h"
#include "classes.h"
#include "model.h"
#include "optimizer.h"
#include "outtext.h"
#include "train.h"
#include "train_report.h"

/* The settings that shape the result (train.h) are recorded in
 * checkpoints so that --resume continues the same run; `given` holds the
 * RML_TS_* bits of those set on the command line. */
struct cmdline {
	const char *data, *val, *model, *arch, *output, *checkpoint, *resume, *log, *adapters;
	rml_train_settings s;
	cli_common com;
	int64_t gamma, until;
	int ema_eval;
	unsigned given;
	/* Recipe parameters as given, applied after --augment (any order). */
	int64_t ra_n, ra_m, cutout;
	double erasing, mixup, cutmix;
};

/* Set by the first SIGINT or SIGTERM (cli_catch_stop): stop at the next step. */
static volatile sig_atomic_t interrupted;

static const char usage_text[] =
	"Usage: rmlops-train -d TRAIN [OPTIONS] -o MODEL\n"
	"Train a model, or fine-tune some of its parameter groups.\n"
	"\n"
	"Inputs and outputs:\n"
	"  -d, --data FILE         training dataset\n"
	"      --val FILE          validation dataset, evaluated after every epoch\n"
	"  -m, --model FILE        start from this model (fine-tuning)\n"
	"  -a, --adapter-file FILE adapters for the model (as rmlops-tta -o writes them),\n"
	"                          refused unless made for this base model\n"
	"      --arch NAME|FILE    architecture of a new model: mvit-xxs (default),\n"
	"                          mvit-tiny, or a YAML file (see rmlops-train(1))\n"
	"      --adapters GAMMA    add adapters with channel compression 1, 2, 4 or 8\n"
	"  -o, --output FILE       the trained model (default standard output)\n"
	"      --checkpoint FILE   written after every epoch (model, optimiser, settings)\n"
	"      --resume FILE       continue from a checkpoint, exactly\n"
	"      --until N           stop after epoch N, leaving the checkpoint\n"
	"      --log FILE          one JSON line per epoch\n"
	"What is trained:\n"
	"      --tune GROUPS       parameter groups to train: theta, omega, phi, W,\n"
	"                          adapters, all (default: all for a new model, phi,W\n"
	"                          when fine-tuning); with theta frozen, batch norm uses\n"
	"                          its running statistics\n"
	"How:\n"
	"      --epochs N          (default 10)\n"
	"      --batch N           (default 128)\n"
	"      --optimizer NAME    sgd (default) or adamw\n"
	"      --lr X              peak learning rate (default 0.1 for sgd, 0.002 adamw)\n"
	"      --momentum X        SGD momentum (default 0.9); --nesterov\n"
	"      --wd X              weight decay (default 5e-4 sgd, 0.05 adamw); not on\n"
	"                          norms and biases\n"
	"      --warmup N          warm-up epochs (default 1)\n"
	"      --label-smoothing X (default 0.1)\n"
	"      --augment LIST      of crop, flip, autoaugment, randaugment, cutout,\n"
	"                          erasing, mixup, cutmix (default crop,flip), or none\n"
	"      --randaugment N,M   RandAugment operations and magnitude 0..30 (2,9)\n"
	"      --cutout N          side of the Cutout square (16)\n"
	"      --erasing P         probability of random erasing per image (0.5)\n"
	"      --mixup A, --cutmix A  Beta(A,A) of the mixing weight (1)\n"
	"      --ema DECAY         keep an average of the weights (e.g. 0.999)\n"
	"      --ema-eval          validate and write the averaged model\n"
	"  -s, --seed N            seed (default 1)\n"
	"  -j, --threads N         worker threads (default: all cores)\n"
	"      --json              the final report as JSON on standard error\n"
	"  -q, --quiet / -v, --verbose;  -h, --help;  -V, --version\n"
	"\n"
	"Example: rmlops-train -d train.rml --val val.rml --epochs 100 -o base.rml\n";

enum { O_ADAPTERS = 1, O_TUNE, O_OPT, O_AUG, O_RA, O_EMA };

#define F(f) offsetof(struct cmdline, f)
/* The settings (in s) carry their RML_TS_* bit: given on the command
 * line, they are kept on --resume. */
static const cli_opt options[] = {
	CLI_STR("data", 'd', F(data)),
	CLI_STR("val", 0, F(val)),
	CLI_STR("model", 'm', F(model)),
	CLI_STR("adapter-file", 'a', F(adapters)),
	CLI_STR("arch", 0, F(arch)),
	CLI_I64("adapters", 0, F(gamma), 1, 8, .id = O_ADAPTERS),
	CLI_STR("output", 'o', F(output)),
	CLI_STR("checkpoint", 0, F(checkpoint)),
	CLI_STR("resume", 0, F(resume)),
	CLI_I64("until", 0, F(until), 1, 100000),
	CLI_STR("log", 0, F(log)),
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
	CLI_I64("cutout", 0, F(cutout), 1, 1024),
	CLI_F64("erasing", 0, F(erasing), 0.001, 1),
	CLI_F64("mixup", 0, F(mixup), 0.001, 1000),
	CLI_F64("cutmix", 0, F(cutmix), 0.001, 1000),
	CLI_F64("ema", 0, F(s.ema), 0, 1, .bit = RML_TS_EMA, .id = O_EMA),
	CLI_FLAG("ema-eval", 0, F(ema_eval)),
	CLI_SHARED_ALL,
	CLI_END,
};
#undef F

/* The options the table cannot check or store by itself. */
static int option(void *base, const cli_opt *e, const char *arg)
{
	struct cmdline *c = base;
	switch (e->id) {
	case O_ADAPTERS:
		if (c->gamma != 1 && c->gamma != 2 && c->gamma != 4 && c->gamma != 8)
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
		int bad = !n || cli_parse_i64("--randaugment N", n, 1, 16, &c->ra_n) ||
			  cli_parse_i64("--randaugment M", comma + 1, 0, 30, &c->ra_m);
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
	const cli_parser p = { options, c, &c->com, option, &c->given };
	int st = cli_parse_args(&p, argc, argv);
	if (st)
		return st;
	if (optind < argc)
		return cli_usage_error("unexpected argument '%s'", argv[optind]);
	if (c->com.seed_given) {
		c->s.seed = c->com.seed;
		c->given |= RML_TS_SEED;
	}
	/* The parameters of recipe items need the items, which they then set. */
	if (c->ra_n || c->cutout || c->erasing || c->mixup || c->cutmix) {
		if (!(c->given & RML_TS_AUGMENT))
			return cli_usage_error("--randaugment, --cutout, --erasing, --mixup and --cutmix need "
					       "--augment with their item");
		const char *missing = rml_train_recipe_params(&c->s, (int)c->ra_n, (int)c->ra_m, (int)c->cutout,
							      c->erasing, c->mixup, c->cutmix);
		if (missing)
			return cli_usage_error("--%s needs %s in --augment", missing, missing);
	}
	if (c->ema_eval && !(c->given & RML_TS_EMA) && !c->resume)
		return cli_usage_error("--ema-eval needs --ema DECAY");
	if (!c->data)
		return cli_usage_error("no training data; give -d FILE");
	if (c->model && c->arch)
		return cli_usage_error("--model and --arch exclude each other");
	if (c->resume && (c->model || c->arch || c->gamma))
		return cli_usage_error("--resume carries its own model; drop --model, --arch, --adapters");
	if (c->until && !c->resume && c->until > c->s.epochs)
		return cli_usage_error("--until %lld is beyond --epochs %lld", (long long)c->until,
				       (long long)c->s.epochs);
	if (c->until && !c->checkpoint)
		return cli_usage_error("--until needs --checkpoint FILE to continue from");
	if (c->log && strcmp(c->log, "-") == 0)
		return cli_usage_error("--log wants a file: it is rewritten on --resume");
	if (c->adapters && !c->model)
		return cli_usage_error("--adapter-file needs --model, the base it belongs to");
	return 0;
}

/* Adopt the settings a checkpoint was made with, except those given on the
 * command line, which win with a warning when they differ (the run then no
 * longer matches an uninterrupted one). */
static int resume_settings(const rml_file *f, struct cmdline *c, rml_error *err)
{
	unsigned differ;
	rml_train_settings was;
	if (rml_train_settings_resume(&c->s, c->given, f, &differ, &was, err))
		return -1;
	rml_outbuf o;
	rml_outbuf_init(&o);
	rml_train_differ_text(&o, &c->s, &was, differ);
	for (char *line = (char *)rml_out_str(&o), *nl; (nl = strchr(line, '\n')); line = nl + 1) {
		*nl = 0;
		cli_msg("warning: %s", line);
	}
	rml_outbuf_free(&o);
	return 0;
}

static int save_checkpoint(rml_model *m, const rml_optim *o, const rml_ema *ema, int64_t epoch,
			   const struct cmdline *c, const char *digest, rml_error *err)
{
	rml_file f;
	rml_file_init(&f);
	rml_status st = rml_train_checkpoint_to_file(m, o, &c->s, epoch, digest, &f, err);
	if (!st && ema->avg)
		st = rml_ema_to_file(ema, &f, err);
	if (!st)
		st = cli_save(&f, c->checkpoint, c->s.seed, err);
	rml_file_free(&f);
	return st ? -1 : 0;
}

/* The model to train: from the checkpoint (whose settings then apply),
 * from -m, or new. */
static int open_model(rml_train_run *r, struct cmdline *c, rml_file *ck, rml_error *err)
{
	if (c->resume) {
		if (cli_load(ck, c->resume, "checkpoint", err) || rml_model_from_file(&r->m, ck, err) ||
		    rml_model_calib_check(r->m, err))
			return -1;
		rml_status st = rml_train_checkpoint_check(ck, r->digest, &r->start_epoch, err);
		if (st == RML_ERR_FORMAT)
			rml_errorf(err, st, "%s is not a checkpoint (no train.epoch)", c->resume);
		else if (st == RML_ERR_MISMATCH)
			rml_errorf(err, st, "%s was trained on other data than %s; to train further on new "
				   "data, start from it with -m", c->resume, c->data);
		return st || resume_settings(ck, c, err) ? -1 : 0;
	}
	if (c->model)
		return cli_load_model(&r->m, c->model, c->adapters, err) ? -1 : 0;
	return rml_train_new_model(&r->m, c->arch, r->train, (uint64_t)c->s.seed, err) ? -1 : 0;
}

/* Load the data and the model, settle the settings, set up the optimiser
 * and the log. */
static int prepare(rml_train_run *r, struct cmdline *c, FILE **log, rml_error *err)
{
	rml_file ck;
	rml_file_init(&ck);
	int rc = -1, ema_fresh;
	if (cli_load_dataset(r->train, c->data, "data", err) ||
	    (c->val && cli_load_dataset(r->val, c->val, "val", err)))
		goto out;
	if (!c->val)
		r->val = NULL;
	if (r->train->n < 1) {
		rml_errorf(err, RML_ERR_ARG, "the training set is empty");
		goto out;
	}
	rml_train_data_digest(r->train, r->digest);
	if (open_model(r, c, &ck, err))
		goto out;
	rml_train_run_options o = { c->resume ? &ck : NULL, c->model != NULL, c->gamma, c->until,
				    c->ema_eval, c->data, c->val };
	if (rml_train_run_prepare(r, &c->s, &o, &ema_fresh, err))
		goto out;
	if (ema_fresh)
		cli_msg("warning: the checkpoint holds no weight average; it starts here");
	if (c->log && !(*log = rml_train_log_open(c->log, c->resume ? r->start_epoch : 0, err)))
		goto out;
	rc = 0;
out:
	rml_file_free(&ck);
	return rc;
}

static int progress(void *ctx, int64_t done, int64_t total)
{
	cli_progress(ctx, done, total);
	return interrupted != 0;
}

/* One epoch, its validation, checkpoint and log line. */
static int epoch(rml_train_run *r, const struct cmdline *c, FILE *log, int64_t e, double *loss,
		 double *acc, double *nll, rml_error *err)
{
	const rml_train_settings *s = &c->s;
	char label[64];
	snprintf(label, sizeof label, "epoch %lld/%lld", (long long)e + 1, (long long)s->epochs);
	rml_train_stats ts;
	int stopped;
	double t0 = rml_now(), lr;
	rml_status st = rml_train_run_epoch(r, s, e, progress, label, &ts, &lr, &stopped, err);
	if (st == RML_ERR_NUMERIC) {
		char msg[sizeof err->msg];
		snprintf(msg, sizeof msg, "%s", err->msg);
		rml_errorf(err, st, "%s; lower --lr", msg);
	}
	/* An epoch cut short is dropped whole: the checkpoint of the last
	 * complete one stays. */
	if (st || interrupted)
		return st ? -1 : 0;
	double secs = rml_now() - t0, right = (double)ts.correct / (double)ts.n;
	*loss = ts.loss;
	if (c->val && rml_train_run_validate(r, s, c->ema_eval, acc, nll, err))
		return -1;
	if (c->checkpoint && save_checkpoint(r->m, &r->opt, &r->ema, e + 1, c, r->digest, err))
		return -1;
	char line[512];
	rml_train_log_line(line, sizeof line, e + 1, lr, *loss, right, *acc, *nll, secs, ts.n);
	if (log && (fprintf(log, "%s\n", line) < 0 || fflush(log))) {
		rml_errorf(err, RML_ERR_IO, "cannot write %s", c->log);
		return -1;
	}
	if (cli_verbosity > 1 || (cli_verbosity > 0 && !c->com.json)) {
		rml_outbuf o;
		rml_outbuf_init(&o);
		rml_train_epoch_text(&o, e + 1, *loss, right, c->val != NULL, *acc, secs, ts.n);
		cli_msg("%s", rml_out_str(&o));
		rml_outbuf_free(&o);
	}
	return 0;
}

int main(int argc, char **argv)
{
	cli_init("rmlops-train", argc, argv);
	struct cmdline c = { .com = { .help = usage_text }, .s = { .epochs = 10, .batch = 128, .seed = 1, .warmup = 1, .lr = -1,
				    .momentum = 0.9, .wd = -1, .smoothing = 0.1, .crop = 1, .flip = 1 } };
	int st = parse_args(argc, argv, &c);
	if (st)
		return st < 0 ? cli_finish(CLI_EXIT_OK) : st;
	const char *out = c.output ? c.output : "-";
	/* With --until the model may not be written at all: checked then at
	 * the end. */
	if ((!c.until || c.output) && cli_check_output(out))
		return CLI_EXIT_USAGE;
	{
		/* Checked before training, not after: -o, --checkpoint and --log
		 * must be writable and none may overwrite an input (--checkpoint
		 * may be the --resume file: it is rewritten on purpose). */
		const char *outs[] = { c.until && !c.output ? NULL : out, c.checkpoint, c.log };
		const char *opts[] = { "-o", "--checkpoint", "--log" };
		const char *ins[] = { c.data, c.val, c.model, c.adapters, c.arch };
		if ((st = cli_check_outputs(outs, opts, 3, ins, 5)) != 0)
			return cli_finish(st);
		const char *ins2[] = { c.resume };
		const char *outs2[] = { outs[0], c.log };
		const char *opts2[] = { "-o", "--log" };
		if ((st = cli_check_outputs(outs2, opts2, 2, ins2, 1)) != 0)
			return cli_finish(st);
	}
	cli_common_threads(&c.com);

	rml_error err = { 0 };
	rml_dataset train, val;
	rml_dataset_init(&train);
	rml_dataset_init(&val);
	rml_train_run r = { .train = &train, .val = &val };
	FILE *log = NULL;
	int status = CLI_EXIT_FAIL;
	if (prepare(&r, &c, &log, &err))
		goto done;
	cli_catch_stop(&interrupted);
	int64_t stop = c.until ? c.until : c.s.epochs;
	double last_acc = NAN, last_nll = NAN, last_loss = NAN;
	int64_t e;
	for (e = r.start_epoch; e < stop && !interrupted; e++)
		if (epoch(&r, &c, log, e, &last_loss, &last_acc, &last_nll, &err))
			goto done;
	if (interrupted) {
		cli_msg("%s; %s", interrupted == SIGINT ? "interrupted" : "terminated",
			c.checkpoint ? "the last checkpoint is intact" : "nothing written");
		status = 128 + interrupted;
		goto done;
	}
	if (c.until && c.until < c.s.epochs) {
		if (cli_verbosity > 0)
			cli_msg("stopped after epoch %lld of %lld; continue with --resume %s",
				(long long)c.until, (long long)c.s.epochs, c.checkpoint);
	} else if (c.until && !c.output && cli_check_output(out)) {
		status = CLI_EXIT_USAGE;
		goto done;
	} else {
		rml_file f;
		rml_file_init(&f);
		if (c.ema_eval)
			rml_ema_swap(&r.ema, r.m);
		rml_status s = rml_model_to_file(r.m, &f, &err);
		if (!s)
			s = cli_save(&f, out, c.s.seed, &err);
		rml_file_free(&f);
		if (s)
			goto done;
	}
	if (c.com.json) {
		rml_outbuf o;
		rml_outbuf_init(&o);
		rml_train_report_json(&o, e, last_loss, last_acc, last_nll);
		fputs(rml_out_str(&o), stderr);
		rml_outbuf_free(&o);
	}
	status = CLI_EXIT_OK;
done:
	if (status == CLI_EXIT_FAIL)
		cli_fail(&err);
	if (log)
		fclose(log);
	rml_train_run_free(&r);
	rml_dataset_free(&train);
	rml_dataset_free(&val);
	return cli_finish(status);
}
