//! [`BrowserStore`] on sled: one tree per aggregate; the code and refresh token state
//! changes are sled transactions, so two racing redemptions cannot both succeed.

use sled::Transactional as _;
use sled::transaction::{ConflictableTransactionError, TransactionError, TransactionalTree};

use super::browser::{
    BrowserStore, CodeRecord, CodeRedemption, Digest, FamilyRecord, FlowRecord, Redemption, RefreshRecord, Rotation,
    SessionRecord, code_keep_until, consent_key,
};
use super::sled::SledStore;
use super::{StoreError, decode, encode};

const FLOWS: &str = "flows";
const SESSIONS: &str = "sessions";
const CODES: &str = "codes";
const REFRESH: &str = "refresh";
const FAMILIES: &str = "refresh_families";
const CONSENTS: &str = "consents";

/// The trees of the browser aggregates.
pub(super) struct BrowserTrees {
    flows: sled::Tree,
    sessions: sled::Tree,
    codes: sled::Tree,
    refresh: sled::Tree,
    families: sled::Tree,
    consents: sled::Tree,
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
            codes: tree(CODES)?,
            refresh: tree(REFRESH)?,
            families: tree(FAMILIES)?,
            consents: tree(CONSENTS)?,
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

type TxResult<T> = Result<T, ConflictableTransactionError<StoreError>>;

fn tx_get<T: serde::de::DeserializeOwned>(
    tree: &TransactionalTree,
    name: &'static str,
    key: &[u8],
) -> TxResult<Option<T>> {
    match tree.get(key)? {
        Some(v) => decode(name, &v).map(Some).map_err(ConflictableTransactionError::Abort),
        None => Ok(None),
    }
}

fn tx_put<T: serde::Serialize>(tree: &TransactionalTree, key: &[u8], value: &T) -> TxResult<()> {
    tree.insert(key, encode(value).map_err(ConflictableTransactionError::Abort)?)?;
    Ok(())
}

fn tx_result<T>(r: Result<T, TransactionError<StoreError>>) -> Result<T, StoreError> {
    r.map_err(|e| match e {
        TransactionError::Abort(e) => e,
        TransactionError::Storage(e) => io(e),
    })
}

/// Removes every entry of `tree` whose `expiry` is before `now`.
fn purge<T: serde::de::DeserializeOwned>(
    tree: &sled::Tree,
    name: &'static str,
    now: i64,
    expiry: impl Fn(&T) -> i64,
) -> Result<usize, StoreError> {
    let mut n = 0;
    for entry in tree.iter() {
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

impl BrowserStore for SledStore {
    fn put_flow(&self, id: &Digest, flow: &FlowRecord) -> Result<(), StoreError> {
        self.browser().flows.insert(id, encode(flow)?).map_err(io)?;
        Ok(())
    }

    fn get_flow(&self, id: &Digest) -> Result<Option<FlowRecord>, StoreError> {
        get(&self.browser().flows, FLOWS, id)
    }

    fn take_flow(&self, id: &Digest) -> Result<Option<FlowRecord>, StoreError> {
        match self.browser().flows.remove(id).map_err(io)? {
            Some(v) => decode(FLOWS, &v).map(Some),
            None => Ok(None),
        }
    }

    fn put_session(&self, id: &Digest, session: &SessionRecord) -> Result<(), StoreError> {
        self.browser().sessions.insert(id, encode(session)?).map_err(io)?;
        Ok(())
    }

    fn get_session(&self, id: &Digest) -> Result<Option<SessionRecord>, StoreError> {
        get(&self.browser().sessions, SESSIONS, id)
    }

    fn delete_session(&self, id: &Digest) -> Result<Option<SessionRecord>, StoreError> {
        match self.browser().sessions.remove(id).map_err(io)? {
            Some(v) => decode(SESSIONS, &v).map(Some),
            None => Ok(None),
        }
    }

    fn put_code(&self, code: &Digest, record: &CodeRecord) -> Result<(), StoreError> {
        self.browser().codes.insert(code, encode(record)?).map_err(io)?;
        Ok(())
    }

    fn get_code(&self, code: &Digest) -> Result<Option<CodeRecord>, StoreError> {
        get(&self.browser().codes, CODES, code)
    }

    fn redeem_code(&self, code: &Digest, redemption: &Redemption, now: i64) -> Result<CodeRedemption, StoreError> {
        tx_result(self.browser().codes.transaction(|codes| {
            let Some(mut rec) = tx_get::<CodeRecord>(codes, CODES, code)? else {
                return Ok(CodeRedemption::Invalid);
            };
            if rec.redeemed.is_some() {
                return Ok(CodeRedemption::Replayed(rec));
            }
            if rec.expires_at <= now {
                return Ok(CodeRedemption::Invalid);
            }
            rec.redeemed = Some(redemption.clone());
            tx_put(codes, code, &rec)?;
            Ok(CodeRedemption::Redeemed(rec))
        }))
    }

    fn create_refresh(&self, token: &Digest, record: &RefreshRecord, family: &FamilyRecord) -> Result<(), StoreError> {
        let t = self.browser();
        tx_result((&t.refresh, &t.families).transaction(|(refresh, families)| {
            tx_put(families, record.family.as_bytes(), family)?;
            tx_put(refresh, token, record)
        }))
    }

    fn get_refresh(&self, token: &Digest) -> Result<Option<RefreshRecord>, StoreError> {
        get(&self.browser().refresh, REFRESH, token)
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
        let t = self.browser();
        tx_result((&t.refresh, &t.families).transaction(|(refresh, families)| {
            let Some(mut spent) = tx_get::<RefreshRecord>(refresh, REFRESH, old)? else {
                return Ok(Rotation::Invalid);
            };
            let Some(mut family) = tx_get::<FamilyRecord>(families, FAMILIES, spent.family.as_bytes())? else {
                return Ok(Rotation::Invalid);
            };
            if family.revoked {
                return Ok(Rotation::Invalid);
            }
            if spent.used {
                family.revoked = true;
                tx_put(families, spent.family.as_bytes(), &family)?;
                return Ok(Rotation::Reused(family));
            }
            if spent.expires_at <= now || family.expires_at <= now {
                return Ok(Rotation::Invalid);
            }
            let before = spent.clone();
            spent.used = true;
            tx_put(refresh, old, &spent)?;
            tx_put(refresh, new, record)?;
            family.last_jti = jti.to_owned();
            family.last_access_exp = access_exp;
            tx_put(families, spent.family.as_bytes(), &family)?;
            Ok(Rotation::Rotated(before))
        }))
    }

    fn revoke_family(&self, family: &str) -> Result<Option<FamilyRecord>, StoreError> {
        tx_result(self.browser().families.transaction(|families| {
            let Some(mut f) = tx_get::<FamilyRecord>(families, FAMILIES, family.as_bytes())? else {
                return Ok(None);
            };
            f.revoked = true;
            tx_put(families, family.as_bytes(), &f)?;
            Ok(Some(f))
        }))
    }

    fn get_consent(&self, user_id: &str, client_id: &str) -> Result<Option<Vec<String>>, StoreError> {
        get(&self.browser().consents, CONSENTS, &consent_key(user_id, client_id))
    }

    fn put_consent(&self, user_id: &str, client_id: &str, scopes: &[String]) -> Result<(), StoreError> {
        self.browser().consents.insert(consent_key(user_id, client_id), encode(&scopes)?).map_err(io)?;
        Ok(())
    }

    fn purge_browser(&self, now: i64) -> Result<usize, StoreError> {
        let t = self.browser();
        Ok(purge::<FlowRecord>(&t.flows, FLOWS, now, |f| f.expires_at)?
            + purge::<SessionRecord>(&t.sessions, SESSIONS, now, |s| s.expires_at)?
            + purge::<CodeRecord>(&t.codes, CODES, now, code_keep_until)?
            + purge::<RefreshRecord>(&t.refresh, REFRESH, now, |r| r.expires_at)?
            + purge::<FamilyRecord>(&t.families, FAMILIES, now, |f| f.expires_at.max(f.last_access_exp))?)
    }
}
