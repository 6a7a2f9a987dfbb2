//! A policy that reaches for the network and for secrets, chosen by `mode`, and reports what
//! it got in the claim `probe` (the sandbox tests assert on it).

use gatehouse_plugin::http::{HttpError, Request};
use gatehouse_plugin::policy::{Decision, Grant, Policy, PolicyInput};
use gatehouse_plugin::{config, secrets};

struct NetProbe;

impl Policy for NetProbe {
    fn evaluate(_input: PolicyInput) -> Decision {
        let text = match config::get("mode").unwrap_or_default().as_str() {
            "http" => match Request::get(&config::get("url").unwrap_or_default()).send() {
                Ok(r) => format!("ok: {} {} bytes", r.status, r.body.len()),
                Err(HttpError::Denied(why)) => format!("denied: {why}"),
                Err(HttpError::Timeout) => "timeout".to_owned(),
                Err(HttpError::TooLarge) => "too-large".to_owned(),
                Err(HttpError::Transport(why)) => format!("transport: {why}"),
            },
            "secret" => match secrets::get(&config::get("name").unwrap_or_default()) {
                Some(v) => format!("ok: {} chars", v.len()),
                None => "none".to_owned(),
            },
            other => format!("unknown mode {other:?}"),
        };
        Grant::new().claims(&serde_json::json!({ "probe": text })).allow()
    }
}

gatehouse_plugin::export_policy!(NetProbe);
