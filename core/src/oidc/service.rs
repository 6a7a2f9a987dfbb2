//! [`SignIn`]: what the authorization endpoint, the login pages and logout use: the users,
//! browser grants (flows, sessions, codes, consent) and sign-in counters of the store, the
//! group commit, password hashing, the limiters, the audit log, the login-step and policy
//! plugins, the clients and the keys (an `id_token_hint` at logout). `server.rs` builds it;
//! tests build one over the memory store and a manual clock (`crate::testing`).

use std::sync::Arc;

use crate::audit::AuditLog;
use crate::config::SessionConfig;
use crate::metrics::Metrics;
use crate::oauth::client::ClientRegistry;
use crate::oauth::policy::Policies;
use crate::plugins::PluginHost;
use crate::ratelimit::Limiter;
use crate::state::Urls;
use crate::store::{BrowserStore, Coordination, GroupCommit, LinkStore, LoginAttempts, UserStore};
use crate::tokens::keys::KeyManager;
use crate::users::Passwords;

use super::session;

/// The browser sign-in side of the server (see the module text).
pub struct SignIn {
    /// Issuer identifier (`iss` on redirects).
    pub(crate) issuer: String,
    /// Endpoint URLs (the login page).
    pub(crate) urls: Arc<Urls>,
    /// `[oauth] require_pkce`.
    pub(crate) require_pkce: bool,
    /// `[sessions]`.
    pub(crate) session_config: SessionConfig,
    /// Users.
    pub(crate) users: Arc<dyn UserStore>,
    /// Federated identities linked to users.
    pub(crate) links: Arc<dyn LinkStore>,
    /// `[login] password`: the password form is offered (false: federation only).
    pub(crate) password_login: bool,
    /// Flows, sessions, codes, consent.
    pub(crate) browser: Arc<dyn BrowserStore>,
    /// Sign-in counters and lockouts.
    pub(crate) attempts: Arc<dyn LoginAttempts>,
    /// Durability before an answer (`commit()`).
    pub(crate) group_commit: GroupCommit,
    /// Password hashing (bounded pool).
    pub(crate) passwords: Passwords,
    /// Rate limits and lockout policy.
    pub(crate) limiter: Arc<Limiter>,
    /// The audit log.
    pub(crate) audit: AuditLog,
    /// Metrics.
    pub(crate) metrics: Arc<Metrics>,
    /// Login-step plugins.
    pub(crate) plugins: PluginHost,
    /// Policy plugins (the `authorize` stage).
    pub(crate) policies: Policies,
    /// Clients.
    pub(crate) clients: Arc<ClientRegistry>,
    /// Signing keys (to read an `id_token_hint`).
    pub(crate) keys: Arc<KeyManager>,
    /// Second factors.
    pub(crate) mfa: crate::mfa::Mfa,
    /// Single-use keys (passkey challenges, across instances).
    pub(crate) once: Arc<dyn Coordination>,
    /// Emailed links (password reset, address verification).
    pub(crate) outbox: crate::notify::transactional::Outbox,
    /// Revoked token ids (a password reset revokes the newest access token of each grant).
    pub(crate) revocations: Arc<dyn crate::store::RevocationStore>,
}

impl SignIn {
    /// What a session lookup reads.
    pub(crate) fn sessions(&self) -> session::Stores<'_> {
        session::Stores { browser: &*self.browser, users: &*self.users }
    }
}
