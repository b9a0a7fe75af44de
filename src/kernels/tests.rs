//! Every SIMD flavour this machine runs against the scalar reference, for every weight type, on
//! random blocks and on the edges: all-zero and all-max quants, zero, subnormal and ±65504
//! scales, activations at ±127, block counts that are not a multiple of any unroll factor, and
//! 1 to [`MAX_ROWS`] activation rows per call.
//!
//! On wasm32 these run under `wasm-bindgen-test` (Node or a headless browser; see
//! `scripts/test.sh`): `#[test]` natively, `#[wasm_bindgen_test]` there.

use super::*;
use crate::quant::*;
use crate::test_util::{random_blocks, Rng};

/// Scale values a weight block is given in the edge cases (as f16 bits).
const EDGE_SCALES: [u16; 6] = [0x0000, 0x0001, 0x3c00, 0x7bff, 0xfbff, 0x8001];

/// Byte offsets of the f16 scale/min fields per weight type.
fn scale_offsets(ty: GgmlType) -> &'static [usize] {
    use GgmlType::*;
    match ty {
        Q4_0 | Q5_0 | Q8_0 => &[0],
        Q4_1 | Q5_1 => &[0, 2],
        Q2_K => &[80, 82],
        Q3_K => &[108],
        Q4_K | Q5_K => &[0, 2],
        Q6_K => &[208],
        _ => &[],
    }
}

/// The ways a test case is built.
#[derive(Clone, Copy, Debug)]
enum Case {
    Random,
    /// Every quant byte 0x00 (all-zero nibbles / lowest values).
    ZeroQuants,
    /// Every quant byte 0xff (all-max nibbles and high bits).
    MaxQuants,
    /// Scales set to one of [`EDGE_SCALES`].
    EdgeScale(usize),
}

fn weights<W: Block>(rng: &mut Rng, n: usize, case: Case) -> Vec<W> {
    let mut w: Vec<W> = random_blocks(rng, n);
    let offsets = scale_offsets(W::TYPE);
    if offsets.is_empty() {
        return w; // float types: random values are the only case that matters
    }
    let size = std::mem::size_of::<W>();
    let bytes: &mut [u8] = bytemuck::cast_slice_mut(&mut w);
    for block in bytes.chunks_exact_mut(size) {
        let saved: Vec<[u8; 2]> = offsets.iter().map(|&o| [block[o], block[o + 1]]).collect();
        match case {
            Case::Random => continue,
            Case::ZeroQuants => block.fill(0),
            Case::MaxQuants => block.fill(0xff),
            Case::EdgeScale(i) => {
                for &o in offsets {
                    block[o..o + 2].copy_from_slice(&EDGE_SCALES[(i + o) % EDGE_SCALES.len()].to_le_bytes());
                }
                continue;
            }
        }
        // Quant bytes changed: keep the moderate random scales (for Q6_K the scales are part of
        // the fill; -1 everywhere is a legitimate extreme).
        for (&o, s) in offsets.iter().zip(saved) {
            block[o..o + 2].copy_from_slice(&s);
        }
    }
    w
}

fn activations<A: QuantizeBlock>(rng: &mut Rng, n_values: usize, case: Case) -> Vec<u8> {
    let x: Vec<f32> = match case {
        // Alternating ±max: every quant saturates at ±127.
        Case::MaxQuants => (0..n_values).map(|i| if i % 3 == 0 { -3.0 } else { 3.0 }).collect(),
        _ => (0..n_values).map(|_| rng.range(-2.0, 2.0)).collect(),
    };
    let blocks: Vec<A> = x.chunks_exact(A::ELEMS).map(A::quantize).collect();
    bytemuck::cast_slice(&blocks).to_vec()
}

/// `sum |w_i * a_i|` over the dequantized operands plus, for Q8_1 activations, the `|m * s|`
/// terms: what the rounding error of a reordered float sum is measured against.
fn magnitude<W: VecDot>(w: &[W], a: &[W::Act]) -> f64 {
    let mut wf = vec![0f32; W::ELEMS];
    let mut af = vec![0f32; W::Act::ELEMS];
    let mut wv = Vec::new();
    let mut av = Vec::new();
    for b in w {
        b.dequantize(&mut wf);
        wv.extend_from_slice(&wf);
    }
    for b in a {
        b.dequantize(&mut af);
        av.extend_from_slice(&af);
    }
    let products: f64 = wv.iter().zip(&av).map(|(&p, &q)| (p as f64 * q as f64).abs()).sum();
    let act_bytes: &[u8] = bytemuck::cast_slice(a);
    let mins = match (W::TYPE, W::Act::TYPE) {
        (GgmlType::Q4_1 | GgmlType::Q5_1, GgmlType::Q8_1) => {
            let wb: &[u8] = bytemuck::cast_slice(w);
            wb.chunks_exact(std::mem::size_of::<W>())
                .zip(act_bytes.chunks_exact(std::mem::size_of::<W::Act>()))
                .map(|(w, a)| (f16_le([w[2], w[3]]) as f64 * f16_le([a[2], a[3]]) as f64).abs())
                .sum()
        }
        _ => 0.0,
    };
    // Products of quantized values and scales with the largest f16 scales, computed as f32
    // inside any kernel, are exact to f32 precision of the magnitude; the mins of the K types
    // are folded into the dequantized values.
    products + mins
}

fn check_flavour<W: VecDot>(k: Kernels, rng: &mut Rng) {
    let kernel = k.rows_dot(W::TYPE).expect("every weight type has a kernel");
    let reference = Kernels::scalar().rows_dot(W::TYPE).unwrap();
    let float = W::ELEMS == 1;
    let cases = [
        Case::Random,
        Case::ZeroQuants,
        Case::MaxQuants,
        Case::EdgeScale(0),
        Case::EdgeScale(1),
        Case::EdgeScale(2),
        Case::EdgeScale(3),
    ];
    let trials = if cfg!(miri) { 1 } else { 12 };
    for case in cases {
        for trial in 0..trials {
            let n_blocks = if float { 1 + (rng.u64() % 300) as usize } else { 1 + (trial + rng.u64() as usize) % 9 };
            let rows = 1 + trial % MAX_ROWS;
            let w: Vec<W> = weights(rng, n_blocks, case);
            let n_values = n_blocks * W::ELEMS;
            let mut a = Vec::new();
            for _ in 0..rows {
                a.extend(activations::<W::Act>(rng, n_values, case));
            }
            let wb: &[u8] = bytemuck::cast_slice(&w);
            let mut got = [f32::NAN; MAX_ROWS];
            let mut want = [f32::NAN; MAX_ROWS];
            kernel(wb, &a, &mut got[..rows]);
            reference(wb, &a, &mut want[..rows]);
            let row_bytes = a.len() / rows;
            for j in 0..rows {
                let act: &[W::Act] = bytemuck::cast_slice(&a[j * row_bytes..(j + 1) * row_bytes]);
                let mag = magnitude(&w, act);
                // Integer parts are exact; what differs is the order of at most n float
                // additions (f32 everywhere for the float types, where the reference uses f64).
                let rel = if float { 2.0 * n_values as f64 * f32::EPSILON as f64 } else { 2e-5 };
                let (g, e) = (got[j] as f64, want[j] as f64);
                assert!(
                    (g - e).abs() <= rel * mag + 1e-30 || (g.is_nan() && e.is_nan()) || g == e,
                    "{} {}: {case:?} blocks {n_blocks} row {j}/{rows}: {g} vs scalar {e} (magnitude {mag})",
                    k.flavour(),
                    W::TYPE,
                );
            }
            assert!(got[rows..].iter().all(|v| v.is_nan()), "{}: wrote past out.len()", k.flavour());
        }
    }
}

#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn every_flavour_matches_the_scalar_reference() {
    let flavours = Kernels::available();
    let names = flavours.iter().map(|k| k.flavour()).collect::<Vec<_>>();
    // wasm32-unknown-unknown has no stderr: print through the runner's console capture.
    #[cfg(target_arch = "wasm32")]
    wasm_bindgen_test::console_log!("kernel flavours on this machine: {names:?}");
    #[cfg(not(target_arch = "wasm32"))]
    eprintln!("kernel flavours on this machine: {names:?}");
    for k in flavours {
        let mut rng = Rng::new(0xd07 ^ k.flavour() as u64);
        check_flavour::<BlockF32>(k, &mut rng);
        check_flavour::<BlockF16>(k, &mut rng);
        check_flavour::<BlockBF16>(k, &mut rng);
        check_flavour::<BlockQ4_0>(k, &mut rng);
        check_flavour::<BlockQ4_1>(k, &mut rng);
        check_flavour::<BlockQ5_0>(k, &mut rng);
        check_flavour::<BlockQ5_1>(k, &mut rng);
        check_flavour::<BlockQ8_0>(k, &mut rng);
        check_flavour::<BlockQ2K>(k, &mut rng);
        check_flavour::<BlockQ3K>(k, &mut rng);
        check_flavour::<BlockQ4K>(k, &mut rng);
        check_flavour::<BlockQ5K>(k, &mut rng);
        check_flavour::<BlockQ6K>(k, &mut rng);
    }
}

/// The many-rows form against the scalar reference, row by row: several weight rows,
/// 1 to [`MAX_ROWS`] activation rows written with a stride, and rows long enough (600 blocks) to
/// cross the segments in which the SIMD flavours convert activation scales ahead.
fn check_mat_rows<W: VecDot>(k: Kernels, rng: &mut Rng) {
    let dot = k.rows_dot(W::TYPE).unwrap();
    let reference = Kernels::scalar().rows_dot(W::TYPE).unwrap();
    let shapes: &[(usize, usize)] =
        if cfg!(miri) { &[(1, 1), (7, 2)] } else { &[(1, 1), (7, 2), (255, 3), (257, 4), (600, 1), (600, 4)] };
    for &(n_blocks, n_act) in shapes {
        let n_rows = 3;
        let w: Vec<W> = weights(rng, n_blocks * n_rows, Case::Random);
        let wb: &[u8] = bytemuck::cast_slice(&w);
        let row_bytes = n_blocks * std::mem::size_of::<W>();
        let mut a = Vec::new();
        for _ in 0..n_act {
            a.extend(activations::<W::Act>(rng, n_blocks * W::ELEMS, Case::Random));
        }
        let stride = MAX_ROWS + 1;
        let mut got = vec![f32::NAN; n_rows * stride];
        k.mat_rows(W::TYPE, dot, wb, row_bytes, &a, n_act, &mut got, stride);
        for i in 0..n_rows {
            let mut want = [0f32; MAX_ROWS];
            reference(&wb[i * row_bytes..(i + 1) * row_bytes], &a, &mut want[..n_act]);
            let row = &got[i * stride..(i + 1) * stride];
            for j in 0..n_act {
                let act: &[W::Act] = bytemuck::cast_slice(&a[j * a.len() / n_act..(j + 1) * a.len() / n_act]);
                let mag = magnitude(&w[i * n_blocks..(i + 1) * n_blocks], act);
                let (g, e) = (row[j] as f64, want[j] as f64);
                assert!(
                    (g - e).abs() <= 2e-5 * mag + 1e-30 || (g.is_nan() && e.is_nan()) || g == e,
                    "{} {}: {n_blocks} blocks, row {i}, act {j}/{n_act}: {g} vs scalar {e}",
                    k.flavour(),
                    W::TYPE,
                );
            }
            assert!(row[n_act..].iter().all(|v| v.is_nan()), "{} {}: wrote past n_act", k.flavour(), W::TYPE);
        }
    }
}

#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn many_rows_kernels_match_the_scalar_reference() {
    for k in Kernels::available() {
        let mut rng = Rng::new(0x3a7 ^ k.flavour() as u64);
        check_mat_rows::<BlockQ4_0>(k, &mut rng);
        check_mat_rows::<BlockQ4_1>(k, &mut rng);
        check_mat_rows::<BlockQ5_0>(k, &mut rng);
        check_mat_rows::<BlockQ5_1>(k, &mut rng);
        check_mat_rows::<BlockQ8_0>(k, &mut rng);
        check_mat_rows::<BlockQ4K>(k, &mut rng);
        check_mat_rows::<BlockQ6K>(k, &mut rng);
    }
}

#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn kernels_never_read_past_mismatched_slices() {
    // The dispatcher validates lengths; a kernel handed inconsistent slices directly must still
    // stay inside them (under Miri this is checked, not just not-crashing).
    let mut rng = Rng::new(7);
    for k in Kernels::available() {
        for ty in [GgmlType::Q4_0, GgmlType::Q4_1, GgmlType::Q8_0, GgmlType::Q4_K, GgmlType::Q6_K, GgmlType::F16] {
            let kernel = k.rows_dot(ty).unwrap();
            let mut w = vec![0u8; 3 * ty.block_bytes() + 1];
            rng.fill(&mut w);
            let act = ty.vec_dot_type().unwrap();
            let mut a = vec![0u8; 2 * act.block_bytes()];
            rng.fill(&mut a);
            let mut out = [0f32; MAX_ROWS];
            kernel(&w, &a, &mut out);
            kernel(&w[..ty.block_bytes() * 3], &a, &mut out);
            kernel(&w[..ty.block_bytes()], &a[..act.block_bytes() - 1], &mut out[..1]);
            kernel(&[], &[], &mut out);
        }
    }
}

#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn matmul_rows_checks_every_length() {
    let k = Kernels::best();
    let ty = GgmlType::Q4_1;
    let w = vec![0u8; 2 * ty.block_bytes()];
    let a = vec![0u8; 2 * GgmlType::Q8_1.block_bytes()];
    let mut out = [1f32; 2];
    k.matmul_rows(ty, &w, &a, &mut out[..1]).unwrap();
    assert_eq!(out[0], 0.0);
    assert!(k.matmul_rows(ty, &w, &a, &mut out).is_err(), "two rows need twice the activations");
    assert!(k.matmul_rows(ty, &w[1..], &a, &mut out[..1]).is_err(), "partial weight block");
    assert!(k.matmul_rows(GgmlType::Q8_K, &[], &[], &mut out).is_err(), "Q8_K is not a weight type");
    let five = [0f32; MAX_ROWS + 1];
    assert!(k.matmul_rows(ty, &w, &a.repeat(MAX_ROWS + 1), &mut five.clone()).is_err());
}

#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn flavour_names_round_trip_and_scalar_is_always_there() {
    for f in Flavour::ALL {
        assert_eq!(Flavour::from_name(f.name()), Some(f));
    }
    assert!(Kernels::available().contains(&Kernels::scalar()));
    assert!(Kernels::best().flavour().supported());
}

/// Random values of mixed magnitude, with some exact zeros and large values.
fn values(rng: &mut Rng, n: usize) -> Vec<f32> {
    (0..n)
        .map(|i| match i % 17 {
            0 => 0.0,
            1 => rng.range(-60.0, 60.0),
            _ => rng.range(-4.0, 4.0),
        })
        .collect()
}

/// `|got - want| <= rel * |want| + abs` for every element.
fn close(what: &str, k: Kernels, got: &[f32], want: &[f32], rel: f32, abs: f32) {
    assert_eq!(got.len(), want.len());
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        let ok = (g - w).abs() <= rel * w.abs() + abs || (g.is_nan() && w.is_nan()) || g == w;
        assert!(ok, "{} {what}[{i}]: {g} vs scalar {w}", k.flavour());
    }
}

/// The row operations of every flavour against the scalar references, within the stated error:
/// exp-based ones within 4 ulp-ish relative (polynomial exp vs libm), reductions within f32
/// rounding of reordered sums, element-wise ones exactly, quantization bit for bit.
#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn row_operations_of_every_flavour_match_the_scalar_references() {
    let s = Kernels::scalar();
    let mut rng = Rng::new(11);
    // The scalar flavour *is* the reference (and under Miri, whose libm results carry random
    // rounding on purpose, it would not even equal itself): compare the others.
    for k in Kernels::available().into_iter().filter(|k| *k != s) {
        for n in [1, 7, 8, 9, 31, 64, 576, 1000] {
            let x = values(&mut rng, n);
            let y = values(&mut rng, n);

            let (mut a, mut b) = (x.clone(), x.clone());
            k.silu_mul(&mut a, &y);
            s.silu_mul(&mut b, &y);
            close("silu_mul", k, &a, &b, 5e-7, 1e-30);

            let (mut a, mut b) = (x.clone(), x.clone());
            k.gelu_tanh(&mut a);
            s.gelu_tanh(&mut b);
            close("gelu_tanh", k, &a, &b, 2e-6, 1e-6);

            let (mut a, mut b) = (x.clone(), x.clone());
            k.gelu_erf(&mut a);
            s.gelu_erf(&mut b);
            // A&S 7.1.26: |erf error| < 1.5e-7, times |x| / 2.
            close("gelu_erf", k, &a, &b, 2e-6, 1e-6);

            let w = values(&mut rng, n);
            let (mut a, mut b) = (vec![0f32; n], vec![0f32; n]);
            k.rms_norm(&x, &w, 1e-5, &mut a);
            s.rms_norm(&x, &w, 1e-5, &mut b);
            close("rms_norm", k, &a, &b, 1e-6, 0.0);

            let (mut a, mut b) = (x.clone(), x.clone());
            a[n / 2] = f32::NEG_INFINITY; // a masked position
            b[n / 2] = f32::NEG_INFINITY;
            k.softmax(&mut a);
            s.softmax(&mut b);
            close("softmax", k, &a, &b, 2e-6, 1e-40);

            let (mut a, mut b) = (x.clone(), x.clone());
            k.add_assign(&mut a, &y);
            s.add_assign(&mut b, &y);
            assert_eq!(a, b, "{} add_assign", k.flavour());
            let (mut a, mut b) = (x.clone(), x.clone());
            k.mul_assign(&mut a, &y);
            s.mul_assign(&mut b, &y);
            assert_eq!(a, b, "{} mul_assign", k.flavour());

            for neox in [false, true] {
                let angles: Vec<f32> = (0..n / 2).map(|_| rng.range(-100.0, 100.0)).collect();
                let (cos, sin): (Vec<f32>, Vec<f32>) = angles.iter().map(|a| (a.cos(), a.sin())).unzip();
                let (mut a, mut b) = (x.clone(), x.clone());
                k.rope_head(&mut a, &cos, &sin, neox);
                s.rope_head(&mut b, &cos, &sin, neox);
                assert_eq!(a, b, "{} rope_head neox={neox}", k.flavour());
            }

            if n % 32 == 0 {
                for ty in [GgmlType::Q4_0, GgmlType::Q4_1, GgmlType::F16] {
                    let bytes = activation_bytes(ty, n).unwrap();
                    let (mut a, mut b) = (vec![0u8; bytes], vec![1u8; bytes]);
                    k.quantize_activations(ty, &x, &mut a).unwrap();
                    s.quantize_activations(ty, &x, &mut b).unwrap();
                    assert_eq!(a, b, "{} quantize for {ty}", k.flavour());
                }
            }
            if n % 256 == 0 {
                let bytes = activation_bytes(GgmlType::Q4_K, n).unwrap();
                let (mut a, mut b) = (vec![0u8; bytes], vec![1u8; bytes]);
                k.quantize_activations(GgmlType::Q4_K, &x, &mut a).unwrap();
                s.quantize_activations(GgmlType::Q4_K, &x, &mut b).unwrap();
                assert_eq!(a, b, "{} quantize for Q4_K", k.flavour());
            }
        }
        // Attention: groups of 1 to 4 heads over a grouped cache, every prefix length.
        let (hd, stride, n_ctx) = (64, 192, 40);
        let kc = values(&mut rng, n_ctx * stride);
        let vc = values(&mut rng, n_ctx * stride);
        for heads in 1..=4 {
            let q: Vec<f32> = values(&mut rng, heads * hd).iter().map(|v| v * 0.1).collect();
            for n_past in 1..=n_ctx {
                let (mut sa, mut sb) = (vec![0f32; heads * n_ctx], vec![0f32; heads * n_ctx]);
                let (mut a, mut b) = (vec![0f32; heads * hd], vec![0f32; heads * hd]);
                k.attend_group(&q, hd, &kc, &vc, stride, 64, n_past, &mut sa, &mut a);
                s.attend_group(&q, hd, &kc, &vc, stride, 64, n_past, &mut sb, &mut b);
                close("attend_group", k, &a, &b, 1e-4, 1e-5);
            }
        }
    }
}

#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn vector_exp_is_accurate_over_the_whole_range() {
    let mut worst = 0f64;
    // Normal results (below -87.3 they are subnormal, with fewer significant bits).
    let mut x = -87.0f32;
    while x < 88.7 {
        let got = super::vector::exp(x) as f64;
        let want = (x as f64).exp();
        worst = worst.max(((got - want) / want).abs());
        x += 0.0137;
    }
    assert!(worst < 3.0 * f32::EPSILON as f64, "worst relative error {worst}");
    for x in [-100.0f32, -103.0, -104.5] {
        assert!((super::vector::exp(x) as f64 - (x as f64).exp()).abs() < 1e-45, "exp({x})");
    }
    assert_eq!(super::vector::exp(f32::NEG_INFINITY), 0.0);
    assert_eq!(super::vector::exp(100.0), f32::INFINITY);
    assert!(super::vector::exp(f32::NAN).is_nan());
}
