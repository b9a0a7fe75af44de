//! neon dot products: not written yet; the dispatcher falls back to the scalar reference for
//! every type this returns `None` for.

use super::RowsDot;
use crate::quant::GgmlType;

pub(super) fn rows_dot(_ty: GgmlType, _dotprod: bool) -> Option<RowsDot> {
    None
}
