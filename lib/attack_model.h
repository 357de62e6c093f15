/*
 * attack_model.h — the adversarial test toolbox over the model engine: the
 * attacks of attack.h bound to a model (gradients by softmax
 * cross-entropy and backward with dx, probabilities by forward and
 * softmax, always in eval mode with nothing trainable), run over a whole
 * dataset in chunks, with the adversarial images quantised back to uint8
 * without leaving their budget and then measured again by the model, so
 * that what is stored is what is reported. Also: attack descriptions as
 * key/value settings shared by the command line and YAML attack lists,
 * the report, the robustness curve, a PNG sheet of examples, and a check
 * of a stored adversarial set against its clean set.
 *
 * Not here: the attack algorithms (attack.c), option parsing and output
 * files (cmd/rmlops-attack.c), datasets' own format (dataset.h).
 */
#ifndef RML_ATTACK_MODEL_H
#define RML_ATTACK_MODEL_H

#include <stdint.h>

#include "attack.h"
#include "dataset.h"
#include "format.h"
#include "model.h"
#include "outbuf.h"
#include "rml.h"

/* How targeted attacks choose their target class. */
typedef enum {
	RML_TARGET_NONE = 0,   /* untargeted */
	RML_TARGET_RANDOM = 1, /* uniform over the other classes, per example from the seed */
	RML_TARGET_NEXT = 2,   /* (label + 1) mod n_classes */
	RML_TARGET_CLASS = 3,  /* one fixed class (examples of that class are not attacked) */
} rml_target_mode;

/* One attack of a test: the algorithm's configuration, a name for
 * reports, and how targets are chosen. */
typedef struct {
	char name[64];
	rml_attack_config cfg;
	rml_target_mode target;
	int32_t target_class;   /* RML_TARGET_CLASS */
} rml_attack_spec;

/* The threshold attack's setting named "tuned" (preset: tuned): 10
 * generations of CMA-ES like the paper's, on one value per 4 x 4 tile and
 * channel (192 values for CIFAR-10 rather than 3,072), the margin
 * fitness, and these population and initial step, the strongest of the
 * settings tried by STEPS=tune scripts/attack_table.sh. */
#define RML_ADVTEST_TUNED_TILE 4
#define RML_ADVTEST_TUNED_POPSIZE 28
#define RML_ADVTEST_TUNED_SIGMA0 1.0

/* Defaults of kind (rml_attack_config_default), named after the kind,
 * untargeted, seed 1. */
void rml_attack_spec_default(rml_attack_spec *a, rml_attack_kind kind);

/* Set one setting by its key, from text, as written on a command line or
 * in a YAML attack list. Keys: name, attack (fgsm, pgd, apgd, cmaes-linf,
 * pixel-l0, square; keeps the other settings and changes the norm only
 * when it does not suit the new kind, the fitness to margin when it
 * becomes square and back to prob when it stops being square), norm
 * (linf, l2, l0), eps (pixel units,
 * > 0), pixels, target (none, random, next, or a class number), steps,
 * step_size, restarts, random_start (yes/no, true/false, 1/0),
 * generations, popsize (0 = default), search (cmaes, de), fitness (prob,
 * margin), sigma0, de_f, de_cr, min_search, seed, loss (ce, dlr: APGD),
 * tile (the threshold attack's block side), queries and p_init (Square),
 * preset (paper or tuned: the threshold attack's generations,
 * population, sigma0, fitness, tile and search, as the paper or as
 * RML_ADVTEST_TUNED_*; set it before the settings that refine it).
 * RML_ERR_ARG with a
 * message naming the key for an unknown key or a value out of range. */
rml_status rml_attack_spec_set(rml_attack_spec *a, const char *key, const char *value,
			   rml_error *err);
/* The keys rml_attack_spec_set knows, NULL-terminated (for help texts). */
const char *const *rml_attack_spec_keys(void);

/* Settings that only make sense together: the norm suits the kind, a
 * target class exists among n_classes (when n_classes > 0). RML_ERR_ARG
 * with a message naming the attack. */
rml_status rml_attack_spec_check(const rml_attack_spec *a, int n_classes, rml_error *err);

/* Parse a YAML attack list: either a sequence of mappings, or a mapping
 * with the key "attacks" holding one. Each mapping takes the keys of
 * rml_attack_spec_set (its "attack" key is applied first, so defaults follow
 * the kind; a missing "attack" is an error). *list is allocated (free()
 * it) with *n >= 1 entries; a preset is applied before the other keys.
 * Errors are RML_ERR_FORMAT as "what, line N:
 * message". */
rml_status rml_attack_spec_parse_yaml(const char *text, const char *what, rml_attack_spec **list,
				  int *n, rml_error *err);

/* ---- the model as the attacks see it --------------------------------------- */

/* Callbacks of attack.h over a model: grad = eval-mode forward, softmax
 * cross-entropy per example (loss = -log p_label) and backward into dx;
 * grad_dlr the same with the DLR loss of the logits (3 classes or more);
 * prob = eval-mode forward and softmax. Calls larger than the reserved
 * batch are split into reserved-size pieces. The model is left with
 * nothing trainable. */
typedef struct {
	rml_model *m;
	int64_t batch;       /* images per forward */
	int64_t k;           /* classes */
	float *probs, *dlogits;
	rml_error err;       /* the engine's message when a callback fails */
	int64_t n_prob, n_grad;  /* images passed to each callback */
	rml_attack_progress_fn progress;
	void *progress_ctx;
} rml_attack_binding;

/* Reserve the model for batches of `batch` images (with_grad: also for
 * input gradients) and fill am with callbacks bound to b. */
rml_status rml_attack_bind(rml_attack_binding *b, rml_attack_model *am, rml_model *m,
			    int64_t batch, int with_grad, rml_error *err);
void rml_attack_unbind(rml_attack_binding *b);

/* ---- running a test ---------------------------------------------------------- */

/* Per-example outcome of one attack over a dataset. Everything about the
 * adversarial images is measured on the stored uint8 images. */
typedef struct {
	int64_t n, h, w, c, k;
	uint8_t *adv;          /* [n,h,w,c] adversarial images as stored */
	int32_t *targets;      /* [n] target classes, or NULL when untargeted */
	int32_t *clean_pred;   /* [n] the model's top class of the clean image */
	int32_t *pred;         /* [n] the model's top class of the stored image */
	uint8_t *success;      /* [n] goal met on the stored image: pred != label, or
				  pred == target (also when the clean image met it) */
	uint8_t *attacked;     /* [n] counted in the success rate: clean image right
				  (and, targeted, not already the target) */
	float *linf, *l2;      /* [n] norms of stored - clean, pixel units */
	int32_t *l0;           /* [n] pixels with any channel changed */
	int64_t *queries;      /* [n] images passed to the probability callback */
	int64_t *grads;        /* [n] images passed to the gradient callback */
	float *budget;         /* [n] budget used (eps or pixels; smallest with min_search) */
	double seconds;        /* wall time of the attack itself */
} rml_attack_dataset_result;

void rml_attack_dataset_result_init(rml_attack_dataset_result *r);
void rml_attack_dataset_result_free(rml_attack_dataset_result *r);

typedef void (*rml_attack_dataset_progress_fn)(void *ctx, int64_t done, int64_t total);

/* Run attack a against model m on every example of d, chunk examples at
 * a time (also the white-box batch), and fill r (allocated here). The
 * attack's floats are quantised by rml_attack_quantize; clean and stored
 * images are then classified by the model. Example i uses random stream
 * (seed, i) whatever the chunk size, so results do not depend on it
 * (they do depend on the thread count, as every forward pass does).
 * Needs labelled data (RML_ERR_ARG naming the first unlabelled example),
 * images of the model's input shape and labels below its class count
 * (RML_ERR_MISMATCH). progress (may be NULL) gets examples done. */
rml_status rml_attack_dataset(rml_model *m, const rml_attack_spec *a, const rml_dataset *d,
			   int64_t chunk, rml_attack_dataset_progress_fn progress, void *pctx,
			   rml_attack_dataset_result *r, rml_error *err);

/* Quantise one adversarial image xa [pixels*c] (floats within budget b of
 * the clean uint8 image x) into out: rounded to the nearest integer in
 * [0,255]; for L-infinity any value then farther than b from x is pulled
 * back to x +- floor(b); for L2, when the rounded image is farther than b,
 * every difference is truncated towards x instead (never farther than xa);
 * for L0 unchanged pixels stay exactly x, so at most as many pixels
 * change as in xa. */
void rml_attack_quantize(rml_attack_norm norm, double b, const uint8_t *x, const float *xa,
			  int64_t pixels, int64_t c, uint8_t *out);

/* The report of one result against the true labels of d. Means of the
 * norms are over the successful attacked examples (NaN when there are
 * none); maxima over all examples. */
typedef struct {
	int64_t n, n_attacked, n_success;
	double clean_acc1;      /* accuracy on the clean images */
	double acc1;            /* robust accuracy: on the stored adversarial images */
	double acc1_lo, acc1_hi;/* its 95% Wilson score interval over the n images */
	double success_rate;    /* successes among the attacked examples */
	double linf_mean, l2_mean, l0_mean, budget_mean;
	double linf_max, l2_max;
	int64_t l0_max;
	int64_t queries, grads;
	double queries_mean;    /* per example */
	double queries_median;  /* over the successful attacked examples (NaN: none);
				   the lower middle value for an even count */
	double seconds;
} rml_attack_report;

void rml_attack_summarize(const rml_attack_dataset_result *r, const int32_t *labels,
			   rml_attack_report *rep);

/* Robustness curve: for each of n_budgets budgets (eps, or pixels for
 * pixel-l0; 0 = no attack, the clean accuracy), run a with that budget
 * on d and summarize into reps [n_budgets]. */
rml_status rml_attack_curve(rml_model *m, const rml_attack_spec *a, const rml_dataset *d,
			     const double *budgets, int n_budgets, int64_t chunk,
			     rml_attack_dataset_progress_fn progress, void *pctx, rml_attack_report *reps,
			     rml_error *err);

/* The query axis of one black-box result: for each of n_q query counts
 * q, the share of the attacked examples whose attack succeeded within q
 * queries (the clean query included) into rate [n_q]. For attacks that
 * stop at their first success, the success rate of the same run cut off
 * at q queries (CMA-ES and DE: at the last whole generation within q). */
void rml_attack_query_curve(const rml_attack_dataset_result *r, const double *q, int n_q, double *rate);

/* The curves of n_attacks attacks over the same budgets as a PNG:
 * robust accuracy (acc1) against budget. reps is [n_attacks][n_budgets]. */
rml_status rml_attack_curve_png(const char *path, const char *title, const char *xlabel,
				 const char *const *names, int n_attacks, const double *budgets,
				 int n_budgets, const rml_attack_report *reps, rml_error *err);

/* Query curves of n_attacks attacks as a PNG: success rate (rates
 * [n_attacks][n_q]) against the number of queries q [n_q], on a
 * logarithmic axis when the counts span more than a factor of 20. */
rml_status rml_attack_query_png(const char *path, const char *title, const char *const *names,
				 int n_attacks, const double *q, int n_q, const double *rates,
				 rml_error *err);

/* ---- files and pictures --------------------------------------------------------- */

/* The adversarial dataset: d's tensors and keys with the stored images,
 * plus per-example tensors attack.success u8, attack.attacked u8,
 * attack.clean_pred i32, attack.pred i32, attack.linf f32, attack.l2 f32,
 * attack.l0 i32, attack.queries i64, attack.grads i64, attack.budget f32,
 * attack.targets i32 (targeted only), and keys attack.* recording the
 * configuration and the summary (attack.success_rate, attack.acc1,
 * attack.clean_acc1). */
rml_status rml_attack_to_file(const rml_attack_spec *a, const rml_dataset *d,
			       const rml_attack_dataset_result *r, rml_file *f, rml_error *err);

/* A PNG sheet of up to count examples (successful ones first, each group
 * in dataset order): per column the clean image, the stored adversarial
 * image and the perturbation amplified around grey (amplify 0 = so that
 * the largest shown difference reaches full contrast), captioned with
 * class names (names may be NULL). */
rml_status rml_attack_sheet(const char *path, const rml_attack_spec *a, const rml_dataset *d,
			     const rml_attack_dataset_result *r, const char *const *names, int64_t count,
			     double amplify, rml_error *err);

/* Check a stored adversarial dataset (kind dataset, with the attack.*
 * keys) against its clean dataset: same shape and labels, and every
 * stored image within the recorded budget (attack.norm, attack.eps or
 * attack.pixels) of its clean image, measured here. Fills the largest
 * norms found and the number of examples over budget; RML_ERR_MISMATCH
 * when the files do not belong together, RML_ERR_FORMAT when adv lacks
 * the keys. */
typedef struct {
	int64_t n, n_over;
	double linf_max, l2_max;
	int64_t l0_max;
	rml_attack_norm norm;
	double budget;
	int64_t first_over;   /* -1 when none */
} rml_attack_verify_report;
rml_status rml_attack_verify(const rml_file *adv, const rml_dataset *clean,
			      rml_attack_verify_report *v, rml_error *err);

/* "linf", "l2", "l0"; "none", "random", "next", "class". */
const char *rml_attack_norm_name(rml_attack_norm n);
const char *rml_target_mode_name(rml_target_mode t);

/* ---- what rmlops-attack runs ------------------------------------------------ */

/* The attack list of the YAML file at path (at most 1 MB, no NUL byte),
 * as rml_attack_spec_parse_yaml reads it; with name not NULL only the
 * attacks of that name. RML_ERR_IO when the file cannot be read,
 * RML_ERR_LIMIT when it is larger, RML_ERR_FORMAT for a NUL byte and the
 * parser's errors, RML_ERR_ARG when no attack has the name. */
rml_status rml_attack_spec_load(const char *path, const char *name, rml_attack_spec **list, int *n,
				rml_error *err);

/* The query axis of n black-box attacks: each runs once on d (as
 * rml_attack_dataset, with progress given the attack's name as ctx),
 * rates [n, n_q] receives rml_attack_query_curve of its result and reps
 * [n] its summary. */
rml_status rml_attack_query_curves(rml_model *m, const rml_attack_spec *list, int n,
				   const rml_dataset *d, const double *q, int n_q, int64_t batch,
				   rml_attack_dataset_progress_fn progress, double *rates,
				   rml_attack_report *reps, rml_error *err);

/* The robustness curves of n attacks over the same budgets: reps
 * [n][n_budgets] receives rml_attack_curve of each (progress given the
 * attack's name as ctx). */
rml_status rml_attack_curves(rml_model *m, const rml_attack_spec *list, int n, const rml_dataset *d,
			      const double *budgets, int n_budgets, int64_t batch,
			      rml_attack_dataset_progress_fn progress, rml_attack_report *reps,
			      rml_error *err);

/* Whether the n attacks of list can share one curve: on the query axis
 * (nq > 0) only black-box ones (cmaes-linf, pixel-l0, square); on the
 * budget axis each needs its list (n_pix pixel counts for pixel-l0,
 * n_eps eps values for the others) and pixel-l0 does not mix with eps
 * attacks. RML_ERR_ARG with the message otherwise. */
rml_status rml_attack_curve_check(const rml_attack_spec *list, int n, int nq, int n_eps, int n_pix,
				  rml_error *err);

/* rmlops-attack curve's work: the curves of the n attacks of list on d,
 * against the query counts q[0..nq) at their one eps when nq > 0
 * (rml_attack_query_curves), else against the budgets bud[0..nb)
 * (pixels when l0; rml_attack_curves); their table (attack_report.h,
 * JSON when json) appended to out; then, when plot is not NULL, their
 * chart written there, so that out holds the table even when only the
 * chart failed. */
rml_status rml_attack_curves_report(rml_model *m, const rml_attack_spec *list, int n,
				    const rml_dataset *d, const double *bud, int nb, int l0,
				    const double *q, int nq, int64_t batch,
				    rml_attack_dataset_progress_fn progress, int json, const char *plot,
				    rml_outbuf *out, rml_error *err);

#endif
