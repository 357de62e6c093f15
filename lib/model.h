/*
 * model.h — networks as data: an architecture (YAML or a built-in preset)
 * becomes a list of layer operations over one parameter block, one
 * gradient block and one activation arena, run forward and backward with
 * the kernels of kernels.h.
 *
 * Parameter groups (seed paper §3): THETA the frozen base, OMEGA the
 * meta-adapter units (tuned only by meta-optimisation), PHI the adapter
 * unit and its channel scale (tuned by fine-tuning, inner loops and
 * test-time adaptation), W the classification head. Parameters are laid
 * out group by group, so each group is one contiguous range of the block
 * (an optimiser or an evolution strategy works on a plain float vector).
 * Batch-norm running statistics are buffers of THETA, kept apart from the
 * parameters.
 *
 * Inputs are images as floats in pixel units [0,255], NHWC; normalisation
 * (per-channel mean/std, stored in the model) is the first operation, so
 * attacks work in pixel units and input gradients are in pixel units.
 *
 * Not here: losses beyond softmax cross-entropy, training steps
 * (train.h), optimisers (optimizer.h),
 * datasets (dataset.h).
 */
#ifndef RML_MODEL_H
#define RML_MODEL_H

#include <stdint.h>

#include "dataset.h"
#include "format.h"
#include "rml.h"

typedef enum {
	RML_GROUP_THETA = 0,
	RML_GROUP_OMEGA = 1,
	RML_GROUP_PHI = 2,
	RML_GROUP_W = 3,
	RML_GROUP_COUNT
} rml_group;

#define RML_GROUP_BIT(g) (1u << (g))
#define RML_GROUPS_ALL 0xfu

/* "theta", "omega", "phi", "W". */
const char *rml_group_name(rml_group g);
/* Parse a comma list like "phi,W" (also "all", "adapters" = omega,phi,
 * "base" = theta) into a mask. */
rml_status rml_group_mask_parse(const char *s, unsigned *mask, rml_error *err);

typedef struct {
	const char *name;   /* e.g. "mvit.1.transformer.0.attn.qkv.w" */
	rml_group group;
	int ndim;
	int64_t dims[4];
	int64_t numel;
	int64_t offset;     /* into the parameter block (floats) */
	float *data;        /* = params + offset */
	float *grad;        /* = grads + offset */
} rml_param;

typedef struct rml_model rml_model;

typedef struct {
	const char *arch;   /* preset name ("mvit-xxs", "mvit-tiny") or YAML text */
	int n_classes;
	int adapter_gamma;  /* 0: no adapters; 1, 2, 4, 8: channel compression */
	uint64_t seed;      /* initialisation */
} rml_model_config;

/* Names of the built-in presets, NULL-terminated. */
const char *const *rml_model_presets(void);
/* The YAML text of a preset (for the man page and `rmlops-info`). */
const char *rml_model_preset_yaml(const char *name);

/* Build a freshly initialised model (He/Kaiming-uniform like PyTorch's
 * defaults; adapters initialised so the adapted model computes exactly what
 * the base model computes). */
rml_status rml_model_create(rml_model **m, const rml_model_config *cfg, rml_error *err);
void rml_model_free(rml_model *m);

/* Add adapters (gamma 1,2,4,8) to a model that has none; same guarantee of
 * an unchanged function. */
rml_status rml_model_add_adapters(rml_model *m, int gamma, uint64_t seed, rml_error *err);
/* Replace the head by a fresh one for n_classes (a task change). */
rml_status rml_model_reset_head(rml_model *m, int n_classes, uint64_t seed, rml_error *err);

/* ---- files ----------------------------------------------------------------
 * A model file (kind "model") holds the architecture YAML, class count and
 * names, normalisation, every parameter and buffer. An adapter file (kind
 * "adapters") holds the OMEGA and PHI groups (and W when asked) and
 * "adapters.base_hash", the content hash of the THETA group it belongs to. */
rml_status rml_model_from_file(rml_model **m, const rml_file *f, rml_error *err);
rml_status rml_model_to_file(const rml_model *m, rml_file *f, rml_error *err);
rml_status rml_model_adapters_to_file(const rml_model *m, int with_head, rml_file *f,
				      rml_error *err);
/* Refused (RML_ERR_MISMATCH) when the base hash or the shapes differ. */
rml_status rml_model_load_adapters(rml_model *m, const rml_file *f, rml_error *err);
/* SHA-256 (hex) over the THETA parameters and buffers: names, shapes, bytes. */
void rml_model_base_hash(const rml_model *m, char hex[65]);

/* ---- introspection -------------------------------------------------------- */
int rml_model_n_classes(const rml_model *m);
int rml_model_has_adapters(const rml_model *m);
/* Class names (may be NULL when unnamed); n_classes entries. */
const char *const *rml_model_class_names(const rml_model *m);
rml_status rml_model_set_class_names(rml_model *m, const char *const *names, int n,
				     rml_error *err);
/* Input geometry the model expects (32, 32, 3 for mvit-xxs). */
void rml_model_input_shape(const rml_model *m, int *h, int *w, int *c);
int64_t rml_model_n_params(const rml_model *m, unsigned group_mask);
/* All parameters, in block order. */
rml_param *rml_model_params(rml_model *m, int64_t *n);
/* The contiguous range of one group: [*offset, *offset + *count). */
void rml_model_group_range(const rml_model *m, rml_group g, int64_t *offset, int64_t *count);
float *rml_model_param_block(rml_model *m);   /* all parameters */
float *rml_model_grad_block(rml_model *m);    /* their gradients */
/* Buffers (batch-norm running statistics): a list like the parameters. */
rml_param *rml_model_buffers(rml_model *m, int64_t *n);
/* Forward multiply–adds per image, for benchmarks. */
double rml_model_flops(const rml_model *m);

/* ---- running ---------------------------------------------------------------- */

/* Size the activation arena for batches of up to max_batch; with_grad also
 * sizes what backward needs. Called again with a larger batch it grows;
 * never called inside a loop by the library itself. */
rml_status rml_model_reserve(rml_model *m, int64_t max_batch, int with_grad, rml_error *err);

/* Which groups receive gradients in backward (default none). */
void rml_model_set_trainable(rml_model *m, unsigned group_mask);

typedef enum {
	RML_MODE_EVAL = 0,   /* batch norm uses running statistics */
	RML_MODE_TRAIN = 1,  /* batch statistics, running statistics updated */
} rml_mode;

/* Forward x [n,h,w,c] floats in [0,255] to logits [n, n_classes]
 * (pointer into the arena, valid until the next forward). n must not
 * exceed the reserved batch. */
rml_status rml_model_forward(rml_model *m, const float *x, int64_t n, rml_mode mode,
			     float **logits, rml_error *err);
/* Same from uint8 images. */
rml_status rml_model_forward_u8(rml_model *m, const uint8_t *x, int64_t n, rml_mode mode,
				float **logits, rml_error *err);

/* Backward of the last forward from dlogits [n, n_classes]: accumulates
 * (+=) into the gradients of the trainable groups, and into dx [n,h,w,c]
 * (pixel units) when dx is not NULL. Stops as early as the trainable
 * groups and dx allow (with only PHI and W trainable and no dx, the
 * backward pass ends at the first adapter). */
rml_status rml_model_backward(rml_model *m, const float *dlogits, float *dx, rml_error *err);

/* Zero the gradients of the trainable groups. */
void rml_model_zero_grad(rml_model *m);

/* Class probabilities (softmax of the logits, no calibrator) of the model
 * for every image of d into probs [d->n, n_classes], in batches of
 * `batch`, eval mode; reserves the model for `batch`. RML_ERR_MISMATCH
 * when the images are not the model's shape. */
rml_status rml_model_predict(rml_model *m, const rml_dataset *d, int64_t batch, float *probs,
			     rml_error *err);

/* ---- what the model carries for others -------------------------------------
 * Keys and tensors whose names begin with "calib." belong to the
 * calibration module (calib_model.h: the calibrator and the rejection
 * rule chosen with it), those beginning with "coact." to the
 * co-activation statistics (coact.h). The model keeps them as they were read or set,
 * writes them into its file after its own, and keeps them through new
 * adapters and a new head; it never reads them. After changing the
 * model's function they describe the model they were fitted on. */

/* The carried keys and tensors: a file that holds only those (never NULL;
 * valid until they are replaced or the model freed). */
const rml_file *rml_model_carried(const rml_model *m);
/* Replace them by copies of the keys and tensors of part whose names begin
 * with "calib." or "coact.", in part's order (NULL: none). RML_ERR_NOMEM leaves the
 * old ones. */
rml_status rml_model_set_carried(rml_model *m, const rml_file *part, rml_error *err);

#endif
