/*
 * test_npy.c — the .npy and .npz writers (npy.h), byte by byte against
 * what NumPy's format documentation (NEP 1) and the zip specification
 * say: magic, version, header dict and its padding to 64 bytes, the data;
 * unicode strings as UTF-32; a stored zip with correct CRC-32, local
 * headers, central directory and end record; the same input giving the
 * same bytes; a dataset file's arrays; refusals. numpy.load itself reads
 * these files in cmd/tests/convert.sh when numpy is installed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <zlib.h>

#include "dataset.h"
#include "npy.h"

static uint32_t rd32(const uint8_t *p) { return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24; }
static uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }

static void test_npy_header(void **state)
{
	(void)state;
	float x[6] = { 1, 2, 3, 4, 5, 6 };
	int64_t dims[2] = { 2, 3 };
	rml_outbuf o;
	rml_outbuf_init(&o);
	rml_error err = { 0 };
	assert_int_equal(rml_npy_write(&o, "<f4", 2, dims, x, sizeof x, &err), RML_OK);
	assert_memory_equal(o.data, "\x93NUMPY\x01\x00", 8);
	uint16_t hl = rd16(o.data + 8);
	assert_int_equal((10 + hl) % 64, 0);
	assert_int_equal(o.len, 10u + hl + sizeof x);
	const char *want = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3,), }";
	assert_memory_equal(o.data + 10, want, strlen(want));
	for (size_t i = 10 + strlen(want); i < 10u + hl - 1; i++)
		assert_int_equal(o.data[i], ' ');
	assert_int_equal(o.data[10 + hl - 1], '\n');
	assert_memory_equal(o.data + 10 + hl, x, sizeof x);
	/* A scalar and a vector. */
	o.len = 0;
	assert_int_equal(rml_npy_write(&o, "<i8", 0, NULL, dims, 8, &err), RML_OK);
	assert_non_null(memmem(o.data, o.len, "'shape': (), }", 14));
	o.len = 0;
	assert_int_equal(rml_npy_write(&o, "|u1", 1, dims, "ab", 2, &err), RML_OK);
	assert_non_null(memmem(o.data, o.len, "'shape': (2,), }", 16));
	rml_outbuf_free(&o);
}

static void test_npy_strings(void **state)
{
	(void)state;
	const char *s[] = { "cat", "h\xc3\xa9", "" };
	rml_outbuf o;
	rml_outbuf_init(&o);
	rml_error err = { 0 };
	assert_int_equal(rml_npy_strings(&o, s, 3, &err), RML_OK);
	assert_non_null(memmem(o.data, o.len, "'descr': '<U3'", 14));
	uint16_t hl = rd16(o.data + 8);
	const uint32_t want[9] = { 'c', 'a', 't', 'h', 0xe9, 0, 0, 0, 0 };
	assert_int_equal(o.len, 10u + hl + sizeof want);
	assert_memory_equal(o.data + 10 + hl, want, sizeof want);
	const char *bad[] = { "ok", "\xc3" };
	o.len = 0;
	assert_int_equal(rml_npy_strings(&o, bad, 2, &err), RML_ERR_FORMAT);
	assert_string_equal(err.msg, "string 1 is not UTF-8");
	rml_outbuf_free(&o);
}

static void test_npz(void **state)
{
	(void)state;
	rml_dataset d;
	rml_dataset_init(&d);
	rml_error err = { 0 };
	assert_int_equal(rml_dataset_alloc(&d, 2, 2, 2, 3, &err), RML_OK);
	for (int i = 0; i < 24; i++)
		d.images[i] = (uint8_t)i;
	d.labels[0] = 1;
	d.labels[1] = 0;
	const char *names[] = { "a", "b" };
	assert_int_equal(rml_dataset_set_classes(&d, names, 2, &err), RML_OK);
	rml_file f;
	rml_file_init(&f);
	assert_int_equal(rml_dataset_to_file(&d, &f, &err), RML_OK);
	rml_outbuf o, o2;
	rml_outbuf_init(&o);
	rml_outbuf_init(&o2);
	assert_int_equal(rml_npz_from_file(&f, &o, &err), RML_OK);
	assert_int_equal(rml_npz_from_file(&f, &o2, &err), RML_OK);
	assert_int_equal(o.len, o2.len);
	assert_memory_equal(o.data, o2.data, o.len);
	/* The end record names the central directory; walk it. */
	const uint8_t *end = o.data + o.len - 22;
	assert_int_equal(rd32(end), 0x06054b50);
	int n = rd16(end + 10);
	assert_int_equal(n, 3);   /* images, labels, dataset.classes */
	const uint8_t *cd = o.data + rd32(end + 16);
	assert_int_equal(rd32(end + 16) + rd32(end + 12), o.len - 22);
	const char *want[] = { "images.npy", "labels.npy", "dataset.classes.npy" };
	for (int i = 0; i < n; i++) {
		assert_int_equal(rd32(cd), 0x02014b50);
		uint16_t nl = rd16(cd + 28);
		assert_int_equal(nl, strlen(want[i]));
		assert_memory_equal(cd + 46, want[i], nl);
		uint32_t size = rd32(cd + 20), off = rd32(cd + 42), crc = rd32(cd + 16);
		assert_int_equal(rd16(cd + 10), 0);   /* stored */
		const uint8_t *lh = o.data + off;
		assert_int_equal(rd32(lh), 0x04034b50);
		assert_int_equal(rd32(lh + 14), crc);
		const uint8_t *member = lh + 30 + rd16(lh + 26) + rd16(lh + 28);
		assert_int_equal(crc32(0, member, size), crc);
		assert_memory_equal(member, "\x93NUMPY", 6);
		if (i == 0)
			assert_memory_equal(member + size - 24, d.images, 24);
		cd += 46 + nl + rd16(cd + 30) + rd16(cd + 32);
	}
	rml_outbuf_free(&o);
	rml_outbuf_free(&o2);
	rml_file_free(&f);
	rml_dataset_free(&d);
}

static void test_npz_limits(void **state)
{
	(void)state;
	rml_npz z;
	rml_npz_init(&z);
	rml_outbuf one;
	rml_outbuf_init(&one);
	rml_error err = { 0 };
	char name[70000];
	memset(name, 'a', sizeof name - 1);
	name[sizeof name - 1] = 0;
	assert_int_equal(rml_npz_add(&z, name, &one, &err), RML_ERR_LIMIT);
	rml_npz_free(&z);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_npy_header),
		cmocka_unit_test(test_npy_strings),
		cmocka_unit_test(test_npz),
		cmocka_unit_test(test_npz_limits),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
