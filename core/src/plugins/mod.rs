//! Wasm plugins (ARCHITECTURE §5): the only module that imports wasmtime. The rest of the
//! server sees [`PluginHost`] and the domain types here; WIT types stay inside.
//!
//! - `bindings.rs`: the one `bindgen!`; `convert.rs`: WIT <-> domain.
//! - `engine.rs`: Engine, Linker, epoch ticker, a fresh Store per call with its limits.
//! - `limits.rs`: CPU meter, memory cap, circuit breaker.
//! - `registry.rs`: loading and checking a set of plugins.
//! - `call.rs`: the guard around every call; `policy.rs`: calling the policy plugins;
//!   `connector.rs`: identity-provider connectors; `check.rs`: `gatehouse plugins check`.
//! - `host/`: the imported interfaces, one file each.

mod bindings;
mod call;
mod check;
mod connector;
mod convert;
mod engine;
mod host;
mod limits;
mod policy;
mod registry;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use time::OffsetDateTime;

pub use check::{ComponentReport, check_component};
pub use connector::{BeginRequest, BeginResponse, CompleteRequest, ConnectorError, ConnectorInfo, ExternalIdentity};
pub use registry::LoadError;

use crate::config::{PluginConfig, PluginKind, PluginRuntimeConfig};
use crate::metrics::Metrics;

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
    fn of(p: &registry::LoadedPlugin) -> Self {
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
    fn label(&self) -> &'static str {
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
}

/// The result of running the policies.
#[derive(Debug, Clone)]
pub struct PolicyOutcome {
    /// The combined verdict, or the failure that stopped the run.
    pub verdict: Result<PolicyVerdict, Failure>,
    /// Each plugin that ran, in order.
    pub decisions: Vec<PolicyDecision>,
}

/// A loaded plugin, as reported to operators.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PluginInfo {
    /// Name.
    pub name: String,
    /// Kind.
    pub kind: &'static str,
    /// SHA-256 of the component.
    pub sha256: String,
    /// Version label.
    pub version: Option<String>,
    /// WIT package version.
    pub wit: &'static str,
    /// For a connector: what `describe` returned.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connector: Option<ConnectorInfo>,
}

/// The server's plugins: the runtime and the current set, swapped whole on reload.
#[derive(Clone)]
pub struct PluginHost(Arc<HostInner>);

struct HostInner {
    runtime: Option<engine::Runtime>,
    set: ArcSwap<registry::PluginSet>,
    metrics: Arc<Metrics>,
    reloading: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for PluginHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginHost").field("plugins", &self.loaded().len()).finish()
    }
}

impl PluginHost {
    /// Starts the runtime and loads `plugins` (compilation runs off the async workers). With
    /// no plugins configured there is no engine at all.
    pub async fn start(
        plugins: &[PluginConfig],
        settings: PluginRuntimeConfig,
        metrics: Arc<Metrics>,
    ) -> Result<Self, LoadError> {
        let runtime = if plugins.is_empty() {
            None
        } else {
            let max_memory = plugins.iter().map(|p| p.limits.memory_limit_bytes).max().unwrap_or(0);
            let rt = engine::Runtime::new(settings, max_memory).map_err(|problem| LoadError {
                index: 0,
                name: "(runtime)".into(),
                problem,
            })?;
            Some(rt)
        };
        let host = Self(Arc::new(HostInner {
            runtime,
            set: ArcSwap::from_pointee(registry::PluginSet::default()),
            metrics,
            reloading: tokio::sync::Mutex::new(()),
        }));
        if !plugins.is_empty() {
            let set = host.load(plugins).await?;
            host.0.set.store(Arc::new(set));
        }
        Ok(host)
    }

    /// Loads and checks a whole new set, then swaps it in; on any failure the current set
    /// stays. Calls in flight finish on the version they started with.
    pub async fn reload(&self, plugins: &[PluginConfig]) -> Result<Vec<PluginInfo>, LoadError> {
        let _one_at_a_time = self.0.reloading.lock().await;
        let set = self.load(plugins).await?;
        self.0.set.store(Arc::new(set));
        Ok(self.loaded())
    }

    async fn load(&self, plugins: &[PluginConfig]) -> Result<registry::PluginSet, LoadError> {
        let Some(rt) = self.0.runtime.as_ref() else {
            if let Some((index, p)) = plugins.iter().enumerate().next() {
                return Err(LoadError {
                    index,
                    name: p.name.clone(),
                    problem: "the server started without plugins; restart it to enable the plugin runtime".into(),
                });
            }
            return Ok(registry::PluginSet::default());
        };
        let host = self.clone();
        let plugins = plugins.to_vec();
        let loaded = tokio::task::spawn_blocking(move || {
            let rt = host.0.runtime.as_ref().ok_or_else(|| LoadError {
                index: 0,
                name: "(runtime)".into(),
                problem: "no runtime".into(),
            })?;
            registry::load_all(rt, &plugins, &|k| std::env::var(k).ok())
        })
        .await
        .map_err(|e| LoadError {
            index: 0,
            name: "(runtime)".into(),
            problem: format!("loading panicked: {e}"),
        })??;
        registry::finish_set(rt, loaded).await
    }

    /// Whether the server started with plugins (only then can it load others).
    pub fn runtime_started(&self) -> bool {
        self.0.runtime.is_some()
    }

    /// Whether any policy plugin is enabled.
    pub fn has_policies(&self) -> bool {
        !self.0.set.load().policies.is_empty()
    }

    /// The loaded plugins: policies, then connectors, each in config order.
    pub fn loaded(&self) -> Vec<PluginInfo> {
        let set = self.0.set.load();
        set.policies
            .iter()
            .chain(set.connectors.iter())
            .map(|p| {
                let (kind, connector) = match &p.exports {
                    registry::Exports::Policy(_) => (PluginKind::Policy, None),
                    registry::Exports::Connector(_, info) => (PluginKind::IdpConnector, info.clone()),
                };
                PluginInfo {
                    name: p.config.name.clone(),
                    kind: kind.as_str(),
                    sha256: p.sha256_hex.clone(),
                    version: p.config.version.clone(),
                    wit: bindings::WIT_VERSION,
                    connector,
                }
            })
            .collect()
    }

    /// The loaded identity-provider connectors.
    pub fn connectors(&self) -> Vec<ConnectorInfo> {
        self.loaded().into_iter().filter_map(|p| p.connector).collect()
    }

    fn connector(&self, id: &str) -> Result<(&engine::Runtime, Arc<registry::LoadedPlugin>), ConnectorError> {
        let set = self.0.set.load();
        let found = set
            .connectors
            .iter()
            .find(|p| matches!(&p.exports, registry::Exports::Connector(_, Some(info)) if info.id == id));
        match (self.0.runtime.as_ref(), found) {
            (Some(rt), Some(p)) => Ok((rt, Arc::clone(p))),
            _ => Err(ConnectorError::Unknown(id.to_owned())),
        }
    }

    /// Starts a sign-in with the connector `id`: the provider's authorization URL.
    pub async fn connector_begin(&self, id: &str, req: &BeginRequest<'_>) -> Result<BeginResponse, ConnectorError> {
        let (rt, p) = self.connector(id)?;
        let started = crate::clock::monotonic();
        let r = connector::begin(rt, &p, req).await;
        self.0.metrics.plugin_call(&p.config.name, "idp-connector", outcome_label(&r), started.elapsed());
        r
    }

    /// Finishes a sign-in with the connector `id`: the provider's callback as an identity.
    pub async fn connector_complete(
        &self,
        id: &str,
        req: &CompleteRequest<'_>,
    ) -> Result<ExternalIdentity, ConnectorError> {
        let (rt, p) = self.connector(id)?;
        let started = crate::clock::monotonic();
        let r = connector::complete(rt, &p, req).await;
        self.0.metrics.plugin_call(&p.config.name, "idp-connector", outcome_label(&r), started.elapsed());
        r
    }

    /// Runs every policy plugin on `req` (see `policy.rs`). Without plugins: allow as asked.
    pub async fn evaluate_policy(&self, req: &PolicyRequest<'_>) -> PolicyOutcome {
        let set = self.0.set.load_full();
        match self.0.runtime.as_ref() {
            Some(rt) if !set.policies.is_empty() => policy::evaluate_all(rt, &set.policies, req, &self.0.metrics).await,
            _ => PolicyOutcome {
                verdict: Ok(PolicyVerdict::Allow { scopes: req.scopes.to_vec(), claims: serde_json::Map::new() }),
                decisions: Vec::new(),
            },
        }
    }
}

/// Metric label of a connector call.
fn outcome_label<T>(r: &Result<T, ConnectorError>) -> &'static str {
    match r {
        Ok(_) => "ok",
        Err(ConnectorError::Failed(kind)) => kind.label(),
        Err(ConnectorError::Invalid(_)) => "invalid",
        Err(ConnectorError::Unavailable(_)) => "unavailable",
        Err(ConnectorError::Unknown(_)) => "unknown",
    }
}
