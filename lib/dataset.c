/*
 * dataset.c — labelled image sets in memory and in .rml files (see
 * dataset.h). The importers and the operations on whole datasets are in
 * dataops.c.
 */
#include "dataset.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SIDE 65536

void rml_dataset_init(rml_dataset *d)
{
	memset(d, 0, sizeof *d);
}

static void free_names(char **names, int n)
{
	if (names)
		for (int i = 0; i < n; i++)
			free(names[i]);
	free(names);
}

void rml_dataset_free(rml_dataset *d)
{
	free(d->images);
	free(d->labels);
	free_names(d->class_names, d->n_classes);
	free(d->name);
	rml_dataset_init(d);
}

rml_status rml_dataset_alloc(rml_dataset *d, int64_t n, int64_t h, int64_t w, int64_t c,
			     rml_error *err)
{
	int64_t bytes;
	if (n < 0 || h <= 0 || w <= 0 || c <= 0 || h > MAX_SIDE || w > MAX_SIDE || c > 4 ||
	    rml_mul_overflow(n, h * w * c, &bytes))
		return rml_errorf(err, RML_ERR_LIMIT, "dataset of %lld images of %lldx%lldx%lld is "
				  "beyond the supported limits", (long long)n, (long long)h,
				  (long long)w, (long long)c);
	free(d->images);
	free(d->labels);
	d->images = calloc((size_t)(bytes ? bytes : 1), 1);
	d->labels = malloc((size_t)(n ? n : 1) * sizeof *d->labels);
	if (!d->images || !d->labels)
		return rml_errorf(err, RML_ERR_NOMEM, "out of memory for %lld images", (long long)n);
	for (int64_t i = 0; i < n; i++)
		d->labels[i] = -1;
	d->n = n;
	d->h = h;
	d->w = w;
	d->c = c;
	return RML_OK;
}

rml_status rml_dataset_set_classes(rml_dataset *d, const char *const *names, int n,
				   rml_error *err)
{
	char **v = calloc((size_t)(n ? n : 1), sizeof *v);
	if (!v)
		return rml_errorf(err, RML_ERR_NOMEM, "out of memory");
	for (int i = 0; i < n; i++) {
		char gen[32];
		snprintf(gen, sizeof gen, "class_%d", i);
		v[i] = strdup(names && names[i] ? names[i] : gen);
		if (!v[i]) {
			free_names(v, i);
			return rml_errorf(err, RML_ERR_NOMEM, "out of memory");
		}
	}
	free_names(d->class_names, d->n_classes);
	d->class_names = v;
	d->n_classes = n;
	return RML_OK;
}

rml_status rml_dataset_set_name(rml_dataset *d, const char *name)
{
	free(d->name);
	d->name = name ? strdup(name) : NULL;
	return !name || d->name ? RML_OK : RML_ERR_NOMEM;
}

rml_status rml_dataset_from_file(rml_dataset *d, const rml_file *f, rml_error *err)
{
	rml_dataset_init(d);
	rml_status st = rml_expect_kind(f, "dataset", "input", err);
	if (st)
		return st;
	rml_tensor *im = rml_expect_tensor(f, "images", RML_DTYPE_U8, 4, err);
	if (!im) {
		if (rml_find_tensor(f, "support.images"))
			return rml_errorf(err, RML_ERR_MISMATCH,
					  "input holds few-shot episodes, not a plain dataset");
		return RML_ERR_FORMAT;
	}
	rml_tensor *lb = rml_expect_tensor(f, "labels", RML_DTYPE_I32, 1, err);
	if (!lb)
		return RML_ERR_FORMAT;
	if (lb->dims[0] != im->dims[0])
		return rml_errorf(err, RML_ERR_FORMAT, "dataset has %lld images but %lld labels",
				  (long long)im->dims[0], (long long)lb->dims[0]);
	const rml_kv *cl = rml_get(f, "dataset.classes");
	if (!cl || cl->type != RML_KV_STR_ARRAY || cl->n < 1 || cl->n > 100000)
		return rml_errorf(err, RML_ERR_FORMAT, "dataset has no valid 'dataset.classes' list");
	st = rml_dataset_alloc(d, im->dims[0], im->dims[1], im->dims[2], im->dims[3], err);
	if (!st)
		st = rml_dataset_set_classes(d, (const char *const *)cl->sa, (int)cl->n, err);
	if (st) {
		rml_dataset_free(d);
		return st;
	}
	memcpy(d->images, im->data, im->nbytes);
	memcpy(d->labels, lb->data, lb->nbytes);
	for (int64_t i = 0; i < d->n; i++)
		if (d->labels[i] < -1 || d->labels[i] >= d->n_classes) {
			st = rml_errorf(err, RML_ERR_FORMAT, "image %lld has label %d, outside -1..%d",
					(long long)i, d->labels[i], d->n_classes - 1);
			rml_dataset_free(d);
			return st;
		}
	const rml_kv *nm = rml_get(f, "dataset.name");
	if (nm && nm->type == RML_KV_STR)
		rml_dataset_set_name(d, nm->s);
	return RML_OK;
}

rml_status rml_dataset_to_file(const rml_dataset *d, rml_file *f, rml_error *err)
{
	int64_t dims[4] = { d->n, d->h, d->w, d->c };
	rml_status st = rml_set_str(f, "kind", "dataset");
	if (!st && d->name)
		st = rml_set_str(f, "dataset.name", d->name);
	if (!st)
		st = rml_set_str_array(f, "dataset.classes", (const char *const *)d->class_names,
				       d->n_classes);
	if (st)
		return rml_errorf(err, st, "cannot describe the dataset: %s", rml_strerror(st));
	if (!rml_add_tensor(f, "images", RML_DTYPE_U8, 4, dims, d->images, err) ||
	    !rml_add_tensor(f, "labels", RML_DTYPE_I32, 1, dims, d->labels, err))
		return err ? err->code : RML_ERR_NOMEM;
	return RML_OK;
}

rml_status rml_dataset_load(rml_dataset *d, const char *path, rml_error *err)
{
	rml_file f;
	rml_status st = rml_file_load(&f, path, err);
	if (st)
		return st;
	st = rml_dataset_from_file(d, &f, err);
	rml_file_free(&f);
	return st;
}
