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

torch.manual_seed(3)
MEAN = torch.tensor([125.3, 123.0, 113.9])
STD = torch.tensor([63.0, 62.1, 66.7])


class ConvBN(nn.Module):
    def __init__(self, cin, cout, k, stride=1, groups=1, act=True):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False)
        self.bn = nn.BatchNorm2d(cout)
        self.act = act

    def forward(self, x):
        y = self.bn(self.conv(x))
        return F.silu(y) if self.act else y


class MV2(nn.Module):
    def __init__(self, cin, cout, stride, e=2):
        super().__init__()
        h = cin * e
        self.expand = ConvBN(cin, h, 1)
        self.dw = ConvBN(h, h, 3, stride, groups=h)
        self.project = ConvBN(h, cout, 1, act=False)
        self.res = stride == 1 and cin == cout

    def forward(self, x):
        y = self.project(self.dw(self.expand(x)))
        return x + y if self.res else y


class Layer(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.qkv, self.proj = nn.Linear(d, 3 * d), nn.Linear(d, d)
        self.fc1, self.fc2 = nn.Linear(d, 2 * d), nn.Linear(2 * d, d)
        self.heads = heads

    def forward(self, x):  # x [S, P, d]
        s, p, d = x.shape
        q, k, v = self.qkv(self.ln1(x)).split(d, dim=-1)
        hd = d // self.heads

        def sp(t):
            return t.reshape(s, p, self.heads, hd).transpose(1, 2)
        a = torch.softmax(sp(q) @ sp(k).transpose(-1, -2) / hd ** 0.5, dim=-1)
        x = x + self.proj((a @ sp(v)).transpose(1, 2).reshape(s, p, d))
        return x + self.fc2(F.silu(self.fc1(self.ln2(x))))


class Unit(nn.Module):
    def __init__(self, c, r):
        super().__init__()
        self.pw1 = nn.Conv2d(c, r, 1)
        self.dw = nn.Conv2d(r, r, 3, 1, 1, groups=r)
        self.pw2 = nn.Conv2d(r, c, 1)

    def forward(self, x):
        return self.pw2(F.silu(self.dw(F.silu(self.pw1(x)))))


class MViT(nn.Module):
    def __init__(self, c, d, depth, heads, gamma):
        super().__init__()
        self.local = ConvBN(c, c, 3)
        self.proj_in = nn.Conv2d(c, d, 1, bias=False)
        self.layers = nn.ModuleList(Layer(d, heads) for _ in range(depth))
        self.ln = nn.LayerNorm(d)
        self.proj_out = ConvBN(d, c, 1)
        self.fuse = ConvBN(2 * c, c, 3)
        self.units = nn.ModuleList(Unit(c, c // gamma) for _ in range(3)) if gamma else None
        self.scale = nn.Parameter(torch.randn(c) * 0.5) if gamma else None

    def forward(self, x):
        n, c, h, w = x.shape
        y = self.proj_in(self.local(x))
        d = y.shape[1]
        # unfold: sequence q = 2*(i%2) + j%2 of patches in raster order
        t = y.permute(0, 2, 3, 1).reshape(n, h // 2, 2, w // 2, 2, d)
        t = t.permute(0, 2, 4, 1, 3, 5).reshape(n * 4, (h // 2) * (w // 2), d)
        for layer in self.layers:
            t = layer(t)
        t = self.ln(t)
        t = t.reshape(n, 2, 2, h // 2, w // 2, d).permute(0, 3, 1, 4, 2, 5).reshape(n, h, w, d)
        y = self.proj_out(t.permute(0, 3, 1, 2))
        out = self.fuse(torch.cat([x, y], dim=1))
        if self.units is not None:
            a = x
            for u in self.units:
                a = u(a)
            out = out + self.scale.view(1, -1, 1, 1) * a
        return out


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
