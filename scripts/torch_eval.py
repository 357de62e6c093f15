#!/usr/bin/env python3
"""Evaluate an mvit-xxs .rml model (as rmlops writes it, faulty or not)
with the independent PyTorch implementation in float32 on the CPU, and
compare per-image predictions with an rmlops predictions file:
    python3 scripts/torch_eval.py MODEL.rml DATA.rml [PREDS.rml]
Prints one line: accuracy (a non-finite row counts wrong), non-finite rows,
and, given PREDS, the images whose top-1 or finiteness differ."""
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rmlfile  # noqa: E402
from torch_mvit import MVIT_XXS, MViTNet, load_engine_tensors  # noqa: E402


def f32(tensors, name):
    if name not in tensors:
        return None
    dt, dims, raw = tensors[name]
    return torch.frombuffer(bytearray(raw), dtype=torch.float32)


def main():
    torch.set_num_threads(1)
    kv, mt = rmlfile.read(sys.argv[1])
    _, dt = rmlfile.read(sys.argv[2])
    net = MViTNet(**MVIT_XXS, gamma=int(kv.get("model.adapter_gamma", 0)))
    load_engine_tensors(net, lambda n: f32(mt, n))
    net.eval()
    _, dims, raw = dt["images"]
    x = torch.frombuffer(bytearray(raw), dtype=torch.uint8).reshape(dims).float()
    _, _, lraw = dt["labels"]
    labels = torch.frombuffer(bytearray(lraw), dtype=torch.int32).long()
    with torch.no_grad():
        logits = torch.cat([net(x[i:i + 100]) for i in range(0, len(x), 100)])
    bad = ~torch.isfinite(logits).all(dim=1)
    pred = logits.argmax(dim=1)
    right = ((pred == labels) & ~bad).sum().item()
    line = "acc1 %.4f nonfinite %d" % (right / len(x), bad.sum().item())
    if len(sys.argv) > 3:
        _, pt = rmlfile.read(sys.argv[3])
        _, pdims, praw = pt["probs"]
        probs = torch.frombuffer(bytearray(praw), dtype=torch.float32).reshape(pdims)
        obad = ~torch.isfinite(probs).all(dim=1)
        opred = probs.argmax(dim=1)
        diff = (obad != bad) | (~bad & ~obad & (opred != pred))
        line += " rmlops_nonfinite %d differ %d" % (obad.sum().item(), diff.sum().item())
    print(line)


main()
