#!/usr/bin/env bash
# Everything `npm test` runs. Installs what is missing first (scripts/setup.sh --test).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

step() { printf '\n== %s\n' "$*"; }

step "setup"
bash scripts/setup.sh --test
python3 scripts/fetch_model.py >/dev/null

step "format and lints"
cargo fmt --check
cargo clippy --all-targets -- -D warnings

step "the core builds for wasm32 (no native-only dependency)"
cargo clippy --lib --target wasm32-unknown-unknown --no-default-features -- -D warnings

step "tests"
cargo test

step "NEON kernels under qemu-aarch64 (with and without dotprod)"
# qemu's default CPU has dotprod (flavours NeonDotprod, Neon, Scalar); Cortex-A53 lacks it.
cargo test --target aarch64-unknown-linux-gnu --lib kernels::
QEMU_CPU=cortex-a53 cargo test --target aarch64-unknown-linux-gnu --lib kernels::

step "Miri: the format and quant layers, checked for undefined behaviour"
# The mmap code is foreign-function territory Miri cannot run; everything else in the layers
# below the model is pure Rust and runs under Miri's interpreter.
# Only the layers with byte-level views (bytemuck casts of file bytes) and the memory layer:
# the tokenizer, templates and model above them are safe Rust with no casts.
MIRIFLAGS="-Zmiri-strict-provenance" cargo +nightly miri test --lib -- gguf:: quant:: kernels:: mem::
