//! `http.fetch`: outbound requests to the plugin's `allowed_hosts` only, through the server's
//! one outbound client (`crate::outbound`: HTTPS only, addresses checked after name
//! resolution, no proxy from the environment, redirects only where the policy allows);
//! bodies, time and requests per call capped here. `[plugin_runtime] allow_loopback_http`
//! (tests only) admits plain http and loopback addresses.

use std::sync::Arc;
use std::time::Duration;

use super::Ctx;
use crate::outbound::AddressPolicy;
use crate::plugins::bindings::gatehouse::plugin::http::{Host, HttpError, Method, Request, Response};
use crate::plugins::bindings::gatehouse::plugin::types::Kv;

/// Longest a single fetch may take, whatever the plugin asks.
const MAX_TIMEOUT: Duration = Duration::from_secs(30);

/// Requests one call may make.
pub(crate) const FETCHES_PER_CALL: u32 = 16;

/// Largest request body a plugin may send.
const MAX_REQUEST_BODY: usize = 1 << 20;

/// One plugin's outbound HTTP: its allow-list and a client that enforces it.
#[derive(Debug)]
pub(crate) struct HttpGate {
    policy: Arc<AddressPolicy>,
    client: reqwest::Client,
    max_response_bytes: u64,
    max_timeout: Duration,
}

impl HttpGate {
    pub(crate) fn new(
        allowed_hosts: &[String],
        allow_loopback_http: bool,
        max_response_bytes: u64,
        max_timeout: Duration,
    ) -> Result<Self, String> {
        let policy = Arc::new(AddressPolicy::only(allowed_hosts.to_vec(), allow_loopback_http));
        let client = crate::outbound::client(
            Arc::clone(&policy),
            concat!("gatehouse-plugin/", env!("CARGO_PKG_VERSION")),
            None,
        )?;
        Ok(Self { policy, client, max_response_bytes, max_timeout: max_timeout.min(MAX_TIMEOUT) })
    }

    pub(crate) async fn fetch(&self, req: Request) -> Result<Response, HttpError> {
        let url = url::Url::parse(&req.url).map_err(|_| HttpError::Denied("not an absolute URL".into()))?;
        self.policy.check_url(&url).map_err(HttpError::Denied)?;
        let method = match req.method {
            Method::Get => reqwest::Method::GET,
            Method::Head => reqwest::Method::HEAD,
            Method::Post => reqwest::Method::POST,
            Method::Put => reqwest::Method::PUT,
            Method::Patch => reqwest::Method::PATCH,
            Method::Delete => reqwest::Method::DELETE,
        };
        let timeout =
            req.timeout_ms.map_or(self.max_timeout, |ms| Duration::from_millis(ms.into()).min(self.max_timeout));
        let mut builder = self.client.request(method, url).timeout(timeout);
        for Kv { key, value } in req.headers {
            builder = builder.header(key, value);
        }
        if let Some(body) = req.body {
            if body.len() > MAX_REQUEST_BODY {
                return Err(HttpError::Denied("request body over 1 MiB".into()));
            }
            builder = builder.body(body);
        }
        let mut resp = builder.send().await.map_err(|e| transport_error(&e))?;
        if resp.content_length().is_some_and(|n| n > self.max_response_bytes) {
            return Err(HttpError::TooLarge);
        }
        let status = resp.status().as_u16();
        let headers = resp
            .headers()
            .iter()
            .filter_map(|(k, v)| Some(Kv { key: k.as_str().to_owned(), value: v.to_str().ok()?.to_owned() }))
            .collect();
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(|e| transport_error(&e))? {
            if (body.len() + chunk.len()) as u64 > self.max_response_bytes {
                return Err(HttpError::TooLarge);
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Response { status, headers, body })
    }
}

/// Maps a client error; refusals by the resolver or the redirect policy are `denied`.
fn transport_error(e: &reqwest::Error) -> HttpError {
    if e.is_timeout() {
        return HttpError::Timeout;
    }
    let mut chain = String::new();
    let mut source: Option<&dyn std::error::Error> = Some(e);
    while let Some(s) = source {
        chain.push_str(&s.to_string());
        chain.push_str(": ");
        source = s.source();
    }
    if e.is_redirect()
        || chain.contains("not public")
        || chain.contains("is loopback")
        || chain.contains("redirect refused")
    {
        HttpError::Denied(chain.trim_end_matches(": ").to_owned())
    } else {
        HttpError::Transport(chain.trim_end_matches(": ").to_owned())
    }
}

impl Host for Ctx {
    async fn fetch(&mut self, req: Request) -> Result<Response, HttpError> {
        let grants = Arc::clone(&self.grants);
        let Some(gate) = grants.http.as_ref() else {
            return Err(HttpError::Denied("this plugin has no allowed_hosts".into()));
        };
        if self.fetches_left == 0 {
            return Err(HttpError::Denied(format!("more than {FETCHES_PER_CALL} requests in one call")));
        }
        self.fetches_left -= 1;
        let plugin = grants.name.as_str();
        let result = gate.fetch(req).await;
        match &result {
            Ok(r) => tracing::debug!(plugin, status = r.status, bytes = r.body.len(), "plugin fetch"),
            Err(e) => tracing::info!(plugin, error = %e, "plugin fetch refused or failed"),
        }
        result
    }
}
