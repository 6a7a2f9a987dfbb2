//! Who may hand out admin roles. Roles are granted to users directly (`roles`) and through
//! groups with roles; both, and any change to a person who holds a role, need the `admin`
//! role, so that a `user-admin` can neither raise anyone (themselves included) nor alter or
//! lock out someone above them.

use serde_json::Value;

use super::admin_auth::{Admin, Needs};
use super::error::AdminError;
use crate::admin_roles::{Role, of_user, unknown};
use crate::oauth::error::unavailable;
use crate::state::AppState;
use crate::store::UserRecord;

/// The `roles` field: an array of role names (each one of `admin_roles::NAMES`).
pub(super) fn roles_of(v: &Value) -> Result<Vec<String>, AdminError> {
    let Value::Array(list) = v else { return Err(AdminError::field("roles", "must be an array of role names")) };
    let roles: Vec<String> = list
        .iter()
        .map(|r| r.as_str().map(str::to_owned).ok_or_else(|| AdminError::field("roles", "must be strings")))
        .collect::<Result<_, _>>()?;
    let bad = unknown(&roles);
    if let Some(first) = bad.first() {
        let known = crate::admin_roles::NAMES.join(", ");
        let first: String = first.chars().take(64).collect();
        return Err(AdminError::field("roles", format!("`{first}` is no role (roles: {known})")));
    }
    Ok(roles)
}

/// What a change to a user's roles or groups asks of the caller: `admin` when `before` (the
/// user as stored, `None` for a new one) holds a role, when `roles` are given, or when
/// `groups` add a group that carries roles.
pub(super) async fn check<N: Needs>(
    state: &AppState,
    admin: &Admin<N>,
    before: Option<&UserRecord>,
    roles: Option<&[String]>,
    groups: Option<&[String]>,
) -> Result<(), AdminError> {
    if admin.holds(Role::Admin) {
        return Ok(());
    }
    let unavailable = |e| AdminError::from(unavailable("reading roles failed", &e));
    let forbidden = || Err(AdminError::Forbidden(Role::Admin.name()));
    if roles.is_some_and(|r| !r.is_empty() || before.is_some_and(|b| !b.roles.is_empty())) {
        return forbidden();
    }
    if let Some(user) = before
        && !of_user(state.db.groups(), user).await.map_err(unavailable)?.is_empty()
    {
        return forbidden();
    }
    let had = before.map_or(&[][..], |b| b.groups.as_slice());
    for name in groups.unwrap_or_default().iter().filter(|g| !had.contains(g)) {
        if state.db.groups().find_group(name).await.map_err(unavailable)?.is_some_and(|g| !g.roles.is_empty()) {
            return forbidden();
        }
    }
    Ok(())
}
