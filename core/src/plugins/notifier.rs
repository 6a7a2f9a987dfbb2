//! Notifiers: the domain side of the `notifier-plugin` world. The server's queue
//! (`crate::notify`) calls [`send`] off every request path; what comes back decides whether
//! the message is done, retried later or dead-lettered.

use std::sync::Arc;

use time::OffsetDateTime;

use super::FailureKind;
use super::bindings::gatehouse::plugin::types::{CallContext, PluginError};
use super::bindings::notifier_world::exports::gatehouse::plugin::notifier as wit;
use super::call::guarded;
use super::engine::Runtime;
use super::registry::{Exports, LoadedPlugin};
use crate::config::PluginConfig;

pub use crate::store::notify_queue::{Channel, Message};

/// The WIT channel of a stored one, and back.
fn from_wit(c: wit::Channel) -> Channel {
    match c {
        wit::Channel::Email => Channel::Email,
        wit::Channel::Sms => Channel::Sms,
        wit::Channel::Webhook => Channel::Webhook,
    }
}

fn to_wit(c: Channel) -> wit::Channel {
    match c {
        Channel::Email => wit::Channel::Email,
        Channel::Sms => wit::Channel::Sms,
        Channel::Webhook => wit::Channel::Webhook,
    }
}

/// What became of one attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendOutcome {
    /// Delivered (the provider's id, if any).
    Sent(Option<String>),
    /// Try again after this many seconds.
    RetryAfter(u32),
    /// Never deliverable (dead letter at once).
    Rejected(String),
    /// The plugin failed or said it cannot work now: retry with back-off.
    Failed(String),
    /// Not attempted (the plugin was busy or its breaker open): retry, not counted.
    Deferred(String),
}

/// The channels a notifier reports at load, checked against its configured channel; the
/// configured (or first reported) channel comes first.
pub(crate) fn channels(cfg: &PluginConfig, reported: Vec<wit::Channel>) -> Result<Vec<Channel>, String> {
    let mut list: Vec<Channel> = reported.into_iter().map(from_wit).collect();
    list.dedup();
    let wanted = cfg.route.as_ref().and_then(|r| r.channel.as_deref());
    match wanted {
        _ if list.is_empty() => Err("channels: the plugin reports no channel".into()),
        None => Ok(list),
        Some(w) => match list.iter().position(|c| c.as_str() == w) {
            Some(i) => {
                list.swap(0, i);
                Ok(list)
            }
            None => {
                let has: Vec<&str> = list.iter().map(|c| c.as_str()).collect();
                Err(format!("channel: the plugin delivers {} only, not {w}", has.join(", ")))
            }
        },
    }
}

/// The channel `p` delivers on (the first of its checked channels).
pub(crate) fn channel_of(p: &LoadedPlugin) -> Option<Channel> {
    match &p.exports {
        Exports::Notifier(_, channels) => channels.first().copied(),
        _ => None,
    }
}

/// One delivery attempt.
pub(crate) async fn send(rt: &Runtime, p: &Arc<LoadedPlugin>, msg: &Message, now: OffsetDateTime) -> SendOutcome {
    let Exports::Notifier(pre, _) = &p.exports else { return SendOutcome::Rejected("not a notifier".into()) };
    let ctx = CallContext {
        locale: Some(msg.locale.clone()),
        ..super::convert::context(&format!("notify-{}", msg.id), None, None, None, now)
    };
    let m = wit::Message {
        id: msg.id.clone(),
        channel: to_wit(msg.channel),
        template: msg.template.clone(),
        locale: msg.locale.clone(),
        recipient: msg.recipient.clone(),
        subject: msg.subject.clone(),
        text_body: msg.text_body.clone(),
        html_body: None,
        data: msg.data.clone(),
    };
    let result = guarded(rt, p, crate::audit::unix_ms(now), |mut store| async move {
        let r = async {
            let instance = pre.instantiate_async(&mut store).await?;
            instance.gatehouse_plugin_notifier().call_send(&mut store, &ctx, &m).await
        }
        .await;
        (store, r)
    })
    .await;
    match result {
        Ok(answer) => {
            p.breaker.success();
            match answer {
                Ok(wit::Outcome::Sent(id)) => SendOutcome::Sent(id.map(|s| s.chars().take(256).collect())),
                Ok(wit::Outcome::RetryAfter(s)) => SendOutcome::RetryAfter(s),
                Ok(wit::Outcome::Rejected(why)) => SendOutcome::Rejected(why.chars().take(512).collect()),
                Err(PluginError::Invalid(why)) => SendOutcome::Rejected(why.chars().take(512).collect()),
                Err(PluginError::Unavailable(why) | PluginError::Internal(why)) => {
                    SendOutcome::Failed(why.chars().take(512).collect())
                }
            }
        }
        Err(kind @ (FailureKind::Busy | FailureKind::BreakerOpen)) => SendOutcome::Deferred(kind.to_string()),
        Err(kind) => {
            if p.breaker.failure() {
                tracing::warn!(plugin = %p.config.name, "circuit breaker opened after repeated plugin failures");
            }
            SendOutcome::Failed(kind.to_string())
        }
    }
}
