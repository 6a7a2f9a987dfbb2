//! `/admin/users`: users for operators and provisioning tools (role `user-admin`): list with
//! a filter and cursor paging, read one (its `ETag` is its version), create one. Every JSON
//! field is checked and an unknown one is refused by name; a created user is audited as
//! `user_created` with the caller as the actor. Password hashes never leave the server.

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use super::admin_auth::{Admin, need};
use super::error::{AdminError, no_store};
use crate::audit::AuditEvent;
use crate::oauth::error::unavailable;
use crate::oauth::params::Params;
use crate::secret::Secret;
use crate::state::AppState;
use crate::store::{Profile, StoreError, UserRecord};

/// Most users in one page.
const MAX_LIMIT: usize = 500;

/// A user as the admin API shows it.
pub(super) fn view(u: &UserRecord) -> Value {
    let time = |t: i64| crate::audit::format_time_ms(t.saturating_mul(1000));
    let mut v = json!({
        "id": u.id,
        "username": u.username,
        "email": u.email,
        "email_verified": u.email_verified,
        "disabled": u.disabled,
        "groups": u.groups,
        "roles": u.roles,
        "external_id": u.external_id,
        "has_password": !u.password_hash.is_empty(),
        "created_at": time(u.created_at),
        "updated_at": time(u.updated_at),
        "version": u.version,
    });
    if let (Value::Object(out), Ok(Value::Object(profile))) = (&mut v, serde_json::to_value(&u.profile)) {
        out.extend(profile);
    }
    v
}

/// `ETag` of a version (RFC 9110 §8.8.3, a strong tag).
fn etag(version: u64) -> HeaderValue {
    HeaderValue::from_str(&format!("\"{version}\"")).unwrap_or_else(|_| HeaderValue::from_static("\"0\""))
}

/// `body` (a resource at `version`) with its `ETag`, and `Location` when given.
pub(super) fn tagged(status: StatusCode, body: Value, version: u64, location: Option<String>) -> Response {
    let mut r = no_store((status, axum::Json(body)).into_response());
    r.headers_mut().insert(header::ETAG, etag(version));
    if let Some(loc) = location.and_then(|l| HeaderValue::from_str(&l).ok()) {
        r.headers_mut().insert(header::LOCATION, loc);
    }
    r
}

pub(super) fn with_etag(status: StatusCode, u: &UserRecord) -> Response {
    tagged(status, view(u), u.version, None)
}

/// `GET /admin/users?q=&disabled=&limit=&cursor=`: users ordered by username; `q` matches
/// the start of the username or the email (case-insensitively), `cursor` is the
/// `next_cursor` of the page before.
pub async fn users_get(
    State(state): State<AppState>,
    _admin: Admin<need::UserAdmin>,
    RawQuery(query): RawQuery,
) -> Result<Response, AdminError> {
    let p = Params::parse(query.as_deref().unwrap_or_default().as_bytes())
        .map_err(|_| AdminError::Invalid { field: None, description: "the query string is malformed".into() })?;
    let one = |k: &'static str| p.one(k).map_err(|_| AdminError::field(k, "is repeated"));
    let q = one("q")?.map(str::to_lowercase);
    let disabled = match one("disabled")? {
        None => None,
        Some("true") => Some(true),
        Some("false") => Some(false),
        Some(_) => return Err(AdminError::field("disabled", "must be true or false")),
    };
    let limit = match one("limit")? {
        None => 100,
        Some(v) => match v.parse::<usize>() {
            Ok(n) if (1..=MAX_LIMIT).contains(&n) => n,
            _ => return Err(AdminError::field("limit", format!("must be a number from 1 to {MAX_LIMIT}"))),
        },
    };
    let mut cursor = one("cursor")?.map(str::to_owned);
    // Pages of the store's index until `limit + 1` users pass the `disabled` filter.
    let mut page: Vec<UserRecord> = Vec::new();
    loop {
        let chunk = state
            .db
            .users()
            .users_page(q.as_deref(), cursor.as_deref(), limit + 1)
            .await
            .map_err(|e| AdminError::from(unavailable("listing users failed", &e)))?;
        let exhausted = chunk.len() <= limit;
        cursor = chunk.last().map(|u| u.username.clone());
        page.extend(chunk.into_iter().filter(|u| disabled.is_none_or(|d| u.disabled == d)));
        if exhausted || page.len() > limit {
            break;
        }
    }
    page.truncate(limit + 1);
    let more = page.len() > limit;
    let users: Vec<Value> = page.iter().take(limit).map(view).collect();
    let mut body = json!({ "users": users });
    if more && let Some(last) = page.get(limit - 1) {
        body["next_cursor"] = json!(last.username);
    }
    Ok(no_store(axum::Json(body).into_response()))
}

/// `GET /admin/users/{id}`.
pub async fn user_get(
    State(state): State<AppState>,
    _admin: Admin<need::UserAdmin>,
    Path(id): Path<String>,
) -> Result<Response, AdminError> {
    match state.db.users().get_user(&id).await {
        Ok(Some(u)) => Ok(with_etag(StatusCode::OK, &u)),
        Ok(None) => Err(AdminError::NotFound("no user has this id")),
        Err(e) => Err(unavailable("reading a user failed", &e).into()),
    }
}

/// The fields a new user may have besides the profile's (`Profile::FIELDS`).
const CREATE_FIELDS: &[&str] = &["username", "email", "password", "groups", "roles", "external_id"];

/// The first field of `body` that is neither one of `own` nor a profile field, as the
/// refusal naming it (`what`).
pub(super) fn unknown_field(body: &Map<String, Value>, own: &[&str], what: &str) -> Result<(), AdminError> {
    super::admin_json::refuse_unknown(body, &[own, &Profile::FIELDS].concat(), what)
}

/// The `groups` field: an array of group names.
pub(super) fn groups_of(v: &Value) -> Result<Vec<String>, AdminError> {
    let Value::Array(list) = v else { return Err(AdminError::field("groups", "must be an array of names")) };
    list.iter()
        .map(|g| match g.as_str() {
            Some(g) => {
                crate::users::check_group(g).map(|()| g.to_owned()).map_err(|why| AdminError::field("groups", why))
            }
            None => Err(AdminError::field("groups", "must be strings")),
        })
        .collect()
}

/// The `external_id` field, when set: 1 to 256 printable characters.
pub(super) fn check_external_id(x: Option<&str>) -> Result<(), AdminError> {
    if x.is_some_and(|x| x.is_empty() || x.len() > 256 || x.chars().any(char::is_control)) {
        return Err(AdminError::field("external_id", "must be 1 to 256 printable characters"));
    }
    Ok(())
}

fn text<'a>(body: &'a Map<String, Value>, field: &'static str) -> Result<Option<&'a str>, AdminError> {
    match body.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(AdminError::field(field, "must be a string")),
    }
}

/// The user a creation body describes (the password still to hash).
fn new_user(body: &Map<String, Value>, now: time::OffsetDateTime) -> Result<(UserRecord, Option<String>), AdminError> {
    unknown_field(body, CREATE_FIELDS, "unknown field")?;
    let username = text(body, "username")?.ok_or_else(|| AdminError::field("username", "is required"))?;
    let username = crate::users::normalize_username(username).map_err(|why| AdminError::field("username", why))?;
    let email = text(body, "email")?
        .map(|e| crate::users::normalize_email(e).map_err(|why| AdminError::field("email", why)))
        .transpose()?;
    let password = text(body, "password")?.map(str::to_owned);
    if let Some(p) = &password {
        crate::users::check_new_password(p).map_err(|why| AdminError::field("password", why))?;
    }
    let groups = match body.get("groups") {
        None | Some(Value::Null) => Vec::new(),
        Some(v) => groups_of(v)?,
    };
    let roles = match body.get("roles") {
        None | Some(Value::Null) => Vec::new(),
        Some(v) => super::admin_grants::roles_of(v)?,
    };
    let external_id = text(body, "external_id")?.map(str::to_owned);
    check_external_id(external_id.as_deref())?;
    let mut profile = Profile::default();
    for (field, slot) in profile.fields_mut() {
        *slot = text(body, field)?.map(str::to_owned);
    }
    crate::users::profile::check(&profile).map_err(|e| AdminError::field(e.field, e.why))?;
    let mut user = crate::users::new_user(username, email, String::new(), now);
    user.groups = groups;
    user.roles = roles;
    user.external_id = external_id;
    user.profile = profile;
    Ok((user, password))
}

/// `POST /admin/users` with a JSON object: 201 with the user, `Location` and `ETag`; 409
/// when the username or email is taken.
pub async fn users_post(
    State(state): State<AppState>,
    admin: Admin<need::UserAdmin>,
    body: axum::body::Bytes,
) -> Result<Response, AdminError> {
    let body = super::admin_json::object(&body)?;
    let now = state.clock.now();
    let (mut user, password) = new_user(&body, now)?;
    super::admin_grants::check(&state, &admin, None, Some(&user.roles), Some(&user.groups)).await?;
    if let Some(p) = password {
        user.password_hash = state
            .passwords
            .hash(Secret::new(p))
            .await
            .map_err(|e| AdminError::from(unavailable("hashing a password failed", &e)))?;
    }
    match state.db.users().create_user(&user).await {
        Ok(()) => {}
        Err(StoreError::Conflict(_)) => return Err(AdminError::Conflict("the username or the email is taken")),
        Err(e) => return Err(unavailable("creating a user failed", &e).into()),
    }
    let created = state.db.users().get_user(&user.id).await.ok().flatten().unwrap_or(user);
    let event = AuditEvent::UserCreated { username: created.username.clone() };
    state
        .audit
        .record(admin.actor(), event, now)
        .await
        .map_err(|e| AdminError::from(unavailable("recording a new user failed", &e)))?;
    let location = format!("{}/{}", super::paths::ADMIN_USERS, created.id);
    Ok(tagged(StatusCode::CREATED, view(&created), created.version, Some(location)))
}
