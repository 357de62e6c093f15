/*
 * monitor_args.h — which of rmlops-monitor's options and inputs go
 * together: each command (fit, score, auroc, or watching a stream) takes
 * its own, and at most one input may come from standard input. The
 * messages are the program's usage messages.
 *
 * Not here: parsing the command line and each value's bounds (the
 * program's option table), watching (monitor_watch.h), co-activations
 * (coact.h).
 */
#ifndef RML_MONITOR_ARGS_H
#define RML_MONITOR_ARGS_H

#include "rml.h"

/* What the command line gave: the command, the files ("-" is standard
 * input; NULL not given), watching's FILE arguments, how many --alert,
 * and fit's parameters (quantile > 0 and rare >= 0 when given). */
typedef struct {
	const char *cmd;   /* "fit", "score", "auroc" or "watch" */
	const char *model, *data, *output, *ood, *ood_model, *textfile, *plot;
	char *const *files;
	int n_files, n_alerts;
	double quantile, rare;
} rml_monitor_args;

/* RML_OK when a's options belong to its command (FILE arguments only to
 * watching: the program refuses them, naming the first), else
 * RML_ERR_ARG with the first of these messages that applies, in this
 * order: "CMD needs
 * -m MODEL and -d DATA", "auroc needs --ood DATA", "--ood and --ood-model
 * belong to auroc", "--textfile, --plot and --alert belong to watching",
 * "watching reads FILE arguments, not -d or -o", "--quantile and --rare
 * belong to fit", "--plot needs a file: standard output carries the
 * windows" (and the same for --textfile), "only one input can come from
 * standard input" (watching without FILE reads standard input). */
rml_status rml_monitor_args_check(const rml_monitor_args *a, rml_error *err);

#endif
