//! The plugins' key-value store (`kv-store` in `wit/`): one namespace per plugin, a TTL on
//! every key, a quota of keys per plugin. The rules live here once; a backend only provides
//! raw reads, writes and one atomic read-modify-write ([`KvRaw`]). Values are stored as the
//! expiry (8 bytes, big-endian unix seconds) followed by the bytes. Plugin data is
//! short-lived by design: it is not part of backups.

use super::StoreError;

/// Longest key, bytes.
pub const MAX_KEY: usize = 256;
/// Largest value, bytes.
pub const MAX_VALUE: usize = 64 * 1024;
/// Longest TTL (and the TTL of `ttl-secs = 0`).
pub const MAX_TTL_SECS: u32 = 30 * 24 * 3600;
/// Live keys one plugin may hold (approximate under concurrent inserts). Writing a new key
/// counts the namespace (expired keys are dropped on the way), so this also bounds the cost
/// of a write; a maintained count would lift it.
pub const MAX_KEYS: usize = 1_000;

/// Entries as stored: full key, encoded value.
pub(super) type Entries = Vec<(Vec<u8>, Vec<u8>)>;

/// The read-modify-write of [`KvRaw::kv_update`]: the stored value (if any) to the new one.
pub(super) type Update<'a> = &'a mut dyn FnMut(Option<&[u8]>) -> Option<Vec<u8>>;

/// Raw access a backend provides.
pub(super) trait KvRaw {
    fn kv_get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError>;
    fn kv_put(&self, key: &[u8], value: Vec<u8>) -> Result<(), StoreError>;
    fn kv_remove(&self, key: &[u8]) -> Result<(), StoreError>;
    /// Every entry under `prefix`.
    fn kv_scan(&self, prefix: &[u8]) -> Result<Entries, StoreError>;
    /// Replaces the value under `key` with what `f` returns, atomically; returns the new value.
    fn kv_update(&self, key: &[u8], f: Update<'_>) -> Result<Option<Vec<u8>>, StoreError>;
}

/// Why a write was refused.
#[derive(Debug, Clone, thiserror::Error)]
pub enum KvError {
    /// Key or value too large, or a counter that is not one.
    #[error("{0}")]
    Invalid(&'static str),
    /// The plugin holds [`MAX_KEYS`] live keys.
    #[error("quota of {MAX_KEYS} keys reached")]
    Quota,
    /// The backend failed.
    #[error("{0}")]
    Store(#[from] StoreError),
}

/// The plugins' key-value operations; `ns` is the plugin's name.
pub trait SyncKv {
    /// The value, unless absent or expired.
    fn kv_get_value(&self, ns: &str, key: &str, now: i64) -> Result<Option<Vec<u8>>, StoreError>;
    /// Stores `value` for `ttl_secs` (0 or more than the cap: the cap).
    fn kv_set_value(&self, ns: &str, key: &str, value: &[u8], ttl_secs: u32, now: i64) -> Result<(), KvError>;
    /// Removes a key.
    fn kv_delete_value(&self, ns: &str, key: &str) -> Result<(), StoreError>;
    /// Adds `delta` to a counter (absent or expired: 0); the TTL applies from now.
    fn kv_incr_value(&self, ns: &str, key: &str, delta: i64, ttl_secs: u32, now: i64) -> Result<i64, KvError>;
}

pub(crate) fn full_key(ns: &str, key: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(ns.len() + 1 + key.len());
    k.extend_from_slice(ns.as_bytes());
    k.push(0);
    k.extend_from_slice(key.as_bytes());
    k
}

fn expiry(ttl_secs: u32, now: i64) -> i64 {
    let ttl = if ttl_secs == 0 { MAX_TTL_SECS } else { ttl_secs.min(MAX_TTL_SECS) };
    now.saturating_add(i64::from(ttl))
}

/// The bytes of a live entry.
fn live(raw: &[u8], now: i64) -> Option<&[u8]> {
    let (exp, bytes) = raw.split_at_checked(8)?;
    let exp = i64::from_be_bytes(exp.try_into().ok()?);
    (exp > now).then_some(bytes)
}

pub(crate) fn encode(exp: i64, bytes: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(8 + bytes.len());
    v.extend_from_slice(&exp.to_be_bytes());
    v.extend_from_slice(bytes);
    v
}

/// Refuses a new key once the namespace holds `MAX_KEYS` live ones (dropping expired ones
/// on the way).
fn check_quota<T: KvRaw + ?Sized>(s: &T, ns: &str, key: &[u8], now: i64) -> Result<(), KvError> {
    if s.kv_get(key)?.is_some_and(|raw| live(&raw, now).is_some()) {
        return Ok(());
    }
    let mut prefix = ns.as_bytes().to_vec();
    prefix.push(0);
    let mut count = 0;
    for (k, v) in s.kv_scan(&prefix)? {
        if live(&v, now).is_some() {
            count += 1;
        } else {
            s.kv_remove(&k)?;
        }
    }
    if count >= MAX_KEYS { Err(KvError::Quota) } else { Ok(()) }
}

fn check_key(key: &str) -> Result<(), KvError> {
    if key.is_empty() || key.len() > MAX_KEY {
        return Err(KvError::Invalid("keys are 1 to 256 bytes"));
    }
    Ok(())
}

impl<T: KvRaw + ?Sized> SyncKv for T {
    fn kv_get_value(&self, ns: &str, key: &str, now: i64) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.kv_get(&full_key(ns, key))?.and_then(|raw| live(&raw, now).map(<[u8]>::to_vec)))
    }

    fn kv_set_value(&self, ns: &str, key: &str, value: &[u8], ttl_secs: u32, now: i64) -> Result<(), KvError> {
        check_key(key)?;
        if value.len() > MAX_VALUE {
            return Err(KvError::Invalid("values are at most 64 KiB"));
        }
        let k = full_key(ns, key);
        check_quota(self, ns, &k, now)?;
        Ok(self.kv_put(&k, encode(expiry(ttl_secs, now), value))?)
    }

    fn kv_delete_value(&self, ns: &str, key: &str) -> Result<(), StoreError> {
        self.kv_remove(&full_key(ns, key))
    }

    fn kv_incr_value(&self, ns: &str, key: &str, delta: i64, ttl_secs: u32, now: i64) -> Result<i64, KvError> {
        check_key(key)?;
        let k = full_key(ns, key);
        check_quota(self, ns, &k, now)?;
        let mut bad = false;
        let mut result = 0;
        self.kv_update(&k, &mut |old| {
            let current = match old.and_then(|raw| live(raw, now)) {
                None => 0,
                Some(b) => match <[u8; 8]>::try_from(b) {
                    Ok(b) => i64::from_be_bytes(b),
                    Err(_) => {
                        bad = true;
                        return old.map(<[u8]>::to_vec);
                    }
                },
            };
            result = current.saturating_add(delta);
            Some(encode(expiry(ttl_secs, now), &result.to_be_bytes()))
        })?;
        if bad { Err(KvError::Invalid("the key holds a value that is not a counter")) } else { Ok(result) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MemoryStore;

    #[test]
    fn namespaces_ttl_and_counters() {
        let s = MemoryStore::new();
        s.kv_set_value("a", "k", b"one", 10, 100).unwrap();
        assert_eq!(s.kv_get_value("a", "k", 105).unwrap().as_deref(), Some(&b"one"[..]));
        assert_eq!(s.kv_get_value("b", "k", 105).unwrap(), None, "another plugin's key");
        assert_eq!(s.kv_get_value("a", "k", 110).unwrap(), None, "expired");
        assert_eq!(s.kv_incr_value("a", "n", 2, 10, 100).unwrap(), 2);
        assert_eq!(s.kv_incr_value("a", "n", 3, 10, 105).unwrap(), 5);
        assert_eq!(s.kv_incr_value("a", "n", 1, 10, 200).unwrap(), 1, "an expired counter restarts");
        s.kv_set_value("a", "text", b"hello", 10, 100).unwrap();
        assert!(matches!(s.kv_incr_value("a", "text", 1, 10, 100), Err(KvError::Invalid(_))));
        s.kv_delete_value("a", "n").unwrap();
        assert_eq!(s.kv_get_value("a", "n", 100).unwrap(), None);
        assert!(matches!(s.kv_set_value("a", "", b"x", 1, 0), Err(KvError::Invalid(_))));
        assert!(matches!(s.kv_set_value("a", "big", &vec![0; MAX_VALUE + 1], 1, 0), Err(KvError::Invalid(_))));
    }

    #[test]
    fn the_quota_counts_live_keys_only() {
        let s = MemoryStore::new();
        for i in 0..MAX_KEYS {
            s.kv_set_value("a", &format!("k{i}"), b"v", 10, 0).unwrap();
        }
        assert!(matches!(s.kv_set_value("a", "one-more", b"v", 10, 0), Err(KvError::Quota)));
        s.kv_set_value("a", "k1", b"overwrite", 10, 0).unwrap();
        s.kv_set_value("b", "elsewhere", b"v", 10, 0).unwrap();
        // Once they expire the room is back (and the expired ones are dropped).
        s.kv_set_value("a", "later", b"v", 10, 20).unwrap();
        assert_eq!(s.kv_scan(b"a\0").unwrap().len(), 1);
    }
}
