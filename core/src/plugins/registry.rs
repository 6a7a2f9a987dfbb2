//! Loading: read the file, check its pinned sha256, compile it, check that it implements the
//! world of its kind and imports only what it was granted, and try one instantiation under
//! its limits (a component whose initial memory is over `memory_limit_mb` is refused here,
//! not at the first request). A set is loaded whole or not at all.

use std::sync::Arc;

use tokio::sync::Semaphore;
use wasmtime::component::Component;

use super::bindings::{HTTP_IMPORT, POLICY_EXPORT, PolicyPluginNetPre, SECRETS_IMPORT, WIT_VERSION};
use super::engine::Runtime;
use super::host::http::HttpGate;
use super::host::{Ctx, Grants};
use super::limits::Breaker;
use crate::config::{PluginConfig, PluginKind};
use crate::secret::{Secret, sha256_hex};

/// A loaded, checked plugin, ready to instantiate per call.
pub(crate) struct LoadedPlugin {
    pub(crate) config: PluginConfig,
    pub(crate) sha256_hex: String,
    pub(crate) pre: PolicyPluginNetPre<Ctx>,
    pub(crate) grants: Arc<Grants>,
    pub(crate) permits: Arc<Semaphore>,
    pub(crate) breaker: Breaker,
}

impl std::fmt::Debug for LoadedPlugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedPlugin").field("name", &self.config.name).field("sha256", &self.sha256_hex).finish()
    }
}

/// The plugins of one configuration, in config order.
#[derive(Debug, Default)]
pub(crate) struct PluginSet {
    pub(crate) policies: Vec<Arc<LoadedPlugin>>,
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

/// Loads every plugin; the first failure fails the whole set.
pub(crate) fn load_set(
    rt: &Runtime,
    plugins: &[PluginConfig],
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<PluginSet, LoadError> {
    let mut set = PluginSet::default();
    for (index, cfg) in plugins.iter().enumerate() {
        let fail = |problem: String| LoadError { index, name: cfg.name.clone(), problem };
        match cfg.kind {
            PluginKind::Policy => set.policies.push(Arc::new(load_policy(rt, cfg, env).map_err(fail)?)),
            other => {
                return Err(fail(format!(
                    "kind: {} plugins are not supported by this version of the server (policy plugins are)",
                    other.as_str()
                )));
            }
        }
    }
    Ok(set)
}

fn load_policy(rt: &Runtime, cfg: &PluginConfig, env: &dyn Fn(&str) -> Option<String>) -> Result<LoadedPlugin, String> {
    let bytes = std::fs::read(&cfg.path).map_err(|e| format!("path: cannot read {}: {e}", cfg.path.display()))?;
    let sha256_hex = sha256_hex(&bytes);
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
            "memory_limit_mb: {} MiB is more than this server's plugin slots hold ({} MiB); restart the server to raise it",
            cfg.limits.memory_limit_bytes >> 20,
            rt.max_memory_bytes >> 20
        ));
    }
    let component = Component::new(&rt.engine, &bytes).map_err(|e| {
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
    let pre = PolicyPluginNetPre::new(instance_pre)
        .map_err(|e| format!("it does not implement the policy-plugin world (export {POLICY_EXPORT}): {e:#}"))?;
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
    });
    let permits = Arc::new(Semaphore::new(usize::try_from(cfg.limits.max_concurrency).unwrap_or(1)));
    let breaker = Breaker::new(rt.settings.breaker_threshold, rt.settings.breaker_cooldown);
    Ok(LoadedPlugin { config: cfg.clone(), sha256_hex, pre, grants, permits, breaker })
}

/// `http` and `secrets` need a grant; gatehouse interfaces must be of our WIT version.
fn check_imports(rt: &Runtime, component: &Component, cfg: &PluginConfig) -> Result<(), String> {
    let ty = component.component_type();
    for (name, _) in ty.imports(&rt.engine) {
        if name == HTTP_IMPORT && cfg.allowed_hosts.is_empty() {
            return Err(format!(
                "allowed_hosts: the component imports {HTTP_IMPORT} but the operator granted no hosts"
            ));
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
/// start-up is refused at load.
pub(crate) async fn trial(rt: &Runtime, index: usize, p: &LoadedPlugin) -> Result<(), LoadError> {
    let mut store = rt.store(Arc::clone(&p.grants), &p.config.limits);
    let fail = |problem: String| LoadError { index, name: p.config.name.clone(), problem };
    match p.pre.instantiate_async(&mut store).await {
        Ok(_) => Ok(()),
        Err(_) if store.data().memory.hit => Err(fail(format!(
            "memory_limit_mb: the component's initial memory is over the limit of {} MiB",
            p.config.limits.memory_limit_bytes >> 20
        ))),
        Err(e) => Err(fail(format!("instantiation failed: {e:#}"))),
    }
}

/// What `gatehouse plugins check` reports about a component.
#[derive(Debug, Clone)]
pub struct ComponentReport {
    /// SHA-256 of the file, hex (what `sha256 =` pins).
    pub sha256: String,
    /// The WIT package version it was checked against.
    pub wit: &'static str,
    /// Its imports (interface names).
    pub imports: Vec<String>,
    /// It imports `http`: the operator must grant `allowed_hosts`.
    pub needs_http: bool,
    /// It imports `secrets`: the operator must grant `secrets`.
    pub needs_secrets: bool,
}

/// Checks a component file against the contract of `kind`, with the default limits of the
/// kind, as a server would at load (grants assumed given).
pub async fn check_component(path: &std::path::Path, kind: PluginKind) -> Result<ComponentReport, String> {
    if kind != PluginKind::Policy {
        return Err(format!("{} plugins are not supported by this version of the server", kind.as_str()));
    }
    let limits = kind.default_limits();
    let rt = Runtime::new(crate::config::PluginRuntimeConfig::default(), limits.memory_limit_bytes)?;
    let bytes = std::fs::read(path).map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
    let component = Component::new(&rt.engine, &bytes)
        .map_err(|e| format!("{}: not a valid Wasm component: {e:#}", path.display()))?;
    let imports: Vec<String> = component.component_type().imports(&rt.engine).map(|(n, _)| n.to_owned()).collect();
    let needs_http = imports.iter().any(|i| i == HTTP_IMPORT);
    let needs_secrets = imports.iter().any(|i| i == SECRETS_IMPORT);
    let cfg = PluginConfig {
        name: "check".into(),
        kind,
        path: path.to_path_buf(),
        sha256: None,
        version: None,
        limits,
        allowed_hosts: if needs_http { vec!["example.invalid".into()] } else { Vec::new() },
        secrets: if needs_secrets { vec!["CHECK".into()] } else { Vec::new() },
        config: Vec::new(),
        config_json: "{}".into(),
    };
    let plugin = load_policy(&rt, &cfg, &|_| Some("check".into()))?;
    trial(&rt, 0, &plugin).await.map_err(|e| e.problem)?;
    Ok(ComponentReport { sha256: plugin.sha256_hex, wit: WIT_VERSION, imports, needs_http, needs_secrets })
}
