//! Extractors that turn HTTP into protocol inputs: form bodies with a size cap and a
//! content-type check, the Authorization header, and the peer address.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};

use super::error::ApiError;
use crate::oauth::RequestMeta;
use crate::oauth::error::OAuthError;
use crate::oauth::params::{MAX_FORM_BYTES, Params};

/// Reads a body of at most `limit` bytes; larger is 413.
pub async fn read_body(body: Body, limit: usize) -> Result<Bytes, OAuthError> {
    axum::body::to_bytes(body, limit).await.map_err(|e| {
        let too_large = std::error::Error::source(&e).is_some_and(|s| s.is::<http_body_util::LengthLimitError>())
            || e.into_inner().is::<http_body_util::LengthLimitError>();
        if too_large {
            OAuthError::PayloadTooLarge
        } else {
            OAuthError::InvalidRequest("the request body could not be read")
        }
    })
}

/// Whether the request declares `mime` (parameters such as charset allowed).
pub fn has_content_type(headers: &HeaderMap, mime: &str) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case(mime))
}

/// A form-encoded request body (RFC 6749 §3.2: `application/x-www-form-urlencoded`).
#[derive(Debug)]
pub struct FormParams(pub Params);

impl<S: Send + Sync> FromRequest<S> for FormParams {
    type Rejection = ApiError;

    async fn from_request(req: Request, _state: &S) -> Result<Self, Self::Rejection> {
        if !has_content_type(req.headers(), "application/x-www-form-urlencoded") {
            return Err(ApiError::OAuth(OAuthError::InvalidRequest(
                "the body must be application/x-www-form-urlencoded",
            )));
        }
        let bytes = read_body(req.into_body(), MAX_FORM_BYTES).await?;
        Ok(Self(Params::parse(&bytes)?))
    }
}

/// The `Authorization` header as text; refused when repeated or not visible ASCII.
pub fn authorization(headers: &HeaderMap) -> Result<Option<&str>, ApiError> {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    match (values.next(), values.next()) {
        (None, _) => Ok(None),
        (Some(v), None) => v
            .to_str()
            .map(Some)
            .map_err(|_| ApiError::OAuth(OAuthError::InvalidRequest("the Authorization header is malformed"))),
        (Some(_), Some(_)) => Err(ApiError::OAuth(OAuthError::InvalidRequest("the Authorization header is repeated"))),
    }
}

/// The `Authorization` header alone (cheaper than extracting the whole `HeaderMap`, which
/// axum clones); repeated or non-visible-ASCII values are `invalid_request`.
#[derive(Debug)]
pub struct Authorization(pub Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for Authorization {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(authorization(&parts.headers)?.map(str::to_owned)))
    }
}

/// The bearer token of an `Authorization: Bearer` header (RFC 6750 §2.1).
pub fn bearer(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// The request id the middleware assigned (a request extension).
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// The caller's address as the middleware resolved it (`client_ip.rs`: the peer, or the
/// address a trusted proxy names).
#[derive(Debug, Clone, Copy)]
pub struct ClientIp(pub IpAddr);

/// The caller's IP and the request id.
#[derive(Debug, Clone)]
pub struct Meta(pub RequestMeta);

impl<S: Send + Sync> FromRequestParts<S> for Meta {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let ip = match parts.extensions.get::<ClientIp>() {
            Some(c) => c.0,
            None => parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0.ip()),
        };
        let request_id = parts.extensions.get::<RequestId>().map(|r| r.0.clone()).unwrap_or_default();
        let origin = parts
            .headers
            .get(axum::http::header::ORIGIN)
            .and_then(|v| v.to_str().ok())
            .filter(|o| o.len() <= 256)
            .map(str::to_owned);
        // Shown to the person on the account page (their sessions); capped, printable only.
        let user_agent = parts
            .headers
            .get(axum::http::header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|ua| ua.chars().filter(|c| !c.is_control()).take(200).collect());
        Ok(Self(RequestMeta { ip, request_id, origin, user_agent }))
    }
}
