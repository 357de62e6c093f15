#!/usr/bin/env bash
# Every README figure that depends on the base model, measured again for
# MODEL, one step after another with the scripts the README names:
#
#   eval      acc1, ECE and NLL on the 10,000 test images and on the 1,000
#             the repository carries (rmlops-eval --json)
#   figures   scripts/figures.sh on the carried 1,000 images: rejection,
#             faults in 10% / 15% of tensors, accuracy against the fault rate
#   attack    scripts/attack_table.sh on the carried 1,000 images
#   attackfig scripts/attack_figures.sh, 5 subsets of 500 test images
#   calib     scripts/calib_figures.sh (held-out = the training's 5,000)
#   tta       scripts/tta_figures.sh, 5 repetitions
#   monitor   scripts/monitor_table.sh
#   metaopt   scripts/metaopt_figures.sh, REPEAT=10
#   compare   scripts/compare_figures.sh (it measures the shipped model:
#             run it after MODEL is copied to testdata/)
#
#   scripts/model_figures.sh MODEL CIFAR_JPG_DIR WORKDIR [STEP...]
#
# CIFAR_JPG_DIR holds train/<class>/*.jpg and test/<class>/*.jpg. The
# held-out validation set is cut as scripts/train_base.sh cuts it (5,000
# training images, stratified, seed 1), so it is the set the model never
# trained on. Resumable twice over: a step that finished leaves
# WORKDIR/done/STEP and is skipped, and every step's script keeps the
# results it already wrote. Each step's wall time goes to WORKDIR/times.tsv
# and its output to WORKDIR/STEP.log. The steps take hours on two cores:
# run it under nice, in slices if need be (name the steps to run).
set -euo pipefail
usage="usage: model_figures.sh MODEL CIFAR_JPG_DIR WORKDIR [STEP...]"
model=${1:?$usage}
src=${2:?$usage}
work=${3:?$usage}
shift 3
top=$(cd "$(dirname "$0")/.." && pwd)
bin=${BIN:-$top/build/bin}
all_steps="eval figures attack attackfig calib tta monitor metaopt compare"
steps=${*:-$all_steps}
for s in $steps; do
	case " $all_steps " in *" $s "*) ;; *) echo "model_figures.sh: no step '$s' (steps: $all_steps)" >&2; exit 2 ;; esac
done
[ -f "$model" ] || { echo "model_figures.sh: no model '$model'" >&2; exit 1; }
if [ ! -d "$src/train" ] || [ ! -d "$src/test" ]; then
	echo "model_figures.sh: '$src' has no train/ and test/ image folders" >&2
	exit 1
fi
model=$(cd "$(dirname "$model")" && pwd)/$(basename "$model")
mkdir -p "$work/done"
work=$(cd "$work" && pwd)

# The data, once: the test set, all training images, and the training
# script's cut of them into train and val.
if [ ! -f "$work/test.rml" ]; then
	"$bin/rmlops-data" import folder "$src/test" -q -o "$work/test.tmp.rml"
	mv "$work/test.tmp.rml" "$work/test.rml"
fi
if [ ! -f "$work/val.rml" ]; then
	[ -f "$work/all.rml" ] || {
		"$bin/rmlops-data" import folder "$src/train" -q -o "$work/all.tmp.rml"
		mv "$work/all.tmp.rml" "$work/all.rml"
	}
	"$bin/rmlops-data" split --count 5000 -s 1 -q -o "$work/val.tmp.rml" \
		--rest "$work/train.rml" < "$work/all.rml"
	mv "$work/val.tmp.rml" "$work/val.rml"
fi

step_eval() {
	"$bin/rmlops-eval" -m "$model" -d "$work/test.rml" --json > "$work/eval-10000.json"
	"$bin/rmlops-eval" -m "$model" -d "$top/testdata/cifar10-test-1000.rml" --json \
		> "$work/eval-1000.json"
	cat "$work/eval-10000.json" "$work/eval-1000.json"
}
step_figures() {
	BIN=$bin "$top/scripts/figures.sh" "$model" "$top/testdata/cifar10-test-1000.rml" "$work/figures"
}
step_attack() {
	BIN=$bin "$top/scripts/attack_table.sh" "$model" "$top/testdata/cifar10-test-1000.rml" \
		"$work/attack-table"
}
step_attackfig() {
	BIN=$bin "$top/scripts/attack_figures.sh" "$model" "$work/test.rml" "$work/attack-figures" 5 500
}
step_calib() {
	BIN=$bin FIGURES=$top/man/figures "$top/scripts/calib_figures.sh" "$model" "$work/val.rml" "$work/test.rml" \
		"$work/calib"
}
step_tta() {
	BASE=$model TEST=$work/test.rml TRAIN=$work/train.rml VAL=$work/val.rml \
		"$top/scripts/tta_figures.sh" "$bin" "$work/tta" 5
}
step_monitor() {
	BIN=$bin TESTDATA=$top/testdata "$top/scripts/monitor_table.sh" "$model" "$work/all.rml" "$work/monitor"
}
step_metaopt() {
	(cd "$top" && BIN=$bin BASE=$model REPEAT=10 scripts/metaopt_figures.sh "$src" "$work/metaopt")
}
step_compare() {
	cmp -s "$model" "$top/testdata/mvit-xxs-cifar10.rml" ||
		{ echo "model_figures.sh: compare measures the shipped model; copy MODEL to testdata/ first" >&2; return 1; }
	(cd "$top" && BIN=$bin scripts/compare_figures.sh "$src")
}

for s in $steps; do
	[ -f "$work/done/$s" ] && { echo "model_figures.sh: $s done already" >&2; continue; }
	echo "model_figures.sh: $s ..." >&2
	t0=$(date +%s)
	if ! "step_$s" > "$work/$s.log" 2>&1; then
		echo "model_figures.sh: step $s failed; see $work/$s.log" >&2
		exit 1
	fi
	t1=$(date +%s)
	printf '%s\t%s\t%d\n' "$s" "$(date -u +%FT%TZ)" $((t1 - t0)) >> "$work/times.tsv"
	touch "$work/done/$s"
	echo "model_figures.sh: $s took $((t1 - t0)) s" >&2
done
