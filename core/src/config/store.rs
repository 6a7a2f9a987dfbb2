//! `[store]`: the embedded sled store (default) or a PostgreSQL database shared by several
//! instances. The URL is checked here without connecting (`check-config` must not need the
//! database); `serve` connects, and names `store.url` if it cannot.

use std::time::Duration;

use super::file::StoreSection;
use super::validate::Check;
use crate::secret::Secret;

/// `[store] backend`: where everything persisted lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreBackend {
    /// The embedded sled store under `store_path` (one instance).
    Sled,
    /// A PostgreSQL database that several instances share.
    Postgres(PostgresConfig),
}

/// `[store]` with `backend = "postgres"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostgresConfig {
    /// `url` (or the variable `url_env` names): a secret, since it may carry a password.
    pub url: Secret,
    /// Connections per instance.
    pub pool_size: usize,
    /// How long `serve` waits at start for an unreachable database before it gives up.
    pub connect_wait: Duration,
}

pub(super) fn check_store(c: &mut Check<'_>, s: &StoreSection) -> StoreBackend {
    let backend = s.backend.as_deref().unwrap_or("sled");
    let pg_keys = [
        ("url", s.url.is_some()),
        ("url_env", s.url_env.is_some()),
        ("pool_size", s.pool_size.is_some()),
        ("connect_wait", s.connect_wait.is_some()),
    ];
    match backend {
        "sled" => {
            for (key, set) in pg_keys {
                if set {
                    c.problem(format!("store.{key}"), "applies only with backend = \"postgres\"");
                }
            }
            StoreBackend::Sled
        }
        "postgres" => postgres(c, s).map_or(StoreBackend::Sled, StoreBackend::Postgres),
        other => {
            c.problem("store.backend", format!("`{other}` is not one of sled, postgres"));
            StoreBackend::Sled
        }
    }
}

fn postgres(c: &mut Check<'_>, s: &StoreSection) -> Option<PostgresConfig> {
    let pool_size = match s.pool_size {
        None => 16,
        Some(n) if (1..=1000).contains(&n) => n as usize,
        Some(n) => {
            c.problem("store.pool_size", format!("{n} is out of range (1 to 1000)"));
            16
        }
    };
    let connect_wait = c.duration(
        "store.connect_wait",
        s.connect_wait.as_deref(),
        Duration::from_secs(30),
        Duration::ZERO,
        Duration::from_secs(3600),
    );
    let (key, url) = match (&s.url, &s.url_env) {
        (Some(_), Some(_)) => {
            c.problem("store", "set url or url_env, not both");
            return None;
        }
        (None, None) => {
            c.problem("store.url", "is required with backend = \"postgres\" (or set url_env, or GATEHOUSE_STORE_URL)");
            return None;
        }
        (Some(u), None) => ("store.url", u.clone()),
        (None, Some(var)) => match (c.env)(var) {
            Some(u) if !u.trim().is_empty() => ("store.url_env", u),
            _ => {
                c.problem("store.url_env", format!("environment variable `{var}` is not set or empty"));
                return None;
            }
        },
    };
    // The message names the problem, never the URL itself (it may hold a password).
    if let Err(why) = gatehouse_store::pg::check_url(&url) {
        c.problem(key, why);
        return None;
    }
    Some(PostgresConfig { url: Secret::new(url), pool_size, connect_wait })
}
