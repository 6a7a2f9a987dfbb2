//! Signed checkpoints of the audit chain, kept apart from the chain itself: a checkpoint is
//! the chain's head (seq, hash) at a moment, signed with the audit key (a key of its own,
//! never a token signing key). Whoever holds a checkpoint can later prove that the records
//! it covers were neither removed from the end nor rewritten with recomputed hashes, which
//! the unkeyed chain alone cannot show.

use serde::{Deserialize, Serialize};

use super::StoreError;

/// One signed chain head.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct CheckpointRecord {
    /// The last record covered.
    pub seq: u64,
    /// Its hash (hex).
    pub hash: String,
    /// When it was signed, unix milliseconds.
    pub time_ms: i64,
    /// The audit key's id (RFC 7638 thumbprint).
    pub key_id: String,
    /// Ed25519 signature over the checkpoint's message, base64url.
    pub signature: String,
}

/// Storage of the audit key and the checkpoints.
pub trait SyncCheckpoints {
    /// The audit signing key (PKCS#8, base64), if one was made.
    fn audit_key(&self) -> Result<Option<String>, StoreError>;
    /// Stores `pkcs8` as the audit key unless one exists; returns the key in force (so that
    /// of two racing starts, both use the one stored first).
    fn init_audit_key(&self, pkcs8: &str) -> Result<String, StoreError>;
    /// Adds a checkpoint (its `seq` is higher than every earlier one's).
    fn add_checkpoint(&self, checkpoint: &CheckpointRecord) -> Result<(), StoreError>;
    /// Every checkpoint, oldest first.
    fn checkpoints(&self) -> Result<Vec<CheckpointRecord>, StoreError>;
}
