/*
 * test_classes.c — pairing a dataset with a model's classes by name
 * (classes.h): the identity leaves labels alone, a subset in another order
 * is mapped onto the model's indices (unknown labels stay unknown), an
 * unknown or repeated name is refused without changing the dataset, and a
 * model without names pairs by index and count; a dataset fitted to a
 * model (an untrained mvit-tiny): its images' count and shape, whatever
 * its classes, then its classes and labels.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "classes.h"
#include "fixtures.h"

static const char *const model[] = { "airplane", "cat", "ship", "truck" };

static void make(rml_dataset *d, const char *const *names, int k)
{
	rml_error err = { 0 };
	rml_dataset_init(d);
	assert_int_equal(rml_dataset_alloc(d, 5, 2, 2, 3, &err), RML_OK);
	for (int i = 0; i < 5; i++)
		d->labels[i] = i < 4 ? i % k : -1;
	assert_int_equal(rml_dataset_set_classes(d, names, k, &err), RML_OK);
}

static void test_identity(void **state)
{
	(void)state;
	rml_dataset d;
	make(&d, model, 4);
	rml_error err = { 0 };
	assert_int_equal(rml_classes_match(&d, model, 4, "d", &err), RML_OK);
	int32_t want[5] = { 0, 1, 2, 3, -1 };
	assert_memory_equal(d.labels, want, sizeof want);
	rml_dataset_free(&d);
}

static void test_subset_reordered(void **state)
{
	(void)state;
	const char *const names[] = { "truck", "ship" };
	rml_dataset d;
	make(&d, names, 2);   /* labels 0 1 0 1 -1: truck ship truck ship ? */
	rml_error err = { 0 };
	assert_int_equal(rml_classes_match(&d, model, 4, "d", &err), RML_OK);
	int32_t want[5] = { 3, 2, 3, 2, -1 };
	assert_memory_equal(d.labels, want, sizeof want);
	assert_int_equal(d.n_classes, 4);
	assert_string_equal(d.class_names[3], "truck");
	rml_dataset_free(&d);
}

static void test_refused(void **state)
{
	(void)state;
	const char *const alien[] = { "cat", "lorry" };
	const char *const twice[] = { "cat", "cat" };
	rml_dataset d;
	rml_error err = { 0 };
	make(&d, alien, 2);
	assert_int_equal(rml_classes_match(&d, model, 4, "d.rml", &err), RML_ERR_MISMATCH);
	assert_non_null(strstr(err.msg, "d.rml: class 'lorry'"));
	int32_t want[5] = { 0, 1, 0, 1, -1 };
	assert_memory_equal(d.labels, want, sizeof want);   /* unchanged */
	assert_int_equal(d.n_classes, 2);
	rml_dataset_free(&d);
	make(&d, twice, 2);
	assert_int_equal(rml_classes_match(&d, model, 4, "d.rml", &err), RML_ERR_MISMATCH);
	assert_non_null(strstr(err.msg, "twice"));
	rml_dataset_free(&d);
}

static void test_unnamed_model(void **state)
{
	(void)state;
	rml_dataset d;
	rml_error err = { 0 };
	make(&d, model, 4);
	assert_int_equal(rml_classes_match(&d, NULL, 4, "d", &err), RML_OK);
	assert_int_equal(rml_classes_match(&d, NULL, 3, "d", &err), RML_ERR_MISMATCH);
	rml_dataset_free(&d);
}

static void test_fit(void **state)
{
	(void)state;
	rml_model *m = rml_fx_tiny(4, 0, 3);
	rml_error err = { 0 };
	assert_int_equal(rml_model_set_class_names(m, model, 4, &err), RML_OK);
	/* Images of another shape, none at all. */
	rml_dataset d;
	make(&d, model, 4);
	assert_int_equal(rml_dataset_fit_shape(&d, m, "small.rml", &err), RML_ERR_MISMATCH);
	assert_string_equal(err.msg, "the model takes 32x32x3 images, small.rml holds 2x2x3");
	assert_int_equal(rml_dataset_fit_model(&d, m, 0, "small.rml", &err), RML_ERR_MISMATCH);
	assert_string_equal(err.msg, "the model takes 32x32x3 images, small.rml holds 2x2x3");
	rml_dataset_free(&d);
	rml_fx_random_set(&d, 0, 4, 1);
	assert_int_equal(rml_dataset_fit_shape(&d, m, NULL, &err), RML_ERR_ARG);
	assert_string_equal(err.msg, "the data holds no images");
	rml_dataset_free(&d);
	/* Classes of their own: the shape fits, the classes do not. */
	static const char *const other[] = { "dog", "frog" };
	rml_fx_random_set(&d, 6, 2, 1);
	assert_int_equal(rml_dataset_set_classes(&d, other, 2, &err), RML_OK);
	assert_int_equal(rml_dataset_fit_shape(&d, m, "ood.rml", &err), RML_OK);
	assert_int_equal(rml_dataset_fit_model(&d, m, 0, "ood.rml", &err), RML_ERR_MISMATCH);
	assert_string_equal(err.msg, "ood.rml: class 'dog' is not one of the model's 4 classes");
	rml_dataset_free(&d);
	/* Some of the model's classes fit, mapped; labels when they are needed. */
	static const char *const some[] = { "ship", "cat" };
	rml_fx_random_set(&d, 6, 2, 1);
	assert_int_equal(rml_dataset_set_classes(&d, some, 2, &err), RML_OK);
	assert_int_equal(rml_dataset_fit_model(&d, m, 1, "d.rml", &err), RML_OK);
	assert_int_equal(d.labels[0], 2);
	assert_int_equal(d.labels[1], 1);
	for (int i = 0; i < 6; i++)
		d.labels[i] = -1;
	assert_int_equal(rml_dataset_fit_model(&d, m, 0, "d.rml", &err), RML_OK);
	assert_int_equal(rml_dataset_fit_model(&d, m, 1, "d.rml", &err), RML_ERR_ARG);
	assert_string_equal(err.msg, "d.rml has no labelled images: nothing to measure");
	rml_dataset_free(&d);
	rml_model_free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_identity),
		cmocka_unit_test(test_subset_reordered),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_unnamed_model),
		cmocka_unit_test(test_fit),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
