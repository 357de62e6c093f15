#!/usr/bin/env python3
"""Helpers of the life-cycle tables (mk/tables.mk); plain Python, no numpy.

    tables.py parts TEST DIR         check the four parts DIR/part0..3.rml of
                                     TEST (disjoint, covering, every class in
                                     each); prints their class counts as JSON
    tables.py summary KIND CELLDIR WALL LEVEL
                                     one cell's JSON from its repetitions
    tables.py assemble DIR PROFILE   results.json, table1-3.md, charts
    tables.py charts DIR             table1.png, table2.png again from
                                     DIR/results.json (TPLOT: the chart program)
    tables.py plan DIR FINAL         (stdin: make -p -n) STAGE<TAB>TARGET lines
    tables.py adapters MODEL...      L2 norms of the meta-adapters omega (u1, u2),
                                     the adapter unit u3 and the channel scale s
    tables.py probdiff P1 P2         largest |difference| of two predictions'
                                     probabilities, and how many top-1 differ

The paper's values are those of Tables 1-3 of Moskalenko et al.,
"Resilience-aware MLOps for resource-constrained AI-system" (CMIS 2024)."""
import collections
import glob
import hashlib
import json
import math
import os
import re
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rmlfile import read  # noqa: E402

# Paper, Tables 1 and 2: config -> test -> (ACC1, ACC2); Table 3: R.
PAPER = {
    "faults": {0: [(0.925, 0.929), (0.802, 0.855), (0.837, 0.887), (0.829, 0.881)],
               1: [(0.929, 0.933), (0.852, 0.870), (0.891, 0.922), (0.889, 0.920)],
               2: [(0.938, 0.941), (0.860, 0.890), (0.917, 0.922), (0.903, 0.918)],
               3: [(0.938, 0.947), (0.920, 0.925), (0.930, 0.943), (0.929, 0.941)]},
    "attack": {0: [(0.925, 0.929), (0.720, 0.775), (0.787, 0.817), (0.819, 0.821)],
               1: [(0.929, 0.933), (0.782, 0.820), (0.891, 0.922), (0.889, 0.920)],
               2: [(0.938, 0.941), (0.805, 0.830), (0.917, 0.922), (0.903, 0.918)],
               3: [(0.938, 0.947), (0.850, 0.915), (0.890, 0.923), (0.923, 0.929)]},
    "resilience": {0: 0.751, 1: 0.830},
}
T975 = [None, 12.7062047, 4.3026527, 3.1824463, 2.7764451, 2.5705818, 2.4469119, 2.3646243,
        2.3060041, 2.2621572, 2.2281389, 2.2009852, 2.1788128, 2.1603687, 2.1447867, 2.1314495,
        2.1199053, 2.1098155, 2.1009220, 2.0930241, 2.0859634, 2.0796138, 2.0738731, 2.0686576,
        2.0638986, 2.0595386, 2.0555294, 2.0518307, 2.0484071, 2.0452296, 2.0422725]


def t975(df):
    if df < len(T975):
        return T975[df]
    z = 1.959964  # Cornish-Fisher in 1/df beyond the table
    return z + (z ** 3 + z) / (4 * df) + (5 * z ** 5 + 16 * z ** 3 + 3 * z) / (96 * df ** 2)


def summarize(v):
    n = len(v)
    m = sum(v) / n
    sd = math.sqrt(sum((x - m) ** 2 for x in v) / (n - 1)) if n > 1 else 0.0
    h = t975(n - 1) * sd / math.sqrt(n) if n > 1 else 0.0
    return {"mean": m, "sd": sd, "ci95": [m - h, m + h], "n_rep": n}


def die(msg):
    sys.stderr.write("tables: " + msg + "\n")
    sys.exit(1)


def dataset(path):
    kv, t = read(path)
    if kv.get("kind") != "dataset":
        die("%s: not a dataset" % path)
    dt, dims, raw = t["images"]
    size = dims[1] * dims[2] * dims[3]
    labels = struct.unpack("<%di" % dims[0], t["labels"][2])
    images = [raw[i * size:(i + 1) * size] for i in range(dims[0])]
    return kv, images, labels


def cmd_parts(test, d):
    kv, images, labels = dataset(test)
    classes = kv.get("dataset.classes", [])
    k = len(classes) or (max(labels) + 1)
    whole = collections.Counter(hashlib.sha256(bytes([l & 255]) + im).digest()
                                for im, l in zip(images, labels))
    union = collections.Counter()
    out = {"test": os.path.basename(test), "n": len(images), "classes": k, "parts": []}
    for p in range(4):
        path = os.path.join(d, "part%d.rml" % p)
        _, im, lab = dataset(path)
        counts = [0] * k
        for l in lab:
            counts[l] += 1
        missing = [classes[c] if c < len(classes) else str(c) for c in range(k) if counts[c] == 0]
        if missing:
            die("%s cannot be cut into 4 parts with every class in each: part %d has no %s"
                % (test, p, ", ".join(missing)))
        union.update(hashlib.sha256(bytes([l & 255]) + x).digest() for x, l in zip(im, lab))
        out["parts"].append({"n": len(im), "per_class": counts})
    if union != whole:
        die("the parts of %s do not cover it exactly (an image missing or repeated)" % test)
    print(json.dumps(out))


def jsonl(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def cmd_summary(kind, d, wall, level):
    cell = {"kind": kind, "wall_s": float(wall)}
    if kind == "resilience":
        e = json.load(open(os.path.join(d, "eval.json")))
        r = [x for b in e["by_disturbance"] for x in b["r"]]
        cell.update({"r": summarize(r), "p0": e["p0"], "steps": e["steps"]})
    else:
        reps = jsonl(os.path.join(d, "reps.jsonl"))
        cell.update({"acc1": summarize([r["acc1"] for r in reps]),
                     "acc2": summarize([r["acc2"] for r in reps]),
                     "reject_rate": sum(r["reject_rate"] for r in reps) / len(reps)})
        if kind == "faults":
            cell["fault"] = {"model": "bitflip", "unit": "tensor", "rate": float(level),
                             "bits": os.environ.get("TBITS", "any")}
        if kind == "attack":
            over = [json.load(open(p))["n_over"] for p in sorted(glob.glob(os.path.join(d, "verify-*.json")))]
            kind = os.environ.get("TATTACK", "tuned")
            cell["attack"] = {"kind": "square" if kind == "square" else "cmaes-linf", "eps": float(level),
                              "n_over": sum(over)}
            cell["attack"].update({"queries": 5000} if kind == "square" else {"generations": 10, "preset": kind})
    print(json.dumps(cell, sort_keys=True))


def attack_title(cells):
    a = cells.get("attack-t1-c0", {}).get("attack", {})
    if a.get("kind") == "square":
        return "Table 2: accuracy under the Square attack (5,000 queries)"
    return "Table 2: accuracy under the CMA-ES attack (preset %s)" % a.get("preset", "paper")


def fault_title(cells):
    bits = cells.get("faults-t1-c0", {}).get("fault", {}).get("bits", "any")
    if bits == "any":
        which = "any bit"
    elif bits == ",".join(str(b) for b in range(32) if b != 30):
        which = "any bit but 30"
    else:
        which = "bits " + bits
    return "Table 1: accuracy under fault injection (%s)" % which


def fmt(s):
    if s["n_rep"] > 1:
        return "%.3f ± %.3f" % (s["mean"], s["mean"] - s["ci95"][0])
    return "%.3f" % s["mean"]


def cmd_assemble(d, profile):
    cells = {}
    for p in sorted(glob.glob(os.path.join(d, "cells", "*.json"))):
        cells[os.path.basename(p)[:-5]] = json.load(open(p))
    times = {}
    for p in sorted(glob.glob(os.path.join(d, "time", "*.s"))):
        times[os.path.basename(p)[:-2]] = float(open(p).read())
    res = {"profile": profile, "cells": cells, "steps_wall_s": times, "orderings": []}
    md = {}
    for table, title in (("faults", fault_title(cells)), ("attack", attack_title(cells))):
        lines = ["## %s (profile %s)" % (title, profile), "",
                 "Each cell: measured (mean ± 95% CI half-width over the repetitions) / paper / difference.", "",
                 "| config | " + " | ".join("Test %d ACC1 | Test %d ACC2" % (t, t) for t in range(4)) + " |",
                 "|---|" + "---|" * 8]
        got = {}
        for c in range(4):
            row = []
            for t in range(4):
                name = "t0-c%d" % c if t == 0 else "%s-t%d-c%d" % (table, t, c)
                if name not in cells:
                    die("cell %s is missing" % name)
                cell = cells[name]
                for i, m in enumerate(("acc1", "acc2")):
                    paper = PAPER[table][c][t][i]
                    got[(c, t, m)] = cell[m]["mean"]
                    row.append("%s / %.3f / %+.3f" % (fmt(cell[m]), paper, cell[m]["mean"] - paper))
            lines.append("| Config %d | " % c + " | ".join(row) + " |")
        lines += ["", "Orderings of the paper, cell by cell:", ""]
        for t in range(1, 4):
            for m in ("acc1", "acc2"):
                for hi, lo in ((3, 2), (2, 1), (1, 0)):
                    ok = got[(hi, t, m)] >= got[(lo, t, m)]
                    res["orderings"].append({"table": table, "test": t, "metric": m, "claim":
                                             "config %d >= config %d" % (hi, lo), "reproduced": ok})
                    lines.append("- Test %d %s: Config %d ≥ Config %d: %s (%.3f vs %.3f)"
                                 % (t, m.upper(), hi, lo, "reproduced" if ok else "not reproduced",
                                    got[(hi, t, m)], got[(lo, t, m)]))
        for c in range(4):
            for t in range(4):
                ok = got[(c, t, "acc2")] >= got[(c, t, "acc1")]
                res["orderings"].append({"table": table, "test": t, "config": c,
                                         "claim": "acc2 >= acc1", "reproduced": ok})
                if not ok:
                    lines.append("- Test %d Config %d: ACC2 ≥ ACC1: not reproduced (%.3f vs %.3f)"
                                 % (t, c, got[(c, t, "acc2")], got[(c, t, "acc1")]))
        n_ok = sum(1 for o in res["orderings"] if o["table"] == table and o["claim"] == "acc2 >= acc1"
                   and o["reproduced"])
        lines.append("- ACC2 ≥ ACC1: %d of 16 cells" % n_ok)
        md[table] = "\n".join(lines) + "\n"
    lines = ["## Table 3: integral resilience criterion R (formula 2), new 10-class tasks (profile %s)"
             % profile, "",
             "Tasks from %s; the paper's from CIFAR-100. R = mean accuracy over the fine-tuning steps / P0, "
             "P0 = Config 0's accuracy on its own task." % ("CIFAR-100" if os.environ.get("CIFAR100")
                                                            else "Fashion-MNIST (substituted)"), "",
             "| config | R measured | paper | difference |", "|---|---|---|---|"]
    for c in (0, 1):
        cell = cells["r-c%d" % c]
        lines.append("| Config %d | %s | %.3f | %+.3f |" % (c, fmt(cell["r"]), PAPER["resilience"][c],
                                                          cell["r"]["mean"] - PAPER["resilience"][c]))
    ok = cells["r-c1"]["r"]["mean"] >= cells["r-c0"]["r"]["mean"]
    res["orderings"].append({"table": "resilience", "claim": "config 1 >= config 0", "reproduced": ok})
    lines += ["", "- Config 1 ≥ Config 0: %s" % ("reproduced" if ok else "not reproduced")]
    md["resilience"] = "\n".join(lines) + "\n"
    for name, key in (("table1.md", "faults"), ("table2.md", "attack"), ("table3.md", "resilience")):
        write(os.path.join(d, name), md[key])
    try:
        charts(d, cells)
    except Exception as e:  # a chart is not worth losing the tables
        sys.stderr.write("tables: no charts: %s\n" % e)
    write(os.path.join(d, "results.json"), json.dumps(res, indent=1, sort_keys=True) + "\n")


def write(path, text):
    with open(path + ".tmp", "w") as f:
        f.write(text)
    os.replace(path + ".tmp", path)


COLOURS = ["1f77b4", "ff7f0e", "2ca02c", "d62728"]
LIGHT = ["9ecae1", "fdbf6f", "a1d99b", "fc9272"]


def charts(d, cells):
    """table1.png, table2.png: ACC1 (dark) and ACC2 (light) of each
    configuration over the test stages; table3-c0.png, table3-c1.png: the
    mean resilience curves of Table 3 (rmlops-metaopt --eval --plot)."""
    import shutil
    import subprocess
    plot = os.environ.get("TPLOT", "")
    # (short titles: the chart's title line holds about 45 characters)
    for table, name, title in (("faults", "table1.png", fault_title(cells).replace(
                                    "accuracy under fault injection", "faults")),
                               ("attack", "table2.png", attack_title(cells).replace(
                                    "accuracy under the ", "").replace(" attack", ""))):
        lines = [title, "accuracy (dark ACC1, light ACC2)"]
        ys = {(c, m): [cells["t0-c%d" % c if t == 0 else "%s-t%d-c%d" % (table, t, c)][m]["mean"]
                       for t in range(4)] for c in range(4) for m in ("acc1", "acc2")}
        for c in range(4):
            for m, col in (("acc1", COLOURS), ("acc2", LIGHT)):
                pts = []
                for t in range(4):
                    pts += ["%d" % t, "%.6f" % ys[(c, m)][t]]
                # A line equal to a later configuration's is drawn under
                # it: the legend says so instead of leaving it missing.
                same = [k for k in range(c + 1, 4)
                        if all(abs(a - b) < 1e-9 for a, b in zip(ys[(c, m)], ys[(k, m)]))]
                label = "Config_%d_%s" % (c, m.upper()) + ("_(=Cfg_%d)" % same[-1] if same else "")
                lines.append("%s %s %s" % (label, col[c], " ".join(pts)))
        if plot and os.path.exists(plot):
            subprocess.run([plot, os.path.join(d, name)], input="\n".join(lines) + "\n",
                           text=True, check=True)
    for c in (0, 1):
        src = os.path.join(d, "cells", "r-c%d.json.d" % c, "curve.png")
        if os.path.exists(src):
            shutil.copyfile(src, os.path.join(d, "table3-c%d.png.tmp" % c))
            os.replace(os.path.join(d, "table3-c%d.png.tmp" % c), os.path.join(d, "table3-c%d.png" % c))


def cmd_charts(d):
    """table1.png, table2.png again from d/results.json."""
    plot = os.environ.get("TPLOT", "")
    if not plot or not os.access(plot, os.X_OK):
        die("charts: TPLOT must name the chart program (make build/tables_plot)")
    path = os.path.join(d, "results.json")
    try:
        with open(path) as f:
            cells = json.load(f)["cells"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        die("charts: %s: not a tables results file (%s)" % (path, e))
    try:
        charts(d, cells)
    except (KeyError, TypeError) as e:
        die("charts: %s: a cell is missing or damaged (%s)" % (path, e))


def cmd_plan(d, final):
    """Read make's database (make -p -n) from stdin; print every target
    under d with its stage: 1 + the largest stage of its prerequisites
    that are targets under d (files with no rule are stage 0)."""
    deps, in_files, not_target = {}, False, set()
    prev = ""
    for line in sys.stdin:
        line = line.rstrip("\n")
        if line.startswith("# Files"):
            in_files = True
        if not in_files:
            continue
        m = re.match(r"^([^#\s][^:=]*):(?!=)\s*(.*)$", line)
        if m and not line.startswith("\t"):
            target = m.group(1).strip()
            if prev.startswith("# Not a target"):
                not_target.add(target)
            elif target.startswith(d + "/"):
                parts = m.group(2).split("|")[0].split()
                deps.setdefault(target, set()).update(parts)
        prev = line
    for t in not_target:
        deps.pop(t, None)
    stage = {}

    def depth(t, seen=()):
        if t in stage:
            return stage[t]
        if t not in deps:
            return 0
        if t in seen:
            die("a cycle through %s" % t)
        s = 1 + max([depth(p, seen + (t,)) for p in deps[t]] + [0])
        stage[t] = s
        return s

    if final not in deps:
        die("%s is not a target" % final)
    need, todo = set(), [final]
    while todo:
        t = todo.pop()
        if t in need or t not in deps:
            continue
        need.add(t)
        todo.extend(deps[t])
    for t in sorted(need, key=lambda x: (depth(x), x)):
        print("%d\t%s" % (depth(t), t))


def floats(t):
    dt, dims, raw = t
    return struct.unpack("<%df" % (len(raw) // 4), raw)


def cmd_adapters(paths):
    for path in paths:
        _, ts = read(path)
        acc = collections.OrderedDict((g, [0, 0.0, 0.0]) for g in ("omega", "u3", "scale"))
        for name, t in ts.items():
            if ".adapter." not in name:
                continue
            g = "omega" if (".u1." in name or ".u2." in name) else "u3" if ".u3." in name else "scale"
            for x in floats(t):
                acc[g][0] += 1
                acc[g][1] += x * x
                acc[g][2] = max(acc[g][2], abs(x))
        print(json.dumps({"model": path, **{g: {"n": v[0], "norm": round(math.sqrt(v[1]), 6),
                                                  "max_abs": round(v[2], 6)} for g, v in acc.items()}}))


def cmd_probdiff(a, b):
    pa, pb = read(a)[1]["probs"], read(b)[1]["probs"]
    n, k = pa[1]
    x, y = floats(pa), floats(pb)
    top = lambda v, i: max(range(k), key=lambda j: v[i * k + j])
    print(json.dumps({"n": n, "max_abs_diff": max(abs(u - v) for u, v in zip(x, y)),
                      "bytes_equal": pa[2] == pb[2],
                      "top1_differ": sum(top(x, i) != top(y, i) for i in range(n))}))


def main():
    a = sys.argv[1:]
    if a[:1] == ["parts"] and len(a) == 3:
        cmd_parts(a[1], a[2])
    elif a[:1] == ["summary"] and len(a) == 5:
        cmd_summary(a[1], a[2], a[3], a[4])
    elif a[:1] == ["assemble"] and len(a) == 3:
        cmd_assemble(a[1], a[2])
    elif a[:1] == ["charts"] and len(a) == 2:
        cmd_charts(a[1])
    elif a[:1] == ["plan"] and len(a) == 3:
        cmd_plan(a[1], a[2])
    elif a[:1] == ["adapters"] and len(a) >= 2:
        cmd_adapters(a[1:])
    elif a[:1] == ["probdiff"] and len(a) == 3:
        cmd_probdiff(a[1], a[2])
    else:
        sys.stderr.write(__doc__)
        sys.exit(2)


if __name__ == "__main__":
    main()
