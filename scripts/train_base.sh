#!/usr/bin/env bash
# Train the pretrained base model: mvit-xxs on the CIFAR-10 training set.
#   scripts/train_base.sh CIFAR_JPG_DIR|CIFAR_BIN_DIR [WORKDIR] [EPOCHS]
# CIFAR_JPG_DIR holds train/<class>/*.jpg (the JPEG copy of CIFAR-10), or
# give cifar-10-batches-bin for the official binary version. 5,000
# training images (stratified, seed 1) are held out for validation.
# Resumable: run it again and it continues from WORKDIR/checkpoint.rml;
# UNTIL=N stops after epoch N (a slice of a long schedule under a batch
# system's time limit). FROM=MODEL starts from a trained model instead
# of from scratch (a warm restart: all groups trained, a new warm-up and
# cosine cycle); LR=X sets the peak learning rate (default 0.0008).
set -euo pipefail
src=${1:?usage: train_base.sh CIFAR_DIR [WORKDIR] [EPOCHS]}
work=${2:-work/base}
epochs=${3:-20}
bin=${BIN:-build/bin}
mkdir -p "$work"
if [ ! -f "$work/train.rml" ]; then
	if [ -f "$src/data_batch_1.bin" ]; then
		"$bin/rmlops-data" import cifar10 "$src" --split train -o "$work/all.rml"
	else
		"$bin/rmlops-data" import folder "$src/train" -o "$work/all.rml"
	fi
	"$bin/rmlops-data" split --count 5000 -s 1 -o "$work/val.rml" --rest "$work/train.rml" \
		< "$work/all.rml"
	rm -f "$work/all.rml"
fi
resume=()
[ -f "$work/checkpoint.rml" ] && resume=(--resume "$work/checkpoint.rml")
[ -n "${UNTIL:-}" ] && resume+=(--until "$UNTIL")
[ -n "${FROM:-}" ] && [ ! -f "$work/checkpoint.rml" ] && resume+=(-m "$FROM" --tune all)
"$bin/rmlops-train" -d "$work/train.rml" --val "$work/val.rml" "${resume[@]}" \
	--epochs "$epochs" --batch 128 --optimizer adamw --lr "${LR:-0.0008}" --wd 0.05 --warmup 2 \
	--label-smoothing 0.1 --augment crop,flip -s 1 -j "${THREADS:-$(nproc)}" \
	--checkpoint "$work/checkpoint.rml" --log "$work/train-log.jsonl" \
	-o "$work/mvit-xxs-cifar10.rml"
