//! Which browser origins may call the token, revocation, userinfo, JWKS and discovery
//! endpoints: `[cors] origins` for every client, plus each client's own `allowed_origins`.
//! The CORS layer answers an origin that any of these lists (it cannot know the client
//! before the request is read); the endpoints that know the client then refuse a request
//! from an origin registered only for other clients, so one client's web app cannot use
//! another client's id. Credentials are never allowed.

use std::collections::HashSet;

use super::client::Client;
use super::error::OAuthError;

/// The origins, fixed at start-up (clients are registered through the config or the CLI,
/// both of which apply on the next start).
#[derive(Debug, Clone, Default)]
pub struct CorsPolicy {
    /// `[cors] origins = ["*"]`.
    any: bool,
    /// `[cors] origins`.
    global: HashSet<String>,
    /// Every client's `allowed_origins`.
    registered: HashSet<String>,
}

impl CorsPolicy {
    /// From the global list and the clients.
    pub fn new<'a>(global: &[String], clients: impl IntoIterator<Item = &'a [String]>) -> Self {
        Self {
            any: global.iter().any(|o| o == "*"),
            global: global.iter().filter(|o| *o != "*").cloned().collect(),
            registered: clients.into_iter().flatten().cloned().collect(),
        }
    }

    /// Whether CORS is on at all.
    pub fn enabled(&self) -> bool {
        self.any || !self.global.is_empty() || !self.registered.is_empty()
    }

    /// Whether the CORS layer answers `origin` (for some client).
    pub fn answers(&self, origin: &str) -> bool {
        self.any || self.global.contains(origin) || self.registered.contains(origin)
    }

    /// A request from `origin` (the `Origin` header, if any) by `client`: refused when the
    /// origin is registered, but neither for every client nor for this one.
    pub fn check(&self, origin: Option<&str>, client: &Client) -> Result<(), OAuthError> {
        let Some(origin) = origin else { return Ok(()) };
        let for_all = self.any || self.global.contains(origin);
        if for_all || !self.registered.contains(origin) || client.record.allowed_origins.iter().any(|o| o == origin) {
            return Ok(());
        }
        Err(OAuthError::InvalidRequest("this client is not registered for requests from this origin"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::ClientRecord;

    fn client(origins: &[&str]) -> Client {
        let record = ClientRecord {
            id: "spa".into(),
            public: true,
            redirect_uris: vec!["https://spa.example/cb".into()],
            grant_types: vec!["authorization_code".into()],
            allowed_origins: origins.iter().map(|o| (*o).to_owned()).collect(),
            ..Default::default()
        };
        Client::from_record(record).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn origins_are_answered_for_all_and_checked_per_client() {
        let spa: &[String] = &["https://spa.example".to_owned()];
        let other: &[String] = &["https://other.example".to_owned()];
        let p = CorsPolicy::new(&["https://shared.example".to_owned()], [spa, other]);
        assert!(p.enabled());
        for o in ["https://spa.example", "https://other.example", "https://shared.example"] {
            assert!(p.answers(o), "{o}");
        }
        assert!(!p.answers("https://evil.example"));
        let c = client(&["https://spa.example"]);
        assert!(p.check(Some("https://spa.example"), &c).is_ok());
        assert!(p.check(Some("https://shared.example"), &c).is_ok(), "listed for every client");
        assert!(p.check(Some("https://other.example"), &c).is_err(), "another client's origin");
        assert!(p.check(Some("https://evil.example"), &c).is_ok(), "not answered anyway: no CORS headers");
        assert!(p.check(None, &c).is_ok(), "not a browser");
        assert!(!CorsPolicy::new(&[], std::iter::empty()).enabled());
    }
}
