//! Cross-cutting request handling: a request id on every request (accepted from
//! `X-Request-Id` when it is safe to log, otherwise generated), available to log sites via
//! [`crate::logctx`] and in a DEBUG request span, and returned in the response, a per-request timeout, and security headers on every
//! response (pages may set their own CSP first).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderName, HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tracing::Instrument as _;

use super::error::ApiError;
use crate::oauth::error::OAuthError;
use crate::secret::unique_id;

/// `X-Request-Id`.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// What the middleware needs from the config.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Longest time a request may take, body included.
    pub request_timeout: Duration,
    /// Send HSTS (the issuer is https).
    pub hsts: bool,
    /// Where requests are counted.
    pub metrics: Arc<crate::metrics::Metrics>,
    /// Proxies whose forwarding headers name the caller.
    pub proxies: super::client_ip::TrustedProxies,
}

/// A request id we accept from a client: 1-128 of `A-Z a-z 0-9 . _ -`.
fn acceptable(v: &HeaderValue) -> Option<&str> {
    let s = v.to_str().ok()?;
    let ok = !s.is_empty() && s.len() <= 128 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    ok.then_some(s)
}

/// The middleware.
pub async fn request_context(State(settings): State<Arc<Settings>>, mut req: Request, next: Next) -> Response {
    let id = req.headers().get(&REQUEST_ID).and_then(acceptable).map_or_else(unique_id, str::to_owned);
    req.extensions_mut().insert(super::extract::RequestId(id.clone()));
    if let Some(peer) = req.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip()) {
        let ip = settings.proxies.client_ip(peer, req.headers());
        req.extensions_mut().insert(super::extract::ClientIp(ip));
    }
    let started = crate::clock::monotonic();
    let route = req.extensions().get::<axum::extract::MatchedPath>().map_or("unmatched", |m| m.as_str()).to_owned();
    let method = req.method().clone();
    let span = tracing::debug_span!(
        "request",
        request_id = %id,
        method = %method,
        route = %route,
        path = %req.uri().path(),
        status = tracing::field::Empty,
        "otel.name" = %format_args!("{method} {route}"),
        "otel.kind" = "server",
        "otel.status_code" = tracing::field::Empty,
    );
    crate::telemetry::link_parent(&span, req.headers());
    let run = crate::logctx::scope(id.clone(), next.run(req).instrument(span.clone()));
    let mut resp = match tokio::time::timeout(settings.request_timeout, run).await {
        Ok(resp) => resp,
        Err(_) => {
            tracing::warn!(request_id = %id, %route, "request timed out");
            ApiError::OAuth(OAuthError::TemporarilyUnavailable { retry_after: Duration::from_secs(1) }).into_response()
        }
    };
    let status = resp.status().as_u16();
    span.record("status", status);
    if status >= 500 {
        span.record("otel.status_code", "ERROR");
    }
    settings.metrics.http_request(&route, method.as_str(), status, started.elapsed());
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&id) {
        h.insert(REQUEST_ID, v);
    }
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    if !h.contains_key(header::CONTENT_SECURITY_POLICY) {
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'"),
        );
    }
    if settings.hsts {
        h.insert(header::STRICT_TRANSPORT_SECURITY, HeaderValue::from_static("max-age=63072000; includeSubDomains"));
    }
    resp
}
