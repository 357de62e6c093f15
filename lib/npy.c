/*
 * npy.c — .npy and .npz writers (npy.h). Layouts: NumPy's format.py
 * documentation (NEP 1) for .npy, PKWARE's APPNOTE for the zip container
 * (local file headers, central directory, end record; method 0, stored).
 */
#include "npy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

rml_status rml_npy_write(rml_outbuf *out, const char *descr, int ndim, const int64_t *dims,
			 const void *data, size_t nbytes, rml_error *err)
{
	char head[512];
	size_t at = (size_t)snprintf(head, sizeof head,
				     "{'descr': '%s', 'fortran_order': False, 'shape': (", descr);
	for (int d = 0; d < ndim && at < sizeof head; d++)
		at += (size_t)snprintf(head + at, sizeof head - at, "%lld,%s", (long long)dims[d],
				       d + 1 < ndim ? " " : "");
	if (at < sizeof head)
		at += (size_t)snprintf(head + at, sizeof head - at, "), }");
	if (at + 64 >= sizeof head)
		return rml_errorf(err, RML_ERR_LIMIT, "array header too long");
	/* A one-element shape needs the trailing comma, a longer one takes it
	 * too ("(3, 4,)" is valid Python). Pad with spaces and end with a
	 * newline so magic + version + length + header is a multiple of 64. */
	size_t total = 10 + at + 1, pad = (64 - total % 64) % 64;
	memset(head + at, ' ', pad);
	at += pad;
	head[at++] = '\n';
	rml_outbuf_add(out, "\x93NUMPY\x01\x00", 8);
	rml_outbuf_u16(out, (uint16_t)at);
	rml_outbuf_add(out, head, at);
	rml_outbuf_add(out, data, nbytes);
	if (out->failed)
		return rml_errorf(err, RML_ERR_NOMEM, "out of memory");
	return RML_OK;
}

rml_status rml_npy_tensor(rml_outbuf *out, const rml_tensor *t, rml_error *err)
{
	static const char *const descr[RML_DTYPE_COUNT] = {
		[RML_DTYPE_F32] = "<f4", [RML_DTYPE_U8] = "|u1", [RML_DTYPE_I32] = "<i4",
		[RML_DTYPE_I64] = "<i8", [RML_DTYPE_F64] = "<f8",
	};
	if ((unsigned)t->dtype >= RML_DTYPE_COUNT)
		return rml_errorf(err, RML_ERR_ARG, "tensor %s: unknown dtype", t->name);
	return rml_npy_write(out, descr[t->dtype], t->ndim, t->dims, t->data, t->nbytes, err);
}

/* Decode one UTF-8 sequence at s; returns its length (0 for invalid). */
static int utf8_next(const unsigned char *s, uint32_t *cp)
{
	if (s[0] < 0x80) {
		*cp = s[0];
		return 1;
	}
	int n = s[0] >= 0xf0 && s[0] < 0xf5 ? 4 : s[0] >= 0xe0 ? 3 : s[0] >= 0xc2 ? 2 : 0;
	if (n == 0 || (n == 3 && s[0] >= 0xf0))
		return 0;
	uint32_t c = s[0] & (0x7f >> n);
	for (int i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		c = c << 6 | (s[i] & 0x3f);
	}
	if ((n == 3 && c < 0x800) || (n == 4 && (c < 0x10000 || c > 0x10ffff)) ||
	    (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return n;
}

rml_status rml_npy_strings(rml_outbuf *out, const char *const *s, int64_t n, rml_error *err)
{
	int64_t width = 1;
	for (int64_t i = 0; i < n; i++) {
		int64_t k = 0;
		uint32_t cp;
		for (const unsigned char *p = (const unsigned char *)s[i]; *p; k++) {
			int l = utf8_next(p, &cp);
			if (!l)
				return rml_errorf(err, RML_ERR_FORMAT, "string %lld is not UTF-8", (long long)i);
			p += l;
		}
		width = k > width ? k : width;
	}
	uint32_t *u = calloc((size_t)(n * width + 1), sizeof *u);
	if (!u)
		return rml_errorf(err, RML_ERR_NOMEM, "out of memory");
	for (int64_t i = 0; i < n; i++) {
		int64_t k = 0;
		for (const unsigned char *p = (const unsigned char *)s[i]; *p; k++)
			p += utf8_next(p, &u[i * width + k]);
	}
	char descr[32];
	snprintf(descr, sizeof descr, "<U%lld", (long long)width);
	/* The host is little-endian, as everywhere in rmlops. */
	rml_status st = rml_npy_write(out, descr, 1, &n, u, (size_t)(n * width) * 4, err);
	free(u);
	return st;
}

void rml_npz_init(rml_npz *z)
{
	rml_outbuf_init(&z->data);
	rml_outbuf_init(&z->dir);
	z->n = 0;
}

void rml_npz_free(rml_npz *z)
{
	rml_outbuf_free(&z->data);
	rml_outbuf_free(&z->dir);
	z->n = 0;
}

#define ZIP_DATE 0x0021   /* 1980-01-01, the earliest a zip can say: fixed for reproducibility */

rml_status rml_npz_add(rml_npz *z, const char *name, const rml_outbuf *npy, rml_error *err)
{
	size_t nl = strlen(name) + 4;
	if (nl > 0xffff || z->n >= 0xffff)
		return rml_errorf(err, RML_ERR_LIMIT, "member %s: too many members or too long a name", name);
	if (npy->len >= 0xffffffffu || z->data.len >= 0xffffffffu - npy->len - 30 - nl)
		return rml_errorf(err, RML_ERR_LIMIT, "member %s: the archive would exceed 4 GiB", name);
	uLong crc = crc32(0L, Z_NULL, 0);
	for (size_t at = 0; at < npy->len;) {
		size_t k = npy->len - at > (1u << 30) ? (1u << 30) : npy->len - at;
		crc = crc32(crc, npy->data + at, (uInt)k);
		at += k;
	}
	uint32_t off = (uint32_t)z->data.len;
	rml_outbuf *b = &z->data;
	rml_outbuf_u32(b, 0x04034b50);
	rml_outbuf_u16(b, 20);     /* version needed */
	rml_outbuf_u16(b, 0);      /* flags */
	rml_outbuf_u16(b, 0);      /* stored */
	rml_outbuf_u16(b, 0);      /* time */
	rml_outbuf_u16(b, ZIP_DATE);
	rml_outbuf_u32(b, (uint32_t)crc);
	rml_outbuf_u32(b, (uint32_t)npy->len);
	rml_outbuf_u32(b, (uint32_t)npy->len);
	rml_outbuf_u16(b, (uint16_t)nl);
	rml_outbuf_u16(b, 0);      /* extra */
	rml_outbuf_add(b, name, nl - 4);
	rml_outbuf_add(b, ".npy", 4);
	rml_outbuf_add(b, npy->data, npy->len);
	b = &z->dir;
	rml_outbuf_u32(b, 0x02014b50);
	rml_outbuf_u16(b, 20);     /* made by */
	rml_outbuf_u16(b, 20);
	rml_outbuf_u16(b, 0);
	rml_outbuf_u16(b, 0);
	rml_outbuf_u16(b, 0);
	rml_outbuf_u16(b, ZIP_DATE);
	rml_outbuf_u32(b, (uint32_t)crc);
	rml_outbuf_u32(b, (uint32_t)npy->len);
	rml_outbuf_u32(b, (uint32_t)npy->len);
	rml_outbuf_u16(b, (uint16_t)nl);
	rml_outbuf_u16(b, 0);      /* extra */
	rml_outbuf_u16(b, 0);      /* comment */
	rml_outbuf_u16(b, 0);      /* disk */
	rml_outbuf_u16(b, 0);      /* internal attributes */
	rml_outbuf_u32(b, 0);      /* external attributes */
	rml_outbuf_u32(b, off);
	rml_outbuf_add(b, name, nl - 4);
	rml_outbuf_add(b, ".npy", 4);
	z->n++;
	if (z->data.failed || z->dir.failed)
		return rml_errorf(err, RML_ERR_NOMEM, "out of memory");
	return RML_OK;
}

rml_status rml_npz_finish(rml_npz *z, rml_outbuf *out, rml_error *err)
{
	if (z->data.len + z->dir.len >= 0xffffffffu)
		return rml_errorf(err, RML_ERR_LIMIT, "the archive would exceed 4 GiB");
	rml_outbuf_add(out, z->data.data, z->data.len);
	rml_outbuf_add(out, z->dir.data, z->dir.len);
	rml_outbuf_u32(out, 0x06054b50);
	rml_outbuf_u16(out, 0);
	rml_outbuf_u16(out, 0);
	rml_outbuf_u16(out, (uint16_t)z->n);
	rml_outbuf_u16(out, (uint16_t)z->n);
	rml_outbuf_u32(out, (uint32_t)z->dir.len);
	rml_outbuf_u32(out, (uint32_t)z->data.len);
	rml_outbuf_u16(out, 0);
	if (out->failed)
		return rml_errorf(err, RML_ERR_NOMEM, "out of memory");
	return RML_OK;
}

static int skipped_key(const rml_file *f, const rml_kv *kv)
{
	if (kv->type != RML_KV_STR_ARRAY && kv->type != RML_KV_I64_ARRAY && kv->type != RML_KV_F64_ARRAY)
		return 1;
	return strncmp(kv->key, "provenance.", 11) == 0 || strncmp(kv->key, "lineage.", 8) == 0 ||
	       rml_find_tensor(f, kv->key) != NULL;
}

rml_status rml_npz_from_file(const rml_file *f, rml_outbuf *out, rml_error *err)
{
	rml_npz z;
	rml_npz_init(&z);
	rml_outbuf one;
	rml_outbuf_init(&one);
	rml_status st = RML_OK;
	for (int64_t i = 0; i < f->n_tensors && !st; i++) {
		one.len = 0;
		st = rml_npy_tensor(&one, &f->tensors[i], err);
		if (!st)
			st = rml_npz_add(&z, f->tensors[i].name, &one, err);
	}
	for (int64_t i = 0; i < f->n_kv && !st; i++) {
		const rml_kv *kv = &f->kv[i];
		if (skipped_key(f, kv))
			continue;
		one.len = 0;
		if (kv->type == RML_KV_STR_ARRAY)
			st = rml_npy_strings(&one, (const char *const *)kv->sa, kv->n, err);
		else if (kv->type == RML_KV_I64_ARRAY)
			st = rml_npy_write(&one, "<i8", 1, &kv->n, kv->ia, (size_t)kv->n * 8, err);
		else
			st = rml_npy_write(&one, "<f8", 1, &kv->n, kv->fa, (size_t)kv->n * 8, err);
		if (st && err) {
			char why[sizeof err->msg];
			snprintf(why, sizeof why, "%s", err->msg);
			st = rml_errorf(err, st, "key %s: %s", kv->key, why);
		} else if (!st)
			st = rml_npz_add(&z, kv->key, &one, err);
	}
	if (!st)
		st = rml_npz_finish(&z, out, err);
	rml_outbuf_free(&one);
	rml_npz_free(&z);
	return st;
}
