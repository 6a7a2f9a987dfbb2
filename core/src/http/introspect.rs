//! `POST /introspect` and `POST /revoke`.

use axum::extract::State;
use axum::response::{IntoResponse, Response};

use super::error::{ApiError, no_store};
use super::extract::{Authorization, FormParams, Meta};
use crate::oauth;
use crate::state::AppState;

/// Token introspection (RFC 7662 §2).
pub async fn introspect_post(
    State(state): State<AppState>,
    Meta(meta): Meta,
    Authorization(authorization): Authorization,
    FormParams(params): FormParams,
) -> Result<Response, ApiError> {
    let now = state.clock.now();
    let body = oauth::introspect::introspect(&state.tokens, authorization.as_deref(), &params, &meta, now).await?;
    Ok(no_store(axum::Json(body).into_response()))
}

/// Token revocation (RFC 7009 §2).
pub async fn revoke_post(
    State(state): State<AppState>,
    Meta(meta): Meta,
    Authorization(authorization): Authorization,
    FormParams(params): FormParams,
) -> Result<Response, ApiError> {
    let now = state.clock.now();
    oauth::revoke::revoke(&state.tokens, authorization.as_deref(), &params, &meta, now).await?;
    Ok(no_store(().into_response()))
}
