#!/usr/bin/env bash
# Installs what the project needs and is missing; safe to run again (does nothing then).
#   bash scripts/setup.sh          # what `npm start` needs
#   bash scripts/setup.sh --test   # plus what `npm test` needs (wasm32, aarch64 + qemu, clippy, rustfmt,
#                                  # Miri, wasm-bindgen-test-runner, headless Chromium)
set -euo pipefail

want_test=0
[ "${1:-}" = "--test" ] && want_test=1

say() { printf 'setup: %s\n' "$*" >&2; }
sudo_if_needed() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

apt_missing=()
command -v cc >/dev/null || apt_missing+=(build-essential)
command -v python3 >/dev/null || apt_missing+=(python3)
python3 -m pip --version >/dev/null 2>&1 || apt_missing+=(python3-pip)
command -v curl >/dev/null || apt_missing+=(curl)
if [ ${#apt_missing[@]} -gt 0 ]; then
  say "installing ${apt_missing[*]} with apt"
  sudo_if_needed apt-get update -qq
  sudo_if_needed env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${apt_missing[@]}"
fi

if ! command -v cargo >/dev/null && [ -x "$HOME/.cargo/bin/cargo" ]; then
  export PATH="$HOME/.cargo/bin:$PATH"
fi
if ! command -v rustup >/dev/null; then
  say "installing rustup with apt (Debian 13+ packages it)"
  sudo_if_needed apt-get update -qq
  sudo_if_needed env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq rustup \
    || { say "error: no Rust toolchain and no rustup package; install rustup, then rerun"; exit 1; }
  rustup default stable
fi

installed_components=$(rustup component list --installed 2>/dev/null || true)
for c in rustfmt clippy; do
  grep -q "^$c" <<<"$installed_components" || { say "adding rustup component $c"; rustup component add "$c"; }
done

if [ $want_test -eq 1 ]; then
  rustup target list --installed | grep -qx wasm32-unknown-unknown \
    || { say "adding target wasm32-unknown-unknown"; rustup target add wasm32-unknown-unknown; }
  # The NEON kernels are tested under qemu-aarch64 (linker and runner in .cargo/config.toml).
  rustup target list --installed | grep -qx aarch64-unknown-linux-gnu \
    || { say "adding target aarch64-unknown-linux-gnu"; rustup target add aarch64-unknown-linux-gnu; }
  apt_missing_test=()
  command -v aarch64-linux-gnu-gcc >/dev/null || apt_missing_test+=(gcc-aarch64-linux-gnu)
  command -v qemu-aarch64 >/dev/null || apt_missing_test+=(qemu-user)
  # The GPU tests run on Mesa's lavapipe (a Vulkan driver on the CPU); spirv-val checks the
  # SPIR-V that naga writes from the WGSL kernels.
  ls /usr/share/vulkan/icd.d/lvp_icd.*.json >/dev/null 2>&1 || apt_missing_test+=(mesa-vulkan-drivers)
  command -v spirv-val >/dev/null || apt_missing_test+=(spirv-tools)
  if [ ${#apt_missing_test[@]} -gt 0 ]; then
    say "installing ${apt_missing_test[*]} with apt (NEON tests under qemu, GPU tests on lavapipe)"
    sudo_if_needed apt-get update -qq
    sudo_if_needed env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${apt_missing_test[@]}"
  fi
  if ! rustup run nightly cargo miri --version >/dev/null 2>&1; then
    say "installing nightly with miri and rust-src (for the Miri tests)"
    rustup toolchain install nightly --profile minimal --component miri,rust-src
  fi
  # The wasm test runner must be the version of the `wasm-bindgen` crate pinned in Cargo.toml.
  # Not `--locked`: the CLI's own lockfile pins a crate version crates.io no longer serves.
  wasm_bindgen_version=0.2.130
  if [ "$(wasm-bindgen-test-runner --version 2>/dev/null | awk '{print $2}')" != "$wasm_bindgen_version" ]; then
    say "installing wasm-bindgen-cli $wasm_bindgen_version (wasm-bindgen-test-runner; a few minutes)"
    cargo install wasm-bindgen-cli --version "$wasm_bindgen_version"
  fi
  # Headless Chromium and its WebDriver, for the browser run of the wasm kernel tests.
  browser_missing=()
  command -v chromium >/dev/null || browser_missing+=(chromium)
  command -v chromedriver >/dev/null || browser_missing+=(chromium-driver)
  if [ ${#browser_missing[@]} -gt 0 ]; then
    say "installing ${browser_missing[*]} with apt"
    sudo_if_needed apt-get update -qq
    sudo_if_needed env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${browser_missing[@]}"
  fi
fi
