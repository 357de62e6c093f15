/*
 * test_safetensors.c — the safetensors reader and writer (safetensors.h):
 * a valid file with metadata, an empty tensor and every float type the
 * model import converts (F16 and BF16 exactly, F64 rounded); the writer's
 * bytes read back the same; and one test for each kind of malformed file,
 * each refused with the status and the one-line message it should get:
 * short file, lying header length, header over the limit, not JSON, not an
 * object, duplicate names, lying offsets (beyond the data, too short for
 * the shape, reversed), overlapping tensors, a hole, trailing bytes, huge
 * and negative and fractional shapes, too many dimensions, bad dtype
 * strings, missing and unknown fields, bad metadata, an empty name.
 * Not here: what the tensors mean to a model (test_torchmap.c).
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

#include "safetensors.h"

/* A file from a header text and n_data data bytes (values 0, 1, 2, ...). */
static uint8_t *mk(const char *header, size_t n_data, size_t *len)
{
	size_t hl = strlen(header);
	*len = 8 + hl + n_data;
	uint8_t *b = malloc(*len + 1);
	for (int i = 0; i < 8; i++)
		b[i] = (uint8_t)((uint64_t)hl >> (8 * i));
	memcpy(b + 8, header, hl);
	for (size_t i = 0; i < n_data; i++)
		b[8 + hl + i] = (uint8_t)i;
	return b;
}

/* The file must be refused with status `code` and a one-line message that
 * contains `part`. */
static void refused(const uint8_t *b, size_t len, rml_status code, const char *part)
{
	rml_st_file f;
	rml_error err = { 0 };
	rml_status st = rml_st_parse(&f, b, len, "x.safetensors", &err);
	if (st != code || !strstr(err.msg, part) || strchr(err.msg, '\n'))
		fail_msg("status %d (want %d), message \"%s\" (want \"%s\")", st, code, err.msg, part);
	assert_int_equal(f.n, 0);
	assert_null(f.bytes);
	assert_int_equal(strncmp(err.msg, "x.safetensors: ", 15), 0);
}

static void refused_header(const char *header, size_t n_data, rml_status code, const char *part)
{
	size_t len;
	uint8_t *b = mk(header, n_data, &len);
	refused(b, len, code, part);
	free(b);
}

static void test_valid(void **state)
{
	(void)state;
	const char *h = "{\"__metadata__\":{\"format\":\"pt\",\"k\":\"v\"},"
			"\"a\":{\"dtype\":\"F32\",\"shape\":[2,1],\"data_offsets\":[0,8]},"
			"\"empty\":{\"dtype\":\"F32\",\"shape\":[0,5],\"data_offsets\":[8,8]},"
			"\"s\":{\"dtype\":\"I64\",\"shape\":[],\"data_offsets\":[8,16]}}    ";
	size_t len;
	uint8_t *b = mk(h, 16, &len);
	rml_st_file f;
	rml_error err = { 0 };
	assert_int_equal(rml_st_parse(&f, b, len, "x", &err), RML_OK);
	assert_int_equal(f.n, 3);
	assert_string_equal(f.t[0].name, "a");
	assert_int_equal(f.t[0].ndim, 2);
	assert_int_equal(f.t[0].numel, 2);
	assert_int_equal(f.t[1].numel, 0);
	assert_int_equal(f.t[2].ndim, 0);
	assert_int_equal(f.t[2].numel, 1);
	assert_true(f.t[2].data == f.bytes + 8 + strlen(h) + 8);
	assert_string_equal(rml_st_meta(&f, "format"), "pt");
	assert_string_equal(rml_st_meta(&f, "k"), "v");
	assert_null(rml_st_meta(&f, "nope"));
	assert_non_null(rml_st_find(&f, "s"));
	assert_null(rml_st_find(&f, "t"));
	float x[2];
	assert_int_equal(rml_st_to_f32(&f.t[2], x, "x", &err), RML_ERR_MISMATCH);
	assert_non_null(strstr(err.msg, "not a floating-point type"));
	rml_st_free(&f);
	rml_st_free(&f);
	free(b);
}

/* F16 and BF16 to float exactly (normals, subnormals, signs, infinities,
 * NaN), F64 rounded to nearest. */
static void test_float_types(void **state)
{
	(void)state;
	const uint16_t h16[] = { 0x3c00, 0xc000, 0x0001, 0x03ff, 0x7bff, 0x7c00, 0xfc00, 0x7e00, 0x8000 };
	const float want16[] = { 1.0f, -2.0f, 5.9604645e-8f, 6.0975552e-5f, 65504.0f, INFINITY, -INFINITY,
				 NAN, -0.0f };
	const uint16_t bf[] = { 0x3f80, 0xc0a0, 0x0001 };
	const double f64[] = { 0.1, -3.5 };
	uint8_t data[9 * 2 + 3 * 2 + 2 * 8];
	memcpy(data, h16, sizeof h16);
	memcpy(data + 18, bf, sizeof bf);
	memcpy(data + 24, f64, sizeof f64);
	rml_st_out t[3] = {
		{ "h", RML_ST_F16, 1, { 9 }, data },
		{ "b", RML_ST_BF16, 1, { 3 }, data + 18 },
		{ "d", RML_ST_F64, 1, { 2 }, data + 24 },
	};
	rml_outbuf out;
	rml_outbuf_init(&out);
	rml_error err = { 0 };
	assert_int_equal(rml_st_write(t, 3, NULL, NULL, 0, &out, &err), RML_OK);
	rml_st_file f;
	assert_int_equal(rml_st_parse(&f, out.data, out.len, "x", &err), RML_OK);
	float x[9];
	assert_int_equal(rml_st_to_f32(&f.t[0], x, "x", &err), RML_OK);
	for (int i = 0; i < 9; i++) {
		if (isnan(want16[i]))
			assert_true(isnan(x[i]));
		else
			assert_memory_equal(&x[i], &want16[i], 4);
	}
	assert_int_equal(rml_st_to_f32(&f.t[1], x, "x", &err), RML_OK);
	assert_true(x[0] == 1.0f && x[1] == -5.0f);
	uint32_t bits;
	memcpy(&bits, &x[2], 4);
	assert_int_equal(bits, 0x00010000u);
	assert_int_equal(rml_st_to_f32(&f.t[2], x, "x", &err), RML_OK);
	assert_true(x[0] == 0.1f && x[1] == -3.5f);
	rml_st_free(&f);
	rml_outbuf_free(&out);
}

/* The writer's file reads back as written, padded to 8 bytes, and the same
 * input gives the same bytes. */
static void test_write_read(void **state)
{
	(void)state;
	float a[6] = { 1, 2, 3, 4, 5, 6 };
	int64_t c[1] = { 42 };
	rml_st_out t[3] = {
		{ "z.weight", RML_ST_F32, 2, { 2, 3 }, a },
		{ "a.count", RML_ST_I64, 0, { 0 }, c },
		{ "e", RML_ST_U8, 1, { 0 }, NULL },
	};
	const char *keys[] = { "format", "note" }, *vals[] = { "pt", "\"quoted\"\n" };
	rml_outbuf o1, o2;
	rml_outbuf_init(&o1);
	rml_outbuf_init(&o2);
	rml_error err = { 0 };
	assert_int_equal(rml_st_write(t, 3, keys, vals, 2, &o1, &err), RML_OK);
	assert_int_equal(rml_st_write(t, 3, keys, vals, 2, &o2, &err), RML_OK);
	assert_int_equal(o1.len, o2.len);
	assert_memory_equal(o1.data, o2.data, o1.len);
	uint64_t hl;
	memcpy(&hl, o1.data, 8);
	assert_int_equal(hl % 8, 0);
	assert_int_equal(o1.len, 8 + hl + 24 + 8);
	rml_st_file f;
	assert_int_equal(rml_st_parse(&f, o1.data, o1.len, "x", &err), RML_OK);
	assert_int_equal(f.n, 3);
	assert_string_equal(f.t[0].name, "z.weight");
	assert_memory_equal(f.t[0].data, a, sizeof a);
	assert_int_equal(f.t[1].ndim, 0);
	assert_memory_equal(f.t[1].data, c, 8);
	assert_int_equal(f.t[2].numel, 0);
	assert_string_equal(rml_st_meta(&f, "note"), "\"quoted\"\n");
	rml_st_free(&f);
	/* A repeated or reserved name is the caller's error. */
	rml_st_out dup[2] = { { "x", RML_ST_F32, 1, { 1 }, a }, { "x", RML_ST_F32, 1, { 1 }, a } };
	rml_outbuf_free(&o2);
	assert_int_equal(rml_st_write(dup, 2, NULL, NULL, 0, &o2, &err), RML_ERR_ARG);
	rml_st_out res[1] = { { "__metadata__", RML_ST_F32, 1, { 1 }, a } };
	assert_int_equal(rml_st_write(res, 1, NULL, NULL, 0, &o2, &err), RML_ERR_ARG);
	rml_outbuf_free(&o1);
	rml_outbuf_free(&o2);
}

#define T1 "{\"t\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}"

static void test_short_file(void **state)
{
	(void)state;
	refused((const uint8_t *)"\x08\0\0", 3, RML_ERR_FORMAT, "shorter than the 8-byte header length");
}

static void test_header_beyond_file(void **state)
{
	(void)state;
	size_t len;
	uint8_t *b = mk(T1, 8, &len);
	b[0] = (uint8_t)(len - 8 + 1);
	refused(b, len, RML_ERR_FORMAT, "exceeds the");
	free(b);
}

static void test_header_over_limit(void **state)
{
	(void)state;
	size_t len;
	uint8_t *b = mk(T1, 8, &len);
	memset(b, 0xff, 8);
	refused(b, len, RML_ERR_LIMIT, "exceeds the limit");
	free(b);
}

static void test_not_json(void **state)
{
	(void)state;
	refused_header("{\"t\":{\"dtype\":\"F32\",", 0, RML_ERR_FORMAT, "not valid JSON");
	refused_header("{\"t\":1} garbage", 0, RML_ERR_FORMAT, "not valid JSON");
}

static void test_not_object(void **state)
{
	(void)state;
	refused_header("[1,2,3]", 0, RML_ERR_FORMAT, "does not start with '{'");
	refused_header("{\"t\":[1,2]}", 0, RML_ERR_FORMAT, "entry is not a JSON object");
}

static void test_duplicate_name(void **state)
{
	(void)state;
	refused_header("{\"t\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
		       "\"t\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
		       8, RML_ERR_FORMAT, "duplicate");
}

static void test_offsets_beyond_data(void **state)
{
	(void)state;
	refused_header(T1, 4, RML_ERR_FORMAT, "lies beyond the 4 data bytes");
	refused_header("{\"t\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,9223372036854775807]}}", 8,
		       RML_ERR_FORMAT, "lies beyond");
}

static void test_offsets_wrong_size(void **state)
{
	(void)state;
	refused_header("{\"t\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8, RML_ERR_FORMAT,
		       "hold 8 bytes, F32 of that shape needs 12");
}

static void test_offsets_reversed(void **state)
{
	(void)state;
	refused_header("{\"t\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[8,0]}}", 8, RML_ERR_FORMAT,
		       "out of order");
	refused_header("{\"t\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[-4,-4]}}", 8, RML_ERR_FORMAT,
		       "out of order");
	refused_header("{\"t\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0]}}", 8, RML_ERR_FORMAT,
		       "not [begin, end]");
}

static void test_overlap(void **state)
{
	(void)state;
	refused_header("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
		       "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
		       12, RML_ERR_FORMAT, "tensors a and b overlap");
	/* The same bytes twice. */
	refused_header("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
		       "\"b\":{\"dtype\":\"I32\",\"shape\":[2],\"data_offsets\":[0,8]}}",
		       8, RML_ERR_FORMAT, "overlap");
}

static void test_hole(void **state)
{
	(void)state;
	refused_header("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
		       "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}",
		       12, RML_ERR_FORMAT, "data bytes 4 to 8 belong to no tensor");
}

static void test_trailing_bytes(void **state)
{
	(void)state;
	refused_header(T1, 9, RML_ERR_FORMAT, "1 trailing bytes after the last tensor");
	refused_header("{}", 3, RML_ERR_FORMAT, "3 trailing bytes");
}

static void test_huge_shape(void **state)
{
	(void)state;
	refused_header("{\"t\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,0]}}",
		       0, RML_ERR_LIMIT, "shape too large");
	refused_header("{\"t\":{\"dtype\":\"F64\",\"shape\":[9223372036854775807],\"data_offsets\":[0,8]}}",
		       8, RML_ERR_LIMIT, "shape too large");
	/* Past what JSON integers hold here: a parse error, not a wrap-around. */
	refused_header("{\"t\":{\"dtype\":\"F32\",\"shape\":[18446744073709551617],\"data_offsets\":[0,0]}}",
		       0, RML_ERR_FORMAT, "not valid JSON");
}

static void test_bad_shape_entries(void **state)
{
	(void)state;
	refused_header("{\"t\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", 8, RML_ERR_FORMAT,
		       "shape entry 0 is not a whole number");
	refused_header("{\"t\":{\"dtype\":\"F32\",\"shape\":[2.0],\"data_offsets\":[0,8]}}", 8, RML_ERR_FORMAT,
		       "shape entry 0 is not a whole number");
	refused_header("{\"t\":{\"dtype\":\"F32\",\"shape\":\"2\",\"data_offsets\":[0,8]}}", 8, RML_ERR_FORMAT,
		       "shape is not a list");
	refused_header("{\"t\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,2],\"data_offsets\":[0,8]}}", 8,
		       RML_ERR_LIMIT, "9 dimensions, at most 8");
}

static void test_bad_dtype(void **state)
{
	(void)state;
	refused_header("{\"t\":{\"dtype\":\"F31\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, RML_ERR_FORMAT,
		       "unknown dtype \"F31\"");
	refused_header("{\"t\":{\"dtype\":\"f32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, RML_ERR_FORMAT,
		       "unknown dtype \"f32\"");
	refused_header("{\"t\":{\"dtype\":32,\"shape\":[2],\"data_offsets\":[0,8]}}", 8, RML_ERR_FORMAT,
		       "dtype is not a string");
	refused_header("{\"t\":{\"dtype\":\"F32\\n\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, RML_ERR_FORMAT,
		       "unknown dtype \"F32?\"");
}

static void test_missing_and_unknown_fields(void **state)
{
	(void)state;
	refused_header("{\"t\":{\"shape\":[2],\"data_offsets\":[0,8]}}", 8, RML_ERR_FORMAT, "missing dtype");
	refused_header("{\"t\":{\"dtype\":\"F32\",\"data_offsets\":[0,8]}}", 8, RML_ERR_FORMAT, "missing shape");
	refused_header("{\"t\":{\"dtype\":\"F32\",\"shape\":[2]}}", 8, RML_ERR_FORMAT, "missing data_offsets");
	refused_header("{\"t\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8],\"x\":1}}", 8,
		       RML_ERR_FORMAT, "unknown field \"x\"");
}

static void test_bad_metadata(void **state)
{
	(void)state;
	refused_header("{\"__metadata__\":{\"a\":1}}", 0, RML_ERR_FORMAT, "value of \"a\" is not a string");
	refused_header("{\"__metadata__\":[\"a\"]}", 0, RML_ERR_FORMAT, "__metadata__ is not a JSON object");
}

static void test_bad_names(void **state)
{
	(void)state;
	refused_header("{\"\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, RML_ERR_FORMAT,
		       "is empty or longer");
	char h[600];
	snprintf(h, sizeof h, "{\"%0300d\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 7);
	refused_header(h, 8, RML_ERR_FORMAT, "is empty or longer");
	/* A NUL inside a name is not accepted by the JSON parser. */
	refused_header("{\"a\\u0000b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8,
		       RML_ERR_FORMAT, "not valid JSON");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid),
		cmocka_unit_test(test_float_types),
		cmocka_unit_test(test_write_read),
		cmocka_unit_test(test_short_file),
		cmocka_unit_test(test_header_beyond_file),
		cmocka_unit_test(test_header_over_limit),
		cmocka_unit_test(test_not_json),
		cmocka_unit_test(test_not_object),
		cmocka_unit_test(test_duplicate_name),
		cmocka_unit_test(test_offsets_beyond_data),
		cmocka_unit_test(test_offsets_wrong_size),
		cmocka_unit_test(test_offsets_reversed),
		cmocka_unit_test(test_overlap),
		cmocka_unit_test(test_hole),
		cmocka_unit_test(test_trailing_bytes),
		cmocka_unit_test(test_huge_shape),
		cmocka_unit_test(test_bad_shape_entries),
		cmocka_unit_test(test_bad_dtype),
		cmocka_unit_test(test_missing_and_unknown_fields),
		cmocka_unit_test(test_bad_metadata),
		cmocka_unit_test(test_bad_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
