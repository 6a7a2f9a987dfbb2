//! A notifier that sends SMS through Twilio's Messages API
//! (`POST {base_url}/2010-04-01/Accounts/{account_sid}/Messages.json`, HTTP Basic with the
//! account SID and auth token, a form of `To`, `From` or `MessagingServiceSid`, and `Body`;
//! `201 Created` with the message `sid`). A text message carries the event's one-line summary
//! (the first line of the text body), never the whole record. 2xx: sent; 429: retry after
//! `Retry-After` (60 s without one); other 4xx: rejected with Twilio's error code (an invalid
//! number does not mend itself); 5xx and transport errors: retried with back-off.

use base64::Engine as _;
use gatehouse_plugin::config;
use gatehouse_plugin::http::{HttpError, Request};
use gatehouse_plugin::notifier::{CallContext, Channel, Message, Notifier, Outcome, PluginError};

struct Sms;

/// Twilio's limit for one message body.
const MAX_BODY: usize = 1600;

fn setting(key: &str) -> Result<String, PluginError> {
    config::require(key).map_err(PluginError::Invalid)
}

/// Whether `to` is an E.164 number (`+` and 8 to 15 digits).
fn e164(to: &str) -> bool {
    to.strip_prefix('+').is_some_and(|d| (8..=15).contains(&d.len()) && d.bytes().all(|b| b.is_ascii_digit()))
}

impl Notifier for Sms {
    fn channels() -> Vec<Channel> {
        vec![Channel::Sms]
    }

    fn send(_ctx: CallContext, msg: Message) -> Result<Outcome, PluginError> {
        let base = config::get("base_url").unwrap_or_else(|| "https://api.twilio.com".to_owned());
        let sid = setting("account_sid")?;
        let token_name = setting("auth_token")?;
        let token = gatehouse_plugin::secrets::get(&token_name)
            .ok_or_else(|| PluginError::Invalid(format!("secret {token_name} is not granted")))?;
        let to = msg.recipient.trim();
        if !e164(to) {
            return Ok(Outcome::Rejected("the recipient is not a phone number in E.164 form (+15551234567)".into()));
        }
        let text: String = msg.text_body.lines().next().unwrap_or_default().chars().take(MAX_BODY).collect();
        let mut form = form_urlencoded::Serializer::new(String::new());
        form.append_pair("To", to).append_pair("Body", &text);
        match (config::get("from"), config::get("messaging_service_sid")) {
            (_, Some(service)) => form.append_pair("MessagingServiceSid", &service),
            (Some(from), None) => form.append_pair("From", &from),
            (None, None) => return Err(PluginError::Invalid("set `from` or `messaging_service_sid`".into())),
        };
        let basic = base64::engine::general_purpose::STANDARD.encode(format!("{sid}:{token}"));
        let url = format!("{}/2010-04-01/Accounts/{sid}/Messages.json", base.trim_end_matches('/'));
        let req = Request::post(&url)
            .header("authorization", &format!("Basic {basic}"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form.finish());
        let resp = match req.send() {
            Ok(r) => r,
            Err(HttpError::Denied(why)) => return Ok(Outcome::Rejected(format!("the host refused the URL: {why}"))),
            Err(e) => return Err(PluginError::Unavailable(format!("{e:?}"))),
        };
        let body: serde_json::Value = resp.json().unwrap_or_default();
        match resp.status {
            200..=299 => Ok(Outcome::Sent(body["sid"].as_str().map(str::to_owned))),
            429 => {
                let wait = resp.header("retry-after").and_then(|v| v.trim().parse::<u32>().ok()).unwrap_or(60);
                Ok(Outcome::RetryAfter(wait))
            }
            400..=499 => Ok(Outcome::Rejected(format!(
                "Twilio answered {} (error {}): {}",
                resp.status,
                body["code"].as_i64().unwrap_or(0),
                body["message"].as_str().unwrap_or("no reason given").chars().take(200).collect::<String>()
            ))),
            status => Err(PluginError::Unavailable(format!("Twilio answered {status}"))),
        }
    }
}

gatehouse_plugin::export_notifier!(Sms);
