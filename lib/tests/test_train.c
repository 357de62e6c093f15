/*
 * test_train.c — training steps, epochs, validation and checkpoints
 * (train.h, train.c) on mvit-tiny with random images: the step's loss
 * against a log-softmax computed here from the model's own logits, the
 * weight-decay rule against its formula, the forward mode the groups
 * imply (running statistics move only when THETA trains), a loss that is
 * not finite moves nothing, two models trained at once in one parallel
 * region equal the same two trained one after the other, an epoch cut
 * short by its callback, validation against counting by hand,
 * checkpoint settings and data digests round-tripping and refusing; the
 * training recipes' names and settings; the weight average (update rule,
 * swap, checkpoint round trip and refusals); and seeded epochs under a
 * mixing recipe with an average.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "dataset.h"
#include "fixtures.h"
#include "model.h"
#include "optimizer.h"
#include "train.h"

enum { N = 8, K = 4, IMG = 32 * 32 * 3 };

static rml_model *tiny(uint64_t seed)
{
	rml_model *m = rml_fx_tiny(K, 2, seed);
	rml_error err = { 0 };
	assert_int_equal(rml_model_reserve(m, N, 1, &err), RML_OK);
	return m;
}

static void batch(float *x, int32_t *y, uint64_t seed)
{
	rml_rng r;
	rml_rng_seed(&r, seed);
	for (int i = 0; i < N * IMG; i++)
		x[i] = (float)(rml_rng_u64(&r) % 256);
	for (int i = 0; i < N; i++)
		y[i] = i % K;
}

static float *params_copy(rml_model *m)
{
	int64_t n = rml_model_n_params(m, RML_GROUPS_ALL);
	float *p = malloc((size_t)n * sizeof *p);
	memcpy(p, rml_model_param_block(m), (size_t)n * sizeof *p);
	return p;
}

/* The step's loss is the smoothed cross-entropy of the logits the model
 * gives before the step (eval mode, as with THETA frozen). */
static void test_step_loss(void **state)
{
	(void)state;
	rml_model *m = tiny(1);
	static float x[N * IMG];
	int32_t y[N];
	batch(x, y, 2);
	float *logits;
	rml_error err = { 0 };
	assert_int_equal(rml_model_forward(m, x, N, RML_MODE_EVAL, &logits, &err), RML_OK);
	const double eps = 0.1;
	double want = 0;
	for (int i = 0; i < N; i++) {
		double mx = logits[i * K];
		for (int j = 1; j < K; j++)
			mx = fmax(mx, logits[i * K + j]);
		double s = 0;
		for (int j = 0; j < K; j++)
			s += exp(logits[i * K + j] - mx);
		double lse = mx + log(s), row = 0;
		for (int j = 0; j < K; j++)
			row += (lse - logits[i * K + j]) * (eps / K + (j == y[i] ? 1 - eps : 0));
		want += row / N;
	}
	rml_optim o;
	assert_int_equal(rml_optim_init(&o, RML_OPT_SGD, rml_model_n_params(m, RML_GROUPS_ALL), &err),
			 RML_OK);
	rml_train_config cfg = { .smoothing = eps, .wd = 0, .groups = RML_GROUP_BIT(RML_GROUP_W) };
	rml_train_stats st;
	assert_int_equal(rml_train_step(m, &o, &cfg, x, y, N, 0.01, &st, &err), RML_OK);
	assert_true(fabs(st.loss - want) <= 1e-5 * fabs(want));
	assert_int_equal(st.n, N);
	assert_true(st.correct >= 0 && st.correct <= N);
	/* Repeated steps on one batch lower its loss. */
	double first = st.loss;
	for (int i = 0; i < 20; i++)
		assert_int_equal(rml_train_step(m, &o, &cfg, x, y, N, 0.05, &st, &err), RML_OK);
	assert_true(st.loss < first - 0.05);
	rml_optim_free(&o);
	rml_model_free(m);
}

/* SGD without momentum and zero gradients: a matrix shrinks by lr*wd*w, a
 * vector only when decay_vectors is set; groups outside the mask stay. */
static void test_decay_rule(void **state)
{
	(void)state;
	rml_model *m = tiny(3);
	rml_error err = { 0 };
	rml_optim o;
	assert_int_equal(rml_optim_init(&o, RML_OPT_SGD, rml_model_n_params(m, RML_GROUPS_ALL), &err),
			 RML_OK);
	o.momentum = 0;
	int64_t np;
	rml_param *p = rml_model_params(m, &np);
	memset(rml_model_grad_block(m), 0, (size_t)rml_model_n_params(m, RML_GROUPS_ALL) * sizeof(float));
	for (int dv = 0; dv < 2; dv++) {
		float *before = params_copy(m);
		rml_train_config cfg = { .wd = 0.5, .groups = RML_GROUP_BIT(RML_GROUP_W),
					 .decay_vectors = dv };
		rml_train_update(m, &o, &cfg, 0.1);
		int seen_matrix = 0, seen_vector = 0;
		for (int64_t i = 0; i < np; i++)
			for (int64_t e = 0; e < p[i].numel; e++) {
				float was = before[p[i].offset + e], now = p[i].data[e];
				int decays = p[i].group == RML_GROUP_W && (p[i].ndim > 1 || dv);
				float want = decays ? was - 0.1f * (0.5f * was) : was;
				assert_true(fabsf(now - want) <= 1e-7f * fabsf(was));
				if (p[i].group == RML_GROUP_W && was != 0)
					*(p[i].ndim > 1 ? &seen_matrix : &seen_vector) = 1;
			}
		assert_true(seen_matrix);
		(void)seen_vector;
		free(before);
	}
	rml_optim_free(&o);
	rml_model_free(m);
}

/* Batch-norm running statistics move when THETA trains (batch statistics)
 * and stay when it is frozen (running statistics used). */
static void test_mode_from_groups(void **state)
{
	(void)state;
	assert_int_equal(rml_train_mode(RML_GROUPS_ALL), RML_MODE_TRAIN);
	assert_int_equal(rml_train_mode(RML_GROUP_BIT(RML_GROUP_PHI) | RML_GROUP_BIT(RML_GROUP_W)),
			 RML_MODE_EVAL);
	static float x[N * IMG];
	int32_t y[N];
	batch(x, y, 4);
	rml_error err = { 0 };
	for (int all = 0; all < 2; all++) {
		rml_model *m = tiny(5);
		rml_optim o;
		assert_int_equal(rml_optim_init(&o, RML_OPT_ADAMW,
						rml_model_n_params(m, RML_GROUPS_ALL), &err), RML_OK);
		int64_t nb;
		rml_param *b = rml_model_buffers(m, &nb);
		float before = b[0].data[0];
		rml_train_config cfg = { .groups = all ? RML_GROUPS_ALL : RML_GROUP_BIT(RML_GROUP_W) };
		assert_int_equal(rml_train_step(m, &o, &cfg, x, y, N, 1e-3, NULL, &err), RML_OK);
		if (all)
			assert_true(b[0].data[0] != before);
		else
			assert_true(b[0].data[0] == before);
		rml_optim_free(&o);
		rml_model_free(m);
	}
}

/* A NaN image gives a loss that is not finite: an error, no parameter moves. */
static void test_nonfinite_loss(void **state)
{
	(void)state;
	rml_model *m = tiny(6);
	static float x[N * IMG];
	int32_t y[N];
	batch(x, y, 7);
	x[5] = NAN;
	rml_error err = { 0 };
	rml_optim o;
	assert_int_equal(rml_optim_init(&o, RML_OPT_SGD, rml_model_n_params(m, RML_GROUPS_ALL), &err),
			 RML_OK);
	float *before = params_copy(m);
	rml_train_config cfg = { .wd = 0.1, .groups = RML_GROUPS_ALL };
	rml_train_stats st;
	assert_int_equal(rml_train_step(m, &o, &cfg, x, y, N, 0.1, &st, &err), RML_ERR_NUMERIC);
	assert_false(isfinite(st.loss));
	assert_non_null(strstr(err.msg, "loss"));
	assert_memory_equal(before, rml_model_param_block(m),
			    (size_t)rml_model_n_params(m, RML_GROUPS_ALL) * sizeof(float));
	free(before);
	rml_optim_free(&o);
	rml_model_free(m);
}

/* Two models trained at once, one per thread of a parallel region, end
 * bit-identical to the same two trained one after the other: no state is
 * shared between steps of different models. */
static void test_two_models_at_once(void **state)
{
	(void)state;
	static float x[2][N * IMG];
	int32_t y[2][N];
	batch(x[0], y[0], 8);
	batch(x[1], y[1], 9);
	rml_model *seq[2], *par[2];
	rml_optim oseq[2], opar[2];
	rml_error err = { 0 };
	rml_train_config cfg = { .smoothing = 0.1, .wd = 5e-4, .groups = RML_GROUPS_ALL };
	for (int i = 0; i < 2; i++) {
		seq[i] = tiny(10 + (uint64_t)i);
		par[i] = tiny(10 + (uint64_t)i);
		int64_t n = rml_model_n_params(seq[i], RML_GROUPS_ALL);
		assert_int_equal(rml_optim_init(&oseq[i], RML_OPT_SGD, n, &err), RML_OK);
		assert_int_equal(rml_optim_init(&opar[i], RML_OPT_SGD, n, &err), RML_OK);
	}
	rml_set_threads(1);
	for (int i = 0; i < 2; i++)
		for (int s = 0; s < 3; s++)
			assert_int_equal(rml_train_step(seq[i], &oseq[i], &cfg, x[i], y[i], N, 0.05, NULL,
							&err), RML_OK);
	int fails = 0;
#pragma omp parallel for num_threads(2) reduction(+ : fails)
	for (int i = 0; i < 2; i++) {
		rml_error e = { 0 };
		for (int s = 0; s < 3; s++)
			fails += rml_train_step(par[i], &opar[i], &cfg, x[i], y[i], N, 0.05, NULL, &e) != RML_OK;
	}
	assert_int_equal(fails, 0);
	for (int i = 0; i < 2; i++) {
		assert_memory_equal(rml_model_param_block(seq[i]), rml_model_param_block(par[i]),
				    (size_t)rml_model_n_params(seq[i], RML_GROUPS_ALL) * sizeof(float));
		rml_optim_free(&oseq[i]);
		rml_optim_free(&opar[i]);
		rml_model_free(seq[i]);
		rml_model_free(par[i]);
	}
	rml_set_threads(0);
}

static void dataset(rml_dataset *d, int64_t n, uint64_t seed)
{
	rml_error err = { 0 };
	rml_dataset_init(d);
	assert_int_equal(rml_dataset_alloc(d, n, 32, 32, 3, &err), RML_OK);
	rml_rng r;
	rml_rng_seed(&r, seed);
	for (int64_t i = 0; i < n * IMG; i++)
		d->images[i] = (uint8_t)(rml_rng_u64(&r) % 256);
	for (int64_t i = 0; i < n; i++)
		d->labels[i] = (int32_t)(i % K);
	d->n_classes = K;
}

static int stop_after_two(void *ctx, int64_t done, int64_t total)
{
	(void)total;
	*(int64_t *)ctx = done;
	return done == 2;
}

/* An epoch of 20 images in batches of 8 is 3 steps; a callback that stops
 * after 2 leaves 16 images counted. */
static void test_epoch(void **state)
{
	(void)state;
	rml_dataset d;
	dataset(&d, 20, 11);
	assert_int_equal(rml_train_steps_per_epoch(20, 8), 3);
	assert_int_equal(rml_train_steps_per_epoch(16, 8), 2);
	rml_error err = { 0 };
	rml_train_config cfg = { .smoothing = 0.1, .groups = RML_GROUPS_ALL };
	int64_t last = 0;
	for (int cut = 0; cut < 2; cut++) {
		rml_model *m = tiny(12);
		rml_optim o;
		assert_int_equal(rml_optim_init(&o, RML_OPT_SGD, rml_model_n_params(m, RML_GROUPS_ALL),
						&err), RML_OK);
		rml_train_epoch_config ec = { 8, 4, 1, 1, 0.05, 1, 3, cut ? stop_after_two : NULL, &last,
					      NULL, NULL };
		rml_train_stats st;
		int stopped;
		assert_int_equal(rml_train_epoch(m, &o, &cfg, &ec, &d, 0, &st, &stopped, &err), RML_OK);
		assert_int_equal(stopped, cut);
		assert_int_equal(st.n, cut ? 16 : 20);
		assert_int_equal(o.step, cut ? 2 : 3);
		assert_true(isfinite(st.loss) && st.loss > 0);
		rml_optim_free(&o);
		rml_model_free(m);
	}
	assert_int_equal(last, 2);
	rml_dataset_free(&d);
}

/* Validation counts what rml_model_predict's largest probability gets right. */
static void test_validate(void **state)
{
	(void)state;
	rml_dataset d;
	dataset(&d, 13, 13);
	rml_model *m = tiny(14);
	rml_error err = { 0 };
	double acc, nll;
	assert_int_equal(rml_train_validate(m, &d, 5, &acc, &nll, &err), RML_OK);
	float probs[13 * K];
	assert_int_equal(rml_model_predict(m, &d, 13, probs, &err), RML_OK);
	int ok = 0;
	double want_nll = 0;
	for (int i = 0; i < 13; i++) {
		int best = 0;
		for (int j = 1; j < K; j++)
			if (probs[i * K + j] > probs[i * K + best])
				best = j;
		ok += best == d.labels[i];
		want_nll -= log(probs[i * K + d.labels[i]]) / 13;
	}
	assert_true(acc == ok / 13.0);
	assert_true(fabs(nll - want_nll) < 1e-4);
	rml_model_free(m);
	rml_dataset_free(&d);
}

static const rml_train_settings S0 = { .epochs = 7, .batch = 16, .seed = 3, .warmup = 2,
				       .opt = RML_OPT_ADAMW, .lr = 0.002, .momentum = 0.9,
				       .wd = 0.05, .smoothing = 0.1, .nesterov = 0, .crop = 1,
				       .flip = 0, .tune = "phi,W" };

/* Settings round-trip; given ones stay and are reported when they
 * differ; another optimiser on the command line is refused. */
static void test_checkpoint_settings(void **state)
{
	(void)state;
	rml_model *m = tiny(15);
	rml_error err = { 0 };
	rml_optim o;
	assert_int_equal(rml_optim_init(&o, RML_OPT_ADAMW, rml_model_n_params(m, RML_GROUPS_ALL), &err),
			 RML_OK);
	rml_dataset d, other;
	dataset(&d, 4, 16);
	dataset(&other, 4, 17);
	char dig[65], dig2[65];
	rml_train_data_digest(&d, dig);
	rml_train_data_digest(&other, dig2);
	assert_int_equal((int)strlen(dig), 64);
	assert_string_not_equal(dig, dig2);
	rml_file f;
	rml_file_init(&f);
	assert_int_equal(rml_train_checkpoint_to_file(m, &o, &S0, 5, dig, &f, &err), RML_OK);
	int64_t epoch = -1;
	assert_int_equal(rml_train_checkpoint_check(&f, dig, &epoch, &err), RML_OK);
	assert_int_equal(epoch, 5);
	assert_int_equal(rml_train_checkpoint_check(&f, dig2, &epoch, &err), RML_ERR_MISMATCH);

	rml_train_settings s = { .epochs = 10, .batch = 128, .seed = 1, .warmup = 1, .lr = -1,
				 .momentum = 0.9, .wd = -1, .smoothing = 0.1, .crop = 1, .flip = 1 };
	s.opt = RML_OPT_ADAMW;
	unsigned differ;
	rml_train_settings was;
	assert_int_equal(rml_train_settings_resume(&s, RML_TS_OPT, &f, &differ, &was, &err), RML_OK);
	assert_int_equal(differ, 0);
	assert_memory_equal(&s, &S0, sizeof s);
	/* --batch 32 and --augment crop,flip given: kept and reported. */
	s.batch = 32;
	s.flip = 1;
	assert_int_equal(rml_train_settings_resume(&s, RML_TS_BATCH | RML_TS_AUGMENT, &f, &differ, &was,
						   &err), RML_OK);
	assert_int_equal(differ, RML_TS_BATCH | RML_TS_AUGMENT);
	assert_int_equal(s.batch, 32);
	assert_int_equal(was.batch, 16);
	assert_int_equal(s.flip, 1);
	assert_int_equal(was.flip, 0);
	s.opt = RML_OPT_SGD;
	assert_int_equal(rml_train_settings_resume(&s, RML_TS_OPT, &f, &differ, &was, &err),
			 RML_ERR_MISMATCH);
	assert_non_null(strstr(err.msg, "adamw"));
	rml_file_free(&f);

	/* A model file is not a checkpoint. */
	rml_file_init(&f);
	assert_int_equal(rml_model_to_file(m, &f, &err), RML_OK);
	assert_int_equal(rml_train_checkpoint_check(&f, dig, &epoch, &err), RML_ERR_FORMAT);
	rml_file_free(&f);
	rml_dataset_free(&d);
	rml_dataset_free(&other);
	rml_optim_free(&o);
	rml_model_free(m);
}

/* Every setting a checkpoint holds is checked as strictly as the same
 * option: a crafted checkpoint (NaN or infinite lr, NaN momentum or decay,
 * 2^62 epochs, label smoothing 5, warm-up -3, optimiser "bogus", a value
 * of the wrong type) is refused by resume, naming the key, whether the
 * value would be adopted or overridden by an option; and by a look
 * (rml_train_state_check), which also refuses a train.ema_eval other
 * than 0 or 1. */
static void test_checkpoint_hostile(void **state)
{
	(void)state;
	rml_model *m = tiny(21);
	rml_error err = { 0 };
	rml_optim o;
	assert_int_equal(rml_optim_init(&o, RML_OPT_ADAMW, rml_model_n_params(m, RML_GROUPS_ALL), &err),
			 RML_OK);
	char dig[65] = "0";
	enum { LR_NAN, LR_INF, MOM_NAN, WD_NAN, EPOCHS, SMOOTH, WARM, OPT, LR_TYPE, NEST, EPOCH_DONE,
	       N_CASES };
	const char *says[N_CASES] = { "train.lr", "train.lr", "train.momentum", "train.wd",
				      "train.epochs", "train.label_smoothing", "train.warmup",
				      "train.optimizer", "train.lr", "train.nesterov",
				      "train.epoch" };
	for (int c = 0; c < N_CASES; c++) {
		rml_file f;
		rml_file_init(&f);
		assert_int_equal(rml_train_checkpoint_to_file(m, &o, &S0, 5, dig, &f, &err), RML_OK);
		switch (c) {
		case LR_NAN: rml_set_f64(&f, "train.lr", NAN); break;
		case LR_INF: rml_set_f64(&f, "train.lr", INFINITY); break;
		case MOM_NAN: rml_set_f64(&f, "train.momentum", NAN); break;
		case WD_NAN: rml_set_f64(&f, "train.wd", NAN); break;
		case EPOCHS: rml_set_i64(&f, "train.epochs", (int64_t)1 << 62); break;
		case SMOOTH: rml_set_f64(&f, "train.label_smoothing", 5); break;
		case WARM: rml_set_i64(&f, "train.warmup", -3); break;
		case OPT: rml_set_str(&f, "train.optimizer", "bogus"); break;
		case LR_TYPE: rml_set_str(&f, "train.lr", "fast"); break;
		case NEST: rml_set_i64(&f, "train.nesterov", 7); break;
		case EPOCH_DONE: rml_set_i64(&f, "train.epoch", (int64_t)1 << 62); break;
		}
		int64_t epoch;
		rml_status st = rml_train_checkpoint_check(&f, dig, &epoch, &err);
		if (!st) {
			/* adopted (nothing given) and overridden (all given) alike */
			for (int g = 0; g < 2; g++) {
				rml_train_settings s = S0, was;
				unsigned differ;
				st = rml_train_settings_resume(&s, g ? ~0u : 0u, &f, &differ, &was, &err);
				assert_int_equal(st, RML_ERR_FORMAT);
			}
		}
		assert_int_equal(st, RML_ERR_FORMAT);
		if (!strstr(err.msg, says[c]))
			fail_msg("case %d: '%s' does not name %s", c, err.msg, says[c]);
		assert_int_equal(rml_train_state_check(&f, &err), RML_ERR_FORMAT);
		rml_file_free(&f);
	}
	/* train.ema_eval, which only a resume uses, is checked by a look too. */
	rml_file f;
	rml_file_init(&f);
	assert_int_equal(rml_train_checkpoint_to_file(m, &o, &S0, 5, dig, &f, &err), RML_OK);
	int ema_eval = 0;
	assert_int_equal(rml_train_state_check(&f, &err), RML_OK);
	assert_int_equal(rml_train_ema_eval_from_file(&f, &ema_eval, &err), RML_OK);
	assert_int_equal(ema_eval, 0);
	assert_int_equal(rml_set_i64(&f, "train.ema_eval", 1), RML_OK);
	assert_int_equal(rml_train_state_check(&f, &err), RML_OK);
	assert_int_equal(rml_train_ema_eval_from_file(&f, &ema_eval, &err), RML_OK);
	assert_int_equal(ema_eval, 1);
	assert_int_equal(rml_set_i64(&f, "train.ema_eval", 0), RML_OK);
	assert_int_equal(rml_train_state_check(&f, &err), RML_OK);
	assert_int_equal(rml_set_i64(&f, "train.ema_eval", 2), RML_OK);
	assert_int_equal(rml_train_state_check(&f, &err), RML_ERR_FORMAT);
	assert_string_equal(err.msg, "the checkpoint's train.ema_eval is not 0 or 1");
	assert_int_equal(rml_set_str(&f, "train.ema_eval", "yes"), RML_OK);
	assert_int_equal(rml_train_state_check(&f, &err), RML_ERR_FORMAT);
	rml_file_free(&f);
	/* The option bounds and the file bounds are one function. */
	rml_train_settings s = S0;
	assert_int_equal(rml_train_settings_check(&s, "--", &err), RML_OK);
	s.lr = NAN;
	assert_int_equal(rml_train_settings_check(&s, "--", &err), RML_ERR_ARG);
	assert_non_null(strstr(err.msg, "--lr nan"));
	rml_optim_free(&o);
	rml_model_free(m);
}

/* A step whose update makes weights non-finite (a NaN learning rate: the
 * loss before it is finite) fails with a message instead of training on. */
static void test_nonfinite_weights(void **state)
{
	(void)state;
	rml_model *m = tiny(22);
	static float x[N * IMG];
	int32_t y[N];
	batch(x, y, 23);
	rml_error err = { 0 };
	rml_optim o;
	assert_int_equal(rml_optim_init(&o, RML_OPT_SGD, rml_model_n_params(m, RML_GROUPS_ALL), &err),
			 RML_OK);
	rml_train_config cfg = { .wd = 0.1, .groups = RML_GROUPS_ALL };
	rml_train_stats st;
	assert_int_equal(rml_train_step(m, &o, &cfg, x, y, N, 0.1, &st, &err), RML_OK);
	assert_int_equal(rml_train_step(m, &o, &cfg, x, y, N, NAN, &st, &err), RML_ERR_NUMERIC);
	assert_true(isfinite(st.loss));
	assert_non_null(strstr(err.msg, "weights became non-finite"));
	rml_optim_free(&o);
	rml_model_free(m);
}

static void test_augment_names(void **state)
{
	(void)state;
	int c, f;
	assert_int_equal(rml_train_augment_parse("flip,crop", &c, &f), 0);
	assert_true(c && f);
	assert_string_equal(rml_train_augment_name(c, f), "crop,flip");
	assert_int_equal(rml_train_augment_parse("none", &c, &f), 0);
	assert_true(!c && !f);
	assert_string_equal(rml_train_augment_name(0, 0), "none");
	assert_int_equal(rml_train_augment_parse("crop,crop", &c, &f), -1);
	assert_int_equal(rml_train_augment_parse("rotate", &c, &f), -1);
	assert_int_equal(rml_train_augment_parse("", &c, &f), -1);
	assert_string_equal(rml_train_opt_name(RML_OPT_SGD), "sgd");
	assert_string_equal(rml_train_opt_name(RML_OPT_ADAMW), "adamw");
}

static void test_recipe_names(void **state)
{
	(void)state;
	rml_train_settings s = { 0 };
	char buf[128];
	assert_int_equal(rml_train_recipe_parse("cutmix,flip,crop,autoaugment,mixup,cutout", &s), 0);
	assert_true(s.crop && s.flip && s.autoaugment && s.ra_n == 0 && s.cutout == 16 &&
		    s.mixup == 1.0 && s.cutmix == 1.0);
	rml_train_recipe_name(&s, buf, sizeof buf);
	assert_string_equal(buf, "crop,flip,autoaugment,cutout,mixup,cutmix");
	rml_recipe r = rml_train_recipe(&s);
	assert_true(r.crop_pad == 4 && r.flip && r.autoaugment && r.cutout == 16 && r.mixup == 1.0);
	assert_int_equal(rml_train_recipe_parse("randaugment", &s), 0);
	assert_true(!s.crop && !s.flip && !s.autoaugment && s.ra_n == 2 && s.ra_m == 9 &&
		    s.cutout == 0 && s.mixup == 0);
	rml_train_recipe_name(&s, buf, sizeof buf);
	assert_string_equal(buf, "randaugment");
	assert_int_equal(rml_train_recipe_parse("none", &s), 0);
	rml_train_recipe_name(&s, buf, sizeof buf);
	assert_string_equal(buf, "none");
	assert_int_equal(rml_train_recipe_parse("crop,flip", &s), 0);
	rml_train_recipe_name(&s, buf, sizeof buf);
	assert_string_equal(buf, rml_train_augment_name(1, 1));
	const char *bad[] = { "autoaugment,randaugment", "mixup,mixup", "crop,", ",crop",
			      "crop,,flip", "", "none,crop", "AutoAugment", "cutmix,rotate" };
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
		if (rml_train_recipe_parse(bad[i], &s) != -1)
			fail_msg("'%s' accepted", bad[i]);
}

/* Recipe parameters and the decay round-trip through a checkpoint. */
static void test_checkpoint_recipe(void **state)
{
	(void)state;
	rml_model *m = tiny(21);
	rml_error err = { 0 };
	rml_optim o;
	assert_int_equal(rml_optim_init(&o, RML_OPT_ADAMW, rml_model_n_params(m, RML_GROUPS_ALL), &err),
			 RML_OK);
	rml_train_settings s1 = S0;
	assert_int_equal(rml_train_recipe_parse("crop,randaugment,cutout,mixup,cutmix", &s1), 0);
	s1.ra_n = 3;
	s1.ra_m = 5;
	s1.cutout = 12;
	s1.mixup = 0.2;
	s1.cutmix = 0.7;
	s1.ema = 0.999;
	rml_file f;
	rml_file_init(&f);
	assert_int_equal(rml_train_checkpoint_to_file(m, &o, &s1, 2, "x", &f, &err), RML_OK);
	rml_train_settings s = { .epochs = 10, .batch = 128, .seed = 1, .warmup = 1, .lr = -1,
				 .momentum = 0.9, .wd = -1, .smoothing = 0.1, .crop = 1, .flip = 1 };
	s.opt = RML_OPT_ADAMW;
	unsigned differ;
	rml_train_settings was;
	assert_int_equal(rml_train_settings_resume(&s, 0, &f, &differ, &was, &err), RML_OK);
	assert_int_equal(differ, 0);
	assert_memory_equal(&s, &s1, sizeof s);
	/* Another mixup parameter or decay given: kept and reported. */
	s.mixup = 1.0;
	s.ema = 0.99;
	assert_int_equal(rml_train_settings_resume(&s, RML_TS_AUGMENT | RML_TS_EMA, &f, &differ,
						   &was, &err), RML_OK);
	assert_int_equal(differ, RML_TS_AUGMENT | RML_TS_EMA);
	assert_true(s.mixup == 1.0 && was.mixup == 0.2 && s.ema == 0.99 && was.ema == 0.999);
	/* A checkpoint of a crop-and-flip run has no recipe keys at all. */
	rml_file g;
	rml_file_init(&g);
	assert_int_equal(rml_train_checkpoint_to_file(m, &o, &S0, 2, "x", &g, &err), RML_OK);
	assert_null(rml_get(&g, "train.mixup"));
	assert_null(rml_get(&g, "train.ema"));
	rml_file_free(&g);
	/* A bad parameter in a checkpoint is refused. */
	assert_int_equal(rml_set_f64(&f, "train.mixup", -1), RML_OK);
	assert_int_equal(rml_train_settings_resume(&s, 0, &f, &differ, &was, &err), RML_ERR_FORMAT);
	rml_file_free(&f);
	rml_optim_free(&o);
	rml_model_free(m);
}

/* avg <- avg + (1-d)(w - avg) with d = min(decay, (1+t)/(10+t)); swap
 * twice restores; the average round-trips and is refused when it does
 * not fit. */
static void test_ema(void **state)
{
	(void)state;
	rml_model *m = tiny(31);
	rml_error err = { 0 };
	int64_t np = rml_model_n_params(m, RML_GROUPS_ALL), nb;
	rml_param *bufs = rml_model_buffers(m, &nb);
	assert_true(nb > 0);
	float *w = rml_model_param_block(m);
	float *w0 = params_copy(m);
	float b0 = bufs[0].data[0];
	rml_ema e;
	assert_int_equal(rml_ema_init(&e, m, 0.5, &err), RML_OK);
	assert_true(e.n > np);
	/* Update 0 uses d = min(0.5, 1/10) = 0.1; update 1 min(0.5, 2/11). */
	for (int64_t i = 0; i < np; i++)
		w[i] = w0[i] + 1.0f;
	bufs[0].data[0] = b0 + 2.0f;
	rml_ema_update(&e, m);
	for (int64_t i = 0; i < np; i += 97)
		assert_true(fabsf(e.avg[i] - (w0[i] + 0.9f)) < 1e-5f);
	assert_true(fabsf(e.avg[np] - (b0 + 1.8f)) < 1e-5f);
	float a1 = e.avg[0];
	rml_ema_update(&e, m);
	assert_true(fabsf(e.avg[0] - (a1 + (1.0f - 2.0f / 11.0f) * (w[0] - a1))) < 1e-5f);
	for (int t = 0; t < 30; t++)
		rml_ema_update(&e, m);
	assert_int_equal(e.updates, 32);
	/* Later updates use the decay itself: a constant w is approached
	 * geometrically but the average never jumps to it. */
	float *before = malloc((size_t)e.n * sizeof *before);
	memcpy(before, e.avg, (size_t)e.n * sizeof *before);
	float *cur = params_copy(m);
	rml_ema_swap(&e, m);
	assert_memory_equal(w, before, (size_t)np * sizeof *w);
	assert_memory_equal(e.avg, cur, (size_t)np * sizeof *w);
	rml_ema_swap(&e, m);
	assert_memory_equal(e.avg, before, (size_t)e.n * sizeof *before);
	assert_memory_equal(w, cur, (size_t)np * sizeof *w);
	/* Round trip. */
	rml_file f;
	rml_file_init(&f);
	assert_int_equal(rml_ema_to_file(&e, &f, &err), RML_OK);
	assert_true(rml_ema_in_file(&f));
	rml_ema e2;
	assert_int_equal(rml_ema_init(&e2, m, 0.5, &err), RML_OK);
	assert_int_equal(rml_ema_from_file(&e2, &f, &err), RML_OK);
	assert_int_equal(e2.updates, 32);
	assert_memory_equal(e2.avg, e.avg, (size_t)e.n * sizeof *e.avg);
	/* Refusals: another size, a value that is not finite, a bad decay. */
	e.avg[3] = NAN;
	assert_int_equal(rml_ema_to_file(&e, &f, &err), RML_OK);
	assert_int_equal(rml_ema_from_file(&e2, &f, &err), RML_ERR_FORMAT);
	int64_t d1[1] = { e.n - 1 };
	assert_non_null(rml_add_tensor(&f, "optim.ema", RML_DTYPE_F32, 1, d1, NULL, &err));
	assert_int_equal(rml_ema_from_file(&e2, &f, &err), RML_ERR_MISMATCH);
	rml_ema e3;
	assert_int_equal(rml_ema_init(&e3, m, 1.0, &err), RML_ERR_ARG);
	assert_int_equal(rml_ema_init(&e3, m, 0.0, &err), RML_ERR_ARG);
	rml_file_free(&f);
	rml_file_init(&f);
	assert_false(rml_ema_in_file(&f));
	rml_file_free(&f);
	rml_ema_free(&e);
	rml_ema_free(&e2);
	free(before);
	free(cur);
	free(w0);
	rml_model_free(m);
}

/* An epoch under AutoAugment, Cutout, mixup and CutMix with an average:
 * finite, seeded (two runs agree bit for bit), the average differs from
 * the weights, and another seed gives another result. */
static void test_epoch_recipe(void **state)
{
	(void)state;
	rml_dataset d;
	dataset(&d, 20, 41);
	rml_error err = { 0 };
	rml_train_config cfg = { .smoothing = 0.1, .groups = RML_GROUPS_ALL };
	rml_recipe r = { .crop_pad = 4, .flip = 1, .autoaugment = 1, .cutout = 16, .mixup = 1,
			 .cutmix = 1 };
	float *res[3], *avg[3];
	for (int run = 0; run < 3; run++) {
		rml_model *m = tiny(42);
		rml_optim o;
		assert_int_equal(rml_optim_init(&o, RML_OPT_SGD, rml_model_n_params(m, RML_GROUPS_ALL),
						&err), RML_OK);
		rml_ema e;
		assert_int_equal(rml_ema_init(&e, m, 0.9, &err), RML_OK);
		rml_train_epoch_config ec = { 8, 0, 0, run == 2 ? 6 : 5, 0.05, 1, 3, NULL, NULL, &r, &e };
		rml_train_stats st;
		int stopped;
		assert_int_equal(rml_train_epoch(m, &o, &cfg, &ec, &d, 0, &st, &stopped, &err), RML_OK);
		assert_int_equal(st.n, 20);
		assert_true(isfinite(st.loss) && st.loss > 0);
		assert_int_equal(e.updates, 3);
		res[run] = params_copy(m);
		avg[run] = malloc((size_t)e.n * sizeof *avg[run]);
		memcpy(avg[run], e.avg, (size_t)e.n * sizeof *avg[run]);
		int64_t np = rml_model_n_params(m, RML_GROUPS_ALL);
		assert_true(memcmp(avg[run], res[run], (size_t)np * sizeof(float)) != 0);
		if (run == 1) {
			assert_memory_equal(res[0], res[1], (size_t)np * sizeof(float));
			assert_memory_equal(avg[0], avg[1], (size_t)e.n * sizeof(float));
		}
		if (run == 2)
			assert_true(memcmp(res[0], res[2], (size_t)np * sizeof(float)) != 0);
		rml_ema_free(&e);
		rml_optim_free(&o);
		rml_model_free(m);
	}
	for (int run = 0; run < 3; run++) {
		free(res[run]);
		free(avg[run]);
	}
	rml_dataset_free(&d);
}

/* The log kept on resume: the callback sees every line with its index,
 * 1 keeps, 0 drops, -1 stops; the train log keeps epochs 1..k. */
static int keep_odd_until_4(void *ctx, int64_t i, const char *line)
{
	(*(int *)ctx)++;
	assert_non_null(strchr(line, '\n'));
	return i >= 4 ? -1 : (int)(i & 1);
}

static void test_log_reopen(void **state)
{
	(void)state;
	char path[] = "/tmp/rml-test-log-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	const char *lines = "{\"epoch\":1}\n{\"epoch\":2}\n{\"epoch\":3}\n{\"epoch\":4}\n"
			    "{\"epoch\":5}\n{\"epoch\":6}\n";
	rml_error err;
	char buf[256];
	FILE *fp = fopen(path, "w");
	fputs(lines, fp);
	fclose(fp);
	int seen = 0;
	fp = rml_log_reopen(path, keep_odd_until_4, &seen, &err);
	assert_non_null(fp);
	fputs("new\n", fp);
	fclose(fp);
	assert_int_equal(seen, 5);   /* lines 0..4; line 4 stopped it */
	fp = fopen(path, "r");
	size_t n = fread(buf, 1, sizeof buf - 1, fp);
	buf[n] = 0;
	fclose(fp);
	assert_string_equal(buf, "{\"epoch\":2}\n{\"epoch\":4}\nnew\n");
	/* rml_train_log_open keeps epochs 1..k; 0 starts empty. */
	fp = fopen(path, "w");
	fputs(lines, fp);
	fclose(fp);
	fp = rml_train_log_open(path, 3, &err);
	assert_non_null(fp);
	/* On disk at once, while the log is open: a run killed before its
	 * next line keeps them. */
	FILE *rd = fopen(path, "r");
	n = fread(buf, 1, sizeof buf - 1, rd);
	buf[n] = 0;
	fclose(rd);
	fclose(fp);
	assert_string_equal(buf, "{\"epoch\":1}\n{\"epoch\":2}\n{\"epoch\":3}\n");
	fp = rml_train_log_open(path, 0, &err);
	assert_non_null(fp);
	fclose(fp);
	fp = fopen(path, "r");
	assert_int_equal(fread(buf, 1, sizeof buf, fp), 0);
	fclose(fp);
	unlink(path);
	assert_null(rml_log_reopen("/nonexistent-dir/log", NULL, NULL, &err));
	assert_int_equal(err.code, RML_ERR_IO);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_step_loss),
		cmocka_unit_test(test_decay_rule),
		cmocka_unit_test(test_mode_from_groups),
		cmocka_unit_test(test_nonfinite_loss),
		cmocka_unit_test(test_two_models_at_once),
		cmocka_unit_test(test_epoch),
		cmocka_unit_test(test_validate),
		cmocka_unit_test(test_checkpoint_settings),
		cmocka_unit_test(test_augment_names),
		cmocka_unit_test(test_checkpoint_hostile),
		cmocka_unit_test(test_nonfinite_weights),
		cmocka_unit_test(test_recipe_names),
		cmocka_unit_test(test_checkpoint_recipe),
		cmocka_unit_test(test_ema),
		cmocka_unit_test(test_epoch_recipe),
		cmocka_unit_test(test_log_reopen),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
