/*
 * test_cli.c — the option table of cmd/cli.c (cli_parse_args): every
 * kind stores what it should, every rejected value gives its own message
 * and status, the shared options, the callback, bits, abbreviations and
 * operands; the shared input/output entries (CLI_MODEL_IO); the escaping
 * of cli_safe; the stop signal catcher (cli_catch_stop); the helpers
 * of the programs' repeated steps (operands left over, reports, output
 * checks, one standard input, saving what was made). Messages are caught by pointing stderr
 * at a memory stream.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "cli.h"

struct settings {
	const char *out, *by, *name;
	int flag, small;
	int64_t count, big;
	double frac;
	cli_common com;
	/* What the callback saw. */
	int calls, last_id;
	const char *last_arg, *last_name;
	double seen_frac;
};

enum { G_COUNT = 1, G_FRAC = 2, G_OUT = 4, G_SEED = 8 };
enum { ID_SET = 1, ID_FRAC, ID_FAIL };

#define F(f) offsetof(struct settings, f)
static const cli_opt table[] = {
	CLI_STR("output", 'o', F(out), .bit = G_OUT),
	CLI_FLAG("flag", 0, F(flag)),
	CLI_WORD("by", 'b', F(by), "entropy|confidence|margin"),
	CLI_WORD("split", 0, F(name), "train|test"),
	CLI_I64("count", 'c', F(count), 1, 100, .bit = G_COUNT),
	CLI_I64("big", 0, F(big), 0, CLI_I64_MAX),
	CLI_INT("small", 0, F(small), -3, 3),
	CLI_F64("fraction", 0, F(frac), 0, 1, .bit = G_FRAC, .id = ID_FRAC),
	CLI_CALL("steps", 0, ID_SET),
	CLI_CALL("step-size", 0, ID_SET),
	CLI_CALL("fail", 0, ID_FAIL),
	CLI_SHARED("seed", 's', 's', .bit = G_SEED),
	CLI_SHARED_THREADS,
	CLI_SHARED_JSON,
	CLI_SHARED_BASE,
	CLI_END,
};
#undef F

static int callback(void *base, const cli_opt *e, const char *arg)
{
	struct settings *s = base;
	s->calls++;
	s->last_id = e->id;
	s->last_arg = arg;
	s->last_name = e->name;
	if (e->id == ID_FRAC)
		s->seen_frac = s->frac;   /* stored before the call */
	if (e->id == ID_FAIL)
		return cli_usage_error("--fail does not take '%s'", arg);
	return 0;
}

/* What the last run printed on stderr. */
static char *err_text;
static size_t err_len;

/* Parse the options of a command line given as words (NULL-ended) with
 * the table above, stderr caught; *s is reset first. */
static int run(struct settings *s, ...)
{
	char *argv[32];
	int argc = 0;
	va_list ap;
	va_start(ap, s);
	argv[argc++] = "rmlops-test";
	for (char *w; argc < 31 && (w = va_arg(ap, char *)) != NULL;)
		argv[argc++] = w;
	va_end(ap);
	argv[argc] = NULL;
	memset(s, 0, sizeof *s);
	s->com.seed = 1;
	unsigned given = 0;
	free(err_text);
	err_text = NULL;
	FILE *saved = stderr;
	stderr = open_memstream(&err_text, &err_len);
	cli_parser p = { table, s, &s->com, callback, &given };
	int st = cli_parse_args(&p, argc, argv);
	fclose(stderr);
	stderr = saved;
	s->calls |= (int)given << 8;   /* the bits, for the tests to read */
	return st;
}

static unsigned bits(const struct settings *s)
{
	return (unsigned)s->calls >> 8;
}

static void expect_message(const char *first_line)
{
	char want[512];
	snprintf(want, sizeof want, "rmlops-test: %s\nTry 'rmlops-test --help'.\n", first_line);
	assert_non_null(err_text);
	/* getopt_long's own message may come first. */
	size_t n = strlen(err_text), w = strlen(want);
	assert_true(n >= w);
	assert_string_equal(err_text + n - w, want);
}

static void test_kinds_store(void **state)
{
	(void)state;
	struct settings s;
	assert_int_equal(run(&s, "-o", "x.rml", "--flag", "--by", "margin", "--split=test", "--count", "7",
			     "--big", "9223372036854775807", "--small", "-3", "--fraction", "0.25", NULL), 0);
	assert_string_equal(s.out, "x.rml");
	assert_int_equal(s.flag, 1);
	assert_string_equal(s.by, "margin");
	assert_string_equal(s.name, "test");
	assert_int_equal(s.count, 7);
	assert_true(s.big == INT64_MAX);
	assert_int_equal(s.small, -3);
	assert_true(s.frac == 0.25);
	assert_int_equal(bits(&s), G_OUT | G_COUNT | G_FRAC);
	assert_string_equal(err_text, "");
}

static void test_short_letters_and_operands(void **state)
{
	(void)state;
	struct settings s;
	char *argv[] = { "rmlops-test", "first", "-c5", "-b", "entropy", "second", "-ox", "--", "-third", NULL };
	memset(&s, 0, sizeof s);
	cli_parser p = { table, &s, &s.com, callback, NULL };
	assert_int_equal(cli_parse_args(&p, 9, argv), 0);
	assert_int_equal(s.count, 5);
	assert_string_equal(s.by, "entropy");
	assert_string_equal(s.out, "x");
	/* getopt_long moved the operands to the end, in order. */
	assert_int_equal(9 - optind, 3);
	assert_string_equal(argv[optind], "first");
	assert_string_equal(argv[optind + 1], "second");
	assert_string_equal(argv[optind + 2], "-third");
}

static void test_word_rejected(void **state)
{
	(void)state;
	struct settings s;
	assert_int_equal(run(&s, "--by", "entrop", NULL), CLI_EXIT_USAGE);
	expect_message("--by is entropy, confidence or margin, not 'entrop'");
	assert_null(s.by);
	assert_int_equal(run(&s, "--split", "val", NULL), CLI_EXIT_USAGE);
	expect_message("--split is train or test, not 'val'");
	assert_int_equal(run(&s, "-b", "", NULL), CLI_EXIT_USAGE);
	expect_message("--by is entropy, confidence or margin, not ''");
	/* A word's prefix or a longer word is not the word. */
	assert_int_equal(run(&s, "--split", "tests", NULL), CLI_EXIT_USAGE);
	assert_int_equal(run(&s, "--split", "tes", NULL), CLI_EXIT_USAGE);
}

static void test_i64_rejected(void **state)
{
	(void)state;
	struct settings s;
	assert_int_equal(run(&s, "--count", "0", NULL), CLI_EXIT_USAGE);
	expect_message("--count wants a whole number from 1 to 100, not '0'");
	assert_int_equal(run(&s, "--count", "101", NULL), CLI_EXIT_USAGE);
	expect_message("--count wants a whole number from 1 to 100, not '101'");
	assert_int_equal(run(&s, "-c", "5x", NULL), CLI_EXIT_USAGE);
	expect_message("--count wants a whole number from 1 to 100, not '5x'");
	assert_int_equal(run(&s, "--count", "2.5", NULL), CLI_EXIT_USAGE);
	assert_int_equal(run(&s, "--count", "", NULL), CLI_EXIT_USAGE);
	assert_int_equal(s.count, 0);
	assert_int_equal(bits(&s), 0);
	assert_int_equal(run(&s, "--big", "9223372036854775808", NULL), CLI_EXIT_USAGE);
	expect_message("--big wants a whole number from 0 to 9223372036854775807, not '9223372036854775808'");
	assert_int_equal(run(&s, "--big", "-1", NULL), CLI_EXIT_USAGE);
}

static void test_int_rejected(void **state)
{
	(void)state;
	struct settings s;
	assert_int_equal(run(&s, "--small", "4", NULL), CLI_EXIT_USAGE);
	expect_message("--small wants a whole number from -3 to 3, not '4'");
	assert_int_equal(run(&s, "--small", "4294967296", NULL), CLI_EXIT_USAGE);
	assert_int_equal(s.small, 0);
}

static void test_f64_rejected(void **state)
{
	(void)state;
	struct settings s;
	assert_int_equal(run(&s, "--fraction", "1.5", NULL), CLI_EXIT_USAGE);
	expect_message("--fraction wants a number from 0 to 1, not '1.5'");
	assert_int_equal(run(&s, "--fraction", "nan", NULL), CLI_EXIT_USAGE);
	expect_message("--fraction wants a number from 0 to 1, not 'nan'");
	assert_int_equal(run(&s, "--fraction", "inf", NULL), CLI_EXIT_USAGE);
	assert_int_equal(run(&s, "--fraction", "-0.1", NULL), CLI_EXIT_USAGE);
	assert_int_equal(run(&s, "--fraction", "0.5,", NULL), CLI_EXIT_USAGE);
	/* A rejected value reaches neither the bit nor the callback. */
	assert_int_equal(s.calls, 0);
}

static void test_unknown_and_missing(void **state)
{
	(void)state;
	struct settings s;
	assert_int_equal(run(&s, "--nope", NULL), CLI_EXIT_USAGE);
	expect_message("unknown option");
	assert_non_null(strstr(err_text, "'--nope'"));   /* getopt_long's line first */
	assert_int_equal(run(&s, "--nope=3", NULL), CLI_EXIT_USAGE);
	expect_message("unknown option");
	assert_int_equal(run(&s, "-x", NULL), CLI_EXIT_USAGE);
	expect_message("unknown option");
	assert_int_equal(run(&s, "--count", NULL), CLI_EXIT_USAGE);
	expect_message("missing argument");
	assert_int_equal(run(&s, "-c", NULL), CLI_EXIT_USAGE);
	expect_message("missing argument");
	assert_int_equal(run(&s, "--flag=1", NULL), CLI_EXIT_USAGE);
	expect_message("option takes no argument");
	/* Parsing stops at the first bad option. */
	assert_int_equal(run(&s, "--count", "0", "--by", "x", NULL), CLI_EXIT_USAGE);
	assert_null(strstr(err_text, "--by"));
}

static void test_callback(void **state)
{
	(void)state;
	struct settings s;
	assert_int_equal(run(&s, "--steps", "12", NULL), 0);
	assert_int_equal(s.calls & 0xff, 1);
	assert_int_equal(s.last_id, ID_SET);
	assert_string_equal(s.last_name, "steps");
	assert_string_equal(s.last_arg, "12");
	/* A stored kind with an id: stored (and checked) first, then the call. */
	assert_int_equal(run(&s, "--fraction", "0.5", NULL), 0);
	assert_int_equal(s.last_id, ID_FRAC);
	assert_true(s.seen_frac == 0.5);
	/* The callback's refusal is the result. */
	assert_int_equal(run(&s, "--steps", "1", "--fail", "z", "--count", "1", NULL), CLI_EXIT_USAGE);
	expect_message("--fail does not take 'z'");
	assert_int_equal(s.count, 0);
}

static void test_abbreviations(void **state)
{
	(void)state;
	struct settings s;
	/* Unique prefixes are the option. */
	assert_int_equal(run(&s, "--cou", "3", "--frac", "1", NULL), 0);
	assert_int_equal(s.count, 3);
	assert_int_equal(run(&s, "--step-", "4", NULL), 0);
	assert_string_equal(s.last_name, "step-size");
	/* Different options sharing a prefix are ambiguous, also two of
	 * one callback id. */
	assert_int_equal(run(&s, "--step", "4", NULL), CLI_EXIT_USAGE);
	expect_message("ambiguous option");
	assert_int_equal(s.calls & 0xff, 0);
	assert_int_equal(run(&s, "--s", "4", NULL), CLI_EXIT_USAGE);
	expect_message("ambiguous option");
	assert_non_null(strstr(err_text, "'--s' is ambiguous"));   /* getopt_long's line first */
	assert_int_equal(run(&s, "--f=1", NULL), CLI_EXIT_USAGE);
	expect_message("ambiguous option");
}

static void test_shared(void **state)
{
	(void)state;
	struct settings s;
	cli_verbosity = 1;
	assert_int_equal(run(&s, "-s", "42", "-j", "3", "--json", "-q", NULL), 0);
	assert_int_equal(s.com.seed, 42);
	assert_int_equal(s.com.seed_given, 1);
	assert_int_equal(s.com.threads, 3);
	assert_int_equal(s.com.json, 1);
	assert_int_equal(cli_verbosity, 0);
	assert_int_equal(bits(&s), G_SEED);   /* a shared entry's bit too */
	assert_int_equal(run(&s, "--verbose", NULL), 0);
	assert_int_equal(cli_verbosity, 2);
	cli_verbosity = 1;
	assert_int_equal(run(&s, "--seed", "-1", NULL), CLI_EXIT_USAGE);
	expect_message("--seed wants a whole number from 0 to 9223372036854775807, not '-1'");
	assert_int_equal(s.com.seed_given, 0);
	assert_int_equal(run(&s, "-j", "0", NULL), CLI_EXIT_USAGE);
	expect_message("--threads wants a whole number from 1 to 256, not '0'");
	/* -h without a help text only asks for it, and parsing goes on. */
	assert_int_equal(run(&s, "-h", "--count", "2", NULL), 0);
	assert_int_equal(s.com.want_help, 1);
	assert_int_equal(s.count, 2);
}

static void test_help_and_version_stop(void **state)
{
	(void)state;
	struct settings s = { 0 };
	char *argv[] = { "rmlops-test", "--help", "--count", "0", NULL };
	s.com.help = "";   /* prints nothing, but stops */
	cli_parser p = { table, &s, &s.com, callback, NULL };
	assert_int_equal(cli_parse_args(&p, 4, argv), CLI_OPT_STOP);
	char *argv2[] = { "rmlops-test", "-V", NULL };
	FILE *saved = stdout;
	char *text = NULL;
	size_t len;
	stdout = open_memstream(&text, &len);
	assert_int_equal(cli_parse_args(&p, 2, argv2), CLI_OPT_STOP);
	fclose(stdout);
	stdout = saved;
	assert_non_null(strstr(text, "rmlops-test (rmlops) "));
	free(text);
}

static void test_find_and_get(void **state)
{
	(void)state;
	struct settings s = { .count = 9, .frac = 0.75, .small = -2 };
	const cli_opt *e = cli_opt_find(table, G_COUNT);
	assert_non_null(e);
	assert_string_equal(e->name, "count");
	assert_true(cli_opt_get(e, &s) == 9.0);
	assert_true(cli_opt_get(cli_opt_find(table, G_FRAC), &s) == 0.75);
	assert_true(cli_opt_get(&table[6], &s) == -2.0);
	assert_null(cli_opt_find(table, 64));
}

/* The shared input/output entries: their names and letters, stored where
 * their offsets say. */
struct io_settings {
	const char *model, *adapters, *data, *output;
	cli_common com;
};

static void test_model_io(void **state)
{
	(void)state;
#define F(f) offsetof(struct io_settings, f)
	static const cli_opt io[] = {
		CLI_MODEL_IO(F(model), F(adapters), F(data), F(output)),
		CLI_OPT_DATA(F(output), .bit = 1),
		CLI_END,
	};
#undef F
	assert_string_equal(io[0].name, "model");
	assert_int_equal(io[0].letter, 'm');
	assert_string_equal(io[1].name, "adapter-file");
	assert_int_equal(io[1].letter, 'a');
	assert_string_equal(io[2].name, "data");
	assert_string_equal(io[3].name, "output");
	assert_int_equal(io[3].letter, 'o');
	assert_int_equal(io[4].bit, 1);
	assert_int_equal(io[4].kind, CLI_KIND_STR);
	struct io_settings s = { 0 };
	char *argv[] = { "rmlops-test", "-m", "m.rml", "-a", "a.rml", "-d", "d.rml", "-o", "o.rml", NULL };
	cli_parser p = { io, &s, &s.com, NULL, NULL };
	assert_int_equal(cli_parse_args(&p, 9, argv), 0);
	assert_string_equal(s.model, "m.rml");
	assert_string_equal(s.adapters, "a.rml");
	assert_string_equal(s.data, "d.rml");
	assert_string_equal(s.output, "o.rml");
	char *argv2[] = { "rmlops-test", "--model=x", "--adapter-file", "y", "--output", "z", NULL };
	memset(&s, 0, sizeof s);
	assert_int_equal(cli_parse_args(&p, 6, argv2), 0);
	assert_string_equal(s.model, "x");
	assert_string_equal(s.adapters, "y");
	assert_string_equal(s.output, "z");
	assert_null(s.data);
}

/* cli_safe escapes what could steer a terminal, as the reports do
 * (rml_out_safe), and hands back plain text itself. */
static void test_safe(void **state)
{
	(void)state;
	const char *plain = "cat dog.rml";
	assert_ptr_equal(cli_safe(plain), plain);
	assert_string_equal(cli_safe(NULL), "(null)");
	assert_string_equal(cli_safe("a\nb\tc\\d\x1b[2Je\x7f"), "a\\nb\\tc\\\\d\\x1b[2Je\\x7f");
	assert_string_equal(cli_safe("x\xc2\x9by"), "x\\u009by");
	assert_string_equal(cli_safe("caf\xc3\xa9\n"), "caf\xc3\xa9\\n");   /* other UTF-8 stays */
	/* Eight escaped copies live at once. */
	const char *kept = cli_safe("one\n");
	for (int i = 0; i < 7; i++)
		cli_safe("other\n");
	assert_string_equal(kept, "one\\n");
}

/* stderr into err_text, from catch_stderr until release_stderr. */
static FILE *saved_stderr;

static void catch_stderr(void)
{
	free(err_text);
	err_text = NULL;
	saved_stderr = stderr;
	stderr = open_memstream(&err_text, &err_len);
}

static void release_stderr(void)
{
	fclose(stderr);
	stderr = saved_stderr;
}

/* Operands left after the options (and after those a program took) are
 * refused, the first one named. */
static void test_no_operands(void **state)
{
	(void)state;
	struct settings s = { 0 };
	char *argv[] = { "rmlops-test", "run", "-c5", "extra", "more", NULL };
	cli_parser p = { table, &s, &s.com, callback, NULL };
	assert_int_equal(cli_parse_args(&p, 5, argv), 0);
	optind++;   /* the program takes "run" */
	catch_stderr();
	int st = cli_no_operands(5, argv);
	release_stderr();
	assert_int_equal(st, CLI_EXIT_USAGE);
	expect_message("unexpected argument 'extra'");
	optind = 5;
	catch_stderr();
	st = cli_no_operands(5, argv);
	release_stderr();
	assert_int_equal(st, 0);
	assert_string_equal(err_text, "");
}

/* A report: JSON as it is (ended by a newline), also when quiet; text as
 * a message, unless quiet. */
static void test_report(void **state)
{
	(void)state;
	const struct {
		const char *text;
		int json, verbosity;
		const char *want;
	} cases[] = {
		{ "{\"a\":1}", 1, 1, "{\"a\":1}\n" },
		{ "{\"a\":1}\n", 1, 0, "{\"a\":1}\n" },
		{ "", 1, 1, "" },
		{ "5 images", 0, 1, "rmlops-test: 5 images\n" },
		{ "5 images", 0, 2, "rmlops-test: 5 images\n" },
		{ "5 images", 0, 0, "" },
		{ "a\x1b[2Jb", 0, 1, "rmlops-test: a\\x1b[2Jb\n" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		cli_verbosity = cases[i].verbosity;
		catch_stderr();
		cli_report(cases[i].text, cases[i].json);
		release_stderr();
		assert_string_equal(err_text, cases[i].want);
	}
	cli_verbosity = 1;
}

/* The output checks in one call: cli_check_outputs' refusals pass through
 * with their status; a binary output on standard output is fine when
 * that is no terminal. */
static void test_check_all_outputs(void **state)
{
	(void)state;
	const char *opts[] = { "-o", "--log" };
	const char *ins[] = { "in.rml", "a.rml" };
	const char *outs1[] = { "a.rml", NULL };
	catch_stderr();
	int st = cli_check_all_outputs(outs1, opts, 2, 0, ins, 2);
	release_stderr();
	assert_int_equal(st, CLI_EXIT_USAGE);
	expect_message("-o a.rml is also an input; write to another file");
	const char *outs2[] = { "-", "-" };
	catch_stderr();
	st = cli_check_all_outputs(outs2, opts, 2, 0, ins, 2);
	release_stderr();
	assert_int_equal(st, CLI_EXIT_USAGE);
	expect_message("-o and --log both write to standard output");
	if (!isatty(STDOUT_FILENO)) {
		const char *outs3[] = { "-", NULL };
		catch_stderr();
		st = cli_check_all_outputs(outs3, opts, 2, 1, ins, 2);
		release_stderr();
		assert_int_equal(st, 0);
		assert_string_equal(err_text, "");
	}
}

/* One standard input for all the inputs: the first two that are "-"
 * named by their options; absent inputs and files are fine. */
static void test_check_stdin(void **state)
{
	(void)state;
	const char *opts[] = { "-m", "-a", "-d", "--test" };
	const char *ins1[] = { "-", NULL, "d.rml", "-" };
	catch_stderr();
	int st = cli_check_stdin(ins1, opts, 4);
	release_stderr();
	assert_int_equal(st, CLI_EXIT_USAGE);
	expect_message("-m and --test cannot both read standard input");
	const char *ins2[] = { "m.rml", "-", "-", "-" };
	catch_stderr();
	st = cli_check_stdin(ins2, opts, 4);
	release_stderr();
	assert_int_equal(st, CLI_EXIT_USAGE);
	expect_message("-a and -d cannot both read standard input");
	const char *ins3[] = { NULL, NULL, "-", "t.rml" };
	catch_stderr();
	st = cli_check_stdin(ins3, opts, 4);
	release_stderr();
	assert_int_equal(st, 0);
	assert_string_equal(err_text, "");
}

/* A file whose making failed is not saved, only freed, and the making's
 * status comes back. */
static void test_save_made_failed(void **state)
{
	(void)state;
	rml_file f;
	rml_file_init(&f);
	assert_int_equal(rml_set_str(&f, "kind", "model"), RML_OK);
	rml_error err = { 0 };
	const char *path = "no-such-directory/never-written.rml";
	assert_int_equal(cli_save_made(&f, RML_ERR_FORMAT, path, -1, &err), RML_ERR_FORMAT);
	assert_null(rml_get(&f, "kind"));
	assert_string_equal(err.msg, "");
	assert_int_not_equal(access(path, F_OK), 0);
}

/* The first SIGINT or SIGTERM only sets the flag (to its number), so the
 * run can stop at its next safe point; the program goes on. */
static void test_catch_stop(void **state)
{
	(void)state;
	static volatile sig_atomic_t flag;
	cli_catch_stop(&flag);
	assert_int_equal(flag, 0);
	assert_int_equal(raise(SIGTERM), 0);
	assert_int_equal(flag, SIGTERM);
	flag = 0;
	assert_int_equal(raise(SIGINT), 0);
	assert_int_equal(flag, SIGINT);
	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
}

int main(void)
{
	char *argv[] = { "rmlops-test", NULL };
	cli_init("rmlops-test", 1, argv);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kinds_store),
		cmocka_unit_test(test_short_letters_and_operands),
		cmocka_unit_test(test_word_rejected),
		cmocka_unit_test(test_i64_rejected),
		cmocka_unit_test(test_int_rejected),
		cmocka_unit_test(test_f64_rejected),
		cmocka_unit_test(test_unknown_and_missing),
		cmocka_unit_test(test_callback),
		cmocka_unit_test(test_abbreviations),
		cmocka_unit_test(test_shared),
		cmocka_unit_test(test_help_and_version_stop),
		cmocka_unit_test(test_find_and_get),
		cmocka_unit_test(test_model_io),
		cmocka_unit_test(test_safe),
		cmocka_unit_test(test_catch_stop),
		cmocka_unit_test(test_no_operands),
		cmocka_unit_test(test_report),
		cmocka_unit_test(test_check_all_outputs),
		cmocka_unit_test(test_check_stdin),
		cmocka_unit_test(test_save_made_failed),
	};
	int r = cmocka_run_group_tests(tests, NULL, NULL);
	free(err_text);
	return r;
}
