#!/usr/bin/env bash
# Carrying a stopped life-cycle tables run to another checkout
# (make tables-carry / tables-restore, scripts/tables_carry.py), on the
# quick profile's first stages: Config 0's chain, a Test 0 cell, a fault
# cell stopped after 2 of its 5 repetitions and metaopt stopped by a
# signal between its iterations. The carry is a small fraction of the
# run; the restore gives back every file byte for byte, make finds the
# finished targets up to date, the fault cell continues after its 2
# repetitions and metaopt from its checkpoint, each ending as the run that
# was never stopped. Refused: a restore over a run, with another model,
# from a damaged carry; a carry of a directory without a run.
. "$(dirname "$0")/lib.bash"
repo=$(cd "$(dirname "$0")/../.." && pwd)
bin=$(dirname "$(command -v rmlops-data)")
# shellcheck disable=SC2086
# metaopt small enough to stop between iterations (3 of 5 inner steps).
meta="--quick --iterations 3 --steps 5"
mk() { MAKEFLAGS='' make -s -C "$repo" --no-print-directory ${RML_MAKEFLAGS:-} TBIN="$bin" PROFILE=quick TJ=1 \
	METAOPT="$meta" "$@"; }
run=$tmp/run
cell=cells/faults-t1-c0.json

# The run never stopped: the fault cell and metaopt's Config 1.
mk TT="$run" "$run/cells/t0-c0.json" "$run/$cell" "$run/models/c1-0.rml" 2> "$tmp/err" ||
	die "the first stages: $(cat "$tmp/err")"
mkdir -p "$tmp/whole"
cp "$run/$cell" "$run/$cell.d/reps.jsonl" "$run/models/c1-0.rml" "$tmp/whole/"

# Stopped: the cell after 2 repetitions (its summary not yet written),
# metaopt by SIGTERM to its make once the first checkpoint is there.
head -n 2 "$tmp/whole/reps.jsonl" > "$run/$cell.d/reps.jsonl"
rm "$run/$cell" "$run/models/c1-0.rml" "$run/models/c1-0.jsonl" "$run/time/c1-0.s"
setsid bash -c 'MAKEFLAGS= exec make -s -C "$1" --no-print-directory TBIN="$2" PROFILE=quick TJ=1 TT="$3" \
	METAOPT="$4" "$3/models/c1-0.rml"' _ "$repo" "$bin" "$run" "$meta" > "$tmp/mo" 2>&1 &
leader=$!
for _ in $(seq 600); do [ -f "$run/models/c1-0.rml.ckpt" ] && break; sleep 0.1; done
[ -f "$run/models/c1-0.rml.ckpt" ] || die "metaopt wrote no checkpoint: $(cat "$tmp/mo")"
kill -TERM -- "-$leader"
wait "$leader" || true
for _ in $(seq 600); do pgrep -f "rmlops-metaopt.*$run" > /dev/null || break; sleep 0.1; done
gq 'stopped after iteration [12];' "$tmp/mo" || die "metaopt did not stop between iterations: $(cat "$tmp/mo")"; ok
[ ! -e "$run/models/c1-0.rml" ] && [ -s "$run/time/c1-0.part" ] || die "the stopped metaopt left a model or no time"; ok

# ---- pack ----
mk TT="$run" TCARRY="$tmp/carry" tables-carry 2> "$tmp/err" || die "tables-carry: $(cat "$tmp/err")"
gq 'files carried in' "$tmp/err" || die "no summary from tables-carry: $(cat "$tmp/err")"; ok
carried=$(du -sk "$tmp/carry" | cut -f1)
whole=$(du -sk "$run" | cut -f1)
[ "$carried" -lt 1024 ] && [ "$carried" -lt $((whole / 20)) ] ||
	die "the carry holds $carried kB of a $whole kB run"; ok
"${PYTHON:-python3}" - "$tmp/carry/manifest.json" <<'EOF' || die "the manifest"
import json, sys
m = json.load(open(sys.argv[1]))
how = {e["path"]: e for e in m["files"]}
assert all(e["how"] == "make" for p, e in how.items() if p.startswith(("data/", "sel/"))), "data carried"
assert how["models/c0-1.rml"]["ref"] == "models/c0-0.rml", how["models/c0-1.rml"].get("ref")
assert how["models/c0-0.rml"]["ref"] == "@model"
assert "models/c1-0.rml.ckpt" in how and "cells/faults-t1-c0.json.d/faults-2.jsonl" in how
assert not any(p.endswith((".tmp", "faulty.rml")) for p in how)
EOF
ok

# ---- restore, as on a fresh checkout (the same paths) ----
mv "$run" "$tmp/orig"
mk TT="$run" TCARRY="$tmp/carry" tables-restore 2> "$tmp/err" || die "tables-restore: $(cat "$tmp/err")"
gq 'files restored' "$tmp/err" || die "no summary from tables-restore: $(cat "$tmp/err")"; ok
(cd "$tmp/orig" && find . -type f ! -name '*.tmp' ! -name faulty.rml) | sort > "$tmp/files"
while read -r f; do cmp -s "$tmp/orig/$f" "$run/$f" || die "$f restored differs"; done < "$tmp/files"; ok
mk -q TT="$run" "$run/cells/t0-c0.json" "$run/models/c0-1.rml" "$run/sel/c0-0.rml" ||
	die "make would remake finished targets after the restore"; ok

# ---- continue ----
mk TT="$run" "$run/$cell" 2> "$tmp/err" || die "the fault cell: $(cat "$tmp/err")"
gq 'continuing after 2 of 5 repetitions' "$tmp/err" || die "the cell started over: $(cat "$tmp/err")"; ok
same "$run/$cell.d/reps.jsonl" "$tmp/whole/reps.jsonl"
cmp -s <(sed 's/"wall_s": [0-9.]*//' "$run/$cell") <(sed 's/"wall_s": [0-9.]*//' "$tmp/whole/$(basename "$cell")") ||
	die "the continued cell's summary differs"; ok
MAKEFLAGS='' make -C "$repo" --no-print-directory TBIN="$bin" PROFILE=quick TJ=1 TT="$run" METAOPT="$meta" \
	"$run/models/c1-0.rml" > "$tmp/out" 2> "$tmp/err" || die "metaopt continued: $(cat "$tmp/err")"
gq -- "--resume $run/models/c1-0.rml.ckpt" "$tmp/out" || die "metaopt started over: $(cat "$tmp/out")"; ok
# The same tensors; its provenance names the checkpoint it continued.
same_content "$run/models/c1-0.rml" "$tmp/whole/c1-0.rml"
rmlops-info "$run/models/c1-0.rml" | gq 'checkpoint=sha256:' || die "the resumed model's inputs"; ok
[ ! -e "$run/models/c1-0.rml.ckpt" ] && [ ! -e "$run/time/c1-0.part" ] && [ -s "$run/time/c1-0.s" ] ||
	die "the checkpoint or the partial time left behind"; ok

# ---- refused ----
st=0
mk TT="$run" TCARRY="$tmp/carry" tables-restore > "$tmp/out" 2> "$tmp/err" || st=$?
[ "$st" -ne 0 ] && gq 'holds a run already' "$tmp/err" || die "a restore over a run: $(cat "$tmp/err")"; ok
st=0
cp "$td/mvit-xxs-cifar10.rml" "$tmp/other.rml"
printf '\001' | dd of="$tmp/other.rml" bs=1 seek=5000 conv=notrunc 2> /dev/null
mk TT="$tmp/other" TCARRY="$tmp/carry" MODEL="$tmp/other.rml" tables-restore > "$tmp/out" 2> "$tmp/err" || st=$?
[ "$st" -ne 0 ] && gq 'not the model the carried run started from' "$tmp/err" ||
	die "a restore with another model: $(cat "$tmp/err")"; ok
[ ! -e "$tmp/other/models" ] || die "files written after a refused restore"; ok
blob=$tmp/carry/blobs/models_c0-1.rml.xz
"${PYTHON:-python3}" -c 'import lzma, sys; p = sys.argv[1]; d = lzma.decompress(open(p, "rb").read())
open(p, "wb").write(lzma.compress(d[:4000] + bytes([d[4000] ^ 1]) + d[4001:]))' "$blob"
rm -rf "$run"
st=0
mk TT="$run" TCARRY="$tmp/carry" tables-restore > "$tmp/out" 2> "$tmp/err" || st=$?
[ "$st" -ne 0 ] && gq 'models/c0-1.rml restored differs' "$tmp/err" || die "a damaged carry: $(cat "$tmp/err")"; ok
[ ! -e "$run/models/c0-1.rml" ] || die "a damaged model written"; ok
mkdir -p "$tmp/empty"
st=0
mk TT="$tmp/empty" TCARRY="$tmp/carry2" tables-carry > "$tmp/out" 2> "$tmp/err" || st=$?
[ "$st" -ne 0 ] && gq 'nothing to carry' "$tmp/err" || die "a carry of no run: $(cat "$tmp/err")"; ok
[ ! -e "$tmp/carry2" ] || die "a carry written of no run"; ok
echo "tables_carry: $checks checks passed"
