/*
 * test_calib.c — the calibrators against independent numpy
 * implementations (scripts/ref_calib.py: BBQ with 10 bins and the full
 * ensemble, histogram binning both ways, isotonic regression, temperature
 * scaling, beta calibration, the top-label redistribution, the rejection
 * threshold), small cases worked by hand, the properties every output
 * must have (rows in [0,1] summing to 1, predicted class kept, lower ECE
 * or NLL after calibration on the fitting set), every degenerate data set
 * the brief lists (n = 0 and 1, one class, all right, all wrong, constant
 * confidence, NaN rows, bad labels and options), and the parameter group
 * in a file, round trip and hostile variants.
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
#include "format.h"
#include "metrics.h"

#define NEAR(a, b, tol) assert_true(fabs((double)(a) - (double)(b)) <= (tol))

/* ---- reference data ---------------------------------------------------- */

typedef struct {
	int64_t n, k;
	float *logits, *probs;
	int32_t *labels;
} refdata;

typedef struct {
	char name[64];
	int64_t count;
	double *v;
} refline;

static refdata D;
static refline E[64];
static int n_e;

static int load_refs(void **state)
{
	(void)state;
	FILE *fp = fopen("testdata/ref/calib/data.txt", "r");
	if (!fp)
		return -1;
	char buf[256];
	if (!fgets(buf, sizeof buf, fp) || fscanf(fp, "%lld %lld", (long long *)&D.n,
						  (long long *)&D.k) != 2) {
		fclose(fp);
		return -1;
	}
	D.logits = malloc(sizeof(float) * (size_t)(D.n * D.k));
	D.probs = malloc(sizeof(float) * (size_t)(D.n * D.k));
	D.labels = malloc(sizeof(int32_t) * (size_t)D.n);
	for (int64_t i = 0; i < D.n; i++) {
		int y;
		if (fscanf(fp, "%d", &y) != 1)
			return -1;
		D.labels[i] = y;
		for (int64_t j = 0; j < D.k; j++)
			if (fscanf(fp, "%f", &D.logits[i * D.k + j]) != 1)
				return -1;
		for (int64_t j = 0; j < D.k; j++)
			if (fscanf(fp, "%f", &D.probs[i * D.k + j]) != 1)
				return -1;
	}
	fclose(fp);
	fp = fopen("testdata/ref/calib/expect.txt", "r");
	if (!fp)
		return -1;
	if (!fgets(buf, sizeof buf, fp)) {
		fclose(fp);
		return -1;
	}
	long long cnt;
	while (n_e < 64 && fscanf(fp, "%63s %lld", E[n_e].name, &cnt) == 2) {
		E[n_e].count = cnt;
		E[n_e].v = malloc(sizeof(double) * (size_t)cnt);
		for (long long i = 0; i < cnt; i++)
			if (fscanf(fp, "%lf", &E[n_e].v[i]) != 1)
				return -1;
		n_e++;
	}
	fclose(fp);
	return 0;
}

static int free_refs(void **state)
{
	(void)state;
	free(D.logits);
	free(D.probs);
	free(D.labels);
	for (int i = 0; i < n_e; i++)
		free(E[i].v);
	return 0;
}

static const refline *ref(const char *name)
{
	for (int i = 0; i < n_e; i++)
		if (strcmp(E[i].name, name) == 0)
			return &E[i];
	fail_msg("reference line %s missing (run scripts/ref_calib.py)", name);
	return NULL;
}

/* Largest |map(grid) - expected| for a calibrator. */
static double map_diff(const rml_calib *c, const char *name)
{
	const refline *g = ref("grid"), *want = ref(name);
	assert_int_equal(g->count, want->count);
	double worst = 0;
	for (int64_t i = 0; i < g->count; i++) {
		double d = fabs(rml_calib_map(c, g->v[i]) - want->v[i]);
		if (d > worst)
			worst = d;
	}
	print_message("%-12s max |C - numpy| = %.3g\n", name, worst);
	return worst;
}

static void fit_ok(rml_calib *c, rml_calib_method m, const rml_calib_opts *o)
{
	rml_error e = { 0 };
	rml_status st = rml_calib_fit(c, m, D.probs, D.logits, D.labels, D.n, D.k, o, &e);
	if (st != RML_OK)
		fail_msg("fit %s: %s", rml_calib_method_name(m), e.msg);
}

/* ---- against numpy ----------------------------------------------------- */

static void test_ref_binning(void **state)
{
	(void)state;
	rml_calib c;
	rml_calib_init(&c);
	rml_calib_opts o;
	rml_calib_opts_default(&o);

	fit_ok(&c, RML_CALIB_HIST_WIDTH, &o);
	assert_true(map_diff(&c, "hist_width") < 1e-12);
	fit_ok(&c, RML_CALIB_HIST_MASS, &o);
	assert_true(map_diff(&c, "hist_mass") < 1e-12);
	const refline *edges = ref("hist_mass_edges");
	assert_int_equal(c.n_knots, edges->count);
	for (int64_t i = 0; i < c.n_knots; i++)
		NEAR(c.x[i], edges->v[i], 1e-15);

	fit_ok(&c, RML_CALIB_BBQ, &o);
	assert_int_equal(c.n_models, 1);
	assert_true(map_diff(&c, "bbq10") < 1e-12);

	o.bbq_ensemble = 1;
	fit_ok(&c, RML_CALIB_BBQ, &o);
	const refline *nm = ref("bbq_ens_nmodels"), *w = ref("bbq_ens_weights");
	assert_int_equal(c.n_models, (int64_t)nm->v[0]);
	for (int64_t i = 0; i < c.n_models; i++)
		NEAR(c.weights[i], w->v[i], 1e-9);
	assert_true(map_diff(&c, "bbq_ens") < 1e-9);

	fit_ok(&c, RML_CALIB_ISOTONIC, NULL);
	assert_true(map_diff(&c, "isotonic") < 1e-12);
	rml_calib_free(&c);
}

static void test_ref_temperature_beta(void **state)
{
	(void)state;
	rml_calib c;
	rml_calib_init(&c);
	rml_error e;
	fit_ok(&c, RML_CALIB_TEMPERATURE, NULL);
	double T = c.scalars[0];
	print_message("temperature %.9f (numpy golden section %.9f)\n", T,
		      ref("temperature")->v[0]);
	NEAR(T, ref("temperature")->v[0], 1e-6);
	/* Applied to logits: softmax(z/T) of the first five rows. */
	float out[5 * 5];
	assert_int_equal(rml_calib_apply(&c, D.probs, D.logits, 5, D.k, out, &e), RML_OK);
	const refline *a5 = ref("temperature_apply5");
	for (int i = 0; i < 25; i++)
		NEAR(out[i], a5->v[i], 2e-6);

	/* Without logits it works on log-probabilities. */
	assert_int_equal(rml_calib_fit(&c, RML_CALIB_TEMPERATURE, D.probs, NULL, D.labels, D.n,
				       D.k, NULL, &e),
			 RML_OK);
	NEAR(c.scalars[0], ref("temperature_logp")->v[0], 1e-6);

	fit_ok(&c, RML_CALIB_BETA, NULL);
	const refline *bp = ref("beta_params");
	print_message("beta a %.6f b %.6f c %.6f (numpy %.6f %.6f %.6f)\n", c.scalars[0],
		      c.scalars[1], c.scalars[2], bp->v[0], bp->v[1], bp->v[2]);
	for (int i = 0; i < 3; i++)
		NEAR(c.scalars[i], bp->v[i], 1e-6 * (1 + fabs(bp->v[i])));
	assert_true(map_diff(&c, "beta") < 1e-7);
	rml_calib_free(&c);
}

static void test_ref_apply_and_reject(void **state)
{
	(void)state;
	rml_calib c;
	rml_calib_init(&c);
	rml_error e;
	fit_ok(&c, RML_CALIB_BBQ, NULL);
	float out[25];
	assert_int_equal(rml_calib_apply(&c, D.probs, NULL, 5, D.k, out, &e), RML_OK);
	const refline *a5 = ref("bbq10_apply5");
	for (int i = 0; i < 25; i++)
		NEAR(out[i], a5->v[i], 1e-6);
	rml_calib_free(&c);

	rml_reject_choice r;
	const refline *want = ref("reject_entropy_max0.2");
	assert_int_equal(rml_calib_choose_reject(D.probs, D.labels, D.n, D.k, RML_REJECT_ENTROPY,
						 0.2, -1, &r, &e),
			 RML_OK);
	assert_int_equal(r.n_rejected, (int64_t)want->v[0]);
	NEAR(r.acc2, want->v[1], 1e-12);
	want = ref("reject_confidence_max0.2");
	assert_int_equal(rml_calib_choose_reject(D.probs, D.labels, D.n, D.k,
						 RML_REJECT_CONFIDENCE, 0.2, -1, &r, &e),
			 RML_OK);
	assert_int_equal(r.n_rejected, (int64_t)want->v[0]);
	NEAR(r.acc2, want->v[1], 1e-12);
	want = ref("reject_entropy_cov0.9");
	assert_int_equal(rml_calib_choose_reject(D.probs, D.labels, D.n, D.k, RML_REJECT_ENTROPY,
						 0, 0.9, &r, &e),
			 RML_OK);
	assert_int_equal(r.n_rejected, (int64_t)want->v[0]);
	NEAR(r.acc2, want->v[1], 1e-12);
}

/* ---- properties on the reference set --------------------------------------- */

/* Every method: rows in [0,1] summing to 1, the predicted class unchanged
 * for top-label methods, and the calibration error on the fitting set no
 * larger than before (ECE for binning-type maps, NLL for temperature). */
static void test_properties(void **state)
{
	(void)state;
	int64_t n = D.n, k = D.k;
	float *out = malloc(sizeof(float) * (size_t)(n * k));
	float *conf = malloc(sizeof(float) * (size_t)n);
	int32_t *pred0 = malloc(sizeof(int32_t) * (size_t)n);
	int32_t *pred1 = malloc(sizeof(int32_t) * (size_t)n);
	uint8_t *ok = malloc((size_t)n);
	assert_non_null(out);
	assert_non_null(ok);
	rml_top1(D.probs, n, k, pred0, conf);
	for (int64_t i = 0; i < n; i++)
		ok[i] = pred0[i] == D.labels[i];
	double ece0 = rml_ece(conf, ok, n, 10, RML_BINS_MASS);
	for (int m = 0; m < RML_CALIB_COUNT; m++) {
		for (int ens = 0; ens < (m == RML_CALIB_BBQ ? 2 : 1); ens++) {
			rml_calib c;
			rml_calib_init(&c);
			rml_calib_opts o;
			rml_calib_opts_default(&o);
			o.bbq_ensemble = ens;
			fit_ok(&c, (rml_calib_method)m, &o);
			rml_error e;
			assert_int_equal(rml_calib_apply(&c, D.probs, D.logits, n, k, out, &e),
					 RML_OK);
			for (int64_t i = 0; i < n; i++) {
				double s = 0;
				for (int64_t j = 0; j < k; j++) {
					assert_true(out[i * k + j] >= 0 && out[i * k + j] <= 1);
					s += out[i * k + j];
				}
				if (fabs(s - 1) > 2e-6)
					fail_msg("%s row %lld sums to %.9g", rml_calib_method_name(m),
						 (long long)i, s);
			}
			rml_top1(out, n, k, pred1, conf);
			if (m != RML_CALIB_TEMPERATURE)
				assert_memory_equal(pred0, pred1, sizeof(int32_t) * (size_t)n);
			double ece1 = rml_ece(conf, ok, n, 10, RML_BINS_MASS);
			print_message("%-11s%s ECE %.4f -> %.4f\n", rml_calib_method_name(m),
				      ens ? "+ens" : "    ", ece0, ece1);
			assert_true(ece1 < ece0);
			rml_calib_free(&c);
		}
	}
	/* Temperature scaling lowers the NLL of the in-distribution rows. */
	int64_t nid = 0;
	while (nid < n && D.labels[nid] >= 0)
		nid++;
	rml_calib c;
	rml_calib_init(&c);
	rml_error e;
	assert_int_equal(rml_calib_fit(&c, RML_CALIB_TEMPERATURE, D.probs, D.logits, D.labels,
				       nid, k, NULL, &e),
			 RML_OK);
	assert_int_equal(rml_calib_apply(&c, D.probs, D.logits, nid, k, out, &e), RML_OK);
	double nll0 = rml_nll(D.probs, D.labels, nid, k), nll1 = rml_nll(out, D.labels, nid, k);
	print_message("temperature T %.4f NLL %.4f -> %.4f\n", c.scalars[0], nll0, nll1);
	assert_true(nll1 < nll0);
	/* Applying in place gives the same as into another buffer. */
	float *inplace = malloc(sizeof(float) * (size_t)(n * k));
	assert_non_null(inplace);
	memcpy(inplace, D.probs, sizeof(float) * (size_t)(n * k));
	assert_int_equal(rml_calib_apply(&c, inplace, D.logits, nid, k, inplace, &e), RML_OK);
	assert_memory_equal(inplace, out, sizeof(float) * (size_t)(nid * k));
	rml_calib_free(&c);
	free(inplace);
	free(out);
	free(conf);
	free(pred0);
	free(pred1);
	free(ok);
}

/* ---- worked by hand ------------------------------------------------------ */

/* Rows of k classes whose top class 0 has confidence conf[i]; the label is
 * 0 when ok[i], else 1. */
static void make_rows(const double *conf, const int *ok, int n, int k, float *p, int32_t *y)
{
	for (int i = 0; i < n; i++) {
		for (int j = 0; j < k; j++)
			p[i * k + j] = (float)((1 - conf[i]) / (k - 1));
		p[i * k] = (float)conf[i];
		y[i] = ok[i] ? 0 : 1;
	}
}

static void test_by_hand(void **state)
{
	(void)state;
	enum { K = 10 };
	float p[8 * K];
	int32_t y[8];
	rml_calib c;
	rml_calib_init(&c);
	rml_calib_opts o;
	rml_calib_opts_default(&o);
	rml_error e;

	/* BBQ, one bin, 3 of 4 right: prior Beta(1,1) (N' = 2, p_b = 1/2),
	 * posterior mean (3+1)/(4+2). */
	double c4[4] = { 0.3, 0.4, 0.6, 0.7 };
	int ok4[4] = { 1, 1, 0, 1 };
	make_rows(c4, ok4, 4, K, p, y);
	o.n_bins = 1;
	assert_int_equal(rml_calib_fit(&c, RML_CALIB_BBQ, p, NULL, y, 4, K, &o, &e), RML_OK);
	NEAR(rml_calib_map(&c, 0.5), 4.0 / 6.0, 1e-12);

	/* BBQ, two bins over 0.2 0.3 | 0.7 0.8 (wrong, wrong | right, right):
	 * edge 0.5; bin 1 has p_b 0.25, alpha 0.25, value 0.25/3; bin 2 has
	 * p_b 0.75, value 2.75/3. */
	double c2[4] = { 0.2, 0.3, 0.7, 0.8 };
	int ok2[4] = { 0, 0, 1, 1 };
	make_rows(c2, ok2, 4, K, p, y);
	o.n_bins = 2;
	assert_int_equal(rml_calib_fit(&c, RML_CALIB_BBQ, p, NULL, y, 4, K, &o, &e), RML_OK);
	NEAR(c.x[0], 0.5, 1e-7);
	NEAR(rml_calib_map(&c, 0.1), 0.25 / 3, 1e-12);
	NEAR(rml_calib_map(&c, 0.9), 2.75 / 3, 1e-12);
	/* Equal-mass histogram: plain accuracies 0 and 1. */
	assert_int_equal(rml_calib_fit(&c, RML_CALIB_HIST_MASS, p, NULL, y, 4, K, &o, &e),
			 RML_OK);
	NEAR(rml_calib_map(&c, 0.45), 0, 0);
	NEAR(rml_calib_map(&c, 0.55), 1, 0);
	/* Equal-width histogram with 4 bins: [0,.25) holds 0.2 (wrong),
	 * [.25,.5) 0.3 (wrong), [.5,.75) 0.7 (right), [.75,1] 0.8 (right). */
	o.n_bins = 4;
	assert_int_equal(rml_calib_fit(&c, RML_CALIB_HIST_WIDTH, p, NULL, y, 4, K, &o, &e),
			 RML_OK);
	NEAR(rml_calib_map(&c, 0.3), 0, 0);
	NEAR(rml_calib_map(&c, 1.0), 1, 0);
	/* Empty bins keep their centre: 5 bins, nothing in [0.4, 0.6). */
	o.n_bins = 5;
	assert_int_equal(rml_calib_fit(&c, RML_CALIB_HIST_WIDTH, p, NULL, y, 4, K, &o, &e),
			 RML_OK);
	NEAR(rml_calib_map(&c, 0.45), 0.5, 1e-12);

	/* Isotonic: 0.1 R, 0.2 W, 0.3 R, 0.4 W pools pairwise to 0.5, 0.5; ties
	 * at 0.2 (R, W) are one point of weight 2. */
	double ci[4] = { 0.15, 0.2, 0.3, 0.4 };
	int oki[4] = { 1, 0, 1, 0 };
	make_rows(ci, oki, 4, K, p, y);
	assert_int_equal(rml_calib_fit(&c, RML_CALIB_ISOTONIC, p, NULL, y, 4, K, NULL, &e),
			 RML_OK);
	for (double q = 0; q <= 1; q += 0.05)
		NEAR(rml_calib_map(&c, q), 0.5, 1e-12);
	double ct[3] = { 0.2, 0.2, 0.6 };
	int okt[3] = { 1, 0, 1 };
	make_rows(ct, okt, 3, K, p, y);
	assert_int_equal(rml_calib_fit(&c, RML_CALIB_ISOTONIC, p, NULL, y, 3, K, NULL, &e),
			 RML_OK);
	assert_int_equal(c.n_knots, 2);
	NEAR(rml_calib_map(&c, 0.1), 0.5, 1e-12);
	NEAR(rml_calib_map(&c, 0.4), 0.75, 1e-7);
	NEAR(rml_calib_map(&c, 0.9), 1, 1e-12);

	/* Temperature: 3 rows with logits (1,0) labelled 0 and one labelled 1:
	 * mean NLL (4 log(1+e^b) - 3b)/4 is least where sigmoid(b) = 3/4,
	 * b = ln 3, T = 1/ln 3. */
	float z[8] = { 1, 0, 1, 0, 1, 0, 1, 0 };
	float pz[8];
	for (int i = 0; i < 4; i++) {
		pz[2 * i] = (float)(1 / (1 + exp(-1.0)));
		pz[2 * i + 1] = 1 - pz[2 * i];
	}
	int32_t yz[4] = { 0, 0, 0, 1 };
	assert_int_equal(rml_calib_fit(&c, RML_CALIB_TEMPERATURE, pz, z, yz, 4, 2, NULL, &e),
			 RML_OK);
	NEAR(c.scalars[0], 1 / log(3.0), 1e-9);
	/* An out-of-distribution row is fitted towards uniform: with one
	 * OOD row beside (1,0) labelled 0 the minimum is where
	 * sigmoid(b) - 1 + sigmoid(b) - 1/2 = 0, sigmoid(b) = 3/4 again. */
	int32_t yo[2] = { 0, RML_CALIB_OOD };
	assert_int_equal(rml_calib_fit(&c, RML_CALIB_TEMPERATURE, pz, z, yo, 2, 2, NULL, &e),
			 RML_OK);
	NEAR(c.scalars[0], 1 / log(3.0), 1e-9);

	/* The top-label redistribution: (0.5, 0.3, 0.2) with the top mapped
	 * to 0.8 gives (0.8, 0.12, 0.08); mapped to 0.2 it is raised to
	 * 0.3/(1-0.5+0.3) = 0.375 so that class 1 does not overtake. */
	rml_calib h;
	rml_calib_init(&h);
	double cm[2] = { 0.5, 0.9 };
	int okm[2] = { 1, 1 };
	make_rows(cm, okm, 2, K, p, y);
	o.n_bins = 1;
	assert_int_equal(rml_calib_fit(&h, RML_CALIB_HIST_MASS, p, NULL, y, 2, K, &o, &e),
			 RML_OK);
	h.y[0] = 0.8;
	float row[3] = { 0.5f, 0.3f, 0.2f }, out[3];
	assert_int_equal(rml_calib_apply(&h, row, NULL, 1, 3, out, &e), RML_OK);
	NEAR(out[0], 0.8, 1e-7);
	NEAR(out[1], 0.12, 1e-7);
	NEAR(out[2], 0.08, 1e-7);
	h.y[0] = 0.2;
	assert_int_equal(rml_calib_apply(&h, row, NULL, 1, 3, out, &e), RML_OK);
	NEAR(out[0], 0.375, 1e-7);
	NEAR(out[1], 0.375, 1e-7);
	NEAR(out[0] + out[1] + out[2], 1, 1e-6);
	int32_t pr;
	rml_top1(out, 1, 3, &pr, NULL);
	assert_int_equal(pr, 0);
	/* Confidence 1: the rest is shared equally. */
	float one[3] = { 0, 1, 0 };
	h.y[0] = 0.7;
	assert_int_equal(rml_calib_apply(&h, one, NULL, 1, 3, out, &e), RML_OK);
	NEAR(out[1], 0.7, 1e-7);
	NEAR(out[0], 0.15, 1e-7);
	NEAR(out[2], 0.15, 1e-7);
	/* A broken row goes through unchanged. */
	float nanrow[3] = { NAN, 0.5f, 0.5f };
	assert_int_equal(rml_calib_apply(&h, nanrow, NULL, 1, 3, out, &e), RML_OK);
	assert_true(isnan(out[0]) && out[1] == 0.5f);
	rml_calib_free(&h);
	rml_calib_free(&c);
}

static void test_beta_recovers_model(void **state)
{
	(void)state;
	/* Correctness drawn from the beta map with a = 2, b = 0.5, c = 0.3 at
	 * confidences spread over [0.1, 1): the fit recovers the map. */
	enum { N = 4000, K = 10 };
	float *p = malloc(sizeof(float) * N * K);
	int32_t *y = malloc(sizeof(int32_t) * N);
	double *cf = malloc(sizeof(double) * N);
	int *ok = malloc(sizeof(int) * N);
	assert_non_null(p);
	rml_rng r;
	rml_rng_seed(&r, 9);
	for (int i = 0; i < N; i++) {
		cf[i] = 0.1 + 0.899 * rml_rng_uniform(&r);
		double eta = 2 * log(cf[i]) - 0.5 * log1p(-cf[i]) + 0.3;
		ok[i] = rml_rng_uniform(&r) < 1 / (1 + exp(-eta));
	}
	make_rows(cf, ok, N, K, p, y);
	rml_calib c;
	rml_calib_init(&c);
	rml_error e;
	assert_int_equal(rml_calib_fit(&c, RML_CALIB_BETA, p, NULL, y, N, K, NULL, &e), RML_OK);
	print_message("beta fit a %.3f b %.3f c %.3f (true 2, 0.5, 0.3)\n", c.scalars[0],
		      c.scalars[1], c.scalars[2]);
	for (double q = 0.15; q < 0.99; q += 0.1) {
		double eta = 2 * log(q) - 0.5 * log1p(-q) + 0.3;
		NEAR(rml_calib_map(&c, q), 1 / (1 + exp(-eta)), 0.05);
	}
	/* A decreasing relation breaks a >= 0: the refit pins a at 0. */
	for (int i = 0; i < N; i++)
		y[i] = (cf[i] < 0.5) == (rml_rng_uniform(&r) < 0.8) ? 0 : 1;
	assert_int_equal(rml_calib_fit(&c, RML_CALIB_BETA, p, NULL, y, N, K, NULL, &e), RML_OK);
	assert_true(c.scalars[0] >= 0 && c.scalars[1] >= 0);
	assert_true(c.scalars[0] == 0 || c.scalars[1] == 0);
	rml_calib_free(&c);
	free(p);
	free(y);
	free(cf);
	free(ok);
}

/* ---- degenerate and rejected data ------------------------------------------ */

static void check_finite_map(const rml_calib *c)
{
	for (int i = 0; i <= 100; i++) {
		double q = i / 100.0, v = rml_calib_map(c, q);
		if (!(isfinite(v) && v >= 0 && v <= 1))
			fail_msg("%s maps %g to %g", rml_calib_method_name(c->method), q, v);
	}
}

static void test_degenerate(void **state)
{
	(void)state;
	enum { K = 4, N = 6 };
	float p[N * K];
	int32_t y[N];
	rml_calib c;
	rml_calib_init(&c);
	rml_error e;
	rml_calib_opts ens;
	rml_calib_opts_default(&ens);
	ens.bbq_ensemble = 1;
	double cf[N] = { 0.3, 0.4, 0.5, 0.6, 0.7, 0.9 };
	int all1[N] = { 1, 1, 1, 1, 1, 1 }, all0[N] = { 0 };

	for (int m = 0; m < RML_CALIB_COUNT; m++) {
		for (int en = 0; en < 2; en++) {
			const rml_calib_opts *o = en ? &ens : NULL;
			if (en && m != RML_CALIB_BBQ)
				continue;
			/* n = 0 and k = 1 are refused. */
			assert_int_equal(rml_calib_fit(&c, m, p, NULL, y, 0, K, o, &e), RML_ERR_ARG);
			assert_non_null(strstr(e.msg, "no calibration examples"));
			assert_int_equal(rml_calib_fit(&c, m, p, NULL, y, N, 1, o, &e), RML_ERR_ARG);
			assert_non_null(strstr(e.msg, "2 classes"));

			/* All right: maps towards 1; all wrong: towards 0. */
			make_rows(cf, all1, N, K, p, y);
			assert_int_equal(rml_calib_fit(&c, m, p, NULL, y, N, K, o, &e), RML_OK);
			check_finite_map(&c);
			if (m == RML_CALIB_TEMPERATURE)
				NEAR(c.scalars[0], 0.01, 1e-12);
			else if (m == RML_CALIB_BBQ)
				assert_true(rml_calib_map(&c, 0.6) > 0.7 &&
					    rml_calib_map(&c, 0.6) < 1);
			else if (m == RML_CALIB_BETA)
				assert_true(rml_calib_map(&c, 0.6) > 0.99);
			else
				NEAR(rml_calib_map(&c, 0.6), 1, 0);
			make_rows(cf, all0, N, K, p, y);
			assert_int_equal(rml_calib_fit(&c, m, p, NULL, y, N, K, o, &e), RML_OK);
			check_finite_map(&c);
			if (m == RML_CALIB_TEMPERATURE)
				NEAR(c.scalars[0], 100, 1e-12);
			else if (m == RML_CALIB_BBQ)
				assert_true(rml_calib_map(&c, 0.6) > 0 &&
					    rml_calib_map(&c, 0.6) < 0.3);
			else if (m == RML_CALIB_BETA)
				assert_true(rml_calib_map(&c, 0.6) < 0.01);
			else
				NEAR(rml_calib_map(&c, 0.6), 0, 0);

			/* Constant confidence, 4 of 6 right: one bin, one knot. */
			double cc[N] = { 0.6, 0.6, 0.6, 0.6, 0.6, 0.6 };
			int ok[N] = { 1, 0, 1, 1, 0, 1 };
			make_rows(cc, ok, N, K, p, y);
			assert_int_equal(rml_calib_fit(&c, m, p, NULL, y, N, K, o, &e), RML_OK);
			check_finite_map(&c);
			if (m == RML_CALIB_ISOTONIC || m == RML_CALIB_HIST_MASS) {
				assert_int_equal(c.n_knots, 1);
				NEAR(rml_calib_map(&c, 0.6), 4.0 / 6, 1e-12);
			} else if (m == RML_CALIB_BETA) {
				NEAR(rml_calib_map(&c, 0.6), 4.0 / 6, 1e-3);
			}

			/* One example. */
			assert_int_equal(rml_calib_fit(&c, m, p, NULL, y, 1, K, o, &e), RML_OK);
			check_finite_map(&c);
			float out[K];
			assert_int_equal(rml_calib_apply(&c, p, NULL, 1, K, out, &e), RML_OK);
			double s = 0;
			for (int j = 0; j < K; j++) {
				assert_true(isfinite(out[j]));
				s += out[j];
			}
			NEAR(s, 1, 1e-6);

			/* Broken rows and labels are refused with the row named. */
			make_rows(cf, ok, N, K, p, y);
			p[2 * K + 1] = NAN;
			assert_int_equal(rml_calib_fit(&c, m, p, NULL, y, N, K, o, &e), RML_ERR_ARG);
			assert_non_null(strstr(e.msg, "row 2"));
			make_rows(cf, ok, N, K, p, y);
			p[3 * K] = 0.99f;
			assert_int_equal(rml_calib_fit(&c, m, p, NULL, y, N, K, o, &e), RML_ERR_ARG);
			assert_non_null(strstr(e.msg, "row 3"));
			assert_non_null(strstr(e.msg, "sums"));
			make_rows(cf, ok, N, K, p, y);
			p[K] = -0.1f;
			assert_int_equal(rml_calib_fit(&c, m, p, NULL, y, N, K, o, &e), RML_ERR_ARG);
			make_rows(cf, ok, N, K, p, y);
			y[4] = K;
			assert_int_equal(rml_calib_fit(&c, m, p, NULL, y, N, K, o, &e), RML_ERR_ARG);
			assert_non_null(strstr(e.msg, "row 4"));
			y[4] = -1;
			assert_int_equal(rml_calib_fit(&c, m, p, NULL, y, N, K, o, &e), RML_ERR_ARG);
			/* A failed fit leaves an empty calibrator, which apply refuses. */
			float out2[K];
			assert_int_equal(rml_calib_apply(&c, p, NULL, 1, K, out2, &e), RML_ERR_ARG);
		}
	}
	/* NaN logits for temperature scaling. */
	make_rows(cf, all1, N, K, p, y);
	float z[N * K] = { 0 };
	z[5] = NAN;
	assert_int_equal(rml_calib_fit(&c, RML_CALIB_TEMPERATURE, p, z, y, N, K, NULL, &e),
			 RML_ERR_ARG);
	assert_non_null(strstr(e.msg, "logits"));
	/* Bad options. */
	rml_calib_opts o;
	rml_calib_opts_default(&o);
	o.n_bins = 0;
	assert_int_equal(rml_calib_fit(&c, RML_CALIB_HIST_WIDTH, p, NULL, y, N, K, &o, &e),
			 RML_ERR_ARG);
	assert_non_null(strstr(e.msg, "bins"));
	rml_calib_opts_default(&o);
	o.bbq_prior_n = 0;
	assert_int_equal(rml_calib_fit(&c, RML_CALIB_BBQ, p, NULL, y, N, K, &o, &e), RML_ERR_ARG);
	rml_calib_opts_default(&o);
	o.bbq_ensemble = 1;
	o.bbq_c = 0.5;
	assert_int_equal(rml_calib_fit(&c, RML_CALIB_BBQ, p, NULL, y, N, K, &o, &e), RML_ERR_ARG);
	rml_calib_opts_default(&o);
	o.max_iter = 0;
	assert_int_equal(rml_calib_fit(&c, RML_CALIB_BETA, p, NULL, y, N, K, &o, &e), RML_ERR_ARG);
	assert_int_equal(rml_calib_fit(&c, (rml_calib_method)99, p, NULL, y, N, K, NULL, &e),
			 RML_ERR_ARG);
	assert_int_equal(rml_calib_fit(&c, RML_CALIB_BBQ, NULL, NULL, y, N, K, NULL, &e),
			 RML_ERR_ARG);
	assert_int_equal(rml_calib_fit(&c, RML_CALIB_BBQ, p, NULL, NULL, N, K, NULL, &e),
			 RML_ERR_ARG);
	rml_calib_method mm;
	assert_int_equal(rml_calib_method_parse("platt", &mm, &e), RML_ERR_ARG);
	assert_non_null(strstr(e.msg, "isotonic"));
	assert_int_equal(rml_calib_method_parse("hist-mass", &mm, &e), RML_OK);
	assert_int_equal(mm, RML_CALIB_HIST_MASS);
	rml_calib_free(&c);
}

/* ---- files ------------------------------------------------------------- */

static void test_file_round_trip(void **state)
{
	(void)state;
	rml_error e;
	for (int m = 0; m < RML_CALIB_COUNT; m++) {
		rml_calib c, back;
		rml_calib_init(&c);
		rml_calib_init(&back);
		rml_calib_opts o;
		rml_calib_opts_default(&o);
		o.bbq_ensemble = 1;
		fit_ok(&c, (rml_calib_method)m, &o);
		rml_file f;
		rml_file_init(&f);
		assert_int_equal(rml_set_str(&f, "kind", "model"), RML_OK);
		assert_int_equal(rml_calib_to_file(&c, &f, "calib.", &e), RML_OK);
		/* Through bytes, as a real file travels. */
		char *buf = NULL;
		size_t len = 0;
		FILE *mem = open_memstream(&buf, &len);
		assert_int_equal(rml_file_write(&f, mem, "mem", &e), RML_OK);
		fclose(mem);
		rml_file_free(&f);
		mem = fmemopen(buf, len, "rb");
		assert_int_equal(rml_file_read(&f, mem, "mem", &e), RML_OK);
		fclose(mem);
		free(buf);
		assert_int_equal(rml_calib_from_file(&back, &f, "calib.", &e), RML_OK);
		assert_int_equal(back.method, m);
		for (double q = 0; q <= 1; q += 0.01)
			assert_true(rml_calib_map(&back, q) == rml_calib_map(&c, q));
		assert_true(memcmp(back.scalars, c.scalars, sizeof c.scalars) == 0);
		/* A missing group under another prefix. */
		assert_int_equal(rml_calib_from_file(&back, &f, "other.", &e), RML_ERR_FORMAT);
		rml_file_free(&f);
		rml_calib_free(&c);
		rml_calib_free(&back);
	}
}

static void test_file_hostile(void **state)
{
	(void)state;
	rml_error e;
	rml_calib c, back;
	rml_calib_init(&c);
	rml_calib_init(&back);
	fit_ok(&c, RML_CALIB_ISOTONIC, NULL);
	assert_true(c.n_knots >= 3);
	rml_file f;
	rml_file_init(&f);
	enum { UNKNOWN, OFFSETS, DECREASING, NAN_Y, NEG_W, SHAPE, MISSING, N_CASES };
	for (int t = 0; t < N_CASES; t++) {
		rml_file_free(&f);
		assert_int_equal(rml_calib_to_file(&c, &f, "calib.", &e), RML_OK);
		switch (t) {
		case UNKNOWN:
			rml_set_str(&f, "calib.method", "magic");
			break;
		case OFFSETS:
			((int64_t *)rml_find_tensor(&f, "calib.offsets")->data)[1] += 1;
			break;
		case DECREASING: {
			double *x = rml_find_tensor(&f, "calib.x")->data;
			x[1] = x[0];
			break;
		}
		case NAN_Y:
			((double *)rml_find_tensor(&f, "calib.y")->data)[0] = NAN;
			break;
		case NEG_W:
			((double *)rml_find_tensor(&f, "calib.weights")->data)[0] = -1;
			break;
		case SHAPE: {
			int64_t two = 2;
			double v[2] = { 0, 0 };
			rml_add_tensor(&f, "calib.scalars", RML_DTYPE_F64, 1, &two, v, &e);
			break;
		}
		case MISSING: {
			/* A group without its offsets, x and y. */
			rml_file g;
			rml_file_init(&g);
			int64_t one = 1;
			double s[3] = { 0 };
			rml_set_str(&g, "calib.method", "isotonic");
			rml_add_tensor(&g, "calib.scalars", RML_DTYPE_F64, 1, (int64_t[]){ 3 }, s, &e);
			rml_add_tensor(&g, "calib.weights", RML_DTYPE_F64, 1, &one, (double[]){ 1 }, &e);
			rml_file_free(&f);
			f = g;
			break;
		}
		}
		assert_int_equal(rml_calib_from_file(&back, &f, "calib.", &e), RML_ERR_FORMAT);
		print_message("hostile %d: %s\n", t, e.msg);
		assert_int_equal(back.n_models, 0);
	}
	/* Offsets that pass the first and last checks but jump past the knots
	 * in the middle (0, 100, 10): refused before any knot is read (the
	 * sanitizer build caught a heap over-read here). */
	rml_file_free(&f);
	{
		double s3[3] = { 0 }, w2[2] = { 1, 1 }, x10[10], y10[10];
		int64_t off3[3] = { 0, 100, 10 };
		for (int i = 0; i < 10; i++)
			x10[i] = y10[i] = i / 10.0;
		rml_set_str(&f, "calib.method", "bbq");
		rml_add_tensor(&f, "calib.scalars", RML_DTYPE_F64, 1, (int64_t[]){ 3 }, s3, &e);
		rml_add_tensor(&f, "calib.offsets", RML_DTYPE_I64, 1, (int64_t[]){ 3 }, off3, &e);
		rml_add_tensor(&f, "calib.weights", RML_DTYPE_F64, 1, (int64_t[]){ 2 }, w2, &e);
		rml_add_tensor(&f, "calib.x", RML_DTYPE_F64, 1, (int64_t[]){ 10 }, x10, &e);
		rml_add_tensor(&f, "calib.y", RML_DTYPE_F64, 1, (int64_t[]){ 10 }, y10, &e);
		assert_int_equal(rml_calib_from_file(&back, &f, "calib.", &e), RML_ERR_FORMAT);
		assert_non_null(strstr(e.msg, "offsets"));
		/* and the same arrays with sane offsets are accepted */
		((int64_t *)rml_find_tensor(&f, "calib.offsets")->data)[1] = 5;
		assert_int_equal(rml_calib_from_file(&back, &f, "calib.", &e), RML_OK);
		rml_calib_free(&back);
	}
	/* Temperature outside its range and negative beta parameters. */
	rml_file_free(&f);
	rml_calib t;
	rml_calib_init(&t);
	t.method = RML_CALIB_TEMPERATURE;
	t.scalars[0] = 0;
	assert_int_equal(rml_calib_to_file(&t, &f, "calib.", &e), RML_OK);
	assert_int_equal(rml_calib_from_file(&back, &f, "calib.", &e), RML_ERR_FORMAT);
	assert_non_null(strstr(e.msg, "temperature"));
	t.method = RML_CALIB_BETA;
	t.scalars[0] = -1;
	rml_file_free(&f);
	assert_int_equal(rml_calib_to_file(&t, &f, "calib.", &e), RML_OK);
	assert_int_equal(rml_calib_from_file(&back, &f, "calib.", &e), RML_ERR_FORMAT);
	/* An unfitted piecewise calibrator is not written. */
	rml_calib empty;
	rml_calib_init(&empty);
	assert_int_equal(rml_calib_to_file(&empty, &f, "calib.", &e), RML_ERR_ARG);
	rml_file_free(&f);
	rml_calib_free(&c);
	rml_calib_free(&back);
}

/* ---- rejection threshold --------------------------------------------------- */

static void test_reject_by_hand(void **state)
{
	(void)state;
	enum { K = 4 };
	/* Confidences 0.3 (W) 0.4 (R) 0.5 (W) 0.5 (W) 0.7 (R) 0.9 (R). */
	double cf[6] = { 0.3, 0.4, 0.5, 0.5, 0.7, 0.9 };
	int ok[6] = { 0, 1, 0, 0, 1, 1 };
	float p[6 * K];
	int32_t y[6];
	make_rows(cf, ok, 6, K, p, y);
	rml_reject_choice r;
	rml_error e;
	/* Up to half rejected: rejecting 0.3 gives 3/5, then 0.4 too 2/4,
	 * then the tied 0.5s together (4 rows > 3 allowed). Best: 1 row. */
	assert_int_equal(rml_calib_choose_reject(p, y, 6, K, RML_REJECT_CONFIDENCE, 0.5, -1, &r,
						 &e),
			 RML_OK);
	assert_int_equal(r.n_rejected, 1);
	NEAR(r.acc2, 0.6, 1e-12);
	NEAR(r.acc1, 0.5, 1e-12);
	NEAR(r.threshold, 0.35, 1e-7);
	/* Up to 4 of 6: rejecting the first four leaves 2/2. */
	assert_int_equal(rml_calib_choose_reject(p, y, 6, K, RML_REJECT_CONFIDENCE, 0.7, -1, &r,
						 &e),
			 RML_OK);
	assert_int_equal(r.n_rejected, 4);
	NEAR(r.acc2, 1, 0);
	NEAR(r.threshold, 0.6, 1e-7);
	/* No rejection allowed: the threshold rejects nothing. */
	assert_int_equal(rml_calib_choose_reject(p, y, 6, K, RML_REJECT_ENTROPY, 0, -1, &r, &e),
			 RML_OK);
	assert_int_equal(r.n_rejected, 0);
	NEAR(r.acc2, 0.5, 1e-12);
	/* Coverage 0.5 wants 3 rejected, which would split the tie: 2 and 4
	 * are equally near; the smaller wins. */
	assert_int_equal(rml_calib_choose_reject(p, y, 6, K, RML_REJECT_ENTROPY, 0, 0.5, &r, &e),
			 RML_OK);
	assert_int_equal(r.n_rejected, 2);
	NEAR(r.coverage, 4.0 / 6, 1e-12);

	/* The chosen threshold does what it says under rml_predictions_reject. */
	for (int rule = RML_REJECT_ENTROPY; rule <= RML_REJECT_CONFIDENCE; rule++) {
		for (int t = 0; t < 3; t++) {
			double rate = t == 0 ? 0.2 : t == 1 ? 0.05 : 0.5;
			assert_int_equal(rml_calib_choose_reject(D.probs, D.labels, D.n, D.k,
								 (rml_reject_rule)rule, rate, -1,
								 &r, &e),
					 RML_OK);
			rml_predictions pr;
			rml_predictions_init(&pr);
			assert_int_equal(rml_predictions_alloc(&pr, D.n, D.k, &e), RML_OK);
			memcpy(pr.probs, D.probs, sizeof(float) * (size_t)(D.n * D.k));
			double used;
			assert_int_equal(rml_predictions_reject(&pr, (rml_reject_rule)rule,
								r.threshold, -1, &used, &e),
					 RML_OK);
			int64_t nrej = 0;
			for (int64_t i = 0; i < D.n; i++)
				nrej += pr.rejected[i];
			assert_int_equal(nrej, r.n_rejected);
			assert_true(r.reject_rate <= rate + 1e-12);
			rml_predictions_free(&pr);
		}
	}

	/* Refused. */
	assert_int_equal(rml_calib_choose_reject(p, y, 0, K, RML_REJECT_ENTROPY, 0.1, -1, &r, &e),
			 RML_ERR_ARG);
	assert_int_equal(rml_calib_choose_reject(p, y, 6, 1, RML_REJECT_ENTROPY, 0.1, -1, &r, &e),
			 RML_ERR_ARG);
	assert_int_equal(rml_calib_choose_reject(p, y, 6, K, RML_REJECT_NONE, 0.1, -1, &r, &e),
			 RML_ERR_ARG);
	assert_int_equal(rml_calib_choose_reject(p, y, 6, K, RML_REJECT_ENTROPY, 1, -1, &r, &e),
			 RML_ERR_ARG);
	assert_int_equal(rml_calib_choose_reject(p, y, 6, K, RML_REJECT_ENTROPY, NAN, -1, &r, &e),
			 RML_ERR_ARG);
	assert_int_equal(rml_calib_choose_reject(p, y, 6, K, RML_REJECT_ENTROPY, 0, 1.5, &r, &e),
			 RML_ERR_ARG);
	assert_non_null(strstr(e.msg, "coverage"));
	p[K] = NAN;
	assert_int_equal(rml_calib_choose_reject(p, y, 6, K, RML_REJECT_ENTROPY, 0.1, -1, &r, &e),
			 RML_ERR_ARG);
	assert_non_null(strstr(e.msg, "row 1"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ref_binning),
		cmocka_unit_test(test_ref_temperature_beta),
		cmocka_unit_test(test_ref_apply_and_reject),
		cmocka_unit_test(test_properties),
		cmocka_unit_test(test_by_hand),
		cmocka_unit_test(test_beta_recovers_model),
		cmocka_unit_test(test_degenerate),
		cmocka_unit_test(test_file_round_trip),
		cmocka_unit_test(test_file_hostile),
		cmocka_unit_test(test_reject_by_hand),
	};
	return cmocka_run_group_tests_name("calib", tests, load_refs, free_refs);
}
