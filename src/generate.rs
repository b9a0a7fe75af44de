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

    /// A generator over a session made already (e.g. [`Session::with_gpu`]).
    pub fn with_session(tokenizer: impl Into<Shared<'m, Tokenizer>>, session: Session<'m>) -> Self {
        Self { tokenizer: tokenizer.into(), session, cached: Vec::new(), decoder: StreamDecoder::new() }
    }

    pub fn tokenizer(&self) -> &Tokenizer {
        &self.tokenizer
    }

    pub fn session(&self) -> &Session<'m> {
        &self.session
    }

    /// The session, e.g. to wait on a deferred GPU readback ([`Session::on_ready`]).
    pub fn session_mut(&mut self) -> &mut Session<'m> {
        &mut self.session
    }

    /// Evaluates `tokens` after what the session holds (after nothing when `reset`), outside
    /// any generation: [`Session::logits`] then has the next token's logits, once
    /// [`Session::ready`] (at once on the CPU). The cached conversation is forgotten, so the
    /// next generation evaluates its whole prompt.
    pub fn eval_tokens(&mut self, tokens: &[u32], reset: bool) -> Result<()> {
        self.cached.clear();
        if reset {
            self.session.truncate(0);
        }
        if !self.session.ready()? {
            return Err(crate::error::GpuError::Readback {
                detail: "the previous evaluation's logits have not been read back yet".into(),
            }
            .into());
        }
        self.session.eval(tokens, None).inspect_err(|_| self.session.truncate(0))
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
        prompt: Vec<u32>,
        params: &GenerateParams,
        cancel: &CancelToken,
        on_text: &mut dyn FnMut(&str),
    ) -> Result<Completion> {
        let mut g = self.begin_tokens(prompt, params)?;
        while !g.is_finished() {
            if cancel.is_cancelled() {
                self.stop(&mut g, on_text);
                break;
            }
            self.step(&mut g, on_text)?;
            // A deferred GPU session: block here until the step's logits are in.
            #[cfg(not(target_arch = "wasm32"))]
            self.session.wait()?;
        }
        Ok(g.into_completion())
    }

    /// Starts completing `prompt` without running anything yet: [`Generator::step`] then
    /// advances it one prompt batch or one token at a time, so a caller that must stay
    /// responsive (a Web Worker's message loop) can do other work, or [`Generator::stop`] it,
    /// between steps. [`Generator::generate`] is this loop.
    pub fn begin(&mut self, prompt: &str, params: &GenerateParams) -> Result<Generation> {
        let tokens = self.tokenizer.encode(prompt, params.add_special, params.parse_special);
        self.begin_tokens(tokens, params)
    }

    /// [`Generator::begin`] for an already tokenized prompt.
    pub fn begin_tokens(&mut self, mut prompt: Vec<u32>, params: &GenerateParams) -> Result<Generation> {
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
        let sampler = Sampler::new(params.sampling, self.tokenizer.n_vocab())?;
        let usage = Usage { prompt_tokens: prompt.len(), ..Usage::default() };

        // Reuse the cached prefix; evaluate the rest. At least one token is evaluated so the
        // logits belong to this prompt.
        let common = self.cached.iter().zip(&prompt).take_while(|(a, b)| a == b).count().min(prompt.len() - 1);
        self.session.truncate(common);
        self.cached.truncate(common);
        self.decoder.reset();
        Ok(Generation {
            prompt,
            prefilled: common,
            decoding: false,
            sampler,
            stops: StopMatcher::new(params.stop.clone()),
            max_tokens: params.max_tokens,
            text: String::new(),
            tokens: Vec::new(),
            usage,
            finish: None,
            waiting: None,
        })
    }

    /// Advances `g` by one step: one batch of the prompt, or one generated token. Text made
    /// final by the step goes to `on_text` (nothing, while a stop string may be starting).
    /// Returns true once the generation has finished (then [`Generation::into_completion`]).
    /// On a deferred GPU session (the browser) a step whose predecessor's logits are not in yet
    /// does nothing and returns false: call it again once [`Session::on_ready`] has called back
    /// (the wait counts towards the prefill or decode time of the step that submitted the work).
    /// `g` must come from this generator's latest [`Generator::begin`]. On an error the
    /// cached conversation is forgotten (the next request evaluates its whole prompt) and `g`
    /// is finished.
    pub fn step(&mut self, g: &mut Generation, on_text: &mut dyn FnMut(&str)) -> Result<bool> {
        if g.finish.is_some() {
            return Ok(true);
        }
        let t = Stopwatch::start();
        let r = match self.session.ready() {
            Ok(false) => return Ok(false),
            Ok(true) => {
                if let Some((since, decoding)) = g.waiting.take() {
                    *(if decoding { &mut g.usage.decode_ms } else { &mut g.usage.prefill_ms }) += since.elapsed_ms();
                }
                self.step_inner(g, on_text)
            }
            Err(e) => Err(e),
        };
        if g.decoding {
            g.usage.decode_ms += t.elapsed_ms();
        } else {
            g.usage.prefill_ms += t.elapsed_ms();
        }
        if r.is_err() {
            self.reset();
            g.finish = Some(FinishReason::Cancelled);
        } else if g.finish.is_none() && self.session.pending() {
            g.waiting = Some((Stopwatch::start(), g.decoding));
        }
        r.map(|()| g.finish.is_some())
    }

    fn step_inner(&mut self, g: &mut Generation, on_text: &mut dyn FnMut(&str)) -> Result<()> {
        if g.prefilled < g.prompt.len() {
            let end = g.prompt.len().min(g.prefilled + self.session.options().n_batch);
            let chunk = &g.prompt[g.prefilled..end];
            self.session.eval(chunk, None)?;
            self.cached.extend_from_slice(chunk);
            g.usage.prompt_evaluated += chunk.len();
            g.prefilled = end;
            return Ok(());
        }
        if !g.decoding {
            for &t in &g.prompt {
                g.sampler.accept(t);
            }
            g.decoding = true;
        }
        if g.tokens.len() >= g.max_tokens {
            self.finish(g, FinishReason::Length, on_text);
            return Ok(());
        }
        let token = g.sampler.sample(self.session.logits());
        if self.tokenizer.is_eog(token) {
            self.finish(g, FinishReason::Eog, on_text);
            return Ok(());
        }
        g.sampler.accept(token);
        g.tokens.push(token);
        g.usage.generated_tokens = g.tokens.len();
        let piece = self.decoder.push(&self.tokenizer, token, false);
        if g.stops.push(piece, &mut g.text, on_text) {
            self.finish(g, FinishReason::StopString, on_text);
            return Ok(());
        }
        if self.session.n_past() >= self.session.options().n_ctx {
            self.finish(g, FinishReason::Length, on_text);
            return Ok(());
        }
        self.session.eval(&[token], None)?;
        self.cached.push(token);
        Ok(())
    }

    /// Whether `g` can step now: false while a deferred GPU session's logits from the last step
    /// are on their way ([`Session::on_ready`] calls back when they are in). A failed readback
    /// (a lost device) is an error that ends `g` and forgets the cached conversation, as a
    /// failed step does.
    pub fn ready(&mut self, g: &mut Generation) -> Result<bool> {
        self.session.ready().inspect_err(|_| {
            self.reset();
            if g.finish.is_none() {
                g.finish = Some(FinishReason::Cancelled);
            }
        })
    }

    /// Ends `g` now with [`FinishReason::Cancelled`] (if it has not finished already); text held
    /// back for a possible stop string is released to `on_text`. The KV cache keeps what was
    /// evaluated, so the next request still reuses the common prefix.
    pub fn stop(&mut self, g: &mut Generation, on_text: &mut dyn FnMut(&str)) {
        if g.finish.is_none() {
            self.finish(g, FinishReason::Cancelled, on_text);
        }
    }

    fn finish(&mut self, g: &mut Generation, reason: FinishReason, on_text: &mut dyn FnMut(&str)) {
        if reason != FinishReason::StopString {
            let rest = self.decoder.finish();
            if !g.stops.push(&rest, &mut g.text, on_text) {
                g.stops.flush(&mut g.text, on_text);
            }
        }
        g.finish = Some(reason);
    }
}

/// One generation in progress: made by [`Generator::begin`], advanced by [`Generator::step`].
#[derive(Debug)]
pub struct Generation {
    prompt: Vec<u32>,
    /// Prompt tokens in the KV cache (the reused prefix, then each evaluated batch).
    prefilled: usize,
    /// The prompt is evaluated and its tokens are in the sampler's history.
    decoding: bool,
    sampler: Sampler,
    stops: StopMatcher,
    max_tokens: usize,
    text: String,
    tokens: Vec<u32>,
    usage: Usage,
    finish: Option<FinishReason>,
    /// Since when, and for which phase (decoding?), the last step's GPU results are awaited.
    waiting: Option<(Stopwatch, bool)>,
}

impl Generation {
    /// Why it ended, once it has.
    pub fn finish_reason(&self) -> Option<FinishReason> {
        self.finish
    }

    pub fn is_finished(&self) -> bool {
        self.finish.is_some()
    }

    /// Counts and timings so far (the time spent inside [`Generator::step`]).
    pub fn usage(&self) -> &Usage {
        &self.usage
    }

    /// The text emitted so far.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The result; a generation taken before it finished reads as cancelled.
    pub fn into_completion(self) -> Completion {
        Completion {
            text: self.text,
            tokens: self.tokens,
            finish_reason: self.finish.unwrap_or(FinishReason::Cancelled),
            usage: self.usage,
        }
    }
}

/// Holds back text that might be the start of a stop string, so a stop string split across
/// tokens is still caught and never emitted.
#[derive(Debug)]
struct StopMatcher {
    stops: Vec<String>,
    pending: String,
}

impl StopMatcher {
    fn new(stops: Vec<String>) -> Self {
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
        let mut m = StopMatcher::new(stops.iter().map(|s| s.to_string()).collect());
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
