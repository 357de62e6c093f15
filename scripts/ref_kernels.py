#!/usr/bin/env python3
"""Reference vectors for the layer kernels from PyTorch (an independent
implementation): inputs, parameters, outputs, and the gradients of
sum(output * dy) for a fixed random dy, converted from PyTorch's NCHW /
OIHW layouts to the engine's NHWC / HWIO / [in,out]. Writes
testdata/ref/kernels.rml; test_kernels_torch and test_kernels read it (no PyTorch
at test time).
    python3 scripts/ref_kernels.py"""
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rmlfile import container  # noqa: E402

torch.manual_seed(7)
torch.set_default_dtype(torch.float64)  # references in double, stored as f32
T = []


def put(name, t):
    t = t.detach().contiguous().to(torch.float32)
    T.append((name, "f32", list(t.shape) if t.dim() else [1], t.flatten().tolist()))


def nhwc(t):
    return t.permute(0, 2, 3, 1)


def case_conv(name, n, h, w, cin, cout, k, stride, pad, bias, groups=1):
    x = torch.randn(n, cin, h, w, requires_grad=True)
    wt = torch.randn(cout, cin // groups, k, k, requires_grad=True)
    b = torch.randn(cout, requires_grad=True) if bias else None
    y = F.conv2d(x, wt, b, stride=stride, padding=pad, groups=groups)
    dy = torch.randn_like(y)
    (y * dy).sum().backward()
    put(name + ".x", nhwc(x))
    if groups == 1:
        put(name + ".w", wt.permute(2, 3, 1, 0))      # HWIO
        put(name + ".dw", wt.grad.permute(2, 3, 1, 0))
    else:
        put(name + ".w", wt[:, 0].permute(1, 2, 0))   # [k,k,c]
        put(name + ".dw", wt.grad[:, 0].permute(1, 2, 0))
    if bias:
        put(name + ".b", b)
        put(name + ".db", b.grad)
    put(name + ".y", nhwc(y))
    put(name + ".dy", nhwc(dy))
    put(name + ".dx", nhwc(x.grad))


case_conv("conv3s2", 2, 6, 6, 3, 4, 3, 2, 1, False)
case_conv("conv3s1", 2, 5, 5, 4, 3, 3, 1, 1, True)
case_conv("conv1", 2, 4, 4, 5, 6, 1, 1, 0, True)
case_conv("dw3s2", 2, 6, 6, 4, 4, 3, 2, 1, True, groups=4)
case_conv("dw3s1", 1, 5, 5, 3, 3, 3, 1, 1, False, groups=3)

# linear: y = x W + b with W [in,out]
x = torch.randn(5, 7, requires_grad=True)
wt = torch.randn(3, 7, requires_grad=True)
b = torch.randn(3, requires_grad=True)
y = F.linear(x, wt, b)
dy = torch.randn_like(y)
(y * dy).sum().backward()
for k, v in (("x", x), ("w", wt.t()), ("b", b), ("y", y), ("dy", dy), ("dx", x.grad),
             ("dw", wt.grad.t()), ("db", b.grad)):
    put("linear." + k, v)

# batch norm, training statistics with running update, then eval
x = torch.randn(2, 4, 3, 3, requires_grad=True)
g = torch.randn(4, requires_grad=True)
be = torch.randn(4, requires_grad=True)
rm = torch.full((4,), 0.5)
rv = torch.full((4,), 2.0)
y = F.batch_norm(x, rm, rv, g, be, training=True, momentum=0.1, eps=1e-5)
dy = torch.randn_like(y)
(y * dy).sum().backward()
for k, v in (("x", nhwc(x)), ("gamma", g), ("beta", be), ("y", nhwc(y)), ("dy", nhwc(dy)),
             ("dx", nhwc(x.grad)), ("dgamma", g.grad), ("dbeta", be.grad), ("run_mean", rm),
             ("run_var", rv)):
    put("bntrain." + k, v)
x = torch.randn(2, 4, 3, 3, requires_grad=True)
g = torch.randn(4, requires_grad=True)
be = torch.randn(4, requires_grad=True)
rm = torch.randn(4)
rv = torch.rand(4) + 0.5
y = F.batch_norm(x, rm, rv, g, be, training=False, eps=1e-5)
dy = torch.randn_like(y)
(y * dy).sum().backward()
for k, v in (("x", nhwc(x)), ("gamma", g), ("beta", be), ("run_mean", rm), ("run_var", rv),
             ("y", nhwc(y)), ("dy", nhwc(dy)), ("dx", nhwc(x.grad)), ("dgamma", g.grad),
             ("dbeta", be.grad)):
    put("bneval." + k, v)

# layer norm over the last dimension
x = torch.randn(6, 8, requires_grad=True)
g = torch.randn(8, requires_grad=True)
be = torch.randn(8, requires_grad=True)
y = F.layer_norm(x, (8,), g, be, eps=1e-5)
dy = torch.randn_like(y)
(y * dy).sum().backward()
for k, v in (("x", x), ("gamma", g), ("beta", be), ("y", y), ("dy", dy), ("dx", x.grad),
             ("dgamma", g.grad), ("dbeta", be.grad)):
    put("ln." + k, v)

# SiLU
x = (torch.randn(64) * 4).requires_grad_()
y = F.silu(x)
dy = torch.randn_like(y)
(y * dy).sum().backward()
for k, v in (("x", x), ("y", y), ("dy", dy), ("dx", x.grad)):
    put("silu." + k, v)

# attention core: qkv [s, p, 3d], heads of d/h
s, p, d, h = 3, 4, 8, 2
qkv = torch.randn(s, p, 3 * d, requires_grad=True)
q, k, v = qkv.split(d, dim=-1)
def heads(t):
    return t.reshape(s, p, h, d // h).transpose(1, 2)
att = torch.softmax(heads(q) @ heads(k).transpose(-1, -2) / (d // h) ** 0.5, dim=-1)
out = (att @ heads(v)).transpose(1, 2).reshape(s, p, d)
dy = torch.randn_like(out)
(out * dy).sum().backward()
for k_, v_ in (("qkv", qkv), ("y", out), ("dy", dy), ("dx", qkv.grad)):
    put("attn." + k_, v_)

# unfold: x [n,h,w,c] -> [n, 4, P, c] with q = 2*(i%2) + j%2 and patch raster order
n, hh, ww, c = 2, 4, 6, 3
x = torch.randn(n, hh, ww, c)
y = x.reshape(n, hh // 2, 2, ww // 2, 2, c).permute(0, 2, 4, 1, 3, 5).reshape(n, 4, -1, c)
put("unfold.x", x)
put("unfold.y", y)

# cross-entropy with label smoothing
logits = torch.randn(4, 5, requires_grad=True)
labels = torch.tensor([0, 3, 4, 1])
loss = F.cross_entropy(logits, labels, label_smoothing=0.1)
loss.backward()
put("xent.logits", logits)
put("xent.loss", loss.reshape(1))
put("xent.dlogits", logits.grad)
T.append(("xent.labels", "i32", [4], labels.tolist()))

# ---- added cases (appended so the tensors above keep their values) -----
# Odd sizes and the strided 1x1 convolution, which goes through im2col.
case_conv("conv3s2odd", 1, 7, 5, 3, 5, 3, 2, 1, True)
case_conv("conv1s2", 2, 5, 5, 4, 3, 1, 2, 0, True)
case_conv("conv5s1", 1, 6, 6, 2, 3, 5, 1, 2, False)
case_conv("dw3s2odd", 1, 7, 5, 6, 6, 3, 2, 1, True, groups=6)

# global average pool: x [n,h,w,c] -> [n,c]
x = torch.randn(2, 5, 3, 3, requires_grad=True)
y = x.mean(dim=(2, 3))
dy = torch.randn_like(y)
(y * dy).sum().backward()
for k_, v_ in (("x", nhwc(x)), ("y", y), ("dy", dy), ("dx", nhwc(x.grad))):
    put("gap." + k_, v_)

# attention at a MobileViT width: 4 heads of 16, 4 patches per sequence
s, p, d, h = 2, 4, 64, 4
qkv = torch.randn(s, p, 3 * d, requires_grad=True)
q, k, v = qkv.split(d, dim=-1)
att = torch.softmax(heads(q) @ heads(k).transpose(-1, -2) / (d // h) ** 0.5, dim=-1)
out = (att @ heads(v)).transpose(1, 2).reshape(s, p, d)
dy = torch.randn_like(out)
(out * dy).sum().backward()
for k_, v_ in (("qkv", qkv), ("att", att), ("y", out), ("dy", dy), ("dx", qkv.grad)):
    put("attn64." + k_, v_)

# layer norm at width 80 over 5 rows
x = torch.randn(5, 80, requires_grad=True)
g = torch.randn(80, requires_grad=True)
be = torch.randn(80, requires_grad=True)
y = F.layer_norm(x, (80,), g, be, eps=1e-5)
dy = torch.randn_like(y)
(y * dy).sum().backward()
for k_, v_ in (("x", x), ("gamma", g), ("beta", be), ("y", y), ("dy", dy), ("dx", x.grad),
               ("dgamma", g.grad), ("dbeta", be.grad)):
    put("ln80." + k_, v_)

# cross-entropy without smoothing, 10 classes, and with a loss scale of 0.5
logits = (torch.randn(3, 10) * 3).requires_grad_()
labels = torch.tensor([9, 0, 4])
loss = F.cross_entropy(logits, labels)
(0.5 * loss).backward()
put("xent0.logits", logits)
put("xent0.loss", loss.reshape(1))
put("xent0.dlogits", logits.grad)
T.append(("xent0.labels", "i32", [3], labels.tolist()))

# cross-entropy with soft targets (mixup/CutMix rows, one row a general
# distribution) and label smoothing 0.1, scaled by 0.5 as in a test
logits = (torch.randn(4, 6) * 2).requires_grad_()
targets = torch.zeros(4, 6)
targets[0, 1], targets[0, 4] = 0.3, 0.7
targets[1, 2] = 1.0
targets[2, 0], targets[2, 5] = 0.8125, 0.1875
targets[3] = torch.softmax(torch.randn(6), 0)
loss = F.cross_entropy(logits, targets, label_smoothing=0.1)
(0.5 * loss).backward()
put("xentsoft.logits", logits)
put("xentsoft.targets", targets)
put("xentsoft.loss", loss.reshape(1))
put("xentsoft.dlogits", logits.grad)

os.makedirs("testdata/ref", exist_ok=True)
open("testdata/ref/kernels.rml", "wb").write(
    container([("kind", "reference"), ("reference.source", "PyTorch " + torch.__version__)], T))
print("wrote testdata/ref/kernels.rml with %d tensors" % len(T))
