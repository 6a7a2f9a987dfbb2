//! Wasm plugins (ARCHITECTURE §5): the only module that imports wasmtime. The rest of the
//! server sees [`PluginHost`] and the domain types here; WIT types stay inside.
//!
//! - `types.rs`: the domain types of decisions and failures; `bindings.rs`: the `bindgen!`
//!   site; `convert.rs`: WIT <-> domain.
//! - `engine.rs`: Engine, Linker, epoch ticker, a fresh Store per call with its limits.
//! - `limits.rs`: CPU meter, memory cap, circuit breaker.
//! - `registry.rs`: loading and checking a set of plugins.
//! - `call.rs`: the guard around every call; `policy.rs`: calling the policy plugins;
//!   `login_step.rs`: steps in the browser sign-in; `notifier.rs`: message delivery;
//!   `connector.rs`: identity-provider connectors; `check.rs`: `gatehouse plugins check`;
//!   `replay.rs`: a candidate policy asked about recorded decisions.
//! - `host/`: the imported interfaces, one file each.

mod bindings;
mod call;
mod check;
mod connector;
mod convert;
mod engine;
mod host;
mod limits;
mod login_step;
mod notifier;
mod policy;
mod registry;
mod replay;
mod types;

use std::sync::Arc;

use arc_swap::ArcSwap;

pub use check::{ComponentReport, check_component};
pub use connector::{BeginRequest, BeginResponse, CompleteRequest, ConnectorError, ConnectorInfo, ExternalIdentity};
pub use login_step::{FieldKind, StepError, StepField, StepForm, StepInput, StepOutcome, SubmittedValues};
pub use notifier::{Channel, Message, SendOutcome};
pub use registry::LoadError;
pub use replay::{Candidate, CandidateAnswer};
pub use types::{
    Failure, FailureKind, PluginRef, PolicyDecision, PolicyOutcome, PolicyRequest, PolicyStage, PolicyVerdict,
    ShadowDecision, SubjectFacts,
};

use crate::config::{NotifyRoute, PluginConfig, PluginRuntimeConfig};
use crate::metrics::Metrics;
use crate::store::PluginKv;

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
    /// For a policy: `enforce` or `shadow`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<&'static str>,
    /// For a shadow policy: how its decisions compared with the enforced ones since it was
    /// loaded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shadow: Option<ShadowAgreement>,
    /// For a connector: what `describe` returned.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connector: Option<ConnectorInfo>,
}

/// A shadow policy's record since it was loaded.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct ShadowAgreement {
    /// Decisions compared.
    pub decisions: u64,
    /// Of which the same as the enforced outcome.
    pub agreed: u64,
    /// Of which different (a failure of the shadow plugin counts as different).
    pub disagreed: u64,
    /// `agreed / decisions`, when there was any decision.
    pub agreement_rate: Option<f64>,
}

/// The shadow policies' part of one decision: the input they get, owned, so they can run
/// after the answer was given.
pub struct ShadowRun {
    host: PluginHost,
    set: Arc<registry::PluginSet>,
    input: bindings::exports::gatehouse::plugin::policy::PolicyInput,
    now_ms: i64,
}

impl ShadowRun {
    /// Runs every shadow policy and compares each outcome with `enforced` (`allow`, `deny`,
    /// `step_up` or `error`).
    pub async fn run(self, enforced: &str) -> Vec<ShadowDecision> {
        let Some(rt) = self.host.0.runtime.as_ref() else { return Vec::new() };
        policy::evaluate_shadows(rt, &self.set.shadows, &self.input, self.now_ms, enforced, &self.host.0.metrics).await
    }
}

/// The server's plugins: the runtime and the current set, swapped whole on reload.
#[derive(Clone)]
pub struct PluginHost(Arc<HostInner>);

struct HostInner {
    runtime: Option<engine::Runtime>,
    set: ArcSwap<registry::PluginSet>,
    metrics: Arc<Metrics>,
    kv: KvSlot,
    reloading: tokio::sync::Mutex<()>,
}

/// The store behind the plugins' `kv-store`, attached once it is open: plugins are loaded
/// and checked before the store is opened (so a broken plugin stops the start before
/// anything is written), and called only after.
pub(crate) type KvSlot = Arc<std::sync::OnceLock<Arc<dyn PluginKv>>>;

impl std::fmt::Debug for PluginHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginHost").field("plugins", &self.loaded().len()).finish()
    }
}

impl PluginHost {
    /// Starts the runtime and loads `plugins` (compilation runs off the async workers). With
    /// no plugins configured there is no engine at all. The plugins' `kv-store` answers once
    /// [`Self::attach_store`] was called.
    pub async fn start(
        plugins: &[PluginConfig],
        settings: PluginRuntimeConfig,
        metrics: Arc<Metrics>,
    ) -> Result<Self, LoadError> {
        let runtime = if plugins.is_empty() {
            None
        } else {
            // Slots hold every kind's default and every configured limit, so a plugin added
            // later by hot reload fits unless it asks for more than `max_memory_mb`.
            let configured = plugins.iter().map(|p| p.limits.memory_limit_bytes).max().unwrap_or(0);
            let max_memory = settings.max_memory_bytes.max(configured);
            let rt = engine::Runtime::new(settings, max_memory, metrics.plugin_compilations())
                .map_err(|problem| LoadError { index: 0, name: "(runtime)".into(), problem })?;
            Some(rt)
        };
        let host = Self(Arc::new(HostInner {
            runtime,
            set: ArcSwap::from_pointee(registry::PluginSet::default()),
            metrics,
            kv: KvSlot::default(),
            reloading: tokio::sync::Mutex::new(()),
        }));
        if !plugins.is_empty() {
            let set = host.load(plugins).await?;
            host.0.set.store(Arc::new(set));
        }
        Ok(host)
    }

    /// The store that backs `kv-store` from now on (the first one attached stays).
    pub fn attach_store(&self, kv: Arc<dyn PluginKv>) {
        let _ = self.0.kv.set(kv);
    }

    /// Loads and checks a whole new set, then swaps it in; on any failure the current set
    /// stays. Calls in flight finish on the version they started with.
    pub async fn reload(&self, plugins: &[PluginConfig]) -> Result<Vec<PluginInfo>, LoadError> {
        let _one_at_a_time = self.0.reloading.lock().await;
        let result = self.load(plugins).await.map(|set| self.0.set.store(Arc::new(set)));
        // Compiled components stay for the set in force, whichever it is now.
        if let Some(rt) = &self.0.runtime {
            rt.keep_compiled(&self.loaded().into_iter().map(|p| p.sha256).collect::<Vec<_>>());
        }
        result?;
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
            registry::load_all(rt, &plugins, &|k| std::env::var(k).ok(), Some(&host.0.kv))
        })
        .await
        .map_err(|e| LoadError {
            index: 0,
            name: "(runtime)".into(),
            problem: format!("loading panicked: {e}"),
        })??;
        registry::finish_set(rt, loaded).await
    }

    /// Whether any policy plugin is enabled (enforcing or shadow).
    pub fn has_policies(&self) -> bool {
        !self.policies().is_empty()
    }

    /// The policy plugins of the set in force now: one decision asks one snapshot, so a
    /// reload meanwhile never mixes plugins of two sets in it.
    pub fn policies(&self) -> PolicySnapshot {
        PolicySnapshot { host: self.clone(), set: self.0.set.load_full() }
    }

    /// The loaded plugins: policies, login steps, notifiers, connectors, each in config order.
    pub fn loaded(&self) -> Vec<PluginInfo> {
        let set = self.0.set.load();
        set.all()
            .map(|p| {
                let connector = match &p.exports {
                    registry::Exports::Connector(_, info) => info.clone(),
                    _ => None,
                };
                let is_policy = matches!(p.exports, registry::Exports::Policy(_));
                let shadow = (p.config.mode == crate::config::PolicyMode::Shadow).then(|| {
                    let agreed = p.shadow.agree.load(std::sync::atomic::Ordering::Relaxed);
                    let disagreed = p.shadow.disagree.load(std::sync::atomic::Ordering::Relaxed);
                    let decisions = agreed + disagreed;
                    #[allow(clippy::cast_precision_loss, reason = "a rate for people")]
                    let agreement_rate = (decisions > 0).then(|| agreed as f64 / decisions as f64);
                    ShadowAgreement { decisions, agreed, disagreed, agreement_rate }
                });
                PluginInfo {
                    name: p.config.name.clone(),
                    kind: p.config.kind.as_str(),
                    sha256: p.sha256_hex.clone(),
                    version: p.config.version.clone(),
                    wit: bindings::WIT_VERSION,
                    mode: is_policy.then(|| p.config.mode.as_str()),
                    shadow,
                    connector,
                }
            })
            .collect()
    }

    /// Health for `/ready`: how many plugins are loaded, and `(name, kind)` of those whose
    /// circuit breaker is open.
    pub fn health(&self) -> (usize, Vec<(String, &'static str)>) {
        let set = self.0.set.load();
        let open = set
            .all()
            .filter(|p| !p.breaker.allows())
            .map(|p| (p.config.name.clone(), p.config.kind.as_str()))
            .collect();
        (set.all().count(), open)
    }

    /// The names of the login steps, in config order.
    pub fn login_steps(&self) -> Vec<String> {
        self.0.set.load().login_steps.iter().map(|p| p.config.name.clone()).collect()
    }

    /// Runs the login step `name`: `start` without values, `submit` with the form's values.
    pub async fn login_step(
        &self,
        name: &str,
        input: &StepInput<'_>,
        values: Option<&[(String, String)]>,
    ) -> Result<(PluginRef, StepOutcome), StepError> {
        let set = self.0.set.load_full();
        let found = set.login_steps.iter().find(|p| p.config.name == name);
        let (Some(rt), Some(p)) = (self.0.runtime.as_ref(), found) else {
            return Err(StepError::Unknown(name.to_owned()));
        };
        let started = crate::clock::monotonic();
        let r = login_step::call(rt, p, input, values).await;
        let label = match &r {
            Ok(StepOutcome::Show(..)) => "show",
            Ok(StepOutcome::Done(_)) => "done",
            Ok(StepOutcome::Fail(_)) => "fail",
            Err(e) => e.label(),
        };
        self.0.metrics.plugin_call(&p.config.name, "login-step", label, started.elapsed());
        r.map(|o| (PluginRef::of(p), o))
    }

    /// The notifiers: name, route and channel.
    pub fn notifiers(&self) -> Vec<(String, NotifyRoute, Channel)> {
        let set = self.0.set.load();
        set.notifiers
            .iter()
            .filter_map(|p| Some((p.config.name.clone(), p.config.route.clone()?, notifier::channel_of(p)?)))
            .collect()
    }

    /// One delivery attempt by the notifier `name`; `None` when no such notifier is loaded.
    pub async fn notify_send(&self, name: &str, msg: &Message, now: time::OffsetDateTime) -> Option<SendOutcome> {
        let set = self.0.set.load_full();
        let p = set.notifiers.iter().find(|p| p.config.name == name)?;
        let rt = self.0.runtime.as_ref()?;
        let started = crate::clock::monotonic();
        let r = notifier::send(rt, p, msg, now).await;
        let label = match &r {
            SendOutcome::Sent(_) => "sent",
            SendOutcome::RetryAfter(_) => "retry_after",
            SendOutcome::Rejected(_) => "rejected",
            SendOutcome::Failed(_) => "error",
            SendOutcome::Deferred(_) => "busy",
        };
        self.0.metrics.plugin_call(&p.config.name, "notifier", label, started.elapsed());
        Some(r)
    }

    /// The loaded identity-provider connectors.
    pub fn connectors(&self) -> Vec<ConnectorInfo> {
        self.loaded().into_iter().filter_map(|p| p.connector).collect()
    }

    /// The connector `id` and whether it provisions users, when it is loaded.
    pub fn connector_info(&self, id: &str) -> Option<(ConnectorInfo, bool)> {
        let set = self.0.set.load();
        set.connectors.iter().find_map(|p| match &p.exports {
            registry::Exports::Connector(_, Some(info)) if info.id == id => {
                Some((info.clone(), p.config.provision_users))
            }
            _ => None,
        })
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

    /// Runs every enforcing policy plugin on `req` (see `policy.rs`). Without them: allow as
    /// asked.
    pub async fn evaluate_policy(&self, req: &PolicyRequest<'_>) -> PolicyOutcome {
        self.policies().evaluate(req).await
    }
}

/// The policy plugins of one set (see [`PluginHost::policies`]).
pub struct PolicySnapshot {
    host: PluginHost,
    set: Arc<registry::PluginSet>,
}

impl PolicySnapshot {
    /// Whether there is no policy plugin at all (enforcing or shadow).
    pub fn is_empty(&self) -> bool {
        self.set.policies.is_empty() && self.set.shadows.is_empty()
    }

    /// Runs every enforcing policy on `req`. Without them: allow as asked.
    pub async fn evaluate(&self, req: &PolicyRequest<'_>) -> PolicyOutcome {
        match self.host.0.runtime.as_ref() {
            Some(rt) if !self.set.policies.is_empty() => {
                policy::evaluate_all(rt, &self.set.policies, req, &self.host.0.metrics).await
            }
            _ => PolicyOutcome {
                verdict: Ok(PolicyVerdict::Allow { scopes: req.scopes.to_vec(), claims: serde_json::Map::new() }),
                decisions: Vec::new(),
            },
        }
    }

    /// The shadow policies' run for `req`, when there are shadow policies.
    pub fn shadow_run(&self, req: &PolicyRequest<'_>) -> Option<ShadowRun> {
        if self.set.shadows.is_empty() {
            return None;
        }
        let input = convert::input(req);
        Some(ShadowRun {
            host: self.host.clone(),
            set: Arc::clone(&self.set),
            input,
            now_ms: crate::audit::unix_ms(req.now),
        })
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
