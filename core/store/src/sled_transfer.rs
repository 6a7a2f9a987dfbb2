//! The sled store as logical records (`transfer.rs`): an export taken under the write
//! barrier (one consistent snapshot), and the kinds an import writes here directly.

use crate::audit_checkpoints::SyncCheckpoints as _;
use crate::browser::SessionRecord;
use crate::notify_queue::SyncQueue as _;
use crate::sled::{SledStore, io};
use crate::transfer::{Item, b64, unb64};
use crate::{StoreError, SyncStore as _, decode, encode};

/// `bytes` as UTF-8 (every key written from a `&str` is).
fn utf8(tree: &'static str, bytes: &[u8]) -> Result<String, StoreError> {
    String::from_utf8(bytes.to_vec()).map_err(|_| StoreError::Corrupt { tree, detail: "a key is not UTF-8".into() })
}

/// `bytes` split at its first NUL (the composite keys `a\0b`).
fn split_nul(tree: &'static str, bytes: &[u8]) -> Result<(String, String), StoreError> {
    let at = bytes
        .iter()
        .position(|b| *b == 0)
        .ok_or_else(|| StoreError::Corrupt { tree, detail: "a composite key without a separator".into() })?;
    Ok((utf8(tree, &bytes[..at])?, utf8(tree, &bytes[at + 1..])?))
}

/// Audit records read per page.
const PAGE: usize = 10_000;

impl SledStore {
    pub(super) fn export_items(&self) -> Result<Vec<Item>, StoreError> {
        let _barrier = self.writes_exclusive()?;
        let mut out = Vec::new();
        let keys = self.load_keys()?;
        if keys.version > 0 || !keys.keys.is_empty() {
            out.push(Item::KeySet { record: keys });
        }
        out.extend(self.list_clients()?.into_iter().map(|record| Item::Client { record }));
        out.extend(self.list_users()?.into_iter().map(|record| Item::User { record }));
        out.extend(crate::groups::SyncGroups::list_groups(self)?.into_iter().map(|record| Item::Group { record }));
        for entry in self.links.iter() {
            let (_, v) = entry.map_err(io)?;
            out.push(Item::Link { record: decode(super::sled_links::LINKS, &v)? });
        }
        for entry in self.factors.iter() {
            let (_, v) = entry.map_err(io)?;
            out.push(Item::Factors { record: decode(super::sled_factors::FACTORS, &v)? });
        }
        for entry in self.revocations.iter() {
            let (k, v) = entry.map_err(io)?;
            let expires_at: i64 = decode("revocations", &v)?;
            out.push(match k.strip_prefix(b"once\0") {
                Some(key) => Item::UsedOnce { key: utf8("revocations", key)?, expires_at },
                None => Item::Revocation { jti: utf8("revocations", &k)?, expires_at },
            });
        }
        let t = self.browser();
        for entry in t.flows.iter() {
            let (k, v) = entry.map_err(io)?;
            out.push(Item::Flow { id: b64(&k), record: decode("flows", &v)? });
        }
        for entry in t.sessions.iter() {
            let (k, v) = entry.map_err(io)?;
            let record: SessionRecord = decode("sessions", &v)?;
            out.push(Item::Session { id: b64(&k), record });
        }
        for entry in t.codes.iter() {
            let (k, v) = entry.map_err(io)?;
            out.push(Item::Code { hash: b64(&k), record: decode("codes", &v)? });
        }
        for entry in t.refresh.iter() {
            let (k, v) = entry.map_err(io)?;
            out.push(match k.split_first() {
                Some((b'r', hash)) => Item::RefreshToken { hash: b64(hash), record: decode("refresh", &v)? },
                Some((b'f', id)) => Item::RefreshFamily { id: utf8("refresh", id)?, record: decode("refresh", &v)? },
                _ => return Err(StoreError::Corrupt { tree: "refresh", detail: "an unknown key".into() }),
            });
        }
        for entry in t.consents.iter() {
            let (k, v) = entry.map_err(io)?;
            let (user_id, client_id) = split_nul("consents", &k)?;
            out.push(Item::Consent { user_id, client_id, scopes: decode("consents", &v)? });
        }
        for entry in self.attempts.iter() {
            let (k, v) = entry.map_err(io)?;
            out.push(Item::LoginAttempts { key: utf8("login_attempts", &k)?, record: decode("login_attempts", &v)? });
        }
        for entry in self.plugin_kv.iter() {
            let (k, v) = entry.map_err(io)?;
            let (ns, key) = split_nul("plugin_kv", &k)?;
            let (exp, value) = v.split_at_checked(8).ok_or_else(|| StoreError::Corrupt {
                tree: "plugin_kv",
                detail: "a value without its expiry".into(),
            })?;
            let expires_at = i64::from_be_bytes(exp.try_into().unwrap_or_default());
            out.push(Item::PluginKv { ns, key, value: b64(value), expires_at });
        }
        if let Some(seq) = self.notify_cursor()? {
            out.push(Item::NotifyCursor { seq });
        }
        out.extend(self.notify_queued(usize::MAX)?.into_iter().map(|record| Item::Queued { record }));
        out.extend(self.notify_dead(usize::MAX)?.into_iter().map(|record| Item::DeadLetter { record }));
        if let Some(pkcs8) = self.audit_key()? {
            out.push(Item::AuditKey { pkcs8 });
        }
        if let Some(record) = self.audit_start()? {
            out.push(Item::AuditStart { record });
        }
        let mut from = 0;
        loop {
            let page = self.audit_records(from, PAGE)?;
            let Some(last) = page.last() else { break };
            from = last.seq + 1;
            out.extend(page.into_iter().map(|record| Item::Audit { record }));
        }
        out.extend(self.checkpoints()?.into_iter().map(|record| Item::Checkpoint { record }));
        Ok(out)
    }

    pub(super) fn import_extra_items(&self, items: &[Item]) -> Result<(), StoreError> {
        for item in items {
            match item {
                Item::LoginAttempts { key, record } => {
                    let _w = self.writing()?;
                    self.attempts.insert(key.as_bytes(), encode(record)?).map_err(io)?;
                }
                Item::PluginKv { ns, key, value, expires_at } => {
                    let bytes = unb64("plugin kv", value)?;
                    let raw = crate::plugin_kv::encode(*expires_at, &bytes);
                    let _w = self.writing()?;
                    self.plugin_kv.insert(crate::plugin_kv::full_key(ns, key), raw).map_err(io)?;
                }
                Item::DeadLetter { record } => {
                    let key = crate::notify_queue::dead_key(&record.queued.message.id);
                    crate::notify_queue::QueueRaw::nq_apply(self, vec![(key, encode(record)?)], Vec::new())?;
                }
                Item::AuditStart { record } => {
                    let mut line = serde_json::to_vec(record).map_err(|e| StoreError::Io(e.to_string()))?;
                    line.push(b'\n');
                    let mut file = self.audit_file()?;
                    if !file.is_empty() {
                        return Err(StoreError::Refused("the audit log is not empty".into()));
                    }
                    file.append_raw(self.dir(), &line)?;
                }
                _ => {}
            }
        }
        Ok(())
    }
}
