#!/usr/bin/env bash
# The main job on the default model. Until text generation lands, that is `ruvllm inspect`.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
bash scripts/setup.sh
model=$(python3 scripts/fetch_model.py)
cargo run --release --quiet -- inspect "$model"
