//! A notifier that POSTs each event as JSON to a webhook URL (the message's recipient: the
//! operator's `recipient =`; use an unguessable URL, it is the webhook's credential). The
//! message id goes in `Idempotency-Key` so a receiver can drop the duplicates that retries
//! may cause. 2xx: sent; 429/503: retry after `Retry-After`; other
//! 4xx: rejected (dead letter); 5xx and transport errors: retried with back-off.

use gatehouse_plugin::http::{HttpError, Request};
use gatehouse_plugin::notifier::{CallContext, Channel, Message, Notifier, Outcome, PluginError};

struct Webhook;

impl Notifier for Webhook {
    fn channels() -> Vec<Channel> {
        vec![Channel::Webhook]
    }

    fn send(_ctx: CallContext, msg: Message) -> Result<Outcome, PluginError> {
        let data: serde_json::Value = serde_json::from_str(&msg.data).unwrap_or(serde_json::Value::Null);
        let body = serde_json::json!({
            "id": msg.id,
            "event": msg.template,
            "subject": msg.subject,
            "text": msg.text_body,
            "data": data,
        });
        let req = Request::post(&msg.recipient).header("idempotency-key", &msg.id).json(&body);
        let resp = match req.send() {
            Ok(r) => r,
            Err(HttpError::Denied(why)) => return Ok(Outcome::Rejected(format!("the host refused the URL: {why}"))),
            Err(e) => return Err(PluginError::Unavailable(format!("{e:?}"))),
        };
        match resp.status {
            200..=299 => Ok(Outcome::Sent(resp.header("x-request-id").map(str::to_owned))),
            429 | 503 => {
                let wait = resp.header("retry-after").and_then(|v| v.trim().parse::<u32>().ok()).unwrap_or(30);
                Ok(Outcome::RetryAfter(wait))
            }
            400..=499 => Ok(Outcome::Rejected(format!("the webhook answered {}", resp.status))),
            status => Err(PluginError::Unavailable(format!("the webhook answered {status}"))),
        }
    }
}

gatehouse_plugin::export_notifier!(Webhook);
