#!/usr/bin/env bash
# The README figures of rmlops-tta: ACC1, ACC2 and the rejection rate
# without and with test-time adaptation (MEMO at the paper's learning
# rate, MEMO with a larger step chosen on held-out data, TENT on the
# batch-norm parameters) on CIFAR-10 test images that are clean, under
# common corruptions at severity 3, and under tensor-level fault injection
# at rate 0.1, with 95% confidence intervals over repetitions. Resumable:
# every result is its own file, and existing files are kept.
#
#     scripts/tta_figures.sh BIN_DIR OUT_DIR [REPS]
#
# What varies between repetitions k = 1..REPS: the 1,000 test images
# (drawn with seed k from the 10,000), the noise of the random
# corruptions (seed k), the fault (rmlops-inject -s k), and the seed of
# the augmentations and of the TENT stream order (-s k). With and without
# adaptation see the same images and faults, so differences are paired.
# The model with adapters: the carried base model with adapters (gamma 4)
# whose phi group and head were fine-tuned for two epochs on 10,000
# training images. The rejection threshold (entropy) rejects 10% of 1,000
# clean held-out validation images without adaptation, and stays fixed.
#
# Inputs (not in the repository): TEST (default work/test.rml, the 10,000
# CIFAR-10 test images), TRAIN (work/base/train.rml), VAL
# (work/base/val.rml). Single-threaded; about 40 minutes for 5
# repetitions on this machine.
set -euo pipefail
bin=${1:-build/bin}
out=${2:-work/tta}
reps=${3:-5}
top=$(cd "$(dirname "$0")/.." && pwd)
base=${BASE:-$top/testdata/mvit-xxs-cifar10.rml}
test=${TEST:-$top/work/test.rml}
train=${TRAIN:-$top/work/base/train.rml}
val=${VAL:-$top/work/base/val.rml}
corruptions=${CORRUPTIONS:-gaussian_noise defocus_blur contrast jpeg_compression}
memo_lr=${MEMO_LR:-3}
n_test=${N_TEST:-1000}
export PATH="$bin:$PATH"
mkdir -p "$out/res" "$out/data"
# keep FILE CMD...: run CMD with stdout to FILE unless FILE exists (atomic).
keep() {
	local f=$1; shift
	[ -s "$f" ] && return 0
	"$@" > "$f.tmp" && mv "$f.tmp" "$f"
}

# 1. The model with adapters.
if [ ! -s "$out/tuned.rml" ]; then
	rmlops-data take --count 10000 -s 1 "$train" -q -o "$out/ft.rml"
	rmlops-train -m "$base" --adapters 4 --tune phi,W -d "$out/ft.rml" --epochs 2 --batch 32 \
		--optimizer adamw --lr 0.001 --wd 0 --warmup 0 -s 1 -j 1 -q -o "$out/tuned.rml"
fi
# 2. The rejection threshold, on clean held-out images without adaptation.
[ -s "$out/val.rml" ] || rmlops-data take --count 1000 -s 2 "$val" -q -o "$out/val.rml"
keep "$out/threshold.json" rmlops-eval -m "$out/tuned.rml" -d "$out/val.rml" --reject entropy \
	--reject-rate 0.1 --json -j 1
thr=$(sed 's/.*"threshold":\([0-9.]*\).*/\1/' "$out/threshold.json")
echo "entropy threshold $thr" >&2

# 3. Repetitions.
for k in $(seq "$reps"); do
	[ -s "$out/data/clean.$k.rml" ] || rmlops-data take --count "$n_test" -s "$k" "$test" -q -o "$out/data/clean.$k.rml"
	for c in $corruptions; do
		[ -s "$out/data/$c.$k.rml" ] || rmlops-data corrupt --type "$c" --severity 3 -s "$k" \
			"$out/data/clean.$k.rml" -q -o "$out/data/$c.$k.rml"
	done
	[ -s "$out/data/fault.$k.rml" ] || rmlops-inject --unit tensor --rate 0.1 -s "$k" -q \
		-m "$out/tuned.rml" -o "$out/data/fault.$k.rml"
	for cond in clean $corruptions fault; do
		if [ "$cond" = fault ]; then
			m="$out/data/fault.$k.rml" d="$out/data/clean.$k.rml"
		else
			m="$out/tuned.rml" d="$out/data/$cond.$k.rml"
		fi
		r="$out/res/$cond.$k"
		keep "$r.none.json" rmlops-eval -m "$m" -d "$d" --reject entropy --threshold "$thr" --json -j 1
		for meth in memo memo_lr tent; do
			[ -s "$r.$meth.json" ] && continue
			case $meth in
			memo) args=() ;;
			memo_lr) args=(--lr "$memo_lr") ;;
			tent) args=(--method tent --tune bn --batch 64 --shuffle --optimizer adam --lr 0.001) ;;
			esac
			rmlops-tta -m "$m" -d "$d" -s "$k" -j 1 "${args[@]}" --reject entropy --threshold "$thr" \
				--json > "$r.$meth.rml" 2> "$r.$meth.tta.json"
			rmlops-eval -p "$r.$meth.rml" --json > "$r.$meth.json.tmp"
			mv "$r.$meth.json.tmp" "$r.$meth.json"
			rm -f "$r.$meth.rml"
		done
		echo "rep $k $cond done" >&2
	done
done

# 4. The table: mean and 95% CI (Student t) over repetitions, and the
# paired change of ACC1 against no adaptation.
python3 - "$out/res" "$reps" "$corruptions" "$memo_lr" > "$out/table.md" <<'EOF'
import json, math, os, sys
res, reps, corr, memo_lr = sys.argv[1], int(sys.argv[2]), sys.argv[3].split(), sys.argv[4]
T975 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262,
        10: 2.228, 11: 2.201, 12: 2.179, 13: 2.160, 14: 2.145, 15: 2.131, 19: 2.093}
def summ(v):
    n = len(v)
    m = sum(v) / n
    if n < 2:
        return m, m, m
    sd = math.sqrt(sum((x - m) ** 2 for x in v) / (n - 1))
    h = T975.get(n - 1, 1.96) * sd / math.sqrt(n)
    return m, m - h, m + h
def get(cond, meth, key):
    v = []
    for k in range(1, reps + 1):
        f = os.path.join(res, "%s.%d.%s.json" % (cond, k, meth))
        if os.path.exists(f):
            v.append(json.load(open(f))[key])
    return v
methods = [("none", "none"), ("memo", "MEMO, lr 0.001"), ("memo_lr", "MEMO, lr " + memo_lr),
           ("tent", "TENT (BN)")]
def pct(s):
    return "%.1f [%.1f, %.1f]" % tuple(100 * x for x in s)
print("| condition | adaptation | ACC1 % | ACC2 % | rejected % | ΔACC1 (paired) | n_rep |")
print("|---|---|---|---|---|---|---|")
for cond in ["clean"] + corr + ["fault"]:
    name = {"fault": "faults: 10% of tensors, 1 bit", "clean": "clean"}.get(cond, cond.replace("_", " ") + " (3)")
    a0 = get(cond, "none", "acc1")
    for meth, label in methods:
        a1, a2, rr = get(cond, meth, "acc1"), get(cond, meth, "acc2"), get(cond, meth, "reject_rate")
        if not a1:
            continue
        d = "" if meth == "none" or len(a0) != len(a1) else "%+.1f [%+.1f, %+.1f]" % tuple(100 * x for x in summ([b - a for a, b in zip(a0, a1)]))
        print("| %s | %s | %s | %s | %s | %s | %d |" % (name if meth == "none" else "", label, pct(summ(a1)),
              pct(summ(a2)), "%.1f" % (100 * summ(rr)[0]), d, len(a1)))
EOF
cat "$out/table.md"
