//! The per-token path allocates nothing: after warm-up, decoding (sampling, detokenizing, the
//! forward pass on every pool thread) makes no heap allocation, with 1 and with 2 threads.
//!
//! Alone in this test binary so the count is process-wide: allocations made by the pool's
//! worker threads are counted too, and no other test runs at the same time.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed};

use ruvllm::sampler::{Sampler, SamplingParams};
use ruvllm::tokenizer::StreamDecoder;
use ruvllm::{GgufFile, Model, Precision, Session, SessionOptions, Tokenizer};

struct Counting;
static COUNTING: AtomicBool = AtomicBool::new(false);
static ALLOCS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards every call to the system allocator unchanged; only counts allocations.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.load(Relaxed) {
            ALLOCS.fetch_add(1, Relaxed);
        }
        // SAFETY: same layout contract as our caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System.alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if COUNTING.load(Relaxed) {
            ALLOCS.fetch_add(1, Relaxed);
        }
        // SAFETY: `ptr` came from this allocator with `layout`; forwarded unchanged.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn decoding_a_token_allocates_nothing_after_warm_up_with_1_and_2_threads_at_both_precisions() {
    let model = Model::open(common::default_model()).unwrap();
    let file = GgufFile::open(common::default_model()).unwrap();
    let tok = Tokenizer::from_gguf(&file, false).unwrap();
    for (threads, precision) in [(1, Precision::Standard), (2, Precision::Standard), (2, Precision::High)] {
        let opts = SessionOptions::new(256, 32).unwrap().with_threads(threads).unwrap().with_precision(precision);
        let mut session = Session::new(&model, opts).unwrap();
        let mut sampler =
            Sampler::new(SamplingParams::new(7).with_temperature(0.9).with_repeat_penalty(1.1), tok.n_vocab()).unwrap();
        let mut decoder = StreamDecoder::new();
        session.eval(&tok.encode("Once upon a time", false, false), None).unwrap();
        let step = |session: &mut Session, sampler: &mut Sampler, decoder: &mut StreamDecoder| {
            let t = sampler.sample(session.logits());
            sampler.accept(t);
            let _ = decoder.push(&tok, t, false).len();
            session.eval(&[t], None).unwrap();
        };
        for _ in 0..4 {
            step(&mut session, &mut sampler, &mut decoder);
        }
        ALLOCS.store(0, Relaxed);
        COUNTING.store(true, Relaxed);
        for _ in 0..16 {
            step(&mut session, &mut sampler, &mut decoder);
        }
        COUNTING.store(false, Relaxed);
        assert_eq!(ALLOCS.load(Relaxed), 0, "allocations in 16 decode steps with {threads} threads, {precision:?}");
        assert_eq!(session.options().threads, threads);
    }
}
