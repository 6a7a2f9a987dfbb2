//! Federated identities linked to local users: `(issuer, subject)` of an external provider
//! (Google, GitHub, Entra, any OpenID provider, through a connector plugin) names at most one
//! user, and a user may have several links. Creating a user just in time together with its
//! first link is one atomic write, so two callbacks for the same new identity cannot make two
//! users.

use serde::{Deserialize, Serialize};

use super::{StoreError, UserRecord};

/// One external identity linked to a user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct LinkRecord {
    /// The connector it came through (its `describe` id).
    pub connector_id: String,
    /// The provider's issuer.
    pub issuer: String,
    /// The provider's subject (unique within the issuer).
    pub subject: String,
    /// The local user.
    pub user_id: String,
    /// When it was linked, unix seconds.
    pub linked_at: i64,
    /// The last sign-in with it, unix seconds.
    pub last_used: i64,
}

impl LinkRecord {
    /// A link of `(issuer, subject)` through `connector` to `user_id`, made (and used) at `now`.
    pub fn new(connector: &str, issuer: &str, subject: &str, user_id: &str, now: i64) -> Self {
        Self {
            connector_id: connector.to_owned(),
            issuer: issuer.to_owned(),
            subject: subject.to_owned(),
            user_id: user_id.to_owned(),
            linked_at: now,
            last_used: now,
        }
    }
}

/// The link store of a synchronous backend.
pub trait SyncLinks {
    /// The link of `(issuer, subject)`.
    fn find_link(&self, issuer: &str, subject: &str) -> Result<Option<LinkRecord>, StoreError>;
    /// A user's links, ordered by issuer and subject.
    fn user_links(&self, user_id: &str) -> Result<Vec<LinkRecord>, StoreError>;
    /// Links an identity to an existing user; `Conflict` when it is linked already (to
    /// anyone), `Refused` when the user does not exist.
    fn add_link(&self, link: &LinkRecord) -> Result<(), StoreError>;
    /// Creates `user` and links `link` to it, both or neither; `Conflict` when the username
    /// or email is taken or the identity is linked already.
    fn create_linked_user(&self, user: &UserRecord, link: &LinkRecord) -> Result<(), StoreError>;
    /// Removes a user's link; `false` when it had none such.
    fn remove_link(&self, user_id: &str, issuer: &str, subject: &str) -> Result<bool, StoreError>;
    /// Records a sign-in with the link at `now`; `false` when there is no such link.
    fn touch_link(&self, issuer: &str, subject: &str, now: i64) -> Result<bool, StoreError>;
}

/// The key of a link: issuer and subject, separated by a byte neither contains.
pub(crate) fn link_key(issuer: &str, subject: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(issuer.len() + subject.len() + 1);
    k.extend_from_slice(issuer.as_bytes());
    k.push(0);
    k.extend_from_slice(subject.as_bytes());
    k
}

/// The key of a user's link in the per-user index: user id, then the link key.
pub(crate) fn user_link_key(user_id: &str, issuer: &str, subject: &str) -> Vec<u8> {
    let mut k = user_id.as_bytes().to_vec();
    k.push(0);
    k.extend(link_key(issuer, subject));
    k
}

/// The message of a link conflict.
pub(crate) fn taken(link: &LinkRecord) -> StoreError {
    StoreError::Conflict(format!("a link of subject {} at {}", link.subject, link.issuer))
}

/// The refusal for a link to a user that does not exist.
pub(crate) fn no_user(user_id: &str) -> StoreError {
    StoreError::Refused(format!("no user {user_id}"))
}

/// Whether issuer and subject are usable as a key (no NUL byte, not empty).
pub(crate) fn valid(link: &LinkRecord) -> Result<(), StoreError> {
    let ok = |s: &str| !s.is_empty() && !s.contains('\0');
    if ok(&link.issuer) && ok(&link.subject) && ok(&link.user_id) {
        Ok(())
    } else {
        Err(StoreError::Refused("a link needs an issuer, a subject and a user without NUL bytes".into()))
    }
}
