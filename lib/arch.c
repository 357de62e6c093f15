/*
 * arch.c — reading architectures (see arch.h and rmlops-arch(5)).
 */
#include "arch.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "yamlwalk.h"

static const char *const preset_names[] = { "mvit-xxs", "mvit-tiny", NULL };

static const char preset_mvit_xxs[] =
	"# MobileViT-XXS adapted to 32x32 inputs (about 0.95 M parameters).\n"
	"name: mvit-xxs\n"
	"input: {h: 32, w: 32, c: 3, mean: [125.3, 123.0, 113.9], std: [63.0, 62.1, 66.7]}\n"
	"stem: {out: 16, stride: 2}\n"
	"blocks:\n"
	"  - {type: mv2, out: 16, stride: 1, expand: 2}\n"
	"  - {type: mv2, out: 24, stride: 1, expand: 2}\n"
	"  - {type: mv2, out: 24, stride: 1, expand: 2}\n"
	"  - {type: mv2, out: 24, stride: 1, expand: 2}\n"
	"  - {type: mv2, out: 48, stride: 2, expand: 2}\n"
	"  - {type: mvit, dim: 64, depth: 2, heads: 4}\n"
	"  - {type: mv2, out: 64, stride: 2, expand: 2}\n"
	"  - {type: mvit, dim: 80, depth: 4, heads: 4}\n"
	"  - {type: mv2, out: 80, stride: 1, expand: 2}\n"
	"  - {type: mvit, dim: 96, depth: 3, heads: 4}\n"
	"head: {conv: 320}\n";

static const char preset_mvit_tiny[] =
	"# A very small network of the same kind, for tests.\n"
	"name: mvit-tiny\n"
	"input: {h: 32, w: 32, c: 3, mean: [125.3, 123.0, 113.9], std: [63.0, 62.1, 66.7]}\n"
	"stem: {out: 8, stride: 2}\n"
	"blocks:\n"
	"  - {type: mv2, out: 8, stride: 1, expand: 2}\n"
	"  - {type: mv2, out: 12, stride: 2, expand: 2}\n"
	"  - {type: mvit, dim: 16, depth: 1, heads: 2}\n"
	"head: {conv: 24}\n";

const char *const *rml_arch_presets(void)
{
	return preset_names;
}

const char *rml_arch_preset_yaml(const char *name)
{
	if (strcmp(name, "mvit-xxs") == 0)
		return preset_mvit_xxs;
	if (strcmp(name, "mvit-tiny") == 0)
		return preset_mvit_tiny;
	return NULL;
}

rml_status rml_arch_parse(rml_arch *a, const char *text, rml_error *err)
{
	memset(a, 0, sizeof *a);
	rml_yamlwalk y;
	if (rml_yamlwalk_load(&y, text, "architecture", err)) {
		rml_yamlwalk_free(&y);
		return err ? err->code : RML_ERR_FORMAT;
	}
	yaml_node_t *root = rml_yamlwalk_root(&y);
	y.ctx = root;
	static const char *const top_keys[] = { "name", "input", "stem", "blocks", "head", NULL };
	static const char *const in_keys[] = { "h", "w", "c", "mean", "std", NULL };
	static const char *const stem_keys[] = { "out", "stride", NULL };
	static const char *const head_keys[] = { "conv", NULL };
	static const char *const mv2_keys[] = { "type", "in", "out", "stride", "expand", NULL };
	static const char *const mvit_keys[] = { "type", "channels", "dim", "depth", "heads",
						 "patch", "mlp_ratio", NULL };
	static const char *const any_keys[] = { "type", "in", "out", "stride", "expand", "channels",
						"dim", "depth", "heads", "patch", "mlp_ratio", NULL };
	rml_yamlwalk_pair top[8], in[8], st_[4], hd[4], bk[12];
	int nt = root ? rml_yamlwalk_map(&y, root, "the architecture", top_keys, top, 8) : -1;
	if (!root)
		rml_yamlwalk_fail(&y, NULL, "empty architecture", NULL);
	yaml_node_t *n_in = nt > 0 ? rml_yamlwalk_get(top, nt, "input") : NULL;
	yaml_node_t *n_stem = nt > 0 ? rml_yamlwalk_get(top, nt, "stem") : NULL;
	yaml_node_t *n_blocks = nt > 0 ? rml_yamlwalk_get(top, nt, "blocks") : NULL;
	yaml_node_t *n_head = nt > 0 ? rml_yamlwalk_get(top, nt, "head") : NULL;
	if (!y.bad && (!n_in || !n_stem || !n_blocks || !n_head))
		rml_yamlwalk_fail(&y, root, "the architecture needs input, stem, blocks and head", NULL);
	if (!y.bad) {
		y.ctx = n_in;
		int k = rml_yamlwalk_map(&y, n_in, "input", in_keys, in, 8);
		if (k >= 0 && !rml_yamlwalk_int(&y, rml_yamlwalk_get(in, k, "h"), "input.h", 2, 4096, &a->h) &&
		    !rml_yamlwalk_int(&y, rml_yamlwalk_get(in, k, "w"), "input.w", 2, 4096, &a->w) &&
		    !rml_yamlwalk_int(&y, rml_yamlwalk_get(in, k, "c"), "input.c", 1, 4, &a->c)) {
			for (int i = 0; i < 4; i++) {
				a->mean[i] = 0;
				a->std[i] = 1;
			}
			if (rml_yamlwalk_get(in, k, "mean"))
				rml_yamlwalk_doubles(&y, rml_yamlwalk_get(in, k, "mean"), "input.mean", a->mean, a->c);
			if (!y.bad && rml_yamlwalk_get(in, k, "std"))
				rml_yamlwalk_doubles(&y, rml_yamlwalk_get(in, k, "std"), "input.std", a->std, a->c);
			for (int i = 0; !y.bad && i < a->c; i++)
				if (!(a->std[i] > 0))
					rml_yamlwalk_fail(&y, n_in, "input.std must be positive", NULL);
		}
	}
	if (!y.bad) {
		y.ctx = n_stem;
		int k = rml_yamlwalk_map(&y, n_stem, "stem", stem_keys, st_, 4);
		a->stem_stride = 2;
		if (k >= 0 && !rml_yamlwalk_int(&y, rml_yamlwalk_get(st_, k, "out"), "stem.out", 1, 4096, &a->stem_out) &&
		    rml_yamlwalk_get(st_, k, "stride"))
			rml_yamlwalk_int(&y, rml_yamlwalk_get(st_, k, "stride"), "stem.stride", 1, 2, &a->stem_stride);
	}
	if (!y.bad) {
		y.ctx = n_head;
		int k = rml_yamlwalk_map(&y, n_head, "head", head_keys, hd, 4);
		if (k >= 0)
			rml_yamlwalk_int(&y, rml_yamlwalk_get(hd, k, "conv"), "head.conv", 1, 65536, &a->head_conv);
	}
	if (!y.bad && n_blocks->type != YAML_SEQUENCE_NODE)
		rml_yamlwalk_fail(&y, n_blocks, "blocks must be a list", NULL);
	if (!y.bad) {
		/* Follow the feature-map shape, so a block that does not fit what
		 * comes before it is refused here with its line. */
		int h = (a->h + 2 - 3) / a->stem_stride + 1, w = (a->w + 2 - 3) / a->stem_stride + 1;
		int c = a->stem_out;
		for (yaml_node_item_t *it = n_blocks->data.sequence.items.start;
		     !y.bad && it < n_blocks->data.sequence.items.top; it++) {
			yaml_node_t *bn = rml_yamlwalk_node(&y, *it);
			if (a->n_blocks >= RML_ARCH_MAX_BLOCKS) {
				rml_yamlwalk_fail(&y, bn, "too many blocks (at most 64)", NULL);
				break;
			}
			if (!bn || bn->type != YAML_MAPPING_NODE) {
				rml_yamlwalk_fail(&y, bn, "expected a mapping for ", "a block");
				break;
			}
			y.ctx = bn;
			/* The type decides which keys are allowed: read it first. */
			int k = rml_yamlwalk_map(&y, bn, "a block", any_keys, bk, 12);
			if (k < 0)
				break;
			rml_arch_block *b = &a->blocks[a->n_blocks];
			yaml_node_t *tn = rml_yamlwalk_get(bk, k, "type");
			const char *type = tn && tn->type == YAML_SCALAR_NODE ? (const char *)tn->data.scalar.value : "";
			if (strcmp(type, "mv2") == 0) {
				if (rml_yamlwalk_map(&y, bn, "an mv2 block", mv2_keys, bk, 12) < 0)
					break;
				b->type = RML_ARCH_MV2;
				b->stride = 1;
				b->expand = 2;
				int cin = c;
				if (rml_yamlwalk_get(bk, k, "in") && rml_yamlwalk_int(&y, rml_yamlwalk_get(bk, k, "in"), "mv2.in", 1, 4096, &cin))
					break;
				if (cin != c) {
					char msg[160];
					snprintf(msg, sizeof msg, "mv2.in is %d but the stage before gives %d channels",
						 cin, c);
					rml_yamlwalk_fail(&y, rml_yamlwalk_get(bk, k, "in"), msg, NULL);
					break;
				}
				if (rml_yamlwalk_int(&y, rml_yamlwalk_get(bk, k, "out"), "mv2.out", 1, 4096, &b->out))
					break;
				if (rml_yamlwalk_get(bk, k, "stride") && rml_yamlwalk_int(&y, rml_yamlwalk_get(bk, k, "stride"), "mv2.stride", 1, 2, &b->stride))
					break;
				if (rml_yamlwalk_get(bk, k, "expand") && rml_yamlwalk_int(&y, rml_yamlwalk_get(bk, k, "expand"), "mv2.expand", 1, 16, &b->expand))
					break;
				h = (h + 2 - 3) / b->stride + 1;
				w = (w + 2 - 3) / b->stride + 1;
				c = b->out;
			} else if (strcmp(type, "mvit") == 0) {
				if (rml_yamlwalk_map(&y, bn, "an mvit block", mvit_keys, bk, 12) < 0)
					break;
				b->type = RML_ARCH_MVIT;
				b->heads = 4;
				int cc = c, patch = 2, ratio = 2;
				if (rml_yamlwalk_get(bk, k, "channels") &&
				    rml_yamlwalk_int(&y, rml_yamlwalk_get(bk, k, "channels"), "mvit.channels", 1, 4096, &cc))
					break;
				if (cc != c) {
					char msg[160];
					snprintf(msg, sizeof msg,
						 "mvit.channels is %d but the stage before gives %d channels "
						 "(a mvit block keeps its channel count)", cc, c);
					rml_yamlwalk_fail(&y, rml_yamlwalk_get(bk, k, "channels"), msg, NULL);
					break;
				}
				if (rml_yamlwalk_int(&y, rml_yamlwalk_get(bk, k, "dim"), "mvit.dim", 1, 4096, &b->dim) ||
				    rml_yamlwalk_int(&y, rml_yamlwalk_get(bk, k, "depth"), "mvit.depth", 1, 64, &b->depth))
					break;
				if (rml_yamlwalk_get(bk, k, "heads") && rml_yamlwalk_int(&y, rml_yamlwalk_get(bk, k, "heads"), "mvit.heads", 1, 64, &b->heads))
					break;
				/* Accepted so a description can say what it relies on; the
				 * engine implements only 2x2 patches and a doubling MLP. */
				if (rml_yamlwalk_get(bk, k, "patch") && rml_yamlwalk_int(&y, rml_yamlwalk_get(bk, k, "patch"), "mvit.patch", 2, 2, &patch))
					break;
				if (rml_yamlwalk_get(bk, k, "mlp_ratio") &&
				    rml_yamlwalk_int(&y, rml_yamlwalk_get(bk, k, "mlp_ratio"), "mvit.mlp_ratio", 2, 2, &ratio))
					break;
				if (b->dim % b->heads) {
					char msg[160];
					snprintf(msg, sizeof msg, "mvit.dim %d is not a multiple of mvit.heads %d",
						 b->dim, b->heads);
					rml_yamlwalk_fail(&y, bn, msg, NULL);
				} else if (h % 2 || w % 2) {
					char msg[160];
					snprintf(msg, sizeof msg,
						 "a mvit block needs an even feature-map size for 2x2 patches, "
						 "here %dx%d", h, w);
					rml_yamlwalk_fail(&y, bn, msg, NULL);
				}
			} else {
				rml_yamlwalk_fail(&y, tn ? tn : bn, "block type must be mv2 or mvit", NULL);
			}
			a->n_blocks++;
		}
	}
	if (!y.bad && a->n_blocks == 0)
		rml_yamlwalk_fail(&y, n_blocks, "the architecture has no blocks", NULL);
	rml_yamlwalk_free(&y);
	if (y.bad)
		return err ? err->code : RML_ERR_FORMAT;
	a->yaml = strdup(text);
	return a->yaml ? RML_OK : rml_errorf(err, RML_ERR_NOMEM, "out of memory");
}

void rml_arch_free(rml_arch *a)
{
	free(a->yaml);
	a->yaml = NULL;
}

rml_status rml_arch_text(const char *name, char **owned, const char **yaml, rml_error *err)
{
	*owned = NULL;
	*yaml = name;
	if (rml_arch_preset_yaml(name))
		return RML_OK;
	FILE *fp = fopen(name, "r");
	if (!fp)
		return rml_errorf(err, RML_ERR_IO, "%s: no such preset or file", name);
	enum { MAX = 1 << 20 };
	char *text = calloc(MAX, 1);
	size_t got = text ? fread(text, 1, MAX - 1, fp) : 0;
	int more = text && !feof(fp);
	fclose(fp);
	if (!text || got == 0 || more) {
		free(text);
		return rml_errorf(err, RML_ERR_IO, "%s: cannot read the architecture (empty, unreadable "
				  "or over 1 MiB)", name);
	}
	const char *nul = memchr(text, 0, got);
	if (nul) {
		rml_status st = rml_errorf(err, RML_ERR_FORMAT, "%s: a NUL byte at offset %zu", name,
					   (size_t)(nul - text));
		free(text);
		return st;
	}
	*owned = text;
	*yaml = text;
	return RML_OK;
}
