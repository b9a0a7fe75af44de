#!/usr/bin/env bash
# Everything `npm test` runs. Installs what is missing first (scripts/setup.sh --test).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

step() { printf '\n== %s\n' "$*"; }

step "setup"
bash scripts/setup.sh --test
python3 scripts/fetch_model.py >/dev/null
# The pinned devDependencies of the browser tests and the type check (puppeteer-core, typescript).
node -e 'require.resolve("puppeteer-core"); require.resolve("typescript/package.json")' 2>/dev/null \
  || npm ci --no-audit --no-fund

step "format and lints"
cargo fmt --check
cargo clippy --all-targets -- -D warnings

step "the core builds for wasm32 (no native-only dependency)"
cargo clippy --lib --target wasm32-unknown-unknown --no-default-features -- -D warnings

step "the simd128 kernels and their wasm tests pass the lints"
# `--profile test`: the library with its unit tests; the integration tests under tests/ are native.
RUSTFLAGS="-C target-feature=+simd128" cargo clippy --lib --profile test --target wasm32-unknown-unknown -- -D warnings

step "tests (the GPU ones on Mesa's lavapipe: a missing adapter fails them instead of skipping)"
# XDG_RUNTIME_DIR: Mesa's Vulkan loader complains on stderr when it is unset (headless machines).
RUVLLM_REQUIRE_GPU=1 XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-$(mktemp -d)}" cargo test

step "NEON kernels under qemu-aarch64 (with and without dotprod)"
# qemu's default CPU has dotprod (flavours NeonDotprod, Neon, Scalar); Cortex-A53 lacks it.
# (Without default features: the CLI and the GPU backend are not needed for the kernels.)
cargo test --no-default-features --target aarch64-unknown-linux-gnu --lib kernels::
QEMU_CPU=cortex-a53 cargo test --no-default-features --target aarch64-unknown-linux-gnu --lib kernels::

step "simd128 kernels under Node and headless Chromium"
# Only the kernel tests are marked `wasm_bindgen_test` (the rest of the unit tests are native
# `#[test]`s, compiled but not run here); the filter names them.
wasm_kernel_tests() {
  RUSTFLAGS="-C target-feature=+simd128" CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner \
    cargo test --target wasm32-unknown-unknown --lib -- --nocapture kernels::
}
wasm_kernel_tests
WASM_BINDGEN_USE_BROWSER=1 wasm_kernel_tests # chromedriver from PATH (scripts/setup.sh --test)

step "the wasm engine under Node (single-threaded build)"
# pkg/ (both builds: single, simd128; threaded, nightly with atomics and shared memory), then the engine as a user drives it: chunked
# loading with progress, llama.cpp's greedy text streamed and not, chat completions, abort,
# coded errors, a model too big for wasm32 refused early, malformed models, a panic.
npm run build
node tests/wasm/node_generate.mjs

step "the package's TypeScript types describe the API as it is used"
npx tsc -p tests/wasm/types

step "the wasm engine in a module Web Worker in headless Chromium (single-threaded build)"
# Served without COOP/COEP headers (no SharedArrayBuffer), as the single-threaded build must run.
node tests/wasm/browser_worker.mjs

step "the engine API on a page's main thread in headless Chromium (the engine in its own Worker)"
# Streaming, chat completions, abort, coded errors across the Worker, a panic, and a model URL
# loaded twice: the second time from the origin's cache, with no request (counted by the server).
node tests/wasm/browser_api.mjs

step "the GPU backend in the browser: backend webgpu on headless Chromium's WebGPU (SwiftShader, f32)"
# llama.cpp's greedy text on a raw and a chat prompt, streaming, abort, a lost device (gpu_lost,
# no hang); without WebGPU "webgpu" is code no_gpu and "auto" runs on the CPU, saying why.
node tests/wasm/browser_webgpu.mjs

step "the demo page (www/) in headless Chromium: it loads the default model, streams a reply, stops one, runs on WebGPU"
node tests/wasm/demo_page.mjs

step "the threaded build in headless Chromium (cross-origin isolated): the pool's stress test, same text as single"
# Thousands of random regions on 2-4 threads (helper Workers on the shared memory) checked exactly;
# the engine with threads: 2 gives the single build's greedy text; no COOP/COEP picks "single".
node tests/wasm/browser_threads.mjs

step "the packed npm package in a fresh Vite app and a plain module page (headless Chromium)"
# npm pack of pkg/ installed into a copy of tests/vite_app (Vite pinned by its own lockfile),
# built with vite build; threaded when isolated, single when not; llama.cpp's greedy text.
node tests/wasm/packaging.mjs

step "Miri: the format and quant layers, checked for undefined behaviour"
# The mmap code is foreign-function territory Miri cannot run; everything else in the layers
# below the model is pure Rust and runs under Miri's interpreter.
# Only the layers with byte-level views (bytemuck casts of file bytes) and the memory layer:
# the tokenizer, templates and model above them are safe Rust with no casts.
MIRIFLAGS="-Zmiri-strict-provenance" cargo +nightly miri test --no-default-features --lib -- gguf:: quant:: kernels:: mem:: pool::
