// What ruvllm asks of a Vite app (pkg-template/README.md says the same):
// - worker.format "es": the engine's Worker loads its wasm glue with import(), which needs
//   module workers (Vite's default worker format is iife);
// - optimizeDeps.exclude: the dev server's pre-bundling would move the package's files away from
//   the .wasm and worker files they find through import.meta.url.
export default {
  worker: { format: "es" },
  optimizeDeps: { exclude: ["ruvllm"] },
  logLevel: "warn",
};
