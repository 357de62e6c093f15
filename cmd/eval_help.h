/*
 * eval_help.h — the help text of rmlops-eval (rmlops-eval --help), kept
 * apart from the program's code; rmlops-eval(1) says the same at length.
 * Included by cmd/rmlops-eval.c only.
 */
#ifndef RML_EVAL_HELP_H
#define RML_EVAL_HELP_H

#define EVAL_USAGE \
	"Usage: rmlops-eval -m MODEL -d DATA [OPTIONS]\n" \
	"       rmlops-eval -p PREDICTIONS [OPTIONS]\n" \
	"       rmlops-eval (-m A -d DATA | -p A) --compare B [--promote-if RULE] [OPTIONS]\n" \
	"Measure a model on a dataset, or a predictions file.\n" \
	"\n" \
	"  -m, --model FILE        the model ('-' = standard input)\n" \
	"  -a, --adapter-file FILE adapters for the model (as rmlops-tta -o writes them),\n" \
	"                          refused unless made for this base model\n" \
	"  -d, --data FILE         the dataset\n" \
	"  -p, --predictions FILE  measure a predictions file instead\n" \
	"  -P, --write-predictions FILE  write the predictions (kind predictions)\n" \
	"Rejection (graceful degradation):\n" \
	"      --reject RULE       none (default), entropy, confidence\n" \
	"      --threshold T       reject above this entropy / below this confidence\n" \
	"      --reject-rate R     or reject the fraction R of most uncertain examples\n" \
	"      --no-calibration    measure the raw model, without the calibrator it carries\n" \
	"                          (and without its stored rejection rule)\n" \
	"Calibration error:\n" \
	"      --bins N            bins for ECE and MCE (default 15)\n" \
	"      --binning KIND      width (default) or mass\n" \
	"Fault injection, repeated (see rmlops-inject(1) for the meaning):\n" \
	"      --repeat N          N independent injections, mean/sd/95% CI of each metric\n" \
	"      --fault MODEL       bitflip (default), stuck0, stuck1, zero, random\n" \
	"      --unit UNIT         tensor (default), weight\n" \
	"      --rate R            (default 0.1);  --ber P instead of --unit/--rate\n" \
	"      --bits BITS         any, sign, exponent, mantissa, or positions\n" \
	"      --target WHAT       groups, kernels, or tensor patterns (default theta)\n" \
	"Vulnerability sweeps (each point --repeat times, default 10):\n" \
	"      --sweep KIND        tensors: one fault in each target tensor in turn;\n" \
	"                          bits: the fault at each bit position 0..31;\n" \
	"                          rates: the fault description at each --rates value\n" \
	"      --rates LIST        comma list of rates for --sweep rates\n" \
	"      --plot FILE         the sweep as a PNG chart\n" \
	"A/B comparison (B - A; exit 0 promote, 3 keep):\n" \
	"      --compare B         B: a model (with -m A -d DATA) or predictions (with -p A)\n" \
	"      --promote-if RULE   METRIC OP THRESHOLD, e.g. 'acc1 > +0.01' (acc1, acc2, ece;\n" \
	"                          > >= < <=), judged on the 95% CI bound; repeatable (all hold)\n" \
	"      --bootstrap N       paired bootstrap resamples (default 2000, seeded by -s)\n" \
	"Other:\n" \
	"      --per-class         accuracy of every class\n" \
	"      --batch N           batch size (default 128)\n" \
	"  -s, --seed N            seed of the injections (default 1)\n" \
	"  -j, --threads N         worker threads (default: all cores)\n" \
	"      --json              one JSON object on standard output\n" \
	"  -q, --quiet / -v, --verbose;  -h, --help;  -V, --version\n" \
	"\n" \
	"Example: rmlops-eval -m base.rml -d test.rml --reject entropy --reject-rate 0.1\n"

#endif
