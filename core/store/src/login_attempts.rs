//! Sign-in attempt counters with lockout, persisted so that a restart forgets nothing (and,
//! on a shared database, so that every instance counts the same failures). A key is an
//! account (`u:<user id>`: every alias of a person shares it), a typed name that matches no
//! account (`n:<name>`, so unknown names lock exactly like real ones), or a login flow
//! (`f:<flow hash>`, a cap on one flow's attempts).
//!
//! An attempt is counted *before* the password is hashed ([`reserve`]): concurrent guesses
//! all see the count the earlier ones left, so at most `threshold` verifications run before
//! the lock, however many arrive at once. The attempt is then settled ([`settle`]): a
//! failure that reaches the threshold locks the key with back-off, a success clears it, and
//! an attempt that never verified (the hashing pool was busy) is given back. The rules are
//! written once here; each backend only makes them atomic.

use serde::{Deserialize, Serialize};

use super::StoreError;

/// Lockout settings (`[login] lockout_*`, and per flow `attempts_per_flow`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockoutPolicy {
    /// Attempts that lock a key when they fail (0 turns lockout off).
    pub threshold: u32,
    /// The first lockout's length.
    pub base: std::time::Duration,
    /// The longest lockout (each further lockout doubles up to this).
    pub max: std::time::Duration,
}

/// The counters of one key.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct AttemptRecord {
    /// Attempts counted since the last lock or success (including those still verifying).
    pub failures: u32,
    /// Lockouts so far (the back-off exponent).
    pub lockouts: u32,
    /// Locked until this time (unix seconds).
    pub locked_until: i64,
    /// The last counted attempt (unix seconds); a key quiet for a day starts afresh.
    pub last_attempt: i64,
}

/// After this long without attempts a key starts afresh (and may be purged).
pub const FORGET_AFTER: i64 = 24 * 3600;
/// A counted attempt settles well within this (a password check waits at most a few seconds
/// for the hashing pool); one older than this was lost with its process.
const SETTLE_WITHIN: i64 = 60;

/// The answer to [`reserve`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reserve {
    /// The attempt is counted: verify, then settle it.
    Granted,
    /// Locked: refused until this time.
    Refused {
        /// Unix seconds.
        until: i64,
    },
    /// Every allowed attempt is already under way (not a lock: they may all succeed); ask
    /// again after this time.
    Busy {
        /// Unix seconds.
        until: i64,
    },
}

/// How a reserved attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The password was right: the key starts afresh.
    Success,
    /// Wrong (or the account cannot sign in): the counted attempt stays.
    Failure,
    /// Never verified (busy, store error): the attempt is given back.
    Cancelled,
}

fn secs(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}

/// Counts an attempt on `rec` at `now` if one may be made.
pub fn reserve(rec: &mut AttemptRecord, policy: &LockoutPolicy, now: i64) -> Reserve {
    if policy.threshold == 0 {
        return Reserve::Granted;
    }
    if rec.locked_until > now {
        return Reserve::Refused { until: rec.locked_until };
    }
    if now - rec.last_attempt >= FORGET_AFTER {
        *rec = AttemptRecord { lockouts: 0, ..AttemptRecord::default() };
    }
    if rec.failures >= policy.threshold {
        if now - rec.last_attempt < SETTLE_WITHIN {
            // The attempts that will decide the lock are still verifying: wait for them.
            return Reserve::Busy { until: now + 1 };
        }
        // Those attempts never settled (the process ended meanwhile): they count as failures.
        settle(rec, policy, Outcome::Failure, rec.last_attempt);
        if rec.locked_until > now {
            return Reserve::Refused { until: rec.locked_until };
        }
    }
    rec.failures += 1;
    rec.last_attempt = now;
    Reserve::Granted
}

/// Settles an attempt that [`reserve`] granted; `Some(until)` when this failure locked the key.
pub fn settle(rec: &mut AttemptRecord, policy: &LockoutPolicy, outcome: Outcome, now: i64) -> Option<i64> {
    if policy.threshold == 0 {
        return None;
    }
    match outcome {
        Outcome::Success => {
            *rec = AttemptRecord::default();
            None
        }
        Outcome::Cancelled => {
            rec.failures = rec.failures.saturating_sub(1);
            None
        }
        Outcome::Failure if rec.failures >= policy.threshold && rec.locked_until <= now => {
            let factor = 1u32.checked_shl(rec.lockouts.min(30)).unwrap_or(u32::MAX);
            let lock = policy.base.saturating_mul(factor).min(policy.max);
            rec.failures = 0;
            rec.lockouts = rec.lockouts.saturating_add(1);
            rec.locked_until = now.saturating_add(secs(lock));
            Some(rec.locked_until)
        }
        Outcome::Failure => None,
    }
}

/// Whether a record still matters at `now` (locked, or attempts within the last day).
pub fn is_live(rec: &AttemptRecord, now: i64) -> bool {
    rec.locked_until > now || now - rec.last_attempt < FORGET_AFTER
}

/// Storage of the counters; each method applies the rule above atomically for its key.
pub trait SyncAttempts {
    /// [`reserve`] for `key`.
    fn reserve_attempt(&self, key: &str, policy: &LockoutPolicy, now: i64) -> Result<Reserve, StoreError>;
    /// [`settle`] for `key`.
    fn settle_attempt(
        &self,
        key: &str,
        policy: &LockoutPolicy,
        outcome: Outcome,
        now: i64,
    ) -> Result<Option<i64>, StoreError>;
    /// Drops records that no longer matter; returns how many.
    fn purge_attempts(&self, now: i64) -> Result<usize, StoreError>;
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    const P: LockoutPolicy =
        LockoutPolicy { threshold: 3, base: Duration::from_secs(60), max: Duration::from_secs(200) };

    fn fail(r: &mut AttemptRecord, t: i64) -> Option<i64> {
        assert_eq!(reserve(r, &P, t), Reserve::Granted);
        settle(r, &P, Outcome::Failure, t)
    }

    #[test]
    fn locks_after_threshold_and_backs_off() {
        let mut r = AttemptRecord::default();
        assert_eq!(fail(&mut r, 1000), None);
        assert_eq!(fail(&mut r, 1001), None);
        assert_eq!(fail(&mut r, 1002), Some(1062));
        assert_eq!(reserve(&mut r, &P, 1030), Reserve::Refused { until: 1062 });
        for t in 1063..1065 {
            assert_eq!(fail(&mut r, t), None);
        }
        assert_eq!(fail(&mut r, 1065), Some(1065 + 120), "doubled");
        for t in 1200..1202 {
            fail(&mut r, t);
        }
        assert_eq!(fail(&mut r, 1202), Some(1202 + 200), "capped");
        assert_eq!(reserve(&mut r, &P, 1500), Reserve::Granted);
        settle(&mut r, &P, Outcome::Success, 1500);
        assert_eq!(r, AttemptRecord::default());
        let off = LockoutPolicy { threshold: 0, ..P };
        assert!((0..100).all(|t| reserve(&mut r, &off, t) == Reserve::Granted));
    }

    #[test]
    fn concurrent_attempts_are_counted_before_they_verify() {
        let mut r = AttemptRecord::default();
        // Ten guesses arrive at once: three are let through, seven refused without hashing.
        let granted = (0..10).filter(|_| reserve(&mut r, &P, 1000) == Reserve::Granted).count();
        assert_eq!(granted, 3);
        assert_eq!(settle(&mut r, &P, Outcome::Failure, 1000), Some(1060));
        assert_eq!(settle(&mut r, &P, Outcome::Failure, 1000), None);
        assert_eq!(reserve(&mut r, &P, 1001), Reserve::Refused { until: 1060 });
    }

    #[test]
    fn a_cancelled_attempt_is_given_back() {
        let mut r = AttemptRecord::default();
        for _ in 0..3 {
            assert_eq!(reserve(&mut r, &P, 5), Reserve::Granted);
        }
        settle(&mut r, &P, Outcome::Cancelled, 5);
        assert_eq!(reserve(&mut r, &P, 5), Reserve::Granted);
    }

    #[test]
    fn attempts_lost_with_their_process_count_as_failures() {
        let mut r = AttemptRecord::default();
        for _ in 0..3 {
            reserve(&mut r, &P, 1000);
        }
        assert_eq!(reserve(&mut r, &P, 1030), Reserve::Busy { until: 1031 });
        // A minute on, they are taken as failures: the lock they earned (already over) is
        // remembered for the back-off, and a new attempt may start.
        assert_eq!(reserve(&mut r, &P, 1061), Reserve::Granted);
        assert_eq!((r.lockouts, r.failures), (1, 1));
    }
}
