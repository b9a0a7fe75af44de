// Speed of llama.cpp on this machine, for comparison with `ruvllm bench`: the prebuilt CPU binary
// shipped by the npm package @node-llama-cpp/linux-x64, driven through node-llama-cpp 3.22.1 (the
// copy installed for the oracle in scripts/oracle/llamacpp/node_modules).
//
//   node scripts/bench/llamacpp_bench.mjs [--threads N] [--model PATH] [--runs N]
//   bash scripts/bench/compare.sh        (side by side with ruvllm, alternating)
//
// Never builds llama.cpp and never downloads anything: getLlama({build: "never", skipDownload:
// true, usePrebuiltBinaries: true, gpu: false}) and NODE_LLAMA_CPP_SKIP_DOWNLOAD=true. If the
// packages are missing, `bash scripts/oracle/llamacpp/regenerate.sh` (or compare.sh) installs them.
//
// The same work as `ruvllm bench --prompt-tokens 128 --gen-tokens 64`:
//   prefill: a fixed 128-token prompt (ids 1000 + (i*7919) % 20000), evaluated in one batch from an
//            empty context (a fresh context per run; context 512, batch 512, f16 KV cache, flash
//            attention off, CPU only);
//   decode:  64 tokens generated greedily after it, one token per evaluation.
// One warm-up run, then the median of --runs (default 3) runs. Times are wall-clock around the
// node-llama-cpp calls (so they include its small per-call overhead: batching dispatch, sampling);
// llama.cpp's own counters (llama_perf_context) are printed on stderr as a cross-check.
//
// stdout: a markdown table, one row:
//   | llama.cpp (node-llama-cpp 3.22.1) | threads | prefill t/s | decode t/s | peak RSS |
// (peak RSS of the node process running llama.cpp, model and KV cache included).

process.env.NODE_LLAMA_CPP_SKIP_DOWNLOAD = "true";

import { readFileSync, existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { execFileSync } from "node:child_process";
import { parseArgs } from "node:util";

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, "..", "..");
const modulesDir = join(root, "scripts", "oracle", "llamacpp", "node_modules");
const nlcDir = join(modulesDir, "node-llama-cpp");

const { values: args } = parseArgs({
    options: {
        threads: { type: "string", default: "1" },
        model: { type: "string" },
        runs: { type: "string", default: "3" },
        "prompt-tokens": { type: "string", default: "128" },
        "gen-tokens": { type: "string", default: "64" },
    },
});
const THREADS = Number(args.threads);
const RUNS = Number(args.runs);
const N_PROMPT = Number(args["prompt-tokens"]);
const N_GEN = Number(args["gen-tokens"]);
const N_CTX = 512;
for (const [k, v] of [["threads", THREADS], ["runs", RUNS], ["prompt-tokens", N_PROMPT], ["gen-tokens", N_GEN]]) {
    if (!Number.isInteger(v) || v < 1) throw new Error(`--${k} must be a positive integer`);
}
if (N_PROMPT + N_GEN + 1 > N_CTX) throw new Error(`prompt + generated tokens must fit the context of ${N_CTX}`);

if (!existsSync(join(nlcDir, "package.json")) || !existsSync(join(nlcDir, "dist", "index.js"))) {
    throw new Error(`node-llama-cpp is not installed in ${modulesDir}; run: bash scripts/oracle/llamacpp/regenerate.sh, or there: npm install --omit=optional --ignore-scripts`);
}
const readJson = (...p) => JSON.parse(readFileSync(join(modulesDir, ...p), "utf8"));
const nlcVersion = readJson("node-llama-cpp", "package.json").version;
const llamaCppTag = readJson("node-llama-cpp", "llama", "llama.cpp.info.json").tag;
const { getLlama, LlamaLogLevel } = await import(pathToFileURL(join(nlcDir, "dist", "index.js")).href);

const modelPath = args.model ?? execFileSync("python3", [join(root, "scripts", "fetch_model.py")], { encoding: "utf8" }).trim();

// llama.cpp's log lines are kept (for the CPU backend's name and the perf counters), not printed.
let logLines = [];
const llama = await getLlama({
    build: "never",
    gpu: false,
    usePrebuiltBinaries: true,
    skipDownload: true,
    progressLogs: false,
    maxThreads: THREADS,
    logLevel: LlamaLogLevel.debug, // for the name of the CPU backend loaded; info after loading
    logger(level, message) {
        logLines.push(message);
        if (level === LlamaLogLevel.error || level === LlamaLogLevel.fatal) console.error(`[llama.cpp ${level}] ${message}`);
    },
});
if (llama.gpu !== false) throw new Error(`expected CPU only, got gpu=${llama.gpu}`);
if (llama.buildType !== "prebuilt") throw new Error(`expected the prebuilt binary, got ${llama.buildType}`);

const model = await llama.loadModel({ modelPath, gpuLayers: 0, useMmap: true });
const cpuBackend = (logLines.join("\n").match(/libggml-cpu-[\w-]+\.so/) ?? [])[0] ?? "unknown CPU backend";
llama.logLevel = LlamaLogLevel.info; // llama_perf_context_print logs at info

const prompt = Array.from({ length: N_PROMPT }, (_, i) => 1000 + ((i * 7919) % 20000));
const GREEDY = { generateNext: { token: true, options: { temperature: 0 } } };

// llama.cpp's own timing of the work since the last call (printTimings prints and resets).
async function perfCounters(context) {
    logLines = [];
    await context.printTimings();
    const text = logLines.join("\n");
    const num = (re) => {
        const m = text.match(re);
        return m ? { ms: Number(m[1]), n: Number(m[2]) } : null;
    };
    return {
        prompt: num(/prompt eval time =\s*([\d.]+) ms \/\s*(\d+) tokens/),
        eval: num(/\n?\s*eval time =\s*([\d.]+) ms \/\s*(\d+) runs/m),
    };
}

async function oneRun() {
    const context = await model.createContext({
        contextSize: N_CTX,
        batchSize: N_CTX,
        sequences: 1,
        threads: THREADS,
        flashAttention: false,
        performanceTracking: true,
    });
    if (context.contextSize !== N_CTX) throw new Error(`context size ${context.contextSize} != ${N_CTX}`);
    if (context.idealThreads !== THREADS) throw new Error(`context uses ${context.idealThreads} threads, asked ${THREADS}`);
    const sequence = context.getSequence();
    await perfCounters(context); // reset

    const input = prompt.map((t, i) => (i === prompt.length - 1 ? [t, GREEDY] : t));
    let t = process.hrtime.bigint();
    const out = await sequence.controlledEvaluate(input);
    const prefillS = Number(process.hrtime.bigint() - t) / 1e9;
    let token = out[input.length - 1]?.next?.token;
    if (token == null) throw new Error("no token after the prompt");
    const perfPrefill = await perfCounters(context);

    const generated = [];
    t = process.hrtime.bigint();
    for (let step = 0; step < N_GEN; step++) {
        const o = await sequence.controlledEvaluate([[token, GREEDY]]);
        generated.push(token);
        token = o[0]?.next?.token;
        if (token == null) throw new Error(`no token at decode step ${step}`);
    }
    const decodeS = Number(process.hrtime.bigint() - t) / 1e9;
    const perfDecode = await perfCounters(context);
    if (sequence.contextTokens.length !== N_PROMPT + N_GEN) throw new Error(`context holds ${sequence.contextTokens.length} tokens`);
    await context.dispose();
    return {
        prefill: N_PROMPT / prefillS,
        decode: N_GEN / decodeS,
        nativePrefill: perfPrefill.prompt ? (perfPrefill.prompt.n * 1000) / perfPrefill.prompt.ms : NaN,
        nativeDecode: perfDecode.eval ? (perfDecode.eval.n * 1000) / perfDecode.eval.ms : NaN,
        nativeDecodeRuns: perfDecode.eval?.n,
        generated,
    };
}

const median = (xs) => {
    const s = [...xs].sort((a, b) => a - b);
    return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

console.error(`llama.cpp ${llamaCppTag} (node-llama-cpp ${nlcVersion}), ${cpuBackend}, ${THREADS} thread(s), model ${modelPath}`);
const warm = await oneRun();
console.error(`warm-up: prefill ${warm.prefill.toFixed(1)} t/s, decode ${warm.decode.toFixed(1)} t/s`);
const runs = [];
for (let r = 0; r < RUNS; r++) {
    const x = await oneRun();
    if (JSON.stringify(x.generated) !== JSON.stringify(warm.generated)) throw new Error(`run ${r + 1}: greedy tokens differ from the warm-up's`);
    runs.push(x);
    console.error(
        `run ${r + 1}: prefill ${x.prefill.toFixed(1)} t/s, decode ${x.decode.toFixed(1)} t/s` +
            ` (llama.cpp's own counters: prompt eval ${x.nativePrefill.toFixed(1)} t/s, eval ${x.nativeDecode.toFixed(1)} t/s over ${x.nativeDecodeRuns} runs)`,
    );
}
await model.dispose();
await llama.dispose();

const med = (k) => median(runs.map((x) => x[k])).toFixed(1);
console.error(
    `median of ${RUNS}: prefill ${med("prefill")} t/s, decode ${med("decode")} t/s;` +
        ` llama.cpp's own counters: prefill ${med("nativePrefill")} t/s, decode ${med("nativeDecode")} t/s`,
);

// Peak resident memory of this whole process (node + llama.cpp + the model), as `ruvllm bench`
// reports its own: Linux's maxRSS is in KiB.
const peakRssMb = process.resourceUsage().maxRSS / 1024;
console.log("| engine | threads | prefill t/s | decode t/s | peak RSS |");
console.log("|---|---|---|---|---|");
console.log(
    `| llama.cpp (node-llama-cpp ${nlcVersion}) | ${THREADS} | ${median(runs.map((x) => x.prefill)).toFixed(1)} (${N_PROMPT} tokens) | ` +
        `${median(runs.map((x) => x.decode)).toFixed(1)} (${N_GEN} tokens) | ${peakRssMb.toFixed(0)} MB |`,
);
