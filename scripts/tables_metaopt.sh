#!/usr/bin/env bash
# What omega (the meta-adapters) does in the life-cycle tables' Configs 0
# and 1, and what metaopt's settings do to it: measurements on the files of
# a finished run (make tables PROFILE=quick), written to OUT. (With adapters
# added at the identity the channel scale s was 0 and Config 1 equalled
# Config 0; mk/tables.mk now fine-tunes Config 0's phi first, CFG0_WARM.)
#
#   tables_metaopt.sh TT BIN OUT [ITERATIONS]
#
# 1. The adapters' sizes: omega (u1, u2), u3 and the channel scale s of the
#    deployed Config 0, of Config 1 and of Config 0 after stage 1.
# 2. omega's effect on the predictions: every omega weight set to zero
#    (rmlops-inject --fault zero) in the deployed model and in the one
#    fine-tuned at stage 1; the largest change of a probability; and the
#    deployed model with omega zero, fine-tuned as the tables do, at Test 1.
# 3. rmlops-metaopt from the deployed Config 0 (the tables' --quick
#    settings, ITERATIONS iterations, default 4) at the paper's sigma 0.01
#    and beta 0.0001, at beta 0.001 (the tables'), at sigma 0.1 and beta 1,
#    and at those with the inner rate alpha 0.1: per iteration R+ - R-, the
#    ES gradient's and step's
#    norms, the held-out R; then the written omega, and Config 1 against
#    Config 0 at Test 0 (part 0) and, both fine-tuned as the tables do on
#    Config 0's selection, at Test 1 (clean part 1). MO_SETTINGS="NAME:OPTS;..."
#    runs other settings instead.
set -euo pipefail
tt=$1 bin=$2 out=$3 iters=${4:-4}
here=$(cd "$(dirname "$0")" && pwd)
py=${TPY:-python3}
tx() { "$py" "$here/tables.py" "$@"; }
acc() { "$bin/rmlops-eval" -p "$1" --json | "$py" -c 'import json, sys; print("%.3f" % json.load(sys.stdin)["acc1"])'; }
D=$tt/data
# shellcheck disable=SC2054
FT=(--tune phi,W --epochs 5 --batch 8 --optimizer adamw --lr 0.001 --wd 0 --warmup 0 -s 1 -j 2 -q)
mkdir -p "$out"

echo "== 1. adapter sizes (L2 norm, largest |w|)"
tx adapters "$tt/models/c0-0.rml" "$tt/models/c1-0.rml" "$tt/models/c0-1.rml"

echo "== 2. omega set to zero: change of the predictions"
for m in c0-0:part0 c0-1:part1; do
	name=${m%%:*} part=${m#*:}
	"$bin/rmlops-inject" -m "$tt/models/$name.rml" --target omega --unit weight --rate 1 --fault zero \
		-q -o "$out/$name-zero-omega.rml"
	"$bin/rmlops-eval" -m "$tt/models/$name.rml" -d "$D/$part.rml" -j 2 -q -P "$out/$name.$part.p.rml" > /dev/null
	"$bin/rmlops-eval" -m "$out/$name-zero-omega.rml" -d "$D/$part.rml" -j 2 -q \
		-P "$out/$name-zero-omega.$part.p.rml" > /dev/null
	echo "$name on $part: $(tx probdiff "$out/$name.$part.p.rml" "$out/$name-zero-omega.$part.p.rml")"
done

# The deployed model with omega zero, fine-tuned as the tables do: what a
# different omega changes from Test 1 on (its Test 0 is Config 0's).
"$bin/rmlops-train" -m "$out/c0-0-zero-omega.rml" -d "$tt/sel/c0-0.rml" "${FT[@]}" -o "$out/zero-omega-1.rml"
"$bin/rmlops-eval" -m "$out/zero-omega-1.rml" -d "$D/part1.rml" -j 2 -q -P "$out/zero-omega-1.part1.p.rml" > /dev/null
echo "omega zero, fine-tuned, vs Config 0 on part1: $(tx probdiff "$out/c0-1.part1.p.rml" "$out/zero-omega-1.part1.p.rml")"

echo "== 3. rmlops-metaopt from the deployed Config 0, $iters iterations (--quick)"
# NAME:OPTIONS of each run, separated by ';' (MO_SETTINGS replaces them).
IFS=';' read -r -a settings <<< "${MO_SETTINGS:-paper:;beta3:--beta 0.001;es:--sigma 0.1 --beta 1;es-alpha:--sigma 0.1 --beta 1 --alpha 0.1}"
for s in "${settings[@]}"; do
	name=${s%%:*}
	# shellcheck disable=SC2206
	opts=(${s#*:})
	t0=$(date +%s)
	"$bin/rmlops-metaopt" -m "$tt/models/c0-0.rml" -d "$D/dev-inner.rml" --val "$D/dev-val.rml" \
		--tasks "$D/tasks-train.rml" --quick --iterations "$iters" "${opts[@]}" -s 1 -j 2 -q \
		--checkpoint "$out/c1-$name.ckpt" --log "$out/c1-$name.jsonl" -o "$out/c1-$name.rml"
	rm -f "$out/c1-$name.ckpt"
	echo "-- $name (${opts[*]:-sigma 0.01, beta 0.0001, alpha 0.001}), $(( $(date +%s) - t0 )) s"
	"$py" - "$out/c1-$name.jsonl" <<'PYEOF'
import json, sys
for line in open(sys.argv[1]):
    r = json.loads(line)
    print("iteration %d %-5s R+ %.6f R- %.6f R+-R- %+.2e grad_norm %.3g step_norm %.3g heldout %s%s"
          % (r["iteration"], r["type"], r["r_plus"], r["r_minus"], r["r_plus"] - r["r_minus"],
             r["grad_norm"], r["step_norm"], r["heldout"], " (best)" if r["best"] else ""))
PYEOF
	"$bin/rmlops-info" "$out/c1-$name.rml" | grep -e 'metaopt\.heldout' -e 'metaopt\.best_iteration' || true
	tx adapters "$out/c1-$name.rml"
	"$bin/rmlops-eval" -m "$out/c1-$name.rml" -d "$D/part0.rml" -j 2 -q -P "$out/c1-$name.part0.p.rml" > /dev/null
	echo "Test 0, Config 1 ($name) vs Config 0: $(tx probdiff "$out/c0-0.part0.p.rml" "$out/c1-$name.part0.p.rml")"
	"$bin/rmlops-train" -m "$out/c1-$name.rml" -d "$tt/sel/c0-0.rml" "${FT[@]}" -o "$out/c1-$name-1.rml"
	"$bin/rmlops-eval" -m "$out/c1-$name-1.rml" -d "$D/part1.rml" -j 2 -q -P "$out/c1-$name-1.part1.p.rml" \
		> /dev/null
	echo "Test 1 (clean), Config 1 ($name) vs Config 0: $(tx probdiff "$out/c0-1.part1.p.rml" \
		"$out/c1-$name-1.part1.p.rml")"
	echo "  ACC1 on part 1: Config 0 $(acc "$out/c0-1.part1.p.rml"), Config 1 $(acc "$out/c1-$name-1.part1.p.rml")"
done
