/*
 * rmlops-tta — test-time adaptation and graceful degradation: adapt the
 * model to each test input (MEMO) or batch (TENT) without labels, predict,
 * and reject the inputs that stay too uncertain. Writes a predictions
 * file (entropy before and after adaptation, rejections) on standard
 * output for rmlops-eval -p; in continual mode, the adapted parameters
 * with -o. The adaptation is lib/tta.c, the run over a dataset (rules,
 * rejection, the predictions file, the summary) lib/tta_run.c.
 */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "calib_model.h"
#include "cli.h"
#include "dataset.h"
#include "metrics.h"
#include "classes.h"
#include "model.h"
#include "outtext.h"
#include "tta_run.h"

struct cmdline {
	const char *model, *data, *output, *adapters;
	rml_tta_run_settings s;
	cli_common com;
	int have_batch, have_aug, have_mode, no_calib;
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

enum { O_METHOD = 1, O_MODE, O_TUNE, O_REJECT, O_OPT };
enum { G_AUG = 1, G_BATCH = 2, G_THRESHOLD = 4 };  /* given on the command line */

#define F(f) offsetof(struct cmdline, f)
static const cli_opt options[] = {
	CLI_MODEL_IO(F(model), F(adapters), F(data), F(output)),
	CLI_CALL("method", 0, O_METHOD),
	CLI_CALL("mode", 0, O_MODE),
	CLI_CALL("tune", 0, O_TUNE),
	CLI_INT("aug-copies", 0, F(s.o.n_aug), 1, 1024, .bit = G_AUG),
	CLI_INT("batch", 0, F(s.o.batch), 1, 65536, .bit = G_BATCH),
	CLI_INT("steps", 0, F(s.o.steps), 0, 1000),
	CLI_F64("lr", 0, F(s.o.lr), 0, 1000),
	CLI_F64("momentum", 0, F(s.o.momentum), 0, 0.999),
	CLI_CALL("reject", 0, O_REJECT),
	CLI_F64("threshold", 0, F(s.threshold), 0, 1e6, .bit = G_THRESHOLD),
	CLI_F64("reject-rate", 0, F(s.rate), 0, 1),
	CLI_FLAG("shuffle", 0, F(s.shuffle)),
	CLI_CALL("optimizer", 0, O_OPT),
	CLI_FLAG("no-calibration", 0, F(no_calib)),
	CLI_SHARED_ALL,
	CLI_END,
};
#undef F

/* The options whose words become the adaptation's enums. */
static int option(void *base, const cli_opt *e, const char *arg)
{
	struct cmdline *c = base;
	rml_tta_opts *t = &c->s.o;
	rml_error err = { 0 };
	switch (e->id) {
	case O_METHOD:
		if (!strcmp(arg, "memo")) t->method = RML_TTA_MEMO;
		else if (!strcmp(arg, "tent")) t->method = RML_TTA_TENT;
		else return cli_usage_error("--method is memo or tent, not '%s'", arg);
		break;
	case O_MODE:
		if (!strcmp(arg, "episodic")) t->continual = 0;
		else if (!strcmp(arg, "continual")) t->continual = 1;
		else return cli_usage_error("--mode is episodic or continual, not '%s'", arg);
		c->have_mode = 1;
		break;
	case O_TUNE:
		c->s.tune = arg;
		if (!strcmp(arg, "bn")) {
			t->tune = RML_TTA_TUNE_BN;
			break;
		}
		t->tune = RML_TTA_TUNE_GROUPS;
		if (rml_group_mask_parse(arg, &t->groups, &err))
			return cli_usage_error("--tune: %s (or bn)", err.msg);
		if (!t->groups)
			return cli_usage_error("--tune names no parameter group");
		break;
	case O_REJECT:
		c->s.reject_given = 1;
		if (rml_reject_rule_parse(arg, &c->s.reject))
			return cli_usage_error("--reject is none, entropy or confidence, not '%s'", arg);
		break;
	case O_OPT:
		/* adamw, as rmlops-train says; adam is the earlier name. */
		if (rml_optim_kind_parse(strcmp(arg, "adam") ? arg : "adamw", &t->optimizer))
			return cli_usage_error("--optimizer is sgd or adamw, not '%s'", arg);
		break;
	}
	return 0;
}

static int parse_args(int argc, char **argv, struct cmdline *c)
{
	rml_tta_opts *t = &c->s.o;
	unsigned given = 0;
	const cli_parser p = { options, c, &c->com, option, &given };
	int st = cli_parse_args(&p, argc, argv);
	if (st)
		return st;
	if ((st = cli_no_operands(argc, argv)) != 0)
		return st;
	c->have_aug = !!(given & G_AUG);
	c->have_batch = !!(given & G_BATCH);
	c->s.have_threshold = !!(given & G_THRESHOLD);
	if (!c->model || !c->data)
		return cli_usage_error("give -m MODEL and -d DATA");
	const char *ins[] = { c->model, c->data }, *opts[] = { "-m", "-d" };
	if ((st = cli_check_stdin(ins, opts, 2)) != 0)
		return st;
	if (!c->have_mode)
		t->continual = t->method == RML_TTA_TENT;
	if (t->method == RML_TTA_MEMO && c->have_batch)
		return cli_usage_error("--batch is for --method tent (memo adapts to one input at a time)");
	if (t->method == RML_TTA_TENT && c->have_aug)
		return cli_usage_error("--aug-copies is for --method memo");
	if (c->output && !t->continual)
		return cli_usage_error("-o writes what continual mode adapted; episodic mode keeps nothing");
	if (t->optimizer != RML_OPT_SGD && t->momentum > 0)
		return cli_usage_error("--momentum is for --optimizer sgd");
	if (c->s.have_threshold && c->s.rate >= 0)
		return cli_usage_error("--threshold and --reject-rate exclude each other");
	if (c->s.reject != RML_REJECT_NONE && !c->s.have_threshold && c->s.rate < 0)
		return cli_usage_error("--reject needs --threshold T or --reject-rate R");
	if (c->s.reject == RML_REJECT_NONE && (c->s.have_threshold || c->s.rate >= 0))
		return cli_usage_error("--threshold and --reject-rate go with --reject entropy|confidence");
	if (c->s.reject == RML_REJECT_CONFIDENCE && c->s.have_threshold && c->s.threshold > 1)
		return cli_usage_error("a confidence threshold lies in [0, 1]");
	t->seed = (uint64_t)c->com.seed;
	t->no_calibration = c->no_calib;
	return 0;
}

static void progress(void *label, int64_t done, int64_t total)
{
	cli_progress(label, done, total);
}

/* The summary on standard error: JSON, or one line unless quiet. */
static void report(const struct cmdline *c, const rml_tta_result *r)
{
	rml_outbuf o;
	rml_outbuf_init(&o);
	if (c->com.json) {
		rml_tta_report_json(&o, &c->s, r);
		cli_report(rml_out_str(&o), 1);
	} else if (cli_verbosity > 0) {
		rml_tta_report_line(&o, &c->s, r);
		cli_report(rml_out_str(&o), 0);
		if (r->stats.skipped)
			cli_msg("%lld steps skipped: loss or gradient not finite", (long long)r->stats.skipped);
	}
	rml_outbuf_free(&o);
}

int main(int argc, char **argv)
{
	cli_init("rmlops-tta", argc, argv);
	struct cmdline c = { .s = { .rate = -1 }, .com = { .help = usage_text, .seed = 1 } };
	rml_tta_opts_default(&c.s.o);
	int st = parse_args(argc, argv, &c);
	if (st)
		return st < 0 ? cli_finish(CLI_EXIT_OK) : st;
	const char *outs[] = { "-", c.output }, *out_opts[] = { "the predictions", "-o" };
	const char *ins[] = { c.model, c.adapters, c.data };
	if ((st = cli_check_all_outputs(outs, out_opts, 2, c.output ? 3 : 1, ins, 3)) != 0)
		return cli_finish(st);
	cli_common_threads(&c.com);

	rml_error err = { 0 };
	rml_file pf, af;
	rml_file_init(&pf);
	rml_file_init(&af);
	rml_dataset d;
	rml_dataset_init(&d);
	rml_tta_result r;
	rml_tta_result_init(&r);
	rml_model *m = NULL;
	int status = CLI_EXIT_FAIL, adopted;
	if (cli_load_model(&m, c.model, c.adapters, &err) ||
	    cli_load_dataset_fit(&d, c.data, "data", m, 0, &err) ||
	    rml_tta_model_rules(&c.s, m, c.model, &adopted, &err))
		goto done;
	if (rml_model_calibrator_method(m))
		cli_info("%s the model's calibrator%s", c.no_calib ? "ignoring" : "applying",
			 adopted ? " and its rejection rule" : "");
	if (rml_tta_run_dataset(m, &d, &c.s, progress, "adapting", &r, &err) ||
	    rml_tta_predictions_file(&r, &c.s, m, &d, &pf, &err) || cli_save(&pf, "-", c.com.seed, &err))
		goto done;
	if (c.output) {
		int head = !!(c.s.o.groups & RML_GROUP_BIT(RML_GROUP_W));
		rml_status s = c.s.o.tune == RML_TTA_TUNE_BN ? rml_model_to_file(m, &af, &err)
							     : rml_model_adapters_to_file(m, head, &af, &err);
		if (cli_save_made(&af, s, c.output, c.com.seed, &err))
			goto done;
	}
	report(&c, &r);
	status = CLI_EXIT_OK;
done:
	if (status != CLI_EXIT_OK)
		cli_fail(&err);
	rml_tta_result_free(&r);
	rml_dataset_free(&d);
	rml_model_free(m);
	rml_file_free(&pf);
	rml_file_free(&af);
	return cli_finish(status);
}
