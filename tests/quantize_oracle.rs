//! Weight quantization (`quant::quantize_weights`, the `QuantizeWeights` trait) against ggml's own
//! reference quantizers `quantize_row_<type>_ref`, run by `scripts/oracle/quantize_fixtures.py`
//! through ctypes in node-llama-cpp 3.22.1's prebuilt `libggml-base.so` (llama.cpp v0.5.0).
//! The fixtures are `tests/fixtures/quant/quantize_<TYPE>.{in.f32,out.blocks}`, described by
//! `quantize_manifest.json`.
//!
//! Every block must be byte-identical with ggml's, for every row: normal, uniform, one-sided,
//! heavy-tailed, all-zero (and -0), constant, outlier, rounding ties, sparse, tiny, subnormal,
//! beyond f16 range, sub-blocks of very different scales. There is no tolerance: the Rust code
//! performs ggml's f32 operations in ggml's order (ggml's reference binary uses no FMA), and
//! reproduces ggml's `nearest_int` bit trick and x86-64's C float-to-int casts.
//!
//! The quantization error on ggml's own test signal must also be within the bound that ggml's
//! `tests/test-quantize-fns.cpp` applies to these types, and the error on normal data within
//! bounds measured for these quantizers.

use std::path::PathBuf;

use ruvllm::quant::{self, BlockQ4K, BlockQ4_0, BlockQ4_1, BlockQ5_0, BlockQ5_1, BlockQ6K, BlockQ8_0};
use ruvllm::quant::{GgmlType, QuantizeWeights};

fn fixture(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/quant").join(name);
    std::fs::read(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (regenerate with scripts/oracle/quantize_fixtures.py)", path.display()))
}

fn f32s(bytes: &[u8]) -> Vec<f32> {
    bytes.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect()
}

/// The types, and the row length the oracle script used for each.
const TYPES: &[(GgmlType, usize)] = &[
    (GgmlType::Q4_0, 256),
    (GgmlType::Q4_1, 256),
    (GgmlType::Q5_0, 256),
    (GgmlType::Q5_1, 256),
    (GgmlType::Q8_0, 256),
    (GgmlType::Q4_K, 1024),
    (GgmlType::Q6_K, 1024),
];

/// The row kinds of `ty` in fixture order, read from the manifest (for failure messages).
fn row_kinds(manifest: &str, ty: GgmlType) -> Vec<String> {
    let Some(start) = manifest.find(&format!("\"{}\": {{", ty.name())) else { return Vec::new() };
    let rest = &manifest[start..];
    let Some(open) = rest.find("\"row_kinds\": [") else { return Vec::new() };
    let list = &rest[open + 14..];
    let list = &list[..list.find(']').unwrap_or(0)];
    list.split(',').map(|s| s.trim().trim_matches('"').to_string()).collect()
}

#[test]
fn weight_quantization_is_byte_identical_with_ggml() {
    let manifest = String::from_utf8(fixture("quantize_manifest.json")).unwrap();
    let mut summary = Vec::new();
    for &(ty, row_len) in TYPES {
        let name = ty.name();
        assert!(manifest.contains(&format!("\"quantize_row_{}_ref\"", name.to_lowercase().replace("_k", "_K"))));
        let x = f32s(&fixture(&format!("quantize_{name}.in.f32")));
        let expected = fixture(&format!("quantize_{name}.out.blocks"));
        let (elems, bytes) = (ty.block_elems(), ty.block_bytes());
        assert!(!x.is_empty() && x.len().is_multiple_of(row_len), "{name}: input of {} values", x.len());
        assert_eq!(expected.len(), x.len() / elems * bytes, "{name}: fixture sizes");
        let kinds = row_kinds(&manifest, ty);
        assert_eq!(kinds.len(), x.len() / row_len, "{name}: manifest row kinds");

        let mut got = vec![0u8; expected.len()];
        quant::quantize_weights(ty, &x, &mut got).unwrap();
        let row_bytes = row_len / elems * bytes;
        let mut blocks = 0;
        for (r, (g_row, e_row)) in got.chunks(row_bytes).zip(expected.chunks(row_bytes)).enumerate() {
            for (b, (g, e)) in g_row.chunks(bytes).zip(e_row.chunks(bytes)).enumerate() {
                let start = r * row_len + b * elems;
                assert_eq!(
                    g,
                    e,
                    "{name} row {r} ({}) block {b}: ours (left) differ from ggml's (right) for input {:?}",
                    kinds[r],
                    &x[start..start + elems]
                );
                blocks += 1;
            }
        }
        summary.push(format!("{name}: {} rows, {blocks} blocks identical", kinds.len()));
    }
    eprintln!("{}", summary.join("\n"));
}

/// The per-block trait gives the same blocks as the byte-level entry point.
#[test]
fn trait_and_byte_level_entry_points_agree() {
    fn check<B: QuantizeWeights + PartialEq>(x: &[f32]) {
        let mut bytes = vec![0u8; x.len() / B::ELEMS * std::mem::size_of::<B>()];
        quant::quantize_weights(B::TYPE, x, &mut bytes).unwrap();
        let blocks: &[B] = bytemuck::cast_slice(&bytes);
        for (b, chunk) in blocks.iter().zip(x.chunks_exact(B::ELEMS)) {
            assert!(*b == B::quantize_weights(chunk), "{}", B::TYPE);
        }
    }
    let x = f32s(&fixture("quantize_Q4_K.in.f32"));
    check::<BlockQ4_0>(&x);
    check::<BlockQ4_1>(&x);
    check::<BlockQ5_0>(&x);
    check::<BlockQ5_1>(&x);
    check::<BlockQ8_0>(&x);
    check::<BlockQ4K>(&x);
    check::<BlockQ6K>(&x);
}

fn round_trip(ty: GgmlType, x: &[f32]) -> Vec<f32> {
    let mut q = vec![0u8; ty.row_bytes(x.len() as u64).unwrap() as usize];
    quant::quantize_weights(ty, x, &mut q).unwrap();
    let mut back = vec![0f32; x.len()];
    quant::dequantize(ty, &q, &mut back).unwrap();
    back
}

/// ggml's `tests/test-quantize-fns.cpp`: data `0.1 + 2 cos(i)` for 4096 values, error
/// `sqrt(sum of squared differences) / n` (its `array_rmse`), which must stay below
/// `MAX_QUANTIZATION_TOTAL_ERROR = 0.002` for all of these types (the looser 2- and 3-bit bounds
/// are for Q2_K/Q3_K and the IQ types).
#[test]
fn total_quantization_error_is_within_ggml_test_bound() {
    const MAX_QUANTIZATION_TOTAL_ERROR: f64 = 0.002;
    let n = 32 * 128;
    let x: Vec<f32> = (0..n).map(|i| 0.1 + 2.0 * (i as f32).cos()).collect();
    for &(ty, _) in TYPES {
        let back = round_trip(ty, &x);
        let sum: f64 = x.iter().zip(&back).map(|(a, b)| (*a as f64 - *b as f64).powi(2)).sum();
        let error = sum.sqrt() / n as f64;
        eprintln!("{ty}: ggml total quantization error {error:.6}");
        assert!(error < MAX_QUANTIZATION_TOTAL_ERROR, "{ty}: error {error} >= {MAX_QUANTIZATION_TOTAL_ERROR}");
    }
}

/// Deterministic standard-normal values (xorshift64* and Box-Muller).
fn normal_data(n: usize, mut seed: u64) -> Vec<f32> {
    let mut uniform = move || {
        seed ^= seed >> 12;
        seed ^= seed << 25;
        seed ^= seed >> 27;
        ((seed.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    };
    (0..n)
        .map(|_| {
            let (u1, u2) = (uniform(), uniform());
            ((-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()) as f32
        })
        .collect()
}

/// Relative RMS error (RMS of the error over RMS of the data) on 64 Ki standard-normal values.
/// Bounds are the measured values (in the comments) plus about 5%: a regression in the search
/// (a scale candidate skipped, a wrong rounding) moves these by more than that.
#[test]
fn relative_rms_error_on_normal_data() {
    let x = normal_data(1 << 16, 0x9e37_79b9_7f4a_7c15);
    let rms_x = (x.iter().map(|v| (*v as f64).powi(2)).sum::<f64>() / x.len() as f64).sqrt();
    let bounds = [
        (GgmlType::Q4_0, 0.091),  // measured 0.0863
        (GgmlType::Q4_1, 0.082),  // measured 0.0780
        (GgmlType::Q5_0, 0.0452), // measured 0.0430
        (GgmlType::Q5_1, 0.0397), // measured 0.0378
        (GgmlType::Q8_0, 0.0057), // measured 0.0054
        (GgmlType::Q4_K, 0.075),  // measured 0.0713
        (GgmlType::Q6_K, 0.0187), // measured 0.0178
    ];
    let mut errs = Vec::new();
    for (ty, bound) in bounds {
        let back = round_trip(ty, &x);
        let mse = x.iter().zip(&back).map(|(a, b)| (*a as f64 - *b as f64).powi(2)).sum::<f64>() / x.len() as f64;
        let rel = mse.sqrt() / rms_x;
        eprintln!("{ty}: relative RMS error {rel:.4} (bound {bound})");
        errs.push((ty, rel));
        assert!(rel < bound, "{ty}: relative RMS error {rel:.4} >= {bound}");
    }
    // More bits, less error; the K types' searched scales beat the 32-value types of equal width.
    let e = |t: GgmlType| errs.iter().find(|(ty, _)| *ty == t).map(|(_, e)| *e).unwrap();
    assert!(e(GgmlType::Q4_K) < e(GgmlType::Q4_0));
    assert!(e(GgmlType::Q5_0) < e(GgmlType::Q4_0) && e(GgmlType::Q5_1) < e(GgmlType::Q4_1));
    assert!(e(GgmlType::Q6_K) < e(GgmlType::Q5_1) && e(GgmlType::Q8_0) < e(GgmlType::Q6_K));
}
