//! Quantization of f32 weights into the weight block types Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q4_K and
//! Q6_K, byte for byte as ggml's reference quantizers `quantize_row_<type>_ref` (the ones
//! `llama-quantize` uses when there is no importance matrix).
//!
//! Exactness comes from doing the same f32 operations in the same order as ggml's C code (no
//! fused multiply-adds, no reassociated sums, divisions where ggml divides) and from reproducing
//! the two places where the C code's result depends on more than IEEE arithmetic:
//! - ggml's `nearest_int` rounds with a bit trick ([`nearest_int`]), reproduced bit for bit;
//! - the 32-value types convert floats to small integers with C casts, whose result for NaN and
//!   out-of-range values C leaves undefined. They happen (a subnormal scale makes `1/d` infinite)
//!   and x86-64, where ggml's reference binaries run, gives `i32::MIN` there: [`c_trunc`]
//!   reproduces that, where Rust's `as` would saturate.
//!
//! The f16 scales are rounded to nearest, ties to even, as ggml's `GGML_FP32_TO_FP16` (checked
//! equal to ggml's conversion for all 2^32 inputs), NaN becoming ggml's `0x7e00` with its sign.
//!
//! `tests/quantize_oracle.rs` checks every type against ggml's own binary.

use bytemuck::Zeroable;

use super::{
    f16_bytes, f16_le, round_away, Block, BlockQ4K, BlockQ4_0, BlockQ4_1, BlockQ5_0, BlockQ5_1, BlockQ6K, BlockQ8_0,
    GgmlType, QK, QK_K,
};
use crate::error::QuantError;

/// Quantization of f32 weights into a weight block type (ggml's reference quantizers).
pub trait QuantizeWeights: Block {
    /// Quantizes `x[..ELEMS]` into one block, with the same bytes as ggml's
    /// `quantize_row_<type>_ref`. Values missing from a shorter `x` are taken as zero (this never
    /// panics; [`quantize_weights`] checks lengths and reports errors instead).
    fn quantize_weights(x: &[f32]) -> Self;
}

/// Quantizes `src` into blocks of the weight type `ty` (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q4_K or
/// Q6_K) as ggml's reference quantizers do. `src.len()` must be a multiple of the block size and
/// `out` exactly as long as the blocks; other types are [`QuantError::Unsupported`].
pub fn quantize_weights(ty: GgmlType, src: &[f32], out: &mut [u8]) -> Result<(), QuantError> {
    match ty {
        GgmlType::Q4_0 => quantize_weights_typed::<BlockQ4_0>(src, out),
        GgmlType::Q4_1 => quantize_weights_typed::<BlockQ4_1>(src, out),
        GgmlType::Q5_0 => quantize_weights_typed::<BlockQ5_0>(src, out),
        GgmlType::Q5_1 => quantize_weights_typed::<BlockQ5_1>(src, out),
        GgmlType::Q8_0 => quantize_weights_typed::<BlockQ8_0>(src, out),
        GgmlType::Q4_K => quantize_weights_typed::<BlockQ4K>(src, out),
        GgmlType::Q6_K => quantize_weights_typed::<BlockQ6K>(src, out),
        _ => Err(QuantError::Unsupported { op: "quantize_weights", ty }),
    }
}

fn quantize_weights_typed<B: QuantizeWeights>(src: &[f32], out: &mut [u8]) -> Result<(), QuantError> {
    super::quantize_blocks("quantize_weights", src, out, B::quantize_weights)
}

// ---------------------------------------------------------------------------------------------
// Shared helpers
// ---------------------------------------------------------------------------------------------

/// The block's `N` input values as an array: `x[..N]`, zero-filled if `x` is shorter.
fn block_input<const N: usize>(x: &[f32]) -> [f32; N] {
    let mut v = [0f32; N];
    for (d, s) in v.iter_mut().zip(x) {
        *d = *s;
    }
    v
}

/// ggml's `GGML_FP32_TO_FP16` as little-endian bytes: round to nearest, ties to even; overflow
/// to infinity; every NaN becomes the quiet NaN `0x7e00` with the input's sign.
fn ggml_f16(x: f32) -> [u8; 2] {
    if x.is_nan() {
        let sign = ((x.to_bits() >> 16) & 0x8000) as u16;
        (sign | 0x7e00).to_le_bytes()
    } else {
        f16_bytes(x)
    }
}

/// A C cast from float to a 32-bit int as x86-64 performs it (`cvttss2si`): truncation toward
/// zero, and `i32::MIN` (the "integer indefinite") for NaN and values outside the i32 range. A C
/// cast to a narrower integer type then keeps the low bits, as `as i8` / `as u8` on the result
/// does.
#[inline(always)]
fn c_trunc(v: f32) -> i32 {
    // 2^31 is exactly representable; the range test is false for NaN.
    if (-2_147_483_648.0..2_147_483_648.0).contains(&v) {
        v as i32
    } else {
        i32::MIN
    }
}

/// ggml's `nearest_int`: adding 1.5 * 2^23 leaves `round(fval)` (ties to even) in the low 23
/// mantissa bits, offset by 2^22. Exact for |fval| <= 2^22 - 1; outside that range (and for NaN)
/// ggml's result is whatever these bits give, and so is ours.
#[inline(always)]
fn nearest_int(fval: f32) -> i32 {
    let val = fval + 12_582_912.0;
    (val.to_bits() & 0x007f_ffff) as i32 - 0x0040_0000
}

/// The value of largest magnitude, with its sign: the first one met when several have the same
/// magnitude (ggml's `if (amax < fabsf(v))` scan; NaNs are skipped). Zero for an all-zero input.
fn signed_absmax(x: &[f32]) -> (f32, f32) {
    let (mut amax, mut max) = (0.0f32, 0.0f32);
    for &v in x {
        if amax < v.abs() {
            amax = v.abs();
            max = v;
        }
    }
    (amax, max)
}

/// Minimum and maximum as ggml's legacy quantizers scan them (`if (v < min) min = v;` from
/// `FLT_MAX`, and the mirror for the maximum).
fn min_max(x: &[f32]) -> (f32, f32) {
    let (mut min, mut max) = (f32::MAX, -f32::MAX);
    for &v in x {
        if v < min {
            min = v;
        }
        if v > max {
            max = v;
        }
    }
    (min, max)
}

/// Packs 32 values (each < 16 in the valid case) two per byte: value `j` in the low nibble of byte
/// `j`, value `j + 16` in the high nibble. Like ggml's `qs[j] = xi0 | xi1 << 4` on `uint8_t`, stray
/// high bits of the low value are kept and those of the high value shifted out.
fn pack_nibbles(q: &[u8; QK]) -> [u8; QK / 2] {
    std::array::from_fn(|j| q[j] | (q[j + QK / 2] << 4))
}

/// Low nibbles two per byte (as [`pack_nibbles`]) and the fifth bits as a little-endian word:
/// bit `i` of `qh` is bit 4 of value `i`.
fn pack_five_bits(q: &[u8; QK]) -> ([u8; QK / 2], [u8; 4]) {
    let qs = std::array::from_fn(|j| (q[j] & 0x0f) | ((q[j + QK / 2] & 0x0f) << 4));
    let mut qh = 0u32;
    for (i, &v) in q.iter().enumerate() {
        qh |= (((v & 0x10) >> 4) as u32) << i;
    }
    (qs, qh.to_le_bytes())
}

// ---------------------------------------------------------------------------------------------
// The 32-value types
// ---------------------------------------------------------------------------------------------

impl QuantizeWeights for BlockQ4_0 {
    /// `quantize_row_q4_0_ref`: `d = max / -8` where `max` is the value of largest magnitude (so
    /// it maps to exactly -8, the one code without a positive twin), `q = min(15, x / d + 8.5)`
    /// truncated.
    fn quantize_weights(x: &[f32]) -> Self {
        let x = block_input::<QK>(x);
        let (_, max) = signed_absmax(&x);
        let d = max / -8.0;
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        // `(int8_t)(x * id + 8.5f)`, then `MIN(15, ...)` on the signed byte, stored unsigned.
        let q = x.map(|v| (c_trunc(v * id + 8.5) as i8).min(15) as u8);
        Self { d: ggml_f16(d), qs: pack_nibbles(&q) }
    }
}

impl QuantizeWeights for BlockQ4_1 {
    /// `quantize_row_q4_1_ref`: `d = (max - min) / 15`, `m = min`,
    /// `q = min(15, (x - min) / d + 0.5)` truncated.
    fn quantize_weights(x: &[f32]) -> Self {
        let x = block_input::<QK>(x);
        let (min, max) = min_max(&x);
        let d = (max - min) / 15.0;
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        let q = x.map(|v| (c_trunc((v - min) * id + 0.5) as i8).min(15) as u8);
        Self { d: ggml_f16(d), m: ggml_f16(min), qs: pack_nibbles(&q) }
    }
}

impl QuantizeWeights for BlockQ5_0 {
    /// `quantize_row_q5_0_ref`: as Q4_0 with 32 levels, `d = max / -16`,
    /// `q = min(31, x / d + 16.5)` truncated.
    fn quantize_weights(x: &[f32]) -> Self {
        let x = block_input::<QK>(x);
        let (_, max) = signed_absmax(&x);
        let d = max / -16.0;
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        let q = x.map(|v| (c_trunc(v * id + 16.5) as i8).min(31) as u8);
        let (qs, qh) = pack_five_bits(&q);
        Self { d: ggml_f16(d), qh, qs }
    }
}

impl QuantizeWeights for BlockQ5_1 {
    /// `quantize_row_q5_1_ref`: as Q4_1 with 32 levels, `d = (max - min) / 31`,
    /// `q = (x - min) / d + 0.5` truncated (ggml does not clamp this one).
    fn quantize_weights(x: &[f32]) -> Self {
        let x = block_input::<QK>(x);
        let (min, max) = min_max(&x);
        let d = (max - min) / 31.0;
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        let q = x.map(|v| c_trunc((v - min) * id + 0.5) as u8);
        let (qs, qh) = pack_five_bits(&q);
        Self { d: ggml_f16(d), m: ggml_f16(min), qh, qs }
    }
}

impl QuantizeWeights for BlockQ8_0 {
    /// `quantize_row_q8_0_ref`: `d = max|x| / 127`, `q = roundf(x / d)` (halves away from zero).
    ///
    /// Written out here rather than calling [`super::QuantizeBlock::quantize`] (which is the same
    /// for finite blocks): when `d` is subnormal, `1/d` is infinite, and ggml's C cast turns the
    /// resulting infinities into 0 where a Rust `as` saturates to ±127. Both dequantize to zero
    /// (`d` rounds to an f16 zero), but only this one has ggml's bytes.
    fn quantize_weights(x: &[f32]) -> Self {
        let x = block_input::<QK>(x);
        // ggml's `amax = MAX(amax, fabsf(v))`, i.e. `amax > a ? amax : a`.
        let amax = x.iter().fold(0.0f32, |amax, v| if amax > v.abs() { amax } else { v.abs() });
        let d = amax / 127.0;
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        let qs = x.map(|v| c_trunc(round_away(v * id)) as i8);
        Self { d: ggml_f16(d), qs }
    }
}

// ---------------------------------------------------------------------------------------------
// The K types
// ---------------------------------------------------------------------------------------------

/// ggml's `make_qkx2_quants`: chooses a scale and a min (`x ≈ scale * l - the_min` with `l` in
/// `0..=nmax`) for one sub-block, minimising the weighted squared error (or absolute error with
/// `use_mad`) over a small grid of candidate scales.
///
/// Writes the chosen levels to `l` and returns `(scale, the_min)`, `the_min >= 0`.
#[allow(clippy::too_many_arguments)]
fn make_qkx2_quants<const N: usize>(
    nmax: i32,
    x: &[f32; N],
    weights: &[f32; N],
    l: &mut [u8; N],
    rmin: f32,
    rdelta: f32,
    nstep: i32,
    use_mad: bool,
) -> (f32, f32) {
    if N == 0 {
        return (0.0, 0.0);
    }
    // Range of the values, and the weighted sums that do not depend on the levels.
    let (mut min, mut max) = (x[0], x[0]);
    let mut sum_w = weights[0];
    let mut sum_x = sum_w * x[0];
    for (&xi, &w) in x.iter().zip(weights).skip(1) {
        if xi < min {
            min = xi;
        }
        if xi > max {
            max = xi;
        }
        sum_w += w;
        sum_x += w * xi;
    }
    // The min term can only subtract: a sub-block of positive values is coded from zero.
    if min > 0.0 {
        min = 0.0;
    }
    if max == min {
        l.fill(0);
        return (0.0, -min);
    }
    let err = |diff: f32| if use_mad { diff.abs() } else { diff * diff };
    let level = |iscale: f32, xi: f32, min: f32| nearest_int(iscale * (xi - min)).clamp(0, nmax) as u8;

    // Starting point: spread [min, max] evenly over the nmax + 1 levels.
    let mut iscale = nmax as f32 / (max - min);
    let mut scale = 1.0 / iscale;
    let mut best_error = 0.0f32;
    for ((li, &xi), &w) in l.iter_mut().zip(x).zip(weights) {
        *li = level(iscale, xi, min);
        let diff = scale * *li as f32 + min - xi;
        best_error += w * err(diff);
    }
    if nstep < 1 {
        return (scale, -min);
    }

    // Try inverse scales (rmin + rdelta * is + nmax) / (max - min): for each, round the values to
    // levels, fit scale and min to those levels by weighted least squares, keep the best fit.
    let mut laux = [0u8; N];
    for is in 0..=nstep {
        iscale = (rmin + rdelta * is as f32 + nmax as f32) / (max - min);
        let (mut sum_l, mut sum_l2, mut sum_xl) = (0.0f32, 0.0f32, 0.0f32);
        for ((la, &xi), &w) in laux.iter_mut().zip(x).zip(weights) {
            *la = level(iscale, xi, min);
            let lf = *la as f32;
            sum_l += w * lf;
            sum_l2 += w * lf * lf;
            sum_xl += w * lf * xi;
        }
        // Normal equations of the weighted fit x ≈ this_scale * l + this_min.
        let det = sum_w * sum_l2 - sum_l * sum_l;
        if det > 0.0 {
            let mut this_scale = (sum_w * sum_xl - sum_x * sum_l) / det;
            let mut this_min = (sum_l2 * sum_x - sum_l * sum_xl) / det;
            if this_min > 0.0 {
                // A positive offset is not representable: refit the scale alone through zero.
                this_min = 0.0;
                this_scale = sum_xl / sum_l2;
            }
            let mut cur_error = 0.0f32;
            for ((&la, &xi), &w) in laux.iter().zip(x).zip(weights) {
                let diff = this_scale * la as f32 + this_min - xi;
                cur_error += w * err(diff);
            }
            if cur_error < best_error {
                *l = laux;
                best_error = cur_error;
                scale = this_scale;
                min = this_min;
            }
        }
    }
    (scale, -min)
}

/// ggml's `make_qx_quants` for `rmse_type == 1` without importance weights (what Q6_K uses):
/// chooses a signed scale for one sub-block (`x ≈ scale * (l - nmax)`, `l` in `0..2 * nmax`),
/// weighting each value's squared error by `x²`, over 19 candidate scales around
/// `max / -nmax`.
///
/// Writes the chosen levels (offset by `nmax`) to `l` and returns the scale.
fn make_qx_quants_rmse1<const N: usize>(nmax: i32, x: &[f32; N], l: &mut [i8; N]) -> f32 {
    // ggml's GROUP_MAX_EPS: a sub-block whose largest magnitude is below it is all zero.
    const GROUP_MAX_EPS: f32 = 1e-15;
    let (amax, max) = signed_absmax(x);
    if amax < GROUP_MAX_EPS {
        l.fill(0);
        return 0.0;
    }
    let clamp = |v: i32| v.clamp(-nmax, nmax - 1);
    // Weighted sums for levels rounded at inverse scale `iscale`: (sum w x l, sum w l²), w = x².
    let sums = |iscale: f32| {
        let (mut sumlx, mut suml2) = (0.0f32, 0.0f32);
        for &xi in x {
            let lf = clamp(nearest_int(iscale * xi)) as f32;
            let w = xi * xi;
            sumlx += w * xi * lf;
            suml2 += w * lf * lf;
        }
        (sumlx, suml2)
    };
    let set_levels = |l: &mut [i8; N], iscale: f32| {
        for (li, &xi) in l.iter_mut().zip(x) {
            *li = (nmax + clamp(nearest_int(iscale * xi))) as i8;
        }
    };

    // Start with the value of largest magnitude at exactly -nmax, then the least-squares scale
    // for those levels.
    let iscale = -(nmax as f32) / max;
    set_levels(l, iscale);
    let (sumlx, suml2) = sums(iscale);
    let mut scale = if suml2 != 0.0 { sumlx / suml2 } else { 0.0 };
    let mut best = scale * sumlx;

    // Try the inverse scales -(nmax + 0.1 * is) / max, is = -9..=9: keep one whenever its
    // least-squares fit explains more (sumlx² / suml2 larger).
    for is in (-9..=9).filter(|&is| is != 0) {
        let iscale = -(nmax as f32 + 0.1 * is as f32) / max;
        let (sumlx, suml2) = sums(iscale);
        if suml2 > 0.0 && sumlx * sumlx > best * suml2 {
            set_levels(l, iscale);
            scale = sumlx / suml2;
            best = scale * sumlx;
        }
    }
    scale
}

impl QuantizeWeights for BlockQ4K {
    /// `quantize_row_q4_K_ref`: per 32-value sub-block a scale and min from
    /// [`make_qkx2_quants`] (weights `rms(x) + |x|`, 21 candidate scales), those quantized to 6
    /// bits against the largest of each, then every value re-rounded with the quantized scale and
    /// min.
    fn quantize_weights(x: &[f32]) -> Self {
        let x = block_input::<QK_K>(x);
        let sub: [[f32; 32]; 8] = std::array::from_fn(|j| std::array::from_fn(|i| x[32 * j + i]));
        let mut levels = [[0u8; 32]; 8];
        let mut scales = [0f32; 8];
        let mut mins = [0f32; 8];
        let (mut max_scale, mut max_min) = (0.0f32, 0.0f32);
        for (j, xs) in sub.iter().enumerate() {
            // Weight each value by the sub-block's RMS plus its own magnitude.
            let mut sum_x2 = 0.0f32;
            for &v in xs {
                sum_x2 += v * v;
            }
            let av_x = (sum_x2 / 32.0).sqrt();
            let weights = xs.map(|v| av_x + v.abs());
            let (scale, min) = make_qkx2_quants(15, xs, &weights, &mut levels[j], -1.0, 0.1, 20, false);
            scales[j] = scale;
            mins[j] = min;
            if scale > max_scale {
                max_scale = scale;
            }
            if min > max_min {
                max_min = min;
            }
        }

        // Six-bit sub-block scales and mins, relative to the super-block's d and dmin.
        let inv_scale = if max_scale > 0.0 { 63.0 / max_scale } else { 0.0 };
        let inv_min = if max_min > 0.0 { 63.0 / max_min } else { 0.0 };
        // `uint8_t ls = nearest_int(...)` keeps the low byte, then `MIN(63, ls)`.
        let ls = scales.map(|s| (nearest_int(inv_scale * s) as u8).min(63));
        let lm = mins.map(|m| (nearest_int(inv_min * m) as u8).min(63));
        let mut block = Self::zeroed();
        // Packing as `unpack_scales_mins_k4` reads it.
        for j in 0..4 {
            block.scales[j] = ls[j] | ((ls[j + 4] >> 4) << 6);
            block.scales[j + 4] = lm[j] | ((lm[j + 4] >> 4) << 6);
            block.scales[j + 8] = (ls[j + 4] & 0x0f) | ((lm[j + 4] & 0x0f) << 4);
        }
        block.d = ggml_f16(max_scale / 63.0);
        block.dmin = ggml_f16(max_min / 63.0);

        // Re-round each value with the scale and min as stored. A sub-block whose stored scale is
        // zero keeps the levels the search chose.
        let (d_all, dmin_all) = (f16_le(block.d), f16_le(block.dmin));
        for (j, xs) in sub.iter().enumerate() {
            let d = d_all * ls[j] as f32;
            if d == 0.0 {
                continue;
            }
            let dm = dmin_all * lm[j] as f32;
            for (q, &v) in levels[j].iter_mut().zip(xs) {
                *q = nearest_int((v + dm) / d).clamp(0, 15) as u8;
            }
        }

        // Each 32 bytes hold 64 values: the first 32 in the low nibbles, the next 32 in the high.
        for (i, q) in block.qs.iter_mut().enumerate() {
            let (pair, l) = (i / 32, i % 32);
            *q = levels[2 * pair][l] | (levels[2 * pair + 1][l] << 4);
        }
        block
    }
}

impl QuantizeWeights for BlockQ6K {
    /// `quantize_row_q6_K_ref`: per 16-value sub-block a signed scale from
    /// [`make_qx_quants_rmse1`], those quantized to signed 8 bits with the largest in magnitude at
    /// -128 (clamped to 127), then every value re-rounded to -32..=31 with the quantized scale.
    fn quantize_weights(x: &[f32]) -> Self {
        let x = block_input::<QK_K>(x);
        let sub: [[f32; 16]; 16] = std::array::from_fn(|j| std::array::from_fn(|i| x[16 * j + i]));
        let mut levels = [[0i8; 16]; 16];
        let mut scales = [0f32; 16];
        let (mut max_scale, mut max_abs_scale) = (0.0f32, 0.0f32);
        for (ib, xs) in sub.iter().enumerate() {
            let scale = make_qx_quants_rmse1(32, xs, &mut levels[ib]);
            scales[ib] = scale;
            if scale.abs() > max_abs_scale {
                max_abs_scale = scale.abs();
                max_scale = scale;
            }
        }
        let mut block = Self::zeroed();
        if max_abs_scale < 1e-15 {
            // All (near) zero: an all-zero block (d = +0).
            return block;
        }

        let iscale = -128.0 / max_scale;
        block.d = ggml_f16(1.0 / iscale);
        // `MIN(127, nearest_int(...))` stored into an int8_t: the low byte.
        block.scales = scales.map(|s| nearest_int(iscale * s).min(127) as i8);

        // Re-round with the stored scales; sub-blocks whose scale is zero keep the search's levels.
        let d_all = f16_le(block.d);
        for (j, xs) in sub.iter().enumerate() {
            let d = d_all * block.scales[j] as f32;
            if d == 0.0 {
                continue;
            }
            for (q, &v) in levels[j].iter_mut().zip(xs) {
                *q = (nearest_int(v / d).clamp(-32, 31) + 32) as i8;
            }
        }

        // Value i of each 128-value half h (r = i % 128): low nibble in nibble r / 64 of
        // ql[64h + r % 64], high two bits at 2 * (r / 32) of qh[32h + r % 32] (as `BlockQ6K::values`).
        let level = |i: usize| levels[i / 16][i % 16] as u8;
        for h in 0..2 {
            for l in 0..32 {
                let base = 128 * h + l;
                let (q1, q2, q3, q4) = (level(base), level(base + 32), level(base + 64), level(base + 96));
                block.ql[64 * h + l] = (q1 & 0x0f) | ((q3 & 0x0f) << 4);
                block.ql[64 * h + l + 32] = (q2 & 0x0f) | ((q4 & 0x0f) << 4);
                block.qh[32 * h + l] = (q1 >> 4) | ((q2 >> 4) << 2) | ((q3 >> 4) << 4) | ((q4 >> 4) << 6);
            }
        }
        block
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_int_rounds_ties_to_even_in_range() {
        for (v, r) in [(0.5, 0), (1.5, 2), (2.5, 2), (-0.5, 0), (-1.5, -2), (3.49, 3), (-7.51, -8)] {
            assert_eq!(nearest_int(v), r, "{v}");
        }
        assert_eq!(nearest_int(4_194_303.0), 4_194_303);
        assert_eq!(nearest_int(-4_194_303.0), -4_194_303);
        // Out of range and NaN give garbage in ggml too, but never panic.
        let _ = (nearest_int(f32::NAN), nearest_int(f32::INFINITY), nearest_int(-1e30));
    }

    #[test]
    fn c_trunc_is_x86_cvttss2si() {
        assert_eq!(c_trunc(8.9), 8);
        assert_eq!(c_trunc(-0.99), 0);
        assert_eq!(c_trunc(-2_147_483_648.0), i32::MIN);
        assert_eq!(c_trunc(2_147_483_520.0), 2_147_483_520);
        for v in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY, 2_147_483_648.0, -2_147_483_904.0, 1e30] {
            assert_eq!(c_trunc(v), i32::MIN, "{v}");
        }
    }

    #[test]
    fn ggml_f16_writes_nan_as_0x7e00_with_sign() {
        assert_eq!(ggml_f16(f32::NAN), 0x7e00u16.to_le_bytes());
        assert_eq!(ggml_f16(-f32::NAN), 0xfe00u16.to_le_bytes());
        assert_eq!(ggml_f16(f32::from_bits(0x7f80_0001)), 0x7e00u16.to_le_bytes());
        assert_eq!(ggml_f16(1e6), 0x7c00u16.to_le_bytes());
        assert_eq!(ggml_f16(1.0 + 1.0 / 2048.0), 0x3c00u16.to_le_bytes()); // tie to even
    }

    /// ggml's `ggml_compute_fp32_to_fp16` (ggml-impl.h), transcribed: scaling by 2^112 then
    /// 2^-110 rounds the mantissa in the FPU; the exponent is rebuilt from the input's bits.
    fn ggml_compute_fp32_to_fp16(f: f32) -> u16 {
        let base = (f.abs() * f32::from_bits(0x7780_0000)) * f32::from_bits(0x0880_0000);
        let w = f.to_bits();
        let shl1_w = w.wrapping_add(w);
        let sign = w & 0x8000_0000;
        let bias = (shl1_w & 0xff00_0000).max(0x7100_0000);
        let bits = (f32::from_bits((bias >> 1) + 0x0780_0000) + base).to_bits();
        let nonsign = ((bits >> 13) & 0x7c00) + (bits & 0x0fff);
        ((sign >> 16) | if shl1_w > 0xff00_0000 { 0x7e00 } else { nonsign }) as u16
    }

    #[test]
    fn ggml_f16_equals_ggmls_own_conversion() {
        // Every 251st bit pattern (all exponents, signs, NaN payloads); the whole 2^32 was checked
        // once against ggml's C function.
        for bits in (0..=u32::MAX).step_by(if cfg!(miri) { 1_000_003 } else { 251 }) {
            let x = f32::from_bits(bits);
            assert_eq!(u16::from_le_bytes(ggml_f16(x)), ggml_compute_fp32_to_fp16(x), "{bits:#010x}");
        }
    }

    #[test]
    fn non_finite_and_short_inputs_do_not_panic() {
        let mut x = [0.5f32; QK_K];
        x[3] = f32::NAN;
        x[40] = f32::INFINITY;
        x[200] = f32::NEG_INFINITY;
        let short = [1.0f32; 7];
        for input in [&x[..], &short[..], &[][..], &[f32::NAN; QK_K][..], &[f32::MAX; QK_K][..]] {
            let _ = BlockQ4_0::quantize_weights(input);
            let _ = BlockQ4_1::quantize_weights(input);
            let _ = BlockQ5_0::quantize_weights(input);
            let _ = BlockQ5_1::quantize_weights(input);
            let _ = BlockQ8_0::quantize_weights(input);
            let _ = BlockQ4K::quantize_weights(input);
            let _ = BlockQ6K::quantize_weights(input);
        }
        // A short input is zero-filled.
        assert_eq!(BlockQ4_0::quantize_weights(&short), BlockQ4_0::quantize_weights(&block_input::<QK>(&short)));
    }

    #[test]
    fn byte_level_entry_point_checks_lengths_and_types() {
        let x = [0.25f32; 2 * QK];
        let mut out = [0u8; 36];
        quantize_weights(GgmlType::Q4_0, &x, &mut out).unwrap();
        let mut back = [0f32; 2 * QK];
        super::super::dequantize(GgmlType::Q4_0, &out, &mut back).unwrap();
        assert_eq!(back, x);

        let err = quantize_weights(GgmlType::Q4_0, &x[..33], &mut out).unwrap_err();
        assert!(matches!(err, QuantError::NotBlockMultiple { len: 33, block: 32, .. }), "{err}");
        let err = quantize_weights(GgmlType::Q4_0, &x, &mut out[..35]).unwrap_err();
        assert!(matches!(err, QuantError::ByteLength { got: 35, expected: 36, .. }), "{err}");
        let err = quantize_weights(GgmlType::Q4_K, &x, &mut [0u8; 144]).unwrap_err();
        assert!(matches!(err, QuantError::NotBlockMultiple { len: 64, block: 256, .. }), "{err}");
        for ty in [GgmlType::Q2_K, GgmlType::Q8_1, GgmlType::F16, GgmlType::IQ2_XXS] {
            let err = quantize_weights(ty, &[0.0; QK_K], &mut [0u8; 1024]).unwrap_err();
            assert_eq!(err, QuantError::Unsupported { op: "quantize_weights", ty });
        }
        assert_eq!(quantize_weights(GgmlType::Q6_K, &[], &mut []), Ok(()));
    }

    #[test]
    fn all_zero_blocks() {
        let z = [0.0f32; QK_K];
        // ggml's d = max / -8 with max = +0 is -0: the sign survives in the f16.
        assert_eq!(BlockQ4_0::quantize_weights(&z).d, 0x8000u16.to_le_bytes());
        assert!(BlockQ4_0::quantize_weights(&z).qs.iter().all(|&b| b == 0x88));
        assert_eq!(BlockQ6K::quantize_weights(&z), BlockQ6K::zeroed());
        let q4k = BlockQ4K::quantize_weights(&z);
        assert_eq!(q4k, BlockQ4K::zeroed());
    }
}
