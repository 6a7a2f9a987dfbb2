//! The sled backend's second factors (`factors.rs`): `factors` maps a user id to its record,
//! `passkey_ids` a passkey's credential id to its user. A write is one transaction over
//! `users`, `factors` and `passkey_ids`, so the version check, the swap and the index cannot
//! interleave with another write; factors of a missing user, and a credential id another
//! user has, are refused.

use sled::Transactional;
use sled::transaction::{ConflictableTransactionError, TransactionError};

use super::factors::{self, FactorsRecord, SyncFactors};
use super::sled::{SledStore, io};
use super::{StoreError, decode, encode};

/// Tree of factors by user id.
pub(super) const FACTORS: &str = "factors";
/// Tree of passkey credential ids → user id.
pub(super) const PASSKEY_IDS: &str = "passkey_ids";

/// Why a transaction gave up.
enum Abort {
    NoUser,
    Stale,
    Taken,
    Corrupt(StoreError),
}

impl SyncFactors for SledStore {
    fn get_factors(&self, user_id: &str) -> Result<Option<FactorsRecord>, StoreError> {
        match self.factors.get(user_id.as_bytes()).map_err(io)? {
            Some(v) => decode(FACTORS, &v).map(Some),
            None => Ok(None),
        }
    }

    fn put_factors(&self, record: &FactorsRecord, expected: u64) -> Result<bool, StoreError> {
        let record = factors::next(record, expected)?;
        let _w = self.writing()?;
        let value = encode(&record)?;
        let key = record.user_id.as_bytes();
        let r = (&self.users, &self.factors, &self.passkey_ids).transaction(|(users, stored, ids)| {
            let abort = |a| Err(ConflictableTransactionError::Abort(a));
            if users.get(key)?.is_none() {
                return abort(Abort::NoUser);
            }
            let old = match stored.get(key)? {
                Some(v) => match decode::<FactorsRecord>(FACTORS, &v) {
                    Ok(r) => Some(r),
                    Err(e) => return abort(Abort::Corrupt(e)),
                },
                None => None,
            };
            if old.as_ref().map_or(0, |r| r.version) != expected {
                return abort(Abort::Stale);
            }
            for id in record.credential_ids() {
                match ids.get(id.as_bytes())? {
                    Some(owner) if owner.as_ref() != key => return abort(Abort::Taken),
                    _ => {}
                }
            }
            for id in old.iter().flat_map(|o| o.credential_ids()) {
                if !record.credential_ids().any(|mine| mine == id) {
                    ids.remove(id.as_bytes())?;
                }
            }
            for id in record.credential_ids() {
                ids.insert(id.as_bytes(), key)?;
            }
            stored.insert(key, value.clone())?;
            Ok(())
        });
        match r {
            Ok(()) => Ok(true),
            Err(TransactionError::Abort(Abort::Stale)) => Ok(false),
            Err(TransactionError::Abort(Abort::NoUser)) => Err(factors::no_user(&record.user_id)),
            Err(TransactionError::Abort(Abort::Taken)) => Err(factors::credential_taken()),
            Err(TransactionError::Abort(Abort::Corrupt(e))) => Err(e),
            Err(TransactionError::Storage(e)) => Err(io(e)),
        }
    }
}
