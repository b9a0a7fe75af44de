// The threaded build's pool in a module Worker (tests/wasm/browser_threads.mjs starts it from a
// cross-origin isolated page): a bare ThreadPool with `threads - 1` helper Workers attached
// exactly as an engine's are (threads.js), thousands of random regions checked exactly, and the
// refusals of poolHelper for handles and indices it must not accept.
import init, { PoolStress, poolHelper } from "/pkg/ruvllm_threaded.js";
import { startHelpers } from "/pkg/threads.js";

const codeOf = (f) => {
  try {
    f();
    return "no error";
  } catch (e) {
    return `${e.code}: ${e.message}`;
  }
};

self.onmessage = async ({ data: { threads, regions, maxLen, seed } }) => {
  try {
    const glue = await import("/pkg/ruvllm_threaded.js");
    await init({ module_or_path: "/pkg/ruvllm_threaded_bg.wasm" });
    const pool = new PoolStress(threads);
    const handle = pool.handle();
    const helpers = await startHelpers(glue, handle, threads);
    // "ready" comes just before a helper attaches; wait until all have (else the "taken" check
    // below would attach this thread, the pool's caller, as helper 1 and never return).
    for (let i = 0; pool.attached() < threads - 1; i++) {
      if (i > 500) throw new Error(`only ${pool.attached()} of ${threads - 1} helpers attached after 5 s`);
      await new Promise((r) => setTimeout(r, 10));
    }
    const refusals = {
      caller: codeOf(() => poolHelper(handle, 0)),
      outOfRange: codeOf(() => poolHelper(handle, threads)),
      taken: codeOf(() => poolHelper(handle, 1)),
      noPool: codeOf(() => poolHelper(handle + 1000, 1)),
    };
    const t0 = performance.now();
    const checked = pool.run(regions, maxLen, seed);
    const ms = performance.now() - t0;
    // Dropping the pool wakes its parked helpers; each leaves the loop and frees its thread.
    pool.free();
    const exited = await Promise.race([helpers.exited.then(() => true), new Promise((r) => setTimeout(() => r(false), 10_000))]);
    self.postMessage({ type: "done", threads, helpers: helpers.count, exited, checked, ms, refusals, shared: glue.poolMemory().buffer instanceof SharedArrayBuffer });
  } catch (e) {
    self.postMessage({ type: "error", message: `${e.code ?? e.name}: ${e.message}` });
  }
};
