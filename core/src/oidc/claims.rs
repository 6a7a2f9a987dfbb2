//! User claims by scope (OpenID Connect Core §5.4), for ID tokens and userinfo. Gatehouse
//! holds a username and an optional email: `profile` gives `preferred_username` and
//! `updated_at`, `email` gives `email` and `email_verified` (false for an address the operator
//! typed; what the provider asserted for a user made at a federated sign-in).

use serde_json::{Map, Value, json};

use crate::store::UserRecord;

/// Claims names this server can return (discovery's `claims_supported`).
pub const CLAIMS_SUPPORTED: &[&str] = &[
    "sub",
    "iss",
    "aud",
    "exp",
    "iat",
    "auth_time",
    "nonce",
    "at_hash",
    "azp",
    "sid",
    "amr",
    "acr",
    "idp",
    "preferred_username",
    "updated_at",
    "email",
    "email_verified",
];

/// The claims about `user` that `scopes` release (without `sub`).
pub fn for_scopes(user: &UserRecord, scopes: &[String]) -> Map<String, Value> {
    let has = |s: &str| scopes.iter().any(|x| x == s);
    let mut out = Map::new();
    if has("profile") {
        out.insert("preferred_username".into(), json!(user.username));
        out.insert("updated_at".into(), json!(user.updated_at));
    }
    if has("email")
        && let Some(email) = &user.email
    {
        out.insert("email".into(), json!(email));
        out.insert("email_verified".into(), json!(user.email_verified));
    }
    out
}
