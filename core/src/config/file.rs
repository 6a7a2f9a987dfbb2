//! The TOML file as written by operators and outside tools: the contract. Unknown keys are
//! errors, collected while the file is read (`serde_ignored`, in `mod.rs`) so that all of
//! them are reported at once with the other problems; every value is optional here and
//! checked in `validate`.

use serde::Deserialize;

/// The whole file.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct FileConfig {
    #[serde(default)]
    pub server: ServerSection,
    #[serde(default)]
    pub store: StoreSection,
    #[serde(default)]
    pub tokens: TokensSection,
    #[serde(default)]
    pub keys: KeysSection,
    #[serde(default)]
    pub rate_limits: RateLimitsSection,
    #[serde(default)]
    pub admin: AdminSection,
    #[serde(default)]
    pub login: LoginSection,
    #[serde(default)]
    pub oauth: OAuthSection,
    #[serde(default)]
    pub mfa: MfaSection,
    #[serde(default)]
    pub ui: UiSection,
    #[serde(default)]
    pub telemetry: TelemetrySection,
    #[serde(default)]
    pub audit: AuditSection,
    #[serde(default)]
    pub metrics: MetricsSection,
    #[serde(default)]
    pub cors: CorsSection,
    #[serde(default)]
    pub clients: Vec<ClientSection>,
    #[serde(default)]
    pub users: Vec<UserSection>,
    #[serde(default)]
    pub plugins: Vec<super::plugins::PluginSection>,
    #[serde(default)]
    pub plugin_runtime: super::plugins::PluginRuntimeSection,
    #[serde(default)]
    pub notifications: super::notifications::NotificationsSection,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct ServerSection {
    pub bind: Option<String>,
    pub issuer: Option<String>,
    pub dev_mode: Option<bool>,
    pub request_timeout: Option<String>,
    pub shutdown_timeout: Option<String>,
    pub max_connections: Option<u32>,
    pub max_connections_per_ip: Option<u32>,
    pub header_read_timeout: Option<String>,
    pub keepalive_timeout: Option<String>,
    pub max_header_bytes: Option<u32>,
    #[serde(default)]
    pub trusted_proxies: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct CorsSection {
    #[serde(default)]
    pub origins: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct MetricsSection {
    pub bind: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct AuditSection {
    pub retention: Option<String>,
    pub checkpoint_every: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct TelemetrySection {
    pub log_format: Option<String>,
    pub otlp_endpoint: Option<String>,
    pub service_name: Option<String>,
    pub sample_ratio: Option<f64>,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct StoreSection {
    pub path: Option<String>,
    pub backend: Option<String>,
    pub url: Option<String>,
    pub url_env: Option<String>,
    pub pool_size: Option<u32>,
    pub connect_wait: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct TokensSection {
    pub access_token_ttl: Option<String>,
    pub id_token_ttl: Option<String>,
    pub refresh_token_ttl: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct OAuthSection {
    pub require_pkce: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct UiSection {
    pub templates_dir: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct KeysSection {
    pub rotate_every: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct RateLimitsSection {
    pub failed_auth_per_ip: Option<String>,
    pub failed_auth_per_client: Option<String>,
    pub failed_verify_per_ip: Option<String>,
    pub token_per_client: Option<String>,
    pub introspect_per_client: Option<String>,
    pub verify_per_ip: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct AdminSection {
    pub token_sha256: Option<String>,
    pub token_env: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct LoginSection {
    pub password_hash_memory_kib: Option<u32>,
    pub password_hash_iterations: Option<u32>,
    pub password_hash_parallelism: Option<u32>,
    pub password_hash_concurrency: Option<u32>,
    pub session_idle_timeout: Option<String>,
    pub session_lifetime: Option<String>,
    pub failed_per_ip: Option<String>,
    pub failed_per_user: Option<String>,
    pub flows_per_ip: Option<String>,
    pub emails_per_ip: Option<String>,
    pub lockout_threshold: Option<u32>,
    pub lockout_duration: Option<String>,
    pub lockout_max: Option<String>,
    pub attempts_per_flow: Option<u32>,
    pub password: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct MfaSection {
    pub require: Option<String>,
    pub totp_issuer: Option<String>,
    pub reauthenticate_after: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct ClientSection {
    #[serde(default)]
    pub id: String,
    pub client_name: Option<String>,
    pub secret: Option<String>,
    pub secret_sha256: Option<String>,
    pub secret_env: Option<String>,
    #[serde(default)]
    pub public: bool,
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    pub grant_types: Option<Vec<String>>,
    #[serde(default)]
    pub scopes: Vec<String>,
    #[serde(default)]
    pub audiences: Vec<String>,
    pub token_endpoint_auth_method: Option<String>,
    pub jwks: Option<String>,
    pub jwks_uri: Option<String>,
    #[serde(default)]
    pub can_introspect: bool,
    #[serde(default)]
    pub trusted: bool,
    #[serde(default)]
    pub post_logout_redirect_uris: Vec<String>,
    pub id_token_signed_response_alg: Option<String>,
    #[serde(default)]
    pub allowed_origins: Vec<String>,
    #[serde(default)]
    pub require_mfa: bool,
    #[serde(default)]
    pub roles: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct UserSection {
    #[serde(default)]
    pub username: String,
    pub password: Option<String>,
    pub password_hash: Option<String>,
    pub email: Option<String>,
    #[serde(default)]
    pub groups: Vec<String>,
    pub name: Option<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub locale: Option<String>,
    pub zoneinfo: Option<String>,
    pub picture: Option<String>,
    pub phone_number: Option<String>,
}

/// Scalar keys that `GATEHOUSE_<SECTION>_<KEY>` environment variables may override.
pub(crate) const ENV_SCALARS: &[(&str, &str, ScalarKind)] = &[
    ("server", "bind", ScalarKind::Str),
    ("server", "issuer", ScalarKind::Str),
    ("server", "dev_mode", ScalarKind::Bool),
    ("server", "request_timeout", ScalarKind::Str),
    ("server", "shutdown_timeout", ScalarKind::Str),
    ("server", "max_connections", ScalarKind::Int),
    ("server", "max_connections_per_ip", ScalarKind::Int),
    ("server", "header_read_timeout", ScalarKind::Str),
    ("server", "keepalive_timeout", ScalarKind::Str),
    ("server", "max_header_bytes", ScalarKind::Int),
    ("telemetry", "log_format", ScalarKind::Str),
    ("telemetry", "otlp_endpoint", ScalarKind::Str),
    ("telemetry", "service_name", ScalarKind::Str),
    ("audit", "retention", ScalarKind::Str),
    ("audit", "checkpoint_every", ScalarKind::Str),
    ("metrics", "bind", ScalarKind::Str),
    ("store", "path", ScalarKind::Str),
    ("store", "backend", ScalarKind::Str),
    ("store", "url", ScalarKind::Str),
    ("store", "url_env", ScalarKind::Str),
    ("store", "pool_size", ScalarKind::Int),
    ("store", "connect_wait", ScalarKind::Str),
    ("tokens", "access_token_ttl", ScalarKind::Str),
    ("tokens", "id_token_ttl", ScalarKind::Str),
    ("tokens", "refresh_token_ttl", ScalarKind::Str),
    ("oauth", "require_pkce", ScalarKind::Bool),
    ("ui", "templates_dir", ScalarKind::Str),
    ("keys", "rotate_every", ScalarKind::Str),
    ("rate_limits", "failed_auth_per_ip", ScalarKind::Str),
    ("rate_limits", "failed_auth_per_client", ScalarKind::Str),
    ("rate_limits", "failed_verify_per_ip", ScalarKind::Str),
    ("rate_limits", "token_per_client", ScalarKind::Str),
    ("rate_limits", "introspect_per_client", ScalarKind::Str),
    ("rate_limits", "verify_per_ip", ScalarKind::Str),
    ("admin", "token_sha256", ScalarKind::Str),
    ("admin", "token_env", ScalarKind::Str),
    ("login", "password_hash_memory_kib", ScalarKind::Int),
    ("login", "password_hash_iterations", ScalarKind::Int),
    ("login", "password_hash_parallelism", ScalarKind::Int),
    ("login", "password_hash_concurrency", ScalarKind::Int),
    ("login", "session_idle_timeout", ScalarKind::Str),
    ("login", "session_lifetime", ScalarKind::Str),
    ("login", "failed_per_ip", ScalarKind::Str),
    ("login", "failed_per_user", ScalarKind::Str),
    ("login", "flows_per_ip", ScalarKind::Str),
    ("login", "emails_per_ip", ScalarKind::Str),
    ("login", "lockout_threshold", ScalarKind::Int),
    ("login", "lockout_duration", ScalarKind::Str),
    ("login", "lockout_max", ScalarKind::Str),
    ("login", "attempts_per_flow", ScalarKind::Int),
    ("login", "password", ScalarKind::Bool),
];

/// The TOML type an environment override is converted to.
#[derive(Debug, Clone, Copy)]
pub(crate) enum ScalarKind {
    Str,
    Bool,
    Int,
}
