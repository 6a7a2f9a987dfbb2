//! The embedded default backend: one sled database, a tree per aggregate.

use std::path::Path;
use std::sync::Mutex;

use sled::Transactional as _;
use sled::transaction::{ConflictableTransactionError, TransactionError};

use super::audit_file::AuditFile;
use super::audit_index::{AuditIndex, read_range, read_where};
use super::sled_browser::BrowserTrees;
use super::{ClientRecord, KeyRecord, KeySetRecord, StoreError, SyncStore, UserRecord, decode, encode};
use crate::audit_chain::{AuditRecord, ChainStart};

const CLIENTS: &str = "clients";
const KEYS: &str = "keys";
const REVOCATIONS: &str = "revocations";
const KEYSET_KEY: &[u8] = b"keyset";
const CACHE_BYTES: u64 = 16 * 1024 * 1024;
const USERS: &str = "users";
const USER_NAMES: &str = "user_names";
const USER_EMAILS: &str = "user_emails";
/// The plugins' key-value store (`store/plugin_kv.rs`); not part of backups.
const PLUGIN_KV: &str = "plugin_kv";
/// The notification queue (`store/notify_queue.rs`).
const NOTIFY: &str = "notify";
/// Sign-in attempt counters (`store/login_attempts.rs`).
pub(super) const LOGIN_ATTEMPTS: &str = "login_attempts";

/// A store in a sled directory. sled locks the directory: one process at a time.
pub struct SledStore {
    db: sled::Db,
    clients: sled::Tree,
    pub(super) keys: sled::Tree,
    pub(super) revocations: sled::Tree,
    pub(super) users: sled::Tree,
    pub(super) user_names: sled::Tree,
    pub(super) user_emails: sled::Tree,
    /// Links by issuer and subject (`links.rs`), and the per-user index of them.
    pub(super) links: sled::Tree,
    pub(super) user_links: sled::Tree,
    /// Second factors by user (`factors.rs`).
    pub(super) factors: sled::Tree,
    pub(super) passkey_ids: sled::Tree,
    /// Groups by id, and the index of their names (`sled_groups.rs`).
    pub(super) groups: sled::Tree,
    pub(super) group_names: sled::Tree,
    audit: Mutex<AuditFile>,
    audit_index: Mutex<AuditIndex>,
    browser: BrowserTrees,
    pub(super) plugin_kv: sled::Tree,
    notify: sled::Tree,
    pub(super) attempts: sled::Tree,
    pub(super) checkpoints: sled::Tree,
    leases: crate::leases::Leases,
    queue_lock: Mutex<()>,
    dir: std::path::PathBuf,
    /// Writers share it; a backup takes it alone for the moment it copies the trees.
    writes: std::sync::RwLock<()>,
}

/// The stored key set; a set written before versions existed reads as version 1.
fn key_set(bytes: &[u8]) -> Result<KeySetRecord, StoreError> {
    decode::<KeySetRecord>(KEYS, bytes).or_else(|_| {
        let keys: Vec<KeyRecord> = decode(KEYS, bytes)?;
        Ok(KeySetRecord { version: 1, keys })
    })
}

pub(super) fn io(e: sled::Error) -> StoreError {
    StoreError::Io(e.to_string())
}

impl SledStore {
    /// Opens (creating if needed) the store at `path`.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        // sled's default page cache is 1 GiB; the hot data here (clients, keys, revocations,
        // users) is small, and the audit tree is appended, not read, on the request path.
        let open = || {
            sled::Config::new().path(path).cache_capacity(CACHE_BYTES).open().map_err(|e| {
                let text = e.to_string();
                if text.contains("could not acquire lock") {
                    StoreError::Locked { path: path.display().to_string() }
                } else {
                    StoreError::Io(format!("opening {}: {text}", path.display()))
                }
            })
        };
        // sled's IO threads can hold the previous handle (and so the lock) for a moment after
        // it is dropped; a closing server or store gets two seconds to let go.
        let mut db = open();
        for _ in 0..40 {
            if !matches!(db, Err(StoreError::Locked { .. })) {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
            db = open();
        }
        let db = db?;
        let tree = |name: &str| db.open_tree(name).map_err(io);
        Ok(Self {
            clients: tree(CLIENTS)?,
            keys: tree(KEYS)?,
            revocations: tree(REVOCATIONS)?,
            users: tree(USERS)?,
            user_names: tree(USER_NAMES)?,
            user_emails: tree(USER_EMAILS)?,
            links: tree(super::sled_links::LINKS)?,
            user_links: tree(super::sled_links::USER_LINKS)?,
            factors: tree(super::sled_factors::FACTORS)?,
            passkey_ids: tree(super::sled_factors::PASSKEY_IDS)?,
            groups: tree(super::sled_groups::GROUPS)?,
            group_names: tree(super::sled_groups::GROUP_NAMES)?,
            // After sled's open: sled's lock guarantees a single writer of this file too.
            audit: Mutex::new(AuditFile::open(path)?),
            audit_index: Mutex::new(AuditIndex::default()),
            browser: BrowserTrees::open(&db)?,
            plugin_kv: tree(PLUGIN_KV)?,
            notify: tree(NOTIFY)?,
            attempts: tree(LOGIN_ATTEMPTS)?,
            checkpoints: tree(super::sled_security::CHECKPOINTS)?,
            leases: crate::leases::Leases::default(),
            queue_lock: Mutex::new(()),
            dir: path.to_path_buf(),
            writes: std::sync::RwLock::new(()),
            db,
        })
    }
}

impl SledStore {
    /// Held by every write, so that a backup sees no write half done.
    pub(super) fn writing(&self) -> Result<std::sync::RwLockReadGuard<'_, ()>, StoreError> {
        self.writes.read().map_err(|_| StoreError::Io("store write barrier poisoned".into()))
    }

    /// Taken by a backup or restore: no write is in progress while it is held.
    pub(super) fn writes_exclusive(&self) -> Result<std::sync::RwLockWriteGuard<'_, ()>, StoreError> {
        self.writes.write().map_err(|_| StoreError::Io("store write barrier poisoned".into()))
    }

    /// The sled database.
    pub(super) fn sled(&self) -> &sled::Db {
        &self.db
    }

    /// The store directory.
    pub(super) fn dir(&self) -> &std::path::Path {
        &self.dir
    }

    /// The audit file, locked.
    pub(super) fn audit_file(&self) -> Result<std::sync::MutexGuard<'_, AuditFile>, StoreError> {
        self.audit.lock().map_err(|_| StoreError::Io("audit file lock poisoned".into()))
    }

    /// A reader of the audit file placed near `from_seq` (through the index), with where to
    /// start and the length of the complete prefix.
    fn audit_seek(&self, from_seq: u64) -> Result<(std::fs::File, u64, u64), StoreError> {
        let (mut file, len, generation) =
            self.audit.lock().map_err(|_| StoreError::Io("audit file lock poisoned".into()))?.snapshot()?;
        let offset = self
            .audit_index
            .lock()
            .map_err(|_| StoreError::Io("audit index lock poisoned".into()))?
            .offset_for(&mut file, len, generation, from_seq)?;
        Ok((file, offset, len))
    }

    /// The browser sign-in trees.
    pub(super) fn browser(&self) -> &BrowserTrees {
        &self.browser
    }

    /// Reads, changes and writes back one user.
    fn update_user(&self, id: &str, change: impl Fn(&mut UserRecord)) -> Result<bool, StoreError> {
        let mut found = false;
        self.users
            .fetch_and_update(id.as_bytes(), |old| {
                let mut user: UserRecord = decode(USERS, old?).ok()?;
                found = true;
                change(&mut user);
                encode(&user).ok()
            })
            .map_err(io)?;
        Ok(found)
    }
}

impl SyncStore for SledStore {
    fn get_client(&self, id: &str) -> Result<Option<ClientRecord>, StoreError> {
        match self.clients.get(id.as_bytes()).map_err(io)? {
            Some(v) => decode(CLIENTS, &v).map(Some),
            None => Ok(None),
        }
    }

    fn list_clients(&self) -> Result<Vec<ClientRecord>, StoreError> {
        self.clients.iter().values().map(|v| decode(CLIENTS, &v.map_err(io)?)).collect()
    }

    fn create_client(&self, client: &ClientRecord) -> Result<(), StoreError> {
        let _w = self.writing()?;
        let value = encode(client)?;
        self.clients
            .compare_and_swap(client.id.as_bytes(), None::<&[u8]>, Some(value))
            .map_err(io)?
            .map_err(|_| StoreError::Conflict(format!("client `{}`", client.id)))
    }

    fn remove_client(&self, id: &str) -> Result<bool, StoreError> {
        let _w = self.writing()?;
        Ok(self.clients.remove(id.as_bytes()).map_err(io)?.is_some())
    }

    fn set_client_secret(&self, id: &str, secret_sha256: &str) -> Result<bool, StoreError> {
        let _w = self.writing()?;
        let mut found = false;
        let mut failed = None;
        self.clients
            .fetch_and_update(id.as_bytes(), |old| {
                let bytes = old?;
                found = true;
                match decode::<ClientRecord>(CLIENTS, bytes) {
                    Ok(mut c) => {
                        c.secret_sha256 = Some(secret_sha256.to_owned());
                        c.version = c.version.saturating_add(1);
                        encode(&c).map_err(|e| failed = Some(e)).ok().or_else(|| Some(bytes.to_vec()))
                    }
                    Err(e) => {
                        failed = Some(e);
                        Some(bytes.to_vec())
                    }
                }
            })
            .map_err(io)?;
        match failed {
            Some(e) => Err(e),
            None => Ok(found),
        }
    }

    fn update_client(&self, client: &ClientRecord, expected: u64) -> Result<crate::Patched<ClientRecord>, StoreError> {
        let _w = self.writing()?;
        let outcome = Mutex::new(crate::Patched::Missing);
        let next = ClientRecord { version: expected.saturating_add(1), ..client.clone() };
        let bytes = encode(&next)?;
        self.clients
            .fetch_and_update(client.id.as_bytes(), |old| {
                let old = old?;
                let stored: ClientRecord = decode(CLIENTS, old).ok()?;
                let mut out = outcome.lock().ok()?;
                if stored.version != expected {
                    *out = crate::Patched::Stale(stored.version);
                    return Some(old.to_vec());
                }
                *out = crate::Patched::Updated(Box::new(next.clone()));
                Some(bytes.clone())
            })
            .map_err(io)?;
        outcome.into_inner().map_err(|_| StoreError::Io("update lock poisoned".into()))
    }

    fn load_keys(&self) -> Result<KeySetRecord, StoreError> {
        match self.keys.get(KEYSET_KEY).map_err(io)? {
            Some(v) => key_set(&v),
            None => Ok(KeySetRecord::default()),
        }
    }

    fn replace_keys(&self, expected: u64, keys: &[KeyRecord]) -> Result<u64, StoreError> {
        let _w = self.writing()?;
        let old = self.keys.get(KEYSET_KEY).map_err(io)?;
        let version = old.as_deref().map(key_set).transpose()?.map_or(0, |s| s.version);
        if version != expected {
            return Err(StoreError::Conflict(format!("key set version {expected}")));
        }
        let new = encode(&KeySetRecord { version: expected + 1, keys: keys.to_vec() })?;
        match self.keys.compare_and_swap(KEYSET_KEY, old, Some(new)).map_err(io)? {
            Ok(()) => Ok(expected + 1),
            Err(_) => Err(StoreError::Conflict(format!("key set version {expected}"))),
        }
    }

    fn use_once(&self, key: &str, expires_at: i64, now: i64) -> Result<bool, StoreError> {
        // Kept with the revocations (same shape: key → expiry), so their purge drops these.
        let _w = self.writing()?;
        let k = [b"once\0", key.as_bytes()].concat();
        loop {
            let old = self.revocations.get(&k).map_err(io)?;
            if let Some(v) = &old {
                let exp: i64 = decode(REVOCATIONS, v)?;
                if exp > now {
                    return Ok(false);
                }
            }
            if self.revocations.compare_and_swap(&k, old, Some(encode(&expires_at)?)).map_err(io)?.is_ok() {
                return Ok(true);
            }
        }
    }

    fn try_lease(&self, name: &str, holder: &str, until_ms: i64, now_ms: i64) -> Result<bool, StoreError> {
        crate::leases::take(&self.leases, name, holder, until_ms, now_ms)
    }

    fn revoke_token(&self, jti: &str, expires_at: i64) -> Result<(), StoreError> {
        let _w = self.writing()?;
        self.revocations.insert(jti.as_bytes(), encode(&expires_at)?).map_err(io)?;
        Ok(())
    }

    fn is_revoked(&self, jti: &str) -> Result<bool, StoreError> {
        self.revocations.contains_key(jti.as_bytes()).map_err(io)
    }

    fn purge_revocations(&self, now: i64) -> Result<usize, StoreError> {
        let _w = self.writing()?;
        let mut purged = 0;
        for entry in self.revocations.iter() {
            let (k, v) = entry.map_err(io)?;
            let exp: i64 = decode(REVOCATIONS, &v)?;
            if exp < now {
                self.revocations.remove(k).map_err(io)?;
                purged += 1;
            }
        }
        Ok(purged)
    }

    fn create_user(&self, user: &UserRecord) -> Result<(), StoreError> {
        let _w = self.writing()?;
        let value = encode(user)?;
        let result = (&self.users, &self.user_names, &self.user_emails).transaction(|(users, names, emails)| {
            let conflict = || ConflictableTransactionError::Abort(());
            if users.get(user.id.as_bytes())?.is_some() || names.get(user.username.as_bytes())?.is_some() {
                return Err(conflict());
            }
            if let Some(email) = &user.email {
                if emails.get(email.as_bytes())?.is_some() {
                    return Err(conflict());
                }
                emails.insert(email.as_bytes(), user.id.as_bytes())?;
            }
            names.insert(user.username.as_bytes(), user.id.as_bytes())?;
            users.insert(user.id.as_bytes(), value.clone())?;
            Ok(())
        });
        match result {
            Ok(()) => Ok(()),
            Err(TransactionError::Abort(())) => {
                Err(StoreError::Conflict(format!("user `{}` or its email", user.username)))
            }
            Err(TransactionError::Storage(e)) => Err(io(e)),
        }
    }

    fn users_page(
        &self,
        prefix: Option<&str>,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<UserRecord>, StoreError> {
        self.users_page_by_index(prefix, after, limit)
    }

    fn delete_user(&self, id: &str) -> Result<Option<UserRecord>, StoreError> {
        self.delete_user_records(id)
    }

    fn get_user(&self, id: &str) -> Result<Option<UserRecord>, StoreError> {
        match self.users.get(id.as_bytes()).map_err(io)? {
            Some(v) => decode(USERS, &v).map(Some),
            None => Ok(None),
        }
    }

    fn find_user(&self, login: &str) -> Result<Option<UserRecord>, StoreError> {
        let id = match self.user_names.get(login.as_bytes()).map_err(io)? {
            Some(id) => Some(id),
            None => self.user_emails.get(login.as_bytes()).map_err(io)?,
        };
        match id {
            Some(id) => self.get_user(&String::from_utf8_lossy(&id)),
            None => Ok(None),
        }
    }

    fn list_users(&self) -> Result<Vec<UserRecord>, StoreError> {
        let mut users = Vec::new();
        for entry in self.user_names.iter() {
            let (_, id) = entry.map_err(io)?;
            if let Some(u) = self.get_user(&String::from_utf8_lossy(&id))? {
                users.push(u);
            }
        }
        Ok(users)
    }

    fn set_user_password(&self, id: &str, password_hash: &str, now: i64) -> Result<bool, StoreError> {
        let _w = self.writing()?;
        self.update_user(id, |u| {
            u.password_hash = password_hash.to_owned();
            crate::touch(u, now);
        })
    }

    fn set_user_groups(&self, id: &str, groups: &[String], now: i64) -> Result<bool, StoreError> {
        let _w = self.writing()?;
        self.update_user(id, |u| {
            u.groups = groups.to_vec();
            crate::touch(u, now);
        })
    }

    fn patch_user(
        &self,
        id: &str,
        expected: Option<u64>,
        patch: &crate::UserPatch,
        now: i64,
    ) -> Result<crate::Patched, StoreError> {
        let _w = self.writing()?;
        let outcome = std::sync::Mutex::new(crate::Patched::Missing);
        self.users
            .fetch_and_update(id.as_bytes(), |old| {
                let old = old?;
                let mut user: UserRecord = decode(USERS, old).ok()?;
                let mut out = outcome.lock().ok()?;
                if expected.is_some_and(|v| v != user.version) {
                    *out = crate::Patched::Stale(user.version);
                    return Some(old.to_vec());
                }
                patch.apply(&mut user, now);
                let bytes = encode(&user).ok()?;
                *out = crate::Patched::Updated(Box::new(user));
                Some(bytes)
            })
            .map_err(io)?;
        outcome.into_inner().map_err(|_| StoreError::Io("patch lock poisoned".into()))
    }

    fn set_user_profile(&self, id: &str, profile: &crate::Profile, now: i64) -> Result<bool, StoreError> {
        let _w = self.writing()?;
        self.update_user(id, |u| {
            u.profile = profile.clone();
            crate::touch(u, now);
        })
    }

    fn set_email_verified(&self, id: &str, email: &str, now: i64) -> Result<bool, StoreError> {
        let _w = self.writing()?;
        let matched = std::sync::atomic::AtomicBool::new(false);
        self.update_user(id, |u| {
            let same = u.email.as_deref() == Some(email);
            matched.store(same, std::sync::atomic::Ordering::Relaxed);
            if same {
                crate::verify_email(u, now);
            }
        })?;
        Ok(matched.into_inner())
    }

    fn set_user_disabled(&self, id: &str, disabled: bool, now: i64) -> Result<bool, StoreError> {
        let _w = self.writing()?;
        self.update_user(id, |u| {
            u.disabled = disabled;
            crate::touch(u, now);
        })
    }

    fn append_audit(&self, records: &[AuditRecord]) -> Result<(), StoreError> {
        self.audit.lock().map_err(|_| StoreError::Io("audit file lock poisoned".into()))?.append(records)
    }

    fn audit_records(&self, from_seq: u64, limit: usize) -> Result<Vec<AuditRecord>, StoreError> {
        let (file, offset, len) = self.audit_seek(from_seq)?;
        read_range(file, offset, len, from_seq, limit)
    }

    fn audit_records_of(
        &self,
        from_seq: u64,
        scan: usize,
        keep: &dyn Fn(&str) -> bool,
    ) -> Result<(Vec<AuditRecord>, Option<u64>), StoreError> {
        let (file, offset, len) = self.audit_seek(from_seq)?;
        read_where(file, offset, len, from_seq, scan, keep)
    }

    fn last_audit_record(&self) -> Result<Option<AuditRecord>, StoreError> {
        Ok(self.audit.lock().map_err(|_| StoreError::Io("audit file lock poisoned".into()))?.last())
    }

    fn audit_start(&self) -> Result<Option<ChainStart>, StoreError> {
        Ok(self.audit.lock().map_err(|_| StoreError::Io("audit file lock poisoned".into()))?.start())
    }

    fn prune_audit(&self, start: &ChainStart) -> Result<u64, StoreError> {
        self.audit.lock().map_err(|_| StoreError::Io("audit file lock poisoned".into()))?.prune(start)
    }

    fn backup(&self, out: &mut dyn std::io::Write) -> Result<super::backup::Summary, StoreError> {
        self.backup_to(out)
    }

    fn restore(&self, input: &mut dyn std::io::BufRead) -> Result<super::backup::Summary, StoreError> {
        self.restore_from(input)
    }

    fn kind(&self) -> &'static str {
        "sled"
    }

    fn export(&self) -> Result<Vec<super::transfer::Item>, StoreError> {
        self.export_items()
    }

    fn import_extra(&self, items: &[super::transfer::Item]) -> Result<(), StoreError> {
        self.import_extra_items(items)
    }

    fn flush(&self) -> Result<(), StoreError> {
        // The two syncs go to different files: run them side by side, and sync the audit file
        // through its own handle so that appends are not held up meanwhile.
        let audit = self.audit.lock().map_err(|_| StoreError::Io("audit file lock poisoned".into()))?.sync_handle()?;
        std::thread::scope(|scope| {
            let audit_sync = scope.spawn(move || audit.sync_data());
            let db = self.db.flush().map(|_| ()).map_err(io);
            let audit = match audit_sync.join() {
                Ok(r) => r.map_err(|e| StoreError::Io(format!("audit file sync: {e}"))),
                Err(_) => Err(StoreError::Io("audit file sync panicked".into())),
            };
            db.and(audit)
        })
    }
}

impl super::plugin_kv::KvRaw for SledStore {
    fn kv_get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.plugin_kv.get(key).map_err(io)?.map(|v| v.to_vec()))
    }

    fn kv_put(&self, key: &[u8], value: Vec<u8>) -> Result<(), StoreError> {
        let _w = self.writing()?;
        self.plugin_kv.insert(key, value).map_err(io)?;
        Ok(())
    }

    fn kv_remove(&self, key: &[u8]) -> Result<(), StoreError> {
        let _w = self.writing()?;
        self.plugin_kv.remove(key).map_err(io)?;
        Ok(())
    }

    fn kv_scan(&self, prefix: &[u8]) -> Result<super::plugin_kv::Entries, StoreError> {
        self.plugin_kv.scan_prefix(prefix).map(|r| r.map(|(k, v)| (k.to_vec(), v.to_vec())).map_err(io)).collect()
    }

    fn kv_update(&self, key: &[u8], f: super::plugin_kv::Update<'_>) -> Result<Option<Vec<u8>>, StoreError> {
        let _w = self.writing()?;
        Ok(self.plugin_kv.update_and_fetch(key, f).map_err(io)?.map(|v| v.to_vec()))
    }
}

impl super::notify_queue::QueueRaw for SledStore {
    fn nq_get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.notify.get(key).map_err(io)?.map(|v| v.to_vec()))
    }

    fn nq_scan(&self, prefix: &[u8], limit: usize) -> Result<super::notify_queue::Entries, StoreError> {
        self.notify
            .scan_prefix(prefix)
            .take(limit)
            .map(|r| r.map(|(k, v)| (k.to_vec(), v.to_vec())).map_err(io))
            .collect()
    }

    fn nq_apply(&self, puts: super::notify_queue::Entries, removes: Vec<Vec<u8>>) -> Result<(), StoreError> {
        let _w = self.writing()?;
        let mut batch = sled::Batch::default();
        for k in removes {
            batch.remove(k);
        }
        for (k, v) in puts {
            batch.insert(k, v);
        }
        self.notify.apply_batch(batch).map_err(io)
    }

    fn nq_lock(&self) -> Result<std::sync::MutexGuard<'_, ()>, StoreError> {
        self.queue_lock.lock().map_err(|_| StoreError::Io("queue lock poisoned".into()))
    }
}
