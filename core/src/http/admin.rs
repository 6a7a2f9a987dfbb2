//! `/admin/*`: operator actions on a running server, behind the admin bearer token
//! (`[admin] token_sha256` or `token_env`); not routed when neither is set. Failed admin
//! authentications have their own per-address count (`ratelimit::Limiter::admin_failed`).

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::error::{ApiError, no_store};
use super::extract::{Meta, authorization, bearer};
use crate::audit::AuditEvent;
use crate::oauth::RequestMeta;
use crate::oauth::error::{OAuthError, internal, unavailable};
use crate::oauth::params::Params;
use crate::secret::matches_sha256;
use crate::state::AppState;

fn unauthorized() -> Response {
    let mut r = (
        StatusCode::UNAUTHORIZED,
        axum::Json(json!({ "error": "invalid_token", "error_description": "a valid admin token is required" })),
    )
        .into_response();
    r.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer realm=\"gatehouse-admin\""));
    no_store(r)
}

/// Checks the admin token; `Err` is the response to send. A correct token always passes:
/// failures from the same address only turn later failures into 429s.
pub(super) fn check_admin(state: &AppState, meta: &RequestMeta, headers: &HeaderMap) -> Result<(), Box<Response>> {
    let ip = meta.ip;
    let Some(expected) = &state.config.admin_token_sha256 else {
        return Err(Box::new(StatusCode::NOT_FOUND.into_response()));
    };
    let presented = authorization(headers).ok().flatten().and_then(bearer);
    if presented.is_some_and(|t| matches_sha256(t.as_bytes(), expected)) {
        return Ok(());
    }
    tracing::warn!(request_id = %meta.request_id, %ip, "admin authentication failed");
    let now = state.clock.now();
    state.audit.emit(meta.actor("anonymous"), AuditEvent::AdminAuthFailed, now);
    Err(Box::new(match state.limiter.admin_failed(ip) {
        Some(retry_after) => {
            state.metrics.rate_limited("failed_admin_auth");
            state.audit.emit(
                meta.actor("anonymous"),
                AuditEvent::RateLimited { limit: "failed_admin_auth".into() },
                now,
            );
            ApiError(OAuthError::TooManyRequests { retry_after }).into_response()
        }
        None => unauthorized(),
    }))
}

/// `GET /metrics` on the main listener: admin token required (client ids are labels).
pub async fn metrics_get(State(state): State<AppState>, Meta(meta): Meta, headers: HeaderMap) -> Response {
    if let Err(resp) = check_admin(&state, &meta, &headers) {
        return *resp;
    }
    super::health::metrics_text(&state).await
}

/// `GET /admin/audit?actor=&type=&since=&until=&limit=&cursor=` (times RFC 3339).
pub async fn audit_get(
    State(state): State<AppState>,
    Meta(meta): Meta,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    if let Err(resp) = check_admin(&state, &meta, &headers) {
        return *resp;
    }
    let q = match audit_query(query.as_deref().unwrap_or_default()) {
        Ok(q) => q,
        Err(e) => return ApiError(e).into_response(),
    };
    let db = state.db.clone();
    // A scan over many records: on the blocking pool, not an async worker.
    let handle = tokio::runtime::Handle::current();
    match tokio::task::spawn_blocking(move || handle.block_on(crate::audit::query::run(db.audit(), &q))).await {
        Ok(Ok(page)) => no_store(axum::Json(page).into_response()),
        Ok(Err(e)) => ApiError(unavailable("reading the audit log failed", &e)).into_response(),
        Err(e) => ApiError(internal("audit query task failed", &e)).into_response(),
    }
}

fn audit_query(raw: &str) -> Result<crate::audit::query::AuditQuery, OAuthError> {
    use crate::audit::query::{AuditQuery, MAX_LIMIT};
    let p = Params::parse(raw.as_bytes())?;
    let time = |name: &str| -> Result<Option<i64>, OAuthError> {
        p.one(name)?
            .map(|v| {
                crate::audit::parse_time_ms(v)
                    .ok_or(OAuthError::InvalidRequest("since and until must be RFC 3339 times"))
            })
            .transpose()
    };
    let number = |name: &str, default: u64| -> Result<u64, OAuthError> {
        p.one(name)?.map_or(Ok(default), |v| {
            v.parse().map_err(|_| OAuthError::InvalidRequest("limit and cursor must be numbers"))
        })
    };
    let limit = usize::try_from(number("limit", 100)?).unwrap_or(usize::MAX);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(OAuthError::InvalidRequest("limit must be between 1 and 1000"));
    }
    Ok(AuditQuery {
        actor: p.one("actor")?.map(str::to_owned),
        event_type: p.one("type")?.map(str::to_owned),
        since_ms: time("since")?,
        until_ms: time("until")?,
        limit,
        cursor: number("cursor", 0)?,
    })
}

/// `GET /admin/audit/verify`: recomputes the chain and checks it against the signed
/// checkpoints; names the first record that does not verify (an unreadable one included).
pub async fn audit_verify_get(State(state): State<AppState>, Meta(meta): Meta, headers: HeaderMap) -> Response {
    if let Err(resp) = check_admin(&state, &meta, &headers) {
        return *resp;
    }
    let db = state.db.clone();
    // Hashing every record: on the blocking pool, not an async worker.
    let handle = tokio::runtime::Handle::current();
    let result = tokio::task::spawn_blocking(move || handle.block_on(crate::audit::verify_store(db.audit()))).await;
    let body = match result {
        Ok(Ok(Ok(v))) => {
            state.metrics.audit_chain_checked(true);
            serde_json::json!({ "ok": true, "records": v.records, "checkpoints": v.checkpoints })
        }
        Ok(Ok(Err(brk))) => {
            state.metrics.audit_chain_checked(false);
            serde_json::json!({ "ok": false, "broken_at": brk.seq, "reason": brk.reason })
        }
        Ok(Err(e)) => return ApiError(unavailable("reading the audit chain failed", &e)).into_response(),
        Err(e) => return ApiError(internal("audit verification task failed", &e)).into_response(),
    };
    no_store(axum::Json(body).into_response())
}

/// `POST /admin/keys/rotate`: new signing keys now; old ones stay published.
pub async fn keys_rotate_post(State(state): State<AppState>, Meta(meta): Meta, headers: HeaderMap) -> Response {
    if let Err(resp) = check_admin(&state, &meta, &headers) {
        return *resp;
    }
    let now = state.clock.now();
    let summary = match state.keys.rotate(now).await {
        Ok(summary) => summary,
        Err(e @ crate::tokens::keys::KeyError::Store(_)) => {
            return ApiError(unavailable("storing the rotated keys failed", &e)).into_response();
        }
        Err(e) => return ApiError(internal("key rotation failed", &e)).into_response(),
    };
    let event = AuditEvent::KeysRotated { trigger: "admin".into(), active: summary.active.clone() };
    if let Err(e) = state.audit.record(meta.actor("admin"), event, now).await {
        return ApiError(unavailable("recording the key rotation failed", &e)).into_response();
    }
    no_store(axum::Json(summary).into_response())
}

/// `POST /admin/plugins/reload`: loads the config file's plugins and swaps them in; on any
/// problem the running set stays and the answer says what is wrong (422).
pub async fn plugins_reload_post(State(state): State<AppState>, Meta(meta): Meta, headers: HeaderMap) -> Response {
    if let Err(resp) = check_admin(&state, &meta, &headers) {
        return *resp;
    }
    match crate::reload::reload_plugins(&state, meta.actor("admin"), "admin").await {
        Ok(plugins) => no_store(axum::Json(json!({ "plugins": plugins })).into_response()),
        Err(reason) => no_store(
            (
                StatusCode::UNPROCESSABLE_ENTITY,
                axum::Json(json!({ "error": "reload_failed", "error_description": reason })),
            )
                .into_response(),
        ),
    }
}

/// `GET /admin/plugins`: the loaded plugins (name, kind, sha256, version label, WIT version).
pub async fn plugins_get(State(state): State<AppState>, Meta(meta): Meta, headers: HeaderMap) -> Response {
    if let Err(resp) = check_admin(&state, &meta, &headers) {
        return *resp;
    }
    no_store(axum::Json(json!({ "plugins": state.plugins.loaded() })).into_response())
}
