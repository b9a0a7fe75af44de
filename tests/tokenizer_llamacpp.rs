//! Tokenization identical to llama.cpp's on every fixture string
//! (`tests/fixtures/llamacpp/tokenize.jsonl`, from `scripts/oracle/llamacpp/`), with and without
//! special-token parsing, and detokenization (whole and streamed) equal to its pieces.

mod common;

use ruvllm::tokenizer::StreamDecoder;
use ruvllm::{GgufFile, Tokenizer};
use serde_json::Value;

fn ids(v: &Value) -> Vec<u32> {
    v.as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as u32).collect()
}

#[test]
fn tokenization_matches_llama_cpp_on_every_fixture_string() {
    let file = GgufFile::open(common::default_model()).unwrap();
    let tok = Tokenizer::from_gguf(&file, false).unwrap();
    let text = std::fs::read_to_string(common::repo().join("tests/fixtures/llamacpp/tokenize.jsonl")).unwrap();
    let mut n = 0;
    let mut failures = Vec::new();
    for line in text.lines() {
        let rec: Value = serde_json::from_str(line).unwrap();
        let name = rec["name"].as_str().unwrap();
        let input = rec["text"].as_str().unwrap();
        for (special, key) in [(false, "ids"), (true, "ids_special")] {
            let expected = ids(&rec[key]);
            let got = tok.encode(input, false, special);
            if got != expected {
                failures.push(format!(
                    "{name} (parse_special={special}) {input:?}\n  llama.cpp {expected:?}\n  ruvllm    {got:?}"
                ));
            }
        }
        let expected_ids = ids(&rec["ids_special"]);
        assert_eq!(tok.decode(&expected_ids, true), rec["detok_special"].as_str().unwrap(), "{name}: detokenize");
        assert_eq!(tok.decode(&expected_ids, false), rec["detok_special_skip"].as_str().unwrap(), "{name}: detokenize");
        // Streaming, one token at a time, concatenates to the whole decode.
        let mut stream = StreamDecoder::new();
        let mut streamed = String::new();
        for &id in &expected_ids {
            streamed.push_str(stream.push(&tok, id, true));
        }
        streamed.push_str(&stream.finish());
        assert_eq!(streamed, tok.decode(&expected_ids, true), "{name}: streamed decode");
        n += 1;
    }
    assert!(failures.is_empty(), "{} of {} strings differ:\n{}", failures.len(), n, failures.join("\n"));
    assert!(n >= 60, "only {n} fixture strings");
}
