//! Requantizing a GGUF model to another weight type (`ruvllm quantize`).
//!
//! Every 2-D weight is dequantized to f32 and quantized again with ggml's reference quantizers;
//! 1-D tensors (norms) keep their type. Like llama.cpp's `llama-quantize`, a K type falls back
//! to a 32-value type for rows that are not a whole number of 256-value super-blocks (SmolLM2's
//! 576-wide rows): Q4_K → Q5_0, Q6_K → Q8_0. The metadata is copied, `general.file_type` set.

use std::io::Write;

use crate::error::{ModelError, QuantError, Result};
use crate::gguf::{GgufFile, GgufWriter, Value};
use crate::quant::{self, GgmlType};

/// Weight types `ruvllm quantize` can produce.
pub const TARGETS: &[GgmlType] =
    &[GgmlType::Q8_0, GgmlType::Q4_0, GgmlType::Q4_1, GgmlType::Q5_0, GgmlType::Q5_1, GgmlType::Q4_K, GgmlType::Q6_K];

/// llama.cpp's `llama_ftype` for a file whose weights are (mostly) `ty`.
fn file_type(ty: GgmlType) -> u32 {
    match ty {
        GgmlType::Q4_0 => 2,
        GgmlType::Q4_1 => 3,
        GgmlType::Q8_0 => 7,
        GgmlType::Q5_0 => 8,
        GgmlType::Q5_1 => 9,
        GgmlType::Q4_K => 14, // Q4_K_S: every weight Q4_K where the shape allows
        GgmlType::Q6_K => 18,
        _ => 0,
    }
}

/// The type a tensor gets when the file is quantized to `target`.
pub fn tensor_type(target: GgmlType, dims: &[u64]) -> GgmlType {
    let row = dims.first().copied().unwrap_or(1);
    if dims.len() < 2 {
        return GgmlType::F32;
    }
    match target {
        GgmlType::Q4_K if row % 256 != 0 => GgmlType::Q5_0,
        GgmlType::Q6_K if row % 256 != 0 => GgmlType::Q8_0,
        t if row % t.block_elems() as u64 != 0 => GgmlType::F32,
        t => t,
    }
}

/// Writes `file` requantized to `target` into `out`. Returns the number of tensors requantized.
pub fn requantize(file: &GgufFile, target: GgmlType, out: &mut impl Write) -> Result<usize> {
    if !TARGETS.contains(&target) {
        return Err(ModelError::InvalidOption {
            field: "type",
            value: target.name().into(),
            reason: "supported targets: Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, Q6_K".into(),
        }
        .into());
    }
    file.check_supported()?;
    let mut w = GgufWriter::new();
    for (k, v) in file.metadata() {
        let v = if k == "general.file_type" { Value::U32(file_type(target)) } else { v.clone() };
        w.kv(k.clone(), v);
    }
    if file.get("general.file_type").is_none() {
        w.kv("general.file_type", Value::U32(file_type(target)));
    }
    let mut changed = 0;
    let mut values = Vec::new();
    for info in file.tensors() {
        let view = file.view(info);
        let ty = if info.dims().len() < 2 { info.ty() } else { tensor_type(target, info.dims()) };
        if ty == info.ty() {
            w.tensor(info.name(), ty, info.dims(), view.data().to_vec())?;
            continue;
        }
        values.resize(info.n_elements() as usize, 0f32);
        view.dequantize_into(&mut values)?;
        let bytes = ty.row_bytes(info.n_elements()).ok_or(QuantError::NotBlockMultiple {
            op: "quantize",
            ty,
            len: info.n_elements() as usize,
            block: ty.block_elems(),
        })?;
        let data = if ty == GgmlType::F32 {
            values.iter().flat_map(|v| v.to_le_bytes()).collect()
        } else {
            let mut data = vec![0u8; bytes as usize];
            quant::quantize_weights(ty, &values, &mut data)?;
            data
        };
        w.tensor(info.name(), ty, info.dims(), data)?;
        changed += 1;
    }
    w.write_to(out).map_err(|e| crate::Error::Io { op: "cannot write", path: "<output>".into(), source: e })?;
    Ok(changed)
}
