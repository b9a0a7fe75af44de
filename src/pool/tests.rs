use super::*;

/// Thousands of regions of random sizes, chunk lengths and scratch sizes: every element is
/// written exactly once with a value derived from its index and the region, and every chunk sees
/// a scratch slice no other thread touches at the same time (the same check the threaded wasm
/// build runs in Chromium, `tests/wasm/browser_threads.mjs`).
#[test]
fn thousands_of_random_regions_compute_exactly() {
    let regions = if cfg!(miri) { 20 } else { 3000 };
    let max_len = if cfg!(miri) { 64 } else { 4096 };
    for threads in [1, 2, 3, 4] {
        let mut pool = ThreadPool::new(threads).unwrap();
        let checked = stress(&mut pool, regions, max_len, threads as u64).unwrap();
        assert!(checked > (regions * max_len / 4) as u64, "{checked} elements checked");
    }
}

#[test]
fn a_region_with_no_data_or_one_chunk_runs_inline() {
    let mut pool = ThreadPool::new(3).unwrap();
    let mut empty: [u8; 0] = [];
    pool.for_chunks(&mut empty, 4, &mut [0u8; 0], 0, |_, _, _| panic!("no chunks"));
    let mut one = [0u8; 3];
    pool.for_chunks(&mut one, 8, &mut [0u8; 0], 0, |i, c, _| c.fill(i as u8 + 1));
    assert_eq!(one, [1, 1, 1]);
}

#[test]
fn a_panicking_task_is_reported_on_the_caller_and_the_pool_still_works() {
    let mut pool = ThreadPool::new(2).unwrap();
    let mut data = vec![0u32; 64];
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        pool.for_chunks(&mut data, 1, &mut [0u8; 0], 0, |i, _, _| assert!(i != 40, "task 40 fails"));
    }));
    assert!(caught.is_err());
    pool.for_chunks(&mut data, 8, &mut [0u8; 0], 0, |i, c, _| c.fill(i as u32));
    assert_eq!(data[63], 7);
}

#[test]
fn thread_counts_are_validated() {
    assert!(ThreadPool::new(0).is_err());
    assert!(ThreadPool::new(MAX_THREADS + 1).is_err());
    assert_eq!(ThreadPool::new(1).unwrap().threads(), 1);
}

#[test]
fn workers_that_fell_asleep_are_woken() {
    let mut pool = ThreadPool::new(2).unwrap();
    let mut data = vec![0u8; 100];
    for round in 0..3 {
        // Long enough for the worker to exhaust its spinning and sleep.
        std::thread::sleep(std::time::Duration::from_millis(if cfg!(miri) { 1 } else { 20 }));
        pool.for_chunks(&mut data, 10, &mut [0u8; 0], 0, |i, c, _| c.fill(i as u8 + round));
        assert_eq!(data[99], 9 + round);
    }
}

/// Counts the chunks run: `ctx` points to an `AtomicUsize`.
///
/// # Safety
/// `ctx` points to a live `AtomicUsize`.
unsafe fn count_chunk(ctx: *const (), _chunk: usize, _worker: usize) {
    // SAFETY: the caller passes a pointer to a live `AtomicUsize` (the tests below).
    let counter = unsafe { &*ctx.cast::<AtomicUsize>() };
    counter.fetch_add(1, Ordering::Relaxed);
}

/// The claim race `publish` closes: a worker that woke for region A, late, reads region B's job
/// (more chunks) while B is being written. It must claim nothing: before the fix `next` still
/// held A's exhausted counter, which B's larger chunk count let it claim past.
#[test]
fn a_worker_late_for_a_region_claims_nothing_of_the_next_one_being_written() {
    let shared = Shared::new(2);
    let a_chunks = AtomicUsize::new(0);
    let b_chunks = AtomicUsize::new(0);
    let a = shared.publish(count_chunk, (&a_chunks as *const AtomicUsize).cast(), 1);
    shared.drain(a, 0); // the caller runs region A's only chunk
    assert_eq!(a_chunks.load(Ordering::Relaxed), 1);
    let b = shared.write_job(count_chunk, (&b_chunks as *const AtomicUsize).cast(), 4);
    shared.drain(a, 1); // the late worker: reads B's job under A's epoch
    shared.drain(b, 1); // or under B's, before B is open
    assert_eq!(b_chunks.load(Ordering::Relaxed) + a_chunks.load(Ordering::Relaxed), 1, "a chunk was claimed early");
    assert_eq!(shared.done.load(Ordering::Relaxed), 0);
    shared.open(b);
    shared.drain(a, 1); // still nothing for A's epoch
    assert_eq!(b_chunks.load(Ordering::Relaxed), 0);
    shared.drain(b, 1);
    assert_eq!(b_chunks.load(Ordering::Relaxed), 4);
    assert_eq!(shared.done.load(Ordering::Relaxed), 4);
}
