/*
 * test_info.c — rmlops-info's summaries of a small file built here: the
 * text (metadata, escaped names, arrays cut at 10, the tensor table),
 * the JSON (arrays in full, null for NaN), digests against SHA-256 of
 * known bytes, and the lineage in both forms; written out by hand.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "info.h"
#include "outtext.h"

static void make(rml_file *f)
{
	rml_error err = { 0 };
	rml_file_init(f);
	int64_t ia[12];
	for (int i = 0; i < 12; i++)
		ia[i] = i;
	double fa[2] = { 0.5, NAN };
	const char *sa[2] = { "cat", "d\x1bog" };
	int64_t dims[2] = { 2, 3 };
	assert_int_equal(rml_set_str(f, "kind", "model"), RML_OK);
	assert_int_equal(rml_set_i64(f, "a.count", 7), RML_OK);
	assert_int_equal(rml_set_f64(f, "a.rate", 0.25), RML_OK);
	assert_int_equal(rml_set_str(f, "a.text", "two\nlines"), RML_OK);
	assert_int_equal(rml_set_i64_array(f, "a.ints", ia, 12), RML_OK);
	assert_int_equal(rml_set_f64_array(f, "a.floats", fa, 2), RML_OK);
	assert_int_equal(rml_set_str_array(f, "a.names", sa, 2), RML_OK);
	const char *hist[1] = { "{\"program\":\"x\x01\"}" };
	assert_int_equal(rml_set_str_array(f, "lineage.history", hist, 1), RML_OK);
	assert_non_null(rml_add_tensor(f, "w", RML_DTYPE_F32, 2, dims, NULL, &err));
	assert_non_null(rml_add_tensor(f, "b\\x", RML_DTYPE_U8, 1, (int64_t[]){ 3 }, "abc", &err));
}

static void test_text(void **state)
{
	(void)state;
	rml_file f;
	make(&f);
	rml_outbuf o;
	rml_outbuf_init(&o);
	rml_info_text(&o, &f, "in\n.rml");
	char want[2048];
	snprintf(want, sizeof want,
		 "in\\n.rml: model (format version %d, checksums ok)\n"
		 "  %-28s 7\n"
		 "  %-28s 0.25\n"
		 "  %-28s (9 bytes of text)\n"
		 "  %-28s 0 1 2 3 4 5 6 7 8 9, ... (12 in all)\n"
		 "  %-28s 0.5 nan\n"
		 "  %-28s cat, d\\x1bog\n"
		 "  2 tensors:\n"
		 "    %-48s f32  2x3                24 bytes\n"
		 "    %-48s u8   3                  3 bytes\n"
		 "  total tensor data: 27 bytes\n",
		 RML_FORMAT_VERSION, "a.count", "a.rate", "a.text", "a.ints", "a.floats", "a.names", "w",
		 "b\\\\x");
	assert_string_equal(rml_out_str(&o), want);
	rml_outbuf_free(&o);
	rml_file_free(&f);
}

static void test_json(void **state)
{
	(void)state;
	rml_file f;
	make(&f);
	rml_outbuf o;
	rml_outbuf_init(&o);
	rml_info_json(&o, &f, "a\"b");
	const char *s = rml_out_str(&o);
	assert_non_null(strstr(s, "{\"file\":\"a\\\"b\",\"format_version\":"));
	assert_non_null(strstr(s, "\"a.ints\":[0,1,2,3,4,5,6,7,8,9,10,11]"));
	assert_non_null(strstr(s, "\"a.floats\":[0.5,null]"));
	assert_non_null(strstr(s, "\"a.text\":\"two\\u000alines\""));
	assert_non_null(strstr(s, "\"a.names\":[\"cat\",\"d\\u001bog\"]"));
	assert_non_null(strstr(s, "{\"name\":\"w\",\"dtype\":\"f32\",\"shape\":[2,3],\"bytes\":24}"));
	assert_non_null(strstr(s, "],\"tensor_bytes\":27,\"checksums\":\"ok\"}\n"));
	rml_outbuf_free(&o);
	rml_file_free(&f);
}

static void test_digest_lineage(void **state)
{
	(void)state;
	rml_file f;
	make(&f);
	rml_outbuf o;
	rml_outbuf_init(&o);
	rml_info_digest(&o, &f);
	/* SHA-256 of 24 zero bytes, and of "abc". */
	assert_string_equal(rml_out_str(&o),
			    "9d908ecfb6b256def8b49a7c504e6c889c4b0e41fe6ce3e01863dd7b61a20aa0  w\n"
			    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad  b\\\\x\n");
	rml_outbuf_free(&o);
	rml_info_lineage(&o, &f, "f.rml", 1);
	assert_string_equal(rml_out_str(&o), "{\"file\":\"f.rml\",\"history\":[{\"program\":\"x\\u0001\"}]}\n");
	rml_outbuf_free(&o);
	rml_info_lineage(&o, &f, "f.rml", 0);
	assert_string_equal(rml_out_str(&o), "f.rml: lineage, oldest first\n  1. {\"program\":\"x\\x01\"}\n");
	rml_outbuf_free(&o);
	rml_unset(&f, "lineage.history");
	rml_info_lineage(&o, &f, "f.rml", 0);
	assert_string_equal(rml_out_str(&o), "f.rml: lineage, oldest first\n  (no recorded history)\n");
	rml_outbuf_free(&o);
	rml_file_free(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_text),
		cmocka_unit_test(test_json),
		cmocka_unit_test(test_digest_lineage),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
