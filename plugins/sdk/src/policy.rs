//! Policy plugins: [`Policy::evaluate`] decides each request at authorize, token, refresh
//! and userinfo.

pub use crate::bindings::exports::gatehouse::plugin::policy::{Decision, Grant, PolicyInput, Stage};
pub use crate::bindings::gatehouse::plugin::types::{CallContext, Kv, Subject};

/// A policy. The host runs every enabled policy in config order; the first deny wins, and a
/// plugin that traps, runs out of time or memory denies (fail closed).
pub trait Policy {
    /// Decides one request.
    fn evaluate(input: PolicyInput) -> Decision;
}

impl Decision {
    /// Allow with the scopes requested and no extra claims.
    pub fn allow() -> Self {
        Decision::Allow(Grant { scopes: None, extra_claims: None })
    }

    /// Deny; the reason goes to the server's log and audit log, never to the user.
    pub fn deny(reason: impl Into<String>) -> Self {
        Decision::Deny(reason.into())
    }

    /// Require these authentication methods (RFC 8176 `amr` values such as `otp`, `hwk`).
    pub fn step_up<I, S>(methods: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Decision::StepUp(methods.into_iter().map(Into::into).collect())
    }
}

impl Grant {
    /// Allow with the scopes requested and no extra claims.
    pub fn new() -> Self {
        Grant { scopes: None, extra_claims: None }
    }

    /// Keep only these scopes (the host intersects them with the requested ones: a policy
    /// can narrow, never widen).
    pub fn scopes<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.scopes = Some(scopes.into_iter().map(Into::into).collect());
        self
    }

    /// Add claims (a JSON object) to the access and ID tokens. Reserved claims (`iss`, `sub`,
    /// `aud`, `exp`, ...) are dropped by the host.
    pub fn claims(mut self, claims: &serde_json::Value) -> Self {
        self.extra_claims = Some(claims.to_string());
        self
    }

    /// The decision that allows with this grant.
    pub fn allow(self) -> Decision {
        Decision::Allow(self)
    }
}

impl Default for Grant {
    fn default() -> Self {
        Self::new()
    }
}

impl PolicyInput {
    /// Whether `scope` was requested.
    pub fn requests_scope(&self, scope: &str) -> bool {
        self.requested_scopes.iter().any(|s| s == scope)
    }

    /// An attribute's value.
    pub fn attribute(&self, key: &str) -> Option<&str> {
        self.attributes.iter().find(|kv| kv.key == key).map(|kv| kv.value.as_str())
    }
}

impl Subject {
    /// Whether the user is in `group`.
    pub fn in_group(&self, group: &str) -> bool {
        self.groups.iter().any(|g| g == group)
    }

    /// The domain of the email address, lower-cased.
    pub fn email_domain(&self) -> Option<String> {
        let email = self.email.as_deref()?;
        let (_, domain) = email.rsplit_once('@')?;
        Some(domain.to_ascii_lowercase())
    }
}

/// Exports a [`Policy`] implementation as the component's `policy` interface.
#[macro_export]
macro_rules! export_policy {
    ($policy:path) => {
        #[allow(unsafe_code, reason = "wit-bindgen export glue")]
        mod __gatehouse_policy_export {
            #[allow(unused_imports)]
            use super::*;

            struct Export;

            impl $crate::bindings::exports::gatehouse::plugin::policy::Guest for Export {
                fn evaluate(input: $crate::policy::PolicyInput) -> $crate::policy::Decision {
                    <$policy as $crate::policy::Policy>::evaluate(input)
                }
            }

            $crate::bindings::__export_policy_world!(Export);
        }
    };
}
