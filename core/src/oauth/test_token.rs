//! `GET /test-token` (dev_mode only): mints an access token without a client, for local
//! development of resource servers. Lifetime defaults to 300 s and is capped.

use std::time::Duration;

use time::OffsetDateTime;

use super::RequestMeta;
use super::error::OAuthError;
use super::grants::issue::{TokenResponse, issue_access_token};
use super::params::Params;
use super::scope;
use crate::oauth::service::TokenService;
use crate::tokens::access::IssueRequest;

/// The `client_id` claim of test tokens.
pub const TEST_CLIENT_ID: &str = "gatehouse-test-token";
/// Default lifetime.
pub const DEFAULT_TTL: Duration = Duration::from_secs(300);

/// Mints a test token from query parameters `sub`, `aud`, `scope`, `ttl`.
pub fn issue(
    svc: &TokenService,
    params: &Params,
    meta: &RequestMeta,
    now: OffsetDateTime,
) -> Result<TokenResponse, OAuthError> {
    let sub = params.one("sub")?.unwrap_or("test-user");
    let audiences = match params.one("aud")? {
        Some(a) => a.split(' ').filter(|s| !s.is_empty()).map(str::to_owned).collect(),
        None => vec![svc.issuer.clone()],
    };
    let scopes = match params.one("scope")? {
        Some(s) => scope::parse(s)?,
        None => Vec::new(),
    };
    let ttl = match params.one("ttl")? {
        None => DEFAULT_TTL,
        Some(raw) => {
            parse_ttl(raw).ok_or(OAuthError::InvalidRequest("ttl must be seconds or a duration such as 5m"))?
        }
    };
    if ttl.is_zero() || ttl > svc.longest_ttl {
        return Err(OAuthError::InvalidRequest("ttl is out of range"));
    }
    let req = IssueRequest {
        sub,
        client_id: TEST_CLIENT_ID,
        audiences,
        scopes: &scopes,
        ttl,
        jti: None,
        claims: serde_json::Map::new(),
    };
    issue_access_token(svc, req, "test_token", meta.actor("dev"), now)
}

fn parse_ttl(raw: &str) -> Option<Duration> {
    raw.parse::<u64>().ok().map(Duration::from_secs).or_else(|| humantime::parse_duration(raw).ok())
}
