#!/usr/bin/env bash
# The README's adversarial figures for a model: accuracy under FGSM (eps 3),
# PGD (eps 3, 10 steps) and the CMA-ES threshold attack (eps 3 and 5, 10
# generations, default population: the settings of the paper's tests), on
# K disjoint subsets of N test images each (subset k also uses seed k), with
# the mean and a 95% confidence interval (Student t) over the subsets; a
# robustness curve of FGSM and PGD, and a sheet of examples.
# Single-threaded. Resumable: every output already present is kept.
# Usage: scripts/attack_figures.sh MODEL TEST.rml OUTDIR [K] [N]
# The attack-strength table (every attack, eps 3 and 5, with intervals and
# queries) is scripts/attack_table.sh.
set -euo pipefail
model=${1:?usage: attack_figures.sh MODEL TEST OUTDIR [K] [N]}
test=${2:?}
out=${3:?}
K=${4:-5}
N=${5:-500}
CURVE_N=${CURVE_N:-250}   # images of subset 1 for the curve
bin=${BIN:-build/bin}
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
summary() { # NAME FIELD SET: FIELD of the K subsets' SET-k.json files
	local name=$1 f=$2 set=$3 k
	for k in $(seq 1 "$K"); do field "$f" "$out/$set-$k.json"; done | awk -v name="$name" '
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
{
	echo "measure ($K disjoint subsets of $N test images) | mean | 95% CI | sd (points)"
	echo "---|---|---|---"
	summary "clean accuracy" clean_acc1 fgsm3
	summary "accuracy under FGSM, eps 3" acc1 fgsm3
	summary "accuracy under PGD, eps 3, 10 steps" acc1 pgd3
	summary "accuracy under CMA-ES L-inf, eps 3, 10 generations" acc1 cmaes3
	summary "accuracy under CMA-ES L-inf, eps 5, 10 generations" acc1 cmaes5
	summary "success rate of FGSM, eps 3" success_rate fgsm3
	summary "success rate of PGD, eps 3" success_rate pgd3
	summary "success rate of CMA-ES, eps 3" success_rate cmaes3
	summary "success rate of CMA-ES, eps 5" success_rate cmaes5
	for e in 3 5; do
		for k in $(seq 1 "$K"); do field queries_mean "$out/cmaes$e-$k.json"; done |
			awk -v e="$e" '{ s += $1 } END { printf "CMA-ES eps %s: %.1f queries per image on average\n", e, s / NR }'
	done
	# PGD at least as strong as FGSM, subset by subset.
	for k in $(seq 1 "$K"); do
		awk -v f="$(field acc1 "$out/fgsm3-$k.json")" -v p="$(field acc1 "$out/pgd3-$k.json")" -v k="$k" \
			'BEGIN { printf "subset %d: FGSM %.3f, PGD %.3f%s\n", k, f, p, p <= f ? "" : "  (PGD weaker!)" }'
	done
} | tee "$out/summary.md"
