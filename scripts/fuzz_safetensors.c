/*
 * fuzz_safetensors.c — libFuzzer entry point for the safetensors reader
 * (make fuzz): every input is parsed; a refusal must be one line; what
 * parses is written back, must parse again to the same tensors and
 * metadata, has its floating-point tensors converted, and is offered to
 * the import of an mvit-tiny model (names, shapes and the map checks).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "safetensors.h"
#include "torchmap.h"

static rml_model *tiny;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!tiny) {
		rml_model_config cfg = { .arch = "mvit-tiny", .n_classes = 10, .adapter_gamma = 2, .seed = 1 };
		if (rml_model_create(&tiny, &cfg, NULL))
			abort();
	}
	rml_st_file f;
	rml_error err = { 0 };
	if (rml_st_parse(&f, data, size, "fuzz", &err) != RML_OK) {
		if (strchr(err.msg, '\n') || !err.msg[0])
			abort();  /* one line, always */
		return 0;
	}
	rml_st_out *t = calloc((size_t)f.n + 1, sizeof *t);
	for (int64_t i = 0; i < f.n; i++) {
		t[i].name = f.t[i].name;
		t[i].dtype = f.t[i].dtype;
		t[i].ndim = f.t[i].ndim;
		memcpy(t[i].dims, f.t[i].dims, sizeof t[i].dims);
		t[i].data = f.t[i].data;
		if (f.t[i].dtype == RML_ST_F32 || f.t[i].dtype == RML_ST_F64 || f.t[i].dtype == RML_ST_F16 ||
		    f.t[i].dtype == RML_ST_BF16) {
			float *x = malloc((size_t)f.t[i].numel * 4 + 4);
			if (rml_st_to_f32(&f.t[i], x, "fuzz", NULL) != RML_OK)
				abort();
			free(x);
		}
	}
	rml_outbuf o;
	rml_outbuf_init(&o);
	if (rml_st_write(t, f.n, (const char *const *)f.meta_key, (const char *const *)f.meta_val, f.n_meta,
			 &o, &err) != RML_OK)
		abort();  /* whatever was read can be written */
	rml_st_file g;
	if (rml_st_parse(&g, o.data, o.len, "fuzz", &err) != RML_OK || g.n != f.n || g.n_meta != f.n_meta)
		abort();  /* and read back */
	for (int64_t i = 0; i < f.n; i++)
		if (strcmp(f.t[i].name, g.t[i].name) || f.t[i].dtype != g.t[i].dtype ||
		    f.t[i].nbytes != g.t[i].nbytes || memcmp(f.t[i].dims, g.t[i].dims, sizeof f.t[i].dims) ||
		    (f.t[i].nbytes && memcmp(f.t[i].data, g.t[i].data, f.t[i].nbytes)))
			abort();
	for (int64_t i = 0; i < f.n_meta; i++)
		if (strcmp(f.meta_key[i], g.meta_key[i]) || strcmp(f.meta_val[i], g.meta_val[i]))
			abort();
	rml_torch_import(tiny, &f, NULL, "fuzz", &err);
	rml_st_free(&g);
	rml_outbuf_free(&o);
	free(t);
	rml_st_free(&f);
	return 0;
}
