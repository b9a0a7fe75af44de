// The engine API on a page's main thread in headless Chromium (run after `npm run build`):
//   node tests/wasm/browser_api.mjs
// createEngine starts its own module Worker; this checks, through puppeteer-core:
// - loading from a URL served here: onProgress increases to the total; the model is then in the
//   origin's cache (listCachedModels) and a second load makes no request for it (counted here),
//   a third with cache: "revalidate" only a HEAD request;
// - generate() streamed equals complete(); chat.completions.create streamed equals not streamed;
// - an AbortSignal stops a generation within a token and the next request gives the same text;
// - a bad model (a few garbage bytes) rejects with code bad_model, and the other engine's Worker
//   still answers; a Worker that cannot start is code "worker"; a model too big for wasm32 with
//   the n_ctx asked is refused with out_of_memory from its header, a few MB into the download;
// - a panic is code "panic", the engine then refuses calls, and a new engine works;
// - a load aborted by its signal rejects with code "aborted" and caches nothing; a server that
//   does not give the size (chunked transfer) works, with total undefined in onProgress;
// - deleteCachedModel / clearModelCache empty the cache; without OPFS the Cache API keeps the
//   model (checked with the engine in place on the page, worker: false);
// - with a storage quota smaller than the model, the load fails with code quota_exceeded and the
//   navigator.storage.estimate() numbers.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createReadStream } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { createStaticServer } from "../../scripts/serve.mjs";
import { launchChromium } from "./chromium.mjs";
import { check, failures } from "./check.mjs";

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const modelPath = execFileSync("python3", [path.join(repo, "scripts/fetch_model.py")], { encoding: "utf8" }).trim();
const modelName = path.basename(modelPath);

const requests = new Map(); // "METHOD /path" -> count
const server = createStaticServer({
  routes: {
    "/pkg/": path.join(repo, "pkg"),
    "/models/": path.dirname(modelPath),
    "/tests/wasm/browser/": path.join(repo, "tests/wasm/browser"),
  },
  onRequest: (req, url, res) => {
    const key = `${req.method} ${url.pathname}`;
    requests.set(key, (requests.get(key) ?? 0) + 1);
    if (url.pathname === "/chunked/model.gguf") {
      // No Content-Length (chunked transfer): the loader does not know the size in advance.
      res.setHeader("Content-Type", "application/octet-stream");
      createReadStream(modelPath, { highWaterMark: 1 << 20 }).pipe(res);
      return true;
    }
    return false;
  },
});
await new Promise((r) => server.listen(0, "127.0.0.1", r));
const origin = `http://127.0.0.1:${server.address().port}`;
const modelUrl = `${origin}/models/${modelName}`;
const modelGets = () => requests.get(`GET /models/${modelName}`) ?? 0;

const chromium = await launchChromium();
const page = await chromium.newPage();
await page.goto(`${origin}/tests/wasm/browser/api.html`);
await page.evaluate(async () => {
  window.ruvllm = await import("/pkg/engine.js");
  window.codeOf = async (f) => {
    try {
      await f();
      return "no error";
    } catch (e) {
      return { code: e.code, name: e.name, message: e.message, isError: e instanceof Error };
    }
  };
});


const load = (options = {}) =>
  page.evaluate(
    async (url, options) => {
      const progress = [];
      const t0 = performance.now();
      window.engine = await window.ruvllm.createEngine({ model: url, onProgress: (p) => progress.push(p), ...options });
      return { progress, ms: performance.now() - t0, info: window.engine.info() };
    },
    `/models/${modelName}`,
    options,
  );

await check("a URL loads in a Worker with onProgress increasing to the total, and is cached", async () => {
  await page.evaluate(() => window.ruvllm.clearModelCache());
  const { progress, ms, info } = await load();
  assert.equal(modelGets(), 1);
  assert.ok(progress.length >= 2, `${progress.length} progress calls`);
  for (let i = 1; i < progress.length; i++) assert.ok(progress[i].loaded > progress[i - 1].loaded, "loaded increases");
  assert.deepEqual(progress.at(-1), { loaded: info.model_bytes, total: info.model_bytes });
  assert.equal(info.worker, true);
  // Served with COOP/COEP: the engine's Worker runs the threaded build, with the default threads.
  const cores = await page.evaluate(() => navigator.hardwareConcurrency);
  assert.equal(info.build, "threaded");
  assert.equal(info.threads, Math.min(cores, 8));
  assert.equal(info.kernels, "simd128");
  const cached = await page.evaluate(() => window.ruvllm.listCachedModels());
  assert.deepEqual(
    cached.map((c) => [c.url, c.size]),
    [[modelUrl, info.model_bytes]],
  );
  console.log(`     loaded ${info.model_bytes} bytes in ${ms.toFixed(0)} ms (${progress.length} progress calls), cached in ${cached[0].storage}`);
});

await check("a load aborted by its signal rejects with code aborted and caches nothing; a size the server does not give works", async () => {
  const r = await page.evaluate(async (name) => {
    const controller = new AbortController();
    const aborted = await window.codeOf(() =>
      window.ruvllm.createEngine({ model: "/chunked/model.gguf", signal: controller.signal, onProgress: () => controller.abort() }),
    );
    const cached = await window.ruvllm.listCachedModels();
    const progress = [];
    const engine = await window.ruvllm.createEngine({ model: "/chunked/model.gguf", cache: false, onProgress: (p) => progress.push(p) });
    const info = engine.info();
    const { text } = await engine.complete("The capital of France is", { temperature: 0, max_tokens: 4 });
    await engine.unload();
    const after = await window.codeOf(() => engine.complete("Hi"));
    return { aborted, cached: cached.map((c) => c.url), progress, info, text, after, listed: await window.ruvllm.listCachedModels() };
  }, modelName);
  assert.equal(r.aborted.code, "aborted", r.aborted.message);
  assert.equal(r.aborted.name, "AbortError");
  assert.deepEqual(r.cached, [`${origin}/models/${modelName}`], "the aborted download was not cached");
  assert.ok(r.progress.length >= 2 && r.progress.every((p) => p.total === undefined));
  assert.equal(r.progress.at(-1).loaded, r.info.model_bytes);
  assert.ok(r.text.length > 0);
  assert.equal(r.after.code, "unloaded");
  assert.equal(r.listed.length, 1, "cache: false writes nothing");
});

await check("generate() streamed equals complete(); chat.completions streamed equals not streamed", async () => {
  const r = await page.evaluate(async () => {
    const prompt = "The capital of France is";
    const stream = window.engine.generate(prompt, { temperature: 0, max_tokens: 24 });
    const pieces = [];
    for await (const piece of stream) pieces.push(piece);
    const usage = await stream.usage;
    const whole = await window.engine.complete(prompt, { temperature: 0, max_tokens: 24 });
    const params = { messages: [{ role: "user", content: "Name three colours." }], temperature: 0, max_tokens: 24 };
    const reply = await window.engine.chat.completions.create(params);
    const chunks = [];
    for await (const c of await window.engine.chat.completions.create({ ...params, stream: true })) chunks.push(c);
    return { pieces, usage, whole, reply, chunks };
  });
  assert.ok(r.pieces.length > 1);
  assert.equal(r.pieces.join(""), r.whole.text);
  assert.equal(r.usage.generated_tokens, r.whole.usage.generated_tokens);
  assert.equal(r.usage.finish_reason, r.whole.usage.finish_reason);
  assert.ok(r.usage.decode_tokens_per_s > 0 && r.usage.prefill_tokens_per_s > 0);
  assert.equal(r.reply.object, "chat.completion");
  const content = r.reply.choices[0].message.content;
  assert.ok(content.length > 0);
  assert.ok(r.chunks.every((c) => c.object === "chat.completion.chunk"));
  assert.equal(r.chunks.map((c) => c.choices[0]?.delta.content ?? "").join(""), content);
  assert.equal(r.chunks.at(-2).choices[0].finish_reason, r.reply.choices[0].finish_reason);
  assert.deepEqual(r.chunks.at(-1).usage, { ...r.chunks.at(-1).usage, completion_tokens: r.reply.usage.completion_tokens });
  console.log(`     ${JSON.stringify(r.whole.text)}; decode ${r.usage.decode_tokens_per_s.toFixed(1)} t/s`);
});

await check("an AbortSignal stops a generation in the Worker within a token; the next request works", async () => {
  const r = await page.evaluate(async () => {
    const prompt = "Once upon a time";
    const reference = await window.engine.complete(prompt, { temperature: 0, max_tokens: 16 });
    const controller = new AbortController();
    const stream = window.engine.generate("List the numbers from one to one hundred:", {
      temperature: 0,
      max_tokens: 300,
      signal: controller.signal,
    });
    let pieces = 0;
    for await (const _ of stream) if (++pieces === 4) controller.abort();
    const usage = await stream.usage;
    const next = await window.engine.complete(prompt, { temperature: 0, max_tokens: 16 });
    return { reference: reference.text, usage, pieces, next: next.text };
  });
  assert.equal(r.usage.finish_reason, "abort");
  assert.ok(r.usage.generated_tokens <= 8, `${r.usage.generated_tokens} tokens generated after the abort at piece 4`);
  assert.equal(r.next, r.reference);
});

await check("a bad model rejects with code bad_model; no Worker is left dead", async () => {
  const r = await page.evaluate(async () => {
    const bad = await window.codeOf(() => window.ruvllm.createEngine({ model: new Uint8Array([71, 71, 85, 70, 3, 0, 0, 0, 9, 9]).buffer }));
    const garbage = await window.codeOf(() => window.ruvllm.createEngine({ model: new Blob(["garbage bytes"]) }));
    const noWorker = await window.codeOf(() =>
      window.ruvllm.createEngine({ model: new Blob(["x"]), workerUrl: "/tests/wasm/browser/no-such-worker.js" }),
    );
    const seen = [];
    const tooBig = await window.codeOf(() =>
      window.ruvllm.createEngine({
        model: "/chunked/model.gguf",
        n_ctx: 1 << 20,
        cache: false,
        onProgress: ({ loaded }) => seen.push(loaded),
      }),
    );
    const still = await window.engine.complete("Hello", { temperature: 0, max_tokens: 4 });
    return { bad, garbage, noWorker, tooBig, tooBigLoaded: seen.at(-1) ?? 0, still: still.usage.generated_tokens };
  });
  assert.equal(r.bad.code, "bad_model", r.bad.message);
  assert.ok(r.bad.isError);
  assert.equal(r.garbage.code, "bad_model", r.garbage.message);
  assert.equal(r.noWorker.code, "worker", r.noWorker.message);
  assert.equal(r.tooBig.code, "out_of_memory", r.tooBig.message);
  assert.match(r.tooBig.message, /KV cache \d+ MiB for n_ctx 1048576/);
  assert.ok(r.tooBigLoaded < 16 << 20, `refused after ${r.tooBigLoaded} bytes, from the header`);
  assert.equal(r.still, 4, "the loaded engine's Worker still answers");
  console.log(`     ${r.bad.message}`);
});

await check("the second load of the URL comes from the cache without a network request", async () => {
  await page.evaluate(() => window.engine.unload());
  const before = modelGets();
  const heads = requests.get(`HEAD /models/${modelName}`) ?? 0;
  const { progress, ms, info } = await load();
  assert.equal(modelGets(), before, "no GET of the model");
  assert.equal(requests.get(`HEAD /models/${modelName}`) ?? 0, heads, "no HEAD either");
  assert.deepEqual(progress.at(-1), { loaded: info.model_bytes, total: info.model_bytes });
  const { text } = await page.evaluate(() => window.engine.complete("The capital of France is", { temperature: 0, max_tokens: 8 }));
  assert.ok(text.length > 0);
  console.log(`     from the cache in ${ms.toFixed(0)} ms`);
  // cache: "revalidate" asks with one HEAD request; the size and ETag match, so no GET.
  await page.evaluate(() => window.engine.unload());
  await load({ cache: "revalidate" });
  assert.equal(requests.get(`HEAD /models/${modelName}`) ?? 0, heads + 1, "one HEAD");
  assert.equal(modelGets(), before, "still no GET");
});

await check("a panic is code panic; the engine then refuses calls; a new engine works", async () => {
  const r = await page.evaluate(async (name) => {
    const panic = await window.codeOf(() => window.engine._debugPanic("checking the panic path"));
    const after = await window.codeOf(() => window.engine.complete("Hi"));
    const info = await window.codeOf(() => window.engine.info());
    await window.engine.unload();
    window.engine = await window.ruvllm.createEngine({ model: `/models/${name}` });
    const again = await window.engine.complete("Hello", { temperature: 0, max_tokens: 3 });
    return { panic, after, info, again: again.usage.generated_tokens };
  }, modelName).catch((e) => ({ error: String(e) }));
  assert.equal(r.error, undefined, r.error);
  assert.equal(r.panic.code, "panic");
  assert.match(r.panic.message, /checking the panic path/);
  assert.equal(r.after.code, "panic");
  assert.equal(r.info.code, "panic");
  assert.equal(r.again, 3);
});

await check("deleteCachedModel and clearModelCache empty the cache", async () => {
  const r = await page.evaluate(async (url) => {
    const removed = await window.ruvllm.deleteCachedModel(url);
    const after = await window.ruvllm.listCachedModels();
    const removedAgain = await window.ruvllm.deleteCachedModel(url);
    await window.ruvllm.clearModelCache();
    return { removed, after, removedAgain, cleared: await window.ruvllm.listCachedModels() };
  }, modelUrl);
  assert.equal(r.removed, true);
  assert.deepEqual(r.after, []);
  assert.equal(r.removedAgain, false);
  assert.deepEqual(r.cleared, []);
});

await check("without OPFS the model is cached with the Cache API (the engine in place on the page)", async () => {
  const before = modelGets();
  const r = await page.evaluate(async (name) => {
    await window.ruvllm.clearModelCache();
    const saved = Object.getOwnPropertyDescriptor(StorageManager.prototype, "getDirectory");
    delete StorageManager.prototype.getDirectory;
    try {
      const load = async () => {
        const engine = await window.ruvllm.createEngine({ model: `/models/${name}`, worker: false });
        const info = engine.info();
        const { text } = await engine.complete("The capital of France is", { temperature: 0, max_tokens: 4 });
        await engine.unload();
        return { info, text };
      };
      const first = await load();
      const listed = await window.ruvllm.listCachedModels();
      const second = await load();
      await window.ruvllm.clearModelCache();
      return { first, listed, second, cleared: await window.ruvllm.listCachedModels() };
    } finally {
      Object.defineProperty(StorageManager.prototype, "getDirectory", saved);
    }
  }, modelName);
  assert.equal(modelGets(), before + 1, "one download, the second load from the Cache API");
  assert.equal(r.first.info.worker, false);
  assert.deepEqual(
    r.listed.map((c) => [c.url, c.size, c.storage]),
    [[modelUrl, r.first.info.model_bytes, "cache"]],
  );
  assert.equal(r.second.text, r.first.text);
  assert.deepEqual(r.cleared, []);
});

await check("a model larger than the storage quota is a clear quota_exceeded error", async () => {
  const cdp = await page.createCDPSession();
  await cdp.send("Storage.overrideQuotaForOrigin", { origin, quotaSize: 16 << 20 });
  try {
    const r = await page.evaluate(async (name) => {
      await window.ruvllm.clearModelCache();
      const err = await window.codeOf(() => window.ruvllm.createEngine({ model: `/models/${name}` }));
      return { err, cached: await window.ruvllm.listCachedModels() };
    }, modelName);
    assert.equal(r.err.code, "quota_exceeded", r.err.message);
    // (The override is enforced on writes, but estimate() in the Worker may still report the
    // default quota: the numbers are checked for their form only.)
    assert.match(r.err.message, /the model \(93\.8 MiB\): this origin uses [\d.]+ MiB of its [\d.]+ MiB storage quota/);
    assert.deepEqual(r.cached, [], "nothing half-written is listed");
    console.log(`     ${r.err.message}`);
  } finally {
    await cdp.send("Storage.overrideQuotaForOrigin", { origin });
  }
});

await page.evaluate(() => window.engine?.unload());
await chromium.close();
server.close();
if (failures()) {
  console.log(`${failures()} check(s) failed`);
  process.exit(1);
}
console.log("all engine API checks passed on a page's main thread in Chromium (the engine in its own Worker)");
