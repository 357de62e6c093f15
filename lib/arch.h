/*
 * arch.h — the architecture language (rmlops-arch(5)): a network described
 * in YAML, or one of the built-in presets, read into a plain description
 * of its input, stem, blocks and head, every problem reported with its
 * line. The description is checked as far as it can be without building
 * anything (channel counts and feature-map sizes follow the blocks);
 * model.c turns it into a graph. Not here: layers, parameters, running.
 */
#ifndef RML_ARCH_H
#define RML_ARCH_H

#include "rml.h"

#define RML_ARCH_MAX_BLOCKS 64

typedef enum { RML_ARCH_MV2, RML_ARCH_MVIT } rml_arch_block_type;

typedef struct {
	rml_arch_block_type type;
	int out, stride, expand;     /* mv2 */
	int dim, depth, heads;       /* mvit (channels are the input's) */
} rml_arch_block;

typedef struct {
	int h, w, c;
	double mean[4], std[4];
	int stem_out, stem_stride;
	rml_arch_block blocks[RML_ARCH_MAX_BLOCKS];
	int n_blocks;
	int head_conv;
	char *yaml;                  /* the text it was read from, owned */
} rml_arch;

/* Names of the built-in presets, NULL-terminated. */
const char *const *rml_arch_presets(void);
/* The YAML text of a preset, or NULL for an unknown name. */
const char *rml_arch_preset_yaml(const char *name);

/* The YAML text an --arch argument names: a preset's name stays as it is
 * (*yaml = name, *owned = NULL); anything else is a file of at most
 * 1 MiB - 1 bytes read whole into *owned (free it) and *yaml. Errors name
 * the argument: RML_ERR_IO when it is neither a preset nor an openable
 * file, or the file is empty, unreadable or too long; RML_ERR_FORMAT for
 * a NUL byte (YAML text would end there, the rest unread). */
rml_status rml_arch_text(const char *name, char **owned, const char **yaml, rml_error *err);

/* Read an architecture from YAML text into a (which owns a copy of the
 * text afterwards; free it with rml_arch_free). RML_ERR_FORMAT with
 * "architecture, line N: ..." for anything the language does not allow. */
rml_status rml_arch_parse(rml_arch *a, const char *text, rml_error *err);
void rml_arch_free(rml_arch *a);

#endif
