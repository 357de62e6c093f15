/*
 * calibrate_report.h — what rmlops-calibrate says about a calibration
 * (calibrate.h): the report as one JSON object, or as text (the method
 * and its parameters, the rejection threshold, a table of measures
 * before and after on the calibration and test data, the AUROC by source
 * of the out-of-distribution images), and the table of every method side
 * by side (--compare). Text appended to an rml_outbuf.
 *
 * Not here: the calibration itself, the pictures (calibrate.h).
 */
#ifndef RML_CALIBRATE_REPORT_H
#define RML_CALIBRATE_REPORT_H

#include "calibrate.h"
#include "outbuf.h"

/* The report of r, made with options o, as one JSON line: method,
 * ensemble, bins, params, ood, n_id, n_ood, reject (with a rule), the
 * calibration and test sets' measures before and after, test_auroc (by
 * source, when both sources were there), compare (with o->compare).
 * Numbers with six decimals, null when not finite. */
void rml_calibrate_report_json(rml_outbuf *out, const rml_calibrate_opts *o,
			       const rml_calibrate_result *r);

/* The report as text for people (rmlops-calibrate(1)). */
void rml_calibrate_report_text(rml_outbuf *out, const rml_calibrate_opts *o,
			       const rml_calibrate_result *r);

/* The --compare table: a blank line, a header naming the data it was
 * measured on, one row per method; "-" for what is not finite. */
void rml_calibrate_report_compare(rml_outbuf *out, const rml_calibrate_result *r);

#endif
