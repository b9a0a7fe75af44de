// One helper thread of the threaded build's pool (started by threads.js from the engine's Worker).
// Message in: { module, memory, handle, index }: the engine's compiled module, its shared
// WebAssembly.Memory, the pool's handle and this helper's thread index (1 to threads - 1).
// It instantiates the module on that memory, posts { type: "ready" }, then runs the pool's
// worker loop (poolHelper blocks in atomic waits between regions) until the pool is dropped,
// frees this thread's stack and thread-locals in the shared memory, posts { type: "exit" } and
// closes. A failure is posted as { type: "error", message }.
import { initSync, poolHelper } from "./ruvllm_threaded.js";

self.onmessage = ({ data }) => {
  const { module, memory, handle, index } = data ?? {};
  let exports;
  try {
    exports = initSync({ module, memory });
  } catch (e) {
    self.postMessage({ type: "error", message: `cannot instantiate the module on the shared memory: ${e.message}` });
    self.close();
    return;
  }
  self.postMessage({ type: "ready" });
  try {
    poolHelper(handle, index);
    // The pool is gone and this thread runs no more Rust: give back its stack and TLS (wasm-bindgen
    // allocated them in the shared memory when this thread instantiated the module).
    exports.__wbindgen_thread_destroy?.();
    self.postMessage({ type: "exit" });
  } catch (e) {
    self.postMessage({ type: "error", message: e.message });
  }
  self.close();
};
