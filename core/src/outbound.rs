//! The server's outbound HTTP, in one place: every request to another service (plugins'
//! `http.fetch`, a client's `jwks_uri`) goes through a client built here. HTTPS only; a
//! URL's host must be allowed, and every address a name resolves to must be public (a custom
//! resolver refuses private, loopback, link-local, shared and reserved addresses, so a name
//! pointing inside the network is useless); no proxy from the environment; each redirect is
//! checked like the first URL, at most five. Loopback over plain http only where a test
//! switch says so.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

/// Where outbound requests may go.
#[derive(Debug)]
pub struct AddressPolicy {
    /// `host` or `host:port`, lower-case; `None`: any host (its addresses are still checked).
    allowed_hosts: Option<Vec<String>>,
    allow_loopback_http: bool,
}

impl AddressPolicy {
    /// Only `allowed_hosts` (`host` or `host:port`); loopback over plain http too when
    /// `allow_loopback_http` (tests).
    pub fn only(allowed_hosts: Vec<String>, allow_loopback_http: bool) -> Self {
        Self { allowed_hosts: Some(allowed_hosts), allow_loopback_http }
    }

    /// Any host whose addresses are public.
    pub fn public(allow_loopback_http: bool) -> Self {
        Self { allowed_hosts: None, allow_loopback_http }
    }

    /// The URL's scheme and host are allowed (before resolution).
    pub fn check_url(&self, url: &url::Url) -> Result<(), String> {
        match url.scheme() {
            "https" => {}
            "http" if self.allow_loopback_http => {}
            other => return Err(format!("scheme {other} is not allowed (https only)")),
        }
        let host = url.host_str().ok_or("the URL has no host")?.to_ascii_lowercase();
        let host = host.trim_start_matches('[').trim_end_matches(']').to_owned();
        let port = url.port_or_known_default().unwrap_or(443);
        let listed = self.allowed_hosts.as_ref().is_none_or(|hosts| {
            hosts.iter().any(|a| {
                let a = a.trim_start_matches('[');
                *a == host || *a == format!("{host}:{port}") || a.replace("]:", ":") == format!("{host}:{port}")
            })
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
    pub fn check_ip(&self, ip: IpAddr) -> Result<(), String> {
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

/// A client that enforces `policy` on every connection and redirect.
pub fn client(
    policy: Arc<AddressPolicy>,
    user_agent: &str,
    timeout: Option<Duration>,
) -> Result<reqwest::Client, String> {
    let for_redirects = Arc::clone(&policy);
    let mut builder = reqwest::Client::builder()
        .no_proxy()
        .dns_resolver(Arc::new(CheckedResolver(policy)))
        .redirect(reqwest::redirect::Policy::custom(move |attempt| {
            if attempt.previous().len() >= 5 {
                return attempt.error("too many redirects");
            }
            match for_redirects.check_url(attempt.url()) {
                Ok(()) => attempt.follow(),
                Err(why) => attempt.error(format!("redirect refused: {why}")),
            }
        }))
        .user_agent(user_agent.to_owned());
    if let Some(t) = timeout {
        builder = builder.timeout(t);
    }
    builder.build().map_err(|e| format!("building the HTTP client failed: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(hosts: &[&str], loopback: bool) -> AddressPolicy {
        AddressPolicy::only(hosts.iter().map(|h| (*h).to_owned()).collect(), loopback)
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
    fn any_public_host_passes_a_public_policy_but_not_plain_http() {
        let p = AddressPolicy::public(false);
        assert!(p.check_url(&url::Url::parse("https://keys.example.com/jwks").unwrap()).is_ok());
        assert!(p.check_url(&url::Url::parse("http://keys.example.com/jwks").unwrap()).is_err());
        assert!(p.check_url(&url::Url::parse("https://10.0.0.5/jwks").unwrap()).is_err(), "a private literal");
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
