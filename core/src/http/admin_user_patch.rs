//! `PATCH /admin/users/{id}`: changes a user's profile, groups, roles, `disabled` and `external_id`
//! (each field given replaces the stored one; `null` removes an optional one). `If-Match`
//! with the user's `ETag` makes the change conditional: 412 when the user changed meanwhile.
//! Without it, a change made meanwhile is read again and the patch applied on top of it.
//! Roles, groups with roles and people who hold a role are the `admin` role's to change
//! (`admin_grants.rs`). Disabling a user ends their sessions. Audited as `user_updated` (the fields' names) and
//! `user_status_changed`.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use serde_json::{Map, Value};

use super::admin_auth::{Admin, need};
use super::error::AdminError;
use crate::audit::AuditEvent;
use crate::oauth::error::unavailable;
use crate::state::AppState;
use crate::store::{Patched, UserPatch, UserRecord};

/// The fields a patch may have besides the profile's (`Profile::FIELDS`).
const FIELDS: &[&str] = &["groups", "roles", "disabled", "external_id"];

/// The version `If-Match` asks for: `None` without the header or with `*`.
pub(super) fn if_match(headers: &HeaderMap) -> Result<Option<u64>, AdminError> {
    let Some(v) = headers.get(header::IF_MATCH) else { return Ok(None) };
    let v = v.to_str().map_err(|_| AdminError::field("If-Match", "must be an ETag of this resource"))?.trim();
    if v == "*" {
        return Ok(None);
    }
    v.strip_prefix("W/")
        .unwrap_or(v)
        .strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .and_then(|t| t.parse().ok())
        .map(Some)
        .ok_or_else(|| AdminError::field("If-Match", "must be an ETag of this resource"))
}

/// An optional string field: absent (`None`), removed (`Some(None)`) or set.
pub(super) fn optional(body: &Map<String, Value>, field: &'static str) -> Result<Option<Option<String>>, AdminError> {
    match body.get(field) {
        None => Ok(None),
        Some(Value::Null) => Ok(Some(None)),
        Some(Value::String(s)) => Ok(Some(Some(s.clone()))),
        Some(_) => Err(AdminError::field(field, "must be a string or null")),
    }
}

/// The patch `body` makes to `current`.
fn patch_of(body: &Map<String, Value>, current: &UserRecord) -> Result<UserPatch, AdminError> {
    super::admin_users::unknown_field(body, FIELDS, "unknown or unchangeable field")?;
    let mut patch = UserPatch::default();
    let mut profile = current.profile.clone();
    let mut touched = false;
    for (field, slot) in profile.fields_mut() {
        if let Some(v) = optional(body, field)? {
            *slot = v;
            touched = true;
        }
    }
    if touched {
        crate::users::profile::check(&profile).map_err(|e| AdminError::field(e.field, e.why))?;
        patch.profile = Some(profile);
    }
    if let Some(g) = body.get("groups") {
        patch.groups = Some(super::admin_users::groups_of(g)?);
    }
    if let Some(r) = body.get("roles") {
        patch.roles = Some(super::admin_grants::roles_of(r)?);
    }
    match body.get("disabled") {
        None => {}
        Some(Value::Bool(b)) => patch.disabled = Some(*b),
        Some(_) => return Err(AdminError::field("disabled", "must be true or false")),
    }
    if let Some(x) = optional(body, "external_id")? {
        super::admin_users::check_external_id(x.as_deref())?;
        patch.external_id = Some(x);
    }
    Ok(patch)
}

/// `PATCH /admin/users/{id}` with a JSON object.
pub async fn user_patch(
    State(state): State<AppState>,
    admin: Admin<need::UserAdmin>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, AdminError> {
    let body = super::admin_json::object(&body)?;
    let asked = if_match(&headers)?;
    let users = state.db.users();
    let now = state.clock.now();
    let read = |e: &dyn std::fmt::Display| AdminError::from(unavailable("reading a user failed", e));
    // Without If-Match a change made meanwhile is read again (a few times at most).
    let (before, after) = 'retry: {
        for _ in 0..3 {
            let Some(current) = users.get_user(&id).await.map_err(|e| read(&e))? else {
                return Err(AdminError::NotFound("no user has this id"));
            };
            if asked.is_some_and(|v| v != current.version) {
                return Err(AdminError::PreconditionFailed);
            }
            let patch = patch_of(&body, &current)?;
            let (roles, groups) = (patch.roles.as_deref(), patch.groups.as_deref());
            super::admin_grants::check(&state, &admin, Some(&current), roles, groups).await?;
            match users.patch_user(&id, Some(current.version), &patch, now.unix_timestamp()).await {
                Ok(Patched::Updated(u)) => break 'retry (current, *u),
                Ok(Patched::Stale(_)) if asked.is_none() => continue,
                Ok(Patched::Stale(_)) => return Err(AdminError::PreconditionFailed),
                Ok(Patched::Missing) => return Err(AdminError::NotFound("no user has this id")),
                Err(e) => return Err(unavailable("updating a user failed", &e).into()),
            }
        }
        return Err(AdminError::Unavailable(std::time::Duration::from_secs(1)));
    };
    let record = |e: &dyn std::fmt::Display| AdminError::from(unavailable("recording a user change failed", e));
    let mut fields: Vec<String> = body.keys().cloned().collect();
    fields.sort();
    let event = AuditEvent::UserUpdated { user_id: after.id.clone(), fields };
    state.audit.record(admin.actor(), event, now).await.map_err(|e| record(&e))?;
    if before.disabled != after.disabled {
        let event = AuditEvent::UserStatusChanged { username: after.username.clone(), disabled: after.disabled };
        state.audit.record(admin.actor(), event, now).await.map_err(|e| record(&e))?;
    }
    if after.disabled && !before.disabled {
        let by = (&admin.actor(), "disabled");
        crate::users::sessions::sign_out_everywhere(&state.db, &state.audit, &after.id, by, now)
            .await
            .map_err(|e| read(&e))?;
    }
    Ok(super::admin_users::with_etag(StatusCode::OK, &after))
}
