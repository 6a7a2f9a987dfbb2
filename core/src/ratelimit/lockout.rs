//! Account lockout with back-off: after `threshold` consecutive failed sign-ins for one login
//! name, the name is locked for `base`, doubling with each further lockout up to `max`. It is
//! keyed by the normalised name as typed, so unknown names lock exactly like real ones and the
//! lockout reveals nothing about which accounts exist. State is in memory (per process), and
//! time comes from the caller's clock.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

/// Lockout settings (`[login] lockout_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockoutPolicy {
    /// Consecutive failures that lock a name (0 turns lockout off).
    pub threshold: u32,
    /// The first lockout's length.
    pub base: Duration,
    /// The longest lockout.
    pub max: Duration,
}

#[derive(Debug, Clone, Copy, Default)]
struct Entry {
    failures: u32,
    lockouts: u32,
    locked_until: i64,
    last_failure: i64,
}

/// After this long without failures a name starts afresh.
const FORGET_AFTER: i64 = 24 * 3600;
const CAP: usize = 100_000;

/// Lockout state of all names.
#[derive(Debug)]
pub struct Lockouts {
    policy: LockoutPolicy,
    entries: Mutex<HashMap<String, Entry>>,
}

fn secs(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}

impl Lockouts {
    /// Empty state under `policy`.
    pub fn new(policy: LockoutPolicy) -> Self {
        Self { policy, entries: Mutex::new(HashMap::new()) }
    }

    /// The remaining lock of `name` at `now` (unix seconds), if locked.
    pub fn locked(&self, name: &str, now: i64) -> Option<Duration> {
        let map = self.entries.lock().ok()?;
        let until = map.get(name)?.locked_until;
        (until > now).then(|| Duration::from_secs(u64::try_from(until - now).unwrap_or(0)))
    }

    /// Records a failure; `Some(lock)` when this failure locked the name.
    pub fn failure(&self, name: &str, now: i64) -> Option<Duration> {
        if self.policy.threshold == 0 {
            return None;
        }
        let mut map = self.entries.lock().ok()?;
        if map.len() >= CAP {
            map.retain(|_, e| e.locked_until > now || now - e.last_failure < FORGET_AFTER);
        }
        let e = map.entry(name.to_owned()).or_default();
        if now - e.last_failure >= FORGET_AFTER {
            *e = Entry::default();
        }
        e.last_failure = now;
        e.failures += 1;
        if e.failures < self.policy.threshold {
            return None;
        }
        e.failures = 0;
        let factor = 1u32.checked_shl(e.lockouts.min(30)).unwrap_or(u32::MAX);
        let lock = self.policy.base.saturating_mul(factor).min(self.policy.max);
        e.lockouts = e.lockouts.saturating_add(1);
        e.locked_until = now.saturating_add(secs(lock));
        Some(lock)
    }

    /// A successful sign-in clears the name.
    pub fn success(&self, name: &str) {
        if let Ok(mut map) = self.entries.lock() {
            map.remove(name);
        }
    }

    /// Drops names that are neither locked nor recently failing.
    pub fn housekeeping(&self, now: i64) {
        if let Ok(mut map) = self.entries.lock() {
            map.retain(|_, e| e.locked_until > now || now - e.last_failure < FORGET_AFTER);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locks_after_threshold_and_backs_off() {
        let l =
            Lockouts::new(LockoutPolicy { threshold: 3, base: Duration::from_secs(60), max: Duration::from_secs(200) });
        assert_eq!(l.failure("a", 0), None);
        assert_eq!(l.failure("a", 1), None);
        assert_eq!(l.failure("a", 2), Some(Duration::from_secs(60)));
        assert_eq!(l.locked("a", 30), Some(Duration::from_secs(32)));
        assert_eq!(l.locked("b", 30), None);
        assert_eq!(l.locked("a", 62), None);
        for t in 63..65 {
            assert_eq!(l.failure("a", t), None);
        }
        assert_eq!(l.failure("a", 65), Some(Duration::from_secs(120)), "doubled");
        for t in 200..202 {
            l.failure("a", t);
        }
        assert_eq!(l.failure("a", 202), Some(Duration::from_secs(200)), "capped");
        l.success("a");
        assert_eq!(l.locked("a", 203), None);
        let off =
            Lockouts::new(LockoutPolicy { threshold: 0, base: Duration::from_secs(1), max: Duration::from_secs(1) });
        assert!((0..100).all(|t| off.failure("x", t).is_none()));
    }
}
