use super::*;
use crate::test_util::Rng;

/// Thousands of regions of random sizes, chunk lengths and scratch sizes: every element is
/// written exactly once with a value derived from its index and the region, and every chunk sees
/// a scratch slice no other thread touches at the same time.
#[test]
fn thousands_of_random_regions_compute_exactly() {
    let regions = if cfg!(miri) { 20 } else { 3000 };
    for threads in [1, 2, 3, 4] {
        let mut pool = ThreadPool::new(threads).unwrap();
        let mut rng = Rng::new(threads as u64);
        let mut data = vec![0u64; 4096];
        let mut scratch = vec![0u64; threads * 8];
        for region in 0..regions {
            let len = (rng.u64() % if cfg!(miri) { 64 } else { 4096 }) as usize;
            let chunk = 1 + (rng.u64() % 97) as usize;
            let salt = rng.u64();
            let data = &mut data[..len];
            data.fill(u64::MAX);
            pool.for_chunks(data, chunk, &mut scratch, 8, |i, c, s| {
                // Scratch is this thread's alone: write a marker, do work, check it survived.
                let marker = salt ^ i as u64;
                s.fill(marker);
                for (k, v) in c.iter_mut().enumerate() {
                    assert_eq!(*v, u64::MAX, "element written twice");
                    *v = ((i * chunk + k) as u64).wrapping_mul(0x9e37_79b9).wrapping_add(salt);
                }
                assert!(s.iter().all(|&x| x == marker), "scratch shared between threads");
            });
            for (j, &v) in data.iter().enumerate() {
                assert_eq!(v, (j as u64).wrapping_mul(0x9e37_79b9).wrapping_add(salt), "region {region} element {j}");
            }
        }
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
