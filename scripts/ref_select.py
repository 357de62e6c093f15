#!/usr/bin/env python3
"""Reference orders of the active-learning selection (lib/select.c),
computed here with numpy in float64 from the same float32 probabilities:
rows by decreasing uncertainty (entropy, rounded to float32 as the
predictions file stores it; 1 - top probability; 1 - (top - second)),
equal values by increasing index, rows with NaN or infinity first. The probabilities include exact duplicates (ties), one-hot rows
(entropy 0, confidence 1), uniform rows, two-way ties at the top (margin
0) and non-finite rows. test_select compares the library's orders and
values with these.
    /usr/bin/python3 scripts/ref_select.py   (writes testdata/ref/select.rml)"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rmlfile import container  # noqa: E402

rng = np.random.default_rng(16)
n, k = 240, 10
logits = rng.normal(size=(n, k)) * rng.uniform(0.2, 6.0, size=(n, 1))
p = np.exp(logits - logits.max(axis=1, keepdims=True))
p = (p / p.sum(axis=1, keepdims=True)).astype(np.float32)
p[10] = p[3]            # exact duplicates: ties by index
p[200] = p[3]
p[20] = 0
p[20, 4] = 1            # one-hot: entropy 0
p[21] = p[20]
p[30] = np.float32(0.1)  # uniform
p[31] = 0
p[31, [2, 7]] = 0.5     # two classes tie at the top: margin 0
p[40, 5] = np.nan       # broken rows: most uncertain of all
p[41, 0] = np.inf
p[42] = p[40]


def measures(p):
    q = p.astype(np.float64)
    finite = np.isfinite(q).all(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        ent = -np.where(q > 0, q * np.log(np.where(q > 0, q, 1)), 0).sum(axis=1)
    # Entropy ranks as the predictions file stores it, rounded to float32
    # (the rule rejection by a rate follows too).
    ent = ent.astype(np.float32).astype(np.float64)
    s = np.sort(np.where(np.isfinite(q), q, 0), axis=1)
    conf = 1 - s[:, -1]
    marg = 1 - (s[:, -1] - s[:, -2])
    out = {}
    for name, u in (("entropy", ent), ("confidence", conf), ("margin", marg)):
        u = np.where(finite, u, np.inf)
        # lexsort: last key first; -u descending, then the index ascending.
        order = np.lexsort((np.arange(n), -u))
        # Distinct neighbours must be far apart, or a different summation
        # order could swap them: only exact ties may be close.
        su = u[order]
        fin = np.isfinite(su[:-1]) & np.isfinite(su[1:])
        with np.errstate(invalid="ignore"):
            d = np.abs(su[:-1] - su[1:])[fin]
        assert ((d == 0) | (d > 1e-12)).all(), name
        out[name] = (u, order)
    return out


m = measures(p)
tensors = [("probs", "f32", [n, k], p.ravel().tolist())]
for name, (u, order) in m.items():
    tensors.append(("order_" + name, "i64", [n], order.tolist()))
    tensors.append(("unc_" + name, "f64", [n], u.tolist()))
out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "testdata", "ref", "select.rml")
with open(out, "wb") as f:
    f.write(container([("kind", "reference")], tensors))
print("wrote", os.path.normpath(out))
