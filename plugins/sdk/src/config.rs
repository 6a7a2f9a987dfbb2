//! The plugin's `[plugins.config]` table from the operator's TOML. Strings come back as they
//! are; other TOML values as JSON text, which [`get_as`] decodes.

use serde::de::DeserializeOwned;

use crate::bindings::gatehouse::plugin::config as raw;

/// A key's value: strings as they are, other values as JSON text.
pub fn get(key: &str) -> Option<String> {
    raw::get(key)
}

/// A key's value, or an error naming the key (deny with it, or fail the call).
pub fn require(key: &str) -> Result<String, String> {
    raw::get(key).ok_or_else(|| format!("config key `{key}` is not set"))
}

/// A key's value decoded from JSON (numbers, booleans, arrays, tables); a string value is
/// decoded as a JSON string.
pub fn get_as<T: DeserializeOwned>(key: &str) -> Result<Option<T>, String> {
    let Some(text) = raw::get(key) else { return Ok(None) };
    match serde_json::from_str(&text) {
        Ok(v) => Ok(Some(v)),
        // A TOML string comes as it is, not JSON-quoted.
        Err(_) => serde_json::from_value(serde_json::Value::String(text))
            .map(Some)
            .map_err(|e| format!("config key `{key}`: {e}")),
    }
}

/// The whole table as a JSON object.
pub fn all() -> serde_json::Value {
    serde_json::from_str(&raw::get_all()).unwrap_or(serde_json::Value::Null)
}
