/*
 * outbuf.h — a growing byte buffer and its atomic save, for the foreign
 * formats rmlops writes whole (safetensors, .npy, .npz): the output is
 * built in memory, then written to a temporary file in the same directory
 * and renamed into place, so a failed program leaves no half-written file.
 *
 * Also the text of reports (printf, JSON strings and numbers), built
 * here so that a report can be tested without a program around it.
 *
 * Not for .rml files (format.h streams those itself).
 */
#ifndef RML_OUTBUF_H
#define RML_OUTBUF_H

#include <stddef.h>
#include <stdint.h>

#include "rml.h"

typedef struct {
	uint8_t *data;
	size_t len, cap;
	int failed;         /* an append ran out of memory; later appends do nothing */
} rml_outbuf;

void rml_outbuf_init(rml_outbuf *b);
void rml_outbuf_free(rml_outbuf *b);
/* Append n bytes (data NULL: n zero bytes). Out of memory sets b->failed,
 * which rml_outbuf_save and the writers report, so callers may append
 * several pieces and check once. */
void rml_outbuf_add(rml_outbuf *b, const void *data, size_t n);
void rml_outbuf_u16(rml_outbuf *b, uint16_t v);   /* little-endian */
void rml_outbuf_u32(rml_outbuf *b, uint32_t v);
void rml_outbuf_u64(rml_outbuf *b, uint64_t v);
/* printf onto the end of b (no terminating NUL is kept). */
void rml_outbuf_printf(rml_outbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* s as a JSON string: quotes, with '"', '\\' and control characters
 * (below 0x20, and DEL) escaped. */
void rml_outbuf_json_str(rml_outbuf *b, const char *s);
/* v with six decimals, or null for NaN and infinity (JSON has neither). */
void rml_outbuf_json_num(rml_outbuf *b, double v);

/* Write the buffer to path ("-" = standard output; a device or FIFO is
 * written in place) through a temporary file, fsync and rename. On failure
 * no file is left at path and err names it. RML_ERR_NOMEM when an append
 * had failed. */
rml_status rml_outbuf_save(const rml_outbuf *b, const char *path, rml_error *err);

#endif
