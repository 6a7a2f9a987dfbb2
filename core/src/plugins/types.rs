//! The domain side of policy decisions (what the rest of the server passes in and gets
//! back) and of plugin failures. No WIT types here: `convert.rs` maps them.

use std::net::IpAddr;
use std::time::Duration;

use time::OffsetDateTime;

use super::{bindings, registry};

/// Where a policy decision is asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyStage {
    /// `/authorize`, after sign-in, before a code is issued.
    Authorize,
    /// `/token` (client_credentials, authorization_code).
    Token,
    /// `/token` with a refresh token.
    Refresh,
    /// `/userinfo`.
    Userinfo,
}

impl PolicyStage {
    /// Lower-case name (audit, logs).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Authorize => "authorize",
            Self::Token => "token",
            Self::Refresh => "refresh",
            Self::Userinfo => "userinfo",
        }
    }
}

/// The user a decision is about.
#[derive(Debug, Clone, Copy)]
pub struct SubjectFacts<'a> {
    /// `sub`.
    pub id: &'a str,
    /// Sign-in name.
    pub username: &'a str,
    /// Email address.
    pub email: Option<&'a str>,
    /// Whether it was verified.
    pub email_verified: bool,
    /// Groups.
    pub groups: &'a [String],
    /// Authentication methods of the session (RFC 8176).
    pub amr: &'a [String],
}

/// What a policy decides about.
#[derive(Debug, Clone, Copy)]
pub struct PolicyRequest<'a> {
    /// Where.
    pub stage: PolicyStage,
    /// The request id.
    pub request_id: &'a str,
    /// The client.
    pub client_id: &'a str,
    /// Caller's address.
    pub remote_ip: Option<IpAddr>,
    /// Caller's user agent.
    pub user_agent: Option<&'a str>,
    /// Now.
    pub now: OffsetDateTime,
    /// The user, if any.
    pub subject: Option<SubjectFacts<'a>>,
    /// Grant type at the token endpoint.
    pub grant_type: Option<&'a str>,
    /// Scopes the request would get.
    pub scopes: &'a [String],
    /// Audiences of the access token.
    pub audiences: &'a [String],
    /// Further facts.
    pub attributes: &'a [(&'a str, String)],
}

/// The combined decision of all policies.
#[derive(Debug, Clone, PartialEq)]
pub enum PolicyVerdict {
    /// Go on with these scopes (never wider than requested) and extra claims (never
    /// reserved ones).
    Allow {
        /// Scopes kept.
        scopes: Vec<String>,
        /// Claims to add.
        claims: serde_json::Map<String, serde_json::Value>,
    },
    /// Refused; the reason is for logs and audit only.
    Deny {
        /// The plugin's reason.
        reason: String,
    },
    /// The listed authentication methods are required first.
    StepUp {
        /// RFC 8176 method names.
        methods: Vec<String>,
    },
}

/// One plugin's part in a run (audit).
#[derive(Debug, Clone)]
pub struct PolicyDecision {
    /// The plugin.
    pub plugin: PluginRef,
    /// `allow`, `deny`, `step_up` or `error`.
    pub outcome: &'static str,
    /// Deny reason, step-up methods or failure.
    pub reason: Option<String>,
    /// Time taken.
    pub took: Duration,
    /// The scopes it was asked about (narrowed by the plugins before it).
    pub scopes_in: Vec<String>,
    /// On allow, the scopes it kept.
    pub granted: Option<Vec<String>>,
}

/// A shadow plugin's decision, compared with the enforced one.
#[derive(Debug, Clone)]
pub struct ShadowDecision {
    /// The plugin.
    pub plugin: PluginRef,
    /// `allow`, `deny`, `step_up` or `error`.
    pub outcome: &'static str,
    /// Deny reason, step-up methods or failure.
    pub reason: Option<String>,
    /// Time taken.
    pub took: Duration,
    /// Whether `outcome` is the enforced outcome.
    pub agree: bool,
}

/// The result of running the policies.
#[derive(Debug, Clone)]
pub struct PolicyOutcome {
    /// The combined verdict, or the failure that stopped the run.
    pub verdict: Result<PolicyVerdict, Failure>,
    /// Each plugin that ran, in order.
    pub decisions: Vec<PolicyDecision>,
}

/// A plugin by name, digest and labels (logs and audit).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginRef {
    /// Configured name.
    pub name: String,
    /// SHA-256 of the component, hex.
    pub sha256: String,
    /// Operator's version label.
    pub version: Option<String>,
    /// WIT package version it implements.
    pub wit: &'static str,
}

impl PluginRef {
    pub(crate) fn of(p: &registry::LoadedPlugin) -> Self {
        Self {
            name: p.config.name.clone(),
            sha256: p.sha256_hex.clone(),
            version: p.config.version.clone(),
            wit: bindings::WIT_VERSION,
        }
    }
}

/// Why a plugin call produced no decision. Every kind fails closed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FailureKind {
    /// A trap: panic, abort, stack overflow, bad memory access...
    #[error("trap: {0}")]
    Trap(String),
    /// Over the wall timeout.
    #[error("timeout")]
    Timeout,
    /// Over the CPU budget.
    #[error("CPU budget exhausted")]
    CpuBudget,
    /// Over the memory limit.
    #[error("out of memory")]
    OutOfMemory,
    /// `max_concurrency` calls already running (or the instance pool is full).
    #[error("busy")]
    Busy,
    /// The circuit breaker is open.
    #[error("circuit breaker open")]
    BreakerOpen,
    /// The plugin answered with something the host refuses.
    #[error("bad output: {0}")]
    BadOutput(String),
}

impl FailureKind {
    /// Metric label.
    pub(crate) fn label(&self) -> &'static str {
        match self {
            Self::Trap(_) => "trap",
            Self::Timeout => "timeout",
            Self::CpuBudget => "cpu_budget",
            Self::OutOfMemory => "out_of_memory",
            Self::Busy => "busy",
            Self::BreakerOpen => "breaker_open",
            Self::BadOutput(_) => "bad_output",
        }
    }
}

/// A plugin failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// Which.
    pub plugin: PluginRef,
    /// How.
    pub kind: FailureKind,
    /// When a client may try again.
    pub retry_after: Duration,
}
