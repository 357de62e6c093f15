/*
 * rmlops-tta — test-time adaptation and graceful degradation: adapt the
 * model to each test input (MEMO) or batch (TENT) without labels, predict,
 * and reject the inputs that stay too uncertain. Writes a predictions
 * file (entropy before and after adaptation, rejections) on standard
 * output for rmlops-eval -p; in continual mode, the adapted parameters
 * with -o. The adaptation is lib/tta.c, the rejection lib/metrics.c.
 */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "calib_model.h"
#include "cli.h"
#include "dataset.h"
#include "metrics.h"
#include "classes.h"
#include "model.h"
#include "tta.h"

struct cmdline {
	const char *model, *data, *output, *tune, *adapters;
	rml_tta_opts o;
	rml_reject_rule reject;
	double threshold, rate;
	int64_t seed, threads;
	int json, have_threshold, reject_given, have_batch, have_aug, have_mode, shuffle, no_calib;
};

static void usage(void)
{
	printf("Usage: rmlops-tta -m MODEL -d DATA [OPTIONS] > PREDICTIONS\n"
	       "Adapt a model to each test input without labels, predict, and reject\n"
	       "what stays uncertain. Writes a predictions file on standard output.\n"
	       "\n"
	       "Method:\n"
	       "      --method NAME       memo (default): entropy of the mean prediction over\n"
	       "                          augmented copies of each input; tent: mean entropy\n"
	       "                          of a batch, batch norm with batch statistics\n"
	       "      --mode MODE         episodic (default for memo): reset after each input\n"
	       "                          (tent: batch); continual (default for tent): keep\n"
	       "                          adapting along the stream\n"
	       "      --tune WHAT         parameter groups (phi, the default; e.g. phi,W) or bn\n"
	       "                          (the batch-norm scales and shifts)\n"
	       "      --aug-copies B      memo: augmented copies per input (default 8)\n"
	       "      --batch N           tent: batch size (default 128)\n"
	       "      --steps N           SGD steps per input or batch (default 1; 0 = none)\n"
	       "      --optimizer NAME    sgd (default) or adamw (also accepted: adam)\n"
	       "      --lr X              learning rate (default 0.001)\n"
	       "      --momentum X        SGD momentum (default 0)\n"
	       "      --shuffle           take the inputs in an order drawn from the seed (the\n"
	       "                          predictions stay in file order); for tent and\n"
	       "                          continual mode on files sorted by class\n"
	       "Rejection (graceful degradation), on the adapted prediction:\n"
	       "      --reject RULE       none (default), entropy, confidence\n"
	       "      --threshold T       reject above this entropy / below this confidence\n"
	       "      --reject-rate R     or reject the fraction R of most uncertain inputs\n"
	       "                          (default: the rule stored with the model's calibrator)\n"
	       "      --no-calibration    plain softmax, without the model's calibrator and its\n"
	       "                          stored rejection rule\n"
	       "Inputs and outputs:\n"
	       "  -m, --model FILE        the model (with adapters unless --tune bn)\n"
	       "  -a, --adapter-file FILE adapters for the model (as rmlops-tta -o writes them),\n"
	       "                          refused unless made for this base model\n"
	       "  -d, --data FILE         the test images ('-' = standard input)\n"
	       "  -o, --output FILE       continual mode: the adapted adapters (with --tune bn,\n"
	       "                          the adapted model)\n"
	       "  -s, --seed N            seed of the augmentations (default 1)\n"
	       "  -j, --threads N         worker threads (default: all cores)\n"
	       "      --json              the report as JSON on standard error\n"
	       "  -q, --quiet / -v, --verbose;  -h, --help;  -V, --version\n"
	       "\n"
	       "Example: rmlops-tta -m tuned.rml -d test.rml --reject entropy --threshold 1 \\\n"
	       "           > p.rml && rmlops-eval -p p.rml\n");
}

static int parse_args(int argc, char **argv, struct cmdline *c)
{
	enum {
		O_METHOD = 256, O_MODE, O_TUNE, O_AUG, O_BATCH, O_STEPS, O_LR, O_MOM, O_REJECT, O_THR,
		O_RATE, O_JSON, O_SHUFFLE, O_OPT, O_NO_CALIB,
	};
	static const struct option opts[] = {
		{ "model", required_argument, 0, 'm' }, { "adapter-file", required_argument, 0, 'a' }, { "data", required_argument, 0, 'd' },
		{ "output", required_argument, 0, 'o' }, { "seed", required_argument, 0, 's' },
		{ "threads", required_argument, 0, 'j' }, { "method", required_argument, 0, O_METHOD },
		{ "mode", required_argument, 0, O_MODE }, { "tune", required_argument, 0, O_TUNE },
		{ "aug-copies", required_argument, 0, O_AUG }, { "batch", required_argument, 0, O_BATCH },
		{ "steps", required_argument, 0, O_STEPS }, { "lr", required_argument, 0, O_LR },
		{ "momentum", required_argument, 0, O_MOM }, { "reject", required_argument, 0, O_REJECT },
		{ "threshold", required_argument, 0, O_THR }, { "reject-rate", required_argument, 0, O_RATE },
		{ "json", no_argument, 0, O_JSON }, { "quiet", no_argument, 0, 'q' },
		{ "shuffle", no_argument, 0, O_SHUFFLE }, { "optimizer", required_argument, 0, O_OPT },
		{ "no-calibration", no_argument, 0, O_NO_CALIB },
		{ "verbose", no_argument, 0, 'v' }, { "help", no_argument, 0, 'h' },
		{ "version", no_argument, 0, 'V' }, { 0, 0, 0, 0 },
	};
	rml_error err = { 0 };
	int64_t v;
	int o;
	while ((o = getopt_long(argc, argv, "m:a:d:o:s:j:qvhV", opts, NULL)) != -1) {
		switch (o) {
		case 'm': c->model = optarg; break;
		case 'a': c->adapters = optarg; break;
		case 'd': c->data = optarg; break;
		case 'o': c->output = optarg; break;
		case 's': if (cli_parse_i64("--seed", optarg, 0, INT64_MAX, &c->seed)) return 2; break;
		case 'j': if (cli_parse_i64("--threads", optarg, 1, 256, &c->threads)) return 2; break;
		case O_METHOD:
			if (!strcmp(optarg, "memo")) c->o.method = RML_TTA_MEMO;
			else if (!strcmp(optarg, "tent")) c->o.method = RML_TTA_TENT;
			else return cli_usage_error("--method is memo or tent, not '%s'", optarg);
			break;
		case O_MODE:
			if (!strcmp(optarg, "episodic")) c->o.continual = 0;
			else if (!strcmp(optarg, "continual")) c->o.continual = 1;
			else return cli_usage_error("--mode is episodic or continual, not '%s'", optarg);
			c->have_mode = 1;
			break;
		case O_TUNE:
			c->tune = optarg;
			if (!strcmp(optarg, "bn")) {
				c->o.tune = RML_TTA_TUNE_BN;
			} else {
				c->o.tune = RML_TTA_TUNE_GROUPS;
				if (rml_group_mask_parse(optarg, &c->o.groups, &err))
					return cli_usage_error("--tune: %s (or bn)", err.msg);
				if (!c->o.groups)
					return cli_usage_error("--tune names no parameter group");
			}
			break;
		case O_AUG:
			if (cli_parse_i64("--aug-copies", optarg, 1, 1024, &v)) return 2;
			c->o.n_aug = (int)v;
			c->have_aug = 1;
			break;
		case O_BATCH:
			if (cli_parse_i64("--batch", optarg, 1, 65536, &v)) return 2;
			c->o.batch = (int)v;
			c->have_batch = 1;
			break;
		case O_STEPS:
			if (cli_parse_i64("--steps", optarg, 0, 1000, &v)) return 2;
			c->o.steps = (int)v;
			break;
		case O_LR: if (cli_parse_f64("--lr", optarg, 0, 1000, &c->o.lr)) return 2; break;
		case O_MOM: if (cli_parse_f64("--momentum", optarg, 0, 0.999, &c->o.momentum)) return 2; break;
		case O_REJECT:
			c->reject_given = 1;
			if (!strcmp(optarg, "none")) c->reject = RML_REJECT_NONE;
			else if (!strcmp(optarg, "entropy")) c->reject = RML_REJECT_ENTROPY;
			else if (!strcmp(optarg, "confidence")) c->reject = RML_REJECT_CONFIDENCE;
			else return cli_usage_error("--reject is none, entropy or confidence, not '%s'", optarg);
			break;
		case O_THR:
			if (cli_parse_f64("--threshold", optarg, 0, 1e6, &c->threshold)) return 2;
			c->have_threshold = 1;
			break;
		case O_RATE: if (cli_parse_f64("--reject-rate", optarg, 0, 1, &c->rate)) return 2; break;
		case O_JSON: c->json = 1; break;
		case O_SHUFFLE: c->shuffle = 1; break;
		case O_NO_CALIB: c->no_calib = 1; break;
		case O_OPT:
			if (!strcmp(optarg, "sgd")) c->o.optimizer = RML_OPT_SGD;
			/* adamw, as rmlops-train says; adam is the earlier name. */
			else if (!strcmp(optarg, "adamw") || !strcmp(optarg, "adam"))
				c->o.optimizer = RML_OPT_ADAMW;
			else return cli_usage_error("--optimizer is sgd or adamw, not '%s'", optarg);
			break;
		case 'q': cli_verbosity = 0; break;
		case 'v': cli_verbosity = 2; break;
		case 'h': usage(); return -1;
		case 'V': cli_version(); return -1;
		default: return cli_usage_error("unknown option");
		}
	}
	if (optind < argc)
		return cli_usage_error("unexpected argument '%s'", argv[optind]);
	if (!c->model || !c->data)
		return cli_usage_error("give -m MODEL and -d DATA");
	if (!strcmp(c->model, "-") && !strcmp(c->data, "-"))
		return cli_usage_error("model and data cannot both come from standard input");
	if (!c->have_mode)
		c->o.continual = c->o.method == RML_TTA_TENT;
	if (c->o.method == RML_TTA_MEMO && c->have_batch)
		return cli_usage_error("--batch is for --method tent (memo adapts to one input at a time)");
	if (c->o.method == RML_TTA_TENT && c->have_aug)
		return cli_usage_error("--aug-copies is for --method memo");
	if (c->output && !c->o.continual)
		return cli_usage_error("-o writes what continual mode adapted; episodic mode keeps nothing");
	if (c->o.optimizer != RML_OPT_SGD && c->o.momentum > 0)
		return cli_usage_error("--momentum is for --optimizer sgd");
	if (c->have_threshold && c->rate >= 0)
		return cli_usage_error("--threshold and --reject-rate exclude each other");
	if (c->reject != RML_REJECT_NONE && !c->have_threshold && c->rate < 0)
		return cli_usage_error("--reject needs --threshold T or --reject-rate R");
	if (c->reject == RML_REJECT_NONE && (c->have_threshold || c->rate >= 0))
		return cli_usage_error("--threshold and --reject-rate go with --reject entropy|confidence");
	if (c->reject == RML_REJECT_CONFIDENCE && c->have_threshold && c->threshold > 1)
		return cli_usage_error("a confidence threshold lies in [0, 1]");
	c->o.seed = (uint64_t)c->seed;
	c->o.no_calibration = c->no_calib;
	return 0;
}

/* Accuracy of probs [n,k] over the labelled rows. */
static double accuracy(const float *probs, const int32_t *labels, int64_t n, int64_t k, int32_t *pred)
{
	rml_top1(probs, n, k, pred, NULL);
	int64_t right = 0, lab = 0;
	for (int64_t i = 0; i < n; i++)
		if (labels[i] >= 0) {
			lab++;
			right += pred[i] == labels[i];
		}
	return lab ? (double)right / (double)lab : NAN;
}

static double mean_of(const float *x, int64_t n)
{
	double s = 0;
	for (int64_t i = 0; i < n; i++)
		s += x[i];
	return n ? s / (double)n : NAN;
}

static void json_num(const char *key, double v)
{
	if (isfinite(v))
		fprintf(stderr, ",\"%s\":%.6f", key, v);
	else
		fprintf(stderr, ",\"%s\":null", key);
}

int main(int argc, char **argv)
{
	cli_init("rmlops-tta", argc, argv);
	struct cmdline c = { .rate = -1, .seed = 1 };
	rml_tta_opts_default(&c.o);
	int st = parse_args(argc, argv, &c);
	if (st)
		return st < 0 ? cli_finish(CLI_EXIT_OK) : st;
	if (cli_check_output("-") || (c.output && cli_check_output(c.output)))
		return CLI_EXIT_USAGE;
	{
		const char *outs[] = { "-", c.output };
		const char *opts[] = { "the predictions", "-o" };
		const char *ins[] = { c.model, c.adapters, c.data };
		if ((st = cli_check_outputs(outs, opts, 2, ins, 3)) != 0)
			return cli_finish(st);
	}
	rml_set_threads((int)c.threads);

	rml_error err = { 0 };
	rml_file f, pf, af;
	rml_file_init(&f);
	rml_file_init(&pf);
	rml_file_init(&af);
	rml_dataset d;
	rml_dataset_init(&d);
	rml_predictions p;
	rml_predictions_init(&p);
	rml_model *m = NULL;
	rml_tta *t = NULL;
	float *before = NULL, *pb = NULL;
	int32_t *pred = NULL;
	int64_t *order = NULL;
	uint8_t *xb = NULL;
	int status = CLI_EXIT_FAIL;

	if (cli_load_model(&m, c.model, c.adapters, &err) || cli_load_dataset(&d, c.data, "data", &err) ||
	    rml_dataset_fit_model(&d, m, 0, c.data, &err))
		goto done;
	int64_t k = rml_model_n_classes(m);
	/* Identity adapters added here would adapt only their zero scale on
	 * the first step: adapters must be fine-tuned first, so refuse. */
	if (c.o.tune == RML_TTA_TUNE_GROUPS && !rml_model_has_adapters(m) &&
	    (c.o.groups & (RML_GROUP_BIT(RML_GROUP_PHI) | RML_GROUP_BIT(RML_GROUP_OMEGA)))) {
		rml_errorf(&err, RML_ERR_ARG,
			   "%s has no adapters: add and fine-tune them first (rmlops-train -m %s "
			   "--adapters 4 --tune phi,W -d DATA ...), or adapt batch norm with --tune bn",
			   c.model, c.model);
		goto done;
	}
	/* The rejection rule stored with the calibrator applies unless the
	 * command line says otherwise. */
	rml_reject_rule stored;
	double stored_thr;
	rml_model_reject_rule(m, &stored, &stored_thr);
	if (!c.no_calib && !c.reject_given && stored != RML_REJECT_NONE) {
		c.reject = stored;
		c.threshold = stored_thr;
		c.have_threshold = 1;
	}
	if (rml_model_calibrator_method(m))
		cli_info("%s the model's calibrator%s", c.no_calib ? "ignoring" : "applying",
			 !c.no_calib && stored != RML_REJECT_NONE && !c.reject_given ? " and its rejection rule" : "");
	if (rml_tta_init(&t, m, &c.o, &err) || rml_predictions_alloc(&p, d.n, k, &err))
		goto done;
	before = malloc((size_t)(d.n * k + 1) * sizeof *before);
	pred = malloc((size_t)(d.n + 1) * sizeof *pred);
	p.entropy_before = malloc((size_t)(d.n + 1) * sizeof *p.entropy_before);
	if (!before || !pred || !p.entropy_before) {
		rml_errorf(&err, RML_ERR_NOMEM, "out of memory");
		goto done;
	}
	memcpy(p.labels, d.labels, (size_t)d.n * sizeof *p.labels);
	/* The stream: file order, or a permutation drawn from the seed. MEMO
	 * draws the augmentations of an input from its index in the file, so
	 * an episodic run gives the same predictions in any order; TENT's
	 * batches are consecutive inputs of the stream. */
	int64_t px = d.h * d.w * d.c;
	int64_t chunk = c.o.method == RML_TTA_TENT ? c.o.batch : 1;
	order = malloc((size_t)(d.n + 1) * sizeof *order);
	xb = malloc((size_t)(chunk * px));
	pb = malloc((size_t)(2 * chunk * k) * sizeof *pb);
	if (!order || !xb || !pb) {
		rml_errorf(&err, RML_ERR_NOMEM, "out of memory");
		goto done;
	}
	for (int64_t i = 0; i < d.n; i++)
		order[i] = i;
	if (c.shuffle) {
		rml_rng rng;
		rml_rng_seed_stream(&rng, (uint64_t)c.seed, UINT64_MAX);
		rml_rng_shuffle(&rng, order, d.n);
	}
	for (int64_t i = 0; i < d.n; i += chunk) {
		int64_t nb = d.n - i < chunk ? d.n - i : chunk;
		for (int64_t j = 0; j < nb; j++)
			memcpy(xb + j * px, d.images + order[i + j] * px, (size_t)px);
		if (rml_tta_run(t, xb, nb, c.o.method == RML_TTA_TENT ? i : order[i], pb, pb + chunk * k, &err))
			goto done;
		for (int64_t j = 0; j < nb; j++) {
			memcpy(before + order[i + j] * k, pb + j * k, (size_t)k * sizeof *pb);
			memcpy(p.probs + order[i + j] * k, pb + (chunk + j) * k, (size_t)k * sizeof *pb);
		}
		cli_progress("adapting", i + nb, d.n);
	}
	rml_entropy(before, d.n, k, p.entropy_before);
	double used = NAN;
	if (rml_predictions_reject(&p, c.reject, c.threshold, c.reject == RML_REJECT_NONE ? -1 : c.rate,
				   &used, &err))
		goto done;
	double acc_before = accuracy(before, d.labels, d.n, k, pred);
	rml_eval_report rep = { 0 };
	if (rml_eval_compute(&p, 15, RML_BINS_WIDTH, &rep, &err))
		goto done;
	double acc1 = rep.acc1, acc2 = rep.acc2, rrate = rep.reject_rate;
	rml_eval_report_free(&rep);

	const char *const *names = rml_model_class_names(m);
	if (!names)
		names = (const char *const *)d.class_names;
	const char *rule = c.reject == RML_REJECT_ENTROPY ? "entropy"
			   : c.reject == RML_REJECT_CONFIDENCE ? "confidence" : "none";
	if (rml_predictions_to_file(&p, &pf, &err))
		goto done;
	if ((names && rml_set_str_array(&pf, "predictions.classes", names, k)) ||
	    rml_set_str(&pf, "tta.method", rml_tta_method_name(c.o.method)) ||
	    rml_set_str(&pf, "tta.mode", c.o.continual ? "continual" : "episodic") ||
	    rml_set_str(&pf, "tta.tune", c.tune ? c.tune : "phi") ||
	    rml_set_i64(&pf, "tta.steps", c.o.steps) || rml_set_f64(&pf, "tta.lr", c.o.lr) ||
	    rml_set_f64(&pf, "tta.momentum", c.o.momentum) ||
	    rml_set_str(&pf, "tta.optimizer", c.o.optimizer == RML_OPT_SGD ? "sgd" : "adamw") ||
	    rml_set_i64(&pf, c.o.method == RML_TTA_MEMO ? "tta.aug_copies" : "tta.batch",
			c.o.method == RML_TTA_MEMO ? c.o.n_aug : c.o.batch) ||
	    rml_set_str(&pf, "tta.reject", rule) ||
	    rml_set_i64(&pf, "tta.calibrated", !c.no_calib && rml_model_calibrator_method(m) != NULL) || rml_set_i64(&pf, "tta.shuffle", c.shuffle) ||
	    (isfinite(used) && rml_set_f64(&pf, "tta.threshold", used))) {
		rml_errorf(&err, RML_ERR_NOMEM, "out of memory");
		goto done;
	}
	if (cli_save(&pf, "-", c.seed, &err))
		goto done;
	if (c.output) {
		rml_status s = c.o.tune == RML_TTA_TUNE_BN
				       ? rml_model_to_file(m, &af, &err)
				       : rml_model_adapters_to_file(m, !!(c.o.groups & RML_GROUP_BIT(RML_GROUP_W)),
								    &af, &err);
		if (s || cli_save(&af, c.output, c.seed, &err))
			goto done;
	}
	rml_tta_stats ts;
	rml_tta_get_stats(t, &ts);
	double hb = mean_of(p.entropy_before, d.n), ha = mean_of(p.entropy, d.n);
	if (c.json) {
		fprintf(stderr, "{\"n\":%lld,\"method\":\"%s\",\"mode\":\"%s\",\"steps\":%d",
			(long long)d.n, rml_tta_method_name(c.o.method), c.o.continual ? "continual" : "episodic",
			c.o.steps);
		json_num("acc1_before", acc_before);
		json_num("acc1", acc1);
		json_num("acc2", acc2);
		json_num("reject_rate", rrate);
		json_num("threshold", used);
		json_num("entropy_before", hb);
		json_num("entropy_after", ha);
		fprintf(stderr, ",\"adapted_params\":%lld,\"updates\":%lld,\"skipped\":%lld",
			(long long)rml_tta_n_adapted(t), (long long)ts.updates, (long long)ts.skipped);
		json_num("seconds", ts.seconds);
		json_num("augment_seconds", ts.aug_seconds);
		json_num("images_per_s", ts.seconds > 0 ? (double)d.n / ts.seconds : NAN);
		fprintf(stderr, "}\n");
	} else if (cli_verbosity > 0) {
		cli_msg("%lld images, %s %s: acc1 %.4f (before adapting %.4f), mean entropy %.3f "
			"(before %.3f), rejected %.1f%%, %.1f images/s",
			(long long)d.n, rml_tta_method_name(c.o.method), c.o.continual ? "continual" : "episodic",
			acc1, acc_before, ha, hb, 100 * rrate, ts.seconds > 0 ? (double)d.n / ts.seconds : 0);
		if (ts.skipped)
			cli_msg("%lld steps skipped: loss or gradient not finite", (long long)ts.skipped);
	}
	status = CLI_EXIT_OK;
done:
	if (status != CLI_EXIT_OK)
		cli_fail(&err);
	rml_tta_free(t);
	free(before);
	free(pred);
	free(order);
	free(xb);
	free(pb);
	rml_predictions_free(&p);
	rml_dataset_free(&d);
	rml_model_free(m);
	rml_file_free(&f);
	rml_file_free(&pf);
	rml_file_free(&af);
	return cli_finish(status);
}
