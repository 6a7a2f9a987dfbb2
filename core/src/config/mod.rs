//! Configuration: the TOML contract (`file.rs`), environment overrides for scalars, and
//! validation into an immutable [`Config`] (`validate.rs`). Loading reports every problem at
//! once, each naming the file, the key and what is wrong.

mod entries;
mod file;
mod mfa;
mod notifications;
mod plugins;
mod store;
pub use store::{PostgresConfig, StoreBackend};
mod validate;

/// A duration as the config writes it (`30s`, `5m`), for messages.
pub fn format_duration(d: Duration) -> String {
    validate::short(d)
}

pub use notifications::NotificationsConfig;
pub use plugins::{NotifyRoute, PluginConfig, PluginKind, PluginLimits, PluginRuntimeConfig, PolicyMode};

use std::fmt;
use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::time::Duration;

use file::{ENV_SCALARS, FileConfig, ScalarKind};

use crate::store::ClientRecord;

/// The development configuration compiled into the binary (`config/gatehouse.toml`).
pub const DEV_DEFAULT_TOML: &str = include_str!("../../../config/gatehouse.toml");

/// A validated configuration. Immutable once built; shared as `Arc<Config>`.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where the configuration came from, for messages.
    pub source: String,
    /// Server settings.
    pub server: ServerConfig,
    /// The sled directory (resolved against the config file's directory); unused on postgres.
    pub store_path: PathBuf,
    /// Which backend holds the data (`[store] backend`).
    pub store: StoreBackend,
    /// Token lifetimes.
    pub tokens: TokensConfig,
    /// Automatic key rotation period.
    pub rotate_keys_every: Option<Duration>,
    /// Rate limits.
    pub rate_limits: RateLimits,
    /// SHA-256 of the admin bearer token; the admin API is off when `None`.
    pub admin_token_sha256: Option<[u8; 32]>,
    /// A separate listen address for `GET /metrics` (no authentication: bind it internally).
    pub metrics_bind: Option<SocketAddr>,
    /// Audit records older than this are pruned (`[audit] retention`); kept forever when `None`.
    pub audit_retention: Option<Duration>,
    /// How often the audit chain's head is signed (`[audit] checkpoint_every`); also at shutdown.
    pub audit_checkpoint_every: Duration,
    /// Password hashing cost and concurrency (`[login]`).
    pub password_hashing: PasswordHashing,
    /// Browser session timeouts (`[login]`).
    pub sessions: SessionConfig,
    /// Failed sign-in limits and lockout (`[login]`).
    pub login_limits: LoginLimits,
    /// `[login] password`: whether people may sign in with a password (false: federation only).
    pub password_login: bool,
    /// `[oauth]`.
    pub oauth: OAuthConfig,
    /// `[mfa]`.
    pub mfa: MfaConfig,
    /// Browser origins allowed to call the token, userinfo, JWKS and discovery endpoints
    /// (`[cors] origins`); `["*"]` allows any origin. Credentials are never allowed.
    pub cors_origins: Vec<String>,
    /// Operator templates overriding the built-in pages (`[ui] templates_dir`).
    pub templates_dir: Option<PathBuf>,
    /// Clients defined in the file.
    pub clients: Vec<ClientRecord>,
    /// Bootstrap users defined in the file.
    pub users: Vec<UserConfig>,
    /// Enabled plugins, in config order (`[[plugins]]`).
    pub plugins: Vec<PluginConfig>,
    /// Limits shared by all plugins (`[plugin_runtime]`).
    pub plugin_runtime: PluginRuntimeConfig,
    /// Retries of the notification queue (`[notifications]`).
    pub notifications: NotificationsConfig,
    /// Non-fatal remarks (short secrets and the like), printed at start-up.
    pub warnings: Vec<String>,
}

/// `[server]`.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Listen address.
    pub bind: SocketAddr,
    /// Issuer identifier; when `None`, `http://<bound address>`.
    pub issuer: Option<String>,
    /// Development conveniences: /test-token, plain-text secrets in config.
    pub dev_mode: bool,
    /// Longest a request may take, body included (then 503).
    pub request_timeout: Duration,
    /// How long shutdown waits for in-flight requests.
    pub shutdown_timeout: Duration,
    /// Open connections at most; more wait in the backlog.
    pub max_connections: usize,
    /// Open connections from one address at most (trusted proxies are exempt); more are
    /// closed at once.
    pub max_connections_per_ip: usize,
    /// A request's head (request line and headers) must arrive within this from when the
    /// server starts waiting for it; then the connection is closed.
    pub header_read_timeout: Duration,
    /// A kept-alive connection waiting for its next request is closed after this.
    pub keepalive_timeout: Duration,
    /// The largest request head accepted (431 beyond it).
    pub max_header_bytes: usize,
    /// Proxies whose `Forwarded` / `X-Forwarded-For` name the caller (`[server] trusted_proxies`).
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Log format.
    pub log_format: LogFormat,
    /// OpenTelemetry trace export (`[telemetry] otlp_endpoint`), when configured.
    pub otlp: Option<OtlpConfig>,
}

/// `[telemetry] otlp_endpoint`, `service_name`, `sample_ratio` (builds with the `otel`
/// feature only).
#[derive(Debug, Clone, PartialEq)]
pub struct OtlpConfig {
    /// Where spans are POSTed (OTLP/HTTP protobuf): the endpoint + `/v1/traces`.
    pub traces_url: String,
    /// `service.name` of the spans.
    pub service_name: String,
    /// Share of new traces sampled (a caller's sampled `traceparent` is followed).
    pub sample_ratio: f64,
}

/// `[telemetry] log_format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// `[tokens]`.
#[derive(Debug, Clone)]
pub struct TokensConfig {
    /// Lifetime of access tokens.
    pub access_token_ttl: Duration,
    /// Lifetime of ID tokens.
    pub id_token_ttl: Duration,
    /// Lifetime of each refresh token (every rotation starts a new one).
    pub refresh_token_ttl: Duration,
}

/// `[oauth]`.
#[derive(Debug, Clone, Copy, Default)]
pub struct OAuthConfig {
    /// PKCE for every client, confidential ones too.
    pub require_pkce: bool,
}

/// When a sign-in asks for a second factor (`[mfa] require`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum MfaRequire {
    /// Never (factors stay enrolled but are not asked for).
    Never,
    /// When the person has a factor.
    #[default]
    Enrolled,
    /// Always: people without a factor enrol one while signing in.
    Always,
}

/// `[mfa]`.
#[derive(Debug, Clone)]
pub struct MfaConfig {
    /// `require`.
    pub require: MfaRequire,
    /// `totp_issuer`: the name authenticator apps show beside the account.
    pub totp_issuer: String,
    /// `reauthenticate_after`: account changes older sign-ins must confirm again.
    pub reauthenticate_after: Duration,
}

/// Limits on failed browser sign-ins (`[login]`): only failures count.
#[derive(Debug, Clone, Copy)]
pub struct LoginLimits {
    /// Failed sign-ins per source IP.
    pub failed_per_ip: Rate,
    /// Failed sign-ins per login name (existing or not).
    pub failed_per_user: Rate,
    /// New login flows per source IP (each is a stored record).
    pub flows_per_ip: Rate,
    /// Emailed links (password reset, address verification) asked for per source IP.
    pub emails_per_ip: Rate,
    /// Lockout with back-off after consecutive failures.
    pub lockout: crate::ratelimit::LockoutPolicy,
    /// Password attempts one login flow may make; then the flow must start again.
    pub attempts_per_flow: u32,
}

/// Browser session timeouts.
#[derive(Debug, Clone, Copy)]
pub struct SessionConfig {
    /// A session unused this long ends.
    pub idle_timeout: Duration,
    /// A session ends this long after sign-in, used or not.
    pub lifetime: Duration,
}

/// A rate: `count` events per `per`, with a burst of `count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    /// Events allowed per period (also the burst).
    pub count: NonZeroU32,
    /// The period.
    pub per: Duration,
}

/// `[rate_limits]`. Failure limits are on by default; limits on successful traffic only
/// when configured.
#[derive(Debug, Clone)]
pub struct RateLimits {
    /// Failed client authentications per source IP.
    pub failed_auth_per_ip: Rate,
    /// Failed client authentications per client id.
    pub failed_auth_per_client: Rate,
    /// Failed `/verify` checks per source IP.
    pub failed_verify_per_ip: Rate,
    /// Token requests per client.
    pub token_per_client: Option<Rate>,
    /// Introspection requests per client.
    pub introspect_per_client: Option<Rate>,
    /// `/verify` requests per source IP.
    pub verify_per_ip: Option<Rate>,
}

/// argon2id cost (`[login] password_hash_*`); OWASP's recommendation by default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PasswordHashing {
    /// Memory per hash, KiB (default 19456).
    pub memory_kib: u32,
    /// Iterations (default 2).
    pub iterations: u32,
    /// Lanes (default 1).
    pub parallelism: u32,
    /// Hashes computed at once (default: the number of CPUs).
    pub concurrency: usize,
}

/// A `[[users]]` entry (used by browser sign-in).
#[derive(Debug, Clone)]
pub struct UserConfig {
    /// Normalised (lower-case) username.
    pub username: String,
    /// An argon2id PHC string, or a dev-mode plain password to hash at start-up.
    pub password: UserPassword,
    /// Normalised email.
    pub email: Option<String>,
    /// Group names (policies read them).
    pub groups: Vec<String>,
    /// Profile claims (`name`, `given_name`, ...).
    pub profile: crate::store::Profile,
}

/// How a bootstrap user's password is given.
#[derive(Clone)]
pub enum UserPassword {
    /// `$argon2id$...`.
    Hash(String),
    /// Plain text (dev_mode only).
    Plain(crate::secret::Secret),
}

impl fmt::Debug for UserPassword {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Hash(_) => f.write_str("Hash(..)"),
            Self::Plain(_) => f.write_str("Plain(***)"),
        }
    }
}

/// One problem found while loading.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The key, e.g. `clients[0].secret` or `server.bind`.
    pub key: String,
    /// What is wrong.
    pub message: String,
}

/// Every problem in a configuration.
#[derive(Debug, Clone, thiserror::Error)]
pub struct ConfigError {
    /// The file (or `<built-in ...>`).
    pub file: String,
    /// The problems, in file order.
    pub problems: Vec<Problem>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.problems.len();
        writeln!(f, "{}: {n} problem{}:", self.file, if n == 1 { "" } else { "s" })?;
        for p in &self.problems {
            writeln!(f, "  {}: {}: {}", self.file, p.key, p.message)?;
        }
        Ok(())
    }
}

/// What a configuration is loaded for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoadMode {
    /// Serving (and `check-config`): everything must resolve, secrets from the environment
    /// included.
    Serve,
    /// A CLI verb that works on the store (`clients`, `users`, `keys`, `audit`, backups):
    /// secrets read from environment variables may be absent, since nothing is served.
    Offline,
}

impl Config {
    /// Loads and validates `path` for serving, applying `GATEHOUSE_*` environment overrides.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        Self::load_for(path, LoadMode::Serve)
    }

    /// Loads and validates `path` for `mode`.
    pub fn load_for(path: &Path, mode: LoadMode) -> Result<Self, ConfigError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            file: file.clone(),
            problems: vec![Problem { key: "(file)".into(), message: format!("cannot read: {e}") }],
        })?;
        let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
        Self::from_toml_for(&text, &file, &base, &|k| std::env::var(k).ok(), mode)
    }

    /// The built-in development configuration; the store lives under `./data`.
    pub fn dev_default() -> Result<Self, ConfigError> {
        Self::from_toml(DEV_DEFAULT_TOML, "<built-in config/gatehouse.toml>", Path::new("."), &|k| {
            std::env::var(k).ok()
        })
    }

    /// Parses `text` for serving; relative paths resolve against `base`; `env` looks up
    /// overrides.
    pub fn from_toml(
        text: &str,
        file: &str,
        base: &Path,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        Self::from_toml_for(text, file, base, env, LoadMode::Serve)
    }

    /// [`Self::from_toml`] for `mode`. Unknown keys are collected while reading, so they are
    /// reported together with every other problem.
    pub fn from_toml_for(
        text: &str,
        file: &str,
        base: &Path,
        env: &dyn Fn(&str) -> Option<String>,
        mode: LoadMode,
    ) -> Result<Self, ConfigError> {
        let fail = |problems| ConfigError { file: file.to_owned(), problems };
        let mut table: toml::Table = toml::from_str(text).map_err(|e| fail(vec![toml_problem(text, &e)]))?;
        let overridden = apply_env(&mut table, env).map_err(fail)?;
        let mut unknown = Vec::new();
        let collect = |path: serde_ignored::Path<'_>| unknown.push(key_of(&path));
        // From the text when nothing was overridden, so that errors carry their line.
        let parsed: Result<FileConfig, toml::de::Error> = if overridden {
            serde_ignored::deserialize(toml::Value::Table(table), collect)
        } else {
            toml::de::Deserializer::parse(text).and_then(|d| serde_ignored::deserialize(d, collect))
        };
        let mut problems: Vec<Problem> = unknown
            .into_iter()
            .map(|key| {
                let message = match line_of(text, &key) {
                    Some(line) => format!("unknown key (line {line})"),
                    None => "unknown key".into(),
                };
                Problem { key, message }
            })
            .collect();
        let parsed = match parsed {
            Ok(p) => p,
            Err(e) => {
                problems.push(toml_problem(text, &e));
                return Err(fail(problems));
            }
        };
        match validate::validate(parsed, file, base, env, mode) {
            Ok(config) if problems.is_empty() => Ok(config),
            Ok(_) => Err(fail(problems)),
            Err(more) => {
                problems.extend(more);
                Err(fail(problems))
            }
        }
    }

    /// Checks a client registered outside the file (the CLI) by the rules `[[clients]]`
    /// follow; the problems are keyed `client.<field>`.
    pub fn check_client(&self, record: &ClientRecord) -> Result<(), Vec<Problem>> {
        let problems = entries::check_record(record, self.server.dev_mode);
        if problems.is_empty() { Ok(()) } else { Err(problems) }
    }

    /// The longest lifetime of any token we sign: access and ID tokens, or a dev-mode test
    /// token (which may live up to an hour).
    pub fn longest_token_ttl(&self) -> Duration {
        self.tokens.access_token_ttl.max(self.tokens.id_token_ttl).max(Duration::from_secs(3600))
    }

    /// How long a retired signing key stays published: every token it signed has expired by
    /// then, with five minutes for clock skew.
    pub fn key_retention(&self) -> Duration {
        self.longest_token_ttl() + Duration::from_secs(300)
    }

    /// Applies a `--bind` override: the listen address (and, without a configured issuer,
    /// the issuer follows the bound address).
    pub fn with_bind(mut self, bind: SocketAddr) -> Self {
        self.server.bind = bind;
        self
    }
}

/// `clients[0].colour` for a path `serde_ignored` reports.
fn key_of(path: &serde_ignored::Path<'_>) -> String {
    use serde_ignored::Path as P;
    match path {
        P::Root => String::new(),
        P::Seq { parent, index } => format!("{}[{index}]", key_of(parent)),
        P::Map { parent, key } => {
            let parent = key_of(parent);
            if parent.is_empty() { key.clone() } else { format!("{parent}.{key}") }
        }
        P::Some { parent } | P::NewtypeStruct { parent } | P::NewtypeVariant { parent } => key_of(parent),
    }
}

/// The line where `key` (`server.bnd`, `clients[1].colour`) is written, when it is written
/// as `name = ...` under its table's header.
fn line_of(text: &str, key: &str) -> Option<usize> {
    let (table, leaf) = key.rsplit_once('.').map_or(("", key), |(t, l)| (t, l));
    let mut current = String::new();
    let mut counts: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    for (n, line) in text.lines().enumerate() {
        let t = line.trim();
        if let Some(name) = t.strip_prefix("[[").and_then(|r| r.split("]]").next()) {
            let name = name.trim().to_owned();
            let i = counts.entry(name.clone()).or_insert(0);
            current = format!("{name}[{i}]");
            *i += 1;
        } else if let Some(name) = t.strip_prefix('[').and_then(|r| r.split(']').next()) {
            // A sub-table of the newest array entry (`[plugins.config]`) or a plain table.
            let name = name.trim();
            current = match name.split_once('.') {
                Some((head, rest)) if counts.contains_key(head) => format!("{head}[{}].{rest}", counts[head] - 1),
                _ => name.to_owned(),
            };
        } else if current == table && t.strip_prefix(leaf).is_some_and(|rest| rest.trim_start().starts_with('=')) {
            return Some(n + 1);
        }
    }
    None
}

/// Turns a TOML error into a problem naming the enclosing table and the line.
fn toml_problem(text: &str, e: &toml::de::Error) -> Problem {
    let message = e.message().trim().to_owned();
    let Some(span) = e.span() else {
        return Problem { key: "(file)".into(), message };
    };
    let before = &text[..span.start.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let section = before.lines().rev().map(str::trim).find(|l| l.starts_with('[')).unwrap_or("(top level)");
    Problem { key: format!("line {line}, in {section}"), message }
}

/// Applies `GATEHOUSE_<SECTION>_<KEY>` overrides; returns whether any applied.
fn apply_env(table: &mut toml::Table, env: &dyn Fn(&str) -> Option<String>) -> Result<bool, Vec<Problem>> {
    let mut any = false;
    let mut problems = Vec::new();
    for (section, key, kind) in ENV_SCALARS {
        let var = format!("GATEHOUSE_{}_{}", section.to_uppercase(), key.to_uppercase());
        let Some(raw) = env(&var) else { continue };
        let value = match kind {
            ScalarKind::Str => toml::Value::String(raw),
            ScalarKind::Int => match raw.trim().parse::<i64>() {
                Ok(n) => toml::Value::Integer(n),
                Err(_) => {
                    problems.push(Problem {
                        key: format!("{section}.{key} (from ${var})"),
                        message: format!("expected a whole number, got `{raw}`"),
                    });
                    continue;
                }
            },
            ScalarKind::Bool => match raw.as_str() {
                "true" | "1" => toml::Value::Boolean(true),
                "false" | "0" => toml::Value::Boolean(false),
                other => {
                    problems.push(Problem {
                        key: format!("{section}.{key} (from ${var})"),
                        message: format!("expected true or false, got `{other}`"),
                    });
                    continue;
                }
            },
        };
        let entry = table.entry(section.to_string()).or_insert_with(|| toml::Value::Table(toml::Table::new()));
        if let toml::Value::Table(t) = entry {
            t.insert(key.to_string(), value);
            any = true;
        } else {
            problems.push(Problem {
                key: section.to_string(),
                message: format!("is not a table, so ${var} cannot override it"),
            });
        }
    }
    if problems.is_empty() { Ok(any) } else { Err(problems) }
}

#[cfg(test)]
mod tests;
