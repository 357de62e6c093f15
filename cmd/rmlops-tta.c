/*
 * rmlops-tta — test-time adaptation and graceful degradation: adapt the
 * model to each test input (MEMO) or batch (TENT) without labels, predict,
 * and reject the inputs that stay too uncertain. Writes a predictions
 * file (entropy before and after adaptation, rejections) on standard
 * output for rmlops-eval -p; in continual mode, the adapted parameters
 * with -o. The adaptation is lib/tta.c, the rejection lib/metrics.c.
 */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "calib_model.h"
#include "cli.h"
#include "dataset.h"
#include "metrics.h"
#include "classes.h"
#include "model.h"
#include "tta.h"

struct cmdline {
	const char *model, *data, *output, *tune, *adapters;
	rml_tta_opts o;
	rml_reject_rule reject;
	double threshold, rate;
	cli_common com;
	int have_threshold, reject_given, have_batch, have_aug, have_mode, shuffle, no_calib;
};

static const char usage_text[] =
	"Usage: rmlops-tta -m MODEL -d DATA [OPTIONS] > PREDICTIONS\n"
	"Adapt a model to each test input without labels, predict, and reject\n"
	"what stays uncertain. Writes a predictions file on standard output.\n"
	"\n"
	"Method:\n"
	"      --method NAME       memo (default): entropy of the mean prediction over\n"
	"                          augmented copies of each input; tent: mean entropy\n"
	"                          of a batch, batch norm with batch statistics\n"
	"      --mode MODE         episodic (default for memo): reset after each input\n"
	"                          (tent: batch); continual (default for tent): keep\n"
	"                          adapting along the stream\n"
	"      --tune WHAT         parameter groups (phi, the default; e.g. phi,W) or bn\n"
	"                          (the batch-norm scales and shifts)\n"
	"      --aug-copies B      memo: augmented copies per input (default 8)\n"
	"      --batch N           tent: batch size (default 128)\n"
	"      --steps N           SGD steps per input or batch (default 1; 0 = none)\n"
	"      --optimizer NAME    sgd (default) or adamw (also accepted: adam)\n"
	"      --lr X              learning rate (default 0.001)\n"
	"      --momentum X        SGD momentum (default 0)\n"
	"      --shuffle           take the inputs in an order drawn from the seed (the\n"
	"                          predictions stay in file order); for tent and\n"
	"                          continual mode on files sorted by class\n"
	"Rejection (graceful degradation), on the adapted prediction:\n"
	"      --reject RULE       none (default), entropy, confidence\n"
	"      --threshold T       reject above this entropy / below this confidence\n"
	"      --reject-rate R     or reject the fraction R of most uncertain inputs\n"
	"                          (default: the rule stored with the model's calibrator)\n"
	"      --no-calibration    plain softmax, without the model's calibrator and its\n"
	"                          stored rejection rule\n"
	"Inputs and outputs:\n"
	"  -m, --model FILE        the model (with adapters unless --tune bn)\n"
	"  -a, --adapter-file FILE adapters for the model (as rmlops-tta -o writes them),\n"
	"                          refused unless made for this base model\n"
	"  -d, --data FILE         the test images ('-' = standard input)\n"
	"  -o, --output FILE       continual mode: the adapted adapters (with --tune bn,\n"
	"                          the adapted model)\n"
	"  -s, --seed N            seed of the augmentations (default 1)\n"
	"  -j, --threads N         worker threads (default: all cores)\n"
	"      --json              the report as JSON on standard error\n"
	"  -q, --quiet / -v, --verbose;  -h, --help;  -V, --version\n"
	"\n"
	"Example: rmlops-tta -m tuned.rml -d test.rml --reject entropy --threshold 1 \\\n"
	"           > p.rml && rmlops-eval -p p.rml\n";

enum {
	O_METHOD = 256, O_MODE, O_TUNE, O_AUG, O_BATCH, O_STEPS, O_LR, O_MOM, O_REJECT, O_THR,
	O_RATE, O_SHUFFLE, O_OPT, O_NO_CALIB,
};
enum { G_AUG = 1, G_BATCH = 2, G_THRESHOLD = 4 };  /* given on the command line */

#define F(f) offsetof(struct cmdline, f)
static const cli_number_option numbers[] = {
	{ O_AUG, "--aug-copies", 'i', 1, 1024, F(o.n_aug), G_AUG },
	{ O_BATCH, "--batch", 'i', 1, 65536, F(o.batch), G_BATCH },
	{ O_STEPS, "--steps", 'i', 0, 1000, F(o.steps), 0 },
	{ O_LR, "--lr", 'd', 0, 1000, F(o.lr), 0 },
	{ O_MOM, "--momentum", 'd', 0, 0.999, F(o.momentum), 0 },
	{ O_THR, "--threshold", 'd', 0, 1e6, F(threshold), G_THRESHOLD },
	{ O_RATE, "--reject-rate", 'd', 0, 1, F(rate), 0 },
	{ 0 },
};
#undef F

static int parse_args(int argc, char **argv, struct cmdline *c)
{
	static const struct option opts[] = {
		{ "model", required_argument, 0, 'm' }, { "adapter-file", required_argument, 0, 'a' }, { "data", required_argument, 0, 'd' },
		{ "output", required_argument, 0, 'o' }, { "method", required_argument, 0, O_METHOD },
		{ "mode", required_argument, 0, O_MODE }, { "tune", required_argument, 0, O_TUNE },
		{ "aug-copies", required_argument, 0, O_AUG }, { "batch", required_argument, 0, O_BATCH },
		{ "steps", required_argument, 0, O_STEPS }, { "lr", required_argument, 0, O_LR },
		{ "momentum", required_argument, 0, O_MOM }, { "reject", required_argument, 0, O_REJECT },
		{ "threshold", required_argument, 0, O_THR }, { "reject-rate", required_argument, 0, O_RATE },
		{ "shuffle", no_argument, 0, O_SHUFFLE }, { "optimizer", required_argument, 0, O_OPT },
		{ "no-calibration", no_argument, 0, O_NO_CALIB }, CLI_OPTS_ALL, { 0, 0, 0, 0 },
	};
	rml_error err = { 0 };
	unsigned given = 0;
	int o;
	while ((o = getopt_long(argc, argv, "m:a:d:o:" CLI_SHORT_ALL, opts, NULL)) != -1) {
		int r = cli_option(o, optarg, &c->com, numbers, c, &given);
		if (r != CLI_OPT_OTHER) {
			if (r)
				return r;
			continue;
		}
		switch (o) {
		case 'm': c->model = optarg; break;
		case 'a': c->adapters = optarg; break;
		case 'd': c->data = optarg; break;
		case 'o': c->output = optarg; break;
		case O_METHOD:
			if (!strcmp(optarg, "memo")) c->o.method = RML_TTA_MEMO;
			else if (!strcmp(optarg, "tent")) c->o.method = RML_TTA_TENT;
			else return cli_usage_error("--method is memo or tent, not '%s'", optarg);
			break;
		case O_MODE:
			if (!strcmp(optarg, "episodic")) c->o.continual = 0;
			else if (!strcmp(optarg, "continual")) c->o.continual = 1;
			else return cli_usage_error("--mode is episodic or continual, not '%s'", optarg);
			c->have_mode = 1;
			break;
		case O_TUNE:
			c->tune = optarg;
			if (!strcmp(optarg, "bn")) {
				c->o.tune = RML_TTA_TUNE_BN;
			} else {
				c->o.tune = RML_TTA_TUNE_GROUPS;
				if (rml_group_mask_parse(optarg, &c->o.groups, &err))
					return cli_usage_error("--tune: %s (or bn)", err.msg);
				if (!c->o.groups)
					return cli_usage_error("--tune names no parameter group");
			}
			break;
		case O_REJECT:
			c->reject_given = 1;
			if (rml_reject_rule_parse(optarg, &c->reject))
				return cli_usage_error("--reject is none, entropy or confidence, not '%s'", optarg);
			break;
		case O_SHUFFLE: c->shuffle = 1; break;
		case O_NO_CALIB: c->no_calib = 1; break;
		case O_OPT:
			/* adamw, as rmlops-train says; adam is the earlier name. */
			if (rml_optim_kind_parse(strcmp(optarg, "adam") ? optarg : "adamw", &c->o.optimizer))
				return cli_usage_error("--optimizer is sgd or adamw, not '%s'", optarg);
			break;
		default: return cli_usage_error("unknown option");
		}
	}
	if (optind < argc)
		return cli_usage_error("unexpected argument '%s'", argv[optind]);
	c->have_aug = !!(given & G_AUG);
	c->have_batch = !!(given & G_BATCH);
	c->have_threshold = !!(given & G_THRESHOLD);
	if (!c->model || !c->data)
		return cli_usage_error("give -m MODEL and -d DATA");
	if (!strcmp(c->model, "-") && !strcmp(c->data, "-"))
		return cli_usage_error("model and data cannot both come from standard input");
	if (!c->have_mode)
		c->o.continual = c->o.method == RML_TTA_TENT;
	if (c->o.method == RML_TTA_MEMO && c->have_batch)
		return cli_usage_error("--batch is for --method tent (memo adapts to one input at a time)");
	if (c->o.method == RML_TTA_TENT && c->have_aug)
		return cli_usage_error("--aug-copies is for --method memo");
	if (c->output && !c->o.continual)
		return cli_usage_error("-o writes what continual mode adapted; episodic mode keeps nothing");
	if (c->o.optimizer != RML_OPT_SGD && c->o.momentum > 0)
		return cli_usage_error("--momentum is for --optimizer sgd");
	if (c->have_threshold && c->rate >= 0)
		return cli_usage_error("--threshold and --reject-rate exclude each other");
	if (c->reject != RML_REJECT_NONE && !c->have_threshold && c->rate < 0)
		return cli_usage_error("--reject needs --threshold T or --reject-rate R");
	if (c->reject == RML_REJECT_NONE && (c->have_threshold || c->rate >= 0))
		return cli_usage_error("--threshold and --reject-rate go with --reject entropy|confidence");
	if (c->reject == RML_REJECT_CONFIDENCE && c->have_threshold && c->threshold > 1)
		return cli_usage_error("a confidence threshold lies in [0, 1]");
	c->o.seed = (uint64_t)c->com.seed;
	c->o.no_calibration = c->no_calib;
	return 0;
}

static double mean_of(const float *x, int64_t n)
{
	double s = 0;
	for (int64_t i = 0; i < n; i++)
		s += x[i];
	return n ? s / (double)n : NAN;
}

static void progress(void *label, int64_t done, int64_t total)
{
	cli_progress(label, done, total);
}

static void json_num(const char *key, double v)
{
	if (isfinite(v))
		fprintf(stderr, ",\"%s\":%.6f", key, v);
	else
		fprintf(stderr, ",\"%s\":null", key);
}

/* What the model brings: refuse adapting adapters it lacks (identity
 * adapters added here would adapt only their zero scale on the first
 * step, so they must be fine-tuned first), and adopt the rejection rule
 * stored with its calibrator unless the command line says otherwise. */
static int model_rules(struct cmdline *c, const rml_model *m, rml_error *err)
{
	if (c->o.tune == RML_TTA_TUNE_GROUPS && !rml_model_has_adapters(m) &&
	    (c->o.groups & (RML_GROUP_BIT(RML_GROUP_PHI) | RML_GROUP_BIT(RML_GROUP_OMEGA)))) {
		rml_errorf(err, RML_ERR_ARG,
			   "%s has no adapters: add and fine-tune them first (rmlops-train -m %s "
			   "--adapters 4 --tune phi,W -d DATA ...), or adapt batch norm with --tune bn",
			   c->model, c->model);
		return -1;
	}
	rml_reject_rule stored;
	double stored_thr;
	rml_model_reject_rule(m, &stored, &stored_thr);
	if (!c->no_calib && !c->reject_given && stored != RML_REJECT_NONE) {
		c->reject = stored;
		c->threshold = stored_thr;
		c->have_threshold = 1;
	}
	if (rml_model_calibrator_method(m))
		cli_info("%s the model's calibrator%s", c->no_calib ? "ignoring" : "applying",
			 !c->no_calib && stored != RML_REJECT_NONE && !c->reject_given ? " and its rejection rule" : "");
	return 0;
}

/* The predictions file with the settings of the adaptation. */
static int predictions_file(const struct cmdline *c, const rml_predictions *p, const rml_model *m,
			    const rml_dataset *d, double used, rml_file *pf, rml_error *err)
{
	int64_t k = rml_model_n_classes(m);
	const char *const *names = rml_model_class_names(m);
	if (!names)
		names = (const char *const *)d->class_names;
	if (rml_predictions_to_file(p, pf, err))
		return -1;
	if ((names && rml_set_str_array(pf, "predictions.classes", names, k)) ||
	    rml_set_str(pf, "tta.method", rml_tta_method_name(c->o.method)) ||
	    rml_set_str(pf, "tta.mode", c->o.continual ? "continual" : "episodic") ||
	    rml_set_str(pf, "tta.tune", c->tune ? c->tune : "phi") ||
	    rml_set_i64(pf, "tta.steps", c->o.steps) || rml_set_f64(pf, "tta.lr", c->o.lr) ||
	    rml_set_f64(pf, "tta.momentum", c->o.momentum) ||
	    rml_set_str(pf, "tta.optimizer", c->o.optimizer == RML_OPT_SGD ? "sgd" : "adamw") ||
	    rml_set_i64(pf, c->o.method == RML_TTA_MEMO ? "tta.aug_copies" : "tta.batch",
			c->o.method == RML_TTA_MEMO ? c->o.n_aug : c->o.batch) ||
	    rml_set_str(pf, "tta.reject", rml_reject_rule_name(c->reject)) ||
	    rml_set_i64(pf, "tta.calibrated", !c->no_calib && rml_model_calibrator_method(m) != NULL) ||
	    rml_set_i64(pf, "tta.shuffle", c->shuffle) ||
	    (isfinite(used) && rml_set_f64(pf, "tta.threshold", used))) {
		rml_errorf(err, RML_ERR_NOMEM, "out of memory");
		return -1;
	}
	return 0;
}

/* The summary on standard error: JSON, or one line unless quiet. */
static void report(const struct cmdline *c, const rml_tta *t, const rml_predictions *p,
		   const rml_eval_report *rep, double acc_before, double used)
{
	rml_tta_stats ts;
	rml_tta_get_stats(t, &ts);
	int64_t n = p->n;
	double hb = mean_of(p->entropy_before, n), ha = mean_of(p->entropy, n);
	const char *mode = c->o.continual ? "continual" : "episodic";
	if (c->com.json) {
		fprintf(stderr, "{\"n\":%lld,\"method\":\"%s\",\"mode\":\"%s\",\"steps\":%d", (long long)n,
			rml_tta_method_name(c->o.method), mode, c->o.steps);
		json_num("acc1_before", acc_before);
		json_num("acc1", rep->acc1);
		json_num("acc2", rep->acc2);
		json_num("reject_rate", rep->reject_rate);
		json_num("threshold", used);
		json_num("entropy_before", hb);
		json_num("entropy_after", ha);
		fprintf(stderr, ",\"adapted_params\":%lld,\"updates\":%lld,\"skipped\":%lld",
			(long long)rml_tta_n_adapted(t), (long long)ts.updates, (long long)ts.skipped);
		json_num("seconds", ts.seconds);
		json_num("augment_seconds", ts.aug_seconds);
		json_num("images_per_s", ts.seconds > 0 ? (double)n / ts.seconds : NAN);
		fprintf(stderr, "}\n");
	} else if (cli_verbosity > 0) {
		cli_msg("%lld images, %s %s: acc1 %.4f (before adapting %.4f), mean entropy %.3f "
			"(before %.3f), rejected %.1f%%, %.1f images/s",
			(long long)n, rml_tta_method_name(c->o.method), mode, rep->acc1, acc_before, ha, hb,
			100 * rep->reject_rate, ts.seconds > 0 ? (double)n / ts.seconds : 0);
		if (ts.skipped)
			cli_msg("%lld steps skipped: loss or gradient not finite", (long long)ts.skipped);
	}
}

int main(int argc, char **argv)
{
	cli_init("rmlops-tta", argc, argv);
	struct cmdline c = { .rate = -1, .com = { .help = usage_text, .seed = 1 } };
	rml_tta_opts_default(&c.o);
	int st = parse_args(argc, argv, &c);
	if (st)
		return st < 0 ? cli_finish(CLI_EXIT_OK) : st;
	if (cli_check_output("-") || (c.output && cli_check_output(c.output)))
		return CLI_EXIT_USAGE;
	const char *outs[] = { "-", c.output }, *out_opts[] = { "the predictions", "-o" };
	const char *ins[] = { c.model, c.adapters, c.data };
	if ((st = cli_check_outputs(outs, out_opts, 2, ins, 3)) != 0)
		return cli_finish(st);
	cli_common_threads(&c.com);

	rml_error err = { 0 };
	rml_file pf, af;
	rml_file_init(&pf);
	rml_file_init(&af);
	rml_dataset d;
	rml_dataset_init(&d);
	rml_predictions p;
	rml_predictions_init(&p);
	rml_eval_report rep = { 0 };
	rml_model *m = NULL;
	rml_tta *t = NULL;
	float *before = NULL;
	int status = CLI_EXIT_FAIL;
	double used = NAN;
	if (cli_load_model(&m, c.model, c.adapters, &err) || cli_load_dataset(&d, c.data, "data", &err) ||
	    rml_dataset_fit_model(&d, m, 0, c.data, &err) || model_rules(&c, m, &err))
		goto done;
	int64_t k = rml_model_n_classes(m);
	if (rml_tta_init(&t, m, &c.o, &err) || rml_predictions_alloc(&p, d.n, k, &err))
		goto done;
	before = malloc((size_t)(d.n * k + 1) * sizeof *before);
	p.entropy_before = malloc((size_t)(d.n + 1) * sizeof *p.entropy_before);
	if (!before || !p.entropy_before) {
		rml_errorf(&err, RML_ERR_NOMEM, "out of memory");
		goto done;
	}
	memcpy(p.labels, d.labels, (size_t)d.n * sizeof *p.labels);
	if (rml_tta_run_stream(t, d.images, d.n, c.shuffle, (uint64_t)c.com.seed, before, p.probs, progress,
			       "adapting", &err))
		goto done;
	rml_entropy(before, d.n, k, p.entropy_before);
	if (rml_predictions_reject(&p, c.reject, c.threshold, c.reject == RML_REJECT_NONE ? -1 : c.rate,
				   &used, &err) ||
	    rml_eval_compute(&p, 15, RML_BINS_WIDTH, &rep, &err) ||
	    predictions_file(&c, &p, m, &d, used, &pf, &err) || cli_save(&pf, "-", c.com.seed, &err))
		goto done;
	if (c.output) {
		rml_status s = c.o.tune == RML_TTA_TUNE_BN
				       ? rml_model_to_file(m, &af, &err)
				       : rml_model_adapters_to_file(m, !!(c.o.groups & RML_GROUP_BIT(RML_GROUP_W)),
								    &af, &err);
		if (s || cli_save(&af, c.output, c.com.seed, &err))
			goto done;
	}
	report(&c, t, &p, &rep, rml_accuracy(before, d.labels, d.n, k), used);
	status = CLI_EXIT_OK;
done:
	if (status != CLI_EXIT_OK)
		cli_fail(&err);
	rml_eval_report_free(&rep);
	rml_tta_free(t);
	free(before);
	rml_predictions_free(&p);
	rml_dataset_free(&d);
	rml_model_free(m);
	rml_file_free(&pf);
	rml_file_free(&af);
	return cli_finish(status);
}
