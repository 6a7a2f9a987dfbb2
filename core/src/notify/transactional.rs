//! Transactional messages: a link a person asked for (a password reset, an address to
//! verify), sent through the notifier plugins that subscribed to its event by name.
//!
//! They take a path of their own, not the audit-fed queue: the link is a secret until it is
//! used, so it is never written anywhere. No audit record, queue entry, dead letter, log
//! line or metric label holds it; the audit log records that a link was asked for and how
//! many notifiers took the message. Delivery runs in a task of its own with a few retries
//! (a provider's 429 or 5xx); a message that still fails is dropped with a warning that names
//! the plugin and the event, since the person can simply ask again. Whatever a plugin answers
//! is scrubbed of the link before it is logged, in case a provider echoes the request back.
//!
//! Only two kinds of route take these events, and only by naming them (`"*"` does not
//! include them): email to the person's own address (a route without a fixed `recipient`),
//! and a webhook (the operator's service then mails the link itself). SMS routes, and email
//! routes with a fixed recipient, are refused by the configuration check.

use std::time::Duration;

use std::sync::Arc;

use serde_json::json;

use crate::clock::Clock;
use crate::metrics::Metrics;
use crate::plugins::{Channel, Message, PluginHost, SendOutcome};

/// The events of transactional messages (`events = [...]` names them; `"*"` does not).
pub const TRANSACTIONAL: &[&str] = &["password.reset_requested", "email.verification_requested"];

/// Attempts per notifier before a message is dropped.
const ATTEMPTS: u32 = 4;
/// The first wait between attempts (doubling).
const FIRST_WAIT: Duration = Duration::from_secs(2);
/// The longest wait between attempts.
const MAX_WAIT: Duration = Duration::from_secs(60);

/// One message for a person: what to say, and the link that must not leak.
#[derive(Debug, Clone)]
pub struct Letter {
    /// One of [`TRANSACTIONAL`].
    pub event: &'static str,
    /// User id.
    pub user_id: String,
    /// Username.
    pub username: String,
    /// The address the link goes to.
    pub email: String,
    /// Subject line.
    pub subject: String,
    /// The text before the link.
    pub intro: String,
    /// The link (holds the secret token).
    pub link: String,
    /// When the link stops working, RFC 3339.
    pub expires: String,
}

/// Whether a route takes transactional `event`, and where its message goes: the route's own
/// recipient for a webhook, the person's address for email; never SMS.
fn recipient(route: &crate::config::NotifyRoute, channel: Channel, event: &str, email: &str) -> Option<String> {
    if !route.events.iter().any(|e| e == event) {
        return None;
    }
    match (channel, route.recipient.as_deref()) {
        (Channel::Email, None) => Some(email.to_owned()),
        (Channel::Webhook, Some(url)) => Some(url.to_owned()),
        _ => None,
    }
}

/// The message for `plugin` on `channel`.
fn message(letter: &Letter, plugin: &str, channel: Channel, recipient: String) -> Message {
    let text = format!(
        "{}\n\n{}\n\nThe link works once, until {} (UTC). If you did not ask for it, ignore this message: \
         nothing changes until the link is used.\n",
        letter.intro, letter.link, letter.expires
    );
    let data = json!({
        "event": letter.event,
        "user_id": letter.user_id,
        "username": letter.username,
        "email": letter.email,
        "link": letter.link,
        "expires": letter.expires,
    });
    Message {
        id: format!("{}.{}.{plugin}", letter.event, crate::secret::unique_id()),
        channel,
        template: letter.event.to_owned(),
        locale: "en".to_owned(),
        recipient,
        subject: Some(letter.subject.clone()),
        text_body: text,
        data: data.to_string(),
    }
}

/// Where links go out: the notifier plugins, with the clock their calls are timed by and the
/// metrics their outcomes are counted in.
#[derive(Clone)]
pub struct Outbox {
    plugins: PluginHost,
    metrics: Arc<Metrics>,
    clock: Arc<dyn Clock>,
}

impl Outbox {
    /// An outbox over `plugins`.
    pub fn new(plugins: PluginHost, metrics: Arc<Metrics>, clock: Arc<dyn Clock>) -> Self {
        Self { plugins, metrics, clock }
    }

    /// Hands `letter` to every notifier that takes its event, each delivered in a task of
    /// its own; returns how many took it.
    pub fn send(&self, letter: &Letter) -> u32 {
        let mut handed = 0;
        for (name, route, channel) in self.plugins.notifiers() {
            let Some(to) = recipient(&route, channel, letter.event, &letter.email) else { continue };
            let msg = message(letter, &name, channel, to);
            let (outbox, link) = (self.clone(), letter.link.clone());
            tokio::spawn(async move { outbox.deliver(&name, &msg, &link).await });
            handed += 1;
        }
        handed
    }

    /// Attempts until sent, refused, or out of attempts.
    async fn deliver(&self, name: &str, msg: &Message, link: &str) {
        let scrub = |s: &str| s.replace(link, "[link]");
        let mut wait = FIRST_WAIT;
        for attempt in 1..=ATTEMPTS {
            let (why, last) = match self.plugins.notify_send(name, msg, self.clock.now()).await {
                Some(SendOutcome::Sent(_)) => {
                    self.metrics.notification(name, "sent");
                    return;
                }
                None => ("the notifier is no longer loaded".to_owned(), true),
                Some(SendOutcome::Rejected(why)) => (format!("refused: {why}"), true),
                Some(SendOutcome::RetryAfter(secs)) => {
                    wait = wait.max(Duration::from_secs(u64::from(secs)).min(MAX_WAIT));
                    (format!("asked to retry after {secs} s"), false)
                }
                Some(SendOutcome::Failed(why) | SendOutcome::Deferred(why)) => (why, false),
            };
            if last || attempt == ATTEMPTS {
                self.metrics.notification(name, "dead");
                tracing::warn!(
                    plugin = %name, event = %msg.template, attempts = attempt, reason = %scrub(&why),
                    "a link message was not delivered; the person can ask for another"
                );
                return;
            }
            self.metrics.notification(name, "retry");
            tokio::time::sleep(wait).await;
            wait = wait.saturating_mul(2).min(MAX_WAIT);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::NotifyRoute;

    fn route(events: &[&str], recipient: Option<&str>) -> NotifyRoute {
        NotifyRoute {
            events: events.iter().map(|e| (*e).to_owned()).collect(),
            channel: None,
            recipient: recipient.map(str::to_owned),
        }
    }

    #[test]
    fn only_named_email_and_webhook_routes_take_a_link() {
        let e = "password.reset_requested";
        let to = |r: &NotifyRoute, c| recipient(r, c, e, "p@example.com");
        assert_eq!(to(&route(&[e], None), Channel::Email).as_deref(), Some("p@example.com"));
        assert_eq!(to(&route(&[e], Some("https://hook")), Channel::Webhook).as_deref(), Some("https://hook"));
        assert_eq!(to(&route(&["*"], None), Channel::Email), None, "\"*\" does not include links");
        assert_eq!(to(&route(&[e], Some("ops@example.com")), Channel::Email), None, "never to someone else");
        assert_eq!(to(&route(&[e], Some("+15005550006")), Channel::Sms), None);
    }
}
