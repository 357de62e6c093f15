/*
 * metaopt.h — post-hoc resilience optimisation (seed paper §3–4): the
 * meta-adapters OMEGA of a frozen model are meta-learned with evolution
 * strategies (ES-MAML) so that, after a disturbance, a few SGD steps on
 * the adapters PHI (and a fresh head W for a task change) recover the
 * performance quickly.
 *
 * One outer iteration: draw one disturbance type from the pool (by
 * weight); draw n implementations of it; for omega + sigma g and
 * omega - sigma g (g ~ N(0, I), es.h) run the inner loop U on each
 * implementation; move omega by beta (R+ - R-) / (2 sigma) g. The inner
 * loop applies the disturbance to a copy of the model and its data, then
 * takes T SGD steps (batch B, rate alpha, no momentum, batch norm on its
 * running statistics) and measures the accuracy P_t on the
 * implementation's validation images after every step. The integral
 * resilience criterion (formula 2) is
 *
 *   R = (1/T) sum_{t=1..T} P_t / P_0,
 *
 * where P_0 is the accuracy of the undisturbed model under optimisation
 * (its omega, phi and W as given to the run) on the clean held-out images
 * (rml_metaopt_data.val), measured once per run (or fixed by the caller,
 * so that two models are compared on one scale). The two sides of an
 * iteration see the same implementations (the same images, eps, fault
 * draws, task and head initialisation): common random numbers, so the
 * difference R+ - R- measures omega, not the luck of the draw.
 *
 * Disturbances:
 *   FGSM   the implementation's images (training batches and validation)
 *          replaced by FGSM examples against the disturbed model as it
 *          starts the inner loop, L-inf budget drawn uniformly from
 *          (0, eps] pixel units, rounded to whole pixel values;
 *   FAULT  faults per an rml_fault_spec (default: one random bit flipped
 *          in each of the fraction 0.1 of target weights with the largest
 *          |gradient| of the loss on the implementation's training
 *          images, recomputed for the model of each side);
 *   TASK   an n-way k-shot episode of a task file (rmlops-data tasks):
 *          support images train, query images validate, a fresh head of
 *          n-way classes (seeded by the implementation) trained with PHI.
 *
 * Determinism: iteration i draws its type and implementations from
 * rml_rng_seed_stream(seed, i) and its directions by iteration number, and
 * every inner loop starts from a full copy of its parameters, so results
 * depend on the inputs, the settings and the seed — not on the number of
 * worker threads, and a resumed run is byte-identical to an uninterrupted
 * one.
 *
 * Not here: files, logs and plots (rmlops-metaopt), the attacks and faults
 * themselves (attack.h, inject.h).
 */
#ifndef RML_METAOPT_H
#define RML_METAOPT_H

#include <stdint.h>

#include "dataset.h"
#include "format.h"
#include "inject.h"
#include "model.h"
#include "rml.h"

typedef enum { RML_DIST_FGSM = 0, RML_DIST_FAULT = 1, RML_DIST_TASK = 2, RML_DIST_COUNT } rml_dist_kind;

typedef struct {
	rml_dist_kind kind;
	double weight;          /* relative chance of being drawn, > 0 */
	double eps;             /* FGSM: largest L-inf budget, pixel units (3) */
	rml_fault_spec fault;   /* FAULT: bitflip, grad-topk, rate 0.0001,
				   RML_METAOPT_FAULT_BITS */
	char targets[128];      /* FAULT: tensors (rml_fault_targets_select), "theta" */
} rml_disturbance;

#define RML_DIST_MAX 16
typedef struct {
	rml_disturbance d[RML_DIST_MAX];
	int n;
} rml_dist_pool;

/* "fgsm", "fault", "task". */
const char *rml_dist_kind_name(rml_dist_kind k);
rml_status rml_dist_kind_parse(const char *s, rml_dist_kind *k, rml_error *err);
/* The paper's setting of one kind, weight 1. */
void rml_disturbance_default(rml_disturbance *d, rml_dist_kind k);
/* A pool from YAML: a list (or a mapping with key "disturbances" holding
 * the list) of mappings with "type" (fgsm | fault | task) and optionally
 * "weight", "eps" (fgsm), "rate", "unit", "model", "bits", "targets"
 * (fault). Unknown keys, keys of another type, duplicates and bad values
 * are refused with the item's number. `what` names the input. */
rml_status rml_dist_pool_parse_yaml(rml_dist_pool *p, const char *text, const char *what,
				    rml_error *err);
/* "fgsm,fault,task" (each with its defaults) into a pool. */
rml_status rml_dist_pool_parse_list(rml_dist_pool *p, const char *list, rml_error *err);

/* Performance measures P_t: top-1 accuracy, or the mean softmax
 * probability of the true class (smooth in the parameters, so small ES
 * perturbations change it; accuracy over a hundred images is a step
 * function that the paper's sigma rarely moves). */
enum { RML_METAOPT_ACCURACY = 0, RML_METAOPT_PROB = 1 };

/* Default bits of the FAULT disturbance: sign, mantissa and the four
 * lowest exponent bits (0-26, 31): a flip scales a weight by at most 2^8,
 * so the model stays finite and there is something to recover. */
#define RML_METAOPT_FAULT_BITS 0x87ffffffu

typedef struct {
	int steps;          /* T: inner SGD steps, 1..10000 (40) */
	int batch;          /* B: inner mini-batch, 1..1024 (4) */
	double alpha;       /* inner learning rate (0.001) */
	double beta;        /* outer ES step (0.0001) */
	double sigma;       /* ES smoothing radius (0.01) */
	int n_impl;         /* implementations per iteration (2) */
	int val_size;       /* validation images per FGSM/fault implementation (100) */
	int iterations;     /* most outer iterations (300) */
	int patience;       /* stop when the held-out R has not risen for this many (10) */
	int heldout;        /* held-out implementations per pool entry (2) */
	int eval_every;     /* held-out R every k iterations (2) */
	int random_steps;   /* control: move omega along a random direction of the
			       same length as the ES step */
	int train_metric;   /* P_t of the ES iterations: RML_METAOPT_PROB (default)
			       or RML_METAOPT_ACCURACY; held-out R and
			       evaluation always use accuracy */
	double p0;          /* P_0 of formula 2; NaN: measured */
	uint64_t seed;      /* (1) */
} rml_metaopt_config;

/* The paper's values (T 40, B 4, alpha 0.001, beta 0.0001, 300
 * iterations, patience 10) and this implementation's choices for the rest. */
void rml_metaopt_config_default(rml_metaopt_config *c);

typedef struct {
	const rml_dataset *data;  /* labelled images of the model's task: inner loops */
	const rml_dataset *val;   /* labelled held-out images: P_0 and held-out R */
	const rml_file *tasks;    /* task episodes (rmlops-data tasks), or NULL */
} rml_metaopt_data;

typedef struct rml_metaopt rml_metaopt;

/* What one outer iteration did. */
typedef struct {
	int64_t iteration;        /* from 0 */
	rml_dist_kind kind;
	double r_plus, r_minus;   /* R at omega + sigma g and omega - sigma g */
	double r_mean;            /* (r_plus + r_minus) / 2 */
	double heldout;           /* held-out R at the new omega, NaN when not measured */
	double step_norm;         /* |omega_new - omega_old| */
	double grad_norm;         /* |ES gradient estimate| */
	double seconds;
	int best;                 /* 1 when heldout is the best so far */
} rml_metaopt_record;

/* Set up a run on model m (which must carry adapters; it is copied, never
 * changed), with n_workers threads (<= 0: rml_get_threads()). Checks the
 * data against the model (image shape, labels in range), the pool against
 * the data (TASK needs tasks), the settings; measures P_0 and the held-out
 * R of the model as given (iteration "-1", the baseline). */
rml_status rml_metaopt_init(rml_metaopt **mo, const rml_model *m, const rml_metaopt_config *cfg,
			    const rml_dist_pool *pool, const rml_metaopt_data *data,
			    int n_workers, rml_error *err);
void rml_metaopt_free(rml_metaopt *mo);

/* Continue from a state saved by rml_metaopt_save (same model, data,
 * pool and settings, else RML_ERR_MISMATCH). Call right after init. */
rml_status rml_metaopt_restore(rml_metaopt *mo, const rml_file *state, rml_error *err);
/* Save the state (keys and tensors "metaopt.*") into f, which the caller
 * fills with the model as given. */
rml_status rml_metaopt_save(const rml_metaopt *mo, rml_file *f, rml_error *err);

/* One outer iteration. */
rml_status rml_metaopt_step(rml_metaopt *mo, rml_metaopt_record *rec, rml_error *err);
/* 1 when the run is over: the iteration limit, or patience exhausted. */
int rml_metaopt_done(const rml_metaopt *mo);
int64_t rml_metaopt_iteration(const rml_metaopt *mo);
/* P_0, the held-out R of the model as given, and the best held-out R
 * (with the iteration after which it was measured, -1 = as given). */
void rml_metaopt_summary(const rml_metaopt *mo, double *p0, double *heldout_before,
			 double *heldout_best, int64_t *best_iteration);
/* Write the best omega into m (a model of the same architecture). */
rml_status rml_metaopt_result(const rml_metaopt *mo, rml_model *m, rml_error *err);

/* The integral criterion of model m on held-out implementations: n_per
 * implementations of every pool entry, drawn from stream seed, images
 * from data->val (FGSM, faults) and episodes from data->tasks. r gets
 * pool->n * n_per values (entry-major), curves (may be NULL) (steps + 1)
 * accuracies P_0..P_T of the disturbed model per implementation, p0
 * (may be NULL) the P_0 used (cfg->p0 when finite, else measured). */
rml_status rml_metaopt_evaluate(const rml_model *m, const rml_metaopt_config *cfg,
				const rml_dist_pool *pool, const rml_metaopt_data *data,
				int n_per, int n_workers, double *r, double *curves, double *p0,
				rml_error *err);

#endif
