/*
 * test_dataops.c — the importers (dataops.h) against each other on the
 * fixtures (the CIFAR binary, idx and folder fixtures are cut from the
 * same 1,000 test images, so pixels must agree exactly), every refused
 * input, splits, subsets and few-shot tasks. The dataset itself and its
 * file checks: test_dataset.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "dataops.h"

/* the library builds its writer without stdio; the test writes PNG files */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#define STB_IMAGE_WRITE_STATIC
#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb_image_write.h>
#pragma GCC diagnostic pop

static char td[400];
static rml_dataset base;  /* testdata/cifar10-test-1000.rml */

static const char *P(const char *rel)
{
	static char buf[8][600];
	static int k;
	k = (k + 1) % 8;
	snprintf(buf[k], sizeof buf[k], "%s/%s", td, rel);
	return buf[k];
}

static int setup(void **state)
{
	(void)state;
	snprintf(td, sizeof td, "%s", getenv("RML_TESTDATA") ? getenv("RML_TESTDATA") : "testdata");
	rml_error err = { 0 };
	if (rml_dataset_load(&base, P("cifar10-test-1000.rml"), &err)) {
		fprintf(stderr, "%s\n", err.msg);
		return -1;
	}
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	rml_dataset_free(&base);
	return 0;
}

/* The fixtures hold images 0, 33, 66, ... of the 1,000. */
static const uint8_t *pick(int j)
{
	return base.images + (size_t)(33 * j) * 3072;
}

static void test_cifar10_binary(void **state)
{
	(void)state;
	const char *files[5] = {
		P("cifar10-bin/data_batch_1.bin"), P("cifar10-bin/data_batch_2.bin"),
		P("cifar10-bin/data_batch_3.bin"), P("cifar10-bin/data_batch_4.bin"),
	};
	char f5[600];
	snprintf(f5, sizeof f5, "%s/cifar10-bin/data_batch_5.bin", td);
	files[4] = f5;
	rml_dataset d;
	rml_error err = { 0 };
	assert_int_equal(rml_import_cifar10(&d, files, 5, P("cifar10-bin/batches.meta.txt"), &err), RML_OK);
	assert_int_equal(d.n, 20);
	assert_int_equal(d.n_classes, 10);
	assert_string_equal(d.class_names[6], "frog");
	for (int j = 0; j < 20; j++) {
		assert_memory_equal(d.images + (size_t)j * 3072, pick(j), 3072);
		assert_int_equal(d.labels[j], base.labels[33 * j]);
	}
	rml_dataset_free(&d);
}

static void test_cifar100_binary(void **state)
{
	(void)state;
	rml_dataset d;
	rml_error err = { 0 };
	assert_int_equal(rml_import_cifar100(&d, P("cifar100-bin/train.bin"), 1,
					     P("cifar100-bin/fine_label_names.txt"), &err), RML_OK);
	assert_int_equal(d.n, 12);
	assert_int_equal(d.n_classes, 100);
	assert_string_equal(d.class_names[42], "fine_42");
	for (int j = 0; j < 12; j++) {
		assert_memory_equal(d.images + (size_t)j * 3072, pick(j), 3072);
		assert_int_equal(d.labels[j], (base.labels[33 * j] * 10 + j) % 100);
	}
	rml_dataset_free(&d);
	assert_int_equal(rml_import_cifar100(&d, P("cifar100-bin/train.bin"), 0, NULL, &err), RML_OK);
	assert_int_equal(d.n_classes, 20);
	assert_int_equal(d.labels[3], base.labels[99] % 20);
	rml_dataset_free(&d);
}

static void test_idx_plain_and_gzip(void **state)
{
	(void)state;
	rml_dataset a, b;
	rml_error err = { 0 };
	assert_int_equal(rml_import_idx(&a, P("idx/images-idx3-ubyte"), P("idx/labels-idx1-ubyte"),
					rml_fashion_mnist_classes, 10, &err), RML_OK);
	assert_int_equal(rml_import_idx(&b, P("idx/images-idx3-ubyte.gz"), P("idx/labels-idx1-ubyte.gz"),
					NULL, 0, &err), RML_OK);
	assert_int_equal(a.n, 16);
	assert_int_equal(a.h, 28);
	assert_int_equal(a.c, 1);
	assert_memory_equal(a.images, b.images, 16 * 28 * 28);
	assert_string_equal(a.class_names[9], "ankle boot");
	/* Pixel (r, q) of image j is the red channel of the CIFAR pixel. */
	assert_int_equal(a.images[1 * 784 + 5 * 28 + 7], pick(1)[(5 * 32 + 7) * 3]);
	assert_int_equal(a.labels[2], base.labels[66]);
	assert_int_equal(rml_dataset_reshape(&a, 32, 1, &err), RML_OK);
	assert_int_equal(a.h, 32);
	assert_int_equal(a.c, 3);
	assert_int_equal(a.images[0], a.images[1]);
	rml_dataset_free(&a);
	rml_dataset_free(&b);
}

static void test_folder(void **state)
{
	(void)state;
	rml_dataset d;
	rml_error err = { 0 };
	assert_int_equal(rml_import_folder(&d, P("folder"), 0, &err), RML_OK);
	assert_int_equal(d.n, 8);
	assert_int_equal(d.n_classes, 2);
	assert_string_equal(d.class_names[0], "airplane");
	/* PNGs 0.png..2.png are the first three airplanes of the 1,000, exactly. */
	int seen = 0;
	for (int64_t i = 0; i < base.n && seen < 3; i++)
		if (base.labels[i] == 0) {
			assert_memory_equal(d.images + (size_t)seen * 3072, base.images + (size_t)i * 3072, 3072);
			seen++;
		}
	assert_int_equal(d.labels[3], 0);  /* z.jpg sorts last */
	assert_int_equal(d.labels[4], 1);
	rml_dataset_free(&d);
	assert_int_equal(rml_import_folder(&d, P("folder"), 16, &err), RML_OK);
	assert_int_equal(d.h, 16);
	rml_dataset_free(&d);
}

static char *scratch(void)
{
	static char dir[64];
	snprintf(dir, sizeof dir, "/tmp/rml-ds-XXXXXX");
	assert_non_null(mkdtemp(dir));
	return dir;
}

static void write_file(const char *path, const void *data, size_t n)
{
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, n, f), n);
	fclose(f);
}

static void rm_rf(const char *dir)
{
	char cmd[300];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

static void test_reject_truncated_cifar(void **state)
{
	(void)state;
	rml_dataset d;
	rml_error err = { 0 };
	char *dir = scratch(), path[200];
	/* The first record of the real batch, cut one byte short. */
	FILE *in = fopen(P("cifar10-bin/data_batch_1.bin"), "rb");
	assert_non_null(in);
	uint8_t buf[3073];
	assert_int_equal(fread(buf, 1, sizeof buf, in), sizeof buf);
	fclose(in);
	snprintf(path, sizeof path, "%s/short.bin", dir);
	write_file(path, buf, 3072);
	const char *f1[1] = { path };
	assert_int_equal(rml_import_cifar10(&d, f1, 1, NULL, &err), RML_ERR_FORMAT);
	assert_non_null(strstr(err.msg, "record"));
	assert_non_null(strstr(err.msg, "short.bin"));
	assert_null(d.images);
	/* The same bytes are a CIFAR-100 record short too (3074 per record). */
	write_file(path, buf, 3073);
	assert_int_equal(rml_import_cifar100(&d, path, 1, NULL, &err), RML_ERR_FORMAT);
	/* An empty file and no files at all are refused as well. */
	write_file(path, buf, 0);
	assert_int_equal(rml_import_cifar10(&d, f1, 1, NULL, &err), RML_ERR_FORMAT);
	assert_int_equal(rml_import_cifar10(&d, f1, 0, NULL, &err), RML_ERR_ARG);
	rm_rf(dir);
}

static void test_reject_cifar_label_range(void **state)
{
	(void)state;
	rml_dataset d;
	rml_error err = { 0 };
	char *dir = scratch(), path[200];
	static uint8_t rec[2 * 3074];
	snprintf(path, sizeof path, "%s/labels.bin", dir);
	/* Second CIFAR-10 record says class 10. */
	rec[3073] = 10;
	write_file(path, rec, 2 * 3073);
	const char *f1[1] = { path };
	assert_int_equal(rml_import_cifar10(&d, f1, 1, NULL, &err), RML_ERR_FORMAT);
	assert_non_null(strstr(err.msg, "record 1 has label 10"));
	/* CIFAR-100: fine label 100 is refused, coarse 20 as well. */
	memset(rec, 0, sizeof rec);
	rec[1] = 100;
	write_file(path, rec, 3074);
	assert_int_equal(rml_import_cifar100(&d, path, 1, NULL, &err), RML_ERR_FORMAT);
	assert_int_equal(rml_import_cifar100(&d, path, 0, NULL, &err), RML_OK);
	rml_dataset_free(&d);
	rec[1] = 0;
	rec[0] = 20;
	write_file(path, rec, 3074);
	assert_int_equal(rml_import_cifar100(&d, path, 0, NULL, &err), RML_ERR_FORMAT);
	rm_rf(dir);
}

static void test_reject_cifar_meta(void **state)
{
	(void)state;
	rml_dataset d;
	rml_error err = { 0 };
	char *dir = scratch(), path[200];
	snprintf(path, sizeof path, "%s/batches.meta.txt", dir);
	write_file(path, "cat\ndog\n", 8);
	const char *f1[1] = { P("cifar10-bin/test_batch.bin") };
	assert_int_equal(rml_import_cifar10(&d, f1, 1, path, &err), RML_ERR_FORMAT);
	assert_non_null(strstr(err.msg, "2 class names"));
	assert_int_equal(rml_import_cifar100(&d, P("cifar100-bin/train.bin"), 0, path, &err),
			 RML_ERR_FORMAT);
	snprintf(path, sizeof path, "%s/missing.txt", dir);
	assert_int_equal(rml_import_cifar10(&d, f1, 1, path, &err), RML_ERR_IO);
	rm_rf(dir);
}

static void test_reject_idx_magic(void **state)
{
	(void)state;
	rml_dataset d;
	rml_error err = { 0 };
	/* A label file where images are expected, and the other way round. */
	assert_int_equal(rml_import_idx(&d, P("idx/labels-idx1-ubyte"), P("idx/labels-idx1-ubyte"), NULL, 0,
					&err), RML_ERR_FORMAT);
	assert_non_null(strstr(err.msg, "magic"));
	assert_int_equal(rml_import_idx(&d, P("idx/images-idx3-ubyte"), P("idx/images-idx3-ubyte.gz"),
					NULL, 0, &err), RML_ERR_FORMAT);
	assert_non_null(strstr(err.msg, "idx1"));
	/* A file too short to hold a header. */
	char *dir = scratch(), path[200];
	snprintf(path, sizeof path, "%s/tiny", dir);
	write_file(path, "\0\0\x08", 3);
	assert_int_equal(rml_import_idx(&d, path, P("idx/labels-idx1-ubyte"), NULL, 0, &err), RML_ERR_IO);
	rm_rf(dir);
}

static void test_reject_idx_count_mismatch(void **state)
{
	(void)state;
	rml_dataset d;
	rml_error err = { 0 };
	char *dir = scratch(), path[200];
	uint8_t lab[8 + 3] = { 0, 0, 8, 1, 0, 0, 0, 3, 1, 2, 3 };
	snprintf(path, sizeof path, "%s/l3", dir);
	write_file(path, lab, sizeof lab);
	assert_int_equal(rml_import_idx(&d, P("idx/images-idx3-ubyte"), path, NULL, 0, &err),
			 RML_ERR_MISMATCH);
	assert_non_null(strstr(err.msg, "16 images"));
	assert_non_null(strstr(err.msg, "3 labels"));
	rm_rf(dir);
}

static void test_reject_idx_truncated(void **state)
{
	(void)state;
	rml_dataset d;
	rml_error err = { 0 };
	char *dir = scratch(), path[200];
	FILE *in = fopen(P("idx/images-idx3-ubyte"), "rb");
	assert_non_null(in);
	uint8_t buf[2000];
	size_t got = fread(buf, 1, sizeof buf, in);
	fclose(in);
	snprintf(path, sizeof path, "%s/i-trunc", dir);
	write_file(path, buf, got);
	/* a plain file shorter than its header claims: refused before reading */
	assert_int_equal(rml_import_idx(&d, path, P("idx/labels-idx1-ubyte"), NULL, 0, &err),
			 RML_ERR_FORMAT);
	assert_non_null(strstr(err.msg, "i-trunc"));
	assert_null(d.images);
	/* A label past the names given is refused. */
	uint8_t lab[8 + 16] = { 0, 0, 8, 1, 0, 0, 0, 16 };
	lab[8 + 15] = 10;
	snprintf(path, sizeof path, "%s/l-range", dir);
	write_file(path, lab, sizeof lab);
	assert_int_equal(rml_import_idx(&d, P("idx/images-idx3-ubyte"), path, rml_fashion_mnist_classes, 10,
					&err), RML_ERR_FORMAT);
	assert_non_null(strstr(err.msg, "label 10"));
	rm_rf(dir);
}

/* A 12 KB idx file whose header claims 1000 images of 4096x4096 (16 GB)
 * is refused at once, naming the file, before any allocation of that
 * size; gzip-compressed, it is read as a stream in blocks of at most
 * 16 MiB and refused as truncated. */
static void test_reject_idx_huge_header(void **state)
{
	(void)state;
	rml_dataset d;
	rml_error err = { 0 };
	char *dir = scratch(), path[200], lpath[200], cmd[500];
	static uint8_t buf[12288];
	/* 1000 images of 4096x4096: 16 GB, just within the tensor limit */
	const uint8_t hdr[16] = { 0, 0, 8, 3, 0, 0, 3, 0xe8, 0, 0, 16, 0, 0, 0, 16, 0 };
	memcpy(buf, hdr, 16);
	snprintf(path, sizeof path, "%s/huge-idx3", dir);
	write_file(path, buf, sizeof buf);
	uint8_t lab[8 + 1000] = { 0, 0, 8, 1, 0, 0, 3, 0xe8 };
	snprintf(lpath, sizeof lpath, "%s/huge-idx1", dir);
	write_file(lpath, lab, sizeof lab);
	assert_int_equal(rml_import_idx(&d, path, lpath, NULL, 0, &err), RML_ERR_FORMAT);
	assert_non_null(strstr(err.msg, "huge-idx3"));
	assert_non_null(strstr(err.msg, "header claims"));
	assert_null(d.images);
	snprintf(cmd, sizeof cmd, "gzip -k '%s' '%s'", path, lpath);
	assert_int_equal(system(cmd), 0);
	snprintf(path, sizeof path, "%s/huge-idx3.gz", dir);
	snprintf(lpath, sizeof lpath, "%s/huge-idx1.gz", dir);
	assert_int_equal(rml_import_idx(&d, path, lpath, NULL, 0, &err), RML_ERR_IO);
	assert_non_null(strstr(err.msg, "huge-idx3.gz"));
	assert_null(d.images);
	rm_rf(dir);
}

/* CIFAR from a stream that never ends is refused once past the records a
 * CIFAR file can hold, naming it. */
static void test_reject_cifar_stream(void **state)
{
	(void)state;
	rml_dataset d;
	rml_error err = { 0 };
	const char *f1[1] = { "/dev/zero" };
	assert_int_equal(rml_import_cifar10(&d, f1, 1, NULL, &err), RML_ERR_LIMIT);
	assert_non_null(strstr(err.msg, "/dev/zero"));
	assert_non_null(strstr(err.msg, "records"));
	assert_null(d.images);
}

/* Folder import with --resize keeps only the small copies: 24 images of
 * 1000x1000 (72 MB decoded) imported at 32x32 raise the peak memory by far
 * less than all of them would take (the sanitizers' own bookkeeping makes
 * the figure meaningless there, so only the result is checked then). Runs
 * first, before other tests raise the process's high-water mark. */
static void test_folder_resize_memory(void **state)
{
	(void)state;
	char *dir = scratch(), path[300], cmd[700];
	snprintf(path, sizeof path, "%s/f/big", dir);
	snprintf(cmd, sizeof cmd, "mkdir -p '%s' '%s/f/other'", path, dir);
	assert_int_equal(system(cmd), 0);
	enum { S = 1000 };
	uint8_t *px = malloc((size_t)S * S * 3);
	assert_non_null(px);
	for (int y = 0; y < S; y++)
		for (int x = 0; x < S * 3; x++)
			px[(size_t)y * S * 3 + x] = (uint8_t)(x / 3 + y);
	snprintf(path, sizeof path, "%s/f/big/00.png", dir);
	assert_true(stbi_write_png(path, S, S, 3, px, S * 3) != 0);
	free(px);
	snprintf(cmd, sizeof cmd,
		 "cd '%s/f' && for i in 01 02 03 04 05 06 07 08 09 10 11; do cp big/00.png big/$i.png; "
		 "cp big/00.png other/$i.png; done && cp big/00.png other/00.png", dir);
	assert_int_equal(system(cmd), 0);
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	long before = ru.ru_maxrss;
	rml_dataset d;
	rml_error err = { 0 };
	snprintf(path, sizeof path, "%s/f", dir);
	assert_int_equal(rml_import_folder(&d, path, 32, &err), RML_OK);
	getrusage(RUSAGE_SELF, &ru);
	long grew_kb = ru.ru_maxrss - before;
	print_message("folder import of 24 images of %dx%d at 32x32: peak grew %ld KB\n", S, S, grew_kb);
	assert_int_equal(d.n, 24);
	assert_int_equal(d.h, 32);
#if !defined(__SANITIZE_ADDRESS__)
	assert_true(grew_kb < 40 * 1024);
#endif
	rml_dataset_free(&d);
	rm_rf(dir);
}

static void test_reject_empty_folder(void **state)
{
	(void)state;
	rml_dataset d;
	rml_error err = { 0 };
	char *dir = scratch(), path[200], path2[200];
	snprintf(path, sizeof path, "%s/empty", dir);
	assert_int_equal(mkdir(path, 0777), 0);
	assert_int_equal(rml_import_folder(&d, path, 0, &err), RML_ERR_FORMAT);
	assert_non_null(strstr(err.msg, "no class folders"));
	/* Class folders without images. */
	snprintf(path2, sizeof path2, "%s/empty/cls", dir);
	assert_int_equal(mkdir(path2, 0777), 0);
	assert_int_equal(rml_import_folder(&d, path, 0, &err), RML_ERR_FORMAT);
	assert_non_null(strstr(err.msg, "no images"));
	assert_int_equal(rml_import_folder(&d, P("no-such-folder"), 0, &err), RML_ERR_IO);
	rm_rf(dir);
}

static void test_reject_unreadable_image(void **state)
{
	(void)state;
	rml_dataset d;
	rml_error err = { 0 };
	char *dir = scratch(), path[300];
	snprintf(path, sizeof path, "cp -r '%s' '%s/f'", P("folder"), dir);
	assert_int_equal(system(path), 0);
	/* A JPEG cut in the middle of its header, next to good images. */
	FILE *in = fopen(P("folder/automobile/z.jpg"), "rb");
	assert_non_null(in);
	uint8_t buf[20];
	assert_int_equal(fread(buf, 1, sizeof buf, in), sizeof buf);
	fclose(in);
	snprintf(path, sizeof path, "%s/f/automobile/bad.png", dir);
	write_file(path, buf, sizeof buf);
	snprintf(path, sizeof path, "%s/f", dir);
	assert_int_equal(rml_import_folder(&d, path, 0, &err), RML_ERR_FORMAT);
	assert_non_null(strstr(err.msg, "bad.png"));
	assert_non_null(strstr(err.msg, "cannot read image"));
	rm_rf(dir);
}

static void test_mixed_sizes_need_resize(void **state)
{
	(void)state;
	rml_dataset small, d;
	rml_error err = { 0 };
	char *dir = scratch(), cmd[800];
	/* Make a folder with one 16x16 image next to 32x32 ones. */
	assert_int_equal(rml_import_folder(&small, P("folder"), 16, &err), RML_OK);
	snprintf(cmd, sizeof cmd, "cp -r %s %s/f && cp %s/f/airplane/0.png %s/f/automobile/0.png", P("folder"),
		 dir, dir, dir);
	assert_int_equal(system(cmd), 0);
	rml_dataset_free(&small);
	/* All still 32x32 here: accepted; then a different-size image. */
	char path[300];
	snprintf(path, sizeof path, "%s/f", dir);
	assert_int_equal(rml_import_folder(&d, path, 0, &err), RML_OK);
	rml_dataset_free(&d);
	snprintf(cmd, sizeof cmd, "printf 'P6\\n4 4\\n255\\n' > %s/f/airplane/x.ppm && head -c 48 /dev/zero >> %s/f/airplane/x.ppm",
		 dir, dir);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(rml_import_folder(&d, path, 0, &err), RML_ERR_MISMATCH);
	assert_non_null(strstr(err.msg, "--resize"));
	assert_int_equal(rml_import_folder(&d, path, 32, &err), RML_OK);
	rml_dataset_free(&d);
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
}

/* rmlops-data import's sources: a directory means its five training
 * batches (and names), test_batch.bin with split "test"; wrong argument
 * counts and unknown sources refused before anything is read; a class
 * list by names and indices. */
static void test_import_sources(void **state)
{
	(void)state;
	rml_dataset d;
	rml_error err = { 0 };
	char dir[600];
	snprintf(dir, sizeof dir, "%s/cifar10-bin", td);
	char *args[2] = { dir, dir };
	rml_import_opts o = { .source = "cifar10", .args = args, .n_args = 1 };
	assert_int_equal(rml_import(&d, &o, &err), RML_OK);
	assert_int_equal(d.n, 20);
	assert_string_equal(d.class_names[6], "frog");
	for (int j = 0; j < 20; j++)
		assert_memory_equal(d.images + (size_t)j * 3072, pick(j), 3072);
	rml_dataset_free(&d);
	o.split = "test";
	o.resize = 16;
	if (rml_import(&d, &o, &err) == RML_OK) {
		assert_int_equal(d.h, 16);
		rml_dataset_free(&d);
	}
	const struct {
		const char *source;
		int n_args;
		const char *classes, *msg;
	} bad[] = {
		{ NULL, 0, NULL, "import needs a source" },
		{ "cifar10", 0, NULL, "import cifar10 needs a directory or batch files" },
		{ "cifar100", 2, NULL, "import cifar100 needs one directory or file" },
		{ "folder", 0, NULL, "import folder needs one directory" },
		{ "idx", 1, NULL, "import idx needs an image file and a label file" },
		{ "idx", 2, "mnist", "import idx knows --classes fashion-mnist only" },
		{ "png", 1, NULL, "unknown import source 'png'" },
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		rml_import_opts b = { .source = bad[i].source, .args = args, .n_args = bad[i].n_args,
				      .classes = bad[i].classes };
		assert_int_equal(rml_import_check(&b, &err), RML_ERR_ARG);
		assert_non_null(strstr(err.msg, bad[i].msg));
		assert_int_equal(rml_import(&d, &b, &err), RML_ERR_ARG);
	}
	int *v = NULL, n = 0;
	assert_int_equal(rml_dataset_class_list(&base, "frog,3,cat", &v, &n, &err), RML_OK);
	assert_int_equal(n, 3);
	assert_int_equal(v[0], 6);
	assert_int_equal(v[1], 3);
	assert_int_equal(v[2], 3);
	free(v);
	assert_int_equal(rml_dataset_class_list(&base, "frog,10", &v, &n, &err), RML_ERR_ARG);
	assert_string_equal(err.msg, "no class '10' in the dataset");
}

static void test_split_is_stratified(void **state)
{
	(void)state;
	rml_dataset a, b, a2, b2;
	rml_error err = { 0 };
	assert_int_equal(rml_dataset_split(&base, 0.3, 0, 5, &a, &b, &err), RML_OK);
	assert_int_equal(a.n, 300);
	assert_int_equal(b.n, 700);
	int count[10] = { 0 };
	for (int64_t i = 0; i < a.n; i++)
		count[a.labels[i]]++;
	for (int k = 0; k < 10; k++)
		assert_int_equal(count[k], 30);
	assert_int_equal(rml_dataset_split(&base, 0.3, 0, 5, &a2, &b2, &err), RML_OK);
	assert_memory_equal(a.images, a2.images, (size_t)a.n * 3072);
	rml_dataset_free(&a2);
	rml_dataset_free(&b2);
	assert_int_equal(rml_dataset_split(&base, 0, 123, 6, &a2, &b2, &err), RML_OK);
	assert_int_equal(a2.n, 123);
	assert_int_not_equal(memcmp(a.images, a2.images, 123 * 3072), 0);
	rml_dataset_free(&a);
	rml_dataset_free(&b);
	rml_dataset_free(&a2);
	rml_dataset_free(&b2);
	assert_int_equal(rml_dataset_split(&base, 0, 5000, 6, &a, &b, &err), RML_ERR_ARG);
}

static void test_take(void **state)
{
	(void)state;
	rml_dataset d;
	rml_error err = { 0 };
	int cls[2] = { 6, 3 };
	rml_take_opts o = { .classes = cls, .n_classes = 2, .relabel = 1, .seed = 1 };
	assert_int_equal(rml_dataset_take(&d, &base, &o, &err), RML_OK);
	assert_int_equal(d.n, 200);
	assert_int_equal(d.n_classes, 2);
	assert_string_equal(d.class_names[0], "frog");
	for (int64_t i = 0; i < d.n; i++)
		assert_true(d.labels[i] == 0 || d.labels[i] == 1);
	rml_dataset_free(&d);
	rml_take_opts pc = { .per_class = 7, .seed = 2 };
	assert_int_equal(rml_dataset_take(&d, &base, &pc, &err), RML_OK);
	assert_int_equal(d.n, 70);
	/* Shuffled: the same images (each image of this set is distinct), in
	 * another order. */
	rml_dataset sh;
	rml_take_opts ps = { .per_class = 7, .seed = 2, .shuffle = 1 };
	assert_int_equal(rml_dataset_take(&sh, &base, &ps, &err), RML_OK);
	assert_int_equal(sh.n, 70);
	size_t isz = (size_t)(d.h * d.w * d.c);
	int moved = 0;
	for (int64_t i = 0; i < sh.n; i++) {
		int64_t at = -1;
		for (int64_t j = 0; j < d.n && at < 0; j++)
			if (!memcmp(sh.images + i * isz, d.images + j * isz, isz))
				at = j;
		assert_true(at >= 0);
		assert_int_equal(sh.labels[i], d.labels[at]);
		moved += at != i;
	}
	assert_true(moved > 35);
	rml_dataset_free(&sh);
	rml_dataset_free(&d);
	rml_take_opts too = { .count = 2000, .seed = 2 };
	assert_int_equal(rml_dataset_take(&d, &base, &too, &err), RML_ERR_ARG);
	int bad[1] = { 12 };
	rml_take_opts bc = { .classes = bad, .n_classes = 1 };
	assert_int_equal(rml_dataset_take(&d, &base, &bc, &err), RML_ERR_ARG);
}

static void test_concat(void **state)
{
	(void)state;
	rml_dataset a, b, u;
	rml_error err = { 0 };
	int cd[2] = { 3, 5 }, df[2] = { 5, 6 };  /* cat, dog / dog, frog */
	rml_take_opts oa = { .classes = cd, .n_classes = 2, .relabel = 1 };
	rml_take_opts ob = { .classes = df, .n_classes = 2, .relabel = 1 };
	assert_int_equal(rml_dataset_take(&a, &base, &oa, &err), RML_OK);
	assert_int_equal(rml_dataset_take(&b, &base, &ob, &err), RML_OK);
	assert_int_equal(rml_dataset_concat(&u, &a, &b, &err), RML_ERR_MISMATCH);
	assert_non_null(strstr(err.msg, "--union"));
	assert_int_equal(rml_dataset_concat_union(&u, &a, &b, &err), RML_OK);
	assert_int_equal(u.n, 400);
	assert_int_equal(u.n_classes, 3);
	assert_string_equal(u.class_names[2], "frog");
	/* Every label still names the class of its image. */
	for (int64_t i = 0; i < u.n; i++) {
		const rml_dataset *from = i < a.n ? &a : &b;
		int64_t j = i < a.n ? i : i - a.n;
		assert_string_equal(u.class_names[u.labels[i]], from->class_names[from->labels[j]]);
		assert_memory_equal(u.images + i * 3072, from->images + j * 3072, 3072);
	}
	rml_dataset_free(&u);
	/* Identical lists: both functions give the same result. */
	assert_int_equal(rml_dataset_concat(&u, &a, &a, &err), RML_OK);
	assert_int_equal(u.n_classes, 2);
	assert_int_equal(u.labels[200 + 150], a.labels[150]);
	rml_dataset_free(&u);
	/* Another geometry is refused either way. */
	assert_int_equal(rml_dataset_reshape(&b, 16, 0, &err), RML_OK);
	assert_int_equal(rml_dataset_concat_union(&u, &a, &b, &err), RML_ERR_MISMATCH);
	rml_dataset_free(&a);
	rml_dataset_free(&b);
}

static void test_tasks(void **state)
{
	(void)state;
	rml_file f;
	rml_file_init(&f);
	rml_error err = { 0 };
	assert_int_equal(rml_dataset_tasks(&base, 5, 3, 4, 6, 9, &f, &err), RML_OK);
	rml_tensor *si = rml_find_tensor(&f, "support.images"), *sl = rml_find_tensor(&f, "support.labels");
	rml_tensor *qi = rml_find_tensor(&f, "query.images"), *ec = rml_find_tensor(&f, "episode.classes");
	assert_non_null(si);
	assert_int_equal(si->dims[0], 6);
	assert_int_equal(si->dims[1], 15);
	assert_int_equal(qi->dims[1], 20);
	const int32_t *lab = sl->data, *cl = ec->data;
	for (int e = 0; e < 6; e++) {
		for (int i = 0; i < 15; i++)
			assert_int_equal(lab[e * 15 + i], i / 3);
		for (int a = 0; a < 5; a++)
			for (int b = a + 1; b < 5; b++)
				assert_int_not_equal(cl[e * 5 + a], cl[e * 5 + b]);
		/* Each support and query image really is of the class its new
		 * label stands for. */
		const int32_t *qlab = rml_find_tensor(&f, "query.labels")->data;
		for (int i = 0; i < 35; i++) {
			int isq = i >= 15, j = isq ? i - 15 : i;
			int32_t l = isq ? qlab[e * 20 + j] : lab[e * 15 + j];
			if (isq)
				assert_int_equal(l, j / 4);
			const uint8_t *im = isq ? (uint8_t *)qi->data + ((size_t)e * 20 + j) * 3072
						: (uint8_t *)si->data + ((size_t)e * 15 + j) * 3072;
			int64_t k = 0;
			while (k < base.n && memcmp(base.images + (size_t)k * 3072, im, 3072) != 0)
				k++;
			assert_true(k < base.n);
			assert_int_equal(base.labels[k], cl[e * 5 + l]);
		}
		/* No query image is also a support image of its episode. */
		for (int s = 0; s < 15; s++)
			for (int q = 0; q < 20; q++)
				assert_int_not_equal(memcmp((uint8_t *)si->data + ((size_t)e * 15 + s) * 3072,
							    (uint8_t *)qi->data + ((size_t)e * 20 + q) * 3072, 3072), 0);
	}
	rml_file_free(&f);
	rml_file_init(&f);
	assert_int_equal(rml_dataset_tasks(&base, 11, 1, 1, 1, 1, &f, &err), RML_ERR_ARG);
	assert_int_equal(rml_dataset_tasks(&base, 5, 90, 20, 1, 1, &f, &err), RML_ERR_ARG);
	rml_file_free(&f);
}

/* Export then import: the folder holds every labelled image, class by
 * class in dataset order, read back exactly (PNG is lossless); a class
 * name that is not a plain file name is refused before anything is
 * written; the contact sheet is a PNG, an empty dataset refused. */
static void test_export_and_sheet(void **state)
{
	(void)state;
	rml_dataset d, back;
	rml_error err = { 0 };
	rml_dataset_init(&d);
	assert_int_equal(rml_dataset_alloc(&d, 30, 32, 32, 3, &err), RML_OK);
	assert_int_equal(rml_dataset_set_classes(&d, (const char *const *)base.class_names, base.n_classes,
						 &err), RML_OK);
	for (int i = 0; i < 30; i++) {
		int64_t k = (int64_t)i * 97 % base.n;
		memcpy(d.images + (size_t)i * 3072, base.images + (size_t)k * 3072, 3072);
		d.labels[i] = i == 7 ? -1 : base.labels[k];
	}
	char *dir = scratch(), out[128];
	snprintf(out, sizeof out, "%s/out", dir);
	assert_int_equal(rml_dataset_export_pngs(&d, out, NULL, &err), RML_OK);
	assert_int_equal(rml_import_folder(&back, out, 0, &err), RML_OK);
	assert_int_equal(back.n, 29);
	int64_t at = 0;
	for (int c = 0; c < d.n_classes; c++)
		for (int i = 0; i < 30; i++)
			if (d.labels[i] == c) {
				assert_int_equal(back.labels[at], c);
				assert_memory_equal(back.images + at * 3072, d.images + (size_t)i * 3072, 3072);
				at++;
			}
	rml_dataset_free(&back);
	char sheet[160];
	snprintf(sheet, sizeof sheet, "%s/sheet.png", dir);
	assert_int_equal(rml_dataset_sheet_png(&d, sheet, 0, 0, 0, &err), RML_OK);
	FILE *f = fopen(sheet, "rb");
	unsigned char sig[8];
	assert_int_equal(fread(sig, 1, 8, f), 8);
	fclose(f);
	assert_memory_equal(sig, "\x89PNG\r\n\x1a\n", 8);
	free(d.class_names[3]);
	d.class_names[3] = strdup("../cat");
	snprintf(out, sizeof out, "%s/bad", dir);
	assert_int_equal(rml_dataset_export_pngs(&d, out, NULL, &err), RML_ERR_FORMAT);
	assert_non_null(strstr(err.msg, "not a plain file name"));
	struct stat sb;
	assert_int_not_equal(stat(out, &sb), 0);
	d.n = 0;
	assert_int_equal(rml_dataset_sheet_png(&d, sheet, 0, 0, 0, &err), RML_ERR_ARG);
	d.n = 30;
	rml_dataset_free(&d);
	rm_rf(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_folder_resize_memory),
		cmocka_unit_test(test_cifar10_binary),
		cmocka_unit_test(test_reject_idx_huge_header),
		cmocka_unit_test(test_reject_cifar_stream),
		cmocka_unit_test(test_cifar100_binary),
		cmocka_unit_test(test_idx_plain_and_gzip),
		cmocka_unit_test(test_folder),
		cmocka_unit_test(test_reject_truncated_cifar),
		cmocka_unit_test(test_reject_cifar_label_range),
		cmocka_unit_test(test_reject_cifar_meta),
		cmocka_unit_test(test_reject_idx_magic),
		cmocka_unit_test(test_reject_idx_count_mismatch),
		cmocka_unit_test(test_reject_idx_truncated),
		cmocka_unit_test(test_reject_empty_folder),
		cmocka_unit_test(test_reject_unreadable_image),
		cmocka_unit_test(test_mixed_sizes_need_resize),
		cmocka_unit_test(test_import_sources),
		cmocka_unit_test(test_split_is_stratified),
		cmocka_unit_test(test_take),
		cmocka_unit_test(test_concat),
		cmocka_unit_test(test_tasks),
		cmocka_unit_test(test_export_and_sheet),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
