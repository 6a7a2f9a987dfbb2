//! `POST /admin/policy/replay?name=&since=&until=&limit=`: the body is a candidate policy
//! component (`application/wasm`); the answer is the replay report of the named plugin's
//! recorded decisions (`audit/replay.rs`). Bounded: at most `limit` decisions (default
//! 10,000, at most 100,000) and four fifths of `server.request_timeout`, and it runs on the
//! blocking pool with an engine of its own, so live requests keep their workers and slots.

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Response};

use super::admin_auth::Admin;
use super::error::{AdminError, no_store};
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

fn asked(raw: &str) -> Result<Asked, AdminError> {
    let p = Params::parse(raw.as_bytes())
        .map_err(|_| AdminError::Invalid { field: None, description: "the query string is malformed".into() })?;
    let one = |k: &'static str| p.one(k).map_err(|_| AdminError::field(k, "is repeated"));
    let time = |k: &'static str| -> Result<Option<i64>, AdminError> {
        one(k)?
            .map(|v| crate::audit::parse_time_ms(v).ok_or_else(|| AdminError::field(k, "must be an RFC 3339 time")))
            .transpose()
    };
    let limit = match one("limit")? {
        None => DEFAULT_LIMIT,
        Some(v) => match v.parse::<u64>() {
            Ok(n) if (1..=MAX_LIMIT).contains(&n) => n,
            _ => return Err(AdminError::field("limit", format!("must be a number from 1 to {MAX_LIMIT}"))),
        },
    };
    Ok(Asked { name: one("name")?.map(str::to_owned), since_ms: time("since")?, until_ms: time("until")?, limit })
}

/// `POST /admin/policy/replay`.
pub async fn policy_replay_post(
    State(state): State<AppState>,
    admin: Admin,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Result<Response, AdminError> {
    let asked = asked(query.as_deref().unwrap_or_default())?;
    if body.is_empty() {
        return Err(AdminError::Invalid {
            field: None,
            description: "the body must be the candidate component".into(),
        });
    }
    let path = std::path::Path::new("(request body)");
    let cfg = candidate_config(&state.config, asked.name.as_deref(), path)
        .map_err(|why| AdminError::field("name", why.replace("--name NAME", "name=")))?;
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
            return Err(AdminError::Unprocessable { error: "invalid_candidate", description: why });
        }
        Ok(Err(Stopped::Store(e))) => return Err(unavailable("reading the audit log failed", &e).into()),
        Err(e) => return Err(internal("replay task failed", &e).into()),
    };
    let changed =
        report.allow_to_deny + report.deny_to_allow + report.scopes_changed + report.other_changes + report.failures;
    let event = AuditEvent::PolicyReplayed {
        plugin: report.plugin.clone(),
        candidate_sha256: report.candidate_sha256.clone(),
        replayed: report.replayed,
        changed,
    };
    state.audit.emit(admin.actor(), event, state.clock.now());
    Ok(no_store(axum::Json(report).into_response()))
}
