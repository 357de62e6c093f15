#!/usr/bin/env python3
"""Reference vectors for the whole network from an independent PyTorch
implementation of the same architecture (the mvit-tiny preset with
adapters, compression 2): weights drawn here, then logits, loss, every
parameter gradient and the input gradient, in evaluation mode (running
statistics) and training mode (batch statistics). Written in the engine's
names and layouts to testdata/ref/model.rml; test_model compares.
    python3 scripts/ref_model.py"""
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rmlfile import container  # noqa: E402
from torch_mvit import MEAN, MV2, STD, ConvBN, MViT  # noqa: E402

torch.manual_seed(3)


class Net(nn.Module):
    """The mvit-tiny preset: stem 8 s2; mv2 8->8; mv2 8->12 s2; mvit(16, 1 layer, 2 heads); conv 24."""
    def __init__(self, gamma=2, classes=10):
        super().__init__()
        self.stem = ConvBN(3, 8, 3, 2)
        self.b0 = MV2(8, 8, 1)
        self.b1 = MV2(8, 12, 2)
        self.b2 = MViT(12, 16, 1, 2, gamma)
        self.final = ConvBN(12, 24, 1)
        self.head = nn.Linear(24, classes)

    def forward(self, x):  # x NHWC pixels
        x = ((x - MEAN) / STD).permute(0, 3, 1, 2)
        x = self.final(self.b2(self.b1(self.b0(self.stem(x)))))
        return self.head(x.mean(dim=(2, 3)))


def named(net):
    """(our name, tensor, kind) for every parameter and buffer."""
    out = []

    def cbn(prefix, m):
        out.append((prefix + ".conv.w", m.conv.weight, "dw" if m.conv.groups > 1 else "conv"))
        out.append((prefix + ".bn.gamma", m.bn.weight, "vec"))
        out.append((prefix + ".bn.beta", m.bn.bias, "vec"))
        out.append((prefix + ".bn.running_mean", m.bn.running_mean, "buf"))
        out.append((prefix + ".bn.running_var", m.bn.running_var, "buf"))
    cbn("stem", net.stem)
    for i, b in enumerate((net.b0, net.b1)):
        for part in ("expand", "dw", "project"):
            cbn("blocks.%d.%s" % (i, part), getattr(b, part))
    m, p = net.b2, "blocks.2"
    cbn(p + ".local", m.local)
    out.append((p + ".proj_in.w", m.proj_in.weight, "conv"))
    for l, layer in enumerate(m.layers):
        q = "%s.transformer.%d" % (p, l)
        for nm, mod in (("ln1", layer.ln1), ("ln2", layer.ln2)):
            out.append((q + "." + nm + ".gamma", mod.weight, "vec"))
            out.append((q + "." + nm + ".beta", mod.bias, "vec"))
        for nm, mod in (("attn.qkv", layer.qkv), ("attn.proj", layer.proj), ("mlp.fc1", layer.fc1),
                        ("mlp.fc2", layer.fc2)):
            out.append((q + "." + nm + ".w", mod.weight, "lin"))
            out.append((q + "." + nm + ".b", mod.bias, "vec"))
    out.append((p + ".ln.gamma", m.ln.weight, "vec"))
    out.append((p + ".ln.beta", m.ln.bias, "vec"))
    cbn(p + ".proj_out", m.proj_out)
    cbn(p + ".fuse", m.fuse)
    cbn("final", net.final)
    for u, unit in enumerate(m.units):
        q = "%s.adapter.u%d" % (p, u + 1)
        out.append((q + ".pw1.w", unit.pw1.weight, "conv"))
        out.append((q + ".pw1.b", unit.pw1.bias, "vec"))
        out.append((q + ".dw.w", unit.dw.weight, "dw"))
        out.append((q + ".dw.b", unit.dw.bias, "vec"))
        out.append((q + ".pw2.w", unit.pw2.weight, "conv"))
        out.append((q + ".pw2.b", unit.pw2.bias, "vec"))
    out.append((p + ".adapter.scale", m.scale, "vec"))
    out.append(("head.w", net.head.weight, "lin"))
    out.append(("head.b", net.head.bias, "vec"))
    return out


def ours(t, kind):
    t = t.detach()
    if kind == "conv":
        return t.permute(2, 3, 1, 0)
    if kind == "dw":
        return t[:, 0].permute(1, 2, 0)
    if kind == "lin":
        return t.t()
    return t


net = Net().double()
with torch.no_grad():  # non-trivial batch-norm state and affine parameters
    for name, t, kind in named(net):
        if kind == "buf" and name.endswith("mean"):
            t.copy_(torch.randn_like(t) * 0.2)
        elif kind == "buf":
            t.copy_(torch.rand_like(t) + 0.5)
        elif name.endswith("gamma"):
            t.copy_(1 + 0.2 * torch.randn_like(t))
        elif name.endswith("beta"):
            t.copy_(0.1 * torch.randn_like(t))
T = []


def put(name, t):
    t = t.detach().contiguous().to(torch.float32)
    T.append((name, "f32", list(t.shape), t.flatten().tolist()))


for name, t, kind in named(net):
    put("param." + name, ours(t, kind))
x = (torch.rand(3, 32, 32, 3, dtype=torch.float64) * 255).round().requires_grad_()
labels = torch.tensor([1, 7, 3])
put("input", x)
T.append(("labels", "i32", [3], labels.tolist()))
for mode in ("eval", "train"):
    net.zero_grad()
    x.grad = None
    net.train(mode == "train")
    bn_state = [(m, m.running_mean.clone(), m.running_var.clone())
                for m in net.modules() if isinstance(m, nn.BatchNorm2d)]
    logits = net(x)
    loss = F.cross_entropy(logits, labels, label_smoothing=0.1)
    loss.backward()
    put(mode + ".logits", logits)
    put(mode + ".loss", loss.reshape(1))
    put(mode + ".dx", x.grad)
    for name, t, kind in named(net):
        if kind != "buf":
            put(mode + ".grad." + name, ours(t.grad, kind))
    if mode == "train":
        for name, t, kind in named(net):
            if kind == "buf":
                put("train.after." + name, t)
    for m, rm, rv in bn_state:  # leave the statistics as they were
        m.running_mean.copy_(rm)
        m.running_var.copy_(rv)
os.makedirs("testdata/ref", exist_ok=True)
open("testdata/ref/model.rml", "wb").write(
    container([("kind", "reference"), ("reference.source", "PyTorch " + torch.__version__)], T))
print("wrote testdata/ref/model.rml with %d tensors" % len(T))
