/*
 * test_outbuf.c — the report helpers of outbuf.h: printf beyond its
 * small stack buffer, JSON strings with every escape, JSON numbers with
 * null for NaN and infinity; and the appends' failure flag.
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

#include "outbuf.h"

static const char *text(rml_outbuf *o)
{
	rml_outbuf_add(o, "", 1);
	o->len--;
	return (const char *)o->data;
}

static void test_printf(void **state)
{
	(void)state;
	rml_outbuf o;
	rml_outbuf_init(&o);
	rml_outbuf_printf(&o, "%s=%d;", "x", 42);
	char big[2000];
	memset(big, 'y', sizeof big - 1);
	big[sizeof big - 1] = 0;
	rml_outbuf_printf(&o, "%s", big);
	assert_int_equal(o.len, 5 + 1999);
	assert_memory_equal(o.data, "x=42;yyy", 8);
	assert_int_equal(o.data[o.len - 1], 'y');
	rml_outbuf_free(&o);
}

static void test_json(void **state)
{
	(void)state;
	rml_outbuf o;
	rml_outbuf_init(&o);
	rml_outbuf_json_str(&o, "a\"b\\c\n\x01\x7f\xc3\xa9");
	assert_string_equal(text(&o), "\"a\\\"b\\\\c\\u000a\\u0001\\u007f\xc3\xa9\"");
	o.len = 0;
	rml_outbuf_json_num(&o, 0.5);
	rml_outbuf_add(&o, ",", 1);
	rml_outbuf_json_num(&o, NAN);
	rml_outbuf_add(&o, ",", 1);
	rml_outbuf_json_num(&o, -INFINITY);
	rml_outbuf_add(&o, ",", 1);
	rml_outbuf_json_num(&o, 1e-7);
	assert_string_equal(text(&o), "0.500000,null,null,0.000000");
	/* After a failed append nothing more is added. */
	o.failed = 1;
	size_t len = o.len;
	rml_outbuf_printf(&o, "more");
	assert_int_equal(o.len, len);
	rml_outbuf_free(&o);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_printf),
		cmocka_unit_test(test_json),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
