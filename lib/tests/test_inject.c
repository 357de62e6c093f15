/*
 * test_inject.c — fault placement and fault models: the number of changed
 * bits equals what the description asks for, seeds reproduce, undo
 * restores bit for bit, and bad descriptions are refused.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "inject.h"

#define NT 20

typedef struct {
	float *orig[NT], *data[NT], *score[NT];
	rml_fault_target t[NT];
	int64_t total;
} fixture;

static void fixture_make(fixture *f)
{
	rml_rng r;
	rml_rng_seed(&r, 99);
	f->total = 0;
	for (int i = 0; i < NT; i++) {
		int64_t n = 50 + 37 * i;
		f->orig[i] = malloc((size_t)n * sizeof(float));
		f->data[i] = malloc((size_t)n * sizeof(float));
		f->score[i] = malloc((size_t)n * sizeof(float));
		for (int64_t j = 0; j < n; j++) {
			f->orig[i][j] = (float)rml_rng_normal(&r) * 0.1f;
			f->score[i][j] = (float)rml_rng_uniform(&r);
		}
		memcpy(f->data[i], f->orig[i], (size_t)n * sizeof(float));
		f->t[i] = (rml_fault_target){ "t", f->data[i], n, f->score[i] };
		f->total += n;
	}
}

static void fixture_free(fixture *f)
{
	for (int i = 0; i < NT; i++) {
		free(f->orig[i]);
		free(f->data[i]);
		free(f->score[i]);
	}
}

static int64_t bits_changed(const fixture *f)
{
	int64_t c = 0;
	for (int i = 0; i < NT; i++)
		c += rml_bits_differ(f->orig[i], f->data[i], f->t[i].n);
	return c;
}

static int64_t weights_changed(const fixture *f)
{
	int64_t c = 0;
	for (int i = 0; i < NT; i++)
		for (int64_t j = 0; j < f->t[i].n; j++)
			c += memcmp(&f->orig[i][j], &f->data[i][j], 4) != 0;
	return c;
}

static int tensors_changed(const fixture *f)
{
	int c = 0;
	for (int i = 0; i < NT; i++)
		c += rml_bits_differ(f->orig[i], f->data[i], f->t[i].n) != 0;
	return c;
}

static void run(fixture *f, rml_fault_model m, rml_fault_unit u, double rate, uint32_t bits,
		uint64_t seed, rml_fault_log *log)
{
	rml_fault_spec s = { m, u, rate, bits };
	rml_rng r;
	rml_rng_seed(&r, seed);
	rml_error err = { 0 };
	assert_int_equal(rml_inject(&s, f->t, NT, &r, log, &err), RML_OK);
}

static void test_tensor_unit_bitflip(void **state)
{
	(void)state;
	fixture f;
	fixture_make(&f);
	rml_fault_log log;
	rml_fault_log_init(&log);
	run(&f, RML_FAULT_BITFLIP, RML_FAULT_UNIT_TENSOR, 0.15, RML_BITS_ANY, 1, &log);
	/* round(0.15 * 20) = 3 tensors, one flipped bit each. */
	assert_int_equal(log.n, 3);
	assert_int_equal(bits_changed(&f), 3);
	assert_int_equal(tensors_changed(&f), 3);
	rml_inject_undo(f.t, &log);
	assert_int_equal(bits_changed(&f), 0);
	rml_fault_log_free(&log);
	fixture_free(&f);
}

static void test_weight_unit_bitflip(void **state)
{
	(void)state;
	fixture f;
	fixture_make(&f);
	rml_fault_log log;
	rml_fault_log_init(&log);
	run(&f, RML_FAULT_BITFLIP, RML_FAULT_UNIT_WEIGHT, 0.1, RML_BITS_ANY, 2, &log);
	int64_t k = llround(0.1 * (double)f.total);
	assert_int_equal(log.n, k);
	assert_int_equal(bits_changed(&f), k);
	assert_int_equal(weights_changed(&f), k);   /* distinct weights */
	rml_inject_undo(f.t, &log);
	assert_int_equal(bits_changed(&f), 0);
	rml_fault_log_free(&log);
	fixture_free(&f);
}

static void test_bit_classes(void **state)
{
	(void)state;
	uint32_t masks[] = { RML_BITS_SIGN, RML_BITS_EXPONENT, RML_BITS_MANTISSA, 1u << 30 };
	for (int m = 0; m < 4; m++) {
		fixture f;
		fixture_make(&f);
		rml_fault_log log;
		rml_fault_log_init(&log);
		run(&f, RML_FAULT_BITFLIP, RML_FAULT_UNIT_WEIGHT, 0.05, masks[m], 3, &log);
		for (int64_t i = 0; i < log.n; i++)
			assert_true(masks[m] & (1u << log.v[i].bit));
		assert_int_equal(bits_changed(&f), log.n);
		rml_fault_log_free(&log);
		fixture_free(&f);
	}
}

static void test_stuck_and_zero(void **state)
{
	(void)state;
	fixture f;
	fixture_make(&f);
	rml_fault_log log;
	rml_fault_log_init(&log);
	run(&f, RML_FAULT_STUCK1, RML_FAULT_UNIT_WEIGHT, 0.1, RML_BITS_ANY, 4, &log);
	int64_t changed = 0;
	for (int64_t i = 0; i < log.n; i++) {
		uint32_t u;
		memcpy(&u, &log.v[i].new_value, 4);
		assert_true(u & (1u << log.v[i].bit));
		changed += memcmp(&log.v[i].old_value, &log.v[i].new_value, 4) != 0;
	}
	/* A stuck-at fault changes one bit or none. */
	assert_int_equal(bits_changed(&f), changed);
	assert_int_equal(rml_fault_log_bits_changed(&log), changed);
	rml_inject_undo(f.t, &log);
	run(&f, RML_FAULT_ZERO, RML_FAULT_UNIT_TENSOR, 1.0, RML_BITS_ANY, 5, &log);
	assert_int_equal(log.n, NT);
	for (int64_t i = 0; i < log.n; i++)
		assert_true(f.data[log.v[i].tensor][log.v[i].index] == 0.0f);
	rml_inject_undo(f.t, &log);
	run(&f, RML_FAULT_RANDOM, RML_FAULT_UNIT_WEIGHT, 0.2, RML_BITS_ANY, 6, &log);
	for (int64_t i = 0; i < log.n; i++)
		assert_true(isfinite(log.v[i].new_value));
	rml_inject_undo(f.t, &log);
	assert_int_equal(bits_changed(&f), 0);
	rml_fault_log_free(&log);
	fixture_free(&f);
}

static void test_ber_rate(void **state)
{
	(void)state;
	fixture f;
	fixture_make(&f);
	rml_fault_log log;
	rml_fault_log_init(&log);
	double p = 0.01;
	run(&f, RML_FAULT_BITFLIP, RML_FAULT_UNIT_BER, p, RML_BITS_ANY, 7, &log);
	double expect = p * 32.0 * (double)f.total, sd = sqrt(expect * (1 - p));
	assert_true(fabs((double)log.n - expect) < 5 * sd);
	/* Two flips of one bit cancel; count bits flipped an odd number of times. */
	rml_inject_undo(f.t, &log);
	run(&f, RML_FAULT_BITFLIP, RML_FAULT_UNIT_BER, 1.0, RML_BITS_SIGN, 8, &log);
	assert_int_equal(log.n, f.total);
	assert_int_equal(bits_changed(&f), f.total);
	rml_inject_undo(f.t, &log);
	run(&f, RML_FAULT_BITFLIP, RML_FAULT_UNIT_BER, 0.0, RML_BITS_ANY, 8, &log);
	assert_int_equal(log.n, 0);
	rml_fault_log_free(&log);
	fixture_free(&f);
}

static void test_grad_topk(void **state)
{
	(void)state;
	fixture f;
	fixture_make(&f);
	rml_fault_log log;
	rml_fault_log_init(&log);
	run(&f, RML_FAULT_BITFLIP, RML_FAULT_UNIT_GRAD_TOPK, 0.1, RML_BITS_ANY, 9, &log);
	int64_t k = llround(0.1 * (double)f.total);
	assert_int_equal(log.n, k);
	assert_int_equal(bits_changed(&f), k);
	/* Every hit weight scores at least as high as every weight not hit. */
	float min_hit = INFINITY;
	for (int64_t i = 0; i < log.n; i++)
		min_hit = fminf(min_hit, f.score[log.v[i].tensor][log.v[i].index]);
	for (int i = 0; i < NT; i++)
		for (int64_t j = 0; j < f.t[i].n; j++)
			if (memcmp(&f.orig[i][j], &f.data[i][j], 4) == 0)
				assert_true(f.score[i][j] <= min_hit);
	rml_fault_log_free(&log);
	fixture_free(&f);
}

static void test_seed_reproduces(void **state)
{
	(void)state;
	fixture a, b, c;
	fixture_make(&a);
	fixture_make(&b);
	fixture_make(&c);
	rml_fault_log la, lb, lc;
	rml_fault_log_init(&la);
	rml_fault_log_init(&lb);
	rml_fault_log_init(&lc);
	run(&a, RML_FAULT_BITFLIP, RML_FAULT_UNIT_WEIGHT, 0.05, RML_BITS_ANY, 11, &la);
	run(&b, RML_FAULT_BITFLIP, RML_FAULT_UNIT_WEIGHT, 0.05, RML_BITS_ANY, 11, &lb);
	run(&c, RML_FAULT_BITFLIP, RML_FAULT_UNIT_WEIGHT, 0.05, RML_BITS_ANY, 12, &lc);
	int same_ac = 1;
	for (int i = 0; i < NT; i++) {
		assert_memory_equal(a.data[i], b.data[i], (size_t)a.t[i].n * 4);
		same_ac &= memcmp(a.data[i], c.data[i], (size_t)a.t[i].n * 4) == 0;
	}
	assert_false(same_ac);
	rml_fault_log_free(&la);
	rml_fault_log_free(&lb);
	rml_fault_log_free(&lc);
	fixture_free(&a);
	fixture_free(&b);
	fixture_free(&c);
}

static void test_exponent_flip_makes_inf(void **state)
{
	(void)state;
	/* Setting the top exponent bit of 1.5 gives a huge or non-finite value:
	 * injection must carry on and undo must restore it. */
	float w[4] = { 1.5f, -2.0f, 0.25f, 3.0f }, orig[4];
	memcpy(orig, w, sizeof w);
	rml_fault_target t = { "w", w, 4, NULL };
	rml_fault_spec s = { RML_FAULT_STUCK1, RML_FAULT_UNIT_BER, 1.0, RML_BITS_EXPONENT };
	rml_rng r;
	rml_rng_seed(&r, 1);
	rml_fault_log log;
	rml_fault_log_init(&log);
	assert_int_equal(rml_inject(&s, &t, 1, &r, &log, NULL), RML_OK);
	for (int i = 0; i < 4; i++)
		assert_false(isfinite(w[i]));
	rml_inject_undo(&t, &log);
	assert_memory_equal(w, orig, sizeof w);
	rml_fault_log_free(&log);
}

static void test_rejects(void **state)
{
	(void)state;
	float w[4] = { 0 };
	rml_fault_target t = { "w", w, 4, NULL };
	rml_rng r;
	rml_rng_seed(&r, 1);
	rml_fault_log log;
	rml_fault_log_init(&log);
	rml_error err = { 0 };
	rml_fault_spec bad_rate = { RML_FAULT_BITFLIP, RML_FAULT_UNIT_WEIGHT, 1.5, RML_BITS_ANY };
	assert_int_equal(rml_inject(&bad_rate, &t, 1, &r, &log, &err), RML_ERR_ARG);
	assert_non_null(strstr(err.msg, "rate"));
	rml_fault_spec nan_rate = { RML_FAULT_BITFLIP, RML_FAULT_UNIT_WEIGHT, NAN, RML_BITS_ANY };
	assert_int_equal(rml_inject(&nan_rate, &t, 1, &r, &log, &err), RML_ERR_ARG);
	rml_fault_spec ber_zero = { RML_FAULT_ZERO, RML_FAULT_UNIT_BER, 0.1, RML_BITS_ANY };
	assert_int_equal(rml_inject(&ber_zero, &t, 1, &r, &log, &err), RML_ERR_ARG);
	rml_fault_spec no_bits = { RML_FAULT_BITFLIP, RML_FAULT_UNIT_WEIGHT, 0.1, 0 };
	assert_int_equal(rml_inject(&no_bits, &t, 1, &r, &log, &err), RML_ERR_ARG);
	rml_fault_spec topk = { RML_FAULT_BITFLIP, RML_FAULT_UNIT_GRAD_TOPK, 0.1, RML_BITS_ANY };
	assert_int_equal(rml_inject(&topk, &t, 1, &r, &log, &err), RML_ERR_ARG);
	assert_non_null(strstr(err.msg, "grad"));
	assert_int_equal(rml_inject(&topk, &t, 0, &r, &log, &err), RML_ERR_ARG);
	rml_fault_log_free(&log);
}

static void test_parse(void **state)
{
	(void)state;
	rml_fault_model m;
	rml_fault_unit u;
	uint32_t b;
	assert_int_equal(rml_fault_model_parse("stuck0", &m, NULL), RML_OK);
	assert_int_equal(m, RML_FAULT_STUCK0);
	assert_int_equal(rml_fault_model_parse("flip", &m, NULL), RML_ERR_ARG);
	assert_int_equal(rml_fault_unit_parse("grad-topk", &u, NULL), RML_OK);
	assert_int_equal(u, RML_FAULT_UNIT_GRAD_TOPK);
	assert_int_equal(rml_fault_unit_parse("layer", &u, NULL), RML_ERR_ARG);
	assert_int_equal(rml_fault_bits_parse("exponent", &b, NULL), RML_OK);
	assert_int_equal(b, RML_BITS_EXPONENT);
	assert_int_equal(rml_fault_bits_parse("0,23,31", &b, NULL), RML_OK);
	assert_int_equal(b, 1u | 1u << 23 | 1u << 31);
	assert_int_equal(rml_fault_bits_parse("32", &b, NULL), RML_ERR_ARG);
	assert_int_equal(rml_fault_bits_parse("1,,2", &b, NULL), RML_ERR_ARG);
	assert_int_equal(rml_fault_bits_parse("", &b, NULL), RML_ERR_ARG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tensor_unit_bitflip),
		cmocka_unit_test(test_weight_unit_bitflip),
		cmocka_unit_test(test_bit_classes),
		cmocka_unit_test(test_stuck_and_zero),
		cmocka_unit_test(test_ber_rate),
		cmocka_unit_test(test_grad_topk),
		cmocka_unit_test(test_seed_reproduces),
		cmocka_unit_test(test_exponent_flip_makes_inf),
		cmocka_unit_test(test_rejects),
		cmocka_unit_test(test_parse),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
