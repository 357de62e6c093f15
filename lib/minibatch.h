/*
 * minibatch.h — assembling float batches from a uint8 dataset, with the
 * standard CIFAR training augmentation (random crop from a zero-padded
 * image, horizontal flip), drawn from a generator passed in. Not here:
 * normalisation (the model takes pixel units) or other augmentations
 * (rmlops-data augment writes those as datasets).
 */
#ifndef RML_MINIBATCH_H
#define RML_MINIBATCH_H

#include <stdint.h>

#include "dataset.h"

/* Fill x [b,h,w,c] with images idx[0..b) of d as floats in pixel units
 * [0,255], and y [b] with their labels (y may be NULL). With crop_pad > 0
 * each image is cropped at a uniformly random offset out of the image
 * padded by crop_pad zero pixels on every side (so shifted by -pad..pad in
 * each direction); with flip it is mirrored left to right with
 * probability 1/2 after the crop (torchvision's RandomCrop(padding) then
 * RandomHorizontalFlip). Per image the draws are: row shift, column
 * shift, flip, each only when enabled, so a seed fixes the batch; rng may
 * be NULL when neither is. Indices must be within d (not checked here:
 * the caller made them). */
void rml_batch_fill(float *x, int32_t *y, const rml_dataset *d, const int64_t *idx, int64_t b,
		    int crop_pad, int flip, rml_rng *rng);

#endif
