#!/usr/bin/env bash
# Table 1's choice of the flipped bit, measured on one cell of a finished
# run (make tables PROFILE=quick): the fault cell of CFG at Test T (default
# Config 0, Test 1) made again with each bit rule of BITS (default: any of
# the 32 positions, and the 31 other than 30, the tables' rule), written to
# OUT/<rule>.json; then, per repetition k (rmlops-inject -s k, as the cell),
# ACC1, whether a flip of bit 30 was among the faults, and the share of the
# images whose output is not finite (a probability NaN or infinite).
#
#   tables_bits.sh TT BIN OUT [CFG [T]]
set -euo pipefail
tt=$1 bin=$2 out=$3 cfg=${4:-0} t=${5:-1}
here=$(cd "$(dirname "$0")" && pwd)
py=${TPY:-python3}
no30=$(seq -s, 0 29),31
rate=$(case $t in 3) echo 0.15 ;; *) echo 0.1 ;; esac)
rep=${FAULT_REP:-5}
model=$tt/models/c$cfg-$t.rml part=$tt/data/part$t.rml
[ -s "$model" ] && [ -s "$part" ] || { echo "tables_bits.sh: no finished run in $tt" >&2; exit 1; }
mkdir -p "$out"
for rule in any no30; do
	bits=$([ "$rule" = any ] && echo any || echo "$no30")
	TBITS=$bits bash "$here/tables_cell.sh" faults "$cfg" "$model" "$part" "$rate" "$rep" "$out/$rule.json" \
		"$bin" 2 --reject confidence --reject-rate 0.1
	echo "== bits $rule: Config $cfg, Test $t, rate $rate, $rep repetitions"
	"$py" -c 'import json, sys
c = json.load(open(sys.argv[1]))
for m in ("acc1", "acc2"):
    s = c[m]
    print("%s %.3f [%.3f, %.3f]" % (m.upper(), s["mean"], s["ci95"][0], s["ci95"][1]))' "$out/$rule.json"
	for k in $(seq 1 "$rep"); do
		"$bin/rmlops-inject" -m "$model" --unit tensor --rate "$rate" --bits "$bits" -s "$k" -q -o "$out/faulty.rml"
		"$bin/rmlops-eval" -m "$out/faulty.rml" -d "$part" -j 2 -q -P "$out/p.rml" > /dev/null
		b30=$(grep -c '"bit":30,' "$out/$rule.json.d/faults-$k.jsonl" || true)
		acc=$(sed -n "${k}p" "$out/$rule.json.d/reps.jsonl" | "$py" -c 'import json, sys; print("%.3f" % json.load(sys.stdin)["acc1"])')
		"$py" - "$here" "$out/p.rml" "$k" "$b30" "$acc" <<'PYEOF'
import math, struct, sys
sys.path.insert(0, sys.argv[1])
import rmlfile
_, t = rmlfile.read(sys.argv[2])
dt, (n, c), data = t["probs"]
p = struct.unpack("<%df" % (n * c), data)
bad = sum(1 for i in range(n) if not all(math.isfinite(x) for x in p[i * c:(i + 1) * c]))
print("repetition %s: ACC1 %s, bit-30 flips %s, non-finite outputs %.3f" % (sys.argv[3], sys.argv[5], sys.argv[4], bad / n))
PYEOF
	done
done
rm -f "$out/faulty.rml" "$out/p.rml"
