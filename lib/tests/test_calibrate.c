/*
 * test_calibrate.c — the calibration pipeline in one call, on a small
 * untrained model and a few carried images: the sets hold the rows
 * promised (copies, generated images, test images of both OOD sources);
 * the model comes back carrying the calibrator, whose probabilities
 * through rml_model_probs are the ones measured; the comparison's row of
 * the chosen method is the fit itself; a seed reproduces the result and
 * another changes it; the caller's stage hook sees the stages in order
 * and can stop the run; the pictures are PNG; and the refused inputs.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "calibrate.h"
#include "fixtures.h"

/* n images of the carried set (grouped by class), every 97th (cyclically) from first
 * on, so that every class is there: labelled, or all unknown. */
static void subset(rml_dataset *d, int64_t first, int64_t n, int labelled)
{
	rml_error err = { 0 };
	rml_dataset_init(d);
	assert_int_equal(rml_dataset_alloc(d, n, 32, 32, 3, &err), RML_OK);
	assert_int_equal(rml_dataset_set_classes(d, (const char *const *)rml_fx_cifar.class_names,
						 rml_fx_cifar.n_classes, &err), RML_OK);
	for (int64_t i = 0; i < n; i++) {
		int64_t j = (first + 97 * i) % rml_fx_cifar.n;
		memcpy(d->images + i * 3072, rml_fx_cifar.images + j * 3072, 3072);
		d->labels[i] = labelled ? rml_fx_cifar.labels[j] : -1;
	}
}

static void small_opts(rml_calibrate_opts *o)
{
	rml_calibrate_opts_default(o);
	o->per_class = 4;
	o->ood = RML_OOD_SBO_PIXEL;
	o->ood_count = 6;
	o->batch = 16;
	o->data_name = "cal.rml";
}

struct seen {
	int n, order[4];
	rml_status stop_with;
};

static rml_status hook(void *ctx, rml_calibrate_stage s, const rml_calibrate_result *r,
		       rml_error *err)
{
	struct seen *w = ctx;
	if (w->n < 4)
		w->order[w->n] = (int)s;
	w->n++;
	if (s == RML_CALIBRATE_ID_READY)
		assert_int_equal(r->id.n, 40);
	else
		assert_int_equal(r->ood.n, 6);
	if (w->stop_with)
		return rml_errorf(err, w->stop_with, "stopped by the caller");
	return RML_OK;
}

static void test_pipeline(void **state)
{
	(void)state;
	rml_dataset d, t, x;
	subset(&d, 0, 50, 1);
	subset(&t, 3, 30, 1);
	subset(&x, 5, 7, 0);
	rml_model *m = rml_fx_tiny(10, 0, 3);
	rml_calibrate_opts o;
	small_opts(&o);
	o.compare = 1;
	struct seen w = { 0 };
	o.stage = hook;
	o.ctx = &w;
	rml_calibrate_result r;
	rml_error err = { 0 };
	assert_int_equal(rml_calibrate(m, &d, &t, &x, &o, &r, &err), RML_OK);
	assert_int_equal(w.n, 2);
	assert_int_equal(w.order[0], RML_CALIBRATE_ID_READY);
	assert_int_equal(w.order[1], RML_CALIBRATE_OOD_READY);
	/* 4 copies of each of the 10 classes, 6 generated; the test set with
	 * 30 / 10 generated and 7 real OOD images. */
	assert_int_equal(r.n_present, 10);
	assert_int_equal(r.calib.n, 46);
	assert_int_equal(r.calib.after.n_ood, 6);
	assert_string_equal(r.ood.name, "sbo-pixel");
	assert_true(r.ood_min_dist >= o.sbo.d_min);
	assert_true(r.have_test);
	assert_int_equal(r.test.n, 40);
	assert_int_equal(r.n_test_generated, 3);
	assert_int_equal(r.n_test_real, 7);
	assert_true(r.by_source);
	assert_true(r.test_reject_rate >= 0 && r.test_reject_rate <= 1);

	/* The model carries the calibrator and rule; its probabilities are
	 * the calibrated ones measured. */
	assert_string_equal(rml_model_calibrator_method(m), "bbq");
	rml_reject_rule rule;
	double thr;
	rml_model_reject_rule(m, &rule, &thr);
	assert_int_equal(rule, RML_REJECT_ENTROPY);
	assert_true(thr == r.choice.threshold);
	float *p = malloc((size_t)(r.test.n * r.test.k) * sizeof(float));
	assert_non_null(p);
	assert_int_equal(rml_model_probs(m, r.test.logits, r.test.n, p, &err), RML_OK);
	for (int64_t i = 0; i < r.test.n * r.test.k; i++)
		assert_true(fabsf(p[i] - r.test.cal[i]) <= 1e-6f);
	free(p);
	rml_calib_measures again;
	assert_int_equal(rml_calib_measure(r.test.cal, r.test.labels, r.test.n, r.test.k, 15, &again,
					   &err), RML_OK);
	assert_true(again.ece == r.test.after.ece && again.auroc_conf == r.test.after.auroc_conf);

	/* The comparison is on the test set, "none" is the softmax and the
	 * bbq row the fit itself. */
	assert_int_equal(r.n_compare, RML_CALIBRATE_N_COMPARE);
	assert_string_equal(r.compare_on, "test");
	assert_string_equal(r.compare_label[0], "none");
	assert_string_equal(r.compare_label[RML_CALIBRATE_N_COMPARE - 1], "bbq-ensemble");
	assert_true(r.compare[0].ece == r.test.before.ece);
	assert_string_equal(r.compare_label[1 + RML_CALIB_BBQ], "bbq");
	assert_true(r.compare[1 + RML_CALIB_BBQ].ece == r.test.after.ece);
	assert_true(r.compare[1 + RML_CALIB_BBQ].nll == r.test.after.nll);

	/* Pictures. */
	char path[] = "/tmp/rml-test-calibrate-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	unsigned char sig[8];
	for (int k = 0; k < 2; k++) {
		rml_status st = k ? rml_calibrate_risk_coverage_png(path, &r.test, &err)
				  : rml_calibrate_reliability_png(path, &r.test, 10, &err);
		assert_int_equal(st, RML_OK);
		FILE *f = fopen(path, "rb");
		assert_int_equal(fread(sig, 1, 8, f), 8);
		fclose(f);
		assert_memory_equal(sig, "\x89PNG\r\n\x1a\n", 8);
	}
	remove(path);
	close(fd);

	rml_calibrate_result_free(&r);
	rml_model_free(m);
	rml_dataset_free(&d);
	rml_dataset_free(&t);
	rml_dataset_free(&x);
}

/* The same seed gives the same calibrator and threshold; another seed
 * other copies and other generated images. */
static void test_seed(void **state)
{
	(void)state;
	rml_dataset d;
	subset(&d, 0, 50, 1);
	rml_calibrate_result r[3];
	rml_error err = { 0 };
	for (int i = 0; i < 3; i++) {
		rml_model *m = rml_fx_tiny(10, 0, 3);
		rml_calibrate_opts o;
		small_opts(&o);
		o.method = RML_CALIB_HIST_WIDTH;
		o.seed = i < 2 ? 7 : 8;
		assert_int_equal(rml_calibrate(m, &d, NULL, NULL, &o, &r[i], &err), RML_OK);
		assert_false(r[i].have_test);
		assert_int_equal(r[i].n_compare, 0);
		rml_model_free(m);
	}
	assert_int_equal(r[0].calib.n, r[1].calib.n);
	assert_memory_equal(r[0].calib.cal, r[1].calib.cal,
			    (size_t)(r[0].calib.n * r[0].calib.k) * sizeof(float));
	assert_memory_equal(r[0].ood.images, r[1].ood.images, 6 * 3072);
	assert_true(r[0].choice.threshold == r[1].choice.threshold);
	assert_memory_not_equal(r[0].ood.images, r[2].ood.images, 6 * 3072);
	assert_memory_not_equal(r[0].id.images, r[2].id.images, 40 * 3072);
	for (int i = 0; i < 3; i++)
		rml_calibrate_result_free(&r[i]);
	rml_dataset_free(&d);
}

static void test_refused(void **state)
{
	(void)state;
	rml_dataset d, u;
	subset(&d, 0, 30, 1);
	subset(&u, 0, 20, 0);
	rml_model *m = rml_fx_tiny(10, 0, 3);
	rml_calibrate_opts o;
	small_opts(&o);
	rml_calibrate_result r;
	rml_error err = { 0 };
	/* No labelled image: with copies (the augmenter's message) and without. */
	assert_int_equal(rml_calibrate(m, &u, NULL, NULL, &o, &r, &err), RML_ERR_ARG);
	rml_calibrate_result_free(&r);
	o.per_class = 0;
	assert_int_equal(rml_calibrate(m, &u, NULL, NULL, &o, &r, &err), RML_ERR_ARG);
	assert_non_null(strstr(err.msg, "cal.rml has no labelled image"));
	rml_calibrate_result_free(&r);
	assert_null(rml_model_calibrator_method(m));
	/* The hook stops the run with its status; the model is unchanged. */
	struct seen w = { .stop_with = RML_ERR_IO };
	o.stage = hook;
	o.ctx = &w;
	o.per_class = 4;
	assert_int_equal(rml_calibrate(m, &d, NULL, NULL, &o, &r, &err), RML_ERR_IO);
	assert_string_equal(err.msg, "stopped by the caller");
	assert_int_equal(w.n, 1);
	assert_null(rml_model_calibrator_method(m));
	rml_calibrate_result_free(&r);
	assert_int_equal(rml_calibrate(NULL, &d, NULL, NULL, &o, &r, &err), RML_ERR_ARG);
	rml_calibrate_result_free(&r);
	rml_model_free(m);
	rml_dataset_free(&d);
	rml_dataset_free(&u);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pipeline),
		cmocka_unit_test(test_seed),
		cmocka_unit_test(test_refused),
	};
	return cmocka_run_group_tests(tests, rml_fx_cifar_setup, rml_fx_cifar_teardown);
}
