/*
 * calibrate.h — the whole post-hoc calibration of a model in one call:
 * the calibration data (augmented in-distribution copies and Soft
 * Brownian Offset out-of-distribution images), the fit of one method,
 * the rejection threshold, the measures before and after on the
 * calibration data and on held-out data, every method side by side when
 * asked, and the two pictures of the result. rmlops-calibrate parses,
 * loads, prints and saves around it; a C program can call it the same way.
 *
 * Not here: the methods (calib.h), the data pipeline, the measures and the
 * calibrator a model carries (calib_model.h), the report's wording
 * (calibrate_report.h).
 */
#ifndef RML_CALIBRATE_H
#define RML_CALIBRATE_H

#include <stdint.h>

#include "calib.h"
#include "calib_model.h"
#include "dataset.h"
#include "model.h"
#include "rml.h"

/* One labelled set of predictions: logits, softmax and calibrated
 * probabilities [n,k]; labels [n] a class, -1 unknown or RML_CALIB_OOD;
 * the measures of the softmax (before) and of the calibrated (after). */
typedef struct {
	const char *name;          /* "calibration" or "test" */
	int64_t n, k;
	float *logits, *raw, *cal;
	int32_t *labels;
	rml_calib_measures before, after;
} rml_calibrate_set;

/* Every method of calib.h and the BBQ ensemble, after "none". */
#define RML_CALIBRATE_N_COMPARE (RML_CALIB_COUNT + 2)

/* m's measures in the report's order, rml_calibrate_metrics of
 * metrics.h (named there); the last, n_ood, is a count. */
void rml_calibrate_measure_values(const rml_calib_measures *m,
				  double v[RML_CALIBRATE_N_MEASURES]);

typedef struct rml_calibrate_result rml_calibrate_result;

/* Points at which rml_calibrate hands its partial result to the caller
 * (to warn, to report progress, to save the generated images early). */
typedef enum {
	RML_CALIBRATE_ID_READY,    /* r->id and r->n_present are set */
	RML_CALIBRATE_OOD_READY,   /* r->ood and the generation figures are set */
} rml_calibrate_stage;

typedef struct {
	rml_calib_method method;
	rml_calib_opts calib;       /* bins, ensemble, ... of the fit */
	int64_t per_class;          /* augmented copies per class; 0: the data as is */
	rml_ood_space ood;          /* RML_OOD_NONE: no generated images */
	int64_t ood_count;          /* 0: as many as the mean class of the copies */
	rml_sbo_opts sbo;           /* its seed is replaced by seed */
	int ae_epochs;
	uint64_t seed;
	rml_reject_rule reject;     /* RML_REJECT_NONE: no threshold */
	double max_rate;            /* maximise ACC2 rejecting at most this share ... */
	double coverage;            /* ... or, when > 0, keep this share */
	int eval_bins;              /* of ECE, MCE and ACE */
	int64_t batch;              /* of the model */
	int compare;                /* fit every method and measure it too */
	const char *data_name;      /* names the data in messages */
	rml_autoenc_progress ae_progress;   /* may be NULL */
	/* May be NULL; a status other than RML_OK stops the run with it. */
	rml_status (*stage)(void *ctx, rml_calibrate_stage s, const rml_calibrate_result *r,
			    rml_error *err);
	void *ctx;                  /* of ae_progress and stage */
} rml_calibrate_opts;

struct rml_calibrate_result {
	rml_calib cal;              /* the fitted calibrator */
	rml_reject_choice choice;   /* the threshold (when a rule was asked for) */
	rml_dataset id, ood;        /* the calibration data; ood named after its space */
	int n_present;              /* classes with a labelled copy */
	int64_t ae_dim;             /* latent (or pixel) dimensions SBO walked in */
	double ae_mse, ood_seconds, ood_min_dist, ood_mean_dist;
	rml_calibrate_set calib, test;
	int have_test;
	int64_t n_test_generated, n_test_real;
	/* With both generated and real OOD test images, the AUROC of each
	 * alone: [generated, real][before, after][confidence, entropy]. */
	int by_source;
	double src_auroc[2][2][2];
	/* The stored rule on the test data: share rejected, share of the OOD
	 * rows rejected, ACC2 of the kept (NaN without test or rule). */
	double test_reject_rate, test_ood_reject_rate, test_acc2;
	/* --compare: on the test set when given, else the calibration set. */
	const char *compare_on;
	char compare_label[RML_CALIBRATE_N_COMPARE][32];
	rml_calib_measures compare[RML_CALIBRATE_N_COMPARE];
	int n_compare;
};

/* The defaults of rmlops-calibrate: BBQ with calib.h's defaults, 300
 * copies per class, latent SBO with sbo.h's defaults and 10 autoencoder
 * epochs, seed 1, the entropy rule rejecting at most 0.1, 15 measure
 * bins, batches of 128. */
void rml_calibrate_opts_default(rml_calibrate_opts *o);

void rml_calibrate_result_init(rml_calibrate_result *r);
void rml_calibrate_result_free(rml_calibrate_result *r);

/* Calibrate model m on the labelled data (the model's geometry and
 * classes): the copies, the generated images from data's images (their
 * own seed stream), the fit on both, the rejection threshold on the
 * calibrated calibration set, and, when test is not NULL, the same on
 * test plus generated images made from test's images (seed + 0x5eed) and
 * the images of test_ood (may be NULL) as out-of-distribution rows. On
 * success m carries the calibrator and the rule (rml_model_set_calibrator,
 * rml_model_set_reject_rule) and r holds everything measured; r is to be
 * freed either way. The result depends on the seed and inputs only.
 * RML_ERR_ARG for a model of fewer than 2 classes or data without a
 * labelled image; the errors of the steps pass through. */
rml_status rml_calibrate(rml_model *m, const rml_dataset *data, const rml_dataset *test,
			 const rml_dataset *test_ood, const rml_calibrate_opts *o,
			 rml_calibrate_result *r, rml_error *err);

/* Reliability diagrams of the set's in-distribution rows, before and
 * after, side by side as one PNG (rml_reliability_png). */
rml_status rml_calibrate_reliability_png(const char *path, const rml_calibrate_set *s,
					 int n_bins, rml_error *err);
/* The risk-coverage curves by entropy before and after as one PNG, at
 * most about 400 points per curve, with each curve's AURC. */
rml_status rml_calibrate_risk_coverage_png(const char *path, const rml_calibrate_set *s,
					   rml_error *err);

#endif
