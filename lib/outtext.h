/*
 * outtext.h — what the programs' text reports need beyond outbuf.h's
 * printf and JSON: strings escaped for a terminal, JSON numbers in a
 * format of the caller's (the training log's five decimals, a file's
 * metadata in full precision), and the buffer read as a string. The
 * reports (a file's summary, a calibration's measures, an adaptation's
 * figures) are built with these and outbuf.h, so that the library words
 * them and a test can read them, while the program decides where they
 * go.
 *
 * Not here: the buffer, its printf and six-decimal JSON, its atomic save
 * (outbuf.h).
 */
#ifndef RML_OUTTEXT_H
#define RML_OUTTEXT_H

#include "outbuf.h"

/* s with control characters (C0, DEL, C1 in UTF-8) and backslashes
 * escaped as \n, \t, \r, \xHH, \u009b, \\, so that a name read from a
 * file cannot drive a terminal; NULL appends "(null)". */
void rml_out_safe(rml_outbuf *b, const char *s);

/* v with printf format fmt (one double conversion, e.g. "%.5f"), or null
 * when v is NaN or infinite (JSON has neither); rml_outbuf_json_num is
 * this with "%.6f". */
void rml_out_json_num(rml_outbuf *b, const char *fmt, double v);

/* The buffer as a NUL-terminated string (the NUL not counted in b->len);
 * "" when b failed. For tests and for callers that print it whole. */
const char *rml_out_str(rml_outbuf *b);

#endif
