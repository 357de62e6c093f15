/*
 * test_classes.c — pairing a dataset with a model's classes by name
 * (classes.h): the identity leaves labels alone, a subset in another order
 * is mapped onto the model's indices (unknown labels stay unknown), an
 * unknown or repeated name is refused without changing the dataset, and a
 * model without names pairs by index and count.
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_identity),
		cmocka_unit_test(test_subset_reordered),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_unnamed_model),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
