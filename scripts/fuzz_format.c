/*
 * fuzz_format.c — libFuzzer entry point for the .rml reader (make fuzz):
 * every input is read as a container; whatever parses is written back
 * and must read again to the same bytes.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format.h"

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
		rml_file_free(&f);
	}
	fclose(in);
	return 0;
}
