//! Stored record types. Fields carry `#[serde(default)]` so that records written by an
//! older version still decode after a field is added.

use serde::{Deserialize, Serialize};

/// A client registered in the store (clients from the config file are not stored).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct ClientRecord {
    /// Client id.
    pub id: String,
    /// Name shown to people on the login and consent pages (RFC 7591 `client_name`).
    pub client_name: Option<String>,
    /// Lower-case hex SHA-256 of the secret; `None` for public or key-authenticated clients.
    pub secret_sha256: Option<String>,
    /// Public clients have no credentials.
    pub public: bool,
    /// Registered redirect URIs (exact match).
    pub redirect_uris: Vec<String>,
    /// Grant types the client may use.
    pub grant_types: Vec<String>,
    /// Scopes the client may ask for.
    pub scopes: Vec<String>,
    /// Audiences the client may ask tokens for.
    pub audiences: Vec<String>,
    /// Registered token endpoint authentication method, when restricted to one.
    pub token_endpoint_auth_method: Option<String>,
    /// Inline JWKS (JSON) for `private_key_jwt`.
    pub jwks: Option<String>,
    /// JWKS URL for `private_key_jwt`.
    pub jwks_uri: Option<String>,
    /// May introspect any token.
    pub can_introspect: bool,
    /// Skips the consent page.
    pub trusted: bool,
    /// Registered post-logout redirect URIs.
    pub post_logout_redirect_uris: Vec<String>,
    /// ID token signing algorithm.
    pub id_token_signed_response_alg: Option<String>,
    /// Browser origins this client may call the token, revocation and userinfo endpoints
    /// from (CORS), besides `[cors] origins`.
    pub allowed_origins: Vec<String>,
    /// Sign-ins for this client need a second factor, whatever `[mfa] require` says.
    pub require_mfa: bool,
    /// Admin API roles of the client acting for itself (`admin`, `user-admin`, `client-admin`,
    /// `auditor`): its client_credentials tokens for the audience `gatehouse-admin` carry them.
    pub roles: Vec<String>,
    /// Creation time, unix seconds.
    pub created_at: i64,
    /// Moves on with every change of a stored client (an ETag, `If-Match`).
    pub version: u64,
}

/// A signing key pair as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct KeyRecord {
    /// Key id (RFC 7638 thumbprint).
    pub kid: String,
    /// JWS algorithm, `ES256` or `RS256`.
    pub alg: String,
    /// PKCS#8 private key, base64 (standard alphabet).
    pub pkcs8: String,
    /// Creation time, unix seconds.
    pub created_at: i64,
    /// When the key stopped signing; `None` while active.
    pub retired_at: Option<i64>,
    /// After this time the public key leaves the JWKS (all tokens it signed have expired).
    pub publish_until: Option<i64>,
}

/// A user account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct UserRecord {
    /// Stable id (UUID v4), the `sub` of ID tokens.
    pub id: String,
    /// Normalised username (unique).
    pub username: String,
    /// Normalised email (unique when present).
    pub email: Option<String>,
    /// Whether the email address was verified (by an identity provider that asserted it, for
    /// now; users made by the CLI or the config have unverified addresses).
    pub email_verified: bool,
    /// argon2id PHC string.
    pub password_hash: String,
    /// Disabled users cannot sign in.
    pub disabled: bool,
    /// Group names (policy plugins read them).
    pub groups: Vec<String>,
    /// Creation time, unix seconds.
    pub created_at: i64,
    /// Last change, unix seconds.
    pub updated_at: i64,
    /// Moves on with every change (an ETag, and `If-Match` for writers); 0 for a record
    /// written before versions existed, until its next change.
    pub version: u64,
    /// The standard profile (OpenID Connect Core §5.1), released by scope.
    pub profile: Profile,
    /// The id a provisioning system (SCIM `externalId`) knows the user by.
    pub external_id: Option<String>,
    /// Admin API roles held directly (besides those of the user's groups).
    pub roles: Vec<String>,
}

/// A user's profile claims (OpenID Connect Core §5.1): `profile` scope releases the names,
/// picture, locale and zone; `phone` the number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct Profile {
    /// Full name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Given name(s).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub given_name: Option<String>,
    /// Surname(s).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub family_name: Option<String>,
    /// BCP 47 language tag (`en-US`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub locale: Option<String>,
    /// IANA time zone (`Europe/Paris`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub zoneinfo: Option<String>,
    /// Picture URL (https).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub picture: Option<String>,
    /// E.164 phone number (`+15005550006`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone_number: Option<String>,
}

/// The signing key set with its version: every replacement moves the version on, so of two
/// instances that rotate at once only one succeeds, and the others see that the set moved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct KeySetRecord {
    /// Bumped by every replacement (0: no key set yet).
    pub version: u64,
    /// The keys, active and retired-but-published.
    pub keys: Vec<KeyRecord>,
}

impl Profile {
    /// The field names, as claims and JSON fields.
    pub const FIELDS: [&'static str; 7] =
        ["name", "given_name", "family_name", "locale", "zoneinfo", "picture", "phone_number"];

    /// Each field with its name, in [`Self::FIELDS`] order.
    pub fn fields(&self) -> [(&'static str, Option<&str>); 7] {
        let f = Self::FIELDS;
        [
            (f[0], self.name.as_deref()),
            (f[1], self.given_name.as_deref()),
            (f[2], self.family_name.as_deref()),
            (f[3], self.locale.as_deref()),
            (f[4], self.zoneinfo.as_deref()),
            (f[5], self.picture.as_deref()),
            (f[6], self.phone_number.as_deref()),
        ]
    }

    /// Each field, to set, with its name, in [`Self::FIELDS`] order.
    pub fn fields_mut(&mut self) -> [(&'static str, &mut Option<String>); 7] {
        let f = Self::FIELDS;
        [
            (f[0], &mut self.name),
            (f[1], &mut self.given_name),
            (f[2], &mut self.family_name),
            (f[3], &mut self.locale),
            (f[4], &mut self.zoneinfo),
            (f[5], &mut self.picture),
            (f[6], &mut self.phone_number),
        ]
    }
}

/// A change to a user's attributes (the admin API's PATCH): each field given is replaced.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UserPatch {
    /// The whole profile.
    pub profile: Option<Profile>,
    /// Groups.
    pub groups: Option<Vec<String>>,
    /// Disabled or enabled.
    pub disabled: Option<bool>,
    /// The provisioning system's id (`Some(None)` removes it).
    pub external_id: Option<Option<String>>,
    /// Admin API roles held directly.
    pub roles: Option<Vec<String>>,
}

impl UserPatch {
    /// Applies the patch to `user` at `now` (its version moves on).
    pub fn apply(&self, user: &mut UserRecord, now: i64) {
        if let Some(p) = &self.profile {
            user.profile = p.clone();
        }
        if let Some(g) = &self.groups {
            user.groups = g.clone();
        }
        if let Some(d) = self.disabled {
            user.disabled = d;
        }
        if let Some(x) = &self.external_id {
            user.external_id = x.clone();
        }
        if let Some(r) = &self.roles {
            user.roles = r.clone();
        }
        crate::touch(user, now);
    }
}

/// What a patch came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Patched<T = UserRecord> {
    /// Changed: the record as it is now.
    Updated(Box<T>),
    /// The record's version is not the one expected (it is this one): nothing changed.
    Stale(u64),
    /// No such record.
    Missing,
}
