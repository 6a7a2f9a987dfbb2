//! A notifier that sends email through an HTTP email API in the shape of SendGrid's v3 Mail
//! Send (`POST {base_url}/v3/mail/send`, `Authorization: Bearer <key>`, a JSON body of
//! `personalizations`, `from`, `subject` and `content`; `202 Accepted` with `X-Message-Id`).
//! The message id travels as the custom argument `gatehouse_id`, so a retry can be matched
//! to the first attempt in the provider's activity log. 202 (or any 2xx): sent; 429: retry
//! after `Retry-After` (60 s without one); 400/401/403/413: rejected (a bad address or key does
//! not mend itself); 5xx and transport errors: retried with back-off.

use gatehouse_plugin::config;
use gatehouse_plugin::http::{HttpError, Request};
use gatehouse_plugin::notifier::{CallContext, Channel, Message, Notifier, Outcome, PluginError};

struct Email;

fn setting(key: &str) -> Result<String, PluginError> {
    config::require(key).map_err(PluginError::Invalid)
}

/// The provider's own words about a refusal (`{"errors":[{"message":...}]}`), if it gave any.
fn reason(body: &[u8]) -> String {
    let v: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    v["errors"][0]["message"].as_str().unwrap_or("no reason given").chars().take(200).collect()
}

impl Notifier for Email {
    fn channels() -> Vec<Channel> {
        vec![Channel::Email]
    }

    fn send(_ctx: CallContext, msg: Message) -> Result<Outcome, PluginError> {
        let base = config::get("base_url").unwrap_or_else(|| "https://api.sendgrid.com".to_owned());
        let from = setting("from")?;
        let key_name = setting("api_key")?;
        let key = gatehouse_plugin::secrets::get(&key_name)
            .ok_or_else(|| PluginError::Invalid(format!("secret {key_name} is not granted")))?;
        let to = msg.recipient.trim();
        if !to.contains('@') || to.contains(char::is_whitespace) {
            return Ok(Outcome::Rejected("the recipient is not an email address".into()));
        }
        let mut sender = serde_json::json!({ "email": from });
        if let Some(name) = config::get("from_name") {
            sender["name"] = name.into();
        }
        let mut content = vec![serde_json::json!({ "type": "text/plain", "value": msg.text_body })];
        if let Some(html) = &msg.html_body {
            content.push(serde_json::json!({ "type": "text/html", "value": html }));
        }
        let body = serde_json::json!({
            "personalizations": [{ "to": [{ "email": to }] }],
            "from": sender,
            "subject": msg.subject.as_deref().unwrap_or("Gatehouse"),
            "content": content,
            "custom_args": { "gatehouse_id": msg.id, "gatehouse_event": msg.template },
        });
        let url = format!("{}/v3/mail/send", base.trim_end_matches('/'));
        let req = Request::post(&url).header("authorization", &format!("Bearer {key}")).json(&body);
        let resp = match req.send() {
            Ok(r) => r,
            Err(HttpError::Denied(why)) => return Ok(Outcome::Rejected(format!("the host refused the URL: {why}"))),
            Err(e) => return Err(PluginError::Unavailable(format!("{e:?}"))),
        };
        match resp.status {
            200..=299 => Ok(Outcome::Sent(resp.header("x-message-id").map(str::to_owned))),
            429 => {
                let wait = resp.header("retry-after").and_then(|v| v.trim().parse::<u32>().ok()).unwrap_or(60);
                Ok(Outcome::RetryAfter(wait))
            }
            400..=499 => {
                Ok(Outcome::Rejected(format!("the email API answered {}: {}", resp.status, reason(&resp.body))))
            }
            status => Err(PluginError::Unavailable(format!("the email API answered {status}"))),
        }
    }
}

gatehouse_plugin::export_notifier!(Email);
