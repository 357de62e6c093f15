/*
 * compare.h — A/B comparison of two sets of predictions on the same
 * labelled examples, for deciding whether a candidate model (B) replaces
 * the running one (A): the difference B - A of ACC1, ACC2 (each with its
 * own rejections) and ECE, with a paired percentile-bootstrap 95%
 * confidence interval and, for the accuracies, McNemar's exact test on
 * the discordant pairs; and the promotion rule a CI job gates on.
 *
 * Paired means both sides are measured on the same examples and every
 * bootstrap resample draws the same examples for A and B, so what the
 * two models share (easy and hard images) cancels out of the difference.
 *
 * Not here: running models, fault injection (the caller repeats the
 * comparison under paired faults and summarises the differences with
 * rml_summarize), files, printing.
 */
#ifndef RML_COMPARE_H
#define RML_COMPARE_H

#include <stdint.h>

#include "metrics.h"
#include "rml.h"

typedef enum { RML_CMP_ACC1 = 0, RML_CMP_ACC2, RML_CMP_ECE, RML_CMP_N } rml_cmp_metric;

/* "acc1", "acc2", "ece". */
const char *rml_cmp_metric_name(rml_cmp_metric m);

/* One metric of the comparison. a and b are the two sides' values on all
 * compared examples, diff = b - a, [lo, hi] the 95% percentile-bootstrap
 * interval of the difference (lo = hi = diff without resamples). For the
 * accuracies n10 counts the pairs A got right and B wrong, n01 the
 * reverse, among n_pairs examples (ACC1: every labelled one; ACC2: those
 * both sides accept), and p is McNemar's exact two-sided p-value; for
 * ECE the counts are 0 and p is NaN. */
typedef struct {
	double a, b, diff, lo, hi, p;
	int64_t n10, n01, n_pairs;
} rml_cmp_stat;

typedef struct {
	int64_t n;          /* labelled examples compared */
	int64_t n_boot;     /* bootstrap resamples (0: none) */
	int n_bins;         /* equal-width ECE bins */
	rml_cmp_stat m[RML_CMP_N];
} rml_compare_report;

/* RML_OK when a and b can be compared: the same number of examples and
 * classes, the same label on every example, and at least one labelled
 * example; otherwise RML_ERR_MISMATCH with a message saying which and
 * where (the first differing label's index). */
rml_status rml_compare_check(const rml_predictions *a, const rml_predictions *b, rml_error *err);

/* Compare b against a (after rml_compare_check, which it repeats) on the
 * labelled examples, with each side's own `rejected` flags for ACC2 and
 * n_bins equal-width bins for ECE (the same values rml_eval_compute
 * gives with RML_BINS_WIDTH). Resample r of the bootstrap draws n
 * examples with replacement from stream r of seed (rml_rng_seed_stream),
 * so the interval depends only on the seed, never on the thread count;
 * the interval's ends are the 2.5% and 97.5% quantiles of the n_boot
 * resampled differences, interpolated linearly between order statistics
 * (numpy's default "linear" quantile). A resample in which a side
 * accepts nothing counts its ACC2 as 0, as rml_eval_compute does. */
rml_status rml_compare(const rml_predictions *a, const rml_predictions *b, int n_bins,
		       int64_t n_boot, uint64_t seed, rml_compare_report *r, rml_error *err);

/* McNemar's exact test: the two-sided binomial p-value of n10 against
 * n01 discordant pairs under p = 1/2, min(1, 2 P(X <= min(n10, n01))) with
 * X ~ Binomial(n10 + n01, 1/2); 1 when there are no discordant pairs.
 * Summed in log space, so it neither overflows nor underflows to a wrong
 * answer for millions of pairs (a p-value below about 1e-308 is 0). */
double rml_mcnemar_exact(int64_t n10, int64_t n01);

/* The q-quantile (0 <= q <= 1) of x[0..n), sorted ascending, interpolated
 * linearly between order statistics at position q (n - 1). */
double rml_quantile_sorted(const double *x, int64_t n, double q);

/* ---- the promotion rule -------------------------------------------------
 * Grammar:  METRIC OP THRESHOLD   (spaces optional)
 *   METRIC     acc1 | acc2 | ece          (the difference B - A)
 *   OP         > | >= | < | <=
 *   THRESHOLD  a signed decimal number, e.g. +0.01, -0.005, 0
 * The rule is judged on the conservative end of the 95% interval: for
 * > and >= its lower bound must pass, for < and <= its upper bound, so
 * 'acc1 > +0.01' promotes only when B is better by more than one point
 * even at the pessimistic end of the interval, and 'ece < 0' only when B
 * is better calibrated throughout it. */
typedef struct {
	rml_cmp_metric metric;
	int greater;        /* 1 for > and >=, 0 for < and <= */
	int or_equal;       /* 1 for >= and <= */
	double threshold;
} rml_promote_rule;

/* Parse a rule; RML_ERR_ARG with a message on anything else. */
rml_status rml_promote_rule_parse(const char *s, rml_promote_rule *rule, rml_error *err);

/* 1 when the rule holds on the interval [lo, hi] (see above), 0 when it
 * does not or an end is NaN. */
int rml_promote_rule_holds(const rml_promote_rule *rule, double lo, double hi);

/* The comparison repeated n_rep times under paired faults (repetition r
 * draws the same faults for A and B), summarised per metric: sum[k][0]
 * over A's values, [1] over B's, [2] over the differences
 * (rml_summarize: mean, sd, Student t interval of the mean), and the
 * interval of the difference the rules are judged on in lo[k], hi[k]
 * (the point value when n_rep is 1, which has no interval). */
void rml_compare_summarize_reps(const rml_compare_report *reps, int64_t n_rep,
				rml_summary sum[RML_CMP_N][3], double lo[RML_CMP_N],
				double hi[RML_CMP_N]);

/* Judge n rules on the intervals [lo[m], hi[m]] of the differences:
 * holds[i] whether rule i holds, bound[i] the end of the interval it was
 * judged on (lower for > and >=, upper for < and <=). Returns 1 when all
 * hold (also when n is 0), else 0. */
int rml_promote_rules_judge(const rml_promote_rule *rules, int n, const double lo[RML_CMP_N],
			    const double hi[RML_CMP_N], int *holds, double *bound);

#endif
