/*
 * monitor_help.h — the help text of rmlops-monitor (rmlops-monitor --help), kept
 * apart from the program's code; rmlops-monitor(1) says the same at length.
 * Included by cmd/rmlops-monitor.c only.
 */
#ifndef RML_MONITOR_HELP_H
#define RML_MONITOR_HELP_H

#define MONITOR_USAGE \
	"Usage: rmlops-monitor [OPTIONS] [FILE...]        watch a stream\n" \
	"       rmlops-monitor fit -m MODEL -d DATA [-o OUTPUT] [--quantile Q] [--rare R]\n" \
	"       rmlops-monitor score -m MODEL -d DATA\n" \
	"       rmlops-monitor auroc -m MODEL -d DATA --ood DATA [--ood-model MODEL] [--json]\n" \
	"Watch a deployed model's inputs window by window; fit and use the rare\n" \
	"co-activation statistics behind its drift score.\n" \
	"\n" \
	"Watching (FILEs are predictions files, or datasets run through -m MODEL;\n" \
	"a FILE may hold several files one after another; default: standard input):\n" \
	"  -m, --model FILE         run datasets through this model (its calibrator,\n" \
	"                           rejection rule and co-activation statistics)\n" \
	"      --window N           inputs per window (default 500)\n" \
	"      --step N             inputs between windows (default: the window)\n" \
	"      --textfile PATH      the last window's metrics in the Prometheus text\n" \
	"                           format, replaced atomically after every window\n" \
	"      --stage NAME         the stage label of the metrics (default production)\n" \
	"      --alert NAME=VALUE   alert when a window's value crosses VALUE: entropy,\n" \
	"                           reject_rate, coact_score, coact_rare_rate (above),\n" \
	"                           accuracy (below); repeatable\n" \
	"      --plot PNG           a dashboard of the windows at the end\n" \
	"Fitting and scoring co-activations:\n" \
	"  -d, --data FILE          in-distribution data (fit), data to score\n" \
	"  -o, --output FILE        the model with its statistics (fit; default stdout)\n" \
	"      --quantile Q         a unit is active above this quantile of its\n" \
	"                           in-distribution values (default 0.9)\n" \
	"      --rare R             a pair is rare when active together on at most\n" \
	"                           this share of the in-distribution data (default 0.002)\n" \
	"      --ood FILE           out-of-distribution data (auroc)\n" \
	"      --ood-model FILE     run --ood through this model instead (a faulty copy)\n" \
	"Common:\n" \
	"      --batch N            batch size of the model (default 100)\n" \
	"  -j, --threads N          worker threads (default: all cores)\n" \
	"      --json               auroc: one JSON object\n" \
	"  -q, --quiet              no messages;  -v, --verbose  more\n" \
	"  -h, --help               this help;  -V, --version  the version\n" \
	"\n" \
	"Exit status: 0 fine, 1 failure, 2 usage, 3 a window crossed an alert threshold.\n" \
	"Example: rmlops-monitor -m deployed.rml --window 200 --textfile /var/lib/node_exporter/rmlops.prom \\\n" \
	"           --alert coact_rare_rate=0.4 batch-*.rml\n"

#endif
