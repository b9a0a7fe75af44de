// The ruvllm engine facade (single-threaded build), for Node and for use inside a Web Worker.
//
//   import { createEngine } from "ruvllm";
//   const engine = await createEngine({ model: bytesOrUrlOrPath });
//   for await (const ev of engine.generate("The capital of France is", { max_tokens: 32 })) {
//     if (ev.type === "piece") process.stdout.write(ev.text);
//     else console.log(ev.usage);            // the last event: { type: "usage", usage }
//   }
//   engine.unload();
//
// Generation runs synchronously on the calling thread (run it in a Worker in the browser). The
// events are yielded once the call returns; `onPiece(text)` in the options is called the moment
// each piece is final, for live streaming (e.g. postMessage from a Worker).
//
// Every failure is an Error with a `code` property: "bad_model", "unsupported_model",
// "bad_option", "context_full", "bad_token", "no_chat_template", "bad_template",
// "out_of_memory", "unloaded", "internal", ...

import init, { initSync, Engine } from "./ruvllm.js";

const isNode = typeof globalThis.process?.versions?.node === "string";

let ready = null;

/** Instantiates the wasm module once (later calls share it). `wasm`: bytes, a URL, or nothing
 *  (then `ruvllm_bg.wasm` beside this file). */
export function initWasm(wasm) {
  if (!ready) {
    ready = (async () => {
      const source = wasm ?? new URL("./ruvllm_bg.wasm", import.meta.url);
      if (isNode && !(source instanceof Uint8Array || source instanceof ArrayBuffer)) {
        // Node's fetch cannot read file: URLs; read the file and compile it synchronously.
        const { readFile } = await import("node:fs/promises");
        initSync({ module: await readFile(source) });
      } else if (source instanceof Uint8Array || source instanceof ArrayBuffer) {
        initSync({ module: source });
      } else {
        await init({ module_or_path: source });
      }
    })();
    ready.catch(() => {
      ready = null;
    });
  }
  return ready;
}

function codedError(code, message) {
  const e = new Error(message);
  e.code = code;
  return e;
}

async function modelBytes(model) {
  if (model instanceof Uint8Array) return model;
  if (model instanceof ArrayBuffer) return new Uint8Array(model);
  if (ArrayBuffer.isView(model)) return new Uint8Array(model.buffer, model.byteOffset, model.byteLength);
  if (typeof Blob !== "undefined" && model instanceof Blob) return new Uint8Array(await model.arrayBuffer());
  if (typeof model === "string" || model instanceof URL) {
    const isFile = model instanceof URL ? model.protocol === "file:" : !/^[a-z][a-z0-9+.-]*:/i.test(model);
    if (isNode && isFile) {
      const { readFile } = await import("node:fs/promises");
      return readFile(model);
    }
    const res = await fetch(model);
    if (!res.ok) throw codedError("io", `cannot fetch the model ${model}: HTTP ${res.status}`);
    return new Uint8Array(await res.arrayBuffer());
  }
  throw codedError("bad_option", "model must be a Uint8Array, ArrayBuffer, Blob, URL or path");
}

/**
 * Loads a model. `model`: its bytes (Uint8Array, ArrayBuffer, Blob), a URL, or (Node) a path.
 * `n_ctx`, `n_batch`: the session's context and prefill batch (defaults 2048, 256).
 * `wasm`: where the wasm module is, if not beside this file.
 * The bytes are copied into wasm memory; the caller may drop its copy afterwards.
 */
export async function createEngine({ model, n_ctx, n_batch, wasm } = {}) {
  await initWasm(wasm);
  const bytes = await modelBytes(model);
  const engineOptions = JSON.stringify({ n_ctx, n_batch });
  let engine = new Engine(bytes, engineOptions);

  const live = () => {
    if (!engine) throw codedError("unloaded", "the engine was unloaded");
    return engine;
  };

  async function* stream(call, options) {
    const { onPiece, ...rest } = options ?? {};
    const pieces = [];
    const usage = JSON.parse(
      call(live(), JSON.stringify(rest), (text) => {
        pieces.push(text);
        if (onPiece) onPiece(text);
      }),
    );
    for (const text of pieces) yield { type: "piece", text };
    yield { type: "usage", usage };
  }

  return {
    /** { architecture, name, n_ctx, n_vocab, kernels, threads, build, ... } */
    info: () => JSON.parse(live().info()),
    /** Token ids (Uint32Array) of `text`. */
    tokenize: (text, { addSpecial = false, parseSpecial = false } = {}) =>
      live().tokenize(text, addSpecial, parseSpecial),
    /** The text of token ids (an array or Uint32Array). */
    detokenize: (ids, { special = false } = {}) => live().detokenize(Uint32Array.from(ids), special),
    /** Completes a raw prompt: yields { type: "piece", text } events, then { type: "usage", usage }.
     *  Options: max_tokens, temperature (0 = greedy), top_k, top_p, min_p, repeat_penalty, seed,
     *  stop (strings), add_special, parse_special, onPiece. */
    generate: (prompt, options) => stream((e, o, cb) => e.generate(prompt, o, cb), options),
    /** The same for chat messages ([{ role, content }]) rendered with the model's template. */
    chat: (messages, options) => stream((e, o, cb) => e.chat(JSON.stringify(messages), o, cb), options),
    /** Forgets the cached conversation. (The KV cache is kept between calls: a prompt that
     *  extends the previous one, such as a chat's next turn, only evaluates what is new.) */
    reset: () => live().reset(),
    /** Frees the model's wasm memory; the engine cannot be used afterwards. */
    unload() {
      if (engine) {
        engine.free();
        engine = null;
      }
    },
  };
}
