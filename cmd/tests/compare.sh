#!/usr/bin/env bash
# rmlops-eval --compare: known answers on crafted predictions files (a
# side strictly better on a known set of images, identical sides, one and
# two images), two models on real data (a model against itself is no
# different, also under paired faults), the promotion exit status
# (0 promote, 3 keep), byte-identical reports at one and two threads,
# and refused inputs: different datasets, wrong kinds, bad rules.
. "$(dirname "$0")/lib.bash"
scripts="$(dirname "$0")/../../scripts"
m="$td/mvit-xxs-cifar10.rml"
prev="$td/mvit-xxs-cifar10-prev.rml"

# craft OUT N RIGHT...: a predictions file of N images over 10 classes
# (label i % 10) that is right exactly on the images listed (confidence
# 0.8 on its choice); RIGHT is "all", "none" or "a-b" ranges.
craft() {
	python3 - "$scripts" "$@" <<'PY'
import sys
sys.path.insert(0, sys.argv[1])
from rmlfile import container
out, n, spec = sys.argv[2], int(sys.argv[3]), sys.argv[4:]
right = set()
for s in spec:
    if s == "all":
        right |= set(range(n))
    elif s != "none":
        a, b = map(int, s.split("-"))
        right |= set(range(a, b + 1))
labels = [i % 10 for i in range(n)]
probs = []
for i in range(n):
    pick = labels[i] if i in right else (labels[i] + 1) % 10
    probs += [0.8 if j == pick else 0.2 / 9 for j in range(10)]
open(out, "wb").write(container([("kind", "predictions")], [
    ("probs", "f32", [n, 10], probs), ("labels", "i32", [n], labels),
    ("rejected", "u8", [n], [0] * n), ("entropy", "f32", [n], [0.0] * n)]))
PY
}
# field JSON KEY: the number after "KEY": in the metric object KEY's path
# a.b (e.g. acc1.diff) of a one-line JSON report.
field() { sed "s/.*\"$2\":{\([^}]*\)}.*/\1/; s/.*\"$3\":\([^,}]*\).*/\1/" <<<"$1"; }

# B right on all 100 images, A wrong on the first 20: difference +0.2,
# 20 discordant pairs all B's, McNemar p = 2 * 2^-20; the bootstrap
# interval near the binomial quantiles of Bin(100, 0.2)/100 (0.12, 0.28).
craft "$tmp/a.rml" 100 20-99
craft "$tmp/b.rml" 100 all
j=$(rmlops-eval -p "$tmp/a.rml" --compare "$tmp/b.rml" --json)
[ "$(field "$j" acc1 diff)" = 0.200000 ] || die "diff: $j"; ok
[ "$(field "$j" acc1 b_only)" = 20 ] && [ "$(field "$j" acc1 a_only)" = 0 ] || die "discordant: $j"; ok
[ "$(field "$j" acc1 mcnemar_p)" = 1.90735e-06 ] || die "p: $j"; ok
gq '"acc1":{[^}]*"ci95":\[0\.1[1-3][0-9]*,0\.2[7-9][0-9]*\]' <<<"$j" || die "bootstrap interval: $j"; ok
gq '"decision":null' <<<"$j" || die "no rule, no decision"; ok
# The rule sees the interval's lower bound: +0.1 promotes, +0.15 keeps
# (the point +0.2 would pass it), and the reverse comparison B vs A keeps.
rmlops-eval -p "$tmp/a.rml" --compare "$tmp/b.rml" --promote-if 'acc1 > +0.1' > "$tmp/o" || die "should promote"; ok
gq '^decision *promote' "$tmp/o" || die "decision line"; ok
st=0; rmlops-eval -p "$tmp/a.rml" --compare "$tmp/b.rml" --promote-if 'acc1 > +0.15' > "$tmp/o" || st=$?
[ $st -eq 3 ] && gq '^decision *keep' "$tmp/o" || die "should keep (status $st)"; ok
st=0; rmlops-eval -p "$tmp/b.rml" --compare "$tmp/a.rml" --promote-if 'acc1 >= 0' -q > /dev/null || st=$?
[ $st -eq 3 ] || die "a worse candidate promoted"; ok
# Every rule must hold.
st=0; rmlops-eval -p "$tmp/a.rml" --compare "$tmp/b.rml" --promote-if 'acc1 > 0' --promote-if 'ece < -0.5' -q \
	> /dev/null || st=$?
[ $st -eq 3 ] || die "one failing rule should keep"; ok

# Identical sides: no difference, p = 1, an interval of one point.
j=$(rmlops-eval -p "$tmp/a.rml" --compare "$tmp/a.rml" --json --promote-if 'acc1 >= 0')
gq '"acc1":{"a":0.800000,"b":0.800000,"diff":0.000000,"ci95":\[0.000000,0.000000\],"n_pairs":100,"a_only":0,"b_only":0,"mcnemar_p":1}' \
	<<<"$j" || die "identical: $j"; ok
gq '"decision":"promote"' <<<"$j" || die "identical should pass >= 0"; ok

# Tiny samples: one image (A wrong, B right: p = 1, interval the point),
# two images.
craft "$tmp/a1.rml" 1 none
craft "$tmp/b1.rml" 1 all
j=$(rmlops-eval -p "$tmp/a1.rml" --compare "$tmp/b1.rml" --json)
gq '"acc1":{"a":0.000000,"b":1.000000,"diff":1.000000,"ci95":\[1.000000,1.000000\],"n_pairs":1,"a_only":0,"b_only":1,"mcnemar_p":1}' \
	<<<"$j" || die "n = 1: $j"; ok
craft "$tmp/a2.rml" 2 0-0
craft "$tmp/b2.rml" 2 all
j=$(rmlops-eval -p "$tmp/a2.rml" --compare "$tmp/b2.rml" --json)
gq '"diff":0.500000,"ci95":\[0.000000,1.000000\]' <<<"$j" || die "n = 2: $j"; ok

# Two models on real data (200 images): the report is the same bytes at
# one and two threads and again; the points agree with plain rmlops-eval.
rmlops-data take --per-class 20 -s 1 "$td/cifar10-test-1000.rml" -q -o "$tmp/d.rml"
rmlops-eval -m "$m" -d "$tmp/d.rml" --compare "$prev" -j 1 --json > "$tmp/j1"
rmlops-eval -m "$m" -d "$tmp/d.rml" --compare "$prev" -j 2 --json > "$tmp/j2"
same "$tmp/j1" "$tmp/j2"
a=$(rmlops-eval -m "$m" -d "$tmp/d.rml" --json | sed 's/.*"acc1":\([0-9.]*\).*/\1/')
b=$(rmlops-eval -m "$prev" -d "$tmp/d.rml" --json | sed 's/.*"ece":\([0-9.]*\).*/\1/')
[ "$(field "$(cat "$tmp/j1")" acc1 a)" = "$a" ] || die "acc1 of A differs from rmlops-eval"; ok
[ "$(field "$(cat "$tmp/j1")" ece b)" = "$b" ] || die "ece of B differs from rmlops-eval"; ok
# Predictions files written by rmlops-eval give the same comparison.
rmlops-eval -m "$m" -d "$tmp/d.rml" -P "$tmp/pa.rml" -q > /dev/null
rmlops-eval -m "$prev" -d "$tmp/d.rml" -P "$tmp/pb.rml" -q > /dev/null
rmlops-eval -p "$tmp/pa.rml" --compare "$tmp/pb.rml" --json > "$tmp/jp"
cmp -s <(sed 's/"a":"[^"]*","b":"[^"]*",//' "$tmp/j1") <(sed 's/"a":"[^"]*","b":"[^"]*",//' "$tmp/jp") \
	|| die "models and their predictions files compare differently"; ok
# Another seed, another interval; the same points.
rmlops-eval -m "$m" -d "$tmp/d.rml" --compare "$prev" -s 2 --json > "$tmp/js"
differ "$tmp/j1" "$tmp/js"
# A model against itself under paired faults: the same faults hit both
# sides, so every repetition's difference is exactly zero.
j=$(rmlops-eval -m "$m" -d "$tmp/d.rml" --compare "$m" --repeat 2 --fault zero --unit weight --rate 0.02 --json --promote-if 'acc1 >= 0')
gq '"n_rep":2' <<<"$j" || die "repetitions: $j"; ok
gq '"acc1":{[^}]*"diff":0.000000,"sd":0.000000,"ci95":\[0.000000,0.000000\]' <<<"$j" || die "paired faults: $j"; ok
gq '"decision":"promote"' <<<"$j" || die "paired faults decision: $j"; ok
# ...and the faults did something (A's accuracy under faults differs
# from the clean one), so the zero is not for want of faults.
[ "$(field "$j" acc1 a)" != "$a" ] || die "faults had no effect: $j"; ok

# Refused: predictions of different datasets (by their recorded digest,
# by count, by labels), a model given as predictions, bad options.
rmlops-data take --per-class 20 -s 2 "$td/cifar10-test-1000.rml" -q -o "$tmp/d2.rml"
rmlops-eval -m "$m" -d "$tmp/d2.rml" -P "$tmp/pc.rml" -q > /dev/null
expect_fail 1 rmlops-eval -p "$tmp/pa.rml" --compare "$tmp/pc.rml"
gq 'different datasets' "$tmp/err" || die "digest message"; ok
craft "$tmp/a99.rml" 99 all
expect_fail 1 rmlops-eval -p "$tmp/a.rml" --compare "$tmp/a99.rml"
gq '100 and 99 examples' "$tmp/err" || die "count message"; ok
python3 - "$scripts" "$tmp/a.rml" "$tmp/shift.rml" <<'PY'
import sys
sys.path.insert(0, sys.argv[1])
from rmlfile import container, read
kv, t = read(sys.argv[2])
import struct
lab = list(struct.unpack("<100i", t["labels"][2]))
lab[7] = 3
probs = list(struct.unpack("<1000f", t["probs"][2]))
open(sys.argv[3], "wb").write(container([("kind", "predictions")], [
    ("probs", "f32", [100, 10], probs), ("labels", "i32", [100], lab),
    ("rejected", "u8", [100], [0] * 100), ("entropy", "f32", [100], [0.0] * 100)]))
PY
expect_fail 1 rmlops-eval -p "$tmp/a.rml" --compare "$tmp/shift.rml"
gq 'example 7 has label 7 on one side and 3' "$tmp/err" || die "label message"; ok
expect_fail 1 rmlops-eval -p "$tmp/a.rml" --compare "$m"
expect_fail 1 rmlops-eval -m "$m" -d "$tmp/d.rml" --compare "$tmp/a.rml"
expect_fail 1 rmlops-eval -m "$m" -d "$tmp/d.rml" --compare "$tmp/missing.rml"
expect_fail 2 rmlops-eval -p "$tmp/a.rml" --promote-if 'acc1 > 0'
expect_fail 2 rmlops-eval -p "$tmp/a.rml" --bootstrap 10
expect_fail 2 rmlops-eval -p "$tmp/a.rml" --compare "$tmp/b.rml" --promote-if 'acc3 > 0'
expect_fail 2 rmlops-eval -p "$tmp/a.rml" --compare "$tmp/b.rml" --promote-if 'acc1 = 0'
expect_fail 2 rmlops-eval -p "$tmp/a.rml" --compare "$tmp/b.rml" --promote-if 'acc1 > x'
expect_fail 2 rmlops-eval -p "$tmp/a.rml" --compare "$tmp/b.rml" --bootstrap -1
expect_fail 2 rmlops-eval -p "$tmp/a.rml" --compare "$tmp/b.rml" --binning mass
expect_fail 2 rmlops-eval -m "$m" -d "$tmp/d.rml" --compare "$prev" --sweep bits
expect_fail 2 rmlops-eval -p "$tmp/a.rml" --compare "$tmp/b.rml" --repeat 2
expect_fail 2 rmlops-eval -m "$m" -d - --compare - < /dev/null
gq -- '--compare and -d cannot both read standard input' "$tmp/err" || die "stdin twice"; ok
echo "compare: $checks checks passed"
