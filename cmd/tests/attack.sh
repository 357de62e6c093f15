#!/usr/bin/env bash
# rmlops-attack: stored adversarial sets stay within their budgets
# (checked by verify against the clean set), what the report says is what
# rmlops-eval measures on the stored images, seeds and chunking
# reproduce, transfer through pipes, attack lists with overrides, curves
# and sheets, and every refused invocation.
. "$(dirname "$0")/lib.bash"
d="$td/cifar10-test-1000.rml"
rmlops-data take --per-class 10 "$d" -q -o "$tmp/small.rml"
rmlops-data take --per-class 1 "$d" -q -o "$tmp/att.rml"
# The pretrained model (about 75% right, so there is something to
# attack), and for transfer a second, tiny one.
rmlops-train -d "$tmp/small.rml" --arch mvit-tiny --epochs 1 --batch 50 -s 2 -q -o "$tmp/m2.rml"
M="$td/mvit-xxs-cifar10.rml"
A="$tmp/att.rml"
# Single-threaded: quicker on a busy machine, and what the outputs are compared at.
at() { rmlops-attack "$@" -j 1; }
json_field() { sed "s/.*\"$1\":\([^,}]*\).*/\1/" "$2"; }

# Every attack: the stored set is within budget of the clean one.
at create -m "$M" -d "$A" --attack fgsm --eps 3 -o "$tmp/fgsm.rml" --json 2> /dev/null > "$tmp/fgsm.json"
at create -m "$M" -d "$A" --attack pgd --eps 3 -o "$tmp/pgd.rml" --json > "$tmp/pgd.json"
at create -m "$M" -d "$A" --attack pgd --norm l2 --eps 60 --steps 5 -q -o "$tmp/l2.rml"
at create -m "$M" -d "$A" --attack cmaes-linf --eps 5 --generations 3 --popsize 8 -q -o "$tmp/cma.rml" --json > "$tmp/cma.json"
at create -m "$M" -d "$A" --attack pixel-l0 --pixels 2 --generations 3 --search de --popsize 10 -q -o "$tmp/px.rml"
at create -m "$M" -d "$A" --attack fgsm --eps 2.5 -q -o "$tmp/frac.rml"
at create -m "$M" -d "$A" --attack apgd --loss dlr --eps 3 --steps 4 -q -o "$tmp/apgd.rml"
at create -m "$M" -d "$A" --attack square --eps 4 --queries 30 -q -o "$tmp/sq.rml" --json > "$tmp/sq.json"
at create -m "$M" -d "$A" --attack square --norm l2 --eps 100 --queries 20 -q -o "$tmp/sq2.rml"
at create -m "$M" -d "$A" --attack cmaes-linf --preset tuned --eps 3 --generations 2 -q -o "$tmp/cmat.rml"
for f in fgsm pgd l2 cma px frac apgd sq sq2 cmat; do
	rmlops-attack verify -d "$tmp/$f.rml" --clean "$A" --json > "$tmp/v.json"
	[ "$(json_field n_over "$tmp/v.json")" = 0 ] || die "$f over budget"; ok
done
rmlops-attack verify -d "$tmp/fgsm.rml" --clean "$A" --json | gq '"linf_max":3,' || die "fgsm eps 3 is not 3"; ok
rmlops-attack verify -d "$tmp/frac.rml" --clean "$A" --json | gq '"linf_max":2,' || die "eps 2.5 stored as more than 2"; ok
rmlops-attack verify -d "$tmp/px.rml" --clean "$A" --json | grep -Eq '"l0_max":[12],' || die "pixel attack l0"; ok
# Query counts: at most 1 + generations x popsize per image.
q=$(json_field queries_mean "$tmp/cma.json")
awk -v q="$q" 'BEGIN { exit !(q >= 1 && q <= 25) }' || die "cmaes queries $q"; ok
# Square: at most --queries per image, the clean query included.
rmlops-info --json "$tmp/sq.rml" | gq '"attack.kind":"square"' || die "square kind"; ok
q=$(json_field queries_mean "$tmp/sq.json")
awk -v q="$q" 'BEGIN { exit !(q >= 1 && q <= 30) }' || die "square queries $q"; ok
# The report is measured on the stored images: rmlops-eval agrees.
for f in fgsm pgd; do
	a=$(json_field acc1 "$tmp/$f.json")
	e=$(rmlops-eval -j 1 -m "$M" -d "$tmp/$f.rml" --json | sed 's/.*"acc1":\([^,]*\).*/\1/')
	awk -v a="$a" -v e="$e" 'BEGIN { exit !(a - e < 1e-6 && e - a < 1e-6) }' || die "$f: report $a, eval $e"; ok
done
# Per-example tensors travel with the dataset; data tools read it as a dataset.
rmlops-info --json "$tmp/cma.rml" > "$tmp/info.json"
for t in attack.success attack.linf attack.l2 attack.l0 attack.queries attack.pred; do
	grep -q "\"name\":\"$t\"" "$tmp/info.json" || die "no $t tensor"; ok
done
grep -q '"attack.kind"' "$tmp/info.json" || die "no attack.kind key"; ok
rmlops-data show "$tmp/px.rml" -o "$tmp/show.png" -q
head -c 8 "$tmp/show.png" | od -An -tx1 | gq '89 50 4e 47' || die "show adversarial set"; ok

# Same seed, same bytes; chunk size changes nothing; another seed differs
# (on the tiny model, which is quicker).
T="$tmp/m2.rml"
at create -m "$T" -d "$A" --attack pgd --eps 3 -q > "$tmp/t1.rml"
at create -m "$T" -d "$A" --attack pgd --eps 3 -q > "$tmp/t2.rml"
same "$tmp/t1.rml" "$tmp/t2.rml"
at create -m "$T" -d "$A" --attack pgd --eps 3 --batch 3 -q -o "$tmp/t3.rml"
same_content "$tmp/t1.rml" "$tmp/t3.rml"
at create -m "$T" -d "$A" --attack pgd --eps 3 -s 9 -q -o "$tmp/t9.rml"
differ <(rmlops-info --digest "$tmp/t1.rml") <(rmlops-info --digest "$tmp/t9.rml")
at create -m "$M" -d "$A" --attack cmaes-linf --eps 5 --generations 3 --popsize 8 --batch 3 -q -o "$tmp/cma2.rml"
same_content "$tmp/cma.rml" "$tmp/cma2.rml"

# Unambiguous abbreviations of settings are the settings.
at create -m "$T" -d "$A" --attack pgd --eps 3 --steps 2 --step-size 1 -q -o "$tmp/ab1.rml"
at create -m "$T" -d "$A" --att pgd --eps 3 --steps 2 --step-s 1 -q -o "$tmp/ab2.rml"
same_content "$tmp/ab1.rml" "$tmp/ab2.rml"

# Transfer: made on one model, evaluated on another, through pipes.
at create -m "$T" -d - --attack fgsm --eps 8 -q < "$A" | rmlops-eval -j 1 -m "$M" -d - --json > "$tmp/tr.json"
grep -q '"acc1":' "$tmp/tr.json" || die "transfer"; ok
at create -m - -d "$A" --attack fgsm --eps 8 -q < "$T" > "$tmp/fromstdin.rml"
rmlops-attack verify -d - --clean "$A" < "$tmp/fromstdin.rml" > /dev/null || die "verify from stdin"; ok

# Attack lists: one row per attack; the command line overrides the file.
at run -m "$T" -d "$A" --config "$td/attacks.yaml" --generations 2 --popsize 8 --steps 2 > "$tmp/run.txt"
[ "$(wc -l < "$tmp/run.txt")" -eq 5 ] || die "run rows"; ok
grep -q '^pixel-3 ' "$tmp/run.txt" || die "run names"; ok
at run -m "$T" -d "$A" --config "$td/attacks.yaml" --eps 2 --name pgd-3 --json > "$tmp/run.json"
grep -q '"name":"pgd-3","attack":"pgd","norm":"linf","eps":2,' "$tmp/run.json" || die "override"; ok
[ "$(grep -o '"name":' "$tmp/run.json" | wc -l)" -eq 1 ] || die "--name selects"; ok
at create -m "$T" -d "$A" --config "$td/attacks.yaml" --name fgsm-3 -q -o "$tmp/cfg.rml"
at create -m "$T" -d "$A" --attack fgsm -q -o "$tmp/cli.rml"
same_content "$tmp/cfg.rml" "$tmp/cli.rml"

# Curve: eps 0 is the clean accuracy; a PNG chart; pixel curves.
at curve -m "$T" -d "$A" --attack pgd --eps 0,2,8 --steps 3 --plot "$tmp/curve.png" --json > "$tmp/curve.json"
head -c 8 "$tmp/curve.png" | od -An -tx1 | gq '89 50 4e 47' || die "curve png"; ok
c0=$(sed 's/.*"eps":0,"n":[0-9]*,"acc1":\([^,]*\).*/\1/' "$tmp/curve.json")
clean=$(rmlops-eval -j 1 -m "$T" -d "$A" --json | sed 's/.*"acc1":\([^,]*\).*/\1/')
awk -v a="$c0" -v e="$clean" 'BEGIN { exit !(a - e < 1e-6 && e - a < 1e-6) }' || die "curve at 0: $c0, clean $clean"; ok
at curve -m "$T" -d "$A" --attack pixel-l0 --pixels 1,2 --generations 2 --popsize 6 > "$tmp/pc.txt"
[ "$(wc -l < "$tmp/pc.txt")" -eq 3 ] || die "pixel curve rows"; ok
# The query axis: one row per count, a column per black-box attack.
at curve -m "$T" -d "$A" --attack square --eps 3 --queries 1,10,30 --plot "$tmp/q.png" > "$tmp/q.txt"
[ "$(wc -l < "$tmp/q.txt")" -eq 4 ] || die "query curve rows"; ok
head -c 8 "$tmp/q.png" | od -An -tx1 | gq '89 50 4e 47' || die "query curve png"; ok
awk 'NR == 2 && $2 != 0 { exit 1 }' "$tmp/q.txt" || die "success within 1 query (the clean one)"; ok
# Sheet of examples.
at create -m "$T" -d "$A" --attack pgd --eps 8 -q --sheet "$tmp/sheet.png" -o "$tmp/s.rml"
head -c 8 "$tmp/sheet.png" | od -An -tx1 | gq '89 50 4e 47' || die "sheet"; ok

# PGD is at least as strong as FGSM at the same eps.
af=$(json_field acc1 "$tmp/fgsm.json"); ap=$(json_field acc1 "$tmp/pgd.json")
awk -v f="$af" -v p="$ap" 'BEGIN { exit !(p <= f) }' || die "pgd $ap weaker than fgsm $af"; ok

# Verify finds images over budget: the PGD set against the FGSM set as "clean".
got=0
rmlops-attack verify -d "$tmp/pgd.rml" --clean "$tmp/fgsm.rml" > "$tmp/vo.txt" 2> "$tmp/vo.err" || got=$?
[ "$got" -eq 1 ] && grep -q 'over the linf budget 3' "$tmp/vo.err" || die "verify over budget"; ok

# Refused invocations.
printf -- '- attack: pgd\n  eps: 3\n  epsilon: 4\n' > "$tmp/bad.yaml"
printf -- '- attack: fgsm\n- attack: pgd\n' > "$tmp/two.yaml"
expect_fail 2 rmlops-attack
expect_fail 2 rmlops-attack explode -m "$M" -d "$A"
expect_fail 2 rmlops-attack create -m "$M" -d "$A"
expect_fail 2 at create -m "$M" -d "$A" --attack deepfool
expect_fail 2 at create -m "$M" -d "$A" --attack pgd --eps -1
expect_fail 2 at create -m "$M" -d "$A" --attack pgd --eps 3x
expect_fail 2 at create -m "$M" -d "$A" --attack pgd --steps 0
expect_fail 2 at create -m "$M" -d "$A" --attack pgd --random-start maybe
expect_fail 2 at create -m "$M" -d "$A" --attack cmaes-linf --norm l2
expect_fail 2 at create -m "$M" -d "$A" --attack pixel-l0 --popsize 1
expect_fail 2 at create -m "$M" -d "$A" --attack pixel-l0 --search ga
expect_fail 2 rmlops-attack create -m - -d - --attack fgsm
expect_fail 2 rmlops-attack run -m "$M" -d "$A" --attack fgsm -o "$tmp/x.rml"
expect_fail 2 rmlops-attack run -m "$M" -d "$A" --attack fgsm --plot "$tmp/x.png"
expect_fail 2 rmlops-attack run -m "$M" -d "$A" --attack fgsm --sheet "$tmp/x.png"
expect_fail 2 rmlops-attack curve -m "$M" -d "$A" --attack fgsm
expect_fail 2 rmlops-attack curve -m "$M" -d "$A" --attack fgsm --eps 1,x
expect_fail 2 rmlops-attack curve -m "$M" -d "$A" --attack pixel-l0 --pixels 1.5
expect_fail 2 rmlops-attack curve -m "$M" -d "$A" --attack pixel-l0 --eps 1,2
expect_fail 2 rmlops-attack verify -d "$tmp/fgsm.rml"
expect_fail 2 at create -m "$M" -d "$A" --attack apgd --loss hinge
expect_fail 2 at create -m "$M" -d "$A" --attack square --queries 0
expect_fail 2 at create -m "$M" -d "$A" --attack square --p-init 2
expect_fail 2 at create -m "$M" -d "$A" --attack square --norm l0
expect_fail 2 at create -m "$M" -d "$A" --attack cmaes-linf --tile 0
expect_fail 2 at create -m "$M" -d "$A" --attack cmaes-linf --preset best
expect_fail 2 rmlops-attack curve -m "$M" -d "$A" --attack square --eps 1,2 --queries 1,10
expect_fail 2 rmlops-attack curve -m "$M" -d "$A" --attack square --eps 3 --queries 1,x
expect_fail 2 rmlops-attack curve -m "$M" -d "$A" --attack pgd --eps 3 --queries 1,10
expect_fail 2 rmlops-attack create -m "$M" -d "$A" --config "$tmp/two.yaml" -o "$tmp/x.rml"
expect_fail 1 rmlops-attack create -m "$M" -d "$A" --config "$tmp/bad.yaml" -o "$tmp/x.rml"
grep -q 'line 3: unknown setting' "$tmp/err" || die "yaml line number"; ok
expect_fail 1 rmlops-attack run -m "$M" -d "$A" --config "$tmp/nothere.yaml"
expect_fail 1 rmlops-attack run -m "$M" -d "$A" --config "$td/attacks.yaml" --name nope
expect_fail 2 at create -m "$M" -d "$A" --attack fgsm --target 12 -o "$tmp/x.rml"  # a class the model lacks: a bad option value
# An abbreviation two settings share is ambiguous, not the first of them.
expect_fail 2 at create -m "$M" -d "$A" --attack pgd --step 2 -o "$tmp/x.rml"
gq ambiguous "$tmp/err" && gq -- "--steps'" "$tmp/err" && gq -- "--step-size'" "$tmp/err" || die "--step"; ok
expect_fail 2 at create -m "$M" -d "$A" --attack pgd --de 0.5 -o "$tmp/x.rml"
gq ambiguous "$tmp/err" && gq -- "--de-f'" "$tmp/err" && gq -- "--de-cr'" "$tmp/err" || die "--de"; ok
expect_fail 1 rmlops-attack create -m "$A" -d "$A" --attack fgsm -o "$tmp/x.rml"
expect_fail 1 rmlops-attack create -m "$M" -d "$M" --attack fgsm -o "$tmp/x.rml"
expect_fail 1 rmlops-attack verify -d "$A" --clean "$A"
expect_fail 1 rmlops-attack verify -d "$tmp/fgsm.rml" --clean "$tmp/small.rml"
[ ! -e "$tmp/x.rml" ] || die "a failed run left a file"; ok
rmlops-attack --help > "$tmp/help"
grep -q "rmlops-attack create" "$tmp/help" || die "help"; ok
rmlops-attack --version | gq rmlops || die "version"; ok
echo "attack.sh: $checks checks passed"
