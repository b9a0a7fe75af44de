#!/usr/bin/env bash
# `npm run serve`: builds the wasm package, fetches the default model, and serves the demo
# (www/, pkg/, models/) at http://localhost:8080 with COOP/COEP headers (scripts/serve.mjs).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
# `npm run build` needs the wasm32 target and wasm-bindgen-cli 0.2.130; setup.sh --test installs them
# (with the rest of what the tests need) when they are missing.
if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown \
  || [ "$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')" != "0.2.130" ]; then
  bash scripts/setup.sh --test
else
  bash scripts/setup.sh
fi
model=$(python3 scripts/fetch_model.py)
npm run build
exec node scripts/serve.mjs --port "${PORT:-8080}" --models "$(dirname "$model")"
