#!/usr/bin/env bash
# rmlops-metaopt on mvit-tiny with adapters and the carried images: a run
# that changes only omega (theta, phi and W byte-identical by digest),
# the same bytes at -j1 and -j2 and after --until / --resume, the log and
# the plot, --eval with its table and JSON, a task change from Fashion-MNIST-
# shaped episodes made here, and every refused invocation.
. "$(dirname "$0")/lib.bash"
d="$td/cifar10-test-1000.rml"
rmlops-data take --per-class 12 "$d" -s 1 -q -o "$tmp/tr.rml"
rmlops-data take --per-class 6 "$d" -s 2 -q -o "$tmp/val.rml"
rmlops-train -d "$tmp/tr.rml" --arch mvit-tiny --adapters 2 --epochs 1 --batch 20 -s 1 -q -o "$tmp/m.rml"
rmlops-train -d "$tmp/tr.rml" --arch mvit-tiny --epochs 1 --batch 20 -s 1 -q -o "$tmp/plain.rml"
rmlops-data tasks --ways 3 --shots 4 --queries 4 --episodes 4 -s 1 -q "$tmp/tr.rml" -o "$tmp/tasks.rml"
common=(-d "$tmp/tr.rml" --val "$tmp/val.rml" --tasks "$tmp/tasks.rml" --steps 3 --val-size 20
	--impl 1 --iterations 4 --heldout 1 --eval-every 2 --alpha 0.05 --beta 0.5 --sigma 0.05)
rmlops-metaopt -m "$tmp/m.rml" "${common[@]}" -j 1 -q --log "$tmp/log.jsonl" --plot "$tmp/r.png" \
	-o "$tmp/a.rml"
[ "$(wc -l < "$tmp/log.jsonl")" -eq 4 ] || die "log lines"; ok
grep -q '"iteration":3,"type":"[a-z]*","r_plus":[0-9.]*,"r_minus":[0-9.]*,"r_mean"' "$tmp/log.jsonl" || die "log fields"; ok
grep -q '"heldout":[0-9.]' "$tmp/log.jsonl" || die "no held-out R in the log"; ok
[ "$(head -c 4 "$tmp/r.png" | od -An -c | tr -d ' ')" = '211PNG' ] || die "plot is not a PNG"; ok
rmlops-info "$tmp/a.rml" > "$tmp/info"
grep -q 'metaopt.heldout_after' "$tmp/info" || die "no metaopt keys"; ok
# Only omega may differ from the input: theta, phi and W byte-identical.
rmlops-info --digest "$tmp/m.rml" | grep -v 'adapter' > "$tmp/d0"
rmlops-info --digest "$tmp/a.rml" | grep -v 'adapter' > "$tmp/d1"
same "$tmp/d0" "$tmp/d1"
rmlops-info --digest "$tmp/m.rml" | grep 'adapter.*\.scale\|adapter.*\.2\.' > "$tmp/p0" || true
rmlops-info --digest "$tmp/a.rml" | grep 'adapter.*\.scale\|adapter.*\.2\.' > "$tmp/p1" || true
same "$tmp/p0" "$tmp/p1"
# Two threads: the same bytes.
rmlops-metaopt -m "$tmp/m.rml" "${common[@]}" -j 2 -q -o "$tmp/b.rml"
same_content "$tmp/a.rml" "$tmp/b.rml"
# In two slices: stop after iteration 2, resume from the checkpoint.
rmlops-metaopt -m "$tmp/m.rml" "${common[@]}" -j 1 -q --until 2 --checkpoint "$tmp/ck.rml" \
	--log "$tmp/log2.jsonl" -o "$tmp/c.rml"
[ ! -e "$tmp/c.rml" ] || die "--until wrote the output"; ok
[ "$(wc -l < "$tmp/log2.jsonl")" -eq 2 ] || die "log after --until"; ok
rmlops-metaopt --resume "$tmp/ck.rml" -j 2 -q
same_content "$tmp/a.rml" "$tmp/c.rml"
[ "$(wc -l < "$tmp/log2.jsonl")" -eq 4 ] || die "log after --resume"; ok
# Evaluation: a table, JSON with the metric names, a curve plot.
rmlops-metaopt --eval -m "$tmp/m.rml" --val "$tmp/val.rml" --tasks "$tmp/tasks.rml" --steps 3 \
	--val-size 20 --repeat 3 -j 1 > "$tmp/e.txt"
grep -q '^P0 ' "$tmp/e.txt" && grep -q ' task ' "$tmp/e.txt" && grep -q ' all ' "$tmp/e.txt" || die "eval table"; ok
rmlops-metaopt --eval -m "$tmp/m.rml" --val "$tmp/val.rml" --pool fgsm --steps 3 --val-size 20 \
	--repeat 3 --json --plot "$tmp/curve.png" > "$tmp/e.json"
grep -q '"resilience":{"mean":[0-9.]*,"sd":[0-9.]*,"ci95":\[-\?[0-9.]*,[0-9.]*\],"n_rep":3}}$' "$tmp/e.json" || die "eval JSON"; ok
[ -s "$tmp/curve.png" ] || die "no curve plot"; ok
# A YAML pool.
printf 'disturbances:\n  - type: fault\n    rate: 0.001\n    bits: sign\n' > "$tmp/pool.yaml"
rmlops-metaopt --eval -m "$tmp/m.rml" --val "$tmp/val.rml" --pool "$tmp/pool.yaml" --steps 2 \
	--val-size 10 --repeat 2 -q > "$tmp/f.txt"
grep -q ' fault ' "$tmp/f.txt" || die "YAML pool"; ok
# Refused.
expect_fail 1 rmlops-metaopt -m "$tmp/plain.rml" "${common[@]}" -o "$tmp/x.rml"
grep -q 'no adapters' "$tmp/err" || die "message for a model without adapters"; ok
rmlops-data import idx "$td/idx/images-idx3-ubyte" "$td/idx/labels-idx1-ubyte" -q 2>/dev/null \
	| rmlops-data tasks --ways 2 --shots 1 --queries 1 --episodes 2 -q -o "$tmp/t28.rml" 2>/dev/null || true
if [ -s "$tmp/t28.rml" ]; then
	expect_fail 1 rmlops-metaopt -m "$tmp/m.rml" -d "$tmp/tr.rml" --val "$tmp/val.rml" --tasks "$tmp/t28.rml" --steps 3 --val-size 20 -o "$tmp/x.rml"
	grep -q 'task images are' "$tmp/err" || die "message for mismatched tasks"; ok
fi
# A plain dataset is not a task file.
expect_fail 1 rmlops-metaopt -m "$tmp/m.rml" -d "$tmp/tr.rml" --val "$tmp/val.rml" --tasks "$tmp/val.rml" \
	--steps 3 --val-size 20 -o "$tmp/x.rml"
gq 'task file: ' "$tmp/err" || die "message for a dataset given as tasks"; ok
expect_fail 1 rmlops-metaopt -m "$tmp/m.rml" "${common[@]}" --pool '' -o "$tmp/x.rml"
expect_fail 1 rmlops-metaopt -m "$tmp/m.rml" "${common[@]}" --pool fgsm,noise -o "$tmp/x.rml"
expect_fail 2 rmlops-metaopt -m "$tmp/m.rml" "${common[@]}" --sigma 0 -o "$tmp/x.rml"
expect_fail 2 rmlops-metaopt -m "$tmp/m.rml" "${common[@]}" --sigma -1 -o "$tmp/x.rml"
expect_fail 2 rmlops-metaopt -m "$tmp/m.rml" "${common[@]}" --steps 0 -o "$tmp/x.rml"
expect_fail 2 rmlops-metaopt -m "$tmp/m.rml" --val "$tmp/val.rml" -o "$tmp/x.rml"
expect_fail 2 rmlops-metaopt -d "$tmp/tr.rml" --val "$tmp/val.rml" -o "$tmp/x.rml"
expect_fail 2 rmlops-metaopt --eval -m "$tmp/m.rml" --val "$tmp/val.rml" -o "$tmp/x.rml"
expect_fail 2 rmlops-metaopt --resume "$tmp/ck.rml" -m "$tmp/m.rml"
expect_fail 1 rmlops-metaopt --resume "$tmp/m.rml"
expect_fail 2 rmlops-metaopt --bogus
[ ! -e "$tmp/x.rml" ] || die "a refused run left an output"; ok
rmlops-metaopt --help > "$tmp/help"
grep -q -- '--train-metric' "$tmp/help" || die "help"; ok
echo "metaopt.sh: $checks checks passed"
