/*
 * attack_report.h — what rmlops-attack says, as text a caller writes
 * where it likes: the report of each attack as a table row or a JSON
 * object, the robustness and query curves as a table or JSON, and the
 * check of a stored adversarial set; with the two steps between a
 * command line and the attacks of attack_model.h: settings given as
 * key/value pairs applied over an attack, and comma lists of budgets;
 * and what a command line of rmlops-attack asks, judged before any file
 * is read, and the list of attacks it runs.
 * The text is built in an rml_outbuf, so a report can be tested and
 * goes to standard output or error as the program decides.
 *
 * Not here: running the attacks, the pictures and the adversarial file
 * (attack_model.h), option parsing and file names (cmd/rmlops-attack.c).
 */
#ifndef RML_ATTACK_REPORT_H
#define RML_ATTACK_REPORT_H

#include <stdint.h>

#include "attack_model.h"
#include "outbuf.h"
#include "rml.h"

/* Apply n settings keys[i] = vals[i] (rml_attack_spec_set) over a in
 * three passes: the kind ("attack") first, so that the rest are judged
 * against it, then "preset", so that the rest refine it, then the others
 * in order; with skip_budgets, "eps" and "pixels" are left out (a curve's
 * budgets are a list). On a bad value RML_ERR_ARG with the message
 * "--key-name: why" (underscores of the key as dashes, as the option is
 * spelt). */
rml_status rml_attack_spec_apply(rml_attack_spec *a, const char *const *keys,
				 const char *const *vals, int n, int skip_budgets, rml_error *err);

/* A comma list of at most max numbers, each finite, within [lo, hi] and,
 * when whole, a whole number, into v [max]; *n the count (0 for ""). 0,
 * or -1 when an item is not such a number or there are more than max (a
 * caller words the message after its option). */
int rml_attack_list_parse(const char *s, double lo, double hi, int whole, double *v, int max,
			  int *n);

/* At most this many budgets in a list, and settings on a command line. */
enum { RML_ATTACK_MAX_BUDGETS = 64, RML_ATTACK_MAX_SETS = 64 };

/* Attack settings from a command line, in order, for
 * rml_attack_spec_apply: keys as an attack list spells them ("step_size"
 * for --step-size), values as given (not copied: they must outlive the
 * struct, as argv does). Zero it to start. */
typedef struct {
	const char *key[RML_ATTACK_MAX_SETS], *val[RML_ATTACK_MAX_SETS];
	char key_buf[RML_ATTACK_MAX_SETS][32];
	char queries_max[32], seed[32];   /* values made by rml_attack_args_check */
	int n;
} rml_attack_sets;

/* Add key (an option's name; '-' becomes '_') = val to s. RML_ERR_LIMIT
 * "too many attack settings" when s is full. */
rml_status rml_attack_sets_add(rml_attack_sets *s, const char *key, const char *val, rml_error *err);

/* What a command line of rmlops-attack asks, as far as it matters before
 * any file is read. */
typedef struct {
	const char *command;   /* "create", "run", "curve" or "verify" */
	const char *model, *data, *config, *clean, *output, *plot;
	const char *name;      /* --name: the attack chosen from --config, or the name shown */
	const char *eps_list, *pixels_list, *queries_list;   /* --eps, --pixels, --queries */
	int have_attack;       /* --attack given */
	int sheet;             /* --sheet, --sheet-count or --amplify given */
	int seed_given;
	int64_t seed;
} rml_attack_args;

/* Judge a's options together: the inputs each command needs (not both
 * from standard input), the options that go only with one command, a
 * curve's budgets and its query axis (--queries LIST with one --eps:
 * the list is checked, and square then runs with its largest count).
 * The budgets (not a curve's), the queries and a given seed join s as
 * settings, and s is tried on a default attack (checked through when
 * there is no --config). RML_OK, or RML_ERR_ARG with the message of the
 * first thing wrong, a usage error (rmlops-attack(1) words it). */
rml_status rml_attack_args_check(const rml_attack_args *a, rml_attack_sets *s, rml_error *err);

/* The attacks a command line runs: the --config list config (only the
 * attack named name, when not NULL) or, with config NULL, one default
 * attack named name (when not NULL), then the settings s over each
 * (without the budgets when skip_budgets: a curve's are a list), each
 * checked for n_classes classes; with only_one (create), a list of more
 * than one is refused. *list (malloc'd, the caller frees it, also on
 * failure) and *n are set as far as it got. On failure *usage says
 * whose fault it is: 0, the file's (what it holds is checked before the
 * settings are applied); 1, the command line's (a value that is wrong
 * only after the settings). */
rml_status rml_attack_list_make(const char *config, const char *name, const rml_attack_sets *s,
				int skip_budgets, int n_classes, int only_one, rml_attack_spec **list,
				int *n, int *usage, rml_error *err);

/* The table of per-attack reports: the header line, and one row. */
void rml_attack_report_header(rml_outbuf *o);
void rml_attack_report_row(rml_outbuf *o, const rml_attack_spec *a, const rml_attack_report *r);
/* One report as a JSON object (no newline): the attack's settings that
 * matter, every figure of r (null for NaN and infinity), and throughput. */
void rml_attack_report_json(rml_outbuf *o, const rml_attack_spec *a, const rml_attack_report *r);

/* Robustness curves of n attacks over nb budgets (eps, or pixels when
 * l0): robust accuracy per budget and attack as a table (budgets down,
 * attacks across) or one JSON line with every point's n, acc1,
 * success_rate and queries_mean. reps is [n][nb]; n_images says how many
 * images the table was measured on. */
void rml_attack_curve_text(rml_outbuf *o, int json, int l0, const rml_attack_spec *list, int n,
			   const double *bud, int nb, const rml_attack_report *reps,
			   int64_t n_images);
/* Query curves of n black-box attacks at one eps (list[0]'s): success
 * rate per query count q [nq] and attack (rates [n][nq]) as a table, or
 * one JSON line also giving each attack's acc1 and median queries from
 * reps [n]. */
void rml_attack_query_text(rml_outbuf *o, int json, const rml_attack_spec *list, int n,
			   const double *q, int nq, const double *rates,
			   const rml_attack_report *reps, int64_t n_images);

/* The check of a stored adversarial set: "key value" lines, or one JSON
 * line. */
void rml_attack_verify_text(rml_outbuf *o, int json, const rml_attack_verify_report *v);

#endif
