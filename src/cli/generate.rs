//! `ruvllm run`, `ruvllm chat`, `ruvllm bench`, `ruvllm perplexity`: the model from the command
//! line.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use super::CliError;
use crate::chat::{ChatMessage, ChatTemplate};
use crate::generate::{CancelToken, GenerateParams, Generator};
use crate::model::{Model, Session, SessionOptions};
use crate::sampler::SamplingParams;
use crate::{GgufFile, Tokenizer};

/// Options shared by the subcommands that load a model.
#[derive(Debug, clap::Args)]
pub(super) struct ModelArgs {
    /// GGUF model (default: the project's default model, fetched by scripts/fetch_model.py).
    #[arg(long)]
    model: Option<PathBuf>,
    /// Context length (tokens; default 2048, 512 for perplexity as in llama-perplexity).
    #[arg(long)]
    ctx: Option<usize>,
    /// Threads (default: the CPUs available, at most 8).
    #[arg(long)]
    threads: Option<usize>,
    /// Where the forward pass runs: auto (a hardware GPU when there is one, else the CPU), cpu, gpu.
    #[arg(long, default_value = "auto")]
    backend: crate::gpu::Backend,
    /// How the linears' inputs are quantized: standard (Q, K and V as value-and-residual Q8
    /// pairs, the rest as one Q8 row) or high (every linear paired: closest to the exact forward
    /// pass, slower).
    #[arg(long, default_value = "standard")]
    precision: crate::model::Precision,
    /// A Jinja chat template file to use instead of the model's `tokenizer.chat_template`.
    #[arg(long)]
    chat_template: Option<PathBuf>,
}

/// Sampling options.
#[derive(Debug, clap::Args)]
pub(super) struct SampleArgs {
    /// 0 = greedy.
    #[arg(long, default_value_t = 0.8)]
    temperature: f32,
    #[arg(long, default_value_t = 40)]
    top_k: usize,
    #[arg(long, default_value_t = 0.95)]
    top_p: f32,
    #[arg(long, default_value_t = 0.05)]
    min_p: f32,
    #[arg(long, default_value_t = 1.0)]
    repeat_penalty: f32,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    #[arg(long, default_value_t = 256)]
    max_tokens: usize,
    /// Stop before this string (repeatable).
    #[arg(long)]
    stop: Vec<String>,
}

impl SampleArgs {
    fn params(&self) -> GenerateParams {
        let s = SamplingParams::new(self.seed)
            .with_temperature(self.temperature)
            .with_top_k(self.top_k)
            .with_top_p(self.top_p)
            .with_min_p(self.min_p)
            .with_repeat_penalty(self.repeat_penalty);
        GenerateParams::new(self.max_tokens, s).with_stop(self.stop.clone())
    }
}

/// The model path: the argument, or the default model fetched by the project's script.
pub(super) fn model_path(arg: &Option<PathBuf>) -> Result<PathBuf, CliError> {
    if let Some(p) = arg {
        return Ok(p.clone());
    }
    let script = std::env::var_os("RUVLLM_FETCH_SCRIPT")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scripts/fetch_model.py"));
    let out = std::process::Command::new("python3").arg(&script).output().map_err(|e| {
        CliError::Usage(format!(
            "no --model given and the default model's fetch script {} could not run: {e}",
            script.display()
        ))
    })?;
    if !out.status.success() {
        return Err(CliError::Usage(format!(
            "no --model given and fetching the default model failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
}

impl ModelArgs {
    pub(super) fn ctx_or(&self, default: usize) -> usize {
        self.ctx.unwrap_or(default)
    }

    /// Session options with this command's thread count.
    pub(super) fn session_options(&self, n_ctx: usize, n_batch: usize) -> Result<SessionOptions, crate::ModelError> {
        let opts = SessionOptions::new(n_ctx, n_batch)?
            .with_backend(self.backend, crate::gpu::GpuOptions::new())
            .with_precision(self.precision);
        match self.threads {
            Some(n) => opts.with_threads(n),
            None => Ok(opts),
        }
    }
}

/// The chat template: `--chat-template FILE`, else the model's own.
fn template(m: &ModelArgs, l: &Loaded) -> Result<ChatTemplate, CliError> {
    match &m.chat_template {
        Some(path) => {
            let source = std::fs::read_to_string(path).map_err(|e| crate::Error::Io {
                op: "cannot read",
                path: path.clone(),
                source: e,
            })?;
            let text = |id: Option<u32>| id.and_then(|i| l.tokenizer.token_text(i)).unwrap_or("").to_string();
            Ok(ChatTemplate::new(source, text(l.tokenizer.bos()), text(l.tokenizer.eos())))
        }
        None => Ok(ChatTemplate::from_gguf(l.model.file(), &l.tokenizer)?),
    }
}

struct Loaded {
    model: Model,
    tokenizer: Tokenizer,
}

fn load(args: &ModelArgs) -> Result<Loaded, CliError> {
    let path = model_path(&args.model)?;
    let file = GgufFile::open(&path)?;
    let tokenizer = Tokenizer::from_gguf(&file, false)?;
    Ok(Loaded { model: Model::load(file)?, tokenizer })
}

/// Where a session's forward pass runs, for summaries: the GPU adapter, or the CPU kernels and
/// threads (with why `auto` did not pick the GPU).
fn backend_desc(session: &Session<'_>) -> String {
    let opts = session.options();
    let precision = match opts.precision {
        crate::model::Precision::Standard => String::new(),
        p => format!(", {} precision", p.name()),
    };
    #[cfg(feature = "gpu")]
    if let Some(info) = session.gpu_info() {
        return format!("gpu: {info}{precision}");
    }
    let mut d = format!(
        "cpu: {} kernels, {} thread{}{precision}",
        opts.kernels.flavour(),
        opts.threads,
        if opts.threads == 1 { "" } else { "s" }
    );
    if let Some(note) = session.backend_note() {
        d.push_str("; ");
        d.push_str(note);
    }
    d
}

fn summary(c: &crate::generate::Completion, session: &Session<'_>) -> String {
    let u = &c.usage;
    format!(
        "ruvllm: {} prompt tokens ({} evaluated) at {:.1} t/s, {} generated at {:.1} t/s, finish: {:?} ({})",
        u.prompt_tokens,
        u.prompt_evaluated,
        u.prefill_tokens_per_s(),
        u.generated_tokens,
        u.decode_tokens_per_s(),
        c.finish_reason,
        backend_desc(session)
    )
}

/// `ruvllm run`: one completion, streamed to stdout.
pub(super) fn run(
    m: &ModelArgs,
    s: &SampleArgs,
    prompt: &str,
    chat: bool,
    system: Option<&str>,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let l = load(m)?;
    let mut gen = Generator::new(&l.model, &l.tokenizer, m.session_options(m.ctx_or(2048), 256.min(m.ctx_or(2048)))?)?;
    let mut params = s.params();
    let text = if chat {
        let template = template(m, &l)?;
        let mut messages = Vec::new();
        if let Some(sys) = system {
            messages.push(ChatMessage::new("system", sys));
        }
        messages.push(ChatMessage::new("user", prompt));
        params = params.with_parse_special(true).with_add_special(false);
        template.render(&messages, true)?
    } else {
        prompt.to_string()
    };
    stream(&mut gen, &text, &params, out)?;
    Ok(())
}

/// Generates with each piece written (and flushed) to `out` as it arrives, then a newline on
/// `out` and the summary line on stderr.
fn stream(
    gen: &mut Generator<'_>,
    prompt: &str,
    params: &GenerateParams,
    out: &mut dyn Write,
) -> Result<crate::generate::Completion, CliError> {
    let mut io_err = None;
    let completion = gen.generate(prompt, params, &CancelToken::new(), &mut |piece| {
        if io_err.is_none() {
            io_err = out.write_all(piece.as_bytes()).and_then(|()| out.flush()).err();
        }
    })?;
    if let Some(e) = io_err {
        return Err(e.into());
    }
    writeln!(out)?;
    out.flush()?;
    eprintln!("{}", summary(&completion, gen.session()));
    Ok(completion)
}

/// `ruvllm chat`: an interactive multi-turn chat; the KV cache is reused between turns.
pub(super) fn chat(m: &ModelArgs, s: &SampleArgs, system: Option<&str>, out: &mut dyn Write) -> Result<(), CliError> {
    let l = load(m)?;
    let template = template(m, &l)?;
    let mut gen = Generator::new(&l.model, &l.tokenizer, m.session_options(m.ctx_or(2048), 256.min(m.ctx_or(2048)))?)?;
    let params = s.params().with_parse_special(true).with_add_special(false);
    let mut messages = Vec::new();
    if let Some(sys) = system {
        messages.push(ChatMessage::new("system", sys));
    }
    let stdin = std::io::stdin();
    let mut line = String::new();
    loop {
        write!(out, "> ")?;
        out.flush()?;
        line.clear();
        if stdin.lock().read_line(&mut line)? == 0 {
            writeln!(out)?;
            return Ok(());
        }
        let user = line.trim_end_matches(['\n', '\r']);
        if user.is_empty() {
            continue;
        }
        messages.push(ChatMessage::new("user", user));
        let prompt = template.render(&messages, true)?;
        let c = stream(&mut gen, &prompt, &params, out)?;
        messages.push(ChatMessage::new("assistant", c.text));
    }
}

/// Peak resident set size of this process in MB (Linux).
fn peak_rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kb: f64 = status.lines().find(|l| l.starts_with("VmHWM:"))?.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// `ruvllm bench`: prefill and decode speed and peak memory.
pub(super) fn bench(
    m: &ModelArgs,
    prompt_tokens: usize,
    gen_tokens: usize,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let l = load(m)?;
    let n_ctx = prompt_tokens + gen_tokens + 1;
    let mut session = Session::new(&l.model, m.session_options(n_ctx, prompt_tokens.clamp(1, 512))?)?;
    // A fixed, ordinary token stream (the vocabulary's ids 1000..) so runs are comparable.
    let prompt: Vec<u32> = (0..prompt_tokens as u32).map(|i| 1000 + (i * 7919) % 20000).collect();
    let t = Instant::now();
    session.eval(&prompt, None)?;
    let prefill_s = t.elapsed().as_secs_f64();
    let mut token = 1000u32;
    let t = Instant::now();
    for _ in 0..gen_tokens {
        session.eval(&[token], None)?;
        token = argmax(session.logits());
    }
    let decode_s = t.elapsed().as_secs_f64();
    writeln!(out, "| model | backend | kernels | threads | prefill t/s | decode t/s | peak RSS |")?;
    writeln!(out, "|---|---|---|---|---|---|---|")?;
    writeln!(
        out,
        "| {} | {} | {} | {} | {:.1} ({} tokens) | {:.1} ({} tokens) | {:.0} MB |",
        m.model.as_deref().map(Path::new).and_then(Path::file_name).map_or("default".into(), |f| f.to_string_lossy()),
        backend_desc(&session),
        session.options().kernels.flavour(),
        session.options().threads,
        prompt_tokens as f64 / prefill_s,
        prompt_tokens,
        gen_tokens as f64 / decode_s,
        gen_tokens,
        peak_rss_mb().unwrap_or(0.0)
    )?;
    Ok(())
}

fn argmax(x: &[f32]) -> u32 {
    x.iter().enumerate().fold((0, f32::NEG_INFINITY), |b, (i, &v)| if v > b.1 { (i, v) } else { b }).0 as u32
}

/// `ruvllm perplexity`: as llama.cpp's `llama-perplexity` prints it.
pub(super) fn perplexity(m: &ModelArgs, file: &Path, ctx: usize, out: &mut dyn Write) -> Result<(), CliError> {
    let l = load(m)?;
    let text = std::fs::read_to_string(file).map_err(|e| crate::Error::Io {
        op: "cannot read",
        path: file.to_path_buf(),
        source: e,
    })?;
    let tokens = l.tokenizer.encode(&text, true, false);
    let bos = if l.tokenizer.encode("", true, false).first() == l.tokenizer.bos().as_ref() {
        l.tokenizer.bos()
    } else {
        None
    };
    writeln!(out, "perplexity: tokenized {} tokens, {} chunks of {ctx}", tokens.len(), tokens.len() / ctx)?;
    let t = Instant::now();
    let opts = m.session_options(ctx, ctx.min(512))?;
    let p = crate::perplexity::perplexity_with_options(&l.model, &tokens, opts, ctx / 2, bos)?;
    for (i, r) in p.running.iter().enumerate() {
        write!(out, "[{}]{:.4},", i + 1, r)?;
    }
    writeln!(out)?;
    writeln!(
        out,
        "Final estimate: PPL = {:.4} +/- {:.5}  ({} tokens scored, {:.1} s)",
        p.perplexity,
        p.perplexity * p.nll_stderr,
        p.count,
        t.elapsed().as_secs_f64()
    )?;
    Ok(())
}

/// Reads everything from stdin (for `--prompt -`).
pub(super) fn read_stdin() -> Result<String, CliError> {
    let mut s = String::new();
    std::io::Read::read_to_string(&mut std::io::stdin(), &mut s)?;
    Ok(s)
}
