/*
 * rmlops-calibrate — post-hoc calibration of a model's confidence on
 * augmented in-distribution data and Soft Brownian Offset
 * out-of-distribution data; writes the model with the calibrator and a
 * rejection threshold inside, and reports calibration measures before and
 * after (optionally on held-out data), with reliability diagrams and a
 * risk-coverage chart. The pipeline is lib/calibrate.c, the report's
 * wording lib/calibrate_report.c; this file parses, loads and saves.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "calibrate.h"
#include "calibrate_report.h"
#include "classes.h"
#include "cli.h"
#include "outtext.h"

struct cmdline {
	const char *model, *data, *output, *test, *test_ood, *save_ood, *plot, *rc_plot, *adapters;
	rml_calibrate_opts o;
	cli_common com;
	unsigned given;   /* G_RATE, G_COV */
};

static const char help[] =
	"Usage: rmlops-calibrate -m MODEL -d DATA [-o OUTPUT] [OPTIONS]\n"
	"Calibrate a model's confidence on augmented copies of DATA and generated\n"
	"out-of-distribution images; write the model with the calibrator inside.\n"
	"\n"
	"  -m, --model FILE        the model ('-' = standard input)\n"
	"  -a, --adapter-file FILE adapters for the model (as rmlops-tta -o writes them),\n"
	"                          refused unless made for this base model\n"
	"  -d, --data FILE         labelled calibration images\n"
	"  -o, --output FILE       the calibrated model (default standard output)\n"
	"Method:\n"
	"      --method NAME       bbq (default), hist-width, hist-mass, isotonic,\n"
	"                          temperature, beta\n"
	"      --ensemble          BBQ: Bayesian average over bin counts\n"
	"      --bins N            bins of BBQ and histogram binning (default 10)\n"
	"      --compare           fit every method and print a table of measures\n"
	"Calibration data:\n"
	"      --per-class N       augmented copies per class (default 300; 0: DATA as is)\n"
	"      --ood SOURCE        sbo-latent (default), sbo-pixel, none\n"
	"      --ood-count N       out-of-distribution images (default: as many as one class)\n"
	"      --sbo-dmin D        minimum distance to the data (default 25)\n"
	"      --sbo-offset L      offset distance of one step (default 20)\n"
	"      --sbo-softness S    softness of the acceptance (default 0: hard)\n"
	"      --ae-epochs N       autoencoder training epochs (default 10)\n"
	"      --save-ood FILE     the out-of-distribution images as a dataset\n"
	"Rejection threshold stored with the calibrator:\n"
	"      --reject RULE       entropy (default), confidence, none\n"
	"      --reject-max-rate R maximise ACC2 rejecting at most R (default 0.1)\n"
	"      --coverage C        or keep the fraction C of the calibration data\n"
	"Measures:\n"
	"      --test FILE         measure before and after on held-out labelled images\n"
	"      --test-ood FILE     real out-of-distribution images for the test AUROC\n"
	"      --eval-bins N       bins of ECE, MCE and ACE (default 15)\n"
	"      --plot FILE         reliability diagrams before and after (PNG)\n"
	"      --risk-coverage FILE  risk-coverage curves before and after (PNG)\n"
	"Other:\n"
	"      --batch N           batch size of the model (default 128)\n"
	"  -s, --seed N            seed of augmentation, autoencoder and sampling (default 1)\n"
	"  -j, --threads N         worker threads (default: all cores)\n"
	"      --json              the report as one JSON object\n"
	"  -q, --quiet / -v, --verbose;  -h, --help;  -V, --version\n"
	"\n"
	"The report goes to standard output, or to standard error when the model does.\n"
	"Example: rmlops-calibrate -m base.rml -d val.rml --test test.rml -o calibrated.rml\n";

enum { O_METHOD = 1, O_OOD, O_REJECT };
enum { G_RATE = 1, G_COV = 2 };

#define F(f) offsetof(struct cmdline, f)
static const cli_opt options[] = {
	CLI_MODEL_IO(F(model), F(adapters), F(data), F(output)),
	CLI_CALL("method", 0, O_METHOD),
	CLI_FLAG("ensemble", 0, F(o.calib.bbq_ensemble)),
	CLI_INT("bins", 0, F(o.calib.n_bins), 1, 10000),
	CLI_FLAG("compare", 0, F(o.compare)),
	CLI_I64("per-class", 0, F(o.per_class), 0, 1000000),
	CLI_CALL("ood", 0, O_OOD),
	CLI_I64("ood-count", 0, F(o.ood_count), 0, 10000000),
	CLI_F64("sbo-dmin", 0, F(o.sbo.d_min), 1e-9, 1e9),
	CLI_F64("sbo-offset", 0, F(o.sbo.d_off), 1e-9, 1e9),
	CLI_F64("sbo-softness", 0, F(o.sbo.softness), 0, 1e9),
	CLI_INT("ae-epochs", 0, F(o.ae_epochs), 1, 10000),
	CLI_STR("save-ood", 0, F(save_ood)),
	CLI_CALL("reject", 0, O_REJECT),
	CLI_F64("reject-max-rate", 0, F(o.max_rate), 0, 0.999999, .bit = G_RATE),
	CLI_F64("coverage", 0, F(o.coverage), 1e-9, 1, .bit = G_COV),
	CLI_STR("test", 0, F(test)),
	CLI_STR("test-ood", 0, F(test_ood)),
	CLI_INT("eval-bins", 0, F(o.eval_bins), 1, 100),
	CLI_STR("plot", 0, F(plot)),
	CLI_STR("risk-coverage", 0, F(rc_plot)),
	CLI_I64("batch", 0, F(o.batch), 1, 65536),
	CLI_SHARED_ALL,
	CLI_END,
};
#undef F

/* --method, --ood and --reject, named by the library's parsers. */
static int option(void *base, const cli_opt *e, const char *arg)
{
	rml_calibrate_opts *p = &((struct cmdline *)base)->o;
	rml_error err = { 0 };
	switch (e->id) {
	case O_METHOD:
		if (rml_calib_method_parse(arg, &p->method, &err))
			return cli_usage_error("--method: %s", err.msg);
		break;
	case O_OOD:
		if (rml_ood_space_parse(arg, &p->ood, &err))
			return cli_usage_error("--ood: %s", err.msg);
		break;
	case O_REJECT:
		if (rml_reject_rule_parse(arg, &p->reject))
			return cli_usage_error("--reject is entropy, confidence or none, not '%s'", arg);
		break;
	}
	return 0;
}

static int parse_args(int argc, char **argv, struct cmdline *c)
{
	rml_calibrate_opts *p = &c->o;
	const cli_parser parser = { options, c, &c->com, option, &c->given };
	int st = cli_parse_args(&parser, argc, argv);
	if (st)
		return st;
	if ((st = cli_no_operands(argc, argv)) != 0)
		return st;
	if (!c->model || !c->data)
		return cli_usage_error("give -m MODEL and -d DATA");
	const char *in[3] = { c->model, c->data, c->test }, *in_opts[3] = { "-m", "-d", "--test" };
	const char *out[3] = { c->output ? c->output : "-", c->plot, c->rc_plot };
	if ((st = cli_check_stdin(in, in_opts, 3)) != 0)
		return st;
	for (int i = 1; i < 3; i++)
		if (out[i] && !strcmp(out[i], "-"))
			return cli_usage_error("pictures go to files, not standard output");
	if ((c->given & G_RATE) && (c->given & G_COV))
		return cli_usage_error("give --reject-max-rate or --coverage, not both");
	if (p->reject == RML_REJECT_NONE && (c->given & (G_RATE | G_COV)))
		return cli_usage_error("--reject-max-rate and --coverage need --reject entropy|confidence");
	if (p->calib.bbq_ensemble && p->method != RML_CALIB_BBQ && !p->compare)
		return cli_usage_error("--ensemble goes with --method bbq");
	if (p->ood == RML_OOD_NONE && (c->save_ood || p->ood_count > 0))
		return cli_usage_error("--save-ood and --ood-count need --ood sbo-latent|sbo-pixel");
	if (c->test_ood && !c->test)
		return cli_usage_error("--test-ood goes with --test");
	if (c->save_ood && !strcmp(c->save_ood, "-") && !strcmp(out[0], "-"))
		return cli_usage_error("the model and --save-ood cannot both go to standard output");
	return 0;
}

/* ---- main --------------------------------------------------------------------------- */

static void ae_progress(void *ctx, int epoch, int epochs, double mse)
{
	(void)ctx;
	cli_progress("autoencoder", epoch, epochs);
	cli_info("autoencoder epoch %d/%d: reconstruction MSE %.5f", epoch, epochs, mse);
}

/* Warn as soon as the copies are made; report (and save) the generated
 * images as soon as they exist. */
static rml_status on_stage(void *ctx, rml_calibrate_stage s, const rml_calibrate_result *r,
			   rml_error *err)
{
	const struct cmdline *c = ctx;
	if (s == RML_CALIBRATE_ID_READY) {
		if (r->n_present == 1)
			cli_msg("warning: the calibration data hold a single class");
		return RML_OK;
	}
	if (c->o.ood == RML_OOD_SBO_LATENT)
		cli_info("autoencoder: %lld latent dimensions, reconstruction MSE %.5f", (long long)r->ae_dim,
			 r->ae_mse);
	cli_info("%lld out-of-distribution images (%s) in %.1f s; distance to the data: min %.2f, mean %.2f",
		 (long long)r->ood.n, rml_ood_space_name(c->o.ood), r->ood_seconds, r->ood_min_dist,
		 r->ood_mean_dist);
	if (!c->save_ood)
		return RML_OK;
	rml_file sf;
	rml_file_init(&sf);
	return cli_save_made(&sf, rml_dataset_to_file(&r->ood, &sf, err), c->save_ood, c->com.seed, err);
}

static rml_status load_dataset(const char *path, const char *role, rml_dataset *d,
			       const rml_model *m, int need_labels, rml_error *err)
{
	if (need_labels)
		return cli_load_dataset_fit(d, path, role, m, 1, err);
	/* Out-of-distribution images carry classes of their own: their shape only. */
	rml_status st = cli_load_dataset(d, path, role, err);
	return st ? st : rml_dataset_fit_shape(d, m, path, err);
}

int main(int argc, char **argv)
{
	cli_init("rmlops-calibrate", argc, argv);
	struct cmdline c = { .com = { .help = help, .seed = 1 } };
	rml_calibrate_opts_default(&c.o);
	int st = parse_args(argc, argv, &c);
	if (st)
		return st < 0 ? cli_finish(CLI_EXIT_OK) : st;
	const char *outs[] = { c.output ? c.output : "-", c.save_ood, c.plot, c.rc_plot };
	const char *out_opts[] = { "-o", "--save-ood", "--plot", "--risk-coverage" };
	const char *ins[] = { c.model, c.adapters, c.data, c.test, c.test_ood };
	if ((st = cli_check_all_outputs(outs, out_opts, 4, c.save_ood ? 3 : 1, ins, 5)) != 0)
		return cli_finish(st);
	cli_common_threads(&c.com);
	FILE *rep = c.output && strcmp(c.output, "-") ? stdout : stderr;
	c.o.seed = (uint64_t)c.com.seed;
	c.o.data_name = c.data;
	c.o.ae_progress = ae_progress;
	c.o.stage = on_stage;
	c.o.ctx = &c;

	rml_error err = { 0 };
	rml_model *m = NULL;
	rml_dataset d, test, xood;
	rml_dataset_init(&d);
	rml_dataset_init(&test);
	rml_dataset_init(&xood);
	rml_calibrate_result r;
	rml_calibrate_result_init(&r);
	int status = CLI_EXIT_FAIL;
	/* Held-out inputs are read before the work, so that a bad one fails early. */
	if (cli_load_model(&m, c.model, c.adapters, &err) || load_dataset(c.data, "data", &d, m, 1, &err) ||
	    (c.test && load_dataset(c.test, "test", &test, m, 1, &err)) ||
	    (c.test_ood && load_dataset(c.test_ood, "test-ood", &xood, m, 0, &err)))
		goto done;
	if (rml_calibrate(m, &d, c.test ? &test : NULL, c.test_ood ? &xood : NULL, &c.o, &r, &err))
		goto done;
	rml_outbuf text;
	rml_outbuf_init(&text);
	if (c.com.json)
		rml_calibrate_report_json(&text, &c.o, &r);
	else if (cli_verbosity > 0)
		rml_calibrate_report_text(&text, &c.o, &r);
	if (c.o.compare && !c.com.json)
		rml_calibrate_report_compare(&text, &r);
	fputs(rml_out_str(&text), rep);
	rml_outbuf_free(&text);
	const rml_calibrate_set *shown = r.have_test ? &r.test : &r.calib;
	if (c.plot && rml_calibrate_reliability_png(c.plot, shown, c.o.eval_bins, &err))
		goto done;
	if (c.rc_plot && rml_calibrate_risk_coverage_png(c.rc_plot, shown, &err))
		goto done;
	if (cli_save_model(m, c.output ? c.output : "-", c.com.seed, &err))
		goto done;
	status = CLI_EXIT_OK;
done:
	if (status != CLI_EXIT_OK)
		cli_fail(&err);
	rml_calibrate_result_free(&r);
	rml_dataset_free(&d);
	rml_dataset_free(&test);
	rml_dataset_free(&xood);
	rml_model_free(m);
	return cli_finish(status);
}
