//! OAuth 2.0 protocol logic, free of HTTP types: the token endpoint and its grants,
//! introspection (RFC 7662), revocation (RFC 7009), the `/verify` service check, client
//! authentication and the errors they return.

pub mod assertion;
pub mod authorize;
pub mod client;
pub mod cors;
pub mod error;
pub mod grants;
pub mod introspect;
pub mod params;
pub mod pkce;
pub(crate) mod policy;
pub mod revoke;
pub mod scope;
pub mod test_token;
pub mod token;
pub mod verify;

use std::net::IpAddr;
use std::sync::Arc;

use time::OffsetDateTime;

use self::client::{AuthContext, Client, Credentials};
use self::error::{OAuthError, unavailable};
use self::params::Params;
use crate::audit::{Actor, AuditEvent};
use crate::state::AppState;

/// Where a request came from: the TCP peer and the request id (for limits, logs, audit).
#[derive(Debug, Clone)]
pub struct RequestMeta {
    /// Source IP.
    pub ip: IpAddr,
    /// The request id (`X-Request-Id`).
    pub request_id: String,
    /// The browser's `Origin` header, if any (CORS checks per client).
    pub origin: Option<String>,
}

impl RequestMeta {
    /// An audit actor for this request acting as `who`.
    pub fn actor(&self, who: impl Into<String>) -> Actor {
        Actor { who: who.into(), ip: Some(self.ip.to_string()), request_id: Some(self.request_id.clone()) }
    }
}

/// Authenticates the calling client of `endpoint`, applying the failed-authentication
/// limits: a blocked source or client gets 429 before its credentials are looked at.
pub(crate) async fn authenticate(
    state: &AppState,
    authorization: Option<&str>,
    params: &Params,
    meta: &RequestMeta,
    endpoint: &str,
    now: OffsetDateTime,
) -> Result<Arc<Client>, OAuthError> {
    let creds = match Credentials::from_request(authorization, params) {
        Ok(c) => c,
        Err(e @ OAuthError::InvalidClient { .. }) => {
            return Err(auth_failed(state, meta, None, "no or malformed credentials", now).unwrap_or(e));
        }
        Err(e) => return Err(e),
    };
    let claimed = creds.claimed_id();
    if let Some(retry_after) = state.limiter.auth_blocked(meta.ip, claimed.as_deref()) {
        state.metrics.rate_limited("failed_auth");
        return Err(OAuthError::TooManyRequests { retry_after });
    }
    let ctx = AuthContext { issuer: &state.issuer, endpoint, token_endpoint: &state.urls.token };
    match state.clients.authenticate(creds, ctx, now).await {
        Ok(client) => {
            state.cors.check(meta.origin.as_deref(), &client)?;
            Ok(client)
        }
        Err(f) => {
            if let Some(e) = &f.store_error {
                return Err(unavailable("client lookup failed", e));
            }
            tracing::info!(
                request_id = %meta.request_id,
                client_id = f.client_id.as_deref().unwrap_or("-"),
                reason = f.reason,
                "client authentication failed"
            );
            Err(auth_failed(state, meta, f.client_id, f.reason, now)
                .unwrap_or(OAuthError::InvalidClient { basic: f.basic }))
        }
    }
}

/// Audits a failed authentication and counts it; `Some(429)` when it crossed a limit.
fn auth_failed(
    state: &AppState,
    meta: &RequestMeta,
    client_id: Option<String>,
    reason: &str,
    now: OffsetDateTime,
) -> Option<OAuthError> {
    let limited = state.limiter.auth_failed(meta.ip, client_id.as_deref());
    state.metrics.client_auth_failed();
    state.audit.emit(meta.actor("anonymous"), AuditEvent::ClientAuthFailed { client_id, reason: reason.into() }, now);
    let retry_after = limited?;
    state.metrics.rate_limited("failed_auth");
    state.audit.emit(meta.actor("anonymous"), AuditEvent::RateLimited { limit: "failed_auth".into() }, now);
    Some(OAuthError::TooManyRequests { retry_after })
}
