//! A monotonic-enough clock that works on every target: `std::time::Instant` natively, and the
//! JS clock in wasm32 (where `Instant::now` and `SystemTime::now` panic: the target has no clock).

/// A point in time to measure elapsed milliseconds from.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Stopwatch {
    #[cfg(not(target_arch = "wasm32"))]
    start: std::time::Instant,
    #[cfg(target_arch = "wasm32")]
    start_ms: f64,
}

impl Stopwatch {
    pub(crate) fn start() -> Self {
        #[cfg(not(target_arch = "wasm32"))]
        return Self { start: std::time::Instant::now() };
        #[cfg(target_arch = "wasm32")]
        return Self { start_ms: js_sys::Date::now() };
    }

    /// Milliseconds since [`Stopwatch::start`] (millisecond resolution in wasm).
    pub(crate) fn elapsed_ms(&self) -> f64 {
        #[cfg(not(target_arch = "wasm32"))]
        return self.start.elapsed().as_secs_f64() * 1e3;
        #[cfg(target_arch = "wasm32")]
        return (js_sys::Date::now() - self.start_ms).max(0.0);
    }
}

/// Seconds since the Unix epoch (UTC), 0 if the clock is before it.
pub(crate) fn unix_secs() -> u64 {
    #[cfg(not(target_arch = "wasm32"))]
    return std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    #[cfg(target_arch = "wasm32")]
    return (js_sys::Date::now() / 1000.0).max(0.0) as u64;
}
