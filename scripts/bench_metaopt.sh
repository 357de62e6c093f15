#!/usr/bin/env bash
# Time of rmlops-metaopt outer iterations on mvit-xxs with adapters at the
# paper's inner loop (T 40, B 4, 100 validation images per implementation,
# 2 implementations a side: 4 inner loops an iteration), FGSM, fault and
# task disturbances in turn, at 1 and 2 threads; the held-out measurement
# (6 inner loops every 2 iterations) is timed apart. The median of the
# iterations of each disturbance, and the estimate of a full run of
# BENCH_METAOPT_FULL iterations (300).
#     scripts/bench_metaopt.sh BIN_DIR
set -euo pipefail
bin=${1:-build/bin}
top=$(cd "$(dirname "$0")/.." && pwd)
out=${BENCH_OUT:-$(dirname "$bin")/bench}
iters=${BENCH_METAOPT_ITERS:-6}
full=${BENCH_METAOPT_FULL:-300}
mkdir -p "$out"
d="$top/testdata/cifar10-test-1000.rml"
"$bin/rmlops-data" split --count 500 -s 1 -q -o "$out/mo-val.rml" --rest "$out/mo-data.rml" < "$d"
"$bin/rmlops-data" take --per-class 7 "$d" -q -o "$out/mo-ft.rml"
"$bin/rmlops-train" -m "$top/testdata/mvit-xxs-cifar10.rml" --adapters 4 --tune phi,W \
	-d "$out/mo-ft.rml" --epochs 1 --batch 16 --lr 0.001 -q -o "$out/mo-model.rml"
# 10-way 16-shot episodes of the carried images (the speed does not depend
# on where the task comes from).
"$bin/rmlops-data" tasks --ways 10 --shots 16 --queries 16 --episodes 8 -s 1 -q "$d" -o "$out/mo-tasks.rml"
for t in 1 2; do
	rm -f "$out/mo-log-$t.jsonl"
	t0=$(date +%s.%N)
	"$bin/rmlops-metaopt" -m "$out/mo-model.rml" -d "$out/mo-data.rml" --val "$out/mo-val.rml" \
		--tasks "$out/mo-tasks.rml" --iterations "$iters" --patience 1000 -j "$t" -q \
		--log "$out/mo-log-$t.jsonl" -o "$out/mo-out.rml"
	t1=$(date +%s.%N)
	python3 - "$out/mo-log-$t.jsonl" "$t" "$full" "$t0" "$t1" <<'PY'
import json, statistics, sys
path, threads, full, t0, t1 = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5])
rows = [json.loads(l) for l in open(path)]
by = {}
for r in rows:
    by.setdefault(r["type"], []).append(r["seconds"])
plain = [r["seconds"] for r in rows if r["heldout"] is None]
held = [r["seconds"] for r in rows if r["heldout"] is not None]
it = statistics.median(plain) if plain else float("nan")
extra = (statistics.median(held) - it) if held and plain else float("nan")
est = full * it + full / 2 * extra
print(f"metaopt, {threads} thread(s): iteration median {it:.1f} s "
      + ", ".join(f"{k} {statistics.median(v):.1f} s" for k, v in sorted(by.items()))
      + f"; held-out measurement {extra:.1f} s; {full} iterations ~ {est / 60:.0f} min"
      + f" (whole run of {len(rows)} iterations: {t1 - t0:.0f} s)")
PY
done
