/*
 * rmlops-train — train a model from scratch, or fine-tune chosen parameter
 * groups of an existing one. Checkpoints after every epoch, resumes
 * exactly (the checkpoint carries the settings, the optimiser state and a
 * digest of the training data), stops cleanly on Ctrl-C. The computing is
 * librmlops: the engine (model.h), optimisers (optimizer.h), batches
 * (minibatch.h); this file only wires them together.
 */
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "dataset.h"
#include "inject_model.h"
#include "kernels.h"
#include "metrics.h"
#include "minibatch.h"
#include "model.h"
#include "optimizer.h"

/* Settings that shape the result; a checkpoint records them all so that
 * --resume continues the same run. */
enum {
	G_EPOCHS = 1 << 0, G_BATCH = 1 << 1, G_OPT = 1 << 2, G_LR = 1 << 3, G_MOM = 1 << 4,
	G_NEST = 1 << 5, G_WD = 1 << 6, G_WARM = 1 << 7, G_LS = 1 << 8, G_AUG = 1 << 9,
	G_SEED = 1 << 10, G_TUNE = 1 << 11,
};

struct cmdline {
	const char *data, *val, *model, *arch, *output, *checkpoint, *resume, *log;
	char tune[64];
	int64_t epochs, batch, seed, threads, gamma, warmup, until;
	double lr, momentum, wd, smoothing;
	rml_opt_kind opt;
	int nesterov, crop, flip, json;
	unsigned given;   /* G_* of the options on the command line */
};

static volatile sig_atomic_t interrupted;

/* The first signal asks to stop at the next step; a second one while a
 * validation or a checkpoint is still running ends the program at once,
 * which is safe because checkpoints are renamed into place whole. */
static void on_signal(int sig)
{
	if (interrupted) {
		signal(sig, SIG_DFL);
		raise(sig);
		return;
	}
	interrupted = sig;
}

static void usage(void)
{
	printf("Usage: rmlops-train -d TRAIN [OPTIONS] -o MODEL\n"
	       "Train a model, or fine-tune some of its parameter groups.\n"
	       "\n"
	       "Inputs and outputs:\n"
	       "  -d, --data FILE         training dataset\n"
	       "      --val FILE          validation dataset, evaluated after every epoch\n"
	       "  -m, --model FILE        start from this model (fine-tuning)\n"
	       "      --arch NAME|FILE    architecture of a new model: mvit-xxs (default),\n"
	       "                          mvit-tiny, or a YAML file (see rmlops-train(1))\n"
	       "      --adapters GAMMA    add adapters with channel compression 1, 2, 4 or 8\n"
	       "  -o, --output FILE       the trained model (default standard output)\n"
	       "      --checkpoint FILE   written after every epoch (model, optimiser, settings)\n"
	       "      --resume FILE       continue from a checkpoint, exactly\n"
	       "      --until N           stop after epoch N, leaving the checkpoint\n"
	       "      --log FILE          one JSON line per epoch\n"
	       "What is trained:\n"
	       "      --tune GROUPS       parameter groups to train: theta, omega, phi, W,\n"
	       "                          adapters, all (default: all for a new model, phi,W\n"
	       "                          when fine-tuning); with theta frozen, batch norm uses\n"
	       "                          its running statistics\n"
	       "How:\n"
	       "      --epochs N          (default 10)\n"
	       "      --batch N           (default 128)\n"
	       "      --optimizer NAME    sgd (default) or adamw\n"
	       "      --lr X              peak learning rate (default 0.1 for sgd, 0.002 adamw)\n"
	       "      --momentum X        SGD momentum (default 0.9); --nesterov\n"
	       "      --wd X              weight decay (default 5e-4 sgd, 0.05 adamw); not on\n"
	       "                          norms and biases\n"
	       "      --warmup N          warm-up epochs (default 1)\n"
	       "      --label-smoothing X (default 0.1)\n"
	       "      --augment LIST      crop,flip (default), crop, flip or none\n"
	       "  -s, --seed N            seed (default 1)\n"
	       "  -j, --threads N         worker threads (default: all cores)\n"
	       "      --json              the final report as JSON on standard error\n"
	       "  -q, --quiet / -v, --verbose;  -h, --help;  -V, --version\n"
	       "\n"
	       "Example: rmlops-train -d train.rml --val val.rml --epochs 100 -o base.rml\n");
}

/* "crop,flip", "crop", "flip" or "none", each name at most once. */
static int parse_augment(const char *s, int *crop, int *flip)
{
	*crop = *flip = 0;
	if (strcmp(s, "none") == 0)
		return 0;
	char buf[64];
	if (strlen(s) >= sizeof buf)
		return -1;
	strcpy(buf, s);
	for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		int *which = strcmp(t, "crop") == 0 ? crop : strcmp(t, "flip") == 0 ? flip : NULL;
		if (!which || *which)
			return -1;
		*which = 1;
	}
	return *crop || *flip ? 0 : -1;
}

static const char *augment_name(int crop, int flip)
{
	return crop && flip ? "crop,flip" : crop ? "crop" : flip ? "flip" : "none";
}

static int parse_args(int argc, char **argv, struct cmdline *c)
{
	enum {
		O_VAL = 256, O_ARCH, O_ADAPTERS, O_CKPT, O_RESUME, O_UNTIL, O_LOG, O_TUNE, O_EPOCHS,
		O_BATCH, O_OPT, O_LR, O_MOM, O_NEST, O_WD, O_WARM, O_LS, O_AUG, O_JSON,
	};
	static const struct option opts[] = {
		{ "data", required_argument, 0, 'd' }, { "val", required_argument, 0, O_VAL },
		{ "model", required_argument, 0, 'm' }, { "arch", required_argument, 0, O_ARCH },
		{ "adapters", required_argument, 0, O_ADAPTERS },
		{ "output", required_argument, 0, 'o' },
		{ "checkpoint", required_argument, 0, O_CKPT },
		{ "resume", required_argument, 0, O_RESUME }, { "until", required_argument, 0, O_UNTIL },
		{ "log", required_argument, 0, O_LOG },
		{ "tune", required_argument, 0, O_TUNE }, { "epochs", required_argument, 0, O_EPOCHS },
		{ "batch", required_argument, 0, O_BATCH }, { "optimizer", required_argument, 0, O_OPT },
		{ "lr", required_argument, 0, O_LR }, { "momentum", required_argument, 0, O_MOM },
		{ "nesterov", no_argument, 0, O_NEST }, { "wd", required_argument, 0, O_WD },
		{ "warmup", required_argument, 0, O_WARM },
		{ "label-smoothing", required_argument, 0, O_LS },
		{ "augment", required_argument, 0, O_AUG }, { "seed", required_argument, 0, 's' },
		{ "threads", required_argument, 0, 'j' }, { "json", no_argument, 0, O_JSON },
		{ "quiet", no_argument, 0, 'q' }, { "verbose", no_argument, 0, 'v' },
		{ "help", no_argument, 0, 'h' }, { "version", no_argument, 0, 'V' }, { 0, 0, 0, 0 },
	};
	int o;
	while ((o = getopt_long(argc, argv, "d:m:o:s:j:qvhV", opts, NULL)) != -1) {
		switch (o) {
		case 'd': c->data = optarg; break;
		case O_VAL: c->val = optarg; break;
		case 'm': c->model = optarg; break;
		case O_ARCH: c->arch = optarg; break;
		case O_ADAPTERS:
			if (cli_parse_i64("--adapters", optarg, 1, 8, &c->gamma)) return 2;
			if (c->gamma != 1 && c->gamma != 2 && c->gamma != 4 && c->gamma != 8)
				return cli_usage_error("--adapters is 1, 2, 4 or 8");
			break;
		case 'o': c->output = optarg; break;
		case O_CKPT: c->checkpoint = optarg; break;
		case O_RESUME: c->resume = optarg; break;
		case O_UNTIL: if (cli_parse_i64("--until", optarg, 1, 100000, &c->until)) return 2; break;
		case O_LOG: c->log = optarg; break;
		case O_TUNE:
			if (strlen(optarg) >= sizeof c->tune)
				return cli_usage_error("--tune: '%s' is too long", optarg);
			strcpy(c->tune, optarg);
			c->given |= G_TUNE;
			break;
		case O_EPOCHS:
			if (cli_parse_i64("--epochs", optarg, 1, 100000, &c->epochs)) return 2;
			c->given |= G_EPOCHS;
			break;
		case O_BATCH:
			if (cli_parse_i64("--batch", optarg, 1, 65536, &c->batch)) return 2;
			c->given |= G_BATCH;
			break;
		case O_OPT:
			if (strcmp(optarg, "sgd") == 0) c->opt = RML_OPT_SGD;
			else if (strcmp(optarg, "adamw") == 0) c->opt = RML_OPT_ADAMW;
			else return cli_usage_error("--optimizer is sgd or adamw, not '%s'", optarg);
			c->given |= G_OPT;
			break;
		case O_LR:
			if (cli_parse_f64("--lr", optarg, 0, 100, &c->lr)) return 2;
			c->given |= G_LR;
			break;
		case O_MOM:
			if (cli_parse_f64("--momentum", optarg, 0, 0.9999, &c->momentum)) return 2;
			c->given |= G_MOM;
			break;
		case O_NEST: c->nesterov = 1; c->given |= G_NEST; break;
		case O_WD:
			if (cli_parse_f64("--wd", optarg, 0, 10, &c->wd)) return 2;
			c->given |= G_WD;
			break;
		case O_WARM:
			if (cli_parse_i64("--warmup", optarg, 0, 100000, &c->warmup)) return 2;
			c->given |= G_WARM;
			break;
		case O_LS:
			if (cli_parse_f64("--label-smoothing", optarg, 0, 0.999, &c->smoothing)) return 2;
			c->given |= G_LS;
			break;
		case O_AUG:
			if (parse_augment(optarg, &c->crop, &c->flip))
				return cli_usage_error("--augment is crop,flip, crop, flip or none, not '%s'",
						       optarg);
			c->given |= G_AUG;
			break;
		case 's':
			if (cli_parse_i64("--seed", optarg, 0, INT64_MAX, &c->seed)) return 2;
			c->given |= G_SEED;
			break;
		case 'j': if (cli_parse_i64("--threads", optarg, 1, 1024, &c->threads)) return 2; break;
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
	if (!c->data)
		return cli_usage_error("no training data; give -d FILE");
	if (c->model && c->arch)
		return cli_usage_error("--model and --arch exclude each other");
	if (c->resume && (c->model || c->arch || c->gamma))
		return cli_usage_error("--resume carries its own model; drop --model, --arch, --adapters");
	if (c->until && !c->resume && c->until > c->epochs)
		return cli_usage_error("--until %lld is beyond --epochs %lld", (long long)c->until,
				       (long long)c->epochs);
	if (c->until && !c->checkpoint)
		return cli_usage_error("--until needs --checkpoint FILE to continue from");
	return 0;
}

/* Adopt the settings a checkpoint was made with, except those given on the
 * command line, which win with a warning when they differ (the run then no
 * longer matches an uninterrupted one). Keys missing from an older
 * checkpoint leave the command line's values. */
static void resume_i64(const rml_file *f, const char *key, const char *opt, unsigned bit,
		       const struct cmdline *c, int64_t *v)
{
	int64_t x;
	if (!rml_get(f, key) || rml_get_i64(f, key, &x, NULL))
		return;
	if (!(c->given & bit))
		*v = x;
	else if (x != *v)
		cli_msg("warning: %s %lld differs from the checkpoint's %lld", opt, (long long)*v,
			(long long)x);
}

static void resume_f64(const rml_file *f, const char *key, const char *opt, unsigned bit,
		       const struct cmdline *c, double *v)
{
	double x;
	if (!rml_get(f, key) || rml_get_f64(f, key, &x, NULL))
		return;
	if (!(c->given & bit))
		*v = x;
	else if (x != *v)
		cli_msg("warning: %s %g differs from the checkpoint's %g", opt, *v, x);
}

static int resume_settings(const rml_file *f, struct cmdline *c, rml_error *err)
{
	const char *s;
	int64_t v;
	if (rml_get(f, "train.optimizer") && !rml_get_str(f, "train.optimizer", &s, NULL)) {
		rml_opt_kind k = strcmp(s, "adamw") == 0 ? RML_OPT_ADAMW : RML_OPT_SGD;
		if ((c->given & G_OPT) && k != c->opt) {
			rml_errorf(err, RML_ERR_MISMATCH, "the checkpoint was made with --optimizer %s", s);
			return -1;
		}
		c->opt = k;
	}
	resume_i64(f, "train.epochs", "--epochs", G_EPOCHS, c, &c->epochs);
	resume_i64(f, "train.batch", "--batch", G_BATCH, c, &c->batch);
	resume_i64(f, "train.seed", "--seed", G_SEED, c, &c->seed);
	resume_i64(f, "train.warmup", "--warmup", G_WARM, c, &c->warmup);
	resume_f64(f, "train.lr", "--lr", G_LR, c, &c->lr);
	resume_f64(f, "train.momentum", "--momentum", G_MOM, c, &c->momentum);
	resume_f64(f, "train.wd", "--wd", G_WD, c, &c->wd);
	resume_f64(f, "train.label_smoothing", "--label-smoothing", G_LS, c, &c->smoothing);
	v = c->nesterov;
	resume_i64(f, "train.nesterov", "--nesterov", G_NEST, c, &v);
	c->nesterov = v != 0;
	if (rml_get(f, "train.augment") && !rml_get_str(f, "train.augment", &s, NULL)) {
		int crop, flip;
		if (parse_augment(s, &crop, &flip)) {
			rml_errorf(err, RML_ERR_FORMAT, "the checkpoint's train.augment '%s' is not valid", s);
			return -1;
		}
		if (!(c->given & G_AUG)) {
			c->crop = crop;
			c->flip = flip;
		} else if (crop != c->crop || flip != c->flip) {
			cli_msg("warning: --augment %s differs from the checkpoint's %s",
				augment_name(c->crop, c->flip), s);
		}
	}
	if (rml_get(f, "train.tune") && !rml_get_str(f, "train.tune", &s, NULL)) {
		if (strlen(s) >= sizeof c->tune) {
			rml_errorf(err, RML_ERR_FORMAT, "the checkpoint's train.tune is too long");
			return -1;
		}
		if (!(c->given & G_TUNE))
			strcpy(c->tune, s);
		else if (strcmp(s, c->tune))
			cli_msg("warning: --tune %s differs from the checkpoint's %s", c->tune, s);
	}
	return 0;
}

/* SHA-256 (hex) of a dataset's geometry, images and labels: a checkpoint
 * refuses to continue on other data. */
static void dataset_digest(const rml_dataset *d, char hex[65])
{
	rml_sha256 h;
	uint8_t out[32];
	int64_t dims[4] = { d->n, d->h, d->w, d->c };
	rml_sha256_init(&h);
	rml_sha256_update(&h, dims, sizeof dims);
	rml_sha256_update(&h, d->images, (size_t)(d->n * d->h * d->w * d->c));
	rml_sha256_update(&h, d->labels, (size_t)d->n * sizeof *d->labels);
	rml_sha256_final(&h, out);
	for (int i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", out[i]);
}

static int load_dataset(const char *path, const char *role, rml_dataset *d, rml_error *err)
{
	rml_file f;
	if (cli_load(&f, path, role, err))
		return -1;
	rml_status st = rml_dataset_from_file(d, &f, err);
	rml_file_free(&f);
	return st ? -1 : 0;
}

/* A new model from a preset name or a YAML file. */
static int create_model(rml_model **m, const struct cmdline *c, const rml_dataset *train,
			rml_error *err)
{
	rml_model_config cfg = { c->arch ? c->arch : "mvit-xxs", train->n_classes, 0,
				 (uint64_t)c->seed };
	char *text = NULL;
	if (c->arch && !rml_model_preset_yaml(c->arch)) {
		FILE *fp = fopen(c->arch, "r");
		if (!fp) {
			rml_errorf(err, RML_ERR_IO, "%s: no such preset or file", c->arch);
			return -1;
		}
		text = calloc(1 << 20, 1);
		size_t got = text ? fread(text, 1, (1 << 20) - 1, fp) : 0;
		int more = text && !feof(fp);
		fclose(fp);
		if (!text || got == 0 || more) {
			free(text);
			rml_errorf(err, RML_ERR_IO, "%s: cannot read the architecture (empty, unreadable "
				   "or over 1 MiB)", c->arch);
			return -1;
		}
		cfg.arch = text;
	}
	rml_status s = rml_model_create(m, &cfg, err);
	free(text);
	if (!s)
		s = rml_model_set_class_names(*m, (const char *const *)train->class_names,
					      train->n_classes, err);
	return s ? -1 : 0;
}

/* Accuracy and NLL of the model on d (eval mode), in probs [d->n, k] and
 * pred [d->n] sized by the caller. */
static int validate(rml_model *m, const rml_dataset *d, int64_t batch, float *probs, int32_t *pred,
		    double *acc, double *nll, rml_error *err)
{
	int64_t k = rml_model_n_classes(m);
	if (rml_predict_dataset(m, d, batch, probs, err))
		return -1;
	rml_top1(probs, d->n, k, pred, NULL);
	int64_t ok = 0;
	for (int64_t i = 0; i < d->n; i++)
		ok += pred[i] == d->labels[i];
	*acc = d->n ? (double)ok / (double)d->n : 0;
	*nll = rml_nll(probs, d->labels, d->n, k);
	return 0;
}

static int save_checkpoint(rml_model *m, const rml_optim *o, int64_t epoch, const struct cmdline *c,
			   const char *digest, rml_error *err)
{
	rml_file f;
	rml_file_init(&f);
	rml_status st = rml_model_to_file(m, &f, err);
	if (!st)
		st = rml_optim_to_file(o, &f, err);
	if (!st &&
	    (rml_set_i64(&f, "train.epoch", epoch) || rml_set_i64(&f, "train.epochs", c->epochs) ||
	     rml_set_i64(&f, "train.seed", c->seed) || rml_set_i64(&f, "train.batch", c->batch) ||
	     rml_set_str(&f, "train.optimizer", c->opt == RML_OPT_SGD ? "sgd" : "adamw") ||
	     rml_set_f64(&f, "train.lr", c->lr) || rml_set_f64(&f, "train.momentum", c->momentum) ||
	     rml_set_i64(&f, "train.nesterov", c->nesterov) || rml_set_f64(&f, "train.wd", c->wd) ||
	     rml_set_i64(&f, "train.warmup", c->warmup) ||
	     rml_set_f64(&f, "train.label_smoothing", c->smoothing) ||
	     rml_set_str(&f, "train.augment", augment_name(c->crop, c->flip)) ||
	     rml_set_str(&f, "train.tune", c->tune) || rml_set_str(&f, "train.data", digest)))
		st = rml_errorf(err, RML_ERR_NOMEM, "out of memory");
	if (!st)
		st = cli_save(&f, c->checkpoint, c->seed, err);
	rml_file_free(&f);
	return st ? -1 : 0;
}

/* On resume, keep the log lines of the epochs the checkpoint holds and
 * drop any written after it (a run stopped between checkpoint and crash),
 * so the log reads as one uninterrupted run. Returns the file open for
 * appending, or NULL. */
static FILE *open_log(const char *path, int64_t keep_epochs, rml_error *err)
{
	FILE *fp = NULL;
	char *kept = NULL;
	size_t len = 0;
	if (keep_epochs > 0 && (fp = fopen(path, "r"))) {
		FILE *mem = open_memstream(&kept, &len);
		char line[1024];
		while (mem && fgets(line, sizeof line, fp)) {
			long long e;
			if (sscanf(line, "{\"epoch\":%lld", &e) == 1 && e <= keep_epochs)
				fputs(line, mem);
		}
		fclose(fp);
		if (mem)
			fclose(mem);
	}
	fp = fopen(path, "w");
	if (fp && kept)
		fwrite(kept, 1, len, fp);
	free(kept);
	if (!fp)
		rml_errorf(err, RML_ERR_IO, "cannot write %s", path);
	return fp;
}

static void json_or_null(char *buf, size_t n, double v)
{
	if (isfinite(v))
		snprintf(buf, n, "%.5f", v);
	else
		snprintf(buf, n, "null");
}

int main(int argc, char **argv)
{
	cli_init("rmlops-train", argc, argv);
	struct cmdline c = { .epochs = 10, .batch = 128, .seed = 1, .warmup = 1, .lr = -1,
			     .momentum = 0.9, .wd = -1, .smoothing = 0.1, .crop = 1, .flip = 1 };
	int st = parse_args(argc, argv, &c);
	if (st)
		return st < 0 ? cli_finish(CLI_EXIT_OK) : st;
	const char *out = c.output ? c.output : "-";
	/* With --until the model may not be written at all: checked then at
	 * the end. */
	if ((!c.until || c.output) && cli_check_output(out))
		return CLI_EXIT_USAGE;
	rml_set_threads((int)c.threads);

	rml_error err = { 0 };
	rml_dataset train, val;
	rml_dataset_init(&train);
	rml_dataset_init(&val);
	rml_model *m = NULL;
	rml_optim opt = { 0 };
	float *x = NULL, *probs = NULL, *dlogits = NULL, *vprobs = NULL;
	int32_t *y = NULL, *vpred = NULL;
	int64_t *order = NULL;
	FILE *log = NULL;
	int status = CLI_EXIT_FAIL;
	int64_t start_epoch = 0;
	char digest[65];
	rml_file ck;
	rml_file_init(&ck);

	if (load_dataset(c.data, "data", &train, &err))
		goto done;
	if (c.val && load_dataset(c.val, "val", &val, &err))
		goto done;
	if (train.n < 1) {
		rml_errorf(&err, RML_ERR_ARG, "the training set is empty");
		goto done;
	}
	dataset_digest(&train, digest);
	if (c.resume) {
		if (cli_load(&ck, c.resume, "checkpoint", &err) || rml_model_from_file(&m, &ck, &err))
			goto done;
		if (!rml_get(&ck, "train.epoch") || rml_get_i64(&ck, "train.epoch", &start_epoch, &err) ||
		    start_epoch < 0) {
			rml_errorf(&err, RML_ERR_FORMAT, "%s is not a checkpoint (no train.epoch)", c.resume);
			goto done;
		}
		const char *was;
		if (rml_get(&ck, "train.data") && !rml_get_str(&ck, "train.data", &was, NULL) &&
		    strcmp(was, digest)) {
			rml_errorf(&err, RML_ERR_MISMATCH, "%s was trained on other data than %s; to "
				   "train further on new data, start from it with -m", c.resume, c.data);
			goto done;
		}
		if (resume_settings(&ck, &c, &err))
			goto done;
	} else if (c.model) {
		rml_file f;
		if (cli_load(&f, c.model, "model", &err))
			goto done;
		rml_status s = rml_model_from_file(&m, &f, &err);
		rml_file_free(&f);
		if (s)
			goto done;
	} else if (create_model(&m, &c, &train, &err)) {
		goto done;
	}
	if (c.lr < 0)
		c.lr = c.opt == RML_OPT_SGD ? 0.1 : 0.002;
	if (c.wd < 0)
		c.wd = c.opt == RML_OPT_SGD ? 5e-4 : 0.05;
	if (c.until > c.epochs) {
		rml_errorf(&err, RML_ERR_ARG, "--until %lld is beyond --epochs %lld", (long long)c.until,
			   (long long)c.epochs);
		goto done;
	}
	if (c.gamma && !rml_model_has_adapters(m) &&
	    rml_model_add_adapters(m, (int)c.gamma, (uint64_t)c.seed, &err))
		goto done;
	int h, w, ch;
	rml_model_input_shape(m, &h, &w, &ch);
	const rml_dataset *bad = train.h != h || train.w != w || train.c != ch ? &train
				 : c.val && (val.h != h || val.w != w || val.c != ch) ? &val : NULL;
	if (bad) {
		rml_errorf(&err, RML_ERR_MISMATCH, "the model takes %dx%dx%d images, %s holds %lldx%lldx%lld",
			   h, w, ch, bad == &train ? c.data : c.val, (long long)bad->h, (long long)bad->w,
			   (long long)bad->c);
		goto done;
	}
	int64_t k = rml_model_n_classes(m);
	if (train.n_classes > k || (c.val && val.n_classes > k)) {
		rml_errorf(&err, RML_ERR_MISMATCH, "the data has %d classes, the model %lld",
			   train.n_classes > k ? train.n_classes : val.n_classes, (long long)k);
		goto done;
	}
	for (int64_t i = 0; i < train.n; i++)
		if (train.labels[i] < 0) {
			rml_errorf(&err, RML_ERR_ARG, "training image %lld has no label", (long long)i);
			goto done;
		}
	for (int64_t i = 0; c.val && i < val.n; i++)
		if (val.labels[i] < 0) {
			rml_errorf(&err, RML_ERR_ARG, "validation image %lld has no label", (long long)i);
			goto done;
		}
	/* Fine-tuning defaults to the adapter and the head, or the head alone. */
	if (!c.tune[0])
		strcpy(c.tune, !c.model ? "all" : rml_model_has_adapters(m) ? "phi,W" : "W");
	unsigned mask = RML_GROUPS_ALL;
	if (rml_group_mask_parse(c.tune, &mask, &err))
		goto done;
	if (rml_model_n_params(m, mask) == 0) {
		rml_errorf(&err, RML_ERR_ARG, "nothing to train in groups '%s' (no adapters?)", c.tune);
		goto done;
	}
	int freeze_bn = !(mask & RML_GROUP_BIT(RML_GROUP_THETA));
	rml_model_set_trainable(m, mask);
	if (rml_model_reserve(m, c.batch, 1, &err) ||
	    rml_optim_init(&opt, c.opt, rml_model_n_params(m, RML_GROUPS_ALL), &err))
		goto done;
	opt.momentum = (float)c.momentum;
	opt.nesterov = c.nesterov;
	if (c.resume && rml_optim_from_file(&opt, &ck, &err))
		goto done;
	/* The command line may have changed these (with a warning above). */
	opt.momentum = (float)c.momentum;
	opt.nesterov = c.nesterov;
	rml_file_free(&ck);
	/* Every buffer of the epoch loop, once. */
	x = malloc((size_t)(c.batch * h * w * ch) * sizeof *x);
	probs = malloc((size_t)(c.batch * k) * sizeof *probs);
	dlogits = malloc((size_t)(c.batch * k) * sizeof *dlogits);
	y = malloc((size_t)c.batch * sizeof *y);
	order = malloc((size_t)train.n * sizeof *order);
	vprobs = malloc((size_t)((c.val ? val.n : 0) * k + 1) * sizeof *vprobs);
	vpred = malloc((size_t)((c.val ? val.n : 0) + 1) * sizeof *vpred);
	if (!x || !probs || !dlogits || !y || !order || !vprobs || !vpred) {
		rml_errorf(&err, RML_ERR_NOMEM, "out of memory");
		goto done;
	}
	if (c.log && !(log = open_log(c.log, c.resume ? start_epoch : 0, &err)))
		goto done;
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	int64_t steps_per_epoch = train.n / c.batch + (train.n % c.batch != 0);
	int64_t total = steps_per_epoch * c.epochs, warm = steps_per_epoch * c.warmup;
	int64_t stop = c.until ? c.until : c.epochs;
	int64_t np;
	rml_param *params = rml_model_params(m, &np);
	double last_acc = NAN, last_nll = NAN, last_loss = NAN;
	int64_t epoch;
	for (epoch = start_epoch; epoch < stop && !interrupted; epoch++) {
		/* Each epoch draws from its own stream, so a resumed run shuffles
		 * and augments exactly as an uninterrupted one. */
		rml_rng rng;
		rml_rng_seed_stream(&rng, (uint64_t)c.seed, (uint64_t)epoch);
		for (int64_t i = 0; i < train.n; i++)
			order[i] = i;
		rml_rng_shuffle(&rng, order, train.n);
		double t0 = rml_now(), loss_sum = 0;
		int64_t seen = 0, right = 0;
		char label[64];
		snprintf(label, sizeof label, "epoch %lld/%lld", (long long)epoch + 1, (long long)c.epochs);
		for (int64_t s = 0; s < steps_per_epoch && !interrupted; s++) {
			int64_t b0 = s * c.batch, b = train.n - b0 < c.batch ? train.n - b0 : c.batch;
			rml_batch_fill(x, y, &train, order + b0, b, c.crop ? 4 : 0, c.flip, &rng);
			float *logits;
			if (rml_model_forward(m, x, b, freeze_bn ? RML_MODE_EVAL : RML_MODE_TRAIN, &logits, &err))
				goto done;
			float loss = rml_xent_forward(probs, logits, y, b, k, (float)c.smoothing);
			if (!isfinite(loss)) {
				rml_errorf(&err, RML_ERR_NUMERIC, "the loss became %g at epoch %lld step %lld; "
					   "lower --lr", loss, (long long)epoch + 1, (long long)s + 1);
				goto done;
			}
			for (int64_t i = 0; i < b; i++) {
				int64_t best = 0;
				for (int64_t j = 1; j < k; j++)
					if (probs[i * k + j] > probs[i * k + best])
						best = j;
				right += best == y[i];
			}
			loss_sum += loss * (double)b;
			seen += b;
			memset(dlogits, 0, (size_t)(b * k) * sizeof *dlogits);
			rml_xent_backward(dlogits, probs, y, b, k, (float)c.smoothing, 1.0f);
			rml_model_zero_grad(m);
			if (rml_model_backward(m, dlogits, NULL, &err))
				goto done;
			float lr = (float)rml_lr_cosine(c.lr, epoch * steps_per_epoch + s, warm, total);
			rml_optim_begin(&opt);
			for (int64_t p = 0; p < np; p++) {
				if (!(mask & RML_GROUP_BIT(params[p].group)))
					continue;
				/* No decay on norms and biases (vectors), as is usual. */
				float wd = params[p].ndim > 1 ? (float)c.wd : 0.0f;
				rml_optim_update(&opt, params[p].data, params[p].grad, params[p].offset,
						 params[p].numel, lr, wd);
			}
			cli_progress(label, s + 1, steps_per_epoch);
		}
		/* An epoch cut short is dropped whole: the checkpoint of the
		 * last complete one stays. */
		if (interrupted)
			break;
		double secs = rml_now() - t0;
		last_loss = loss_sum / (double)seen;
		if (c.val && validate(m, &val, c.batch, vprobs, vpred, &last_acc, &last_nll, &err))
			goto done;
		if (c.checkpoint && save_checkpoint(m, &opt, epoch + 1, &c, digest, &err))
			goto done;
		char va[32], vn[32], line[512];
		json_or_null(va, sizeof va, last_acc);
		json_or_null(vn, sizeof vn, last_nll);
		snprintf(line, sizeof line,
			 "{\"epoch\":%lld,\"lr\":%.6g,\"loss\":%.5f,\"train_acc\":%.5f,\"val_acc\":%s,"
			 "\"val_nll\":%s,\"seconds\":%.2f,\"images_per_s\":%.1f}",
			 (long long)epoch + 1,
			 rml_lr_cosine(c.lr, (epoch + 1) * steps_per_epoch - 1, warm, total), last_loss,
			 (double)right / (double)seen, va, vn, secs, secs > 0 ? (double)seen / secs : 0.0);
		if (log && (fprintf(log, "%s\n", line) < 0 || fflush(log))) {
			rml_errorf(&err, RML_ERR_IO, "cannot write %s", c.log);
			goto done;
		}
		if (cli_verbosity > 1 || (cli_verbosity > 0 && !c.json))
			cli_msg("epoch %lld: loss %.4f, train acc %.4f%s%.4f, %.0f images/s", (long long)epoch + 1,
				last_loss, (double)right / (double)seen, c.val ? ", val acc " : "",
				c.val ? last_acc : 0.0, secs > 0 ? (double)seen / secs : 0.0);
	}
	if (interrupted) {
		cli_msg("%s; %s", interrupted == SIGINT ? "interrupted" : "terminated",
			c.checkpoint ? "the last checkpoint is intact" : "nothing written");
		status = 128 + interrupted;
		goto done;
	}
	if (c.until && c.until < c.epochs) {
		if (cli_verbosity > 0)
			cli_msg("stopped after epoch %lld of %lld; continue with --resume %s",
				(long long)c.until, (long long)c.epochs, c.checkpoint);
	} else if (c.until && !c.output && cli_check_output(out)) {
		status = CLI_EXIT_USAGE;
		goto done;
	} else {
		rml_file f;
		rml_file_init(&f);
		rml_status s = rml_model_to_file(m, &f, &err);
		if (!s)
			s = cli_save(&f, out, c.seed, &err);
		rml_file_free(&f);
		if (s)
			goto done;
	}
	if (c.json) {
		char va[32], vn[32], lo[32];
		json_or_null(va, sizeof va, last_acc);
		json_or_null(vn, sizeof vn, last_nll);
		json_or_null(lo, sizeof lo, last_loss);
		fprintf(stderr, "{\"epochs\":%lld,\"loss\":%s,\"val_acc\":%s,\"val_nll\":%s}\n",
			(long long)epoch, lo, va, vn);
	}
	status = CLI_EXIT_OK;
done:
	if (status == CLI_EXIT_FAIL)
		cli_fail(&err);
	if (log)
		fclose(log);
	rml_file_free(&ck);
	free(x);
	free(probs);
	free(dlogits);
	free(vprobs);
	free(vpred);
	free(y);
	free(order);
	rml_optim_free(&opt);
	rml_model_free(m);
	rml_dataset_free(&train);
	rml_dataset_free(&val);
	return cli_finish(status);
}
