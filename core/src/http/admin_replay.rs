//! `POST /admin/policy/replay?name=&since=&until=&limit=`: the body is a candidate policy
//! component (`application/wasm`); the answer is the replay report of the named plugin's
//! recorded decisions (`audit/replay.rs`). Bounded: at most `limit` decisions (default
//! 10,000, at most 100,000) and four fifths of `server.request_timeout`, and it runs on the
//! blocking pool with an engine of its own, so live requests keep their workers and slots.

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::admin::check_admin;
use super::error::{ApiError, no_store};
use super::extract::Meta;
use crate::audit::AuditEvent;
use crate::audit::replay::{Replay, ReplayFilter, candidate_config};
use crate::oauth::error::{internal, unavailable};
use crate::oauth::params::Params;
use crate::plugins::Candidate;
use crate::state::AppState;

/// Largest candidate component accepted.
pub(super) const MAX_COMPONENT_BYTES: usize = 64 << 20;
const DEFAULT_LIMIT: u64 = 10_000;
const MAX_LIMIT: u64 = 100_000;

fn refused(status: StatusCode, error: &str, description: String) -> Response {
    no_store((status, axum::Json(json!({ "error": error, "error_description": description }))).into_response())
}

/// Why a replay did not finish.
enum Stopped {
    /// The candidate cannot be loaded.
    Candidate(String),
    /// The audit log cannot be read.
    Store(crate::store::StoreError),
}

/// What the query asks.
struct Asked {
    name: Option<String>,
    since_ms: Option<i64>,
    until_ms: Option<i64>,
    limit: u64,
}

fn asked(raw: &str) -> Result<Asked, String> {
    let p = Params::parse(raw.as_bytes()).map_err(|e| e.to_string())?;
    let one = |k: &str| p.one(k).map_err(|e| format!("{k}: {e}"));
    let time = |k: &str| -> Result<Option<i64>, String> {
        one(k)?
            .map(|v| crate::audit::parse_time_ms(v).ok_or_else(|| format!("{k}: `{v}` is not an RFC 3339 time")))
            .transpose()
    };
    let limit = match one("limit")? {
        None => DEFAULT_LIMIT,
        Some(v) => match v.parse::<u64>() {
            Ok(n) if (1..=MAX_LIMIT).contains(&n) => n,
            _ => return Err(format!("limit: `{v}` is not a number from 1 to {MAX_LIMIT}")),
        },
    };
    Ok(Asked { name: one("name")?.map(str::to_owned), since_ms: time("since")?, until_ms: time("until")?, limit })
}

/// `POST /admin/policy/replay`.
pub async fn policy_replay_post(
    State(state): State<AppState>,
    Meta(meta): Meta,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    if let Err(resp) = check_admin(&state, &meta, &headers) {
        return *resp;
    }
    let asked = match asked(query.as_deref().unwrap_or_default()) {
        Ok(a) => a,
        Err(why) => return refused(StatusCode::BAD_REQUEST, "invalid_request", why),
    };
    if body.is_empty() {
        return refused(StatusCode::BAD_REQUEST, "invalid_request", "the body must be the candidate component".into());
    }
    let path = std::path::Path::new("(request body)");
    let cfg = match candidate_config(&state.config, asked.name.as_deref(), path) {
        Ok(c) => c,
        Err(why) => return refused(StatusCode::BAD_REQUEST, "invalid_request", why.replace("--name NAME", "name=")),
    };
    let filter = ReplayFilter { plugin: cfg.name.clone(), since_ms: asked.since_ms, until_ms: asked.until_ms };
    let settings = state.config.plugin_runtime;
    let budget = state.config.server.request_timeout.mul_f64(0.8);
    let db = state.db.clone();
    let limit = asked.limit;
    // Loading, compiling and the calls run on a blocking thread: the request workers stay free.
    let handle = tokio::runtime::Handle::current();
    let run = tokio::task::spawn_blocking(move || {
        handle.block_on(async move {
            let candidate = Candidate::load(body.to_vec(), cfg, settings).await.map_err(Stopped::Candidate)?;
            let mut replay = Replay::new(&candidate, filter, Some(limit), Some(budget));
            let mut records = crate::audit::records(db.audit(), 0);
            while let Some(r) = records.next().await {
                if !replay.offer(&r.map_err(Stopped::Store)?).await {
                    break;
                }
            }
            Ok::<_, Stopped>(replay.finish())
        })
    });
    let report = match run.await {
        Ok(Ok(report)) => report,
        Ok(Err(Stopped::Candidate(why))) => {
            return refused(StatusCode::UNPROCESSABLE_ENTITY, "invalid_candidate", why);
        }
        Ok(Err(Stopped::Store(e))) => return ApiError(unavailable("reading the audit log failed", &e)).into_response(),
        Err(e) => return ApiError(internal("replay task failed", &e)).into_response(),
    };
    let changed =
        report.allow_to_deny + report.deny_to_allow + report.scopes_changed + report.other_changes + report.failures;
    let event = AuditEvent::PolicyReplayed {
        plugin: report.plugin.clone(),
        candidate_sha256: report.candidate_sha256.clone(),
        replayed: report.replayed,
        changed,
    };
    state.audit.emit(meta.actor("admin"), event, state.clock.now());
    no_store(axum::Json(report).into_response())
}
