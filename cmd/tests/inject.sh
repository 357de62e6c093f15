#!/usr/bin/env bash
# rmlops-inject and rmlops-eval --repeat: the number of changed bits is
# what the description asks for (checked by comparing files), seeds
# reproduce, faulty models pipe into evaluation, the fault log is strict
# JSON, acc_drop counts labelled images only, bad options are refused.
. "$(dirname "$0")/lib.bash"
scripts="$(dirname "$0")/../../scripts"
d="$td/cifar10-test-1000.rml"
rmlops-data take --per-class 10 "$d" -q -o "$tmp/small.rml"
rmlops-train -d "$tmp/small.rml" --arch mvit-tiny --epochs 1 --batch 50 -s 1 -q -o "$tmp/m.rml"
for unit in tensor weight; do
	rmlops-inject --unit $unit --rate 0.1 -s 7 -m "$tmp/m.rml" -o "$tmp/f1.rml" --json 2> "$tmp/r1.json"
	rmlops-inject --unit $unit --rate 0.1 -s 7 -m "$tmp/m.rml" -o "$tmp/f2.rml" -q
	rmlops-inject --unit $unit --rate 0.1 -s 8 -m "$tmp/m.rml" -o "$tmp/f3.rml" -q
	same_content "$tmp/f1.rml" "$tmp/f2.rml"
	cmp -s <(rmlops-info --digest "$tmp/f1.rml") <(rmlops-info --digest "$tmp/f3.rml") && die "seeds 7 and 8 agree"; ok
	want=$(sed 's/.*"bits_changed":\([0-9]*\).*/\1/' "$tmp/r1.json")
	faults=$(sed 's/.*"faults":\([0-9]*\).*/\1/' "$tmp/r1.json")
	[ "$want" -eq "$faults" ] || die "bitflip changed $want bits for $faults faults"; ok
	rmlops-info --digest "$tmp/m.rml" > "$tmp/d0"
	rmlops-info --digest "$tmp/f1.rml" > "$tmp/d1"
	changed=$(diff "$tmp/d0" "$tmp/d1" | grep -c '^>' || true)
	[ "$changed" -ge 1 ] || die "no tensor changed"; ok
done
# tensor unit: the number of changed tensors is round(rate * tensors).
rmlops-inject --unit tensor --rate 0.25 -s 3 -m "$tmp/m.rml" -o "$tmp/t.rml" --log "$tmp/log.jsonl" -q
n=$(wc -l < "$tmp/log.jsonl")
t=$(cut -d'"' -f4 "$tmp/log.jsonl" | sort -u | wc -l)
[ "$n" -eq "$t" ] || die "one fault per tensor"; ok
nt=$(rmlops-info --json "$tmp/m.rml" | grep -o '"name":"[^"]*"' | grep -v 'running_' | grep -vc '"head\.' || true)
exp=$(awk -v r=0.25 -v n="$nt" 'BEGIN { printf "%d", r * n + 0.5 }')
[ "$n" -eq "$exp" ] || die "tensor unit hit $n tensors, expected $exp of $nt"; ok
# Bit error rate 1 on the sign bit flips every sign: exactly one bit per weight.
rmlops-inject --ber 1 --bits sign -m "$tmp/m.rml" -o "$tmp/s.rml" --json 2> "$tmp/rs.json"
grep -q "\"bits_changed\":$(sed 's/.*"weights":\([0-9]*\).*/\1/' "$tmp/rs.json")," "$tmp/rs.json" || die "ber 1"; ok
# A model broken everywhere still evaluates (the rows are checked below).
rmlops-inject --fault stuck1 --bits 30 --unit weight --rate 0.5 -m "$tmp/m.rml" -q \
	| rmlops-eval -m - -d "$tmp/small.rml" --json > "$tmp/nan.json"
grep -q '"acc1":' "$tmp/nan.json" || die "eval of a broken model"; ok
# Fault semantics against the weights themselves (scripts/rml_check.py
# reads the files without the library): the log names exactly the weights
# that changed, each by one bit, the one it says.
rmlops-inject --unit weight --rate 0.01 --bits exponent -s 4 -m "$tmp/m.rml" -o "$tmp/e.rml" \
	--log "$tmp/e.jsonl" -q
python3 "$scripts/rml_check.py" diff "$tmp/m.rml" "$tmp/e.rml" | cut -d' ' -f1-3 | sort > "$tmp/diff.txt"
sed 's/{"tensor":"\([^"]*\)","index":\([0-9]*\),"bit":\([0-9]*\),.*/param.\1 \2 \3/' "$tmp/e.jsonl" \
	| sed 's/^param\.//' | sort > "$tmp/logd.txt"
[ -s "$tmp/diff.txt" ] || die "no weight changed"; ok
cmp -s "$tmp/diff.txt" "$tmp/logd.txt" || die "the fault log and the weights differ"; ok
# --target kernels: every convolution and linear kernel of the base, and
# nothing one-dimensional, nothing of the head.
rmlops-inject --target kernels --unit tensor --rate 1 -s 5 -m "$tmp/m.rml" -o "$tmp/k.rml" -q
python3 "$scripts/rml_check.py" diff "$tmp/m.rml" "$tmp/k.rml" > "$tmp/kd.txt"
awk '$4 < 2 || $1 ~ /^head\./ { bad = 1 } END { exit bad }' "$tmp/kd.txt" || die "kernels hit a vector or the head"; ok
nk=$(rmlops-info --json "$tmp/m.rml" | grep -o '"name":"[^"]*","dtype":"f32","shape":\[[0-9]*,[0-9]*[],]' \
	| grep -v '"name":"head\.' | wc -l)
[ "$(cut -d' ' -f1 "$tmp/kd.txt" | sort -u | wc -l)" -eq "$nk" ] || die "kernels did not hit all $nk kernels"; ok
# Non-finite weights: the rows they make non-finite count as wrong, and
# as detected; recomputed from the predictions file.
rmlops-inject --fault stuck1 --bits 30 --unit weight --rate 0.002 -s 3 \
	-m "$tmp/m.rml" -o "$tmp/inf.rml" -q --log "$tmp/inf.jsonl"
# Its log is strict JSON: a non-finite weight is null, not inf or nan.
python3 -c '
import json, sys
def refuse(c):
    raise ValueError(c)
rows = [json.loads(l, parse_constant=refuse) for l in open(sys.argv[1])]
sys.exit(not any(r["new"] is None for r in rows))' "$tmp/inf.jsonl" || die "log of non-finite weights"; ok
python3 "$scripts/rml_check.py" diff "$tmp/m.rml" "$tmp/inf.rml" | gq nonfinite || die "no Inf/NaN weight"; ok
rmlops-eval -m "$tmp/inf.rml" -d "$tmp/small.rml" -P "$tmp/inf-p.rml" --json > "$tmp/inf.json"
read -r _ n _ bad _ acc < <(python3 "$scripts/rml_check.py" preds "$tmp/inf-p.rml")
[ "$bad" -gt 0 ] || die "Inf/NaN weights left every row finite"; ok
grep -q "\"acc1\":$acc," "$tmp/inf.json" || die "acc1 $(grep -o '"acc1":[^,]*' "$tmp/inf.json"), recomputed $acc"; ok
grep -q '"brier":' "$tmp/inf.json" || die "brier"; ok
rmlops-eval -m "$tmp/m.rml" -d "$tmp/small.rml" --repeat 3 --fault stuck1 --bits 30 \
	--unit weight --rate 0.002 --json > "$tmp/det.json"
det=$(sed 's/.*"detected":{"mean":\([0-9.]*\).*/\1/' "$tmp/det.json")
sum=$(sed 's/.*"masked":{"mean":\([0-9.]*\).*"sdc":{"mean":\([0-9.]*\).*"detected":{"mean":\([0-9.]*\).*/\1 \2 \3/' \
	"$tmp/det.json" | awk '{ printf "%.4f", $1 + $2 + $3 }')
awk -v d="$det" 'BEGIN { exit !(d > 0) }' || die "no detected outcome"; ok
[ "$sum" = "1.0000" ] || die "masked + sdc + detected = $sum"; ok
# acc_drop compares accuracies over the labelled images only: with every
# other image unlabelled, rate 0 drops nothing.
python3 -c '
import json, struct, sys
sys.path.insert(0, sys.argv[1])
import rmlfile
kv, t = rmlfile.read(sys.argv[2])
d = t["labels"][2]
labels = struct.unpack("<%di" % (len(d) // 4), d)
print(json.dumps([-1 if i % 2 else v for i, v in enumerate(labels)]))' "$scripts" "$tmp/small.rml" > "$tmp/half.json"
python3 "$scripts/rml_edit.py" "$tmp/small.rml" "$tmp/half.rml" "@labels=$(cat "$tmp/half.json")"
rmlops-eval -m "$tmp/m.rml" -d "$tmp/half.rml" --repeat 2 --rate 0 --json > "$tmp/half-rep.json"
gq '"acc_drop":{"mean":0.000000,' "$tmp/half-rep.json" || die "acc_drop at rate 0 with unlabelled images"; ok
gq '"sdc_rate":{"mean":0.000000,' "$tmp/half-rep.json" || die "sdc_rate at rate 0 with unlabelled images"; ok
# Repetitions in one process, with confidence intervals.
rmlops-eval -m "$tmp/m.rml" -d "$tmp/small.rml" --repeat 5 --rate 0.2 -s 2 --json > "$tmp/rep.json"
grep -q '"acc1":{"mean":' "$tmp/rep.json" && grep -q '"ci95":\[' "$tmp/rep.json" || die "repeat JSON"; ok
rmlops-eval -m "$tmp/m.rml" -d "$tmp/small.rml" --repeat 5 --rate 0.2 -s 2 --json > "$tmp/rep2.json"
same "$tmp/rep.json" "$tmp/rep2.json"
# Vulnerability sweeps: a table, JSON and a PNG chart.
rmlops-eval -m "$tmp/m.rml" -d "$tmp/small.rml" --sweep bits --repeat 1 --plot "$tmp/bits.png" > "$tmp/bits.txt"
[ "$(wc -l < "$tmp/bits.txt")" -eq 33 ] || die "bit sweep rows"; ok
head -c 8 "$tmp/bits.png" | od -An -tx1 | gq '89 50 4e 47' || die "sweep plot"; ok
rmlops-eval -m "$tmp/m.rml" -d "$tmp/small.rml" --sweep tensors --repeat 1 --target 'blocks.2.*' --json \
	| gq '"tensor":"blocks.2.local.conv.w"' || die "tensor sweep"; ok
rmlops-eval -m "$tmp/m.rml" -d "$tmp/small.rml" --sweep rates --unit weight --rates 0,0.5 --repeat 2 --json \
	| gq '"rate":"0.5","acc1":' || die "rate sweep"; ok
expect_fail 2 rmlops-eval -m "$tmp/m.rml" -d "$tmp/small.rml" --sweep rates
expect_fail 2 rmlops-eval -m "$tmp/m.rml" -d "$tmp/small.rml" --sweep layers
expect_fail 2 rmlops-eval -m "$tmp/m.rml" -d "$tmp/small.rml" --plot x.png
# grad-topk needs data.
rmlops-inject --unit grad-topk --rate 0.05 -d "$tmp/small.rml" -m "$tmp/m.rml" -q -o "$tmp/g.rml"
expect_fail 2 rmlops-inject --unit grad-topk --rate 0.1 -m "$tmp/m.rml"
expect_fail 2 rmlops-inject --rate 2 -m "$tmp/m.rml"
expect_fail 2 rmlops-inject --fault melt -m "$tmp/m.rml"
expect_fail 2 rmlops-inject --bits 40 -m "$tmp/m.rml"
expect_fail 2 rmlops-inject --ber 0.1 --fault zero -m "$tmp/m.rml"
expect_fail 2 rmlops-inject -d - < /dev/null   # -m is standard input by default
gq -- '-m and -d cannot both read standard input' "$tmp/err" || die "stdin twice"; ok
expect_fail 1 rmlops-inject --target phi -m "$tmp/m.rml" -o "$tmp/x.rml"
expect_fail 1 rmlops-inject --target 'nothing.*' -m "$tmp/m.rml" -o "$tmp/x.rml"
expect_fail 1 rmlops-inject -m "$tmp/small.rml" -o "$tmp/x.rml"
[ ! -e "$tmp/x.rml" ] || die "failed injection left a file"; ok
echo "inject.sh: $checks checks passed"
