/*
 * npy.h — NumPy's .npy and .npz files, written so that analysis in Python
 * needs nothing of rmlops: numpy.load reads them as they are.
 *
 * A .npy file is one array: a magic string, a version, a header that is a
 * Python dict literal (descr, fortran_order, shape) padded so the data
 * starts at a multiple of 64 bytes, then the data in C order. A .npz file
 * is a zip archive of .npy files; rmlops writes it uncompressed ("stored"),
 * with a fixed time stamp, so the same input gives the same bytes.
 *
 * Not here: reading these formats (rmlops has no use for it), zip64
 * archives (an archive or a member beyond 4 GiB is refused).
 */
#ifndef RML_NPY_H
#define RML_NPY_H

#include <stdint.h>

#include "format.h"
#include "outbuf.h"
#include "rml.h"

/* Append a .npy of the array data[dims] (C order, little-endian) whose
 * NumPy type string is descr ("<f4", "|u1", "<i4", "<i8", "<f8", "<U7").
 * nbytes must be the product of dims times the element size. */
rml_status rml_npy_write(rml_outbuf *out, const char *descr, int ndim, const int64_t *dims,
			 const void *data, size_t nbytes, rml_error *err);
/* The same for a tensor of an .rml file (any rml_dtype). */
rml_status rml_npy_tensor(rml_outbuf *out, const rml_tensor *t, rml_error *err);
/* A 1-d array of n UTF-8 strings as NumPy unicode ("<Uk", k the longest
 * string in code points). RML_ERR_FORMAT for a string that is not UTF-8. */
rml_status rml_npy_strings(rml_outbuf *out, const char *const *s, int64_t n, rml_error *err);

/* A .npz archive being built: add members, then finish. */
typedef struct {
	rml_outbuf data;     /* local headers and member bytes */
	rml_outbuf dir;      /* the central directory */
	int64_t n;
} rml_npz;

void rml_npz_init(rml_npz *z);
void rml_npz_free(rml_npz *z);
/* Add the member name + ".npy" holding npy's bytes. */
rml_status rml_npz_add(rml_npz *z, const char *name, const rml_outbuf *npy, rml_error *err);
/* Append the finished archive to out. */
rml_status rml_npz_finish(rml_npz *z, rml_outbuf *out, rml_error *err);

/* Every array an .rml file holds, as one .npz: each tensor under its own
 * name, and each metadata key that is an array (class names as strings,
 * numeric arrays) under the key's name, except provenance and lineage and
 * a key whose name a tensor already has. A dataset gives images, labels
 * and dataset.classes; a predictions file probs, labels, rejected,
 * entropy. */
rml_status rml_npz_from_file(const rml_file *f, rml_outbuf *out, rml_error *err);

#endif
