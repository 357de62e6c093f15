#!/usr/bin/env bash
# Attack throughput of rmlops-attack on the pretrained mvit-xxs: FGSM,
# PGD and APGD-DLR (L-inf, eps 3, 10 steps) in images/s, and the CMA-ES
# threshold attack (eps 3, 10 generations, default population) and the
# Square attack (eps 3, 1,000 queries at most) in queries/s and
# images/min, on test images the repository carries. Each figure is the
# median of 3 runs of the attack itself (model loading excluded), at 1
# thread and at all cores (BENCH_THREADS="1 2" to choose). Usage:
# scripts/bench_attack.sh BIN_DIR
set -euo pipefail
bin=${1:-build/bin}
top=$(cd "$(dirname "$0")/.." && pwd)
model=${BENCH_MODEL:-$top/testdata/mvit-xxs-cifar10.rml}
data=$top/testdata/cifar10-test-1000.rml
out=${BENCH_OUT:-$(dirname "$bin")/bench-attack}
mkdir -p "$out"
"$bin/rmlops-data" take --count 256 -s 1 "$data" -q -o "$out/d256.rml"
"$bin/rmlops-data" take --count 64 -s 2 "$data" -q -o "$out/d64.rml"
"$bin/rmlops-data" take --count 12 -s 3 "$data" -q -o "$out/d12.rml"
field() { sed "s/.*\"$1\":\([^,}]*\).*/\1/"; }
median() { sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
# run TAG DATA ARGS...: 3 runs, their JSON reports in $out/TAG.jsonl
run() {
	local tag=$1 d=$2; shift 2
	: > "$out/$tag.jsonl"
	for r in 1 2 3; do
		"$bin/rmlops-attack" run -m "$model" -d "$d" "$@" --json >> "$out/$tag.jsonl"
	done
}
med() { field "$1" < "$out/$2.jsonl" | median; }
printf '%-28s %8s %10s %10s %11s\n' "attack (mvit-xxs, eps 3)" threads "images/s" "queries/s" "images/min"
for t in ${BENCH_THREADS:-1 $(nproc)}; do
	run "fgsm-$t" "$out/d256.rml" --attack fgsm --eps 3 -j "$t"
	printf '%-28s %8d %10.1f %10s %11s\n' "fgsm" "$t" "$(med images_per_s "fgsm-$t")" - -
	run "pgd-$t" "$out/d64.rml" --attack pgd --eps 3 --steps 10 -j "$t"
	printf '%-28s %8d %10.1f %10s %11s\n' "pgd, 10 steps" "$t" "$(med images_per_s "pgd-$t")" - -
	run "apgd-$t" "$out/d64.rml" --attack apgd --loss dlr --eps 3 --steps 10 -j "$t"
	printf '%-28s %8d %10.1f %10s %11s\n' "apgd-dlr, 10 steps" "$t" "$(med images_per_s "apgd-$t")" - -
	run "cma-$t" "$out/d12.rml" --attack cmaes-linf --eps 3 --generations 10 -j "$t"
	printf '%-28s %8d %10.2f %10.0f %11.1f\n' "cmaes-linf, 10 generations" "$t" \
		"$(med images_per_s "cma-$t")" "$(med queries_per_s "cma-$t")" \
		"$(awk -v i="$(med images_per_s "cma-$t")" 'BEGIN { print i * 60 }')"
	run "square-$t" "$out/d12.rml" --attack square --eps 3 --queries 1000 -j "$t"
	printf '%-28s %8d %10.2f %10.0f %11.1f\n' "square, 1000 queries" "$t" \
		"$(med images_per_s "square-$t")" "$(med queries_per_s "square-$t")" \
		"$(awk -v i="$(med images_per_s "square-$t")" 'BEGIN { print i * 60 }')"
done
