//! [`TokenService`]: what the token, introspection, revocation, `/verify`, userinfo and
//! test-token endpoints use, and nothing else: three store capabilities (users, browser
//! grants, revocations) and the group commit, the keys, the client registry, the limiters,
//! the audit log and the policy plugins. `server.rs` builds it; tests build one over the
//! memory store and a manual clock (`crate::testing`).

use std::sync::Arc;
use std::time::Duration;

use crate::audit::AuditLog;
use crate::config::TokensConfig;
use crate::metrics::Metrics;
use crate::oauth::client::ClientRegistry;
use crate::oauth::cors::CorsPolicy;
use crate::oauth::policy::Policies;
use crate::ratelimit::Limiter;
use crate::state::Urls;
use crate::store::{BrowserStore, GroupCommit, RevocationStore, UserStore};
use crate::tokens::access::AccessTokens;
use crate::tokens::keys::KeyManager;

/// The token side of the server (see the module text).
pub struct TokenService {
    /// Issuer identifier (`iss`, and the audience of tokens for no registered audience).
    pub(crate) issuer: String,
    /// Endpoint URLs (client assertions name the endpoint they are for).
    pub(crate) urls: Arc<Urls>,
    /// `[tokens]` lifetimes.
    pub(crate) ttl: TokensConfig,
    /// The longest lifetime any token may have (caps test tokens).
    pub(crate) longest_ttl: Duration,
    /// Users (a user's grant needs them enabled).
    pub(crate) users: Arc<dyn UserStore>,
    /// Codes and refresh families.
    pub(crate) browser: Arc<dyn BrowserStore>,
    /// Revoked access tokens.
    pub(crate) revocations: Arc<dyn RevocationStore>,
    /// Durability before an answer (`commit()`).
    pub(crate) group_commit: GroupCommit,
    /// Signing keys (ID tokens).
    pub(crate) keys: Arc<KeyManager>,
    /// Access token issuance and verification.
    pub(crate) access: Arc<AccessTokens>,
    /// Clients and client authentication.
    pub(crate) clients: Arc<ClientRegistry>,
    /// Browser origins allowed per client.
    pub(crate) cors: Arc<CorsPolicy>,
    /// Rate and failure limits.
    pub(crate) limiter: Arc<Limiter>,
    /// The audit log.
    pub(crate) audit: AuditLog,
    /// Metrics.
    pub(crate) metrics: Arc<Metrics>,
    /// The policy plugins.
    pub(crate) policies: Policies,
}
