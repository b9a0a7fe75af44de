//! `ruvllm inspect FILE [--json]`: what gguf-py's `gguf-dump` shows, from ruvllm's own reader.

use std::io::Write;
use std::path::Path;

use serde_json::json;

use super::CliError;
use crate::gguf::{Array, DisplayValue, GgufFile, TensorInfo, Value};

pub(super) fn run(path: &Path, as_json: bool, array_limit: usize, out: &mut impl Write) -> Result<(), CliError> {
    let file = GgufFile::open(path)?;
    if as_json {
        let doc = to_json(path, &file, array_limit);
        serde_json::to_writer_pretty(&mut *out, &doc).map_err(std::io::Error::from)?;
        writeln!(out)?;
        return Ok(());
    }
    writeln!(out, "{}: GGUF v{}, {} bytes", path.display(), file.version(), file.file_len())?;
    writeln!(out, "alignment {}, tensor data at offset {}", file.alignment(), file.data_offset())?;
    writeln!(out, "\n{} metadata keys:", file.metadata().len())?;
    for (key, value) in file.metadata() {
        writeln!(out, "  {key} ({}) = {}", type_label(value), DisplayValue { value, limit: array_limit })?;
    }
    let params: u64 = file.tensors().iter().map(TensorInfo::n_elements).sum();
    let bytes: u64 = file.tensors().iter().map(TensorInfo::n_bytes).sum();
    writeln!(
        out,
        "\n{} tensors, {} parameters, {:.1} MiB of tensor data:",
        file.tensors().len(),
        params,
        bytes as f64 / (1 << 20) as f64
    )?;
    let width = file.tensors().iter().map(|t| t.name().len()).max().unwrap_or(4).max(4);
    writeln!(out, "  {:>4}  {:<width$}  {:<8} {:<22} {:>12} {:>12}", "#", "name", "type", "shape", "bytes", "offset")?;
    for (i, t) in file.tensors().iter().enumerate() {
        let note = if t.ty().is_supported() { "" } else { "  (type not supported by this runtime)" };
        writeln!(
            out,
            "  {i:>4}  {:<width$}  {:<8} {:<22} {:>12} {:>12}{note}",
            t.name(),
            t.ty().name(),
            shape(t),
            t.n_bytes(),
            file.data_offset() + t.offset(),
        )?;
    }
    Ok(())
}

fn shape(t: &TensorInfo) -> String {
    let dims: Vec<String> = t.dims().iter().map(u64::to_string).collect();
    format!("[{}]", dims.join(", "))
}

fn type_label(v: &Value) -> String {
    match v {
        Value::Array(a) => format!("array of {} {}", a.len(), a.element_type().name()),
        other => other.value_type().name().to_string(),
    }
}

fn value_json(v: &Value, limit: usize) -> serde_json::Value {
    match v {
        Value::Array(a) => array_json(a, limit),
        Value::String(s) => json!(s),
        Value::Bool(b) => json!(b),
        Value::F32(x) => json!(x),
        Value::F64(x) => json!(x),
        Value::I8(x) => json!(x),
        Value::I16(x) => json!(x),
        Value::I32(x) => json!(x),
        Value::I64(x) => json!(x),
        other => json!(other.to_u64()),
    }
}

fn array_json(a: &Array, limit: usize) -> serde_json::Value {
    let shown: Vec<serde_json::Value> = match a {
        Array::Array(inner) => inner.iter().take(limit).map(|x| array_json(x, limit)).collect(),
        _ => (0..a.len().min(limit)).filter_map(|i| a.get(i)).map(|x| value_json(&x, limit)).collect(),
    };
    json!({ "element_type": a.element_type().name(), "len": a.len(), "values": shown, "truncated": a.len() > limit })
}

fn to_json(path: &Path, file: &GgufFile, limit: usize) -> serde_json::Value {
    let metadata: Vec<_> = file
        .metadata()
        .iter()
        .map(|(k, v)| json!({ "key": k, "type": v.value_type().name(), "value": value_json(v, limit) }))
        .collect();
    let tensors: Vec<_> = file
        .tensors()
        .iter()
        .map(|t| {
            json!({
                "name": t.name(),
                "type": t.ty().name(),
                "shape": t.dims(),
                "bytes": t.n_bytes(),
                "offset": file.data_offset() + t.offset(),
                "supported": t.ty().is_supported(),
            })
        })
        .collect();
    json!({
        "path": path.display().to_string(),
        "file_size": file.file_len(),
        "version": file.version(),
        "alignment": file.alignment(),
        "data_offset": file.data_offset(),
        "metadata": metadata,
        "tensors": tensors,
    })
}
