#!/usr/bin/env bash
# Make testdata/ from the CIFAR-10 JPEG archive:
#   scripts/make_testdata.sh CIFAR_JPG_DIR     (holds test/<class>/*.jpg)
# testdata/cifar10-test-1000.rml: the first 100 test images of each class;
# the small binary, idx and folder fixtures come from scripts/make_testdata.py.
set -euo pipefail
src=${1:?usage: make_testdata.sh CIFAR_JPG_DIR}
bin=${BIN:-build/bin}
"$bin/rmlops-data" import folder "$src/test" \
	| "$bin/rmlops-data" take --per-class 100 -s 1 -o testdata/cifar10-test-1000.rml
python3 scripts/make_testdata.py "$src" testdata/cifar10-test-1000.rml
