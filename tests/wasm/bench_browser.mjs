// Prefill and decode speed of the default model in headless Chromium, single build vs threaded
// build with 1, 2, ... threads (run after `npm run build`):
//   npm run bench:browser [-- --threads 1,2,4 --reps 3 --decode 64]
// The page is cross-origin isolated (COOP/COEP), the engine runs in its Worker, the model comes
// from memory (no cache). Each configuration loads the model once, warms up with a short
// request, then runs `reps` requests of a ~200-token prompt + `decode` greedy tokens; the table
// shows the best of them (tokens/s as the engine's usage record counts them).
import { execFileSync } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { createStaticServer } from "../../scripts/serve.mjs";
import { launchChromium } from "./chromium.mjs";

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const arg = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : fallback;
};
const threadCounts = arg("threads", "1,2").split(",").map(Number);
const reps = Number(arg("reps", 3));
const decode = Number(arg("decode", 64));
const modelPath = arg("model", execFileSync("python3", [path.join(repo, "scripts/fetch_model.py")], { encoding: "utf8" }).trim());

const server = createStaticServer({
  routes: { "/pkg/": path.join(repo, "pkg"), "/models/": path.dirname(modelPath), "/tests/wasm/browser/": path.join(repo, "tests/wasm/browser") },
});
await new Promise((r) => server.listen(0, "127.0.0.1", r));
const origin = `http://127.0.0.1:${server.address().port}`;
const chromium = await launchChromium();
const rows = [];
try {
  const page = await chromium.newPage();
  await page.goto(`${origin}/tests/wasm/browser/api.html`);
  await page.evaluate(async () => {
    window.ruvllm = await import("/pkg/engine.js");
  });
  const configs = [{ build: "single", threads: 1 }, ...threadCounts.map((threads) => ({ build: "threaded", threads }))];
  const prompt =
    "Here is a short story about a lighthouse keeper who finds a message in a bottle. ".repeat(12) + "Continue the story:";
  for (const config of configs) {
    const r = await page.evaluate(
      async ({ model, config, prompt, reps, decode }) => {
        const bytes = await (await fetch(model)).arrayBuffer();
        const engine = await window.ruvllm.createEngine({ model: bytes, cache: false, ...config });
        try {
          await engine.complete("Hello", { max_tokens: 4, temperature: 0 });
          const runs = [];
          for (let i = 0; i < reps; i++) {
            await engine.reset(); // no prompt-prefix reuse: every run prefills the whole prompt
            const stream = engine.generate(prompt, { max_tokens: decode, temperature: 0, stop: [] });
            await stream.text();
            runs.push(await stream.usage);
          }
          return { info: engine.info(), runs };
        } finally {
          await engine.unload();
        }
      },
      { model: `/models/${path.basename(modelPath)}`, config, prompt, reps, decode },
    );
    const best = (k) => Math.max(...r.runs.map((u) => u[k]));
    rows.push({
      build: r.info.build,
      threads: r.info.threads,
      kernels: r.info.kernels,
      prompt_tokens: r.runs[0].prompt_tokens,
      generated: r.runs[0].generated_tokens,
      "prefill t/s": best("prefill_tokens_per_s").toFixed(1),
      "decode t/s": best("decode_tokens_per_s").toFixed(1),
    });
    console.error(`done: ${config.build} threads ${config.threads}`);
  }
} finally {
  await chromium.close();
  server.close();
}
console.log(`${path.basename(modelPath)}, headless Chromium, best of ${reps}, ${decode} decoded tokens`);
console.table(rows);
