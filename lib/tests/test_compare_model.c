/*
 * test_compare_model.c — the A/B comparison bound to models
 * (compare_model.h) on mvit-tiny: a model compared with itself under
 * faults differs by exactly 0 in every repetition, which holds only if A
 * and B get the same draw of faults; the models are bit-identical
 * afterwards; one repetition's values are what a fresh injection and
 * prediction give; two different models differ; a selection that matches
 * nothing is refused.
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

#include "compare_model.h"
#include "fixtures.h"

enum { K = 4, N = 24 };

static void side(rml_compare_side *s, rml_model *m, const rml_dataset *d)
{
	memset(s, 0, sizeof *s);
	s->m = m;
	s->rule = RML_REJECT_ENTROPY;
	s->rate = 0.25;
	rml_predictions_init(&s->p);
	assert_int_equal(rml_predictions_alloc(&s->p, d->n, K, NULL), RML_OK);
	memcpy(s->p.labels, d->labels, (size_t)d->n * sizeof *d->labels);
}

static void data(rml_dataset *d)
{
	rml_dataset_init(d);
	assert_int_equal(rml_dataset_alloc(d, N, 32, 32, 3, NULL), RML_OK);
	rml_rng r;
	rml_rng_seed(&r, 4);
	for (int64_t i = 0; i < N * 32 * 32 * 3; i++)
		d->images[i] = (uint8_t)rml_rng_below(&r, 256);
	for (int i = 0; i < N; i++)
		d->labels[i] = i % K;
	d->n_classes = K;
}

static void test_paired(void **state)
{
	(void)state;
	rml_dataset d;
	data(&d);
	rml_model *m = rml_fx_tiny(K, 0, 5), *twin = rml_fx_tiny(K, 0, 5), *other = rml_fx_tiny(K, 0, 6);
	rml_compare_side a, b, c;
	side(&a, m, &d);
	side(&b, twin, &d);
	side(&c, other, &d);
	size_t bytes = (size_t)rml_model_n_params(m, RML_GROUPS_ALL) * sizeof(float);
	float *before = malloc(bytes);
	memcpy(before, rml_model_param_block(m), bytes);
	rml_error err = { 0 };
	rml_fault_spec spec = { RML_FAULT_BITFLIP, RML_FAULT_UNIT_WEIGHT, 0.002, RML_BITS_ANY };
	rml_summary sum[RML_CMP_N][3];
	double lo[RML_CMP_N], hi[RML_CMP_N];
	assert_int_equal(rml_compare_under_faults(&a, &b, &d, "theta", &spec, 3, 9, 8, 15, sum, lo, hi, NULL,
						  &err), RML_OK);
	/* The faults did change something from one repetition to the next. */
	assert_true(sum[RML_CMP_ECE][0].sd > 0);
	for (int k = 0; k < RML_CMP_N; k++) {
		assert_true(sum[k][2].mean == 0 && sum[k][2].sd == 0);
		assert_true(sum[k][0].mean == sum[k][1].mean);
		assert_true(lo[k] == 0 && hi[k] == 0);
	}
	assert_memory_equal(before, rml_model_param_block(m), bytes);
	/* One repetition is a fresh injection of stream 0 and a prediction. */
	assert_int_equal(rml_compare_under_faults(&a, &c, &d, "theta", &spec, 1, 9, 8, 15, sum, lo, hi, NULL,
						  &err), RML_OK);
	rml_fault_targets tg;
	assert_int_equal(rml_fault_targets_select(&tg, m, "theta", &err), RML_OK);
	rml_rng rng;
	rml_rng_seed_stream(&rng, 9, 0);
	rml_fault_log log;
	rml_fault_log_init(&log);
	assert_int_equal(rml_inject(&spec, tg.t, tg.n, &rng, &log, &err), RML_OK);
	float probs[N * K];
	assert_int_equal(rml_model_predict(m, &d, 8, probs, &err), RML_OK);
	rml_inject_undo(tg.t, &log);
	rml_fault_log_free(&log);
	rml_fault_targets_free(&tg);
	assert_true(sum[RML_CMP_ACC1][0].mean == rml_accuracy(probs, d.labels, N, K));
	/* Different models differ somewhere (here without faults). */
	rml_fault_spec none = spec;
	none.rate = 0;
	assert_int_equal(rml_compare_under_faults(&a, &c, &d, "theta", &none, 2, 9, 8, 15, sum, lo, hi, NULL,
						  &err), RML_OK);
	int differ = 0;
	for (int k = 0; k < RML_CMP_N; k++)
		differ |= sum[k][2].mean != 0;
	assert_true(differ);
	assert_int_not_equal(rml_compare_under_faults(&a, &c, &d, "no.such.tensor", &spec, 2, 9, 8, 15, sum, lo,
						      hi, NULL, &err), RML_OK);
	free(before);
	rml_predictions_free(&a.p);
	rml_predictions_free(&b.p);
	rml_predictions_free(&c.p);
	rml_model_free(m);
	rml_model_free(twin);
	rml_model_free(other);
	rml_dataset_free(&d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_paired),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
