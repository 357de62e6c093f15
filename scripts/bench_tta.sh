#!/usr/bin/env bash
# Throughput of MEMO test-time adaptation (B = 8 augmented copies, one SGD
# step on the adapter group phi, episodic), rmlops-tta beside the same
# procedure in PyTorch (scripts/bench_tta_torch.py) in this one run.
# Both sides: mvit-xxs with adapters (gamma 4), the same 7,312 adapted
# parameters, the prediction before and after adapting, the better of 1
# and 2 threads, the median of BENCH_TTA_REPS runs over BENCH_TTA_IMAGES
# images. The model-only figure excludes making the augmented copies on
# both sides (rmlops times them separately; PyTorch gets them made
# beforehand); rmlops with its augmentation is shown too.
#     scripts/bench_tta.sh BIN_DIR
set -euo pipefail
bin=${1:-build/bin}
top=$(cd "$(dirname "$0")/.." && pwd)
out=${BENCH_OUT:-$(dirname "$bin")/bench}
n=${BENCH_TTA_IMAGES:-200}
reps=${BENCH_TTA_REPS:-3}
mkdir -p "$out"
py=""
for p in python3 /usr/bin/python3; do
	if command -v "$p" > /dev/null && "$p" -c 'import torch' 2> /dev/null; then py=$p; break; fi
done
[ -n "$py" ] || echo "bench_tta: PyTorch not found (apt-get install python3-torch); rmlops figures only" >&2
# A model with adapters: the speed does not depend on how well they are
# trained, so a short fine-tune of the carried base model on 64 images.
"$bin/rmlops-data" take --first "$n" "$top/testdata/cifar10-test-1000.rml" -q -o "$out/tta-data.rml"
"$bin/rmlops-data" take --per-class 7 "$top/testdata/cifar10-test-1000.rml" -q -o "$out/tta-ft.rml"
"$bin/rmlops-train" -m "$top/testdata/mvit-xxs-cifar10.rml" --adapters 4 --tune phi,W \
	-d "$out/tta-ft.rml" --epochs 1 --batch 16 --lr 0.001 -q -o "$out/tta-model.rml"
res="$out/tta.jsonl"
: > "$res"
for t in 1 2; do
	for r in $(seq "$reps"); do
		"$bin/rmlops-tta" -m "$out/tta-model.rml" -d "$out/tta-data.rml" -j "$t" --json -q \
			2> "$out/tta-r.json" > /dev/null
		sed "s/^{/{\"impl\":\"rmlops\",\"threads\":$t,/" "$out/tta-r.json" >> "$res"
	done
	if [ -n "$py" ]; then
		"$py" "$top/scripts/bench_tta_torch.py" "$t" "$n" "$reps" >> "$res"
	fi
done
python3 - "$res" <<'EOF'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
def best(f):
    by = {}
    for r in rows:
        v = f(r)
        if v is not None:
            by.setdefault(r["threads"], []).append(v)
    return max(((statistics.median(v), t) for t, v in by.items()), default=(None, None))
ours_model = best(lambda r: r["n"] / (r["seconds"] - r["augment_seconds"]) if r["impl"] == "rmlops" else None)
ours_full = best(lambda r: r["images_per_s"] if r["impl"] == "rmlops" else None)
torch_model = best(lambda r: r["images_per_s"] if r["impl"] == "pytorch" else None)
print("%-52s %12s %12s %7s" % ("MEMO, B=8, one step, adapter group phi", "rmlops img/s", "PyTorch", "ratio"))
def line(what, a, b):
    ratio = "%.2f" % (a[0] / b[0]) if a[0] and b[0] else "-"
    fa = "%.1f (%dt)" % a if a[0] else "-"
    fb = "%.1f (%dt)" % b if b[0] else "-"
    print("%-52s %12s %12s %7s" % (what, fa, fb, ratio))
line("model only (augmentation excluded on both sides)", ours_model, torch_model)
line("with rmlops' AugMix copies (PyTorch: without)", ours_full, torch_model)
EOF
