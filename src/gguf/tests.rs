//! Reader and writer tests on small synthetic files. The committed malformed corpus
//! (`tests/fixtures/malformed`) and the default model are exercised in `tests/`.

use super::*;
use crate::error::Error;

fn all_value_kinds() -> Vec<(&'static str, Value)> {
    vec![
        ("t.u8", Value::U8(200)),
        ("t.i8", Value::I8(-5)),
        ("t.u16", Value::U16(60000)),
        ("t.i16", Value::I16(-30000)),
        ("t.u32", Value::U32(4_000_000_000)),
        ("t.i32", Value::I32(-2_000_000_000)),
        ("t.f32", Value::F32(1.5e-5)),
        ("t.bool", Value::Bool(true)),
        ("t.string", Value::String("héllo ✓".into())),
        ("t.u64", Value::U64(u64::MAX)),
        ("t.i64", Value::I64(i64::MIN)),
        ("t.f64", Value::F64(-0.125)),
        ("t.arr.str", Value::Array(Array::String(vec!["a".into(), "".into(), "ü".into()]))),
        ("t.arr.i32", Value::Array(Array::I32(vec![1, -2, 3]))),
        ("t.arr.bool", Value::Array(Array::Bool(vec![true, false]))),
        ("t.arr.empty", Value::Array(Array::F64(vec![]))),
        (
            "t.arr.nested",
            Value::Array(Array::Array(vec![
                Array::U8(vec![1, 2]),
                Array::Array(vec![Array::String(vec!["deep".into()])]),
            ])),
        ),
    ]
}

fn sample_writer() -> GgufWriter {
    let mut w = GgufWriter::new();
    w.kv("general.architecture", Value::String("llama".into()));
    for (k, v) in all_value_kinds() {
        w.kv(k, v);
    }
    let f32_data: Vec<u8> = (0..8).flat_map(|i| (i as f32 * 0.5).to_le_bytes()).collect();
    w.tensor("a.f32", GgmlType::F32, &[4, 2], f32_data).unwrap();
    w.tensor("b.q8_0", GgmlType::Q8_0, &[64, 3], vec![0u8; 6 * 34]).unwrap();
    w.tensor("c.q4_0", GgmlType::Q4_0, &[32], vec![0u8; 18]).unwrap();
    w
}

fn parse(bytes: Vec<u8>) -> Result<GgufFile, GgufError> {
    match GgufFile::from_bytes(ModelBytes::from_vec(bytes)) {
        Ok(f) => Ok(f),
        Err(Error::Gguf(e)) => Err(e),
        Err(other) => panic!("unexpected error class: {other}"),
    }
}

#[test]
fn writer_output_reads_back_identically() {
    let f = parse(sample_writer().to_bytes()).unwrap();
    assert_eq!(f.version(), 3);
    assert_eq!(f.alignment(), 32);
    assert_eq!(f.metadata().len(), 1 + all_value_kinds().len());
    for (k, v) in all_value_kinds() {
        assert_eq!(f.get(k), Some(&v), "{k}");
    }
    let names: Vec<&str> = f.tensors().iter().map(|t| t.name()).collect();
    assert_eq!(names, ["a.f32", "b.q8_0", "c.q4_0"]);
    let a = f.tensor("a.f32").unwrap();
    assert_eq!(a.info().n_rows(), 2);
    assert_eq!(a.to_f32_vec().unwrap(), (0..8).map(|i| i as f32 * 0.5).collect::<Vec<_>>());
    let mut row = [0f32; 4];
    a.dequantize_row(1, &mut row).unwrap();
    assert_eq!(row, [2.0, 2.5, 3.0, 3.5]);
    assert!(matches!(a.row(2), Err(GgufError::RowOutOfRange { row: 2, rows: 2, .. })));
    for t in f.tensors() {
        assert_eq!((f.data_offset() + t.offset()) % 32, 0, "{} aligned", t.name());
    }
    assert!(matches!(f.tensor("nope"), Err(GgufError::TensorNotFound { .. })));
}

#[test]
fn typed_getters_name_the_key() {
    let f = parse(sample_writer().to_bytes()).unwrap();
    assert_eq!(f.get_u64("t.u32").unwrap(), 4_000_000_000);
    assert_eq!(f.get_str("general.architecture").unwrap(), "llama");
    assert_eq!(f.get_f64("t.f64").unwrap(), -0.125);
    let err = f.get_u64("t.i32").unwrap_err();
    assert_eq!(err.to_string(), "metadata key 't.i32' has type i32, expected non-negative integer");
    let err = f.get_str("llama.block_count").unwrap_err();
    assert_eq!(err.to_string(), "metadata key 'llama.block_count' not found");
}

#[test]
fn version_2_is_read_and_version_1_is_refused() {
    let mut bytes = sample_writer().to_bytes();
    bytes[4..8].copy_from_slice(&2u32.to_le_bytes());
    assert_eq!(parse(bytes.clone()).unwrap().version(), 2);
    bytes[4..8].copy_from_slice(&1u32.to_le_bytes());
    let err = parse(bytes).unwrap_err();
    assert_eq!(err, GgufError::UnsupportedVersion { version: 1 });
    assert!(err.to_string().contains("unsupported GGUF version 1"));
}

#[test]
fn every_truncation_of_the_header_is_a_truncation_error() {
    let bytes = sample_writer().to_bytes();
    let f = parse(bytes.clone()).unwrap();
    // Every prefix that cuts into the header fails as `Truncated` at exactly the cut.
    let data_end = f.tensors().iter().map(|t| f.data_offset() + t.offset() + t.n_bytes()).max().unwrap() as usize;
    let info_end = after(&bytes, b"c.q4_0") + 4 + 8 + 4 + 8; // the last tensor info; padding follows
    let step = if cfg!(miri) { 13 } else { 1 }; // Miri: a sample of the cut points
    for len in (0..info_end).step_by(step) {
        match parse(bytes[..len].to_vec()) {
            Err(GgufError::Truncated { file_len, .. }) => assert_eq!(file_len, len as u64),
            Err(GgufError::StringTooLong { .. } | GgufError::CountTooLarge { .. }) => {}
            other => panic!("prefix of {len} bytes: expected truncation, got {other:?}"),
        }
    }
    // Cutting into the padding or the data leaves a tensor outside the file.
    for len in (info_end..data_end).step_by(step) {
        let err = parse(bytes[..len].to_vec()).unwrap_err();
        assert_eq!(err.kind(), "TensorOutOfBounds", "prefix of {len} bytes: {err}");
    }
}

#[test]
fn metadata_from_a_prefix_waits_for_more_bytes_then_equals_the_full_parse() {
    let bytes = sample_writer().to_bytes();
    let f = parse(bytes.clone()).unwrap();
    let step = if cfg!(miri) { 13 } else { 1 };
    let mut first_complete = None;
    for len in (0..=bytes.len()).step_by(step) {
        match super::metadata_from_prefix(&bytes[..len]) {
            Ok(None) => assert!(first_complete.is_none(), "prefix of {len} bytes: None after Some"),
            Ok(Some(m)) => {
                assert_eq!(m, f.metadata(), "prefix of {len} bytes");
                first_complete.get_or_insert(len);
            }
            Err(e) => panic!("prefix of {len} bytes of a valid file: {e}"),
        }
    }
    assert!(first_complete.unwrap() < after(&bytes, b"a.f32"), "complete before the tensor infos");
    let mut bad = bytes.clone();
    bad[0] = b'X';
    assert_eq!(super::metadata_from_prefix(&bad[..64]).unwrap_err().kind(), "BadMagic");
}

/// Offset of the first byte after `needle` in `bytes`.
fn after(bytes: &[u8], needle: &[u8]) -> usize {
    bytes.windows(needle.len()).position(|w| w == needle).unwrap() + needle.len()
}

#[test]
fn array_count_times_element_size_overflow_is_its_own_error() {
    let mut w = GgufWriter::new();
    w.kv("big", Value::Array(Array::U64(vec![7])));
    let mut bytes = w.to_bytes();
    let at = after(&bytes, b"big") + 4 + 4; // value type, element type
    bytes[at..at + 8].copy_from_slice(&(u64::MAX / 4).to_le_bytes());
    let err = parse(bytes).unwrap_err();
    assert!(matches!(err, GgufError::SizeOverflow { count, elem_size: 8, .. } if count == u64::MAX / 4), "{err}");
    assert!(err.to_string().contains("overflows"), "{err}");
}

#[test]
fn array_count_beyond_the_file_is_refused_before_allocating() {
    let mut w = GgufWriter::new();
    w.kv("big", Value::Array(Array::String(vec!["x".into()])));
    let mut bytes = w.to_bytes();
    let at = after(&bytes, b"big") + 8;
    bytes[at..at + 8].copy_from_slice(&(1u64 << 40).to_le_bytes());
    let err = parse(bytes).unwrap_err();
    assert!(matches!(err, GgufError::CountTooLarge { count, .. } if count == 1 << 40), "{err}");
}

#[test]
fn string_longer_than_the_file_is_refused() {
    let mut bytes = sample_writer().to_bytes();
    let at = after(&bytes, b"t.string") + 4;
    bytes[at..at + 8].copy_from_slice(&u64::MAX.to_le_bytes());
    let err = parse(bytes).unwrap_err();
    assert!(
        matches!(err, GgufError::StringTooLong { len: u64::MAX, ref field, .. } if field == "value of 't.string'"),
        "{err}"
    );
}

#[test]
fn nesting_is_bounded() {
    let mut inner = Array::U8(vec![1]);
    for _ in 0..MAX_ARRAY_DEPTH - 1 {
        inner = Array::Array(vec![inner]);
    }
    let mut w = GgufWriter::new();
    w.kv("ok", Value::Array(inner.clone()));
    assert!(parse(w.to_bytes()).is_ok());
    let mut w = GgufWriter::new();
    w.kv("deep", Value::Array(Array::Array(vec![inner])));
    let err = parse(w.to_bytes()).unwrap_err();
    assert!(matches!(err, GgufError::NestingTooDeep { max_depth: MAX_ARRAY_DEPTH, .. }), "{err}");
}

#[test]
fn duplicates_are_refused_with_their_names() {
    let mut w = sample_writer();
    w.kv("t.u8", Value::U8(1));
    assert!(matches!(parse(w.to_bytes()).unwrap_err(), GgufError::DuplicateKey { key, .. } if key == "t.u8"));
    let mut w = sample_writer();
    w.tensor("a.f32", GgmlType::F32, &[1], vec![0; 4]).unwrap();
    assert!(matches!(parse(w.to_bytes()).unwrap_err(), GgufError::DuplicateTensor { name, .. } if name == "a.f32"));
}

#[test]
fn alignment_must_be_a_u32_power_of_two() {
    for (value, ok) in [(1u32, true), (64, true), (0, false), (48, false)] {
        let mut w = sample_writer();
        w.kv("general.alignment", Value::U32(value));
        let mut bytes = w.to_bytes();
        if !ok {
            // The writer fell back to 32 for the bad value: the reader must refuse it regardless.
            assert_eq!(parse(bytes).unwrap_err(), GgufError::BadAlignment { value: value.into() });
            continue;
        }
        let f = parse(std::mem::take(&mut bytes)).unwrap();
        assert_eq!(f.alignment(), u64::from(value));
        assert_eq!(f.tensor("c.q4_0").unwrap().data().len(), 18);
    }
    let mut w = sample_writer();
    w.kv("general.alignment", Value::U64(32));
    assert!(matches!(parse(w.to_bytes()).unwrap_err(), GgufError::WrongValueType { found: "u64", .. }));
}

/// Rewrites the `offset` field of the tensor info named `name`.
fn set_tensor_offset(bytes: &mut [u8], name: &str, dims: usize, offset: u64) {
    let at = after(bytes, name.as_bytes()) + 4 + 8 * dims + 4;
    bytes[at..at + 8].copy_from_slice(&offset.to_le_bytes());
}

#[test]
fn tensor_data_must_be_aligned_in_bounds_and_disjoint() {
    let bytes = sample_writer().to_bytes();
    let mut b = bytes.clone();
    set_tensor_offset(&mut b, "c.q4_0", 1, 33);
    assert!(matches!(parse(b).unwrap_err(), GgufError::TensorMisaligned { offset: 33, alignment: 32, .. }));

    let mut b = bytes.clone();
    set_tensor_offset(&mut b, "c.q4_0", 1, 1 << 20);
    assert!(matches!(parse(b).unwrap_err(), GgufError::TensorOutOfBounds { tensor, .. } if tensor == "c.q4_0"));

    let mut b = bytes.clone();
    set_tensor_offset(&mut b, "c.q4_0", 1, u64::MAX - 31);
    assert!(matches!(parse(b).unwrap_err(), GgufError::TensorOutOfBounds { end: u64::MAX, .. }));

    let mut b = bytes.clone();
    set_tensor_offset(&mut b, "c.q4_0", 1, 32); // inside b.q8_0, which starts at 32
    let err = parse(b).unwrap_err();
    match &err {
        GgufError::TensorOverlap { tensor, other, .. } => {
            let mut pair = [tensor.as_str(), other.as_str()];
            pair.sort();
            assert_eq!(pair, ["b.q8_0", "c.q4_0"]);
        }
        _ => panic!("expected an overlap, got {err}"),
    }
}

#[test]
fn tensor_shape_checks() {
    let bytes = sample_writer().to_bytes();
    // c.q4_0 has dims [32]: make it [33] (not a whole block) ...
    let mut b = bytes.clone();
    let at = after(&b, b"c.q4_0") + 4;
    b[at..at + 8].copy_from_slice(&33u64.to_le_bytes());
    assert!(matches!(parse(b).unwrap_err(), GgufError::RowNotBlockMultiple { ne0: 33, block: 32, .. }));
    // ... or 5 dims ...
    let mut b = bytes.clone();
    let at = after(&b, b"c.q4_0");
    b[at..at + 4].copy_from_slice(&5u32.to_le_bytes());
    assert!(matches!(parse(b).unwrap_err(), GgufError::TooManyDims { n_dims: 5, .. }));
    // ... or an unknown type id.
    let mut b = bytes.clone();
    let at = after(&b, b"c.q4_0") + 4 + 8;
    b[at..at + 4].copy_from_slice(&4u32.to_le_bytes());
    assert!(matches!(parse(b).unwrap_err(), GgufError::UnknownTensorType { type_id: 4, .. }));
    // b.q8_0 has dims [64, 3]: make the product overflow.
    let mut b = bytes;
    let at = after(&b, b"b.q8_0") + 4 + 8;
    b[at..at + 8].copy_from_slice(&(u64::MAX / 2).to_le_bytes());
    assert!(matches!(parse(b).unwrap_err(), GgufError::DimsOverflow { .. }));
}

#[test]
fn unknown_value_type_and_bad_bool_and_bad_utf8_are_refused() {
    let bytes = sample_writer().to_bytes();
    let mut b = bytes.clone();
    let at = after(&b, b"t.u8");
    b[at..at + 4].copy_from_slice(&13u32.to_le_bytes());
    assert!(matches!(parse(b).unwrap_err(), GgufError::UnknownValueType { type_id: 13, .. }));
    let mut b = bytes.clone();
    let at = after(&b, b"t.bool") + 4;
    b[at] = 2;
    assert!(matches!(parse(b).unwrap_err(), GgufError::InvalidBool { value: 2, .. }));
    let mut b = bytes;
    let at = after(&b, b"t.string") + 4 + 8;
    b[at] = 0xff;
    assert!(matches!(parse(b).unwrap_err(), GgufError::InvalidUtf8 { .. }));
}

#[test]
fn unsupported_tensor_types_are_named_at_load() {
    let mut w = GgufWriter::new();
    w.tensor("blk.0.ffn_down.weight", GgmlType::IQ2_XXS, &[256], vec![0; 66]).unwrap();
    let f = parse(w.to_bytes()).unwrap();
    let err = f.check_supported().unwrap_err();
    assert!(
        matches!(&err, GgufError::UnsupportedTensorType { tensor, ty: GgmlType::IQ2_XXS, .. } if tensor == "blk.0.ffn_down.weight")
    );
    assert!(err.to_string().contains("'blk.0.ffn_down.weight' has type IQ2_XXS"), "{err}");
    let err = f.tensor("blk.0.ffn_down.weight").unwrap().to_f32_vec().unwrap_err();
    assert!(matches!(err, Error::Gguf(GgufError::UnsupportedTensorType { .. })));
}

#[test]
fn empty_and_garbage_inputs() {
    assert!(matches!(parse(vec![]).unwrap_err(), GgufError::Truncated { offset: 0, needed: 4, .. }));
    assert!(matches!(parse(b"GGML\x03\0\0\0".to_vec()).unwrap_err(), GgufError::BadMagic { .. }));
    let mut b = b"GGUF".to_vec();
    b.extend_from_slice(&3u32.to_le_bytes());
    b.extend_from_slice(&u64::MAX.to_le_bytes());
    b.extend_from_slice(&0u64.to_le_bytes());
    assert!(matches!(parse(b).unwrap_err(), GgufError::SizeOverflow { .. } | GgufError::CountTooLarge { .. }));
}
