//! `AppState`: what the HTTP layer holds (no globals): the services the domain runs on
//! ([`crate::oauth::service::TokenService`], [`crate::oidc::service::SignIn`]), and what the
//! admin, health and page handlers use directly.

use std::ops::Deref;
use std::sync::Arc;

use crate::audit::AuditLog;
use crate::clock::Clock;
use crate::config::Config;
use crate::metrics::Metrics;
use crate::ratelimit::Limiter;
use crate::store::Db;
use crate::tokens::keys::KeyManager;
use crate::users::Passwords;

/// Absolute URLs of our endpoints (issuer + path).
#[derive(Debug, Clone)]
pub struct Urls {
    /// Token endpoint.
    pub token: String,
    /// Introspection endpoint.
    pub introspect: String,
    /// Revocation endpoint.
    pub revoke: String,
    /// JWKS.
    pub jwks: String,
    /// Service verification endpoint.
    pub verify: String,
    /// Authorization endpoint.
    pub authorize: String,
    /// Login pages.
    pub login: String,
    /// UserInfo endpoint.
    pub userinfo: String,
    /// End-session endpoint.
    pub logout: String,
    /// Where federated sign-ins start and return: `{federation}/{id}/start` and
    /// `{federation}/{id}/callback` (the redirect URI operators register at the provider).
    pub federation: String,
    /// The account page.
    pub account: String,
    /// Where a password reset link leads.
    pub password_reset: String,
    /// Where an address verification link leads.
    pub email_verify: String,
}

impl Urls {
    /// The endpoints of `issuer`.
    pub fn new(issuer: &str) -> Self {
        use crate::http::paths;
        let at = |path: &str| format!("{issuer}{path}");
        Self {
            token: at(paths::TOKEN),
            introspect: at(paths::INTROSPECT),
            revoke: at(paths::REVOKE),
            jwks: at(paths::JWKS),
            verify: at(paths::VERIFY),
            authorize: at(paths::AUTHORIZE),
            login: at(paths::LOGIN),
            userinfo: at(paths::USERINFO),
            logout: at(paths::LOGOUT),
            federation: at(paths::FEDERATION),
            account: at(paths::ACCOUNT),
            password_reset: at(paths::PASSWORD_RESET),
            email_verify: at(paths::EMAIL_VERIFY),
        }
    }
}

/// Shared server state; cheap to clone.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

/// The contents of [`AppState`].
pub struct Inner {
    /// Validated configuration.
    pub config: Arc<Config>,
    /// Issuer identifier.
    pub issuer: String,
    /// Endpoint URLs.
    pub urls: Arc<Urls>,
    /// Store with group commit.
    pub db: Db,
    /// Time source.
    pub clock: Arc<dyn Clock>,
    /// Signing keys.
    pub keys: Arc<KeyManager>,
    /// Rate limiters.
    pub limiter: Arc<Limiter>,
    /// Password hashing (bounded pool).
    pub passwords: Passwords,
    /// The audit log writer.
    pub audit: AuditLog,
    /// Signs the audit chain's head (`audit/checkpoint.rs`).
    pub checkpoints: Arc<crate::audit::checkpoint::Checkpointer>,
    /// Prometheus metrics.
    pub metrics: Arc<Metrics>,
    /// Discovery document, precomputed.
    pub discovery_json: bytes::Bytes,
    /// Compiled page templates.
    pub pages: crate::ui::Pages,
    /// Wasm plugins.
    pub plugins: crate::plugins::PluginHost,
    /// Browser origins for the cross-origin endpoints (`[cors]`, clients' `allowed_origins`).
    pub cors: Arc<crate::oauth::cors::CorsPolicy>,
    /// The token endpoints' service.
    pub tokens: crate::oauth::service::TokenService,
    /// The browser sign-in service.
    pub sign_in: crate::oidc::service::SignIn,
}

impl AppState {
    /// Wraps the parts.
    pub fn new(inner: Inner) -> Self {
        Self(Arc::new(inner))
    }
}

impl Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}
