#!/usr/bin/env python3
"""Independent checks for the program tests, straight from the file
bytes (scripts/rmlfile.py), without the library:
    rml_check.py diff A.rml B.rml
        one line per float32 value that differs bitwise between the
        same-named tensors: tensor, flat index, differing bits (a list),
        rank of the tensor, and whether the new value is finite;
    rml_check.py preds PREDICTIONS.rml
        n, non-finite rows, and acc1 with a non-finite row counted wrong."""
import math
import os
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rmlfile  # noqa: E402


def floats(t):
    _, _, raw = t
    return struct.unpack("<%dI" % (len(raw) // 4), raw)


def diff(a, b):
    _, ta = rmlfile.read(a)
    _, tb = rmlfile.read(b)
    for name in ta:
        if ta[name][0] != "f32" or name not in tb or ta[name][2] == tb[name][2]:
            continue
        ua, ub = floats(ta[name]), floats(tb[name])
        for i, (x, y) in enumerate(zip(ua, ub)):
            if x != y:
                bits = ",".join(str(k) for k in range(32) if (x ^ y) >> k & 1)
                v = struct.unpack("<f", struct.pack("<I", y))[0]
                print(name, i, bits, len(ta[name][1]), "finite" if math.isfinite(v) else "nonfinite")


def preds(p):
    _, t = rmlfile.read(p)
    _, (n, k), raw = t["probs"]
    probs = struct.unpack("<%df" % (n * k), raw)
    labels = struct.unpack("<%di" % n, t["labels"][2])
    bad = right = 0
    for i in range(n):
        row = probs[i * k:(i + 1) * k]
        if not all(math.isfinite(v) for v in row):
            bad += 1
            continue
        right += max(range(k), key=lambda j: (row[j], -j)) == labels[i]
    print("n %d nonfinite %d acc1 %.6f" % (n, bad, right / n))


if sys.argv[1] == "diff":
    diff(sys.argv[2], sys.argv[3])
else:
    preds(sys.argv[2])
