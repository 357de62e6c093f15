/*
 * test_rml.c — the shared basics: SHA-256 against the FIPS 180-4 example
 * vectors, CRC-32 against its check value, the generator's reproducibility
 * and distribution, overflow-checked multiplication, error messages.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <omp.h>

#include "kernels.h"
#include "model.h"
#include "rml.h"

static void sha_hex(const void *data, size_t n, char hex[65])
{
	rml_sha256 c;
	uint8_t d[32];
	rml_sha256_init(&c);
	rml_sha256_update(&c, data, n);
	rml_sha256_final(&c, d);
	rml_hex32(d, hex);
}

static void test_sha256_vectors(void **state)
{
	(void)state;
	char hex[65];
	sha_hex("", 0, hex);
	assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	sha_hex("abc", 3, hex);
	assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	const char *two = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
	sha_hex(two, strlen(two), hex);
	assert_string_equal(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
	/* Fed in odd pieces, the digest is the same. */
	rml_sha256 c;
	uint8_t d[32];
	rml_sha256_init(&c);
	for (size_t i = 0; i < strlen(two); i += 7)
		rml_sha256_update(&c, two + i, strlen(two) - i < 7 ? strlen(two) - i : 7);
	rml_sha256_final(&c, d);
	rml_hex32(d, hex);
	assert_string_equal(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

static void test_crc32(void **state)
{
	(void)state;
	assert_int_equal(rml_crc32(0, "123456789", 9), 0xcbf43926u);
}

static void test_rng(void **state)
{
	(void)state;
	rml_rng a, b, c;
	rml_rng_seed(&a, 42);
	rml_rng_seed(&b, 42);
	rml_rng_seed(&c, 43);
	int differ = 0;
	for (int i = 0; i < 100; i++) {
		uint64_t x = rml_rng_u64(&a);
		assert_true(x == rml_rng_u64(&b));
		differ |= x != rml_rng_u64(&c);
	}
	assert_true(differ);
	double s = 0, s2 = 0;
	int n = 200000;
	for (int i = 0; i < n; i++) {
		double z = rml_rng_normal(&a);
		s += z;
		s2 += z * z;
	}
	assert_true(fabs(s / n) < 0.01);
	assert_true(fabs(s2 / n - 1) < 0.02);
	int hist[7] = { 0 };
	for (int i = 0; i < 70000; i++)
		hist[rml_rng_below(&a, 7)]++;
	for (int i = 0; i < 7; i++)
		assert_true(abs(hist[i] - 10000) < 500);
	for (int i = 0; i < 1000; i++) {
		double u = rml_rng_uniform(&a);
		assert_true(u >= 0 && u < 1);
	}
	rml_rng_seed_stream(&a, 5, 0);
	rml_rng_seed_stream(&b, 5, 1);
	assert_true(rml_rng_u64(&a) != rml_rng_u64(&b));
}

static void test_shuffle_is_permutation(void **state)
{
	(void)state;
	int64_t idx[50];
	int seen[50] = { 0 };
	for (int i = 0; i < 50; i++)
		idx[i] = i;
	rml_rng r;
	rml_rng_seed(&r, 3);
	rml_rng_shuffle(&r, idx, 50);
	for (int i = 0; i < 50; i++)
		seen[idx[i]]++;
	for (int i = 0; i < 50; i++)
		assert_int_equal(seen[i], 1);
}

static void test_mul_overflow(void **state)
{
	(void)state;
	int64_t out;
	assert_int_equal(rml_mul_overflow(1 << 20, 1 << 20, &out), 0);
	assert_true(out == (int64_t)1 << 40);
	assert_int_equal(rml_mul_overflow(INT64_MAX / 2, 3, &out), -1);
	assert_int_equal(rml_mul_overflow(-1, 3, &out), -1);
}

static void test_errorf(void **state)
{
	(void)state;
	rml_error e = { 0 };
	assert_int_equal(rml_errorf(&e, RML_ERR_IO, "x.rml: %d bytes short", 12), RML_ERR_IO);
	assert_string_equal(e.msg, "x.rml: 12 bytes short");
	assert_int_equal(rml_errorf(NULL, RML_ERR_ARG, "ignored"), RML_ERR_ARG);
	assert_non_null(rml_strerror(RML_ERR_FORMAT));
}

/* One training step of mvit-tiny at batch 8: logits and every gradient. */
static void tiny_step(float *out, int64_t n_out)
{
	rml_model *m;
	rml_model_config c = { "mvit-tiny", 10, 2, 5 };
	rml_error err = { 0 };
	if (rml_model_create(&m, &c, &err) || rml_model_reserve(m, 8, 1, &err))
		fail_msg("%s", err.msg);
	float x[8 * 32 * 32 * 3], probs[80], dl[80] = { 0 }, *logits;
	int32_t labels[8];
	rml_rng r;
	rml_rng_seed(&r, 3);
	for (size_t i = 0; i < sizeof x / sizeof *x; i++)
		x[i] = (float)rml_rng_below(&r, 256);
	for (int i = 0; i < 8; i++)
		labels[i] = i;
	rml_model_set_trainable(m, RML_GROUPS_ALL);
	rml_model_zero_grad(m);
	if (rml_model_forward(m, x, 8, RML_MODE_TRAIN, &logits, &err))
		fail_msg("%s", err.msg);
	rml_xent_forward(probs, logits, labels, 8, 10, 0.1f);
	rml_xent_backward(dl, probs, labels, 8, 10, 0.1f, 1.0f);
	if (rml_model_backward(m, dl, NULL, &err))
		fail_msg("%s", err.msg);
	int64_t np = rml_model_n_params(m, RML_GROUPS_ALL);
	assert_int_equal(n_out, 80 + np);
	memcpy(out, logits, sizeof probs);
	memcpy(out + 80, rml_model_grad_block(m), (size_t)np * sizeof *out);
	rml_model_free(m);
}

static int64_t tiny_params(void)
{
	rml_model *m;
	rml_model_config c = { "mvit-tiny", 10, 2, 5 };
	rml_error err = { 0 };
	if (rml_model_create(&m, &c, &err))
		fail_msg("%s", err.msg);
	int64_t np = rml_model_n_params(m, RML_GROUPS_ALL);
	rml_model_free(m);
	return np;
}

/* Threads: the OpenMP threads parked by rml_set_threads never take a
 * place in the teams that compute (a region still gets all the threads
 * asked for); and kernels called from inside an outer parallel region, one
 * model per thread, run on one thread each and give the same bits as the
 * whole team does outside. */
static void test_threads_parked_and_nested(void **state)
{
	(void)state;
	int saved = rml_get_threads();
	assert_int_equal(rml_set_threads(2), 2);
	int team = 0;
#pragma omp parallel
	{
#pragma omp single
		team = omp_get_num_threads();
	}
	assert_int_equal(team, 2);
	int64_t n = 80 + tiny_params();
	float *whole = malloc((size_t)n * sizeof *whole);
	float *each = malloc(2 * (size_t)n * sizeof *each);
	assert_non_null(whole);
	assert_non_null(each);
	tiny_step(whole, n);
	int inner[2] = { 0, 0 };
#pragma omp parallel num_threads(2)
	{
		int t = omp_get_thread_num();
#pragma omp parallel
		inner[t] = omp_get_num_threads();
		tiny_step(each + t * n, n);
	}
	assert_int_equal(inner[0], 1);
	assert_int_equal(inner[1], 1);
	assert_memory_equal(each, whole, (size_t)n * sizeof *whole);
	assert_memory_equal(each + n, whole, (size_t)n * sizeof *whole);
	free(whole);
	free(each);
	rml_set_threads(saved);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sha256_vectors),
		cmocka_unit_test(test_crc32),
		cmocka_unit_test(test_rng),
		cmocka_unit_test(test_shuffle_is_permutation),
		cmocka_unit_test(test_mul_overflow),
		cmocka_unit_test(test_errorf),
		cmocka_unit_test(test_threads_parked_and_nested),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
