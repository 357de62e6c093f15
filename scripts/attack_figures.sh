#!/usr/bin/env bash
# The README's adversarial figures for a model: accuracy under FGSM (eps 3),
# PGD (eps 3, 10 steps) and the CMA-ES threshold attack (eps 3 and 5, 10
# generations, default population: the settings of the paper's tests), on
# K disjoint subsets of N test images each (subset k also uses seed k), with
# the mean and a 95% confidence interval (Student t) over the subsets; a
# robustness curve of FGSM and PGD, and a sheet of examples.
# Single-threaded. Resumable: every output already present is kept.
# Usage: scripts/attack_figures.sh MODEL TEST.rml OUTDIR [K] [N]
#
# With --table first, the attack-strength table instead: on the first N
# images of TEST (default 500), eps 3 and 5, accuracy with its 95% Wilson
# interval and the median queries of the successful attacks, for clean,
# FGSM, PGD-10, APGD-CE and APGD-DLR (10 iterations), the CMA-ES
# threshold attack at the paper's setting and tuned (preset), DE, and
# Square at 1,000 and 5,000 queries; the black-box cells on the first NB
# of those images (default N); then the query curve (success rate against
# queries at eps 3, CMA-ES, DE and Square) on the first CURVE_N (default
# 100; the counts CURVE_QUERIES, default 1,10,30,100,300,1000,3000,5000;
# CURVE_DE=0 leaves DE out). STEPS (default "white black slow curve")
# chooses the parts: the white-box cells, the quicker black-box cells
# (CMA-ES, Square 1,000), the slow ones (Square 5,000, DE), the query
# curve (and "tune": the threshold attack's settings the preset tuned
# was chosen from, on the first TUNE_N images, default 30); EPS (default "3 5") the budgets of the cells. Threads: THREADS
# (default 2). Every cell is one JSON file, kept
# when present, so an interrupted run resumes where it stopped; the
# table is written from whatever cells exist.
# Usage: scripts/attack_figures.sh --table MODEL TEST.rml OUTDIR [N] [NB]
set -euo pipefail
if [ "${1:-}" = "--table" ]; then
	shift
	model=${1:?usage: attack_figures.sh --table MODEL TEST OUTDIR [N] [NB]}
	test=${2:?}
	out=${3:?}
	N=${4:-500}
	NB=${5:-$N}
	CURVE_N=${CURVE_N:-100}
	T=${THREADS:-2}
	bin=${BIN:-build/bin}
	A="$bin/rmlops-attack"
	mkdir -p "$out"
	[ -s "$out/data.rml" ] || "$bin/rmlops-data" take --first "$N" -q -o "$out/data.rml" "$test"
	[ -s "$out/data-bb.rml" ] || "$bin/rmlops-data" take --first "$NB" -q -o "$out/data-bb.rml" "$test"
	cell() { # NAME DATA ARGS...: one cell, resumable
		local o="$out/$1.json" d=$2; shift 2
		[ -s "$o" ] && return 0
		echo "attack_figures: $o" >&2
		"$A" run -m "$model" -d "$d" "$@" -s 1 -j "$T" --json > "$o.tmp"
		mv "$o.tmp" "$o"
	}
	W="$out/data.rml" B="$out/data-bb.rml"
	STEPS=${STEPS:-white black slow curve}
	has() { case " $STEPS " in *" $1 "*) return 0 ;; esac; return 1; }
	EPS=${EPS:-3 5}
	has white && for e in $EPS; do
		cell "fgsm-$e" "$W" --attack fgsm --eps "$e"
		cell "pgd10-$e" "$W" --attack pgd --eps "$e" --steps 10
		cell "apgd-ce-$e" "$W" --attack apgd --eps "$e" --steps 10 --loss ce
		cell "apgd-dlr-$e" "$W" --attack apgd --eps "$e" --steps 10 --loss dlr
	done
	has black && for e in $EPS; do
		cell "cmaes-paper-$e" "$B" --attack cmaes-linf --eps "$e" --preset paper
		cell "cmaes-tuned-$e" "$B" --attack cmaes-linf --eps "$e" --preset tuned
		cell "square1000-$e" "$B" --attack square --eps "$e" --queries 1000
	done
	has slow && for e in $EPS; do
		cell "square5000-$e" "$B" --attack square --eps "$e" --queries 5000
		cell "de-$e" "$B" --attack cmaes-linf --search de --eps "$e"
	done
	# The threshold attack's settings at the paper's budget (10
	# generations of 28) on the first TUNE_N images, eps 3: what the
	# preset "tuned" was chosen from.
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
	field() { sed "s/.*\"$1\":\([^,}]*\).*/\1/" "$2"; }
	row() { # LABEL FILE: accuracy [CI], median queries, images
		local f="$out/$2.json"
		if [ ! -s "$f" ]; then
			echo "| $1 | (not run) | | |"
			return
		fi
		awk -v l="$1" -v a="$(field "${3:-acc1}" "$f")" -v lo="$(field acc1_lo "$f")" \
			-v hi="$(field acc1_hi "$f")" -v q="$(field queries_median "$f")" -v n="$(field n "$f")" \
			-v clean="${3:-}" 'BEGIN {
				if (clean != "") { lo = "-"; hi = "-" }
				printf "| %s | %.1f%% | %s | %s | %d |\n", l, 100 * a,
					clean != "" ? "" : sprintf("[%.1f, %.1f]", 100 * lo, 100 * hi),
					q == "null" || q == "" || q == 0 ? "–" : q, n }'
	}
	{
		for e in 3 5; do
			echo "eps $e | accuracy | 95% CI | median queries | images"
			echo "---|---|---|---|---"
			row "clean" "fgsm-$e" clean_acc1
			row "FGSM" "fgsm-$e"
			row "PGD-10" "pgd10-$e"
			row "APGD-CE, 10 iterations" "apgd-ce-$e"
			row "APGD-DLR, 10 iterations" "apgd-dlr-$e"
			row "CMA-ES, the paper's setting" "cmaes-paper-$e"
			row "CMA-ES, tuned" "cmaes-tuned-$e"
			row "DE, 10 generations of 400" "de-$e"
			row "Square, 1,000 queries" "square1000-$e"
			row "Square, 5,000 queries" "square5000-$e"
			echo
		done
	} | tee "$out/table.md"
	exit 0
fi
model=${1:?usage: attack_figures.sh MODEL TEST OUTDIR [K] [N]}
test=${2:?}
out=${3:?}
K=${4:-5}
N=${5:-500}
CURVE_N=${CURVE_N:-250}   # images of subset 1 for the curve
bin=${BIN:-build/bin}
top=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$out"
# att OUT.json ARGS...: rmlops-attack ARGS --json into OUT.json, unless it
# is already there (written whole or not at all).
att() {
	local o=$1; shift
	[ -s "$o" ] && return 0
	echo "attack_figures: $o" >&2
	"$bin/rmlops-attack" "$@" -j 1 --json > "$o.tmp"
	mv "$o.tmp" "$o"
}
# Disjoint subsets: split N images off what is left, K times.
rest="$test"
for k in $(seq 1 "$K"); do
	if [ ! -s "$out/sub$k.rml" ] || [ ! -s "$out/rest$k.rml" ]; then
		"$bin/rmlops-data" split --count "$N" -s "$k" -q -o "$out/sub$k.rml" --rest "$out/rest$k.rml" "$rest"
	fi
	rest="$out/rest$k.rml"
done
A="$bin/rmlops-attack"
for k in $(seq 1 "$K"); do
	d="$out/sub$k.rml"
	att "$out/fgsm3-$k.json" run -m "$model" -d "$d" --attack fgsm --eps 3 -s "$k"
	att "$out/pgd3-$k.json" run -m "$model" -d "$d" --attack pgd --eps 3 --steps 10 -s "$k"
	for e in 3 5; do
		# The first subset keeps its adversarial set and draws a sheet.
		if [ "$k" -eq 1 ]; then
			att "$out/cmaes$e-$k.json" create -m "$model" -d "$d" --attack cmaes-linf --eps "$e" \
				--generations 10 -s "$k" -o "$out/cmaes$e-$k.rml" --sheet "$out/sheet-cmaes$e.png"
		else
			att "$out/cmaes$e-$k.json" run -m "$model" -d "$d" --attack cmaes-linf --eps "$e" \
				--generations 10 -s "$k"
		fi
	done
done
# Robustness curve of FGSM and PGD on the first CURVE_N images of subset 1,
# and a sheet of PGD examples.
if [ ! -s "$out/curve.json" ]; then
	"$bin/rmlops-data" take --first "$CURVE_N" -q -o "$out/curve-data.rml" "$out/sub1.rml"
	cat > "$out/curve.yaml" <<-EOF
	attacks:
	  - {name: fgsm, attack: fgsm}
	  - {name: pgd-10, attack: pgd, steps: 10}
	EOF
	"$A" curve -m "$model" -d "$out/curve-data.rml" --config "$out/curve.yaml" --eps 0,1,2,3,4,6,8 \
		-j 1 --plot "$out/curve.png" --json > "$out/curve.json.tmp"
	"$A" curve -m "$model" -d "$out/curve-data.rml" --config "$out/curve.yaml" --eps 0,1,2,3,4,6,8 \
		-j 1 > "$out/curve.txt"
	mv "$out/curve.json.tmp" "$out/curve.json"
fi
if [ ! -s "$out/sheet-pgd3.png" ]; then
	"$bin/rmlops-data" take --first 40 -q -o "$out/sheet-data.rml" "$out/sub1.rml"
	"$A" create -m "$model" -d "$out/sheet-data.rml" --attack pgd --eps 3 -s 1 -j 1 -q \
		--sheet "$out/sheet-pgd3.png" -o "$out/sheet-pgd3.rml"
fi

# Summary: mean, sd and 95% CI over the K subsets, as a markdown table.
field() { sed "s/.*\"$1\":\([^,}]*\).*/\1/" "$2"; }
summary() { # NAME FIELD FILES...
	local name=$1 f=$2; shift 2
	for x in "$@"; do field "$f" "$x"; done | awk -v name="$name" '
	BEGIN { split("12.706 4.303 3.182 2.776 2.571 2.447 2.365 2.306 2.262 2.228 2.201 2.179 2.160 2.145 2.131 2.120 2.110 2.101 2.093 2.086", t, " ") }
	{ v[NR] = $1; s += $1 }
	END {
		n = NR; m = s / n; ss = 0
		for (i = 1; i <= n; i++) ss += (v[i] - m) ^ 2
		sd = n > 1 ? sqrt(ss / (n - 1)) : 0
		h = n > 1 ? (n - 1 <= 20 ? t[n - 1] : 1.96) * sd / sqrt(n) : 0
		printf "%s | %.1f%% | [%.1f, %.1f] | %.2f\n", name, 100 * m, 100 * (m - h), 100 * (m + h), 100 * sd
	}'
}
files() { for k in $(seq 1 "$K"); do printf '%s ' "$out/$1-$k.json"; done; }
{
	echo "measure ($K disjoint subsets of $N test images) | mean | 95% CI | sd (points)"
	echo "---|---|---|---"
	summary "clean accuracy" clean_acc1 $(files fgsm3)
	summary "accuracy under FGSM, eps 3" acc1 $(files fgsm3)
	summary "accuracy under PGD, eps 3, 10 steps" acc1 $(files pgd3)
	summary "accuracy under CMA-ES L-inf, eps 3, 10 generations" acc1 $(files cmaes3)
	summary "accuracy under CMA-ES L-inf, eps 5, 10 generations" acc1 $(files cmaes5)
	summary "success rate of FGSM, eps 3" success_rate $(files fgsm3)
	summary "success rate of PGD, eps 3" success_rate $(files pgd3)
	summary "success rate of CMA-ES, eps 3" success_rate $(files cmaes3)
	summary "success rate of CMA-ES, eps 5" success_rate $(files cmaes5)
	for e in 3 5; do
		for k in $(seq 1 "$K"); do field queries_mean "$out/cmaes$e-$k.json"; done |
			awk -v e=$e '{ s += $1 } END { printf "CMA-ES eps %s: %.1f queries per image on average\n", e, s / NR }'
	done
	# PGD at least as strong as FGSM, subset by subset.
	for k in $(seq 1 "$K"); do
		awk -v f="$(field acc1 "$out/fgsm3-$k.json")" -v p="$(field acc1 "$out/pgd3-$k.json")" -v k=$k \
			'BEGIN { printf "subset %d: FGSM %.3f, PGD %.3f%s\n", k, f, p, p <= f ? "" : "  (PGD weaker!)" }'
	done
} | tee "$out/summary.md"
