//! The GGUF container format (versions 2 and 3): a hardened reader over zero-copy bytes, and a
//! writer.
//!
//! ```text
//! magic "GGUF" | version u32 | tensor_count u64 | kv_count u64
//! kv_count x   (key: string, value_type: u32, value)
//! tensor_count x (name: string, n_dims: u32, dims: u64 x n_dims, type: u32, offset: u64)
//! padding to general.alignment (default 32)
//! tensor data (each tensor at data_offset + offset, aligned)
//! ```
//! Strings are a u64 byte length then UTF-8 bytes; arrays are an element type u32, a u64 count,
//! then the elements. All integers are little-endian.

mod reader;
mod value;
mod writer;

use std::collections::HashMap;

pub use reader::{DEFAULT_ALIGNMENT, MAX_ARRAY_DEPTH, MAX_DIMS};
pub use value::{Array, DisplayValue, Value, ValueType};
pub use writer::GgufWriter;

use crate::error::{GgufError, Result};
use crate::mem::ModelBytes;
use crate::quant::{self, GgmlType};

/// A parsed, validated GGUF file. The tensor data stays where it is (mapped or owned bytes) and
/// is viewed, never copied, through [`GgufFile::tensor`].
pub struct GgufFile {
    bytes: ModelBytes,
    version: u32,
    metadata: Vec<(String, Value)>,
    key_index: HashMap<String, usize>,
    tensors: Vec<TensorInfo>,
    tensor_index: HashMap<String, usize>,
    alignment: u64,
    data_offset: u64,
}

/// Where and what one tensor is. ggml's dimension order: `dims[0]` is the row length (the
/// contiguous dimension), so a `[576, 1536]` weight has 1536 rows of 576 values.
#[derive(Clone, Debug, PartialEq)]
pub struct TensorInfo {
    name: String,
    dims: Vec<u64>,
    ty: GgmlType,
    offset: u64,
    n_elements: u64,
    n_bytes: u64,
    info_offset: u64,
}

impl TensorInfo {
    pub fn name(&self) -> &str {
        &self.name
    }
    pub fn dims(&self) -> &[u64] {
        &self.dims
    }
    pub fn ty(&self) -> GgmlType {
        self.ty
    }
    /// Offset of the data relative to the start of the data section.
    pub fn offset(&self) -> u64 {
        self.offset
    }
    pub fn n_elements(&self) -> u64 {
        self.n_elements
    }
    pub fn n_bytes(&self) -> u64 {
        self.n_bytes
    }
    /// Values per row (`dims[0]`, or 1 for a scalar).
    pub fn row_len(&self) -> u64 {
        self.dims.first().copied().unwrap_or(1)
    }
    /// Number of rows (product of the other dimensions; 0 for an empty tensor).
    pub fn n_rows(&self) -> u64 {
        self.n_elements.checked_div(self.row_len()).unwrap_or(0)
    }
}

/// The metadata of a model file that is still arriving, from its first bytes: `Ok(None)` while
/// more bytes are needed. Lets a loader check a model (architecture, sizes) before the whole file
/// is there; [`GgufFile::from_bytes`] still validates everything once it is.
pub fn metadata_from_prefix(prefix: &[u8]) -> Result<Option<Vec<(String, Value)>>, GgufError> {
    reader::parse_metadata_prefix(prefix)
}

impl GgufFile {
    /// Memory-maps and parses a file. Nothing but the header pages is read.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn open(path: impl AsRef<std::path::Path>) -> Result<Self> {
        Self::from_bytes(ModelBytes::map_file(path.as_ref())?)
    }

    /// Parses bytes already in memory (or mapped).
    pub fn from_bytes(bytes: ModelBytes) -> Result<Self> {
        let p = reader::parse(&bytes)?;
        Ok(Self {
            bytes,
            version: p.version,
            metadata: p.metadata,
            key_index: p.key_index,
            tensors: p.tensors,
            tensor_index: p.tensor_index,
            alignment: p.alignment,
            data_offset: p.data_offset,
        })
    }

    pub fn version(&self) -> u32 {
        self.version
    }
    pub fn alignment(&self) -> u64 {
        self.alignment
    }
    /// Byte offset of the data section.
    pub fn data_offset(&self) -> u64 {
        self.data_offset
    }
    /// Total size of the file in bytes.
    pub fn file_len(&self) -> u64 {
        self.bytes.len() as u64
    }
    pub fn bytes(&self) -> &ModelBytes {
        &self.bytes
    }

    /// Metadata entries in file order.
    pub fn metadata(&self) -> &[(String, Value)] {
        &self.metadata
    }

    pub fn get(&self, key: &str) -> Option<&Value> {
        self.key_index.get(key).map(|&i| &self.metadata[i].1)
    }

    /// The value of `key`, or an error naming the missing key.
    pub fn require(&self, key: &str) -> Result<&Value, GgufError> {
        self.get(key).ok_or_else(|| GgufError::MissingKey { key: key.into() })
    }

    /// An integer metadata value (any integer type that fits), or an error naming the key.
    pub fn get_u64(&self, key: &str) -> Result<u64, GgufError> {
        let v = self.require(key)?;
        v.to_u64().ok_or_else(|| wrong_type(key, "non-negative integer", v))
    }

    /// A float metadata value (f32 or f64), or an error naming the key.
    pub fn get_f64(&self, key: &str) -> Result<f64, GgufError> {
        let v = self.require(key)?;
        v.to_f64().ok_or_else(|| wrong_type(key, "number", v))
    }

    pub fn get_str(&self, key: &str) -> Result<&str, GgufError> {
        let v = self.require(key)?;
        v.as_str().ok_or_else(|| wrong_type(key, "string", v))
    }

    pub fn get_bool(&self, key: &str) -> Result<bool, GgufError> {
        let v = self.require(key)?;
        v.as_bool().ok_or_else(|| wrong_type(key, "bool", v))
    }

    pub fn get_array(&self, key: &str) -> Result<&Array, GgufError> {
        let v = self.require(key)?;
        v.as_array().ok_or_else(|| wrong_type(key, "array", v))
    }

    /// Tensor infos in file order.
    pub fn tensors(&self) -> &[TensorInfo] {
        &self.tensors
    }

    /// A view of one tensor's data.
    pub fn tensor(&self, name: &str) -> Result<TensorView<'_>, GgufError> {
        let &i = self.tensor_index.get(name).ok_or_else(|| GgufError::TensorNotFound { name: name.into() })?;
        Ok(self.view(&self.tensors[i]))
    }

    /// A view of the data of a tensor of this file.
    pub fn view<'a>(&'a self, info: &'a TensorInfo) -> TensorView<'a> {
        // The range was checked against the file length at parse time.
        let start = (self.data_offset + info.offset) as usize;
        TensorView { info, data: &self.bytes[start..start + info.n_bytes as usize] }
    }

    /// Fails, naming the first tensor whose type this runtime cannot compute with. Model loading
    /// calls this so an unsupported file is refused up front rather than at the first use.
    pub fn check_supported(&self) -> Result<(), GgufError> {
        match self.tensors.iter().find(|t| !t.ty.is_supported()) {
            Some(t) => Err(unsupported(t)),
            None => Ok(()),
        }
    }
}

impl std::fmt::Debug for GgufFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GgufFile")
            .field("version", &self.version)
            .field("bytes", &self.bytes)
            .field("metadata_keys", &self.metadata.len())
            .field("tensors", &self.tensors.len())
            .field("alignment", &self.alignment)
            .field("data_offset", &self.data_offset)
            .finish()
    }
}

fn wrong_type(key: &str, expected: &'static str, found: &Value) -> GgufError {
    GgufError::WrongValueType { key: key.into(), expected, found: found.value_type().name() }
}

fn unsupported(t: &TensorInfo) -> GgufError {
    GgufError::UnsupportedTensorType { tensor: t.name.clone(), ty: t.ty, supported: quant::SUPPORTED_NAMES }
}

/// A tensor's info and its bytes, borrowed from the file.
#[derive(Clone, Copy, Debug)]
pub struct TensorView<'a> {
    info: &'a TensorInfo,
    data: &'a [u8],
}

impl<'a> TensorView<'a> {
    pub fn info(&self) -> &'a TensorInfo {
        self.info
    }

    /// The raw bytes (blocks of `info().ty()`), never copied.
    pub fn data(&self) -> &'a [u8] {
        self.data
    }

    /// The raw bytes of row `row`.
    pub fn row(&self, row: u64) -> Result<&'a [u8], GgufError> {
        let rows = self.info.n_rows();
        if row >= rows {
            return Err(GgufError::RowOutOfRange { tensor: self.info.name.clone(), row, rows });
        }
        let row_bytes = (self.info.n_bytes / rows) as usize;
        let start = row as usize * row_bytes;
        Ok(&self.data[start..start + row_bytes])
    }

    /// Dequantizes row `row` into `out` (`row_len()` values).
    pub fn dequantize_row(&self, row: u64, out: &mut [f32]) -> Result<()> {
        self.supported()?;
        quant::dequantize(self.info.ty, self.row(row)?, out)?;
        Ok(())
    }

    /// Dequantizes the whole tensor into `out` (`n_elements()` values).
    pub fn dequantize_into(&self, out: &mut [f32]) -> Result<()> {
        self.supported()?;
        quant::dequantize(self.info.ty, self.data, out)?;
        Ok(())
    }

    /// Dequantizes the whole tensor into a new vector (for tests and tools; the model path works
    /// on the quantized blocks).
    pub fn to_f32_vec(&self) -> Result<Vec<f32>> {
        let mut out = vec![0f32; self.info.n_elements as usize];
        self.dequantize_into(&mut out)?;
        Ok(out)
    }

    fn supported(&self) -> Result<(), GgufError> {
        if self.info.ty.is_supported() {
            Ok(())
        } else {
            Err(unsupported(self.info))
        }
    }
}

#[cfg(test)]
mod tests;
