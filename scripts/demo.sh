#!/usr/bin/env bash
# make demo: the toolchain on the data the repository carries.
set -euo pipefail
bin=${1:-build/bin}
top=$(cd "$(dirname "$0")/.." && pwd)
out=${DEMO_OUT:-demo-out}
mkdir -p "$out"
PATH="$bin:$PATH"
td="$top/testdata"
say() { printf '\n== %s\n' "$*"; }

say "1. Import: CIFAR-10 in its official binary layout, and an image folder"
rmlops-data import cifar10 "$td/cifar10-bin" --split test -o "$out/cifar-bin.rml"
rmlops-data import folder "$td/folder" -o "$out/folder.rml"

say "2. What the carried test subset holds (1,000 CIFAR-10 test images)"
rmlops-info "$td/cifar10-test-1000.rml"

say "3. A contact sheet of 5 images per class: $out/sheet.png"
rmlops-data take --per-class 5 -s 1 < "$td/cifar10-test-1000.rml" \
	| rmlops-data show --cols 10 -o "$out/sheet.png"

model="$td/mvit-xxs-cifar10.rml"
if [ ! -f "$model" ]; then
	echo "(no pretrained model in testdata/; see scripts/train_base.sh)"
	exit 0
fi
say "4. The pretrained mvit-xxs on the 1,000 test images"
rmlops-eval -m "$model" -d "$td/cifar10-test-1000.rml" --per-class

say "5. Graceful degradation: reject the 10% most uncertain (by entropy)"
rmlops-eval -m "$model" -d "$td/cifar10-test-1000.rml" --reject entropy --reject-rate 0.1

say "6. One flipped bit in 10% of the weight tensors, 20 repetitions"
rmlops-eval -m "$model" -d "$td/cifar10-test-1000.rml" --unit tensor --rate 0.1 --repeat 20 -s 7

say "7. The same fault through a pipe, with a fault log: $out/faults.jsonl"
rmlops-inject --unit tensor --rate 0.1 -s 7 --log "$out/faults.jsonl" < "$model" \
	| rmlops-eval -m - -d "$td/cifar10-test-1000.rml" --json
