//! Any byte string given to the GGUF reader: it must return Ok or Err, never panic, hang or read
//! out of bounds; whatever it accepts must be safe to view and dequantize.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ruvllm::gguf::{DisplayValue, GgufFile};
use ruvllm::mem::ModelBytes;

fuzz_target!(|data: &[u8]| {
    let Ok(file) = GgufFile::from_bytes(ModelBytes::from_vec(data.to_vec())) else { return };
    for (_, value) in file.metadata() {
        let _ = DisplayValue { value, limit: 4 }.to_string();
    }
    let _ = file.check_supported();
    let mut out = Vec::new();
    for info in file.tensors() {
        let view = file.view(info);
        if info.ty().is_supported() && info.n_rows() > 0 {
            out.resize(info.row_len().min(1 << 16) as usize, 0f32);
            if out.len() as u64 == info.row_len() {
                view.dequantize_row(0, &mut out).unwrap();
            }
        }
    }
});
