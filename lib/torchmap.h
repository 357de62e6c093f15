/*
 * torchmap.h — an rmlops model to and from the state dict of a PyTorch
 * module saved as safetensors: which PyTorch tensor is which rmlops tensor
 * (the name map), and the layout conversions between the two.
 *
 * Names. By default every rmlops tensor takes the name it has in the
 * project's PyTorch twin of the architecture (scripts/torch_mvit.py,
 * class MViTNet): ".w"/".gamma" become ".weight", ".b"/".beta" ".bias",
 * "transformer.L" becomes "layers.L", "attn." and "mlp." drop out, and
 * adapter unit uN becomes "units.(N-1)" ("adapter.scale" is "scale"); so
 * "blocks.5.transformer.0.attn.qkv.w" is "blocks.5.layers.0.qkv.weight".
 * A map file overrides this for any tensor, one line each:
 *     RMLOPS_NAME  TORCH_NAME [TORCH_NAME...]
 * ('#' starts a comment). Several PyTorch names are concatenated along
 * PyTorch's first dimension (the output features), so a model with
 * separate q, k and v projections maps onto the one qkv weight and bias.
 * A prefix (e.g. "model.") may be put before every PyTorch name.
 *
 * Layouts, PyTorch -> rmlops (the rmlops side in rmlops-arch(5)):
 * convolution [out, in, k, k] -> [k, k, in, out]; depthwise
 * [c, 1, k, k] -> [k, k, c]; linear [out, in] -> [in, out]; vectors and
 * batch-norm running statistics unchanged. PyTorch's
 * "num_batches_tracked" counters have no rmlops counterpart: accepted on
 * import next to their running statistics, not written on export
 * (PyTorch fills them in when a state dict lacks them).
 *
 * Not here: the safetensors bytes (safetensors.h), the model (model.h).
 */
#ifndef RML_TORCHMAP_H
#define RML_TORCHMAP_H

#include <stddef.h>
#include <stdint.h>

#include "model.h"
#include "outbuf.h"
#include "rml.h"
#include "safetensors.h"

typedef struct {
	char *rml;         /* rmlops tensor name */
	char **torch;      /* its PyTorch names, n_torch >= 1 */
	int n_torch;
	int line;          /* in the map file, for messages */
} rml_torch_name;

typedef struct {
	rml_torch_name *e;
	int64_t n;
	char *prefix;      /* before every PyTorch name; NULL for none */
} rml_torch_map;

void rml_torch_map_init(rml_torch_map *m);
void rml_torch_map_free(rml_torch_map *m);
/* Parse a map text (see above). `what` names it in messages ("map.txt,
 * line 3: ..."). A repeated rmlops or PyTorch name is an error. */
rml_status rml_torch_map_parse(rml_torch_map *m, const char *text, const char *what,
			       rml_error *err);
/* Set the prefix (copied; NULL or "" for none). */
rml_status rml_torch_map_set_prefix(rml_torch_map *m, const char *prefix, rml_error *err);

/* The map of a --map file (NULL: none; a text file of at most 1 MiB
 * without NUL bytes, parsed by rml_torch_map_parse) with the prefix
 * (rml_torch_map_set_prefix). RML_ERR_IO naming path when the file is
 * missing, empty, binary or too long. */
rml_status rml_torch_map_load(rml_torch_map *m, const char *path, const char *prefix,
			      rml_error *err);

/* One line per tensor of p[0..n) into o: its rmlops name, its PyTorch
 * name(s) under map (with its prefix; the default name when the map has
 * none for it), and "  # [shape]" in PyTorch's layout; the start of a
 * --map file (rmlops-convert names). */
void rml_torch_names_text(rml_outbuf *o, const rml_param *p, int64_t n, const rml_torch_map *map);

/* The default PyTorch name of an rmlops tensor (rules above), without
 * prefix; truncated to size. */
void rml_torch_default_name(const char *rml_name, char *out, size_t size);

/* The class count and adapter compression a state dict implies for an
 * architecture (preset name or YAML text): the class count is the length
 * of the head's bias; gamma is 0 when the first MobileViT block has no
 * adapter tensors, else its channels over the width of its first adapter
 * unit. RML_ERR_MISMATCH with a message when either cannot be told. */
rml_status rml_torch_infer(const rml_st_file *st, const rml_torch_map *map, const char *arch,
			   int *n_classes, int *gamma, const char *what, rml_error *err);

/* Fill every parameter and buffer of m from st. Refused, with m left
 * partly filled (free it), when a tensor is missing, has another shape
 * than the architecture needs, is not floating point, or when st holds a
 * tensor that no rmlops tensor takes (the message names the first such
 * tensor and counts the others), or the map names an rmlops tensor the
 * architecture does not have. */
rml_status rml_torch_import(rml_model *m, const rml_st_file *st, const rml_torch_map *map,
			    const char *what, rml_error *err);

/* What export's metadata carries beyond the tensors, put back into m:
 * class names ("rmlops.classes") and the calibrator with its rejection
 * rule ("rmlops.calibrator", read with the checks of format.h and
 * calib.h). Keys that are absent are skipped. RML_ERR_FORMAT for a value
 * that does not read. */
rml_status rml_torch_import_meta(rml_model *m, const rml_st_file *st, const char *what,
				 rml_error *err);

/* Append to out the safetensors file of every parameter and buffer of m,
 * float32 in PyTorch layouts under the mapped names (a tensor mapped to
 * several PyTorch names is cut into equal parts along the output
 * features). "__metadata__" carries "format": "pt" and what an import
 * needs to rebuild the model without options: "rmlops.arch_yaml",
 * "rmlops.n_classes", "rmlops.adapter_gamma", "rmlops.classes" (a JSON
 * list, when the model names its classes) and "rmlops.base_hash"; the
 * stored rejection rule ("rmlops.reject_rule", "rmlops.reject_threshold",
 * for people) and, when the model is calibrated, "rmlops.calibrator": the
 * calibrator and its rule as a small .rml container (kind "calibrator",
 * the model file's "calib." keys and tensors) in base64, because a state
 * dict has no place for it and a PyTorch user does not need it.
 * Deterministic: the same model gives the same bytes. */
rml_status rml_torch_export(rml_model *m, const rml_torch_map *map, rml_outbuf *out,
			    rml_error *err);

#endif
