#!/usr/bin/python3
"""AUROC of in- against out-of-distribution scores, as an independent
reference for `rmlops-monitor auroc`: the Mann-Whitney rank sum with
tied values given their mean rank (numpy only).

    ref_auroc.py ID.tsv OOD.tsv

Each file is the output of `rmlops-monitor score` (a header line, then
columns coact_score, entropy, confidence, ...). Out-of-distribution is the
positive class: a higher co-activation score or entropy, a lower
confidence, should mean out-of-distribution; a value that is not finite
(a faulty model's NaN) counts as the most out-of-distribution of all.
Prints one JSON object.
"""
import json
import sys

import numpy as np


def midranks(x):
    """Ranks 1..n, each group of equal values sharing its mean rank."""
    values, inverse, counts = np.unique(x, return_inverse=True, return_counts=True)
    ends = np.cumsum(counts)               # last rank of each group
    starts = ends - counts + 1             # first rank of each group
    return ((starts + ends) / 2.0)[inverse]


def auroc(pos, neg):
    x = np.concatenate([pos, neg])
    r = midranks(x)
    n1, n0 = len(pos), len(neg)
    return float((r[:n1].sum() - n1 * (n1 + 1) / 2.0) / (n1 * n0))


def main():
    idd = np.loadtxt(sys.argv[1], skiprows=1, ndmin=2)
    ood = np.loadtxt(sys.argv[2], skiprows=1, ndmin=2)
    def ood_score(col, sign):
        """Higher = more out-of-distribution; NaN and infinities highest."""
        o, i = sign * ood[:, col], sign * idd[:, col]
        return (np.where(np.isfinite(o), o, np.inf), np.where(np.isfinite(i), i, np.inf))
    out = {
        "n_id": len(idd), "n_ood": len(ood),
        "auroc_coact": auroc(*ood_score(0, 1.0)),
        "auroc_entropy": auroc(*ood_score(1, 1.0)),
        "auroc_confidence": auroc(*ood_score(2, -1.0)),
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
