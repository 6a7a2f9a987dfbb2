//! Liveness and readiness.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::state::AppState;

/// `GET /ping` → `{"status":"ok"}`: the process answers (no dependency is touched).
pub async fn ping_get() -> Response {
    ([(axum::http::header::CONTENT_TYPE, "application/json")], r#"{"status":"ok"}"#).into_response()
}

/// The Prometheus text exposition as a response.
pub async fn metrics_text(state: &AppState) -> Response {
    let now = state.clock.now().unix_timestamp();
    let idle = i64::try_from(state.config.sessions.idle_timeout.as_secs()).unwrap_or(i64::MAX);
    match state.db.browser().count_open_sessions(now, now.saturating_sub(idle)).await {
        Ok(n) => state.metrics.set_open_sessions(n),
        Err(e) => tracing::warn!(error = %e, "counting open sessions failed"),
    }
    let metrics = &state.metrics;
    (
        [(axum::http::header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")],
        metrics.render(),
    )
        .into_response()
}

/// `GET /ready`: 200 when the store answers a read and no policy plugin's circuit breaker
/// is open (token requests would all fail closed), else 503 naming the failing check. An
/// open breaker of another kind of plugin shows as `degraded` without failing readiness.
pub async fn ready_get(State(state): State<AppState>) -> Response {
    let store = match state.db.maintenance().ping().await {
        Ok(_) => "ok",
        Err(e) => {
            tracing::error!(request_id = %crate::logctx::current(), error = %e, "readiness: store check failed");
            "error"
        }
    };
    let (loaded, open) = state.plugins.health();
    let plugins = match open.iter().map(|(_, kind)| *kind).min_by_key(|k| *k != "policy") {
        None => "ok",
        Some("policy") => "error",
        Some(_) => "degraded",
    };
    let open_breakers: Vec<&str> = open.iter().map(|(name, _)| name.as_str()).collect();
    let ready = store == "ok" && plugins != "error";
    let status = if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    let body = json!({
        "status": if ready { "ready" } else { "unavailable" },
        "checks": { "store": store, "plugins": plugins },
        "store": { "backend": state.db.kind() },
        "plugins": { "loaded": loaded, "open_breakers": open_breakers },
    });
    (status, [(axum::http::header::CACHE_CONTROL, "no-store")], axum::Json(body)).into_response()
}
