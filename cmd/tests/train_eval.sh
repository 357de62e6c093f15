#!/usr/bin/env bash
# rmlops-train and rmlops-eval on a small real subset with the tiny
# architecture: learning happens, the same seed and thread count give the
# same bytes, checkpoints resume exactly, Ctrl-C leaves the checkpoint
# whole, metrics from a model and from its predictions file agree, broken
# (NaN) models are measured without a crash, bad inputs are refused.
. "$(dirname "$0")/lib.bash"
d="$td/cifar10-test-1000.rml"
# Two easy classes (airplane, frog), 200 images; train on 160.
rmlops-data take --classes airplane,frog --relabel "$d" -q -o "$tmp/two.rml"
rmlops-data split --fraction 0.8 -s 1 "$tmp/two.rml" -o "$tmp/tr.rml" --rest "$tmp/va.rml" -q
common=(-d "$tmp/tr.rml" --val "$tmp/va.rml" --arch mvit-tiny --batch 32 --optimizer adamw
	--lr 0.005 -s 1 -j 1 -q)
rmlops-train "${common[@]}" --epochs 4 -o "$tmp/m1.rml" --log "$tmp/log.jsonl" --plot "$tmp/c1.png"
[ "$(head -c 4 "$tmp/c1.png" | od -An -c | tr -d ' ')" = '211PNG' ] || die "--plot wrote no PNG"; ok

# The log: one JSON line per epoch with the documented keys, no NaN.
[ "$(wc -l < "$tmp/log.jsonl")" -eq 4 ] || die "log lines"; ok
for k in epoch lr loss train_acc val_acc val_nll seconds images_per_s; do
	grep -q "\"$k\":" "$tmp/log.jsonl" || die "log lacks $k"; ok
done
! grep -qi 'nan\|inf' "$tmp/log.jsonl" || die "log holds NaN or Inf"; ok
rmlops-train -d "$tmp/tr.rml" --arch mvit-tiny --epochs 1 -j 1 -q -o "$tmp/nv.rml" --log "$tmp/nv.jsonl"
grep -q '"val_acc":null' "$tmp/nv.jsonl" || die "no validation should log null"; ok

# Learning: the loss falls and held-out accuracy is well above chance.
first=$(head -1 "$tmp/log.jsonl" | sed 's/.*"loss":\([0-9.]*\).*/\1/')
last=$(tail -1 "$tmp/log.jsonl" | sed 's/.*"loss":\([0-9.]*\).*/\1/')
awk -v a="$first" -v b="$last" 'BEGIN { exit !(b < a - 0.1) }' || die "loss did not fall ($first -> $last)"; ok
acc=$(rmlops-eval -m "$tmp/m1.rml" -d "$tmp/va.rml" --json | sed 's/.*"acc1":\([0-9.]*\).*/\1/')
awk -v a="$acc" 'BEGIN { exit !(a > 0.7) }' || die "accuracy $acc not above chance"; ok

# Same seed and threads: byte-identical checkpoints and models (the same
# command in two directories, so even the provenance is the same), at one
# thread and at two; another seed gives another model.
for t in 1 2; do
	for r in a b; do
		mkdir -p "$tmp/$r$t"
		(cd "$tmp/$r$t" && rmlops-train -d ../tr.rml --arch mvit-tiny --batch 32 --epochs 2 -s 3 \
			-j $t -q --checkpoint ck.rml -o m.rml)
	done
	same "$tmp/a$t/ck.rml" "$tmp/b$t/ck.rml"
	same "$tmp/a$t/m.rml" "$tmp/b$t/m.rml"
done
(cd "$tmp/b1" && rmlops-train -d ../tr.rml --arch mvit-tiny --batch 32 --epochs 2 -s 4 -j 1 -q -o m.rml)
differ "$tmp/a1/m.rml" "$tmp/b1/m.rml"

# Resume: 2 epochs (--until), then the rest from the checkpoint with only
# --resume: the settings come from the checkpoint, the model equals the
# uninterrupted one and so does the log (but for the timings).
rmlops-train "${common[@]}" --epochs 4 --until 2 --checkpoint "$tmp/ck.rml" --log "$tmp/rl.jsonl" \
	--plot "$tmp/c2.png" > "$tmp/until.out"
[ ! -s "$tmp/until.out" ] || die "--until wrote a model"; ok
rmlops-info --json "$tmp/ck.rml" | gq '"train.epoch":2' || die "checkpoint epoch"; ok
rmlops-train -d "$tmp/tr.rml" --val "$tmp/va.rml" -j 1 -q --resume "$tmp/ck.rml" -o "$tmp/m2.rml" \
	--log "$tmp/rl.jsonl" --plot "$tmp/c2.png"
same_content "$tmp/m1.rml" "$tmp/m2.rml"
untimed() { sed 's/,"seconds".*//' "$1"; }
cmp -s <(untimed "$tmp/log.jsonl") <(untimed "$tmp/rl.jsonl") || die "resumed log differs"; ok
# The resumed run's curve starts at epoch 1 (read back from its log).
cmp -s "$tmp/c1.png" "$tmp/c2.png" || die "resumed learning curve differs"; ok
# A resumed fine-tuning run keeps training only what it trained.
ft=(-d "$tmp/tr.rml" -m "$tmp/m1.rml" --adapters 2 --tune phi,W --batch 16 --lr 0.01 -s 1 -j 1 -q)
rmlops-train "${ft[@]}" --epochs 2 -o "$tmp/ft.rml"
rmlops-train "${ft[@]}" --epochs 2 --until 1 --checkpoint "$tmp/fck.rml"
rmlops-train -d "$tmp/tr.rml" --resume "$tmp/fck.rml" -j 1 -q -o "$tmp/ft2.rml"
same_content "$tmp/ft.rml" "$tmp/ft2.rml"
rmlops-info --json "$tmp/ft.rml" | gq 'adapter.u3' || die "adapters added"; ok
b1=$(rmlops-info --json "$tmp/m1.rml" | sed 's/.*"model.base_hash":"\([0-9a-f]*\)".*/\1/')
b2=$(rmlops-info --json "$tmp/ft2.rml" | sed 's/.*"model.base_hash":"\([0-9a-f]*\)".*/\1/')
[ "$b1" = "$b2" ] || die "fine-tuning changed the base"; ok
# Resuming on other data is refused.
expect_fail 1 rmlops-train -d "$tmp/va.rml" --resume "$tmp/ck.rml" -o "$tmp/x.rml"

# Ctrl-C: stops with status 130, writes no model, keeps the checkpoint
# whole and resumable; SIGTERM (a batch system's time limit) likewise, 143.
for sig in INT TERM; do
	rm -f "$tmp/l3.jsonl"
	rmlops-train "${common[@]}" --epochs 1000 --checkpoint "$tmp/int.rml" -o "$tmp/never.rml" \
		--log "$tmp/l3.jsonl" 2> "$tmp/int.err" &
	pid=$!
	l3() { { wc -l < "$tmp/l3.jsonl"; } 2>/dev/null || echo 0; }
	while [ "$(l3)" -lt 1 ]; do sleep 0.05; done
	kill -$sig $pid
	st=0
	wait $pid || st=$?
	want=$([ $sig = INT ] && echo 130 || echo 143)
	[ "$st" -eq "$want" ] || die "SIG$sig: training exited $st, not $want"; ok
	[ ! -e "$tmp/never.rml" ] || die "interrupted training wrote a model"; ok
	grep -q "the last checkpoint is intact" "$tmp/int.err" || die "no message on SIG$sig"; ok
	rmlops-train -d "$tmp/tr.rml" -q -j 1 --resume "$tmp/int.rml" --epochs 1000 \
		--until "$(($(l3) + 1))" --checkpoint "$tmp/int2.rml" 2> /dev/null || die "checkpoint not resumable"
	ok
done

# Metrics: a predictions file gives the same report as model + data.
rmlops-eval -m "$tmp/m1.rml" -d "$tmp/va.rml" -P "$tmp/p.rml" --json > "$tmp/e1.json"
rmlops-eval -p "$tmp/p.rml" --json > "$tmp/e2.json"
same "$tmp/e1.json" "$tmp/e2.json"
for k in n acc1 acc2 reject_rate nll brier ece mce ace; do
	grep -q "\"$k\":" "$tmp/e1.json" || die "eval JSON lacks $k"; ok
done
rmlops-eval -m "$tmp/m1.rml" -d "$tmp/va.rml" --reject entropy --reject-rate 0.25 --json \
	| gq '"reject_rate":0.250000,.*"threshold":' || die "reject rate"; ok
# The predictions file keeps its rejections; --reject none clears them.
rmlops-eval -m "$tmp/m1.rml" -d "$tmp/va.rml" --reject confidence --threshold 0.9 -P "$tmp/pr.rml" \
	--json > "$tmp/r1.json"
rmlops-eval -p "$tmp/pr.rml" --json | gq "$(sed 's/.*\("reject_rate":[0-9.]*\).*/\1/' "$tmp/r1.json")" \
	|| die "predictions lost their rejections"; ok
rmlops-eval -p "$tmp/pr.rml" --reject none --json | gq '"reject_rate":0.000000' || die "--reject none"; ok
rmlops-eval -m "$tmp/m1.rml" -d "$tmp/va.rml" --per-class | gq '^frog ' || die "per class"; ok
rmlops-eval -m "$tmp/m1.rml" -d "$tmp/va.rml" --per-class --json \
	| gq '"per_class":{"airplane":{"acc":[0-9.]*,"n":20},"frog":' || die "per class JSON"; ok
rmlops-eval -m "$tmp/m1.rml" -d "$tmp/va.rml" --binning mass --bins 4 --json | gq '"ece":' || die "mass bins"; ok
# A model whose weights became huge gives NaN/Inf logits: all wrong, all
# rejected when rejecting, no crash, valid JSON.
rmlops-inject -m "$tmp/m1.rml" --fault stuck1 --bits 30 --unit weight --rate 0.5 --target all -q \
	-o "$tmp/nan.rml"
rmlops-eval -m "$tmp/nan.rml" -d "$tmp/va.rml" --reject entropy --threshold 0.5 --json > "$tmp/nan.json"
grep -q '"acc1":0.000000,"acc2":0.000000,"reject_rate":1.000000' "$tmp/nan.json" || die "NaN model"; ok
! grep -qi 'nan\|inf' "$tmp/nan.json" || die "NaN in JSON"; ok

# Refused, with a message and nothing on standard output.
expect_fail 2 rmlops-train
expect_fail 2 rmlops-train -d "$tmp/tr.rml" --epochs 0
expect_fail 2 rmlops-train -d "$tmp/tr.rml" --optimizer adam
expect_fail 2 rmlops-train -d "$tmp/tr.rml" --augment crop,crop
expect_fail 2 rmlops-train -d "$tmp/tr.rml" --lr -1
expect_fail 2 rmlops-train -d "$tmp/tr.rml" --until 2
expect_fail 2 rmlops-train -d "$tmp/tr.rml" --until 5 --epochs 4 --checkpoint "$tmp/x.rml"
expect_fail 2 rmlops-train -d "$tmp/tr.rml" --resume "$tmp/ck.rml" --arch mvit-tiny
expect_fail 1 rmlops-train -d "$tmp/no-such.rml" -o "$tmp/x.rml"
expect_fail 1 rmlops-train -d "$tmp/m1.rml" --arch mvit-tiny -o "$tmp/x.rml"
expect_fail 1 rmlops-train -d "$tmp/tr.rml" --arch no-such-arch -o "$tmp/x.rml"
expect_fail 1 rmlops-train -d "$tmp/tr.rml" --arch mvit-tiny --tune phi -o "$tmp/x.rml"
expect_fail 1 rmlops-train -d "$tmp/tr.rml" --resume "$tmp/m1.rml" -o "$tmp/x.rml"
expect_fail 1 rmlops-train -d "$tmp/tr.rml" --resume "$tmp/ck.rml" --optimizer sgd -o "$tmp/x.rml"
[ ! -e "$tmp/x.rml" ] || die "a failed run left an output"; ok
expect_fail 2 rmlops-eval -m "$tmp/m1.rml"
expect_fail 2 rmlops-eval -m "$tmp/m1.rml" -d "$tmp/va.rml" --reject entropy
expect_fail 2 rmlops-eval -m "$tmp/m1.rml" -d "$tmp/va.rml" --threshold 0.5
expect_fail 2 rmlops-eval -m "$tmp/m1.rml" -d "$tmp/va.rml" --binning odd
expect_fail 2 rmlops-eval -m "$tmp/m1.rml" -d "$tmp/va.rml" --bins 0
expect_fail 2 rmlops-eval -p "$tmp/p.rml" -m "$tmp/m1.rml"
expect_fail 1 rmlops-eval -m "$tmp/va.rml" -d "$tmp/va.rml"
expect_fail 1 rmlops-eval -m "$tmp/m1.rml" -d "$tmp/m1.rml"
expect_fail 1 rmlops-eval -p "$tmp/m1.rml"
expect_fail 1 rmlops-eval -p "$tmp/no-such.rml"
rmlops-data import idx "$td/idx/images-idx3-ubyte" "$td/idx/labels-idx1-ubyte" -q -o "$tmp/grey.rml"
expect_fail 1 rmlops-eval -m "$tmp/m1.rml" -d "$tmp/grey.rml"
grep -q "takes 32x32x3 images" "$tmp/err" || die "geometry message"; ok
expect_fail 1 rmlops-train -d "$tmp/grey.rml" -m "$tmp/m1.rml" -o "$tmp/x.rml"
# The dataset's classes must fit the model's head (5 classes vs 2).
rmlops-data take --classes airplane,frog,cat,dog,ship "$d" -q -o "$tmp/five.rml"
expect_fail 1 rmlops-eval -m "$tmp/m1.rml" -d "$tmp/five.rml"
# The pretrained model reproduces the accuracy the README gives for it on
# the carried test images (86.2%), at one thread and at two.
for t in 1 2; do
	acc=$(rmlops-eval -m "$td/mvit-xxs-cifar10.rml" -d "$d" -j $t --json | sed 's/.*"acc1":\([0-9.]*\).*/\1/')
	[ "$acc" = 0.862000 ] || die "pretrained model: acc1 $acc on the carried images, README says 0.862"; ok
done
echo "train_eval.sh: $checks checks passed"
