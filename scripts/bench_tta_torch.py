#!/usr/bin/env python3
"""MEMO test-time adaptation in PyTorch, the same procedure rmlops-tta
runs, for the side-by-side benchmark (scripts/bench_tta.sh): mvit-xxs with
adapters (gamma 4, scripts/torch_mvit.py), only the adapter group phi
trainable (the third adapter unit and the channel scale of every
MobileViT block), batch norm with running statistics. Per image: the
prediction before adapting, B augmented copies forward, the entropy of
their mean softmax, backward, one SGD step (lr 0.001), the prediction on
the original image, and the episodic reset of phi. The augmented copies
are made before the clock starts (the rmlops figure it is compared with
excludes its augmentation time the same way).
Prints one JSON line: the median over repetitions of images per second.
    bench_tta_torch.py THREADS IMAGES REPETITIONS [B] [STEPS]"""
import json
import os
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_mvit import MVIT_XXS, MViTNet  # noqa: E402

threads, images, reps = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
B = int(sys.argv[4]) if len(sys.argv) > 4 else 8
steps = int(sys.argv[5]) if len(sys.argv) > 5 else 1
torch.set_num_threads(threads)
torch.manual_seed(1)
net = MViTNet(**MVIT_XXS, gamma=4)
net.eval()
phi = []
for m in net.modules():
    if getattr(m, "units", None) is not None:
        phi += list(m.units[2].parameters()) + [m.scale]
for p in net.parameters():
    p.requires_grad_(False)
for p in phi:
    p.requires_grad_(True)
saved = [p.detach().clone() for p in phi]
opt = torch.optim.SGD(phi, lr=0.001)
x = torch.randint(0, 256, (images, 1, 32, 32, 3)).float()
copies = torch.randint(0, 256, (images, steps, B, 32, 32, 3)).float()


def marginal_entropy(logits):
    logp = torch.log_softmax(logits, dim=1)
    lpbar = torch.logsumexp(logp, dim=0) - torch.log(torch.tensor(float(logits.shape[0])))
    return -(lpbar.exp() * lpbar).sum()


def one(i):
    with torch.no_grad():
        torch.softmax(net(x[i]), dim=1)
    for s in range(steps):
        opt.zero_grad()
        marginal_entropy(net(copies[i, s])).backward()
        opt.step()
    with torch.no_grad():
        torch.softmax(net(x[i]), dim=1)
        for p, q in zip(phi, saved):
            p.copy_(q)


for i in range(min(3, images)):  # warm-up
    one(i)
rates = []
for r in range(reps):
    t0 = time.perf_counter()
    for i in range(images):
        one(i)
    rates.append(images / (time.perf_counter() - t0))
print(json.dumps({"impl": "pytorch", "version": torch.__version__, "what": "memo", "B": B,
                  "steps": steps, "threads": threads, "images": images, "repetitions": reps,
                  "adapted_params": sum(p.numel() for p in phi),
                  "images_per_s": round(statistics.median(rates), 1)}))
