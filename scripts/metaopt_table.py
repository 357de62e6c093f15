#!/usr/bin/env python3
"""The README table of rmlops-metaopt: the held-out criterion R of each
model (mean and Student-t 95% interval over the implementations, per
disturbance and overall) and its paired difference to the first model,
from the JSON reports of `rmlops-metaopt --eval --json` made with one seed.

    metaopt_table.py NAME=eval.json [NAME=eval.json ...]
"""
import json
import math
import sys

# Student t 0.975 quantiles for small degrees of freedom (then 1.96).
T975 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306,
        9: 2.262, 10: 2.228, 11: 2.201, 12: 2.179, 13: 2.160, 14: 2.145, 15: 2.131,
        16: 2.120, 17: 2.110, 18: 2.101, 19: 2.093, 20: 2.086, 25: 2.060, 29: 2.045,
        30: 2.042, 40: 2.021, 60: 2.000}


def t975(df):
    if df in T975:
        return T975[df]
    below = [k for k in T975 if k <= df]
    return T975[max(below)] if df < 60 else 1.96


def ci(v):
    n = len(v)
    m = sum(v) / n
    if n < 2:
        return m, m, m
    sd = math.sqrt(sum((x - m) ** 2 for x in v) / (n - 1))
    h = t975(n - 1) * sd / math.sqrt(n)
    return m, m - h, m + h


def main():
    runs = []
    for arg in sys.argv[1:]:
        name, path = arg.split("=", 1)
        runs.append((name, json.load(open(path))))
    base = runs[0][1]
    types = [d["type"] for d in base["by_disturbance"]]
    print("| model | " + " | ".join(f"R {t}" for t in types) + " | R all | all − " + runs[0][0] + " (paired) |")
    print("|---|" + "---|" * (len(types) + 2))
    for name, rep in runs:
        cells, allr, diff = [], [], []
        for d, b in zip(rep["by_disturbance"], base["by_disturbance"]):
            m, lo, hi = ci(d["r"])
            cells.append(f"{m:.3f} [{lo:.3f}, {hi:.3f}]")
            allr += d["r"]
            diff += [x - y for x, y in zip(d["r"], b["r"])]
        m, lo, hi = ci(allr)
        dm, dlo, dhi = ci(diff)
        print(f"| {name} | " + " | ".join(cells) + f" | {m:.3f} [{lo:.3f}, {hi:.3f}] | "
              + ("" if rep is base else f"{dm:+.4f} [{dlo:+.4f}, {dhi:+.4f}]") + " |")
    print()
    print("Accuracy before → after the 40 SGD steps, mean over the implementations "
          f"(P0 = {base['p0']:.3f}):")
    for name, rep in runs:
        print(f"- {name}: " + ", ".join(
            f"{d['type']} {d['acc_before']:.3f} → {d['acc_after']:.3f}" for d in rep["by_disturbance"]))


if __name__ == "__main__":
    main()
