/*
 * eval_compare.h — `rmlops-eval --compare`: the A/B comparison of two
 * models (or two predictions files) on the same data, its report and the
 * promotion decision. Kept apart from rmlops-eval.c, which only parses
 * the options (rml_eval_args, the rules into struct eval_compare) and
 * calls eval_compare_run; the computing is lib/compare.c.
 */
#ifndef RML_EVAL_COMPARE_H
#define RML_EVAL_COMPARE_H

#include <stdint.h>

#include "compare.h"
#include "eval_args.h"
#include "inject.h"
#include "metrics.h"

/* The promotion decision's exit status: 0 promote, 3 keep (1 and 2 stay
 * failure and usage, so a CI job can tell "keep" from "broken"). */
enum { EVAL_EXIT_KEEP = 3 };
#define EVAL_MAX_RULES 8

struct eval_compare {
	const rml_eval_args *a;   /* rmlops-eval's options: B is a->against */
	rml_promote_rule rules[EVAL_MAX_RULES];     /* --promote-if: all must hold to promote */
	const char *rule_text[EVAL_MAX_RULES];
	int n_rules;
	int json;
	int64_t seed;
};

/* Add one --promote-if rule: 0, or a usage message and 2. */
int eval_compare_rule(struct eval_compare *c, const char *text);

/* Run the comparison and print the report: returns the exit status (0
 * promote or no rule given, EVAL_EXIT_KEEP, or CLI_EXIT_FAIL after
 * printing the error). */
int eval_compare_run(const struct eval_compare *c);

#endif
