/*
 * monitor_args.c — rmlops-monitor's combinations of options and inputs
 * (monitor_args.h). The wording is the program's.
 */
#include "monitor_args.h"

#include <string.h>

static int is_stdin(const char *path)
{
	return path && strcmp(path, "-") == 0;
}

rml_status rml_monitor_args_check(const rml_monitor_args *a, rml_error *err)
{
	const char *cmd = a->cmd;
	int watch = strcmp(cmd, "watch") == 0, auroc = strcmp(cmd, "auroc") == 0;
	if (!watch && (!a->model || !a->data))
		return rml_errorf(err, RML_ERR_ARG, "%s needs -m MODEL and -d DATA", cmd);
	const char *msg = NULL;
	if (auroc && !a->ood)
		msg = "auroc needs --ood DATA";
	else if (!auroc && (a->ood || a->ood_model))
		msg = "--ood and --ood-model belong to auroc";
	else if (!watch && (a->textfile || a->plot || a->n_alerts))
		msg = "--textfile, --plot and --alert belong to watching";
	else if (watch && (a->data || a->output))
		msg = "watching reads FILE arguments, not -d or -o";
	else if (strcmp(cmd, "fit") != 0 && (a->quantile > 0 || a->rare >= 0))
		msg = "--quantile and --rare belong to fit";
	else if (is_stdin(a->plot))
		msg = "--plot needs a file: standard output carries the windows";
	else if (is_stdin(a->textfile))
		msg = "--textfile needs a file: standard output carries the windows";
	if (msg)
		return rml_errorf(err, RML_ERR_ARG, "%s", msg);
	int stdin_uses = is_stdin(a->model) + is_stdin(a->data) + is_stdin(a->ood) + is_stdin(a->ood_model);
	for (int i = 0; i < a->n_files; i++)
		stdin_uses += is_stdin(a->files[i]);
	if (watch && a->n_files == 0)
		stdin_uses++;
	if (stdin_uses > 1)
		return rml_errorf(err, RML_ERR_ARG, "only one input can come from standard input");
	return RML_OK;
}
