//! aarch64 Advanced SIMD (NEON) dot products, with and without the `dotprod` extension.
//!
//! Integer parts follow the scalar reference exactly: every weight value fits a signed byte
//! (the unsigned types go up to 31, the offsets of the signed ones are subtracted first), and a
//! product of two signed bytes is summed either by `smull` + `sadalp` (widening to i16, then
//! pairwise into i32: nothing saturates or wraps) or by `sdot` (four products per i32 lane).
//! Only the order of the float additions differs from the reference.
//!
//! The integer kernels are written once ([`int_kernels`]) and instantiated twice: in [`plain`]
//! for `neon` and in [`with_dotprod`] for `neon,dotprod`, where the integer dot is `sdot` from
//! inline assembly (`vdotq_s32` is not stable). The legacy 32-value types unpack each weight block
//! once and dot it with up to [`super::MAX_ROWS`] activation rows, so a batched prefill does the
//! unpacking once per weight. F32 and F16 have no integer part and are shared by both flavours.
//!
//! The module invariant: its kernels are reachable only through [`rows_dot`], whose pointers the
//! dispatcher hands out only from a `Kernels` of flavour Neon (`dotprod == false`) or NeonDotprod
//! (`dotprod == true`), and such a `Kernels` exists only after `Flavour::supported` detected NEON,
//! respectively NEON and dotprod, at run time.

use std::arch::aarch64::*;

use super::{rows_kernel, LegacyAct, RowsDot, VecDot};
use crate::quant::*;

pub(super) fn rows_dot(ty: GgmlType, dotprod: bool) -> Option<RowsDot> {
    Some(match ty {
        GgmlType::F32 => rows_kernel!(BlockF32, f32_dot),
        GgmlType::F16 => rows_kernel!(BlockF16, f16_dot),
        _ if dotprod => return with_dotprod::rows_dot(ty),
        _ => return plain::rows_dot(ty),
    })
}

/// Loads 16 bytes of `s` from `at` (bounds-checked; the offsets are constants after inlining).
#[inline]
#[target_feature(enable = "neon")]
fn ld_u8(s: &[u8], at: usize) -> uint8x16_t {
    let b: &[u8; 16] = s[at..at + 16].try_into().expect("16 bytes");
    // SAFETY: `b` is 16 readable bytes; `vld1q_u8` has no alignment requirement beyond a byte.
    unsafe { vld1q_u8(b.as_ptr()) }
}

/// Loads 16 signed bytes of `s` from `at`.
#[inline]
#[target_feature(enable = "neon")]
fn ld_i8(s: &[i8], at: usize) -> int8x16_t {
    let b: &[i8; 16] = s[at..at + 16].try_into().expect("16 bytes");
    // SAFETY: `b` is 16 readable bytes; `vld1q_s8` has no alignment requirement beyond a byte.
    unsafe { vld1q_s8(b.as_ptr()) }
}

/// `acc` plus, in each i32 lane, the sum of four products of the signed bytes of `x` and `y`
/// (which four is irrelevant: every caller sums the lanes): plain NEON widening multiplies.
#[inline]
#[target_feature(enable = "neon")]
fn dot_neon(acc: int32x4_t, x: int8x16_t, y: int8x16_t) -> int32x4_t {
    let lo = vmull_s8(vget_low_s8(x), vget_low_s8(y));
    let hi = vmull_high_s8(x, y);
    vpadalq_s16(vpadalq_s16(acc, lo), hi)
}

/// As [`dot_neon`] with one `sdot` (FEAT_DotProd): lane `i` gains `sum_k x[4i + k] * y[4i + k]`.
#[inline]
#[target_feature(enable = "neon,dotprod")]
fn dot_sdot(acc: int32x4_t, x: int8x16_t, y: int8x16_t) -> int32x4_t {
    let mut acc = acc;
    // SAFETY: `sdot` only reads and writes the three vector registers named; this function is
    // compiled (and may only be called) with the dotprod feature enabled.
    unsafe {
        std::arch::asm!(
            "sdot {acc:v}.4s, {x:v}.16b, {y:v}.16b",
            acc = inout(vreg) acc,
            x = in(vreg) x,
            y = in(vreg) y,
            options(pure, nomem, nostack, preserves_flags),
        );
    }
    acc
}

/// Reinterprets unsigned bytes as signed (values below 128 keep their value).
#[inline]
#[target_feature(enable = "neon")]
fn s8(v: uint8x16_t) -> int8x16_t {
    vreinterpretq_s8_u8(v)
}

/// The low nibbles of `q` (values 0..16) and the high nibbles (values 16..32).
#[inline]
#[target_feature(enable = "neon")]
fn nibbles(q: &[u8; 16]) -> [uint8x16_t; 2] {
    let b = ld_u8(q, 0);
    [vandq_u8(b, vdupq_n_u8(0x0f)), vshrq_n_u8::<4>(b)]
}

/// 16 bytes, `0x10` where bit `i` of the 16-bit little-endian `bits` is set, else 0.
#[inline]
#[target_feature(enable = "neon")]
fn fifth_bits(bits: [u8; 2]) -> uint8x16_t {
    const BIT: [u8; 16] = [1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128];
    let spread = vcombine_u8(vdup_n_u8(bits[0]), vdup_n_u8(bits[1]));
    vandq_u8(vtstq_u8(spread, ld_u8(&BIT, 0)), vdupq_n_u8(0x10))
}

/// Unsigned values below 128 as signed bytes.
#[inline]
#[target_feature(enable = "neon")]
fn unsigned_values(v: [uint8x16_t; 2]) -> [int8x16_t; 2] {
    [s8(v[0]), s8(v[1])]
}

/// Unsigned values below 128 minus `offset`, as signed bytes.
#[inline]
#[target_feature(enable = "neon")]
fn offset_values(v: [uint8x16_t; 2], offset: i8) -> [int8x16_t; 2] {
    let o = vdupq_n_s8(offset);
    [vsubq_s8(s8(v[0]), o), vsubq_s8(s8(v[1]), o)]
}

/// A 32-value weight block type paired with a Q8_0 or Q8_1 activation block.
trait Legacy: VecDot<Act: LegacyAct> {
    /// The block's 32 values as signed bytes, offset removed, in activation order.
    ///
    /// # Safety
    /// Only called from NEON code (the CPU supports NEON).
    unsafe fn values(&self) -> [int8x16_t; 2];
    fn d(&self) -> f32;
    /// The block minimum (Q4_1, Q5_1), multiplied by the activation block's sum.
    fn min(&self) -> Option<f32>;
}

impl Legacy for BlockQ4_0 {
    #[inline(always)]
    unsafe fn values(&self) -> [int8x16_t; 2] {
        // SAFETY: NEON is present (caller's contract).
        unsafe { offset_values(nibbles(&self.qs), 8) }
    }
    fn d(&self) -> f32 {
        f16_le(self.d)
    }
    fn min(&self) -> Option<f32> {
        None
    }
}

impl Legacy for BlockQ4_1 {
    #[inline(always)]
    unsafe fn values(&self) -> [int8x16_t; 2] {
        // SAFETY: NEON is present (caller's contract).
        unsafe { unsigned_values(nibbles(&self.qs)) }
    }
    fn d(&self) -> f32 {
        f16_le(self.d)
    }
    fn min(&self) -> Option<f32> {
        Some(f16_le(self.m))
    }
}

/// The 32 five-bit values (0..32) of a Q5_0/Q5_1 block.
#[inline]
#[target_feature(enable = "neon")]
fn five_bit_values(qs: &[u8; 16], qh: [u8; 4]) -> [uint8x16_t; 2] {
    let [lo, hi] = nibbles(qs);
    [vorrq_u8(lo, fifth_bits([qh[0], qh[1]])), vorrq_u8(hi, fifth_bits([qh[2], qh[3]]))]
}

impl Legacy for BlockQ5_0 {
    #[inline(always)]
    unsafe fn values(&self) -> [int8x16_t; 2] {
        // SAFETY: NEON is present (caller's contract).
        unsafe { offset_values(five_bit_values(&self.qs, self.qh), 16) }
    }
    fn d(&self) -> f32 {
        f16_le(self.d)
    }
    fn min(&self) -> Option<f32> {
        None
    }
}

impl Legacy for BlockQ5_1 {
    #[inline(always)]
    unsafe fn values(&self) -> [int8x16_t; 2] {
        // SAFETY: NEON is present (caller's contract).
        unsafe { unsigned_values(five_bit_values(&self.qs, self.qh)) }
    }
    fn d(&self) -> f32 {
        f16_le(self.d)
    }
    fn min(&self) -> Option<f32> {
        Some(f16_le(self.m))
    }
}

impl Legacy for BlockQ8_0 {
    #[inline(always)]
    unsafe fn values(&self) -> [int8x16_t; 2] {
        // SAFETY: NEON is present (caller's contract).
        unsafe { [ld_i8(&self.qs, 0), ld_i8(&self.qs, 16)] }
    }
    fn d(&self) -> f32 {
        f16_le(self.d)
    }
    fn min(&self) -> Option<f32> {
        None
    }
}

/// `sum_k mins[k] * (activation sum of 32-value sub-block k)`, in i32 like the reference.
#[inline]
#[target_feature(enable = "neon")]
fn mins_dot(a: &BlockQ8K, mins: &[u8; 8]) -> i32 {
    // The 16 little-endian i16 sums of 16 values, pairwise widened: the 8 sub-block sums.
    let s_lo = vpaddlq_s16(vreinterpretq_s16_u8(ld_u8(&a.bsums, 0)));
    let s_hi = vpaddlq_s16(vreinterpretq_s16_u8(ld_u8(&a.bsums, 16)));
    let m = vmovl_u8(vcreate_u8(u64::from_le_bytes(*mins)));
    let m_lo = vreinterpretq_s32_u32(vmovl_u16(vget_low_u16(m)));
    let m_hi = vreinterpretq_s32_u32(vmovl_high_u16(m));
    vaddvq_s32(vmlaq_s32(vmulq_s32(s_lo, m_lo), s_hi, m_hi))
}

/// The integer kernels, for one integer dot product (`$dot`) and the target features it needs.
macro_rules! int_kernels {
    ($feature:literal, $dot:ident) => {
        use super::*;

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
                _ => return None,
            })
        }

        /// One weight row of a legacy type against `R` activation rows: each block is
        /// unpacked once.
        ///
        /// # Safety
        /// The CPU supports the target features of this instantiation.
        #[target_feature(enable = $feature)]
        unsafe fn legacy<const R: usize, W: Legacy>(w: &[W], a: [&[W::Act]; R]) -> [f32; R] {
            let mut acc = [vdupq_n_f32(0.0); R];
            let mut mins = [0f32; R];
            for (i, wb) in w.iter().enumerate() {
                // SAFETY: this function runs with NEON enabled.
                let [q0, q1] = unsafe { wb.values() };
                let dw = wb.d();
                let m = wb.min();
                for r in 0..R {
                    // Bounded by the shortest row: never reads past any slice.
                    let Some(ab) = a[r].get(i) else { continue };
                    let qa = LegacyAct::values(ab);
                    let p = $dot($dot(vdupq_n_s32(0), q0, ld_i8(qa, 0)), q1, ld_i8(qa, 16));
                    acc[r] = vfmaq_n_f32(acc[r], vcvtq_f32_s32(p), dw * LegacyAct::d(ab));
                    if let Some(m) = m {
                        mins[r] += m * LegacyAct::s(ab);
                    }
                }
            }
            let mut out = [0f32; R];
            for r in 0..R {
                out[r] = vaddvq_f32(acc[r]) + mins[r];
            }
            out
        }

        /// [`super::RowsDot`] over [`legacy`]: up to four activation rows per pass.
        fn legacy_rows<W: Legacy>(w: &[u8], a: &[u8], out: &mut [f32]) {
            let (Ok(w), Ok(a)) = (bytemuck::try_cast_slice::<u8, W>(w), bytemuck::try_cast_slice::<u8, W::Act>(a))
            else {
                return;
            };
            let n = w.len();
            if n == 0 {
                out.fill(0.0);
                return;
            }
            let mut rows = a.chunks_exact(n);
            let mut row = || rows.next().unwrap_or(&[]);
            // SAFETY: the CPU supports this flavour's features, the module invariant (see the header).
            unsafe {
                match out.len() {
                    1 => out.copy_from_slice(&legacy::<1, W>(w, [row()])),
                    2 => out.copy_from_slice(&legacy::<2, W>(w, [row(), row()])),
                    3 => out.copy_from_slice(&legacy::<3, W>(w, [row(), row(), row()])),
                    4 => out.copy_from_slice(&legacy::<4, W>(w, [row(), row(), row(), row()])),
                    _ => {}
                }
            }
        }

        /// `sum_j (lo_j . a_lo) * s_lo + (hi_j . a_hi) * s_hi` for 32 low-nibble and 32 high-nibble
        /// values (two 16-byte vectors each) and their 64 activations from `at`.
        #[inline]
        #[target_feature(enable = $feature)]
        fn sub_block_pair(
            isum: int32x4_t,
            lo: [uint8x16_t; 2],
            hi: [uint8x16_t; 2],
            a: &[i8; QK_K],
            at: usize,
            scales: [u8; 2],
        ) -> int32x4_t {
            let zero = vdupq_n_s32(0);
            let p_lo = $dot($dot(zero, s8(lo[0]), ld_i8(a, at)), s8(lo[1]), ld_i8(a, at + 16));
            let p_hi = $dot($dot(zero, s8(hi[0]), ld_i8(a, at + 32)), s8(hi[1]), ld_i8(a, at + 48));
            vmlaq_n_s32(vmlaq_n_s32(isum, p_lo, scales[0] as i32), p_hi, scales[1] as i32)
        }

        fn q4k(w: &[BlockQ4K], a: &[BlockQ8K]) -> f32 {
            // SAFETY: the CPU supports this flavour's features, the module invariant (see the header).
            unsafe { q4k_impl(w, a) }
        }

        /// # Safety
        /// The CPU supports the target features of this instantiation.
        #[target_feature(enable = $feature)]
        unsafe fn q4k_impl(w: &[BlockQ4K], a: &[BlockQ8K]) -> f32 {
            let mut acc = vdupq_n_f32(0.0);
            let mut mins = 0f32;
            let low = vdupq_n_u8(0x0f);
            for (wb, ab) in w.iter().zip(a) {
                let (sc, m) = wb.scales_mins();
                let mut isum = vdupq_n_s32(0);
                for j in 0..4 {
                    // Each 32 bytes of `qs` hold sub-blocks 2j (low nibbles) and 2j + 1 (high).
                    let q = [ld_u8(&wb.qs, 32 * j), ld_u8(&wb.qs, 32 * j + 16)];
                    let lo = q.map(|q| vandq_u8(q, low));
                    let hi = q.map(|q| vshrq_n_u8::<4>(q));
                    isum = sub_block_pair(isum, lo, hi, &ab.qs, 64 * j, [sc[2 * j], sc[2 * j + 1]]);
                }
                acc = vfmaq_n_f32(acc, vcvtq_f32_s32(isum), ab.d() * f16_le(wb.d));
                mins += ab.d() * f16_le(wb.dmin) * mins_dot(ab, &m) as f32;
            }
            vaddvq_f32(acc) - mins
        }

        fn q5k(w: &[BlockQ5K], a: &[BlockQ8K]) -> f32 {
            // SAFETY: the CPU supports this flavour's features, the module invariant (see the header).
            unsafe { q5k_impl(w, a) }
        }

        /// # Safety
        /// The CPU supports the target features of this instantiation.
        #[target_feature(enable = $feature)]
        unsafe fn q5k_impl(w: &[BlockQ5K], a: &[BlockQ8K]) -> f32 {
            let mut acc = vdupq_n_f32(0.0);
            let mut mins = 0f32;
            let low = vdupq_n_u8(0x0f);
            let bit4 = vdupq_n_u8(0x10);
            for (wb, ab) in w.iter().zip(a) {
                let (sc, m) = wb.scales_mins();
                // Bit 2j of `qh[l]` is the fifth bit of value l of sub-block 2j, bit 2j + 1 of
                // sub-block 2j + 1: shifted down by two per pair.
                let mut qh = [ld_u8(&wb.qh, 0), ld_u8(&wb.qh, 16)];
                let mut isum = vdupq_n_s32(0);
                for j in 0..4 {
                    let q = [ld_u8(&wb.qs, 32 * j), ld_u8(&wb.qs, 32 * j + 16)];
                    let lo = [0, 1].map(|k| vorrq_u8(vandq_u8(q[k], low), vandq_u8(vshlq_n_u8::<4>(qh[k]), bit4)));
                    let hi = [0, 1].map(|k| vorrq_u8(vshrq_n_u8::<4>(q[k]), vandq_u8(vshlq_n_u8::<3>(qh[k]), bit4)));
                    isum = sub_block_pair(isum, lo, hi, &ab.qs, 64 * j, [sc[2 * j], sc[2 * j + 1]]);
                    qh = qh.map(|h| vshrq_n_u8::<2>(h));
                }
                acc = vfmaq_n_f32(acc, vcvtq_f32_s32(isum), ab.d() * f16_le(wb.d));
                mins += ab.d() * f16_le(wb.dmin) * mins_dot(ab, &m) as f32;
            }
            vaddvq_f32(acc) - mins
        }

        fn q6k(w: &[BlockQ6K], a: &[BlockQ8K]) -> f32 {
            // SAFETY: the CPU supports this flavour's features, the module invariant (see the header).
            unsafe { q6k_impl(w, a) }
        }

        /// # Safety
        /// The CPU supports the target features of this instantiation.
        #[target_feature(enable = $feature)]
        unsafe fn q6k_impl(w: &[BlockQ6K], a: &[BlockQ8K]) -> f32 {
            let mut acc = vdupq_n_f32(0.0);
            let low = vdupq_n_u8(0x0f);
            let m32 = vdupq_n_s8(32);
            for (wb, ab) in w.iter().zip(a) {
                let mut isum = vdupq_n_s32(0);
                for h in 0..2 {
                    let sc = &wb.scales[8 * h..8 * h + 8];
                    // Values l and l + 32k of this half, for l in 16 * half .. 16 * half + 16.
                    for half in 0..2 {
                        let l0 = ld_u8(&wb.ql, 64 * h + 16 * half);
                        let l1 = ld_u8(&wb.ql, 64 * h + 32 + 16 * half);
                        let qh = ld_u8(&wb.qh, 32 * h + 16 * half);
                        let v = [
                            vorrq_u8(vandq_u8(l0, low), vshlq_n_u8::<4>(vandq_u8(qh, vdupq_n_u8(0x03)))),
                            vorrq_u8(vandq_u8(l1, low), vshlq_n_u8::<2>(vandq_u8(qh, vdupq_n_u8(0x0c)))),
                            vorrq_u8(vshrq_n_u8::<4>(l0), vandq_u8(qh, vdupq_n_u8(0x30))),
                            vorrq_u8(vshrq_n_u8::<4>(l1), vshrq_n_u8::<2>(vandq_u8(qh, vdupq_n_u8(0xc0)))),
                        ];
                        for (k, &v) in v.iter().enumerate() {
                            let av = ld_i8(&ab.qs, 128 * h + 32 * k + 16 * half);
                            let p = $dot(vdupq_n_s32(0), vsubq_s8(s8(v), m32), av);
                            isum = vmlaq_n_s32(isum, p, sc[2 * k + half] as i32);
                        }
                    }
                }
                acc = vfmaq_n_f32(acc, vcvtq_f32_s32(isum), ab.d() * f16_le(wb.d));
            }
            vaddvq_f32(acc)
        }
    };
}

/// The kernels with plain NEON integer dot products.
mod plain {
    int_kernels!("neon", dot_neon);
}

/// The kernels with `sdot` integer dot products.
mod with_dotprod {
    int_kernels!("neon,dotprod", dot_sdot);
}

/// Four f32 from 16 bytes of `s` at `at` (little-endian, as the blocks store them).
#[inline]
#[target_feature(enable = "neon")]
fn ld_f32(s: &[u8], at: usize) -> float32x4_t {
    vreinterpretq_f32_u8(ld_u8(s, at))
}

fn f32_dot(w: &[BlockF32], a: &[BlockF32]) -> f32 {
    // SAFETY: NEON is present, the module invariant (see the header).
    unsafe { f32_neon(w, a) }
}

#[target_feature(enable = "neon")]
fn f32_neon(w: &[BlockF32], a: &[BlockF32]) -> f32 {
    let n = w.len().min(a.len());
    let (wb, ab): (&[u8], &[u8]) = (bytemuck::cast_slice(&w[..n]), bytemuck::cast_slice(&a[..n]));
    let mut acc = [vdupq_n_f32(0.0); 4];
    for (x, y) in wb.chunks_exact(64).zip(ab.chunks_exact(64)) {
        for (k, acc) in acc.iter_mut().enumerate() {
            *acc = vfmaq_f32(*acc, ld_f32(x, 16 * k), ld_f32(y, 16 * k));
        }
    }
    let mut sum = vaddvq_f32(vaddq_f32(vaddq_f32(acc[0], acc[1]), vaddq_f32(acc[2], acc[3])));
    let done = n / 16 * 16;
    for (x, y) in w[done..n].iter().zip(&a[done..n]) {
        sum += x.get() * y.get();
    }
    sum
}

/// Four halves to f32, exactly as [`f16_le`] does it: the exponent and mantissa shifted into
/// place and rescaled by 2^112 (which also normalises subnormals), infinities and NaNs kept.
#[inline]
#[target_feature(enable = "neon")]
fn f16x4_to_f32(h: uint16x4_t) -> float32x4_t {
    let h = vmovl_u16(h);
    let sign = vshlq_n_u32::<16>(vandq_u32(h, vdupq_n_u32(0x8000)));
    let exp_mant = vshlq_n_u32::<13>(vandq_u32(h, vdupq_n_u32(0x7fff)));
    let special = vceqq_u32(vandq_u32(h, vdupq_n_u32(0x7c00)), vdupq_n_u32(0x7c00));
    let scaled = vmulq_f32(vreinterpretq_f32_u32(exp_mant), vdupq_n_f32(f32::from_bits(0x7780_0000)));
    let magnitude = vbslq_u32(special, vorrq_u32(exp_mant, vdupq_n_u32(0x7f80_0000)), vreinterpretq_u32_f32(scaled));
    vreinterpretq_f32_u32(vorrq_u32(magnitude, sign))
}

fn f16_dot(w: &[BlockF16], a: &[BlockF16]) -> f32 {
    // SAFETY: NEON is present, the module invariant (see the header).
    unsafe { f16_neon(w, a) }
}

#[target_feature(enable = "neon")]
fn f16_neon(w: &[BlockF16], a: &[BlockF16]) -> f32 {
    let n = w.len().min(a.len());
    let (wb, ab): (&[u8], &[u8]) = (bytemuck::cast_slice(&w[..n]), bytemuck::cast_slice(&a[..n]));
    let mut acc = [vdupq_n_f32(0.0); 4];
    for (x, y) in wb.chunks_exact(32).zip(ab.chunks_exact(32)) {
        for (k, acc) in acc.chunks_exact_mut(2).enumerate() {
            let (x, y) = (vreinterpretq_u16_u8(ld_u8(x, 16 * k)), vreinterpretq_u16_u8(ld_u8(y, 16 * k)));
            acc[0] = vfmaq_f32(acc[0], f16x4_to_f32(vget_low_u16(x)), f16x4_to_f32(vget_low_u16(y)));
            acc[1] = vfmaq_f32(acc[1], f16x4_to_f32(vget_high_u16(x)), f16x4_to_f32(vget_high_u16(y)));
        }
    }
    let mut sum = vaddvq_f32(vaddq_f32(vaddq_f32(acc[0], acc[1]), vaddq_f32(acc[2], acc[3])));
    let done = n / 16 * 16;
    for (x, y) in w[done..n].iter().zip(&a[done..n]) {
        sum += x.get() * y.get();
    }
    sum
}
