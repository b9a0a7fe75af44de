//! Compute kernels over quantized blocks.
//!
//! [`scalar`] is the reference: plain Rust written for clarity, the definition every SIMD
//! flavour (AVX2, NEON, wasm simd128; later issues) is tested against. Each weight type is dotted
//! with the activation type ggml pairs it with ([`GgmlType::vec_dot_type`]): activations are
//! quantized on the fly to Q8_0, Q8_1 or Q8_K so the inner loops are integer multiply-adds.

pub mod scalar;

pub use scalar::VecDot;

use crate::error::QuantError;
use crate::quant::{self, as_blocks, Block, GgmlType};

/// Quantizes f32 activations into the block type that `weight_ty` is dotted with.
pub fn quantize_activations(weight_ty: GgmlType, x: &[f32], out: &mut [u8]) -> Result<(), QuantError> {
    let act = weight_ty.vec_dot_type().ok_or(QuantError::Unsupported { op: "vec_dot", ty: weight_ty })?;
    quant::quantize(act, x, out)
}

/// Bytes needed to hold `n` activations quantized for dotting with `weight_ty`.
pub fn activation_bytes(weight_ty: GgmlType, n: usize) -> Result<usize, QuantError> {
    let act = weight_ty.vec_dot_type().ok_or(QuantError::Unsupported { op: "vec_dot", ty: weight_ty })?;
    act.row_bytes(n as u64).map(|b| b as usize).ok_or(QuantError::NotBlockMultiple {
        op: "quantize",
        ty: act,
        len: n,
        block: act.block_elems(),
    })
}

fn vec_dot_typed<W: VecDot>(w: &[u8], a: &[u8]) -> Result<f32, QuantError> {
    let w = as_blocks::<W>(w, "vec_dot")?;
    let a = as_blocks::<W::Act>(a, "vec_dot")?;
    if w.len() != a.len() {
        return Err(QuantError::ByteLength {
            op: "vec_dot",
            ty: W::Act::TYPE,
            what: "activations",
            got: std::mem::size_of_val(a),
            expected: w.len() * std::mem::size_of::<W::Act>(),
        });
    }
    Ok(W::vec_dot(w, a))
}

/// Dot product of one row of `weight_ty` weights with activations already quantized by
/// [`quantize_activations`] (the same number of values).
pub fn vec_dot(weight_ty: GgmlType, w: &[u8], a: &[u8]) -> Result<f32, QuantError> {
    use crate::quant::*;
    match weight_ty {
        GgmlType::F32 => vec_dot_typed::<BlockF32>(w, a),
        GgmlType::F16 => vec_dot_typed::<BlockF16>(w, a),
        GgmlType::BF16 => vec_dot_typed::<BlockBF16>(w, a),
        GgmlType::Q4_0 => vec_dot_typed::<BlockQ4_0>(w, a),
        GgmlType::Q4_1 => vec_dot_typed::<BlockQ4_1>(w, a),
        GgmlType::Q5_0 => vec_dot_typed::<BlockQ5_0>(w, a),
        GgmlType::Q5_1 => vec_dot_typed::<BlockQ5_1>(w, a),
        GgmlType::Q8_0 => vec_dot_typed::<BlockQ8_0>(w, a),
        GgmlType::Q2_K => vec_dot_typed::<BlockQ2K>(w, a),
        GgmlType::Q3_K => vec_dot_typed::<BlockQ3K>(w, a),
        GgmlType::Q4_K => vec_dot_typed::<BlockQ4K>(w, a),
        GgmlType::Q5_K => vec_dot_typed::<BlockQ5K>(w, a),
        GgmlType::Q6_K => vec_dot_typed::<BlockQ6K>(w, a),
        _ => Err(QuantError::Unsupported { op: "vec_dot", ty: weight_ty }),
    }
}
