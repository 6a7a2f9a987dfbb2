//! `/admin/*`: operator actions on a running server, behind the admin authentication
//! (`admin_auth.rs`); errors in the admin shape (`error::AdminError`).

use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::admin_auth::{Admin, need};
use super::error::{AdminError, no_store};
use crate::audit::AuditEvent;
use crate::oauth::error::{internal, unavailable};
use crate::oauth::params::Params;
use crate::state::AppState;

/// `GET /metrics` on the main listener: admin token required (client ids are labels).
pub async fn metrics_get(State(state): State<AppState>, _admin: Admin<need::Auditor>) -> Response {
    super::health::metrics_text(&state).await
}

/// `GET /admin/audit?actor=&type=&since=&until=&limit=&cursor=` (times RFC 3339).
pub async fn audit_get(
    State(state): State<AppState>,
    _admin: Admin<need::Auditor>,
    RawQuery(query): RawQuery,
) -> Result<Response, AdminError> {
    let q = audit_query(query.as_deref().unwrap_or_default())?;
    let db = state.db.clone();
    // A scan over many records: on the blocking pool, not an async worker.
    let handle = tokio::runtime::Handle::current();
    match tokio::task::spawn_blocking(move || handle.block_on(crate::audit::query::run(db.audit(), &q))).await {
        Ok(Ok(page)) => Ok(no_store(axum::Json(page).into_response())),
        Ok(Err(e)) => Err(unavailable("reading the audit log failed", &e).into()),
        Err(e) => Err(internal("audit query task failed", &e).into()),
    }
}

fn audit_query(raw: &str) -> Result<crate::audit::query::AuditQuery, AdminError> {
    use crate::audit::query::{AuditQuery, MAX_LIMIT};
    let p = Params::parse(raw.as_bytes())
        .map_err(|_| AdminError::Invalid { field: None, description: "the query string is malformed".into() })?;
    let one = |name: &'static str| p.one(name).map_err(|_| AdminError::field(name, "is repeated"));
    let time = |name: &'static str| -> Result<Option<i64>, AdminError> {
        one(name)?
            .map(|v| crate::audit::parse_time_ms(v).ok_or_else(|| AdminError::field(name, "must be an RFC 3339 time")))
            .transpose()
    };
    let number = |name: &'static str, default: u64| -> Result<u64, AdminError> {
        one(name)?.map_or(Ok(default), |v| v.parse().map_err(|_| AdminError::field(name, "must be a number")))
    };
    let limit = usize::try_from(number("limit", 100)?).unwrap_or(usize::MAX);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(AdminError::field("limit", format!("must be between 1 and {MAX_LIMIT}")));
    }
    Ok(AuditQuery {
        actor: one("actor")?.map(str::to_owned),
        event_type: one("type")?.map(str::to_owned),
        since_ms: time("since")?,
        until_ms: time("until")?,
        limit,
        cursor: number("cursor", 0)?,
    })
}

/// `GET /admin/audit/verify`: recomputes the chain and checks it against the signed
/// checkpoints; names the first record that does not verify (an unreadable one included).
pub async fn audit_verify_get(
    State(state): State<AppState>,
    _admin: Admin<need::Auditor>,
) -> Result<Response, AdminError> {
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
        Ok(Err(e)) => return Err(unavailable("reading the audit chain failed", &e).into()),
        Err(e) => return Err(internal("audit verification task failed", &e).into()),
    };
    Ok(no_store(axum::Json(body).into_response()))
}

/// `POST /admin/keys/rotate`: new signing keys now; old ones stay published.
pub async fn keys_rotate_post(State(state): State<AppState>, admin: Admin) -> Result<Response, AdminError> {
    let now = state.clock.now();
    let summary = match state.keys.rotate(now).await {
        Ok(summary) => summary,
        Err(e @ crate::tokens::keys::KeyError::Store(_)) => {
            return Err(unavailable("storing the rotated keys failed", &e).into());
        }
        Err(e) => return Err(internal("key rotation failed", &e).into()),
    };
    let event = AuditEvent::KeysRotated { trigger: "admin".into(), active: summary.active.clone() };
    if let Err(e) = state.audit.record(admin.actor(), event, now).await {
        return Err(unavailable("recording the key rotation failed", &e).into());
    }
    Ok(no_store(axum::Json(summary).into_response()))
}

/// `POST /admin/plugins/reload`: loads the config file's plugins and swaps them in; on any
/// problem the running set stays and the answer says what is wrong (422).
pub async fn plugins_reload_post(State(state): State<AppState>, admin: Admin) -> Result<Response, AdminError> {
    match crate::reload::reload_plugins(&state, admin.actor(), "admin").await {
        Ok(plugins) => Ok(no_store(axum::Json(json!({ "plugins": plugins })).into_response())),
        Err(reason) => Err(AdminError::Unprocessable { error: "reload_failed", description: reason }),
    }
}

/// `GET /admin/plugins`: the loaded plugins (name, kind, sha256, version label, WIT version).
pub async fn plugins_get(State(state): State<AppState>, _admin: Admin) -> Response {
    no_store(axum::Json(json!({ "plugins": state.plugins.loaded() })).into_response())
}
