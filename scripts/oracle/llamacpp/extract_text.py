#!/usr/bin/env python3
"""Writes the perplexity text, tests/fixtures/llamacpp/alice_ch1-2.txt, from a public-domain source
shipped in a PyPI package, so its provenance is checkable by anyone:

  source : PyPI sdist Brotli==1.1.0 (Brotli-1.1.0.tar.gz, SHA-256 checked below),
           member Brotli-1.1.0/tests/testdata/alice29.txt (the Canterbury corpus file:
           Lewis Carroll, "Alice's Adventures in Wonderland" (1865), Millennium Fulcrum
           Edition 2.9; public domain)
  slice  : lines 14..472 (1-based, inclusive) = the "CHAPTER I" heading to the line before
           "CHAPTER III", i.e. chapters I and II
  change : CRLF -> LF; nothing else (indentation, double spaces and the `quotes' are kept)

Needs only pip and network access to PyPI. Idempotent: rewrites the same bytes, and fails if
the download or the result differs from the recorded SHA-256.
"""
import hashlib
import pathlib
import subprocess
import sys
import tarfile
import tempfile

SDIST = "Brotli-1.1.0.tar.gz"
SDIST_SHA256 = "81de08ac11bcb85841e440c13611c00b67d3bf82698314928d0b676362546724"
MEMBER = "Brotli-1.1.0/tests/testdata/alice29.txt"
MEMBER_SHA256 = "7467306ee0feed4971260f3c87421154a05be571d944e9cb021a5713700c38f0"
FIRST_LINE, LAST_LINE = 14, 472
OUT = pathlib.Path(__file__).resolve().parents[3] / "tests/fixtures/llamacpp/alice_ch1-2.txt"
OUT_SHA256 = "85a98a9be73091d18252d09176a9795a1e5f791622b325949662a1d18d0b57c9"


def sha256(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


def main() -> int:
    with tempfile.TemporaryDirectory() as d:
        subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
                        "--no-binary", ":all:", "Brotli==1.1.0", "-d", d], check=True)
        sdist = pathlib.Path(d) / SDIST
        data = sdist.read_bytes()
        if sha256(data) != SDIST_SHA256:
            sys.exit(f"{SDIST}: SHA-256 {sha256(data)} != {SDIST_SHA256}")
        with tarfile.open(sdist) as tar:
            raw = tar.extractfile(MEMBER).read()
    if sha256(raw) != MEMBER_SHA256:
        sys.exit(f"{MEMBER}: SHA-256 {sha256(raw)} != {MEMBER_SHA256}")
    lines = raw.decode("ascii").split("\r\n")
    text = "\n".join(lines[FIRST_LINE - 1:LAST_LINE]) + "\n"
    assert lines[FIRST_LINE - 1].strip() == "CHAPTER I"
    assert lines[LAST_LINE].strip() == "CHAPTER III"
    out = text.encode("ascii")
    if OUT_SHA256 is not None and sha256(out) != OUT_SHA256:
        sys.exit(f"result SHA-256 {sha256(out)} != {OUT_SHA256}")
    OUT.write_bytes(out)
    print(f"{OUT}: {len(out)} bytes, SHA-256 {sha256(out)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
