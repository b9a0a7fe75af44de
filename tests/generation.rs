//! Generation as a user runs it: `ruvllm run --temperature 0` prints llama.cpp's greedy text for
//! prompts whose continuation has no near-tie, and a chat's second turn reuses the cache. (That
//! decoding allocates nothing is `tests/decode_alloc.rs`, alone in its process.)

mod common;

use std::process::Command;

use ruvllm::generate::{CancelToken, FinishReason, GenerateParams, Generator};
use ruvllm::sampler::SamplingParams;
use ruvllm::{GgufFile, Model, Session, SessionOptions, Tokenizer};
use serde_json::Value;

fn stable_prompts() -> Vec<Value> {
    let text = std::fs::read_to_string(common::repo().join("tests/fixtures/llamacpp/greedy.jsonl")).unwrap();
    text.lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|r| r["stable_first_32"].as_bool() == Some(true) && r["kind"] == "raw")
        .collect()
}

#[test]
fn run_at_temperature_zero_prints_llama_cpp_greedy_text() {
    let model = common::default_model();
    let file = GgufFile::open(&model).unwrap();
    let tok = Tokenizer::from_gguf(&file, false).unwrap();
    let prompts = stable_prompts();
    assert!(prompts.len() >= 3, "the oracle should provide stable raw prompts");
    for rec in prompts {
        let ids: Vec<u32> =
            rec["generated_ids"].as_array().unwrap()[..32].iter().map(|x| x.as_u64().unwrap() as u32).collect();
        let expected = tok.decode(&ids, false);
        let out = Command::new(env!("CARGO_BIN_EXE_ruvllm"))
            .args(["run", "--model", model.to_str().unwrap(), "--temperature", "0", "--max-tokens", "32"])
            .args(["--prompt", rec["prompt"].as_str().unwrap()])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let stdout = String::from_utf8(out.stdout).unwrap();
        assert_eq!(stdout.strip_suffix('\n').unwrap(), expected, "{}", rec["name"]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("t/s") && stderr.contains("32 generated"), "{stderr}");
    }
}

#[test]
fn second_chat_turn_reuses_the_cache_and_limits_are_errors() {
    let model = Model::open(common::default_model()).unwrap();
    let file = GgufFile::open(common::default_model()).unwrap();
    let tok = Tokenizer::from_gguf(&file, false).unwrap();
    let template = ruvllm::chat::ChatTemplate::from_gguf(&file, &tok).unwrap();
    let mut gen = Generator::new(&model, &tok, SessionOptions::new(512, 64).unwrap()).unwrap();
    let params = GenerateParams::new(8, SamplingParams::greedy()).with_parse_special(true).with_add_special(false);
    let mut messages = vec![ruvllm::chat::ChatMessage::new("user", "Name a colour.")];
    let first =
        gen.generate(&template.render(&messages, true).unwrap(), &params, &CancelToken::new(), &mut |_| {}).unwrap();
    assert_eq!(first.usage.prompt_evaluated, first.usage.prompt_tokens);
    messages.push(ruvllm::chat::ChatMessage::new("assistant", first.text.clone()));
    messages.push(ruvllm::chat::ChatMessage::new("user", "And another?"));
    let second =
        gen.generate(&template.render(&messages, true).unwrap(), &params, &CancelToken::new(), &mut |_| {}).unwrap();
    assert!(
        second.usage.prompt_evaluated < second.usage.prompt_tokens / 2,
        "second turn evaluated {} of {} prompt tokens",
        second.usage.prompt_evaluated,
        second.usage.prompt_tokens
    );
    // Cancelled before it starts: no tokens, a clear reason, and the generator stays usable.
    let cancel = CancelToken::new();
    cancel.cancel();
    let c = gen.generate("Hello", &GenerateParams::new(8, SamplingParams::greedy()), &cancel, &mut |_| {}).unwrap();
    assert_eq!(c.finish_reason, FinishReason::Cancelled);
    let ok = gen
        .generate("Hello", &GenerateParams::new(2, SamplingParams::greedy()), &CancelToken::new(), &mut |_| {})
        .unwrap();
    assert_eq!(ok.usage.generated_tokens, 2);
    // A prompt longer than the context is an error, or truncated when asked.
    let long = "word ".repeat(600);
    let err = gen
        .generate(&long, &GenerateParams::new(4, SamplingParams::greedy()), &CancelToken::new(), &mut |_| {})
        .unwrap_err();
    assert!(err.to_string().contains("context is full"), "{err}");
    let params = GenerateParams::new(4, SamplingParams::greedy()).with_truncate_prompt(true);
    assert!(gen.generate(&long, &params, &CancelToken::new(), &mut |_| {}).is_ok());
}

/// The issue asks for this to be reported without a threshold: how many greedy tokens ruvllm
/// generates before it first parts from llama.cpp, free-running, on every oracle prompt. Prompts
/// the oracle marks as free of near-ties in 32 steps must agree for those 32.
#[test]
fn free_running_greedy_common_prefix_with_llama_cpp() {
    let model = Model::open(common::default_model()).unwrap();
    let text = std::fs::read_to_string(common::repo().join("tests/fixtures/llamacpp/greedy.jsonl")).unwrap();
    let mut report = Vec::new();
    for rec in text.lines().map(|l| serde_json::from_str::<Value>(l).unwrap()) {
        let ids =
            |k: &str| -> Vec<u32> { rec[k].as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as u32).collect() };
        let (prompt, theirs) = (ids("prompt_ids"), ids("generated_ids"));
        let mut s = Session::new(&model, SessionOptions::new(256, 64).unwrap()).unwrap();
        s.eval(&prompt, None).unwrap();
        let mut common = 0;
        for &t in &theirs {
            let ours = s
                .logits()
                .iter()
                .enumerate()
                .fold((0, f32::NEG_INFINITY), |b, (i, &v)| if v > b.1 { (i, v) } else { b })
                .0;
            if ours as u32 != t {
                break;
            }
            common += 1;
            s.eval(&[t], None).unwrap();
        }
        let name = rec["name"].as_str().unwrap().to_string();
        if rec["stable_first_32"].as_bool() == Some(true) {
            assert!(common >= 32, "{name}: parted from llama.cpp after {common} tokens on a prompt without near-ties");
        }
        report.push(format!("{name} {common}/{}", theirs.len()));
    }
    eprintln!("free-running greedy, tokens equal to llama.cpp before the first difference: {}", report.join(", "));
}

#[test]
fn stepping_equals_generate_and_a_stopped_generation_leaves_the_cache_usable() {
    let model = Model::open(common::default_model()).unwrap();
    let file = GgufFile::open(common::default_model()).unwrap();
    let tok = Tokenizer::from_gguf(&file, false).unwrap();
    // A small batch so the prompt takes several steps.
    let opts = SessionOptions::new(256, 4).unwrap();
    let prompt = "Once upon a time, there was a little girl who lived in a village near the forest.";
    let params = GenerateParams::new(24, SamplingParams::greedy());
    let mut reference = Generator::new(&model, &tok, opts.clone()).unwrap();
    let whole = reference.generate(prompt, &params, &CancelToken::new(), &mut |_| {}).unwrap();
    assert_eq!(whole.finish_reason, FinishReason::Length);

    let mut gen = Generator::new(&model, &tok, opts).unwrap();
    let mut g = gen.begin(prompt, &params).unwrap();
    let (mut pieces, mut steps) = (String::new(), 0);
    while !gen.step(&mut g, &mut |p| pieces.push_str(p)).unwrap() {
        steps += 1;
    }
    assert!(steps > tok.encode(prompt, true, false).len() / 4, "{steps} steps: one per prompt batch and token");
    assert_eq!(pieces, whole.text);
    let stepped = g.into_completion();
    assert_eq!((stepped.text.as_str(), &stepped.tokens), (whole.text.as_str(), &whole.tokens));
    assert_eq!(stepped.usage.generated_tokens, 24);
    assert_eq!(stepped.usage.prompt_evaluated, stepped.usage.prompt_tokens);

    // Stop one mid-prompt and one mid-decode: each finishes as cancelled, and the next request
    // gives exactly the text of a fresh generator (the KV cache holds only what was evaluated).
    for stop_after in [1, 12] {
        let mut g = gen.begin("The capital of France is", &params).unwrap();
        for _ in 0..stop_after {
            if gen.step(&mut g, &mut |_| {}).unwrap() {
                break;
            }
        }
        gen.stop(&mut g, &mut |_| {});
        assert!(gen.step(&mut g, &mut |_| panic!("no text after stop")).unwrap());
        assert_eq!(g.finish_reason(), Some(FinishReason::Cancelled));
        let again = gen.generate(prompt, &params, &CancelToken::new(), &mut |_| {}).unwrap();
        assert_eq!(again.text, whole.text, "after a stop at step {stop_after}");
    }
}
