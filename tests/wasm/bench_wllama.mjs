// The peer of tests/wasm/bench_browser.mjs: wllama (llama.cpp compiled to wasm, the pinned
// devDependency @wllama/wllama) on the same page, model, prompt and thread count as ruvllm.
// - the package's ESM build and its one wasm (single- and multi-thread in one file since 3.1) are
//   served at /wllama/ from node_modules; compat mode (resources from a CDN) is turned off and
//   WebGPU too (n_gpu_layers 0): llama.cpp's CPU code in wasm, like ruvllm's;
// - n_threads 1 runs without pthreads, n > 1 with a pool of n pthreads (needs the page's
//   cross-origin isolation); which one ran is read back from wllama (isMultithread,
//   getNumThreads) and from the Workers the page has (wllama's own + its pthreads; this build
//   of llama.cpp does not log its thread count);
// - each run is a raw completion (no chat template) with temperature 0, cache_prompt false (the
//   whole prompt is evaluated every time) and ignore_eos (exactly `decode` tokens);
// - prefill and decode speed come from llama.cpp's own timings (the final chunk's `timings`):
//   prefill = prompt_n / prompt_ms; decode = (predicted_n - 1) / predicted_ms, as predicted_ms
//   runs from the first sampled token to the last, i.e. predicted_n - 1 forward passes (ruvllm's
//   decode_ms holds one forward pass per generated token); TTFT is the page's wall clock from
//   the request to the first streamed text, measured the same way as ruvllm's.
import { existsSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const esm = path.join(repo, "node_modules/@wllama/wllama/esm");

/** The static server's route for wllama's files. */
export const WLLAMA_ROUTES = { "/wllama/": esm };

/** Loads the model in wllama with `threads` threads on `page` (served with WLLAMA_ROUTES), warms
 *  up with a short request, then runs `reps` requests of `prompt` + `decode` greedy tokens.
 *  Returns what ran (version, threads, Workers) and every run's numbers. */
export async function benchWllama(page, { model, threads, prompt, reps, decode, n_ctx }) {
  if (!existsSync(path.join(esm, "wasm/wllama.wasm"))) throw new Error(`${esm} is missing: run \`npm ci\``);
  const loaded = await page.evaluate(
    async ({ model, threads, n_ctx }) => {
      const { Wllama } = await import("/wllama/index.js");
      const bytes = await (await fetch(model)).arrayBuffer();
      const quiet = () => {};
      const logger = { debug: quiet, log: quiet, warn: console.warn, error: console.error };
      const t0 = performance.now();
      const wllama = new Wllama({ default: "/wllama/wasm/wllama.wasm" }, { logger });
      wllama.setCompat(null);
      await wllama.loadModel([new Blob([bytes])], { n_threads: threads, n_ctx, n_gpu_layers: 0 });
      const load_ms = performance.now() - t0;
      window.wllama = wllama;
      const info = wllama.getLoadedContextInfo();
      return {
        version: Wllama.getLibllamaVersion(),
        multithread: wllama.isMultithread(),
        threads: wllama.getNumThreads(),
        n_ctx: info.n_ctx,
        n_batch: info.n_batch,
        load_ms,
      };
    },
    { model, threads, n_ctx },
  );
  // wllama's Worker and its pthreads are Workers from blob: URLs (ruvllm's come from /pkg/).
  const workers = page.workers().filter((w) => w.url().startsWith("blob:")).length;
  // One page.evaluate per request (a slow one must not reach puppeteer's protocol timeout).
  const run = (max_tokens) =>
    page.evaluate(
      async ({ prompt, max_tokens }) => {
        let first;
        let last;
        const start = performance.now();
        await window.wllama.createCompletion({
          prompt,
          max_tokens,
          temperature: 0,
          ignore_eos: true,
          cache_prompt: false,
          stream: true,
          onData: (chunk) => {
            if (chunk.choices?.[0]?.text) first ??= performance.now();
            last = chunk;
          },
        });
        const t = last?.timings;
        if (!t) throw new Error(`wllama: no timings in the last chunk ${JSON.stringify(last)}`);
        return {
          ttft_ms: first - start,
          prompt_tokens: t.prompt_n,
          cached_tokens: t.cache_n,
          generated_tokens: t.predicted_n,
          finish_reason: last.choices?.[0]?.finish_reason,
          prefill_tokens_per_s: (t.prompt_n * 1000) / t.prompt_ms,
          decode_tokens_per_s: ((t.predicted_n - 1) * 1000) / t.predicted_ms,
        };
      },
      { prompt, max_tokens },
    );
  try {
    await run(4);
    const runs = [];
    for (let i = 0; i < reps; i++) runs.push(await run(decode));
    return { ...loaded, pthreads: workers - 1, runs };
  } finally {
    await page.evaluate(async () => {
      await window.wllama?.exit();
      delete window.wllama;
    });
  }
}
