/*
 * torchmap.c — names and layouts between rmlops models and PyTorch state
 * dicts (torchmap.h).
 */
#include "torchmap.h"

#include <ctype.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "calib_model.h"
#include "outtext.h"

#define NAME_MAX_LEN 1024

void rml_torch_map_init(rml_torch_map *m)
{
	memset(m, 0, sizeof *m);
}

void rml_torch_map_free(rml_torch_map *m)
{
	for (int64_t i = 0; i < m->n; i++) {
		free(m->e[i].rml);
		for (int j = 0; j < m->e[i].n_torch; j++)
			free(m->e[i].torch[j]);
		free(m->e[i].torch);
	}
	free(m->e);
	free(m->prefix);
	rml_torch_map_init(m);
}

rml_status rml_torch_map_set_prefix(rml_torch_map *m, const char *prefix, rml_error *err)
{
	free(m->prefix);
	m->prefix = NULL;
	if (!prefix || !*prefix)
		return RML_OK;
	if (strlen(prefix) > 200)
		return rml_errorf(err, RML_ERR_ARG, "prefix longer than 200 bytes");
	if (!(m->prefix = strdup(prefix)))
		return rml_errorf(err, RML_ERR_NOMEM, "out of memory");
	return RML_OK;
}

static const rml_torch_name *map_find(const rml_torch_map *m, const char *rml)
{
	for (int64_t i = 0; i < m->n; i++)
		if (strcmp(m->e[i].rml, rml) == 0)
			return &m->e[i];
	return NULL;
}

rml_status rml_torch_map_parse(rml_torch_map *m, const char *text, const char *what,
			       rml_error *err)
{
	int line = 0;
	const char *p = text;
	while (*p) {
		line++;
		const char *eol = strchr(p, '\n');
		size_t len = eol ? (size_t)(eol - p) : strlen(p);
		char *buf = malloc(len + 1);
		if (!buf)
			return rml_errorf(err, RML_ERR_NOMEM, "out of memory");
		memcpy(buf, p, len);
		buf[len] = 0;
		p += len + (eol != NULL);
		char *hash = strchr(buf, '#');
		if (hash)
			*hash = 0;
		char *words[65];
		int nw = 0;
		for (char *s = strtok(buf, " \t\r"); s; s = strtok(NULL, " \t\r")) {
			if (nw == 65) {
				free(buf);
				return rml_errorf(err, RML_ERR_FORMAT, "%s, line %d: more than 64 PyTorch names",
						  what, line);
			}
			words[nw++] = s;
		}
		if (nw == 0) {
			free(buf);
			continue;
		}
		if (nw == 1) {
			free(buf);
			return rml_errorf(err, RML_ERR_FORMAT,
					  "%s, line %d: expected an rmlops name and at least one PyTorch name",
					  what, line);
		}
		for (int i = 0; i < nw; i++)
			if (strlen(words[i]) > RML_MAX_NAME) {
				free(buf);
				return rml_errorf(err, RML_ERR_FORMAT, "%s, line %d: a name longer than %d bytes",
						  what, line, RML_MAX_NAME);
			}
		if (map_find(m, words[0])) {
			rml_status st = rml_errorf(err, RML_ERR_FORMAT, "%s, line %d: %s is mapped twice", what,
						   line, words[0]);
			free(buf);
			return st;
		}
		for (int i = 1; i < nw; i++)
			for (int64_t k = 0; k < m->n; k++)
				for (int j = 0; j < m->e[k].n_torch; j++)
					if (strcmp(m->e[k].torch[j], words[i]) == 0) {
						rml_status st = rml_errorf(err, RML_ERR_FORMAT,
									   "%s, line %d: %s is used twice", what,
									   line, words[i]);
						free(buf);
						return st;
					}
		rml_torch_name *e = realloc(m->e, (size_t)(m->n + 1) * sizeof *e);
		if (!e) {
			free(buf);
			return rml_errorf(err, RML_ERR_NOMEM, "out of memory");
		}
		m->e = e;
		e = &m->e[m->n];
		memset(e, 0, sizeof *e);
		e->line = line;
		e->rml = strdup(words[0]);
		e->torch = calloc((size_t)nw, sizeof *e->torch);
		int bad = !e->rml || !e->torch;
		for (int i = 1; !bad && i < nw; i++)
			bad = !(e->torch[e->n_torch++] = strdup(words[i]));
		m->n++;
		free(buf);
		if (bad)
			return rml_errorf(err, RML_ERR_NOMEM, "out of memory");
	}
	return RML_OK;
}

void rml_torch_default_name(const char *rml_name, char *out, size_t size)
{
	char buf[NAME_MAX_LEN], res[NAME_MAX_LEN + 64] = "";
	snprintf(buf, sizeof buf, "%s", rml_name);
	char *words[128];
	int nw = 0;
	for (char *s = strtok(buf, "."); s && nw < 128; s = strtok(NULL, "."))
		words[nw++] = s;
	size_t at = 0;
	for (int i = 0; i < nw; i++) {
		const char *w = words[i];
		char tmp[32];
		if (strcmp(w, "transformer") == 0)
			w = "layers";
		else if (strcmp(w, "attn") == 0 || strcmp(w, "mlp") == 0)
			continue;
		else if (strcmp(w, "adapter") == 0) {
			if (i + 1 < nw && words[i + 1][0] == 'u' && isdigit((unsigned char)words[i + 1][1])) {
				snprintf(tmp, sizeof tmp, "units.%ld", strtol(words[i + 1] + 1, NULL, 10) - 1);
				w = tmp;
				i++;
			} else
				continue;
		} else if (i == nw - 1 && (strcmp(w, "w") == 0 || strcmp(w, "gamma") == 0))
			w = "weight";
		else if (i == nw - 1 && (strcmp(w, "b") == 0 || strcmp(w, "beta") == 0))
			w = "bias";
		int k = snprintf(res + at, sizeof res - at, "%s%s", at ? "." : "", w);
		if (k < 0 || (size_t)k >= sizeof res - at)
			break;
		at += (size_t)k;
	}
	snprintf(out, size, "%s", res);
}

/* Whole text of a small file (at most 1 MiB), NUL-terminated, or NULL. */
static char *read_text(const char *path)
{
	FILE *fp = fopen(path, "rb");
	if (!fp)
		return NULL;
	size_t cap = (1u << 20) + 1;
	char *s = malloc(cap + 1);
	size_t n = s ? fread(s, 1, cap, fp) : 0;
	int bad = !s || ferror(fp) || n == cap || n == 0 || memchr(s, 0, n);
	fclose(fp);
	if (bad) {
		free(s);
		return NULL;
	}
	s[n] = 0;
	return s;
}

rml_status rml_torch_map_load(rml_torch_map *m, const char *path, const char *prefix,
			      rml_error *err)
{
	if (path) {
		char *text = read_text(path);
		if (!text)
			return rml_errorf(err, RML_ERR_IO,
					  "%s: cannot read the map (missing, empty, binary or over 1 MiB)", path);
		rml_status st = rml_torch_map_parse(m, text, path, err);
		free(text);
		if (st)
			return st;
	}
	return rml_torch_map_set_prefix(m, prefix, err);
}

void rml_torch_names_text(rml_outbuf *o, const rml_param *p, int64_t n, const rml_torch_map *map)
{
	const char *pre = map->prefix ? map->prefix : "";
	for (int64_t i = 0; i < n; i++) {
		const rml_torch_name *e = NULL;
		for (int64_t k = 0; k < map->n; k++)
			if (strcmp(map->e[k].rml, p[i].name) == 0)
				e = &map->e[k];
		rml_outbuf_printf(o, "%s", p[i].name);
		if (e) {
			for (int k = 0; k < e->n_torch; k++)
				rml_outbuf_printf(o, " %s%s", pre, e->torch[k]);
		} else {
			char nm[1024];
			rml_torch_default_name(p[i].name, nm, sizeof nm);
			rml_outbuf_printf(o, " %s%s", pre, nm);
		}
		/* The PyTorch shape of the whole tensor. */
		const int64_t *d = p[i].dims;
		switch (p[i].ndim) {
		case 1: rml_outbuf_printf(o, "  # [%lld]\n", (long long)d[0]); break;
		case 2: rml_outbuf_printf(o, "  # [%lld, %lld]\n", (long long)d[1], (long long)d[0]); break;
		case 3:
			rml_outbuf_printf(o, "  # [%lld, 1, %lld, %lld]\n", (long long)d[2], (long long)d[0],
				       (long long)d[1]);
			break;
		default:
			rml_outbuf_printf(o, "  # [%lld, %lld, %lld, %lld]\n", (long long)d[3], (long long)d[2],
				       (long long)d[0], (long long)d[1]);
		}
	}
}

/* The PyTorch names of one rmlops tensor, prefix included. */
typedef struct {
	int n;
	char names[64][NAME_MAX_LEN];
} names_t;

static void names_of(const rml_torch_map *map, const char *rml, names_t *nm)
{
	const rml_torch_name *e = map ? map_find(map, rml) : NULL;
	const char *pre = map && map->prefix ? map->prefix : "";
	if (e) {
		nm->n = e->n_torch;
		for (int i = 0; i < e->n_torch; i++)
			snprintf(nm->names[i], NAME_MAX_LEN, "%s%s", pre, e->torch[i]);
	} else {
		char d[NAME_MAX_LEN];
		rml_torch_default_name(rml, d, sizeof d);
		nm->n = 1;
		snprintf(nm->names[0], NAME_MAX_LEN, "%s%s", pre, d);
	}
}

static void shape_text(char *buf, size_t size, int ndim, const int64_t *dims)
{
	size_t at = (size_t)snprintf(buf, size, "[");
	for (int d = 0; d < ndim && at < size; d++)
		at += (size_t)snprintf(buf + at, size - at, "%s%lld", d ? ", " : "", (long long)dims[d]);
	if (at < size)
		snprintf(buf + at, size - at, "]");
}

/* The PyTorch shape of the part of p with o_n output features. */
static int torch_shape(const rml_param *p, int64_t o_n, int64_t *dims)
{
	const int64_t *d = p->dims;
	switch (p->ndim) {
	case 1: dims[0] = o_n; return 1;
	case 2: dims[0] = o_n; dims[1] = d[0]; return 2;
	case 3: dims[0] = o_n; dims[1] = 1; dims[2] = d[0]; dims[3] = d[1]; return 4;
	case 4: dims[0] = o_n; dims[1] = d[2]; dims[2] = d[0]; dims[3] = d[1]; return 4;
	default: return -1;
	}
}

/* Copy the part [o_off, o_off + o_n) of the output features between the
 * PyTorch layout (t, in PyTorch's order) and p's data. */
static void layout_copy(rml_param *p, int64_t o_off, int64_t o_n, float *t, int to_rml)
{
	const int64_t *d = p->dims;
	int64_t O = d[p->ndim - 1], j = 0;
#define MOVE(idx)                              \
	do {                                   \
		int64_t ix_ = (idx);           \
		if (to_rml)                    \
			p->data[ix_] = t[j++]; \
		else                           \
			t[j++] = p->data[ix_]; \
	} while (0)
	switch (p->ndim) {
	case 1:
		for (int64_t o = 0; o < o_n; o++)
			MOVE(o_off + o);
		break;
	case 2:
		for (int64_t o = 0; o < o_n; o++)
			for (int64_t i = 0; i < d[0]; i++)
				MOVE(i * O + o_off + o);
		break;
	case 3:
		for (int64_t o = 0; o < o_n; o++)
			for (int64_t a = 0; a < d[0]; a++)
				for (int64_t b = 0; b < d[1]; b++)
					MOVE((a * d[1] + b) * O + o_off + o);
		break;
	case 4:
		for (int64_t o = 0; o < o_n; o++)
			for (int64_t i = 0; i < d[2]; i++)
				for (int64_t a = 0; a < d[0]; a++)
					for (int64_t b = 0; b < d[1]; b++)
						MOVE(((a * d[1] + b) * d[2] + i) * O + o_off + o);
		break;
	}
#undef MOVE
}

static int64_t st_index(const rml_st_file *st, const char *name)
{
	for (int64_t i = 0; i < st->n; i++)
		if (strcmp(st->t[i].name, name) == 0)
			return i;
	return -1;
}

/* Fill one rmlops tensor from its PyTorch parts. */
static rml_status import_one(rml_param *p, const rml_st_file *st, const rml_torch_map *map,
			     uint8_t *used, float *tmp, const char *what, rml_error *err)
{
	names_t *nm = malloc(sizeof *nm);
	if (!nm)
		return rml_errorf(err, RML_ERR_NOMEM, "out of memory");
	names_of(map, p->name, nm);
	rml_status st_ = RML_OK;
	int64_t O = p->dims[p->ndim - 1], o_off = 0;
	char have[128], want[128];
	for (int k = 0; k < nm->n && !st_; k++) {
		int64_t ix = st_index(st, nm->names[k]);
		if (ix < 0) {
			st_ = rml_errorf(err, RML_ERR_MISMATCH, "%s: missing tensor %s (rmlops %s)", what,
					 nm->names[k], p->name);
			break;
		}
		const rml_st_tensor *t = &st->t[ix];
		int64_t o_n = t->ndim > 0 ? t->dims[0] : -1, dims[4];
		int nd = torch_shape(p, o_n, dims);
		int ok = nd == t->ndim && o_n >= 0 && o_off + o_n <= O;
		for (int d = 1; ok && d < nd; d++)
			ok = dims[d] == t->dims[d];
		if (ok && k == nm->n - 1)
			ok = o_off + o_n == O;
		if (!ok) {
			shape_text(have, sizeof have, t->ndim, t->dims);
			torch_shape(p, O, dims);
			shape_text(want, sizeof want, nd, dims);
			if (nm->n == 1)
				st_ = rml_errorf(err, RML_ERR_MISMATCH,
						 "%s: tensor %s has shape %s, the architecture needs %s (rmlops %s)",
						 what, t->name, have, want, p->name);
			else
				st_ = rml_errorf(err, RML_ERR_MISMATCH,
						 "%s: tensor %s has shape %s; the %d parts of rmlops %s must make %s "
						 "along the first dimension", what, t->name, have, nm->n, p->name, want);
			break;
		}
		if ((st_ = rml_st_to_f32(t, tmp, what, err)))
			break;
		layout_copy(p, o_off, o_n, tmp, 1);
		o_off += o_n;
		used[ix] = 1;
	}
	free(nm);
	return st_;
}

static int64_t max_numel(rml_model *m)
{
	int64_t n, nb, best = 1;
	rml_param *p = rml_model_params(m, &n), *b = rml_model_buffers(m, &nb);
	for (int64_t i = 0; i < n; i++)
		best = p[i].numel > best ? p[i].numel : best;
	for (int64_t i = 0; i < nb; i++)
		best = b[i].numel > best ? b[i].numel : best;
	return best;
}

static int has_rml_name(rml_model *m, const char *name)
{
	int64_t n, nb;
	rml_param *p = rml_model_params(m, &n), *b = rml_model_buffers(m, &nb);
	for (int64_t i = 0; i < n; i++)
		if (strcmp(p[i].name, name) == 0)
			return 1;
	for (int64_t i = 0; i < nb; i++)
		if (strcmp(b[i].name, name) == 0)
			return 1;
	return 0;
}

/* A PyTorch batch-norm counter next to running statistics that were taken. */
static int is_counter(const rml_st_file *st, int64_t i, const uint8_t *used)
{
	const rml_st_tensor *t = &st->t[i];
	const char *suf = ".num_batches_tracked";
	size_t n = strlen(t->name), ls = strlen(suf);
	if (n <= ls || strcmp(t->name + n - ls, suf) != 0 || t->numel != 1 ||
	    (t->dtype != RML_ST_I64 && t->dtype != RML_ST_I32))
		return 0;
	char mean[NAME_MAX_LEN];
	snprintf(mean, sizeof mean, "%.*s.running_mean", (int)(n - ls), t->name);
	int64_t k = st_index(st, mean);
	return k >= 0 && used[k];
}

rml_status rml_torch_import(rml_model *m, const rml_st_file *st, const rml_torch_map *map,
			    const char *what, rml_error *err)
{
	if (map)
		for (int64_t i = 0; i < map->n; i++)
			if (!has_rml_name(m, map->e[i].rml))
				return rml_errorf(err, RML_ERR_MISMATCH,
						  "the map names %s (line %d), which the architecture does not have",
						  map->e[i].rml, map->e[i].line);
	uint8_t *used = calloc((size_t)st->n + 1, 1);
	float *tmp = malloc((size_t)max_numel(m) * sizeof *tmp);
	if (!used || !tmp) {
		free(used);
		free(tmp);
		return rml_errorf(err, RML_ERR_NOMEM, "out of memory");
	}
	rml_status s = RML_OK;
	int64_t n, nb;
	rml_param *p = rml_model_params(m, &n), *b = rml_model_buffers(m, &nb);
	for (int64_t i = 0; i < n && !s; i++)
		s = import_one(&p[i], st, map, used, tmp, what, err);
	for (int64_t i = 0; i < nb && !s; i++)
		s = import_one(&b[i], st, map, used, tmp, what, err);
	if (!s) {
		int64_t extra = 0, first = -1;
		for (int64_t i = 0; i < st->n; i++)
			if (!used[i] && !is_counter(st, i, used)) {
				extra++;
				if (first < 0)
					first = i;
			}
		if (extra == 1)
			s = rml_errorf(err, RML_ERR_MISMATCH,
				       "%s: extra tensor %s: no tensor of the architecture takes it", what,
				       st->t[first].name);
		else if (extra > 1)
			s = rml_errorf(err, RML_ERR_MISMATCH,
				       "%s: extra tensor %s and %lld more: no tensor of the architecture takes them",
				       what, st->t[first].name, (long long)(extra - 1));
	}
	free(used);
	free(tmp);
	return s;
}

/* Output features of the PyTorch tensors mapped to rmlops tensor `rml`:
 * the sum of their first dimensions; -1 when one is missing. */
static int64_t mapped_rows(const rml_st_file *st, const rml_torch_map *map, const char *rml)
{
	names_t *nm = malloc(sizeof *nm);
	if (!nm)
		return -1;
	names_of(map, rml, nm);
	int64_t rows = 0;
	for (int k = 0; k < nm->n; k++) {
		const rml_st_tensor *t = rml_st_find(st, nm->names[k]);
		if (!t || t->ndim < 1) {
			rows = -1;
			break;
		}
		rows += t->dims[0];
	}
	free(nm);
	return rows;
}

rml_status rml_torch_infer(const rml_st_file *st, const rml_torch_map *map, const char *arch,
			   int *n_classes, int *gamma, const char *what, rml_error *err)
{
	int64_t k = mapped_rows(st, map, "head.b");
	if (k < 1 || k > 1000000) {
		char nm[NAME_MAX_LEN];
		rml_torch_default_name("head.b", nm, sizeof nm);
		return rml_errorf(err, RML_ERR_MISMATCH,
				  "%s: cannot tell the class count (no usable tensor for head.b, by default %s%s)",
				  what, map && map->prefix ? map->prefix : "", nm);
	}
	*n_classes = (int)k;
	/* A model with adapters of compression 1 names every adapter tensor. */
	rml_model *m = NULL;
	rml_model_config cfg = { .arch = arch, .n_classes = (int)k, .adapter_gamma = 1, .seed = 1 };
	rml_status s = rml_model_create(&m, &cfg, err);
	if (s)
		return s;
	*gamma = 0;
	int64_t n;
	rml_param *p = rml_model_params(m, &n);
	for (int64_t i = 0; i < n; i++) {
		size_t l = strlen(p[i].name);
		const char *suf = ".adapter.u1.pw1.b";
		if (l <= strlen(suf) || strcmp(p[i].name + l - strlen(suf), suf) != 0)
			continue;
		int64_t r = mapped_rows(st, map, p[i].name), c = p[i].dims[0];
		if (r < 0)
			break;
		if (r < 1 || c % r || (c / r != 1 && c / r != 2 && c / r != 4 && c / r != 8))
			s = rml_errorf(err, RML_ERR_MISMATCH,
				       "%s: adapter units %lld wide on %lld channels: compression must be 1, 2, 4 or 8",
				       what, (long long)r, (long long)c);
		else
			*gamma = (int)(c / r);
		break;
	}
	rml_model_free(m);
	return s;
}

/* ---- export -------------------------------------------------------------------- */

typedef struct {
	rml_st_out *t;
	int64_t n, cap;
	float **bufs;
	char **names;
} outlist;

static rml_status export_one(outlist *L, rml_param *p, const rml_torch_map *map, rml_error *err)
{
	names_t *nm = malloc(sizeof *nm);
	if (!nm)
		return rml_errorf(err, RML_ERR_NOMEM, "out of memory");
	names_of(map, p->name, nm);
	int64_t O = p->dims[p->ndim - 1];
	rml_status s = RML_OK;
	if (O % nm->n) {
		s = rml_errorf(err, RML_ERR_MISMATCH, "rmlops %s: %lld output features do not split into %d parts",
			       p->name, (long long)O, nm->n);
		goto out;
	}
	int64_t o_n = O / nm->n;
	for (int k = 0; k < nm->n; k++) {
		if (L->n == L->cap) {
			int64_t cap = L->cap ? 2 * L->cap : 256;
			rml_st_out *t = realloc(L->t, (size_t)cap * sizeof *t);
			float **b = t ? realloc(L->bufs, (size_t)cap * sizeof *b) : NULL;
			if (t)
				L->t = t;
			if (b)
				L->bufs = b;
			char **nn = b ? realloc(L->names, (size_t)cap * sizeof *nn) : NULL;
			if (!nn) {
				s = rml_errorf(err, RML_ERR_NOMEM, "out of memory");
				goto out;
			}
			L->names = nn;
			L->cap = cap;
		}
		rml_st_out *t = &L->t[L->n];
		memset(t, 0, sizeof *t);
		t->dtype = RML_ST_F32;
		t->ndim = torch_shape(p, o_n, t->dims);
		float *buf = malloc((size_t)(p->numel / nm->n + 1) * sizeof *buf);
		char *name = strdup(nm->names[k]);
		L->bufs[L->n] = buf;
		L->names[L->n] = name;
		L->n++;
		if (!buf || !name) {
			s = rml_errorf(err, RML_ERR_NOMEM, "out of memory");
			goto out;
		}
		layout_copy(p, k * o_n, o_n, buf, 0);
		t->data = buf;
		t->name = name;
	}
out:
	free(nm);
	return s;
}

static const char B64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static char *base64(const uint8_t *d, size_t n)
{
	char *s = malloc(4 * ((n + 2) / 3) + 1), *o = s;
	if (!s)
		return NULL;
	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)d[i] << 16 | (i + 1 < n ? (uint32_t)d[i + 1] << 8 : 0) |
			     (i + 2 < n ? d[i + 2] : 0);
		*o++ = B64[v >> 18 & 63];
		*o++ = B64[v >> 12 & 63];
		*o++ = i + 1 < n ? B64[v >> 6 & 63] : '=';
		*o++ = i + 2 < n ? B64[v & 63] : '=';
	}
	*o = 0;
	return s;
}

/* Decoded bytes (malloc'd) or NULL for text that is not base64. */
static uint8_t *unbase64(const char *s, size_t *n)
{
	size_t len = strlen(s);
	if (len % 4)
		return NULL;
	uint8_t *d = malloc(len / 4 * 3 + 1);
	if (!d)
		return NULL;
	size_t k = 0;
	for (size_t i = 0; i < len; i += 4) {
		uint32_t v = 0;
		int pad = 0;
		for (int j = 0; j < 4; j++) {
			const char *c = s[i + j] ? strchr(B64, s[i + j]) : NULL;
			if (s[i + j] == '=' && i + 4 == len && j >= 2 && (j == 3 || s[i + 3] == '=')) {
				pad++;
				v <<= 6;
				continue;
			}
			if (!c || pad) {
				free(d);
				return NULL;
			}
			v = v << 6 | (uint32_t)(c - B64);
		}
		d[k++] = (uint8_t)(v >> 16);
		if (pad < 2)
			d[k++] = (uint8_t)(v >> 8);
		if (pad < 1)
			d[k++] = (uint8_t)v;
	}
	*n = k;
	return d;
}

/* The calibrator group of a model file ("calib." keys and tensors) as an
 * .rml container of kind "calibrator", in base64; NULL when there is none. */
static rml_status calib_blob(const rml_file *f, char **out, rml_error *err)
{
	*out = NULL;
	rml_file c;
	rml_file_init(&c);
	rml_status st = rml_set_str(&c, "kind", "calibrator");
	int any = 0;
	for (int64_t i = 0; i < f->n_kv && !st; i++) {
		const rml_kv *kv = &f->kv[i];
		if (strncmp(kv->key, "calib.", 6) != 0)
			continue;
		any = 1;
		switch (kv->type) {
		case RML_KV_I64: st = rml_set_i64(&c, kv->key, kv->i); break;
		case RML_KV_F64: st = rml_set_f64(&c, kv->key, kv->f); break;
		case RML_KV_STR: st = rml_set_str(&c, kv->key, kv->s); break;
		case RML_KV_I64_ARRAY: st = rml_set_i64_array(&c, kv->key, kv->ia, kv->n); break;
		case RML_KV_F64_ARRAY: st = rml_set_f64_array(&c, kv->key, kv->fa, kv->n); break;
		default: st = rml_set_str_array(&c, kv->key, (const char *const *)kv->sa, kv->n);
		}
	}
	for (int64_t i = 0; i < f->n_tensors && !st; i++) {
		const rml_tensor *t = &f->tensors[i];
		if (strncmp(t->name, "calib.", 6) == 0 &&
		    !rml_add_tensor(&c, t->name, t->dtype, t->ndim, t->dims, t->data, err))
			st = err ? err->code : RML_ERR_NOMEM;
	}
	char *buf = NULL;
	size_t n = 0;
	if (!st && any) {
		FILE *m = open_memstream(&buf, &n);
		st = m ? rml_file_write(&c, m, "calibrator", err) : rml_errorf(err, RML_ERR_NOMEM, "out of memory");
		if (m && fclose(m) && !st)
			st = rml_errorf(err, RML_ERR_NOMEM, "out of memory");
		if (!st && !(*out = base64((const uint8_t *)buf, n)))
			st = rml_errorf(err, RML_ERR_NOMEM, "out of memory");
	}
	if (st == RML_ERR_NOMEM && err && !err->msg[0])
		rml_errorf(err, RML_ERR_NOMEM, "out of memory");
	free(buf);
	rml_file_free(&c);
	return st;
}

static char *classes_json(const rml_file *f)
{
	const rml_kv *kv = rml_get(f, "model.classes");
	if (!kv || kv->type != RML_KV_STR_ARRAY)
		return NULL;
	json_t *a = json_array();
	for (int64_t i = 0; a && i < kv->n; i++)
		json_array_append_new(a, json_string(kv->sa[i]));
	char *s = a ? json_dumps(a, JSON_COMPACT) : NULL;
	json_decref(a);
	return s;
}

rml_status rml_torch_export(rml_model *m, const rml_torch_map *map, rml_outbuf *out,
			    rml_error *err)
{
	if (map)
		for (int64_t i = 0; i < map->n; i++)
			if (!has_rml_name(m, map->e[i].rml))
				return rml_errorf(err, RML_ERR_MISMATCH,
						  "the map names %s (line %d), which the architecture does not have",
						  map->e[i].rml, map->e[i].line);
	outlist L = { 0 };
	rml_file f;
	rml_file_init(&f);
	char *classes = NULL, *calib = NULL;
	rml_status s = rml_model_to_file(m, &f, err);
	if (!s)
		s = calib_blob(&f, &calib, err);
	int64_t n, nb;
	rml_param *p = rml_model_params(m, &n), *b = rml_model_buffers(m, &nb);
	for (int64_t i = 0; i < n && !s; i++)
		s = export_one(&L, &p[i], map, err);
	for (int64_t i = 0; i < nb && !s; i++)
		s = export_one(&L, &b[i], map, err);
	if (!s) {
		const char *keys[10], *vals[10];
		char ncls[32], gamma[32], thr[40];
		int k = 0;
		const char *yaml = NULL, *hash = NULL;
		int64_t g = 0;
		rml_get_str(&f, "model.arch_yaml", &yaml, NULL);
		rml_get_str(&f, "model.base_hash", &hash, NULL);
		rml_get_i64(&f, "model.adapter_gamma", &g, NULL);
		snprintf(ncls, sizeof ncls, "%d", rml_model_n_classes(m));
		snprintf(gamma, sizeof gamma, "%lld", (long long)g);
		keys[k] = "format", vals[k++] = "pt";
		if (yaml)
			keys[k] = "rmlops.arch_yaml", vals[k++] = yaml;
		keys[k] = "rmlops.n_classes", vals[k++] = ncls;
		keys[k] = "rmlops.adapter_gamma", vals[k++] = gamma;
		if ((classes = classes_json(&f)))
			keys[k] = "rmlops.classes", vals[k++] = classes;
		if (hash)
			keys[k] = "rmlops.base_hash", vals[k++] = hash;
		rml_reject_rule rule;
		double t;
		rml_model_reject_rule(m, &rule, &t);
		if (rule != RML_REJECT_NONE) {
			snprintf(thr, sizeof thr, "%.17g", t);
			keys[k] = "rmlops.reject_rule";
			vals[k++] = rule == RML_REJECT_ENTROPY ? "entropy" : "confidence";
			keys[k] = "rmlops.reject_threshold", vals[k++] = thr;
		}
		if (calib)
			keys[k] = "rmlops.calibrator", vals[k++] = calib;
		s = rml_st_write(L.t, L.n, keys, vals, k, out, err);
	}
	for (int64_t i = 0; i < L.n; i++) {
		free(L.bufs[i]);
		free(L.names[i]);
	}
	free(L.t);
	free(L.bufs);
	free(L.names);
	free(classes);
	free(calib);
	rml_file_free(&f);
	return s;
}

rml_status rml_torch_import_meta(rml_model *m, const rml_st_file *st, const char *what,
				 rml_error *err)
{
	rml_status s = RML_OK;
	const char *text = rml_st_meta(st, "rmlops.classes");
	if (text) {
		json_t *a = json_loads(text, 0, NULL);
		int n = a && json_is_array(a) ? (int)json_array_size(a) : -1;
		const char **names = n > 0 ? calloc((size_t)n, sizeof *names) : NULL;
		for (int i = 0; names && i < n; i++)
			if (!(names[i] = json_string_value(json_array_get(a, (size_t)i))))
				n = -1;
		if (n != rml_model_n_classes(m) || !names)
			s = rml_errorf(err, RML_ERR_FORMAT, "%s: rmlops.classes is not a list of %d names", what,
				       rml_model_n_classes(m));
		else
			s = rml_model_set_class_names(m, names, n, err);
		free(names);
		json_decref(a);
		if (s)
			return s;
	}
	text = rml_st_meta(st, "rmlops.calibrator");
	if (!text)
		return RML_OK;
	size_t n = 0;
	uint8_t *bytes = unbase64(text, &n);
	if (!bytes)
		return rml_errorf(err, RML_ERR_FORMAT, "%s: rmlops.calibrator is not base64", what);
	FILE *fp = fmemopen(bytes, n ? n : 1, "rb");
	rml_file c;
	rml_file_init(&c);
	rml_calib cal;
	rml_calib_init(&cal);
	char where[300];
	snprintf(where, sizeof where, "%s: rmlops.calibrator", what);
	if (!fp)
		s = rml_errorf(err, RML_ERR_NOMEM, "out of memory");
	else if (!(s = rml_file_read(&c, fp, where, err)) && !(s = rml_expect_kind(&c, "calibrator", where, err)))
		s = rml_calib_from_file(&cal, &c, "calib.", err);
	if (!s)
		s = rml_model_set_calibrator(m, &cal, err);
	const char *rule = NULL;
	double thr;
	if (!s && rml_get_str(&c, "calib.reject_rule", &rule, NULL) == RML_OK) {
		rml_reject_rule r = strcmp(rule, "entropy") == 0      ? RML_REJECT_ENTROPY
				    : strcmp(rule, "confidence") == 0 ? RML_REJECT_CONFIDENCE
								      : RML_REJECT_NONE;
		if (r == RML_REJECT_NONE || rml_get_f64(&c, "calib.reject_threshold", &thr, NULL) || !isfinite(thr))
			s = rml_errorf(err, RML_ERR_FORMAT, "%s: bad rejection rule", where);
		else
			s = rml_model_set_reject_rule(m, r, thr, err);
	}
	if (fp)
		fclose(fp);
	rml_calib_free(&cal);
	rml_file_free(&c);
	free(bytes);
	return s;
}
