#!/usr/bin/env bash
# ruvllm and llama.cpp side by side on this machine, in one sitting: builds ruvllm in release, then
# alternates ROUNDS times (default 3)
#   ./target/release/ruvllm bench --model MODEL --prompt-tokens 128 --gen-tokens 64 --threads N
#   node scripts/bench/llamacpp_bench.mjs --model MODEL --threads N
# and prints both tables and the ratios ruvllm / llama.cpp of the medians.
#
#   bash scripts/bench/compare.sh [THREADS]        (default 1; ROUNDS=5 bash ... for more rounds)
#
# Each ruvllm row is one process (one prefill of 128 tokens, then 64 greedy decode steps; one
# untimed warm-up process runs first). Each llama.cpp row is one process: a warm-up run, then the
# median of 3 runs (see llamacpp_bench.mjs). llama.cpp is the prebuilt CPU binary of the npm
# package @node-llama-cpp/linux-x64 3.22.1, installed for the oracle in
# scripts/oracle/llamacpp/node_modules (installed here if missing; nothing is built or downloaded
# from anywhere but the npm registry). Same model file, same token ids, one thread each by default.
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH="$HOME/.cargo/bin:$PATH"
export NODE_LLAMA_CPP_SKIP_DOWNLOAD=true

THREADS="${1:-${THREADS:-1}}"
ROUNDS="${ROUNDS:-3}"
PROMPT_TOKENS=128
GEN_TOKENS=64
start=$(date +%s)
load_start="$(cut -d' ' -f1-3 /proc/loadavg)"

oracle=scripts/oracle/llamacpp
if [ ! -f $oracle/node_modules/node-llama-cpp/package.json ] || [ ! -d $oracle/node_modules/@node-llama-cpp/linux-x64/bins ]; then
  echo "installing node-llama-cpp 3.22.1 (as scripts/oracle/llamacpp/regenerate.sh does)" >&2
  (cd $oracle && npm install --omit=optional --ignore-scripts --no-audit --no-fund >&2)
fi

MODEL="$(python3 scripts/fetch_model.py)"
cargo build --release >&2
RUVLLM=./target/release/ruvllm

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

ruv_cmd=("$RUVLLM" bench --model "$MODEL" --prompt-tokens $PROMPT_TOKENS --gen-tokens $GEN_TOKENS --threads "$THREADS")
llama_cmd=(node scripts/bench/llamacpp_bench.mjs --model "$MODEL" --threads "$THREADS" --prompt-tokens $PROMPT_TOKENS --gen-tokens $GEN_TOKENS)

echo "warm-up: ruvllm bench (not counted)" >&2
"${ruv_cmd[@]}" >/dev/null
for r in $(seq 1 "$ROUNDS"); do
  echo "round $r/$ROUNDS: ruvllm" >&2
  "${ruv_cmd[@]}" >"$tmp/ruvllm.$r"
  echo "round $r/$ROUNDS: llama.cpp" >&2
  "${llama_cmd[@]}" >"$tmp/llama.$r" 2>"$tmp/llama.$r.err"
  sed 's/^/  /' "$tmp/llama.$r.err" >&2
done

python3 - "$tmp" "$ROUNDS" <<'EOF'
import re, statistics, sys
tmp, rounds = sys.argv[1], int(sys.argv[2])

def table(path):
    lines = [l.strip() for l in open(path) if l.strip().startswith("|")]
    head = [c.strip() for c in lines[0].strip("|").split("|")]
    row = [c.strip() for c in lines[2].strip("|").split("|")]
    num = lambda col: float(re.match(r"[\d.]+", row[head.index(col)]).group())
    return lines[0], lines[1], lines[2], num("prefill t/s"), num("decode t/s")

def show(name, results):
    print(f"### {name}\n")
    print(results[0][0]); print(results[0][1])
    for r in results: print(r[2])
    print()

ruv = [table(f"{tmp}/ruvllm.{r}") for r in range(1, rounds + 1)]
lla = [table(f"{tmp}/llama.{r}") for r in range(1, rounds + 1)]
show(f"ruvllm bench ({rounds} processes, one run each)", ruv)
show(f"llama.cpp ({rounds} processes, each the median of 3 runs after a warm-up)", lla)
native = []
for r in range(1, rounds + 1):
    m = re.search(r"own counters: prefill ([\d.]+) t/s, decode ([\d.]+) t/s", open(f"{tmp}/llama.{r}.err").read())
    if m: native.append((float(m.group(1)), float(m.group(2))))

print(f"### ruvllm / llama.cpp (medians of the {rounds} rows)\n")
print("| measure | ruvllm | llama.cpp | ruvllm / llama.cpp |")
print("|---|---|---|---|")
for i, name in ((3, "prefill t/s"), (4, "decode t/s")):
    a = statistics.median(r[i] for r in ruv)
    b = statistics.median(r[i] for r in lla)
    print(f"| {name} | {a:.1f} | {b:.1f} | {a / b:.2f} |")
if native:
    p = statistics.median(x[0] for x in native)
    d = statistics.median(x[1] for x in native)
    print(f"\n(llama.cpp's own counters, llama_perf_context, which leave out node-llama-cpp's per-call work"
          f" and sampling: prefill {p:.1f} t/s, decode {d:.1f} t/s)")
EOF

cpu="$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')"
commit="$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- src Cargo.toml Cargo.lock || echo '+local changes')"
echo
echo "$cpu, $(nproc) cores, $THREADS thread(s), ruvllm $commit, model $(basename "$MODEL"), load average $load_start at the start, $(cut -d' ' -f1-3 /proc/loadavg) at the end, $(( $(date +%s) - start )) s"
