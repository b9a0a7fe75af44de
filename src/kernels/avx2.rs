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
//! AVX2 or AVX-512, which exists only after [`detected`] returned true.

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

use super::{rows_kernel, RowsDot, VecDot};
use crate::quant::*;

/// Whether the CPU runs this module's code.
pub(super) fn detected() -> bool {
    is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") && is_x86_feature_detected!("f16c")
}

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
trait Legacy: VecDot {
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
    fn act_qs(a: &Self::Act) -> &[i8; 32];
    /// The f16 bits of the activation scale `d` (low half) and of `s = d * sum(q)` (high half;
    /// 0 for Q8_0).
    fn act_bits(a: &Self::Act) -> u32;
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
    fn act_qs(a: &BlockQ8_0) -> &[i8; 32] {
        &a.qs
    }
    fn act_bits(a: &BlockQ8_0) -> u32 {
        u16::from_le_bytes(a.d) as u32
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
    fn act_qs(a: &BlockQ8_1) -> &[i8; 32] {
        &a.qs
    }
    fn act_bits(a: &BlockQ8_1) -> u32 {
        u32::from_le_bytes([a.d[0], a.d[1], a.s[0], a.s[1]])
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
    fn act_qs(a: &BlockQ8_0) -> &[i8; 32] {
        &a.qs
    }
    fn act_bits(a: &BlockQ8_0) -> u32 {
        u16::from_le_bytes(a.d) as u32
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
    fn act_qs(a: &BlockQ8_1) -> &[i8; 32] {
        &a.qs
    }
    fn act_bits(a: &BlockQ8_1) -> u32 {
        u32::from_le_bytes([a.d[0], a.d[1], a.s[0], a.s[1]])
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
    fn act_qs(a: &BlockQ8_0) -> &[i8; 32] {
        &a.qs
    }
    fn act_bits(a: &BlockQ8_0) -> u32 {
        u16::from_le_bytes(a.d) as u32
    }
}

/// Eight pairs of f16s (low and high halves of eight u32s) as two vectors of f32.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn f16_pairs(bits: &[u32; 8]) -> (__m256, __m256) {
    // SAFETY: `bits` is 32 readable bytes; unaligned load.
    let v = unsafe { _mm256_loadu_si256(bits.as_ptr().cast()) };
    let lo = _mm256_and_si256(v, _mm256_set1_epi32(0xffff));
    let hi = _mm256_srli_epi32::<16>(v);
    let pack = |x: __m256i| _mm_packus_epi32(_mm256_castsi256_si128(x), _mm256_extracti128_si256::<1>(x));
    (_mm256_cvtph_ps(pack(lo)), _mm256_cvtph_ps(pack(hi)))
}

/// One weight row of a legacy type against `R` activation rows.
///
/// Works through groups of eight blocks: the f16 scales of a group are converted together
/// (F16C), the block minimums times activation sums accumulate as one vector, and each weight
/// block is unpacked once for all `R` rows.
#[target_feature(enable = "avx2,fma,f16c")]
fn legacy<const R: usize, W: Legacy>(w: &[W], a: [&[W::Act]; R]) -> [f32; R] {
    // Bounded by the shortest row: never reads past any slice.
    let n = a.iter().fold(w.len(), |n, row| n.min(row.len()));
    let mut acc = [_mm256_setzero_ps(); R];
    let mut mins = [_mm256_setzero_ps(); R];
    let mut start = 0;
    while start < n {
        let cnt = (n - start).min(8);
        let wg = &w[start..start + cnt];
        let mut wbits = [0u32; 8];
        for (b, wb) in wbits.iter_mut().zip(wg) {
            *b = wb.scale_bits();
        }
        let (dw, mw) = f16_pairs(&wbits);
        let mut scales = [[0f32; 8]; R];
        for r in 0..R {
            let mut abits = [0u32; 8];
            for (b, ab) in abits.iter_mut().zip(&a[r][start..start + cnt]) {
                *b = W::act_bits(ab);
            }
            let (da, sa) = f16_pairs(&abits);
            // SAFETY: `scales[r]` is 32 writable bytes; unaligned store.
            unsafe { _mm256_storeu_ps(scales[r].as_mut_ptr(), _mm256_mul_ps(dw, da)) };
            mins[r] = _mm256_fmadd_ps(mw, sa, mins[r]);
        }
        for (k, wb) in wg.iter().enumerate() {
            // SAFETY: this function runs with AVX2 enabled.
            let q = unsafe { wb.values() };
            for r in 0..R {
                let av = load32(W::act_qs(&a[r][start + k]));
                let p = if W::SIGNED { dot_i8_i8(q, av) } else { dot_u8_i8(q, av) };
                acc[r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), _mm256_set1_ps(scales[r][k]), acc[r]);
            }
        }
        start += cnt;
    }
    let mut out = [0f32; R];
    for r in 0..R {
        out[r] = hsum(_mm256_add_ps(acc[r], mins[r]));
    }
    out
}

/// [`super::RowsDot`] over [`legacy`]: up to four activation rows per pass.
fn legacy_rows<W: Legacy>(w: &[u8], a: &[u8], out: &mut [f32]) {
    let (Ok(w), Ok(a)) = (bytemuck::try_cast_slice::<u8, W>(w), bytemuck::try_cast_slice::<u8, W::Act>(a)) else {
        return;
    };
    let n = w.len();
    if n == 0 {
        out.fill(0.0);
        return;
    }
    let mut rows = a.chunks_exact(n);
    let mut row = || rows.next().unwrap_or(&[]);
    // SAFETY: AVX2/FMA/F16C are present, the module invariant (see the header).
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

fn f32_dot(w: &[BlockF32], a: &[BlockF32]) -> f32 {
    // SAFETY: AVX2/FMA/F16C are present, the module invariant (see the header).
    unsafe { f32_avx2(w, a) }
}

#[target_feature(enable = "avx2,fma,f16c")]
fn f32_avx2(w: &[BlockF32], a: &[BlockF32]) -> f32 {
    let n = w.len().min(a.len());
    let (wp, ap) = (w.as_ptr().cast::<f32>(), a.as_ptr().cast::<f32>());
    let mut acc = [_mm256_setzero_ps(); 2];
    let mut i = 0;
    while i + 16 <= n {
        for (k, acc) in acc.iter_mut().enumerate() {
            // SAFETY: `i + 8k + 8 <= n`, within both slices (BlockF32 is 4 bytes, align 1).
            let (x, y) = unsafe { (_mm256_loadu_ps(wp.add(i + 8 * k)), _mm256_loadu_ps(ap.add(i + 8 * k))) };
            *acc = _mm256_fmadd_ps(x, y, *acc);
        }
        i += 16;
    }
    let mut sum = hsum(_mm256_add_ps(acc[0], acc[1]));
    for (x, y) in w[i..n].iter().zip(&a[i..n]) {
        sum += x.get() * y.get();
    }
    sum
}

fn f16_dot(w: &[BlockF16], a: &[BlockF16]) -> f32 {
    // SAFETY: AVX2/FMA/F16C are present, the module invariant (see the header).
    unsafe { f16_avx2(w, a) }
}

#[target_feature(enable = "avx2,fma,f16c")]
fn f16_avx2(w: &[BlockF16], a: &[BlockF16]) -> f32 {
    let n = w.len().min(a.len());
    let (wp, ap) = (w.as_ptr().cast::<u8>(), a.as_ptr().cast::<u8>());
    let mut acc = [_mm256_setzero_ps(); 2];
    let mut i = 0;
    while i + 16 <= n {
        for (k, acc) in acc.iter_mut().enumerate() {
            // SAFETY: values `i + 8k .. i + 8k + 8` (16 bytes) are within both slices.
            let (x, y) = unsafe {
                (
                    _mm256_cvtph_ps(_mm_loadu_si128(wp.add(2 * (i + 8 * k)).cast())),
                    _mm256_cvtph_ps(_mm_loadu_si128(ap.add(2 * (i + 8 * k)).cast())),
                )
            };
            *acc = _mm256_fmadd_ps(x, y, *acc);
        }
        i += 16;
    }
    let mut sum = hsum(_mm256_add_ps(acc[0], acc[1]));
    for (x, y) in w[i..n].iter().zip(&a[i..n]) {
        sum += x.get() * y.get();
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
        fn attend(
            q: &[f32],
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
