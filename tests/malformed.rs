//! The committed malformed-file corpus (`tests/fixtures/malformed`, written by
//! `scripts/make_malformed.py`): every file must be rejected with the specific error its manifest
//! names, never a panic; the valid base file the corpus was derived from must load.

mod common;

use ruvllm::{Error, GgufFile};

fn corpus() -> Vec<(String, String, String)> {
    let dir = common::repo().join("tests/fixtures/malformed");
    let manifest = std::fs::read_to_string(dir.join("manifest.tsv")).unwrap();
    manifest
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| {
            let c: Vec<&str> = l.split('\t').collect();
            (c[0].to_string(), c[1].to_string(), c[2].to_string())
        })
        .collect()
}

#[test]
fn every_malformed_file_gets_its_specific_error() {
    let dir = common::repo().join("tests/fixtures/malformed");
    let cases = corpus();
    assert!(cases.len() >= 100, "corpus has only {} files", cases.len());
    for (file, kind, what) in cases {
        let path = dir.join(&file);
        let result = GgufFile::open(&path).and_then(|f| f.check_supported().map_err(Error::from));
        match result {
            Err(Error::Gguf(e)) => {
                assert_eq!(e.kind(), kind, "{file} ({what}): got {e}");
                // The message carries context: an offset, a key or a tensor name.
                let msg = e.to_string();
                assert!(msg.len() > 20, "{file}: terse message {msg:?}");
            }
            Err(other) => panic!("{file} ({what}): expected {kind}, got non-format error {other}"),
            Ok(_) => panic!("{file} ({what}): accepted, expected {kind}"),
        }
    }
}

#[test]
fn the_valid_base_of_the_corpus_loads() {
    let f = GgufFile::open(common::repo().join("tests/fixtures/malformed/valid_base.gguf")).unwrap();
    assert_eq!(f.metadata().len(), 7);
    assert_eq!(f.tensors().len(), 2);
    assert_eq!(f.tensor("t1").unwrap().to_f32_vec().unwrap().len(), 64);
}

#[test]
fn every_byte_prefix_of_the_valid_base_is_rejected_without_panicking() {
    let bytes = std::fs::read(common::repo().join("tests/fixtures/malformed/valid_base.gguf")).unwrap();
    let data_end = bytes.len() - bytes.iter().rev().take_while(|&&b| b == 0).count();
    for len in 0..data_end {
        let r = GgufFile::from_bytes(ruvllm::mem::ModelBytes::from_vec(bytes[..len].to_vec()));
        assert!(r.is_err(), "prefix of {len} bytes accepted");
    }
}
