#!/usr/bin/env python3
"""Make the small fixtures in testdata/ from the CIFAR-10 JPEG archive:
tiny files in the exact CIFAR-10 and CIFAR-100 binary layouts, idx files
(plain and gzipped) and an image folder with PNG and JPEG files. Run from
the top of the repository:
    python3 scripts/make_testdata.py CIFAR_JPG_DIR
The pixel values are taken from the JPEG images with the project's own
importer output (a .rml file given as second argument), so the tests can
compare importers against each other exactly."""
import gzip
import os
import struct
import sys
import zlib

src = sys.argv[1]
out = "testdata"
classes = sorted(os.listdir(os.path.join(src, "test")))


def read_rml_images(path):
    """Minimal reader of the documented .rml layout: tensors 'images', 'labels'."""
    b = open(path, "rb").read()
    assert b[:8] == b"\x89RML\r\n\x1a\n"
    hsize = struct.unpack_from("<Q", b, 16)[0]
    pos = 24
    n_kv, n_t = struct.unpack_from("<QQ", b, pos)
    pos += 16

    def rd_str(p):
        n = struct.unpack_from("<Q", b, p)[0]
        return b[p + 8:p + 8 + n], p + 8 + n

    for _ in range(n_kv):
        kl = struct.unpack_from("<H", b, pos)[0]
        pos += 2 + kl
        t = b[pos]
        pos += 1
        if t in (0, 1):
            pos += 8
        elif t == 2:
            _, pos = rd_str(pos)
        elif t in (3, 4):
            n = struct.unpack_from("<Q", b, pos)[0]
            pos += 8 + 8 * n
        elif t == 5:
            n = struct.unpack_from("<Q", b, pos)[0]
            pos += 8
            for _ in range(n):
                _, pos = rd_str(pos)
    tensors = {}
    for _ in range(n_t):
        nl = struct.unpack_from("<H", b, pos)[0]
        name = b[pos + 2:pos + 2 + nl].decode()
        pos += 2 + nl
        dtype, ndim = b[pos], b[pos + 1]
        pos += 2
        dims = struct.unpack_from("<%dQ" % ndim, b, pos)
        pos += 8 * ndim
        off, nbytes, crc = struct.unpack_from("<QQI", b, pos)
        pos += 20
        tensors[name] = (dtype, dims, off, nbytes)
    data0 = 24 + hsize + 4
    data0 = (data0 + 63) // 64 * 64
    res = {}
    for name, (dtype, dims, off, nbytes) in tensors.items():
        res[name] = (dims, b[data0 + off:data0 + off + nbytes])
    return res


rml = read_rml_images(sys.argv[2])
(n, h, w, c), img = rml["images"]
_, lab = rml["labels"]
labels = struct.unpack("<%di" % n, lab)


def planar(i):
    px = img[i * 3072:(i + 1) * 3072]
    return bytes(px[0::3]) + bytes(px[1::3]) + bytes(px[2::3])


# CIFAR-10 binary: 5 batches of 4 and a test batch of 10; CIFAR-100: 12.
d10 = os.path.join(out, "cifar10-bin")
os.makedirs(d10, exist_ok=True)
pick = list(range(0, n, 33))[:30]
batches = [("data_batch_%d.bin" % (b + 1), pick[4 * b:4 * b + 4]) for b in range(5)]
for name, idx in batches + [("test_batch.bin", pick[20:30])]:
    with open(os.path.join(d10, name), "wb") as f:
        for i in idx:
            f.write(bytes([labels[i]]) + planar(i))
with open(os.path.join(d10, "batches.meta.txt"), "w") as f:
    f.write("\n".join(classes) + "\n\n")
d100 = os.path.join(out, "cifar100-bin")
os.makedirs(d100, exist_ok=True)
with open(os.path.join(d100, "train.bin"), "wb") as f:
    for j, i in enumerate(pick[:12]):
        f.write(bytes([labels[i] % 20, (labels[i] * 10 + j) % 100]) + planar(i))
with open(os.path.join(d100, "fine_label_names.txt"), "w") as f:
    f.write("\n".join("fine_%02d" % k for k in range(100)) + "\n")
with open(os.path.join(d100, "coarse_label_names.txt"), "w") as f:
    f.write("\n".join("coarse_%02d" % k for k in range(20)) + "\n")

# idx: grey versions (first channel) of 16 images at 28x28 (top-left crop).
didx = os.path.join(out, "idx")
os.makedirs(didx, exist_ok=True)
m = 16
ibytes = struct.pack(">IIII", 0x803, m, 28, 28)
for i in pick[:m]:
    for r in range(28):
        ibytes += bytes(img[i * 3072 + (r * 32 + q) * 3] for q in range(28))
lbytes = struct.pack(">II", 0x801, m) + bytes(labels[i] for i in pick[:m])
open(os.path.join(didx, "images-idx3-ubyte"), "wb").write(ibytes)
open(os.path.join(didx, "labels-idx1-ubyte"), "wb").write(lbytes)
gzip.GzipFile(os.path.join(didx, "images-idx3-ubyte.gz"), "wb", mtime=0).write(ibytes)
gzip.GzipFile(os.path.join(didx, "labels-idx1-ubyte.gz"), "wb", mtime=0).write(lbytes)


# Image folder: 2 classes, 3 PNG each (written here) + 1 JPEG each (copied).
def png(path, width, height, rgb):
    raw = b"".join(b"\x00" + rgb[y * width * 3:(y + 1) * width * 3] for y in range(height))

    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xffffffff)
    data = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
    data += chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
    open(path, "wb").write(data)


dfold = os.path.join(out, "folder")
for ci, cname in enumerate(classes[:2]):
    os.makedirs(os.path.join(dfold, cname), exist_ok=True)
    idx = [i for i in range(n) if labels[i] == ci][:3]
    for j, i in enumerate(idx):
        png(os.path.join(dfold, cname, "%d.png" % j), 32, 32, bytes(img[i * 3072:(i + 1) * 3072]))
    jpgs = sorted(os.listdir(os.path.join(src, "test", cname)))
    data = open(os.path.join(src, "test", cname, jpgs[0]), "rb").read()
    open(os.path.join(dfold, cname, "z.jpg"), "wb").write(data)
print("fixtures written")
