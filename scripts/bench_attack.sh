#!/usr/bin/env bash
# Attack throughput of rmlops-attack on the pretrained mvit-xxs: FGSM,
# PGD, APGD-CE and APGD-DLR (L-inf, eps 3, 10 steps) in images/s and
# images/min, and the CMA-ES threshold attack (eps 3, 10 generations,
# default population) and the Square attack (eps 3, at most 1,000 and
# 5,000 queries) in queries/s and images/min as well, on test images the
# repository carries. Each figure is the
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
	for _ in 1 2 3; do
		"$bin/rmlops-attack" run -m "$model" -d "$d" "$@" --json >> "$out/$tag.jsonl"
	done
}
med() { field "$1" < "$out/$2.jsonl" | median; }
printf '%-28s %8s %10s %10s %11s\n' "attack (mvit-xxs, eps 3)" threads "images/s" "queries/s" "images/min"
# line LABEL TAG THREADS [black]: the medians of one attack's runs
line() {
	local i q=-
	i=$(med images_per_s "$2")
	[ -z "${4:-}" ] || q=$(med queries_per_s "$2" | awk '{ printf "%.0f", $1 }')
	printf '%-28s %8d %10.2f %10s %11.1f\n' "$1" "$3" "$i" "$q" "$(awk -v i="$i" 'BEGIN { print i * 60 }')"
}
for t in ${BENCH_THREADS:-1 $(nproc)}; do
	run "fgsm-$t" "$out/d256.rml" --attack fgsm --eps 3 -j "$t"
	line "fgsm" "fgsm-$t" "$t"
	run "pgd-$t" "$out/d64.rml" --attack pgd --eps 3 --steps 10 -j "$t"
	line "pgd, 10 steps" "pgd-$t" "$t"
	run "apgd-ce-$t" "$out/d64.rml" --attack apgd --loss ce --eps 3 --steps 10 -j "$t"
	line "apgd-ce, 10 steps" "apgd-ce-$t" "$t"
	run "apgd-$t" "$out/d64.rml" --attack apgd --loss dlr --eps 3 --steps 10 -j "$t"
	line "apgd-dlr, 10 steps" "apgd-$t" "$t"
	run "cma-$t" "$out/d12.rml" --attack cmaes-linf --eps 3 --generations 10 -j "$t"
	line "cmaes-linf, 10 generations" "cma-$t" "$t" black
	run "square-$t" "$out/d12.rml" --attack square --eps 3 --queries 1000 -j "$t"
	line "square, 1000 queries" "square-$t" "$t" black
	run "square5000-$t" "$out/d12.rml" --attack square --eps 3 --queries 5000 -j "$t"
	line "square, 5000 queries" "square5000-$t" "$t" black
done
