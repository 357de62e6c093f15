#!/usr/bin/python3
"""Reference values for the edge rules of the figures (rmlops(7), "How
figures are computed"), written here with numpy and PyTorch 1.13 and
without looking at lib/metrics.c's algorithms (pairs counted one by one
for AUROC, bins found by numpy.floor, ranks by numpy.lexsort):

  argmax ties      torch.argmax picks the first of equal top values;
                   a row with NaN or +-inf predicts nothing (-1, confidence 0)
  softmax          torch.softmax on finite logits; a row with any NaN or
                   +-inf logit is all NaN (a broken output, even where
                   torch.softmax would give 0 for a -inf logit)
  ECE / MCE / ACE  confidences exactly on bin edges (0.25, 0.5, float32
                   0.7 = 0.69999999 below the edge 0.7, 1.0 in the last bin),
                   empty bins, NaN confidences counted as 0, ties in
                   equal-mass bins
  NLL / Brier      a zero and a tiny probability on the true class (clamped
                   at 1e-12), broken rows (the all-zero prediction),
                   unlabelled rows
  AUROC            ties, NaN and both infinities (below every finite score)
  rejection        by a rate with tied uncertainties (ties by index), with
                   entropies equal in float32 but not in double and
                   confidences whose 1 - c rounds alike, by a confidence
                   threshold equal to or one float32 step from a confidence
  summaries        n = 1, 2, constant values, 30 and 100 repetitions (Student t
                   quantile from the t density integrated here)
  fault outcomes   masked / SDC / detected against fault-free predictions
                   with ties and broken rows

The script checks that the other plausible rules (right-closed bins,
float32 edges, NaN ranked highest, ties to the last class) give other
numbers on these vectors, so a test fed with them fails under such a rule.

    /usr/bin/python3 scripts/ref_edges.py     (writes testdata/ref/edges.rml)
"""
import math
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rmlfile import container  # noqa: E402

F32 = np.float32
NAN, INF = float("nan"), float("inf")
tensors = []


def put(name, dtype, arr):
    a = np.asarray(arr)
    tensors.append((name, dtype, list(a.shape) if a.ndim else [1], a.ravel().tolist()))


# ---- argmax ties, confidence, entropy --------------------------------------
k = 5
tie = np.array([
    [0.2, 0.2, 0.2, 0.2, 0.2],          # all equal: class 0
    [0.1, 0.35, 0.1, 0.1, 0.35],        # top tie at 1 and 4: class 1
    [0.4, 0.1, 0.0, 0.1, 0.4],          # top tie at 0 and 4: class 0
    [0.0, 0.0, 0.3, 0.3, 0.4],          # clear winner, zeros (0 log 0 = 0)
    [0.0, 0.0, 0.0, 1.0, 0.0],          # one-hot
    [0.3, 0.3, 0.3, 0.1, 0.0],          # three-way tie
    [NAN, 0.5, 0.5, 0.0, 0.0],          # broken rows
    [0.5, INF, 0.5, 0.0, 0.0],
    [0.5, 0.5, -INF, 0.0, 0.0],
], dtype=F32)
fin = np.isfinite(tie).all(axis=1)
t = torch.from_numpy(np.where(np.isfinite(tie), tie, 0))
tie_pred = np.where(fin, torch.argmax(t, dim=1).numpy(), -1).astype(np.int32)
tie_conf = np.where(fin, torch.max(t, dim=1).values.numpy(), 0).astype(F32)
q = np.where(np.isfinite(tie), tie, 0).astype(np.float64)
with np.errstate(divide="ignore", invalid="ignore"):
    h = -np.where(q > 0, q * np.log(np.where(q > 0, q, 1)), 0).sum(axis=1)
tie_ent = np.where(fin, h, math.log(k)).astype(F32)
assert (tie_pred[:6] == [0, 1, 0, 4, 3, 0]).all()
last = np.array([k - 1 - int(np.argmax(r[::-1])) for r in q[:6]])
assert (last != tie_pred[:6]).any()          # "ties to the last class" differs
put("tie_probs", "f32", tie)
put("tie_pred", "i32", tie_pred)
put("tie_conf", "f32", tie_conf)
put("tie_entropy", "f32", tie_ent)

# ---- softmax of extreme logits ----------------------------------------------
logits = np.array([
    [1.0, 2.0, 3.0, 4.0],
    [3e38, -3e38, 0.0, 3e38],           # huge: max subtracted, no overflow
    [-100.0, 0.0, 100.0, 100.0],        # exp underflows to 0
    [5.0, 5.0, 5.0, 5.0],
    [-INF, 0.0, 1.0, 2.0],              # torch: finite; here broken
    [INF, 0.0, 1.0, 2.0],
    [NAN, 0.0, 1.0, 2.0],
    [-INF, -INF, -INF, -INF],
], dtype=F32)
sm_torch = torch.softmax(torch.from_numpy(logits), dim=1).numpy()
sm_fin = np.isfinite(logits).all(axis=1)
sm = np.where(sm_fin[:, None], sm_torch, NAN).astype(F32)
assert np.isfinite(sm_torch[4]).all()        # torch's own rule would differ
put("sm_logits", "f32", logits)
put("sm_probs", "f32", sm)

# ---- calibration errors on bin edges ----------------------------------------
def width_bins(c, nb, rule="ours"):
    if rule == "ours":                # [b/B, (b+1)/B), exact, 1 in the last bin
        return np.minimum(np.floor(c * nb).astype(int), nb - 1)
    if rule == "right":               # (b/B, (b+1)/B], 0 in the first bin
        return np.maximum(np.ceil(c * nb).astype(int) - 1, 0)
    edges = np.linspace(0, 1, nb + 1, dtype=F32).astype(np.float64)  # float32 edges
    return np.minimum(np.searchsorted(edges, c, side="right") - 1, nb - 1)


def errors(c, o, bins, nb):
    e, m = 0.0, 0.0
    for b in range(nb):
        s = bins == b
        if s.any():
            gap = abs(o[s].mean() - c[s].mean())
            e += gap * s.sum() / c.size
            m = max(m, gap)
    return e, m


def mass_bins(c, nb):
    order = np.lexsort((np.arange(c.size), c))
    cs = c[order]
    bins = np.empty(c.size, dtype=int)
    lo, b = 0, 0
    for j in range(nb):
        hi = c.size if j == nb - 1 else c.size * (j + 1) // nb
        hi = max(hi, lo)
        while 0 < hi < c.size and cs[hi] == cs[hi - 1]:
            hi += 1
        if hi > lo:
            bins[order[lo:hi]] = b
            b += 1
        lo = hi
    return bins, b


rng = np.random.default_rng(7)
edge = np.array([0.0, 0.1, 0.2, 0.25, 0.3, 0.5, 0.5, 0.7, 0.7, 0.75, 0.75, 0.8, 0.9,
                 1.0, 1.0, 0.6, 0.6, 0.6], dtype=F32)
conf = np.concatenate([edge, rng.uniform(0, 1, 30).astype(F32), np.array([NAN], dtype=F32)])
ok = (rng.uniform(0, 1, conf.size) < np.nan_to_num(conf, nan=0.3)).astype(np.uint8)
c64 = np.where(np.isfinite(conf), conf, 0).astype(np.float64)


def other_rules_differ(o):
    """Bins closed above move 0.25, 0.5 and 0.75 down with 4 bins; float32
    edges move float32 0.7 up with 10. ECE cannot see a move between two
    bins whose gaps have the same sign, so the edge rows' correctness is
    drawn until both moves change ECE and MCE."""
    for other, nb in (("right", 4), ("f32", 10)):
        e, m = errors(c64, o, width_bins(c64, nb), nb)
        e2, m2 = errors(c64, o, width_bins(c64, nb, other), nb)
        if abs(e2 - e) < 1e-3 or abs(m2 - m) < 1e-3:
            return False
    return True


for trial in range(1000):
    ok[: edge.size] = np.random.default_rng(100 + trial).integers(0, 2, edge.size)
    if other_rules_differ(ok.astype(np.float64)):
        break
else:
    raise SystemExit("no correctness pattern tells the bin rules apart")
of = ok.astype(np.float64)
ece = []
for nb in (4, 10, 15):
    e, m = errors(c64, of, width_bins(c64, nb), nb)
    mb, nm = mass_bins(c64, nb)
    a, am = errors(c64, of, mb, nm)
    ece += [nb, e, m, a, am]
put("ece_conf", "f32", conf)
put("ece_correct", "u8", ok)
put("ece_expect", "f64", ece)      # rows: bins, ece, mce, ace, mce (mass)

# ---- NLL and Brier --------------------------------------------------------
nb_probs = np.array([
    [0.7, 0.2, 0.1],
    [0.0, 0.5, 0.5],          # zero on the truth: clamped at 1e-12
    [1e-30, 0.5, 0.5],        # tiny: clamped too
    [0.2, 0.3, 0.5],          # unlabelled
    [NAN, NAN, NAN],          # broken: all-zero prediction
    [0.25, 0.25, 0.5],
], dtype=F32)
nb_labels = np.array([0, 0, 0, -1, 2, 2], dtype=np.int32)
lab = nb_labels >= 0
pz = np.where(np.isfinite(nb_probs).all(axis=1)[:, None], nb_probs, 0).astype(np.float64)
ptrue = pz[np.arange(6), np.maximum(nb_labels, 0)]
nll = float(np.mean(-np.log(np.maximum(ptrue[lab], 1e-12))))
onehot = np.eye(3)[np.maximum(nb_labels, 0)]
brier = float(np.mean(((pz - onehot) ** 2).sum(axis=1)[lab]))
put("nb_probs", "f32", nb_probs)
put("nb_labels", "i32", nb_labels)
put("nb_expect", "f64", [nll, brier])

# ---- AUROC: ties and non-finite scores ------------------------------------
score = np.array([0.5, 0.5, 0.9, 0.1, NAN, INF, -INF, 0.3, 0.3, 0.3, 0.7, NAN, 0.2],
                 dtype=F32)
pos = np.array([1, 0, 1, 0, 1, 1, 0, 1, 0, 0, 1, 0, 1], dtype=np.uint8)


def pair_auroc(s, p, broken_low=True):
    v = np.where(np.isfinite(s), s, -np.inf if broken_low else np.inf).astype(np.float64)
    P, N = v[p == 1], v[p == 0]
    tot = 0.0
    for a in P:
        for b in N:
            tot += 1.0 if a > b else 0.5 if a == b else 0.0
    return tot / (len(P) * len(N))


au = pair_auroc(score, pos)
assert abs(au - pair_auroc(score, pos, broken_low=False)) > 1e-3
put("au_score", "f32", score)
put("au_pos", "u8", pos)
put("au_expect", "f64", [au])

# ---- rejection by rate and by a confidence threshold -------------------------
n_r, k_r = 40, 4
z = rng.normal(size=(n_r, k_r)) * rng.uniform(0.3, 4, size=(n_r, 1))
rp = np.exp(z - z.max(axis=1, keepdims=True))
rp = (rp / rp.sum(axis=1, keepdims=True)).astype(F32)
rp[5] = rp[2]                     # exact ties, broken by index
rp[17] = rp[2]
rp[9] = F32(0.25)                 # uniform: entropy log 4, like a broken row's
rp[30] = [NAN] * k_r              # broken: before the uniform row
rp[11] = [0.7, 0.1, 0.1, 0.1]     # confidence float32 0.7 (just below 0.7)
rp[12] = [0.75, 0.125, 0.125, 0.0]
# Two rows whose entropies differ in double but not in float32: by the
# stored float32 value they tie (the earlier row first), by the double
# value the later row would come first.


def h64(r):
    r = r.astype(np.float64)
    return float(-(r * np.log(r)).sum())


for b0 in np.linspace(0.05, 0.15, 101, dtype=F32):
    base = np.array([b0, 0.2, 0.3, F32(0.5) - b0], dtype=F32)
    alt = base.copy()
    alt[0] = np.nextafter(b0, F32(1), dtype=F32)      # mass towards the
    alt[3] = np.nextafter(base[3], F32(0), dtype=F32)  # smaller class
    if h64(alt) > h64(base) and F32(h64(alt)) == F32(h64(base)):
        break
else:
    raise SystemExit("no float32 entropy tie found")
rp[20], rp[21] = base, alt
# Two confidences one float32 step apart below 0.5, whose 1 - confidence
# rounds to the same float32: compared exactly, the later (lower) one is
# the more uncertain.
c1 = F32(0.3)
for _ in range(8):
    c2 = np.nextafter(c1, F32(1), dtype=F32)
    if F32(1) - c1 == F32(1) - c2:
        break
    c1 = c2
else:
    raise SystemExit("no rounded 1 - confidence tie found")
rp[24] = [c2, (1 - c2) / 3, (1 - c2) / 3, (1 - c2) / 3]
rp[25] = [c1, (1 - c1) / 3, (1 - c1) / 3, (1 - c1) / 3]
rfin = np.isfinite(rp).all(axis=1)
rq = np.where(np.isfinite(rp), rp, 0).astype(np.float64)
with np.errstate(divide="ignore", invalid="ignore"):
    rent = -np.where(rq > 0, rq * np.log(np.where(rq > 0, rq, 1)), 0).sum(axis=1)
rent = rent.astype(F32).astype(np.float64)       # as the file stores it
rconf = rq.max(axis=1)
u_ent = np.where(rfin, rent, np.inf)
u_conf = np.where(rfin, -rconf, np.inf)
rej = []
for u in (u_ent, u_conf):
    for rate in (0.1, 0.25):
        kk = int(math.floor(rate * n_r + 0.5))
        order = np.lexsort((np.arange(n_r), -u))
        r = np.zeros(n_r, dtype=np.uint8)
        r[order[:kk]] = 1
        rej.append(r)
for thr in (0.7, 0.75):                     # confidence below thr, exactly
    rej.append(((~rfin) | (rconf < thr)).astype(np.uint8))
assert rej[-2][11] == 1 and rej[-1][12] == 0
put("rj_probs", "f32", rp)
put("rj_expect", "u8", np.array(rej))     # entropy 0.1, 0.25; conf 0.1, 0.25; conf < 0.7, < 0.75

# ---- summaries over repetitions -------------------------------------------------


def t975(df):
    """Bisection on the t CDF, the density integrated by Simpson's rule."""
    lc = math.lgamma((df + 1) / 2) - math.lgamma(df / 2) - 0.5 * math.log(df * math.pi)

    def cdf(x):
        g = np.linspace(0, x, 40001)
        f = np.exp(lc - (df + 1) / 2 * np.log1p(g * g / df))
        hs = x / 40000
        return 0.5 + hs / 3 * (f[0] + f[-1] + 4 * f[1:-1:2].sum() + 2 * f[2:-1:2].sum())

    lo, hi = 0.0, 20.0
    for _ in range(60):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if cdf(mid) < 0.975 else (lo, mid)
    return (lo + hi) / 2


samples = [np.array([0.8125]), np.array([0.5, 0.75]), np.full(5, 0.3),
           rng.uniform(0.4, 0.9, 30), (np.arange(100) % 3) / 2.0]
sm_x, sm_n, sm_e = [], [], []
for x in samples:
    n = x.size
    mean = float(x.mean())
    sd = float(x.std(ddof=1)) if n > 1 else 0.0
    half = t975(n - 1) * sd / math.sqrt(n) if n > 1 else 0.0
    sm_x += x.tolist()
    sm_n.append(n)
    sm_e += [mean, sd, mean - half, mean + half]
put("sum_x", "f64", sm_x)
put("sum_n", "i64", sm_n)
put("sum_expect", "f64", sm_e)       # per sample: mean, sd, lo, hi

# ---- fault outcomes ---------------------------------------------------------
fo = tie.copy()                       # faulty outputs: ties and broken rows
clean = np.array([0, 4, 0, 4, 3, 2, 1, 1, 1], dtype=np.int32)
fpred = tie_pred
det = ~fin
masked = fin & (fpred == clean)
sdc = fin & (fpred != clean)
put("fo_clean", "i32", clean)
put("fo_expect", "f64", [masked.mean(), sdc.mean(), det.mean()])

out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "testdata", "ref", "edges.rml")
with open(out, "wb") as f:
    f.write(container([("kind", "reference"), ("reference.torch", torch.__version__),
                       ("reference.numpy", np.__version__)], tensors))
print("wrote", os.path.normpath(out))
