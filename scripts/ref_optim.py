#!/usr/bin/env python3
"""Reference trajectories for the optimisers from PyTorch (an independent
implementation): SGD with momentum, SGD with Nesterov momentum and AdamW,
each with weight decay and a learning rate that changes every step, over
a few steps of fixed gradients, in float32 as the library computes.
Writes testdata/ref/optim.rml; test_optimizer reads it (no PyTorch at
test time).
    python3 scripts/ref_optim.py"""
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rmlfile import container  # noqa: E402

torch.manual_seed(11)
N, STEPS, WD = 9, 5, 0.1
p0 = torch.randn(N)
grads = torch.randn(STEPS, N)
grads[2, 3] = 0.0  # a zero gradient: AdamW's eps matters there
lrs = [0.1, 0.08, 0.05, 0.02, 0.01]


def run(make):
    p = p0.clone().requires_grad_(True)
    opt = make([p])
    out = []
    for t in range(STEPS):
        for g in opt.param_groups:
            g["lr"] = lrs[t]
        p.grad = grads[t].clone()
        opt.step()
        out.append(p.detach().clone())
    return torch.stack(out)


T = [
    ("p0", "f32", [N], p0.tolist()),
    ("g", "f32", [STEPS, N], grads.flatten().tolist()),
    ("lr", "f32", [STEPS], lrs),
]
cases = {
    "sgd": lambda ps: torch.optim.SGD(ps, lr=1, momentum=0.9, weight_decay=WD),
    "nesterov": lambda ps: torch.optim.SGD(ps, lr=1, momentum=0.9, nesterov=True, weight_decay=WD),
    "adamw": lambda ps: torch.optim.AdamW(ps, lr=1, betas=(0.9, 0.999), eps=1e-8, weight_decay=WD),
}
for name, make in cases.items():
    T.append((name, "f32", [STEPS, N], run(make).flatten().tolist()))

os.makedirs("testdata/ref", exist_ok=True)
open("testdata/ref/optim.rml", "wb").write(
    container([("kind", "reference"), ("reference.source", "PyTorch " + torch.__version__),
               ("reference.wd", WD)], T))
print("wrote testdata/ref/optim.rml with %d tensors" % len(T))
