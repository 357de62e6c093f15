#!/usr/bin/env bash
# bench_builds.sh OLD_BUILD NEW_BUILD [PAIRS]: training steps of mvit-xxs
# at batch 128 on one thread with the engine of two builds (their
# librmlops.a), PAIRS alternating pairs (default 8), each run 1 untimed
# and 8 timed steps. Per build the median over runs of the least
# processor time of a step (bench_engine's cpu_min_s, which leaves out
# waiting for a core), and the median of the pairs' ratios new / old:
# the figure a change to the engine is judged by on a shared machine.
#     scripts/bench_builds.sh ../old/build build 8
set -euo pipefail
[ $# -ge 2 ] || { echo "usage: $0 OLD_BUILD NEW_BUILD [PAIRS]" >&2; exit 2; }
top=$(cd "$(dirname "$0")/.." && pwd)
pairs=${3:-8}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
for v in old new; do
	b=$([ $v = old ] && echo "$1" || echo "$2")
	[ -f "$b/librmlops.a" ] || { echo "bench_builds: no $b/librmlops.a" >&2; exit 1; }
	cc -O2 -march=x86-64-v2 -std=c11 -fopenmp -D_GNU_SOURCE -I"$top/lib" \
		-o "$out/bench_$v" "$top/scripts/bench_engine.c" "$b/librmlops.a" \
		-lopenblas -lyaml -lpng -lz -lm -lpthread
done
for i in $(seq 1 "$pairs"); do
	for v in old new; do
		"$out/bench_$v" mvit-xxs train 128 1 0 1 8 | sed "s/^{/{\"build\":\"$v\",/" >> "$out/runs.jsonl"
	done
done
python3 - "$out/runs.jsonl" << 'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
cpu = {v: [r["cpu_min_s"] for r in rows if r["build"] == v] for v in ("old", "new")}
ratios = [n / o for o, n in zip(cpu["old"], cpu["new"])]
for v in ("old", "new"):
    print("%s: least step processor time, median of %d runs: %.4f s (runs: %s)"
          % (v, len(cpu[v]), statistics.median(cpu[v]), " ".join("%.4f" % x for x in cpu[v])))
print("new / old, median of pairs: %.3f (new faster in %d of %d pairs)"
      % (statistics.median(ratios), sum(r < 1 for r in ratios), len(ratios)))
PY
