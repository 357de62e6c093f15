/*
 * fuzz_yaml.c — libFuzzer target for the two YAML readers a user hands
 * files to: the attack list of rmlops-attack (rml_attack_spec_parse_yaml) and
 * the architecture description of rmlops-train (rml_model_create with
 * YAML text). The first byte picks the reader, the rest is the text.
 * Neither may crash, leak or allocate what the text merely claims; a
 * description that parses must build a model that runs one forward pass.
 * Built and run by `make fuzz`; seeds in testdata/fuzz-yaml/.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "attack_model.h"
#include "model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1 || size > 65536)
		return 0;
	char *text = malloc(size);
	if (!text)
		return 0;
	memcpy(text, data + 1, size - 1);
	text[size - 1] = 0;
	rml_error err = { 0 };
	if (data[0] & 1) {
		rml_attack_spec *list = NULL;
		int n = 0;
		if (rml_attack_spec_parse_yaml(text, "fuzz", &list, &n, &err) == RML_OK && n < 1)
			abort();  /* success promises at least one attack */
		free(list);
	} else {
		rml_model *m = NULL;
		rml_model_config cfg = { .arch = text, .n_classes = 3, .adapter_gamma = 0, .seed = 1 };
		if (rml_model_create(&m, &cfg, &err) == RML_OK) {
			int h, w, c;
			rml_model_input_shape(m, &h, &w, &c);
			float *logits;
			size_t nx = (size_t)h * w * c;
			float *x = nx <= (1u << 22) ? calloc(nx, sizeof *x) : NULL;
			if (x && rml_model_reserve(m, 1, 0, &err) == RML_OK &&
			    rml_model_forward(m, x, 1, RML_MODE_EVAL, &logits, &err) != RML_OK)
				abort();  /* a model that was built must run */
			free(x);
			rml_model_free(m);
		}
	}
	free(text);
	return 0;
}
