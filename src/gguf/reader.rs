//! The GGUF parser: header, metadata, tensor infos, and the checks that make any input safe.
//!
//! Every length and count read from the file is checked against the bytes that remain before
//! anything is allocated for it; every size is computed with checked arithmetic; every error
//! carries the field being read and its byte offset.

use std::collections::HashMap;

use super::value::{Array, Value, ValueType};
use super::TensorInfo;
use crate::error::GgufError;
use crate::quant::GgmlType;

/// Deepest nesting of arrays inside arrays that the reader accepts.
pub const MAX_ARRAY_DEPTH: usize = 8;
/// Most dimensions a tensor may have (ggml's `GGML_MAX_DIMS`).
pub const MAX_DIMS: usize = 4;
/// Alignment of tensor data when `general.alignment` is absent.
pub const DEFAULT_ALIGNMENT: u64 = 32;

/// Smallest possible metadata entry: key length, value type, one byte of value.
const MIN_KV_BYTES: u64 = 8 + 4 + 1;
/// Smallest possible tensor info: name length, dimension count, type, offset.
const MIN_TENSOR_INFO_BYTES: u64 = 8 + 4 + 4 + 8;

/// Everything parsed from the header, before the data section.
pub(super) struct Parsed {
    pub version: u32,
    pub metadata: Vec<(String, Value)>,
    pub key_index: HashMap<String, usize>,
    pub tensors: Vec<TensorInfo>,
    pub tensor_index: HashMap<String, usize>,
    pub alignment: u64,
    pub data_offset: u64,
}

struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn offset(&self) -> u64 {
        self.pos as u64
    }

    fn remaining(&self) -> u64 {
        (self.buf.len() - self.pos) as u64
    }

    fn take(&mut self, n: u64, field: &dyn Fn() -> String) -> Result<&'a [u8], GgufError> {
        if n > self.remaining() {
            return Err(GgufError::Truncated {
                field: field(),
                offset: self.offset(),
                needed: n,
                file_len: self.buf.len() as u64,
            });
        }
        // n <= remaining <= usize::MAX, so the cast is lossless.
        let bytes = &self.buf[self.pos..self.pos + n as usize];
        self.pos += n as usize;
        Ok(bytes)
    }

    fn array<const N: usize>(&mut self, field: &dyn Fn() -> String) -> Result<[u8; N], GgufError> {
        let b = self.take(N as u64, field)?;
        let mut out = [0u8; N];
        out.copy_from_slice(b);
        Ok(out)
    }

    fn u32(&mut self, field: &dyn Fn() -> String) -> Result<u32, GgufError> {
        self.array(field).map(u32::from_le_bytes)
    }

    fn u64(&mut self, field: &dyn Fn() -> String) -> Result<u64, GgufError> {
        self.array(field).map(u64::from_le_bytes)
    }

    fn string(&mut self, field: &dyn Fn() -> String) -> Result<String, GgufError> {
        let len = self.u64(field)?;
        let offset = self.offset();
        if len > self.remaining() {
            return Err(GgufError::StringTooLong { field: field(), offset, len, remaining: self.remaining() });
        }
        let bytes = self.take(len, field)?;
        match std::str::from_utf8(bytes) {
            Ok(s) => Ok(s.to_owned()),
            Err(_) => Err(GgufError::InvalidUtf8 { field: field(), offset }),
        }
    }

    /// Checks that `count` items of at least `min_size` bytes each can fit in what remains.
    fn check_count(&self, count: u64, min_size: u64, offset: u64, field: &dyn Fn() -> String) -> Result<(), GgufError> {
        let total = count.checked_mul(min_size).ok_or_else(|| GgufError::SizeOverflow {
            field: field(),
            offset,
            count,
            elem_size: min_size,
        })?;
        if total > self.remaining() {
            return Err(GgufError::CountTooLarge { field: field(), offset, count, remaining: self.remaining() });
        }
        Ok(())
    }

    /// Reads `count` fixed-size little-endian scalars.
    fn scalars<T, const N: usize>(
        &mut self,
        count: u64,
        field: &dyn Fn() -> String,
        conv: fn([u8; N]) -> T,
    ) -> Result<Vec<T>, GgufError> {
        let bytes = self.take(count * N as u64, field)?; // count * N checked by check_count
        Ok(bytes
            .chunks_exact(N)
            .map(|c| {
                let mut a = [0u8; N];
                a.copy_from_slice(c);
                conv(a)
            })
            .collect())
    }

    fn bool(&mut self, field: &dyn Fn() -> String) -> Result<bool, GgufError> {
        let offset = self.offset();
        match self.array::<1>(field)?[0] {
            0 => Ok(false),
            1 => Ok(true),
            value => Err(GgufError::InvalidBool { field: field(), offset, value }),
        }
    }

    fn value(&mut self, ty: ValueType, field: &dyn Fn() -> String, depth: usize) -> Result<Value, GgufError> {
        Ok(match ty {
            ValueType::U8 => Value::U8(self.array::<1>(field)?[0]),
            ValueType::I8 => Value::I8(self.array::<1>(field)?[0] as i8),
            ValueType::U16 => Value::U16(u16::from_le_bytes(self.array(field)?)),
            ValueType::I16 => Value::I16(i16::from_le_bytes(self.array(field)?)),
            ValueType::U32 => Value::U32(u32::from_le_bytes(self.array(field)?)),
            ValueType::I32 => Value::I32(i32::from_le_bytes(self.array(field)?)),
            ValueType::F32 => Value::F32(f32::from_le_bytes(self.array(field)?)),
            ValueType::U64 => Value::U64(u64::from_le_bytes(self.array(field)?)),
            ValueType::I64 => Value::I64(i64::from_le_bytes(self.array(field)?)),
            ValueType::F64 => Value::F64(f64::from_le_bytes(self.array(field)?)),
            ValueType::Bool => Value::Bool(self.bool(field)?),
            ValueType::String => Value::String(self.string(field)?),
            ValueType::Array => Value::Array(self.array_value(field, depth + 1)?),
        })
    }

    fn value_type(&mut self, field: &dyn Fn() -> String) -> Result<ValueType, GgufError> {
        let offset = self.offset();
        let type_id = self.u32(field)?;
        ValueType::from_id(type_id).ok_or_else(|| GgufError::UnknownValueType { field: field(), offset, type_id })
    }

    /// An array value (element type, count, elements) at nesting level `depth` (1 = top level).
    fn array_value(&mut self, field: &dyn Fn() -> String, depth: usize) -> Result<Array, GgufError> {
        let offset = self.offset();
        if depth > MAX_ARRAY_DEPTH {
            return Err(GgufError::NestingTooDeep { field: field(), offset, max_depth: MAX_ARRAY_DEPTH });
        }
        let elem = self.value_type(field)?;
        let count = self.u64(field)?;
        self.check_count(count, elem.min_encoded_size(), offset, field)?;
        Ok(match elem {
            ValueType::U8 => Array::U8(self.take(count, field)?.to_vec()),
            ValueType::I8 => Array::I8(self.take(count, field)?.iter().map(|&b| b as i8).collect()),
            ValueType::U16 => Array::U16(self.scalars(count, field, u16::from_le_bytes)?),
            ValueType::I16 => Array::I16(self.scalars(count, field, i16::from_le_bytes)?),
            ValueType::U32 => Array::U32(self.scalars(count, field, u32::from_le_bytes)?),
            ValueType::I32 => Array::I32(self.scalars(count, field, i32::from_le_bytes)?),
            ValueType::F32 => Array::F32(self.scalars(count, field, f32::from_le_bytes)?),
            ValueType::U64 => Array::U64(self.scalars(count, field, u64::from_le_bytes)?),
            ValueType::I64 => Array::I64(self.scalars(count, field, i64::from_le_bytes)?),
            ValueType::F64 => Array::F64(self.scalars(count, field, f64::from_le_bytes)?),
            ValueType::Bool => Array::Bool(read_n(count, || self.bool(field))?),
            ValueType::String => Array::String(read_n(count, || self.string(field))?),
            ValueType::Array => Array::Array(read_n(count, || self.array_value(field, depth + 1))?),
        })
    }
}

/// Most entries reserved up front for a list read from the file. A count is only a claim until
/// its entries have been read: reserving the full count would let a small file (whose count
/// passed the bytes-remaining check) make us allocate several times its size before failing.
const MAX_RESERVE: u64 = 4096;

fn read_n<T>(count: u64, mut read: impl FnMut() -> Result<T, GgufError>) -> Result<Vec<T>, GgufError> {
    let mut out = Vec::with_capacity(count.min(MAX_RESERVE) as usize);
    for _ in 0..count {
        out.push(read()?);
    }
    Ok(out)
}

/// Parses and validates everything but the tensor data itself.
pub(super) fn parse(buf: &[u8]) -> Result<Parsed, GgufError> {
    let mut cur = Cursor { buf, pos: 0 };
    let (version, tensor_count, tensor_count_at, metadata, key_index) = parse_metadata(&mut cur)?;
    let alignment = match key_index.get("general.alignment").map(|&i| &metadata[i].1) {
        None => DEFAULT_ALIGNMENT,
        Some(Value::U32(a)) => u64::from(*a),
        Some(other) => {
            return Err(GgufError::WrongValueType {
                key: "general.alignment".into(),
                expected: "u32",
                found: other.value_type().name(),
            })
        }
    };
    if alignment == 0 || !alignment.is_power_of_two() {
        return Err(GgufError::BadAlignment { value: alignment });
    }

    cur.check_count(tensor_count, MIN_TENSOR_INFO_BYTES, tensor_count_at, &|| "header tensor count".into())?;
    let mut tensors = Vec::with_capacity(tensor_count.min(MAX_RESERVE) as usize);
    let mut tensor_index = HashMap::with_capacity(tensor_count.min(MAX_RESERVE) as usize);
    for i in 0..tensor_count {
        let info = read_tensor_info(&mut cur, i, alignment)?;
        if tensor_index.contains_key(&info.name) {
            return Err(GgufError::DuplicateTensor { name: info.name, offset: info.info_offset });
        }
        tensor_index.insert(info.name.clone(), tensors.len());
        tensors.push(info);
    }

    let data_offset = cur.offset().next_multiple_of(alignment);
    check_data_ranges(&tensors, data_offset, buf.len() as u64)?;

    Ok(Parsed { version, metadata, key_index, tensors, tensor_index, alignment, data_offset })
}

/// The header up to the end of the metadata: version, tensor count (and its offset), metadata.
#[allow(clippy::type_complexity)]
fn parse_metadata(
    cur: &mut Cursor<'_>,
) -> Result<(u32, u64, u64, Vec<(String, Value)>, HashMap<String, usize>), GgufError> {
    let magic = cur.array::<4>(&|| "header magic".into())?;
    if &magic != b"GGUF" {
        return Err(GgufError::BadMagic { found: magic.to_vec() });
    }
    let version = cur.u32(&|| "header version".into())?;
    if version != 2 && version != 3 {
        return Err(GgufError::UnsupportedVersion { version });
    }
    let tensor_count_at = cur.offset();
    let tensor_count = cur.u64(&|| "header tensor count".into())?;
    let kv_count_at = cur.offset();
    let kv_count = cur.u64(&|| "header metadata count".into())?;
    cur.check_count(kv_count, MIN_KV_BYTES, kv_count_at, &|| "header metadata count".into())?;
    // Tensor infos come after the metadata, so this is a first, loose bound; each info is still
    // bounds-checked as it is read.
    cur.check_count(tensor_count, MIN_TENSOR_INFO_BYTES, tensor_count_at, &|| "header tensor count".into())?;

    let mut metadata = Vec::with_capacity(kv_count.min(MAX_RESERVE) as usize);
    let mut key_index = HashMap::with_capacity(kv_count.min(MAX_RESERVE) as usize);
    for i in 0..kv_count {
        let key_at = cur.offset();
        let key = cur.string(&|| format!("key of metadata entry {i}"))?;
        let field = || format!("value of '{key}'");
        let ty = cur.value_type(&field)?;
        let value = cur.value(ty, &field, 0)?;
        if key_index.contains_key(&key) {
            return Err(GgufError::DuplicateKey { key, offset: key_at });
        }
        key_index.insert(key.clone(), metadata.len());
        metadata.push((key, value));
    }

    Ok((version, tensor_count, tensor_count_at, metadata, key_index))
}

/// The metadata of a file whose first bytes are `prefix`: `Ok(None)` while `prefix` may end
/// inside the metadata (a read past its end, or a count or string longer than what has arrived: more bytes
/// are needed), an error as soon as what is there is malformed otherwise.
pub(super) fn parse_metadata_prefix(prefix: &[u8]) -> Result<Option<Vec<(String, Value)>>, GgufError> {
    let mut cur = Cursor { buf: prefix, pos: 0 };
    match parse_metadata(&mut cur) {
        Ok((_, _, _, metadata, _)) => Ok(Some(metadata)),
        Err(GgufError::Truncated { .. } | GgufError::CountTooLarge { .. } | GgufError::StringTooLong { .. }) => {
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

fn read_tensor_info(cur: &mut Cursor<'_>, i: u64, alignment: u64) -> Result<TensorInfo, GgufError> {
    let info_offset = cur.offset();
    let name = cur.string(&|| format!("name of tensor {i}"))?;
    let field = || format!("info of tensor '{name}'");
    let dims_at = cur.offset();
    let n_dims = cur.u32(&field)?;
    if n_dims as usize > MAX_DIMS {
        return Err(GgufError::TooManyDims { tensor: name, offset: dims_at, n_dims, max: MAX_DIMS });
    }
    let dims = (0..n_dims).map(|_| cur.u64(&field)).collect::<Result<Vec<u64>, _>>()?;
    let type_at = cur.offset();
    let type_id = cur.u32(&field)?;
    let ty = GgmlType::from_id(type_id).ok_or_else(|| GgufError::UnknownTensorType {
        tensor: name.clone(),
        offset: type_at,
        type_id,
    })?;
    let offset = cur.u64(&field)?;

    let n_elements = dims
        .iter()
        .try_fold(1u64, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| GgufError::DimsOverflow { tensor: name.clone(), offset: dims_at, dims: dims.clone() })?;
    let ne0 = dims.first().copied().unwrap_or(1);
    if ne0 % ty.block_elems() as u64 != 0 {
        return Err(GgufError::RowNotBlockMultiple { tensor: name, ty, ne0, block: ty.block_elems() });
    }
    let n_bytes = (n_elements / ty.block_elems() as u64).checked_mul(ty.block_bytes() as u64).ok_or_else(|| {
        GgufError::SizeOverflow {
            field: format!("data size of tensor '{name}'"),
            offset: dims_at,
            count: n_elements / ty.block_elems() as u64,
            elem_size: ty.block_bytes() as u64,
        }
    })?;
    if offset % alignment != 0 {
        return Err(GgufError::TensorMisaligned { tensor: name, offset, alignment });
    }
    Ok(TensorInfo { name, dims, ty, offset, n_elements, n_bytes, info_offset })
}

/// Every tensor's data must lie inside the file and no two may overlap.
fn check_data_ranges(tensors: &[TensorInfo], data_offset: u64, file_len: u64) -> Result<(), GgufError> {
    let mut ranges = Vec::with_capacity(tensors.len());
    for t in tensors {
        let start = data_offset.checked_add(t.offset);
        let end = start.and_then(|s| s.checked_add(t.n_bytes));
        match (start, end) {
            (Some(start), Some(end)) if end <= file_len => ranges.push((start, end, t)),
            _ => {
                return Err(GgufError::TensorOutOfBounds {
                    tensor: t.name.clone(),
                    start: start.unwrap_or(u64::MAX),
                    end: end.unwrap_or(u64::MAX),
                    file_len,
                })
            }
        }
    }
    ranges.sort_by_key(|&(start, end, _)| (start, end));
    let mut prev: Option<(u64, &TensorInfo)> = None;
    for (start, end, t) in ranges {
        if start == end {
            continue; // an empty tensor occupies nothing
        }
        if let Some((prev_end, other)) = prev {
            if start < prev_end {
                return Err(GgufError::TensorOverlap {
                    tensor: t.name.clone(),
                    other: other.name.clone(),
                    start,
                    end,
                    other_end: prev_end,
                });
            }
        }
        if prev.is_none_or(|(prev_end, _)| end > prev_end) {
            prev = Some((end, t));
        }
    }
    Ok(())
}
