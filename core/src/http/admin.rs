//! `/admin/*`: operator actions on a running server, behind the admin bearer token
//! (`[admin] token_sha256` or `token_env`); not routed when neither is set. Failed admin
//! authentications count against the source IP's failed-authentication limit.

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::error::{ApiError, no_store};
use super::extract::{Meta, authorization, bearer};
use crate::audit::AuditEvent;
use crate::oauth::RequestMeta;
use crate::oauth::error::{OAuthError, internal, unavailable};
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
fn check_admin(state: &AppState, meta: &RequestMeta, headers: &HeaderMap) -> Result<(), Box<Response>> {
    let ip = meta.ip;
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
    let now = state.clock.now();
    state.audit.emit(meta.actor("anonymous"), AuditEvent::AdminAuthFailed, now);
    Err(Box::new(match state.limiter.auth_failed(ip, None) {
        Some(retry_after) => {
            state.audit.emit(meta.actor("anonymous"), AuditEvent::RateLimited { limit: "failed_auth".into() }, now);
            ApiError(OAuthError::TooManyRequests { retry_after }).into_response()
        }
        None => unauthorized(),
    }))
}

/// `GET /admin/audit/verify`: recomputes the chain; names the first broken record.
pub async fn audit_verify_get(State(state): State<AppState>, Meta(meta): Meta, headers: HeaderMap) -> Response {
    if let Err(resp) = check_admin(&state, &meta, &headers) {
        return *resp;
    }
    let db = state.db.clone();
    let result = tokio::task::spawn_blocking(move || crate::audit::verify_store(db.store())).await;
    let body = match result {
        Ok(Ok(Ok(n))) => serde_json::json!({ "ok": true, "records": n }),
        Ok(Ok(Err(brk))) => serde_json::json!({ "ok": false, "broken_at": brk.seq, "reason": brk.reason }),
        Ok(Err(e)) => return ApiError(unavailable("reading the audit chain failed", &e)).into_response(),
        Err(e) => return ApiError(internal("audit verification task failed", &e)).into_response(),
    };
    no_store(axum::Json(body).into_response())
}

/// `POST /admin/keys/rotate`: new signing keys now; old ones stay published.
pub async fn keys_rotate_post(State(state): State<AppState>, Meta(meta): Meta, headers: HeaderMap) -> Response {
    if let Err(resp) = check_admin(&state, &meta, &headers) {
        return *resp;
    }
    let now = state.clock.now();
    let summary = match state.keys.rotate(now).await {
        Ok(summary) => summary,
        Err(e) => return ApiError(internal("key rotation failed", &e)).into_response(),
    };
    let event = AuditEvent::KeysRotated { trigger: "admin".into(), active: summary.active.clone() };
    if let Err(e) = state.audit.record(meta.actor("admin"), event, now).await {
        return ApiError(unavailable("recording the key rotation failed", &e)).into_response();
    }
    no_store(axum::Json(summary).into_response())
}
