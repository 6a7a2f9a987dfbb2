//! Discovery and JWKS: precomputed bytes.

use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

use crate::state::AppState;

fn json_bytes(body: bytes::Bytes) -> Response {
    let mut resp = body.into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=300"));
    resp
}

/// `GET /.well-known/openid-configuration` (and the RFC 8414 path).
pub async fn discovery_get(State(state): State<AppState>) -> Response {
    json_bytes(state.discovery_json.clone())
}

/// `GET /jwks`: the active and still-published keys.
pub async fn jwks_get(State(state): State<AppState>) -> Response {
    json_bytes(state.keys.current().jwks_json.clone())
}
