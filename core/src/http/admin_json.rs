//! What the admin API's JSON handlers share: the body as an object, the refusal of a field
//! no route knows (named, with the known ones listed), and a store failure as a 503.

use serde_json::{Map, Value};

use super::error::AdminError;
use crate::store::StoreError;

/// The body as a JSON object, or 400.
pub(super) fn object(body: &[u8]) -> Result<Map<String, Value>, AdminError> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => Ok(m),
        _ => Err(AdminError::Invalid { field: None, description: "the body must be a JSON object".into() }),
    }
}

/// 400 naming the first field of `body` that is not in `known` (`what` says how: "unknown
/// field", "unknown or unchangeable field").
pub(super) fn refuse_unknown(body: &Map<String, Value>, known: &[&str], what: &str) -> Result<(), AdminError> {
    match body.keys().find(|k| !known.contains(&k.as_str())) {
        None => Ok(()),
        Some(k) => Err(AdminError::Invalid {
            field: None,
            description: format!("{what} `{}` (known: {})", k.chars().take(64).collect::<String>(), known.join(", ")),
        }),
    }
}

/// A store failure while doing `what`: 503 with `Retry-After` (logged).
pub(super) fn failed(what: &'static str) -> impl Fn(StoreError) -> AdminError {
    move |e| AdminError::from(crate::oauth::error::unavailable(what, &e))
}
