//! The HTTP surface: the only module that imports axum. One file per area; handlers are
//! thin (extract, call the domain, map the result).

mod admin;
mod backup;
mod dev;
pub mod error;
mod extract;
pub(crate) mod health;
mod introspect;
pub mod listener;
mod login;
mod middleware;
mod oidc;
mod pages;
pub mod paths;
mod token;
mod verify;

use axum::Router;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;

use crate::state::AppState;

/// The router for `state`.
pub fn router(state: AppState) -> Router {
    let mut r = Router::new()
        .route(paths::DISCOVERY, get(oidc::discovery_get))
        .route(paths::AS_METADATA, get(oidc::discovery_get))
        .route(paths::JWKS, get(oidc::jwks_get))
        .route(paths::PING, get(health::ping_get))
        .route(paths::READY, get(health::ready_get))
        .route(paths::TOKEN, post(token::token_post))
        .route(paths::INTROSPECT, post(introspect::introspect_post))
        .route(paths::REVOKE, post(introspect::revoke_post))
        .route(paths::VERIFY, post(verify::verify_post))
        .route(paths::AUTHORIZE, get(login::authorize).post(login::authorize))
        .route(paths::LOGIN, get(login::login_get).post(login::login_post))
        .route(paths::USERINFO, get(login::userinfo_handler).post(login::userinfo_handler))
        .route(paths::LOGOUT, get(login::logout_get).post(login::logout_post))
        .route(paths::STYLESHEET, get(login::stylesheet));
    if state.config.server.dev_mode {
        r = r.route(paths::TEST_TOKEN, get(dev::test_token_get));
    }
    if state.config.admin_token_sha256.is_some() {
        r = r
            .route(paths::ADMIN_KEYS_ROTATE, post(admin::keys_rotate_post))
            .route(paths::ADMIN_BACKUP, post(backup::backup_post))
            .route(paths::ADMIN_AUDIT_VERIFY, get(admin::audit_verify_get))
            .route(paths::ADMIN_AUDIT, get(admin::audit_get));
        if state.config.metrics_bind.is_none() {
            r = r.route(paths::METRICS, get(admin::metrics_get));
        }
    }
    let settings = std::sync::Arc::new(middleware::Settings {
        request_timeout: state.config.server.request_timeout,
        hsts: state.issuer.starts_with("https://"),
        metrics: state.metrics.clone(),
    });
    r.fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(panic_response))
        .layer(axum::middleware::from_fn_with_state(settings, middleware::request_context))
        .with_state(state)
}

async fn not_found() -> Response {
    (StatusCode::NOT_FOUND, axum::Json(json!({ "error": "not_found", "error_description": "no such endpoint" })))
        .into_response()
}

async fn method_not_allowed() -> Response {
    (
        StatusCode::METHOD_NOT_ALLOWED,
        axum::Json(json!({ "error": "invalid_request", "error_description": "method not allowed" })),
    )
        .into_response()
}

/// The router of the separate `[metrics] bind` listener: `GET /metrics`, no authentication.
pub fn metrics_router(metrics: std::sync::Arc<crate::metrics::Metrics>) -> Router {
    Router::new().route(
        paths::METRICS,
        get(move || {
            let m = metrics.clone();
            async move { health::metrics_text(&m) }
        }),
    )
}

fn panic_response(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    tracing::error!(request_id = %crate::logctx::current(), "a request handler panicked");
    error::ApiError(crate::oauth::error::OAuthError::ServerError).into_response()
}
