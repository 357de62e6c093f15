/*
 * test_train_run.c — rmlops-train's run around train.h (train_run.h) on
 * mvit-tiny with random images: every refusal of the argument checks
 * with its message; a checkpoint written and resumed (epoch, settings,
 * the warning of a setting that differs, --ema-eval kept, other data
 * and a plain model refused, a bad train.ema_eval refused); an epoch's
 * figures, its log line and its checkpoint handed to the saver; an epoch
 * cut short leaves the figures alone; the written model is the average
 * with ema_eval.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "dataset.h"
#include "fixtures.h"
#include "model.h"
#include "outtext.h"
#include "train.h"
#include "train_run.h"

enum { K = 4 };

/* n random images (fixtures.h), image i labelled i % K; named, since a
 * new model takes the data's class names. */
static void dataset(rml_dataset *d, int64_t n, uint64_t seed)
{
	rml_fx_random_set(d, n, K, seed);
	assert_int_equal(rml_dataset_set_classes(d, NULL, K, NULL), RML_OK);
}

/* rmlops-train's defaults: sgd, lr and wd left to the optimiser. */
static rml_train_settings defaults(void)
{
	rml_train_settings s = rml_train_settings_defaults();
	assert_int_equal(s.opt, RML_OPT_SGD);
	assert_true(s.lr < 0 && s.wd < 0);
	assert_int_equal(s.epochs, 10);
	return s;
}

/* Each refusal, in the order the checks run, with its message. */
static void test_args_check(void **state)
{
	(void)state;
	static const struct {
		rml_train_args a;
		const char *msg;
	} bad[] = {
		{ { .data = "d", .mixup = 0.2 },
		  "--randaugment, --cutout, --erasing, --mixup and --cutmix need --augment with their item" },
		{ { .data = "d", .cutout = 8, .given = RML_TS_AUGMENT }, "--cutout needs cutout in --augment" },
		{ { .data = "d", .ema_eval = 1 }, "--ema-eval needs --ema DECAY" },
		{ { .val = "v" }, "no training data; give -d FILE" },
		{ { .data = "d", .model = "m", .arch = "mvit-tiny" }, "--model and --arch exclude each other" },
		{ { .data = "d", .resume = "c", .gamma = 2 },
		  "--resume carries its own model; drop --model, --arch, --adapters" },
		{ { .data = "d", .until = 11, .checkpoint = "c" }, "--until 11 is beyond --epochs 10" },
		{ { .data = "d", .until = 3 }, "--until needs --checkpoint FILE to continue from" },
		{ { .data = "d", .log = "-" }, "--log wants a file: it is rewritten on --resume" },
		{ { .data = "d", .adapters = "a" }, "--adapter-file needs --model, the base it belongs to" },
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		rml_train_settings s = defaults();
		rml_error err = { 0 };
		assert_int_equal(rml_train_args_check(&bad[i].a, &s, &err), RML_ERR_ARG);
		assert_string_equal(err.msg, bad[i].msg);
	}
	/* Accepted: --until beyond --epochs when resuming (the checkpoint's
	 * epochs count), --ema-eval when resuming, a recipe parameter with
	 * its item (set into the settings). */
	rml_train_settings s = defaults();
	rml_error err = { 0 };
	rml_train_args ok = { .data = "d", .resume = "c", .until = 50, .checkpoint = "c", .ema_eval = 1 };
	assert_int_equal(rml_train_args_check(&ok, &s, &err), RML_OK);
	assert_int_equal(rml_train_recipe_parse("crop,cutout", &s), 0);
	rml_train_args cut = { .data = "d", .cutout = 8, .given = RML_TS_AUGMENT };
	assert_int_equal(rml_train_args_check(&cut, &s, &err), RML_OK);
	assert_int_equal(s.cutout, 8);
}

/* A new run of mvit-tiny on d under s (with a, which may ask for an
 * average to be validated). */
static void run_new(rml_train_run *r, rml_dataset *d, rml_train_settings *s, const rml_train_args *a)
{
	rml_error err = { 0 };
	*r = (rml_train_run){ .train = d };
	rml_train_data_digest(d, r->digest);
	assert_int_equal(rml_train_new_model(&r->m, "mvit-tiny", d, (uint64_t)s->seed, &err), RML_OK);
	rml_train_run_options o = { NULL, 0, 0, a->until, a->ema_eval, "train", NULL };
	int fresh;
	assert_int_equal(rml_train_run_prepare(r, s, &o, &fresh, &err), RML_OK);
	assert_int_equal(fresh, 0);
}

struct saved {
	int calls;
	int64_t epoch, ema_eval;
	rml_status answer;
};

static rml_status save(void *ctx, rml_file *f, rml_error *err)
{
	struct saved *sv = ctx;
	sv->calls++;
	assert_int_equal(rml_get_i64(f, "train.epoch", &sv->epoch, err), RML_OK);
	sv->ema_eval = rml_get(f, "train.ema_eval") ? 1 : 0;
	assert_non_null(rml_find_tensor(f, "optim.ema"));
	return sv->answer ? rml_errorf(err, sv->answer, "disk full") : RML_OK;
}

static int stop_at_once(void *ctx, int64_t done, int64_t total)
{
	(void)ctx;
	(void)done;
	(void)total;
	return 1;
}

/* An epoch's figures, log line and checkpoint; a stopped epoch leaves the
 * figures as they were; a failing saver fails the epoch. */
static void test_epoch(void **state)
{
	(void)state;
	rml_dataset d;
	dataset(&d, 12, 3);
	rml_train_settings s = defaults();
	s.epochs = 2;
	s.batch = 4;
	s.ema = 0.9;
	rml_train_args a = { .data = "train", .checkpoint = "ck", .log = "the log", .ema_eval = 1 };
	rml_train_run r;
	run_new(&r, &d, &s, &a);
	rml_error err = { 0 };
	rml_train_epoch_result res = { .epoch = -5 };
	int stopped = 0;
	assert_int_equal(rml_train_run_epoch_timed(&r, &s, 0, stop_at_once, NULL, &res, &stopped, &err),
			 RML_OK);
	assert_int_equal(stopped, 1);
	assert_int_equal(res.epoch, -5);
	stopped = 0;
	assert_int_equal(rml_train_run_epoch_timed(&r, &s, 1, NULL, NULL, &res, &stopped, &err), RML_OK);
	assert_int_equal(stopped, 0);
	assert_int_equal(res.epoch, 2);
	assert_int_equal(res.images, 12);
	assert_true(isfinite(res.loss) && res.loss > 0);
	assert_true(res.train_acc >= 0 && res.train_acc <= 1);
	assert_true(isnan(res.val_acc) && isnan(res.val_nll));
	assert_true(res.seconds >= 0);

	FILE *log = tmpfile();
	assert_non_null(log);
	struct saved sv = { 0 };
	assert_int_equal(rml_train_run_epoch_end(&r, &s, &a, &res, log, save, &sv, &err), RML_OK);
	assert_int_equal(sv.calls, 1);
	assert_int_equal(sv.epoch, 2);
	assert_int_equal(sv.ema_eval, 1);
	char line[512] = "";
	rewind(log);
	assert_non_null(fgets(line, sizeof line, log));
	assert_non_null(strstr(line, "{\"epoch\":2,"));
	assert_non_null(strstr(line, "\"val_acc\":null,\"val_nll\":null"));
	/* Without --ema-eval no key; a saver's failure is the epoch's. */
	a.ema_eval = 0;
	sv.answer = RML_ERR_IO;
	assert_int_equal(rml_train_run_epoch_end(&r, &s, &a, &res, NULL, save, &sv, &err), RML_ERR_IO);
	assert_int_equal(sv.ema_eval, 0);
	assert_string_equal(err.msg, "disk full");
	fclose(log);

	/* The written model: the average with ema_eval, else the weights. */
	rml_file plain, avg;
	rml_file_init(&plain);
	rml_file_init(&avg);
	assert_int_equal(rml_train_run_model_to_file(&r, 0, &plain, &err), RML_OK);
	assert_int_equal(rml_train_run_model_to_file(&r, 1, &avg, &err), RML_OK);
	assert_int_equal(plain.n_tensors, avg.n_tensors);
	int differs = 0;
	for (int64_t i = 0; i < plain.n_tensors; i++) {
		assert_string_equal(plain.tensors[i].name, avg.tensors[i].name);
		differs |= memcmp(plain.tensors[i].data, avg.tensors[i].data, plain.tensors[i].nbytes) != 0;
	}
	assert_true(differs);
	rml_file_free(&plain);
	rml_file_free(&avg);
	rml_train_run_free(&r);
	rml_dataset_free(&d);
}

/* A checkpoint resumed: its epoch and settings, the warning of a setting
 * given otherwise, --ema-eval carried over; refused: other data, a file
 * that is no checkpoint, a train.ema_eval that is not 0 or 1. */
static void test_resume(void **state)
{
	(void)state;
	rml_dataset d, other;
	dataset(&d, 8, 5);
	dataset(&other, 8, 6);
	rml_train_settings s = defaults();
	s.epochs = 4;
	s.batch = 4;
	s.ema = 0.99;
	s.seed = 7;
	rml_train_args a = { .data = "train", .ema_eval = 1 };
	rml_train_run r;
	run_new(&r, &d, &s, &a);
	rml_error err = { 0 };
	rml_file ck;
	rml_file_init(&ck);
	assert_int_equal(rml_train_run_checkpoint(&r, &s, 1, 3, &ck, &err), RML_OK);

	/* Only --resume and --batch 8: the rest from the checkpoint. */
	rml_train_settings s2 = defaults();
	s2.batch = 8;
	rml_train_args a2 = { .data = "train", .resume = "ck.rml", .given = RML_TS_BATCH };
	rml_train_run r2 = { .train = &d };
	rml_train_data_digest(&d, r2.digest);
	rml_outbuf warn;
	rml_outbuf_init(&warn);
	assert_int_equal(rml_train_run_resume(&r2, &s2, &a2, &ck, &warn, &err), RML_OK);
	assert_int_equal(r2.start_epoch, 3);
	assert_int_equal(s2.epochs, 4);
	assert_int_equal(s2.seed, 7);
	assert_int_equal(s2.batch, 8);
	assert_true(s2.ema == 0.99);
	assert_int_equal(a2.ema_eval, 1);
	assert_non_null(r2.m);
	assert_string_equal(rml_out_str(&warn), "--batch 8 differs from the checkpoint's 4\n");
	rml_outbuf_free(&warn);
	rml_train_run_free(&r2);

	/* Without --ema-eval the checkpoint has no key and sets nothing. */
	rml_file ck2;
	rml_file_init(&ck2);
	assert_int_equal(rml_train_run_checkpoint(&r, &s, 0, 3, &ck2, &err), RML_OK);
	assert_null(rml_get(&ck2, "train.ema_eval"));
	rml_train_args a3 = { .data = "train", .resume = "ck.rml" };
	rml_train_settings s3 = defaults();
	r2 = (rml_train_run){ .train = &d };
	rml_train_data_digest(&d, r2.digest);
	rml_outbuf_init(&warn);
	assert_int_equal(rml_train_run_resume(&r2, &s3, &a3, &ck2, &warn, &err), RML_OK);
	assert_int_equal(a3.ema_eval, 0);
	assert_string_equal(rml_out_str(&warn), "");
	rml_outbuf_free(&warn);
	rml_train_run_free(&r2);

	/* Other data. */
	s3 = defaults();
	r2 = (rml_train_run){ .train = &other };
	rml_train_data_digest(&other, r2.digest);
	rml_outbuf_init(&warn);
	assert_int_equal(rml_train_run_resume(&r2, &s3, &a3, &ck2, &warn, &err), RML_ERR_MISMATCH);
	assert_string_equal(err.msg, "ck.rml was trained on other data than train; to train further on "
				     "new data, start from it with -m");
	rml_train_run_free(&r2);

	/* A bad train.ema_eval. */
	assert_int_equal(rml_set_i64(&ck2, "train.ema_eval", 2), RML_OK);
	s3 = defaults();
	r2 = (rml_train_run){ .train = &d };
	rml_train_data_digest(&d, r2.digest);
	assert_int_equal(rml_train_run_resume(&r2, &s3, &a3, &ck2, &warn, &err), RML_ERR_FORMAT);
	assert_string_equal(err.msg, "the checkpoint's train.ema_eval is not 0 or 1");
	rml_train_run_free(&r2);
	rml_file_free(&ck2);

	/* A plain model is not a checkpoint. */
	rml_file_init(&ck2);
	assert_int_equal(rml_model_to_file(r.m, &ck2, &err), RML_OK);
	r2 = (rml_train_run){ .train = &d };
	rml_train_data_digest(&d, r2.digest);
	assert_int_equal(rml_train_run_resume(&r2, &s3, &a3, &ck2, &warn, &err), RML_ERR_FORMAT);
	assert_string_equal(err.msg, "ck.rml is not a checkpoint (no train.epoch)");
	rml_train_run_free(&r2);
	rml_outbuf_free(&warn);
	rml_file_free(&ck2);
	rml_file_free(&ck);
	rml_train_run_free(&r);
	rml_dataset_free(&d);
	rml_dataset_free(&other);
}

int main(void)
{
	rml_set_threads(1);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_args_check),
		cmocka_unit_test(test_epoch),
		cmocka_unit_test(test_resume),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
