//! Benchmark: open the default model (mmap + parse + validate) and list its tensors.
//!
//!     cargo bench --bench gguf_open        (or: npm run bench:gguf)
//!
//! Prints the time per open (min / median / p90 over many runs, page cache warm) and the peak
//! resident memory of a fresh process that opens the model and lists its tensors, beside the
//! peak of a fresh process that does nothing, so the reader's own cost is visible.

use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use ruvllm::GgufFile;

fn default_model() -> PathBuf {
    if let Ok(p) = std::env::var("RUVLLM_MODEL") {
        return p.into();
    }
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/fetch_model.py");
    let out = Command::new("python3").arg(script).output().expect("python3 runs scripts/fetch_model.py");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    PathBuf::from(String::from_utf8(out.stdout).unwrap().trim())
}

/// Peak resident set size of this process in KiB (Linux: VmHWM).
fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn open_and_list(path: &PathBuf) -> (usize, u64) {
    let file = GgufFile::open(path).expect("the default model opens");
    let bytes = file.tensors().iter().map(|t| t.n_bytes()).sum();
    (file.tensors().len(), bytes)
}

fn child(mode: &str) -> u64 {
    let out = Command::new(std::env::current_exe().unwrap())
        .env("RUVLLM_BENCH_CHILD", mode)
        .output()
        .expect("re-running the benchmark binary");
    String::from_utf8(out.stdout).unwrap().trim().parse().expect("child prints its peak RSS")
}

fn main() {
    if let Ok(mode) = std::env::var("RUVLLM_BENCH_CHILD") {
        if mode == "open" {
            let (n, _) = open_and_list(&default_model_from_env());
            assert_eq!(n, 272);
        }
        println!("{}", peak_rss_kib().unwrap_or(0));
        return;
    }
    let path = default_model();
    std::env::set_var("RUVLLM_MODEL", &path);
    let _ = open_and_list(&path); // warm the page cache

    let mut times = Vec::new();
    for _ in 0..200 {
        let t = Instant::now();
        let (n, bytes) = open_and_list(&path);
        times.push(t.elapsed().as_secs_f64() * 1e3);
        assert_eq!((n, bytes > 0), (272, true));
    }
    times.sort_by(f64::total_cmp);
    let pct = |p: f64| times[((times.len() - 1) as f64 * p) as usize];

    let baseline = child("idle");
    let opened = child("open");
    println!("ruvllm gguf_open: {}", path.display());
    println!("| measure | value |");
    println!("|---|---|");
    println!("| open + list 272 tensors, min | {:.2} ms |", pct(0.0));
    println!("| open + list 272 tensors, median | {:.2} ms |", pct(0.5));
    println!("| open + list 272 tensors, p90 | {:.2} ms |", pct(0.9));
    println!("| peak RSS, fresh process that opens and lists | {:.1} MB |", opened as f64 / 1024.0);
    println!("| peak RSS, fresh process that does nothing | {:.1} MB |", baseline as f64 / 1024.0);
}

fn default_model_from_env() -> PathBuf {
    std::env::var("RUVLLM_MODEL").map(PathBuf::from).unwrap_or_else(|_| default_model())
}
