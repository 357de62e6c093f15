#!/usr/bin/env python3
"""Carry a life-cycle tables run (mk/tables.mk) from one machine to another,
small enough to commit: `make tables-carry` packs it, `make tables-restore`
unpacks it on a fresh checkout, and `make tables` continues where it stopped.

    tables_carry.py pack TT CARRY MODEL < PLAN
    tables_carry.py restore CARRY TT MODEL < PLAN

PLAN is `make -s tables-plan` (STAGE<TAB>TARGET lines). What a run holds,
and what the carry keeps of it (CARRY/manifest.json and CARRY/blobs/):
  - data/ (imports, parts, tasks) and sel/ (the selections): not kept, only
    their SHA-256: restore remakes them with make (the programs are
    deterministic) and stops if one differs from the carried run's;
  - .rml files (models, predictions, adversarial sets, metaopt's
    checkpoint): each tensor XOR the tensor of the same name and size of
    the nearest earlier file (MODEL, a model of an earlier stage, the clean
    images an attack started from), the rest as it is, compressed with xz:
    a stage model costs its adapters and head, not the backbone;
  - every other file (cells and their repetitions, logs, wall times) as it
    is, compressed;
  - never: *.tmp files and a cell's scratch files (faulty.rml, p.rml).
A cell that had not finished travels with the repetitions it had, and
scripts/tables_cell.sh continues after them.

Restore writes the files in the plan's order of stages, each with a
modification time later than those of the stages before it, so that make
finds every carried target up to date; it checks every file's SHA-256
against the manifest and then asks `make -q` of every carried target.
It writes into a directory that holds no run (data/ may be there already)
and refuses a MODEL other than the carried run's. MAKE (environment)
is the make command restore runs, from the directory of the Makefile."""
import hashlib
import json
import lzma
import os
import shutil
import struct
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rmlfile import layout  # noqa: E402

SCRATCH = ("faulty.rml", "p.rml")


def die(msg):
    sys.stderr.write("tables_carry.py: %s\n" % msg)
    sys.exit(1)


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def slurp(path, what):
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as ex:
        die("%s %s: %s" % (what, path, ex.strerror))


def read_plan(tt):
    """[(stage, target relative to tt)] in the plan's order."""
    plan = []
    for line in sys.stdin:
        stage, _, target = line.rstrip("\n").partition("\t")
        if not target.startswith(tt + "/"):
            die("the plan names %s, not under %s" % (target, tt))
        plan.append((int(stage), target[len(tt) + 1:]))
    if not plan:
        die("an empty plan (make -s tables-plan printed nothing)")
    return plan


def tensors(data):
    """{(name, length): (start, length)} of an .rml file's tensors, or None
    if data is not one."""
    try:
        return {(name, ln): (start, ln) for name, _, _, start, ln in layout(data)[1]}
    except (ValueError, struct.error, IndexError, UnicodeDecodeError):
        return None


def xor(a, b):
    n = len(a)
    return (int.from_bytes(a, "little") ^ int.from_bytes(b, "little")).to_bytes(n, "little")


def segments(data, table, ref, rtable):
    """The pieces of data: [start, length, ref_start or -1], covering it."""
    segs, pos = [], 0
    for key, (off, ln) in sorted(table.items(), key=lambda kv: kv[1][0]):
        if key not in rtable or off < pos or ln == 0:
            continue
        if off > pos:
            segs.append([pos, off - pos, -1])
        segs.append([off, ln, rtable[key][0]])
        pos = off + ln
    if pos < len(data):
        segs.append([pos, len(data) - pos, -1])
    return segs


def cost(data, segs, ref):
    """Bytes that differ from the reference (a proxy of the packed size)."""
    c = 0
    for start, ln, rstart in segs:
        if rstart < 0:
            c += ln
        else:
            c += ln - xor(data[start:start + ln], ref[rstart:rstart + ln]).count(0)
    return c


def payload(data, segs, ref):
    parts = []
    for start, ln, rstart in segs:
        piece = data[start:start + ln]
        parts.append(piece if rstart < 0 else xor(piece, ref[rstart:rstart + ln]))
    return b"".join(parts)


def rebuild(pay, segs, ref):
    out, pos = [], 0
    for start, ln, rstart in segs:
        piece = pay[pos:pos + ln]
        pos += ln
        out.append(piece if rstart < 0 else xor(piece, ref[rstart:rstart + ln]))
    return b"".join(out)


def owner(rel, targets):
    """The plan target a file of the run belongs to: itself, or the target
    it is a side file of (T.d/..., T.ckpt, T's stem with another suffix)."""
    if rel in targets:
        return rel
    for t in targets:
        if rel.startswith(t + ".") or rel.startswith(t + "/"):
            return t
        stem = os.path.splitext(t)[0]
        if os.path.splitext(rel)[0] == stem and os.path.dirname(rel) == os.path.dirname(t):
            return t
    return None


def pack(tt, carry, model):
    plan = read_plan(tt)
    stage = {t: s for s, t in plan}
    order = {t: i for i, (_, t) in enumerate(plan)}
    if not os.path.isdir(tt):
        die("%s: no such run" % tt)
    files = []
    for root, dirs, names in os.walk(tt):
        dirs.sort()
        for n in sorted(names):
            rel = os.path.relpath(os.path.join(root, n), tt)
            if n.endswith(".tmp") or (n in SCRATCH and ".json.d/" in rel):
                continue
            files.append(rel)
    if not any(f.startswith(("models/", "cells/")) for f in files):
        die("%s holds no model and no cell: nothing to carry" % tt)
    end = len(plan)
    # Made again on restore: data/ and the selections; the rest is carried.
    entries = []
    for rel in files:
        t = owner(rel, order)
        made = rel.startswith("data/") or rel.startswith("sel/")
        if made and rel.startswith("sel/") and rel not in order:
            made = False
        entries.append({"path": rel, "target": t, "stage": stage.get(t, 1 << 30),
                        "order": order.get(t, end), "how": "make" if made else "carry"})
    entries.sort(key=lambda e: (e["order"], e["path"] != e["target"], e["path"]))
    model_bytes = slurp(model, "MODEL")
    refs = [("@model", model_bytes, tensors(model_bytes))]
    tmp = carry.rstrip("/") + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(os.path.join(tmp, "blobs"))
    # One blob per target: its file and its side files (a cell's hundred
    # repetition logs) compress together and stay one file in the carry.
    groups = {}
    for e in entries:
        data = slurp(os.path.join(tt, e["path"]), "run file")
        e.update({"sha256": sha256(data), "size": len(data)})
        table = tensors(data)
        if e["how"] == "carry":
            best = None
            if table:
                for name, rdata, rtable in refs:
                    if not rtable or not any(k in rtable for k in table):
                        continue
                    segs = segments(data, table, rdata, rtable)
                    c = cost(data, segs, rdata)
                    if best is None or c < best[0]:
                        best = (c, name, segs, rdata)
            if best and best[0] < len(data):
                e.update({"ref": best[1], "segments": best[2]})
                pay = payload(data, best[2], best[3])
            else:
                pay = data
            blob = "blobs/" + (e["target"] or e["path"]).replace("/", "_") + ".xz"
            parts = groups.setdefault(blob, [])
            e.update({"blob": blob, "at": sum(len(x) for x in parts), "len": len(pay)})
            parts.append(pay)
        # Later files may be stored against this one (not the big imports).
        if table and len(data) < (64 << 20):
            refs.append((e["path"], data, table))
    packed = 0
    for blob, parts in groups.items():
        with open(os.path.join(tmp, blob), "wb") as f:
            f.write(lzma.compress(b"".join(parts), preset=6))
        packed += os.path.getsize(os.path.join(tmp, blob))
    manifest = {"format": 1, "model_sha256": sha256(model_bytes), "files": entries}
    with open(os.path.join(tmp, "manifest.json"), "w") as f:
        # One line a file, so that a diff of two carries reads.
        head = json.dumps({k: v for k, v in manifest.items() if k != "files"}, sort_keys=True)
        f.write(head[:-1] + ', "files": [\n')
        f.write(",\n".join(json.dumps(e, sort_keys=True, separators=(",", ":")) for e in entries))
        f.write("\n]}\n")
    shutil.rmtree(carry, ignore_errors=True)
    os.rename(tmp, carry)
    kept = sum(1 for e in entries if e["how"] == "carry")
    sys.stderr.write("tables_carry.py: %s: %d files carried in %.1f MB (%.1f MB in the run), "
                     "%d to make again\n" % (carry, kept, packed / 1e6,
                                             sum(e["size"] for e in entries) / 1e6, len(entries) - kept))


def restore(carry, tt, model):
    plan = read_plan(tt)
    try:
        manifest = json.load(open(os.path.join(carry, "manifest.json")))
    except (OSError, ValueError) as ex:
        die("%s: not a carried run (%s)" % (carry, ex))
    if manifest.get("format") != 1:
        die("%s: a carry of another format" % carry)
    model_bytes = slurp(model, "MODEL")
    if sha256(model_bytes) != manifest["model_sha256"]:
        die("MODEL=%s is not the model the carried run started from" % model)
    if os.path.isdir(tt):
        held = [os.path.join(r, n) for r, _, ns in os.walk(tt) for n in ns
                if not os.path.relpath(r, tt).split(os.sep)[0] == "data"]
        if held:
            die("%s holds a run already (%s); restore into a directory without one"
                % (tt, os.path.relpath(held[0], tt)))
    make = os.environ.get("MAKE", "make").split()
    entries = manifest["files"]
    planned = {t for _, t in plan}
    for e in entries:
        if e["how"] == "make" and e["path"] == e["target"] and e["path"] not in planned:
            die("%s: the plan has no target %s any more" % (carry, e["path"]))
    made = {}
    last = 0.0

    def stamp(path):
        nonlocal last
        t = max(time.time(), last + 0.01)
        os.utime(path, (t, t))
        last = t

    def check(e, data):
        if sha256(data) != e["sha256"]:
            if e["how"] == "make":
                die("%s made again differs from the carried run's (SHA-256): other data, or other "
                    "paths in its provenance (TT, CIFAR10 and TEST must be the same)" % e["path"])
            die("%s restored differs from the carried run's (SHA-256)" % e["path"])

    n_carried = n_made = 0
    blobs = {}
    for e in entries:
        path = os.path.join(tt, e["path"])
        if e["how"] == "make":
            if e["path"] != e["target"]:
                continue  # written by its target's recipe; checked below
            if e["path"] not in made:
                r = subprocess.run(make + [os.path.join(tt, e["path"])])
                if r.returncode:
                    die("make %s failed" % os.path.join(tt, e["path"]))
            data = slurp(path, "made file")
            check(e, data)
            made[e["path"]] = data
            n_made += 1
        else:
            if e["blob"] not in blobs:
                try:
                    blobs.clear()  # the entries of a blob are next to each other
                    blobs[e["blob"]] = lzma.decompress(open(os.path.join(carry, e["blob"]), "rb").read())
                except (OSError, lzma.LZMAError) as ex:
                    die("%s: %s" % (e["blob"], ex))
            pay = blobs[e["blob"]][e["at"]:e["at"] + e["len"]]
            if "ref" in e:
                if e["ref"] == "@model":
                    ref = model_bytes
                else:
                    rp = os.path.join(tt, e["ref"])
                    ref = made.get(e["ref"]) or slurp(rp, "reference")
                try:
                    data = rebuild(pay, e["segments"], ref)
                except (ValueError, OverflowError):
                    data = b""
            else:
                data = pay
            check(e, data)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path + ".tmp", "wb") as f:
                f.write(data)
            os.replace(path + ".tmp", path)
            n_carried += 1
        stamp(path)
    for e in entries:
        if e["how"] == "make" and e["path"] != e["target"]:
            try:
                check(e, open(os.path.join(tt, e["path"]), "rb").read())
            except OSError:
                die("%s was not made again" % e["path"])
    # Every carried target must now be up to date for make.
    done = [os.path.join(tt, e["path"]) for e in entries if e["path"] == e["target"] and e["path"] in planned]
    stale = []
    if subprocess.run(make + ["-q"] + done).returncode:
        stale = [t for t in done if subprocess.run(make + ["-q", t]).returncode]
    if stale:
        die("make would remake %s after the restore" % ", ".join(stale))
    sys.stderr.write("tables_carry.py: %s: %d files restored, %d made again and checked\n"
                     % (tt, n_carried, n_made))


def main():
    a = sys.argv[1:]
    if a[:1] == ["pack"] and len(a) == 4:
        pack(a[1], a[2], a[3])
    elif a[:1] == ["restore"] and len(a) == 4:
        try:
            restore(a[1], a[2], a[3])
        except (KeyError, TypeError, AttributeError) as ex:
            die("%s: a damaged manifest (%s)" % (a[1], ex))
    else:
        sys.stderr.write(__doc__)
        sys.exit(2)


if __name__ == "__main__":
    main()
