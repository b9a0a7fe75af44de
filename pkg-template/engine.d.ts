// Types of the ruvllm engine API (engine.js). The low-level wasm-bindgen glue is ruvllm.d.ts.

/** Error codes carried by every Error the engine throws or rejects with (`error.code`). */
export type ErrorCode =
  | "bad_model"
  | "unsupported_model"
  | "invalid_argument"
  | "out_of_memory"
  | "quota_exceeded"
  | "io"
  | "aborted"
  | "context_full"
  | "bad_token"
  | "no_chat_template"
  | "bad_template"
  | "no_request"
  | "panic"
  | "worker"
  | "unsupported_browser"
  | "unloaded"
  | "no_gpu"
  | "gpu"
  | "gpu_lost"
  | "internal";

/** What the engine throws: an Error with a stable `code` (and, for a bad GGUF file, its `kind`). */
export interface EngineError extends Error {
  code: ErrorCode;
  kind?: string;
}

export interface Progress {
  /** Bytes received so far (increasing; the last call has loaded === total when total is known). */
  loaded: number;
  /** The model's size, or undefined when the server did not say. */
  total: number | undefined;
}

export interface CreateEngineOptions {
  /** A URL (streamed and cached in origin storage), a File/Blob, an ArrayBuffer or typed array,
   *  or (Node) a filesystem path. */
  model: string | URL | Blob | ArrayBuffer | ArrayBufferView;
  /** Threads of the forward pass in the threaded build (default navigator.hardwareConcurrency,
   *  at most 8); the single build runs on 1 thread. */
  threads?: number;
  /** "auto" (default): "threaded" where the page is cross-origin isolated (SharedArrayBuffer)
   *  and the engine runs in a Worker, else "single". "threaded" where it cannot run rejects with
   *  code "unsupported_browser". */
  build?: "auto" | "single" | "threaded";
  /** Where the forward pass runs. "auto" (default): WebGPU where the browser offers a hardware
   *  adapter (then the single build), else the CPU (`info().backend_note` says why). "webgpu":
   *  the single build on WebGPU, rejecting with code "no_gpu" where there is none and "gpu"
   *  where the device cannot hold the model. "cpu": the CPU kernels. */
  backend?: "auto" | "cpu" | "webgpu";
  /** How the linears' inputs are quantized. "standard" (default): the attention's Q, K and V
   *  from value-and-residual Q8 pairs, the other linears from one Q8 row (as llama.cpp), at
   *  llama.cpp's speed. "high": every linear from pairs, the closest to an exact forward pass
   *  over the same weights (mean KL ~1e-7 instead of ~1e-3), about 1.5x slower. */
  precision?: "standard" | "high";
  onProgress?: (progress: Progress) => void;
  /** Cancels the load: createEngine rejects with code "aborted" (name "AbortError"). */
  signal?: AbortSignal;
  /** Positions of the KV cache (default 2048). */
  n_ctx?: number;
  /** Most prompt tokens evaluated in one pass (default 256). */
  n_batch?: number;
  /** true (default): a cached URL loads without any network request; "revalidate": a HEAD
   *  request checks the size and ETag first; false: the cache is neither read nor written. */
  cache?: boolean | "revalidate";
  /** "auto" (default): in its own Worker on a page's main thread, in place in Node or a Worker. */
  worker?: boolean | "auto";
  /** Where ruvllm_bg.wasm is, if not beside engine.js. */
  wasm?: string | URL | ArrayBuffer | Uint8Array;
  /** Where worker.js is, if not beside engine.js. */
  workerUrl?: string | URL;
}

export interface SamplingOptions {
  /** Most tokens to generate (default 256). */
  max_tokens?: number;
  /** 0 = greedy (default 0.8). */
  temperature?: number;
  top_k?: number;
  top_p?: number;
  min_p?: number;
  repeat_penalty?: number;
  presence_penalty?: number;
  frequency_penalty?: number;
  penalty_last_n?: number;
  seed?: number;
  /** Generation stops before any of these; they are never emitted. */
  stop?: string | string[];
  /** Stops the request: it ends with finish_reason "abort" (it does not reject). */
  signal?: AbortSignal;
}

export interface GenerateOptions extends SamplingOptions {
  /** Add BOS/EOS as the model asks (default true). */
  add_special?: boolean;
  /** Recognise special-token text such as <|im_start|> in the prompt (default false). */
  parse_special?: boolean;
}

export type FinishReason = "eog" | "stop" | "length" | "abort";

export interface Usage {
  prompt_tokens: number;
  /** Prompt tokens actually evaluated (the rest were already in the KV cache). */
  prompt_evaluated: number;
  generated_tokens: number;
  /** "eog": an end-of-generation token; "stop": a stop string; "length": max_tokens or the
   *  context; "abort": the signal. */
  finish_reason: FinishReason;
  prefill_ms: number;
  decode_ms: number;
  prefill_tokens_per_s: number;
  decode_tokens_per_s: number;
  kernels: string;
  threads: number;
}

/** The text of one request as it is generated. Leaving the loop early aborts the request. */
export interface TextStream extends AsyncIterableIterator<string> {
  /** The usage record, once the request has ended. */
  readonly usage: Promise<Usage>;
  /** The whole text, once the request has ended. */
  text(): Promise<string>;
  /** Stops the request (finish_reason "abort"). */
  abort(): void;
}

export interface EngineInfo {
  architecture: string;
  name: string | null;
  n_ctx: number;
  n_batch: number;
  n_ctx_train: number;
  n_vocab: number;
  n_layer: number;
  n_embd: number;
  kernels: string;
  /** The wasm build that runs: "threaded" (SharedArrayBuffer workers) or "single". */
  build: "single" | "threaded";
  /** Threads of the forward pass (1 in the single build). */
  threads: number;
  threads_requested: number;
  precision: "standard" | "high";
  model_bytes: number;
  chat_template: boolean;
  /** Where the forward pass runs. */
  backend: "cpu" | "webgpu";
  /** Why "auto" chose the CPU (no WebGPU, a software adapter, ...), else null. */
  backend_note: string | null;
  /** The WebGPU adapter and what the kernels use of it (null on the CPU). */
  gpu: GpuInfo | null;
  /** Whether the engine runs in a Worker that createEngine started. */
  worker: boolean;
}

export interface GpuInfo {
  /** The adapter's description (may be "(unnamed adapter)": browsers hide it by default). */
  adapter: string;
  /** "Cpu" for a software (fallback) adapter such as SwiftShader, else "Other". */
  device_type: string;
  shader_f16: boolean;
  subgroups: boolean;
  /** The KV cache's element type: "f16" with shader-f16, else "f32". */
  kv_cache: "f16" | "f32";
  max_binding_bytes: number;
}

export interface ChatMessage {
  role: "system" | "user" | "assistant" | string;
  content: string | Array<{ type: "text"; text: string }> | null;
}

export interface ChatCompletionCreateParams extends Omit<SamplingOptions, "signal"> {
  messages: ChatMessage[];
  stream?: boolean;
  /** Echoed in the result; the loaded model is used whatever it says. */
  model?: string;
  max_completion_tokens?: number;
  /** Only 1. */
  n?: number;
  stream_options?: { include_usage?: boolean };
  user?: string;
  signal?: AbortSignal;
}

export interface ChatCompletionUsage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  /** The engine's own record, with timings. */
  ruvllm: Usage;
}

/** "abort" when the request's signal stopped it. */
export type ChatFinishReason = "stop" | "length" | "abort";

export interface ChatCompletion {
  id: string;
  object: "chat.completion";
  created: number;
  model: string;
  choices: Array<{
    index: 0;
    message: { role: "assistant"; content: string };
    finish_reason: ChatFinishReason;
    logprobs: null;
  }>;
  usage: ChatCompletionUsage;
}

export interface ChatCompletionChunk {
  id: string;
  object: "chat.completion.chunk";
  created: number;
  model: string;
  /** Empty in the last chunk, which carries `usage`. */
  choices: Array<{
    index: 0;
    delta: { role?: "assistant"; content?: string };
    finish_reason: ChatFinishReason | null;
    logprobs: null;
  }>;
  usage?: ChatCompletionUsage;
}

export interface ChatCompletionStream extends AsyncIterable<ChatCompletionChunk> {
  abort(): void;
}

export interface Engine {
  info(): EngineInfo;
  tokenize(text: string, options?: { addSpecial?: boolean; parseSpecial?: boolean }): Promise<number[]>;
  detokenize(ids: ArrayLike<number>, options?: { special?: boolean }): Promise<string>;
  /** Completes a raw prompt, streaming. */
  generate(prompt: string, options?: GenerateOptions): TextStream;
  /** Completes a raw prompt without streaming. */
  complete(prompt: string, options?: GenerateOptions): Promise<{ text: string; usage: Usage }>;
  chat: {
    completions: {
      create(params: ChatCompletionCreateParams & { stream: true }, options?: { signal?: AbortSignal }): Promise<ChatCompletionStream>;
      create(params: ChatCompletionCreateParams & { stream?: false }, options?: { signal?: AbortSignal }): Promise<ChatCompletion>;
      create(
        params: ChatCompletionCreateParams,
        options?: { signal?: AbortSignal },
      ): Promise<ChatCompletion | ChatCompletionStream>;
    };
  };
  /** Evaluates token ids after what the engine holds (after nothing with `reset: true`) and
   *  resolves to the logits for the next token (n_vocab values): teacher forcing, scoring. The
   *  next request then evaluates its whole prompt. */
  logits(ids: ArrayLike<number>, options?: { reset?: boolean }): Promise<Float32Array>;
  /** Forgets the cached conversation. */
  reset(): Promise<void>;
  /** Frees the model, its memory and its Worker; later calls reject with code "unloaded". */
  unload(): Promise<void>;
  /** Test hook: makes the wasm module panic (then every call rejects with code "panic"). */
  _debugPanic(message?: string): Promise<never>;
  /** Test hook: destroys the GPU device (the next request rejects with code "gpu_lost"). */
  _debugLoseGpu(): Promise<void>;
}

export function createEngine(options: CreateEngineOptions): Promise<Engine>;

/** Instantiates the wasm module on this thread ahead of time (optional). */
export function initWasm(wasm?: string | URL | ArrayBuffer | Uint8Array): Promise<void>;

export interface CachedModel {
  url: string;
  size: number | undefined;
  etag: string | null;
  cached_at: string | null;
  storage: "opfs" | "cache";
}

export function listCachedModels(): Promise<CachedModel[]>;
/** Resolves to true if something was removed. */
export function deleteCachedModel(url: string | URL): Promise<boolean>;
export function clearModelCache(): Promise<void>;
