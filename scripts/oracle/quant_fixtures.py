#!/usr/bin/env python3
"""Writes the block-type fixtures in tests/fixtures/quant/ from gguf-py (PyPI `gguf`).

For every block type gguf-py can dequantize, draws random blocks (random bits, with the f16
scale fields set to a mix of ordinary and extreme values: zero, subnormal, largest finite,
infinities, NaN), dequantizes them with gguf-py's numpy code and stores both. For the
activation types gguf-py can quantize (Q8_0, BF16, F16), stores f32 inputs and gguf-py's blocks.

    python3 scripts/oracle/quant_fixtures.py          # rewrites tests/fixtures/quant/

Deterministic (fixed seed): re-running with the same gguf and numpy versions gives the same files.
"""
import hashlib
import importlib.metadata
import json
import os
import sys

import numpy as np
import gguf
from gguf import GGMLQuantizationType as T
from gguf.quants import dequantize, quantize

OUT = os.path.join(os.path.dirname(__file__), "..", "..", "tests", "fixtures", "quant")

# Byte offsets of the f16 scale fields in each block (ggml-common.h layouts).
SCALE_FIELDS = {
    T.Q4_0: [0], T.Q4_1: [0, 2], T.Q5_0: [0], T.Q5_1: [0, 2], T.Q8_0: [0],
    T.Q2_K: [80, 82], T.Q3_K: [108], T.Q4_K: [0, 2], T.Q5_K: [0, 2], T.Q6_K: [208],
}
SPECIAL_F16 = np.array([0.0, -0.0, 2.0**-24, 2.0**-14, 65504.0, -65504.0, np.inf, -np.inf, np.nan],
                       dtype=np.float16)


def random_scales(rng, n):
    """Mostly ordinary magnitudes 1e-4..1 with random sign, ~10% extreme values."""
    mag = 10.0 ** rng.uniform(-4, 0, n)
    vals = (mag * rng.choice([-1.0, 1.0], n)).astype(np.float16)
    special = rng.random(n) < 0.1
    vals[special] = rng.choice(SPECIAL_F16, special.sum())
    return vals


def dequant_fixture(rng, qtype, n_blocks):
    block_elems, block_bytes = gguf.GGML_QUANT_SIZES[qtype]
    raw = rng.integers(0, 256, size=(n_blocks, block_bytes), dtype=np.uint8)
    if qtype == T.F16:
        raw = random_scales(rng, n_blocks).view(np.uint8).reshape(n_blocks, 2)
    elif qtype == T.F32:
        vals = (rng.standard_normal(n_blocks) * 10.0 ** rng.uniform(-3, 3, n_blocks)).astype(np.float32)
        vals[:4] = [0.0, -0.0, np.inf, -np.inf]
        raw = vals.view(np.uint8).reshape(n_blocks, 4)
    # BF16: all 65536 bit patterns are meaningful, random bits are the test.
    for off in SCALE_FIELDS.get(qtype, []):
        raw[:, off:off + 2] = random_scales(rng, n_blocks).view(np.uint8).reshape(n_blocks, 2)
    expected = dequantize(raw.reshape(-1), qtype) if qtype in (T.F32, T.F16) else dequantize(raw, qtype)
    expected = np.asarray(expected, dtype=np.float32).reshape(-1)
    assert expected.size == n_blocks * block_elems
    return raw.tobytes(), expected.astype("<f4").tobytes()


def quant_inputs(rng, n_blocks, block):
    x = rng.standard_normal((n_blocks, block)) * 10.0 ** rng.uniform(-3, 2, (n_blocks, 1))
    x[0] = 0.0                                   # all-zero block: scale 0, no division
    x[1] = 0.0
    x[1, 5] = -3.0e4                             # one dominant value
    x[2] = np.arange(block) * 0.5 - 8.0          # exact halves after scaling: rounding ties
    x[3] = 1e-30                                 # tiny but non-zero
    return x.astype(np.float32)


def main():
    np.seterr(invalid="ignore", over="ignore")  # inf * 0 scales are part of the test
    os.makedirs(OUT, exist_ok=True)
    rng = np.random.default_rng(20261125)
    manifest = {"generator": "scripts/oracle/quant_fixtures.py", "gguf": importlib.metadata.version("gguf"),
                "numpy": np.__version__, "dequantize": {}, "quantize": {}}
    for qtype in [T.F32, T.F16, T.BF16, T.Q4_0, T.Q4_1, T.Q5_0, T.Q5_1, T.Q8_0,
                  T.Q2_K, T.Q3_K, T.Q4_K, T.Q5_K, T.Q6_K]:
        block_elems, _ = gguf.GGML_QUANT_SIZES[qtype]
        n_blocks = max(64, 8192 // block_elems) if block_elems > 1 else 4096
        blocks, expected = dequant_fixture(rng, qtype, n_blocks)
        name = qtype.name
        with open(os.path.join(OUT, f"{name}.blocks"), "wb") as f:
            f.write(blocks)
        with open(os.path.join(OUT, f"{name}.f32"), "wb") as f:
            f.write(expected)
        manifest["dequantize"][name] = {"blocks": n_blocks, "sha256": hashlib.sha256(expected).hexdigest()}

    for qtype in [T.Q8_0, T.BF16, T.F16]:
        block = 32
        x = quant_inputs(rng, 64, block)
        if qtype == T.BF16:
            x.reshape(-1)[:3] = [np.nan, np.inf, 1.0 + 2.0**-8]   # NaN stays NaN; tie to even
        q = np.asarray(quantize(x, qtype))
        name = qtype.name
        with open(os.path.join(OUT, f"{name}.quantize.in.f32"), "wb") as f:
            f.write(x.astype("<f4").tobytes())
        with open(os.path.join(OUT, f"{name}.quantize.out.blocks"), "wb") as f:
            f.write(q.tobytes())
        manifest["quantize"][name] = {"values": int(x.size)}

    with open(os.path.join(OUT, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1, sort_keys=True)
        f.write("\n")
    print(f"wrote {len(manifest['dequantize'])} dequantize and {len(manifest['quantize'])} quantize fixtures to {os.path.normpath(OUT)}")


if __name__ == "__main__":
    sys.exit(main())
