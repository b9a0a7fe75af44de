#!/usr/bin/env python3
"""Writes the weight-quantization fixtures tests/fixtures/quant/quantize_<TYPE>.{in.f32,out.blocks}
with ggml's own reference quantizers (`quantize_row_<type>_ref`), called through ctypes in the
prebuilt libggml-base.so that node-llama-cpp 3.22.1 ships (llama.cpp release v0.5.0, linux-x64,
CPU build). Nothing is compiled.

    bash scripts/oracle/llamacpp/regenerate.sh   # once: installs node-llama-cpp (npm registry)
    python3 scripts/oracle/quantize_fixtures.py  # rewrites the quantize_* fixtures

For each type, draws rows of f32 values (fixed seed) from several distributions: normal at many
scales, uniform (two-sided and one-sided), heavy-tailed, all zeros, one huge outlier, constant
rows, exact rounding ties, sparse rows, tiny/subnormal/large magnitudes, sub-blocks of very
different scales. Rows are 256 values for the 32-value types and 1024 (four super-blocks) for the
K types. `quantize_<TYPE>.in.f32` holds the rows (little-endian f32), `quantize_<TYPE>.out.blocks`
ggml's blocks for them; `quantize_manifest.json` lists the row kinds, the versions and checksums.

Needs only the standard library and numpy. Deterministic: same numpy, same binary, same files.
"""
import ctypes
import hashlib
import json
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
OUT = os.path.join(ROOT, "tests", "fixtures", "quant")
NODE_MODULES = os.path.join(HERE, "llamacpp", "node_modules")
BINS = os.path.join(NODE_MODULES, "@node-llama-cpp", "linux-x64", "bins", "linux-x64")
LIB = os.environ.get("RUVLLM_GGML_BASE_SO", os.path.join(BINS, "libggml-base.so"))

SEED = 20260928

# name: (values per block, bytes per block, values per row, rows)
TYPES = {
    "Q4_0": (32, 18, 256, 48),
    "Q4_1": (32, 20, 256, 48),
    "Q5_0": (32, 22, 256, 48),
    "Q5_1": (32, 24, 256, 48),
    "Q8_0": (32, 34, 256, 48),
    "Q4_K": (256, 144, 1024, 32),
    "Q6_K": (256, 210, 1024, 32),
}


def fail(msg):
    sys.stderr.write(f"quantize_fixtures.py: {msg}\n")
    sys.exit(1)


def load_ggml():
    if not os.path.isfile(LIB):
        fail(f"{LIB} not found: node-llama-cpp's prebuilt llama.cpp is not installed.\n"
             "Run `bash scripts/oracle/llamacpp/regenerate.sh` first (it installs node-llama-cpp 3.22.1 "
             "from the npm registry), or set RUVLLM_GGML_BASE_SO to a libggml-base.so.")
    try:
        lib = ctypes.CDLL(LIB)
    except OSError as e:
        fail(f"cannot load {LIB}: {e}")
    fns = {}
    for name in TYPES:
        sym = f"quantize_row_{name.lower().replace('_k', '_K')}_ref"
        try:
            fn = getattr(lib, sym)
        except AttributeError:
            fail(f"{LIB} does not export {sym}")
        # void quantize_row_<t>_ref(const float * x, block_<t> * y, int64_t k)
        fn.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64]
        fn.restype = None
        fns[name] = (sym, fn)
    return fns


def ggml_quantize(fn, x, block_elems, block_bytes):
    """Quantizes one row with ggml; returns the block bytes."""
    x = np.ascontiguousarray(x, dtype="<f4")
    out = (ctypes.c_uint8 * (x.size // block_elems * block_bytes))()
    fn(x.ctypes.data, ctypes.addressof(out), x.size)
    return bytes(out)


def row_kinds(block):
    """Row generators by name: each takes (rng, n) and returns n float64 values."""
    def scale(rng):
        return 10.0 ** rng.uniform(-4, 3)

    def normal(rng, n):
        return rng.standard_normal(n) * scale(rng)

    def normal_unit(rng, n):
        return rng.standard_normal(n)

    def uniform(rng, n):
        return rng.uniform(-1, 1, n) * scale(rng)

    def uniform_positive(rng, n):
        return rng.uniform(0, 1, n) * scale(rng)

    def uniform_negative(rng, n):
        return -rng.uniform(0, 1, n) * scale(rng)

    def shifted_normal(rng, n):
        # All or most of each block on one side of zero: the K types' min term matters.
        return (rng.standard_normal(n) + rng.choice([-4.0, 4.0])) * scale(rng)

    def heavy_tailed(rng, n):
        return rng.standard_t(1.5, n) * scale(rng)

    def cauchy(rng, n):
        return rng.standard_cauchy(n) * 0.01

    def zeros(rng, n):
        return np.zeros(n)

    def negative_zeros(rng, n):
        return np.full(n, -0.0)

    def outlier(rng, n):
        x = rng.standard_normal(n)
        x[rng.integers(n)] = rng.choice([-1.0, 1.0]) * 10.0 ** rng.uniform(3, 5)
        return x

    def constant(rng, n):
        return np.full(n, rng.choice([-1.0, 1.0]) * 10.0 ** rng.uniform(-3, 2))

    def constant_blocks(rng, n):
        # Each block constant, a different constant per block (Q4_1/Q5_1: max == min, d = 0).
        return np.repeat(rng.standard_normal(n // block), block)

    def ties(rng, n):
        # Multiples of 1/2 and 1/4: scaled values land on exact rounding ties.
        return rng.integers(-16, 17, n) * rng.choice([0.25, 0.5, 1.0])

    def small_integers(rng, n):
        return rng.integers(-8, 8, n).astype(np.float64)

    def sparse(rng, n):
        x = np.zeros(n)
        idx = rng.choice(n, n // 16, replace=False)
        x[idx] = rng.standard_normal(idx.size)
        return x

    def tiny(rng, n):
        # Scales that round to zero (or to subnormals) in f16.
        return rng.standard_normal(n) * 10.0 ** rng.uniform(-12, -7)

    def subnormal(rng, n):
        # f32 subnormals: 1/d overflows to infinity in the 32-value types.
        return rng.standard_normal(n) * 1e-40

    def large(rng, n):
        # Magnitudes up to 1e7: scales beyond f16's range (65504) become infinite, and the K
        # types' weighted sums of cubes overflow f32.
        return rng.standard_normal(n) * 10.0 ** rng.uniform(4, 7)

    def mixed_block_scales(rng, n):
        # Each 32-value (sub-)block its own magnitude, 1e-6..1e2: small sub-block scales round
        # to zero in the K types, leaving their values as the search chose them.
        return rng.standard_normal(n) * np.repeat(10.0 ** rng.uniform(-6, 2, n // 32), 32)

    def zero_sub_blocks(rng, n):
        x = rng.standard_normal(n)
        for b in range(n // 32):
            if rng.random() < 0.4:
                x[32 * b:32 * b + 32] = 0.0
        return x

    def equal_magnitudes(rng, n):
        # +a and -a in the same block: the first one of largest magnitude picks the sign of d.
        return rng.choice([-1.0, 1.0], n) * rng.choice([0.5, 1.0], n)

    def linear_ramp(rng, n):
        return np.linspace(-1, 1, n) * scale(rng)

    return [normal, normal_unit, uniform, uniform_positive, uniform_negative, shifted_normal,
            heavy_tailed, cauchy, zeros, negative_zeros, outlier, constant, constant_blocks, ties,
            small_integers, sparse, tiny, subnormal, large, mixed_block_scales, zero_sub_blocks,
            equal_magnitudes, linear_ramp]


def draw_rows(rng, block, n, rows):
    kinds = row_kinds(block)
    # Every kind once, then normal-ish rows (the common case) and random kinds for the rest.
    order = list(kinds)
    while len(order) < rows:
        order.append(kinds[0] if len(order) % 2 == 0 else kinds[rng.integers(len(kinds))])
    names, data = [], []
    for kind in order[:rows]:
        x = np.asarray(kind(rng, n), dtype=np.float32)
        assert x.shape == (n,) and np.all(np.isfinite(x)), kind.__name__
        names.append(kind.__name__)
        data.append(x)
    return names, np.stack(data)


def read_json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def main():
    np.seterr(all="ignore")
    fns = load_ggml()
    os.makedirs(OUT, exist_ok=True)
    rng = np.random.default_rng(SEED)

    with open(LIB, "rb") as f:
        lib_sha = hashlib.sha256(f.read()).hexdigest()
    nlc = read_json(os.path.join(NODE_MODULES, "node-llama-cpp", "package.json")) or {}
    prebuilt = read_json(os.path.join(NODE_MODULES, "@node-llama-cpp", "linux-x64", "package.json")) or {}
    build = read_json(os.path.join(BINS, "_nlcBuildMetadata.json")) or {}
    info = read_json(os.path.join(NODE_MODULES, "node-llama-cpp", "llama", "llama.cpp.info.json")) or {}

    manifest = {
        "generator": "scripts/oracle/quantize_fixtures.py",
        "oracle": "ggml quantize_row_<type>_ref (ctypes) in node-llama-cpp's prebuilt libggml-base.so",
        "node-llama-cpp": nlc.get("version"),
        "@node-llama-cpp/linux-x64": prebuilt.get("version"),
        "llama.cpp": info.get("tag") or build.get("buildOptions", {}).get("llamaCpp", {}).get("release"),
        "libggml-base.so sha256": lib_sha,
        "numpy": np.__version__,
        "seed": SEED,
        "types": {},
    }
    for name, (block_elems, block_bytes, n, rows) in TYPES.items():
        sym, fn = fns[name]
        kinds, x = draw_rows(rng, block_elems, n, rows)
        blocks = b"".join(ggml_quantize(fn, row, block_elems, block_bytes) for row in x)
        assert len(blocks) == rows * n // block_elems * block_bytes
        inputs = x.astype("<f4").tobytes()
        with open(os.path.join(OUT, f"quantize_{name}.in.f32"), "wb") as f:
            f.write(inputs)
        with open(os.path.join(OUT, f"quantize_{name}.out.blocks"), "wb") as f:
            f.write(blocks)
        manifest["types"][name] = {
            "function": sym,
            "row_values": n,
            "rows": rows,
            "block_values": block_elems,
            "block_bytes": block_bytes,
            "row_kinds": kinds,
            "in_sha256": hashlib.sha256(inputs).hexdigest(),
            "out_sha256": hashlib.sha256(blocks).hexdigest(),
        }
    with open(os.path.join(OUT, "quantize_manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1, sort_keys=True)
        f.write("\n")
    print(f"wrote quantize fixtures for {', '.join(TYPES)} to {os.path.relpath(OUT, ROOT)}")


if __name__ == "__main__":
    sys.exit(main())
