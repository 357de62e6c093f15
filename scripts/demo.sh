#!/usr/bin/env bash
# make demo: the toolchain on the data the repository carries: import,
# evaluation with rejection, fault injection, an attack, calibration and
# test-time adaptation, resilience optimisation, and the loop after
# deployment (monitor, select, fine-tune, compare, promote).
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

say "8. FGSM at eps 3 on the 1,000 images: adversarial set, its sheet ($out/adv-sheet.png), its accuracy"
rmlops-attack create -m "$model" -d "$td/cifar10-test-1000.rml" --attack fgsm --eps 3 \
	--sheet "$out/adv-sheet.png" -o "$out/adv.rml"
rmlops-eval -m "$model" -d "$out/adv.rml"

say "9. Calibrate (BBQ) on half of the images, measure on the other half: $out/reliability.png"
rmlops-data split --count 500 -s 1 -o "$out/cal.rml" --rest "$out/held.rml" < "$td/cifar10-test-1000.rml"
rmlops-calibrate -m "$model" -d "$out/cal.rml" --per-class 50 --ae-epochs 3 --test "$out/held.rml" \
	--plot "$out/reliability.png" -o "$out/calibrated.rml"

say "10. Test-time adaptation (MEMO) of fine-tuned adapters on Gaussian noise, severity 3"
rmlops-train -m "$model" --adapters 4 --tune phi,W -d "$out/cal.rml" --epochs 1 --batch 16 \
	--lr 0.001 -q -o "$out/tuned.rml"
rmlops-data take --first 200 "$out/held.rml" -q \
	| rmlops-data corrupt --type gaussian_noise --severity 3 -s 1 -o "$out/noisy.rml"
rmlops-tta -m "$out/tuned.rml" -d "$out/noisy.rml" --steps 0 > "$out/p0.rml"
rmlops-tta -m "$out/tuned.rml" -d "$out/noisy.rml" --lr 10 > "$out/p1.rml"
rmlops-eval -p "$out/p0.rml" --json
rmlops-eval -p "$out/p1.rml" --json

say "11. Resilience optimisation (quick setting): held-out R before and after, and the resilience curves ($out/metaopt-curves.png)"
rmlops-metaopt -m "$out/tuned.rml" -d "$out/cal.rml" --val "$out/held.rml" --quick \
	--plot "$out/metaopt.png" -o "$out/hardened.rml"
rmlops-metaopt --eval -m "$out/hardened.rml" --val "$out/held.rml" --quick --plot "$out/metaopt-curves.png"

say "12. After deployment: monitor clean then noisy images ($out/monitor.png, $out/rmlops.prom), select the 10% most uncertain noisy images, fine-tune on them, compare (A/B) on the other 90% and decide"
rmlops-monitor fit -m "$out/tuned.rml" -d "$out/cal.rml" -q -o "$out/deployed.rml"
st=0
rmlops-monitor -m "$out/deployed.rml" --window 100 --alert accuracy=0.7 \
	--textfile "$out/rmlops.prom" --plot "$out/monitor.png" "$out/held.rml" "$out/noisy.rml" || st=$?
[ "$st" -eq 0 ] || [ "$st" -eq 3 ] || exit "$st"
echo "(monitor exit status $st: 3 means a window crossed the accuracy alert)"
rmlops-eval -m "$out/deployed.rml" -d "$out/noisy.rml" -P "$out/noisy-preds.rml" -q > /dev/null
rmlops-data select -p "$out/noisy-preds.rml" --fraction 0.1 --by entropy \
	-o "$out/labelled.rml" --rest "$out/unlabelled.rml" "$out/noisy.rml"
rmlops-train -m "$out/deployed.rml" --tune phi,W -d "$out/labelled.rml" --epochs 2 --batch 4 \
	--lr 0.001 -q -o "$out/candidate.rml"
st=0
rmlops-eval -m "$out/deployed.rml" -d "$out/unlabelled.rml" --compare "$out/candidate.rml" \
	--promote-if 'acc1 > 0' || st=$?
case $st in
0) echo "promote: the candidate replaces the deployed model" ;;
3) echo "keep: the candidate is not better by the rule" ;;
*) exit "$st" ;;
esac
