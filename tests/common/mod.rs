//! Shared by the integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

pub fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The default model, fetched (once, then cached) by `scripts/fetch_model.py`. `RUVLLM_MODEL`
/// points at another copy of the same file.
pub fn default_model() -> PathBuf {
    if let Ok(p) = std::env::var("RUVLLM_MODEL") {
        return PathBuf::from(p);
    }
    let out = Command::new("python3")
        .arg(repo().join("scripts/fetch_model.py"))
        .output()
        .expect("python3 is needed to fetch the default model (scripts/fetch_model.py)");
    assert!(out.status.success(), "scripts/fetch_model.py failed:\n{}", String::from_utf8_lossy(&out.stderr));
    PathBuf::from(String::from_utf8(out.stdout).unwrap().trim())
}

/// Parses a JSON file.
pub fn read_json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}
