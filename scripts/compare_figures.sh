#!/usr/bin/env bash
# The README's A/B example: the shipped model (A) against candidates on
# the 1000 test images the repo carries: the same model after fine-tuning
# its adapters and head on 500 training images, and the shipped model as
# a candidate against the one it replaced (testdata/mvit-xxs-cifar10-prev.rml);
# then the fine-tuned candidate under paired faults.
#   scripts/compare_figures.sh CIFAR_JPG_DIR     (holds train/<class>/*.jpg)
# Writes work/compare/; prints the reports (each ends with the decision).
set -euo pipefail
src=${1:?usage: compare_figures.sh CIFAR_JPG_DIR}
bin=${BIN:-build/bin}
w=work/compare
base=testdata/mvit-xxs-cifar10.rml
test=testdata/cifar10-test-1000.rml
mkdir -p "$w/ft"
# 50 training images of each class (the first ones by name).
for d in "$src"/train/*/; do
	c=$(basename "$d")
	mkdir -p "$w/ft/$c"
	ls "$d" | sort | sed -n 1,50p | while read -r f; do cp "$d/$f" "$w/ft/$c/"; done
done
"$bin/rmlops-data" import folder "$w/ft" -o "$w/ft.rml"
"$bin/rmlops-train" -m "$base" --adapters 4 --tune phi,W -d "$w/ft.rml" --epochs 2 --batch 32 \
	--optimizer adamw --lr 0.001 --wd 0 --warmup 0 -s 1 -q -o "$w/tuned.rml"
status() { "$@" || echo "exit status $?"; }
echo "## fine-tuned (phi,W on 500 images) against the shipped model"
status "$bin/rmlops-eval" -m "$base" -d "$test" --compare "$w/tuned.rml" --promote-if 'acc1 > +0.01'
echo "## the shipped model against the previous one it replaced"
status "$bin/rmlops-eval" -m testdata/mvit-xxs-cifar10-prev.rml -d "$test" --compare "$base" \
	--promote-if 'acc1 > 0'
echo "## fine-tuned under paired faults: 2% of the weights zeroed, 20 repetitions"
status "$bin/rmlops-eval" -m "$base" -d "$test" --compare "$w/tuned.rml" --repeat 20 --fault zero \
	--unit weight --rate 0.02 --promote-if 'acc1 >= 0'
