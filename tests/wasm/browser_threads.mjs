// The threaded wasm build in headless Chromium (run after `npm run build`):
//   node tests/wasm/browser_threads.mjs
// - the pool's stress test: in a module Worker of a cross-origin isolated page, a bare ThreadPool
//   with 2, 3 and 4 threads (helpers: module Workers on the same module and shared memory, started
//   by pkg/threads.js) runs thousands of regions of random sizes, each result checked exactly;
//   poolHelper refuses the caller's index, an index out of range, one already taken, a dead pool;
//   dropping the pool wakes its parked helpers, which leave and free their threads;
// - the engine on a cross-origin isolated page with threads: 2 reports build "threaded" and gives
//   the same greedy text as the single build (build: "single", same page) for every stable raw
//   prompt of tests/fixtures/llamacpp/greedy.jsonl, which is llama.cpp's;
// - the same page served without COOP/COEP picks the single build.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { createStaticServer } from "../../scripts/serve.mjs";
import { launchChromium } from "./chromium.mjs";
import { check, failures } from "./check.mjs";

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const modelPath = execFileSync("python3", [path.join(repo, "scripts/fetch_model.py")], { encoding: "utf8" }).trim();
const modelName = path.basename(modelPath);
const greedy = readFileSync(path.join(repo, "tests/fixtures/llamacpp/greedy.jsonl"), "utf8")
  .split("\n")
  .filter((l) => l.trim())
  .map((l) => JSON.parse(l))
  .filter((r) => r.stable_first_32 === true && r.kind === "raw")
  .map((r) => ({ prompt: r.prompt, expectedIds: r.generated_ids.slice(0, 32) }));
assert.ok(greedy.length >= 3, "stable raw prompts in the llama.cpp fixtures");

const routes = {
  "/pkg/": path.join(repo, "pkg"),
  "/models/": path.dirname(modelPath),
  "/tests/wasm/browser/": path.join(repo, "tests/wasm/browser"),
};
const listen = async (isolate) => {
  const server = createStaticServer({ routes, isolate });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  return { server, origin: `http://127.0.0.1:${server.address().port}` };
};
const isolated = await listen(true);
const plain = await listen(false);

const chromium = await launchChromium();

try {
  const page = await chromium.newPage();
  await page.goto(`${isolated.origin}/tests/wasm/browser/api.html`);
  assert.equal(await page.evaluate(() => crossOriginIsolated), true, "COOP/COEP make the page cross-origin isolated");

  for (const threads of [2, 3, 4]) {
    await check(`pool stress, ${threads} threads: thousands of random regions computed exactly`, async () => {
      const r = await page.evaluate(
        (job) =>
          new Promise((resolve) => {
            const w = new Worker("/tests/wasm/browser/pool_stress.js", { type: "module" });
            w.onmessage = ({ data }) => {
              w.terminate();
              resolve(data);
            };
            w.onerror = (e) => resolve({ type: "error", message: e.message });
            w.postMessage(job);
          }),
        { threads, regions: 3000, maxLen: 4096, seed: 17 + threads },
      );
      assert.equal(r.type, "done", r.message);
      assert.equal(r.shared, true, "the module's memory is a SharedArrayBuffer");
      assert.equal(r.helpers, threads - 1);
      assert.equal(r.exited, true, "every helper left the pool once it was dropped");
      assert.ok(r.checked > 3000 * 1024, `${r.checked} elements checked`);
      assert.match(r.refusals.caller, /^invalid_argument: .*thread index 0 is not a helper's/);
      assert.match(r.refusals.outOfRange, new RegExp(`^invalid_argument: .*thread index ${threads} is not a helper's`));
      assert.match(r.refusals.taken, /^invalid_argument: .*already has a helper/);
      assert.match(r.refusals.noPool, /^invalid_argument: .*no thread pool has handle/);
      console.log(`     ${r.checked} elements in 3000 regions, ${r.ms.toFixed(0)} ms`);
    });
  }

  await page.evaluate(async () => {
    window.ruvllm = await import("/pkg/engine.js");
  });
  const generate = (p, options) =>
    p.evaluate(
      async ({ model, greedy, options }) => {
        const engine = await window.ruvllm.createEngine({ model, cache: false, ...options });
        try {
          const info = engine.info();
          const results = [];
          for (const { prompt, expectedIds } of greedy) {
            const { text } = await engine.complete(prompt, { max_tokens: expectedIds.length, temperature: 0 });
            results.push({ prompt, text, expected: await engine.detokenize(expectedIds) });
          }
          return { info, results };
        } finally {
          await engine.unload();
        }
      },
      { model: `/models/${modelName}`, greedy, options },
    );

  await check("threads: 2 on a cross-origin isolated page runs the threaded build, same greedy text as single", async () => {
    const threaded = await generate(page, { threads: 2 });
    assert.equal(threaded.info.build, "threaded");
    assert.equal(threaded.info.threads, 2);
    assert.equal(threaded.info.worker, true);
    const single = await generate(page, { build: "single", threads: 2 });
    assert.equal(single.info.build, "single");
    assert.equal(single.info.threads, 1);
    for (const [i, t] of threaded.results.entries()) {
      assert.equal(t.text, single.results[i].text, t.prompt);
      assert.equal(t.text, t.expected, `llama.cpp's greedy text for ${JSON.stringify(t.prompt)}`);
      console.log(`     ${JSON.stringify(t.prompt)} -> ${JSON.stringify(t.text.slice(0, 50))}...`);
    }
  });

  await check("without COOP/COEP the same page picks the single build", async () => {
    const p = await chromium.newPage();
    await p.goto(`${plain.origin}/tests/wasm/browser/api.html`);
    assert.equal(await p.evaluate(() => crossOriginIsolated), false);
    await p.evaluate(async () => {
      window.ruvllm = await import("/pkg/engine.js");
    });
    const r = await generate(p, { threads: 2 });
    assert.equal(r.info.build, "single");
    assert.equal(r.info.threads, 1);
    for (const t of r.results) assert.equal(t.text, t.expected, `llama.cpp's greedy text for ${JSON.stringify(t.prompt)}`);
    const refused = await p.evaluate(() =>
      window.ruvllm.createEngine({ model: new Blob(["x"]), build: "threaded" }).then(
        () => "no error",
        (e) => e.code,
      ),
    );
    assert.equal(refused, "unsupported_browser");
    await p.close();
  });
} finally {
  await chromium.close();
  isolated.server.close();
  plain.server.close();
}
if (failures()) {
  console.log(`${failures()} threaded-build check(s) failed`);
  process.exit(1);
}
console.log("all threaded-build checks passed in headless Chromium");
