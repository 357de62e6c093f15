#!/usr/bin/env python3
"""The same measurement as bench_engine.c, in PyTorch: mvit-xxs (written
independently in torch_mvit.py), training steps (forward, cross-entropy
with label smoothing, backward, SGD update) or inference, at one batch
size and thread count. Prints one JSON line: the median over timed
iterations after warm-up.
    bench_torch.py train|infer BATCH THREADS SECONDS"""
import json
import os
import statistics
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_mvit import MVIT_XXS, MViTNet  # noqa: E402

what, batch, threads, seconds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
torch.set_num_threads(threads)
torch.manual_seed(1)
net = MViTNet(**MVIT_XXS)
x = torch.randint(0, 256, (batch, 32, 32, 3)).float()
y = torch.randint(0, 10, (batch,))
opt = torch.optim.SGD(net.parameters(), lr=1e-4, momentum=0.9)
train = what == "train"
net.train(train)
times, start, it = [], time.perf_counter(), 0
while True:
    t0 = time.perf_counter()
    if train:
        opt.zero_grad()
        loss = F.cross_entropy(net(x), y, label_smoothing=0.1)
        loss.backward()
        opt.step()
    else:
        with torch.no_grad():
            net(x)
    dt = time.perf_counter() - t0
    if it >= 2:
        times.append(dt)
    it += 1
    if len(times) >= 3 and time.perf_counter() - start > seconds:
        break
med = statistics.median(times)
print(json.dumps({"impl": "pytorch", "version": torch.__version__, "arch": "mvit-xxs", "what": what,
                  "batch": batch, "threads": threads, "iterations": len(times),
                  "median_s": round(med, 6), "images_per_s": round(batch / med, 1)}))
