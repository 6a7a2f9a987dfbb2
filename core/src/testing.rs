//! The test constructor of the services (CONVENTIONS §9): [`Harness`] builds
//! [`TokenService`] and [`SignIn`] from the same parts a server uses, over the memory store
//! and a manual clock, with the clients and users of a small config. Unit tests of the grants
//! and the login steps run on it without a socket.

use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::sync::Arc;

use time::OffsetDateTime;
use time::macros::datetime;

use crate::audit::AuditLog;
use crate::clock::{Clock as _, ManualClock};
use crate::config::Config;
use crate::metrics::Metrics;
use crate::oauth::RequestMeta;
use crate::oauth::client::ClientRegistry;
use crate::oauth::cors::CorsPolicy;
use crate::oauth::params::Params;
use crate::oauth::service::TokenService;
use crate::oidc::service::SignIn;
use crate::plugins::PluginHost;
use crate::ratelimit::Limiter;
use crate::services::Parts;
use crate::state::Urls;
use crate::store::Db;
use crate::tokens::access::AccessTokens;
use crate::tokens::keys::KeyManager;
use crate::users::Passwords;

/// The issuer of test services.
pub(crate) const ISSUER: &str = "https://id.test";
/// A confidential client for `client_credentials`.
pub(crate) const SVC: (&str, &str) = ("svc", "svc-secret-0123456789abcdefghij");
/// A confidential web client for the browser grants.
pub(crate) const WEB: (&str, &str) = ("web", "web-secret-0123456789abcdefghij");
/// Its redirect URI.
pub(crate) const WEB_CB: &str = "https://app.test/cb";
/// A user and password.
pub(crate) const ALICE: (&str, &str) = ("alice", "alice's password 123");

/// The config of [`Harness::new`].
pub(crate) fn config_toml() -> String {
    format!(
        r#"
[server]
dev_mode = true
issuer = "{ISSUER}"
[login]
password_hash_memory_kib = 256
password_hash_iterations = 1
[[clients]]
id = "{svc}"
secret = "{svc_secret}"
grant_types = ["client_credentials"]
scopes = ["logs:read", "logs:write"]
audiences = ["logging"]
[[clients]]
id = "{web}"
secret = "{web_secret}"
redirect_uris = ["{WEB_CB}"]
grant_types = ["authorization_code", "refresh_token"]
scopes = ["api"]
[[users]]
username = "{alice}"
password = "{alice_password}"
email = "alice@example.com"
"#,
        svc = SVC.0,
        svc_secret = SVC.1,
        web = WEB.0,
        web_secret = WEB.1,
        alice = ALICE.0,
        alice_password = ALICE.1,
    )
}

/// Services over one memory store, at a manual time.
pub(crate) struct Harness {
    /// The time every service sees.
    pub clock: ManualClock,
    /// The store underneath (to inspect what a call wrote).
    pub db: Db,
    /// The token endpoints' service.
    pub tokens: TokenService,
    /// The sign-in service.
    pub sign_in: SignIn,
}

impl Harness {
    /// With [`config_toml`].
    pub(crate) async fn new() -> Self {
        Self::with_config(&config_toml()).await
    }

    /// With a config (its `[store]` is not used: the store is in memory).
    pub(crate) async fn with_config(toml: &str) -> Self {
        let config = Config::from_toml(toml, "<test>", Path::new("."), &|_| None).expect("test config");
        let clock = ManualClock::new(datetime!(2026-03-01 12:00 UTC));
        let db = Db::new(crate::store::memory());
        let metrics = Arc::new(Metrics::new(crate::metrics::flush_histogram()));
        let plugins =
            PluginHost::start(&config.plugins, config.plugin_runtime, metrics.clone()).await.expect("plugins");
        plugins.attach_store(db.plugin_kv());
        let now = clock.now();
        let keys = Arc::new(KeyManager::load_or_create(db.clone(), now, config.key_retention()).await.expect("keys"));
        let clients = ClientRegistry::new(&config.clients, db.clone(), config.server.dev_mode).expect("clients");
        let audit = AuditLog::start(&db).await.expect("audit");
        let passwords = Passwords::new(&config.password_hashing).expect("passwords");
        crate::users::bootstrap(&db, &passwords, &config.users, now).await.expect("users");
        let urls = Arc::new(Urls::new(ISSUER));
        let parts = Parts {
            issuer: ISSUER.to_owned(),
            urls,
            db: db.clone(),
            access: Arc::new(AccessTokens::new(ISSUER.to_owned(), keys.clone())),
            keys,
            clients: Arc::new(clients),
            cors: Arc::new(CorsPolicy::default()),
            limiter: Arc::new(Limiter::new(&config.rate_limits, &config.login_limits)),
            audit,
            metrics,
            plugins,
            passwords,
            clock: Arc::new(clock.clone()),
        };
        Self { tokens: parts.token_service(&config), sign_in: parts.sign_in(&config), clock, db }
    }

    /// The current time.
    pub(crate) fn now(&self) -> OffsetDateTime {
        self.clock.now()
    }
}

/// A request from 192.0.2.1.
pub(crate) fn meta() -> RequestMeta {
    RequestMeta {
        ip: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)),
        request_id: "test".into(),
        origin: None,
        user_agent: None,
    }
}

/// Form parameters.
pub(crate) fn params(pairs: &[(&str, &str)]) -> Params {
    Params::from_pairs(pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect())
}

/// `client_secret_post` credentials for `client` plus `pairs`.
pub(crate) fn form(client: (&str, &str), pairs: &[(&str, &str)]) -> Params {
    let mut all = vec![("client_id", client.0), ("client_secret", client.1)];
    all.extend_from_slice(pairs);
    params(&all)
}
