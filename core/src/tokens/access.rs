//! RFC 9068 access tokens: JWTs with `typ: at+jwt`, signed ES256 with the active key.
//! Issuing writes nothing; verifying caches signature checks per token (resource servers
//! introspect the same token repeatedly) while expiry and revocation are checked every time.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::jwt;
use super::keys::{KeyError, KeyManager};
use crate::secret::{sha256, unique_id};
use crate::store::RevocationStore;

/// The JWS `typ` of access tokens (RFC 9068 §2.1).
pub const AT_JWT: &str = "at+jwt";

/// `aud`: one string or several (RFC 7519 §4.1.3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Audience {
    /// A single audience.
    One(String),
    /// Several audiences.
    Many(Vec<String>),
}

impl Audience {
    /// Builds the claim: a string for one value, an array otherwise.
    pub fn from_list(mut list: Vec<String>) -> Self {
        if list.len() == 1 { Self::One(list.remove(0)) } else { Self::Many(list) }
    }

    /// Whether `aud` names `who`.
    pub fn contains(&self, who: &str) -> bool {
        match self {
            Self::One(a) => a == who,
            Self::Many(v) => v.iter().any(|a| a == who),
        }
    }
}

/// Access token claims (RFC 9068 §2.2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaims {
    /// Issuer.
    pub iss: String,
    /// Subject: the client id for client_credentials, the user id otherwise.
    pub sub: String,
    /// Audience.
    pub aud: Audience,
    /// Expiry, unix seconds.
    pub exp: i64,
    /// Issued at, unix seconds.
    pub iat: i64,
    /// Unique id (revocation key).
    pub jti: String,
    /// The client the token was issued to.
    pub client_id: String,
    /// Space-separated scopes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// Claims added by policy plugins (never a reserved name: `plugins/convert.rs`).
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

/// What to put in a new token.
#[derive(Debug)]
pub struct IssueRequest<'a> {
    /// Subject.
    pub sub: &'a str,
    /// Client.
    pub client_id: &'a str,
    /// Audiences (non-empty).
    pub audiences: Vec<String>,
    /// Granted scopes.
    pub scopes: &'a [String],
    /// Lifetime.
    pub ttl: Duration,
    /// The token id, when the caller must know it before signing (to record it with a code
    /// or refresh token); a fresh one otherwise.
    pub jti: Option<String>,
    /// Claims added by policy plugins.
    pub claims: serde_json::Map<String, serde_json::Value>,
}

/// A freshly signed token.
#[derive(Debug)]
pub struct Issued {
    /// The compact JWT.
    pub token: String,
    /// Seconds until expiry.
    pub expires_in: u64,
    /// Its claims.
    pub claims: AccessClaims,
}

/// Why a token is not active (the `reason` of `/verify`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenProblem {
    /// Not a JWT, not an access token, or not ours.
    #[error("malformed")]
    Malformed,
    /// Signature or key does not check out.
    #[error("bad_signature")]
    BadSignature,
    /// Past `exp`.
    #[error("expired")]
    Expired,
    /// Revoked before expiry.
    #[error("revoked")]
    Revoked,
    /// Does not name the audience asked about.
    #[error("wrong_audience")]
    WrongAudience,
    /// The revocation list could not be read; the answer is unknown, not "inactive".
    #[error("unavailable")]
    Unavailable,
}

const CACHE_SHARDS: usize = 16;
const CACHE_PER_SHARD: usize = 4096;

/// A verified token's claims and the key id that signed it: a hit counts only while that key
/// is still in the set (a key dropped here, or on another instance sharing the store, stops
/// verifying its tokens at once rather than when they leave the cache).
type Shard = Mutex<HashMap<[u8; 32], (Arc<AccessClaims>, Arc<str>)>>;

/// Issues and verifies access tokens.
pub struct AccessTokens {
    issuer: String,
    keys: Arc<KeyManager>,
    verified: Vec<Shard>,
}

impl AccessTokens {
    /// For `issuer`, signing with `keys`.
    pub fn new(issuer: String, keys: Arc<KeyManager>) -> Self {
        Self { issuer, keys, verified: (0..CACHE_SHARDS).map(|_| Mutex::new(HashMap::new())).collect() }
    }

    /// Signs a new access token at `now`.
    pub fn issue(&self, req: IssueRequest<'_>, now: OffsetDateTime) -> Result<Issued, KeyError> {
        let iat = now.unix_timestamp();
        let expires_in = req.ttl.as_secs();
        let claims = AccessClaims {
            iss: self.issuer.clone(),
            sub: req.sub.to_owned(),
            aud: Audience::from_list(req.audiences),
            exp: iat.saturating_add(i64::try_from(expires_in).unwrap_or(i64::MAX)),
            iat,
            jti: req.jti.unwrap_or_else(unique_id),
            client_id: req.client_id.to_owned(),
            scope: (!req.scopes.is_empty()).then(|| req.scopes.join(" ")),
            extra: req.claims,
        };
        let key = self.keys.current().es256.clone();
        let token = jwt::sign(&key, AT_JWT, &claims)?;
        Ok(Issued { token, expires_in, claims })
    }

    /// Checks signature, type, issuer and expiry (not revocation).
    pub fn verify(&self, token: &str, now: OffsetDateTime) -> Result<Arc<AccessClaims>, TokenProblem> {
        let digest = sha256(token.as_bytes());
        let shard = &self.verified[usize::from(digest[0]) % CACHE_SHARDS];
        let cached = shard.lock().ok().and_then(|m| m.get(&digest).cloned());
        let claims = match cached {
            Some((c, kid)) if self.keys.current().verifier(&kid).is_some() => c,
            Some(_) => return Err(TokenProblem::BadSignature),
            None => {
                let (c, kid) = self.verify_uncached(token)?;
                let c = Arc::new(c);
                if let Ok(mut m) = shard.lock() {
                    if m.len() >= CACHE_PER_SHARD {
                        m.clear();
                    }
                    m.insert(digest, (c.clone(), kid.into()));
                }
                c
            }
        };
        if now.unix_timestamp() >= claims.exp {
            return Err(TokenProblem::Expired);
        }
        Ok(claims)
    }

    /// [`Self::verify`] plus the revocation list.
    pub async fn verify_active(
        &self,
        store: &dyn RevocationStore,
        token: &str,
        now: OffsetDateTime,
    ) -> Result<Arc<AccessClaims>, TokenProblem> {
        let claims = self.verify(token, now)?;
        match store.is_revoked(&claims.jti).await {
            Ok(false) => Ok(claims),
            Ok(true) => Err(TokenProblem::Revoked),
            Err(e) => {
                tracing::error!(error = %e, "revocation lookup failed");
                Err(TokenProblem::Unavailable)
            }
        }
    }

    fn verify_uncached(&self, token: &str) -> Result<(AccessClaims, String), TokenProblem> {
        let keys = self.keys.current();
        let v = jwt::verify(&keys, token).map_err(|e| match e {
            jwt::JwtError::Malformed => TokenProblem::Malformed,
            jwt::JwtError::BadSignature => TokenProblem::BadSignature,
        })?;
        if v.header.typ.as_deref().map(str::to_ascii_lowercase).as_deref() != Some(AT_JWT) {
            return Err(TokenProblem::Malformed);
        }
        let claims: AccessClaims = serde_json::from_slice(&v.payload).map_err(|_| TokenProblem::Malformed)?;
        if claims.iss != self.issuer {
            return Err(TokenProblem::BadSignature);
        }
        // `jwt::verify` found the key by this id, so it is present.
        Ok((claims, v.header.kid.unwrap_or_default()))
    }

    /// The issuer these tokens carry.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }
}
