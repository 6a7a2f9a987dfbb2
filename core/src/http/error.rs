//! The one place protocol outcomes become HTTP responses. An [`ApiError`] is an error of one
//! surface, in that surface's shape: OAuth (RFC 6749 §5.2 `error`/`error_description`), a
//! protected resource (RFC 6750 §3: the status and a `WWW-Authenticate: Bearer` challenge),
//! the admin API (`error`, `error_description`, and `field` naming what was wrong); and
//! `/verify` outcomes. Each match is exhaustive; bodies carry fixed text or field names, never
//! request data.

use std::time::Duration;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::oauth::error::OAuthError;
use crate::oauth::verify::VerifyOutcome;
use crate::tokens::access::TokenProblem;

/// An HTTP error, in the shape of the surface it comes from.
#[derive(Debug)]
pub enum ApiError {
    /// The OAuth endpoints (token, introspection, revocation, ...).
    OAuth(OAuthError),
    /// A protected resource (userinfo).
    Bearer(BearerError),
    /// The admin API.
    Admin(AdminError),
}

impl From<OAuthError> for ApiError {
    fn from(e: OAuthError) -> Self {
        Self::OAuth(e)
    }
}

/// A protected resource's refusal (RFC 6750 §3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BearerError {
    /// No credentials at all: 401 with a bare challenge, no body.
    Missing,
    /// A malformed request (two tokens, a bad form): 400 `invalid_request`.
    InvalidRequest,
    /// Expired, revoked, forged: 401 `invalid_token`.
    InvalidToken,
    /// The token lacks `scope`: 403 `insufficient_scope`.
    InsufficientScope(&'static str),
    /// A policy refused (fail closed): 403 `access_denied`, no challenge.
    Denied,
    /// The store is down: 503 `temporarily_unavailable` with `Retry-After`.
    Unavailable,
}

/// An admin API refusal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdminError {
    /// No valid admin credential: 401 `invalid_token` with a Bearer challenge.
    Unauthorized,
    /// A valid credential without the role a route needs: 403 `insufficient_role`, naming it.
    Forbidden(&'static str),
    /// Bad input: 400 `invalid_request`, naming the field when one is at fault.
    Invalid {
        /// The query parameter or JSON field at fault.
        field: Option<&'static str>,
        /// What is wrong with it.
        description: String,
    },
    /// Nothing there: 404 `not_found`.
    NotFound(&'static str),
    /// Taken already (a username, an email): 409 `conflict`.
    Conflict(&'static str),
    /// `If-Match` names another version: 412 `precondition_failed`.
    PreconditionFailed,
    /// Well-formed but refused as a whole: 422 with its own `error` code.
    Unprocessable {
        /// The error code (`reload_failed`, `invalid_candidate`).
        error: &'static str,
        /// Why.
        description: String,
    },
    /// Too many failed admin authentications from this address: 429 with `Retry-After`.
    TooMany(Duration),
    /// The store is down: 503 with `Retry-After`.
    Unavailable(Duration),
    /// A fault of the server (logged where it happened): 500.
    Internal,
}

impl AdminError {
    /// `field` is at fault.
    pub fn field(field: &'static str, description: impl Into<String>) -> Self {
        Self::Invalid { field: Some(field), description: description.into() }
    }
}

/// Admin handlers use the OAuth helpers that log a store failure (`oauth::error::unavailable`,
/// `internal`): their outcome in the admin shape.
impl From<OAuthError> for AdminError {
    fn from(e: OAuthError) -> Self {
        match e {
            OAuthError::TemporarilyUnavailable { retry_after } => Self::Unavailable(retry_after),
            OAuthError::TooManyRequests { retry_after } => Self::TooMany(retry_after),
            OAuthError::ServerError => Self::Internal,
            other => Self::Invalid { field: None, description: other.description().to_owned() },
        }
    }
}

impl IntoResponse for AdminError {
    fn into_response(self) -> Response {
        ApiError::Admin(self).into_response()
    }
}

impl IntoResponse for BearerError {
    fn into_response(self) -> Response {
        ApiError::Bearer(self).into_response()
    }
}

/// Adds `Cache-Control: no-store` and `Pragma: no-cache` (RFC 6749 §5.1).
pub fn no_store(mut resp: Response) -> Response {
    let h = resp.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    resp
}

fn retry_after(resp: &mut Response, wait: Duration) {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    if let Ok(v) = HeaderValue::from_str(&secs.max(1).to_string()) {
        resp.headers_mut().insert(header::RETRY_AFTER, v);
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        no_store(match self {
            Self::OAuth(e) => oauth(&e),
            Self::Bearer(e) => bearer(e),
            Self::Admin(e) => admin(e),
        })
    }
}

fn oauth(e: &OAuthError) -> Response {
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
    let mut resp = (status, axum::Json(body)).into_response();
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

fn bearer(e: BearerError) -> Response {
    let (status, challenge, error): (_, &'static str, _) = match e {
        BearerError::Missing => (StatusCode::UNAUTHORIZED, "Bearer realm=\"gatehouse\"", ""),
        BearerError::InvalidRequest => (StatusCode::BAD_REQUEST, "Bearer error=\"invalid_request\"", "invalid_request"),
        BearerError::InvalidToken => (StatusCode::UNAUTHORIZED, "Bearer error=\"invalid_token\"", "invalid_token"),
        BearerError::InsufficientScope("openid") => {
            (StatusCode::FORBIDDEN, "Bearer error=\"insufficient_scope\", scope=\"openid\"", "insufficient_scope")
        }
        BearerError::InsufficientScope(_) => {
            (StatusCode::FORBIDDEN, "Bearer error=\"insufficient_scope\"", "insufficient_scope")
        }
        BearerError::Denied => (StatusCode::FORBIDDEN, "", "access_denied"),
        BearerError::Unavailable => (StatusCode::SERVICE_UNAVAILABLE, "", "temporarily_unavailable"),
    };
    let mut r = if error.is_empty() {
        status.into_response()
    } else {
        (status, axum::Json(json!({ "error": error }))).into_response()
    };
    if !challenge.is_empty() {
        r.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(challenge));
    }
    if e == BearerError::Unavailable {
        retry_after(&mut r, Duration::from_secs(1));
    }
    r
}

fn admin(e: AdminError) -> Response {
    let (status, error, description, field) = match e {
        AdminError::Unauthorized => {
            let body = json!({ "error": "invalid_token", "error_description": "a valid admin credential is required" });
            let mut r = (StatusCode::UNAUTHORIZED, axum::Json(body)).into_response();
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"gatehouse-admin\", error=\"invalid_token\""),
            );
            return r;
        }
        AdminError::Forbidden(role) => {
            let body = json!({
                "error": "insufficient_role",
                "error_description": format!("this needs the {role} role"),
                "role": role,
            });
            return (StatusCode::FORBIDDEN, axum::Json(body)).into_response();
        }
        AdminError::Invalid { field, description } => (StatusCode::BAD_REQUEST, "invalid_request", description, field),
        AdminError::NotFound(what) => (StatusCode::NOT_FOUND, "not_found", what.to_owned(), None),
        AdminError::Conflict(what) => (StatusCode::CONFLICT, "conflict", what.to_owned(), None),
        AdminError::PreconditionFailed => (
            StatusCode::PRECONDITION_FAILED,
            "precondition_failed",
            "the resource changed since that ETag; read it again".to_owned(),
            Some("If-Match"),
        ),
        AdminError::Unprocessable { error, description } => {
            (StatusCode::UNPROCESSABLE_ENTITY, error, description, None)
        }
        AdminError::TooMany(wait) => {
            let body =
                json!({ "error": "too_many_requests", "error_description": "too many failed attempts; retry later" });
            let mut r = (StatusCode::TOO_MANY_REQUESTS, axum::Json(body)).into_response();
            retry_after(&mut r, wait);
            return r;
        }
        AdminError::Unavailable(wait) => {
            let body = json!({ "error": "temporarily_unavailable", "error_description": "the store is unavailable; retry shortly" });
            let mut r = (StatusCode::SERVICE_UNAVAILABLE, axum::Json(body)).into_response();
            retry_after(&mut r, wait);
            return r;
        }
        AdminError::Internal => {
            (StatusCode::INTERNAL_SERVER_ERROR, "server_error", "the server failed; see its log".to_owned(), None)
        }
    };
    let mut body = json!({ "error": error, "error_description": description });
    if let Some(f) = field {
        body["field"] = json!(f);
    }
    (status, axum::Json(body)).into_response()
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
                retry_after(&mut r, Duration::from_secs(1));
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
