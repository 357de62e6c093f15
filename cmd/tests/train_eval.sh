#!/usr/bin/env bash
# rmlops-train and rmlops-eval on a small real subset with the tiny
# architecture: learning happens, checkpoints resume exactly, the same
# seed gives the same bytes, metrics and predictions agree, bad inputs
# are refused.
. "$(dirname "$0")/lib.bash"
d="$td/cifar10-test-1000.rml"
# Two easy classes (airplane, frog), 200 images; train on 160.
rmlops-data take --classes airplane,frog --relabel "$d" -q -o "$tmp/two.rml"
rmlops-data split --fraction 0.8 -s 1 "$tmp/two.rml" -o "$tmp/tr.rml" --rest "$tmp/va.rml" -q
common=(-d "$tmp/tr.rml" --val "$tmp/va.rml" --arch mvit-tiny --batch 32 --lr 0.05 -s 5 -j 2 -q)
rmlops-train "${common[@]}" --epochs 4 -o "$tmp/m1.rml" --log "$tmp/log.jsonl"
rmlops-train "${common[@]}" --epochs 4 -o "$tmp/m2.rml"
same_content "$tmp/m1.rml" "$tmp/m2.rml"
[ "$(wc -l < "$tmp/log.jsonl")" -eq 4 ] || die "log lines"; ok
grep -q '"val_acc"' "$tmp/log.jsonl" || die "log keys"; ok
# Resume: 2 epochs, then 2 more from the checkpoint, equals 4 straight.
rmlops-train "${common[@]}" --epochs 4 --checkpoint "$tmp/ck.rml" -o "$tmp/m3.rml"
# Interrupt a run after its second epoch: its checkpoint says epoch 2.
rmlops-train "${common[@]}" --epochs 4 --checkpoint "$tmp/half.rml" -o "$tmp/full.rml" --log "$tmp/l2.jsonl" &
pid=$!
lines() { { wc -l < "$tmp/l2.jsonl"; } 2>/dev/null || echo 0; }
while [ "$(lines)" -lt 2 ]; do sleep 0.05; done
kill -STOP $pid
cp "$tmp/half.rml" "$tmp/at2.rml"
kill -CONT $pid
wait $pid
rmlops-info --json "$tmp/at2.rml" | grep -q '"train.epoch":[23]' || die "checkpoint epoch"; ok
rmlops-train -d "$tmp/tr.rml" --val "$tmp/va.rml" --batch 32 --lr 0.05 -s 5 -j 2 -q --epochs 4 \
	--resume "$tmp/at2.rml" -o "$tmp/m4.rml"
same_content "$tmp/m3.rml" "$tmp/m1.rml"
same_content "$tmp/m4.rml" "$tmp/m1.rml"
# Ctrl-C: stops with status 130, writes no model, keeps the checkpoint whole.
rmlops-train "${common[@]}" --epochs 1000 --checkpoint "$tmp/int.rml" -o "$tmp/never.rml" \
	--log "$tmp/l3.jsonl" 2> "$tmp/int.err" &
pid=$!
l3() { { wc -l < "$tmp/l3.jsonl"; } 2>/dev/null || echo 0; }
while [ "$(l3)" -lt 1 ]; do sleep 0.05; done
kill -INT $pid
st=0
wait $pid || st=$?
[ "$st" -eq 130 ] || die "interrupted training exited $st"; ok
[ ! -e "$tmp/never.rml" ] || die "interrupted training wrote a model"; ok
rmlops-info -q "$tmp/int.rml" || die "checkpoint damaged"; ok
grep -q interrupted "$tmp/int.err" || die "no message on interrupt"; ok
# Loss went down and accuracy beats chance on held-out images.
first=$(head -1 "$tmp/log.jsonl" | sed 's/.*"loss":\([0-9.]*\).*/\1/')
last=$(tail -1 "$tmp/log.jsonl" | sed 's/.*"loss":\([0-9.]*\).*/\1/')
awk -v a="$first" -v b="$last" 'BEGIN { exit !(b < a) }' || die "loss did not fall ($first -> $last)"; ok
acc=$(rmlops-eval -m "$tmp/m1.rml" -d "$tmp/va.rml" --json | sed 's/.*"acc1":\([0-9.]*\).*/\1/')
awk -v a="$acc" 'BEGIN { exit !(a > 0.6) }' || die "accuracy $acc not above chance"; ok
# Predictions file gives the same metrics as model + data.
rmlops-eval -m "$tmp/m1.rml" -d "$tmp/va.rml" -P "$tmp/p.rml" --json > "$tmp/e1.json"
rmlops-eval -p "$tmp/p.rml" --json > "$tmp/e2.json"
same "$tmp/e1.json" "$tmp/e2.json"
for k in n acc1 acc2 reject_rate nll brier ece mce ace; do
	grep -q "\"$k\":" "$tmp/e1.json" || die "eval JSON lacks $k"; ok
done
rmlops-eval -m "$tmp/m1.rml" -d "$tmp/va.rml" --reject entropy --reject-rate 0.25 --json \
	| grep -q '"reject_rate":0.250000' || die "reject rate"; ok
rmlops-eval -m "$tmp/m1.rml" -d "$tmp/va.rml" --per-class | grep -q frog || die "per class"; ok
# Fine-tuning only the adapter and the head leaves the base untouched.
rmlops-train -d "$tmp/tr.rml" -m "$tmp/m1.rml" --adapters 2 --tune phi,W --epochs 1 --batch 16 \
	--lr 0.01 -s 1 -q -o "$tmp/ft.rml"
rmlops-info --json "$tmp/ft.rml" | grep -q 'adapter.u3' || die "adapters added"; ok
b1=$(rmlops-info --json "$tmp/m1.rml" | sed 's/.*"model.base_hash":"\([0-9a-f]*\)".*/\1/')
b2=$(rmlops-info --json "$tmp/ft.rml" | sed 's/.*"model.base_hash":"\([0-9a-f]*\)".*/\1/')
[ "$b1" = "$b2" ] || die "fine-tuning changed the base"; ok
# Refused.
expect_fail 2 rmlops-train
expect_fail 2 rmlops-train -d "$tmp/tr.rml" --epochs 0
expect_fail 2 rmlops-train -d "$tmp/tr.rml" --optimizer adam
expect_fail 1 rmlops-train -d "$tmp/m1.rml" --arch mvit-tiny -o "$tmp/x.rml"
expect_fail 1 rmlops-train -d "$tmp/tr.rml" --arch no-such-arch -o "$tmp/x.rml"
expect_fail 1 rmlops-train -d "$tmp/tr.rml" --arch mvit-tiny --tune phi -o "$tmp/x.rml"
[ ! -e "$tmp/x.rml" ] || die "a failed run left an output"; ok
expect_fail 2 rmlops-eval -m "$tmp/m1.rml"
expect_fail 2 rmlops-eval -m "$tmp/m1.rml" -d "$tmp/va.rml" --reject entropy
expect_fail 1 rmlops-eval -m "$tmp/va.rml" -d "$tmp/va.rml"
expect_fail 1 rmlops-eval -p "$tmp/m1.rml"
rmlops-data import idx "$td/idx/images-idx3-ubyte" "$td/idx/labels-idx1-ubyte" -q -o "$tmp/grey.rml"
expect_fail 1 rmlops-eval -m "$tmp/m1.rml" -d "$tmp/grey.rml"
echo "train_eval.sh: $checks checks passed"
