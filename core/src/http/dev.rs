//! Dev-mode endpoints (routed only when `server.dev_mode = true`).

use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Response};

use super::error::{ApiError, no_store};
use super::extract::Meta;
use crate::oauth;
use crate::oauth::error::OAuthError;
use crate::oauth::params::Params;
use crate::state::AppState;

/// `GET /test-token?sub=&aud=&scope=&ttl=`.
pub async fn test_token_get(
    State(state): State<AppState>,
    Meta(meta): Meta,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let params = Params::parse(query.unwrap_or_default().as_bytes())
        .map_err(|_| ApiError::OAuth(OAuthError::InvalidRequest("the query string is malformed")))?;
    let resp = oauth::test_token::issue(&state.tokens, &params, &meta, state.clock.now())?;
    Ok(no_store(axum::Json(resp).into_response()))
}
