//! Token revocation (RFC 7009) of access tokens and refresh tokens (a refresh token takes
//! its whole family and newest access token with it). Unknown, malformed or expired tokens get 200 (§2.2); a
//! token issued to another client is refused (§2.1). A revocation is durable before the
//! response, and /introspect and /verify refuse the token until it expires.

use time::OffsetDateTime;

use super::error::{OAuthError, unavailable};
use super::params::Params;
use super::{RequestMeta, authenticate};
use crate::audit::AuditEvent;
use crate::oauth::service::TokenService;

/// Handles one revocation request.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn revoke(
    svc: &TokenService,
    authorization: Option<&str>,
    params: &Params,
    meta: &RequestMeta,
    now: OffsetDateTime,
) -> Result<(), OAuthError> {
    let caller = authenticate(svc, authorization, params, meta, &svc.urls.revoke, now).await?;
    let token = params.required("token", "token is required")?;
    // token_type_hint is only a hint (§2.1): both kinds are tried, JWTs first.
    let _ = params.one("token_type_hint")?;
    let Ok(claims) = svc.access.verify(token, now) else {
        return revoke_refresh(svc, caller.id(), token, meta, now).await;
    };
    if claims.client_id != caller.id() {
        return Err(OAuthError::UnauthorizedClient("the token was not issued to this client"));
    }
    svc.revocations
        .revoke_token(&claims.jti, claims.exp)
        .await
        .map_err(|e| unavailable("recording a revocation failed", &e))?;
    // The audit record's durability covers the revocation written just before it.
    let event = AuditEvent::TokenRevoked { client_id: caller.id().to_owned(), jti: claims.jti.clone() };
    svc.audit
        .record(meta.actor(format!("client:{}", caller.id())), event, now)
        .await
        .map_err(|e| unavailable("flushing a revocation failed", &e))?;
    tracing::info!(request_id = %meta.request_id, client_id = %caller.id(), "access token revoked");
    Ok(())
}

/// Revokes a refresh token's family and the newest access token issued from it (§2.1: the
/// tokens of the same grant go too). Unknown tokens are not an error.
async fn revoke_refresh(
    svc: &TokenService,
    caller: &str,
    token: &str,
    meta: &RequestMeta,
    now: OffsetDateTime,
) -> Result<(), OAuthError> {
    let key = crate::secret::sha256(token.as_bytes());
    let record = svc.browser.get_refresh(&key).await.map_err(|e| unavailable("reading a refresh token failed", &e))?;
    let Some(record) = record else { return Ok(()) };
    if record.client_id != caller {
        return Err(OAuthError::UnauthorizedClient("the token was not issued to this client"));
    }
    let family = svc
        .browser
        .revoke_family(&record.family)
        .await
        .map_err(|e| unavailable("revoking a refresh token failed", &e))?;
    if let Some(f) = family.filter(|f| !f.last_jti.is_empty()) {
        svc.revocations
            .revoke_token(&f.last_jti, f.last_access_exp)
            .await
            .map_err(|e| unavailable("recording a revocation failed", &e))?;
    }
    let event = AuditEvent::RefreshTokenRevoked { client_id: caller.to_owned(), family: record.family.clone() };
    svc.audit
        .record(meta.actor(format!("client:{caller}")), event, now)
        .await
        .map_err(|e| unavailable("flushing a revocation failed", &e))?;
    tracing::info!(request_id = %meta.request_id, client_id = %caller, "refresh token family revoked");
    Ok(())
}
