//! The thread pool: persistent workers, fork-join per operation, nothing allocated per region.
//!
//! This is the shared-memory layer. Natively the workers are OS threads; in the browser they are
//! Web Workers on the same `WebAssembly.Memory` (issue 4 plugs them into [`Shared::worker_loop`]).
//! Kernels and ops see only [`ThreadPool::for_chunks`]: they never know which they run on.
//!
//! # Why there are no data races
//! A *region* is one call of [`ThreadPool::for_chunks`]. Its caller is always the same thread
//! (the pool is `&mut` for a region). Shared state and the order in which it is touched:
//! 1. The caller stores the job (function, context pointer, chunk count), resets `done`, then
//!    stores `next = (epoch << 32) | 0` and finally bumps `epoch`, all with `Release`. A worker
//!    that sees the new epoch (`Acquire`) sees the job.
//! 2. Chunks are claimed by compare-and-swap on `next`, which carries the region's epoch in its
//!    high half: a claim succeeds only while `next` still belongs to the epoch the claimer read
//!    the job under and has chunks left. Each index goes to exactly one thread, and chunk `i`
//!    covers elements `i*chunk .. (i+1)*chunk` of the output, so no two threads hold
//!    overlapping `&mut` ranges. Scratch is split per *thread* (thread `w` owns
//!    `scratch[w*per .. (w+1)*per]`) and a thread runs its chunks one after another, so its
//!    scratch slice is never aliased either.
//! 3. After running a chunk the claimer increments `done` (`Release`). The caller returns when
//!    `done` equals the chunk count (`Acquire`), so every chunk's writes happen-before the
//!    region ends, and the borrowed closure, output and scratch outlive every use.
//! 4. Why a late worker is harmless: the caller writes the next region's job only after
//!    `done` reached the count, i.e. after every successful claim of this region finished. A
//!    worker that wakes late reads a job, then fails its claim (the epoch in `next` moved on, or
//!    no chunks are left) and dereferences nothing. A successful claim proves the region is
//!    still running, so the job it read (after the epoch it acquired) is this region's and its
//!    context is alive. The caller never waits for idle workers: a worker descheduled by the OS
//!    delays a region only if it holds a claimed chunk.
//!
//! Workers spin on `epoch` for a while (regions of one forward pass follow each other within
//! microseconds) and then sleep; the caller wakes sleepers only when some are asleep.
//!
//! A panic inside a chunk is caught where it happens, counted, and re-raised on the caller after
//! the region completes, so a bug can never leave the caller waiting forever.

use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;

use crate::error::ModelError;

/// Most threads a pool may have.
pub const MAX_THREADS: usize = 256;

/// How many times a waiting thread polls before it sleeps (a few tens of microseconds).
const SPIN_LIMIT: u32 = 1 << 14;

/// A region's type-erased entry point: runs chunk `chunk` on thread `worker`.
type Call = unsafe fn(ctx: *const (), chunk: usize, worker: usize);

/// The state the caller and the workers share.
pub struct Shared {
    epoch: AtomicU32,
    /// The region's [`Call`], as a pointer (keeps its provenance, unlike an integer).
    call: AtomicPtr<()>,
    ctx: AtomicPtr<()>,
    n_chunks: AtomicUsize,
    /// `(epoch << 32) | next unclaimed chunk`.
    next: AtomicU64,
    done: AtomicUsize,
    panicked: AtomicUsize,
    shutdown: AtomicBool,
    sleepers: AtomicUsize,
    lock: Mutex<()>,
    wake: Condvar,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("epoch", &self.epoch.load(Ordering::Relaxed))
            .field("sleepers", &self.sleepers.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl Shared {
    fn new() -> Self {
        Shared {
            epoch: AtomicU32::new(0),
            call: AtomicPtr::new(noop as Call as *mut ()),
            ctx: AtomicPtr::new(std::ptr::null_mut()),
            n_chunks: AtomicUsize::new(0),
            next: AtomicU64::new(0),
            done: AtomicUsize::new(0),
            panicked: AtomicUsize::new(0),
            shutdown: AtomicBool::new(false),
            sleepers: AtomicUsize::new(0),
            lock: Mutex::new(()),
            wake: Condvar::new(),
        }
    }

    /// Claims and runs chunks of the region of `epoch` until none are left (or the region is
    /// over).
    fn drain(&self, epoch: u32, worker: usize) {
        let call = self.call.load(Ordering::Acquire);
        let ctx = self.ctx.load(Ordering::Acquire);
        let n = self.n_chunks.load(Ordering::Acquire) as u64;
        // SAFETY: `call` only ever holds a `Call` stored by `publish` (or `noop`).
        let call: Call = unsafe { std::mem::transmute::<*mut (), Call>(call) };
        let mut cur = self.next.load(Ordering::Acquire);
        loop {
            if (cur >> 32) as u32 != epoch || cur & 0xffff_ffff >= n {
                return;
            }
            match self.next.compare_exchange_weak(cur, cur + 1, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => {
                    let chunk = (cur & 0xffff_ffff) as usize;
                    // SAFETY: the claim succeeded, so region `epoch` is still running and
                    // `call`/`ctx` are its own (module docs, step 4); chunk `chunk` is ours.
                    let ran =
                        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| unsafe { call(ctx, chunk, worker) }));
                    if ran.is_err() {
                        self.panicked.fetch_add(1, Ordering::Relaxed);
                    }
                    self.done.fetch_add(1, Ordering::Release);
                    cur = self.next.load(Ordering::Acquire);
                }
                Err(now) => cur = now,
            }
        }
    }

    /// Waits until `epoch` differs from `seen`; spins first, then sleeps. Returns the new epoch.
    fn wait_epoch(&self, seen: u32) -> u32 {
        for _ in 0..SPIN_LIMIT {
            let e = self.epoch.load(Ordering::Acquire);
            if e != seen {
                return e;
            }
            std::hint::spin_loop();
        }
        let mut guard = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        self.sleepers.fetch_add(1, Ordering::SeqCst);
        loop {
            let e = self.epoch.load(Ordering::SeqCst);
            if e != seen {
                self.sleepers.fetch_sub(1, Ordering::SeqCst);
                return e;
            }
            guard = self.wake.wait(guard).unwrap_or_else(|p| p.into_inner());
        }
    }

    /// The body of worker thread `worker` (1-based; the caller is 0): run every region until
    /// the pool shuts down.
    pub fn worker_loop(&self, worker: usize) {
        let mut seen = 0;
        loop {
            seen = self.wait_epoch(seen);
            if self.shutdown.load(Ordering::Acquire) {
                return;
            }
            self.drain(seen, worker);
        }
    }

    /// Step 1 of the module docs: makes a region visible to the workers and wakes sleepers.
    fn publish(&self, call: Call, ctx: *const (), n_chunks: usize) -> u32 {
        let epoch = self.epoch.load(Ordering::Relaxed).wrapping_add(1);
        self.call.store(call as *mut (), Ordering::Release);
        self.ctx.store(ctx.cast_mut(), Ordering::Release);
        self.n_chunks.store(n_chunks, Ordering::Release);
        self.done.store(0, Ordering::Release);
        self.next.store((epoch as u64) << 32, Ordering::Release);
        self.epoch.store(epoch, Ordering::SeqCst);
        if self.sleepers.load(Ordering::SeqCst) > 0 {
            // Taking the lock orders us after any worker between its epoch check and its wait.
            let _guard = self.lock.lock().unwrap_or_else(|p| p.into_inner());
            self.wake.notify_all();
        }
        epoch
    }
}

unsafe fn noop(_: *const (), _: usize, _: usize) {}

/// A persistent pool of `threads - 1` workers plus the calling thread.
#[derive(Debug)]
pub struct ThreadPool {
    shared: Arc<Shared>,
    workers: Vec<JoinHandle<()>>,
    threads: usize,
}

impl ThreadPool {
    /// A pool running regions on `threads` threads (the caller and `threads - 1` workers).
    pub fn new(threads: usize) -> Result<Self, ModelError> {
        if threads == 0 || threads > MAX_THREADS {
            return Err(ModelError::InvalidOption {
                field: "threads",
                value: threads.to_string(),
                reason: format!("must be between 1 and {MAX_THREADS}"),
            });
        }
        let shared = Arc::new(Shared::new());
        let mut workers = Vec::with_capacity(threads - 1);
        for w in 1..threads {
            let s = Arc::clone(&shared);
            let handle = std::thread::Builder::new()
                .name(format!("ruvllm-worker-{w}"))
                .spawn(move || s.worker_loop(w))
                .map_err(|e| ModelError::InvalidOption {
                    field: "threads",
                    value: threads.to_string(),
                    reason: format!("cannot start worker thread {w}: {e}"),
                })?;
            workers.push(handle);
        }
        Ok(ThreadPool { shared, workers, threads })
    }

    /// Threads that run a region (the caller included).
    pub fn threads(&self) -> usize {
        self.threads
    }

    /// Splits `data` into chunks of `chunk` elements (the last may be shorter) and runs
    /// `f(index, chunk, scratch)` for each, in parallel. `scratch` is split into one slice of
    /// `per_thread` elements per thread (it must hold `threads() * per_thread`); a thread's
    /// slice is passed to every chunk it runs. Returns when every chunk is done.
    pub fn for_chunks<T: Send, S: Send, F>(
        &mut self,
        data: &mut [T],
        chunk: usize,
        scratch: &mut [S],
        per_thread: usize,
        f: F,
    ) where
        F: Fn(usize, &mut [T], &mut [S]) + Sync,
    {
        let chunk = chunk.max(1);
        let n_chunks = data.len().div_ceil(chunk);
        let per_thread = if scratch.len() >= per_thread.saturating_mul(self.threads) { per_thread } else { 0 };
        if self.threads == 1 || n_chunks <= 1 {
            let s = &mut scratch[..per_thread];
            for (i, c) in data.chunks_mut(chunk).enumerate() {
                f(i, c, s);
            }
            return;
        }
        // Claims are counted in the low 32 bits of `next`: keep the chunk count below that.
        if n_chunks > u32::MAX as usize {
            let chunk = data.len().div_ceil(u32::MAX as usize);
            return self.for_chunks(data, chunk, scratch, per_thread, f);
        }
        let region = Region {
            data: data.as_mut_ptr(),
            len: data.len(),
            chunk,
            scratch: scratch.as_mut_ptr(),
            per_thread,
            f: &f,
        };
        let shared = &*self.shared;
        let ctx = (&region as *const Region<T, S, F>).cast();
        let epoch = shared.publish(Region::<T, S, F>::call, ctx, n_chunks);
        shared.drain(epoch, 0);
        let mut spins = 0u32;
        while shared.done.load(Ordering::Acquire) != n_chunks {
            if spins < SPIN_LIMIT {
                spins += 1;
                std::hint::spin_loop();
            } else {
                std::thread::yield_now();
            }
        }
        if shared.panicked.swap(0, Ordering::Relaxed) > 0 {
            panic!("a thread-pool task panicked (see the worker's message above)");
        }
    }
}

impl Drop for ThreadPool {
    fn drop(&mut self) {
        self.shared.shutdown.store(true, Ordering::Release);
        self.shared.publish(noop, std::ptr::null(), 0);
        for w in self.workers.drain(..) {
            let _ = w.join();
        }
    }
}

/// The caller's side of one region: base pointers and the closure.
struct Region<'a, T, S, F> {
    data: *mut T,
    len: usize,
    chunk: usize,
    scratch: *mut S,
    per_thread: usize,
    f: &'a F,
}

impl<T, S, F: Fn(usize, &mut [T], &mut [S]) + Sync> Region<'_, T, S, F> {
    /// Runs chunk `i` on thread `worker`.
    ///
    /// # Safety
    /// `ctx` points to a live `Region<T, S, F>`; `i` is claimed by exactly one thread, and
    /// `worker` is the calling thread's own index (below the pool's thread count).
    unsafe fn call(ctx: *const (), i: usize, worker: usize) {
        // SAFETY: the caller keeps the region alive for the whole region (module docs).
        let r = unsafe { &*ctx.cast::<Region<'_, T, S, F>>() };
        let start = i * r.chunk;
        let end = (start + r.chunk).min(r.len);
        // SAFETY: `start..end` is inside `data` (i < n_chunks) and chunk `i` belongs to this
        // thread alone; scratch slice `worker` likewise (it was sized `threads * per_thread`).
        let (c, s) = unsafe {
            (
                std::slice::from_raw_parts_mut(r.data.add(start), end - start),
                std::slice::from_raw_parts_mut(r.scratch.add(worker * r.per_thread), r.per_thread),
            )
        };
        (r.f)(i, c, s);
    }
}

#[cfg(test)]
mod tests;
