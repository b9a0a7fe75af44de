#!/usr/bin/env bash
# Builds the single-threaded browser/Node package into pkg/ (`npm run build`):
#   1. the library for wasm32 with simd128, in its own target dir ($CARGO_TARGET_DIR/wasm-single,
#      default target/wasm-single) so these RUSTFLAGS never
#      invalidate the native or test builds;
#   2. wasm-bindgen --target web (the CLI must equal the pinned `wasm-bindgen` crate, 0.2.130);
#   3. js/ (the facade) and pkg-template/ (package.json, README) copied beside the glue.
# No wasm-opt: Debian's binaryen 108 corrupts wasm-bindgen 0.2.130 output (see TOOLCHAIN notes).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

target_dir="${CARGO_TARGET_DIR:-target}/wasm-single"
out=pkg
wasm_bindgen_version=0.2.130

if [ "$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')" != "$wasm_bindgen_version" ]; then
  echo "build_wasm: wasm-bindgen $wasm_bindgen_version is needed (bash scripts/setup.sh --test installs it)" >&2
  exit 1
fi

RUSTFLAGS="-C target-feature=+simd128" cargo build --release --target wasm32-unknown-unknown \
  --no-default-features --lib --target-dir "$target_dir"

rm -rf "$out"
mkdir -p "$out"
wasm-bindgen --target web --out-dir "$out" --out-name ruvllm \
  "$target_dir/wasm32-unknown-unknown/release/ruvllm.wasm"
cp js/*.js "$out/"
cp -r pkg-template/. "$out/"
echo "build_wasm: $out/ruvllm_bg.wasm $(wc -c <"$out/ruvllm_bg.wasm") bytes" >&2
