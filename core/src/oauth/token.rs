//! The token endpoint (RFC 6749 §3.2): authenticates the client, dispatches on
//! `grant_type`, and returns the access token response (§5.1).

use serde::Serialize;
use time::OffsetDateTime;

use super::error::OAuthError;
use super::params::Params;
use super::{RequestMeta, authenticate, grants};
use crate::state::AppState;

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
        "client_credentials" => grants::client_credentials::grant(state, &client, params, meta, now),
        _ => Err(OAuthError::UnsupportedGrantType),
    }
}
