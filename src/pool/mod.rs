//! The thread pool: persistent workers, fork-join per operation, nothing allocated per region.
//!
//! This is the shared-memory layer. Natively the workers are OS threads. In the threaded wasm
//! build (`wasm32` with `target_feature = "atomics"`, one shared `WebAssembly.Memory`) they are
//! JS module Workers: [`ThreadPool::new`] only registers the pool's [`Shared`] state under a
//! numeric handle ([`ThreadPool::helper_handle`]); JavaScript starts `threads - 1` Workers on
//! the same module and memory (`js/threads.js`, `js/pool_worker.js`), and each calls
//! [`run_helper`] with that handle and its own index, which runs [`Shared::worker_loop`] until
//! the pool is dropped. Until a helper has attached, the caller runs its chunks itself: the
//! result never depends on how many helpers are there. Kernels and ops see only
//! [`ThreadPool::for_chunks`]: they never know which they run on.
//!
//! # Why there are no data races
//! A *region* is one call of [`ThreadPool::for_chunks`]. Its caller is always the same thread
//! (the pool is `&mut` for a region). Shared state, who writes which range, and the order in
//! which it is touched:
//! 1. The caller alone writes the job. First it *closes* `next` (`(new epoch << 32) | CLOSED`,
//!    a chunk index no region reaches), then it writes the job (function, context pointer,
//!    chunk count), resets `done`, stores `next = (epoch << 32) | 0` and finally bumps `epoch`,
//!    all with `Release` (`epoch` and the closing store with `SeqCst`). A worker that sees the
//!    new epoch (`Acquire`) sees the job. A worker loads the job's fields before `next`, all
//!    `Acquire`: if any field it loaded is already a later job's, it synchronized with that
//!    job's writes, so its load of `next` sees at least the closing store and its claim fails.
//!    Without the closing store a worker that woke for region `e` could read region `e + 1`'s
//!    (larger) chunk count next to `e`'s exhausted `next` and claim a chunk twice (seen in the
//!    browser stress test as a hang: `done` overshot the count).
//! 2. Chunks are claimed by compare-and-swap on `next`, which carries the region's epoch in its
//!    high half: a claim succeeds only while `next` still belongs to the epoch the claimer read
//!    the job under and has chunks left. Each index goes to exactly one thread, and chunk `i`
//!    covers elements `i*chunk .. (i+1)*chunk` of the output: only its claimer writes that
//!    range, so no two threads hold overlapping `&mut` ranges. Scratch is split per *thread*
//!    (thread `w` alone writes `scratch[w*per .. (w+1)*per]`) and a thread runs its chunks one
//!    after another, so its scratch slice is never aliased either. Thread indices are unique:
//!    natively the pool gives them out; in wasm [`run_helper`] accepts each index in
//!    `1..threads` once per pool (the caller is 0), whatever JavaScript passes.
//! 3. After running a chunk the claimer increments `done` (`Release`); that is the atomic that
//!    publishes the chunk's writes. The caller returns when `done` equals the chunk count
//!    (`Acquire`), so every chunk's writes happen-before the region ends, and the borrowed
//!    closure, output and scratch outlive every use.
//! 4. Why a late worker is harmless: the caller writes the next region's job only after
//!    `done` reached the count, i.e. after every successful claim of this region finished. A
//!    worker that wakes late (or a wasm helper that attaches late) reads a job, then fails its
//!    claim (the epoch in `next` moved on, `next` is closed, or no chunks are left) and
//!    dereferences nothing. A successful claim proves the region is still running, and (step 1)
//!    that every job field it read is this region's, so its context is alive. The caller never waits for idle
//!    workers: a worker descheduled by the OS delays a region only if it holds a claimed chunk.
//!
//! # Parking
//! Workers spin on `epoch` for a while (regions of one forward pass follow each other within
//! microseconds) and then sleep; the caller wakes sleepers only when some are asleep. A sleeper
//! increments `sleepers` and re-reads `epoch` (both `SeqCst`) before it sleeps; the caller
//! stores `epoch` and then reads `sleepers` (both `SeqCst`), so either the caller sees the
//! sleeper and wakes it, or the sleeper sees the new epoch. The sleep itself has two
//! implementations with the same contract ("return once `epoch != seen` may hold"):
//! - natively a `Mutex` + `Condvar`: the caller takes the lock before `notify_all`, which orders
//!   it after any sleeper between its epoch check and its wait;
//! - in the threaded wasm build `memory.atomic.wait32` on `epoch`'s own address, woken by
//!   `memory.atomic.notify` on it. The wait compares `epoch` with `seen` atomically with going
//!   to sleep, so a notify that comes first makes it return at once: no wake-up is lost. Only
//!   Workers ever wait (the page's main thread never runs a pool: there `wait32` traps).
//!
//! A panic inside a chunk is caught where it happens, counted, and re-raised on the caller after
//! the region completes, so a bug can never leave the caller waiting forever (natively; wasm
//! builds abort on panic, which traps the module instead).

use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
#[cfg(not(all(target_arch = "wasm32", target_feature = "atomics")))]
use std::thread::JoinHandle;

use crate::error::ModelError;

/// Most threads a pool may have.
pub const MAX_THREADS: usize = 256;

/// How many times a waiting thread polls before it sleeps (a few tens of microseconds).
const SPIN_LIMIT: u32 = 1 << 14;

/// The low half of `next` while a job is being written: no chunk index reaches it.
const CLOSED: u64 = u32::MAX as u64;

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
    park: park::Parking,
    /// Threads of the pool (the caller included).
    threads: usize,
    /// `attached[w]`: thread index `w` is taken (index 0, the caller, from the start). Only
    /// [`run_helper`] claims indices; natively the pool hands them out itself.
    #[cfg(all(target_arch = "wasm32", target_feature = "atomics"))]
    attached: Box<[AtomicBool]>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("epoch", &self.epoch.load(Ordering::Relaxed))
            .field("sleepers", &self.sleepers.load(Ordering::Relaxed))
            .field("threads", &self.threads)
            .finish_non_exhaustive()
    }
}

impl Shared {
    fn new(threads: usize) -> Self {
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
            park: park::Parking::new(),
            threads,
            #[cfg(all(target_arch = "wasm32", target_feature = "atomics"))]
            attached: (0..threads).map(|w| AtomicBool::new(w == 0)).collect(),
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
        self.park.sleep(&self.epoch, &self.sleepers, seen)
    }

    /// The body of worker thread `worker` (1-based; the caller is 0): run every region until
    /// the pool shuts down. `worker` must be below the pool's thread count and no other thread
    /// may run with the same index (module docs, step 2): the pool's own spawner and
    /// [`run_helper`] guarantee both, which is why this is not public.
    fn worker_loop(&self, worker: usize) {
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
        let epoch = self.write_job(call, ctx, n_chunks);
        self.open(epoch);
        epoch
    }

    /// The first half of [`Shared::publish`]: closes `next`, then writes the job. Until
    /// [`Shared::open`], no claim can succeed.
    fn write_job(&self, call: Call, ctx: *const (), n_chunks: usize) -> u32 {
        let epoch = self.epoch.load(Ordering::Relaxed).wrapping_add(1);
        // Close `next` before touching the job: from here on no claim can succeed until the
        // new job is complete (step 1 of the module docs says why this must come first).
        self.next.store(((epoch as u64) << 32) | CLOSED, Ordering::SeqCst);
        self.call.store(call as *mut (), Ordering::Release);
        self.ctx.store(ctx.cast_mut(), Ordering::Release);
        self.n_chunks.store(n_chunks, Ordering::Release);
        self.done.store(0, Ordering::Release);
        epoch
    }

    /// The second half of [`Shared::publish`]: opens the chunks of `epoch`, bumps the epoch and
    /// wakes sleepers.
    fn open(&self, epoch: u32) {
        self.next.store((epoch as u64) << 32, Ordering::Release);
        self.epoch.store(epoch, Ordering::SeqCst);
        if self.sleepers.load(Ordering::SeqCst) > 0 {
            self.park.wake_all(&self.epoch);
        }
    }
}

unsafe fn noop(_: *const (), _: usize, _: usize) {}

/// A persistent pool of `threads - 1` workers plus the calling thread.
#[derive(Debug)]
pub struct ThreadPool {
    shared: Arc<Shared>,
    #[cfg(not(all(target_arch = "wasm32", target_feature = "atomics")))]
    workers: Vec<JoinHandle<()>>,
    /// The handle JS helpers attach with (`Some` when there are helpers to attach).
    #[cfg(all(target_arch = "wasm32", target_feature = "atomics"))]
    handle: Option<u32>,
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
        let shared = Arc::new(Shared::new(threads));
        #[cfg(all(target_arch = "wasm32", target_feature = "atomics"))]
        {
            let handle = if threads > 1 { Some(helpers::register(&shared)?) } else { None };
            Ok(ThreadPool { shared, handle, threads })
        }
        #[cfg(not(all(target_arch = "wasm32", target_feature = "atomics")))]
        {
            Self::spawn(shared, threads)
        }
    }

    /// Starts the `threads - 1` OS threads (workers `1..threads`).
    #[cfg(not(all(target_arch = "wasm32", target_feature = "atomics")))]
    fn spawn(shared: Arc<Shared>, threads: usize) -> Result<Self, ModelError> {
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

    /// In the threaded wasm build, the handle that `threads() - 1` JS helpers pass to
    /// [`run_helper`] (`None` with one thread, and natively, where the pool starts its own).
    pub fn helper_handle(&self) -> Option<u32> {
        #[cfg(all(target_arch = "wasm32", target_feature = "atomics"))]
        {
            self.handle
        }
        #[cfg(not(all(target_arch = "wasm32", target_feature = "atomics")))]
        {
            None
        }
    }

    /// How many JS helpers have attached ([`run_helper`]) so far (threaded wasm build).
    #[cfg(all(target_arch = "wasm32", target_feature = "atomics"))]
    pub fn helpers_attached(&self) -> usize {
        self.shared.attached.iter().skip(1).filter(|a| a.load(Ordering::Acquire)).count()
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
        #[cfg(not(all(target_arch = "wasm32", target_feature = "atomics")))]
        for w in self.workers.drain(..) {
            let _ = w.join();
        }
        // Helpers cannot be joined (a Worker is not a thread we own): each returns from its loop
        // on the shutdown it sees and drops its own `Arc`; one not yet attached finds no pool.
        #[cfg(all(target_arch = "wasm32", target_feature = "atomics"))]
        if let Some(handle) = self.handle {
            helpers::unregister(handle);
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

/// How a sleeping worker waits for the next epoch and how the caller wakes it (module docs,
/// "Parking"): a `Mutex` + `Condvar` natively.
#[cfg(not(all(target_arch = "wasm32", target_feature = "atomics")))]
mod park {
    use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
    use std::sync::{Condvar, Mutex};

    #[derive(Debug, Default)]
    pub(super) struct Parking {
        lock: Mutex<()>,
        wake: Condvar,
    }

    impl Parking {
        pub(super) fn new() -> Self {
            Self::default()
        }

        /// Sleeps until `epoch != seen`; returns the new epoch.
        pub(super) fn sleep(&self, epoch: &AtomicU32, sleepers: &AtomicUsize, seen: u32) -> u32 {
            let mut guard = self.lock.lock().unwrap_or_else(|p| p.into_inner());
            sleepers.fetch_add(1, Ordering::SeqCst);
            loop {
                let e = epoch.load(Ordering::SeqCst);
                if e != seen {
                    sleepers.fetch_sub(1, Ordering::SeqCst);
                    return e;
                }
                guard = self.wake.wait(guard).unwrap_or_else(|p| p.into_inner());
            }
        }

        /// Wakes every sleeper (called after `epoch` changed).
        pub(super) fn wake_all(&self, _epoch: &AtomicU32) {
            // Taking the lock orders us after any worker between its epoch check and its wait.
            let _guard = self.lock.lock().unwrap_or_else(|p| p.into_inner());
            self.wake.notify_all();
        }
    }
}

/// How a sleeping worker waits for the next epoch and how the caller wakes it (module docs,
/// "Parking"): `memory.atomic.wait32` / `memory.atomic.notify` on `epoch` in the shared memory.
#[cfg(all(target_arch = "wasm32", target_feature = "atomics"))]
mod park {
    use core::arch::wasm32::{memory_atomic_notify, memory_atomic_wait32};
    use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};

    #[derive(Debug, Default)]
    pub(super) struct Parking;

    impl Parking {
        pub(super) fn new() -> Self {
            Parking
        }

        /// Sleeps until `epoch != seen`; returns the new epoch.
        pub(super) fn sleep(&self, epoch: &AtomicU32, sleepers: &AtomicUsize, seen: u32) -> u32 {
            sleepers.fetch_add(1, Ordering::SeqCst);
            loop {
                let e = epoch.load(Ordering::SeqCst);
                if e != seen {
                    sleepers.fetch_sub(1, Ordering::SeqCst);
                    return e;
                }
                // The wait returns on a notify, or at once if `epoch` no longer holds `seen` (so a
                // notify that came first is not lost). Only the pool's helpers (Workers) sleep here.
                // SAFETY: `epoch.as_ptr()` is a live, 4-byte-aligned `AtomicU32` in the shared
                // memory (`self`'s `Shared` holds it past this call); `wait32` only reads it atomically.
                unsafe { memory_atomic_wait32(epoch.as_ptr().cast::<i32>(), seen as i32, -1) };
            }
        }

        /// Wakes every sleeper (called after `epoch` changed).
        pub(super) fn wake_all(&self, epoch: &AtomicU32) {
            // SAFETY: as in `sleep`: a live, aligned `AtomicU32`; `notify` writes no memory.
            unsafe { memory_atomic_notify(epoch.as_ptr().cast::<i32>(), u32::MAX) };
        }
    }
}

/// The pools JS helpers may attach to, by handle (threaded wasm build only).
#[cfg(all(target_arch = "wasm32", target_feature = "atomics"))]
mod helpers {
    use std::sync::{Arc, Mutex};

    use super::Shared;
    use crate::error::ModelError;

    /// Live pools with helpers to attach: `(handle, state)`. Handles are never reused.
    static POOLS: Mutex<Vec<(u32, Arc<Shared>)>> = Mutex::new(Vec::new());
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(1);

    pub(super) fn register(shared: &Arc<Shared>) -> Result<u32, ModelError> {
        let handle = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if handle == 0 {
            return Err(ModelError::InvalidOption {
                field: "threads",
                value: shared.threads.to_string(),
                reason: "too many thread pools were created in this module".into(),
            });
        }
        POOLS.lock().unwrap_or_else(|p| p.into_inner()).push((handle, Arc::clone(shared)));
        Ok(handle)
    }

    pub(super) fn unregister(handle: u32) {
        POOLS.lock().unwrap_or_else(|p| p.into_inner()).retain(|(h, _)| *h != handle);
    }

    pub(super) fn find(handle: u32) -> Option<Arc<Shared>> {
        POOLS.lock().unwrap_or_else(|p| p.into_inner()).iter().find(|(h, _)| *h == handle).map(|(_, s)| Arc::clone(s))
    }
}

/// Why [`run_helper`] refused to run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HelperError {
    #[error("no thread pool has handle {0} (it was dropped, or never existed)")]
    NoPool(u32),
    #[error("thread index {worker} is not a helper's in a pool of {threads} threads (1 to {last})", last = threads - 1)]
    BadIndex { worker: usize, threads: usize },
    #[error("thread index {0} already has a helper in this pool")]
    Taken(usize),
}

/// Runs helper `worker` (1 to `threads - 1`) of the pool with `handle` on the calling thread
/// (a JS Worker on the pool's shared memory) until the pool is dropped. Each index is accepted
/// once per pool (module docs, step 2), so whatever JS passes, no two threads share an index.
/// Blocks in `memory.atomic.wait32` between regions: never call it on a page's main thread.
#[cfg(all(target_arch = "wasm32", target_feature = "atomics"))]
pub fn run_helper(handle: u32, worker: usize) -> Result<(), HelperError> {
    let shared = helpers::find(handle).ok_or(HelperError::NoPool(handle))?;
    let slot = shared
        .attached
        .get(worker)
        .filter(|_| worker > 0)
        .ok_or(HelperError::BadIndex { worker, threads: shared.threads })?;
    if slot.swap(true, Ordering::AcqRel) {
        return Err(HelperError::Taken(worker));
    }
    shared.worker_loop(worker);
    Ok(())
}

/// A stress test of `pool` that reports instead of panicking (it runs in the browser too, where
/// a panic kills the Worker): `regions` regions of random lengths (0 to 4095), chunk sizes
/// (1 to 97) and seeds from `seed`. Every element must be written exactly once with a value
/// derived from its index and the region, and every chunk's per-thread scratch must stay its own
/// while it runs. Returns the number of elements checked.
pub fn stress(pool: &mut ThreadPool, regions: usize, max_len: usize, seed: u64) -> Result<u64, String> {
    const PER: usize = 8;
    let mut state = seed;
    let mut next = move || {
        // splitmix64
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    let mut data = vec![0u64; max_len];
    let mut scratch = vec![0u64; pool.threads() * PER];
    let mut checked = 0u64;
    let twice = AtomicUsize::new(0);
    let aliased = AtomicUsize::new(0);
    let bad_chunk = AtomicUsize::new(0);
    for region in 0..regions {
        let len = (next() % (max_len as u64 + 1)) as usize;
        let chunk = 1 + (next() % 97) as usize;
        let salt = next();
        let data = &mut data[..len];
        data.fill(u64::MAX);
        pool.for_chunks(data, chunk, &mut scratch, PER, |i, c, s| {
            // Scratch is this thread's alone: write a marker, do the work, check it survived.
            let marker = salt ^ i as u64;
            s.fill(marker);
            if c.is_empty() || c.len() > chunk {
                bad_chunk.fetch_add(1, Ordering::Relaxed);
            }
            for (k, v) in c.iter_mut().enumerate() {
                if *v != u64::MAX {
                    twice.fetch_add(1, Ordering::Relaxed);
                }
                *v = ((i * chunk + k) as u64).wrapping_mul(0x9e37_79b9).wrapping_add(salt);
            }
            if s.len() != PER || s.iter().any(|&x| x != marker) {
                aliased.fetch_add(1, Ordering::Relaxed);
            }
        });
        let counts = [&twice, &aliased, &bad_chunk].map(|a| a.swap(0, Ordering::Relaxed));
        if counts != [0; 3] {
            return Err(format!(
                "region {region} (len {len}, chunk {chunk}): {} elements written twice, {} chunks saw their \
                 scratch changed by another thread, {} chunks of a wrong size",
                counts[0], counts[1], counts[2]
            ));
        }
        for (j, &v) in data.iter().enumerate() {
            let want = (j as u64).wrapping_mul(0x9e37_79b9).wrapping_add(salt);
            if v != want {
                return Err(format!(
                    "region {region} (len {len}, chunk {chunk}): element {j} is {v:#x}, not {want:#x}"
                ));
            }
        }
        checked += len as u64;
    }
    Ok(checked)
}

#[cfg(test)]
mod tests;
