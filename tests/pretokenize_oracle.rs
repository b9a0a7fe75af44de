//! Every pre-tokenizer split against the oracle (`tests/fixtures/pretokenize/splits.jsonl`,
//! written by `scripts/oracle/pretokenize_fixtures.py` with llama.cpp's regex lists and checked
//! against llama.cpp's own `unicode_regex_split`).

mod common;

use ruvllm::tokenizer::PreTokenizer;
use serde_json::Value;

#[test]
fn every_pre_tokenizer_splits_like_llama_cpp() {
    let text = std::fs::read_to_string(common::repo().join("tests/fixtures/pretokenize/splits.jsonl")).unwrap();
    let mut failures = Vec::new();
    let mut n = 0;
    for line in text.lines() {
        let rec: Value = serde_json::from_str(line).unwrap();
        let pre = rec["pre"].as_str().unwrap();
        let input = rec["text"].as_str().unwrap();
        let expected: Vec<&str> = rec["pieces"].as_array().unwrap().iter().map(|p| p.as_str().unwrap()).collect();
        let p = PreTokenizer::from_name(pre).unwrap_or_else(|e| panic!("{pre}: {e}"));
        let mut ranges = Vec::new();
        p.split(input, &mut ranges);
        let got: Vec<&str> = ranges.into_iter().map(|r| &input[r]).collect();
        if got != expected {
            failures.push(format!("{pre} {input:?}\n  expected {expected:?}\n  got      {got:?}"));
        }
        n += 1;
    }
    assert!(failures.is_empty(), "{} of {n} splits differ:\n{}", failures.len(), failures.join("\n"));
    assert!(n >= 7 * 60);
}
