// The in-place engine: the wasm module on this thread (Node, or inside a Worker). The page's main
// thread never runs this directly: `createEngine` there starts `worker.js`, which runs it.
//
// Generation is stepwise: `Engine.begin` / `beginChat` start a request, each `Engine.step()` runs
// one prompt batch or one token, and between steps this loop yields to the event loop (a
// macrotask), so an abort message or an AbortSignal is seen within one token.

import init, { initSync, Engine, EngineLoader, debugPanic } from "./ruvllm.js";
import { codedError, abortError } from "./errors.js";
import { feedModel } from "./loader.js";

const isNode = typeof globalThis.process?.versions?.node === "string";

let ready = null;
// Set once the module has trapped (a Rust panic): its state can no longer be trusted.
let modulePanic = null;

/** Instantiates the wasm module once per thread (later calls share it). `wasm`: bytes, a URL, or
 *  nothing (then `ruvllm_bg.wasm` beside this file). */
export function initWasm(wasm) {
  if (!ready) {
    ready = (async () => {
      const source = wasm ?? new URL("./ruvllm_bg.wasm", import.meta.url);
      try {
        if (source instanceof Uint8Array || source instanceof ArrayBuffer) {
          initSync({ module: source });
        } else if (isNode && (source instanceof URL ? source.protocol === "file:" : !/^https?:/i.test(source))) {
          // Node's fetch cannot read file: URLs; read the file and compile it synchronously.
          const { readFile } = await import("node:fs/promises");
          initSync({ module: await readFile(source) });
        } else {
          await init({ module_or_path: source });
        }
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
    ready.catch(() => {
      ready = null;
    });
  }
  return ready;
}

function panicMessage(e) {
  const message = globalThis.__ruvllmPanic;
  delete globalThis.__ruvllmPanic;
  return message ? `the engine panicked: ${message}` : `the wasm module trapped: ${e.message}`;
}

/** Calls into wasm; a trap (a Rust panic, or an abort such as running out of memory) becomes an
 *  Error with code "panic" and poisons this thread's module. */
function wasmCall(f) {
  if (modulePanic) throw refusedAfterPanic();
  try {
    return f();
  } catch (e) {
    if (e instanceof WebAssembly.RuntimeError) {
      modulePanic = panicMessage(e);
      throw codedError("panic", modulePanic);
    }
    throw e;
  }
}

function refusedAfterPanic() {
  return codedError(
    "panic",
    `the engine cannot be used after a panic (${modulePanic}); create a new engine ` +
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

/**
 * Loads a model on this thread. `model`: a URL, a path (Node), a Blob/File, an ArrayBuffer or a
 * typed array. Options: n_ctx, n_batch, threads, onProgress({ loaded, total }), signal, cache,
 * wasm. Returns a LocalEngine.
 */
export async function loadLocalEngine({ model, n_ctx, n_batch, threads, onProgress, signal, cache, wasm } = {}) {
  if (threads !== undefined && !(Number.isInteger(threads) && threads >= 1)) {
    throw codedError("invalid_argument", `threads = ${threads}: must be a positive integer`);
  }
  if (signal?.aborted) throw abortError("the model load was aborted");
  await initWasm(wasm);
  if (modulePanic) throw refusedAfterPanic();
  const optionsJson = JSON.stringify({ n_ctx, n_batch });
  let loader = null;
  try {
    await feedModel(model, {
      begin: (total) => {
        loader = wasmCall(() => new EngineLoader(total ?? undefined, optionsJson));
      },
      push: (chunk) => wasmCall(() => loader.push(chunk)),
      onProgress,
      signal,
      cache,
    });
    const finishing = loader;
    loader = null; // finish() consumes it, even when it fails
    const wasmEngine = wasmCall(() => finishing.finish());
    return new LocalEngine(wasmEngine, threads ?? 1);
  } finally {
    if (loader && !modulePanic) loader.free();
  }
}

/** The engine on this thread. Requests run one at a time, in order. */
export class LocalEngine {
  #engine;
  #info;
  #queue = Promise.resolve();

  constructor(wasmEngine, threadsAsked) {
    this.#engine = wasmEngine;
    this.#info = JSON.parse(wasmCall(() => wasmEngine.info()));
    this.#info.threads_requested = threadsAsked;
  }

  #live() {
    if (modulePanic) throw refusedAfterPanic();
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
    return Array.from(wasmCall(() => e.tokenize(text, addSpecial, parseSpecial)));
  }

  detokenize(ids, { special = false } = {}) {
    let array;
    try {
      array = Uint32Array.from(ids, (x) => {
        if (!Number.isInteger(x) || x < 0 || x > 0xffffffff) throw new TypeError(`${x} is not a token id`);
        return x;
      });
    } catch (err) {
      throw codedError("invalid_argument", `detokenize: ids must be token ids (${err.message})`);
    }
    const e = this.#live();
    return wasmCall(() => e.detokenize(array, special));
  }

  /** Forgets the cached conversation (after the requests already queued). */
  reset() {
    return this.#enqueue(() => {
      const e = this.#live();
      wasmCall(() => e.reset());
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
      wasmCall(() => e.beginChat(JSON.stringify(input), json));
    } else {
      if (typeof input !== "string") throw codedError("invalid_argument", "the prompt must be a string");
      wasmCall(() => e.begin(input, json));
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
          wasmCall(() => e.abort());
          stopped = true;
        }
        const piece = wasmCall(() => e.step());
        if (piece === undefined) break;
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
      const usage = JSON.parse(wasmCall(() => e.end()));
      if (thrown) throw thrown;
      return { text, usage };
    } finally {
      signal?.removeEventListener("abort", onAbort);
    }
  }

  /** Test hook: panics inside wasm (see `debugPanic` in src/wasm/mod.rs). */
  debugPanic(message) {
    this.#live();
    wasmCall(() => debugPanic(message));
  }

  /** Frees the model's wasm memory once the request in progress (aborted) has ended; the engine
   *  cannot be used afterwards. Resolves when the memory is free. */
  unload() {
    const e = this.#engine;
    this.#engine = null;
    if (!e) return Promise.resolve();
    return this.#queue.then(() => {
      if (!modulePanic) e.free();
    });
  }
}
