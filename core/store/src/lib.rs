//! Gatehouse's persistence, the bottom layer: every persisted record type (clients, users,
//! keys, the browser sign-in aggregates, audit records, queued notifications, sign-in
//! counters), the store traits shaped by use case (create a client, revoke a token, redeem a
//! code), each method atomic inside the store, and the sled and memory backends.
//! Durability is separate: a write is acknowledged only after [`Db::durable`], which joins a
//! group commit so that concurrent requests share one flush. This crate imports nothing of
//! the server above it (the compiler keeps it so); sled never leaves it.
#![forbid(unsafe_code)]

pub mod api;
pub mod audit_actor;
pub mod audit_chain;
pub mod audit_checkpoints;
pub mod audit_event;
mod audit_file;
mod audit_index;
mod audit_input;
mod audit_names;
pub mod backup;
pub mod browser;
mod commit;
#[cfg(any(test, feature = "testing"))]
pub mod conformance;
mod embedded;
pub mod factors;
pub mod groups;
mod leases;
pub mod links;
pub mod login_attempts;
pub mod login_form;
mod memory;
mod memory_browser;
mod memory_groups;
pub mod notify_queue;
pub mod pg;
#[cfg(test)]
mod pg_tests;
// Compiled in every build (not behind `testing`), so that the server and the test build
// share one build of this crate; it only starts processes when a test asks.
#[doc(hidden)]
pub mod pg_testing;
pub mod plugin_kv;
mod records;
mod sled;
mod sled_backup;
mod sled_browser;
mod sled_factors;
mod sled_groups;
mod sled_links;
mod sled_security;
mod sled_transfer;
mod sled_users;
#[cfg(test)]
mod tests;
pub mod tickets;
pub mod transfer;
#[cfg(test)]
mod transfer_tests;

use std::sync::Arc;

use crate::audit_chain::{AuditRecord, ChainStart};

pub use api::{
    AuditStore, Backend, BrowserStore, ClientStore, Coordination, FactorStore, GroupStore, KeyStore, LinkStore,
    LoginAttempts, Maintenance, NotifyQueue, PluginKv, RevocationStore, UserStore,
};
pub use commit::GroupCommit;
pub use embedded::{Embedded, SyncBackend};
pub use memory::MemoryStore;
pub use records::{ClientRecord, KeyRecord, KeySetRecord, Patched, Profile, UserPatch, UserRecord};
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
    /// The database cannot be reached or did not answer in time; the request may be retried
    /// (HTTP 503 with `Retry-After`).
    #[error("the database is unavailable: {0}")]
    Unavailable(String),
}

/// The synchronous operations of the embedded backends (sled, memory), made async by
/// [`Embedded`]; the server uses the async capability traits of `api.rs`.
pub trait SyncStore:
    browser::SyncBrowser
    + plugin_kv::SyncKv
    + notify_queue::SyncQueue
    + login_attempts::SyncAttempts
    + audit_checkpoints::SyncCheckpoints
    + links::SyncLinks
    + groups::SyncGroups
    + factors::SyncFactors
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
    /// Replaces a stored client if its version is still `expected` (see `api::ClientStore`).
    fn update_client(&self, client: &ClientRecord, expected: u64) -> Result<Patched<ClientRecord>, StoreError>;

    /// The signing key set (active and retired-but-published keys) and its version.
    fn load_keys(&self) -> Result<KeySetRecord, StoreError>;
    /// Replaces the key set if its version is still `expected`; returns the new version, or
    /// `Conflict` when another writer replaced it first.
    fn replace_keys(&self, expected: u64, keys: &[KeyRecord]) -> Result<u64, StoreError>;

    /// Records `key` as used until `expires_at` (unix seconds); `false` when it was already
    /// used and has not expired (single-use assertions, proofs).
    fn use_once(&self, key: &str, expires_at: i64, now: i64) -> Result<bool, StoreError>;
    /// Takes or renews the lease `name` for `holder` until `until_ms` if it is free, expired
    /// or already `holder`'s; `false` when another holder has it.
    fn try_lease(&self, name: &str, holder: &str, until_ms: i64, now_ms: i64) -> Result<bool, StoreError>;

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
    /// A page of users (see `api::UserStore::users_page`).
    fn users_page(
        &self,
        prefix: Option<&str>,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<UserRecord>, StoreError>;
    /// Removes a user, their links, factors and consents (see `api::UserStore`).
    fn delete_user(&self, id: &str) -> Result<Option<UserRecord>, StoreError>;
    /// Replaces a user's groups; `false` when there is no such user.
    fn set_user_groups(&self, id: &str, groups: &[String], now: i64) -> Result<bool, StoreError>;
    /// Applies `patch` to a user, only if its version is `expected` (when given), atomically.
    fn patch_user(&self, id: &str, expected: Option<u64>, patch: &UserPatch, now: i64) -> Result<Patched, StoreError>;
    /// Replaces a user's profile; `false` when there is no such user.
    fn set_user_profile(&self, id: &str, profile: &Profile, now: i64) -> Result<bool, StoreError>;
    /// Marks the user's email address verified if it is still `email` (atomically); `false`
    /// when there is no such user or the address changed.
    fn set_email_verified(&self, id: &str, email: &str, now: i64) -> Result<bool, StoreError>;

    /// Appends audit records (consecutive `seq`) in one write, only right after the stored
    /// head (the first record's `seq` and `prev` follow the last stored record): otherwise
    /// `Conflict`, and nothing is written (another writer moved the head).
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

    /// Every record, as one consistent snapshot (`transfer.rs`).
    fn export(&self) -> Result<Vec<transfer::Item>, StoreError>;
    /// Writes the kinds of `items` that the traits have no writer for (sign-in counters,
    /// dead letters, plugin kv entries, a pruned chain's start) into this empty store.
    fn import_extra(&self, items: &[transfer::Item]) -> Result<(), StoreError>;

    /// Makes every write so far durable (blocks; called by the group commit task).
    fn flush(&self) -> Result<(), StoreError>;
    /// `sled` or `memory`.
    fn kind(&self) -> &'static str;
}

/// The handle the server holds: a backend and its group commit. It hands out the store's
/// capabilities one by one ([`Db::clients`], [`Db::users`], ...), so each part of the server
/// names what it uses; there is no `Deref` to the whole backend.
#[derive(Clone)]
pub struct Db {
    backend: Arc<dyn Backend>,
    commit: GroupCommit,
    flush_latency: prometheus_client::metrics::histogram::Histogram,
}

impl Db {
    /// Wraps `backend`; starts the group-commit task (needs a tokio runtime).
    pub fn new(backend: Arc<dyn Backend>) -> Self {
        Self::with_flush_histogram(backend, prometheus_client::metrics::histogram::Histogram::new([0.001]))
    }

    /// [`Self::new`], recording flush latency in `flush_latency` (a metric made before the
    /// store was opened).
    pub fn with_flush_histogram(
        backend: Arc<dyn Backend>,
        flush_latency: prometheus_client::metrics::histogram::Histogram,
    ) -> Self {
        let commit = GroupCommit::start(&backend, flush_latency.clone());
        Self { backend, commit, flush_latency }
    }

    /// Waits until every write made before this call is durable.
    pub async fn durable(&self) -> Result<(), StoreError> {
        self.commit.commit().await
    }

    /// How many flushes the group commit has performed (for tests and metrics).
    pub fn flush_count(&self) -> u64 {
        self.commit.flush_count()
    }

    /// Stored clients.
    pub fn clients(&self) -> &dyn ClientStore {
        &*self.backend
    }

    /// User accounts.
    pub fn users(&self) -> &dyn UserStore {
        &*self.backend
    }

    /// Federated identities linked to users.
    pub fn links(&self) -> &dyn LinkStore {
        &*self.backend
    }

    /// Groups.
    pub fn groups(&self) -> &dyn GroupStore {
        &*self.backend
    }

    /// The group capability, shared (a service holds it).
    pub fn shared_groups(&self) -> Arc<dyn GroupStore> {
        self.backend.clone()
    }

    /// The signing key set.
    pub fn keys(&self) -> &dyn KeyStore {
        &*self.backend
    }

    /// Single-use markers and leases shared by the instances on this store.
    pub fn coordination(&self) -> &dyn Coordination {
        &*self.backend
    }

    /// Which backend this is.
    pub fn kind(&self) -> &'static str {
        self.backend.kind()
    }

    /// Revoked tokens.
    pub fn revocations(&self) -> &dyn RevocationStore {
        &*self.backend
    }

    /// Flows, sessions, codes, refresh families, consent.
    pub fn browser(&self) -> &dyn BrowserStore {
        &*self.backend
    }

    /// The audit log and its checkpoints.
    pub fn audit(&self) -> &dyn AuditStore {
        &*self.backend
    }

    /// The notification queue.
    pub fn notify(&self) -> &dyn NotifyQueue {
        &*self.backend
    }

    /// Sign-in counters and lockouts.
    pub fn attempts(&self) -> &dyn LoginAttempts {
        &*self.backend
    }

    /// Flushes, backups, restores.
    pub fn maintenance(&self) -> &dyn Maintenance {
        &*self.backend
    }

    /// The plugins' key-value store, shared (the plugin host keeps it).
    pub fn plugin_kv(&self) -> Arc<dyn PluginKv> {
        self.backend.clone()
    }

    /// The audit capability, shared (tasks that outlive one call).
    pub fn shared_audit(&self) -> Arc<dyn AuditStore> {
        self.backend.clone()
    }

    /// The users capability, shared (a service holds it).
    pub fn shared_users(&self) -> Arc<dyn UserStore> {
        self.backend.clone()
    }

    /// The link capability, shared (a service holds it).
    pub fn shared_links(&self) -> Arc<dyn LinkStore> {
        self.backend.clone()
    }

    /// Single-use keys and leases, shared (a service holds it).
    pub fn shared_coordination(&self) -> Arc<dyn Coordination> {
        self.backend.clone()
    }

    /// The second-factor capability, shared (a service holds it).
    pub fn shared_factors(&self) -> Arc<dyn FactorStore> {
        self.backend.clone()
    }

    /// The browser-grant capability, shared (a service holds it).
    pub fn shared_browser(&self) -> Arc<dyn BrowserStore> {
        self.backend.clone()
    }

    /// The revocations capability, shared (a service holds it).
    pub fn shared_revocations(&self) -> Arc<dyn RevocationStore> {
        self.backend.clone()
    }

    /// The sign-in counters, shared (a service holds it).
    pub fn shared_attempts(&self) -> Arc<dyn LoginAttempts> {
        self.backend.clone()
    }

    /// The notification queue, shared (a service holds it).
    pub fn shared_notify(&self) -> Arc<dyn NotifyQueue> {
        self.backend.clone()
    }

    /// The group commit: `commit()` waits until every write made before it is durable
    /// (what [`Db::durable`] does, for a service that holds capabilities rather than a `Db`).
    pub fn group_commit(&self) -> GroupCommit {
        self.commit.clone()
    }

    /// The whole backend, shared (the server's parts that hold more than one capability).
    pub fn backend(&self) -> Arc<dyn Backend> {
        self.backend.clone()
    }
}

/// A [`Db`] that does not keep the store open (background tasks hold this).
#[derive(Clone)]
pub struct WeakDb {
    backend: std::sync::Weak<dyn Backend>,
    commit: GroupCommit,
    flush_latency: prometheus_client::metrics::histogram::Histogram,
}

impl WeakDb {
    /// The store, if it is still open.
    pub fn upgrade(&self) -> Option<Db> {
        Some(Db {
            backend: self.backend.upgrade()?,
            commit: self.commit.clone(),
            flush_latency: self.flush_latency.clone(),
        })
    }
}

impl Db {
    /// A handle that lets the store close when every [`Db`] is gone.
    pub fn downgrade(&self) -> WeakDb {
        WeakDb {
            backend: Arc::downgrade(&self.backend),
            commit: self.commit.clone(),
            flush_latency: self.flush_latency.clone(),
        }
    }
}

/// The sled store at `path`, opened (created when missing) and made async.
pub fn open_sled(path: &std::path::Path) -> Result<Arc<dyn Backend>, StoreError> {
    Ok(Arc::new(Embedded::new(SledStore::open(path)?)))
}

/// The PostgreSQL store at `opts.url`, connected (waiting up to `wait` for the database),
/// migrated and checked.
pub async fn open_postgres(opts: &pg::PgOptions, wait: std::time::Duration) -> Result<Arc<dyn Backend>, StoreError> {
    Ok(Arc::new(pg::PgStore::open(opts, wait).await?))
}

/// A new, empty in-memory store (tests).
pub fn memory() -> Arc<dyn Backend> {
    Arc::new(Embedded::new(MemoryStore::new()))
}

/// Marks `user`'s address verified at `now`.
pub(crate) fn verify_email(user: &mut UserRecord, now: i64) {
    user.email_verified = true;
    touch(user, now);
}

/// Whether `user` belongs in a page after `after` of the users matching `prefix`.
pub(crate) fn page_match(user: &UserRecord, prefix: Option<&str>, after: Option<&str>) -> bool {
    after.is_none_or(|a| user.username.as_str() > a)
        && prefix
            .is_none_or(|p| user.username.starts_with(p) || user.email.as_deref().is_some_and(|e| e.starts_with(p)))
}

/// `user` as first stored: version 1 at least (a copied record keeps its own).
pub(crate) fn first_version(user: &UserRecord) -> UserRecord {
    UserRecord { version: user.version.max(1), ..user.clone() }
}

/// Records a change of `user` at `now`: `updated_at`, and the next `version`.
pub(crate) fn touch(user: &mut UserRecord, now: i64) {
    user.updated_at = now;
    user.version = user.version.saturating_add(1);
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
