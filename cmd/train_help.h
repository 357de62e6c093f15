/*
 * train_help.h — the help text of rmlops-train (rmlops-train --help), kept
 * apart from the program's code; rmlops-train(1) says the same at length.
 * Included by cmd/rmlops-train.c only.
 */
#ifndef RML_TRAIN_HELP_H
#define RML_TRAIN_HELP_H

#define TRAIN_USAGE \
	"Usage: rmlops-train -d TRAIN [OPTIONS] -o MODEL\n" \
	"Train a model, or fine-tune some of its parameter groups.\n" \
	"\n" \
	"Inputs and outputs:\n" \
	"  -d, --data FILE         training dataset\n" \
	"      --val FILE          validation dataset, evaluated after every epoch\n" \
	"  -m, --model FILE        start from this model (fine-tuning)\n" \
	"  -a, --adapter-file FILE adapters for the model (as rmlops-tta -o writes them),\n" \
	"                          refused unless made for this base model\n" \
	"      --arch NAME|FILE    architecture of a new model: mvit-xxs (default),\n" \
	"                          mvit-tiny, or a YAML file (see rmlops-train(1))\n" \
	"      --adapters GAMMA    add adapters with channel compression 1, 2, 4 or 8\n" \
	"  -o, --output FILE       the trained model (default standard output)\n" \
	"      --checkpoint FILE   written after every epoch (model, optimiser, settings)\n" \
	"      --resume FILE       continue from a checkpoint, exactly\n" \
	"      --until N           stop after epoch N, leaving the checkpoint\n" \
	"      --log FILE          one JSON line per epoch\n" \
	"      --plot FILE         the learning curve as PNG, redrawn every epoch (with\n" \
	"                          --log, a resumed run's curve starts at epoch 1)\n" \
	"What is trained:\n" \
	"      --tune GROUPS       parameter groups to train: theta, omega, phi, W,\n" \
	"                          adapters, all (default: all for a new model, phi,W\n" \
	"                          when fine-tuning); with theta frozen, batch norm uses\n" \
	"                          its running statistics\n" \
	"How:\n" \
	"      --epochs N          (default 10)\n" \
	"      --batch N           (default 128)\n" \
	"      --optimizer NAME    sgd (default) or adamw\n" \
	"      --lr X              peak learning rate (default 0.1 for sgd, 0.002 adamw)\n" \
	"      --momentum X        SGD momentum (default 0.9); --nesterov\n" \
	"      --wd X              weight decay (default 5e-4 sgd, 0.05 adamw); not on\n" \
	"                          norms and biases\n" \
	"      --warmup N          warm-up epochs (default 1)\n" \
	"      --label-smoothing X (default 0.1)\n" \
	"      --augment LIST      of crop, flip, autoaugment, randaugment, cutout,\n" \
	"                          erasing, mixup, cutmix (default crop,flip), or none\n" \
	"      --randaugment N,M   RandAugment operations and magnitude 0..30 (2,9)\n" \
	"      --cutout N          side of the Cutout square (16)\n" \
	"      --erasing P         probability of random erasing per image (0.5)\n" \
	"      --mixup A, --cutmix A  Beta(A,A) of the mixing weight (1)\n" \
	"      --ema DECAY         keep an average of the weights (e.g. 0.999)\n" \
	"      --ema-eval          validate and write the averaged model\n" \
	"  -s, --seed N            seed (default 1)\n" \
	"  -j, --threads N         worker threads (default: all cores)\n" \
	"      --json              the final report as JSON on standard error\n" \
	"  -q, --quiet / -v, --verbose;  -h, --help;  -V, --version\n" \
	"\n" \
	"Example: rmlops-train -d train.rml --val val.rml --epochs 100 -o base.rml\n"

#endif
