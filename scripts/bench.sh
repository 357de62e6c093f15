#!/usr/bin/env bash
# make bench: engine throughput of mvit-xxs (training and inference at
# batch 128 and 4), side by side with the same architecture in PyTorch when
# python3-torch is installed, measured in this one run; peak memory of
# training at batch 128; fault-injection repetitions; attacks when built.
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
res="$out/results.jsonl"
: > "$res"
for cfg in "train 128" "train 4" "infer 128" "infer 4"; do
	set -- $cfg
	for t in 1 $nthreads; do
		"$out/bench_engine" mvit-xxs "$1" "$2" "$t" "$secs" >> "$res"
		if python3 -c 'import torch' 2>/dev/null; then
			python3 "$top/scripts/bench_torch.py" "$1" "$2" "$t" "$secs" >> "$res"
		fi
	done
done
# Peak memory of a training run at batch 128 (maximum resident set size).
if [ -x /usr/bin/time ]; then
	/usr/bin/time -f '%M' -o "$out/mem.txt" "$out/bench_engine" mvit-xxs train 128 \
		"$nthreads" 3 > /dev/null
	echo "{\"impl\":\"rmlops\",\"what\":\"train_peak_rss_mb\",\"batch\":128,\"value\":$(( $(cat "$out/mem.txt") / 1024 ))}" >> "$res"
fi
python3 "$top/scripts/bench_report.py" "$res"
