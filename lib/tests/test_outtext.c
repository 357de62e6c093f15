/*
 * test_outtext.c — text into a buffer: printf beyond the small stack
 * buffer, escapes for terminals (C0, DEL, C1 in UTF-8, backslash) and
 * for JSON (quotes, controls), null for non-finite JSON numbers, and a
 * failed buffer reading as "".
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "outtext.h"

static void test_printf(void **state)
{
	(void)state;
	rml_outbuf o;
	rml_outbuf_init(&o);
	rml_out_printf(&o, "%d-%s", 12, "ab");
	assert_string_equal(rml_out_str(&o), "12-ab");
	assert_int_equal(o.len, 5);
	char big[2000];
	memset(big, 'x', sizeof big - 1);
	big[sizeof big - 1] = 0;
	rml_out_printf(&o, "[%s]", big);
	assert_int_equal(o.len, 5 + 2 + 1999);
	assert_int_equal(rml_out_str(&o)[6], 'x');
	assert_int_equal(rml_out_str(&o)[o.len - 1], ']');
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
	rml_out_json_str(&o, "q\"b\\\n\x7f");
	rml_out_printf(&o, " ");
	rml_out_json_num(&o, "%.6f", 0.5);
	rml_out_printf(&o, " ");
	rml_out_json_num(&o, "%.6f", NAN);
	rml_out_printf(&o, " ");
	rml_out_json_num(&o, "%.17g", -INFINITY);
	assert_string_equal(rml_out_str(&o), "\"q\\\"b\\\\\\u000a\\u007f\" 0.500000 null null");
	rml_outbuf_free(&o);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_printf),
		cmocka_unit_test(test_safe),
		cmocka_unit_test(test_json),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
