//! The catalogue of ggml tensor types: ids as stored in GGUF, block geometry, and which ones this
//! runtime computes with.

use std::fmt;

use super::*;

macro_rules! ggml_types {
    ($( $variant:ident = $id:literal, $name:literal, $elems:expr, $bytes:expr; )*) => {
        /// A ggml tensor type, as identified in a GGUF tensor info.
        ///
        /// Every type ggml has defined is listed, so that any well-formed file can be read and
        /// inspected; [`GgmlType::is_supported`] says which ones this runtime can compute with.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[allow(non_camel_case_types)]
        #[non_exhaustive]
        pub enum GgmlType { $( $variant, )* }

        impl GgmlType {
            /// Every known type, in id order.
            pub const ALL: &'static [GgmlType] = &[$( GgmlType::$variant, )*];

            /// The type with this GGUF id, if ggml defines one.
            pub fn from_id(id: u32) -> Option<Self> {
                match id { $( $id => Some(Self::$variant), )* _ => None }
            }

            /// The id stored in GGUF tensor infos.
            pub fn id(self) -> u32 {
                match self { $( Self::$variant => $id, )* }
            }

            /// ggml's name for the type (`Q4_K`, `F16`, ...).
            pub fn name(self) -> &'static str {
                match self { $( Self::$variant => $name, )* }
            }

            /// Values per block.
            pub const fn block_elems(self) -> usize {
                match self { $( Self::$variant => $elems, )* }
            }

            /// Bytes per block.
            pub const fn block_bytes(self) -> usize {
                match self { $( Self::$variant => $bytes, )* }
            }
        }
    };
}

ggml_types! {
    F32 = 0, "F32", 1, 4;
    F16 = 1, "F16", 1, 2;
    Q4_0 = 2, "Q4_0", 32, 18;
    Q4_1 = 3, "Q4_1", 32, 20;
    Q5_0 = 6, "Q5_0", 32, 22;
    Q5_1 = 7, "Q5_1", 32, 24;
    Q8_0 = 8, "Q8_0", 32, 34;
    Q8_1 = 9, "Q8_1", 32, 36;
    Q2_K = 10, "Q2_K", 256, 84;
    Q3_K = 11, "Q3_K", 256, 110;
    Q4_K = 12, "Q4_K", 256, 144;
    Q5_K = 13, "Q5_K", 256, 176;
    Q6_K = 14, "Q6_K", 256, 210;
    Q8_K = 15, "Q8_K", 256, 292;
    IQ2_XXS = 16, "IQ2_XXS", 256, 66;
    IQ2_XS = 17, "IQ2_XS", 256, 74;
    IQ3_XXS = 18, "IQ3_XXS", 256, 98;
    IQ1_S = 19, "IQ1_S", 256, 50;
    IQ4_NL = 20, "IQ4_NL", 32, 18;
    IQ3_S = 21, "IQ3_S", 256, 110;
    IQ2_S = 22, "IQ2_S", 256, 82;
    IQ4_XS = 23, "IQ4_XS", 256, 136;
    I8 = 24, "I8", 1, 1;
    I16 = 25, "I16", 1, 2;
    I32 = 26, "I32", 1, 4;
    I64 = 27, "I64", 1, 8;
    F64 = 28, "F64", 1, 8;
    IQ1_M = 29, "IQ1_M", 256, 56;
    BF16 = 30, "BF16", 1, 2;
    TQ1_0 = 34, "TQ1_0", 256, 54;
    TQ2_0 = 35, "TQ2_0", 256, 66;
    MXFP4 = 39, "MXFP4", 32, 17;
    NVFP4 = 40, "NVFP4", 64, 36;
    Q1_0 = 41, "Q1_0", 128, 18;
}

/// The types this runtime dequantizes and computes with, for error messages.
pub(crate) const SUPPORTED_NAMES: &str =
    "F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q8_1, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, Q8_K";

impl GgmlType {
    /// Whether this runtime can dequantize (and compute with) tensors of this type.
    pub fn is_supported(self) -> bool {
        dispatch_block!(self, B => { let _ = std::marker::PhantomData::<B>; true }, _ => false)
    }

    /// The activation type whose dot product with this weight type the kernels implement
    /// (ggml's `vec_dot_type`), or `None` for types that are never weights (Q8_1, Q8_K) or
    /// that this runtime does not support.
    pub fn vec_dot_type(self) -> Option<GgmlType> {
        use GgmlType::*;
        match self {
            F32 => Some(F32),
            F16 => Some(F16),
            BF16 => Some(BF16),
            Q4_0 | Q5_0 | Q8_0 => Some(Q8_0),
            Q4_1 | Q5_1 => Some(Q8_1),
            Q2_K | Q3_K | Q4_K | Q5_K | Q6_K => Some(Q8_K),
            _ => None,
        }
    }

    /// Bytes taken by `n` values of this type, or `None` when `n` is not a whole number of
    /// blocks or the size overflows.
    pub fn row_bytes(self, n: u64) -> Option<u64> {
        let elems = self.block_elems() as u64;
        if !n.is_multiple_of(elems) {
            return None;
        }
        (n / elems).checked_mul(self.block_bytes() as u64)
    }
}

impl fmt::Display for GgmlType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Compile-time proof that each block struct has ggml's size and alignment 1 (so any byte slice
/// of the right length can be viewed as blocks).
macro_rules! assert_layout {
    ($($B:ty),*) => {$(
        const _: () = assert!(std::mem::align_of::<$B>() == 1);
        const _: () = assert!(std::mem::size_of::<$B>() == <$B as Block>::TYPE.block_bytes());
    )*};
}

assert_layout!(
    BlockF32, BlockF16, BlockBF16, BlockQ4_0, BlockQ4_1, BlockQ5_0, BlockQ5_1, BlockQ8_0, BlockQ8_1, BlockQ2K,
    BlockQ3K, BlockQ4K, BlockQ5K, BlockQ6K, BlockQ8K
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_unknown_ids_are_none() {
        for &ty in GgmlType::ALL {
            assert_eq!(GgmlType::from_id(ty.id()), Some(ty));
        }
        for id in [4, 5, 31, 32, 33, 36, 37, 38, 42, u32::MAX] {
            assert_eq!(GgmlType::from_id(id), None, "id {id}");
        }
    }

    #[test]
    fn block_geometry_of_supported_types_matches_the_structs() {
        fn check<B: Block>() {
            assert_eq!(B::TYPE.block_bytes(), std::mem::size_of::<B>(), "{}", B::TYPE);
            assert_eq!(B::TYPE.block_elems(), B::ELEMS, "{}", B::TYPE);
        }
        for &ty in GgmlType::ALL {
            dispatch_block!(ty, B => check::<B>(), _ => assert!(!ty.is_supported()));
        }
    }

    #[test]
    fn row_bytes_refuses_partial_blocks_and_overflow() {
        assert_eq!(GgmlType::Q4_0.row_bytes(64), Some(36));
        assert_eq!(GgmlType::Q4_0.row_bytes(33), None);
        assert_eq!(GgmlType::F32.row_bytes(u64::MAX), None);
    }
}
