//! `ruvllm inspect` as a user runs it: on the default model, with --json, and on every malformed
//! file (one error line on stderr, exit status 1, never a panic).

mod common;

use std::process::Command;

fn ruvllm(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_ruvllm")).args(args).output().unwrap()
}

#[test]
fn inspect_prints_header_metadata_and_tensor_table() {
    let model = common::default_model();
    let out = ruvllm(&["inspect", model.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("GGUF v3, 98362432 bytes"), "{text}");
    assert!(text.contains("33 metadata keys:"));
    assert!(text.contains("llama.attention.head_count_kv (u32) = 3"));
    assert!(text.contains("tokenizer.ggml.tokens (array of 49152 string) = [\"<|endoftext|>\""));
    assert!(text.contains("... (49152 string elements)]"), "long arrays are summarised");
    assert!(text.contains("272 tensors, 134515008 parameters"));
    let row = text.lines().find(|l| l.contains("token_embd.weight")).unwrap();
    let cols: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(cols, ["0", "token_embd.weight", "Q8_0", "[576,", "49152]", "30081024", "1785664"]);
}

#[test]
fn inspect_json_has_the_same_content() {
    let model = common::default_model();
    let out = ruvllm(&["inspect", "--json", model.to_str().unwrap()]);
    assert!(out.status.success());
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["version"], 3);
    assert_eq!(doc["metadata"].as_array().unwrap().len(), 33);
    let tensors = doc["tensors"].as_array().unwrap();
    assert_eq!(tensors.len(), 272);
    assert_eq!(tensors[2]["name"], "blk.0.ffn_down.weight");
    assert_eq!(tensors[2]["type"], "Q4_1");
    assert_eq!(tensors[2]["shape"], serde_json::json!([1536, 576]));
    let tokens = doc["metadata"].as_array().unwrap().iter().find(|m| m["key"] == "tokenizer.ggml.tokens").unwrap();
    assert_eq!(tokens["value"]["len"], 49152);
    assert_eq!(tokens["value"]["truncated"], true);
}

#[test]
fn malformed_files_give_one_error_line_and_exit_1() {
    let dir = common::repo().join("tests/fixtures/malformed");
    let manifest = std::fs::read_to_string(dir.join("manifest.tsv")).unwrap();
    for line in manifest.lines().filter(|l| !l.starts_with('#')) {
        let file = line.split('\t').next().unwrap();
        if file.starts_with("unsupported_") {
            continue; // valid files: inspect shows them (see below)
        }
        let out = ruvllm(&["inspect", dir.join(file).to_str().unwrap()]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{file}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{file}: {stderr}");
        assert!(stderr.starts_with("ruvllm: error: "), "{file}: {stderr}");
        assert!(out.stdout.is_empty(), "{file}: partial output on stdout");
    }
}

#[test]
fn unsupported_types_are_shown_and_flagged() {
    let path = common::repo().join("tests/fixtures/malformed/unsupported_iq2_xxs.gguf");
    let out = ruvllm(&["inspect", path.to_str().unwrap()]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("IQ2_XXS") && text.contains("(type not supported by this runtime)"), "{text}");
}

#[test]
fn missing_file_and_bad_arguments_are_clear_errors() {
    let out = ruvllm(&["inspect", "/nonexistent/x.gguf"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("cannot open /nonexistent/x.gguf"), "{stderr}");
    let out = ruvllm(&["inspekt"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn chat_runs_two_turns_from_stdin_and_reuses_the_cache() {
    use std::io::Write;
    use std::process::Stdio;
    let model = common::default_model();
    let mut child = Command::new(env!("CARGO_BIN_EXE_ruvllm"))
        .args(["chat", "--model", model.to_str().unwrap(), "--temperature", "0", "--max-tokens", "12"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"What is 2+2?\nAnd 3+3?\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(stdout.matches("> ").count(), 3, "{stdout}");
    let stderr = String::from_utf8(out.stderr).unwrap();
    let evaluated: Vec<(usize, usize)> = stderr
        .lines()
        .filter_map(|l| {
            let l = l.strip_prefix("ruvllm: ")?;
            let total: usize = l.split_whitespace().next()?.parse().ok()?;
            let evaluated: usize = l.split('(').nth(1)?.split_whitespace().next()?.parse().ok()?;
            Some((total, evaluated))
        })
        .collect();
    assert_eq!(evaluated.len(), 2, "{stderr}");
    assert_eq!(evaluated[0].0, evaluated[0].1);
    assert!(evaluated[1].1 < evaluated[1].0 / 2, "second turn re-evaluated its whole prompt: {stderr}");
}

#[test]
fn a_model_without_chat_template_needs_one_passed() {
    let tiny = common::repo().join("tests/fixtures/spm/tiny-spm.gguf");
    let tiny = tiny.to_str().unwrap();
    let out = ruvllm(&["run", "--model", tiny, "--chat", "--prompt", "hi", "--max-tokens", "2"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("no tokenizer.chat_template") && stderr.contains("--chat-template"), "{stderr}");
    let template = std::env::temp_dir().join(format!("ruvllm-template-{}.jinja", std::process::id()));
    std::fs::write(&template, "{% for m in messages %}{{ m.role }}: {{ m.content }}\n{% endfor %}").unwrap();
    let out = ruvllm(&[
        "run",
        "--model",
        tiny,
        "--chat",
        "--prompt",
        "hello world",
        "--max-tokens",
        "2",
        "--chat-template",
        template.to_str().unwrap(),
    ]);
    std::fs::remove_file(&template).unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

/// `ruvllm perplexity` as llama-perplexity prints it, at both precisions (the high one runs
/// every linear from paired activations and lands closer to the exact perplexity; both within a
/// percent of each other), and a precision it does not know is a usage error.
#[test]
fn perplexity_runs_at_both_precisions() {
    let model = common::default_model();
    let text = std::fs::read_to_string(common::repo().join("tests/fixtures/llamacpp/alice_ch1-2.txt")).unwrap();
    let file = std::env::temp_dir().join(format!("ruvllm-cli-ppl-{}.txt", std::process::id()));
    std::fs::write(&file, &text[..3000]).unwrap();
    let ppl = |precision: &str| {
        let args = ["perplexity", "--model", model.to_str().unwrap(), "--backend", "cpu", "--ctx", "128"];
        let out = ruvllm(&[&args[..], &["--precision", precision, "--file", file.to_str().unwrap()]].concat());
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let stdout = String::from_utf8(out.stdout).unwrap();
        let line =
            stdout.lines().find(|l| l.starts_with("Final estimate: PPL = ")).unwrap_or_else(|| panic!("{stdout}"));
        line["Final estimate: PPL = ".len()..].split(' ').next().unwrap().parse::<f64>().unwrap()
    };
    let (standard, high) = (ppl("standard"), ppl("high"));
    eprintln!("perplexity over the first 3000 characters, chunks of 128: standard {standard}, high {high}");
    assert!(standard > 1.0 && (high / standard - 1.0).abs() < 0.01, "{standard} vs {high}");
    assert_ne!(standard, high, "the precisions quantize differently");
    let out = ruvllm(&["perplexity", "--precision", "exact", "--file", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("expected standard or high"));
    std::fs::remove_file(&file).unwrap();
}
