/*
 * test_outtext.c — the buffer read as a string (a failed one as ""),
 * escapes for terminals (C0, DEL, C1 in UTF-8, backslash), JSON numbers
 * in a given format with null for what is not finite.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "outtext.h"

/* The string of a buffer, and of a failed one. */
static void test_str(void **state)
{
	(void)state;
	rml_outbuf o;
	rml_outbuf_init(&o);
	assert_string_equal(rml_out_str(&o), "");
	rml_outbuf_printf(&o, "%d-%s", 12, "ab");
	assert_string_equal(rml_out_str(&o), "12-ab");
	assert_int_equal(o.len, 5);
	rml_outbuf_free(&o);
	o.failed = 1;
	assert_string_equal(rml_out_str(&o), "");
}

static void test_safe(void **state)
{
	(void)state;
	rml_outbuf o;
	rml_outbuf_init(&o);
	rml_out_safe(&o, "a\\b\nc\td\re\x01\x7f" "\xc2\x9b" "\xc3\xa9");
	assert_string_equal(rml_out_str(&o), "a\\\\b\\nc\\td\\re\\x01\\x7f\\u009b\xc3\xa9");
	rml_outbuf_free(&o);
	rml_out_safe(&o, NULL);
	assert_string_equal(rml_out_str(&o), "(null)");
	rml_outbuf_free(&o);
}

static void test_json(void **state)
{
	(void)state;
	rml_outbuf o;
	rml_outbuf_init(&o);
	rml_out_json_num(&o, "%.5f", 0.5);
	rml_outbuf_printf(&o, " ");
	rml_out_json_num(&o, "%.6f", NAN);
	rml_outbuf_printf(&o, " ");
	rml_out_json_num(&o, "%.17g", -INFINITY);
	rml_outbuf_printf(&o, " ");
	rml_out_json_num(&o, "%.17g", 0.1);
	assert_string_equal(rml_out_str(&o), "0.50000 null null 0.10000000000000001");
	rml_outbuf_free(&o);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_str),
		cmocka_unit_test(test_safe),
		cmocka_unit_test(test_json),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
