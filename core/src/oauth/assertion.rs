//! `private_key_jwt` (RFC 7523 §2.2, §3; OIDC Core §9): the client signs a JWT with its
//! own key; we check it against the client's `jwks` or `jwks_uri`. Each `jti` is accepted
//! once while the assertion is valid: the registry marks it used in the store
//! ([`crate::store::Coordination::use_once`]), so a replay fails on every instance.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use time::OffsetDateTime;

use super::client::{AuthContext, Client};
use crate::clock::monotonic;

/// `client_assertion_type` for JWT client authentication.
pub const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// Algorithms accepted in client assertions (asymmetric only).
pub const ASSERTION_ALGS: &[&str] = &["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA"];

/// Longest lifetime we accept for an assertion (bounds how long a used `jti` is kept).
const MAX_LIFETIME: i64 = 3600;
/// Clock skew tolerated on `exp`/`nbf`/`iat`.
const LEEWAY: i64 = 30;
/// How long a fetched JWKS is trusted.
const JWKS_TTL: Duration = Duration::from_secs(300);
/// A JWKS is refetched on an unknown `kid` at most this often.
const JWKS_REFRESH_MIN: Duration = Duration::from_secs(10);
const JWKS_MAX_BYTES: usize = 64 * 1024;

#[derive(Deserialize)]
struct AssertionClaims {
    iss: String,
    sub: String,
    exp: i64,
    jti: String,
    #[serde(default)]
    nbf: Option<i64>,
    #[serde(default)]
    iat: Option<i64>,
}

/// Verifies client assertions; caches remote JWKS.
pub struct AssertionVerifier {
    http: reqwest::Client,
    policy: Arc<crate::outbound::AddressPolicy>,
    remote: Mutex<HashMap<String, (Arc<JwkSet>, std::time::Instant)>>,
}

/// A valid assertion, still to be marked used: the key to mark and until when.
#[derive(Debug)]
pub struct Accepted {
    /// The single-use key (a digest of the client id and `jti`).
    pub once_key: String,
    /// Until when the assertion could be presented (unix seconds).
    pub until: i64,
}

/// The `sub` of an unverified assertion, used only to pick the client to check it against.
pub fn unverified_subject(assertion: &str) -> Option<String> {
    let payload = assertion.split('.').nth(1)?;
    let bytes = URL_SAFE_NO_PAD.decode(payload).ok()?;
    let v: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    v.get("sub")?.as_str().map(str::to_owned)
}

impl AssertionVerifier {
    /// A verifier whose `jwks_uri` fetches go through the server's outbound client (https,
    /// public addresses; loopback over http too with `allow_loopback_http`, dev mode).
    pub fn new(allow_loopback_http: bool) -> Result<Self, String> {
        let policy = Arc::new(crate::outbound::AddressPolicy::public(allow_loopback_http));
        let agent = concat!("gatehouse/", env!("CARGO_PKG_VERSION"));
        let http = crate::outbound::client(Arc::clone(&policy), agent, Some(Duration::from_secs(5)))?;
        Ok(Self { http, policy, remote: Mutex::new(HashMap::new()) })
    }

    /// Checks `assertion` for `client`; the error is a reason for the log. The caller marks
    /// the returned key used before accepting it.
    pub async fn verify(
        &self,
        client: &Client,
        assertion: &str,
        ctx: AuthContext<'_>,
        now: OffsetDateTime,
    ) -> Result<Accepted, &'static str> {
        let header = jsonwebtoken::decode_header(assertion).map_err(|_| "malformed assertion")?;
        let alg_name =
            serde_json::to_value(header.alg).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default();
        if !ASSERTION_ALGS.contains(&alg_name.as_str()) {
            return Err("assertion algorithm not accepted");
        }
        let jwk = self.find_key(client, header.kid.as_deref(), header.alg).await?;
        let key = DecodingKey::from_jwk(&jwk).map_err(|_| "client key unusable")?;
        let mut v = Validation::new(header.alg);
        v.validate_exp = false;
        v.validate_nbf = false;
        v.required_spec_claims.clear();
        v.set_audience(&[ctx.issuer, ctx.token_endpoint, ctx.endpoint]);
        v.set_required_spec_claims(&["aud"]);
        let data = jsonwebtoken::decode::<AssertionClaims>(assertion, &key, &v)
            .map_err(|_| "assertion signature, audience or claims invalid")?;
        let c = data.claims;
        let now = now.unix_timestamp();
        if c.iss != client.id() || c.sub != client.id() {
            return Err("iss and sub must be the client id");
        }
        if c.exp + LEEWAY <= now {
            return Err("assertion expired");
        }
        if c.exp - now > MAX_LIFETIME {
            return Err("assertion lifetime too long");
        }
        if c.nbf.is_some_and(|nbf| nbf > now + LEEWAY) || c.iat.is_some_and(|iat| iat > now + LEEWAY) {
            return Err("assertion not yet valid");
        }
        let once = [client.id().as_bytes(), b"\0", c.jti.as_bytes()].concat();
        Ok(Accepted { once_key: format!("assertion:{}", crate::secret::sha256_hex(&once)), until: c.exp + LEEWAY })
    }

    async fn find_key(&self, client: &Client, kid: Option<&str>, alg: Algorithm) -> Result<Jwk, &'static str> {
        if let Some(set) = &client.jwks {
            return pick(set, kid, alg).ok_or("no matching key in the client's jwks");
        }
        let uri = client.record.jwks_uri.as_deref().ok_or("client has no keys")?;
        let cached = self.remote.lock().ok().and_then(|m| m.get(uri).cloned());
        if let Some((set, fetched)) = &cached {
            let age = monotonic().saturating_duration_since(*fetched);
            if age < JWKS_TTL {
                if let Some(k) = pick(set, kid, alg) {
                    return Ok(k);
                }
                if age < JWKS_REFRESH_MIN {
                    return Err("no matching key in the client's jwks_uri");
                }
            }
        }
        let set = Arc::new(self.fetch(uri).await?);
        if let Ok(mut m) = self.remote.lock() {
            m.insert(uri.to_owned(), (set.clone(), monotonic()));
        }
        pick(&set, kid, alg).ok_or("no matching key in the client's jwks_uri")
    }

    async fn fetch(&self, uri: &str) -> Result<JwkSet, &'static str> {
        let url = url::Url::parse(uri).map_err(|_| "jwks_uri is not a URL")?;
        if let Err(why) = self.policy.check_url(&url) {
            tracing::warn!(%why, "a client's jwks_uri is refused");
            return Err("jwks_uri refused (https on a public address only)");
        }
        let resp = self.http.get(url).send().await.map_err(|_| "jwks_uri unreachable")?;
        if !resp.status().is_success() {
            return Err("jwks_uri answered with an error");
        }
        if resp.content_length().is_some_and(|l| l > JWKS_MAX_BYTES as u64) {
            return Err("jwks_uri document too large");
        }
        let body = resp.bytes().await.map_err(|_| "jwks_uri read failed")?;
        if body.len() > JWKS_MAX_BYTES {
            return Err("jwks_uri document too large");
        }
        serde_json::from_slice(&body).map_err(|_| "jwks_uri is not a JWKS")
    }
}

/// The key for `kid` (or the only usable key when the header has no `kid`).
fn pick(set: &JwkSet, kid: Option<&str>, alg: Algorithm) -> Option<Jwk> {
    let usable = |k: &&Jwk| k.is_supported() && DecodingKey::from_jwk(k).is_ok();
    match kid {
        Some(kid) => set.find(kid).filter(usable).cloned(),
        None => {
            let mut candidates = set.keys.iter().filter(usable).filter(|k| {
                k.common.key_algorithm.is_none_or(|ka| serde_json::to_value(ka).ok() == serde_json::to_value(alg).ok())
            });
            match (candidates.next(), candidates.next()) {
                (Some(k), None) => Some(k.clone()),
                _ => None,
            }
        }
    }
}
