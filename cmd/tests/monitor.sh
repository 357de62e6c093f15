#!/usr/bin/env bash
# rmlops-monitor: co-activation statistics fitted reproducibly and carried
# in the model; the AUROC of `auroc` against an independent numpy rank sum
# (ties by mid-rank; the co-activation score has many); watching datasets
# through a model and a stream of predictions files: windows as JSON
# lines, alerts with exit status 3, the textfile accepted by a strict
# checker of the exposition format (and by promtool when installed), the
# dashboard a PNG; every refused input.
. "$(dirname "$0")/lib.bash"
scripts="$(dirname "$0")/../../scripts"
py=/usr/bin/python3
m="$td/mvit-xxs-cifar10.rml"
rmlops-data split --count 400 -s 1 -q -o "$tmp/fit.rml" --rest "$tmp/rest.rml" < "$td/cifar10-test-1000.rml"
rmlops-data take --first 200 -q -o "$tmp/id.rml" < "$tmp/rest.rml"
rmlops-data corrupt --type gaussian_noise --severity 5 -s 1 -q -o "$tmp/gn.rml" < "$tmp/id.rml"

# fit: reproducible, carried, and the model still computes the same.
rmlops-monitor fit -m "$m" -d "$tmp/fit.rml" -o "$tmp/m1.rml" -j 1
rmlops-monitor fit -m "$m" -d "$tmp/fit.rml" -o "$tmp/m2.rml" -j 2
same_content "$tmp/m1.rml" "$tmp/m2.rml"
rmlops-info "$tmp/m1.rml" | gq 'coact.pairs' || die "no pair counts in the model"; ok
rmlops-eval -m "$m" -d "$tmp/id.rml" --json > "$tmp/e0.json"
rmlops-eval -m "$tmp/m1.rml" -d "$tmp/id.rml" --json > "$tmp/e1.json"
same "$tmp/e0.json" "$tmp/e1.json"
# The statistics survive a calibrator fitted afterwards.
rmlops-calibrate -m "$tmp/m1.rml" -d "$tmp/fit.rml" --method temperature --ood none -q -o "$tmp/mc.rml"
rmlops-info "$tmp/mc.rml" | gq 'coact.thresholds' || die "calibration dropped the statistics"; ok
rmlops-monitor score -m "$tmp/mc.rml" -d "$tmp/id.rml" > /dev/null; ok

# auroc against numpy, several sets (the faulty model's outputs too).
rmlops-inject --unit tensor --rate 0.1 -s 3 -m "$tmp/m1.rml" -o "$tmp/faulty.rml" -q
rmlops-monitor score -m "$tmp/m1.rml" -d "$tmp/id.rml" > "$tmp/id.tsv"
[ "$(wc -l < "$tmp/id.tsv")" -eq 201 ] || die "score: one line per image"; ok
rmlops-monitor score -m "$tmp/m1.rml" -d "$tmp/gn.rml" > "$tmp/gn.tsv"
rmlops-monitor score -m "$tmp/faulty.rml" -d "$tmp/id.rml" > "$tmp/faulty.tsv"
zeros=$(awk 'NR > 1 && $1 == 0' "$tmp/id.tsv" | wc -l)
[ "$zeros" -gt 10 ] || die "expected ties at score 0 (got $zeros)"; ok
rmlops-monitor auroc -m "$tmp/m1.rml" -d "$tmp/id.rml" --ood "$tmp/gn.rml" --json > "$tmp/a1.json"
rmlops-monitor auroc -m "$tmp/m1.rml" -d "$tmp/id.rml" --ood "$tmp/id.rml" \
	--ood-model "$tmp/faulty.rml" --json > "$tmp/a2.json"
if $py -c 'import numpy' 2> /dev/null; then
	$py "$scripts/ref_auroc.py" "$tmp/id.tsv" "$tmp/gn.tsv" > "$tmp/r1.json"
	$py "$scripts/ref_auroc.py" "$tmp/id.tsv" "$tmp/faulty.tsv" > "$tmp/r2.json"
	for i in 1 2; do
		$py - "$tmp/a$i.json" "$tmp/r$i.json" <<'EOF' || die "auroc differs from numpy"
import json, sys
a, r = (json.load(open(p)) for p in sys.argv[1:3])
for k in ("auroc_coact", "auroc_entropy", "auroc_confidence"):
    assert abs(a[k] - r[k]) < 2e-6, (k, a[k], r[k])
assert a["n_id"] == r["n_id"] and a["n_ood"] == r["n_ood"]
EOF
		ok
	done
else
	echo "monitor.sh: SKIP numpy reference (no numpy in /usr/bin/python3)" >&2
fi
# The same data on both sides: 0.5 for every score.
rmlops-monitor auroc -m "$tmp/m1.rml" -d "$tmp/id.rml" --ood "$tmp/id.rml" > "$tmp/a3.tsv"
tail -1 "$tmp/a3.tsv" | gq -P '^200\t200\t0\.5000\t0\.5000\t0\.5000$' || die "identical sets: $(cat "$tmp/a3.tsv")"; ok

# Watching datasets through the model: windows of 100, the corrupted ones alert.
rmlops-monitor -m "$tmp/m1.rml" --window 100 --textfile "$tmp/m.prom" --stage canary \
	--alert coact_rare_rate=0.95 --alert entropy=100 "$tmp/id.rml" > "$tmp/w1.jsonl" && st=0 || st=$?
[ "$st" -eq 0 ] || die "clean data raised an alert (exit $st)"; ok
[ "$(grep -c '^{"window"' "$tmp/w1.jsonl")" -eq 2 ] || die "two windows of 100"; ok
rmlops-monitor -m "$tmp/m1.rml" --window 100 --textfile "$tmp/m.prom" --plot "$tmp/dash.png" \
	--alert accuracy=0.99 "$tmp/id.rml" "$tmp/gn.rml" > "$tmp/w2.jsonl" && st=0 || st=$?
[ "$st" -eq 3 ] || die "an accuracy alert must exit 3, not $st"; ok
gq '"alert":"accuracy","window":4' "$tmp/w2.jsonl" || die "no alert line for window 4"; ok
[ "$(grep -c '^{"window"' "$tmp/w2.jsonl")" -eq 4 ] || die "four windows"; ok
$py "$scripts/check_exposition.py" "$tmp/m.prom" || die "the textfile is not exposition format"; ok
gq '^rmlops_window_coact_rare_rate{model="[0-9a-f]\{64\}",stage="production"} ' "$tmp/m.prom" || die "no co-activation metric with labels"; ok
gq '^rmlops_window_accuracy{' "$tmp/m.prom" || die "no accuracy"; ok
gq 'rmlops_monitor_alerts_total{.*alert="accuracy"} [1-9]' "$tmp/m.prom" || die "alert count"; ok
gq 'class="airplane"' "$tmp/m.prom" || die "class names"; ok
# The checker itself refuses what the format forbids.
for bad in 'x{a="1"} 1' $'# TYPE x gauge\nx{a="\\q"} 1' $'# TYPE x gauge\nx{a="1"} one' \
	$'# TYPE x gauge\nx 1\n# TYPE y gauge\ny 1\n# HELP x late' $'# TYPE x gauge\nx{a="1"} 1\nx{a="1"} 2'; do
	printf '%s\n' "$bad" > "$tmp/bad.prom"
	! $py "$scripts/check_exposition.py" "$tmp/bad.prom" 2> /dev/null || die "checker accepts: $bad"; ok
done
if command -v promtool > /dev/null; then
	promtool check metrics < "$tmp/m.prom" || die "promtool refuses the textfile"; ok
else
	echo "monitor.sh: SKIP promtool (not installed); check_exposition.py checked the textfile" >&2
fi
[ "$(head -c 8 "$tmp/dash.png" | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ] || die "dashboard is not a PNG"; ok
# Sliding windows: step 50 over 200 inputs gives windows at 100, 150, 200.
rmlops-monitor -m "$tmp/m1.rml" --window 100 --step 50 "$tmp/id.rml" > "$tmp/w3.jsonl"
[ "$(grep -c '^{"window"' "$tmp/w3.jsonl")" -eq 3 ] || die "sliding windows"; ok
# A stream shorter than the window still gives one window.
rmlops-monitor -m "$tmp/m1.rml" --window 1000 "$tmp/id.rml" > "$tmp/w4.jsonl"
gq '"n":200,' "$tmp/w4.jsonl" || die "short stream"; ok

# Labels of other classes are ignored, with a message.
rmlops-data take --classes cat,dog --relabel -q -o "$tmp/catdog.rml" < "$tmp/id.rml"
rmlops-monitor -m "$tmp/m1.rml" --window 50 "$tmp/catdog.rml" > "$tmp/w8.jsonl" 2> "$tmp/w8.err"
gq 'labels are ignored' "$tmp/w8.err" || die "no message for foreign labels"; ok
gq '"accuracy":null' "$tmp/w8.jsonl" || die "foreign labels used for accuracy"; ok

# A stream of predictions files on standard input; no co-activation score there.
rmlops-eval -m "$tmp/m1.rml" -d "$tmp/id.rml" -P "$tmp/p1.rml" -q > /dev/null
rmlops-eval -m "$tmp/m1.rml" -d "$tmp/gn.rml" -P "$tmp/p2.rml" -q > /dev/null
cat "$tmp/p1.rml" "$tmp/p2.rml" | rmlops-monitor --window 200 --textfile "$tmp/p.prom" > "$tmp/w5.jsonl"
[ "$(grep -c '^{"window"' "$tmp/w5.jsonl")" -eq 2 ] || die "two predictions files, two windows"; ok
gq '"coact_score_mean":null' "$tmp/w5.jsonl" || die "predictions carry no score"; ok
$py "$scripts/check_exposition.py" "$tmp/p.prom" || die "predictions textfile"; ok
! gq rmlops_window_coact "$tmp/p.prom" || die "no score, no co-activation metric"; ok
# The same numbers from the files as from the model (no score aside).
rmlops-monitor -m "$tmp/m1.rml" --window 200 "$tmp/id.rml" "$tmp/gn.rml" |
	sed 's/,"coact_score_mean.*//' > "$tmp/w6"
sed 's/,"coact_score_mean.*//' "$tmp/w5.jsonl" > "$tmp/w7"
same "$tmp/w6" "$tmp/w7"

# Refused.
expect_fail 1 rmlops-monitor -m "$tmp/m1.rml" --textfile "$tmp/no/such/dir/m.prom" "$tmp/id.rml"
gq 'does not exist' "$tmp/err" || die "missing directory message"; ok
expect_fail 1 rmlops-monitor --window 10 /dev/null
gq 'empty' "$tmp/err" || die "empty window message"; ok
expect_fail 1 rmlops-monitor "$tmp/id.rml"
gq 'give the model' "$tmp/err" || die "dataset without a model"; ok
expect_fail 1 rmlops-monitor "$tmp/m1.rml"
expect_fail 1 rmlops-monitor -m "$m" "$tmp/no-such-file.rml"
expect_fail 1 rmlops-monitor score -m "$m" -d "$tmp/id.rml"
gq 'no co-activation statistics' "$tmp/err" || die "score without statistics"; ok
head -c 3000 "$tmp/p1.rml" > "$tmp/trunc.rml"
expect_fail 1 rmlops-monitor "$tmp/trunc.rml"
expect_fail 2 rmlops-monitor --window 0 "$tmp/p1.rml"
expect_fail 2 rmlops-monitor --plot - "$tmp/p1.rml"
expect_fail 2 rmlops-monitor --textfile - "$tmp/p1.rml"
rmlops-data import idx "$td/idx/images-idx3-ubyte" "$td/idx/labels-idx1-ubyte" -q -o "$tmp/gray.rml"
expect_fail 1 rmlops-monitor -m "$tmp/m1.rml" "$tmp/gray.rml"
gq 'the model takes' "$tmp/err" || die "geometry message"; ok
expect_fail 2 rmlops-monitor --alert entropy "$tmp/p1.rml"
expect_fail 2 rmlops-monitor --alert bogus=1 "$tmp/p1.rml"
expect_fail 2 rmlops-monitor fit -m "$m"
expect_fail 2 rmlops-monitor fit -m "$m" -d "$tmp/fit.rml" --quantile 1
expect_fail 2 rmlops-monitor fit -m "$m" -d "$tmp/fit.rml" --rare -0.1
expect_fail 2 rmlops-monitor auroc -m "$tmp/m1.rml" -d "$tmp/id.rml"
expect_fail 2 rmlops-monitor --quantile 0.9 "$tmp/p1.rml"
expect_fail 2 rmlops-monitor -d "$tmp/id.rml"
expect_fail 2 rmlops-monitor score -m - -d -
expect_fail 2 rmlops-monitor score -m "$m" -d "$tmp/id.rml" extra
# A fit that fails leaves no output behind.
expect_fail 1 rmlops-monitor fit -m "$m" -d "$tmp/p1.rml" -o "$tmp/never.rml"
[ ! -e "$tmp/never.rml" ] || die "half-written output"; ok
echo "monitor.sh: $checks checks passed"
