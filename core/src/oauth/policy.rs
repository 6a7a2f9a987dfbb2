//! Asking the policy plugins (ARCHITECTURE §5) and recording their decisions: every plugin
//! decision becomes an audit record (plugin name, sha256, version label, WIT version, a
//! digest of the input, the outcome); deny reasons go to the log and the audit log, never to
//! the client. Callers map [`Refusal`] to their protocol: `/token` 403 `access_denied` or 503
//! `temporarily_unavailable`, `/authorize` an `access_denied` redirect, `/userinfo` 403.

use std::time::Duration;

use serde_json::{Map, Value, json};

use super::error::OAuthError;
use crate::audit::AuditLog;
use crate::audit::{Actor, AuditEvent};
use crate::plugins::PluginHost;
use crate::plugins::{PolicyRequest, PolicyVerdict};
use crate::secret::sha256_hex;

/// What the policies allowed.
#[derive(Debug, Clone, Default)]
pub(crate) struct Allowed {
    /// Scopes kept (never more than requested).
    pub scopes: Vec<String>,
    /// Claims to add to the tokens (never reserved ones).
    pub claims: Map<String, Value>,
}

/// Why the policies did not allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// A plugin denied (or asked for a step-up that cannot be done yet).
    Denied,
    /// A plugin failed (trap, timeout, memory, busy, open breaker): fail closed.
    Unavailable {
        /// When to try again.
        retry_after: Duration,
    },
}

impl Refusal {
    /// The token endpoint's answer (RFC 6749 §5.2).
    pub(crate) fn oauth_error(self) -> OAuthError {
        match self {
            Self::Denied => OAuthError::AccessDenied,
            Self::Unavailable { retry_after } => OAuthError::TemporarilyUnavailable { retry_after },
        }
    }
}

/// The policy plugins and the audit log their decisions go to: what a service holds to ask
/// them.
#[derive(Clone)]
pub struct Policies {
    plugins: PluginHost,
    audit: AuditLog,
}

impl Policies {
    /// Asks `plugins`, recording into `audit`.
    pub fn new(plugins: PluginHost, audit: AuditLog) -> Self {
        Self { plugins, audit }
    }

    /// Whether any policy plugin is loaded (without one every request is allowed as asked).
    pub(crate) fn any(&self) -> bool {
        self.plugins.has_policies()
    }

    /// Runs the policy plugins on `req`. Without policy plugins this allows at once.
    pub(crate) async fn decide(&self, req: &PolicyRequest<'_>, actor: Actor) -> Result<Allowed, Refusal> {
        if !self.plugins.has_policies() {
            return Ok(Allowed { scopes: req.scopes.to_vec(), claims: Map::new() });
        }
        let outcome = self.plugins.evaluate_policy(req).await;
        let input_sha256 = input_digest(req);
        let user_id = req.subject.map(|s| s.id.to_owned());
        for d in &outcome.decisions {
            let event = AuditEvent::PolicyDecision {
                plugin: d.plugin.name.clone(),
                sha256: d.plugin.sha256.clone(),
                version: d.plugin.version.clone(),
                wit: d.plugin.wit.to_owned(),
                stage: req.stage.as_str().to_owned(),
                client_id: req.client_id.to_owned(),
                user_id: user_id.clone(),
                input_sha256: input_sha256.clone(),
                outcome: d.outcome.to_owned(),
                reason: d.reason.clone(),
                micros: u64::try_from(d.took.as_micros()).unwrap_or(u64::MAX),
            };
            self.audit.emit(actor.clone(), event, req.now);
        }
        match outcome.verdict {
            Ok(PolicyVerdict::Allow { scopes, claims }) => Ok(Allowed { scopes, claims }),
            Ok(PolicyVerdict::Deny { reason }) => {
                tracing::info!(request_id = req.request_id, client_id = req.client_id, stage = req.stage.as_str(), %reason, "policy denied");
                Err(Refusal::Denied)
            }
            Ok(PolicyVerdict::StepUp { methods }) => {
                tracing::warn!(
                    request_id = req.request_id,
                    client_id = req.client_id,
                    methods = %methods.join(" "),
                    "policy asked for a step-up, but this server has no MFA yet: denied"
                );
                Err(Refusal::Denied)
            }
            Err(f) => {
                tracing::warn!(
                    request_id = req.request_id,
                    plugin = %f.plugin.name,
                    failure = %f.kind,
                    "policy plugin failed: the request is refused (fail closed)"
                );
                Err(Refusal::Unavailable { retry_after: f.retry_after })
            }
        }
    }
}

/// SHA-256 of the decision's input facts (audit: which input led to which outcome, without
/// copying personal data into every record).
fn input_digest(req: &PolicyRequest<'_>) -> String {
    let facts = json!({
        "stage": req.stage.as_str(),
        "client_id": req.client_id,
        "sub": req.subject.map(|s| s.id),
        "grant_type": req.grant_type,
        "scopes": req.scopes,
        "audiences": req.audiences,
    });
    sha256_hex(facts.to_string().as_bytes())
}
