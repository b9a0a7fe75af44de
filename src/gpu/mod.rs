//! The GPU backend: the model's forward pass as WGSL compute kernels through wgpu — Vulkan,
//! Metal or DX12 natively, and (later) WebGPU in the browser, from the same shaders.
//!
//! - [`kernels`]: which `shaders/*.wgsl` files make each kernel, its workgroup configuration
//!   derived from the adapter's limits, and the check that it fits them;
//! - `device` (feature `gpu`, native): the adapter and device, with wgpu's errors and device
//!   loss turned into [`crate::GpuError`] values instead of panics or hangs;
//! - `forward` (feature `gpu`, native): weights uploaded once as raw blocks, the KV cache on the
//!   GPU, the whole forward pass recorded into one command buffer per batch, one logits readback.
//!
//! A [`crate::Session`] created with [`Backend::Gpu`] runs its forward pass here; tokenizer,
//! sampler and generation do not change.

// Used by the native device code and the tests; the browser's WebGPU path will use it too.
#[cfg_attr(not(all(feature = "gpu", not(target_arch = "wasm32"))), allow(dead_code))]
pub mod kernels;

#[cfg(all(feature = "gpu", not(target_arch = "wasm32")))]
mod device;
#[cfg(all(feature = "gpu", not(target_arch = "wasm32")))]
mod forward;

#[cfg(all(feature = "gpu", not(target_arch = "wasm32")))]
pub use device::{Gpu, GpuInfo};
#[cfg(all(feature = "gpu", not(target_arch = "wasm32")))]
pub(crate) use forward::GpuForward;

#[cfg(test)]
mod tests;

use crate::error::GpuError;

/// Options for opening the GPU. Build with [`GpuOptions::new`].
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct GpuOptions {
    /// Use only an adapter whose name contains this text (case-insensitive).
    pub adapter: Option<String>,
    /// Split weight tensors into bindings of at most this many bytes even when the adapter
    /// allows more (tests use it to exercise the split on a small model).
    pub max_binding_bytes: Option<u64>,
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

    /// Weight bindings of at most `bytes` (at least 4 KiB).
    pub fn with_max_binding_bytes(mut self, bytes: u64) -> Result<Self, GpuError> {
        if bytes < 4096 {
            return Err(GpuError::TooLarge { what: "max_binding_bytes below 4096", needed: 4096, limit: bytes });
        }
        self.max_binding_bytes = Some(bytes);
        Ok(self)
    }
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
