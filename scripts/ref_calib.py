#!/usr/bin/env python3
"""Reference values for lib/tests/test_calib.c, from implementations of
the calibration methods written here in plain numpy, independently of
lib/calib.c (different algorithms where there is a choice: golden-section
search instead of Newton for the temperature, a pooling list instead of a
stack for isotonic regression, numpy linear algebra for beta calibration).

Writes testdata/ref/calib/data.txt (the calibration set: a miscalibrated
5-class problem with tied confidences and out-of-distribution rows) and
testdata/ref/calib/expect.txt (one line per quantity: name, count,
values). Run from the top of the repository:

    python3 scripts/ref_calib.py
"""
import math
import os

import numpy as np

OUT = os.path.join("testdata", "ref", "calib")
OOD = -2
BINS = 10
PRIOR_N = 2.0
BBQ_C = 10.0
RIDGE = 1e-6
EPS = 1.0 / 16777216.0


def make_data(rng, n=400, k=5, n_ood=40):
    """Overconfident logits: the true class gets a bump, all logits are
    scaled by 2.5; a quarter of the rows are rounded so that confidences
    repeat exactly; the last n_ood rows are out of distribution."""
    y = rng.integers(0, k, size=n).astype(np.int32)
    z = rng.normal(0.0, 1.0, size=(n, k))
    z[np.arange(n), y] += 1.2
    z *= 2.5
    z[: n // 4] = np.round(z[: n // 4])
    z[n - n_ood:] = rng.normal(0.0, 1.5, size=(n_ood, k))
    y[n - n_ood:] = OOD
    z = z.astype(np.float32)
    zd = z.astype(np.float64)
    e = np.exp(zd - zd.max(axis=1, keepdims=True))
    p = (e / e.sum(axis=1, keepdims=True)).astype(np.float32)
    return z, p, y


def top_label(p, y):
    pred = np.argmax(p, axis=1)
    conf = p[np.arange(len(p)), pred].astype(np.float64)
    ok = (pred == y).astype(np.float64)
    return conf, ok


def lookup(edges, p):
    """Index of the first bin whose upper edge exceeds p (last bin for the rest)."""
    return np.minimum(np.searchsorted(edges, p, side="right"), len(edges) - 1)


def quantile_edges(conf_sorted, nbins):
    n = len(conf_sorted)
    cuts = []
    for i in range(1, nbins):
        c = (i * n) // nbins
        while 0 < c < n and conf_sorted[c] == conf_sorted[c - 1]:
            c += 1
        if c >= n or (cuts and c <= cuts[-1]) or c <= 0:
            continue
        cuts.append(c)
    edges = [0.5 * (conf_sorted[c - 1] + conf_sorted[c]) for c in cuts] + [1.0]
    return np.array(edges)


def hist_map(conf, ok, edges, empty_centre):
    b = lookup(edges, conf)
    vals = []
    for i in range(len(edges)):
        m = b == i
        if m.any():
            vals.append(ok[m].mean())
        else:
            lo = edges[i - 1] if i else 0.0
            vals.append(0.5 * (lo + edges[i]))
    return np.array(vals)


def bbq_model(conf, ok, nbins):
    edges = quantile_edges(np.sort(conf), nbins)
    nb = len(edges)
    a0 = PRIOR_N / nb
    b = lookup(edges, conf)
    logml = 0.0
    vals = []
    lo = 0.0
    for i in range(nb):
        m = b == i
        cnt = float(m.sum())
        right = float(ok[m].sum())
        pb = 0.5 * (lo + edges[i])
        al, be = a0 * pb, a0 * (1 - pb)
        logml += (math.lgamma(a0) - math.lgamma(cnt + a0) + math.lgamma(right + al)
                  - math.lgamma(al) + math.lgamma(cnt - right + be) - math.lgamma(be))
        vals.append((right + al) / (cnt + a0))
        lo = edges[i]
    return edges, np.array(vals), logml


def bbq_ensemble(conf, ok):
    n = len(conf)
    r = n ** (1.0 / 3.0)
    bmin = max(1, int(math.floor(r / BBQ_C)))
    bmax = min(n, int(math.ceil(BBQ_C * r)))
    models = [bbq_model(conf, ok, B) for B in range(bmin, bmax + 1)]
    ll = np.array([m[2] for m in models])
    w = np.exp(ll - ll.max())
    w /= w.sum()
    return models, w


def isotonic(conf, ok):
    xs = np.unique(conf)
    blocks = []  # [weight, mean, first x, last x]
    for x in xs:
        m = conf == x
        blocks.append([float(m.sum()), float(ok[m].mean()), x, x])
    changed = True
    while changed:  # pool the first violating pair, repeatedly
        changed = False
        for i in range(len(blocks) - 1):
            if blocks[i][1] > blocks[i + 1][1]:
                w = blocks[i][0] + blocks[i + 1][0]
                mean = (blocks[i][0] * blocks[i][1] + blocks[i + 1][0] * blocks[i + 1][1]) / w
                blocks[i] = [w, mean, blocks[i][2], blocks[i + 1][3]]
                del blocks[i + 1]
                changed = True
                break
    fitted = np.empty(len(xs))
    for w, mean, a, b in blocks:
        fitted[(xs >= a) & (xs <= b)] = mean
    return xs, fitted


def temp_nll(z, y, T):
    s = z / T
    s = s - s.max(axis=1, keepdims=True)
    lse = np.log(np.exp(s).sum(axis=1))
    logp = s - lse[:, None]
    ood = y == OOD
    tgt = np.where(ood, 0, y)
    nll = -logp[np.arange(len(y)), tgt]
    nll[ood] = -logp[ood].mean(axis=1)
    return nll.mean()


def temperature(z, y):
    """Golden-section search on log T over [log 0.01, log 100]."""
    a, b = math.log(0.01), math.log(100.0)
    g = (math.sqrt(5) - 1) / 2
    c, d = b - g * (b - a), a + g * (b - a)
    fc, fd = temp_nll(z, y, math.exp(c)), temp_nll(z, y, math.exp(d))
    for _ in range(200):
        if fc < fd:
            b, d, fd = d, c, fc
            c = b - g * (b - a)
            fc = temp_nll(z, y, math.exp(c))
        else:
            a, c, fc = c, d, fd
            d = a + g * (b - a)
            fd = temp_nll(z, y, math.exp(d))
    return math.exp(0.5 * (a + b))


def logreg(F, t):
    """Ridge logistic regression by Newton's method (mean loss + RIDGE/2 |w|^2)."""
    w = np.zeros(F.shape[1])
    for _ in range(200):
        p = 1 / (1 + np.exp(-(F @ w)))
        g = F.T @ (p - t) / len(t) + RIDGE * w
        H = (F * (p * (1 - p))[:, None]).T @ F / len(t) + RIDGE * np.eye(F.shape[1])
        step = np.linalg.solve(H, g)
        w = w - step
        if np.abs(step).max() < 1e-12:
            break
    return w


def beta_cal(conf, ok):
    p = np.clip(conf, EPS, 1 - EPS)
    s1, s2, one = np.log(p), -np.log1p(-p), np.ones_like(p)
    a, b, c = logreg(np.column_stack([s1, s2, one]), ok)
    if a < 0:
        b, c = logreg(np.column_stack([s2, one]), ok)
        a = 0.0
    elif b < 0:
        a, c = logreg(np.column_stack([s1, one]), ok)
        b = 0.0
    return a, b, c


def beta_map(params, q):
    a, b, c = params
    q = np.clip(q, EPS, 1 - EPS)
    return 1 / (1 + np.exp(-(a * np.log(q) - b * np.log1p(-q) + c)))


def top_label_apply(p, qfun):
    """Top-label redistribution with the floor that keeps the prediction."""
    out = np.empty_like(p, dtype=np.float64)
    for i, row in enumerate(p.astype(np.float64)):
        t = int(np.argmax(row))
        c = row[t]
        q = qfun(c)
        others = np.delete(row, t)
        second, rest = others.max(), others.sum()
        if rest > 0:
            q = max(q, second / (rest + second))
            out[i] = row * (1 - q) / rest
        else:
            q = max(q, 1 / len(row))
            out[i] = (1 - q) / (len(row) - 1)
        out[i, t] = q
    return out


def choose(p, y, rule, max_rate=None, coverage=None):
    conf, ok = top_label(p, y)
    if rule == "entropy":
        pd = p.astype(np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            h = -np.where(pd > 0, pd * np.log(pd), 0.0).sum(axis=1)
        u = h.astype(np.float32).astype(np.float64)
    else:
        u = (np.float32(1) - p.max(axis=1)).astype(np.float64)
    n = len(u)
    order = sorted(range(n), key=lambda i: -u[i])
    us = u[order]
    oks = ok[order]
    best, best_j = None, 0
    limit = n - 1 if coverage is not None else min(n - 1, int(math.floor(max_rate * n + 1e-9)))
    for j in range(0, limit + 1):
        if j > 0 and not us[j - 1] > us[j]:
            continue
        if coverage is not None:
            score = -abs((n - j) / n - coverage)
        else:
            score = oks[j:].mean()
        if best is None or score > best + 1e-15:
            best, best_j = score, j
    return best_j, oks[best_j:].mean()


def line(f, name, vals):
    vals = np.atleast_1d(np.asarray(vals, dtype=np.float64)).ravel()
    f.write(name + " " + str(len(vals)) + "".join(" %.17g" % v for v in vals) + "\n")


def main():
    rng = np.random.default_rng(20240503)
    z, p, y = make_data(rng)
    n, k = p.shape
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, "data.txt"), "w") as f:
        f.write("# label, %d logits, %d probabilities (float32) per row; label %d = OOD\n"
                % (k, k, OOD))
        f.write("%d %d\n" % (n, k))
        for i in range(n):
            f.write("%d" % y[i] + "".join(" %.9g" % v for v in z[i])
                    + "".join(" %.9g" % v for v in p[i]) + "\n")

    conf, ok = top_label(p, y)
    grid = np.concatenate([np.linspace(0, 1, 101), conf[:50]])
    with open(os.path.join(OUT, "expect.txt"), "w") as f:
        f.write("# name count values; made by scripts/ref_calib.py\n")
        line(f, "grid", grid)

        edges = np.array([(b + 1) / BINS for b in range(BINS)])
        edges[-1] = 1.0
        vals = hist_map(conf, ok, edges, True)
        line(f, "hist_width", vals[lookup(edges, grid)])

        edges = quantile_edges(np.sort(conf), BINS)
        vals = hist_map(conf, ok, edges, False)
        line(f, "hist_mass_edges", edges)
        line(f, "hist_mass", vals[lookup(edges, grid)])

        edges, vals, ll = bbq_model(conf, ok, BINS)
        line(f, "bbq10", vals[lookup(edges, grid)])
        bbq10 = lambda q: float(vals[lookup(edges, np.array([q]))[0]])

        models, w = bbq_ensemble(conf, ok)
        ens = sum(wi * m[1][lookup(m[0], grid)] for wi, m in zip(w, models))
        line(f, "bbq_ens_nmodels", len(models))
        line(f, "bbq_ens_weights", w)
        line(f, "bbq_ens", ens)

        xs, fitted = isotonic(conf, ok)
        line(f, "isotonic", np.interp(grid, xs, fitted))

        T = temperature(z.astype(np.float64), y)
        line(f, "temperature", T)
        zz = z.astype(np.float64)[:5] / T
        e = np.exp(zz - zz.max(axis=1, keepdims=True))
        line(f, "temperature_apply5", e / e.sum(axis=1, keepdims=True))
        T2 = temperature(np.log(np.maximum(p.astype(np.float64), 1e-30)), y)
        line(f, "temperature_logp", T2)

        params = beta_cal(conf, ok)
        line(f, "beta_params", params)
        line(f, "beta", beta_map(params, grid))

        line(f, "bbq10_apply5", top_label_apply(p[:5], bbq10))

        j, acc2 = choose(p, y, "entropy", max_rate=0.2)
        line(f, "reject_entropy_max0.2", [j, acc2])
        j, acc2 = choose(p, y, "confidence", max_rate=0.2)
        line(f, "reject_confidence_max0.2", [j, acc2])
        j, acc2 = choose(p, y, "entropy", coverage=0.9)
        line(f, "reject_entropy_cov0.9", [j, acc2])
    print("wrote", OUT)


if __name__ == "__main__":
    main()
