#!/bin/sh
# Faulty models scored by rmlops-eval and by the independent PyTorch
# implementation (float32, CPU), image by image: one line per seed with
# both accuracies, non-finite rows and the images whose top-1 or
# finiteness differ.
#   scripts/torch_crosscheck.sh [BIN] [SEEDS] [INJECT OPTIONS...]
#   e.g. scripts/torch_crosscheck.sh build/bin "1 2 3" --unit tensor --rate 0.1
set -eu
bin=${1:-build/bin}
seeds=${2:-"$(seq 1 20)"}
# (dash exits on a failed shift, || or not: count first)
if [ $# -ge 2 ]; then shift 2; else shift $#; fi
[ $# -gt 0 ] || set -- --unit tensor --rate 0.1
model=testdata/mvit-xxs-cifar10.rml
data=testdata/cifar10-test-1000.rml
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for s in $seeds; do
	"$bin/rmlops-inject" -q -m "$model" "$@" -s "$s" -o "$tmp/m.rml"
	acc=$("$bin/rmlops-eval" -q -m "$tmp/m.rml" -d "$data" -P "$tmp/p.rml" --json |
		sed 's/.*"acc1":\([^,]*\).*/\1/')
	printf 'seed %s rmlops_acc1 %s torch %s\n' "$s" "$acc" \
		"$(python3 scripts/torch_eval.py "$tmp/m.rml" "$data" "$tmp/p.rml")"
done
