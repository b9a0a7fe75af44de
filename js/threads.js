// The threaded build's pool helpers (runs in the engine's Worker, never on a page's main thread).
//
// The wasm ThreadPool (src/pool) runs regions on the calling thread plus `threads - 1` helpers.
// Here each helper is a module Worker (pool_worker.js) that instantiates the same compiled module
// on the same shared WebAssembly.Memory and calls `poolHelper(handle, index)`, which runs the
// pool's worker loop until the pool is dropped (it waits in memory.atomic.wait32 between
// regions). The pool is correct with any number of helpers attached: they only share the work.

import { codedError } from "./errors.js";

/** Which build this thread can run: "threaded" needs cross-origin isolation (SharedArrayBuffer)
 *  and Workers; a page's main thread gets "single" (it must never block in an atomic wait). */
export function threadedAvailable() {
  return (
    globalThis.crossOriginIsolated === true &&
    typeof SharedArrayBuffer !== "undefined" &&
    typeof Worker === "function" &&
    typeof document === "undefined"
  );
}

/** The default thread count: navigator.hardwareConcurrency, at most 8. */
export function defaultThreads() {
  const n = globalThis.navigator?.hardwareConcurrency;
  return Number.isInteger(n) && n >= 1 ? Math.min(n, 8) : 1;
}

/**
 * Starts `threads - 1` helper Workers for the pool with `handle` on the instantiated threaded
 * glue `glue` (its poolModule() / poolMemory()). Resolves once every helper has instantiated the
 * module and is about to enter the pool; rejects with code "worker" if one cannot.
 * Returns { count, exited, terminate() }: `exited` resolves once every helper has left the pool
 * (after the pool is dropped) and freed its thread's memory.
 */
export async function startHelpers(glue, handle, threads, { timeoutMs = 30_000 } = {}) {
  const module = glue.poolModule();
  const memory = glue.poolMemory();
  const workers = [];
  const terminate = () => {
    for (const w of workers) w.terminate();
    workers.length = 0;
  };
  const started = [];
  const exits = [];
  for (let index = 1; index < threads; index++) {
    let worker;
    try {
      worker = new Worker(new URL("./pool_worker.js", import.meta.url), { type: "module", name: `ruvllm-pool-${index}` });
    } catch (e) {
      terminate();
      throw codedError("worker", `cannot start thread-pool helper ${index}: ${e.message}`);
    }
    workers.push(worker);
    let exit;
    exits.push(new Promise((resolve) => (exit = resolve)));
    started.push(
      new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`it did not start within ${timeoutMs} ms`)), timeoutMs);
        worker.onmessage = ({ data }) => {
          if (data?.type === "exit") {
            exit();
          } else if (data?.type === "ready") {
            clearTimeout(timer);
            resolve();
          } else if (data?.type === "error") {
            clearTimeout(timer);
            // After "ready" this reaches no one waiting; the console keeps it.
            console.error(`ruvllm: thread-pool helper ${index}: ${data.message}`);
            reject(new Error(data.message));
          }
        };
        worker.onerror = (ev) => {
          ev.preventDefault?.();
          clearTimeout(timer);
          reject(new Error(ev.message || "it could not start (is pool_worker.js served beside engine.js?)"));
        };
      }).catch((e) => {
        throw new Error(`helper ${index}: ${e.message}`);
      }),
    );
    worker.postMessage({ module, memory, handle, index });
  }
  try {
    await Promise.all(started);
  } catch (e) {
    terminate();
    throw codedError("worker", `cannot start the thread pool's helpers: ${e.message}`);
  }
  return { count: workers.length, exited: Promise.all(exits), terminate };
}
