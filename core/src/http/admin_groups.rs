//! `/admin/groups`: groups as records (role `user-admin`). A group's `name` is what its
//! members' `groups` hold and what tokens and policy plugins see; it is fixed at creation,
//! while `display_name`, `description`, `roles` and `external_id` change by PATCH (with
//! `If-Match`). Members are listed, added and removed under `/members`. A group with roles is
//! the `admin` role's to change, fill or remove (`admin_grants.rs`). Every change is audited
//! with the caller (`group_created`, `group_updated`, `group_deleted`,
//! `group_members_changed`).

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use super::admin_auth::{Admin, need};
use super::admin_json::{failed as store_error, object, refuse_unknown};
use super::admin_user_patch::{if_match, optional};
use super::admin_users::tagged;
use super::error::{AdminError, no_store};
use crate::admin_roles::Role;
use crate::audit::AuditEvent;
use crate::oauth::error::unavailable;
use crate::state::AppState;
use crate::store::groups::{GroupPatch, GroupRecord, name_key};
use crate::store::{Patched, StoreError, UserPatch, UserRecord};

/// A group as the admin API shows it.
fn view(g: &GroupRecord) -> Value {
    let time = |t: i64| crate::audit::format_time_ms(t.saturating_mul(1000));
    json!({
        "id": g.id,
        "name": g.name,
        "display_name": g.display_name,
        "description": g.description,
        "roles": g.roles,
        "external_id": g.external_id,
        "created_at": time(g.created_at),
        "updated_at": time(g.updated_at),
        "version": g.version,
    })
}

fn location(g: &GroupRecord) -> String {
    format!("{}/{}", super::paths::ADMIN_GROUPS, g.id)
}

/// A shown name or description: printable, `max` characters at most, not empty.
fn check_text(field: &'static str, v: Option<&str>, max: usize) -> Result<(), AdminError> {
    match v {
        Some(t) if t.trim().is_empty() || t.chars().count() > max || t.chars().any(char::is_control) => {
            Err(AdminError::field(field, format!("must be 1 to {max} printable characters")))
        }
        _ => Ok(()),
    }
}

/// The changeable fields of `body` as a patch.
fn patch_of(body: &Map<String, Value>) -> Result<GroupPatch, AdminError> {
    let mut patch = GroupPatch::default();
    if let Some(d) = optional(body, "display_name")? {
        let d = d.ok_or_else(|| AdminError::field("display_name", "cannot be removed"))?;
        check_text("display_name", Some(&d), 256)?;
        patch.display_name = Some(d);
    }
    if let Some(d) = optional(body, "description")? {
        check_text("description", d.as_deref(), 1024)?;
        patch.description = Some(d);
    }
    if let Some(r) = body.get("roles") {
        patch.roles = Some(super::admin_grants::roles_of(r)?);
    }
    if let Some(x) = optional(body, "external_id")? {
        super::admin_users::check_external_id(x.as_deref())?;
        patch.external_id = Some(x);
    }
    Ok(patch)
}

async fn group(state: &AppState, id: &str) -> Result<GroupRecord, AdminError> {
    state
        .db
        .groups()
        .get_group(id)
        .await
        .map_err(store_error("reading a group failed"))?
        .ok_or(AdminError::NotFound("no group has this id"))
}

/// `admin` for a group that carries roles.
fn guard<N: super::admin_auth::Needs>(admin: &Admin<N>, g: &GroupRecord) -> Result<(), AdminError> {
    if g.roles.is_empty() { Ok(()) } else { admin.require(Role::Admin) }
}

/// `GET /admin/groups`: every group, by name.
pub async fn groups_get(State(state): State<AppState>, _admin: Admin<need::UserAdmin>) -> Result<Response, AdminError> {
    let all = state.db.groups().list_groups().await.map_err(store_error("listing groups failed"))?;
    let groups: Vec<Value> = all.iter().map(view).collect();
    Ok(no_store(axum::Json(json!({ "groups": groups })).into_response()))
}

/// `POST /admin/groups` with `{"name", "display_name"?, "description"?, "roles"?,
/// "external_id"?}`: 201 with `Location` and `ETag`; 409 when the name is taken.
pub async fn groups_post(
    State(state): State<AppState>,
    admin: Admin<need::UserAdmin>,
    body: axum::body::Bytes,
) -> Result<Response, AdminError> {
    let body = object(&body)?;
    refuse_unknown(&body, &["name", "display_name", "description", "roles", "external_id"], "unknown field")?;
    let name = match body.get("name") {
        Some(Value::String(n)) => n.clone(),
        None | Some(Value::Null) => return Err(AdminError::field("name", "is required")),
        Some(_) => return Err(AdminError::field("name", "must be a string")),
    };
    crate::users::check_group(&name).map_err(|why| AdminError::field("name", why))?;
    let patch = patch_of(&body)?;
    if patch.roles.as_ref().is_some_and(|r| !r.is_empty()) {
        admin.require(Role::Admin)?;
    }
    let now = state.clock.now().unix_timestamp();
    let mut g = GroupRecord {
        id: uuid::Uuid::new_v4().to_string(),
        display_name: name.clone(),
        name,
        created_at: now,
        ..GroupRecord::default()
    };
    patch.apply(&mut g, now);
    match state.db.groups().create_group(&g).await {
        Ok(()) => {}
        Err(StoreError::Conflict(_)) => return Err(AdminError::Conflict("a group has this name")),
        Err(e) => return Err(unavailable("creating a group failed", &e).into()),
    }
    let event = AuditEvent::GroupCreated { group_id: g.id.clone(), name: g.name.clone() };
    state.audit.record(admin.actor(), event, state.clock.now()).await.map_err(store_error("recording failed"))?;
    Ok(tagged(StatusCode::CREATED, view(&g), g.version, Some(location(&g))))
}

/// `GET /admin/groups/{id}`.
pub async fn group_get(
    State(state): State<AppState>,
    _admin: Admin<need::UserAdmin>,
    Path(id): Path<String>,
) -> Result<Response, AdminError> {
    let g = group(&state, &id).await?;
    Ok(tagged(StatusCode::OK, view(&g), g.version, None))
}

/// `PATCH /admin/groups/{id}`: `display_name`, `description`, `roles`, `external_id`.
pub async fn group_patch(
    State(state): State<AppState>,
    admin: Admin<need::UserAdmin>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, AdminError> {
    let body = object(&body)?;
    refuse_unknown(&body, &["display_name", "description", "roles", "external_id"], "unknown or unchangeable field")?;
    let patch = patch_of(&body)?;
    let current = group(&state, &id).await?;
    guard(&admin, &current)?;
    if patch.roles.as_ref().is_some_and(|r| !r.is_empty()) {
        admin.require(Role::Admin)?;
    }
    let expected = if_match(&headers)?;
    let now = state.clock.now();
    let g = match state.db.groups().patch_group(&id, expected, &patch, now.unix_timestamp()).await {
        Ok(Patched::Updated(g)) => *g,
        Ok(Patched::Stale(_)) => return Err(AdminError::PreconditionFailed),
        Ok(Patched::Missing) => return Err(AdminError::NotFound("no group has this id")),
        Err(e) => return Err(unavailable("updating a group failed", &e).into()),
    };
    let mut fields: Vec<String> = body.keys().cloned().collect();
    fields.sort();
    let event = AuditEvent::GroupUpdated { group_id: g.id.clone(), fields };
    state.audit.record(admin.actor(), event, now).await.map_err(store_error("recording failed"))?;
    Ok(tagged(StatusCode::OK, view(&g), g.version, None))
}

/// Whether `user` names the group `name` (regardless of case, as names are unique).
fn is_member(user: &UserRecord, name: &str) -> bool {
    let key = name_key(name);
    user.groups.iter().any(|g| name_key(g) == key)
}

/// Adds `user_id` to, or removes them from, the group `name`; `Ok(None)` for no such user,
/// else whether anything changed. Another change to the user meanwhile is read again.
async fn set_member(state: &AppState, user_id: &str, name: &str, member: bool) -> Result<Option<bool>, AdminError> {
    let users = state.db.users();
    let now = state.clock.now().unix_timestamp();
    for _ in 0..5 {
        let Some(u) = users.get_user(user_id).await.map_err(store_error("reading a user failed"))? else {
            return Ok(None);
        };
        if is_member(&u, name) == member {
            return Ok(Some(false));
        }
        let groups = if member {
            u.groups.iter().cloned().chain([name.to_owned()]).collect()
        } else {
            u.groups.iter().filter(|g| name_key(g) != name_key(name)).cloned().collect()
        };
        let patch = UserPatch { groups: Some(groups), ..UserPatch::default() };
        match users.patch_user(user_id, Some(u.version), &patch, now).await {
            Ok(Patched::Updated(_)) => return Ok(Some(true)),
            Ok(Patched::Stale(_)) => continue,
            Ok(Patched::Missing) => return Ok(None),
            Err(e) => return Err(unavailable("updating a user failed", &e).into()),
        }
    }
    Err(AdminError::Unavailable(std::time::Duration::from_secs(1)))
}

async fn members(state: &AppState, g: &GroupRecord) -> Result<Vec<UserRecord>, AdminError> {
    let all = state.db.users().list_users().await.map_err(store_error("listing users failed"))?;
    Ok(all.into_iter().filter(|u| is_member(u, &g.name)).collect())
}

/// `DELETE /admin/groups/{id}`: 204; its members stop naming it first, so a failure half
/// way leaves the group to be deleted again, never a name that a new group would inherit.
pub async fn group_delete(
    State(state): State<AppState>,
    admin: Admin<need::UserAdmin>,
    Path(id): Path<String>,
) -> Result<Response, AdminError> {
    let g = group(&state, &id).await?;
    guard(&admin, &g)?;
    let mut removed = Vec::new();
    for u in members(&state, &g).await? {
        if set_member(&state, &u.id, &g.name, false).await? == Some(true) {
            removed.push(u.id);
        }
    }
    state.db.groups().delete_group(&id).await.map_err(store_error("removing a group failed"))?;
    let now = state.clock.now();
    let record = store_error("recording failed");
    if !removed.is_empty() {
        let event = AuditEvent::GroupMembersChanged { group_id: g.id.clone(), added: Vec::new(), removed };
        state.audit.record(admin.actor(), event, now).await.map_err(&record)?;
    }
    let event = AuditEvent::GroupDeleted { group_id: g.id.clone(), name: g.name.clone() };
    state.audit.record(admin.actor(), event, now).await.map_err(record)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `GET /admin/groups/{id}/members`: `{"members": [{"id", "username"}]}` by username.
pub async fn members_get(
    State(state): State<AppState>,
    _admin: Admin<need::UserAdmin>,
    Path(id): Path<String>,
) -> Result<Response, AdminError> {
    let g = group(&state, &id).await?;
    let list: Vec<Value> =
        members(&state, &g).await?.iter().map(|u| json!({ "id": u.id, "username": u.username })).collect();
    Ok(no_store(axum::Json(json!({ "members": list })).into_response()))
}

/// `PUT` (join) and `DELETE` (leave) `/admin/groups/{id}/members/{user_id}`: 204, also when
/// nothing changed; 404 for an unknown group or user.
async fn member_change(
    state: AppState,
    admin: Admin<need::UserAdmin>,
    (id, user_id): (String, String),
    member: bool,
) -> Result<Response, AdminError> {
    let g = group(&state, &id).await?;
    guard(&admin, &g)?;
    match set_member(&state, &user_id, &g.name, member).await? {
        None => Err(AdminError::NotFound("no user has this id")),
        Some(false) => Ok(StatusCode::NO_CONTENT.into_response()),
        Some(true) => {
            let (added, removed) = if member { (vec![user_id], Vec::new()) } else { (Vec::new(), vec![user_id]) };
            let event = AuditEvent::GroupMembersChanged { group_id: g.id, added, removed };
            let now = state.clock.now();
            state.audit.record(admin.actor(), event, now).await.map_err(store_error("recording failed"))?;
            Ok(StatusCode::NO_CONTENT.into_response())
        }
    }
}

/// `PUT /admin/groups/{id}/members/{user_id}`.
pub async fn member_put(
    State(state): State<AppState>,
    admin: Admin<need::UserAdmin>,
    Path(ids): Path<(String, String)>,
) -> Result<Response, AdminError> {
    member_change(state, admin, ids, true).await
}

/// `DELETE /admin/groups/{id}/members/{user_id}`.
pub async fn member_delete(
    State(state): State<AppState>,
    admin: Admin<need::UserAdmin>,
    Path(ids): Path<(String, String)>,
) -> Result<Response, AdminError> {
    member_change(state, admin, ids, false).await
}
