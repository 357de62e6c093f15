/*
 * test_eval_args.c — rmlops-eval's options judged together
 * (lib/eval_args.c): every refusal with its own message, the repetitions
 * a sweep or a fault option implies, the --rates list and the measuring
 * options that follow from the command line.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "eval_args.h"

/* The defaults of the program, with a model and data. */
static rml_eval_args base(void)
{
	rml_eval_args a = { .model = "m.rml", .data = "d.rml", .rate = -1, .bins = 15, .batch = 128,
			    .n_boot = -1,
			    .spec = { RML_FAULT_BITFLIP, RML_FAULT_UNIT_TENSOR, 0.1, RML_BITS_ANY } };
	return a;
}

static void refused(rml_eval_args a, const char *msg)
{
	rml_error err = { 0 };
	assert_int_equal(rml_eval_args_check(&a, &err), RML_ERR_ARG);
	assert_string_equal(err.msg, msg);
}

static void test_inputs(void **state)
{
	(void)state;
	rml_error err = { 0 };
	rml_eval_args a = base();
	assert_int_equal(rml_eval_args_check(&a, &err), RML_OK);
	assert_int_equal(a.repeat, 0);
	a.preds = "p.rml";
	refused(a, "give either -p PREDICTIONS or -m MODEL -d DATA");
	a.model = NULL;
	refused(a, "give either -p PREDICTIONS or -m MODEL -d DATA");
	a.data = NULL;
	assert_int_equal(rml_eval_args_check(&a, &err), RML_OK);
	a = base();
	a.data = NULL;
	refused(a, "give -m MODEL and -d DATA (or -p PREDICTIONS)");
	a = base();
	a.model = a.data = "-";
	refused(a, "model and data cannot both come from standard input");
}

static void test_rejection(void **state)
{
	(void)state;
	rml_error err = { 0 };
	rml_eval_args a = base();
	a.reject = RML_REJECT_ENTROPY;
	refused(a, "--reject needs --threshold T or --reject-rate R");
	a.rate = 0.1;
	assert_int_equal(rml_eval_args_check(&a, &err), RML_OK);
	a.rate = -1;
	a.have_threshold = 1;
	assert_int_equal(rml_eval_args_check(&a, &err), RML_OK);
	a.reject = RML_REJECT_NONE;
	refused(a, "--threshold and --reject-rate go with --reject entropy|confidence");
	a = base();
	a.rate = 0;
	refused(a, "--threshold and --reject-rate go with --reject entropy|confidence");
}

static void test_sweeps_and_repeats(void **state)
{
	(void)state;
	rml_error err = { 0 };
	rml_eval_args a = base();
	a.sweep = "bits";
	assert_int_equal(rml_eval_args_check(&a, &err), RML_OK);
	assert_int_equal(a.repeat, 10);   /* a sweep repeats 10 times by default */
	a = base();
	a.sweep = "bits";
	a.repeat = 3;
	assert_int_equal(rml_eval_args_check(&a, &err), RML_OK);
	assert_int_equal(a.repeat, 3);
	a = base();
	a.sweep = "tensors";
	a.reject = RML_REJECT_CONFIDENCE;
	a.rate = 0.1;
	refused(a, "--sweep needs a model and data, and no rejection");
	a = base();
	a.model = a.data = NULL;
	a.preds = "p.rml";
	a.sweep = "tensors";
	refused(a, "--sweep needs a model and data, and no rejection");
	a = base();
	a.sweep = "rates";
	refused(a, "--sweep rates needs --rates LIST");
	a.n_rates = 1;
	assert_int_equal(rml_eval_args_check(&a, &err), RML_OK);
	a = base();
	a.plot = "x.png";
	refused(a, "--plot goes with --sweep");
	/* A fault option alone: one repetition. */
	a = base();
	a.fault = 1;
	assert_int_equal(rml_eval_args_check(&a, &err), RML_OK);
	assert_int_equal(a.repeat, 1);
	a = base();
	a.model = a.data = NULL;
	a.preds = "p.rml";
	a.fault = 1;
	refused(a, "--repeat needs a model and data, not a predictions file");
	a.fault = 0;
	a.repeat = 4;
	refused(a, "--repeat needs a model and data, not a predictions file");
	a.repeat = 0;
	a.no_calib = 1;
	refused(a, "--no-calibration needs a model, not a predictions file");
	a = base();
	a.spec.unit = RML_FAULT_UNIT_BER;
	a.spec.model = RML_FAULT_ZERO;
	refused(a, "--ber needs a bit-level fault (bitflip, stuck0, stuck1)");
	a.spec.model = RML_FAULT_STUCK1;
	assert_int_equal(rml_eval_args_check(&a, &err), RML_OK);
}

static void test_compare(void **state)
{
	(void)state;
	rml_error err = { 0 };
	rml_eval_args a = base();
	a.n_rules = 1;
	refused(a, "--promote-if and --bootstrap go with --compare");
	a.n_rules = 0;
	a.n_boot = 0;
	refused(a, "--promote-if and --bootstrap go with --compare");
	a.against = "b.rml";
	assert_int_equal(rml_eval_args_check(&a, &err), RML_OK);
	const char *no = "--compare does not take --sweep, --per-class, -P or --binning mass";
	rml_eval_args b = a;
	b.sweep = "bits";
	refused(b, no);
	b = a;
	b.per_class = 1;
	refused(b, no);
	b = a;
	b.preds_out = "p.rml";
	refused(b, no);
	b = a;
	b.binning = RML_BINS_MASS;
	refused(b, no);
	b = a;
	b.adapters = "ad.rml";
	refused(b, "--compare does not take --adapter-file yet");
}

static void test_rates(void **state)
{
	(void)state;
	rml_error err = { 0 };
	rml_eval_args a = base();
	assert_int_equal(rml_eval_rates_parse(&a, "0,0.5,1", &err), RML_OK);
	assert_int_equal(a.n_rates, 3);
	assert_true(a.rates[0] == 0 && a.rates[1] == 0.5 && a.rates[2] == 1);
	assert_int_equal(rml_eval_rates_parse(&a, "", &err), RML_OK);
	assert_int_equal(a.n_rates, 0);
	assert_int_equal(rml_eval_rates_parse(&a, "1e-3,", &err), RML_OK);
	assert_int_equal(a.n_rates, 1);
	const char *bad[] = { "1.5", "0.1,,0.2", "x", "0.1;0.2", "nan", "-0.1", "0.2 " };
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		assert_int_equal(rml_eval_rates_parse(&a, bad[i], &err), RML_ERR_ARG);
		assert_string_equal(err.msg, "--rates wants numbers in [0,1] separated by commas");
	}
	/* The first RML_EVAL_RATES_MAX only. */
	char many[4 * (RML_EVAL_RATES_MAX + 6)] = "";
	for (int i = 0; i < RML_EVAL_RATES_MAX + 5; i++)
		strcat(many, i ? ",0.5" : "0.5");
	assert_int_equal(rml_eval_rates_parse(&a, many, &err), RML_OK);
	assert_int_equal(a.n_rates, RML_EVAL_RATES_MAX);
}

static void test_opts(void **state)
{
	(void)state;
	rml_eval_args a = base();
	a.reject = RML_REJECT_ENTROPY;
	a.threshold = 0.7;
	a.rate = 0.2;
	a.bins = 20;
	a.binning = RML_BINS_MASS;
	rml_eval_opts o = rml_eval_args_opts(&a);
	assert_int_equal(o.reject, RML_REJECT_ENTROPY);
	assert_true(o.threshold == 0.7 && o.rate == 0.2);
	assert_int_equal(o.bins, 20);
	assert_int_equal(o.binning, RML_BINS_MASS);
	assert_int_equal(o.keep, 0);
	/* No rule: no rate; a predictions file keeps its own rejections
	 * unless --reject is given. */
	a.reject = RML_REJECT_NONE;
	a.preds = "p.rml";
	o = rml_eval_args_opts(&a);
	assert_true(o.rate == -1);
	assert_int_equal(o.keep, 1);
	a.reject_given = 1;
	assert_int_equal(rml_eval_args_opts(&a).keep, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_inputs),
		cmocka_unit_test(test_rejection),
		cmocka_unit_test(test_sweeps_and_repeats),
		cmocka_unit_test(test_compare),
		cmocka_unit_test(test_rates),
		cmocka_unit_test(test_opts),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
