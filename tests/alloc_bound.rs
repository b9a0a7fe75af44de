//! A count in a GGUF header is only a claim. A small file that claims millions of entries (each
//! claim passing the bytes-remaining check) must not make the reader reserve memory for all of
//! them before it fails: peak allocation while parsing stays within a small multiple of the file.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

use ruvllm::mem::ModelBytes;
use ruvllm::GgufFile;

struct Counting;
static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: delegates every call to the system allocator unchanged; only counts bytes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let live = LIVE.fetch_add(layout.size(), Relaxed) + layout.size();
        PEAK.fetch_max(live, Relaxed);
        // SAFETY: same layout contract as our caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Relaxed);
        // SAFETY: `ptr` was allocated by `System.alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn gguf_string(out: &mut Vec<u8>, s: &[u8]) {
    out.extend_from_slice(&(s.len() as u64).to_le_bytes());
    out.extend_from_slice(s);
}

#[test]
fn inflated_counts_do_not_reserve_memory_up_front() {
    const LEN: usize = 8 << 20;
    // Header claiming as many metadata entries as could fit, then one string array claiming as
    // many strings as could fit, whose second string's length runs past the end of the file.
    let mut f = b"GGUF".to_vec();
    f.extend_from_slice(&3u32.to_le_bytes());
    f.extend_from_slice(&0u64.to_le_bytes());
    f.extend_from_slice(&((LEN as u64 - 24) / 13).to_le_bytes());
    gguf_string(&mut f, b"tokens");
    f.extend_from_slice(&9u32.to_le_bytes()); // array
    f.extend_from_slice(&8u32.to_le_bytes()); // of strings
    let count_at = f.len();
    f.extend_from_slice(&0u64.to_le_bytes());
    gguf_string(&mut f, b"ok");
    f.extend_from_slice(&u64::MAX.to_le_bytes());
    f.resize(LEN, 0);
    let count = (LEN - count_at - 8) as u64 / 8;
    f[count_at..count_at + 8].copy_from_slice(&count.to_le_bytes());

    let bytes = ModelBytes::from_vec(f);
    let before = LIVE.load(Relaxed);
    PEAK.store(before, Relaxed);
    let err = GgufFile::from_bytes(bytes).unwrap_err();
    let peak = PEAK.load(Relaxed) - before;
    assert!(err.to_string().contains("string of 18446744073709551615 bytes"), "{err}");
    assert!(peak < LEN / 8, "parsing an {LEN}-byte file peaked at {peak} bytes of allocation");
}
