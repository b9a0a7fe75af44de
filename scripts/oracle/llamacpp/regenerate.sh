#!/usr/bin/env bash
# Rewrites tests/fixtures/llamacpp/{tokenize.jsonl,greedy.jsonl,perplexity.json,meta.json} with
# llama.cpp (node-llama-cpp's prebuilt linux-x64 CPU binary). Installs the pinned npm packages
# first if they are missing. Nothing is built and nothing is downloaded outside the npm registry.
# (tests/fixtures/llamacpp/alice_ch1-2.txt is written by extract_text.py, from PyPI.)
set -euo pipefail
cd "$(dirname "$0")"
export NODE_LLAMA_CPP_SKIP_DOWNLOAD=true
if [ ! -f node_modules/node-llama-cpp/package.json ] || [ ! -d node_modules/@node-llama-cpp/linux-x64/bins ]; then
  # `npm ci` refuses this lockfile: the registry serves no mac/win/riscv64 builds of 3.22.1, so the
  # lockfile cannot list them. `npm install` with the committed lockfile installs the same tree.
  # --omit=optional: only the CPU build (a direct dependency), not the CUDA/Vulkan ones.
  # --ignore-scripts: node-llama-cpp's postinstall is not needed with a prebuilt binary.
  npm install --omit=optional --ignore-scripts --no-audit --no-fund
fi
node fixtures.mjs
