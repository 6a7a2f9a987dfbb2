//! The server's background jobs: scheduled key rotation and key reloading, audit
//! checkpoints and retention, purges of expired records, notification delivery, limiter
//! housekeeping. Where instances share a store, a job that must run once (checkpoints,
//! retention, purges) runs under a lease in the store; key rotation needs none (the key set
//! is replaced by compare-and-swap) and notification delivery claims each message.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::audit::{Actor, AuditEvent};
use crate::secret::random_token;
use crate::state::AppState;
use crate::store::StoreError;

/// Starts every background task; they end when `stop` changes.
pub fn spawn(state: AppState, stop: watch::Receiver<bool>) -> Vec<tokio::task::JoinHandle<()>> {
    let mut tasks = Vec::new();
    let holder = Arc::new(random_token().unwrap_or_else(|_| format!("pid-{}", std::process::id())));
    if let Some(every) = state.config.rotate_keys_every {
        tasks.push(every_tick(stop.clone(), Duration::from_secs(1), state.clone(), move |s| {
            Box::pin(async move {
                let now = s.clock.now();
                match s.keys.rotate_if_due(now, every).await {
                    Ok(Some(summary)) => {
                        let event = AuditEvent::KeysRotated { trigger: "schedule".into(), active: summary.active };
                        if let Err(e) = s.audit.record(Actor::system(), event, now).await {
                            tracing::error!(error = %e, "recording the scheduled key rotation failed");
                        }
                    }
                    Ok(None) => {}
                    Err(e) => tracing::error!(error = %e, "scheduled key rotation failed"),
                }
            })
        }));
    }
    // Another instance's rotation (admin endpoint, schedule, CLI) is adopted within a second;
    // nobody else writes an embedded store while this process holds it.
    if state.db.maintenance().shared() {
        let reload = Arc::new(FailureLog::new("reloading the signing keys"));
        tasks.push(every_tick(stop.clone(), Duration::from_secs(1), state.clone(), move |s| {
            let reload = reload.clone();
            Box::pin(async move {
                match s.keys.refresh().await {
                    Ok(_) => reload.ok(),
                    Err(e) => reload.failed(&e),
                }
            })
        }));
    }
    let lease = |name: &'static str| Some((name, holder.clone()));
    tasks.push(every_tick_leased(
        stop.clone(),
        state.config.audit_checkpoint_every,
        state.clone(),
        lease("audit-checkpoint"),
        |s| {
            Box::pin(async move {
                if let Err(e) = s.checkpoints.checkpoint(&s.db, &s.audit, s.clock.now()).await {
                    tracing::error!(error = %e, "signing an audit checkpoint failed");
                }
            })
        },
    ));
    if let Some(retention) = state.config.audit_retention {
        let period = (retention / 24).clamp(Duration::from_secs(1), Duration::from_secs(3600));
        tasks.push(every_tick_leased(stop.clone(), period, state.clone(), lease("audit-retention"), move |s| {
            Box::pin(async move {
                if let Err(e) = prune_audit(&s, retention).await {
                    tracing::error!(error = %e, "audit retention failed");
                }
            })
        }));
    }
    tasks.push(every_tick_leased(
        stop.clone(),
        Duration::from_secs(3600),
        state.clone(),
        lease("purge-revocations"),
        |s| {
            Box::pin(async move {
                let now = s.clock.now().unix_timestamp();
                match s.db.revocations().purge_revocations(now).await {
                    Ok(n) if n > 0 => tracing::info!(purged = n, "expired revocations purged"),
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "purging revocations failed"),
                }
            })
        },
    ));
    // Login flows last minutes, codes seconds: purge the browser records more often.
    tasks.push(every_tick_leased(stop.clone(), Duration::from_secs(300), state.clone(), lease("purge-browser"), |s| {
        Box::pin(async move {
            let now = s.clock.now().unix_timestamp();
            match s.db.browser().purge_browser(now).await {
                Ok(n) if n > 0 => {
                    tracing::debug!(purged = n, "expired flows, sessions, codes and refresh tokens purged")
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "purging expired browser records failed"),
            }
        })
    }));
    if !state.config.plugins.is_empty() {
        let deliveries = crate::notify::dispatch::Deliveries::new(
            &state.config,
            &state.db,
            state.audit.clone(),
            state.clock.clone(),
            state.plugins.clone(),
            state.metrics.clone(),
        );
        tasks.push(crate::notify::dispatch::spawn(deliveries, stop.clone()));
    }
    tasks.push(every_tick(stop, Duration::from_secs(60), state, |s| {
        Box::pin(async move {
            s.limiter.housekeeping();
            match s.db.attempts().purge_attempts(s.clock.now().unix_timestamp()).await {
                Ok(n) if n > 0 => tracing::debug!(purged = n, "stale sign-in attempt counters purged"),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "purging sign-in attempt counters failed"),
            }
        })
    }));
    tasks
}

/// Retention: records older than `retention` go. The truncation is first recorded in the
/// chain (durably), then the file is rewritten behind a marker that record attests.
async fn prune_audit(s: &AppState, retention: Duration) -> Result<(), StoreError> {
    let now = s.clock.now();
    let cutoff_ms = crate::audit::unix_ms(now - retention);
    let mut cut: Option<(u64, String)> = None;
    let mut removed = 0;
    let mut all = crate::audit::records(s.db.audit(), 0);
    while let Some(r) = all.next().await {
        let r = r?;
        if r.time_ms >= cutoff_ms {
            break;
        }
        cut = Some((r.seq, r.hash));
        removed += 1;
    }
    let Some((through_seq, last_hash)) = cut else { return Ok(()) };
    let event = AuditEvent::AuditTruncated { through_seq, last_hash: last_hash.clone(), removed };
    s.audit.record(Actor::system(), event, now).await?;
    let start = crate::audit::ChainStart { truncated_through: through_seq, last_hash };
    let n = s.db.audit().prune_audit(&start).await?;
    tracing::info!(removed = n, through_seq, "audit records past retention pruned");
    Ok(())
}

type TickFuture = std::pin::Pin<Box<dyn Future<Output = ()> + Send>>;

fn every_tick(
    stop: watch::Receiver<bool>,
    period: Duration,
    state: AppState,
    f: impl Fn(AppState) -> TickFuture + Send + 'static,
) -> tokio::task::JoinHandle<()> {
    every_tick_leased(stop, period, state, None, f)
}

/// Runs `f` every `period`; with a lease, only while this instance holds it (instances
/// sharing a store run the job on one of them; the lease lasts two periods, so another
/// takes over when the holder stops).
fn every_tick_leased(
    mut stop: watch::Receiver<bool>,
    period: Duration,
    state: AppState,
    lease: Option<(&'static str, Arc<String>)>,
    f: impl Fn(AppState) -> TickFuture + Send + 'static,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut interval = tokio::time::interval(period);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        interval.tick().await;
        let log = FailureLog::new("taking a job lease");
        loop {
            tokio::select! {
                _ = interval.tick() => {
                    if let Some((name, holder)) = &lease && !holds(&state, name, holder, period, &log).await {
                        continue;
                    }
                    f(state.clone()).await
                }
                _ = stop.changed() => break,
            }
        }
    })
}

/// Takes or renews the lease `name`; a store failure skips this round.
async fn holds(state: &AppState, name: &str, holder: &str, period: Duration, log: &FailureLog) -> bool {
    let now_ms = crate::audit::unix_ms(state.clock.now());
    let span = i64::try_from(period.as_millis().saturating_mul(2)).unwrap_or(i64::MAX);
    match state.db.coordination().try_lease(name, holder, now_ms.saturating_add(span), now_ms).await {
        Ok(held) => {
            log.ok();
            held
        }
        Err(e) => {
            log.failed(&format_args!("{e} (lease {name})"));
            false
        }
    }
}

/// How long a failure that keeps repeating stays quiet between reminders.
const REMIND_EVERY: Duration = Duration::from_secs(60);

/// The log of a periodic job's failures: the first failure is logged, then a reminder at
/// most once a minute while they last, and the recovery once (a database outage would
/// otherwise log every tick of every job).
pub(crate) struct FailureLog {
    what: &'static str,
    /// When the failures began, and when the last line about them was written.
    failing: std::sync::Mutex<Option<(std::time::Instant, std::time::Instant)>>,
}

impl FailureLog {
    /// For the job described as `what` ("reloading the signing keys").
    pub(crate) fn new(what: &'static str) -> Self {
        Self { what, failing: std::sync::Mutex::new(None) }
    }

    /// One more failure.
    pub(crate) fn failed(&self, error: &dyn std::fmt::Display) {
        let now = crate::clock::monotonic();
        let Ok(mut failing) = self.failing.lock() else { return };
        match *failing {
            None => {
                tracing::warn!(%error, "{} failed", self.what);
                *failing = Some((now, now));
            }
            Some((since, last)) if now.duration_since(last) >= REMIND_EVERY => {
                let for_secs = now.duration_since(since).as_secs();
                tracing::warn!(%error, for_secs, "{} still fails", self.what);
                *failing = Some((since, now));
            }
            Some(_) => {}
        }
    }

    /// A success: ends a run of failures (logged once).
    pub(crate) fn ok(&self) {
        let Ok(mut failing) = self.failing.lock() else { return };
        if let Some((since, _)) = failing.take() {
            let for_secs = crate::clock::monotonic().duration_since(since).as_secs();
            tracing::info!(for_secs, "{} works again", self.what);
        }
    }
}
