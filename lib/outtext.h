/*
 * outtext.h — text into an rml_outbuf: printf, strings escaped for a
 * terminal or for JSON, numbers as JSON has them. The reports of the
 * programs (a file's summary, a calibration's measures, an adaptation's
 * figures) are built with these, so that the library words them and a
 * test can read them, while the program decides where they go.
 *
 * Not here: the buffer itself and its atomic save (outbuf.h).
 */
#ifndef RML_OUTTEXT_H
#define RML_OUTTEXT_H

#include "outbuf.h"

/* printf into b; out of memory marks b failed, as any append does. */
void rml_out_printf(rml_outbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* s with control characters (C0, DEL, C1 in UTF-8) and backslashes
 * escaped as \n, \t, \r, \xHH, \u009b, \\, so that a name read from a
 * file cannot drive a terminal; NULL appends "(null)". */
void rml_out_safe(rml_outbuf *b, const char *s);

/* s as a JSON string, quotes included: quotes and backslashes escaped,
 * control characters (and DEL) as \u00HH. */
void rml_out_json_str(rml_outbuf *b, const char *s);

/* v with printf format fmt (e.g. "%.6f"), or null when v is NaN or
 * infinite (JSON has neither). */
void rml_out_json_num(rml_outbuf *b, const char *fmt, double v);

/* The buffer as a NUL-terminated string (the NUL not counted in b->len);
 * "" when b failed. For tests and for callers that print it whole. */
const char *rml_out_str(rml_outbuf *b);

#endif
