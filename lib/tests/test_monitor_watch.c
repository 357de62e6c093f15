/*
 * test_monitor_watch.c — the watching loop on a file holding two
 * predictions containers (9 inputs, window 4, step 3): windows after
 * inputs 4 and 7 and a last one for the rest at the end, each a JSON line
 * handed over at once, with an alert line after every window whose mean
 * entropy crosses the threshold and a message for it; the textfile
 * written; a stream that changes its class count, a dataset without a
 * model and a missing file refused.
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

#include "monitor_watch.h"

struct seen {
	char text[4096];
	int windows, messages;
};

static void emit(void *ctx, const char *text, size_t len)
{
	struct seen *s = ctx;
	size_t have = strlen(s->text);
	assert_true(have + len < sizeof s->text);
	memcpy(s->text + have, text, len);
	s->text[have + len] = 0;
	s->windows++;
}

static void say(void *ctx, int level, const char *msg)
{
	struct seen *s = ctx;
	assert_int_equal(level, 1);
	assert_non_null(strstr(msg, "alert: window "));
	s->messages++;
}

/* n rows of k classes: confident rows first (entropy ~0), then uniform. */
static void write_preds(FILE *fp, int64_t n, int64_t k, int64_t n_sure)
{
	rml_error err = { 0 };
	rml_predictions p;
	rml_file f;
	rml_predictions_init(&p);
	rml_file_init(&f);
	assert_int_equal(rml_predictions_alloc(&p, n, k, &err), RML_OK);
	for (int64_t i = 0; i < n; i++) {
		for (int64_t j = 0; j < k; j++)
			p.probs[i * k + j] = i < n_sure ? (j == 0 ? 1.0f : 0.0f) : 1.0f / (float)k;
		p.labels[i] = 0;
	}
	assert_int_equal(rml_predictions_to_file(&p, &f, &err), RML_OK);
	assert_int_equal(rml_file_write(&f, fp, "test", &err), RML_OK);
	rml_file_free(&f);
	rml_predictions_free(&p);
}

static void test_watch(void **state)
{
	(void)state;
	char path[] = "/tmp/test_watch_XXXXXX", prom[] = "/tmp/test_watch_prom_XXXXXX";
	int fd = mkstemp(path), pd = mkstemp(prom);
	assert_true(fd >= 0 && pd >= 0);
	close(pd);
	FILE *fp = fdopen(fd, "wb");
	write_preds(fp, 5, 3, 5);   /* inputs 1..5 sure */
	write_preds(fp, 4, 3, 0);   /* inputs 6..9 uniform */
	fclose(fp);
	struct seen seen = { "", 0, 0 };
	rml_alert_kind alert = RML_ALERT_ENTROPY;
	double thr = 0.5;
	rml_watch_opts o = { 4, 3, 100, &alert, &thr, 1, prom, "test", emit, say, &seen };
	rml_watch s;
	rml_error err = { 0 };
	assert_int_equal(rml_watch_init(&s, &o, NULL, NULL, &err), RML_OK);
	assert_int_equal(rml_watch_file(&s, path, &err), RML_OK);
	assert_int_equal(s.w.total, 9);
	assert_int_equal(s.n_hist, 2);   /* after inputs 4 and 7 */
	assert_int_equal(rml_watch_finish(&s, &err), RML_OK);
	assert_int_equal(s.n_hist, 3);   /* and the last two */
	assert_int_equal(seen.windows, 3);
	/* Window 1: all sure; window 2 (inputs 4..7): two of four uniform,
	 * mean entropy ln(3)/2 = 0.55 > 0.5; window 3 (6..9): all uniform. */
	assert_non_null(strstr(seen.text, "{\"window\":1,\"inputs_total\":4,\"n\":4,\"entropy_mean\":0.000000,"));
	assert_non_null(strstr(seen.text, "{\"window\":3,\"inputs_total\":9,\"n\":4,\"entropy_mean\":1.098612,"));
	assert_null(strstr(seen.text, "{\"alert\":\"entropy\",\"window\":1,"));
	assert_non_null(strstr(seen.text, "}\n{\"alert\":\"entropy\",\"window\":2,\"value\":0.549306,\"threshold\":0.500000}\n"));
	assert_non_null(strstr(seen.text, "{\"alert\":\"entropy\",\"window\":3,"));
	assert_int_equal(seen.messages, 2);
	assert_true(s.alerted);
	FILE *pf = fopen(prom, "r");
	assert_non_null(pf);
	char line[256];
	assert_non_null(fgets(line, sizeof line, pf));
	assert_memory_equal(line, "# HELP", 6);
	fclose(pf);
	rml_watch_free(&s);

	/* Another class count later in the stream. */
	fp = fopen(path, "wb");
	write_preds(fp, 2, 3, 2);
	write_preds(fp, 2, 4, 2);
	fclose(fp);
	o.textfile = NULL;
	assert_int_equal(rml_watch_init(&s, &o, NULL, NULL, &err), RML_OK);
	assert_int_equal(rml_watch_file(&s, path, &err), RML_ERR_MISMATCH);
	assert_non_null(strstr(err.msg, "4 classes, the stream so far has 3"));
	rml_watch_free(&s);

	/* A dataset needs the model (unit tests run from the top). */
	assert_int_equal(rml_watch_init(&s, &o, NULL, NULL, &err), RML_OK);
	assert_int_equal(rml_watch_file(&s, "testdata/cifar10-test-1000.rml", &err), RML_ERR_ARG);
	assert_non_null(strstr(err.msg, "give the model that sees it with -m"));
	assert_int_equal(rml_watch_file(&s, "/nonexistent/x.rml", &err), RML_ERR_IO);
	rml_watch_free(&s);
	unlink(path);
	unlink(prom);
}

/* The textfile's directory: the current one, the root, a missing one. */
static void test_check_dir(void **state)
{
	(void)state;
	rml_error err = { 0 };
	assert_int_equal(rml_watch_check_dir("metrics.prom", &err), RML_OK);
	assert_int_equal(rml_watch_check_dir("/metrics.prom", &err), RML_OK);
	assert_int_equal(rml_watch_check_dir("/nonexistent/dir/m.prom", &err), RML_ERR_IO);
	assert_string_equal(err.msg, "/nonexistent/dir/m.prom: the directory /nonexistent/dir does not exist");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_watch),
		cmocka_unit_test(test_check_dir),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
