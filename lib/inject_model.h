/*
 * inject_model.h — fault injection applied to a model: choosing the target
 * tensors (parameter groups or name patterns), gradient scores for
 * grad-topk placement, and repeated inject–evaluate–undo runs that never
 * copy the model. Used by rmlops-inject and rmlops-eval --repeat.
 */
#ifndef RML_INJECT_MODEL_H
#define RML_INJECT_MODEL_H

#include <stdint.h>

#include "dataset.h"
#include "format.h"
#include "inject.h"
#include "model.h"
#include "outbuf.h"

typedef struct {
	rml_fault_target *t;
	int n;
	int64_t total;      /* weights over all targets */
	float *scores;      /* one block for grad-topk scores, or NULL */
} rml_fault_targets;

/* Targets from a comma list of group names (theta, omega, phi, W,
 * adapters, base, all), "kernels", and tensor-name patterns (fnmatch: *
 * and ?). A group counts every parameter tensor of it: theta, the
 * default, is every tensor of the base model as a framework's parameter
 * list has it (convolution and linear kernels, biases, batch-norm and
 * layer-norm scales and shifts, the adapters' channel scales belong to
 * omega/phi); "kernels" is the multi-dimensional tensors of theta only
 * (standard, pointwise and depthwise convolution kernels, linear
 * weights). Batch-norm running statistics are buffers, never targets. A
 * pattern that matches nothing, or a selection that is empty (e.g. phi on
 * a model without adapters), is an error. */
rml_status rml_fault_targets_select(rml_fault_targets *tg, rml_model *m, const char *what,
				    rml_error *err);
void rml_fault_targets_free(rml_fault_targets *tg);

/* |d loss / d w| summed over the dataset (cross-entropy, eval-mode batch
 * norm), stored as each target's score. */
rml_status rml_fault_targets_grad_scores(rml_fault_targets *tg, rml_model *m,
					 const rml_dataset *d, int64_t batch, rml_error *err);

/* What the faults did to each image, as the fault-injection literature
 * counts it: masked (the same top-1 as the fault-free model, clean[i]),
 * silent data corruption (a different top-1 from a finite output), or
 * detected (a NaN or infinite output, which a runtime can notice). The
 * three rates over the n images add up to 1. */
void rml_fault_outcomes(const float *probs, const int32_t *clean, int64_t n, int64_t k,
			double *masked, double *sdc, double *detected);

/* n_rep independent injections (repetition r uses rml_rng_seed_stream(seed,
 * r)), each evaluated on d and undone. Per repetition: accuracy into
 * acc[r] and silent data corruption rate into sdc[r] (share of the clean
 * model's correct predictions that become wrong), either may be NULL.
 * clean: the fault-free model's top-1 predictions on d, or NULL to compute
 * them here. detected[r] (may be NULL): the rate of detected outcomes
 * (rml_fault_outcomes). Accuracy and SDC rate count the labelled images
 * only (label >= 0), as ACC1 does; a non-finite output counts as wrong
 * (and, for the SDC rate, as corrupted). Either is 0 with nothing to
 * count. The model is bit-identical afterwards. */
rml_status rml_inject_repeat(rml_model *m, const rml_dataset *d, rml_fault_targets *tg,
			       const rml_fault_spec *spec, int64_t n_rep, uint64_t seed,
			       int64_t batch, const int32_t *clean, double *acc, double *sdc,
			       double *detected, rml_error *err);

/* Sweeps, each point n_rep repetitions of the spec with its unit/rate/bits
 * replaced:
 *   RML_SWEEP_TENSORS  one fault in one target tensor, for every target
 *                      (n_points = tg->n): which tensors hurt most;
 *   RML_SWEEP_BITS     spec with bits = one position, for bits 0..31;
 *   RML_SWEEP_RATES    spec with rate = rates[i].
 * acc_mean/acc_sd/sdc_mean/det_mean get n_points values each (det_mean:
 * the mean detected rate; may be NULL). */
typedef enum { RML_SWEEP_TENSORS, RML_SWEEP_BITS, RML_SWEEP_RATES } rml_sweep_kind;
rml_status rml_inject_sweep(rml_model *m, const rml_dataset *d, rml_fault_targets *tg,
			      const rml_fault_spec *spec, rml_sweep_kind kind, const double *rates,
			      int n_points, int64_t n_rep, uint64_t seed, int64_t batch,
			      double *acc_mean, double *acc_sd, double *sdc_mean, double *det_mean,
			      rml_error *err);

/* ---- what rmlops-inject writes about an injection ---------------------------- */

/* One JSON line per fault of log: tensor (its name in tg, escaped as a
 * JSON string), index, bit, old and new value (%.9g; null when not
 * finite). */
void rml_fault_log_text(rml_outbuf *o, const rml_fault_targets *tg, const rml_fault_log *log);

/* The keys of a faulty model file: fault.model, fault.unit, fault.rate
 * and fault.count (the faults of log). */
rml_status rml_fault_file_keys(rml_file *f, const rml_fault_spec *spec, const rml_fault_log *log);

/* The injection's summary, one JSON line: faults, bits_changed, targets,
 * weights, model, unit, rate, seed; or (json 0) one line of text without
 * a newline. */
void rml_fault_report_text(rml_outbuf *o, int json, const rml_fault_spec *spec,
			   const rml_fault_targets *tg, const rml_fault_log *log, int64_t seed);

#endif
