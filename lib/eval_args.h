/*
 * eval_args.h — what a command line of rmlops-eval asks, judged together
 * before any file is read: which inputs (a model and data, or a
 * predictions file), rejection, repetitions under faults, sweeps and
 * the A/B comparison, each with the options it takes; the --rates list;
 * the measuring options that follow from it all.
 *
 * Not here: each option's own value (the program's option table checks
 * those), reading files, the measuring (evaluate.h, compare.h).
 */
#ifndef RML_EVAL_ARGS_H
#define RML_EVAL_ARGS_H

#include <stdint.h>

#include "evaluate.h"
#include "inject.h"
#include "metrics.h"
#include "rml.h"

#define RML_EVAL_RATES_MAX 64

/* The options of rmlops-eval; NULL or 0 when not given unless said. */
typedef struct {
	const char *model, *data, *preds, *adapters, *preds_out, *target, *sweep, *plot;
	const char *against;        /* --compare B */
	int n_rules;                /* --promote-if rules given */
	int64_t n_boot;             /* --bootstrap; -1 when not given */
	rml_reject_rule reject;
	int reject_given, have_threshold, no_calib, per_class;
	int fault;                  /* a fault option given (--fault, --unit, --rate, ...) */
	double threshold, rate;     /* rate -1 when not given */
	int64_t bins, batch, repeat;
	rml_binning binning;
	rml_fault_spec spec;
	double rates[RML_EVAL_RATES_MAX];   /* --rates */
	int n_rates;
} rml_eval_args;

/* Judge a's options together: a model and data (not both from standard
 * input) or a predictions file; a rejection rule with its threshold or
 * rate and neither without it; what a sweep, --plot, repetitions,
 * --no-calibration, --ber and --compare each need or refuse. A sweep
 * without --repeat repeats 10 times and a fault option alone once (a's
 * repeat is set so). RML_OK, or RML_ERR_ARG with the message of the
 * first thing wrong, a usage error (rmlops-eval(1) words it). */
rml_status rml_eval_args_check(rml_eval_args *a, rml_error *err);

/* --rates: numbers in [0, 1] separated by commas into a->rates (the first
 * RML_EVAL_RATES_MAX of them; "" is none), or RML_ERR_ARG
 * "--rates wants numbers in [0,1] separated by commas". */
rml_status rml_eval_rates_parse(rml_eval_args *a, const char *s, rml_error *err);

/* The rejection rule and binning a's predictions are measured under. A
 * predictions file keeps the rejections it was written with (a test-time
 * adapter may have made them) unless --reject is given (--reject none
 * clears them). */
rml_eval_opts rml_eval_args_opts(const rml_eval_args *a);

#endif
