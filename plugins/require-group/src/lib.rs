//! Lets in only members of a group, puts the user's groups into the tokens, and keeps
//! sensitive scopes for the groups that may have them.
//!
//! ```toml
//! [[plugins]]
//! name = "staff-only"
//! kind = "policy"
//! path = "plugins/target/wasm32-wasip2/release/require_group.wasm"
//! [plugins.config]
//! group = "staff"                              # required membership
//! claim = "groups"                             # claim that lists the user's groups ("" for none)
//! restricted_scopes = { "admin" = "admins" }   # scope -> group whose members may have it
//! ```
//!
//! Clients acting for themselves (client_credentials, no user) are not affected.

use std::collections::BTreeMap;

use gatehouse_plugin::config;
use gatehouse_plugin::policy::{Decision, Grant, Policy, PolicyInput};

struct RequireGroup;

impl Policy for RequireGroup {
    fn evaluate(input: PolicyInput) -> Decision {
        let Some(subject) = input.subject.as_ref() else { return Decision::allow() };
        let group = match config::require("group") {
            Ok(g) => g,
            Err(e) => return Decision::deny(e),
        };
        if !subject.in_group(&group) {
            return Decision::deny(format!("not a member of {group}"));
        }
        let restricted = match config::get_as::<BTreeMap<String, String>>("restricted_scopes") {
            Ok(r) => r.unwrap_or_default(),
            Err(e) => return Decision::deny(e),
        };
        let scopes = input
            .requested_scopes
            .iter()
            .filter(|s| restricted.get(s.as_str()).is_none_or(|g| subject.in_group(g)))
            .cloned();
        let mut grant = Grant::new().scopes(scopes);
        let claim = config::get("claim").unwrap_or_else(|| "groups".to_owned());
        if !claim.is_empty() {
            grant = grant.claims(&serde_json::json!({ claim: subject.groups }));
        }
        grant.allow()
    }
}

gatehouse_plugin::export_policy!(RequireGroup);
