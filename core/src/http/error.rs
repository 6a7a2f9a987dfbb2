//! The one place protocol outcomes become HTTP responses: OAuth errors (RFC 6749 §5.2) and
//! `/verify` outcomes. Each match is exhaustive; bodies carry fixed text only.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::oauth::error::OAuthError;
use crate::oauth::verify::VerifyOutcome;
use crate::tokens::access::TokenProblem;

/// An OAuth error as a response.
#[derive(Debug)]
pub struct ApiError(pub OAuthError);

impl From<OAuthError> for ApiError {
    fn from(e: OAuthError) -> Self {
        Self(e)
    }
}

/// Adds `Cache-Control: no-store` and `Pragma: no-cache` (RFC 6749 §5.1).
pub fn no_store(mut resp: Response) -> Response {
    let h = resp.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    resp
}

fn retry_after(resp: &mut Response, wait: std::time::Duration) {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    if let Ok(v) = HeaderValue::from_str(&secs.max(1).to_string()) {
        resp.headers_mut().insert(header::RETRY_AFTER, v);
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let e = &self.0;
        let status = match e {
            OAuthError::InvalidRequest(_)
            | OAuthError::InvalidGrant(_)
            | OAuthError::UnauthorizedClient(_)
            | OAuthError::UnsupportedGrantType
            | OAuthError::InvalidScope
            | OAuthError::InvalidTarget => StatusCode::BAD_REQUEST,
            OAuthError::InvalidClient { .. } => StatusCode::UNAUTHORIZED,
            OAuthError::AccessDenied | OAuthError::InteractionRequired => StatusCode::FORBIDDEN,
            OAuthError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            OAuthError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            OAuthError::TemporarilyUnavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            OAuthError::ServerError => StatusCode::INTERNAL_SERVER_ERROR,
        };
        let body = json!({ "error": e.code(), "error_description": e.description() });
        let mut resp = no_store((status, axum::Json(body)).into_response());
        match e {
            OAuthError::InvalidClient { basic: true } => {
                resp.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Basic realm=\"gatehouse\", charset=\"UTF-8\""),
                );
            }
            OAuthError::TooManyRequests { retry_after: w } | OAuthError::TemporarilyUnavailable { retry_after: w } => {
                retry_after(&mut resp, *w);
            }
            _ => {}
        }
        resp
    }
}

/// A bad `/verify` request: 400 in the `/verify` shape.
pub fn verify_bad_request(description: &'static str) -> Response {
    let body = json!({ "active": false, "error": "invalid_request", "error_description": description });
    no_store((StatusCode::BAD_REQUEST, axum::Json(body)).into_response())
}

impl IntoResponse for VerifyOutcome {
    fn into_response(self) -> Response {
        let resp = match self {
            VerifyOutcome::Active(claims) => {
                (StatusCode::OK, axum::Json(json!({ "active": true, "claims": *claims }))).into_response()
            }
            VerifyOutcome::Inactive(TokenProblem::Unavailable) => {
                let mut r = (
                    StatusCode::SERVICE_UNAVAILABLE,
                    axum::Json(json!({ "active": false, "error": "temporarily_unavailable" })),
                )
                    .into_response();
                retry_after(&mut r, std::time::Duration::from_secs(1));
                r
            }
            VerifyOutcome::Inactive(
                reason @ (TokenProblem::Malformed
                | TokenProblem::BadSignature
                | TokenProblem::Expired
                | TokenProblem::Revoked
                | TokenProblem::WrongAudience),
            ) => {
                let body = json!({ "active": false, "error": "invalid_token", "reason": reason.to_string() });
                let mut r = (StatusCode::UNAUTHORIZED, axum::Json(body)).into_response();
                r.headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer error=\"invalid_token\""));
                r
            }
            VerifyOutcome::Limited(wait) => {
                let body = json!({ "active": false, "error": "too_many_requests", "error_description": "too many failed verifications; retry later" });
                let mut r = (StatusCode::TOO_MANY_REQUESTS, axum::Json(body)).into_response();
                retry_after(&mut r, wait);
                r
            }
        };
        no_store(resp)
    }
}
