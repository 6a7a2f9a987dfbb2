//! The passkey JSON endpoints (`oidc/passkeys.rs`) and the page script they serve. Bodies
//! must be `application/json` (so a cross-site form cannot post one), at most 64 KiB.

use axum::extract::{Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::error::no_store;
use super::extract::{Meta, has_content_type, read_body};
use super::pages::Cookies;
use crate::oidc::passkeys::{self, JsonReply};
use crate::state::AppState;

/// The largest body a ceremony sends (an attestation is a few KiB).
const MAX_BODY: usize = 64 * 1024;

/// The `flow` query parameter.
#[derive(Debug, serde::Deserialize)]
pub struct FlowQuery {
    flow: Option<String>,
}

fn answer(reply: JsonReply) -> Response {
    let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::BAD_REQUEST);
    let mut r = no_store((status, axum::Json(reply.body)).into_response());
    if status == StatusCode::SERVICE_UNAVAILABLE {
        r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    r
}

/// The JSON object of a request; a malformed one is answered here.
pub struct JsonObject(Value);

impl axum::extract::FromRequest<AppState> for JsonObject {
    type Rejection = Response;

    async fn from_request(req: axum::extract::Request, _state: &AppState) -> Result<Self, Self::Rejection> {
        let bad = |d: &str| {
            answer(JsonReply { status: 400, body: json!({ "error": "invalid_request", "error_description": d }) })
        };
        if !has_content_type(req.headers(), "application/json") {
            return Err(bad("the body must be application/json"));
        }
        let bytes =
            read_body(req.into_body(), MAX_BODY).await.map_err(|_| bad("the body is too large or unreadable"))?;
        match serde_json::from_slice::<Value>(&bytes) {
            Ok(v @ Value::Object(_)) => Ok(Self(v)),
            _ => Err(bad("the body is not a JSON object")),
        }
    }
}

/// `POST /login/passkey/begin?flow=…`.
pub async fn login_begin(
    State(state): State<AppState>,
    Query(q): Query<FlowQuery>,
    Cookies(cookies): Cookies,
    JsonObject(body): JsonObject,
) -> Response {
    let now = state.clock.now();
    answer(passkeys::login_begin(&state.sign_in, q.flow.as_deref(), &body, &cookies, now).await)
}

/// `POST /login/passkey/finish?flow=…`.
pub async fn login_finish(
    State(state): State<AppState>,
    Query(q): Query<FlowQuery>,
    Meta(meta): Meta,
    Cookies(cookies): Cookies,
    JsonObject(body): JsonObject,
) -> Response {
    let now = state.clock.now();
    answer(passkeys::login_finish(&state.sign_in, q.flow.as_deref(), &body, &cookies, &meta, now).await)
}

/// `POST /account/passkeys/register/begin`.
pub async fn register_begin(
    State(state): State<AppState>,
    Meta(meta): Meta,
    Cookies(cookies): Cookies,
    JsonObject(body): JsonObject,
) -> Response {
    let now = state.clock.now();
    answer(passkeys::register_begin(&state.sign_in, &body, &cookies, &meta, now).await)
}

/// `POST /account/passkeys/register/finish`.
pub async fn register_finish(
    State(state): State<AppState>,
    Meta(meta): Meta,
    Cookies(cookies): Cookies,
    JsonObject(body): JsonObject,
) -> Response {
    let now = state.clock.now();
    answer(passkeys::register_finish(&state.sign_in, &body, &cookies, &meta, now).await)
}

/// The page script.
pub async fn script_get() -> Response {
    let mut r = include_str!("../../templates/passkeys.js").into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/javascript; charset=utf-8"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=3600"));
    r
}
