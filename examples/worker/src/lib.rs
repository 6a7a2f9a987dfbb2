//! A service that calls another service on its own behalf: it obtains an access token from
//! Gatehouse with `client_credentials` (RFC 6749 §4.4), reuses it until shortly before it
//! expires, and calls the logging service with it as a Bearer token.

use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::{Value, json};

/// Where things are and who we are.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Gatehouse token endpoint.
    pub token_url: String,
    /// Our client id.
    pub client_id: String,
    /// Our client secret.
    pub client_secret: String,
    /// The logging service's base URL.
    pub logging_url: String,
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    expires_in: u64,
}

/// A worker with a cached token.
pub struct Worker {
    settings: Settings,
    http: reqwest::Client,
    token: Option<(String, Instant)>,
}

impl Worker {
    /// A worker for `settings`.
    pub fn new(settings: Settings) -> Self {
        Self { settings, http: reqwest::Client::new(), token: None }
    }

    #[allow(clippy::disallowed_methods, reason = "example code measures token age with the system clock")]
    async fn token(&mut self) -> anyhow::Result<String> {
        if let Some((t, until)) = &self.token
            && Instant::now() < *until
        {
            return Ok(t.clone());
        }
        let resp = self
            .http
            .post(&self.settings.token_url)
            .basic_auth(&self.settings.client_id, Some(&self.settings.client_secret))
            .form(&[("grant_type", "client_credentials"), ("scope", "logs:write"), ("audience", "logging-service")])
            .send()
            .await?;
        if !resp.status().is_success() {
            anyhow::bail!("token request failed: {} {}", resp.status(), resp.text().await?);
        }
        let t: TokenResponse = resp.json().await?;
        let refresh_at = Instant::now() + Duration::from_secs(t.expires_in.saturating_sub(30));
        self.token = Some((t.access_token.clone(), refresh_at));
        Ok(t.access_token)
    }

    /// Sends one log message; returns the logging service's JSON answer.
    pub async fn log(&mut self, message: &str) -> anyhow::Result<Value> {
        let token = self.token().await?;
        let resp = self
            .http
            .post(format!("{}/log", self.settings.logging_url.trim_end_matches('/')))
            .bearer_auth(token)
            .json(&json!({ "message": message }))
            .send()
            .await?;
        let status = resp.status();
        let body: Value = resp.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            anyhow::bail!("logging service answered {status}: {body}");
        }
        Ok(body)
    }
}
