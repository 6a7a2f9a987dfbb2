//! Clients and client authentication (RFC 6749 §2.3): `client_secret_basic`,
//! `client_secret_post`, `private_key_jwt` (RFC 7523, in `assertion.rs`) and `none` for
//! public clients. Secrets are compared as SHA-256 digests in constant time.

use std::collections::HashMap;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use time::OffsetDateTime;

use super::assertion::{AssertionVerifier, JWT_BEARER};
use super::error::OAuthError;
use super::params::Params;
use crate::secret::{matches_sha256, parse_sha256_hex, sha256};
use crate::store::{ClientRecord, Db, StoreError};

/// How a client authenticates at the token endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMethod {
    /// HTTP Basic with id and secret.
    SecretBasic,
    /// id and secret in the form body.
    SecretPost,
    /// A JWT signed with the client's key (RFC 7523 §2.2).
    PrivateKeyJwt,
    /// Public client: id only.
    None,
}

impl AuthMethod {
    /// The RFC 7591 name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SecretBasic => "client_secret_basic",
            Self::SecretPost => "client_secret_post",
            Self::PrivateKeyJwt => "private_key_jwt",
            Self::None => "none",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        [Self::SecretBasic, Self::SecretPost, Self::PrivateKeyJwt, Self::None].into_iter().find(|m| m.as_str() == s)
    }
}

/// A registered client, ready for authentication decisions.
#[derive(Debug)]
pub struct Client {
    /// The stored or configured record.
    pub record: ClientRecord,
    secret_sha256: Option<[u8; 32]>,
    /// Inline JWKS for `private_key_jwt`.
    pub jwks: Option<jsonwebtoken::jwk::JwkSet>,
    registered_method: Option<AuthMethod>,
}

impl Client {
    /// Builds a client from its record.
    pub fn from_record(record: ClientRecord) -> Result<Self, String> {
        let secret_sha256 = match &record.secret_sha256 {
            Some(h) => Some(parse_sha256_hex(h).ok_or("secret_sha256 is not a SHA-256 hex digest")?),
            None => None,
        };
        let jwks = match &record.jwks {
            Some(j) => Some(serde_json::from_str(j).map_err(|e| format!("jwks: {e}"))?),
            None => None,
        };
        let registered_method = match &record.token_endpoint_auth_method {
            Some(m) => Some(AuthMethod::parse(m).ok_or_else(|| format!("unknown auth method {m}"))?),
            None => None,
        };
        Ok(Self { record, secret_sha256, jwks, registered_method })
    }

    /// Client id.
    pub fn id(&self) -> &str {
        &self.record.id
    }

    /// Whether the client is public (no credentials).
    pub fn is_public(&self) -> bool {
        self.record.public
    }

    /// Whether the client may use `grant_type`.
    pub fn allows_grant(&self, grant_type: &str) -> bool {
        self.record.grant_types.iter().any(|g| g == grant_type)
    }

    fn accepts(&self, method: AuthMethod) -> bool {
        if let Some(m) = self.registered_method {
            return m == method;
        }
        match method {
            AuthMethod::SecretBasic | AuthMethod::SecretPost => self.secret_sha256.is_some(),
            AuthMethod::PrivateKeyJwt => self.jwks.is_some() || self.record.jwks_uri.is_some(),
            AuthMethod::None => self.record.public,
        }
    }
}

/// The credentials a request carries.
#[derive(Debug)]
pub enum Credentials {
    /// `Authorization: Basic`.
    Basic {
        /// Client id.
        id: String,
        /// Secret (never logged).
        secret: crate::secret::Secret,
    },
    /// `client_id` + `client_secret` in the body.
    Post {
        /// Client id.
        id: String,
        /// Secret (never logged).
        secret: crate::secret::Secret,
    },
    /// `client_assertion` (+ optional `client_id`).
    Assertion {
        /// `client_id` if sent.
        id: Option<String>,
        /// The JWT.
        assertion: String,
    },
    /// `client_id` only (public client).
    Public(String),
}

impl Credentials {
    /// Reads credentials from the `Authorization` header value and the form; more than one
    /// method, or none, is `invalid_request` / `invalid_client` (RFC 6749 §2.3).
    pub fn from_request(authorization: Option<&str>, params: &Params) -> Result<Self, OAuthError> {
        let basic = match authorization {
            Some(h) => Some(parse_basic(h).ok_or(OAuthError::InvalidClient { basic: true })?),
            None => None,
        };
        let id = params.one("client_id")?;
        let secret = params.one("client_secret")?;
        let assertion = params.one("client_assertion")?;
        let assertion_type = params.one("client_assertion_type")?;
        let methods = usize::from(basic.is_some()) + usize::from(secret.is_some()) + usize::from(assertion.is_some());
        if methods > 1 {
            return Err(OAuthError::InvalidRequest("use exactly one client authentication method"));
        }
        if let Some((bid, bsecret)) = basic {
            if id.is_some_and(|i| i != bid) {
                return Err(OAuthError::InvalidRequest("client_id does not match the Authorization header"));
            }
            return Ok(Self::Basic { id: bid, secret: bsecret });
        }
        if let Some(assertion) = assertion {
            if assertion_type != Some(JWT_BEARER) {
                return Err(OAuthError::InvalidRequest(
                    "client_assertion_type must be urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                ));
            }
            return Ok(Self::Assertion { id: id.map(str::to_owned), assertion: assertion.to_owned() });
        }
        match (id, secret) {
            (Some(id), Some(secret)) => {
                Ok(Self::Post { id: id.to_owned(), secret: crate::secret::Secret::new(secret) })
            }
            (Some(id), None) => Ok(Self::Public(id.to_owned())),
            (None, _) => Err(OAuthError::InvalidClient { basic: false }),
        }
    }

    /// The client id the request claims, if it can be read without verification.
    pub fn claimed_id(&self) -> Option<String> {
        match self {
            Self::Basic { id, .. } | Self::Post { id, .. } | Self::Public(id) => Some(id.clone()),
            Self::Assertion { id: Some(id), .. } => Some(id.clone()),
            Self::Assertion { assertion, .. } => super::assertion::unverified_subject(assertion),
        }
    }

    fn is_basic(&self) -> bool {
        matches!(self, Self::Basic { .. })
    }
}

/// Decodes `Basic base64(urlencode(id):urlencode(secret))` (RFC 6749 §2.3.1).
pub fn parse_basic(header: &str) -> Option<(String, crate::secret::Secret)> {
    let (scheme, rest) = header.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let raw = STANDARD.decode(rest.trim()).ok()?;
    let text = String::from_utf8(raw).ok()?;
    let (id, secret) = text.split_once(':')?;
    let dec = |s: &str| form_urlencoded_decode(s);
    let id = dec(id)?;
    if id.is_empty() {
        return None;
    }
    Some((id, crate::secret::Secret::new(dec(secret)?)))
}

/// Decodes one `application/x-www-form-urlencoded` value on its own (`+` is a space, `%XX` a
/// byte): nothing is split at `&` or `=`, which are ordinary characters inside a secret.
fn form_urlencoded_decode(s: &str) -> Option<String> {
    let spaced = s.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced).decode_utf8().ok().map(std::borrow::Cow::into_owned)
}

/// Why authentication failed (for the log; the client only sees `invalid_client`).
#[derive(Debug)]
pub struct AuthFailure {
    /// The claimed client id, if any.
    pub client_id: Option<String>,
    /// Whether HTTP Basic was used.
    pub basic: bool,
    /// A short reason for the log.
    pub reason: &'static str,
    /// The store failed: not the client's fault.
    pub store_error: Option<StoreError>,
}

/// Where the request arrived, for assertion audiences.
#[derive(Debug, Clone, Copy)]
pub struct AuthContext<'a> {
    /// The issuer identifier.
    pub issuer: &'a str,
    /// The URL of the endpoint being called.
    pub endpoint: &'a str,
    /// The token endpoint URL.
    pub token_endpoint: &'a str,
}

/// Configured clients plus the store's, and the authentication logic.
pub struct ClientRegistry {
    configured: HashMap<String, Arc<Client>>,
    db: Db,
    assertions: AssertionVerifier,
}

impl ClientRegistry {
    /// Builds the registry; config clients shadow stored ones with the same id. A client's
    /// `jwks_uri` must be https on a public address, or (`dev_mode`) loopback over http.
    pub fn new(configured: &[ClientRecord], db: Db, dev_mode: bool) -> Result<Self, String> {
        let configured = configured
            .iter()
            .map(|r| Ok((r.id.clone(), Arc::new(Client::from_record(r.clone())?))))
            .collect::<Result<_, String>>()?;
        Ok(Self { configured, db, assertions: AssertionVerifier::new(dev_mode)? })
    }

    /// Looks a client up.
    pub async fn get(&self, id: &str) -> Result<Option<Arc<Client>>, StoreError> {
        if let Some(c) = self.configured.get(id) {
            return Ok(Some(c.clone()));
        }
        match self.db.clients().get_client(id).await? {
            Some(r) => match Client::from_record(r) {
                Ok(c) => Ok(Some(Arc::new(c))),
                Err(detail) => Err(StoreError::Corrupt { tree: "clients", detail }),
            },
            None => Ok(None),
        }
    }

    /// Whether no client can obtain tokens for itself (`client_credentials`), in the config
    /// or the store: then the dev server creates one.
    pub async fn has_no_service_client(&self) -> Result<bool, StoreError> {
        let service = |r: &ClientRecord| r.grant_types.iter().any(|g| g == "client_credentials");
        Ok(!self.configured.values().any(|c| service(&c.record))
            && !self.db.clients().list_clients().await?.iter().any(service))
    }

    /// Authenticates `creds`; public clients pass with their id only.
    pub async fn authenticate(
        &self,
        creds: Credentials,
        ctx: AuthContext<'_>,
        now: OffsetDateTime,
    ) -> Result<Arc<Client>, AuthFailure> {
        let basic = creds.is_basic();
        let claimed = creds.claimed_id();
        let fail = |reason: &'static str| AuthFailure { client_id: claimed.clone(), basic, reason, store_error: None };
        let Some(id) = claimed.as_deref() else {
            return Err(fail("no client id"));
        };
        let client = match self.get(id).await {
            Ok(Some(c)) => c,
            Ok(None) => {
                // Same work as a real comparison, so unknown ids do not answer faster.
                let _ = matches_sha256(b"", &sha256(b"unknown"));
                return Err(fail("unknown client"));
            }
            Err(e) => {
                return Err(AuthFailure { store_error: Some(e), ..fail("store error") });
            }
        };
        let (method, ok) = match &creds {
            Credentials::Basic { secret, .. } | Credentials::Post { secret, .. } => {
                let method = if basic { AuthMethod::SecretBasic } else { AuthMethod::SecretPost };
                let ok = client
                    .secret_sha256
                    .as_ref()
                    .is_some_and(|stored| matches_sha256(secret.expose().as_bytes(), stored));
                (method, ok)
            }
            Credentials::Assertion { assertion, .. } => {
                let refused = |reason: &'static str| {
                    tracing::info!(request_id = %crate::logctx::current(), client_id = %client.id(), reason, "client assertion refused");
                    false
                };
                let ok = match self.assertions.verify(&client, assertion, ctx, now).await {
                    // Marked used in the store: a replay is refused on every instance.
                    Ok(a) => match self.db.coordination().use_once(&a.once_key, a.until, now.unix_timestamp()).await {
                        Ok(true) => true,
                        Ok(false) => refused("assertion jti already used"),
                        Err(e) => return Err(AuthFailure { store_error: Some(e), ..fail("store error") }),
                    },
                    Err(reason) => refused(reason),
                };
                (AuthMethod::PrivateKeyJwt, ok)
            }
            Credentials::Public(_) => (AuthMethod::None, client.is_public()),
        };
        if !client.accepts(method) {
            return Err(fail("authentication method not allowed for this client"));
        }
        if !ok {
            return Err(fail("bad credentials"));
        }
        Ok(client)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_header_is_form_decoded() {
        let h = format!("Basic {}", STANDARD.encode("my%20app:p%3Ass+w"));
        let (id, secret) = parse_basic(&h).unwrap();
        assert_eq!(id, "my app");
        assert_eq!(secret.expose(), "p:ss w");
        assert!(parse_basic("Bearer abc").is_none());
        assert!(parse_basic("Basic !!!").is_none());
    }

    #[test]
    fn basic_header_is_not_split_at_ampersands() {
        // RFC 6749 §2.3.1: id and secret are each form-decoded on their own.
        let (id, secret) = parse_basic(&format!("Basic {}", STANDARD.encode("worker:s3cret&junk=1"))).unwrap();
        assert_eq!((id.as_str(), secret.expose()), ("worker", "s3cret&junk=1"));
        let (id, secret) = parse_basic(&format!("Basic {}", STANDARD.encode("worker&x=y:s3cret"))).unwrap();
        assert_eq!((id.as_str(), secret.expose()), ("worker&x=y", "s3cret"));
        let (_, secret) = parse_basic(&format!("Basic {}", STANDARD.encode("w:a%26b%3Dc"))).unwrap();
        assert_eq!(secret.expose(), "a&b=c");
        assert!(parse_basic(&format!("Basic {}", STANDARD.encode("w:%FF"))).is_none(), "not UTF-8");
    }

    #[test]
    fn two_methods_are_refused() {
        let p = Params::parse(b"client_id=a&client_secret=b").unwrap();
        let h = format!("Basic {}", STANDARD.encode("a:b"));
        assert!(matches!(Credentials::from_request(Some(&h), &p), Err(OAuthError::InvalidRequest(_))));
        assert!(matches!(Credentials::from_request(None, &p), Ok(Credentials::Post { .. })));
    }
}
