//! OAuth 2.0 protocol logic, free of HTTP types: the token endpoint and its grants,
//! introspection (RFC 7662), revocation (RFC 7009), the `/verify` service check, client
//! authentication and the errors they return.

pub mod assertion;
pub mod authorize;
pub mod client;
mod client_auth;
pub mod cors;
pub mod error;
pub mod grants;
pub mod introspect;
pub mod params;
pub mod pkce;
pub(crate) mod policy;
pub mod revoke;
pub mod scope;
pub mod service;
pub mod test_token;
pub mod token;
pub mod verify;

use std::net::IpAddr;

use crate::audit::Actor;

pub(crate) use self::client_auth::authenticate;

/// Where a request came from: the TCP peer and the request id (for limits, logs, audit).
#[derive(Debug, Clone)]
pub struct RequestMeta {
    /// Source IP.
    pub ip: IpAddr,
    /// The request id (`X-Request-Id`).
    pub request_id: String,
    /// The browser's `Origin` header, if any (CORS checks per client).
    pub origin: Option<String>,
    /// The `User-Agent` (at most 200 printable characters), if any.
    pub user_agent: Option<String>,
}

impl RequestMeta {
    /// An audit actor for this request acting as `who`.
    pub fn actor(&self, who: impl Into<String>) -> Actor {
        Actor { who: who.into(), ip: Some(self.ip.to_string()), request_id: Some(self.request_id.clone()) }
    }
}
