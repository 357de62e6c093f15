/*
 * metaopt_run.h — what a run of the resilience optimisation needs around
 * the optimiser of metaopt.h: the disturbance pool from its argument (a
 * YAML file or a list of types), the run's log (one JSON line per outer
 * iteration, trimmed to the checkpoint's iterations on resume), its
 * checkpoint and output files, the plots of R over the iterations and of
 * the resilience curves, and the summary of an evaluation (mean, sd and
 * Student-t 95% interval per disturbance and overall); and what a
 * command line of rmlops-metaopt asks (its values' checks, its files
 * judged together, --resume's checkpoint) and the inputs it names.
 *
 * Not here: the optimisation and the evaluation themselves (metaopt.h),
 * option parsing, loading files with their provenance and printing
 * (rmlops-metaopt).
 */
#ifndef RML_METAOPT_RUN_H
#define RML_METAOPT_RUN_H

#include <stdint.h>
#include <stdio.h>

#include "format.h"
#include "metaopt.h"
#include "model.h"
#include "outbuf.h"
#include "rml.h"

/* The pool given as arg: a YAML file (rml_dist_pool_parse_yaml, at most
 * 1 MiB read, a NUL byte refused) when arg names a readable file, else a
 * comma list of types (rml_dist_pool_parse_list). arg NULL: fgsm,fault,
 * and task too when with_tasks. */
rml_status rml_metaopt_pool_load(rml_dist_pool *p, const char *arg, int with_tasks,
				 rml_error *err);

/* Open the run's log at path, keeping the first `keep` lines of the log
 * already there (a resumed run's iterations 0..keep-1; keep 0 starts it
 * empty) and reading their r_mean and heldout into rmean[i] and held[i]
 * (NaN when missing or null). Returns the open file, or NULL with
 * RML_ERR_IO. */
FILE *rml_metaopt_log_open(const char *path, int64_t keep, double *rmean, double *held,
			   rml_error *err);
/* One iteration's line of the log, written to log and flushed: the keys
 * iteration, type, r_plus, r_minus, r_mean, heldout, grad_norm,
 * step_norm, seconds (six decimals, null when not finite) and best. */
void rml_metaopt_log_write(FILE *log, const rml_metaopt_record *rec);

/* The checkpoint after an iteration, saved atomically to path: model m
 * as given to the run, its options argv[0..argc) (key "metaopt.argv",
 * read back on resume) and the state of mo. */
rml_status rml_metaopt_checkpoint(const rml_metaopt *mo, const rml_model *m, int argc,
				  char *const *argv, const char *path, rml_error *err);

/* The options of a run stored in its checkpoint (key "metaopt.argv",
 * 1..1000 strings) as an argv of *argc strings ending in NULL: free the
 * array, not the strings (they belong to ckpt). RML_ERR_FORMAT "WHAT:
 * not a metaopt checkpoint" without them. */
rml_status rml_metaopt_stored_args(const rml_file *ckpt, const char *what, char ***argv,
				   int *argc, rml_error *err);

/* How rml_metaopt_run_loop runs. */
typedef struct {
	FILE *log;                /* the run's log, or NULL */
	const char *checkpoint;   /* saved after every iteration; NULL or "": none */
	const rml_model *m;       /* the model as given, and the options, for it */
	int argc;
	char *const *argv;
	int64_t until;            /* stop after this iteration; 0: no such stop */
	/* Asked before every iteration: nonzero stops (may be NULL). */
	int (*stop)(void *ctx);
	/* Told after every iteration, before its checkpoint (may be NULL). */
	void (*after)(void *ctx, const rml_metaopt *mo, const rml_metaopt_record *rec);
	void *ctx;
} rml_metaopt_loop;

/* The outer iterations from where mo stands until it is done, stopped or
 * at l->until: each one's step, its R in rmean[i] and held[i] (arrays of
 * the configuration's iterations + 1), its log line, l->after, its
 * checkpoint. The errors of the steps pass through. */
rml_status rml_metaopt_run_loop(rml_metaopt *mo, const rml_metaopt_loop *l, double *rmean,
				double *held, rml_error *err);

/* The run's summary as one JSON line: iterations, p0, heldout_before,
 * heldout_after, best_iteration. */
void rml_metaopt_result_json(rml_outbuf *o, const rml_metaopt *mo);

/* The run's result into f (empty on entry; the caller stamps and saves
 * it): model m as given with the best omega, and the keys
 * metaopt.iterations, metaopt.p0, metaopt.heldout_before,
 * metaopt.heldout_after. */
rml_status rml_metaopt_result_file(const rml_metaopt *mo, const rml_model *m, rml_file *f,
				   rml_error *err);

/* PNG at path: the training R (rmean) and the held-out R (held, NaN
 * where not measured) of iterations 1..n. */
rml_status rml_metaopt_plot_run(const char *path, const double *rmean, const double *held,
				int64_t n, rml_error *err);

/* The summary of R over n values: mean, sample sd (0 for one value), the
 * Student-t 95% interval [lo, hi], and the mean accuracy before (t = 0)
 * and after (t = T) adapting (NaN when no curves were given). */
typedef struct {
	int n;
	double mean, sd, lo, hi, acc_before, acc_after;
} rml_metaopt_stats;

/* Summarise rml_metaopt_evaluate's results for a pool of n_dist entries,
 * n_per implementations each: r (entry-major) and curves ((T + 1) values
 * per implementation) into by[0..n_dist) and over all into *all (whose
 * accuracies are NaN). */
void rml_metaopt_eval_stats(const double *r, const double *curves, int n_dist, int n_per, int T,
			    rml_metaopt_stats *by, rml_metaopt_stats *all);

/* The evaluation's report on fp, as a table or (json) one JSON object:
 * p0 and T, then per pool entry its type, n_per, the stats of R and the
 * accuracies before and after (in JSON also every implementation's R,
 * for paired comparisons of models evaluated with the same seed), then
 * the stats over all. r and curves as rml_metaopt_evaluate gives them. */
void rml_metaopt_eval_report(FILE *fp, int json, const rml_dist_pool *pool, double p0, int T,
			     int n_per, const double *r, const double *curves);

/* An evaluation from start to end: rml_metaopt_evaluate of n_per
 * implementations per pool entry on n_workers threads, its report on fp
 * (rml_metaopt_eval_report) and, when plot is not NULL, the curves' PNG
 * there (rml_metaopt_plot_curves). The errors of the steps pass through;
 * RML_ERR_NOMEM. */
rml_status rml_metaopt_eval_run(const rml_model *m, const rml_metaopt_config *cfg,
				const rml_dist_pool *pool, const rml_metaopt_data *data, int n_per,
				int n_workers, FILE *fp, int json, const char *plot, rml_error *err);

/* PNG at path: the mean resilience curve P_t / P0 (t = 0..T) of each
 * entry of pool, from rml_metaopt_evaluate's curves. */
rml_status rml_metaopt_plot_curves(const char *path, const rml_dist_pool *pool,
				   const double *curves, int n_per, int T, double p0,
				   rml_error *err);

/* ---- what a command line asks, and its inputs ------------------------------- */

/* A command line of rmlops-metaopt: its files (NULL: not given), the
 * configuration, and the settings of the program itself. */
typedef struct {
	const char *model, *data, *val, *tasks, *pool, *output, *checkpoint, *resume, *log, *plot;
	rml_metaopt_config cfg;
	int64_t gamma;    /* --adapters: adapters of this size for a model without (0: none) */
	int64_t until;    /* --until: stop after this iteration (0: no such stop) */
	int64_t repeat;   /* --eval: implementations per disturbance (0: 20) */
	int eval, quick;
} rml_metaopt_args;

/* Nothing given: every file NULL, the configuration's defaults. */
void rml_metaopt_args_init(rml_metaopt_args *a);

/* What the option named name (without dashes; its value arg already
 * stored in a within its range) asks beyond that: --adapters a power of
 * two, --sigma above 0, --p0 above 0, --train-metric prob or acc (set
 * here), --quick the small settings of tests and demos (set here: 10
 * steps, 50 validation images, one implementation, 6 iterations, one
 * held-out implementation every 2 iterations, --repeat 4). Other names
 * ask nothing. RML_ERR_ARG with the usage message ("--sigma must be
 * greater than 0"). */
rml_status rml_metaopt_args_option(rml_metaopt_args *a, const char *name, const char *arg,
				   rml_error *err);

/* Judge a's files together, before any is read: a model, held-out images
 * and, for a run, training images; a log that is a file (--resume
 * rewrites it); no model, checkpoint or log with --eval. A run without
 * an output writes to standard output (a->output becomes "-").
 * RML_ERR_ARG with the usage message of the first thing wrong. */
rml_status rml_metaopt_args_check(rml_metaopt_args *a, rml_error *err);

/* --resume's start: only -j, --until and the verbosity may come with it
 * (else *usage = 1 and RML_ERR_ARG "--resume takes the run's options
 * from the checkpoint"); then the checkpoint at a->resume loaded into
 * ckpt (empty on entry) and the options stored there as *argv, *argc
 * (rml_metaopt_stored_args: free the array, the strings are ckpt's),
 * read with load (role "checkpoint", so that the output's provenance names
 * it; NULL: rml_file_load). On a failure to load, *usage is 0 and ckpt is
 * freed. */
rml_status rml_metaopt_resume_load(const rml_metaopt_args *a, rml_file *ckpt, char ***argv,
				   int *argc, int *usage,
				   rml_status (*load)(rml_file *f, const char *path, const char *role,
						      rml_error *err),
				   rml_error *err);

/* What a run or an evaluation reads. */
typedef struct {
	rml_model *m;
	rml_dataset data, val;
	rml_file tasks;
	rml_dist_pool pool;
	rml_metaopt_data md;   /* pointing into the above */
} rml_metaopt_inputs;

void rml_metaopt_inputs_init(rml_metaopt_inputs *in);
void rml_metaopt_inputs_free(rml_metaopt_inputs *in);

/* The inputs a names, in this order: the pool (rml_metaopt_pool_load of
 * a->pool, with task when there are tasks); the model, from ckpt when
 * resuming (it holds the model as given to the run), else from a->model
 * (kind model) with adapters of size a->gamma added, seeded by the
 * configuration's seed, when it has none; the images of a->data (when
 * given) and of a->val (kind dataset, fitted to the model); the file of
 * a->tasks (kind dataset). Files are read by load (as cli_load reads
 * them, with the roles "model", "data", "val" and "tasks"; NULL:
 * rml_file_load). The errors of each step pass through; what was read
 * stays in in for rml_metaopt_inputs_free. */
rml_status rml_metaopt_inputs_load(rml_metaopt_inputs *in, const rml_metaopt_args *a,
				   const rml_file *ckpt,
				   rml_status (*load)(rml_file *f, const char *path, const char *role,
						      rml_error *err),
				   rml_error *err);

/* The run's result saved to path by save (as cli_save saves, stamped
 * with seed; the file is rml_metaopt_result_file's), and its summary
 * into o: with json rml_metaopt_result_json's line, else the sentence
 * "6 iterations; held-out R 0.9000 -> 0.9500 (best after iteration 4)"
 * without a newline. The errors of the file and of save pass through,
 * with nothing in o. */
rml_status rml_metaopt_result_write(const rml_metaopt *mo, const rml_model *m, const char *path,
				    int64_t seed,
				    rml_status (*save)(rml_file *f, const char *path, int64_t seed,
						       rml_error *err),
				    int json, rml_outbuf *o, rml_error *err);

#endif
