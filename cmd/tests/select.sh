#!/usr/bin/env bash
# rmlops-data select: the most uncertain images of a predictions file,
# checked against numpy on the same probabilities; the tie rule; the two
# outputs disjoint and covering; and every refused input.
. "$(dirname "$0")/lib.bash"
m="$td/mvit-xxs-cifar10.rml"
rmlops-data take --per-class 20 -s 3 "$td/cifar10-test-1000.rml" -q -o "$tmp/d.rml"
rmlops-eval -m "$m" -d "$tmp/d.rml" -P "$tmp/p.rml" -j 2 -q > /dev/null
for by in entropy confidence margin; do
	rmlops-data select -p "$tmp/p.rml" --fraction 0.1 --by "$by" "$tmp/d.rml" \
		-o "$tmp/sel-$by.rml" --rest "$tmp/rest-$by.rml" -q
done
rmlops-info --json "$tmp/sel-entropy.rml" | gq '"shape":\[20,32,32,3\]' || die "10% of 200"; ok
rmlops-info --json "$tmp/rest-entropy.rml" | gq '"shape":\[180,32,32,3\]' || die "the rest"; ok
# The same selection from standard input; a count instead of a fraction.
rmlops-data select -p "$tmp/p.rml" --fraction 0.1 < "$tmp/d.rml" -q > "$tmp/sel-stdin.rml"
same_content "$tmp/sel-entropy.rml" "$tmp/sel-stdin.rml"
rmlops-data select -p "$tmp/p.rml" --count 20 "$tmp/d.rml" -q -o "$tmp/sel-count.rml"
same_content "$tmp/sel-entropy.rml" "$tmp/sel-count.rml"

py=""
for c in "${PYTHON:-}" python3 /usr/bin/python3; do
	[ -n "$c" ] && command -v "$c" > /dev/null && "$c" -c 'import numpy' 2> /dev/null && { py=$c; break; }
done
if [ -n "$py" ]; then
	"$py" - "$tmp" "$(dirname "$0")/../../scripts" <<'PYEOF' || die "select against numpy"
import sys
import numpy as np
tmp, scripts = sys.argv[1], sys.argv[2]
sys.path.insert(0, scripts)
from rmlfile import read
kv, t = read(tmp + "/p.rml")
dt, dims, raw = t["probs"]
p = np.frombuffer(raw, np.float32).reshape(dims).astype(np.float64)
_, _, rawd = read(tmp + "/d.rml")[1]["labels"]
labels = np.frombuffer(rawd, np.int32)
n = p.shape[0]
s = np.sort(p, axis=1)
with np.errstate(divide="ignore", invalid="ignore"):
    ent = -np.where(p > 0, p * np.log(np.where(p > 0, p, 1)), 0).sum(axis=1)
for by, u in (("entropy", ent), ("confidence", 1 - s[:, -1]), ("margin", 1 - (s[:, -1] - s[:, -2]))):
    k = round(0.1 * n)
    want = np.sort(np.lexsort((np.arange(n), -u))[:k])
    skv, st = read(tmp + "/sel-%s.rml" % by)
    got = np.array(skv["select.indices"])
    assert (got == want).all(), (by, got, want)
    rkv, rt = read(tmp + "/rest-%s.rml" % by)
    rest = np.array(rkv["select.indices"])
    assert sorted(list(got) + list(rest)) == list(range(n)), by
    sl = np.frombuffer(st["labels"][2], np.int32)
    assert (sl == labels[got]).all(), by  # the oracle's labels
PYEOF
	ok
fi

# Ties go by position: predictions of a dataset holding the same image
# four times give four equal rows; the first two are taken.
rmlops-data take --first 1 "$td/cifar10-test-1000.rml" -q -o "$tmp/one.rml"
rmlops-data concat "$tmp/one.rml" "$tmp/one.rml" "$tmp/one.rml" "$tmp/one.rml" -q -o "$tmp/four.rml"
rmlops-eval -m "$m" -d "$tmp/four.rml" -P "$tmp/p4.rml" -j 2 -q > /dev/null
rmlops-data select -p "$tmp/p4.rml" --count 2 "$tmp/four.rml" -q -o "$tmp/s4.rml" --rest "$tmp/r4.rml"
rmlops-info "$tmp/s4.rml" | gq 'select.indices  *0 1$' || die "ties by position"; ok
rmlops-info "$tmp/r4.rml" | gq 'select.indices  *2 3$' || die "ties by position (rest)"; ok

# Refused: predictions of another dataset (digest, count), labels that
# differ, too many, no predictions, a model as predictions, bad options.
rmlops-data take --per-class 20 -s 4 "$td/cifar10-test-1000.rml" -q -o "$tmp/other.rml"
expect_fail 1 rmlops-data select -p "$tmp/p.rml" --fraction 0.1 "$tmp/other.rml" -o "$tmp/x.rml"
gq 'another dataset' "$tmp/err" || die "digest message"; ok
[ ! -e "$tmp/x.rml" ] || die "half-written output"; ok
expect_fail 1 rmlops-data select -p "$tmp/p4.rml" --fraction 0.1 "$tmp/d.rml" -o "$tmp/x.rml"
expect_fail 1 rmlops-data select -p "$tmp/p.rml" --count 201 "$tmp/d.rml" -o "$tmp/x.rml"
expect_fail 1 rmlops-data select -p "$m" --count 2 "$tmp/d.rml" -o "$tmp/x.rml"
expect_fail 1 rmlops-data select -p "$tmp/missing.rml" --count 2 "$tmp/d.rml" -o "$tmp/x.rml"
expect_fail 2 rmlops-data select --count 2 "$tmp/d.rml" -o "$tmp/x.rml"
expect_fail 2 rmlops-data select -p "$tmp/p.rml" "$tmp/d.rml" -o "$tmp/x.rml"
expect_fail 2 rmlops-data select -p "$tmp/p.rml" --count 2 --fraction 0.1 "$tmp/d.rml" -o "$tmp/x.rml"
expect_fail 2 rmlops-data select -p "$tmp/p.rml" --count 2 --by variance "$tmp/d.rml" -o "$tmp/x.rml"
expect_fail 2 rmlops-data select -p "$tmp/p.rml" --count 2 "$tmp/d.rml" -o "$tmp/x.rml" --rest "$tmp/x.rml"
[ ! -e "$tmp/x.rml" ] || die "half-written output"; ok
rmlops-data select --help | gq 'least sure' || die "select --help"; ok
echo "select.sh: $checks checks passed"
