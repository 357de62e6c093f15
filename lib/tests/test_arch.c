/*
 * test_arch.c — the architecture language (arch.c, rmlops-arch(5)): the
 * presets and a custom description read directly, a description with
 * every optional key accepted by a model, and one test per error, each
 * refused with its line and its own message (through rml_model_create,
 * the way every user meets them; "too large" comes from building the
 * graph).
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "arch.h"
#include "fixtures.h"
#include "model.h"

/* ---- architecture errors: one test each ------------------------------------------ */

/* The YAML must be refused, and the message must contain `says`. */
static void refused_arch(const char *yaml, const char *says)
{
	rml_model *m = NULL;
	rml_model_config c = { yaml, 10, 0, 1 };
	rml_error err = { 0 };
	assert_int_not_equal(rml_model_create(&m, &c, &err), RML_OK);
	assert_null(m);
	if (!strstr(err.msg, says))
		fail_msg("message '%s' does not say '%s'", err.msg, says);
}

#define GOOD_HEAD "input: {h: 32, w: 32, c: 3}\nstem: {out: 8}\n"

static void test_arch_good_custom(void **state)
{
	(void)state;
	/* A description with every optional key, accepted. */
	rml_model *m = NULL;
	rml_model_config c = {
		"name: custom\n"
		"input: {h: 16, w: 24, c: 1, mean: [128], std: [64]}\n"
		"stem: {out: 8, stride: 1}\n"
		"blocks:\n"
		"  - {type: mv2, in: 8, out: 12, stride: 2, expand: 3}\n"
		"  - {type: mvit, channels: 12, dim: 8, depth: 2, heads: 2, patch: 2, mlp_ratio: 2}\n"
		"head: {conv: 16}\n",
		3, 1, 1 };
	rml_error err = { 0 };
	assert_int_equal(rml_model_create(&m, &c, &err), RML_OK);
	int h, w, ch;
	rml_model_input_shape(m, &h, &w, &ch);
	assert_true(h == 16 && w == 24 && ch == 1);
	float x[2 * 16 * 24], *l;
	rml_fx_pixels(x, 2 * 16 * 24, 4);
	assert_int_equal(rml_model_reserve(m, 2, 1, &err), RML_OK);
	assert_int_equal(rml_model_forward(m, x, 2, RML_MODE_TRAIN, &l, &err), RML_OK);
	for (int i = 0; i < 6; i++)
		assert_true(isfinite(l[i]));
	rml_model_free(m);
}

static void test_arch_missing_sections(void **state)
{
	(void)state;
	refused_arch("name: x\n", "line 1: the architecture needs input, stem, blocks and head");
}

static void test_arch_no_blocks(void **state)
{
	(void)state;
	refused_arch(GOOD_HEAD "blocks: []\nhead: {conv: 8}\n", "line 3: the architecture has no blocks");
}

static void test_arch_negative_channels(void **state)
{
	(void)state;
	refused_arch(GOOD_HEAD "blocks:\n  - {type: mv2, out: -4}\nhead: {conv: 8}\n",
		     "line 4: '-4' for mv2.out must be a whole number from 1 to 4096");
}

static void test_arch_not_a_number(void **state)
{
	(void)state;
	refused_arch(GOOD_HEAD "blocks:\n  - {type: mvit, dim: 8.5, depth: 1}\nhead: {conv: 8}\n",
		     "'8.5' for mvit.dim must be a whole number");
}

static void test_arch_unknown_block_type(void **state)
{
	(void)state;
	refused_arch(GOOD_HEAD "blocks:\n  - {type: conv, out: 4}\nhead: {conv: 8}\n",
		     "line 4: block type must be mv2 or mvit");
}

static void test_arch_unknown_key(void **state)
{
	(void)state;
	refused_arch("input: {h: 32, w: 32, c: 3}\nstem: {out: 8, colour: red}\n"
		     "blocks:\n  - {type: mv2, out: 4}\nhead: {conv: 8}\n",
		     "line 2: unknown key 'colour' in stem");
}

static void test_arch_key_of_other_block_type(void **state)
{
	(void)state;
	refused_arch(GOOD_HEAD "blocks:\n  - {type: mv2, out: 8, depth: 2}\nhead: {conv: 8}\n",
		     "line 4: unknown key 'depth' in an mv2 block");
}

static void test_arch_duplicate_key(void **state)
{
	(void)state;
	refused_arch(GOOD_HEAD "blocks:\n  - {type: mv2, out: 8, out: 16}\nhead: {conv: 8}\n",
		     "key 'out' appears twice");
}

static void test_arch_missing_key(void **state)
{
	(void)state;
	refused_arch(GOOD_HEAD "blocks:\n  - {type: mv2, out: 8}\n  - {type: mvit, dim: 16}\n"
		     "head: {conv: 8}\n", "line 5: missing mvit.depth");
}

static void test_arch_odd_size_for_unfold(void **state)
{
	(void)state;
	refused_arch("input: {h: 30, w: 30, c: 3}\nstem: {out: 8}\nblocks:\n"
		     "  - {type: mvit, dim: 8, depth: 1}\nhead: {conv: 8}\n",
		     "line 4: a mvit block needs an even feature-map size for 2x2 patches, here 15x15");
}

static void test_arch_heads_do_not_divide(void **state)
{
	(void)state;
	refused_arch(GOOD_HEAD "blocks:\n  - {type: mvit, dim: 10, depth: 1, heads: 4}\nhead: {conv: 8}\n",
		     "mvit.dim 10 is not a multiple of mvit.heads 4");
}

static void test_arch_channel_mismatch_mv2(void **state)
{
	(void)state;
	refused_arch(GOOD_HEAD "blocks:\n  - {type: mv2, out: 16}\n  - {type: mv2, in: 24, out: 24}\n"
		     "head: {conv: 8}\n", "line 5: mv2.in is 24 but the stage before gives 16 channels");
}

static void test_arch_channel_mismatch_mvit(void **state)
{
	(void)state;
	refused_arch(GOOD_HEAD "blocks:\n  - {type: mvit, channels: 48, dim: 16, depth: 1}\n"
		     "head: {conv: 8}\n", "mvit.channels is 48 but the stage before gives 8 channels");
}

static void test_arch_unsupported_patch(void **state)
{
	(void)state;
	refused_arch(GOOD_HEAD "blocks:\n  - {type: mvit, dim: 16, depth: 1, patch: 4}\nhead: {conv: 8}\n",
		     "'4' for mvit.patch must be a whole number from 2 to 2");
}

static void test_arch_bad_std(void **state)
{
	(void)state;
	refused_arch("input: {h: 32, w: 32, c: 3, std: [1, 0, 1]}\nstem: {out: 8}\nblocks:\n"
		     "  - {type: mv2, out: 4}\nhead: {conv: 8}\n", "input.std must be positive");
}

static void test_arch_mean_count(void **state)
{
	(void)state;
	refused_arch("input: {h: 32, w: 32, c: 3, mean: [1, 2]}\nstem: {out: 8}\nblocks:\n"
		     "  - {type: mv2, out: 4}\nhead: {conv: 8}\n", "input.mean must be a list of 3 numbers");
}

static void test_arch_bad_stride(void **state)
{
	(void)state;
	refused_arch("input: {h: 32, w: 32, c: 3}\nstem: {out: 8, stride: 3}\nblocks:\n"
		     "  - {type: mv2, out: 4}\nhead: {conv: 8}\n",
		     "line 2: '3' for stem.stride must be a whole number from 1 to 2");
}

static void test_arch_invalid_yaml(void **state)
{
	(void)state;
	refused_arch("input: [unclosed\n", "architecture, line 2");
}

static void test_arch_not_a_mapping(void **state)
{
	(void)state;
	refused_arch("- just\n- a list\n", "expected a mapping for the architecture");
}

static void test_arch_too_large(void **state)
{
	(void)state;
	refused_arch("input: {h: 4096, w: 4096, c: 3}\nstem: {out: 4096, stride: 1}\nblocks:\n"
		     "  - {type: mv2, out: 4096, expand: 16}\nhead: {conv: 8}\n", "too large");
}

static void test_arch_unknown_preset(void **state)
{
	(void)state;
	rml_model *m = NULL;
	rml_model_config c = { "mvit-xs", 10, 0, 1 };
	rml_error err = { 0 };
	assert_int_equal(rml_model_create(&m, &c, &err), RML_ERR_ARG);
	assert_non_null(strstr(err.msg, "unknown architecture 'mvit-xs'"));
	/* The presets themselves parse, and are listed. */
	const char *const *names = rml_model_presets();
	int n = 0;
	for (; names[n]; n++)
		assert_non_null(rml_model_preset_yaml(names[n]));
	assert_int_equal(n, 2);
	assert_null(rml_model_preset_yaml("mvit-xs"));
}


/* The presets and a custom description read directly: what the
 * description says, and the text kept. */
static void test_arch_parse_direct(void **state)
{
	(void)state;
	rml_arch a;
	rml_error err = { 0 };
	for (const char *const *n = rml_arch_presets(); *n; n++) {
		assert_int_equal(rml_arch_parse(&a, rml_arch_preset_yaml(*n), &err), RML_OK);
		assert_true(a.n_blocks > 0 && a.h == 32 && a.w == 32 && a.c == 3);
		assert_string_equal(a.yaml, rml_arch_preset_yaml(*n));
		rml_arch_free(&a);
	}
	assert_int_equal(rml_arch_parse(&a, GOOD_HEAD "blocks:\n  - {type: mv2, out: 12, stride: 2}\n"
					"  - {type: mvit, dim: 16, depth: 3}\nhead: {conv: 20}\n", &err),
			 RML_OK);
	assert_int_equal(a.stem_out, 8);
	assert_int_equal(a.stem_stride, 2);
	assert_int_equal(a.n_blocks, 2);
	assert_int_equal(a.blocks[0].type, RML_ARCH_MV2);
	assert_int_equal(a.blocks[0].out, 12);
	assert_int_equal(a.blocks[0].expand, 2);
	assert_int_equal(a.blocks[1].type, RML_ARCH_MVIT);
	assert_int_equal(a.blocks[1].depth, 3);
	assert_int_equal(a.blocks[1].heads, 4);
	assert_int_equal(a.head_conv, 20);
	assert_true(a.mean[0] == 0 && a.std[2] == 1);
	rml_arch_free(&a);
	assert_int_equal(rml_arch_parse(&a, "- 1\n- 2\n", &err), RML_ERR_FORMAT);
	assert_non_null(strstr(err.msg, "architecture, line 1: expected a mapping for the architecture"));
}

static void write_file(const char *path, const char *bytes, size_t n)
{
	FILE *fp = fopen(path, "wb");
	assert_non_null(fp);
	assert_int_equal(fwrite(bytes, 1, n, fp), n);
	assert_int_equal(fclose(fp), 0);
}

/* --arch: a preset stays a name; a file is read whole; a missing, empty
 * or NUL-holding file is refused with its name in the message. */
static void test_arch_text(void **state)
{
	(void)state;
	rml_error err = { 0 };
	char *owned;
	const char *yaml;
	assert_int_equal(rml_arch_text("mvit-tiny", &owned, &yaml, &err), RML_OK);
	assert_null(owned);
	assert_string_equal(yaml, "mvit-tiny");
	char dir[] = "/tmp/test_arch_XXXXXX", path[64];
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof path, "%s/a.yaml", dir);
	const char *text = rml_arch_preset_yaml("mvit-tiny");
	write_file(path, text, strlen(text));
	assert_int_equal(rml_arch_text(path, &owned, &yaml, &err), RML_OK);
	assert_ptr_equal(owned, yaml);
	assert_string_equal(yaml, text);
	free(owned);
	write_file(path, "", 0);
	assert_int_equal(rml_arch_text(path, &owned, &yaml, &err), RML_ERR_IO);
	assert_null(owned);
	assert_non_null(strstr(err.msg, path));
	write_file(path, "arch: mvit\n\0junk\n", 16);
	assert_int_equal(rml_arch_text(path, &owned, &yaml, &err), RML_ERR_FORMAT);
	assert_null(owned);
	assert_non_null(strstr(err.msg, "NUL byte at offset 11"));
	remove(path);
	assert_int_equal(rml_arch_text(path, &owned, &yaml, &err), RML_ERR_IO);
	assert_non_null(strstr(err.msg, "no such preset or file"));
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_arch_good_custom),
		cmocka_unit_test(test_arch_missing_sections),
		cmocka_unit_test(test_arch_no_blocks),
		cmocka_unit_test(test_arch_negative_channels),
		cmocka_unit_test(test_arch_not_a_number),
		cmocka_unit_test(test_arch_unknown_block_type),
		cmocka_unit_test(test_arch_unknown_key),
		cmocka_unit_test(test_arch_key_of_other_block_type),
		cmocka_unit_test(test_arch_duplicate_key),
		cmocka_unit_test(test_arch_missing_key),
		cmocka_unit_test(test_arch_odd_size_for_unfold),
		cmocka_unit_test(test_arch_heads_do_not_divide),
		cmocka_unit_test(test_arch_channel_mismatch_mv2),
		cmocka_unit_test(test_arch_channel_mismatch_mvit),
		cmocka_unit_test(test_arch_unsupported_patch),
		cmocka_unit_test(test_arch_bad_std),
		cmocka_unit_test(test_arch_mean_count),
		cmocka_unit_test(test_arch_bad_stride),
		cmocka_unit_test(test_arch_invalid_yaml),
		cmocka_unit_test(test_arch_not_a_mapping),
		cmocka_unit_test(test_arch_too_large),
		cmocka_unit_test(test_arch_unknown_preset),
		cmocka_unit_test(test_arch_parse_direct),
		cmocka_unit_test(test_arch_text),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
