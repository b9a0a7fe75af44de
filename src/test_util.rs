//! Helpers for unit tests: a small deterministic generator and random blocks with sane scales.

use crate::quant::{Block, GgmlType};

/// SplitMix64: deterministic, seedable, good enough for test data.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn f32(&mut self) -> f32 {
        (self.u64() >> 40) as f32 / (1u64 << 24) as f32
    }

    /// Uniform in [lo, hi).
    pub fn range(&mut self, lo: f32, hi: f32) -> f32 {
        lo + (hi - lo) * self.f32()
    }

    pub fn fill(&mut self, bytes: &mut [u8]) {
        for b in bytes {
            *b = self.u64() as u8;
        }
    }
}

/// Byte offsets of the f16 scale fields of each block type, and the magnitude range that keeps
/// dequantized values of order one.
fn scale_fields(ty: GgmlType) -> (&'static [usize], f32, f32) {
    use GgmlType::*;
    match ty {
        Q4_0 | Q5_0 => (&[0], 0.02, 0.15),
        Q8_0 => (&[0], 0.002, 0.02),
        Q4_1 | Q5_1 => (&[0, 2], 0.02, 0.1),
        Q2_K => (&[80, 82], 0.01, 0.05),
        Q3_K => (&[108], 0.005, 0.03),
        Q4_K | Q5_K => (&[0, 2], 0.0005, 0.003),
        Q6_K => (&[208], 0.0002, 0.001),
        _ => (&[], 0.0, 0.0),
    }
}

/// `n` blocks of random bits whose scales are set to moderate values of random sign, so the
/// dequantized values are of order one. Float types get values in [-2, 2].
pub fn random_blocks<B: Block>(rng: &mut Rng, n: usize) -> Vec<B> {
    let mut blocks = vec![B::zeroed(); n];
    let bytes: &mut [u8] = bytemuck::cast_slice_mut(&mut blocks);
    rng.fill(bytes);
    let size = std::mem::size_of::<B>();
    for block in bytes.chunks_exact_mut(size) {
        let v = rng.range(-2.0, 2.0);
        match B::TYPE {
            GgmlType::F32 => block.copy_from_slice(&v.to_le_bytes()),
            GgmlType::F16 => block.copy_from_slice(&half::f16::from_f32(v).to_le_bytes()),
            GgmlType::BF16 => block.copy_from_slice(&half::bf16::from_f32(v).to_le_bytes()),
            ty => {
                let (fields, lo, hi) = scale_fields(ty);
                for &off in fields {
                    let sign = if rng.u64() & 1 == 0 { 1.0 } else { -1.0 };
                    let d = half::f16::from_f32(sign * rng.range(lo, hi));
                    block[off..off + 2].copy_from_slice(&d.to_le_bytes());
                }
            }
        }
    }
    blocks
}
