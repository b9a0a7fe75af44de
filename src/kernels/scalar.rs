//! Reference dot products: each weight block type with the activation type ggml pairs it with.
//!
//! Written for clarity over the decoded integer values of [`crate::quant`]: per (sub-)block an
//! exact integer dot product, then the float scales, in the order ggml's generic C code applies
//! them. These are the definition the SIMD kernels are tested against.

use crate::quant::*;

/// A weight block type with a dot product against its activation block type.
pub trait VecDot: Block {
    /// The activation type (ggml's `vec_dot_type`).
    type Act: QuantizeBlock;
    /// `sum_i w[i] * a[i]` over equally many blocks of weights and activations.
    fn vec_dot(w: &[Self], a: &[Self::Act]) -> f32;
}

#[inline(always)]
fn dot_i8(a: &[i8], b: &[i8]) -> i32 {
    a.iter().zip(b).map(|(&x, &y)| x as i32 * y as i32).sum()
}

impl VecDot for BlockF32 {
    type Act = BlockF32;
    /// As ggml's `ggml_vec_dot_f32`: f32 products accumulated in f64.
    fn vec_dot(w: &[Self], a: &[Self::Act]) -> f32 {
        w.iter().zip(a).map(|(w, a)| (w.get() * a.get()) as f64).sum::<f64>() as f32
    }
}

impl VecDot for BlockF16 {
    type Act = BlockF16;
    fn vec_dot(w: &[Self], a: &[Self::Act]) -> f32 {
        w.iter().zip(a).map(|(w, a)| (w.get() * a.get()) as f64).sum::<f64>() as f32
    }
}

impl VecDot for BlockBF16 {
    type Act = BlockBF16;
    fn vec_dot(w: &[Self], a: &[Self::Act]) -> f32 {
        w.iter().zip(a).map(|(w, a)| (w.get() * a.get()) as f64).sum::<f64>() as f32
    }
}

impl VecDot for BlockQ4_0 {
    type Act = BlockQ8_0;
    fn vec_dot(w: &[Self], a: &[Self::Act]) -> f32 {
        w.iter().zip(a).map(|(w, a)| nibble_dot(&w.qs, &a.qs, 8) as f32 * f16_le(w.d) * f16_le(a.d)).sum()
    }
}

/// `sum_j (lo(q[j]) - offset) * a[j] + (hi(q[j]) - offset) * a[j + 16]`: a 4-bit block (low nibbles
/// are values 0..16, high nibbles 16..32) dotted with 32 activations. Written as one flat loop
/// so the compiler vectorises it.
#[inline(always)]
fn nibble_dot(q: &[u8; QK / 2], a: &[i8; QK], offset: i32) -> i32 {
    let (lo, hi) = a.split_at(QK / 2);
    let mut sum = 0i32;
    for j in 0..QK / 2 {
        sum += ((q[j] & 0x0f) as i32 - offset) * lo[j] as i32 + ((q[j] >> 4) as i32 - offset) * hi[j] as i32;
    }
    sum
}

impl VecDot for BlockQ5_0 {
    type Act = BlockQ8_0;
    fn vec_dot(w: &[Self], a: &[Self::Act]) -> f32 {
        w.iter()
            .zip(a)
            .map(|(w, a)| five_bit_dot(&w.qs, u32::from_le_bytes(w.qh), &a.qs, 16) as f32 * f16_le(w.d) * f16_le(a.d))
            .sum()
    }
}

/// As [`nibble_dot`] for 5-bit values: the fifth bit of value `i` is bit `i` of `qh`.
#[inline(always)]
fn five_bit_dot(q: &[u8; QK / 2], qh: u32, a: &[i8; QK], offset: i32) -> i32 {
    let (lo, hi) = a.split_at(QK / 2);
    let mut sum = 0i32;
    for j in 0..QK / 2 {
        let v0 = ((q[j] & 0x0f) as i32 | (((qh >> j) & 1) << 4) as i32) - offset;
        let v1 = ((q[j] >> 4) as i32 | (((qh >> (j + QK / 2)) & 1) << 4) as i32) - offset;
        sum += v0 * lo[j] as i32 + v1 * hi[j] as i32;
    }
    sum
}

impl VecDot for BlockQ8_0 {
    type Act = BlockQ8_0;
    fn vec_dot(w: &[Self], a: &[Self::Act]) -> f32 {
        w.iter().zip(a).map(|(w, a)| dot_i8(&w.qs, &a.qs) as f32 * f16_le(w.d) * f16_le(a.d)).sum()
    }
}

impl VecDot for BlockQ4_1 {
    type Act = BlockQ8_1;
    fn vec_dot(w: &[Self], a: &[Self::Act]) -> f32 {
        w.iter()
            .zip(a)
            .map(|(w, a)| (f16_le(w.d) * f16_le(a.d)) * nibble_dot(&w.qs, &a.qs, 0) as f32 + f16_le(w.m) * f16_le(a.s))
            .sum()
    }
}

impl VecDot for BlockQ5_1 {
    type Act = BlockQ8_1;
    fn vec_dot(w: &[Self], a: &[Self::Act]) -> f32 {
        w.iter()
            .zip(a)
            .map(|(w, a)| {
                let sum = five_bit_dot(&w.qs, u32::from_le_bytes(w.qh), &a.qs, 0);
                (f16_le(w.d) * f16_le(a.d)) * sum as f32 + f16_le(w.m) * f16_le(a.s)
            })
            .sum()
    }
}

/// Sum over sub-blocks of `scale[k] * dot(q_k, a_k)` for sub-blocks of `sub` values.
#[inline(always)]
fn scaled_sub_dots<S: Copy + Into<i32>>(q: &[i8; QK_K], a: &BlockQ8K, scales: &[S], sub: usize) -> i32 {
    q.chunks_exact(sub).zip(a.qs.chunks_exact(sub)).zip(scales).map(|((q, a), &s)| s.into() * dot_i8(q, a)).sum()
}

/// `sum_k m[k] * (sum of the activations of sub-block k)`, from the Q8_K 16-value sums.
#[inline(always)]
fn mins_dot(a: &BlockQ8K, mins: &[u8], sub: usize) -> i32 {
    let per = sub / 16;
    mins.iter().enumerate().map(|(k, &m)| m as i32 * (0..per).map(|j| a.bsum(k * per + j) as i32).sum::<i32>()).sum()
}

impl VecDot for BlockQ2K {
    type Act = BlockQ8K;
    fn vec_dot(w: &[Self], a: &[Self::Act]) -> f32 {
        w.iter()
            .zip(a)
            .map(|(w, a)| {
                let (sc, m) = w.scales_mins();
                let isum = scaled_sub_dots(&w.values(), a, &sc, 16);
                let summs = mins_dot(a, &m, 16);
                a.d() * f16_le(w.d) * isum as f32 - a.d() * f16_le(w.dmin) * summs as f32
            })
            .sum()
    }
}

impl VecDot for BlockQ3K {
    type Act = BlockQ8K;
    fn vec_dot(w: &[Self], a: &[Self::Act]) -> f32 {
        w.iter()
            .zip(a)
            .map(|(w, a)| f16_le(w.d) * a.d() * scaled_sub_dots(&w.values(), a, &w.scales(), 16) as f32)
            .sum()
    }
}

impl VecDot for BlockQ4K {
    type Act = BlockQ8K;
    fn vec_dot(w: &[Self], a: &[Self::Act]) -> f32 {
        w.iter()
            .zip(a)
            .map(|(w, a)| {
                let (sc, m) = w.scales_mins();
                // Each 32 bytes of `qs` hold two 32-value sub-blocks: low nibbles, then high.
                let mut isum = 0i32;
                for j in 0..QK_K / 64 {
                    let q = &w.qs[32 * j..32 * j + 32];
                    let (a_lo, a_hi) = a.qs[64 * j..64 * j + 64].split_at(32);
                    let (mut lo, mut hi) = (0i32, 0i32);
                    for l in 0..32 {
                        lo += (q[l] & 0x0f) as i32 * a_lo[l] as i32;
                        hi += (q[l] >> 4) as i32 * a_hi[l] as i32;
                    }
                    isum += sc[2 * j] as i32 * lo + sc[2 * j + 1] as i32 * hi;
                }
                a.d() * f16_le(w.d) * isum as f32 - a.d() * f16_le(w.dmin) * mins_dot(a, &m, 32) as f32
            })
            .sum()
    }
}

impl VecDot for BlockQ5K {
    type Act = BlockQ8K;
    fn vec_dot(w: &[Self], a: &[Self::Act]) -> f32 {
        w.iter()
            .zip(a)
            .map(|(w, a)| {
                let (sc, m) = w.scales_mins();
                let isum = scaled_sub_dots(&w.values(), a, &sc, 32);
                a.d() * f16_le(w.d) * isum as f32 - a.d() * f16_le(w.dmin) * mins_dot(a, &m, 32) as f32
            })
            .sum()
    }
}

impl VecDot for BlockQ6K {
    type Act = BlockQ8K;
    fn vec_dot(w: &[Self], a: &[Self::Act]) -> f32 {
        w.iter().zip(a).map(|(w, a)| f16_le(w.d) * a.d() * q6k_scaled_dot(w, a) as f32).sum()
    }
}

/// Q6_K's integer dot: in each 128-value half, byte `l` of `ql`/`qh` carries values `l`, `l+32`,
/// `l+64`, `l+96` (low nibbles of `ql[l]`, `ql[l+32]`, then high nibbles; `qh` two bits each);
/// every 16 values share a scale.
#[inline(always)]
fn q6k_scaled_dot(w: &BlockQ6K, a: &BlockQ8K) -> i32 {
    let mut isum = 0i32;
    for h in 0..2 {
        let (ql, qh, aq) = (&w.ql[64 * h..64 * h + 64], &w.qh[32 * h..32 * h + 32], &a.qs[128 * h..128 * h + 128]);
        let sc = &w.scales[8 * h..8 * h + 8];
        for half in 0..2 {
            let (mut s0, mut s1, mut s2, mut s3) = (0i32, 0i32, 0i32, 0i32);
            for l in 16 * half..16 * half + 16 {
                let v0 = ((ql[l] & 0x0f) | ((qh[l] & 3) << 4)) as i32 - 32;
                let v1 = ((ql[l + 32] & 0x0f) | (((qh[l] >> 2) & 3) << 4)) as i32 - 32;
                let v2 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) as i32 - 32;
                let v3 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) as i32 - 32;
                s0 += v0 * aq[l] as i32;
                s1 += v1 * aq[l + 32] as i32;
                s2 += v2 * aq[l + 64] as i32;
                s3 += v3 * aq[l + 96] as i32;
            }
            isum +=
                sc[half] as i32 * s0 + sc[2 + half] as i32 * s1 + sc[4 + half] as i32 * s2 + sc[6 + half] as i32 * s3;
        }
    }
    isum
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::{random_blocks, Rng};

    /// ggml's test-quantize-fns bound on |vec_dot - f32 dot| / n, per type.
    fn ggml_dot_bound(ty: GgmlType) -> f32 {
        match ty {
            GgmlType::Q2_K | GgmlType::Q3_K => 0.04, // MAX_DOT_PRODUCT_ERROR_LOWBIT
            _ => 0.02,                               // MAX_DOT_PRODUCT_ERROR
        }
    }

    fn check_type<W: VecDot>(rng: &mut Rng) {
        // Miri interprets every operation: a few trials still cover each code path there.
        let trials = if cfg!(miri) { 2 } else { 40 };
        for trial in 0..trials {
            let n_blocks = 1 + trial % 4;
            let w: Vec<W> = random_blocks(rng, n_blocks);
            let n = n_blocks * W::ELEMS;
            // ggml's synthetic data: 0.1 + 2 cos(i + offset).
            let offset = rng.f32() * 10.0;
            let x: Vec<f32> = (0..n).map(|i| 0.1 + 2.0 * (i as f32 + offset).cos()).collect();
            let a: Vec<W::Act> = x.chunks_exact(W::Act::ELEMS).map(W::Act::quantize).collect();

            let mut wf = vec![0f32; n];
            let mut af = vec![0f32; n];
            for (b, o) in w.iter().zip(wf.chunks_exact_mut(W::ELEMS)) {
                b.dequantize(o);
            }
            for (b, o) in a.iter().zip(af.chunks_exact_mut(W::Act::ELEMS)) {
                b.dequantize(o);
            }
            let got = W::vec_dot(&w, &a);

            // 1. The integer formulation equals the dot of the dequantized operands up to f32
            //    rounding of the scale products. Q8_1 stores `s = d * sum(q)` rounded to f16,
            //    which the dequantized values do not see: allow for that rounding there.
            let rel = if W::Act::TYPE == GgmlType::Q8_1 { 1e-3 } else { 1e-5 };
            let exact: f64 = wf.iter().zip(&af).map(|(&p, &q)| p as f64 * q as f64).sum();
            let magnitude: f64 = wf.iter().zip(&af).map(|(&p, &q)| (p as f64 * q as f64).abs()).sum();
            assert!(
                (got as f64 - exact).abs() <= rel * magnitude + 1e-6,
                "{}: vec_dot {got} vs dequantized dot {exact} (magnitude {magnitude})",
                W::TYPE
            );

            // 2. ggml's own bound against the f32 dot with unquantized activations.
            let reference: f32 = wf.iter().zip(&x).map(|(p, q)| p * q).sum();
            let err = (got - reference).abs() / n as f32;
            assert!(err <= ggml_dot_bound(W::TYPE), "{}: error {err} per value (got {got}, f32 {reference})", W::TYPE);
        }
    }

    #[cfg_attr(not(target_arch = "wasm32"), test)]
    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    fn every_weight_type_dots_like_its_dequantized_values() {
        let mut rng = Rng::new(0x5eed);
        check_type::<BlockF32>(&mut rng);
        check_type::<BlockF16>(&mut rng);
        check_type::<BlockBF16>(&mut rng);
        check_type::<BlockQ4_0>(&mut rng);
        check_type::<BlockQ4_1>(&mut rng);
        check_type::<BlockQ5_0>(&mut rng);
        check_type::<BlockQ5_1>(&mut rng);
        check_type::<BlockQ8_0>(&mut rng);
        check_type::<BlockQ2K>(&mut rng);
        check_type::<BlockQ3K>(&mut rng);
        check_type::<BlockQ4K>(&mut rng);
        check_type::<BlockQ5K>(&mut rng);
        check_type::<BlockQ6K>(&mut rng);
    }

    #[cfg_attr(not(target_arch = "wasm32"), test)]
    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    fn byte_level_dispatch_checks_lengths() {
        use crate::error::QuantError;
        use crate::kernels::{activation_bytes, quantize_activations, vec_dot};
        let x = vec![0.5f32; 64];
        let mut a = vec![0u8; activation_bytes(GgmlType::Q4_1, 64).unwrap()];
        quantize_activations(GgmlType::Q4_1, &x, &mut a).unwrap();
        assert_eq!(a.len(), 2 * 36);
        let w = vec![0u8; 2 * 20];
        assert_eq!(vec_dot(GgmlType::Q4_1, &w, &a).unwrap(), 0.0);
        let err = vec_dot(GgmlType::Q4_1, &w[..20], &a).unwrap_err();
        assert!(matches!(err, QuantError::ByteLength { what: "activations", .. }), "{err}");
        assert!(matches!(vec_dot(GgmlType::Q8_K, &[], &[]), Err(QuantError::Unsupported { .. })));
        assert!(activation_bytes(GgmlType::Q4_K, 100).is_err());
    }
}
