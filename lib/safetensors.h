/*
 * safetensors.h — reading and writing the safetensors format, the weight
 * files of the PyTorch world: an 8-byte little-endian
 * header length N, N bytes of a JSON object (for each tensor its dtype,
 * shape and [begin, end) data offsets; optionally "__metadata__", a map of
 * strings), then the raw little-endian tensor data.
 *
 * The reader takes nothing on trust. The JSON is parsed by jansson
 * (duplicate keys refused); every entry must have exactly dtype, shape and
 * data_offsets; the byte count of every tensor must equal its shape times
 * its element size, computed without overflow and within the library's
 * limits; and the tensors must tile the data area exactly (no overlap, no
 * hole, no byte after the last tensor), as the format's specification
 * demands, so a file means one thing only. Any failure is one line naming
 * the input and the offending tensor.
 *
 * Not here: what the tensors mean to an rmlops model (torchmap.h).
 */
#ifndef RML_SAFETENSORS_H
#define RML_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "outbuf.h"
#include "rml.h"

#define RML_ST_MAX_DIMS 8
#define RML_ST_MAX_HEADER 100000000u   /* bytes of JSON, the format's own limit */

/* The element types of the format, by their names in the header. */
typedef enum {
	RML_ST_BOOL, RML_ST_U8, RML_ST_I8, RML_ST_I16, RML_ST_U16, RML_ST_F16, RML_ST_BF16,
	RML_ST_I32, RML_ST_U32, RML_ST_F32, RML_ST_F64, RML_ST_I64, RML_ST_U64,
	RML_ST_F8_E5M2, RML_ST_F8_E4M3,
	RML_ST_DTYPE_COUNT
} rml_st_dtype;

/* "F32", "BF16", ...; element size in bytes. */
const char *rml_st_dtype_name(rml_st_dtype t);
size_t rml_st_dtype_size(rml_st_dtype t);

typedef struct {
	char *name;
	rml_st_dtype dtype;
	int ndim;
	int64_t dims[RML_ST_MAX_DIMS];
	int64_t numel;
	size_t nbytes;
	const uint8_t *data;  /* into the file's bytes; not aligned */
} rml_st_tensor;

typedef struct {
	uint8_t *bytes;       /* the whole file, owned */
	size_t len;
	rml_st_tensor *t;     /* in the header's order */
	int64_t n;
	char **meta_key, **meta_val;   /* "__metadata__" */
	int64_t n_meta;
} rml_st_file;

void rml_st_init(rml_st_file *f);
void rml_st_free(rml_st_file *f);   /* leaves an empty file; safe twice */

/* Parse a complete file held in bytes[0..len) (copied). On failure f is
 * empty and err is RML_ERR_FORMAT (or RML_ERR_LIMIT, RML_ERR_NOMEM) with
 * a message that begins with `what`. */
rml_status rml_st_parse(rml_st_file *f, const void *bytes, size_t len, const char *what,
			rml_error *err);
/* Read path ("-" = standard input) whole and parse it. */
rml_status rml_st_load(rml_st_file *f, const char *path, rml_error *err);

/* NULL when absent. */
const rml_st_tensor *rml_st_find(const rml_st_file *f, const char *name);
const char *rml_st_meta(const rml_st_file *f, const char *key);

/* Copy a floating-point tensor (F32, F64, F16, BF16) into out[numel] as
 * float32 (F64 rounds to nearest; the others are exact). RML_ERR_MISMATCH
 * for any other dtype. */
rml_status rml_st_to_f32(const rml_st_tensor *t, float *out, const char *what, rml_error *err);

/* One tensor to write; data holds numel elements, little-endian. */
typedef struct {
	const char *name;
	rml_st_dtype dtype;
	int ndim;
	int64_t dims[RML_ST_MAX_DIMS];
	const void *data;
} rml_st_out;

/* Append a whole file to out: tensors in the order given, data packed
 * without gaps in that order, the header padded with spaces to a multiple
 * of 8 bytes; meta holds n_meta key/value pairs (keys[i], vals[i]) for
 * "__metadata__" (none when n_meta is 0). The same input gives the same
 * bytes. RML_ERR_ARG for a duplicate or empty name, a name
 * "__metadata__", or a bad shape. */
rml_status rml_st_write(const rml_st_out *t, int64_t n, const char *const *keys,
			const char *const *vals, int64_t n_meta, rml_outbuf *out, rml_error *err);

#endif
