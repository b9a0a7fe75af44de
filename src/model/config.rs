//! Model hyper-parameters, read from GGUF metadata and validated before anything is allocated.

use crate::error::{GgufError, ModelError, Result};
use crate::gguf::GgufFile;
use crate::ops::RopeLayout;

/// Architectures whose wiring this runtime implements.
pub const SUPPORTED_ARCHITECTURES: &str = "llama";

/// Hyper-parameters of a decoder-only transformer. Built only through [`ModelConfig::new`] (or
/// [`ModelConfig::from_gguf`]), which rejects every combination that would make the forward pass
/// divide by zero, index out of range or allocate absurdly.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ModelConfig {
    pub arch: String,
    pub n_layer: usize,
    pub n_embd: usize,
    pub n_ff: usize,
    pub n_head: usize,
    pub n_head_kv: usize,
    pub head_dim: usize,
    pub n_rot: usize,
    pub rope_base: f32,
    /// Multiplier of every rotation frequency (linear scaling: 1 / factor).
    pub rope_freq_scale: f32,
    pub rope_layout: RopeLayout,
    pub rms_eps: f32,
    pub n_ctx_train: usize,
    pub n_vocab: usize,
}

/// The raw values [`ModelConfig::new`] validates.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ConfigParams {
    pub arch: String,
    pub n_layer: u64,
    pub n_embd: u64,
    pub n_ff: u64,
    pub n_head: u64,
    pub n_head_kv: u64,
    pub n_rot: Option<u64>,
    pub rope_base: f64,
    pub rope_freq_scale: f64,
    pub rms_eps: f64,
    pub n_ctx_train: u64,
    pub n_vocab: u64,
}

impl ConfigParams {
    /// Parameters with llama defaults for the optional values; every required one must be set.
    #[allow(clippy::too_many_arguments)]
    pub fn llama(
        n_layer: u64,
        n_embd: u64,
        n_ff: u64,
        n_head: u64,
        n_head_kv: u64,
        n_vocab: u64,
        n_ctx_train: u64,
    ) -> Self {
        Self {
            arch: "llama".into(),
            n_layer,
            n_embd,
            n_ff,
            n_head,
            n_head_kv,
            n_rot: None,
            rope_base: 10000.0,
            rope_freq_scale: 1.0,
            rms_eps: 1e-5,
            n_ctx_train,
            n_vocab,
        }
    }
}

/// Largest value accepted for any size (keeps every product of two sizes far from overflow and
/// every allocation meaningful).
const MAX_DIM: u64 = 1 << 24;

fn invalid(key: &str, value: impl ToString, reason: impl Into<String>) -> ModelError {
    ModelError::InvalidConfig { key: key.into(), value: value.to_string(), reason: reason.into() }
}

fn positive(key: &str, v: u64) -> Result<usize, ModelError> {
    if v == 0 {
        return Err(invalid(key, v, "must be positive"));
    }
    if v > MAX_DIM {
        return Err(invalid(key, v, format!("larger than the supported maximum {MAX_DIM}")));
    }
    Ok(v as usize)
}

fn finite_positive(key: &str, v: f64) -> Result<f32, ModelError> {
    if !(v.is_finite() && v > 0.0) {
        return Err(invalid(key, v, "must be a finite positive number"));
    }
    Ok(v as f32)
}

impl ModelConfig {
    /// Validates raw hyper-parameters. The keys named in errors are the GGUF metadata keys.
    pub fn new(p: ConfigParams) -> Result<Self, ModelError> {
        if p.arch != "llama" {
            return Err(ModelError::UnsupportedArchitecture { arch: p.arch, supported: SUPPORTED_ARCHITECTURES });
        }
        let a = &p.arch;
        let n_layer = positive(&format!("{a}.block_count"), p.n_layer)?;
        let n_embd = positive(&format!("{a}.embedding_length"), p.n_embd)?;
        let n_ff = positive(&format!("{a}.feed_forward_length"), p.n_ff)?;
        let n_head = positive(&format!("{a}.attention.head_count"), p.n_head)?;
        let n_head_kv = positive(&format!("{a}.attention.head_count_kv"), p.n_head_kv)?;
        if n_head % n_head_kv != 0 {
            return Err(invalid(
                &format!("{a}.attention.head_count_kv"),
                n_head_kv,
                format!("must divide the head count {n_head}"),
            ));
        }
        if n_embd % n_head != 0 {
            return Err(invalid(
                &format!("{a}.embedding_length"),
                n_embd,
                format!("must be a multiple of the head count {n_head}"),
            ));
        }
        let head_dim = n_embd / n_head;
        let n_rot = match p.n_rot {
            None => head_dim,
            Some(r) => positive(&format!("{a}.rope.dimension_count"), r)?,
        };
        if n_rot > head_dim || n_rot % 2 != 0 {
            return Err(invalid(
                &format!("{a}.rope.dimension_count"),
                n_rot,
                format!("must be even and at most the head dimension {head_dim}"),
            ));
        }
        Ok(Self {
            arch: p.arch.clone(),
            n_layer,
            n_embd,
            n_ff,
            n_head,
            n_head_kv,
            head_dim,
            n_rot,
            rope_base: finite_positive(&format!("{a}.rope.freq_base"), p.rope_base)?,
            rope_freq_scale: finite_positive(&format!("{a}.rope.scaling.factor"), p.rope_freq_scale)?,
            rope_layout: RopeLayout::Normal,
            rms_eps: finite_positive(&format!("{a}.attention.layer_norm_rms_epsilon"), p.rms_eps)?,
            n_ctx_train: positive(&format!("{a}.context_length"), p.n_ctx_train)?,
            n_vocab: positive("tokenizer.ggml.tokens", p.n_vocab)?,
        })
    }

    /// Reads and validates the configuration of a GGUF model.
    pub fn from_gguf(file: &GgufFile) -> Result<Self> {
        let arch = file.get_str("general.architecture")?.to_string();
        if arch != "llama" {
            return Err(ModelError::UnsupportedArchitecture { arch, supported: SUPPORTED_ARCHITECTURES }.into());
        }
        let key = |k: &str| format!("{arch}.{k}");
        let opt_u64 = |k: &str| match file.get_u64(&key(k)) {
            Ok(v) => Ok(Some(v)),
            Err(GgufError::MissingKey { .. }) => Ok(None),
            Err(e) => Err(e),
        };
        let opt_f64 = |k: &str| match file.get_f64(&key(k)) {
            Ok(v) => Ok(Some(v)),
            Err(GgufError::MissingKey { .. }) => Ok(None),
            Err(e) => Err(e),
        };
        let n_embd = file.get_u64(&key("embedding_length"))?;
        let n_head = file.get_u64(&key("attention.head_count"))?;
        let n_vocab = match opt_u64("vocab_size")? {
            Some(v) => v,
            None => file.get_array("tokenizer.ggml.tokens")?.len() as u64,
        };
        // Linear rope scaling: `rope.scaling.type = linear` with `rope.scaling.factor`, or the
        // older `rope.scale_linear`. Other scaling types change the forward pass and are refused.
        let scaling_type = match file.get_str(&key("rope.scaling.type")) {
            Ok(t) => Some(t.to_string()),
            Err(GgufError::MissingKey { .. }) => None,
            Err(e) => return Err(e.into()),
        };
        let factor = match scaling_type.as_deref() {
            None | Some("none") => opt_f64("rope.scale_linear")?.unwrap_or(1.0),
            Some("linear") => opt_f64("rope.scaling.factor")?.unwrap_or(1.0),
            Some(other) => {
                return Err(invalid(&key("rope.scaling.type"), other, "only 'none' and 'linear' are supported").into())
            }
        };
        let params = ConfigParams {
            arch: arch.clone(),
            n_layer: file.get_u64(&key("block_count"))?,
            n_embd,
            n_ff: file.get_u64(&key("feed_forward_length"))?,
            n_head,
            n_head_kv: opt_u64("attention.head_count_kv")?.unwrap_or(n_head),
            n_rot: opt_u64("rope.dimension_count")?,
            rope_base: opt_f64("rope.freq_base")?.unwrap_or(10000.0),
            rope_freq_scale: if factor > 0.0 { 1.0 / factor } else { factor },
            rms_eps: file.get_f64(&key("attention.layer_norm_rms_epsilon"))?,
            n_ctx_train: file.get_u64(&key("context_length"))?,
            n_vocab,
        };
        Ok(Self::new(params)?)
    }

    /// Width of the key and value rows (all KV heads).
    pub fn kv_dim(&self) -> usize {
        self.n_head_kv * self.head_dim
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn smollm() -> ConfigParams {
        ConfigParams::llama(30, 576, 1536, 9, 3, 49152, 8192)
    }

    #[test]
    fn valid_parameters_build_a_config() {
        let c = ModelConfig::new(smollm()).unwrap();
        assert_eq!((c.head_dim, c.n_rot, c.kv_dim()), (64, 64, 192));
    }

    #[test]
    fn zero_kv_heads_is_an_error_before_any_division() {
        let mut p = smollm();
        p.n_head_kv = 0;
        let err = ModelConfig::new(p).unwrap_err();
        assert_eq!(err.to_string(), "invalid model configuration: llama.attention.head_count_kv = 0: must be positive");
    }

    #[test]
    fn every_inconsistent_parameter_is_named() {
        type Mutation = fn(&mut ConfigParams);
        let cases: Vec<(Mutation, &str)> = vec![
            (|p| p.n_layer = 0, "llama.block_count"),
            (|p| p.n_head = 0, "llama.attention.head_count"),
            (|p| p.n_head_kv = 4, "llama.attention.head_count_kv"),
            (|p| p.n_embd = 577, "llama.embedding_length"),
            (|p| p.n_rot = Some(65), "llama.rope.dimension_count"),
            (|p| p.n_rot = Some(128), "llama.rope.dimension_count"),
            (|p| p.rms_eps = f64::NAN, "llama.attention.layer_norm_rms_epsilon"),
            (|p| p.rms_eps = -1e-5, "llama.attention.layer_norm_rms_epsilon"),
            (|p| p.rope_base = 0.0, "llama.rope.freq_base"),
            (|p| p.n_ctx_train = 0, "llama.context_length"),
            (|p| p.n_vocab = 0, "tokenizer.ggml.tokens"),
            (|p| p.n_ff = u64::MAX, "llama.feed_forward_length"),
        ];
        for (mutate, key) in cases {
            let mut p = smollm();
            mutate(&mut p);
            match ModelConfig::new(p) {
                Err(ModelError::InvalidConfig { key: k, .. }) => assert_eq!(k, key),
                other => panic!("{key}: expected InvalidConfig, got {other:?}"),
            }
        }
        let mut p = smollm();
        p.arch = "gpt-j".into();
        assert!(matches!(ModelConfig::new(p), Err(ModelError::UnsupportedArchitecture { .. })));
    }
}
