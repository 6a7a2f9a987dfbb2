//! Client authentication at the token, introspection and revocation endpoints, with the
//! failed-authentication limits and their audit records.

use std::sync::Arc;

use time::OffsetDateTime;

use super::RequestMeta;
use super::client::{AuthContext, Client, Credentials};
use super::error::{OAuthError, unavailable};
use super::params::Params;
use crate::audit::AuditEvent;
use crate::oauth::service::TokenService;

/// Authenticates the calling client of `endpoint`, applying the failed-authentication
/// limits: a blocked source or client gets 429 before its credentials are looked at.
pub(crate) async fn authenticate(
    svc: &TokenService,
    authorization: Option<&str>,
    params: &Params,
    meta: &RequestMeta,
    endpoint: &str,
    now: OffsetDateTime,
) -> Result<Arc<Client>, OAuthError> {
    let creds = match Credentials::from_request(authorization, params) {
        Ok(c) => c,
        Err(e @ OAuthError::InvalidClient { .. }) => {
            return Err(auth_failed(svc, meta, None, "no or malformed credentials", now).unwrap_or(e));
        }
        Err(e) => return Err(e),
    };
    let claimed = creds.claimed_id();
    if let Some(retry_after) = svc.limiter.auth_blocked(meta.ip, claimed.as_deref()) {
        svc.metrics.rate_limited("failed_auth");
        return Err(OAuthError::TooManyRequests { retry_after });
    }
    let ctx = AuthContext { issuer: &svc.issuer, endpoint, token_endpoint: &svc.urls.token };
    match svc.clients.authenticate(creds, ctx, now).await {
        Ok(client) => {
            svc.cors.check(meta.origin.as_deref(), &client)?;
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
            Err(auth_failed(svc, meta, f.client_id, f.reason, now)
                .unwrap_or(OAuthError::InvalidClient { basic: f.basic }))
        }
    }
}

/// Audits a failed authentication and counts it; `Some(429)` when it crossed a limit.
fn auth_failed(
    svc: &TokenService,
    meta: &RequestMeta,
    client_id: Option<String>,
    reason: &str,
    now: OffsetDateTime,
) -> Option<OAuthError> {
    let limited = svc.limiter.auth_failed(meta.ip, client_id.as_deref());
    svc.metrics.client_auth_failed();
    svc.audit.emit(meta.actor("anonymous"), AuditEvent::ClientAuthFailed { client_id, reason: reason.into() }, now);
    let retry_after = limited?;
    svc.metrics.rate_limited("failed_auth");
    svc.audit.emit(meta.actor("anonymous"), AuditEvent::RateLimited { limit: "failed_auth".into() }, now);
    Some(OAuthError::TooManyRequests { retry_after })
}
