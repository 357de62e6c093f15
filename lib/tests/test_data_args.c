/*
 * test_data_args.c — rmlops-data's command line as lib/data_args.c judges
 * it: every refusal with its own message, what passes, the report lines,
 * and the checks around a selection (the recorded data digest, the
 * predictions file's kind, a refused selection named by its file).
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

#include "data_args.h"

/* a refused with exactly this message. */
static void refused(const rml_data_args *a, const char *msg)
{
	rml_error err = { 0 };
	assert_int_equal(rml_data_args_check(a, &err), RML_ERR_ARG);
	assert_string_equal(err.msg, msg);
}

static void accepted(const rml_data_args *a)
{
	rml_error err = { 0 };
	assert_int_equal(rml_data_args_check(a, &err), RML_OK);
}

static void test_inputs(void **state)
{
	(void)state;
	rml_data_args a = { .command = "split", .n_args = 2, .count = 5 };
	refused(&a, "split takes one input");
	a.command = "take";
	refused(&a, "take takes one input");
	a.command = "subset";
	refused(&a, "take takes one input");
	a.command = "tasks";
	refused(&a, "tasks takes one input");
	a.command = "select";
	refused(&a, "select takes one input");
	a.command = "show";
	refused(&a, "show takes one input");
	accepted(&(rml_data_args){ .command = "show", .n_args = 1 });
	a.command = "corrupt";
	refused(&a, "corrupt takes one input");
	a.command = "concat";
	a.n_args = 1;
	refused(&a, "concat needs at least two inputs");
	a.n_args = 5;
	accepted(&a);
	a.command = "export";
	a.n_args = 0;
	refused(&a, "export needs [INPUT] DIR");
	a.n_args = 3;
	refused(&a, "export needs [INPUT] DIR");
	a.n_args = 2;
	accepted(&a);
	/* import checks its own sources. */
	accepted(&(rml_data_args){ .command = "import", .n_args = 9 });
}

static void test_options_needed(void **state)
{
	(void)state;
	refused(&(rml_data_args){ .command = "split" }, "split needs --fraction F or --count N");
	accepted(&(rml_data_args){ .command = "split", .fraction = 0.5 });
	refused(&(rml_data_args){ .command = "take", .count = 3, .first = 2 },
		"give only one of --count, --fraction, --per-class, --first");
	refused(&(rml_data_args){ .command = "subset", .fraction = 0.1, .per_class = 2 },
		"give only one of --count, --fraction, --per-class, --first");
	refused(&(rml_data_args){ .command = "take" },
		"take needs --count, --fraction, --per-class, --first, --classes or --shuffle");
	accepted(&(rml_data_args){ .command = "take", .classes = "cat" });
	accepted(&(rml_data_args){ .command = "take", .shuffle = 1 });
	refused(&(rml_data_args){ .command = "tasks", .ways = 5 }, "tasks needs --ways N and --shots K");
	accepted(&(rml_data_args){ .command = "tasks", .ways = 5, .shots = 1 });
	refused(&(rml_data_args){ .command = "select", .count = 3 }, "select needs -p PREDICTIONS");
	refused(&(rml_data_args){ .command = "select", .predictions = "p.rml" },
		"select needs one of --fraction F and --count N");
	refused(&(rml_data_args){ .command = "select", .predictions = "p.rml", .count = 2, .fraction = 0.5 },
		"select needs one of --fraction F and --count N");
	refused(&(rml_data_args){ .command = "select", .predictions = "p.rml", .count = 2,
				  .output = "a.rml", .rest = "a.rml" },
		"--rest and -o name the same file");
	accepted(&(rml_data_args){ .command = "select", .predictions = "p.rml", .count = 2,
				   .output = "a.rml", .rest = "b.rml" });
	refused(&(rml_data_args){ .command = "corrupt", .corruption = "fog" },
		"corrupt needs --type NAME and --severity 1..5");
	refused(&(rml_data_args){ .command = "corrupt", .severity = 2 },
		"corrupt needs --type NAME and --severity 1..5");
	rml_error err = { 0 };
	rml_data_args a = { .command = "corrupt", .corruption = "smog", .severity = 2 };
	assert_int_equal(rml_data_args_check(&a, &err), RML_ERR_ARG);
	assert_non_null(strstr(err.msg, "smog"));
	accepted(&(rml_data_args){ .command = "corrupt", .corruption = "fog", .severity = 5 });
}

static void test_reports(void **state)
{
	(void)state;
	rml_dataset d = { .n = 12, .h = 32, .w = 30, .c = 3, .n_classes = 10 };
	char line[256];
	rml_data_report(line, sizeof line, 0, "take", &d);
	assert_string_equal(line, "take: 12 images of 32x30x3 in 10 classes");
	rml_data_report(line, sizeof line, 1, "split", &d);
	assert_string_equal(line, "{\"split\":{\"n\":12,\"h\":32,\"w\":30,\"c\":3,\"classes\":10}}");
	rml_selection s = { .n_selected = 2, .n_rest = 10, .threshold = 0.5 };
	rml_data_select_report(line, sizeof line, 0, RML_UNC_MARGIN, 12, &s);
	assert_string_equal(line, "select: 2 of 12 images by margin (uncertainty >= 0.5)");
	rml_data_select_report(line, sizeof line, 1, RML_UNC_ENTROPY, 12, &s);
	assert_string_equal(line, "{\"select\":{\"by\":\"entropy\",\"n\":12,\"selected\":2,"
				  "\"rest\":10,\"threshold\":0.5}}");
	/* Nothing selected: no threshold. */
	s = (rml_selection){ .n_rest = 12, .threshold = NAN };
	rml_data_select_report(line, sizeof line, 0, RML_UNC_CONFIDENCE, 12, &s);
	assert_string_equal(line, "select: 0 of 12 images by confidence (uncertainty >= nan)");
	rml_data_select_report(line, sizeof line, 1, RML_UNC_CONFIDENCE, 12, &s);
	assert_non_null(strstr(line, "\"threshold\":0}}"));
}

/* Four rows of two classes, the first two the least sure. */
static void make_pair(rml_dataset *d, rml_predictions *p)
{
	rml_error err = { 0 };
	rml_dataset_init(d);
	assert_int_equal(rml_dataset_alloc(d, 4, 1, 1, 1, &err), RML_OK);
	const char *names[] = { "a", "b" };
	assert_int_equal(rml_dataset_set_classes(d, names, 2, &err), RML_OK);
	rml_predictions_init(p);
	assert_int_equal(rml_predictions_alloc(p, 4, 2, &err), RML_OK);
	const float probs[] = { 0.5f, 0.5f, 0.4f, 0.6f, 0.9f, 0.1f, 0.01f, 0.99f };
	memcpy(p->probs, probs, sizeof probs);
	for (int i = 0; i < 4; i++)
		d->labels[i] = p->labels[i] = i % 2;
}

static void test_select(void **state)
{
	(void)state;
	rml_dataset d, sel, rest;
	rml_predictions p;
	rml_selection s;
	rml_error err = { 0 };
	make_pair(&d, &p);
	assert_int_equal(rml_data_select(&d, "in.rml", "abc", &p, "p.rml", "", RML_UNC_ENTROPY, 0, 2,
					 &sel, &rest, &s, &err), RML_OK);
	assert_int_equal(s.n_selected, 2);
	assert_int_equal(s.selected[0], 0);
	assert_int_equal(s.selected[1], 1);
	assert_int_equal(rest.n, 2);
	rml_selection_free(&s);
	rml_dataset_free(&sel);
	rml_dataset_free(&rest);
	/* The same digest passes; another is refused before anything is chosen. */
	assert_int_equal(rml_data_select(&d, "in.rml", "abc", &p, "p.rml", "abc", RML_UNC_ENTROPY, 0, 1,
					 &sel, NULL, &s, &err), RML_OK);
	rml_selection_free(&s);
	rml_dataset_free(&sel);
	assert_int_equal(rml_data_select(&d, "in.rml", "0123456789abcdef", &p, "p.rml", "fedcba9876543210",
					 RML_UNC_ENTROPY, 0, 1, &sel, NULL, &s, &err), RML_ERR_MISMATCH);
	assert_string_equal(err.msg, "in.rml: the predictions were made on another dataset "
				     "(data digest fedcba987654..., this one 0123456789ab...)");
	assert_null(s.selected);
	/* A refusal of the selection names the predictions file. */
	assert_int_equal(rml_data_select(&d, "in.rml", "abc", &p, "p.rml", "", RML_UNC_ENTROPY, 0, 5,
					 &sel, NULL, &s, &err), RML_ERR_ARG);
	assert_string_equal(err.msg, "p.rml: cannot select 5 of 4 images");
	rml_predictions_free(&p);
	rml_dataset_free(&d);
}

static void test_select_predictions(void **state)
{
	(void)state;
	rml_dataset d;
	rml_predictions p, q;
	rml_error err = { 0 };
	char digest[80];
	make_pair(&d, &p);
	rml_file f;
	rml_file_init(&f);
	assert_int_equal(rml_predictions_to_file(&p, &f, &err), RML_OK);
	rml_predictions_init(&q);
	assert_int_equal(rml_data_select_predictions(&f, "p.rml", &q, digest, sizeof digest, &err), RML_OK);
	assert_string_equal(digest, "");   /* none recorded */
	assert_int_equal(q.n, 4);
	assert_true(q.probs[3] == 0.6f);
	rml_predictions_free(&q);
	rml_file_free(&f);
	/* Another kind of file is refused, naming it. */
	rml_file_init(&f);
	assert_int_equal(rml_dataset_to_file(&d, &f, &err), RML_OK);
	rml_predictions_init(&q);
	assert_int_not_equal(rml_data_select_predictions(&f, "d.rml", &q, digest, sizeof digest, &err), RML_OK);
	assert_non_null(strstr(err.msg, "d.rml"));
	assert_null(q.probs);
	rml_file_free(&f);
	rml_predictions_free(&p);
	rml_dataset_free(&d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_inputs),
		cmocka_unit_test(test_options_needed),
		cmocka_unit_test(test_reports),
		cmocka_unit_test(test_select),
		cmocka_unit_test(test_select_predictions),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
