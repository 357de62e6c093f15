/*
 * model_internal.h — the inside of a model, shared by the graph (model.c)
 * and the model file (model_file.c): tensors, operations, parameter
 * descriptions and struct rml_model. Also what tests, benchmarks and the
 * file tools may ask of a model beyond model.h: its architecture text,
 * the backward-pass trace and a per-operation time profile (RML_PROFILE=1
 * in the environment). Nothing outside lib/ and lib/tests/ includes it.
 */
#ifndef RML_MODEL_INTERNAL_H
#define RML_MODEL_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "arch.h"
#include "model.h"

typedef enum {
	OP_NORM, OP_CONV, OP_DW, OP_BN, OP_SILU, OP_ADD, OP_CONCAT, OP_UNFOLD, OP_FOLD,
	OP_LN, OP_LINEAR, OP_ATTN, OP_GAP, OP_CHSCALE,
	OP_BN_SILU,         /* batch norm and SiLU fused: the norm's output is not stored */
	OP_COUNT
} op_kind;

typedef struct {
	int64_t per_img;    /* floats per image (0: fixed size) */
	int64_t fixed;      /* floats when per_img == 0 */
	int64_t h, w, c;    /* geometry (rows = n*h*w) */
	float *data, *grad;
	int needs_grad;
	int touched;
} tensor;

typedef struct {
	op_kind kind;
	int in, in2, out;
	int p[2];           /* parameter indices, -1 none */
	int buf[2];         /* buffer indices */
	int save[2];        /* tensors saved for backward */
	int k, stride, pad, heads;
	int64_t cin, cout;  /* channels */
	int run;            /* executed in the last backward (for tests) */
} op;

typedef struct {
	char *name;
	rml_group group;
	int ndim;
	int64_t dims[4];
	int64_t numel;
	int init;           /* INIT_* */
	int64_t fan;
} pdesc;

enum { INIT_ONE, INIT_ZERO, INIT_CONV, INIT_LINEAR, INIT_UNIFORM_FANIN, INIT_BIAS_FANIN };

struct rml_model {
	rml_arch a;
	int n_classes, gamma;
	char **class_names;
	uint64_t seed;
	tensor *t;
	int n_t;
	op *ops;
	int n_ops;
	pdesc *pd;
	int n_p;
	rml_param *params;
	float *pblock, *gblock;
	pdesc *bd;
	int n_b;
	rml_param *buffers;
	float *bblock;
	int64_t group_off[RML_GROUP_COUNT + 1];
	int64_t max_batch;
	int with_grad;
	float *arena, *garena, *ws;
	int64_t arena_floats, garena_floats;
	unsigned trainable;
	int input_grad;
	rml_mode last_mode;
	int64_t last_n;
	int logits_t;
	double flops;
	int profile;
	double prof_time[OP_COUNT][2];   /* seconds, forward and backward */
	int64_t prof_calls[OP_COUNT][2];
	rml_file carried;                /* "calib." and "coact." keys and tensors, see model.h */
};

const char *rml_model_arch_yaml(const rml_model *m);
int rml_model_adapter_gamma(const rml_model *m);
/* Operations the last backward pass executed, and all operations. */
int rml_model_backward_ops_run(const rml_model *m);
int rml_model_n_ops(const rml_model *m);
/* Bytes of the activation and activation-gradient arenas now reserved
 * (without gradients, activations share memory where lifetimes allow). */
void rml_model_arena_bytes(const rml_model *m, int64_t *activations, int64_t *gradients);
/* Seconds spent per kind of operation, forward and backward. */
void rml_model_profile_report(const rml_model *m, char *buf, size_t size);

#endif
