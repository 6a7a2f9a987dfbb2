//! `/admin/notifications`: the notification queue for operators: what waits (with its last
//! error) and what was given up on, and putting a dead letter back in the queue. Message
//! bodies are not shown, and a webhook URL only by its origin (such URLs often carry a
//! token).

use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::admin_auth::Admin;
use super::error::{AdminError, no_store};
use crate::audit::{AuditEvent, format_time_ms, unix_ms};
use crate::oauth::error::unavailable;
use crate::oauth::params::Params;
use crate::plugins::Channel;
use crate::state::AppState;
use crate::store::notify_queue::Queued;

/// Most entries of each list in one answer.
const LIST_LIMIT: usize = 200;

fn view(q: &Queued) -> Value {
    let recipient = match q.message.channel {
        Channel::Webhook => url::Url::parse(&q.message.recipient)
            .map(|u| u.origin().ascii_serialization())
            .unwrap_or_else(|_| "(invalid URL)".into()),
        _ => q.message.recipient.clone(),
    };
    json!({
        "id": q.message.id,
        "plugin": q.plugin,
        "event": q.message.template,
        "channel": q.message.channel.as_str(),
        "recipient": recipient,
        "attempts": q.attempts,
        "created": format_time_ms(q.created_ms),
        "due": format_time_ms(q.due_ms),
        "last_error": q.last_error,
    })
}

/// `GET /admin/notifications`: queued messages and dead letters.
pub async fn notifications_get(State(state): State<AppState>, _admin: Admin) -> Result<Response, AdminError> {
    let queue = state.db.notify();
    let lists = match queue.notify_queued(LIST_LIMIT).await {
        Ok(q) => queue.notify_dead(LIST_LIMIT).await.map(|d| (q, d)),
        Err(e) => Err(e),
    };
    match lists {
        Ok((queued, dead)) => {
            let dead: Vec<Value> = dead
                .iter()
                .map(|d| {
                    let mut v = view(&d.queued);
                    v["reason"] = json!(d.reason);
                    v["dead_since"] = json!(format_time_ms(d.dead_ms));
                    v
                })
                .collect();
            let queued: Vec<Value> = queued.iter().map(view).collect();
            Ok(no_store(axum::Json(json!({ "queued": queued, "dead": dead })).into_response()))
        }
        Err(e) => Err(unavailable("reading the notification queue failed", &e).into()),
    }
}

/// `POST /admin/notifications/retry` with `id=<message id>`: the dead letter goes back in
/// the queue, due now, with its attempts reset.
pub async fn notifications_retry_post(
    State(state): State<AppState>,
    admin: Admin,
    RawQuery(query): RawQuery,
    body: axum::body::Bytes,
) -> Result<Response, AdminError> {
    let from_body = Params::parse(&body).ok().and_then(|p| p.one("id").ok().flatten().map(str::to_owned));
    let from_query = query
        .as_deref()
        .and_then(|q| Params::parse(q.as_bytes()).ok())
        .and_then(|p| p.one("id").ok().flatten().map(str::to_owned));
    let Some(id) = from_body.or(from_query).filter(|id| !id.is_empty() && id.len() <= 128) else {
        return Err(AdminError::field("id", "is required: a dead letter's message id"));
    };
    let now = state.clock.now();
    match state.db.notify().notify_revive(&id, unix_ms(now)).await {
        Ok(true) => {
            let event = AuditEvent::NotificationRetried { id: id.clone() };
            if let Err(e) = state.audit.record(admin.actor(), event, now).await {
                return Err(unavailable("recording the retry failed", &e).into());
            }
            Ok(no_store(axum::Json(json!({ "requeued": id })).into_response()))
        }
        Ok(false) => Err(AdminError::NotFound("no dead letter has this id")),
        Err(e) => Err(unavailable("requeueing a notification failed", &e).into()),
    }
}
