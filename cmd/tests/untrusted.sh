#!/usr/bin/env bash
# Files whose checksums are valid but whose content lies, and command-line
# corners: class names paired by name, control characters escaped on
# output, export refusing class names that are not file names, empty and
# unlabelled data refused, outputs checked against inputs before any work,
# adapters files loaded onto their base model, and the messages and exit
# codes of refused invocations. Crafted files are written by
# scripts/rml_edit.py with valid checksums.
. "$(dirname "$0")/lib.bash"
scripts=$(dirname "$0")/../../scripts
edit() { python3 "$scripts/rml_edit.py" "$@"; }
d="$td/cifar10-test-1000.rml"
m="$td/mvit-xxs-cifar10.rml"
esc=$(printf '\033')
noesc() { ! LC_ALL=C grep -q "[$esc$(printf '\007\r')]" "$1" || die "$2: a control character reached the output"; ok; }
rmlops-data take --per-class 2 -s 1 "$d" -q -o "$tmp/s.rml"
acc() { rmlops-eval -j 1 -m "$m" -d "$1" "${@:2}" | awk '$1 == "acc1" { print $2 }'; }

# 1. Class names: a relabelled subset is mapped back by name, a reversed
# class list gives the same scores, an unknown class is refused.
rmlops-data take --classes truck,ship --relabel -q -o "$tmp/tr.rml" "$d"
rmlops-data take --classes truck,ship -q -o "$tmp/ts.rml" "$d"
[ "$(acc "$tmp/tr.rml")" = "$(acc "$tmp/ts.rml")" ] || die "a relabelled subset is scored by index"; ok
python3 - "$tmp/s.rml" "$tmp/rev.rml" "$scripts" <<'PY'
import struct, sys
sys.path.insert(0, sys.argv[3])
import rmlfile
kvs, ts = rmlfile.read(sys.argv[1])
k = len(kvs["dataset.classes"])
kvs["dataset.classes"] = kvs["dataset.classes"][::-1]
dt, dims, data = ts["labels"]
lab = struct.unpack("<%di" % dims[0], data)
ts["labels"] = (dt, dims, struct.pack("<%di" % dims[0], *[k - 1 - l for l in lab]))
open(sys.argv[2], "wb").write(rmlfile.container(list(kvs.items()), [(n, a, b, c) for n, (a, b, c) in ts.items()]))
PY
[ "$(acc "$tmp/rev.rml")" = "$(acc "$tmp/s.rml")" ] || die "a reversed class list changes the scores"; ok
edit "$tmp/s.rml" "$tmp/alien.rml" 'dataset.classes=["airplane","automobile","bird","cat","deer","dog","frog","horse","ship","lorry"]'
expect_fail 1 rmlops-eval -m "$m" -d "$tmp/alien.rml"
gq "class 'lorry' is not one of the model's" "$tmp/err" || die "unknown class message"; ok
expect_fail 1 rmlops-attack run -m "$m" -d "$tmp/alien.rml" --config "$td/attacks.yaml"
expect_fail 1 rmlops-calibrate -m "$m" -d "$tmp/alien.rml" -o "$tmp/never.rml"
expect_fail 1 rmlops-tta -m "$m" -d "$tmp/alien.rml" --tune bn
expect_fail 1 rmlops-train -m "$m" -d "$tmp/alien.rml" --epochs 1 -o "$tmp/never.rml"
expect_fail 1 rmlops-train -m "$m" -d "$tmp/s.rml" --val "$tmp/alien.rml" --epochs 1 -o "$tmp/never.rml"
[ ! -e "$tmp/never.rml" ] || die "a refused run left an output"; ok
edit "$tmp/s.rml" "$tmp/twice.rml" 'dataset.classes=["airplane","automobile","bird","cat","deer","dog","frog","horse","ship","ship"]'
expect_fail 1 rmlops-eval -m "$m" -d "$tmp/twice.rml"

# 5. Control characters in names and lineage are escaped on output and in
# the lineage of derived files.
edit "$tmp/s.rml" "$tmp/e.rml" 'dataset.name="x\u001b]0;owned\u0007\r"' \
	'dataset.classes=["air\u001b[2Jplane","automobile","bird","cat","deer","dog","frog","horse","ship","truck"]' \
	'lineage.history=["{\"program\":\"\u001b[31mred\r\"}"]'
rmlops-info "$tmp/e.rml" > "$tmp/info.txt"; noesc "$tmp/info.txt" "rmlops-info"
gq 'x\\x1b\]0;owned\\x07\\r' "$tmp/info.txt" || die "escaped name not shown"; ok
rmlops-info --lineage "$tmp/e.rml" > "$tmp/lin.txt"; noesc "$tmp/lin.txt" "rmlops-info --lineage"
rmlops-info --lineage --json "$tmp/e.rml" > "$tmp/lin.json"; noesc "$tmp/lin.json" "rmlops-info --lineage --json"
python3 -c 'import json,sys; json.loads(open(sys.argv[1]).read())' "$tmp/lin.json" || die "--lineage --json is not JSON"; ok
rmlops-data take --first 5 -q -o "$tmp/e2.rml" "$tmp/e.rml"
rmlops-info --lineage "$tmp/e2.rml" > /dev/null
python3 - "$tmp/e2.rml" "$scripts" <<'PY' || die "a control character was copied into a derived file's lineage"
import sys
sys.path.insert(0, sys.argv[2])
import rmlfile
kvs, _ = rmlfile.read(sys.argv[1])
sys.exit(any(ch in h for h in kvs["lineage.history"] for ch in "\x1b\r\x07"))
PY
ok
edit "$m" "$tmp/em.rml" 'model.classes=["air\u001b[2Jplane","automobile","bird","cat","deer","dog","frog","horse","ship","truck"]'
edit "$tmp/s.rml" "$tmp/es.rml" 'dataset.classes=["air\u001b[2Jplane","automobile","bird","cat","deer","dog","frog","horse","ship","truck"]'
rmlops-eval -j 1 -m "$tmp/em.rml" -d "$tmp/es.rml" --per-class > "$tmp/pc.txt" 2>&1; noesc "$tmp/pc.txt" "eval --per-class"
gq 'air\\x1b\[2Jplane' "$tmp/pc.txt" || die "per-class name not shown escaped"; ok
expect_fail 1 rmlops-eval -m "$m" -d "$tmp/es.rml"; noesc "$tmp/err" "a message"

# 6. export writes only below DIR, into one folder per plainly named class.
for bad in '..' '.' '' 'a/b' '\u0001x'; do
	edit "$tmp/s.rml" "$tmp/x.rml" "dataset.classes=[\"$bad\",\"automobile\",\"bird\",\"cat\",\"deer\",\"dog\",\"frog\",\"horse\",\"ship\",\"truck\"]"
	mkdir -p "$tmp/ex/out"
	expect_fail 1 rmlops-data export "$tmp/x.rml" "$tmp/ex/out"
	[ -z "$(ls -A "$tmp/ex/out")" ] && [ "$(ls -A "$tmp/ex")" = out ] || die "export of class '$bad' wrote files"; ok
	rm -rf "$tmp/ex"
done

# 9. Empty and unlabelled data are refused where a metric needs labels.
edit "$tmp/s.rml" "$tmp/unl.rml" '@labels=[-1,-1,-1,-1]'
expect_fail 1 rmlops-eval -m "$m" -d "$tmp/unl.rml"
gq 'no labelled images' "$tmp/err" || die "unlabelled message"; ok
expect_fail 1 rmlops-attack run -m "$m" -d "$tmp/unl.rml" --config "$td/attacks.yaml"
edit "$tmp/s.rml" "$tmp/empty.rml" '@labels=[]'
expect_fail 1 rmlops-eval -m "$m" -d "$tmp/empty.rml"
printf '\000\000\010\003\000\000\000\000\000\000\000\034\000\000\000\034' > "$tmp/i3"
printf '\000\000\010\001\000\000\000\000' > "$tmp/i1"
expect_fail 1 rmlops-data import idx "$tmp/i3" "$tmp/i1" -o "$tmp/idx.rml"
[ ! -e "$tmp/idx.rml" ] || die "an empty idx import wrote a file"; ok

# 10. Outputs are checked against the inputs and each other first.
cp "$tmp/s.rml" "$tmp/x.rml"
expect_fail 2 rmlops-data split --count 10 -o "$tmp/a.rml" --rest "$tmp/a.rml" "$tmp/x.rml"
expect_fail 2 rmlops-data take --first 3 -o "$tmp/x.rml" "$tmp/x.rml"
same "$tmp/s.rml" "$tmp/x.rml"
cp "$m" "$tmp/mm.rml"
expect_fail 2 rmlops-inject -m "$tmp/mm.rml" --log "$tmp/mm.rml" -o "$tmp/inj.rml"
expect_fail 2 rmlops-inject -m "$tmp/mm.rml" -o "$tmp/mm.rml"
same "$m" "$tmp/mm.rml"
expect_fail 2 rmlops-inject -m "$m" --log -
abs_m=$(cd "$(dirname "$m")" && pwd)/$(basename "$m")
(cd "$tmp" && rmlops-inject -m "$abs_m" --log - -o inj.rml -q > log.jsonl)
gq '"tensor"' "$tmp/log.jsonl" || die "--log - is not standard output"; ok
[ ! -e "$tmp/-" ] || die "--log - made a file named '-'"; ok
expect_fail 2 rmlops-eval -m "$m" -d "$tmp/s.rml" -P -
expect_fail 2 rmlops-train -d "$tmp/s.rml" --arch mvit-tiny --epochs 1 --log - -o "$tmp/t.rml"
expect_fail 2 rmlops-train -d "$tmp/s.rml" --arch mvit-tiny --epochs 1 --plot - -o "$tmp/t.rml"
expect_fail 2 rmlops-train -d "$tmp/s.rml" --arch mvit-tiny --epochs 1 --plot "$tmp/s.rml" -o "$tmp/t.rml"
expect_fail 2 rmlops-train -d "$tmp/s.rml" --arch mvit-tiny --epochs 1 --log "$tmp/s.rml" -o "$tmp/t.rml"
expect_fail 2 rmlops-train -d "$tmp/s.rml" --arch mvit-tiny --epochs 1 --checkpoint "$tmp/c.rml" -o "$tmp/c.rml"
expect_fail 1 rmlops-train -d "$tmp/s.rml" --arch mvit-tiny --epochs 1 -o "$tmp/no/such/dir/t.rml"
gq 'cannot write -o' "$tmp/err" || die "-o checked only after training"; ok
expect_fail 1 rmlops-attack create -m "$m" -d "$tmp/s.rml" --config "$td/attacks.yaml" --name fgsm-3 \
	-o "$tmp/adv.rml" --sheet "$tmp/no/such/dir/s.png"
[ ! -e "$tmp/adv.rml" ] || die "a failed attack create left its output"; ok

# 11. An adapters file (rmlops-tta --mode continual -o) is used with its
# base model (-a), refused with another base or as a model.
rmlops-data take --per-class 4 -s 1 "$d" -q -o "$tmp/small.rml"
rmlops-train -j 1 -d "$tmp/small.rml" --arch mvit-tiny --adapters 2 --epochs 1 --batch 20 -s 1 -q -o "$tmp/base.rml"
rmlops-train -j 1 -d "$tmp/small.rml" --arch mvit-tiny --adapters 2 --epochs 1 --batch 20 -s 2 -q -o "$tmp/other.rml"
rmlops-tta -j 1 -m "$tmp/base.rml" -d "$tmp/small.rml" --aug-copies 2 --lr 0.5 --mode continual -o "$tmp/ad.rml" -q > /dev/null
rmlops-eval -j 1 -m "$tmp/base.rml" -a "$tmp/ad.rml" -d "$tmp/small.rml" > "$tmp/ea.txt" || die "eval -a refused the adapters of its base"; ok
gq '^acc1 ' "$tmp/ea.txt" || die "eval -a printed no report"; ok
rmlops-tta -j 1 -m "$tmp/base.rml" -a "$tmp/ad.rml" -d "$tmp/small.rml" --aug-copies 2 -q > /dev/null || die "tta -a"; ok
rmlops-inject -m "$tmp/base.rml" -a "$tmp/ad.rml" -q -o "$tmp/inj-a.rml" || die "inject -a"; ok
expect_fail 1 rmlops-eval -m "$tmp/other.rml" -a "$tmp/ad.rml" -d "$tmp/small.rml"
gq "ad.rml: the adapters belong to base model" "$tmp/err" || die "mismatched base message"; ok
expect_fail 1 rmlops-eval -m "$tmp/ad.rml" -d "$tmp/small.rml"
gq "ad.rml: expected a model, got an adapters" "$tmp/err" || die "adapters as a model message"; ok
expect_fail 1 rmlops-eval -m "$tmp/base.rml" -a "$tmp/small.rml" -d "$tmp/small.rml"
expect_fail 2 rmlops-train -d "$tmp/small.rml" -a "$tmp/ad.rml" --epochs 1 -o "$tmp/never.rml"
expect_fail 2 rmlops-eval -m "$tmp/base.rml" -a "$tmp/ad.rml" -d "$tmp/small.rml" --compare "$tmp/other.rml"

# 13. Messages name the file; bad option values are usage errors (2).
expect_fail 1 rmlops-eval -m "$d" -d "$tmp/s.rml"
gq "cifar10-test-1000.rml: expected a model, got a dataset" "$tmp/err" || die "wrong kind without the file name"; ok
expect_fail 1 rmlops-eval -m "$td" -d "$tmp/s.rml"
gq "is a directory" "$tmp/err" || die "a directory is not named as one"; ok
expect_fail 1 rmlops-inject -m "$m" --log /dev/full -o "$tmp/inj.rml"
! gq -i success "$tmp/err" || die "a failed --log reports success"; ok
gq "/dev/full" "$tmp/err" || die "--log error names no file"; ok
expect_fail 1 rmlops-data show -o /dev/full "$tmp/s.rml"
gq "/dev/full: error writing PNG" "$tmp/err" || die "PNG write error names no file"; ok
! gq "libpng" "$tmp/err" || die "libpng printed its own message"; ok
expect_fail 2 rmlops-train -d "$tmp/s.rml" --tune nonsense -o "$tmp/never.rml"
expect_fail 2 rmlops-attack run -m "$m" -d "$tmp/s.rml" --attack pixel-l0 --pixels 100000
expect_fail 2 rmlops-eval -j 1000 -m "$m" -d "$tmp/s.rml"
[ "$(rmlops-eval -j 1 -m "$m" -d "$tmp/s.rml" --batch 65536 | md5sum)" = \
  "$(rmlops-eval -j 1 -m "$m" -d "$tmp/s.rml" --batch 20 | md5sum)" ] || die "--batch beyond the data"; ok
printf 'attacks:\n  - name: a\n    attack: fgsm\n    eps: 3\n\000  - name: b\n    attack: nonsense\n' > "$tmp/nul.yaml"
expect_fail 1 rmlops-attack run -m "$m" -d "$tmp/s.rml" --config "$tmp/nul.yaml"
gq "NUL byte" "$tmp/err" || die "NUL in an attack list"; ok
printf 'arch: mvit\n\000junk\n' > "$tmp/nul-arch.yaml"
expect_fail 1 rmlops-train -d "$tmp/s.rml" --arch "$tmp/nul-arch.yaml" --epochs 1 -o "$tmp/never.rml"
gq "NUL byte" "$tmp/err" || die "NUL in an architecture file"; ok
rmlops-train -j 1 -d "$tmp/s.rml" --arch mvit-tiny --epochs 1 --batch 20 -o "$tmp/t.rml" 2> "$tmp/tr.txt"
gq -E 'train acc [0-9]\.[0-9]{4}, [0-9]+ images/s' "$tmp/tr.txt" || die "train acc without --val: $(cat "$tmp/tr.txt")"; ok
rmlops-attack create -j 1 -m "$m" -d "$tmp/s.rml" --attack pgd --eps 3 --steps 2 -q -o "$tmp/pgd.rml" 2> /dev/null
rmlops-info "$tmp/pgd.rml" | gq -E 'attack.step_size +3.75$' || die "attack defaults stored as placeholders"; ok
echo "untrusted: $checks checks passed"
