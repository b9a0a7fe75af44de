// The app's only code: what a web developer writes after `npm install ruvllm`. The test page
// (tests/wasm/packaging.mjs) calls window.greedy(); the same file runs bundled by Vite (index.html)
// and unbundled from node_modules through an import map (plain.html).
import { createEngine } from "ruvllm";

/** Loads `model`, completes each prompt greedily (`max_tokens` each), unloads; returns the texts,
 *  the engine's info and the ids detokenized by the same engine (for comparison with llama.cpp). */
window.greedy = async ({ model, prompts, maxTokens }) => {
  const engine = await createEngine({ model, cache: false });
  try {
    const results = [];
    for (const { prompt, expectedIds } of prompts) {
      const { text, usage } = await engine.complete(prompt, { temperature: 0, max_tokens: maxTokens });
      results.push({ prompt, text, expected: await engine.detokenize(expectedIds), usage });
    }
    return { info: engine.info(), results };
  } finally {
    await engine.unload();
  }
};
document.body.dataset.ready = "yes";
