//! Text generation: a [`Generator`] ties a model's session, tokenizer and sampler together,
//! streams text as it is produced, stops on end-of-generation tokens, stop strings and the token
//! limit, can be cancelled from another thread, and keeps its KV cache between calls so a chat's
//! next turn only evaluates what is new.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::clock::Stopwatch;
use crate::error::{ModelError, Result};
use crate::model::{Model, Session, SessionOptions, Shared};
use crate::sampler::{Sampler, SamplingParams};
use crate::tokenizer::{StreamDecoder, Tokenizer};

/// A flag another thread (or a JS `AbortSignal` handler) sets to stop a generation promptly.
#[derive(Debug, Clone, Default)]
pub struct CancelToken(Arc<AtomicBool>);

impl CancelToken {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn cancel(&self) {
        self.0.store(true, Ordering::Relaxed);
    }
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
    /// Clears the flag so the token can serve the next request.
    pub fn reset(&self) {
        self.0.store(false, Ordering::Relaxed);
    }
}

/// One generation request's options. Build with [`GenerateParams::new`] and the `with_*` setters.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct GenerateParams {
    pub max_tokens: usize,
    pub sampling: SamplingParams,
    /// Generation stops before any of these strings; they are never emitted.
    pub stop: Vec<String>,
    /// Recognise special-token text (`<|im_start|>`) in the prompt: on for rendered chat
    /// templates, off for raw user text.
    pub parse_special: bool,
    /// Add BOS/EOS as the model's metadata asks.
    pub add_special: bool,
    /// Drop the start of a prompt that does not fit the context instead of failing.
    pub truncate_prompt: bool,
}

impl GenerateParams {
    pub fn new(max_tokens: usize, sampling: SamplingParams) -> Self {
        Self { max_tokens, sampling, stop: Vec::new(), parse_special: false, add_special: true, truncate_prompt: false }
    }
    pub fn with_stop(mut self, stop: Vec<String>) -> Self {
        self.stop = stop;
        self
    }
    pub fn with_parse_special(mut self, on: bool) -> Self {
        self.parse_special = on;
        self
    }
    pub fn with_add_special(mut self, on: bool) -> Self {
        self.add_special = on;
        self
    }
    pub fn with_truncate_prompt(mut self, on: bool) -> Self {
        self.truncate_prompt = on;
        self
    }
}

/// Why a generation ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FinishReason {
    /// The model produced an end-of-generation token.
    Eog,
    /// A stop string appeared.
    StopString,
    /// `max_tokens` were generated, or the context is full.
    Length,
    /// The caller cancelled.
    Cancelled,
}

/// Counts and timings of one generation.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Usage {
    /// Tokens of the prompt.
    pub prompt_tokens: usize,
    /// Of those, tokens actually evaluated (the rest were already in the KV cache).
    pub prompt_evaluated: usize,
    pub generated_tokens: usize,
    pub prefill_ms: f64,
    pub decode_ms: f64,
}

impl Usage {
    pub fn prefill_tokens_per_s(&self) -> f64 {
        rate(self.prompt_evaluated, self.prefill_ms)
    }
    pub fn decode_tokens_per_s(&self) -> f64 {
        rate(self.generated_tokens, self.decode_ms)
    }
}

fn rate(n: usize, ms: f64) -> f64 {
    if ms > 0.0 {
        n as f64 * 1000.0 / ms
    } else {
        0.0
    }
}

/// The result of [`Generator::generate`].
#[derive(Clone, Debug, PartialEq)]
pub struct Completion {
    pub text: String,
    pub tokens: Vec<u32>,
    pub finish_reason: FinishReason,
    pub usage: Usage,
}

/// Generates text from one model, keeping its KV cache between calls.
#[derive(Debug)]
pub struct Generator<'m> {
    tokenizer: Shared<'m, Tokenizer>,
    session: Session<'m>,
    /// The tokens whose keys and values are in the session's cache, in order.
    cached: Vec<u32>,
    decoder: StreamDecoder,
}

impl<'m> Generator<'m> {
    /// A generator over a borrowed (`&Model`, `&Tokenizer`) or shared (`Arc`) model and tokenizer.
    pub fn new(
        model: impl Into<Shared<'m, Model>>,
        tokenizer: impl Into<Shared<'m, Tokenizer>>,
        opts: SessionOptions,
    ) -> Result<Self> {
        Ok(Self {
            tokenizer: tokenizer.into(),
            session: Session::new(model, opts)?,
            cached: Vec::new(),
            decoder: StreamDecoder::new(),
        })
    }

    pub fn tokenizer(&self) -> &Tokenizer {
        &self.tokenizer
    }

    pub fn session(&self) -> &Session<'m> {
        &self.session
    }

    /// Forgets the cached conversation.
    pub fn reset(&mut self) {
        self.session.truncate(0);
        self.cached.clear();
    }

    /// Completes `prompt`, calling `on_text` with each new piece of text as soon as it is final.
    pub fn generate(
        &mut self,
        prompt: &str,
        params: &GenerateParams,
        cancel: &CancelToken,
        on_text: &mut dyn FnMut(&str),
    ) -> Result<Completion> {
        let tokens = self.tokenizer.encode(prompt, params.add_special, params.parse_special);
        self.generate_tokens(tokens, params, cancel, on_text)
    }

    /// Completes an already tokenized prompt.
    pub fn generate_tokens(
        &mut self,
        mut prompt: Vec<u32>,
        params: &GenerateParams,
        cancel: &CancelToken,
        on_text: &mut dyn FnMut(&str),
    ) -> Result<Completion> {
        let n_ctx = self.session.options().n_ctx;
        if prompt.is_empty() {
            // Nothing to condition on: start from BOS if the model has one.
            prompt.extend(self.tokenizer.bos());
            if prompt.is_empty() {
                return Err(ModelError::InvalidOption {
                    field: "prompt",
                    value: "\"\"".into(),
                    reason: "is empty and the model has no BOS token".into(),
                }
                .into());
            }
        }
        if prompt.len() >= n_ctx {
            if !params.truncate_prompt {
                return Err(ModelError::ContextFull { needed: prompt.len() + 1, n_ctx }.into());
            }
            let keep = n_ctx.saturating_sub(params.max_tokens.clamp(1, n_ctx / 2)).max(1);
            prompt.drain(..prompt.len() - keep);
        }
        let mut sampler = Sampler::new(params.sampling, self.tokenizer.n_vocab())?;
        let mut usage = Usage { prompt_tokens: prompt.len(), ..Usage::default() };

        // Reuse the cached prefix; evaluate the rest. At least one token is evaluated so the
        // logits belong to this prompt.
        let common = self.cached.iter().zip(&prompt).take_while(|(a, b)| a == b).count().min(prompt.len() - 1);
        self.session.truncate(common);
        self.cached.truncate(common);
        let t0 = Stopwatch::start();
        for chunk in prompt[common..].chunks(self.session.options().n_batch) {
            if cancel.is_cancelled() {
                return Ok(Completion {
                    text: String::new(),
                    tokens: Vec::new(),
                    finish_reason: FinishReason::Cancelled,
                    usage,
                });
            }
            self.session.eval(chunk, None)?;
            self.cached.extend_from_slice(chunk);
        }
        usage.prompt_evaluated = prompt.len() - common;
        usage.prefill_ms = t0.elapsed_ms();
        for &t in &prompt {
            sampler.accept(t);
        }

        let t1 = Stopwatch::start();
        let mut stops = StopMatcher::new(&params.stop);
        let mut text = String::new();
        let mut generated = Vec::new();
        self.decoder.reset();
        let finish = loop {
            if cancel.is_cancelled() {
                break FinishReason::Cancelled;
            }
            if generated.len() >= params.max_tokens {
                break FinishReason::Length;
            }
            let token = sampler.sample(self.session.logits());
            if self.tokenizer.is_eog(token) {
                break FinishReason::Eog;
            }
            sampler.accept(token);
            generated.push(token);
            let piece = self.decoder.push(&self.tokenizer, token, false);
            if stops.push(piece, &mut text, on_text) {
                break FinishReason::StopString;
            }
            if self.session.n_past() >= n_ctx {
                break FinishReason::Length;
            }
            self.session.eval(&[token], None)?;
            self.cached.push(token);
        };
        if finish != FinishReason::StopString {
            let rest = self.decoder.finish();
            if !stops.push(&rest, &mut text, on_text) {
                stops.flush(&mut text, on_text);
            }
        }
        usage.generated_tokens = generated.len();
        usage.decode_ms = t1.elapsed_ms();
        Ok(Completion { text, tokens: generated, finish_reason: finish, usage })
    }
}

/// Holds back text that might be the start of a stop string, so a stop string split across
/// tokens is still caught and never emitted.
#[derive(Debug)]
struct StopMatcher<'a> {
    stops: &'a [String],
    pending: String,
}

impl<'a> StopMatcher<'a> {
    fn new(stops: &'a [String]) -> Self {
        Self { stops, pending: String::new() }
    }

    /// Adds `piece`; emits what is certainly not part of a stop string. Returns true when a stop
    /// string was found (the text before it has been emitted).
    fn push(&mut self, piece: &str, text: &mut String, on_text: &mut dyn FnMut(&str)) -> bool {
        self.pending.push_str(piece);
        let found = self.stops.iter().filter(|s| !s.is_empty()).filter_map(|s| self.pending.find(s.as_str())).min();
        if let Some(at) = found {
            emit(&self.pending[..at], text, on_text);
            self.pending.clear();
            return true;
        }
        // Keep the longest suffix that is a prefix of some stop string.
        let keep = self
            .stops
            .iter()
            .flat_map(|s| (1..s.len()).filter(|&k| s.is_char_boundary(k)).map(move |k| &s[..k]))
            .filter(|p| self.pending.ends_with(p))
            .map(str::len)
            .max()
            .unwrap_or(0);
        let cut = self.pending.len() - keep;
        emit(&self.pending[..cut], text, on_text);
        self.pending.drain(..cut);
        false
    }

    fn flush(&mut self, text: &mut String, on_text: &mut dyn FnMut(&str)) {
        emit(&self.pending, text, on_text);
        self.pending.clear();
    }
}

fn emit(s: &str, text: &mut String, on_text: &mut dyn FnMut(&str)) {
    if !s.is_empty() {
        text.push_str(s);
        on_text(s);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(stops: &[&str], pieces: &[&str]) -> (String, bool, Vec<String>) {
        let stops: Vec<String> = stops.iter().map(|s| s.to_string()).collect();
        let mut m = StopMatcher::new(&stops);
        let mut text = String::new();
        let mut emitted = Vec::new();
        let mut hit = false;
        for p in pieces {
            if m.push(p, &mut text, &mut |s| emitted.push(s.to_string())) {
                hit = true;
                break;
            }
        }
        if !hit {
            m.flush(&mut text, &mut |s| emitted.push(s.to_string()));
        }
        (text, hit, emitted)
    }

    #[test]
    fn stop_string_split_across_pieces_is_caught_and_not_emitted() {
        let (text, hit, emitted) = run(&["\nUser:"], &["Hello", " there\n", "Us", "er: hi"]);
        assert!(hit);
        assert_eq!(text, "Hello there");
        assert_eq!(emitted.concat(), "Hello there");
    }

    #[test]
    fn held_back_text_is_released_when_it_cannot_be_a_stop() {
        let (text, hit, emitted) = run(&["STOP"], &["a S", "T", "x", "y"]);
        assert!(!hit);
        assert_eq!(text, "a STxy");
        assert_eq!(emitted, ["a ", "STx", "y"]);
    }

    #[test]
    fn cancel_token_round_trip() {
        let c = CancelToken::new();
        let c2 = c.clone();
        c2.cancel();
        assert!(c.is_cancelled());
        c.reset();
        assert!(!c2.is_cancelled());
    }
}
