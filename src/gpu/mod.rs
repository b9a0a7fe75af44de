//! The GPU backend: the model's forward pass as WGSL compute kernels through wgpu — Vulkan,
//! Metal or DX12 natively, and WebGPU in the browser, from the same shaders.
//!
//! - [`kernels`]: which `shaders/*.wgsl` files make each kernel, its workgroup configuration
//!   derived from the adapter's limits, and the check that it fits them;
//! - `device` (feature `gpu`): the adapter and device, with wgpu's errors and device loss turned
//!   into [`crate::GpuError`] values instead of panics or hangs; opened asynchronously
//!   ([`Gpu::open`]; natively [`Gpu::new`] blocks on it);
//! - `forward` (feature `gpu`): weights uploaded once as raw blocks, the KV cache on the GPU, the
//!   whole forward pass recorded into one command buffer per batch, one logits readback that the
//!   caller may wait for (natively) or poll (the browser, where a wasm thread cannot block).
//!
//! A [`crate::Session`] created with [`Backend::Gpu`] runs its forward pass here; tokenizer,
//! sampler and generation do not change.

// Used by the device code and the tests.
#[cfg_attr(not(feature = "gpu"), allow(dead_code))]
pub mod kernels;

#[cfg(feature = "gpu")]
mod device;
#[cfg(feature = "gpu")]
mod forward;

#[cfg(feature = "gpu")]
pub use device::{Gpu, GpuInfo};
#[cfg(feature = "gpu")]
pub(crate) use forward::{GpuForward, Wake};

#[cfg(test)]
mod tests;

use crate::error::GpuError;

/// Options for opening the GPU. Build with [`GpuOptions::new`].
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct GpuOptions {
    /// Use only an adapter whose name contains this text (case-insensitive).
    pub adapter: Option<String>,
    /// Split weight tensors into bindings of at most this many bytes even when the adapter
    /// allows more (tests use it to exercise the split on a small model).
    pub max_binding_bytes: Option<u64>,
    /// Keep the KV cache, and so the attention scores, in f32 even where the adapter has
    /// shader-f16 (default: f16 there).
    pub f32_only: bool,
    /// Positions per workgroup when one token attends to a long history (flash-decoding:
    /// the history is split, the parts merged). Default [`DEFAULT_ATTENTION_SPLIT`].
    pub attention_split: u32,
    /// Tests: the hardware kernel configuration (lanes sharing a matmul row) even on a software
    /// adapter, so that lavapipe runs the reductions a real GPU runs.
    pub(crate) hardware_config: bool,
    /// Tests: no subgroup operations even where the device has them (the fallback).
    pub(crate) no_subgroups: bool,
}

/// Positions one workgroup covers when a decoded token's attention is split over its history.
pub const DEFAULT_ATTENTION_SPLIT: u32 = 256;

impl Default for GpuOptions {
    fn default() -> Self {
        Self {
            adapter: None,
            max_binding_bytes: None,
            f32_only: false,
            attention_split: DEFAULT_ATTENTION_SPLIT,
            hardware_config: false,
            no_subgroups: false,
        }
    }
}

impl GpuOptions {
    pub fn new() -> Self {
        Self::default()
    }

    /// Only adapters whose name contains `name` (case-insensitive).
    pub fn with_adapter(mut self, name: impl Into<String>) -> Self {
        self.adapter = Some(name.into());
        self
    }

    /// Split a decoded token's attention into parts of `positions` (at least 1).
    pub fn with_attention_split(mut self, positions: u32) -> Result<Self, GpuError> {
        if positions == 0 {
            return Err(GpuError::InvalidOption { field: "attention_split", value: "0".into(), reason: "at least 1" });
        }
        self.attention_split = positions;
        Ok(self)
    }

    /// f32 everywhere, even where the adapter offers f16.
    pub fn with_f32_only(mut self) -> Self {
        self.f32_only = true;
        self
    }

    /// Weight bindings of at most `bytes` (at least 4 KiB).
    pub fn with_max_binding_bytes(mut self, bytes: u64) -> Result<Self, GpuError> {
        if bytes < 4096 {
            return Err(GpuError::InvalidOption {
                field: "max_binding_bytes",
                value: bytes.to_string(),
                reason: "at least 4096",
            });
        }
        self.max_binding_bytes = Some(bytes);
        Ok(self)
    }
}

/// Times the GPU matmul of `rows x cols` weights of `ty` with `tokens` activation rows (after
/// their quantization) and returns GB/s of weights read, best of several runs of `min_s` seconds.
#[cfg(all(feature = "gpu", not(target_arch = "wasm32")))]
pub fn bench_matmul(
    gpu: &Gpu,
    ty: crate::GgmlType,
    rows: usize,
    cols: usize,
    tokens: usize,
    min_s: f64,
) -> crate::Result<f64> {
    use crate::error::QuantError;
    let row_bytes = ty.row_bytes(cols as u64).ok_or(QuantError::NotBlockMultiple {
        op: "bench",
        ty,
        len: cols,
        block: ty.block_elems(),
    })? as usize;
    // Random bytes are valid blocks except for f16 scales that are NaN/inf; values from a real
    // quantizer would not change the arithmetic, so the weights are zero-initialised bytes with
    // a pattern in the quant bits only.
    let bytes: Vec<u8> =
        (0..rows * row_bytes).map(|i| (i as u32).wrapping_mul(2654435761).to_le_bytes()[3] & 0x3f).collect();
    let w = crate::ops::Linear { ty, rows, cols, start: 0, row_bytes };
    let mut h = forward::harness::Harness::new(gpu, &bytes, 64, tokens * cols)?;
    let x: Vec<f32> = (0..tokens * cols).map(|i| ((i % 17) as f32 - 8.0) / 8.0).collect();
    let (input, out) = (h.try_buffer(&x)?, h.try_buffer(&vec![0.0; tokens * rows])?);
    h.matmul(&w, &input, false, &out)?;
    let best = best_seconds(&mut h, tokens, 0, min_s)?;
    Ok(bytes.len() as f64 / best / 1e9)
}

/// Runs the harness's dispatches for `t` tokens at `n_past` once (warm-up), then three times
/// `min_s / 3` seconds of runs, and returns the best seconds per run.
#[cfg(all(feature = "gpu", not(target_arch = "wasm32")))]
fn best_seconds(h: &mut forward::harness::Harness, t: usize, n_past: usize, min_s: f64) -> crate::Result<f64> {
    h.run(t, n_past)?;
    h.wait()?;
    let mut best = f64::INFINITY;
    for _ in 0..3 {
        let (start, mut runs) = (std::time::Instant::now(), 0u32);
        while start.elapsed().as_secs_f64() < min_s / 3.0 || runs == 0 {
            h.run(t, n_past)?;
            h.wait()?;
            runs += 1;
        }
        best = best.min(start.elapsed().as_secs_f64() / runs as f64);
    }
    Ok(best)
}

/// Times a batch's attention — `t` query tokens after `n_past` cached positions, heads
/// `(n_head, n_head_kv, head_dim)`, f16 or f32 cache — through the tiled kernel and through the
/// one-token kernel dispatched per token, and returns the seconds per call of each (best of
/// several runs of `min_s` seconds).
#[cfg(all(feature = "gpu", not(target_arch = "wasm32")))]
pub fn bench_attention(
    gpu: &Gpu,
    f16: bool,
    (n_head, n_head_kv, head_dim): (usize, usize, usize),
    t: usize,
    n_past: usize,
    min_s: f64,
) -> crate::Result<(f64, f64)> {
    let n = n_past + t;
    let kv = n_head_kv * head_dim;
    let wave = |len: usize, k: usize| -> Vec<f32> { (0..len).map(|i| ((i * k % 23) as f32 - 11.0) / 11.0).collect() };
    // The cache as the kernels read it: f16 values two to a word, or f32.
    let cache = |values: Vec<f32>| -> Vec<f32> {
        if !f16 {
            return values;
        }
        let half = |x: Option<&f32>| half::f16::from_f32(x.copied().unwrap_or(0.0)).to_bits() as u32;
        values.chunks(2).map(|p| f32::from_bits(half(p.first()) | half(p.get(1)) << 16)).collect()
    };
    let heads = (n_head as u32, n_head_kv as u32, head_dim as u32);
    let mut secs = [0.0; 2];
    for (tiled, s) in [true, false].into_iter().zip(&mut secs) {
        let mut h = forward::harness::Harness::new(gpu, &[], head_dim as u32, 32)?;
        let (k, v) = (h.try_buffer(&cache(wave(n * kv, 7)))?, h.try_buffer(&cache(wave(n * kv, 5)))?);
        let q = h.try_buffer(&wave(t * n_head * head_dim, 3))?;
        let (out, partial) = (h.try_buffer(&vec![0.0; t * n_head * head_dim])?, h.try_buffer(&[0.0; 4])?);
        if tiled {
            h.attention(f16, heads, u32::MAX, &q, &k, &v, &out, &partial)?;
        } else {
            h.attention_per_token(f16, heads, &q, &k, &v, &out, &partial)?;
        }
        *s = best_seconds(&mut h, t, n_past, min_s)?;
    }
    Ok((secs[0], secs[1]))
}

/// Where a session's forward pass runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Backend {
    /// The CPU kernels and thread pool.
    #[default]
    Cpu,
    /// The GPU backend (an error when this build or machine has no GPU backend).
    Gpu,
    /// The GPU when a hardware adapter exists and the model fits its limits, else the CPU
    /// (a software adapter such as lavapipe or SwiftShader is slower than the CPU kernels).
    Auto,
}

impl std::fmt::Display for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Backend::Cpu => "cpu",
            Backend::Gpu => "gpu",
            Backend::Auto => "auto",
        })
    }
}

impl std::str::FromStr for Backend {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "cpu" => Ok(Backend::Cpu),
            "gpu" => Ok(Backend::Gpu),
            "auto" => Ok(Backend::Auto),
            _ => Err(format!("unknown backend '{s}' (expected auto, cpu or gpu)")),
        }
    }
}
