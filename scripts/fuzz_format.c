/*
 * fuzz_format.c — libFuzzer entry point for the .rml reader (make fuzz):
 * every input is read as a container; whatever parses is written back
 * and must read again to the same bytes, and is then read as what its
 * kind says (model, adapters for a small base model, dataset,
 * predictions, calibrator), so the checks of what a file means are
 * fuzzed as well as the checks of its bytes.
 *
 * Most mutations break a checksum and stop at the first check. With
 * RML_FUZZ_FIXSUMS=1 in the environment a custom mutator recomputes the
 * tensor checksums and the header checksum after each mutation, so
 * mutated content reaches the semantic checks (make fuzz-sem).
 * With RML_FUZZ_SEEDS=dir the program writes seed files of every kind
 * into dir (a small model, its adapters, a dataset, predictions) and
 * exits.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "calib.h"
#include "calib_model.h"
#include "dataset.h"
#include "format.h"
#include "metrics.h"
#include "model.h"
#include "train.h"

size_t LLVMFuzzerMutate(uint8_t *data, size_t size, size_t max_size);

static const char tiny_arch[] =
	"name: tiny\n"
	"input: {h: 8, w: 8, c: 3, mean: [125.3, 123.0, 113.9], std: [63.0, 62.1, 66.7]}\n"
	"stem: {out: 4, stride: 2}\n"
	"blocks:\n"
	"  - {type: mv2, out: 4, stride: 1, expand: 2}\n"
	"  - {type: mvit, dim: 8, depth: 1, heads: 2}\n"
	"head: {conv: 8}\n";

static int fix_sums;
static rml_model *base;  /* for adapter files */

static uint64_t le(const uint8_t *p, int n)
{
	uint64_t v = 0;
	for (int i = 0; i < n; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

static void put_le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* Recompute the checksums of a mutated container in place, as far as its
 * layout can be followed (rmlops-format(5)): each tensor's CRC from the
 * bytes at its offset, then the header CRC over everything before it. */
static void fix_checksums(uint8_t *d, size_t size)
{
	if (size < 24 + 16 + 4)
		return;
	uint64_t hsize = le(d + 16, 8);
	if (hsize < 16 || hsize > size - 28)
		return;
	size_t total = 24 + (size_t)hsize + 4;
	size_t data0 = (total + 63) / 64 * 64;
	const uint8_t *end = d + 24 + hsize;
	const uint8_t *p = d + 24;
	uint64_t n_kv = le(p, 8), n_t = le(p + 8, 8);
	p += 16;
	for (uint64_t i = 0; i < n_kv && p < end; i++) {
		if (end - p < 3)
			return;
		uint64_t kl = le(p, 2);
		p += 2;
		if ((uint64_t)(end - p) < kl + 1)
			return;
		p += kl;
		int type = *p++;
		uint64_t n, l;
		switch (type) {
		case 0: case 1: p += 8; break;
		case 2:
			if (end - p < 8)
				return;
			n = le(p, 8);
			if (n > (uint64_t)(end - p) - 8)
				return;
			p += 8 + n;
			break;
		case 3: case 4:
			if (end - p < 8)
				return;
			n = le(p, 8);
			if (n > (uint64_t)(end - p) / 8)
				return;
			p += 8 + 8 * n;
			break;
		case 5:
			if (end - p < 8)
				return;
			n = le(p, 8);
			p += 8;
			for (uint64_t j = 0; j < n; j++) {
				if (end - p < 8)
					return;
				l = le(p, 8);
				if (l > (uint64_t)(end - p) - 8)
					return;
				p += 8 + l;
			}
			break;
		default: return;
		}
		if (p > end)
			return;
	}
	for (uint64_t i = 0; i < n_t; i++) {
		if (end - p < 4)
			break;
		uint64_t nl = le(p, 2);  /* at most 65535: no overflow below */
		if ((uint64_t)(end - p) < 2 + nl + 2)
			break;
		p += 2 + nl + 1;
		int ndim = *p++;
		if ((uint64_t)(end - p) < 8 * (uint64_t)ndim + 20)
			break;
		p += 8 * ndim;
		uint64_t off = le(p, 8), nb = le(p + 8, 8);
		p += 16;
		if (off <= size && data0 <= size - off && nb <= size - data0 - off)
			put_le32((uint8_t *)p, rml_crc32(0, d + data0 + off, (size_t)nb));
		p += 4;
	}
	put_le32(d + total - 4, rml_crc32(0, d, total - 4));
}

size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size, unsigned int seed)
{
	(void)seed;
	size = LLVMFuzzerMutate(data, size, max_size);
	if (fix_sums)
		fix_checksums(data, size);
	return size;
}

static void save(const char *dir, const char *name, const rml_file *f)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	rml_error err = { 0 };
	if (rml_file_save(f, path, &err)) {
		fprintf(stderr, "fuzz_format: %s\n", err.msg);
		exit(1);
	}
}

/* Seeds of every kind, small enough for -max_len. */
static void write_seeds(const char *dir)
{
	rml_error err = { 0 };
	rml_file f;
	rml_file_init(&f);
	if (rml_model_to_file(base, &f, &err))
		goto fail;
	save(dir, "model.rml", &f);
	rml_file_free(&f);
	rml_model *m = NULL;
	rml_model_config cfg = { .arch = tiny_arch, .n_classes = 3, .adapter_gamma = 4, .seed = 2 };
	if (rml_model_create(&m, &cfg, &err))
		goto fail;
	if (rml_model_adapters_to_file(m, 0, &f, &err))
		goto fail;
	save(dir, "adapters.rml", &f);
	rml_file_free(&f);
	rml_model_free(m);
	rml_predictions p;
	rml_predictions_init(&p);
	if (rml_predictions_alloc(&p, 3, 3, &err))
		goto fail;
	for (int i = 0; i < 9; i++)
		p.probs[i] = i % 4 == 0 ? 0.5f : 0.25f;
	p.labels[0] = 1;
	p.rejected[2] = 1;
	p.entropy[1] = 1.0f;
	if (rml_predictions_to_file(&p, &f, &err))
		goto fail;
	save(dir, "predictions.rml", &f);
	rml_file_free(&f);
	rml_predictions_free(&p);
	return;
fail:
	fprintf(stderr, "fuzz_format: %s\n", err.msg);
	exit(1);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	const char *e = getenv("RML_FUZZ_FIXSUMS");
	fix_sums = e && *e == '1';
	rml_error err = { 0 };
	rml_model_config cfg = { .arch = tiny_arch, .n_classes = 3, .adapter_gamma = 0, .seed = 1 };
	if (rml_model_create(&base, &cfg, &err)) {
		fprintf(stderr, "fuzz_format: %s\n", err.msg);
		exit(1);
	}
	const char *dir = getenv("RML_FUZZ_SEEDS");
	if (dir) {
		write_seeds(dir);
		exit(0);
	}
	return 0;
}

/* Read f as what its kind says; every reader must either refuse it with a
 * message or give something usable. */
static void interpret(const rml_file *f)
{
	const char *kind = rml_file_kind(f);
	rml_error err = { 0 };
	if (!kind)
		return;
	if (strcmp(kind, "model") == 0) {
		rml_model *m = NULL;
		if (rml_model_from_file(&m, f, &err) == RML_OK) {
			if (rml_model_calibrator_method(m)) {
				rml_calib c;
				if (rml_model_calibrator(m, &c, &err) == RML_OK)
					rml_calib_free(&c);
			}
			rml_train_state_check(f, &err);
			rml_model_free(m);
		} else if (!err.msg[0]) {
			abort();  /* a refusal says why */
		}
	} else if (strcmp(kind, "adapters") == 0) {
		rml_model *m = NULL;
		rml_file bf;
		rml_file_init(&bf);
		if (rml_model_to_file(base, &bf, &err) == RML_OK &&
		    rml_model_from_file(&m, &bf, &err) == RML_OK &&
		    rml_model_add_adapters(m, 4, 2, &err) == RML_OK)
			rml_model_load_adapters(m, f, &err);
		rml_model_free(m);
		rml_file_free(&bf);
	} else if (strcmp(kind, "dataset") == 0) {
		rml_dataset d;
		rml_dataset_init(&d);
		rml_dataset_from_file(&d, f, &err);
		rml_dataset_free(&d);
	} else if (strcmp(kind, "predictions") == 0) {
		rml_predictions p;
		if (rml_predictions_from_file(&p, f, &err) == RML_OK) {
			rml_eval_report r;
			if (rml_eval_compute(&p, 15, RML_BINS_WIDTH, &r, &err) == RML_OK)
				rml_eval_report_free(&r);
		}
		rml_predictions_free(&p);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	FILE *in = fmemopen((void *)data, size, "rb");
	if (!in)
		return 0;
	rml_file f;
	rml_error err = { 0 };
	if (rml_file_read(&f, in, "fuzz", &err) == RML_OK) {
		char *a = NULL, *b = NULL;
		size_t na = 0, nb = 0;
		FILE *m = open_memstream(&a, &na);
		rml_file_write(&f, m, "fuzz", NULL);
		fclose(m);
		rml_file g;
		FILE *r = fmemopen(a, na, "rb");
		if (rml_file_read(&g, r, "fuzz", NULL) != RML_OK)
			abort();  /* what we wrote must read back */
		fclose(r);
		m = open_memstream(&b, &nb);
		rml_file_write(&g, m, "fuzz", NULL);
		fclose(m);
		if (na != nb || memcmp(a, b, na) != 0)
			abort();  /* and to the same bytes */
		rml_file_free(&g);
		free(a);
		free(b);
		interpret(&f);
		rml_file_free(&f);
	}
	fclose(in);
	return 0;
}
