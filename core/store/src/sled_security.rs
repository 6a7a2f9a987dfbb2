//! The sled backend's sign-in attempt counters (`login_attempts.rs`) and audit checkpoints
//! (`audit_checkpoints.rs`): each change a compare-and-swap, so concurrent requests apply
//! the shared rules one after the other.

use super::audit_checkpoints::{CheckpointRecord, SyncCheckpoints};
use super::login_attempts::{self, AttemptRecord, LockoutPolicy, Outcome, Reserve, SyncAttempts};
use super::sled::{LOGIN_ATTEMPTS, io};
use super::{SledStore, StoreError, decode, encode};

/// The tree of checkpoints, keyed by big-endian seq.
pub(super) const CHECKPOINTS: &str = "audit_checkpoints";
/// The audit key's entry in the `keys` tree (beside the token key set).
const AUDIT_KEY: &[u8] = b"audit_key";

impl SledStore {
    /// Applies `rule` to the sign-in counters of `key` atomically (compare and swap; a
    /// concurrent change makes it read and apply again).
    fn update_attempts<T>(&self, key: &str, rule: impl Fn(&mut AttemptRecord) -> T) -> Result<T, StoreError> {
        let _w = self.writing()?;
        loop {
            let old = self.attempts.get(key.as_bytes()).map_err(io)?;
            let mut rec: AttemptRecord = match &old {
                Some(bytes) => decode(LOGIN_ATTEMPTS, bytes)?,
                None => AttemptRecord::default(),
            };
            let out = rule(&mut rec);
            let new = if rec == AttemptRecord::default() { None } else { Some(encode(&rec)?) };
            if old.is_none() && new.is_none() {
                return Ok(out);
            }
            match self.attempts.compare_and_swap(key.as_bytes(), old, new).map_err(io)? {
                Ok(()) => return Ok(out),
                Err(_) => continue,
            }
        }
    }
}

impl SyncAttempts for SledStore {
    fn reserve_attempt(&self, key: &str, policy: &LockoutPolicy, now: i64) -> Result<Reserve, StoreError> {
        self.update_attempts(key, |rec| login_attempts::reserve(rec, policy, now))
    }

    fn settle_attempt(
        &self,
        key: &str,
        policy: &LockoutPolicy,
        outcome: Outcome,
        now: i64,
    ) -> Result<Option<i64>, StoreError> {
        self.update_attempts(key, |rec| login_attempts::settle(rec, policy, outcome, now))
    }

    fn purge_attempts(&self, now: i64) -> Result<usize, StoreError> {
        let _w = self.writing()?;
        let mut gone = 0;
        for entry in self.attempts.iter() {
            let (k, v) = entry.map_err(io)?;
            let rec: AttemptRecord = decode(LOGIN_ATTEMPTS, &v)?;
            // Removed only if unchanged since it was read.
            if !login_attempts::is_live(&rec, now)
                && self.attempts.compare_and_swap(k, Some(v), None::<&[u8]>).map_err(io)?.is_ok()
            {
                gone += 1;
            }
        }
        Ok(gone)
    }
}

impl SyncCheckpoints for SledStore {
    fn audit_key(&self) -> Result<Option<String>, StoreError> {
        self.keys.get(AUDIT_KEY).map_err(io)?.map(|v| decode("keys", &v)).transpose()
    }

    fn init_audit_key(&self, pkcs8: &str) -> Result<String, StoreError> {
        let _w = self.writing()?;
        let new = encode(&pkcs8)?;
        match self.keys.compare_and_swap(AUDIT_KEY, None::<&[u8]>, Some(new)).map_err(io)? {
            Ok(()) => Ok(pkcs8.to_owned()),
            Err(e) => match e.current {
                Some(existing) => decode("keys", &existing),
                None => Err(StoreError::Io("the audit key vanished while it was created".into())),
            },
        }
    }

    fn add_checkpoint(&self, checkpoint: &CheckpointRecord) -> Result<(), StoreError> {
        let _w = self.writing()?;
        self.checkpoints.insert(checkpoint.seq.to_be_bytes(), encode(checkpoint)?).map_err(io)?;
        Ok(())
    }

    fn checkpoints(&self) -> Result<Vec<CheckpointRecord>, StoreError> {
        self.checkpoints.iter().map(|r| r.map_err(io).and_then(|(_, v)| decode(CHECKPOINTS, &v))).collect()
    }
}
