/*
 * test_coact.c — co-activation statistics: thresholds and pair counts of
 * a fit, and scores, against a brute-force count written here over every
 * pair; a non-finite feature scores +inf and refuses a fit; every refused
 * argument. The features are the head's input (logits recomputed from
 * them with the head's weights by hand agree with the forward pass). In
 * the model file: the statistics round-trip, survive a calibrator being
 * set and removed (and it survives them), and a damaged copy is refused
 * with its own message. Over datasets: the score table and the AUROC
 * report are those of the steps taken one by one; another model's units
 * are refused.
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

#include "calib.h"
#include "calib_model.h"
#include "coact.h"
#include "fixtures.h"
#include "model.h"
#include "outtext.h"

/* Features of n inputs of d units from a fixed generator: unit j of
 * input i, with a correlated pair (0, 1) and an anti-correlated pair (2, 3). */
static void features(float *f, int64_t n, int64_t d, uint64_t seed)
{
	uint64_t s = seed * 0x9e3779b97f4a7c15ull + 1;
	for (int64_t i = 0; i < n; i++)
		for (int64_t j = 0; j < d; j++) {
			s = s * 6364136223846793005ull + 1442695040888963407ull;
			f[i * d + j] = (float)((s >> 40) % 1000) / 100.0f;
		}
	for (int64_t i = 0; i < n && d >= 4; i++) {
		f[i * d + 1] = f[i * d + 0] + 0.01f;
		f[i * d + 3] = 10.0f - f[i * d + 2];
	}
}

static int cmp_f(const void *a, const void *b)
{
	float x = *(const float *)a, y = *(const float *)b;
	return (x > y) - (x < y);
}

/* The statistics by brute force: the threshold as the order statistic at
 * floor(q (n-1)), counts over every pair of every input. */
static void brute_fit(const float *f, int64_t n, int64_t d, double q, float *t, int32_t *cnt)
{
	float *col = malloc((size_t)n * sizeof *col);
	for (int64_t j = 0; j < d; j++) {
		for (int64_t i = 0; i < n; i++)
			col[i] = f[i * d + j];
		qsort(col, (size_t)n, sizeof *col, cmp_f);
		t[j] = col[(int64_t)floor(q * (double)(n - 1))];
	}
	free(col);
	for (int64_t j = 0; j < d; j++)
		for (int64_t k = 0; k < d; k++) {
			int32_t c = 0;
			for (int64_t i = 0; i < n; i++)
				c += f[i * d + j] > t[j] && f[i * d + k] > t[k];
			cnt[j * d + k] = c;
		}
}

static void test_fit_and_score(void **state)
{
	(void)state;
	enum { N = 300, D = 12, M = 50 };
	float *f = malloc(N * D * sizeof *f), *g = malloc(M * D * sizeof *g);
	float t[D], score[M];
	int32_t *cnt = malloc(D * D * sizeof *cnt);
	features(f, N, D, 1);
	features(g, M, D, 2);
	/* Some inputs with many units active, to make rare pairs appear. */
	for (int64_t i = 0; i < M; i += 5)
		for (int64_t j = 0; j < D; j++)
			g[i * D + j] = 9.99f;
	rml_error err = { 0 };
	rml_coact c;
	for (int qi = 0; qi < 3; qi++) {
		double q = (double[]){ 0.5, 0.8, 0.9 }[qi], rho = (double[]){ 0, 0.02, 0.05 }[qi];
		assert_int_equal(rml_coact_fit(&c, f, N, D, q, rho, &err), RML_OK);
		brute_fit(f, N, D, q, t, cnt);
		assert_int_equal(c.n_units, D);
		assert_int_equal(c.n_fit, N);
		for (int j = 0; j < D; j++)
			assert_true(c.thresholds[j] == t[j]);
		for (int j = 0; j < D; j++)
			for (int k = j + 1; k < D; k++)
				assert_int_equal(c.pairs[rml_coact_pair_index(D, j, k)], cnt[j * D + k]);
		/* The anti-correlated pair is never active together above the median. */
		if (q >= 0.5)
			assert_int_equal(c.pairs[rml_coact_pair_index(D, 2, 3)], 0);
		assert_int_equal(rml_coact_score(&c, g, M, score, &err), RML_OK);
		int any = 0;
		for (int i = 0; i < M; i++) {
			int64_t r = 0;
			for (int j = 0; j < D; j++)
				for (int k = j + 1; k < D; k++)
					r += g[i * D + j] > t[j] && g[i * D + k] > t[k] &&
					     cnt[j * D + k] <= floor(rho * N);
			assert_true(score[i] == (float)r);
			any |= r > 0;
		}
		assert_true(any);
		rml_coact_free(&c);
	}
	/* A non-finite feature scores +inf. */
	assert_int_equal(rml_coact_fit(&c, f, N, D, 0.9, 0.01, &err), RML_OK);
	g[3 * D + 7] = NAN;
	g[4 * D + 0] = INFINITY;
	assert_int_equal(rml_coact_score(&c, g, M, score, &err), RML_OK);
	assert_true(isinf(score[3]) && score[3] > 0);
	assert_true(isinf(score[4]) && score[4] > 0);
	assert_true(isfinite(score[5]));
	rml_coact_free(&c);
	free(f);
	free(g);
	free(cnt);
}

static void test_refused(void **state)
{
	(void)state;
	float f[40] = { 0 };
	for (int i = 0; i < 40; i++)
		f[i] = (float)(i % 7);
	rml_error err = { 0 };
	rml_coact c;
	assert_int_equal(rml_coact_fit(&c, f, 1, 4, 0.9, 0.01, &err), RML_ERR_ARG);
	assert_int_equal(rml_coact_fit(&c, f, 10, 1, 0.9, 0.01, &err), RML_ERR_ARG);
	assert_int_equal(rml_coact_fit(&c, f, 10, 4, 0, 0.01, &err), RML_ERR_ARG);
	assert_int_equal(rml_coact_fit(&c, f, 10, 4, 1, 0.01, &err), RML_ERR_ARG);
	assert_int_equal(rml_coact_fit(&c, f, 10, 4, NAN, 0.01, &err), RML_ERR_ARG);
	assert_int_equal(rml_coact_fit(&c, f, 10, 4, 0.9, -0.1, &err), RML_ERR_ARG);
	assert_int_equal(rml_coact_fit(&c, f, 10, 4, 0.9, 1, &err), RML_ERR_ARG);
	float *big = calloc(2 * 8193, sizeof *big);
	assert_int_equal(rml_coact_fit(&c, big, 2, 8193, 0.9, 0.01, &err), RML_ERR_ARG);
	free(big);
	f[17] = NAN;
	assert_int_equal(rml_coact_fit(&c, f, 10, 4, 0.9, 0.01, &err), RML_ERR_ARG);
	assert_non_null(strstr(err.msg, "not finite"));
	assert_null(c.thresholds);
	float s[1];
	assert_int_equal(rml_coact_score(&c, f, 1, s, &err), RML_ERR_ARG);
}

/* ---- the model ------------------------------------------------------------------- */

static void images(uint8_t *x, int64_t n)
{
	uint64_t s = 5;
	for (int64_t i = 0; i < n; i++) {
		s = s * 6364136223846793005ull + 1442695040888963407ull;
		x[i] = (uint8_t)(s >> 56);
	}
}

static void test_features_are_head_input(void **state)
{
	(void)state;
	rml_model *m = rml_fx_tiny(10, 0, 3);
	int h, w, ch;
	rml_model_input_shape(m, &h, &w, &ch);
	int64_t n = 7, d = rml_model_n_features(m), k = rml_model_n_classes(m), dd;
	assert_true(d > 1);
	uint8_t *x = malloc((size_t)(n * h * w * ch));
	float *feat = malloc((size_t)(n * d) * sizeof *feat), *logits = malloc((size_t)(n * k) * sizeof *logits);
	images(x, n * h * w * ch);
	rml_error err = { 0 };
	/* Batch 3 does not divide 7: the last batch is short. */
	assert_int_equal(rml_model_features(m, x, n, 3, feat, logits, &dd, &err), RML_OK);
	assert_int_equal(dd, d);
	int64_t np;
	rml_param *p = rml_model_params(m, &np);
	const rml_param *hw = NULL, *hb = NULL;
	for (int64_t i = 0; i < np; i++) {
		if (strcmp(p[i].name, "head.w") == 0)
			hw = &p[i];
		if (strcmp(p[i].name, "head.b") == 0)
			hb = &p[i];
	}
	assert_non_null(hw);
	assert_non_null(hb);
	assert_int_equal(hw->dims[0], d);
	for (int64_t i = 0; i < n; i++)
		for (int64_t j = 0; j < k; j++) {
			double z = hb->data[j];
			for (int64_t u = 0; u < d; u++)
				z += (double)feat[i * d + u] * hw->data[u * k + j];
			assert_true(fabs(z - logits[i * k + j]) < 1e-4 * (1 + fabs(z)));
		}
	free(x);
	free(feat);
	free(logits);
	rml_model_free(m);
}

static rml_model *reload(const rml_model *m)
{
	rml_file f;
	rml_file_init(&f);
	rml_error err = { 0 };
	assert_int_equal(rml_model_to_file(m, &f, &err), RML_OK);
	rml_model *r;
	assert_int_equal(rml_model_from_file(&r, &f, &err), RML_OK);
	rml_file_free(&f);
	return r;
}

static void fitted(rml_model *m, rml_coact *c)
{
	int64_t d = rml_model_n_features(m), n = 40;
	float *f = malloc((size_t)(n * d) * sizeof *f);
	features(f, n, d, 9);
	rml_error err = { 0 };
	assert_int_equal(rml_coact_fit(c, f, n, d, 0.8, 0.05, &err), RML_OK);
	free(f);
}

static void test_in_model_file(void **state)
{
	(void)state;
	rml_model *m = rml_fx_tiny(10, 0, 3);
	rml_error err = { 0 };
	rml_coact c, back;
	assert_false(rml_model_has_coact(m));
	assert_int_equal(rml_model_coact(m, &back, &err), RML_ERR_ARG);
	assert_int_equal(rml_model_coact_check(m, &err), RML_OK);
	fitted(m, &c);
	assert_int_equal(rml_model_set_coact(m, &c, &err), RML_OK);
	/* A calibrator set afterwards and the rule keep the statistics. */
	rml_calib cal;
	rml_calib_init(&cal);
	cal.method = RML_CALIB_TEMPERATURE;
	cal.scalars[0] = 1.5;
	assert_int_equal(rml_model_set_calibrator(m, &cal, &err), RML_OK);
	assert_int_equal(rml_model_set_reject_rule(m, RML_REJECT_ENTROPY, 1.0, &err), RML_OK);
	rml_model *r = reload(m);
	assert_int_equal(rml_model_calib_check(r, &err), RML_OK);
	assert_int_equal(rml_model_coact_check(r, &err), RML_OK);
	assert_int_equal(rml_model_coact(r, &back, &err), RML_OK);
	assert_int_equal(back.n_units, c.n_units);
	assert_int_equal(back.n_fit, c.n_fit);
	assert_true(back.quantile == c.quantile && back.rare == c.rare);
	assert_memory_equal(back.thresholds, c.thresholds, (size_t)c.n_units * sizeof(float));
	assert_memory_equal(back.pairs, c.pairs,
			    (size_t)(c.n_units * (c.n_units - 1) / 2) * sizeof(int32_t));
	rml_coact_free(&back);
	assert_string_equal(rml_model_calibrator_method(r), "temperature");
	/* Removing the calibrator keeps the statistics; removing them keeps it. */
	assert_int_equal(rml_model_set_calibrator(r, NULL, &err), RML_OK);
	assert_true(rml_model_has_coact(r));
	assert_int_equal(rml_model_set_calibrator(r, &cal, &err), RML_OK);
	assert_int_equal(rml_model_set_coact(r, NULL, &err), RML_OK);
	assert_false(rml_model_has_coact(r));
	assert_string_equal(rml_model_calibrator_method(r), "temperature");
	rml_model_free(r);
	/* Statistics of another size are refused. */
	c.n_units--;
	assert_int_equal(rml_model_set_coact(m, &c, &err), RML_ERR_ARG);
	c.n_units++;
	rml_coact_free(&c);
	rml_model_free(m);
}

/* A model file with its statistics, then one thing broken by `how`. */
static void damaged(int how, const char *want)
{
	rml_model *m = rml_fx_tiny(10, 0, 3);
	rml_error err = { 0 };
	rml_coact c;
	fitted(m, &c);
	assert_int_equal(rml_model_set_coact(m, &c, &err), RML_OK);
	rml_coact_free(&c);
	rml_file f;
	rml_file_init(&f);
	assert_int_equal(rml_model_to_file(m, &f, &err), RML_OK);
	rml_model_free(m);
	rml_tensor *t = rml_find_tensor(&f, how < 2 ? "coact.thresholds" : "coact.pairs");
	switch (how) {
	case 0: ((float *)t->data)[1] = NAN; break;
	case 1: rml_set_str(&f, "coact.layer", "blocks.3"); break;
	case 2: ((int32_t *)t->data)[2] = 41; break;
	case 3: ((int32_t *)t->data)[0] = -1; break;
	case 4: rml_set_f64(&f, "coact.quantile", 1.5); break;
	case 5: {
		int64_t dims[1] = { 3 };
		rml_add_tensor(&f, "coact.extra", RML_DTYPE_F32, 1, dims, NULL, &err);
		break;
	}
	case 6: {
		int64_t dims[1] = { 5 };
		rml_add_tensor(&f, "coact.thresholds", RML_DTYPE_F32, 1, dims, NULL, &err);
		break;
	}
	case 7: rml_unset(&f, "coact.n_fit"); break;
	case 8: {
		int64_t dims[1] = { 3 };
		rml_add_tensor(&f, "coact.pairs", RML_DTYPE_F32, 1, dims, NULL, &err);
		break;
	}
	}
	assert_int_equal(rml_model_from_file(&m, &f, &err), RML_OK);
	assert_int_equal(rml_model_coact_check(m, &err), RML_ERR_FORMAT);
	if (!strstr(err.msg, want))
		fail_msg("case %d: '%s' lacks '%s'", how, err.msg, want);
	assert_int_equal(strncmp(err.msg, "model: ", 7), 0);
	/* The calibrator's check does not mistake them for its own. */
	assert_int_equal(rml_model_calib_check(m, &err), RML_OK);
	rml_model_free(m);
	rml_file_free(&f);
}

static void test_damaged(void **state)
{
	(void)state;
	damaged(0, "not finite");
	damaged(1, "'blocks.3'");
	damaged(2, "outside 0..40");
	damaged(3, "outside 0..40");
	damaged(4, "out of range");
	damaged(5, "'coact.extra'");
	damaged(6, "for 5 units");
	damaged(7, "coact.n_fit");
	damaged(8, "coact.pairs");
}

/* Scoring images is the features' score and the model's probabilities
 * (recomputed here step by step); the AUROCs on cases worked out by hand,
 * a NaN ranking as the most out-of-distribution. */
static void test_score_images_and_auroc(void **state)
{
	(void)state;
	rml_model *m = rml_fx_tiny(10, 0, 3);
	rml_coact c;
	rml_coact_init(&c);
	fitted(m, &c);
	int64_t n = 6, d = rml_model_n_features(m), k = rml_model_n_classes(m);
	uint8_t *x = malloc((size_t)(n * 32 * 32 * 3));
	images(x, n * 32 * 32 * 3);
	float score[6], ent[6], conf[6], want[6];
	int32_t pred[6];
	double t[2];
	rml_error err = { 0 };
	assert_int_equal(rml_coact_score_images(m, &c, x, n, 4, score, ent, conf, pred, t, &err), RML_OK);
	assert_true(t[0] >= 0 && t[1] >= 0);
	float *f = malloc((size_t)(n * d) * sizeof *f), *lg = malloc((size_t)(n * k) * sizeof *lg);
	float *p = malloc((size_t)(n * k) * sizeof *p);
	assert_int_equal(rml_model_features(m, x, n, 4, f, lg, NULL, &err), RML_OK);
	assert_int_equal(rml_coact_score(&c, f, n, want, &err), RML_OK);
	assert_int_equal(rml_model_probs(m, lg, n, p, &err), RML_OK);
	for (int64_t i = 0; i < n; i++) {
		assert_true(score[i] == want[i]);
		int32_t best = 0;
		double h = 0;
		for (int64_t j = 0; j < k; j++) {
			if (p[i * k + j] > p[i * k + best])
				best = (int32_t)j;
			if (p[i * k + j] > 0)
				h -= p[i * k + j] * log(p[i * k + j]);
		}
		assert_int_equal(pred[i], best);
		assert_true(conf[i] == p[i * k + best]);
		assert_true(fabs(ent[i] - h) < 1e-5);
	}
	free(f);
	free(lg);
	free(p);
	free(x);
	rml_coact_free(&c);
	rml_model_free(m);

	/* 2 in-distribution rows, 2 out: the score separates them, entropy
	 * half (a NaN out-row counts as the most out), confidence inverted. */
	float s2[4] = { 1, 2, 3, 4 }, e2[4] = { 0.5f, 0.1f, 0.3f, NAN }, c2[4] = { 0.1f, 0.2f, 0.8f, 0.9f };
	double au[3];
	assert_int_equal(rml_coact_auroc(s2, e2, c2, 2, 2, au, &err), RML_OK);
	assert_true(au[0] == 1.0);
	assert_true(au[1] == 0.75);
	assert_true(au[2] == 0.0);
}

/* Over a dataset: images of another geometry refused with their shape;
 * the fit stores the same statistics as fitting the features directly;
 * the score table and the AUROC report (null for NaN in JSON). */
/* Counts the sets rml_coact_report_datasets reports: how many, then each
 * one's size. */
static void seen(void *ctx, int64_t n, const double seconds[2])
{
	int64_t *sets = ctx;
	assert_true(seconds[0] >= 0 && seconds[1] >= 0);
	sets[++sets[0]] = n;
}

static void test_datasets_and_text(void **state)
{
	(void)state;
	rml_model *m = rml_fx_tiny(10, 0, 3);
	rml_error err = { 0 };
	rml_dataset d;
	rml_dataset_init(&d);
	assert_int_equal(rml_dataset_alloc(&d, 8, 16, 16, 3, &err), RML_OK);
	assert_int_equal(rml_coact_check_images(m, &d, "x.rml", &err), RML_ERR_MISMATCH);
	assert_string_equal(err.msg, "x.rml: images are 16x16x3, the model takes 32x32x3");
	rml_dataset_free(&d);
	assert_int_equal(rml_dataset_alloc(&d, 8, 32, 32, 3, &err), RML_OK);
	images(d.images, 8 * 32 * 32 * 3);
	assert_int_equal(rml_coact_check_images(m, &d, "x.rml", &err), RML_OK);
	assert_int_equal(rml_coact_fit_dataset(m, &d, 3, 0.75, 0.1, &err), RML_OK);
	int64_t dim = rml_model_n_features(m);
	float *f = malloc((size_t)(8 * dim) * sizeof *f);
	assert_int_equal(rml_model_features(m, d.images, 8, 8, f, NULL, NULL, &err), RML_OK);
	rml_coact want, got;
	rml_coact_init(&want);
	rml_coact_init(&got);
	assert_int_equal(rml_coact_fit(&want, f, 8, dim, 0.75, 0.1, &err), RML_OK);
	assert_int_equal(rml_model_coact(m, &got, &err), RML_OK);
	assert_int_equal(got.n_fit, 8);
	assert_memory_equal(got.thresholds, want.thresholds, (size_t)dim * sizeof *got.thresholds);
	assert_memory_equal(got.pairs, want.pairs, (size_t)(dim * (dim - 1) / 2) * sizeof *got.pairs);
	rml_coact_free(&want);
	/* Units of another model are refused by name. */
	assert_int_equal(rml_coact_check_units(m, &got, "m2.rml", &err), RML_OK);
	got.n_units++;
	assert_int_equal(rml_coact_check_units(m, &got, "m2.rml", &err), RML_ERR_MISMATCH);
	char msg[128];
	snprintf(msg, sizeof msg, "m2.rml: %lld features, the statistics have %lld", (long long)dim,
		 (long long)dim + 1);
	assert_string_equal(err.msg, msg);
	got.n_units--;
	/* The score table and the AUROC report over datasets are what the
	 * steps give one by one; each set is reported to the callback. */
	float sc[16], en[16], cf[16];
	int32_t pr[16];
	assert_int_equal(rml_coact_score_images(m, &got, d.images, 8, 3, sc, en, cf, pr, NULL, &err), RML_OK);
	rml_outbuf want_text, got_text;
	rml_outbuf_init(&want_text);
	rml_outbuf_init(&got_text);
	rml_coact_score_text(&want_text, sc, en, cf, pr, d.labels, 8);
	int64_t sets[3] = { 0 };
	assert_int_equal(rml_coact_report_datasets(m, &got, &d, NULL, NULL, 3, 0, seen, sets, &got_text, &err),
			 RML_OK);
	assert_string_equal(rml_out_str(&got_text), rml_out_str(&want_text));
	assert_int_equal(sets[0], 1);
	assert_int_equal(sets[1], 8);
	rml_outbuf_free(&want_text);
	rml_outbuf_free(&got_text);
	rml_dataset ood;
	rml_dataset_init(&ood);
	assert_int_equal(rml_dataset_alloc(&ood, 5, 32, 32, 3, &err), RML_OK);
	images(ood.images, 5 * 32 * 32 * 3);
	for (int64_t i = 0; i < 5 * 32 * 32 * 3; i++)
		ood.images[i] = (uint8_t)(255 - ood.images[i]);
	assert_int_equal(rml_coact_score_images(m, &got, ood.images, 5, 3, sc + 8, en + 8, cf + 8, pr + 8, NULL,
						&err), RML_OK);
	double aus[3];
	assert_int_equal(rml_coact_auroc(sc, en, cf, 8, 5, aus, &err), RML_OK);
	rml_coact_auroc_text(&want_text, 1, 8, 5, aus);
	memset(sets, 0, sizeof sets);
	assert_int_equal(rml_coact_report_datasets(m, &got, &d, m, &ood, 3, 1, seen, sets, &got_text, &err),
			 RML_OK);
	assert_string_equal(rml_out_str(&got_text), rml_out_str(&want_text));
	assert_int_equal(sets[0], 2);
	assert_int_equal(sets[2], 5);
	rml_outbuf_free(&want_text);
	rml_outbuf_free(&got_text);
	rml_dataset_free(&ood);
	rml_coact_free(&got);
	free(f);
	rml_dataset_free(&d);
	rml_model_free(m);

	float score[2] = { 0, 3 }, ent[2] = { 0.5f, 1.25f }, conf[2] = { 0.75f, 0.125f };
	int32_t pred[2] = { 1, 2 }, labels[2] = { 1, -1 };
	rml_outbuf o;
	rml_outbuf_init(&o);
	rml_coact_score_text(&o, score, ent, conf, pred, labels, 2);
	assert_string_equal(rml_out_str(&o), "coact_score\tentropy\tconfidence\tpredicted\tlabel\n"
					     "0\t0.5\t0.75\t1\t1\n3\t1.25\t0.125\t2\t-1\n");
	rml_outbuf_free(&o);
	double au[3] = { 0.5, NAN, 0.25 };
	rml_coact_auroc_text(&o, 1, 10, 5, au);
	assert_string_equal(rml_out_str(&o), "{\"n_id\":10,\"n_ood\":5,\"auroc_coact\":0.500000,"
					     "\"auroc_entropy\":null,\"auroc_confidence\":0.250000}\n");
	rml_outbuf_free(&o);
	rml_coact_auroc_text(&o, 0, 10, 5, au);
	assert_string_equal(rml_out_str(&o), "n_id\tn_ood\tauroc_coact\tauroc_entropy\tauroc_confidence\n"
					     "10\t5\t0.5000\tnan\t0.2500\n");
	rml_outbuf_free(&o);
}

int main(void)
{
	rml_set_threads(1);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fit_and_score),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_features_are_head_input),
		cmocka_unit_test(test_in_model_file),
		cmocka_unit_test(test_damaged),
		cmocka_unit_test(test_score_images_and_auroc),
		cmocka_unit_test(test_datasets_and_text),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
