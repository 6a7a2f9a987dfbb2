//! `[notifications]`: how the notification queue retries, and when it gives up.

use std::time::Duration;

use serde::Deserialize;

use super::validate::Check;

/// `[notifications]` as written.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct NotificationsSection {
    pub max_attempts: Option<u32>,
    pub retry_base: Option<String>,
    pub max_event_age: Option<String>,
    pub claim_lease: Option<String>,
}

/// `[notifications]`: how the queue retries (ARCHITECTURE §5: notifiers retry, then
/// dead-letter).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotificationsConfig {
    /// Attempts before a message goes to the dead-letter list.
    pub max_attempts: u32,
    /// The first retry waits this long; each further one twice as long (at most an hour).
    pub retry_base: Duration,
    /// Events older than this when the queue first sees them are not delivered (after the
    /// notifiers were off for a while, nobody wants yesterday's sign-in alerts).
    pub max_event_age: Duration,
    /// How long an instance holds a message it is delivering; if it dies meanwhile, another
    /// instance delivers the message once this has passed (at least the notifier's timeout).
    pub claim_lease: Duration,
}

impl Default for NotificationsConfig {
    fn default() -> Self {
        Self {
            max_attempts: 8,
            retry_base: Duration::from_secs(5),
            max_event_age: Duration::from_secs(3600),
            claim_lease: Duration::from_secs(60),
        }
    }
}

pub(super) fn check_notifications(c: &mut Check<'_>, n: &NotificationsSection) -> NotificationsConfig {
    let d = NotificationsConfig::default();
    let max_attempts = match n.max_attempts {
        None => d.max_attempts,
        Some(v) if (1..=100).contains(&v) => v,
        Some(v) => {
            c.problem("notifications.max_attempts", format!("{v} is out of range (1 to 100)"));
            d.max_attempts
        }
    };
    let retry_base = c.duration(
        "notifications.retry_base",
        n.retry_base.as_deref(),
        d.retry_base,
        Duration::from_millis(100),
        Duration::from_secs(3600),
    );
    let max_event_age = c.duration(
        "notifications.max_event_age",
        n.max_event_age.as_deref(),
        d.max_event_age,
        Duration::from_secs(1),
        Duration::from_secs(30 * 24 * 3600),
    );
    let claim_lease = c.duration(
        "notifications.claim_lease",
        n.claim_lease.as_deref(),
        d.claim_lease,
        Duration::from_secs(1),
        Duration::from_secs(3600),
    );
    NotificationsConfig { max_attempts, retry_base, max_event_age, claim_lease }
}
