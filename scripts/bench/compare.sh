#!/usr/bin/env bash
# ruvllm and llama.cpp side by side on this machine, in one sitting (what `npm run bench` runs).
#
#   bash scripts/bench/compare.sh                 # default model + its Q8_0 and Q4_K, 1 and 2 threads
#   MODELS="q4_1" THREADS="1" ROUNDS=5 bash scripts/bench/compare.sh
#
# For every model (the default Q4_1 model, and its Q8_0 and Q4_K requantizations made by
# `ruvllm quantize`, cached in models/) and every thread count, it alternates ROUNDS times
# (default 3)
#   ./target/release/ruvllm bench --backend cpu --model M --prompt-tokens 256 --gen-tokens 128 --threads N
#   node scripts/bench/llamacpp_bench.mjs --model M --prompt-tokens 256 --gen-tokens 128 --threads N
# and prints, per configuration, the medians of prefill t/s, decode t/s and peak RSS, the ratios
# ruvllm / llama.cpp, and the decode bandwidth reached (model file bytes x decode t/s) against
# the machine's memory read bandwidth measured first by `ruvllm bench-kernels --memory-only`.
#
# Each ruvllm row is one process: a 256-token prompt in one batch, then 128 greedy decode steps,
# on the CPU as llama.cpp's binary (`--backend cpu`: `auto` would first probe for a GPU, and where
# Mesa's lavapipe is installed that loads its Vulkan driver, ~53 MB of RSS, only to refuse it).
# Each llama.cpp row is one process: a warm-up run, then the median of 3 runs (see
# llamacpp_bench.mjs; llama.cpp's RSS is that of the node process hosting it). llama.cpp is the
# prebuilt CPU binary of the npm package @node-llama-cpp/linux-x64 3.22.1 installed for the
# oracle in scripts/oracle/llamacpp/node_modules (installed here if missing; nothing is built or
# downloaded from anywhere but the npm registry).
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH="$HOME/.cargo/bin:$PATH"
export NODE_LLAMA_CPP_SKIP_DOWNLOAD=true

THREADS_LIST="${THREADS:-1 2}"
MODELS_LIST="${MODELS:-q4_1 q8_0 q4_k}"
ROUNDS="${ROUNDS:-3}"
PROMPT_TOKENS=256
GEN_TOKENS=128
start=$(date +%s)
load_start="$(cut -d' ' -f1-3 /proc/loadavg)"

oracle=scripts/oracle/llamacpp
if [ ! -f $oracle/node_modules/node-llama-cpp/package.json ] || [ ! -d $oracle/node_modules/@node-llama-cpp/linux-x64/bins ]; then
  echo "installing node-llama-cpp 3.22.1 (as scripts/oracle/llamacpp/regenerate.sh does)" >&2
  (cd $oracle && npm install --omit=optional --ignore-scripts --no-audit --no-fund >&2)
fi

DEFAULT_MODEL="$(python3 scripts/fetch_model.py)"
cargo build --release >&2
RUVLLM=./target/release/ruvllm

model_path() {
  case "$1" in
    q4_1) echo "$DEFAULT_MODEL" ;;
    q8_0|q4_k)
      local f
      f="$(dirname "$DEFAULT_MODEL")/SmolLM2-135M-Instruct.ruvllm-$1.gguf"
      if [ ! -f "$f" ]; then
        echo "requantizing the default model to $1 -> $f" >&2
        "$RUVLLM" quantize "$DEFAULT_MODEL" "$f.tmp" "$1" >&2 && mv "$f.tmp" "$f"
      fi
      echo "$f" ;;
    *) echo "unknown model '$1' (q4_1, q8_0, q4_k)" >&2; exit 2 ;;
  esac
}

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

"$RUVLLM" bench-kernels --memory-only | tee "$tmp/membw" >&2

configs=()
for m in $MODELS_LIST; do
  path="$(model_path "$m")"
  for th in $THREADS_LIST; do
    id="$m.$th"
    configs+=("$id")
    echo "$path" >"$tmp/$id.model"
    ruv_cmd=("$RUVLLM" bench --backend cpu --model "$path" --prompt-tokens $PROMPT_TOKENS --gen-tokens $GEN_TOKENS --threads "$th")
    llama_cmd=(node scripts/bench/llamacpp_bench.mjs --model "$path" --threads "$th" --prompt-tokens $PROMPT_TOKENS --gen-tokens $GEN_TOKENS)
    echo "== $m, $th thread(s): warm-up (not counted)" >&2
    "${ruv_cmd[@]}" >/dev/null
    for r in $(seq 1 "$ROUNDS"); do
      echo "   round $r/$ROUNDS: ruvllm, then llama.cpp" >&2
      "${ruv_cmd[@]}" >"$tmp/$id.ruvllm.$r"
      "${llama_cmd[@]}" >"$tmp/$id.llama.$r" 2>"$tmp/$id.llama.$r.err"
    done
  done
done

python3 - "$tmp" "$ROUNDS" "${configs[@]}" <<'EOF'
import os, re, statistics, sys
tmp, rounds, configs = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
membw = float(re.search(r"read ([\d.]+) GB/s", open(f"{tmp}/membw").read()).group(1))

def row(path):
    lines = [l.strip() for l in open(path) if l.strip().startswith("|")]
    head = [c.strip() for c in lines[0].strip("|").split("|")]
    cells = [c.strip() for c in lines[2].strip("|").split("|")]
    num = lambda col: float(re.match(r"[\d.]+", cells[head.index(col)]).group())
    extra = cells[head.index("kernels")] if "kernels" in head else ""
    return num("prefill t/s"), num("decode t/s"), num("peak RSS"), extra

print("| model | threads | ruvllm prefill t/s | llama.cpp prefill t/s | ratio | ruvllm decode t/s | llama.cpp decode t/s | ratio | ruvllm RSS MB | llama.cpp RSS MB | ratio | ruvllm decode GB/s (% of read bw) |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|")
kernels = set()
for c in configs:
    m, th = c.split(".")
    ruv = [row(f"{tmp}/{c}.ruvllm.{r}") for r in range(1, rounds + 1)]
    lla = [row(f"{tmp}/{c}.llama.{r}") for r in range(1, rounds + 1)]
    kernels.update(x[3] for x in ruv)
    med = lambda rows, i: statistics.median(x[i] for x in rows)
    rp, lp, rd, ld, rr, lr = med(ruv, 0), med(lla, 0), med(ruv, 1), med(lla, 1), med(ruv, 2), med(lla, 2)
    size = os.path.getsize(open(f"{tmp}/{c}.model").read().strip())
    gbs = size * rd / 1e9
    print(f"| {m} | {th} | {rp:.1f} | {lp:.1f} | {rp / lp:.2f} | {rd:.1f} | {ld:.1f} | {rd / ld:.2f} | {rr:.0f} | {lr:.0f} | {rr / lr:.2f} | {gbs:.1f} ({100 * gbs / membw:.0f} %) |")
print()
print(f"Medians of {rounds} alternating rounds; prompt 256 tokens, 128 decoded; ruvllm kernels: {', '.join(sorted(kernels))};"
      f" memory read bandwidth {membw:.1f} GB/s (1 thread, 512 MiB buffer).")
EOF

cpu="$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')"
commit="$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- src Cargo.toml Cargo.lock || echo '+local changes')"
echo
echo "$cpu, $(nproc) cores, ruvllm $commit, llama.cpp via node-llama-cpp 3.22.1, load average $load_start at the start, $(cut -d' ' -f1-3 /proc/loadavg) at the end, $(( $(date +%s) - start )) s"
