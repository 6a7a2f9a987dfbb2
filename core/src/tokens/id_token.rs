//! ID tokens (OpenID Connect Core §2, §3.1.3.6): RS256 by default, ES256 when the client
//! registered `id_token_signed_response_alg = "ES256"`; `at_hash` binds the access token
//! issued with it.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use time::OffsetDateTime;

use crate::secret::sha256;
use crate::store::UserRecord;
use crate::tokens::jwt;
use crate::tokens::keys::{KeyError, KeyManager};

/// The JWS `typ` of ID tokens.
pub const ID_TOKEN_TYP: &str = "JWT";

/// ID token claims.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IdClaims {
    /// Issuer.
    pub iss: String,
    /// The user id.
    pub sub: String,
    /// The client.
    pub aud: String,
    /// Expiry.
    pub exp: i64,
    /// Issued at.
    pub iat: i64,
    /// When the user authenticated.
    pub auth_time: i64,
    /// The authorization request's nonce.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    /// Left half of SHA-256 of the access token, base64url.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at_hash: Option<String>,
    /// Authorized party: the client.
    pub azp: String,
    /// Session id.
    #[serde(default)]
    pub sid: String,
    /// Authentication methods.
    #[serde(default)]
    pub amr: Vec<String>,
    /// Authentication context class: `urn:gatehouse:acr:mfa` for two factors, else
    /// `urn:gatehouse:acr:pwd` (one factor: a password or a provider).
    #[serde(default)]
    pub acr: String,
    /// The identity provider (connector id) of a federated sign-in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idp: Option<String>,
    /// Claims by scope.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// What an ID token is made of.
#[derive(Debug)]
pub struct IdTokenInput<'a> {
    /// The user.
    pub user: &'a UserRecord,
    /// The client (audience and authorized party).
    pub client_id: &'a str,
    /// The client's `id_token_signed_response_alg` (`ES256`; otherwise RS256).
    pub alg: Option<&'a str>,
    /// The profile claims the granted scopes release (OpenID Connect Core §5.4).
    pub released: Map<String, Value>,
    /// Nonce, if the request had one.
    pub nonce: Option<&'a str>,
    /// Authentication time.
    pub auth_time: i64,
    /// Authentication methods.
    pub amr: &'a [String],
    /// The connector of a federated sign-in.
    pub idp: Option<&'a str>,
    /// Session id.
    pub sid: &'a str,
    /// The access token issued alongside.
    pub access_token: &'a str,
    /// Lifetime.
    pub ttl: std::time::Duration,
    /// Claims added by policy plugins; claims released by scope win over them.
    pub claims: &'a Map<String, Value>,
}

/// `at_hash` for an access token signed with a SHA-256 algorithm (RS256, ES256).
pub fn at_hash(access_token: &str) -> String {
    let digest = sha256(access_token.as_bytes());
    URL_SAFE_NO_PAD.encode(&digest[..16])
}

/// Signs an ID token.
pub fn sign(keys: &KeyManager, issuer: &str, input: IdTokenInput<'_>, now: OffsetDateTime) -> Result<String, KeyError> {
    let iat = now.unix_timestamp();
    let claims = IdClaims {
        iss: issuer.to_owned(),
        sub: input.user.id.clone(),
        aud: input.client_id.to_owned(),
        exp: iat.saturating_add(i64::try_from(input.ttl.as_secs()).unwrap_or(i64::MAX)),
        iat,
        auth_time: input.auth_time,
        nonce: input.nonce.map(str::to_owned),
        at_hash: Some(at_hash(input.access_token)),
        azp: input.client_id.to_owned(),
        sid: input.sid.to_owned(),
        amr: input.amr.to_vec(),
        acr: crate::mfa::acr(input.amr).to_owned(),
        idp: input.idp.map(str::to_owned),
        extra: {
            let mut extra = input.released;
            for (k, v) in input.claims {
                extra.entry(k.clone()).or_insert_with(|| v.clone());
            }
            extra
        },
    };
    let set = keys.current();
    let key = match input.alg {
        Some("ES256") => &set.es256,
        _ => &set.rs256,
    };
    jwt::sign(key, ID_TOKEN_TYP, &claims)
}

/// Reads an ID token we issued (`id_token_hint`): signature and issuer are checked, expiry is
/// not (a hint is usually expired, OpenID Connect RP-Initiated Logout §2).
pub fn read_hint(keys: &KeyManager, issuer: &str, token: &str) -> Option<IdClaims> {
    let set = keys.current();
    let v = jwt::verify(&set, token).ok()?;
    if v.header.typ.as_deref().is_some_and(|t| !t.eq_ignore_ascii_case(ID_TOKEN_TYP)) {
        return None;
    }
    let claims: IdClaims = serde_json::from_slice(&v.payload).ok()?;
    (claims.iss == issuer).then_some(claims)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_hash_is_the_left_half_of_sha256() {
        // Computed independently: base64url(sha256(token)[:16]) with Python's hashlib.
        assert_eq!(at_hash("jHkWEdUXMU1BwAsC4vtUsZwnNN7LkLrK"), "NZyvHGOmzthk-sSs-9uPSA");
    }
}
