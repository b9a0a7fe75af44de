//! The `ruvllm` command-line tool. All of it lives in `ruvllm::cli`.

#[cfg(not(target_arch = "wasm32"))]
fn main() {
    std::process::exit(ruvllm::cli::main());
}

#[cfg(target_arch = "wasm32")]
fn main() {}
