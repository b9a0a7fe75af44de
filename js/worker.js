// The engine's module Worker (started by createEngine on a page's main thread, see client.js).
// It runs the in-place engine (core.js) and answers the page's messages:
//   { id, op: "load", model, options }          -> progress events, then done(info)
//   { id, op: "run", kind, input, options, stream } -> piece events (if stream), then done({ text?, usage })
//   { id, op: "tokenize" | "detokenize" | "logits" | "reset" | "unload" | "debugPanic" | "debugLoseGpu", ... } -> done(value)
//   { op: "abort", target }                      aborts request `target` (a load or a run)
// Every failure is posted as { id, type: "error", error } with the error's code; the Worker itself
// never dies of one. Generation yields to this message queue between tokens, so an abort is seen
// within one token.
import { loadLocalEngine } from "./core.js";
import { codedError, serializeError } from "./errors.js";

let engine = null;
const controllers = new Map();
const post = (message) => self.postMessage(message);

function live() {
  if (!engine) throw codedError("unloaded", "no model is loaded in this worker");
  return engine;
}

async function handle(m, signal) {
  switch (m.op) {
    case "load":
      if (engine) throw codedError("invalid_argument", "this worker already has a model");
      engine = await loadLocalEngine({
        ...m.options,
        model: m.model,
        signal,
        onProgress: ({ loaded, total }) => post({ id: m.id, type: "progress", loaded, total }),
      });
      return live().info();
    case "run": {
      const onPiece = m.stream ? (text) => post({ id: m.id, type: "piece", text }) : undefined;
      const { text, usage } = await live().run(m.kind, m.input, m.options, { signal, onPiece });
      return m.stream ? { usage } : { text, usage };
    }
    case "tokenize":
      return live().tokenize(m.text, m.options);
    case "logits":
      return live().logits(m.ids, m.options);
    case "detokenize":
      return live().detokenize(m.ids, m.options);
    case "reset":
      return live().reset();
    case "unload": {
      const e = engine;
      engine = null;
      return e?.unload();
    }
    case "debugPanic":
      return live().debugPanic(m.message);
    case "debugLoseGpu":
      return live().debugLoseGpu();
    default:
      throw codedError("invalid_argument", `unknown request ${m.op}`);
  }
}

self.onmessage = async ({ data: m }) => {
  if (m?.op === "abort") {
    controllers.get(m.target)?.abort();
    return;
  }
  const controller = new AbortController();
  controllers.set(m.id, controller);
  try {
    const value = await handle(m, controller.signal);
    post({ id: m.id, type: "done", value });
  } catch (e) {
    post({ id: m.id, type: "error", error: serializeError(e) });
  } finally {
    controllers.delete(m.id);
  }
};
