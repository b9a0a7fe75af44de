//! The 256-value "K" super-block types: Q2_K … Q6_K (weights) and Q8_K (their activations).
//!
//! Each super-block splits into sub-blocks (16 of 16 values, or 8 of 32) with small integer
//! scales (and mins) multiplied by the super-block's f16 `d` (and `dmin`). The `values()` and
//! `scales()` accessors decode the packed bits into plain integers; dequantization and the
//! reference dot products in [`crate::kernels`] are both written over them.
//!
//! Value order: within each 128-value half, ggml packs several bit-planes of the same 32 (or 64)
//! bytes; the accessors document the mapping from value index to byte and shift.

use bytemuck::{Pod, Zeroable};

use super::{f16_le, Block, GgmlType, QuantizeBlock};

/// Values per K super-block.
pub const QK_K: usize = 256;

/// 2-bit values with 4-bit scale and min per 16 values: `d * sc * q - dmin * m`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable, PartialEq)]
pub struct BlockQ2K {
    pub scales: [u8; QK_K / 16],
    pub qs: [u8; QK_K / 4],
    pub d: [u8; 2],
    pub dmin: [u8; 2],
}

/// 3-bit values (2 low bits + a high-bit mask) with 6-bit signed scales per 16 values.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable, PartialEq)]
pub struct BlockQ3K {
    pub hmask: [u8; QK_K / 8],
    pub qs: [u8; QK_K / 4],
    pub scales: [u8; 12],
    pub d: [u8; 2],
}

/// 4-bit values with 6-bit scale and min per 32 values: `d * sc * q - dmin * m`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable, PartialEq)]
pub struct BlockQ4K {
    pub d: [u8; 2],
    pub dmin: [u8; 2],
    pub scales: [u8; 12],
    pub qs: [u8; QK_K / 2],
}

/// 5-bit values (4 low bits + a high-bit plane) with 6-bit scale and min per 32 values.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable, PartialEq)]
pub struct BlockQ5K {
    pub d: [u8; 2],
    pub dmin: [u8; 2],
    pub scales: [u8; 12],
    pub qh: [u8; QK_K / 8],
    pub qs: [u8; QK_K / 2],
}

/// 6-bit values (4 low + 2 high bits) with 8-bit signed scales per 16 values: `d * sc * (q - 32)`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable, PartialEq)]
pub struct BlockQ6K {
    pub ql: [u8; QK_K / 2],
    pub qh: [u8; QK_K / 4],
    pub scales: [i8; QK_K / 16],
    pub d: [u8; 2],
}

/// Signed 8-bit values with an f32 scale and the sums of each 16 values (for the mins of the
/// weight types).
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable, PartialEq)]
pub struct BlockQ8K {
    pub d: [u8; 4],
    pub qs: [i8; QK_K],
    pub bsums: [u8; 2 * QK_K / 16],
}

impl BlockQ2K {
    /// Values 0..=3. Value `i` is bits `2 * ((i % 128) / 32)` of byte `32 * (i / 128) + i % 32`.
    pub fn values(&self) -> [i8; QK_K] {
        let mut q = [0i8; QK_K];
        for (i, v) in q.iter_mut().enumerate() {
            let byte = self.qs[32 * (i / 128) + i % 32];
            *v = ((byte >> (2 * ((i % 128) / 32))) & 3) as i8;
        }
        q
    }

    /// Scale (low nibble) and min (high nibble) of each 16-value sub-block.
    pub fn scales_mins(&self) -> ([u8; 16], [u8; 16]) {
        (self.scales.map(|s| s & 0x0f), self.scales.map(|s| s >> 4))
    }
}

impl BlockQ3K {
    /// Values -4..=3: two low bits as in Q2_K, minus 4 unless bit `i / 32` of `hmask[i % 32]` is set.
    pub fn values(&self) -> [i8; QK_K] {
        let mut q = [0i8; QK_K];
        for (i, v) in q.iter_mut().enumerate() {
            let low = (self.qs[32 * (i / 128) + i % 32] >> (2 * ((i % 128) / 32))) & 3;
            let high = (self.hmask[i % 32] >> (i / 32)) & 1;
            *v = low as i8 - if high == 1 { 0 } else { 4 };
        }
        q
    }

    /// The sixteen 6-bit scales, offset removed (-32..=31). Scale `k` has its low four bits in
    /// nibble `k / 8` of `scales[k % 8]` and its high two bits at `2 * (k / 4)` of `scales[8 + k % 4]`.
    pub fn scales(&self) -> [i8; 16] {
        let mut out = [0i8; 16];
        for (k, s) in out.iter_mut().enumerate() {
            let low = (self.scales[k % 8] >> (4 * (k / 8))) & 0x0f;
            let high = (self.scales[8 + k % 4] >> (2 * (k / 4))) & 0x03;
            *s = (low | (high << 4)) as i8 - 32;
        }
        out
    }
}

/// Unpacks the 12 bytes holding eight 6-bit scales and eight 6-bit mins (Q4_K and Q5_K).
///
/// Sub-blocks 0..4 keep their scale and min in the low six bits of bytes 0..4 and 4..8; sub-blocks
/// 4..8 take their low four bits from the nibbles of bytes 8..12 and their high two bits from the
/// top bits of bytes 0..8.
pub fn unpack_scales_mins_k4(s: &[u8; 12]) -> ([u8; 8], [u8; 8]) {
    let mut sc = [0u8; 8];
    let mut m = [0u8; 8];
    for j in 0..4 {
        sc[j] = s[j] & 63;
        m[j] = s[j + 4] & 63;
        sc[j + 4] = (s[j + 8] & 0x0f) | ((s[j] >> 6) << 4);
        m[j + 4] = (s[j + 8] >> 4) | ((s[j + 4] >> 6) << 4);
    }
    (sc, m)
}

/// 4-bit nibble of value `i` in a 128-byte plane where each 32 bytes hold 64 values
/// (low nibbles first).
#[inline(always)]
fn k4_nibble(qs: &[u8; QK_K / 2], i: usize) -> u8 {
    (qs[32 * (i / 64) + i % 32] >> (4 * ((i % 64) / 32))) & 0x0f
}

impl BlockQ4K {
    /// Values 0..=15.
    pub fn values(&self) -> [i8; QK_K] {
        std::array::from_fn(|i| k4_nibble(&self.qs, i) as i8)
    }

    pub fn scales_mins(&self) -> ([u8; 8], [u8; 8]) {
        unpack_scales_mins_k4(&self.scales)
    }
}

impl BlockQ5K {
    /// Values 0..=31: the Q4_K nibble plus bit `i / 32` of `qh[i % 32]` as the fifth bit.
    pub fn values(&self) -> [i8; QK_K] {
        std::array::from_fn(|i| (k4_nibble(&self.qs, i) | (((self.qh[i % 32] >> (i / 32)) & 1) << 4)) as i8)
    }

    pub fn scales_mins(&self) -> ([u8; 8], [u8; 8]) {
        unpack_scales_mins_k4(&self.scales)
    }
}

impl BlockQ6K {
    /// Values -32..=31. In each 128-value half `h`, value `r` takes its low four bits from nibble
    /// `r / 64` of `ql[64h + r % 64]` and its high two bits from bits `2 * (r / 32)` of `qh[32h + r % 32]`.
    pub fn values(&self) -> [i8; QK_K] {
        std::array::from_fn(|i| {
            let (h, r) = (i / 128, i % 128);
            let low = (self.ql[64 * h + r % 64] >> (4 * (r / 64))) & 0x0f;
            let high = (self.qh[32 * h + r % 32] >> (2 * (r / 32))) & 0x03;
            (low | (high << 4)) as i8 - 32
        })
    }
}

impl BlockQ8K {
    pub fn d(&self) -> f32 {
        f32::from_le_bytes(self.d)
    }

    /// Sum of values `16k .. 16k + 16`.
    pub fn bsum(&self, k: usize) -> i16 {
        i16::from_le_bytes([self.bsums[2 * k], self.bsums[2 * k + 1]])
    }
}

impl Block for BlockQ2K {
    const TYPE: GgmlType = GgmlType::Q2_K;
    const ELEMS: usize = QK_K;
    fn dequantize(&self, out: &mut [f32]) {
        let (d, dmin) = (f16_le(self.d), f16_le(self.dmin));
        let (sc, m) = self.scales_mins();
        let q = self.values();
        for (k, (o, q)) in out[..QK_K].chunks_exact_mut(16).zip(q.chunks_exact(16)).enumerate() {
            let (dl, ml) = (d * sc[k] as f32, dmin * m[k] as f32);
            for (o, &q) in o.iter_mut().zip(q) {
                *o = dl * q as f32 - ml;
            }
        }
    }
}

impl Block for BlockQ3K {
    const TYPE: GgmlType = GgmlType::Q3_K;
    const ELEMS: usize = QK_K;
    fn dequantize(&self, out: &mut [f32]) {
        let d = f16_le(self.d);
        let sc = self.scales();
        let q = self.values();
        for (k, (o, q)) in out[..QK_K].chunks_exact_mut(16).zip(q.chunks_exact(16)).enumerate() {
            let dl = d * sc[k] as f32;
            for (o, &q) in o.iter_mut().zip(q) {
                *o = dl * q as f32;
            }
        }
    }
}

/// Shared by Q4_K and Q5_K: `(d * sc) * q - (dmin * m)` per 32-value sub-block.
fn dequantize_k_with_mins(d: f32, dmin: f32, sc: [u8; 8], m: [u8; 8], q: &[i8; QK_K], out: &mut [f32]) {
    for (k, (o, q)) in out[..QK_K].chunks_exact_mut(32).zip(q.chunks_exact(32)).enumerate() {
        let (dl, ml) = (d * sc[k] as f32, dmin * m[k] as f32);
        for (o, &q) in o.iter_mut().zip(q) {
            *o = dl * q as f32 - ml;
        }
    }
}

impl Block for BlockQ4K {
    const TYPE: GgmlType = GgmlType::Q4_K;
    const ELEMS: usize = QK_K;
    fn dequantize(&self, out: &mut [f32]) {
        let (sc, m) = self.scales_mins();
        dequantize_k_with_mins(f16_le(self.d), f16_le(self.dmin), sc, m, &self.values(), out);
    }
}

impl Block for BlockQ5K {
    const TYPE: GgmlType = GgmlType::Q5_K;
    const ELEMS: usize = QK_K;
    fn dequantize(&self, out: &mut [f32]) {
        let (sc, m) = self.scales_mins();
        dequantize_k_with_mins(f16_le(self.d), f16_le(self.dmin), sc, m, &self.values(), out);
    }
}

impl Block for BlockQ6K {
    const TYPE: GgmlType = GgmlType::Q6_K;
    const ELEMS: usize = QK_K;
    fn dequantize(&self, out: &mut [f32]) {
        let d = f16_le(self.d);
        let q = self.values();
        for (k, (o, q)) in out[..QK_K].chunks_exact_mut(16).zip(q.chunks_exact(16)).enumerate() {
            let dl = d * self.scales[k] as f32;
            for (o, &q) in o.iter_mut().zip(q) {
                *o = dl * q as f32;
            }
        }
    }
}

impl Block for BlockQ8K {
    const TYPE: GgmlType = GgmlType::Q8_K;
    const ELEMS: usize = QK_K;
    fn dequantize(&self, out: &mut [f32]) {
        let d = self.d();
        for (o, &q) in out[..QK_K].iter_mut().zip(&self.qs) {
            *o = d * q as f32;
        }
    }
}

impl QuantizeBlock for BlockQ8K {
    /// As ggml's `quantize_row_q8_K_ref`: the scale carries the sign of the value of largest
    /// magnitude, so that value maps to exactly -127; rounding is to nearest, ties to even.
    #[inline]
    fn quantize(x: &[f32]) -> Self {
        let x = &x[..QK_K];
        let (mut amax, mut max) = (0.0f32, 0.0f32);
        for &v in x {
            if v.abs() > amax {
                amax = v.abs();
                max = v;
            }
        }
        let mut block = Self::zeroed();
        if amax == 0.0 {
            return block;
        }
        let iscale = -127.0 / max;
        for (q, &v) in block.qs.iter_mut().zip(x) {
            *q = ((iscale * v).round_ties_even() as i32).min(127) as i8;
        }
        for k in 0..QK_K / 16 {
            let sum: i16 = block.qs[16 * k..16 * k + 16].iter().map(|&q| q as i16).sum();
            block.bsums[2 * k..2 * k + 2].copy_from_slice(&sum.to_le_bytes());
        }
        block.d = (1.0 / iscale).to_le_bytes();
        block
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn k4_scale_packing_round_trips_every_six_bit_value() {
        // Pack scales/mins with the documented layout and check the unpacking returns them.
        for base in 0..64u8 {
            let sc: [u8; 8] = std::array::from_fn(|j| (base + 7 * j as u8) % 64);
            let m: [u8; 8] = std::array::from_fn(|j| (base * 3 + 5 * j as u8) % 64);
            let mut s = [0u8; 12];
            for j in 0..4 {
                s[j] = sc[j] | ((sc[j + 4] >> 4) << 6);
                s[j + 4] = m[j] | ((m[j + 4] >> 4) << 6);
                s[j + 8] = (sc[j + 4] & 0x0f) | ((m[j + 4] & 0x0f) << 4);
            }
            assert_eq!(unpack_scales_mins_k4(&s), (sc, m));
        }
    }

    #[test]
    fn q8k_maps_the_largest_magnitude_to_minus_127_and_sums_blocks() {
        let x: Vec<f32> = (0..QK_K).map(|i| ((i * 37 % 101) as f32 - 50.0) * 0.01).collect();
        let b = BlockQ8K::quantize(&x);
        let amax = x.iter().fold(0f32, |m, v| m.max(v.abs()));
        let imax = x.iter().position(|v| v.abs() == amax).unwrap(); // the first of equal magnitudes
        assert_eq!(b.qs[imax], -127);
        for k in 0..16 {
            assert_eq!(b.bsum(k) as i32, b.qs[16 * k..16 * k + 16].iter().map(|&q| q as i32).sum::<i32>());
        }
        let mut back = [0f32; QK_K];
        b.dequantize(&mut back);
        let step = b.d().abs();
        for (a, r) in x.iter().zip(back) {
            assert!((a - r).abs() <= 0.5 * step * 1.0001, "{a} vs {r}");
        }
        assert_eq!(BlockQ8K::quantize(&[0.0; QK_K]), BlockQ8K::zeroed());
    }

    #[test]
    fn q8k_all_equal_positive_input_does_not_overflow_i8() {
        // max > 0 makes iscale negative: every value maps to exactly -127, never +128.
        let b = BlockQ8K::quantize(&[3.0; QK_K]);
        assert!(b.qs.iter().all(|&q| q == -127));
        assert_eq!(b.bsum(0), -127 * 16);
    }
}
