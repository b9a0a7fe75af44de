//! The whole model on the GPU backend (lavapipe in CI), held against the CPU path:
//! teacher-forced on llama.cpp's greedy continuations (`tests/fixtures/llamacpp/greedy.jsonl`),
//! the GPU must pick the CPU's top-1 token wherever the CPU's top-2 margin is at least 0.3, and
//! be as close to the CPU (mean KL) as the CPU's own scalar and SIMD kernels are to each other;
//! free-running greedy generation must give the CPU's tokens up to the CPU's first near-tie.
//!
//! Why not a fixed KL bound such as 1e-3 there: at the default precision both paths quantize the
//! activations of every layer but Q/K/V (which are value-and-residual pairs) to one Q8 row, and a
//! rounding difference far below f32 precision moves some values by a whole level, which the
//! following layers amplify (on this model, from ~1e-7 to ~5e-3 relative within layers 9-10,
//! where its massive activation forms). Measured here, the CPU's scalar and AVX-512 kernels —
//! bit-identical dot products, activation quantizers equal up to such roundings — differ by a
//! mean KL of ~1.8e-3 over the same steps; the GPU differs from the CPU by 1.5-1.8e-3.
//! At `Precision::High` every linear's input is paired, nothing amplifies, and the fixed bound
//! applies: the GPU is within 1e-4 mean KL of the CPU, f32 kernels and f16 cache (with f16
//! attention scores) alike (measured on lavapipe 2.4e-7 and 2.0e-6; the CPU's scalar and AVX-512
//! kernels differ by 2.4e-7).
//! Without an adapter the tests skip with a message, unless `RUVLLM_REQUIRE_GPU` is set (the test
//! script sets it where lavapipe is installed), and a missing adapter or a lost device is an error,
//! never a hang.
#![cfg(feature = "gpu")]

mod common;

use ruvllm::gpu::{Backend, GpuOptions};
use ruvllm::{Model, Precision, Session, SessionOptions};
use serde_json::Value;

fn model() -> Model {
    Model::open(common::default_model()).unwrap()
}

fn gpu_opts(n_ctx: usize, n_batch: usize, gpu: GpuOptions) -> SessionOptions {
    SessionOptions::new(n_ctx, n_batch).unwrap().with_backend(Backend::Gpu, gpu)
}

/// A GPU session, or `None` (with a message) when there is no adapter and none is required.
fn gpu_session(model: &Model, opts: SessionOptions) -> Option<Session<'_>> {
    match Session::new(model, opts) {
        Ok(s) => Some(s),
        Err(ruvllm::Error::Gpu(ruvllm::GpuError::NoAdapter { detail }))
            if std::env::var_os("RUVLLM_REQUIRE_GPU").is_none() =>
        {
            eprintln!("skipping the GPU model tests: no adapter ({detail})");
            None
        }
        Err(e) => panic!("GPU session: {e}"),
    }
}

fn log_softmax(logits: &[f32]) -> Vec<f64> {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
    let lse = max + logits.iter().map(|&l| (l as f64 - max).exp()).sum::<f64>().ln();
    logits.iter().map(|&l| l as f64 - lse).collect()
}

fn kl(p: &[f64], q: &[f64]) -> f64 {
    p.iter().zip(q).map(|(&a, &b)| a.exp() * (a - b)).sum()
}

/// Teacher-forced log-probabilities: after the prompt, then after each of `generated[..n-1]`
/// (evaluated as one batch when `batched`, else one token at a time as decoding does).
fn teacher_forced(s: &mut Session<'_>, prompt: &[u32], generated: &[u32], batched: bool) -> Vec<Vec<f64>> {
    s.truncate(0);
    s.eval(prompt, None).unwrap();
    let mut out = vec![log_softmax(s.logits())];
    let rest = &generated[..generated.len() - 1];
    if batched {
        s.eval(rest, Some(&mut |_, l: &[f32]| out.push(log_softmax(l)))).unwrap();
    } else {
        for &t in rest {
            s.eval(&[t], None).unwrap();
            out.push(log_softmax(s.logits()));
        }
    }
    out
}

fn ids(v: &Value) -> Vec<u32> {
    v.as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as u32).collect()
}

fn argmax(x: &[f64]) -> usize {
    (0..x.len()).fold(0, |b, j| if x[j] > x[b] { j } else { b })
}

/// How a session's teacher-forced logits compare with the CPU's best kernels'.
struct Comparison {
    mean_kl: f64,
    confident: usize,
    disagreements: Vec<String>,
}

/// Compares `other` with the CPU's best kernels (at `other`'s precision) on the first `n`
/// fixture continuations.
fn compare(model: &Model, other: &mut Session<'_>, n: usize, batched: bool) -> Comparison {
    let gpu = other;
    let text = std::fs::read_to_string(common::repo().join("tests/fixtures/llamacpp/greedy.jsonl")).unwrap();
    let precision = gpu.options().precision;
    let mut cpu = Session::new(model, SessionOptions::new(512, 128).unwrap().with_precision(precision)).unwrap();
    let (mut steps, mut kl_sum, mut confident) = (0, 0.0, 0);
    let mut disagreements = Vec::new();
    let mut worst: (f64, String) = (0.0, String::new());
    for line in text.lines().take(n) {
        let rec: Value = serde_json::from_str(line).unwrap();
        let name = rec["name"].as_str().unwrap();
        let (prompt, generated) = (ids(&rec["prompt_ids"]), ids(&rec["generated_ids"]));
        let c = teacher_forced(&mut cpu, &prompt, &generated, true);
        let g = teacher_forced(gpu, &prompt, &generated, batched);
        for (i, (c, g)) in c.iter().zip(&g).enumerate() {
            let k = kl(c, g);
            kl_sum += k;
            steps += 1;
            if k > worst.0 {
                worst = (k, format!("{name} step {i}"));
            }
            let top = argmax(c);
            let mut sorted = c.clone();
            sorted.sort_by(|a, b| b.total_cmp(a));
            if sorted[0] - sorted[1] >= 0.3 {
                confident += 1;
                if argmax(g) != top {
                    disagreements.push(format!(
                        "{name} step {i}: CPU {top} with margin {:.3}, other {}",
                        sorted[0] - sorted[1],
                        argmax(g)
                    ));
                }
            }
        }
    }
    let mean = kl_sum / steps as f64;
    eprintln!(
        "{} vs CPU ({}, {} precision): {steps} teacher-forced steps, top-1 differs on {} of the {confident} with margin >= 0.3, \
         mean KL {mean:.3e}, largest {:.3e} at {} {:?}",
        gpu.gpu_info().map_or("CPU (scalar kernels)".to_string(), |i| format!("GPU {}", i.adapter)),
        if batched { "batched" } else { "token by token" },
        precision.name(),
        disagreements.len(),
        worst.0,
        worst.1,
        disagreements
    );
    Comparison { mean_kl: mean, confident, disagreements }
}

/// The GPU's comparison is held to what the CPU's own scalar kernels reach (`spread`): a mean
/// KL within 1.5x of theirs, and top-1 disagreements on at most 1 % of the confident steps.
fn check(gpu: &Comparison, spread: &Comparison) {
    assert!(
        gpu.mean_kl < 1.5 * spread.mean_kl,
        "GPU mean KL {:.3e}; the CPU's scalar kernels differ by {:.3e}",
        gpu.mean_kl,
        spread.mean_kl
    );
    assert!(gpu.disagreements.len() * 100 <= gpu.confident, "{:?}", gpu.disagreements);
}

#[test]
fn teacher_forced_the_gpu_matches_the_cpu() {
    let model = model();
    let Some(mut gpu) = gpu_session(&model, gpu_opts(512, 128, GpuOptions::new())) else { return };
    eprintln!("adapter: {}", gpu.gpu_info().unwrap());
    let scalar_opts = SessionOptions::new(512, 128).unwrap().with_kernels(ruvllm::kernels::Kernels::scalar());
    let spread = compare(&model, &mut Session::new(&model, scalar_opts).unwrap(), 3, true);
    check(&compare(&model, &mut gpu, 3, true), &spread);
    // Token by token with the history split into parts of 16 positions (flash-decoding) from the
    // 17th position on.
    let split = GpuOptions::new().with_attention_split(16).unwrap();
    let Some(mut split_gpu) = gpu_session(&model, gpu_opts(512, 128, split)) else { return };
    check(&compare(&model, &mut split_gpu, 1, false), &spread);
}

/// At `Precision::High` (every linear's input paired) the GPU is held to a fixed bound: mean KL
/// to the CPU below 1e-4 — the issue asks 1e-3 of the f32 kernels — with the f32 kernels and
/// cache, and with the f16 cache where the adapter has shader-f16; and the CPU's top-1 on every
/// step where the CPU's margin is at least 0.3.
#[test]
fn at_high_precision_the_gpu_is_within_f32_rounding_of_the_cpu() {
    let model = model();
    let high = |gpu| gpu_opts(512, 128, gpu).with_precision(Precision::High);
    let Some(f32_gpu) = gpu_session(&model, high(GpuOptions::new().with_f32_only())) else { return };
    assert!(!f32_gpu.gpu_info().unwrap().kv_f16);
    let mut sessions = vec![(3, f32_gpu)];
    if let Some(gpu) = gpu_session(&model, high(GpuOptions::new())).filter(|g| g.gpu_info().unwrap().kv_f16) {
        sessions.push((2, gpu));
    }
    for (n, mut gpu) in sessions {
        let c = compare(&model, &mut gpu, n, true);
        let kv = if gpu.gpu_info().unwrap().kv_f16 { "f16" } else { "f32" };
        assert!(c.mean_kl < 1e-4, "{kv} cache: mean KL {:.3e}", c.mean_kl);
        assert!(c.disagreements.is_empty(), "{kv} cache: {:?}", c.disagreements);
    }
}

#[test]
fn weights_split_across_small_bindings_give_the_same_logits() {
    let model = model();
    // 2 MiB bindings: the 30 MB embedding/output matrix goes into 15 of them.
    let opts = GpuOptions::new().with_max_binding_bytes(2 << 20).unwrap();
    let Some(mut gpu) = gpu_session(&model, gpu_opts(512, 64, opts)) else { return };
    let Some(mut whole) = gpu_session(&model, gpu_opts(512, 64, GpuOptions::new())) else { return };
    let text = std::fs::read_to_string(common::repo().join("tests/fixtures/llamacpp/greedy.jsonl")).unwrap();
    let rec: Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    let (prompt, generated) = (ids(&rec["prompt_ids"]), ids(&rec["generated_ids"]));
    // The same kernels on the same inputs: the split changes where rows are read, not the sums.
    let (a, b) =
        (teacher_forced(&mut gpu, &prompt, &generated, true), teacher_forced(&mut whole, &prompt, &generated, true));
    assert_eq!(a, b);
}

/// Greedy tokens after `prompt` and the top-2 margin (logits) at each step.
fn greedy(s: &mut Session<'_>, prompt: &[u32], n: usize) -> Vec<(u32, f32)> {
    s.truncate(0);
    s.eval(prompt, None).unwrap();
    let mut out = Vec::new();
    for _ in 0..n {
        let l = s.logits();
        let top = (0..l.len()).fold(0, |b, j| if l[j] > l[b] { j } else { b });
        let second = l.iter().enumerate().filter(|&(j, _)| j != top).map(|(_, &v)| v).fold(f32::NEG_INFINITY, f32::max);
        out.push((top as u32, l[top] - second));
        s.eval(&[top as u32], None).unwrap();
    }
    out
}

#[test]
fn greedy_generation_on_the_gpu_follows_the_cpu_until_a_near_tie() {
    let model = model();
    let Some(mut gpu) = gpu_session(&model, gpu_opts(256, 64, GpuOptions::new())) else { return };
    let mut cpu = Session::new(&model, SessionOptions::new(256, 64).unwrap()).unwrap();
    let text = std::fs::read_to_string(common::repo().join("tests/fixtures/llamacpp/greedy.jsonl")).unwrap();
    let mut compared = 0;
    for line in text.lines().take(4) {
        let rec: Value = serde_json::from_str(line).unwrap();
        let prompt = ids(&rec["prompt_ids"]);
        let c = greedy(&mut cpu, &prompt, 24);
        let g = greedy(&mut gpu, &prompt, 24);
        // Up to the CPU's first step whose top-2 margin is under 0.3, the tokens must agree.
        let clear = c.iter().position(|&(_, m)| m < 0.3).unwrap_or(c.len());
        let (ct, gt): (Vec<u32>, Vec<u32>) =
            (c[..clear].iter().map(|t| t.0).collect(), g[..clear].iter().map(|t| t.0).collect());
        assert_eq!(gt, ct, "{}: GPU and CPU greedy tokens differ before any near-tie", rec["name"]);
        compared += clear;
    }
    eprintln!("greedy: {compared} tokens equal to the CPU's before the first near-tie of each prompt");
    assert!(compared >= 12, "only {compared} tokens were compared");
}

#[test]
fn no_adapter_is_a_clear_error_and_auto_falls_back_to_the_cpu() {
    let model = model();
    let opts = gpu_opts(64, 16, GpuOptions::new().with_adapter("no-such-adapter-anywhere"));
    let err = Session::new(&model, opts).unwrap_err();
    assert!(matches!(err, ruvllm::Error::Gpu(ruvllm::GpuError::NoAdapter { .. })), "{err}");
    assert!(err.to_string().contains("no-such-adapter-anywhere"), "{err}");
    let auto = SessionOptions::new(64, 16)
        .unwrap()
        .with_backend(Backend::Auto, GpuOptions::new().with_adapter("no-such-adapter-anywhere"));
    let mut s = Session::new(&model, auto).unwrap();
    assert_eq!(s.options().backend, Backend::Cpu);
    assert!(s.backend_note().unwrap().contains("GPU not used"), "{:?}", s.backend_note());
    s.eval(&[1, 2, 3], None).unwrap();
}

#[test]
fn a_lost_device_fails_the_next_call_instead_of_hanging() {
    let model = model();
    let Some(mut gpu) = gpu_session(&model, gpu_opts(64, 16, GpuOptions::new())) else { return };
    gpu.eval(&[1, 2, 3], None).unwrap();
    gpu.simulate_gpu_loss();
    let err = gpu.eval(&[4], None).unwrap_err();
    assert!(matches!(err, ruvllm::Error::Gpu(_)), "{err}");
    eprintln!("after the loss: {err}");
}

/// The browser's way of running the GPU (a wasm thread cannot block on a mapping): a session on
/// a device opened beforehand (`Session::with_gpu`) submits each step's work and returns; the
/// step loop waits for `on_ready` and steps again. A step taken before the logits are in must
/// do nothing; the tokens and text must be the blocking session's.
#[test]
fn a_deferred_readback_steps_like_the_browser_and_gives_the_blocking_sessions_tokens() {
    use ruvllm::generate::{CancelToken, GenerateParams, Generator};
    use ruvllm::sampler::SamplingParams;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    let model = model();
    let file = ruvllm::GgufFile::open(common::default_model()).unwrap();
    let tok = ruvllm::Tokenizer::from_gguf(&file, false).unwrap();
    let opts = gpu_opts(128, 8, GpuOptions::new());
    let Some(blocking) = gpu_session(&model, opts.clone()) else { return };
    let deferred = Session::with_gpu(&model, opts, ruvllm::gpu::Gpu::new(&GpuOptions::new()).unwrap()).unwrap();
    // 14 prompt tokens in batches of 8: two prompt steps, then 12 tokens.
    let (prompt, params) = ("1, 2, 3, 4, 5,", GenerateParams::new(12, SamplingParams::new(0).with_temperature(0.0)));
    let expected =
        Generator::with_session(&tok, blocking).generate(prompt, &params, &CancelToken::new(), &mut |_| {}).unwrap();

    let mut gen = Generator::with_session(&tok, deferred);
    let mut g = gen.begin(prompt, &params).unwrap();
    let (mut text, mut idle_steps, mut wakes) = (String::new(), 0, 0);
    while !g.is_finished() {
        gen.step(&mut g, &mut |p| text.push_str(p)).unwrap();
        if !gen.session().pending() {
            continue;
        }
        // The GPU is working: a step now changes nothing.
        let before = g.usage().clone();
        let finished = gen.step(&mut g, &mut |p| text.push_str(p)).unwrap();
        if gen.session().pending() {
            assert!(!finished);
            assert_eq!(
                (g.usage().prompt_evaluated, g.usage().generated_tokens),
                (before.prompt_evaluated, before.generated_tokens)
            );
            idle_steps += 1;
        }
        // Wait as the browser does: the callback fires once the logits can be taken.
        let woke = Arc::new(AtomicBool::new(false));
        let flag = woke.clone();
        gen.session_mut().on_ready(Box::new(move || flag.store(true, Ordering::SeqCst)));
        while !gen.ready(&mut g).unwrap() {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        wakes += woke.load(Ordering::SeqCst) as usize;
    }
    let done = g.into_completion();
    assert_eq!(done.tokens, expected.tokens);
    assert_eq!(text, expected.text);
    assert_eq!(done.finish_reason, expected.finish_reason);
    assert!(idle_steps > 0, "every readback was in before the next step: nothing waited");
    assert!(wakes > 0);
    // The waits count towards the phase that submitted the work.
    assert!(done.usage.prefill_ms > 0.0 && done.usage.decode_ms > 0.0);
    eprintln!(
        "deferred: {} tokens as the blocking session, {idle_steps} steps found the GPU busy, {wakes} wake-ups; \
         prefill {:.1} t/s, decode {:.1} t/s",
        done.tokens.len(),
        done.usage.prefill_tokens_per_s(),
        done.usage.decode_tokens_per_s()
    );
}
