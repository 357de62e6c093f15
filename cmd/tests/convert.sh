#!/usr/bin/env bash
# rmlops-convert: the PyTorch twin's weights (testdata/ref/torch-*.safetensors,
# made by scripts/ref_convert.py) import; export and import again give the
# same tensors and the same bytes; a hardened model (adapters) goes out and
# back; names prints the map; NumPy files of a dataset, predictions and a
# model are read by numpy.load, with the right values (when numpy is
# there), and the state dict loads into the PyTorch twin (when torch is
# there); bad invocations and malformed inputs are refused with one line.
. "$(dirname "$0")/lib.bash"
m="$td/mvit-xxs-cifar10.rml"

# Import, export, import: the same tensors; export twice: the same bytes.
rmlops-convert import --arch mvit-tiny "$td/ref/torch-mvit-tiny.safetensors" -o "$tmp/t.rml"
rmlops-info "$tmp/t.rml" | gq 'model.adapter_gamma *2' || die "adapters not inferred"; ok
rmlops-convert import --arch mvit-tiny --adapters 2 --classes 10 < "$td/ref/torch-mvit-tiny.safetensors" > "$tmp/t1.rml"
same_content "$tmp/t.rml" "$tmp/t1.rml"
expect_fail 1 rmlops-convert import --arch mvit-tiny --adapters 0 "$td/ref/torch-mvit-tiny.safetensors" -o "$tmp/x"
grep -q 'extra tensor blocks.2.scale and 18 more' "$tmp/err" || die "adapters 0: $(cat "$tmp/err")"; ok
rmlops-convert export "$tmp/t.rml" -o "$tmp/t.safetensors"
rmlops-convert export < "$tmp/t.rml" > "$tmp/t2.safetensors"
same "$tmp/t.safetensors" "$tmp/t2.safetensors"
rmlops-convert import "$tmp/t.safetensors" -o "$tmp/t3.rml"   # architecture from the metadata
same_content "$tmp/t.rml" "$tmp/t3.rml"
rmlops-info --lineage "$tmp/t.rml" | gq 'weights=sha256:' || die "no provenance of the weights"; ok

# The shipped model, hardened with adapters (one short epoch of tuning, so
# the adapters are not the identity): out to safetensors and back.
rmlops-data take --first 20 "$td/cifar10-test-1000.rml" -q -o "$tmp/d.rml"
rmlops-train -m "$m" --adapters 4 --epochs 1 --warmup 0 -d "$tmp/d.rml" -j 2 -q -o "$tmp/a.rml"
rmlops-info "$tmp/a.rml" | gq 'model.adapter_gamma *4' || die "no adapters"; ok
rmlops-convert export "$tmp/a.rml" -o "$tmp/a.safetensors"
rmlops-convert import "$tmp/a.safetensors" -o "$tmp/a2.rml"
same_content "$tmp/a.rml" "$tmp/a2.rml"
rmlops-info "$tmp/a2.rml" | gq 'model.classes.*airplane' || die "class names lost"; ok
# Calibrated: the calibrator and its rejection rule travel in the metadata.
rmlops-data take --per-class 4 -s 1 "$td/cifar10-test-1000.rml" -q -o "$tmp/cal.rml"
rmlops-calibrate -m "$tmp/a.rml" -d "$tmp/cal.rml" --per-class 0 --ood none -j 2 -q -o "$tmp/c.rml"
rmlops-convert export "$tmp/c.rml" -o "$tmp/c.safetensors"
grep -qa '"rmlops.reject_rule":"entropy"' "$tmp/c.safetensors" || die "rule not in the metadata"; ok
rmlops-convert import "$tmp/c.safetensors" -o "$tmp/c2.rml"
same_content "$tmp/c.rml" "$tmp/c2.rml"
rmlops-info "$tmp/c2.rml" | gq 'calibrator: bbq.*rejects when entropy' || die "calibrator lost"; ok

# names: one line per tensor, and a map built from it is accepted.
rmlops-convert names --arch mvit-xxs > "$tmp/names.txt"
grep -q '^blocks.5.transformer.0.attn.qkv.w blocks.5.layers.0.qkv.weight  # \[192, 64\]$' "$tmp/names.txt" \
	|| die "names"; ok
sed 's/ *#.*//; s/ head\.weight$/ classifier.weight/' "$tmp/names.txt" > "$tmp/map.txt"
rmlops-convert export --map "$tmp/map.txt" "$m" -o "$tmp/m.safetensors"
grep -qa '"classifier.weight"' "$tmp/m.safetensors" || die "map not applied on export"; ok
rmlops-convert import --map "$tmp/map.txt" "$tmp/m.safetensors" -o "$tmp/m2.rml"
same_content "$m" "$tmp/m2.rml"
expect_fail 1 rmlops-convert import "$tmp/m.safetensors" -o "$tmp/x.rml"
grep -q 'missing tensor head.weight' "$tmp/err" || die "missing tensor message"; ok
[ ! -e "$tmp/x.rml" ] || die "output left behind"; ok

# NumPy: a dataset, predictions and a model.
rmlops-eval -m "$m" -d "$tmp/d.rml" -j 1 --reject entropy --reject-rate 0.25 -P "$tmp/p.rml" > /dev/null
rmlops-convert numpy "$tmp/d.rml" -o "$tmp/d.npz"
rmlops-convert numpy "$tmp/p.rml" -o "$tmp/p.npz"
rmlops-convert numpy "$tmp/p.rml" --tensor probs -o "$tmp/probs.npy"
rmlops-convert numpy "$m" -o "$tmp/m.npz"
rmlops-convert numpy "$tmp/p.rml" -o "$tmp/p2.npz"
same "$tmp/p.npz" "$tmp/p2.npz"
head -c 6 "$tmp/probs.npy" | od -An -c | gq 'N   U   M   P   Y' || die "npy magic"; ok
py=""
for c in "${PYTHON:-}" python3 /usr/bin/python3; do
	[ -n "$c" ] && command -v "$c" > /dev/null && "$c" -c 'import numpy' 2> /dev/null && { py=$c; break; }
done
if [ -n "$py" ]; then
	"$py" - "$tmp" "$td" <<'PYEOF' || die "numpy.load"
import sys, zipfile, numpy as np
tmp, td = sys.argv[1], sys.argv[2]
d = np.load(tmp + "/d.npz")
assert d["images"].shape == (20, 32, 32, 3) and d["images"].dtype == np.uint8
assert d["labels"].dtype == np.int32 and d["labels"].shape == (20,)
assert list(d["dataset.classes"][:2]) == ["airplane", "automobile"], d["dataset.classes"]
# The same pixels as the CIFAR-10 test batch the repo carries (record: label, 3x32x32 planes).
raw = np.fromfile(td + "/cifar10-bin/test_batch.bin", np.uint8)
p = np.load(tmp + "/p.npz")
probs = p["probs"]
assert probs.shape == (20, 10) and probs.dtype == np.float32
assert np.allclose(probs.sum(1), 1, atol=1e-5)
ent = -(probs * np.log(np.clip(probs, 1e-30, 1))).sum(1)
assert np.allclose(ent, p["entropy"], atol=1e-5), (ent, p["entropy"])
assert p["rejected"].dtype == np.uint8 and p["rejected"].sum() == 5
assert (np.load(tmp + "/probs.npy") == probs).all()
m = np.load(tmp + "/m.npz")
assert m["head.w"].shape == (320, 10) and m["blocks.0.dw.bn.running_var"].dtype == np.float32
assert zipfile.ZipFile(tmp + "/p.npz").testzip() is None
PYEOF
	ok
fi

# The exported state dict loads, strictly, into the PyTorch twin and
# computes what rmlops computes (when torch is there).
tpy=""
for c in "${PYTHON:-}" python3 /usr/bin/python3; do
	[ -n "$c" ] && command -v "$c" > /dev/null && "$c" -c 'import torch' 2> /dev/null && { tpy=$c; break; }
done
if [ -n "$tpy" ]; then
	rmlops-eval -m "$m" -d "$tmp/d.rml" -j 1 -P "$tmp/p0.rml" > /dev/null
	rmlops-convert numpy "$tmp/p0.rml" -o "$tmp/p0.npz"
	rmlops-convert export "$m" -o "$tmp/xxs.safetensors"
	"$tpy" - "$tmp" "$(dirname "$0")/../../scripts" <<'PYEOF' || die "PyTorch twin"
import json, struct, sys
import numpy as np, torch
tmp = sys.argv[1]
sys.path.insert(0, sys.argv[2])
from torch_mvit import MVIT_XXS, MViTNet
raw = open(tmp + "/xxs.safetensors", "rb").read()
n = struct.unpack("<Q", raw[:8])[0]
head = json.loads(raw[8:8 + n])
meta = head.pop("__metadata__")
sd = {k: torch.from_numpy(np.frombuffer(raw, np.float32, count=int(np.prod(v["shape"])),
                                         offset=8 + n + v["data_offsets"][0]).reshape(v["shape"]).copy())
      for k, v in head.items()}
net = MViTNet(**MVIT_XXS, classes=int(meta["rmlops.n_classes"]))
net.load_state_dict(sd, strict=True)
d = np.load(tmp + "/d.npz")
with torch.no_grad():
    probs = torch.softmax(net.eval()(torch.from_numpy(d["images"]).float()), 1).numpy()
want = np.load(tmp + "/p0.npz")["probs"]
err = np.abs(probs - want).max()
assert err < 1e-5, err
PYEOF
	ok
fi

# Refusals: usage errors exit 2, failures 1, never a half-written output.
expect_fail 2 rmlops-convert
expect_fail 2 rmlops-convert frobnicate
expect_fail 2 rmlops-convert names
expect_fail 2 rmlops-convert export --arch mvit-xxs "$m" -o "$tmp/x"
expect_fail 2 rmlops-convert import --adapters 3 "$td/ref/torch-mvit-tiny.safetensors" -o "$tmp/x"
expect_fail 2 rmlops-convert numpy --map "$tmp/map.txt" "$m" -o "$tmp/x"
expect_fail 2 rmlops-convert export "$m" a b -o "$tmp/x"
expect_fail 1 rmlops-convert import "$td/ref/torch-mvit-tiny.safetensors" -o "$tmp/x"
grep -q 'carries no architecture: give --arch' "$tmp/err" || die "no-arch message"; ok
expect_fail 1 rmlops-convert import --arch mvit-xxs "$td/ref/torch-mvit-tiny.safetensors" -o "$tmp/x"
expect_fail 1 rmlops-convert import --arch nosuch "$td/ref/torch-mvit-tiny.safetensors" -o "$tmp/x"
expect_fail 1 rmlops-convert import --arch mvit-tiny "$m" -o "$tmp/x"
expect_fail 1 rmlops-convert export "$td/ref/torch-mvit-tiny.safetensors" -o "$tmp/x"
expect_fail 1 rmlops-convert export "$tmp/d.rml" -o "$tmp/x"
expect_fail 1 rmlops-convert numpy --tensor nosuch "$tmp/p.rml" -o "$tmp/x"
printf 'head.w\n' > "$tmp/bad.map"
expect_fail 1 rmlops-convert export --map "$tmp/bad.map" "$m" -o "$tmp/x"
grep -q 'line 1: expected an rmlops name' "$tmp/err" || die "map message"; ok
# Malformed safetensors: truncated, trailing bytes, a lying length.
head -c 1000 "$td/ref/torch-mvit-tiny.safetensors" > "$tmp/trunc.st"
expect_fail 1 rmlops-convert import --arch mvit-tiny "$tmp/trunc.st" -o "$tmp/x"
{ cat "$td/ref/torch-mvit-tiny.safetensors"; printf 'x'; } > "$tmp/trail.st"
expect_fail 1 rmlops-convert import --arch mvit-tiny "$tmp/trail.st" -o "$tmp/x"
grep -q '1 trailing bytes after the last tensor' "$tmp/err" || die "trailing message"; ok
printf '\377\377\377\377\377\377\377\177{}' > "$tmp/len.st"
expect_fail 1 rmlops-convert import --arch mvit-tiny "$tmp/len.st" -o "$tmp/x"
[ "$(wc -l < "$tmp/err")" -eq 1 ] || die "more than one line"; ok
[ ! -e "$tmp/x" ] || die "output left behind"; ok
echo "convert: $checks checks passed"
