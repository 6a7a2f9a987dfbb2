//! The PostgreSQL backend: several Gatehouse instances share one database. Every method is one
//! statement or one transaction that locks the rows it decides on (`SELECT ... FOR UPDATE`,
//! then the shared rule in Rust, then the write), never a read and a write in separate round
//! trips, so the single-use rules hold across instances exactly as they do on sled.
//!
//! Durability follows the group commit of the embedded store: pool connections commit with
//! `synchronous_commit = off` (applied and visible at once, flushed by the WAL writer within a
//! moment), and [`crate::Maintenance::flush`], which [`crate::Db::durable`] joins before any
//! answer that acknowledges a write, is one synchronous commit: PostgreSQL flushes the WAL in
//! order, so that commit makes every earlier one durable, and concurrent barriers share a
//! flush. Records are stored as JSON text (the same serde shapes as on sled; `text`, not
//! `jsonb`, because `jsonb` refuses the `\u0000` a request may smuggle into a `state` or a
//! `nonce`); keys, unique columns and expiry times are columns. Migrations: `schema.rs`.

mod audit;
mod browser;
mod factors;
mod groups;
mod identity;
mod links;
mod lookups;
mod queue;
mod schema;
mod transfer;

use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use tokio_postgres::error::SqlState;

pub use schema::{SCHEMA_VERSION, schema_version};

use crate::StoreError;

/// How the backend connects.
#[derive(Debug, Clone)]
pub struct PgOptions {
    /// A libpq-style URL or key=value string (`postgres://user:pw@host:5432/db`).
    pub url: String,
    /// Connections at most.
    pub pool_size: usize,
    /// How long a request waits for a connection, or a connection attempt may take, before the
    /// store answers `Unavailable`.
    pub timeout: Duration,
    /// Longest a statement may run on the server.
    pub statement_timeout: Duration,
}

impl PgOptions {
    /// Defaults for `url`.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            pool_size: 16,
            timeout: Duration::from_secs(5),
            statement_timeout: Duration::from_secs(10),
        }
    }
}

/// A PostgreSQL store (a pool of connections).
pub struct PgStore {
    pool: Pool,
    /// Revocation lookups, batched (`lookups.rs`).
    revoked: lookups::RevokedLookups,
    /// This handle's row in `durable_barrier` (a random id per process).
    instance: String,
}

/// Checks `url` without connecting (for `check-config`): `Err` says what is wrong.
pub fn check_url(url: &str) -> Result<(), String> {
    let cfg: tokio_postgres::Config = url.parse().map_err(|e| format!("not a PostgreSQL URL: {e}"))?;
    if cfg.get_hosts().is_empty() {
        return Err("names no host".into());
    }
    Ok(())
}

/// What the URL says, with secrets left out (for logs and errors).
pub fn describe_url(url: &str) -> String {
    let Ok(cfg) = url.parse::<tokio_postgres::Config>() else { return "(an unparsable URL)".into() };
    let host = cfg.get_hosts().first().map_or_else(String::new, |h| match h {
        tokio_postgres::config::Host::Tcp(h) => h.clone(),
        tokio_postgres::config::Host::Unix(p) => p.display().to_string(),
    });
    let port = cfg.get_ports().first().copied().unwrap_or(5432);
    format!("{}@{host}:{port}/{}", cfg.get_user().unwrap_or("-"), cfg.get_dbname().unwrap_or("-"))
}

impl PgStore {
    /// Builds the pool (connecting lazily) without touching the schema.
    pub fn pool(opts: &PgOptions) -> Result<Self, StoreError> {
        let mut cfg: tokio_postgres::Config =
            opts.url.parse().map_err(|e| StoreError::Refused(format!("store.url is not a PostgreSQL URL: {e}")))?;
        let ms = |d: Duration| d.as_millis().max(1);
        // Our settings come after the URL's own `options`, which the operator may use too.
        let mut options = cfg.get_options().unwrap_or_default().to_owned();
        options.push_str(&format!(
            " -c synchronous_commit=off -c client_min_messages=warning -c statement_timeout={} -c lock_timeout={} -c idle_in_transaction_session_timeout={}",
            ms(opts.statement_timeout),
            ms(opts.statement_timeout),
            ms(opts.statement_timeout) * 2
        ));
        cfg.options(options.trim());
        cfg.connect_timeout(opts.timeout);
        cfg.keepalives_idle(Duration::from_secs(30));
        if cfg.get_application_name().is_none() {
            cfg.application_name("gatehouse");
        }
        let mgr_cfg = ManagerConfig { recycling_method: RecyclingMethod::Fast };
        let manager = match cfg.get_ssl_mode() {
            tokio_postgres::config::SslMode::Require => Manager::from_config(cfg, tls()?, mgr_cfg),
            _ => Manager::from_config(cfg, tokio_postgres::NoTls, mgr_cfg),
        };
        let pool = Pool::builder(manager)
            .max_size(opts.pool_size.max(1))
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(opts.timeout))
            .create_timeout(Some(opts.timeout))
            .recycle_timeout(Some(opts.timeout))
            .build()
            .map_err(|e| StoreError::Io(format!("building the connection pool: {e}")))?;
        let instance = crate::sha256_hex(format!("{}-{:?}", std::process::id(), crate::monotonic()).as_bytes());
        Ok(Self { revoked: lookups::RevokedLookups::new(pool.clone()), pool, instance: instance[..16].to_owned() })
    }

    /// Connects, waits up to `wait` for the database to answer (databases start slowly in
    /// containers), applies the embedded migrations and checks the schema version.
    pub async fn open(opts: &PgOptions, wait: Duration) -> Result<Self, StoreError> {
        let store = Self::pool(opts)?;
        let started = crate::monotonic();
        loop {
            match store.client().await {
                Ok(_) => break,
                Err(StoreError::Unavailable(why)) if started.elapsed() < wait => {
                    tracing::warn!(error = %why, "waiting for the database");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                Err(e) => return Err(e),
            }
        }
        schema::migrate(&store).await?;
        Ok(store)
    }

    /// A pooled connection.
    pub(crate) async fn client(&self) -> Result<deadpool_postgres::Object, StoreError> {
        checkout(&self.pool).await
    }
}

/// A connection from `pool`; a pool that cannot give one in time is `Unavailable`.
pub(crate) async fn checkout(pool: &Pool) -> Result<deadpool_postgres::Object, StoreError> {
    pool.get().await.map_err(|e| match e {
        deadpool_postgres::PoolError::Backend(e) => pg(e),
        other => StoreError::Unavailable(other.to_string()),
    })
}

/// rustls with the system's roots: `sslmode=require` verifies the server's certificate and
/// name (as libpq's `verify-full` does).
fn tls() -> Result<tokio_postgres_rustls::MakeRustlsConnect, StoreError> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
    let provider = std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| StoreError::Io(format!("TLS setup: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(tokio_postgres_rustls::MakeRustlsConnect::new(config))
}

/// A driver error as a store error: a unique violation is a `Conflict`; a lost or refused
/// connection, a timeout or a server shutting down is `Unavailable` (503, retried by the
/// client); anything else is reported with the server's message.
pub(crate) fn pg(e: tokio_postgres::Error) -> StoreError {
    if let Some(code) = e.code() {
        if *code == SqlState::UNIQUE_VIOLATION {
            return StoreError::Conflict(e.as_db_error().map_or_else(|| e.to_string(), |d| d.message().to_owned()));
        }
        let unavailable = [
            SqlState::QUERY_CANCELED,
            SqlState::LOCK_NOT_AVAILABLE,
            SqlState::ADMIN_SHUTDOWN,
            SqlState::CRASH_SHUTDOWN,
            SqlState::CANNOT_CONNECT_NOW,
            SqlState::TOO_MANY_CONNECTIONS,
            SqlState::T_R_SERIALIZATION_FAILURE,
            SqlState::T_R_DEADLOCK_DETECTED,
        ];
        if unavailable.contains(code) || code.code().starts_with("08") {
            return StoreError::Unavailable(e.to_string());
        }
        return StoreError::Io(format!(
            "database: {}",
            e.as_db_error().map_or_else(|| e.to_string(), |d| d.message().to_owned())
        ));
    }
    // No SQLSTATE: the connection failed (closed, refused, timed out), or the driver refused
    // a value before sending it (a bug here, not an outage).
    let io = std::error::Error::source(&e).is_some_and(|s| s.is::<std::io::Error>());
    if e.is_closed() || io || e.to_string().contains("timeout") {
        StoreError::Unavailable(e.to_string())
    } else {
        StoreError::Io(format!("database: {e}"))
    }
}

/// Reads a JSON text column as `T`; a record that does not decode is `Corrupt`, not a panic.
pub(crate) fn json<T: serde::de::DeserializeOwned>(
    row: &tokio_postgres::Row,
    idx: usize,
    table: &'static str,
) -> Result<T, StoreError> {
    let text: &str = col(row, idx, table)?;
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt { tree: table, detail: e.to_string() })
}

/// A record as the JSON text it is stored as.
pub(crate) fn enc<T: serde::Serialize + ?Sized>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Io(e.to_string()))
}

/// A key taken from a request, if the database can hold it: PostgreSQL text cannot contain
/// NUL, and no stored key does, so a lookup of such a key simply finds nothing.
pub(crate) fn text(key: &str) -> Option<&str> {
    (!key.contains('\0')).then_some(key)
}

/// Reads a plain column; a type mismatch is `Corrupt`.
pub(crate) fn col<'a, T: tokio_postgres::types::FromSql<'a>>(
    row: &'a tokio_postgres::Row,
    idx: usize,
    table: &'static str,
) -> Result<T, StoreError> {
    row.try_get::<_, T>(idx).map_err(|e| StoreError::Corrupt { tree: table, detail: e.to_string() })
}

/// A `u64` sequence number as a `bigint`.
pub(crate) fn big(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// A `bigint` as a sequence number.
pub(crate) fn unbig(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

/// A count of rows as `usize`.
pub(crate) fn count(n: u64) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}

#[async_trait::async_trait]
impl crate::Maintenance for PgStore {
    async fn flush(&self) -> Result<(), StoreError> {
        let mut c = self.client().await?;
        let tx = c.transaction().await.map_err(pg)?;
        tx.batch_execute("SET LOCAL synchronous_commit = on").await.map_err(pg)?;
        let st = tx
            .prepare_cached(
                "INSERT INTO durable_barrier (instance, n, at) VALUES ($1, 1, extract(epoch from now())::bigint) \
                 ON CONFLICT (instance) DO UPDATE SET n = durable_barrier.n + 1, at = excluded.at",
            )
            .await
            .map_err(pg)?;
        tx.execute(&st, &[&self.instance]).await.map_err(pg)?;
        tx.commit().await.map_err(pg)
    }

    async fn ping(&self) -> Result<(), StoreError> {
        let c = self.client().await?;
        c.simple_query("SELECT 1").await.map(|_| ()).map_err(pg)
    }

    fn kind(&self) -> &'static str {
        "postgres"
    }

    fn shared(&self) -> bool {
        true
    }

    async fn backup(&self, mut out: Box<dyn std::io::Write + Send>) -> Result<crate::backup::Summary, StoreError> {
        let items = self.export_items().await?;
        tokio::task::spawn_blocking(move || crate::transfer::write(&mut out, &items))
            .await
            .map_err(|e| StoreError::Io(format!("backup task failed: {e}")))?
    }

    async fn restore(&self, mut input: Box<dyn std::io::BufRead + Send>) -> Result<crate::backup::Summary, StoreError> {
        let file = tokio::task::spawn_blocking(move || crate::transfer::read_any(&mut input))
            .await
            .map_err(|e| StoreError::Io(format!("restore task failed: {e}")))??;
        match file {
            Ok(items) => crate::transfer::import(self, items).await,
            Err(_) => Err(StoreError::Refused(
                "this is a version 1 backup (a sled store's trees): restore it into sled, then \
                 `gatehouse store copy --from SLED.toml --to POSTGRES.toml`"
                    .into(),
            )),
        }
    }

    async fn export(&self) -> Result<Vec<crate::transfer::Item>, StoreError> {
        self.export_items().await
    }

    async fn import_extra(&self, items: &[crate::transfer::Item]) -> Result<(), StoreError> {
        self.import_extra_items(items).await
    }
}
