//! Element-wise and row operations written so the compiler vectorises them: branch-free bodies,
//! a polynomial `exp` instead of a libm call, several independent accumulators for reductions.
//!
//! Each function here is `#[inline(always)]` and compiled once per flavour: the AVX2 module wraps
//! them in `#[target_feature(enable = "avx2,fma")]` functions (so they are vectorised with 256-bit
//! registers there), while on aarch64 (NEON is baseline) and wasm32 built with `+simd128` the
//! plain instantiation is already vectorised. Rust never fuses `a * b + c` into an FMA on its own,
//! so every instantiation computes the same values; the scalar reference for each is in
//! [`crate::ops`] (libm `exp`, f64 reductions), and `tests` bounds the difference.

use crate::error::QuantError;
use crate::quant::GgmlType;

const LANES: usize = 8;

/// `e^x` for f32, within 2 ulp of the correctly rounded value over the whole range (0 below
/// -103.9, +inf above 88.73): `2^n * p(r)` with `x = n ln2 + r`, `|r| <= ln2 / 2`, and `p` a
/// degree-7 polynomial.
#[inline(always)]
pub(crate) fn exp(x: f32) -> f32 {
    let x = x.clamp(-104.0, 89.0);
    let n = (x * std::f32::consts::LOG2_E).round_ties_even();
    // Cody-Waite: ln 2 split in a part exact in f32 and a correction.
    let r = (x - n * 0.693_145_75) - n * 1.428_606_8e-6;
    // Taylor to degree 7: the truncation error r^8 / 8! is below 6e-9 for |r| <= ln2 / 2.
    let p = 1.0
        + r * (1.0
            + r * (1.0 / 2.0
                + r * (1.0 / 6.0 + r * (1.0 / 24.0 + r * (1.0 / 120.0 + r * (1.0 / 720.0 + r * (1.0 / 5040.0)))))));
    // 2^n in two steps so that n down to -150 and up to 128 stay representable.
    let n = n as i32;
    let half = n / 2;
    let s1 = f32::from_bits(((half + 127).clamp(0, 255) as u32) << 23);
    let s2 = f32::from_bits((((n - half) + 127).clamp(0, 255) as u32) << 23);
    p * s1 * s2
}

/// `gate = silu(gate) * up`.
#[inline(always)]
pub(crate) fn silu_mul(gate: &mut [f32], up: &[f32]) {
    for (g, &u) in gate.iter_mut().zip(up) {
        *g = *g / (1.0 + exp(-*g)) * u;
    }
}

/// `x = gelu(x)`, the tanh approximation (ggml's `gelu`).
#[inline(always)]
pub(crate) fn gelu_tanh(x: &mut [f32]) {
    const SQRT_2_OVER_PI: f32 = 0.797_884_6;
    for v in x.iter_mut() {
        let y = SQRT_2_OVER_PI * *v * (1.0 + 0.044_715 * *v * *v);
        // tanh(y) = 1 - 2 / (e^(2y) + 1): exact limits at both ends.
        let t = 1.0 - 2.0 / (exp(2.0 * y) + 1.0);
        *v = 0.5 * *v * (1.0 + t);
    }
}

/// `x = gelu(x)` with the exact error function (ggml's `gelu_erf`); erf by Abramowitz & Stegun
/// 7.1.26 (absolute error below 1.5e-7).
#[inline(always)]
pub(crate) fn gelu_erf(x: &mut [f32]) {
    for v in x.iter_mut() {
        let z = (*v * std::f32::consts::FRAC_1_SQRT_2).abs();
        let t = 1.0 / (1.0 + 0.327_591_1 * z);
        let poly = t * (0.254_829_6 + t * (-0.284_496_74 + t * (1.421_413_7 + t * (-1.453_152_1 + t * 1.061_405_4))));
        let erf_abs = 1.0 - poly * exp(-z * z);
        let erf = if *v < 0.0 { -erf_abs } else { erf_abs };
        *v = 0.5 * *v * (1.0 + erf);
    }
}

/// Sum of `f(x_i)` in f64 over [`LANES`] independent accumulators.
#[inline(always)]
fn sum_f64(x: &[f32], f: impl Fn(f32) -> f64) -> f64 {
    let mut acc = [0f64; LANES];
    let chunks = x.chunks_exact(LANES);
    let tail = chunks.remainder();
    for c in chunks {
        for (a, &v) in acc.iter_mut().zip(c) {
            *a += f(v);
        }
    }
    acc.iter().sum::<f64>() + tail.iter().map(|&v| f(v)).sum::<f64>()
}

/// Dot product of two f32 rows over [`LANES`] independent f32 accumulators.
#[inline(always)]
pub(crate) fn dot(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0f32; LANES];
    let (ca, cb) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let (ta, tb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for i in 0..LANES {
            acc[i] += x[i] * y[i];
        }
    }
    acc.iter().sum::<f32>() + ta.iter().zip(tb).map(|(x, y)| x * y).sum::<f32>()
}

/// RMSNorm: `out = x / sqrt(mean(x^2) + eps) * weight`, the mean accumulated in f64.
#[inline(always)]
pub(crate) fn rms_norm(x: &[f32], weight: &[f32], eps: f32, out: &mut [f32]) {
    let sum = sum_f64(x, |v| v as f64 * v as f64);
    let scale = (1.0 / (sum / x.len().max(1) as f64 + eps as f64).sqrt()) as f32;
    for ((o, &v), &w) in out.iter_mut().zip(x).zip(weight) {
        *o = v * scale * w;
    }
}

/// In-place softmax; the normalising sum is accumulated in f64.
#[inline(always)]
pub(crate) fn softmax(x: &mut [f32]) {
    let mut max = [f32::NEG_INFINITY; LANES];
    for c in x.chunks(LANES) {
        for (m, &v) in max.iter_mut().zip(c) {
            *m = m.max(v);
        }
    }
    let max = max.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    for v in x.iter_mut() {
        *v = exp(*v - max);
    }
    let inv = (1.0 / sum_f64(x, |v| v as f64)) as f32;
    for v in x.iter_mut() {
        *v *= inv;
    }
}

/// `acc += x`.
#[inline(always)]
pub(crate) fn add_assign(acc: &mut [f32], x: &[f32]) {
    for (a, &b) in acc.iter_mut().zip(x) {
        *a += b;
    }
}

/// `acc *= x`.
#[inline(always)]
pub(crate) fn mul_assign(acc: &mut [f32], x: &[f32]) {
    for (a, &b) in acc.iter_mut().zip(x) {
        *a *= b;
    }
}

/// Rotates the pairs of one head by angles with cosines `cos[i]` and sines `sin[i]` (RoPE):
/// pair `i` is `(2i, 2i + 1)`, or `(i, i + n)` with `neox` (`n = cos.len()`).
#[inline(always)]
pub(crate) fn rope_head(head: &mut [f32], cos: &[f32], sin: &[f32], neox: bool) {
    let n = cos.len().min(sin.len()).min(head.len() / 2);
    if neox {
        let (a, rest) = head.split_at_mut(n);
        for (((x0, x1), &c), &s) in a.iter_mut().zip(rest.iter_mut()).zip(cos).zip(sin) {
            let (v0, v1) = (*x0, *x1);
            *x0 = v0 * c - v1 * s;
            *x1 = v0 * s + v1 * c;
        }
    } else {
        for ((pair, &c), &s) in head[..2 * n].chunks_exact_mut(2).zip(cos).zip(sin) {
            let (v0, v1) = (pair[0], pair[1]);
            pair[0] = v0 * c - v1 * s;
            pair[1] = v0 * s + v1 * c;
        }
    }
}

/// Attention of the query heads of one grouped-query group over positions `0..n_past` of a
/// KV cache (see [`crate::ops::attend_group`], the reference): each key and value row is read
/// once for all the heads of the group.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
pub(crate) fn attend_group(
    q: &[f32],
    head_dim: usize,
    k_cache: &[f32],
    v_cache: &[f32],
    kv_stride: usize,
    kv_offset: usize,
    n_past: usize,
    scores: &mut [f32],
    out: &mut [f32],
) {
    let head_dim = head_dim.max(1);
    let heads = (q.len() / head_dim).min(out.len() / head_dim);
    let n_past = n_past.min(scores.len() / heads.max(1));
    let scale = 1.0 / (head_dim as f32).sqrt();
    for p in 0..n_past {
        let k = kv_row(k_cache, p * kv_stride + kv_offset, head_dim);
        for (h, qh) in q.chunks_exact(head_dim).take(heads).enumerate() {
            scores[h * n_past + p] = dot(qh, k) * scale;
        }
    }
    for s in scores[..heads * n_past].chunks_exact_mut(n_past.max(1)) {
        softmax(s);
    }
    out.fill(0.0);
    for p in 0..n_past {
        let v = kv_row(v_cache, p * kv_stride + kv_offset, head_dim);
        for (h, o) in out.chunks_exact_mut(head_dim).take(heads).enumerate() {
            let s = scores[h * n_past + p];
            for (o, &b) in o.iter_mut().zip(v) {
                *o += s * b;
            }
        }
    }
}

/// `len` values of a cache from `start`, or nothing if they are not all there.
#[inline(always)]
fn kv_row(cache: &[f32], start: usize, len: usize) -> &[f32] {
    cache.get(start..start + len).unwrap_or(&[])
}

/// Quantizes activations for `weight_ty` (the reference quantizers, bit for bit).
#[inline(always)]
pub(crate) fn quantize_activations(weight_ty: GgmlType, x: &[f32], out: &mut [u8]) -> Result<(), QuantError> {
    super::quantize_activations(weight_ty, x, out)
}
