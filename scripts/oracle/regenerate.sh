#!/usr/bin/env bash
# Rewrites every committed fixture from its oracle: gguf-py and the regex module (in a local
# venv), llama.cpp through node-llama-cpp's prebuilt binaries, the float64 reference, and the
# malformed-corpus script. Review the diff: fixtures change only when an oracle does.
set -euo pipefail
cd "$(dirname "$0")/../.."
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/pip install -q -r scripts/oracle/requirements.txt
.venv/bin/python scripts/oracle/quant_fixtures.py
.venv/bin/python scripts/oracle/model_fixtures.py
.venv/bin/python scripts/oracle/pretokenize_fixtures.py
python3 scripts/make_malformed.py
bash scripts/oracle/llamacpp/regenerate.sh
.venv/bin/python scripts/oracle/reference_fixtures.py tests/fixtures/llamacpp/greedy.jsonl
.venv/bin/python scripts/oracle/quantize_fixtures.py
.venv/bin/python scripts/oracle/spm_fixtures.py
bash scripts/oracle/llamacpp/requantized.sh
