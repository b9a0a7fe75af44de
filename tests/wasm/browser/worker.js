// Inside a module Web Worker of the user's own: createEngine runs the engine in place (no second
// Worker). Fetch the model, run the checks the server sends in /job.json, and post the results.
import { createEngine } from "/pkg/engine.js";

try {
  const job = await (await fetch("/job.json")).json();
  const engine = await createEngine({ model: "/model.gguf", cache: false });
  const info = engine.info();
  const results = [];
  for (const { prompt, expected_ids } of job.prompts) {
    const expected = await engine.detokenize(expected_ids);
    const stream = engine.generate(prompt, { temperature: 0, max_tokens: expected_ids.length });
    let text = "";
    let streamed = 0;
    for await (const piece of stream) {
      text += piece;
      streamed++;
    }
    results.push({ prompt, text, expected, streamed, usage: await stream.usage });
  }
  // An abort from this thread is seen between tokens (the loop yields to the event loop).
  const controller = new AbortController();
  const aborted = engine.generate("Once upon a time", { temperature: 0, max_tokens: 200, signal: controller.signal });
  let n = 0;
  for await (const _ of aborted) if (++n === 2) controller.abort();
  const abortUsage = await aborted.usage;
  let badModel = null;
  try {
    await createEngine({ model: new Uint8Array(100) });
  } catch (e) {
    badModel = { code: e.code, message: e.message };
  }
  await engine.unload();
  postMessage({ type: "done", info, results, abortUsage, badModel, crossOriginIsolated: self.crossOriginIsolated });
} catch (e) {
  postMessage({ type: "error", message: String(e?.stack ?? e), code: e?.code });
}
