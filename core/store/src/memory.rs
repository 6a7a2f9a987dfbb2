//! An in-memory backend for unit tests and the conformance suite. Not durable.

use std::collections::BTreeMap;
use std::sync::{Mutex, RwLock};

use super::{ClientRecord, KeyRecord, KeySetRecord, StoreError, SyncStore, UserRecord};
use crate::audit_chain::{AuditRecord, ChainStart};
use crate::links::{self, LinkRecord};

/// A store held in process memory.
#[derive(Default)]
pub struct MemoryStore {
    clients: RwLock<BTreeMap<String, ClientRecord>>,
    keys: RwLock<KeySetRecord>,
    used: Mutex<BTreeMap<String, i64>>,
    leases: crate::leases::Leases,
    queue_lock: Mutex<()>,
    revocations: RwLock<BTreeMap<String, i64>>,
    users: RwLock<BTreeMap<String, UserRecord>>,
    audit: RwLock<BTreeMap<u64, AuditRecord>>,
    audit_start: RwLock<Option<ChainStart>>,
    pub(super) browser: std::sync::Mutex<super::memory_browser::BrowserMaps>,
    plugin_kv: std::sync::Mutex<BTreeMap<Vec<u8>, Vec<u8>>>,
    notify: std::sync::Mutex<BTreeMap<Vec<u8>, Vec<u8>>>,
    attempts: std::sync::Mutex<BTreeMap<String, super::login_attempts::AttemptRecord>>,
    audit_key: std::sync::Mutex<Option<String>>,
    checkpoints: std::sync::Mutex<Vec<super::audit_checkpoints::CheckpointRecord>>,
    /// Links by `(issuer, subject)`; written under the users lock, so a user and its first
    /// link appear together.
    links: RwLock<BTreeMap<(String, String), super::links::LinkRecord>>,
    /// Second factors by user.
    factors: std::sync::Mutex<BTreeMap<String, super::factors::FactorsRecord>>,
    /// Groups by id (`memory_groups.rs`).
    pub(super) groups: RwLock<BTreeMap<String, super::groups::GroupRecord>>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

pub(super) fn poisoned() -> StoreError {
    StoreError::Io("memory store lock poisoned".into())
}

impl SyncStore for MemoryStore {
    fn get_client(&self, id: &str) -> Result<Option<ClientRecord>, StoreError> {
        Ok(self.clients.read().map_err(|_| poisoned())?.get(id).cloned())
    }

    fn list_clients(&self) -> Result<Vec<ClientRecord>, StoreError> {
        Ok(self.clients.read().map_err(|_| poisoned())?.values().cloned().collect())
    }

    fn create_client(&self, client: &ClientRecord) -> Result<(), StoreError> {
        let mut map = self.clients.write().map_err(|_| poisoned())?;
        if map.contains_key(&client.id) {
            return Err(StoreError::Conflict(format!("client `{}`", client.id)));
        }
        map.insert(client.id.clone(), client.clone());
        Ok(())
    }

    fn remove_client(&self, id: &str) -> Result<bool, StoreError> {
        Ok(self.clients.write().map_err(|_| poisoned())?.remove(id).is_some())
    }

    fn set_client_secret(&self, id: &str, secret_sha256: &str) -> Result<bool, StoreError> {
        let mut map = self.clients.write().map_err(|_| poisoned())?;
        Ok(map
            .get_mut(id)
            .map(|c| {
                c.secret_sha256 = Some(secret_sha256.to_owned());
                c.version = c.version.saturating_add(1);
            })
            .is_some())
    }

    fn update_client(&self, client: &ClientRecord, expected: u64) -> Result<crate::Patched<ClientRecord>, StoreError> {
        let mut map = self.clients.write().map_err(|_| poisoned())?;
        let Some(stored) = map.get_mut(&client.id) else { return Ok(crate::Patched::Missing) };
        if stored.version != expected {
            return Ok(crate::Patched::Stale(stored.version));
        }
        *stored = ClientRecord { version: expected.saturating_add(1), ..client.clone() };
        Ok(crate::Patched::Updated(Box::new(stored.clone())))
    }

    fn load_keys(&self) -> Result<KeySetRecord, StoreError> {
        Ok(self.keys.read().map_err(|_| poisoned())?.clone())
    }

    fn replace_keys(&self, expected: u64, keys: &[KeyRecord]) -> Result<u64, StoreError> {
        let mut set = self.keys.write().map_err(|_| poisoned())?;
        if set.version != expected {
            return Err(StoreError::Conflict(format!("key set version {expected}")));
        }
        *set = KeySetRecord { version: expected + 1, keys: keys.to_vec() };
        Ok(set.version)
    }

    fn use_once(&self, key: &str, expires_at: i64, now: i64) -> Result<bool, StoreError> {
        let mut used = self.used.lock().map_err(|_| poisoned())?;
        if used.get(key).is_some_and(|exp| *exp > now) {
            return Ok(false);
        }
        used.retain(|_, exp| *exp > now);
        used.insert(key.to_owned(), expires_at);
        Ok(true)
    }

    fn try_lease(&self, name: &str, holder: &str, until_ms: i64, now_ms: i64) -> Result<bool, StoreError> {
        crate::leases::take(&self.leases, name, holder, until_ms, now_ms)
    }

    fn revoke_token(&self, jti: &str, expires_at: i64) -> Result<(), StoreError> {
        self.revocations.write().map_err(|_| poisoned())?.insert(jti.to_owned(), expires_at);
        Ok(())
    }

    fn is_revoked(&self, jti: &str) -> Result<bool, StoreError> {
        Ok(self.revocations.read().map_err(|_| poisoned())?.contains_key(jti))
    }

    fn purge_revocations(&self, now: i64) -> Result<usize, StoreError> {
        let mut map = self.revocations.write().map_err(|_| poisoned())?;
        let before = map.len();
        map.retain(|_, exp| *exp >= now);
        Ok(before - map.len())
    }

    fn create_user(&self, user: &UserRecord) -> Result<(), StoreError> {
        let mut map = self.users.write().map_err(|_| poisoned())?;
        let taken = map
            .values()
            .any(|u| u.id == user.id || u.username == user.username || (user.email.is_some() && u.email == user.email));
        if taken {
            return Err(StoreError::Conflict(format!("user `{}` or its email", user.username)));
        }
        map.insert(user.id.clone(), user.clone());
        Ok(())
    }

    fn get_user(&self, id: &str) -> Result<Option<UserRecord>, StoreError> {
        Ok(self.users.read().map_err(|_| poisoned())?.get(id).cloned())
    }

    fn users_page(
        &self,
        prefix: Option<&str>,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<UserRecord>, StoreError> {
        let mut all: Vec<UserRecord> = self
            .users
            .read()
            .map_err(|_| poisoned())?
            .values()
            .filter(|u| crate::page_match(u, prefix, after))
            .cloned()
            .collect();
        all.sort_by(|a, b| a.username.cmp(&b.username));
        all.truncate(limit);
        Ok(all)
    }

    fn delete_user(&self, id: &str) -> Result<Option<UserRecord>, StoreError> {
        // Under the users lock, as links are written: no link appears for a removed user.
        let mut users = self.users.write().map_err(|_| poisoned())?;
        let Some(user) = users.remove(id) else { return Ok(None) };
        self.links.write().map_err(|_| poisoned())?.retain(|_, l| l.user_id != id);
        self.factors.lock().map_err(|_| poisoned())?.remove(id);
        self.forget_consents(id)?;
        Ok(Some(user))
    }

    fn find_user(&self, login: &str) -> Result<Option<UserRecord>, StoreError> {
        let map = self.users.read().map_err(|_| poisoned())?;
        Ok(map.values().find(|u| u.username == login || u.email.as_deref() == Some(login)).cloned())
    }

    fn list_users(&self) -> Result<Vec<UserRecord>, StoreError> {
        let mut users: Vec<_> = self.users.read().map_err(|_| poisoned())?.values().cloned().collect();
        users.sort_by(|a, b| a.username.cmp(&b.username));
        Ok(users)
    }

    fn set_user_password(&self, id: &str, password_hash: &str, now: i64) -> Result<bool, StoreError> {
        let mut map = self.users.write().map_err(|_| poisoned())?;
        Ok(map
            .get_mut(id)
            .map(|u| {
                u.password_hash = password_hash.to_owned();
                crate::touch(u, now);
            })
            .is_some())
    }

    fn set_user_groups(&self, id: &str, groups: &[String], now: i64) -> Result<bool, StoreError> {
        let mut map = self.users.write().map_err(|_| poisoned())?;
        Ok(map
            .get_mut(id)
            .map(|u| {
                u.groups = groups.to_vec();
                crate::touch(u, now);
            })
            .is_some())
    }

    fn patch_user(
        &self,
        id: &str,
        expected: Option<u64>,
        patch: &crate::UserPatch,
        now: i64,
    ) -> Result<crate::Patched, StoreError> {
        let mut map = self.users.write().map_err(|_| poisoned())?;
        Ok(match map.get_mut(id) {
            None => crate::Patched::Missing,
            Some(u) if expected.is_some_and(|v| v != u.version) => crate::Patched::Stale(u.version),
            Some(u) => {
                patch.apply(u, now);
                crate::Patched::Updated(Box::new(u.clone()))
            }
        })
    }

    fn set_user_profile(&self, id: &str, profile: &crate::Profile, now: i64) -> Result<bool, StoreError> {
        let mut map = self.users.write().map_err(|_| poisoned())?;
        Ok(map
            .get_mut(id)
            .map(|u| {
                u.profile = profile.clone();
                crate::touch(u, now);
            })
            .is_some())
    }

    fn set_email_verified(&self, id: &str, email: &str, now: i64) -> Result<bool, StoreError> {
        let mut map = self.users.write().map_err(|_| poisoned())?;
        Ok(map.get_mut(id).filter(|u| u.email.as_deref() == Some(email)).map(|u| crate::verify_email(u, now)).is_some())
    }

    fn set_user_disabled(&self, id: &str, disabled: bool, now: i64) -> Result<bool, StoreError> {
        let mut map = self.users.write().map_err(|_| poisoned())?;
        Ok(map
            .get_mut(id)
            .map(|u| {
                u.disabled = disabled;
                crate::touch(u, now);
            })
            .is_some())
    }

    fn append_audit(&self, records: &[AuditRecord]) -> Result<(), StoreError> {
        let mut map = self.audit.write().map_err(|_| poisoned())?;
        let start = self.audit_start.read().map_err(|_| poisoned())?.clone();
        if let Some(first) = records.first()
            && !crate::audit_chain::follows(map.values().next_back(), start.as_ref(), first)
        {
            return Err(StoreError::Conflict("an audit record at that position".into()));
        }
        map.extend(records.iter().map(|r| (r.seq, r.clone())));
        Ok(())
    }

    fn audit_records(&self, from_seq: u64, limit: usize) -> Result<Vec<AuditRecord>, StoreError> {
        Ok(self.audit.read().map_err(|_| poisoned())?.range(from_seq..).take(limit).map(|(_, r)| r.clone()).collect())
    }

    fn audit_records_of(
        &self,
        from_seq: u64,
        scan: usize,
        keep: &dyn Fn(&str) -> bool,
    ) -> Result<(Vec<AuditRecord>, Option<u64>), StoreError> {
        let map = self.audit.read().map_err(|_| poisoned())?;
        let seen: Vec<&AuditRecord> = map.range(from_seq..).take(scan).map(|(_, r)| r).collect();
        let last = seen.last().map(|r| r.seq);
        Ok((seen.into_iter().filter(|r| keep(r.event.name())).cloned().collect(), last))
    }

    fn last_audit_record(&self) -> Result<Option<AuditRecord>, StoreError> {
        Ok(self.audit.read().map_err(|_| poisoned())?.values().next_back().cloned())
    }

    fn audit_start(&self) -> Result<Option<ChainStart>, StoreError> {
        Ok(self.audit_start.read().map_err(|_| poisoned())?.clone())
    }

    fn prune_audit(&self, start: &ChainStart) -> Result<u64, StoreError> {
        let mut map = self.audit.write().map_err(|_| poisoned())?;
        if map.get(&start.truncated_through).map(|r| &r.hash) != Some(&start.last_hash) {
            return Err(StoreError::Refused("the truncation point does not match the chain".into()));
        }
        let before = map.len();
        map.retain(|seq, _| *seq > start.truncated_through);
        *self.audit_start.write().map_err(|_| poisoned())? = Some(start.clone());
        Ok((before - map.len()) as u64)
    }

    fn backup(&self, _out: &mut dyn std::io::Write) -> Result<super::backup::Summary, StoreError> {
        Err(StoreError::Io("the in-memory store holds nothing durable to back up".into()))
    }

    fn restore(&self, _input: &mut dyn std::io::BufRead) -> Result<super::backup::Summary, StoreError> {
        Err(StoreError::Io("the in-memory store cannot be restored into".into()))
    }

    fn export(&self) -> Result<Vec<super::transfer::Item>, StoreError> {
        Err(StoreError::Refused("the memory store is not exported (it lives only in this process)".into()))
    }

    fn import_extra(&self, _items: &[super::transfer::Item]) -> Result<(), StoreError> {
        Err(StoreError::Refused("the memory store is not imported into".into()))
    }

    fn flush(&self) -> Result<(), StoreError> {
        Ok(())
    }

    fn kind(&self) -> &'static str {
        "memory"
    }
}

impl super::plugin_kv::KvRaw for MemoryStore {
    fn kv_get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.plugin_kv.lock().map_err(|_| poisoned())?.get(key).cloned())
    }

    fn kv_put(&self, key: &[u8], value: Vec<u8>) -> Result<(), StoreError> {
        self.plugin_kv.lock().map_err(|_| poisoned())?.insert(key.to_vec(), value);
        Ok(())
    }

    fn kv_remove(&self, key: &[u8]) -> Result<(), StoreError> {
        self.plugin_kv.lock().map_err(|_| poisoned())?.remove(key);
        Ok(())
    }

    fn kv_scan(&self, prefix: &[u8]) -> Result<super::plugin_kv::Entries, StoreError> {
        let map = self.plugin_kv.lock().map_err(|_| poisoned())?;
        Ok(map
            .range(prefix.to_vec()..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect())
    }

    fn kv_update(&self, key: &[u8], f: super::plugin_kv::Update<'_>) -> Result<Option<Vec<u8>>, StoreError> {
        let mut map = self.plugin_kv.lock().map_err(|_| poisoned())?;
        let new = f(map.get(key).map(Vec::as_slice));
        match &new {
            Some(v) => map.insert(key.to_vec(), v.clone()),
            None => map.remove(key),
        };
        Ok(new)
    }
}

impl super::notify_queue::QueueRaw for MemoryStore {
    fn nq_get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.notify.lock().map_err(|_| poisoned())?.get(key).cloned())
    }

    fn nq_scan(&self, prefix: &[u8], limit: usize) -> Result<super::notify_queue::Entries, StoreError> {
        let map = self.notify.lock().map_err(|_| poisoned())?;
        Ok(map
            .range(prefix.to_vec()..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .take(limit)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect())
    }

    fn nq_apply(&self, puts: super::notify_queue::Entries, removes: Vec<Vec<u8>>) -> Result<(), StoreError> {
        let mut map = self.notify.lock().map_err(|_| poisoned())?;
        for k in removes {
            map.remove(&k);
        }
        map.extend(puts);
        Ok(())
    }

    fn nq_lock(&self) -> Result<std::sync::MutexGuard<'_, ()>, StoreError> {
        self.queue_lock.lock().map_err(|_| poisoned())
    }
}

impl super::login_attempts::SyncAttempts for MemoryStore {
    fn reserve_attempt(
        &self,
        key: &str,
        policy: &super::login_attempts::LockoutPolicy,
        now: i64,
    ) -> Result<super::login_attempts::Reserve, StoreError> {
        let mut map = self.attempts.lock().map_err(|_| poisoned())?;
        Ok(super::login_attempts::reserve(map.entry(key.to_owned()).or_default(), policy, now))
    }

    fn settle_attempt(
        &self,
        key: &str,
        policy: &super::login_attempts::LockoutPolicy,
        outcome: super::login_attempts::Outcome,
        now: i64,
    ) -> Result<Option<i64>, StoreError> {
        let mut map = self.attempts.lock().map_err(|_| poisoned())?;
        Ok(super::login_attempts::settle(map.entry(key.to_owned()).or_default(), policy, outcome, now))
    }

    fn purge_attempts(&self, now: i64) -> Result<usize, StoreError> {
        let mut map = self.attempts.lock().map_err(|_| poisoned())?;
        let before = map.len();
        map.retain(|_, r| super::login_attempts::is_live(r, now));
        Ok(before - map.len())
    }
}

impl super::audit_checkpoints::SyncCheckpoints for MemoryStore {
    fn audit_key(&self) -> Result<Option<String>, StoreError> {
        Ok(self.audit_key.lock().map_err(|_| poisoned())?.clone())
    }

    fn init_audit_key(&self, pkcs8: &str) -> Result<String, StoreError> {
        Ok(self.audit_key.lock().map_err(|_| poisoned())?.get_or_insert_with(|| pkcs8.to_owned()).clone())
    }

    fn add_checkpoint(&self, checkpoint: &super::audit_checkpoints::CheckpointRecord) -> Result<(), StoreError> {
        self.checkpoints.lock().map_err(|_| poisoned())?.push(checkpoint.clone());
        Ok(())
    }

    fn checkpoints(&self) -> Result<Vec<super::audit_checkpoints::CheckpointRecord>, StoreError> {
        Ok(self.checkpoints.lock().map_err(|_| poisoned())?.clone())
    }
}

impl super::links::SyncLinks for MemoryStore {
    fn find_link(&self, issuer: &str, subject: &str) -> Result<Option<LinkRecord>, StoreError> {
        Ok(self.links.read().map_err(|_| poisoned())?.get(&(issuer.to_owned(), subject.to_owned())).cloned())
    }

    fn user_links(&self, user_id: &str) -> Result<Vec<LinkRecord>, StoreError> {
        Ok(self.links.read().map_err(|_| poisoned())?.values().filter(|l| l.user_id == user_id).cloned().collect())
    }

    fn add_link(&self, link: &LinkRecord) -> Result<(), StoreError> {
        links::valid(link)?;
        let users = self.users.read().map_err(|_| poisoned())?;
        if !users.contains_key(&link.user_id) {
            return Err(links::no_user(&link.user_id));
        }
        let mut map = self.links.write().map_err(|_| poisoned())?;
        let key = (link.issuer.clone(), link.subject.clone());
        if map.contains_key(&key) {
            return Err(links::taken(link));
        }
        map.insert(key, link.clone());
        Ok(())
    }

    fn create_linked_user(&self, user: &UserRecord, link: &LinkRecord) -> Result<(), StoreError> {
        let link = &LinkRecord { user_id: user.id.clone(), ..link.clone() };
        links::valid(link)?;
        let mut users = self.users.write().map_err(|_| poisoned())?;
        let mut map = self.links.write().map_err(|_| poisoned())?;
        let key = (link.issuer.clone(), link.subject.clone());
        if map.contains_key(&key) {
            return Err(links::taken(link));
        }
        let taken = users
            .values()
            .any(|u| u.id == user.id || u.username == user.username || (user.email.is_some() && u.email == user.email));
        if taken {
            return Err(StoreError::Conflict(format!("user `{}` or its email", user.username)));
        }
        users.insert(user.id.clone(), user.clone());
        map.insert(key, link.clone());
        Ok(())
    }

    fn remove_link(&self, user_id: &str, issuer: &str, subject: &str) -> Result<bool, StoreError> {
        let mut map = self.links.write().map_err(|_| poisoned())?;
        let key = (issuer.to_owned(), subject.to_owned());
        if map.get(&key).is_some_and(|l| l.user_id == user_id) {
            map.remove(&key);
            return Ok(true);
        }
        Ok(false)
    }

    fn touch_link(&self, issuer: &str, subject: &str, now: i64) -> Result<bool, StoreError> {
        let mut map = self.links.write().map_err(|_| poisoned())?;
        Ok(map.get_mut(&(issuer.to_owned(), subject.to_owned())).map(|l| l.last_used = now).is_some())
    }
}

impl super::factors::SyncFactors for MemoryStore {
    fn get_factors(&self, user_id: &str) -> Result<Option<super::factors::FactorsRecord>, StoreError> {
        Ok(self.factors.lock().map_err(|_| poisoned())?.get(user_id).cloned())
    }

    fn put_factors(&self, record: &super::factors::FactorsRecord, expected: u64) -> Result<bool, StoreError> {
        let record = super::factors::next(record, expected)?;
        if !self.users.read().map_err(|_| poisoned())?.contains_key(&record.user_id) {
            return Err(super::factors::no_user(&record.user_id));
        }
        let mut map = self.factors.lock().map_err(|_| poisoned())?;
        if map.get(&record.user_id).map_or(0, |r| r.version) != expected {
            return Ok(false);
        }
        let taken = map
            .values()
            .filter(|r| r.user_id != record.user_id)
            .any(|r| r.credential_ids().any(|id| record.credential_ids().any(|mine| mine == id)));
        if taken {
            return Err(super::factors::credential_taken());
        }
        map.insert(record.user_id.clone(), record);
        Ok(true)
    }
}
