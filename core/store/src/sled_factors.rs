//! The sled backend's second factors (`factors.rs`): `factors` maps a user id to its record.
//! A write is one transaction over `users` and `factors`, so the version check and the swap
//! cannot interleave with another write, and factors of a missing user are refused.

use sled::Transactional;
use sled::transaction::{ConflictableTransactionError, TransactionError};

use super::factors::{self, FactorsRecord, SyncFactors};
use super::sled::{SledStore, io};
use super::{StoreError, decode, encode};

/// Tree of factors by user id.
pub(super) const FACTORS: &str = "factors";

/// Why a transaction gave up.
enum Abort {
    NoUser,
    Stale,
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
        let r = (&self.users, &self.factors).transaction(|(users, stored)| {
            if users.get(key)?.is_none() {
                return Err(ConflictableTransactionError::Abort(Abort::NoUser));
            }
            let version = match stored.get(key)? {
                Some(v) => match decode::<FactorsRecord>(FACTORS, &v) {
                    Ok(r) => r.version,
                    Err(e) => return Err(ConflictableTransactionError::Abort(Abort::Corrupt(e))),
                },
                None => 0,
            };
            if version != expected {
                return Err(ConflictableTransactionError::Abort(Abort::Stale));
            }
            stored.insert(key, value.clone())?;
            Ok(())
        });
        match r {
            Ok(()) => Ok(true),
            Err(TransactionError::Abort(Abort::Stale)) => Ok(false),
            Err(TransactionError::Abort(Abort::NoUser)) => Err(factors::no_user(&record.user_id)),
            Err(TransactionError::Abort(Abort::Corrupt(e))) => Err(e),
            Err(TransactionError::Storage(e)) => Err(io(e)),
        }
    }
}
