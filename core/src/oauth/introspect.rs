//! Token introspection (RFC 7662). The caller must authenticate as a confidential client;
//! it learns about tokens issued to it, tokens whose `aud` names it, or any token when it
//! has `can_introspect`. Anything else — expired, revoked, foreign, garbage — is
//! `{"active": false}` (§2.2).

use std::sync::Arc;

use serde::Serialize;
use time::OffsetDateTime;

use super::error::OAuthError;
use super::params::Params;
use super::{RequestMeta, authenticate};
use crate::oauth::service::TokenService;
use crate::tokens::access::{AccessClaims, TokenProblem};

/// The introspection response (RFC 7662 §2.2); inactive tokens carry only `active`.
#[derive(Debug, Serialize)]
pub struct Introspection {
    /// Whether the token is active for this caller.
    pub active: bool,
    /// The token's claims, when active.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub claims: Option<Arc<AccessClaims>>,
    /// `Bearer` when active.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_type: Option<&'static str>,
}

impl Introspection {
    fn inactive() -> Self {
        Self { active: false, claims: None, token_type: None }
    }
}

/// Handles one introspection request.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn introspect(
    svc: &TokenService,
    authorization: Option<&str>,
    params: &Params,
    meta: &RequestMeta,
    now: OffsetDateTime,
) -> Result<Introspection, OAuthError> {
    let caller = authenticate(svc, authorization, params, meta, &svc.urls.introspect, now).await?;
    if caller.is_public() {
        return Err(OAuthError::InvalidClient { basic: false });
    }
    if let Err(retry_after) = svc.limiter.introspect_request(caller.id()) {
        svc.metrics.rate_limited("introspect_per_client");
        return Err(OAuthError::TooManyRequests { retry_after });
    }
    let token = params.required("token", "token is required")?;
    let claims = match svc.access.verify_active(&*svc.revocations, token, now).await {
        Ok(c) => c,
        Err(TokenProblem::Unavailable) => {
            return Err(OAuthError::TemporarilyUnavailable { retry_after: std::time::Duration::from_secs(1) });
        }
        Err(_) => return Ok(Introspection::inactive()),
    };
    let allowed = claims.client_id == caller.id() || claims.aud.contains(caller.id()) || caller.record.can_introspect;
    if !allowed {
        return Ok(Introspection::inactive());
    }
    Ok(Introspection { active: true, claims: Some(claims), token_type: Some("Bearer") })
}
