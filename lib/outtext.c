/*
 * outtext.c — text into an rml_outbuf (outtext.h).
 */
#include "outtext.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void rml_out_safe(rml_outbuf *b, const char *s)
{
	if (!s) {
		rml_outbuf_add(b, "(null)", 6);
		return;
	}
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		unsigned ch = *p;
		if (ch == '\\')
			rml_outbuf_add(b, "\\\\", 2);
		else if (ch == '\n' || ch == '\t' || ch == '\r')
			rml_outbuf_add(b, ch == '\n' ? "\\n" : ch == '\t' ? "\\t" : "\\r", 2);
		else if (ch < 0x20 || ch == 0x7f)
			rml_outbuf_printf(b, "\\x%02x", ch);
		else if (ch == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f) {
			/* C1 controls (CSI is U+009B) in UTF-8. */
			rml_outbuf_printf(b, "\\u%04x", (unsigned)p[1]);
			p++;
		} else
			rml_outbuf_add(b, p, 1);
	}
}

void rml_out_json_num(rml_outbuf *b, const char *fmt, double v)
{
	if (!isfinite(v)) {
		rml_outbuf_add(b, "null", 4);
		return;
	}
	/* fmt is one of the caller's constant formats. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
	char s[64];
	int n = snprintf(s, sizeof s, fmt, v);
#pragma GCC diagnostic pop
	if (n < 0 || (size_t)n >= sizeof s)
		b->failed = 1;
	else
		rml_outbuf_add(b, s, (size_t)n);
}

const char *rml_out_str(rml_outbuf *b)
{
	if (b->failed)
		return "";
	rml_outbuf_add(b, "", 1);
	if (b->failed)
		return "";
	b->len--;
	return (const char *)b->data;
}
