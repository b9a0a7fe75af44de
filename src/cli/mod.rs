//! The `ruvllm` command line.
pub fn main() -> i32 {
    0
}
