//! Token introspection (RFC 7662). The caller must authenticate as a confidential client;
//! it learns about tokens issued to it, tokens whose `aud` names it, or any token when it
//! has `can_introspect`. Anything else — expired, revoked, foreign, garbage — is
//! `{"active": false}` (§2.2).

use std::net::IpAddr;

use serde_json::{Value, json};
use time::OffsetDateTime;

use super::authenticate;
use super::error::OAuthError;
use super::params::Params;
use crate::state::AppState;
use crate::tokens::access::TokenProblem;

/// Handles one introspection request; returns the JSON response body.
#[tracing::instrument(skip_all)]
pub async fn introspect(
    state: &AppState,
    authorization: Option<&str>,
    params: &Params,
    ip: IpAddr,
    now: OffsetDateTime,
) -> Result<Value, OAuthError> {
    let caller = authenticate(state, authorization, params, ip, &state.urls.introspect, now).await?;
    if caller.is_public() {
        return Err(OAuthError::InvalidClient { basic: false });
    }
    if let Err(retry_after) = state.limiter.introspect_request(caller.id()) {
        return Err(OAuthError::TooManyRequests { retry_after });
    }
    let token = params.required("token", "token is required")?;
    let claims = match state.access.verify_active(state.db.store(), token, now) {
        Ok(c) => c,
        Err(TokenProblem::Unavailable) => {
            return Err(OAuthError::TemporarilyUnavailable {
                retry_after: std::time::Duration::from_secs(1),
            });
        }
        Err(_) => return Ok(json!({ "active": false })),
    };
    let allowed = claims.client_id == caller.id() || claims.aud.contains(caller.id()) || caller.record.can_introspect;
    if !allowed {
        return Ok(json!({ "active": false }));
    }
    let mut body = json!({
        "active": true,
        "iss": claims.iss,
        "sub": claims.sub,
        "aud": claims.aud,
        "exp": claims.exp,
        "iat": claims.iat,
        "jti": claims.jti,
        "client_id": claims.client_id,
        "token_type": "Bearer",
    });
    if let (Some(scope), Some(obj)) = (&claims.scope, body.as_object_mut()) {
        obj.insert("scope".into(), Value::String(scope.clone()));
    }
    Ok(body)
}
