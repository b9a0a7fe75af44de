#!/usr/bin/env bash
# Builds the browser/Node package into pkg/ (`npm run build`): two wasm builds of the same crate.
#   single   (stable, +simd128, feature gpu: WebGPU): ruvllm.js + ruvllm_bg.wasm; runs anywhere
#            WebAssembly SIMD does.
#   threaded (nightly, +atomics,+bulk-memory,+mutable-globals,+simd128, shared imported memory,
#            std rebuilt with -Z build-std): ruvllm_threaded.js + ruvllm_threaded_bg.wasm; needs
#            a cross-origin isolated page (SharedArrayBuffer). js/engine.js picks one at run time.
# Each build has its own target dir ($CARGO_TARGET_DIR/wasm-single, .../wasm-threaded; default
# target/...) so these RUSTFLAGS never invalidate the native or test builds, nor each other.
# Then wasm-bindgen --target web (the CLI must equal the pinned `wasm-bindgen` crate, 0.2.130),
# and js/ (the facade) and pkg-template/ (package.json, README) copied beside the glue.
# No wasm-opt: Debian's binaryen 108 corrupts wasm-bindgen 0.2.130 output (see TOOLCHAIN notes).
# RUVLLM_BUILD=single|threaded builds only that one (pkg/ keeps the other's files).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

base="${CARGO_TARGET_DIR:-target}"
out=pkg
wasm_bindgen_version=0.2.130
which="${RUVLLM_BUILD:-all}"

if [ "$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')" != "$wasm_bindgen_version" ]; then
  echo "build_wasm: wasm-bindgen $wasm_bindgen_version is needed (bash scripts/setup.sh --test installs it)" >&2
  exit 1
fi

if [ "$which" = all ]; then
  rm -rf "$out"
fi
mkdir -p "$out"

if [ "$which" = all ] || [ "$which" = single ]; then
  dir="$base/wasm-single"
  # The single build has the GPU backend (WebGPU through wgpu); the threaded one is CPU-only.
  RUSTFLAGS="-C target-feature=+simd128" cargo build --release --target wasm32-unknown-unknown \
    --no-default-features --features gpu --lib --target-dir "$dir"
  wasm-bindgen --target web --out-dir "$out" --out-name ruvllm \
    "$dir/wasm32-unknown-unknown/release/ruvllm.wasm"
fi

if [ "$which" = all ] || [ "$which" = threaded ]; then
  # Exactly the flags of TOOLCHAIN.md ("Threads"): `+atomics` alone gives unshared memory and
  # wasm-bindgen then silently emits single-threaded glue (checked below).
  dir="$base/wasm-threaded"
  RUSTFLAGS="-C target-feature=+atomics,+bulk-memory,+mutable-globals,+simd128 \
-C link-arg=--shared-memory -C link-arg=--import-memory -C link-arg=--max-memory=4294967296 \
-C link-arg=--export=__wasm_init_tls -C link-arg=--export=__tls_size \
-C link-arg=--export=__tls_align -C link-arg=--export=__tls_base" \
    cargo +nightly build -Z build-std=panic_abort,std --release --target wasm32-unknown-unknown \
    --no-default-features --lib --target-dir "$dir"
  wasm-bindgen --target web --out-dir "$out" --out-name ruvllm_threaded \
    "$dir/wasm32-unknown-unknown/release/ruvllm.wasm"
  if ! grep -Eq "shared: ?true" "$out/ruvllm_threaded.js"; then
    echo "build_wasm: the threaded build's memory is not shared (wasm-bindgen emitted single-threaded glue)" >&2
    exit 1
  fi
fi

cp js/*.js "$out/"
cp -r pkg-template/. "$out/"
for f in "$out"/ruvllm*_bg.wasm; do
  echo "build_wasm: $f $(wc -c <"$f") bytes" >&2
done
