//! What bounds one plugin: CPU time spent in Wasm (call-hook accounting, checked at every
//! epoch tick), linear memory (a `ResourceLimiter` that records why growth failed), calls at
//! once (a semaphore) and a circuit breaker over consecutive failures.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::clock::monotonic;

/// CPU time of one call, counted only while Wasm runs: host calls (an HTTP fetch) and time
/// spent suspended between epoch ticks do not count.
#[derive(Debug)]
pub(crate) struct CpuMeter {
    budget: Duration,
    state: Mutex<MeterState>,
}

#[derive(Debug, Default)]
struct MeterState {
    used: Duration,
    running_since: Option<Instant>,
    /// When the guest last started running on its worker thread (resumed after a yield).
    slice_start: Option<Instant>,
}

impl CpuMeter {
    pub(crate) fn new(budget: Duration) -> Arc<Self> {
        Arc::new(Self { budget, state: Mutex::new(MeterState::default()) })
    }

    /// Wasm starts (or resumes) running.
    pub(crate) fn enter(&self) {
        if let Ok(mut s) = self.state.lock() {
            let now = monotonic();
            s.running_since = Some(now);
            s.slice_start.get_or_insert(now);
        }
    }

    /// Whether the guest has held its worker thread for `slice` since it last yielded.
    pub(crate) fn slice_used(&self, slice: Duration) -> bool {
        match self.state.lock() {
            Ok(s) => s.slice_start.is_some_and(|t| t.elapsed() >= slice),
            Err(_) => true,
        }
    }

    /// The guest yields its worker thread; the next `enter` starts a new slice.
    pub(crate) fn yielded(&self) {
        self.leave();
        if let Ok(mut s) = self.state.lock() {
            s.slice_start = None;
        }
    }

    /// Wasm stops running (returns, calls the host, or is suspended).
    pub(crate) fn leave(&self) {
        if let Ok(mut s) = self.state.lock()
            && let Some(since) = s.running_since.take()
        {
            s.used += since.elapsed();
        }
    }

    /// Time used so far, the running stretch included.
    pub(crate) fn used(&self) -> Duration {
        match self.state.lock() {
            Ok(s) => s.used + s.running_since.map_or(Duration::ZERO, |t| t.elapsed()),
            Err(_) => self.budget,
        }
    }

    /// Whether the call has used up its budget.
    pub(crate) fn exhausted(&self) -> bool {
        self.used() >= self.budget
    }
}

/// Caps linear memory and table growth of one instance; remembers whether the cap was hit so
/// the trap that follows (Rust aborts on allocation failure) is reported as out of memory.
#[derive(Debug)]
pub(crate) struct MemoryCap {
    pub(crate) max_bytes: usize,
    pub(crate) hit: bool,
}

impl wasmtime::ResourceLimiter for MemoryCap {
    fn memory_growing(&mut self, _current: usize, desired: usize, _max: Option<usize>) -> wasmtime::Result<bool> {
        if desired > self.max_bytes {
            self.hit = true;
            return Ok(false);
        }
        Ok(true)
    }

    fn table_growing(&mut self, _current: usize, desired: usize, _max: Option<usize>) -> wasmtime::Result<bool> {
        Ok(desired <= 100_000)
    }

    fn instances(&self) -> usize {
        64
    }

    fn tables(&self) -> usize {
        64
    }

    fn memories(&self) -> usize {
        16
    }
}

/// Opens after `threshold` consecutive failures; while open (for `cooldown`) calls fail at
/// once without instantiating. After the cooldown calls go through again and the next
/// failure reopens it at once, the next success closes it.
#[derive(Debug)]
pub(crate) struct Breaker {
    threshold: u32,
    cooldown: Duration,
    failures: AtomicU32,
    open_until: Mutex<Option<Instant>>,
}

impl Breaker {
    pub(crate) fn new(threshold: u32, cooldown: Duration) -> Self {
        Self { threshold, cooldown, failures: AtomicU32::new(0), open_until: Mutex::new(None) }
    }

    /// Whether calls may go through now.
    pub(crate) fn allows(&self) -> bool {
        if self.threshold == 0 {
            return true;
        }
        match self.open_until.lock() {
            Ok(g) => g.is_none_or(|until| monotonic() >= until),
            Err(_) => false,
        }
    }

    /// How long until it may close.
    pub(crate) fn retry_after(&self) -> Duration {
        match self.open_until.lock() {
            Ok(g) => g.map_or(Duration::ZERO, |until| until.saturating_duration_since(monotonic())),
            Err(_) => self.cooldown,
        }
    }

    pub(crate) fn success(&self) {
        if self.failures.swap(0, Ordering::Relaxed) != 0
            && let Ok(mut g) = self.open_until.lock()
        {
            *g = None;
        }
    }

    /// Records a failure; returns true when this one opened the breaker.
    pub(crate) fn failure(&self) -> bool {
        if self.threshold == 0 {
            return false;
        }
        let n = self.failures.fetch_add(1, Ordering::Relaxed).saturating_add(1);
        if n < self.threshold {
            return false;
        }
        match self.open_until.lock() {
            Ok(mut g) => {
                *g = Some(monotonic() + self.cooldown);
                n == self.threshold
            }
            Err(_) => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn breaker_opens_after_threshold_and_closes_on_success() {
        let b = Breaker::new(3, Duration::from_secs(60));
        assert!(!b.failure());
        assert!(!b.failure());
        assert!(b.allows());
        assert!(b.failure());
        assert!(!b.allows());
        assert!(b.retry_after() > Duration::from_secs(50));
        b.success();
        assert!(b.allows());
    }

    #[test]
    fn breaker_reopens_on_first_failure_after_cooldown() {
        let b = Breaker::new(2, Duration::ZERO);
        b.failure();
        b.failure();
        assert!(b.allows(), "cooldown of zero has passed");
        b.failure();
        assert!(b.failures.load(Ordering::Relaxed) >= 2);
    }

    #[test]
    fn cpu_meter_counts_only_running_time() {
        let m = CpuMeter::new(Duration::from_millis(5));
        m.enter();
        std::thread::sleep(Duration::from_millis(6));
        m.leave();
        let used = m.used();
        std::thread::sleep(Duration::from_millis(5));
        assert_eq!(m.used(), used, "time outside Wasm is not counted");
        assert!(m.exhausted());
    }

    #[test]
    fn memory_cap_refuses_growth_past_the_limit() {
        use wasmtime::ResourceLimiter;
        let mut cap = MemoryCap { max_bytes: 1 << 20, hit: false };
        assert!(cap.memory_growing(0, 1 << 20, None).unwrap());
        assert!(!cap.hit);
        assert!(!cap.memory_growing(1 << 20, 2 << 20, None).unwrap());
        assert!(cap.hit);
    }
}
