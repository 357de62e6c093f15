#!/usr/bin/env bash
# The README's attack-strength table for a model: on N test images (default
# 500, N/10 of each class drawn with seed SEED, default 1), eps 3 and 5,
# accuracy on the stored adversarial images with its 95% Wilson interval and
# the median queries of the successful attacks (the clean image's query
# included), for clean, FGSM, PGD-10, APGD-CE and APGD-DLR (10 iterations),
# the CMA-ES threshold attack at the paper's setting and tuned (preset), DE
# (10 generations of 400), and Square at 1,000 and 5,000 queries; beside
# each cell the seconds it took on this machine.
#
# Resumable: every cell is one JSON file in OUTDIR (written whole or not at
# all) and is kept when present, so an interrupted run resumes where it
# stopped, and the table is written from whatever cells exist. For the next
# base model, the same command with the new MODEL and a new OUTDIR.
#
# STEPS (default "white black slow") chooses the parts: the white-box
# cells, the quicker black-box cells (CMA-ES, Square 1,000), the slow ones
# (Square 5,000, DE; "square5000" or "de" runs one of the two); "tune"
# adds the threshold attack's settings the preset tuned was chosen from
# (eps 3, the first TUNE_N images, default 30) and "curve" the query
# curve (success rate against queries at eps 3, CMA-ES, DE and Square, on
# the first CURVE_N images, default 100; the counts CURVE_QUERIES,
# CURVE_DE=0 leaves DE out). DE_N (default N) runs the DE
# cells, the slowest (about 4,000 queries for every image it does not
# break), on N/10 images of each class of those N (seed SEED) instead; the
# table says so in the row. EPS (default "3 5"), THREADS (default 2; the
# figures do not depend on it), BIN (default build/bin).
# The machine may be shared: run it under nice, e.g.
#   nice -n 5 scripts/attack_table.sh testdata/mvit-xxs-cifar10.rml \
#     testdata/cifar10-test-1000.rml work/attack-table
# The table goes to standard output and OUTDIR/table.md, the cells' times
# to OUTDIR/times.txt.
# Usage: scripts/attack_table.sh MODEL TEST.rml OUTDIR [N]
set -euo pipefail
model=${1:?usage: attack_table.sh MODEL TEST.rml OUTDIR [N]}
test=${2:?usage: attack_table.sh MODEL TEST.rml OUTDIR [N]}
out=${3:?usage: attack_table.sh MODEL TEST.rml OUTDIR [N]}
N=${4:-500}
SEED=${SEED:-1}
CURVE_N=${CURVE_N:-100}
T=${THREADS:-2}
bin=${BIN:-build/bin}
A="$bin/rmlops-attack"
if [ $((N % 10)) -ne 0 ] || [ "$N" -lt 10 ]; then
	echo "attack_table.sh: N must be a multiple of 10 (N/10 images of each class)" >&2
	exit 2
fi
mkdir -p "$out"
[ -s "$out/data.rml" ] ||
	"$bin/rmlops-data" take --per-class $((N / 10)) -s "$SEED" -q -o "$out/data.rml" "$test"
D="$out/data.rml"
DE_N=${DE_N:-$N}
if [ $((DE_N % 10)) -ne 0 ] || [ "$DE_N" -gt "$N" ] || [ "$DE_N" -lt 10 ]; then
	echo "attack_table.sh: DE_N must be a multiple of 10 from 10 to N" >&2
	exit 2
fi
DD=$D
if [ "$DE_N" -ne "$N" ]; then
	DD="$out/data-de$DE_N.rml"
	[ -s "$DD" ] || "$bin/rmlops-data" take --per-class $((DE_N / 10)) -s "$SEED" -q -o "$DD" "$D"
fi
now() { date +%s.%N; }
cell() { # NAME DATA ARGS...: one cell, resumable, its wall time in times.txt
	local o="$out/$1.json" name=$1 d=$2 t0
	shift 2
	[ -s "$o" ] && return 0
	echo "attack_table: $o" >&2
	t0=$(now)
	"$A" run -m "$model" -d "$d" "$@" -s 1 -j "$T" --json > "$o.tmp"
	mv "$o.tmp" "$o"
	awk -v n="$name" -v a="$t0" -v b="$(now)" 'BEGIN { printf "%s %.1f\n", n, b - a }' >> "$out/times.txt"
}
STEPS=${STEPS:-white black slow}
has() { case " $STEPS " in *" $1 "*) return 0 ;; esac; return 1; }
EPS=${EPS:-3 5}
has white && for e in $EPS; do
	cell "fgsm-$e" "$D" --attack fgsm --eps "$e"
	cell "pgd10-$e" "$D" --attack pgd --eps "$e" --steps 10
	cell "apgd-ce-$e" "$D" --attack apgd --eps "$e" --steps 10 --loss ce
	cell "apgd-dlr-$e" "$D" --attack apgd --eps "$e" --steps 10 --loss dlr
done
has black && for e in $EPS; do
	cell "cmaes-paper-$e" "$D" --attack cmaes-linf --eps "$e" --preset paper
	cell "cmaes-tuned-$e" "$D" --attack cmaes-linf --eps "$e" --preset tuned
	cell "square1000-$e" "$D" --attack square --eps "$e" --queries 1000
done
{ has slow || has square5000; } && for e in $EPS; do
	cell "square5000-$e" "$D" --attack square --eps "$e" --queries 5000
done
{ has slow || has de; } && for e in $EPS; do
	cell "de-$e" "$DD" --attack cmaes-linf --search de --eps "$e"
done
# The threshold attack's settings at the paper's budget (10 generations of
# 28) on the first TUNE_N images, eps 3: what the preset "tuned" was chosen
# from.
if has tune; then
	[ -s "$out/data-tune.rml" ] ||
		"$bin/rmlops-data" take --first "${TUNE_N:-30}" -q -o "$out/data-tune.rml" "$test"
	for c in "paper:--preset paper" "t1s1m:--sigma0 1 --fitness margin" \
		"t4s05m:--tile 4 --sigma0 0.5 --fitness margin" "t4s1m:--tile 4 --sigma0 1 --fitness margin" \
		"t8s1m:--tile 8 --sigma0 1 --fitness margin" "t8s2m:--tile 8 --sigma0 2 --fitness margin" \
		"t8s1p:--tile 8 --sigma0 1 --fitness prob" "t16s1m:--tile 16 --sigma0 1 --fitness margin"; do
		# shellcheck disable=SC2086
		cell "tune-${c%%:*}" "$out/data-tune.rml" --attack cmaes-linf --eps 3 --popsize 28 ${c#*:}
	done
fi
if has curve && [ ! -s "$out/queries.txt" ]; then
	"$bin/rmlops-data" take --first "$CURVE_N" -q -o "$out/data-curve.rml" "$test"
	cat > "$out/queries.yaml" <<-EOF
	attacks:
	  - {name: cmaes-paper, attack: cmaes-linf, preset: paper}
	  - {name: cmaes-tuned, attack: cmaes-linf, preset: tuned}
	  - {name: square, attack: square}
	EOF
	[ "${CURVE_DE:-1}" = 0 ] || echo "  - {name: de, attack: cmaes-linf, search: de}" >> "$out/queries.yaml"
	"$A" curve -m "$model" -d "$out/data-curve.rml" --config "$out/queries.yaml" --eps 3 \
		--queries "${CURVE_QUERIES:-1,10,30,100,300,1000,3000,5000}" -s 1 -j "$T" --plot "$out/queries.png" \
		> "$out/queries.txt.tmp"
	mv "$out/queries.txt.tmp" "$out/queries.txt"
fi

# The table: one row per attack, eps 3 and eps 5 side by side.
field() { sed "s/.*\"$1\":\([^,}]*\).*/\1/" "$2"; }
secs() { [ -s "$out/times.txt" ] && awk -v c="$1" '$1 == c { s = $2 } END { print s }' "$out/times.txt"; }
acc() { # FILE [clean]: "accuracy [CI]" and the median queries, tab-separated
	local f=$1
	if [ ! -s "$f" ]; then
		printf '(not run)\t'
		return
	fi
	# The clean row's interval is computed here (Wilson, 95%), the
	# attacks' come from rmlops-attack.
	awk -v a="$(field "${2:-acc1}" "$f")" -v lo="$(field acc1_lo "$f")" -v hi="$(field acc1_hi "$f")" \
		-v q="$(field queries_median "$f")" -v n="$(field n "$f")" -v clean="${2:-}" 'BEGIN {
		if (clean != "") {
			z = 1.959964; d = 1 + z * z / n
			c = (a + z * z / (2 * n)) / d
			h = z * sqrt(a * (1 - a) / n + z * z / (4 * n * n)) / d
			lo = c - h; hi = c + h; q = ""
		}
		printf "%.1f%% [%.1f, %.1f]\t%s", 100 * a, 100 * lo, 100 * hi,
			q == "null" || q == "" || q == 0 ? "–" : q }'
}
row() { # LABEL CELL [clean]: a cell on fewer images than the table says so
	local a3 a5 t3 t5 l=$1 k
	k=$( [ -s "$out/$2-3.json" ] && field n "$out/$2-3.json" || echo "$n")
	[ "$k" = "$n" ] || l="$l, on $k of the images ($((k / 10)) of each class)"
	a3=$(acc "$out/$2-3.json" "${3:-}")
	a5=$(acc "$out/$2-5.json" "${3:-}")
	t3=$(secs "$2-3")
	t5=$(secs "$2-5")
	if [ -n "${3:-}" ]; then t3=; t5=; fi
	printf '| %s | %s | %s | %s | %s | %s |\n' "$l" "${a3%%	*}" "${a3#*	}" "${a5%%	*}" "${a5#*	}" \
		"$([ -n "$t3$t5" ] && echo "${t3:-–} / ${t5:-–}")"
}
n=$( [ -s "$out/fgsm-3.json" ] && field n "$out/fgsm-3.json" || echo "$N")
{
	echo "| attack ($n images) | eps 3: accuracy [95% CI] | median queries | eps 5: accuracy [95% CI] | median queries | seconds, eps 3 / 5 |"
	echo "|---|---|---|---|---|---|"
	row "clean" fgsm clean_acc1
	row "FGSM" fgsm
	row "PGD-10" pgd10
	row "APGD-CE, 10 iterations" apgd-ce
	row "APGD-DLR, 10 iterations" apgd-dlr
	row "CMA-ES, the paper's setting (≤ 281 queries)" cmaes-paper
	row "CMA-ES, \`--preset tuned\` (≤ 281 queries)" cmaes-tuned
	row "DE, 10 generations of 400 (≤ 4,401 queries)" de
	row "Square, 1,000 queries" square1000
	row "Square, 5,000 queries" square5000
} | tee "$out/table.md"
