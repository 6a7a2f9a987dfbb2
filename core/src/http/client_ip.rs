//! The address a request comes from. Directly connected callers are who the socket says;
//! behind a reverse proxy listed in `[server] trusted_proxies`, the proxy's `Forwarded`
//! (RFC 7239) or `X-Forwarded-For` header names the caller. Rate limits, the audit log and
//! sign-in limits all read the address from here, so a proxy in front of Gatehouse does not
//! make every caller share one address, and a caller that is not a trusted proxy cannot pick
//! its own address by sending the header.

use std::net::IpAddr;

use axum::http::HeaderMap;
use axum::http::header::FORWARDED;
use ipnet::IpNet;

/// `X-Forwarded-For` (not in `http`'s list of standard headers).
const X_FORWARDED_FOR: &str = "x-forwarded-for";
/// At most this many hops are read from the forwarding headers (a bound on the work a
/// proxy-supplied header can cause).
const MAX_HOPS: usize = 32;

/// The proxies whose forwarding headers are believed (none by default).
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// Proxies at these addresses or networks.
    pub fn new(nets: Vec<IpNet>) -> Self {
        Self(nets)
    }

    /// Whether `ip` is a trusted proxy (an IPv4-mapped IPv6 address counts as its IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.0.iter().any(|n| n.contains(&ip))
    }

    /// The caller's address: `peer` itself unless `peer` is a trusted proxy; then, walking the
    /// forwarding chain from the nearest hop, the first address that is not a trusted proxy
    /// (the hops nearer to us were added by proxies we trust; anything further out could have
    /// been written by the caller). A missing or unreadable header leaves `peer`.
    pub fn client_ip(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let peer = canonical(peer);
        if !self.contains(peer) {
            return peer;
        }
        let hops = forwarded_for(headers).or_else(|| x_forwarded_for(headers)).unwrap_or_default();
        let mut client = peer;
        for hop in hops.into_iter().rev() {
            let Some(ip) = hop else { break };
            client = canonical(ip);
            if !self.contains(client) {
                break;
            }
        }
        client
    }
}

fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        IpAddr::V4(_) => ip,
    }
}

/// The `for=` addresses of every `Forwarded` element, in order (nearest hop last); `None` for
/// an element whose `for` is missing, obfuscated or unknown (the walk stops there).
fn forwarded_for(headers: &HeaderMap) -> Option<Vec<Option<IpAddr>>> {
    let mut hops = Vec::new();
    for value in headers.get_all(FORWARDED) {
        let text = value.to_str().ok()?;
        for element in text.split(',').take(MAX_HOPS) {
            let node = element.split(';').find_map(|pair| {
                let (k, v) = pair.split_once('=')?;
                k.trim().eq_ignore_ascii_case("for").then(|| v.trim().trim_matches('"').to_owned())
            });
            hops.push(node.and_then(|n| parse_node(&n)));
        }
    }
    (!hops.is_empty()).then_some(hops)
}

/// `X-Forwarded-For: client, proxy1, proxy2`.
fn x_forwarded_for(headers: &HeaderMap) -> Option<Vec<Option<IpAddr>>> {
    let mut hops = Vec::new();
    for value in headers.get_all(X_FORWARDED_FOR) {
        let text = value.to_str().ok()?;
        hops.extend(text.split(',').take(MAX_HOPS).map(|h| parse_node(h.trim())));
    }
    (!hops.is_empty()).then_some(hops)
}

/// An address as the headers write it: `192.0.2.1`, `192.0.2.1:4711`, `[2001:db8::1]` or
/// `[2001:db8::1]:4711`, `2001:db8::1`.
fn parse_node(node: &str) -> Option<IpAddr> {
    if let Ok(ip) = node.parse() {
        return Some(ip);
    }
    if let Some(rest) = node.strip_prefix('[') {
        return rest.split_once(']').and_then(|(ip, _)| ip.parse().ok());
    }
    node.rsplit_once(':').and_then(|(ip, port)| port.parse::<u16>().ok().and(ip.parse().ok()))
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn proxies(list: &[&str]) -> TrustedProxies {
        TrustedProxies::new(list.iter().map(|s| s.parse().unwrap()).collect())
    }

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_static(v));
        }
        h
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn headers_from_an_untrusted_peer_are_ignored() {
        let t = proxies(&["10.0.0.0/8"]);
        let h = headers(&[("x-forwarded-for", "203.0.113.9")]);
        assert_eq!(t.client_ip(ip("198.51.100.7"), &h), ip("198.51.100.7"));
        assert_eq!(TrustedProxies::default().client_ip(ip("10.0.0.1"), &h), ip("10.0.0.1"));
    }

    #[test]
    fn the_nearest_untrusted_hop_is_the_client() {
        let t = proxies(&["10.0.0.0/8", "127.0.0.1/32"]);
        // The caller wrote 1.1.1.1 itself; our proxies appended 203.0.113.9 and 10.0.0.2.
        let h = headers(&[("x-forwarded-for", "1.1.1.1, 203.0.113.9, 10.0.0.2")]);
        assert_eq!(t.client_ip(ip("127.0.0.1"), &h), ip("203.0.113.9"));
        let split = headers(&[("x-forwarded-for", "1.1.1.1"), ("x-forwarded-for", "203.0.113.9")]);
        assert_eq!(t.client_ip(ip("10.1.2.3"), &split), ip("203.0.113.9"));
        // Only proxies in the chain: the farthest one is the best we know.
        let all = headers(&[("x-forwarded-for", "10.0.0.5, 10.0.0.6")]);
        assert_eq!(t.client_ip(ip("10.0.0.1"), &all), ip("10.0.0.5"));
    }

    #[test]
    fn forwarded_is_read_with_ports_and_ipv6() {
        let t = proxies(&["::1/128", "10.0.0.0/8"]);
        let h = headers(&[("forwarded", "for=192.0.2.60;proto=http, for=\"[2001:db8:cafe::17]:4711\"")]);
        assert_eq!(t.client_ip(ip("::1"), &h), ip("2001:db8:cafe::17"));
        let h = headers(&[("forwarded", "for=192.0.2.60:8080")]);
        assert_eq!(t.client_ip(ip("10.0.0.1"), &h), ip("192.0.2.60"));
        // Forwarded wins over X-Forwarded-For when both are present.
        let h = headers(&[("forwarded", "for=192.0.2.60"), ("x-forwarded-for", "203.0.113.1")]);
        assert_eq!(t.client_ip(ip("10.0.0.1"), &h), ip("192.0.2.60"));
    }

    #[test]
    fn unreadable_hops_stop_the_walk() {
        let t = proxies(&["10.0.0.0/8"]);
        let h = headers(&[("forwarded", "for=unknown, for=10.0.0.3")]);
        assert_eq!(t.client_ip(ip("10.0.0.1"), &h), ip("10.0.0.3"));
        let h = headers(&[("x-forwarded-for", "garbage")]);
        assert_eq!(t.client_ip(ip("10.0.0.1"), &h), ip("10.0.0.1"));
        // An IPv4-mapped peer is its IPv4 address.
        assert_eq!(t.client_ip(ip("::ffff:10.0.0.1"), &HeaderMap::new()), ip("10.0.0.1"));
    }
}
