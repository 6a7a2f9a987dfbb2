//! Checks a parsed file and builds the immutable [`Config`]. Every problem is collected so
//! an operator fixes a broken file in one pass.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::path::Path;
use std::time::Duration;

use super::LogFormat;
use super::file::{ClientSection, FileConfig, UserSection};
use super::{Config, PasswordHashing, Problem, Rate, RateLimits, ServerConfig, TokensConfig, UserConfig, UserPassword};
use crate::secret::{Secret, parse_sha256_hex, sha256_hex};
use crate::store::ClientRecord;

/// Grant types a client may list (`authorization_code` and `refresh_token` are served once
/// browser sign-in exists; listing them now is not an error).
const GRANT_TYPES: &[&str] = &["client_credentials", "authorization_code", "refresh_token"];
/// Client authentication methods (RFC 7591 names).
const AUTH_METHODS: &[&str] = &["client_secret_basic", "client_secret_post", "private_key_jwt", "none"];
/// ID token algorithms a client may ask for.
const ID_TOKEN_ALGS: &[&str] = &["RS256", "ES256"];
/// Configured secrets shorter than this draw a warning.
const SHORT_SECRET: usize = 24;

struct Check<'a> {
    problems: Vec<Problem>,
    warnings: Vec<String>,
    env: &'a dyn Fn(&str) -> Option<String>,
    file: &'a str,
}

impl Check<'_> {
    fn problem(&mut self, key: impl Into<String>, message: impl Into<String>) {
        self.problems.push(Problem { key: key.into(), message: message.into() });
    }

    fn duration(&mut self, key: &str, raw: Option<&str>, default: Duration, min: Duration, max: Duration) -> Duration {
        let Some(raw) = raw else { return default };
        match humantime::parse_duration(raw) {
            Ok(d) if d < min || d > max => {
                self.problem(
                    key,
                    format!(
                        "`{raw}` is out of range ({} to {})",
                        humantime::format_duration(min),
                        humantime::format_duration(max)
                    ),
                );
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

fn is_http_url(s: &str) -> Option<url::Url> {
    let u = url::Url::parse(s).ok()?;
    matches!(u.scheme(), "http" | "https").then_some(u)
}

/// Validates the parsed file.
pub(crate) fn validate(
    f: FileConfig,
    file: &str,
    base: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Config, Vec<Problem>> {
    let mut c = Check { problems: Vec::new(), warnings: Vec::new(), env, file };
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

    let store_rel = f.store.path.as_deref().unwrap_or("data");
    if store_rel.trim().is_empty() {
        c.problem("store.path", "must not be empty");
    }
    let store_path = base.join(store_rel);

    let access_token_ttl = c.duration(
        "tokens.access_token_ttl",
        f.tokens.access_token_ttl.as_deref(),
        Duration::from_secs(600),
        Duration::from_secs(10),
        Duration::from_secs(24 * 3600),
    );
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

    let admin_token_sha256 = admin_token(&mut c, f.admin.token_sha256.as_deref(), f.admin.token_env.as_deref());

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
                log_format,
            },
            store_path,
            tokens: TokensConfig { access_token_ttl },
            rotate_keys_every,
            rate_limits,
            admin_token_sha256,
            password_hashing,
            audit_retention,
            metrics_bind,
            clients,
            users,
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

fn admin_token(c: &mut Check<'_>, sha: Option<&str>, env_name: Option<&str>) -> Option<[u8; 32]> {
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
            Some(v) if !v.is_empty() => parse_sha256_hex(&sha256_hex(v.as_bytes())),
            _ => {
                c.problem("admin.token_env", format!("environment variable `{var}` is not set or empty"));
                None
            }
        },
        (None, None) => None,
    }
}

fn check_client(c: &mut Check<'_>, key: &str, cl: ClientSection, dev_mode: bool) -> Option<ClientRecord> {
    let start = c.problems.len();
    if cl.id.trim().is_empty() {
        c.problem(format!("{key}.id"), "is required");
    }
    let sources = [cl.secret.is_some(), cl.secret_sha256.is_some(), cl.secret_env.is_some()];
    if sources.iter().filter(|s| **s).count() > 1 {
        c.problem(key, "set only one of secret, secret_sha256, secret_env");
    }
    let secret_sha256 = if let Some(s) = &cl.secret {
        if !dev_mode {
            c.problem(
                format!("{key}.secret"),
                "plain-text secrets are allowed only with server.dev_mode = true; use secret_sha256 or secret_env",
            );
        }
        if s.is_empty() {
            c.problem(format!("{key}.secret"), "must not be empty");
        } else if s.len() < SHORT_SECRET {
            c.warnings.push(format!(
                "{}: {key}.secret is shorter than {SHORT_SECRET} characters; generated secrets are 32 random bytes",
                c.file
            ));
        }
        Some(sha256_hex(Secret::new(s.as_str()).expose().as_bytes()))
    } else if let Some(h) = &cl.secret_sha256 {
        parse_sha256_hex(h).map(hex::encode).or_else(|| {
            c.problem(format!("{key}.secret_sha256"), "must be 64 hex characters");
            None
        })
    } else if let Some(var) = &cl.secret_env {
        match (c.env)(var) {
            Some(v) if !v.is_empty() => {
                if v.len() < SHORT_SECRET {
                    c.warnings.push(format!(
                        "{}: {key}: the secret in ${var} is shorter than {SHORT_SECRET} characters",
                        c.file
                    ));
                }
                Some(sha256_hex(v.as_bytes()))
            }
            _ => {
                c.problem(format!("{key}.secret_env"), format!("environment variable `{var}` is not set or empty"));
                None
            }
        }
    } else {
        None
    };
    let has_keys = cl.jwks.is_some() || cl.jwks_uri.is_some();
    if cl.jwks.is_some() && cl.jwks_uri.is_some() {
        c.problem(key, "set jwks or jwks_uri, not both");
    }
    if let Some(j) = &cl.jwks
        && serde_json::from_str::<jsonwebtoken::jwk::JwkSet>(j).is_err()
    {
        c.problem(format!("{key}.jwks"), "is not a JSON Web Key Set (RFC 7517 §5)");
    }
    if let Some(u) = &cl.jwks_uri
        && is_http_url(u).is_none()
    {
        c.problem(format!("{key}.jwks_uri"), format!("`{u}` is not an http(s) URL"));
    }
    if cl.public && (secret_sha256.is_some() || has_keys) {
        c.problem(key, "a public client has no secret and no keys");
    }
    if !cl.public && secret_sha256.is_none() && !has_keys && c.problems.len() == start {
        c.problem(
            key,
            "a confidential client needs secret_sha256, secret_env (or secret in dev_mode), jwks or jwks_uri",
        );
    }
    let grant_types = cl
        .grant_types
        .unwrap_or_else(|| vec![if cl.public { "authorization_code" } else { "client_credentials" }.to_owned()]);
    for g in &grant_types {
        if !GRANT_TYPES.contains(&g.as_str()) {
            c.problem(
                format!("{key}.grant_types"),
                format!("unknown grant type `{g}` (known: {})", GRANT_TYPES.join(", ")),
            );
        }
    }
    if cl.public && grant_types.iter().any(|g| g == "client_credentials") {
        c.problem(format!("{key}.grant_types"), "a public client cannot use client_credentials");
    }
    if let Some(m) = &cl.token_endpoint_auth_method {
        let fits = match m.as_str() {
            "none" => cl.public,
            "private_key_jwt" => has_keys,
            "client_secret_basic" | "client_secret_post" => secret_sha256.is_some() || !c.problems.is_empty(),
            _ => true,
        };
        if !AUTH_METHODS.contains(&m.as_str()) {
            c.problem(
                format!("{key}.token_endpoint_auth_method"),
                format!("unknown method `{m}` (known: {})", AUTH_METHODS.join(", ")),
            );
        } else if !fits {
            c.problem(
                format!("{key}.token_endpoint_auth_method"),
                format!("`{m}` does not fit the credentials configured"),
            );
        }
    }
    for (field, list) in
        [("redirect_uris", &cl.redirect_uris), ("post_logout_redirect_uris", &cl.post_logout_redirect_uris)]
    {
        for u in list {
            match url::Url::parse(u) {
                Ok(p) if p.fragment().is_none() => {}
                Ok(_) => {
                    c.problem(format!("{key}.{field}"), format!("`{u}` must not contain a fragment (RFC 6749 §3.1.2)"))
                }
                Err(_) => c.problem(format!("{key}.{field}"), format!("`{u}` is not an absolute URI")),
            }
        }
    }
    for (field, list) in [("scopes", &cl.scopes), ("audiences", &cl.audiences)] {
        for s in list {
            if s.is_empty() || s.chars().any(|ch| ch.is_whitespace() || ch == '"' || ch == '\\') {
                c.problem(
                    format!("{key}.{field}"),
                    format!("`{s}` is not a valid value (no spaces, quotes or backslashes)"),
                );
            }
        }
    }
    if let Some(a) = &cl.id_token_signed_response_alg
        && !ID_TOKEN_ALGS.contains(&a.as_str())
    {
        c.problem(
            format!("{key}.id_token_signed_response_alg"),
            format!("`{a}` is not one of {}", ID_TOKEN_ALGS.join(", ")),
        );
    }
    (c.problems.len() == start).then_some(ClientRecord {
        id: cl.id,
        secret_sha256,
        public: cl.public,
        redirect_uris: cl.redirect_uris,
        grant_types,
        scopes: cl.scopes,
        audiences: cl.audiences,
        token_endpoint_auth_method: cl.token_endpoint_auth_method,
        jwks: cl.jwks,
        jwks_uri: cl.jwks_uri,
        can_introspect: cl.can_introspect,
        trusted: cl.trusted,
        post_logout_redirect_uris: cl.post_logout_redirect_uris,
        id_token_signed_response_alg: cl.id_token_signed_response_alg,
        created_at: 0,
    })
}

fn check_user(
    c: &mut Check<'_>,
    key: &str,
    u: UserSection,
    dev_mode: bool,
    seen: &mut HashSet<String>,
) -> Option<UserConfig> {
    let start = c.problems.len();
    let username = match crate::users::normalize_username(&u.username) {
        Ok(name) => {
            if !seen.insert(name.clone()) {
                c.problem(format!("{key}.username"), format!("`{name}` is defined twice"));
            }
            name
        }
        Err(why) => {
            c.problem(format!("{key}.username"), format!("`{}` {why}", u.username));
            String::new()
        }
    };
    let password = match (u.password, u.password_hash) {
        (Some(_), Some(_)) => {
            c.problem(key, "set password or password_hash, not both");
            None
        }
        (Some(p), None) => {
            if !dev_mode {
                c.problem(
                    format!("{key}.password"),
                    "plain-text passwords are allowed only with server.dev_mode = true; use password_hash",
                );
            }
            Some(UserPassword::Plain(Secret::new(p)))
        }
        (None, Some(h)) if h.starts_with("$argon2id$") => Some(UserPassword::Hash(h)),
        (None, Some(_)) => {
            c.problem(format!("{key}.password_hash"), "must be an argon2id PHC string ($argon2id$...)");
            None
        }
        (None, None) => {
            c.problem(key, "needs password_hash (or password in dev_mode)");
            None
        }
    };
    let email = u.email.and_then(|raw| match crate::users::normalize_email(&raw) {
        Ok(e) => Some(e),
        Err(why) => {
            c.problem(format!("{key}.email"), format!("`{raw}` {why}"));
            None
        }
    });
    match password {
        Some(password) if c.problems.len() == start => Some(UserConfig { username, password, email }),
        _ => None,
    }
}
