#!/usr/bin/env bash
# The README's figures for a model: accuracy on the test set with and
# without rejection, one flipped bit in 10% and 15% of the weight tensors
# (100 repetitions, 95% CIs, masked / SDC / detected outcomes), counting
# every base tensor (--target theta, the default) and the convolution and
# linear kernels only (--target kernels), and accuracy against the weight
# fault rate (PNG). Usage: scripts/figures.sh MODEL TEST.rml OUTDIR [REPS]
set -euo pipefail
model=${1:?usage: figures.sh MODEL TEST OUTDIR [REPS]}
test=${2:?}
out=${3:?}
reps=${4:-100}
bin=${BIN:-build/bin}
mkdir -p "$out"
"$bin/rmlops-eval" -m "$model" -d "$test" --json > "$out/clean.json"
"$bin/rmlops-eval" -m "$model" -d "$test" --reject entropy --reject-rate 0.1 --json > "$out/reject10.json"
# The five fault measurements are independent: side by side, one thread
# each (the results do not depend on the thread count).
pids=()
for target in theta kernels; do
	for rate in 0.1 0.15; do
		"$bin/rmlops-eval" -m "$model" -d "$test" --unit tensor --rate $rate --target $target \
			--repeat "$reps" -s 1 -j 1 > "$out/tensor-$target-$rate.txt" &
		pids+=($!)
	done
done
"$bin/rmlops-eval" -m "$model" -d "$test" --sweep rates --unit weight \
	--rates 0,0.00001,0.00003,0.0001,0.0003,0.001 --repeat 20 -s 1 -j 1 --plot "$out/weight-rate.png" \
	> "$out/weight-rate.txt" &
pids+=($!)
for p in "${pids[@]}"; do wait "$p"; done
cat "$out/clean.json" "$out/reject10.json" "$out"/tensor-*.txt "$out/weight-rate.txt"
