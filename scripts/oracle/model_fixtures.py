#!/usr/bin/env python3
"""Writes tests/fixtures/smollm2-135m-q4_1.gguf-py.tsv: what gguf-py reads in the default model.

One line per metadata key (type and value; strings and arrays as length + SHA-256 of their GGUF
encoding, floats as their bit patterns) and one per tensor (type, dims, data offset, byte size and
the SHA-256 of gguf-py's numpy dequantization to little-endian f32). The Rust test
tests/default_model.rs reads the same file with ruvllm and must agree on every line.

    python3 scripts/oracle/model_fixtures.py [MODEL]   # default: the model fetched by scripts/fetch_model.py
"""
import hashlib
import os
import struct
import subprocess
import sys

import numpy as np
from gguf import GGUFReader, GGUFValueType as VT
from gguf.quants import dequantize

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "..", "tests", "fixtures", "smollm2-135m-q4_1.gguf-py.tsv")

SCALAR = {VT.UINT8: "u8", VT.INT8: "i8", VT.UINT16: "u16", VT.INT16: "i16", VT.UINT32: "u32",
          VT.INT32: "i32", VT.FLOAT32: "f32", VT.BOOL: "bool", VT.STRING: "string", VT.UINT64: "u64",
          VT.INT64: "i64", VT.FLOAT64: "f64"}
NP = {VT.UINT8: "<u1", VT.INT8: "<i1", VT.UINT16: "<u2", VT.INT16: "<i2", VT.UINT32: "<u4", VT.INT32: "<i4",
      VT.FLOAT32: "<f4", VT.BOOL: "<u1", VT.UINT64: "<u8", VT.INT64: "<i8", VT.FLOAT64: "<f8"}


def gguf_string(s):
    b = s.encode("utf-8") if isinstance(s, str) else bytes(s)
    return struct.pack("<Q", len(b)) + b


def describe(field):
    t = field.types[0]
    if t == VT.ARRAY:
        et = field.types[1]
        vals = field.contents()
        if et == VT.STRING:
            enc = b"".join(gguf_string(s) for s in vals)
        elif et == VT.ARRAY:
            raise SystemExit(f"{field.name}: nested arrays are not expected in this model")
        else:
            enc = np.asarray(vals, dtype=NP[et]).tobytes()
        return "array", f"{SCALAR[et]}:{len(vals)}:{hashlib.sha256(enc).hexdigest()}"
    v = field.contents()
    if t == VT.STRING:
        b = v.encode("utf-8")
        return "string", f"{len(b)}:{hashlib.sha256(b).hexdigest()}"
    if t == VT.FLOAT32:
        return "f32", f"0x{struct.unpack('<I', struct.pack('<f', v))[0]:08x}"
    if t == VT.FLOAT64:
        return "f64", f"0x{struct.unpack('<Q', struct.pack('<d', v))[0]:016x}"
    if t == VT.BOOL:
        return "bool", "true" if v else "false"
    return SCALAR[t], str(int(v))


def main():
    model = sys.argv[1] if len(sys.argv) > 1 else subprocess.run(
        [sys.executable, os.path.join(HERE, "..", "fetch_model.py")], check=True, capture_output=True, text=True
    ).stdout.strip()
    r = GGUFReader(model)
    lines = [f"# gguf-py's reading of {os.path.basename(model)}; written by scripts/oracle/model_fixtures.py"]
    for name, field in r.fields.items():
        if name.startswith("GGUF."):
            continue  # header fields, not metadata
        ty, val = describe(field)
        lines.append(f"key\t{name}\t{ty}\t{val}")
    for t in r.tensors:
        values = np.asarray(dequantize(t.data, t.tensor_type), dtype=np.float32)
        digest = hashlib.sha256(values.astype("<f4").tobytes()).hexdigest()
        dims = ",".join(str(int(d)) for d in t.shape)
        lines.append(f"tensor\t{t.name}\t{t.tensor_type.name}\t{dims}\t{t.data_offset}\t{t.n_bytes}\t{digest}")
    with open(OUT, "w") as f:
        f.write("\n".join(lines) + "\n")
    print(f"wrote {len(lines) - 1} lines to {os.path.normpath(OUT)}")


if __name__ == "__main__":
    main()
