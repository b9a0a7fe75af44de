//! The default model (SmolLM2-135M-Instruct Q4_1) read by ruvllm must agree with gguf-py on every
//! metadata key and every tensor, down to the SHA-256 of each dequantized tensor.
//! Expected values: `tests/fixtures/smollm2-135m-q4_1.gguf-py.tsv`, written by
//! `scripts/oracle/model_fixtures.py`.

mod common;

use ruvllm::gguf::{Array, Value};
use ruvllm::GgufFile;
use sha2::{Digest, Sha256};

fn hex(d: impl AsRef<[u8]>) -> String {
    d.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

fn gguf_string(s: &str) -> Vec<u8> {
    let mut v = (s.len() as u64).to_le_bytes().to_vec();
    v.extend_from_slice(s.as_bytes());
    v
}

/// The same description of a value that the oracle script writes.
fn describe(v: &Value) -> (String, String) {
    let scalar = |t: &str, s: String| (t.to_string(), s);
    match v {
        Value::String(s) => scalar("string", format!("{}:{}", s.len(), hex(Sha256::digest(s.as_bytes())))),
        Value::F32(x) => scalar("f32", format!("0x{:08x}", x.to_bits())),
        Value::F64(x) => scalar("f64", format!("0x{:016x}", x.to_bits())),
        Value::Bool(b) => scalar("bool", b.to_string()),
        Value::Array(a) => {
            let mut enc = Vec::new();
            match a {
                Array::String(v) => v.iter().for_each(|s| enc.extend(gguf_string(s))),
                Array::I32(v) => v.iter().for_each(|x| enc.extend(x.to_le_bytes())),
                Array::U32(v) => v.iter().for_each(|x| enc.extend(x.to_le_bytes())),
                Array::F32(v) => v.iter().for_each(|x| enc.extend(x.to_le_bytes())),
                other => panic!("array type {:?} not expected in this model", other.element_type()),
            }
            let t = a.element_type().name();
            scalar("array", format!("{t}:{}:{}", a.len(), hex(Sha256::digest(&enc))))
        }
        other => scalar(
            other.value_type().name(),
            other.to_u64().map(|u| u.to_string()).unwrap_or_else(|| format!("{other:?}")),
        ),
    }
}

#[test]
fn default_model_reads_exactly_as_gguf_py_reads_it() {
    let path = common::default_model();
    let file = GgufFile::open(&path).unwrap();
    assert!(file.bytes().is_mapped(), "the model must be memory-mapped, not read");
    assert_eq!(file.version(), 3);
    assert_eq!(file.metadata().len(), 33);
    assert_eq!(file.tensors().len(), 272);
    file.check_supported().unwrap();

    let fixture = std::fs::read_to_string(common::repo().join("tests/fixtures/smollm2-135m-q4_1.gguf-py.tsv")).unwrap();
    let (mut keys, mut tensors) = (0, 0);
    let mut buf = Vec::new();
    for line in fixture.lines().filter(|l| !l.starts_with('#')) {
        let cols: Vec<&str> = line.split('\t').collect();
        match cols[0] {
            "key" => {
                keys += 1;
                let v = file.get(cols[1]).unwrap_or_else(|| panic!("key {} missing", cols[1]));
                let (ty, val) = describe(v);
                assert_eq!((ty.as_str(), val.as_str()), (cols[2], cols[3]), "key {}", cols[1]);
            }
            "tensor" => {
                tensors += 1;
                let t = file.tensor(cols[1]).unwrap();
                let info = t.info();
                let dims: Vec<String> = info.dims().iter().map(|d| d.to_string()).collect();
                assert_eq!(info.ty().name(), cols[2], "{}", cols[1]);
                assert_eq!(dims.join(","), cols[3], "{}", cols[1]);
                assert_eq!((file.data_offset() + info.offset()).to_string(), cols[4], "{}", cols[1]);
                assert_eq!(info.n_bytes().to_string(), cols[5], "{}", cols[1]);
                buf.resize(info.n_elements() as usize, 0f32);
                t.dequantize_into(&mut buf).unwrap();
                const { assert!(cfg!(target_endian = "little"), "the fixture hashes little-endian f32") };
                let bytes: &[u8] = bytemuck::cast_slice(&buf);
                assert_eq!(hex(Sha256::digest(bytes)), cols[6], "dequantized {} differs from gguf-py", cols[1]);
            }
            other => panic!("bad fixture line kind {other}"),
        }
    }
    assert_eq!((keys, tensors), (33, 272));
}
