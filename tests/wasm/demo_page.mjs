// The demo page (www/) in headless Chromium, served as `npm run serve` serves it (scripts/serve.mjs,
// COOP/COEP, so the threaded build): it loads the default model by itself, shows the build and
// thread count, streams a chat reply with prefill/decode tokens/s, its Stop button stops a long
// reply, a local model file loads through its file picker, its precision switch reloads the model
// at high precision, and its backend switch reloads the model on WebGPU (Chromium's SwiftShader
// adapter; "auto" keeps the CPU there and says why) and replies from it.
//   node tests/wasm/demo_page.mjs   (after `npm run build`)
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { createStaticServer } from "../../scripts/serve.mjs";
import { launchChromium, WEBGPU_FLAGS } from "./chromium.mjs";

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const modelPath = execFileSync("python3", [path.join(repo, "scripts/fetch_model.py")], { encoding: "utf8" }).trim();
const server = createStaticServer({
  routes: { "/": path.join(repo, "www"), "/pkg/": path.join(repo, "pkg"), "/models/": path.dirname(modelPath) },
});
await new Promise((r) => server.listen(0, "127.0.0.1", r));
const chromium = await launchChromium({ args: WEBGPU_FLAGS });
try {
  const page = await chromium.newPage();
  await page.goto(`http://127.0.0.1:${server.address().port}/`);
  await page.waitForFunction(() => ["ready", "error"].includes(document.getElementById("status").dataset.state), {
    timeout: 120_000,
  });
  const status = await page.$eval("#status", (e) => e.textContent);
  assert.match(status, /^Ready/, status);
  const info = await page.$eval("#info", (e) => e.textContent);
  // Served with COOP/COEP: the threaded build, with the default thread count.
  const threads = Math.min(await page.evaluate(() => navigator.hardwareConcurrency), 8);
  const plural = threads === 1 ? "thread" : "threads";
  assert.match(info, new RegExp(`build threaded, ${threads} ${plural}, kernels simd128, in a Web Worker`), info);
  assert.match(info, /backend cpu \(GPU not used: only a software adapter/, info);
  assert.equal(await page.evaluate(() => self.crossOriginIsolated), true, "served with COOP/COEP");

  // Send one message; record the reply's text as it grows.
  await page.$eval("#temperature", (e) => (e.value = "0"));
  await page.$eval("#max-tokens", (e) => (e.value = "48"));
  await page.type("#prompt", "What is the capital of France?");
  await page.click("#send");
  const seen = await page.evaluate(
    () =>
      new Promise((resolve) => {
        const lengths = [];
        const timer = setInterval(() => {
          const reply = document.querySelector("#messages .assistant");
          const n = reply?.textContent.length ?? 0;
          if (n && n !== lengths.at(-1)) lengths.push(n);
          if (document.getElementById("stop").disabled && document.getElementById("stats").textContent.includes("finish")) {
            clearInterval(timer);
            resolve({ lengths, text: reply?.textContent ?? "", stats: document.getElementById("stats").textContent });
          }
        }, 10);
      }),
  );
  assert.ok(seen.text.length > 0, "a reply");
  assert.ok(!seen.text.includes("[error"), seen.text);
  assert.ok(seen.lengths.length >= 2, `the reply streamed in (lengths seen: ${seen.lengths})`);
  assert.match(seen.stats, /t\/s prefill; .* t\/s decode; finish: (eog|stop|length)/, seen.stats);
  console.log(`ok   the demo streams a reply: ${JSON.stringify(seen.text.slice(0, 60))} (${seen.lengths.length} updates)`);
  console.log(`     ${seen.stats}`);

  // A long reply, stopped with the Stop button.
  await page.$eval("#max-tokens", (e) => (e.value = "1000"));
  await page.type("#prompt", "Write a very long story about a dragon.");
  await page.click("#send");
  await page.waitForFunction(() => (document.querySelectorAll("#messages .assistant")[1]?.textContent.length ?? 0) > 10);
  await page.click("#stop");
  await page.waitForFunction(() => document.getElementById("stats").textContent.includes("finish"), { timeout: 10_000 });
  const stopped = await page.$eval("#stats", (e) => e.textContent);
  assert.match(stopped, /finish: abort/, stopped);
  assert.equal(await page.$eval("#send", (e) => e.disabled), false, "ready for the next message");
  console.log("ok   the Stop button stops a reply (finish: abort)");

  // A local file, through the file picker (a File posted to the engine's Worker).
  const input = await page.$("#model-file");
  await input.uploadFile(modelPath);
  await page.waitForFunction(() => document.getElementById("status").textContent.startsWith("Loading"));
  await page.waitForFunction(() => ["ready", "error"].includes(document.getElementById("status").dataset.state), {
    timeout: 120_000,
  });
  const fromFile = await page.$eval("#status", (e) => e.textContent);
  assert.match(fromFile, new RegExp(`^Ready: ${path.basename(modelPath).replace(/\./g, "\\.")} loaded`), fromFile);
  assert.equal(await page.$$eval("#messages .msg", (m) => m.length), 0, "a new chat");
  console.log("ok   a local model file loads through the file picker");

  // The precision switch reloads the model at high precision (kept for the WebGPU step below).
  assert.match(await page.$eval("#info", (e) => e.textContent), /; standard precision$/);
  await page.select("#precision", "high");
  await page.waitForFunction(() => document.getElementById("status").textContent.startsWith("Loading"));
  await page.waitForFunction(() => ["ready", "error"].includes(document.getElementById("status").dataset.state), {
    timeout: 120_000,
  });
  const high = await page.$eval("#info", (e) => e.textContent);
  assert.match(high, /; backend cpu.*; high precision$/, high);
  console.log("ok   the precision switch reloads the model at high precision");

  // The backend switch: WebGPU reloads the model there, and a short reply comes from it.
  await page.select("#backend", "webgpu");
  await page.waitForFunction(() => document.getElementById("status").textContent.startsWith("Loading"));
  await page.waitForFunction(() => ["ready", "error"].includes(document.getElementById("status").dataset.state), {
    timeout: 120_000,
  });
  const onGpu = await page.$eval("#info", (e) => e.textContent);
  assert.match(onGpu, /build single, 1 thread, kernels simd128, in a Web Worker; backend webgpu: .*software adapter, KV cache f32/, onGpu);
  await page.$eval("#max-tokens", (e) => (e.value = "3"));
  await page.type("#prompt", "Hi");
  await page.click("#send");
  await page.waitForFunction(() => /finish: (length|eog)/.test(document.getElementById("stats").textContent), {
    timeout: 180_000,
  });
  const gpuReply = await page.$eval("#messages .assistant", (e) => e.textContent);
  assert.ok(gpuReply.trim().length > 0 && !gpuReply.includes("[error"), gpuReply);
  assert.match(onGpu, /; high precision$/, onGpu);
  console.log(`ok   the backend switch reloads the model on WebGPU (high precision) and it replies: ${JSON.stringify(gpuReply)}`);
} finally {
  await chromium.close();
  server.close();
}
console.log("the demo page works in Chromium");
