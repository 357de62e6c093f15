#!/usr/bin/env python3
"""Reference values for lib/compare.c, computed exactly with integers
(math.comb) and fractions, independently of the C code:
  mcnemar N10 N01 P        McNemar's exact two-sided p-value,
                           min(1, 2 P(X <= min(N10, N01))), X ~ Bin(N10+N01, 1/2)
  binq N J LO HI           the 2.5% and 97.5% quantiles (smallest x with
                           P(X <= x) >= q) of X ~ Bin(N, J/N): when B is right
                           on J images A gets wrong and they agree elsewhere,
                           a paired bootstrap resample's difference is X/N,
                           so the percentile interval tends to [LO/N, HI/N].
    python3 scripts/ref_compare.py      (writes testdata/ref/compare.txt)"""
import math
from fractions import Fraction

OUT = "testdata/ref/compare.txt"


def mcnemar(n10, n01):
    m, s = n10 + n01, min(n10, n01)
    if m == 0:
        return 1.0
    # sum of C(m, i) for i <= s, each term from the one before
    term = tail = 1
    for i in range(s):
        term = term * (m - i) // (i + 1)
        tail += term
    return float(min(Fraction(1), Fraction(2 * tail, 2 ** m)))


def binq(n, j, q):
    # Exact CDF of Bin(n, j/n) in fractions, walked up to the quantile.
    p = Fraction(j, n)
    cdf = Fraction(0)
    for x in range(n + 1):
        cdf += math.comb(n, x) * p ** x * (1 - p) ** (n - x)
        if cdf >= q:
            return x
    return n


pairs = [(0, 0), (1, 0), (0, 1), (1, 1), (5, 0), (0, 5), (3, 10), (10, 3), (7, 7), (8, 9),
         (117, 53), (53, 117), (25, 60), (400, 450), (1000, 1000), (20000, 21000),
         (30000, 30900), (3, 40)]
with open(OUT, "w") as f:
    f.write("# made by scripts/ref_compare.py\n")
    for a, b in pairs:
        f.write("mcnemar %d %d %.17g\n" % (a, b, mcnemar(a, b)))
    for n, j in [(200, 20), (500, 100), (100, 3), (1000, 64)]:
        f.write("binq %d %d %d %d\n" % (n, j, binq(n, j, Fraction(1, 40)), binq(n, j, Fraction(39, 40))))
