//! Server lifecycle: bind the listener (port 0 supported; the issuer follows the bound
//! address when the config sets none), open the store, load keys, build state, then serve
//! until the shutdown future resolves, finishing in-flight requests and flushing the store.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::audit::checkpoint::{Checkpointer, check_tail};
use crate::audit::{Actor, AuditEvent, AuditLog, ChainBreak};
use crate::clock::Clock;
use crate::config::Config;
use crate::http;
use crate::http::client_ip::TrustedProxies;
use crate::http::listener::LimitedListener;
use crate::metrics::Metrics;
use crate::oauth::client::ClientRegistry;
use crate::oidc::discovery;
use crate::plugins::PluginHost;
use crate::ratelimit::Limiter;
use crate::secret::{Secret, random_token, sha256_hex};
use crate::services::Parts;
use crate::state::{AppState, Inner, Urls};
use crate::store::{Backend, ClientRecord, Db, StoreError};
use crate::tokens::access::AccessTokens;
use crate::tokens::keys::{KeyError, KeyManager};
use crate::users::{self, Passwords};

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
    /// The store could not be opened or used.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Keys could not be loaded or generated.
    #[error(transparent)]
    Keys(#[from] KeyError),
    /// Something else, described.
    #[error("{0}")]
    Other(String),
}

/// A bound server, ready to run.
pub struct Server {
    listener: TcpListener,
    metrics_listener: Option<TcpListener>,
    state: AppState,
    addr: SocketAddr,
    /// In dev mode with no clients at all, the client created on this start, with its secret.
    pub demo_client: Option<(String, Secret)>,
    /// In dev mode, the demo client made by an earlier start (its secret is not known now).
    pub kept_demo_client: Option<String>,
    /// SIGHUP, taken over before the server says it listens (its default action is to end
    /// the process).
    #[cfg(unix)]
    hangup: Option<tokio::signal::unix::Signal>,
}

/// Id of the client the dev server creates when none exists.
pub const DEMO_CLIENT_ID: &str = "demo";

/// What is checked and built before the store is opened: the pages, password hashing and
/// the plugins (compiled and type-checked). `check-config` runs exactly this, so it refuses
/// what `serve` refuses, and a configuration that fails here writes nothing.
pub struct Prepared {
    pages: crate::ui::Pages,
    passwords: Passwords,
    flush_latency: prometheus_client::metrics::histogram::Histogram,
    metrics: Arc<Metrics>,
    plugins: PluginHost,
}

impl Prepared {
    /// Checks and builds what `config` needs before any state exists.
    pub async fn new(config: &Config) -> Result<Self, StartError> {
        let pages = crate::ui::Pages::load(config.templates_dir.as_deref())
            .map_err(|e| StartError::Other(format!("{}: ui.templates_dir: {e}", config.source)))?;
        let passwords = Passwords::new(&config.password_hashing)
            .map_err(|e| StartError::Other(format!("{}: login.password_hash_*: {e}", config.source)))?;
        let flush_latency = crate::metrics::flush_histogram();
        let metrics = Arc::new(Metrics::new(flush_latency.clone()));
        let plugins = PluginHost::start(&config.plugins, config.plugin_runtime, Arc::clone(&metrics))
            .await
            .map_err(|e| StartError::Other(format!("{}: {e}", config.source)))?;
        Ok(Self { pages, passwords, flush_latency, metrics, plugins })
    }

    /// The plugins loaded (for `check-config`'s report).
    pub fn plugins(&self) -> Vec<crate::plugins::PluginInfo> {
        self.plugins.loaded()
    }
}

impl Server {
    /// Checks the configuration ([`Prepared`]), then opens the store `[store]` names and
    /// binds.
    pub async fn bind(config: Config, clock: Arc<dyn Clock>) -> Result<Self, StartError> {
        let prepared = Prepared::new(&config).await?;
        let store = open_store(&config).await?;
        Self::bind_prepared(config, prepared, store, clock).await
    }

    /// Binds with a given store (tests use this with a sled store in a temp dir).
    pub async fn bind_with_store(
        config: Config,
        store: Arc<dyn Backend>,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, StartError> {
        let prepared = Prepared::new(&config).await?;
        Self::bind_prepared(config, prepared, store, clock).await
    }

    async fn bind_prepared(
        config: Config,
        prepared: Prepared,
        store: Arc<dyn Backend>,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, StartError> {
        let Prepared { pages, passwords, flush_latency, metrics, plugins } = prepared;
        let bind = config.server.bind;
        let listener = TcpListener::bind(bind).await.map_err(|source| StartError::Bind { addr: bind, source })?;
        let addr = listener.local_addr().map_err(|source| StartError::Bind { addr: bind, source })?;
        let issuer = config.server.issuer.clone().unwrap_or_else(|| format!("http://{addr}"));
        let urls = Arc::new(Urls::new(&issuer));
        let db = Db::with_flush_histogram(store, flush_latency);
        plugins.attach_store(db.plugin_kv());
        let keys = Arc::new(KeyManager::load_or_create(db.clone(), clock.now(), config.key_retention()).await?);
        let clients =
            ClientRegistry::new(&config.clients, db.clone(), config.server.dev_mode).map_err(StartError::Other)?;
        let stored_clients = db.clients().list_clients().await?;
        let cors = crate::oauth::cors::CorsPolicy::new(
            &config.cors_origins,
            config.clients.iter().chain(&stored_clients).map(|c| c.allowed_origins.as_slice()),
        );
        let demo_client = if config.server.dev_mode && clients.has_no_service_client().await? {
            create_demo_client(&db, clock.now().unix_timestamp()).await?
        } else {
            None
        };
        let kept_demo_client = (config.server.dev_mode
            && demo_client.is_none()
            && db.clients().get_client(DEMO_CLIENT_ID).await?.is_some())
        .then(|| DEMO_CLIENT_ID.to_owned());
        let audit = AuditLog::start(&db).await?;
        let checkpoints = Arc::new(Checkpointer::open(db.audit()).await?);
        let tail = check_audit_tail(&db, &checkpoints).await?;
        let now = clock.now();
        if let Some((id, _)) = &demo_client {
            audit.emit(Actor::system(), AuditEvent::ClientCreated { client_id: id.clone() }, now);
        }
        let created = users::bootstrap(&db, &passwords, &config.users, now)
            .await
            .map_err(|e| StartError::Other(format!("{}: {e}", config.source)))?;
        for username in &created {
            audit.emit(Actor::system(), AuditEvent::UserCreated { username: username.clone() }, now);
        }
        if !created.is_empty() {
            tracing::info!(users = %created.join(", "), "created bootstrap users");
        }
        let started =
            AuditEvent::ServerStarted { version: env!("CARGO_PKG_VERSION").into(), config: config.source.clone() };
        audit.record(Actor::system(), started, now).await?;
        let discovery_json = discovery::document(&issuer, &urls).map_err(|e| StartError::Other(e.to_string()))?.into();
        let limiter = Limiter::new(&config.rate_limits, &config.login_limits);
        metrics.audit_chain_checked(tail.is_none());
        let loaded = plugins.loaded();
        if !loaded.is_empty() {
            let names: Vec<String> = loaded.iter().map(plugin_label).collect();
            tracing::info!(plugins = %names.join(", "), "plugins loaded");
            audit.emit(Actor::system(), AuditEvent::PluginsLoaded { plugins: names, trigger: "startup".into() }, now);
        }
        let metrics_listener = match config.metrics_bind {
            Some(addr) => Some(TcpListener::bind(addr).await.map_err(|source| StartError::Bind { addr, source })?),
            None => None,
        };
        let parts = Parts {
            issuer: issuer.clone(),
            urls: urls.clone(),
            db: db.clone(),
            keys: keys.clone(),
            access: Arc::new(AccessTokens::new(issuer.clone(), keys.clone())),
            clients: Arc::new(clients),
            cors: Arc::new(cors),
            limiter: Arc::new(limiter),
            audit: audit.clone(),
            metrics: metrics.clone(),
            plugins: plugins.clone(),
            passwords: passwords.clone(),
            clock: clock.clone(),
        };
        let state = AppState::new(Inner {
            tokens: parts.token_service(&config),
            sign_in: parts.sign_in(&config),
            limiter: parts.limiter.clone(),
            cors: parts.cors.clone(),
            config: Arc::new(config),
            issuer,
            urls,
            db,
            clock,
            keys,
            passwords,
            audit,
            checkpoints,
            metrics,
            discovery_json,
            pages,
            plugins,
        });
        #[cfg(unix)]
        let hangup = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
            Ok(s) => Some(s),
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGHUP; reload plugins through the admin API");
                None
            }
        };
        Ok(Self {
            listener,
            metrics_listener,
            state,
            addr,
            demo_client,
            kept_demo_client,
            #[cfg(unix)]
            hangup,
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The bound address of the separate metrics listener, if configured.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_listener.as_ref().and_then(|l| l.local_addr().ok())
    }

    /// The issuer identifier in force.
    pub fn issuer(&self) -> &str {
        &self.state.issuer
    }

    /// The shared state (tests inspect it).
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` resolves, then drains requests and flushes the store.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send + 'static) -> std::io::Result<()> {
        let (stop_tx, stop_rx) = watch::channel(false);
        let mut tasks = crate::background::spawn(self.state.clone(), stop_rx.clone());
        // Always listening: a SIGHUP must never fall back to its default action (terminate),
        // even on a server without plugins (which answers it by saying it needs a restart).
        #[cfg(unix)]
        if let Some(hangup) = self.hangup {
            tasks.push(reload_on_sighup(self.state.clone(), hangup, stop_rx.clone()));
        }
        let server = &self.state.config.server;
        let limits = http::serve::ConnLimits {
            header_read_timeout: server.header_read_timeout,
            keepalive_timeout: server.keepalive_timeout,
            max_header_bytes: server.max_header_bytes,
        };
        if let Some(listener) = self.metrics_listener {
            let app = http::metrics_router(self.state.clone());
            let listener = LimitedListener::new(listener, 64, 64, TrustedProxies::default());
            tasks.push(tokio::spawn(http::serve::serve(listener, app, limits, stop_rx.clone())));
        }
        let app = http::router(self.state.clone());
        let proxies = TrustedProxies::new(server.trusted_proxies.clone());
        let listener =
            LimitedListener::new(self.listener, server.max_connections, server.max_connections_per_ip, proxies);
        let (conns_tx, conns_rx) = watch::channel(false);
        let serve = http::serve::serve(listener, app, limits, conns_rx);
        tokio::pin!(serve);
        tokio::select! {
            () = &mut serve => {}
            () = shutdown => {}
        }
        // Graceful shutdown: stop accepting, close idle and half-sent connections at once, let
        // in-flight requests finish, but not forever.
        let _ = conns_tx.send(true);
        if tokio::time::timeout(server.shutdown_timeout, serve).await.is_err() {
            tracing::warn!("shutdown timeout reached; closing the remaining connections");
        }
        let _ = stop_tx.send(true);
        for t in tasks {
            let _ = t.await;
        }
        // A durable record is a barrier: every queued audit record and every write before
        // it is on disk when it returns. The last checkpoint signs the chain up to it.
        let s = &self.state;
        let now = s.clock.now();
        let stopped = s.audit.record(Actor::system(), AuditEvent::ServerStopped, now).await;
        let signed = match stopped {
            Ok(()) => s.checkpoints.checkpoint(&s.db, &s.audit, now).await.map(|_| ()),
            Err(e) => Err(e),
        };
        if let Err(e) = signed.and(s.db.durable().await) {
            tracing::error!(error = %e, "final store flush failed");
        }
        Ok(())
    }
}

/// Opens the store `[store]` names: the sled directory, or the PostgreSQL database (waiting
/// up to `connect_wait` for it, then failing with a message that names the key).
pub async fn open_store(config: &Config) -> Result<Arc<dyn Backend>, StartError> {
    match &config.store {
        crate::config::StoreBackend::Sled => {
            let path = config.store_path.clone();
            Ok(tokio::task::spawn_blocking(move || crate::store::open_sled(&path))
                .await
                .map_err(|e| StartError::Other(e.to_string()))??)
        }
        crate::config::StoreBackend::Postgres(pg) => {
            let mut opts = crate::store::pg::PgOptions::new(pg.url.expose());
            opts.pool_size = pg.pool_size;
            let place = crate::store::pg::describe_url(pg.url.expose());
            crate::store::open_postgres(&opts, pg.connect_wait).await.map_err(|e| match e {
                StoreError::Unavailable(why) => StartError::Other(format!(
                    "{}: store.url: cannot reach the database {place} (waited {}): {why}",
                    config.source,
                    crate::config::format_duration(pg.connect_wait)
                )),
                other => StartError::Other(format!("{}: store.url: the database {place}: {other}", config.source)),
            })
        }
    }
}

/// The start-up check of the audit log's tail against the newest checkpoint: a clear error
/// (and the `audit_chain_intact` metric at 0) when they disagree; the server still starts, so
/// that its own audit trail goes on.
async fn check_audit_tail(db: &Db, checkpoints: &Arc<Checkpointer>) -> Result<Option<ChainBreak>, StartError> {
    let result = check_tail(db.audit(), checkpoints.public_key()).await?;
    if let Some(b) = &result {
        tracing::error!(
            seq = b.seq,
            reason = %b.reason,
            "the audit log does not match its newest signed checkpoint: it was truncated or rewritten; run `gatehouse audit verify` with the server stopped"
        );
    }
    Ok(result)
}

/// The dev demo client with its secret; `None` when another instance starting at the same
/// moment created it first.
async fn create_demo_client(db: &Db, now: i64) -> Result<Option<(String, Secret)>, StartError> {
    let secret = Secret::new(random_token().map_err(|e| StartError::Other(e.to_string()))?);
    let created = db
        .clients()
        .create_client(&ClientRecord {
            id: DEMO_CLIENT_ID.into(),
            secret_sha256: Some(sha256_hex(secret.expose().as_bytes())),
            grant_types: vec!["client_credentials".into()],
            scopes: vec!["logs:write".into(), "api:read".into()],
            audiences: vec!["logging-service".into()],
            created_at: now,
            ..Default::default()
        })
        .await;
    match created {
        Ok(()) => {}
        Err(StoreError::Conflict(_)) => return Ok(None),
        Err(e) => return Err(e.into()),
    }
    db.durable().await?;
    Ok(Some((DEMO_CLIENT_ID.into(), secret)))
}

/// Reloads the plugins on every SIGHUP until `stop`.
#[cfg(unix)]
fn reload_on_sighup(
    state: AppState,
    mut hup: tokio::signal::unix::Signal,
    mut stop: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = stop.changed() => return,
                got = hup.recv() => {
                    if got.is_none() {
                        return;
                    }
                    let _ = crate::reload::reload_plugins(&state, Actor::system(), "sighup").await;
                }
            }
        }
    })
}

/// `name sha256 version wit` of a loaded plugin (logs and audit).
pub(crate) fn plugin_label(p: &crate::plugins::PluginInfo) -> String {
    format!("{} sha256:{} version:{} wit:{}", p.name, p.sha256, p.version.as_deref().unwrap_or("-"), p.wit)
}
