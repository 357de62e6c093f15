/*
 * model_internal.h — what tests, benchmarks and the file tools may ask of
 * a model beyond model.h: its architecture text, the backward-pass trace
 * and a per-operation time profile (RML_PROFILE=1 in the environment).
 */
#ifndef RML_MODEL_INTERNAL_H
#define RML_MODEL_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "model.h"

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
