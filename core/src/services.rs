//! The composition of the services (ARCHITECTURE, CONVENTIONS §9): [`Parts`] are what the
//! server makes once (store, keys, clients, limiters, audit log, plugins), and each service
//! takes from them exactly what its area uses. `server.rs` builds the parts for a real
//! server; `crate::testing` builds them over the memory store and a manual clock.

use std::sync::Arc;

use crate::audit::AuditLog;
use crate::config::Config;
use crate::metrics::Metrics;
use crate::oauth::client::ClientRegistry;
use crate::oauth::cors::CorsPolicy;
use crate::oauth::policy::Policies;
use crate::oauth::service::TokenService;
use crate::oidc::service::SignIn;
use crate::plugins::PluginHost;
use crate::ratelimit::Limiter;
use crate::state::Urls;
use crate::store::Db;
use crate::tokens::access::AccessTokens;
use crate::tokens::keys::KeyManager;
use crate::users::Passwords;

/// What the services are made of.
pub(crate) struct Parts {
    /// Issuer identifier.
    pub issuer: String,
    /// Endpoint URLs.
    pub urls: Arc<Urls>,
    /// The store.
    pub db: Db,
    /// Signing keys.
    pub keys: Arc<KeyManager>,
    /// Access tokens.
    pub access: Arc<AccessTokens>,
    /// Clients.
    pub clients: Arc<ClientRegistry>,
    /// Browser origins.
    pub cors: Arc<CorsPolicy>,
    /// Limiters.
    pub limiter: Arc<Limiter>,
    /// The audit log.
    pub audit: AuditLog,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// Plugins.
    pub plugins: PluginHost,
    /// Password hashing.
    pub passwords: Passwords,
    /// The clock.
    pub clock: Arc<dyn crate::clock::Clock>,
}

impl Parts {
    fn policies(&self) -> Policies {
        Policies::new(self.plugins.clone(), self.audit.clone())
    }

    /// The token endpoints' service.
    pub fn token_service(&self, config: &Config) -> TokenService {
        TokenService {
            issuer: self.issuer.clone(),
            urls: self.urls.clone(),
            ttl: config.tokens.clone(),
            longest_ttl: config.longest_token_ttl(),
            users: self.db.shared_users(),
            browser: self.db.shared_browser(),
            revocations: self.db.shared_revocations(),
            group_commit: self.db.group_commit(),
            keys: self.keys.clone(),
            access: self.access.clone(),
            clients: self.clients.clone(),
            cors: self.cors.clone(),
            limiter: self.limiter.clone(),
            audit: self.audit.clone(),
            metrics: self.metrics.clone(),
            policies: self.policies(),
        }
    }

    /// The browser sign-in service.
    pub fn sign_in(&self, config: &Config) -> SignIn {
        SignIn {
            issuer: self.issuer.clone(),
            urls: self.urls.clone(),
            require_pkce: config.oauth.require_pkce,
            session_config: config.sessions,
            users: self.db.shared_users(),
            links: self.db.shared_links(),
            password_login: config.password_login,
            browser: self.db.shared_browser(),
            attempts: self.db.shared_attempts(),
            group_commit: self.db.group_commit(),
            passwords: self.passwords.clone(),
            limiter: self.limiter.clone(),
            audit: self.audit.clone(),
            metrics: self.metrics.clone(),
            plugins: self.plugins.clone(),
            policies: self.policies(),
            clients: self.clients.clone(),
            keys: self.keys.clone(),
            mfa: crate::mfa::Mfa::new(self.db.shared_factors(), config.mfa.clone(), &self.issuer),
            once: self.db.shared_coordination(),
            revocations: self.db.shared_revocations(),
            outbox: crate::notify::transactional::Outbox::new(
                self.plugins.clone(),
                self.metrics.clone(),
                self.clock.clone(),
            ),
        }
    }
}
