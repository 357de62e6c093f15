"""A small, independent writer of the .rml layout (rmlops-format(5)) for
the scripts that make fixtures and reference vectors."""
import struct
import zlib

MAGIC = b"\x89RML\r\n\x1a\n"
END = b"RMLEND\x00\x00"
DTYPES = {"f32": (0, "f"), "u8": (1, "B"), "i32": (2, "i"), "i64": (3, "q"), "f64": (4, "d")}


def kv_bytes(key, value):
    k = key.encode()
    out = struct.pack("<H", len(k)) + k
    if isinstance(value, int):
        return out + bytes([0]) + struct.pack("<q", value)
    if isinstance(value, float):
        return out + bytes([1]) + struct.pack("<d", value)
    if isinstance(value, str):
        s = value.encode()
        return out + bytes([2]) + struct.pack("<Q", len(s)) + s
    if value and isinstance(value[0], str):
        out += bytes([5]) + struct.pack("<Q", len(value))
        for v in value:
            s = v.encode()
            out += struct.pack("<Q", len(s)) + s
        return out
    if value and isinstance(value[0], float):
        return out + bytes([4]) + struct.pack("<Q", len(value)) + struct.pack("<%dd" % len(value), *value)
    return out + bytes([3]) + struct.pack("<Q", len(value)) + struct.pack("<%dq" % len(value), *value)


def container(kvs, tensors):
    """kvs: list of (key, value); tensors: list of (name, dtype, dims, flat
    values or their little-endian bytes)."""
    table, blobs, off = b"", [], 0
    for name, dt, dims, values in tensors:
        code, fmt = DTYPES[dt]
        if isinstance(values, (bytes, bytearray)):
            data = bytes(values)
        else:
            data = struct.pack("<%d%s" % (len(values), fmt), *values)
        n = name.encode()
        table += struct.pack("<H", len(n)) + n + bytes([code, len(dims)])
        table += struct.pack("<%dQ" % len(dims), *dims)
        table += struct.pack("<QQI", off, len(data), zlib.crc32(data) & 0xffffffff)
        blobs.append((off, data))
        off = (off + len(data) + 63) // 64 * 64
    body = struct.pack("<QQ", len(kvs), len(tensors)) + b"".join(kv_bytes(k, v) for k, v in kvs) + table
    head = MAGIC + struct.pack("<IIQ", 1, 0, len(body)) + body
    head += struct.pack("<I", zlib.crc32(head) & 0xffffffff)
    head += b"\x00" * ((-len(head)) % 64)
    data = b""
    for o, blob in blobs:
        data += b"\x00" * (o - len(data)) + blob
    return head + data + END


def layout(b):
    """(kvs dict, [(name, dtype code, dims, start, length)]) of an .rml
    file's bytes, start being where the tensor's data begins in b."""
    if b[:8] != MAGIC:
        raise ValueError("not an .rml file")
    ver, flags, hlen = struct.unpack_from("<IIQ", b, 8)
    pos = 24
    nkv, nt = struct.unpack_from("<QQ", b, pos)
    pos += 16
    kvs = {}
    for _ in range(nkv):
        (kl,) = struct.unpack_from("<H", b, pos)
        key = b[pos + 2:pos + 2 + kl].decode()
        pos += 2 + kl
        t = b[pos]
        pos += 1
        if t == 0:
            (v,) = struct.unpack_from("<q", b, pos)
            pos += 8
        elif t == 1:
            (v,) = struct.unpack_from("<d", b, pos)
            pos += 8
        elif t == 2:
            (sl,) = struct.unpack_from("<Q", b, pos)
            v = b[pos + 8:pos + 8 + sl].decode()
            pos += 8 + sl
        elif t == 5:
            (cnt,) = struct.unpack_from("<Q", b, pos)
            pos += 8
            v = []
            for _ in range(cnt):
                (sl,) = struct.unpack_from("<Q", b, pos)
                v.append(b[pos + 8:pos + 8 + sl].decode())
                pos += 8 + sl
        else:
            (cnt,) = struct.unpack_from("<Q", b, pos)
            fmt = "d" if t == 4 else "q"
            v = list(struct.unpack_from("<%d%s" % (cnt, fmt), b, pos + 8))
            pos += 8 + 8 * cnt
        kvs[key] = v
    data0 = 24 + hlen + 4
    data0 += (-data0) % 64
    table = []
    for _ in range(nt):
        (nl,) = struct.unpack_from("<H", b, pos)
        name = b[pos + 2:pos + 2 + nl].decode()
        pos += 2 + nl
        code, nd = b[pos], b[pos + 1]
        pos += 2
        dims = list(struct.unpack_from("<%dQ" % nd, b, pos))
        pos += 8 * nd
        off, ln, _crc = struct.unpack_from("<QQI", b, pos)
        pos += 20
        if data0 + off + ln > len(b):
            raise ValueError("tensor %s beyond the end of the file" % name)
        table.append((name, code, dims, data0 + off, ln))
    return kvs, table


def read(path):
    """(kvs dict, tensors dict name -> (dtype, dims, bytes)) of an .rml file;
    the inverse of container() for the scripts that check the engine's
    outputs against PyTorch."""
    b = open(path, "rb").read()
    try:
        kvs, table = layout(b)
    except ValueError as e:
        raise ValueError("%s: %s" % (path, e))
    names = {c: k for k, (c, _) in DTYPES.items()}
    tensors = {name: (names[code], dims, b[start:start + ln])
               for name, code, dims, start, ln in table}
    return kvs, tensors
