//! The WebAssembly bindings: an [`Engine`] that JavaScript creates from the model's bytes and
//! drives through `js/engine.js`.
//!
//! A thin layer over the Rust API ([`GgufFile`], [`Model`], [`Tokenizer`], [`Generator`],
//! [`ChatTemplate`]): options and results cross the boundary as JSON, streamed text goes to a JS
//! callback, and every failure comes back as a JS `Error` with a stable `code` property (see
//! [`error_code`]), never as a panic. This is the single-threaded build: the session runs on the
//! calling thread (`threads = 1`). The engine keeps one [`Generator`] (its KV cache allocated
//! once, at creation) across calls, so a chat's next turn only evaluates what is new.

use std::sync::Arc;

use serde::Deserialize;
use wasm_bindgen::prelude::*;

use crate::chat::{ChatMessage, ChatTemplate};
use crate::error::{Error, ModelError};
use crate::generate::{CancelToken, Completion, FinishReason, GenerateParams, Generator};
use crate::mem::ModelBytes;
use crate::model::{Model, SessionOptions};
use crate::sampler::SamplingParams;
use crate::{GgufFile, Tokenizer};

/// The stable `code` a JS `Error` carries for a crate error.
pub fn error_code(e: &Error) -> &'static str {
    match e {
        Error::Gguf(_) | Error::Tokenizer(_) => "bad_model",
        Error::Model(m) => match m {
            ModelError::UnsupportedArchitecture { .. } => "unsupported_model",
            ModelError::InvalidOption { .. } => "bad_option",
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

/// Parses an options object given as JSON; `""`, `"null"` and `"undefined"` mean the defaults.
fn parse_options<T: for<'de> Deserialize<'de> + Default>(json: Option<String>, what: &str) -> Result<T, JsValue> {
    match json.as_deref().map(str::trim) {
        None | Some("" | "null" | "undefined") => Ok(T::default()),
        Some(s) => {
            serde_json::from_str(s).map_err(|e| js_error("bad_option", &format!("invalid {what} options: {e}"), None))
        }
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
}

impl Default for EngineOptions {
    fn default() -> Self {
        Self { n_ctx: 2048, n_batch: 256 }
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
    /// `options_json`: `{"n_ctx": 2048, "n_batch": 256}`, both optional.
    #[wasm_bindgen(constructor)]
    pub fn new(model: Vec<u8>, options_json: Option<String>) -> Result<Engine, JsValue> {
        console_error_panic_hook::set_once();
        let o: EngineOptions = parse_options(options_json, "engine")?;
        let opts = SessionOptions::new(o.n_ctx, o.n_batch.min(o.n_ctx))
            .and_then(|s| s.with_threads(1))
            .map_err(|e| to_js(e.into()))?;
        let file = GgufFile::from_bytes(ModelBytes::from_vec(model)).map_err(to_js)?;
        let tokenizer = Tokenizer::from_gguf(&file, false).map_err(to_js)?;
        let template = match ChatTemplate::from_gguf(&file, &tokenizer) {
            Ok(t) => Some(t),
            Err(Error::Template(_)) => None,
            Err(e) => return Err(to_js(e)),
        };
        let (model, tokenizer) = (Arc::new(Model::load(file).map_err(to_js)?), Arc::new(tokenizer));
        let gen = Generator::new(Arc::clone(&model), Arc::clone(&tokenizer), opts.clone()).map_err(to_js)?;
        let opts = gen.session().options().clone();
        Ok(Engine { model, tokenizer, template, opts, gen })
    }

    /// What was loaded and how it runs, as JSON: architecture, name, n_ctx, n_ctx_train,
    /// n_vocab, n_layer, n_embd, kernels, threads, build, model_bytes, chat_template.
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
            "build": "single",
            "model_bytes": file.file_len(),
            "chat_template": self.template.is_some(),
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

    /// Completes a raw prompt, calling `on_piece(text)` for each piece as soon as it is final.
    /// Returns the usage record as JSON (see [`usage_json`]). If `on_piece` throws, generation
    /// stops and the exception is rethrown.
    pub fn generate(
        &mut self,
        prompt: &str,
        options_json: Option<String>,
        on_piece: &js_sys::Function,
    ) -> Result<String, JsValue> {
        let o: GenerateOptions = parse_options(options_json, "generate")?;
        let params = o
            .params()
            .with_add_special(o.add_special.unwrap_or(true))
            .with_parse_special(o.parse_special.unwrap_or(false));
        self.run(prompt, &params, on_piece)
    }

    /// Renders `messages_json` (`[{"role": "user", "content": "..."}]`) with the model's chat
    /// template and completes it like [`Engine::generate`].
    pub fn chat(
        &mut self,
        messages_json: &str,
        options_json: Option<String>,
        on_piece: &js_sys::Function,
    ) -> Result<String, JsValue> {
        let o: GenerateOptions = parse_options(options_json, "chat")?;
        let messages: Vec<Message> = serde_json::from_str(messages_json)
            .map_err(|e| js_error("bad_option", &format!("invalid chat messages: {e}"), None))?;
        let messages: Vec<ChatMessage> = messages.into_iter().map(|m| ChatMessage::new(m.role, m.content)).collect();
        let template = self.template.as_ref().ok_or_else(|| to_js(crate::chat::TemplateError::Missing.into()))?;
        let prompt = template.render(&messages, true).map_err(to_js)?;
        let params = o.params().with_parse_special(true).with_add_special(false);
        self.run(&prompt, &params, on_piece)
    }

    /// Forgets the cached conversation (the next request evaluates its whole prompt).
    pub fn reset(&mut self) {
        self.gen.reset();
    }
}

impl Engine {
    fn run(&mut self, prompt: &str, params: &GenerateParams, on_piece: &js_sys::Function) -> Result<String, JsValue> {
        let cancel = CancelToken::new();
        let mut thrown = None;
        let completion = self
            .gen
            .generate(prompt, params, &cancel, &mut |piece| {
                if thrown.is_none() {
                    if let Err(e) = on_piece.call1(&JsValue::NULL, &JsValue::from_str(piece)) {
                        thrown = Some(e);
                        cancel.cancel();
                    }
                }
            })
            .map_err(to_js)?;
        if let Some(e) = thrown {
            return Err(e);
        }
        Ok(usage_json(&completion, &self.opts))
    }
}

/// The usage record of a completion: prompt_tokens, prompt_evaluated, generated_tokens,
/// prefill_ms, decode_ms, prefill_tokens_per_s, decode_tokens_per_s, finish_reason ("eog",
/// "stop", "length", "cancelled"), kernels, threads.
fn usage_json(c: &Completion, opts: &SessionOptions) -> String {
    let u = &c.usage;
    let finish = match c.finish_reason {
        FinishReason::Eog => "eog",
        FinishReason::StopString => "stop",
        FinishReason::Length => "length",
        FinishReason::Cancelled => "cancelled",
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
