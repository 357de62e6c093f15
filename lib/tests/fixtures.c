/*
 * fixtures.c — the unit tests' shared fixtures (see fixtures.h).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <cmocka.h>

#include "fixtures.h"
#include "outtext.h"

const char *rml_fx_datadir(void)
{
	const char *dir = getenv("RML_TESTDATA");
	return dir ? dir : "testdata";
}

void rml_fx_path(char *path, size_t size, const char *name)
{
	snprintf(path, size, "%s/%s", rml_fx_datadir(), name);
}

rml_model *rml_fx_tiny(int k, int gamma, uint64_t seed)
{
	rml_model *m = NULL;
	rml_model_config c = { "mvit-tiny", k, gamma, seed };
	rml_error err = { 0 };
	if (rml_model_create(&m, &c, &err))
		fail_msg("%s", err.msg);
	return m;
}

void rml_fx_pixels(float *x, int64_t n, uint64_t seed)
{
	rml_rng r;
	rml_rng_seed(&r, seed);
	for (int64_t i = 0; i < n; i++)
		x[i] = (float)rml_rng_below(&r, 256);
}

void rml_fx_random_set(rml_dataset *d, int64_t n, int k, uint64_t seed)
{
	rml_error err = { 0 };
	rml_dataset_init(d);
	if (rml_dataset_alloc(d, n, 32, 32, 3, &err))
		fail_msg("%s", err.msg);
	rml_rng r;
	rml_rng_seed(&r, seed);
	for (int64_t i = 0; i < n * 32 * 32 * 3; i++)
		d->images[i] = (uint8_t)rml_rng_below(&r, 256);
	for (int64_t i = 0; i < n; i++)
		d->labels[i] = (int32_t)(i % k);
	d->n_classes = k;
}

int rml_fx_load_file(rml_file *f, const char *name, const char *hint)
{
	char path[512];
	rml_fx_path(path, sizeof path, name);
	rml_error err = { 0 };
	if (rml_file_load(f, path, &err)) {
		if (hint)
			fprintf(stderr, "%s (%s)\n", err.msg, hint);
		else
			fprintf(stderr, "%s\n", err.msg);
		return -1;
	}
	return 0;
}

int rml_fx_load_set(rml_dataset *d, const char *name)
{
	char path[512];
	rml_fx_path(path, sizeof path, name);
	rml_error err = { 0 };
	rml_dataset_init(d);
	if (rml_dataset_load(d, path, &err)) {
		fprintf(stderr, "%s\n", err.msg);
		return -1;
	}
	return 0;
}

rml_dataset rml_fx_cifar;

int rml_fx_cifar_setup(void **state)
{
	(void)state;
	if (rml_fx_load_set(&rml_fx_cifar, "cifar10-test-1000.rml"))
		return -1;
	rml_set_threads(1);
	return 0;
}

int rml_fx_cifar_teardown(void **state)
{
	(void)state;
	rml_dataset_free(&rml_fx_cifar);
	return 0;
}

const char *rml_fx_text(rml_outbuf *o)
{
	const char *s = rml_out_str(o);
	assert_false(o->failed);
	return s;
}
