//! `ruvllm bench-kernels`: each dot-product kernel in GB/s of weights read, per flavour this CPU
//! runs, plus the machine's memory bandwidth (the ceiling for decode, which reads every weight
//! once per token).

use std::io::Write;
use std::time::{Duration, Instant};

use super::CliError;
use crate::kernels::{activation_bytes, Kernels, MAX_ROWS};
use crate::quant::GgmlType;

const TYPES: [GgmlType; 10] = [
    GgmlType::Q4_0,
    GgmlType::Q4_1,
    GgmlType::Q5_0,
    GgmlType::Q5_1,
    GgmlType::Q8_0,
    GgmlType::Q4_K,
    GgmlType::Q5_K,
    GgmlType::Q6_K,
    GgmlType::F16,
    GgmlType::F32,
];

/// Repeats `f` for at least `min` and returns the best seconds per call of five batches.
fn time_best(min: Duration, mut f: impl FnMut()) -> f64 {
    let mut best = f64::INFINITY;
    for _ in 0..5 {
        let (start, mut n) = (Instant::now(), 0u32);
        while start.elapsed() < min / 5 || n == 0 {
            f();
            n += 1;
        }
        best = best.min(start.elapsed().as_secs_f64() / n as f64);
    }
    best
}

/// Read bandwidth: sums a buffer of `mb` MiB (larger than any cache) as u64s; and copy
/// bandwidth of the same buffer. GB/s of bytes read.
fn memory_bandwidth(mb: usize) -> (f64, f64) {
    let n = mb * (1 << 20) / 8;
    let src: Vec<u64> = (0..n as u64).collect();
    let mut dst = vec![0u64; n];
    let read = time_best(Duration::from_millis(800), || {
        let mut acc = [0u64; 8];
        for c in src.chunks_exact(8) {
            for (a, &v) in acc.iter_mut().zip(c) {
                *a = a.wrapping_add(v);
            }
        }
        std::hint::black_box(acc);
    });
    let copy = time_best(Duration::from_millis(800), || {
        dst.copy_from_slice(&src);
        std::hint::black_box(&dst);
    });
    let bytes = (n * 8) as f64;
    (bytes / read / 1e9, bytes / copy / 1e9)
}

pub(super) fn run(weights_kb: usize, memory_only: bool, out: &mut dyn Write) -> Result<(), CliError> {
    let (read, copy) = memory_bandwidth(512);
    writeln!(out, "memory bandwidth (512 MiB buffer, 1 thread): read {read:.1} GB/s, copy {copy:.1} GB/s")?;
    if memory_only {
        return Ok(());
    }
    writeln!(out)?;
    writeln!(
        out,
        "matrix x vector (1 activation row) and x {MAX_ROWS} rows, {weights_kb} KiB of weights in one call, 1 thread:"
    )?;
    writeln!(out)?;
    writeln!(out, "| type | flavour | GB/s x1 | GB/s x{MAX_ROWS} | vs scalar x1 |")?;
    writeln!(out, "|---|---|---|---|---|")?;
    let cols = 4096;
    for ty in TYPES {
        let row_bytes = ty.row_bytes(cols as u64).unwrap_or(0) as usize;
        let rows = (weights_kb * 1024 / row_bytes).max(1);
        // Deterministic bytes; scales stay finite because f16 bits 0x3c3c.. are ordinary values.
        let w: Vec<u8> = (0..rows * row_bytes).map(|i| (i * 7 + 0x3c) as u8 & 0x3f).collect();
        let x: Vec<f32> = (0..cols * MAX_ROWS).map(|i| ((i % 97) as f32 - 48.0) / 17.0).collect();
        let ab = activation_bytes(ty, cols).map_err(crate::Error::from)?;
        let mut a = vec![0u8; ab * MAX_ROWS];
        for (xr, ar) in x.chunks_exact(cols).zip(a.chunks_exact_mut(ab)) {
            Kernels::scalar().quantize_activations(ty, xr, ar).map_err(crate::Error::from)?;
        }
        let mut scalar_gbs = None;
        for k in Kernels::available().into_iter().rev() {
            let Some(dot) = k.rows_dot(ty) else { continue };
            // The whole matrix in one call, as the model's matmul runs it.
            let mut outv = vec![0f32; rows * MAX_ROWS];
            let mut pass = |n: usize| {
                k.mat_rows(ty, dot, &w, row_bytes, &a[..n * ab], n, &mut outv, MAX_ROWS);
                std::hint::black_box(&outv);
            };
            let t1 = time_best(Duration::from_millis(300), || pass(1));
            let t4 = time_best(Duration::from_millis(300), || pass(MAX_ROWS));
            let (g1, g4) = (w.len() as f64 / t1 / 1e9, w.len() as f64 / t4 / 1e9);
            let base = *scalar_gbs.get_or_insert(g1);
            writeln!(out, "| {ty} | {} | {g1:.2} | {g4:.2} | {:.1}x |", k.flavour(), g1 / base)?;
        }
    }
    Ok(())
}

/// `bench-kernels --gpu`: the GPU backend's matmul per weight type, GB/s of weights read for one
/// and four activation rows (each call waits for the GPU: this includes submission overhead).
pub(super) fn run_gpu(weights_kb: usize, out: &mut dyn Write) -> Result<(), CliError> {
    #[cfg(feature = "gpu")]
    {
        let gpu = crate::gpu::Gpu::new(&crate::gpu::GpuOptions::new()).map_err(crate::Error::from)?;
        writeln!(out, "GPU: {}", gpu.info())?;
        writeln!(out, "matrix x 1 and x 4 activation rows, {weights_kb} KiB of weights, GB/s of weights read:")?;
        writeln!(out, "| type | rows x cols | x1 GB/s | x4 GB/s |")?;
        writeln!(out, "|---|---|---|---|")?;
        for ty in TYPES.iter().copied().filter(|&t| t != GgmlType::Q5_K) {
            let cols = 4096;
            let row_bytes = ty.row_bytes(cols as u64).unwrap_or(1) as usize;
            let rows = (weights_kb * 1024 / row_bytes).max(1);
            let one = crate::gpu::bench_matmul(&gpu, ty, rows, cols, 1, 0.6)?;
            let four = crate::gpu::bench_matmul(&gpu, ty, rows, cols, 4, 0.6)?;
            writeln!(out, "| {ty} | {rows} x {cols} | {one:.2} | {four:.2} |")?;
        }
        writeln!(out, "\nattention of a batch (prefill): tiled kernel vs one workgroup per token, ms:")?;
        writeln!(
            out,
            "| cache | heads (q/kv x dim) | tokens | history | tiled ms | per-token ms | per-token / tiled |"
        )?;
        writeln!(out, "|---|---|---|---|---|---|---|")?;
        let caches: &[bool] = if gpu.info().shader_f16 { &[false, true] } else { &[false] };
        let shapes = [((9, 3, 64), 128, 0), ((9, 3, 64), 512, 0), ((32, 8, 128), 256, 256)];
        for (&f16, (heads, t, n_past)) in caches.iter().flat_map(|f| shapes.iter().map(move |s| (f, *s))) {
            let (tiled, per_token) = crate::gpu::bench_attention(&gpu, f16, heads, t, n_past, 0.6)?;
            let (h, kv, hd) = heads;
            let cache = if f16 { "f16" } else { "f32" };
            writeln!(
                out,
                "| {cache} | {h}/{kv} x {hd} | {t} | {n_past} | {:.2} | {:.2} | {:.2} |",
                tiled * 1e3,
                per_token * 1e3,
                per_token / tiled
            )?;
        }
        Ok(())
    }
    #[cfg(not(feature = "gpu"))]
    {
        let _ = (weights_kb, out);
        Err(crate::Error::from(crate::GpuError::NotBuilt).into())
    }
}
