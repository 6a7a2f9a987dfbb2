//! A keyed token bucket whose tokens can be given back. Sign-in failure limits take a token
//! *before* the password is hashed, so that concurrent guesses cannot all pass the check
//! before any failure is counted, and give it back when the password was right (only
//! failures count). governor has no way to return a cell, hence this small bucket.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::clock::monotonic;
use crate::config::Rate;

/// More keys than this and idle (full) buckets are dropped before a new one is added.
const CAP: usize = 100_000;

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// `rate.count` tokens per key, refilled evenly over `rate.per`.
pub(crate) struct Reserving<K: Hash + Eq> {
    capacity: f64,
    per_second: f64,
    buckets: Mutex<HashMap<K, Bucket>>,
}

impl<K: Hash + Eq + Clone> Reserving<K> {
    pub(crate) fn new(rate: Rate) -> Self {
        let capacity = f64::from(rate.count.get());
        let per_second = capacity / rate.per.as_secs_f64().max(1e-9);
        Self { capacity, per_second, buckets: Mutex::new(HashMap::new()) }
    }

    fn refill(&self, b: &mut Bucket, now: Instant) {
        let elapsed = now.saturating_duration_since(b.at).as_secs_f64();
        b.tokens = (b.tokens + elapsed * self.per_second).min(self.capacity);
        b.at = now;
    }

    /// Takes a token for `key`; `Err(wait)` until one is there.
    pub(crate) fn take(&self, key: &K) -> Result<(), Duration> {
        let now = monotonic();
        let Ok(mut map) = self.buckets.lock() else { return Err(Duration::from_secs(1)) };
        if map.len() >= CAP && !map.contains_key(key) {
            map.retain(|_, b| {
                let mut b2 = *b;
                self.refill(&mut b2, now);
                b2.tokens < self.capacity
            });
        }
        let b = map.entry(key.clone()).or_insert(Bucket { tokens: self.capacity, at: now });
        self.refill(b, now);
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            Ok(())
        } else {
            let wait = (1.0 - b.tokens) / self.per_second;
            Err(Duration::from_secs_f64(wait).max(Duration::from_secs(1)))
        }
    }

    /// Returns a token taken for `key` (the attempt did not fail).
    pub(crate) fn give_back(&self, key: &K) {
        if let Ok(mut map) = self.buckets.lock()
            && let Some(b) = map.get_mut(key)
        {
            b.tokens = (b.tokens + 1.0).min(self.capacity);
        }
    }

    /// Drops the buckets that have filled up again.
    pub(crate) fn housekeeping(&self) {
        let now = monotonic();
        if let Ok(mut map) = self.buckets.lock() {
            map.retain(|_, b| {
                let mut b2 = *b;
                self.refill(&mut b2, now);
                b2.tokens < self.capacity
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use std::num::NonZeroU32;

    use super::*;

    #[test]
    fn tokens_run_out_and_come_back_when_given() {
        let r = Reserving::<u8>::new(Rate { count: NonZeroU32::new(2).unwrap(), per: Duration::from_secs(600) });
        assert!(r.take(&1).is_ok());
        assert!(r.take(&1).is_ok());
        let wait = r.take(&1).unwrap_err();
        assert!(wait >= Duration::from_secs(200), "{wait:?}");
        assert!(r.take(&2).is_ok(), "keys are apart");
        r.give_back(&1);
        assert!(r.take(&1).is_ok());
        assert!(r.take(&1).is_err());
    }
}
