/*
 * train_report.h — what rmlops-train says about a run, as text appended
 * to an rml_outbuf: the warnings of a resumed run whose settings differ
 * from its checkpoint's, the line of an epoch, and the final summary as
 * JSON. The training log's lines are train.h's (rml_train_log_line).
 * And the run's learning curve (--plot): per epoch the accuracies and the
 * learning rate, from the epochs done or read back from the log, drawn as
 * PNG.
 *
 * Not here: training (train.h), where the text goes (the program).
 */
#ifndef RML_TRAIN_REPORT_H
#define RML_TRAIN_REPORT_H

#include <stdint.h>

#include "outbuf.h"
#include "train.h"

/* One line per setting whose RML_TS_* bit is in differ (as
 * rml_train_settings_resume reports them), "OPTION NOW differs from the
 * checkpoint's WAS\n" with the option as the command line spells it, in
 * the order epochs, batch, seed, warmup, lr, momentum, wd, label
 * smoothing, nesterov, the recipe, ema, tune. */
void rml_train_differ_text(rml_outbuf *o, const rml_train_settings *now,
			   const rml_train_settings *was, unsigned differ);

/* An epoch's line (no newline): "epoch E: loss L, train acc A[, val acc
 * V], R images/s" (R 0 when seconds is not positive; the validation part
 * only when have_val). */
void rml_train_epoch_text(rml_outbuf *o, int64_t epoch, double loss, double train_acc,
			  int have_val, double val_acc, double seconds, int64_t images);

/* The run's summary, one JSON line: epochs, loss, val_acc, val_nll
 * (five decimals, as the log writes them; null when not finite). */
void rml_train_report_json(rml_outbuf *o, int64_t epochs, double loss, double val_acc,
			   double val_nll);

/* The learning curve: per epoch (1-based) the learning rate of its last
 * step, the mean training loss, the training accuracy and the validation
 * accuracy (NaN without validation). */
typedef struct {
	int64_t n, cap;
	double *epoch, *lr, *loss, *train_acc, *val_acc;
} rml_train_curve;

void rml_train_curve_init(rml_train_curve *c);
void rml_train_curve_free(rml_train_curve *c);
/* Append one epoch; RML_ERR_NOMEM. */
rml_status rml_train_curve_add(rml_train_curve *c, double epoch, double lr, double loss,
			       double train_acc, double val_acc, rml_error *err);
/* Append the epoch of one log line (rml_train_log_line's), with the
 * values as the line rounds them, so that a curve read back from the log
 * on --resume draws the same pixels: 1 when added, 0 when the line is
 * not a log line (nothing added), -1 when out of memory (err set). */
int rml_train_curve_add_line(rml_train_curve *c, const char *line, rml_error *err);
/* Append the epochs 1..upto of a training log (rml_train_log_line's
 * lines; upto 0: all of them), in the log's order. A missing file adds
 * nothing (a run may start its log now); a line without a number for
 * epoch, lr, loss or train_acc, or with a val_acc that is neither a number
 * nor null, is RML_ERR_FORMAT "PATH line N: ...". */
rml_status rml_train_curve_read_log(rml_train_curve *c, const char *path, int64_t upto,
				    rml_error *err);
/* Draw the curve as PNG at path (atomically): training and validation
 * accuracy (the latter where finite) and the learning rate as a share of
 * its largest value, against the epoch, on an x axis from 0 to
 * max(epochs, the last epoch) so that a run in progress fills it in.
 * RML_ERR_ARG when the curve is empty. */
rml_status rml_train_curve_plot(const rml_train_curve *c, const char *path, int64_t epochs,
				rml_error *err);

#endif
