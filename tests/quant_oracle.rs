//! Every block type against gguf-py's numpy implementation: the fixtures in
//! `tests/fixtures/quant/` are written by `scripts/oracle/quant_fixtures.py`.
//!
//! Dequantization must be bit-exact (the Rust code applies the same f32 operations in the same
//! order as gguf-py; NaN outputs must be NaN). Quantization of activations into Q8_0, BF16 and
//! F16 must produce identical bytes.

use std::path::PathBuf;

use ruvllm::quant::{self, GgmlType};

fn fixture(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/quant").join(name);
    std::fs::read(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (regenerate with scripts/oracle/quant_fixtures.py)", path.display()))
}

fn f32s(bytes: &[u8]) -> Vec<f32> {
    bytes.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect()
}

fn type_by_name(name: &str) -> GgmlType {
    *GgmlType::ALL.iter().find(|t| t.name() == name).unwrap_or_else(|| panic!("unknown type {name}"))
}

const DEQUANT_TYPES: &[&str] =
    &["F32", "F16", "BF16", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0", "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K"];

#[test]
fn dequantization_is_bit_exact_with_gguf_py() {
    let manifest = String::from_utf8(fixture("manifest.json")).unwrap();
    for &name in DEQUANT_TYPES {
        assert!(manifest.contains(&format!("\"{name}\"")), "manifest lacks {name}");
        let ty = type_by_name(name);
        let blocks = fixture(&format!("{name}.blocks"));
        let expected = f32s(&fixture(&format!("{name}.f32")));
        assert_eq!(blocks.len() / ty.block_bytes() * ty.block_elems(), expected.len(), "{name} fixture sizes");
        let mut got = vec![0f32; expected.len()];
        quant::dequantize(ty, &blocks, &mut got).unwrap();
        let mut nan = 0;
        for (i, (g, e)) in got.iter().zip(&expected).enumerate() {
            if e.is_nan() {
                assert!(g.is_nan(), "{name} value {i}: expected NaN, got {g}");
                nan += 1;
            } else {
                assert_eq!(
                    g.to_bits(),
                    e.to_bits(),
                    "{name} value {i} (block {}): got {g}, gguf-py {e}",
                    i / ty.block_elems()
                );
            }
        }
        // The fixtures include infinite and NaN scales on purpose; make sure they are exercised.
        if name != "F32" {
            assert!(nan > 0, "{name}: fixture has no NaN outputs, extreme scales not covered");
        }
    }
}

#[test]
fn activation_quantization_matches_gguf_py_bytes() {
    for name in ["Q8_0", "BF16", "F16"] {
        let ty = type_by_name(name);
        let x = f32s(&fixture(&format!("{name}.quantize.in.f32")));
        let expected = fixture(&format!("{name}.quantize.out.blocks"));
        let mut got = vec![0u8; expected.len()];
        quant::quantize(ty, &x, &mut got).unwrap();
        for (b, (g, e)) in got.chunks(ty.block_bytes()).zip(expected.chunks(ty.block_bytes())).enumerate() {
            assert_eq!(g, e, "{name} block {b}: input {:?}", &x[b * ty.block_elems()..(b + 1) * ty.block_elems()]);
        }
    }
}
