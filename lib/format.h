/*
 * format.h — the .rml container that every rmlops program reads and writes:
 * models, adapter sets, datasets and predictions alike.
 *
 * An rml_file is an in-memory container: typed key/value metadata and named
 * tensors. Reading never seeks (stdin and pipes work) and never trusts a
 * size the header claims: memory grows only as bytes actually arrive, and
 * every declared size is checked against fixed limits first. Writing to a
 * path goes through a temporary file that is renamed into place, so a
 * failed program never leaves a half-written output. The byte layout is
 * specified in man/rmlops-format.5.
 *
 * Not here: what the tensors mean (model.h, dataset.h, predictions in
 * metrics.h) or provenance policy beyond the helpers at the end.
 */
#ifndef RML_FORMAT_H
#define RML_FORMAT_H

#include <stdint.h>
#include <stdio.h>

#include "rml.h"

#define RML_FORMAT_VERSION 1
#define RML_MAX_DIMS 8
#define RML_ALIGN 64                       /* tensor data alignment, bytes */
#define RML_MAX_NAME 255                   /* key and tensor name length */
#define RML_MAX_HEADER (64u << 20)         /* metadata + tensor table, bytes */
#define RML_MAX_TENSOR_BYTES (16ull << 30) /* one tensor */
#define RML_MAX_TENSORS 65536
#define RML_MAX_KV 65536

typedef enum {
	RML_DTYPE_F32 = 0,
	RML_DTYPE_U8 = 1,
	RML_DTYPE_I32 = 2,
	RML_DTYPE_I64 = 3,
	RML_DTYPE_F64 = 4,
	RML_DTYPE_COUNT
} rml_dtype;

typedef enum {
	RML_KV_I64 = 0,
	RML_KV_F64 = 1,
	RML_KV_STR = 2,
	RML_KV_I64_ARRAY = 3,
	RML_KV_F64_ARRAY = 4,
	RML_KV_STR_ARRAY = 5,
	RML_KV_COUNT
} rml_kv_type;

typedef struct {
	char *key;          /* dotted lower_snake_case, e.g. "dataset.classes" */
	rml_kv_type type;
	int64_t i;          /* RML_KV_I64 */
	double f;           /* RML_KV_F64 */
	char *s;            /* RML_KV_STR (NUL-terminated, may hold any bytes but NUL) */
	int64_t n;          /* array length */
	int64_t *ia;        /* RML_KV_I64_ARRAY */
	double *fa;         /* RML_KV_F64_ARRAY */
	char **sa;          /* RML_KV_STR_ARRAY */
} rml_kv;

typedef struct {
	char *name;
	rml_dtype dtype;
	int ndim;
	int64_t dims[RML_MAX_DIMS];
	size_t nbytes;      /* product of dims times element size */
	void *data;         /* RML_ALIGN-aligned, owned by the file */
} rml_tensor;

struct rml_index;

/* Read kv and tensors freely; change them only through the functions
 * below, which keep the name index in step (lookups by name take constant
 * time, so a file of 65,536 tensors loads as fast as its bytes arrive). */
typedef struct {
	rml_kv *kv;
	int64_t n_kv;
	rml_tensor *tensors;
	int64_t n_tensors;
	struct rml_index *index;  /* private to format.c; NULL: lookups scan */
} rml_file;

/* Element size of a dtype in bytes (0 for an unknown dtype). */
size_t rml_dtype_size(rml_dtype t);
/* "f32", "u8", "i32", "i64", "f64". */
const char *rml_dtype_name(rml_dtype t);

/* An empty container. rml_file_free releases everything it owns and leaves
 * an empty container behind (safe to free twice). */
void rml_file_init(rml_file *f);
void rml_file_free(rml_file *f);

/* Read one container from fp, which is left just past its last byte (so
 * several containers can follow one another on a stream). On failure f is
 * empty and err says what was wrong and where. `what` names the input in
 * messages ("model.rml", "stdin"). */
rml_status rml_file_read(rml_file *f, FILE *fp, const char *what, rml_error *err);
/* 1 when fp has no byte left (it reads one byte ahead, and puts it back). */
int rml_file_at_end(FILE *fp);
/* Open path ("-" = stdin) and read its one container: bytes after the end
 * marker are refused (RML_ERR_FORMAT), on a file and a stream alike. */
rml_status rml_file_load(rml_file *f, const char *path, rml_error *err);
/* Like rml_file_load, and also the SHA-256 of the exact bytes read (hex),
 * used for provenance of inputs. hex may be NULL. */
rml_status rml_file_load_hashed(rml_file *f, const char *path, char hex[65],
				rml_error *err);

/* Write the container to fp (sequentially, no seeking). */
rml_status rml_file_write(const rml_file *f, FILE *fp, const char *what, rml_error *err);
/* Write to path atomically (temporary file in the same directory, fsync,
 * rename); "-" = stdout. On failure no file is left at path. */
rml_status rml_file_save(const rml_file *f, const char *path, rml_error *err);

/* ---- metadata ----------------------------------------------------------- */

/* Setters copy their arguments and replace an existing key of any type.
 * Keys must be 1..RML_MAX_NAME bytes of [a-z0-9_.]. */
rml_status rml_set_i64(rml_file *f, const char *key, int64_t v);
rml_status rml_set_f64(rml_file *f, const char *key, double v);
rml_status rml_set_str(rml_file *f, const char *key, const char *v);
rml_status rml_set_i64_array(rml_file *f, const char *key, const int64_t *v, int64_t n);
rml_status rml_set_f64_array(rml_file *f, const char *key, const double *v, int64_t n);
rml_status rml_set_str_array(rml_file *f, const char *key, const char *const *v, int64_t n);
/* Set a copy of kv (key, type and value) in f. */
rml_status rml_set_kv(rml_file *f, const rml_kv *kv);
/* Remove a key if present. */
void rml_unset(rml_file *f, const char *key);

/* NULL when absent. */
const rml_kv *rml_get(const rml_file *f, const char *key);
/* Typed getters: RML_OK and *out set, or an error (absent: RML_ERR_FORMAT
 * "missing key", wrong type: RML_ERR_FORMAT) with a message naming the key. */
rml_status rml_get_i64(const rml_file *f, const char *key, int64_t *out, rml_error *err);
rml_status rml_get_f64(const rml_file *f, const char *key, double *out, rml_error *err);
/* The returned string belongs to f. */
rml_status rml_get_str(const rml_file *f, const char *key, const char **out, rml_error *err);

/* The required "kind" key: "model", "adapters", "dataset", "predictions"
 * (or another kind a later version adds). NULL when absent. */
const char *rml_file_kind(const rml_file *f);
/* RML_OK when the file's kind is `kind`, else RML_ERR_MISMATCH with a
 * message like "stdin: expected a dataset, got a model". */
rml_status rml_expect_kind(const rml_file *f, const char *kind, const char *what,
			   rml_error *err);

/* ---- tensors ------------------------------------------------------------ */

/* Add (or replace) a tensor; data is copied, or zero-filled when NULL.
 * Returns the tensor (owned by f) or NULL with err set. */
rml_tensor *rml_add_tensor(rml_file *f, const char *name, rml_dtype dtype, int ndim,
			   const int64_t *dims, const void *data, rml_error *err);
/* NULL when absent. */
rml_tensor *rml_find_tensor(const rml_file *f, const char *name);
/* Find a tensor and check dtype and rank (ndim < 0: any rank); error
 * message names the tensor and what was expected. */
rml_tensor *rml_expect_tensor(const rml_file *f, const char *name, rml_dtype dtype,
			      int ndim, rml_error *err);
/* Number of elements. */
int64_t rml_tensor_numel(const rml_tensor *t);

/* ---- provenance (lineage) ----------------------------------------------- */

/* Stamp a file about to be written with how it was made:
 *   provenance.program, provenance.version, provenance.command (argv joined
 *   with shell quoting), provenance.seed (when seed >= 0), provenance.time is
 *   NOT written (outputs must be byte-identical across runs),
 *   provenance.inputs = ["<role>=sha256:<hex>", ...],
 * and lineage.history = the inputs' own history entries (an entry several
 * inputs share, once) followed by one entry for this step, each a one-line
 * JSON object, at most 64 entries (oldest dropped). `parents` are the already-read input files whose
 * history carries over (may be NULL/0). */
rml_status rml_provenance_stamp(rml_file *out, const char *program, int argc,
				char **argv, int64_t seed, const char *const *input_roles,
				const char *const *input_hashes, int n_inputs,
				const rml_file *const *parents, int n_parents,
				rml_error *err);

/* dst (initialised) takes the lineage.history of src, an input just read,
 * as rml_provenance_stamp's parents want it: each entry with control
 * characters and backslashes escaped as reports escape text (rml_out_safe,
 * outtext.h), so that a control character in one file does not travel on
 * into every file made from it. A src without a history, or with one that
 * is not a list of strings, leaves dst as it is. */
rml_status rml_provenance_lineage(rml_file *dst, const rml_file *src, rml_error *err);

/* The digest f's provenance records for its input of this role: the text
 * after "<role>=" of the first such entry of provenance.inputs
 * ("sha256:<hex>"), or NULL when it records none. */
const char *rml_provenance_input(const rml_file *f, const char *role);

#endif
