#!/usr/bin/env bash
# The README's table of rare co-activations as an out-of-distribution
# score: co-activation statistics fitted on 500 training images per class,
# then the AUROC of telling the carried test images (in-distribution) from
# out-of-distribution ones by the co-activation score, by the entropy and
# by the top-class probability: Soft Brownian Offset images (latent
# space, as rmlops-calibrate makes them), the ten common corruptions at
# severity 5, Fashion-MNIST, and the outputs of faulty copies of the
# model on the same test images. Also the cost of the score per image
# beside the forward pass.
#
# Usage: scripts/monitor_table.sh MODEL TRAIN.rml OUTDIR
#   TRAIN.rml: the CIFAR-10 training images
#   (rmlops-data import folder cifar10/train -o train.rml).
# The table (Markdown) goes to standard output and OUTDIR/table.md.
set -euo pipefail
model=${1:?usage: monitor_table.sh MODEL TRAIN.rml OUTDIR}
train=${2:?}
out=${3:?}
bin=${BIN:-build/bin}
td=${TESTDATA:-testdata}
fm=${FASHION_MNIST:-/usr/share/datasets/fashion-mnist}
threads=${THREADS:-2}
export PATH="$(cd "$bin" && pwd):$PATH"
mkdir -p "$out"
test="$td/cifar10-test-1000.rml"
q() { "$@" -q; }

q rmlops-data take --per-class 500 -s 1 -o "$out/fit.rml" < "$train"
rmlops-monitor fit -m "$model" -d "$out/fit.rml" -j "$threads" -o "$out/model.rml"
m="$out/model.rml"
if [ ! -s "$out/sbo.rml" ]; then
	q rmlops-calibrate -m "$model" -d "$out/fit.rml" --method temperature --ood sbo-latent \
		--ood-count 1000 -s 1 -j "$threads" --save-ood "$out/sbo.rml.tmp" -o /dev/null
	mv "$out/sbo.rml.tmp" "$out/sbo.rml"
fi
q rmlops-data import idx "$fm/t10k-images-idx3-ubyte.gz" "$fm/t10k-labels-idx1-ubyte.gz" \
	--resize 32 --gray-to-rgb --classes fashion-mnist -o "$out/fm-all.rml"
q rmlops-data take --first 1000 -o "$out/fm.rml" < "$out/fm-all.rml"

row() {  # row NAME OOD [OOD-MODEL]
	local extra=()
	[ $# -lt 3 ] || extra=(--ood-model "$3")
	rmlops-monitor auroc -m "$m" -d "$test" --ood "$2" "${extra[@]}" -j "$threads" --json |
		sed 's/.*"auroc_coact":\([^,]*\),"auroc_entropy":\([^,]*\),"auroc_confidence":\([^}]*\)}/\1 \2 \3/' |
		awk -v n="$1" '{ printf "| %s | %.3f | %.3f | %.3f |\n", n, $1, $2, $3 }'
}
{
	echo "| out-of-distribution set (1000 images) | co-activation | entropy | max. probability |"
	echo "|---|---|---|---|"
	row "SBO (latent space)" "$out/sbo.rml"
	for c in gaussian_noise shot_noise impulse_noise defocus_blur motion_blur contrast brightness \
		fog pixelate jpeg_compression; do
		q rmlops-data corrupt --type $c --severity 5 -s 1 -o "$out/$c.rml" < "$test"
		row "$c, severity 5" "$out/$c.rml"
	done
	row "Fashion-MNIST" "$out/fm.rml"
	for f in "tensor 0.1 any" "weight 0.001 29" "tensor 0.1 mantissa"; do
		set -- $f
		q rmlops-inject --unit "$1" --rate "$2" --bits "$3" -s 1 -m "$m" -o "$out/faulty.rml"
		row "faulty model: bit flips, $1 rate $2, bits $3" "$test" "$out/faulty.rml"
	done
} | tee "$out/table.md"
# The cost: three runs over the test images, the median.
for i in 1 2 3; do
	rmlops-monitor score -v -m "$m" -d "$test" -j "$threads" 2>&1 > /dev/null |
		sed 's/.*forward pass \([0-9.]*\) ms.*score \([0-9.]*\) us.*/\1 \2/'
done | sort -n -k2 | sed -n 2p |
	awk '{ printf "\nCost per image (median of 3 runs over 1000 images): forward pass %.3f ms, co-activation score %.2f us (%.3f%%)\n", $1, $2, $2 / ($1 * 10) }' |
	tee -a "$out/table.md"
