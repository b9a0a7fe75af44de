//! Model architectures, wired from the shared [`crate::ops`].
//!
//! [`Model`] holds the validated configuration and where each weight lives in the (mapped) file;
//! weights stay in their quantized blocks. [`Session`] owns everything that changes while
//! generating: the KV cache, preallocated for its context, and every scratch buffer, sized once,
//! so evaluating a token allocates nothing.

mod config;
mod session;

pub use config::{ConfigParams, ModelConfig, SUPPORTED_ARCHITECTURES};
pub use session::{LogitsSink, Precision, Session, SessionOptions};

use std::ops::Deref;
use std::sync::Arc;

use crate::error::{ModelError, Result};
use crate::gguf::GgufFile;
use crate::ops::Linear;
use crate::quant::GgmlType;

/// A value borrowed for `'a` or shared through an `Arc`: a [`Session`] (or a
/// [`crate::generate::Generator`]) usually borrows its model, and holds an `Arc` where it must be
/// `'static` (the wasm `Engine` keeps its generator, and so its KV cache, across calls).
#[derive(Debug)]
pub enum Shared<'a, T> {
    Borrowed(&'a T),
    Arc(Arc<T>),
}

impl<T> Deref for Shared<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        match self {
            Shared::Borrowed(t) => t,
            Shared::Arc(t) => t,
        }
    }
}

impl<'a, T> From<&'a T> for Shared<'a, T> {
    fn from(t: &'a T) -> Self {
        Shared::Borrowed(t)
    }
}

impl<T> From<Arc<T>> for Shared<'_, T> {
    fn from(t: Arc<T>) -> Self {
        Shared::Arc(t)
    }
}

/// Weights of one transformer block.
#[derive(Debug)]
pub(crate) struct Layer {
    pub attn_norm: Vec<f32>,
    pub wq: Linear,
    pub wk: Linear,
    pub wv: Linear,
    pub wo: Linear,
    pub ffn_norm: Vec<f32>,
    pub gate: Linear,
    pub up: Linear,
    pub down: Linear,
}

/// A loaded model: configuration plus the location and type of every weight.
#[derive(Debug)]
pub struct Model {
    file: GgufFile,
    config: ModelConfig,
    pub(crate) tok_embd: Linear,
    pub(crate) output_norm: Vec<f32>,
    pub(crate) output: Linear,
    pub(crate) layers: Vec<Layer>,
    pub(crate) rope_freqs: Option<Vec<f32>>,
}

impl Model {
    /// Opens and loads a GGUF model file (memory-mapped; weights are not read until used).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn open(path: impl AsRef<std::path::Path>) -> Result<Self> {
        Self::load(GgufFile::open(path)?)
    }

    /// Validates the configuration and every weight's presence, shape and type.
    pub fn load(file: GgufFile) -> Result<Self> {
        file.check_supported()?;
        let config = ModelConfig::from_gguf(&file)?;
        let c = &config;
        let (e, q, kv, ff, v) =
            (c.n_embd as u64, (c.n_head * c.head_dim) as u64, c.kv_dim() as u64, c.n_ff as u64, c.n_vocab as u64);
        let tok_embd = linear(&file, "token_embd.weight", e, v, false)?;
        let output = if file.tensor("output.weight").is_ok() {
            linear(&file, "output.weight", e, v, true)?
        } else {
            // Tied embeddings: the output head is the embedding matrix.
            linear(&file, "token_embd.weight", e, v, true)?
        };
        let mut layers = Vec::with_capacity(c.n_layer);
        for i in 0..c.n_layer {
            let n = |s: &str| format!("blk.{i}.{s}.weight");
            layers.push(Layer {
                attn_norm: vector(&file, &n("attn_norm"), e)?,
                wq: linear(&file, &n("attn_q"), e, q, true)?,
                wk: linear(&file, &n("attn_k"), e, kv, true)?,
                wv: linear(&file, &n("attn_v"), e, kv, true)?,
                wo: linear(&file, &n("attn_output"), q, e, true)?,
                ffn_norm: vector(&file, &n("ffn_norm"), e)?,
                gate: linear(&file, &n("ffn_gate"), e, ff, true)?,
                up: linear(&file, &n("ffn_up"), e, ff, true)?,
                down: linear(&file, &n("ffn_down"), ff, e, true)?,
            });
        }
        let rope_freqs = match file.tensor("rope_freqs.weight") {
            Ok(_) => Some(vector(&file, "rope_freqs.weight", (c.n_rot / 2) as u64)?),
            Err(_) => None,
        };
        Ok(Self {
            output_norm: vector(&file, "output_norm.weight", e)?,
            file,
            config,
            tok_embd,
            output,
            layers,
            rope_freqs,
        })
    }

    pub fn config(&self) -> &ModelConfig {
        &self.config
    }

    pub fn file(&self) -> &GgufFile {
        &self.file
    }

    /// The model's bytes (weights are addressed inside them).
    pub(crate) fn bytes(&self) -> &[u8] {
        self.file.bytes()
    }
}

fn check_shape(file: &GgufFile, name: &str, expected: &[u64]) -> Result<crate::gguf::TensorInfo> {
    let t = file.tensor(name).map_err(|_| ModelError::MissingTensor { name: name.into() })?;
    let info = t.info().clone();
    if info.dims() != expected {
        return Err(ModelError::TensorShape {
            name: name.into(),
            expected: expected.to_vec(),
            found: info.dims().to_vec(),
        }
        .into());
    }
    Ok(info)
}

/// A weight matrix of `rows` rows of `cols` values; `dot` says it is multiplied with activations
/// (so its type needs a dot-product kernel), as opposed to only having rows looked up.
fn linear(file: &GgufFile, name: &str, cols: u64, rows: u64, dot: bool) -> Result<Linear> {
    let info = check_shape(file, name, &[cols, rows])?;
    let ty = info.ty();
    let bad = |reason: String| ModelError::TensorType { name: name.into(), ty, reason };
    if dot {
        let act = ty.vec_dot_type().ok_or_else(|| bad("no dot-product kernel for this type".into()))?;
        if act.row_bytes(cols).is_none() {
            return Err(bad(format!("rows of {cols} values are not whole {act} activation blocks")).into());
        }
    }
    let row_bytes = ty.row_bytes(cols).ok_or_else(|| bad(format!("rows of {cols} values are not whole blocks")))?;
    Ok(Linear {
        ty,
        rows: rows as usize,
        cols: cols as usize,
        start: (file.data_offset() + info.offset()) as usize,
        row_bytes: row_bytes as usize,
    })
}

/// A 1-D weight (a norm's scale), dequantized once at load: it is tiny.
fn vector(file: &GgufFile, name: &str, len: u64) -> Result<Vec<f32>> {
    check_shape(file, name, &[len])?;
    let t = file.tensor(name)?;
    if t.info().ty() != GgmlType::F32 && t.info().ty() != GgmlType::F16 && t.info().ty() != GgmlType::BF16 {
        return Err(ModelError::TensorType {
            name: name.into(),
            ty: t.info().ty(),
            reason: "norm weights must be F32, F16 or BF16".into(),
        }
        .into());
    }
    t.to_f32_vec()
}
