/*
 * rmlops-eval — measure a model on a dataset, or a predictions file:
 * ACC1, ACC2 with rejection, NLL, Brier, calibration errors, per-class
 * accuracy; and, with a fault description and --repeat, the same over
 * many independent fault injections with 95% confidence intervals.
 * Metrics are lib/metrics.c; repetitions lib/inject_model.c.
 */
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "calib_model.h"
#include "cli.h"
#include "dataset.h"
#include "eval_compare.h"
#include "evaluate.h"
#include "inject_model.h"
#include "metrics.h"
#include "classes.h"
#include "model.h"

struct cmdline {
	const char *model, *data, *preds, *preds_out, *target, *adapters;
	rml_reject_rule reject;
	double threshold, rate;
	cli_common com;
	int64_t bins, batch, repeat;
	rml_binning binning;
	int per_class, have_threshold, fault, reject_given, no_calib;
	rml_fault_spec spec;
	const char *sweep, *plot;
	double rates[64];
	int n_rates;
	struct eval_compare cmp;   /* --compare, --promote-if, --bootstrap */
};

static const char usage_text[] =
	"Usage: rmlops-eval -m MODEL -d DATA [OPTIONS]\n"
	"       rmlops-eval -p PREDICTIONS [OPTIONS]\n"
	"       rmlops-eval (-m A -d DATA | -p A) --compare B [--promote-if RULE] [OPTIONS]\n"
	"Measure a model on a dataset, or a predictions file.\n"
	"\n"
	"  -m, --model FILE        the model ('-' = standard input)\n"
	"  -a, --adapter-file FILE adapters for the model (as rmlops-tta -o writes them),\n"
	"                          refused unless made for this base model\n"
	"  -d, --data FILE         the dataset\n"
	"  -p, --predictions FILE  measure a predictions file instead\n"
	"  -P, --write-predictions FILE  write the predictions (kind predictions)\n"
	"Rejection (graceful degradation):\n"
	"      --reject RULE       none (default), entropy, confidence\n"
	"      --threshold T       reject above this entropy / below this confidence\n"
	"      --reject-rate R     or reject the fraction R of most uncertain examples\n"
	"      --no-calibration    measure the raw model, without the calibrator it carries\n"
	"                          (and without its stored rejection rule)\n"
	"Calibration error:\n"
	"      --bins N            bins for ECE and MCE (default 15)\n"
	"      --binning KIND      width (default) or mass\n"
	"Fault injection, repeated (see rmlops-inject(1) for the meaning):\n"
	"      --repeat N          N independent injections, mean/sd/95% CI of each metric\n"
	"      --fault MODEL       bitflip (default), stuck0, stuck1, zero, random\n"
	"      --unit UNIT         tensor (default), weight\n"
	"      --rate R            (default 0.1);  --ber P instead of --unit/--rate\n"
	"      --bits BITS         any, sign, exponent, mantissa, or positions\n"
	"      --target WHAT       groups, kernels, or tensor patterns (default theta)\n"
	"Vulnerability sweeps (each point --repeat times, default 10):\n"
	"      --sweep KIND        tensors: one fault in each target tensor in turn;\n"
	"                          bits: the fault at each bit position 0..31;\n"
	"                          rates: the fault description at each --rates value\n"
	"      --rates LIST        comma list of rates for --sweep rates\n"
	"      --plot FILE         the sweep as a PNG chart\n"
	"A/B comparison (B - A; exit 0 promote, 3 keep):\n"
	"      --compare B         B: a model (with -m A -d DATA) or predictions (with -p A)\n"
	"      --promote-if RULE   METRIC OP THRESHOLD, e.g. 'acc1 > +0.01' (acc1, acc2, ece;\n"
	"                          > >= < <=), judged on the 95% CI bound; repeatable (all hold)\n"
	"      --bootstrap N       paired bootstrap resamples (default 2000, seeded by -s)\n"
	"Other:\n"
	"      --per-class         accuracy of every class\n"
	"      --batch N           batch size (default 128)\n"
	"  -s, --seed N            seed of the injections (default 1)\n"
	"  -j, --threads N         worker threads (default: all cores)\n"
	"      --json              one JSON object on standard output\n"
	"  -q, --quiet / -v, --verbose;  -h, --help;  -V, --version\n"
	"\n"
	"Example: rmlops-eval -m base.rml -d test.rml --reject entropy --reject-rate 0.1\n";

/* The options handled by the callback, and the bits of those given. */
enum { O_REJECT = 1, O_BINNING, O_FAULT, O_UNIT, O_BER, O_BITS, O_RATES, O_PROMOTE };
enum { G_THRESHOLD = 1, G_FAULT = 2 };

#define F(f) offsetof(struct cmdline, f)
static const cli_opt options[] = {
	CLI_STR("model", 'm', F(model)),
	CLI_STR("data", 'd', F(data)),
	CLI_STR("predictions", 'p', F(preds)),
	CLI_STR("adapter-file", 'a', F(adapters)),
	CLI_STR("write-predictions", 'P', F(preds_out)),
	CLI_CALL("reject", 0, O_REJECT),
	CLI_F64("threshold", 0, F(threshold), 0, 1e6, .bit = G_THRESHOLD),
	CLI_F64("reject-rate", 0, F(rate), 0, 1),
	CLI_I64("bins", 0, F(bins), 1, 10000),
	CLI_CALL("binning", 0, O_BINNING),
	CLI_I64("repeat", 0, F(repeat), 1, 1000000),
	CLI_CALL("fault", 0, O_FAULT, .bit = G_FAULT),
	CLI_CALL("unit", 0, O_UNIT, .bit = G_FAULT),
	CLI_F64("rate", 0, F(spec.rate), 0, 1, .bit = G_FAULT),
	CLI_F64("ber", 0, F(spec.rate), 0, 1, .bit = G_FAULT, .id = O_BER),
	CLI_CALL("bits", 0, O_BITS, .bit = G_FAULT),
	CLI_STR("target", 0, F(target), .bit = G_FAULT),
	CLI_FLAG("per-class", 0, F(per_class)),
	CLI_I64("batch", 0, F(batch), 1, 65536),
	CLI_WORD("sweep", 0, F(sweep), "tensors|bits|rates"),
	CLI_CALL("rates", 0, O_RATES),
	CLI_STR("plot", 0, F(plot)),
	CLI_FLAG("no-calibration", 0, F(no_calib)),
	CLI_STR("compare", 0, F(cmp.against)),
	CLI_CALL("promote-if", 0, O_PROMOTE),
	CLI_I64("bootstrap", 0, F(cmp.n_boot), 0, 10000000),
	CLI_SHARED_ALL,
	CLI_END,
};
#undef F

static int option(void *base, const cli_opt *e, const char *arg)
{
	struct cmdline *c = base;
	rml_error err = { 0 };
	switch (e->id) {
	case O_REJECT:
		c->reject_given = 1;
		if (rml_reject_rule_parse(arg, &c->reject))
			return cli_usage_error("--reject is none, entropy or confidence, not '%s'", arg);
		return 0;
	case O_BINNING:
		if (strcmp(arg, "width") == 0) c->binning = RML_BINS_WIDTH;
		else if (strcmp(arg, "mass") == 0) c->binning = RML_BINS_MASS;
		else return cli_usage_error("--binning is width or mass, not '%s'", arg);
		return 0;
	case O_FAULT:
		return rml_fault_model_parse(arg, &c->spec.model, &err) ? cli_usage_error("%s", err.msg) : 0;
	case O_UNIT:
		if (rml_fault_unit_parse(arg, &c->spec.unit, &err))
			return cli_usage_error("%s", err.msg);
		if (c->spec.unit == RML_FAULT_UNIT_GRAD_TOPK || c->spec.unit == RML_FAULT_UNIT_BER)
			return cli_usage_error("--repeat takes --unit tensor or weight (or --ber P)");
		return 0;
	case O_BER: c->spec.unit = RML_FAULT_UNIT_BER; return 0;
	case O_BITS:
		return rml_fault_bits_parse(arg, &c->spec.bits, &err) ? cli_usage_error("%s", err.msg) : 0;
	case O_RATES: {
		const char *p = arg;
		char *end;
		c->n_rates = 0;
		while (*p && c->n_rates < 64) {
			double v = strtod(p, &end);
			if (end == p || !(v >= 0 && v <= 1) || (*end && *end != ','))
				return cli_usage_error("--rates wants numbers in [0,1] separated by commas");
			c->rates[c->n_rates++] = v;
			p = *end ? end + 1 : end;
		}
		return 0;
	}
	case O_PROMOTE: return eval_compare_rule(&c->cmp, arg);
	default: return 0;
	}
}

static int parse_args(int argc, char **argv, struct cmdline *c)
{
	unsigned given = 0;
	const cli_parser p = { options, c, &c->com, option, &given };
	int st = cli_parse_args(&p, argc, argv);
	if (st)
		return st;
	if (optind < argc)
		return cli_usage_error("unexpected argument '%s'", argv[optind]);
	c->have_threshold = (given & G_THRESHOLD) != 0;
	c->fault = (given & G_FAULT) != 0;
	if (c->preds && (c->model || c->data))
		return cli_usage_error("give either -p PREDICTIONS or -m MODEL -d DATA");
	if (!c->preds && (!c->model || !c->data))
		return cli_usage_error("give -m MODEL and -d DATA (or -p PREDICTIONS)");
	if (c->model && c->data && !strcmp(c->model, "-") && !strcmp(c->data, "-"))
		return cli_usage_error("model and data cannot both come from standard input");
	if (c->reject != RML_REJECT_NONE && !c->have_threshold && c->rate < 0)
		return cli_usage_error("--reject needs --threshold T or --reject-rate R");
	if (c->reject == RML_REJECT_NONE && (c->have_threshold || c->rate >= 0))
		return cli_usage_error("--threshold and --reject-rate go with --reject entropy|confidence");
	if (c->sweep && (c->preds || c->reject != RML_REJECT_NONE))
		return cli_usage_error("--sweep needs a model and data, and no rejection");
	if (c->sweep && !strcmp(c->sweep, "rates") && !c->n_rates)
		return cli_usage_error("--sweep rates needs --rates LIST");
	if (c->plot && !c->sweep)
		return cli_usage_error("--plot goes with --sweep");
	if (c->sweep && !c->repeat)
		c->repeat = 10;
	if (c->fault && !c->repeat)
		c->repeat = 1;
	if (c->repeat && c->preds)
		return cli_usage_error("--repeat needs a model and data, not a predictions file");
	if (c->no_calib && c->preds)
		return cli_usage_error("--no-calibration needs a model, not a predictions file");
	if (c->spec.unit == RML_FAULT_UNIT_BER && c->spec.model >= RML_FAULT_ZERO)
		return cli_usage_error("--ber needs a bit-level fault (bitflip, stuck0, stuck1)");
	if ((c->cmp.n_rules || c->cmp.n_boot >= 0) && !c->cmp.against)
		return cli_usage_error("--promote-if and --bootstrap go with --compare");
	if (c->cmp.against && (c->sweep || c->per_class || c->preds_out || c->binning == RML_BINS_MASS))
		return cli_usage_error("--compare does not take --sweep, --per-class, -P or --binning mass");
	if (c->cmp.against && c->adapters)
		return cli_usage_error("--compare does not take --adapter-file yet");
	return 0;
}

/* The rejection rule and binning of the command line. A predictions
 * file keeps the rejections it was written with (a test-time adapter may
 * have made them) unless --reject is given (--reject none clears them). */
static rml_eval_opts eval_opts(const struct cmdline *c)
{
	rml_eval_opts o = { c->reject, c->threshold, c->reject == RML_REJECT_NONE ? -1 : c->rate,
			    !c->reject_given && c->preds, (int)c->bins, c->binning };
	return o;
}

/* Write a report built in o to standard output and empty o; out of
 * memory while building it is an error. */
static int emit(rml_outbuf *o, rml_error *err)
{
	if (o->failed)
		return rml_errorf(err, RML_ERR_NOMEM, "out of memory");
	if (o->len)
		fwrite(o->data, 1, o->len, stdout);
	o->len = 0;
	return 0;
}

static void progress(int64_t done, int64_t total)
{
	cli_progress("repetitions", done, total);
}

/* The report of the run the options ask for: a sweep, repetitions under
 * faults, or the metrics of p (made already). */
static int run(rml_model *m, const rml_dataset *d, struct cmdline *c, rml_predictions *p,
	       rml_eval_report *rep, const char *const *names, rml_error *err)
{
	const rml_eval_opts o = eval_opts(c);
	const char *targets = c->target ? c->target : "theta";
	rml_outbuf out;
	rml_outbuf_init(&out);
	int r = 0;
	if (c->sweep) {
		rml_eval_sweep_result s;
		r = rml_eval_sweep(m, d, targets, &c->spec, c->sweep, c->rates, c->n_rates, c->repeat,
				   (uint64_t)c->com.seed, c->batch, &s, err) ? -1 : 0;
		if (!r) {
			/* The table first, then the chart. */
			rml_eval_sweep_text(&out, c->com.json, c->sweep, c->repeat, &s);
			r = emit(&out, err);
			if (!r && c->plot)
				r = rml_eval_sweep_png(c->plot, c->sweep, c->repeat, &s, err) ? -1 : 0;
			rml_eval_sweep_free(&s);
		}
	} else if (c->repeat) {
		rml_summary sum[RML_EVAL_REPEAT_N];
		r = rml_eval_repeat(m, d, targets, &c->spec, c->repeat, (uint64_t)c->com.seed, c->batch,
				    !c->no_calib, &o, p, sum, progress, err) ? -1 : 0;
		if (!r)
			rml_eval_repeat_text(&out, c->com.json, d->n, c->repeat, &c->spec, sum);
	} else {
		r = rml_eval_measure(p, &o, rep, err) ? -1 : 0;
		if (!r)
			rml_eval_single_text(&out, c->com.json, rep, c->reject != RML_REJECT_NONE, c->per_class,
					     names, p->k, cli_safe);
	}
	if (!r)
		r = emit(&out, err);
	rml_outbuf_free(&out);
	return r;
}

/* --compare: hand the shared options to eval_compare.c. */
static int compare(struct cmdline *c)
{
	struct eval_compare *e = &c->cmp;
	e->model = c->model;
	e->data = c->data;
	e->preds = c->preds;
	e->target = c->target;
	e->reject = c->reject;
	e->reject_given = c->reject_given;
	e->have_threshold = c->have_threshold;
	e->no_calib = c->no_calib;
	e->json = c->com.json;
	e->threshold = c->threshold;
	e->rate = c->rate;
	e->bins = c->bins;
	e->batch = c->batch;
	e->seed = c->com.seed;
	e->repeat = c->repeat;
	e->spec = c->spec;
	if (e->n_boot < 0)
		e->n_boot = 2000;
	return eval_compare_run(e);
}

int main(int argc, char **argv)
{
	cli_init("rmlops-eval", argc, argv);
	struct cmdline c = { .rate = -1, .bins = 15, .batch = 128, .com = { .help = usage_text, .seed = 1 },
			     .spec = { RML_FAULT_BITFLIP, RML_FAULT_UNIT_TENSOR, 0.1, RML_BITS_ANY },
			     .cmp = { .n_boot = -1 } };
	int st = parse_args(argc, argv, &c);
	if (st)
		return st < 0 ? cli_finish(CLI_EXIT_OK) : st;
	if (c.preds_out && cli_check_output(c.preds_out))
		return CLI_EXIT_USAGE;
	{
		/* The text or JSON report always goes to standard output. */
		const char *outs[] = { "-", c.preds_out, c.plot };
		const char *opts[] = { "the report", "-P", "--plot" };
		const char *ins[] = { c.model, c.adapters, c.data, c.preds };
		if ((st = cli_check_outputs(outs, opts, 3, ins, 4)) != 0)
			return cli_finish(st);
	}
	cli_common_threads(&c.com);
	if (c.cmp.against)
		return cli_finish(compare(&c));
	rml_error err = { 0 };
	rml_predictions p;
	rml_predictions_init(&p);
	rml_eval_report rep = { 0 };
	rml_dataset d;
	rml_dataset_init(&d);
	rml_model *m = NULL;
	int status = CLI_EXIT_FAIL;
	const char *const *names = NULL;
	rml_file f, pf;
	rml_file_init(&f);
	rml_file_init(&pf);

	if (c.preds) {
		if (cli_load(&f, c.preds, "predictions", &err) || rml_predictions_from_file(&p, &f, &err))
			goto done;
	} else {
		if (cli_load_model(&m, c.model, c.adapters, &err) ||
		    cli_load_dataset(&d, c.data, "data", &err) ||
		    rml_dataset_fit_model(&d, m, 1, c.data, &err))
			goto done;
		/* The rejection rule stored with the calibrator applies unless the
		 * command line says otherwise. */
		rml_reject_rule rule;
		double thr;
		rml_model_reject_rule(m, &rule, &thr);
		if (!c.no_calib && !c.reject_given && !c.sweep && rule != RML_REJECT_NONE) {
			c.reject = rule;
			c.threshold = thr;
			c.have_threshold = 1;
		}
		if (rml_model_calibrator_method(m))
			cli_info("%s calibrator %s%s", c.no_calib ? "ignoring the" : "applying the",
				 rml_model_calibrator_method(m),
				 !c.no_calib && rule != RML_REJECT_NONE && !c.reject_given ? " and its rejection rule" : "");
		names = rml_model_class_names(m);
		if (!names)
			names = (const char *const *)d.class_names;
		if (rml_predictions_alloc(&p, d.n, rml_model_n_classes(m), &err))
			goto done;
		memcpy(p.labels, d.labels, (size_t)d.n * sizeof *p.labels);
		if (!c.repeat && rml_model_predict_calibrated(m, &d, c.batch, !c.no_calib, p.probs, &err))
			goto done;
	}
	if (run(m, &d, &c, &p, &rep, names, &err))
		goto done;
	if (c.preds_out) {
		if (rml_predictions_to_file(&p, &pf, &err))
			goto done;
		if (names && rml_set_str_array(&pf, "predictions.classes", names, p.k)) {
			rml_errorf(&err, RML_ERR_NOMEM, "out of memory");
			goto done;
		}
		if (cli_save(&pf, c.preds_out, c.repeat ? c.com.seed : -1, &err))
			goto done;
	}
	status = CLI_EXIT_OK;
done:
	if (status != CLI_EXIT_OK)
		cli_fail(&err);
	rml_eval_report_free(&rep);
	rml_predictions_free(&p);
	rml_dataset_free(&d);
	rml_model_free(m);
	rml_file_free(&f);
	rml_file_free(&pf);
	return cli_finish(status);
}
