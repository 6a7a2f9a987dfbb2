//! The store as logical records, for moving it between backends (`gatehouse store copy`)
//! and for backups that any backend restores (version 2 of the backup format, written by
//! PostgreSQL; sled writes version 1, its own trees, and restores both).
//!
//! A backend exports every record it holds (one consistent snapshot); [`import`] writes them
//! into an empty backend through the capability traits, so each backend's own indexes (user
//! names and emails, the audit file's offsets, derived expiry columns) are built as by any
//! other write, and hands the few kinds that have no writer in the traits (sign-in counters,
//! dead letters, plugin kv entries with their exact expiry, a pruned chain's start) to the
//! backend's `import_extra`. Transient coordination state (leases, the durability barrier)
//! is not copied.
//!
//! A version-2 file is a header line, one JSON object per record (`{"kind": ...}`), and an
//! end line with the counts and a SHA-256 over every byte before it.

use std::collections::HashMap;
use std::io::{BufRead, Write};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

use crate::api::Backend;
use crate::audit_chain::{AuditRecord, ChainStart};
use crate::audit_checkpoints::CheckpointRecord;
use crate::backup::{End, FORMAT, Header, Summary};
use crate::browser::{CodeRecord, Digest, FamilyRecord, FlowRecord, RefreshRecord, SessionRecord};
use crate::factors::FactorsRecord;
use crate::groups::GroupRecord;
use crate::links::LinkRecord;
use crate::login_attempts::AttemptRecord;
use crate::notify_queue::{DeadLetter, Queued};
use crate::{ClientRecord, KeySetRecord, StoreError, UserRecord};

/// The backup format version of logical records.
pub const VERSION: u32 = 2;

/// One record of a store. Digests (the keys of flows, sessions, codes and refresh tokens)
/// and plugin values are base64url.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Item {
    /// The signing keys.
    KeySet { record: KeySetRecord },
    /// A stored client.
    Client { record: ClientRecord },
    /// A user.
    User { record: UserRecord },
    /// A group.
    Group { record: GroupRecord },
    /// A federated identity linked to a user.
    Link { record: LinkRecord },
    /// A user's second factors.
    Factors { record: FactorsRecord },
    /// A revoked token.
    Revocation { jti: String, expires_at: i64 },
    /// A used single-use key (client assertion ids).
    UsedOnce { key: String, expires_at: i64 },
    /// A login flow in progress.
    Flow { id: String, record: Box<FlowRecord> },
    /// A browser session.
    Session { id: String, record: SessionRecord },
    /// An authorization code.
    Code { hash: String, record: CodeRecord },
    /// A refresh token family.
    RefreshFamily { id: String, record: FamilyRecord },
    /// A refresh token.
    RefreshToken { hash: String, record: RefreshRecord },
    /// A consent.
    Consent { user_id: String, client_id: String, scopes: Vec<String> },
    /// Sign-in counters and lockout of one key.
    LoginAttempts { key: String, record: AttemptRecord },
    /// A plugin's kv entry.
    PluginKv { ns: String, key: String, value: String, expires_at: i64 },
    /// How far the notification queue has read the audit log.
    NotifyCursor { seq: u64 },
    /// A queued notification.
    Queued { record: Queued },
    /// A dead letter.
    DeadLetter { record: DeadLetter },
    /// The audit checkpoint signing key (PKCS#8, as stored).
    AuditKey { pkcs8: String },
    /// Where a pruned audit chain starts.
    AuditStart { record: ChainStart },
    /// An audit record.
    Audit { record: AuditRecord },
    /// A signed audit checkpoint.
    Checkpoint { record: CheckpointRecord },
}

/// Base64url of a digest or value.
pub fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Bytes from base64url.
pub fn unb64(kind: &str, text: &str) -> Result<Vec<u8>, StoreError> {
    URL_SAFE_NO_PAD.decode(text).map_err(|e| bad(format!("{kind}: not base64url: {e}")))
}

fn digest(kind: &str, text: &str) -> Result<Digest, StoreError> {
    unb64(kind, text)?.try_into().map_err(|_| bad(format!("{kind}: a digest has 32 bytes")))
}

fn bad(detail: impl Into<String>) -> StoreError {
    StoreError::Corrupt { tree: "backup", detail: detail.into() }
}

/// The counts a backup's summary reports: audit records, and every other record.
pub fn summary(items: &[Item]) -> Summary {
    let audit_lines = items.iter().filter(|i| matches!(i, Item::Audit { .. })).count() as u64;
    Summary { entries: items.len() as u64 - audit_lines, audit_lines }
}

#[derive(Serialize, Deserialize)]
struct EndLine {
    end: End,
}

fn put<T: Serialize>(
    out: &mut dyn Write,
    hash: &mut aws_lc_rs::digest::Context,
    value: &T,
    hashed: bool,
) -> Result<(), StoreError> {
    let mut bytes = serde_json::to_vec(value).map_err(|e| StoreError::Io(e.to_string()))?;
    bytes.push(b'\n');
    if hashed {
        hash.update(&bytes);
    }
    out.write_all(&bytes).map_err(|e| StoreError::Io(format!("backup: {e}")))
}

/// Writes `items` as a version-2 backup.
pub fn write(out: &mut dyn Write, items: &[Item]) -> Result<Summary, StoreError> {
    let mut hash = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    put(out, &mut hash, &Header { format: FORMAT.into(), version: VERSION }, true)?;
    for item in items {
        put(out, &mut hash, item, true)?;
    }
    let s = summary(items);
    let sha256 = hex::encode(hash.clone().finish());
    put(out, &mut hash, &EndLine { end: End { entries: s.entries, audit_lines: s.audit_lines, sha256 } }, false)?;
    out.flush().map_err(|e| StoreError::Io(format!("backup: {e}")))?;
    Ok(s)
}

/// The backup format version in `first_line` (version 1 files are sled's trees).
pub fn version_of(first_line: &[u8]) -> Option<u32> {
    let h: Header = serde_json::from_slice(first_line).ok()?;
    (h.format == FORMAT).then_some(h.version)
}

/// Reads a whole version-2 backup, checking every line, the counts and the checksum before
/// returning anything.
pub fn read(input: &mut dyn BufRead) -> Result<Vec<Item>, StoreError> {
    let mut hash = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    let mut items = Vec::new();
    let mut buf = Vec::new();
    let mut n = 0u64;
    loop {
        buf.clear();
        if input.read_until(b'\n', &mut buf).map_err(|e| StoreError::Io(format!("backup: {e}")))? == 0 {
            return Err(bad("the backup ends early (no end line): truncated?"));
        }
        n += 1;
        if buf.last() != Some(&b'\n') {
            return Err(bad(format!("line {n} is incomplete: truncated?")));
        }
        if n == 1 {
            if version_of(&buf) != Some(VERSION) {
                return Err(bad(format!("not a {FORMAT} version {VERSION} file")));
            }
        } else if let Ok(EndLine { end }) = serde_json::from_slice::<EndLine>(&buf) {
            let s = summary(&items);
            if (end.entries, end.audit_lines) != (s.entries, s.audit_lines) {
                return Err(bad("the counts in the end line do not match the records: damaged?"));
            }
            if end.sha256 != hex::encode(hash.clone().finish()) {
                return Err(bad("the checksum does not match: the file was altered or damaged"));
            }
            return Ok(items);
        } else {
            items.push(serde_json::from_slice(&buf).map_err(|e| bad(format!("line {n}: {e}")))?);
        }
        hash.update(&buf);
    }
}

/// Audit records written per append.
const AUDIT_BATCH: usize = 1000;

/// Writes `items` (one backend's export) into `target`, which must hold nothing.
pub async fn import(target: &dyn Backend, items: Vec<Item>) -> Result<Summary, StoreError> {
    if !target.export().await?.is_empty() {
        return Err(StoreError::Refused("the target store holds data; it must be empty".into()));
    }
    let counts = summary(&items);
    // First what has no writer in the traits: a pruned chain's start must precede its records.
    target.import_extra(&items).await?;
    let mut audit = Vec::new();
    let mut families = HashMap::new();
    let mut tokens = Vec::new();
    let (mut cursor, mut queued) = (None, Vec::new());
    // Links after every user they may name.
    let mut links = Vec::new();
    let mut factors = Vec::new();
    for item in items {
        match item {
            Item::KeySet { record } => {
                target.replace_keys(0, &record.keys).await?;
            }
            Item::Client { record } => target.create_client(&record).await?,
            Item::User { record } => target.create_user(&record).await?,
            Item::Group { record } => target.create_group(&record).await?,
            Item::Link { record } => links.push(record),
            Item::Factors { record } => factors.push(record),
            Item::Revocation { jti, expires_at } => target.revoke_token(&jti, expires_at).await?,
            Item::UsedOnce { key, expires_at } => {
                target.use_once(&key, expires_at, i64::MIN).await?;
            }
            Item::Flow { id, record } => target.put_flow(&digest("flow", &id)?, &record).await?,
            Item::Session { id, record } => target.put_session(&digest("session", &id)?, &record).await?,
            Item::Code { hash, record } => target.put_code(&digest("code", &hash)?, &record).await?,
            Item::RefreshFamily { id, record } => {
                families.insert(id, record);
            }
            Item::RefreshToken { hash, record } => tokens.push((digest("refresh token", &hash)?, record)),
            Item::Consent { user_id, client_id, scopes } => target.put_consent(&user_id, &client_id, &scopes).await?,
            Item::NotifyCursor { seq } => cursor = Some(seq),
            Item::Queued { record } => queued.push(record),
            Item::AuditKey { pkcs8 } => {
                target.init_audit_key(&pkcs8).await?;
            }
            Item::Audit { record } => {
                audit.push(record);
                if audit.len() == AUDIT_BATCH {
                    target.append_audit(&std::mem::take(&mut audit)).await?;
                }
            }
            Item::Checkpoint { record } => target.add_checkpoint(&record).await?,
            Item::LoginAttempts { .. } | Item::PluginKv { .. } | Item::DeadLetter { .. } | Item::AuditStart { .. } => {}
        }
    }
    target.append_audit(&audit).await?;
    for link in &links {
        target.add_link(link).await?;
    }
    for record in &factors {
        target.put_factors(record, 0).await?;
    }
    // A token is written with its family (a family without tokens grants nothing).
    for (hash, record) in tokens {
        let Some(family) = families.get(&record.family) else { continue };
        target.create_refresh(&hash, &record, family).await?;
    }
    if cursor.is_some() || !queued.is_empty() {
        target.notify_enqueue(None, cursor.unwrap_or(0), &queued).await?;
    }
    target.flush().await?;
    Ok(counts)
}

/// Reads a whole backup of either version from `input` into memory: `Ok(Err(bytes))` for a
/// version-1 file (sled trees, for a sled store to restore), `Ok(Ok(items))` for version 2.
pub fn read_any(input: &mut dyn BufRead) -> Result<Result<Vec<Item>, Vec<u8>>, StoreError> {
    let mut all = Vec::new();
    input.read_to_end(&mut all).map_err(|e| StoreError::Io(format!("backup: {e}")))?;
    let first = all.split(|b| *b == b'\n').next().unwrap_or_default();
    match version_of(first) {
        Some(VERSION) => read(&mut &all[..]).map(Ok),
        Some(1) => Ok(Err(all)),
        _ => Err(bad(format!("not a {FORMAT} file"))),
    }
}
