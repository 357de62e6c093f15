#!/usr/bin/env bash
# rmlops-tta: predictions files that rmlops-eval reads (entropy before and
# after, rejections), byte-identical reruns, episodic MEMO independent of
# the order of the stream, continual mode writing its adapters, TENT on
# batch norm without adapters, the stored rejection rule of a calibrated
# model, and every refused invocation.
. "$(dirname "$0")/lib.bash"
d="$td/cifar10-test-1000.rml"
rmlops-data take --per-class 4 "$d" -q -o "$tmp/small.rml"
rmlops-train -d "$tmp/small.rml" --arch mvit-tiny --adapters 2 --epochs 1 --batch 20 -s 1 -q -o "$tmp/m.rml"
rmlops-train -d "$tmp/small.rml" --arch mvit-tiny --epochs 1 --batch 20 -s 1 -q -o "$tmp/plain.rml"
t() { rmlops-tta -j 1 "$@"; }
# MEMO, episodic: a predictions file with entropy before and after, read by rmlops-eval.
t -m "$tmp/m.rml" -d "$tmp/small.rml" --aug-copies 4 --lr 0.5 --json > "$tmp/p1.rml" 2> "$tmp/r1.json"
grep -q '"method":"memo","mode":"episodic"' "$tmp/r1.json" || die "report"; ok
grep -q '"updates":40,' "$tmp/r1.json" || die "one update per input"; ok
rmlops-info "$tmp/p1.rml" | gq entropy_before || die "no entropy_before"; ok
rmlops-info "$tmp/p1.rml" | gq 'tta.method.*memo' || die "no tta.method"; ok
rmlops-eval -p "$tmp/p1.rml" --json > "$tmp/e1.json"
grep -q '"n":40,.*"acc1":.*"acc2":.*"reject_rate":0.000000' "$tmp/e1.json" || die "eval -p"; ok
# Same seed, same bytes; another seed, other augmentations.
t -m "$tmp/m.rml" -d "$tmp/small.rml" --aug-copies 4 --lr 0.5 -q > "$tmp/p2.rml"
same_content "$tmp/p1.rml" "$tmp/p2.rml"
t -m "$tmp/m.rml" -d "$tmp/small.rml" --aug-copies 4 --lr 0.5 -s 2 -q > "$tmp/p3.rml"
cmp -s <(rmlops-info --digest "$tmp/p1.rml") <(rmlops-info --digest "$tmp/p3.rml") && die "seeds 1 and 2 agree"; ok
# Episodic leaves no trace: the stream in another order gives the same predictions.
t -m "$tmp/m.rml" -d "$tmp/small.rml" --aug-copies 4 --lr 0.5 --shuffle -q > "$tmp/p4.rml"
same_content "$tmp/p1.rml" "$tmp/p4.rml"
# Adaptation changed something (lr 0.5), and --steps 0 is the model itself.
rmlops-info --digest "$tmp/p1.rml" | grep ' entropy$' > "$tmp/h1"
t -m "$tmp/m.rml" -d "$tmp/small.rml" --steps 0 -q > "$tmp/p0.rml"
rmlops-info --digest "$tmp/p0.rml" | grep ' entropy$' > "$tmp/h0"
rmlops-info --digest "$tmp/p0.rml" | grep ' entropy_before$' | sed 's/_before$//' > "$tmp/hb0"
differ "$tmp/h0" "$tmp/h1"
same "$tmp/h0" "$tmp/hb0"
a0=$(rmlops-eval -p "$tmp/p0.rml" --json | sed 's/.*"acc1":\([0-9.]*\).*/\1/')
a1=$(rmlops-eval -m "$tmp/m.rml" -d "$tmp/small.rml" --json | sed 's/.*"acc1":\([0-9.]*\).*/\1/')
[ "$a0" = "$a1" ] || die "--steps 0 gives acc1 $a0, the model $a1"; ok
# Continual: order matters, and -o writes the adapted adapters.
t -m "$tmp/m.rml" -d "$tmp/small.rml" --aug-copies 4 --lr 0.5 --mode continual -o "$tmp/ad.rml" -q > "$tmp/c1.rml"
t -m "$tmp/m.rml" -d "$tmp/small.rml" --aug-copies 4 --lr 0.5 --mode continual --shuffle -q > "$tmp/c2.rml"
cmp -s <(rmlops-info --digest "$tmp/c1.rml") <(rmlops-info --digest "$tmp/c2.rml") && die "continual ignores the order"; ok
rmlops-info "$tmp/ad.rml" | head -1 | gq ': adapters ' || die "-o is not an adapter file"; ok
rmlops-info --digest "$tmp/ad.rml" | gq 'adapter.scale' || die "adapter file without scales"; ok
# Rejection by entropy: a rate, or a threshold of 0 that rejects everything.
t -m "$tmp/m.rml" -d "$tmp/small.rml" --aug-copies 2 --reject entropy --reject-rate 0.25 -q > "$tmp/r.rml"
rmlops-eval -p "$tmp/r.rml" --json | gq '"reject_rate":0.250000' || die "reject rate"; ok
t -m "$tmp/m.rml" -d "$tmp/small.rml" --aug-copies 2 --reject entropy --threshold 0 -q > "$tmp/r0.rml"
rmlops-eval -p "$tmp/r0.rml" --json | gq '"reject_rate":1.000000' || die "threshold 0"; ok
t -m "$tmp/m.rml" -d "$tmp/small.rml" --aug-copies 2 --reject confidence --threshold 1 -q > "$tmp/rc.rml"
rmlops-eval -p "$tmp/rc.rml" --json | gq '"reject_rate":1.000000' || die "confidence 1"; ok
# TENT on batch norm works without adapters; -o then writes the whole model.
t -m "$tmp/plain.rml" -d "$tmp/small.rml" --method tent --tune bn --batch 16 --shuffle --lr 0.01 \
	-o "$tmp/bn.rml" --json > "$tmp/tb.rml" 2> "$tmp/tb.json"
grep -q '"method":"tent","mode":"continual"' "$tmp/tb.json" || die "tent report"; ok
grep -q '"updates":3,' "$tmp/tb.json" || die "tent: one update per batch"; ok
rmlops-info "$tmp/bn.rml" | head -1 | gq ': model ' || die "tent bn -o"; ok
rmlops-eval -m "$tmp/bn.rml" -d "$tmp/small.rml" -q > /dev/null
t -m "$tmp/m.rml" -d "$tmp/small.rml" --method tent --batch 8 -q > "$tmp/tp.rml"
rmlops-eval -p "$tmp/tp.rml" --json | gq '"n":40' || die "tent phi"; ok
# A calibrated model: its calibrator and stored rule apply unless told otherwise.
if command -v rmlops-calibrate > /dev/null; then
	rmlops-calibrate -m "$tmp/m.rml" -d "$tmp/small.rml" --per-class 0 --ood none --method temperature \
		--reject entropy --reject-max-rate 0.2 -j 1 -q -o "$tmp/cal.rml" > /dev/null
	t -m "$tmp/cal.rml" -d "$tmp/small.rml" --steps 0 -q > "$tmp/pc.rml"
	rmlops-info "$tmp/pc.rml" | gq 'tta.calibrated *1' || die "calibrator not applied"; ok
	rmlops-info "$tmp/pc.rml" | gq 'tta.reject *entropy' || die "stored rule not applied"; ok
	t -m "$tmp/cal.rml" -d "$tmp/small.rml" --steps 0 --no-calibration -q > "$tmp/pn.rml"
	rmlops-info "$tmp/pn.rml" | gq 'tta.reject *none' || die "--no-calibration kept the rule"; ok
	rmlops-info --digest "$tmp/pn.rml" | grep ' probs$' > "$tmp/pn"
	rmlops-info --digest "$tmp/p0.rml" | grep ' probs$' > "$tmp/p0"
	same "$tmp/pn" "$tmp/p0"
fi
# Refused.
expect_fail 1 t -m "$tmp/plain.rml" -d "$tmp/small.rml"
grep -q 'no adapters' "$tmp/err" || die "no-adapter message"; ok
expect_fail 1 t -m "$tmp/small.rml" -d "$tmp/small.rml"
expect_fail 1 t -m "$tmp/m.rml" -d "$tmp/m.rml"
expect_fail 1 t -m "$tmp/m.rml" -d "$tmp/missing.rml"
expect_fail 2 t -m "$tmp/m.rml" -d "$tmp/small.rml" -o "$tmp/x.rml"
expect_fail 2 t -m "$tmp/m.rml" -d "$tmp/small.rml" --batch 4
expect_fail 2 t -m "$tmp/m.rml" -d "$tmp/small.rml" --method tent --aug-copies 4
expect_fail 2 t -m "$tmp/m.rml" -d "$tmp/small.rml" --method sgd
expect_fail 2 t -m "$tmp/m.rml" -d "$tmp/small.rml" --mode online
expect_fail 2 t -m "$tmp/m.rml" -d "$tmp/small.rml" --tune gamma
expect_fail 2 t -m "$tmp/m.rml" -d "$tmp/small.rml" --steps -1
expect_fail 2 t -m "$tmp/m.rml" -d "$tmp/small.rml" --aug-copies 0
expect_fail 2 t -m "$tmp/m.rml" -d "$tmp/small.rml" --lr nan
expect_fail 2 t -m "$tmp/m.rml" -d "$tmp/small.rml" --optimizer adam --momentum 0.9
expect_fail 2 t -m "$tmp/m.rml" -d "$tmp/small.rml" --optimizer adamw --momentum 0.9
expect_fail 2 t -m "$tmp/m.rml" -d "$tmp/small.rml" --optimizer adamx
expect_fail 2 t -m - -d - < /dev/null
gq -- '-m and -d cannot both read standard input' "$tmp/err" || die "stdin twice"; ok
# adamw and its earlier name adam are the same optimiser.
t -m "$tmp/m.rml" -d "$tmp/small.rml" --optimizer adamw -q > "$tmp/aw.rml"
t -m "$tmp/m.rml" -d "$tmp/small.rml" --optimizer adam -q > "$tmp/a.rml"
same_content "$tmp/aw.rml" "$tmp/a.rml"
expect_fail 2 t -m "$tmp/m.rml" -d "$tmp/small.rml" --threshold 1
expect_fail 2 t -m "$tmp/m.rml" -d "$tmp/small.rml" --reject entropy
expect_fail 2 t -m "$tmp/m.rml" -d "$tmp/small.rml" --reject entropy --threshold 1 --reject-rate 0.1
expect_fail 2 t -m "$tmp/m.rml" -d "$tmp/small.rml" --reject confidence --threshold 2
expect_fail 2 t -m "$tmp/m.rml" -d "$tmp/small.rml" --reject maybe
expect_fail 2 t -m - -d -
expect_fail 2 t -m "$tmp/m.rml"
expect_fail 2 t -m "$tmp/m.rml" -d "$tmp/small.rml" extra
[ ! -e "$tmp/x.rml" ] || die "a refused run left a file"; ok
echo "tta.sh: $checks checks passed"
