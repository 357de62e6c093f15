"""The engine's architecture written in PyTorch, independently of the C
code: layers of the mvit-xxs family, used for reference vectors
(scripts/ref_model.py) and the side-by-side benchmark
(scripts/bench_torch.py)."""
import torch
import torch.nn as nn
import torch.nn.functional as F

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



class MViTNet(nn.Module):
    """An architecture given as the preset YAML gives it: stem channels,
    blocks as ("mv2", out, stride) or ("mvit", dim, depth), head conv."""
    def __init__(self, stem, blocks, head_conv, classes=10, heads=4, gamma=0):
        super().__init__()
        self.stem = ConvBN(3, stem, 3, 2)
        layers, c = [], stem
        for b in blocks:
            if b[0] == "mv2":
                layers.append(MV2(c, b[1], b[2]))
                c = b[1]
            else:
                layers.append(MViT(c, b[1], b[2], heads, gamma))
        self.blocks = nn.Sequential(*layers)
        self.final = ConvBN(c, head_conv, 1)
        self.head = nn.Linear(head_conv, classes)

    def forward(self, x):  # x NHWC pixels
        x = ((x - MEAN) / STD).permute(0, 3, 1, 2)
        x = self.final(self.blocks(self.stem(x)))
        return self.head(x.mean(dim=(2, 3)))


MVIT_XXS = dict(stem=16, head_conv=320, blocks=[
    ("mv2", 16, 1), ("mv2", 24, 1), ("mv2", 24, 1), ("mv2", 24, 1), ("mv2", 48, 2),
    ("mvit", 64, 2), ("mv2", 64, 2), ("mvit", 80, 4), ("mv2", 80, 1), ("mvit", 96, 3)])


def named_net(net):
    """(engine name, tensor, kind) for every parameter and batch-norm
    buffer of an MViTNet, in the engine's names; kind says how the layout
    differs (conv: OIHW -> HWIO, dw: O1HW -> HWC, lin: [out,in] -> [in,out])."""
    out = []

    def cbn(prefix, m):
        out.append((prefix + ".conv.w", m.conv.weight, "dw" if m.conv.groups > 1 else "conv"))
        out.append((prefix + ".bn.gamma", m.bn.weight, "vec"))
        out.append((prefix + ".bn.beta", m.bn.bias, "vec"))
        out.append((prefix + ".bn.running_mean", m.bn.running_mean, "buf"))
        out.append((prefix + ".bn.running_var", m.bn.running_var, "buf"))
    cbn("stem", net.stem)
    for i, b in enumerate(net.blocks):
        p = "blocks.%d" % i
        if isinstance(b, MV2):
            for part in ("expand", "dw", "project"):
                cbn(p + "." + part, getattr(b, part))
            continue
        cbn(p + ".local", b.local)
        out.append((p + ".proj_in.w", b.proj_in.weight, "conv"))
        for l, layer in enumerate(b.layers):
            q = "%s.transformer.%d" % (p, l)
            for nm, mod in (("ln1", layer.ln1), ("ln2", layer.ln2)):
                out.append((q + "." + nm + ".gamma", mod.weight, "vec"))
                out.append((q + "." + nm + ".beta", mod.bias, "vec"))
            for nm, mod in (("attn.qkv", layer.qkv), ("attn.proj", layer.proj),
                            ("mlp.fc1", layer.fc1), ("mlp.fc2", layer.fc2)):
                out.append((q + "." + nm + ".w", mod.weight, "lin"))
                out.append((q + "." + nm + ".b", mod.bias, "vec"))
        out.append((p + ".ln.gamma", b.ln.weight, "vec"))
        out.append((p + ".ln.beta", b.ln.bias, "vec"))
        cbn(p + ".proj_out", b.proj_out)
        cbn(p + ".fuse", b.fuse)
        if b.units is not None:
            for u, unit in enumerate(b.units):
                q = "%s.adapter.u%d" % (p, u + 1)
                for nm, mod, kind in (("pw1", unit.pw1, "conv"), ("dw", unit.dw, "dw"),
                                      ("pw2", unit.pw2, "conv")):
                    out.append((q + "." + nm + ".w", mod.weight, kind))
                    out.append((q + "." + nm + ".b", mod.bias, "vec"))
            out.append((p + ".adapter.scale", b.scale, "vec"))
    cbn("final", net.final)
    out.append(("head.w", net.head.weight, "lin"))
    out.append(("head.b", net.head.bias, "vec"))
    return out


def load_engine_tensors(net, get):
    """Copy the engine's tensors into net: get(name) gives a flat float32
    tensor of the engine's layout, or None when the file lacks it."""
    with torch.no_grad():
        for name, t, kind in named_net(net):
            v = get(name)
            if v is None:
                raise KeyError(name)
            if kind == "conv":
                o, i, kh, kw = t.shape
                t.copy_(v.reshape(kh, kw, i, o).permute(3, 2, 0, 1))
            elif kind == "dw":
                o, _, kh, kw = t.shape
                t.copy_(v.reshape(kh, kw, o).permute(2, 0, 1).unsqueeze(1))
            elif kind == "lin":
                o, i = t.shape
                t.copy_(v.reshape(i, o).t())
            else:
                t.copy_(v.reshape(t.shape))
