/*
 * safetensors.c — the safetensors reader and writer (safetensors.h).
 *
 * The reader is written for hostile input (make fuzz runs it): sizes from
 * the header are checked before anything is allocated from them, the
 * product of a shape is built with overflow checks, and the tensors'
 * byte ranges are sorted and must tile the data area exactly.
 */
#include "safetensors.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format.h"

static const struct {
	const char *name;
	size_t size;
} DTYPES[RML_ST_DTYPE_COUNT] = {
	[RML_ST_BOOL] = { "BOOL", 1 },   [RML_ST_U8] = { "U8", 1 },
	[RML_ST_I8] = { "I8", 1 },       [RML_ST_I16] = { "I16", 2 },
	[RML_ST_U16] = { "U16", 2 },     [RML_ST_F16] = { "F16", 2 },
	[RML_ST_BF16] = { "BF16", 2 },   [RML_ST_I32] = { "I32", 4 },
	[RML_ST_U32] = { "U32", 4 },     [RML_ST_F32] = { "F32", 4 },
	[RML_ST_F64] = { "F64", 8 },     [RML_ST_I64] = { "I64", 8 },
	[RML_ST_U64] = { "U64", 8 },     [RML_ST_F8_E5M2] = { "F8_E5M2", 1 },
	[RML_ST_F8_E4M3] = { "F8_E4M3", 1 },
};

const char *rml_st_dtype_name(rml_st_dtype t)
{
	return (unsigned)t < RML_ST_DTYPE_COUNT ? DTYPES[t].name : "?";
}

size_t rml_st_dtype_size(rml_st_dtype t)
{
	return (unsigned)t < RML_ST_DTYPE_COUNT ? DTYPES[t].size : 0;
}

void rml_st_init(rml_st_file *f)
{
	memset(f, 0, sizeof *f);
}

void rml_st_free(rml_st_file *f)
{
	for (int64_t i = 0; i < f->n; i++)
		free(f->t[i].name);
	for (int64_t i = 0; i < f->n_meta; i++) {
		free(f->meta_key[i]);
		free(f->meta_val[i]);
	}
	free(f->t);
	free(f->meta_key);
	free(f->meta_val);
	free(f->bytes);
	rml_st_init(f);
}

/* A name as it may appear in a one-line message: at most 80 bytes, control
 * characters shown as '?'. */
static const char *shown(const char *s, char buf[96])
{
	size_t i = 0;
	for (; s[i] && i < 80; i++)
		buf[i] = (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? '?' : s[i];
	if (s[i]) {
		memcpy(buf + i, "...", 3);
		i += 3;
	}
	buf[i] = 0;
	return buf;
}

static uint64_t le64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static int cmp_range(const void *a, const void *b)
{
	const rml_st_tensor *x = *(const rml_st_tensor *const *)a;
	const rml_st_tensor *y = *(const rml_st_tensor *const *)b;
	if (x->data != y->data)
		return x->data < y->data ? -1 : 1;
	return x->nbytes < y->nbytes ? -1 : x->nbytes > y->nbytes;
}

/* One header entry: exactly dtype, shape and data_offsets. */
static rml_status parse_entry(rml_st_tensor *t, const char *key, json_t *v, const uint8_t *data,
			      uint64_t data_len, const char *what, rml_error *err)
{
	char nb[96];
	const char *nm = shown(key, nb);
	if (!json_is_object(v))
		return rml_errorf(err, RML_ERR_FORMAT, "%s: tensor %s: entry is not a JSON object", what, nm);
	json_t *dt = json_object_get(v, "dtype"), *sh = json_object_get(v, "shape"),
	       *off = json_object_get(v, "data_offsets");
	if (!dt || !sh || !off)
		return rml_errorf(err, RML_ERR_FORMAT, "%s: tensor %s: missing %s", what, nm,
				  !dt ? "dtype" : !sh ? "shape" : "data_offsets");
	if (json_object_size(v) != 3) {
		const char *k;
		json_t *x;
		json_object_foreach(v, k, x) {
			if (strcmp(k, "dtype") && strcmp(k, "shape") && strcmp(k, "data_offsets")) {
				char kb[96];
				return rml_errorf(err, RML_ERR_FORMAT, "%s: tensor %s: unknown field \"%s\"",
						  what, nm, shown(k, kb));
			}
		}
	}
	if (!json_is_string(dt))
		return rml_errorf(err, RML_ERR_FORMAT, "%s: tensor %s: dtype is not a string", what, nm);
	const char *ds = json_string_value(dt);
	int d = 0;
	while (d < RML_ST_DTYPE_COUNT && strcmp(ds, DTYPES[d].name) != 0)
		d++;
	if (d == RML_ST_DTYPE_COUNT) {
		char db[96];
		return rml_errorf(err, RML_ERR_FORMAT, "%s: tensor %s: unknown dtype \"%s\"", what, nm,
				  shown(ds, db));
	}
	t->dtype = (rml_st_dtype)d;
	size_t esize = DTYPES[d].size;
	if (!json_is_array(sh))
		return rml_errorf(err, RML_ERR_FORMAT, "%s: tensor %s: shape is not a list", what, nm);
	if (json_array_size(sh) > RML_ST_MAX_DIMS)
		return rml_errorf(err, RML_ERR_LIMIT, "%s: tensor %s: %zu dimensions, at most %d", what, nm,
				  json_array_size(sh), RML_ST_MAX_DIMS);
	t->ndim = (int)json_array_size(sh);
	int zero = 0;
	for (int i = 0; i < t->ndim; i++) {
		json_t *x = json_array_get(sh, (size_t)i);
		if (!json_is_integer(x) || json_integer_value(x) < 0)
			return rml_errorf(err, RML_ERR_FORMAT,
					  "%s: tensor %s: shape entry %d is not a whole number >= 0", what, nm, i);
		t->dims[i] = json_integer_value(x);
		zero |= t->dims[i] == 0;
	}
	/* The product, checked against the limit one factor at a time so it
	 * cannot overflow; a zero anywhere makes an empty tensor. */
	uint64_t numel = 1, lim = RML_MAX_TENSOR_BYTES / esize;
	for (int i = 0; i < t->ndim && !zero; i++) {
		if ((uint64_t)t->dims[i] > lim / numel)
			return rml_errorf(err, RML_ERR_LIMIT,
					  "%s: tensor %s: shape too large (more than %llu bytes)", what, nm,
					  (unsigned long long)RML_MAX_TENSOR_BYTES);
		numel *= (uint64_t)t->dims[i];
	}
	if (zero)
		numel = 0;
	t->numel = (int64_t)numel;
	t->nbytes = (size_t)(numel * esize);
	if (!json_is_array(off) || json_array_size(off) != 2 ||
	    !json_is_integer(json_array_get(off, 0)) || !json_is_integer(json_array_get(off, 1)))
		return rml_errorf(err, RML_ERR_FORMAT, "%s: tensor %s: data_offsets is not [begin, end]",
				  what, nm);
	json_int_t b = json_integer_value(json_array_get(off, 0));
	json_int_t e = json_integer_value(json_array_get(off, 1));
	if (b < 0 || e < b)
		return rml_errorf(err, RML_ERR_FORMAT, "%s: tensor %s: data_offsets [%lld, %lld] out of order",
				  what, nm, (long long)b, (long long)e);
	if ((uint64_t)e > data_len)
		return rml_errorf(err, RML_ERR_FORMAT,
				  "%s: tensor %s: data_offsets end %lld lies beyond the %llu data bytes",
				  what, nm, (long long)e, (unsigned long long)data_len);
	if ((uint64_t)(e - b) != (uint64_t)t->nbytes)
		return rml_errorf(err, RML_ERR_FORMAT,
				  "%s: tensor %s: data_offsets [%lld, %lld] hold %lld bytes, %s of that shape needs %llu",
				  what, nm, (long long)b, (long long)e, (long long)(e - b), DTYPES[d].name,
				  (unsigned long long)t->nbytes);
	t->data = data + b;
	return RML_OK;
}

static rml_status parse_meta(rml_st_file *f, json_t *v, const char *what, rml_error *err)
{
	if (!json_is_object(v))
		return rml_errorf(err, RML_ERR_FORMAT, "%s: __metadata__ is not a JSON object", what);
	size_t n = json_object_size(v);
	f->meta_key = calloc(n + 1, sizeof *f->meta_key);
	f->meta_val = calloc(n + 1, sizeof *f->meta_val);
	if (!f->meta_key || !f->meta_val)
		return rml_errorf(err, RML_ERR_NOMEM, "%s: out of memory", what);
	const char *k;
	json_t *x;
	json_object_foreach(v, k, x) {
		char kb[96];
		if (!json_is_string(x))
			return rml_errorf(err, RML_ERR_FORMAT, "%s: __metadata__ value of \"%s\" is not a string",
					  what, shown(k, kb));
		f->meta_key[f->n_meta] = strdup(k);
		f->meta_val[f->n_meta] = strdup(json_string_value(x));
		f->n_meta++;
		if (!f->meta_key[f->n_meta - 1] || !f->meta_val[f->n_meta - 1])
			return rml_errorf(err, RML_ERR_NOMEM, "%s: out of memory", what);
	}
	return RML_OK;
}

static rml_status parse(rml_st_file *f, const char *what, rml_error *err)
{
	const uint8_t *p = f->bytes;
	size_t len = f->len;
	if (len < 8)
		return rml_errorf(err, RML_ERR_FORMAT,
				  "%s: not a safetensors file (%zu bytes, shorter than the 8-byte header length)",
				  what, len);
	uint64_t hn = le64(p);
	if (hn > RML_ST_MAX_HEADER)
		return rml_errorf(err, RML_ERR_LIMIT, "%s: header length %llu exceeds the limit of %u bytes",
				  what, (unsigned long long)hn, RML_ST_MAX_HEADER);
	if (hn > len - 8)
		return rml_errorf(err, RML_ERR_FORMAT,
				  "%s: header length %llu exceeds the %zu bytes that follow it (truncated?)",
				  what, (unsigned long long)hn, len - 8);
	if (hn < 2 || p[8] != '{')
		return rml_errorf(err, RML_ERR_FORMAT, "%s: the header does not start with '{'", what);
	json_error_t je;
	json_t *root = json_loadb((const char *)p + 8, (size_t)hn, JSON_REJECT_DUPLICATES, &je);
	if (!root)
		return rml_errorf(err, RML_ERR_FORMAT, "%s: header is not valid JSON: %s (byte %d)", what,
				  je.text, je.position);
	rml_status st = RML_OK;
	const uint8_t *data = p + 8 + hn;
	uint64_t data_len = len - 8 - hn;
	size_t n = json_object_size(root);
	rml_st_tensor **order = NULL;
	if (!json_is_object(root)) {
		st = rml_errorf(err, RML_ERR_FORMAT, "%s: header is not a JSON object", what);
		goto out;
	}
	if (n > RML_MAX_TENSORS + 1) {
		st = rml_errorf(err, RML_ERR_LIMIT, "%s: %zu tensors, at most %d", what, n, RML_MAX_TENSORS);
		goto out;
	}
	f->t = calloc(n + 1, sizeof *f->t);
	order = calloc(n + 1, sizeof *order);
	if (!f->t || !order) {
		st = rml_errorf(err, RML_ERR_NOMEM, "%s: out of memory", what);
		goto out;
	}
	const char *key;
	json_t *v;
	json_object_foreach(root, key, v) {
		if (strcmp(key, "__metadata__") == 0) {
			if ((st = parse_meta(f, v, what, err)))
				goto out;
			continue;
		}
		char kb[96];
		size_t kl = strlen(key);
		if (kl == 0 || kl > RML_MAX_NAME) {
			st = rml_errorf(err, RML_ERR_FORMAT, "%s: tensor name \"%s\" is empty or longer than %d bytes",
					what, shown(key, kb), RML_MAX_NAME);
			goto out;
		}
		rml_st_tensor *t = &f->t[f->n];
		if ((st = parse_entry(t, key, v, data, data_len, what, err)))
			goto out;
		if (!(t->name = strdup(key))) {
			st = rml_errorf(err, RML_ERR_NOMEM, "%s: out of memory", what);
			goto out;
		}
		order[f->n] = t;
		f->n++;
	}
	if (f->n > RML_MAX_TENSORS) {
		st = rml_errorf(err, RML_ERR_LIMIT, "%s: %lld tensors, at most %d", what, (long long)f->n,
				RML_MAX_TENSORS);
		goto out;
	}
	/* The tensors must tile [0, data_len) exactly. */
	qsort(order, (size_t)f->n, sizeof *order, cmp_range);
	const uint8_t *at = data;
	for (int64_t i = 0; i < f->n; i++) {
		char b1[96], b2[96];
		if (order[i]->data < at) {
			st = rml_errorf(err, RML_ERR_FORMAT, "%s: tensors %s and %s overlap", what,
					shown(order[i - 1]->name, b1), shown(order[i]->name, b2));
			goto out;
		}
		if (order[i]->data > at) {
			st = rml_errorf(err, RML_ERR_FORMAT,
					"%s: data bytes %lld to %lld belong to no tensor (a hole before %s)", what,
					(long long)(at - data), (long long)(order[i]->data - data),
					shown(order[i]->name, b1));
			goto out;
		}
		at = order[i]->data + order[i]->nbytes;
	}
	if (at != data + data_len)
		st = rml_errorf(err, RML_ERR_FORMAT, "%s: %lld trailing bytes after the last tensor", what,
				(long long)(data + data_len - at));
out:
	free(order);
	json_decref(root);
	return st;
}

rml_status rml_st_parse(rml_st_file *f, const void *bytes, size_t len, const char *what,
			rml_error *err)
{
	rml_st_init(f);
	f->bytes = malloc(len ? len : 1);
	if (!f->bytes)
		return rml_errorf(err, RML_ERR_NOMEM, "%s: out of memory", what);
	if (len)
		memcpy(f->bytes, bytes, len);
	f->len = len;
	rml_status st = parse(f, what, err);
	if (st)
		rml_st_free(f);
	return st;
}

rml_status rml_st_load(rml_st_file *f, const char *path, rml_error *err)
{
	rml_st_init(f);
	int is_stdin = strcmp(path, "-") == 0;
	const char *what = is_stdin ? "standard input" : path;
	FILE *fp = is_stdin ? stdin : fopen(path, "rb");
	if (!fp)
		return rml_errorf(err, RML_ERR_IO, "%s: %s", path, strerror(errno));
	/* Memory grows only as bytes arrive: a lying header cannot make us
	 * allocate what the file does not hold. */
	size_t cap = 1 << 16, len = 0;
	uint8_t *buf = malloc(cap);
	rml_status st = RML_OK;
	for (;;) {
		if (!buf) {
			st = rml_errorf(err, RML_ERR_NOMEM, "%s: out of memory", what);
			break;
		}
		size_t got = fread(buf + len, 1, cap - len, fp);
		len += got;
		if (len < cap) {
			if (ferror(fp))
				st = rml_errorf(err, RML_ERR_IO, "%s: read failed: %s", what, strerror(errno));
			break;
		}
		uint8_t *nb = cap <= SIZE_MAX / 2 ? realloc(buf, cap * 2) : NULL;
		if (!nb)
			free(buf);
		buf = nb;
		cap *= 2;
	}
	if (!is_stdin)
		fclose(fp);
	if (st) {
		free(buf);
		return st;
	}
	f->bytes = buf;
	f->len = len;
	st = parse(f, what, err);
	if (st)
		rml_st_free(f);
	return st;
}

const rml_st_tensor *rml_st_find(const rml_st_file *f, const char *name)
{
	for (int64_t i = 0; i < f->n; i++)
		if (strcmp(f->t[i].name, name) == 0)
			return &f->t[i];
	return NULL;
}

const char *rml_st_meta(const rml_st_file *f, const char *key)
{
	for (int64_t i = 0; i < f->n_meta; i++)
		if (strcmp(f->meta_key[i], key) == 0)
			return f->meta_val[i];
	return NULL;
}

/* IEEE half to float, exactly (subnormals, infinities, NaN kept). */
static float half_to_float(uint16_t h)
{
	uint32_t sign = (uint32_t)(h & 0x8000) << 16, e = (h >> 10) & 0x1f, m = h & 0x3ff, bits;
	if (e == 0x1f)
		bits = sign | 0x7f800000u | m << 13;
	else if (e)
		bits = sign | (e + 112) << 23 | m << 13;
	else if (m) {
		e = 113;
		while (!(m & 0x400)) {
			m <<= 1;
			e--;
		}
		bits = sign | e << 23 | (m & 0x3ff) << 13;
	} else
		bits = sign;
	float x;
	memcpy(&x, &bits, 4);
	return x;
}

rml_status rml_st_to_f32(const rml_st_tensor *t, float *out, const char *what, rml_error *err)
{
	const uint8_t *p = t->data;
	switch (t->dtype) {
	case RML_ST_F32:
		memcpy(out, p, t->nbytes);
		return RML_OK;
	case RML_ST_F64:
		for (int64_t i = 0; i < t->numel; i++) {
			double d;
			memcpy(&d, p + 8 * i, 8);
			out[i] = (float)d;
		}
		return RML_OK;
	case RML_ST_F16:
		for (int64_t i = 0; i < t->numel; i++)
			out[i] = half_to_float((uint16_t)(p[2 * i] | p[2 * i + 1] << 8));
		return RML_OK;
	case RML_ST_BF16:
		for (int64_t i = 0; i < t->numel; i++) {
			uint32_t bits = (uint32_t)(p[2 * i] | p[2 * i + 1] << 8) << 16;
			memcpy(&out[i], &bits, 4);
		}
		return RML_OK;
	default: {
		char nb[96];
		return rml_errorf(err, RML_ERR_MISMATCH, "%s: tensor %s is %s, not a floating-point type",
				  what, shown(t->name, nb), rml_st_dtype_name(t->dtype));
	}
	}
}

rml_status rml_st_write(const rml_st_out *t, int64_t n, const char *const *keys,
			const char *const *vals, int64_t n_meta, rml_outbuf *out, rml_error *err)
{
	json_t *root = json_object();
	rml_status st = RML_OK;
	size_t *nbytes = calloc((size_t)n + 1, sizeof *nbytes);
	char *text = NULL;
	if (!root || !nbytes) {
		st = rml_errorf(err, RML_ERR_NOMEM, "out of memory");
		goto out;
	}
	if (n_meta > 0) {
		json_t *m = json_object();
		if (!m || json_object_set_new(root, "__metadata__", m)) {
			st = rml_errorf(err, RML_ERR_NOMEM, "out of memory");
			goto out;
		}
		for (int64_t i = 0; i < n_meta; i++)
			if (json_object_set_new(m, keys[i], json_string(vals[i]))) {
				st = rml_errorf(err, RML_ERR_ARG, "metadata \"%s\" cannot be written", keys[i]);
				goto out;
			}
	}
	uint64_t at = 0;
	for (int64_t i = 0; i < n; i++) {
		const rml_st_out *x = &t[i];
		size_t es = rml_st_dtype_size(x->dtype);
		if (!x->name[0] || strcmp(x->name, "__metadata__") == 0 || json_object_get(root, x->name) ||
		    !es || x->ndim < 0 || x->ndim > RML_ST_MAX_DIMS) {
			st = rml_errorf(err, RML_ERR_ARG, "tensor \"%s\": empty, reserved or repeated name, or bad type",
					x->name);
			goto out;
		}
		uint64_t numel = 1;
		for (int d = 0; d < x->ndim; d++) {
			if (x->dims[d] < 0) {
				st = rml_errorf(err, RML_ERR_ARG, "tensor \"%s\": negative dimension", x->name);
				goto out;
			}
			numel *= (uint64_t)x->dims[d];
		}
		nbytes[i] = (size_t)(numel * es);
		json_t *e = json_object(), *shape = json_array(), *off = json_array();
		int bad = !e || !shape || !off;
		for (int d = 0; !bad && d < x->ndim; d++)
			bad |= json_array_append_new(shape, json_integer(x->dims[d]));
		bad = bad || json_array_append_new(off, json_integer((json_int_t)at)) ||
		      json_array_append_new(off, json_integer((json_int_t)(at + nbytes[i])));
		bad = bad || json_object_set_new(e, "dtype", json_string(rml_st_dtype_name(x->dtype)));
		if (!bad) {
			bad |= json_object_set_new(e, "shape", shape);
			shape = NULL;
			bad |= json_object_set_new(e, "data_offsets", off);
			off = NULL;
		}
		json_decref(shape);
		json_decref(off);
		if (bad || json_object_set_new(root, x->name, e)) {
			st = rml_errorf(err, RML_ERR_ARG, "tensor \"%s\": the name is not UTF-8, or out of memory",
					x->name);
			goto out;
		}
		at += nbytes[i];
	}
	text = json_dumps(root, JSON_COMPACT);
	if (!text) {
		st = rml_errorf(err, RML_ERR_NOMEM, "out of memory");
		goto out;
	}
	size_t hl = strlen(text), pad = (8 - hl % 8) % 8;
	rml_outbuf_u64(out, hl + pad);
	rml_outbuf_add(out, text, hl);
	rml_outbuf_add(out, "        ", pad);
	for (int64_t i = 0; i < n; i++)
		rml_outbuf_add(out, t[i].data, nbytes[i]);
	if (out->failed)
		st = rml_errorf(err, RML_ERR_NOMEM, "out of memory");
out:
	free(text);
	free(nbytes);
	json_decref(root);
	return st;
}
