// The in-place engine: the wasm module on this thread (Node, or inside a Worker). The page's main
// thread never runs this directly: `createEngine` there starts `worker.js`, which runs it.
//
// Generation is stepwise: `Engine.begin` / `beginChat` start a request, each `Engine.step()` runs
// one prompt batch or one token, and between steps this loop yields to the event loop (a
// macrotask), so an abort message or an AbortSignal is seen within one token.
//
// Two builds of the module sit beside this file: "single" (ruvllm.js, any runtime with
// WebAssembly SIMD) and "threaded" (ruvllm_threaded.js: shared memory, the forward pass on a pool
// of helper Workers, threads.js). `build: "auto"` takes the threaded one where it can run
// (threadedAvailable(): cross-origin isolated, inside a Worker) and the single one elsewhere.
//
// The forward pass runs on the CPU or on WebGPU (`backend`). Only the single build has the GPU
// backend (with the GPU doing the work, the threaded build's CPU threads would idle); there the
// engine is made asynchronously (`EngineLoader.finishGpu`: the adapter, device and the
// pipelines' error checks arrive as promises) and each step's logits come back through a
// mapping that resolves on the event loop: `Engine.step()` returns null while they are on their
// way, and the loop awaits `Engine.whenReady` before stepping again.

import { codedError, abortError } from "./errors.js";
import { feedModel, nodeModule } from "./loader.js";
import { threadedAvailable, defaultThreads, startHelpers } from "./threads.js";

const isNode = typeof globalThis.process?.versions?.node === "string";

// Per build: the glue module once instantiated on this thread, and `panic`, set once that module
// has trapped (a Rust panic): its state can no longer be trusted.
// The module and wasm paths are literals (`import("./x.js")`, `new URL("./x.wasm", import.meta.url)`)
// so that bundlers see them and emit the files (tests/wasm/packaging.mjs builds an app with Vite).
const builds = {
  single: {
    glue: () => import("./ruvllm.js"),
    wasm: () => new URL("./ruvllm_bg.wasm", import.meta.url),
    ready: null,
    panic: null,
  },
  threaded: {
    glue: () => import("./ruvllm_threaded.js"),
    wasm: () => new URL("./ruvllm_threaded_bg.wasm", import.meta.url),
    ready: null,
    panic: null,
  },
};

/** The build `build` ("auto", "single" or "threaded") means on this thread. */
export function resolveBuild(build = "auto") {
  if (build === "auto") return threadedAvailable() ? "threaded" : "single";
  if (build === "threaded" && !threadedAvailable()) {
    throw codedError(
      "unsupported_browser",
      "the threaded build needs SharedArrayBuffer in a Worker: a cross-origin isolated page (served with " +
        "Cross-Origin-Opener-Policy: same-origin and Cross-Origin-Embedder-Policy: require-corp)",
    );
  }
  if (build !== "single" && build !== "threaded") {
    throw codedError("invalid_argument", `build = ${build}: must be "auto", "single" or "threaded"`);
  }
  return build;
}

/** Instantiates a build of the wasm module once per thread (later calls share it) and resolves
 *  to its glue. `wasm`: bytes, a URL, or nothing (then the build's `*_bg.wasm` beside this file);
 *  `build`: "single" (default) or "threaded". */
export function initWasm(wasm, { build = "single" } = {}) {
  const state = builds[resolveBuild(build)];
  if (!state.ready) {
    state.ready = (async () => {
      const source = wasm ?? state.wasm();
      const glue = await state.glue();
      try {
        if (source instanceof Uint8Array || source instanceof ArrayBuffer) {
          glue.initSync({ module: source });
        } else if (isNode && (source instanceof URL ? source.protocol === "file:" : !/^https?:/i.test(source))) {
          // Node's fetch cannot read file: URLs; read the file and compile it synchronously.
          const { readFile } = await nodeModule("node:fs/promises");
          glue.initSync({ module: await readFile(source) });
        } else {
          await glue.default({ module_or_path: source });
        }
        return glue;
      } catch (e) {
        if (e instanceof WebAssembly.CompileError) {
          throw codedError(
            "unsupported_browser",
            `cannot compile ruvllm's WebAssembly module: ${e.message} (it needs WebAssembly SIMD, simd128: ` +
              "Chrome 91, Firefox 89, Safari 16.4, Node 16.4 or later)",
          );
        }
        throw codedError("io", `cannot load ruvllm's WebAssembly module (${source}): ${e.message}`);
      }
    })();
    state.ready.catch(() => {
      state.ready = null;
    });
  }
  return state.ready;
}

function panicMessage(e) {
  const message = globalThis.__ruvllmPanic;
  delete globalThis.__ruvllmPanic;
  return message ? `the engine panicked: ${message}` : `the wasm module trapped: ${e.message}`;
}

/** Calls into the wasm module of `state`; a trap (a Rust panic, or an abort such as running out
 *  of memory) becomes an Error with code "panic" and poisons this thread's instance of it. */
function wasmCall(state, f) {
  if (state.panic) throw refusedAfterPanic(state);
  try {
    return f();
  } catch (e) {
    if (e instanceof WebAssembly.RuntimeError) {
      state.panic = panicMessage(e);
      throw codedError("panic", state.panic);
    }
    throw e;
  }
}

function refusedAfterPanic(state) {
  return codedError(
    "panic",
    `the engine cannot be used after a panic (${state.panic}); create a new engine ` +
      "(on a page's main thread createEngine starts a fresh Worker; inside your own Worker, start a new one)",
  );
}

// One macrotask: lets the thread's message queue (an abort message, an AbortSignal's event) run.
const yieldToEventLoop = (() => {
  if (typeof globalThis.setImmediate === "function") return () => new Promise((r) => setImmediate(r));
  if (typeof MessageChannel === "function") {
    const channel = new MessageChannel();
    const waiting = [];
    channel.port1.onmessage = () => waiting.shift()?.();
    return () =>
      new Promise((r) => {
        waiting.push(r);
        channel.port2.postMessage(null);
      });
  }
  return () => new Promise((r) => setTimeout(r, 0));
})();

/** Calls an async export of the wasm module of `state` (see wasmCall). */
async function wasmCallAsync(state, f) {
  if (state.panic) throw refusedAfterPanic(state);
  try {
    return await f();
  } catch (e) {
    if (e instanceof WebAssembly.RuntimeError) {
      state.panic = panicMessage(e);
      throw codedError("panic", state.panic);
    }
    throw e;
  }
}

/**
 * Where the forward pass runs, decided before a build is chosen: { gpu: null | "webgpu" | "auto",
 * build, note }. "webgpu" insists (the single build; the device's errors reject the load);
 * "auto" takes WebGPU only where the browser offers a hardware adapter (a software one, such as
 * SwiftShader, is slower than the CPU kernels), otherwise the CPU with `note` saying why.
 */
async function chooseBackend(backend, build) {
  if (!["auto", "cpu", "webgpu"].includes(backend)) {
    throw codedError("invalid_argument", `backend = ${backend}: must be "auto", "cpu" or "webgpu"`);
  }
  if (backend === "cpu") return { gpu: null, build: resolveBuild(build), note: null };
  if (backend === "webgpu") {
    if (build === "threaded") {
      throw codedError("invalid_argument", 'backend "webgpu" runs in the single build (build "auto" or "single")');
    }
    resolveBuild(build);
    return { gpu: "webgpu", build: "single", note: null };
  }
  if (build === "threaded") return { gpu: null, build: resolveBuild(build), note: "GPU not used: build \"threaded\" was asked for" };
  let note;
  try {
    const adapter = await globalThis.navigator?.gpu?.requestAdapter?.({ powerPreference: "high-performance" });
    const fallback = adapter?.info?.isFallbackAdapter ?? adapter?.isFallbackAdapter;
    if (adapter && !fallback) return { gpu: "auto", build: "single", note: null };
    note = !globalThis.navigator?.gpu
      ? "GPU not used: this JavaScript environment has no WebGPU (navigator.gpu)"
      : adapter
        ? `GPU not used: only a software adapter (${adapter.info?.description || adapter.info?.vendor || "fallback"}): the CPU backend is faster`
        : "GPU not used: WebGPU offers no adapter";
  } catch (e) {
    note = `GPU not used: requesting a WebGPU adapter failed (${e.message})`;
  }
  return { gpu: null, build: resolveBuild(build), note };
}

/**
 * Loads a model on this thread. `model`: a URL, a path (Node), a Blob/File, an ArrayBuffer or a
 * typed array. Options: n_ctx, n_batch, threads (threaded build: default
 * navigator.hardwareConcurrency, at most 8; the single build uses 1), build ("auto", "single",
 * "threaded"), backend ("auto", "cpu", "webgpu"; see chooseBackend), precision ("standard",
 * "high"), onProgress({ loaded,
 * total }), signal, cache, wasm (the chosen build's module). Returns a LocalEngine.
 */
export async function loadLocalEngine({ model, n_ctx, n_batch, threads, build, backend = "auto", precision, onProgress, signal, cache, wasm } = {}) {
  if (threads !== undefined && !(Number.isInteger(threads) && threads >= 1)) {
    throw codedError("invalid_argument", `threads = ${threads}: must be a positive integer`);
  }
  if (signal?.aborted) throw abortError("the model load was aborted");
  const chosen = await chooseBackend(backend, build);
  const which = chosen.build;
  const state = builds[which];
  const glue = await initWasm(wasm, { build: which });
  if (state.panic) throw refusedAfterPanic(state);
  const used = which === "threaded" ? (threads ?? defaultThreads()) : 1;
  const optionsJson = JSON.stringify({ n_ctx, n_batch, threads: used, precision });
  let loader = null;
  let wasmEngine = null;
  try {
    await feedModel(model, {
      begin: (total) => {
        loader = wasmCall(state, () => new glue.EngineLoader(total ?? undefined, optionsJson));
      },
      push: (chunk) => wasmCall(state, () => loader.push(chunk)),
      onProgress,
      signal,
      cache,
    });
    const finishing = loader;
    loader = null; // finish() consumes it, even when it fails
    if (chosen.gpu) {
      if (typeof finishing.finishGpu !== "function") {
        throw codedError("no_gpu", "this build of ruvllm has no GPU backend");
      }
      wasmEngine = await wasmCallAsync(state, () => finishing.finishGpu(chosen.gpu === "auto"));
    } else {
      wasmEngine = wasmCall(state, () => finishing.finish());
    }
    const handle = wasmCall(state, () => wasmEngine.poolHandle());
    const helpers = handle === undefined ? null : await startHelpers(glue, handle, used);
    const engine = new LocalEngine(state, glue, wasmEngine, threads ?? used, helpers, chosen.note);
    wasmEngine = null;
    return engine;
  } finally {
    if (loader && !state.panic) loader.free();
    if (wasmEngine && !state.panic) wasmEngine.free();
  }
}

/** `ids` as a Uint32Array, or an invalid_argument error naming the call `what`. */
function tokenIds(ids, what) {
  try {
    return Uint32Array.from(ids, (x) => {
      if (!Number.isInteger(x) || x < 0 || x > 0xffffffff) throw new TypeError(`${x} is not a token id`);
      return x;
    });
  } catch (err) {
    throw codedError("invalid_argument", `${what}: ids must be token ids (${err.message})`);
  }
}

/** The engine on this thread. Requests run one at a time, in order. */
export class LocalEngine {
  #state;
  #glue;
  #engine;
  #helpers;
  #info;
  #queue = Promise.resolve();

  constructor(state, glue, wasmEngine, threadsAsked, helpers, backendNote) {
    this.#state = state;
    this.#glue = glue;
    this.#engine = wasmEngine;
    this.#helpers = helpers;
    this.#info = JSON.parse(wasmCall(state, () => wasmEngine.info()));
    this.#info.threads_requested = threadsAsked;
    this.#info.backend_note ??= backendNote ?? null;
  }

  #live() {
    if (this.#state.panic) throw refusedAfterPanic(this.#state);
    if (!this.#engine) throw codedError("unloaded", "the engine was unloaded");
    return this.#engine;
  }

  info() {
    this.#live();
    return { ...this.#info };
  }

  tokenize(text, { addSpecial = false, parseSpecial = false } = {}) {
    if (typeof text !== "string") throw codedError("invalid_argument", "tokenize: text must be a string");
    const e = this.#live();
    return Array.from(wasmCall(this.#state, () => e.tokenize(text, addSpecial, parseSpecial)));
  }

  detokenize(ids, { special = false } = {}) {
    const array = tokenIds(ids, "detokenize");
    const e = this.#live();
    return wasmCall(this.#state, () => e.detokenize(array, special));
  }

  /**
   * Evaluates token `ids` after what the engine holds (after nothing with `reset`), outside any
   * request, and resolves to the logits for the next token (a Float32Array of n_vocab values).
   * The next request then evaluates its whole prompt.
   */
  logits(ids, { reset = false } = {}) {
    const array = tokenIds(ids, "logits");
    return this.#enqueue(async () => {
      const e = this.#live();
      wasmCall(this.#state, () => e.evalTokens(array, reset));
      await new Promise((resolve) => wasmCall(this.#state, () => e.whenReady(resolve)));
      return wasmCall(this.#state, () => e.logits());
    });
  }

  /** Forgets the cached conversation (after the requests already queued). */
  reset() {
    return this.#enqueue(() => {
      const e = this.#live();
      wasmCall(this.#state, () => e.reset());
    });
  }

  /**
   * Runs one request: `kind` "generate" (input: a prompt string) or "chat" (input: messages).
   * `options` go to the wasm engine as JSON. `onPiece(text)` gets each piece as it is final.
   * Resolves to { text, usage }; an abort (signal) ends it with usage.finish_reason "abort".
   */
  run(kind, input, options, { signal, onPiece } = {}) {
    return this.#enqueue(() => this.#run(kind, input, options, signal, onPiece));
  }

  #enqueue(task) {
    const result = this.#queue.then(task);
    this.#queue = result.catch(() => {});
    return result;
  }

  async #run(kind, input, options, signal, onPiece) {
    const e = this.#live();
    const json = JSON.stringify(options ?? {});
    if (kind === "chat") {
      if (!Array.isArray(input)) throw codedError("invalid_argument", "messages must be an array of { role, content }");
      wasmCall(this.#state, () => e.beginChat(JSON.stringify(input), json));
    } else {
      if (typeof input !== "string") throw codedError("invalid_argument", "the prompt must be a string");
      wasmCall(this.#state, () => e.begin(input, json));
    }
    let aborted = false;
    const onAbort = () => {
      aborted = true;
    };
    signal?.addEventListener("abort", onAbort);
    let text = "";
    let thrown = null;
    try {
      for (let stopped = false; ; ) {
        if ((aborted || signal?.aborted || thrown || !this.#engine) && !stopped) {
          wasmCall(this.#state, () => e.abort());
          stopped = true;
        }
        const piece = wasmCall(this.#state, () => e.step());
        if (piece === undefined) break;
        if (piece === null) {
          // The GPU has not delivered the last step's logits yet.
          await new Promise((resolve) => wasmCall(this.#state, () => e.whenReady(resolve)));
          continue;
        }
        if (piece && !thrown) {
          text += piece;
          try {
            onPiece?.(piece);
          } catch (err) {
            thrown = err;
          }
        }
        if (!stopped) await yieldToEventLoop();
      }
      const usage = JSON.parse(wasmCall(this.#state, () => e.end()));
      if (thrown) throw thrown;
      return { text, usage };
    } finally {
      signal?.removeEventListener("abort", onAbort);
    }
  }

  /** Test hook: destroys the GPU device, as a driver reset would (the next request must fail
   *  with code "gpu_lost", not hang). */
  debugLoseGpu() {
    return this.#enqueue(() => {
      const e = this.#live();
      wasmCall(this.#state, () => e.debugLoseGpu());
    });
  }

  /** Test hook: panics inside wasm (see `debugPanic` in src/wasm/mod.rs). */
  debugPanic(message) {
    this.#live();
    wasmCall(this.#state, () => this.#glue.debugPanic(message));
  }

  /** Frees the model's wasm memory once the request in progress (aborted) has ended; the engine
   *  cannot be used afterwards. Resolves when the memory is free. */
  unload() {
    const e = this.#engine;
    this.#engine = null;
    if (!e) return Promise.resolve();
    return this.#queue.then(async () => {
      const helpers = this.#helpers;
      this.#helpers = null;
      // Dropping the engine drops its pool, whose helpers then leave their loop, free their
      // threads' memory and close; after a panic (or if one does not within a second) they are
      // ended here.
      if (!this.#state.panic) e.free();
      if (helpers && !this.#state.panic) {
        await Promise.race([helpers.exited, new Promise((r) => setTimeout(r, 1000))]);
      }
      helpers?.terminate();
    });
  }
}
