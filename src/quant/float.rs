//! Plain floating-point "blocks" of one value: F32, F16 and BF16.

use bytemuck::{Pod, Zeroable};

use super::{f16_bytes, f16_le, Block, GgmlType, QuantizeBlock};

/// One little-endian f32.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable, PartialEq)]
pub struct BlockF32(pub [u8; 4]);

/// One little-endian IEEE half.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable, PartialEq)]
pub struct BlockF16(pub [u8; 2]);

/// One little-endian bfloat16 (the top half of an f32).
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable, PartialEq)]
pub struct BlockBF16(pub [u8; 2]);

impl BlockF32 {
    #[inline(always)]
    pub fn get(self) -> f32 {
        f32::from_le_bytes(self.0)
    }
}

impl BlockF16 {
    #[inline(always)]
    pub fn get(self) -> f32 {
        f16_le(self.0)
    }
}

impl BlockBF16 {
    #[inline(always)]
    pub fn get(self) -> f32 {
        f32::from_bits((u16::from_le_bytes(self.0) as u32) << 16)
    }

    /// ggml's `ggml_compute_fp32_to_bf16`: round to nearest even; NaNs are kept NaN and made quiet.
    pub fn from_f32(x: f32) -> Self {
        let u = x.to_bits();
        let h = if u & 0x7fff_ffff > 0x7f80_0000 {
            (u >> 16) | 64
        } else {
            ((u as u64 + (0x7fff + ((u >> 16) & 1)) as u64) >> 16) as u32
        };
        Self((h as u16).to_le_bytes())
    }
}

impl Block for BlockF32 {
    const TYPE: GgmlType = GgmlType::F32;
    const ELEMS: usize = 1;
    fn dequantize(&self, out: &mut [f32]) {
        out[0] = self.get();
    }
}

impl Block for BlockF16 {
    const TYPE: GgmlType = GgmlType::F16;
    const ELEMS: usize = 1;
    fn dequantize(&self, out: &mut [f32]) {
        out[0] = self.get();
    }
}

impl Block for BlockBF16 {
    const TYPE: GgmlType = GgmlType::BF16;
    const ELEMS: usize = 1;
    fn dequantize(&self, out: &mut [f32]) {
        out[0] = self.get();
    }
}

impl QuantizeBlock for BlockF32 {
    #[inline]
    fn quantize(x: &[f32]) -> Self {
        Self(x[0].to_le_bytes())
    }
}

impl QuantizeBlock for BlockF16 {
    #[inline]
    fn quantize(x: &[f32]) -> Self {
        Self(f16_bytes(x[0]))
    }
}

impl QuantizeBlock for BlockBF16 {
    #[inline]
    fn quantize(x: &[f32]) -> Self {
        Self::from_f32(x[0])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bf16_rounds_to_nearest_even_and_keeps_nan() {
        // 1.0 + 2^-8 is exactly halfway between two bf16 values: ties go to the even one (1.0).
        assert_eq!(BlockBF16::from_f32(1.0 + 1.0 / 256.0).get(), 1.0);
        // Just above halfway rounds up.
        assert_eq!(BlockBF16::from_f32(1.0 + 1.0 / 256.0 + 1.0 / 65536.0).get(), 1.0 + 1.0 / 128.0);
        assert!(BlockBF16::from_f32(f32::NAN).get().is_nan());
        // A signalling NaN whose payload lives only in the low bits must not become infinity.
        assert!(BlockBF16::from_f32(f32::from_bits(0x7f80_0001)).get().is_nan());
        assert_eq!(BlockBF16::from_f32(f32::INFINITY).get(), f32::INFINITY);
        assert_eq!(BlockBF16::from_f32(f32::MAX).get(), f32::INFINITY);
    }

    #[test]
    fn f16_quantize_round_trips_representable_values() {
        for x in [
            0.0f32,
            -0.0,
            1.0,
            -2.5,
            65504.0,
            f32::from_bits(0x3380_0000), // 2^-24, the smallest f16 subnormal
            f32::INFINITY,
        ] {
            assert_eq!(BlockF16::quantize(&[x]).get().to_bits(), x.to_bits(), "{x}");
        }
        assert_eq!(BlockF16::quantize(&[1.0e6]).get(), f32::INFINITY);
    }
}
