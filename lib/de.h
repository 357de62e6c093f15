/*
 * de.h — differential evolution, DE/rand/1/bin (Storn & Price, J. Global
 * Optimization 11, 1997), as a box-constrained minimiser with the same
 * ask/tell shape as cmaes.h: the caller evaluates a whole generation of
 * trial vectors in one batch. The few-pixel attack uses it with
 * crossover rate 1 and F = 0.5, the setting of the one-pixel attack of Su,
 * Vargas & Sakurai (2019) that Kotyan & Vargas (2022) build on.
 *
 * Not here: other DE strategies (best/1, current-to-best), adaptive F and
 * CR, or constraints beyond a box.
 */
#ifndef RML_DE_H
#define RML_DE_H

#include <stdint.h>

#include "rml.h"

typedef struct rml_de rml_de;

/* Create a DE run over the box [lower, upper] (dim each, lower < upper,
 * finite) with np population members, differential weight F and
 * crossover rate CR, seeded with seed. All memory is allocated here.
 * RML_ERR_ARG for dim < 1, np < 4 (three distinct partners are needed), F
 * outside (0, 2], CR outside [0, 1], missing or bad bounds;
 * RML_ERR_LIMIT for sizes that overflow; RML_ERR_NOMEM. */
rml_status rml_de_init(rml_de **out, int64_t dim, const double *lower, const double *upper,
		       int64_t np, double F, double CR, uint64_t seed, rml_error *err);

/* Release everything; NULL is allowed. */
void rml_de_free(rml_de *de);

/* The vectors to evaluate next, np rows of dim into x: the first call
 * gives the initial population, drawn uniformly in the box; later calls
 * give one trial vector per member: mutant v = x_r1 + F (x_r2 - x_r3) with
 * r1, r2, r3 distinct and different from the member, binomial crossover
 * with the member (at least one coordinate from v), and a coordinate that
 * leaves the box set halfway between x_r1 and the violated bound. Every
 * vector lies in the box. */
void rml_de_ask(rml_de *de, double *x);

/* Fitness f [np] (smaller is better) of the vectors of the last ask. For
 * the initial population it is recorded; for trial vectors each replaces
 * its member when not worse (NaN is worse than any number, so a trial
 * that evaluates to NaN never enters). RML_ERR_ARG when no ask preceded. */
rml_status rml_de_tell(rml_de *de, const double *f, rml_error *err);

/* Best member so far into x [dim] (may be NULL); returns its fitness
 * (+INFINITY before the first tell). */
double rml_de_best(const rml_de *de, double *x);

int64_t rml_de_dim(const rml_de *de);
int64_t rml_de_popsize(const rml_de *de);
/* Evaluations told so far (np per tell, the initial population included). */
int64_t rml_de_evals(const rml_de *de);
/* Completed generations after the initial population (0 until the second tell). */
int64_t rml_de_generation(const rml_de *de);

#endif
