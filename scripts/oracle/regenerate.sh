#!/usr/bin/env bash
# Rewrites every committed fixture from its oracle: gguf-py (in a local venv) and the
# malformed-corpus script. Review the diff: fixtures change only when an oracle does.
set -euo pipefail
cd "$(dirname "$0")/../.."
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
  .venv/bin/pip install -q -r scripts/oracle/requirements.txt
fi
.venv/bin/python scripts/oracle/quant_fixtures.py
.venv/bin/python scripts/oracle/model_fixtures.py
python3 scripts/make_malformed.py
