// ruvllm in JavaScript: createEngine and the model cache.
//
//   import { createEngine } from "ruvllm";
//   const engine = await createEngine({ model: "https://example.com/model.gguf", onProgress, signal });
//   for await (const piece of engine.generate("The capital of France is", { max_tokens: 32 })) ...
//   const reply = await engine.chat.completions.create({ messages: [{ role: "user", content: "Hi" }] });
//   await engine.unload();
//
// On a page's main thread the engine runs in its own module Worker (worker.js, started here);
// in Node or inside a Worker it runs in place. The API is the same; see engine.d.ts.
// Two wasm builds: "threaded" (SharedArrayBuffer: the forward pass on `threads` threads, helper
// Workers started by the engine's Worker) where the page is cross-origin isolated, "single"
// elsewhere; `engine.info().build` says which runs, `info().threads` how many threads.
// The forward pass runs on the CPU or, with `backend: "webgpu"` (or "auto" where the browser has a
// hardware GPU), on WebGPU in the single build; `info().backend` and `info().gpu` say which.
//
// Every failure is an Error with a `code`: "bad_model", "unsupported_model", "invalid_argument",
// "out_of_memory", "quota_exceeded", "io", "aborted", "context_full", "bad_token",
// "no_chat_template", "bad_template", "panic", "worker", "unsupported_browser", "unloaded",
// "no_gpu", "gpu", "gpu_lost", "internal".

import { loadLocalEngine } from "./core.js";
import { createWorkerBackend } from "./client.js";
import { makeEngine } from "./api.js";
import { codedError } from "./errors.js";

export { initWasm } from "./core.js";
export { listCachedModels, deleteCachedModel, clearModelCache } from "./cache.js";

const OPTIONS = new Set(["model", "threads", "build", "backend", "precision", "onProgress", "signal", "n_ctx", "n_batch", "cache", "wasm", "worker", "workerUrl"]);

/**
 * Loads a model and returns the engine.
 * - model: a URL (streamed, cached in origin storage), a File/Blob, an ArrayBuffer or typed
 *   array, or (Node) a path;
 * - threads: threads of the forward pass in the threaded build (default
 *   navigator.hardwareConcurrency, at most 8); the single build uses 1;
 * - build: "auto" (default: "threaded" when crossOriginIsolated and SharedArrayBuffer exist and
 *   the engine runs in a Worker, else "single"), "single", or "threaded" (rejects with
 *   unsupported_browser where it cannot run);
 * - backend: "auto" (default: WebGPU where the browser has a hardware adapter, else the CPU;
 *   `info().backend_note` says why the GPU was not used), "cpu", or "webgpu" (the single build
 *   on WebGPU; rejects with "no_gpu" where there is none, "gpu" where the device refuses the model);
 * - precision: "standard" (default: the attention's Q/K/V inputs as value-and-residual Q8
 *   pairs, the other linears' as one Q8 row, as llama.cpp) or "high" (every linear paired:
 *   closest to the exact forward pass, ~1.5x slower);
 * - onProgress({ loaded, total }): as the bytes arrive (total undefined if the server did not say);
 * - signal: an AbortSignal that cancels the load (rejects with code "aborted");
 * - n_ctx (2048), n_batch (256): the context and prefill batch;
 * - cache: true (default: a cached URL is used without any request), "revalidate" (ask the
 *   server whether its size or ETag changed), false (neither read nor write the cache);
 * - worker: "auto" (default: a Worker on a page's main thread, in place elsewhere), true, false;
 * - wasm, workerUrl: where the chosen build's .wasm (ruvllm_bg.wasm or ruvllm_threaded_bg.wasm)
 *   and worker.js are, if not beside this file.
 */
export async function createEngine(options) {
  if (!options || typeof options !== "object") throw codedError("invalid_argument", "createEngine({ model, ... }): options are required");
  for (const key of Object.keys(options)) {
    if (!OPTIONS.has(key)) throw codedError("invalid_argument", `createEngine: unknown option ${key}`);
  }
  const { worker = "auto", ...rest } = options;
  if (rest.model === undefined || rest.model === null) {
    throw codedError("invalid_argument", "createEngine: model is required (a URL, a File/Blob or an ArrayBuffer)");
  }
  if (rest.onProgress !== undefined && typeof rest.onProgress !== "function") {
    throw codedError("invalid_argument", "createEngine: onProgress must be a function");
  }
  if (rest.threads !== undefined && !(Number.isInteger(rest.threads) && rest.threads >= 1)) {
    throw codedError("invalid_argument", `createEngine: threads = ${rest.threads}: must be a positive integer`);
  }
  if (rest.build !== undefined && !["auto", "single", "threaded"].includes(rest.build)) {
    throw codedError("invalid_argument", `createEngine: build = ${rest.build}: must be "auto", "single" or "threaded"`);
  }
  if (rest.backend !== undefined && !["auto", "cpu", "webgpu"].includes(rest.backend)) {
    throw codedError("invalid_argument", `createEngine: backend = ${rest.backend}: must be "auto", "cpu" or "webgpu"`);
  }
  if (rest.precision !== undefined && !["standard", "high"].includes(rest.precision)) {
    throw codedError("invalid_argument", `createEngine: precision = ${rest.precision}: must be "standard" or "high"`);
  }
  if (![true, false, "auto"].includes(worker)) throw codedError("invalid_argument", 'createEngine: worker must be true, false or "auto"');
  const onMainThread = typeof document !== "undefined" && typeof Worker === "function";
  if (worker === true || (worker === "auto" && onMainThread)) {
    return makeEngine(await createWorkerBackend(rest));
  }
  const { workerUrl: _unused, ...local } = rest;
  const engine = await loadLocalEngine(local);
  return makeEngine({
    info: () => ({ ...engine.info(), worker: false }),
    tokenize: (text, o) => engine.tokenize(text, o),
    detokenize: (ids, o) => engine.detokenize(ids, o),
    logits: (ids, o) => engine.logits(ids, o),
    reset: () => engine.reset(),
    run: (kind, input, o, extra) => engine.run(kind, input, o, extra),
    debugPanic: (message) => engine.debugPanic(message),
    debugLoseGpu: () => engine.debugLoseGpu(),
    unload: () => engine.unload(),
  });
}
