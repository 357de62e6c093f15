#!/usr/bin/python3
"""Reference outputs of Pillow for the augmentations and corruptions that
rmlops reimplements with Pillow's conventions (lib/augment.c,
lib/corrupt.c): autocontrast, equalize, posterize, solarize, bilinear
affine maps (rotate, shear, translate) and BOX pixelation.

Writes testdata/ref/augment_pil.txt, read by lib/tests/test_augment.c and
lib/tests/test_corrupt.c. Format: for each case a line
"name h w c" followed by one line of h*w*c bytes in hex.

The input images are the integer pattern of test_pattern() below, which
the C tests compute the same way, so no image needs to be stored.

    /usr/bin/python3 scripts/ref_corrupt.py [output]
"""
import sys

import numpy as np
from PIL import Image, ImageOps


def test_pattern(h, w, c):
    """Gradients, 8-pixel checks and hashed texture, values in 30..209:
    a stand-in for a natural image with edges, smooth parts and noise."""
    img = np.zeros((h, w, c), dtype=np.uint8)
    for y in range(h):
        for x in range(w):
            for ch in range(c):
                hsh = (((x * x + 3 * y * y + 7 * ch) * 2654435761) % 2**32) >> 24 & 31
                chk = ((x // 8 + y // 8) % 2) * 50
                img[y, x, ch] = 30 + (x * 4 + y * 2 + ch * 25 + hsh + chk) % 180
    return img


def pil(img):
    return Image.fromarray(img[..., 0] if img.shape[2] == 1 else img)


def arr(im, c):
    a = np.asarray(im, dtype=np.uint8)
    return a.reshape(a.shape[0], a.shape[1], c)


def cases():
    out = []
    for c in (3, 1):
        img = test_pattern(32, 32, c)
        im = pil(img)
        grey = 128 if c == 1 else (128, 128, 128)
        out.append((f"autocontrast_c{c}", arr(ImageOps.autocontrast(im), c)))
        out.append((f"equalize_c{c}", arr(ImageOps.equalize(im), c)))
        out.append((f"posterize3_c{c}", arr(ImageOps.posterize(im, 3), c)))
        out.append((f"solarize100_c{c}", arr(ImageOps.solarize(im, 100), c)))
        out.append((f"rotate17_c{c}",
                    arr(im.rotate(17, resample=Image.BILINEAR, fillcolor=grey), c)))
        out.append((f"rotate-23_c{c}",
                    arr(im.rotate(-23, resample=Image.BILINEAR, fillcolor=grey), c)))
        out.append((f"shearx0.21_c{c}",
                    arr(im.transform((32, 32), Image.AFFINE, (1, 0.21, 0, 0, 1, 0),
                                     resample=Image.BILINEAR, fillcolor=grey), c)))
        out.append((f"sheary-0.13_c{c}",
                    arr(im.transform((32, 32), Image.AFFINE, (1, 0, 0, -0.13, 1, 0),
                                     resample=Image.BILINEAR, fillcolor=grey), c)))
        out.append((f"translatex5_c{c}",
                    arr(im.transform((32, 32), Image.AFFINE, (1, 0, 5, 0, 1, 0),
                                     resample=Image.BILINEAR, fillcolor=grey), c)))
        for sev, f in enumerate([0.95, 0.9, 0.85, 0.75, 0.65], start=1):
            small = im.resize((int(32 * f), int(32 * f)), Image.BOX)
            out.append((f"pixelate{sev}_c{c}", arr(small.resize((32, 32), Image.BOX), c)))
    # A non-square image, so rows and columns cannot be confused.
    img = test_pattern(20, 27, 3)
    im = pil(img)
    out.append(("pixelate5_20x27", arr(im.resize((int(27 * 0.65), int(20 * 0.65)),
                                                 Image.BOX).resize((27, 20), Image.BOX), 3)))
    out.append(("rotate40_20x27", arr(im.rotate(40, resample=Image.BILINEAR,
                                                fillcolor=(128, 128, 128)), 3)))
    return out


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else "testdata/ref/augment_pil.txt"
    with open(path, "w") as f:
        f.write("# Pillow %s reference outputs, made by scripts/ref_corrupt.py\n"
                % Image.__version__)
        for name, a in cases():
            h, w, c = a.shape
            f.write(f"{name} {h} {w} {c}\n{a.tobytes().hex()}\n")


if __name__ == "__main__":
    main()
