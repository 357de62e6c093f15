#!/usr/bin/env bash
# bench_busy.sh — throughput when rmlops processes share the cores.
#
#   scripts/bench_busy.sh [BIN [[NAME=]BUILD ...]]
#
# BIN is a build's bin/ (default build/bin; its librmlops.a is one level
# up), named "new" in the table. Each BUILD, if given, is another build
# directory (with bin/ and librmlops.a, e.g. main's tree built elsewhere),
# named NAME (default "old"): all are then measured side by side,
# alternating run by run, so that whatever else the machine is doing
# falls on each alike. For each workload
#
#   train128, train4  a training step of mvit-xxs (scripts/bench_engine.c)
#   infer128          inference at batch 128 (the same program)
#   inject            rmlops-eval --unit tensor --rate 0.1 --repeat R
#                     (BUSY_REPEAT, default 2) on the first BUSY_IMAGES
#                     (default 300) carried test images
#
# it runs the four cases of a busy machine:
#
#   1  one process alone, at 1 thread (j1) and at its default threads (jN)
#   2  two processes at once, each at its default threads
#   3  one process at its default threads beside a CPU hog (a shell busy
#      loop pinned to one of the process's CPUs); 3-j1 the same process at
#      one thread beside the hog, which is what more threads must not lose
#      to (the hog may slow even a lone thread on the other core)
#   4  a three-stage pipeline (a | b | c), every stage computing at once
#
# and prints images per second summed over the processes of a case, the
# median of BUSY_REPS runs (default 3), each BUSY_SECONDS long (default 2;
# the engine's figure is the median step after one warm-up step, of at
# least two, so a crowded machine cannot stretch a run without end).
# "of best 1" is the case's total over the better of 1-j1 and 1-jN; case 3
# also as a ratio to 1-j1 (alone at one thread) and to 3-j1 (at one thread
# beside the same hog; the process should never be slower). BUSY_WORKLOADS
# and BUSY_CASES (space-separated) run a part of the grid, e.g.
# BUSY_CASES="1-j1 1-jN 3 3-j1" on a crowded machine. Raw
# lines go to BENCH_OUT/busy.tsv (default BIN/../bench).
# Uses only the shell, taskset and date.
set -euo pipefail
bin=${1:-build/bin}
[ $# -gt 0 ] && shift
top=$(cd "$(dirname "$0")/.." && pwd)
b=$(dirname "$bin")
out=${BENCH_OUT:-$b/bench}
secs=${BUSY_SECONDS:-2}
reps=${BUSY_REPS:-3}
evrep=${BUSY_REPEAT:-2}
model="$top/testdata/mvit-xxs-cifar10.rml"
data="$top/testdata/cifar10-test-1000.rml"
mkdir -p "$out"

build_engine() {  # build_engine LIBRMLOPS.A OUTPUT
	cc -O2 -march=x86-64-v2 -std=c11 -fopenmp -D_GNU_SOURCE -I"$top/lib" -o "$2" \
		"$top/scripts/bench_engine.c" "$1" -lopenblas -lyaml -lpng -lz -lm -lpthread
}
variants=""
declare -A bins
for a in "$@"; do
	v=old d=$a
	case $a in *=*) v=${a%%=*} d=${a#*=} ;; esac
	case $v in '' | new | *[!a-z0-9_]*) echo "bench_busy.sh: bad build name '$v'" >&2; exit 2 ;; esac
	[ -z "${bins[$v]:-}" ] || { echo "bench_busy.sh: build name '$v' given twice" >&2; exit 2; }
	build_engine "$d/librmlops.a" "$out/busy_engine_$v"
	bins[$v]=$(cd "$d/bin" && pwd)
	variants="$variants $v"
done
variants="${variants# } new"
variants=${variants# }
build_engine "$b/librmlops.a" "$out/busy_engine_new"
bins[new]=$(cd "$bin" && pwd)

# The evaluation's data: the first BUSY_IMAGES (default 300) carried images.
nimg=${BUSY_IMAGES:-300}
"$bin/rmlops-data" take --first "$nimg" "$data" -q -o "$out/busy_data.rml"
# The hog runs on the last CPU this shell may use.
hog=""
trap '[ -z "$hog" ] || kill "$hog" 2> /dev/null || true' EXIT
hogcpu=$(taskset -pc $$ | sed 's/.*: //; s/.*[,-]//')

# one VARIANT WORKLOAD THREADS: run one measurement, print images per second.
# THREADS 0 is the program's default.
one() {
	local v=$1 w=$2 t=$3
	case $w in
	train128) "$out/busy_engine_$v" mvit-xxs train 128 "$t" "$secs" 1 2 ;;
	train4) "$out/busy_engine_$v" mvit-xxs train 4 "$t" "$secs" 1 2 ;;
	infer128) "$out/busy_engine_$v" mvit-xxs infer 128 "$t" "$secs" 1 2 ;;
	inject)
		local p=${bins[$v]} j=()
		[ "$t" -gt 0 ] && j=(-j "$t")
		local t0 t1
		t0=$(date +%s.%N)
		"$p/rmlops-eval" -m "$model" -d "$out/busy_data.rml" --unit tensor --rate 0.1 \
			--repeat "$evrep" -s 1 --json "${j[@]}" > /dev/null
		t1=$(date +%s.%N)
		echo "{\"images_per_s\":$(awk -v n=$((evrep * nimg)) -v a="$t0" -v b="$t1" \
			'BEGIN { printf "%.1f", n / (b - a) }')}"
		;;
	esac | sed 's/.*"images_per_s":\([0-9.]*\).*/\1/'
}
# Pass standard input through after a stage's own work (a pipeline stage).
stage() { "$@"; cat; }
sum() { awk '{ s += $1 } END { printf "%.1f\n", s }'; }

raw="$out/busy.tsv"
: > "$raw"
for r in $(seq "$reps"); do
	for w in ${BUSY_WORKLOADS:-train128 train4 infer128 inject}; do
		for c in ${BUSY_CASES:-1-j1 1-jN 2 3 3-j1 4}; do
			for v in $variants; do
				case $c in
				1-j1) x=$(one "$v" "$w" 1) ;;
				1-jN) x=$(one "$v" "$w" 0) ;;
				2) x=$( { one "$v" "$w" 0 & one "$v" "$w" 0; wait; } | sum) ;;
				3 | 3-j1)
					taskset -c "$hogcpu" sh -c 'while :; do :; done' &
					hog=$!
					x=$(one "$v" "$w" "$([ "$c" = 3 ] && echo 0 || echo 1)")
					kill "$hog"
					wait "$hog" 2> /dev/null || true
					hog=""
					;;
				4) x=$(one "$v" "$w" 0 | stage one "$v" "$w" 0 | stage one "$v" "$w" 0 | sum) ;;
				esac
				printf '%s\t%s\t%s\t%s\t%s\n' "$r" "$w" "$c" "$v" "$x" | tee -a "$raw" >&2
			done
		done
	done
done

# The table: medians over the runs.
awk -F'\t' -v variants="$variants" -v cases="${BUSY_CASES:-1-j1 1-jN 2 3 3-j1 4}" '
function median(key,   n, i, j, t, a) {
	n = cnt[key]
	for (i = 1; i <= n; i++) a[i] = val[key, i]
	for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
	return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
{ k = $2 SUBSEP $3 SUBSEP $4; cnt[k]++; val[k, cnt[k]] = $5; if (!($2 in seenw)) { seenw[$2] = 1; ws[++nw] = $2 } }
END {
	nv = split(variants, vs, " ")
	nc = split(cases, cs, " ")
	printf "| workload | case |"
	for (i = 1; i <= nv; i++) printf " %s img/s | %s of best 1 |", vs[i], vs[i]
	for (i = 1; i < nv; i++) printf " new / %s |", vs[i]
	printf "\n|---|---|"
	for (i = 1; i <= nv; i++) printf "---|---|"
	for (i = 1; i < nv; i++) printf "---|"
	printf "\n"
	for (wi = 1; wi <= nw; wi++) {
		w = ws[wi]
		for (ci = 1; ci <= nc; ci++) {
			c = cs[ci]
			printf "| %s | %s |", w, c
			for (i = 1; i <= nv; i++) {
				v = vs[i]
				m = median(w SUBSEP c SUBSEP v)
				b1 = median(w SUBSEP "1-j1" SUBSEP v); bn = median(w SUBSEP "1-jN" SUBSEP v)
				best = b1 > bn ? b1 : bn
				med[v] = m
				extra = ""
				b3 = median(w SUBSEP "3-j1" SUBSEP v)
				if (c == "3" && b1 > 0) extra = sprintf(" (%.2fx j1", m / b1)
				if (c == "3" && b1 > 0) extra = extra (b3 > 0 ? sprintf(", %.2fx 3-j1)", m / b3) : ")")
				printf " %.1f | %.2f%s |", m, (best > 0 ? m / best : 0), extra
			}
			for (i = 1; i < nv; i++) printf " %.2f |", (med[vs[i]] > 0 ? med["new"] / med[vs[i]] : 0)
			printf "\n"
		}
	}
}' "$raw" | tee "$out/busy.md"
