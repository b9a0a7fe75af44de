//! The model judged the way llama.cpp judges itself, against two oracles:
//! - llama.cpp's greedy continuations with their logits (`tests/fixtures/llamacpp/greedy.jsonl`)
//!   and perplexity (`perplexity.json`), from `scripts/oracle/llamacpp/`;
//! - an exact float64 forward pass over gguf-py-dequantized weights
//!   (`tests/fixtures/reference/greedy.reference.jsonl`, from `scripts/oracle/reference_fixtures.py`).
//!
//! Teacher-forced on llama.cpp's own continuations, ruvllm must pick llama.cpp's top-1 token
//! wherever llama.cpp is confident (and the exact reference does not contradict it), be at least
//! as close to the float64 reference as llama.cpp is (mean KL), and reproduce llama.cpp's
//! perplexity within 0.5 %.

mod common;

use std::collections::HashMap;

use ruvllm::{Model, Precision, Session, SessionOptions};
use serde_json::Value;

fn jsonl(path: &str) -> Vec<Value> {
    let text = std::fs::read_to_string(common::repo().join(path)).unwrap();
    text.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

fn ids(v: &Value) -> Vec<u32> {
    v.as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as u32).collect()
}

fn log_softmax(logits: &[f32]) -> Vec<f64> {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
    let lse = max + logits.iter().map(|&l| (l as f64 - max).exp()).sum::<f64>().ln();
    logits.iter().map(|&l| l as f64 - lse).collect()
}

/// KL(P || Q) over the given ids plus one bucket for all other tokens.
fn kl_bucketed(p: &[f64], q: &[f64]) -> f64 {
    let (ps, qs): (f64, f64) = (p.iter().map(|l| l.exp()).sum(), q.iter().map(|l| l.exp()).sum());
    let mut kl: f64 = p.iter().zip(q).map(|(&lp, &lq)| lp.exp() * (lp - lq)).sum();
    let (pr, qr) = ((1.0 - ps).max(1e-300), (1.0 - qs).max(1e-300));
    kl += pr * (pr / qr).ln();
    kl
}

/// Teacher-forced logits of `generated` after `prompt`: one log-softmax per generated token.
fn teacher_forced(model: &Model, prompt: &[u32], generated: &[u32], precision: Precision) -> Vec<Vec<f64>> {
    let mut s = Session::new(model, SessionOptions::new(512, 128).unwrap().with_precision(precision)).unwrap();
    s.eval(prompt, None).unwrap();
    let mut out = vec![log_softmax(s.logits())];
    s.eval(&generated[..generated.len() - 1], Some(&mut |_, l: &[f32]| out.push(log_softmax(l)))).unwrap();
    out
}

/// The bounds every model is held to, the bar:
/// - mean KL from the float64 reference no larger than llama.cpp's. ruvllm quantizes the
///   attention's Q/K/V inputs as value-and-residual pairs (`ops::quantize_rows_paired`), which
///   takes out the largest share of the activation rounding that both runtimes otherwise share:
///   measured, 37 % below llama.cpp on Q4_1, 41 % on Q8_0, 20 % on Q4_K, 29 % on Q6_K.
/// - llama.cpp's top-1 token wherever llama.cpp's top-2 margin is at least 0.3, unless the exact
///   reference says llama.cpp is not entitled to that confidence: it prefers ruvllm's token, or
///   its own margin between the two tokens is under 0.3 (llama.cpp's noise widened a near-tie).
///   Every such step is printed. Measured, none on Q4_1; on the requantized models 7 of ~2800,
///   4 where the reference sides with ruvllm and 3 where its margin is 0.14-0.22.
fn check_report(name: &str, rep: &Report) {
    for d in &rep.disagreements {
        eprintln!("{name}: top-1 differs where llama.cpp is confident: {}", d.text);
    }
    assert!(rep.kl_ours <= rep.kl_llama, "{name}: KL {:.3e} vs llama.cpp {:.3e}", rep.kl_ours, rep.kl_llama);
    let wrong: Vec<&str> = rep
        .disagreements
        .iter()
        .filter(|d| d.reference_margin.is_none_or(|m| m <= -0.3))
        .map(|d| d.text.as_str())
        .collect();
    assert!(
        wrong.is_empty(),
        "{name}: top-1 differs where llama.cpp and the exact reference agree:\n{}",
        wrong.join("\n")
    );
}

/// A confident llama.cpp step where ruvllm's top-1 differs.
struct Disagreement {
    text: String,
    /// The reference's log-probability of ruvllm's token minus llama.cpp's (`None` if either is
    /// outside the reference's top 40).
    reference_margin: Option<f64>,
}

struct Report {
    steps: usize,
    agree: usize,
    confident: usize,
    disagreements: Vec<Disagreement>,
    kl_ours: f64,
    kl_llama: f64,
}

/// Teacher-forces `model` on llama.cpp's greedy fixture at `dir` and compares with it and with
/// the float64 reference fixture at `reference`.
fn teacher_forced_report(model: &Model, dir: &str, reference: &str, precision: Precision) -> Report {
    let llama = jsonl(&format!("{dir}/greedy.jsonl"));
    let reference: HashMap<String, Value> =
        jsonl(reference).into_iter().map(|r| (r["name"].as_str().unwrap().to_string(), r)).collect();
    let mut rep = Report { steps: 0, agree: 0, confident: 0, disagreements: Vec::new(), kl_ours: 0.0, kl_llama: 0.0 };
    for rec in &llama {
        let name = rec["name"].as_str().unwrap();
        let prompt = ids(&rec["prompt_ids"]);
        let generated = ids(&rec["generated_ids"]);
        let ours = teacher_forced(model, &prompt, &generated, precision);
        let r = &reference[name];
        assert_eq!(ids(&r["generated_ids"]), generated, "{name}: reference fixture is for other tokens");
        for (i, step) in rec["steps"].as_array().unwrap().iter().enumerate() {
            let lp = &ours[i];
            let top1 = (0..lp.len()).fold(0, |b, j| if lp[j] > lp[b] { j } else { b });
            let theirs = step["token"].as_u64().unwrap() as usize;
            let margin = step["margin"].as_f64().unwrap();
            rep.steps += 1;
            rep.agree += usize::from(top1 == theirs);
            if margin >= 0.3 {
                rep.confident += 1;
                if top1 != theirs {
                    let rs = &r["steps"][i];
                    let ref_lp = |id: usize| {
                        let at = rs["top_ids"].as_array().unwrap().iter().position(|x| x.as_u64() == Some(id as u64));
                        at.map(|j| rs["top_logprobs"][j].as_f64().unwrap())
                    };
                    let reference_margin = ref_lp(top1).zip(ref_lp(theirs)).map(|(a, b)| a - b);
                    let text = format!(
                        "{name} step {i}: llama.cpp {theirs} (margin {margin:.3}), ruvllm {top1} (margin {:.3}), \
                         exact reference {} (ruvllm's token minus llama.cpp's: {})",
                        lp[top1] - lp[theirs],
                        rs["argmax"],
                        reference_margin.map_or("outside its top 40".into(), |m| format!("{m:.3}"))
                    );
                    rep.disagreements.push(Disagreement { text, reference_margin });
                }
            }
            // KL from the reference, over the reference's top ids that llama.cpp also reported.
            let lse = step["logsumexp"].as_f64().unwrap();
            let llama_lp: HashMap<u64, f64> = step["top"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| (t[0].as_u64().unwrap(), t[1].as_f64().unwrap() - lse))
                .collect();
            let rs = &r["steps"][i];
            let (mut p, mut q_ours, mut q_llama) = (Vec::new(), Vec::new(), Vec::new());
            for (id, lpr) in rs["top_ids"].as_array().unwrap().iter().zip(rs["top_logprobs"].as_array().unwrap()) {
                let id = id.as_u64().unwrap();
                if let Some(&l) = llama_lp.get(&id) {
                    p.push(lpr.as_f64().unwrap());
                    q_llama.push(l);
                    q_ours.push(lp[id as usize]);
                }
            }
            rep.kl_ours += kl_bucketed(&p, &q_ours);
            rep.kl_llama += kl_bucketed(&p, &q_llama);
        }
    }
    rep.kl_ours /= rep.steps as f64;
    rep.kl_llama /= rep.steps as f64;
    eprintln!(
        "{dir} ({} precision): teacher-forced over {} steps: top-1 equal to llama.cpp at {}; {} steps with margin >= 0.3, {} disagree; \
         mean KL from float64 reference: ruvllm {:.3e}, llama.cpp {:.3e}",
        precision.name(),
        rep.steps,
        rep.agree,
        rep.confident,
        rep.disagreements.len(),
        rep.kl_ours,
        rep.kl_llama
    );
    rep
}

/// [`teacher_forced_report`] of the default model at `precision`, checked by [`check_report`].
fn default_model_report(precision: Precision) -> Report {
    let model = Model::open(common::default_model()).unwrap();
    let rep = teacher_forced_report(
        &model,
        "tests/fixtures/llamacpp",
        "tests/fixtures/reference/greedy.reference.jsonl",
        precision,
    );
    check_report(&format!("default Q4_1, {} precision", precision.name()), &rep);
    rep
}

#[test]
fn teacher_forced_against_llama_cpp_and_the_float64_reference() {
    default_model_report(Precision::Standard);
}

/// At `Precision::High` every linear's input is a value-and-residual pair, and what is left
/// between ruvllm and the exact float64 forward pass over the same weights is f32 arithmetic:
/// the mean KL must be under a thousandth of llama.cpp's (measured: 1.4e-7 against 1.7e-3), and
/// every confident top-1 that differs from llama.cpp's must be one the reference does not give
/// it (measured: one step, where the reference prefers ruvllm's token by 0.22).
#[test]
fn high_precision_is_a_thousand_times_closer_to_the_exact_forward_pass_than_llama_cpp() {
    let rep = default_model_report(Precision::High);
    assert!(rep.kl_ours * 1000.0 <= rep.kl_llama, "KL {:.3e} vs llama.cpp {:.3e}", rep.kl_ours, rep.kl_llama);
}

#[test]
fn perplexity_matches_llama_cpp_within_half_a_percent() {
    let model = Model::open(common::default_model()).unwrap();
    let text = std::fs::read_to_string(common::repo().join("tests/fixtures/llamacpp/perplexity.json")).unwrap();
    let fx: Value = serde_json::from_str(&text).unwrap();
    let tokens = ids(&fx["tokens"]);
    let n_ctx = fx["n_ctx"].as_u64().unwrap() as usize;
    let first = fx["first_scored_position"].as_u64().unwrap() as usize;
    let ppl = ruvllm::perplexity::perplexity(&model, &tokens, n_ctx, first).unwrap();
    let theirs = fx["perplexity"].as_f64().unwrap();
    eprintln!("perplexity: ruvllm {:.4} over {} tokens, llama.cpp {theirs:.4}", ppl.perplexity, ppl.count);
    assert_eq!(ppl.count as u64, fx["count"].as_u64().unwrap());
    assert!((ppl.perplexity / theirs - 1.0).abs() < 0.005, "ruvllm {} vs llama.cpp {theirs}", ppl.perplexity);
}

/// The default model requantized to `ty` by ruvllm's own quantizer (cached under the test
/// target's temporary directory), checked byte-for-byte against the file llama.cpp was run on
/// (the SHA-256 recorded in `tests/fixtures/llamacpp/<name>/meta.json`).
fn requantized(ty: ruvllm::GgmlType, name: &str) -> Model {
    use sha2::{Digest, Sha256};
    let meta: Value = serde_json::from_str(
        &std::fs::read_to_string(common::repo().join(format!("tests/fixtures/llamacpp/{name}/meta.json"))).unwrap(),
    )
    .unwrap();
    let want = meta["model_sha256"].as_str().unwrap();
    let path = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("smollm2-{name}.gguf"));
    let sha = |p: &std::path::Path| -> Option<String> {
        let bytes = std::fs::read(p).ok()?;
        Some(Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect())
    };
    if sha(&path).as_deref() != Some(want) {
        let src = ruvllm::GgufFile::open(common::default_model()).unwrap();
        let mut out = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
        ruvllm::requantize::requantize(&src, ty, &mut out).unwrap();
        std::io::Write::flush(&mut out).unwrap();
    }
    assert_eq!(sha(&path).as_deref(), Some(want), "ruvllm quantize {name} is not the file llama.cpp judged");
    Model::open(&path).unwrap()
}

/// Perplexity over the first `chunks` chunks equals llama.cpp's running figure there within 0.5 %
/// (over all of them for the requantized models: two chunks alone differ by up to 0.8 %, the
/// noise of 510 scored tokens; the whole text agrees within 0.25 %).
fn check_partial_perplexity(model: &Model, dir: &str, chunks: usize) {
    let fx: Value =
        serde_json::from_str(&std::fs::read_to_string(common::repo().join(format!("{dir}/perplexity.json"))).unwrap())
            .unwrap();
    let n_ctx = fx["n_ctx"].as_u64().unwrap() as usize;
    let first = fx["first_scored_position"].as_u64().unwrap() as usize;
    let tokens = ids(&common::read_json(&common::repo().join("tests/fixtures/llamacpp/perplexity.json"))["tokens"]);
    let ours = ruvllm::perplexity::perplexity(model, &tokens[..chunks * n_ctx], n_ctx, first).unwrap();
    let theirs = fx["chunks"][chunks - 1]["ppl_running"].as_f64().unwrap();
    eprintln!("{dir}: perplexity over {chunks} chunks: ruvllm {:.4}, llama.cpp {theirs:.4}", ours.perplexity);
    assert!((ours.perplexity / theirs - 1.0).abs() < 0.005, "{dir}: ruvllm {} vs llama.cpp {theirs}", ours.perplexity);
}

fn check_requantized(ty: ruvllm::GgmlType, name: &str) {
    let model = requantized(ty, name);
    let dir = format!("tests/fixtures/llamacpp/{name}");
    let rep = teacher_forced_report(
        &model,
        &dir,
        &format!("tests/fixtures/reference/{name}/greedy.reference.jsonl"),
        Precision::Standard,
    );
    check_report(name, &rep);
    let chunks =
        common::read_json(&common::repo().join(format!("{dir}/perplexity.json")))["chunks"].as_array().unwrap().len();
    check_partial_perplexity(&model, &dir, chunks);
}

#[test]
fn requantized_q8_0_against_llama_cpp_running_the_same_file() {
    check_requantized(ruvllm::GgmlType::Q8_0, "q8_0");
}

#[test]
fn requantized_q4_k_against_llama_cpp_running_the_same_file() {
    check_requantized(ruvllm::GgmlType::Q4_K, "q4_k");
}

#[test]
fn requantized_q6_k_against_llama_cpp_running_the_same_file() {
    check_requantized(ruvllm::GgmlType::Q6_K, "q6_k");
}
