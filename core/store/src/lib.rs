//! Gatehouse's persistence, the bottom layer: every persisted record type (clients, users,
//! keys, the browser sign-in aggregates, audit records, queued notifications, sign-in
//! counters), the store traits shaped by use case (create a client, revoke a token, redeem a
//! code), each method atomic inside the store, and the sled and memory backends.
//! Durability is separate: a write is acknowledged only after [`Db::durable`], which joins a
//! group commit so that concurrent requests share one flush. This crate imports nothing of
//! the server above it (the compiler keeps it so); sled never leaves it.
#![forbid(unsafe_code)]

pub mod audit_chain;
pub mod audit_checkpoints;
pub mod audit_event;
mod audit_file;
mod audit_index;
pub mod backup;
pub mod browser;
mod commit;
pub mod login_attempts;
pub mod login_form;
mod memory;
mod memory_browser;
pub mod notify_queue;
pub mod plugin_kv;
mod records;
mod sled;
mod sled_backup;
mod sled_browser;
mod sled_security;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_browser;

use std::sync::Arc;

use crate::audit_chain::{AuditRecord, ChainStart};

pub use commit::GroupCommit;
pub use memory::MemoryStore;
pub use records::{ClientRecord, KeyRecord, UserRecord};
pub use sled::SledStore;

/// Errors from a store backend. Messages name the store, never a secret.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// Another process holds the store's lock (usually a running server).
    #[error(
        "the store at {path} is locked by another process; is the server running? Stop it first, or manage a running server through its admin API"
    )]
    Locked {
        /// The store directory.
        path: String,
    },
    /// The backend failed to read or write.
    #[error("store I/O error: {0}")]
    Io(String),
    /// A stored value could not be decoded.
    #[error("corrupt record in tree `{tree}`: {detail}")]
    Corrupt {
        /// The tree (aggregate) holding the record.
        tree: &'static str,
        /// What was wrong.
        detail: String,
    },
    /// The record already exists.
    #[error("{0} already exists")]
    Conflict(String),
    /// The operation does not apply to the store as it is (said in full).
    #[error("{0}")]
    Refused(String),
}

/// The operations the server needs from persistent storage.
pub trait Store:
    browser::BrowserStore
    + plugin_kv::PluginKv
    + notify_queue::NotifyQueue
    + login_attempts::LoginAttempts
    + audit_checkpoints::AuditCheckpoints
    + Send
    + Sync
    + 'static
{
    /// A client registered through the CLI or admin API.
    fn get_client(&self, id: &str) -> Result<Option<ClientRecord>, StoreError>;
    /// All stored clients, ordered by id.
    fn list_clients(&self) -> Result<Vec<ClientRecord>, StoreError>;
    /// Adds a client; `Conflict` when the id is taken.
    fn create_client(&self, client: &ClientRecord) -> Result<(), StoreError>;
    /// Removes a client; `false` when there was none.
    fn remove_client(&self, id: &str) -> Result<bool, StoreError>;
    /// Replaces a stored client's secret digest; `false` when there is no such client.
    fn set_client_secret(&self, id: &str, secret_sha256: &str) -> Result<bool, StoreError>;

    /// The signing key set (active and retired-but-published keys).
    fn load_keys(&self) -> Result<Vec<KeyRecord>, StoreError>;
    /// Replaces the key set in one atomic write.
    fn replace_keys(&self, keys: &[KeyRecord]) -> Result<(), StoreError>;

    /// Records that the token `jti` is revoked until it expires at `expires_at` (unix seconds).
    fn revoke_token(&self, jti: &str, expires_at: i64) -> Result<(), StoreError>;
    /// Whether `jti` was revoked.
    fn is_revoked(&self, jti: &str) -> Result<bool, StoreError>;
    /// Drops revocations of tokens that expired before `now`; returns how many.
    fn purge_revocations(&self, now: i64) -> Result<usize, StoreError>;

    /// Adds a user; `Conflict` when the username or email is taken.
    fn create_user(&self, user: &UserRecord) -> Result<(), StoreError>;
    /// A user by id.
    fn get_user(&self, id: &str) -> Result<Option<UserRecord>, StoreError>;
    /// A user by normalised username or email.
    fn find_user(&self, login: &str) -> Result<Option<UserRecord>, StoreError>;
    /// All users, ordered by username.
    fn list_users(&self) -> Result<Vec<UserRecord>, StoreError>;
    /// Replaces a user's password hash; `false` when there is no such user.
    fn set_user_password(&self, id: &str, password_hash: &str, now: i64) -> Result<bool, StoreError>;
    /// Enables or disables a user; `false` when there is no such user.
    fn set_user_disabled(&self, id: &str, disabled: bool, now: i64) -> Result<bool, StoreError>;
    /// Replaces a user's groups; `false` when there is no such user.
    fn set_user_groups(&self, id: &str, groups: &[String], now: i64) -> Result<bool, StoreError>;

    /// Appends audit records (consecutive `seq`) in one write.
    fn append_audit(&self, records: &[AuditRecord]) -> Result<(), StoreError>;
    /// Up to `limit` audit records from `from_seq` on, in order.
    fn audit_records(&self, from_seq: u64, limit: usize) -> Result<Vec<AuditRecord>, StoreError>;
    /// Looks at up to `scan` records from `from_seq` on and returns those whose event type
    /// (`AuditEvent::name`) `keep` accepts, with the seq of the last record looked at; the
    /// others are not decoded (the notification queue follows the log this way).
    fn audit_records_of(
        &self,
        from_seq: u64,
        scan: usize,
        keep: &dyn Fn(&str) -> bool,
    ) -> Result<(Vec<AuditRecord>, Option<u64>), StoreError>;
    /// The newest audit record.
    fn last_audit_record(&self) -> Result<Option<AuditRecord>, StoreError>;
    /// Where the stored chain starts when retention removed its beginning.
    fn audit_start(&self) -> Result<Option<ChainStart>, StoreError>;
    /// Removes records up to `start.truncated_through` (whose hash is `start.last_hash`);
    /// returns how many. Callers append the attesting `audit_truncated` record first.
    fn prune_audit(&self, start: &ChainStart) -> Result<u64, StoreError>;

    /// Writes a consistent backup of the whole store (format: `backup.rs`).
    fn backup(&self, out: &mut dyn std::io::Write) -> Result<backup::Summary, StoreError>;
    /// Restores a backup into this store, which must be empty; a damaged backup is refused
    /// before anything is written.
    fn restore(&self, input: &mut dyn std::io::BufRead) -> Result<backup::Summary, StoreError>;

    /// Makes every write so far durable (blocks; called by the group commit task).
    fn flush(&self) -> Result<(), StoreError>;
}

/// The handle the server holds: a store plus its group commit.
#[derive(Clone)]
pub struct Db {
    store: Arc<dyn Store>,
    commit: GroupCommit,
    flush_latency: prometheus_client::metrics::histogram::Histogram,
}

impl Db {
    /// Wraps `store`; starts the group-commit task (needs a tokio runtime).
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self::with_flush_histogram(store, prometheus_client::metrics::histogram::Histogram::new([0.001]))
    }

    /// [`Self::new`], recording flush latency in `flush_latency` (a metric made before the
    /// store was opened).
    pub fn with_flush_histogram(
        store: Arc<dyn Store>,
        flush_latency: prometheus_client::metrics::histogram::Histogram,
    ) -> Self {
        let commit = GroupCommit::start(&store, flush_latency.clone());
        Self { store, commit, flush_latency }
    }

    /// The group commit's flush latency histogram (registered by the metrics).
    pub fn flush_latency(&self) -> prometheus_client::metrics::histogram::Histogram {
        self.flush_latency.clone()
    }

    /// Waits until every write made before this call is durable.
    pub async fn durable(&self) -> Result<(), StoreError> {
        self.commit.commit().await
    }

    /// How many flushes the group commit has performed (for tests and metrics).
    pub fn flush_count(&self) -> u64 {
        self.commit.flush_count()
    }

    /// The backend, for synchronous use-case calls.
    pub fn store(&self) -> &dyn Store {
        self.store.as_ref()
    }

    /// A shared handle on the backend (for parts of the state that outlive one call, such
    /// as the plugins' key-value store).
    pub fn shared_store(&self) -> Arc<dyn Store> {
        Arc::clone(&self.store)
    }
}

/// A [`Db`] that does not keep the store open (background tasks hold this).
#[derive(Clone)]
pub struct WeakDb {
    store: std::sync::Weak<dyn Store>,
    commit: GroupCommit,
    flush_latency: prometheus_client::metrics::histogram::Histogram,
}

impl WeakDb {
    /// The store, if it is still open.
    pub fn upgrade(&self) -> Option<Db> {
        Some(Db {
            store: self.store.upgrade()?,
            commit: self.commit.clone(),
            flush_latency: self.flush_latency.clone(),
        })
    }
}

impl Db {
    /// A handle that lets the store close when every [`Db`] is gone.
    pub fn downgrade(&self) -> WeakDb {
        WeakDb {
            store: Arc::downgrade(&self.store),
            commit: self.commit.clone(),
            flush_latency: self.flush_latency.clone(),
        }
    }
}

impl std::ops::Deref for Db {
    type Target = dyn Store;
    fn deref(&self) -> &Self::Target {
        self.store.as_ref()
    }
}

/// SHA-256 (aws-lc-rs), for digests the store computes itself (audit record hashes, lock
/// stripes).
pub fn sha256(data: &[u8]) -> [u8; 32] {
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, data);
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

/// [`sha256`] as lower-case hex.
pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(sha256(data))
}

/// Monotonic time, for measuring flushes (the server's `clock.rs` is not reachable from here).
#[allow(clippy::disallowed_methods, reason = "the store measures only its own flush latency")]
pub(crate) fn monotonic() -> std::time::Instant {
    std::time::Instant::now()
}

/// Schema byte prefixed to every encoded value, so a later version can migrate.
const SCHEMA_V1: u8 = 1;

/// Encodes a record as one schema byte + JSON.
fn encode<T: serde::Serialize>(value: &T) -> Result<Vec<u8>, StoreError> {
    let mut out = vec![SCHEMA_V1];
    serde_json::to_writer(&mut out, value).map_err(|e| StoreError::Io(e.to_string()))?;
    Ok(out)
}

/// Decodes a record written by [`encode`].
fn decode<T: serde::de::DeserializeOwned>(tree: &'static str, bytes: &[u8]) -> Result<T, StoreError> {
    match bytes.split_first() {
        Some((&SCHEMA_V1, rest)) => {
            serde_json::from_slice(rest).map_err(|e| StoreError::Corrupt { tree, detail: e.to_string() })
        }
        Some((v, _)) => Err(StoreError::Corrupt { tree, detail: format!("unknown schema version {v}") }),
        None => Err(StoreError::Corrupt { tree, detail: "empty value".into() }),
    }
}
