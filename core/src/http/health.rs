//! Liveness.

use axum::response::{IntoResponse, Response};

/// `GET /ping` → `{"status":"ok"}`.
pub async fn ping_get() -> Response {
    ([(axum::http::header::CONTENT_TYPE, "application/json")], r#"{"status":"ok"}"#).into_response()
}
