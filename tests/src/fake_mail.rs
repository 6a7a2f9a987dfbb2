//! A fake of SendGrid's v3 Mail Send API (`POST /v3/mail/send`: Bearer key, JSON, `202
//! Accepted` with `X-Message-Id`), on loopback, keeping every message it was sent: what the
//! `email-notifier` example plugin talks to in tests of emailed links.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::post;
use serde_json::Value;

/// One message as received.
#[derive(Debug, Clone)]
pub struct Mail {
    /// The first recipient.
    pub to: String,
    /// Subject.
    pub subject: String,
    /// The plain-text body.
    pub text: String,
}

impl Mail {
    /// The first URL in the body that starts with `prefix`.
    pub fn link(&self, prefix: &str) -> Option<String> {
        let at = self.text.find(prefix)?;
        Some(self.text[at..].split_whitespace().next()?.to_owned())
    }
}

/// The running fake.
#[derive(Clone)]
pub struct FakeMail {
    /// `127.0.0.1:<port>` (the plugin's `allowed_hosts` entry).
    pub host: String,
    got: Arc<Mutex<Vec<Mail>>>,
}

async fn mail_send(State(got): State<Arc<Mutex<Vec<Mail>>>>, body: String) -> impl IntoResponse {
    let v: Value = serde_json::from_str(&body).unwrap_or_default();
    let mail = Mail {
        to: v["personalizations"][0]["to"][0]["email"].as_str().unwrap_or_default().to_owned(),
        subject: v["subject"].as_str().unwrap_or_default().to_owned(),
        text: v["content"][0]["value"].as_str().unwrap_or_default().to_owned(),
    };
    got.lock().expect("fake mail lock").push(mail);
    (StatusCode::ACCEPTED, [("x-message-id", "sg-msg")])
}

impl FakeMail {
    /// Starts the fake.
    pub async fn start() -> Self {
        let got = Arc::new(Mutex::new(Vec::new()));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let host = listener.local_addr().expect("addr").to_string();
        let app = axum::Router::new().route("/v3/mail/send", post(mail_send)).with_state(got.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { host, got }
    }

    /// The `[[plugins]]` entry of the email notifier sending here, subscribed to `events`.
    pub fn notifier(&self, events: &[&str]) -> String {
        let events = events.iter().map(|e| format!("\"{e}\"")).collect::<Vec<_>>().join(", ");
        crate::plugins::plugin_entry(
            "mail",
            "notifier",
            "email_notifier",
            &format!(
                "events = [{events}]\nchannel = \"email\"\nallowed_hosts = [\"{}\"]\nsecrets = [\"PATH\"]",
                self.host
            ),
            &format!("base_url = \"http://{}\"\napi_key = \"PATH\"\nfrom = \"accounts@example.com\"", self.host),
        )
    }

    /// The messages so far, once there are at least `n` (waits up to 5 s).
    pub async fn wait(&self, n: usize) -> Vec<Mail> {
        for _ in 0..100 {
            let got = self.all();
            if got.len() >= n {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the fake mail API got {:?}", self.all());
    }

    /// The messages so far.
    pub fn all(&self) -> Vec<Mail> {
        self.got.lock().expect("fake mail lock").clone()
    }
}
