//! The WGSL kernels: which files make up each one, the constants the host prepends (workgroup
//! size, tiles), and the workgroup resources each configuration needs, checked against the
//! adapter's limits before any pipeline exists.
//!
//! A kernel's source is its `const` lines, then `shaders/step.wgsl` (the batch record every
//! kernel binds), for the matmuls `shaders/matmul_write.wgsl` and the row reduction
//! (`matmul_store.wgsl`, or `matmul_store_subgroup.wgsl` where subgroups allow, after the
//! browser's `enable` directive), `shaders/common.wgsl` and one
//! `shaders/quant/*.wgsl` where it reads weights, `shaders/attention_bindings.wgsl` for the two
//! attention kernels, and the kernel's own file. The same
//! composition is what the naga tests validate and translate to Metal Shading Language and SPIR-V.

use crate::error::GpuError;
use crate::quant::GgmlType;

const COMMON: &str = include_str!("../../shaders/common.wgsl");
const ATTENTION_BINDINGS: &str = include_str!("../../shaders/attention_bindings.wgsl");
const ROUND_F16: &str = include_str!("../../shaders/round_f16.wgsl");
const STEP: &str = include_str!("../../shaders/step.wgsl");
const MATMUL_STORE: &str = include_str!("../../shaders/matmul_store.wgsl");
const MATMUL_STORE_SUBGROUP: &str = include_str!("../../shaders/matmul_store_subgroup.wgsl");
const MATMUL_WRITE: &str = include_str!("../../shaders/matmul_write.wgsl");

/// How a weight type's blocks are read in WGSL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum WeightKind {
    /// A block type read by `unpack32` and dotted with Q8 activations of the given mode
    /// (0: Q8_0, 1: Q8_1, 2: Q8_K).
    Quant { ty: GgmlType, act_mode: u32 },
    /// F32 or F16, dotted with f32 activations.
    Float { ty: GgmlType },
}

/// The weight types the GPU path has kernels for (as text for errors: [`GPU_WEIGHT_TYPES`]).
pub(crate) const GPU_TYPES: [GgmlType; 9] = [
    GgmlType::F32,
    GgmlType::F16,
    GgmlType::Q4_0,
    GgmlType::Q4_1,
    GgmlType::Q5_0,
    GgmlType::Q5_1,
    GgmlType::Q8_0,
    GgmlType::Q4_K,
    GgmlType::Q6_K,
];

/// The weight types the GPU path has kernels for.
pub const GPU_WEIGHT_TYPES: &str = "F32, F16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q4_K, Q6_K";

impl WeightKind {
    pub(crate) fn of(ty: GgmlType) -> Option<Self> {
        let act_mode = match ty.vec_dot_type()? {
            GgmlType::Q8_0 => 0,
            GgmlType::Q8_1 => 1,
            GgmlType::Q8_K => 2,
            _ => return matches!(ty, GgmlType::F32 | GgmlType::F16).then_some(WeightKind::Float { ty }),
        };
        quant_source(ty)?;
        Some(WeightKind::Quant { ty, act_mode })
    }
}

fn quant_source(ty: GgmlType) -> Option<&'static str> {
    Some(match ty {
        GgmlType::Q4_0 => include_str!("../../shaders/quant/q4_0.wgsl"),
        GgmlType::Q4_1 => include_str!("../../shaders/quant/q4_1.wgsl"),
        GgmlType::Q5_0 => include_str!("../../shaders/quant/q5_0.wgsl"),
        GgmlType::Q5_1 => include_str!("../../shaders/quant/q5_1.wgsl"),
        GgmlType::Q8_0 => include_str!("../../shaders/quant/q8_0.wgsl"),
        GgmlType::Q4_K => include_str!("../../shaders/quant/q4_k.wgsl"),
        GgmlType::Q6_K => include_str!("../../shaders/quant/q6_k.wgsl"),
        GgmlType::F32 => include_str!("../../shaders/quant/f32.wgsl"),
        GgmlType::F16 => include_str!("../../shaders/quant/f16.wgsl"),
        _ => return None,
    })
}

/// One compute kernel (with the weight type it reads, where it reads weights).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Kernel {
    Matmul(WeightKind),
    Embed(WeightKind),
    QuantizeQ8,
    RmsNorm,
    Rope,
    /// One token's attention over a cache of f16 (`true`) or f32 values (whole or split).
    Attention {
        f16: bool,
    },
    /// A batch's attention, query tiles sharing key/value tiles in workgroup memory.
    AttentionTiled {
        f16: bool,
    },
    /// Merges the partial results of a split attention.
    AttentionCombine,
    /// A batch's keys or values into the cache (f16 or f32).
    StoreKv {
        f16: bool,
    },
    SiluMul,
    /// GELU in place (tanh or erf form, a parameter).
    Gelu,
    Add,
    Mul,
    /// Row softmax in place.
    Softmax,
}

/// The constants of a kernel's configuration, chosen from the adapter's limits (and, for
/// attention, the head size).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Config {
    /// Invocations per workgroup (a power of two).
    pub wg: u32,
    /// Matmul: weight rows per workgroup (a power of two dividing `wg`).
    pub rows: u32,
    /// Attention: output dimensions per invocation (`head_dim <= wg * dpt`).
    pub dpt: u32,
    /// The head size attention is built for.
    pub hd: u32,
    /// Tiled attention: queries per workgroup and cache positions per tile (0 elsewhere).
    pub tq: u32,
    pub tk: u32,
    /// Matmul: the lanes of a row sum with subgroup shuffles (`matmul_store_subgroup.wgsl`)
    /// instead of in workgroup memory.
    pub subgroups: bool,
}

/// The limits a configuration is checked against (a subset of `wgpu::Limits`, so the check
/// and its test need no device).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct KernelLimits {
    pub invocations: u32,
    pub size_x: u32,
    pub workgroup_storage: u32,
    pub storage_buffers: u32,
    /// A software adapter (lavapipe, SwiftShader): its invocations are SIMD lanes of CPU
    /// threads, where workgroup barriers are expensive, so each matmul row gets one invocation.
    pub software: bool,
    /// The adapter's smallest subgroup when the device has subgroup operations, else 0.
    pub subgroup_min: u32,
}

impl KernelLimits {
    /// WebGPU's default limits: what a portable page may assume.
    #[cfg_attr(not(any(test, target_arch = "wasm32")), allow(dead_code))]
    pub const WEBGPU_DEFAULT: Self = Self {
        invocations: 256,
        size_x: 256,
        workgroup_storage: 16384,
        storage_buffers: 8,
        software: false,
        subgroup_min: 0,
    };
}

/// Tokens one matmul workgroup multiplies (the kernels' `vec4` accumulators).
pub(crate) const TOKENS_PER_WORKGROUP: u32 = 4;

/// Lanes that share one matmul row on a hardware adapter.
const MATMUL_LANES: u32 = 16;

/// The largest workgroup used: enough to keep a GPU's lanes busy, small enough for any adapter.
const PREFERRED_WG: u32 = 64;

impl Kernel {
    pub(crate) fn name(&self) -> String {
        match self {
            Kernel::Matmul(k) => format!("matmul[{}]", k.ty()),
            Kernel::Embed(k) => format!("embed[{}]", k.ty()),
            Kernel::QuantizeQ8 => "quantize_q8".into(),
            Kernel::RmsNorm => "rms_norm".into(),
            Kernel::Rope => "rope".into(),
            Kernel::Attention { f16 } => format!("attention[{}]", if *f16 { "f16" } else { "f32" }),
            Kernel::AttentionTiled { f16 } => format!("attention_tiled[{}]", if *f16 { "f16" } else { "f32" }),
            Kernel::AttentionCombine => "attention_combine".into(),
            Kernel::StoreKv { f16 } => format!("store_kv[{}]", if *f16 { "f16" } else { "f32" }),
            Kernel::SiluMul => "silu_mul".into(),
            Kernel::Gelu => "gelu".into(),
            Kernel::Add => "add".into(),
            Kernel::Mul => "mul".into(),
            Kernel::Softmax => "softmax".into(),
        }
    }

    /// The configuration for these limits; `head_dim` sizes attention's per-invocation outputs.
    pub(crate) fn config(&self, limits: &KernelLimits, head_dim: u32) -> Config {
        let cap = limits.invocations.min(limits.size_x).max(1);
        let wg = PREFERRED_WG.min(1 << (31 - cap.leading_zeros()));
        // Hardware: 16 lanes per row share its units, then reduce — with subgroup shuffles where
        // every subgroup holds at least 4 (then at most that many lanes per row, so a row's
        // lanes never straddle two subgroups), else in workgroup memory. Software: a lane per row.
        let shuffle = !limits.software && limits.subgroup_min >= 4 && limits.subgroup_min.is_power_of_two();
        let lanes = if limits.software {
            1
        } else if shuffle {
            MATMUL_LANES.min(limits.subgroup_min)
        } else {
            MATMUL_LANES
        };
        let rows = (wg / lanes).max(1);
        let mut cfg = Config {
            wg,
            rows,
            dpt: head_dim.div_ceil(wg).max(1),
            hd: head_dim,
            tq: 0,
            tk: 0,
            subgroups: shuffle && wg / rows > 1,
        };
        if let Kernel::AttentionTiled { .. } = self {
            // The most queries per tile, then the most positions, whose tiles fit the workgroup
            // storage; the smallest tiles when none do (then `check` names the limit).
            let fits = |tq, tk| self.workgroup_storage(&Config { tq, tk, ..cfg }) <= limits.workgroup_storage;
            let best = [8, 4, 2, 1]
                .into_iter()
                .find_map(|tq| [32, 16, 8].into_iter().find(|&tk| fits(tq, tk)).map(|tk| (tq, tk)));
            (cfg.tq, cfg.tk) = best.unwrap_or((1, 1));
        }
        cfg
    }

    /// Bytes of workgroup memory the kernel declares under `cfg`.
    pub(crate) fn workgroup_storage(&self, cfg: &Config) -> u32 {
        4 * match self {
            Kernel::Matmul(_) if cfg.subgroups => 0,
            Kernel::Matmul(_) => cfg.wg * TOKENS_PER_WORKGROUP,
            Kernel::RmsNorm | Kernel::Softmax => cfg.wg,
            // Probabilities and the reduction; the query below.
            Kernel::Attention { .. } => 2 * cfg.wg,
            // Scores and three values per query row; the query and key/value tiles below.
            Kernel::AttentionTiled { .. } => cfg.tq * cfg.tk + 3 * cfg.tq,
            _ => 0,
        } + match self {
            Kernel::AttentionTiled { f16 } => (if *f16 { 2 } else { 4 }) * (cfg.tq + cfg.tk) * cfg.hd,
            Kernel::Attention { f16 } => (if *f16 { 2 } else { 4 }) * cfg.wg * cfg.dpt,
            _ => 0,
        }
    }

    /// Storage buffers bound at once.
    pub(crate) fn storage_buffers(&self) -> u32 {
        match self {
            Kernel::Matmul(WeightKind::Quant { .. }) => 4,
            Kernel::Attention { .. } => 5,
            Kernel::AttentionTiled { .. } => 4,
            Kernel::Matmul(WeightKind::Float { .. }) | Kernel::Embed(_) | Kernel::QuantizeQ8 | Kernel::RmsNorm => 3,
            Kernel::Rope | Kernel::StoreKv { .. } | Kernel::SiluMul | Kernel::Add | Kernel::Mul => 2,
            Kernel::AttentionCombine => 2,
            Kernel::Gelu | Kernel::Softmax => 1,
        }
    }

    /// Checks `cfg` against `limits`, naming the kernel and the limit it would break.
    pub(crate) fn check(&self, cfg: &Config, limits: &KernelLimits) -> Result<(), GpuError> {
        let fail = |what: &'static str, needed: u32, limit: u32| {
            Err(GpuError::Limit { kernel: self.name(), what, needed: needed as u64, limit: limit as u64 })
        };
        if cfg.wg > limits.invocations {
            return fail("invocations per workgroup", cfg.wg, limits.invocations);
        }
        if cfg.wg > limits.size_x {
            return fail("workgroup size x", cfg.wg, limits.size_x);
        }
        if self.workgroup_storage(cfg) > limits.workgroup_storage {
            return fail("bytes of workgroup storage", self.workgroup_storage(cfg), limits.workgroup_storage);
        }
        if self.storage_buffers() > limits.storage_buffers {
            return fail("storage buffers per shader stage", self.storage_buffers(), limits.storage_buffers);
        }
        if matches!(self, Kernel::Matmul(_)) && (cfg.rows == 0 || !cfg.wg.is_multiple_of(cfg.rows)) {
            return fail("rows per workgroup dividing the workgroup", cfg.rows, cfg.wg);
        }
        Ok(())
    }

    /// The complete WGSL source under `cfg`.
    pub(crate) fn source(&self, cfg: &Config) -> String {
        let consts =
            format!("const WG: u32 = {}u;\nconst ROWS: u32 = {}u;\nconst DPT: u32 = {}u;\n", cfg.wg, cfg.rows, cfg.dpt);
        let (weights, body) = match self {
            Kernel::Matmul(k @ WeightKind::Quant { .. }) => (Some(*k), include_str!("../../shaders/matmul_q8.wgsl")),
            Kernel::Matmul(k @ WeightKind::Float { .. }) => (Some(*k), include_str!("../../shaders/matmul_float.wgsl")),
            Kernel::Embed(k @ WeightKind::Quant { .. }) => (Some(*k), include_str!("../../shaders/embed.wgsl")),
            Kernel::Embed(k @ WeightKind::Float { .. }) => (Some(*k), include_str!("../../shaders/embed_float.wgsl")),
            Kernel::QuantizeQ8 => (None, include_str!("../../shaders/quantize_q8.wgsl")),
            Kernel::RmsNorm => (None, include_str!("../../shaders/rms_norm.wgsl")),
            Kernel::Rope => (None, include_str!("../../shaders/rope.wgsl")),
            Kernel::Attention { .. } => (None, include_str!("../../shaders/attention.wgsl")),
            Kernel::AttentionTiled { .. } => (None, include_str!("../../shaders/attention_tiled.wgsl")),
            Kernel::StoreKv { .. } => (None, include_str!("../../shaders/store_kv.wgsl")),
            Kernel::AttentionCombine => (None, include_str!("../../shaders/attention_combine.wgsl")),
            Kernel::SiluMul | Kernel::Add | Kernel::Mul => (None, include_str!("../../shaders/elementwise.wgsl")),
            Kernel::Gelu => (None, include_str!("../../shaders/gelu.wgsl")),
            Kernel::Softmax => (None, include_str!("../../shaders/softmax.wgsl")),
        };
        let consts = match self {
            Kernel::AttentionTiled { f16 } => {
                let tiles = format!(
                    "const HD: u32 = {}u;\nconst TQ: u32 = {}u;\nconst TK: u32 = {}u;\n",
                    cfg.hd, cfg.tq, cfg.tk
                );
                let (enable, kv) = if *f16 { ("enable f16;\n", "f16") } else { ("", "f32") };
                format!("{enable}{consts}{tiles}alias KV = {kv};\n")
            }
            Kernel::Attention { f16: true } | Kernel::StoreKv { f16: true } => {
                format!("enable f16;\n{consts}alias KV = f16;\n")
            }
            Kernel::Attention { f16: false } | Kernel::StoreKv { f16: false } => format!("{consts}alias KV = f32;\n"),
            Kernel::Add => format!("{consts}const OP: u32 = 0u;\n"),
            Kernel::Mul => format!("{consts}const OP: u32 = 1u;\n"),
            Kernel::SiluMul => format!("{consts}const OP: u32 = 2u;\n"),
            _ => consts,
        };
        let consts = if matches!(self, Kernel::Matmul(_)) && cfg.subgroups {
            // Chromium requires the directive for subgroup builtins; naga (wgpu natively)
            // rejects it and takes the builtins when the device has the feature.
            let enable = if cfg!(target_arch = "wasm32") { "enable subgroups;\n" } else { "" };
            format!("{enable}{consts}\n{STEP}\n{MATMUL_WRITE}\n{MATMUL_STORE_SUBGROUP}")
        } else if matches!(self, Kernel::Matmul(_)) {
            format!("{consts}\n{STEP}\n{MATMUL_WRITE}\n{MATMUL_STORE}")
        } else {
            format!("{consts}\n{STEP}")
        };
        let round =
            if matches!(self, Kernel::QuantizeQ8 | Kernel::Matmul(WeightKind::Float { .. })) { ROUND_F16 } else { "" };
        match weights {
            Some(k) => {
                let quant = quant_source(k.ty()).unwrap_or_default();
                format!("{consts}\n{COMMON}\n{round}\n{quant}\n{body}")
            }
            None if matches!(self, Kernel::Attention { .. } | Kernel::AttentionTiled { .. }) => {
                format!("{consts}\n{ATTENTION_BINDINGS}\n{body}")
            }
            None => format!("{consts}\n{round}\n{body}"),
        }
    }

    /// Every kernel the GPU path can create (each weight kind for the matmul and the lookup).
    #[cfg_attr(not(any(test, target_arch = "wasm32")), allow(dead_code))]
    pub(crate) fn all() -> Vec<Kernel> {
        let mut all = vec![
            Kernel::QuantizeQ8,
            Kernel::RmsNorm,
            Kernel::Rope,
            Kernel::Attention { f16: false },
            Kernel::Attention { f16: true },
            Kernel::AttentionTiled { f16: false },
            Kernel::AttentionTiled { f16: true },
            Kernel::AttentionCombine,
            Kernel::StoreKv { f16: false },
            Kernel::StoreKv { f16: true },
            Kernel::SiluMul,
            Kernel::Gelu,
            Kernel::Add,
            Kernel::Mul,
            Kernel::Softmax,
        ];
        for ty in GPU_TYPES {
            if let Some(k) = WeightKind::of(ty) {
                all.extend([Kernel::Matmul(k), Kernel::Embed(k)]);
            }
        }
        all
    }
}

impl WeightKind {
    pub(crate) fn ty(&self) -> GgmlType {
        match self {
            WeightKind::Quant { ty, .. } | WeightKind::Float { ty } => *ty,
        }
    }
}
