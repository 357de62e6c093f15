#!/usr/bin/env bash
# The life-cycle tables (mk/tables.mk).
#
# Always: refused inputs, each with its message and no table written: a test
# set that cannot be cut into 4 parts with every class in each, a missing
# dataset, a missing CIFAR10 for the full profile, a model without adapters.
#
# On a finished run (RML_TABLES=DIR, as `make tables-check` sets it, e.g.
# tables/quick), the protocol itself: the parts disjoint and covering the
# test set; every selection exactly the top 10% by its stated uncertainty
# (recomputed here from the predictions); fine-tuning changed only phi and W
# (digests of theta and omega equal to the parent model's); the fault rate
# and the attack budget of each test stage the stated ones (cell reports,
# injection logs, and rmlops-attack verify of every adversarial set); the
# faults paired (repetition k of a Test flips the same bits in Configs
# 0-3); ACC2 >= ACC1 in every cell where anything was rejected.
#
# Always, too: a cell deleted from a finished run (stood in by empty files)
# is remade by `make tables` with the tables, and nothing else.
. "$(dirname "$0")/lib.bash"
repo=$(cd "$(dirname "$0")/../.." && pwd)
bin=$(dirname "$(command -v rmlops-data)")
py=${PYTHON:-python3}
# shellcheck disable=SC2086
mk() { MAKEFLAGS='' make -s -C "$repo" --no-print-directory ${RML_MAKEFLAGS:-} TBIN="$bin" "$@"; }

# ---- refused inputs ----
# Two images of each class: the second cut leaves a class out of part 1.
rmlops-data take --per-class 2 -s 1 "$td/cifar10-test-1000.rml" -q -o "$tmp/small.rml"
st=0
mk PROFILE=quick TT="$tmp/t1" TEST="$tmp/small.rml" "$tmp/t1/results.json" > "$tmp/out" 2> "$tmp/err" || st=$?
[ "$st" -ne 0 ] || die "a test set too small to cut was accepted"; ok
gq 'cannot be cut into 4 parts' "$tmp/err" || die "message for the small test set: $(cat "$tmp/err")"; ok
[ ! -e "$tmp/t1/data/parts.json" ] && [ ! -e "$tmp/t1/results.json" ] && [ ! -e "$tmp/t1/table1.md" ] \
	|| die "half-written output after a refused cut"; ok
st=0
mk PROFILE=quick TT="$tmp/t2" TEST="$tmp/missing.rml" "$tmp/t2/results.json" > "$tmp/out" 2> "$tmp/err" || st=$?
[ "$st" -ne 0 ] || die "a missing test set was accepted"; ok
gq 'missing.rml: no such dataset' "$tmp/err" || die "message for a missing dataset: $(cat "$tmp/err")"; ok
[ ! -e "$tmp/t2/results.json" ] || die "results without a test set"; ok
st=0
mk PROFILE=full CIFAR10= TT="$tmp/t3" "$tmp/t3/results.json" > "$tmp/out" 2> "$tmp/err" || st=$?
[ "$st" -ne 0 ] || die "the full profile ran without CIFAR10"; ok
gq 'needs CIFAR10=DIR' "$tmp/err" || die "message for no CIFAR10: $(cat "$tmp/err")"; ok
st=0
mk PROFILE=full CIFAR10="$tmp/nowhere" TT="$tmp/t4" "$tmp/t4/data/parts.json" > "$tmp/out" 2> "$tmp/err" || st=$?
[ "$st" -ne 0 ] || die "a missing CIFAR10 directory was accepted"; ok
gq 'nowhere: no such directory' "$tmp/err" || die "message for a missing CIFAR10: $(cat "$tmp/err")"; ok
st=0
mk PROFILE=quick TT="$tmp/t5" ADAPTERS= MODEL="$td/mvit-xxs-cifar10.rml" "$tmp/t5/models/c0-0.rml" \
	> "$tmp/out" 2> "$tmp/err" || st=$?
[ "$st" -ne 0 ] || die "a model without adapters was accepted"; ok
gq 'has no adapters' "$tmp/err" || die "message for a model without adapters: $(cat "$tmp/err")"; ok
[ ! -e "$tmp/t5/models/c0-0.rml" ] || die "a model written after the refusal"; ok
st=0
mk PROFILE=quick TT="$tmp/t6" MODEL="$tmp/none.rml" "$tmp/t6/models/c0-0.rml" > "$tmp/out" 2> "$tmp/err" || st=$?
[ "$st" -ne 0 ] && gq 'none.rml: no such model' "$tmp/err" || die "message for a missing model: $(cat "$tmp/err")"; ok
st=0
mk PROFILE=quick TT="$tmp/t7" TABLE2_ATTACK=cmaes "$tmp/t7/results.json" > "$tmp/out" 2> "$tmp/err" || st=$?
[ "$st" -ne 0 ] && gq 'TABLE2_ATTACK=cmaes: not an attack of the tables' "$tmp/err" \
	|| die "message for an unknown TABLE2_ATTACK: $(cat "$tmp/err")"; ok
[ ! -e "$tmp/t7" ] || die "files written for an unknown TABLE2_ATTACK"; ok
for bits in 32 '1,,2' '' 'exponents' '3,-1'; do
	st=0
	mk PROFILE=quick TT="$tmp/t8" FAULT_BITS="$bits" "$tmp/t8/results.json" > "$tmp/out" 2> "$tmp/err" || st=$?
	[ "$st" -ne 0 ] && gq "FAULT_BITS=$bits: not a bit list of rmlops-inject --bits" "$tmp/err" \
		|| die "message for FAULT_BITS='$bits': $(cat "$tmp/err")"; ok
	[ ! -e "$tmp/t8" ] || die "files written for FAULT_BITS='$bits'"; ok
done
# Charts drawn again from a results file (tables.py charts): the tables'
# two pictures, the same bytes twice; refused: no chart program, no or a
# damaged results file, a missing cell, each with its message and no picture.
pb=build
case "${RML_MAKEFLAGS:-}" in *SANITIZE=1*) pb=build-san ;; esac
mk "$pb/tables_plot" > /dev/null || die "cannot build $pb/tables_plot"
charts() { TPLOT="$repo/$pb/tables_plot" "$py" "$repo/scripts/tables.py" charts "$@"; }
mkdir -p "$tmp/ch"
cp "$repo/tables/full/results.json" "$tmp/ch/"
charts "$tmp/ch" || die "charts from the full profile's results"
for n in 1 2; do
	head -c 8 "$tmp/ch/table$n.png" | od -An -tx1 | gq '89 50 4e 47' || die "table$n.png is no PNG"; ok
	cp "$tmp/ch/table$n.png" "$tmp/ch/first$n.png"
done
charts "$tmp/ch" || die "charts again"
cmp -s "$tmp/ch/table1.png" "$tmp/ch/first1.png" && cmp -s "$tmp/ch/table2.png" "$tmp/ch/first2.png" \
	|| die "the charts differ when drawn again"; ok
charts_refused() { # DIR MESSAGE [env...]: refused with MESSAGE, no picture
	local d=$1 msg=$2 st=0
	shift 2
	env "$@" TPLOT="${TP-$repo/$pb/tables_plot}" "$py" "$repo/scripts/tables.py" charts "$d" \
		> /dev/null 2> "$tmp/err" || st=$?
	[ "$st" -eq 1 ] && gq "$msg" "$tmp/err" || die "charts $d: status $st, $(cat "$tmp/err")"; ok
	[ ! -e "$d/table1.png" ] || die "a chart written after the refusal"; ok
}
mkdir -p "$tmp/ch0" "$tmp/ch1" "$tmp/ch2" "$tmp/ch3"
charts_refused "$tmp/ch0" 'not a tables results file'
echo 'not json' > "$tmp/ch1/results.json"
charts_refused "$tmp/ch1" 'not a tables results file'
echo '{"cells": {}}' > "$tmp/ch2/results.json"
charts_refused "$tmp/ch2" 'a cell is missing or damaged'
cp "$repo/tables/full/results.json" "$tmp/ch3/"
TP= charts_refused "$tmp/ch3" 'TPLOT must name the chart program'
# The plan: stages in order, every target once, the tables last.
mk PROFILE=quick TT=tables/quick tables-plan > "$tmp/plan"
[ "$(cut -f2 "$tmp/plan" | sort | uniq -d | wc -l)" -eq 0 ] || die "a target twice in the plan"; ok
tail -1 "$tmp/plan" | gq 'tables/quick/results.json$' || die "the plan does not end with the tables"; ok
sort -n -c "$tmp/plan" || die "plan not in stage order"; ok

# Remaking: a finished run stood in by empty files (every target of the
# plan, touched in stage order, on stand-ins for the model and the test
# set) is up to date; with one cell deleted, `make tables` remakes that
# cell and the tables, and nothing else.
sd="$tmp/stand"
mkdir -p "$sd/bin"
: > "$sd/model.rml"; : > "$sd/test.rml"; : > "$sd/plot"
touch -d @1000000000 "$sd/model.rml" "$sd/test.rml"
smk() { mk PROFILE=quick TT="$sd/tt" TBIN="$sd/bin" MODEL="$sd/model.rml" TEST="$sd/test.rml" TPLOT="$sd/plot" "$@"; }
smk tables-plan > "$sd/plan"
now=$(date +%s) i=0
while IFS=$'\t' read -r _ target; do
	mkdir -p "$(dirname "$target")"
	: > "$target"
	touch -d "@$((now - 1000 + i))" "$target"
	i=$((i + 1))
done < "$sd/plan"
[ "$i" -gt 80 ] || die "stand-in: only $i targets in the plan"; ok
smk -q "$sd/tt/results.json" || die "the stood-in run is not up to date"; ok
rm "$sd/tt/cells/faults-t2-c1.json"
st=0
smk -q "$sd/tt/results.json" || st=$?
[ "$st" -eq 1 ] || die "a deleted cell left the tables up to date"; ok
smk -n tables > "$sd/n" 2>&1 || die "make -n tables: $(cat "$sd/n")"
[ "$(grep -c 'tables_cell\.sh' "$sd/n")" -eq 1 ] && gq 'tables_cell\.sh faults 1 .*c1-2\.rml' "$sd/n" \
	|| die "not exactly the deleted cell remade: $(cat "$sd/n")"; ok
gq 'tables\.py assemble' "$sd/n" || die "the tables not assembled again: $(cat "$sd/n")"; ok
! grep -q -e "$sd/bin/" -e '^cp ' "$sd/n" || die "more than the cell remade: $(cat "$sd/n")"; ok

# ---- the protocol, on a finished run ----
dir=${RML_TABLES:-}
if [ -z "$dir" ]; then
	echo "tables.sh: $checks checks passed (no RML_TABLES: protocol checks skipped)"
	exit 0
fi
[ -s "$dir/results.json" ] || die "$dir/results.json: no finished run"
cd "$repo" || exit 1
# A finished run is up to date: make would remake nothing (what `make
# tables` after an interruption and a cluster's --resume rely on).
profile=$("$py" -c 'import json, sys; print(json.load(open(sys.argv[1]))["profile"])' "$dir/results.json")
mk PROFILE="$profile" TT="$dir" -q "$dir/results.json" || die "$dir: the finished run is not up to date (make -q)"; ok
# Parts: recomputed from the test set (image bytes and labels as a multiset).
test_set=$("$py" -c 'import json,sys; print(json.load(open(sys.argv[1]))["test"])' "$dir/data/parts.json")
for cand in "$dir/data/$test_set" "testdata/$test_set"; do [ -s "$cand" ] && { tset=$cand; break; }; done
"$py" scripts/tables.py parts "$tset" "$dir/data" > /dev/null || die "parts"; ok

# Selections: the top 10% by the stated measure, ties by position.
"$py" - "$dir" <<'PYEOF' || die "selections"
import glob, math, os, struct, sys
sys.path.insert(0, "scripts")
from rmlfile import read
d = sys.argv[1]
n_sel = 0
for sel in sorted(glob.glob(d + "/sel/*.rml")):
    name = os.path.basename(sel)
    kv, _ = read(sel)
    pkv, pt = read(d + "/preds/" + name)
    dt, (n, k), raw = pt["probs"]
    p = struct.unpack("<%df" % (n * k), raw)
    unc = []
    for i in range(n):
        row = [float(x) for x in p[i * k:(i + 1) * k]]
        if not all(math.isfinite(x) for x in row):
            unc.append(math.inf); continue
        s = sorted(row)
        if kv["select.by"] == "entropy":
            unc.append(-math.fsum(x * math.log(x) for x in row if x > 0))
        elif kv["select.by"] == "confidence":
            unc.append(1 - s[-1])
        else:
            unc.append(1 - (s[-1] - s[-2]))
    order = sorted(range(n), key=lambda i: (-unc[i], i))
    want = sorted(order[:int(math.floor(0.1 * n + 0.5))])
    got = list(kv["select.indices"])
    if got != want:
        # Allow only an exact tie at the border, computed two ways.
        raise SystemExit("%s: selection differs from the top 10%% by %s" % (name, kv["select.by"]))
    n_sel += 1
assert n_sel == 12, n_sel
PYEOF
ok

# Fine-tuning: theta and omega unchanged (digests), phi or W changed.
frozen() { rmlops-info --digest "$1" | grep -v -e '\.adapter\.u3\.' -e '\.adapter\.scale$' -e ' head\.'; }
for c in 0 1 2 3; do
	for t in 1 2 3; do
		child="$dir/models/c$c-$t.rml"
		[ "$c" -ge 2 ] && child="$dir/models/c$c-$t-ft.rml"
		parent="$dir/models/c$c-$((t - 1)).rml"
		cmp -s <(frozen "$parent") <(frozen "$child") || die "fine-tuning changed theta or omega: $child"
		! cmp -s <(rmlops-info --digest "$parent") <(rmlops-info --digest "$child") \
			|| die "fine-tuning changed nothing: $child"
	done
done
ok
# Config 1 differs from Config 0 only in omega (and Config 0's adapters
# start from MODEL's theta).
cmp -s <(rmlops-info --digest "$dir/models/c0-0.rml" | grep -v '\.adapter\.') \
	<(rmlops-info --digest "$dir/models/c1-0.rml" | grep -v '\.adapter\.') || die "metaopt changed theta"; ok

# Fault rates and attack budgets of each test stage.
"$py" - "$dir" <<'PYEOF' || die "disturbances"
import glob, json, re, sys
d = sys.argv[1]
rate = {1: 0.1, 2: 0.1, 3: 0.15}
eps = {1: 3, 2: 3, 3: 5}
for t in (1, 2, 3):
    for c in range(4):
        f = json.load(open("%s/cells/faults-t%d-c%d.json" % (d, t, c)))
        bits = f["fault"].get("bits")
        assert f["fault"] == {"model": "bitflip", "unit": "tensor", "rate": rate[t], "bits": bits}, (t, c, f["fault"])
        allowed = set(range(32)) if bits == "any" else {int(b) for b in bits.split(",")}
        for log in glob.glob("%s/cells/faults-t%d-c%d.json.d/faults-*.jsonl" % (d, t, c)):
            # (old and new values may be nan or inf: not JSON numbers)
            tensors = [re.match(r'^\{"tensor":"([^"]*)"', x).group(1) for x in open(log) if x.strip()]
            assert len(set(tensors)) == len(tensors), log       # one fault per tensor
            assert all(".adapter." not in x and not x.startswith("head.") for x in tensors), log
            flipped = {int(re.search(r'"bit":([0-9]+)', x).group(1)) for x in open(log) if x.strip()}
            assert flipped <= allowed, (log, flipped - allowed)  # only the stated bit positions
        a = json.load(open("%s/cells/attack-t%d-c%d.json" % (d, t, c)))
        assert a["attack"]["eps"] == eps[t], (t, c, a["attack"])
        assert (a["attack"].get("generations") == 10 and a["attack"].get("preset") in ("paper", "tuned")) \
            or a["attack"].get("queries") == 5000, (t, c, a["attack"])
        assert a["attack"]["n_over"] == 0, (t, c)
        for rep in glob.glob("%s/cells/attack-t%d-c%d.json.d/attack-*.json" % (d, t, c)):
            txt = open(rep).read()
            assert '"eps":%d' % eps[t] in txt.replace(" ", "") or '"eps":%d.' % eps[t] in txt.replace(" ", ""), rep
            if a["attack"].get("generations") == 10:     # the paper's cost: 10 generations of 28, and the start
                r = json.loads(txt)
                assert r["queries"] <= 281 * r["n_attacked"], (rep, r["queries"], r["n_attacked"])
PYEOF
ok
# Each injection log is what rmlops-inject gives again with that seed, and
# the faulty model it makes records the stated unit and rate.
for t in 1 2 3; do
	r=$(case $t in 3) echo 0.15 ;; *) echo 0.1 ;; esac)
	for c in 0 1 2 3; do
		bits=$("$py" -c 'import json, sys; print(json.load(open(sys.argv[1]))["fault"]["bits"])' \
			"$dir/cells/faults-t$t-c$c.json")
		for log in "$dir"/cells/faults-t$t-c$c.json.d/faults-*.jsonl; do
			k=$(basename "$log" .jsonl); k=${k#faults-}
			rmlops-inject -m "$dir/models/c$c-$t.rml" --unit tensor --rate "$r" --bits "$bits" -s "$k" --log "$tmp/log" \
				-q -o "$tmp/faulty.rml"
			cmp -s "$log" "$tmp/log" || die "$log: not the faults of rate $r, bits $bits, seed $k"
			rmlops-info "$tmp/faulty.rml" | gq "fault.rate  *$r\$" || die "$log: rate"
			rmlops-info "$tmp/faulty.rml" | gq "fault.unit  *tensor\$" || die "$log: unit"
			[ "$(grep -c . "$log")" -gt 0 ] || die "$log: no faults"
		done
	done
done
ok
# Paired faults: repetition k of a Test flips the same bits of the same
# tensors in every configuration (tensor, index, bit; the values too, as
# theta is the same in all), so Configs 0-3 differ by what they are and
# not by the draw. Every configuration has repetitions 1..n of its cell.
for t in 1 2 3; do
	for c in 0 1 2 3; do
		n=$(find "$dir/cells/faults-t$t-c$c.json.d" -name 'faults-*.jsonl' | wc -l)
		[ "$n" -gt 0 ] || die "faults-t$t-c$c: no injection logs"
		for k in $(seq 1 "$n"); do
			log="$dir/cells/faults-t$t-c$c.json.d/faults-$k.jsonl"
			ref="$dir/cells/faults-t$t-c0.json.d/faults-$k.jsonl"
			[ -s "$log" ] || die "faults-t$t-c$c: repetition $k missing"
			[ -s "$ref" ] || continue
			cmp -s "$ref" "$log" || die "faults-t$t: repetition $k of Config $c flips other bits than Config 0's"
		done
	done
done
ok
for adv in "$dir"/cells/attack-t*-c*.json.d/adv-*.rml; do
	t=$(basename "$(dirname "$adv")" | sed 's/attack-t\([0-9]\).*/\1/')
	e=$(case $t in 3) echo 5 ;; *) echo 3 ;; esac)
	rmlops-attack verify -d "$adv" --clean "$dir/data/atk$t.rml" > "$tmp/v" || die "$adv over its budget"
	gq "^budget $e\$" "$tmp/v" || die "$adv: budget is not $e"
done
ok
# ACC2 >= ACC1 wherever something was rejected.
"$py" - "$dir" <<'PYEOF' || die "ACC2 >= ACC1"
import json, sys
res = json.load(open(sys.argv[1] + "/results.json"))
bad = [n for n, c in res["cells"].items() if "acc1" in c and c["reject_rate"] > 0
       and c["acc2"]["mean"] < c["acc1"]["mean"]]
assert not bad, bad
PYEOF
ok
echo "tables.sh: $checks checks passed (protocol of $dir)"
