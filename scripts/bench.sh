#!/usr/bin/env bash
# make bench: engine throughput of mvit-xxs (training and inference at
# batch 128 and 4), side by side with the same architecture in PyTorch when
# python3-torch is installed, measured in this one run; peak memory of
# training at batch 128; fault-injection repetitions; attacks (FGSM, PGD,
# the CMA-ES threshold attack) and MEMO test-time adaptation beside the
# same procedure in PyTorch; the time of resilience-optimisation iterations;
# training with the strong augmentation recipe against crop and flip.
# Every figure is the median of timed iterations after warm-up; the better
# of 1 and 2 threads is kept for both implementations, as in the reference.
set -euo pipefail
bin=${1:-build/bin}
top=$(cd "$(dirname "$0")/.." && pwd)
b=$(dirname "$bin")
out=${BENCH_OUT:-$b/bench}
secs=${BENCH_SECONDS:-6}
mkdir -p "$out"
cc -O2 -march=x86-64-v2 -std=c11 -fopenmp -D_GNU_SOURCE -I"$top/lib" \
	-o "$out/bench_engine" "$top/scripts/bench_engine.c" "$b/librmlops.a" \
	-lopenblas -lyaml -lpng -lz -lm -lpthread
nthreads=$(nproc)
# PyTorch from Debian's python3-torch, if installed (any python3 that has it).
py=""
for p in python3 /usr/bin/python3; do
	if command -v "$p" > /dev/null && "$p" -c 'import torch' 2> /dev/null; then py=$p; break; fi
done
[ -n "$py" ] || echo "bench: PyTorch not found (apt-get install python3-torch); rmlops figures only" >&2
res="$out/results.jsonl"
: > "$res"
for cfg in "train 128" "train 4" "infer 128" "infer 4"; do
	set -- $cfg
	for t in 1 $nthreads; do
		"$out/bench_engine" mvit-xxs "$1" "$2" "$t" "$secs" >> "$res"
		# the same engine with its products on OpenBLAS, for comparison
		RML_GEMM=openblas "$out/bench_engine" mvit-xxs "$1" "$2" "$t" "$secs" >> "$res"
		if [ -n "$py" ]; then
			"$py" "$top/scripts/bench_torch.py" "$1" "$2" "$t" "$secs" >> "$res"
		fi
	done
done
# Peak memory of a training run at batch 128 (maximum resident set size).
if [ -x /usr/bin/time ]; then
	/usr/bin/time -f '%M' -o "$out/mem.txt" "$out/bench_engine" mvit-xxs train 128 \
		"$nthreads" 3 > /dev/null
	echo "{\"impl\":\"rmlops\",\"what\":\"train_peak_rss_mb\",\"batch\":128,\"value\":$(( $(cat "$out/mem.txt") / 1024 ))}" >> "$res"
fi
# Fault injection: 100 repetitions of a tensor-level injection evaluated on
# the 1,000 carried test images (100,000 forward passes) in one process.
model="$top/testdata/mvit-xxs-cifar10.rml"
if [ ! -f "$model" ]; then
	"$bin/rmlops-data" take --first 64 "$top/testdata/cifar10-test-1000.rml" -q -o "$out/tiny.rml"
	"$bin/rmlops-train" -d "$out/tiny.rml" --epochs 1 -q -o "$out/model.rml"
	model="$out/model.rml"
fi
t0=$(date +%s.%N)
"$bin/rmlops-eval" -m "$model" -d "$top/testdata/cifar10-test-1000.rml" --unit tensor --rate 0.1 \
	--repeat 100 -s 1 --json > "$out/inject100.json"
t1=$(date +%s.%N)
echo "{\"impl\":\"rmlops\",\"what\":\"inject_100x1000_s\",\"value\":$(python3 -c "print(round($t1 - $t0, 2))")}" >> "$res"
python3 "$top/scripts/bench_report.py" "$res" | tee "$out/report.txt"
# Attacks and test-time adaptation, each its own table.
echo
BENCH_OUT="$out/attack" bash "$top/scripts/bench_attack.sh" "$bin" | tee "$out/attack.txt"
echo
BENCH_OUT="$out" bash "$top/scripts/bench_tta.sh" "$bin" | tee "$out/tta.txt"
echo
BENCH_OUT="$out" bash "$top/scripts/bench_metaopt.sh" "$bin" | tee "$out/metaopt.txt"
echo
BENCH_OUT="$out" bash "$top/scripts/bench_recipe.sh" "$bin" | tee "$out/recipe.txt"
