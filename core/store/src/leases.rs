//! Leases for the embedded backends: a store that one process owns (sled locks its
//! directory) needs no shared lease, so they are kept in memory; the rule is the one the
//! shared database applies (free, expired, or already the holder's).

use std::collections::HashMap;
use std::sync::Mutex;

use super::StoreError;

/// Lease name → (holder, until in unix ms).
pub(crate) type Leases = Mutex<HashMap<String, (String, i64)>>;

/// Takes or renews `name` for `holder` until `until_ms`.
pub(crate) fn take(leases: &Leases, name: &str, holder: &str, until_ms: i64, now_ms: i64) -> Result<bool, StoreError> {
    let mut map = leases.lock().map_err(|_| StoreError::Io("lease table lock poisoned".into()))?;
    match map.get(name) {
        Some((h, until)) if h != holder && *until > now_ms => Ok(false),
        _ => {
            map.insert(name.to_owned(), (holder.to_owned(), until_ms));
            Ok(true)
        }
    }
}
