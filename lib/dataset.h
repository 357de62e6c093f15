/*
 * dataset.h — labelled image sets in memory and in .rml files (kind
 * "dataset"): uint8 images [n,h,w,c], int32 labels [n] (-1 = unknown),
 * class names. Importers for CIFAR-10/100 binary, image folders and idx
 * files; stratified splits, subsets and n-way k-shot task sampling.
 *
 * File layout (kind "dataset"): tensors "images" u8 [n,h,w,c] and "labels"
 * i32 [n]; keys "dataset.name" (str), "dataset.classes" (str array).
 * Not here: augmentation (augment.h), PNG drawing (canvas.h).
 */
#ifndef RML_DATASET_H
#define RML_DATASET_H

#include <stdint.h>

#include "format.h"
#include "rml.h"

typedef struct {
	int64_t n, h, w, c;
	uint8_t *images;      /* [n,h,w,c], owned */
	int32_t *labels;      /* [n], owned; -1 = unknown */
	int n_classes;
	char **class_names;   /* n_classes strings, owned (entries may be generic "class_7") */
	char *name;           /* e.g. "cifar10", owned, may be NULL */
} rml_dataset;

void rml_dataset_init(rml_dataset *d);
void rml_dataset_free(rml_dataset *d);
/* Allocate n images of h×w×c and labels (zeroed, labels -1). */
rml_status rml_dataset_alloc(rml_dataset *d, int64_t n, int64_t h, int64_t w, int64_t c,
			     rml_error *err);
/* Set the dataset's name (copied; NULL: none). Fails only when memory runs
 * out. */
rml_status rml_dataset_set_name(rml_dataset *d, const char *name);
/* Set class names (copied). */
rml_status rml_dataset_set_classes(rml_dataset *d, const char *const *names, int n,
				   rml_error *err);

/* Convert from and to the container. from_file checks kind, shapes, that
 * labels are in [-1, n_classes) and that images and labels agree in n. */
rml_status rml_dataset_from_file(rml_dataset *d, const rml_file *f, rml_error *err);
rml_status rml_dataset_to_file(const rml_dataset *d, rml_file *f, rml_error *err);
/* Convenience: load path ("-" = stdin) as a dataset. */
rml_status rml_dataset_load(rml_dataset *d, const char *path, rml_error *err);

#endif
