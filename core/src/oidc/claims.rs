//! User claims by scope (OpenID Connect Core §5.4), for ID tokens and userinfo, of what is
//! stored: `profile` gives `preferred_username` (the username), `updated_at` and the profile's
//! `name`, `given_name`, `family_name`, `picture`, `locale` and `zoneinfo` when set; `email`
//! gives `email` and `email_verified` (true once the person used a link sent to it, or when a
//! provider asserted it); `phone` gives `phone_number` and `phone_number_verified` (always
//! false: numbers are not verified here); `groups` gives `groups`, the names of the user's
//! groups (what policy plugins see too).

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
    "name",
    "given_name",
    "family_name",
    "picture",
    "locale",
    "zoneinfo",
    "phone_number",
    "phone_number_verified",
    "groups",
];

/// The claims about `user` that `scopes` release (without `sub`).
pub fn for_scopes(user: &UserRecord, scopes: &[String]) -> Map<String, Value> {
    let has = |s: &str| scopes.iter().any(|x| x == s);
    let mut out = Map::new();
    if has("profile") {
        out.insert("preferred_username".into(), json!(user.username));
        out.insert("updated_at".into(), json!(user.updated_at));
        // All but the phone number, which is `phone`'s.
        for (claim, value) in user.profile.fields() {
            if let Some(v) = value.filter(|_| claim != "phone_number") {
                out.insert(claim.into(), json!(v));
            }
        }
    }
    if has("phone")
        && let Some(number) = &user.profile.phone_number
    {
        out.insert("phone_number".into(), json!(number));
        out.insert("phone_number_verified".into(), json!(false));
    }
    if has("email")
        && let Some(email) = &user.email
    {
        out.insert("email".into(), json!(email));
        out.insert("email_verified".into(), json!(user.email_verified));
    }
    if has("groups") {
        out.insert("groups".into(), json!(user.groups));
    }
    out
}
