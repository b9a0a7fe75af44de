#!/usr/bin/env bash
# The main job on the default model: a streamed greedy completion, then a chat answer.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
bash scripts/setup.sh
model=$(python3 scripts/fetch_model.py)
cargo build --release --quiet
echo "== ruvllm run --prompt 'Once upon a time, there was a little' --temperature 0"
./target/release/ruvllm run --model "$model" --prompt "Once upon a time, there was a little" --temperature 0 --max-tokens 64
echo
echo "== ruvllm run --chat --prompt 'Write a haiku about the sea.'"
./target/release/ruvllm run --model "$model" --chat --prompt "Write a haiku about the sea." --temperature 0.7 --seed 1 --max-tokens 96
