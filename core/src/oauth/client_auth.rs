//! Client authentication at the token, introspection and revocation endpoints, with the
//! failed-authentication limits and their audit records.

use std::sync::Arc;

use time::OffsetDateTime;

use super::RequestMeta;
use super::client::{AuthContext, Client, Credentials};
use super::error::{OAuthError, unavailable};
use super::params::Params;
use crate::audit::AuditEvent;
use crate::state::AppState;

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
