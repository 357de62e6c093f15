/*
 * test_monitor_args.c — rmlops-monitor's combinations of options
 * (monitor_args.h): each refusal with its message, in the order the
 * checks run, and the combinations each command takes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "monitor_args.h"

static char *files_stdin[] = { "a.rml", "-" };
static char *files_two[] = { "a.rml", "b.rml" };

/* Not given: quantile and rare below their ranges. */
#define NONE .quantile = -1, .rare = -1

static void test_refused(void **state)
{
	(void)state;
	static const struct {
		rml_monitor_args a;
		const char *msg;
	} bad[] = {
		{ { "fit", .model = "m", NONE }, "fit needs -m MODEL and -d DATA" },
		{ { "score", .data = "d", NONE }, "score needs -m MODEL and -d DATA" },
		{ { "auroc", .model = "m", .data = "d", NONE }, "auroc needs --ood DATA" },
		{ { "score", .model = "m", .data = "d", .ood = "o", NONE }, "--ood and --ood-model belong to auroc" },
		{ { "watch", .ood_model = "m2", NONE }, "--ood and --ood-model belong to auroc" },
		{ { "fit", .model = "m", .data = "d", .n_alerts = 1, NONE },
		  "--textfile, --plot and --alert belong to watching" },
		{ { "score", .model = "m", .data = "d", .plot = "p.png", NONE },
		  "--textfile, --plot and --alert belong to watching" },
		{ { "watch", .data = "d", NONE }, "watching reads FILE arguments, not -d or -o" },
		{ { "watch", .output = "o", NONE }, "watching reads FILE arguments, not -d or -o" },
		{ { "score", .model = "m", .data = "d", .quantile = 0.5, .rare = -1 },
		  "--quantile and --rare belong to fit" },
		{ { "watch", .quantile = -1, .rare = 0 }, "--quantile and --rare belong to fit" },
		{ { "watch", .plot = "-", NONE }, "--plot needs a file: standard output carries the windows" },
		{ { "watch", .textfile = "-", NONE },
		  "--textfile needs a file: standard output carries the windows" },
		{ { "score", .model = "-", .data = "-", NONE }, "only one input can come from standard input" },
		{ { "auroc", .model = "m", .data = "-", .ood = "o", .ood_model = "-", NONE },
		  "only one input can come from standard input" },
		{ { "watch", .model = "-", NONE }, "only one input can come from standard input" },
		{ { "watch", .files = files_stdin, .n_files = 2, .model = "-", NONE },
		  "only one input can come from standard input" },
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		rml_error err = { 0 };
		assert_int_equal(rml_monitor_args_check(&bad[i].a, &err), RML_ERR_ARG);
		assert_string_equal(err.msg, bad[i].msg);
	}
}

static void test_taken(void **state)
{
	(void)state;
	static const rml_monitor_args ok[] = {
		{ "fit", .model = "-", .data = "d", .output = "o", .quantile = 0.8, .rare = 0 },
		{ "score", .model = "m", .data = "-", NONE },
		{ "auroc", .model = "m", .data = "d", .ood = "-", .ood_model = "m2", NONE },
		{ "watch", .model = "m", .textfile = "t.prom", .plot = "p.png", .n_alerts = 3, NONE },
		{ "watch", .files = files_two, .n_files = 2, .model = "-", NONE },
		{ "watch", .files = files_stdin, .n_files = 2, NONE },
	};
	for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
		rml_error err = { 0 };
		assert_int_equal(rml_monitor_args_check(&ok[i], &err), RML_OK);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_taken),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
