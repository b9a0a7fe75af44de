//! The model's forward pass on the GPU: the same steps as the CPU session's, as WGSL dispatches.
//!
//! Everything is created once, at load: weights uploaded as their raw blocks (split by rows into
//! bindings no larger than the adapter allows), the KV cache (one buffer per layer for keys and
//! one for values), every activation buffer, the (cos, sin) table, the pipelines and one bind
//! group per dispatch. Evaluating tokens writes the token ids and a 16-byte step record (batch
//! size, position), records the prepared dispatches into one command buffer, and reads back one
//! row of logits per wanted token.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
#[cfg(not(target_arch = "wasm32"))]
use std::time::Duration;

use wgpu::util::DeviceExt;

use super::device::Gpu;
use super::kernels::{Config, Kernel, WeightKind, GPU_WEIGHT_TYPES, TOKENS_PER_WORKGROUP};
use crate::error::{GpuError, Result};
#[cfg(not(target_arch = "wasm32"))]
use crate::model::LogitsSink;
use crate::model::Model;
use crate::ops::{Linear, RopeLayout, RopeTable};

/// Most tokens one GPU pass evaluates (longer prompts go through in several passes).
const MAX_BATCH: usize = 256;
/// Most logits rows one readback carries (perplexity reads every row, a few at a time).
const MAX_OUT_ROWS: usize = 16;
/// How long a readback may wait for the GPU before it is reported as lost rather than hanging.
#[cfg(not(target_arch = "wasm32"))]
const READBACK_TIMEOUT: Duration = Duration::from_secs(600);

/// Rows `row_base..row_base + rows` of a weight tensor, in one buffer.
#[derive(Debug)]
struct Chunk {
    buffer: wgpu::Buffer,
    row_base: u32,
    rows: u32,
}

/// How many workgroups a dispatch needs for a batch of `t` tokens.
#[derive(Debug, Clone, Copy)]
enum Grid {
    /// `x` workgroups per token.
    PerToken(u32),
    /// One workgroup per token.
    Tokens,
    /// Row groups (spread over x and z when above the dispatch limit) times token tiles.
    Rows { groups: u32, tt: u32 },
    /// `x` workgroups per token times the splits of a one-token history of `n_past + 1`
    /// positions into parts of `split`.
    Split { x: u32, split: u32 },
    /// `x` workgroups per tile of `tq` tokens.
    Tiles { x: u32, tq: u32 },
}

impl Grid {
    fn size(self, t: u32, n_past: u32) -> (u32, u32, u32) {
        match self {
            Grid::Split { x, split } => (x, t, (n_past + t).div_ceil(split)),
            Grid::PerToken(x) => (x, t, 1),
            Grid::Tiles { x, tq } => (x, t.div_ceil(tq), 1),
            Grid::Tokens => (t, 1, 1),
            Grid::Rows { groups, tt } => {
                let x = groups.clamp(1, MAX_DISPATCH);
                (x, t.div_ceil(tt), groups.div_ceil(x))
            }
        }
    }
}

/// WebGPU's limit on workgroups per dimension of one dispatch.
const MAX_DISPATCH: u32 = 65535;

#[derive(Debug)]
struct Dispatch {
    kernel: Kernel,
    bind: wgpu::BindGroup,
    grid: Grid,
    when: When,
}

/// Which evaluations record a dispatch: attention has three forms — one token over its whole
/// history, one token over a history longer than the split (in parts, then merged), and a batch
/// of tokens in tiles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum When {
    Always,
    Whole,
    Split,
    Batch,
}

/// Records the dispatches that apply to a batch of `t` tokens at position `n_past` into one
/// compute pass.
fn record(
    enc: &mut wgpu::CommandEncoder,
    pipelines: &HashMap<Kernel, (wgpu::ComputePipeline, Config)>,
    dispatches: &[Dispatch],
    t: usize,
    n_past: usize,
    split: u32,
) {
    let split_now = t == 1 && n_past + 1 > split as usize;
    let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor { label: None, timestamp_writes: None });
    for d in dispatches {
        let skip = match d.when {
            When::Always => false,
            When::Whole => t != 1 || split_now,
            When::Split => !split_now,
            When::Batch => t == 1,
        };
        let (x, y, z) = d.grid.size(t as u32, n_past as u32);
        if skip || x == 0 || y == 0 || z == 0 {
            continue;
        }
        if let Some((pipeline, _)) = pipelines.get(&d.kernel) {
            pass.set_pipeline(pipeline);
            pass.set_bind_group(0, &d.bind, &[]);
            pass.dispatch_workgroups(x, y, z);
        }
    }
}

/// The GPU state of one session.
#[derive(Debug)]
pub(crate) struct GpuForward {
    gpu: Gpu,
    pipelines: HashMap<Kernel, (wgpu::ComputePipeline, Config)>,
    /// The pipelines' error checks still to await ([`GpuForward::settle`], browser only).
    #[cfg(target_arch = "wasm32")]
    scopes: Vec<ScopeCheck>,
    /// The logits readback requested by the last evaluation and not yet taken.
    pending: Option<Pending>,
    /// The forward pass of a batch, in order (one compute pass).
    main: Vec<Dispatch>,
    /// The output head over the rows copied into `xout`.
    out: Vec<Dispatch>,
    step: wgpu::Buffer,
    step_out: wgpu::Buffer,
    tokens: wgpu::Buffer,
    x: wgpu::Buffer,
    xout: wgpu::Buffer,
    logits: wgpu::Buffer,
    staging: wgpu::Buffer,
    /// Keys and values of every layer (kept alive here; the bind groups reference them).
    #[allow(dead_code)]
    kv_cache: Vec<wgpu::Buffer>,
    batch: usize,
    /// Most logits rows one readback carries (every row is read only natively).
    #[cfg_attr(target_arch = "wasm32", allow(dead_code))]
    out_rows: usize,
    n_embd: usize,
    n_vocab: usize,
}

/// Builds the buffers and dispatches (only used while loading).
#[derive(Debug)]
struct Builder<'a> {
    gpu: &'a Gpu,
    /// The bytes the weights' offsets point into (the model file).
    bytes: &'a [u8],
    pipelines: HashMap<Kernel, (wgpu::ComputePipeline, Config)>,
    weights: HashMap<usize, Vec<Chunk>>,
    head_dim: u32,
    /// In the browser an error scope's result arrives on the event loop: each pipeline's is
    /// kept here and awaited by [`GpuForward::settle`].
    #[cfg(target_arch = "wasm32")]
    scopes: Vec<ScopeCheck>,
}

/// A pipeline's popped error scope, not yet resolved (browser only): the kernel's name and
/// the scope's future.
#[cfg(target_arch = "wasm32")]
struct ScopeCheck(String, std::pin::Pin<Box<dyn std::future::Future<Output = Option<wgpu::Error>>>>);

#[cfg(target_arch = "wasm32")]
impl std::fmt::Debug for ScopeCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ScopeCheck({})", self.0)
    }
}

fn storage(gpu: &Gpu, what: &str, bytes: u64) -> Result<wgpu::Buffer, GpuError> {
    if bytes > gpu.max_binding() {
        return Err(GpuError::BindingTooLarge { what: what.to_string(), bytes, limit: gpu.max_binding() });
    }
    Ok(gpu.device.create_buffer(&wgpu::BufferDescriptor {
        label: Some(what),
        size: bytes.max(16),
        usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    }))
}

fn storage_init(gpu: &Gpu, what: &str, contents: &[u8]) -> Result<wgpu::Buffer, GpuError> {
    if contents.len() as u64 > gpu.max_binding() {
        return Err(GpuError::BindingTooLarge {
            what: what.to_string(),
            bytes: contents.len() as u64,
            limit: gpu.max_binding(),
        });
    }
    Ok(gpu.device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
        label: Some(what),
        contents,
        usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST,
    }))
}

fn uniform(gpu: &Gpu, words: &[u32]) -> wgpu::Buffer {
    let mut padded = [0u32; 8];
    padded[..words.len().min(8)].copy_from_slice(&words[..words.len().min(8)]);
    let n = if words.len() > 4 { 8 } else { 4 };
    gpu.device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
        label: Some("params"),
        contents: bytemuck::cast_slice(&padded[..n]),
        usage: wgpu::BufferUsages::UNIFORM,
    })
}

impl Builder<'_> {
    fn pipeline(&mut self, kernel: Kernel) -> Result<Config, GpuError> {
        if let Some((_, cfg)) = self.pipelines.get(&kernel) {
            return Ok(*cfg);
        }
        let limits = self.gpu.kernel_limits();
        let cfg = kernel.config(&limits, self.head_dim);
        kernel.check(&cfg, &limits)?;
        let device = &self.gpu.device;
        let scope = device.push_error_scope(wgpu::ErrorFilter::Validation);
        let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some(&kernel.name()),
            source: wgpu::ShaderSource::Wgsl(kernel.source(&cfg).into()),
        });
        let pipeline = device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: Some(&kernel.name()),
            layout: None,
            module: &module,
            entry_point: Some("main"),
            compilation_options: Default::default(),
            cache: None,
        });
        #[cfg(not(target_arch = "wasm32"))]
        if let Some(e) = pollster::block_on(scope.pop()) {
            return Err(GpuError::Validation {
                during: format!("creating the {} pipeline", kernel.name()),
                detail: e.to_string(),
            });
        }
        #[cfg(target_arch = "wasm32")]
        self.scopes.push(ScopeCheck(kernel.name(), Box::pin(scope.pop())));
        self.pipelines.insert(kernel, (pipeline, cfg));
        Ok(cfg)
    }

    fn dispatch(&mut self, kernel: Kernel, buffers: &[&wgpu::Buffer], grid: Grid) -> Result<Dispatch, GpuError> {
        self.pipeline(kernel)?;
        let (pipeline, _) = &self.pipelines[&kernel];
        let entries: Vec<wgpu::BindGroupEntry> = buffers
            .iter()
            .enumerate()
            .map(|(i, b)| wgpu::BindGroupEntry { binding: i as u32, resource: b.as_entire_binding() })
            .collect();
        let bind = self.gpu.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some(&kernel.name()),
            layout: &pipeline.get_bind_group_layout(0),
            entries: &entries,
        });
        Ok(Dispatch { kernel, bind, grid, when: When::Always })
    }

    /// Uploads the rows of `w` (once per tensor: tied embeddings share theirs) in chunks that
    /// fit one binding.
    fn upload(&mut self, name: &str, w: &Linear) -> Result<(), GpuError> {
        if self.weights.contains_key(&w.start) {
            return Ok(());
        }
        let max = self.gpu.max_binding().saturating_sub(4);
        let per_chunk = (max / w.row_bytes.max(1) as u64) as usize;
        if per_chunk == 0 {
            return Err(GpuError::BindingTooLarge {
                what: format!("one row of tensor '{name}'"),
                bytes: w.row_bytes as u64 + 4,
                limit: self.gpu.max_binding(),
            });
        }
        let bytes = self.bytes;
        let mut chunks = Vec::new();
        let mut row = 0;
        while row < w.rows {
            let rows = per_chunk.min(w.rows - row);
            let data = &bytes[w.start + row * w.row_bytes..w.start + (row + rows) * w.row_bytes];
            // Padded to whole words plus one, so the kernels' four-byte reads never leave the buffer.
            let mut padded = Vec::with_capacity(data.len().next_multiple_of(4) + 4);
            padded.extend_from_slice(data);
            padded.resize(data.len().next_multiple_of(4) + 4, 0);
            let buffer = storage_init(self.gpu, name, &padded)?;
            chunks.push(Chunk { buffer, row_base: row as u32, rows: rows as u32 });
            row += rows;
        }
        self.weights.insert(w.start, chunks);
        Ok(())
    }

    fn kind(name: &str, w: &Linear) -> Result<WeightKind, GpuError> {
        WeightKind::of(w.ty).ok_or_else(|| GpuError::UnsupportedType {
            tensor: name.to_string(),
            ty: w.ty,
            supported: GPU_WEIGHT_TYPES,
        })
    }

    /// The chunks of an uploaded tensor (buffer handles are reference-counted).
    fn chunks(&self, w: &Linear) -> Vec<(wgpu::Buffer, u32, u32)> {
        self.weights
            .get(&w.start)
            .map_or_else(Vec::new, |c| c.iter().map(|c| (c.buffer.clone(), c.row_base, c.rows)).collect())
    }

    /// Embedding lookup of the batch's tokens from `w` into `out`.
    fn embed(
        &mut self,
        w: &Linear,
        step: &wgpu::Buffer,
        tokens: &wgpu::Buffer,
        out: &wgpu::Buffer,
    ) -> Result<Vec<Dispatch>, GpuError> {
        let name = "token_embd.weight";
        let kind = Self::kind(name, w)?;
        self.upload(name, w)?;
        let cfg = self.pipeline(Kernel::Embed(kind))?;
        let units = (w.cols / 32) as u32;
        let x = match kind {
            WeightKind::Quant { .. } => units.div_ceil(cfg.wg),
            WeightKind::Float { .. } => (w.cols as u32).div_ceil(cfg.wg),
        };
        let mut ops = Vec::new();
        for (buffer, row_base, rows) in self.chunks(w) {
            let p = uniform(self.gpu, &[rows, row_base, w.cols as u32, units, w.row_bytes as u32]);
            ops.push(self.dispatch(Kernel::Embed(kind), &[&p, step, &buffer, tokens, out], Grid::PerToken(x))?);
        }
        Ok(ops)
    }

    /// `out[t] = W . input[t]` for every chunk of `w`; quantized weights read the activations
    /// already quantized into `aq`/`ads` (value-and-residual pairs if `paired`), float weights
    /// read `input`.
    #[allow(clippy::too_many_arguments)]
    fn matmul(
        &mut self,
        name: &str,
        w: &Linear,
        step: &wgpu::Buffer,
        input: &wgpu::Buffer,
        act: &Act,
        paired: bool,
        out: &wgpu::Buffer,
    ) -> Result<Vec<Dispatch>, GpuError> {
        let kind = Self::kind(name, w)?;
        self.upload(name, w)?;
        let cfg = self.pipeline(Kernel::Matmul(kind))?;
        let mut ops = Vec::new();
        for (buffer, row_base, rows) in self.chunks(w) {
            let grid = Grid::Rows { groups: rows.div_ceil(cfg.rows), tt: TOKENS_PER_WORKGROUP };
            let d = match kind {
                WeightKind::Quant { .. } => {
                    let (units, rb) = ((w.cols / 32) as u32, w.row_bytes as u32);
                    let p = uniform(self.gpu, &[rows, row_base, w.rows as u32, units, rb, paired as u32]);
                    self.dispatch(Kernel::Matmul(kind), &[&p, step, &buffer, &act.aq, &act.ads, out], grid)?
                }
                WeightKind::Float { ty } => {
                    // F16 weights see their activations rounded to f16, as the CPU's; a pair
                    // (f16 value and f16 residual) is the f32 value to 2^-22.
                    let f16 = (ty == crate::GgmlType::F16 && !paired) as u32;
                    let p = uniform(self.gpu, &[rows, row_base, w.rows as u32, w.cols as u32, w.row_bytes as u32, f16]);
                    self.dispatch(Kernel::Matmul(kind), &[&p, step, &buffer, input, out], grid)?
                }
            };
            ops.push(d);
        }
        Ok(ops)
    }

    /// Quantizes `cols`-wide rows of `input` into Q8 units for weights of `kind` (as
    /// value-and-residual pairs if `paired`, like the CPU's `ops::quantize_rows_paired`).
    fn quantize(
        &mut self,
        kind: WeightKind,
        cols: usize,
        step: &wgpu::Buffer,
        input: &wgpu::Buffer,
        act: &Act,
        paired: bool,
    ) -> Result<Option<Dispatch>, GpuError> {
        let WeightKind::Quant { act_mode, .. } = kind else { return Ok(None) };
        let cfg = self.pipeline(Kernel::QuantizeQ8)?;
        let units = (cols / 32) as u32;
        let groups = if act_mode == 2 { units / 8 } else { units };
        let p = uniform(self.gpu, &[cols as u32, units, act_mode, paired as u32]);
        Ok(Some(self.dispatch(
            Kernel::QuantizeQ8,
            &[&p, step, input, &act.aq, &act.ads],
            Grid::PerToken(groups.div_ceil(cfg.wg)),
        )?))
    }

    /// The projections of one input (as the CPU's `project`): activations are quantized once
    /// per activation type (in pairs if `paired`), then each weight's matmul.
    fn project(
        &mut self,
        input: &wgpu::Buffer,
        step: &wgpu::Buffer,
        act: &Act,
        paired: bool,
        outs: &[(&str, &Linear, &wgpu::Buffer)],
    ) -> Result<Vec<Dispatch>, GpuError> {
        let mut ops = Vec::new();
        let mut quantized_as = None;
        for (name, w, out) in outs {
            let kind = Self::kind(name, w)?;
            if let WeightKind::Quant { act_mode, .. } = kind {
                if quantized_as != Some(act_mode) {
                    ops.extend(self.quantize(kind, w.cols, step, input, act, paired)?);
                    quantized_as = Some(act_mode);
                }
            }
            ops.extend(self.matmul(name, w, step, input, act, paired, out)?);
        }
        Ok(ops)
    }

    /// Attention of the batch's queries over one layer's cache: for one token the whole-history
    /// dispatch, or over more than `split` positions the split dispatch and its merge; for a
    /// batch the tiled dispatch.
    #[allow(clippy::too_many_arguments)]
    fn attention(
        &mut self,
        f16: bool,
        (n_head, n_head_kv, head_dim): (u32, u32, u32),
        split: u32,
        step: &wgpu::Buffer,
        (q, k_cache, v_cache): (&wgpu::Buffer, &wgpu::Buffer, &wgpu::Buffer),
        out: &wgpu::Buffer,
        partial: &wgpu::Buffer,
    ) -> Result<Vec<Dispatch>, GpuError> {
        let kernel = Kernel::Attention { f16 };
        let (kv, scale) = (n_head_kv * head_dim, (1.0 / (head_dim as f32).sqrt()).to_bits());
        let whole = uniform(self.gpu, &[n_head, n_head / n_head_kv, head_dim, kv, scale, 0]);
        let parts = uniform(self.gpu, &[n_head, n_head / n_head_kv, head_dim, kv, scale, split]);
        let combine = uniform(self.gpu, &[n_head, head_dim, split]);
        let buffers = |p| [p, step, q, k_cache, v_cache, out, partial];
        let mut a = self.dispatch(kernel, &buffers(&whole), Grid::PerToken(n_head))?;
        a.when = When::Whole;
        let mut b = self.dispatch(kernel, &buffers(&parts), Grid::Split { x: n_head, split })?;
        b.when = When::Split;
        let mut c = self.dispatch(Kernel::AttentionCombine, &[&combine, step, partial, out], Grid::PerToken(n_head))?;
        c.when = When::Split;
        let tiled = Kernel::AttentionTiled { f16 };
        let tq = self.pipeline(tiled)?.tq;
        let mut d = self.dispatch(tiled, &[&whole, step, q, k_cache, v_cache, out], Grid::Tiles { x: n_head, tq })?;
        d.when = When::Batch;
        Ok(vec![a, b, c, d])
    }

    fn rms_norm(
        &mut self,
        n: usize,
        eps: f32,
        step: &wgpu::Buffer,
        x: &wgpu::Buffer,
        weight: &wgpu::Buffer,
        out: &wgpu::Buffer,
    ) -> Result<Dispatch, GpuError> {
        let p = uniform(self.gpu, &[n as u32, eps.to_bits()]);
        self.dispatch(Kernel::RmsNorm, &[&p, step, x, weight, out], Grid::Tokens)
    }

    fn elementwise(
        &mut self,
        kernel: Kernel,
        n: usize,
        step: &wgpu::Buffer,
        a: &wgpu::Buffer,
        b: &wgpu::Buffer,
    ) -> Result<Dispatch, GpuError> {
        let cfg = self.pipeline(kernel)?;
        let p = uniform(self.gpu, &[n as u32]);
        self.dispatch(kernel, &[&p, step, a, b], Grid::PerToken((n as u32).div_ceil(cfg.wg)))
    }
}

/// The quantized-activation buffers every matmul of a pass shares.
#[derive(Debug)]
struct Act {
    aq: wgpu::Buffer,
    ads: wgpu::Buffer,
}

impl GpuForward {
    /// Uploads `model` and prepares every dispatch for a context of `n_ctx` positions and
    /// batches of up to `n_batch` tokens.
    pub(crate) fn new(
        gpu: Gpu,
        model: &Model,
        n_ctx: usize,
        n_batch: usize,
        precision: crate::model::Precision,
    ) -> Result<Self> {
        let c = model.config();
        let (e, kv, hd, ff, vocab) = (c.n_embd, c.kv_dim(), c.head_dim, c.n_ff, c.n_vocab);
        let q_dim = c.n_head * hd;
        // The widest activation row, counting a quantized pair twice: the attention's input is
        // always paired, every linear's at `Precision::High`.
        let all = precision.all_paired();
        let per = 1 + all as usize;
        let widest = (per * e.max(q_dim).max(ff).max(kv)).max(2 * e);
        let limit = gpu.max_binding();
        // Activation buffers hold a batch of the widest rows; a smaller batch if they would not fit.
        let batch = n_batch.min(MAX_BATCH).min((limit / (4 * widest as u64)) as usize);
        let out_rows = batch.min(MAX_OUT_ROWS).min((limit / (4 * vocab as u64)) as usize);
        if batch == 0 || out_rows == 0 {
            return Err(GpuError::BindingTooLarge {
                what: "the logits of one token".into(),
                bytes: 4 * vocab.max(widest) as u64,
                limit,
            }
            .into());
        }
        let f = |n: usize| 4 * n as u64;
        // The step records are rewritten before every submission.
        let step = gpu.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("step"),
            size: 16,
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let step_out = gpu.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("step (output head)"),
            size: 16,
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let tokens = storage(&gpu, "token ids", f(batch))?;
        let x = storage(&gpu, "hidden states", f(batch * e))?;
        let xn = storage(&gpu, "normalized hidden states", f(batch * e))?;
        let q = storage(&gpu, "queries", f(batch * q_dim))?;
        let k = storage(&gpu, "keys", f(batch * kv))?;
        let v = storage(&gpu, "values", f(batch * kv))?;
        let attn = storage(&gpu, "attention output", f(batch * q_dim))?;
        let proj = storage(&gpu, "projection output", f(batch * e))?;
        let gate = storage(&gpu, "feed-forward gate", f(batch * ff))?;
        let up = storage(&gpu, "feed-forward up", f(batch * ff))?;
        let act = Act {
            aq: storage(&gpu, "quantized activations", (batch * widest) as u64)?,
            ads: storage(&gpu, "activation scales", 8 * (batch * widest.div_ceil(32)) as u64)?,
        };
        let act_out = Act {
            aq: storage(&gpu, "quantized activations (output head)", (out_rows * per * e) as u64)?,
            ads: storage(&gpu, "activation scales (output head)", 8 * (out_rows * per * e.div_ceil(32)) as u64)?,
        };
        let xout = storage(&gpu, "output rows", f(out_rows * e))?;
        let xoutn = storage(&gpu, "normalized output rows", f(out_rows * e))?;
        let logits = storage(&gpu, "logits", f(out_rows * vocab))?;
        let staging = gpu.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("logits readback"),
            size: f(out_rows * vocab),
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        // The cache in f16 where the adapter has shader-f16 (as llama.cpp's default cache type),
        // else f32.
        let kv_f16 = gpu.info().kv_f16;
        let kv_bytes = if kv_f16 { 2 } else { 4 } * (n_ctx * kv) as u64;
        let mut k_cache = Vec::with_capacity(c.n_layer);
        let mut v_cache = Vec::with_capacity(c.n_layer);
        for l in 0..c.n_layer {
            let what = |kind: &str| format!("KV cache {kind} of layer {l} (n_ctx x n_head_kv x head_dim)");
            k_cache.push(storage(&gpu, &what("keys"), kv_bytes)?);
            v_cache.push(storage(&gpu, &what("values"), kv_bytes)?);
        }
        let table = RopeTable::new(n_ctx, c.n_rot, c.rope_base, c.rope_freq_scale, model.rope_freqs.as_deref());
        let pairs: Vec<f32> = table.cos_sin().flat_map(|(c, s)| [c, s]).collect();
        let rope = storage_init(&gpu, "RoPE table (n_ctx x n_rot / 2 x 2 floats)", bytemuck::cast_slice(&pairs))?;
        let norm = |what: &str, w: &[f32]| storage_init(&gpu, what, bytemuck::cast_slice(w));

        let mut b = Builder {
            gpu: &gpu,
            bytes: model.bytes(),
            pipelines: HashMap::new(),
            weights: HashMap::new(),
            head_dim: hd as u32,
            #[cfg(target_arch = "wasm32")]
            scopes: Vec::new(),
        };
        let mut pass = b.embed(&model.tok_embd, &step, &tokens, &x)?;
        let n_pairs = (c.n_rot / 2) as u32;
        let neox = (c.rope_layout == RopeLayout::Neox) as u32;
        let rope_cfg = b.pipeline(Kernel::Rope)?;
        let rope_q = uniform(&gpu, &[c.n_head as u32, hd as u32, n_pairs, neox]);
        let rope_k = uniform(&gpu, &[c.n_head_kv as u32, hd as u32, n_pairs, neox]);
        // Split attention for one token: the partial results of every split of every head.
        let split = gpu.attention_split();
        let partial = storage(
            &gpu,
            "split attention partial results (n_head x n_ctx / split x (head_dim + 2))",
            4 * (c.n_head * n_ctx.div_ceil(split as usize) * (hd + 2)) as u64,
        )?;
        let store_p = uniform(&gpu, &[kv as u32]);
        for (l, layer) in model.layers.iter().enumerate() {
            let n = |s: &str| format!("blk.{l}.{s}.weight");
            let attn_norm = norm(&n("attn_norm"), &layer.attn_norm)?;
            let ffn_norm = norm(&n("ffn_norm"), &layer.ffn_norm)?;
            pass.push(b.rms_norm(e, c.rms_eps, &step, &x, &attn_norm, &xn)?);
            let (nq, nk, nv) = (n("attn_q"), n("attn_k"), n("attn_v"));
            pass.extend(b.project(
                &xn,
                &step,
                &act,
                true,
                &[(&nq, &layer.wq, &q), (&nk, &layer.wk, &k), (&nv, &layer.wv, &v)],
            )?);
            let heads = |h: usize| Grid::PerToken(((h as u32) * n_pairs).div_ceil(rope_cfg.wg));
            pass.push(b.dispatch(Kernel::Rope, &[&rope_q, &step, &rope, &q], heads(c.n_head))?);
            pass.push(b.dispatch(Kernel::Rope, &[&rope_k, &step, &rope, &k], heads(c.n_head_kv))?);
            let store_cfg = b.pipeline(Kernel::StoreKv { f16: kv_f16 })?;
            let store = Grid::PerToken((kv as u32).div_ceil(store_cfg.wg));
            pass.push(b.dispatch(Kernel::StoreKv { f16: kv_f16 }, &[&store_p, &step, &k, &k_cache[l]], store)?);
            pass.push(b.dispatch(Kernel::StoreKv { f16: kv_f16 }, &[&store_p, &step, &v, &v_cache[l]], store)?);
            let heads = (c.n_head as u32, c.n_head_kv as u32, hd as u32);
            let caches = (&q, &k_cache[l], &v_cache[l]);
            pass.extend(b.attention(kv_f16, heads, split, &step, caches, &attn, &partial)?);
            let no = n("attn_output");
            pass.extend(b.project(&attn, &step, &act, all, &[(&no, &layer.wo, &proj)])?);
            pass.push(b.elementwise(Kernel::Add, e, &step, &x, &proj)?);
            pass.push(b.rms_norm(e, c.rms_eps, &step, &x, &ffn_norm, &xn)?);
            let (ng, nu, nd) = (n("ffn_gate"), n("ffn_up"), n("ffn_down"));
            pass.extend(b.project(&xn, &step, &act, all, &[(&ng, &layer.gate, &gate), (&nu, &layer.up, &up)])?);
            pass.push(b.elementwise(Kernel::SiluMul, ff, &step, &gate, &up)?);
            pass.extend(b.project(&gate, &step, &act, all, &[(&nd, &layer.down, &proj)])?);
            pass.push(b.elementwise(Kernel::Add, e, &step, &x, &proj)?);
        }
        let main = pass;

        let output_norm = norm("output_norm.weight", &model.output_norm)?;
        let mut out_pass = vec![b.rms_norm(e, c.rms_eps, &step_out, &xout, &output_norm, &xoutn)?];
        out_pass.extend(b.project(&xoutn, &step_out, &act_out, all, &[("output.weight", &model.output, &logits)])?);
        let out = out_pass;
        let kv_cache = k_cache.into_iter().chain(v_cache).collect();
        let pipelines = b.pipelines;
        #[cfg(target_arch = "wasm32")]
        let scopes = b.scopes;
        gpu.check("uploading the model")?;
        Ok(Self {
            gpu,
            pipelines,
            #[cfg(target_arch = "wasm32")]
            scopes,
            pending: None,
            main,
            out,
            step,
            step_out,
            tokens,
            x,
            xout,
            logits,
            staging,
            kv_cache,
            batch,
            out_rows,
            n_embd: e,
            n_vocab: vocab,
        })
    }

    pub(crate) fn gpu(&self) -> &Gpu {
        &self.gpu
    }

    fn encode(&self, enc: &mut wgpu::CommandEncoder, dispatches: &[Dispatch], t: usize, n_past: usize) {
        record(enc, &self.pipelines, dispatches, t, n_past, self.gpu.attention_split());
    }

    /// In the browser: waits for every pipeline's error scope (they resolve on the event loop)
    /// and reports the first error. Natively each was checked as it was made.
    #[cfg(target_arch = "wasm32")]
    pub(crate) async fn settle(&mut self) -> Result<(), GpuError> {
        for ScopeCheck(kernel, scope) in std::mem::take(&mut self.scopes) {
            if let Some(e) = scope.await {
                return Err(GpuError::Validation {
                    during: format!("creating the {kernel} pipeline"),
                    detail: e.to_string(),
                });
            }
        }
        self.gpu.check("uploading the model")
    }

    /// Evaluates `tokens` at positions `n_past..` (the caller checked they fit the context and
    /// the vocabulary) and asks for the last token's logits without waiting for them:
    /// [`GpuForward::poll`] takes them once the GPU has delivered them (in the browser a wasm
    /// thread cannot block on a mapping; it resolves on the event loop).
    pub(crate) fn submit(&mut self, tokens: &[u32], n_past: usize) -> Result<(), GpuError> {
        self.idle()?;
        let mut done = 0;
        for chunk in tokens.chunks(self.batch) {
            let t = chunk.len();
            let mut enc = self.batch_pass(chunk, n_past + done);
            let last = done + t == tokens.len();
            if last {
                self.output_rows(&mut enc, t - 1, 1);
            }
            self.gpu.queue.submit([enc.finish()]);
            if last {
                self.request(1);
            }
            self.gpu.check("evaluating a batch of tokens")?;
            done += t;
        }
        Ok(())
    }

    /// Whether the logits asked for by the last [`GpuForward::submit`] are in: then (true) they
    /// are copied into `logits`; false while the GPU is still working. An error when the
    /// mapping failed (a lost device) or the GPU reported one.
    pub(crate) fn poll(&mut self, logits: &mut [f32]) -> Result<bool, GpuError> {
        let Some(p) = &self.pending else {
            return Ok(true);
        };
        // Natively mapping callbacks run inside `poll`; the browser runs them on its event loop.
        #[cfg(not(target_arch = "wasm32"))]
        let _ = self.gpu.device.poll(wgpu::PollType::Poll);
        let Some(result) = p.state.lock().ok().and_then(|mut s| s.done.take()) else {
            return Ok(false);
        };
        let rows = p.rows;
        self.pending = None;
        self.take(result, rows, logits, &mut |_, _| {})?;
        Ok(true)
    }

    /// Whether a readback is outstanding (not yet taken by [`GpuForward::poll`]).
    pub(crate) fn pending(&self) -> bool {
        self.pending.is_some()
    }

    /// Calls `wake` once the pending logits can be taken (at once if there are none, or they
    /// are in already): the browser's step loop awaits this instead of polling.
    pub(crate) fn on_ready(&mut self, wake: Wake) {
        let Some(p) = &self.pending else {
            return wake();
        };
        let Ok(mut s) = p.state.lock() else {
            return wake();
        };
        if s.done.is_some() {
            drop(s);
            return wake();
        }
        s.wake = Some(wake);
    }

    /// Blocks until the pending logits are in and copies them into `logits` (natively; a
    /// device that does not finish within [`READBACK_TIMEOUT`] is reported lost).
    #[cfg(not(target_arch = "wasm32"))]
    pub(crate) fn wait(&mut self, logits: &mut [f32]) -> Result<(), GpuError> {
        self.wait_rows(logits, &mut |_, _| {})
    }

    /// Blocks until the pending readback is in, then passes each of its rows (copied into
    /// `row`) to `f(index, row)`.
    #[cfg(not(target_arch = "wasm32"))]
    fn wait_rows(&mut self, row: &mut [f32], f: &mut dyn FnMut(usize, &[f32])) -> Result<(), GpuError> {
        let Some(p) = self.pending.take() else {
            return Ok(());
        };
        let polled =
            self.gpu.device.poll(wgpu::PollType::Wait { submission_index: None, timeout: Some(READBACK_TIMEOUT) });
        if let Err(e) = polled {
            self.gpu.check("waiting for the GPU")?;
            return Err(GpuError::DeviceLost { detail: format!("waiting for the logits: {e}") });
        }
        let result = p.state.lock().ok().and_then(|mut s| s.done.take());
        let result = result.unwrap_or_else(|| Err("the mapping did not complete".into()));
        self.take(result, p.rows, row, f)
    }

    /// Evaluates `tokens` at positions `n_past..` and waits for the results: the last token's
    /// logits in `logits`, and every token's passed to `each` when given.
    #[cfg(not(target_arch = "wasm32"))]
    pub(crate) fn eval(
        &mut self,
        tokens: &[u32],
        n_past: usize,
        each: Option<LogitsSink<'_>>,
        logits: &mut [f32],
    ) -> Result<()> {
        let Some(sink) = each else {
            self.submit(tokens, n_past)?;
            return Ok(self.wait(logits)?);
        };
        self.idle()?;
        let mut done = 0;
        for chunk in tokens.chunks(self.batch) {
            let t = chunk.len();
            let enc = self.batch_pass(chunk, n_past + done);
            self.gpu.queue.submit([enc.finish()]);
            let mut r0 = 0;
            while r0 < t {
                let rows = self.out_rows.min(t - r0);
                let mut enc = self.gpu.device.create_command_encoder(&Default::default());
                self.output_rows(&mut enc, r0, rows);
                self.gpu.queue.submit([enc.finish()]);
                self.request(rows);
                self.wait_rows(logits, &mut |i, row| sink(done + r0 + i, row))?;
                r0 += rows;
            }
            self.gpu.check("evaluating a batch of tokens")?;
            done += t;
        }
        Ok(())
    }

    /// Writes a batch's token ids and step record and records its forward pass (at position
    /// `pos`) into a new command encoder.
    fn batch_pass(&self, chunk: &[u32], pos: usize) -> wgpu::CommandEncoder {
        let t = chunk.len();
        self.gpu.queue.write_buffer(&self.tokens, 0, bytemuck::cast_slice(chunk));
        self.gpu.queue.write_buffer(&self.step, 0, bytemuck::cast_slice(&[t as u32, pos as u32, 0, 0]));
        let mut enc = self.gpu.device.create_command_encoder(&Default::default());
        self.encode(&mut enc, &self.main, t, pos);
        enc
    }

    /// Before new work: the last readback must have been taken (the staging buffer is mapped
    /// until then). One that has completed is released here.
    fn idle(&mut self) -> Result<(), GpuError> {
        let Some(p) = &self.pending else {
            return Ok(());
        };
        match p.state.lock().ok().and_then(|mut s| s.done.take()) {
            Some(result) => {
                self.pending = None;
                if result.is_ok() {
                    self.staging.unmap();
                }
                Ok(())
            }
            None => Err(GpuError::Readback {
                detail: "new work was submitted before the previous logits were read back".into(),
            }),
        }
    }

    /// Records the output head for hidden rows `r0..r0 + rows` of the last pass.
    fn output_rows(&self, enc: &mut wgpu::CommandEncoder, r0: usize, rows: usize) {
        let f = |n: usize| 4 * n as u64;
        self.gpu.queue.write_buffer(&self.step_out, 0, bytemuck::cast_slice(&[rows as u32, 0, 0, 0]));
        enc.copy_buffer_to_buffer(&self.x, f(r0 * self.n_embd), &self.xout, 0, f(rows * self.n_embd));
        self.encode(enc, &self.out, rows, 0);
        enc.copy_buffer_to_buffer(&self.logits, 0, &self.staging, 0, f(rows * self.n_vocab));
    }

    /// Asks for the first `rows` rows of logits to be mapped once the submitted work is done.
    // In the browser the waker (a JS function) is not `Send`; there the callback runs on this
    // thread, from the event loop (the GPU backend is only in the single-threaded build).
    #[cfg_attr(target_arch = "wasm32", allow(clippy::arc_with_non_send_sync))]
    fn request(&mut self, rows: usize) {
        let bytes = 4 * (rows * self.n_vocab) as u64;
        let state = Arc::new(Mutex::new(MapState::default()));
        let shared = state.clone();
        self.staging.slice(..bytes).map_async(wgpu::MapMode::Read, move |r| {
            let wake = shared.lock().ok().and_then(|mut s| {
                s.done = Some(r.map_err(|e| e.to_string()));
                s.wake.take()
            });
            if let Some(wake) = wake {
                wake();
            }
        });
        self.pending = Some(Pending { rows, state });
    }

    /// Copies each of the `rows` mapped rows into `row` and calls `f(index, row)`, then unmaps.
    fn take(
        &mut self,
        mapped: Result<(), String>,
        rows: usize,
        row: &mut [f32],
        f: &mut dyn FnMut(usize, &[f32]),
    ) -> Result<(), GpuError> {
        self.gpu.check("waiting for the GPU")?;
        mapped.map_err(|detail| GpuError::Readback { detail })?;
        let bytes = 4 * (rows * self.n_vocab) as u64;
        {
            let slice = self.staging.slice(..bytes);
            let view = slice.get_mapped_range().map_err(|e| GpuError::Readback { detail: e.to_string() })?;
            for (i, bytes) in view.chunks_exact(4 * self.n_vocab).enumerate() {
                for (o, b) in row.iter_mut().zip(bytes.chunks_exact(4)) {
                    *o = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
                }
                f(i, row);
            }
        }
        self.staging.unmap();
        Ok(())
    }
}

/// What wakes a waiting caller once a readback is in (natively it must be `Send`: wgpu may run
/// the mapping callback on another thread).
#[cfg(not(target_arch = "wasm32"))]
pub(crate) type Wake = Box<dyn FnOnce() + Send>;
/// What wakes a waiting caller once a readback is in (the browser's resolve function).
#[cfg(target_arch = "wasm32")]
pub(crate) type Wake = Box<dyn FnOnce()>;

/// A requested logits readback: how many rows, and what the mapping callback reported.
#[derive(Debug)]
struct Pending {
    rows: usize,
    state: Arc<Mutex<MapState>>,
}

#[derive(Default)]
struct MapState {
    /// The mapping's outcome, once the callback has run.
    done: Option<Result<(), String>>,
    /// Who to tell when it runs.
    wake: Option<Wake>,
}

impl std::fmt::Debug for MapState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MapState").field("done", &self.done).field("wake", &self.wake.is_some()).finish()
    }
}

/// Single kernels on the GPU: the tests hold each against the CPU reference, and
/// `ruvllm bench-kernels --gpu` times the matmuls.
#[cfg(not(target_arch = "wasm32"))]
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) mod harness {
    use super::*;

    #[derive(Debug)]
    pub(crate) struct Harness<'a> {
        b: Builder<'a>,
        step: wgpu::Buffer,
        act: Act,
        ops: Vec<Dispatch>,
        split: u32,
    }

    impl<'a> Harness<'a> {
        /// Kernels over weights addressed inside `bytes`; `widest` bounds the activation rows
        /// (values per token times tokens) a matmul quantizes, in pairs or not.
        pub(crate) fn new(gpu: &'a Gpu, bytes: &'a [u8], head_dim: u32, widest: usize) -> Result<Self, GpuError> {
            let step = gpu.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("step"),
                size: 16,
                usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            });
            let act = Act {
                aq: storage(gpu, "aq", 2 * widest as u64)?,
                ads: storage(gpu, "ads", 16 * widest.div_ceil(32) as u64)?,
            };
            Ok(Self {
                b: Builder { gpu, bytes, pipelines: HashMap::new(), weights: HashMap::new(), head_dim },
                step,
                act,
                ops: Vec::new(),
                split: u32::MAX,
            })
        }

        pub(crate) fn buffer(&self, data: &[f32]) -> wgpu::Buffer {
            self.try_buffer(data).unwrap_or_else(|e| panic!("test buffer: {e}"))
        }

        pub(crate) fn try_buffer(&self, data: &[f32]) -> Result<wgpu::Buffer, GpuError> {
            let buf = storage(self.b.gpu, "kernel data", 4 * data.len() as u64)?;
            self.b.gpu.queue.write_buffer(&buf, 0, bytemuck::cast_slice(data));
            Ok(buf)
        }

        /// Waits until everything submitted has run.
        pub(crate) fn wait(&self) -> Result<(), GpuError> {
            let polled = self
                .b
                .gpu
                .device
                .poll(wgpu::PollType::Wait { submission_index: None, timeout: Some(READBACK_TIMEOUT) });
            self.b.gpu.check("waiting for the GPU")?;
            polled.map(|_| ()).map_err(|e| GpuError::DeviceLost { detail: e.to_string() })
        }

        pub(crate) fn tokens(&self, ids: &[u32]) -> wgpu::Buffer {
            let buf = storage(self.b.gpu, "test tokens", 4 * ids.len() as u64).unwrap();
            self.b.gpu.queue.write_buffer(&buf, 0, bytemuck::cast_slice(ids));
            buf
        }

        pub(crate) fn matmul(
            &mut self,
            w: &Linear,
            input: &wgpu::Buffer,
            paired: bool,
            out: &wgpu::Buffer,
        ) -> Result<(), GpuError> {
            let ops = self.b.project(input, &self.step, &self.act, paired, &[("test weights", w, out)])?;
            self.ops.extend(ops);
            Ok(())
        }

        pub(crate) fn embed(&mut self, w: &Linear, tokens: &wgpu::Buffer, out: &wgpu::Buffer) -> Result<(), GpuError> {
            let ops = self.b.embed(w, &self.step, tokens, out)?;
            self.ops.extend(ops);
            Ok(())
        }

        pub(crate) fn rms_norm(
            &mut self,
            n: usize,
            eps: f32,
            x: &wgpu::Buffer,
            weight: &wgpu::Buffer,
            out: &wgpu::Buffer,
        ) -> Result<(), GpuError> {
            let d = self.b.rms_norm(n, eps, &self.step, x, weight, out)?;
            self.ops.push(d);
            Ok(())
        }

        pub(crate) fn elementwise(
            &mut self,
            kernel: Kernel,
            n: usize,
            a: &wgpu::Buffer,
            x: &wgpu::Buffer,
        ) -> Result<(), GpuError> {
            let d = self.b.elementwise(kernel, n, &self.step, a, x)?;
            self.ops.push(d);
            Ok(())
        }

        pub(crate) fn rope(
            &mut self,
            table: &wgpu::Buffer,
            n_heads: u32,
            head_dim: u32,
            n_pairs: u32,
            neox: bool,
            x: &wgpu::Buffer,
        ) -> Result<(), GpuError> {
            let cfg = self.b.pipeline(Kernel::Rope)?;
            let p = uniform(self.b.gpu, &[n_heads, head_dim, n_pairs, neox as u32]);
            let d = self.b.dispatch(
                Kernel::Rope,
                &[&p, &self.step, table, x],
                Grid::PerToken((n_heads * n_pairs).div_ceil(cfg.wg)),
            )?;
            self.ops.push(d);
            Ok(())
        }

        /// A one-buffer row operation over `n` values per token (GELU with `mode`, softmax).
        pub(crate) fn in_place(
            &mut self,
            kernel: Kernel,
            n: usize,
            mode: u32,
            x: &wgpu::Buffer,
        ) -> Result<(), GpuError> {
            let cfg = self.b.pipeline(kernel)?;
            let p = uniform(self.b.gpu, &[n as u32, mode]);
            let grid =
                if kernel == Kernel::Softmax { Grid::Tokens } else { Grid::PerToken((n as u32).div_ceil(cfg.wg)) };
            let d = self.b.dispatch(kernel, &[&p, &self.step, x], grid)?;
            self.ops.push(d);
            Ok(())
        }

        /// Writes `t` rows of `kv_dim` values from `x` into `cache` at position `n_past`.
        pub(crate) fn store_kv(
            &mut self,
            f16: bool,
            kv_dim: u32,
            x: &wgpu::Buffer,
            cache: &wgpu::Buffer,
        ) -> Result<(), GpuError> {
            let cfg = self.b.pipeline(Kernel::StoreKv { f16 })?;
            let p = uniform(self.b.gpu, &[kv_dim]);
            let grid = Grid::PerToken(kv_dim.div_ceil(cfg.wg));
            let d = self.b.dispatch(Kernel::StoreKv { f16 }, &[&p, &self.step, x, cache], grid)?;
            self.ops.push(d);
            Ok(())
        }

        /// Attention (whole, or split into parts of `split` positions for one token).
        #[allow(clippy::too_many_arguments)]
        pub(crate) fn attention(
            &mut self,
            f16: bool,
            heads: (u32, u32, u32),
            split: u32,
            q: &wgpu::Buffer,
            k: &wgpu::Buffer,
            v: &wgpu::Buffer,
            out: &wgpu::Buffer,
            partial: &wgpu::Buffer,
        ) -> Result<(), GpuError> {
            self.split = split;
            let ops = self.b.attention(f16, heads, split, &self.step, (q, k, v), out, partial)?;
            self.ops.extend(ops);
            Ok(())
        }

        /// A batch's attention through the one-token kernel, one workgroup per token and head
        /// reading the history on its own (what `bench_attention` times the tiled kernel against).
        #[allow(clippy::too_many_arguments)]
        pub(crate) fn attention_per_token(
            &mut self,
            f16: bool,
            heads: (u32, u32, u32),
            q: &wgpu::Buffer,
            k: &wgpu::Buffer,
            v: &wgpu::Buffer,
            out: &wgpu::Buffer,
            partial: &wgpu::Buffer,
        ) -> Result<(), GpuError> {
            let ops = self.b.attention(f16, heads, u32::MAX, &self.step, (q, k, v), out, partial)?;
            for mut d in ops {
                if d.kernel == (Kernel::Attention { f16 }) {
                    d.when = When::Always;
                    self.ops.push(d);
                }
            }
            Ok(())
        }

        /// Runs the recorded dispatches for `t` tokens at position `n_past`.
        pub(crate) fn run(&mut self, t: usize, n_past: usize) -> Result<(), GpuError> {
            let gpu = self.b.gpu;
            gpu.queue.write_buffer(&self.step, 0, bytemuck::cast_slice(&[t as u32, n_past as u32, 0, 0]));
            let mut enc = gpu.device.create_command_encoder(&Default::default());
            record(&mut enc, &self.b.pipelines, &self.ops, t, n_past, self.split);
            gpu.queue.submit([enc.finish()]);
            gpu.check("running test kernels")
        }

        pub(crate) fn read(&self, buf: &wgpu::Buffer, n: usize) -> Vec<f32> {
            let gpu = self.b.gpu;
            let staging = gpu.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("test readback"),
                size: 4 * n as u64,
                usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            });
            let mut enc = gpu.device.create_command_encoder(&Default::default());
            enc.copy_buffer_to_buffer(buf, 0, &staging, 0, 4 * n as u64);
            gpu.queue.submit([enc.finish()]);
            staging.slice(..).map_async(wgpu::MapMode::Read, |r| r.unwrap());
            gpu.device.poll(wgpu::PollType::wait_indefinitely()).unwrap();
            let view = staging.slice(..).get_mapped_range().unwrap();
            view.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect()
        }

        /// How many bindings `w`'s rows were split into.
        pub(crate) fn chunks_of(&self, w: &Linear) -> usize {
            self.b.weights.get(&w.start).map_or(0, Vec::len)
        }
    }
}
