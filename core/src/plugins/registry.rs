//! Loading: read the file, check its pinned sha256, compile it, check that it implements the
//! world of its kind and imports only what it was granted, and try one instantiation under
//! its limits (a component whose initial memory is over `memory_limit_mb` is refused here,
//! not at the first request; a connector's `describe` is called and checked). A set is
//! loaded whole or not at all.

use std::collections::HashSet;
use std::sync::Arc;

use tokio::sync::Semaphore;
use wasmtime::component::Component;

use super::ConnectorInfo;
use super::bindings::connector_world::IdpConnectorPre;
use super::bindings::login_step_world::LoginStepPluginPre;
use super::bindings::notifier_world::NotifierPluginPre;
use super::bindings::{
    CONNECTOR_EXPORT, HTTP_IMPORT, JWT_IMPORT, LOGIN_STEP_EXPORT, NOTIFIER_EXPORT, POLICY_EXPORT, PolicyPluginNetPre,
    SECRETS_IMPORT, WIT_VERSION,
};
use super::engine::Runtime;
use super::host::http::HttpGate;
use super::host::{Ctx, Grants};
use super::limits::Breaker;
use super::notifier::Channel;
use crate::config::{PluginConfig, PluginKind, PolicyMode};
use crate::secret::{Secret, sha256_hex};

/// The typed exports of a loaded component, by kind.
pub(crate) enum Exports {
    /// `policy-plugin(-net)`.
    Policy(PolicyPluginNetPre<Ctx>),
    /// `idp-connector`, with what `describe` returned at load.
    Connector(IdpConnectorPre<Ctx>, Option<ConnectorInfo>),
    /// `login-step-plugin`.
    LoginStep(LoginStepPluginPre<Ctx>),
    /// `notifier-plugin`, with the channels it reported at load.
    Notifier(NotifierPluginPre<Ctx>, Vec<Channel>),
}

/// A loaded, checked plugin, ready to instantiate per call.
pub(crate) struct LoadedPlugin {
    pub(crate) config: PluginConfig,
    pub(crate) sha256_hex: String,
    pub(crate) exports: Exports,
    pub(crate) grants: Arc<Grants>,
    pub(crate) permits: Arc<Semaphore>,
    pub(crate) breaker: Breaker,
    /// For a shadow policy: its decisions since it was loaded.
    pub(crate) shadow: ShadowCounts,
}

/// How often a shadow policy agreed with the enforced decision since it was loaded.
#[derive(Debug, Default)]
pub(crate) struct ShadowCounts {
    pub(crate) agree: std::sync::atomic::AtomicU64,
    pub(crate) disagree: std::sync::atomic::AtomicU64,
}

impl std::fmt::Debug for LoadedPlugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedPlugin").field("name", &self.config.name).field("sha256", &self.sha256_hex).finish()
    }
}

/// The plugins of one configuration, each kind in config order.
#[derive(Debug, Default)]
pub(crate) struct PluginSet {
    pub(crate) policies: Vec<Arc<LoadedPlugin>>,
    /// Policies in `mode = "shadow"`: asked, never obeyed.
    pub(crate) shadows: Vec<Arc<LoadedPlugin>>,
    pub(crate) connectors: Vec<Arc<LoadedPlugin>>,
    pub(crate) login_steps: Vec<Arc<LoadedPlugin>>,
    pub(crate) notifiers: Vec<Arc<LoadedPlugin>>,
}

impl PluginSet {
    /// Every plugin, by kind, each kind in config order.
    pub(crate) fn all(&self) -> impl Iterator<Item = &Arc<LoadedPlugin>> {
        self.policies
            .iter()
            .chain(&self.shadows)
            .chain(&self.login_steps)
            .chain(&self.notifiers)
            .chain(&self.connectors)
    }
}

/// A plugin that could not be loaded.
#[derive(Debug, Clone, thiserror::Error)]
#[error("plugins[{index}] ({name}): {problem}")]
pub struct LoadError {
    /// Position in `[[plugins]]`.
    pub index: usize,
    /// The plugin's name.
    pub name: String,
    /// What is wrong (names the key or the file).
    pub problem: String,
}

/// Loads (compiles and checks) every plugin; the first failure fails the whole set.
pub(crate) fn load_all(
    rt: &Runtime,
    plugins: &[PluginConfig],
    env: &dyn Fn(&str) -> Option<String>,
    kv: Option<&super::KvSlot>,
) -> Result<Vec<LoadedPlugin>, LoadError> {
    plugins
        .iter()
        .enumerate()
        .map(|(index, cfg)| {
            load(rt, cfg, env, kv).map_err(|problem| LoadError { index, name: cfg.name.clone(), problem })
        })
        .collect()
}

/// Tries each plugin once, then arranges them by kind.
pub(crate) async fn finish_set(rt: &Runtime, loaded: Vec<LoadedPlugin>) -> Result<PluginSet, LoadError> {
    let mut set = PluginSet::default();
    let mut connector_ids = HashSet::new();
    for (index, mut p) in loaded.into_iter().enumerate() {
        trial(rt, index, &mut p).await?;
        match &p.exports {
            Exports::Policy(_) if p.config.mode == PolicyMode::Shadow => set.shadows.push(Arc::new(p)),
            Exports::Policy(_) => set.policies.push(Arc::new(p)),
            Exports::Connector(_, info) => {
                if let Some(info) = info
                    && !connector_ids.insert(info.id.clone())
                {
                    let problem = format!("describe: connector id `{}` is used by another connector", info.id);
                    return Err(LoadError { index, name: p.config.name.clone(), problem });
                }
                set.connectors.push(Arc::new(p));
            }
            Exports::LoginStep(_) => set.login_steps.push(Arc::new(p)),
            Exports::Notifier(..) => set.notifiers.push(Arc::new(p)),
        }
    }
    Ok(set)
}

/// Reads, pins, compiles and type-checks one component.
pub(crate) fn load(
    rt: &Runtime,
    cfg: &PluginConfig,
    env: &dyn Fn(&str) -> Option<String>,
    kv: Option<&super::KvSlot>,
) -> Result<LoadedPlugin, String> {
    let bytes = std::fs::read(&cfg.path).map_err(|e| format!("path: cannot read {}: {e}", cfg.path.display()))?;
    load_bytes(rt, cfg, &bytes, env, kv)
}

/// [`load`] of a component already read (`cfg.path` names it in messages).
pub(crate) fn load_bytes(
    rt: &Runtime,
    cfg: &PluginConfig,
    bytes: &[u8],
    env: &dyn Fn(&str) -> Option<String>,
    kv: Option<&super::KvSlot>,
) -> Result<LoadedPlugin, String> {
    let sha256_hex = sha256_hex(bytes);
    if let Some(pinned) = cfg.sha256
        && hex::encode(pinned) != sha256_hex
    {
        return Err(format!(
            "sha256: {} has sha256 {sha256_hex}, but the config pins {}",
            cfg.path.display(),
            hex::encode(pinned)
        ));
    }
    if cfg.limits.memory_limit_bytes > rt.max_memory_bytes {
        return Err(format!(
            "memory_limit_mb: {} MiB is more than this server's plugin slots hold ({} MiB); set [plugin_runtime] max_memory_mb = {} (or more) and restart the server",
            cfg.limits.memory_limit_bytes >> 20,
            rt.max_memory_bytes >> 20,
            cfg.limits.memory_limit_bytes.div_ceil(1 << 20)
        ));
    }
    let component = rt.component(&sha256_hex, bytes).map_err(|e| {
        let e = format!("{e:#}");
        // The pooling allocator checks initial memories at compile time; say which key to
        // change rather than only quoting the engine.
        if e.contains("minimum byte size") {
            format!(
                "memory_limit_mb: the component's initial memory is over the limit of {} MiB ({e})",
                cfg.limits.memory_limit_bytes >> 20
            )
        } else {
            format!("path: {} is not a valid Wasm component: {e}", cfg.path.display())
        }
    })?;
    check_imports(rt, &component, cfg)?;
    let instance_pre = rt
        .linker
        .instantiate_pre(&component)
        .map_err(|e| format!("the component needs an import the host does not provide: {e:#}"))?;
    let exports =
        match cfg.kind {
            PluginKind::Policy => Exports::Policy(PolicyPluginNetPre::new(instance_pre).map_err(|e| {
                format!("it does not implement the policy-plugin world (export {POLICY_EXPORT}): {e:#}")
            })?),
            PluginKind::IdpConnector => Exports::Connector(
                IdpConnectorPre::new(instance_pre).map_err(|e| {
                    format!("it does not implement the idp-connector world (export {CONNECTOR_EXPORT}): {e:#}")
                })?,
                None,
            ),
            PluginKind::LoginStep => Exports::LoginStep(LoginStepPluginPre::new(instance_pre).map_err(|e| {
                format!("it does not implement the login-step-plugin world (export {LOGIN_STEP_EXPORT}): {e:#}")
            })?),
            PluginKind::Notifier => Exports::Notifier(
                NotifierPluginPre::new(instance_pre).map_err(|e| {
                    format!("it does not implement the notifier-plugin world (export {NOTIFIER_EXPORT}): {e:#}")
                })?,
                Vec::new(),
            ),
        };
    let secrets = cfg
        .secrets
        .iter()
        .map(|name| match env(name) {
            Some(v) if !v.is_empty() => Ok((name.clone(), Secret::new(v))),
            _ => Err(format!("secrets: environment variable `{name}` is not set")),
        })
        .collect::<Result<Vec<_>, _>>()?;
    let http = if cfg.allowed_hosts.is_empty() {
        None
    } else {
        Some(HttpGate::new(
            &cfg.allowed_hosts,
            rt.settings.allow_loopback_http,
            rt.settings.http_max_response_bytes,
            cfg.limits.timeout,
        )?)
    };
    let grants = Arc::new(Grants {
        name: cfg.name.clone(),
        config: cfg.config.clone(),
        config_json: cfg.config_json.clone(),
        secrets,
        http,
        kv: kv.cloned(),
        jwks_cache: Default::default(),
    });
    let permits = Arc::new(Semaphore::new(usize::try_from(cfg.limits.max_concurrency).unwrap_or(1)));
    let breaker = Breaker::new(rt.settings.breaker_threshold, rt.settings.breaker_cooldown);
    Ok(LoadedPlugin {
        config: cfg.clone(),
        sha256_hex,
        exports,
        grants,
        permits,
        breaker,
        shadow: ShadowCounts::default(),
    })
}

/// `http` and `jwt` need `allowed_hosts`, `secrets` needs `secrets`; gatehouse interfaces
/// must be of our WIT version.
fn check_imports(rt: &Runtime, component: &Component, cfg: &PluginConfig) -> Result<(), String> {
    let ty = component.component_type();
    for (name, _) in ty.imports(&rt.engine) {
        if (name == HTTP_IMPORT || name == JWT_IMPORT) && cfg.allowed_hosts.is_empty() {
            return Err(format!("allowed_hosts: the component imports {name} but the operator granted no hosts"));
        }
        if name == SECRETS_IMPORT && cfg.secrets.is_empty() {
            return Err(format!("secrets: the component imports {SECRETS_IMPORT} but the operator granted no secrets"));
        }
        if let Some(rest) = name.strip_prefix("gatehouse:plugin/")
            && rest.rsplit_once('@').is_none_or(|(_, v)| v != WIT_VERSION)
        {
            return Err(format!("it was built against {name}; this server implements gatehouse:plugin@{WIT_VERSION}"));
        }
    }
    Ok(())
}

/// Instantiates once under the plugin's limits, so an oversized initial memory or a failing
/// start-up is refused at load; a connector's `describe` must answer and make sense, a
/// notifier's `channels` must name the channel it is configured for.
pub(crate) async fn trial(rt: &Runtime, index: usize, p: &mut LoadedPlugin) -> Result<(), LoadError> {
    let now = crate::audit::unix_ms(crate::clock::system_now());
    let mut store = rt.store(Arc::clone(&p.grants), &p.config.limits, now);
    let fail = |problem: String| LoadError { index, name: p.config.name.clone(), problem };
    let result = match &p.exports {
        Exports::Policy(pre) => pre.instantiate_async(&mut store).await.map(|_| Learned::Nothing),
        Exports::LoginStep(pre) => pre.instantiate_async(&mut store).await.map(|_| Learned::Nothing),
        Exports::Connector(pre, _) => match pre.instantiate_async(&mut store).await {
            Ok(instance) => {
                let run = instance.gatehouse_plugin_connector().call_describe(&mut store);
                match tokio::time::timeout(p.config.limits.timeout, run).await {
                    Ok(Ok(info)) => Ok(Learned::Info(super::connector::info(info).map_err(fail)?)),
                    Ok(Err(e)) => Err(e),
                    Err(_) => return Err(fail("describe: no answer within timeout_ms".into())),
                }
            }
            Err(e) => Err(e),
        },
        Exports::Notifier(pre, _) => match pre.instantiate_async(&mut store).await {
            Ok(instance) => {
                let run = instance.gatehouse_plugin_notifier().call_channels(&mut store);
                match tokio::time::timeout(p.config.limits.timeout, run).await {
                    Ok(Ok(c)) => Ok(Learned::Channels(super::notifier::channels(&p.config, c).map_err(fail)?)),
                    Ok(Err(e)) => Err(e),
                    Err(_) => return Err(fail("channels: no answer within timeout_ms".into())),
                }
            }
            Err(e) => Err(e),
        },
    };
    match result {
        Ok(learned) => {
            match (&mut p.exports, learned) {
                (Exports::Connector(_, slot), Learned::Info(info)) => *slot = Some(info),
                (Exports::Notifier(_, slot), Learned::Channels(c)) => *slot = c,
                _ => {}
            }
            Ok(())
        }
        Err(_) if store.data().memory.hit => Err(fail(format!(
            "memory_limit_mb: the component's initial memory is over the limit of {} MiB",
            p.config.limits.memory_limit_bytes >> 20
        ))),
        Err(e) => Err(fail(format!("instantiation failed: {e:#}"))),
    }
}

/// What the trial call of a plugin told the host.
enum Learned {
    Nothing,
    Info(ConnectorInfo),
    Channels(Vec<Channel>),
}
