//! [`Embedded`]: the synchronous backends (sled, memory) behind the async capability traits,
//! running quick operations in place (sled answers in microseconds) and the long ones (audit
//! scans, pruning, backups, flushes, purges) on the blocking pool.

use std::io::{BufRead, Write};
use std::sync::Arc;

use async_trait::async_trait;

use crate::api::{
    AuditStore, BrowserStore, ClientStore, Coordination, FactorStore, KeyStore, LinkStore, LoginAttempts, Maintenance,
    NotifyQueue, PluginKv, RevocationStore, UserStore,
};
use crate::audit_chain::{AuditRecord, ChainStart};
use crate::audit_checkpoints::CheckpointRecord;
use crate::backup::Summary;
use crate::browser::{
    CodeRecord, CodeRedemption, Digest, FamilyRecord, FlowRecord, Redemption, RefreshRecord, Rotation, SessionRecord,
};
use crate::factors::{FactorsRecord, SyncFactors};
use crate::groups::{GroupPatch, GroupRecord, SyncGroups};
use crate::links::{LinkRecord, SyncLinks};
use crate::login_attempts::{LockoutPolicy, Outcome, Reserve};
use crate::notify_queue::{DeadLetter, Queued, Settle};
use crate::plugin_kv::KvError;
use crate::tickets::TicketRecord;
use crate::{ClientRecord, KeyRecord, KeySetRecord, StoreError, UserRecord};

/// The synchronous backends underneath (sled, memory): all of the `Sync*` traits.
pub trait SyncBackend:
    crate::SyncStore
    + crate::browser::SyncBrowser
    + crate::plugin_kv::SyncKv
    + crate::notify_queue::SyncQueue
    + crate::login_attempts::SyncAttempts
    + crate::audit_checkpoints::SyncCheckpoints
    + Send
    + Sync
    + 'static
{
}

impl<T> SyncBackend for T where
    T: crate::SyncStore
        + crate::browser::SyncBrowser
        + crate::plugin_kv::SyncKv
        + crate::notify_queue::SyncQueue
        + crate::login_attempts::SyncAttempts
        + crate::audit_checkpoints::SyncCheckpoints
        + Send
        + Sync
        + 'static
{
}

/// An embedded, synchronous backend made async (see the module documentation).
pub struct Embedded<T>(Arc<T>);

impl<T: SyncBackend> Embedded<T> {
    /// Wraps `backend`.
    pub fn new(backend: T) -> Self {
        Self(Arc::new(backend))
    }

    /// The synchronous backend (tests and offline tools).
    pub fn inner(&self) -> &T {
        &self.0
    }

    /// Runs `f` on the blocking pool (long operations: scans, file rewrites, flushes).
    async fn blocking<R: Send + 'static>(
        &self,
        f: impl FnOnce(&T) -> Result<R, StoreError> + Send + 'static,
    ) -> Result<R, StoreError> {
        let backend = Arc::clone(&self.0);
        tokio::task::spawn_blocking(move || f(&backend))
            .await
            .map_err(|e| StoreError::Io(format!("store task failed: {e}")))?
    }
}

#[async_trait]
impl<T: SyncBackend> ClientStore for Embedded<T> {
    async fn get_client(&self, id: &str) -> Result<Option<ClientRecord>, StoreError> {
        crate::SyncStore::get_client(&*self.0, id)
    }
    async fn list_clients(&self) -> Result<Vec<ClientRecord>, StoreError> {
        crate::SyncStore::list_clients(&*self.0)
    }
    async fn create_client(&self, client: &ClientRecord) -> Result<(), StoreError> {
        crate::SyncStore::create_client(&*self.0, client)
    }
    async fn remove_client(&self, id: &str) -> Result<bool, StoreError> {
        crate::SyncStore::remove_client(&*self.0, id)
    }
    async fn set_client_secret(&self, id: &str, secret_sha256: &str) -> Result<bool, StoreError> {
        crate::SyncStore::set_client_secret(&*self.0, id, secret_sha256)
    }
    async fn update_client(
        &self,
        client: &ClientRecord,
        expected: u64,
    ) -> Result<crate::Patched<ClientRecord>, StoreError> {
        crate::SyncStore::update_client(&*self.0, client, expected)
    }
}

#[async_trait]
impl<T: SyncBackend> UserStore for Embedded<T> {
    async fn create_user(&self, user: &UserRecord) -> Result<(), StoreError> {
        crate::SyncStore::create_user(&*self.0, &crate::first_version(user))
    }
    async fn get_user(&self, id: &str) -> Result<Option<UserRecord>, StoreError> {
        crate::SyncStore::get_user(&*self.0, id)
    }
    async fn find_user(&self, login: &str) -> Result<Option<UserRecord>, StoreError> {
        crate::SyncStore::find_user(&*self.0, login)
    }
    async fn list_users(&self) -> Result<Vec<UserRecord>, StoreError> {
        crate::SyncStore::list_users(&*self.0)
    }
    async fn set_user_password(&self, id: &str, password_hash: &str, now: i64) -> Result<bool, StoreError> {
        crate::SyncStore::set_user_password(&*self.0, id, password_hash, now)
    }
    async fn set_user_disabled(&self, id: &str, disabled: bool, now: i64) -> Result<bool, StoreError> {
        crate::SyncStore::set_user_disabled(&*self.0, id, disabled, now)
    }
    async fn patch_user(
        &self,
        id: &str,
        expected: Option<u64>,
        patch: &crate::UserPatch,
        now: i64,
    ) -> Result<crate::Patched, StoreError> {
        crate::SyncStore::patch_user(&*self.0, id, expected, patch, now)
    }
    async fn set_user_profile(&self, id: &str, profile: &crate::Profile, now: i64) -> Result<bool, StoreError> {
        crate::SyncStore::set_user_profile(&*self.0, id, profile, now)
    }
    async fn set_email_verified(&self, id: &str, email: &str, now: i64) -> Result<bool, StoreError> {
        crate::SyncStore::set_email_verified(&*self.0, id, email, now)
    }
    async fn users_page(
        &self,
        prefix: Option<&str>,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<UserRecord>, StoreError> {
        crate::SyncStore::users_page(&*self.0, prefix, after, limit)
    }
    async fn delete_user(&self, id: &str) -> Result<Option<UserRecord>, StoreError> {
        crate::SyncStore::delete_user(&*self.0, id)
    }
    async fn set_user_groups(&self, id: &str, groups: &[String], now: i64) -> Result<bool, StoreError> {
        crate::SyncStore::set_user_groups(&*self.0, id, groups, now)
    }
}

#[async_trait]
impl<T: SyncBackend> KeyStore for Embedded<T> {
    async fn load_keys(&self) -> Result<KeySetRecord, StoreError> {
        crate::SyncStore::load_keys(&*self.0)
    }
    async fn replace_keys(&self, expected: u64, keys: &[KeyRecord]) -> Result<u64, StoreError> {
        crate::SyncStore::replace_keys(&*self.0, expected, keys)
    }
}

#[async_trait]
impl<T: SyncBackend> Coordination for Embedded<T> {
    async fn use_once(&self, key: &str, expires_at: i64, now: i64) -> Result<bool, StoreError> {
        crate::SyncStore::use_once(&*self.0, key, expires_at, now)
    }
    async fn try_lease(&self, name: &str, holder: &str, until_ms: i64, now_ms: i64) -> Result<bool, StoreError> {
        crate::SyncStore::try_lease(&*self.0, name, holder, until_ms, now_ms)
    }
}

#[async_trait]
impl<T: SyncBackend> RevocationStore for Embedded<T> {
    async fn revoke_token(&self, jti: &str, expires_at: i64) -> Result<(), StoreError> {
        crate::SyncStore::revoke_token(&*self.0, jti, expires_at)
    }
    async fn is_revoked(&self, jti: &str) -> Result<bool, StoreError> {
        crate::SyncStore::is_revoked(&*self.0, jti)
    }
    async fn purge_revocations(&self, now: i64) -> Result<usize, StoreError> {
        self.blocking(move |b| crate::SyncStore::purge_revocations(b, now)).await
    }
}

#[async_trait]
impl<T: SyncBackend> BrowserStore for Embedded<T> {
    async fn put_flow(&self, id: &Digest, flow: &FlowRecord) -> Result<(), StoreError> {
        crate::browser::SyncBrowser::put_flow(&*self.0, id, flow)
    }
    async fn update_flow(&self, id: &Digest, flow: &FlowRecord) -> Result<bool, StoreError> {
        crate::browser::SyncBrowser::update_flow(&*self.0, id, flow)
    }
    async fn get_flow(&self, id: &Digest) -> Result<Option<FlowRecord>, StoreError> {
        crate::browser::SyncBrowser::get_flow(&*self.0, id)
    }
    async fn take_flow(&self, id: &Digest) -> Result<Option<FlowRecord>, StoreError> {
        crate::browser::SyncBrowser::take_flow(&*self.0, id)
    }
    async fn put_session(&self, id: &Digest, session: &SessionRecord) -> Result<(), StoreError> {
        crate::browser::SyncBrowser::put_session(&*self.0, id, session)
    }
    async fn update_session(&self, id: &Digest, session: &SessionRecord) -> Result<bool, StoreError> {
        crate::browser::SyncBrowser::update_session(&*self.0, id, session)
    }
    async fn get_session(&self, id: &Digest) -> Result<Option<SessionRecord>, StoreError> {
        crate::browser::SyncBrowser::get_session(&*self.0, id)
    }
    async fn delete_session(&self, id: &Digest) -> Result<Option<SessionRecord>, StoreError> {
        crate::browser::SyncBrowser::delete_session(&*self.0, id)
    }
    async fn count_open_sessions(&self, now: i64, idle_since: i64) -> Result<usize, StoreError> {
        self.blocking(move |b| crate::browser::SyncBrowser::count_open_sessions(b, now, idle_since)).await
    }
    async fn user_sessions(&self, user_id: &str, now: i64) -> Result<Vec<(Digest, SessionRecord)>, StoreError> {
        crate::browser::SyncBrowser::user_sessions(&*self.0, user_id, now)
    }
    async fn put_ticket(&self, id: &Digest, ticket: &TicketRecord) -> Result<(), StoreError> {
        crate::browser::SyncBrowser::put_ticket(&*self.0, id, ticket)
    }
    async fn get_ticket(&self, id: &Digest) -> Result<Option<TicketRecord>, StoreError> {
        crate::browser::SyncBrowser::get_ticket(&*self.0, id)
    }
    async fn take_ticket(&self, id: &Digest) -> Result<Option<TicketRecord>, StoreError> {
        crate::browser::SyncBrowser::take_ticket(&*self.0, id)
    }
    async fn put_code(&self, code: &Digest, record: &CodeRecord) -> Result<(), StoreError> {
        crate::browser::SyncBrowser::put_code(&*self.0, code, record)
    }
    async fn get_code(&self, code: &Digest) -> Result<Option<CodeRecord>, StoreError> {
        crate::browser::SyncBrowser::get_code(&*self.0, code)
    }
    async fn redeem_code(
        &self,
        code: &Digest,
        redemption: &Redemption,
        now: i64,
    ) -> Result<CodeRedemption, StoreError> {
        crate::browser::SyncBrowser::redeem_code(&*self.0, code, redemption, now)
    }
    async fn create_refresh(
        &self,
        token: &Digest,
        record: &RefreshRecord,
        family: &FamilyRecord,
    ) -> Result<(), StoreError> {
        crate::browser::SyncBrowser::create_refresh(&*self.0, token, record, family)
    }
    async fn get_refresh(&self, token: &Digest) -> Result<Option<RefreshRecord>, StoreError> {
        crate::browser::SyncBrowser::get_refresh(&*self.0, token)
    }
    async fn rotate_refresh(
        &self,
        old: &Digest,
        new: &Digest,
        record: &RefreshRecord,
        jti: &str,
        access_exp: i64,
        now: i64,
    ) -> Result<Rotation, StoreError> {
        crate::browser::SyncBrowser::rotate_refresh(&*self.0, old, new, record, jti, access_exp, now)
    }
    async fn revoke_family(&self, family: &str) -> Result<Option<FamilyRecord>, StoreError> {
        crate::browser::SyncBrowser::revoke_family(&*self.0, family)
    }
    async fn user_families(&self, user_id: &str) -> Result<Vec<String>, StoreError> {
        crate::browser::SyncBrowser::user_families(&*self.0, user_id)
    }
    async fn get_consent(&self, user_id: &str, client_id: &str) -> Result<Option<Vec<String>>, StoreError> {
        crate::browser::SyncBrowser::get_consent(&*self.0, user_id, client_id)
    }
    async fn put_consent(&self, user_id: &str, client_id: &str, scopes: &[String]) -> Result<(), StoreError> {
        crate::browser::SyncBrowser::put_consent(&*self.0, user_id, client_id, scopes)
    }
    async fn purge_browser(&self, now: i64) -> Result<usize, StoreError> {
        self.blocking(move |b| crate::browser::SyncBrowser::purge_browser(b, now)).await
    }
}

#[async_trait]
impl<T: SyncBackend> AuditStore for Embedded<T> {
    async fn append_audit(&self, records: &[AuditRecord]) -> Result<(), StoreError> {
        crate::SyncStore::append_audit(&*self.0, records)
    }
    async fn audit_records(&self, from_seq: u64, limit: usize) -> Result<Vec<AuditRecord>, StoreError> {
        self.blocking(move |b| crate::SyncStore::audit_records(b, from_seq, limit)).await
    }
    async fn audit_records_of(
        &self,
        from_seq: u64,
        scan: usize,
        types: &[&str],
    ) -> Result<(Vec<AuditRecord>, Option<u64>), StoreError> {
        let types: Vec<String> = types.iter().map(|t| (*t).to_owned()).collect();
        self.blocking(move |b| {
            crate::SyncStore::audit_records_of(b, from_seq, scan, &|t: &str| types.iter().any(|x| x == t))
        })
        .await
    }
    async fn last_audit_record(&self) -> Result<Option<AuditRecord>, StoreError> {
        crate::SyncStore::last_audit_record(&*self.0)
    }
    async fn audit_start(&self) -> Result<Option<ChainStart>, StoreError> {
        crate::SyncStore::audit_start(&*self.0)
    }
    async fn prune_audit(&self, start: &ChainStart) -> Result<u64, StoreError> {
        let start = start.clone();
        self.blocking(move |b| crate::SyncStore::prune_audit(b, &start)).await
    }
    async fn audit_key(&self) -> Result<Option<String>, StoreError> {
        crate::audit_checkpoints::SyncCheckpoints::audit_key(&*self.0)
    }
    async fn init_audit_key(&self, pkcs8: &str) -> Result<String, StoreError> {
        crate::audit_checkpoints::SyncCheckpoints::init_audit_key(&*self.0, pkcs8)
    }
    async fn add_checkpoint(&self, checkpoint: &CheckpointRecord) -> Result<(), StoreError> {
        crate::audit_checkpoints::SyncCheckpoints::add_checkpoint(&*self.0, checkpoint)
    }
    async fn checkpoints(&self) -> Result<Vec<CheckpointRecord>, StoreError> {
        self.blocking(crate::audit_checkpoints::SyncCheckpoints::checkpoints).await
    }
}

#[async_trait]
impl<T: SyncBackend> NotifyQueue for Embedded<T> {
    async fn notify_cursor(&self) -> Result<Option<u64>, StoreError> {
        crate::notify_queue::SyncQueue::notify_cursor(&*self.0)
    }
    async fn notify_enqueue(
        &self,
        expected: Option<u64>,
        cursor: u64,
        messages: &[Queued],
    ) -> Result<bool, StoreError> {
        crate::notify_queue::SyncQueue::notify_enqueue(&*self.0, expected, cursor, messages)
    }
    async fn notify_claim(&self, now_ms: i64, until_ms: i64, limit: usize) -> Result<Vec<Queued>, StoreError> {
        crate::notify_queue::SyncQueue::notify_claim(&*self.0, now_ms, until_ms, limit)
    }
    async fn notify_next_due(&self) -> Result<Option<i64>, StoreError> {
        crate::notify_queue::SyncQueue::notify_next_due(&*self.0)
    }
    async fn notify_settle(&self, q: &Queued, outcome: Settle) -> Result<bool, StoreError> {
        crate::notify_queue::SyncQueue::notify_settle(&*self.0, q, outcome)
    }
    async fn notify_queued(&self, limit: usize) -> Result<Vec<Queued>, StoreError> {
        crate::notify_queue::SyncQueue::notify_queued(&*self.0, limit)
    }
    async fn notify_dead(&self, limit: usize) -> Result<Vec<DeadLetter>, StoreError> {
        crate::notify_queue::SyncQueue::notify_dead(&*self.0, limit)
    }
    async fn notify_revive(&self, id: &str, now_ms: i64) -> Result<bool, StoreError> {
        crate::notify_queue::SyncQueue::notify_revive(&*self.0, id, now_ms)
    }
}

#[async_trait]
impl<T: SyncBackend> PluginKv for Embedded<T> {
    async fn kv_get_value(&self, ns: &str, key: &str, now: i64) -> Result<Option<Vec<u8>>, StoreError> {
        crate::plugin_kv::SyncKv::kv_get_value(&*self.0, ns, key, now)
    }
    async fn kv_set_value(&self, ns: &str, key: &str, value: &[u8], ttl_secs: u32, now: i64) -> Result<(), KvError> {
        crate::plugin_kv::SyncKv::kv_set_value(&*self.0, ns, key, value, ttl_secs, now)
    }
    async fn kv_delete_value(&self, ns: &str, key: &str) -> Result<(), StoreError> {
        crate::plugin_kv::SyncKv::kv_delete_value(&*self.0, ns, key)
    }
    async fn kv_incr_value(&self, ns: &str, key: &str, delta: i64, ttl_secs: u32, now: i64) -> Result<i64, KvError> {
        crate::plugin_kv::SyncKv::kv_incr_value(&*self.0, ns, key, delta, ttl_secs, now)
    }
}

#[async_trait]
impl<T: SyncBackend> FactorStore for Embedded<T> {
    async fn get_factors(&self, user_id: &str) -> Result<Option<FactorsRecord>, StoreError> {
        SyncFactors::get_factors(&*self.0, user_id)
    }
    async fn put_factors(&self, record: &FactorsRecord, expected: u64) -> Result<bool, StoreError> {
        SyncFactors::put_factors(&*self.0, record, expected)
    }
}

#[async_trait]
impl<T: SyncBackend> crate::api::GroupStore for Embedded<T> {
    async fn create_group(&self, group: &GroupRecord) -> Result<(), StoreError> {
        SyncGroups::create_group(&*self.0, &crate::groups::first_version(group))
    }
    async fn get_group(&self, id: &str) -> Result<Option<GroupRecord>, StoreError> {
        SyncGroups::get_group(&*self.0, id)
    }
    async fn find_group(&self, name: &str) -> Result<Option<GroupRecord>, StoreError> {
        SyncGroups::find_group(&*self.0, name)
    }
    async fn list_groups(&self) -> Result<Vec<GroupRecord>, StoreError> {
        SyncGroups::list_groups(&*self.0)
    }
    async fn patch_group(
        &self,
        id: &str,
        expected: Option<u64>,
        patch: &GroupPatch,
        now: i64,
    ) -> Result<crate::Patched<GroupRecord>, StoreError> {
        SyncGroups::patch_group(&*self.0, id, expected, patch, now)
    }
    async fn delete_group(&self, id: &str) -> Result<bool, StoreError> {
        SyncGroups::delete_group(&*self.0, id)
    }
}

#[async_trait]
impl<T: SyncBackend> LinkStore for Embedded<T> {
    async fn find_link(&self, issuer: &str, subject: &str) -> Result<Option<LinkRecord>, StoreError> {
        SyncLinks::find_link(&*self.0, issuer, subject)
    }
    async fn user_links(&self, user_id: &str) -> Result<Vec<LinkRecord>, StoreError> {
        SyncLinks::user_links(&*self.0, user_id)
    }
    async fn add_link(&self, link: &LinkRecord) -> Result<(), StoreError> {
        SyncLinks::add_link(&*self.0, link)
    }
    async fn create_linked_user(&self, user: &UserRecord, link: &LinkRecord) -> Result<(), StoreError> {
        SyncLinks::create_linked_user(&*self.0, &crate::first_version(user), link)
    }
    async fn remove_link(&self, user_id: &str, issuer: &str, subject: &str) -> Result<bool, StoreError> {
        SyncLinks::remove_link(&*self.0, user_id, issuer, subject)
    }
    async fn touch_link(&self, issuer: &str, subject: &str, now: i64) -> Result<bool, StoreError> {
        SyncLinks::touch_link(&*self.0, issuer, subject, now)
    }
}

#[async_trait]
impl<T: SyncBackend> LoginAttempts for Embedded<T> {
    async fn reserve_attempt(&self, key: &str, policy: &LockoutPolicy, now: i64) -> Result<Reserve, StoreError> {
        crate::login_attempts::SyncAttempts::reserve_attempt(&*self.0, key, policy, now)
    }
    async fn settle_attempt(
        &self,
        key: &str,
        policy: &LockoutPolicy,
        outcome: Outcome,
        now: i64,
    ) -> Result<Option<i64>, StoreError> {
        crate::login_attempts::SyncAttempts::settle_attempt(&*self.0, key, policy, outcome, now)
    }
    async fn purge_attempts(&self, now: i64) -> Result<usize, StoreError> {
        self.blocking(move |b| crate::login_attempts::SyncAttempts::purge_attempts(b, now)).await
    }
}

#[async_trait]
impl<T: SyncBackend> Maintenance for Embedded<T> {
    async fn flush(&self) -> Result<(), StoreError> {
        self.blocking(crate::SyncStore::flush).await
    }
    async fn ping(&self) -> Result<(), StoreError> {
        crate::SyncStore::is_revoked(&*self.0, "gatehouse-readiness-probe").map(|_| ())
    }
    fn kind(&self) -> &'static str {
        crate::SyncStore::kind(&*self.0)
    }
    async fn backup(&self, mut out: Box<dyn Write + Send>) -> Result<Summary, StoreError> {
        self.blocking(move |b| crate::SyncStore::backup(b, &mut out)).await
    }
    async fn restore(&self, mut input: Box<dyn BufRead + Send>) -> Result<Summary, StoreError> {
        // Version 1 is this backend's own trees; version 2 (logical records, from any
        // backend) goes in through the traits.
        let file = self.blocking(move |_| crate::transfer::read_any(&mut input)).await?;
        match file {
            Err(trees) => self.blocking(move |b| crate::SyncStore::restore(b, &mut &trees[..])).await,
            Ok(items) => crate::transfer::import(self, items).await,
        }
    }
    async fn export(&self) -> Result<Vec<crate::transfer::Item>, StoreError> {
        self.blocking(crate::SyncStore::export).await
    }
    async fn import_extra(&self, items: &[crate::transfer::Item]) -> Result<(), StoreError> {
        let items = items.to_vec();
        self.blocking(move |b| crate::SyncStore::import_extra(b, &items)).await
    }
}
