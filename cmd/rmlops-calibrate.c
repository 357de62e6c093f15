/*
 * rmlops-calibrate — post-hoc calibration of a model's confidence on
 * augmented in-distribution data and Soft Brownian Offset
 * out-of-distribution data; writes the model with the calibrator and a
 * rejection threshold inside, and reports calibration measures before and
 * after (optionally on held-out data), with reliability diagrams and a
 * risk-coverage chart. The methods are lib/calib.c, the data pipeline and
 * measures lib/calib_model.c, the autoencoder lib/autoenc.c.
 */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "calib.h"
#include "calib_model.h"
#include "canvas.h"
#include "cli.h"
#include "dataset.h"
#include "kernels.h"
#include "metrics.h"
#include "classes.h"
#include "model.h"

struct cmdline {
	const char *model, *data, *output, *test, *test_ood, *save_ood, *plot, *rc_plot, *adapters;
	rml_calib_method method;
	rml_calib_opts copts;
	int compare, json, have_rate, have_cov;
	int64_t per_class, ood_count, bins, batch, threads, seed, ae_epochs;
	rml_ood_space ood;
	rml_sbo_opts sbo;
	rml_reject_rule reject;
	double max_rate, coverage;
};

static void usage(void)
{
	printf("Usage: rmlops-calibrate -m MODEL -d DATA [-o OUTPUT] [OPTIONS]\n"
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
	       "Example: rmlops-calibrate -m base.rml -d val.rml --test test.rml -o calibrated.rml\n");
}

static int parse_args(int argc, char **argv, struct cmdline *c)
{
	enum {
		O_METHOD = 256, O_ENSEMBLE, O_BINS, O_COMPARE, O_PER_CLASS, O_OOD, O_OOD_COUNT, O_DMIN,
		O_OFF, O_SOFT, O_AE_EPOCHS, O_SAVE_OOD, O_REJECT, O_MAX_RATE, O_COVERAGE, O_TEST,
		O_TEST_OOD, O_EVAL_BINS, O_PLOT, O_RC, O_BATCH, O_JSON,
	};
	static const struct option opts[] = {
		{ "model", required_argument, 0, 'm' }, { "adapter-file", required_argument, 0, 'a' }, { "data", required_argument, 0, 'd' },
		{ "output", required_argument, 0, 'o' }, { "method", required_argument, 0, O_METHOD },
		{ "ensemble", no_argument, 0, O_ENSEMBLE }, { "bins", required_argument, 0, O_BINS },
		{ "compare", no_argument, 0, O_COMPARE },
		{ "per-class", required_argument, 0, O_PER_CLASS },
		{ "ood", required_argument, 0, O_OOD }, { "ood-count", required_argument, 0, O_OOD_COUNT },
		{ "sbo-dmin", required_argument, 0, O_DMIN }, { "sbo-offset", required_argument, 0, O_OFF },
		{ "sbo-softness", required_argument, 0, O_SOFT },
		{ "ae-epochs", required_argument, 0, O_AE_EPOCHS },
		{ "save-ood", required_argument, 0, O_SAVE_OOD },
		{ "reject", required_argument, 0, O_REJECT },
		{ "reject-max-rate", required_argument, 0, O_MAX_RATE },
		{ "coverage", required_argument, 0, O_COVERAGE }, { "test", required_argument, 0, O_TEST },
		{ "test-ood", required_argument, 0, O_TEST_OOD },
		{ "eval-bins", required_argument, 0, O_EVAL_BINS }, { "plot", required_argument, 0, O_PLOT },
		{ "risk-coverage", required_argument, 0, O_RC }, { "batch", required_argument, 0, O_BATCH },
		{ "seed", required_argument, 0, 's' }, { "threads", required_argument, 0, 'j' },
		{ "json", no_argument, 0, O_JSON }, { "quiet", no_argument, 0, 'q' },
		{ "verbose", no_argument, 0, 'v' }, { "help", no_argument, 0, 'h' },
		{ "version", no_argument, 0, 'V' }, { 0, 0, 0, 0 },
	};
	rml_error err = { 0 };
	int o;
	int64_t v;
	while ((o = getopt_long(argc, argv, "m:a:d:o:s:j:qvhV", opts, NULL)) != -1) {
		switch (o) {
		case 'm': c->model = optarg; break;
		case 'a': c->adapters = optarg; break;
		case 'd': c->data = optarg; break;
		case 'o': c->output = optarg; break;
		case O_METHOD:
			if (rml_calib_method_parse(optarg, &c->method, &err))
				return cli_usage_error("--method: %s", err.msg);
			break;
		case O_ENSEMBLE: c->copts.bbq_ensemble = 1; break;
		case O_BINS:
			if (cli_parse_i64("--bins", optarg, 1, 10000, &v)) return 2;
			c->copts.n_bins = (int)v;
			break;
		case O_COMPARE: c->compare = 1; break;
		case O_PER_CLASS: if (cli_parse_i64("--per-class", optarg, 0, 1000000, &c->per_class)) return 2; break;
		case O_OOD:
			if (rml_ood_space_parse(optarg, &c->ood, &err)) return cli_usage_error("--ood: %s", err.msg);
			break;
		case O_OOD_COUNT: if (cli_parse_i64("--ood-count", optarg, 0, 10000000, &c->ood_count)) return 2; break;
		case O_DMIN: if (cli_parse_f64("--sbo-dmin", optarg, 1e-9, 1e9, &c->sbo.d_min)) return 2; break;
		case O_OFF: if (cli_parse_f64("--sbo-offset", optarg, 1e-9, 1e9, &c->sbo.d_off)) return 2; break;
		case O_SOFT: if (cli_parse_f64("--sbo-softness", optarg, 0, 1e9, &c->sbo.softness)) return 2; break;
		case O_AE_EPOCHS: if (cli_parse_i64("--ae-epochs", optarg, 1, 10000, &c->ae_epochs)) return 2; break;
		case O_SAVE_OOD: c->save_ood = optarg; break;
		case O_REJECT:
			if (strcmp(optarg, "none") == 0) c->reject = RML_REJECT_NONE;
			else if (strcmp(optarg, "entropy") == 0) c->reject = RML_REJECT_ENTROPY;
			else if (strcmp(optarg, "confidence") == 0) c->reject = RML_REJECT_CONFIDENCE;
			else return cli_usage_error("--reject is entropy, confidence or none, not '%s'", optarg);
			break;
		case O_MAX_RATE:
			if (cli_parse_f64("--reject-max-rate", optarg, 0, 0.999999, &c->max_rate)) return 2;
			c->have_rate = 1;
			break;
		case O_COVERAGE:
			if (cli_parse_f64("--coverage", optarg, 1e-9, 1, &c->coverage)) return 2;
			c->have_cov = 1;
			break;
		case O_TEST: c->test = optarg; break;
		case O_TEST_OOD: c->test_ood = optarg; break;
		case O_EVAL_BINS: if (cli_parse_i64("--eval-bins", optarg, 1, 100, &c->bins)) return 2; break;
		case O_PLOT: c->plot = optarg; break;
		case O_RC: c->rc_plot = optarg; break;
		case O_BATCH: if (cli_parse_i64("--batch", optarg, 1, 65536, &c->batch)) return 2; break;
		case 's': if (cli_parse_i64("--seed", optarg, 0, INT64_MAX, &c->seed)) return 2; break;
		case 'j': if (cli_parse_i64("--threads", optarg, 1, 256, &c->threads)) return 2; break;
		case O_JSON: c->json = 1; break;
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
	const char *in[3] = { c->model, c->data, c->test };
	const char *out[3] = { c->output ? c->output : "-", c->plot, c->rc_plot };
	for (int i = 0; i < 3; i++)
		for (int j = i + 1; j < 3; j++)
			if (in[i] && in[j] && !strcmp(in[i], "-") && !strcmp(in[j], "-"))
				return cli_usage_error("only one input can come from standard input");
	for (int i = 1; i < 3; i++)
		if (out[i] && !strcmp(out[i], "-"))
			return cli_usage_error("pictures go to files, not standard output");
	if (c->have_rate && c->have_cov)
		return cli_usage_error("give --reject-max-rate or --coverage, not both");
	if (c->reject == RML_REJECT_NONE && (c->have_rate || c->have_cov))
		return cli_usage_error("--reject-max-rate and --coverage need --reject entropy|confidence");
	if (c->copts.bbq_ensemble && c->method != RML_CALIB_BBQ && !c->compare)
		return cli_usage_error("--ensemble goes with --method bbq");
	if (c->ood == RML_OOD_NONE && (c->save_ood || c->ood_count > 0))
		return cli_usage_error("--save-ood and --ood-count need --ood sbo-latent|sbo-pixel");
	if (c->test_ood && !c->test)
		return cli_usage_error("--test-ood goes with --test");
	if (c->save_ood && !strcmp(c->save_ood, "-") && !strcmp(out[0], "-"))
		return cli_usage_error("the model and --save-ood cannot both go to standard output");
	return 0;
}

/* ---- one labelled set of predictions ---------------------------------------------- */

typedef struct {
	const char *name;
	int64_t n, k;
	float *logits, *raw, *cal;  /* [n,k]: logits, softmax, calibrated */
	int32_t *labels;            /* class, -1 unknown, or RML_CALIB_OOD */
} pset;

static void pset_free(pset *p)
{
	free(p->logits);
	free(p->raw);
	free(p->cal);
	free(p->labels);
}

/* Run the model on the images of each dataset in turn (labels taken from
 * it, or RML_CALIB_OOD for the ones flagged ood) and softmax. */
static rml_status pset_make(pset *p, const char *name, rml_model *m, const rml_dataset *const *d,
			    const int *ood, int nd, int64_t batch, rml_error *err)
{
	memset(p, 0, sizeof *p);
	p->name = name;
	p->k = rml_model_n_classes(m);
	for (int i = 0; i < nd; i++)
		p->n += d[i]->n;
	p->logits = malloc((size_t)(p->n * p->k + 1) * sizeof(float));
	p->raw = malloc((size_t)(p->n * p->k + 1) * sizeof(float));
	p->cal = malloc((size_t)(p->n * p->k + 1) * sizeof(float));
	p->labels = malloc((size_t)(p->n + 1) * sizeof(int32_t));
	if (!p->logits || !p->raw || !p->cal || !p->labels)
		return rml_errorf(err, RML_ERR_NOMEM, "out of memory");
	int64_t at = 0;
	for (int i = 0; i < nd; i++) {
		rml_status st = rml_calib_logits(m, d[i]->images, d[i]->n, batch, p->logits + at * p->k, err);
		if (st)
			return st;
		for (int64_t j = 0; j < d[i]->n; j++)
			p->labels[at + j] = ood[i] ? RML_CALIB_OOD : d[i]->labels[j];
		at += d[i]->n;
	}
	rml_softmax(p->raw, p->logits, p->n, p->k);
	return RML_OK;
}

static rml_status pset_calibrate(pset *p, const rml_calib *c, rml_error *err)
{
	return rml_calib_apply(c, p->raw, p->logits, p->n, p->k, p->cal, err);
}

/* Share rejected by the rule, over all rows and over the OOD rows, and
 * ACC2 over the kept in-distribution rows. */
static void reject_stats(const float *probs, const int32_t *labels, int64_t n, int64_t k,
			 rml_reject_rule rule, double thr, double *rate, double *ood_rate, double *acc2)
{
	int64_t rej = 0, no = 0, nor = 0, kept = 0, right = 0;
	for (int64_t i = 0; i < n; i++) {
		const float *p = probs + i * k;
		int32_t pred;
		float conf, ent;
		rml_top1(p, 1, k, &pred, &conf);
		rml_entropy(p, 1, k, &ent);
		int r = rule == RML_REJECT_ENTROPY ? !(ent <= thr) : !(conf >= thr);
		if (rule == RML_REJECT_NONE)
			r = 0;
		rej += r;
		no += labels[i] == RML_CALIB_OOD;
		nor += r && labels[i] == RML_CALIB_OOD;
		if (!r && labels[i] >= 0) {
			kept++;
			right += pred == labels[i];
		}
	}
	*rate = n ? (double)rej / (double)n : NAN;
	*ood_rate = no ? (double)nor / (double)no : NAN;
	*acc2 = kept ? (double)right / (double)kept : NAN;
}

/* ---- report ------------------------------------------------------------------------- */

#define N_MEAS 11
static const char *const meas_names[N_MEAS] = {
	"acc1", "ece", "mce", "ace", "mce_mass", "nll", "brier", "auroc_conf", "auroc_entropy",
	"aurc", "n_ood",
};

static void meas_values(const rml_calib_measures *m, double *v)
{
	v[0] = m->acc1;
	v[1] = m->ece;
	v[2] = m->mce;
	v[3] = m->ece_mass;
	v[4] = m->mce_mass;
	v[5] = m->nll;
	v[6] = m->brier;
	v[7] = m->auroc_conf;
	v[8] = m->auroc_entropy;
	v[9] = m->aurc;
	v[10] = (double)m->n_ood;
}

static void json_num(FILE *o, double v)
{
	if (isfinite(v))
		fprintf(o, "%.6f", v);
	else
		fprintf(o, "null");
}

/* The last measure is a count. */
static void json_meas(FILE *o, int i, double v)
{
	if (i == N_MEAS - 1)
		fprintf(o, "%lld", (long long)v);
	else
		json_num(o, v);
}

static void print_num(FILE *o, double v)
{
	if (isfinite(v))
		fprintf(o, " %12.4f", v);
	else
		fprintf(o, " %12s", "-");
}

static void print_params(FILE *o, const rml_calib *c)
{
	if (c->method == RML_CALIB_TEMPERATURE)
		fprintf(o, "temperature %.4f", c->scalars[0]);
	else if (c->method == RML_CALIB_BETA)
		fprintf(o, "a %.4f  b %.4f  c %.4f", c->scalars[0], c->scalars[1], c->scalars[2]);
	else
		fprintf(o, "%lld model%s, %lld knots", (long long)c->n_models, c->n_models == 1 ? "" : "s",
			(long long)c->n_knots);
}

/* ---- pictures ----------------------------------------------------------------------- */

static rml_status reliability(const char *path, const pset *p, int bins, rml_error *err)
{
	float *conf[2];
	uint8_t *ok[2];
	int64_t n[2] = { 0, 0 };
	rml_status st = RML_OK;
	for (int s = 0; s < 2; s++) {
		conf[s] = malloc((size_t)(p->n + 1) * sizeof(float));
		ok[s] = malloc((size_t)(p->n + 1));
		if (!conf[s] || !ok[s])
			st = rml_errorf(err, RML_ERR_NOMEM, "out of memory");
	}
	for (int s = 0; s < 2 && !st; s++)
		for (int64_t i = 0; i < p->n; i++) {
			if (p->labels[i] < 0)
				continue;
			int32_t pred;
			rml_top1((s ? p->cal : p->raw) + i * p->k, 1, p->k, &pred, &conf[s][n[s]]);
			ok[s][n[s]++] = pred == p->labels[i];
		}
	char t0[128], t1[128];
	snprintf(t0, sizeof t0, "before (%s)", p->name);
	snprintf(t1, sizeof t1, "after (%s)", p->name);
	const char *titles[2] = { t0, t1 };
	if (!st)
		st = rml_reliability_png(path, 2, titles, (const float *const *)conf,
					 (const uint8_t *const *)ok, n, bins, err);
	for (int s = 0; s < 2; s++) {
		free(conf[s]);
		free(ok[s]);
	}
	return st;
}

static rml_status risk_coverage(const char *path, const pset *p, rml_error *err)
{
	double *cov[2], *risk[2];
	int64_t np[2] = { 0, 0 };
	double aurc[2];
	rml_status st = RML_OK;
	for (int s = 0; s < 2; s++) {
		cov[s] = malloc((size_t)(p->n + 1) * sizeof(double));
		risk[s] = malloc((size_t)(p->n + 1) * sizeof(double));
		if (!cov[s] || !risk[s])
			st = rml_errorf(err, RML_ERR_NOMEM, "out of memory");
	}
	for (int s = 0; s < 2 && !st; s++)
		st = rml_risk_coverage(s ? p->cal : p->raw, p->labels, p->n, p->k, RML_REJECT_ENTROPY,
				       cov[s], risk[s], &np[s], &aurc[s], err);
	/* At most about 400 points per curve: one per 1/400 of coverage (the
	 * last point of each step), so markers do not merge into a band. */
	for (int s = 0; s < 2 && !st; s++) {
		int64_t w = 0;
		for (int64_t i = 0; i < np[s]; i++)
			if (i == np[s] - 1 || floor(cov[s][i + 1] * 400) > floor(cov[s][i] * 400)) {
				cov[s][w] = cov[s][i];
				risk[s][w++] = risk[s][i];
			}
		np[s] = w;
	}
	double top = 0;
	for (int s = 0; s < 2 && !st; s++)
		for (int64_t i = 0; i < np[s]; i++)
			top = fmax(top, risk[s][i]);
	char l0[64], l1[64], title[160];
	snprintf(l0, sizeof l0, "before, AURC %.4f", aurc[0]);
	snprintf(l1, sizeof l1, "after, AURC %.4f", aurc[1]);
	snprintf(title, sizeof title, "risk-coverage by entropy (%s)", p->name);
	rml_series sr[2] = {
		{ l0, cov[0], risk[0], (int)np[0], 0x7f7f7f, 0 },
		{ l1, cov[1], risk[1], (int)np[1], 0x1f77b4, 0 },
	};
	if (!st)
		st = rml_plot_png(path, title, "coverage (share of examples kept)", "risk (error rate)", sr,
				  2, 0, 1, 0, top > 0 ? fmin(1, top * 1.05) : 1, err);
	for (int s = 0; s < 2; s++) {
		free(cov[s]);
		free(risk[s]);
	}
	return st;
}

/* ---- main --------------------------------------------------------------------------- */

static void ae_progress(void *ctx, int epoch, int epochs, double mse)
{
	(void)ctx;
	cli_progress("autoencoder", epoch, epochs);
	cli_info("autoencoder epoch %d/%d: reconstruction MSE %.5f", epoch, epochs, mse);
}

static rml_status load_dataset(const char *path, const char *role, rml_dataset *d,
			       const rml_model *m, int need_labels, rml_error *err)
{
	rml_status st = cli_load_dataset(d, path, role, err);
	if (st)
		return st;
	/* Out-of-distribution images carry classes of their own. */
	if (need_labels)
		return rml_dataset_fit_model(d, m, 1, path, err);
	int h, w, c;
	rml_model_input_shape(m, &h, &w, &c);
	if (d->h != h || d->w != w || d->c != c)
		return rml_errorf(err, RML_ERR_MISMATCH, "the model takes %dx%dx%d images, %s holds %lldx%lldx%lld",
				  h, w, c, path, (long long)d->h, (long long)d->w, (long long)d->c);
	if (d->n < 1)
		return rml_errorf(err, RML_ERR_ARG, "%s holds no images", path);
	return RML_OK;
}

int main(int argc, char **argv)
{
	cli_init("rmlops-calibrate", argc, argv);
	struct cmdline c = { .method = RML_CALIB_BBQ, .per_class = 300, .bins = 15, .batch = 128,
			     .seed = 1, .ae_epochs = 10, .ood = RML_OOD_SBO_LATENT,
			     .reject = RML_REJECT_ENTROPY, .max_rate = 0.1 };
	rml_calib_opts_default(&c.copts);
	rml_sbo_opts_default(&c.sbo);
	int st = parse_args(argc, argv, &c);
	if (st)
		return st < 0 ? cli_finish(CLI_EXIT_OK) : st;
	if (cli_check_output(c.output ? c.output : "-"))
		return CLI_EXIT_USAGE;
	if (c.save_ood && cli_check_output(c.save_ood))
		return CLI_EXIT_USAGE;
	{
		const char *outs[] = { c.output ? c.output : "-", c.save_ood, c.plot, c.rc_plot };
		const char *opts[] = { "-o", "--save-ood", "--plot", "--risk-coverage" };
		const char *ins[] = { c.model, c.adapters, c.data, c.test, c.test_ood };
		if ((st = cli_check_outputs(outs, opts, 4, ins, 5)) != 0)
			return cli_finish(st);
	}
	rml_set_threads((int)c.threads);
	FILE *rep = c.output && strcmp(c.output, "-") ? stdout : stderr;

	rml_error err = { 0 };
	rml_model *m = NULL;
	rml_dataset d, id, ood, test, tood, xood;
	rml_dataset_init(&d);
	rml_dataset_init(&id);
	rml_dataset_init(&ood);
	rml_dataset_init(&test);
	rml_dataset_init(&tood);
	rml_dataset_init(&xood);
	rml_oodgen g;
	rml_oodgen_init(&g);
	rml_calib cal, other;
	rml_calib_init(&cal);
	rml_calib_init(&other);
	pset cp = { 0 }, tp = { 0 };
	rml_file mf, of;
	rml_file_init(&mf);
	rml_file_init(&of);
	int status = CLI_EXIT_FAIL, have_test = 0;
	double *sbo_nn = NULL;

	if (cli_load_model(&m, c.model, c.adapters, &err))
		goto done;
	int64_t k = rml_model_n_classes(m);
	if (k < 2) {
		rml_errorf(&err, RML_ERR_ARG, "calibration needs a model of at least 2 classes");
		goto done;
	}
	if (load_dataset(c.data, "data", &d, m, 1, &err))
		goto done;
	/* Held-out inputs are read first, so that a bad one fails early. */
	if (c.test && load_dataset(c.test, "test", &test, m, 1, &err))
		goto done;
	if (c.test_ood && load_dataset(c.test_ood, "test-ood", &xood, m, 0, &err))
		goto done;

	/* In-distribution calibration data. */
	if (c.per_class > 0) {
		if (rml_calib_augment_dataset(&d, c.per_class, (uint64_t)c.seed, &id, &err))
			goto done;
	} else {
		int64_t lab = 0;
		for (int64_t i = 0; i < d.n; i++)
			lab += d.labels[i] >= 0;
		if (!lab) {
			rml_errorf(&err, RML_ERR_ARG, "%s has no labelled image to calibrate on", c.data);
			goto done;
		}
		if (rml_dataset_alloc(&id, d.n, d.h, d.w, d.c, &err))
			goto done;
		memcpy(id.images, d.images, (size_t)(d.n * d.h * d.w * d.c));
		memcpy(id.labels, d.labels, (size_t)d.n * sizeof *d.labels);
	}
	int present = 0;
	{
		uint8_t *has = calloc((size_t)k, 1);
		if (!has) {
			rml_errorf(&err, RML_ERR_NOMEM, "out of memory");
			goto done;
		}
		for (int64_t i = 0; i < id.n; i++)
			if (id.labels[i] >= 0 && !has[id.labels[i]]) {
				has[id.labels[i]] = 1;
				present++;
			}
		free(has);
	}
	if (present == 1)
		cli_msg("warning: the calibration data hold a single class");

	/* Out-of-distribution calibration data. */
	if (c.ood != RML_OOD_NONE) {
		int64_t count = c.ood_count > 0 ? c.ood_count : (id.n + present - 1) / (present ? present : 1);
		rml_autoenc_opts ao;
		rml_autoenc_opts_default(&ao);
		ao.epochs = (int)c.ae_epochs;
		ao.seed = (uint64_t)c.seed;
		double t0 = rml_now();
		if (rml_oodgen_fit(&g, c.ood, d.images, d.n, (int)d.h, (int)d.w, (int)d.c, &ao, ae_progress,
				   NULL, &err))
			goto done;
		sbo_nn = malloc((size_t)(count + 1) * sizeof *sbo_nn);
		if (!sbo_nn || rml_dataset_alloc(&ood, count, d.h, d.w, d.c, &err) ||
		    rml_dataset_set_classes(&ood, (const char *const *)d.class_names, d.n_classes, &err)) {
			if (!sbo_nn)
				rml_errorf(&err, RML_ERR_NOMEM, "out of memory");
			goto done;
		}
		c.sbo.seed = (uint64_t)c.seed;
		if (rml_oodgen_sample(&g, d.images, d.n, count, &c.sbo, ood.images, NULL, sbo_nn, NULL, &err))
			goto done;
		double mn = INFINITY, mean = 0;
		for (int64_t i = 0; i < count; i++) {
			mn = fmin(mn, sbo_nn[i]);
			mean += sbo_nn[i] / (double)count;
		}
		if (c.ood == RML_OOD_SBO_LATENT)
			cli_info("autoencoder: %lld latent dimensions, reconstruction MSE %.5f", (long long)g.dim,
				 g.ae_mse);
		cli_info("%lld out-of-distribution images (%s) in %.1f s; distance to the data: min %.2f, mean %.2f",
			 (long long)count, rml_ood_space_name(c.ood), rml_now() - t0, mn, mean);
		if (c.save_ood) {
			rml_file sf;
			rml_file_init(&sf);
			free(ood.name);
			ood.name = strdup(c.ood == RML_OOD_SBO_LATENT ? "sbo-latent" : "sbo-pixel");
			rml_status s = rml_dataset_to_file(&ood, &sf, &err);
			if (!s)
				s = cli_save(&sf, c.save_ood, c.seed, &err);
			rml_file_free(&sf);
			if (s)
				goto done;
		}
	}

	/* Predictions on the calibration data, and the fit. */
	{
		const rml_dataset *sets[2] = { &id, &ood };
		int isood[2] = { 0, 1 };
		if (pset_make(&cp, "calibration", m, sets, isood, c.ood != RML_OOD_NONE ? 2 : 1, c.batch, &err))
			goto done;
	}
	if (rml_calib_fit(&cal, c.method, cp.raw, cp.logits, cp.labels, cp.n, cp.k, &c.copts, &err) ||
	    pset_calibrate(&cp, &cal, &err))
		goto done;
	rml_reject_choice rc = { 0 };
	if (c.reject != RML_REJECT_NONE &&
	    rml_calib_choose_reject(cp.cal, cp.labels, cp.n, cp.k, c.reject, c.have_cov ? 0 : c.max_rate,
				    c.have_cov ? c.coverage : -1, &rc, &err))
		goto done;

	/* Held-out data: the test images, SBO images made from them with the
	 * same space (a separate seed stream), and real OOD images. */
	if (c.test) {
		const rml_dataset *sets[3] = { &test, NULL, NULL };
		int isood[3] = { 0, 1, 1 }, ns = 1;
		if (c.ood != RML_OOD_NONE) {
			int64_t count = test.n / (k > 0 ? k : 1);
			if (count < 1)
				count = 1;
			rml_sbo_opts so = c.sbo;
			so.seed = (uint64_t)c.seed + 0x5eed;
			if (rml_dataset_alloc(&tood, count, d.h, d.w, d.c, &err) ||
			    rml_oodgen_sample(&g, test.images, test.n, count, &so, tood.images, NULL, NULL, NULL,
					      &err))
				goto done;
			sets[ns++] = &tood;
		}
		if (c.test_ood)
			sets[ns++] = &xood;
		if (pset_make(&tp, "test", m, sets, isood, ns, c.batch, &err) || pset_calibrate(&tp, &cal, &err))
			goto done;
		have_test = 1;
	}

	/* Measures. */
	pset *ps[2] = { &cp, have_test ? &tp : NULL };
	rml_calib_measures ms[2][2];
	for (int s = 0; s < 2; s++)
		for (int a = 0; a < 2 && ps[s]; a++)
			if (rml_calib_measure(a ? ps[s]->cal : ps[s]->raw, ps[s]->labels, ps[s]->n, ps[s]->k,
					      (int)c.bins, &ms[s][a], &err))
				goto done;
	/* With both generated and real OOD test images, the AUROC of each
	 * alone: the other's rows are masked as unknown. */
	double src_auroc[2][2][2];  /* [generated, real][before, after][conf, entropy] */
	int by_source = have_test && tood.n > 0 && xood.n > 0;
	if (by_source) {
		int32_t *mask = malloc((size_t)tp.n * sizeof *mask);
		if (!mask) {
			rml_errorf(&err, RML_ERR_NOMEM, "out of memory");
			goto done;
		}
		for (int src = 0; src < 2; src++) {
			memcpy(mask, tp.labels, (size_t)tp.n * sizeof *mask);
			int64_t lo = src ? test.n : test.n + tood.n, hi = src ? test.n + tood.n : tp.n;
			for (int64_t i = lo; i < hi; i++)
				mask[i] = -1;
			for (int a = 0; a < 2; a++) {
				rml_calib_measures r;
				if (rml_calib_measure(a ? tp.cal : tp.raw, mask, tp.n, tp.k, (int)c.bins, &r, &err)) {
					free(mask);
					goto done;
				}
				src_auroc[src][a][0] = r.auroc_conf;
				src_auroc[src][a][1] = r.auroc_entropy;
			}
		}
		free(mask);
	}
	double trate = NAN, tood_rate = NAN, tacc2 = NAN;
	if (have_test && c.reject != RML_REJECT_NONE)
		reject_stats(tp.cal, tp.labels, tp.n, tp.k, c.reject, rc.threshold, &trate, &tood_rate, &tacc2);

	if (c.json) {
		fprintf(rep, "{\"method\":\"%s\",\"ensemble\":%d,\"bins\":%d,\"params\":[%.6g,%.6g,%.6g]",
			rml_calib_method_name(c.method), c.copts.bbq_ensemble, c.copts.n_bins, cal.scalars[0],
			cal.scalars[1], cal.scalars[2]);
		fprintf(rep, ",\"ood\":\"%s\",\"n_id\":%lld,\"n_ood\":%lld", rml_ood_space_name(c.ood),
			(long long)id.n, (long long)ood.n);
		if (c.reject != RML_REJECT_NONE) {
			fprintf(rep, ",\"reject\":{\"rule\":\"%s\",\"threshold\":",
				c.reject == RML_REJECT_ENTROPY ? "entropy" : "confidence");
			json_num(rep, rc.threshold);
			fprintf(rep, ",\"reject_rate\":");
			json_num(rep, rc.reject_rate);
			fprintf(rep, ",\"acc2\":");
			json_num(rep, rc.acc2);
			if (have_test) {
				fprintf(rep, ",\"test_reject_rate\":");
				json_num(rep, trate);
				fprintf(rep, ",\"test_ood_reject_rate\":");
				json_num(rep, tood_rate);
				fprintf(rep, ",\"test_acc2\":");
				json_num(rep, tacc2);
			}
			fprintf(rep, "}");
		}
		for (int s = 0; s < 2; s++) {
			if (!ps[s])
				continue;
			fprintf(rep, ",\"%s\":{\"n\":%lld", ps[s]->name, (long long)ps[s]->n);
			for (int a = 0; a < 2; a++) {
				double v[N_MEAS];
				meas_values(&ms[s][a], v);
				fprintf(rep, ",\"%s\":{", a ? "after" : "before");
				for (int i = 0; i < N_MEAS; i++) {
					fprintf(rep, "%s\"%s\":", i ? "," : "", meas_names[i]);
					json_meas(rep, i, v[i]);
				}
				fprintf(rep, "}");
			}
			fprintf(rep, "}");
		}
		if (by_source) {
			fprintf(rep, ",\"test_auroc\":{");
			for (int src = 0; src < 2; src++) {
				fprintf(rep, "%s\"%s\":{\"n\":%lld", src ? "," : "", src ? "real" : "generated",
					(long long)(src ? xood.n : tood.n));
				for (int a = 0; a < 2; a++) {
					fprintf(rep, ",\"%s\":{\"auroc_conf\":", a ? "after" : "before");
					json_num(rep, src_auroc[src][a][0]);
					fprintf(rep, ",\"auroc_entropy\":");
					json_num(rep, src_auroc[src][a][1]);
					fprintf(rep, "}");
				}
				fprintf(rep, "}");
			}
			fprintf(rep, "}");
		}
	} else if (cli_verbosity > 0) {
		fprintf(rep, "method %s%s, ", rml_calib_method_name(c.method),
			c.copts.bbq_ensemble && c.method == RML_CALIB_BBQ ? " (ensemble)" : "");
		print_params(rep, &cal);
		fprintf(rep, "; calibrated on %lld augmented and %lld %s images\n", (long long)id.n,
			(long long)ood.n, rml_ood_space_name(c.ood));
		if (c.reject != RML_REJECT_NONE) {
			fprintf(rep, "rejection: %s > %.4f rejects %.4f of the calibration data (ACC2 %.4f)",
				c.reject == RML_REJECT_ENTROPY ? "entropy" : "1-confidence",
				c.reject == RML_REJECT_ENTROPY ? rc.threshold : 1 - rc.threshold, rc.reject_rate,
				rc.acc2);
			if (have_test)
				fprintf(rep, ", %.4f of the test data (ACC2 %.4f, OOD rejected %.4f)", trate, tacc2,
					tood_rate);
			fprintf(rep, "\n");
		}
		fprintf(rep, "%-14s", "measure");
		for (int s = 0; s < 2; s++)
			for (int a = 0; a < 2 && ps[s]; a++) {
				char h[40];
				snprintf(h, sizeof h, "%s:%s", s ? "test" : "calib", a ? "after" : "before");
				fprintf(rep, " %12s", h);
			}
		fprintf(rep, "\n");
		for (int i = 0; i < N_MEAS; i++) {
			fprintf(rep, "%-14s", meas_names[i]);
			for (int s = 0; s < 2; s++)
				for (int a = 0; a < 2 && ps[s]; a++) {
					double v[N_MEAS];
					meas_values(&ms[s][a], v);
					if (i == N_MEAS - 1)
						fprintf(rep, " %12lld", (long long)v[i]);
					else
						print_num(rep, v[i]);
				}
			fprintf(rep, "\n");
		}
		for (int src = 0; by_source && src < 2; src++)
			fprintf(rep, "test AUROC, %s OOD only (%lld images): confidence %.4f -> %.4f, entropy %.4f -> %.4f\n",
				src ? "real" : "generated", (long long)(src ? xood.n : tood.n), src_auroc[src][0][0],
				src_auroc[src][1][0], src_auroc[src][0][1], src_auroc[src][1][1]);
	}

	/* Every method side by side, measured on the test data when given. */
	if (c.compare) {
		pset *mp = have_test ? &tp : &cp;
		float *keep = malloc((size_t)(mp->n * mp->k + 1) * sizeof(float));
		if (!keep) {
			rml_errorf(&err, RML_ERR_NOMEM, "out of memory");
			goto done;
		}
		memcpy(keep, mp->cal, (size_t)(mp->n * mp->k) * sizeof(float));
		if (c.json)
			fprintf(rep, ",\"compare\":{\"on\":\"%s\"", mp->name);
		else
			fprintf(rep, "\n%-20s %8s %8s %8s %8s %8s %8s %10s %10s   (on the %s data)\n", "method",
				"acc1", "ece", "mce", "ace", "nll", "brier", "auroc_conf", "auroc_ent", mp->name);
		for (int j = -1; j < RML_CALIB_COUNT + 1; j++) {
			char label[64];
			rml_calib_measures r;
			rml_status s = RML_OK;
			if (j < 0) {
				snprintf(label, sizeof label, "none");
				s = rml_calib_measure(mp->raw, mp->labels, mp->n, mp->k, (int)c.bins, &r, &err);
			} else {
				rml_calib_opts o = c.copts;
				rml_calib_method meth = j == RML_CALIB_COUNT ? RML_CALIB_BBQ : (rml_calib_method)j;
				o.bbq_ensemble = j == RML_CALIB_COUNT;
				snprintf(label, sizeof label, "%s%s", rml_calib_method_name(meth),
					 j == RML_CALIB_COUNT ? "-ensemble" : "");
				s = rml_calib_fit(&other, meth, cp.raw, cp.logits, cp.labels, cp.n, cp.k, &o, &err);
				if (!s)
					s = rml_calib_apply(&other, mp->raw, mp->logits, mp->n, mp->k, mp->cal, &err);
				if (!s)
					s = rml_calib_measure(mp->cal, mp->labels, mp->n, mp->k, (int)c.bins, &r, &err);
				rml_calib_free(&other);
			}
			if (s) {
				free(keep);
				goto done;
			}
			if (c.json) {
				double v[N_MEAS];
				meas_values(&r, v);
				fprintf(rep, ",\"%s\":{", label);
				for (int i = 0; i < N_MEAS; i++) {
					fprintf(rep, "%s\"%s\":", i ? "," : "", meas_names[i]);
					json_meas(rep, i, v[i]);
				}
				fprintf(rep, "}");
			} else {
				fprintf(rep, "%-20s", label);
				double v[8] = { r.acc1, r.ece, r.mce, r.ece_mass, r.nll, r.brier, r.auroc_conf,
						r.auroc_entropy };
				for (int i = 0; i < 8; i++) {
					if (isfinite(v[i]))
						fprintf(rep, i < 6 ? " %8.4f" : " %10.4f", v[i]);
					else
						fprintf(rep, i < 6 ? " %8s" : " %10s", "-");
				}
				fprintf(rep, "\n");
			}
		}
		if (c.json)
			fprintf(rep, "}");
		memcpy(mp->cal, keep, (size_t)(mp->n * mp->k) * sizeof(float));
		free(keep);
	}
	if (c.json)
		fprintf(rep, "}\n");

	if (c.plot && reliability(c.plot, have_test ? &tp : &cp, (int)c.bins, &err))
		goto done;
	if (c.rc_plot && risk_coverage(c.rc_plot, have_test ? &tp : &cp, &err))
		goto done;

	/* The calibrated model. */
	if (rml_model_set_calibrator(m, &cal, &err))
		goto done;
	if (rml_model_set_reject_rule(m, c.reject, c.reject != RML_REJECT_NONE ? rc.threshold : NAN, &err))
		goto done;
	if (rml_model_to_file(m, &of, &err) || cli_save(&of, c.output ? c.output : "-", c.seed, &err))
		goto done;
	status = CLI_EXIT_OK;
done:
	if (status != CLI_EXIT_OK)
		cli_fail(&err);
	free(sbo_nn);
	pset_free(&cp);
	pset_free(&tp);
	rml_calib_free(&cal);
	rml_calib_free(&other);
	rml_oodgen_free(&g);
	rml_dataset_free(&d);
	rml_dataset_free(&id);
	rml_dataset_free(&ood);
	rml_dataset_free(&test);
	rml_dataset_free(&tood);
	rml_dataset_free(&xood);
	rml_model_free(m);
	rml_file_free(&mf);
	rml_file_free(&of);
	return cli_finish(status);
}
