//! `gatehouse plugins check`: a component checked against the contract of its kind, as a
//! server would at load, without a server.

use super::bindings::{HTTP_IMPORT, JWT_IMPORT, SECRETS_IMPORT, WIT_VERSION};
use super::engine::Runtime;
use super::registry::{load, trial};
use crate::config::{PluginConfig, PluginKind};
use wasmtime::component::Component;

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
    let limits = kind.default_limits();
    let rt =
        Runtime::new(crate::config::PluginRuntimeConfig::default(), limits.memory_limit_bytes, Default::default())?;
    let bytes = std::fs::read(path).map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
    let component = Component::new(&rt.engine, &bytes)
        .map_err(|e| format!("{}: not a valid Wasm component: {e:#}", path.display()))?;
    let imports: Vec<String> = component.component_type().imports(&rt.engine).map(|(n, _)| n.to_owned()).collect();
    let needs_http = imports.iter().any(|i| i == HTTP_IMPORT || i == JWT_IMPORT);
    let needs_secrets = imports.iter().any(|i| i == SECRETS_IMPORT);
    let cfg = PluginConfig {
        name: "check".into(),
        kind,
        path: path.to_path_buf(),
        sha256: None,
        version: None,
        mode: Default::default(),
        limits,
        allowed_hosts: if needs_http { vec!["example.invalid".into()] } else { Vec::new() },
        secrets: if needs_secrets { vec!["CHECK".into()] } else { Vec::new() },
        config: Vec::new(),
        config_json: "{}".into(),
        route: (kind == PluginKind::Notifier).then(|| crate::config::NotifyRoute {
            events: vec!["*".into()],
            channel: None,
            recipient: None,
        }),
        provision_users: false,
    };
    let exported = exported_kind(&rt, &component);
    let explain = |problem: String| match exported {
        Some(other) if other != kind => format!(
            "{}: {problem}; its exports are those of a {} plugin: try --kind {}",
            path.display(),
            other.as_str(),
            other.as_str()
        ),
        _ => format!("{}: {problem}", path.display()),
    };
    let mut plugin = load(&rt, &cfg, &|_| Some("check".into()), None).map_err(explain)?;
    trial(&rt, 0, &mut plugin).await.map_err(|e| explain(e.problem))?;
    Ok(ComponentReport { sha256: plugin.sha256_hex, wit: WIT_VERSION, imports, needs_http, needs_secrets })
}

/// The kind whose interface the component exports (`gatehouse:plugin/policy@...` and so
/// on), if it exports one of ours.
fn exported_kind(rt: &Runtime, component: &Component) -> Option<PluginKind> {
    let interface = |name: &str| {
        name.strip_prefix("gatehouse:plugin/").map(|rest| rest.split('@').next().unwrap_or(rest).to_owned())
    };
    component.component_type().exports(&rt.engine).find_map(|(name, _)| match interface(name)?.as_str() {
        "policy" => Some(PluginKind::Policy),
        "login-step" => Some(PluginKind::LoginStep),
        "notifier" => Some(PluginKind::Notifier),
        "connector" => Some(PluginKind::IdpConnector),
        _ => None,
    })
}
