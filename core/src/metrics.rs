//! Prometheus metrics: HTTP requests and latency by route, tokens issued by grant and
//! client, failed client authentications, rate-limit rejections, store flush latency,
//! process RSS, open browser sessions and plugin calls. Routes are the matched path patterns, and anything unmatched is one label,
//! so random URLs cannot grow the label space.

use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HttpLabels {
    route: String,
    method: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TokenLabels {
    grant_type: String,
    client_id: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LimitLabels {
    limit: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PluginCallLabels {
    plugin: String,
    kind: String,
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PluginLabels {
    plugin: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FederationLabels {
    connector: String,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ShadowLabels {
    plugin: String,
    agree: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct NotificationLabels {
    plugin: String,
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LoginLabels {
    result: String,
}

fn latency_histogram() -> Histogram {
    // 50 µs .. ~26 s.
    Histogram::new(exponential_buckets(0.000_05, 2.0, 20))
}

/// The server's metrics.
pub struct Metrics {
    registry: Registry,
    http_requests: Family<HttpLabels, Counter>,
    http_duration: Family<RouteLabels, Histogram, fn() -> Histogram>,
    tokens_issued: Family<TokenLabels, Counter>,
    client_auth_failures: Counter,
    rate_limited: Family<LimitLabels, Counter>,
    logins: Family<LoginLabels, Counter>,
    plugin_calls: Family<PluginCallLabels, Counter>,
    plugin_duration: Family<PluginLabels, Histogram, fn() -> Histogram>,
    rss: Gauge,
    open_sessions: Gauge,
    notifications: Family<NotificationLabels, Counter>,
    plugin_compilations: Counter,
    policy_shadow: Family<ShadowLabels, Counter>,
    federated_logins: Family<FederationLabels, Counter>,
    audit_chain_intact: Gauge,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

/// A latency histogram for store flushes, created before the metrics registry exists.
pub fn flush_histogram() -> Histogram {
    latency_histogram()
}

impl Metrics {
    /// Registers every metric; `store_flush` is the group commit's histogram.
    pub fn new(store_flush: Histogram) -> Self {
        let mut registry = Registry::with_prefix("gatehouse");
        let http_requests = Family::<HttpLabels, Counter>::default();
        registry.register("http_requests", "HTTP requests by route, method and status", http_requests.clone());
        let http_duration =
            Family::<RouteLabels, Histogram, fn() -> Histogram>::new_with_constructor(latency_histogram);
        registry.register("http_request_duration_seconds", "HTTP request latency by route", http_duration.clone());
        let tokens_issued = Family::<TokenLabels, Counter>::default();
        registry.register("tokens_issued", "Access tokens issued by grant type and client", tokens_issued.clone());
        let client_auth_failures = Counter::default();
        registry.register("client_auth_failures", "Failed client authentications", client_auth_failures.clone());
        let rate_limited = Family::<LimitLabels, Counter>::default();
        registry.register("rate_limited", "Requests refused by a rate limit", rate_limited.clone());
        let logins = Family::<LoginLabels, Counter>::default();
        registry.register("logins", "Browser sign-in attempts by result", logins.clone());
        let plugin_calls = Family::<PluginCallLabels, Counter>::default();
        registry.register("plugin_calls", "Plugin calls by plugin, kind and outcome", plugin_calls.clone());
        let plugin_duration =
            Family::<PluginLabels, Histogram, fn() -> Histogram>::new_with_constructor(latency_histogram);
        registry.register(
            "plugin_call_duration_seconds",
            "Plugin call latency (instantiation included) by plugin",
            plugin_duration.clone(),
        );
        registry.register("store_flush_duration_seconds", "Latency of group-commit store flushes", store_flush);
        let rss = Gauge::default();
        registry.register("process_resident_memory_bytes", "Resident set size of the process", rss.clone());
        let notifications = Family::<NotificationLabels, Counter>::default();
        registry.register(
            "notifications",
            "Notification delivery attempts by notifier and outcome (sent, retry, dead)",
            notifications.clone(),
        );
        let plugin_compilations = Counter::default();
        registry.register(
            "plugin_compilations",
            "Wasm components compiled (a reload compiles only components whose file changed)",
            plugin_compilations.clone(),
        );
        let policy_shadow = Family::<ShadowLabels, Counter>::default();
        registry.register(
            "policy_shadow",
            "Decisions of shadow policy plugins, by whether they agreed with the enforced decision",
            policy_shadow.clone(),
        );
        let federated_logins = Family::<FederationLabels, Counter>::default();
        registry.register(
            "federated_logins",
            "Federated sign-ins by connector and outcome (signed_in, provisioned, link_required, refused, failed)",
            federated_logins.clone(),
        );
        let open_sessions = Gauge::default();
        registry.register("open_sessions", "Browser sessions not ended or expired", open_sessions.clone());
        let audit_chain_intact = Gauge::default();
        audit_chain_intact.set(1);
        registry.register(
            "audit_chain_intact",
            "1 while the audit log's last check (at start and by audit verify) found it intact, else 0",
            audit_chain_intact.clone(),
        );
        Self {
            registry,
            http_requests,
            http_duration,
            tokens_issued,
            client_auth_failures,
            rate_limited,
            logins,
            plugin_calls,
            plugin_duration,
            rss,
            open_sessions,
            notifications,
            plugin_compilations,
            policy_shadow,
            federated_logins,
            audit_chain_intact,
        }
    }

    /// The counter of plugin compilations (the plugin runtime increments it).
    pub fn plugin_compilations(&self) -> Counter {
        self.plugin_compilations.clone()
    }

    /// Records the outcome of an audit chain check.
    pub fn audit_chain_checked(&self, intact: bool) {
        self.audit_chain_intact.set(i64::from(intact));
    }

    /// Counts one HTTP request.
    pub fn http_request(&self, route: &str, method: &str, status: u16, took: Duration) {
        let labels = HttpLabels { route: route.to_owned(), method: method.to_owned(), status };
        self.http_requests.get_or_create(&labels).inc();
        self.http_duration.get_or_create(&RouteLabels { route: labels.route }).observe(took.as_secs_f64());
    }

    /// Counts an issued token.
    pub fn token_issued(&self, grant_type: &str, client_id: &str) {
        let labels = TokenLabels { grant_type: grant_type.to_owned(), client_id: client_id.to_owned() };
        self.tokens_issued.get_or_create(&labels).inc();
    }

    /// Counts a failed client authentication.
    pub fn client_auth_failed(&self) {
        self.client_auth_failures.inc();
    }

    /// Counts a rate-limit rejection.
    pub fn rate_limited(&self, limit: &str) {
        self.rate_limited.get_or_create(&LimitLabels { limit: limit.to_owned() }).inc();
    }

    /// Counts a sign-in attempt: `success`, `failure`, `sso` (signed in by an existing session).
    pub fn login(&self, result: &'static str) {
        self.logins.get_or_create(&LoginLabels { result: result.to_owned() }).inc();
    }

    /// Counts one plugin call and its duration.
    pub fn plugin_call(&self, plugin: &str, kind: &str, outcome: &str, took: Duration) {
        let labels = PluginCallLabels { plugin: plugin.to_owned(), kind: kind.to_owned(), outcome: outcome.to_owned() };
        self.plugin_calls.get_or_create(&labels).inc();
        self.plugin_duration.get_or_create(&PluginLabels { plugin: labels.plugin }).observe(took.as_secs_f64());
    }

    /// Counts one decision of a shadow policy plugin.
    pub fn policy_shadow(&self, plugin: &str, agree: bool) {
        let labels = ShadowLabels { plugin: plugin.to_owned(), agree: if agree { "true" } else { "false" } };
        self.policy_shadow.get_or_create(&labels).inc();
    }

    /// Counts one federated sign-in's outcome.
    pub fn federated_login(&self, connector: &str, outcome: &'static str) {
        self.federated_logins.get_or_create(&FederationLabels { connector: connector.to_owned(), outcome }).inc();
    }

    /// Counts one settled notification attempt.
    pub fn notification(&self, plugin: &str, outcome: &str) {
        let labels = NotificationLabels { plugin: plugin.to_owned(), outcome: outcome.to_owned() };
        self.notifications.get_or_create(&labels).inc();
    }

    /// Sets the open-sessions gauge (counted by the scrape handler).
    pub fn set_open_sessions(&self, n: usize) {
        self.open_sessions.set(i64::try_from(n).unwrap_or(i64::MAX));
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        if let Some(kb) = resident_kb() {
            self.rss.set(kb.saturating_mul(1024));
        }
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            tracing::error!("encoding metrics failed");
        }
        out
    }
}

/// VmRSS from /proc/self/status (Linux), in KiB.
fn resident_kb() -> Option<i64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}
