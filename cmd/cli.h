/*
 * cli.h — what every rmlops program does the same way: messages on stderr
 * as "rmlops-x: ...", loading inputs while remembering their content hash
 * for provenance, saving outputs atomically and stamped with lineage,
 * refusing to write binary data to a terminal, checking that stdout was
 * really written, parsing numbers strictly, and a progress bar that shows
 * only on a terminal; the options all programs share (-s, -j, --json,
 * -q, -v, -h, -V), the options of each program and subcommands, each
 * described once as a table (cli_parse_args). Linked into each
 * program, not into librmlops.
 */
#ifndef RML_CLI_H
#define RML_CLI_H

#include <getopt.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "dataset.h"
#include "format.h"
#include "model.h"
#include "rml.h"

/* Exit statuses shared by all programs. */
enum { CLI_EXIT_OK = 0, CLI_EXIT_FAIL = 1, CLI_EXIT_USAGE = 2 };

extern const char *cli_prog;   /* "rmlops-data" */
extern int cli_verbosity;      /* 0 quiet, 1 normal, 2 verbose */

void cli_init(const char *prog, int argc, char **argv);

/* "rmlops-x: message\n" on stderr. */
void cli_msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Only when verbose. */
void cli_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Print err's message (or the code's generic text) and return CLI_EXIT_FAIL. */
int cli_fail(const rml_error *err);
/* Print "rmlops-x: message" and "Try 'rmlops-x --help'." and return 2. */
int cli_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Print the version line and return 0. */
int cli_version(void);

/* What the shared options (rmlops(7)) set. A program fills help (its
 * --help text) and the defaults before parsing; the rest is the result. */
typedef struct {
	const char *help;     /* printed by -h at once; NULL: -h only sets want_help */
	int64_t seed;         /* -s N, 0..INT64_MAX; left as initialised when not given */
	int seed_given;
	int64_t threads;      /* -j N, 1..threads_max; 0 (not given) = all usable cores */
	int64_t threads_max;  /* 0 means 256 */
	int json;             /* --json */
	int want_help;        /* -h when help is NULL (help that depends on the rest) */
} cli_common;

/*
 * Options, each described once. A program lists its options in one
 * table, ended by CLI_END; each entry names the long option (without
 * dashes) and its short letter (0: none), says what kind of value it
 * takes and where that value goes: a field of the program's settings
 * struct, at an offset (offsetof). cli_parse_args builds the getopt_long
 * tables from it, parses argv, checks every value, and hands what is
 * unusual to the program's callback:
 *
 *     #define F(f) offsetof(struct cmdline, f)
 *     static const cli_opt opts[] = {
 *         CLI_STR("output", 'o', F(output)),
 *         CLI_I64("count", 0, F(count), 1, CLI_I64_MAX),
 *         CLI_F64("fraction", 0, F(fraction), 0, 1),
 *         CLI_WORD("by", 0, F(by), "entropy|confidence|margin"),
 *         CLI_F64("threshold", 0, F(threshold), 0, 1e6, .bit = G_THRESHOLD),
 *         CLI_CALL("rates", 0, O_RATES),
 *         CLI_SHARED_ALL,
 *         CLI_END,
 *     };
 *     cli_parser p = { opts, &c, &c.com, call, &given };
 *     int st = cli_parse_args(&p, argc, argv);   (optind: the first operand)
 *
 * Kinds (each entry's macro) and the messages of a rejected value (all
 * usage errors, exit 2):
 *   CLI_STR    const char *: the argument as given
 *   CLI_FLAG   int: set to 1; the option takes no argument
 *   CLI_WORD   const char *: one of words ("a|b|c"), else
 *              "--by is entropy, confidence or margin, not 'x'"
 *   CLI_I64    int64_t within [lo, hi] (hi CLI_I64_MAX: INT64_MAX), else
 *              "--count wants a whole number from 1 to 9223372036854775807, not 'x'"
 *   CLI_INT    int within [lo, hi], the same message
 *   CLI_F64    double within [lo, hi], finite, else
 *              "--fraction wants a number from 0 to 1, not 'x'"
 *   CLI_CALL   takes an argument and stores nothing: the callback does it,
 *              switching on the entry's id
 *   CLI_SHARED_* one of the shared options; the table takes them with the
 *              CLI_SHARED_* entries, each where the program wants it
 *              (CLI_SHARED_ALL: all seven)
 * A seen option ORs its bit (0: none) into *given (a shared entry may
 * carry one too: CLI_SHARED("seed", 's', 's', .bit = B)). An entry (not
 * a shared one) with a nonzero id (always, for CLI_CALL) is then handed
 * to the callback, call(base, entry, argument), which may check more,
 * set more, or do all the work, switching on entry->id; it returns 0,
 * or CLI_EXIT_USAGE after a usage message (cli_usage_error). A long
 * option may be shortened to a prefix no other entry shares. An option
 * not in the table, a prefix of several, one missing its argument or a
 * flag given one is a usage error: "unknown option", "ambiguous option",
 * "missing argument" or "option takes no argument", after getopt_long's
 * own message.
 * cli_opt_find and cli_opt_get read an entry back (a resumed run's
 * warnings about settings that differ).
 * Bounds are doubles: whole-number bounds stay below 2^53 (or are
 * CLI_I64_MAX).
 */
typedef enum {
	CLI_KIND_STR = 1, CLI_KIND_FLAG, CLI_KIND_WORD, CLI_KIND_I64, CLI_KIND_INT, CLI_KIND_F64,
	CLI_KIND_CALL, CLI_KIND_SHARED,
} cli_kind;

#define CLI_I64_MAX 0x1p63   /* as hi of CLI_I64: INT64_MAX */

typedef struct cli_opt {
	const char *name;   /* the long option, "by"; NULL ends the table */
	int letter;         /* its short option, 'p', or 0 */
	cli_kind kind;
	size_t offset;      /* of the field in the program's struct; unused by CALL and SHARED */
	double lo, hi;      /* bounds of CLI_I64, CLI_INT, CLI_F64 */
	const char *words;  /* CLI_WORD: the choices, '|' between them */
	unsigned bit;       /* ORed into *given when the option is seen (0: none) */
	int id;             /* nonzero: then the callback (CLI_CALL: always) */
} cli_opt;

/* The entries, one macro per kind (name, letter, then where the value
 * goes); more fields may follow as designated initializers, e.g.
 * CLI_F64("ber", 0, F(spec.rate), 0, 1, .bit = G_FAULT, .id = O_BER). */
#define CLI_STR(n_, l_, off_, ...) { .name = n_, .letter = l_, .kind = CLI_KIND_STR, .offset = off_, __VA_ARGS__ }
#define CLI_FLAG(n_, l_, off_, ...) { .name = n_, .letter = l_, .kind = CLI_KIND_FLAG, .offset = off_, __VA_ARGS__ }
#define CLI_WORD(n_, l_, off_, words_, ...) \
	{ .name = n_, .letter = l_, .kind = CLI_KIND_WORD, .offset = off_, .words = words_, __VA_ARGS__ }
#define CLI_I64(n_, l_, off_, lo_, hi_, ...) \
	{ .name = n_, .letter = l_, .kind = CLI_KIND_I64, .offset = off_, .lo = lo_, .hi = hi_, __VA_ARGS__ }
#define CLI_INT(n_, l_, off_, lo_, hi_, ...) \
	{ .name = n_, .letter = l_, .kind = CLI_KIND_INT, .offset = off_, .lo = lo_, .hi = hi_, __VA_ARGS__ }
#define CLI_F64(n_, l_, off_, lo_, hi_, ...) \
	{ .name = n_, .letter = l_, .kind = CLI_KIND_F64, .offset = off_, .lo = lo_, .hi = hi_, __VA_ARGS__ }
#define CLI_CALL(n_, l_, id_, ...) { .name = n_, .letter = l_, .kind = CLI_KIND_CALL, .id = id_, __VA_ARGS__ }
#define CLI_END { .name = NULL }

/* The shared options as table entries: -s, -j, --json, -q, -v, -h, -V
 * (the id of a shared entry says which; no callback). */
enum { CLI_O_JSON = 0x7f00 };  /* the id of --json, clear of the letters */
#define CLI_SHARED(n_, l_, id_, ...) { .name = n_, .letter = l_, .kind = CLI_KIND_SHARED, .id = id_, __VA_ARGS__ }
#define CLI_SHARED_SEED CLI_SHARED("seed", 's', 's')
#define CLI_SHARED_THREADS CLI_SHARED("threads", 'j', 'j')
#define CLI_SHARED_JSON CLI_SHARED("json", 0, CLI_O_JSON)
#define CLI_SHARED_QUIET CLI_SHARED("quiet", 'q', 'q')
#define CLI_SHARED_VERBOSE CLI_SHARED("verbose", 'v', 'v')
#define CLI_SHARED_HELP CLI_SHARED("help", 'h', 'h')
#define CLI_SHARED_VERSION CLI_SHARED("version", 'V', 'V')
#define CLI_SHARED_BASE CLI_SHARED_QUIET, CLI_SHARED_VERBOSE, CLI_SHARED_HELP, CLI_SHARED_VERSION
#define CLI_SHARED_ALL CLI_SHARED_SEED, CLI_SHARED_THREADS, CLI_SHARED_JSON, CLI_SHARED_BASE

/* The inputs and output most programs take, with their usual letters:
 * -m/--model, -a/--adapter-file, -d/--data, -o/--output, each a CLI_STR
 * into the program's field at that offset (more fields may follow, as
 * for any entry: CLI_OPT_DATA(F(data), .bit = G_DATA)). CLI_MODEL_IO
 * is the four in that order, for a program that takes them all:
 *     CLI_MODEL_IO(F(model), F(adapters), F(data), F(output)),
 */
#define CLI_OPT_MODEL(off_, ...) CLI_STR("model", 'm', off_, __VA_ARGS__)
#define CLI_OPT_ADAPTERS(off_, ...) CLI_STR("adapter-file", 'a', off_, __VA_ARGS__)
#define CLI_OPT_DATA(off_, ...) CLI_STR("data", 'd', off_, __VA_ARGS__)
#define CLI_OPT_OUTPUT(off_, ...) CLI_STR("output", 'o', off_, __VA_ARGS__)
#define CLI_MODEL_IO(model_, adapters_, data_, output_) \
	CLI_OPT_MODEL(model_), CLI_OPT_ADAPTERS(adapters_), CLI_OPT_DATA(data_), CLI_OPT_OUTPUT(output_)

/* A program's options: the table, the struct its offsets are in, what
 * the shared options set, the callback (may be NULL when no entry has an
 * id) and where the bits of the options seen go (may be NULL). */
typedef struct {
	const cli_opt *opts;
	void *base;
	cli_common *com;
	int (*call)(void *base, const cli_opt *e, const char *arg);
	unsigned *given;
} cli_parser;

/* Parse argv's options by p's table (getopt_long, which permutes argv;
 * optind starts afresh). Returns 0 when all are parsed, with optind at
 * the first operand; CLI_OPT_STOP after printing the help (-h with
 * com->help set) or the version, which the program then ends with status
 * 0; or CLI_EXIT_USAGE after the usage message of the first bad option
 * (or the callback's status). -q and -v set cli_verbosity. So a program
 * reads
 *     int st = cli_parse_args(&p, argc, argv);
 *     if (st) return st < 0 ? cli_finish(CLI_EXIT_OK) : st;
 * At most CLI_MAX_OPTS entries. */
enum { CLI_MAX_OPTS = 128 };
int cli_parse_args(const cli_parser *p, int argc, char **argv);

/* The entry of t with this bit, or NULL. */
const cli_opt *cli_opt_find(const cli_opt *t, unsigned bit);
/* The value of a number entry (CLI_I64, CLI_INT, CLI_F64) in base, as a
 * double. */
double cli_opt_get(const cli_opt *e, const void *base);

/* After cli_parse_args (and after the operands a program takes, optind
 * moved past them): a usage error "unexpected argument 'X'" for
 * argv[optind] when one is left, returning CLI_EXIT_USAGE; else 0. */
int cli_no_operands(int argc, char **argv);

/* cli_parse_args' "help or version printed" (a program ends with 0). */
enum { CLI_OPT_STOP = -1 };

/* Catch SIGINT and SIGTERM for a long run that can stop cleanly: the
 * first signal sets *flag to its number and returns, so the run stops
 * at its next safe point (and exits 128 + *flag); a second one while
 * *flag is set (a validation or checkpoint still running) ends the
 * program at once by the signal's default action, which is safe because
 * outputs are renamed into place whole. One flag per program. */
void cli_catch_stop(volatile sig_atomic_t *flag);

/* Put the -j thread count in force (all usable cores when not given):
 * the one place a program sets it, after its arguments are checked. */
void cli_common_threads(const cli_common *c);

/* A program with subcommands ("rmlops-convert import ...") describes them
 * in a table ended by a { NULL } entry: the name, the arguments it takes
 * (for the help; may be ""), the function that runs it with the
 * program's context, and its help (one line; a longer one breaks with
 * newlines). The function prints its own messages and returns the
 * program's exit status (CLI_EXIT_OK, _FAIL or _USAGE). */
typedef struct {
	const char *name, *args;
	int (*run)(void *ctx);
	const char *help;
} cli_subcommand;

/* The entry named name, or NULL. */
const cli_subcommand *cli_subcommand_find(const cli_subcommand *t, const char *name);
/* The table as help lines "  NAME ARGS  HELP" on fp, NAME ARGS padded to
 * width (a help containing newlines continues in the same column). */
void cli_subcommand_list(FILE *fp, const cli_subcommand *t, int width);
/* Find name in t: a usage message "unknown command 'NAME'" (NULL name: "no
 * command given") and CLI_EXIT_USAGE when it is not there, else *out is
 * the entry and the result 0. */
int cli_subcommand_pick(const cli_subcommand *t, const char *name, const cli_subcommand **out);

/* Strict number parsing for an option value: the whole string must be a
 * whole number within [lo, hi]; otherwise a usage message naming the
 * option, and -1. */
int cli_parse_i64(const char *opt, const char *s, int64_t lo, int64_t hi, int64_t *out);

/* Load path ("-" = stdin) and remember (role, sha256) for the provenance of
 * whatever this program writes next. Returns RML_OK or fills err. */
rml_status cli_load(rml_file *f, const char *path, const char *role, rml_error *err);
/* The SHA-256 (hex) of the last file cli_load read, "" before any. */
const char *cli_last_hash(void);

/* As cli_load, then refuse a file of another kind, naming path. */
rml_status cli_load_kind(rml_file *f, const char *path, const char *role, const char *kind,
			 rml_error *err);
/* Load a model (kind checked, calibrator checked) and, when adapters is not
 * NULL, an adapters file onto it: refused unless its adapters.base_hash is
 * this model's base (rmlops-format(5)). *m is NULL on failure. */
rml_status cli_load_model(rml_model **m, const char *path, const char *adapters, rml_error *err);
/* Load a dataset, kind checked and path named in messages. */
rml_status cli_load_dataset(rml_dataset *d, const char *path, const char *role, rml_error *err);

/* As cli_load_dataset, but the kind is the reader's to check and each of
 * the reader's messages names the file first ("FILE: ...", standard
 * input for "-"), as rmlops-data has always said it. */
rml_status cli_load_dataset_named(rml_dataset *d, const char *path, const char *role, rml_error *err);
/* As cli_load_dataset, then the dataset fitted to model m, named path in
 * messages (rml_dataset_fit_model: the model's image shape, its classes,
 * at least one label when need_labels). */
rml_status cli_load_dataset_fit(rml_dataset *d, const char *path, const char *role, const rml_model *m,
				int need_labels, rml_error *err);

/* Check the outputs outs[0..n_out) (named by their options out_opts, for
 * messages; NULL entries skipped; "-" is standard output, so a program
 * that prints a text report passes "-" for it) before any work starts:
 * none may be one of the inputs ins[0..n_in) or another output, and each
 * file's directory must exist and be writable. Prints the message and
 * returns 0 when all is well, 2 (usage) or 1 (cannot write) otherwise. */
int cli_check_outputs(const char *const *outs, const char *const *out_opts, int n_out,
		      const char *const *ins, int n_in);

/* Before any input is read: at most one of the inputs ins[0..n_in)
 * (named by their options in_opts, for the message; NULL entries
 * skipped) may be "-", since standard input can be read once. Returns 0,
 * or CLI_EXIT_USAGE after the usage message "-m and -d cannot both read
 * standard input" (the first two that are). */
int cli_check_stdin(const char *const *ins, const char *const *in_opts, int n_in);

/* All the checks of a program's outputs before any work starts: first
 * each output whose bit (1u << i) is set in binary, a binary file that
 * must not go to a terminal (cli_check_output), then cli_check_outputs
 * of them all. Returns 0, or the exit status after the message: 2
 * (usage) or 1 (cannot write). */
int cli_check_all_outputs(const char *const *outs, const char *const *out_opts, int n_out,
			  unsigned binary, const char *const *ins, int n_in);

/* s with control characters (C0, DEL, C1 in UTF-8) and backslashes
 * escaped as \n, \xHH, \u009b, \\: for names and strings from files
 * that reach a terminal. Returns s itself when nothing needs escaping;
 * otherwise one of a few rotating buffers, valid until eight more calls
 * or cli_finish. */
const char *cli_safe(const char *s);

/* Refuse a binary output to a terminal: returns 0 when path is fine. */
int cli_check_output(const char *path);

/* Stamp out with provenance (program, version, command line, seed when
 * >= 0, every input loaded through cli_load and their lineage) and save
 * it atomically to path ("-" = stdout). */
rml_status cli_save(rml_file *out, const char *path, int64_t seed, rml_error *err);

/* The output of a program, made and saved in one step: made is the
 * status of filling f (rml_model_to_file(m, &f, &err), ...). When it is
 * RML_OK, f is saved as cli_save does; either way f is freed (left empty)
 * and the first failing status returned (err as its step left it). */
rml_status cli_save_made(rml_file *f, rml_status made, const char *path, int64_t seed, rml_error *err);
/* Save model m to path: cli_save_made of rml_model_to_file. */
rml_status cli_save_model(const rml_model *m, const char *path, int64_t seed, rml_error *err);

/* A report on standard error: with json, text as it is (a JSON document;
 * a newline added when it lacks one); otherwise, unless quiet, as one
 * message "rmlops-x: text". */
void cli_report(const char *text, int json);

/* Close stdout and report a write error (full disk, broken pipe): returns
 * status unchanged when all is well, CLI_EXIT_FAIL otherwise. Call last. */
int cli_finish(int status);

/* Progress on stderr, only when stderr is a terminal and not quiet;
 * cheap to call often (redraws at most ten times a second). done == total
 * ends the line. */
void cli_progress(const char *label, int64_t done, int64_t total);

#endif
