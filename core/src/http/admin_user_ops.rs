//! What an operator does to one person besides editing them (role `user-admin`; a person who
//! holds a role is the `admin` role's, `admin_grants.rs`):
//! - `GET /admin/users/{id}/sessions`: their browser sessions;
//! - `DELETE /admin/users/{id}/sessions[/{sid}]`: ends them (or one), audited `session_ended`
//!   with reason `admin`;
//! - `POST /admin/users/{id}/mfa/reset`: removes every second factor (`mfa_removed`, by
//!   `admin`), for someone who lost their device;
//! - `DELETE /admin/users/{id}`: removes the person with their sessions, links, factors and
//!   consents (`user_deleted`, by id); their refresh tokens stop at once (a grant needs the
//!   user), access tokens already issued run out their short life;
//! - `POST /admin/users/{id}/password`: `{"password": "..."}` sets a new one and ends their
//!   sessions (`password_changed`), `{"send_link": true}` mails them a reset link
//!   (`password_reset_requested`) without the operator ever knowing the password.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::admin_auth::{Admin, need};
use super::admin_json::failed;
use super::error::{AdminError, no_store};
use crate::audit::AuditEvent;
use crate::oauth::error::unavailable;
use crate::secret::Secret;
use crate::state::AppState;
use crate::store::UserRecord;

/// The user `id`, whom the caller may act on.
async fn target(state: &AppState, admin: &Admin<need::UserAdmin>, id: &str) -> Result<UserRecord, AdminError> {
    let user = state
        .db
        .users()
        .get_user(id)
        .await
        .map_err(failed("reading a user failed"))?
        .ok_or(AdminError::NotFound("no user has this id"))?;
    super::admin_grants::check(state, admin, Some(&user), None, None).await?;
    Ok(user)
}

/// `GET /admin/users/{id}/sessions`.
pub async fn sessions_get(
    State(state): State<AppState>,
    admin: Admin<need::UserAdmin>,
    Path(id): Path<String>,
) -> Result<Response, AdminError> {
    let user = target(&state, &admin, &id).await?;
    let now = state.clock.now().unix_timestamp();
    let sessions = state.db.browser().user_sessions(&user.id, now).await.map_err(failed("listing sessions failed"))?;
    let time = |t: i64| crate::audit::format_time_ms(t.saturating_mul(1000));
    let list: Vec<Value> = sessions
        .iter()
        .map(|(_, s)| {
            json!({
                "sid": s.sid,
                "created_at": time(s.created_at),
                "last_seen": time(s.last_seen),
                "expires_at": time(s.expires_at),
                "auth_time": time(s.auth_time),
                "amr": s.amr,
                "idp": s.idp,
                "clients": s.clients,
                "user_agent": s.user_agent,
                "ip": s.ip,
            })
        })
        .collect();
    Ok(no_store(axum::Json(json!({ "sessions": list })).into_response()))
}

async fn end(
    state: &AppState,
    admin: &Admin<need::UserAdmin>,
    id: &str,
    sid: Option<&str>,
) -> Result<Vec<String>, AdminError> {
    let user = target(state, admin, id).await?;
    let by = (&admin.actor(), "admin");
    crate::users::sessions::end_all(state.db.browser(), &state.audit, &user.id, sid, by, state.clock.now())
        .await
        .map_err(failed("ending sessions failed"))
}

/// `DELETE /admin/users/{id}/sessions`: `{"ended": [sid, ...]}`.
pub async fn sessions_delete(
    State(state): State<AppState>,
    admin: Admin<need::UserAdmin>,
    Path(id): Path<String>,
) -> Result<Response, AdminError> {
    let ended = end(&state, &admin, &id, None).await?;
    Ok(no_store(axum::Json(json!({ "ended": ended })).into_response()))
}

/// `DELETE /admin/users/{id}/sessions/{sid}`: 204, or 404 when no such session is open.
pub async fn session_delete(
    State(state): State<AppState>,
    admin: Admin<need::UserAdmin>,
    Path((id, sid)): Path<(String, String)>,
) -> Result<Response, AdminError> {
    if end(&state, &admin, &id, Some(&sid)).await?.is_empty() {
        return Err(AdminError::NotFound("the user has no open session with this sid"));
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `POST /admin/users/{id}/mfa/reset`: `{"removed": true|false}`.
pub async fn mfa_reset_post(
    State(state): State<AppState>,
    admin: Admin<need::UserAdmin>,
    Path(id): Path<String>,
) -> Result<Response, AdminError> {
    let user = target(&state, &admin, &id).await?;
    let now = state.clock.now();
    let removed = state
        .sign_in
        .mfa
        .remove_all(&user.id, now.unix_timestamp())
        .await
        .map_err(|e| AdminError::from(unavailable("removing the second factors failed", &e)))?;
    if removed {
        let event = AuditEvent::MfaRemoved { user_id: user.id.clone(), by: "admin".to_owned() };
        state.audit.record(admin.actor(), event, now).await.map_err(failed("recording failed"))?;
    }
    Ok(no_store(axum::Json(json!({ "removed": removed })).into_response()))
}

/// `POST /admin/users/{id}/password` with `{"password"}` or `{"send_link": true}`.
pub async fn password_post(
    State(state): State<AppState>,
    admin: Admin<need::UserAdmin>,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Result<Response, AdminError> {
    let body = super::admin_json::object(&body)?;
    super::admin_json::refuse_unknown(&body, &["password", "send_link"], "unknown field")?;
    let user = target(&state, &admin, &id).await?;
    let now = state.clock.now();
    match (body.get("password"), body.get("send_link")) {
        (Some(Value::String(p)), None) => {
            crate::users::check_new_password(p).map_err(|why| AdminError::field("password", why))?;
            let hash = state
                .passwords
                .hash(Secret::new(p.clone()))
                .await
                .map_err(|e| AdminError::from(unavailable("hashing a password failed", &e)))?;
            let set = state.db.users().set_user_password(&user.id, &hash, now.unix_timestamp()).await;
            if !set.map_err(failed("setting a password failed"))? {
                return Err(AdminError::NotFound("no user has this id"));
            }
            let event = AuditEvent::PasswordChanged { username: user.username.clone() };
            state.audit.record(admin.actor(), event, now).await.map_err(failed("recording failed"))?;
            let by = (&admin.actor(), "password_set");
            let (ended, revoked) =
                crate::users::sessions::sign_out_everywhere(&state.db, &state.audit, &user.id, by, now)
                    .await
                    .map_err(failed("signing out failed"))?;
            let body = json!({ "sessions_ended": ended.len(), "refresh_tokens_revoked": revoked });
            Ok(no_store(axum::Json(body).into_response()))
        }
        (None, Some(Value::Bool(true))) => {
            if user.email.is_none() {
                return Err(AdminError::Unprocessable {
                    error: "no_email",
                    description: "the user has no email address to send a link to".into(),
                });
            }
            let sent = state
                .sign_in
                .send_reset_link(&user, admin.actor(), now)
                .await
                .map_err(failed("sending a link failed"))?;
            match sent {
                Some(notifiers) => Ok(no_store(axum::Json(json!({ "sent_to": notifiers })).into_response())),
                None => Err(AdminError::TooMany(std::time::Duration::from_secs(60))),
            }
        }
        (Some(_), None) => Err(AdminError::field("password", "must be a string")),
        (None, Some(_)) => Err(AdminError::field("send_link", "must be true")),
        _ => Err(AdminError::Invalid { field: None, description: "give either `password` or `send_link`".into() }),
    }
}

/// `DELETE /admin/users/{id}`: 204; 409 for a `[[users]]` entry of the config file (it
/// would be made again at the next start).
pub async fn user_delete(
    State(state): State<AppState>,
    admin: Admin<need::UserAdmin>,
    Path(id): Path<String>,
) -> Result<Response, AdminError> {
    let user = target(&state, &admin, &id).await?;
    if state.config.users.iter().any(|u| u.username == user.username) {
        return Err(AdminError::Conflict("this user is defined in the config file; remove it there first"));
    }
    let now = state.clock.now();
    let by = (&admin.actor(), "user_deleted");
    crate::users::sessions::sign_out_everywhere(&state.db, &state.audit, &user.id, by, now)
        .await
        .map_err(failed("signing out failed"))?;
    if state.db.users().delete_user(&user.id).await.map_err(failed("removing a user failed"))?.is_none() {
        return Err(AdminError::NotFound("no user has this id"));
    }
    let event = AuditEvent::UserDeleted { user_id: user.id };
    state.audit.record(admin.actor(), event, now).await.map_err(failed("recording failed"))?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
