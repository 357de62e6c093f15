/*
 * test_train_report.c — rmlops-train's messages: the warnings of a
 * resumed run in their order with whole and real numbers, the recipe and
 * the tune list; an epoch's line with and without validation (0 images/s
 * for no time); the summary's JSON with null for NaN; and the recipe
 * parameters given beside --augment (set only with their item, the first
 * missing item named). Written out by hand here. And the learning curve:
 * read back from a log with null validation, the epochs beyond a resume
 * dropped, malformed lines named by their number, a missing log empty;
 * drawn as PNG, an empty curve refused.
 */
#include <math.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "outtext.h"
#include "train.h"
#include "train_report.h"

static void test_differ(void **state)
{
	(void)state;
	rml_train_settings now = { .epochs = 5, .batch = 32, .seed = 2, .warmup = 1, .lr = 0.05,
				   .momentum = 0.9, .wd = 5e-4, .smoothing = 0.1, .crop = 1, .ema = 0.99 };
	rml_train_settings was = now;
	was.epochs = 10;
	was.lr = 0.1;
	was.flip = 1;
	was.ema = 0.999;
	strcpy(now.tune, "phi");
	strcpy(was.tune, "phi,W");
	rml_outbuf o;
	rml_outbuf_init(&o);
	rml_train_differ_text(&o, &now, &was, 0);
	assert_string_equal(rml_out_str(&o), "");
	rml_train_differ_text(&o, &now, &was,
			      RML_TS_EPOCHS | RML_TS_LR | RML_TS_AUGMENT | RML_TS_EMA | RML_TS_TUNE);
	assert_string_equal(rml_out_str(&o),
			    "--epochs 5 differs from the checkpoint's 10\n"
			    "--lr 0.05 differs from the checkpoint's 0.1\n"
			    "the recipe --augment crop (or its parameters) differs from the checkpoint's crop,flip\n"
			    "--ema 0.99 differs from the checkpoint's 0.999\n"
			    "--tune phi differs from the checkpoint's phi,W\n");
	rml_outbuf_free(&o);
}

static void test_epoch_and_json(void **state)
{
	(void)state;
	rml_outbuf o;
	rml_outbuf_init(&o);
	rml_train_epoch_text(&o, 3, 1.23456, 0.5, 1, 0.25, 2.0, 1000);
	assert_string_equal(rml_out_str(&o), "epoch 3: loss 1.2346, train acc 0.5000, val acc 0.2500, 500 images/s");
	rml_outbuf_free(&o);
	rml_train_epoch_text(&o, 1, 2, 0.125, 0, NAN, 0, 10);
	assert_string_equal(rml_out_str(&o), "epoch 1: loss 2.0000, train acc 0.1250, 0 images/s");
	rml_outbuf_free(&o);
	rml_train_report_json(&o, 4, 0.5, NAN, INFINITY);
	assert_string_equal(rml_out_str(&o), "{\"epochs\":4,\"loss\":0.50000,\"val_acc\":null,\"val_nll\":null}\n");
	rml_outbuf_free(&o);
}

static void test_recipe_params(void **state)
{
	(void)state;
	rml_train_settings s = { 0 };
	assert_int_equal(rml_train_recipe_parse("crop,randaugment,mixup", &s), 0);
	assert_null(rml_train_recipe_params(&s, 0, 0, 0, 0, 0, 0));
	assert_int_equal(s.ra_n, 2);
	assert_int_equal(s.ra_m, 9);
	assert_null(rml_train_recipe_params(&s, 3, 12, 0, 0, 0.5, 0));
	assert_int_equal(s.ra_n, 3);
	assert_int_equal(s.ra_m, 12);
	assert_true(s.mixup == 0.5);
	rml_train_settings before = s;
	assert_string_equal(rml_train_recipe_params(&s, 1, 1, 8, 0, 0, 0), "cutout");
	assert_memory_equal(&s, &before, sizeof s);
	assert_string_equal(rml_train_recipe_params(&s, 0, 0, 0, 0.5, 0, 0), "erasing");
	assert_string_equal(rml_train_recipe_params(&s, 0, 0, 0, 0, 0, 2), "cutmix");
	s.ra_n = 0;
	assert_string_equal(rml_train_recipe_params(&s, 1, 1, 0, 0, 0, 0), "randaugment");
}

/* A temporary file holding text; its path in path (of 64 bytes). */
static void write_temp(char *path, const char *text)
{
	snprintf(path, 64, "/tmp/rml-test-curve-XXXXXX");
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	FILE *fp = fdopen(fd, "w");
	assert_non_null(fp);
	fputs(text, fp);
	fclose(fp);
}

static void test_curve_from_log(void **state)
{
	(void)state;
	char line[512], text[2048] = "", path[64];
	/* The log's own lines: epoch 2 without validation (null). */
	for (int e = 1; e <= 3; e++) {
		rml_train_log_line(line, sizeof line, e, 0.001 * e, 2.0 / e, 0.3 * e, e == 2 ? NAN : 0.25 * e,
				   1.5, 10.0, 1000);
		strcat(text, line);
		strcat(text, "\n");
	}
	write_temp(path, text);
	rml_train_curve c;
	rml_train_curve_init(&c);
	rml_error err = { 0 };
	assert_int_equal(rml_train_curve_read_log(&c, path, 0, &err), RML_OK);
	assert_int_equal(c.n, 3);
	assert_true(c.epoch[2] == 3 && fabs(c.lr[2] - 0.003) < 1e-12 && fabs(c.loss[1] - 1.0) < 1e-12);
	assert_true(fabs(c.train_acc[0] - 0.3) < 1e-12 && fabs(c.val_acc[2] - 0.75) < 1e-12);
	assert_true(isnan(c.val_acc[1]));
	/* A resumed run keeps only the checkpoint's epochs. */
	rml_train_curve_free(&c);
	assert_int_equal(rml_train_curve_read_log(&c, path, 2, &err), RML_OK);
	assert_int_equal(c.n, 2);

	/* Drawn; then an empty curve is refused. */
	char png[80];
	snprintf(png, sizeof png, "%s.png", path);
	assert_int_equal(rml_train_curve_plot(&c, png, 10, &err), RML_OK);
	FILE *fp = fopen(png, "rb");
	assert_non_null(fp);
	unsigned char sig[8];
	assert_int_equal(fread(sig, 1, 8, fp), 8);
	fclose(fp);
	assert_memory_equal(sig, "\x89PNG\r\n\x1a\n", 8);
	unlink(png);
	rml_train_curve_free(&c);
	assert_int_equal(rml_train_curve_plot(&c, png, 10, &err), RML_ERR_ARG);
	assert_int_equal(access(png, F_OK), -1);
	unlink(path);

	/* A line that is not the log's, named by its number. */
	write_temp(path, "{\"epoch\":1,\"lr\":0.1,\"loss\":1,\"train_acc\":0.5,\"val_acc\":null}\n"
			 "{\"epoch\":2,\"lr\":0.1,\"loss\":x,\"train_acc\":0.5,\"val_acc\":0.5}\n");
	assert_int_equal(rml_train_curve_read_log(&c, path, 0, &err), RML_ERR_FORMAT);
	assert_non_null(strstr(err.msg, " line 2: not a training log line"));
	rml_train_curve_free(&c);
	unlink(path);

	/* No log yet: nothing to read, not an error. */
	assert_int_equal(rml_train_curve_read_log(&c, path, 0, &err), RML_OK);
	assert_int_equal(c.n, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_differ),
		cmocka_unit_test(test_epoch_and_json),
		cmocka_unit_test(test_recipe_params),
		cmocka_unit_test(test_curve_from_log),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
