//! Token revocation (RFC 7009). Unknown, malformed or expired tokens get 200 (§2.2); a
//! token issued to another client is refused (§2.1). A revocation is durable before the
//! response, and /introspect and /verify refuse the token until it expires.

use time::OffsetDateTime;

use super::error::{OAuthError, unavailable};
use super::params::Params;
use super::{RequestMeta, authenticate};
use crate::audit::AuditEvent;
use crate::state::AppState;

/// Handles one revocation request.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn revoke(
    state: &AppState,
    authorization: Option<&str>,
    params: &Params,
    meta: &RequestMeta,
    now: OffsetDateTime,
) -> Result<(), OAuthError> {
    let caller = authenticate(state, authorization, params, meta, &state.urls.revoke, now).await?;
    let token = params.required("token", "token is required")?;
    // token_type_hint is only a hint (§2.1); access tokens are the only kind so far.
    let _ = params.one("token_type_hint")?;
    let Ok(claims) = state.access.verify(token, now) else {
        return Ok(());
    };
    if claims.client_id != caller.id() {
        return Err(OAuthError::UnauthorizedClient("the token was not issued to this client"));
    }
    state.db.revoke_token(&claims.jti, claims.exp).map_err(|e| unavailable("recording a revocation failed", &e))?;
    // The audit record's durability covers the revocation written just before it.
    let event = AuditEvent::TokenRevoked { client_id: caller.id().to_owned(), jti: claims.jti.clone() };
    state
        .audit
        .record(meta.actor(format!("client:{}", caller.id())), event, now)
        .await
        .map_err(|e| unavailable("flushing a revocation failed", &e))?;
    tracing::info!(request_id = %meta.request_id, client_id = %caller.id(), "access token revoked");
    Ok(())
}
