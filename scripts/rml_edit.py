"""Rewrite an .rml file with some metadata keys changed, with valid
checksums, for tests of what the programs do with files whose bytes are
intact but whose content lies.

    rml_edit.py IN OUT KEY=JSON... [-KEY...] [labels=JSON]

KEY=JSON sets a key (a JSON string, number or list; strings may hold any
character, e.g. "\\u001b"); -KEY drops it. The pseudo-key @labels=JSON
replaces an i32 tensor "labels" with the given list (its length sets n,
and the images tensor is cut or repeated to match)."""
import json
import os
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rmlfile  # noqa: E402


def main(argv):
    src, dst, edits = argv[1], argv[2], argv[3:]
    kvs, tensors = rmlfile.read(src)
    order = list(kvs.keys())
    for e in edits:
        if e.startswith("-"):
            kvs.pop(e[1:], None)
            continue
        key, val = e.split("=", 1)
        val = json.loads(val)
        if key == "@labels":
            n = len(val)
            dt, dims, data = tensors["labels"]
            tensors["labels"] = ("i32", [n], struct.pack("<%di" % n, *val))
            dt, dims, data = tensors["images"]
            per = len(data) // dims[0] if dims[0] else dims[1] * dims[2] * dims[3]
            whole = (data * (n // max(dims[0], 1) + 1))[:n * per] if data else b""
            tensors["images"] = (dt, [n] + dims[1:], whole)
            continue
        if key not in kvs:
            order.append(key)
        kvs[key] = val
    out = [(k, kvs[k]) for k in order if k in kvs]
    ts = [(name, dt, dims, data) for name, (dt, dims, data) in tensors.items()]
    with open(dst, "wb") as f:
        f.write(rmlfile.container(out, ts))


if __name__ == "__main__":
    main(sys.argv)
