//! wasm32 128-bit SIMD (`simd128`) dot products.
//!
//! Integer parts follow the scalar reference exactly: bytes are multiplied as signed i8 into i16
//! (`i16x8.extmul_{low,high}_i8x16`) and widened to i32 by pairwise adds or by
//! `i32x4.dot_i16x8` against a scale. Where a few i16 products are summed before widening, the
//! bound on their values keeps the sum inside i16 for any activation byte, -128 included (see
//! [`Legacy::NARROW`] and the K-quant functions). Only the order of the float additions differs
//! from the reference. Plain simd128 has no fused multiply-add: products are rounded, then added.
//!
//! The legacy 32-value types unpack each weight block once and dot it with up to
//! [`super::MAX_ROWS`] activation rows, so a batched prefill does the unpacking once per weight.
//! Their f16 scales are converted four at a time (wasm has no f16 instruction: a scalar
//! conversion per block cost as much as the block's integer dot), the activations' once per
//! matrix rather than once per weight row.
//!
//! This module is compiled only with `target_feature = "simd128"` enabled for the whole build
//! (see `super`), so every wasm engine that loads the module runs these instructions: the simd128
//! intrinsics are safe functions here, and the only `unsafe` left is loading from raw pointers.

use core::arch::wasm32::*;

use super::{rows_kernel, LegacyAct, MatDot, RowsDot, VecDot, MAX_ROWS};
use crate::quant::*;

pub(super) fn rows_dot(ty: GgmlType) -> Option<RowsDot> {
    Some(match ty {
        GgmlType::Q4_0 => legacy_rows::<BlockQ4_0> as RowsDot,
        GgmlType::Q4_1 => legacy_rows::<BlockQ4_1>,
        GgmlType::Q5_0 => legacy_rows::<BlockQ5_0>,
        GgmlType::Q5_1 => legacy_rows::<BlockQ5_1>,
        GgmlType::Q8_0 => legacy_rows::<BlockQ8_0>,
        GgmlType::Q4_K => rows_kernel!(BlockQ4K, q4k),
        GgmlType::Q5_K => rows_kernel!(BlockQ5K, q5k),
        GgmlType::Q6_K => rows_kernel!(BlockQ6K, q6k),
        GgmlType::F32 => rows_kernel!(BlockF32, f32_dot),
        GgmlType::F16 => rows_kernel!(BlockF16, f16_dot),
        GgmlType::BF16 => rows_kernel!(BlockBF16, bf16_dot),
        _ => return None,
    })
}

/// Loads 16 bytes.
#[inline(always)]
fn load16<T: bytemuck::Pod>(b: &[T; 16]) -> v128 {
    const { assert!(std::mem::size_of::<T>() == 1) };
    // SAFETY: `b` is 16 readable bytes (16 one-byte elements); `v128_load` has no alignment
    // requirement.
    unsafe { v128_load(b.as_ptr().cast()) }
}

/// The 16 elements of `s` at `at..at + 16` (callers pass constant-bounded offsets inside `s`).
#[inline(always)]
fn chunk16<T: bytemuck::Pod>(s: &[T], at: usize) -> &[T; 16] {
    s[at..at + 16].try_into().expect("16 elements")
}

/// Horizontal sum of four floats.
#[inline(always)]
fn hsum(v: v128) -> f32 {
    (f32x4_extract_lane::<0>(v) + f32x4_extract_lane::<1>(v))
        + (f32x4_extract_lane::<2>(v) + f32x4_extract_lane::<3>(v))
}

/// Four i32 sums of four products each of the signed bytes of `x` and `y`: exact for any bytes.
#[inline(always)]
fn dot_i8(x: v128, y: v128) -> v128 {
    i32x4_add(
        i32x4_extadd_pairwise_i16x8(i16x8_extmul_low_i8x16(x, y)),
        i32x4_extadd_pairwise_i16x8(i16x8_extmul_high_i8x16(x, y)),
    )
}

/// Eight i16 sums of four products each: `x0 * y0 + x1 * y1` bytewise, the two halves of each
/// product vector added. Exact when `|x| <= 32` (the bound is then `4 * 32 * 128 = 16384`).
#[inline(always)]
fn dot_i8_narrow16(x0: v128, y0: v128, x1: v128, y1: v128) -> v128 {
    i16x8_add(
        i16x8_add(i16x8_extmul_low_i8x16(x0, y0), i16x8_extmul_high_i8x16(x0, y0)),
        i16x8_add(i16x8_extmul_low_i8x16(x1, y1), i16x8_extmul_high_i8x16(x1, y1)),
    )
}

/// The low nibbles (values 0..16) and high nibbles (values 16..32) of a 4-bit block.
#[inline(always)]
fn nibbles(q: &[u8; 16]) -> [v128; 2] {
    let b = load16(q);
    [v128_and(b, u8x16_splat(0x0f)), u8x16_shr(b, 4)]
}

/// `0x10` in byte `i` where bit `i` of `bits` is set, else 0: the fifth bits of values 0..16,
/// then of values 16..32.
#[inline(always)]
fn fifth_bits(bits: u32) -> [v128; 2] {
    // Byte i takes byte i / 8 of `bits`, then tests its bit i % 8.
    let word = u32x4_splat(bits);
    let bit = u64x2_splat(0x8040_2010_0804_0201);
    let spread = |lo: u8, hi: u8| {
        let idx = u8x16(lo, lo, lo, lo, lo, lo, lo, lo, hi, hi, hi, hi, hi, hi, hi, hi);
        let set = i8x16_eq(v128_and(i8x16_swizzle(word, idx), bit), bit);
        v128_and(set, u8x16_splat(0x10))
    };
    [spread(0, 1), spread(2, 3)]
}

/// A 32-value weight block type paired with a Q8_0 or Q8_1 activation block.
trait Legacy: VecDot<Act: LegacyAct> {
    /// Every value is within `-32..=32`, so four products with any activation bytes sum
    /// inside i16 ([`dot_i8_narrow16`]).
    const NARROW: bool;
    /// The block's 32 values as signed bytes, in activation order (values 0..16, then 16..32).
    fn values(&self) -> [v128; 2];
    /// The f16 bits of the scale `d` (low half) and of the minimum `m` (high half; 0 when the
    /// type has none). The minimum multiplies the activation block's sum `s`.
    fn scale_bits(&self) -> u32;
}

impl Legacy for BlockQ4_0 {
    const NARROW: bool = true;
    #[inline(always)]
    fn values(&self) -> [v128; 2] {
        nibbles(&self.qs).map(|v| i8x16_sub(v, i8x16_splat(8)))
    }
    fn scale_bits(&self) -> u32 {
        u16::from_le_bytes(self.d) as u32
    }
}

impl Legacy for BlockQ4_1 {
    const NARROW: bool = true;
    #[inline(always)]
    fn values(&self) -> [v128; 2] {
        nibbles(&self.qs)
    }
    fn scale_bits(&self) -> u32 {
        u32::from_le_bytes([self.d[0], self.d[1], self.m[0], self.m[1]])
    }
}

impl Legacy for BlockQ5_0 {
    const NARROW: bool = true;
    #[inline(always)]
    fn values(&self) -> [v128; 2] {
        let [lo, hi] = nibbles(&self.qs);
        let [h_lo, h_hi] = fifth_bits(u32::from_le_bytes(self.qh));
        [i8x16_sub(v128_or(lo, h_lo), i8x16_splat(16)), i8x16_sub(v128_or(hi, h_hi), i8x16_splat(16))]
    }
    fn scale_bits(&self) -> u32 {
        u16::from_le_bytes(self.d) as u32
    }
}

impl Legacy for BlockQ5_1 {
    const NARROW: bool = true;
    #[inline(always)]
    fn values(&self) -> [v128; 2] {
        let [lo, hi] = nibbles(&self.qs);
        let [h_lo, h_hi] = fifth_bits(u32::from_le_bytes(self.qh));
        [v128_or(lo, h_lo), v128_or(hi, h_hi)]
    }
    fn scale_bits(&self) -> u32 {
        u32::from_le_bytes([self.d[0], self.d[1], self.m[0], self.m[1]])
    }
}

impl Legacy for BlockQ8_0 {
    const NARROW: bool = false;
    #[inline(always)]
    fn values(&self) -> [v128; 2] {
        [load16(chunk16(&self.qs, 0)), load16(chunk16(&self.qs, 16))]
    }
    fn scale_bits(&self) -> u32 {
        u16::from_le_bytes(self.d) as u32
    }
}

/// Scales and minimums of four blocks as two f32 vectors: `(d, m)` from [`Legacy::scale_bits`]
/// or `(d, s)` from [`LegacyAct::scale_bits`] (the f16 halves of each u32, converted exactly).
#[inline(always)]
fn f16_pairs(bits: v128) -> (v128, v128) {
    (f16x4_to_f32(v128_and(bits, u32x4_splat(0xffff))), f16x4_to_f32(u32x4_shr(bits, 16)))
}

/// `f(b)` of four blocks as u32 lanes (zero lanes past `blocks.len()`).
#[inline(always)]
fn gather4<B>(blocks: &[B], f: impl Fn(&B) -> u32) -> v128 {
    match blocks {
        [b0, b1, b2, b3, ..] => u32x4(f(b0), f(b1), f(b2), f(b3)),
        short => {
            let mut v = [0u32; 4];
            for (o, b) in v.iter_mut().zip(short) {
                *o = f(b);
            }
            u32x4(v[0], v[1], v[2], v[3])
        }
    }
}

/// Lane `k` of `v` in all four lanes.
#[inline(always)]
fn lane_splat(v: v128, k: usize) -> v128 {
    match k {
        0 => i32x4_shuffle::<0, 0, 0, 0>(v, v),
        1 => i32x4_shuffle::<1, 1, 1, 1>(v, v),
        2 => i32x4_shuffle::<2, 2, 2, 2>(v, v),
        _ => i32x4_shuffle::<3, 3, 3, 3>(v, v),
    }
}

/// Most groups of four blocks whose activation scales are converted ahead at once (a segment of
/// 8192 values); longer rows are processed segment by segment.
const SEGMENT_GROUPS: usize = 64;

/// The activation scales `d` and sums `s` of one activation row, per group of four blocks
/// (converted once per segment, not once per weight row: wasm has no f16 conversion instruction).
#[inline(always)]
fn act_scales<A: LegacyAct>(a: &[A], out: &mut [[v128; 2]; SEGMENT_GROUPS]) {
    for (o, g) in out.iter_mut().zip(a.chunks(4)) {
        let (d, s) = f16_pairs(gather4(g, LegacyAct::scale_bits));
        *o = [d, s];
    }
}

/// One weight row of a legacy type against `R` activation rows whose scales per group of four
/// blocks were converted beforehand ([`act_scales`]). The four weight scales of a group are
/// converted together, the block minimums times activation sums accumulate as one vector, and
/// each weight block is unpacked once for all `R` rows.
#[inline(always)]
fn legacy<const R: usize, W: Legacy>(w: &[W], a: [&[W::Act]; R], sc: [&[[v128; 2]]; R]) -> [f32; R] {
    // Bounded by the shortest row: never reads past any slice.
    let n = a.iter().fold(w.len(), |n, row| n.min(row.len()));
    let n = sc.iter().fold(n, |n, s| n.min(4 * s.len()));
    let mut acc = [f32x4_splat(0.0); R];
    let mut mins = [f32x4_splat(0.0); R];
    for (g, wg) in w[..n].chunks(4).enumerate() {
        let (dw, mw) = f16_pairs(gather4(wg, W::scale_bits));
        let mut scales = [f32x4_splat(0.0); R];
        for r in 0..R {
            let [da, sa] = sc[r][g];
            scales[r] = f32x4_mul(dw, da);
            mins[r] = f32x4_add(mins[r], f32x4_mul(mw, sa));
        }
        for (k, wb) in wg.iter().enumerate() {
            let [q0, q1] = wb.values();
            for r in 0..R {
                let qs = LegacyAct::values(&a[r][4 * g + k]);
                let (a0, a1) = (load16(chunk16(qs, 0)), load16(chunk16(qs, 16)));
                let p = if W::NARROW {
                    i32x4_extadd_pairwise_i16x8(dot_i8_narrow16(q0, a0, q1, a1))
                } else {
                    i32x4_add(dot_i8(q0, a0), dot_i8(q1, a1))
                };
                acc[r] = f32x4_add(acc[r], f32x4_mul(f32x4_convert_i32x4(p), lane_splat(scales[r], k)));
            }
        }
    }
    let mut out = [0f32; R];
    for r in 0..R {
        out[r] = hsum(f32x4_add(acc[r], mins[r]));
    }
    out
}

/// Every weight row of `w` (`blocks` per row) against the same `R` activation rows over blocks
/// `span`; the result is stored (`first`) or added to `out[row * stride + r]`.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn pass<const R: usize, W: Legacy>(
    w: &[W],
    blocks: usize,
    span: std::ops::Range<usize>,
    act: [&[W::Act]; R],
    sc: [&[[v128; 2]]; R],
    out: &mut [f32],
    stride: usize,
    first: bool,
) {
    for (wr, o) in w.chunks_exact(blocks).zip(out.chunks_mut(stride)) {
        let res = legacy::<R, W>(wr.get(span.clone()).unwrap_or(&[]), act, sc);
        for (o, v) in o.iter_mut().zip(res) {
            *o = if first { v } else { *o + v };
        }
    }
}

/// [`super::MatDot`] for the legacy types: segment by segment, the activation scales are
/// converted once and every weight row is dotted with up to [`MAX_ROWS`] activation rows, all
/// in one function so the short rows of a small model pay no call per row.
fn legacy_mat<W: Legacy>(w: &[u8], row_bytes: usize, a: &[u8], n_act: usize, out: &mut [f32], stride: usize) {
    let (Ok(w), Ok(a)) = (bytemuck::try_cast_slice::<u8, W>(w), bytemuck::try_cast_slice::<u8, W::Act>(a)) else {
        return;
    };
    let blocks = row_bytes / std::mem::size_of::<W>();
    if blocks == 0 {
        return;
    }
    let n_act = n_act.min(MAX_ROWS);
    let stride = stride.max(1);
    let seg = 4 * SEGMENT_GROUPS;
    let zero = [f32x4_splat(0.0); 2];
    let mut sc = [[zero; SEGMENT_GROUPS]; MAX_ROWS];
    let mut first = true;
    let mut s0 = 0;
    while s0 < blocks {
        let len = (blocks - s0).min(seg);
        let mut act: [&[W::Act]; MAX_ROWS] = [&[]; MAX_ROWS];
        for r in 0..n_act {
            act[r] = a.get(r * blocks + s0..r * blocks + s0 + len).unwrap_or(&[]);
            act_scales(act[r], &mut sc[r]);
        }
        let [sc0, sc1, sc2, sc3] = &sc;
        let span = s0..s0 + len;
        match n_act {
            1 => pass::<1, W>(w, blocks, span, [act[0]], [sc0], out, stride, first),
            2 => pass::<2, W>(w, blocks, span, [act[0], act[1]], [sc0, sc1], out, stride, first),
            3 => pass::<3, W>(w, blocks, span, [act[0], act[1], act[2]], [sc0, sc1, sc2], out, stride, first),
            4 => pass::<4, W>(w, blocks, span, act, [sc0, sc1, sc2, sc3], out, stride, first),
            _ => {}
        }
        first = false;
        s0 += len;
    }
}

/// Many-rows kernels of the simd128 flavour.
pub(super) fn mat_dot(ty: GgmlType) -> Option<MatDot> {
    Some(match ty {
        GgmlType::Q4_0 => legacy_mat::<BlockQ4_0> as MatDot,
        GgmlType::Q4_1 => legacy_mat::<BlockQ4_1>,
        GgmlType::Q5_0 => legacy_mat::<BlockQ5_0>,
        GgmlType::Q5_1 => legacy_mat::<BlockQ5_1>,
        GgmlType::Q8_0 => legacy_mat::<BlockQ8_0>,
        _ => return None,
    })
}

/// [`super::RowsDot`] over the many-rows kernel with one weight row.
fn legacy_rows<W: Legacy>(w: &[u8], a: &[u8], out: &mut [f32]) {
    if w.is_empty() {
        out.fill(0.0);
        return;
    }
    let n = out.len();
    legacy_mat::<W>(w, w.len(), a, n, out, n);
}

/// `sum_k mins[k] * (activation sum of sub-block k)` for 32-value sub-blocks.
#[inline(always)]
fn mins_dot(a: &BlockQ8K, mins: &[u8; 8]) -> i32 {
    mins.iter().enumerate().map(|(k, &m)| m as i32 * (a.bsum(2 * k) as i32 + a.bsum(2 * k + 1) as i32)).sum()
}

/// `scale * dot(v, a)` over one 32-value sub-block of unsigned values `v` (at most 31) given as
/// two vectors, against the 32 activation bytes at `a`: four i32 lanes. The i16 sums of four
/// products stay within `4 * 31 * 128`, and `i32x4.dot_i16x8` widens them times the scale.
#[inline(always)]
fn scaled_sub32(v: [v128; 2], a: &[i8; 32], scale: u8) -> v128 {
    let s = dot_i8_narrow16(v[0], load16(chunk16(a, 0)), v[1], load16(chunk16(a, 16)));
    i32x4_dot_i16x8(s, i16x8_splat(scale as i16))
}

/// Activation bytes `32k..32k + 32` of a Q8_K block (`k < 8`).
#[inline(always)]
fn act32(a: &BlockQ8K, k: usize) -> &[i8; 32] {
    a.qs[32 * k..32 * k + 32].try_into().expect("32 bytes")
}

fn q4k(w: &[BlockQ4K], a: &[BlockQ8K]) -> f32 {
    let mut acc = f32x4_splat(0.0);
    let mut mins = 0f32;
    let low = u8x16_splat(0x0f);
    for (wb, ab) in w.iter().zip(a) {
        let (sc, m) = wb.scales_mins();
        let mut isum = i32x4_splat(0);
        for j in 0..4 {
            let q = [load16(chunk16(&wb.qs, 32 * j)), load16(chunk16(&wb.qs, 32 * j + 16))];
            let lo = q.map(|q| v128_and(q, low));
            let hi = q.map(|q| u8x16_shr(q, 4));
            isum = i32x4_add(isum, scaled_sub32(lo, act32(ab, 2 * j), sc[2 * j]));
            isum = i32x4_add(isum, scaled_sub32(hi, act32(ab, 2 * j + 1), sc[2 * j + 1]));
        }
        let d = ab.d() * f16_le(wb.d);
        acc = f32x4_add(acc, f32x4_mul(f32x4_convert_i32x4(isum), f32x4_splat(d)));
        mins += ab.d() * f16_le(wb.dmin) * mins_dot(ab, &m) as f32;
    }
    hsum(acc) - mins
}

/// `0x10` in each byte of `qh` whose bit `b` is set, else 0 (`b < 8`).
#[inline(always)]
fn bit_as_16(qh: v128, b: u32) -> v128 {
    let moved = if b <= 4 { i8x16_shl(qh, 4 - b) } else { u8x16_shr(qh, b - 4) };
    v128_and(moved, u8x16_splat(0x10))
}

fn q5k(w: &[BlockQ5K], a: &[BlockQ8K]) -> f32 {
    let mut acc = f32x4_splat(0.0);
    let mut mins = 0f32;
    let low = u8x16_splat(0x0f);
    for (wb, ab) in w.iter().zip(a) {
        let (sc, m) = wb.scales_mins();
        let qh = [load16(chunk16(&wb.qh, 0)), load16(chunk16(&wb.qh, 16))];
        let mut isum = i32x4_splat(0);
        for j in 0..4 {
            let q = [load16(chunk16(&wb.qs, 32 * j)), load16(chunk16(&wb.qs, 32 * j + 16))];
            let b = 2 * j as u32;
            let lo = [0, 1].map(|k| v128_or(v128_and(q[k], low), bit_as_16(qh[k], b)));
            let hi = [0, 1].map(|k| v128_or(u8x16_shr(q[k], 4), bit_as_16(qh[k], b + 1)));
            isum = i32x4_add(isum, scaled_sub32(lo, act32(ab, 2 * j), sc[2 * j]));
            isum = i32x4_add(isum, scaled_sub32(hi, act32(ab, 2 * j + 1), sc[2 * j + 1]));
        }
        let d = ab.d() * f16_le(wb.d);
        acc = f32x4_add(acc, f32x4_mul(f32x4_convert_i32x4(isum), f32x4_splat(d)));
        mins += ab.d() * f16_le(wb.dmin) * mins_dot(ab, &m) as f32;
    }
    hsum(acc) - mins
}

fn q6k(w: &[BlockQ6K], a: &[BlockQ8K]) -> f32 {
    let mut acc = f32x4_splat(0.0);
    let low = u8x16_splat(0x0f);
    let three = u8x16_splat(3);
    let m32 = i8x16_splat(32);
    for (wb, ab) in w.iter().zip(a) {
        let mut isum = i32x4_splat(0);
        for h in 0..2 {
            // Bytes `l` and `l + 32` of this half's `ql` and byte `l` of its `qh` carry values
            // `l`, `l + 32`, `l + 64`, `l + 96`; sixteen values share a scale.
            for c in 0..2 {
                let l = 16 * c;
                let ql0 = load16(chunk16(&wb.ql, 64 * h + l));
                let ql1 = load16(chunk16(&wb.ql, 64 * h + 32 + l));
                let qh = load16(chunk16(&wb.qh, 32 * h + l));
                // Unsigned 0..63, then the offset removed: -32..=31.
                let v = [
                    v128_or(v128_and(ql0, low), i8x16_shl(v128_and(qh, three), 4)),
                    v128_or(v128_and(ql1, low), i8x16_shl(v128_and(u8x16_shr(qh, 2), three), 4)),
                    v128_or(u8x16_shr(ql0, 4), i8x16_shl(v128_and(u8x16_shr(qh, 4), three), 4)),
                    v128_or(u8x16_shr(ql1, 4), i8x16_shl(u8x16_shr(qh, 6), 4)),
                ];
                for (k, v) in v.into_iter().enumerate() {
                    let v = i8x16_sub(v, m32);
                    let av = load16(chunk16(&ab.qs, 128 * h + 32 * k + l));
                    // Two products of at most 32 * 128 each: inside i16.
                    let p = i16x8_add(i16x8_extmul_low_i8x16(v, av), i16x8_extmul_high_i8x16(v, av));
                    let s = wb.scales[8 * h + 2 * k + c];
                    isum = i32x4_add(isum, i32x4_dot_i16x8(p, i16x8_splat(s as i16)));
                }
            }
        }
        acc = f32x4_add(acc, f32x4_mul(f32x4_convert_i32x4(isum), f32x4_splat(ab.d() * f16_le(wb.d))));
    }
    hsum(acc)
}

/// The dot product of two rows of `W` values, four lanes at a time: `load(x, i)` gives the f32
/// values `i..i + 4` of row `x` and is only called with `i + 4` within both rows.
#[inline(always)]
fn float_dot<W: Copy>(w: &[W], a: &[W], load: impl Fn(&[W], usize) -> v128, get: impl Fn(W) -> f32) -> f32 {
    let n = w.len().min(a.len());
    let (w, a) = (&w[..n], &a[..n]);
    let mut acc = [f32x4_splat(0.0); 4];
    let mut i = 0;
    while i + 16 <= n {
        for (k, acc) in acc.iter_mut().enumerate() {
            *acc = f32x4_add(*acc, f32x4_mul(load(w, i + 4 * k), load(a, i + 4 * k)));
        }
        i += 16;
    }
    let mut sum = hsum(f32x4_add(f32x4_add(acc[0], acc[1]), f32x4_add(acc[2], acc[3])));
    for (x, y) in w[i..].iter().zip(&a[i..]) {
        sum += get(*x) * get(*y);
    }
    sum
}

fn f32_dot(w: &[BlockF32], a: &[BlockF32]) -> f32 {
    float_dot(
        w,
        a,
        |x, i| {
            let x: &[u8; 16] = bytemuck::cast_slice(&x[i..i + 4]).try_into().expect("16 bytes");
            load16(x)
        },
        BlockF32::get,
    )
}

/// Four halves (as u32 lanes, high bits zero) to f32, exactly as [`f16_le`].
#[inline(always)]
fn f16x4_to_f32(h: v128) -> v128 {
    let sign = i32x4_shl(v128_and(h, u32x4_splat(0x8000)), 16);
    let exp_mant = i32x4_shl(v128_and(h, u32x4_splat(0x7fff)), 13);
    let inf_nan = i32x4_eq(v128_and(h, u32x4_splat(0x7c00)), u32x4_splat(0x7c00));
    let special = v128_or(exp_mant, u32x4_splat(0x7f80_0000));
    let normal = f32x4_mul(exp_mant, f32x4_splat(f32::from_bits(0x7780_0000))); // 2^112
    v128_or(v128_bitselect(special, normal, inf_nan), sign)
}

/// Four 2-byte values `i..i + 4` of `x` zero-extended to u32 lanes (bytes `2i..2i + 8`).
#[inline(always)]
fn load_u16x4<W: bytemuck::Pod>(x: &[W], i: usize) -> v128 {
    let b: &[u8] = bytemuck::cast_slice(&x[i..i + 4]);
    let b: &[u8; 8] = b.try_into().expect("8 bytes");
    // SAFETY: `b` is 8 readable bytes; `v128_load64_zero` reads 8 bytes, no alignment needed.
    let v = unsafe { v128_load64_zero(b.as_ptr().cast()) };
    u32x4_extend_low_u16x8(v)
}

fn f16_dot(w: &[BlockF16], a: &[BlockF16]) -> f32 {
    float_dot(w, a, |x, i| f16x4_to_f32(load_u16x4(x, i)), BlockF16::get)
}

fn bf16_dot(w: &[BlockBF16], a: &[BlockBF16]) -> f32 {
    float_dot(w, a, |x, i| i32x4_shl(load_u16x4(x, i), 16), BlockBF16::get)
}
