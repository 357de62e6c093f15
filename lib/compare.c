/*
 * compare.c — paired comparison of two predictions sets (see compare.h):
 * point differences, a percentile bootstrap of them, McNemar's exact test
 * and the promotion rule. The bootstrap works on per-example outcomes
 * gathered once (correct, accepted, ECE bin, confidence) so a resample
 * costs one pass over n drawn indices and no allocation.
 */
#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "compare.h"

static const char *const cmp_names[RML_CMP_N] = { "acc1", "acc2", "ece" };

const char *rml_cmp_metric_name(rml_cmp_metric m)
{
	return m >= 0 && m < RML_CMP_N ? cmp_names[m] : "?";
}

rml_status rml_compare_check(const rml_predictions *a, const rml_predictions *b, rml_error *err)
{
	if (a->n != b->n)
		return rml_errorf(err, RML_ERR_MISMATCH,
				  "the two sides hold %lld and %lld examples: not the same dataset",
				  (long long)a->n, (long long)b->n);
	if (a->k != b->k)
		return rml_errorf(err, RML_ERR_MISMATCH, "the two sides have %lld and %lld classes",
				  (long long)a->k, (long long)b->k);
	int64_t m = 0;
	for (int64_t i = 0; i < a->n; i++) {
		if (a->labels[i] != b->labels[i])
			return rml_errorf(err, RML_ERR_MISMATCH,
					  "example %lld has label %d on one side and %d on the other: not the same dataset",
					  (long long)i, a->labels[i], b->labels[i]);
		m += a->labels[i] >= 0 && a->labels[i] < a->k;
	}
	if (!m)
		return rml_errorf(err, RML_ERR_MISMATCH, "no labelled examples to compare");
	return RML_OK;
}

double rml_mcnemar_exact(int64_t n10, int64_t n01)
{
	int64_t m = n10 + n01, s = n10 < n01 ? n10 : n01;
	if (m <= 0)
		return 1;
	/* P(X <= s) = P(X = s) * (1 + sum_{i<s} prod_{j=i+1}^{s} j/(m-j+1)):
	 * the largest term factored out (s <= m/2, so terms grow with i),
	 * the rest a sum of ratios <= 1 that stops once it stops changing. */
	double lt = lgamma((double)m + 1) - lgamma((double)s + 1) - lgamma((double)(m - s) + 1) -
		    (double)m * log(2.0);
	double sum = 1, term = 1;
	for (int64_t i = s; i > 0; i--) {
		term *= (double)i / (double)(m - i + 1);
		sum += term;
		if (term < 1e-17 * sum)
			break;
	}
	double p = exp(log(2.0) + lt + log(sum));
	return p < 1 ? p : 1;
}

double rml_quantile_sorted(const double *x, int64_t n, double q)
{
	if (n <= 0)
		return NAN;
	double h = q * (double)(n - 1);
	int64_t i = (int64_t)floor(h);
	if (i >= n - 1)
		return x[n - 1];
	if (i < 0)
		return x[0];
	return x[i] + (h - (double)i) * (x[i + 1] - x[i]);
}

static int by_value(const void *pa, const void *pb)
{
	double a = *(const double *)pa, b = *(const double *)pb;
	return (a > b) - (a < b);
}

/* Per-example outcomes of the labelled examples of one side. */
typedef struct {
	uint8_t *correct, *accepted;
	float *conf;
	int32_t *bin;
} side;

static void side_free(side *s)
{
	free(s->correct);
	free(s->accepted);
	free(s->conf);
	free(s->bin);
}

static int side_fill(side *s, const rml_predictions *p, int64_t m, int n_bins)
{
	int64_t n = p->n;
	s->correct = malloc((size_t)m);
	s->accepted = malloc((size_t)m);
	s->conf = malloc((size_t)m * sizeof *s->conf);
	s->bin = malloc((size_t)m * sizeof *s->bin);
	int32_t *pred = malloc((size_t)n * sizeof *pred);
	float *conf = malloc((size_t)n * sizeof *conf);
	if (!s->correct || !s->accepted || !s->conf || !s->bin || !pred || !conf) {
		free(pred);
		free(conf);
		return -1;
	}
	rml_top1(p->probs, n, p->k, pred, conf);
	int64_t j = 0;
	for (int64_t i = 0; i < n; i++) {
		if (p->labels[i] < 0 || p->labels[i] >= p->k)
			continue;
		/* The binning of rml_ece with equal-width bins. */
		double c = isfinite(conf[i]) ? conf[i] : 0;
		int b = (int)(c * n_bins);
		s->correct[j] = pred[i] == p->labels[i];
		s->accepted[j] = !p->rejected[i];
		s->conf[j] = (float)c;
		s->bin[j] = b >= n_bins ? n_bins - 1 : b < 0 ? 0 : b;
		j++;
	}
	free(pred);
	free(conf);
	return 0;
}

/* Counts and bin sums of one side over a multiset of examples. */
typedef struct {
	int64_t right, acc_n, acc_right;
	double *sc, *sa;   /* [n_bins] sums of confidence and of correctness */
	int64_t *cnt;      /* [n_bins] */
} tally;

static void tally_add(tally *t, const side *s, int64_t i)
{
	t->right += s->correct[i];
	t->acc_n += s->accepted[i];
	t->acc_right += s->accepted[i] & s->correct[i];
	t->sc[s->bin[i]] += s->conf[i];
	t->sa[s->bin[i]] += s->correct[i];
	t->cnt[s->bin[i]]++;
}

static void tally_values(const tally *t, int64_t m, int n_bins, double v[RML_CMP_N])
{
	double ece = 0;
	for (int k = 0; k < n_bins; k++)
		if (t->cnt[k])
			ece += fabs(t->sa[k] / (double)t->cnt[k] - t->sc[k] / (double)t->cnt[k]) *
			       (double)t->cnt[k] / (double)m;
	v[RML_CMP_ACC1] = (double)t->right / (double)m;
	v[RML_CMP_ACC2] = t->acc_n ? (double)t->acc_right / (double)t->acc_n : 0;
	v[RML_CMP_ECE] = ece;
}

rml_status rml_compare(const rml_predictions *a, const rml_predictions *b, int n_bins,
		       int64_t n_boot, uint64_t seed, rml_compare_report *r, rml_error *err)
{
	memset(r, 0, sizeof *r);
	if (n_bins < 1 || n_boot < 0)
		return rml_errorf(err, RML_ERR_ARG, "rml_compare: n_bins %d, n_boot %lld", n_bins,
				  (long long)n_boot);
	rml_status st = rml_compare_check(a, b, err);
	if (st)
		return st;
	int64_t m = 0;
	for (int64_t i = 0; i < a->n; i++)
		m += a->labels[i] >= 0 && a->labels[i] < a->k;
	side sa = { 0 }, sb = { 0 };
	double *diffs = malloc((size_t)(n_boot ? n_boot : 1) * RML_CMP_N * sizeof *diffs);
	if (!diffs || side_fill(&sa, a, m, n_bins) || side_fill(&sb, b, m, n_bins)) {
		st = rml_errorf(err, RML_ERR_NOMEM, "out of memory");
		goto out;
	}
	r->n = m;
	r->n_boot = n_boot;
	r->n_bins = n_bins;

	/* Point values: accuracies by counting, ECE by rml_ece itself so the
	 * figures agree with a plain rmlops-eval to the last bit. */
	int64_t n10 = 0, n01 = 0, both = 0, b10 = 0, b01 = 0, ra = 0, rb = 0, aa = 0, ab = 0, ara = 0,
		arb = 0;
	uint8_t *ok_a = sa.correct, *ok_b = sb.correct;
	for (int64_t i = 0; i < m; i++) {
		ra += ok_a[i];
		rb += ok_b[i];
		n10 += ok_a[i] && !ok_b[i];
		n01 += !ok_a[i] && ok_b[i];
		aa += sa.accepted[i];
		ab += sb.accepted[i];
		ara += sa.accepted[i] & ok_a[i];
		arb += sb.accepted[i] & ok_b[i];
		if (sa.accepted[i] && sb.accepted[i]) {
			both++;
			b10 += ok_a[i] && !ok_b[i];
			b01 += !ok_a[i] && ok_b[i];
		}
	}
	rml_cmp_stat *s = r->m;
	s[RML_CMP_ACC1].a = (double)ra / (double)m;
	s[RML_CMP_ACC1].b = (double)rb / (double)m;
	s[RML_CMP_ACC1].n10 = n10;
	s[RML_CMP_ACC1].n01 = n01;
	s[RML_CMP_ACC1].n_pairs = m;
	s[RML_CMP_ACC1].p = rml_mcnemar_exact(n10, n01);
	s[RML_CMP_ACC2].a = aa ? (double)ara / (double)aa : 0;
	s[RML_CMP_ACC2].b = ab ? (double)arb / (double)ab : 0;
	s[RML_CMP_ACC2].n10 = b10;
	s[RML_CMP_ACC2].n01 = b01;
	s[RML_CMP_ACC2].n_pairs = both;
	s[RML_CMP_ACC2].p = rml_mcnemar_exact(b10, b01);
	s[RML_CMP_ECE].a = rml_ece(sa.conf, sa.correct, m, n_bins, RML_BINS_WIDTH);
	s[RML_CMP_ECE].b = rml_ece(sb.conf, sb.correct, m, n_bins, RML_BINS_WIDTH);
	s[RML_CMP_ECE].p = NAN;
	for (int k = 0; k < RML_CMP_N; k++) {
		s[k].diff = s[k].b - s[k].a;
		s[k].lo = s[k].hi = s[k].diff;
	}
	if (!n_boot)
		goto out;

	int failed = 0;
#pragma omp parallel
	{
		/* One set of bin sums per thread and side, allocated once. */
		double *buf = malloc((size_t)n_bins * 4 * sizeof *buf);
		int64_t *cnt = malloc((size_t)n_bins * 2 * sizeof *cnt);
		if (!buf || !cnt) {
#pragma omp atomic write
			failed = 1;
		}
#pragma omp for schedule(static)
		for (int64_t rep = 0; rep < n_boot; rep++) {
			if (!buf || !cnt)
				continue;
			memset(buf, 0, (size_t)n_bins * 4 * sizeof *buf);
			memset(cnt, 0, (size_t)n_bins * 2 * sizeof *cnt);
			tally ta = { 0, 0, 0, buf, buf + n_bins, cnt };
			tally tb = { 0, 0, 0, buf + 2 * n_bins, buf + 3 * n_bins, cnt + n_bins };
			rml_rng g;
			rml_rng_seed_stream(&g, seed, (uint64_t)rep);
			for (int64_t j = 0; j < m; j++) {
				int64_t i = (int64_t)rml_rng_below(&g, (uint64_t)m);
				tally_add(&ta, &sa, i);
				tally_add(&tb, &sb, i);
			}
			double va[RML_CMP_N], vb[RML_CMP_N];
			tally_values(&ta, m, n_bins, va);
			tally_values(&tb, m, n_bins, vb);
			for (int k = 0; k < RML_CMP_N; k++)
				diffs[(int64_t)k * n_boot + rep] = vb[k] - va[k];
		}
		free(buf);
		free(cnt);
	}
	if (failed) {
		st = rml_errorf(err, RML_ERR_NOMEM, "out of memory");
		goto out;
	}
	for (int k = 0; k < RML_CMP_N; k++) {
		double *d = diffs + (int64_t)k * n_boot;
		qsort(d, (size_t)n_boot, sizeof *d, by_value);
		s[k].lo = rml_quantile_sorted(d, n_boot, 0.025);
		s[k].hi = rml_quantile_sorted(d, n_boot, 0.975);
	}
out:
	free(diffs);
	side_free(&sa);
	side_free(&sb);
	return st;
}

rml_status rml_promote_rule_parse(const char *s, rml_promote_rule *rule, rml_error *err)
{
	const char *p = s;
	while (isspace((unsigned char)*p))
		p++;
	const char *name = p;
	while (isalnum((unsigned char)*p))
		p++;
	size_t len = (size_t)(p - name);
	int metric = -1;
	for (int k = 0; k < RML_CMP_N; k++)
		if (len == strlen(cmp_names[k]) && !strncmp(name, cmp_names[k], len))
			metric = k;
	if (metric < 0)
		return rml_errorf(err, RML_ERR_ARG,
				  "promotion rule '%s': the metric is acc1, acc2 or ece (as METRIC OP THRESHOLD)", s);
	while (isspace((unsigned char)*p))
		p++;
	if (*p != '>' && *p != '<')
		return rml_errorf(err, RML_ERR_ARG, "promotion rule '%s': the comparison is >, >=, < or <=", s);
	rule->metric = (rml_cmp_metric)metric;
	rule->greater = *p++ == '>';
	rule->or_equal = *p == '=';
	if (*p == '=')
		p++;
	while (isspace((unsigned char)*p))
		p++;
	char *end;
	double v = strtod(p, &end);
	if (end == p || !isfinite(v))
		return rml_errorf(err, RML_ERR_ARG, "promotion rule '%s': the threshold is a number such as +0.01", s);
	while (isspace((unsigned char)*end))
		end++;
	if (*end)
		return rml_errorf(err, RML_ERR_ARG, "promotion rule '%s': unexpected '%s' after the threshold", s, end);
	rule->threshold = v;
	return RML_OK;
}

int rml_promote_rule_holds(const rml_promote_rule *rule, double lo, double hi)
{
	double x = rule->greater ? lo : hi;
	if (isnan(x))
		return 0;
	if (rule->greater)
		return rule->or_equal ? x >= rule->threshold : x > rule->threshold;
	return rule->or_equal ? x <= rule->threshold : x < rule->threshold;
}

void rml_compare_summarize_reps(const rml_compare_report *reps, int64_t n_rep,
				rml_summary sum[RML_CMP_N][3], double lo[RML_CMP_N],
				double hi[RML_CMP_N])
{
	double *col = malloc((size_t)(n_rep > 0 ? n_rep : 1) * sizeof *col);
	for (int k = 0; k < RML_CMP_N; k++) {
		for (int j = 0; j < 3; j++) {
			for (int64_t r = 0; col && r < n_rep; r++) {
				const rml_cmp_stat *st = &reps[r].m[k];
				col[r] = j == 0 ? st->a : j == 1 ? st->b : st->diff;
			}
			if (col)
				rml_summarize(col, n_rep, &sum[k][j]);
			else   /* out of memory: nothing to judge on */
				sum[k][j] = (rml_summary){ NAN, NAN, NAN, NAN, n_rep };
		}
		lo[k] = n_rep > 1 ? sum[k][2].lo : sum[k][2].mean;
		hi[k] = n_rep > 1 ? sum[k][2].hi : sum[k][2].mean;
	}
	free(col);
}

int rml_promote_rules_judge(const rml_promote_rule *rules, int n, const double lo[RML_CMP_N],
			    const double hi[RML_CMP_N], int *holds, double *bound)
{
	int all = 1;
	for (int i = 0; i < n; i++) {
		const rml_promote_rule *r = &rules[i];
		holds[i] = rml_promote_rule_holds(r, lo[r->metric], hi[r->metric]);
		bound[i] = r->greater ? lo[r->metric] : hi[r->metric];
		all &= holds[i];
	}
	return all;
}
