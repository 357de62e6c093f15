/*
 * dataops.h — getting images into rmlops datasets and reshaping datasets:
 * importers (CIFAR-10 and CIFAR-100 binary, image folders, idx files),
 * resizing, stratified splits, subsets, n-way k-shot task sampling.
 *
 * Every importer validates what it reads against the layout it expects
 * and reports the file and the place of the first problem; nothing it
 * reads is trusted for an allocation before the bytes are there.
 */
#ifndef RML_DATAOPS_H
#define RML_DATAOPS_H

#include <stdint.h>

#include "dataset.h"

/* CIFAR-10 binary batches: each record is 1 label byte and 3072 bytes of
 * R, G, B planes (32x32, row-major). `meta` is batches.meta.txt (class
 * names, one per line) or NULL for the standard names. */
rml_status rml_import_cifar10(rml_dataset *d, const char *const *files, int n_files,
			      const char *meta, rml_error *err);

/* CIFAR-100 binary: each record is a coarse and a fine label byte and 3072
 * bytes. fine = 1 keeps the 100 fine labels, 0 the 20 coarse ones; names
 * from fine_label_names.txt / coarse_label_names.txt when given. */
rml_status rml_import_cifar100(rml_dataset *d, const char *file, int fine,
			       const char *names_file, rml_error *err);

/* An image folder DIR/<class>/<image> (PNG, JPEG, BMP, ... via stb_image):
 * classes and files in bytewise order. All images must share one size
 * unless resize > 0 (then each is resized to resize x resize). */
rml_status rml_import_folder(rml_dataset *d, const char *dir, int resize, rml_error *err);

/* idx3 images and idx1 labels (MNIST, Fashion-MNIST), gzipped or plain.
 * class_names may be NULL (generic names). */
rml_status rml_import_idx(rml_dataset *d, const char *images, const char *labels,
			  const char *const *class_names, int n_names, rml_error *err);

/* The ten Fashion-MNIST class names. */
extern const char *const rml_fashion_mnist_classes[10];

/* Resize every image to size x size (area averaging when shrinking,
 * bilinear when enlarging) and/or expand one grey channel to three. */
rml_status rml_dataset_reshape(rml_dataset *d, int size, int to_rgb, rml_error *err);

/* A new dataset holding the images idx[0..n) of src, in that order. */
rml_status rml_dataset_select(rml_dataset *dst, const rml_dataset *src, const int64_t *idx,
			      int64_t n, rml_error *err);

/* Stratified split: from each class, round(fraction * class size) images
 * (or, with count > 0, count images in all, spread over classes in
 * proportion) go to `a`, the rest to `b`; both keep the source order. */
rml_status rml_dataset_split(const rml_dataset *src, double fraction, int64_t count,
			     uint64_t seed, rml_dataset *a, rml_dataset *b, rml_error *err);

/* Subsets. */
typedef struct {
	int64_t count;         /* > 0: this many images at random */
	double fraction;       /* > 0: this fraction at random */
	int64_t per_class;     /* > 0: this many of every class at random */
	int64_t first;         /* > 0: the first this many, in order */
	const int *classes;    /* keep only these classes (NULL: all) */
	int n_classes;
	int relabel;           /* with classes: labels become 0..n_classes-1 */
	uint64_t seed;
	/* Nonzero: the result in random order (drawn from its own stream of
	 * seed, so the images chosen do not change) instead of input order.
	 * Batch statistics need it: image-folder imports are sorted by class. */
	int shuffle;
} rml_take_opts;
rml_status rml_dataset_take(rml_dataset *dst, const rml_dataset *src, const rml_take_opts *o,
			    rml_error *err);

/* Concatenate b after a. Both must have the same image geometry and the
 * same class names in the same order (RML_ERR_MISMATCH otherwise); dst
 * gets a's name. On failure dst is left empty. */
rml_status rml_dataset_concat(rml_dataset *dst, const rml_dataset *a, const rml_dataset *b,
			      rml_error *err);
/* As rml_dataset_concat, but the class lists may differ: dst has a's
 * classes followed by those of b's that a lacks (in b's order), and b's
 * labels are mapped to them by name. */
rml_status rml_dataset_concat_union(rml_dataset *dst, const rml_dataset *a, const rml_dataset *b,
				    rml_error *err);

/* n-way k-shot episodes into a container (kind "dataset"): tensors
 * support.images [E,N*K,h,w,c], support.labels [E,N*K], query.images
 * [E,N*Q,h,w,c], query.labels [E,N*Q] with labels 0..N-1, episode.classes
 * [E,N] (the original class of each new label); keys tasks.ways,
 * tasks.shots, tasks.queries, tasks.episodes. */
rml_status rml_dataset_tasks(const rml_dataset *src, int ways, int shots, int queries,
			     int episodes, uint64_t seed, rml_file *out, rml_error *err);

/* ---- looking at a dataset ------------------------------------------------- */

/* A PNG contact sheet at path ("-" = standard output) of the first n
 * images (n <= 0: up to 100), cols to a row (<= 0: 10), each pixel drawn
 * scale x scale (<= 0: 3 for images of height 32 or less, else 1), each
 * captioned with its class name ("?" unknown) cut to the cell's width.
 * RML_ERR_ARG for an empty dataset; the canvas's errors. */
rml_status rml_dataset_sheet_png(const rml_dataset *d, const char *path, int64_t n, int cols,
				 int scale, rml_error *err);

/* Write each labelled image as dir/<class>/<index>.png (index: its
 * position, six digits), making dir and the class folders as needed;
 * progress (may be NULL) after each image. RML_ERR_FORMAT, before
 * anything is written, when a class name is not a plain file name (empty,
 * ".", "..", a slash or a control character); RML_ERR_IO when a folder
 * cannot be made; the PNG writer's errors. */
rml_status rml_dataset_export_pngs(const rml_dataset *d, const char *dir,
				   void (*progress)(int64_t done, int64_t total), rml_error *err);

/* ---- what rmlops-data import reads ------------------------------------------ */

/* An import: the source kind (cifar10, cifar100, folder, idx) and its
 * arguments (files or directories), with the options that go with it. */
typedef struct {
	const char *source;
	char *const *args;
	int n_args;
	const char *split;     /* cifar10/cifar100 directory: "test", else the training files */
	const char *labels;    /* cifar100: "coarse", else fine */
	const char *meta;      /* class-name file, instead of the directory's own */
	const char *classes;   /* idx: "fashion-mnist" for its class names */
	int resize;            /* > 0: every image resized to resize x resize */
	int gray_to_rgb;       /* expand grey images to three channels */
} rml_import_opts;

/* Whether o names a source with the right number of arguments, before
 * anything is read: RML_ERR_ARG with the message (a usage error) if not. */
rml_status rml_import_check(const rml_import_opts *o, rml_error *err);
/* Import o (checked by rml_import_check) into d: a cifar10 directory
 * means data_batch_1..5.bin (or test_batch.bin) with batches.meta.txt
 * when present; a cifar100 directory train.bin (or test.bin) with
 * fine_label_names.txt or coarse_label_names.txt when present; then
 * --resize and --gray-to-rgb. An import of no images fails
 * (RML_ERR_FORMAT), so that no empty dataset is written. */
rml_status rml_import(rml_dataset *d, const rml_import_opts *o, rml_error *err);

/* Class list "cat,dog" or "3,5" (names of d's classes or indices) into a
 * new array *out [*n] of indices (the caller frees it). RML_ERR_ARG "no
 * class 'x' in the dataset" for an item that is neither, RML_ERR_NOMEM. */
rml_status rml_dataset_class_list(const rml_dataset *d, const char *s, int **out, int *n,
				  rml_error *err);

#endif
