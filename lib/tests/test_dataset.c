/*
 * test_dataset.c — the dataset itself (dataset.h, dataset.c): allocation
 * and its limits, class names (given, generic, replaced), the name, the
 * round trip through a container byte for byte, and every check
 * rml_dataset_from_file makes (kind, labels outside the class list,
 * images and labels that disagree in count). The importers and the
 * operations on datasets: test_dataops.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "dataset.h"

static void small(rml_dataset *d)
{
	rml_error err = { 0 };
	rml_dataset_init(d);
	assert_int_equal(rml_dataset_alloc(d, 6, 4, 5, 3, &err), RML_OK);
	for (int64_t i = 0; i < 6 * 4 * 5 * 3; i++)
		d->images[i] = (uint8_t)(i * 7);
	for (int i = 0; i < 6; i++)
		d->labels[i] = i % 3 - (i == 5);   /* the last one unknown */
	const char *names[] = { "cat", NULL, "dog" };
	assert_int_equal(rml_dataset_set_classes(d, names, 3, &err), RML_OK);
	assert_int_equal(rml_dataset_set_name(d, "toy"), RML_OK);
}

static void test_alloc(void **state)
{
	(void)state;
	rml_dataset d;
	rml_dataset_init(&d);
	rml_error err = { 0 };
	assert_int_equal(rml_dataset_alloc(&d, 3, 2, 2, 1, &err), RML_OK);
	assert_int_equal(d.n, 3);
	for (int i = 0; i < 3; i++)
		assert_int_equal(d.labels[i], -1);
	for (int i = 0; i < 12; i++)
		assert_int_equal(d.images[i], 0);
	/* Empty is allowed; beyond the limits is not. */
	assert_int_equal(rml_dataset_alloc(&d, 0, 2, 2, 1, &err), RML_OK);
	assert_int_equal(rml_dataset_alloc(&d, 1, 2, 2, 5, &err), RML_ERR_LIMIT);
	assert_int_equal(rml_dataset_alloc(&d, 1, 0, 2, 1, &err), RML_ERR_LIMIT);
	assert_int_equal(rml_dataset_alloc(&d, INT64_C(1) << 50, 1024, 1024, 3, &err), RML_ERR_LIMIT);
	assert_non_null(strstr(err.msg, "limits"));
	rml_dataset_free(&d);
	assert_null(d.images);
	rml_dataset_free(&d);   /* twice is harmless */
}

static void test_names(void **state)
{
	(void)state;
	rml_dataset d;
	small(&d);
	assert_int_equal(d.n_classes, 3);
	assert_string_equal(d.class_names[0], "cat");
	assert_string_equal(d.class_names[1], "class_1");
	assert_string_equal(d.name, "toy");
	rml_error err = { 0 };
	assert_int_equal(rml_dataset_set_classes(&d, NULL, 2, &err), RML_OK);
	assert_int_equal(d.n_classes, 2);
	assert_string_equal(d.class_names[1], "class_1");
	assert_int_equal(rml_dataset_set_name(&d, NULL), RML_OK);
	assert_null(d.name);
	rml_dataset_free(&d);
}

static void test_round_trip(void **state)
{
	(void)state;
	rml_dataset d, back;
	small(&d);
	rml_file f;
	rml_file_init(&f);
	rml_error err = { 0 };
	assert_int_equal(rml_dataset_to_file(&d, &f, &err), RML_OK);
	assert_int_equal(rml_dataset_from_file(&back, &f, &err), RML_OK);
	assert_int_equal(back.n, 6);
	assert_int_equal(back.h, 4);
	assert_int_equal(back.w, 5);
	assert_int_equal(back.c, 3);
	assert_memory_equal(back.images, d.images, 6 * 4 * 5 * 3);
	assert_memory_equal(back.labels, d.labels, 6 * sizeof *d.labels);
	assert_int_equal(back.n_classes, 3);
	assert_string_equal(back.class_names[2], "dog");
	assert_string_equal(back.name, "toy");
	rml_dataset_free(&back);
	rml_file_free(&f);
	rml_dataset_free(&d);
}

static void test_file_checks(void **state)
{
	(void)state;
	rml_dataset d, back;
	small(&d);
	rml_file f;
	rml_file_init(&f);
	rml_error err = { 0 };
	assert_int_equal(rml_dataset_to_file(&d, &f, &err), RML_OK);
	/* A label outside the class list is refused. */
	((int32_t *)rml_find_tensor(&f, "labels")->data)[2] = 3;
	assert_int_equal(rml_dataset_from_file(&back, &f, &err), RML_ERR_FORMAT);
	assert_non_null(strstr(err.msg, "label"));
	((int32_t *)rml_find_tensor(&f, "labels")->data)[2] = -2;
	assert_int_equal(rml_dataset_from_file(&back, &f, &err), RML_ERR_FORMAT);
	((int32_t *)rml_find_tensor(&f, "labels")->data)[2] = 2;
	assert_int_equal(rml_dataset_from_file(&back, &f, &err), RML_OK);
	rml_dataset_free(&back);
	/* Another kind of file. */
	rml_set_str(&f, "kind", "model");
	assert_int_equal(rml_dataset_from_file(&back, &f, &err), RML_ERR_MISMATCH);
	rml_file_free(&f);
	/* Images and labels that disagree in count. */
	rml_file_init(&f);
	assert_int_equal(rml_dataset_to_file(&d, &f, &err), RML_OK);
	d.n = 5;
	rml_file g;
	rml_file_init(&g);
	assert_int_equal(rml_dataset_to_file(&d, &g, &err), RML_OK);
	d.n = 6;
	rml_tensor *lf = rml_find_tensor(&f, "labels"), *lg = rml_find_tensor(&g, "labels");
	int64_t dims[1] = { 5 };
	rml_file mixed;
	rml_file_init(&mixed);
	assert_int_equal(rml_set_str(&mixed, "kind", "dataset"), RML_OK);
	assert_non_null(rml_add_tensor(&mixed, "images", RML_DTYPE_U8, 4,
				       rml_find_tensor(&f, "images")->dims,
				       rml_find_tensor(&f, "images")->data, &err));
	assert_non_null(rml_add_tensor(&mixed, "labels", RML_DTYPE_I32, 1, dims, lg->data, &err));
	(void)lf;
	assert_int_not_equal(rml_dataset_from_file(&back, &mixed, &err), RML_OK);
	rml_file_free(&mixed);
	rml_file_free(&g);
	rml_file_free(&f);
	rml_dataset_free(&d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_alloc),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_file_checks),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
