//! What every grant ends with: an access token signed and its issuance recorded, in the
//! token response (RFC 6749 §5.1).

use serde::Serialize;
use time::OffsetDateTime;

use crate::audit::{Actor, AuditEvent};
use crate::oauth::error::{OAuthError, internal};
use crate::oauth::service::TokenService;
use crate::tokens::access::IssueRequest;

/// A successful token response (RFC 6749 §5.1).
#[derive(Debug, Serialize)]
pub struct TokenResponse {
    /// The access token.
    pub access_token: String,
    /// Always `Bearer` (RFC 6750).
    pub token_type: &'static str,
    /// Lifetime in seconds.
    pub expires_in: u64,
    /// Granted scopes, space-separated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// The refresh token (authorization code and refresh grants with `offline_access`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    /// The ID token (grants for a user with `openid`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
}

/// Signs an access token and records the issuance (audit record, metrics): every grant
/// issues through here.
pub(crate) fn issue_access_token(
    svc: &TokenService,
    req: IssueRequest<'_>,
    grant_type: &str,
    actor: Actor,
    now: OffsetDateTime,
) -> Result<TokenResponse, OAuthError> {
    let issued = svc.access.issue(req, now).map_err(|e| internal("signing an access token failed", &e))?;
    let client_id = &issued.claims.client_id;
    tracing::debug!(%client_id, grant_type, "access token issued");
    svc.metrics.token_issued(grant_type, client_id);
    let event = AuditEvent::TokenIssued {
        client_id: client_id.clone(),
        grant_type: grant_type.to_owned(),
        jti: issued.claims.jti.clone(),
        scope: issued.claims.scope.clone(),
    };
    svc.audit.emit(actor, event, now);
    Ok(TokenResponse {
        access_token: issued.token,
        token_type: "Bearer",
        expires_in: issued.expires_in,
        scope: issued.claims.scope,
        refresh_token: None,
        id_token: None,
    })
}
