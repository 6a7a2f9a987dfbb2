//! `POST /token`.

use axum::extract::State;
use axum::response::{IntoResponse, Response};

use super::error::{ApiError, no_store};
use super::extract::{Authorization, FormParams, Meta};
use crate::oauth;
use crate::state::AppState;

/// Token endpoint (RFC 6749 §3.2).
pub async fn token_post(
    State(state): State<AppState>,
    Meta(meta): Meta,
    Authorization(authorization): Authorization,
    FormParams(params): FormParams,
) -> Result<Response, ApiError> {
    let now = state.clock.now();
    let resp = oauth::token::exchange(&state.tokens, authorization.as_deref(), &params, &meta, now).await?;
    Ok(no_store(axum::Json(resp).into_response()))
}
