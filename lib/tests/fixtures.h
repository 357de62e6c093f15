/*
 * fixtures.h — the small things many unit tests build the same way: where
 * the carried test data lives, an untrained mvit-tiny, random pixels, a
 * random labelled image set, a carried file or dataset loaded in a group
 * setup, and an output buffer's text.
 *
 * Not for use by the engine or the programs: every helper fails the
 * running cmocka test (or, in a setup, returns -1 with a message) instead
 * of returning a status, and it is linked only into the tests. A fixture
 * particular to one module stays in that module's test.
 */
#ifndef RML_FIXTURES_H
#define RML_FIXTURES_H

#include <stddef.h>
#include <stdint.h>

#include "dataset.h"
#include "format.h"
#include "model.h"
#include "outbuf.h"

/* The directory of the data the repository carries: $RML_TESTDATA when
 * set, else "testdata" (the tests run from the top of the tree). */
const char *rml_fx_datadir(void);

/* path[size] = the carried file name (e.g. "ref/model.rml") inside
 * rml_fx_datadir(). */
void rml_fx_path(char *path, size_t size, const char *name);

/* A freshly initialised mvit-tiny with k classes, adapters of width gamma
 * (0: none) and parameters drawn from seed; the test fails with the
 * library's message if it is refused. */
rml_model *rml_fx_tiny(int k, int gamma, uint64_t seed);

/* x[n] whole pixel values 0..255 drawn from seed (stream 0). */
void rml_fx_pixels(float *x, int64_t n, uint64_t seed);

/* d (initialised here): n random 32x32x3 images drawn from seed, image i
 * labelled i % k, k classes without names. */
void rml_fx_random_set(rml_dataset *d, int64_t n, int k, uint64_t seed);

/* For a group setup: load the carried file name into f; 0, or -1 after
 * printing the library's message (and hint, when not NULL: how to make
 * the file) on stderr. */
int rml_fx_load_file(rml_file *f, const char *name, const char *hint);

/* For a group setup: load the carried dataset name into d (initialised
 * here); 0, or -1 after printing the library's message on stderr. */
int rml_fx_load_set(rml_dataset *d, const char *name);

/* The carried 1000 CIFAR-10 test images (cifar10-test-1000.rml, grouped
 * by class), for the tests that need real pictures: a cmocka setup that
 * loads them into rml_fx_cifar and sets one thread (these tests' passes
 * are small), and the teardown that frees them. */
extern rml_dataset rml_fx_cifar;
int rml_fx_cifar_setup(void **state);
int rml_fx_cifar_teardown(void **state);

/* The buffer's text, NUL-terminated (rml_out_str); the test fails if a
 * write to it failed. */
const char *rml_fx_text(rml_outbuf *o);

#endif
