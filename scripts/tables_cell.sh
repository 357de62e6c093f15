#!/usr/bin/env bash
# One cell of the life-cycle tables (mk/tables.mk): repetitions of a
# disturbance on one model and one part of the test set, each measured as
# ACC1 (all images) and ACC2 (without the rejected), then the mean, sd and
# 95% CI over the repetitions (scripts/tables.py summary) with the cell's
# wall time. Everything of the cell goes to OUT.d/; OUT is written last.
#
#   tables_cell.sh clean      CFG MODEL DATA 0    1      OUT BIN J [REJECT...]
#   tables_cell.sh faults     CFG MODEL DATA RATE REPEAT OUT BIN J [REJECT...]
#   tables_cell.sh attack     CFG MODEL DATA EPS  REPEAT OUT BIN J [REJECT...]
#   tables_cell.sh resilience CFG MODEL VAL REPEAT TASKS OUT BIN J [METAOPT-OPTS...]
#
# TBITS (faults): the bit positions of rmlops-inject --bits (default any);
# TATTACK (attacks): tuned (default) or paper, the CMA-ES threshold attack
# of 10 generations with rmlops-attack --preset tuned or paper, or square.
# Configs 0-2 predict with rmlops-eval (rejection options REJECT...), Config
# 3 with rmlops-tta (MEMO on the adapters; the calibrator's rejection rule).
# Faults: repetition k is rmlops-inject with seed k (one bit flipped in a
# fraction RATE of theta's tensors), then rmlops-eval or, for Config 3,
# rmlops-tta on the faulty model; the injection logs are kept, and
# repetition k of every configuration of one Test flips the same bits.
# Attacks: rmlops-attack create (TATTACK, seed k) against the
# configuration's model,
# each adversarial set checked by rmlops-attack verify and kept.
set -euo pipefail
kind=$1 cfg=$2 model=$3 data=$4 level=$5 rep=$6 out=$7 bin=$8 j=$9
shift 9
here=$(cd "$(dirname "$0")" && pwd)
py=${TPY:-python3}
d=$out.d
t0=$(date +%s.%N)
# Fault and attack cells continue after the repetitions a stopped run
# finished (the same model, data and settings, checked by their digest in
# OUT.d/key); each repetition's line in reps.jsonl is its last write, and
# OUT.d/elapsed keeps the wall time of the repetitions done.
first=1 before=0
key="$kind $cfg $(sha256sum < "$model" | cut -c1-64) $(sha256sum < "$data" | cut -c1-64) $level $rep"
key="$key ${TBITS:-any} ${TATTACK:-tuned} $*"
if [ "$kind" != faults ] && [ "$kind" != attack ]; then
	rm -rf "$d"
elif [ -f "$d/key" ] && [ "$(cat "$d/key")" = "$key" ] && [ -f "$d/reps.jsonl" ]; then
	done=$(wc -l < "$d/reps.jsonl")
	head -n "$done" "$d/reps.jsonl" > "$d/reps.jsonl.tmp"
	mv "$d/reps.jsonl.tmp" "$d/reps.jsonl"
	before=$(cat "$d/elapsed" 2> /dev/null || echo 0)
	first=$((done + 1))
	echo "tables_cell.sh: $(basename "$out" .json): continuing after $done of $rep repetitions" >&2
else
	rm -rf "$d"
fi
mkdir -p "$d"
[ "$kind" != faults ] && [ "$kind" != attack ] || printf '%s\n' "$key" > "$d/key"
# The wall time so far, after each repetition.
elapsed() {
	awk -v p="$before" -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.3f\n", p + b - a }'
}
case $kind in
clean)
	if [ "$cfg" = 3 ]; then
		"$bin/rmlops-tta" -m "$model" -d "$data" -s 1 -j "$j" -q > "$d/p.rml"
		"$bin/rmlops-eval" -p "$d/p.rml" --json > "$d/reps.jsonl"
	else
		"$bin/rmlops-eval" -m "$model" -d "$data" -j "$j" -q --json "$@" > "$d/reps.jsonl"
	fi
	;;
faults)
	# Repetition k flips the bits that rmlops-inject draws with seed k, in
	# every configuration: the four cells of one Test see the same faults
	# (theta is the same tensors in all of them), so their differences are
	# the configurations' and not the draws'.
	[ "$first" -gt 1 ] || : > "$d/reps.jsonl"
	for k in $(seq "$first" "$rep"); do
		"$bin/rmlops-inject" -m "$model" --unit tensor --rate "$level" --bits "${TBITS:-any}" -s "$k" \
			--log "$d/faults-$k.jsonl" -q -o "$d/faulty.rml"
		if [ "$cfg" = 3 ]; then
			"$bin/rmlops-tta" -m "$d/faulty.rml" -d "$data" -s 1 -j "$j" -q > "$d/p.rml"
			"$bin/rmlops-eval" -p "$d/p.rml" --json >> "$d/reps.jsonl"
		else
			"$bin/rmlops-eval" -m "$d/faulty.rml" -d "$data" -j "$j" -q --json "$@" >> "$d/reps.jsonl"
		fi
		elapsed > "$d/elapsed.tmp" && mv "$d/elapsed.tmp" "$d/elapsed"
	done
	rm -f "$d/faulty.rml" "$d/p.rml"
	;;
attack)
	case ${TATTACK:-tuned} in
	paper | tuned) how=(--attack cmaes-linf --preset "${TATTACK:-tuned}" --generations 10) ;;
	square) how=(--attack square --norm linf --queries 5000) ;;
	*) echo "tables_cell.sh: unknown attack '$TATTACK' (paper, tuned, square)" >&2; exit 2 ;;
	esac
	[ "$first" -gt 1 ] || : > "$d/reps.jsonl"
	for k in $(seq "$first" "$rep"); do
		"$bin/rmlops-attack" create -m "$model" -d "$data" "${how[@]}" --eps "$level" \
			-s "$k" -j "$j" --json -o "$d/adv-$k.rml" > "$d/attack-$k.json"
		"$bin/rmlops-attack" verify -d "$d/adv-$k.rml" --clean "$data" --json > "$d/verify-$k.json"
		if [ "$cfg" = 3 ]; then
			"$bin/rmlops-tta" -m "$model" -d "$d/adv-$k.rml" -s 1 -j "$j" -q > "$d/p.rml"
			"$bin/rmlops-eval" -p "$d/p.rml" --json >> "$d/reps.jsonl"
			rm -f "$d/p.rml"
		else
			"$bin/rmlops-eval" -m "$model" -d "$d/adv-$k.rml" -j "$j" -q --json "$@" >> "$d/reps.jsonl"
		fi
		elapsed > "$d/elapsed.tmp" && mv "$d/elapsed.tmp" "$d/elapsed"
	done
	;;
resilience)
	tasks=$rep
	# shellcheck disable=SC2086
	"$bin/rmlops-metaopt" --eval -m "$model" --val "$data" --tasks "$tasks" --pool task "$@" \
		--repeat "$level" -s 7 -j "$j" --json --plot "$d/curve.png" > "$d/eval.json"
	;;
*)
	echo "tables_cell.sh: unknown cell kind '$kind'" >&2
	exit 2
	;;
esac
"$py" "$here/tables.py" summary "$kind" "$d" "$(elapsed)" "$level" > "$out.tmp"
mv "$out.tmp" "$out"
