#!/usr/bin/env python3
"""Reference predictions of faulty models from the independent PyTorch
implementation in float32 on the CPU (what a deployed float32 framework
computes): the mvit-tiny preset with adapters (compression 2), weights
drawn here, then a set of fault cases, each a few weights replaced by
exponent flips to very large values (bits 30 to 26 set) or by Inf/NaN
(all exponent bits set), on every kind of tensor (convolution and linear
kernels, biases, batch-norm and layer-norm scales and shifts). For each
case the logits of 8 images in evaluation mode (running statistics) and
training mode (batch statistics). test_model compares the engine's
predictions image by image: non-finite exactly where PyTorch's are, the
same top-1 elsewhere.
    python3 scripts/ref_faults.py      (writes testdata/ref/faults.rml)"""
import os
import random
import struct
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rmlfile import container  # noqa: E402
from torch_mvit import MViTNet, named_net  # noqa: E402

torch.manual_seed(5)
torch.set_num_threads(1)
rng = random.Random(5)

net = MViTNet(stem=8, blocks=[("mv2", 8, 1), ("mv2", 12, 2), ("mvit", 16, 1)], head_conv=24,
              heads=2, gamma=2)
with torch.no_grad():  # non-trivial batch-norm state and affine parameters
    for name, t, kind in named_net(net):
        if kind == "buf" and name.endswith("mean"):
            t.copy_(torch.randn_like(t) * 0.2)
        elif kind == "buf":
            t.copy_(torch.rand_like(t) + 0.5)
        elif name.endswith("gamma"):
            t.copy_(1 + 0.2 * torch.randn_like(t))
        elif name.endswith("beta"):
            t.copy_(0.1 * torch.randn_like(t))


def ours(t, kind):
    t = t.detach()
    if kind == "conv":
        return t.permute(2, 3, 1, 0)
    if kind == "dw":
        return t[:, 0].permute(1, 2, 0)
    if kind == "lin":
        return t.t()
    return t


def fault(v, how):
    u = struct.unpack("<I", struct.pack("<f", v))[0]
    if how == "inf":
        u |= 0x7f800000
        u &= 0xff800000  # mantissa 0: +-Inf
    elif how == "nan":
        u |= 0x7fc00000
    else:
        u |= 1 << how
    return struct.unpack("<f", struct.pack("<I", u))[0]


T, kvs = [], [("kind", "reference"), ("reference.source", "PyTorch " + torch.__version__)]


def put(name, t, dt="f32"):
    t = t.detach().contiguous()
    T.append((name, dt, list(t.shape), t.flatten().tolist()))


params = [(n, t, k) for n, t, k in named_net(net) if k != "buf"]
for name, t, kind in named_net(net):
    put("param." + name, ours(t, kind).to(torch.float32))
x = (torch.rand(8, 32, 32, 3) * 255).round()
put("input", x)
# Cases: one to three faults; the targets cycle through the tensors so
# every kind is hit, the fault kind through the list below.
hows = [30, 30, 29, 28, "inf", "nan", 30, 29, 27, 26]
cases = []
for c in range(48):
    nf = 1 + c % 3
    fl = []
    for f in range(nf):
        pi = (c * 7 + f * 13) % len(params)
        name, t, kind = params[pi]
        idx = rng.randrange(ours(t, kind).numel())
        fl.append((pi, idx, hows[(c + f) % len(hows)]))
    cases.append(fl)
summary = {"eval": [0, 0, 0], "train": [0, 0, 0]}
for c, fl in enumerate(cases):
    saved = []
    with torch.no_grad():
        for pi, idx, how in fl:
            name, t, kind = params[pi]
            o = ours(t, kind).contiguous().flatten()
            old = o[idx].item()
            o[idx] = fault(old, how)
            # write back in torch's layout
            if kind == "conv":
                kh, kw, i, oc = ours(t, kind).shape
                t.copy_(o.reshape(kh, kw, i, oc).permute(3, 2, 0, 1))
            elif kind == "dw":
                kh, kw, oc = ours(t, kind).shape
                t.copy_(o.reshape(kh, kw, oc).permute(2, 0, 1).unsqueeze(1))
            elif kind == "lin":
                i, oc = ours(t, kind).shape
                t.copy_(o.reshape(i, oc).t())
            else:
                t.copy_(o.reshape(t.shape))
            saved.append((t, old, name, idx, o[idx].item()))
    names = [s[2] for s in saved]
    kvs.append(("case.%d.tensors" % c, names))
    put("case.%d.index" % c, torch.tensor([s[3] for s in saved], dtype=torch.int32), "i32")
    put("case.%d.value" % c, torch.tensor([s[4] for s in saved], dtype=torch.float32))
    for mode in ("eval", "train"):
        net.train(mode == "train")
        bn = [(m, m.running_mean.clone(), m.running_var.clone())
              for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d)]
        with torch.no_grad():
            logits = net(x)
        for m, rm, rv in bn:
            m.running_mean.copy_(rm)
            m.running_var.copy_(rv)
        put("case.%d.%s.logits" % (c, mode), logits)
        bad = (~torch.isfinite(logits).all(dim=1)).sum().item()
        summary[mode][0 if bad == 0 else 2 if bad == len(x) else 1] += 1
    for (t, old, name, idx, new) in reversed(saved):  # undo, last fault first
        pi = [p[0] for p in params].index(name)
        _, tt, kind = params[pi]
        with torch.no_grad():
            o = ours(tt, kind).contiguous().flatten()
            o[idx] = old
            if kind == "conv":
                kh, kw, i, oc = ours(tt, kind).shape
                tt.copy_(o.reshape(kh, kw, i, oc).permute(3, 2, 0, 1))
            elif kind == "dw":
                kh, kw, oc = ours(tt, kind).shape
                tt.copy_(o.reshape(kh, kw, oc).permute(2, 0, 1).unsqueeze(1))
            elif kind == "lin":
                i, oc = ours(tt, kind).shape
                tt.copy_(o.reshape(i, oc).t())
            else:
                tt.copy_(o.reshape(tt.shape))
kvs.append(("cases", len(cases)))
os.makedirs("testdata/ref", exist_ok=True)
open("testdata/ref/faults.rml", "wb").write(container(kvs, T))
print("wrote testdata/ref/faults.rml: %d cases; finite / mixed / all non-finite: eval %s, train %s"
      % (len(cases), summary["eval"], summary["train"]))
