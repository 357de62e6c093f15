/*
 * rmlops-inject — inject faults into a model's weights and write the faulty
 * model, so it pipes into rmlops-eval or any other program. The placement
 * and the fault models are lib/inject.c; the gradient scores for grad-topk
 * and the log, keys and summary of an injection come from
 * lib/inject_model.c.
 */
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

enum { O_UNIT = 1, O_FAULT, O_BITS };
enum { G_RATE = 1, G_BER = 2 };

#define F(f) offsetof(struct cmdline, f)
static const cli_opt options[] = {
	CLI_MODEL_IO(F(model), F(adapters), F(data), F(output)),
	CLI_CALL("unit", 0, O_UNIT),
	CLI_F64("rate", 0, F(spec.rate), 0, 1, .bit = G_RATE),
	CLI_F64("ber", 0, F(spec.rate), 0, 1, .bit = G_BER),
	CLI_CALL("fault", 0, O_FAULT),
	CLI_CALL("bits", 0, O_BITS),
	CLI_STR("target", 0, F(target)),
	CLI_STR("log", 0, F(log)),
	CLI_I64("batch", 0, F(batch), 1, 65536),
	CLI_SHARED_ALL,
	CLI_END,
};
#undef F

/* The fault's unit, model and bits, named by the library's parsers. */
static int option(void *base, const cli_opt *e, const char *arg)
{
	rml_fault_spec *spec = &((struct cmdline *)base)->spec;
	rml_error err = { 0 };
	switch (e->id) {
	case O_UNIT:
		if (rml_fault_unit_parse(arg, &spec->unit, &err))
			return cli_usage_error("%s", err.msg);
		if (spec->unit == RML_FAULT_UNIT_BER)
			return cli_usage_error("give a bit error rate with --ber P");
		break;
	case O_FAULT:
		if (rml_fault_model_parse(arg, &spec->model, &err))
			return cli_usage_error("%s", err.msg);
		break;
	case O_BITS:
		if (rml_fault_bits_parse(arg, &spec->bits, &err))
			return cli_usage_error("%s", err.msg);
		break;
	}
	return 0;
}

static int parse_args(int argc, char **argv, struct cmdline *c)
{
	const cli_parser p = { options, c, &c->com, option, &c->given };
	int st = cli_parse_args(&p, argc, argv);
	if (st)
		return st;
	if ((st = cli_no_operands(argc, argv)) != 0)
		return st;
	if ((c->given & G_BER) && (c->given & G_RATE))
		return cli_usage_error("--ber and --rate exclude each other");
	if (c->given & G_BER)
		c->spec.unit = RML_FAULT_UNIT_BER;
	if (c->spec.unit == RML_FAULT_UNIT_BER && c->spec.model >= RML_FAULT_ZERO)
		return cli_usage_error("--ber needs a bit-level fault (bitflip, stuck0, stuck1)");
	if (c->spec.unit == RML_FAULT_UNIT_GRAD_TOPK && !c->data)
		return cli_usage_error("--unit grad-topk needs --data for the gradients");
	const char *ins[] = { c->model, c->data }, *opts[] = { "-m", "-d" };
	return cli_check_stdin(ins, opts, 2);
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
	const char *outs[] = { c.output, c.log }, *opts[] = { "-o", "--log" };
	const char *ins[] = { c.model, c.adapters, c.data };
	if ((st = cli_check_all_outputs(outs, opts, 2, 1, ins, 3)) != 0)
		return cli_finish(st);
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
		rml_status s = cli_load_dataset_fit(&d, c.data, "data", m, 1, &err);
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
	if (!s && (s = rml_model_to_file(m, &out, &err)) == RML_OK)
		s = rml_fault_file_keys(&out, &c.spec, &log);
	if (cli_save_made(&out, s, c.output, c.com.seed, &err))
		goto done;
	if (c.com.json || cli_verbosity > 0) {
		rml_fault_report_text(&text, c.com.json, &c.spec, &tg, &log, c.com.seed);
		cli_report(rml_out_str(&text), c.com.json);
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
