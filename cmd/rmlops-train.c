/*
 * rmlops-train — train a model from scratch, or fine-tune chosen parameter
 * groups of an existing one. Checkpoints after every epoch, resumes
 * exactly, stops cleanly on Ctrl-C. The computing is librmlops: the
 * engine (model.h), optimisers (optimizer.h), batches (minibatch.h).
 */
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "dataset.h"
#include "faultsim.h"
#include "kernels.h"
#include "metrics.h"
#include "minibatch.h"
#include "model.h"
#include "optimizer.h"

struct cmdline {
	const char *data, *val, *model, *arch, *output, *checkpoint, *resume, *log, *tune;
	int64_t epochs, batch, seed, threads, gamma, warmup;
	double lr, momentum, wd, smoothing;
	rml_opt_kind opt;
	int nesterov, crop, flip, json;
};

static volatile sig_atomic_t interrupted;

static void on_sigint(int sig)
{
	(void)sig;
	interrupted = 1;
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
	       "                          mvit-tiny, or a YAML file (see rmlops-arch(5))\n"
	       "      --adapters GAMMA    add adapters with channel compression 1, 2, 4 or 8\n"
	       "  -o, --output FILE       the trained model (default standard output)\n"
	       "      --checkpoint FILE   written after every epoch (model and optimiser state)\n"
	       "      --resume FILE       continue from a checkpoint, exactly\n"
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
	       "      --augment LIST      crop,flip (default) or none\n"
	       "  -s, --seed N            seed (default 1)\n"
	       "  -j, --threads N         worker threads (default: all cores)\n"
	       "      --json              the final report as JSON on standard error\n"
	       "  -q, --quiet / -v, --verbose;  -h, --help;  -V, --version\n"
	       "\n"
	       "Example: rmlops-train -d train.rml --val val.rml --epochs 100 -o base.rml\n");
}

static int parse_args(int argc, char **argv, struct cmdline *c)
{
	enum {
		O_VAL = 256, O_ARCH, O_ADAPTERS, O_CKPT, O_RESUME, O_LOG, O_TUNE, O_EPOCHS, O_BATCH,
		O_OPT, O_LR, O_MOM, O_NEST, O_WD, O_WARM, O_LS, O_AUG, O_JSON,
	};
	static const struct option opts[] = {
		{ "data", required_argument, 0, 'd' }, { "val", required_argument, 0, O_VAL },
		{ "model", required_argument, 0, 'm' }, { "arch", required_argument, 0, O_ARCH },
		{ "adapters", required_argument, 0, O_ADAPTERS },
		{ "output", required_argument, 0, 'o' },
		{ "checkpoint", required_argument, 0, O_CKPT },
		{ "resume", required_argument, 0, O_RESUME }, { "log", required_argument, 0, O_LOG },
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
		case O_LOG: c->log = optarg; break;
		case O_TUNE: c->tune = optarg; break;
		case O_EPOCHS: if (cli_parse_i64("--epochs", optarg, 1, 100000, &c->epochs)) return 2; break;
		case O_BATCH: if (cli_parse_i64("--batch", optarg, 1, 65536, &c->batch)) return 2; break;
		case O_OPT:
			if (strcmp(optarg, "sgd") == 0) c->opt = RML_OPT_SGD;
			else if (strcmp(optarg, "adamw") == 0) c->opt = RML_OPT_ADAMW;
			else return cli_usage_error("--optimizer is sgd or adamw, not '%s'", optarg);
			break;
		case O_LR: if (cli_parse_f64("--lr", optarg, 0, 100, &c->lr)) return 2; break;
		case O_MOM: if (cli_parse_f64("--momentum", optarg, 0, 0.9999, &c->momentum)) return 2; break;
		case O_NEST: c->nesterov = 1; break;
		case O_WD: if (cli_parse_f64("--wd", optarg, 0, 10, &c->wd)) return 2; break;
		case O_WARM: if (cli_parse_i64("--warmup", optarg, 0, 100000, &c->warmup)) return 2; break;
		case O_LS: if (cli_parse_f64("--label-smoothing", optarg, 0, 0.999, &c->smoothing)) return 2; break;
		case O_AUG:
			c->crop = strstr(optarg, "crop") != NULL;
			c->flip = strstr(optarg, "flip") != NULL;
			if (strcmp(optarg, "none") && !c->crop && !c->flip)
				return cli_usage_error("--augment is a list of crop, flip, or none");
			break;
		case 's': if (cli_parse_i64("--seed", optarg, 0, INT64_MAX, &c->seed)) return 2; break;
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
	if (c->resume && (c->model || c->arch))
		return cli_usage_error("--resume carries its own model; drop --model/--arch");
	return 0;
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

/* Accuracy and NLL of the model on d (eval mode). */
static int validate(rml_model *m, const rml_dataset *d, int64_t batch, double *acc, double *nll,
		    rml_error *err)
{
	int64_t k = rml_model_n_classes(m);
	float *probs = malloc((size_t)(d->n * k) * sizeof *probs);
	int32_t *pred = malloc((size_t)d->n * sizeof *pred);
	if (!probs || !pred) {
		free(probs);
		free(pred);
		rml_errorf(err, RML_ERR_NOMEM, "out of memory");
		return -1;
	}
	int r = rml_predict_dataset(m, d, batch, probs, err) ? -1 : 0;
	if (!r) {
		rml_top1(probs, d->n, k, pred, NULL);
		int64_t ok = 0;
		for (int64_t i = 0; i < d->n; i++)
			ok += pred[i] == d->labels[i];
		*acc = d->n ? (double)ok / (double)d->n : 0;
		*nll = rml_nll(probs, d->labels, d->n, k);
	}
	free(probs);
	free(pred);
	return r;
}

static int save_checkpoint(rml_model *m, const rml_optim *o, int64_t epoch, const struct cmdline *c,
			   const char *path, rml_error *err)
{
	rml_file f;
	rml_file_init(&f);
	rml_status st = rml_model_to_file(m, &f, err);
	if (!st)
		st = rml_optim_to_file(o, &f, err);
	if (!st)
		st = rml_set_i64(&f, "train.epoch", epoch);
	if (!st)
		st = rml_set_i64(&f, "train.epochs", c->epochs);
	if (!st)
		st = rml_set_i64(&f, "train.seed", c->seed);
	if (!st)
		st = cli_save(&f, path, c->seed, err);
	rml_file_free(&f);
	return st ? -1 : 0;
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
	if (cli_check_output(out))
		return CLI_EXIT_USAGE;
	if (c.lr < 0)
		c.lr = c.opt == RML_OPT_SGD ? 0.1 : 0.002;
	if (c.wd < 0)
		c.wd = c.opt == RML_OPT_SGD ? 5e-4 : 0.05;
	rml_set_threads((int)c.threads);

	rml_error err = { 0 };
	rml_dataset train, val;
	rml_dataset_init(&train);
	rml_dataset_init(&val);
	rml_model *m = NULL;
	rml_optim opt = { 0 };
	float *x = NULL, *probs = NULL, *dlogits = NULL;
	int32_t *y = NULL;
	int64_t *order = NULL;
	FILE *log = NULL;
	int status = CLI_EXIT_FAIL;
	int64_t start_epoch = 0;
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
	if (c.resume) {
		if (cli_load(&ck, c.resume, "checkpoint", &err) || rml_model_from_file(&m, &ck, &err))
			goto done;
		if (rml_get_i64(&ck, "train.epoch", &start_epoch, &err)) {
			rml_errorf(&err, RML_ERR_FORMAT, "%s is not a checkpoint (no train.epoch)", c.resume);
			goto done;
		}
	} else if (c.model) {
		rml_file f;
		if (cli_load(&f, c.model, "model", &err))
			goto done;
		rml_status s = rml_model_from_file(&m, &f, &err);
		rml_file_free(&f);
		if (s)
			goto done;
	} else {
		rml_model_config cfg = { c.arch ? c.arch : "mvit-xxs", train.n_classes, 0,
					 (uint64_t)c.seed };
		char *text = NULL;
		if (c.arch && !rml_model_preset_yaml(c.arch)) {  /* a YAML file */
			FILE *fp = fopen(c.arch, "r");
			if (!fp) {
				rml_errorf(&err, RML_ERR_IO, "%s: no such preset or file", c.arch);
				goto done;
			}
			text = calloc(1 << 20, 1);
			size_t got = text ? fread(text, 1, (1 << 20) - 1, fp) : 0;
			fclose(fp);
			if (!text || got == 0) {
				free(text);
				rml_errorf(&err, RML_ERR_IO, "%s: cannot read the architecture", c.arch);
				goto done;
			}
			cfg.arch = text;
		}
		rml_status s = rml_model_create(&m, &cfg, &err);
		free(text);
		if (s)
			goto done;
		if (rml_model_set_class_names(m, (const char *const *)train.class_names,
					      train.n_classes, &err))
			goto done;
	}
	if (c.gamma && !rml_model_has_adapters(m) &&
	    rml_model_add_adapters(m, (int)c.gamma, (uint64_t)c.seed, &err))
		goto done;
	int h, w, ch;
	rml_model_input_shape(m, &h, &w, &ch);
	if (train.h != h || train.w != w || train.c != ch ||
	    (c.val && (val.h != h || val.w != w || val.c != ch))) {
		rml_errorf(&err, RML_ERR_MISMATCH, "the model takes %dx%dx%d images, the data holds %lldx%lldx%lld",
			   h, w, ch, (long long)train.h, (long long)train.w, (long long)train.c);
		goto done;
	}
	int64_t k = rml_model_n_classes(m);
	if (train.n_classes > k || (c.val && val.n_classes > k)) {
		rml_errorf(&err, RML_ERR_MISMATCH, "the data has %d classes, the model %lld",
			   train.n_classes, (long long)k);
		goto done;
	}
	for (int64_t i = 0; i < train.n; i++)
		if (train.labels[i] < 0) {
			rml_errorf(&err, RML_ERR_ARG, "training image %lld has no label", (long long)i);
			goto done;
		}
	unsigned mask = RML_GROUPS_ALL;
	/* Fine-tuning defaults to the adapter and the head, or the head alone. */
	const char *tune = c.tune;
	if (!tune && c.model)
		tune = rml_model_has_adapters(m) ? "phi,W" : "W";
	if (tune && rml_group_mask_parse(tune, &mask, &err))
		goto done;
	if (rml_model_n_params(m, mask) == 0) {
		rml_errorf(&err, RML_ERR_ARG, "nothing to train in groups '%s' (no adapters?)", tune);
		goto done;
	}
	int freeze_bn = !(mask & RML_GROUP_BIT(RML_GROUP_THETA));
	rml_model_set_trainable(m, mask);
	if (rml_model_reserve(m, c.batch, 1, &err) || rml_optim_init(&opt, c.opt, rml_model_n_params(m, RML_GROUPS_ALL), &err))
		goto done;
	opt.momentum = (float)c.momentum;
	opt.nesterov = c.nesterov;
	if (c.resume && rml_optim_from_file(&opt, &ck, &err))
		goto done;
	rml_file_free(&ck);
	x = malloc((size_t)(c.batch * h * w * ch) * sizeof *x);
	probs = malloc((size_t)(c.batch * k) * sizeof *probs);
	dlogits = malloc((size_t)(c.batch * k) * sizeof *dlogits);
	y = malloc((size_t)c.batch * sizeof *y);
	order = malloc((size_t)train.n * sizeof *order);
	if (!x || !probs || !dlogits || !y || !order) {
		rml_errorf(&err, RML_ERR_NOMEM, "out of memory");
		goto done;
	}
	if (c.log && !(log = fopen(c.log, c.resume ? "a" : "w"))) {
		rml_errorf(&err, RML_ERR_IO, "cannot write %s", c.log);
		goto done;
	}
	signal(SIGINT, on_sigint);
	int64_t steps_per_epoch = train.n / c.batch + (train.n % c.batch != 0);
	int64_t total = steps_per_epoch * c.epochs, warm = steps_per_epoch * c.warmup;
	int64_t np;
	rml_param *params = rml_model_params(m, &np);
	double last_acc = NAN, last_nll = NAN, last_loss = NAN;
	for (int64_t epoch = start_epoch; epoch < c.epochs && !interrupted; epoch++) {
		rml_rng rng;
		rml_rng_seed_stream(&rng, (uint64_t)c.seed, (uint64_t)epoch);
		for (int64_t i = 0; i < train.n; i++)
			order[i] = i;
		rml_rng_shuffle(&rng, order, train.n);
		double t0 = rml_now(), loss_sum = 0;
		int64_t seen = 0, right = 0;
		for (int64_t s = 0; s < steps_per_epoch && !interrupted; s++) {
			int64_t b0 = s * c.batch, b = train.n - b0 < c.batch ? train.n - b0 : c.batch;
			rml_batch_fill(x, y, &train, order + b0, b, c.crop ? 4 : 0, c.flip, &rng);
			float *logits;
			if (rml_model_forward(m, x, b, freeze_bn ? RML_MODE_EVAL : RML_MODE_TRAIN, &logits, &err))
				goto done;
			float loss = rml_xent_forward(probs, logits, y, b, k, (float)c.smoothing);
			for (int64_t i = 0; i < b; i++) {
				int64_t best = 0;
				for (int64_t j = 1; j < k; j++)
					if (probs[i * k + j] > probs[i * k + best])
						best = j;
				right += best == y[i];
			}
			if (!isfinite(loss)) {
				rml_errorf(&err, RML_ERR_NUMERIC, "the loss became %g at epoch %lld step %lld; "
					   "lower --lr", loss, (long long)epoch + 1, (long long)s);
				goto done;
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
				float wd = params[p].ndim > 1 ? (float)c.wd : 0.0f;
				rml_optim_update(&opt, params[p].data, params[p].grad, params[p].offset,
						 params[p].numel, lr, wd);
			}
			char label[64];
			snprintf(label, sizeof label, "epoch %lld/%lld", (long long)epoch + 1, (long long)c.epochs);
			cli_progress(label, s + 1, steps_per_epoch);
		}
		if (interrupted)
			break;
		double secs = rml_now() - t0;
		last_loss = loss_sum / (double)seen;
		if (c.val && validate(m, &val, c.batch, &last_acc, &last_nll, &err))
			goto done;
		if (c.checkpoint && save_checkpoint(m, &opt, epoch + 1, &c, c.checkpoint, &err))
			goto done;
		char line[512];
		snprintf(line, sizeof line,
			 "{\"epoch\":%lld,\"lr\":%.6g,\"loss\":%.5f,\"train_acc\":%.5f,\"val_acc\":%.5f,"
			 "\"val_nll\":%.5f,\"seconds\":%.1f,\"images_per_s\":%.1f}",
			 (long long)epoch + 1,
			 rml_lr_cosine(c.lr, (epoch + 1) * steps_per_epoch - 1, warm, total), last_loss,
			 (double)right / (double)seen, c.val ? last_acc : NAN, c.val ? last_nll : NAN, secs,
			 (double)seen / secs);
		if (log) {
			fprintf(log, "%s\n", line);
			fflush(log);
		}
		if (cli_verbosity > 1 || (cli_verbosity > 0 && !c.json))
			cli_msg("epoch %lld: loss %.4f, train acc %.4f%s%.4f, %.0f images/s", (long long)epoch + 1,
				last_loss, (double)right / (double)seen, c.val ? ", val acc " : "",
				c.val ? last_acc : 0.0, (double)seen / secs);
	}
	if (interrupted) {
		cli_msg("interrupted; %s", c.checkpoint ? "the last checkpoint is intact" : "nothing written");
		status = 130;
		goto done;
	}
	{
		rml_file f;
		rml_file_init(&f);
		rml_status s = rml_model_to_file(m, &f, &err);
		if (!s)
			s = cli_save(&f, out, c.seed, &err);
		rml_file_free(&f);
		if (s)
			goto done;
	}
	if (c.json)
		fprintf(stderr, "{\"epochs\":%lld,\"loss\":%.5f,\"val_acc\":%.5f,\"val_nll\":%.5f}\n",
			(long long)c.epochs, last_loss, last_acc, last_nll);
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
	free(y);
	free(order);
	rml_optim_free(&opt);
	rml_model_free(m);
	rml_dataset_free(&train);
	rml_dataset_free(&val);
	return cli_finish(status);
}
