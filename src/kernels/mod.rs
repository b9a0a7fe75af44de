//! Compute kernels over quantized blocks.
//!
//! [`scalar`] is the reference: plain Rust written for clarity, the definition every SIMD
//! flavour is tested against. Each weight type is dotted with the activation type ggml pairs it
//! with ([`GgmlType::vec_dot_type`]): activations are quantized on the fly to Q8_0, Q8_1 or Q8_K
//! so the inner loops are integer multiply-adds.
//!
//! The SIMD flavours ([`Flavour`]) live in private modules, one per instruction set. Their
//! functions are only reachable through a [`Kernels`] value, and a `Kernels` of a flavour is only
//! constructed after the CPU was seen to support it (runtime detection on x86_64 and aarch64,
//! compile-time `target_feature` on wasm32). That is the invariant every `unsafe` call of a
//! `#[target_feature]` function in those modules relies on.

pub mod scalar;

#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
mod avx2;
#[cfg(target_arch = "aarch64")]
#[allow(unsafe_code)]
mod neon;
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
#[allow(unsafe_code)]
mod simd128;

mod vector;

#[cfg(test)]
mod tests;

pub use scalar::VecDot;

use std::sync::OnceLock;

use crate::error::QuantError;
use crate::quant::{self, GgmlType};

/// Most activation rows one [`RowsDot`] call dots with a weight row.
pub const MAX_ROWS: usize = 4;

/// `out[j] = dot(w, a_j)` for `j < out.len()` (at most [`MAX_ROWS`]): `w` is one row of weight
/// blocks, `a` holds `out.len()` activation rows of the same number of values back to back.
///
/// The caller validates the lengths (as [`Kernels::matmul_rows`] does); an implementation never
/// reads outside the slices it is given, whatever their lengths, but only fills `out` correctly
/// when they agree.
pub type RowsDot = fn(w: &[u8], a: &[u8], out: &mut [f32]);

/// For every weight row `i` of `w` (rows of `row_bytes`): `out[i * stride + j] = dot(w_i, a_j)`
/// for the `n_act` (at most [`MAX_ROWS`]) activation rows in `a`. The many-rows form of
/// [`RowsDot`]: a flavour provides it where the per-row call would cost as much as the row.
/// Like [`RowsDot`], it never reads or writes outside its slices.
pub type MatDot = fn(w: &[u8], row_bytes: usize, a: &[u8], n_act: usize, out: &mut [f32], stride: usize);

/// An instruction set the kernels are written for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Flavour {
    /// Portable Rust, the reference.
    Scalar,
    /// x86_64 AVX2 + FMA + F16C.
    Avx2,
    /// x86_64 AVX-512 F/BW/VL with VNNI (`vpdpbusd`), on top of AVX2.
    Avx512Vnni,
    /// aarch64 Advanced SIMD.
    Neon,
    /// aarch64 Advanced SIMD with the `dotprod` extension (`sdot`).
    NeonDotprod,
    /// wasm32 128-bit SIMD (compile-time).
    Simd128,
}

impl Flavour {
    /// Every flavour, best first.
    pub const ALL: [Flavour; 6] =
        [Flavour::Avx512Vnni, Flavour::Avx2, Flavour::NeonDotprod, Flavour::Neon, Flavour::Simd128, Flavour::Scalar];

    pub fn name(self) -> &'static str {
        match self {
            Flavour::Scalar => "scalar",
            Flavour::Avx2 => "avx2",
            Flavour::Avx512Vnni => "avx512vnni",
            Flavour::Neon => "neon",
            Flavour::NeonDotprod => "neon-dotprod",
            Flavour::Simd128 => "simd128",
        }
    }

    /// Whether this machine can run the flavour.
    pub fn supported(self) -> bool {
        match self {
            Flavour::Scalar => true,
            #[cfg(target_arch = "x86_64")]
            Flavour::Avx2 => avx2::detected(),
            #[cfg(target_arch = "x86_64")]
            Flavour::Avx512Vnni => avx2::detected_vnni(),
            #[cfg(target_arch = "aarch64")]
            Flavour::Neon => std::arch::is_aarch64_feature_detected!("neon"),
            #[cfg(target_arch = "aarch64")]
            Flavour::NeonDotprod => {
                std::arch::is_aarch64_feature_detected!("neon") && std::arch::is_aarch64_feature_detected!("dotprod")
            }
            #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
            Flavour::Simd128 => true,
            #[allow(unreachable_patterns)]
            _ => false,
        }
    }

    /// Parses a [`Flavour::name`].
    pub fn from_name(name: &str) -> Option<Flavour> {
        Flavour::ALL.into_iter().find(|f| f.name() == name)
    }
}

impl std::fmt::Display for Flavour {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The kernel set of one supported [`Flavour`]. Obtain it from [`Kernels::best`] or
/// [`Kernels::new`]; both check the CPU first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Kernels {
    flavour: Flavour,
}

/// Environment variable that caps the flavour [`Kernels::best`] picks (e.g. `scalar`, `avx2`).
pub const FLAVOUR_ENV: &str = "RUVLLM_KERNELS";

impl Kernels {
    /// The kernels of `flavour`, if this CPU supports it.
    pub fn new(flavour: Flavour) -> Option<Kernels> {
        flavour.supported().then_some(Kernels { flavour })
    }

    /// The portable reference kernels.
    pub fn scalar() -> Kernels {
        Kernels { flavour: Flavour::Scalar }
    }

    /// The best flavour this CPU supports, detected once. [`FLAVOUR_ENV`] may name a flavour to
    /// use instead when it is supported (benchmarks and tests compare flavours this way).
    pub fn best() -> Kernels {
        static BEST: OnceLock<Kernels> = OnceLock::new();
        *BEST.get_or_init(|| {
            let wanted = std::env::var(FLAVOUR_ENV).ok().and_then(|n| Flavour::from_name(n.trim()));
            wanted
                .and_then(Kernels::new)
                .or_else(|| Flavour::ALL.into_iter().find_map(Kernels::new))
                .unwrap_or_else(Kernels::scalar)
        })
    }

    /// Every flavour this CPU supports, best first (the scalar reference last).
    pub fn available() -> Vec<Kernels> {
        Flavour::ALL.into_iter().filter_map(Kernels::new).collect()
    }

    pub fn flavour(&self) -> Flavour {
        self.flavour
    }

    /// The dot-product kernel of `weight_ty` in this flavour, or the scalar one where the
    /// flavour has none for that type. `None` when no kernel dots `weight_ty` at all.
    pub fn rows_dot(&self, weight_ty: GgmlType) -> Option<RowsDot> {
        let own = match self.flavour {
            #[cfg(target_arch = "x86_64")]
            Flavour::Avx2 => avx2::rows_dot(weight_ty),
            #[cfg(target_arch = "x86_64")]
            Flavour::Avx512Vnni => avx2::rows_dot_vnni(weight_ty),
            #[cfg(target_arch = "aarch64")]
            Flavour::Neon => neon::rows_dot(weight_ty, false),
            #[cfg(target_arch = "aarch64")]
            Flavour::NeonDotprod => neon::rows_dot(weight_ty, true),
            #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
            Flavour::Simd128 => simd128::rows_dot(weight_ty),
            _ => None,
        };
        own.or_else(|| scalar_rows_dot(weight_ty))
    }

    /// For every weight row `i` of `w`: `out[i * stride + j] = dot(w_i, a_j)`, `j < n_act`, by
    /// the flavour's many-rows kernel where it has one, else row by row. Lengths as checked by
    /// [`check_rows`] for one row; `out` must reach `(rows - 1) * stride + n_act`.
    #[allow(clippy::too_many_arguments)]
    pub fn mat_rows(
        &self,
        weight_ty: GgmlType,
        dot: RowsDot,
        w: &[u8],
        row_bytes: usize,
        a: &[u8],
        n_act: usize,
        out: &mut [f32],
        stride: usize,
    ) {
        let own: Option<MatDot> = match self.flavour {
            #[cfg(target_arch = "x86_64")]
            Flavour::Avx2 => avx2::mat_dot::<false>(weight_ty),
            #[cfg(target_arch = "x86_64")]
            Flavour::Avx512Vnni => avx2::mat_dot::<true>(weight_ty),
            #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
            Flavour::Simd128 => simd128::mat_dot(weight_ty),
            _ => {
                let _ = weight_ty; // only the x86 and wasm flavours have many-rows kernels
                None
            }
        };
        match own {
            Some(mat) => mat(w, row_bytes, a, n_act, out, stride),
            None => {
                for (wr, o) in w.chunks_exact(row_bytes.max(1)).zip(out.chunks_mut(stride.max(1))) {
                    let n = n_act.min(o.len());
                    dot(wr, a, &mut o[..n]);
                }
            }
        }
    }

    /// `out[j] = dot(w, a_j)` for the `out.len()` activation rows in `a` (at most [`MAX_ROWS`]),
    /// with every length checked.
    pub fn matmul_rows(&self, weight_ty: GgmlType, w: &[u8], a: &[u8], out: &mut [f32]) -> Result<(), QuantError> {
        let kernel = self.rows_dot(weight_ty).ok_or(QuantError::Unsupported { op: "vec_dot", ty: weight_ty })?;
        check_rows(weight_ty, w.len(), a.len(), out.len())?;
        kernel(w, a, out);
        Ok(())
    }
}

/// Row operations: the scalar flavour runs the references in [`crate::ops`]; AVX2 and AVX-512
/// run [`vector`]'s bodies compiled with AVX2; NEON and simd128 run them as compiled for the
/// target, where those instruction sets are the baseline the compiler vectorises for.
macro_rules! row_ops {
    ($(
        $(#[$doc:meta])*
        fn $name:ident($($arg:ident: $ty:ty),*) $(-> $ret:ty)? => $reference:expr;
    )*) => {
        impl Kernels {
            $(
                $(#[$doc])*
                #[allow(clippy::too_many_arguments)]
                pub fn $name(&self, $($arg: $ty),*) $(-> $ret)? {
                    match self.flavour {
                        Flavour::Scalar => $reference($($arg),*),
                        #[cfg(target_arch = "x86_64")]
                        Flavour::Avx2 | Flavour::Avx512Vnni => avx2::vec::$name($($arg),*),
                        _ => vector::$name($($arg),*),
                    }
                }
            )*
        }
    };
}

row_ops! {
    /// `gate = silu(gate) * up` (SwiGLU).
    fn silu_mul(gate: &mut [f32], up: &[f32]) => crate::ops::silu_mul;
    /// GELU, tanh approximation.
    fn gelu_tanh(x: &mut [f32]) => crate::ops::gelu_tanh;
    /// GELU with the error function.
    fn gelu_erf(x: &mut [f32]) => crate::ops::gelu_erf;
    /// RMSNorm with an f64 mean of squares.
    fn rms_norm(x: &[f32], weight: &[f32], eps: f32, out: &mut [f32]) => crate::ops::rms_norm;
    /// In-place softmax with an f64 sum.
    fn softmax(x: &mut [f32]) => crate::ops::softmax;
    /// `acc += x`.
    fn add_assign(acc: &mut [f32], x: &[f32]) => crate::ops::add_assign;
    /// `acc *= x`.
    fn mul_assign(acc: &mut [f32], x: &[f32]) => crate::ops::mul_assign;
    /// Rotates the pairs of one head (RoPE; NeoX pairs halves, normal pairs neighbours).
    fn rope_head(head: &mut [f32], cos: &[f32], sin: &[f32], neox: bool) => crate::ops::rope_head;
    /// Attention of the heads of one grouped-query group (see [`crate::ops::attend_group`]).
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
    ) => crate::ops::attend_group;
    /// Quantizes activations into the type `weight_ty` is dotted with (bit-identical in every
    /// flavour).
    fn quantize_activations(weight_ty: GgmlType, x: &[f32], out: &mut [u8]) -> Result<(), QuantError>
        => quantize_activations;
}

/// Checks that `w_len` bytes are whole blocks of `weight_ty`, that `a_len` bytes are `rows`
/// activation rows of the same number of values, and that `rows` is within [`MAX_ROWS`].
pub fn check_rows(weight_ty: GgmlType, w_len: usize, a_len: usize, rows: usize) -> Result<(), QuantError> {
    let act = weight_ty.vec_dot_type().ok_or(QuantError::Unsupported { op: "vec_dot", ty: weight_ty })?;
    let (wb, ab) = (weight_ty.block_bytes(), act.block_bytes());
    if wb == 0 || !w_len.is_multiple_of(wb) {
        return Err(QuantError::ByteLength {
            op: "vec_dot",
            ty: weight_ty,
            what: "weights",
            got: w_len,
            expected: w_len.next_multiple_of(wb.max(1)),
        });
    }
    let n_values = w_len / wb * weight_ty.block_elems();
    let per_row = n_values / act.block_elems() * ab;
    let expected = per_row.saturating_mul(rows);
    if rows > MAX_ROWS || !n_values.is_multiple_of(act.block_elems()) || a_len != expected {
        return Err(QuantError::ByteLength { op: "vec_dot", ty: act, what: "activations", got: a_len, expected });
    }
    Ok(())
}

/// The activation side of the 32-value weight types (Q4_0 … Q8_0): Q8_0 and Q8_1 blocks, as
/// every SIMD flavour reads them.
#[allow(dead_code)] // each flavour uses the accessors it needs
pub(crate) trait LegacyAct {
    fn values(&self) -> &[i8; 32];
    /// The scale `d`.
    fn d(&self) -> f32;
    /// `s = d * sum(values)` (Q8_1), 0 for Q8_0.
    fn s(&self) -> f32;
    /// The f16 bits of `d` (low half) and of `s` (high half; 0 for Q8_0).
    fn scale_bits(&self) -> u32;
}

impl LegacyAct for crate::quant::BlockQ8_0 {
    #[inline(always)]
    fn values(&self) -> &[i8; 32] {
        &self.qs
    }
    #[inline(always)]
    fn d(&self) -> f32 {
        crate::quant::f16_le(self.d)
    }
    #[inline(always)]
    fn s(&self) -> f32 {
        0.0
    }
    #[inline(always)]
    fn scale_bits(&self) -> u32 {
        u16::from_le_bytes(self.d) as u32
    }
}

impl LegacyAct for crate::quant::BlockQ8_1 {
    #[inline(always)]
    fn values(&self) -> &[i8; 32] {
        &self.qs
    }
    #[inline(always)]
    fn d(&self) -> f32 {
        crate::quant::f16_le(self.d)
    }
    #[inline(always)]
    fn s(&self) -> f32 {
        crate::quant::f16_le(self.s)
    }
    #[inline(always)]
    fn scale_bits(&self) -> u32 {
        u32::from_le_bytes([self.d[0], self.d[1], self.s[0], self.s[1]])
    }
}

/// Adapts a typed single-row dot product `fn(&[W], &[W::Act]) -> f32` into a [`RowsDot`].
macro_rules! rows_kernel {
    ($w:ty, $dot:expr) => {{
        fn rows(w: &[u8], a: &[u8], out: &mut [f32]) {
            let (Ok(w), Ok(a)) = (
                bytemuck::try_cast_slice::<u8, $w>(w),
                bytemuck::try_cast_slice::<u8, <$w as $crate::kernels::VecDot>::Act>(a),
            ) else {
                return;
            };
            if w.is_empty() {
                out.fill(0.0);
                return;
            }
            for (o, a) in out.iter_mut().zip(a.chunks_exact(w.len())) {
                *o = $dot(w, a);
            }
        }
        rows as $crate::kernels::RowsDot
    }};
}
#[allow(unused_imports)] // used by the SIMD modules of some targets
pub(crate) use rows_kernel;

fn scalar_rows_dot(weight_ty: GgmlType) -> Option<RowsDot> {
    use crate::quant::*;
    Some(match weight_ty {
        GgmlType::F32 => rows_kernel!(BlockF32, BlockF32::vec_dot),
        GgmlType::F16 => rows_kernel!(BlockF16, BlockF16::vec_dot),
        GgmlType::BF16 => rows_kernel!(BlockBF16, BlockBF16::vec_dot),
        GgmlType::Q4_0 => rows_kernel!(BlockQ4_0, BlockQ4_0::vec_dot),
        GgmlType::Q4_1 => rows_kernel!(BlockQ4_1, BlockQ4_1::vec_dot),
        GgmlType::Q5_0 => rows_kernel!(BlockQ5_0, BlockQ5_0::vec_dot),
        GgmlType::Q5_1 => rows_kernel!(BlockQ5_1, BlockQ5_1::vec_dot),
        GgmlType::Q8_0 => rows_kernel!(BlockQ8_0, BlockQ8_0::vec_dot),
        GgmlType::Q2_K => rows_kernel!(BlockQ2K, BlockQ2K::vec_dot),
        GgmlType::Q3_K => rows_kernel!(BlockQ3K, BlockQ3K::vec_dot),
        GgmlType::Q4_K => rows_kernel!(BlockQ4K, BlockQ4K::vec_dot),
        GgmlType::Q5_K => rows_kernel!(BlockQ5K, BlockQ5K::vec_dot),
        GgmlType::Q6_K => rows_kernel!(BlockQ6K, BlockQ6K::vec_dot),
        _ => return None,
    })
}

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

/// Dot product of one row of `weight_ty` weights with activations already quantized by
/// [`quantize_activations`] (the same number of values), by the scalar reference.
pub fn vec_dot(weight_ty: GgmlType, w: &[u8], a: &[u8]) -> Result<f32, QuantError> {
    let mut out = [0f32];
    Kernels::scalar().matmul_rows(weight_ty, w, a, &mut out)?;
    Ok(out[0])
}
