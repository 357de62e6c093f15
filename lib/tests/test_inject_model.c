/*
 * test_inject_model.c — fault injection applied to a model (inject_model.h)
 * on mvit-tiny with adapters and a few random images: target selection by
 * group and by pattern counted against the model's own parameter list,
 * and every refused selection; gradient scores against central finite
 * differences of the mean loss; repeated inject–evaluate–undo runs leave
 * the model bit-identical, reproduce with their seed, count accuracy and
 * silent data corruption as computed here from rml_model_predict, and a
 * rate of zero changes nothing; the bit sweep hurts more in the exponent
 * than in the lowest mantissa bit.
 *
 * Tolerance: finite differences (float32 loss, step 1e-2, central) agree
 * with the scores within 5e-2 relative on weights whose score is at least
 * 1e-3 (float rounding of the loss is about 1e-7 / 1e-2 = 1e-5).
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
#include "inject_model.h"
#include "kernels.h"
#include "metrics.h"
#include "outtext.h"

enum { K = 4, N = 24 };

static float *copy_params(rml_model *m)
{
	size_t bytes = (size_t)rml_model_n_params(m, RML_GROUPS_ALL) * sizeof(float);
	float *p = malloc(bytes);
	memcpy(p, rml_model_param_block(m), bytes);
	return p;
}

static void test_select(void **state)
{
	(void)state;
	rml_model *m = rml_fx_tiny(K, 2, 5);
	rml_error err = { 0 };
	int64_t np;
	rml_param *p = rml_model_params(m, &np);
	const char *groups[] = { "theta", "phi", "W", "adapters", "all" };
	unsigned masks[] = { RML_GROUP_BIT(RML_GROUP_THETA), RML_GROUP_BIT(RML_GROUP_PHI),
			     RML_GROUP_BIT(RML_GROUP_W),
			     RML_GROUP_BIT(RML_GROUP_OMEGA) | RML_GROUP_BIT(RML_GROUP_PHI),
			     RML_GROUPS_ALL };
	for (int g = 0; g < 5; g++) {
		rml_fault_targets tg;
		assert_int_equal(rml_fault_targets_select(&tg, m, groups[g], &err), RML_OK);
		int n = 0;
		int64_t total = 0;
		for (int64_t i = 0; i < np; i++)
			if (masks[g] & RML_GROUP_BIT(p[i].group)) {
				assert_ptr_equal(tg.t[n].data, p[i].data);
				assert_int_equal(tg.t[n].n, p[i].numel);
				n++;
				total += p[i].numel;
			}
		assert_int_equal(tg.n, n);
		assert_int_equal(tg.total, total);
		assert_int_equal(total, rml_model_n_params(m, masks[g]));
		rml_fault_targets_free(&tg);
	}
	/* A pattern and a group together: each tensor once. */
	rml_fault_targets tg;
	assert_int_equal(rml_fault_targets_select(&tg, m, "head.*,W", &err), RML_OK);
	assert_int_equal(tg.total, rml_model_n_params(m, RML_GROUP_BIT(RML_GROUP_W)));
	for (int i = 0; i < tg.n; i++)
		assert_memory_equal(tg.t[i].name, "head.", 5);
	rml_fault_targets_free(&tg);
	/* NULL means theta. */
	assert_int_equal(rml_fault_targets_select(&tg, m, NULL, &err), RML_OK);
	assert_int_equal(tg.total, rml_model_n_params(m, RML_GROUP_BIT(RML_GROUP_THETA)));
	rml_fault_targets_free(&tg);
	/* Refused: a pattern that matches nothing, an empty selection. */
	assert_int_equal(rml_fault_targets_select(&tg, m, "nosuch.*", &err), RML_ERR_ARG);
	assert_non_null(strstr(err.msg, "nosuch.*"));
	rml_model_free(m);
	m = rml_fx_tiny(K, 0, 5);
	assert_int_equal(rml_fault_targets_select(&tg, m, "phi", &err), RML_ERR_ARG);
	assert_non_null(strstr(err.msg, "no weight tensors"));
	rml_model_free(m);
}

/* Mean cross-entropy of the model on d (eval mode), in double. */
static double mean_loss(rml_model *m, const rml_dataset *d)
{
	float probs[N * K];
	rml_error err = { 0 };
	assert_int_equal(rml_model_predict(m, d, N, probs, &err), RML_OK);
	double s = 0;
	for (int i = 0; i < N; i++)
		s -= log(probs[i * K + d->labels[i]]);
	return s / N;
}

static void test_grad_scores(void **state)
{
	(void)state;
	rml_model *m = rml_fx_tiny(K, 2, 5);
	rml_dataset d;
	rml_fx_random_set(&d, N, K, 7);
	rml_error err = { 0 };
	rml_fault_targets tg;
	assert_int_equal(rml_fault_targets_select(&tg, m, "W,phi", &err), RML_OK);
	float *before = copy_params(m);
	/* In batches of 5: the sum over batches is the gradient of the mean. */
	assert_int_equal(rml_fault_targets_grad_scores(&tg, m, &d, 5, &err), RML_OK);
	assert_memory_equal(before, rml_model_param_block(m),
			    (size_t)rml_model_n_params(m, RML_GROUPS_ALL) * sizeof(float));
	int checked = 0;
	for (int i = 0; i < tg.n; i++)
		for (int64_t e = 0; e < tg.t[i].n; e += 7) {
			float s = tg.t[i].score[e];
			assert_true(s >= 0 && isfinite(s));
			if (s < 1e-3f)
				continue;
			float w = tg.t[i].data[e], h = 1e-2f;
			tg.t[i].data[e] = w + h;
			double up = mean_loss(m, &d);
			tg.t[i].data[e] = w - h;
			double down = mean_loss(m, &d);
			tg.t[i].data[e] = w;
			double fd = fabs(up - down) / (2 * (double)h);
			if (fabs(fd - s) > 5e-2 * fmax(fd, s))
				fail_msg("%s[%lld]: score %g, finite difference %g", tg.t[i].name,
					 (long long)e, s, fd);
			checked++;
		}
	assert_true(checked >= 10);
	/* Labels outside the model's classes are refused. */
	d.labels[3] = K;
	assert_int_equal(rml_fault_targets_grad_scores(&tg, m, &d, 5, &err), RML_ERR_MISMATCH);
	free(before);
	rml_fault_targets_free(&tg);
	rml_dataset_free(&d);
	rml_model_free(m);
}

static void test_repeat(void **state)
{
	(void)state;
	rml_model *m = rml_fx_tiny(K, 0, 5);
	rml_dataset d;
	rml_fx_random_set(&d, N, K, 8);
	rml_error err = { 0 };
	rml_fault_targets tg;
	assert_int_equal(rml_fault_targets_select(&tg, m, "all", &err), RML_OK);
	float probs[N * K];
	int32_t clean[N];
	assert_int_equal(rml_model_predict(m, &d, 8, probs, &err), RML_OK);
	rml_top1(probs, N, K, clean, NULL);
	int right = 0;
	for (int i = 0; i < N; i++)
		right += clean[i] == d.labels[i];
	float *before = copy_params(m);
	size_t bytes = (size_t)rml_model_n_params(m, RML_GROUPS_ALL) * sizeof(float);
	/* Rate 0: every repetition is the clean model. */
	rml_fault_spec none = { RML_FAULT_BITFLIP, RML_FAULT_UNIT_WEIGHT, 0.0, RML_BITS_ANY };
	double acc[3], sdc[3];
	assert_int_equal(rml_inject_repeat(m, &d, &tg, &none, 3, 1, 8, NULL, acc, sdc, NULL, &err), RML_OK);
	for (int r = 0; r < 3; r++) {
		assert_true(acc[r] == (double)right / N);
		assert_true(sdc[r] == 0);
	}
	/* Real faults: undone exactly, reproducible, and what they measure is
	 * what a fresh prediction of the faulty model gives. */
	rml_fault_spec spec = { RML_FAULT_BITFLIP, RML_FAULT_UNIT_WEIGHT, 0.02, RML_BITS_EXPONENT };
	double acc2[3], sdc2[3];
	assert_int_equal(rml_inject_repeat(m, &d, &tg, &spec, 3, 9, 8, clean, acc, sdc, NULL, &err), RML_OK);
	assert_memory_equal(before, rml_model_param_block(m), bytes);
	assert_int_equal(rml_inject_repeat(m, &d, &tg, &spec, 3, 9, 8, NULL, acc2, sdc2, NULL, &err), RML_OK);
	assert_memory_equal(acc, acc2, sizeof acc);
	assert_memory_equal(sdc, sdc2, sizeof sdc);
	for (int r = 0; r < 3; r++) {
		rml_rng rng;
		rml_rng_seed_stream(&rng, 9, (uint64_t)r);
		rml_fault_log log;
		rml_fault_log_init(&log);
		assert_int_equal(rml_inject(&spec, tg.t, tg.n, &rng, &log, &err), RML_OK);
		int32_t pred[N];
		assert_int_equal(rml_model_predict(m, &d, 8, probs, &err), RML_OK);
		rml_top1(probs, N, K, pred, NULL);
		rml_inject_undo(tg.t, &log);
		rml_fault_log_free(&log);
		int ok = 0, was = 0, lost = 0;
		for (int i = 0; i < N; i++) {
			ok += pred[i] == d.labels[i];
			was += clean[i] == d.labels[i];
			lost += clean[i] == d.labels[i] && pred[i] != d.labels[i];
		}
		assert_true(acc[r] == (double)ok / N);
		assert_true(fabs(sdc[r] - (was ? (double)lost / was : 0)) < 1e-12);
	}
	assert_memory_equal(before, rml_model_param_block(m), bytes);
	free(before);
	rml_fault_targets_free(&tg);
	rml_dataset_free(&d);
	rml_model_free(m);
}

/* Flipping an exponent bit (30) of many weights corrupts more than
 * flipping the lowest mantissa bit (0), which changes a weight by one
 * unit in the last place. */
static void test_sweep_bits(void **state)
{
	(void)state;
	rml_model *m = rml_fx_tiny(K, 0, 5);
	rml_dataset d;
	rml_fx_random_set(&d, N, K, 10);
	rml_error err = { 0 };
	rml_fault_targets tg;
	assert_int_equal(rml_fault_targets_select(&tg, m, "theta", &err), RML_OK);
	float *before = copy_params(m);
	rml_fault_spec spec = { RML_FAULT_BITFLIP, RML_FAULT_UNIT_WEIGHT, 0.05, RML_BITS_ANY };
	double mean[32], sd[32], sdc[32];
	assert_int_equal(rml_inject_sweep(m, &d, &tg, &spec, RML_SWEEP_BITS, NULL, 32, 2, 3, 8,
					    mean, sd, sdc, NULL, &err), RML_OK);
	assert_memory_equal(before, rml_model_param_block(m),
			    (size_t)rml_model_n_params(m, RML_GROUPS_ALL) * sizeof(float));
	for (int b = 0; b < 32; b++)
		assert_true(isfinite(mean[b]) && mean[b] >= 0 && mean[b] <= 1 && sd[b] >= 0);
	assert_true(sdc[0] == 0);
	assert_true(sdc[30] > sdc[0]);
	free(before);
	rml_fault_targets_free(&tg);
	rml_dataset_free(&d);
	rml_model_free(m);
}

/* What rmlops-inject writes: the log lines, the file's keys, the summary
 * as JSON and as text, for two faults written out by hand. */
static void test_report_text(void **state)
{
	(void)state;
	float w[4] = { 0 };
	rml_fault_target t[1] = { { "blocks.0.w", w, 4, NULL } };
	rml_fault_targets tg = { t, 1, 4, NULL };
	rml_fault v[2] = { { 0, 2, 31, 1.5f, -1.5f }, { 0, 3, -1, 0.25f, 0 } };
	rml_fault_log log = { v, 2, 2 };
	rml_fault_spec spec = { RML_FAULT_BITFLIP, RML_FAULT_UNIT_WEIGHT, 0.5, RML_BITS_ANY };
	rml_outbuf o;
	rml_outbuf_init(&o);
	rml_fault_log_text(&o, &tg, &log);
	assert_string_equal(rml_out_str(&o),
			    "{\"tensor\":\"blocks.0.w\",\"index\":2,\"bit\":31,\"old\":1.5,\"new\":-1.5}\n"
			    "{\"tensor\":\"blocks.0.w\",\"index\":3,\"bit\":-1,\"old\":0.25,\"new\":0}\n");
	rml_outbuf_free(&o);
	/* A name holding a quote and a backslash is escaped, and a fault in
	 * the exponent's infinity or NaN is null (JSON has no number for
	 * either). */
	rml_fault_target odd[1] = { { "a\"b\\c", w, 4, NULL } };
	rml_fault_targets otg = { odd, 1, 4, NULL };
	rml_fault ov[2] = { { 0, 1, 30, 2.0f, INFINITY }, { 0, 0, 22, NAN, -NAN } };
	rml_fault_log olog = { ov, 2, 2 };
	rml_outbuf_init(&o);
	rml_fault_log_text(&o, &otg, &olog);
	assert_string_equal(rml_out_str(&o),
			    "{\"tensor\":\"a\\\"b\\\\c\",\"index\":1,\"bit\":30,\"old\":2,\"new\":null}\n"
			    "{\"tensor\":\"a\\\"b\\\\c\",\"index\":0,\"bit\":22,\"old\":null,\"new\":null}\n");
	rml_outbuf_free(&o);
	rml_fault_report_text(&o, 1, &spec, &tg, &log, 7);
	char want[256];
	snprintf(want, sizeof want,
		 "{\"faults\":2,\"bits_changed\":%lld,\"targets\":1,\"weights\":4,\"model\":\"bitflip\","
		 "\"unit\":\"weight\",\"rate\":0.5,\"seed\":7}\n",
		 (long long)rml_fault_log_bits_changed(&log));
	assert_string_equal(rml_out_str(&o), want);
	rml_outbuf_free(&o);
	rml_fault_report_text(&o, 0, &spec, &tg, &log, 7);
	snprintf(want, sizeof want, "2 faults (%lld bits changed) in 1 tensors of 4 weights",
		 (long long)rml_fault_log_bits_changed(&log));
	assert_string_equal(rml_out_str(&o), want);
	rml_outbuf_free(&o);
	rml_file f;
	rml_file_init(&f);
	assert_int_equal(rml_fault_file_keys(&f, &spec, &log), RML_OK);
	const char *str;
	int64_t n;
	double rate;
	rml_error err = { 0 };
	assert_int_equal(rml_get_str(&f, "fault.model", &str, &err), RML_OK);
	assert_string_equal(str, "bitflip");
	assert_int_equal(rml_get_str(&f, "fault.unit", &str, &err), RML_OK);
	assert_string_equal(str, "weight");
	assert_int_equal(rml_get_f64(&f, "fault.rate", &rate, &err), RML_OK);
	assert_true(rate == 0.5);
	assert_int_equal(rml_get_i64(&f, "fault.count", &n, &err), RML_OK);
	assert_int_equal(n, 2);
	rml_file_free(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_select),
		cmocka_unit_test(test_grad_scores),
		cmocka_unit_test(test_repeat),
		cmocka_unit_test(test_sweep_bits),
		cmocka_unit_test(test_report_text),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
