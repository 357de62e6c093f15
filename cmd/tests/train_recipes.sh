#!/usr/bin/env bash
# rmlops-train's recipes on a small real subset with the tiny
# architecture: AutoAugment, Cutout, mixup and CutMix with an average of
# the weights train and resume exactly; the average changes only what is
# validated and written; the checkpoint records the recipe; bad recipe
# options are refused.
. "$(dirname "$0")/lib.bash"
d="$td/cifar10-test-1000.rml"
rmlops-data take --classes airplane,frog --relabel "$d" -q -o "$tmp/two.rml"
rmlops-data split --fraction 0.8 -s 1 "$tmp/two.rml" -o "$tmp/tr.rml" --rest "$tmp/va.rml" -q
base=(-d "$tmp/tr.rml" --val "$tmp/va.rml" --arch mvit-tiny --batch 32 --optimizer adamw
	--lr 0.005 -s 1 -j 1 -q)
common=("${base[@]}" --augment crop,flip,autoaugment,cutout,mixup,cutmix --cutmix 0.5)
rmlops-train "${common[@]}" --epochs 3 --ema 0.9 --ema-eval -o "$tmp/a.rml" --log "$tmp/a.jsonl"
[ "$(wc -l < "$tmp/a.jsonl")" -eq 3 ] || die "log lines"; ok
! grep -qi 'nan\|inf' "$tmp/a.jsonl" || die "log holds NaN or Inf"; ok

# Interrupted after epoch 1 and resumed with only --resume (and
# --ema-eval, which is not a setting of the run): the same model, the
# same log but for the timings.
rmlops-train "${common[@]}" --epochs 3 --ema 0.9 --ema-eval --until 1 --checkpoint "$tmp/ck.rml" \
	--log "$tmp/b.jsonl"
rmlops-info --json "$tmp/ck.rml" > "$tmp/ck.json"
gq '"train.augment":"crop,flip,autoaugment,cutout,mixup,cutmix"' "$tmp/ck.json" || die "recipe key"; ok
gq '"train.cutmix":0.5' "$tmp/ck.json" || die "cutmix key"; ok
gq '"train.ema":0.9' "$tmp/ck.json" || die "ema key"; ok
gq "optim.ema" "$tmp/ck.json" || die "no average in the checkpoint"; ok
rmlops-train -d "$tmp/tr.rml" --val "$tmp/va.rml" -j 1 -q --resume "$tmp/ck.rml" --ema-eval \
	-o "$tmp/b.rml" --log "$tmp/b.jsonl"
same_content "$tmp/a.rml" "$tmp/b.rml"
untimed() { sed 's/,"seconds".*//' "$1"; }
cmp -s <(untimed "$tmp/a.jsonl") <(untimed "$tmp/b.jsonl") || die "resumed log differs"; ok
# The checkpoint remembers --ema-eval: resumed without it, the same model.
gq '"train.ema_eval":1' "$tmp/ck.json" || die "ema-eval key"; ok
rmlops-train -d "$tmp/tr.rml" --val "$tmp/va.rml" -j 1 -q --resume "$tmp/ck.rml" -o "$tmp/b2.rml"
same_content "$tmp/a.rml" "$tmp/b2.rml"

# The average does not steer training: with --ema but without
# --ema-eval the written model is the one trained without --ema, and
# the averaged one differs from it.
rmlops-train "${common[@]}" --epochs 3 --ema 0.9 -o "$tmp/c.rml"
rmlops-train "${common[@]}" --epochs 3 -o "$tmp/d.rml"
same_content "$tmp/c.rml" "$tmp/d.rml"
! cmp -s <(rmlops-info --digest "$tmp/a.rml") <(rmlops-info --digest "$tmp/c.rml") \
	|| die "--ema-eval wrote the trained weights"; ok
# The recipe changes training.
rmlops-train "${base[@]}" --epochs 1 --augment crop,flip -o "$tmp/e.rml"
rmlops-train "${common[@]}" --epochs 1 -o "$tmp/f.rml"
! cmp -s <(rmlops-info --digest "$tmp/e.rml") <(rmlops-info --digest "$tmp/f.rml") \
	|| die "the recipe changed nothing"; ok
# RandAugment with its parameters, recorded.
rmlops-train -d "$tmp/tr.rml" --arch mvit-tiny --batch 32 --epochs 1 -j 1 -q \
	--augment crop,randaugment --randaugment 3,5 --checkpoint "$tmp/ra.rml" -o "$tmp/ra-m.rml"
rmlops-info --json "$tmp/ra.rml" | gq '"train.randaugment_n":3' || die "randaugment key"; ok
# The provenance keeps the argument as typed (parsing N,M once cut it at the comma).
rmlops-info "$tmp/ra.rml" | gq -e '--randaugment 3,5 ' || die "provenance lost M of --randaugment"; ok
# Random erasing with its probability, recorded, and it changes training.
rmlops-train "${base[@]}" --epochs 1 --augment crop,flip,erasing --erasing 0.25 \
	--checkpoint "$tmp/re.rml" -o "$tmp/re-m.rml"
rmlops-info --json "$tmp/re.rml" > "$tmp/re.json"
gq '"train.augment":"crop,flip,erasing"' "$tmp/re.json" || die "erasing item"; ok
gq '"train.erasing":0.25' "$tmp/re.json" || die "erasing key"; ok
! cmp -s <(rmlops-info --digest "$tmp/e.rml") <(rmlops-info --digest "$tmp/re-m.rml") \
	|| die "erasing changed nothing"; ok
# A different recipe on resume is kept, with a warning.
rmlops-train -d "$tmp/tr.rml" --resume "$tmp/ck.rml" -j 1 --epochs 2 --augment crop,flip \
	-o "$tmp/g.rml" 2> "$tmp/warn" > /dev/null
gq 'differs from the checkpoint' "$tmp/warn" || die "no warning for another recipe"; ok

# Refused.
t=(-d "$tmp/tr.rml" -o "$tmp/x.rml")
expect_fail 2 rmlops-train "${t[@]}" --augment autoaugment,randaugment
expect_fail 2 rmlops-train "${t[@]}" --augment crop,mixup,mixup
expect_fail 2 rmlops-train "${t[@]}" --augment crop,rotate
expect_fail 2 rmlops-train "${t[@]}" --mixup 0.2
expect_fail 2 rmlops-train "${t[@]}" --augment crop,cutmix --mixup 0.2
expect_fail 2 rmlops-train "${t[@]}" --augment cutout --cutout 0
expect_fail 2 rmlops-train "${t[@]}" --erasing 0.5
expect_fail 2 rmlops-train "${t[@]}" --augment crop,cutout --erasing 0.5
expect_fail 2 rmlops-train "${t[@]}" --augment erasing --erasing 0
expect_fail 2 rmlops-train "${t[@]}" --augment erasing --erasing 1.5
expect_fail 2 rmlops-train "${t[@]}" --augment erasing --erasing nan
expect_fail 2 rmlops-train "${t[@]}" --augment erasing,erasing
expect_fail 2 rmlops-train "${t[@]}" --augment randaugment --randaugment 2
expect_fail 2 rmlops-train "${t[@]}" --augment randaugment --randaugment 2,31
expect_fail 2 rmlops-train "${t[@]}" --augment mixup --mixup nan
expect_fail 2 rmlops-train "${t[@]}" --ema 1
expect_fail 2 rmlops-train "${t[@]}" --ema 0
expect_fail 2 rmlops-train "${t[@]}" --ema-eval
rmlops-train -d "$tmp/tr.rml" --arch mvit-tiny --batch 32 --epochs 2 --until 1 -j 1 -q \
	--checkpoint "$tmp/noema.rml"
expect_fail 1 rmlops-train -d "$tmp/tr.rml" --resume "$tmp/noema.rml" --ema-eval -o "$tmp/x.rml"
[ ! -e "$tmp/x.rml" ] || die "a refused run wrote its output"; ok
echo "train_recipes: $checks checks passed"
