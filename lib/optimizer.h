/*
 * optimizer.h — first-order optimisers over plain float vectors: SGD with
 * momentum (optionally Nesterov) and AdamW (decoupled weight decay), and
 * the cosine learning-rate schedule with linear warm-up. The state is one
 * block the size of the model's parameter block, saved in checkpoints.
 */
#ifndef RML_OPTIMIZER_H
#define RML_OPTIMIZER_H

#include <stdint.h>

#include "format.h"
#include "rml.h"

typedef enum { RML_OPT_SGD = 0, RML_OPT_ADAMW = 1 } rml_opt_kind;

typedef struct {
	rml_opt_kind kind;
	float momentum;     /* SGD */
	int nesterov;       /* SGD */
	float beta1, beta2, eps;  /* AdamW */
	int64_t n;
	float *m, *v;       /* state, n each (v only for AdamW) */
	int64_t step;       /* completed steps */
} rml_optim;

rml_status rml_optim_init(rml_optim *o, rml_opt_kind kind, int64_t n, rml_error *err);
void rml_optim_free(rml_optim *o);
/* Start a step (advances the bias-correction counter). */
void rml_optim_begin(rml_optim *o);
/* Update p[0..len) from g with the state at [off, off+len): learning rate
 * lr, decoupled weight decay wd (0 for norms and biases). */
void rml_optim_update(rml_optim *o, float *p, const float *g, int64_t off, int64_t len,
		      float lr, float wd);
/* Learning rate at step t of total with warm-up steps: linear warm-up,
 * then half a cosine down to 0. */
double rml_lr_cosine(double base, int64_t t, int64_t warmup, int64_t total);

/* Save and restore the state as tensors "optim.m", "optim.v" and keys
 * "optim.kind", "optim.step". */
rml_status rml_optim_to_file(const rml_optim *o, rml_file *f, rml_error *err);
rml_status rml_optim_from_file(rml_optim *o, const rml_file *f, rml_error *err);

#endif
