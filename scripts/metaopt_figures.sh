#!/usr/bin/env bash
# The README figures of rmlops-metaopt: the held-out integral resilience
# criterion R (formula 2) of Config 0 (adapters fine-tuned) against the
# same model after resilience optimisation (the paper's outer step, and a
# larger radius and step), and against a control run that takes random
# omega steps of the ES step's length. Each step writes
# its file and is skipped when the file exists, so an interrupted run
# continues where it stopped (metaopt itself resumes from its checkpoint).
#
#   scripts/metaopt_figures.sh CIFAR_DIR [WORKDIR]
#
# CIFAR_DIR holds train/ and test/ image folders (or the binary batches).
# Environment: BIN (build/bin), BASE (testdata/mvit-xxs-cifar10.rml),
# REPEAT (implementations per disturbance in the evaluation, 20),
# METAOPT_ARGS (extra options of both runs), THREADS (all cores).
set -euo pipefail
src=${1:?usage: metaopt_figures.sh CIFAR_DIR [WORKDIR]}
work=${2:-work/metaopt}
bin=${BIN:-build/bin}
base=${BASE:-testdata/mvit-xxs-cifar10.rml}
repeat=${REPEAT:-20}
j=${THREADS:-$(nproc)}
fm=/usr/share/datasets/fashion-mnist
mkdir -p "$work"
t0=$(date +%s)
stamp() { echo "$(($(date +%s) - t0)) s: $*" >&2; }
have() { [ -s "$work/$1" ]; }
import() { # split -> file
	if [ -f "$src/data_batch_1.bin" ]; then
		"$bin/rmlops-data" import cifar10 "$src" --split "$1" -q -o "$2"
	else
		"$bin/rmlops-data" import folder "$src/$1" -q -o "$2"
	fi
}
# The 5,000 training images the base model never trained on (the split of
# scripts/train_base.sh): half for the inner loops, half held out.
if ! have heldout.rml; then
	import train "$work/all.rml"
	"$bin/rmlops-data" split --count 5000 -s 1 -q -o "$work/val5k.rml" --rest "$work/train.rml" < "$work/all.rml"
	"$bin/rmlops-data" split --count 2500 -s 2 -q -o "$work/heldout.rml" --rest "$work/inner.rml" < "$work/val5k.rml"
	rm -f "$work/all.rml" "$work/val5k.rml"
fi
# Evaluation: 2,000 CIFAR-10 test images, and task episodes from the
# Fashion-MNIST test split (the training episodes come from its training split).
have eval.rml || { import test "$work/test.rml"; "$bin/rmlops-data" take --count 2000 -s 5 -q "$work/test.rml" -o "$work/eval.rml"; rm -f "$work/test.rml"; }
tasks() { # idx-prefix episodes seed -> file
	"$bin/rmlops-data" import idx "$fm/$1-images-idx3-ubyte.gz" "$fm/$1-labels-idx1-ubyte.gz" \
		--classes fashion-mnist --gray-to-rgb --resize 32 -q \
		| "$bin/rmlops-data" tasks --ways 10 --shots 16 --queries 16 --episodes "$2" -s "$3" -q -o "$4"
}
have tasks-train.rml || tasks train 100 1 "$work/tasks-train.rml"
have tasks-eval.rml || tasks t10k 50 2 "$work/tasks-eval.rml"
stamp data
# Config 0: adapters (gamma 4) with phi and the head fine-tuned on 10,000
# training images for 2 epochs (the recipe of scripts/tta_figures.sh).
if ! have c0.rml; then
	"$bin/rmlops-data" take --count 10000 -s 1 -q "$work/train.rml" -o "$work/ft.rml"
	"$bin/rmlops-train" -m "$base" --adapters 4 --tune phi,W -d "$work/ft.rml" --epochs 2 --batch 32 \
		--optimizer adamw --lr 0.001 --wd 0 --warmup 0 -s 1 -j "$j" -q -o "$work/c0.rml"
	stamp "config 0"
fi
run() { # name extra-options...
	local name=$1; shift
	have "$name.rml" && return
	local ck=()
	if [ -s "$work/$name.ckpt" ]; then
		"$bin/rmlops-metaopt" --resume "$work/$name.ckpt" -j "$j"
	else
		# shellcheck disable=SC2086
		"$bin/rmlops-metaopt" -m "$work/c0.rml" -d "$work/inner.rml" --val "$work/heldout.rml" \
			--tasks "$work/tasks-train.rml" -s 1 -j "$j" --checkpoint "$work/$name.ckpt" \
			--log "$work/$name.jsonl" --plot "$work/$name.png" ${METAOPT_ARGS:-} "$@" \
			-o "$work/$name.rml"
	fi
	stamp "metaopt $name"
}
# The paper's outer loop (sigma 0.01, beta 0.0001), then a larger radius
# and step, and its control: random directions of the same lengths.
run c1
run c1-es --sigma 0.1 --beta 1
run c1-es-random --sigma 0.1 --beta 1 --random-steps
# The criterion of each model on the same held-out implementations, P0
# fixed at Config 0's, so the three are on one scale and paired.
if ! have p0; then
	"$bin/rmlops-metaopt" --eval -m "$work/c0.rml" --val "$work/eval.rml" --tasks "$work/tasks-eval.rml" \
		--repeat 1 --steps 1 -j "$j" --json | sed 's/^{"p0":\([0-9.]*\),.*/\1/' > "$work/p0"
fi
for m in c0 c1 c1-es c1-es-random; do
	have "eval-$m.json" && continue
	"$bin/rmlops-metaopt" --eval -m "$work/$m.rml" --val "$work/eval.rml" --tasks "$work/tasks-eval.rml" \
		--repeat "$repeat" --p0 "$(cat "$work/p0")" -s 7 -j "$j" --json --plot "$work/curve-$m.png" \
		> "$work/eval-$m.json.tmp"
	mv "$work/eval-$m.json.tmp" "$work/eval-$m.json"
	stamp "eval $m"
done
# The table: R per disturbance and overall, and the paired difference to
# Config 0.
python3 "$(dirname "$0")/metaopt_table.py" c0="$work/eval-c0.json" c1="$work/eval-c1.json" \
	c1-es="$work/eval-c1-es.json" c1-es-random="$work/eval-c1-es-random.json"
