#!/usr/bin/env bash
# What the training recipes cost (make bench): training steps of mvit-xxs
# at batch 128 on the carried CIFAR-10 test images, batches assembled
# with crop and flip against the strong recipe (AutoAugment, Cutout,
# mixup/CutMix with soft targets) and against crop, flip and random
# erasing, BENCH_RECIPE_PAIRS rotating rounds (default 8) at all cores;
# medians and the median of the rounds' ratios.
#     scripts/bench_recipe.sh BIN_DIR
set -euo pipefail
bin=${1:-build/bin}
top=$(cd "$(dirname "$0")/.." && pwd)
b=$(dirname "$bin")
out=${BENCH_OUT:-$b/bench}
pairs=${BENCH_RECIPE_PAIRS:-8}
mkdir -p "$out"
cc -O2 -march=x86-64-v2 -std=c11 -fopenmp -D_GNU_SOURCE -I"$top/lib" \
	-o "$out/bench_recipe" "$top/scripts/bench_recipe.c" "$b/librmlops.a" \
	-lopenblas -lyaml -lpng -lz -lm -lpthread
res="$out/recipe.jsonl"
"$out/bench_recipe" mvit-xxs "$top/testdata/cifar10-test-1000.rml" 128 "$(nproc)" "$pairs" > "$res"
python3 - "$res" << 'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
print("Training with the recipes (mvit-xxs, batch %d, %d threads, %d rounds)"
      % (rows[0]["batch"], rows[0]["threads"], rows[0]["pairs"]))
print("%-44s %10s %12s %14s" % ("--augment", "step s", "images/s", "assembly ms"))
for r in rows:
    if r["what"] == "train_recipe":
        print("%-44s %10.3f %12.1f %14.2f"
              % (r["augment"], r["median_s"], r["images_per_s"], r["assembly_ms"]))
for r in rows:
    if r["what"] == "train_recipe_ratio":
        ratio = r["median_time_ratio"]
        print("%s / crop,flip step time (median of rounds): %.3f (%+.1f%%)"
              % (r["augment"], ratio, 100 * (ratio - 1)))
PY
