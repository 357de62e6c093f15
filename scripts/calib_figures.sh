#!/usr/bin/env bash
# The README's calibration figures: a model calibrated on held-out
# training images (300 augmented copies per class and 300 Soft Brownian
# Offset images in the autoencoder's latent space) and measured on the
# test images, with Fashion-MNIST as real out-of-distribution images:
# ECE/MCE/ACE/NLL/Brier/AUROC before and after for every method, repeated
# over seeds (augmentation, autoencoder and sampling) for 95% confidence
# intervals; the same with pixel-space SBO and without OOD data; what
# rmlops-eval measures on the calibrated model, also under fault
# injection; reliability diagrams, risk-coverage curves and a sheet of the
# generated images as PNG.
#
# Usage: scripts/calib_figures.sh MODEL VAL.rml TEST.rml OUTDIR [SEEDS]
# Resumable: every step writes its result under a temporary name and
# renames it when done; a step whose result exists is skipped, so an
# interrupted run continues where it stopped.
set -euo pipefail
model=${1:?usage: calib_figures.sh MODEL VAL TEST OUTDIR [SEEDS]}
val=${2:?}
test=${3:?}
out=${4:?}
seeds=${5:-5}
bin=${BIN:-build/bin}
fig=${FIGURES:-man/figures}
fm=${FASHION_MNIST:-/usr/share/datasets/fashion-mnist}
threads=${THREADS:-1}
fault_images=${FAULT_IMAGES:-1000}
mkdir -p "$out" "$fig"

# step RESULT CMD...: run CMD with its stdout going to RESULT, unless
# RESULT already exists.
step() {
	local res=$1
	shift
	[ -s "$res" ] && return 0
	echo "calib_figures: $(basename "$res")" >&2
	"$@" > "$res.tmp"
	mv "$res.tmp" "$res"
}

# 2,000 Fashion-MNIST test images as 32x32 RGB: a real out-of-distribution set.
if [ ! -s "$out/fmnist.rml" ]; then
	"$bin/rmlops-data" import idx "$fm/t10k-images-idx3-ubyte.gz" "$fm/t10k-labels-idx1-ubyte.gz" \
		--classes fashion-mnist --gray-to-rgb --resize 32 -q \
		| "$bin/rmlops-data" take --count 2000 -s 1 -q -o "$out/fmnist.rml"
fi

cal() { "$bin/rmlops-calibrate" -m "$model" -d "$val" --test "$test" --test-ood "$out/fmnist.rml" \
	-j "$threads" --compare --json "$@"; }

# BBQ with 10 bins (the paper's method) and every other method, over seeds.
for s in $(seq 1 "$seeds"); do
	extra=()
	if [ "$s" = 1 ]; then
		extra=(--plot "$out/reliability.png" --risk-coverage "$out/risk-coverage.png"
			--save-ood "$out/ood-s1.rml")
	fi
	step "$out/latent-s$s.json" cal -s "$s" -o "$out/calibrated-s$s.rml" "${extra[@]}"
done
# The same with pixel-space SBO and without out-of-distribution data (seed 1).
step "$out/pixel-s1.json" cal -s 1 --ood sbo-pixel -o "$out/pixel-s1.rml"
step "$out/none-s1.json" cal -s 1 --ood none -o "$out/none-s1.rml"
# And on the held-out images as they are: no augmentation, no OOD data.
step "$out/plain-s1.json" cal -s 1 --ood none --per-class 0 -o "$out/plain-s1.rml" \
	--plot "$out/reliability-plain.png"

# What rmlops-eval measures on the calibrated model: the calibrator and the
# stored rejection rule apply by themselves; --no-calibration is the raw
# model; and one flipped bit in 10% of the weight tensors, 20 repetitions
# on 1,000 test images.
step "$out/eval-calibrated.json" "$bin/rmlops-eval" -m "$out/calibrated-s1.rml" -d "$test" -j "$threads" --json
step "$out/eval-raw.json" "$bin/rmlops-eval" -m "$out/calibrated-s1.rml" -d "$test" -j "$threads" \
	--no-calibration --json
if [ ! -s "$out/test1000.rml" ]; then
	"$bin/rmlops-data" take --count "$fault_images" -s 1 "$test" -q -o "$out/test1000.rml"
fi
step "$out/faults-calibrated.json" "$bin/rmlops-eval" -m "$out/calibrated-s1.rml" -d "$out/test1000.rml" \
	-j "$threads" --repeat 20 --rate 0.1 -s 1 --json
step "$out/faults-raw.json" "$bin/rmlops-eval" -m "$out/calibrated-s1.rml" -d "$out/test1000.rml" \
	-j "$threads" --repeat 20 --rate 0.1 -s 1 --no-calibration --json

# Pictures.
cp "$out/reliability.png" "$fig/calib-reliability.png"
cp "$out/risk-coverage.png" "$fig/calib-risk-coverage.png"
cp "$out/reliability-plain.png" "$fig/calib-reliability-plain.png"
"$bin/rmlops-data" show "$out/ood-s1.rml" --count 60 --cols 15 --scale 2 -q -o "$fig/calib-ood.png"

# The tables, in markdown.
python3 - "$out" "$seeds" <<'EOF' | tee "$out/summary.md"
import json, math, sys
out, seeds = sys.argv[1], int(sys.argv[2])
t975 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262}
def load(name):
    with open(f"{out}/{name}") as f:
        return json.load(f)
def ci(xs):
    n = len(xs)
    m = sum(xs) / n
    if n < 2:
        return f"{m:.4f}"
    sd = math.sqrt(sum((x - m) ** 2 for x in xs) / (n - 1))
    if sd == 0:
        return f"{m:.4f}"
    h = t975.get(n - 1, 1.96) * sd / math.sqrt(n)
    return f"{m:.4f} [{m - h:.4f}, {m + h:.4f}]"
runs = [load(f"latent-s{s}.json") for s in range(1, seeds + 1)]
first = runs[0]
t = first["test"]
print(f"Calibration data: {first['n_id']} augmented + {first['n_ood']} SBO images; "
      f"test: {t['n']} rows ({t['before']['n_ood']} out-of-distribution); {seeds} seeds.\n")
methods = [k for k in first["compare"] if k != "on"]
print("| method | ECE | MCE | ACE | NLL | Brier | AUROC conf | AUROC entropy |")
print("|---|---|---|---|---|---|---|---|")
for meth in methods:
    cells = []
    for key in ("ece", "mce", "ace", "nll", "brier", "auroc_conf", "auroc_entropy"):
        cells.append(ci([r["compare"][meth][key] for r in runs]))
    print(f"| {meth} | " + " | ".join(cells) + " |")
print()
print("AUROC on the test images by source (BBQ, before -> after, mean over seeds):\n")
print("| OOD images | n | by confidence | by entropy |")
print("|---|---|---|---|")
for src in ("generated", "real"):
    b = [r["test_auroc"][src]["before"] for r in runs]
    a = [r["test_auroc"][src]["after"] for r in runs]
    n = first["test_auroc"][src]["n"]
    print(f"| {src} | {n} | {ci([x['auroc_conf'] for x in b])} -> {ci([x['auroc_conf'] for x in a])} "
          f"| {ci([x['auroc_entropy'] for x in b])} -> {ci([x['auroc_entropy'] for x in a])} |")
print()
print("Rejection threshold (BBQ, entropy, at most 10% of the calibration data):\n")
rj = [r["reject"] for r in runs]
print(f"- threshold {ci([x['threshold'] for x in rj])}; calibration reject rate "
      f"{ci([x['reject_rate'] for x in rj])}, ACC2 {ci([x['acc2'] for x in rj])}")
print(f"- test: reject rate {ci([x['test_reject_rate'] for x in rj])}, ACC2 {ci([x['test_acc2'] for x in rj])}, "
      f"OOD rejected {ci([x['test_ood_reject_rate'] for x in rj])}")
print()
print("Calibration data (seed 1, BBQ, on the test images; AUROC over generated and real OOD):\n")
print("| calibration data | ECE after | ACE after | NLL after | AUROC conf | AUROC entropy |")
print("|---|---|---|---|---|---|")
for name, f in (("300/class augmented + 300 SBO latent", "latent-s1.json"),
                ("300/class augmented + 300 SBO pixel", "pixel-s1.json"),
                ("300/class augmented, no OOD", "none-s1.json"),
                ("the 5,000 images as they are, no OOD", "plain-s1.json")):
    r = load(f)
    a = r["test"]["after"]
    print(f"| {name} | {a['ece']:.4f} | {a['ace']:.4f} | {a['nll']:.4f} | {a['auroc_conf']:.4f} | {a['auroc_entropy']:.4f} |")
print()
print()
print("Test ECE of every method by calibration data (seed 1):\n")
variants = (("latent-s1.json", "+ SBO latent"), ("pixel-s1.json", "+ SBO pixel"),
            ("none-s1.json", "augmented only"), ("plain-s1.json", "as they are"))
rs = [load(f) for f, _ in variants]
print("| method | " + " | ".join(n for _, n in variants) + " |")
print("|---|" + "---|" * len(variants))
for meth in methods:
    print(f"| {meth} | " + " | ".join(f"{r['compare'][meth]['ece']:.4f}" for r in rs) + " |")
print()
ec, er = load("eval-calibrated.json"), load("eval-raw.json")
print(f"rmlops-eval on the calibrated model ({er['n']} test images):\n")
print("| | acc1 | acc2 | reject_rate | ECE | ACE | NLL |")
print("|---|---|---|---|---|---|---|")
for name, r in (("raw (--no-calibration)", er), ("calibrated, stored rule", ec)):
    print(f"| {name} | {r['acc1']:.4f} | {r['acc2']:.4f} | {r['reject_rate']:.4f} | {r['ece']:.4f} | {r['ace']:.4f} | {r['nll']:.4f} |")
print()
fc, fr = load("faults-calibrated.json"), load("faults-raw.json")
def rep(r, k):
    v = r[k]
    return f"{v['mean']:.4f} [{v['ci95'][0]:.4f}, {v['ci95'][1]:.4f}]"
print(f"One flipped bit in 10% of the weight tensors, 20 repetitions, {fr['n']} test images:\n")
print("| | acc1 | acc2 | reject_rate | ECE |")
print("|---|---|---|---|---|")
for name, r in (("raw", fr), ("calibrated, stored rule", fc)):
    print(f"| {name} | {rep(r, 'acc1')} | {rep(r, 'acc2')} | {rep(r, 'reject_rate')} | {rep(r, 'ece')} |")
EOF
