//! The admin API's roles. `admin` may do everything; `user-admin` manages users, groups,
//! sessions and factor resets; `client-admin` manages clients; `auditor` reads and verifies
//! the audit log and the metrics. The `[admin]` token is the bootstrap credential and has
//! every role; a client with `roles` gets them in its client_credentials tokens for the
//! audience [`ADMIN_AUDIENCE`]. People hold the roles granted to them and to the groups they
//! belong to ([`of_user`]), through an access token for that audience (a client whose
//! `audiences` include it, such as an admin console). Roles are read from the client or
//! the user when the token is used, so taking a role away takes effect at once.

/// The audience of access tokens for the admin API.
pub const ADMIN_AUDIENCE: &str = "gatehouse-admin";

/// The role names, as configured.
pub const NAMES: &[&str] = &["admin", "user-admin", "client-admin", "auditor"];

/// A role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Everything.
    Admin,
    /// Users, groups, sessions, factor resets.
    UserAdmin,
    /// Clients.
    ClientAdmin,
    /// Audit read, verify, export; metrics.
    Auditor,
}

impl Role {
    /// The role called `name`.
    pub fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "admin" => Self::Admin,
            "user-admin" => Self::UserAdmin,
            "client-admin" => Self::ClientAdmin,
            "auditor" => Self::Auditor,
            _ => return None,
        })
    }

    /// Its name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::UserAdmin => "user-admin",
            Self::ClientAdmin => "client-admin",
            Self::Auditor => "auditor",
        }
    }
}

/// Whether holding `held` (role names) allows what needs `needed`: the role itself, or `admin`.
pub fn allows(held: &[String], needed: Role) -> bool {
    held.iter().filter_map(|r| Role::parse(r)).any(|r| r == needed || r == Role::Admin)
}

/// The roles `user` holds: its own and its groups' (groups without a record grant none).
pub async fn of_user(
    groups: &dyn crate::store::GroupStore,
    user: &crate::store::UserRecord,
) -> Result<Vec<String>, crate::store::StoreError> {
    let mut held = user.roles.clone();
    for name in &user.groups {
        if let Some(g) = groups.find_group(name).await? {
            held.extend(g.roles);
        }
    }
    held.sort();
    held.dedup();
    Ok(held)
}

/// The role names of `roles` that are not roles, for an error naming them.
pub fn unknown(roles: &[String]) -> Vec<&str> {
    roles.iter().map(String::as_str).filter(|r| Role::parse(r).is_none()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admin_allows_everything_and_others_only_themselves() {
        let held = |r: &[&str]| r.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert!(allows(&held(&["admin"]), Role::Auditor));
        assert!(allows(&held(&["auditor"]), Role::Auditor));
        assert!(!allows(&held(&["auditor"]), Role::Admin));
        assert!(!allows(&held(&["user-admin", "nonsense"]), Role::ClientAdmin));
        assert!(NAMES.iter().all(|n| Role::parse(n).map(Role::name) == Some(*n)));
    }
}
