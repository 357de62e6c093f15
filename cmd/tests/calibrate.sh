#!/usr/bin/env bash
# rmlops-calibrate on the pretrained model and a few carried images: the
# calibrator and its rejection rule travel inside the model (rmlops-info
# shows them, rmlops-eval applies them, rmlops-inject keeps them), seeds
# reproduce byte for byte, every method and both SBO spaces run, the
# pictures are PNG, degenerate calibration data give a defined result,
# and bad invocations are refused.
. "$(dirname "$0")/lib.bash"
m="$td/mvit-xxs-cifar10.rml"
d="$td/cifar10-test-1000.rml"
rmlops-data split --count 500 -s 1 "$d" -q -o "$tmp/half.rml" --rest "$tmp/other.rml"
rmlops-data take --per-class 10 -s 1 "$tmp/half.rml" -q -o "$tmp/cal.rml"
rmlops-data take --per-class 10 -s 1 "$tmp/other.rml" -q -o "$tmp/test.rml"
# has FILE PATTERN: rmlops-info of FILE mentions PATTERN (read whole, so
# grep -q cannot cut the pipe short).
has() { rmlops-info "$1" > "$tmp/info.txt" && grep -q "$2" "$tmp/info.txt"; }
run() { rmlops-calibrate -m "$m" -d "$tmp/cal.rml" -j 1 --per-class 10 "$@"; }

# The main path: latent SBO, BBQ, entropy threshold, held-out measures.
run --ood-count 12 --ae-epochs 1 --test "$tmp/test.rml" --json -o "$tmp/c1.rml" \
	--plot "$tmp/rel.png" --risk-coverage "$tmp/rc.png" --save-ood "$tmp/ood.rml" > "$tmp/r1.json"
for key in '"method":"bbq"' '"n_id":100' '"n_ood":12' '"calibration":{"n":112' '"test":{"n":' \
	'"before":{"acc1":' '"after":{"acc1":' '"auroc_conf":' '"rule":"entropy"'; do
	grep -q "$key" "$tmp/r1.json" || die "report lacks $key"; ok
done
for png in rel rc; do
	head -c 8 "$tmp/$png.png" | od -An -tx1 | gq '89 50 4e 47' || die "$png is not a PNG"; ok
done
rmlops-info --json "$tmp/ood.rml" | gq '"shape":\[12,32,32,3\]' || die "saved OOD images"; ok
rmlops-data show "$tmp/ood.rml" -q -o "$tmp/ood.png"
has "$tmp/c1.rml" 'calibrator: bbq, 1 model, 10 knots; rejects when entropy >' \
	|| die "rmlops-info shows no calibrator"; ok

# Same seed, same bytes; another seed, another model.
run --ood-count 12 --ae-epochs 1 -q -s 1 -o "$tmp/c2.rml"
mv "$tmp/c2.rml" "$tmp/c2b.rml"
run --ood-count 12 --ae-epochs 1 -q -s 1 -o "$tmp/c2.rml"
same "$tmp/c2.rml" "$tmp/c2b.rml"
same_content "$tmp/c1.rml" "$tmp/c2.rml"
run --ood-count 12 --ae-epochs 1 -q -s 2 -o "$tmp/c3.rml"
differ "$tmp/c2.rml" "$tmp/c3.rml"

# rmlops-eval applies the calibrator and the stored rule by itself.
rmlops-eval -m "$tmp/c1.rml" -d "$tmp/test.rml" -j 1 --json > "$tmp/e1.json"
rmlops-eval -m "$tmp/c1.rml" -d "$tmp/test.rml" -j 1 --json --no-calibration > "$tmp/e0.json"
rmlops-eval -m "$m" -d "$tmp/test.rml" -j 1 --json > "$tmp/eb.json"
same "$tmp/e0.json" "$tmp/eb.json"
grep -q '"threshold":' "$tmp/e1.json" || die "stored rule not applied"; ok
grep -q '"reject_rate":0.000000' "$tmp/e0.json" || die "--no-calibration keeps the rule"; ok
ece() { sed 's/.*"ece":\([0-9.]*\).*/\1/' "$1"; }
acc() { sed 's/.*"acc1":\([0-9.]*\).*/\1/' "$1"; }
[ "$(acc "$tmp/e1.json")" = "$(acc "$tmp/e0.json")" ] || die "calibration changed predictions"; ok
[ "$(ece "$tmp/e1.json")" != "$(ece "$tmp/e0.json")" ] || die "calibrator not applied"; ok
# The test ECE rmlops-calibrate reported is the one rmlops-eval measures.
want=$(grep -o '"test":{"n":[0-9]*,"before":{[^}]*},"after":{"acc1":[0-9.]*,"ece":[0-9.]*' "$tmp/r1.json" \
	| sed 's/.*"ece"://')
[ "$want" = "$(ece "$tmp/e1.json")" ] || die "ECE $want reported, $(ece "$tmp/e1.json") measured"; ok
rmlops-eval -m "$tmp/c1.rml" -d "$tmp/test.rml" -j 1 --reject none --json | gq '"reject_rate":0.000000' \
	|| die "--reject none"; ok
# Fault injection keeps the calibrator.
rmlops-inject --unit tensor --rate 0.1 -s 3 -m "$tmp/c1.rml" -q -o "$tmp/f.rml"
has "$tmp/f.rml" 'calibrator: bbq' || die "rmlops-inject dropped the calibrator"; ok
# Through pipes: the model on stdin and stdout, the report on stderr.
rmlops-calibrate -m - -d "$tmp/cal.rml" -j 1 --per-class 5 --ood none --method temperature < "$m" \
	2> "$tmp/pipe.txt" | rmlops-info - > "$tmp/pipe-info.txt"
grep -q 'calibrator: temperature, T = ' "$tmp/pipe-info.txt" || die "pipe"; ok
grep -q '^ece ' "$tmp/pipe.txt" || die "report on stderr"; ok

# Every method, the ensemble, pixel-space SBO, the coverage rule.
for meth in hist-width hist-mass isotonic temperature beta; do
	run --ood none --method $meth -q -o "$tmp/m-$meth.rml"
	has "$tmp/m-$meth.rml" "calibrator: $meth" || die "$meth"; ok
done
run --ood none --ensemble --compare -o "$tmp/ens.rml" > "$tmp/cmp.txt"
for row in none bbq hist-width hist-mass isotonic temperature beta bbq-ensemble; do
	grep -q "^$row " "$tmp/cmp.txt" || die "--compare lacks $row"; ok
done
run --ood sbo-pixel --ood-count 5 --coverage 0.8 --reject confidence --json -o "$tmp/px.rml" > "$tmp/px.json"
grep -q '"ood":"sbo-pixel","n_id":100,"n_ood":5' "$tmp/px.json" || die "pixel SBO"; ok
grep -q '"rule":"confidence"' "$tmp/px.json" || die "confidence rule"; ok
rate=$(sed 's/.*"reject_rate":\([0-9.]*\).*/\1/' "$tmp/px.json")
awk -v r="$rate" 'BEGIN { exit !(r > 0.15 && r < 0.25) }' || die "coverage 0.8 rejected $rate"; ok
run --ood none --reject none -q -o "$tmp/nr.rml"
has "$tmp/nr.rml" 'calib.reject_rule' && die "--reject none stored a rule"; ok

# Degenerate calibration data: a single class gives a defined model.
rmlops-data take --classes 0 "$tmp/cal.rml" -q -o "$tmp/one.rml"
rmlops-calibrate -m "$m" -d "$tmp/one.rml" -j 1 --per-class 5 --ood none --json -o "$tmp/one-c.rml" \
	> "$tmp/one.json" 2> "$tmp/one.err"
grep -q 'single class' "$tmp/one.err" || die "no warning for one class"; ok
grep -q 'nan' "$tmp/one.json" && die "NaN in the report"; ok
rmlops-eval -m "$tmp/one-c.rml" -d "$tmp/test.rml" -j 1 --json | gq '"ece":[0-9]' || die "one-class model"; ok

# Refused invocations.
expect_fail 2 rmlops-calibrate -d "$tmp/cal.rml"
expect_fail 2 rmlops-calibrate -m "$m"
expect_fail 2 rmlops-calibrate -m "$m" -d "$tmp/cal.rml" --method platt
expect_fail 2 rmlops-calibrate -m "$m" -d "$tmp/cal.rml" --method isotonic --ensemble
expect_fail 2 rmlops-calibrate -m "$m" -d "$tmp/cal.rml" --reject-max-rate 0.1 --coverage 0.9
expect_fail 2 rmlops-calibrate -m "$m" -d "$tmp/cal.rml" --reject none --coverage 0.9
expect_fail 2 rmlops-calibrate -m "$m" -d "$tmp/cal.rml" --ood none --save-ood "$tmp/x.rml"
expect_fail 2 rmlops-calibrate -m "$m" -d "$tmp/cal.rml" --ood gan
expect_fail 2 rmlops-calibrate -m "$m" -d "$tmp/cal.rml" --test-ood "$tmp/ood.rml"
expect_fail 2 rmlops-calibrate -m "$m" -d "$tmp/cal.rml" --per-class -1
expect_fail 2 rmlops-calibrate -m "$m" -d "$tmp/cal.rml" --sbo-dmin 0
expect_fail 2 rmlops-calibrate -m "$m" -d - --test - < /dev/null
gq -- '-d and --test cannot both read standard input' "$tmp/err" || die "stdin twice"; ok
expect_fail 2 rmlops-calibrate -m "$m" -d "$tmp/cal.rml" --plot -
expect_fail 2 rmlops-calibrate -m - -d - 
expect_fail 2 rmlops-calibrate -m "$m" -d "$tmp/cal.rml" extra
[ ! -e "$tmp/x.rml" ] || die "a refused run wrote a file"; ok
# Unsuitable inputs: no labelled image, another geometry, a dataset as model.
expect_fail 1 rmlops-calibrate -m "$m" -d "$tmp/ood.rml" --ood none -j 1 -o "$tmp/x.rml"
grep -q 'no labelled image' "$tmp/err" || die "message for unlabelled data"; ok
rmlops-data import idx "$td/idx/images-idx3-ubyte.gz" "$td/idx/labels-idx1-ubyte.gz" -q -o "$tmp/gray.rml"
expect_fail 1 rmlops-calibrate -m "$m" -d "$tmp/gray.rml" -j 1 -o "$tmp/x.rml"
grep -q 'the model takes 32x32x3 images' "$tmp/err" || die "message for geometry"; ok
expect_fail 1 rmlops-calibrate -m "$tmp/cal.rml" -d "$tmp/cal.rml" -o "$tmp/x.rml"
expect_fail 1 run -m "$m" --test "$tmp/gray.rml" --ood none -o "$tmp/x.rml"
# Out-of-distribution test images keep classes of their own, not a shape
# of their own.
rmlops-data import cifar100 "$td/cifar100-bin" -q -o "$tmp/c100.rml"
run --test "$tmp/test.rml" --test-ood "$tmp/c100.rml" --ood none --json -q -o "$tmp/x.rml" > /dev/null
rm "$tmp/x.rml"; ok
expect_fail 1 run --test "$tmp/test.rml" --test-ood "$tmp/gray.rml" --ood none -o "$tmp/x.rml"
gq "the model takes 32x32x3 images, $tmp/gray.rml holds 28x28x1" "$tmp/err" || die "OOD geometry"; ok
[ ! -e "$tmp/x.rml" ] || die "a failed run left a file"; ok
# A hostile calibrator inside a model file is refused when read.
python3 - "$tmp/c1.rml" "$tmp/bad.rml" 2> /dev/null <<'EOF' || true
import sys
b = bytearray(open(sys.argv[1], 'rb').read())
i = b.find(b'calib.method')
open(sys.argv[2], 'wb').write(bytes(b[:i]) if i > 0 else b'')
EOF
[ -s "$tmp/bad.rml" ] && expect_fail 1 rmlops-eval -m "$tmp/bad.rml" -d "$tmp/test.rml"
echo "calibrate: $checks checks passed"
