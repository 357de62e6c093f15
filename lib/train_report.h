/*
 * train_report.h — what rmlops-train says about a run, as text appended
 * to an rml_outbuf: the warnings of a resumed run whose settings differ
 * from its checkpoint's, the line of an epoch, and the final summary as
 * JSON. The training log's lines are train.h's (rml_train_log_line).
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

#endif
