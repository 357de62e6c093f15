/*
 * rmlops-eval — measure a model on a dataset, or a predictions file:
 * ACC1, ACC2 with rejection, NLL, Brier, calibration errors, per-class
 * accuracy; and, with a fault description and --repeat, the same over
 * many independent fault injections with 95% confidence intervals.
 * Metrics are lib/metrics.c; repetitions lib/inject_model.c; the checks
 * of the options together lib/eval_args.c; --compare eval_compare.c.
 */
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "calib_model.h"
#include "cli.h"
#include "dataset.h"
#include "eval_args.h"
#include "eval_compare.h"
#include "eval_help.h"
#include "evaluate.h"
#include "inject_model.h"
#include "metrics.h"
#include "classes.h"
#include "model.h"

struct cmdline {
	rml_eval_args a;           /* checked together by rml_eval_args_check */
	cli_common com;
	struct eval_compare cmp;   /* --promote-if */
};

/* The options handled by the callback, and the bits of those given. */
enum { O_REJECT = 1, O_BINNING, O_FAULT, O_UNIT, O_BER, O_BITS, O_RATES, O_PROMOTE };
enum { G_THRESHOLD = 1, G_FAULT = 2 };

#define F(f) offsetof(struct cmdline, a.f)
static const cli_opt options[] = {
	CLI_OPT_MODEL(F(model)),
	CLI_OPT_DATA(F(data)),
	CLI_STR("predictions", 'p', F(preds)),
	CLI_OPT_ADAPTERS(F(adapters)),
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
	CLI_STR("compare", 0, F(against)),
	CLI_CALL("promote-if", 0, O_PROMOTE),
	CLI_I64("bootstrap", 0, F(n_boot), 0, 10000000),
	CLI_SHARED_ALL,
	CLI_END,
};
#undef F

static int option(void *base, const cli_opt *e, const char *arg)
{
	struct cmdline *c = base;
	rml_eval_args *a = &c->a;
	rml_error err = { 0 };
	switch (e->id) {
	case O_REJECT:
		a->reject_given = 1;
		if (rml_reject_rule_parse(arg, &a->reject))
			return cli_usage_error("--reject is none, entropy or confidence, not '%s'", arg);
		return 0;
	case O_BINNING:
		if (strcmp(arg, "width") == 0) a->binning = RML_BINS_WIDTH;
		else if (strcmp(arg, "mass") == 0) a->binning = RML_BINS_MASS;
		else return cli_usage_error("--binning is width or mass, not '%s'", arg);
		return 0;
	case O_FAULT:
		return rml_fault_model_parse(arg, &a->spec.model, &err) ? cli_usage_error("%s", err.msg) : 0;
	case O_UNIT:
		if (rml_fault_unit_parse(arg, &a->spec.unit, &err))
			return cli_usage_error("%s", err.msg);
		if (a->spec.unit == RML_FAULT_UNIT_GRAD_TOPK || a->spec.unit == RML_FAULT_UNIT_BER)
			return cli_usage_error("--repeat takes --unit tensor or weight (or --ber P)");
		return 0;
	case O_BER: a->spec.unit = RML_FAULT_UNIT_BER; return 0;
	case O_BITS:
		return rml_fault_bits_parse(arg, &a->spec.bits, &err) ? cli_usage_error("%s", err.msg) : 0;
	case O_RATES:
		return rml_eval_rates_parse(a, arg, &err) ? cli_usage_error("%s", err.msg) : 0;
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
	if ((st = cli_no_operands(argc, argv)) != 0)
		return st;
	c->a.have_threshold = (given & G_THRESHOLD) != 0;
	c->a.fault = (given & G_FAULT) != 0;
	c->a.n_rules = c->cmp.n_rules;
	rml_error err = { 0 };
	if (rml_eval_args_check(&c->a, &err))
		return cli_usage_error("%s", err.msg);
	/* --compare reads a second model. */
	const char *ins[] = { c->a.model, c->a.against, c->a.data }, *opts[] = { "-m", "--compare", "-d" };
	return c->a.against ? cli_check_stdin(ins, opts, 3) : 0;
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
static int run(rml_model *m, const rml_dataset *d, const struct cmdline *c, rml_predictions *p,
	       rml_eval_report *rep, const char *const *names, rml_error *err)
{
	const rml_eval_args *a = &c->a;
	const rml_eval_opts o = rml_eval_args_opts(a);
	const char *targets = a->target ? a->target : "theta";
	const int json = c->com.json;
	const uint64_t seed = (uint64_t)c->com.seed;
	rml_outbuf out;
	rml_outbuf_init(&out);
	int r = 0;
	if (a->sweep) {
		rml_eval_sweep_result s;
		r = rml_eval_sweep(m, d, targets, &a->spec, a->sweep, a->rates, a->n_rates, a->repeat, seed,
				   a->batch, &s, err) ? -1 : 0;
		if (!r) {
			/* The table first, then the chart. */
			rml_eval_sweep_text(&out, json, a->sweep, a->repeat, &s);
			r = emit(&out, err);
			if (!r && a->plot)
				r = rml_eval_sweep_png(a->plot, a->sweep, a->repeat, &s, err) ? -1 : 0;
			rml_eval_sweep_free(&s);
		}
	} else if (a->repeat) {
		rml_summary sum[RML_EVAL_REPEAT_N];
		r = rml_eval_repeat(m, d, targets, &a->spec, a->repeat, seed, a->batch, !a->no_calib, &o, p,
				    sum, progress, err) ? -1 : 0;
		if (!r)
			rml_eval_repeat_text(&out, json, d->n, a->repeat, &a->spec, sum);
	} else {
		r = rml_eval_measure(p, &o, rep, err) ? -1 : 0;
		if (!r)
			rml_eval_single_text(&out, json, rep, a->reject != RML_REJECT_NONE, a->per_class, names,
					     p->k, cli_safe);
	}
	if (!r)
		r = emit(&out, err);
	rml_outbuf_free(&out);
	return r;
}

/* The model and data (the rejection rule stored with the calibrator
 * applies unless the command line says otherwise), and the predictions
 * unless repetitions make their own. */
static int predict(struct cmdline *c, rml_model **m, rml_dataset *d, rml_predictions *p,
		   const char *const **names, rml_error *err)
{
	rml_eval_args *a = &c->a;
	if (cli_load_model(m, a->model, a->adapters, err) || cli_load_dataset_fit(d, a->data, "data", *m, 1, err))
		return -1;
	rml_reject_rule rule;
	double thr;
	rml_model_reject_rule(*m, &rule, &thr);
	if (!a->no_calib && !a->reject_given && !a->sweep && rule != RML_REJECT_NONE) {
		a->reject = rule;
		a->threshold = thr;
		a->have_threshold = 1;
	}
	if (rml_model_calibrator_method(*m))
		cli_info("%s calibrator %s%s", a->no_calib ? "ignoring the" : "applying the",
			 rml_model_calibrator_method(*m),
			 !a->no_calib && rule != RML_REJECT_NONE && !a->reject_given ? " and its rejection rule" : "");
	*names = rml_model_class_names(*m);
	if (!*names)
		*names = (const char *const *)d->class_names;
	if (rml_predictions_alloc(p, d->n, rml_model_n_classes(*m), err))
		return -1;
	memcpy(p->labels, d->labels, (size_t)d->n * sizeof *p->labels);
	if (!a->repeat && rml_model_predict_calibrated(*m, d, a->batch, !a->no_calib, p->probs, err))
		return -1;
	return 0;
}

int main(int argc, char **argv)
{
	cli_init("rmlops-eval", argc, argv);
	struct cmdline c = { .a = { .rate = -1, .bins = 15, .batch = 128, .n_boot = -1,
				    .spec = { RML_FAULT_BITFLIP, RML_FAULT_UNIT_TENSOR, 0.1, RML_BITS_ANY } },
			     .com = { .help = EVAL_USAGE, .seed = 1 } };
	const rml_eval_args *a = &c.a;
	int st = parse_args(argc, argv, &c);
	if (st)
		return st < 0 ? cli_finish(CLI_EXIT_OK) : st;
	{
		/* The text or JSON report always goes to standard output. */
		const char *outs[] = { "-", a->preds_out, a->plot };
		const char *opts[] = { "the report", "-P", "--plot" };
		const char *ins[] = { a->model, a->adapters, a->data, a->preds };
		if ((st = cli_check_all_outputs(outs, opts, 3, a->preds_out ? 2 : 0, ins, 4)) != 0)
			return cli_finish(st);
	}
	cli_common_threads(&c.com);
	if (a->against) {
		/* --compare: eval_compare.c, with 2000 resamples by default. */
		if (c.a.n_boot < 0)
			c.a.n_boot = 2000;
		c.cmp.a = a;
		c.cmp.json = c.com.json;
		c.cmp.seed = c.com.seed;
		return cli_finish(eval_compare_run(&c.cmp));
	}
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
	if (a->preds) {
		if (cli_load(&f, a->preds, "predictions", &err) || rml_predictions_from_file(&p, &f, &err))
			goto done;
	} else if (predict(&c, &m, &d, &p, &names, &err)) {
		goto done;
	}
	if (run(m, &d, &c, &p, &rep, names, &err))
		goto done;
	if (a->preds_out) {
		if (rml_predictions_to_file(&p, &pf, &err))
			goto done;
		if (names && rml_set_str_array(&pf, "predictions.classes", names, p.k)) {
			rml_errorf(&err, RML_ERR_NOMEM, "out of memory");
			goto done;
		}
		if (cli_save(&pf, a->preds_out, a->repeat ? c.com.seed : -1, &err))
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
