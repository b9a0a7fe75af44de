// Inside a module Web Worker: load the package's facade, fetch the model, run the checks the
// server sends in /job.json, and post each result (pieces stream out through onPiece).
import { createEngine } from "/pkg/engine.js";

try {
  const job = await (await fetch("/job.json")).json();
  const engine = await createEngine({ model: "/model.gguf" });
  const info = engine.info();
  const results = [];
  for (const { prompt, expected_ids } of job.prompts) {
    const expected = engine.detokenize(expected_ids);
    let text = "";
    let streamed = 0;
    let usage = null;
    for await (const ev of engine.generate(prompt, { temperature: 0, max_tokens: expected_ids.length, onPiece: () => streamed++ })) {
      if (ev.type === "piece") text += ev.text;
      else usage = ev.usage;
    }
    results.push({ prompt, text, expected, streamed, usage });
  }
  let badModel = null;
  try {
    await createEngine({ model: new Uint8Array(100) });
  } catch (e) {
    badModel = { code: e.code, message: e.message };
  }
  engine.unload();
  postMessage({ type: "done", info, results, badModel, crossOriginIsolated: self.crossOriginIsolated });
} catch (e) {
  postMessage({ type: "error", message: String(e?.stack ?? e), code: e?.code });
}
