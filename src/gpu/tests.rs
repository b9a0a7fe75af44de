//! The GPU kernels: every configuration fits WebGPU's default limits and translates to Metal
//! Shading Language and SPIR-V (naga, no device needed); on an adapter (lavapipe in CI), each
//! kernel against the CPU reference on random inputs.

use super::kernels::{Kernel, KernelLimits, WeightKind};

/// The head sizes the attention kernel is checked with (SmolLM's 64, Llama's 128, and the
/// largest common one).
const HEAD_DIMS: [u32; 4] = [64, 80, 128, 256];

fn parse(kernel: Kernel, head_dim: u32, limits: &KernelLimits) -> (naga::Module, naga::valid::ModuleInfo, u32) {
    let cfg = kernel.config(limits, head_dim);
    let source = kernel.source(&cfg);
    let module = naga::front::wgsl::parse_str(&source)
        .unwrap_or_else(|e| panic!("{}: {}", kernel.name(), e.emit_to_string(&source)));
    // unpack2x16float (reading f16 scales) needs this capability, which wgpu grants on every
    // backend but GLES and WebGPU has in core.
    // The f16 cache variants need SHADER_FLOAT16 (the adapter's shader-f16, checked at start-up).
    // The subgroup reduction needs SUBGROUP (the adapter's subgroups feature, checked at start-up).
    let caps = naga::valid::Capabilities::default()
        | naga::valid::Capabilities::SHADER_FLOAT16_IN_FLOAT32
        | naga::valid::Capabilities::SHADER_FLOAT16
        | naga::valid::Capabilities::SUBGROUP;
    let info = naga::valid::Validator::new(naga::valid::ValidationFlags::all(), caps)
        .validate(&module)
        .unwrap_or_else(|e| panic!("{}: {}", kernel.name(), e.emit_to_string(&source)));
    (module, info, kernel.workgroup_storage(&cfg))
}

/// The configurations the kernels are checked in: hardware without subgroups, with subgroups of
/// 4 (SwiftShader, Mali), 8, 32 and 64 lanes, and software.
fn configurations() -> Vec<KernelLimits> {
    let mut all: Vec<KernelLimits> = [0, 4, 8, 32, 64]
        .iter()
        .map(|&subgroup_min| KernelLimits { subgroup_min, ..KernelLimits::WEBGPU_DEFAULT })
        .collect();
    all.push(KernelLimits { software: true, ..KernelLimits::WEBGPU_DEFAULT });
    all
}

#[test]
fn the_matmul_reduction_uses_subgroups_only_where_every_subgroup_holds_a_rows_lanes() {
    let k = Kernel::Matmul(WeightKind::of(crate::GgmlType::Q4_1).unwrap());
    for limits in configurations() {
        let cfg = k.config(&limits, 64);
        let lanes = cfg.wg / cfg.rows;
        assert_eq!(cfg.subgroups, !limits.software && limits.subgroup_min >= 4, "{limits:?}");
        if cfg.subgroups {
            assert!(
                lanes <= limits.subgroup_min && lanes > 1,
                "{lanes} lanes per row, subgroups of {}",
                limits.subgroup_min
            );
            assert_eq!(k.workgroup_storage(&cfg), 0, "no workgroup memory with subgroups");
            assert!(k.source(&cfg).contains("subgroupShuffleXor"));
        } else {
            assert!(!k.source(&cfg).contains("subgroup"));
        }
        // The directive only in the browser's WGSL (naga rejects it; Chromium requires it).
        assert_eq!(k.source(&cfg).contains("enable subgroups;"), cfg.subgroups && cfg!(target_arch = "wasm32"));
    }
}

#[test]
fn every_kernel_configuration_fits_webgpu_default_limits() {
    for limits in configurations() {
        for kernel in Kernel::all() {
            for hd in HEAD_DIMS {
                let cfg = kernel.config(&limits, hd);
                kernel.check(&cfg, &limits).unwrap_or_else(|e| panic!("{e}"));
                // The host's accounting of workgroup memory is what the shader declares.
                let (module, _, declared) = parse(kernel, hd, &limits);
                let mut layouter = naga::proc::Layouter::default();
                layouter.update(module.to_ctx()).unwrap();
                let actual: u32 = module
                    .global_variables
                    .iter()
                    .filter(|(_, g)| g.space == naga::AddressSpace::WorkGroup)
                    .map(|(_, g)| layouter[g.ty].size)
                    .sum();
                assert_eq!(actual, declared, "{} (head_dim {hd})", kernel.name());
                assert!(actual <= limits.workgroup_storage, "{}: {actual} bytes", kernel.name());
                let ep = &module.entry_points[0];
                assert!(ep.workgroup_size.iter().product::<u32>() <= limits.invocations, "{}", kernel.name());
            }
        }
    }
}

#[test]
fn a_configuration_beyond_the_limits_is_refused_with_the_limit_named() {
    let tiny = KernelLimits { workgroup_storage: 512, ..KernelLimits::WEBGPU_DEFAULT };
    let att = Kernel::Attention { f16: false };
    let err = att.check(&att.config(&tiny, 256), &tiny).unwrap_err().to_string();
    assert!(err.contains("attention") && err.contains("workgroup storage") && err.contains("512"), "{err}");
    let few = KernelLimits { storage_buffers: 2, ..KernelLimits::WEBGPU_DEFAULT };
    let k = Kernel::Matmul(WeightKind::of(crate::GgmlType::Q4_1).unwrap());
    let err = k.check(&k.config(&few, 64), &few).unwrap_err().to_string();
    assert!(err.contains("storage buffers"), "{err}");
}

#[test]
fn every_kernel_translates_to_metal_and_spirv() {
    let spirv_val = std::process::Command::new("spirv-val").arg("--version").output().is_ok();
    if !spirv_val {
        eprintln!("spirv-val not found: SPIR-V is generated but not validated by it (apt install spirv-tools)");
    }
    let dir = std::env::temp_dir().join(format!("ruvllm-spv-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let with_subgroups = KernelLimits { subgroup_min: 32, ..KernelLimits::WEBGPU_DEFAULT };
    for (kernel, limits) in
        Kernel::all().into_iter().flat_map(|k| [(k, KernelLimits::WEBGPU_DEFAULT), (k, with_subgroups)])
    {
        let subgroups = kernel.config(&limits, 64).subgroups;
        if limits.subgroup_min > 0 && !subgroups {
            continue; // the same source as without subgroups
        }
        let (module, info, _) = parse(kernel, 64, &limits);
        // Bindings as wgpu's Metal backend assigns them: group 0's binding N is buffer(N), and
        // the runtime-sized arrays' lengths arrive in a sizes buffer after them.
        let mut resources = naga::back::msl::BindingMap::new();
        for (_, g) in module.global_variables.iter() {
            if let Some(rb) = &g.binding {
                let mutable = matches!(g.space, naga::AddressSpace::Storage { access } if access.contains(naga::StorageAccess::STORE));
                resources.insert(
                    *rb,
                    naga::back::msl::BindTarget { buffer: Some(rb.binding as u8), mutable, ..Default::default() },
                );
            }
        }
        let mut options = naga::back::msl::Options { lang_version: (2, 4), ..Default::default() };
        options.per_entry_point_map.insert(
            "main".into(),
            naga::back::msl::EntryPointResources { resources, sizes_buffer: Some(30), ..Default::default() },
        );
        let (msl, _) = naga::back::msl::write_string(&module, &info, &options, &Default::default())
            .unwrap_or_else(|e| panic!("{}: MSL: {e}", kernel.name()));
        assert!(msl.contains("kernel void main_"), "{}: no compute entry point in the MSL", kernel.name());
        // Subgroup operations need SPIR-V 1.3 (Vulkan 1.1).
        let spv = naga::back::spv::Options { lang_version: (1, 3), ..Default::default() };
        let words = naga::back::spv::write_vec(&module, &info, &spv, None)
            .unwrap_or_else(|e| panic!("{}: SPIR-V: {e}", kernel.name()));
        assert_eq!(words[0], 0x0723_0203, "{}: SPIR-V magic", kernel.name());
        if spirv_val {
            let name =
                format!("{}{}", kernel.name().replace(['[', ']'], "_"), if subgroups { "_subgroups" } else { "" });
            let path = dir.join(format!("{name}.spv"));
            std::fs::write(&path, words.iter().flat_map(|w| w.to_le_bytes()).collect::<Vec<u8>>()).unwrap();
            let out = std::process::Command::new("spirv-val")
                .arg("--target-env")
                .arg("vulkan1.1")
                .arg(&path)
                .output()
                .unwrap();
            assert!(out.status.success(), "{}: spirv-val: {}", kernel.name(), String::from_utf8_lossy(&out.stderr));
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[cfg(all(feature = "gpu", not(target_arch = "wasm32")))]
mod on_device {
    use super::super::forward::harness::Harness;
    use super::super::{Gpu, GpuOptions};
    use super::Kernel;
    use crate::kernels::Kernels;
    use crate::ops::{self, Linear, RopeLayout, RopeTable};
    use crate::quant::GgmlType;
    use crate::test_util::Rng;

    /// The adapter, or `None` (with a message) where there is none — unless
    /// `RUVLLM_REQUIRE_GPU` is set, as the test script sets it where lavapipe is installed:
    /// then a missing adapter fails the test instead of skipping it.
    pub(crate) fn gpu(opts: &GpuOptions) -> Option<Gpu> {
        match Gpu::new(opts) {
            Ok(g) => Some(g),
            Err(e) if std::env::var_os("RUVLLM_REQUIRE_GPU").is_some() => panic!("RUVLLM_REQUIRE_GPU is set: {e}"),
            Err(e) => {
                eprintln!("skipping the GPU kernel tests: {e}");
                None
            }
        }
    }

    fn random(rng: &mut Rng, n: usize, scale: f32) -> Vec<f32> {
        (0..n).map(|_| rng.range(-scale, scale)).collect()
    }

    /// `rows x cols` weights of `ty` (quantized from random values; some rows all zero).
    fn weights(rng: &mut Rng, ty: GgmlType, rows: usize, cols: usize) -> (Linear, Vec<u8>) {
        let mut values = random(rng, rows * cols, 1.0);
        values[cols..2 * cols].fill(0.0);
        let row_bytes = ty.row_bytes(cols as u64).unwrap() as usize;
        let mut bytes = vec![0u8; rows * row_bytes];
        match ty {
            GgmlType::F32 => bytes.copy_from_slice(bytemuck::cast_slice(&values)),
            GgmlType::F16 => {
                for (b, v) in bytes.chunks_exact_mut(2).zip(&values) {
                    b.copy_from_slice(&half::f16::from_f32(*v).to_le_bytes());
                }
            }
            _ => crate::quant::quantize_weights(ty, &values, &mut bytes).unwrap(),
        }
        (Linear { ty, rows, cols, start: 0, row_bytes }, bytes)
    }

    use super::super::kernels::GPU_TYPES as TYPES;

    /// The CPU reference: activations quantized as the CPU path does (in value-and-residual
    /// pairs if `paired`), each row's scalar dot.
    fn cpu_matmul(w: &Linear, bytes: &[u8], x: &[f32], t: usize, paired: bool) -> (Vec<f32>, Vec<f32>) {
        let k = Kernels::scalar();
        let act = crate::kernels::activation_bytes(w.ty, w.cols).unwrap();
        let (mut out, mut mags) = (Vec::new(), Vec::new());
        let mut deq = vec![0f32; w.cols];
        for i in 0..t {
            let xi = &x[i * w.cols..(i + 1) * w.cols];
            let mut a = vec![0u8; 2 * act];
            match paired {
                true => crate::ops::quantize_rows_paired(&k, w, xi, 1, &mut a, &mut deq).unwrap(),
                false => k.quantize_activations(w.ty, xi, &mut a[..act]).unwrap(),
            }
            for r in 0..w.rows {
                let row = &bytes[r * w.row_bytes..(r + 1) * w.row_bytes];
                let dot = |a| crate::kernels::vec_dot(w.ty, row, a).unwrap();
                out.push(if paired { dot(&a[..act]) + dot(&a[act..]) } else { dot(&a[..act]) });
                crate::quant::dequantize(w.ty, row, &mut deq).unwrap();
                mags.push(deq.iter().zip(&x[i * w.cols..]).map(|(a, b)| (a * b).abs()).sum());
            }
        }
        (out, mags)
    }

    /// GPU output `[token][row]` against the CPU's, within `rel` of the sum of |w * x|.
    fn assert_close(what: &str, gpu: &[f32], cpu: &[f32], mags: &[f32], rel: f32) {
        assert_eq!(gpu.len(), cpu.len());
        let worst = gpu.iter().zip(cpu).zip(mags).map(|((g, c), m)| (g - c).abs() / (m + 1e-6)).fold(0f32, f32::max);
        eprintln!("{what}: largest |gpu - cpu| / sum|w x| = {worst:.2e}");
        for (i, ((g, c), m)) in gpu.iter().zip(cpu).zip(mags).enumerate() {
            assert!((g - c).abs() <= rel * m + 1e-6, "{what}: value {i}: gpu {g}, cpu {c} (|w||x| sum {m})");
        }
    }

    /// Random `ty` weights times random activations on the GPU against the CPU reference, with
    /// row counts that are not multiples of a workgroup's rows and token counts that are not
    /// multiples of its four tokens; `what` names the configuration in a failure.
    fn check_matmul(gpu: &Gpu, rng: &mut Rng, ty: GgmlType, what: &str) {
        for ((rows, cols, t), paired) in [(37, 256, 1), (130, 512, 6)].into_iter().flat_map(|s| [(s, false), (s, true)])
        {
            let (w, bytes) = weights(rng, ty, rows, cols);
            let x = random(rng, t * cols, 2.0);
            let (cpu, mags) = cpu_matmul(&w, &bytes, &x, t, paired);
            let mut h = Harness::new(gpu, &bytes, 64, t * cols).unwrap();
            let (input, out) = (h.buffer(&x), h.buffer(&vec![0.0; t * rows]));
            h.matmul(&w, &input, paired, &out).unwrap();
            h.run(t, 0).unwrap();
            // The two sides quantize the same activations; a division rounded differently can
            // move one level of one value (1/127 of the largest), nothing more.
            let pairs = if paired { ", paired activations" } else { "" };
            let what = format!("{ty} {rows}x{cols}, {t} tokens{pairs}{what}");
            assert_close(&what, &h.read(&out, t * rows), &cpu, &mags, 1e-5);
        }
    }

    #[test]
    fn matmul_matches_the_cpu_reference_for_every_weight_type() {
        let Some(gpu) = gpu(&GpuOptions::new()) else { return };
        let mut rng = Rng::new(11);
        for ty in TYPES {
            check_matmul(&gpu, &mut rng, ty, "");
        }
    }

    /// The reductions a real GPU runs (lanes sharing a row, summed with subgroup shuffles or in
    /// workgroup memory), forced onto the software adapter.
    #[test]
    fn matmul_reductions_of_the_hardware_configuration_with_and_without_subgroups() {
        let mut ran_subgroups = false;
        for no_subgroups in [false, true] {
            let opts = GpuOptions { hardware_config: true, no_subgroups, ..GpuOptions::new() };
            let Some(gpu) = gpu(&opts) else { return };
            let limits = gpu.kernel_limits();
            let mut rng = Rng::new(12);
            for ty in [GgmlType::Q4_1, GgmlType::Q8_0, GgmlType::Q6_K, GgmlType::F16] {
                let kind = super::super::kernels::WeightKind::of(ty).unwrap();
                let cfg = Kernel::Matmul(kind).config(&limits, 64);
                assert!(cfg.wg / cfg.rows > 1, "several lanes per row");
                assert_eq!(cfg.subgroups, !no_subgroups && limits.subgroup_min >= 4);
                ran_subgroups |= cfg.subgroups;
                let what = format!(", {} lanes/row, subgroups {}", cfg.wg / cfg.rows, cfg.subgroups);
                check_matmul(&gpu, &mut rng, ty, &what);
            }
        }
        eprintln!(
            "hardware configuration: subgroup reduction {}",
            if ran_subgroups { "run" } else { "not offered by this adapter" }
        );
    }

    #[test]
    fn weights_split_across_bindings_give_the_same_product() {
        let opts = GpuOptions::new().with_max_binding_bytes(4096).unwrap();
        let Some(gpu) = gpu(&opts) else { return };
        let mut rng = Rng::new(12);
        for ty in [GgmlType::Q8_0, GgmlType::Q4_K, GgmlType::F32] {
            let (w, bytes) = weights(&mut rng, ty, 70, 256);
            let x = random(&mut rng, 3 * 256, 2.0);
            let (cpu, mags) = cpu_matmul(&w, &bytes, &x, 3, false);
            let mut h = Harness::new(&gpu, &bytes, 64, 3 * 256).unwrap();
            let (input, out) = (h.buffer(&x), h.buffer(&[0.0; 3 * 70]));
            h.matmul(&w, &input, false, &out).unwrap();
            assert!(h.chunks_of(&w) > 1, "{ty}: {} bindings", h.chunks_of(&w));
            h.run(3, 0).unwrap();
            assert_close(&format!("{ty} split"), &h.read(&out, 3 * 70), &cpu, &mags, 1e-5);
            // The lookup of a row in every binding.
            let ids = [0u32, 69, 35, 1];
            let (tokens, rows) = (h.tokens(&ids), h.buffer(&[0.0; 4 * 256]));
            let mut h2 = Harness::new(&gpu, &bytes, 64, 256).unwrap();
            h2.embed(&w, &tokens, &rows).unwrap();
            h2.run(4, 0).unwrap();
            let got = h2.read(&rows, 4 * 256);
            let mut want = vec![0f32; 256];
            for (i, &id) in ids.iter().enumerate() {
                ops::embed_row(&w, &bytes, id as usize, &mut want).unwrap();
                assert_eq!(&got[i * 256..(i + 1) * 256], &want[..], "{ty}: row {id}");
            }
        }
    }

    #[test]
    fn embedding_lookup_is_the_cpu_dequantization() {
        let Some(gpu) = gpu(&GpuOptions::new()) else { return };
        let mut rng = Rng::new(13);
        for ty in TYPES {
            let (w, bytes) = weights(&mut rng, ty, 20, 512);
            let ids = [3u32, 0, 19, 3, 7];
            let mut h = Harness::new(&gpu, &bytes, 64, 512).unwrap();
            let (tokens, out) = (h.tokens(&ids), h.buffer(&[0.0; 5 * 512]));
            h.embed(&w, &tokens, &out).unwrap();
            h.run(ids.len(), 0).unwrap();
            let got = h.read(&out, 5 * 512);
            let mut want = vec![0f32; 512];
            for (i, &id) in ids.iter().enumerate() {
                ops::embed_row(&w, &bytes, id as usize, &mut want).unwrap();
                for (j, (g, e)) in got[i * 512..(i + 1) * 512].iter().zip(&want).enumerate() {
                    // A fused multiply-add may round d * q + m once instead of twice.
                    assert!((g - e).abs() <= 1e-6 * e.abs().max(1e-3), "{ty} token {i} value {j}: {g} vs {e}");
                }
            }
        }
    }

    #[test]
    fn rms_norm_for_any_hidden_size() {
        let Some(gpu) = gpu(&GpuOptions::new()) else { return };
        let mut rng = Rng::new(14);
        // Sizes below, at and far above the workgroup, and above the 1024 where the seed's
        // kernel silently returned.
        for n in [1, 7, 64, 576, 1000, 1025, 5000] {
            let t = 3;
            let (x, weight) = (random(&mut rng, t * n, 3.0), random(&mut rng, n, 1.0));
            let mut h = Harness::new(&gpu, &[], 64, 32).unwrap();
            let (xb, wb, out) = (h.buffer(&x), h.buffer(&weight), h.buffer(&vec![0.0; t * n]));
            h.rms_norm(n, 1e-5, &xb, &wb, &out).unwrap();
            h.run(t, 0).unwrap();
            let got = h.read(&out, t * n);
            let mut want = vec![0f32; n];
            for i in 0..t {
                ops::rms_norm(&x[i * n..(i + 1) * n], &weight, 1e-5, &mut want);
                for (j, (g, e)) in got[i * n..(i + 1) * n].iter().zip(&want).enumerate() {
                    assert!((g - e).abs() <= 1e-5 * (1.0 + e.abs()), "n {n} token {i} value {j}: {g} vs {e}");
                }
            }
        }
    }

    #[test]
    fn rope_in_both_layouts_matches_the_cpu_table() {
        let Some(gpu) = gpu(&GpuOptions::new()) else { return };
        let mut rng = Rng::new(15);
        let (n_heads, hd, n_rot, n_ctx) = (3usize, 64usize, 48usize, 40usize);
        let table = RopeTable::new(n_ctx, n_rot, 10000.0, 1.0, None);
        let pairs: Vec<f32> = table.cos_sin().flat_map(|(c, s)| [c, s]).collect();
        for layout in [RopeLayout::Normal, RopeLayout::Neox] {
            let (t, n_past) = (4, 30);
            let x = random(&mut rng, t * n_heads * hd, 2.0);
            let mut h = Harness::new(&gpu, &[], 64, 32).unwrap();
            let (tb, xb) = (h.buffer(&pairs), h.buffer(&x));
            h.rope(&tb, n_heads as u32, hd as u32, (n_rot / 2) as u32, layout == RopeLayout::Neox, &xb).unwrap();
            h.run(t, n_past).unwrap();
            let got = h.read(&xb, x.len());
            let mut want = x.clone();
            for (i, row) in want.chunks_exact_mut(n_heads * hd).enumerate() {
                table.apply(&Kernels::scalar(), row, hd, n_past + i, layout);
            }
            for (j, (g, e)) in got.iter().zip(&want).enumerate() {
                assert!((g - e).abs() <= 1e-5, "{layout:?} value {j}: {g} vs {e}");
            }
        }
    }

    #[test]
    fn attention_over_the_cache_matches_the_cpu_for_grouped_heads_in_f32_and_f16() {
        let Some(gpu) = gpu(&GpuOptions::new()) else { return };
        let mut rng = Rng::new(16);
        let round = |x: &[f32]| -> Vec<f32> { x.iter().map(|&v| half::f16::from_f32(v).to_f32()).collect() };
        // One token over its whole history; one token's history split into parts of 64 and 100
        // positions (flash-decoding) — 1, 3 and 4 parts, the last one partial; batches (the tiled
        // kernel) of fewer tokens than a query tile, of several tiles with the last one partial,
        // and over histories shorter and longer than a key tile, mask edges inside a tile.
        let cases = [
            (0, 1, 0u32),
            (150, 1, 64),
            (299, 1, 100),
            (63, 1, 64),
            (64, 1, 64),
            (0, 5, 0),
            (150, 3, 0),
            (0, 70, 0),
            (37, 21, 0),
            (5, 9, 0),
        ];
        for f16 in [false, true] {
            // Head sizes below and above the workgroup (80: not a multiple of anything); histories
            // shorter than and several times the 64 positions one block scores.
            for (n_head, n_head_kv, hd) in [(6usize, 2usize, 64usize), (4, 4, 80), (8, 1, 160)] {
                for (n_past, t, split) in cases {
                    let kv = n_head_kv * hd;
                    let n = n_past + t;
                    let (k, v) = (random(&mut rng, n * kv, 1.5), random(&mut rng, n * kv, 1.0));
                    let q = random(&mut rng, t * n_head * hd, 1.5);
                    let mut h = Harness::new(&gpu, &[], hd as u32, 32).unwrap();
                    // The cache is filled by the store kernel (which converts to f16 when asked).
                    let elem = if f16 { 2 } else { 4 };
                    let zeros = vec![0f32; (n * kv * elem).div_ceil(4)];
                    let (kc, vc) = (h.buffer(&zeros), h.buffer(&zeros));
                    let (kb, vb) = (h.buffer(&k), h.buffer(&v));
                    h.store_kv(f16, kv as u32, &kb, &kc).unwrap();
                    h.store_kv(f16, kv as u32, &vb, &vc).unwrap();
                    h.run(n, 0).unwrap();
                    let mut h = Harness::new(&gpu, &[], hd as u32, 32).unwrap();
                    let qb = h.buffer(&q);
                    let out = h.buffer(&vec![0.0; t * n_head * hd]);
                    // Split 0 stands for "never split".
                    let split = if split == 0 { u32::MAX } else { split };
                    let partial = h.buffer(&vec![0.0; n_head * n.div_ceil(split as usize) * (hd + 2)]);
                    let heads = (n_head as u32, n_head_kv as u32, hd as u32);
                    h.attention(f16, heads, split, &qb, &kc, &vc, &out, &partial).unwrap();
                    h.run(t, n_past).unwrap();
                    let got = h.read(&out, t * n_head * hd);
                    let (k, v) = if f16 { (round(&k), round(&v)) } else { (k, v) };
                    let v_max = v.iter().fold(0f32, |m, x| m.max(x.abs()));
                    let scale = 1.0 / (hd as f32).sqrt();
                    let mut scores = vec![0f32; n];
                    let mut want = vec![0f32; hd];
                    for i in 0..t {
                        for head in 0..n_head {
                            let g = head / (n_head / n_head_kv);
                            let mut qh = q[(i * n_head + head) * hd..][..hd].to_vec();
                            // With an f16 cache the kernels hold the scaled query in f16 and
                            // multiply in f16, four products and their sum per vec4 dot: the
                            // reference takes the same rounded query, and each score may be off
                            // by 2^-9 of its sum of |products| (three roundings to 2^-11 of a
                            // group's magnitude), which moves an output by at most about twice
                            // that times the largest |value|. (A worst case, far above the ~1e-4
                            // measured; the tiling and the mask are the f32 variant's code, held
                            // to 1e-5.)
                            let mut tol = 1e-5;
                            if f16 {
                                qh.iter_mut().for_each(|x| *x = half::f16::from_f32(*x * scale).to_f32() / scale);
                                let abs_dot = (0..n_past + i + 1)
                                    .map(|pos| {
                                        let kp = &k[pos * kv + g * hd..][..hd];
                                        qh.iter().zip(kp).map(|(a, b)| (a * scale * b).abs()).sum::<f32>()
                                    })
                                    .fold(0f32, f32::max);
                                tol += 2.2 * abs_dot / 512.0 * v_max;
                            }
                            ops::attend(&qh, &k, &v, kv, g * hd, n_past + i + 1, &mut scores, &mut want);
                            let o = &got[(i * n_head + head) * hd..][..hd];
                            for (j, (a, e)) in o.iter().zip(&want).enumerate() {
                                assert!(
                                    (a - e).abs() <= tol,
                                    "f16 {f16}, heads {n_head}/{n_head_kv} dim {hd}, n_past {n_past}, split {split}: \
                                     token {i} head {head} value {j}: {a} vs {e} (tolerance {tol})"
                                );
                            }
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn the_kernel_benchmarks_run_every_form_they_time() {
        // `ruvllm bench-kernels --gpu` without its timing: each form runs and gives a time.
        let Some(gpu) = gpu(&GpuOptions::new()) else { return };
        let gbs = crate::gpu::bench_matmul(&gpu, crate::GgmlType::Q4_1, 8, 256, 4, 0.0).unwrap();
        assert!(gbs.is_finite() && gbs > 0.0, "{gbs}");
        for f16 in [false, gpu.info().kv_f16] {
            let (tiled, per_token) = crate::gpu::bench_attention(&gpu, f16, (4, 2, 64), 9, 5, 0.0).unwrap();
            assert!(tiled > 0.0 && per_token > 0.0 && tiled.is_finite() && per_token.is_finite());
        }
    }

    #[test]
    fn silu_mul_and_add_match_the_cpu() {
        let Some(gpu) = gpu(&GpuOptions::new()) else { return };
        let mut rng = Rng::new(17);
        let (n, t) = (1000, 3);
        let (g, u) = (random(&mut rng, n * t, 8.0), random(&mut rng, n * t, 2.0));
        let mut h = Harness::new(&gpu, &[], 64, 32).unwrap();
        let (gb, ub) = (h.buffer(&g), h.buffer(&u));
        h.elementwise(super::Kernel::SiluMul, n, &gb, &ub).unwrap();
        h.elementwise(super::Kernel::Add, n, &ub, &gb).unwrap();
        h.run(t, 0).unwrap();
        let (got_g, got_u) = (h.read(&gb, n * t), h.read(&ub, n * t));
        let mut want = g.clone();
        ops::silu_mul(&mut want, &u);
        let mut sum = u.clone();
        ops::add_assign(&mut sum, &want);
        for j in 0..n * t {
            assert!(
                (got_g[j] - want[j]).abs() <= 1e-5 * (1.0 + want[j].abs()),
                "silu_mul {j}: {} vs {}",
                got_g[j],
                want[j]
            );
            assert!((got_u[j] - sum[j]).abs() <= 1e-5 * (1.0 + sum[j].abs()), "add {j}: {} vs {}", got_u[j], sum[j]);
        }
    }
}

#[cfg(all(feature = "gpu", not(target_arch = "wasm32")))]
mod on_device_row_ops {
    use super::on_device::gpu;
    use super::Kernel;
    use crate::gpu::forward::harness::Harness;
    use crate::gpu::GpuOptions;
    use crate::ops;
    use crate::test_util::Rng;

    #[test]
    fn gelu_mul_and_softmax_match_the_cpu() {
        let Some(gpu) = gpu(&GpuOptions::new()) else { return };
        let mut rng = Rng::new(18);
        let t = 3;
        for n in [1usize, 100, 1000, 5000] {
            let x: Vec<f32> = (0..n * t).map(|_| rng.range(-12.0, 12.0)).collect();
            let y: Vec<f32> = (0..n * t).map(|_| rng.range(-2.0, 2.0)).collect();
            let mut h = Harness::new(&gpu, &[], 64, 32).unwrap();
            let (tanh, erf, soft, prod, yb) = (h.buffer(&x), h.buffer(&x), h.buffer(&x), h.buffer(&x), h.buffer(&y));
            h.in_place(Kernel::Gelu, n, 0, &tanh).unwrap();
            h.in_place(Kernel::Gelu, n, 1, &erf).unwrap();
            h.in_place(Kernel::Softmax, n, 0, &soft).unwrap();
            h.elementwise(Kernel::Mul, n, &prod, &yb).unwrap();
            h.run(t, 0).unwrap();
            let mut want_tanh = x.clone();
            ops::gelu_tanh(&mut want_tanh);
            let mut want_erf = x.clone();
            ops::gelu_erf(&mut want_erf);
            let mut want_prod = x.clone();
            ops::mul_assign(&mut want_prod, &y);
            let mut want_soft = x.clone();
            for row in want_soft.chunks_exact_mut(n) {
                ops::softmax(row);
            }
            for (what, got, want, tol) in [
                ("gelu tanh", h.read(&tanh, n * t), want_tanh, 2e-6),
                ("gelu erf", h.read(&erf, n * t), want_erf, 2e-6),
                ("mul", h.read(&prod, n * t), want_prod, 1e-6),
                ("softmax", h.read(&soft, n * t), want_soft, 1e-6),
            ] {
                for (j, (g, e)) in got.iter().zip(&want).enumerate() {
                    assert!((g - e).abs() <= tol * (1.0 + e.abs()), "{what} n {n} value {j}: {g} vs {e}");
                }
            }
        }
    }
}

#[test]
fn the_listed_gpu_types_are_the_types_with_kernels() {
    use super::kernels::{GPU_TYPES, GPU_WEIGHT_TYPES};
    assert_eq!(GPU_TYPES.map(|t| t.to_string()).join(", "), GPU_WEIGHT_TYPES);
    assert!(GPU_TYPES.iter().all(|&t| WeightKind::of(t).is_some()));
    assert!(WeightKind::of(crate::GgmlType::Q5_K).is_none() && WeightKind::of(crate::GgmlType::BF16).is_none());
}
