// The public engine object, the same whether the model runs in a Worker this module started
// (client.js) or on this thread (core.js): generate (an async iterator of text pieces plus a
// usage record), complete, chat.completions.create (OpenAI's shape), tokenize, detokenize, info,
// reset, unload. A "backend" provides info/tokenize/detokenize/reset/run/unload.

import { codedError } from "./errors.js";

const GENERATE_OPTIONS = new Set([
  "max_tokens",
  "temperature",
  "top_k",
  "top_p",
  "min_p",
  "repeat_penalty",
  "presence_penalty",
  "frequency_penalty",
  "penalty_last_n",
  "seed",
  "stop",
  "add_special",
  "parse_special",
]);

function stopList(stop) {
  if (stop === undefined || stop === null) return undefined;
  if (typeof stop === "string") return [stop];
  if (Array.isArray(stop) && stop.every((s) => typeof s === "string")) return stop;
  throw codedError("invalid_argument", "stop must be a string or an array of strings");
}

/** Splits `options` into the wasm engine's generation options and the JS-side `signal`. */
function generateOptions(options, what) {
  if (options !== undefined && (options === null || typeof options !== "object")) {
    throw codedError("invalid_argument", `${what}: options must be an object`);
  }
  const out = {};
  let signal;
  for (const [key, value] of Object.entries(options ?? {})) {
    if (value === undefined) continue;
    if (key === "signal") signal = value;
    else if (key === "stop") out.stop = stopList(value);
    else if (GENERATE_OPTIONS.has(key)) out[key] = value;
    else throw codedError("invalid_argument", `${what}: unknown option ${key}`);
  }
  if (signal !== undefined && !(typeof signal?.aborted === "boolean" && typeof signal.addEventListener === "function")) {
    throw codedError("invalid_argument", `${what}: signal must be an AbortSignal`);
  }
  return { options: out, signal };
}

/**
 * The text of one request as it is generated: `for await (const piece of stream)` gives the text
 * pieces; `await stream.usage` the usage record once it has ended; `await stream.text()` the whole
 * text. Leaving the loop early (break) aborts the request. Errors reject the loop and `usage`.
 */
class TextStream {
  #queue = [];
  #waiter = null;
  #finished = false;
  #error = null;
  #controller = new AbortController();

  constructor(start, signal) {
    const forward = () => this.#controller.abort();
    if (signal?.aborted) forward();
    else signal?.addEventListener("abort", forward, { once: true });
    this.result = Promise.resolve()
      .then(() =>
        start(this.#controller.signal, (piece) => {
          this.#queue.push(piece);
          this.#wake();
        }),
      )
      .then(
        (r) => {
          this.#finished = true;
          this.#wake();
          return r;
        },
        (e) => {
          this.#error = e;
          this.#finished = true;
          this.#wake();
          throw e;
        },
      )
      .finally(() => signal?.removeEventListener("abort", forward));
    /** Resolves to the usage record: prompt_tokens, prompt_evaluated, generated_tokens,
     *  finish_reason ("eog" | "stop" | "length" | "abort"), prefill_ms, decode_ms,
     *  prefill_tokens_per_s, decode_tokens_per_s, kernels, threads. */
    this.usage = this.result.then((r) => r.usage);
    this.result.catch(() => {});
    this.usage.catch(() => {});
  }

  #wake() {
    const w = this.#waiter;
    this.#waiter = null;
    w?.();
  }

  [Symbol.asyncIterator]() {
    return this;
  }

  async next() {
    for (;;) {
      if (this.#queue.length) return { value: this.#queue.shift(), done: false };
      if (this.#finished) {
        if (this.#error) {
          const e = this.#error;
          this.#error = null;
          throw e;
        }
        return { value: undefined, done: true };
      }
      await new Promise((r) => (this.#waiter = r));
    }
  }

  async return() {
    this.#controller.abort();
    await this.result.catch(() => {});
    this.#queue.length = 0;
    return { value: undefined, done: true };
  }

  /** Stops the request (finish_reason "abort"). */
  abort() {
    this.#controller.abort();
  }

  /** The whole text, once the request has ended. */
  async text() {
    return (await this.result).text;
  }
}

const CHAT_PARAMS = new Set([
  "messages",
  "model",
  "stream",
  "stream_options",
  "temperature",
  "top_p",
  "top_k",
  "min_p",
  "max_tokens",
  "max_completion_tokens",
  "stop",
  "seed",
  "frequency_penalty",
  "presence_penalty",
  "repeat_penalty",
  "penalty_last_n",
  "n",
  "user",
  "signal",
]);

function chatMessages(messages) {
  if (!Array.isArray(messages) || messages.length === 0) {
    throw codedError("invalid_argument", "messages must be a non-empty array of { role, content }");
  }
  return messages.map((m, i) => {
    if (!m || typeof m.role !== "string") throw codedError("invalid_argument", `messages[${i}].role must be a string`);
    let content = m.content;
    if (Array.isArray(content)) {
      content = content
        .map((part, j) => {
          if (part?.type === "text" && typeof part.text === "string") return part.text;
          throw codedError("invalid_argument", `messages[${i}].content[${j}]: only { type: "text", text } parts are supported`);
        })
        .join("");
    }
    if (content === null || content === undefined) content = "";
    if (typeof content !== "string") throw codedError("invalid_argument", `messages[${i}].content must be a string`);
    return { role: m.role, content };
  });
}

const FINISH = { eog: "stop", stop: "stop", length: "length", abort: "abort" };

function openaiUsage(u) {
  return {
    prompt_tokens: u.prompt_tokens,
    completion_tokens: u.generated_tokens,
    total_tokens: u.prompt_tokens + u.generated_tokens,
    ruvllm: u,
  };
}

function completionId() {
  const bytes = new Uint8Array(12);
  globalThis.crypto.getRandomValues(bytes);
  return "chatcmpl-" + Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Wraps a backend into the public engine object. */
export function makeEngine(backend) {
  const run = (kind, input, options, signal, onPiece) => backend.run(kind, input, options, { signal, onPiece });

  function generate(prompt, options) {
    const { options: opts, signal } = generateOptions(options, "generate");
    return new TextStream((inner, onPiece) => run("generate", prompt, opts, inner, onPiece), signal);
  }

  async function create(params, requestOptions) {
    if (!params || typeof params !== "object") throw codedError("invalid_argument", "create: params must be an object");
    for (const key of Object.keys(params)) {
      if (!CHAT_PARAMS.has(key)) throw codedError("invalid_argument", `chat.completions.create: unsupported parameter ${key}`);
    }
    if (params.n !== undefined && params.n !== 1) throw codedError("invalid_argument", "only n = 1 is supported");
    const messages = chatMessages(params.messages);
    const { options, signal } = generateOptions(
      {
        max_tokens: params.max_completion_tokens ?? params.max_tokens ?? undefined,
        temperature: params.temperature ?? undefined,
        top_p: params.top_p ?? undefined,
        top_k: params.top_k ?? undefined,
        min_p: params.min_p ?? undefined,
        seed: params.seed ?? undefined,
        stop: params.stop ?? undefined,
        frequency_penalty: params.frequency_penalty ?? undefined,
        presence_penalty: params.presence_penalty ?? undefined,
        repeat_penalty: params.repeat_penalty ?? undefined,
        penalty_last_n: params.penalty_last_n ?? undefined,
        signal: params.signal ?? requestOptions?.signal,
      },
      "chat.completions.create",
    );
    const id = completionId();
    const created = Math.floor(Date.now() / 1000);
    const model = params.model ?? backend.info().name ?? "ruvllm";
    if (!params.stream) {
      const { text, usage } = await run("chat", messages, options, signal);
      return {
        id,
        object: "chat.completion",
        created,
        model,
        choices: [
          {
            index: 0,
            message: { role: "assistant", content: text },
            finish_reason: FINISH[usage.finish_reason] ?? usage.finish_reason,
            logprobs: null,
          },
        ],
        usage: openaiUsage(usage),
      };
    }
    const stream = new TextStream((inner, onPiece) => run("chat", messages, options, inner, onPiece), signal);
    const chunk = (choices, extra) => ({ id, object: "chat.completion.chunk", created, model, choices, ...extra });
    return {
      async *[Symbol.asyncIterator]() {
        yield chunk([{ index: 0, delta: { role: "assistant", content: "" }, finish_reason: null, logprobs: null }]);
        try {
          for await (const piece of stream) {
            yield chunk([{ index: 0, delta: { content: piece }, finish_reason: null, logprobs: null }]);
          }
        } finally {
          stream.abort(); // a no-op once it has ended; stops it if the caller left the loop
        }
        const usage = await stream.usage;
        yield chunk([{ index: 0, delta: {}, finish_reason: FINISH[usage.finish_reason] ?? usage.finish_reason, logprobs: null }]);
        yield chunk([], { usage: openaiUsage(usage) });
      },
      /** Stops the request (its last chunk then has finish_reason "abort"). */
      abort: () => stream.abort(),
    };
  }

  return {
    /** Model metadata and how it runs: { architecture, name, n_ctx, n_vocab, ..., kernels,
     *  build: "single", threads, worker }. */
    info: () => backend.info(),
    /** Token ids of `text` (an array of numbers). */
    tokenize: async (text, options) => backend.tokenize(text, options),
    /** The text of token ids. */
    detokenize: async (ids, options) => backend.detokenize(ids, options),
    /** Evaluates token ids after what the engine holds (after nothing with { reset: true }) and
     *  resolves to the next token's logits (Float32Array): teacher forcing, scoring. */
    logits: async (ids, options) => backend.logits(ids, options),
    /** Completes a raw prompt as a TextStream (async iterator of pieces; `.usage`, `.text()`). */
    generate,
    /** Completes a raw prompt without streaming: { text, usage }. */
    complete: async (prompt, options) => {
      const { options: opts, signal } = generateOptions(options, "complete");
      return run("generate", prompt, opts, signal);
    },
    /** OpenAI-style chat completions over the model's chat template. */
    chat: { completions: { create } },
    /** Forgets the cached conversation (the KV cache is otherwise kept: a prompt that extends
     *  the previous one, such as a chat's next turn, only evaluates what is new). */
    reset: async () => backend.reset(),
    /** Frees the model and its memory (and the Worker, if this engine started one). */
    unload: async () => backend.unload(),
    /** Test hook: makes the wasm module panic, to check how a panic is reported. */
    _debugPanic: async (message = "debug panic") => backend.debugPanic(message),
    /** Test hook: destroys the GPU device (the next request fails with code "gpu_lost"). */
    _debugLoseGpu: async () => backend.debugLoseGpu(),
  };
}
