#!/usr/bin/env bash
# Fixtures for the default model requantized by `ruvllm quantize`, from scratch:
#
#   1. builds ruvllm (cargo build --release; honours CARGO_TARGET_DIR),
#   2. requantizes the default model (scripts/fetch_model.py) to Q8_0, Q4_K and Q6_K into
#      $RQ_DIR (default /tmp/rq) as smollm2-<type>.gguf (the output is deterministic; the
#      SHA-256 of each file goes into its meta.json),
#   3. runs llama.cpp on each (fixtures.mjs --model F --out tests/fixtures/llamacpp/<type>
#      --no-tokenize): greedy.jsonl, perplexity.json, meta.json,
#   4. runs the float64 reference on each (reference_fixtures.py --model F --out-dir
#      tests/fixtures/reference/<type>): greedy.reference.jsonl.
#
#   bash scripts/oracle/llamacpp/requantized.sh            # all three types
#   bash scripts/oracle/llamacpp/requantized.sh q6_k       # only some (q8_0, q4_k, q6_k)
#
# Everything on one thread; per type about 3 minutes of llama.cpp and half a minute of reference
# on the 2-core VM (about 10 minutes for the three). Installs the pinned npm packages first if they are missing (as regenerate.sh).
# See tests/fixtures/llamacpp/README.md.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
rq_dir="${RQ_DIR:-/tmp/rq}"
types=("$@")
[ ${#types[@]} -gt 0 ] || types=(q8_0 q4_k q6_k)
for t in "${types[@]}"; do
  case "$t" in q8_0|q4_k|q6_k) ;; *) echo "unknown type '$t' (q8_0, q4_k, q6_k)" >&2; exit 2 ;; esac
done

export NODE_LLAMA_CPP_SKIP_DOWNLOAD=true
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
if [ ! -f "$here/node_modules/node-llama-cpp/package.json" ] || [ ! -d "$here/node_modules/@node-llama-cpp/linux-x64/bins" ]; then
  # as regenerate.sh: `npm ci` refuses this lockfile; only the CPU build; no postinstall.
  (cd "$here" && npm install --omit=optional --ignore-scripts --no-audit --no-fund)
fi

cd "$root"
cargo build --release --bin ruvllm
target_dir="$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')"
ruvllm="$target_dir/release/ruvllm"
model="$(python3 scripts/fetch_model.py)"
mkdir -p "$rq_dir"

for t in "${types[@]}"; do
  T="$(echo "$t" | tr a-z A-Z)"
  out="$rq_dir/smollm2-$t.gguf"
  # written into meta.json as is (the binary as `ruvllm`, the paths as used here)
  cmd="ruvllm quantize $model $out $T"
  echo "== $t: $cmd" >&2
  "$ruvllm" quantize "$model" "$out" "$T"
  sha256sum "$out" >&2

  echo "== $t: llama.cpp" >&2
  (cd "$here" && node fixtures.mjs --model "$out" --out "$root/tests/fixtures/llamacpp/$t" \
      --no-tokenize --quantized-from "$model" --quantize-command "$cmd")

  echo "== $t: float64 reference" >&2
  python3 scripts/oracle/reference_fixtures.py "tests/fixtures/llamacpp/$t/greedy.jsonl" \
      --model "$out" --out-dir "tests/fixtures/reference/$t"
done
