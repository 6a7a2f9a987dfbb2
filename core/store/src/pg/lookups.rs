//! Revocation lookups, batched: every `/introspect`, `/verify` and userinfo call asks whether
//! its token was revoked, and on PostgreSQL that is a round trip. Concurrent asks share one
//! `SELECT ... WHERE jti = ANY($1)`: a lookup joins only a batch whose statement has not been
//! sent yet, so it still sees every revocation committed before it was asked (a revocation on
//! another instance is refused at once), while N concurrent lookups cost one statement, one
//! pooled connection and one trip instead of N.
//!
//! A revocation is never undone, so a `true` is remembered (until the token's expiry, in a
//! bounded map): a revoked token presented again is refused from memory on every instance
//! that has seen it refused once, or that revoked it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use deadpool_postgres::Pool;
use tokio::sync::{Semaphore, mpsc, oneshot};

use super::{checkout, pg};
use crate::StoreError;

/// Lookups in one statement at most.
const MAX_BATCH: usize = 256;
/// Statements in flight at once (each holds a pooled connection while it runs).
const IN_FLIGHT: usize = 4;

/// Shards of the remembered revocations.
const SHARDS: usize = 16;
/// Remembered revocations per shard at most: past that the quarter that expires first is
/// forgotten (their lookups go to the database again, which stays the authority).
const PER_SHARD: usize = 8192;

type Ask = (String, oneshot::Sender<Result<bool, StoreError>>);

/// Revoked token ids this process knows of, with their expiry (unix seconds).
struct Known(Vec<Mutex<HashMap<String, i64>>>);

impl Known {
    fn new() -> Self {
        Self((0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect())
    }

    fn shard(&self, jti: &str) -> std::sync::MutexGuard<'_, HashMap<String, i64>> {
        let h = jti.bytes().fold(0usize, |h, b| h.wrapping_mul(31).wrapping_add(usize::from(b)));
        self.0[h % SHARDS].lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn contains(&self, jti: &str) -> bool {
        self.shard(jti).contains_key(jti)
    }

    fn insert(&self, jti: &str, expires_at: i64) {
        let mut shard = self.shard(jti);
        if shard.len() >= PER_SHARD && !shard.contains_key(jti) {
            let mut exps: Vec<i64> = shard.values().copied().collect();
            let (_, cut, _) = exps.select_nth_unstable(PER_SHARD / 4);
            let cut = *cut;
            shard.retain(|_, exp| *exp > cut);
        }
        let exp = shard.entry(jti.to_owned()).or_insert(expires_at);
        *exp = (*exp).max(expires_at);
    }

    fn purge(&self, now: i64) {
        for s in &self.0 {
            s.lock().unwrap_or_else(std::sync::PoisonError::into_inner).retain(|_, exp| *exp >= now);
        }
    }
}

type Found = HashMap<String, i64>;

/// The batcher of one store (its task starts with the first lookup, on the caller's runtime,
/// and ends when the store is dropped).
pub(crate) struct RevokedLookups {
    pool: Pool,
    tx: OnceLock<mpsc::UnboundedSender<Ask>>,
    known: Arc<Known>,
}

impl RevokedLookups {
    pub(crate) fn new(pool: Pool) -> Self {
        Self { pool, tx: OnceLock::new(), known: Arc::new(Known::new()) }
    }

    /// Whether `jti` is in `revocations`, as of a statement sent after this call (or known to
    /// be, which stays true).
    pub(crate) async fn is_revoked(&self, jti: &str) -> Result<bool, StoreError> {
        if self.known.contains(jti) {
            return Ok(true);
        }
        let (tx, rx) = oneshot::channel();
        let sender = self.tx.get_or_init(|| start(self.pool.clone(), self.known.clone()));
        sender.send((jti.to_owned(), tx)).map_err(|_| StoreError::Io("the revocation lookup task stopped".into()))?;
        rx.await.map_err(|_| StoreError::Unavailable("the revocation lookup was dropped".into()))?
    }

    /// This process revoked `jti` (committed): remembered at once.
    pub(crate) fn revoked(&self, jti: &str, expires_at: i64) {
        self.known.insert(jti, expires_at);
    }

    /// Forgets the revocations of tokens expired before `now`.
    pub(crate) fn purge(&self, now: i64) {
        self.known.purge(now);
    }
}

fn start(pool: Pool, known: Arc<Known>) -> mpsc::UnboundedSender<Ask> {
    let (tx, mut rx) = mpsc::unbounded_channel::<Ask>();
    let permits = Arc::new(Semaphore::new(IN_FLIGHT));
    tokio::spawn(async move {
        while let Some(first) = rx.recv().await {
            // The batch is closed only once a statement slot is free, so it keeps growing
            // while the earlier ones are in flight.
            let Ok(permit) = permits.clone().acquire_owned().await else { break };
            let mut batch = vec![first];
            while batch.len() < MAX_BATCH {
                match rx.try_recv() {
                    Ok(ask) => batch.push(ask),
                    Err(_) => break,
                }
            }
            let (pool, known) = (pool.clone(), known.clone());
            tokio::spawn(async move {
                answer(&pool, &known, batch).await;
                drop(permit);
            });
        }
    });
    tx
}

async fn answer(pool: &Pool, known: &Known, batch: Vec<Ask>) {
    let jtis: Vec<&str> = batch.iter().map(|(j, _)| j.as_str()).collect();
    let found = lookup(pool, &jtis).await;
    if let Ok(found) = &found {
        for (jti, exp) in found {
            known.insert(jti, *exp);
        }
    }
    for (jti, tx) in batch {
        let _ = tx.send(found.as_ref().map(|f| f.contains_key(&jti)).map_err(Clone::clone));
    }
}

async fn lookup(pool: &Pool, jtis: &[&str]) -> Result<Found, StoreError> {
    let c = checkout(pool).await?;
    let st = c.prepare_cached("SELECT jti, expires_at FROM revocations WHERE jti = ANY($1)").await.map_err(pg)?;
    let rows = c.query(&st, &[&jtis]).await.map_err(pg)?;
    rows.iter().map(|r| Ok((r.try_get::<_, String>(0).map_err(pg)?, r.try_get::<_, i64>(1).map_err(pg)?))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembered_revocations_stay_bounded_and_forget_what_expires_first() {
        let known = Known::new();
        let n = i64::try_from(SHARDS * PER_SHARD * 2).unwrap();
        for i in 0..n {
            known.insert(&format!("jti-{i}"), i);
        }
        assert!(known.0.iter().all(|s| s.lock().unwrap().len() <= PER_SHARD));
        assert!(known.contains(&format!("jti-{}", n - 1)), "the newest is remembered");
        assert!(!known.contains("jti-0"), "the one that expires first is forgotten");
        known.purge(n);
        assert!(known.0.iter().all(|s| s.lock().unwrap().is_empty()));
    }
}
