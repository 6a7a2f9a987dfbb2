//! Asking the policy plugins (ARCHITECTURE §5) and recording their decisions: every plugin
//! decision becomes an audit record (plugin name, sha256, version label, WIT version, the
//! input it saw and its digest, the outcome), which `gatehouse policy replay` re-runs; deny
//! reasons go to the log and the audit log, never to the client. Shadow plugins' decisions
//! are recorded as `policy_shadow_decision`. Callers map [`Refusal`] to their protocol: `/token` 403 `access_denied` or 503
//! `temporarily_unavailable`, `/authorize` an `access_denied` redirect, `/userinfo` 403.

use std::time::Duration;

use serde_json::{Map, Value, json};

use super::error::OAuthError;
use crate::audit::AuditLog;
use crate::audit::{Actor, AuditEvent, PolicyInputRecord, PolicySubjectRecord};
use crate::plugins::PluginHost;
use crate::plugins::{PolicyRequest, PolicyVerdict, ShadowDecision};
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
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// A plugin denied.
    Denied,
    /// A plugin asked for these authentication methods (RFC 8176 `amr` values) first.
    StepUp {
        /// The methods, as the plugin named them.
        methods: Vec<String>,
    },
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
            // No browser here to ask: the client sends the person through /authorize again.
            Self::StepUp { .. } => OAuthError::InteractionRequired,
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

    /// Runs the policy plugins on `req`. Without policy plugins this allows at once. Shadow
    /// plugins run after the answer is known, on a task of their own: they never change it
    /// nor delay it.
    pub(crate) async fn decide(&self, req: &PolicyRequest<'_>, actor: Actor) -> Result<Allowed, Refusal> {
        let snapshot = self.plugins.policies();
        if snapshot.is_empty() {
            return Ok(Allowed { scopes: req.scopes.to_vec(), claims: Map::new() });
        }
        let shadows = snapshot.shadow_run(req);
        let outcome = snapshot.evaluate(req).await;
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
                granted_scopes: d.granted.clone(),
                input: Some(Box::new(input_record(req, &d.scopes_in))),
            };
            self.audit.emit(actor.clone(), event, req.now);
        }
        let enforced = match &outcome.verdict {
            Ok(PolicyVerdict::Allow { .. }) => "allow",
            Ok(PolicyVerdict::Deny { .. }) => "deny",
            Ok(PolicyVerdict::StepUp { .. }) => "step_up",
            Err(_) => "error",
        };
        if let Some(run) = shadows {
            let record = ShadowRecord {
                audit: self.audit.clone(),
                actor: actor.clone(),
                stage: req.stage.as_str(),
                client_id: req.client_id.to_owned(),
                user_id,
                input_sha256,
                now: req.now,
            };
            tokio::spawn(async move {
                let decisions = run.run(enforced).await;
                record.emit(enforced, &decisions);
            });
        }
        match outcome.verdict {
            Ok(PolicyVerdict::Allow { scopes, claims }) => Ok(Allowed { scopes, claims }),
            Ok(PolicyVerdict::Deny { reason }) => {
                tracing::info!(request_id = req.request_id, client_id = req.client_id, stage = req.stage.as_str(), %reason, "policy denied");
                Err(Refusal::Denied)
            }
            // Nobody to ask for another factor (client_credentials): a deny.
            Ok(PolicyVerdict::StepUp { .. }) if req.subject.is_none() => {
                tracing::info!(
                    request_id = req.request_id,
                    client_id = req.client_id,
                    "policy asked a client for a step-up: denied"
                );
                Err(Refusal::Denied)
            }
            Ok(PolicyVerdict::StepUp { methods }) => {
                tracing::info!(
                    request_id = req.request_id,
                    client_id = req.client_id,
                    stage = req.stage.as_str(),
                    methods = %methods.join(" "),
                    "policy asked for a step-up"
                );
                Err(Refusal::StepUp { methods })
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

/// What the shadow decisions of one request are recorded with.
struct ShadowRecord {
    audit: AuditLog,
    actor: Actor,
    stage: &'static str,
    client_id: String,
    user_id: Option<String>,
    input_sha256: String,
    now: time::OffsetDateTime,
}

impl ShadowRecord {
    fn emit(self, enforced: &str, decisions: &[ShadowDecision]) {
        for d in decisions {
            if !d.agree {
                tracing::info!(
                    request_id = self.actor.request_id.as_deref().unwrap_or_default(),
                    plugin = %d.plugin.name,
                    shadow = d.outcome,
                    enforced,
                    "shadow policy disagrees"
                );
            }
            let event = AuditEvent::PolicyShadowDecision {
                plugin: d.plugin.name.clone(),
                sha256: d.plugin.sha256.clone(),
                version: d.plugin.version.clone(),
                stage: self.stage.to_owned(),
                client_id: self.client_id.clone(),
                user_id: self.user_id.clone(),
                input_sha256: self.input_sha256.clone(),
                outcome: d.outcome.to_owned(),
                enforced: enforced.to_owned(),
                agree: d.agree,
                reason: d.reason.clone(),
                micros: u64::try_from(d.took.as_micros()).unwrap_or(u64::MAX),
            };
            self.audit.emit(self.actor.clone(), event, self.now);
        }
    }
}

/// The input a plugin saw (asked about `scopes`), as the audit record keeps it.
fn input_record(req: &PolicyRequest<'_>, scopes: &[String]) -> PolicyInputRecord {
    PolicyInputRecord {
        stage: req.stage.as_str().to_owned(),
        client_id: req.client_id.to_owned(),
        now_ms: crate::audit::unix_ms(req.now),
        remote_ip: req.remote_ip.map(|ip| ip.to_string()),
        user_agent: req.user_agent.map(str::to_owned),
        subject: req.subject.map(|s| PolicySubjectRecord {
            id: s.id.to_owned(),
            username: s.username.to_owned(),
            email: s.email.map(str::to_owned),
            email_verified: s.email_verified,
            groups: s.groups.to_vec(),
            amr: s.amr.to_vec(),
        }),
        grant_type: req.grant_type.map(str::to_owned),
        scopes: scopes.to_vec(),
        audiences: req.audiences.to_vec(),
        attributes: req.attributes.iter().map(|(k, v)| ((*k).to_owned(), v.clone())).collect(),
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
