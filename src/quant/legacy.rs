//! The 32-value block types: Q4_0, Q4_1, Q5_0, Q5_1, Q8_0 (weights) and Q8_0, Q8_1 (activations).
//!
//! Layouts follow ggml's `ggml-common.h`. In the 4- and 5-bit types, byte `j` of `qs` holds value
//! `j` in its low nibble and value `j + 16` in its high nibble; bit `i` of the 5-bit types' `qh`
//! is the fifth bit of value `i`.

use bytemuck::{Pod, Zeroable};

use super::{f16_bytes, f16_le, round_away, Block, GgmlType, QuantizeBlock};

/// Values per block of the legacy types.
pub const QK: usize = 32;

/// 4-bit values `q` in 0..16 meaning `d * (q - 8)`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable, PartialEq)]
pub struct BlockQ4_0 {
    pub d: [u8; 2],
    pub qs: [u8; QK / 2],
}

/// 4-bit values `q` meaning `d * q + m`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable, PartialEq)]
pub struct BlockQ4_1 {
    pub d: [u8; 2],
    pub m: [u8; 2],
    pub qs: [u8; QK / 2],
}

/// 5-bit values `q` in 0..32 meaning `d * (q - 16)`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable, PartialEq)]
pub struct BlockQ5_0 {
    pub d: [u8; 2],
    pub qh: [u8; 4],
    pub qs: [u8; QK / 2],
}

/// 5-bit values `q` meaning `d * q + m`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable, PartialEq)]
pub struct BlockQ5_1 {
    pub d: [u8; 2],
    pub m: [u8; 2],
    pub qh: [u8; 4],
    pub qs: [u8; QK / 2],
}

/// Signed 8-bit values meaning `d * q`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable, PartialEq)]
pub struct BlockQ8_0 {
    pub d: [u8; 2],
    pub qs: [i8; QK],
}

/// Signed 8-bit values meaning `d * q`, plus `s = d * sum(q)` for the `+ m` term of Q4_1/Q5_1.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable, PartialEq)]
pub struct BlockQ8_1 {
    pub d: [u8; 2],
    pub s: [u8; 2],
    pub qs: [i8; QK],
}

/// Sets the `s` of each block of `lo`, the Q8_1 residual row of `x` after `hi` (see
/// [`crate::ops::quantize_rows_paired`]), to what `hi`'s `s` misses of the block's sum of `x`.
/// The `+ m` term of a Q4_1/Q5_1 dot then sees `s_hi + s_lo` = the exact sum, rounded only
/// where it is small: `hi`'s own `s` is `d * sum(q)` in f16, an error the residual's values do
/// not carry. `x` holds the values of `hi.len() / 36` blocks and `lo` as many blocks.
pub(crate) fn q8_1_residual_sums(x: &[f32], hi: &[u8], lo: &mut [u8]) {
    let hi: &[BlockQ8_1] = bytemuck::cast_slice(hi);
    let lo: &mut [BlockQ8_1] = bytemuck::cast_slice_mut(lo);
    for ((x, h), l) in x.chunks_exact(QK).zip(hi).zip(lo) {
        let sum: f64 = x.iter().map(|&v| v as f64).sum();
        l.s = f16_bytes((sum - f16_le(h.s) as f64) as f32);
    }
}

impl BlockQ4_0 {
    /// The 32 quantized values, offset removed (-8..=7).
    #[inline]
    pub fn values(&self) -> [i8; QK] {
        let mut q = [0i8; QK];
        for (j, &b) in self.qs.iter().enumerate() {
            q[j] = (b & 0x0f) as i8 - 8;
            q[j + QK / 2] = (b >> 4) as i8 - 8;
        }
        q
    }
}

impl BlockQ4_1 {
    /// The 32 quantized values (0..=15).
    #[inline]
    pub fn values(&self) -> [u8; QK] {
        let mut q = [0u8; QK];
        for (j, &b) in self.qs.iter().enumerate() {
            q[j] = b & 0x0f;
            q[j + QK / 2] = b >> 4;
        }
        q
    }
}

/// Unpacks 5-bit values from their low nibbles and the high-bit word.
#[inline]
fn five_bit_values(qs: &[u8; QK / 2], qh: [u8; 4]) -> [u8; QK] {
    let qh = u32::from_le_bytes(qh);
    let mut q = [0u8; QK];
    for (j, &b) in qs.iter().enumerate() {
        let h0 = ((qh >> j) & 1) as u8;
        let h1 = ((qh >> (j + QK / 2)) & 1) as u8;
        q[j] = (b & 0x0f) | (h0 << 4);
        q[j + QK / 2] = (b >> 4) | (h1 << 4);
    }
    q
}

impl BlockQ5_0 {
    /// The 32 quantized values, offset removed (-16..=15).
    #[inline]
    pub fn values(&self) -> [i8; QK] {
        five_bit_values(&self.qs, self.qh).map(|v| v as i8 - 16)
    }
}

impl BlockQ5_1 {
    /// The 32 quantized values (0..=31).
    #[inline]
    pub fn values(&self) -> [u8; QK] {
        five_bit_values(&self.qs, self.qh)
    }
}

impl Block for BlockQ4_0 {
    const TYPE: GgmlType = GgmlType::Q4_0;
    const ELEMS: usize = QK;
    fn dequantize(&self, out: &mut [f32]) {
        let d = f16_le(self.d);
        for (o, q) in out[..QK].iter_mut().zip(self.values()) {
            *o = d * q as f32;
        }
    }
}

impl Block for BlockQ4_1 {
    const TYPE: GgmlType = GgmlType::Q4_1;
    const ELEMS: usize = QK;
    fn dequantize(&self, out: &mut [f32]) {
        let (d, m) = (f16_le(self.d), f16_le(self.m));
        for (o, q) in out[..QK].iter_mut().zip(self.values()) {
            *o = d * q as f32 + m;
        }
    }
}

impl Block for BlockQ5_0 {
    const TYPE: GgmlType = GgmlType::Q5_0;
    const ELEMS: usize = QK;
    fn dequantize(&self, out: &mut [f32]) {
        let d = f16_le(self.d);
        for (o, q) in out[..QK].iter_mut().zip(self.values()) {
            *o = d * q as f32;
        }
    }
}

impl Block for BlockQ5_1 {
    const TYPE: GgmlType = GgmlType::Q5_1;
    const ELEMS: usize = QK;
    fn dequantize(&self, out: &mut [f32]) {
        let (d, m) = (f16_le(self.d), f16_le(self.m));
        for (o, q) in out[..QK].iter_mut().zip(self.values()) {
            *o = d * q as f32 + m;
        }
    }
}

impl Block for BlockQ8_0 {
    const TYPE: GgmlType = GgmlType::Q8_0;
    const ELEMS: usize = QK;
    fn dequantize(&self, out: &mut [f32]) {
        let d = f16_le(self.d);
        for (o, &q) in out[..QK].iter_mut().zip(&self.qs) {
            *o = q as f32 * d;
        }
    }
}

impl Block for BlockQ8_1 {
    const TYPE: GgmlType = GgmlType::Q8_1;
    const ELEMS: usize = QK;
    fn dequantize(&self, out: &mut [f32]) {
        let d = f16_le(self.d);
        for (o, &q) in out[..QK].iter_mut().zip(&self.qs) {
            *o = q as f32 * d;
        }
    }
}

/// ggml's symmetric 8-bit quantization of one block: `d = max|x| / 127`, `q = roundf(x / d)`.
/// Returns the scale (as f32, before rounding to f16) and the values.
#[inline]
fn quantize_q8_symmetric(x: &[f32]) -> (f32, [i8; QK]) {
    let amax = x[..QK].iter().fold(0.0f32, |m, v| m.max(v.abs()));
    let d = amax / 127.0;
    let id = if d != 0.0 { 1.0 / d } else { 0.0 };
    let mut qs = [0i8; QK];
    for (q, &v) in qs.iter_mut().zip(&x[..QK]) {
        // |v * id| <= 127 up to rounding, so the saturating cast never changes a finite value.
        *q = round_away(v * id) as i8;
    }
    (d, qs)
}

impl QuantizeBlock for BlockQ8_0 {
    /// Bit-exact with ggml's `quantize_row_q8_0_ref` and gguf-py's `Q8_0.quantize_blocks`.
    #[inline]
    fn quantize(x: &[f32]) -> Self {
        let (d, qs) = quantize_q8_symmetric(x);
        Self { d: f16_bytes(d), qs }
    }
}

impl QuantizeBlock for BlockQ8_1 {
    /// As ggml's `quantize_row_q8_1_ref`: the Q8_0 values plus `s = d * sum(q)`.
    #[inline]
    fn quantize(x: &[f32]) -> Self {
        let (d, qs) = quantize_q8_symmetric(x);
        let sum: i32 = qs.iter().map(|&q| q as i32).sum();
        Self { d: f16_bytes(d), s: f16_bytes(sum as f32 * d), qs }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn q5_high_bits_come_from_the_right_qh_bits() {
        // Only the high bit of value 3 (low nibble half) and value 16 + 5 (high nibble half) set.
        let b =
            BlockQ5_1 { d: f16_bytes(1.0), m: f16_bytes(0.0), qh: (1u32 << 3 | 1 << 21).to_le_bytes(), qs: [0; 16] };
        let mut out = [0f32; QK];
        b.dequantize(&mut out);
        for (i, &v) in out.iter().enumerate() {
            let expected = if i == 3 || i == 21 { 16.0 } else { 0.0 };
            assert_eq!(v, expected, "value {i}");
        }
    }

    #[test]
    fn q8_1_sum_field_is_scale_times_sum_of_values() {
        let x: Vec<f32> = (0..QK).map(|i| (i as f32 - 10.0) * 0.37).collect();
        let b = BlockQ8_1::quantize(&x);
        let sum: i32 = b.qs.iter().map(|&q| q as i32).sum();
        assert_eq!(
            f16_le(b.s),
            half::f16::from_f32(sum as f32 * (x.iter().fold(0f32, |m, v| m.max(v.abs())) / 127.0)).to_f32()
        );
        let mut back = [0f32; QK];
        b.dequantize(&mut back);
        let d = f16_le(b.d);
        for (a, r) in x.iter().zip(back) {
            assert!((a - r).abs() <= d * 0.5 + 1e-6 + a.abs() * 1e-3, "{a} vs {r}");
        }
    }

    #[test]
    fn all_zero_input_quantizes_to_zero_scale_without_dividing_by_zero() {
        let b = BlockQ8_0::quantize(&[0.0; QK]);
        assert_eq!(f16_le(b.d), 0.0);
        assert!(b.qs.iter().all(|&q| q == 0));
    }
}
