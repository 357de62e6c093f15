/*
 * data_args.h — what a command line of rmlops-data asks, judged before
 * any file is read (the inputs each command takes, the options it
 * needs), and the one-line reports of its commands.
 *
 * Not here: import's sources (dataops.h: rml_import_check), reading or
 * writing files, the work of the commands (dataops.h, select.h,
 * corrupt.h).
 */
#ifndef RML_DATA_ARGS_H
#define RML_DATA_ARGS_H

#include <stddef.h>
#include <stdint.h>

#include "dataset.h"
#include "rml.h"
#include "select.h"

/* The options of rmlops-data that a command's check reads; 0 or NULL
 * when not given. */
typedef struct {
	const char *command;   /* "split", "take", ...: the first operand */
	int n_args;            /* operands after the command */
	const char *output, *rest, *predictions, *classes, *corruption;
	double fraction;
	int64_t count, per_class, first, ways, shots, severity;
	int shuffle;
} rml_data_args;

/* Judge a for its command: the number of inputs it takes (concat two or
 * more, export [INPUT] DIR, the others at most one) and the options it
 * cannot go without (split a size, take one way of choosing, tasks
 * --ways and --shots, select -p and one size and two distinct outputs,
 * corrupt a known --type and a --severity). RML_OK (also for import and
 * a command not known here), or RML_ERR_ARG with the message of the
 * first thing wrong, a usage error (rmlops-data(1) words it). */
rml_status rml_data_args_check(const rml_data_args *a, rml_error *err);

/* The report of a command that made d, on one line without a newline,
 * into buf[len] (truncated to fit): with json the object
 * {"WHAT":{"n":..,"h":..,"w":..,"c":..,"classes":..}}, else
 * "WHAT: N images of HxWxC in K classes". */
void rml_data_report(char *buf, size_t len, int json, const char *what, const rml_dataset *d);

/* The report of a selection by u from n images, likewise: with json
 * {"select":{"by":..,"n":..,"selected":..,"rest":..,"threshold":..}}
 * (threshold 0 when nothing is selected, else to 17 digits), else
 * "select: K of N images by U (uncertainty >= T)" (T nan when nothing is
 * selected). */
void rml_data_select_report(char *buf, size_t len, int json, rml_uncertainty u, int64_t n,
			    const rml_selection *s);

/* Whether the predictions file pf (path names it in messages) can be
 * selected from: of kind predictions, read into p (initialised; freed
 * on failure). digest[len] receives the SHA-256 (hex) of the data they
 * were made on when pf records it, else "". */
rml_status rml_data_select_predictions(const rml_file *pf, const char *path, rml_predictions *p,
				       char *digest, size_t len, rml_error *err);

/* Select from d (named in messages; its SHA-256 is hash) the rows p
 * (read from preds_path, made on the data of digest, "" when unknown)
 * was least sure of, as rml_dataset_select_uncertain; RML_ERR_MISMATCH
 * first when the digests differ, and a refusal of the selection names
 * preds_path. */
rml_status rml_data_select(const rml_dataset *d, const char *name, const char *hash,
			   const rml_predictions *p, const char *preds_path, const char *digest,
			   rml_uncertainty u, double fraction, int64_t count, rml_dataset *sel,
			   rml_dataset *rest, rml_selection *s, rml_error *err);

#endif
