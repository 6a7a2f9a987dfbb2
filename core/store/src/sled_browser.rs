//! [`SyncBrowser`] on sled: one tree per aggregate. A refresh token and its family live in
//! one tree (keys `r`+hash and `f`+family id); racing rotations of a family are serialised by
//! an in-process lock (sled's directory lock makes this process the only writer).
//!
//! Neither sled transactions nor `apply_batch` are used on the refresh path: both pin the log,
//! which seals sled's IO buffer twice per call and hands each sealed buffer to sled's thread
//! pool (waking all its idle threads): measured at half the server's CPU under refresh load.
//! A rotation is three single-key writes instead, ordered so that whatever prefix of them a
//! crash keeps (sled recovers a prefix of its log; nothing was acknowledged before the group
//! commit's flush) is safe: the new token (unknown to anyone yet), then the family (its newest
//! access token), then the presented token marked spent (the commit point: before it, the
//! client may simply retry with the token it has).

use super::browser::{
    CodeRecord, CodeRedemption, Digest, FamilyRecord, FlowRecord, Redemption, RefreshRecord, Rotation, SessionRecord,
    SyncBrowser, code_keep_until, consent_key, redeem, rotate,
};
use super::sled::SledStore;
use super::tickets::TicketRecord;
use super::{StoreError, decode, encode};

const FLOWS: &str = "flows";
const SESSIONS: &str = "sessions";
/// `user id \0 session key` → nothing: a user's sessions.
const USER_SESSIONS: &str = "user_sessions";

fn user_session_key(user_id: &str, id: &Digest) -> Vec<u8> {
    let mut k = user_id.as_bytes().to_vec();
    k.push(0);
    k.extend_from_slice(id);
    k
}
const CODES: &str = "codes";
const REFRESH: &str = "refresh";
const FAMILIES: &str = "refresh (families)";
const CONSENTS: &str = "consents";
const TICKETS: &str = "tickets";

/// The trees of the browser aggregates.
pub(super) struct BrowserTrees {
    pub(super) flows: sled::Tree,
    pub(super) sessions: sled::Tree,
    pub(super) user_sessions: sled::Tree,
    pub(super) codes: sled::Tree,
    pub(super) refresh: sled::Tree,
    pub(super) consents: sled::Tree,
    pub(super) tickets: sled::Tree,
    /// Serialises check-and-write of one refresh family (striped by family id).
    family_locks: Vec<std::sync::Mutex<()>>,
}

const LOCK_STRIPES: usize = 64;

fn token_key(hash: &Digest) -> Vec<u8> {
    let mut k = Vec::with_capacity(33);
    k.push(b'r');
    k.extend_from_slice(hash);
    k
}

fn family_key(family: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(family.len() + 1);
    k.push(b'f');
    k.extend_from_slice(family.as_bytes());
    k
}

fn io(e: sled::Error) -> StoreError {
    StoreError::Io(e.to_string())
}

impl BrowserTrees {
    /// Opens the trees in `db`.
    pub(super) fn open(db: &sled::Db) -> Result<Self, StoreError> {
        let tree = |name: &str| db.open_tree(name).map_err(io);
        Ok(Self {
            flows: tree(FLOWS)?,
            sessions: tree(SESSIONS)?,
            user_sessions: tree(USER_SESSIONS)?,
            codes: tree(CODES)?,
            refresh: tree(REFRESH)?,
            consents: tree(CONSENTS)?,
            tickets: tree(TICKETS)?,
            family_locks: (0..LOCK_STRIPES).map(|_| std::sync::Mutex::new(())).collect(),
        })
    }
}

fn get<T: serde::de::DeserializeOwned>(
    tree: &sled::Tree,
    name: &'static str,
    key: &[u8],
) -> Result<Option<T>, StoreError> {
    match tree.get(key).map_err(io)? {
        Some(v) => decode(name, &v).map(Some),
        None => Ok(None),
    }
}

/// Replaces the value under `key` only if there is one (atomically); `false` when absent.
fn update_existing(tree: &sled::Tree, key: &[u8], value: Vec<u8>) -> Result<bool, StoreError> {
    let mut found = false;
    tree.fetch_and_update(key, |old| {
        found = old.is_some();
        old.map(|_| value.clone())
    })
    .map_err(io)?;
    Ok(found)
}

/// Removes every entry of `tree` whose `expiry` is before `now`.
fn purge<T: serde::de::DeserializeOwned>(
    tree: &sled::Tree,
    prefix: &[u8],
    name: &'static str,
    now: i64,
    expiry: impl Fn(&T) -> i64,
) -> Result<usize, StoreError> {
    let mut n = 0;
    for entry in tree.scan_prefix(prefix) {
        let (k, v) = entry.map_err(io)?;
        let expired = match decode::<T>(name, &v) {
            Ok(r) => expiry(&r) < now,
            Err(e) => {
                tracing::warn!(error = %e, "dropping an undecodable record");
                true
            }
        };
        if expired {
            tree.remove(k).map_err(io)?;
            n += 1;
        }
    }
    Ok(n)
}

impl BrowserTrees {
    fn family_lock(&self, family: &str) -> Result<std::sync::MutexGuard<'_, ()>, StoreError> {
        let stripe = usize::from(crate::sha256(family.as_bytes())[0]) % LOCK_STRIPES;
        self.family_locks[stripe].lock().map_err(|_| StoreError::Io("refresh family lock poisoned".into()))
    }
}

impl SyncBrowser for SledStore {
    fn put_flow(&self, id: &Digest, flow: &FlowRecord) -> Result<(), StoreError> {
        let _w = self.writing()?;
        self.browser().flows.insert(id, encode(flow)?).map_err(io)?;
        Ok(())
    }

    fn update_flow(&self, id: &Digest, flow: &FlowRecord) -> Result<bool, StoreError> {
        let _w = self.writing()?;
        update_existing(&self.browser().flows, id, encode(flow)?)
    }

    fn get_flow(&self, id: &Digest) -> Result<Option<FlowRecord>, StoreError> {
        get(&self.browser().flows, FLOWS, id)
    }

    fn take_flow(&self, id: &Digest) -> Result<Option<FlowRecord>, StoreError> {
        let _w = self.writing()?;
        match self.browser().flows.remove(id).map_err(io)? {
            Some(v) => decode(FLOWS, &v).map(Some),
            None => Ok(None),
        }
    }

    fn put_session(&self, id: &Digest, session: &SessionRecord) -> Result<(), StoreError> {
        let _w = self.writing()?;
        // The index first: a listing skips an entry whose session is gone, never misses one.
        self.browser().user_sessions.insert(user_session_key(&session.user_id, id), &[][..]).map_err(io)?;
        self.browser().sessions.insert(id, encode(session)?).map_err(io)?;
        Ok(())
    }

    fn update_session(&self, id: &Digest, session: &SessionRecord) -> Result<bool, StoreError> {
        let _w = self.writing()?;
        update_existing(&self.browser().sessions, id, encode(session)?)
    }

    fn get_session(&self, id: &Digest) -> Result<Option<SessionRecord>, StoreError> {
        get(&self.browser().sessions, SESSIONS, id)
    }

    fn count_open_sessions(&self, now: i64, idle_since: i64) -> Result<usize, StoreError> {
        let mut n = 0;
        for entry in self.browser().sessions.iter() {
            let (_, v) = entry.map_err(io)?;
            let s: SessionRecord = decode(SESSIONS, &v)?;
            if s.expires_at > now && s.last_seen >= idle_since {
                n += 1;
            }
        }
        Ok(n)
    }

    fn delete_session(&self, id: &Digest) -> Result<Option<SessionRecord>, StoreError> {
        let _w = self.writing()?;
        match self.browser().sessions.remove(id).map_err(io)? {
            Some(v) => {
                let s: SessionRecord = decode(SESSIONS, &v)?;
                self.browser().user_sessions.remove(user_session_key(&s.user_id, id)).map_err(io)?;
                Ok(Some(s))
            }
            None => Ok(None),
        }
    }

    fn user_sessions(&self, user_id: &str, now: i64) -> Result<Vec<(Digest, SessionRecord)>, StoreError> {
        let t = self.browser();
        let mut prefix = user_id.as_bytes().to_vec();
        prefix.push(0);
        let mut out = Vec::new();
        for entry in t.user_sessions.scan_prefix(&prefix) {
            let (k, _) = entry.map_err(io)?;
            let Ok(id) = Digest::try_from(&k[prefix.len()..]) else { continue };
            match get::<SessionRecord>(&t.sessions, SESSIONS, &id)? {
                Some(s) if s.user_id == user_id && s.expires_at > now => out.push((id, s)),
                Some(s) if s.user_id == user_id => {}
                // Purged or ended: the index entry goes too.
                _ => {
                    let _w = self.writing()?;
                    t.user_sessions.remove(&k).map_err(io)?;
                }
            }
        }
        out.sort_by_key(|(_, s)| s.created_at);
        Ok(out)
    }

    fn put_ticket(&self, id: &Digest, ticket: &TicketRecord) -> Result<(), StoreError> {
        let _w = self.writing()?;
        self.browser().tickets.insert(id, encode(ticket)?).map_err(io)?;
        Ok(())
    }

    fn get_ticket(&self, id: &Digest) -> Result<Option<TicketRecord>, StoreError> {
        get(&self.browser().tickets, TICKETS, id)
    }

    fn take_ticket(&self, id: &Digest) -> Result<Option<TicketRecord>, StoreError> {
        let _w = self.writing()?;
        match self.browser().tickets.remove(id).map_err(io)? {
            Some(v) => decode(TICKETS, &v).map(Some),
            None => Ok(None),
        }
    }

    fn put_code(&self, code: &Digest, record: &CodeRecord) -> Result<(), StoreError> {
        let _w = self.writing()?;
        self.browser().codes.insert(code, encode(record)?).map_err(io)?;
        Ok(())
    }

    fn get_code(&self, code: &Digest) -> Result<Option<CodeRecord>, StoreError> {
        get(&self.browser().codes, CODES, code)
    }

    fn redeem_code(&self, code: &Digest, redemption: &Redemption, now: i64) -> Result<CodeRedemption, StoreError> {
        let _w = self.writing()?;
        let codes = &self.browser().codes;
        // Compare-and-swap on the one key: of two racing redemptions exactly one swaps.
        loop {
            let Some(current) = codes.get(code).map_err(io)? else { return Ok(CodeRedemption::Invalid) };
            let mut rec: CodeRecord = decode(CODES, &current)?;
            let outcome = redeem(&mut rec, redemption, now);
            if !matches!(outcome, CodeRedemption::Redeemed(_)) {
                return Ok(outcome);
            }
            if codes.compare_and_swap(code, Some(current), Some(encode(&rec)?)).map_err(io)?.is_ok() {
                return Ok(outcome);
            }
        }
    }

    fn create_refresh(&self, token: &Digest, record: &RefreshRecord, family: &FamilyRecord) -> Result<(), StoreError> {
        let _w = self.writing()?;
        let t = self.browser();
        // The family first: a token whose family is missing would be refused as invalid.
        t.refresh.insert(family_key(&record.family), encode(family)?).map_err(io)?;
        t.refresh.insert(token_key(token), encode(record)?).map_err(io)?;
        Ok(())
    }

    fn get_refresh(&self, token: &Digest) -> Result<Option<RefreshRecord>, StoreError> {
        get(&self.browser().refresh, REFRESH, &token_key(token))
    }

    fn rotate_refresh(
        &self,
        old: &Digest,
        new: &Digest,
        record: &RefreshRecord,
        jti: &str,
        access_exp: i64,
        now: i64,
    ) -> Result<Rotation, StoreError> {
        let _w = self.writing()?;
        let t = self.browser();
        let Some(first) = get::<RefreshRecord>(&t.refresh, REFRESH, &token_key(old))? else {
            return Ok(Rotation::Invalid);
        };
        let _guard = t.family_lock(&first.family)?;
        // Read again under the lock: a racing rotation of the same token may have won.
        let Some(mut spent) = get::<RefreshRecord>(&t.refresh, REFRESH, &token_key(old))? else {
            return Ok(Rotation::Invalid);
        };
        let fkey = family_key(&spent.family);
        let Some(mut family) = get::<FamilyRecord>(&t.refresh, FAMILIES, &fkey)? else {
            return Ok(Rotation::Invalid);
        };
        let outcome = rotate(&mut spent, &mut family, jti, access_exp, now);
        match outcome {
            Rotation::Invalid => {}
            Rotation::Reused(_) => t.refresh.insert(fkey, encode(&family)?).map(|_| ()).map_err(io)?,
            Rotation::Rotated(_) => {
                // In this order (see the module text).
                t.refresh.insert(token_key(new), encode(record)?).map_err(io)?;
                t.refresh.insert(fkey, encode(&family)?).map_err(io)?;
                t.refresh.insert(token_key(old), encode(&spent)?).map_err(io)?;
            }
        }
        Ok(outcome)
    }

    fn revoke_family(&self, family: &str) -> Result<Option<FamilyRecord>, StoreError> {
        let _w = self.writing()?;
        let t = self.browser();
        let _guard = t.family_lock(family)?;
        let fkey = family_key(family);
        let Some(mut f) = get::<FamilyRecord>(&t.refresh, FAMILIES, &fkey)? else { return Ok(None) };
        f.revoked = true;
        t.refresh.insert(fkey, encode(&f)?).map_err(io)?;
        Ok(Some(f))
    }

    fn user_families(&self, user_id: &str) -> Result<Vec<String>, StoreError> {
        // A scan: signing someone out everywhere is rare, and the families are few per user
        // but have no per-user index here.
        let prefix = family_key("");
        let mut out = Vec::new();
        for entry in self.browser().refresh.scan_prefix(&prefix) {
            let (k, v) = entry.map_err(io)?;
            let f: FamilyRecord = decode(FAMILIES, &v)?;
            if f.user_id == user_id && !f.revoked {
                out.push(String::from_utf8_lossy(&k[prefix.len()..]).into_owned());
            }
        }
        Ok(out)
    }

    fn get_consent(&self, user_id: &str, client_id: &str) -> Result<Option<Vec<String>>, StoreError> {
        get(&self.browser().consents, CONSENTS, &consent_key(user_id, client_id))
    }

    fn put_consent(&self, user_id: &str, client_id: &str, scopes: &[String]) -> Result<(), StoreError> {
        let _w = self.writing()?;
        self.browser().consents.insert(consent_key(user_id, client_id), encode(&scopes)?).map_err(io)?;
        Ok(())
    }

    fn purge_browser(&self, now: i64) -> Result<usize, StoreError> {
        let _w = self.writing()?;
        let t = self.browser();
        Ok(purge::<FlowRecord>(&t.flows, b"", FLOWS, now, |f| f.expires_at)?
            + purge::<SessionRecord>(&t.sessions, b"", SESSIONS, now, |s| s.expires_at)?
            + purge::<CodeRecord>(&t.codes, b"", CODES, now, code_keep_until)?
            + purge::<RefreshRecord>(&t.refresh, b"r", REFRESH, now, |r| r.expires_at)?
            + purge::<FamilyRecord>(&t.refresh, b"f", FAMILIES, now, |f| f.expires_at.max(f.last_access_exp))?
            + purge::<TicketRecord>(&t.tickets, b"", TICKETS, now, |t| t.expires_at)?)
    }
}
