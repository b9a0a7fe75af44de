//! The crate's one error hierarchy.
//!
//! Every error says *what* went wrong and *where*: the metadata key, the tensor name, the byte
//! offset in the file. Nothing in the core panics on bad input; it returns one of these.

use std::path::PathBuf;

use crate::quant::GgmlType;

/// Result alias used throughout the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Top-level error: one variant per layer, each carrying its own structured error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The GGUF container is malformed or asked for something it does not hold.
    #[error(transparent)]
    Gguf(#[from] GgufError),
    /// A quantized-data operation was given inconsistent inputs.
    #[error(transparent)]
    Quant(#[from] QuantError),
    /// The model's configuration or weights do not make a usable model, or a request does not
    /// fit the session.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// The tokenizer described by the model's metadata cannot be built.
    #[error(transparent)]
    Tokenizer(#[from] TokenizerError),
    /// The chat template is missing or does not render.
    #[error(transparent)]
    Template(#[from] crate::chat::TemplateError),
    /// The GPU backend cannot start, cannot run this model, or failed while running it.
    #[error(transparent)]
    Gpu(#[from] GpuError),
    /// An operating-system I/O failure, with the path it concerned.
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Where in the file a parse was when it failed: a short description of the field being read.
///
/// Examples: `header magic`, `key of metadata entry 3`, `value of 'general.name'`,
/// `dims of tensor 'blk.0.attn_q.weight'`.
pub type Field = String;

/// A malformed or unusable GGUF file.
///
/// Each variant names the key or tensor involved and the byte offset where the problem was found.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum GgufError {
    #[error("not a GGUF file: magic bytes {found:02x?} at offset 0 (expected \"GGUF\")")]
    BadMagic { found: Vec<u8> },

    #[error("unsupported GGUF version {version} at offset 4 (this reader supports versions 2 and 3)")]
    UnsupportedVersion { version: u32 },

    #[error(
        "file truncated: reading {field} needs {needed} bytes at offset {offset}, but the file ends at {file_len}"
    )]
    Truncated { field: Field, offset: u64, needed: u64, file_len: u64 },

    #[error("{field} at offset {offset}: {count} entries cannot fit in the {remaining} bytes left in the file")]
    CountTooLarge { field: Field, offset: u64, count: u64, remaining: u64 },

    #[error("{field} at offset {offset}: {count} elements x {elem_size} bytes overflows a 64-bit size")]
    SizeOverflow { field: Field, offset: u64, count: u64, elem_size: u64 },

    #[error("{field} at offset {offset}: string of {len} bytes exceeds the {remaining} bytes left in the file")]
    StringTooLong { field: Field, offset: u64, len: u64, remaining: u64 },

    #[error("{field} at offset {offset}: string is not valid UTF-8")]
    InvalidUtf8 { field: Field, offset: u64 },

    #[error("{field} at offset {offset}: unknown metadata value type {type_id}")]
    UnknownValueType { field: Field, offset: u64, type_id: u32 },

    #[error("{field} at offset {offset}: boolean byte is {value}, expected 0 or 1")]
    InvalidBool { field: Field, offset: u64, value: u8 },

    #[error("{field} at offset {offset}: arrays nested deeper than {max_depth} levels")]
    NestingTooDeep { field: Field, offset: u64, max_depth: usize },

    #[error("duplicate metadata key '{key}' at offset {offset}")]
    DuplicateKey { key: String, offset: u64 },

    #[error("duplicate tensor name '{name}' at offset {offset}")]
    DuplicateTensor { name: String, offset: u64 },

    #[error("general.alignment is {value}: it must be a non-zero power of two")]
    BadAlignment { value: u64 },

    #[error("metadata key '{key}' has type {found}, expected {expected}")]
    WrongValueType { key: String, expected: &'static str, found: &'static str },

    #[error("metadata key '{key}' not found")]
    MissingKey { key: String },

    #[error("tensor '{tensor}' at offset {offset}: {n_dims} dimensions (at most {max} are allowed)")]
    TooManyDims { tensor: String, offset: u64, n_dims: u32, max: usize },

    #[error("tensor '{tensor}' at offset {offset}: dimensions {dims:?} overflow a 64-bit element count")]
    DimsOverflow { tensor: String, offset: u64, dims: Vec<u64> },

    #[error("tensor '{tensor}' at offset {offset}: unknown tensor type id {type_id}")]
    UnknownTensorType { tensor: String, offset: u64, type_id: u32 },

    #[error("tensor '{tensor}': row length {ne0} is not a multiple of the {ty} block size {block}")]
    RowNotBlockMultiple { tensor: String, ty: GgmlType, ne0: u64, block: usize },

    #[error("tensor '{tensor}': data offset {offset} is not a multiple of the alignment {alignment}")]
    TensorMisaligned { tensor: String, offset: u64, alignment: u64 },

    #[error("tensor '{tensor}': data [{start}, {end}) lies outside the file of {file_len} bytes")]
    TensorOutOfBounds { tensor: String, start: u64, end: u64, file_len: u64 },

    #[error("tensor '{tensor}': data [{start}, {end}) overlaps tensor '{other}' which ends at {other_end}")]
    TensorOverlap { tensor: String, other: String, start: u64, end: u64, other_end: u64 },

    #[error("tensor '{tensor}' has type {ty}, which this runtime does not support (supported: {supported})")]
    UnsupportedTensorType { tensor: String, ty: GgmlType, supported: &'static str },

    #[error("tensor '{name}' not found")]
    TensorNotFound { name: String },

    #[error("tensor '{tensor}': row {row} is out of range (the tensor has {rows} rows)")]
    RowOutOfRange { tensor: String, row: u64, rows: u64 },
}

impl GgufError {
    /// A stable name for the kind of error, used by the malformed-file corpus to assert the
    /// exact rejection a file must get.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::BadMagic { .. } => "BadMagic",
            Self::UnsupportedVersion { .. } => "UnsupportedVersion",
            Self::Truncated { .. } => "Truncated",
            Self::CountTooLarge { .. } => "CountTooLarge",
            Self::SizeOverflow { .. } => "SizeOverflow",
            Self::StringTooLong { .. } => "StringTooLong",
            Self::InvalidUtf8 { .. } => "InvalidUtf8",
            Self::UnknownValueType { .. } => "UnknownValueType",
            Self::InvalidBool { .. } => "InvalidBool",
            Self::NestingTooDeep { .. } => "NestingTooDeep",
            Self::DuplicateKey { .. } => "DuplicateKey",
            Self::DuplicateTensor { .. } => "DuplicateTensor",
            Self::BadAlignment { .. } => "BadAlignment",
            Self::WrongValueType { .. } => "WrongValueType",
            Self::MissingKey { .. } => "MissingKey",
            Self::TooManyDims { .. } => "TooManyDims",
            Self::DimsOverflow { .. } => "DimsOverflow",
            Self::UnknownTensorType { .. } => "UnknownTensorType",
            Self::RowNotBlockMultiple { .. } => "RowNotBlockMultiple",
            Self::TensorMisaligned { .. } => "TensorMisaligned",
            Self::TensorOutOfBounds { .. } => "TensorOutOfBounds",
            Self::TensorOverlap { .. } => "TensorOverlap",
            Self::UnsupportedTensorType { .. } => "UnsupportedTensorType",
            Self::TensorNotFound { .. } => "TensorNotFound",
            Self::RowOutOfRange { .. } => "RowOutOfRange",
        }
    }
}

/// Inconsistent arguments to a quantized-data operation (lengths that do not match the block
/// layout, a type without the requested operation).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum QuantError {
    #[error("{op} on {ty}: {len} elements is not a multiple of the block size {block}")]
    NotBlockMultiple { op: &'static str, ty: GgmlType, len: usize, block: usize },

    #[error("{op} on {ty}: {what} has {got} bytes, expected {expected}")]
    ByteLength { op: &'static str, ty: GgmlType, what: &'static str, got: usize, expected: usize },

    #[error("{op} on {ty}: output has {got} elements, expected {expected}")]
    OutputLength { op: &'static str, ty: GgmlType, got: usize, expected: usize },

    #[error("{op} is not available for {ty}")]
    Unsupported { op: &'static str, ty: GgmlType },
}

/// A model that cannot be built from its file, or a request a session cannot serve.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ModelError {
    #[error("architecture '{arch}' is not supported (supported: {supported})")]
    UnsupportedArchitecture { arch: String, supported: &'static str },

    #[error("invalid model configuration: {key} = {value}: {reason}")]
    InvalidConfig { key: String, value: String, reason: String },

    #[error("tensor '{name}' is missing from the model file")]
    MissingTensor { name: String },

    #[error("tensor '{name}' has shape {found:?}, the configuration implies {expected:?}")]
    TensorShape { name: String, expected: Vec<u64>, found: Vec<u64> },

    #[error("tensor '{name}' has type {ty}: {reason}")]
    TensorType { name: String, ty: GgmlType, reason: String },

    #[error("invalid session option {field} = {value}: {reason}")]
    InvalidOption { field: &'static str, value: String, reason: String },

    #[error("the context is full: {needed} positions needed, the session holds {n_ctx}")]
    ContextFull { needed: usize, n_ctx: usize },

    #[error("token id {token} is outside the vocabulary of {n_vocab} tokens")]
    TokenOutOfRange { token: u32, n_vocab: usize },

    #[error("out of memory allocating the {what} ({bytes} bytes); try a smaller context")]
    OutOfMemory { what: &'static str, bytes: u128 },
}

/// A tokenizer that cannot be built from the model's metadata.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum TokenizerError {
    #[error("tokenizer.ggml.model = '{name}' is not supported (supported: gpt2, llama)")]
    UnknownModel { name: String },

    #[error("tokenizer.ggml.pre = '{name}' is not a known pre-tokenizer (known: default, gpt2, smollm, starcoder, llama-bpe, qwen2, ...); pass a fallback to use GPT-2's split anyway")]
    UnknownPreTokenizer { name: String },

    #[error("tokenizer metadata: {key} {reason}")]
    BadMetadata { key: String, reason: String },
}

/// The GPU backend cannot start, cannot run this model within the adapter's limits, or failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum GpuError {
    #[error("no GPU adapter: {detail}")]
    NoAdapter { detail: String },

    #[error("the GPU backend is not built into this binary (enable the `gpu` feature)")]
    NotBuilt,

    #[error("requesting a device from the GPU adapter '{adapter}' failed: {detail}")]
    Device { adapter: String, detail: String },

    #[error("GPU kernel {kernel}: needs {needed} {what}, the adapter allows {limit}")]
    Limit { kernel: String, what: &'static str, needed: u64, limit: u64 },

    #[error("tensor '{tensor}' has type {ty}, which has no GPU kernel (GPU weight types: {supported})")]
    UnsupportedType { tensor: String, ty: GgmlType, supported: &'static str },

    #[error("{what} needs {bytes} bytes in one binding; the adapter allows {limit} (max_storage_buffer_binding_size)")]
    BindingTooLarge { what: String, bytes: u64, limit: u64 },

    #[error("invalid GPU option {field} = {value}: {reason}")]
    InvalidOption { field: &'static str, value: String, reason: &'static str },

    #[error("GPU error while {during}: {detail}")]
    Validation { during: String, detail: String },

    #[error("the GPU device was lost ({detail}); create the session again or use the CPU backend")]
    DeviceLost { detail: String },

    #[error("reading results back from the GPU failed: {detail}")]
    Readback { detail: String },
}
