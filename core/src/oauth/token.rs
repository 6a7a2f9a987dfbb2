//! The token endpoint (RFC 6749 §3.2): authenticates the client, dispatches on
//! `grant_type`, and returns the access token response (§5.1).

use serde::Serialize;
use time::OffsetDateTime;

use super::error::{OAuthError, internal};
use super::params::Params;
use super::{RequestMeta, authenticate, grants};
use crate::audit::{Actor, AuditEvent};
use crate::state::AppState;
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

/// Handles one token request.
#[tracing::instrument(level = "debug", skip_all, fields(grant_type))]
pub async fn exchange(
    state: &AppState,
    authorization: Option<&str>,
    params: &Params,
    meta: &RequestMeta,
    now: OffsetDateTime,
) -> Result<TokenResponse, OAuthError> {
    let grant_type = params.required("grant_type", "grant_type is required")?;
    tracing::Span::current().record("grant_type", grant_type);
    let client = authenticate(state, authorization, params, meta, &state.urls.token, now).await?;
    if let Err(retry_after) = state.limiter.token_request(client.id()) {
        state.metrics.rate_limited("token_per_client");
        return Err(OAuthError::TooManyRequests { retry_after });
    }
    match grant_type {
        "client_credentials" => grants::client_credentials::grant(state, &client, params, meta, now).await,
        "authorization_code" => grants::authorization_code::grant(state, &client, params, meta, now).await,
        "refresh_token" => grants::refresh_token::grant(state, &client, params, meta, now).await,
        _ => Err(OAuthError::UnsupportedGrantType),
    }
}

/// Signs an access token and records the issuance (audit record, metrics): every grant
/// issues through here.
pub(crate) fn issue_access_token(
    state: &AppState,
    req: IssueRequest<'_>,
    grant_type: &str,
    actor: Actor,
    now: OffsetDateTime,
) -> Result<TokenResponse, OAuthError> {
    let issued = state.access.issue(req, now).map_err(|e| internal("signing an access token failed", &e))?;
    let client_id = &issued.claims.client_id;
    tracing::debug!(%client_id, grant_type, "access token issued");
    state.metrics.token_issued(grant_type, client_id);
    let event = AuditEvent::TokenIssued {
        client_id: client_id.clone(),
        grant_type: grant_type.to_owned(),
        jti: issued.claims.jti.clone(),
        scope: issued.claims.scope.clone(),
    };
    state.audit.emit(actor, event, now);
    Ok(TokenResponse {
        access_token: issued.token,
        token_type: "Bearer",
        expires_in: issued.expires_in,
        scope: issued.claims.scope,
        refresh_token: None,
        id_token: None,
    })
}
