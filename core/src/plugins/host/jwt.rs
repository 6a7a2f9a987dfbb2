//! `jwt.verify`: a connector checks an ID token without carrying crypto. The JWKS is fetched
//! through the plugin's own HTTP grant (so `jwks-url` must be on `allowed_hosts`) and kept
//! per plugin for five minutes (fetched again at once for an unknown `kid`: rotation); only
//! asymmetric algorithms are accepted (never `none` or HMAC, whose "key" would come from
//! the token's own issuer); `exp`/`nbf` are checked against the host's time of the call.

use std::time::Duration;

use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};

use super::Ctx;
use super::http::HttpGate;
use crate::clock::monotonic;
use crate::plugins::bindings::connector_world::gatehouse::plugin::jwt::{Host, VerifyOptions};
use crate::plugins::bindings::gatehouse::plugin::http::{Method, Request};

/// Signature algorithms a token may use.
const ALLOWED: &[Algorithm] = &[
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];

/// How long a fetched JWKS is reused.
const JWKS_TTL: Duration = Duration::from_secs(300);

/// The key for `kid`, or the only key when the token names none.
fn pick<'a>(set: &'a JwkSet, kid: Option<&str>) -> Option<&'a Jwk> {
    match kid {
        Some(kid) => set.find(kid),
        None if set.keys.len() == 1 => set.keys.first(),
        None => None,
    }
}

async fn fetch_jwks(gate: &HttpGate, url: &str) -> Result<JwkSet, String> {
    let req = Request { method: Method::Get, url: url.to_owned(), headers: Vec::new(), body: None, timeout_ms: None };
    let resp = gate.fetch(req).await.map_err(|e| format!("fetching the JWKS failed: {e:?}"))?;
    if resp.status != 200 {
        return Err(format!("fetching the JWKS failed: status {}", resp.status));
    }
    serde_json::from_slice(&resp.body).map_err(|e| format!("the JWKS is not valid: {e}"))
}

impl Host for Ctx {
    async fn verify(&mut self, token: String, opts: VerifyOptions) -> Result<String, String> {
        let grants = std::sync::Arc::clone(&self.grants);
        let gate = grants.http.as_ref().ok_or("this plugin has no allowed_hosts to fetch a JWKS from")?;
        let header = jsonwebtoken::decode_header(&token).map_err(|e| format!("malformed token: {e}"))?;
        if !ALLOWED.contains(&header.alg) {
            return Err(format!("algorithm {:?} is not accepted", header.alg));
        }
        let cached =
            grants.jwks_cache.lock().ok().and_then(|c| {
                c.get(&opts.jwks_url).filter(|(at, _)| at.elapsed() < JWKS_TTL).map(|(_, set)| set.clone())
            });
        let jwks = match cached {
            Some(set) if pick(&set, header.kid.as_deref()).is_some() => set,
            _ => {
                let fresh = fetch_jwks(gate, &opts.jwks_url).await?;
                if let Ok(mut c) = grants.jwks_cache.lock() {
                    c.insert(opts.jwks_url.clone(), (monotonic(), fresh.clone()));
                }
                fresh
            }
        };
        let jwk = pick(&jwks, header.kid.as_deref()).ok_or("no key in the JWKS matches the token's kid")?;
        let key = DecodingKey::from_jwk(jwk).map_err(|e| format!("unusable key: {e}"))?;
        let mut v = Validation::new(header.alg);
        v.validate_exp = false;
        v.validate_nbf = false;
        v.set_issuer(&[&opts.issuer]);
        v.set_audience(&opts.audiences);
        v.set_required_spec_claims(&["iss", "aud", "exp"]);
        let data = jsonwebtoken::decode::<serde_json::Map<String, serde_json::Value>>(&token, &key, &v)
            .map_err(|e| format!("the token does not verify: {e}"))?;
        let claims = data.claims;
        let leeway = i64::from(opts.leeway_secs);
        let now = self.now_unix;
        let exp = claims.get("exp").and_then(serde_json::Value::as_i64).ok_or("exp is not a number")?;
        if now > exp.saturating_add(leeway) {
            return Err("the token has expired".into());
        }
        if let Some(nbf) = claims.get("nbf").and_then(serde_json::Value::as_i64)
            && now.saturating_add(leeway) < nbf
        {
            return Err("the token is not valid yet".into());
        }
        if let Some(expected) = &opts.nonce
            && claims.get("nonce").and_then(serde_json::Value::as_str) != Some(expected.as_str())
        {
            return Err("the nonce does not match".into());
        }
        Ok(serde_json::Value::Object(claims).to_string())
    }
}
