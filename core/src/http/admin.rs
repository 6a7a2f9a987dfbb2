//! `/admin/*`: operator actions on a running server, behind the admin bearer token
//! (`[admin] token_sha256` or `token_env`); not routed when neither is set. Failed admin
//! authentications count against the source IP's failed-authentication limit.

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::error::{ApiError, no_store};
use super::extract::{ClientIp, authorization, bearer};
use crate::oauth::error::{OAuthError, internal};
use crate::secret::matches_sha256;
use crate::state::AppState;

fn unauthorized() -> Response {
    let mut r = (
        StatusCode::UNAUTHORIZED,
        axum::Json(json!({ "error": "invalid_token", "error_description": "a valid admin token is required" })),
    )
        .into_response();
    r.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer realm=\"gatehouse-admin\""));
    no_store(r)
}

/// Checks the admin token; `Err` is the response to send.
fn check_admin(state: &AppState, ip: std::net::IpAddr, headers: &HeaderMap) -> Result<(), Box<Response>> {
    if let Some(retry_after) = state.limiter.auth_blocked(ip, None) {
        return Err(Box::new(ApiError(OAuthError::TooManyRequests { retry_after }).into_response()));
    }
    let Some(expected) = &state.config.admin_token_sha256 else {
        return Err(Box::new(StatusCode::NOT_FOUND.into_response()));
    };
    let presented = authorization(headers).ok().flatten().and_then(bearer);
    if presented.is_some_and(|t| matches_sha256(t.as_bytes(), expected)) {
        return Ok(());
    }
    tracing::warn!(%ip, "admin authentication failed");
    Err(Box::new(match state.limiter.auth_failed(ip, None) {
        Some(retry_after) => ApiError(OAuthError::TooManyRequests { retry_after }).into_response(),
        None => unauthorized(),
    }))
}

/// `POST /admin/keys/rotate`: new signing keys now; old ones stay published.
pub async fn keys_rotate_post(State(state): State<AppState>, ClientIp(ip): ClientIp, headers: HeaderMap) -> Response {
    if let Err(resp) = check_admin(&state, ip, &headers) {
        return *resp;
    }
    match state.keys.rotate(state.clock.now()).await {
        Ok(summary) => no_store(axum::Json(summary).into_response()),
        Err(e) => ApiError(internal("key rotation failed", &e)).into_response(),
    }
}
