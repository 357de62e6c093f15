/*
 * optimizer.h — first-order optimisers over plain float vectors: SGD with
 * momentum (optionally Nesterov) and AdamW, and the cosine learning-rate
 * schedule with linear warm-up. The state is one block the size of the
 * model's parameter block, addressed by each parameter's offset, and
 * travels in checkpoints. Not here: which parameters train, or the loss
 * (rmlops-train and model.h decide those).
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

/* The optimiser a name on a command line means, "sgd" or "adamw" (the
 * names rmlops-train and rmlops-tta share): 0 and *kind set, or -1 for
 * any other name. */
int rml_optim_kind_parse(const char *name, rml_opt_kind *kind);

/* Set up an optimiser of kind over n parameters with zeroed state and the
 * usual hyperparameters (momentum 0.9, no Nesterov; beta 0.9/0.999, eps
 * 1e-8), which the caller may change before the first step. Fails only
 * when memory runs out. */
rml_status rml_optim_init(rml_optim *o, rml_opt_kind kind, int64_t n, rml_error *err);
/* Release the state; the struct may be zeroed or initialised before. */
void rml_optim_free(rml_optim *o);
/* Start a step: call once per step before the updates of that step
 * (advances the AdamW bias-correction counter). */
void rml_optim_begin(rml_optim *o);
/* Update p[0..len) from its gradient g[0..len), using the state at
 * [off, off+len) of the block, with learning rate lr and weight decay wd
 * (pass 0 for norms and biases). SGD follows PyTorch's SGD (dampening 0):
 * the decay is added to the gradient (L2), buf = mu*buf + g, and the step
 * is g + mu*buf with Nesterov, buf without. AdamW decays the weight
 * directly, p -= lr*wd*p, before the Adam step with bias correction
 * (Loshchilov & Hutter, ICLR 2019). Non-finite gradients propagate; the
 * caller checks its loss. */
void rml_optim_update(rml_optim *o, float *p, const float *g, int64_t off, int64_t len,
		      float lr, float wd);
/* Learning rate at step t (from 0) of total steps: linear warm-up over the
 * first warmup steps to base (base*(t+1)/warmup), then half a cosine from
 * base down to 0 at step total; 0 after total. */
double rml_lr_cosine(double base, int64_t t, int64_t warmup, int64_t total);

/* Save the state into f as tensors "optim.m" (and "optim.v" for AdamW)
 * f32 [n] and keys "optim.kind" ("sgd" | "adamw"), "optim.step",
 * "optim.momentum", "optim.nesterov", "optim.beta1", "optim.beta2",
 * "optim.eps". Fails only when memory runs out. */
rml_status rml_optim_to_file(const rml_optim *o, rml_file *f, rml_error *err);
/* Restore a state saved by rml_optim_to_file into o, which was set up
 * with the same kind and n: a different kind or size, a missing or
 * malformed kind, step or state tensor, or hyperparameters out of range
 * fail with a message and leave o unchanged. The hyperparameter keys are
 * optional (states saved before they were): absent, o keeps its own. */
rml_status rml_optim_from_file(rml_optim *o, const rml_file *f, rml_error *err);

#endif
