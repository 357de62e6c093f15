#!/usr/bin/env bash
# compare_builds.sh OLD_BIN NEW_BIN [WORKDIR]: run the same small jobs
# with the programs of two builds and compare every output byte for byte
# (a restructuring must not change what the programs write). The jobs:
# training from scratch (SGD with checkpoint and log, AdamW), fine-tuning
# adapters with a stop and a resume, injections (weights, grad-topk),
# evaluation with repeated faults, A/B comparisons (--compare, also
# under repeated faults), attacks (PGD, CMA-ES), calibration
# (SBO latent + BBQ, temperature), test-time adaptation (MEMO, TENT), each
# at -j1 and -j2, on subsets of testdata/cifar10-test-1000.rml and the
# carried model. Timings are removed from logs and reports before the
# comparison. Both runs use the same relative paths, so even the
# provenance must agree. Exit 0 when everything is identical.
#
# Example: make; git worktree add ../old OLD_COMMIT; make -C ../old;
#          scripts/compare_builds.sh ../old/build/bin build/bin
set -euo pipefail
[ $# -ge 2 ] || { echo "usage: $0 OLD_BIN NEW_BIN [WORKDIR]" >&2; exit 2; }
old=$(cd "$1" && pwd)
new=$(cd "$2" && pwd)
td=$(cd "$(dirname "$0")/../testdata" && pwd)
work=${3:-$(mktemp -d)}
mkdir -p "$work"
work=$(cd "$work" && pwd)

jobs() {
	local bin=$1 out=$2
	rm -rf "$out"
	mkdir -p "$out"
	cd "$out"
	export PATH="$bin:$PATH"
	ln -s "$td/cifar10-test-1000.rml" d.rml
	ln -s "$td/mvit-xxs-cifar10.rml" m.rml
	rmlops-data take --per-class 20 -s 1 d.rml -q -o tr.rml
	rmlops-data take --per-class 4 -s 2 d.rml -q -o va.rml
	rmlops-data take --per-class 1 -s 3 d.rml -q -o att.rml
	for j in 1 2; do
		rmlops-train -d tr.rml --val va.rml --arch mvit-tiny --epochs 2 --batch 32 -s 1 -j$j -q \
			--checkpoint ck$j.rml --log log$j.jsonl -o t$j.rml --json 2> t$j.json
		rmlops-train -d tr.rml --val va.rml --arch mvit-tiny --optimizer adamw --lr 0.005 \
			--epochs 2 --batch 32 -s 2 -j$j -q -o ta$j.rml
		rmlops-train -d tr.rml -m m.rml --adapters 2 --tune phi,W --epochs 2 --batch 50 -s 1 \
			-j$j -q --until 1 --checkpoint fr$j.rml
		rmlops-train -d tr.rml --resume fr$j.rml -j$j -q -o fr$j-out.rml
		rmlops-inject --unit weight --rate 0.001 -s 7 -m m.rml -j$j -o i$j.rml --json 2> i$j.json
		rmlops-inject --unit grad-topk --rate 0.001 -d va.rml -m m.rml -s 3 -j$j -q -o g$j.rml
		rmlops-eval -m m.rml -d va.rml --repeat 3 --ber 1e-6 -s 1 -j$j --json > e$j.json
		rmlops-eval -m m.rml -d va.rml --compare t$j.rml --bootstrap 200 --promote-if 'acc1>0' \
			-s 1 -j$j --json > ec$j.json || [ $? -eq 3 ]
		rmlops-eval -m m.rml -d va.rml --compare i$j.rml --repeat 2 --ber 1e-6 -s 1 -j$j \
			> er$j.txt
		rmlops-attack create -m m.rml -d att.rml --attack pgd --eps 3 --steps 3 -j$j -o p$j.rml \
			--json > p$j.json
		rmlops-attack create -m m.rml -d att.rml --attack cmaes-linf --eps 5 --generations 2 \
			--popsize 8 -j$j -q -o c$j.rml
		rmlops-calibrate -m m.rml -d va.rml -j$j --per-class 4 --ood-count 8 --ae-epochs 1 -s 1 \
			--json -o k$j.rml > k$j.json
		rmlops-calibrate -m m.rml -d va.rml -j$j --per-class 4 --ood none --method temperature \
			-s 1 -q -o kt$j.rml
		rmlops-tta -m m.rml -d att.rml --tune bn -j$j -q > y$j.rml
		rmlops-tta -m m.rml -d va.rml --method tent --tune bn --batch 20 -j$j -q > yt$j.rml
	done
	sed -i 's/"seconds":[0-9.e+-]*,"images_per_s":[0-9.e+-]*//' log*.jsonl p*.json
}

(jobs "$old" "$work/old")
(jobs "$new" "$work/new")
n=0 bad=0
for f in "$work"/old/*; do
	[ -L "$f" ] && continue
	n=$((n + 1))
	cmp -s "$f" "$work/new/${f##*/}" || { echo "differs: ${f##*/}"; bad=$((bad + 1)); }
done
echo "$n outputs compared, $bad differ"
[ "$bad" -eq 0 ]
