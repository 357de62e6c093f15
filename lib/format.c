/*
 * format.c — reading and writing the .rml container (layout in
 * man/rmlops-format.5, API in format.h).
 *
 * The reader consumes the stream strictly in order, so pipes work, and it
 * trusts no size before checking it: the header is bounded by
 * RML_MAX_HEADER before it is allocated, every count and length inside it
 * is checked against the bytes that remain in the header, and tensor
 * buffers grow only as their bytes actually arrive.
 */
#include "format.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "outtext.h"

static const uint8_t MAGIC[8] = { 0x89, 'R', 'M', 'L', '\r', '\n', 0x1a, '\n' };
static const uint8_t END_MARK[8] = { 'R', 'M', 'L', 'E', 'N', 'D', 0, 0 };
#define CHUNK ((size_t)16 << 20)

size_t rml_dtype_size(rml_dtype t)
{
	switch (t) {
	case RML_DTYPE_F32: return 4;
	case RML_DTYPE_U8: return 1;
	case RML_DTYPE_I32: return 4;
	case RML_DTYPE_I64: return 8;
	case RML_DTYPE_F64: return 8;
	default: return 0;
	}
}

const char *rml_dtype_name(rml_dtype t)
{
	static const char *const names[] = { "f32", "u8", "i32", "i64", "f64" };
	return (unsigned)t < RML_DTYPE_COUNT ? names[t] : "?";
}

void rml_file_init(rml_file *f)
{
	memset(f, 0, sizeof *f);
}

static void kv_clear(rml_kv *kv)
{
	free(kv->key);
	free(kv->s);
	free(kv->ia);
	free(kv->fa);
	if (kv->sa)
		for (int64_t i = 0; i < kv->n; i++)
			free(kv->sa[i]);
	free(kv->sa);
	memset(kv, 0, sizeof *kv);
}

static void tensor_clear(rml_tensor *t)
{
	free(t->name);
	free(t->data);
	memset(t, 0, sizeof *t);
}

/* ---- name index ------------------------------------------------------------
 * Open-addressing tables from key and tensor names to their positions, so
 * that reading a file (which checks every name against those before it)
 * and looking names up do not take time quadratic in the number of names.
 * The index is an accelerator only: when memory for it runs out it is
 * dropped and lookups fall back to scanning, which gives the same answers. */

typedef struct {
	int64_t *slot;  /* position + 1; 0 empty */
	size_t cap;     /* a power of two, at least twice the entries */
} name_tab;

struct rml_index {
	name_tab kv, t;
};

static uint64_t name_hash(const char *s)
{
	uint64_t h = 1469598103934665603ull;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return h ^ (h >> 29);
}

static const char *kv_name_at(const rml_file *f, int64_t i) { return f->kv[i].key; }
static const char *tensor_name_at(const rml_file *f, int64_t i) { return f->tensors[i].name; }

static void tab_put(name_tab *t, const char *name, int64_t pos)
{
	size_t m = t->cap - 1, h = (size_t)name_hash(name) & m;
	while (t->slot[h])
		h = (h + 1) & m;
	t->slot[h] = pos + 1;
}

/* Rebuild t for n entries; 0, or -1 when out of memory (t unchanged). */
static int tab_build(name_tab *t, const rml_file *f, int64_t n,
		     const char *(*name_at)(const rml_file *, int64_t))
{
	size_t cap = 16;
	while (cap < 2 * (size_t)n + 2)
		cap *= 2;
	int64_t *slot = calloc(cap, sizeof *slot);
	if (!slot)
		return -1;
	free(t->slot);
	t->slot = slot;
	t->cap = cap;
	for (int64_t i = 0; i < n; i++)
		tab_put(t, name_at(f, i), i);
	return 0;
}

/* Position of name, -1 when absent. */
static int64_t tab_find(const name_tab *t, const rml_file *f, const char *name,
			const char *(*name_at)(const rml_file *, int64_t))
{
	size_t m = t->cap - 1, h = (size_t)name_hash(name) & m;
	for (; t->slot[h]; h = (h + 1) & m)
		if (strcmp(name_at(f, t->slot[h] - 1), name) == 0)
			return t->slot[h] - 1;
	return -1;
}

static void index_drop(rml_file *f)
{
	if (f->index) {
		free(f->index->kv.slot);
		free(f->index->t.slot);
		free(f->index);
		f->index = NULL;
	}
}

/* Bring the index in step after one key (which = 0) or one tensor
 * (which = 1) was appended at the end, or, with rebuild, after keys were
 * moved; on failure the index is dropped and lookups scan. */
static void index_sync(rml_file *f, int which, int rebuild)
{
	if (!f->index) {
		f->index = calloc(1, sizeof *f->index);
		if (!f->index)
			return;
		if (tab_build(&f->index->kv, f, f->n_kv, kv_name_at) ||
		    tab_build(&f->index->t, f, f->n_tensors, tensor_name_at))
			index_drop(f);
		return;
	}
	struct rml_index *x = f->index;
	name_tab *t = which ? &x->t : &x->kv;
	int64_t n = which ? f->n_tensors : f->n_kv;
	const char *(*name_at)(const rml_file *, int64_t) = which ? tensor_name_at : kv_name_at;
	if (rebuild || 2 * (size_t)n + 2 > t->cap) {
		if (tab_build(t, f, n, name_at))
			index_drop(f);
	} else if (n > 0) {
		tab_put(t, name_at(f, n - 1), n - 1);
	}
}

static int64_t find_kv(const rml_file *f, const char *key)
{
	if (f->index)
		return tab_find(&f->index->kv, f, key, kv_name_at);
	for (int64_t i = 0; i < f->n_kv; i++)
		if (strcmp(f->kv[i].key, key) == 0)
			return i;
	return -1;
}

static int64_t find_tensor(const rml_file *f, const char *name)
{
	if (f->index)
		return tab_find(&f->index->t, f, name, tensor_name_at);
	for (int64_t i = 0; i < f->n_tensors; i++)
		if (strcmp(f->tensors[i].name, name) == 0)
			return i;
	return -1;
}

void rml_file_free(rml_file *f)
{
	index_drop(f);
	for (int64_t i = 0; i < f->n_kv; i++)
		kv_clear(&f->kv[i]);
	for (int64_t i = 0; i < f->n_tensors; i++)
		tensor_clear(&f->tensors[i]);
	free(f->kv);
	free(f->tensors);
	rml_file_init(f);
}

/* ---- names ---------------------------------------------------------------- */

static int key_ok(const char *k, size_t n)
{
	if (n < 1 || n > RML_MAX_NAME)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = k[i];
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.'))
			return 0;
	}
	return 1;
}

static int name_ok(const char *s, size_t n)
{
	if (n < 1 || n > RML_MAX_NAME)
		return 0;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] <= ' ' || (unsigned char)s[i] >= 0x7f)
			return 0;
	return 1;
}

/* ---- metadata --------------------------------------------------------------- */

/* Room for one more element in an array of n: the arrays grow to the next
 * power of two (so capacity is never stored: it is at least the power of
 * two at or above n), which keeps appending 65536 names linear where a
 * realloc per element copied the array each time. 0, or -1 when out of
 * memory (the array unchanged). */
static int room_for_one(void **arr, int64_t n, size_t elem)
{
	if (n > 0 && (n & (n - 1)) != 0)
		return 0;
	void *v = realloc(*arr, (size_t)(n ? 2 * n : 1) * elem);
	if (!v)
		return -1;
	*arr = v;
	return 0;
}

static rml_kv *kv_slot(rml_file *f, const char *key)
{
	int64_t i = find_kv(f, key);
	if (i >= 0) {
		char *k = f->kv[i].key;
		f->kv[i].key = NULL;
		kv_clear(&f->kv[i]);
		f->kv[i].key = k;
		return &f->kv[i];
	}
	if (f->n_kv >= RML_MAX_KV)
		return NULL;
	if (room_for_one((void **)&f->kv, f->n_kv, sizeof *f->kv))
		return NULL;
	rml_kv *kv = &f->kv[f->n_kv];
	memset(kv, 0, sizeof *kv);
	kv->key = strdup(key);
	if (!kv->key)
		return NULL;
	f->n_kv++;
	index_sync(f, 0, 0);
	return kv;
}

static rml_kv *kv_new(rml_file *f, const char *key, rml_kv_type type, rml_status *st)
{
	if (!key_ok(key, strlen(key))) {
		*st = RML_ERR_ARG;
		return NULL;
	}
	rml_kv *kv = kv_slot(f, key);
	if (!kv) {
		*st = RML_ERR_NOMEM;
		return NULL;
	}
	kv->type = type;
	*st = RML_OK;
	return kv;
}

rml_status rml_set_i64(rml_file *f, const char *key, int64_t v)
{
	rml_status st;
	rml_kv *kv = kv_new(f, key, RML_KV_I64, &st);
	if (kv)
		kv->i = v;
	return st;
}

rml_status rml_set_f64(rml_file *f, const char *key, double v)
{
	rml_status st;
	rml_kv *kv = kv_new(f, key, RML_KV_F64, &st);
	if (kv)
		kv->f = v;
	return st;
}

rml_status rml_set_str(rml_file *f, const char *key, const char *v)
{
	rml_status st;
	rml_kv *kv = kv_new(f, key, RML_KV_STR, &st);
	if (!kv)
		return st;
	kv->s = strdup(v ? v : "");
	return kv->s ? RML_OK : RML_ERR_NOMEM;
}

rml_status rml_set_i64_array(rml_file *f, const char *key, const int64_t *v, int64_t n)
{
	rml_status st;
	rml_kv *kv = kv_new(f, key, RML_KV_I64_ARRAY, &st);
	if (!kv)
		return st;
	kv->ia = malloc((size_t)(n ? n : 1) * sizeof *kv->ia);
	if (!kv->ia)
		return RML_ERR_NOMEM;
	if (n)
		memcpy(kv->ia, v, (size_t)n * sizeof *v);
	kv->n = n;
	return RML_OK;
}

rml_status rml_set_f64_array(rml_file *f, const char *key, const double *v, int64_t n)
{
	rml_status st;
	rml_kv *kv = kv_new(f, key, RML_KV_F64_ARRAY, &st);
	if (!kv)
		return st;
	kv->fa = malloc((size_t)(n ? n : 1) * sizeof *kv->fa);
	if (!kv->fa)
		return RML_ERR_NOMEM;
	if (n)
		memcpy(kv->fa, v, (size_t)n * sizeof *v);
	kv->n = n;
	return RML_OK;
}

rml_status rml_set_str_array(rml_file *f, const char *key, const char *const *v, int64_t n)
{
	rml_status st;
	rml_kv *kv = kv_new(f, key, RML_KV_STR_ARRAY, &st);
	if (!kv)
		return st;
	kv->sa = calloc((size_t)(n ? n : 1), sizeof *kv->sa);
	if (!kv->sa)
		return RML_ERR_NOMEM;
	kv->n = n;
	for (int64_t i = 0; i < n; i++)
		if (!(kv->sa[i] = strdup(v[i] ? v[i] : "")))
			return RML_ERR_NOMEM;
	return RML_OK;
}

rml_status rml_set_kv(rml_file *f, const rml_kv *kv)
{
	switch (kv->type) {
	case RML_KV_I64: return rml_set_i64(f, kv->key, kv->i);
	case RML_KV_F64: return rml_set_f64(f, kv->key, kv->f);
	case RML_KV_STR: return rml_set_str(f, kv->key, kv->s);
	case RML_KV_I64_ARRAY: return rml_set_i64_array(f, kv->key, kv->ia, kv->n);
	case RML_KV_F64_ARRAY: return rml_set_f64_array(f, kv->key, kv->fa, kv->n);
	case RML_KV_STR_ARRAY:
		return rml_set_str_array(f, kv->key, (const char *const *)kv->sa, kv->n);
	default: return RML_ERR_ARG;
	}
}

void rml_unset(rml_file *f, const char *key)
{
	int64_t i = find_kv(f, key);
	if (i < 0)
		return;
	kv_clear(&f->kv[i]);
	memmove(&f->kv[i], &f->kv[i + 1], (size_t)(f->n_kv - i - 1) * sizeof *f->kv);
	f->n_kv--;
	index_sync(f, 0, 1);
}

const rml_kv *rml_get(const rml_file *f, const char *key)
{
	int64_t i = find_kv(f, key);
	return i >= 0 ? &f->kv[i] : NULL;
}

static const rml_kv *get_typed(const rml_file *f, const char *key, rml_kv_type t,
			       const char *tname, rml_error *err)
{
	const rml_kv *kv = rml_get(f, key);
	if (!kv) {
		rml_errorf(err, RML_ERR_FORMAT, "missing key '%s'", key);
		return NULL;
	}
	if (kv->type != t) {
		rml_errorf(err, RML_ERR_FORMAT, "key '%s' is not %s", key, tname);
		return NULL;
	}
	return kv;
}

rml_status rml_get_i64(const rml_file *f, const char *key, int64_t *out, rml_error *err)
{
	const rml_kv *kv = get_typed(f, key, RML_KV_I64, "an integer", err);
	if (!kv)
		return RML_ERR_FORMAT;
	*out = kv->i;
	return RML_OK;
}

rml_status rml_get_f64(const rml_file *f, const char *key, double *out, rml_error *err)
{
	const rml_kv *kv = rml_get(f, key);
	if (kv && kv->type == RML_KV_I64) {
		*out = (double)kv->i;
		return RML_OK;
	}
	kv = get_typed(f, key, RML_KV_F64, "a number", err);
	if (!kv)
		return RML_ERR_FORMAT;
	*out = kv->f;
	return RML_OK;
}

rml_status rml_get_str(const rml_file *f, const char *key, const char **out, rml_error *err)
{
	const rml_kv *kv = get_typed(f, key, RML_KV_STR, "a string", err);
	if (!kv)
		return RML_ERR_FORMAT;
	*out = kv->s;
	return RML_OK;
}

const char *rml_file_kind(const rml_file *f)
{
	const rml_kv *kv = rml_get(f, "kind");
	return kv && kv->type == RML_KV_STR ? kv->s : NULL;
}

static const char *article(const char *w)
{
	return strchr("aeiou", w[0]) ? "an" : "a";
}

rml_status rml_expect_kind(const rml_file *f, const char *kind, const char *what,
			   rml_error *err)
{
	const char *k = rml_file_kind(f);
	if (k && strcmp(k, kind) == 0)
		return RML_OK;
	if (!k)
		return rml_errorf(err, RML_ERR_MISMATCH, "%s: expected %s %s, got a file without kind",
				  what, article(kind), kind);
	return rml_errorf(err, RML_ERR_MISMATCH, "%s: expected %s %s, got %s %s", what,
			  article(kind), kind, article(k), k);
}

/* ---- tensors ---------------------------------------------------------------- */

static rml_status shape_bytes(rml_dtype dtype, int ndim, const int64_t *dims, size_t *out)
{
	size_t es = rml_dtype_size(dtype);
	if (!es || ndim < 0 || ndim > RML_MAX_DIMS)
		return RML_ERR_FORMAT;
	int64_t n = (int64_t)es;
	for (int i = 0; i < ndim; i++)
		if (dims[i] < 0 || rml_mul_overflow(n, dims[i], &n))
			return RML_ERR_LIMIT;
	if ((uint64_t)n > RML_MAX_TENSOR_BYTES)
		return RML_ERR_LIMIT;
	*out = (size_t)n;
	return RML_OK;
}

static void *alloc_aligned(size_t n)
{
	void *p = NULL;
	if (posix_memalign(&p, RML_ALIGN, n ? n : RML_ALIGN))
		return NULL;
	return p;
}

int64_t rml_tensor_numel(const rml_tensor *t)
{
	int64_t n = 1;
	for (int i = 0; i < t->ndim; i++)
		n *= t->dims[i];
	return n;
}

rml_tensor *rml_find_tensor(const rml_file *f, const char *name)
{
	int64_t i = find_tensor(f, name);
	return i >= 0 ? &f->tensors[i] : NULL;
}

rml_tensor *rml_add_tensor(rml_file *f, const char *name, rml_dtype dtype, int ndim,
			   const int64_t *dims, const void *data, rml_error *err)
{
	if (!name_ok(name, strlen(name))) {
		rml_errorf(err, RML_ERR_ARG, "invalid tensor name '%s'", name);
		return NULL;
	}
	size_t nbytes;
	rml_status st = shape_bytes(dtype, ndim, dims, &nbytes);
	if (st) {
		rml_errorf(err, st, "tensor '%s': invalid dtype or shape", name);
		return NULL;
	}
	void *buf = alloc_aligned(nbytes);
	if (!buf) {
		rml_errorf(err, RML_ERR_NOMEM, "tensor '%s': out of memory", name);
		return NULL;
	}
	if (data)
		memcpy(buf, data, nbytes);
	else
		memset(buf, 0, nbytes);
	rml_tensor *t = rml_find_tensor(f, name);
	if (t) {
		free(t->data);
	} else {
		if (f->n_tensors >= RML_MAX_TENSORS) {
			free(buf);
			rml_errorf(err, RML_ERR_LIMIT, "too many tensors");
			return NULL;
		}
		int bad = room_for_one((void **)&f->tensors, f->n_tensors, sizeof *f->tensors);
		char *nm = strdup(name);
		if (bad || !nm) {
			free(nm);
			free(buf);
			rml_errorf(err, RML_ERR_NOMEM, "out of memory");
			return NULL;
		}
		t = &f->tensors[f->n_tensors++];
		memset(t, 0, sizeof *t);
		t->name = nm;
		index_sync(f, 1, 0);
	}
	t->dtype = dtype;
	t->ndim = ndim;
	for (int i = 0; i < RML_MAX_DIMS; i++)
		t->dims[i] = i < ndim ? dims[i] : 0;
	t->nbytes = nbytes;
	t->data = buf;
	return t;
}

rml_tensor *rml_expect_tensor(const rml_file *f, const char *name, rml_dtype dtype,
			      int ndim, rml_error *err)
{
	rml_tensor *t = rml_find_tensor(f, name);
	if (!t) {
		rml_errorf(err, RML_ERR_FORMAT, "missing tensor '%s'", name);
		return NULL;
	}
	if (t->dtype != dtype || (ndim >= 0 && t->ndim != ndim)) {
		rml_errorf(err, RML_ERR_FORMAT, "tensor '%s' is %s with %d dimensions, expected %s with %d",
			   name, rml_dtype_name(t->dtype), t->ndim, rml_dtype_name(dtype), ndim);
		return NULL;
	}
	return t;
}

/* ---- writing ----------------------------------------------------------------- */

/* A growable byte buffer for the header. */
typedef struct {
	uint8_t *p;
	size_t n, cap;
	int oom;
} buf;

static void put(buf *b, const void *d, size_t n)
{
	if (b->oom)
		return;
	if (b->n + n > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		while (cap < b->n + n)
			cap *= 2;
		uint8_t *p = realloc(b->p, cap);
		if (!p) {
			b->oom = 1;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->n, d, n);
	b->n += n;
}

static void put_u8(buf *b, uint8_t v) { put(b, &v, 1); }

static void put_u16(buf *b, uint16_t v)
{
	uint8_t x[2] = { (uint8_t)v, (uint8_t)(v >> 8) };
	put(b, x, 2);
}

static void put_u32(buf *b, uint32_t v)
{
	uint8_t x[4];
	for (int i = 0; i < 4; i++)
		x[i] = (uint8_t)(v >> (8 * i));
	put(b, x, 4);
}

static void put_u64(buf *b, uint64_t v)
{
	uint8_t x[8];
	for (int i = 0; i < 8; i++)
		x[i] = (uint8_t)(v >> (8 * i));
	put(b, x, 8);
}

static void put_f64(buf *b, double v)
{
	uint64_t u;
	memcpy(&u, &v, 8);
	put_u64(b, u);
}

static void put_str64(buf *b, const char *s)
{
	size_t n = strlen(s);
	put_u64(b, n);
	put(b, s, n);
}

static size_t align_up(size_t x)
{
	return (x + RML_ALIGN - 1) / RML_ALIGN * RML_ALIGN;
}

rml_status rml_file_write(const rml_file *f, FILE *fp, const char *what, rml_error *err)
{
	buf b = { 0 };
	for (int64_t i = 0; i < f->n_kv; i++) {
		const rml_kv *kv = &f->kv[i];
		size_t kl = strlen(kv->key);
		put_u16(&b, (uint16_t)kl);
		put(&b, kv->key, kl);
		put_u8(&b, (uint8_t)kv->type);
		switch (kv->type) {
		case RML_KV_I64: put_u64(&b, (uint64_t)kv->i); break;
		case RML_KV_F64: put_f64(&b, kv->f); break;
		case RML_KV_STR: put_str64(&b, kv->s); break;
		case RML_KV_I64_ARRAY:
			put_u64(&b, (uint64_t)kv->n);
			for (int64_t j = 0; j < kv->n; j++)
				put_u64(&b, (uint64_t)kv->ia[j]);
			break;
		case RML_KV_F64_ARRAY:
			put_u64(&b, (uint64_t)kv->n);
			for (int64_t j = 0; j < kv->n; j++)
				put_f64(&b, kv->fa[j]);
			break;
		case RML_KV_STR_ARRAY:
			put_u64(&b, (uint64_t)kv->n);
			for (int64_t j = 0; j < kv->n; j++)
				put_str64(&b, kv->sa[j]);
			break;
		default: break;
		}
	}
	uint64_t off = 0;
	for (int64_t i = 0; i < f->n_tensors; i++) {
		const rml_tensor *t = &f->tensors[i];
		size_t nl = strlen(t->name);
		put_u16(&b, (uint16_t)nl);
		put(&b, t->name, nl);
		put_u8(&b, (uint8_t)t->dtype);
		put_u8(&b, (uint8_t)t->ndim);
		for (int d = 0; d < t->ndim; d++)
			put_u64(&b, (uint64_t)t->dims[d]);
		put_u64(&b, off);
		put_u64(&b, t->nbytes);
		put_u32(&b, rml_crc32(0, t->data, t->nbytes));
		off = align_up(off + t->nbytes);
	}
	if (b.oom) {
		free(b.p);
		return rml_errorf(err, RML_ERR_NOMEM, "%s: out of memory", what);
	}
	/* Fixed part: magic, version, flags, header size, counts. */
	buf h = { 0 };
	put(&h, MAGIC, 8);
	put_u32(&h, RML_FORMAT_VERSION);
	put_u32(&h, 0);
	put_u64(&h, 16 + b.n);
	put_u64(&h, (uint64_t)f->n_kv);
	put_u64(&h, (uint64_t)f->n_tensors);
	put(&h, b.p, b.n);
	free(b.p);
	put_u32(&h, rml_crc32(0, h.p, h.n));
	static const uint8_t zeros[RML_ALIGN];
	put(&h, zeros, align_up(h.n) - h.n);
	if (h.oom) {
		free(h.p);
		return rml_errorf(err, RML_ERR_NOMEM, "%s: out of memory", what);
	}
	int bad = fwrite(h.p, 1, h.n, fp) != h.n;
	free(h.p);
	off = 0;
	for (int64_t i = 0; i < f->n_tensors && !bad; i++) {
		const rml_tensor *t = &f->tensors[i];
		bad |= t->nbytes && fwrite(t->data, 1, t->nbytes, fp) != t->nbytes;
		size_t pad = align_up(off + t->nbytes) - (off + t->nbytes);
		if (i + 1 < f->n_tensors)
			bad |= pad && fwrite(zeros, 1, pad, fp) != pad;
		off = align_up(off + t->nbytes);
	}
	if (!bad)
		bad = fwrite(END_MARK, 1, 8, fp) != 8;
	if (bad || fflush(fp) != 0)
		return rml_errorf(err, RML_ERR_IO, "%s: write failed: %s", what, strerror(errno));
	return RML_OK;
}

rml_status rml_file_save(const rml_file *f, const char *path, rml_error *err)
{
	if (strcmp(path, "-") == 0)
		return rml_file_write(f, stdout, "standard output", err);
	/* A device or a FIFO (/dev/null, a named pipe) is written in place:
	 * renaming over it would replace it. */
	struct stat sb;
	if (stat(path, &sb) == 0 && !S_ISREG(sb.st_mode)) {
		FILE *fp = fopen(path, "wb");
		if (!fp)
			return rml_errorf(err, RML_ERR_IO, "%s: %s", path, strerror(errno));
		rml_status st = rml_file_write(f, fp, path, err);
		if (fclose(fp) != 0 && st == RML_OK)
			st = rml_errorf(err, RML_ERR_IO, "%s: %s", path, strerror(errno));
		return st;
	}
	size_t n = strlen(path);
	char *tmp = malloc(n + 16);
	if (!tmp)
		return rml_errorf(err, RML_ERR_NOMEM, "out of memory");
	snprintf(tmp, n + 16, "%s.XXXXXX", path);
	int fd = mkstemp(tmp);
	if (fd < 0) {
		rml_status st = rml_errorf(err, RML_ERR_IO, "%s: cannot create: %s", path,
					   strerror(errno));
		free(tmp);
		return st;
	}
	mode_t um = umask(0);
	umask(um);
	fchmod(fd, 0666 & ~um);
	FILE *fp = fdopen(fd, "wb");
	rml_status st = fp ? rml_file_write(f, fp, path, err)
			   : rml_errorf(err, RML_ERR_IO, "%s: %s", path, strerror(errno));
	if (st == RML_OK && fsync(fileno(fp)) != 0)
		st = rml_errorf(err, RML_ERR_IO, "%s: %s", path, strerror(errno));
	if (fp && fclose(fp) != 0 && st == RML_OK)
		st = rml_errorf(err, RML_ERR_IO, "%s: %s", path, strerror(errno));
	if (!fp)
		close(fd);
	if (st == RML_OK && rename(tmp, path) != 0)
		st = rml_errorf(err, RML_ERR_IO, "%s: cannot rename into place: %s", path,
				strerror(errno));
	if (st != RML_OK)
		unlink(tmp);
	free(tmp);
	return st;
}

/* ---- reading ------------------------------------------------------------------ */

typedef struct {
	FILE *fp;
	const char *what;
	uint64_t pos;
	rml_sha256 *sha;
} reader;

static rml_status rd(reader *r, void *d, size_t n, rml_error *err)
{
	size_t got = n ? fread(d, 1, n, r->fp) : 0;
	if (r->sha && got)
		rml_sha256_update(r->sha, d, got);
	r->pos += got;
	if (got != n)
		return rml_errorf(err, RML_ERR_IO, "%s: truncated at byte %llu (%s)", r->what,
				  (unsigned long long)r->pos,
				  ferror(r->fp) ? strerror(errno) : "unexpected end of input");
	return RML_OK;
}

/* Cursor over the in-memory header. */
typedef struct {
	const uint8_t *p;
	size_t n, at;
	int bad;
} cur;

static int need(cur *c, size_t n)
{
	if (c->bad || n > c->n - c->at) {
		c->bad = 1;
		return 0;
	}
	return 1;
}

static uint64_t get_le(cur *c, int bytes)
{
	if (!need(c, (size_t)bytes))
		return 0;
	uint64_t v = 0;
	for (int i = 0; i < bytes; i++)
		v |= (uint64_t)c->p[c->at + i] << (8 * i);
	c->at += (size_t)bytes;
	return v;
}

static char *get_bytes(cur *c, uint64_t n)
{
	if (!need(c, n))
		return NULL;
	char *s = malloc(n + 1);
	if (!s) {
		c->bad = 2;
		return NULL;
	}
	memcpy(s, c->p + c->at, n);
	s[n] = 0;
	c->at += n;
	return s;
}

static rml_status bad_header(rml_error *err, const char *what, const char *fmt, ...)
{
	char m[400];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(m, sizeof m, fmt, ap);
	va_end(ap);
	return rml_errorf(err, RML_ERR_FORMAT, "%s: %s", what, m);
}

static rml_status parse_kv(rml_file *f, cur *c, const char *what, rml_error *err)
{
	uint64_t kl = get_le(c, 2);
	char *key = get_bytes(c, kl);
	if (!key)
		return bad_header(err, what, "header ends inside a key");
	if (!key_ok(key, kl) || strlen(key) != kl) {
		rml_status st = bad_header(err, what, "invalid key name");
		free(key);
		return st;
	}
	if (rml_get(f, key)) {
		rml_status st = bad_header(err, what, "duplicate key '%s'", key);
		free(key);
		return st;
	}
	rml_kv kv = { .key = key };
	kv.type = (rml_kv_type)get_le(c, 1);
	rml_status st = RML_OK;
	uint64_t n;
	switch (kv.type) {
	case RML_KV_I64: kv.i = (int64_t)get_le(c, 8); break;
	case RML_KV_F64: {
		uint64_t u = get_le(c, 8);
		memcpy(&kv.f, &u, 8);
		break;
	}
	case RML_KV_STR:
		n = get_le(c, 8);
		kv.s = get_bytes(c, n);
		if (kv.s && strlen(kv.s) != n)
			st = bad_header(err, what, "key '%s': string holds a NUL byte", key);
		break;
	case RML_KV_I64_ARRAY:
	case RML_KV_F64_ARRAY:
		n = get_le(c, 8);
		if (!need(c, n > SIZE_MAX / 8 ? SIZE_MAX : n * 8))
			break;
		kv.n = (int64_t)n;
		if (kv.type == RML_KV_I64_ARRAY) {
			kv.ia = malloc((n ? n : 1) * 8);
			for (uint64_t j = 0; kv.ia && j < n; j++)
				kv.ia[j] = (int64_t)get_le(c, 8);
		} else {
			kv.fa = malloc((n ? n : 1) * 8);
			for (uint64_t j = 0; kv.fa && j < n; j++) {
				uint64_t u = get_le(c, 8);
				memcpy(&kv.fa[j], &u, 8);
			}
		}
		if (!kv.ia && !kv.fa)
			c->bad = 2;
		break;
	case RML_KV_STR_ARRAY:
		n = get_le(c, 8);
		/* Each string takes at least its 8-byte length. */
		if (!need(c, n > SIZE_MAX / 8 ? SIZE_MAX : n * 8))
			break;
		kv.sa = calloc(n ? n : 1, sizeof *kv.sa);
		if (!kv.sa) {
			c->bad = 2;
			break;
		}
		kv.n = (int64_t)n;
		for (uint64_t j = 0; j < n && !c->bad; j++) {
			uint64_t l = get_le(c, 8);
			kv.sa[j] = get_bytes(c, l);
			if (kv.sa[j] && strlen(kv.sa[j]) != l)
				st = bad_header(err, what, "key '%s': string holds a NUL byte", key);
		}
		break;
	default:
		st = bad_header(err, what, "key '%s' has unknown type %d", key, (int)kv.type);
	}
	if (!st && c->bad == 2)
		st = rml_errorf(err, RML_ERR_NOMEM, "%s: out of memory", what);
	else if (!st && c->bad)
		st = bad_header(err, what, "header ends inside the value of key '%s'", key);
	if (st) {
		kv_clear(&kv);
		return st;
	}
	if (room_for_one((void **)&f->kv, f->n_kv, sizeof *f->kv)) {
		kv_clear(&kv);
		return rml_errorf(err, RML_ERR_NOMEM, "%s: out of memory", what);
	}
	f->kv[f->n_kv++] = kv;
	index_sync(f, 0, 0);
	return RML_OK;
}

typedef struct {
	uint64_t offset;
	uint32_t crc;
} tensor_loc;

static rml_status parse_tensor(rml_file *f, cur *c, tensor_loc *loc, uint64_t *next_off,
			       const char *what, rml_error *err)
{
	uint64_t nl = get_le(c, 2);
	char *name = get_bytes(c, nl);
	if (!name)
		return bad_header(err, what, "header ends inside a tensor name");
	rml_status st = RML_OK;
	if (!name_ok(name, nl) || strlen(name) != nl)
		st = bad_header(err, what, "invalid tensor name");
	else if (rml_find_tensor(f, name))
		st = bad_header(err, what, "duplicate tensor '%s'", name);
	rml_tensor t = { .name = name };
	if (!st) {
		t.dtype = (rml_dtype)get_le(c, 1);
		t.ndim = (int)get_le(c, 1);
		if (!rml_dtype_size(t.dtype))
			st = bad_header(err, what, "tensor '%s' has unknown dtype %d", name,
					(int)t.dtype);
		else if (t.ndim > RML_MAX_DIMS)
			st = bad_header(err, what, "tensor '%s' has %d dimensions (at most %d)", name,
					t.ndim, RML_MAX_DIMS);
	}
	uint64_t nbytes = 0;
	if (!st) {
		for (int d = 0; d < t.ndim; d++)
			t.dims[d] = (int64_t)get_le(c, 8);
		loc->offset = get_le(c, 8);
		nbytes = get_le(c, 8);
		loc->crc = (uint32_t)get_le(c, 4);
		if (c->bad)
			st = bad_header(err, what, "header ends inside tensor '%s'", name);
	}
	if (!st) {
		size_t expect = 0;
		rml_status s2 = shape_bytes(t.dtype, t.ndim, t.dims, &expect);
		if (s2 == RML_ERR_LIMIT)
			st = rml_errorf(err, RML_ERR_LIMIT,
					"%s: tensor '%s' has a shape beyond the supported limits", what,
					name);
		else if (s2)
			st = bad_header(err, what, "tensor '%s' has an invalid shape", name);
		else if (expect != nbytes)
			st = bad_header(err, what, "tensor '%s' claims %llu bytes, its shape needs %zu",
					name, (unsigned long long)nbytes, expect);
		else if (loc->offset % RML_ALIGN)
			st = bad_header(err, what, "tensor '%s' is not aligned to %d bytes", name,
					RML_ALIGN);
		else if (loc->offset != *next_off)
			st = bad_header(err, what,
					"tensor '%s' is at offset %llu, expected %llu (tensors are "
					"stored in table order)",
					name, (unsigned long long)loc->offset,
					(unsigned long long)*next_off);
		t.nbytes = expect;
	}
	if (st) {
		tensor_clear(&t);
		return st;
	}
	*next_off = align_up(loc->offset + nbytes);
	if (room_for_one((void **)&f->tensors, f->n_tensors, sizeof *f->tensors)) {
		tensor_clear(&t);
		return rml_errorf(err, RML_ERR_NOMEM, "%s: out of memory", what);
	}
	f->tensors[f->n_tensors++] = t;
	index_sync(f, 1, 0);
	return RML_OK;
}

/* Read a tensor's bytes, growing its buffer only as data arrives. */
static rml_status read_tensor_data(reader *r, rml_tensor *t, uint32_t crc, rml_error *err)
{
	size_t cap = t->nbytes < CHUNK ? t->nbytes : CHUNK;
	uint8_t *p = alloc_aligned(cap);
	if (!p)
		return rml_errorf(err, RML_ERR_NOMEM, "%s: out of memory", r->what);
	size_t got = 0;
	while (got < t->nbytes) {
		if (got == cap) {
			size_t ncap = cap * 2 < t->nbytes ? cap * 2 : t->nbytes;
			uint8_t *q = alloc_aligned(ncap);
			if (!q) {
				free(p);
				return rml_errorf(err, RML_ERR_NOMEM, "%s: out of memory", r->what);
			}
			memcpy(q, p, got);
			free(p);
			p = q;
			cap = ncap;
		}
		size_t take = cap - got;
		rml_status st = rd(r, p + got, take, err);
		if (st) {
			free(p);
			return rml_errorf(err, RML_ERR_IO, "%s: truncated inside tensor '%s'", r->what,
					  t->name);
		}
		got += take;
	}
	if (rml_crc32(0, p, t->nbytes) != crc) {
		free(p);
		return rml_errorf(err, RML_ERR_FORMAT, "%s: checksum mismatch in tensor '%s'",
				  r->what, t->name);
	}
	t->data = p;
	return RML_OK;
}

static rml_status skip_zeros(reader *r, uint64_t n, rml_error *err)
{
	uint8_t z[RML_ALIGN];
	while (n > 0) {
		size_t take = n < sizeof z ? (size_t)n : sizeof z;
		rml_status st = rd(r, z, take, err);
		if (st)
			return st;
		for (size_t i = 0; i < take; i++)
			if (z[i])
				return rml_errorf(err, RML_ERR_FORMAT, "%s: non-zero padding at byte %llu",
						  r->what, (unsigned long long)(r->pos - take + i));
		n -= take;
	}
	return RML_OK;
}

static rml_status read_file(rml_file *f, reader *r, rml_error *err)
{
	uint8_t fixed[40];
	rml_status st = rd(r, fixed, 24, err);
	if (st) {
		if (r->pos == 0)
			return rml_errorf(err, RML_ERR_IO, "%s: empty input, expected an rmlops file",
					  r->what);
		return st;
	}
	if (memcmp(fixed, MAGIC, 8) != 0)
		return rml_errorf(err, RML_ERR_FORMAT, "%s: not an rmlops file (bad magic)", r->what);
	cur c = { fixed, 24, 8, 0 };
	uint32_t version = (uint32_t)get_le(&c, 4);
	uint32_t flags = (uint32_t)get_le(&c, 4);
	uint64_t hsize = get_le(&c, 8);
	if (version > RML_FORMAT_VERSION || version == 0)
		return rml_errorf(err, RML_ERR_VERSION,
				  "%s: format version %u is not supported (this program reads %d)",
				  r->what, version, RML_FORMAT_VERSION);
	if (flags)
		return rml_errorf(err, RML_ERR_FORMAT, "%s: unknown flags 0x%x", r->what, flags);
	if (hsize < 16 || hsize > RML_MAX_HEADER)
		return rml_errorf(err, RML_ERR_LIMIT, "%s: header size %llu is outside 16..%u",
				  r->what, (unsigned long long)hsize, RML_MAX_HEADER);
	size_t total = 24 + (size_t)hsize + 4;
	uint8_t *h = malloc(total);
	if (!h)
		return rml_errorf(err, RML_ERR_NOMEM, "%s: out of memory", r->what);
	memcpy(h, fixed, 24);
	st = rd(r, h + 24, (size_t)hsize + 4, err);
	if (!st) {
		uint32_t want = (uint32_t)h[total - 4] | (uint32_t)h[total - 3] << 8 |
				(uint32_t)h[total - 2] << 16 | (uint32_t)h[total - 1] << 24;
		if (rml_crc32(0, h, total - 4) != want)
			st = rml_errorf(err, RML_ERR_FORMAT, "%s: header checksum mismatch", r->what);
	}
	tensor_loc *loc = NULL;
	if (!st) {
		c = (cur){ h + 24, (size_t)hsize, 0, 0 };
		uint64_t n_kv = get_le(&c, 8), n_t = get_le(&c, 8);
		/* A key takes at least 4 bytes and a tensor at least 24. */
		if (n_kv > RML_MAX_KV || n_kv > hsize / 4 || n_t > RML_MAX_TENSORS || n_t > hsize / 24)
			st = rml_errorf(err, RML_ERR_LIMIT, "%s: header claims %llu keys and %llu tensors",
					r->what, (unsigned long long)n_kv, (unsigned long long)n_t);
		for (uint64_t i = 0; !st && i < n_kv; i++)
			st = parse_kv(f, &c, r->what, err);
		if (!st && n_t) {
			loc = malloc(n_t * sizeof *loc);
			if (!loc)
				st = rml_errorf(err, RML_ERR_NOMEM, "%s: out of memory", r->what);
		}
		uint64_t next_off = 0;
		for (uint64_t i = 0; !st && i < n_t; i++)
			st = parse_tensor(f, &c, &loc[i], &next_off, r->what, err);
		if (!st && c.at != c.n)
			st = bad_header(err, r->what, "%zu stray bytes at the end of the header",
					c.n - c.at);
	}
	free(h);
	if (!st)
		st = skip_zeros(r, align_up(total) - total, err);
	uint64_t off = 0;
	for (int64_t i = 0; !st && i < f->n_tensors; i++) {
		st = skip_zeros(r, loc[i].offset - off, err);
		if (!st)
			st = read_tensor_data(r, &f->tensors[i], loc[i].crc, err);
		off = loc[i].offset + f->tensors[i].nbytes;
	}
	free(loc);
	if (!st) {
		uint8_t end[8];
		st = rd(r, end, 8, err);
		if (!st && memcmp(end, END_MARK, 8) != 0)
			st = rml_errorf(err, RML_ERR_FORMAT, "%s: missing end marker", r->what);
	}
	return st;
}

rml_status rml_file_read(rml_file *f, FILE *fp, const char *what, rml_error *err)
{
	rml_file_init(f);
	reader r = { fp, what ? what : "input", 0, NULL };
	rml_status st = read_file(f, &r, err);
	if (st)
		rml_file_free(f);
	return st;
}

int rml_file_at_end(FILE *fp)
{
	int c = getc(fp);
	if (c == EOF)
		return 1;
	ungetc(c, fp);
	return 0;
}

static rml_status load(rml_file *f, const char *path, char hex[65], rml_error *err)
{
	rml_file_init(f);
	int is_stdin = strcmp(path, "-") == 0;
	FILE *fp = is_stdin ? stdin : fopen(path, "rb");
	if (!fp)
		return rml_errorf(err, RML_ERR_IO, "%s: %s", path, strerror(errno));
	rml_sha256 sha;
	rml_sha256_init(&sha);
	reader r = { fp, is_stdin ? "standard input" : path, 0, hex ? &sha : NULL };
	rml_status st = read_file(f, &r, err);
	if (!st && !rml_file_at_end(fp))
		st = rml_errorf(err, RML_ERR_FORMAT,
				"%s: bytes follow the end marker at byte %llu (an input holds one "
				"container; rmlops-info reads several)",
				r.what, (unsigned long long)r.pos);
	if (!is_stdin)
		fclose(fp);
	if (st) {
		rml_file_free(f);
		return st;
	}
	if (hex) {
		uint8_t d[32];
		rml_sha256_final(&sha, d);
		rml_hex32(d, hex);
	}
	return RML_OK;
}

rml_status rml_file_load(rml_file *f, const char *path, rml_error *err)
{
	return load(f, path, NULL, err);
}

rml_status rml_file_load_hashed(rml_file *f, const char *path, char hex[65], rml_error *err)
{
	return load(f, path, hex, err);
}

/* ---- provenance ---------------------------------------------------------------- */

/* Append s to b as a JSON string literal. */
static void put_json_str(buf *b, const char *s)
{
	put_u8(b, '"');
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		char esc[8];
		if (ch == '"' || ch == '\\') {
			esc[0] = '\\';
			esc[1] = (char)ch;
			put(b, esc, 2);
		} else if (ch < 0x20) {
			snprintf(esc, sizeof esc, "\\u%04x", ch);
			put(b, esc, 6);
		} else {
			put_u8(b, ch);
		}
	}
	put_u8(b, '"');
}

static void put_text(buf *b, const char *s)
{
	put(b, s, strlen(s));
}

/* Quote an argument the way a POSIX shell would need it. */
static void put_shell_word(buf *b, const char *s)
{
	int plain = *s != 0;
	for (const char *p = s; *p; p++)
		if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./=:,+@%",
			    *p))
			plain = 0;
	if (plain) {
		put_text(b, s);
		return;
	}
	put_u8(b, '\'');
	for (; *s; s++)
		if (*s == '\'')
			put_text(b, "'\\''");
		else
			put_u8(b, (uint8_t)*s);
	put_u8(b, '\'');
}

#define RML_MAX_HISTORY 64

rml_status rml_provenance_stamp(rml_file *out, const char *program, int argc,
				char **argv, int64_t seed, const char *const *input_roles,
				const char *const *input_hashes, int n_inputs,
				const rml_file *const *parents, int n_parents,
				rml_error *err)
{
	buf cmd = { 0 };
	for (int i = 0; i < argc; i++) {
		if (i)
			put_u8(&cmd, ' ');
		put_shell_word(&cmd, i == 0 ? program : argv[i]);
	}
	put_u8(&cmd, 0);
	char **inputs = calloc((size_t)(n_inputs ? n_inputs : 1), sizeof *inputs);
	buf entry = { 0 };
	rml_status st = cmd.oom || !inputs ? RML_ERR_NOMEM : RML_OK;
	for (int i = 0; !st && i < n_inputs; i++) {
		size_t n = strlen(input_roles[i]) + strlen(input_hashes[i]) + 10;
		inputs[i] = malloc(n);
		if (!inputs[i]) {
			st = RML_ERR_NOMEM;
			break;
		}
		snprintf(inputs[i], n, "%s=sha256:%s", input_roles[i], input_hashes[i]);
	}
	if (!st) {
		put_text(&entry, "{\"program\":");
		put_json_str(&entry, program);
		put_text(&entry, ",\"version\":");
		put_json_str(&entry, RML_VERSION);
		put_text(&entry, ",\"command\":");
		put_json_str(&entry, (const char *)cmd.p);
		if (seed >= 0) {
			char s[32];
			snprintf(s, sizeof s, ",\"seed\":%lld", (long long)seed);
			put_text(&entry, s);
		}
		put_text(&entry, ",\"inputs\":[");
		for (int i = 0; i < n_inputs; i++) {
			if (i)
				put_u8(&entry, ',');
			put_json_str(&entry, inputs[i]);
		}
		put_text(&entry, "]}");
		put_u8(&entry, 0);
		if (entry.oom)
			st = RML_ERR_NOMEM;
	}
	/* History: every parent's entries in order, then this step. */
	const char **hist = NULL;
	int64_t n_hist = 0, cap = 1;
	for (int i = 0; i < n_parents; i++) {
		const rml_kv *kv = parents[i] ? rml_get(parents[i], "lineage.history") : NULL;
		if (kv && kv->type == RML_KV_STR_ARRAY)
			cap += kv->n;
	}
	if (!st && !(hist = malloc((size_t)cap * sizeof *hist)))
		st = RML_ERR_NOMEM;
	/* An entry that two parents share (a checkpoint and the data it was
	 * trained on, both read again to resume) is kept once, where it first
	 * appears. */
	for (int i = 0; !st && i < n_parents; i++) {
		const rml_kv *kv = parents[i] ? rml_get(parents[i], "lineage.history") : NULL;
		if (kv && kv->type == RML_KV_STR_ARRAY)
			for (int64_t j = 0; j < kv->n; j++) {
				int64_t k = 0;
				while (k < n_hist && strcmp(hist[k], kv->sa[j]) != 0)
					k++;
				if (k == n_hist)
					hist[n_hist++] = kv->sa[j];
			}
	}
	if (!st) {
		hist[n_hist++] = (const char *)entry.p;
		int64_t first = n_hist > RML_MAX_HISTORY ? n_hist - RML_MAX_HISTORY : 0;
		/* Copy the history before replacing keys: it may point into out. */
		char **keep = calloc((size_t)(n_hist - first), sizeof *keep);
		if (!keep)
			st = RML_ERR_NOMEM;
		for (int64_t j = first; !st && j < n_hist; j++)
			if (!(keep[j - first] = strdup(hist[j])))
				st = RML_ERR_NOMEM;
		if (!st)
			st = rml_set_str(out, "provenance.program", program);
		if (!st)
			st = rml_set_str(out, "provenance.version", RML_VERSION);
		if (!st)
			st = rml_set_str(out, "provenance.command", (const char *)cmd.p);
		if (!st && seed >= 0)
			st = rml_set_i64(out, "provenance.seed", seed);
		if (!st)
			st = rml_set_str_array(out, "provenance.inputs", (const char *const *)inputs,
					       n_inputs);
		if (!st)
			st = rml_set_str_array(out, "lineage.history", (const char *const *)keep,
					       n_hist - first);
		for (int64_t j = 0; keep && j < n_hist - first; j++)
			free(keep[j]);
		free(keep);
	}
	free(hist);
	for (int i = 0; inputs && i < n_inputs; i++)
		free(inputs[i]);
	free(inputs);
	free(cmd.p);
	free(entry.p);
	if (st)
		return rml_errorf(err, st, "cannot record provenance: %s", rml_strerror(st));
	return RML_OK;
}

rml_status rml_provenance_lineage(rml_file *dst, const rml_file *src, rml_error *err)
{
	const rml_kv *kv = rml_get(src, "lineage.history");
	if (!kv || kv->type != RML_KV_STR_ARRAY)
		return RML_OK;
	/* The escaped entries one after another, each ended by a NUL. */
	rml_outbuf b;
	rml_outbuf_init(&b);
	for (int64_t i = 0; i < kv->n; i++) {
		rml_out_safe(&b, kv->sa[i]);
		rml_outbuf_add(&b, NULL, 1);
	}
	const char **v = calloc(kv->n > 0 ? (size_t)kv->n : 1, sizeof *v);
	rml_status st = b.failed || !v ? RML_ERR_NOMEM : RML_OK;
	for (int64_t i = 0, at = 0; !st && i < kv->n; i++) {
		v[i] = (const char *)b.data + at;
		at += (int64_t)strlen(v[i]) + 1;
	}
	if (!st)
		st = rml_set_str_array(dst, "lineage.history", v, kv->n);
	free(v);
	rml_outbuf_free(&b);
	if (st)
		return rml_errorf(err, st, "cannot keep the input's lineage: %s", rml_strerror(st));
	return RML_OK;
}

const char *rml_provenance_input(const rml_file *f, const char *role)
{
	const rml_kv *kv = rml_get(f, "provenance.inputs");
	size_t n = strlen(role);
	if (!kv || kv->type != RML_KV_STR_ARRAY)
		return NULL;
	for (int64_t i = 0; i < kv->n; i++)
		if (strncmp(kv->sa[i], role, n) == 0 && kv->sa[i][n] == '=')
			return kv->sa[i] + n + 1;
	return NULL;
}
