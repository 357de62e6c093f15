/*
 * rmlops-inject — inject faults into a model's weights and write the faulty
 * model, so it pipes into rmlops-eval or any other program. The placement
 * and the fault models are lib/inject.c; the gradient scores for grad-topk
 * and the log, keys and summary of an injection come from
 * lib/inject_model.c.
 */
#include <getopt.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "calib_model.h"
#include "cli.h"
#include "inject_model.h"
#include "inject.h"
#include "classes.h"
#include "model.h"
#include "outtext.h"

struct cmdline {
	const char *model, *data, *output, *log, *adapters;
	const char *target;
	rml_fault_spec spec;
	cli_common com;
	int64_t batch;
	unsigned given;   /* G_RATE, G_BER */
};

static const char usage_text[] =
	"Usage: rmlops-inject [OPTIONS] [-m MODEL] [-o OUTPUT]\n"
	"Inject faults into the weights of a model and write the faulty model.\n"
	"\n"
	"Where faults go (one of):\n"
	"  --unit tensor --rate R   a fraction R of the weight tensors, one fault in each\n"
	"                           (the default: tensor, rate 0.1)\n"
	"  --unit weight --rate R   a fraction R of all weights, one fault each\n"
	"  --unit grad-topk --rate R  the fraction R of weights with the largest\n"
	"                           |d loss / d w| over --data, one fault each\n"
	"  --ber P                  every allowed bit independently with probability P\n"
	"What a fault does:\n"
	"  --fault MODEL            bitflip (default), stuck0, stuck1, zero, random\n"
	"  --bits BITS              any (default), sign, exponent, mantissa, or a list\n"
	"                           of bit positions such as 30,31\n"
	"  --target WHAT            parameter groups (theta, omega, phi, W, adapters,\n"
	"                           all), kernels (theta's convolution and linear\n"
	"                           kernels only) or a tensor-name pattern with * and ?;\n"
	"                           a comma list mixes them (default: theta, every\n"
	"                           base tensor including biases and norm parameters)\n"
	"Inputs and outputs:\n"
	"  -m, --model FILE         the model (default: standard input)\n"
	"  -a, --adapter-file FILE  adapters for the model (as rmlops-tta -o writes them),\n"
	"                           refused unless made for this base model\n"
	"  -d, --data FILE          dataset for grad-topk scores\n"
	"  -o, --output FILE        the faulty model (default: standard output)\n"
	"      --log FILE           one JSON line per fault: tensor, index, bit, old, new\n"
	"      --batch N            batch size for gradient scores (default 128)\n"
	"  -s, --seed N             seed of every random choice (default 1)\n"
	"  -j, --threads N          worker threads (default: all cores)\n"
	"      --json               a JSON report on standard error\n"
	"  -q, --quiet              no report\n"
	"  -h, --help               this help;  -V, --version  the version\n"
	"\n"
	"Example: rmlops-inject --unit tensor --rate 0.1 -s 7 < base.rml | rmlops-eval -m - -d test.rml\n";

enum { O_UNIT = 256, O_RATE, O_BER, O_FAULT, O_BITS, O_TARGET, O_LOG, O_BATCH };
enum { G_RATE = 1, G_BER = 2 };

#define F(f) offsetof(struct cmdline, f)
static const cli_number_option numbers[] = {
	{ O_RATE, "--rate", 'd', 0, 1, F(spec.rate), G_RATE },
	{ O_BER, "--ber", 'd', 0, 1, F(spec.rate), G_BER },
	{ O_BATCH, "--batch", 'l', 1, 65536, F(batch), 0 },
	{ 0 },
};
#undef F

static int parse_args(int argc, char **argv, struct cmdline *c)
{
	static const struct option opts[] = {
		{ "model", required_argument, 0, 'm' }, { "adapter-file", required_argument, 0, 'a' },
		{ "data", required_argument, 0, 'd' },
		{ "output", required_argument, 0, 'o' },
		{ "unit", required_argument, 0, O_UNIT },
		{ "rate", required_argument, 0, O_RATE },
		{ "ber", required_argument, 0, O_BER },
		{ "fault", required_argument, 0, O_FAULT },
		{ "bits", required_argument, 0, O_BITS },
		{ "target", required_argument, 0, O_TARGET },
		{ "log", required_argument, 0, O_LOG },
		{ "batch", required_argument, 0, O_BATCH },
		CLI_OPTS_ALL, { 0, 0, 0, 0 },
	};
	rml_error err = { 0 };
	int o;
	while ((o = getopt_long(argc, argv, "m:a:d:o:" CLI_SHORT_ALL, opts, NULL)) != -1) {
		int r = cli_option(o, optarg, &c->com, numbers, c, &c->given);
		if (r != CLI_OPT_OTHER) {
			if (r)
				return r;
			continue;
		}
		switch (o) {
		case 'm': c->model = optarg; break;
		case 'a': c->adapters = optarg; break;
		case 'd': c->data = optarg; break;
		case 'o': c->output = optarg; break;
		case O_UNIT:
			if (rml_fault_unit_parse(optarg, &c->spec.unit, &err))
				return cli_usage_error("%s", err.msg);
			if (c->spec.unit == RML_FAULT_UNIT_BER)
				return cli_usage_error("give a bit error rate with --ber P");
			break;
		case O_FAULT:
			if (rml_fault_model_parse(optarg, &c->spec.model, &err))
				return cli_usage_error("%s", err.msg);
			break;
		case O_BITS:
			if (rml_fault_bits_parse(optarg, &c->spec.bits, &err))
				return cli_usage_error("%s", err.msg);
			break;
		case O_TARGET: c->target = optarg; break;
		case O_LOG: c->log = optarg; break;
		default: return cli_usage_error("unknown option");
		}
	}
	if (optind < argc)
		return cli_usage_error("unexpected argument '%s'", argv[optind]);
	if ((c->given & G_BER) && (c->given & G_RATE))
		return cli_usage_error("--ber and --rate exclude each other");
	if (c->given & G_BER)
		c->spec.unit = RML_FAULT_UNIT_BER;
	if (c->spec.unit == RML_FAULT_UNIT_BER && c->spec.model >= RML_FAULT_ZERO)
		return cli_usage_error("--ber needs a bit-level fault (bitflip, stuck0, stuck1)");
	if (c->spec.unit == RML_FAULT_UNIT_GRAD_TOPK && !c->data)
		return cli_usage_error("--unit grad-topk needs --data for the gradients");
	if (c->data && c->model && strcmp(c->data, "-") == 0 && strcmp(c->model, "-") == 0)
		return cli_usage_error("model and data cannot both come from standard input");
	return 0;
}

int main(int argc, char **argv)
{
	cli_init("rmlops-inject", argc, argv);
	struct cmdline c = {
		.model = "-", .output = "-", .target = "theta",
		.spec = { RML_FAULT_BITFLIP, RML_FAULT_UNIT_TENSOR, 0.1, RML_BITS_ANY },
		.com = { .help = usage_text, .seed = 1 }, .batch = 128,
	};
	int st = parse_args(argc, argv, &c);
	if (st)
		return st < 0 ? cli_finish(CLI_EXIT_OK) : st;
	if (cli_check_output(c.output))
		return CLI_EXIT_USAGE;
	{
		const char *outs[] = { c.output, c.log };
		const char *opts[] = { "-o", "--log" };
		const char *ins[] = { c.model, c.adapters, c.data };
		if ((st = cli_check_outputs(outs, opts, 2, ins, 3)) != 0)
			return cli_finish(st);
	}
	cli_common_threads(&c.com);

	rml_error err = { 0 };
	rml_file in, out;
	rml_file_init(&in);
	rml_file_init(&out);
	rml_model *m = NULL;
	rml_fault_targets tg = { 0 };
	rml_fault_log log;
	rml_fault_log_init(&log);
	int status = CLI_EXIT_FAIL;

	if (cli_load_model(&m, c.model, c.adapters, &err) ||
	    rml_fault_targets_select(&tg, m, c.target, &err))
		goto done;
	if (c.spec.unit == RML_FAULT_UNIT_GRAD_TOPK) {
		rml_dataset d;
		rml_dataset_init(&d);
		rml_status s = cli_load_dataset(&d, c.data, "data", &err);
		if (!s)
			s = rml_dataset_fit_model(&d, m, 1, c.data, &err);
		if (!s)
			s = rml_fault_targets_grad_scores(&tg, m, &d, c.batch, &err);
		rml_dataset_free(&d);
		if (s)
			goto done;
	}
	rml_rng rng;
	rml_rng_seed(&rng, (uint64_t)c.com.seed);
	if (rml_inject(&c.spec, tg.t, tg.n, &rng, &log, &err))
		goto done;
	rml_outbuf text;
	rml_outbuf_init(&text);
	if (c.log)
		rml_fault_log_text(&text, &tg, &log);
	rml_status s = c.log ? rml_outbuf_save(&text, c.log, &err) : RML_OK;
	rml_outbuf_free(&text);
	if (s || rml_model_to_file(m, &out, &err) || rml_fault_file_keys(&out, &c.spec, &log) ||
	    cli_save(&out, c.output, c.com.seed, &err))
		goto done;
	if (c.com.json || cli_verbosity > 0) {
		rml_fault_report_text(&text, c.com.json, &c.spec, &tg, &log, c.com.seed);
		if (c.com.json)
			fputs(rml_out_str(&text), stderr);
		else
			cli_msg("%s", rml_out_str(&text));
		rml_outbuf_free(&text);
	}
	status = CLI_EXIT_OK;
done:
	if (status != CLI_EXIT_OK)
		cli_fail(&err);
	rml_fault_log_free(&log);
	rml_fault_targets_free(&tg);
	rml_model_free(m);
	rml_file_free(&in);
	rml_file_free(&out);
	return cli_finish(status);
}
