#!/usr/bin/env bash
# Files whose checksums hold but whose content lies, and the one-container
# rule (rmlops-format(5)): each crafted file is written here with valid
# checksums by scripts/rmlfile.py, an independent writer of the layout.
. "$(dirname "$0")/lib.bash"
py=/usr/bin/python3
here=$(cd "$(dirname "$0")/../.." && pwd)
d="$td/cifar10-test-1000.rml"
m="$td/mvit-xxs-cifar10.rml"

# One input, one container: bytes after the end marker are refused by the
# programs; rmlops-info shows every container of a stream and refuses
# stray bytes after one.
rmlops-data take --first 4 "$d" -q -o "$tmp/a.rml"
rmlops-data take --first 2 "$d" -q -o "$tmp/b.rml"
cat "$tmp/a.rml" "$tmp/b.rml" > "$tmp/ab.rml"
cat "$tmp/ab.rml" | rmlops-info > "$tmp/info.txt"
gq 'standard input, container 2' "$tmp/info.txt" || die "second container not shown"; ok
[ "$(grep -c 'dataset' "$tmp/info.txt")" -ge 2 ] || die "both containers"; ok
rmlops-info "$tmp/ab.rml" | gq 'ab.rml, container 2' || die "second container of a file"; ok
expect_fail 1 rmlops-data take --first 1 "$tmp/ab.rml"
gq 'bytes follow the end marker' "$tmp/err" || die "message for a second container"; ok
{ cat "$tmp/a.rml"; printf 'x'; } > "$tmp/ax.rml"
# (the first container is shown before the stray byte is reached)
st=0; rmlops-info "$tmp/ax.rml" > "$tmp/out" 2> "$tmp/err" || st=$?
[ "$st" -eq 1 ] || die "stray byte: exit $st"; ok
gq 'ax.rml, container 2' "$tmp/err" || die "stray byte named"; ok
expect_fail 1 rmlops-data take --first 1 "$tmp/ax.rml"
expect_fail 1 rmlops-data take --first 1 - < "$tmp/ax.rml"

# Predictions that are not probabilities (1e30, negative, NaN in part of a
# row, a rejected flag of 2, NaN entropy) are refused by name and row.
for case in huge neg partnan rej2 entnan; do
	"$py" - "$here/scripts" "$tmp/p-$case.rml" "$case" <<'EOF'
import math, sys
sys.path.insert(0, sys.argv[1])
from rmlfile import container
case = sys.argv[3]
probs = [0.75, 0.25, 0.5, 0.5]
rej = [0, 1]
ent = [0.5, 0.6]
if case == "huge": probs[0] = 1e30
if case == "neg": probs[0], probs[1] = 1.25, -0.25
if case == "partnan": probs[2] = math.nan
if case == "rej2": rej[1] = 2
if case == "entnan": ent[0] = math.nan
open(sys.argv[2], "wb").write(container(
    [("kind", "predictions")],
    [("probs", "f32", [2, 2], probs), ("labels", "i32", [2], [0, 1]),
     ("rejected", "u8", [2], rej), ("entropy", "f32", [2], ent)]))
EOF
	rmlops-info -q "$tmp/p-$case.rml" || die "crafted $case: checksums"; ok
	expect_fail 1 rmlops-eval -p "$tmp/p-$case.rml"
	gq 'row' "$tmp/err" || die "predictions $case: no row named"; ok
done

# A model whose architecture is '[' x 100,000 then ']' x 100,000 (200 KB):
# refused at once (it took 36 s of CPU before the nesting was bounded).
"$py" - "$here/scripts" "$m" "$tmp/deep.rml" <<'EOF'
import struct, sys
sys.path.insert(0, sys.argv[1])
from rmlfile import container, read
kvs, ts = read(sys.argv[2])
kvs["model.arch_yaml"] = "[" * 100000 + "]" * 100000 + "\n"
fmt = {"f32": "f", "u8": "B", "i32": "i", "i64": "q", "f64": "d"}
tensors = []
for name, (dt, dims, b) in ts.items():
    n = len(b) // struct.calcsize(fmt[dt])
    tensors.append((name, dt, dims, struct.unpack("<%d%s" % (n, fmt[dt]), b)))
open(sys.argv[3], "wb").write(container(list(kvs.items()), tensors))
EOF
rmlops-info -q "$tmp/deep.rml" || die "deep model: checksums"; ok
t0=$(date +%s)
expect_fail 1 timeout 20 rmlops-eval -m "$tmp/deep.rml" -d "$tmp/a.rml"
gq 'nested more than 64 levels' "$tmp/err" || die "deep model message"; ok
[ $(($(date +%s) - t0)) -le 10 ] || die "deep model refused too slowly"; ok

echo "files: $checks checks passed"
