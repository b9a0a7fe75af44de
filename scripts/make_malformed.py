#!/usr/bin/env python3
"""Writes the malformed-GGUF corpus in tests/fixtures/malformed/ and its manifest.

Independent of ruvllm's own writer: every file is packed here with `struct`, from a small valid
base file, by truncating it at every header field or by patching one field. manifest.tsv names,
for each file, the error kind the reader must report (ruvllm's `GgufError::kind()`), derived here
from the GGUF rules rather than from running ruvllm.

    python3 scripts/make_malformed.py
"""
import os
import struct
import sys

sys.setrecursionlimit(100_000)  # the deep-nesting case is built recursively

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "malformed")

U8, I8, U16, I16, U32, I32, F32, BOOL, STRING, ARRAY, U64, I64, F64 = range(13)
SCALAR_FMT = {U8: "<B", I8: "<b", U16: "<H", I16: "<h", U32: "<I", I32: "<i", F32: "<f", BOOL: "<B",
              U64: "<Q", I64: "<q", F64: "<d"}
MIN_SIZE = {U8: 1, I8: 1, BOOL: 1, U16: 2, I16: 2, U32: 4, I32: 4, F32: 4, U64: 8, I64: 8, F64: 8,
            STRING: 8, ARRAY: 12}
T_F32, T_Q8_0, T_Q4_0 = 0, 8, 2
MIN_KV, MIN_TENSOR_INFO = 13, 24


class Buf:
    """Appends GGUF fields and records each one: (start, end, kind, name, containers)."""

    def __init__(self, record=True):
        self.record = record
        self.b = bytearray()
        self.fields = []
        self.arrays = []  # open arrays: (elements_start, count, min_size)

    def fixed(self, fmt, v, name):
        start = len(self.b)
        self.b += struct.pack(fmt, v)
        self._field(start, "fixed", name)

    def _field(self, start, kind, name):
        if self.record:
            self.fields.append((start, len(self.b), kind, name, list(self.arrays)))

    def raw(self, data, name):
        start = len(self.b)
        self.b += data
        self._field(start, "fixed", name)

    def string(self, s, name):
        data = s.encode() if isinstance(s, str) else s
        self.fixed("<Q", len(data), f"length of {name}")
        start = len(self.b)
        self.b += data
        if data:
            self._field(start, "strbody", name)

    def value(self, t, v, name):
        if t == STRING:
            self.string(v, name)
        elif t == ARRAY:
            et, items = v
            self.fixed("<I", et, f"element type of {name}")
            self.fixed("<Q", len(items), f"count of {name}")
            if self.record:
                self.arrays.append((len(self.b), len(items), MIN_SIZE[et]))
            for i, item in enumerate(items):
                self.value(et, item, f"{name}[{i}]" if self.record else name)
            if self.record:
                self.arrays.pop()
        else:
            self.fixed(SCALAR_FMT[t], v, name)


KVS = [
    ("general.architecture", STRING, "llama"),
    ("general.alignment", U32, 32),
    ("t.flag", BOOL, 1),
    ("t.f32", F32, 0.5),
    ("t.ids", ARRAY, (I32, [1, -2, 3])),
    ("t.words", ARRAY, (STRING, ["ab", "c"])),
    ("t.nested", ARRAY, (ARRAY, [(U8, [7, 8]), (STRING, ["z"])])),
]
TENSORS = [("t0", [8], T_F32, 0, 32), ("t1", [32, 2], T_Q8_0, 32, 68)]


def base():
    """The valid base file, and the recorded fields of its header."""
    b = Buf()
    b.raw(b"GGUF", "magic")
    b.fixed("<I", 3, "version")
    b.fixed("<Q", len(TENSORS), "tensor count")
    b.fixed("<Q", len(KVS), "metadata count")
    for key, t, v in KVS:
        b.string(key, f"key {key}")
        b.fixed("<I", t, f"type of {key}")
        b.value(t, v, f"value of {key}")
    infos_start = len(b.b)
    for name, dims, t, off, _ in TENSORS:
        b.string(name, f"name of {name}")
        b.fixed("<I", len(dims), f"n_dims of {name}")
        for i, d in enumerate(dims):
            b.fixed("<Q", d, f"dim {i} of {name}")
        b.fixed("<I", t, f"type of {name}")
        b.fixed("<Q", off, f"offset of {name}")
    header_end = len(b.b)
    b.b += bytes((-len(b.b)) % 32)
    data_start = len(b.b)
    for name, dims, t, off, size in TENSORS:
        assert len(b.b) == data_start + off
        b.b += bytes(range(size % 256)) + bytes(size - size % 256)
        b.b += bytes((-len(b.b)) % 32)
    return b, infos_start, header_end


def expected_for_cut(cut, fields, infos_start):
    """The error a reader following the GGUF rules reports for the base file cut to `cut` bytes."""
    if cut < 24:
        return "Truncated"
    remaining = cut - 24
    if len(KVS) * MIN_KV > remaining or len(TENSORS) * MIN_TENSOR_INFO > remaining:
        return "CountTooLarge"
    for start, end, kind, name, arrays in fields:
        if start <= cut < end or (kind == "strbody" and cut == start):
            for elems_start, count, min_size in arrays:
                if count * min_size > cut - elems_start:
                    return "CountTooLarge"
            if start >= infos_start and len(TENSORS) * MIN_TENSOR_INFO > cut - infos_start:
                return "CountTooLarge"
            return "StringTooLong" if kind == "strbody" else "Truncated"
    raise AssertionError(f"cut {cut} is in no field")


def patched(data, at, fmt, v):
    d = bytearray(data)
    struct.pack_into(fmt, d, at, v)
    return bytes(d)


def field_start(fields, name):
    return next(f[0] for f in fields if f[3] == name)


def build(kvs, tensors, data=b"", version=3):
    """A whole file from explicit parts, for the cases that are easier to state than to patch."""
    b = Buf(record=False)
    b.raw(b"GGUF", "magic")
    b.fixed("<I", version, "version")
    b.fixed("<Q", len(tensors), "tensor count")
    b.fixed("<Q", len(kvs), "metadata count")
    for key, t, v in kvs:
        b.string(key, "key")
        b.fixed("<I", t, "type")
        b.value(t, v, "value")
    for name, dims, t, off in tensors:
        b.string(name, "name")
        b.fixed("<I", len(dims), "n_dims")
        for d in dims:
            b.fixed("<Q", d, "dim")
        b.fixed("<I", t, "type")
        b.fixed("<Q", off, "offset")
    b.b += bytes((-len(b.b)) % 32)
    return bytes(b.b) + data


def main():
    os.makedirs(OUT, exist_ok=True)
    for f in os.listdir(OUT):
        os.remove(os.path.join(OUT, f))
    b, infos_start, header_end = base()
    good = bytes(b.b)
    fields = b.fields
    cases = []

    # Truncation at the start and in the middle of every header field.
    cuts = set()
    for start, end, kind, name, _ in fields:
        cuts.add((start, name))
        if end - start > 1:
            cuts.add((start + (end - start) // 2, name))
    for cut, name in sorted(cuts):
        label = name.replace(" ", "_").replace("[", "_").replace("]", "").replace(".", "_")
        cases.append((f"truncated_at_{cut:04d}_{label}.gguf", good[:cut], expected_for_cut(cut, fields, infos_start),
                      f"cut to {cut} bytes, inside or at {name}"))
    cases.append(("truncated_in_padding.gguf", good[:header_end + 1], "TensorOutOfBounds",
                  "header complete, data section missing"))
    cases.append(("truncated_in_tensor_data.gguf", good[:len(good) - 40], "TensorOutOfBounds",
                  "last tensor's data cut short"))

    at = lambda name: field_start(fields, name)
    cases += [
        ("empty.gguf", b"", "Truncated", "zero bytes"),
        ("bad_magic.gguf", b"GGML" + good[4:], "BadMagic", "magic is GGML"),
        ("version_1.gguf", patched(good, 4, "<I", 1), "UnsupportedVersion", "GGUF v1 (32-bit counts) is refused"),
        ("version_4.gguf", patched(good, 4, "<I", 4), "UnsupportedVersion", "unknown future version"),
        ("version_big_endian.gguf", patched(good, 4, "<I", 0x03000000), "UnsupportedVersion", "big-endian GGUF"),
        ("huge_kv_count.gguf", patched(good, 16, "<Q", 10**12), "CountTooLarge", "10^12 metadata entries"),
        ("kv_count_overflow.gguf", patched(good, 16, "<Q", 2**63), "SizeOverflow", "kv count x min entry size overflows"),
        ("huge_tensor_count.gguf", patched(good, 8, "<Q", 10**12), "CountTooLarge", "10^12 tensors"),
        ("huge_key_length.gguf", patched(good, at("length of key general.architecture"), "<Q", 2**64 - 1),
         "StringTooLong", "key length u64::MAX"),
        ("huge_string_value.gguf", patched(good, at("length of value of general.architecture"), "<Q", 2**40),
         "StringTooLong", "string value of 2^40 bytes"),
        ("huge_array_count.gguf", patched(good, at("count of value of t.ids"), "<Q", 2**40),
         "CountTooLarge", "i32 array of 2^40 elements"),
        ("array_size_overflow.gguf", patched(good, at("count of value of t.ids"), "<Q", 2**62 + 1),
         "SizeOverflow", "i32 array whose count x 4 overflows u64"),
        ("string_array_size_overflow.gguf", patched(good, at("count of value of t.words"), "<Q", 2**61 + 7),
         "SizeOverflow", "string array whose count x 8 overflows u64"),
        ("nested_array_count_overflow.gguf", patched(good, at("count of value of t.nested"), "<Q", 2**62 + 3),
         "SizeOverflow", "array of arrays whose count x 12 overflows u64"),
        ("unknown_value_type.gguf", patched(good, at("type of t.flag"), "<I", 13), "UnknownValueType",
         "metadata value type 13"),
        ("unknown_array_element_type.gguf", patched(good, at("element type of value of t.ids"), "<I", 99),
         "UnknownValueType", "array element type 99"),
        ("invalid_bool.gguf", patched(good, at("value of t.flag"), "<B", 2), "InvalidBool", "bool byte 2"),
        ("invalid_utf8_key.gguf", patched(good, at("key general.architecture") + 8, "<B", 0xff), "InvalidUtf8",
         "key with byte 0xff"),
        ("invalid_utf8_value.gguf", patched(good, at("value of general.architecture") + 1, "<B", 0xc3),
         "InvalidUtf8", "string value cut inside a UTF-8 sequence"),
        ("unknown_tensor_type_4.gguf", patched(good, at("type of t0"), "<I", 4), "UnknownTensorType",
         "tensor type 4 (removed Q4_2)"),
        ("unknown_tensor_type_1000.gguf", patched(good, at("type of t0"), "<I", 1000), "UnknownTensorType",
         "tensor type 1000"),
        ("too_many_dims.gguf", patched(good, at("n_dims of t0"), "<I", 5), "TooManyDims", "5 dimensions"),
        ("huge_n_dims.gguf", patched(good, at("n_dims of t0"), "<I", 2**32 - 1), "TooManyDims",
         "u32::MAX dimensions"),
        ("dims_overflow.gguf", patched(good, at("dim 1 of t1"), "<Q", 2**60), "DimsOverflow",
         "32 x 2^60 elements overflow u64"),
        ("row_not_block_multiple.gguf", patched(good, at("dim 0 of t1"), "<Q", 20), "RowNotBlockMultiple",
         "Q8_0 rows of 20 values"),
        ("misaligned_tensor.gguf", patched(good, at("offset of t1"), "<Q", 33), "TensorMisaligned",
         "offset 33 with alignment 32"),
        ("tensor_past_end.gguf", patched(good, at("offset of t1"), "<Q", 2**20), "TensorOutOfBounds",
         "data offset 1 MiB in a small file"),
        ("tensor_offset_wraps.gguf", patched(good, at("offset of t1"), "<Q", 2**64 - 32), "TensorOutOfBounds",
         "data offset + data start overflows u64"),
        ("overlapping_tensors.gguf", patched(good, at("offset of t1"), "<Q", 0), "TensorOverlap",
         "t1 placed on top of t0"),
        ("alignment_zero.gguf", patched(good, at("value of general.alignment"), "<I", 0), "BadAlignment",
         "general.alignment = 0"),
        ("alignment_not_power_of_two.gguf", patched(good, at("value of general.alignment"), "<I", 48),
         "BadAlignment", "general.alignment = 48"),
        ("alignment_wrong_type.gguf",
         build([("general.alignment", U64, 32)], [("t0", [8], T_F32, 0)], bytes(32)), "WrongValueType",
         "general.alignment stored as u64"),
        ("tensor_bytes_overflow.gguf", build([], [("big", [2**62], T_F32, 0)]), "SizeOverflow",
         "2^62 f32 values: element count fits, byte size overflows"),
        ("duplicate_key.gguf", build([("a", U8, 1), ("a", U8, 2)], []), "DuplicateKey", "key 'a' twice"),
        ("duplicate_tensor.gguf", build([], [("w", [8], T_F32, 0), ("w", [8], T_F32, 32)], bytes(64)),
         "DuplicateTensor", "tensor 'w' twice"),
        ("deep_nesting_9.gguf", build([("deep", ARRAY, nest(9))], []), "NestingTooDeep", "arrays nested 9 deep"),
        ("deep_nesting_10000.gguf", build([("deep", ARRAY, nest(10000))], []), "NestingTooDeep",
         "arrays nested 10000 deep (a recursive reader without a bound overflows its stack)"),
        ("unsupported_iq2_xxs.gguf", build([], [("blk.0.ffn_up.weight", [256], 16, 0)], bytes(66)),
         "UnsupportedTensorType", "valid file whose tensor type IQ2_XXS this runtime cannot compute with"),
    ]

    # The corpus must not accidentally contain the valid base file.
    with open(os.path.join(OUT, "manifest.tsv"), "w") as m:
        m.write("# file\texpected error kind\twhat is wrong; written by scripts/make_malformed.py\n")
        for name, data, kind, what in cases:
            assert data != good, name
            with open(os.path.join(OUT, name), "wb") as f:
                f.write(data)
            m.write(f"{name}\t{kind}\t{what}\n")
    with open(os.path.join(OUT, "valid_base.gguf"), "wb") as f:
        f.write(good)
    print(f"wrote {len(cases)} malformed files and valid_base.gguf to {os.path.normpath(OUT)}")


def nest(depth):
    """An array value nested `depth` levels deep (depth 1 = a plain array of u8)."""
    v = (U8, [1])
    for _ in range(depth - 1):
        v = (ARRAY, [v])
    return v


if __name__ == "__main__":
    main()
