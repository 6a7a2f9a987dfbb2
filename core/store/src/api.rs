//! The store's public face: async traits sized by capability. A consumer takes the narrowest
//! one it needs (the plugin host gets [`PluginKv`], not the user table); [`Backend`] is all of
//! them, what a backend implements and what [`crate::Db`] holds. Every method is shaped by a
//! use case and atomic inside the store; the rules shared by the backends are written once
//! (`browser.rs`, `login_attempts.rs`, `plugin_kv.rs`, `notify_queue.rs`) and each backend
//! only makes them atomic.
//!
//! The embedded backends (sled, memory) are synchronous underneath: `embedded.rs` adapts them.

use std::io::{BufRead, Write};

use async_trait::async_trait;

use crate::audit_chain::{AuditRecord, ChainStart};
use crate::audit_checkpoints::CheckpointRecord;
use crate::backup::Summary;
use crate::browser::{
    CodeRecord, CodeRedemption, Digest, FamilyRecord, FlowRecord, Redemption, RefreshRecord, Rotation, SessionRecord,
};
use crate::factors::FactorsRecord;
use crate::groups::{GroupPatch, GroupRecord};
use crate::links::LinkRecord;
use crate::login_attempts::{LockoutPolicy, Outcome, Reserve};
use crate::notify_queue::{DeadLetter, Queued, Settle};
use crate::plugin_kv::KvError;
use crate::tickets::TicketRecord;
use crate::{ClientRecord, KeyRecord, KeySetRecord, StoreError, UserRecord};

/// Clients registered through the CLI or the admin API (config-file clients are not stored).
#[async_trait]
pub trait ClientStore: Send + Sync {
    /// A stored client.
    async fn get_client(&self, id: &str) -> Result<Option<ClientRecord>, StoreError>;
    /// All stored clients, ordered by id.
    async fn list_clients(&self) -> Result<Vec<ClientRecord>, StoreError>;
    /// Adds a client; `Conflict` when the id is taken.
    async fn create_client(&self, client: &ClientRecord) -> Result<(), StoreError>;
    /// Removes a client; `false` when there was none.
    async fn remove_client(&self, id: &str) -> Result<bool, StoreError>;
    /// Replaces a stored client's secret digest; `false` when there is no such client.
    async fn set_client_secret(&self, id: &str, secret_sha256: &str) -> Result<bool, StoreError>;
    /// Replaces a stored client with `client` (version `expected + 1`) if its version is
    /// still `expected`.
    async fn update_client(
        &self,
        client: &ClientRecord,
        expected: u64,
    ) -> Result<crate::Patched<ClientRecord>, StoreError>;
}

/// User accounts.
#[async_trait]
pub trait UserStore: Send + Sync {
    /// Adds a user; `Conflict` when the username or email is taken.
    async fn create_user(&self, user: &UserRecord) -> Result<(), StoreError>;
    /// A user by id.
    async fn get_user(&self, id: &str) -> Result<Option<UserRecord>, StoreError>;
    /// Removes a user with everything the store keeps for them under their id: federated
    /// links, second factors (and their passkey index), consents. `None` when there was none.
    /// Sessions and refresh families are the caller's to end first.
    async fn delete_user(&self, id: &str) -> Result<Option<UserRecord>, StoreError>;
    /// A user by normalised username or email.
    async fn find_user(&self, login: &str) -> Result<Option<UserRecord>, StoreError>;
    /// All users, ordered by username.
    async fn list_users(&self) -> Result<Vec<UserRecord>, StoreError>;
    /// Up to `limit` users ordered by username (byte order), after the username `after`,
    /// whose username or email starts with `prefix`: a page of a listing, without reading
    /// the users outside it.
    async fn users_page(
        &self,
        prefix: Option<&str>,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<UserRecord>, StoreError>;
    /// Replaces a user's password hash; `false` when there is no such user.
    async fn set_user_password(&self, id: &str, password_hash: &str, now: i64) -> Result<bool, StoreError>;
    /// Enables or disables a user; `false` when there is no such user.
    async fn set_user_disabled(&self, id: &str, disabled: bool, now: i64) -> Result<bool, StoreError>;
    /// Replaces a user's groups; `false` when there is no such user.
    async fn set_user_groups(&self, id: &str, groups: &[String], now: i64) -> Result<bool, StoreError>;
    /// Applies `patch` to a user, only if its version is `expected` (when given), atomically.
    async fn patch_user(
        &self,
        id: &str,
        expected: Option<u64>,
        patch: &crate::UserPatch,
        now: i64,
    ) -> Result<crate::Patched, StoreError>;
    /// Replaces a user's profile; `false` when there is no such user.
    async fn set_user_profile(&self, id: &str, profile: &crate::Profile, now: i64) -> Result<bool, StoreError>;
    /// Marks the user's email address verified if it is still `email` (atomically); `false`
    /// when there is no such user or the address changed.
    async fn set_email_verified(&self, id: &str, email: &str, now: i64) -> Result<bool, StoreError>;
}

/// Groups (`groups.rs`); their members are the users naming them.
#[async_trait]
pub trait GroupStore: Send + Sync {
    /// Adds a group; `Conflict` when its id or name (regardless of case) is taken.
    async fn create_group(&self, group: &GroupRecord) -> Result<(), StoreError>;
    /// A group by id.
    async fn get_group(&self, id: &str) -> Result<Option<GroupRecord>, StoreError>;
    /// A group by name, regardless of case.
    async fn find_group(&self, name: &str) -> Result<Option<GroupRecord>, StoreError>;
    /// All groups, ordered by name regardless of case.
    async fn list_groups(&self) -> Result<Vec<GroupRecord>, StoreError>;
    /// Applies `patch` if the group's version is `expected` (when given), atomically.
    async fn patch_group(
        &self,
        id: &str,
        expected: Option<u64>,
        patch: &GroupPatch,
        now: i64,
    ) -> Result<crate::Patched<GroupRecord>, StoreError>;
    /// Removes a group record; `false` when there was none. Its members' names of it are
    /// the caller's to remove first.
    async fn delete_group(&self, id: &str) -> Result<bool, StoreError>;
}

/// Federated identities linked to users (`links.rs`).
#[async_trait]
pub trait LinkStore: Send + Sync {
    /// The link of `(issuer, subject)`.
    async fn find_link(&self, issuer: &str, subject: &str) -> Result<Option<LinkRecord>, StoreError>;
    /// A user's links, ordered by issuer and subject.
    async fn user_links(&self, user_id: &str) -> Result<Vec<LinkRecord>, StoreError>;
    /// Links an identity to an existing user; `Conflict` when it is linked already (to
    /// anyone), `Refused` when the user does not exist.
    async fn add_link(&self, link: &LinkRecord) -> Result<(), StoreError>;
    /// Creates `user` and links `link` (whose `user_id` becomes the user's) to it, both or
    /// neither; `Conflict` when the username or email is taken or the identity is linked.
    async fn create_linked_user(&self, user: &UserRecord, link: &LinkRecord) -> Result<(), StoreError>;
    /// Removes a user's link; `false` when it had none such.
    async fn remove_link(&self, user_id: &str, issuer: &str, subject: &str) -> Result<bool, StoreError>;
    /// Records a sign-in with the link at `now`; `false` when there is no such link.
    async fn touch_link(&self, issuer: &str, subject: &str, now: i64) -> Result<bool, StoreError>;
}

/// The signing key set.
/// Second factors (`factors.rs`), replaced by compare-and-swap.
#[async_trait]
pub trait FactorStore: Send + Sync {
    /// The user's factors; `None` when nothing was ever stored.
    async fn get_factors(&self, user_id: &str) -> Result<Option<FactorsRecord>, StoreError>;
    /// Stores `record` with version `expected + 1` if the stored version is `expected`
    /// (`0`: none); `false` when another write came first; `Refused` for an unknown user.
    async fn put_factors(&self, record: &FactorsRecord, expected: u64) -> Result<bool, StoreError>;
}

#[async_trait]
pub trait KeyStore: Send + Sync {
    /// The key set (active and retired-but-published keys) and its version.
    async fn load_keys(&self) -> Result<KeySetRecord, StoreError>;
    /// Replaces the key set if its version is still `expected`; returns the new version, or
    /// `Conflict` when another writer (another instance) replaced it first.
    async fn replace_keys(&self, expected: u64, keys: &[KeyRecord]) -> Result<u64, StoreError>;
}

/// What instances sharing a store agree on: single-use markers and leases.
#[async_trait]
pub trait Coordination: Send + Sync {
    /// Records `key` as used until `expires_at` (unix seconds); `false` when it was already
    /// used and has not expired (single-use client assertions and proofs).
    async fn use_once(&self, key: &str, expires_at: i64, now: i64) -> Result<bool, StoreError>;
    /// Takes or renews the lease `name` for `holder` until `until_ms` if it is free, expired
    /// or already `holder`'s; `false` when another holder has it (scheduled jobs that one
    /// instance runs at a time).
    async fn try_lease(&self, name: &str, holder: &str, until_ms: i64, now_ms: i64) -> Result<bool, StoreError>;
}

/// Revoked access tokens.
#[async_trait]
pub trait RevocationStore: Send + Sync {
    /// Records that `jti` is revoked until it expires at `expires_at` (unix seconds).
    async fn revoke_token(&self, jti: &str, expires_at: i64) -> Result<(), StoreError>;
    /// Whether `jti` was revoked.
    async fn is_revoked(&self, jti: &str) -> Result<bool, StoreError>;
    /// Drops revocations of tokens that expired before `now`; returns how many.
    async fn purge_revocations(&self, now: i64) -> Result<usize, StoreError>;
}

/// The browser sign-in aggregates: login flows, sessions, codes, refresh families, consent.
#[async_trait]
pub trait BrowserStore: Send + Sync {
    /// Stores (or replaces) a flow.
    async fn put_flow(&self, id: &Digest, flow: &FlowRecord) -> Result<(), StoreError>;
    /// Replaces a flow that is still stored; `false` when it is gone (finished or purged).
    async fn update_flow(&self, id: &Digest, flow: &FlowRecord) -> Result<bool, StoreError>;
    /// A flow, if present (expiry is the caller's check).
    async fn get_flow(&self, id: &Digest) -> Result<Option<FlowRecord>, StoreError>;
    /// Removes a flow and returns it: exactly one caller can finish a flow.
    async fn take_flow(&self, id: &Digest) -> Result<Option<FlowRecord>, StoreError>;
    /// Stores (or replaces) a session.
    async fn put_session(&self, id: &Digest, session: &SessionRecord) -> Result<(), StoreError>;
    /// Replaces a session that is still stored; `false` when it ended meanwhile (a logout
    /// on another instance is never undone by a `touch`).
    async fn update_session(&self, id: &Digest, session: &SessionRecord) -> Result<bool, StoreError>;
    /// A session, if present.
    async fn get_session(&self, id: &Digest) -> Result<Option<SessionRecord>, StoreError>;
    /// Ends a session; returns it.
    async fn delete_session(&self, id: &Digest) -> Result<Option<SessionRecord>, StoreError>;
    /// Sessions still open at `now` (a scan: for metrics, not for request paths).
    async fn count_open_sessions(&self, now: i64, idle_since: i64) -> Result<usize, StoreError>;
    /// A user's sessions not past their absolute end at `now`, with their keys, oldest first.
    async fn user_sessions(&self, user_id: &str, now: i64) -> Result<Vec<(Digest, SessionRecord)>, StoreError>;
    /// Stores a new ticket under the hash of its token.
    async fn put_ticket(&self, id: &Digest, ticket: &TicketRecord) -> Result<(), StoreError>;
    /// A ticket, if present (expiry is the caller's check).
    async fn get_ticket(&self, id: &Digest) -> Result<Option<TicketRecord>, StoreError>;
    /// Removes a ticket and returns it: exactly one caller, on any instance, gets it.
    async fn take_ticket(&self, id: &Digest) -> Result<Option<TicketRecord>, StoreError>;
    /// Stores a new code.
    async fn put_code(&self, code: &Digest, record: &CodeRecord) -> Result<(), StoreError>;
    /// A code, if present.
    async fn get_code(&self, code: &Digest) -> Result<Option<CodeRecord>, StoreError>;
    /// Marks a code redeemed, once: a second call reports the first redemption.
    async fn redeem_code(&self, code: &Digest, redemption: &Redemption, now: i64)
    -> Result<CodeRedemption, StoreError>;
    /// Stores the first token of a new family.
    async fn create_refresh(
        &self,
        token: &Digest,
        record: &RefreshRecord,
        family: &FamilyRecord,
    ) -> Result<(), StoreError>;
    /// A refresh token, if present.
    async fn get_refresh(&self, token: &Digest) -> Result<Option<RefreshRecord>, StoreError>;
    /// Spends `old` and stores `new` in its family; a spent `old` revokes the family.
    async fn rotate_refresh(
        &self,
        old: &Digest,
        new: &Digest,
        record: &RefreshRecord,
        jti: &str,
        access_exp: i64,
        now: i64,
    ) -> Result<Rotation, StoreError>;
    /// Revokes a family; returns it (with the last access token id) when it existed.
    async fn revoke_family(&self, family: &str) -> Result<Option<FamilyRecord>, StoreError>;
    /// The ids of `user_id`'s refresh families that are not revoked (to sign them out
    /// everywhere).
    async fn user_families(&self, user_id: &str) -> Result<Vec<String>, StoreError>;
    /// The scopes a user approved for a client.
    async fn get_consent(&self, user_id: &str, client_id: &str) -> Result<Option<Vec<String>>, StoreError>;
    /// Remembers approved scopes (replacing earlier ones).
    async fn put_consent(&self, user_id: &str, client_id: &str, scopes: &[String]) -> Result<(), StoreError>;
    /// Drops flows, sessions, codes and refresh tokens that expired before `now`.
    async fn purge_browser(&self, now: i64) -> Result<usize, StoreError>;
}

/// The audit log, its signing key and its checkpoints.
#[async_trait]
pub trait AuditStore: Send + Sync {
    /// Appends audit records (consecutive `seq`) in one write, only right after the stored
    /// head; `Conflict`, writing nothing, when another writer moved it.
    async fn append_audit(&self, records: &[AuditRecord]) -> Result<(), StoreError>;
    /// Up to `limit` records from `from_seq` on, in order.
    async fn audit_records(&self, from_seq: u64, limit: usize) -> Result<Vec<AuditRecord>, StoreError>;
    /// Looks at up to `scan` records from `from_seq` on and returns those whose event type is
    /// one of `types`, with the seq of the last record looked at (the others are not decoded).
    async fn audit_records_of(
        &self,
        from_seq: u64,
        scan: usize,
        types: &[&str],
    ) -> Result<(Vec<AuditRecord>, Option<u64>), StoreError>;
    /// The newest record.
    async fn last_audit_record(&self) -> Result<Option<AuditRecord>, StoreError>;
    /// Where the stored chain starts when retention removed its beginning.
    async fn audit_start(&self) -> Result<Option<ChainStart>, StoreError>;
    /// Removes records up to `start.truncated_through`; returns how many.
    async fn prune_audit(&self, start: &ChainStart) -> Result<u64, StoreError>;
    /// The audit signing key (PKCS#8, base64), if one was made.
    async fn audit_key(&self) -> Result<Option<String>, StoreError>;
    /// Stores `pkcs8` as the audit key unless one exists; returns the key in force.
    async fn init_audit_key(&self, pkcs8: &str) -> Result<String, StoreError>;
    /// Adds a checkpoint.
    async fn add_checkpoint(&self, checkpoint: &CheckpointRecord) -> Result<(), StoreError>;
    /// Every checkpoint, oldest first.
    async fn checkpoints(&self) -> Result<Vec<CheckpointRecord>, StoreError>;
}

/// Notifications waiting for delivery, dead letters, and the cursor into the audit log.
#[async_trait]
pub trait NotifyQueue: Send + Sync {
    /// The last audit seq turned into messages, if any.
    async fn notify_cursor(&self) -> Result<Option<u64>, StoreError>;
    /// Queues `messages` and moves the cursor from `expected` to `cursor` in one atomic
    /// write; `false`, writing nothing, when another instance moved the cursor first.
    async fn notify_enqueue(&self, expected: Option<u64>, cursor: u64, messages: &[Queued])
    -> Result<bool, StoreError>;
    /// Claims up to `limit` messages due at `now_ms` until `until_ms` (returned with that as
    /// their `due_ms`): no other claimer sees them until the claim lapses.
    async fn notify_claim(&self, now_ms: i64, until_ms: i64, limit: usize) -> Result<Vec<Queued>, StoreError>;
    /// When the earliest queued message is due.
    async fn notify_next_due(&self) -> Result<Option<i64>, StoreError>;
    /// Records the outcome of an attempt at a claimed `q`; `false` when the claim had lapsed
    /// and someone else holds the message now (nothing is changed).
    async fn notify_settle(&self, q: &Queued, outcome: Settle) -> Result<bool, StoreError>;
    /// Queued messages (up to `limit`, earliest first).
    async fn notify_queued(&self, limit: usize) -> Result<Vec<Queued>, StoreError>;
    /// Dead letters (up to `limit`, by id).
    async fn notify_dead(&self, limit: usize) -> Result<Vec<DeadLetter>, StoreError>;
    /// Puts the dead letter `id` back in the queue; `false` when there is none.
    async fn notify_revive(&self, id: &str, now_ms: i64) -> Result<bool, StoreError>;
}

/// The plugins' key-value store (`kv-store`); `ns` is the plugin's name.
#[async_trait]
pub trait PluginKv: Send + Sync {
    /// The value, unless absent or expired.
    async fn kv_get_value(&self, ns: &str, key: &str, now: i64) -> Result<Option<Vec<u8>>, StoreError>;
    /// Stores `value` for `ttl_secs`.
    async fn kv_set_value(&self, ns: &str, key: &str, value: &[u8], ttl_secs: u32, now: i64) -> Result<(), KvError>;
    /// Removes a key.
    async fn kv_delete_value(&self, ns: &str, key: &str) -> Result<(), StoreError>;
    /// Adds `delta` to a counter; the TTL applies from now.
    async fn kv_incr_value(&self, ns: &str, key: &str, delta: i64, ttl_secs: u32, now: i64) -> Result<i64, KvError>;
}

/// Sign-in attempt counters and lockouts (`login_attempts.rs`).
#[async_trait]
pub trait LoginAttempts: Send + Sync {
    /// Counts an attempt for `key` if one may be made.
    async fn reserve_attempt(&self, key: &str, policy: &LockoutPolicy, now: i64) -> Result<Reserve, StoreError>;
    /// Settles a counted attempt; `Some(until)` when it locked the key.
    async fn settle_attempt(
        &self,
        key: &str,
        policy: &LockoutPolicy,
        outcome: Outcome,
        now: i64,
    ) -> Result<Option<i64>, StoreError>;
    /// Drops records that no longer matter.
    async fn purge_attempts(&self, now: i64) -> Result<usize, StoreError>;
}

/// Durability and whole-store operations.
#[async_trait]
pub trait Maintenance: Send + Sync {
    /// Makes every write so far durable (the group commit calls this).
    async fn flush(&self) -> Result<(), StoreError>;
    /// Whether the store answers (`/ready`).
    async fn ping(&self) -> Result<(), StoreError>;
    /// Which backend this is (`sled`, `memory`, `postgres`), for logs and `/ready`.
    fn kind(&self) -> &'static str;
    /// Whether other processes may write this store while this one runs (instances sharing
    /// a database, the CLI beside a server); an embedded store is this process's alone.
    fn shared(&self) -> bool {
        false
    }
    /// Writes a consistent backup of the whole store (format: `backup.rs`).
    async fn backup(&self, out: Box<dyn Write + Send>) -> Result<Summary, StoreError>;
    /// Restores a backup into this store, which must be empty.
    async fn restore(&self, input: Box<dyn BufRead + Send>) -> Result<Summary, StoreError>;
    /// Every record, as one consistent snapshot (`transfer.rs`).
    async fn export(&self) -> Result<Vec<crate::transfer::Item>, StoreError>;
    /// Writes the kinds of `items` the other traits have no writer for into this empty store
    /// (`transfer::import` does the rest).
    async fn import_extra(&self, items: &[crate::transfer::Item]) -> Result<(), StoreError>;
}

/// Every capability: what a backend implements and [`crate::Db`] holds.
pub trait Backend:
    ClientStore
    + UserStore
    + GroupStore
    + LinkStore
    + FactorStore
    + KeyStore
    + Coordination
    + RevocationStore
    + BrowserStore
    + AuditStore
    + NotifyQueue
    + PluginKv
    + LoginAttempts
    + Maintenance
    + 'static
{
}

impl<T> Backend for T where
    T: ClientStore
        + UserStore
        + GroupStore
        + LinkStore
        + FactorStore
        + KeyStore
        + Coordination
        + RevocationStore
        + BrowserStore
        + AuditStore
        + NotifyQueue
        + PluginKv
        + LoginAttempts
        + Maintenance
        + 'static
{
}
