/*
 * attack_run.h — rmlops-attack's commands as library calls, between its
 * command line (judged by attack_report.h) and the attacks over a model
 * (attack_model.h): the job of create, run and curve (model, dataset and
 * the attack list, with the checks that need all three), the run of
 * create and run with each attack's report written as soon as it is
 * measured, the files create leaves (the sheet, the adversarial
 * dataset), a curve's lists and its run, and verify from its two files.
 *
 * Not here: option parsing, checking output paths, loading the model and
 * dataset with their provenance, saving files and printing messages
 * (cmd/rmlops-attack.c).
 */
#ifndef RML_ATTACK_RUN_H
#define RML_ATTACK_RUN_H

#include <stdint.h>
#include <stdio.h>

#include "attack_model.h"
#include "attack_report.h"
#include "dataset.h"
#include "format.h"
#include "model.h"
#include "outbuf.h"
#include "rml.h"

/* What create, run and curve work on: the model, the dataset and the
 * attacks (list malloc'd, n of them). */
typedef struct {
	rml_model *m;
	rml_dataset d;
	rml_attack_spec *list;
	int n;
} rml_attack_job;

void rml_attack_job_init(rml_attack_job *j);
/* Free what j holds (a NULL model or list too) and leave it as
 * rml_attack_job_init does. */
void rml_attack_job_free(rml_attack_job *j);

/* With j's model and dataset loaded: j's attacks for the command line a
 * (rml_attack_list_make of a->config and a->name with the settings s,
 * a curve's budgets left out unless it is on the query axis, at most one
 * for create), *batch cut to the dataset's size (one chunk of the whole
 * set gives the same results with less memory), and, except for curve,
 * each pixel-l0 attack's pixel count within the images. On failure
 * *usage says whose fault it is: 1, the command line's (RML_ERR_ARG
 * "--pixels 2000: the images have 1024 pixels" when --pixels gave the
 * count, or rml_attack_list_make's); 0, the files' (RML_ERR_ARG "attack
 * NAME: 2000 pixels, the images have 1024", or rml_attack_list_make's). */
rml_status rml_attack_job_prepare(rml_attack_job *j, const rml_attack_args *a,
				  const rml_attack_sets *s, int64_t *batch, int *usage, rml_error *err);

/* create's and run's work: each attack of j over its dataset in chunks
 * of batch (rml_attack_dataset; progress, may be NULL, is given the
 * attack's name as ctx), its report written to fp as soon as it is
 * measured. run writes a table (the header line first unless quiet, a
 * row per attack) or, with json, {"attacks":[...]} and a newline; create
 * writes its one attack's JSON object and a newline, or, unless quiet,
 * the header and its row. r (initialised by the caller, who frees it)
 * receives the last attack's result, for create's files. The errors of
 * the attacks pass through; fp then holds the reports of those before. */
rml_status rml_attack_run_report(const rml_attack_job *j, int create, int json, int quiet,
				 int64_t batch, rml_attack_dataset_progress_fn progress, FILE *fp,
				 rml_attack_dataset_result *r, rml_error *err);

/* create's files from the result r of j's attack (its first): the sheet
 * at path sheet when not NULL (rml_attack_sheet of count examples, 8
 * when 0, the change amplified by amplify), captioned with the model's
 * class names or else the dataset's when it has as many classes; then
 * the adversarial dataset into f (empty on entry; the caller stamps and
 * saves it). The sheet comes first so that, when it cannot be written,
 * no dataset is left behind to look like a finished run. */
rml_status rml_attack_create_files(const rml_attack_job *j, const rml_attack_dataset_result *r,
				   const char *sheet, int64_t count, double amplify, rml_file *f,
				   rml_error *err);

/* A curve's lists from the command line a: --eps (numbers >= 0),
 * --pixels and --queries (whole numbers >= 0), each NULL for none and at
 * most RML_ATTACK_MAX_BUDGETS long. */
typedef struct {
	double eps[RML_ATTACK_MAX_BUDGETS], pixels[RML_ATTACK_MAX_BUDGETS],
		queries[RML_ATTACK_MAX_BUDGETS];
	int n_eps, n_pixels, n_queries;
} rml_attack_curve_lists;

/* Parse a's lists into l. RML_ERR_ARG, a usage error, for the first bad
 * one: "--eps wants up to 64 numbers >= 0 separated by commas, not
 * '1,x'" ("whole numbers" for --pixels and --queries) or "--eps is
 * empty". */
rml_status rml_attack_curve_lists_parse(const rml_attack_args *a, rml_attack_curve_lists *l,
					rml_error *err);

/* curve's work: j's attacks checked for sharing one curve
 * (rml_attack_curve_check: on failure *usage is 1, a usage error), then
 * rml_attack_curves_report on the query axis when l has query counts,
 * else over l's pixels when j's first attack is pixel-l0 and its eps
 * otherwise: the table appended to out (also when only the chart at plot
 * failed; *usage is then 0). */
rml_status rml_attack_curve_run(const rml_attack_job *j, const rml_attack_curve_lists *l,
				int64_t batch, rml_attack_dataset_progress_fn progress, int json,
				const char *plot, rml_outbuf *out, int *usage, rml_error *err);

/* verify's work: the adversarial dataset at adv, read by load (as
 * cli_load reads it, with the role "adversarial"; NULL: rml_file_load),
 * checked against the clean dataset at clean (rml_attack_verify); its
 * report (rml_attack_verify_text) appended to out. RML_ERR_MISMATCH "3
 * of 10 images are over the linf budget 3 (first: 4)" after the report
 * when any image is over budget; the errors of loading and of
 * rml_attack_verify pass through, with nothing appended. */
rml_status rml_attack_verify_files(const char *adv, const char *clean, int json,
				   rml_status (*load)(rml_file *f, const char *path,
						      const char *role, rml_error *err),
				   rml_outbuf *out, rml_error *err);

#endif
