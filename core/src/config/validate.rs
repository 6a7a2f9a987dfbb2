//! Checks a parsed file and builds the immutable [`Config`]. Every problem is collected so
//! an operator fixes a broken file in one pass.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::path::Path;
use std::time::Duration;

use super::LogFormat;
use super::entries::{check_client, check_user};
use super::file::FileConfig;
use super::{
    Config, LoginLimits, OAuthConfig, PasswordHashing, Problem, Rate, RateLimits, ServerConfig, SessionConfig,
    TokensConfig,
};
use crate::ratelimit::LockoutPolicy;
use crate::secret::{parse_sha256_hex, sha256_hex};
use crate::store::ClientRecord;

pub(super) struct Check<'a> {
    pub(super) problems: Vec<Problem>,
    pub(super) warnings: Vec<String>,
    pub(super) env: &'a dyn Fn(&str) -> Option<String>,
    pub(super) file: &'a str,
    /// Secrets from environment variables must resolve (serving), or may be absent (CLI
    /// verbs on the store).
    pub(super) mode: super::LoadMode,
}

impl Check<'_> {
    pub(super) fn problem(&mut self, key: impl Into<String>, message: impl Into<String>) {
        self.problems.push(Problem { key: key.into(), message: message.into() });
    }

    pub(super) fn duration(
        &mut self,
        key: &str,
        raw: Option<&str>,
        default: Duration,
        min: Duration,
        max: Duration,
    ) -> Duration {
        let Some(raw) = raw else { return default };
        match humantime::parse_duration(raw) {
            Ok(d) if d < min || d > max => {
                self.problem(key, format!("`{raw}` is out of range ({} to {})", short(min), short(max)));
                default
            }
            Ok(d) => d,
            Err(e) => {
                self.problem(key, format!("`{raw}` is not a duration such as \"10m\" or \"1h\": {e}"));
                default
            }
        }
    }

    fn rate(&mut self, key: &str, raw: Option<&str>) -> Option<Rate> {
        let raw = raw?;
        match parse_rate(raw) {
            Some(r) => Some(r),
            None => {
                self.problem(key, format!("`{raw}` is not a rate such as \"30/min\", \"5/s\" or \"1000/h\""));
                None
            }
        }
    }
}

/// A duration as an operator writes one: `100ms`, `10s`, `1m`, `90s`, `1h`, `1d`, `365d`
/// (the largest unit that divides it).
pub(crate) fn short(d: Duration) -> String {
    let ms = d.as_millis();
    let units: [(u128, &str); 4] = [(86_400_000, "d"), (3_600_000, "h"), (60_000, "m"), (1000, "s")];
    match units.iter().find(|(n, _)| ms >= *n && ms.is_multiple_of(*n)) {
        Some((n, unit)) => format!("{}{unit}", ms / n),
        None => format!("{ms}ms"),
    }
}

/// Parses `N/s`, `N/min`, `N/h` (also `sec`, `m`, `hour`).
pub(crate) fn parse_rate(raw: &str) -> Option<Rate> {
    let (n, unit) = raw.trim().split_once('/')?;
    let count = NonZeroU32::new(n.trim().parse().ok()?)?;
    let per = match unit.trim() {
        "s" | "sec" | "second" => Duration::from_secs(1),
        "m" | "min" | "minute" => Duration::from_secs(60),
        "h" | "hour" => Duration::from_secs(3600),
        _ => return None,
    };
    Some(Rate { count, per })
}

fn default_rate(count: u32, per_secs: u64) -> Rate {
    Rate { count: NonZeroU32::new(count).unwrap_or(NonZeroU32::MIN), per: Duration::from_secs(per_secs) }
}

pub(super) fn is_http_url(s: &str) -> Option<url::Url> {
    let u = url::Url::parse(s).ok()?;
    matches!(u.scheme(), "http" | "https").then_some(u)
}

/// Validates the parsed file.
pub(crate) fn validate(
    f: FileConfig,
    file: &str,
    base: &Path,
    env: &dyn Fn(&str) -> Option<String>,
    mode: super::LoadMode,
) -> Result<Config, Vec<Problem>> {
    let mut c = Check { problems: Vec::new(), warnings: Vec::new(), env, file, mode };
    let dev_mode = f.server.dev_mode.unwrap_or(false);

    let bind_raw = f.server.bind.as_deref().unwrap_or("127.0.0.1:8080");
    let bind = bind_raw.parse::<SocketAddr>().unwrap_or_else(|_| {
        c.problem("server.bind", format!("`{bind_raw}` is not an address such as \"127.0.0.1:8080\""));
        SocketAddr::from(([127, 0, 0, 1], 8080))
    });
    let issuer = f.server.issuer.as_deref().map(|raw| check_issuer(&mut c, raw, dev_mode));

    let request_timeout = c.duration(
        "server.request_timeout",
        f.server.request_timeout.as_deref(),
        Duration::from_secs(30),
        Duration::from_millis(100),
        Duration::from_secs(600),
    );
    let shutdown_timeout = c.duration(
        "server.shutdown_timeout",
        f.server.shutdown_timeout.as_deref(),
        Duration::from_secs(30),
        Duration::ZERO,
        Duration::from_secs(600),
    );
    let max_connections = match f.server.max_connections {
        None => 10_000,
        Some(n) if (1..=1_000_000).contains(&n) => n as usize,
        Some(n) => {
            c.problem("server.max_connections", format!("{n} is out of range (1 to 1000000)"));
            10_000
        }
    };
    let max_connections_per_ip = match f.server.max_connections_per_ip {
        None => 256.min(max_connections),
        Some(n) if (1..=1_000_000).contains(&n) => n as usize,
        Some(n) => {
            c.problem("server.max_connections_per_ip", format!("{n} is out of range (1 to 1000000)"));
            256
        }
    };
    let header_read_timeout = c.duration(
        "server.header_read_timeout",
        f.server.header_read_timeout.as_deref(),
        Duration::from_secs(10),
        Duration::from_millis(100),
        Duration::from_secs(600),
    );
    let keepalive_timeout = c.duration(
        "server.keepalive_timeout",
        f.server.keepalive_timeout.as_deref(),
        Duration::from_secs(5).min(header_read_timeout),
        Duration::from_millis(100),
        Duration::from_secs(600),
    );
    if keepalive_timeout > header_read_timeout {
        // The head timer runs from when the server waits for a request, so an idle
        // connection also counts against it.
        c.problem(
            "server.keepalive_timeout",
            format!("must not be longer than server.header_read_timeout ({})", short(header_read_timeout)),
        );
    }
    let max_header_bytes = match f.server.max_header_bytes {
        None => 32 * 1024,
        Some(n) if (8192..=1024 * 1024).contains(&n) => n as usize,
        Some(n) => {
            c.problem("server.max_header_bytes", format!("{n} is out of range (8192 to 1048576)"));
            32 * 1024
        }
    };
    let trusted_proxies = f
        .server
        .trusted_proxies
        .iter()
        .enumerate()
        .filter_map(|(i, raw)| {
            let parsed =
                raw.parse::<ipnet::IpNet>().or_else(|_| raw.parse::<std::net::IpAddr>().map(ipnet::IpNet::from));
            parsed
                .map_err(|_| {
                    c.problem(
                        format!("server.trusted_proxies[{i}]"),
                        format!("`{raw}` is not an address or network such as \"10.0.0.1\" or \"10.0.0.0/8\""),
                    )
                })
                .ok()
        })
        .collect();
    let audit_checkpoint_every = c.duration(
        "audit.checkpoint_every",
        f.audit.checkpoint_every.as_deref(),
        Duration::from_secs(300),
        Duration::from_secs(1),
        Duration::from_secs(24 * 3600),
    );
    let metrics_bind = f.metrics.bind.as_deref().and_then(|raw| {
        raw.parse::<SocketAddr>()
            .map_err(|_| c.problem("metrics.bind", format!("`{raw}` is not an address such as \"127.0.0.1:9090\"")))
            .ok()
    });
    let audit_retention = f.audit.retention.as_deref().map(|raw| {
        c.duration(
            "audit.retention",
            Some(raw),
            Duration::from_secs(365 * 24 * 3600),
            Duration::from_secs(60),
            Duration::from_secs(100 * 365 * 24 * 3600),
        )
    });
    let log_format = match f.telemetry.log_format.as_deref() {
        None | Some("text") => LogFormat::Text,
        Some("json") => LogFormat::Json,
        Some(other) => {
            c.problem("telemetry.log_format", format!("`{other}` is not one of text, json"));
            LogFormat::Text
        }
    };
    let otlp = check_otlp(&mut c, &f.telemetry);

    let store_rel = f.store.path.as_deref().unwrap_or("data");
    if store_rel.trim().is_empty() {
        c.problem("store.path", "must not be empty");
    }
    let store_path = base.join(store_rel);
    let store = super::store::check_store(&mut c, &f.store);

    let access_token_ttl = c.duration(
        "tokens.access_token_ttl",
        f.tokens.access_token_ttl.as_deref(),
        Duration::from_secs(600),
        Duration::from_secs(10),
        Duration::from_secs(24 * 3600),
    );
    let day = Duration::from_secs(24 * 3600);
    let id_token_ttl = c.duration(
        "tokens.id_token_ttl",
        f.tokens.id_token_ttl.as_deref(),
        Duration::from_secs(3600),
        Duration::from_secs(60),
        day,
    );
    let refresh_token_ttl = c.duration(
        "tokens.refresh_token_ttl",
        f.tokens.refresh_token_ttl.as_deref(),
        30 * day,
        Duration::from_secs(60),
        365 * day,
    );
    let sessions = SessionConfig {
        idle_timeout: c.duration(
            "login.session_idle_timeout",
            f.login.session_idle_timeout.as_deref(),
            Duration::from_secs(8 * 3600),
            Duration::from_secs(60),
            30 * day,
        ),
        lifetime: c.duration(
            "login.session_lifetime",
            f.login.session_lifetime.as_deref(),
            day,
            Duration::from_secs(60),
            365 * day,
        ),
    };
    let mfa = super::mfa::check(&mut c, &f.mfa, issuer.as_deref().unwrap_or_default());
    let login_limits = LoginLimits {
        failed_per_ip: c.rate("login.failed_per_ip", f.login.failed_per_ip.as_deref()).unwrap_or(default_rate(30, 60)),
        failed_per_user: c
            .rate("login.failed_per_user", f.login.failed_per_user.as_deref())
            .unwrap_or(default_rate(10, 60)),
        flows_per_ip: c.rate("login.flows_per_ip", f.login.flows_per_ip.as_deref()).unwrap_or(default_rate(600, 60)),
        emails_per_ip: c
            .rate("login.emails_per_ip", f.login.emails_per_ip.as_deref())
            .unwrap_or(default_rate(20, 3600)),
        lockout: LockoutPolicy {
            threshold: match f.login.lockout_threshold {
                None => 5,
                Some(n) if n <= 1000 => n,
                Some(n) => {
                    c.problem(
                        "login.lockout_threshold",
                        format!("{n} is out of range (0 to 1000; 0 turns lockout off)"),
                    );
                    5
                }
            },
            base: c.duration(
                "login.lockout_duration",
                f.login.lockout_duration.as_deref(),
                Duration::from_secs(60),
                Duration::from_secs(1),
                day,
            ),
            max: c.duration(
                "login.lockout_max",
                f.login.lockout_max.as_deref(),
                Duration::from_secs(3600),
                Duration::from_secs(1),
                30 * day,
            ),
        },
        attempts_per_flow: match f.login.attempts_per_flow {
            None => 10,
            Some(n) if (1..=1000).contains(&n) => n,
            Some(n) => {
                c.problem("login.attempts_per_flow", format!("{n} is out of range (1 to 1000)"));
                10
            }
        },
    };
    let cors_origins = f.cors.origins.clone();
    for (i, o) in cors_origins.iter().enumerate() {
        let key = format!("cors.origins[{i}]");
        if o == "*" {
            if cors_origins.len() > 1 {
                c.problem(key, "\"*\" allows every origin; list it alone");
            }
            continue;
        }
        if let Err(why) = check_origin(o) {
            c.problem(key, why);
        }
    }
    let oauth = OAuthConfig { require_pkce: f.oauth.require_pkce.unwrap_or(false) };
    let templates_dir = f.ui.templates_dir.as_deref().map(|raw| {
        let dir = base.join(raw);
        if !dir.is_dir() {
            c.problem("ui.templates_dir", format!("`{}` is not a directory", dir.display()));
        }
        dir
    });
    let rotate_keys_every = f.keys.rotate_every.as_deref().map(|raw| {
        c.duration(
            "keys.rotate_every",
            Some(raw),
            Duration::from_secs(30 * 24 * 3600),
            Duration::from_secs(60),
            Duration::from_secs(3650 * 24 * 3600),
        )
    });

    let rl = &f.rate_limits;
    let rate_limits = RateLimits {
        failed_auth_per_ip: c
            .rate("rate_limits.failed_auth_per_ip", rl.failed_auth_per_ip.as_deref())
            .unwrap_or(default_rate(30, 60)),
        failed_auth_per_client: c
            .rate("rate_limits.failed_auth_per_client", rl.failed_auth_per_client.as_deref())
            .unwrap_or(default_rate(30, 60)),
        failed_verify_per_ip: c
            .rate("rate_limits.failed_verify_per_ip", rl.failed_verify_per_ip.as_deref())
            .unwrap_or(default_rate(120, 60)),
        token_per_client: c.rate("rate_limits.token_per_client", rl.token_per_client.as_deref()),
        introspect_per_client: c.rate("rate_limits.introspect_per_client", rl.introspect_per_client.as_deref()),
        verify_per_ip: c.rate("rate_limits.verify_per_ip", rl.verify_per_ip.as_deref()),
    };

    let lg = &f.login;
    let mut int = |key: &str, v: Option<u32>, default: u32, range: std::ops::RangeInclusive<u32>| match v {
        None => default,
        Some(n) if range.contains(&n) => n,
        Some(n) => {
            c.problem(format!("login.{key}"), format!("{n} is out of range ({} to {})", range.start(), range.end()));
            default
        }
    };
    let cpus = std::thread::available_parallelism().map_or(1, |n| u32::try_from(n.get()).unwrap_or(1));
    let password_hashing = PasswordHashing {
        memory_kib: int("password_hash_memory_kib", lg.password_hash_memory_kib, 19 * 1024, 64..=4 * 1024 * 1024),
        iterations: int("password_hash_iterations", lg.password_hash_iterations, 2, 1..=20),
        parallelism: int("password_hash_parallelism", lg.password_hash_parallelism, 1, 1..=16),
        concurrency: int("password_hash_concurrency", lg.password_hash_concurrency, cpus, 1..=256) as usize,
    };

    let admin_token_sha256 =
        admin_token(&mut c, f.admin.token_sha256.as_deref(), f.admin.token_env.as_deref(), dev_mode);

    let mut seen = HashSet::new();
    let clients: Vec<ClientRecord> = f
        .clients
        .into_iter()
        .enumerate()
        .filter_map(|(i, cl)| {
            let key = format!("clients[{i}]");
            if !cl.id.is_empty() && !seen.insert(cl.id.clone()) {
                c.problem(format!("{key}.id"), format!("`{}` is defined twice", cl.id));
            }
            check_client(&mut c, &key, cl, dev_mode)
        })
        .collect();

    let mut seen_users = HashSet::new();
    let users = f
        .users
        .into_iter()
        .enumerate()
        .filter_map(|(i, u)| check_user(&mut c, &format!("users[{i}]"), u, dev_mode, &mut seen_users))
        .collect();

    let plugin_runtime = super::plugins::check_runtime(&mut c, &f.plugin_runtime);
    let notifications = super::notifications::check_notifications(&mut c, &f.notifications);
    let mut seen_plugins = HashSet::new();
    let keyed: Vec<_> = f
        .plugins
        .into_iter()
        .enumerate()
        .filter_map(|(i, p)| {
            let key = format!("plugins[{i}]");
            super::plugins::check_plugin(&mut c, &key, p, base, dev_mode, &mut seen_plugins).map(|p| (key, p))
        })
        .collect();
    super::plugins::check_slot_sizes(&mut c, &f.plugin_runtime, &keyed);
    let plugins = keyed.into_iter().map(|(_, p)| p).collect();

    if c.problems.is_empty() {
        Ok(Config {
            source: file.to_owned(),
            server: ServerConfig {
                bind,
                issuer,
                dev_mode,
                request_timeout,
                shutdown_timeout,
                max_connections,
                max_connections_per_ip,
                header_read_timeout,
                keepalive_timeout,
                max_header_bytes,
                trusted_proxies,
                log_format,
                otlp,
            },
            store_path,
            store,
            tokens: TokensConfig { access_token_ttl, id_token_ttl, refresh_token_ttl },
            rotate_keys_every,
            rate_limits,
            admin_token_sha256,
            password_hashing,
            sessions,
            login_limits,
            password_login: f.login.password.unwrap_or(true),
            cors_origins,
            oauth,
            mfa,
            templates_dir,
            audit_retention,
            audit_checkpoint_every,
            metrics_bind,
            clients,
            users,
            plugins,
            plugin_runtime,
            notifications,
            warnings: c.warnings,
        })
    } else {
        Err(c.problems)
    }
}

fn check_issuer(c: &mut Check<'_>, raw: &str, dev_mode: bool) -> String {
    let trimmed = raw.trim_end_matches('/').to_owned();
    match is_http_url(&trimmed) {
        None => c.problem("server.issuer", format!("`{raw}` is not an http(s) URL")),
        Some(u) if u.query().is_some() || u.fragment().is_some() => {
            c.problem("server.issuer", "must not have a query or fragment (OpenID Connect Discovery §3)")
        }
        Some(u) if u.scheme() == "http" && !dev_mode => {
            let loopback = matches!(u.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"));
            if !loopback {
                c.problem("server.issuer", "must use https outside dev_mode (http is allowed for loopback only)");
            }
        }
        Some(_) => {}
    }
    trimmed
}

/// An admin token shorter than this is refused outside dev_mode (it guards every admin action).
const MIN_ADMIN_TOKEN: usize = 16;

fn admin_token(c: &mut Check<'_>, sha: Option<&str>, env_name: Option<&str>, dev_mode: bool) -> Option<[u8; 32]> {
    match (sha, env_name) {
        (Some(_), Some(_)) => {
            c.problem("admin", "set token_sha256 or token_env, not both");
            None
        }
        (Some(h), None) => parse_sha256_hex(h).or_else(|| {
            c.problem("admin.token_sha256", "must be 64 hex characters (the SHA-256 of the token)");
            None
        }),
        (None, Some(var)) => match (c.env)(var) {
            Some(v) if v.chars().count() < MIN_ADMIN_TOKEN && !dev_mode => {
                c.problem(
                    "admin.token_env",
                    format!(
                        "the token in ${var} is shorter than {MIN_ADMIN_TOKEN} characters; use a random one \
                         (e.g. `openssl rand -hex 32`)"
                    ),
                );
                None
            }
            Some(v) if !v.is_empty() => {
                if v.chars().count() < super::entries::SHORT_SECRET {
                    c.warnings.push(format!(
                        "{}: admin.token_env: the token in ${var} is shorter than {} characters",
                        c.file,
                        super::entries::SHORT_SECRET
                    ));
                }
                parse_sha256_hex(&sha256_hex(v.as_bytes()))
            }
            // Verbs that only work on the store do not need the token.
            _ if c.mode == super::LoadMode::Offline => None,
            _ => {
                c.problem("admin.token_env", format!("environment variable `{var}` is not set or empty"));
                None
            }
        },
        (None, None) => None,
    }
}

/// `[telemetry] otlp_endpoint`, `service_name`, `sample_ratio`: OpenTelemetry trace export,
/// which needs a build with the `otel` feature.
fn check_otlp(c: &mut Check<'_>, t: &super::file::TelemetrySection) -> Option<super::OtlpConfig> {
    let Some(endpoint) = t.otlp_endpoint.as_deref() else {
        for (key, set) in [("service_name", t.service_name.is_some()), ("sample_ratio", t.sample_ratio.is_some())] {
            if set {
                c.problem(format!("telemetry.{key}"), "needs telemetry.otlp_endpoint");
            }
        }
        return None;
    };
    if !cfg!(feature = "otel") {
        c.problem(
            "telemetry.otlp_endpoint",
            "this gatehouse was built without OpenTelemetry; build it with `cargo build --release --features otel`",
        );
        return None;
    }
    let ok = url::Url::parse(endpoint).is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some());
    if !ok {
        c.problem(
            "telemetry.otlp_endpoint",
            format!(
                "`{endpoint}` is not an http(s) URL such as \"http://127.0.0.1:4318\" (the collector's OTLP/HTTP base)"
            ),
        );
    }
    let sample_ratio = match t.sample_ratio {
        None => 1.0,
        Some(r) if (0.0..=1.0).contains(&r) => r,
        Some(r) => {
            c.problem("telemetry.sample_ratio", format!("{r} is out of range (0.0 to 1.0)"));
            1.0
        }
    };
    let service_name = t.service_name.clone().unwrap_or_else(|| "gatehouse".into());
    if service_name.trim().is_empty() {
        c.problem("telemetry.service_name", "must not be empty");
    }
    Some(super::OtlpConfig {
        traces_url: format!("{}/v1/traces", endpoint.trim_end_matches('/')),
        service_name,
        sample_ratio,
    })
}

/// A browser origin: scheme, host, optional port; no path, no wildcard.
pub(super) fn check_origin(o: &str) -> Result<(), String> {
    match url::Url::parse(o) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.origin().ascii_serialization() == o => Ok(()),
        _ => Err(format!(
            "`{o}` is not an origin such as \"https://app.example.com\" (scheme, host, optional port; no path)"
        )),
    }
}
