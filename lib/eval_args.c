/*
 * eval_args.c — rmlops-eval's options judged together, and the --rates
 * list (see eval_args.h). The messages are the program's documented
 * behaviour: a change here changes what users see.
 */
#include "eval_args.h"

#include <stdlib.h>
#include <string.h>

/* What each mode needs or refuses, in the order the program has always
 * checked them: the first that holds is the message. */
rml_status rml_eval_args_check(rml_eval_args *a, rml_error *err)
{
	const int rejects = a->reject != RML_REJECT_NONE;
	const char *msg = NULL;
	if (a->preds && (a->model || a->data))
		msg = "give either -p PREDICTIONS or -m MODEL -d DATA";
	else if (!a->preds && (!a->model || !a->data))
		msg = "give -m MODEL and -d DATA (or -p PREDICTIONS)";
	else if (a->model && a->data && !strcmp(a->model, "-") && !strcmp(a->data, "-"))
		msg = "model and data cannot both come from standard input";
	else if (rejects && !a->have_threshold && a->rate < 0)
		msg = "--reject needs --threshold T or --reject-rate R";
	else if (!rejects && (a->have_threshold || a->rate >= 0))
		msg = "--threshold and --reject-rate go with --reject entropy|confidence";
	else if (a->sweep && (a->preds || rejects))
		msg = "--sweep needs a model and data, and no rejection";
	else if (a->sweep && !strcmp(a->sweep, "rates") && !a->n_rates)
		msg = "--sweep rates needs --rates LIST";
	else if (a->plot && !a->sweep)
		msg = "--plot goes with --sweep";
	if (msg)
		return rml_errorf(err, RML_ERR_ARG, "%s", msg);
	if (a->sweep && !a->repeat)
		a->repeat = 10;
	if (a->fault && !a->repeat)
		a->repeat = 1;
	if (a->repeat && a->preds)
		msg = "--repeat needs a model and data, not a predictions file";
	else if (a->no_calib && a->preds)
		msg = "--no-calibration needs a model, not a predictions file";
	else if (a->spec.unit == RML_FAULT_UNIT_BER && a->spec.model >= RML_FAULT_ZERO)
		msg = "--ber needs a bit-level fault (bitflip, stuck0, stuck1)";
	else if ((a->n_rules || a->n_boot >= 0) && !a->against)
		msg = "--promote-if and --bootstrap go with --compare";
	else if (a->against && (a->sweep || a->per_class || a->preds_out || a->binning == RML_BINS_MASS))
		msg = "--compare does not take --sweep, --per-class, -P or --binning mass";
	else if (a->against && a->adapters)
		msg = "--compare does not take --adapter-file yet";
	return msg ? rml_errorf(err, RML_ERR_ARG, "%s", msg) : RML_OK;
}

rml_status rml_eval_rates_parse(rml_eval_args *a, const char *s, rml_error *err)
{
	char *end;
	a->n_rates = 0;
	while (*s && a->n_rates < RML_EVAL_RATES_MAX) {
		double v = strtod(s, &end);
		if (end == s || !(v >= 0 && v <= 1) || (*end && *end != ','))
			return rml_errorf(err, RML_ERR_ARG, "--rates wants numbers in [0,1] separated by commas");
		a->rates[a->n_rates++] = v;
		s = *end ? end + 1 : end;
	}
	return RML_OK;
}

rml_eval_opts rml_eval_args_opts(const rml_eval_args *a)
{
	rml_eval_opts o = { a->reject, a->threshold, a->reject == RML_REJECT_NONE ? -1 : a->rate,
			    !a->reject_given && a->preds, (int)a->bins, a->binning };
	return o;
}
