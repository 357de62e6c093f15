/*
 * minibatch.h — assembling float batches from a uint8 dataset, with the
 * standard CIFAR training augmentation (random crop from a 4-pixel zero
 * padding, horizontal flip), drawn from a generator passed in.
 */
#ifndef RML_MINIBATCH_H
#define RML_MINIBATCH_H

#include <stdint.h>

#include "dataset.h"

/* x [b,h,w,c] floats in [0,255] and y [b] from images idx[0..b) of d. */
void rml_batch_fill(float *x, int32_t *y, const rml_dataset *d, const int64_t *idx, int64_t b,
		    int crop_pad, int flip, rml_rng *rng);

#endif
