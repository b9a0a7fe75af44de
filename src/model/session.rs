//! A session: the KV cache and scratch buffers of one conversation, and the forward pass.

use super::{Layer, Model, Shared};
use crate::error::{ModelError, Result};
use crate::gpu::{Backend, GpuOptions};
use crate::kernels::Kernels;
use crate::ops::{self, Linear, RopeTable};
use crate::pool::{ThreadPool, MAX_THREADS};

/// Receives `(index, logits)` for every evaluated token when all logits are wanted.
pub type LogitsSink<'a> = &'a mut dyn FnMut(usize, &[f32]);

/// Options fixed when a session is created. Build with [`SessionOptions::new`].
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct SessionOptions {
    /// Positions the KV cache holds (prompt plus generated tokens).
    pub n_ctx: usize,
    /// Most tokens evaluated in one batched pass (prefill works through the prompt in batches).
    pub n_batch: usize,
    /// Threads that run the forward pass (the calling thread included).
    pub threads: usize,
    /// The kernel flavour (default: the best this CPU supports).
    pub kernels: Kernels,
    /// Where the forward pass runs (default: the CPU).
    pub backend: Backend,
    /// How the GPU backend opens its device (when `backend` is [`Backend::Gpu`]).
    pub gpu: GpuOptions,
    /// How the inputs of the linears are quantized (default: [`Precision::Standard`]).
    pub precision: Precision,
}

/// How a forward pass quantizes the inputs of its linears (on the CPU and on the GPU alike).
///
/// Every linear dots its quantized weights with its input quantized to Q8 (as llama.cpp does);
/// where the input is *paired*, a second Q8 row holds what the first one's rounding left out, and
/// the product is within ~1/50 of the exact one.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Precision {
    /// Q, K and V from paired inputs (their rounding is what parts a quantized forward pass
    /// furthest from the exact one), every other linear from one Q8 row. Closer to the exact
    /// forward pass than llama.cpp, at llama.cpp's speed.
    #[default]
    Standard,
    /// Every linear, the output head included, from paired inputs: the only distance left from
    /// an exact forward pass over the same weights is f32 arithmetic (mean KL ~1e-7 rather than
    /// ~1e-3), at roughly twice the integer work per matmul.
    High,
}

impl Precision {
    /// `"standard"` or `"high"`.
    pub fn name(self) -> &'static str {
        match self {
            Precision::Standard => "standard",
            Precision::High => "high",
        }
    }

    /// Parses a [`Precision::name`].
    pub fn from_name(name: &str) -> Option<Precision> {
        [Precision::Standard, Precision::High].into_iter().find(|p| p.name() == name)
    }

    /// Whether the inputs of every linear are paired (else only those of Q, K and V).
    pub fn all_paired(self) -> bool {
        self == Precision::High
    }
}

impl std::str::FromStr for Precision {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Precision::from_name(s).ok_or_else(|| format!("unknown precision '{s}' (expected standard or high)"))
    }
}

/// Largest context a session may ask for.
pub const MAX_CTX: usize = 1 << 20;

impl SessionOptions {
    pub fn new(n_ctx: usize, n_batch: usize) -> Result<Self, ModelError> {
        let bad = |field, value: usize, reason: &str| ModelError::InvalidOption {
            field,
            value: value.to_string(),
            reason: reason.into(),
        };
        if n_ctx == 0 || n_ctx > MAX_CTX {
            return Err(bad("n_ctx", n_ctx, "must be between 1 and 1048576"));
        }
        if n_batch == 0 || n_batch > n_ctx {
            return Err(bad("n_batch", n_batch, "must be between 1 and n_ctx"));
        }
        Ok(Self {
            n_ctx,
            n_batch,
            threads: default_threads(),
            kernels: Kernels::best(),
            backend: Backend::Cpu,
            gpu: GpuOptions::default(),
            precision: Precision::Standard,
        })
    }

    /// The same options with `threads` threads (1 to [`MAX_THREADS`]).
    pub fn with_threads(mut self, threads: usize) -> Result<Self, ModelError> {
        if threads == 0 || threads > MAX_THREADS {
            return Err(ModelError::InvalidOption {
                field: "threads",
                value: threads.to_string(),
                reason: format!("must be between 1 and {MAX_THREADS}"),
            });
        }
        self.threads = threads;
        Ok(self)
    }

    /// The same options with another kernel flavour (see [`Kernels::available`]).
    pub fn with_kernels(mut self, kernels: Kernels) -> Self {
        self.kernels = kernels;
        self
    }

    /// The same options with the forward pass on `backend` (the GPU opened with `gpu`).
    pub fn with_backend(mut self, backend: Backend, gpu: GpuOptions) -> Self {
        self.backend = backend;
        self.gpu = gpu;
        self
    }

    /// The same options with the linears' inputs quantized as `precision` says.
    pub fn with_precision(mut self, precision: Precision) -> Self {
        self.precision = precision;
        self
    }
}

/// The default thread count: the CPUs available to this process, at most 8 (beyond that a
/// model this size is bound by memory bandwidth, and more threads only contend).
pub fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get()).min(8)
}

impl Default for SessionOptions {
    fn default() -> Self {
        Self {
            n_ctx: 2048,
            n_batch: 256,
            threads: default_threads(),
            kernels: Kernels::best(),
            backend: Backend::Cpu,
            gpu: GpuOptions::default(),
            precision: Precision::Standard,
        }
    }
}

/// Buffers of one batched forward pass, sized for `n_batch` tokens once.
#[derive(Debug)]
struct Scratch {
    x: Vec<f32>,
    xn: Vec<f32>,
    q: Vec<f32>,
    k: Vec<f32>,
    v: Vec<f32>,
    attn: Vec<f32>,
    proj: Vec<f32>,
    gate: Vec<f32>,
    up: Vec<f32>,
    /// One row of attention scores per thread.
    scores: Vec<f32>,
    xq: Vec<u8>,
    /// The activations a paired quantization leaves out (one row).
    resid: Vec<f32>,
    /// A batched matmul's `[row][token]` results before they are transposed.
    tmp: Vec<f32>,
    /// A decode step's fused projections (Q, K, V; gate, up) before they are split.
    fused: Vec<f32>,
}

/// The state of one sequence being evaluated: KV cache, position, scratch, last logits.
#[derive(Debug)]
pub struct Session<'m> {
    model: Shared<'m, Model>,
    opts: SessionOptions,
    k_cache: Vec<f32>,
    v_cache: Vec<f32>,
    n_past: usize,
    rope: RopeTable,
    s: Scratch,
    logits: Vec<f32>,
    pool: ThreadPool,
    /// Why [`Backend::Auto`] chose the CPU, when it did.
    backend_note: Option<String>,
    /// The GPU forward pass, when the session runs on the GPU (the CPU buffers are then empty).
    #[cfg(feature = "gpu")]
    gpu: Option<Box<crate::gpu::GpuForward>>,
    /// The GPU's logits are read back asynchronously: [`Session::eval`] returns once the work is
    /// submitted and [`Session::ready`] takes them (always in the browser).
    #[cfg(feature = "gpu")]
    deferred: bool,
}

impl<'m> Session<'m> {
    /// The thread pool the forward pass runs on (the threaded wasm build hands its
    /// [`ThreadPool::helper_handle`] to the JS helpers).
    pub fn pool(&self) -> &ThreadPool {
        &self.pool
    }

    /// Allocates the KV cache and every buffer the forward pass needs, once. `model` is borrowed
    /// (`&Model`) or shared (`Arc<Model>`, for a session that must own its model).
    pub fn new(model: impl Into<Shared<'m, Model>>, opts: SessionOptions) -> Result<Self> {
        Self::build(model.into(), opts, None)
    }

    /// A session on a GPU device opened already ([`crate::gpu::Gpu::open`]: in the browser it
    /// can only be opened asynchronously), whatever `opts.backend` says. Its logits are read
    /// back without blocking: after [`Session::eval`], [`Session::ready`] says when they are in
    /// (in the browser [`Session::on_ready`] calls back then; natively [`Session::wait`] blocks).
    #[cfg(feature = "gpu")]
    pub fn with_gpu(model: impl Into<Shared<'m, Model>>, opts: SessionOptions, gpu: crate::gpu::Gpu) -> Result<Self> {
        let gpu_opts = opts.gpu.clone();
        let opts = opts.with_backend(Backend::Gpu, gpu_opts);
        let mut s = Self::build(model.into(), opts, Some(gpu))?;
        s.deferred = true;
        Ok(s)
    }

    #[cfg_attr(not(feature = "gpu"), allow(unused_variables))]
    fn build(
        shared: Shared<'m, Model>,
        opts: SessionOptions,
        #[cfg(feature = "gpu")] device: Option<crate::gpu::Gpu>,
        #[cfg(not(feature = "gpu"))] device: Option<std::convert::Infallible>,
    ) -> Result<Self> {
        let model: &Model = &shared;
        let c = model.config();
        let opts = SessionOptions { n_batch: opts.n_batch.min(opts.n_ctx), ..opts };
        let opts = SessionOptions::new(opts.n_ctx, opts.n_batch)?
            .with_threads(opts.threads)?
            .with_kernels(opts.kernels)
            .with_backend(opts.backend, opts.gpu)
            .with_precision(opts.precision);
        let mut opts = opts;
        let mut backend_note = None;
        #[cfg(feature = "gpu")]
        let gpu = {
            let forward = |device| {
                crate::gpu::GpuForward::new(device, model, opts.n_ctx, opts.n_batch, opts.precision).map(Box::new)
            };
            #[cfg(not(target_arch = "wasm32"))]
            let open = |hardware_only: bool| -> Result<Box<crate::gpu::GpuForward>> {
                let device = crate::gpu::Gpu::new(&opts.gpu)?;
                if hardware_only {
                    device.require_hardware()?;
                }
                forward(device)
            };
            // In the browser the device is opened asynchronously, before the session.
            #[cfg(target_arch = "wasm32")]
            let open = |_: bool| -> Result<Box<crate::gpu::GpuForward>> {
                Err(crate::error::GpuError::NoAdapter {
                    detail: "in the browser the GPU is opened asynchronously: Gpu::open, then Session::with_gpu".into(),
                }
                .into())
            };
            match (device, opts.backend) {
                (Some(device), _) => Some(forward(device)?),
                (None, Backend::Gpu) => Some(open(false)?),
                (None, Backend::Auto) => match open(true) {
                    Ok(g) => Some(g),
                    Err(e) => {
                        backend_note = Some(format!("GPU not used: {e}"));
                        None
                    }
                },
                (None, Backend::Cpu) => None,
            }
        };
        #[cfg(feature = "gpu")]
        {
            opts.backend = if gpu.is_some() { Backend::Gpu } else { Backend::Cpu };
        }
        #[cfg(not(feature = "gpu"))]
        match opts.backend {
            Backend::Gpu => return Err(crate::error::GpuError::NotBuilt.into()),
            Backend::Auto => {
                backend_note = Some(crate::error::GpuError::NotBuilt.to_string());
                opts.backend = Backend::Cpu;
            }
            Backend::Cpu => {}
        }
        // On the GPU the CPU's cache and scratch are not needed: size them for nothing.
        let cpu = opts.backend == Backend::Cpu;
        let (b, e, kv, ff) = (opts.n_batch * cpu as usize, c.n_embd, c.kv_dim(), c.n_ff);
        let q_dim = c.n_head * c.head_dim;
        // Per token: the activation bytes and matmul rows of every linear, twice over where
        // the input is quantized in pairs.
        let all = opts.precision.all_paired() as usize;
        let linears = || {
            model.layers.iter().flat_map(|l| {
                [(&l.wq, 2), (&l.wk, 2), (&l.wv, 2), (&l.wo, 1 + all), (&l.gate, 1 + all), (&l.up, 1 + all)]
                    .into_iter()
                    .chain([(&l.down, 1 + all)])
            })
        };
        let max_act = linears()
            .map(|(w, per)| per * w.act_row_bytes())
            .chain([(1 + all) * model.output.act_row_bytes()])
            .max()
            .unwrap_or(0);
        let max_rows = linears().map(|(w, per)| per * w.rows).max().unwrap_or(0);
        // The output head's pair of rows is one token's (its sums go to `logits`).
        let tmp = (b * max_rows).max(b.min(1) * all * 2 * model.output.rows);
        let cache = c.n_layer * opts.n_ctx * kv * cpu as usize;
        let (k_cache, v_cache) = (zeroed("KV cache (keys)", cache)?, zeroed("KV cache (values)", cache)?);
        Ok(Self {
            k_cache,
            v_cache,
            n_past: 0,
            rope: RopeTable::new(opts.n_ctx, c.n_rot, c.rope_base, c.rope_freq_scale, model.rope_freqs.as_deref()),
            s: Scratch {
                x: vec![0.0; b * e],
                xn: vec![0.0; b * e],
                q: vec![0.0; b * q_dim],
                k: vec![0.0; b * kv],
                v: vec![0.0; b * kv],
                attn: vec![0.0; b * q_dim],
                proj: vec![0.0; b * e],
                gate: vec![0.0; b * ff],
                up: vec![0.0; b * ff],
                scores: vec![0.0; b.min(1) * opts.threads * (c.n_head / c.n_head_kv) * opts.n_ctx],
                xq: vec![0; b * max_act],
                resid: vec![0.0; b.min(1) * e.max(ff * all)],
                tmp: vec![0.0; tmp],
                fused: vec![
                    0.0;
                    b.min(1)
                        * model
                            .layers
                            .iter()
                            .map(|l| (2 * (l.wq.rows + l.wk.rows + l.wv.rows))
                                .max((1 + all) * (l.gate.rows + l.up.rows)))
                            .max()
                            .unwrap_or(0)
                ],
            },
            logits: vec![0.0; c.n_vocab],
            pool: ThreadPool::new(if cpu { opts.threads } else { 1 })?,
            #[cfg(feature = "gpu")]
            gpu,
            #[cfg(feature = "gpu")]
            deferred: cfg!(target_arch = "wasm32"),
            backend_note,
            opts,
            model: shared,
        })
    }

    pub fn model(&self) -> &Model {
        &self.model
    }

    pub fn options(&self) -> &SessionOptions {
        &self.opts
    }

    /// Why the session runs on the CPU although [`Backend::Auto`] was asked for, if it does.
    pub fn backend_note(&self) -> Option<&str> {
        self.backend_note.as_deref()
    }

    /// Records why the caller chose the CPU for this session (the browser's `auto`, which
    /// tries its GPU before the session exists).
    pub fn set_backend_note(&mut self, note: String) {
        self.backend_note = Some(note);
    }

    /// The GPU adapter the forward pass runs on, or `None` on the CPU backend.
    #[cfg(feature = "gpu")]
    pub fn gpu_info(&self) -> Option<&crate::gpu::GpuInfo> {
        self.gpu.as_ref().map(|g| g.gpu().info())
    }

    /// Forces a GPU device loss (tests check that the next call fails cleanly).
    #[cfg(feature = "gpu")]
    pub fn simulate_gpu_loss(&self) {
        if let Some(g) = &self.gpu {
            g.gpu().simulate_device_loss();
        }
    }

    /// Whether the logits of the last [`Session::eval`] are in [`Session::logits`]: always on
    /// the CPU and on a blocking GPU session; on a deferred one (the browser) false until the
    /// GPU has delivered them. An error if the readback failed (a lost device).
    pub fn ready(&mut self) -> Result<bool> {
        #[cfg(feature = "gpu")]
        if let Some(gpu) = self.gpu.as_mut() {
            return Ok(gpu.poll(&mut self.logits)?);
        }
        Ok(true)
    }

    /// Whether a deferred readback is outstanding (not yet taken by [`Session::ready`]).
    pub fn pending(&self) -> bool {
        #[cfg(feature = "gpu")]
        if let Some(gpu) = &self.gpu {
            return gpu.pending();
        }
        false
    }

    /// Calls `wake` once [`Session::ready`] will say true (at once if it would now). The
    /// browser's step loop awaits this between a token's submission and its sampling.
    #[cfg(feature = "gpu")]
    pub fn on_ready(&mut self, wake: crate::gpu::Wake) {
        match self.gpu.as_mut() {
            Some(gpu) => gpu.on_ready(wake),
            None => wake(),
        }
    }

    /// Blocks until [`Session::ready`] (natively; a no-op where nothing is pending).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn wait(&mut self) -> Result<()> {
        #[cfg(feature = "gpu")]
        if let Some(gpu) = self.gpu.as_mut() {
            gpu.wait(&mut self.logits)?;
        }
        Ok(())
    }

    /// In the browser: waits for the GPU to report any error in the pipelines made at load.
    #[cfg(all(feature = "gpu", target_arch = "wasm32"))]
    pub async fn settle(&mut self) -> Result<()> {
        if let Some(gpu) = self.gpu.as_mut() {
            gpu.settle().await?;
        }
        Ok(())
    }

    /// Positions already in the KV cache.
    pub fn n_past(&self) -> usize {
        self.n_past
    }

    /// Forgets positions `n..`, keeping the cache for the first `n` (a chat's next turn, or a
    /// regenerated answer, reuses the common prefix).
    pub fn truncate(&mut self, n: usize) {
        self.n_past = self.n_past.min(n);
    }

    /// Logits after the last evaluated token.
    pub fn logits(&self) -> &[f32] {
        &self.logits
    }

    /// Evaluates `tokens` after the cached positions, in batches of `n_batch`. Afterwards
    /// [`Session::logits`] holds the logits for the next token. If `each` is given, it is called
    /// with `(index, logits)` for every token of `tokens` (perplexity, teacher forcing).
    pub fn eval(&mut self, tokens: &[u32], mut each: Option<LogitsSink<'_>>) -> Result<()> {
        let c = self.model.config();
        if let Some(&token) = tokens.iter().find(|&&t| t as usize >= c.n_vocab) {
            return Err(ModelError::TokenOutOfRange { token, n_vocab: c.n_vocab }.into());
        }
        let needed = self.n_past + tokens.len();
        if needed > self.opts.n_ctx {
            return Err(ModelError::ContextFull { needed, n_ctx: self.opts.n_ctx }.into());
        }
        #[cfg(feature = "gpu")]
        if let Some(gpu) = self.gpu.as_mut() {
            if tokens.is_empty() {
                return Ok(());
            }
            match each {
                None if self.deferred => gpu.submit(tokens, self.n_past)?,
                #[cfg(not(target_arch = "wasm32"))]
                each => gpu.eval(tokens, self.n_past, each, &mut self.logits)?,
                #[cfg(target_arch = "wasm32")]
                Some(_) => {
                    return Err(crate::error::GpuError::Readback {
                        detail: "every token's logits (perplexity) are read back only natively".into(),
                    }
                    .into())
                }
                #[cfg(target_arch = "wasm32")]
                None => unreachable!("browser sessions are always deferred"),
            }
            self.n_past += tokens.len();
            return Ok(());
        }
        let mut done = 0;
        for chunk in tokens.chunks(self.opts.n_batch) {
            self.forward(chunk)?;
            let t = chunk.len();
            match each.as_deref_mut() {
                Some(f) => {
                    for i in 0..t {
                        self.output_row(i)?;
                        f(done + i, &self.logits);
                    }
                }
                None if done + t == tokens.len() => self.output_row(t - 1)?,
                None => {}
            }
            done += t;
        }
        Ok(())
    }

    /// Final norm and output head for row `i` of the last batch, into `self.logits`.
    fn output_row(&mut self, i: usize) -> Result<()> {
        let m: &Model = &self.model;
        let e = m.config().n_embd;
        let s = &mut self.s;
        let k = &self.opts.kernels;
        k.rms_norm(&s.x[i * e..(i + 1) * e], &m.output_norm, m.config().rms_eps, &mut s.xn[..e]);
        let mut mm = Matmul {
            k,
            pool: &mut self.pool,
            bytes: m.bytes(),
            tmp: &mut s.tmp,
            fused: &mut s.fused,
            resid: &mut s.resid,
        };
        mm.project(&s.xn[..e], 1, self.opts.precision.all_paired(), &mut s.xq, &mut [(&m.output, &mut self.logits[..])])
    }

    /// One batched pass over `tokens` at positions `n_past..`: updates the KV cache and leaves
    /// the final hidden states in `s.x`.
    fn forward(&mut self, tokens: &[u32]) -> Result<()> {
        let m: &Model = &self.model;
        let c = m.config();
        let bytes = m.bytes();
        let t = tokens.len();
        let (e, kv, hd) = (c.n_embd, c.kv_dim(), c.head_dim);
        let q_dim = c.n_head * hd;
        let group = c.n_head / c.n_head_kv;
        let s = &mut self.s;
        let pool = &mut self.pool;
        let k = &self.opts.kernels;
        let all = self.opts.precision.all_paired();
        let mut mm = Matmul { k, pool, bytes, tmp: &mut s.tmp, fused: &mut s.fused, resid: &mut s.resid };

        for (i, &tok) in tokens.iter().enumerate() {
            ops::embed_row(&m.tok_embd, bytes, tok as usize, &mut s.x[i * e..(i + 1) * e])?;
        }
        let layer_cache = self.opts.n_ctx * kv;
        for (l, layer) in m.layers.iter().enumerate() {
            let Layer { attn_norm, wq, wk, wv, wo, ffn_norm, gate, up, down } = layer;
            // Attention block.
            for i in 0..t {
                k.rms_norm(&s.x[i * e..(i + 1) * e], attn_norm, c.rms_eps, &mut s.xn[i * e..(i + 1) * e]);
            }
            // Q, K and V from paired activations: their rounding is what parts a quantized
            // forward pass furthest from the exact one (K's lives on in the cache). The other
            // linears' inputs are paired at `Precision::High`.
            let qkv = &mut [(wq, &mut s.q[..]), (wk, &mut s.k[..]), (wv, &mut s.v[..])];
            mm.project(&s.xn, t, true, &mut s.xq, qkv)?;
            let k_cache = &mut self.k_cache[l * layer_cache..(l + 1) * layer_cache];
            let v_cache = &mut self.v_cache[l * layer_cache..(l + 1) * layer_cache];
            for i in 0..t {
                let pos = self.n_past + i;
                self.rope.apply(k, &mut s.q[i * q_dim..(i + 1) * q_dim], hd, pos, c.rope_layout);
                self.rope.apply(k, &mut s.k[i * kv..(i + 1) * kv], hd, pos, c.rope_layout);
                k_cache[pos * kv..(pos + 1) * kv].copy_from_slice(&s.k[i * kv..(i + 1) * kv]);
                v_cache[pos * kv..(pos + 1) * kv].copy_from_slice(&s.v[i * kv..(i + 1) * kv]);
            }
            // One task per (token, KV group): the group's query heads are adjacent in `q` and
            // in `attn`, and read their KV head once. Each thread has its own scores.
            let (k_cache, v_cache, q, n_past0) = (&*k_cache, &*v_cache, &s.q, self.n_past);
            let per_thread = group * self.opts.n_ctx;
            mm.pool.for_chunks(&mut s.attn[..t * q_dim], group * hd, &mut s.scores, per_thread, |task, out, scores| {
                let (i, g) = (task / c.n_head_kv, task % c.n_head_kv);
                let n_past = n_past0 + i + 1; // causal: a token sees itself and what precedes it
                let q = &q[i * q_dim + g * group * hd..][..group * hd];
                k.attend_group(q, hd, k_cache, v_cache, kv, g * hd, n_past, scores, out);
            });
            mm.project(&s.attn, t, all, &mut s.xq, &mut [(wo, &mut s.proj[..])])?;
            k.add_assign(&mut s.x[..t * e], &s.proj[..t * e]);

            // Feed-forward block.
            for i in 0..t {
                k.rms_norm(&s.x[i * e..(i + 1) * e], ffn_norm, c.rms_eps, &mut s.xn[i * e..(i + 1) * e]);
            }
            mm.project(&s.xn, t, all, &mut s.xq, &mut [(gate, &mut s.gate[..]), (up, &mut s.up[..])])?;
            let ff = c.n_ff;
            k.silu_mul(&mut s.gate[..t * ff], &s.up[..t * ff]);
            mm.project(&s.gate, t, all, &mut s.xq, &mut [(down, &mut s.proj[..])])?;
            k.add_assign(&mut s.x[..t * e], &s.proj[..t * e]);
        }
        self.n_past += t;
        Ok(())
    }
}

/// A zeroed buffer of `n` floats, or an out-of-memory error instead of an abort (in wasm a
/// failed allocation would otherwise kill the worker).
fn zeroed(what: &'static str, n: usize) -> Result<Vec<f32>, ModelError> {
    let mut v = Vec::new();
    v.try_reserve_exact(n)
        .map_err(|_| ModelError::OutOfMemory { what, bytes: n as u128 * std::mem::size_of::<f32>() as u128 })?;
    v.resize(n, 0.0);
    Ok(v)
}

/// What every matmul of a forward pass shares: kernels, threads, the model bytes, scratch.
struct Matmul<'a> {
    k: &'a Kernels,
    pool: &'a mut ThreadPool,
    bytes: &'a [u8],
    tmp: &'a mut [f32],
    fused: &'a mut [f32],
    resid: &'a mut [f32],
}

impl Matmul<'_> {
    /// Multiplies `t` rows of `input` by each linear (all with the same input width),
    /// quantizing the input once per activation type: as value-and-residual pairs if `paired`
    /// ([`ops::quantize_rows_paired`]).
    /// A single token's projections that share an activation type run as one fused region.
    fn project(
        &mut self,
        input: &[f32],
        t: usize,
        paired: bool,
        xq: &mut [u8],
        outs: &mut [(&Linear, &mut [f32])],
    ) -> Result<()> {
        let per = 1 + paired as usize;
        let quantize = |k, w, xq: &mut [u8], resid: &mut [f32]| match paired {
            true => ops::quantize_rows_paired(k, w, input, t, xq, resid),
            false => ops::quantize_rows(k, w, input, t, xq),
        };
        let fusable = t == 1
            && (2..=4).contains(&outs.len())
            && outs.iter().all(|(w, _)| w.act_type() == outs[0].0.act_type() && w.cols == outs[0].0.cols)
            && per * outs.iter().map(|(w, _)| w.rows).sum::<usize>() <= self.fused.len();
        if fusable {
            quantize(self.k, outs[0].0, xq, self.resid)?;
            let mut ws = [outs[0].0; 4];
            for (d, (w, _)) in ws.iter_mut().zip(outs.iter()) {
                *d = w;
            }
            ops::matvec_fused(self.k, self.pool, &ws[..outs.len()], self.bytes, xq, paired, self.fused)?;
            let mut at = 0;
            for (w, out) in outs.iter_mut() {
                out[..w.rows].copy_from_slice(&self.fused[at..at + w.rows]);
                at += w.rows;
            }
            return Ok(());
        }
        let mut quantized_as = None;
        for (w, out) in outs.iter_mut() {
            if quantized_as != Some(w.act_type()) {
                quantize(self.k, w, xq, self.resid)?;
                quantized_as = Some(w.act_type());
            }
            ops::matmul(self.k, self.pool, w, self.bytes, xq, t, paired, out, self.tmp)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_impossible_cache_is_an_error_not_an_abort() {
        let err = super::zeroed("KV cache (keys)", usize::MAX / 2).unwrap_err();
        assert!(err.to_string().starts_with("out of memory allocating the KV cache (keys)"), "{err}");
    }
}
