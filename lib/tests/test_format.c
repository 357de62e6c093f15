/*
 * test_format.c — the .rml container: byte-exact round trips (memory,
 * pipe, several files on one stream), atomic saves, provenance, and one
 * test for every kind of damaged or hostile input the reader must refuse.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "format.h"

/* A container with every metadata type and every dtype. */
static void make_sample(rml_file *f)
{
	rml_file_init(f);
	assert_int_equal(rml_set_str(f, "kind", "dataset"), RML_OK);
	assert_int_equal(rml_set_i64(f, "a.count", -42), RML_OK);
	assert_int_equal(rml_set_f64(f, "a.ratio", 0.125), RML_OK);
	int64_t ia[3] = { 1, -2, 3 };
	double fa[2] = { 1.5, -2.25 };
	const char *sa[3] = { "cat", "dog", "" };
	assert_int_equal(rml_set_i64_array(f, "a.ints", ia, 3), RML_OK);
	assert_int_equal(rml_set_f64_array(f, "a.floats", fa, 2), RML_OK);
	assert_int_equal(rml_set_str_array(f, "a.names", sa, 3), RML_OK);
	int64_t d2[2] = { 3, 5 }, d1[1] = { 7 }, d3[3] = { 2, 2, 2 };
	float fv[15];
	for (int i = 0; i < 15; i++)
		fv[i] = (float)i * 0.5f - 3;
	uint8_t uv[7] = { 0, 1, 2, 3, 250, 254, 255 };
	int32_t iv[8] = { -1, 0, 1, 2, 3, 4, 5, 2147483647 };
	assert_non_null(rml_add_tensor(f, "w", RML_DTYPE_F32, 2, d2, fv, NULL));
	assert_non_null(rml_add_tensor(f, "u", RML_DTYPE_U8, 1, d1, uv, NULL));
	assert_non_null(rml_add_tensor(f, "i", RML_DTYPE_I32, 3, d3, iv, NULL));
	assert_non_null(rml_add_tensor(f, "l", RML_DTYPE_I64, 1, d1, NULL, NULL));
	assert_non_null(rml_add_tensor(f, "d", RML_DTYPE_F64, 1, d1, NULL, NULL));
}

static void to_bytes(const rml_file *f, char **buf, size_t *n)
{
	FILE *m = open_memstream(buf, n);
	assert_non_null(m);
	assert_int_equal(rml_file_write(f, m, "memory", NULL), RML_OK);
	fclose(m);
}

static rml_status from_bytes(const void *buf, size_t n, rml_file *f, rml_error *err)
{
	if (n == 0) {
		rml_file_init(f);
		return rml_errorf(err, RML_ERR_IO, "empty");
	}
	FILE *m = fmemopen((void *)buf, n, "rb");
	assert_non_null(m);
	rml_status st = rml_file_read(f, m, "memory", err);
	fclose(m);
	return st;
}

static void test_roundtrip_bytes(void **state)
{
	(void)state;
	rml_file f, g;
	make_sample(&f);
	char *a, *b;
	size_t na, nb;
	to_bytes(&f, &a, &na);
	assert_int_equal(na % 1, 0);
	assert_int_equal(from_bytes(a, na, &g, NULL), RML_OK);
	to_bytes(&g, &b, &nb);
	assert_int_equal(na, nb);
	assert_memory_equal(a, b, na);
	const rml_kv *kv = rml_get(&g, "a.names");
	assert_non_null(kv);
	assert_int_equal(kv->n, 3);
	assert_string_equal(kv->sa[1], "dog");
	int64_t i64;
	double f64;
	assert_int_equal(rml_get_i64(&g, "a.count", &i64, NULL), RML_OK);
	assert_int_equal(i64, -42);
	assert_int_equal(rml_get_f64(&g, "a.ratio", &f64, NULL), RML_OK);
	assert_true(f64 == 0.125);
	rml_tensor *t = rml_find_tensor(&g, "w");
	assert_non_null(t);
	assert_int_equal((uintptr_t)t->data % RML_ALIGN, 0);
	assert_true(((float *)t->data)[14] == 14 * 0.5f - 3);
	assert_string_equal(rml_file_kind(&g), "dataset");
	free(a);
	free(b);
	rml_file_free(&f);
	rml_file_free(&g);
}

static void test_roundtrip_pipe(void **state)
{
	(void)state;
	rml_file f, g, h;
	make_sample(&f);
	int fd[2];
	assert_int_equal(pipe(fd), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(fd[0]);
		FILE *w = fdopen(fd[1], "wb");
		/* Two containers back to back on one stream. */
		int bad = rml_file_write(&f, w, "pipe", NULL) || rml_file_write(&f, w, "pipe", NULL);
		fclose(w);
		_exit(bad);
	}
	close(fd[1]);
	FILE *r = fdopen(fd[0], "rb");
	assert_int_equal(rml_file_read(&g, r, "pipe", NULL), RML_OK);
	assert_int_equal(rml_file_read(&h, r, "pipe", NULL), RML_OK);
	fclose(r);
	int status;
	waitpid(pid, &status, 0);
	assert_int_equal(WEXITSTATUS(status), 0);
	char *a, *b;
	size_t na, nb;
	to_bytes(&f, &a, &na);
	to_bytes(&h, &b, &nb);
	assert_int_equal(na, nb);
	assert_memory_equal(a, b, na);
	free(a);
	free(b);
	rml_file_free(&f);
	rml_file_free(&g);
	rml_file_free(&h);
}

static void test_every_prefix_rejected(void **state)
{
	(void)state;
	rml_file f, g;
	make_sample(&f);
	char *a;
	size_t n;
	to_bytes(&f, &a, &n);
	for (size_t k = 0; k < n; k++) {
		rml_error err = { 0 };
		rml_status st = from_bytes(a, k, &g, &err);
		assert_true(st == RML_ERR_IO || st == RML_ERR_FORMAT);
		assert_true(err.msg[0] != 0);
		assert_int_equal(g.n_tensors, 0);
	}
	free(a);
	rml_file_free(&f);
}

/* Offsets inside a written sample, found from the layout. */
static size_t find(const char *buf, size_t n, const char *pat, size_t plen)
{
	for (size_t i = 0; i + plen <= n; i++)
		if (memcmp(buf + i, pat, plen) == 0)
			return i;
	fail_msg("pattern not found");
	return 0;
}

static uint64_t header_size(const char *buf)
{
	uint64_t h;
	memcpy(&h, buf + 16, 8);
	return h;
}

/* Recompute the header checksum after patching the header. */
static void fix_crc(char *buf)
{
	size_t end = 24 + header_size(buf);
	uint32_t c = rml_crc32(0, buf, end);
	memcpy(buf + end, &c, 4);
}

static rml_status read_patched(char *buf, size_t n, rml_error *err)
{
	rml_file g;
	rml_status st = from_bytes(buf, n, &g, err);
	rml_file_free(&g);
	return st;
}

static void sample_bytes(char **a, size_t *n)
{
	rml_file f;
	make_sample(&f);
	to_bytes(&f, a, n);
	rml_file_free(&f);
}

enum { AS_IS, NEW_CRC };

/* Read the patched sample a[n] (after recomputing the header checksum
 * when crc is NEW_CRC, so that the patch itself is what is judged):
 * refused with status want and, when says is not NULL, a message that
 * contains it. Frees a. */
static void refused(char *a, size_t n, int crc, rml_status want, const char *says)
{
	if (crc == NEW_CRC)
		fix_crc(a);
	rml_error err = { 0 };
	assert_int_equal(read_patched(a, n, &err), want);
	if (says && !strstr(err.msg, says))
		fail_msg("message \"%s\" does not say \"%s\"", err.msg, says);
	free(a);
}

static void test_flipped_bit_header(void **state)
{
	(void)state;
	char *a;
	size_t n;
	sample_bytes(&a, &n);
	a[30] ^= 0x10;  /* inside the key/tensor counts */
	refused(a, n, AS_IS, RML_ERR_FORMAT, "checksum");
}

static void test_flipped_bit_data(void **state)
{
	(void)state;
	char *a;
	size_t n;
	sample_bytes(&a, &n);
	a[n - 8 - 1] ^= 0x01;  /* last byte of the last tensor ('d') */
	refused(a, n, AS_IS, RML_ERR_FORMAT, "tensor 'd'");
}

static void test_wrong_magic(void **state)
{
	(void)state;
	char *a;
	size_t n;
	sample_bytes(&a, &n);
	a[1] = 'X';
	rml_error err = { 0 };
	assert_int_equal(read_patched(a, n, &err), RML_ERR_FORMAT);
	assert_non_null(strstr(err.msg, "magic"));
	const char text[] = "hello, this is text and not a container at all";
	assert_int_equal(read_patched((char *)text, sizeof text, &err), RML_ERR_FORMAT);
	free(a);
}

static void test_future_version(void **state)
{
	(void)state;
	char *a;
	size_t n;
	sample_bytes(&a, &n);
	uint32_t v = RML_FORMAT_VERSION + 1;
	memcpy(a + 8, &v, 4);
	refused(a, n, NEW_CRC, RML_ERR_VERSION, NULL);
}

static void test_unknown_flags(void **state)
{
	(void)state;
	char *a;
	size_t n;
	sample_bytes(&a, &n);
	a[12] = 1;
	refused(a, n, NEW_CRC, RML_ERR_FORMAT, NULL);
}

static void test_header_claims_terabytes(void **state)
{
	(void)state;
	char *a;
	size_t n;
	sample_bytes(&a, &n);
	uint64_t huge = (uint64_t)1 << 42;
	memcpy(a + 16, &huge, 8);
	refused(a, n, AS_IS, RML_ERR_LIMIT, NULL);
}

/* Patch the tensor entry of `name` (a 1-character name): dims and nbytes. */
static size_t tensor_entry(char *a, size_t n, char name)
{
	char pat[3] = { 1, 0, name };
	return find(a, n, pat, 3) + 3;  /* at dtype */
}

static void test_tensor_claims_terabytes(void **state)
{
	(void)state;
	char *a;
	size_t n;
	sample_bytes(&a, &n);
	size_t e = tensor_entry(a, n, 'u');  /* u8, 1 dimension */
	uint64_t dim = (uint64_t)1 << 41;
	memcpy(a + e + 2, &dim, 8);
	memcpy(a + e + 2 + 8 + 8, &dim, 8);  /* nbytes agrees with the shape */
	refused(a, n, NEW_CRC, RML_ERR_LIMIT, NULL);
}

static void test_tensor_larger_than_input(void **state)
{
	(void)state;
	/* A header that is consistent but claims 1 GiB of data that never
	 * comes: refused as truncated, without allocating the gigabyte. */
	char *a;
	size_t n;
	sample_bytes(&a, &n);
	size_t e = tensor_entry(a, n, 'd');  /* f64, 1 dimension, the last */
	uint64_t dim = (uint64_t)1 << 27, bytes = dim * 8;
	memcpy(a + e + 2, &dim, 8);
	memcpy(a + e + 2 + 8 + 8, &bytes, 8);
	refused(a, n, NEW_CRC, RML_ERR_IO, "truncated");
}

static void test_shape_overflow(void **state)
{
	(void)state;
	char *a;
	size_t n;
	sample_bytes(&a, &n);
	size_t e = tensor_entry(a, n, 'w');  /* f32 [3,5] */
	uint64_t big = (uint64_t)1 << 62;
	memcpy(a + e + 2, &big, 8);
	memcpy(a + e + 10, &big, 8);
	refused(a, n, NEW_CRC, RML_ERR_LIMIT, NULL);
}

static void test_nbytes_mismatch(void **state)
{
	(void)state;
	char *a;
	size_t n;
	sample_bytes(&a, &n);
	size_t e = tensor_entry(a, n, 'w');
	uint64_t nb = 61;
	memcpy(a + e + 2 + 16 + 8, &nb, 8);
	refused(a, n, NEW_CRC, RML_ERR_FORMAT, NULL);
}

static void test_unknown_dtype(void **state)
{
	(void)state;
	char *a;
	size_t n;
	sample_bytes(&a, &n);
	size_t e = tensor_entry(a, n, 'u');
	a[e] = 42;
	refused(a, n, NEW_CRC, RML_ERR_FORMAT, "dtype");
}

static void test_duplicate_key(void **state)
{
	(void)state;
	char *a;
	size_t n;
	sample_bytes(&a, &n);
	size_t k = find(a, n, "a.ratio", 7);
	memcpy(a + k, "a.count", 7);
	refused(a, n, NEW_CRC, RML_ERR_FORMAT, "duplicate key");
}

static void test_duplicate_tensor(void **state)
{
	(void)state;
	char *a;
	size_t n;
	sample_bytes(&a, &n);
	size_t e = tensor_entry(a, n, 'u');
	a[e - 1] = 'w';
	refused(a, n, NEW_CRC, RML_ERR_FORMAT, "duplicate tensor");
}

static void test_misaligned_offset(void **state)
{
	(void)state;
	char *a;
	size_t n;
	sample_bytes(&a, &n);
	size_t e = tensor_entry(a, n, 'u');  /* second tensor, offset 64 */
	uint64_t off;
	memcpy(&off, a + e + 2 + 8, 8);
	off += 4;
	memcpy(a + e + 2 + 8, &off, 8);
	refused(a, n, NEW_CRC, RML_ERR_FORMAT, "aligned");
}

static void test_bad_key_charset(void **state)
{
	(void)state;
	char *a;
	size_t n;
	sample_bytes(&a, &n);
	size_t k = find(a, n, "a.ratio", 7);
	a[k + 2] = 'R';
	refused(a, n, NEW_CRC, RML_ERR_FORMAT, NULL);
}

static void test_nonzero_padding(void **state)
{
	(void)state;
	char *a;
	size_t n;
	sample_bytes(&a, &n);
	size_t end = 24 + header_size(a) + 4;
	assert_true(end % RML_ALIGN != 0);  /* the sample has header padding */
	a[end] = 7;
	refused(a, n, AS_IS, RML_ERR_FORMAT, "padding");
}

static void test_missing_end_marker(void **state)
{
	(void)state;
	char *a;
	size_t n;
	sample_bytes(&a, &n);
	a[n - 3] = 'X';
	refused(a, n, AS_IS, RML_ERR_FORMAT, NULL);
}

static void test_counts_beyond_header(void **state)
{
	(void)state;
	char *a;
	size_t n;
	sample_bytes(&a, &n);
	uint64_t many = 1000000;
	memcpy(a + 24, &many, 8);
	refused(a, n, NEW_CRC, RML_ERR_LIMIT, NULL);
}

static void test_atomic_save(void **state)
{
	(void)state;
	rml_file f, g;
	make_sample(&f);
	char dir[] = "/tmp/rml-test-XXXXXX";
	assert_non_null(mkdtemp(dir));
	char path[256], bad[256];
	snprintf(path, sizeof path, "%s/out.rml", dir);
	snprintf(bad, sizeof bad, "%s/missing/out.rml", dir);
	assert_int_equal(rml_file_save(&f, path, NULL), RML_OK);
	assert_int_equal(rml_file_load(&g, path, NULL), RML_OK);
	rml_file_free(&g);
	rml_error err = { 0 };
	assert_int_equal(rml_file_save(&f, bad, &err), RML_ERR_IO);
	struct stat sb;
	assert_int_not_equal(stat(bad, &sb), 0);
	/* Only the one good file is in the directory: no temporary left. */
	char cmd[300];
	snprintf(cmd, sizeof cmd, "test $(ls -A %s | wc -l) -eq 1", dir);
	assert_int_equal(system(cmd), 0);
	char hex[65];
	assert_int_equal(rml_file_load_hashed(&g, path, hex, NULL), RML_OK);
	assert_int_equal(strlen(hex), 64);
	rml_file_free(&g);
	unlink(path);
	rmdir(dir);
	rml_file_free(&f);
}

static void test_provenance(void **state)
{
	(void)state;
	rml_file parent, out;
	make_sample(&parent);
	rml_file_init(&out);
	char *argv0[] = { "rmlops-x", "one", 0 };
	assert_int_equal(rml_provenance_stamp(&parent, "rmlops-a", 2, argv0, 3, NULL, NULL, 0, NULL, 0, NULL),
			 RML_OK);
	const char *roles[1] = { "data" }, *hashes[1] = { "ab12" };
	const rml_file *parents[1] = { &parent };
	char *argv1[] = { "rmlops-y", "it's", 0 };
	assert_int_equal(rml_provenance_stamp(&out, "rmlops-b", 2, argv1, -1, roles, hashes, 1, parents, 1, NULL),
			 RML_OK);
	const rml_kv *h = rml_get(&out, "lineage.history");
	assert_non_null(h);
	assert_int_equal(h->n, 2);
	assert_non_null(strstr(h->sa[0], "\"program\":\"rmlops-a\""));
	assert_non_null(strstr(h->sa[0], "\"seed\":3"));
	assert_non_null(strstr(h->sa[1], "data=sha256:ab12"));
	const char *cmd;
	assert_int_equal(rml_get_str(&out, "provenance.command", &cmd, NULL), RML_OK);
	assert_string_equal(cmd, "rmlops-b 'it'\\''s'");
	assert_null(rml_get(&out, "provenance.seed"));
	/* Two inputs that share history (the output and its own parent, as
	 * when a checkpoint and its training data are read again): each
	 * shared entry once, then the new step. */
	rml_file again;
	rml_file_init(&again);
	const char *roles2[2] = { "checkpoint", "data" }, *hashes2[2] = { "cd34", "ab12" };
	const rml_file *parents2[2] = { &out, &parent };
	assert_int_equal(rml_provenance_stamp(&again, "rmlops-b", 2, argv1, -1, roles2, hashes2, 2,
					      parents2, 2, NULL),
			 RML_OK);
	h = rml_get(&again, "lineage.history");
	assert_non_null(h);
	assert_int_equal(h->n, 3);
	assert_non_null(strstr(h->sa[0], "\"program\":\"rmlops-a\""));
	assert_non_null(strstr(h->sa[2], "checkpoint=sha256:cd34"));
	rml_file_free(&again);
	rml_file_free(&parent);
	rml_file_free(&out);
}

/* An input's history as a parent of the next stamp: escaped entry by
 * entry (control characters, C1 controls in UTF-8, backslashes), plain
 * entries as they are; no history, or one of another type, leaves the
 * copy as it was. */
static void test_provenance_lineage(void **state)
{
	(void)state;
	rml_file in, kept;
	rml_file_init(&in);
	rml_file_init(&kept);
	const char *hist[] = { "{\"program\":\"rmlops-a\"}", "title\x1b]0;x\x07 \xc2\x9b" "2J a\\b\n", "" };
	assert_int_equal(rml_set_str_array(&in, "lineage.history", hist, 3), RML_OK);
	assert_int_equal(rml_provenance_lineage(&kept, &in, NULL), RML_OK);
	assert_int_equal(kept.n_kv, 1);
	const rml_kv *h = rml_get(&kept, "lineage.history");
	assert_non_null(h);
	assert_int_equal(h->type, RML_KV_STR_ARRAY);
	assert_int_equal(h->n, 3);
	assert_string_equal(h->sa[0], hist[0]);
	assert_string_equal(h->sa[1], "title\\x1b]0;x\\x07 \\u009b2J a\\\\b\\n");
	assert_string_equal(h->sa[2], "");
	/* What the next stamp makes of it: the escaped entries, then its own. */
	const rml_file *parents[1] = { &kept };
	char *argv[] = { "rmlops-b", 0 };
	rml_file out;
	rml_file_init(&out);
	assert_int_equal(rml_provenance_stamp(&out, "rmlops-b", 1, argv, -1, NULL, NULL, 0, parents, 1, NULL),
			 RML_OK);
	h = rml_get(&out, "lineage.history");
	assert_int_equal(h->n, 4);
	assert_string_equal(h->sa[1], "title\\x1b]0;x\\x07 \\u009b2J a\\\\b\\n");
	rml_file_free(&out);
	rml_file_free(&kept);
	/* Nothing to keep. */
	rml_file_init(&kept);
	rml_file_free(&in);
	rml_file_init(&in);
	assert_int_equal(rml_provenance_lineage(&kept, &in, NULL), RML_OK);
	assert_int_equal(kept.n_kv, 0);
	assert_int_equal(rml_set_str(&in, "lineage.history", "not a list"), RML_OK);
	assert_int_equal(rml_provenance_lineage(&kept, &in, NULL), RML_OK);
	assert_int_equal(kept.n_kv, 0);
	rml_file_free(&kept);
	rml_file_free(&in);
}

/* Bytes after the end marker: a file holding one container and then
 * anything (a second container, one stray byte) is refused by load, with
 * the byte where they start; read on a stream leaves the rest for the
 * next read, which is how rmlops-info shows every container. */
static void test_trailing_bytes(void **state)
{
	(void)state;
	rml_file f, g;
	make_sample(&f);
	char *a;
	size_t n;
	to_bytes(&f, &a, &n);
	char dir[] = "/tmp/rml-test-XXXXXX";
	assert_non_null(mkdtemp(dir));
	char path[256];
	snprintf(path, sizeof path, "%s/two.rml", dir);
	for (int extra = 0; extra < 3; extra++) {
		FILE *fp = fopen(path, "wb");
		assert_non_null(fp);
		fwrite(a, 1, n, fp);
		if (extra == 1)
			fputc(0, fp);
		if (extra == 2)
			fwrite(a, 1, n, fp);
		fclose(fp);
		rml_error err = { 0 };
		char hex[65];
		if (extra == 0) {
			assert_int_equal(rml_file_load(&g, path, &err), RML_OK);
			rml_file_free(&g);
			continue;
		}
		assert_int_equal(rml_file_load(&g, path, &err), RML_ERR_FORMAT);
		assert_non_null(strstr(err.msg, "bytes follow the end marker"));
		assert_int_equal(rml_file_load_hashed(&g, path, hex, &err), RML_ERR_FORMAT);
		assert_int_equal(g.n_tensors, 0);
		/* as a stream: container by container */
		fp = fopen(path, "rb");
		assert_int_equal(rml_file_read(&g, fp, "two", &err), RML_OK);
		rml_file_free(&g);
		assert_false(rml_file_at_end(fp));
		assert_int_equal(rml_file_read(&g, fp, "two", &err), extra == 2 ? RML_OK : RML_ERR_IO);
		rml_file_free(&g);
		assert_true(rml_file_at_end(fp));
		fclose(fp);
	}
	unlink(path);
	rmdir(dir);
	free(a);
	rml_file_free(&f);
}

static double cpu_seconds(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* 65536 tensors and 65536 keys (the limits) are written, read and every
 * name looked up in well under a second: name lookups use an index (they
 * scanned, and such a file took 23 s to load). The index keeps up with
 * replacing, unsetting and re-adding. */
static void test_many_names(void **state)
{
	(void)state;
	rml_file f, g;
	rml_file_init(&f);
	double t0 = cpu_seconds();
	int64_t one = 1;
	char name[32];
	for (int i = 0; i < RML_MAX_TENSORS; i++) {
		snprintf(name, sizeof name, "t.%d", i);
		float v = (float)i;
		assert_non_null(rml_add_tensor(&f, name, RML_DTYPE_F32, 1, &one, &v, NULL));
	}
	for (int i = 0; i < RML_MAX_KV; i++) {
		snprintf(name, sizeof name, "k.%d", i);
		assert_int_equal(rml_set_i64(&f, name, i), RML_OK);
	}
	char *a;
	size_t n;
	to_bytes(&f, &a, &n);
	rml_error err = { 0 };
	assert_int_equal(from_bytes(a, n, &g, &err), RML_OK);
	for (int i = 0; i < RML_MAX_TENSORS; i++) {
		snprintf(name, sizeof name, "t.%d", i);
		rml_tensor *t = rml_find_tensor(&g, name);
		assert_non_null(t);
		assert_true(*(float *)t->data == (float)i);
		snprintf(name, sizeof name, "k.%d", i);
		const rml_kv *kv = rml_get(&g, name);
		assert_non_null(kv);
		assert_int_equal(kv->i, i);
	}
	double dt = cpu_seconds() - t0;
	print_message("65536 tensors and keys: built, written, read, looked up in %.2f s CPU\n", dt);
	assert_true(dt < 5.0);
	assert_null(rml_find_tensor(&g, "t.65536"));
	assert_null(rml_get(&g, "k.65536"));
	/* still the limit: no more keys */
	assert_int_equal(rml_set_i64(&g, "k.x", 1), RML_ERR_NOMEM);
	rml_unset(&g, "k.7");
	assert_null(rml_get(&g, "k.7"));
	assert_int_equal(rml_get(&g, "k.8")->i, 8);
	assert_int_equal(rml_set_i64(&g, "k.7", 70), RML_OK);
	assert_int_equal(rml_get(&g, "k.7")->i, 70);
	assert_int_equal(rml_set_i64(&g, "k.9", 90), RML_OK);
	assert_int_equal(rml_get(&g, "k.9")->i, 90);
	assert_int_equal(g.n_kv, RML_MAX_KV);
	free(a);
	rml_file_free(&f);
	rml_file_free(&g);
}

static void test_api_rejects(void **state)
{
	(void)state;
	rml_file f;
	rml_file_init(&f);
	assert_int_equal(rml_set_i64(&f, "Bad Key", 1), RML_ERR_ARG);
	assert_int_equal(rml_set_i64(&f, "", 1), RML_ERR_ARG);
	int64_t d[1] = { -1 };
	rml_error err = { 0 };
	assert_null(rml_add_tensor(&f, "x", RML_DTYPE_F32, 1, d, NULL, &err));
	assert_null(rml_add_tensor(&f, "has space", RML_DTYPE_F32, 0, d, NULL, &err));
	assert_int_equal(rml_expect_kind(&f, "model", "x.rml", &err), RML_ERR_MISMATCH);
	rml_set_str(&f, "kind", "dataset");
	assert_int_equal(rml_expect_kind(&f, "model", "x.rml", &err), RML_ERR_MISMATCH);
	assert_non_null(strstr(err.msg, "expected a model, got a dataset"));
	int64_t v;
	assert_int_equal(rml_get_i64(&f, "kind", &v, &err), RML_ERR_FORMAT);
	rml_file_free(&f);
	rml_file_free(&f);
}

static void test_seed_corpus_parses(void **state)
{
	(void)state;
	/* The fuzzing seeds made by scripts/make_fuzz_corpus.py are written
	 * from the layout in rmlops-format(5) by an independent writer: the
	 * valid ones must parse, the broken ones must not. */
	const char *dir = getenv("RML_TESTDATA") ? getenv("RML_TESTDATA") : "testdata";
	const char *valid[] = { "valid-dataset.rml", "valid-empty.rml", "valid-kinds.rml" };
	const char *broken[] = { "broken-crc.rml", "broken-truncated.rml", "broken-magic.rml" };
	char path[512];
	for (int i = 0; i < 3; i++) {
		rml_file f;
		snprintf(path, sizeof path, "%s/fuzz/%s", dir, valid[i]);
		rml_error err = { 0 };
		rml_status st = rml_file_load(&f, path, &err);
		if (st)
			fail_msg("%s: %s", path, err.msg);
		rml_file_free(&f);
		snprintf(path, sizeof path, "%s/fuzz/%s", dir, broken[i]);
		assert_int_not_equal(rml_file_load(&f, path, NULL), RML_OK);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip_bytes),
		cmocka_unit_test(test_trailing_bytes),
		cmocka_unit_test(test_many_names),
		cmocka_unit_test(test_roundtrip_pipe),
		cmocka_unit_test(test_every_prefix_rejected),
		cmocka_unit_test(test_flipped_bit_header),
		cmocka_unit_test(test_flipped_bit_data),
		cmocka_unit_test(test_wrong_magic),
		cmocka_unit_test(test_future_version),
		cmocka_unit_test(test_unknown_flags),
		cmocka_unit_test(test_header_claims_terabytes),
		cmocka_unit_test(test_tensor_claims_terabytes),
		cmocka_unit_test(test_tensor_larger_than_input),
		cmocka_unit_test(test_shape_overflow),
		cmocka_unit_test(test_nbytes_mismatch),
		cmocka_unit_test(test_unknown_dtype),
		cmocka_unit_test(test_duplicate_key),
		cmocka_unit_test(test_duplicate_tensor),
		cmocka_unit_test(test_misaligned_offset),
		cmocka_unit_test(test_bad_key_charset),
		cmocka_unit_test(test_nonzero_padding),
		cmocka_unit_test(test_missing_end_marker),
		cmocka_unit_test(test_counts_beyond_header),
		cmocka_unit_test(test_atomic_save),
		cmocka_unit_test(test_provenance),
		cmocka_unit_test(test_provenance_lineage),
		cmocka_unit_test(test_api_rejects),
		cmocka_unit_test(test_seed_corpus_parses),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
