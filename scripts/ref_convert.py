#!/usr/bin/env python3
"""Reference files for rmlops-convert import: the project's PyTorch twin of
the architecture (scripts/torch_mvit.py), randomly initialised (nothing is
trained) with non-trivial batch-norm statistics, saved as its state dict in
the safetensors format, written here by hand (8-byte little-endian header
length, JSON header with dtype/shape/data_offsets, raw little-endian data),
together with a few input images and the logits PyTorch computes for them
in float64.
    python3 scripts/ref_convert.py            # testdata/ref/torch-mvit-{tiny,xxs}.*
    python3 scripts/ref_convert.py ARCH GAMMA DTYPE OUT   # one pair, OUT.safetensors/.rml
The default run also writes the seeds of the safetensors fuzz target
(testdata/fuzz-safetensors/: the mvit-tiny file and a small one of F16,
BF16 and I64 tensors with metadata).
mvit-tiny carries adapters (compression 2) and float32 weights; mvit-xxs
has none and float16 weights, which keeps its file small (the logits are
those of the float16 values, as the engine reads them exactly)."""
import json
import os
import struct
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rmlfile import container  # noqa: E402
from torch_mvit import MVIT_XXS, MViTNet  # noqa: E402

MVIT_TINY = dict(stem=8, head_conv=24, blocks=[("mv2", 8, 1), ("mv2", 12, 2), ("mvit", 16, 1)])
ARCHS = {"mvit-tiny": (MVIT_TINY, 2), "mvit-xxs": (MVIT_XXS, 4)}
DT = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16", torch.float64: "F64",
      torch.int64: "I64"}


def save_safetensors(path, tensors, metadata=None):
    """tensors: list of (name, tensor); written in that order."""
    header, blobs, off = {}, [], 0
    if metadata:
        header["__metadata__"] = metadata
    for name, t in tensors:
        t = t.detach().contiguous()
        raw = t.view(torch.int16) if t.dtype in (torch.float16, torch.bfloat16) else t  # numpy lacks bfloat16
        data = raw.numpy().astype(raw.numpy().dtype.newbyteorder("<")).tobytes()
        header[name] = {"dtype": DT[t.dtype], "shape": list(t.shape), "data_offsets": [off, off + len(data)]}
        blobs.append(data)
        off += len(data)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def make(arch, gamma, dtype, out, seed=5):
    torch.manual_seed(seed)
    spec, heads = ARCHS[arch]
    net = MViTNet(**spec, classes=10, heads=heads, gamma=gamma)
    with torch.no_grad():
        for name, t in net.named_buffers():
            if name.endswith("running_mean"):
                t.copy_(torch.randn_like(t) * 0.2)
            elif name.endswith("running_var"):
                t.copy_(torch.rand_like(t) + 0.5)
            elif name.endswith("num_batches_tracked"):
                t.fill_(7)
        for name, t in net.named_parameters():
            if name.endswith("bn.weight"):
                t.copy_(1 + 0.2 * torch.randn_like(t))
            elif name.endswith("bn.bias"):
                t.copy_(0.1 * torch.randn_like(t))
            t.copy_(t.to(dtype).to(torch.float32))  # the values the file will hold
    sd = net.state_dict()
    save_safetensors(out + ".safetensors",
                     [(k, v if v.dtype == torch.int64 else v.to(dtype)) for k, v in sd.items()],
                     {"format": "pt"})
    net = net.double().eval()
    x = (torch.rand(4, 32, 32, 3, dtype=torch.float64) * 255).round()
    with torch.no_grad():
        logits = net(x)
    open(out + ".rml", "wb").write(container(
        [("kind", "reference"), ("reference.source", "PyTorch " + torch.__version__),
         ("reference.arch", arch), ("reference.adapter_gamma", gamma)],
        [("input", "f32", list(x.shape), x.flatten().tolist()),
         ("logits", "f32", list(logits.shape), logits.flatten().tolist())]))
    print("wrote %s.safetensors and %s.rml (%d tensors, logits up to %.3g)"
          % (out, out, len(sd), logits.abs().max().item()))


if __name__ == "__main__":
    if len(sys.argv) == 5:
        make(sys.argv[1], int(sys.argv[2]), getattr(torch, sys.argv[3]), sys.argv[4])
    else:
        os.makedirs("testdata/ref", exist_ok=True)
        make("mvit-tiny", 2, torch.float32, "testdata/ref/torch-mvit-tiny")
        make("mvit-xxs", 0, torch.float16, "testdata/ref/torch-mvit-xxs")
        os.makedirs("testdata/fuzz-safetensors", exist_ok=True)
        with open("testdata/ref/torch-mvit-tiny.safetensors", "rb") as f:
            open("testdata/fuzz-safetensors/mvit-tiny.safetensors", "wb").write(f.read())
        save_safetensors("testdata/fuzz-safetensors/small.safetensors",
                         [("a", torch.tensor([1.0, -2.0], dtype=torch.float16)),
                          ("b", torch.tensor([[1.0]], dtype=torch.bfloat16)),
                          ("c", torch.tensor(3, dtype=torch.int64))], {"format": "pt"})
