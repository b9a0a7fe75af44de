// One helper thread of the threaded build's pool (started by threads.js from the engine's Worker).
// Message in: { module, memory, handle, index }: the engine's compiled module, its shared
// WebAssembly.Memory, the pool's handle and this helper's thread index (1 to threads - 1).
// It instantiates the module on that memory, posts { type: "ready" }, then runs the pool's
// worker loop (poolHelper blocks in atomic waits between regions) until the pool is dropped,
// and closes. A failure is posted as { type: "error", message }.
import { initSync, poolHelper } from "./ruvllm_threaded.js";

self.onmessage = ({ data }) => {
  const { module, memory, handle, index } = data ?? {};
  try {
    initSync({ module, memory });
  } catch (e) {
    self.postMessage({ type: "error", message: `cannot instantiate the module on the shared memory: ${e.message}` });
    self.close();
    return;
  }
  self.postMessage({ type: "ready" });
  try {
    poolHelper(handle, index);
  } catch (e) {
    self.postMessage({ type: "error", message: e.message });
  }
  self.close();
};
