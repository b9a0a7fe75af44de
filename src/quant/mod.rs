//! Quantized block types: the byte layouts ggml defines, as `#[repr(C)]` [`bytemuck::Pod`] views
//! over the file bytes, with their reference dequantization and the quantization of activations.
//!
//! Every block struct has alignment 1 (multi-byte fields are stored as little-endian byte
//! arrays and decoded by accessors), so any byte slice of the right length is a valid slice of
//! blocks: viewing file bytes as blocks can never fail on alignment, whatever the file's
//! `general.alignment`, and it is correct on any host byte order.
//!
//! The dot products that pair each weight type with its activation type live in
//! [`crate::kernels`], beside the SIMD flavours that are tested against them.

mod float;
mod kquants;
mod legacy;
mod quantize;
mod types;

use std::fmt::Debug;

pub use float::{BlockBF16, BlockF16, BlockF32};
pub use kquants::{BlockQ2K, BlockQ3K, BlockQ4K, BlockQ5K, BlockQ6K, BlockQ8K, QK_K};
pub(crate) use legacy::q8_1_residual_sums;
pub use legacy::{BlockQ4_0, BlockQ4_1, BlockQ5_0, BlockQ5_1, BlockQ8_0, BlockQ8_1, QK};
pub use quantize::{quantize_weights, QuantizeWeights};
pub use types::GgmlType;
pub(crate) use types::SUPPORTED_NAMES;

use crate::error::QuantError;

/// One block of a ggml tensor type: `ELEMS` values stored in `size_of::<Self>()` bytes.
pub trait Block: bytemuck::Pod + Debug + Send + Sync + 'static {
    /// The ggml type this block belongs to.
    const TYPE: GgmlType;
    /// Number of values one block holds.
    const ELEMS: usize;
    /// Writes the block's `ELEMS` values to `out[..ELEMS]`.
    fn dequantize(&self, out: &mut [f32]);
}

/// A block type that f32 values can be quantized into (the activation types: F32, F16, BF16,
/// Q8_0, Q8_1, Q8_K), exactly as ggml's reference `quantize_row_*_ref` does.
pub trait QuantizeBlock: Block {
    /// Quantizes `x[..ELEMS]` into one block.
    fn quantize(x: &[f32]) -> Self;
}

/// Views bytes as a slice of blocks. Fails only when the length is not a whole number of blocks.
pub fn as_blocks<'a, B: Block>(bytes: &'a [u8], op: &'static str) -> Result<&'a [B], QuantError> {
    let size = std::mem::size_of::<B>();
    if !bytes.len().is_multiple_of(size) {
        return Err(QuantError::ByteLength {
            op,
            ty: B::TYPE,
            what: "input",
            got: bytes.len(),
            expected: bytes.len() / size * size,
        });
    }
    // Alignment is 1 for every block type (checked at compile time in `types.rs`), so the cast
    // cannot fail once the length is a multiple of the block size.
    Ok(bytemuck::cast_slice(bytes))
}

fn as_blocks_mut<'a, B: Block>(bytes: &'a mut [u8], op: &'static str) -> Result<&'a mut [B], QuantError> {
    let size = std::mem::size_of::<B>();
    if !bytes.len().is_multiple_of(size) {
        return Err(QuantError::ByteLength {
            op,
            ty: B::TYPE,
            what: "output",
            got: bytes.len(),
            expected: bytes.len() / size * size,
        });
    }
    Ok(bytemuck::cast_slice_mut(bytes))
}

fn dequantize_typed<B: Block>(src: &[u8], out: &mut [f32]) -> Result<(), QuantError> {
    let blocks = as_blocks::<B>(src, "dequantize")?;
    let expected = blocks.len() * B::ELEMS;
    if out.len() != expected {
        return Err(QuantError::OutputLength { op: "dequantize", ty: B::TYPE, got: out.len(), expected });
    }
    for (block, dst) in blocks.iter().zip(out.chunks_exact_mut(B::ELEMS)) {
        block.dequantize(dst);
    }
    Ok(())
}

#[inline]
fn quantize_typed<B: QuantizeBlock>(src: &[f32], out: &mut [u8]) -> Result<(), QuantError> {
    quantize_blocks("quantize", src, out, B::quantize)
}

/// Quantizes `src` block by block with `f` into `out`, after checking that `src` is whole blocks
/// and `out` exactly their size. Shared by activation and weight quantization.
#[inline]
pub(crate) fn quantize_blocks<B: Block>(
    op: &'static str,
    src: &[f32],
    out: &mut [u8],
    f: impl Fn(&[f32]) -> B,
) -> Result<(), QuantError> {
    if !src.len().is_multiple_of(B::ELEMS) {
        return Err(QuantError::NotBlockMultiple { op, ty: B::TYPE, len: src.len(), block: B::ELEMS });
    }
    let expected = src.len() / B::ELEMS * std::mem::size_of::<B>();
    if out.len() != expected {
        return Err(QuantError::ByteLength { op, ty: B::TYPE, what: "output", got: out.len(), expected });
    }
    let blocks = as_blocks_mut::<B>(out, op)?;
    for (dst, x) in blocks.iter_mut().zip(src.chunks_exact(B::ELEMS)) {
        *dst = f(x);
    }
    Ok(())
}

/// Calls `$body` with `$B` bound to the block struct of `$ty`, for every type this runtime
/// implements; evaluates `$other` for the rest.
macro_rules! dispatch_block {
    ($ty:expr, $B:ident => $body:expr, _ => $other:expr) => {{
        use $crate::quant::*;
        match $ty {
            GgmlType::F32 => {
                type $B = BlockF32;
                $body
            }
            GgmlType::F16 => {
                type $B = BlockF16;
                $body
            }
            GgmlType::BF16 => {
                type $B = BlockBF16;
                $body
            }
            GgmlType::Q4_0 => {
                type $B = BlockQ4_0;
                $body
            }
            GgmlType::Q4_1 => {
                type $B = BlockQ4_1;
                $body
            }
            GgmlType::Q5_0 => {
                type $B = BlockQ5_0;
                $body
            }
            GgmlType::Q5_1 => {
                type $B = BlockQ5_1;
                $body
            }
            GgmlType::Q8_0 => {
                type $B = BlockQ8_0;
                $body
            }
            GgmlType::Q8_1 => {
                type $B = BlockQ8_1;
                $body
            }
            GgmlType::Q2_K => {
                type $B = BlockQ2K;
                $body
            }
            GgmlType::Q3_K => {
                type $B = BlockQ3K;
                $body
            }
            GgmlType::Q4_K => {
                type $B = BlockQ4K;
                $body
            }
            GgmlType::Q5_K => {
                type $B = BlockQ5K;
                $body
            }
            GgmlType::Q6_K => {
                type $B = BlockQ6K;
                $body
            }
            GgmlType::Q8_K => {
                type $B = BlockQ8K;
                $body
            }
            _ => $other,
        }
    }};
}
pub(crate) use dispatch_block;

/// Dequantizes `src` (whole blocks of type `ty`) into `out`, which must hold exactly the number
/// of values those blocks encode.
pub fn dequantize(ty: GgmlType, src: &[u8], out: &mut [f32]) -> Result<(), QuantError> {
    dispatch_block!(ty, B => dequantize_typed::<B>(src, out), _ => Err(QuantError::Unsupported { op: "dequantize", ty }))
}

/// Quantizes `src` into blocks of `ty`, which must be one of the activation types
/// (F32, F16, BF16, Q8_0, Q8_1, Q8_K). `src.len()` must be a multiple of the block size.
#[inline]
pub fn quantize(ty: GgmlType, src: &[f32], out: &mut [u8]) -> Result<(), QuantError> {
    match ty {
        GgmlType::F32 => quantize_typed::<BlockF32>(src, out),
        GgmlType::F16 => quantize_typed::<BlockF16>(src, out),
        GgmlType::BF16 => quantize_typed::<BlockBF16>(src, out),
        GgmlType::Q8_0 => quantize_typed::<BlockQ8_0>(src, out),
        GgmlType::Q8_1 => quantize_typed::<BlockQ8_1>(src, out),
        GgmlType::Q8_K => quantize_typed::<BlockQ8K>(src, out),
        _ => Err(QuantError::Unsupported { op: "quantize", ty }),
    }
}

/// Reads a little-endian IEEE half from two bytes.
///
/// Branch-light and exact: the half's exponent and mantissa are placed in an f32's bits and the
/// exponent rebiased by multiplying by 2^112 (a power of two, so exact; it also turns half
/// subnormals into the right f32 normals). Infinities and NaNs get the f32 all-ones exponent.
/// Several times faster than a generic conversion on CPUs without F16C; every block needs one.
#[inline(always)]
pub(crate) fn f16_le(b: [u8; 2]) -> f32 {
    let h = u16::from_le_bytes(b) as u32;
    let sign = (h & 0x8000) << 16;
    let exp_mant = (h & 0x7fff) << 13;
    let magnitude = if h & 0x7c00 == 0x7c00 {
        f32::from_bits(exp_mant | 0x7f80_0000)
    } else {
        f32::from_bits(exp_mant) * f32::from_bits(0x7780_0000) // 2^112
    };
    f32::from_bits(magnitude.to_bits() | sign)
}

/// Rounds to the nearest f16 (ties to even, as ggml's `GGML_FP32_TO_FP16`) as little-endian bytes.
#[inline(always)]
pub(crate) fn f16_bytes(x: f32) -> [u8; 2] {
    half::f16::from_f32(x).to_le_bytes()
}

/// C's `roundf`: halfway cases away from zero (what ggml's Q8_0/Q8_1 quantizers use).
#[inline(always)]
pub(crate) fn round_away(x: f32) -> f32 {
    // `x - trunc(x)` is exact, so this is `roundf` exactly, written branch-free (truncation and
    // a select) so that loops over it vectorise instead of calling libm per element.
    let t = x.trunc();
    if (x - t).abs() >= 0.5 {
        t + 1f32.copysign(x)
    } else {
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dequantize_rejects_partial_blocks_and_wrong_output_length() {
        let bytes = [0u8; 19];
        let mut out = [0f32; 32];
        let err = dequantize(GgmlType::Q4_0, &bytes, &mut out).unwrap_err();
        assert!(matches!(err, QuantError::ByteLength { got: 19, .. }), "{err}");
        let err = dequantize(GgmlType::Q4_0, &bytes[..18], &mut out[..31]).unwrap_err();
        assert!(matches!(err, QuantError::OutputLength { got: 31, expected: 32, .. }), "{err}");
    }

    #[test]
    fn unsupported_types_are_errors_not_panics() {
        let mut out = [0f32; 256];
        let err = dequantize(GgmlType::IQ2_XXS, &[0u8; 66], &mut out).unwrap_err();
        assert_eq!(err, QuantError::Unsupported { op: "dequantize", ty: GgmlType::IQ2_XXS });
        let err = quantize(GgmlType::Q4_0, &[0f32; 32], &mut [0u8; 18]).unwrap_err();
        assert_eq!(err, QuantError::Unsupported { op: "quantize", ty: GgmlType::Q4_0 });
        let err = quantize(GgmlType::Q8_0, &[0f32; 31], &mut [0u8; 34]).unwrap_err();
        assert!(matches!(err, QuantError::NotBlockMultiple { len: 31, .. }));
    }

    #[test]
    fn f16_conversion_is_exact_for_every_half() {
        // Every half under a native run; a stride under Miri, which interprets each operation.
        let step = if cfg!(miri) { 97 } else { 1 };
        for bits in (0..=u16::MAX).step_by(step) {
            let ours = f16_le(bits.to_le_bytes());
            let reference = half::f16::from_bits(bits).to_f32();
            if reference.is_nan() {
                assert!(ours.is_nan(), "{bits:#06x}");
            } else {
                assert_eq!(ours.to_bits(), reference.to_bits(), "{bits:#06x}");
            }
        }
    }

    #[test]
    fn round_away_matches_c_roundf_on_halves() {
        assert_eq!(round_away(0.5), 1.0);
        assert_eq!(round_away(-0.5), -1.0);
        assert_eq!(round_away(2.5), 3.0);
        assert_eq!(round_away(-2.5), -3.0);
        assert_eq!(round_away(1.4999999), 1.0);
        assert_eq!(round_away(0.49999997), 0.0);
        assert!(round_away(f32::NAN).is_nan());
        assert_eq!(round_away(f32::INFINITY), f32::INFINITY);
        // Against std's `round` (C `roundf`) on a dense sweep and on every half-integer region.
        let mut x = -300.0f32;
        while x < 300.0 {
            for v in [x, f32::from_bits(x.to_bits() + 1), f32::from_bits(x.to_bits().saturating_sub(1))] {
                assert_eq!(round_away(v).to_bits(), v.round().to_bits(), "{v}");
            }
            x += 0.03125;
        }
    }
}
