//! Perplexity, computed the way llama.cpp's `llama-perplexity` does, so figures compare directly:
//! the tokens are cut into non-overlapping chunks of `n_ctx` (the remainder is dropped); each
//! chunk is evaluated from an empty cache (its first token replaced by BOS when the model adds
//! one); only the predictions from position `first_scored` on are scored (llama.cpp scores the
//! second half of each chunk, `first_scored = n_ctx / 2`).

use crate::error::{ModelError, Result};
use crate::model::{Model, Session, SessionOptions};

/// The result of [`perplexity`].
#[derive(Clone, Debug, PartialEq)]
pub struct Perplexity {
    pub perplexity: f64,
    pub nll_mean: f64,
    /// Standard error of the mean negative log-likelihood.
    pub nll_stderr: f64,
    /// Tokens scored.
    pub count: usize,
    /// Running perplexity after each chunk (what llama-perplexity prints as `[i]value`).
    pub running: Vec<f64>,
}

/// Perplexity of `tokens` under `model` (see the module docs for the exact rule).
pub fn perplexity(model: &Model, tokens: &[u32], n_ctx: usize, first_scored: usize) -> Result<Perplexity> {
    perplexity_with_bos(model, tokens, n_ctx, first_scored, None)
}

/// As [`perplexity`], replacing each chunk's first token with `bos` when given.
pub fn perplexity_with_bos(
    model: &Model,
    tokens: &[u32],
    n_ctx: usize,
    first_scored: usize,
    bos: Option<u32>,
) -> Result<Perplexity> {
    perplexity_with_options(model, tokens, SessionOptions::new(n_ctx, n_ctx.min(512))?, first_scored, bos)
}

/// As [`perplexity_with_bos`], in a session made with `opts` (threads, backend, precision);
/// chunks are `opts.n_ctx` tokens.
pub fn perplexity_with_options(
    model: &Model,
    tokens: &[u32],
    opts: SessionOptions,
    first_scored: usize,
    bos: Option<u32>,
) -> Result<Perplexity> {
    let n_ctx = opts.n_ctx;
    if first_scored + 1 >= n_ctx {
        return Err(ModelError::InvalidOption {
            field: "first_scored",
            value: first_scored.to_string(),
            reason: format!("must leave at least one scored token in a chunk of {n_ctx}"),
        }
        .into());
    }
    let n_chunks = tokens.len() / n_ctx;
    if n_chunks == 0 {
        return Err(ModelError::InvalidOption {
            field: "text",
            value: format!("{} tokens", tokens.len()),
            reason: format!("needs at least one chunk of {n_ctx} tokens"),
        }
        .into());
    }
    let mut session = Session::new(model, opts)?;
    let (mut sum, mut sum_sq, mut count) = (0f64, 0f64, 0usize);
    let mut running = Vec::with_capacity(n_chunks);
    let mut chunk_tokens = vec![0u32; n_ctx];
    for c in 0..n_chunks {
        chunk_tokens.copy_from_slice(&tokens[c * n_ctx..(c + 1) * n_ctx]);
        if let Some(b) = bos {
            chunk_tokens[0] = b;
        }
        session.truncate(0);
        let targets = &tokens[c * n_ctx..(c + 1) * n_ctx];
        session.eval(
            &chunk_tokens,
            Some(&mut |pos: usize, logits: &[f32]| {
                if pos < first_scored || pos + 1 >= n_ctx {
                    return;
                }
                let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
                let lse = max + logits.iter().map(|&l| (l as f64 - max).exp()).sum::<f64>().ln();
                let nll = lse - logits[targets[pos + 1] as usize] as f64;
                sum += nll;
                sum_sq += nll * nll;
                count += 1;
            }),
        )?;
        running.push((sum / count as f64).exp());
    }
    let mean = sum / count as f64;
    let var = (sum_sq / count as f64 - mean * mean).max(0.0);
    Ok(Perplexity {
        perplexity: mean.exp(),
        nll_mean: mean,
        nll_stderr: (var / (count as f64 - 1.0).max(1.0)).sqrt(),
        count,
        running,
    })
}
