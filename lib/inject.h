/*
 * inject.h — fault injection into float32 weights: which weights are hit
 * (a fraction of tensors, a fraction of weights, every bit with a
 * probability, or the weights with the largest gradients) and what the
 * fault does to each (bit flip, stuck-at-0/1, zero, random value).
 *
 * Faults are applied in place and logged, so a caller can evaluate a
 * faulty model and undo the faults exactly (rml_inject_undo) instead of
 * copying the whole model for each of many repetitions. Selection and
 * fault values come only from the rml_rng passed in.
 *
 * Not here: which tensors of a model are targets (the caller builds the
 * target list from model parameter groups or name patterns), gradients
 * (the caller passes scores for grad-topk), evaluation.
 */
#ifndef RML_INJECT_H
#define RML_INJECT_H

#include <stdint.h>

#include "rml.h"

typedef enum {
	RML_FAULT_BITFLIP = 0,  /* invert one bit */
	RML_FAULT_STUCK0,       /* force one bit to 0 (may leave the value unchanged) */
	RML_FAULT_STUCK1,       /* force one bit to 1 (may leave the value unchanged) */
	RML_FAULT_ZERO,         /* the weight becomes +0 */
	RML_FAULT_RANDOM,       /* the weight becomes uniform in [min, max] of its tensor */
	RML_FAULT_MODEL_COUNT
} rml_fault_model;

typedef enum {
	RML_FAULT_UNIT_TENSOR = 0, /* round(rate * tensors) tensors, one weight each */
	RML_FAULT_UNIT_WEIGHT,     /* round(rate * weights) distinct weights */
	RML_FAULT_UNIT_BER,        /* every allowed bit independently with probability rate */
	RML_FAULT_UNIT_GRAD_TOPK,  /* the round(rate * weights) weights of largest score */
	RML_FAULT_UNIT_COUNT
} rml_fault_unit;

/* Bit positions of an IEEE-754 binary32 value (bit 31 = sign). */
#define RML_BITS_ANY 0xffffffffu
#define RML_BITS_SIGN 0x80000000u
#define RML_BITS_EXPONENT 0x7f800000u
#define RML_BITS_MANTISSA 0x007fffffu

typedef struct {
	rml_fault_model model;
	rml_fault_unit unit;
	double rate;        /* fraction, or bit error probability for BER */
	uint32_t bits;      /* allowed bit positions (mask), never 0 */
} rml_fault_spec;

/* One fault as it happened: enough to log it and to undo it. */
typedef struct {
	int32_t tensor;     /* index into the target list */
	int64_t index;      /* element inside the tensor */
	int8_t bit;         /* bit position, -1 for ZERO and RANDOM */
	float old_value, new_value;
} rml_fault;

/* A growable list of faults (grown outside any inner loop). */
typedef struct {
	rml_fault *v;
	int64_t n, cap;
} rml_fault_log;

typedef struct {
	const char *name;
	float *data;
	int64_t n;
	const float *score; /* |gradient| or any importance, for GRAD_TOPK; else NULL */
} rml_fault_target;

/* Parse "bitflip", "stuck0", "stuck1", "zero", "random" / "tensor",
 * "weight", "ber", "grad-topk" / "any", "sign", "exponent", "mantissa" or
 * a comma list of bit positions "0,23,30". */
rml_status rml_fault_model_parse(const char *s, rml_fault_model *out, rml_error *err);
rml_status rml_fault_unit_parse(const char *s, rml_fault_unit *out, rml_error *err);
rml_status rml_fault_bits_parse(const char *s, uint32_t *out, rml_error *err);
const char *rml_fault_model_name(rml_fault_model m);
const char *rml_fault_unit_name(rml_fault_unit u);

void rml_fault_log_init(rml_fault_log *l);
void rml_fault_log_free(rml_fault_log *l);
/* How many bits the faults of l changed in all (a stuck-at fault on a bit
 * already at its value changes none; ZERO and RANDOM count every bit that
 * differs). */
int64_t rml_fault_log_bits_changed(const rml_fault_log *l);

/* Apply faults per spec to the targets, appending each to log (which is
 * cleared first). GRAD_TOPK needs a score on every target. Fails without
 * touching anything on bad arguments (rate outside [0,1], no targets,
 * BER with ZERO or RANDOM, empty bit mask). */
rml_status rml_inject(const rml_fault_spec *spec, rml_fault_target *t, int n_targets,
		      rml_rng *rng, rml_fault_log *log, rml_error *err);

/* Restore the values a log changed, newest first, so overlapping faults
 * undo exactly. */
void rml_inject_undo(rml_fault_target *t, const rml_fault_log *log);

/* Number of bits that differ between two float arrays (for tests and the
 * fault report). */
int64_t rml_bits_differ(const float *a, const float *b, int64_t n);

#endif
