//! The admin API's roles. `admin` may do everything; `user-admin` manages users, groups,
//! sessions and factor resets; `client-admin` manages clients; `auditor` reads and verifies
//! the audit log and the metrics. The `[admin]` token is the bootstrap credential and has
//! every role; a client with `roles` gets them in its client_credentials tokens for the
//! audience [`ADMIN_AUDIENCE`] (the roles are read from the client when the token is used,
//! so taking a role away takes effect at once).

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
