//! `[[plugins]]` and `[plugin_runtime]`: which Wasm components run, with what limits and
//! grants (ARCHITECTURE §5). Only the shape is checked here; the component itself (file,
//! sha256, world, imports) is checked when `plugins/registry.rs` loads it.

use std::collections::HashSet;
use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

use super::validate::Check;
use crate::secret::parse_sha256_hex;

/// One `[[plugins]]` entry as written.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct PluginSection {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub path: String,
    pub sha256: Option<String>,
    pub version: Option<String>,
    pub enabled: Option<bool>,
    pub mode: Option<String>,
    pub timeout_ms: Option<u64>,
    pub cpu_budget_ms: Option<u64>,
    pub memory_limit_mb: Option<u64>,
    pub max_concurrency: Option<u32>,
    #[serde(default)]
    pub allowed_hosts: Vec<String>,
    #[serde(default)]
    pub secrets: Vec<String>,
    #[serde(default)]
    pub config: toml::Table,
    #[serde(default)]
    pub events: Vec<String>,
    pub channel: Option<String>,
    pub recipient: Option<String>,
    pub provision_users: Option<bool>,
}

/// `[plugin_runtime]` as written.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct PluginRuntimeSection {
    pub allow_loopback_http: Option<bool>,
    pub pool_instances: Option<u32>,
    pub http_max_response_kb: Option<u64>,
    pub breaker_threshold: Option<u32>,
    pub breaker_cooldown: Option<String>,
    pub max_memory_mb: Option<u64>,
}

/// What a plugin is for: the world its component must implement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PluginKind {
    /// `policy-plugin` (or `policy-plugin-net`): access decisions.
    Policy,
    /// `login-step-plugin`: a step in the browser sign-in.
    LoginStep,
    /// `notifier-plugin`: email, SMS, webhooks.
    Notifier,
    /// `idp-connector`: a federated identity provider.
    IdpConnector,
}

impl PluginKind {
    /// The config spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Policy => "policy",
            Self::LoginStep => "login-step",
            Self::Notifier => "notifier",
            Self::IdpConnector => "idp-connector",
        }
    }

    /// Parses the config spelling.
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Policy, Self::LoginStep, Self::Notifier, Self::IdpConnector].into_iter().find(|k| k.as_str() == s)
    }

    /// The largest memory limit any kind has by default: plugin slots hold at least this, so
    /// that a plugin of any kind added by hot reload with its defaults fits.
    pub fn largest_default_memory() -> u64 {
        [Self::Policy, Self::LoginStep, Self::Notifier, Self::IdpConnector]
            .into_iter()
            .map(|k| k.default_limits().memory_limit_bytes)
            .max()
            .unwrap_or(64 << 20)
    }

    /// Limits when the operator sets none: policies sit on every token request, so they
    /// get little; the others wait on the network.
    pub fn default_limits(self) -> PluginLimits {
        let ms = Duration::from_millis;
        match self {
            Self::Policy => {
                PluginLimits { timeout: ms(200), cpu_budget: ms(50), memory_limit_bytes: 32 << 20, max_concurrency: 64 }
            }
            Self::LoginStep => PluginLimits {
                timeout: ms(3000),
                cpu_budget: ms(100),
                memory_limit_bytes: 64 << 20,
                max_concurrency: 32,
            },
            Self::Notifier | Self::IdpConnector => PluginLimits {
                timeout: ms(10_000),
                cpu_budget: ms(200),
                memory_limit_bytes: 64 << 20,
                max_concurrency: 16,
            },
        }
    }
}

/// How a policy plugin's decisions count (`mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PolicyMode {
    /// Its decision is the answer (with the other enforcing plugins').
    #[default]
    Enforce,
    /// It is asked beside the enforcing plugins with the same input; its decision is audited
    /// and counted, never applied, and its failures fail nothing.
    Shadow,
}

impl PolicyMode {
    /// The config spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Enforce => "enforce",
            Self::Shadow => "shadow",
        }
    }
}

/// Per-plugin limits (`timeout_ms`, `cpu_budget_ms`, `memory_limit_mb`, `max_concurrency`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PluginLimits {
    /// Wall time of one call, host calls (HTTP) included.
    pub timeout: Duration,
    /// CPU time of one call spent in Wasm.
    pub cpu_budget: Duration,
    /// Linear memory of one instance.
    pub memory_limit_bytes: u64,
    /// Calls at once; more fail fast.
    pub max_concurrency: u32,
}

/// A validated `[[plugins]]` entry.
#[derive(Debug, Clone)]
pub struct PluginConfig {
    /// Unique name (logs, audit, metrics, kv namespace).
    pub name: String,
    /// The world it implements.
    pub kind: PluginKind,
    /// The component file, resolved against the config file's directory.
    pub path: std::path::PathBuf,
    /// The pinned SHA-256 of the file (required outside dev_mode).
    pub sha256: Option<[u8; 32]>,
    /// Operator's version label.
    pub version: Option<String>,
    /// For a policy: enforce (the default) or shadow.
    pub mode: PolicyMode,
    /// Limits.
    pub limits: PluginLimits,
    /// Hosts (`name` or `name:port`) that `http.fetch` may reach.
    pub allowed_hosts: Vec<String>,
    /// Secret names (environment variables) that `secrets.get` may read.
    pub secrets: Vec<String>,
    /// `[plugins.config]`: strings as they are, other values as JSON text.
    pub config: Vec<(String, String)>,
    /// The table as a JSON object (`config.get-all`).
    pub config_json: String,
    /// For a notifier: what it delivers, how and to whom.
    pub route: Option<NotifyRoute>,
    /// For an idp-connector: whether a person without an account gets one at their first
    /// sign-in (`provision_users`, default true).
    pub provision_users: bool,
}

/// A notifier's `events`, `channel` and `recipient`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotifyRoute {
    /// Event names (`login.failed`, ...; `*` for all of them).
    pub events: Vec<String>,
    /// `email`, `sms` or `webhook`; unset: the first channel the plugin reports.
    pub channel: Option<String>,
    /// Fixed recipient (address, number or URL); unset for email: the user's address.
    pub recipient: Option<String>,
}

impl NotifyRoute {
    /// Whether the notifier wants `event`.
    pub fn wants(&self, event: &str) -> bool {
        self.events.iter().any(|e| e == "*" || e == event)
    }
}

/// `[plugin_runtime]`: limits shared by all plugins.
#[derive(Debug, Clone, Copy)]
pub struct PluginRuntimeConfig {
    /// Test-only: lets `http.fetch` use plain http to loopback addresses.
    pub allow_loopback_http: bool,
    /// Instances that may exist at once across all plugins (the pooling allocator's size).
    pub pool_instances: u32,
    /// Largest response body `http.fetch` returns.
    pub http_max_response_bytes: u64,
    /// Consecutive failures that open a plugin's circuit breaker.
    pub breaker_threshold: u32,
    /// How long an open breaker fails calls before trying again.
    pub breaker_cooldown: Duration,
    /// The largest linear memory an instance slot holds (`max_memory_mb`): fixed at start,
    /// so a plugin added by hot reload must fit. At least every kind's default, and every
    /// configured plugin's limit.
    pub max_memory_bytes: u64,
}

impl Default for PluginRuntimeConfig {
    fn default() -> Self {
        Self {
            allow_loopback_http: false,
            pool_instances: 256,
            http_max_response_bytes: 1 << 20,
            breaker_threshold: 5,
            breaker_cooldown: Duration::from_secs(10),
            max_memory_bytes: PluginKind::largest_default_memory(),
        }
    }
}

/// Largest memory limit a plugin may have.
const MAX_MEMORY_MB: u64 = 4096;

pub(super) fn check_runtime(c: &mut Check<'_>, r: &PluginRuntimeSection) -> PluginRuntimeConfig {
    let d = PluginRuntimeConfig::default();
    let pool_instances = match r.pool_instances {
        None => d.pool_instances,
        Some(n) if (1..=10_000).contains(&n) => n,
        Some(n) => {
            c.problem("plugin_runtime.pool_instances", format!("{n} is out of range (1 to 10000)"));
            d.pool_instances
        }
    };
    let http_max_response_bytes = match r.http_max_response_kb {
        None => d.http_max_response_bytes,
        Some(n) if (1..=64 * 1024).contains(&n) => n * 1024,
        Some(n) => {
            c.problem("plugin_runtime.http_max_response_kb", format!("{n} is out of range (1 to 65536)"));
            d.http_max_response_bytes
        }
    };
    let breaker_threshold = match r.breaker_threshold {
        None => d.breaker_threshold,
        Some(n) if n <= 10_000 => n,
        Some(n) => {
            c.problem("plugin_runtime.breaker_threshold", format!("{n} is out of range (0 to 10000; 0 turns it off)"));
            d.breaker_threshold
        }
    };
    let breaker_cooldown = c.duration(
        "plugin_runtime.breaker_cooldown",
        r.breaker_cooldown.as_deref(),
        d.breaker_cooldown,
        Duration::from_millis(100),
        Duration::from_secs(3600),
    );
    let max_memory_bytes = match r.max_memory_mb {
        None => d.max_memory_bytes,
        Some(n) if (1..=MAX_MEMORY_MB).contains(&n) => n << 20,
        Some(n) => {
            c.problem("plugin_runtime.max_memory_mb", format!("{n} is out of range (1 to {MAX_MEMORY_MB})"));
            d.max_memory_bytes
        }
    };
    PluginRuntimeConfig {
        allow_loopback_http: r.allow_loopback_http.unwrap_or(false),
        pool_instances,
        http_max_response_bytes,
        breaker_threshold,
        breaker_cooldown,
        max_memory_bytes,
    }
}

/// Plugins whose memory limit exceeds an explicitly set `[plugin_runtime] max_memory_mb`.
pub(super) fn check_slot_sizes(c: &mut Check<'_>, r: &PluginRuntimeSection, plugins: &[(String, PluginConfig)]) {
    let Some(slot) = r.max_memory_mb else { return };
    for (key, p) in plugins {
        let mb = p.limits.memory_limit_bytes >> 20;
        if mb > slot {
            c.problem(
                format!("{key}.memory_limit_mb"),
                format!("{mb} MiB is more than [plugin_runtime] max_memory_mb ({slot}); raise that or lower this"),
            );
        }
    }
}

/// Checks one `[[plugins]]` entry; `None` when it is disabled or has problems.
pub(super) fn check_plugin(
    c: &mut Check<'_>,
    key: &str,
    p: PluginSection,
    base: &Path,
    dev_mode: bool,
    seen: &mut HashSet<String>,
) -> Option<PluginConfig> {
    let start = c.problems.len();
    let name_ok = !p.name.is_empty()
        && p.name.len() <= 64
        && p.name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    if !name_ok {
        c.problem(format!("{key}.name"), format!("`{}` must be 1-64 characters of a-z, 0-9, - and _", p.name));
    } else if !seen.insert(p.name.clone()) {
        c.problem(format!("{key}.name"), format!("`{}` is defined twice", p.name));
    }
    let kind = PluginKind::parse(&p.kind);
    if kind.is_none() {
        c.problem(
            format!("{key}.kind"),
            format!("`{}` is not one of policy, login-step, notifier, idp-connector", p.kind),
        );
    }
    if p.path.is_empty() {
        c.problem(format!("{key}.path"), "is required (the .wasm component file)");
    }
    let sha256 = match p.sha256.as_deref() {
        Some(h) => parse_sha256_hex(h).or_else(|| {
            c.problem(format!("{key}.sha256"), "must be 64 hex characters (sha256sum of the .wasm file)");
            None
        }),
        None if !dev_mode => {
            c.problem(format!("{key}.sha256"), "is required outside dev_mode (pin the component: sha256sum FILE.wasm)");
            None
        }
        None => None,
    };
    let defaults = kind.map_or(PluginKind::Policy.default_limits(), PluginKind::default_limits);
    let mut ms = |field: &str, v: Option<u64>, default: Duration| match v {
        None => default,
        Some(n) if (1..=600_000).contains(&n) => Duration::from_millis(n),
        Some(n) => {
            c.problem(format!("{key}.{field}"), format!("{n} is out of range (1 to 600000)"));
            default
        }
    };
    let timeout = ms("timeout_ms", p.timeout_ms, defaults.timeout);
    let cpu_budget = ms("cpu_budget_ms", p.cpu_budget_ms, defaults.cpu_budget.min(timeout));
    let memory_limit_bytes = match p.memory_limit_mb {
        None => defaults.memory_limit_bytes,
        Some(n) if (1..=MAX_MEMORY_MB).contains(&n) => n << 20,
        Some(n) => {
            c.problem(format!("{key}.memory_limit_mb"), format!("{n} is out of range (1 to {MAX_MEMORY_MB})"));
            defaults.memory_limit_bytes
        }
    };
    let max_concurrency = match p.max_concurrency {
        None => defaults.max_concurrency,
        Some(n) if (1..=10_000).contains(&n) => n,
        Some(n) => {
            c.problem(format!("{key}.max_concurrency"), format!("{n} is out of range (1 to 10000)"));
            defaults.max_concurrency
        }
    };
    for (i, h) in p.allowed_hosts.iter().enumerate() {
        if let Err(why) = check_host(h) {
            c.problem(format!("{key}.allowed_hosts[{i}]"), format!("`{h}` {why}"));
        }
    }
    for (i, s) in p.secrets.iter().enumerate() {
        let ok = !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if !ok {
            c.problem(format!("{key}.secrets[{i}]"), format!("`{s}` is not an environment variable name"));
        }
    }
    let mut config = Vec::new();
    let mut json = serde_json::Map::new();
    for (k, v) in &p.config {
        let as_json = toml_to_json(v);
        let text = match &as_json {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        config.push((k.clone(), text));
        json.insert(k.clone(), as_json);
    }
    let route = check_route(c, key, kind, p.events, p.channel, p.recipient);
    let mode = match (p.mode.as_deref(), kind) {
        (None | Some("enforce"), _) => PolicyMode::Enforce,
        (Some("shadow"), Some(PluginKind::Policy)) => PolicyMode::Shadow,
        (Some("shadow"), _) => {
            c.problem(format!("{key}.mode"), "\"shadow\" is only for kind = \"policy\"");
            PolicyMode::Enforce
        }
        (Some(other), _) => {
            c.problem(format!("{key}.mode"), format!("`{other}` is not one of enforce, shadow"));
            PolicyMode::Enforce
        }
    };
    if p.provision_users.is_some() && kind != Some(PluginKind::IdpConnector) {
        c.problem(format!("{key}.provision_users"), "is only for kind = \"idp-connector\"");
    }
    let kind = kind?;
    if c.problems.len() != start || p.enabled == Some(false) {
        return None;
    }
    Some(PluginConfig {
        name: p.name,
        kind,
        path: base.join(&p.path),
        sha256,
        version: p.version,
        mode,
        limits: PluginLimits { timeout, cpu_budget, memory_limit_bytes, max_concurrency },
        allowed_hosts: p.allowed_hosts.iter().map(|h| h.to_ascii_lowercase()).collect(),
        secrets: p.secrets,
        config,
        config_json: serde_json::Value::Object(json).to_string(),
        route,
        provision_users: p.provision_users.unwrap_or(true),
    })
}

/// `events`, `channel` and `recipient`: required shape for notifiers, absent for the rest.
fn check_route(
    c: &mut Check<'_>,
    key: &str,
    kind: Option<PluginKind>,
    events: Vec<String>,
    channel: Option<String>,
    recipient: Option<String>,
) -> Option<NotifyRoute> {
    if kind != Some(PluginKind::Notifier) {
        for (field, set) in
            [("events", !events.is_empty()), ("channel", channel.is_some()), ("recipient", recipient.is_some())]
        {
            if set {
                c.problem(format!("{key}.{field}"), "is only for kind = \"notifier\"");
            }
        }
        return None;
    }
    if events.is_empty() {
        let known = crate::notify::EVENTS.join(", ");
        c.problem(format!("{key}.events"), format!("is required: the events to deliver (\"*\" or some of {known})"));
    }
    let links = crate::notify::transactional::TRANSACTIONAL;
    for (i, e) in events.iter().enumerate() {
        if e != "*" && !crate::notify::EVENTS.contains(&e.as_str()) && !links.contains(&e.as_str()) {
            let known = [crate::notify::EVENTS, links].concat().join(", ");
            c.problem(format!("{key}.events[{i}]"), format!("`{e}` is not an event (\"*\" or one of {known})"));
        }
    }
    // A link for a person goes to their own address (email without a fixed recipient) or to
    // the operator's webhook, never by SMS or to someone else's address.
    if let Some(e) = events.iter().find(|e| links.contains(&e.as_str())) {
        match (channel.as_deref(), recipient.is_some()) {
            (Some("sms"), _) => c.problem(
                format!("{key}.events"),
                format!("`{e}` carries a link for the person's email: not for channel = \"sms\""),
            ),
            (Some("email"), true) => c.problem(
                format!("{key}.recipient"),
                format!("`{e}` goes to the person's own address: remove recipient, or subscribe another notifier"),
            ),
            _ => {}
        }
    }
    if let Some(ch) = &channel
        && !["email", "sms", "webhook"].contains(&ch.as_str())
    {
        c.problem(format!("{key}.channel"), format!("`{ch}` is not one of email, sms, webhook"));
    }
    match (channel.as_deref(), recipient.as_deref()) {
        (Some("webhook"), Some(url)) if !url::Url::parse(url).is_ok_and(|u| matches!(u.scheme(), "https" | "http")) => {
            c.problem(format!("{key}.recipient"), format!("`{url}` is not an http(s) URL"));
        }
        (Some("webhook" | "sms"), None) => {
            c.problem(format!("{key}.recipient"), "is required for this channel (the URL or phone number)");
        }
        (_, Some(r)) if r.is_empty() || r.len() > 2048 => {
            c.problem(format!("{key}.recipient"), "must be 1-2048 characters");
        }
        _ => {}
    }
    Some(NotifyRoute { events, channel, recipient })
}

/// An allowed host is a DNS name or IP literal with an optional port; no scheme, no path.
fn check_host(h: &str) -> Result<(), &'static str> {
    if h.contains("://") || h.contains('/') {
        return Err("must be a host name such as \"api.example.com\" (no scheme, no path)");
    }
    let parsed = url::Url::parse(&format!("https://{h}/")).map_err(|_| "is not a host name")?;
    match parsed.host_str() {
        Some(host) if !host.is_empty() && parsed.username().is_empty() => Ok(()),
        _ => Err("is not a host name"),
    }
}

fn toml_to_json(v: &toml::Value) -> serde_json::Value {
    use serde_json::Value as J;
    match v {
        toml::Value::String(s) => J::String(s.clone()),
        toml::Value::Integer(i) => J::from(*i),
        toml::Value::Float(f) => serde_json::Number::from_f64(*f).map_or(J::Null, J::Number),
        toml::Value::Boolean(b) => J::Bool(*b),
        toml::Value::Datetime(d) => J::String(d.to_string()),
        toml::Value::Array(a) => J::Array(a.iter().map(toml_to_json).collect()),
        toml::Value::Table(t) => J::Object(t.iter().map(|(k, v)| (k.clone(), toml_to_json(v))).collect()),
    }
}
