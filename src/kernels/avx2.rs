//! x86_64 AVX2 + FMA + F16C dot products.
//!
//! Integer parts follow the scalar reference exactly (`vpmaddubsw` of an unsigned and a signed
//! byte, widened by `vpmaddwd`; no intermediate can saturate for the value ranges of these block
//! types and of activations quantized by [`crate::quant`], which never produce -128). Only the
//! order of the float additions differs from the reference.
//!
//! The legacy 32-value types unpack each weight block once and dot it with up to
//! [`super::MAX_ROWS`] activation rows, so a batched prefill does the unpacking once per weight.
//!
//! Every function here is `#[target_feature(enable = "avx2,fma,f16c")]`; the only way to reach
//! them is [`rows_dot`], whose pointers the dispatcher hands out only from a `Kernels` of flavour
//! AVX2 or AVX-512, which exists only after [`detected`] returned true. The AVX-512 VNNI flavour
//! (`vpdpbusd` on 256-bit registers, AVX512-VL) adds [`rows_dot_vnni`] for the legacy types,
//! handed out only after [`detected_vnni`].

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

use super::{rows_kernel, LegacyAct, MatDot, RowsDot, VecDot, MAX_ROWS};
use crate::quant::*;

/// Whether the CPU runs this module's code.
pub(super) fn detected() -> bool {
    is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") && is_x86_feature_detected!("f16c")
}

/// Whether the CPU also has AVX-512 F/BW/VL and VNNI (on top of [`detected`]).
pub(super) fn detected_vnni() -> bool {
    detected()
        && is_x86_feature_detected!("avx512f")
        && is_x86_feature_detected!("avx512bw")
        && is_x86_feature_detected!("avx512vl")
        && is_x86_feature_detected!("avx512vnni")
}

/// The AVX-512 VNNI kernels: the legacy types with `vpdpbusd`; the rest as AVX2.
pub(super) fn rows_dot_vnni(ty: GgmlType) -> Option<RowsDot> {
    Some(match ty {
        GgmlType::Q4_0 => legacy_rows::<BlockQ4_0, true> as RowsDot,
        GgmlType::Q4_1 => legacy_rows::<BlockQ4_1, true>,
        GgmlType::Q5_0 => legacy_rows::<BlockQ5_0, true>,
        GgmlType::Q5_1 => legacy_rows::<BlockQ5_1, true>,
        GgmlType::Q8_0 => legacy_rows::<BlockQ8_0, true>,
        _ => return rows_dot(ty),
    })
}

pub(super) fn rows_dot(ty: GgmlType) -> Option<RowsDot> {
    Some(match ty {
        GgmlType::Q4_0 => legacy_rows::<BlockQ4_0, false> as RowsDot,
        GgmlType::Q4_1 => legacy_rows::<BlockQ4_1, false>,
        GgmlType::Q5_0 => legacy_rows::<BlockQ5_0, false>,
        GgmlType::Q5_1 => legacy_rows::<BlockQ5_1, false>,
        GgmlType::Q8_0 => legacy_rows::<BlockQ8_0, false>,
        GgmlType::Q4_K => rows_kernel!(BlockQ4K, q4k),
        GgmlType::Q5_K => rows_kernel!(BlockQ5K, q5k),
        GgmlType::Q6_K => rows_kernel!(BlockQ6K, q6k),
        GgmlType::F32 => rows_kernel!(BlockF32, float_dot::<BlockF32>),
        GgmlType::F16 => rows_kernel!(BlockF16, float_dot::<BlockF16>),
        _ => return None,
    })
}

/// Horizontal sum of eight floats.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn hsum(v: __m256) -> f32 {
    let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps::<1>(v));
    let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    let s = _mm_add_ss(s, _mm_movehdup_ps(s));
    _mm_cvtss_f32(s)
}

/// Eight i32 sums of four products each: unsigned bytes `u` times signed bytes `s`.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn dot_u8_i8(u: __m256i, s: __m256i) -> __m256i {
    _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1))
}

/// As [`dot_u8_i8`] for two signed operands: `|x| * (y * sign(x))`.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn dot_i8_i8(x: __m256i, y: __m256i) -> __m256i {
    dot_u8_i8(_mm256_sign_epi8(x, x), _mm256_sign_epi8(y, x))
}

/// 32 bytes: the low nibbles of `q` (values 0..16), then the high nibbles (values 16..32).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn nibbles(q: &[u8; 16]) -> __m256i {
    // SAFETY: `q` is 16 readable bytes; unaligned load.
    let b = unsafe { _mm_loadu_si128(q.as_ptr().cast()) };
    let both = _mm256_set_m128i(_mm_srli_epi16::<4>(b), b);
    _mm256_and_si256(both, _mm256_set1_epi8(0x0f))
}

/// 32 bytes, `0x10` where bit `i` of `bits` is set, else 0.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn fifth_bits(bits: u32) -> __m256i {
    // Byte i takes byte i / 8 of `bits`, then tests its bit i % 8.
    let spread = _mm256_shuffle_epi8(
        _mm256_set1_epi32(bits as i32),
        _mm256_set_epi64x(0x0303_0303_0303_0303, 0x0202_0202_0202_0202, 0x0101_0101_0101_0101, 0),
    );
    let bit = _mm256_set1_epi64x(0x8040_2010_0804_0201u64 as i64);
    let set = _mm256_cmpeq_epi8(_mm256_and_si256(spread, bit), bit);
    _mm256_and_si256(set, _mm256_set1_epi8(0x10))
}

/// Loads 32 signed activation bytes.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn load32(q: &[i8; 32]) -> __m256i {
    // SAFETY: `q` is 32 readable bytes; unaligned load.
    unsafe { _mm256_loadu_si256(q.as_ptr().cast()) }
}

/// A 32-value weight block type paired with a Q8_0 or Q8_1 activation block.
trait Legacy: VecDot<Act: LegacyAct> {
    /// Values are signed (dotted with [`dot_i8_i8`]) rather than unsigned.
    const SIGNED: bool;
    /// The block's 32 values as bytes, in activation order.
    ///
    /// # Safety
    /// Only called from AVX2 code (the CPU supports AVX2).
    unsafe fn values(&self) -> __m256i;
    /// The f16 bits of the scale `d` (low half) and of the minimum `m` (high half; 0 when the
    /// type has none).
    fn scale_bits(&self) -> u32;
}

impl Legacy for BlockQ4_0 {
    const SIGNED: bool = true;
    #[inline(always)]
    unsafe fn values(&self) -> __m256i {
        // SAFETY: AVX2 is present (caller's contract).
        unsafe { _mm256_sub_epi8(nibbles(&self.qs), _mm256_set1_epi8(8)) }
    }
    fn scale_bits(&self) -> u32 {
        u16::from_le_bytes(self.d) as u32
    }
}

impl Legacy for BlockQ4_1 {
    const SIGNED: bool = false;
    #[inline(always)]
    unsafe fn values(&self) -> __m256i {
        // SAFETY: AVX2 is present (caller's contract).
        unsafe { nibbles(&self.qs) }
    }
    fn scale_bits(&self) -> u32 {
        u32::from_le_bytes([self.d[0], self.d[1], self.m[0], self.m[1]])
    }
}

impl Legacy for BlockQ5_0 {
    const SIGNED: bool = true;
    #[inline(always)]
    unsafe fn values(&self) -> __m256i {
        // SAFETY: AVX2 is present (caller's contract).
        unsafe {
            let v = _mm256_or_si256(nibbles(&self.qs), fifth_bits(u32::from_le_bytes(self.qh)));
            _mm256_sub_epi8(v, _mm256_set1_epi8(16))
        }
    }
    fn scale_bits(&self) -> u32 {
        u16::from_le_bytes(self.d) as u32
    }
}

impl Legacy for BlockQ5_1 {
    const SIGNED: bool = false;
    #[inline(always)]
    unsafe fn values(&self) -> __m256i {
        // SAFETY: AVX2 is present (caller's contract).
        unsafe { _mm256_or_si256(nibbles(&self.qs), fifth_bits(u32::from_le_bytes(self.qh))) }
    }
    fn scale_bits(&self) -> u32 {
        u32::from_le_bytes([self.d[0], self.d[1], self.m[0], self.m[1]])
    }
}

impl Legacy for BlockQ8_0 {
    const SIGNED: bool = true;
    #[inline(always)]
    unsafe fn values(&self) -> __m256i {
        // SAFETY: AVX2 is present (caller's contract).
        unsafe { load32(&self.qs) }
    }
    fn scale_bits(&self) -> u32 {
        u16::from_le_bytes(self.d) as u32
    }
}

/// `f(b)` for up to eight blocks as a vector (zero lanes past `blocks.len()`).
///
/// Built from eight scalar loads of a full group: written as a loop, the compiler turns it into
/// a masked `vpgatherdd` when AVX-512 is enabled, which is several times slower on AMD. A short
/// group (a row's tail) is first copied into eight zeroed blocks.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn gather8<B>(blocks: &[B], f: impl Fn(&B) -> u32) -> __m256i {
    match blocks {
        [b0, b1, b2, b3, b4, b5, b6, b7, ..] => {
            let v = [f(b0), f(b1), f(b2), f(b3), f(b4), f(b5), f(b6), f(b7)].map(|x| x as i32);
            _mm256_setr_epi32(v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7])
        }
        short => gather_short(short, f),
    }
}

/// [`gather8`] of fewer than eight blocks (a row's tail). Never inlined, so it is compiled
/// with AVX2 only, where the compiler does not form gathers.
#[inline(never)]
#[target_feature(enable = "avx2,fma,f16c")]
fn gather_short<B>(blocks: &[B], f: impl Fn(&B) -> u32) -> __m256i {
    let g = |i: usize| blocks.get(i).map_or(0, |b| f(b) as i32);
    _mm256_setr_epi32(g(0), g(1), g(2), g(3), g(4), g(5), g(6), g(7))
}

/// Eight pairs of f16s (low and high halves of eight u32s) as two vectors of f32.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn f16_pairs(v: __m256i) -> (__m256, __m256) {
    let lo = _mm256_and_si256(v, _mm256_set1_epi32(0xffff));
    let hi = _mm256_srli_epi32::<16>(v);
    let pack = |x: __m256i| _mm_packus_epi32(_mm256_castsi256_si128(x), _mm256_extracti128_si256::<1>(x));
    (_mm256_cvtph_ps(pack(lo)), _mm256_cvtph_ps(pack(hi)))
}

/// Eight i32 sums of four products each, unsigned bytes `u` times signed bytes `s`, by one
/// AVX-512 VNNI `vpdpbusd` (no 16-bit intermediate).
#[inline]
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
fn dot_u8_i8_vnni(u: __m256i, s: __m256i) -> __m256i {
    _mm256_dpbusd_epi32(_mm256_setzero_si256(), u, s)
}

/// As [`dot_u8_i8_vnni`] for two signed operands: `|x| * (y * sign(x))`.
#[inline]
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
fn dot_i8_i8_vnni(x: __m256i, y: __m256i) -> __m256i {
    dot_u8_i8_vnni(_mm256_sign_epi8(x, x), _mm256_sign_epi8(y, x))
}

/// Stamps the legacy kernel for one instruction-set choice: the function name, its target
/// features, and the unsigned-by-signed and signed-by-signed byte dot products it uses.
macro_rules! legacy_kernel {
    ($name:ident, $features:literal, $dot_u:ident, $dot_s:ident) => {
        /// One weight row of a legacy type against `R` activation rows, whose scales per group
        /// of eight blocks were converted beforehand ([`act_scales`]: the same for every row).
        ///
        /// Works through groups of eight blocks: the f16 scales of a group are converted together
        /// (F16C), the block minimums times activation sums accumulate as one vector, and each
        /// weight block is unpacked once for all `R` rows.
        #[inline]
        #[target_feature(enable = $features)]
        fn $name<const R: usize, W: Legacy>(w: &[W], a: [&[W::Act]; R], sc: [&[[__m256; 2]]; R]) -> [f32; R] {
            // Bounded by the shortest row: never reads past any slice.
            let n = a.iter().fold(w.len(), |n, row| n.min(row.len()));
            let n = sc.iter().fold(n, |n, s| n.min(8 * s.len()));
            let mut acc0 = [_mm256_setzero_ps(); R];
            let mut acc1 = [_mm256_setzero_ps(); R];
            let mut mins = [_mm256_setzero_ps(); R];
            let mut start = 0;
            while start < n {
                let cnt = (n - start).min(8);
                let wg = &w[start..start + cnt];
                let (dw, mw) = f16_pairs(gather8(wg, W::scale_bits));
                let mut scales = [[0f32; 8]; R];
                for r in 0..R {
                    let [da, sa] = sc[r][start / 8];
                    // SAFETY: `scales[r]` is 32 writable bytes; unaligned store.
                    unsafe { _mm256_storeu_ps(scales[r].as_mut_ptr(), _mm256_mul_ps(dw, da)) };
                    mins[r] = _mm256_fmadd_ps(mw, sa, mins[r]);
                }
                // Two accumulators per row (even and odd blocks): one FMA chain would bound a
                // single row to one block per FMA latency.
                for (pair, wp) in wg.chunks(2).enumerate() {
                    for (j, wb) in wp.iter().enumerate() {
                        let k = 2 * pair + j;
                        // SAFETY: this function runs with AVX2 enabled.
                        let q = unsafe { wb.values() };
                        for r in 0..R {
                            let av = load32(LegacyAct::values(&a[r][start + k]));
                            let p = if W::SIGNED { $dot_s(q, av) } else { $dot_u(q, av) };
                            let prod = _mm256_mul_ps(_mm256_cvtepi32_ps(p), _mm256_set1_ps(scales[r][k]));
                            if j == 0 {
                                acc0[r] = _mm256_add_ps(prod, acc0[r]);
                            } else {
                                acc1[r] = _mm256_add_ps(prod, acc1[r]);
                            }
                        }
                    }
                }
                start += cnt;
            }
            let mut out = [0f32; R];
            for r in 0..R {
                out[r] = hsum(_mm256_add_ps(_mm256_add_ps(acc0[r], acc1[r]), mins[r]));
            }
            out
        }
    };
}

legacy_kernel!(legacy, "avx2,fma,f16c", dot_u8_i8, dot_i8_i8);
legacy_kernel!(legacy_vnni, "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni", dot_u8_i8_vnni, dot_i8_i8_vnni);

/// Most groups of eight blocks whose activation scales are converted ahead at once (a segment
/// of 8192 values); longer rows are processed segment by segment.
const SEGMENT_GROUPS: usize = 32;

/// The activation scales `d` and sums `s` of one activation row, per group of eight blocks.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn act_scales<W: Legacy>(a: &[W::Act], out: &mut [[__m256; 2]; SEGMENT_GROUPS]) -> usize {
    let mut n = 0;
    for (o, g) in out.iter_mut().zip(a.chunks(8)) {
        let (d, s) = f16_pairs(gather8(g, LegacyAct::scale_bits));
        *o = [d, s];
        n += 1;
    }
    n
}

/// Stamps the many-rows loop over a legacy kernel: every weight row of `w` against the same
/// activation rows, inside one target-feature context so the per-row work is inlined (rows of
/// a small model are only a few dozen blocks: a call per row would cost as much as the row),
/// with the activation scales converted once per segment rather than once per row.
macro_rules! legacy_matrix {
    ($name:ident, $features:literal, $kernel:ident) => {
        mod $name {
            use super::*;

            /// Every weight row against `R` activation rows over blocks `s0..s0 + len`.
            #[allow(clippy::too_many_arguments)]
            #[inline]
            #[target_feature(enable = $features)]
            fn pass<const R: usize, W: Legacy>(
                w: &[W],
                blocks: usize,
                span: std::ops::Range<usize>,
                act: [&[W::Act]; R],
                sc: [&[[__m256; 2]]; R],
                out: &mut [f32],
                stride: usize,
                first: bool,
            ) {
                for (wr, o) in w.chunks_exact(blocks).zip(out.chunks_mut(stride)) {
                    let res = $kernel::<R, W>(wr.get(span.clone()).unwrap_or(&[]), act, sc);
                    for (o, v) in o.iter_mut().zip(res) {
                        *o = if first { v } else { *o + v };
                    }
                }
            }

            #[target_feature(enable = $features)]
            pub(super) fn run<W: Legacy>(
                w: &[W],
                blocks: usize,
                a: &[W::Act],
                n_act: usize,
                out: &mut [f32],
                stride: usize,
            ) {
                let n_act = n_act.min(MAX_ROWS);
                let stride = stride.max(1);
                let seg = 8 * SEGMENT_GROUPS;
                let zero = [_mm256_setzero_ps(); 2];
                let mut sc = [[zero; SEGMENT_GROUPS]; MAX_ROWS];
                let mut first = true;
                let mut s0 = 0;
                while s0 < blocks {
                    let len = (blocks - s0).min(seg);
                    let mut act: [&[W::Act]; MAX_ROWS] = [&[]; MAX_ROWS];
                    for r in 0..n_act {
                        act[r] = a.get(r * blocks + s0..r * blocks + s0 + len).unwrap_or(&[]);
                        act_scales::<W>(act[r], &mut sc[r]);
                    }
                    let [sc0, sc1, sc2, sc3] = &sc;
                    let span = s0..s0 + len;
                    match n_act {
                        1 => pass::<1, W>(w, blocks, span, [act[0]], [sc0], out, stride, first),
                        2 => pass::<2, W>(w, blocks, span, [act[0], act[1]], [sc0, sc1], out, stride, first),
                        3 => {
                            pass::<3, W>(w, blocks, span, [act[0], act[1], act[2]], [sc0, sc1, sc2], out, stride, first)
                        }
                        4 => pass::<4, W>(w, blocks, span, act, [sc0, sc1, sc2, sc3], out, stride, first),
                        _ => {}
                    }
                    first = false;
                    s0 += len;
                }
            }
        }
    };
}

legacy_matrix!(legacy_matrix_avx2, "avx2,fma,f16c", legacy);
legacy_matrix!(legacy_matrix_vnni, "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni", legacy_vnni);

/// [`super::MatDot`] over [`legacy_matrix_avx2`] (or the VNNI one with `VNNI`).
fn legacy_mat<W: Legacy, const VNNI: bool>(
    w: &[u8],
    row_bytes: usize,
    a: &[u8],
    n_act: usize,
    out: &mut [f32],
    stride: usize,
) {
    let (Ok(w), Ok(a)) = (bytemuck::try_cast_slice::<u8, W>(w), bytemuck::try_cast_slice::<u8, W::Act>(a)) else {
        return;
    };
    let blocks = row_bytes / std::mem::size_of::<W>();
    if blocks == 0 {
        return;
    }
    if VNNI {
        // SAFETY: `VNNI = true` pointers are handed out only by `mat_dot::<true>` and
        // `rows_dot_vnni`, which the dispatcher calls for a `Kernels` of flavour AVX-512 VNNI,
        // constructed only after `detected_vnni`.
        unsafe { legacy_matrix_vnni::run::<W>(w, blocks, a, n_act, out, stride) }
    } else {
        // SAFETY: AVX2/FMA/F16C are present, the module invariant (see the header).
        unsafe { legacy_matrix_avx2::run::<W>(w, blocks, a, n_act, out, stride) }
    }
}

/// Many-rows kernels of the AVX2 flavour (`VNNI = false`) or the AVX-512 VNNI one.
pub(super) fn mat_dot<const VNNI: bool>(ty: GgmlType) -> Option<MatDot> {
    Some(match ty {
        GgmlType::Q4_0 => legacy_mat::<BlockQ4_0, VNNI> as MatDot,
        GgmlType::Q4_1 => legacy_mat::<BlockQ4_1, VNNI>,
        GgmlType::Q5_0 => legacy_mat::<BlockQ5_0, VNNI>,
        GgmlType::Q5_1 => legacy_mat::<BlockQ5_1, VNNI>,
        GgmlType::Q8_0 => legacy_mat::<BlockQ8_0, VNNI>,
        _ => return None,
    })
}

/// [`super::RowsDot`] over the many-rows kernel with one weight row.
fn legacy_rows<W: Legacy, const VNNI: bool>(w: &[u8], a: &[u8], out: &mut [f32]) {
    if w.is_empty() {
        out.fill(0.0);
        return;
    }
    let n = out.len();
    legacy_mat::<W, VNNI>(w, w.len(), a, n, out, n);
}

/// `sum_k mins[k] * (activation sum of sub-block k)` for 32-value sub-blocks.
#[inline(always)]
fn mins_dot(a: &BlockQ8K, mins: &[u8; 8]) -> i32 {
    mins.iter().enumerate().map(|(k, &m)| m as i32 * (a.bsum(2 * k) as i32 + a.bsum(2 * k + 1) as i32)).sum()
}

fn q4k(w: &[BlockQ4K], a: &[BlockQ8K]) -> f32 {
    // SAFETY: AVX2/FMA/F16C are present, the module invariant (see the header).
    unsafe { q4k_avx2(w, a) }
}

#[target_feature(enable = "avx2,fma,f16c")]
fn q4k_avx2(w: &[BlockQ4K], a: &[BlockQ8K]) -> f32 {
    let mut acc = _mm256_setzero_ps();
    let mut mins = 0f32;
    let low = _mm256_set1_epi8(0x0f);
    for (wb, ab) in w.iter().zip(a) {
        let (sc, m) = wb.scales_mins();
        let mut isum = _mm256_setzero_si256();
        for j in 0..4 {
            // SAFETY: `qs[32j..32j + 32]` is in bounds (qs has 128 bytes); unaligned load.
            let q = unsafe { _mm256_loadu_si256(wb.qs.as_ptr().add(32 * j).cast()) };
            let lo = _mm256_and_si256(q, low);
            let hi = _mm256_and_si256(_mm256_srli_epi16::<4>(q), low);
            let (a_lo, a_hi) = act32(ab, 2 * j);
            let p_lo = _mm256_madd_epi16(_mm256_maddubs_epi16(lo, a_lo), _mm256_set1_epi16(sc[2 * j] as i16));
            let p_hi = _mm256_madd_epi16(_mm256_maddubs_epi16(hi, a_hi), _mm256_set1_epi16(sc[2 * j + 1] as i16));
            isum = _mm256_add_epi32(isum, _mm256_add_epi32(p_lo, p_hi));
        }
        let d = ab.d() * f16_le(wb.d);
        acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum), _mm256_set1_ps(d), acc);
        mins += ab.d() * f16_le(wb.dmin) * mins_dot(ab, &m) as f32;
    }
    hsum(acc) - mins
}

/// Activation bytes of 32-value sub-blocks `k` and `k + 1` (`k <= 6`).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn act32(a: &BlockQ8K, k: usize) -> (__m256i, __m256i) {
    let k = k.min(6);
    // SAFETY: `32k + 64 <= 256 = qs.len()`; unaligned loads.
    unsafe {
        (
            _mm256_loadu_si256(a.qs.as_ptr().add(32 * k).cast()),
            _mm256_loadu_si256(a.qs.as_ptr().add(32 * k + 32).cast()),
        )
    }
}

fn q5k(w: &[BlockQ5K], a: &[BlockQ8K]) -> f32 {
    // SAFETY: AVX2/FMA/F16C are present, the module invariant (see the header).
    unsafe { q5k_avx2(w, a) }
}

#[target_feature(enable = "avx2,fma,f16c")]
fn q5k_avx2(w: &[BlockQ5K], a: &[BlockQ8K]) -> f32 {
    let mut acc = _mm256_setzero_ps();
    let mut mins = 0f32;
    let low = _mm256_set1_epi8(0x0f);
    for (wb, ab) in w.iter().zip(a) {
        let (sc, m) = wb.scales_mins();
        // SAFETY: `qh` is 32 readable bytes; unaligned load.
        let qh = unsafe { _mm256_loadu_si256(wb.qh.as_ptr().cast()) };
        let mut isum = _mm256_setzero_si256();
        for j in 0..4 {
            // SAFETY: `qs[32j..32j + 32]` is in bounds (qs has 128 bytes); unaligned load.
            let q = unsafe { _mm256_loadu_si256(wb.qs.as_ptr().add(32 * j).cast()) };
            let bit_lo = _mm256_set1_epi8(1 << (2 * j));
            let bit_hi = _mm256_set1_epi8((2u8 << (2 * j)) as i8);
            let h_lo = _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(qh, bit_lo), bit_lo), _mm256_set1_epi8(16));
            let h_hi = _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(qh, bit_hi), bit_hi), _mm256_set1_epi8(16));
            let lo = _mm256_or_si256(_mm256_and_si256(q, low), h_lo);
            let hi = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16::<4>(q), low), h_hi);
            let (a_lo, a_hi) = act32(ab, 2 * j);
            let p_lo = _mm256_madd_epi16(_mm256_maddubs_epi16(lo, a_lo), _mm256_set1_epi16(sc[2 * j] as i16));
            let p_hi = _mm256_madd_epi16(_mm256_maddubs_epi16(hi, a_hi), _mm256_set1_epi16(sc[2 * j + 1] as i16));
            isum = _mm256_add_epi32(isum, _mm256_add_epi32(p_lo, p_hi));
        }
        let d = ab.d() * f16_le(wb.d);
        acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum), _mm256_set1_ps(d), acc);
        mins += ab.d() * f16_le(wb.dmin) * mins_dot(ab, &m) as f32;
    }
    hsum(acc) - mins
}

fn q6k(w: &[BlockQ6K], a: &[BlockQ8K]) -> f32 {
    // SAFETY: AVX2/FMA/F16C are present, the module invariant (see the header).
    unsafe { q6k_avx2(w, a) }
}

/// Two 16-value scales as an i16 vector: `s0` for the first eight pair-sums, `s1` for the rest.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn scale_pair(s0: i8, s1: i8) -> __m256i {
    _mm256_set_m128i(_mm_set1_epi16(s1 as i16), _mm_set1_epi16(s0 as i16))
}

#[target_feature(enable = "avx2,fma,f16c")]
fn q6k_avx2(w: &[BlockQ6K], a: &[BlockQ8K]) -> f32 {
    let mut acc = _mm256_setzero_ps();
    let low = _mm256_set1_epi8(0x0f);
    let three = _mm256_set1_epi8(3);
    let m32 = _mm256_set1_epi8(32);
    for (wb, ab) in w.iter().zip(a) {
        let mut isum = _mm256_setzero_si256();
        for h in 0..2 {
            // SAFETY: `ql[64h..64h + 64]`, `qh[32h..32h + 32]` are in bounds (128 and 64 bytes).
            let (ql0, ql1, qh) = unsafe {
                (
                    _mm256_loadu_si256(wb.ql.as_ptr().add(64 * h).cast()),
                    _mm256_loadu_si256(wb.ql.as_ptr().add(64 * h + 32).cast()),
                    _mm256_loadu_si256(wb.qh.as_ptr().add(32 * h).cast()),
                )
            };
            // Unsigned 0..63 values; the -32 offset is subtracted as 32 * (activation sum).
            let v = [
                _mm256_or_si256(_mm256_and_si256(ql0, low), _mm256_slli_epi16::<4>(_mm256_and_si256(qh, three))),
                _mm256_or_si256(
                    _mm256_and_si256(ql1, low),
                    _mm256_slli_epi16::<4>(_mm256_and_si256(_mm256_srli_epi16::<2>(qh), three)),
                ),
                _mm256_or_si256(
                    _mm256_and_si256(_mm256_srli_epi16::<4>(ql0), low),
                    _mm256_slli_epi16::<4>(_mm256_and_si256(_mm256_srli_epi16::<4>(qh), three)),
                ),
                _mm256_or_si256(
                    _mm256_and_si256(_mm256_srli_epi16::<4>(ql1), low),
                    _mm256_slli_epi16::<4>(_mm256_and_si256(_mm256_srli_epi16::<6>(qh), three)),
                ),
            ];
            let sc = &wb.scales[8 * h..8 * h + 8];
            for (k, &v) in v.iter().enumerate() {
                // SAFETY: `qs[128h + 32k ..][..32]` is in bounds (qs has 256 bytes).
                let av = unsafe { _mm256_loadu_si256(ab.qs.as_ptr().add(128 * h + 32 * k).cast()) };
                let p = _mm256_sub_epi16(_mm256_maddubs_epi16(v, av), _mm256_maddubs_epi16(m32, av));
                isum = _mm256_add_epi32(isum, _mm256_madd_epi16(p, scale_pair(sc[2 * k], sc[2 * k + 1])));
            }
        }
        acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum), _mm256_set1_ps(ab.d() * f16_le(wb.d)), acc);
    }
    hsum(acc)
}

/// A float block type whose values load eight at a time as f32.
trait FloatBlock: Block {
    /// Eight values from `p` as f32.
    ///
    /// # Safety
    /// `p` points to eight readable values; AVX2/F16C are present.
    unsafe fn load8(p: *const Self) -> __m256;
    fn value(&self) -> f32;
}

impl FloatBlock for BlockF32 {
    #[inline(always)]
    unsafe fn load8(p: *const Self) -> __m256 {
        // SAFETY: the caller's contract (BlockF32 is 4 bytes, align 1: an unaligned load).
        unsafe { _mm256_loadu_ps(p.cast()) }
    }
    fn value(&self) -> f32 {
        self.get()
    }
}

impl FloatBlock for BlockF16 {
    #[inline(always)]
    unsafe fn load8(p: *const Self) -> __m256 {
        // SAFETY: the caller's contract (16 readable bytes; F16C converts them).
        unsafe { _mm256_cvtph_ps(_mm_loadu_si128(p.cast())) }
    }
    fn value(&self) -> f32 {
        self.get()
    }
}

fn float_dot<B: FloatBlock>(w: &[B], a: &[B]) -> f32 {
    // SAFETY: AVX2/FMA/F16C are present, the module invariant (see the header).
    unsafe { float_avx2(w, a) }
}

#[target_feature(enable = "avx2,fma,f16c")]
fn float_avx2<B: FloatBlock>(w: &[B], a: &[B]) -> f32 {
    let n = w.len().min(a.len());
    let (wp, ap) = (w.as_ptr(), a.as_ptr());
    let mut acc = [_mm256_setzero_ps(); 2];
    let mut i = 0;
    while i + 16 <= n {
        for (k, acc) in acc.iter_mut().enumerate() {
            // SAFETY: values `i + 8k .. i + 8k + 8` are within both slices (`i + 16 <= n`).
            let (x, y) = unsafe { (B::load8(wp.add(i + 8 * k)), B::load8(ap.add(i + 8 * k))) };
            *acc = _mm256_fmadd_ps(x, y, *acc);
        }
        i += 16;
    }
    let mut sum = hsum(_mm256_add_ps(acc[0], acc[1]));
    for (x, y) in w[i..n].iter().zip(&a[i..n]) {
        sum += x.value() * y.value();
    }
    sum
}

/// The portable row operations of [`super::vector`], compiled with AVX2 and FMA enabled.
pub(super) mod vec {
    use crate::error::QuantError;
    use crate::quant::GgmlType;

    macro_rules! with_avx2 {
        ($(fn $name:ident($($arg:ident: $ty:ty),*) $(-> $ret:ty)?;)*) => {
            mod tf {
                use super::*;
                $(
                    #[allow(clippy::too_many_arguments)]
                    #[target_feature(enable = "avx2,fma,f16c")]
                    pub(super) fn $name($($arg: $ty),*) $(-> $ret)? {
                        super::super::super::vector::$name($($arg),*)
                    }
                )*
            }
            $(
                #[allow(clippy::too_many_arguments)]
                pub(in crate::kernels) fn $name($($arg: $ty),*) $(-> $ret)? {
                    // SAFETY: AVX2/FMA/F16C are present, the module invariant (see the header).
                    unsafe { tf::$name($($arg),*) }
                }
            )*
        };
    }

    with_avx2! {
        fn silu_mul(gate: &mut [f32], up: &[f32]);
        fn gelu_tanh(x: &mut [f32]);
        fn gelu_erf(x: &mut [f32]);
        fn rms_norm(x: &[f32], weight: &[f32], eps: f32, out: &mut [f32]);
        fn softmax(x: &mut [f32]);
        fn add_assign(acc: &mut [f32], x: &[f32]);
        fn mul_assign(acc: &mut [f32], x: &[f32]);
        fn rope_head(head: &mut [f32], cos: &[f32], sin: &[f32], neox: bool);
        fn attend_group(
            q: &[f32],
            head_dim: usize,
            k_cache: &[f32],
            v_cache: &[f32],
            kv_stride: usize,
            kv_offset: usize,
            n_past: usize,
            scores: &mut [f32],
            out: &mut [f32]
        );
        fn quantize_activations(weight_ty: GgmlType, x: &[f32], out: &mut [u8]) -> Result<(), QuantError>;
    }
}
