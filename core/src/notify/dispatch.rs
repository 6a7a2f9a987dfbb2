//! The delivery task: every tick it turns new audit records into queued messages, then
//! delivers what is due, a few at a time. Instances sharing a store share the queue: the
//! cursor moves only from the value an instance read (one of them queues each event), and
//! a message is claimed for `claim_lease` before it is sent (one of them sends it; if that
//! one dies, another sends it once the lease has passed). A notifier that fails or asks to wait is retried
//! with exponential back-off; after `max_attempts`, or at once when it rejects a message,
//! the message goes to the dead-letter list (`GET /admin/notifications`), from which an
//! operator can put it back.

use std::time::Duration;

use time::OffsetDateTime;
use tokio::sync::watch;

use super::{UserFacts, event_name, message};
use crate::audit::{Actor, AuditEvent, unix_ms};
use crate::config::NotificationsConfig;
use crate::plugins::SendOutcome;
use std::sync::Arc;

use crate::audit::AuditLog;
use crate::clock::Clock;
use crate::metrics::Metrics;
use crate::plugins::PluginHost;
use crate::store::StoreError;
use crate::store::notify_queue::{Queued, Settle};
use crate::store::{AuditStore, NotifyQueue, UserStore};

/// How often the task looks for new events and due messages.
const TICK: Duration = Duration::from_millis(200);
/// Audit records read at a time.
const READ_BATCH: usize = 1024;
/// Batches read per tick at most (a backlog is worked off over several ticks).
const READ_BATCHES_PER_TICK: usize = 16;
/// Messages delivered at once.
const SEND_BATCH: usize = 16;
/// Longest back-off between attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(3600);

/// What the delivery task uses: the queue, the audit log it reads, the users events name,
/// the notifier plugins, and the audit log it reports dead letters to.
pub struct Deliveries {
    queue: Arc<dyn NotifyQueue>,
    log: Arc<dyn AuditStore>,
    users: Arc<dyn UserStore>,
    audit: AuditLog,
    clock: Arc<dyn Clock>,
    cfg: NotificationsConfig,
    lease: Duration,
    plugins: PluginHost,
    metrics: Arc<Metrics>,
}

impl Deliveries {
    /// For a server with `config`, over `db`.
    pub(crate) fn new(
        config: &crate::config::Config,
        db: &crate::store::Db,
        audit: AuditLog,
        clock: Arc<dyn Clock>,
        plugins: PluginHost,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self {
            queue: db.shared_notify(),
            log: db.shared_audit(),
            users: db.shared_users(),
            audit,
            clock,
            cfg: config.notifications,
            lease: claim_lease(&config.plugins, config.notifications),
            plugins,
            metrics,
        }
    }
}

/// Runs until `stop`.
pub fn spawn(svc: Deliveries, mut stop: watch::Receiver<bool>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut interval = tokio::time::interval(TICK);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let log = crate::background::FailureLog::new("the notification queue");
        loop {
            tokio::select! {
                _ = interval.tick() => {
                    match tick(&svc).await {
                        Ok(()) => log.ok(),
                        Err(e) => log.failed(&e),
                    }
                }
                _ = stop.changed() => break,
            }
        }
    })
}

/// One round: queue new events, deliver due messages.
pub async fn tick(svc: &Deliveries) -> Result<(), StoreError> {
    let notifiers = svc.plugins.notifiers();
    if notifiers.is_empty() {
        return Ok(());
    }
    let now = svc.clock.now();
    let cfg = svc.cfg;
    fill(svc, &notifiers, now, cfg).await?;
    deliver(svc, now, cfg).await
}

/// Turns the audit records after the queue's cursor into queued messages.
async fn fill(
    svc: &Deliveries,
    notifiers: &[Notifier],
    now: OffsetDateTime,
    cfg: NotificationsConfig,
) -> Result<(), StoreError> {
    let (queue, log) = (&svc.queue, &svc.log);
    // A `false` from the queue means another instance moved the cursor first: it queued
    // those events, and this one looks again next tick.
    let mut cursor = match queue.notify_cursor().await? {
        Some(c) => c,
        // First run: start at the end of the log, not at its beginning.
        None => {
            let head = log.last_audit_record().await?.map_or(0, |r| r.seq);
            if !queue.notify_enqueue(None, head, &[]).await? {
                return Ok(());
            }
            head
        }
    };
    // Past the log's end: a crash lost audit lines the queue had seen (they share a group
    // commit, not one write). New events reuse those seqs: follow them from the real end.
    if cursor > 0 {
        let head = log.last_audit_record().await?.map_or(0, |r| r.seq);
        if cursor > head {
            tracing::warn!(cursor, head, "notification cursor past the audit log's end; following from its end");
            if !queue.notify_enqueue(Some(cursor), head, &[]).await? {
                return Ok(());
            }
            cursor = head;
        }
    }
    // A bounded amount per tick: reads seek through the audit file's index, so each batch
    // costs what it reads, and a backlog is worked off over several ticks.
    // Only notifiable records are decoded (a token issued is looked at, not parsed).
    let notifiable = super::notifiable_types();
    for _ in 0..READ_BATCHES_PER_TICK {
        let (records, last) = log.audit_records_of(cursor + 1, READ_BATCH, &notifiable).await?;
        let Some(last) = last else { break };
        let queued = messages(svc, notifiers, &records, now, cfg).await;
        if !queue.notify_enqueue(Some(cursor), last, &queued).await? {
            return Ok(());
        }
        let scanned = last - cursor;
        cursor = last;
        if scanned < READ_BATCH as u64 {
            break;
        }
    }
    Ok(())
}

/// A notifier: name, route, channel.
type Notifier = (String, crate::config::NotifyRoute, crate::plugins::Channel);

/// The messages for `records`: one per notifier that wants each notifiable event.
async fn messages(
    svc: &Deliveries,
    notifiers: &[Notifier],
    records: &[crate::audit::AuditRecord],
    now: OffsetDateTime,
    cfg: NotificationsConfig,
) -> Vec<Queued> {
    let t = unix_ms(now);
    let oldest = t - i64::try_from(cfg.max_event_age.as_millis()).unwrap_or(i64::MAX);
    let mut queued = Vec::new();
    for r in records {
        let Some(event) = event_name(&r.event) else { continue };
        if r.time_ms < oldest {
            continue;
        }
        let wanting: Vec<_> = notifiers.iter().filter(|(_, route, _)| route.wants(event)).collect();
        if wanting.is_empty() {
            continue;
        }
        let user = user_facts(svc, &r.event).await;
        for (name, route, channel) in wanting {
            if let Some(msg) = message(r, event, name, *channel, route.recipient.as_deref(), &user) {
                queued.push(Queued {
                    plugin: name.clone(),
                    message: msg,
                    due_ms: t,
                    attempts: 0,
                    created_ms: t,
                    last_error: None,
                });
            }
        }
    }
    queued
}

/// Username and email of the user an event names, from the store.
async fn user_facts(svc: &Deliveries, e: &AuditEvent) -> UserFacts {
    let (id, name) = super::who(e);
    let user = match (id, name) {
        (Some(id), _) => svc.users.get_user(id).await.ok().flatten(),
        (None, Some(n)) => svc.users.find_user(n).await.ok().flatten(),
        (None, None) => None,
    };
    user.map(|u| UserFacts { username: Some(u.username), email: u.email }).unwrap_or_default()
}

/// The wait before attempt `attempts + 1`.
fn backoff(cfg: NotificationsConfig, attempts: u32) -> Duration {
    let factor = 1u32 << attempts.saturating_sub(1).min(20);
    cfg.retry_base.saturating_mul(factor).min(MAX_BACKOFF)
}

async fn deliver(svc: &Deliveries, now: OffsetDateTime, cfg: NotificationsConfig) -> Result<(), StoreError> {
    let now_ms = unix_ms(now);
    let lease = svc.lease;
    let until = now_ms.saturating_add(i64::try_from(lease.as_millis()).unwrap_or(i64::MAX));
    let due = svc.queue.notify_claim(now_ms, until, SEND_BATCH).await?;
    if due.is_empty() {
        return Ok(());
    }
    let mut sends = tokio::task::JoinSet::new();
    for q in due {
        let plugins = svc.plugins.clone();
        sends.spawn(async move {
            let outcome = plugins.notify_send(&q.plugin, &q.message, now).await;
            (q, outcome)
        });
    }
    while let Some(joined) = sends.join_next().await {
        let Ok((q, outcome)) = joined else { continue };
        let t = unix_ms(svc.clock.now());
        let settle = settle(&q, outcome, t, cfg);
        let label = match &settle {
            Settle::Done => "sent",
            Settle::Retry(_) => "retry",
            Settle::Dead { .. } => "dead",
        };
        if !svc.queue.notify_settle(&q, settle.clone()).await? {
            // The claim lapsed (a send slower than the lease) and another instance took the
            // message over: its outcome counts, not this one.
            tracing::warn!(plugin = %q.plugin, id = %q.message.id, "notification claim lapsed during delivery");
            continue;
        }
        svc.metrics.notification(&q.plugin, label);
        if let Settle::Dead { reason, .. } = &settle {
            tracing::warn!(plugin = %q.plugin, id = %q.message.id, reason = %reason, "notification dead-lettered");
            let event = AuditEvent::NotificationDeadLettered {
                plugin: q.plugin.clone(),
                id: q.message.id.clone(),
                event: q.message.template.clone(),
                reason: reason.clone(),
            };
            svc.audit.emit(Actor::system(), event, svc.clock.now());
        }
    }
    Ok(())
}

/// How long a claim holds: the configured lease, and never less than the slowest notifier's
/// timeout with room to settle (a send must end before another instance may start one).
fn claim_lease(plugins: &[crate::config::PluginConfig], cfg: NotificationsConfig) -> Duration {
    let slowest = plugins.iter().map(|p| p.limits.timeout).max().unwrap_or_default();
    cfg.claim_lease.max(slowest + Duration::from_secs(10))
}

/// What an attempt's outcome means for the queued message.
fn settle(q: &Queued, outcome: Option<SendOutcome>, now_ms: i64, cfg: NotificationsConfig) -> Settle {
    let retry = |wait: Duration, counts: bool, error: String| {
        let attempts = if counts { q.attempts + 1 } else { q.attempts };
        if attempts >= cfg.max_attempts {
            return Settle::Dead { reason: format!("{attempts} attempts; last: {error}"), now_ms };
        }
        let wait_ms = i64::try_from(wait.as_millis()).unwrap_or(i64::MAX);
        Settle::Retry(Box::new(Queued {
            due_ms: now_ms.saturating_add(wait_ms),
            attempts,
            last_error: Some(error),
            ..q.clone()
        }))
    };
    match outcome {
        None => Settle::Dead { reason: format!("no notifier `{}` is loaded", q.plugin), now_ms },
        Some(SendOutcome::Sent(_)) => Settle::Done,
        Some(SendOutcome::Rejected(why)) => Settle::Dead { reason: format!("rejected: {why}"), now_ms },
        Some(SendOutcome::RetryAfter(secs)) => {
            let asked = Duration::from_secs(u64::from(secs)).clamp(cfg.retry_base, MAX_BACKOFF);
            retry(asked, true, format!("the notifier asked to retry after {secs} s"))
        }
        // Busy or an open breaker: nothing ran, so the attempt does not count.
        Some(SendOutcome::Deferred(why)) => retry(backoff(cfg, q.attempts.max(1)), false, why),
        Some(SendOutcome::Failed(why)) => retry(backoff(cfg, q.attempts + 1), true, why),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::{Channel, Message};

    fn queued(attempts: u32) -> Queued {
        let message = Message {
            id: "7.hook".into(),
            channel: Channel::Webhook,
            template: "login.failed".into(),
            locale: "en".into(),
            recipient: "https://hooks.example/x".into(),
            subject: None,
            text_body: String::new(),
            data: "{}".into(),
        };
        Queued { plugin: "hook".into(), message, due_ms: 0, attempts, created_ms: 0, last_error: None }
    }

    #[test]
    fn failures_back_off_exponentially_then_dead_letter() {
        let cfg = NotificationsConfig { max_attempts: 3, retry_base: Duration::from_secs(5), ..Default::default() };
        let failed = || Some(SendOutcome::Failed("503".into()));
        let Settle::Retry(first) = settle(&queued(0), failed(), 1_000, cfg) else { panic!("retry") };
        assert_eq!((first.attempts, first.due_ms), (1, 6_000));
        let Settle::Retry(second) = settle(&first, failed(), 6_000, cfg) else { panic!("retry") };
        assert_eq!((second.attempts, second.due_ms), (2, 16_000));
        assert!(matches!(settle(&second, failed(), 16_000, cfg), Settle::Dead { .. }));
        // Busy does not use up attempts; a rejection is final; an unknown plugin too.
        let Settle::Retry(busy) = settle(&second, Some(SendOutcome::Deferred("busy".into())), 0, cfg) else {
            panic!("retry")
        };
        assert_eq!(busy.attempts, 2);
        assert!(matches!(settle(&queued(0), Some(SendOutcome::Rejected("no".into())), 0, cfg), Settle::Dead { .. }));
        assert!(matches!(settle(&queued(0), None, 0, cfg), Settle::Dead { .. }));
        assert_eq!(settle(&queued(0), Some(SendOutcome::Sent(None)), 0, cfg), Settle::Done);
    }
}
