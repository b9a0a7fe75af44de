//! The SentencePiece-style tokenizer (`tokenizer.ggml.model = llama`) against llama.cpp on a tiny
//! SPM model (`tests/fixtures/spm/`, written by `scripts/oracle/spm_fixtures.py`): tokenization
//! with and without BOS and special-token parsing, detokenization, and every token's piece.

mod common;

use ruvllm::tokenizer::{StreamDecoder, TokenType};
use ruvllm::{GgufFile, Tokenizer};
use serde_json::Value;

fn ids(v: &Value) -> Vec<u32> {
    v.as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as u32).collect()
}

fn fixture(name: &str) -> String {
    std::fs::read_to_string(common::repo().join("tests/fixtures/spm").join(name)).unwrap()
}

/// llama.cpp's `token_to_piece(id, lstrip=0, special=true)` of every token, from pieces.jsonl.
fn special_pieces() -> Vec<Vec<u8>> {
    fixture("pieces.jsonl")
        .lines()
        .map(|line| {
            let rec: Value = serde_json::from_str(line).unwrap();
            unhex(rec["piece_special_hex"].as_str().unwrap())
        })
        .collect()
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

fn tokenizer() -> Tokenizer {
    let file = GgufFile::open(common::repo().join("tests/fixtures/spm/tiny-spm.gguf")).unwrap();
    Tokenizer::from_gguf(&file, false).unwrap()
}

#[test]
fn spm_tokenization_matches_llama_cpp_on_every_fixture_string() {
    let tok = tokenizer();
    let pieces = special_pieces();
    let mut n = 0;
    let mut failures = Vec::new();
    for line in fixture("tokenize.jsonl").lines() {
        let rec: Value = serde_json::from_str(line).unwrap();
        let name = rec["name"].as_str().unwrap();
        let input = rec["text"].as_str().unwrap();
        for (add_special, parse_special, key) in [
            (false, false, "ids"),
            (false, true, "ids_special"),
            (true, false, "ids_bos"),
            (true, true, "ids_bos_special"),
        ] {
            let expected = ids(&rec[key]);
            let got = tok.encode(input, add_special, parse_special);
            if got != expected {
                failures.push(format!(
                    "{name} (add_special={add_special}, parse_special={parse_special}) {input:?}\n  llama.cpp {expected:?}\n  ruvllm    {got:?}"
                ));
            }
        }
        // llama_detokenize(ids, remove_special=false, unparse_special)
        for (ids_key, special, key) in [
            ("ids", false, "detok"),
            ("ids_special", true, "detok_special"),
            ("ids_special", false, "detok_special_skip"),
            ("ids_bos", false, "detok_bos"),
            ("ids_bos_special", true, "detok_bos_special"),
            ("ids_bos_special", false, "detok_bos_special_skip"),
        ] {
            let expected = rec[key].as_str().unwrap();
            let got = tok.decode(&ids(&rec[ids_key]), special);
            if got != expected {
                failures.push(format!("{name}: {key} of {ids_key}\n  llama.cpp {expected:?}\n  ruvllm    {got:?}"));
            }
        }
        // Streaming (what generation prints) concatenates every token's whole piece, as
        // llama.cpp's token_to_piece with lstrip 0 (pieces.jsonl): no leading space is removed.
        let mut stream = StreamDecoder::new();
        let mut streamed = String::new();
        let mut expected = Vec::new();
        for id in ids(&rec["ids_bos_special"]) {
            streamed.push_str(stream.push(&tok, id, true));
            expected.extend_from_slice(&pieces[id as usize]);
        }
        streamed.push_str(&stream.finish());
        if streamed != String::from_utf8_lossy(&expected) {
            failures.push(format!("{name}: streamed decode {streamed:?}"));
        }
        n += 1;
    }
    assert!(failures.is_empty(), "{} differences over {} strings:\n{}", failures.len(), n, failures.join("\n"));
    assert!(n >= 40, "only {n} fixture strings");
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn spm_pieces_match_llama_cpp_token_to_piece() {
    let tok = tokenizer();
    let mut n = 0;
    let mut failures = Vec::new();
    for line in fixture("pieces.jsonl").lines() {
        let rec: Value = serde_json::from_str(line).unwrap();
        let id = rec["id"].as_u64().unwrap() as u32;
        assert_eq!(tok.token_text(id), rec["text"].as_str(), "token {id}");
        let ty = match rec["type"].as_i64().unwrap() {
            2 => TokenType::Unknown,
            3 => TokenType::Control,
            4 => TokenType::UserDefined,
            5 => TokenType::Unused,
            6 => TokenType::Byte,
            _ => TokenType::Normal,
        };
        assert_eq!(tok.token_type(id), Some(ty), "token {id}");
        for (special, key) in [(false, "piece_hex"), (true, "piece_special_hex")] {
            let mut bytes = Vec::new();
            tok.token_bytes(id, special, &mut bytes);
            let expected = rec[key].as_str().unwrap();
            if hex(&bytes) != expected {
                failures.push(format!(
                    "token {id} {:?} (special={special}): llama.cpp {expected}, ruvllm {}",
                    rec["text"],
                    hex(&bytes)
                ));
            }
        }
        n += 1;
    }
    assert_eq!(n, tok.n_vocab());
    assert!(failures.is_empty(), "{} pieces differ:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn spm_model_metadata() {
    let tok = tokenizer();
    let meta: Value = serde_json::from_str(&fixture("meta.json")).unwrap();
    assert_eq!(tok.n_vocab() as u64, meta["vocab_size"].as_u64().unwrap());
    assert_eq!(tok.bos().map(u64::from), meta["bos"].as_u64());
    assert_eq!(tok.eos().map(u64::from), meta["eos"].as_u64());
    // EOS and `<|im_end|>` (by its text) end a generation, as llama.cpp's `isEogToken` says.
    let eog: Vec<u32> = (0..tok.n_vocab() as u32).filter(|&id| tok.is_eog(id)).collect();
    assert_eq!(eog, ids(&meta["eog_ids"]));
}
