// Starts the module worker and forwards what it reports to the test server.
const report = (body) => fetch("/report", { method: "POST", body: JSON.stringify(body) });
const worker = new Worker("/tests/wasm/browser/worker.js", { type: "module" });
worker.onmessage = (e) => report(e.data);
worker.onerror = (e) => report({ type: "error", message: `worker error: ${e.message}` });
