// The page side of a Worker engine: starts worker.js as a module Worker and talks to it by
// messages (protocol in worker.js). Every reply is matched to its request by id; errors come
// back as Errors with their code; an AbortSignal becomes an "abort" message.

import { codedError, deserializeError } from "./errors.js";

class Rpc {
  #worker;
  #next = 1;
  #pending = new Map();
  #dead = null;

  constructor(worker) {
    this.#worker = worker;
    worker.onmessage = ({ data }) => {
      const p = this.#pending.get(data?.id);
      if (!p) return;
      if (data.type === "progress") p.onProgress?.({ loaded: data.loaded, total: data.total });
      else if (data.type === "piece") p.onPiece?.(data.text);
      else if (data.type === "done") p.settle(() => p.resolve(data.value));
      else if (data.type === "error") p.settle(() => p.reject(deserializeError(data.error)));
    };
    worker.onerror = (ev) => {
      ev.preventDefault?.();
      const why = ev.message || "it could not start (is worker.js served beside engine.js, as a module?)";
      this.fail(codedError("worker", `the engine's Worker failed: ${why}`));
    };
    worker.onmessageerror = () => this.fail(codedError("worker", "a message from the engine's Worker could not be read"));
  }

  /** Sends `message` and resolves with the reply's value. */
  call(message, { signal, onProgress, onPiece } = {}) {
    if (this.#dead) return Promise.reject(this.#dead);
    const id = this.#next++;
    return new Promise((resolve, reject) => {
      const onAbort = () => this.#worker.postMessage({ op: "abort", target: id });
      const settle = (f) => {
        this.#pending.delete(id);
        signal?.removeEventListener("abort", onAbort);
        f();
      };
      this.#pending.set(id, { resolve, reject, settle, onProgress, onPiece });
      signal?.addEventListener("abort", onAbort, { once: true });
      this.#worker.postMessage({ ...message, id });
      if (signal?.aborted) onAbort();
    });
  }

  /** Rejects every request in flight and every later one with `error`. */
  fail(error) {
    this.#dead ??= error;
    for (const p of this.#pending.values()) p.settle(() => p.reject(error));
  }

  terminate() {
    this.#worker.terminate();
    this.fail(codedError("unloaded", "the engine was unloaded"));
  }
}

function absolute(url) {
  const base = globalThis.document?.baseURI ?? globalThis.location?.href;
  return url instanceof URL ? url.href : new URL(url, base).href;
}

/** Starts a Worker, loads the model there, and returns the backend api.js wraps. */
export async function createWorkerBackend({ model, onProgress, signal, workerUrl, ...options }) {
  if (typeof model === "string" || model instanceof URL) model = absolute(model);
  if (typeof options.wasm === "string" || options.wasm instanceof URL) options.wasm = absolute(options.wasm);
  // The literal `new Worker(new URL("./worker.js", import.meta.url), { type: "module" })` is what
  // bundlers (Vite, webpack 5, Parcel) recognise to bundle the worker and its imports: keep it so.
  const worker = workerUrl
    ? new Worker(workerUrl, { type: "module", name: "ruvllm" })
    : new Worker(new URL("./worker.js", import.meta.url), { type: "module", name: "ruvllm" });
  const rpc = new Rpc(worker);
  let info;
  try {
    info = await rpc.call({ op: "load", model, options }, { signal, onProgress });
  } catch (e) {
    rpc.terminate();
    throw e;
  }
  info.worker = true;
  let broken = null; // the panic that ended this engine
  const guard = (promise) =>
    promise.catch((e) => {
      if (e?.code === "panic") broken ??= e;
      throw e;
    });
  const refuse = () => {
    if (broken) {
      throw codedError("panic", `the engine cannot be used after a panic (${broken.message}); create a new engine`);
    }
  };
  return {
    info: () => {
      refuse();
      return { ...info };
    },
    tokenize: (text, options) => guard(rpc.call({ op: "tokenize", text, options })),
    detokenize: (ids, options) => guard(rpc.call({ op: "detokenize", ids: Array.from(ids ?? []), options })),
    logits: (ids, options) => guard(rpc.call({ op: "logits", ids: Array.from(ids ?? []), options })),
    reset: () => guard(rpc.call({ op: "reset" })),
    run: async (kind, input, options, { signal, onPiece } = {}) => {
      // Streamed text is not sent twice: the pieces are collected here.
      let streamed = "";
      const collect = onPiece
        ? (text) => {
            streamed += text;
            onPiece(text);
          }
        : undefined;
      const call = { op: "run", kind, input, options, stream: Boolean(onPiece) };
      const { text, usage } = await guard(rpc.call(call, { signal, onPiece: collect }));
      return { text: text ?? streamed, usage };
    },
    debugPanic: (message) => guard(rpc.call({ op: "debugPanic", message })),
    debugLoseGpu: () => guard(rpc.call({ op: "debugLoseGpu" })),
    unload: async () => {
      await rpc.call({ op: "unload" }).catch(() => {});
      rpc.terminate();
    },
  };
}
