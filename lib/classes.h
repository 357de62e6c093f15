/*
 * classes.h — pairing a dataset with a model's classes by name, so a
 * label means the same class to both. A dataset whose class names are
 * some of the model's, in any order, is mapped onto the model's class
 * indices; a name the model does not know is refused. Also whether the
 * model takes the images' shape (rml_dataset_fit_shape), the checks a
 * program makes before pairing the two. Not here: relabelling on purpose
 * (rmlops-data take --relabel).
 */
#ifndef RML_CLASSES_H
#define RML_CLASSES_H

#include "dataset.h"
#include "model.h"
#include "rml.h"

/* Make d's labels index the model's classes model_names[0..k). When the
 * model carries names (model_names not NULL), every class name of d must
 * be one of them, each at most once; d's labels are then rewritten to the
 * model's indices and its class list becomes the model's (k names), so
 * a subset of the classes in any order is measured as what it is. When
 * the model has no names, classes pair by index and d may have at most k.
 * what names d in messages (its path). On failure d is unchanged and err
 * says which class did not fit. */
rml_status rml_classes_match(rml_dataset *d, const char *const *model_names, int k,
			     const char *what, rml_error *err);

/* That model m can take the images of dataset d (named what in
 * messages), whatever their classes: d holds images ("what holds no
 * images"), of the model's input shape ("the model takes 32x32x3
 * images, what holds 28x28x1"). For images whose classes are their own
 * (out-of-distribution data). */
rml_status rml_dataset_fit_shape(const rml_dataset *d, const rml_model *m, const char *what,
				 rml_error *err);

/* Everything a program checks before it pairs model m with dataset d
 * (named what in messages): rml_dataset_fit_shape; its classes are
 * matched as by rml_classes_match (d is mapped onto the model's classes);
 * and, when need_labels, at least one image carries a label (a metric or
 * a loss needs labels). */
rml_status rml_dataset_fit_model(rml_dataset *d, const rml_model *m, int need_labels,
				 const char *what, rml_error *err);

#endif
