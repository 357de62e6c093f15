/*
 * classes.c — a dataset's labels mapped onto a model's classes by name
 * (see classes.h). Quadratic in the class count, which is at most a few
 * thousand; it runs once per program.
 */
#include "classes.h"

#include <stdlib.h>
#include <string.h>

rml_status rml_classes_match(rml_dataset *d, const char *const *model_names, int k,
			     const char *what, rml_error *err)
{
	if (!what)
		what = "the data";
	if (!model_names) {
		if (d->n_classes > k)
			return rml_errorf(err, RML_ERR_MISMATCH, "%s has %d classes, the model %d", what,
					  d->n_classes, k);
		return RML_OK;
	}
	int *map = malloc(sizeof *map * (size_t)(d->n_classes ? d->n_classes : 1));
	if (!map)
		return rml_errorf(err, RML_ERR_NOMEM, "out of memory");
	int identity = d->n_classes == k;
	for (int i = 0; i < d->n_classes; i++) {
		const char *name = d->class_names && d->class_names[i] ? d->class_names[i] : "";
		map[i] = -1;
		for (int j = 0; j < k; j++)
			if (model_names[j] && strcmp(model_names[j], name) == 0) {
				map[i] = j;
				break;
			}
		if (map[i] < 0) {
			free(map);
			return rml_errorf(err, RML_ERR_MISMATCH,
					  "%s: class '%s' is not one of the model's %d classes", what,
					  name, k);
		}
		for (int p = 0; p < i; p++)
			if (map[p] == map[i]) {
				free(map);
				return rml_errorf(err, RML_ERR_MISMATCH, "%s: class '%s' is listed twice",
						  what, name);
			}
		identity &= map[i] == i;
	}
	if (identity) {
		free(map);
		return RML_OK;
	}
	rml_status st = rml_dataset_set_classes(d, model_names, k, err);
	if (st == RML_OK)
		for (int64_t i = 0; i < d->n; i++)
			if (d->labels[i] >= 0)
				d->labels[i] = map[d->labels[i]];
	free(map);
	return st;
}

rml_status rml_dataset_fit_shape(const rml_dataset *d, const rml_model *m, const char *what,
				 rml_error *err)
{
	if (!what)
		what = "the data";
	if (d->n < 1)
		return rml_errorf(err, RML_ERR_ARG, "%s holds no images", what);
	int h, w, c;
	rml_model_input_shape(m, &h, &w, &c);
	if (d->h != h || d->w != w || d->c != c)
		return rml_errorf(err, RML_ERR_MISMATCH,
				  "the model takes %dx%dx%d images, %s holds %lldx%lldx%lld", h, w, c,
				  what, (long long)d->h, (long long)d->w, (long long)d->c);
	return RML_OK;
}

rml_status rml_dataset_fit_model(rml_dataset *d, const rml_model *m, int need_labels,
				 const char *what, rml_error *err)
{
	if (!what)
		what = "the data";
	rml_status st = rml_dataset_fit_shape(d, m, what, err);
	if (st)
		return st;
	if (need_labels) {
		int64_t i = 0;
		while (i < d->n && d->labels[i] < 0)
			i++;
		if (i == d->n)
			return rml_errorf(err, RML_ERR_ARG,
					  "%s has no labelled images: nothing to measure", what);
	}
	return rml_classes_match(d, rml_model_class_names(m), rml_model_n_classes(m), what, err);
}
