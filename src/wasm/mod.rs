//! The WebAssembly bindings: an [`Engine`] that JavaScript creates from the model's bytes and
//! drives through `js/engine.js`.
//!
//! A thin layer over the Rust API ([`GgufFile`], [`Model`], [`Tokenizer`], [`Generator`],
//! [`ChatTemplate`]): options and results cross the boundary as JSON, and every failure comes
//! back as a JS `Error` with a stable `code` property (see [`error_code`]), never as a panic.
//! Two builds come from this crate: the single-threaded one (`simd128`; the session runs on the
//! calling thread, `threads = 1` whatever is asked) and the threaded one (`atomics`, one shared
//! `WebAssembly.Memory`): there the session's pool has `threads - 1` helpers, JS Workers that
//! `js/threads.js` starts on the same module and memory ([`wasm_module`], [`wasm_memory`]) and
//! that each call [`pool_helper`] with [`Engine::pool_handle`] (see `crate::pool`).
//!
//! - [`EngineLoader`] takes the model's bytes in chunks as they download (reserved once, up
//!   front; a model that cannot fit in wasm32 memory is refused from its size and header, before
//!   the download finishes) and makes the [`Engine`].
//! - [`Engine`] generates stepwise: `begin`/`beginChat` start a request, each `step()` runs one
//!   prompt batch or one token and returns the text it made final, so the JS loop
//!   (`js/core.js`) can yield to its message queue between steps and see an abort; `abort()`
//!   stops it, `end()` gives the usage record. The engine keeps one [`Generator`] (its KV cache
//!   allocated once, at creation) across requests, so a chat's next turn only evaluates what is
//!   new, and an aborted request leaves the cache holding exactly what was evaluated.
//! - A Rust panic (a bug) traps the module; the panic hook first stores its message in
//!   `globalThis.__ruvllmPanic` so the JS side can report it (code `panic`).

use std::sync::Arc;

use serde::Deserialize;
use wasm_bindgen::prelude::*;

use crate::chat::{ChatMessage, ChatTemplate};
use crate::error::{Error, ModelError};
use crate::generate::{Completion, FinishReason, GenerateParams, Generation, Generator};
use crate::gguf::Value;
use crate::mem::ModelBytes;
use crate::model::{Model, SessionOptions};
use crate::sampler::SamplingParams;
use crate::{GgufFile, Tokenizer};

/// Whether this is the threaded build (shared memory, a pool of JS Workers).
const THREADED: bool = cfg!(target_feature = "atomics");

/// The stable `code` a JS `Error` carries for a crate error.
pub fn error_code(e: &Error) -> &'static str {
    match e {
        Error::Gguf(_) | Error::Tokenizer(_) => "bad_model",
        Error::Model(m) => match m {
            ModelError::UnsupportedArchitecture { .. } => "unsupported_model",
            ModelError::InvalidOption { .. } => "invalid_argument",
            ModelError::ContextFull { .. } => "context_full",
            ModelError::TokenOutOfRange { .. } => "bad_token",
            ModelError::OutOfMemory { .. } => "out_of_memory",
            ModelError::InvalidConfig { .. }
            | ModelError::MissingTensor { .. }
            | ModelError::TensorShape { .. }
            | ModelError::TensorType { .. } => "bad_model",
        },
        Error::Template(crate::chat::TemplateError::Missing) => "no_chat_template",
        Error::Template(_) => "bad_template",
        Error::Quant(_) => "internal",
        Error::Io { .. } => "io",
        Error::Gpu(crate::error::GpuError::NoAdapter { .. } | crate::error::GpuError::NotBuilt) => "no_gpu",
        Error::Gpu(crate::error::GpuError::DeviceLost { .. }) => "gpu_lost",
        Error::Gpu(_) => "gpu",
    }
}

/// A JS `Error` with `message` and a `code` property (and `kind`, when given).
fn js_error(code: &str, message: &str, kind: Option<&str>) -> JsValue {
    let err = js_sys::Error::new(message);
    // Setting a property on a fresh, unfrozen Error object cannot fail.
    let _ = js_sys::Reflect::set(&err, &JsValue::from_str("code"), &JsValue::from_str(code));
    if let Some(kind) = kind {
        let _ = js_sys::Reflect::set(&err, &JsValue::from_str("kind"), &JsValue::from_str(kind));
    }
    err.into()
}

fn to_js(e: Error) -> JsValue {
    let kind = match &e {
        Error::Gguf(g) => Some(g.kind()),
        _ => None,
    };
    js_error(error_code(&e), &e.to_string(), kind)
}

/// Installs the panic hook once: the panic's message goes to `globalThis.__ruvllmPanic` (read by
/// `js/core.js` when the module traps) and, with its stack, to the console.
fn install_panic_hook() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        std::panic::set_hook(Box::new(|info| {
            let message = JsValue::from_str(&info.to_string());
            let _ = js_sys::Reflect::set(&js_sys::global(), &JsValue::from_str("__ruvllmPanic"), &message);
            console_error_panic_hook::hook(info);
        }));
    });
}

/// Panics on purpose, with `message`. Exists so the tests can check that a panic reaches JS as an
/// `Error` with code `panic` (not a dead worker) and that the engine then refuses further calls.
#[wasm_bindgen(js_name = debugPanic)]
pub fn debug_panic(message: &str) {
    install_panic_hook();
    panic!("{message}");
}

/// Parses an options object given as JSON; `""`, `"null"` and `"undefined"` mean the defaults.
fn parse_options<T: for<'de> Deserialize<'de> + Default>(json: Option<String>, what: &str) -> Result<T, JsValue> {
    match json.as_deref().map(str::trim) {
        None | Some("" | "null" | "undefined") => Ok(T::default()),
        Some(s) => serde_json::from_str(s)
            .map_err(|e| js_error("invalid_argument", &format!("invalid {what} options: {e}"), None)),
    }
}

/// Options of [`Engine::new`].
#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct EngineOptions {
    /// Positions of the KV cache (prompt plus generated tokens).
    n_ctx: usize,
    /// Most prompt tokens evaluated in one batched pass.
    n_batch: usize,
    /// Threads of the forward pass (the threaded build; the single-threaded build uses 1).
    threads: usize,
    /// `"standard"` or `"high"` ([`crate::model::Precision`]).
    precision: Option<String>,
}

impl Default for EngineOptions {
    fn default() -> Self {
        Self { n_ctx: 2048, n_batch: 256, threads: 1, precision: None }
    }
}

impl EngineOptions {
    fn session_options(&self) -> Result<SessionOptions, JsValue> {
        let precision = match self.precision.as_deref() {
            None => crate::model::Precision::default(),
            Some(p) => p.parse().map_err(|e: String| js_error("invalid_argument", &e, None))?,
        };
        SessionOptions::new(self.n_ctx, self.n_batch.min(self.n_ctx))
            // The single-threaded build runs any valid count on one thread (0 is still refused).
            .and_then(|s| s.with_threads(if THREADED || self.threads == 0 { self.threads } else { 1 }))
            .map(|s| s.with_precision(precision))
            .map_err(|e| to_js(e.into()))
    }
}

/// Options of [`Engine::generate`] and [`Engine::chat`]; defaults are llama.cpp's (and the CLI's).
#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct GenerateOptions {
    max_tokens: usize,
    temperature: f32,
    top_k: usize,
    top_p: f32,
    min_p: f32,
    repeat_penalty: f32,
    presence_penalty: f32,
    frequency_penalty: f32,
    penalty_last_n: usize,
    seed: u64,
    stop: Vec<String>,
    /// Raw prompts only (chat decides these from its template): add BOS/EOS as the model asks.
    add_special: Option<bool>,
    /// Raw prompts only: recognise special-token text in the prompt.
    parse_special: Option<bool>,
}

impl Default for GenerateOptions {
    fn default() -> Self {
        let s = SamplingParams::new(0);
        Self {
            max_tokens: 256,
            temperature: s.temperature,
            top_k: s.top_k,
            top_p: s.top_p,
            min_p: s.min_p,
            repeat_penalty: s.repeat_penalty,
            presence_penalty: s.presence_penalty,
            frequency_penalty: s.frequency_penalty,
            penalty_last_n: s.penalty_last_n,
            seed: 0,
            stop: Vec::new(),
            add_special: None,
            parse_special: None,
        }
    }
}

impl GenerateOptions {
    fn params(&self) -> GenerateParams {
        let s = SamplingParams::new(self.seed)
            .with_temperature(self.temperature)
            .with_top_k(self.top_k)
            .with_top_p(self.top_p)
            .with_min_p(self.min_p)
            .with_repeat_penalty(self.repeat_penalty)
            .with_presence_penalty(self.presence_penalty)
            .with_frequency_penalty(self.frequency_penalty)
            .with_penalty_last_n(self.penalty_last_n);
        GenerateParams::new(self.max_tokens, s).with_stop(self.stop.clone())
    }
}

/// A chat message as JS sends it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Message {
    role: String,
    content: String,
}

/// A loaded model with its tokenizer, chat template and generator, ready to generate.
#[wasm_bindgen]
pub struct Engine {
    model: Arc<Model>,
    tokenizer: Arc<Tokenizer>,
    template: Option<ChatTemplate>,
    opts: SessionOptions,
    gen: Generator<'static>,
    /// The request in progress (or finished and not yet `end()`ed).
    active: Option<Generation>,
    /// Text the last step made final, handed to JS by `step()`.
    pending: String,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("architecture", &self.model.config().arch)
            .field("n_ctx", &self.opts.n_ctx)
            .field("kernels", &self.opts.kernels.flavour())
            .finish_non_exhaustive()
    }
}

#[wasm_bindgen]
impl Engine {
    /// Takes the model's bytes (a copy of the JS `Uint8Array` in wasm memory) and loads it.
    /// `options_json`: `{"n_ctx": 2048, "n_batch": 256}`, both optional. For big models use
    /// [`EngineLoader`], which takes the bytes in chunks.
    #[wasm_bindgen(constructor)]
    pub fn new(model: Vec<u8>, options_json: Option<String>) -> Result<Engine, JsValue> {
        install_panic_hook();
        let o: EngineOptions = parse_options(options_json, "engine")?;
        Engine::from_bytes(model, &o)
    }

    /// What was loaded and how it runs, as JSON: architecture, name, n_ctx, n_ctx_train,
    /// n_vocab, n_layer, n_embd, kernels, threads, build, precision, model_bytes, chat_template,
    /// backend, backend_note, gpu.
    pub fn info(&self) -> String {
        let c = self.model.config();
        let file = self.model.file();
        serde_json::json!({
            "architecture": c.arch,
            "name": file.get_str("general.name").ok(),
            "n_ctx": self.opts.n_ctx,
            "n_batch": self.opts.n_batch,
            "n_ctx_train": c.n_ctx_train,
            "n_vocab": c.n_vocab,
            "n_layer": c.n_layer,
            "n_embd": c.n_embd,
            "kernels": self.opts.kernels.flavour().name(),
            "threads": self.opts.threads,
            "build": if THREADED { "threaded" } else { "single" },
            "precision": self.opts.precision.name(),
            "model_bytes": file.file_len(),
            "chat_template": self.template.is_some(),
            "backend": if self.opts.backend == crate::gpu::Backend::Gpu { "webgpu" } else { "cpu" },
            "backend_note": self.gen.session().backend_note(),
            "gpu": self.gpu_info(),
        })
        .to_string()
    }

    /// Token ids of `text`.
    pub fn tokenize(&self, text: &str, add_special: bool, parse_special: bool) -> Vec<u32> {
        self.tokenizer.encode(text, add_special, parse_special)
    }

    /// The text of `ids` (control tokens printed only if `special`); an id outside the
    /// vocabulary is an error with code `bad_token`.
    pub fn detokenize(&self, ids: &[u32], special: Option<bool>) -> Result<String, JsValue> {
        let n_vocab = self.tokenizer.n_vocab();
        if let Some(&token) = ids.iter().find(|&&t| t as usize >= n_vocab) {
            return Err(to_js(ModelError::TokenOutOfRange { token, n_vocab }.into()));
        }
        Ok(self.tokenizer.decode(ids, special.unwrap_or(false)))
    }

    /// Starts completing a raw prompt (see [`Engine::step`]). A request still in progress is
    /// stopped first. `options_json`: max_tokens, temperature, top_k, top_p, min_p,
    /// repeat_penalty, presence_penalty, frequency_penalty, penalty_last_n, seed, stop,
    /// add_special, parse_special.
    pub fn begin(&mut self, prompt: &str, options_json: Option<String>) -> Result<(), JsValue> {
        let o: GenerateOptions = parse_options(options_json, "generate")?;
        let params = o
            .params()
            .with_add_special(o.add_special.unwrap_or(true))
            .with_parse_special(o.parse_special.unwrap_or(false));
        self.start(prompt, &params)
    }

    /// Renders `messages_json` (`[{"role": "user", "content": "..."}]`) with the model's chat
    /// template and starts completing it like [`Engine::begin`].
    #[wasm_bindgen(js_name = beginChat)]
    pub fn begin_chat(&mut self, messages_json: &str, options_json: Option<String>) -> Result<(), JsValue> {
        let o: GenerateOptions = parse_options(options_json, "chat")?;
        if o.add_special.is_some() || o.parse_special.is_some() {
            return Err(js_error(
                "invalid_argument",
                "add_special and parse_special apply to raw prompts, not chat",
                None,
            ));
        }
        let messages: Vec<Message> = serde_json::from_str(messages_json)
            .map_err(|e| js_error("invalid_argument", &format!("invalid chat messages: {e}"), None))?;
        let messages: Vec<ChatMessage> = messages.into_iter().map(|m| ChatMessage::new(m.role, m.content)).collect();
        let template = self.template.as_ref().ok_or_else(|| to_js(crate::chat::TemplateError::Missing.into()))?;
        let prompt = template.render(&messages, true).map_err(to_js)?;
        let params = o.params().with_parse_special(true).with_add_special(false);
        self.start(&prompt, &params)
    }

    /// Runs one step of the request in progress (one prompt batch or one generated token) and
    /// returns the text it made final: a string (empty while nothing is final yet, e.g. during the
    /// prompt or while a stop string may be starting), `null` while the GPU has not delivered the
    /// last step's logits (await [`Engine::when_ready`], then step again), or `undefined` once the
    /// request has finished (then [`Engine::end`]). An error (code `no_request` without a request) ends the
    /// request; the engine stays usable.
    pub fn step(&mut self) -> Result<JsValue, JsValue> {
        let Some(g) = self.active.as_mut() else {
            return Err(js_error("no_request", "step() without a request: call begin() or beginChat() first", None));
        };
        if !self.pending.is_empty() {
            let text = JsValue::from_str(&self.pending);
            self.pending.clear();
            return Ok(text);
        }
        if g.is_finished() {
            return Ok(JsValue::UNDEFINED);
        }
        // The last step's logits still on their way from the GPU: `null`, and JS awaits
        // `whenReady` before stepping again.
        match self.gen.ready(g) {
            Ok(true) => {}
            Ok(false) => return Ok(JsValue::NULL),
            Err(e) => {
                self.active = None;
                self.pending.clear();
                return Err(to_js(e));
            }
        }
        let pending = &mut self.pending;
        if let Err(e) = self.gen.step(g, &mut |piece| pending.push_str(piece)) {
            self.active = None;
            self.pending.clear();
            return Err(to_js(e));
        }
        let text = JsValue::from_str(&self.pending);
        self.pending.clear();
        Ok(text)
    }

    /// Stops the request in progress (finish reason `abort`); `step()` then returns any text that
    /// was held back and `undefined`. The KV cache keeps what was evaluated, so the next request
    /// reuses the common prefix. Without a request, does nothing.
    pub fn abort(&mut self) {
        if let Some(g) = self.active.as_mut() {
            let pending = &mut self.pending;
            self.gen.stop(g, &mut |piece| pending.push_str(piece));
        }
    }

    /// The usage record of the finished request as JSON (see [`usage_json`]), and forgets the
    /// request. An error (code `no_request`) if there is none or it has not finished.
    pub fn end(&mut self) -> Result<String, JsValue> {
        match &self.active {
            Some(g) if g.is_finished() && self.pending.is_empty() => {}
            Some(_) => return Err(js_error("no_request", "end() before step() returned undefined", None)),
            None => return Err(js_error("no_request", "end() without a request", None)),
        }
        let completion = self.active.take().map(Generation::into_completion);
        Ok(completion.map(|c| usage_json(&c, &self.opts)).unwrap_or_default())
    }

    /// Evaluates token `ids` after what the engine holds (after nothing when `reset`) outside any
    /// request, for [`Engine::logits`] (teacher forcing, scoring). On the GPU the result
    /// arrives later: await [`Engine::when_ready`] first. Errors: `no_request` ("busy") while a
    /// request is in progress, `bad_token`, `context_full`.
    #[wasm_bindgen(js_name = evalTokens)]
    pub fn eval_tokens(&mut self, ids: &[u32], reset: bool) -> Result<(), JsValue> {
        if self.active.as_ref().is_some_and(|g| !g.is_finished()) {
            return Err(js_error("no_request", "evalTokens() while a request is in progress", None));
        }
        self.active = None;
        self.pending.clear();
        self.gen.eval_tokens(ids, reset).map_err(to_js)
    }

    /// The logits after the last evaluated token (a copy, n_vocab values). An error (code
    /// `gpu`) while the GPU has not delivered them: await [`Engine::when_ready`].
    pub fn logits(&mut self) -> Result<Vec<f32>, JsValue> {
        if !self.gen.session_mut().ready().map_err(to_js)? {
            return Err(js_error("gpu", "the logits are still on their way from the GPU: await whenReady()", None));
        }
        Ok(self.gen.session().logits().to_vec())
    }

    /// Calls `resolve` once the GPU has delivered what the last step asked for (at once when
    /// nothing is outstanding, and always on the CPU backend).
    #[wasm_bindgen(js_name = whenReady)]
    pub fn when_ready(&mut self, resolve: js_sys::Function) {
        #[cfg(feature = "gpu")]
        self.gen.session_mut().on_ready(Box::new(move || {
            let _ = resolve.call0(&JsValue::NULL);
        }));
        #[cfg(not(feature = "gpu"))]
        let _ = resolve.call0(&JsValue::NULL);
    }

    /// Destroys the GPU device as a driver reset would (a test hook: the next request must fail
    /// with code `gpu_lost`, never hang). Does nothing on the CPU backend.
    #[wasm_bindgen(js_name = debugLoseGpu)]
    pub fn debug_lose_gpu(&self) {
        #[cfg(feature = "gpu")]
        self.gen.session().simulate_gpu_loss();
    }

    /// Forgets the cached conversation (the next request evaluates its whole prompt).
    pub fn reset(&mut self) {
        self.gen.reset();
    }

    /// The handle the thread pool's `threads - 1` JS helpers attach with ([`pool_helper`]);
    /// `undefined` with one thread or in the single-threaded build.
    #[wasm_bindgen(js_name = poolHandle)]
    pub fn pool_handle(&self) -> Option<u32> {
        self.gen.session().pool().helper_handle()
    }
}

/// Every GPU kernel's WGSL as this build gives it to the browser (with the subgroups enable
/// directive where a kernel uses subgroup operations), as JSON `[{name, config, f16,
/// subgroups, source}]`, in each configuration the host can choose: hardware with and without
/// subgroups (of 4 and 32 lanes), and software. The browser test compiles each with the
/// browser's own WGSL compiler (Chromium's Tint), which naga cannot stand in for.
#[cfg(feature = "gpu")]
#[wasm_bindgen(js_name = gpuKernelSources)]
pub fn gpu_kernel_sources() -> String {
    use crate::gpu::kernels::{Kernel, KernelLimits};
    let configs = [
        ("hardware", KernelLimits::WEBGPU_DEFAULT),
        ("hardware, subgroups of 4", KernelLimits { subgroup_min: 4, ..KernelLimits::WEBGPU_DEFAULT }),
        ("hardware, subgroups of 32", KernelLimits { subgroup_min: 32, ..KernelLimits::WEBGPU_DEFAULT }),
        ("software", KernelLimits { software: true, ..KernelLimits::WEBGPU_DEFAULT }),
    ];
    let mut out = Vec::new();
    for kernel in Kernel::all() {
        for (config, limits) in &configs {
            let cfg = kernel.config(limits, 64);
            let source = kernel.source(&cfg);
            out.push(serde_json::json!({
                "name": kernel.name(),
                "config": config,
                "f16": source.contains("enable f16;"),
                "subgroups": cfg.subgroups,
                "source": source,
            }));
        }
    }
    serde_json::Value::Array(out).to_string()
}

/// The compiled module, for the pool's helper Workers to instantiate on the same memory.
#[cfg(target_feature = "atomics")]
#[wasm_bindgen(js_name = poolModule)]
pub fn wasm_module() -> JsValue {
    wasm_bindgen::module()
}

/// The module's shared `WebAssembly.Memory`, for the pool's helper Workers.
#[cfg(target_feature = "atomics")]
#[wasm_bindgen(js_name = poolMemory)]
pub fn wasm_memory() -> JsValue {
    wasm_bindgen::memory()
}

/// Runs helper `worker` (1 to threads - 1) of the pool with `handle` on this thread until the
/// pool is dropped (a helper Worker calls it once; it blocks in atomic waits between regions).
/// Refuses, with code `invalid_argument`, a handle no live pool has or an index out of range
/// or already taken.
#[cfg(target_feature = "atomics")]
#[wasm_bindgen(js_name = poolHelper)]
pub fn pool_helper(handle: u32, worker: u32) -> Result<(), JsValue> {
    install_panic_hook();
    crate::pool::run_helper(handle, worker as usize)
        .map_err(|e| js_error("invalid_argument", &format!("pool helper {worker}: {e}"), None))
}

/// A bare thread pool for the browser stress test (`tests/wasm/browser_threads.mjs`): JS
/// attaches helpers to [`PoolStress::handle`] as for an engine, then [`PoolStress::run`] checks
/// thousands of regions exactly (`crate::pool::stress`).
#[cfg(target_feature = "atomics")]
#[wasm_bindgen]
#[derive(Debug)]
pub struct PoolStress {
    pool: crate::pool::ThreadPool,
}

#[cfg(target_feature = "atomics")]
#[wasm_bindgen]
impl PoolStress {
    #[wasm_bindgen(constructor)]
    pub fn new(threads: u32) -> Result<PoolStress, JsValue> {
        install_panic_hook();
        let pool = crate::pool::ThreadPool::new(threads as usize).map_err(|e| to_js(e.into()))?;
        Ok(PoolStress { pool })
    }

    /// The handle helpers attach with (`undefined` with one thread).
    pub fn handle(&self) -> Option<u32> {
        self.pool.helper_handle()
    }

    /// How many helpers have attached so far.
    pub fn attached(&self) -> u32 {
        self.pool.helpers_attached() as u32
    }

    /// Runs `regions` regions of up to `max_len` elements from `seed`; returns the elements
    /// checked, or throws (code `internal`) with the first difference.
    pub fn run(&mut self, regions: u32, max_len: u32, seed: f64) -> Result<f64, JsValue> {
        crate::pool::stress(&mut self.pool, regions as usize, max_len as usize, seed as u64)
            .map(|n| n as f64)
            .map_err(|e| js_error("internal", &format!("thread pool stress test: {e}"), None))
    }
}

impl Engine {
    fn from_bytes(model: Vec<u8>, o: &EngineOptions) -> Result<Engine, JsValue> {
        let opts = o.session_options()?;
        let (model, tokenizer, template) = Self::load(model)?;
        let gen = Generator::new(Arc::clone(&model), Arc::clone(&tokenizer), opts).map_err(to_js)?;
        Ok(Self::assemble(model, tokenizer, template, gen))
    }

    /// The model on the page's WebGPU device; with `auto`, on the CPU (saying why in
    /// `info().backend_note`) when there is no adapter, only a software one, or the model does
    /// not fit the device.
    #[cfg(feature = "gpu")]
    async fn from_bytes_gpu(model: Vec<u8>, o: &EngineOptions, auto: bool) -> Result<Engine, JsValue> {
        let opts = o.session_options()?;
        let (model, tokenizer, template) = Self::load(model)?;
        let session = async {
            let gpu = crate::gpu::Gpu::open(&opts.gpu).await?;
            if auto {
                gpu.require_hardware()?;
            }
            let mut session = crate::Session::with_gpu(Arc::clone(&model), opts.clone(), gpu)?;
            session.settle().await?;
            Ok::<_, Error>(session)
        }
        .await;
        let gen = match session {
            Ok(session) => Generator::with_session(Arc::clone(&tokenizer), session),
            Err(e) if auto => {
                let mut gen = Generator::new(Arc::clone(&model), Arc::clone(&tokenizer), opts).map_err(to_js)?;
                gen.session_mut().set_backend_note(format!("GPU not used: {e}"));
                gen
            }
            Err(e) => return Err(to_js(e)),
        };
        Ok(Self::assemble(model, tokenizer, template, gen))
    }

    #[allow(clippy::type_complexity)]
    fn load(model: Vec<u8>) -> Result<(Arc<Model>, Arc<Tokenizer>, Option<ChatTemplate>), JsValue> {
        let file = GgufFile::from_bytes(ModelBytes::from_vec(model)).map_err(to_js)?;
        let tokenizer = Tokenizer::from_gguf(&file, false).map_err(to_js)?;
        let template = match ChatTemplate::from_gguf(&file, &tokenizer) {
            Ok(t) => Some(t),
            Err(Error::Template(_)) => None,
            Err(e) => return Err(to_js(e)),
        };
        Ok((Arc::new(Model::load(file).map_err(to_js)?), Arc::new(tokenizer), template))
    }

    fn assemble(
        model: Arc<Model>,
        tokenizer: Arc<Tokenizer>,
        template: Option<ChatTemplate>,
        gen: Generator<'static>,
    ) -> Engine {
        let opts = gen.session().options().clone();
        Engine { model, tokenizer, template, opts, gen, active: None, pending: String::new() }
    }

    /// The GPU the session runs on, as JSON (`null` on the CPU).
    fn gpu_info(&self) -> serde_json::Value {
        #[cfg(feature = "gpu")]
        if let Some(g) = self.gen.session().gpu_info() {
            return serde_json::json!({
                "adapter": g.adapter,
                "device_type": g.device_type,
                "shader_f16": g.shader_f16,
                "subgroups": g.subgroups,
                "kv_cache": if g.kv_f16 { "f16" } else { "f32" },
                "max_binding_bytes": g.max_binding_bytes,
            });
        }
        serde_json::Value::Null
    }

    fn start(&mut self, prompt: &str, params: &GenerateParams) -> Result<(), JsValue> {
        self.abort();
        self.active = None;
        self.pending.clear();
        self.active = Some(self.gen.begin(prompt, params).map_err(to_js)?);
        Ok(())
    }
}

/// The usage record of a completion: prompt_tokens, prompt_evaluated, generated_tokens,
/// prefill_ms, decode_ms, prefill_tokens_per_s, decode_tokens_per_s, finish_reason ("eog",
/// "stop", "length", "abort"), kernels, threads.
fn usage_json(c: &Completion, opts: &SessionOptions) -> String {
    let u = &c.usage;
    let finish = match c.finish_reason {
        FinishReason::Eog => "eog",
        FinishReason::StopString => "stop",
        FinishReason::Length => "length",
        FinishReason::Cancelled => "abort",
    };
    serde_json::json!({
        "prompt_tokens": u.prompt_tokens,
        "prompt_evaluated": u.prompt_evaluated,
        "generated_tokens": u.generated_tokens,
        "prefill_ms": u.prefill_ms,
        "decode_ms": u.decode_ms,
        "prefill_tokens_per_s": u.prefill_tokens_per_s(),
        "decode_tokens_per_s": u.decode_tokens_per_s(),
        "finish_reason": finish,
        "kernels": opts.kernels.flavour().name(),
        "threads": opts.threads,
    })
    .to_string()
}

/// wasm32's whole address space: 4 GiB.
const WASM32_MEMORY: u64 = 1 << 32;
/// The largest single allocation on wasm32 (`isize::MAX`); the model's bytes are one buffer.
const MAX_MODEL_BYTES: u64 = i32::MAX as u64;
/// Room assumed for everything not estimated below (the tokenizer, the template, the module).
const MEMORY_MARGIN: u64 = 64 << 20;
/// The first length at which the loader looks for the complete metadata (then twice as far).
const FIRST_HEADER_CHECK: usize = 64 << 10;

const MIB: f64 = (1u64 << 20) as f64;

fn out_of_memory(message: String) -> JsValue {
    js_error("out_of_memory", &message, None)
}

/// Takes a model's bytes in chunks as they arrive (a download, a file being read) and makes the
/// [`Engine`]. With the size known up front (`new(total)`), the whole buffer is reserved at once
/// and a model that cannot fit in wasm32 memory is refused right away; once the metadata has
/// arrived, its KV cache and scratch buffers for the requested context are estimated too, and a
/// model whose total would pass 4 GiB is refused before the rest is downloaded.
#[wasm_bindgen]
pub struct EngineLoader {
    buf: Vec<u8>,
    total: Option<u64>,
    options: EngineOptions,
    /// The header's memory estimate was checked (or cannot be, and `finish` will parse it all).
    checked: bool,
    /// The length at which to look for the complete metadata next.
    next_check: usize,
}

impl std::fmt::Debug for EngineLoader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EngineLoader")
            .field("loaded", &self.buf.len())
            .field("total", &self.total)
            .field("options", &self.options)
            .field("checked", &self.checked)
            .finish_non_exhaustive()
    }
}

#[wasm_bindgen]
impl EngineLoader {
    /// Starts a load of `total_bytes` (or of an unknown size: `undefined`). `options_json` as for
    /// [`Engine::new`]. Errors: `invalid_argument`, `out_of_memory` (a model over 2 GiB, which the
    /// wasm32 build cannot hold in one buffer, or a reservation the browser refuses).
    #[wasm_bindgen(constructor)]
    pub fn new(total_bytes: Option<f64>, options_json: Option<String>) -> Result<EngineLoader, JsValue> {
        install_panic_hook();
        let options: EngineOptions = parse_options(options_json, "engine")?;
        options.session_options()?;
        let total = match total_bytes {
            None => None,
            Some(t) if t.is_finite() && t >= 0.0 && t.fract() == 0.0 && t <= 9_007_199_254_740_992.0 => Some(t as u64),
            Some(t) => return Err(js_error("invalid_argument", &format!("total_bytes = {t}: not a byte count"), None)),
        };
        let mut buf = Vec::new();
        if let Some(total) = total {
            check_model_size(total)?;
            // total <= MAX_MODEL_BYTES, so it fits a usize.
            buf.try_reserve_exact(total as usize).map_err(|_| {
                out_of_memory(format!(
                    "cannot reserve {:.1} MiB of wasm memory for the model's bytes (the browser refused to grow \
                     the module's memory); close other tabs or use a smaller model",
                    total as f64 / MIB
                ))
            })?;
        }
        Ok(EngineLoader { buf, total, options, checked: false, next_check: FIRST_HEADER_CHECK })
    }

    /// Appends the next chunk of the model. Errors: `io` (more bytes than announced),
    /// `out_of_memory`, `bad_model` (the header is malformed).
    pub fn push(&mut self, chunk: &js_sys::Uint8Array) -> Result<(), JsValue> {
        let n = chunk.length() as usize;
        let len = self.buf.len();
        let new_len = len.saturating_add(n);
        match self.total {
            Some(total) if new_len as u64 > total => {
                return Err(js_error(
                    "io",
                    &format!("the model's source gave more than the {total} bytes it announced"),
                    None,
                ));
            }
            Some(_) => {}
            None => {
                check_model_size(new_len as u64)?;
                if self.buf.try_reserve(n).is_err() && self.buf.try_reserve_exact(n).is_err() {
                    return Err(out_of_memory(format!(
                        "cannot grow the model's buffer to {:.1} MiB of wasm memory",
                        new_len as f64 / MIB
                    )));
                }
            }
        }
        // Within the capacity reserved above: no reallocation.
        self.buf.resize(new_len, 0);
        chunk.copy_to(&mut self.buf[len..]);
        let complete = self.total == Some(new_len as u64);
        if !self.checked && (new_len >= self.next_check || complete) {
            self.check_header(complete)?;
        }
        Ok(())
    }

    /// Bytes received so far.
    pub fn loaded(&self) -> f64 {
        self.buf.len() as f64
    }

    /// Parses and loads the model once every byte is there (the loader is consumed). Errors:
    /// `io` (fewer bytes than announced), `bad_model`, `out_of_memory`, ...
    pub fn finish(mut self) -> Result<Engine, JsValue> {
        let len = self.buf.len() as u64;
        if let Some(total) = self.total.filter(|&t| t != len) {
            return Err(js_error("io", &format!("the model's source ended after {len} of {total} bytes"), None));
        }
        if !self.checked {
            self.check_header(true)?;
        }
        Engine::from_bytes(self.buf, &self.options)
    }

    /// [`EngineLoader::finish`] with the forward pass on WebGPU (this build has the GPU backend):
    /// resolves to the engine once the device is open and the weights are uploaded. `auto`:
    /// fall back to the CPU, saying why in `info().backend_note`, where `false` would fail with
    /// code `no_gpu` (no WebGPU or no adapter) or `gpu` (the device refused the model).
    #[cfg(feature = "gpu")]
    #[wasm_bindgen(js_name = finishGpu)]
    pub async fn finish_gpu(self, auto: bool) -> Result<Engine, JsValue> {
        let len = self.buf.len() as u64;
        if let Some(total) = self.total.filter(|&t| t != len) {
            return Err(js_error("io", &format!("the model's source ended after {len} of {total} bytes"), None));
        }
        let mut this = self;
        if !this.checked {
            this.check_header(true)?;
        }
        Engine::from_bytes_gpu(this.buf, &this.options, auto).await
    }
}

impl EngineLoader {
    /// Reads the metadata from what has arrived; once it is complete, refuses a model whose
    /// weights, KV cache and scratch would not fit in wasm32 memory.
    fn check_header(&mut self, complete: bool) -> Result<(), JsValue> {
        let meta = match crate::gguf::metadata_from_prefix(&self.buf) {
            Ok(Some(meta)) => meta,
            Ok(None) => {
                // Complete but unreadable: `finish` reports the full parse's error.
                self.checked = complete;
                self.next_check = self.buf.len().saturating_mul(2);
                return Ok(());
            }
            Err(e) => return Err(to_js(e.into())),
        };
        self.checked = true;
        let weights = self.total.unwrap_or(self.buf.len() as u64);
        let Some(est) = memory_estimate(&meta, &self.options) else {
            return Ok(()); // not a model this runtime sizes; loading it reports what is wrong
        };
        let needed = weights.saturating_add(est.kv).saturating_add(est.scratch).saturating_add(MEMORY_MARGIN);
        if needed > WASM32_MEMORY {
            return Err(out_of_memory(format!(
                "the model needs about {:.0} MiB of wasm memory (weights {:.0} MiB + KV cache {:.0} MiB for n_ctx \
                 {} + scratch {:.0} MiB + {:.0} MiB for the rest), more than wasm32's {:.0} MiB; use a smaller \
                 n_ctx or a smaller model",
                needed as f64 / MIB,
                weights as f64 / MIB,
                est.kv as f64 / MIB,
                self.options.n_ctx,
                est.scratch as f64 / MIB,
                MEMORY_MARGIN as f64 / MIB,
                WASM32_MEMORY as f64 / MIB
            )));
        }
        Ok(())
    }
}

fn check_model_size(bytes: u64) -> Result<(), JsValue> {
    if bytes > MAX_MODEL_BYTES {
        return Err(out_of_memory(format!(
            "the model is {:.0} MiB: the wasm32 build holds a model in one buffer of at most {:.0} MiB \
             (2 GiB), so it cannot load this one; use a smaller quantization",
            bytes as f64 / MIB,
            MAX_MODEL_BYTES as f64 / MIB
        )));
    }
    Ok(())
}

/// Bytes of wasm memory a session needs besides the weights.
#[derive(Debug)]
struct MemoryEstimate {
    kv: u64,
    scratch: u64,
}

/// The KV cache (f32 keys and values for every layer and position) and the largest scratch
/// buffers of a session (as `Session::new` sizes them), from the metadata; `None` when the keys
/// are not there (the full load then names what is missing).
fn memory_estimate(meta: &[(String, Value)], o: &EngineOptions) -> Option<MemoryEstimate> {
    let get = |k: &str| meta.iter().find(|(key, _)| key == k).map(|(_, v)| v);
    let arch = get("general.architecture")?.as_str()?;
    let u = |k: &str| get(&format!("{arch}.{k}")).and_then(Value::to_u64);
    let n_layer = u("block_count")?;
    let n_embd = u("embedding_length")?;
    let n_head = u("attention.head_count")?.max(1);
    let n_head_kv = u("attention.head_count_kv").unwrap_or(n_head).max(1);
    let n_ff = u("feed_forward_length")?;
    let n_vocab = u("vocab_size").or_else(|| Some(get("tokenizer.ggml.tokens")?.as_array()?.len() as u64))?;
    let kv_dim = n_head_kv.saturating_mul(n_embd / n_head);
    let (n_ctx, n_batch) = (o.n_ctx as u64, o.n_batch.min(o.n_ctx) as u64);
    let f32s = |n: u64| n.saturating_mul(4);
    let kv = f32s(2u64.saturating_mul(n_layer).saturating_mul(n_ctx).saturating_mul(kv_dim));
    let per_token = n_embd
        .saturating_mul(5)
        .saturating_add(kv_dim.saturating_mul(2))
        .saturating_add(n_ff.saturating_mul(2))
        .saturating_add(n_ff.max(n_vocab));
    let scratch = f32s(
        n_batch
            .saturating_mul(per_token)
            .saturating_add((n_head / n_head_kv).saturating_mul(n_ctx))
            .saturating_add(n_vocab),
    );
    Some(MemoryEstimate { kv, scratch })
}
