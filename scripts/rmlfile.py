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
    """kvs: list of (key, value); tensors: list of (name, dtype, dims, flat values)."""
    table, blobs, off = b"", [], 0
    for name, dt, dims, values in tensors:
        code, fmt = DTYPES[dt]
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
