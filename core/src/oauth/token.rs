//! The token endpoint (RFC 6749 §3.2): authenticates the client, dispatches on
//! `grant_type`, and returns the access token response (§5.1).

use time::OffsetDateTime;

use super::error::OAuthError;
use super::params::Params;
use super::{RequestMeta, authenticate, grants};
use crate::oauth::service::TokenService;

pub use super::grants::issue::TokenResponse;

/// Handles one token request.
#[tracing::instrument(level = "debug", skip_all, fields(grant_type))]
pub async fn exchange(
    svc: &TokenService,
    authorization: Option<&str>,
    params: &Params,
    meta: &RequestMeta,
    now: OffsetDateTime,
) -> Result<TokenResponse, OAuthError> {
    let grant_type = params.required("grant_type", "grant_type is required")?;
    tracing::Span::current().record("grant_type", grant_type);
    let client = authenticate(svc, authorization, params, meta, &svc.urls.token, now).await?;
    if let Err(retry_after) = svc.limiter.token_request(client.id()) {
        svc.metrics.rate_limited("token_per_client");
        return Err(OAuthError::TooManyRequests { retry_after });
    }
    match grant_type {
        "client_credentials" => grants::client_credentials::grant(svc, &client, params, meta, now).await,
        "authorization_code" => grants::authorization_code::grant(svc, &client, params, meta, now).await,
        "refresh_token" => grants::refresh_token::grant(svc, &client, params, meta, now).await,
        _ => Err(OAuthError::UnsupportedGrantType),
    }
}
