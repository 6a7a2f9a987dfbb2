//! The plugin's own key-value store on the host: a namespace no other plugin sees, a TTL on
//! every key (0: the host's maximum, 30 days), keys up to 256 bytes, values up to 64 KiB, and
//! a quota of keys per plugin. Use it for counters (rate limits) and short-lived state; a
//! value may be gone before its TTL if the operator wipes the store.

use crate::bindings::gatehouse::plugin::kv_store as raw;

/// The value, unless absent or expired.
pub fn get(key: &str) -> Option<Vec<u8>> {
    raw::get(key)
}

/// Stores `value` for `ttl_secs` seconds.
pub fn set(key: &str, value: &[u8], ttl_secs: u32) -> Result<(), String> {
    raw::set(key, value, ttl_secs)
}

/// Removes a key.
pub fn delete(key: &str) {
    raw::delete(key);
}

/// Adds `delta` to a counter (absent or expired counts as 0) and returns the new value; the
/// TTL restarts from now.
pub fn incr(key: &str, delta: i64, ttl_secs: u32) -> Result<i64, String> {
    raw::incr(key, delta, ttl_secs)
}
