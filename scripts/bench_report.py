#!/usr/bin/env python3
"""Summarise bench results (JSON lines) as a table: the best thread count
per implementation and configuration, rmlops / PyTorch ratios, and
rmlops with its products on OpenBLAS (RML_GEMM=openblas) beside it."""
import json
import sys

rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
best = {}
for r in rows:
    if "images_per_s" not in r:
        continue
    key = (r["impl"], r["what"], r["batch"])
    if key not in best or r["images_per_s"] > best[key]["images_per_s"]:
        best[key] = r
print(f"{'measure':<22}{'rmlops img/s':>14}{'PyTorch img/s':>15}{'ratio':>8}"
      f"{'on OpenBLAS img/s':>19}")
for what in ("train", "infer"):
    for batch in (128, 4):
        a = best.get(("rmlops", what, batch))
        t = best.get(("pytorch", what, batch))
        o = best.get(("rmlops-openblas", what, batch))
        if not a:
            continue
        ts = f"{t['images_per_s']:.0f}" if t else "-"
        ratio = f"{a['images_per_s'] / t['images_per_s']:.2f}" if t else "-"
        os_ = f"{o['images_per_s']:.0f}" if o else "-"
        label = f"{what} batch {batch}"
        print(f"{label:<22}{a['images_per_s']:>14.0f}{ts:>15}{ratio:>8}{os_:>19}")
for r in rows:
    if r.get("what") == "train_peak_rss_mb":
        print(f"peak memory, training at batch 128: {r['value']} MB")
    if r.get("what") == "inject_100x1000_s":
        print(f"fault injection, 100 repetitions x 1,000 images: {r['value']:.1f} s")
