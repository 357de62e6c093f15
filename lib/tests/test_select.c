/*
 * test_select.c — the active-learning selection (select.h) against an
 * independent computation: testdata/ref/select.rml (scripts/ref_select.py,
 * numpy in float64, entropy rounded to float32 as stored) holds
 * probabilities with exact ties, one-hot, uniform and non-finite rows,
 * and for each measure the uncertainty of every row and the order
 * most-uncertain-first with ties by index. Orders must match exactly,
 * values to 1e-12. Then the selection on a small dataset:
 * the count and the rounding of a fraction, selected and rest disjoint and
 * covering, labels from the dataset, and each refused input.
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

#include "fixtures.h"
#include "format.h"
#include "select.h"

static rml_file ref;
static int64_t n_ref, k_ref;
static const float *probs_ref;

static int setup(void **state)
{
	(void)state;
	char path[512];
	rml_fx_path(path, sizeof path, "ref/select.rml");
	rml_error err = { 0 };
	if (rml_file_load(&ref, path, &err)) {
		fprintf(stderr, "%s\n", err.msg);
		return -1;
	}
	rml_tensor *t = rml_expect_tensor(&ref, "probs", RML_DTYPE_F32, 2, &err);
	if (!t)
		return -1;
	n_ref = t->dims[0];
	k_ref = t->dims[1];
	probs_ref = t->data;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	rml_file_free(&ref);
	return 0;
}

static void check_measure(rml_uncertainty u)
{
	char name[64];
	rml_error err = { 0 };
	snprintf(name, sizeof name, "order_%s", rml_uncertainty_name(u));
	rml_tensor *to = rml_expect_tensor(&ref, name, RML_DTYPE_I64, 1, &err);
	snprintf(name, sizeof name, "unc_%s", rml_uncertainty_name(u));
	rml_tensor *tu = rml_expect_tensor(&ref, name, RML_DTYPE_F64, 1, &err);
	assert_non_null(to);
	assert_non_null(tu);
	const int64_t *want = to->data;
	const double *uw = tu->data;
	int64_t *order = malloc((size_t)n_ref * sizeof *order);
	double *unc = malloc((size_t)n_ref * sizeof *unc);
	assert_int_equal(rml_uncertainty_order(probs_ref, n_ref, k_ref, u, order, &err), RML_OK);
	rml_uncertainty_compute(probs_ref, n_ref, k_ref, u, unc);
	for (int64_t i = 0; i < n_ref; i++) {
		if (order[i] != want[i])
			fail_msg("%s: position %lld has row %lld, numpy %lld", rml_uncertainty_name(u),
				 (long long)i, (long long)order[i], (long long)want[i]);
		if (isinf(uw[i]))
			assert_true(isinf(unc[i]) && unc[i] > 0);
		else if (fabs(unc[i] - uw[i]) > 1e-12)
			fail_msg("%s: row %lld: %.17g, numpy %.17g", rml_uncertainty_name(u),
				 (long long)i, unc[i], uw[i]);
	}
	free(order);
	free(unc);
}

static void test_entropy_vs_numpy(void **state) { (void)state; check_measure(RML_UNC_ENTROPY); }
static void test_confidence_vs_numpy(void **state) { (void)state; check_measure(RML_UNC_CONFIDENCE); }
static void test_margin_vs_numpy(void **state) { (void)state; check_measure(RML_UNC_MARGIN); }

/* A dataset of the reference's rows, image i filled with the byte i, label
 * i % k; predictions = the reference probabilities with those labels. */
static void make_pair(rml_dataset *d, rml_predictions *p, int64_t n)
{
	rml_error err = { 0 };
	rml_dataset_init(d);
	assert_int_equal(rml_dataset_alloc(d, n, 2, 2, 1, &err), RML_OK);
	const char *names[10] = { "a", "b", "c", "d", "e", "f", "g", "h", "i", "j" };
	assert_int_equal(rml_dataset_set_classes(d, names, (int)k_ref, &err), RML_OK);
	for (int64_t i = 0; i < n; i++) {
		memset(d->images + i * 4, (int)(i & 0xff), 4);
		d->labels[i] = (int32_t)(i % k_ref);
	}
	rml_predictions_init(p);
	assert_int_equal(rml_predictions_alloc(p, n, k_ref, &err), RML_OK);
	memcpy(p->probs, probs_ref, (size_t)(n * k_ref) * sizeof *p->probs);
	for (int64_t i = 0; i < n; i++)
		p->labels[i] = d->labels[i];
}

static void test_select_top(void **state)
{
	(void)state;
	rml_dataset d, sel, rest;
	rml_predictions p;
	rml_selection s;
	rml_error err = { 0 };
	make_pair(&d, &p, n_ref);
	const int64_t *want = rml_find_tensor(&ref, "order_entropy")->data;
	/* 10% of 240 = 24. */
	assert_int_equal(rml_dataset_select_uncertain(&d, &p, RML_UNC_ENTROPY, 0.1, 0, &sel, &rest,
						      &s, &err), RML_OK);
	assert_int_equal(s.n_selected, 24);
	assert_int_equal(s.n_rest, 216);
	assert_int_equal(sel.n, 24);
	assert_int_equal(rest.n, 216);
	char *seen = calloc((size_t)n_ref, 1);
	for (int64_t i = 0; i < s.n_selected; i++) {
		seen[s.selected[i]]++;
		if (i)
			assert_true(s.selected[i] > s.selected[i - 1]);  /* dataset order */
		assert_int_equal(sel.labels[i], d.labels[s.selected[i]]);
		assert_int_equal(sel.images[i * 4], (uint8_t)(s.selected[i] & 0xff));
	}
	for (int64_t i = 0; i < s.n_rest; i++) {
		seen[s.rest[i]]++;
		assert_int_equal(rest.labels[i], d.labels[s.rest[i]]);
	}
	for (int64_t i = 0; i < n_ref; i++)
		assert_int_equal(seen[i], 1);  /* disjoint and covering */
	/* Exactly the first 24 of numpy's order. */
	memset(seen, 0, (size_t)n_ref);
	for (int64_t i = 0; i < 24; i++)
		seen[want[i]] = 1;
	for (int64_t i = 0; i < s.n_selected; i++)
		assert_int_equal(seen[s.selected[i]], 1);
	free(seen);
	rml_selection_free(&s);
	rml_dataset_free(&sel);
	rml_dataset_free(&rest);
	/* A count; fraction rounding half away from zero (0.0125 x 240 = 3);
	 * no rest asked. */
	assert_int_equal(rml_dataset_select_uncertain(&d, &p, RML_UNC_MARGIN, 0, 7, &sel, NULL, &s,
						      &err), RML_OK);
	assert_int_equal(sel.n, 7);
	rml_selection_free(&s);
	rml_dataset_free(&sel);
	assert_int_equal(rml_dataset_select_uncertain(&d, &p, RML_UNC_CONFIDENCE, 0.0125, 0, &sel,
						      NULL, &s, &err), RML_OK);
	assert_int_equal(sel.n, 3);
	rml_selection_free(&s);
	rml_dataset_free(&sel);
	/* Unknown labels in the predictions are fine. */
	for (int64_t i = 0; i < p.n; i++)
		p.labels[i] = -1;
	assert_int_equal(rml_dataset_select_uncertain(&d, &p, RML_UNC_ENTROPY, 1, 0, &sel, NULL, &s,
						      &err), RML_OK);
	assert_int_equal(sel.n, n_ref);
	rml_selection_free(&s);
	rml_dataset_free(&sel);
	rml_predictions_free(&p);
	rml_dataset_free(&d);
}

static void test_select_refused(void **state)
{
	(void)state;
	rml_dataset d, d2, sel, rest;
	rml_predictions p, p2;
	rml_selection s;
	rml_error err = { 0 };
	make_pair(&d, &p, n_ref);
	make_pair(&d2, &p2, 100);
	/* Row count. */
	assert_int_equal(rml_dataset_select_uncertain(&d2, &p, RML_UNC_ENTROPY, 0.1, 0, &sel, &rest,
						      &s, &err), RML_ERR_MISMATCH);
	assert_non_null(strstr(err.msg, "240 rows"));
	assert_null(sel.images);
	assert_null(s.selected);
	/* A label that differs. */
	p.labels[17] = (p.labels[17] + 1) % 10;
	assert_int_equal(rml_dataset_select_uncertain(&d, &p, RML_UNC_ENTROPY, 0.1, 0, &sel, &rest,
						      &s, &err), RML_ERR_MISMATCH);
	assert_non_null(strstr(err.msg, "row 17"));
	p.labels[17] = d.labels[17];
	/* Class count. */
	d.n_classes = 9;
	assert_int_equal(rml_dataset_select_uncertain(&d, &p, RML_UNC_ENTROPY, 0.1, 0, &sel, &rest,
						      &s, &err), RML_ERR_MISMATCH);
	d.n_classes = 10;
	/* More than there are; a fraction out of range. */
	assert_int_equal(rml_dataset_select_uncertain(&d, &p, RML_UNC_ENTROPY, 0, 241, &sel, &rest,
						      &s, &err), RML_ERR_ARG);
	assert_int_equal(rml_dataset_select_uncertain(&d, &p, RML_UNC_ENTROPY, 1.5, 0, &sel, &rest,
						      &s, &err), RML_ERR_ARG);
	assert_int_equal(rml_dataset_select_uncertain(&d, &p, RML_UNC_ENTROPY, NAN, 0, &sel, &rest,
						      &s, &err), RML_ERR_ARG);
	rml_uncertainty u;
	assert_int_equal(rml_uncertainty_parse("variance", &u, &err), RML_ERR_ARG);
	assert_int_equal(rml_uncertainty_parse("margin", &u, &err), RML_OK);
	assert_int_equal(u, RML_UNC_MARGIN);
	rml_predictions_free(&p);
	rml_predictions_free(&p2);
	rml_dataset_free(&d);
	rml_dataset_free(&d2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_entropy_vs_numpy),
		cmocka_unit_test(test_confidence_vs_numpy),
		cmocka_unit_test(test_margin_vs_numpy),
		cmocka_unit_test(test_select_top),
		cmocka_unit_test(test_select_refused),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
