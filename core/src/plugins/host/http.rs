//! `http.fetch`: outbound requests to the plugin's `allowed_hosts` only. HTTPS only; the
//! host's addresses are checked after name resolution (a custom resolver refuses private,
//! loopback, link-local and other non-public addresses, so an allowed name pointing inside
//! the network is useless); no proxy from the environment; redirects only to allowed hosts;
//! bodies and time capped. `[plugin_runtime] allow_loopback_http` (tests only) admits plain
//! http and loopback addresses.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use super::Ctx;
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

#[derive(Debug)]
struct AddressPolicy {
    /// `host` or `host:port`, lower-case.
    allowed_hosts: Vec<String>,
    allow_loopback_http: bool,
}

impl AddressPolicy {
    /// The URL's scheme and host are allowed (before resolution).
    fn check_url(&self, url: &url::Url) -> Result<(), String> {
        match url.scheme() {
            "https" => {}
            "http" if self.allow_loopback_http => {}
            other => return Err(format!("scheme {other} is not allowed (https only)")),
        }
        let host = url.host_str().ok_or("the URL has no host")?.to_ascii_lowercase();
        let host = host.trim_start_matches('[').trim_end_matches(']').to_owned();
        let port = url.port_or_known_default().unwrap_or(443);
        let listed = self.allowed_hosts.iter().any(|a| {
            let a = a.trim_start_matches('[');
            *a == host || *a == format!("{host}:{port}") || a.replace("]:", ":") == format!("{host}:{port}")
        });
        if !listed {
            return Err(format!("host {host} is not in allowed_hosts"));
        }
        if let Ok(ip) = host.parse::<IpAddr>() {
            self.check_ip(ip)?;
        }
        Ok(())
    }

    /// A resolved address may be reached.
    fn check_ip(&self, ip: IpAddr) -> Result<(), String> {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
            v4 => v4,
        };
        if ip.is_loopback() {
            return if self.allow_loopback_http { Ok(()) } else { Err(format!("address {ip} is loopback")) };
        }
        if is_public(ip) { Ok(()) } else { Err(format!("address {ip} is not public")) }
    }
}

/// Not private, link-local, unspecified, multicast, shared (CGNAT), documentation or
/// otherwise reserved.
fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            !(v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_multicast()
                || v4.is_broadcast()
                || v4.is_documentation()
                || a == 0
                || (a == 100 && (64..128).contains(&b))
                || (a == 198 && (18..20).contains(&b))
                || a >= 240)
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00
                || (s[0] & 0xffc0) == 0xfe80
                || (s[0] == 0x2001 && s[1] == 0x0db8))
        }
    }
}

/// Resolves names and refuses the whole answer when any address is not allowed.
#[derive(Debug)]
struct CheckedResolver(Arc<AddressPolicy>);

impl reqwest::dns::Resolve for CheckedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = Arc::clone(&self.0);
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            if addrs.is_empty() {
                return Err(format!("{host} has no addresses").into());
            }
            for a in &addrs {
                policy.check_ip(a.ip()).map_err(|why| format!("{host}: {why}"))?;
            }
            let addrs: reqwest::dns::Addrs = Box::new(addrs.into_iter());
            Ok(addrs)
        })
    }
}

impl HttpGate {
    pub(crate) fn new(
        allowed_hosts: &[String],
        allow_loopback_http: bool,
        max_response_bytes: u64,
        max_timeout: Duration,
    ) -> Result<Self, String> {
        let policy = Arc::new(AddressPolicy { allowed_hosts: allowed_hosts.to_vec(), allow_loopback_http });
        let for_redirects = Arc::clone(&policy);
        let client = reqwest::Client::builder()
            .no_proxy()
            .dns_resolver(Arc::new(CheckedResolver(Arc::clone(&policy))))
            .redirect(reqwest::redirect::Policy::custom(move |attempt| {
                if attempt.previous().len() >= 5 {
                    return attempt.error("too many redirects");
                }
                match for_redirects.check_url(attempt.url()) {
                    Ok(()) => attempt.follow(),
                    Err(why) => attempt.error(format!("redirect refused: {why}")),
                }
            }))
            .user_agent(concat!("gatehouse-plugin/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("building the HTTP client failed: {e}"))?;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(hosts: &[&str], loopback: bool) -> AddressPolicy {
        AddressPolicy { allowed_hosts: hosts.iter().map(|h| (*h).to_owned()).collect(), allow_loopback_http: loopback }
    }

    #[test]
    fn only_listed_https_hosts_pass() {
        let p = policy(&["api.example.com", "other.example.com:8443"], false);
        let ok = |u: &str| p.check_url(&url::Url::parse(u).unwrap());
        assert!(ok("https://api.example.com/x").is_ok());
        assert!(ok("https://other.example.com:8443/").is_ok());
        assert!(ok("https://other.example.com/").is_err(), "port is part of the grant");
        assert!(ok("http://api.example.com/").is_err(), "https only");
        assert!(ok("https://evil.example.com/").is_err());
        assert!(ok("https://api.example.com.evil.net/").is_err());
        assert!(ok("ftp://api.example.com/").is_err());
    }

    #[test]
    fn private_and_loopback_addresses_are_refused() {
        let p = policy(&[], false);
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "192.168.0.1",
            "172.16.5.5",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:10.0.0.1",
        ] {
            assert!(p.check_ip(ip.parse().unwrap()).is_err(), "{ip}");
        }
        assert!(p.check_ip("93.184.216.34".parse().unwrap()).is_ok());
        assert!(p.check_ip("2606:2800:220:1::1".parse().unwrap()).is_ok());
        let lo = policy(&[], true);
        assert!(lo.check_ip("127.0.0.1".parse().unwrap()).is_ok());
        assert!(lo.check_ip("10.0.0.1".parse().unwrap()).is_err(), "the test switch admits loopback only");
    }
}
