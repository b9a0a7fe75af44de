//! ruvllm: a GGUF LLM inference runtime for the browser (WebAssembly in a Web Worker) and the
//! desktop, from one crate.
//!
//! The layers, bottom up (see `ARCHITECTURE.md`):
//! - [`mem`]: where model bytes live (a memory-mapped file natively, bytes from JS in wasm);
//! - [`gguf`]: the hardened GGUF reader and writer over those bytes;
//! - [`quant`]: ggml's quantized block types as zero-copy views, dequantization, activation
//!   quantization;
//! - [`kernels`]: dot products of weight blocks with quantized activations (the scalar reference
//!   here; SIMD flavours are tested against it);
//! - [`gpu`]: the same forward pass as WGSL kernels through wgpu (feature `gpu`);
//! - `cli` (native, feature `cli`): the `ruvllm` command;
//! - `wasm` (wasm32): the `#[wasm_bindgen]` `Engine` that `js/engine.js` drives.
#![cfg_attr(all(target_arch = "wasm32", target_feature = "atomics"), feature(stdarch_wasm_atomic_wait))]
#![deny(unsafe_code)]
#![deny(clippy::undocumented_unsafe_blocks)]
#![warn(missing_debug_implementations)]

pub mod chat;
mod clock;
pub mod error;
pub mod generate;
pub mod gguf;
pub mod gpu;
pub mod kernels;
#[allow(unsafe_code)]
pub mod mem;
pub mod model;
pub mod ops;
pub mod perplexity;
#[allow(unsafe_code)]
pub mod pool;
pub mod quant;
pub mod requantize;
pub mod sampler;
pub mod tokenizer;

#[cfg(all(feature = "cli", not(target_arch = "wasm32")))]
pub mod cli;

#[cfg(target_arch = "wasm32")]
pub mod wasm;

#[cfg(test)]
mod test_util;

pub use error::{Error, GgufError, GpuError, ModelError, QuantError, Result, TokenizerError};
pub use gguf::GgufFile;
pub use model::{Model, Precision, Session, SessionOptions};
pub use quant::GgmlType;
pub use tokenizer::Tokenizer;
