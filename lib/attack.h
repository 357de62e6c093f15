/*
 * attack.h — adversarial examples for an image classifier seen only
 * through callbacks: white-box FGSM and PGD (L-infinity and L2, untargeted
 * or targeted, random starts and restarts keeping each example's worst
 * case), and the two black-box attacks of Kotyan & Vargas ("Adversarial
 * robustness assessment: Why in evaluation both L0 and L-infinity attacks
 * are necessary", PLOS ONE 17(4) e0265723, 2022): the threshold attack,
 * which searches the L-infinity ball with CMA-ES using only output
 * probabilities, and the few-pixel attack, which searches the positions and
 * colours of k pixels (L0) with CMA-ES or differential evolution. Beside
 * them, the two attacks robustness is usually judged by: APGD (Croce &
 * Hein, "Reliable evaluation of adversarial robustness with an ensemble of
 * diverse parameter-free attacks", ICML 2020), PGD with momentum and a
 * step size halved at checkpoints, on the cross-entropy or the DLR loss;
 * and the Square attack (Andriushchenko, Croce, Flammarion & Hein, "Square
 * Attack: a query-efficient black-box adversarial attack via random
 * search", ECCV 2020), a random search over square patches that sees only
 * probabilities (L-infinity and L2).
 *
 * Images are floats in pixel units [0,255], NHWC; every budget is in the
 * same units (eps 3 means 3/255 of the range). Each returned x_adv lies in
 * [0,255] and within the budget of its original, checked on the stored
 * floats: max |x_adv - x| <= eps (L-infinity), ||x_adv - x||_2 <= eps (L2),
 * at most k pixels changed (L0, a pixel being all its channels).
 *
 * Not here: the model (the callbacks run it: forward passes, losses,
 * gradients), datasets, choosing target classes, or reporting.
 */
#ifndef RML_ATTACK_H
#define RML_ATTACK_H

#include <stdint.h>

#include "rml.h"

typedef enum {
	RML_ATTACK_FGSM = 0,      /* white-box, one signed (L-inf) or normalised (L2) gradient step */
	RML_ATTACK_PGD = 1,       /* white-box, projected gradient ascent */
	RML_ATTACK_CMAES_LINF = 2,/* black-box threshold attack, L-infinity */
	RML_ATTACK_PIXEL_L0 = 3,  /* black-box few-pixel attack, L0 */
	RML_ATTACK_SQUARE = 4,    /* black-box Square attack, L-inf or L2 */
	RML_ATTACK_APGD = 5,      /* white-box APGD, L-inf or L2, CE or DLR loss */
} rml_attack_kind;

/* The loss APGD ascends: softmax cross-entropy (the grad callback), or the
 * difference of logits ratio (the grad_dlr callback), which is invariant
 * to shifting and scaling the logits and so does not vanish where the
 * softmax saturates. */
typedef enum {
	RML_LOSS_CE = 0,
	RML_LOSS_DLR = 1,
} rml_attack_loss;

typedef enum {
	RML_NORM_LINF = 0,
	RML_NORM_L2 = 1,
	RML_NORM_L0 = 2,
} rml_attack_norm;

/* The optimiser of the black-box attacks. */
typedef enum {
	RML_SEARCH_CMAES = 0,
	RML_SEARCH_DE = 1,
} rml_attack_search;

/* What the black-box search minimises, from the probabilities p of a
 * candidate, label y or target t: PROB is Kotyan & Vargas's fitness,
 * p_y untargeted and 1 - p_t targeted; MARGIN is the margin of log
 * probabilities, log p_y - log max_{j != y} p_j untargeted and
 * log max_{j != t} p_j - log p_t targeted (the logit margin when p is a
 * softmax), negative exactly when the attack has succeeded and still
 * informative where the probabilities saturate. */
typedef enum {
	RML_FITNESS_PROB = 0,
	RML_FITNESS_MARGIN = 1,
} rml_attack_fitness;

typedef struct {
	rml_attack_kind kind;
	rml_attack_norm norm;  /* FGSM, PGD: LINF or L2; CMAES_LINF: LINF; PIXEL_L0: L0 */
	double eps;            /* L-inf / L2 budget in pixel units, > 0 */
	int64_t pixels;        /* PIXEL_L0: pixels changed at most, k >= 1 */
	int targeted;          /* labels are target classes to reach */

	/* White-box. */
	int64_t steps;         /* PGD iterations (default 10) */
	double step_size;      /* PGD step in pixel units; 0 = 2.5 eps / steps */
	int64_t restarts;      /* PGD runs per example, keeping the worst case (default 1) */
	int random_start;      /* PGD starts at a uniform point of the ball (default 1) */
	int64_t batch;         /* examples per callback call; 0 = all at once */
	rml_attack_loss loss;  /* APGD: CE (default) or DLR */

	/* Black-box. */
	int64_t generations;   /* default 10, the setting of the paper's tests */
	int64_t popsize;       /* 0 = CMA-ES's 4 + 3 ln(dim), or 400 for DE */
	rml_attack_search search;
	rml_attack_fitness fitness;
	/* Initial CMA-ES step; 0 = 0.25: eps/4 for the threshold attack, as
	 * Kotyan & Vargas, and a quarter of the image side and of the
	 * intensity range for the few-pixel attack, whose positions and
	 * colours are searched scaled to [0, 1]. */
	double sigma0;
	double de_f, de_cr;    /* DE weight and crossover rate (0.5 and 1) */
	/* Rounds of bisection for the smallest budget that still succeeds:
	 * over eps in (0, eps] for CMAES_LINF, over k in 1..pixels for
	 * PIXEL_L0; run only after the full budget succeeded. 0 = off. */
	int64_t min_search;
	/* CMAES_LINF: the search space is one value per tile x tile block of
	 * pixels and channel (1, the default, is one value per pixel value,
	 * as Kotyan & Vargas); the block sizes at the right and bottom edges
	 * are what is left. */
	int64_t tile;

	/* Square: queries per example at most, the clean image's included
	 * (default 1000), and the initial fraction of pixels in a square
	 * (0 = 0.05 for L-inf, 0.1 for L2, the paper's CIFAR-10 settings),
	 * halved on the paper's schedule as the queries are spent. */
	int64_t queries;
	double p_init;

	/* Black-box: round every candidate to whole pixel values (within the
	 * budget) before it is evaluated, for integer images that will be
	 * stored as uint8: the image that succeeded is then the one stored.
	 * 0 (the default) searches in floats. */
	int integer;

	uint64_t seed;
	/* Index of x[0] in the whole data set: example i draws from random
	 * stream (seed, index0 + i), so results do not depend on how a
	 * caller splits the data into calls. */
	int64_t index0;
} rml_attack_config;

/* Gradient callback: for the n images x [n,h,w,c], the per-example loss
 * (softmax cross-entropy is the usual choice) of labels_or_targets [n]
 * into loss [n] and its gradient with respect to x, in pixel units, into
 * dx [n,h,w,c]. Untargeted attacks ascend this loss on the true labels;
 * targeted ones descend it on the targets. Returns 0, or non-zero on
 * failure (an rml_status value is passed through). */
typedef int (*rml_attack_grad_fn)(void *ctx, const float *x, int64_t n,
				  const int32_t *labels_or_targets, float *loss, float *dx);
/* The DLR loss of Croce & Hein for APGD's loss DLR, with the same
 * signature: for logits z sorted z_(1) >= z_(2) >= z_(3) >= ...,
 * -(z_y - max_{j != y} z_j) / (z_(1) - z_(3) + 1e-12), which is
 * positive exactly when the top class is not y. Targeted attacks descend
 * it on the target. Needs at least 3 classes. */
/* Probability callback: class probabilities of the n images x into probs
 * [n, n_class]. Returns 0, or non-zero on failure. */
typedef int (*rml_attack_prob_fn)(void *ctx, const float *x, int64_t n, float *probs);
/* Progress: done of total examples finished. */
typedef void (*rml_attack_progress_fn)(void *ctx, int64_t done, int64_t total);

/* The classifier under attack. grad is needed by FGSM, PGD and APGD-CE,
 * grad_dlr by APGD-DLR, prob by the
 * black-box attacks; a white-box attack given prob also reports success
 * and predictions (two forward passes of the batch: clean and final). */
typedef struct {
	rml_attack_grad_fn grad;
	rml_attack_prob_fn prob;
	rml_attack_progress_fn progress;  /* may be NULL */
	void *ctx;
	int64_t n_class;                  /* >= 2 */
	rml_attack_grad_fn grad_dlr;      /* APGD with the DLR loss; may be NULL otherwise */
} rml_attack_model;

typedef struct {
	int success;      /* 1 goal reached, 0 not, -1 unknown (white-box without prob) */
	int clean;        /* 1 when the unperturbed input already met the goal (then
			     black-box attacks return it unchanged), -1 unknown */
	int32_t pred;     /* top class of x_adv, -1 unknown */
	double linf;      /* max |x_adv - x| */
	double l2;        /* ||x_adv - x||_2 */
	int64_t l0;       /* pixels with any channel changed */
	double loss;      /* white-box: worst-case loss of x_adv (PGD, APGD; NaN for FGSM);
			     black-box: the search fitness of x_adv */
	int64_t queries;  /* images of this example passed to prob */
	int64_t grads;    /* images of this example passed to grad */
	double budget;    /* the budget x_adv was made with: eps, or k pixels; with
			     min_search, the smallest that succeeded */
} rml_attack_result;

/* Defaults for kind: norm LINF (L0 for PIXEL_L0), eps 3, 1 pixel,
 * untargeted, 10 steps, automatic step size, 1 restart, random start,
 * whole batch, CE loss, 10 generations, default population, CMA-ES, PROB
 * fitness (MARGIN for SQUARE, the paper's), default sigma0, F 0.5, CR 1,
 * no minimum search, tile 1, 1000 queries, default p_init, seed 0,
 * index0 0. */
void rml_attack_config_default(rml_attack_config *cfg, rml_attack_kind kind);

/* "fgsm", "pgd", "cmaes-linf", "pixel-l0", "square", "apgd"; and the
 * reverse (RML_ERR_ARG
 * for an unknown name). */
const char *rml_attack_kind_name(rml_attack_kind kind);
rml_status rml_attack_kind_parse(const char *s, rml_attack_kind *kind, rml_error *err);

/* Attack the n images x [n,h,w,c] with labels [n] (true classes, or
 * targets when cfg->targeted) and write the adversarial images to x_adv
 * [n,h,w,c] (must not overlap x) and one result per example to res [n].
 * White-box attacks call grad on batches of cfg->batch examples (all by
 * default); black-box attacks work one example at a time, first querying
 * the clean image (1 query) and then each generation's whole population as
 * one prob call, stopping early at the first generation holding a
 * successful candidate, and keeping the best candidate otherwise: at
 * most 1 + generations x popsize queries with CMA-ES and 1 + (generations
 * + 1) x popsize with DE (its initial population is evaluated too), per
 * search. The result depends only on the inputs, the configuration and
 * the callbacks' answers. APGD runs like PGD (batches of cfg->batch, steps
 * + 1 gradients per restart, the highest loss kept). The Square attack
 * works on a batch of cfg->batch examples at once: the clean images (1
 * query each), then the initial perturbation, then one candidate per
 * iteration for every example not yet successful, all of a batch's
 * candidates in one prob call; an example stops at its first success or
 * after cfg->queries queries, exactly. RML_ERR_ARG for an invalid configuration, a
 * missing callback, a label outside [0, n_class), a pixel outside [0,255]
 * or not finite, overlapping buffers; RML_ERR_LIMIT for sizes that
 * overflow; RML_ERR_NOMEM; a callback's failure is returned with a message
 * naming the callback. */
rml_status rml_attack_run(const rml_attack_config *cfg, const rml_attack_model *model,
			  const float *x, const int32_t *labels, int64_t n, int64_t h, int64_t w,
			  int64_t c, float *x_adv, rml_attack_result *res, rml_error *err);

/* The norms of x_adv - x for one image of dim = h*w*c values into r->linf,
 * r->l2 and r->l0 (pixels of c channels). Exposed so that callers and
 * tests measure budgets the same way the attacks enforce them. */
void rml_attack_measure(const float *x, const float *x_adv, int64_t pixels, int64_t c,
			rml_attack_result *r);

#endif
