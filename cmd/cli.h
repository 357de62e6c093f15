/*
 * cli.h — what every rmlops program does the same way: messages on stderr
 * as "rmlops-x: ...", loading inputs while remembering their content hash
 * for provenance, saving outputs atomically and stamped with lineage,
 * refusing to write binary data to a terminal, checking that stdout was
 * really written, parsing numbers strictly, and a progress bar that shows
 * only on a terminal. Linked into each program, not into librmlops.
 */
#ifndef RML_CLI_H
#define RML_CLI_H

#include <stdint.h>

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

/* Strict number parsing for option values: the whole string must be a
 * number within [lo, hi]; otherwise a usage message naming the option. */
int cli_parse_i64(const char *opt, const char *s, int64_t lo, int64_t hi, int64_t *out);
int cli_parse_f64(const char *opt, const char *s, double lo, double hi, double *out);

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

/* Check the outputs outs[0..n_out) (named by their options out_opts, for
 * messages; NULL entries skipped; "-" is standard output, so a program
 * that prints a text report passes "-" for it) before any work starts:
 * none may be one of the inputs ins[0..n_in) or another output, and each
 * file's directory must exist and be writable. Prints the message and
 * returns 0 when all is well, 2 (usage) or 1 (cannot write) otherwise. */
int cli_check_outputs(const char *const *outs, const char *const *out_opts, int n_out,
		      const char *const *ins, int n_in);

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

/* Close stdout and report a write error (full disk, broken pipe): returns
 * status unchanged when all is well, CLI_EXIT_FAIL otherwise. Call last. */
int cli_finish(int status);

/* JSON on standard output: a string with quotes, backslashes and control
 * characters escaped; a number with six decimals, or null for NaN and
 * infinity (JSON has neither). */
void cli_json_str(const char *s);
void cli_json_num(double v);

/* Progress on stderr, only when stderr is a terminal and not quiet;
 * cheap to call often (redraws at most ten times a second). done == total
 * ends the line. */
void cli_progress(const char *label, int64_t done, int64_t total);

#endif
