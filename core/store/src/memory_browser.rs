//! [`SyncBrowser`] in memory: one lock over all maps, so every method is atomic.

use std::collections::{BTreeMap, HashMap};

use super::StoreError;
use super::browser::{
    CodeRecord, CodeRedemption, Digest, FamilyRecord, FlowRecord, Redemption, RefreshRecord, Rotation, SessionRecord,
    SyncBrowser, code_keep_until, consent_key, redeem, rotate,
};
use super::memory::{MemoryStore, poisoned};
use super::tickets::TicketRecord;

/// The maps behind the lock.
#[derive(Default)]
pub(super) struct BrowserMaps {
    flows: HashMap<Digest, FlowRecord>,
    sessions: HashMap<Digest, SessionRecord>,
    codes: HashMap<Digest, CodeRecord>,
    refresh: HashMap<Digest, RefreshRecord>,
    families: HashMap<String, FamilyRecord>,
    consents: BTreeMap<Vec<u8>, Vec<String>>,
    tickets: HashMap<Digest, TicketRecord>,
}

impl MemoryStore {
    fn with<T>(&self, f: impl FnOnce(&mut BrowserMaps) -> T) -> Result<T, StoreError> {
        Ok(f(&mut *self.browser.lock().map_err(|_| poisoned())?))
    }

    /// Removes every consent of `user_id`.
    pub(super) fn forget_consents(&self, user_id: &str) -> Result<(), StoreError> {
        let prefix = consent_key(user_id, "");
        self.with(|m| m.consents.retain(|k, _| !k.starts_with(&prefix)))
    }
}

impl SyncBrowser for MemoryStore {
    fn put_flow(&self, id: &Digest, flow: &FlowRecord) -> Result<(), StoreError> {
        self.with(|m| {
            m.flows.insert(*id, flow.clone());
        })
    }

    fn update_flow(&self, id: &Digest, flow: &FlowRecord) -> Result<bool, StoreError> {
        self.with(|m| m.flows.get_mut(id).map(|f| *f = flow.clone()).is_some())
    }

    fn get_flow(&self, id: &Digest) -> Result<Option<FlowRecord>, StoreError> {
        self.with(|m| m.flows.get(id).cloned())
    }

    fn take_flow(&self, id: &Digest) -> Result<Option<FlowRecord>, StoreError> {
        self.with(|m| m.flows.remove(id))
    }

    fn put_session(&self, id: &Digest, session: &SessionRecord) -> Result<(), StoreError> {
        self.with(|m| {
            m.sessions.insert(*id, session.clone());
        })
    }

    fn update_session(&self, id: &Digest, session: &SessionRecord) -> Result<bool, StoreError> {
        self.with(|m| m.sessions.get_mut(id).map(|s| *s = session.clone()).is_some())
    }

    fn get_session(&self, id: &Digest) -> Result<Option<SessionRecord>, StoreError> {
        self.with(|m| m.sessions.get(id).cloned())
    }

    fn count_open_sessions(&self, now: i64, idle_since: i64) -> Result<usize, StoreError> {
        self.with(|m| m.sessions.values().filter(|s| s.expires_at > now && s.last_seen >= idle_since).count())
    }

    fn delete_session(&self, id: &Digest) -> Result<Option<SessionRecord>, StoreError> {
        self.with(|m| m.sessions.remove(id))
    }

    fn user_sessions(&self, user_id: &str, now: i64) -> Result<Vec<(Digest, SessionRecord)>, StoreError> {
        self.with(|m| {
            let mut out: Vec<_> = m
                .sessions
                .iter()
                .filter(|(_, s)| s.user_id == user_id && s.expires_at > now)
                .map(|(k, s)| (*k, s.clone()))
                .collect();
            out.sort_by_key(|(_, s)| s.created_at);
            out
        })
    }

    fn put_ticket(&self, id: &Digest, ticket: &TicketRecord) -> Result<(), StoreError> {
        self.with(|m| {
            m.tickets.insert(*id, ticket.clone());
        })
    }

    fn get_ticket(&self, id: &Digest) -> Result<Option<TicketRecord>, StoreError> {
        self.with(|m| m.tickets.get(id).cloned())
    }

    fn take_ticket(&self, id: &Digest) -> Result<Option<TicketRecord>, StoreError> {
        self.with(|m| m.tickets.remove(id))
    }

    fn put_code(&self, code: &Digest, record: &CodeRecord) -> Result<(), StoreError> {
        self.with(|m| {
            m.codes.insert(*code, record.clone());
        })
    }

    fn get_code(&self, code: &Digest) -> Result<Option<CodeRecord>, StoreError> {
        self.with(|m| m.codes.get(code).cloned())
    }

    fn redeem_code(&self, code: &Digest, redemption: &Redemption, now: i64) -> Result<CodeRedemption, StoreError> {
        self.with(|m| m.codes.get_mut(code).map_or(CodeRedemption::Invalid, |rec| redeem(rec, redemption, now)))
    }

    fn create_refresh(&self, token: &Digest, record: &RefreshRecord, family: &FamilyRecord) -> Result<(), StoreError> {
        self.with(|m| {
            m.families.insert(record.family.clone(), family.clone());
            m.refresh.insert(*token, record.clone());
        })
    }

    fn get_refresh(&self, token: &Digest) -> Result<Option<RefreshRecord>, StoreError> {
        self.with(|m| m.refresh.get(token).cloned())
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
        self.with(|m| {
            let Some(spent) = m.refresh.get_mut(old) else { return Rotation::Invalid };
            let Some(family) = m.families.get_mut(&spent.family) else { return Rotation::Invalid };
            let outcome = rotate(spent, family, jti, access_exp, now);
            if matches!(outcome, Rotation::Rotated(_)) {
                m.refresh.insert(*new, record.clone());
            }
            outcome
        })
    }

    fn revoke_family(&self, family: &str) -> Result<Option<FamilyRecord>, StoreError> {
        self.with(|m| {
            m.families.get_mut(family).map(|f| {
                f.revoked = true;
                f.clone()
            })
        })
    }

    fn user_families(&self, user_id: &str) -> Result<Vec<String>, StoreError> {
        self.with(|m| {
            m.families.iter().filter(|(_, f)| f.user_id == user_id && !f.revoked).map(|(id, _)| id.clone()).collect()
        })
    }

    fn get_consent(&self, user_id: &str, client_id: &str) -> Result<Option<Vec<String>>, StoreError> {
        self.with(|m| m.consents.get(&consent_key(user_id, client_id)).cloned())
    }

    fn put_consent(&self, user_id: &str, client_id: &str, scopes: &[String]) -> Result<(), StoreError> {
        self.with(|m| {
            m.consents.insert(consent_key(user_id, client_id), scopes.to_vec());
        })
    }

    fn purge_browser(&self, now: i64) -> Result<usize, StoreError> {
        self.with(|m| {
            let size = |m: &BrowserMaps| {
                m.flows.len() + m.sessions.len() + m.codes.len() + m.refresh.len() + m.families.len() + m.tickets.len()
            };
            let before = size(m);
            m.flows.retain(|_, f| f.expires_at >= now);
            m.sessions.retain(|_, s| s.expires_at >= now);
            m.codes.retain(|_, c| code_keep_until(c) >= now);
            m.refresh.retain(|_, r| r.expires_at >= now);
            m.families.retain(|_, f| f.expires_at.max(f.last_access_exp) >= now);
            m.tickets.retain(|_, t| t.expires_at >= now);
            before - size(m)
        })
    }
}
