#!/usr/bin/python3
"""Reference outputs for the operations AutoAugment and RandAugment add to
the AugMix list (lib/augment.c): invert, and Pillow's ImageEnhance
contrast, colour, brightness and sharpness, plus Cutout, computed here with
numpy from their definitions (Pillow's ImageEnhance blends the image with a
degenerate image, out = deg + factor * (img - deg); grey levels are
Pillow's integer luma; rmlops rounds to the nearest level). Pillow itself
is not needed, so the file can be remade anywhere numpy is.

Writes testdata/ref/augment_policy.txt, read by lib/tests/test_augment.c,
in the format of scripts/ref_corrupt.py ("name h w c", then the bytes in
hex), from the same test pattern.

    /usr/bin/python3 scripts/ref_policy.py [output]
"""
import sys

import numpy as np



def test_pattern(h, w, c):
    """scripts/ref_corrupt.py's pattern (that script needs Pillow)."""
    img = np.zeros((h, w, c), dtype=np.uint8)
    for y in range(h):
        for x in range(w):
            for ch in range(c):
                hsh = (((x * x + 3 * y * y + 7 * ch) * 2654435761) % 2**32) >> 24 & 31
                chk = ((x // 8 + y // 8) % 2) * 50
                img[y, x, ch] = 30 + (x * 4 + y * 2 + ch * 25 + hsh + chk) % 180
    return img


def to_u8(v):
    return np.clip(np.floor(v + 0.5), 0, 255).astype(np.uint8)


def luma(img):
    if img.shape[2] == 1:
        return img[..., 0].astype(np.int64)
    r, g, b = (img[..., k].astype(np.int64) for k in range(3))
    return (19595 * r + 38470 * g + 7471 * b + 0x8000) >> 16


def blend(deg, img, factor):
    deg = np.asarray(deg, dtype=np.float64)
    return to_u8(deg + factor * (img.astype(np.float64) - deg))


def contrast(img, f):
    return blend(np.floor(luma(img).mean() + 0.5), img, f)


def color(img, f):
    if img.shape[2] == 1:
        return img.copy()
    return blend(luma(img)[..., None].astype(np.float64), img, f)


def brightness(img, f):
    return blend(0.0, img, f)


def sharpness(img, f):
    x = img.astype(np.int64)
    s = 4 * x[1:-1, 1:-1]
    for dy in (0, 1, 2):
        for dx in (0, 1, 2):
            s = s + x[dy:dy + x.shape[0] - 2, dx:dx + x.shape[1] - 2]
    deg = x.astype(np.float64)
    deg[1:-1, 1:-1] = np.floor(s / 13.0 + 0.5)
    return blend(deg, img, f)


def cutout(img, size, cy, cx, value=128):
    out = img.copy()
    y0, x0 = cy - size // 2, cx - size // 2
    out[max(y0, 0):max(y0 + size, 0), max(x0, 0):max(x0 + size, 0)] = value
    return out


def cases():
    out = []
    for c in (3, 1):
        img = test_pattern(13, 16, c)
        out.append((f"invert_c{c}", 255 - img))
        for f in (0.1, 0.55, 1.9):
            out.append((f"contrast{f}_c{c}", contrast(img, f)))
            out.append((f"color{f}_c{c}", color(img, f)))
            out.append((f"brightness{f}_c{c}", brightness(img, f)))
            out.append((f"sharpness{f}_c{c}", sharpness(img, f)))
        out.append((f"cutout8_5_14_c{c}", cutout(img, 8, 5, 14)))
    img = test_pattern(20, 27, 3)
    out.append(("sharpness1.7_20x27", sharpness(img, 1.7)))
    out.append(("contrast1.6_20x27", contrast(img, 1.6)))
    out.append(("cutout7_19_0_20x27", cutout(img, 7, 19, 0)))
    return out


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else "testdata/ref/augment_policy.txt"
    with open(path, "w") as f:
        f.write("# numpy %s reference outputs, made by scripts/ref_policy.py\n"
                % np.__version__)
        for name, a in cases():
            h, w, c = a.shape
            f.write(f"{name} {h} {w} {c}\n{a.tobytes().hex()}\n")


if __name__ == "__main__":
    main()
