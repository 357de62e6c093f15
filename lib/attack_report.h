/*
 * attack_report.h — what rmlops-attack says, as text a caller writes
 * where it likes: the report of each attack as a table row or a JSON
 * object, the robustness and query curves as a table or JSON, and the
 * check of a stored adversarial set; with the two steps between a
 * command line and the attacks of attack_model.h: settings given as
 * key/value pairs applied over an attack, and comma lists of budgets.
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
