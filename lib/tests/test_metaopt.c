/*
 * test_metaopt.c — the resilience optimisation on mvit-tiny with adapters
 * (random weights, adapter scales set away from zero so that omega
 * matters) and the 1,000 carried CIFAR-10 images: the criterion of
 * formula 2 from the returned curves; early stop; seeded draws; theta,
 * phi and W untouched (only omega changes); resume byte-identical; the
 * same result at 1 and 2 worker threads; the disturbance YAML; refused
 * settings and inputs.
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

#include "dataset.h"
#include "metaopt.h"
#include "model.h"

static rml_dataset data, val;

static rml_model *tiny(uint64_t seed)
{
	rml_model_config c = { "mvit-tiny", 10, 2, seed };
	rml_model *m;
	rml_error err;
	assert_int_equal(rml_model_create(&m, &c, &err), RML_OK);
	/* Fresh adapters have a zero scale: give phi random values so the
	 * meta-adapters change the function. */
	int64_t off, n;
	rml_model_group_range(m, RML_GROUP_PHI, &off, &n);
	rml_rng r;
	rml_rng_seed(&r, seed + 100);
	float *p = rml_model_param_block(m);
	for (int64_t i = 0; i < n; i++)
		p[off + i] = (float)(0.1 * rml_rng_normal(&r));
	return m;
}

static int setup(void **state)
{
	(void)state;
	rml_error err;
	rml_dataset all;
	rml_dataset_init(&all);
	if (rml_dataset_load(&all, "testdata/cifar10-test-1000.rml", &err))
		return -1;
	/* data: images 0..399, val: 600..749 */
	int64_t img = all.h * all.w * all.c;
	rml_dataset *parts[2] = { &data, &val };
	int64_t first[2] = { 0, 600 }, count[2] = { 400, 150 };
	for (int i = 0; i < 2; i++) {
		rml_dataset_init(parts[i]);
		if (rml_dataset_alloc(parts[i], count[i], all.h, all.w, all.c, &err))
			return -1;
		memcpy(parts[i]->images, all.images + first[i] * img, (size_t)(count[i] * img));
		memcpy(parts[i]->labels, all.labels + first[i], (size_t)count[i] * sizeof(int32_t));
		parts[i]->n_classes = all.n_classes;
	}
	rml_dataset_free(&all);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	rml_dataset_free(&data);
	rml_dataset_free(&val);
	return 0;
}

static void small_config(rml_metaopt_config *c)
{
	rml_metaopt_config_default(c);
	c->steps = 2;
	c->batch = 4;
	c->alpha = 0.05;
	c->beta = 0.5;
	c->sigma = 0.05;
	c->n_impl = 1;
	c->val_size = 24;
	c->iterations = 3;
	c->heldout = 1;
	c->eval_every = 1;
	c->patience = 100;
}

static void pool_of(rml_dist_pool *p, const char *list)
{
	rml_error err;
	assert_int_equal(rml_dist_pool_parse_list(p, list, &err), RML_OK);
}

/* Run to the end; the result's omega into *omega (malloc'd). */
static void run(rml_model *m, const rml_metaopt_config *c, const rml_dist_pool *pool, int workers,
		float **omega, rml_metaopt_record *recs, int64_t *n_recs)
{
	rml_metaopt_data d = { &data, &val, NULL };
	rml_metaopt *mo;
	rml_error err;
	assert_int_equal(rml_metaopt_init(&mo, m, c, pool, &d, workers, &err), RML_OK);
	int64_t n = 0;
	while (!rml_metaopt_done(mo)) {
		rml_metaopt_record r;
		assert_int_equal(rml_metaopt_step(mo, &r, &err), RML_OK);
		r.seconds = 0;
		if (recs)
			recs[n] = r;
		n++;
	}
	if (n_recs)
		*n_recs = n;
	rml_file f;
	rml_file_init(&f);
	rml_model *out;
	assert_int_equal(rml_model_to_file(m, &f, &err), RML_OK);
	assert_int_equal(rml_model_from_file(&out, &f, &err), RML_OK);
	assert_int_equal(rml_metaopt_result(mo, out, &err), RML_OK);
	int64_t off, cnt;
	rml_model_group_range(out, RML_GROUP_OMEGA, &off, &cnt);
	*omega = malloc((size_t)cnt * sizeof(float));
	memcpy(*omega, rml_model_param_block(out) + off, (size_t)cnt * sizeof(float));
	rml_file_free(&f);
	rml_model_free(out);
	rml_metaopt_free(mo);
}

static void test_criterion_by_hand(void **state)
{
	(void)state;
	rml_model *m = tiny(2);
	rml_metaopt_config c;
	small_config(&c);
	rml_dist_pool pool;
	pool_of(&pool, "fgsm,fault");
	rml_metaopt_data d = { NULL, &val, NULL };
	int n_per = 2, n = pool.n * n_per, T = c.steps;
	double r[4], curves[4 * 3], p0;
	rml_error err;
	rml_status st1 = rml_metaopt_evaluate(m, &c, &pool, &d, n_per, 1, r, curves, &p0, &err);
	if (st1)
		fprintf(stderr, "%s\n", err.msg);
	assert_int_equal(st1, RML_OK);
	assert_true(p0 > 0 && p0 <= 1);
	for (int i = 0; i < n; i++) {
		double s = 0;
		for (int t = 1; t <= T; t++)
			s += curves[i * (T + 1) + t];
		/* Formula 2: R = (1/T) sum_{t=1..T} P_t / P_0. */
		assert_float_equal(r[i], s / T / p0, 1e-12);
	}
	/* With alpha = 0 nothing adapts: every P_t equals the disturbed P
	 * before adapting, so R = P(before) / P0. */
	c.alpha = 0;
	assert_int_equal(rml_metaopt_evaluate(m, &c, &pool, &d, n_per, 1, r, curves, &p0, &err), RML_OK);
	for (int i = 0; i < n; i++) {
		for (int t = 1; t <= T; t++)
			assert_float_equal(curves[i * (T + 1) + t], curves[i * (T + 1)], 0);
		assert_float_equal(r[i], curves[i * (T + 1)] / p0, 1e-12);
	}
	/* A fixed P0 scales R. */
	c.p0 = 0.5;
	double r2[4];
	rml_status st2 = rml_metaopt_evaluate(m, &c, &pool, &d, n_per, 1, r2, NULL, &p0, &err);
	if (st2)
		fprintf(stderr, "%s\n", err.msg);
	assert_int_equal(st2, RML_OK);
	assert_float_equal(p0, 0.5, 0);
	for (int i = 0; i < n; i++)
		assert_float_equal(r2[i], curves[i * (T + 1)] / 0.5, 1e-12);
	rml_model_free(m);
}

static void test_early_stop(void **state)
{
	(void)state;
	rml_model *m = tiny(2);
	rml_metaopt_config c;
	small_config(&c);
	c.beta = 0;          /* omega never moves: the held-out R never rises */
	c.iterations = 50;
	c.patience = 3;
	rml_dist_pool pool;
	pool_of(&pool, "fgsm");
	float *omega;
	int64_t n;
	rml_metaopt_record recs[64];
	run(m, &c, &pool, 1, &omega, recs, &n);
	assert_int_equal(n, 3);
	for (int64_t i = 0; i < n; i++) {
		assert_int_equal(recs[i].best, 0);
		assert_float_equal(recs[i].step_norm, 0, 0);
	}
	free(omega);
	rml_model_free(m);
}

static void test_seeded_workers_untouched(void **state)
{
	(void)state;
	rml_model *m = tiny(3);
	char before[65];
	rml_model_base_hash(m, before);
	int64_t np = rml_model_n_params(m, RML_GROUPS_ALL);
	float *copy = malloc((size_t)np * sizeof *copy);
	memcpy(copy, rml_model_param_block(m), (size_t)np * sizeof *copy);
	rml_metaopt_config c;
	small_config(&c);
	rml_dist_pool pool;
	pool_of(&pool, "fgsm,fault");
	float *o1, *o2, *o3;
	rml_metaopt_record r1[8], r2[8], r3[8];
	int64_t n1, n2, n3;
	run(m, &c, &pool, 1, &o1, r1, &n1);
	run(m, &c, &pool, 2, &o2, r2, &n2);
	/* The input model is not changed at all. */
	assert_memory_equal(copy, rml_model_param_block(m), (size_t)np * sizeof *copy);
	char after[65];
	rml_model_base_hash(m, after);
	assert_string_equal(before, after);
	/* One and two workers: the same records and the same omega. */
	assert_int_equal(n1, n2);
	assert_memory_equal(r1, r2, (size_t)n1 * sizeof *r1);
	int64_t off, cnt;
	rml_model_group_range(m, RML_GROUP_OMEGA, &off, &cnt);
	assert_memory_equal(o1, o2, (size_t)cnt * sizeof *o1);
	/* The run did something: omega moved and both disturbances ran. */
	int moved = memcmp(o1, copy + off, (size_t)cnt * sizeof *o1) != 0;
	int kinds = 0;
	for (int64_t i = 0; i < n1; i++)
		kinds |= 1 << r1[i].kind;
	assert_true(moved || r1[0].best == 0); /* best may stay at the start */
	assert_true(r1[0].r_plus != r1[0].r_minus || r1[1].r_plus != r1[1].r_minus);
	assert_int_equal(kinds, 3);
	/* Another seed draws other implementations. */
	c.seed = 99;
	run(m, &c, &pool, 1, &o3, r3, &n3);
	assert_true(memcmp(r1, r3, sizeof r1[0]) != 0);
	free(o1);
	free(o2);
	free(o3);
	free(copy);
	rml_model_free(m);
}

static void test_resume_exact(void **state)
{
	(void)state;
	rml_model *m = tiny(4);
	rml_metaopt_config c;
	small_config(&c);
	c.eval_every = 2;
	rml_dist_pool pool;
	pool_of(&pool, "fgsm,fault");
	float *whole;
	run(m, &c, &pool, 1, &whole, NULL, NULL);
	/* Two iterations, saved, then a new run restored from the state. */
	rml_metaopt_data d = { &data, &val, NULL };
	rml_metaopt *mo;
	rml_error err;
	rml_metaopt_record r;
	assert_int_equal(rml_metaopt_init(&mo, m, &c, &pool, &d, 1, &err), RML_OK);
	for (int i = 0; i < 2; i++)
		assert_int_equal(rml_metaopt_step(mo, &r, &err), RML_OK);
	rml_file f;
	rml_file_init(&f);
	assert_int_equal(rml_metaopt_save(mo, &f, &err), RML_OK);
	rml_metaopt_free(mo);
	assert_int_equal(rml_metaopt_init(&mo, m, &c, &pool, &d, 2, &err), RML_OK);
	assert_int_equal(rml_metaopt_restore(mo, &f, &err), RML_OK);
	assert_int_equal(rml_metaopt_iteration(mo), 2);
	while (!rml_metaopt_done(mo))
		assert_int_equal(rml_metaopt_step(mo, &r, &err), RML_OK);
	rml_model *out;
	rml_file g;
	rml_file_init(&g);
	assert_int_equal(rml_model_to_file(m, &g, &err), RML_OK);
	assert_int_equal(rml_model_from_file(&out, &g, &err), RML_OK);
	assert_int_equal(rml_metaopt_result(mo, out, &err), RML_OK);
	int64_t off, cnt;
	rml_model_group_range(out, RML_GROUP_OMEGA, &off, &cnt);
	assert_memory_equal(whole, rml_model_param_block(out) + off, (size_t)cnt * sizeof(float));
	rml_metaopt_free(mo);
	/* Other settings refuse the state. */
	c.sigma = 0.07;
	assert_int_equal(rml_metaopt_init(&mo, m, &c, &pool, &d, 1, &err), RML_OK);
	assert_int_equal(rml_metaopt_restore(mo, &f, &err), RML_ERR_MISMATCH);
	rml_metaopt_free(mo);
	rml_model_free(out);
	rml_file_free(&f);
	rml_file_free(&g);
	free(whole);
	rml_model_free(m);
}

static void test_yaml(void **state)
{
	(void)state;
	rml_dist_pool p;
	rml_error err;
	const char *ok = "disturbances:\n"
			 "  - type: fgsm\n    eps: 2\n    weight: 2\n"
			 "  - type: fault\n    rate: 0.001\n    bits: sign\n    targets: theta\n"
			 "  - type: task\n";
	assert_int_equal(rml_dist_pool_parse_yaml(&p, ok, "t.yaml", &err), RML_OK);
	assert_int_equal(p.n, 3);
	assert_int_equal(p.d[0].kind, RML_DIST_FGSM);
	assert_float_equal(p.d[0].eps, 2, 0);
	assert_float_equal(p.d[0].weight, 2, 0);
	assert_int_equal(p.d[1].kind, RML_DIST_FAULT);
	assert_float_equal(p.d[1].fault.rate, 0.001, 0);
	assert_int_equal(p.d[1].fault.bits, RML_BITS_SIGN);
	assert_int_equal(p.d[2].kind, RML_DIST_TASK);
	/* A bare list works too. */
	assert_int_equal(rml_dist_pool_parse_yaml(&p, "- type: fault\n", "t", &err), RML_OK);
	assert_float_equal(p.d[0].fault.rate, 0.0001, 0);
	assert_int_equal(p.d[0].fault.bits, RML_METAOPT_FAULT_BITS);
	const char *bad[] = {
		"disturbances: []\n",
		"- type: fgsm\n  rate: 0.1\n",          /* a fault key on fgsm */
		"- type: fgsm\n  eps: 3\n  eps: 4\n",   /* duplicate */
		"- type: noise\n",
		"- eps: 3\n",                           /* no type */
		"- type: fgsm\n  eps: 0\n",
		"- type: fgsm\n  weight: -1\n",
		"- type: fault\n  rate: 2\n",
		"- type: fault\n  bits: nonsense\n",
		"other: 1\n",
		"[unclosed\n",
		"- 3\n",
	};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		err.msg[0] = 0;
		assert_int_not_equal(rml_dist_pool_parse_yaml(&p, bad[i], "t.yaml", &err), RML_OK);
		assert_true(strlen(err.msg) > 0);
	}
	assert_int_not_equal(rml_dist_pool_parse_list(&p, "", &err), RML_OK);
	assert_int_not_equal(rml_dist_pool_parse_list(&p, "fgsm,bogus", &err), RML_OK);
}

static void test_refused(void **state)
{
	(void)state;
	rml_metaopt_config c;
	small_config(&c);
	rml_dist_pool pool;
	pool_of(&pool, "fgsm");
	rml_metaopt_data d = { &data, &val, NULL };
	rml_metaopt *mo;
	rml_error err;
	/* No adapters. */
	rml_model_config mc = { "mvit-tiny", 10, 0, 1 };
	rml_model *plain;
	assert_int_equal(rml_model_create(&plain, &mc, &err), RML_OK);
	assert_int_equal(rml_metaopt_init(&mo, plain, &c, &pool, &d, 1, &err), RML_ERR_MISMATCH);
	assert_non_null(strstr(err.msg, "adapters"));
	rml_model_free(plain);
	rml_model *m = tiny(5);
	/* Bad settings. */
	rml_metaopt_config b = c;
	b.sigma = 0;
	assert_int_equal(rml_metaopt_init(&mo, m, &b, &pool, &d, 1, &err), RML_ERR_ARG);
	b = c;
	b.sigma = -1;
	assert_int_equal(rml_metaopt_init(&mo, m, &b, &pool, &d, 1, &err), RML_ERR_ARG);
	b = c;
	b.steps = 0;
	assert_int_equal(rml_metaopt_init(&mo, m, &b, &pool, &d, 1, &err), RML_ERR_ARG);
	/* Empty pool. */
	rml_dist_pool empty = { .n = 0 };
	assert_int_equal(rml_metaopt_init(&mo, m, &c, &empty, &d, 1, &err), RML_ERR_ARG);
	/* A task disturbance without tasks. */
	rml_dist_pool tp;
	pool_of(&tp, "task");
	assert_int_equal(rml_metaopt_init(&mo, m, &c, &tp, &d, 1, &err), RML_ERR_ARG);
	/* Tasks whose images do not match the model's input. */
	rml_file tf;
	rml_file_init(&tf);
	int64_t si[5] = { 2, 4, 28, 28, 1 }, sl[2] = { 2, 4 };
	assert_non_null(rml_add_tensor(&tf, "support.images", RML_DTYPE_U8, 5, si, NULL, &err));
	assert_non_null(rml_add_tensor(&tf, "support.labels", RML_DTYPE_I32, 2, sl, NULL, &err));
	assert_non_null(rml_add_tensor(&tf, "query.images", RML_DTYPE_U8, 5, si, NULL, &err));
	assert_non_null(rml_add_tensor(&tf, "query.labels", RML_DTYPE_I32, 2, sl, NULL, &err));
	assert_int_equal(rml_set_i64(&tf, "tasks.ways", 2), RML_OK);
	rml_metaopt_data dt = { &data, &val, &tf };
	assert_int_equal(rml_metaopt_init(&mo, m, &c, &tp, &dt, 1, &err), RML_ERR_MISMATCH);
	assert_non_null(strstr(err.msg, "task images"));
	rml_file_free(&tf);
	/* Too few images for one implementation. */
	b = c;
	b.val_size = 100000;
	assert_int_not_equal(rml_metaopt_init(&mo, m, &b, &pool, &d, 1, &err), RML_OK);
	rml_model_free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_criterion_by_hand),
		cmocka_unit_test(test_early_stop),
		cmocka_unit_test(test_seeded_workers_untouched),
		cmocka_unit_test(test_resume_exact),
		cmocka_unit_test(test_yaml),
		cmocka_unit_test(test_refused),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
