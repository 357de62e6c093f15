/*
 * test_compare.c — the A/B comparison on cases whose answer is known:
 * identical sides (difference 0, p = 1), a side strictly better on a known
 * set of images (whose bootstrap interval tends to binomial quantiles,
 * testdata/ref/compare.txt), tiny samples (n = 1, 2), ACC2 with each
 * side's own rejections, ECE equal to rml_eval_compute's, refused
 * mismatches, McNemar p-values against exact integer arithmetic
 * (scripts/ref_compare.py), the same interval at one and two threads,
 * and the promotion rule's grammar.
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

#include "compare.h"

#define NEAR(a, b, tol) assert_true(fabs((double)(a) - (double)(b)) <= (tol))
#define REF_PATH "testdata/ref/compare.txt"

/* A predictions set of n examples over k = 2 classes with label 0:
 * example i is right (probability conf on class 0) when right[i]. */
static void make(rml_predictions *p, int64_t n, const uint8_t *right, const float *conf)
{
	rml_predictions_init(p);
	assert_int_equal(rml_predictions_alloc(p, n, 2, NULL), RML_OK);
	for (int64_t i = 0; i < n; i++) {
		float c = conf ? conf[i] : 0.9f;
		p->labels[i] = 0;
		p->probs[2 * i] = right[i] ? c : 1 - c;
		p->probs[2 * i + 1] = right[i] ? 1 - c : c;
		p->rejected[i] = 0;
	}
}

static void test_identical(void **state)
{
	(void)state;
	uint8_t r[50];
	float c[50];
	for (int i = 0; i < 50; i++) {
		r[i] = i % 3 != 0;
		c[i] = 0.5f + 0.01f * (float)i;
	}
	rml_predictions a, b;
	make(&a, 50, r, c);
	make(&b, 50, r, c);
	rml_compare_report rep;
	assert_int_equal(rml_compare(&a, &b, 15, 500, 7, &rep, NULL), RML_OK);
	assert_int_equal(rep.n, 50);
	for (int k = 0; k < RML_CMP_N; k++) {
		assert_true(rep.m[k].diff == 0);
		assert_true(rep.m[k].lo == 0 && rep.m[k].hi == 0);
	}
	assert_true(rep.m[RML_CMP_ACC1].p == 1);
	assert_int_equal(rep.m[RML_CMP_ACC1].n10 + rep.m[RML_CMP_ACC1].n01, 0);
	assert_true(isnan(rep.m[RML_CMP_ECE].p));
	rml_predictions_free(&a);
	rml_predictions_free(&b);
}

/* B is right on the first j images, which A gets wrong; elsewhere both
 * are right. A resample's difference is (draws among the j)/n ~
 * Bin(n, j/n)/n, so with many resamples the interval's ends are the
 * binomial quantiles, to within one image either way (the ends of a
 * discrete distribution's interpolated quantile). */
static void test_strictly_better(void **state)
{
	(void)state;
	FILE *fp = fopen(REF_PATH, "r");
	assert_non_null(fp);
	char line[256];
	int cases = 0;
	while (fgets(line, sizeof line, fp)) {
		int n, j, qlo, qhi;
		if (sscanf(line, "binq %d %d %d %d", &n, &j, &qlo, &qhi) != 4)
			continue;
		uint8_t *ra = malloc((size_t)n), *rb = malloc((size_t)n);
		for (int i = 0; i < n; i++) {
			ra[i] = i >= j;
			rb[i] = 1;
		}
		rml_predictions a, b;
		make(&a, n, ra, NULL);
		make(&b, n, rb, NULL);
		rml_compare_report rep;
		assert_int_equal(rml_compare(&a, &b, 15, 20000, 3, &rep, NULL), RML_OK);
		const rml_cmp_stat *s = &rep.m[RML_CMP_ACC1];
		NEAR(s->diff, (double)j / n, 1e-12);
		assert_int_equal(s->n01, j);
		assert_int_equal(s->n10, 0);
		NEAR(s->p, fmin(1, 2 * pow(0.5, j)), 1e-12 * fmax(1, 2 * pow(0.5, j)));
		assert_true(s->lo >= (double)(qlo - 1) / n - 1e-12 && s->lo <= (double)(qlo + 1) / n + 1e-12);
		assert_true(s->hi >= (double)(qhi - 1) / n - 1e-12 && s->hi <= (double)(qhi + 1) / n + 1e-12);
		/* No rejections: ACC2 is ACC1. */
		assert_true(rep.m[RML_CMP_ACC2].lo == s->lo && rep.m[RML_CMP_ACC2].hi == s->hi);
		rml_predictions_free(&a);
		rml_predictions_free(&b);
		free(ra);
		free(rb);
		cases++;
	}
	fclose(fp);
	assert_true(cases >= 3);
}

static void test_tiny(void **state)
{
	(void)state;
	/* n = 1: A right, B wrong: every resample is the one image. */
	uint8_t one_a[1] = { 1 }, one_b[1] = { 0 };
	rml_predictions a, b;
	make(&a, 1, one_a, NULL);
	make(&b, 1, one_b, NULL);
	rml_compare_report rep;
	assert_int_equal(rml_compare(&a, &b, 15, 200, 1, &rep, NULL), RML_OK);
	assert_true(rep.m[RML_CMP_ACC1].diff == -1);
	assert_true(rep.m[RML_CMP_ACC1].lo == -1 && rep.m[RML_CMP_ACC1].hi == -1);
	assert_true(rep.m[RML_CMP_ACC1].p == 1);
	rml_predictions_free(&a);
	rml_predictions_free(&b);
	/* n = 2: A right on both, B on the first: resampled differences are
	 * 0 (1/4), -1/2 (1/2), -1 (1/4); 2000 resamples reach both ends. */
	uint8_t two_a[2] = { 1, 1 }, two_b[2] = { 1, 0 };
	make(&a, 2, two_a, NULL);
	make(&b, 2, two_b, NULL);
	assert_int_equal(rml_compare(&a, &b, 15, 2000, 1, &rep, NULL), RML_OK);
	assert_true(rep.m[RML_CMP_ACC1].diff == -0.5);
	assert_true(rep.m[RML_CMP_ACC1].lo == -1 && rep.m[RML_CMP_ACC1].hi == 0);
	assert_true(rep.m[RML_CMP_ACC1].p == 1);
	/* Without resamples the interval is the point. */
	assert_int_equal(rml_compare(&a, &b, 15, 0, 1, &rep, NULL), RML_OK);
	assert_true(rep.m[RML_CMP_ACC1].lo == -0.5 && rep.m[RML_CMP_ACC1].hi == -0.5);
	rml_predictions_free(&a);
	rml_predictions_free(&b);
}

/* ACC2 with each side's rejections, McNemar on the pairs both accept;
 * ECE as rml_eval_compute gives it; unlabelled rows left out. */
static void test_acc2_ece(void **state)
{
	(void)state;
	enum { N = 8 };
	uint8_t ra[N] = { 1, 1, 0, 0, 1, 0, 1, 1 }, rb[N] = { 1, 0, 1, 1, 1, 0, 1, 0 };
	float ca[N] = { 0.9f, 0.8f, 0.6f, 0.55f, 0.95f, 0.7f, 0.65f, 0.99f };
	float cb[N] = { 0.7f, 0.6f, 0.9f, 0.8f, 0.75f, 0.51f, 0.85f, 0.6f };
	rml_predictions a, b;
	make(&a, N, ra, ca);
	make(&b, N, rb, cb);
	a.labels[7] = b.labels[7] = -1;   /* unlabelled */
	a.rejected[2] = a.rejected[3] = 1; /* A rejects two it gets wrong */
	b.rejected[1] = 1;                 /* B one it gets wrong */
	rml_compare_report rep;
	assert_int_equal(rml_compare(&a, &b, 10, 0, 1, &rep, NULL), RML_OK);
	assert_int_equal(rep.n, 7);
	/* ACC1 over 7: A 4/7, B 5/7; discordant: i=1 (A only), 2, 3 (B only). */
	NEAR(rep.m[RML_CMP_ACC1].a, 4.0 / 7, 1e-12);
	NEAR(rep.m[RML_CMP_ACC1].b, 5.0 / 7, 1e-12);
	assert_int_equal(rep.m[RML_CMP_ACC1].n10, 1);
	assert_int_equal(rep.m[RML_CMP_ACC1].n01, 2);
	/* ACC2: A accepts {0,1,4,5,6}: 4/5; B accepts {0,2,3,4,5,6}: 5/6;
	 * both accept {0,4,5,6}: no discordant pair, p = 1. */
	NEAR(rep.m[RML_CMP_ACC2].a, 4.0 / 5, 1e-12);
	NEAR(rep.m[RML_CMP_ACC2].b, 5.0 / 6, 1e-12);
	assert_int_equal(rep.m[RML_CMP_ACC2].n_pairs, 4);
	assert_true(rep.m[RML_CMP_ACC2].p == 1);
	rml_eval_report ea, eb;
	assert_int_equal(rml_eval_compute(&a, 10, RML_BINS_WIDTH, &ea, NULL), RML_OK);
	assert_int_equal(rml_eval_compute(&b, 10, RML_BINS_WIDTH, &eb, NULL), RML_OK);
	assert_true(rep.m[RML_CMP_ECE].a == ea.ece && rep.m[RML_CMP_ECE].b == eb.ece);
	assert_true(rep.m[RML_CMP_ACC2].a == ea.acc2 && rep.m[RML_CMP_ACC2].b == eb.acc2);
	rml_eval_report_free(&ea);
	rml_eval_report_free(&eb);
	/* Bootstrap: the point difference inside its interval. */
	assert_int_equal(rml_compare(&a, &b, 10, 1000, 1, &rep, NULL), RML_OK);
	for (int k = 0; k < RML_CMP_N; k++)
		assert_true(rep.m[k].lo <= rep.m[k].diff && rep.m[k].diff <= rep.m[k].hi);
	rml_predictions_free(&a);
	rml_predictions_free(&b);
}

static void test_refused(void **state)
{
	(void)state;
	uint8_t r[4] = { 1, 0, 1, 0 };
	rml_predictions a, b, c;
	make(&a, 4, r, NULL);
	make(&b, 3, r, NULL);
	rml_error err = { 0 };
	rml_compare_report rep;
	assert_int_equal(rml_compare(&a, &b, 15, 10, 1, &rep, &err), RML_ERR_MISMATCH);
	assert_non_null(strstr(err.msg, "4 and 3 examples"));
	rml_predictions_free(&b);
	make(&b, 4, r, NULL);
	b.labels[2] = 1;
	assert_int_equal(rml_compare_check(&a, &b, &err), RML_ERR_MISMATCH);
	assert_non_null(strstr(err.msg, "example 2"));
	rml_predictions_init(&c);
	assert_int_equal(rml_predictions_alloc(&c, 4, 3, NULL), RML_OK);
	memcpy(c.labels, a.labels, sizeof a.labels[0] * 4);
	assert_int_equal(rml_compare_check(&a, &c, &err), RML_ERR_MISMATCH);
	assert_non_null(strstr(err.msg, "classes"));
	for (int i = 0; i < 4; i++)
		a.labels[i] = b.labels[i] = -1;
	assert_int_equal(rml_compare_check(&a, &b, &err), RML_ERR_MISMATCH);
	assert_non_null(strstr(err.msg, "no labelled"));
	rml_predictions_free(&a);
	rml_predictions_free(&b);
	rml_predictions_free(&c);
}

static void test_mcnemar_reference(void **state)
{
	(void)state;
	FILE *fp = fopen(REF_PATH, "r");
	assert_non_null(fp);
	char line[256];
	int cases = 0;
	double worst = 0;
	while (fgets(line, sizeof line, fp)) {
		long long b, c;
		double p;
		if (sscanf(line, "mcnemar %lld %lld %lf", &b, &c, &p) != 3)
			continue;
		double got = rml_mcnemar_exact(b, c);
		double rel = fabs(got - p) / p;
		if (rel > worst)
			worst = rel;
		if (rel > 1e-9)
			fprintf(stderr, "mcnemar %lld %lld: %.17g, exact %.17g\n", b, c, got, p);
		assert_true(rel <= 1e-9);
		cases++;
	}
	fclose(fp);
	assert_true(cases >= 10);
	/* Millions of pairs neither overflow nor lose the answer. */
	assert_true(rml_mcnemar_exact(3000000, 3000000) == 1);
	double tiny = rml_mcnemar_exact(3000000, 3010000);
	assert_true(tiny > 0 && tiny < 1e-3);
	assert_true(rml_mcnemar_exact(0, 5000000) == 0);
}

static void test_threads(void **state)
{
	(void)state;
	enum { N = 300 };
	uint8_t ra[N], rb[N];
	float ca[N], cb[N];
	for (int i = 0; i < N; i++) {
		ra[i] = (i * 7) % 5 != 0;
		rb[i] = (i * 3) % 4 != 0;
		ca[i] = 0.5f + 0.5f * (float)((i * 13) % 97) / 97;
		cb[i] = 0.5f + 0.5f * (float)((i * 29) % 89) / 89;
	}
	rml_predictions a, b;
	make(&a, N, ra, ca);
	make(&b, N, rb, cb);
	rml_compare_report r1, r2, r3;
	rml_set_threads(1);
	assert_int_equal(rml_compare(&a, &b, 15, 999, 11, &r1, NULL), RML_OK);
	rml_set_threads(2);
	assert_int_equal(rml_compare(&a, &b, 15, 999, 11, &r2, NULL), RML_OK);
	assert_int_equal(rml_compare(&a, &b, 15, 999, 12, &r3, NULL), RML_OK);
	assert_memory_equal(&r1, &r2, sizeof r1);
	assert_true(r1.m[RML_CMP_ACC1].lo != r3.m[RML_CMP_ACC1].lo ||
		    r1.m[RML_CMP_ECE].hi != r3.m[RML_CMP_ECE].hi);
	rml_predictions_free(&a);
	rml_predictions_free(&b);
}

static void test_quantile(void **state)
{
	(void)state;
	double x[5] = { 1, 2, 3, 4, 10 };
	NEAR(rml_quantile_sorted(x, 5, 0), 1, 0);
	NEAR(rml_quantile_sorted(x, 5, 1), 10, 0);
	NEAR(rml_quantile_sorted(x, 5, 0.5), 3, 0);
	NEAR(rml_quantile_sorted(x, 5, 0.975), 4 + 0.9 * 6, 1e-12);   /* numpy: 9.4 */
	NEAR(rml_quantile_sorted(x, 1, 0.3), 1, 0);
}

static void test_rule(void **state)
{
	(void)state;
	rml_promote_rule r;
	rml_error err = { 0 };
	assert_int_equal(rml_promote_rule_parse("acc1 > +0.01", &r, &err), RML_OK);
	assert_true(r.metric == RML_CMP_ACC1 && r.greater && !r.or_equal && r.threshold == 0.01);
	assert_false(rml_promote_rule_holds(&r, 0.01, 0.05));   /* strict */
	assert_true(rml_promote_rule_holds(&r, 0.011, 0.05));
	assert_false(rml_promote_rule_holds(&r, -0.01, 0.05));  /* the point may pass, the bound does not */
	assert_false(rml_promote_rule_holds(&r, NAN, 0.05));
	assert_int_equal(rml_promote_rule_parse("ece<=-0.005", &r, &err), RML_OK);
	assert_true(r.metric == RML_CMP_ECE && !r.greater && r.or_equal && r.threshold == -0.005);
	assert_true(rml_promote_rule_holds(&r, -1, -0.005));
	assert_false(rml_promote_rule_holds(&r, -1, -0.004));
	assert_int_equal(rml_promote_rule_parse("  acc2 >= 0 ", &r, &err), RML_OK);
	assert_true(rml_promote_rule_holds(&r, 0, 1));
	const char *bad[] = { "", "acc3 > 0", "acc1 = 0", "acc1 >", "acc1 > x", "acc1 > 0.1 and",
			      "acc1 > inf", "acc1 => 0", "> 0" };
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		err.msg[0] = 0;
		assert_int_equal(rml_promote_rule_parse(bad[i], &r, &err), RML_ERR_ARG);
		assert_true(err.msg[0] != 0);
	}
}

/* Repetitions under faults: per metric the mean and sd of A, B and the
 * difference over the repetitions, the Student t interval of the mean
 * difference (t(0.975; 2) = 4.302653), a single repetition's point value. */
static void test_summarize_reps(void **state)
{
	(void)state;
	rml_compare_report reps[3];
	memset(reps, 0, sizeof reps);
	const double a[3] = { 0.5, 0.6, 0.7 }, b[3] = { 0.6, 0.8, 0.7 };
	for (int r = 0; r < 3; r++)
		for (int k = 0; k < RML_CMP_N; k++)
			reps[r].m[k] = (rml_cmp_stat){ .a = a[r] + k, .b = b[r] + k, .diff = b[r] - a[r] };
	rml_summary sum[RML_CMP_N][3];
	double lo[RML_CMP_N], hi[RML_CMP_N];
	rml_compare_summarize_reps(reps, 3, sum, lo, hi);
	for (int k = 0; k < RML_CMP_N; k++) {
		assert_float_equal(sum[k][0].mean, 0.6 + k, 1e-12);
		assert_float_equal(sum[k][1].mean, 0.7 + k, 1e-12);
		/* differences 0.1, 0.2, 0.0: mean 0.1, sd 0.1 */
		assert_float_equal(sum[k][2].mean, 0.1, 1e-12);
		assert_float_equal(sum[k][2].sd, 0.1, 1e-12);
		assert_float_equal(hi[k] - 0.1, 4.302653 * 0.1 / sqrt(3), 1e-6);
		assert_float_equal(0.1 - lo[k], 4.302653 * 0.1 / sqrt(3), 1e-6);
	}
	rml_compare_summarize_reps(reps + 1, 1, sum, lo, hi);
	assert_float_equal(lo[RML_CMP_ACC1], 0.2, 1e-12);
	assert_float_equal(hi[RML_CMP_ACC1], 0.2, 1e-12);
	assert_float_equal(sum[RML_CMP_ACC1][2].sd, 0, 0);
}

/* Several rules: each judged on its conservative end; all must hold. */
static void test_rules_judge(void **state)
{
	(void)state;
	rml_promote_rule rules[3];
	rml_error err;
	assert_int_equal(rml_promote_rule_parse("acc1 > 0.01", &rules[0], &err), RML_OK);
	assert_int_equal(rml_promote_rule_parse("ece < 0", &rules[1], &err), RML_OK);
	assert_int_equal(rml_promote_rule_parse("acc2>=-0.005", &rules[2], &err), RML_OK);
	double lo[RML_CMP_N] = { 0.02, -0.01, -0.03 }, hi[RML_CMP_N] = { 0.05, 0.01, -0.001 };
	int holds[3];
	double bound[3];
	assert_int_equal(rml_promote_rules_judge(rules, 3, lo, hi, holds, bound), 0);
	assert_int_equal(holds[0], 1);
	assert_float_equal(bound[0], 0.02, 0);
	assert_int_equal(holds[1], 1);
	assert_float_equal(bound[1], -0.001, 0);
	assert_int_equal(holds[2], 0);
	assert_float_equal(bound[2], -0.01, 0);
	assert_int_equal(rml_promote_rules_judge(rules, 2, lo, hi, holds, bound), 1);
	assert_int_equal(rml_promote_rules_judge(rules, 0, lo, hi, holds, bound), 1);
	lo[RML_CMP_ACC1] = NAN;
	assert_int_equal(rml_promote_rules_judge(rules, 1, lo, hi, holds, bound), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_identical),  cmocka_unit_test(test_strictly_better),
		cmocka_unit_test(test_tiny),       cmocka_unit_test(test_acc2_ece),
		cmocka_unit_test(test_refused),    cmocka_unit_test(test_mcnemar_reference),
		cmocka_unit_test(test_threads),    cmocka_unit_test(test_quantile),
		cmocka_unit_test(test_rule),
		cmocka_unit_test(test_summarize_reps), cmocka_unit_test(test_rules_judge),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
