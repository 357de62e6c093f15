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
# (work/base/val.rml). MEMO_LR fixes the larger learning rate instead of
# choosing it. Single-threaded; about 40 minutes for 5 repetitions on
# this machine.
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
memo_lr=${MEMO_LR:-}
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

# 2b. MEMO's larger step: the learning rate among 1, 3, 10, 30 (one SGD step)
# with the best mean ACC1 on 300 held-out validation images under Gaussian
# noise and contrast at severity 3 (never on the test images).
if [ -z "$memo_lr" ]; then
	[ -s "$out/data/val300.rml" ] || rmlops-data take --count 300 -s 3 "$val" -q -o "$out/data/val300.rml"
	for c in gaussian_noise contrast; do
		[ -s "$out/data/val300.$c.rml" ] || rmlops-data corrupt --type "$c" --severity 3 -s 1 \
			"$out/data/val300.rml" -q -o "$out/data/val300.$c.rml"
		for lr in 1 3 10 30; do
			[ -s "$out/res/lrsel.$lr.$c.json" ] && continue
			rmlops-tta -m "$out/tuned.rml" -d "$out/data/val300.$c.rml" -j 1 --lr "$lr" --json \
				2> "$out/res/lrsel.$lr.$c.json.tmp" > /dev/null
			mv "$out/res/lrsel.$lr.$c.json.tmp" "$out/res/lrsel.$lr.$c.json"
		done
	done
	memo_lr=$(python3 - "$out/res" <<'EOF'
import json, sys
acc = {lr: sum(json.load(open("%s/lrsel.%s.%s.json" % (sys.argv[1], lr, c)))["acc1"]
               for c in ("gaussian_noise", "contrast")) / 2 for lr in ("1", "3", "10", "30")}
print(max(acc, key=lambda lr: (acc[lr], -float(lr))))
EOF
)
fi
echo "MEMO's larger learning rate: $memo_lr" >&2

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
			tent) args=(--method tent --tune bn --batch 64 --shuffle --optimizer adamw --lr 0.001) ;;
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
python3 - "$out/res" "$reps" "$corruptions" "$memo_lr" "$out" > "$out/table.md" <<'EOF'
import json, math, os, sys
res, reps, corr, memo_lr, out = sys.argv[1], int(sys.argv[2]), sys.argv[3].split(), sys.argv[4], sys.argv[5]
tsv = {"acc1": open(os.path.join(out, "acc1.tsv"), "w"), "acc2": open(os.path.join(out, "acc2.tsv"), "w")}
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
short = {"clean": "clean", "gaussian_noise": "noise", "shot_noise": "shot", "impulse_noise": "impulse",
         "defocus_blur": "defocus", "motion_blur": "motion", "contrast": "contrast", "brightness": "bright",
         "fog": "fog", "pixelate": "pixelate", "jpeg_compression": "jpeg", "fault": "faults"}
for cond in ["clean"] + corr + ["fault"]:
    name = {"fault": "faults: 10% of tensors, 1 bit", "clean": "clean"}.get(cond, cond.replace("_", " ") + " (3)")
    a0 = get(cond, "none", "acc1")
    for meth, label in methods:
        a1, a2, rr = get(cond, meth, "acc1"), get(cond, meth, "acc2"), get(cond, meth, "reject_rate")
        if not a1:
            continue
        for key, v in (("acc1", a1), ("acc2", a2)):
            tsv[key].write("%s\t%d\t%.6f\t%.6f\t%.6f\n" % ((short.get(cond, cond), [m for m, _ in methods].index(meth)) + summ(v)))
        d = "" if meth == "none" or len(a0) != len(a1) else "%+.1f [%+.1f, %+.1f]" % tuple(100 * x for x in summ([b - a for a, b in zip(a0, a1)]))
        print("| %s | %s | %s | %s | %s | %s | %d |" % (name if meth == "none" else "", label, pct(summ(a1)),
              pct(summ(a2)), "%.1f" % (100 * summ(rr)[0]), d, len(a1)))
EOF
cat "$out/table.md"

# 5. Charts: grouped bars with 95% confidence intervals, drawn with the
# library's canvas (no plotting package needed).
lib=$(cd "$bin/.." && pwd)/librmlops.a
cat > "$out/chart.c" <<'EOF'
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "canvas.h"
/* chart OUT.png TITLE TSV LABEL... : rows "group method mean lo hi". */
int main(int argc, char **argv)
{
	static const unsigned col[4] = { 0x7f7f7f, 0x9ecae1, 0x3182bd, 0xe6550d };
	static char grp[32][32];
	static double v[32][4][3];
	static int have[32][4];
	int ng = 0, nm = argc - 4;
	char g[64];
	int mi;
	double a, lo, hi;
	FILE *f = fopen(argv[3], "r");
	if (!f || nm < 1 || nm > 4)
		return 1;
	while (fscanf(f, "%63s %d %lf %lf %lf", g, &mi, &a, &lo, &hi) == 5) {
		int j = 0;
		while (j < ng && strcmp(grp[j], g))
			j++;
		if (j == ng && ng < 32)
			snprintf(grp[ng++], 32, "%s", g);
		if (j < 32 && mi >= 0 && mi < nm) {
			v[j][mi][0] = a, v[j][mi][1] = lo < 0 ? 0 : lo, v[j][mi][2] = hi > 1 ? 1 : hi;
			have[j][mi] = 1;
		}
	}
	fclose(f);
	int gw = nm * 22 + 30, W = 100 + ng * gw, H = 420, x0 = 50, y0 = 50, ph = 300;
	if (W < 560)
		W = 560;
	rml_canvas c;
	rml_error err = { 0 };
	if (rml_canvas_init(&c, W, H, 0xffffff, &err))
		return 1;
	rml_canvas_text(&c, 10, 15, argv[2], 1, 0x000000);
	for (int t = 0; t <= 10; t += 2) {
		int y = y0 + ph - ph * t / 10;
		char lab[8];
		snprintf(lab, sizeof lab, "%d", t * 10);
		rml_canvas_line(&c, x0, y, W - 20, y, 1, 0xdddddd);
		rml_canvas_text(&c, x0 - 8 - rml_canvas_text_width(lab, 1), y - 3, lab, 1, 0x000000);
	}
	rml_canvas_line(&c, x0, y0, x0, y0 + ph, 1, 0x000000);
	for (int j = 0; j < ng; j++) {
		int gx = x0 + 20 + j * gw;
		for (int m = 0; m < nm; m++) {
			if (!have[j][m])
				continue;
			int x = gx + m * 22, top = y0 + ph - (int)(ph * v[j][m][0] + 0.5);
			rml_canvas_rect(&c, x, top, 18, y0 + ph - top, col[m]);
			int ylo = y0 + ph - (int)(ph * v[j][m][1] + 0.5);
			int yhi = y0 + ph - (int)(ph * v[j][m][2] + 0.5);
			rml_canvas_line(&c, x + 9, yhi, x + 9, ylo, 1, 0x000000);
			rml_canvas_line(&c, x + 5, yhi, x + 13, yhi, 1, 0x000000);
			rml_canvas_line(&c, x + 5, ylo, x + 13, ylo, 1, 0x000000);
		}
		rml_canvas_text(&c, gx + (nm * 22 - rml_canvas_text_width(grp[j], 1)) / 2, y0 + ph + 8,
				grp[j], 1, 0x000000);
	}
	for (int m = 0, lx = x0; m < nm; m++) {
		rml_canvas_rect(&c, lx, H - 30, 12, 12, col[m]);
		lx += 16 + rml_canvas_text(&c, lx + 16, H - 28, argv[4 + m], 1, 0x000000) + 20;
	}
	int bad = rml_canvas_save_png(&c, argv[1], &err) != RML_OK;
	rml_canvas_free(&c);
	return bad;
}
EOF
cc -O2 -std=c11 -fopenmp -I"$top/lib" -o "$out/chart" "$out/chart.c" "$lib" -lopenblas -lyaml -lpng -lz -lm -lpthread
labels=("no adaptation" "MEMO lr 0.001" "MEMO lr $memo_lr" "TENT (batch norm)")
"$out/chart" "$out/tta-acc1.png" "ACC1 (%) on 1,000 CIFAR-10 test images, mean and 95% CI over $reps repetitions" \
	"$out/acc1.tsv" "${labels[@]}"
"$out/chart" "$out/tta-acc2.png" "ACC2 (%): entropy above the clean-data threshold rejected; mean and 95% CI over $reps repetitions" \
	"$out/acc2.tsv" "${labels[@]}"
