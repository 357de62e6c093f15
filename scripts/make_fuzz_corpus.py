#!/usr/bin/env python3
"""Write testdata/fuzz/: seed files for fuzzing the .rml reader, made by a
writer independent of the C library, from the layout in rmlops-format(5).
The valid-* files must parse and the broken-* files must be refused
(test_format checks both), so the spec, this writer and the reader are
checked against each other."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rmlfile import container  # noqa: E402

out = os.path.join("testdata", "fuzz")
os.makedirs(out, exist_ok=True)
ds = container([("kind", "dataset"), ("dataset.classes", ["a", "b"])],
               [("images", "u8", [2, 2, 2, 1], list(range(8))), ("labels", "i32", [2], [0, 1])])
files = {
    "valid-dataset.rml": ds,
    "valid-empty.rml": container([("kind", "predictions")], []),
    "valid-kinds.rml": container(
        [("kind", "model"), ("n", -5), ("x", 2.5), ("ia", [1, 2, 3]), ("fa", [0.5, 1.5]), ("s", ["p", ""])],
        [("w", "f32", [3], [1.0, -2.0, 0.5]), ("l", "i64", [2], [7, -7]), ("d", "f64", [1], [3.25])]),
    "broken-crc.rml": ds[:40] + bytes([ds[40] ^ 1]) + ds[41:],
    "broken-truncated.rml": ds[:len(ds) - 20],
    "broken-magic.rml": b"\x89RMX" + ds[4:],
}
for name, data in files.items():
    open(os.path.join(out, name), "wb").write(data)
print("%d seed files in %s" % (len(files), out))
