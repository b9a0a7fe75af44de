// The wasm package in headless Chromium, inside a module Web Worker of the page's own (run after
// `npm run build`):
//   node tests/wasm/browser_worker.mjs
// A tiny HTTP server serves the repository's pkg/, the page and worker under
// tests/wasm/browser/, and the default model; in the worker createEngine runs in place, greedy
// generation of the stable raw prompts of tests/fixtures/llamacpp/greedy.jsonl must give
// llama.cpp's text, an AbortSignal must stop a generation, and the results are POSTed back. No
// COOP/COEP headers: the single-threaded build must work without SharedArrayBuffer.
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { createReadStream, readFileSync, statSync, mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { CHROMIUM_FLAGS } from "./chromium.mjs";

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const modelPath = execFileSync("python3", [path.join(repo, "scripts/fetch_model.py")], { encoding: "utf8" }).trim();
const chromium = process.env.CHROMIUM ?? "chromium";
const prompts = readFileSync(path.join(repo, "tests/fixtures/llamacpp/greedy.jsonl"), "utf8")
  .split("\n")
  .filter((l) => l.trim())
  .map((l) => JSON.parse(l))
  .filter((r) => r.stable_first_32 === true && r.kind === "raw")
  .map((r) => ({ prompt: r.prompt, expected_ids: r.generated_ids.slice(0, 32) }));
assert.ok(prompts.length >= 3);

const types = { ".js": "text/javascript", ".html": "text/html", ".wasm": "application/wasm", ".json": "application/json" };
let finish;
const reported = new Promise((resolve) => (finish = resolve));
const server = createServer((req, res) => {
  const url = new URL(req.url, "http://localhost");
  if (req.method === "POST" && url.pathname === "/report") {
    let body = "";
    req.on("data", (c) => (body += c));
    req.on("end", () => {
      res.end("ok");
      finish(JSON.parse(body));
    });
    return;
  }
  if (url.pathname === "/job.json") {
    res.setHeader("content-type", "application/json");
    res.end(JSON.stringify({ prompts }));
    return;
  }
  let file;
  if (url.pathname === "/model.gguf") file = modelPath;
  else if (url.pathname.startsWith("/pkg/") || url.pathname.startsWith("/tests/wasm/browser/")) {
    file = path.join(repo, path.normalize(url.pathname));
  }
  const inside = file === modelPath || file?.startsWith(repo + path.sep);
  if (!file || !inside || !statSync(file, { throwIfNoEntry: false })?.isFile()) {
    res.statusCode = 404;
    res.end();
    return;
  }
  res.setHeader("content-type", types[path.extname(file)] ?? "application/octet-stream");
  createReadStream(file).pipe(res);
});
await new Promise((r) => server.listen(0, "127.0.0.1", r));
const port = server.address().port;

const profile = mkdtempSync(path.join(tmpdir(), "ruvllm-chromium-"));
const browser = spawn(
  chromium,
  [
    "--headless=new",
    ...CHROMIUM_FLAGS,
    `--user-data-dir=${profile}`,
    `http://127.0.0.1:${port}/tests/wasm/browser/index.html`,
  ],
  // Its own process group, so the browser and its helper processes are ended together.
  { stdio: ["ignore", "ignore", "pipe"], detached: true },
);
let stderr = "";
browser.stderr.on("data", (c) => (stderr += c));
const exited = new Promise((r) => browser.once("exit", r));
exited.then((code) => finish({ type: "error", message: `${chromium} exited (${code}) before the worker reported` }));
browser.once("error", (e) => finish({ type: "error", message: `cannot start ${chromium}: ${e.message}` }));

const timeout = setTimeout(() => finish({ type: "error", message: "timed out after 180 s" }), 180_000);
const report = await reported;
clearTimeout(timeout);
if (browser.exitCode === null && browser.pid) {
  process.kill(-browser.pid, "SIGTERM");
  await exited;
}
server.close();
rmSync(profile, { recursive: true, force: true, maxRetries: 10, retryDelay: 200 });

if (report.type !== "done") {
  console.log(`FAIL ${report.message} (code ${report.code})\n${stderr.slice(-2000)}`);
  process.exit(1);
}
assert.equal(report.info.kernels, "simd128");
assert.equal(report.info.threads, 1);
assert.equal(report.info.build, "single");
assert.equal(report.info.worker, false, "in place inside the user's Worker");
assert.equal(report.crossOriginIsolated, false, "served without COOP/COEP: no SharedArrayBuffer");
for (const r of report.results) {
  assert.equal(r.text, r.expected, r.prompt);
  assert.equal(r.usage.generated_tokens, 32);
  assert.ok(r.streamed > 0);
  console.log(`ok   ${JSON.stringify(r.prompt)}: decode ${r.usage.decode_tokens_per_s.toFixed(1)} t/s`);
}
assert.equal(report.abortUsage.finish_reason, "abort");
assert.ok(report.abortUsage.generated_tokens <= 4, `${report.abortUsage.generated_tokens} tokens after an abort at the 2nd`);
assert.equal(report.badModel?.code, "bad_model");
console.log(`all wasm engine checks passed in a Chromium Web Worker (${report.results.length} greedy prompts)`);
