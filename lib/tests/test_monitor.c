/*
 * test_monitor.c — window statistics on cases worked out by hand (means,
 * quantiles as numpy's linear interpolation gives them, accuracy without
 * the rejected inputs, the class histogram), the ring keeping only the
 * last inputs, a non-finite row as the most uncertain, an empty window
 * refused; alert parsing and crossing; the Prometheus text checked line
 * by line against the exposition format's grammar (HELP and TYPE before
 * the samples of a family, one family once, escaped label values); the
 * dashboard is a PNG.
 */
#include <math.h>
#include <regex.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "monitor.h"

static void push3(rml_monitor *w, float a, float b, float c, int32_t label, int rej, float score)
{
	float p[3] = { a, b, c };
	rml_monitor_push(w, p, label, rej, score);
}

static void test_stats(void **state)
{
	(void)state;
	rml_error err = { 0 };
	rml_monitor w;
	rml_window_stats s;
	assert_int_equal(rml_monitor_init(&w, 4, 3, &err), RML_OK);
	assert_int_equal(rml_monitor_stats(&w, &s, &err), RML_ERR_ARG);
	assert_non_null(strstr(err.msg, "empty"));
	/* Pushed first, then pushed out of the ring of 4. */
	push3(&w, 0, 0, 1, 0, 0, 100);
	push3(&w, 1, 0, 0, 0, 0, 0);          /* right, confident */
	push3(&w, 0.5f, 0.5f, 0, 1, 0, 2);    /* a tie: the first class, wrong */
	push3(&w, 0.2f, 0.2f, 0.6f, 2, 1, NAN); /* right but rejected, unscored */
	push3(&w, 0, 1, 0, -1, 0, 4);         /* unlabelled */
	assert_int_equal(w.total, 5);
	assert_int_equal(rml_monitor_stats(&w, &s, &err), RML_OK);
	assert_int_equal(s.n, 4);
	assert_int_equal(s.n_labelled, 3);
	assert_int_equal(s.n_rejected, 1);
	assert_int_equal(s.n_scored, 3);
	assert_true(s.reject_rate == 0.25);
	/* Judged: the confident one (right) and the tie (wrong). */
	assert_true(s.accuracy == 0.5);
	double h2 = log(2.0), h3 = -(0.4 * log(0.2) + 0.6 * log(0.6));
	/* Entropies sorted: 0, 0, ln 2, h3 (1.0397 > 0.693). */
	assert_true(fabs(s.entropy_mean - (h2 + h3) / 4) < 1e-6);
	/* numpy.quantile([0,0,h2,h3], [.1,.5,.9]): positions 0.3, 1.5, 2.7. */
	assert_true(fabs(s.entropy_q[0] - 0) < 1e-7);
	assert_true(fabs(s.entropy_q[1] - h2 / 2) < 1e-6);
	assert_true(fabs(s.entropy_q[2] - (h2 + 0.7 * (h3 - h2))) < 1e-6);
	/* Confidences 1, 0.5, 0.6, 1 sorted 0.5, 0.6, 1, 1. */
	assert_true(fabs(s.conf_mean - 0.775) < 1e-6);
	assert_true(fabs(s.conf_q[0] - (0.5 + 0.3 * 0.1)) < 1e-6);
	assert_true(fabs(s.conf_q[1] - 0.8) < 1e-6);
	assert_true(fabs(s.conf_q[2] - 1) < 1e-6);
	/* Scores 0, 2, 4. */
	assert_true(fabs(s.score_mean - 2) < 1e-9);
	assert_true(fabs(s.score_q[1] - 2) < 1e-9);
	assert_true(fabs(s.rare_rate - 2.0 / 3) < 1e-9);
	assert_int_equal(s.class_count[0], 2);
	assert_int_equal(s.class_count[1], 1);
	assert_int_equal(s.class_count[2], 1);
	assert_int_equal(s.n_unpredicted, 0);
	rml_window_stats_free(&s);
	/* A NaN row: infinite entropy, confidence 0, no class. */
	push3(&w, NAN, 0, 0, 1, 0, INFINITY);
	assert_int_equal(rml_monitor_stats(&w, &s, &err), RML_OK);
	assert_true(isinf(s.entropy_mean));
	assert_true(isinf(s.entropy_q[2]));
	assert_int_equal(s.n_unpredicted, 1);
	assert_true(isinf(s.score_mean));
	rml_window_stats_free(&s);
	rml_monitor_free(&w);
	/* No labels, no scores: NaN. */
	assert_int_equal(rml_monitor_init(&w, 2, 3, &err), RML_OK);
	push3(&w, 0, 0, 1, -1, 0, NAN);
	assert_int_equal(rml_monitor_stats(&w, &s, &err), RML_OK);
	assert_true(isnan(s.accuracy) && isnan(s.score_mean) && isnan(s.rare_rate));
	rml_window_stats_free(&s);
	rml_monitor_free(&w);
	assert_int_equal(rml_monitor_init(&w, 0, 3, &err), RML_ERR_ARG);
	assert_int_equal(rml_monitor_init(&w, 3, 0, &err), RML_ERR_ARG);
}

static void test_alerts(void **state)
{
	(void)state;
	rml_error err = { 0 };
	rml_alert_kind a;
	double t;
	assert_int_equal(rml_alert_parse("entropy=1.5", &a, &t, &err), RML_OK);
	assert_int_equal(a, RML_ALERT_ENTROPY);
	assert_true(t == 1.5);
	assert_int_equal(rml_alert_parse("accuracy=0.8", &a, &t, &err), RML_OK);
	assert_true(rml_alert_crossed(a, 0.7, t));
	assert_false(rml_alert_crossed(a, 0.9, t));
	assert_false(rml_alert_crossed(a, NAN, t));
	assert_int_equal(rml_alert_parse("coact_rare_rate=0.3", &a, &t, &err), RML_OK);
	assert_int_equal(a, RML_ALERT_RARE);
	assert_true(rml_alert_crossed(a, 0.31, t));
	assert_false(rml_alert_crossed(a, 0.3, t));
	assert_true(rml_alert_crossed(RML_ALERT_ENTROPY, INFINITY, 1));
	const char *bad[] = { "entropy", "entropy=", "entropy=x", "entropy=1x", "entropy=nan",
			      "coact=1", "=1", "entropyy=1", "" };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		assert_int_equal(rml_alert_parse(bad[i], &a, &t, &err), RML_ERR_ARG);
}

/* Every line a comment (# HELP name text / # TYPE name type) or a sample
 * name{labels} value; each family's HELP and TYPE once, before its
 * samples; samples of a summary named name, name_sum or name_count. */
static void check_exposition(const char *text, int64_t *n_samples)
{
	regex_t help, type, smp;
	assert_int_equal(regcomp(&help, "^# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) [^\n]+$", REG_EXTENDED), 0);
	assert_int_equal(regcomp(&type, "^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|summary|histogram|untyped)$",
				 REG_EXTENDED), 0);
	assert_int_equal(regcomp(&smp,
				 "^([a-zA-Z_:][a-zA-Z0-9_:]*)\\{([a-zA-Z_][a-zA-Z0-9_]*=\"([^\"\\\\\n]|\\\\[\\\\\"n])*\""
				 "(,[a-zA-Z_][a-zA-Z0-9_]*=\"([^\"\\\\\n]|\\\\[\\\\\"n])*\")*)\\} "
				 "([-+]?[0-9.eE+-]+|[+-]Inf|NaN)$",
				 REG_EXTENDED), 0);
	char fam[128] = "", seen[64][128];
	int n_seen = 0, typed = 0;
	*n_samples = 0;
	const char *p = text;
	while (*p) {
		const char *nl = strchr(p, '\n');
		assert_non_null(nl);
		char line[1024];
		size_t len = (size_t)(nl - p);
		assert_true(len < sizeof line);
		memcpy(line, p, len);
		line[len] = 0;
		regmatch_t mt[3];
		if (regexec(&help, line, 2, mt, 0) == 0) {
			snprintf(fam, sizeof fam, "%.*s", (int)(mt[1].rm_eo - mt[1].rm_so), line + mt[1].rm_so);
			for (int i = 0; i < n_seen; i++)
				if (strcmp(seen[i], fam) == 0)
					fail_msg("family %s twice", fam);
			snprintf(seen[n_seen++], 128, "%s", fam);
			typed = 0;
		} else if (regexec(&type, line, 2, mt, 0) == 0) {
			assert_int_equal((int)strlen(fam), mt[1].rm_eo - mt[1].rm_so);
			assert_memory_equal(fam, line + mt[1].rm_so, strlen(fam));
			typed = 1;
		} else if (regexec(&smp, line, 2, mt, 0) == 0) {
			assert_true(typed);
			size_t nl2 = (size_t)(mt[1].rm_eo - mt[1].rm_so), fl = strlen(fam);
			int ok = nl2 == fl || (nl2 == fl + 4 && strncmp(line + fl, "_sum", 4) == 0) ||
				 (nl2 == fl + 6 && strncmp(line + fl, "_count", 6) == 0);
			if (!ok || strncmp(line, fam, fl) != 0)
				fail_msg("sample '%s' outside family %s", line, fam);
			(*n_samples)++;
		} else {
			fail_msg("not exposition format: '%s'", line);
		}
		p = nl + 1;
	}
	regfree(&help);
	regfree(&type);
	regfree(&smp);
}

static void test_prometheus(void **state)
{
	(void)state;
	rml_error err = { 0 };
	rml_monitor w;
	rml_window_stats s;
	assert_int_equal(rml_monitor_init(&w, 8, 3, &err), RML_OK);
	push3(&w, 0.1f, 0.2f, 0.7f, 2, 0, 3);
	push3(&w, 0.9f, 0.05f, 0.05f, 1, 1, 0);
	push3(&w, NAN, 0, 0, -1, 0, INFINITY);
	assert_int_equal(rml_monitor_stats(&w, &s, &err), RML_OK);
	const char *names[3] = { "cat", "say \"hi\"", "back\\slash\nnewline" };
	int64_t alerts[RML_ALERT_COUNT] = { 1, 0, 2, 0, 0 };
	rml_prom_info info = { "abc123", "canary", names, 4, 99, alerts };
	rml_outbuf o;
	rml_outbuf_init(&o);
	assert_int_equal(rml_monitor_prom(&s, 3, &info, &o, &err), RML_OK);
	rml_outbuf_add(&o, "", 1);
	const char *text = (const char *)o.data;
	int64_t n;
	check_exposition(text, &n);
	assert_true(n > 20);
	assert_non_null(strstr(text, "rmlops_window_inputs{model=\"abc123\",stage=\"canary\"} 3\n"));
	assert_non_null(strstr(text, "class=\"say \\\"hi\\\"\"} 0\n"));
	assert_non_null(strstr(text, "class=\"back\\\\slash\\nnewline\"} 1\n"));
	assert_non_null(strstr(text, "class=\"none\"} 1\n"));
	assert_non_null(strstr(text, "rmlops_window_entropy{model=\"abc123\",stage=\"canary\",quantile=\"0.9\"} +Inf\n"));
	assert_non_null(strstr(text, "rmlops_window_entropy_count{model=\"abc123\",stage=\"canary\"} 3\n"));
	assert_non_null(strstr(text, "rmlops_monitor_inputs_total{model=\"abc123\",stage=\"canary\"} 99\n"));
	assert_non_null(strstr(text, "alert=\"coact_score\"} 2\n"));
	/* Accuracy: one labelled input judged (the other rejected), wrong...
	 * the first predicts class 2 and is labelled 2: right. */
	assert_non_null(strstr(text, "rmlops_window_accuracy{model=\"abc123\",stage=\"canary\"} 1\n"));
	rml_outbuf_free(&o);
	rml_window_stats_free(&s);
	rml_monitor_free(&w);
	/* Without labels or scores those families are left out. */
	assert_int_equal(rml_monitor_init(&w, 8, 3, &err), RML_OK);
	push3(&w, 0.1f, 0.2f, 0.7f, -1, 0, NAN);
	assert_int_equal(rml_monitor_stats(&w, &s, &err), RML_OK);
	rml_prom_info plain = { "", "", NULL, 1, 1, NULL };
	rml_outbuf_init(&o);
	assert_int_equal(rml_monitor_prom(&s, 3, &plain, &o, &err), RML_OK);
	rml_outbuf_add(&o, "", 1);
	text = (const char *)o.data;
	check_exposition(text, &n);
	assert_null(strstr(text, "accuracy"));
	assert_null(strstr(text, "coact"));
	assert_null(strstr(text, "alerts_total"));
	assert_non_null(strstr(text, "class=\"2\"} 1\n"));
	rml_outbuf_free(&o);
	rml_window_stats_free(&s);
	rml_monitor_free(&w);
}

static void test_plot(void **state)
{
	(void)state;
	rml_error err = { 0 };
	rml_monitor w;
	rml_window_stats s[3];
	assert_int_equal(rml_monitor_init(&w, 2, 3, &err), RML_OK);
	for (int i = 0; i < 3; i++) {
		push3(&w, 0.1f * (float)i, 0.2f, 0.7f - 0.1f * (float)i, i % 2 ? 2 : -1, i == 1, (float)i);
		assert_int_equal(rml_monitor_stats(&w, &s[i], &err), RML_OK);
	}
	char path[] = "/tmp/test_monitor_XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(rml_monitor_plot(path, s, 3, 3, "test", &err), RML_OK);
	FILE *fp = fopen(path, "rb");
	unsigned char sig[8];
	assert_int_equal(fread(sig, 1, 8, fp), 8);
	fclose(fp);
	assert_memory_equal(sig, "\x89PNG\r\n\x1a\n", 8);
	unlink(path);
	assert_int_equal(rml_monitor_plot(path, s, 0, 3, "test", &err), RML_ERR_ARG);
	for (int i = 0; i < 3; i++)
		rml_window_stats_free(&s[i]);
	rml_monitor_free(&w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_stats),
		cmocka_unit_test(test_alerts),
		cmocka_unit_test(test_prometheus),
		cmocka_unit_test(test_plot),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
