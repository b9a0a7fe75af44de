//! Choosing the next token from logits: greedy, or penalties → top-k → top-p → min-p →
//! temperature → a seeded draw (llama.cpp's default order).
//!
//! A [`Sampler`] owns every buffer it needs, sized for the vocabulary once: sampling a token
//! allocates nothing.

use crate::error::ModelError;

/// How to pick tokens. Build with [`SamplingParams::greedy`] or [`SamplingParams::new`] and the
/// `with_*` setters; [`SamplingParams::validate`] checks every field (done by [`Sampler::new`]).
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct SamplingParams {
    /// 0 means greedy (argmax after penalties).
    pub temperature: f32,
    /// Keep the `top_k` most likely tokens (0: off).
    pub top_k: usize,
    /// Keep the smallest set whose probability reaches `top_p` (1: off).
    pub top_p: f32,
    /// Drop tokens less likely than `min_p` times the most likely one (0: off).
    pub min_p: f32,
    /// Divide positive logits (multiply negative ones) of recent tokens (1: off).
    pub repeat_penalty: f32,
    pub presence_penalty: f32,
    pub frequency_penalty: f32,
    /// How many recent tokens the penalties look at.
    pub penalty_last_n: usize,
    pub seed: u64,
}

impl SamplingParams {
    /// Always the most likely token.
    pub fn greedy() -> Self {
        Self {
            temperature: 0.0,
            top_k: 0,
            top_p: 1.0,
            min_p: 0.0,
            repeat_penalty: 1.0,
            presence_penalty: 0.0,
            frequency_penalty: 0.0,
            penalty_last_n: 64,
            seed: 0,
        }
    }

    /// llama.cpp's defaults: temperature 0.8, top-k 40, top-p 0.95, min-p 0.05.
    pub fn new(seed: u64) -> Self {
        Self { temperature: 0.8, top_k: 40, top_p: 0.95, min_p: 0.05, seed, ..Self::greedy() }
    }

    pub fn with_temperature(mut self, t: f32) -> Self {
        self.temperature = t;
        self
    }
    pub fn with_top_k(mut self, k: usize) -> Self {
        self.top_k = k;
        self
    }
    pub fn with_top_p(mut self, p: f32) -> Self {
        self.top_p = p;
        self
    }
    pub fn with_min_p(mut self, p: f32) -> Self {
        self.min_p = p;
        self
    }
    pub fn with_repeat_penalty(mut self, p: f32) -> Self {
        self.repeat_penalty = p;
        self
    }
    pub fn with_presence_penalty(mut self, p: f32) -> Self {
        self.presence_penalty = p;
        self
    }
    pub fn with_frequency_penalty(mut self, p: f32) -> Self {
        self.frequency_penalty = p;
        self
    }
    pub fn with_penalty_last_n(mut self, n: usize) -> Self {
        self.penalty_last_n = n;
        self
    }
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Every field in range, or an error naming the first that is not.
    pub fn validate(&self) -> Result<(), ModelError> {
        let bad = |field, value: f32, reason: &str| ModelError::InvalidOption {
            field,
            value: value.to_string(),
            reason: reason.into(),
        };
        if !(self.temperature.is_finite() && self.temperature >= 0.0) {
            return Err(bad("temperature", self.temperature, "must be finite and >= 0"));
        }
        if !(self.top_p > 0.0 && self.top_p <= 1.0) {
            return Err(bad("top_p", self.top_p, "must be in (0, 1]"));
        }
        if !(0.0..1.0).contains(&self.min_p) {
            return Err(bad("min_p", self.min_p, "must be in [0, 1)"));
        }
        if !(self.repeat_penalty.is_finite() && self.repeat_penalty > 0.0) {
            return Err(bad("repeat_penalty", self.repeat_penalty, "must be finite and > 0"));
        }
        for (field, v) in [("presence_penalty", self.presence_penalty), ("frequency_penalty", self.frequency_penalty)] {
            if !v.is_finite() {
                return Err(bad(field, v, "must be finite"));
            }
        }
        if self.penalty_last_n > 1 << 20 {
            return Err(bad("penalty_last_n", self.penalty_last_n as f32, "must be at most 1048576"));
        }
        Ok(())
    }
}

impl Default for SamplingParams {
    fn default() -> Self {
        Self::new(0)
    }
}

/// xoshiro256**, seeded through SplitMix64: reproducible across platforms.
#[derive(Debug, Clone)]
struct Rng([u64; 4]);

impl Rng {
    fn new(seed: u64) -> Self {
        let mut z = seed;
        let mut next = || {
            z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut x = z;
            x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            x ^ (x >> 31)
        };
        Self([next(), next(), next(), next()])
    }

    fn next_u64(&mut self) -> u64 {
        let s = &mut self.0;
        let result = s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        result
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Picks tokens; remembers recent ones for the penalties.
#[derive(Debug, Clone)]
pub struct Sampler {
    params: SamplingParams,
    rng: Rng,
    candidates: Vec<(u32, f32)>,
    probs: Vec<f64>,
    recent: Vec<u32>,
    recent_head: usize,
    counts: Vec<u32>,
}

impl Sampler {
    pub fn new(params: SamplingParams, n_vocab: usize) -> Result<Self, ModelError> {
        params.validate()?;
        Ok(Self {
            rng: Rng::new(params.seed),
            candidates: Vec::with_capacity(n_vocab),
            probs: Vec::with_capacity(n_vocab),
            recent: Vec::with_capacity(params.penalty_last_n),
            recent_head: 0,
            counts: vec![0; n_vocab],
            params,
        })
    }

    pub fn params(&self) -> &SamplingParams {
        &self.params
    }

    /// Forgets the recent tokens and reseeds (a new, independent generation).
    pub fn reset(&mut self) {
        self.rng = Rng::new(self.params.seed);
        for &t in &self.recent {
            self.counts[t as usize] = 0;
        }
        self.recent.clear();
        self.recent_head = 0;
    }

    /// Records a token (prompt or generated) for the penalty window.
    pub fn accept(&mut self, token: u32) {
        let n = self.params.penalty_last_n;
        if n == 0 || token as usize >= self.counts.len() {
            return;
        }
        if self.recent.len() < n {
            self.recent.push(token);
        } else {
            let old = std::mem::replace(&mut self.recent[self.recent_head], token);
            self.counts[old as usize] -= 1;
            self.recent_head = (self.recent_head + 1) % n;
        }
        self.counts[token as usize] += 1;
    }

    /// Picks the next token from `logits` (one per vocabulary entry).
    pub fn sample(&mut self, logits: &[f32]) -> u32 {
        let p = self.params;
        self.candidates.clear();
        let penalize = p.repeat_penalty != 1.0 || p.presence_penalty != 0.0 || p.frequency_penalty != 0.0;
        for (i, &l) in logits.iter().enumerate() {
            let mut l = l;
            if penalize {
                if let Some(&c) = self.counts.get(i).filter(|&&c| c > 0) {
                    l = if l > 0.0 { l / p.repeat_penalty } else { l * p.repeat_penalty };
                    l -= c as f32 * p.frequency_penalty + p.presence_penalty;
                }
            }
            self.candidates.push((i as u32, if l.is_nan() { f32::NEG_INFINITY } else { l }));
        }
        if p.temperature <= 0.0 {
            // Greedy: the first of equal maxima, as an argmax over the vocabulary.
            return self
                .candidates
                .iter()
                .fold((0, f32::NEG_INFINITY), |b, &(i, l)| if l > b.1 { (i, l) } else { b })
                .0;
        }
        let by_logit = |a: &(u32, f32), b: &(u32, f32)| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0));
        if p.top_k > 0 && p.top_k < self.candidates.len() {
            self.candidates.select_nth_unstable_by(p.top_k - 1, by_logit);
            self.candidates.truncate(p.top_k);
        }
        self.candidates.sort_unstable_by(by_logit);
        if p.top_p < 1.0 {
            self.softmax(1.0);
            let mut cum = 0.0;
            let keep = self.probs.iter().position(|&q| {
                cum += q;
                cum >= p.top_p as f64
            });
            self.candidates.truncate(keep.map_or(self.candidates.len(), |k| k + 1));
        }
        if p.min_p > 0.0 {
            let max = self.candidates[0].1;
            let threshold = max + p.min_p.ln();
            let keep = self.candidates.iter().take_while(|c| c.1 >= threshold).count().max(1);
            self.candidates.truncate(keep);
        }
        self.softmax(p.temperature);
        let mut r = self.rng.unit();
        for (i, &q) in self.probs.iter().enumerate() {
            r -= q;
            if r < 0.0 {
                return self.candidates[i].0;
            }
        }
        self.candidates[self.candidates.len() - 1].0
    }

    /// Probabilities of the (sorted) candidates at temperature `t`, into `self.probs`.
    fn softmax(&mut self, t: f32) {
        let max = self.candidates[0].1;
        self.probs.clear();
        let mut sum = 0.0f64;
        for &(_, l) in &self.candidates {
            let e = (((l - max) / t) as f64).exp();
            self.probs.push(e);
            sum += e;
        }
        for q in &mut self.probs {
            *q /= sum;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greedy_takes_the_argmax_and_penalties_can_change_it() {
        let mut s = Sampler::new(SamplingParams::greedy(), 4).unwrap();
        assert_eq!(s.sample(&[0.1, 2.0, 1.9, -1.0]), 1);
        let mut s = Sampler::new(SamplingParams::greedy().with_repeat_penalty(1.1), 4).unwrap();
        s.accept(1);
        assert_eq!(s.sample(&[0.1, 2.0, 1.9, -1.0]), 2);
    }

    #[test]
    fn same_seed_same_tokens_and_top_k_one_is_greedy() {
        let logits: Vec<f32> = (0..100).map(|i| ((i * 37) % 11) as f32 * 0.3).collect();
        let draw = |seed| {
            let mut s = Sampler::new(SamplingParams::new(seed).with_temperature(1.5), 100).unwrap();
            (0..20).map(|_| s.sample(&logits)).collect::<Vec<_>>()
        };
        assert_eq!(draw(7), draw(7));
        assert_ne!(draw(7), draw(8));
        let mut s = Sampler::new(SamplingParams::new(3).with_top_k(1), 100).unwrap();
        let argmax = Sampler::new(SamplingParams::greedy(), 100).unwrap().sample(&logits);
        assert!((0..10).all(|_| s.sample(&logits) == argmax));
    }

    #[test]
    fn min_p_and_top_p_cut_unlikely_tokens() {
        let logits = [10.0f32, 9.0, 0.0, -5.0];
        let mut s = Sampler::new(SamplingParams::new(1).with_min_p(0.2).with_top_k(0).with_top_p(1.0), 4).unwrap();
        for _ in 0..200 {
            assert!(s.sample(&logits) < 2);
        }
        let mut s = Sampler::new(SamplingParams::new(1).with_top_p(0.5).with_min_p(0.0), 4).unwrap();
        for _ in 0..200 {
            assert_eq!(s.sample(&logits), 0);
        }
    }

    #[test]
    fn invalid_parameters_are_named() {
        for (p, field) in [
            (SamplingParams::greedy().with_temperature(-1.0), "temperature"),
            (SamplingParams::greedy().with_top_p(0.0), "top_p"),
            (SamplingParams::greedy().with_min_p(1.0), "min_p"),
            (SamplingParams::greedy().with_repeat_penalty(0.0), "repeat_penalty"),
            (SamplingParams::greedy().with_frequency_penalty(f32::NAN), "frequency_penalty"),
        ] {
            match Sampler::new(p, 10) {
                Err(ModelError::InvalidOption { field: f, .. }) => assert_eq!(f, field),
                other => panic!("{field}: {other:?}"),
            }
        }
    }

    #[test]
    fn penalty_window_forgets_old_tokens() {
        let mut s =
            Sampler::new(SamplingParams::greedy().with_penalty_last_n(2).with_presence_penalty(5.0), 3).unwrap();
        s.accept(0);
        s.accept(1);
        s.accept(2); // token 0 leaves the window
        assert_eq!(s.sample(&[1.0, 0.5, 0.5]), 0);
    }
}
