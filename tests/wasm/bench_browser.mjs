// Prefill and decode speed and time to first token of the default model in headless Chromium:
// ruvllm's single build and threaded build with 1, 2, ... threads, beside wllama (llama.cpp in
// wasm, tests/wasm/bench_wllama.mjs) with the same thread counts (run after `npm run build`):
//   npm run bench:browser [-- --threads 1,2,4 --reps 3 --decode 64 --model PATH --peer none --webgpu]
// The page is cross-origin isolated (COOP/COEP), each engine runs in its own Worker, the model
// comes from memory (no cache), both have a 2048-position context. Each configuration loads the
// model once (load ms: from the bytes in memory to a ready engine), warms up with a short request,
// then runs `reps` requests of the same ~200-token prompt + `decode` greedy tokens, each one
// evaluating the whole prompt; the table shows the best of them. Tokens/s are each engine's own
// timings (ruvllm's usage record, llama.cpp's `timings`); TTFT is the page's wall clock from the
// request to the first streamed text. Ratios are ruvllm / wllama: above 1 is ruvllm faster for
// tokens/s, slower for TTFT and load. wllama's 1-thread run (no pthreads) stands beside both
// ruvllm's single build and its threaded build with 1 thread. `--peer none`: ruvllm alone;
// `--only wllama`: wllama alone (no pkg/ needed). `--webgpu`: also ruvllm on WebGPU (Chromium with
// --enable-unsafe-webgpu; headless that is SwiftShader, a CPU emulating a GPU: the figures prove
// the path, not a GPU's speed); that row has no wllama figures (wllama runs on the CPU). The other
// ruvllm rows are `backend: "cpu"`.
import { execFileSync } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { createStaticServer } from "../../scripts/serve.mjs";
import { benchWllama, WLLAMA_ROUTES } from "./bench_wllama.mjs";
import { launchChromium, WEBGPU_FLAGS } from "./chromium.mjs";

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const arg = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : fallback;
};
const threadCounts = arg("threads", "1,2").split(",").map(Number);
const reps = Number(arg("reps", 3));
const decode = Number(arg("decode", 64));
const modelPath = arg("model", execFileSync("python3", [path.join(repo, "scripts/fetch_model.py")], { encoding: "utf8" }).trim());
const peer = arg("peer", "wllama");
const only = arg("only", null);
if (!["wllama", "none"].includes(peer) || ![null, "wllama"].includes(only)) throw new Error("usage: --peer wllama|none, --only wllama");
const runRuvllm = only !== "wllama";
const runWllama = peer === "wllama";
const webgpu = process.argv.includes("--webgpu");
const n_ctx = 2048;

const server = createStaticServer({
  routes: {
    "/pkg/": path.join(repo, "pkg"),
    "/models/": path.dirname(modelPath),
    "/tests/wasm/browser/": path.join(repo, "tests/wasm/browser"),
    ...WLLAMA_ROUTES,
  },
});
await new Promise((r) => server.listen(0, "127.0.0.1", r));
const origin = `http://127.0.0.1:${server.address().port}`;
const chromium = await launchChromium({ args: webgpu ? WEBGPU_FLAGS : [] });
const model = `/models/${path.basename(modelPath)}`;
const prompt =
  "Here is a short story about a lighthouse keeper who finds a message in a bottle. ".repeat(12) + "Continue the story:";
const best = (runs, k) => Math.max(...runs.map((u) => u[k]));
const least = (runs, k) => Math.min(...runs.map((u) => u[k]));
const ruvllm = [];
const wllama = new Map();
try {
  const page = await chromium.newPage();
  await page.goto(`${origin}/tests/wasm/browser/api.html`);
  if (runRuvllm) {
    await page.evaluate(async () => {
      window.ruvllm = await import("/pkg/engine.js");
    });
    const configs = [
      { build: "single", threads: 1, backend: "cpu" },
      ...threadCounts.map((threads) => ({ build: "threaded", threads, backend: "cpu" })),
      ...(webgpu ? [{ build: "single", threads: 1, backend: "webgpu" }] : []),
    ];
    for (const config of configs) {
      const r = await page.evaluate(
        async ({ model, config, prompt, reps, decode, n_ctx }) => {
          const bytes = await (await fetch(model)).arrayBuffer();
          const t0 = performance.now();
          const engine = await window.ruvllm.createEngine({ model: bytes, cache: false, n_ctx, ...config });
          const load_ms = performance.now() - t0;
          try {
            await engine.complete("Hello", { max_tokens: 4, temperature: 0 });
            const runs = [];
            for (let i = 0; i < reps; i++) {
              await engine.reset(); // no prompt-prefix reuse: every run prefills the whole prompt
              const start = performance.now();
              let first;
              const stream = engine.generate(prompt, { max_tokens: decode, temperature: 0, stop: [] });
              for await (const piece of stream) if (piece) first ??= performance.now();
              runs.push({ ...(await stream.usage), ttft_ms: first - start });
            }
            return { info: engine.info(), load_ms, runs };
          } finally {
            await engine.unload();
          }
        },
        { model, config, prompt, reps, decode, n_ctx },
      );
      ruvllm.push({ ...r, config });
      const [prefill, decoded] = [best(r.runs, "prefill_tokens_per_s"), best(r.runs, "decode_tokens_per_s")];
      console.error(`done: ruvllm ${config.build} ${config.backend} threads ${config.threads}: ${prefill.toFixed(1)} / ${decoded.toFixed(1)} t/s`);
    }
  }
  if (runWllama) {
    for (const threads of threadCounts) {
      const r = await benchWllama(page, { model, threads, prompt, reps, decode, n_ctx });
      if (r.threads !== threads || r.multithread !== threads > 1 || r.pthreads !== (threads > 1 ? threads : 0)) {
        const ran = { multithread: r.multithread, threads: r.threads, pthreads: r.pthreads };
        console.error(`warning: wllama asked for ${threads} threads ran ${JSON.stringify(ran)}`);
      }
      if (r.runs.some((u) => u.cached_tokens > 0)) console.error("warning: wllama reused a cached prompt prefix");
      wllama.set(threads, r);
      const [prefill, decoded] = [best(r.runs, "prefill_tokens_per_s"), best(r.runs, "decode_tokens_per_s")];
      console.error(`done: wllama threads ${threads}: ${prefill.toFixed(1)} / ${decoded.toFixed(1)} t/s`);
    }
  }
} finally {
  await chromium.close();
  server.close();
}

const fixed = (x, d = 1) => (Number.isFinite(x) ? x.toFixed(d) : "-");
const ratio = (a, b) => (Number.isFinite(a) && Number.isFinite(b) && b > 0 ? (a / b).toFixed(2) : "-");
const side = (r) =>
  r && {
    threads: r.threads ?? r.info?.threads,
    load_ms: r.load_ms,
    prompt_tokens: r.runs[0].prompt_tokens,
    generated: r.runs[0].generated_tokens,
    prefill: best(r.runs, "prefill_tokens_per_s"),
    decode: best(r.runs, "decode_tokens_per_s"),
    ttft: least(r.runs, "ttft_ms"),
  };
const rows = [];
if (runRuvllm) {
  for (const r of ruvllm) {
    const a = side(r);
    const onGpu = r.info.backend === "webgpu";
    const b = onGpu ? undefined : side(wllama.get(r.config.threads));
    const where = onGpu ? `webgpu (${r.info.gpu.device_type === "Cpu" ? "software" : "hardware"} adapter)` : r.info.kernels;
    const row = { ruvllm: `${r.info.build} ${where}`, threads: a.threads };
    if (!runWllama) {
      Object.assign(row, { prompt_tokens: a.prompt_tokens, generated: a.generated, "load ms": fixed(a.load_ms, 0) });
      Object.assign(row, { "prefill t/s": fixed(a.prefill), "decode t/s": fixed(a.decode), "TTFT ms": fixed(a.ttft) });
    } else {
      Object.assign(row, {
        "wllama threads": b?.threads ?? "-",
        "prompt tok r/w": `${a.prompt_tokens}/${b?.prompt_tokens ?? "-"}`,
        "gen r/w": `${a.generated}/${b?.generated ?? "-"}`,
        "load ms r/w": `${fixed(a.load_ms, 0)}/${fixed(b?.load_ms, 0)}`,
        "prefill t/s ruvllm": fixed(a.prefill),
        "prefill t/s wllama": fixed(b?.prefill),
        "prefill r/w": ratio(a.prefill, b?.prefill),
        "decode t/s ruvllm": fixed(a.decode),
        "decode t/s wllama": fixed(b?.decode),
        "decode r/w": ratio(a.decode, b?.decode),
        "TTFT ms ruvllm": fixed(a.ttft),
        "TTFT ms wllama": fixed(b?.ttft),
        "TTFT r/w": ratio(a.ttft, b?.ttft),
      });
    }
    rows.push(row);
  }
} else {
  for (const [threads, r] of wllama) {
    const b = side(r);
    rows.push({
      "wllama threads": threads,
      multithread: r.multithread,
      pthreads: r.pthreads,
      prompt_tokens: b.prompt_tokens,
      generated: b.generated,
      "load ms": fixed(b.load_ms, 0),
      "prefill t/s": fixed(b.prefill),
      "decode t/s": fixed(b.decode),
      "TTFT ms": fixed(b.ttft),
    });
  }
}
console.log(`${path.basename(modelPath)}, headless Chromium, best of ${reps}, ${decode} decoded tokens, n_ctx ${n_ctx}`);
for (const [threads, r] of wllama) {
  console.log(
    `wllama ${threads} thread(s): llama.cpp ${r.version}, multithread ${r.multithread}, getNumThreads ${r.threads}, ` +
      `pthreads ${r.pthreads}, n_ctx ${r.n_ctx}, n_batch ${r.n_batch}, finish ${r.runs[0].finish_reason}`,
  );
}
console.table(rows);
