//! The shared operations every architecture is built from: quantized linear layers, RMSNorm,
//! RoPE, softmax, SiLU-gated feed-forward, attention over a KV cache.
//!
//! Architectures (in [`crate::model`]) only wire these together; none carries its own linear
//! transform. Reductions accumulate in f64 where ggml does (norms, softmax sums), so results are
//! at least as accurate as ggml's CPU backend.

use crate::error::QuantError;
use crate::kernels::{self, Kernels};
use crate::pool::ThreadPool;
use crate::quant::GgmlType;

/// A quantized weight matrix: `rows` output features, each a row of `cols` input weights stored
/// as blocks of `ty`. The bytes live in the model file; this only says where.
#[derive(Debug, Clone, PartialEq)]
pub struct Linear {
    pub ty: GgmlType,
    pub rows: usize,
    pub cols: usize,
    /// Byte range of the weights inside the model file.
    pub start: usize,
    pub row_bytes: usize,
}

impl Linear {
    /// The type activations are quantized to before the dot products.
    pub fn act_type(&self) -> GgmlType {
        // Validated at model load: every linear's type has a vec_dot type.
        self.ty.vec_dot_type().unwrap_or(GgmlType::F32)
    }

    /// Bytes of one activation row quantized for this layer.
    pub fn act_row_bytes(&self) -> usize {
        self.act_type().row_bytes(self.cols as u64).unwrap_or(0) as usize
    }

    fn weights<'a>(&self, file: &'a [u8]) -> &'a [u8] {
        &file[self.start..self.start + self.rows * self.row_bytes]
    }
}

/// Quantizes `t` rows of `cols` activations (`x` is `t * cols` values) into `out`, each row
/// taking `row_bytes`, in the activation type of `w`.
pub fn quantize_rows(k: &Kernels, w: &Linear, x: &[f32], t: usize, out: &mut [u8]) -> Result<(), QuantError> {
    let rb = w.act_row_bytes();
    for (row, dst) in x[..t * w.cols].chunks_exact(w.cols).zip(out[..t * rb].chunks_exact_mut(rb)) {
        k.quantize_activations(w.ty, row, dst)?;
    }
    Ok(())
}

/// Quantizes `t` rows of activations as value-and-residual pairs: token `i`'s quantized row
/// `2i` is its value (as [`quantize_rows`] makes it) and row `2i + 1` is what that row leaves
/// out (`x - dequantize(row 2i)`), quantized again. A matmul over both rows, summed
/// ([`matmul`] and [`matvec_fused`] with `paired`), still runs the integer dot products of the
/// Q8 form but sees the activations to about 1/254 of one row's rounding: the inputs of the
/// attention's Q, K and V projections are quantized this way, where one row's rounding costs
/// the most accuracy (see `Matmul::project` in `model::session`). `resid` holds `w.cols`
/// values.
pub fn quantize_rows_paired(
    k: &Kernels,
    w: &Linear,
    x: &[f32],
    t: usize,
    out: &mut [u8],
    resid: &mut [f32],
) -> Result<(), QuantError> {
    let (rb, n, act) = (w.act_row_bytes(), w.cols, w.act_type());
    let resid = &mut resid[..n];
    for (row, pair) in x[..t * n].chunks_exact(n).zip(out[..2 * t * rb].chunks_exact_mut(2 * rb)) {
        let (hi, lo) = pair.split_at_mut(rb);
        k.quantize_activations(w.ty, row, hi)?;
        crate::quant::dequantize(act, hi, resid)?;
        for (r, &v) in resid.iter_mut().zip(row) {
            *r = v - *r;
        }
        k.quantize_activations(w.ty, resid, lo)?;
        if act == GgmlType::Q8_1 {
            crate::quant::q8_1_residual_sums(row, hi, lo);
        }
    }
    Ok(())
}

/// Weight rows a thread works through before moving to the next group of activation rows: a
/// tile of weights small enough to stay in L1 while every activation group passes over it.
const ROW_TILE: usize = 16;

/// Below this many weight bytes times activation rows a matmul runs on one thread: waking the
/// others would cost more than it saves.
const MIN_PARALLEL_BYTES: usize = 32 * 1024;

/// `out[i][r] = sum_c W[r][c] * x[i][c]` for `t` activation rows already quantized by
/// [`quantize_rows`] (or, if `paired`, `t` pairs by [`quantize_rows_paired`], each pair's two
/// dot products summed), on the pool's threads (weight rows split evenly between them).
///
/// Each weight row is loaded once per group of [`kernels::MAX_ROWS`] activation rows, and a
/// tile of [`ROW_TILE`] weight rows is reused by every group, so a prompt's prefill reads the
/// weights once, not once per token. For more than one activation row the results are gathered
/// in `tmp` (at least `t * rows` values, twice that if `paired`) as `[row][activation row]`
/// and transposed into `out`.
#[allow(clippy::too_many_arguments)]
pub fn matmul(
    k: &Kernels,
    pool: &mut ThreadPool,
    w: &Linear,
    file: &[u8],
    xq: &[u8],
    t: usize,
    paired: bool,
    out: &mut [f32],
    tmp: &mut [f32],
) -> Result<(), QuantError> {
    let dot = k.rows_dot(w.ty).ok_or(QuantError::Unsupported { op: "vec_dot", ty: w.ty })?;
    let rb = w.act_row_bytes();
    kernels::check_rows(w.ty, w.row_bytes, rb, 1)?;
    let short = |what: &'static str, got: usize, expected: usize| QuantError::ByteLength {
        op: "matmul",
        ty: w.act_type(),
        what,
        got,
        expected,
    };
    let per = 1 + paired as usize;
    let n_act = t * per;
    if xq.len() < n_act * rb {
        return Err(short("activations", xq.len(), n_act * rb));
    }
    if out.len() < t * w.rows {
        return Err(short("output", out.len(), t * w.rows));
    }
    if n_act > 1 && tmp.len() < n_act * w.rows {
        return Err(short("scratch", tmp.len(), n_act * w.rows));
    }
    let weights = w.weights(file);
    let wrb = w.row_bytes;
    let threads = pool.threads();
    let chunk_rows = if threads == 1 || weights.len() * t < MIN_PARALLEL_BYTES {
        w.rows
    } else {
        w.rows.div_ceil(threads * 4).max(8)
    };
    if n_act == 1 {
        pool.for_chunks(&mut out[..w.rows], chunk_rows, &mut [0u8; 0], 0, |ci, o, _| {
            let rows = &weights[ci * chunk_rows * wrb..][..o.len() * wrb];
            k.mat_rows(w.ty, dot, rows, wrb, &xq[..rb], 1, o, 1);
        });
        return Ok(());
    }
    let xq = &xq[..n_act * rb];
    pool.for_chunks(&mut tmp[..n_act * w.rows], chunk_rows * n_act, &mut [0u8; 0], 0, |ci, o, _| {
        let first = ci * chunk_rows;
        for (ti, tile) in o.chunks_mut(ROW_TILE * n_act).enumerate() {
            let tile_rows = &weights[(first + ti * ROW_TILE) * wrb..][..tile.len() / n_act * wrb];
            for (g, acts) in xq.chunks(kernels::MAX_ROWS * rb).enumerate() {
                let n = acts.len() / rb;
                k.mat_rows(w.ty, dot, tile_rows, wrb, acts, n, &mut tile[g * kernels::MAX_ROWS..], n_act);
            }
        }
    });
    for (r, col) in tmp[..n_act * w.rows].chunks_exact(n_act).enumerate() {
        for (i, v) in col.chunks_exact(per).enumerate() {
            out[i * w.rows + r] = if paired { v[0] + v[1] } else { v[0] };
        }
    }
    Ok(())
}

/// One decode step's matrix × vector for several linears that read the same input (the Q, K and V
/// projections; gate and up), as one parallel region: their rows are concatenated into `out`
/// (at least the sum of their row counts) and split between the threads together, so a token
/// pays one fork-join instead of one per linear. `xq` is the input quantized for their (common)
/// activation type (a pair of rows if `paired`, by [`quantize_rows_paired`]: `out` then needs
/// twice the rows, as scratch, and the sums land in the first half).
pub fn matvec_fused(
    k: &Kernels,
    pool: &mut ThreadPool,
    ws: &[&Linear],
    file: &[u8],
    xq: &[u8],
    paired: bool,
    out: &mut [f32],
) -> Result<(), QuantError> {
    let total: usize = ws.iter().map(|w| w.rows).sum();
    let per = 1 + paired as usize;
    let mut dots = [None; 4];
    if ws.len() > dots.len() || ws.is_empty() {
        return Err(QuantError::Unsupported { op: "matvec_fused", ty: ws.first().map_or(GgmlType::F32, |w| w.ty) });
    }
    for (d, w) in dots.iter_mut().zip(ws) {
        *d = Some(k.rows_dot(w.ty).ok_or(QuantError::Unsupported { op: "vec_dot", ty: w.ty })?);
        kernels::check_rows(w.ty, w.row_bytes, w.act_row_bytes(), 1)?;
        if w.act_row_bytes() != ws[0].act_row_bytes() || w.act_type() != ws[0].act_type() {
            return Err(QuantError::Unsupported { op: "matvec_fused (mixed activation types)", ty: w.ty });
        }
    }
    let rb = ws[0].act_row_bytes();
    if xq.len() < per * rb || out.len() < per * total {
        return Err(QuantError::ByteLength {
            op: "matvec_fused",
            ty: ws[0].act_type(),
            what: "activations or output",
            got: xq.len().min(out.len()),
            expected: (per * rb).max(per * total),
        });
    }
    let threads = pool.threads();
    let bytes: usize = ws.iter().map(|w| w.rows * w.row_bytes).sum();
    let chunk_rows =
        if threads == 1 || bytes < MIN_PARALLEL_BYTES { total } else { total.div_ceil(threads * 4).max(8) };
    pool.for_chunks(&mut out[..per * total], per * chunk_rows, &mut [0u8; 0], 0, |ci, o, _| {
        // Global rows `first..first + o.len() / per`, possibly spanning several linears.
        let first = ci * chunk_rows;
        let mut base = 0;
        for (w, dot) in ws.iter().zip(dots.iter().flatten()) {
            let (lo, hi) = (first.max(base), (first + o.len() / per).min(base + w.rows));
            if lo < hi {
                let weights = &w.weights(file)[(lo - base) * w.row_bytes..(hi - base) * w.row_bytes];
                let o = &mut o[per * (lo - first)..per * (hi - first)];
                k.mat_rows(w.ty, *dot, weights, w.row_bytes, &xq[..per * rb], per, o, per);
            }
            base += w.rows;
        }
    });
    if paired {
        // Row r's pair sits at 2r, 2r + 1 >= r: summing in row order never reads a slot already
        // overwritten.
        for r in 0..total {
            out[r] = out[2 * r] + out[2 * r + 1];
        }
    }
    Ok(())
}

/// Dequantizes row `row` of `w` (an embedding lookup).
pub fn embed_row(w: &Linear, file: &[u8], row: usize, out: &mut [f32]) -> Result<(), QuantError> {
    let bytes = &w.weights(file)[row * w.row_bytes..(row + 1) * w.row_bytes];
    crate::quant::dequantize(w.ty, bytes, &mut out[..w.cols])
}

/// RMSNorm: `out = x / sqrt(mean(x^2) + eps) * weight`, the mean accumulated in f64.
pub fn rms_norm(x: &[f32], weight: &[f32], eps: f32, out: &mut [f32]) {
    let sum: f64 = x.iter().map(|&v| v as f64 * v as f64).sum();
    let scale = (1.0 / (sum / x.len() as f64 + eps as f64).sqrt()) as f32;
    for ((o, &v), &w) in out.iter_mut().zip(x).zip(weight) {
        *o = v * scale * w;
    }
}

/// In-place softmax; the normalising sum is accumulated in f64.
pub fn softmax(x: &mut [f32]) {
    let max = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0f64;
    for v in x.iter_mut() {
        *v = (*v - max).exp();
        sum += *v as f64;
    }
    let inv = (1.0 / sum) as f32;
    for v in x.iter_mut() {
        *v *= inv;
    }
}

/// SwiGLU gate: `gate = silu(gate) * up`.
pub fn silu_mul(gate: &mut [f32], up: &[f32]) {
    for (g, &u) in gate.iter_mut().zip(up) {
        *g = *g / (1.0 + (-*g).exp()) * u;
    }
}

/// GELU, tanh approximation (ggml's `gelu`), in f64.
pub fn gelu_tanh(x: &mut [f32]) {
    for v in x.iter_mut() {
        let z = *v as f64;
        *v = (0.5 * z * (1.0 + ((2.0 / std::f64::consts::PI).sqrt() * z * (1.0 + 0.044715 * z * z)).tanh())) as f32;
    }
}

/// GELU with the error function (ggml's `gelu_erf`), in f64.
pub fn gelu_erf(x: &mut [f32]) {
    for v in x.iter_mut() {
        let z = *v as f64;
        *v = (0.5 * z * (1.0 + erf(z * std::f64::consts::FRAC_1_SQRT_2))) as f32;
    }
}

/// The error function to f64 precision: its Maclaurin series below 3, `1 - erfc` (asymptotic
/// series) above, where erfc < 2.3e-5.
pub fn erf(x: f64) -> f64 {
    let a = x.abs();
    let r = if a < 3.0 {
        let (mut term, mut sum, x2) = (a, a, a * a);
        for n in 1..200 {
            term *= -x2 / n as f64;
            let add = term / (2 * n + 1) as f64;
            sum += add;
            if add.abs() < 1e-17 * sum.abs() {
                break;
            }
        }
        sum * 2.0 / std::f64::consts::PI.sqrt()
    } else {
        let inv = 1.0 / (2.0 * a * a);
        let series = 1.0 - inv + 3.0 * inv * inv - 15.0 * inv * inv * inv + 105.0 * inv.powi(4);
        1.0 - (-a * a).exp() / (a * std::f64::consts::PI.sqrt()) * series
    };
    r.copysign(x)
}

/// `acc *= x`.
pub fn mul_assign(acc: &mut [f32], x: &[f32]) {
    for (a, &b) in acc.iter_mut().zip(x) {
        *a *= b;
    }
}

/// Rotates the pairs of one head by angles with cosines `cos[i]` and sines `sin[i]`: pair `i`
/// is `(2i, 2i + 1)`, or `(i, i + n)` with `neox` (`n = cos.len()`).
pub fn rope_head(head: &mut [f32], cos: &[f32], sin: &[f32], neox: bool) {
    let n = cos.len().min(sin.len()).min(head.len() / 2);
    for i in 0..n {
        let (a, b) = if neox { (i, i + n) } else { (2 * i, 2 * i + 1) };
        let (x0, x1) = (head[a], head[b]);
        head[a] = x0 * cos[i] - x1 * sin[i];
        head[b] = x0 * sin[i] + x1 * cos[i];
    }
}

/// `acc += x`.
pub fn add_assign(acc: &mut [f32], x: &[f32]) {
    for (a, &b) in acc.iter_mut().zip(x) {
        *a += b;
    }
}

/// How RoPE pairs the dimensions of a head.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RopeLayout {
    /// Adjacent pairs `(2i, 2i + 1)` (ggml's normal mode; the llama architecture).
    Normal,
    /// Halves `(i, i + n_rot / 2)` (ggml's NeoX mode).
    Neox,
}

/// Precomputed rotation angles: `cos`/`sin` of `pos * theta_i` for every position and pair.
#[derive(Debug, Clone)]
pub struct RopeTable {
    n_pairs: usize,
    cos: Vec<f32>,
    sin: Vec<f32>,
}

impl RopeTable {
    /// `theta_i = base^(-2i / n_rot) * freq_scale / freq_factor[i]`, computed in f64.
    pub fn new(n_ctx: usize, n_rot: usize, base: f32, freq_scale: f32, freq_factors: Option<&[f32]>) -> Self {
        let n_pairs = n_rot / 2;
        let mut cos = Vec::with_capacity(n_ctx * n_pairs);
        let mut sin = Vec::with_capacity(n_ctx * n_pairs);
        for pos in 0..n_ctx {
            for i in 0..n_pairs {
                let factor = freq_factors.map_or(1.0, |f| f[i] as f64);
                let theta = (base as f64).powf(-2.0 * i as f64 / n_rot as f64) * freq_scale as f64 / factor;
                let angle = pos as f64 * theta;
                cos.push(angle.cos() as f32);
                sin.push(angle.sin() as f32);
            }
        }
        Self { n_pairs, cos, sin }
    }

    /// Every `(cos, sin)` pair, position-major (the GPU path uploads this table).
    pub fn cos_sin(&self) -> impl Iterator<Item = (f32, f32)> + '_ {
        self.cos.iter().copied().zip(self.sin.iter().copied())
    }

    /// Rotates every head of `x` (`n_heads * head_dim` values) for position `pos`.
    pub fn apply(&self, k: &Kernels, x: &mut [f32], head_dim: usize, pos: usize, layout: RopeLayout) {
        let cos = &self.cos[pos * self.n_pairs..(pos + 1) * self.n_pairs];
        let sin = &self.sin[pos * self.n_pairs..(pos + 1) * self.n_pairs];
        for head in x.chunks_exact_mut(head_dim) {
            k.rope_head(head, cos, sin, layout == RopeLayout::Neox);
        }
    }
}

/// Attention of the query heads in `q` (`q.len() / head_dim` of them, all reading the same KV
/// head, as the heads of one grouped-query group do), each by [`attend`]. `scores` holds
/// `n_past` slots per head.
#[allow(clippy::too_many_arguments)]
pub fn attend_group(
    q: &[f32],
    head_dim: usize,
    k_cache: &[f32],
    v_cache: &[f32],
    kv_stride: usize,
    kv_offset: usize,
    n_past: usize,
    scores: &mut [f32],
    out: &mut [f32],
) {
    let per = n_past.max(1);
    for ((q, o), s) in q.chunks_exact(head_dim).zip(out.chunks_exact_mut(head_dim)).zip(scores.chunks_exact_mut(per)) {
        attend(q, k_cache, v_cache, kv_stride, kv_offset, n_past, s, o);
    }
}

/// Attention of one query head over positions `0..n_past` of a KV cache, grouped-query aware:
/// `k_cache`/`v_cache` hold `n_past` rows of `kv_stride` values and this head reads the
/// `head_dim` values at `kv_offset` (its KV group). `scores` needs `n_past` slots.
#[allow(clippy::too_many_arguments)]
pub fn attend(
    q: &[f32],
    k_cache: &[f32],
    v_cache: &[f32],
    kv_stride: usize,
    kv_offset: usize,
    n_past: usize,
    scores: &mut [f32],
    out: &mut [f32],
) {
    let head_dim = q.len();
    let scale = 1.0 / (head_dim as f32).sqrt();
    for (p, s) in scores[..n_past].iter_mut().enumerate() {
        let k = &k_cache[p * kv_stride + kv_offset..][..head_dim];
        *s = q.iter().zip(k).map(|(&a, &b)| a * b).sum::<f32>() * scale;
    }
    softmax(&mut scores[..n_past]);
    out.fill(0.0);
    for (p, &s) in scores[..n_past].iter().enumerate() {
        let v = &v_cache[p * kv_stride + kv_offset..][..head_dim];
        for (o, &b) in out.iter_mut().zip(v) {
            *o += s * b;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rms_norm_of_a_constant_vector_is_the_weight() {
        let x = [3.0f32; 8];
        let w: Vec<f32> = (0..8).map(|i| i as f32).collect();
        let mut out = [0f32; 8];
        rms_norm(&x, &w, 0.0, &mut out);
        for (o, w) in out.iter().zip(&w) {
            assert!((o - w).abs() < 1e-6);
        }
    }

    #[test]
    fn softmax_sums_to_one_and_survives_large_logits() {
        let mut x = [1000.0f32, 1001.0, 999.0, -1e30];
        softmax(&mut x);
        assert!((x.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        assert!(x[1] > x[0] && x[0] > x[2] && x[3] == 0.0);
    }

    #[test]
    fn rope_rotates_pairs_by_position_times_frequency() {
        let table = RopeTable::new(4, 4, 10000.0, 1.0, None);
        let mut x = [1.0f32, 0.0, 1.0, 0.0];
        table.apply(&Kernels::scalar(), &mut x, 4, 2, RopeLayout::Normal);
        // pair 0 rotates by 2 rad, pair 1 by 2 * 10000^(-1/2) rad.
        assert!((x[0] - 2f32.cos()).abs() < 1e-6 && (x[1] - 2f32.sin()).abs() < 1e-6);
        assert!((x[2] - 0.02f32.cos()).abs() < 1e-6 && (x[3] - 0.02f32.sin()).abs() < 1e-6);
        let mut y = [1.0f32, 1.0, 0.0, 0.0];
        table.apply(&Kernels::scalar(), &mut y, 4, 2, RopeLayout::Neox);
        assert!((y[0] - 2f32.cos()).abs() < 1e-6 && (y[2] - 2f32.sin()).abs() < 1e-6);
    }

    #[test]
    fn fused_projections_equal_separate_matmuls_bit_for_bit() {
        use crate::test_util::Rng;
        let mut rng = Rng::new(5);
        let cols = 96;
        let specs = [(GgmlType::Q4_1, 37), (GgmlType::Q5_1, 21), (GgmlType::Q4_1, 8)];
        let mut file = Vec::new();
        let mut ws = Vec::new();
        for (ty, rows) in specs {
            let row_bytes = ty.row_bytes(cols as u64).unwrap() as usize;
            let x: Vec<f32> = (0..rows * cols).map(|_| rng.range(-1.0, 1.0)).collect();
            let mut b = vec![0u8; rows * row_bytes];
            crate::quant::quantize_weights(ty, &x, &mut b).unwrap();
            ws.push(Linear { ty, rows, cols, start: file.len(), row_bytes });
            file.extend(b);
        }
        let x: Vec<f32> = (0..cols).map(|_| rng.range(-2.0, 2.0)).collect();
        let k = Kernels::best();
        let mut xq = vec![0u8; ws[0].act_row_bytes()];
        quantize_rows(&k, &ws[0], &x, 1, &mut xq).unwrap();
        for threads in [1, 3] {
            let mut pool = ThreadPool::new(threads).unwrap();
            let mut fused = vec![0f32; 66];
            let refs: Vec<&Linear> = ws.iter().collect();
            matvec_fused(&k, &mut pool, &refs, &file, &xq, false, &mut fused).unwrap();
            let mut at = 0;
            for w in &ws {
                let mut out = vec![0f32; w.rows];
                matmul(&k, &mut pool, w, &file, &xq, 1, false, &mut out, &mut []).unwrap();
                assert_eq!(&fused[at..at + w.rows], &out[..], "{} rows at {at}, {threads} threads", w.ty);
                at += w.rows;
            }
            assert!(matvec_fused(&k, &mut pool, &refs, &file, &xq, false, &mut fused[..65]).is_err());
        }
    }

    /// The residual row takes the value row's rounding out of the product: ~127x closer to the
    /// exact product of the dequantized weights with the f32 activations, for every activation
    /// type (Q8_0, Q8_1 with its sums, Q8_K, F16) and kernel flavour, through the batched
    /// matmul and the fused decode product alike.
    #[test]
    fn paired_activations_are_fifty_times_closer_to_the_exact_product() {
        use crate::test_util::Rng;
        let mut rng = Rng::new(11);
        let (rows, cols, t) = (24, 512, 3);
        for ty in [
            GgmlType::Q4_0,
            GgmlType::Q4_1,
            GgmlType::Q5_1,
            GgmlType::Q8_0,
            GgmlType::Q4_K,
            GgmlType::Q6_K,
            GgmlType::F16,
        ] {
            let row_bytes = ty.row_bytes(cols as u64).unwrap() as usize;
            let wf: Vec<f32> = (0..rows * cols).map(|_| rng.range(-1.0, 1.0)).collect();
            let mut file = vec![0u8; rows * row_bytes];
            match ty {
                GgmlType::F16 => crate::quant::quantize(ty, &wf, &mut file).unwrap(),
                _ => crate::quant::quantize_weights(ty, &wf, &mut file).unwrap(),
            }
            let mut wd = vec![0f32; rows * cols];
            crate::quant::dequantize(ty, &file, &mut wd).unwrap();
            let w = Linear { ty, rows, cols, start: 0, row_bytes };
            // Activations with a nonzero mean and an outlier in every 32, as after RMSNorm.
            let x: Vec<f32> =
                (0..t * cols).map(|i| rng.range(-1.0, 1.5) * if i % 32 == 7 { 30.0 } else { 1.0 }).collect();
            let exact: Vec<f64> = (0..t * rows)
                .map(|j| {
                    let (i, r) = (j / rows, j % rows);
                    (0..cols).map(|c| wd[r * cols + c] as f64 * x[i * cols + c] as f64).sum()
                })
                .collect();
            let err = |got: &[f32]| got.iter().zip(&exact).map(|(&g, &e)| (g as f64 - e).abs()).sum::<f64>();
            for k in Kernels::available() {
                let mut pool = ThreadPool::new(2).unwrap();
                let rb = w.act_row_bytes();
                let (mut xq, mut resid, mut tmp) = (vec![0u8; 2 * t * rb], vec![0f32; cols], vec![0f32; 2 * t * rows]);
                let (mut single, mut paired) = (vec![0f32; t * rows], vec![0f32; t * rows]);
                quantize_rows(&k, &w, &x, t, &mut xq).unwrap();
                matmul(&k, &mut pool, &w, &file, &xq, t, false, &mut single, &mut tmp).unwrap();
                quantize_rows_paired(&k, &w, &x, t, &mut xq, &mut resid).unwrap();
                matmul(&k, &mut pool, &w, &file, &xq, t, true, &mut paired, &mut tmp).unwrap();
                let (e1, e2) = (err(&single), err(&paired));
                assert!(e2 * 50.0 < e1, "{ty} {k:?}: paired error {e2:.3e}, single {e1:.3e}");
                // One token through the fused decode product: the batched matmul's first row.
                let mut fused = vec![0f32; 2 * rows];
                quantize_rows_paired(&k, &w, &x[..cols], 1, &mut xq, &mut resid).unwrap();
                matvec_fused(&k, &mut pool, &[&w], &file, &xq, true, &mut fused).unwrap();
                assert_eq!(&fused[..rows], &paired[..rows], "{ty} {k:?}");
            }
        }
    }

    #[test]
    fn attention_with_one_position_returns_its_value() {
        let q = [1.0f32, 2.0];
        let k = [0.0f32, 0.0, 5.0, 5.0]; // stride 4, this head's group at offset 2
        let v = [0.0f32, 0.0, 7.0, -1.0];
        let mut scores = [0f32; 1];
        let mut out = [0f32; 2];
        attend(&q, &k, &v, 4, 2, 1, &mut scores, &mut out);
        assert_eq!(out, [7.0, -1.0]);
    }
}
