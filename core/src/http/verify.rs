//! `POST /verify`: the token comes in a JSON body `{"token", "audience"}` or a Bearer
//! header, not both.

use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::error::{ApiError, verify_bad_request};
use super::extract::{Meta, authorization, bearer, has_content_type, read_body};
use crate::oauth;
use crate::state::AppState;

const MAX_VERIFY_BYTES: usize = 16 * 1024;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct VerifyBody {
    token: Option<String>,
    audience: Option<String>,
}

/// Verifies a token for a service.
pub async fn verify_post(State(state): State<AppState>, Meta(meta): Meta, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let header_token = match authorization(&parts.headers) {
        Ok(None) => None,
        Ok(Some(v)) => match bearer(v) {
            Some(t) => Some(t.to_owned()),
            None => return verify_bad_request("the Authorization header must be a Bearer token"),
        },
        Err(_) => return verify_bad_request("the Authorization header is malformed"),
    };
    let bytes = match read_body(body, MAX_VERIFY_BYTES).await {
        Ok(b) => b,
        Err(e) => return ApiError::OAuth(e).into_response(),
    };
    let parsed = if bytes.iter().all(u8::is_ascii_whitespace) {
        VerifyBody::default()
    } else if !has_content_type(&parts.headers, "application/json") {
        return verify_bad_request("the body must be application/json");
    } else {
        match serde_json::from_slice::<VerifyBody>(&bytes) {
            Ok(b) => b,
            Err(_) => return verify_bad_request("the body must be {\"token\": \"...\", \"audience\": \"...\"}"),
        }
    };
    let token = match (header_token, parsed.token) {
        (Some(_), Some(_)) => {
            return verify_bad_request("send the token in the body or the Authorization header, not both");
        }
        (None, None) => return verify_bad_request("a token is required"),
        (Some(t), None) | (None, Some(t)) => t,
    };
    let now = state.clock.now();
    oauth::verify::verify(&state.tokens, &token, parsed.audience.as_deref(), &meta, now).await.into_response()
}
